"""Estimators behind the galaxy claims: power-law fits, entropies, intervals and thirds."""

import numpy as np
import pytest

from harness.budgets import get_budget
from harness.geometry.entropy import gaussian_entropy, gaussian_like, knn_entropy, subsample_clustering
from harness.stats import basic_bootstrap_interval
from harness.geometry.galaxy import depth_thirds, layer_statistics, measure_power_law
from harness.geometry.spectra import check_rank_range, covariance_spectrum, fit_power_law, power_law_exponent
from harness.verdicts import MeasurementError


def power_law_cloud(n_points: int, dimension: int, alpha: float, rng: np.random.Generator) -> np.ndarray:
    """A Gaussian cloud whose covariance eigenvalues are rank**-alpha."""
    scales = np.arange(1, dimension + 1) ** (-alpha / 2)
    return rng.standard_normal((n_points, dimension)) * scales


def test_fit_recovers_exact_power_law():
    eigenvalues = 3.0 * np.arange(1, 301, dtype=float) ** -1.3
    fit = fit_power_law(eigenvalues, (10, 150))
    assert fit.alpha == pytest.approx(1.3, abs=1e-9)
    assert fit.r_squared == pytest.approx(1.0, abs=1e-9)


def test_exponent_of_planted_cloud_near_planted_value():
    rng = np.random.default_rng(0)
    points = power_law_cloud(20_000, 300, 1.0, rng)
    spectrum = covariance_spectrum(points)
    assert fit_power_law(spectrum, (10, 150)).alpha == pytest.approx(1.0, abs=0.1)


def test_planted_cloud_steeper_than_isotropic():
    rng = np.random.default_rng(1)
    planted = power_law_cloud(2_000, 300, 1.0, rng)
    isotropic = rng.standard_normal((2_000, 300))
    assert power_law_exponent(planted) > power_law_exponent(isotropic) + 0.3


def test_rank_range_must_fit_cloud():
    with pytest.raises(ValueError, match="rank range"):
        check_rank_range(100, 64, (10, 150))


def test_knn_entropy_matches_gaussian_in_low_dimension():
    rng = np.random.default_rng(2)
    covariance_eigenvalues = np.array([1.0, 4.0, 0.25])
    points = rng.standard_normal((20_000, 3)) * np.sqrt(covariance_eigenvalues)
    assert knn_entropy(points) == pytest.approx(gaussian_entropy(covariance_eigenvalues), abs=0.05)


def test_knn_entropy_counts_duplicate_points_once():
    points = np.random.default_rng(0).standard_normal((50, 3))

    assert knn_entropy(np.vstack([points, points[:10]])) == knn_entropy(points)


def test_gaussian_like_matches_covariance():
    rng = np.random.default_rng(4)
    points = power_law_cloud(5_000, 20, 1.0, rng) + 3.0
    sample = gaussian_like(points, rng)
    assert sample.shape == points.shape
    assert np.allclose(sample.mean(axis=0), points.mean(axis=0), atol=0.1)
    assert np.allclose(np.cov(sample.T), np.cov(points.T), atol=0.05)


def test_clustered_cloud_has_positive_excess():
    rng = np.random.default_rng(5)
    centres = rng.standard_normal((20, 30)) * 5
    clustered = centres[rng.integers(0, 20, 2_000)] + 0.3 * rng.standard_normal((2_000, 30))
    observed, reference = subsample_clustering(clustered, 500, 5, 20, rng)
    assert np.all(observed - reference > 1.0)


def test_gaussian_cloud_has_no_excess():
    rng = np.random.default_rng(6)
    points = power_law_cloud(2_000, 30, 1.0, rng)
    observed, reference = subsample_clustering(points, 500, 10, 20, rng)
    assert abs(np.mean(observed - reference)) < 0.5


def test_subsamples_never_duplicate_points():
    rng = np.random.default_rng(7)
    points = rng.standard_normal((300, 10))
    observed, _ = subsample_clustering(points, 150, 5, 5, rng)
    assert np.all(np.isfinite(observed))


def test_basic_interval_reflects_bias():
    draws = np.full(100, 0.4)
    assert basic_bootstrap_interval(0.3, draws) == pytest.approx([0.2, 0.2])


def test_depth_thirds_split():
    thirds = depth_thirds([0, 3, 6, 10, 13, 16, 19, 23, 26, 29], 30)
    assert thirds == {"early": [0, 3, 6], "middle": [10, 13, 16, 19], "late": [23, 26, 29]}


def test_depth_thirds_empty_third_rejected():
    with pytest.raises(MeasurementError, match="middle"):
        depth_thirds([0, 29], 30)


def test_power_law_claim_fails_on_isotropic_layers():
    rng = np.random.default_rng(8)
    budget = get_budget("smoke")
    statistics = {}
    for layer in (0, 1):
        cloud = rng.standard_normal((1_000, 160))
        cloud /= np.linalg.norm(cloud, axis=1, keepdims=True)
        statistics[layer] = layer_statistics(cloud, rng.standard_normal((2_000, 160)), budget, rng)
    measurement = measure_power_law(statistics)
    assert not measurement.holds
    assert "Gaussian clouds" in measurement.message


def test_power_law_claim_holds_on_planted_layers():
    rng = np.random.default_rng(9)
    budget = get_budget("smoke")
    statistics = {}
    for layer in (0, 1):
        cloud = power_law_cloud(1_000, 160, 1.2, rng)
        cloud /= np.linalg.norm(cloud, axis=1, keepdims=True)
        statistics[layer] = layer_statistics(cloud, rng.standard_normal((2_000, 160)), budget, rng)
    assert measure_power_law(statistics).holds
