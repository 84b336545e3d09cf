"""Spectral lobes, connectivity checks, alignment nulls and lobe winners."""

import numpy as np
import pytest

from harness.stats import holm_adjusted, z_score
from harness.geometry.lobes import (
    OUTSIDE_LARGEST_COMPONENT,
    ami_against_permutations,
    angular_similarity,
    graph_connectivity,
    lobe_winners,
    predictability_against_random_features,
    spectral_lobes,
)


def block_affinity(block_sizes: list[int], isolated: int = 0) -> np.ndarray:
    """Affinity 1 within blocks, 0.01 between blocks, and fully isolated features at the end."""
    n_connected = sum(block_sizes)
    matrix = np.full((n_connected + isolated, n_connected + isolated), 0.01)
    start = 0
    for size in block_sizes:
        matrix[start : start + size, start : start + size] = 1.0
        start += size
    matrix[n_connected:, :] = 0.0
    matrix[:, n_connected:] = 0.0
    np.fill_diagonal(matrix, 1.0)
    return matrix


def test_block_diagonal_isolated_feature_reported():
    affinity = block_affinity([20, 20], isolated=1)

    connectivity = graph_connectivity(affinity)

    assert connectivity.n_components == 2
    assert connectivity.isolated_features == 1
    assert connectivity.left_out_features == 1
    assert 40 not in connectivity.largest_component


def test_spectral_lobes_recover_blocks_and_skip_isolated():
    affinity = block_affinity([15, 25], isolated=1)

    labels, connectivity = spectral_lobes(affinity, (2,), seed=0)

    assert connectivity.left_out_features == 1
    assert labels[2][-1] == OUTSIDE_LARGEST_COMPONENT
    assert len(set(labels[2][:15])) == 1
    assert len(set(labels[2][15:40])) == 1
    assert labels[2][0] != labels[2][20]


def test_too_many_lobes_rejected():
    with pytest.raises(ValueError, match="cannot split"):
        spectral_lobes(block_affinity([3]), (4,), seed=0)


def test_angular_similarity_range():
    rng = np.random.default_rng(0)
    rows = rng.standard_normal((50, 8))
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    similarity = angular_similarity(np.vstack([rows, -rows[:1]]))
    assert np.allclose(np.diag(similarity), 1.0, atol=1e-3)
    assert similarity[0, 50] == pytest.approx(0.0, abs=1e-3)
    assert similarity.min() >= 0.0


def test_ami_null_centred_on_zero():
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 3, 500)
    observed, null = ami_against_permutations(labels, labels.copy(), 50, rng)
    assert observed == pytest.approx(1.0)
    assert abs(null.mean()) < 0.01
    assert z_score(observed, null) > 10


def test_holm_adjustment():
    assert holm_adjusted([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm_adjusted([0.5]) == [0.5]


def test_random_features_do_not_predict_lobes():
    rng = np.random.default_rng(2)
    directions = rng.standard_normal((400, 16))
    labels = (directions[:, 0] > 0).astype(int)
    observed, null, _ = predictability_against_random_features(directions, labels, 20, rng, split_seed=0)
    assert observed > 0.9
    assert null.mean() < 0.65


def test_lobe_winner_by_fraction_firing():
    labels = np.array([0, 0, 1, 1, 1, 2])
    firing = np.array(
        [
            [1, 1, 0, 0, 0, 0],
            [0, 0, 1, 1, 0, 0],
            [0, 0, 0, 0, 0, 1],
        ],
        dtype=bool,
    )
    assert lobe_winners(firing, labels, 3).tolist() == [0, 1, 2]
