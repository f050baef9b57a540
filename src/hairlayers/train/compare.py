"""Comparing runs over seeds: mean ± std, and whether a paired difference is more than noise.

A benchmark that trains every model with seeds ``0..n-1`` can pair the runs by seed (same data
order, same test set) and ask whether model A's score minus model B's is consistently away from
zero. The rule used here is deliberately simple and stated in every table that uses it: the mean
paired difference counts as *significant* when it exceeds two standard errors of that mean
(``|mean| > 2 · std / sqrt(n)``), roughly a 95 % interval excluding zero for a normal spread. With
one seed nothing can be claimed, and the result says so (``significant`` is ``None``).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from ..errors import HairError

#: how many standard errors a mean difference must exceed to be called significant
SIGNIFICANCE_SE = 2.0


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for one value); ``(inf, 0)`` when any value is not finite.

    Example:
        >>> mean_std([1.0, 3.0])
        (2.0, 1.4142135623730951)
    """
    if not values:
        raise HairError("mean_std: no values")
    if not all(math.isfinite(v) for v in values):
        return math.inf, 0.0
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


@dataclass(frozen=True)
class PairedDifference:
    """``a − b`` paired by seed: the mean, its standard error and whether it exceeds ``2 SE``.

    ``se`` and ``significant`` are ``None`` for a single pair (no spread to measure).
    """

    mean: float
    se: float | None
    n: int
    significant: bool | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def format(self, digits: int = 2) -> str:
        """``"+0.31±0.08*"`` (``*``: significant), ``"-0.05±0.10"``, or ``"+0.12"`` for one seed.

        Example:
            >>> paired_difference([30.5, 30.7, 30.6], [30.1, 30.2, 30.4]).format()
            '+0.37±0.09*'
        """
        if self.se is None:
            return f"{self.mean:+.{digits}f}"
        return f"{self.mean:+.{digits}f}±{self.se:.{digits}f}{'*' if self.significant else ''}"


def paired_difference(a: Sequence[float], b: Sequence[float]) -> PairedDifference:
    """Mean of ``a[i] − b[i]`` over seeds, its standard error, and the two-standard-error verdict.

    Args:
        a, b: one score per seed, in the same seed order (e.g. PSNR of HAIR and of the baseline).

    Example:
        >>> d = paired_difference([30.5, 30.7, 30.6], [30.1, 30.2, 30.4])
        >>> round(d.mean, 3), round(d.se, 3), d.significant
        (0.367, 0.088, True)
        >>> paired_difference([30.0, 31.0], [30.5, 30.4]).significant   # +0.05 ± 0.55: noise
        False
        >>> paired_difference([30.0], [29.0]).significant is None        # one seed: no claim
        True
    """
    if len(a) != len(b):
        raise HairError(f"paired_difference: {len(a)} scores against {len(b)}; pair them seed by seed")
    if not a:
        raise HairError("paired_difference: no scores")
    diffs = [x - y for x, y in zip(a, b)]
    if not all(math.isfinite(d) for d in diffs):
        return PairedDifference(math.nan, None, len(diffs), None)  # an infinite PSNR decides nothing
    mean = statistics.fmean(diffs)
    if len(diffs) == 1:
        return PairedDifference(mean, None, 1, None)
    se = statistics.stdev(diffs) / math.sqrt(len(diffs))
    return PairedDifference(mean, se, len(diffs), abs(mean) > SIGNIFICANCE_SE * se)


__all__ = ["SIGNIFICANCE_SE", "PairedDifference", "mean_std", "paired_difference"]
