"""Helpers shared by the verb modules."""

from __future__ import annotations

from pathlib import Path


def resolve_model(name: str) -> str:
    """A ``.pt`` training checkpoint is exported to a temporary ONNX file, removed at exit (the ``[train]`` extra); any
    other name (a shipped model, an ``.onnx`` file) is passed on as it is."""
    from affectlens.errors import AffectlensError

    path = Path(name)
    if path.suffix not in (".pt", ".pth"):
        return name
    if not path.is_file():
        raise AffectlensError(f"checkpoint {path} not found")
    try:
        from affectlens.train.export import export_temporary
    except ImportError as exc:
        raise AffectlensError(
            f"a .pt checkpoint needs the training extra ({exc}): pip install 'affectlens[train]'"
        ) from None
    return str(export_temporary(path))
