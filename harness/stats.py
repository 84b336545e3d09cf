"""Statistics shared by every scale: intervals, nulls, p-values and multiple comparisons.

Each claim compares a measured value with a null. The functions here turn
resampled or permuted draws into the intervals, z-scores and p-values the
verdicts use, at the coverage `harness.verdicts.CONFIDENCE`.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from harness.verdicts import CONFIDENCE

_LOWER_QUANTILE = (1 - CONFIDENCE) / 2
_UPPER_QUANTILE = 1 - _LOWER_QUANTILE


def percentile_interval(draws: np.ndarray) -> list[float]:
    """Return the central `CONFIDENCE` percentile interval of resampled values."""
    return [float(np.quantile(draws, _LOWER_QUANTILE)), float(np.quantile(draws, _UPPER_QUANTILE))]


def basic_bootstrap_interval(estimate: float, draws: np.ndarray) -> list[float]:
    """Return the basic (reverse-percentile) bootstrap interval, 2 * estimate - quantiles.

    Resampling rows with replacement duplicates points, which by itself
    steepens a covariance spectrum: on an isotropic Gaussian cloud the
    bootstrap exponents sit well above the cloud's own exponent. The basic
    interval corrects that first-order bias, where the percentile interval
    would carry it into the verdicts.
    """
    low, high = percentile_interval(draws)
    return [2 * estimate - high, 2 * estimate - low]


def null_upper_bound(null_draws: np.ndarray) -> float:
    """Return the upper one-sided `CONFIDENCE` bound of a null, from its mean and spread.

    A normal approximation, because a 95th percentile read from 20 to 100
    draws is itself noisy.
    """
    z_value = stats.norm.ppf(CONFIDENCE)
    return float(np.mean(null_draws) + z_value * np.std(null_draws, ddof=1))


def z_score(observed: float, null_draws: np.ndarray) -> float:
    """Return (observed - null mean) / null SD; infinite when the null does not vary."""
    spread = float(np.std(null_draws, ddof=1))
    difference = observed - float(np.mean(null_draws))
    if spread == 0:
        return float(np.sign(difference) * np.inf) if difference else 0.0
    return difference / spread


def one_sided_p_value(z: float) -> float:
    """Return the upper-tail normal p-value of a z-score."""
    return float(stats.norm.sf(z))


def holm_adjusted(p_values: list[float]) -> list[float]:
    """Return Holm-Bonferroni adjusted p-values, in the input order."""
    order = np.argsort(p_values)
    adjusted = np.empty(len(p_values))
    running_max = 0.0
    for rank, index in enumerate(order):
        running_max = max(running_max, (len(p_values) - rank) * p_values[index])
        adjusted[index] = min(running_max, 1.0)
    return adjusted.tolist()


def permutation_p_value(observed: float, null_draws: np.ndarray) -> float:
    """Return the one-sided permutation p-value (1 + #null >= observed) / (1 + #null).

    The added one counts the observed labelling as one of the permutations,
    so the p-value is never zero and a test at level alpha keeps its size.
    """
    null_draws = np.asarray(null_draws, dtype=float)
    return float((1 + np.sum(null_draws >= observed)) / (1 + null_draws.size))
