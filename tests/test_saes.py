"""SAE training with sae-lens, the saved file layout and its checks."""

import json

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

from harness.errors import SAEFileError
from harness.saes import SAETrainingConfig, load_sae, save_sae, score_sae, train_topk_sae


@pytest.fixture(scope="module")
def sparse_activations():
    """Activations built from 48 sparse directions in 64 dimensions, 3 active per sample, plus an offset."""
    rng = np.random.default_rng(0)
    dictionary = rng.standard_normal((48, 64))
    codes = np.zeros((6_000, 48))
    for row in codes:
        row[rng.choice(48, 3, replace=False)] = rng.uniform(1, 3, 3)
    return (codes @ dictionary + 5.0).astype(np.float32)


@pytest.fixture(scope="module")
def trained_folder(sparse_activations, tmp_path_factory):
    config = SAETrainingConfig(d_model=64, d_sae=128, k=8, training_samples=40_000, seed=0, batch_size=256)
    sae = train_topk_sae(sparse_activations[:5_000], config, "cpu")
    folder = tmp_path_factory.mktemp("sae")
    save_sae(sae, folder)
    return folder


def test_trained_sae_reconstructs_held_out(trained_folder, sparse_activations):
    sae = load_sae(trained_folder, d_model=64)
    quality, alive = score_sae(sae, sparse_activations[5_000:], firing_threshold=0.0)

    assert quality["fraction_variance_explained"] > 0.8
    assert quality["mean_l0"] <= 8
    assert alive.shape == (128,)
    assert quality["dead_fraction"] == pytest.approx(1 - alive.mean())


def test_saved_in_sae_lens_layout(trained_folder):
    config = json.loads((trained_folder / "cfg.json").read_text())
    assert config["architecture"] == "topk"
    assert config["d_sae"] == 128
    assert config["normalize_activations"] == "none"
    assert (trained_folder / "sae_weights.safetensors").is_file()


def test_mismatched_width_rejected(trained_folder):
    with pytest.raises(SAEFileError, match="decoder width 64"):
        load_sae(trained_folder, d_model=576)


def test_nan_weights_rejected(trained_folder, tmp_path):
    for path in trained_folder.iterdir():
        (tmp_path / path.name).write_bytes(path.read_bytes())
    weights = load_file(tmp_path / "sae_weights.safetensors")
    weights["W_dec"][0, 0] = np.nan
    save_file(weights, tmp_path / "sae_weights.safetensors")

    with pytest.raises(SAEFileError, match="NaN"):
        load_sae(tmp_path, d_model=64)


def test_corrupt_file_rejected(trained_folder, tmp_path):
    for path in trained_folder.iterdir():
        (tmp_path / path.name).write_bytes(path.read_bytes()[:50])

    with pytest.raises(SAEFileError, match="cannot load"):
        load_sae(tmp_path, d_model=64)
