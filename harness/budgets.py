"""Budgets: how much data, training and resampling a run spends.

`smoke` runs the whole suite in minutes on two CPU cores (for CI), `standard`
is the default, and `paper` uses the authors' settings where a trained-SAE
subject can follow them (all layers, 30 entropy resamples, 5,000-feature
entropy subsamples).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from harness.errors import HarnessError


@dataclass(frozen=True)
class Budget:
    """The sizes of one run; every field is part of the cache keys that depend on it.

    Attributes
    ----------
    name : str
        `smoke`, `standard` or `paper`.
    layer_count : int or None
        How many layers to analyse, spread evenly from the first to the last;
        None analyses every layer.
    sae_train_tokens : int
        Tokens of the SAE-training split whose activations train the SAEs.
    analysis_tokens : int
        Tokens of the analysis split, used to score SAEs on held-out
        activations and as the raw-activation point cloud.
    context_tokens : int
        Length of each forward-pass window, BOS included.
    sae_width_multiple : int
        SAE features per model dimension (d_sae = multiple * d_model).
    sae_k : int
        Active features per token of the TopK SAEs.
    sae_training_samples : int
        Activation vectors shown to each SAE during training (several epochs
        over `sae_train_tokens` when larger).
    spectrum_bootstrap_draws : int
        Resamples of the point cloud's rows behind each exponent interval.
    gaussian_null_draws : int
        Gaussian point clouds behind each null distribution.
    entropy_resamples : int
        Subsamples drawn without replacement for the clustering interval.
    entropy_max_points : int
        Largest entropy subsample; never more than half the point cloud, so
        that subsamples differ.
    entropy_dimensions : int
        Principal components kept before the nearest-neighbour entropy.
    brain_text_tokens : int
        Analysis-split tokens cut into 256-token chunks for co-occurrence.
    cluster_counts : tuple[int, ...]
        Numbers of clusters (lobes) k for spectral clustering.
    permutation_draws : int
        Label permutations behind each AMI null.
    random_feature_draws : int
        Random unit-vector feature sets behind each predictability null.
    affinity_bootstrap_draws : int
        Feature resamples behind the comparison of affinity measures.
    atom_split_draws : int
        Stratified training/held-out splits of the word pairs behind the
        atom scale's LDA and parallelogram ranges.
    """

    name: str
    layer_count: int | None
    sae_train_tokens: int
    analysis_tokens: int
    context_tokens: int
    sae_width_multiple: int
    sae_k: int
    sae_training_samples: int
    spectrum_bootstrap_draws: int
    gaussian_null_draws: int
    entropy_resamples: int
    entropy_max_points: int
    entropy_dimensions: int
    brain_text_tokens: int
    cluster_counts: tuple[int, ...]
    permutation_draws: int
    random_feature_draws: int
    affinity_bootstrap_draws: int
    atom_split_draws: int

    def as_dict(self) -> dict:
        """Return the fields as a plain dict, for cache keys and the report."""
        return asdict(self)


BUDGETS: dict[str, Budget] = {
    "smoke": Budget(
        name="smoke",
        layer_count=5,
        sae_train_tokens=12_000,
        analysis_tokens=4_000,
        context_tokens=256,
        sae_width_multiple=2,
        sae_k=32,
        sae_training_samples=24_000,
        spectrum_bootstrap_draws=30,
        gaussian_null_draws=20,
        entropy_resamples=10,
        entropy_max_points=5_000,
        entropy_dimensions=100,
        brain_text_tokens=12_288,
        cluster_counts=(2, 3, 4, 8),
        permutation_draws=30,
        random_feature_draws=20,
        affinity_bootstrap_draws=50,
        atom_split_draws=10,
    ),
    "standard": Budget(
        name="standard",
        layer_count=10,
        sae_train_tokens=100_000,
        analysis_tokens=20_000,
        context_tokens=256,
        sae_width_multiple=4,
        sae_k=32,
        sae_training_samples=150_000,
        spectrum_bootstrap_draws=100,
        gaussian_null_draws=30,
        entropy_resamples=30,
        entropy_max_points=5_000,
        entropy_dimensions=100,
        brain_text_tokens=102_400,
        cluster_counts=(2, 3, 4, 8, 16),
        permutation_draws=100,
        random_feature_draws=100,
        affinity_bootstrap_draws=200,
        atom_split_draws=40,
    ),
    "paper": Budget(
        name="paper",
        layer_count=None,
        sae_train_tokens=1_000_000,
        analysis_tokens=100_000,
        context_tokens=1024,
        sae_width_multiple=8,
        sae_k=64,
        sae_training_samples=2_000_000,
        spectrum_bootstrap_draws=200,
        gaussian_null_draws=100,
        entropy_resamples=30,
        entropy_max_points=5_000,
        entropy_dimensions=100,
        brain_text_tokens=51_200_000,
        cluster_counts=(2, 3, 4, 8, 16, 32, 64, 128, 256, 512, 1024),
        permutation_draws=100,
        random_feature_draws=100,
        affinity_bootstrap_draws=200,
        atom_split_draws=100,
    ),
}


def get_budget(name: str) -> Budget:
    """Look up a budget by name.

    Raises
    ------
    HarnessError
        If `name` is not a known budget; the message lists the known ones.
    """
    try:
        return BUDGETS[name]
    except KeyError:
        known = ", ".join(BUDGETS)
        raise HarnessError(f"unknown --budget {name!r}; choose one of: {known}") from None
