"""The trained-SAE subject: corpus -> activations -> SAEs, each stage cached.

Work is lazy and per layer: a layer whose statistics are cached needs no
model, no activations and no SAE, so a rerun from the cache never loads the
model. The corpus is split once into disjoint `sae-train` and `analysis`
parts, so SAEs are always scored, and point clouds always drawn, on text the
SAEs never saw.
"""

from __future__ import annotations

import json
import logging
import time
from collections import defaultdict
from contextlib import contextmanager
from functools import cached_property
from importlib import metadata
from pathlib import Path

import numpy as np

from harness.activations import CHUNK_BATCH_SIZE, FORWARD_BATCH_SIZE, MAX_DOCUMENT_TOKENS, ChunkFiring, WordRepresentations, collect_block_outputs, collect_chunk_firing, collect_word_representations, make_token_windows
from harness.cache import write_json
from harness.corpora import Corpus, open_corpus, split_corpus
from harness.relations import RelationSet
from harness.saes import SAETrainingConfig, load_sae, save_sae, score_sae, train_topk_sae
from harness.subjects import RunSettings, SubjectSpec

logger = logging.getLogger(__name__)

# Bump a stage's version whenever its code changes what it writes, so that
# entries built by older code are never reused.
ACTIVATIONS_STAGE_VERSION = 1
SAE_STAGE_VERSION = 1
CHUNK_FIRING_STAGE_VERSION = 2
WORD_REPRESENTATIONS_STAGE_VERSION = 1

CORPUS_SPLITS = {"sae-train": 0.8, "analysis": 0.2}


def sae_training_config(d_model: int, settings: RunSettings, layer: int) -> SAETrainingConfig:
    """Return the budget's TopK SAE settings for one layer, seeded by the run's seed and the layer."""
    budget = settings.budget
    return SAETrainingConfig(
        d_model=d_model,
        d_sae=budget.sae_width_multiple * d_model,
        k=budget.sae_k,
        training_samples=budget.sae_training_samples,
        seed=settings.seed * 1000 + layer,
    )


