"""The study report: one self-contained HTML file (Plotly with its JavaScript inlined, images as data URIs).

The report reads a study through :mod:`affectlens.studies` (it sits above it: studies never import
the report).
"""

from __future__ import annotations

from pathlib import Path

from affectlens.report.html import build_report

__all__ = ["build_report", "write_report"]


def write_report(name: str, out: str | Path, db: str | None = None) -> Path:
    """Write study ``name``'s report to ``out`` (an .html file); returns the path."""
    from affectlens.report.headline import headline
    from affectlens.report.norms import study_norms
    from affectlens.studies import tables

    study, t = tables(name, db)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(build_report(study, t, study_norms(name, headline(t), db)), encoding="utf-8")
    return out
