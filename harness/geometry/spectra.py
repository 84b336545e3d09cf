"""Covariance spectra of point clouds and their power-law exponents.

The exponent alpha is minus the slope of log10(eigenvalue) against
log10(rank) over a fixed range of ranks, as Li et al. (arXiv 2410.19750)
fitted it; a steeper fall-off (larger alpha) means a more anisotropic cloud.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

# Ranks 10 to 150 (1-based, inclusive), the range the authors fitted.
DEFAULT_RANK_RANGE = (10, 150)


@dataclass(frozen=True)
class PowerLawFit:
    """A least-squares line through log10(eigenvalue) against log10(rank).

    `interval` is the 95% interval of alpha from the regression's standard
    error, the authors' method; it treats the eigenvalues as independent, so
    it is narrower than a resampling interval.
    """

    alpha: float
    standard_error: float
    interval: tuple[float, float]
    r_squared: float


def unit_rows(points: np.ndarray) -> np.ndarray:
    """Scale every row to unit length (rows of zero length are dropped)."""
    norms = np.linalg.norm(points, axis=1)
    keep = norms > 0
    return points[keep] / norms[keep, None]


def covariance_spectrum(points: np.ndarray) -> np.ndarray:
    """Return the eigenvalues of the rows' covariance, largest first."""
    centred = points - points.mean(axis=0)
    covariance = centred.T @ centred / (len(points) - 1)
    eigenvalues = np.linalg.eigvalsh(covariance)[::-1]
    return np.clip(eigenvalues, 0.0, None)


def check_rank_range(n_points: int, dimension: int, rank_range: tuple[int, int]) -> None:
    """Raise ValueError unless the rank range fits inside the spectrum of an n x d cloud."""
    first, last = rank_range
    if not 1 <= first < last <= min(n_points - 1, dimension):
        raise ValueError(
            f"rank range {rank_range} does not fit a cloud of {n_points} points in {dimension} dimensions; "
            f"it needs 1 <= first < last <= {min(n_points - 1, dimension)}"
        )


def fit_power_law(eigenvalues: np.ndarray, rank_range: tuple[int, int] = DEFAULT_RANK_RANGE) -> PowerLawFit:
    """Fit log10(eigenvalue) = c - alpha * log10(rank) over `rank_range`."""
    first, last = rank_range
    ranks = np.arange(first, last + 1)
    values = eigenvalues[first - 1 : last]
    if np.any(values <= 0):
        raise ValueError(f"eigenvalues of ranks {first} to {last} must be positive to fit a power law")

    fit = stats.linregress(np.log10(ranks), np.log10(values))
    t_critical = stats.t.ppf(0.975, len(ranks) - 2)
    alpha = -fit.slope
    return PowerLawFit(
        alpha=float(alpha),
        standard_error=float(fit.stderr),
        interval=(float(alpha - t_critical * fit.stderr), float(alpha + t_critical * fit.stderr)),
        r_squared=float(fit.rvalue**2),
    )


def power_law_exponent(points: np.ndarray, rank_range: tuple[int, int] = DEFAULT_RANK_RANGE) -> float:
    """Return alpha of the covariance spectrum of the unit-length rows of `points`."""
    return fit_power_law(covariance_spectrum(unit_rows(points)), rank_range).alpha


def bootstrap_exponents(points: np.ndarray, n_draws: int, rng: np.random.Generator, rank_range: tuple[int, int] = DEFAULT_RANK_RANGE) -> np.ndarray:
    """Return alpha for `n_draws` resamples of the rows drawn with replacement.

    Duplicate rows are harmless to a covariance, so the ordinary bootstrap
    applies here (unlike the nearest-neighbour entropy).
    """
    n_points = len(points)
    return np.array([power_law_exponent(points[rng.integers(0, n_points, n_points)], rank_range) for _ in range(n_draws)])


def gaussian_null_exponents(n_points: int, dimension: int, n_draws: int, rng: np.random.Generator, rank_range: tuple[int, int] = DEFAULT_RANK_RANGE) -> np.ndarray:
    """Return alpha of `n_draws` i.i.d. standard Gaussian clouds of the same shape."""
    return np.array([power_law_exponent(rng.standard_normal((n_points, dimension)), rank_range) for _ in range(n_draws)])
