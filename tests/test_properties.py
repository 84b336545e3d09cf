"""Invariants of the statistics, checked on generated inputs (hypothesis)."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import special_ortho_group
from sklearn.metrics import adjusted_mutual_info_score, pairwise_distances, silhouette_score

from harness.geometry.atom import PairDifferences, silhouette, split_scores, stratified_split
from harness.geometry.cooccurrence import AFFINITY_MEASURES, affinity, count_cooccurrence
from harness.geometry.entropy import knn_entropy
from harness.geometry.lobes import adjusted_mutual_information
from harness.geometry.spectra import power_law_exponent

seeds = st.integers(min_value=0, max_value=2**32 - 1)
SETTINGS = settings(max_examples=25, deadline=None)


@SETTINGS
@given(seed=seeds, scale=st.floats(min_value=1e-3, max_value=1e3))
def test_power_law_exponent_ignores_rotation_and_scale(seed, scale):
    rng = np.random.default_rng(seed)
    points = rng.standard_normal((300, 160)) * np.arange(1, 161) ** -0.5
    rotation = special_ortho_group.rvs(160, random_state=seed % 2**31)

    original = power_law_exponent(points)

    assert np.isclose(power_law_exponent(points @ rotation.T), original, atol=1e-6)
    assert np.isclose(power_law_exponent(scale * points), original, atol=1e-6)


@SETTINGS
@given(seed=seeds, n_points=st.integers(min_value=2, max_value=200), n_a=st.integers(1, 6), n_b=st.integers(1, 6))
def test_ami_ignores_label_names_and_matches_scikit_learn(seed, n_points, n_a, n_b):
    rng = np.random.default_rng(seed)
    labels_a = rng.integers(0, n_a, n_points)
    labels_b = rng.integers(0, n_b, n_points)
    renamed = rng.permutation(10)[labels_b] + 100

    value = adjusted_mutual_information(labels_a, labels_b)

    assert np.isclose(adjusted_mutual_information(labels_a, renamed), value)
    assert np.isclose(value, adjusted_mutual_info_score(labels_a, labels_b), atol=1e-12)


@SETTINGS
@given(seed=seeds, n_chunks=st.integers(min_value=2, max_value=60), n_features=st.integers(min_value=3, max_value=30), rate=st.floats(0.05, 0.95))
def test_affinities_are_symmetric_and_phi_is_a_correlation(seed, n_chunks, n_features, rate):
    firing = np.random.default_rng(seed).random((n_chunks, n_features)) < rate
    counts = count_cooccurrence([firing], n_features)
    fires_sometimes = (counts.fire_counts > 0) & (counts.fire_counts < n_chunks)
    if fires_sometimes.sum() < 2:
        return

    for measure in AFFINITY_MEASURES:
        matrix = affinity(counts, measure).matrix
        assert np.allclose(matrix, matrix.T), measure
    shifted_phi = affinity(counts, "phi").matrix
    assert np.all(shifted_phi >= -1e-6)
    assert np.all(shifted_phi <= 2 + 1e-6)


@SETTINGS
@given(seed=seeds, size=st.floats(min_value=0.01, max_value=100), negative=st.booleans(), dimension=st.integers(1, 8))
def test_knn_entropy_shifts_by_dimension_times_log_scale(seed, size, negative, dimension):
    points = np.random.default_rng(seed).standard_normal((80, dimension))
    factor = -size if negative else size

    shift = knn_entropy(factor * points) - knn_entropy(points)

    assert np.isclose(shift, dimension * np.log(abs(factor)), atol=1e-8)


@SETTINGS
@given(seed=seeds, n_duplicates=st.integers(1, 40))
def test_knn_entropy_is_finite_with_duplicate_points(seed, n_duplicates):
    rng = np.random.default_rng(seed)
    points = rng.standard_normal((40, 3))
    with_duplicates = np.vstack([points, points[rng.integers(0, 40, n_duplicates)]])

    assert np.isfinite(knn_entropy(with_duplicates))


@SETTINGS
@given(seed=seeds)
def test_held_out_labels_never_change_the_lda_projection(seed):
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(4), 15)
    vectors = rng.standard_normal((60, 12)) + rng.standard_normal((4, 12))[labels]
    differences = PairDifferences(vectors, labels, ("a", "b", "c", "d"), np.zeros(60))
    train, test = stratified_split(labels, split_seed=seed % 1000)
    relabelled = labels.copy()
    relabelled[test] = rng.permutation(labels[test])

    original = split_scores(differences, train, test, components=3, rng=np.random.default_rng(0))
    changed = split_scores(PairDifferences(vectors, relabelled, differences.relations, differences.length_differences), train, test, components=3, rng=np.random.default_rng(0))

    assert np.allclose(original["projected"], changed["projected"])


@SETTINGS
@given(seed=seeds, n_points=st.integers(min_value=4, max_value=80), n_clusters=st.integers(2, 5))
def test_silhouette_matches_scikit_learn(seed, n_points, n_clusters):
    rng = np.random.default_rng(seed)
    points = rng.standard_normal((n_points, 3))
    labels = rng.integers(0, n_clusters, n_points)
    if not 2 <= len(np.unique(labels)) <= n_points - 1:
        return

    assert np.isclose(silhouette(pairwise_distances(points), labels), silhouette_score(points, labels), atol=1e-10)
