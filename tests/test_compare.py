"""The significance rule of the benchmark tables, on fixed numbers worked out by hand."""

from __future__ import annotations

import math

import pytest

from hairlayers.errors import HairError
from hairlayers.train import mean_std, paired_difference


def test_a_consistent_gain_is_significant() -> None:
    # differences 0.4, 0.5, 0.2: mean 0.3667, sample std 0.1528, SE 0.0882 -> 0.3667 > 0.1764
    d = paired_difference([30.5, 30.7, 30.6], [30.1, 30.2, 30.4])
    assert d.mean == pytest.approx(11 / 30)
    assert d.se == pytest.approx(math.sqrt(0.07 / 3) / math.sqrt(3))
    assert d.n == 3 and d.significant is True
    assert d.format() == "+0.37±0.09*"


def test_a_gain_smaller_than_two_standard_errors_is_not() -> None:
    # differences -0.5, +0.6: mean 0.05, std 0.7778, SE 0.55 -> 0.05 < 1.1
    d = paired_difference([30.0, 31.0], [30.5, 30.4])
    assert d.mean == pytest.approx(0.05) and d.se == pytest.approx(0.55)
    assert d.significant is False
    assert d.format() == "+0.05±0.55"


def test_the_boundary_is_strict_and_the_sign_does_not_matter() -> None:
    # differences -1, -3: mean -2, std sqrt(2), SE 1 -> |mean| = 2 SE exactly: not significant
    assert paired_difference([0.0, 0.0], [1.0, 3.0]).significant is False
    # differences -1, -2: mean -1.5, SE 0.5 -> 1.5 > 1.0: significant, and a loss is reported as one
    d = paired_difference([0.0, 0.0], [1.0, 2.0])
    assert d.significant is True and d.mean == pytest.approx(-1.5) and d.format() == "-1.50±0.50*"


def test_identical_differences_are_significant_unless_zero() -> None:
    assert paired_difference([2.0, 3.0], [1.0, 2.0]).significant is True  # SE 0, mean 1
    assert paired_difference([1.0, 2.0], [1.0, 2.0]).significant is False  # SE 0, mean 0


def test_one_seed_claims_nothing() -> None:
    d = paired_difference([30.0], [29.0])
    assert (d.mean, d.se, d.n, d.significant) == (1.0, None, 1, None)
    assert d.format() == "+1.00"  # no "±": the table's heading says one seed claims nothing


def test_an_infinite_score_decides_nothing() -> None:
    d = paired_difference([math.inf, 30.0], [29.0, 29.0])
    assert math.isnan(d.mean) and d.significant is None


def test_unpaired_or_empty_scores_are_refused() -> None:
    with pytest.raises(HairError, match="3 scores against 2"):
        paired_difference([1.0, 2.0, 3.0], [1.0, 2.0])
    with pytest.raises(HairError, match="no scores"):
        paired_difference([], [])


def test_mean_std() -> None:
    assert mean_std([1.0, 3.0]) == (2.0, pytest.approx(math.sqrt(2)))
    assert mean_std([5.0]) == (5.0, 0.0)
    assert mean_std([1.0, math.inf]) == (math.inf, 0.0)
    with pytest.raises(HairError):
        mean_std([])
