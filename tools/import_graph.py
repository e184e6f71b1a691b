"""Walk the package's imports (module-level and lazy) and report cycles between modules and between
top-level parts (classify, train, studies, ...), and functions longer than 80 lines.

    python tools/import_graph.py          # exit 1 when a cycle or a long function is found
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "src"
MAX_LINES = 80


def modules(root: Path = ROOT) -> dict[str, Path]:
    pkg = root / "affectlens"
    return {".".join(p.relative_to(root).with_suffix("").parts).removesuffix(".__init__"): p for p in pkg.rglob("*.py")}


def _resolve(name: str, files: dict[str, Path]) -> str | None:
    while name and name not in files:
        name = name.rpartition(".")[0]
    return name or None


def _targets(node: ast.AST, module: str, path: Path, files: dict[str, Path]) -> list[str]:
    if isinstance(node, ast.Import):
        return [t for a in node.names if (t := _resolve(a.name, files)) and t.startswith("affectlens")]
    if not isinstance(node, ast.ImportFrom):
        return []
    mod = node.module or ""
    if node.level:
        base = module if path.name == "__init__.py" else module.rpartition(".")[0]
        for _ in range(node.level - 1):
            base = base.rpartition(".")[0]
        mod = f"{base}.{mod}" if mod else base
    if not mod.startswith("affectlens"):
        return []
    out = []
    for a in node.names:
        full = f"{mod}.{a.name}"
        if t := _resolve(full if full in files else mod, files):
            out.append(t)
    return out


def graph(files: dict[str, Path]) -> tuple[dict[str, set[str]], list[str]]:
    edges: dict[str, set[str]] = {m: set() for m in files}
    long_functions = []
    for m, p in files.items():
        for node in ast.walk(ast.parse(p.read_text())):
            edges[m].update(_targets(node, m, p, files))
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                n = node.end_lineno - node.lineno + 1
                if n > MAX_LINES:
                    long_functions.append(f"{p.relative_to(ROOT)}:{node.lineno} {node.name} ({n} lines)")
    return edges, long_functions


def cycles(g: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one member (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    for root in g:
        if root in index:
            continue
        work = [(root, iter(sorted(g.get(root, ()))))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on.add(root)
        while work:
            v, it = work[-1]
            w = next(it, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = len(index)
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(g.get(w, ())))))
                elif w in on:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    out.append(sorted(comp))
    return out


def part(module: str) -> str:
    return module.split(".")[1] if "." in module else module


def main() -> int:
    files = modules()
    edges, long_functions = graph(files)
    parts: dict[str, set[str]] = {}
    for a, bs in edges.items():
        for b in bs:
            if part(a) != part(b) and "affectlens" not in (a, b):
                parts.setdefault(part(a), set()).add(part(b))
    module_cycles = [c for c in cycles(edges) if not all(files[x].name == "__init__.py" for x in c)]
    part_cycles = cycles(parts)
    for c in part_cycles:
        print("part cycle:", " ↔ ".join(c))
        for a in c:
            print("   ", a, "→", sorted(b for b in parts[a] if b in c))
    for c in module_cycles:
        print("module cycle:", " ↔ ".join(c))
    for f in long_functions:
        print("long function:", f)
    ok = not (part_cycles or module_cycles or long_functions)
    print("no cycles, no function over 80 lines" if ok else "")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
