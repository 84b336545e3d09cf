"""Train, save, load and score TopK sparse autoencoders with sae-lens.

For offline subjects the harness trains one SAE per layer on activations of
the SAE-training split, with sae-lens's own `TopKTrainingSAE` and
`SAETrainer` (no hand-written SAE class). Every SAE is then scored on
held-out activations: fraction of variance explained, mean L0 and the
fraction of features that never fire.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from harness.errors import SAEFileError

logger = logging.getLogger(__name__)

TRAINING_BATCH_SIZE = 512
EVALUATION_BATCH_SIZE = 4096


@dataclass(frozen=True)
class SAETrainingConfig:
    """Hyperparameters of one TopK SAE; all of them key the SAE's cache entry.

    The learning rate and the short dead-feature window were chosen for
    SAEs trained on 10^4 to 10^6 activations: with sae-lens's default of
    1,000 steps before a feature counts as dead, most features of a
    4x-wide SAE never fire again on runs this short.
    """

    d_model: int
    d_sae: int
    k: int
    training_samples: int
    seed: int
    batch_size: int = TRAINING_BATCH_SIZE
    learning_rate: float = 2e-3
    final_learning_rate: float = 2e-4
    warm_up_steps: int = 10
    dead_feature_window_steps: int = 25
    feature_sampling_window_steps: int = 400

    def as_dict(self) -> dict:
        """Return the fields as a plain dict, for cache keys."""
        return asdict(self)


def _shuffled_batches(activations: torch.Tensor, batch_size: int, generator: torch.Generator) -> Iterator[torch.Tensor]:
    while True:
        order = torch.randperm(len(activations), generator=generator)
        for start in range(0, len(activations) - batch_size + 1, batch_size):
            yield activations[order[start : start + batch_size]]


def train_topk_sae(activations: np.ndarray, config: SAETrainingConfig, device: str):
    """Train a TopK SAE on activations and return it as a sae-lens training SAE.

    The activations are rescaled so that their mean norm is sqrt(d_model)
    and the decoder bias starts at their mean; without that start, the mean
    direction dominates every pre-activation and most features die in the
    first steps. The scale is folded back into the weights afterwards
    (sae-lens's `fold_activation_norm_scaling_factor`), so the returned SAE
    reads raw activations.
    """
    from sae_lens import TopKTrainingSAE, TopKTrainingSAEConfig
    from sae_lens.config import SAETrainerConfig
    from sae_lens.training.sae_trainer import SAETrainer

    torch.manual_seed(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    samples = torch.from_numpy(np.asarray(activations, dtype=np.float32))
    if len(samples) < config.batch_size:
        raise SAEFileError(f"only {len(samples)} activations to train an SAE on; the budget needs at least one batch of {config.batch_size}")

    scaling_factor = math.sqrt(config.d_model) / float(samples.norm(dim=1).mean())
    scaled = samples * scaling_factor

    sae = TopKTrainingSAE(
        TopKTrainingSAEConfig(d_in=config.d_model, d_sae=config.d_sae, k=config.k, device=device, normalize_activations="none")
    )
    with torch.no_grad():
        sae.b_dec.data = scaled.mean(dim=0).to(device)

    trainer_config = SAETrainerConfig(
        total_training_samples=config.training_samples,
        train_batch_size_samples=config.batch_size,
        lr=config.learning_rate,
        lr_end=config.final_learning_rate,
        lr_scheduler_name="cosineannealing",
        lr_warm_up_steps=config.warm_up_steps,
        dead_feature_window=config.dead_feature_window_steps,
        feature_sampling_window=config.feature_sampling_window_steps,
        device=device,
    )
    batches = (batch.to(device) for batch in _shuffled_batches(scaled, config.batch_size, generator))
    sae = SAETrainer(cfg=trainer_config, sae=sae, data_provider=batches).fit()
    sae.fold_activation_norm_scaling_factor(scaling_factor)
    return sae


def save_sae(sae, folder: Path) -> None:
    """Save the inference form of a trained SAE in sae-lens's own file layout."""
    sae.save_inference_model(folder)


def load_sae(folder: Path, d_model: int, device: str = "cpu"):
    """Load an SAE saved by `save_sae` and check its weights.

    Raises
    ------
    SAEFileError
        If the files cannot be read, the decoder's width differs from
        `d_model`, or any weight is NaN or infinite.
    """
    from sae_lens import SAE

    try:
        sae = SAE.load_from_disk(folder, device=device)
    except Exception as error:  # sae-lens raises many types for unreadable files
        raise SAEFileError(f"cannot load the SAE in {folder} ({type(error).__name__}: {error}); delete the folder to retrain it") from None

    if sae.W_dec.shape[1] != d_model:
        raise SAEFileError(f"the SAE in {folder} has decoder width {sae.W_dec.shape[1]}, but the model's d_model is {d_model}; it belongs to another model")
    for name, parameter in sae.named_parameters():
        if not torch.isfinite(parameter).all():
            raise SAEFileError(f"the SAE in {folder} has NaN or infinite values in {name}; delete the folder to retrain it")
    return sae


@torch.no_grad()
def score_sae(sae, held_out: np.ndarray, firing_threshold: float) -> tuple[dict, np.ndarray]:
    """Measure an SAE on held-out activations.

    Returns
    -------
    quality : dict
        `fraction_variance_explained` (1 - residual sum of squares / total
        sum of squares about the mean), `mean_l0` (features above the firing
        threshold per token) and `dead_fraction` (features that never fire).
    alive : numpy.ndarray
        Boolean mask of the features that fire at least once.
    """
    device = sae.W_dec.device
    data = torch.from_numpy(np.asarray(held_out, dtype=np.float32))
    mean = data.mean(dim=0)
    residual_sum = 0.0
    total_sum = float(((data - mean) ** 2).sum())
    active_count = 0
    fired = torch.zeros(sae.W_dec.shape[0], dtype=torch.bool)

    for start in range(0, len(data), EVALUATION_BATCH_SIZE):
        batch = data[start : start + EVALUATION_BATCH_SIZE].to(device)
        feature_acts = sae.encode(batch)
        reconstruction = sae.decode(feature_acts)
        residual_sum += float(((reconstruction - batch) ** 2).sum())
        firing = (feature_acts > firing_threshold).cpu()
        active_count += int(firing.sum())
        fired |= firing.any(dim=0)

    quality = {
        "fraction_variance_explained": 1.0 - residual_sum / total_sum,
        "mean_l0": active_count / len(data),
        "dead_fraction": 1.0 - float(fired.float().mean()),
        "held_out_tokens": len(data),
    }
    return quality, fired.numpy()
