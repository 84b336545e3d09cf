"""Co-occurrence counts of SAE features and the five affinities derived from them."""

import itertools

import numpy as np
import pytest

from harness.geometry.cooccurrence import (
    AFFINITY_MEASURES,
    affinity,
    count_cooccurrence,
    count_cooccurrence_reference,
    pair_count_dtype,
)


def random_firing(n_chunks: int, n_features: int, seed: int) -> np.ndarray:
    """Sparse boolean firing, each feature with its own firing probability below 0.3."""
    rng = np.random.default_rng(seed)
    probabilities = rng.uniform(0.0, 0.3, size=n_features)
    return rng.random((n_chunks, n_features)) < probabilities


def uneven_batches(firing: np.ndarray) -> list[np.ndarray]:
    """Split the chunks at uneven points, including an empty batch and a single chunk."""
    cuts = [0, 1, 1, 38, 150, 151, len(firing)]
    return [firing[start:stop] for start, stop in itertools.pairwise(cuts)]


def firing_with_constant_columns() -> np.ndarray:
    """Random firing of 12 features in which feature 2 never fires and feature 9 always fires."""
    firing = random_firing(200, 12, seed=3)
    firing[:, 2] = False
    firing[:, 9] = True
    return firing


def direct_measure(measure: str, column_i: np.ndarray, column_j: np.ndarray) -> float:
    """One pair's affinity from its 2x2 table, in float64 so that 0/0 gives NaN (phi unshifted)."""
    n_chunks = np.float64(len(column_i))
    n11 = np.float64(np.sum(column_i & column_j))
    n10 = np.float64(np.sum(column_i & ~column_j))
    n01 = np.float64(np.sum(~column_i & column_j))
    n00 = np.float64(np.sum(~column_i & ~column_j))
    n_i, n_j = n11 + n10, n11 + n01
    if measure == "simple-matching":
        return (n11 + n00) / n_chunks
    if measure == "jaccard":
        return n11 / (n11 + n10 + n01)
    if measure == "dice":
        return 2 * n11 / (2 * n11 + n10 + n01)
    if measure == "overlap":
        return n11 / min(n_i, n_j)
    return (n11 * n00 - n10 * n01) / np.sqrt(n_i * (n_chunks - n_i) * n_j * (n_chunks - n_j))


def test_fast_counts_equal_reference():
    firing = random_firing(240, 70, seed=0)
    fast = count_cooccurrence(uneven_batches(firing), n_features=70)
    reference = count_cooccurrence_reference(firing)
    assert fast.n_chunks == reference.n_chunks == 240
    assert np.array_equal(fast.fire_counts, reference.fire_counts)
    assert np.array_equal(fast.pair_counts, reference.pair_counts)


def test_fast_counts_pool_many_batches(monkeypatch):
    # Pool only 5 chunks per product, so that the counts are added over many products.
    monkeypatch.setattr("harness.geometry.cooccurrence._CHUNKS_PER_PRODUCT", 5)
    firing = random_firing(240, 70, seed=1)
    fast = count_cooccurrence(uneven_batches(firing), n_features=70)
    reference = count_cooccurrence_reference(firing)
    assert np.array_equal(fast.pair_counts, reference.pair_counts)


def test_fast_counts_over_row_blocks(monkeypatch):
    # Blocks of 3 feature rows, with a last block of 1 row.
    monkeypatch.setattr("harness.geometry.cooccurrence._COUNT_BLOCK_ENTRIES", 3 * 70)
    firing = random_firing(100, 70, seed=2)
    fast = count_cooccurrence([firing], n_features=70)
    reference = count_cooccurrence_reference(firing)
    assert np.array_equal(fast.pair_counts, reference.pair_counts)


def test_counts_symmetric_with_fire_diagonal():
    firing = random_firing(300, 40, seed=4)
    counts = count_cooccurrence(uneven_batches(firing), n_features=40)
    assert np.array_equal(counts.pair_counts, counts.pair_counts.T)
    assert np.array_equal(np.diag(counts.pair_counts), counts.fire_counts)
    assert np.array_equal(counts.fire_counts, firing.sum(axis=0))


def test_count_dtypes():
    counts = count_cooccurrence([random_firing(50, 8, seed=5)], n_features=8)
    assert counts.pair_counts.dtype == np.int32
    assert counts.fire_counts.dtype == np.int64
    assert count_cooccurrence_reference(random_firing(50, 8, seed=5)).pair_counts.dtype == np.int32
    assert pair_count_dtype(2**31 - 1) == np.int32
    assert pair_count_dtype(2**31) == np.int64


@pytest.mark.parametrize("measure", AFFINITY_MEASURES)
def test_constant_features_masked(measure):
    counts = count_cooccurrence([firing_with_constant_columns()], n_features=12)
    result = affinity(counts, measure)
    assert result.never_fire == 1
    assert result.always_fire == 1
    assert list(result.kept) == [0, 1, 3, 4, 5, 6, 7, 8, 10, 11]
    assert result.matrix.shape == (10, 10)

    # Simple matching, Jaccard and Dice have no 0/0 pair, because only one
    # feature never fires. Overlap is 0/0 for the 11 pairs with that feature,
    # and phi for the 1 + 2 * 10 pairs with either constant feature.
    expected_undefined = {"simple-matching": 0, "jaccard": 0, "dice": 0, "overlap": 11, "phi": 21}
    assert result.undefined_pairs == expected_undefined[measure]


