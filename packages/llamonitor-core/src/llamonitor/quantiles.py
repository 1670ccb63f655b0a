"""Linear-interpolation quantiles of sorted values: the one pure-Python helper.

Same definition as NumPy's default (``method="linear"``), so a quantile computed here, with
``np.percentile`` or by PostgreSQL's ``percentile_cont`` agrees. Used where values are few or
already sorted (SQL fallbacks, anomaly baselines, agent profiles); NumPy does large arrays.
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def quantile(ordered: Sequence[float], q: float) -> float:
    """The ``q`` quantile (``0 <= q <= 1``) of ascending, non-empty ``ordered``."""
    n = len(ordered)
    pos = q * (n - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, n - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def quantiles(ordered: Sequence[float], qs: Sequence[float]) -> list[float | None]:
    """Each of ``qs`` of ascending ``ordered``; ``None`` for each when it is empty."""
    if not ordered:
        return [None] * len(qs)
    return [quantile(ordered, q) for q in qs]