class TrainedSAESubject:
    """A causal LM from a GGUF package whose SAEs the harness trains and caches."""

    def __init__(self, spec: SubjectSpec, settings: RunSettings):
        self.spec = spec
        self.settings = settings
        self.timings: dict[str, float] = defaultdict(float)
        self._loaded_model = None
        self._activations: dict[str, dict[int, np.ndarray]] = {}
        self._saes: dict[int, tuple[object, dict, np.ndarray]] = {}

    @contextmanager
    def _timed(self, stage: str):
        start = time.perf_counter()
        try:
            yield
        finally:
            self.timings[stage] += time.perf_counter() - start

    @cached_property
    def corpus_splits(self) -> dict[str, Corpus]:
        """The subject's corpus split into disjoint SAE-training and analysis parts."""
        with self._timed("corpus"):
            corpus = open_corpus(self.settings.corpus or self.spec.corpus, seed=self.settings.seed)
            return split_corpus(corpus, CORPUS_SPLITS, seed=self.settings.seed)

    @cached_property
    def model_identity(self) -> dict:
        """What identifies the model's weights, for cache keys."""
        from harness.models import locate_gguf_file

        path = locate_gguf_file(self.spec.model["gguf_package"], self.spec.model["gguf_file"])
        package_version = metadata.version(self.spec.model["gguf_package"].replace("_", "-"))
        return {"subject": self.spec.name, "file": path.name, "bytes": path.stat().st_size, "package_version": package_version}

    def _model(self):
        if self._loaded_model is None:
            from harness.models import load_causal_lm

            with self._timed("model loading"):
                self._loaded_model = load_causal_lm(self.spec, self.settings.device)
        return self._loaded_model

    def _activation_inputs(self, split: str) -> dict:
        budget = self.settings.budget
        tokens = budget.sae_train_tokens if split == "sae-train" else budget.analysis_tokens
        return {
            "version": ACTIVATIONS_STAGE_VERSION,
            "model": self.model_identity,
            "corpus": self.corpus_splits[split].digest(),
            "layers": list(self.settings.layers),
            "text_tokens": tokens,
            "context_tokens": budget.context_tokens,
        }

    def activations(self, split: str) -> dict[int, np.ndarray]:
        """Return the residual-stream activations of a corpus split at every analysed layer."""
        if split in self._activations:
            return self._activations[split]

        inputs = self._activation_inputs(split)

        def build(folder: Path) -> None:
            loaded = self._model()
            windows = make_token_windows(
                self.corpus_splits[split], loaded.tokenizer, loaded.bos_token_id, inputs["context_tokens"], inputs["text_tokens"]
            )
            with self._timed("activations"):
                outputs = collect_block_outputs(
                    loaded, windows, self.settings.layers, description=f"forward passes ({split})", batch_size=self._forward_batch_size()
                )
            for layer, values in outputs.items():
                np.save(folder / f"layer_{layer}.npy", values)
            write_json(folder / "windows.json", {"windows": len(windows.lengths), "text_tokens": windows.n_text_tokens})

        folder = self.settings.cache.fetch("activations", inputs, build)
        self._activations[split] = {layer: np.load(folder / f"layer_{layer}.npy") for layer in self.settings.layers}
        return self._activations[split]

    def _forward_batch_size(self) -> int:
        """Windows per forward pass; a subject on a GPU may fit it to free memory."""
        return FORWARD_BATCH_SIZE

    def _chunk_batch_size(self) -> int:
        """Documents per forward pass of the brain scale's chunk firing."""
        return CHUNK_BATCH_SIZE

    def _chunk_document_tokens(self) -> int:
        """Tokens each document is truncated to before chunking (the authors' 1,024)."""
        return MAX_DOCUMENT_TOKENS

    def _firing_sae_inputs(self, layer: int) -> dict:
        """Return the cache identity of the SAE whose firing the brain scale counts."""
        return self._sae_inputs(layer)

    def _firing_sae(self, layer: int):
        """Return the SAE whose firing the brain scale counts."""
        return self._sae(layer)[0]

    def _sae_config(self, layer: int) -> SAETrainingConfig:
        return sae_training_config(self.spec.d_model, self.settings, layer)

    def _sae_inputs(self, layer: int) -> dict:
        return {
            "version": SAE_STAGE_VERSION,
            "layer": layer,
            "training_activations": self._activation_inputs("sae-train"),
            "held_out_activations": self._activation_inputs("analysis"),
            "config": self._sae_config(layer).as_dict(),
            "firing_threshold": self.spec.firing_threshold,
        }

    def _sae(self, layer: int):
        """Return (sae, quality, alive mask) of a layer, training and scoring it on a cache miss."""
        if layer in self._saes:
            return self._saes[layer]

        config = self._sae_config(layer)

        def build(folder: Path) -> None:
            training = self.activations("sae-train")[layer]
            logger.info("training the layer-%d SAE: %d features, k=%d, %d samples", layer, config.d_sae, config.k, config.training_samples)
            with self._timed("sae training"):
                trained = train_topk_sae(training, config, self.settings.device)
            save_sae(trained, folder / "sae")

            sae = load_sae(folder / "sae", self.spec.d_model, self.settings.device)
            quality, alive = score_sae(sae, self.activations("analysis")[layer], self.spec.firing_threshold)
            quality.update(layer=layer, n_features=config.d_sae, k=config.k, training_samples=config.training_samples)
            write_json(folder / "quality.json", quality)
            np.save(folder / "alive.npy", alive)
            logger.info(
                "layer-%d SAE: variance explained %.3f, mean L0 %.1f, dead fraction %.3f",
                layer, quality["fraction_variance_explained"], quality["mean_l0"], quality["dead_fraction"],
            )

        folder = self.settings.cache.fetch("sae", self._sae_inputs(layer), build)
        sae = load_sae(folder / "sae", self.spec.d_model)
        quality = json.loads((folder / "quality.json").read_text())
        alive = np.load(folder / "alive.npy")
        self._saes[layer] = (sae, quality, alive)
        return self._saes[layer]

    def feature_directions(self, layer: int) -> np.ndarray:
        """Return the unit decoder rows of the layer's features that fire on held-out text."""
        sae, _, alive = self._sae(layer)
        decoder = sae.W_dec.detach().cpu().numpy().astype(np.float64)[alive]
        return decoder / np.linalg.norm(decoder, axis=1, keepdims=True)

    def decoder_directions(self, layer: int) -> np.ndarray:
        """Return the unit decoder rows of all the layer's SAE features, dead ones included."""
        sae, _, _ = self._sae(layer)
        decoder = sae.W_dec.detach().cpu().numpy().astype(np.float64)
        return decoder / np.linalg.norm(decoder, axis=1, keepdims=True)

    def chunk_firing(self, layer: int) -> ChunkFiring:
        """Return which SAE features fire in each 256-token chunk of the analysis split."""
        inputs = {
            "version": CHUNK_FIRING_STAGE_VERSION,
            "sae": self._firing_sae_inputs(layer),
            "corpus": self.corpus_splits["analysis"].digest(),
            "text_tokens": self.settings.budget.brain_text_tokens,
            "firing_threshold": self.spec.firing_threshold,
        }

        def build(folder: Path) -> None:
            sae = self._firing_sae(layer)
            with self._timed("chunk firing"):
                chunks = collect_chunk_firing(
                    self._model(), sae, self.corpus_splits["analysis"], layer, self.spec.firing_threshold, inputs["text_tokens"],
                    max_document_tokens=self._chunk_document_tokens(), batch_size=self._chunk_batch_size(),
                )
            np.save(folder / "firing.npy", chunks.firing)
            np.save(folder / "documents.npy", chunks.documents)
            write_json(folder / "genres.json", list(chunks.genres))

        folder = self.settings.cache.fetch("chunk-firing", inputs, build)
        return ChunkFiring(
            firing=np.load(folder / "firing.npy"),
            genres=tuple(json.loads((folder / "genres.json").read_text())),
            documents=np.load(folder / "documents.npy"),
        )

    def word_data_key(self, relations: RelationSet) -> dict:
        """Return what identifies the word representations: model, word pairs and layers."""
        return {
            "version": WORD_REPRESENTATIONS_STAGE_VERSION,
            "model": self.model_identity,
            "relations": relations.digest(),
            "layers": list(self.spec.word_layers),
        }

    def word_representations(self, relations: RelationSet) -> WordRepresentations:
        """Return every relation word's residual stream at its last token, at the subject's word layers."""
        layers = self.spec.word_layers
        inputs = self.word_data_key(relations)

        def build(folder: Path) -> None:
            with self._timed("word representations"):
                represented = collect_word_representations(self._model(), relations.words, layers)
            for layer, vectors in represented.vectors.items():
                np.save(folder / f"layer_{layer}.npy", vectors)
            write_json(folder / "words.json", {"words": list(represented.words), "last_tokens": list(represented.last_tokens)})

        folder = self.settings.cache.fetch("word-representations", inputs, build)
        listed = json.loads((folder / "words.json").read_text())
        return WordRepresentations(
            words=tuple(listed["words"]),
            vectors={layer: np.load(folder / f"layer_{layer}.npy") for layer in layers},
            last_tokens=tuple(listed["last_tokens"]),
        )

    def activation_point_cloud(self, layer: int) -> np.ndarray:
        """Return the layer's raw activations on the analysis split (float64)."""
        return self.activations("analysis")[layer].astype(np.float64)

    def data_key(self, layer: int) -> dict:
        """Return the identity of the layer's SAE and held-out activations."""
        return {"subject": self.spec.name, "sae": self._sae_inputs(layer)}

    def sae_quality(self) -> list[dict]:
        """Return the held-out quality of every analysed layer's SAE that exists, without training any.

        A run of the atom scale alone needs no SAE, so its report lists only
        SAEs already in the cache.
        """
        rows = []
        for layer in self.settings.layers:
            if layer in self._saes:
                rows.append(self._saes[layer][1])
                continue
            folder = self.settings.cache.lookup("sae", self._sae_inputs(layer))
            if folder is not None:
                rows.append(json.loads((folder / "quality.json").read_text()))
        return rows
