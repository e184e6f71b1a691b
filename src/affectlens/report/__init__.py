"""The study report: one self-contained HTML file (Plotly with its JavaScript inlined, images as data URIs)."""

from affectlens.report.html import build_report

__all__ = ["build_report"]