@pytest.mark.parametrize("measure", ["jaccard", "dice", "overlap", "phi"])
def test_undefined_pairs_match_direct_count(measure):
    firing = firing_with_constant_columns()
    firing[:, 5] = False
    counts = count_cooccurrence([firing], n_features=12)

    with np.errstate(invalid="ignore", divide="ignore"):
        direct_values = [direct_measure(measure, firing[:, i], firing[:, j]) for i, j in itertools.combinations(range(12), 2)]
    assert affinity(counts, measure).undefined_pairs == int(np.sum(np.isnan(direct_values)))


def test_phi_equals_correlation():
    firing = random_firing(500, 30, seed=6)
    counts = count_cooccurrence([firing], n_features=30)
    result = affinity(counts, "phi")
    phi = result.matrix.astype(np.float64) - 1.0
    assert phi.min() >= -1.0
    assert phi.max() <= 1.0

    rng = np.random.default_rng(7)
    for _ in range(8):
        i, j = rng.choice(len(result.kept), size=2, replace=False)
        columns = firing[:, [result.kept[i], result.kept[j]]].astype(np.float64)
        correlation = np.corrcoef(columns, rowvar=False)[0, 1]
        assert phi[i, j] == pytest.approx(correlation, abs=1e-6)


@pytest.mark.parametrize("measure", AFFINITY_MEASURES)
def test_measure_matches_direct_computation(measure):
    firing = firing_with_constant_columns()
    counts = count_cooccurrence([firing], n_features=12)
    result = affinity(counts, measure)
    shift = 1.0 if measure == "phi" else 0.0

    for row, column in itertools.product(range(len(result.kept)), repeat=2):
        column_i = firing[:, result.kept[row]]
        column_j = firing[:, result.kept[column]]
        expected = direct_measure(measure, column_i, column_j) + shift
        assert result.matrix[row, column] == pytest.approx(expected, abs=1e-6), (measure, row, column)


@pytest.mark.parametrize("measure", AFFINITY_MEASURES)
def test_affinity_symmetric_nonnegative_finite(measure, monkeypatch):
    # Blocks of 7 rows, so that the matrix is assembled from several row blocks.
    monkeypatch.setattr("harness.geometry.cooccurrence._AFFINITY_BLOCK_ENTRIES", 7 * 60)
    firing = random_firing(400, 60, seed=8)
    firing[:, 10] = firing[:, 11]
    firing[:, 20] = ~firing[:, 21]
    result = affinity(count_cooccurrence([firing], n_features=60), measure)
    assert result.matrix.dtype == np.float32
    assert np.array_equal(result.matrix, result.matrix.T)
    assert result.matrix.min() >= 0.0
    assert np.all(np.isfinite(result.matrix))
    assert np.all(np.diag(result.matrix) == (2.0 if measure == "phi" else 1.0))


def test_unknown_measure_rejected():
    counts = count_cooccurrence([random_firing(50, 8, seed=9)], n_features=8)
    with pytest.raises(ValueError, match="measure 'cosine' is unknown; use one of simple-matching, jaccard, dice, overlap, phi"):
        affinity(counts, "cosine")


def test_batch_width_rejected():
    batches = [random_firing(10, 8, seed=10), random_firing(10, 9, seed=11)]
    with pytest.raises(ValueError, match="firing batch 1 has 9 features but n_features is 8"):
        count_cooccurrence(batches, n_features=8)


def test_nonboolean_batch_rejected():
    batch = random_firing(10, 8, seed=12).astype(np.float32)
    with pytest.raises(ValueError, match="firing batch 0 has dtype float32; pass a boolean firing matrix"):
        count_cooccurrence([batch], n_features=8)
    with pytest.raises(ValueError, match="firing has dtype float32; pass a boolean firing matrix"):
        count_cooccurrence_reference(batch)


def test_one_dimensional_batch_rejected():
    with pytest.raises(ValueError, match=r"firing batch 0 has shape \(8,\); pass a 2-D firing matrix"):
        count_cooccurrence([np.ones(8, dtype=bool)], n_features=8)


def test_zero_chunks_rejected():
    message = "no chunks: the corpus produced no 256-token chunk; use a corpus with longer documents"
    with pytest.raises(ValueError, match=message):
        count_cooccurrence([], n_features=8)
    with pytest.raises(ValueError, match=message):
        count_cooccurrence([np.zeros((0, 8), dtype=bool)], n_features=8)
    with pytest.raises(ValueError, match=message):
        count_cooccurrence_reference(np.zeros((0, 8), dtype=bool))


def test_nonpositive_features_rejected():
    with pytest.raises(ValueError, match="n_features is 0; pass the SAE's number of features"):
        count_cooccurrence([np.zeros((3, 0), dtype=bool)], n_features=0)


def test_too_few_kept_features_rejected():
    firing = np.zeros((20, 4), dtype=bool)
    firing[:, 1] = True
    firing[::2, 3] = True
    counts = count_cooccurrence([firing], n_features=4)
    with pytest.raises(ValueError, match=r"counts: only 1 of 4 features fire in some but not all of the 20 chunks \(2 never fire, 1 always fire\)"):
        affinity(counts, "jaccard")
