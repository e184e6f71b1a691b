"""Result rows made safe for JSON (no NaN / infinity, plain Python types) and the live face payload."""

from __future__ import annotations

from affectlens.sinks.tables import clean

__all__ = ["clean", "clean_rows", "face_payload", "from_row"]


def clean_rows(rows: list[dict]) -> list[dict]:
    return [{k: clean(v) for k, v in row.items()} for row in rows]


def face_payload(row: dict, labels: tuple[str, ...]) -> dict:
    """A face row plus its top-3 smoothed probabilities (``[[label, p], ...]``)."""
    probs = sorted(((c, float(row.get(f"p_{c}") or 0.0)) for c in labels), key=lambda x: -x[1])
    return {k: clean(v) for k, v in row.items()} | {"top3": [[c, round(p, 4)] for c, p in probs[:3]]}


def from_row(model, obj, **overrides):
    """A pydantic ``model`` filled from ``obj``'s same-named attributes (a database row), plus ``overrides``."""
    fields = {name: getattr(obj, name) for name in model.model_fields if name not in overrides}
    return model(**fields, **overrides)
