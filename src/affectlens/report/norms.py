"""Norms: where does this study stand among the other studies in the same database?

For each headline figure (mean engagement, mean attention, share of positive and of negative
moments) the percentile rank among the other studies with analysed respondents: the share of them
with a lower value, ties counting half ("engagement above 70 % of your 12 other studies"). With no
other study the norms are stated as unavailable, never invented.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from affectlens.report.headline import Headline, headline

FIGURES = ("engagement", "attention", "positive", "negative")


def percentile_rank(value: float, others: list[float]) -> float:
    """Share (0-100) of ``others`` below ``value``, ties counting half; NaN when there are none."""
    xs = [x for x in others if not math.isnan(x)]
    if not xs or math.isnan(value):
        return math.nan
    below = sum(x < value for x in xs) + 0.5 * sum(x == value for x in xs)
    return 100.0 * below / len(xs)


@dataclass
class Norms:
    studies: int  # other studies with analysed respondents
    ranks: dict[str, float] = field(default_factory=dict)  # figure → percentile rank

    def line(self, figure: str) -> str:
        if not self.studies:
            return "unavailable: no other study with respondents in this database"
        r = self.ranks.get(figure, math.nan)
        if math.isnan(r):
            return "–"
        return f"above {r:.0f}% of your {self.studies} other stud{'y' if self.studies == 1 else 'ies'}"


def figures_of(h: Headline) -> dict[str, float]:
    return {
        "engagement": h.engagement[0],
        "attention": h.attention[0],
        "positive": h.positive[0],
        "negative": h.negative[0],
    }


def norms(this: Headline, others: list[Headline]) -> Norms:
    others = [o for o in others if o.respondents > 0]
    mine = figures_of(this)
    theirs = [figures_of(o) for o in others]
    return Norms(len(others), {k: percentile_rank(mine[k], [t[k] for t in theirs]) for k in FIGURES})


def study_norms(name: str, this: Headline, db: str | None = None) -> Norms:
    """Norms of study ``name`` against every other study in its database (or studies folder)."""
    from affectlens.errors import AffectlensError
    from affectlens.studies import study_names, tables

    others = []
    for other in study_names(db):
        if other == name:
            continue
        try:
            others.append(headline(tables(other, db, groups=False)[1]))  # headline figures only
        except AffectlensError:  # a study whose results are missing: left out of the norms
            continue
    return norms(this, others)
