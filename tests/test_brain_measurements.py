"""Brain-scale measurements on planted and structureless synthetic data."""

import numpy as np
import pytest

from harness.activations import ChunkFiring
from harness.budgets import get_budget
from harness.geometry.brain import brain_statistics, measure_lobes_ami, measure_lobes_predictable, measure_math_code_lobe


def planted_lobes(rng: np.random.Generator, n_features: int = 300, n_chunks: int = 400, dimension: int = 32):
    """Three lobes: features share a lobe direction and fire together; lobe 0 fires on code and math chunks."""
    lobe = np.arange(n_features) % 3
    centres = rng.standard_normal((3, dimension)) * 3
    directions = centres[lobe] + rng.standard_normal((n_features, dimension))
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)

    genres = rng.choice(["code", "math", "legal", "technical-prose"], size=n_chunks)
    active_lobe = np.where(np.isin(genres, ["code", "math"]), 0, rng.integers(1, 3, size=n_chunks))
    rates = np.where(lobe[None, :] == active_lobe[:, None], 0.5, 0.03)
    firing = rng.random((n_chunks, n_features)) < rates
    return directions, ChunkFiring(firing=firing, genres=tuple(genres.tolist()), documents=np.arange(n_chunks))


@pytest.fixture(scope="module")
def planted_statistics():
    directions, chunks = planted_lobes(np.random.default_rng(0))
    return brain_statistics(directions, chunks, get_budget("smoke"), seed=0)


def test_planted_lobes_align_with_geometry(planted_statistics):
    assert measure_lobes_ami(planted_statistics).holds


def test_planted_lobes_predictable(planted_statistics):
    assert measure_lobes_predictable(planted_statistics).holds


def test_planted_math_code_lobe_found(planted_statistics):
    measurement = measure_math_code_lobe(planted_statistics)
    assert measurement is not None
    assert measurement.holds, measurement.message


def test_shuffled_firing_breaks_alignment():
    rng = np.random.default_rng(1)
    directions, chunks = planted_lobes(rng)
    shuffled = rng.permutation(directions)
    statistics = brain_statistics(shuffled, chunks, get_budget("smoke"), seed=0)
    assert not measure_lobes_ami(statistics).holds
    assert not measure_lobes_predictable(statistics).holds


def test_math_code_not_evaluable_without_code():
    statistics = {"lobe_function": {"genres": ["legal", "technical-prose", "legal"], "winners": [0, 1, 2], "n_lobes": 3}}
    assert measure_math_code_lobe(statistics) is None


def test_never_firing_features_counted(planted_statistics):
    directions, chunks = planted_lobes(np.random.default_rng(2))
    firing = chunks.firing.copy()
    firing[:, 0] = False
    firing[:, 1] = True
    statistics = brain_statistics(directions, ChunkFiring(firing, chunks.genres, chunks.documents), get_budget("smoke"), seed=0)
    assert statistics["never_fire"] == 1
    assert statistics["always_fire"] == 1
    assert statistics["n_kept_features"] == len(directions) - 2
