"""Hub subjects: a transformers model with pretrained SAEs loaded through sae-lens.

A "hub-saes" subject (gemma-2-2b, gpt2-small, pythia-70m-deduped) trains
nothing. Its model comes from the Hugging Face hub through transformers and
its SAEs through sae-lens's `SAE.from_pretrained` (no hand-written SAE
class). Both read the hub cache, so after one run with the hub reachable no
network is needed (`HF_HUB_OFFLINE=1` works on a filled cache). Which SAE
reads which block output is data in the subject definition, and is checked
against the hook name each SAE declares.

The galaxy scale reads the SAEs of `[NAME.saes.galaxy]` (Gemma Scope 65k for
gemma-2-2b), and the brain scale those of `[NAME.saes.brain]` (Gemma Scope 16k
canonical). The atom scale reads the residual stream and needs no SAE.
Forward passes run in bfloat16 on CUDA, with batch sizes fitted to the free
GPU memory, and in float32 on CPU; SAEs and every statistic run in float32
or float64.
"""

from __future__ import annotations

import json
import logging
import os
import re
import socket
import warnings
from dataclasses import dataclass, field
from functools import cached_property
from importlib import metadata
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import torch

from harness.activations import CHUNK_BATCH_SIZE, CHUNK_TOKENS, FORWARD_BATCH_SIZE, MAX_DOCUMENT_TOKENS
from harness.cache import write_json
from harness.errors import HubUnavailableError, SAEFileError, SubjectError
from harness.models import LoadedModel, check_model_matches_spec
from harness.pipeline import TrainedSAESubject
from harness.saes import score_sae
from harness.subjects import SAE_SCALES, RunSettings, SubjectSpec

logger = logging.getLogger(__name__)

HUB_SAE_STAGE_VERSION = 1
OFFLINE_FALLBACK_SUBJECT = "smollm2-135m"
HUB_CONNECT_TIMEOUT_S = 3.0

# Largest share of the free GPU memory one forward batch may plan to use,
# and the batch-size bounds.
GPU_MEMORY_FRACTION = 0.5
LARGEST_BATCH_SIZE = 256

_RESIDUAL_HOOK = re.compile(r"^blocks\.(\d+)\.hook_resid_(pre|post)$")


def sae_id_for_block(spec: SubjectSpec, scale: str, layer: int) -> str:
    """Return the sae-lens id of the scale's SAE that reads the output of block `layer`."""
    table = spec.saes[scale]
    if "sae_ids" in table:
        return table["sae_ids"][layer]
    return table["sae_id"].format(layer=layer)


def block_read_by_hook(hook_name: str) -> int:
    """Return the block whose output a TransformerLens residual hook reads.

    `blocks.L.hook_resid_post` reads the output of block L;
    `blocks.L.hook_resid_pre` reads the output of block L - 1, and the
    embeddings (-1) for L = 0.

    Raises
    ------
    SAEFileError
        If the hook is not a residual-stream hook of a block.
    """
    match = _RESIDUAL_HOOK.match(hook_name or "")
    if match is None:
        raise SAEFileError(f"SAE hook {hook_name!r} is not a residual-stream hook (blocks.L.hook_resid_pre or _post); choose a residual SAE")
    block = int(match.group(1))
    return block if match.group(2) == "post" else block - 1


def check_jumprelu_threshold(state_dict: dict, cfg: dict, where: str) -> None:
    """Refuse a JumpReLU SAE whose threshold is not one value per feature.

    The firing rule of the brain scale compares each feature with its own
    threshold; a scalar or per-token threshold would silently broadcast.

    Raises
    ------
    SAEFileError
        If the SAE is JumpReLU and `threshold` is missing or not of shape (d_sae,).
    """
    if cfg.get("architecture") != "jumprelu":
        return
    threshold = state_dict.get("threshold")
    shape = tuple(threshold.shape) if threshold is not None else None
    if shape != (cfg["d_sae"],):
        raise SAEFileError(
            f"the JumpReLU SAE {where} has a threshold of shape {shape}, not one value per feature ({cfg['d_sae']},); "
            "the harness supports per-feature thresholds only, so choose another SAE"
        )


@dataclass
class HubSAE:
    """A pretrained SAE loaded by sae-lens, with what the report records about it.

    `encode`, `decode` and `W_dec` are sae-lens's own, so the chunk-firing and
    scoring code treats it like a trained SAE.
    """

    sae: object
    release: str
    sae_id: str
    block: int
    details: dict = field(default_factory=dict)

    @property
    def W_dec(self) -> torch.Tensor:  # noqa: N802 (sae-lens's name)
        """The decoder matrix (d_sae x d_model)."""
        return self.sae.W_dec

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Return the feature activations of residual-stream vectors."""
        return self.sae.encode(x)

    def decode(self, feature_acts: torch.Tensor) -> torch.Tensor:
        """Return the reconstruction of feature activations."""
        return self.sae.decode(feature_acts)


def _converter(release: str, sae_id: str, d_model: int, width: int | None):
    """Wrap sae-lens's own loader of the release: sizes from the subject, threshold checked first.

    For the real releases the sizes passed as overrides equal what sae-lens
    derives (Gemma Scope's loader reads them off the repo id and folder
    name), so they change nothing there. They let a test load tiny files
    under the real ids.
    """
    from sae_lens.loading.pretrained_sae_loaders import NAMED_PRETRAINED_SAE_LOADERS, get_conversion_loader_name

    named_loader = NAMED_PRETRAINED_SAE_LOADERS[get_conversion_loader_name(release)]

    def load(repo_id, folder_name, device="cpu", force_download=False, cfg_overrides=None):
        overrides = {**(cfg_overrides or {}), "d_in": d_model}
        if width is not None:
            overrides["d_sae"] = width
        cfg, state_dict, log_sparsity = named_loader(
            repo_id=repo_id, folder_name=folder_name, device=device, force_download=force_download, cfg_overrides=overrides
        )
        check_jumprelu_threshold(state_dict, cfg, f"{release}/{sae_id}")
        return cfg, state_dict, log_sparsity

    return load


def load_hub_sae(release: str, sae_id: str, block: int, d_model: int, width: int | None = None, device: str = "cpu") -> HubSAE:
    """Load one pretrained SAE through sae-lens and check it reads the output of `block`.

    Returns
    -------
    HubSAE
        The SAE in float32, with `details`: sae-lens version, architecture,
        hook, the block it reads, its width, whether it expects BOS, and the
        minimum, median and maximum decoder row norm.

    Raises
    ------
    SAEFileError
        If sae-lens cannot load it, its threshold is not per feature, its
        hook reads another block, or a weight is NaN or infinite.
    HubUnavailableError
        If its files are neither cached nor downloadable.
    """
    from huggingface_hub.errors import LocalEntryNotFoundError
    from sae_lens import SAE

    where = f"{release}/{sae_id}"
    try:
        with warnings.catch_warnings():
            # sae-lens advises a TransformerLens model for SAEs trained with model kwargs; the
            # harness reproduces those kwargs' effect itself (center_residual) and records them.
            warnings.filterwarnings("ignore", message=r"(?s).*model_from_pretrained_kwargs")
            sae = SAE.from_pretrained(release, sae_id, device=device, dtype="float32", converter=_converter(release, sae_id, d_model, width))
    except SAEFileError:
        raise
    except LocalEntryNotFoundError:
        raise HubUnavailableError(f"the SAE {where} is not in the hub cache and the hub cannot be reached; run once with the hub reachable") from None
    except Exception as error:  # sae-lens raises many types for missing or malformed files
        raise SAEFileError(f"sae-lens cannot load the SAE {where} ({type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}); check the release and SAE id") from None

    hook_name = sae.cfg.metadata.hook_name
    reads = block_read_by_hook(hook_name)
    if reads != block:
        raise SAEFileError(f"the SAE {where} hooks {hook_name}, which reads the output of block {reads}, but the subject lists it for block {block}; fix the subject's sae_ids")
    for name, parameter in sae.named_parameters():
        if not torch.isfinite(parameter).all():
            raise SAEFileError(f"the SAE {where} has NaN or infinite values in {name}; delete its files from the hub cache to download them again")

    norms = sae.W_dec.detach().norm(dim=1).cpu().numpy()
    details = {
        "release": release,
        "sae_id": sae_id,
        "sae_lens_version": metadata.version("sae-lens"),
        "architecture": sae.cfg.architecture(),
        "hook": hook_name,
        "reads_block": reads,
        "width": int(sae.W_dec.shape[0]),
        "prepend_bos": bool(sae.cfg.metadata.prepend_bos),
        "model_from_pretrained_kwargs": json.dumps(getattr(sae.cfg.metadata, "model_from_pretrained_kwargs", None) or {}),
        "decoder_norm_min": float(norms.min()),
        "decoder_norm_median": float(np.median(norms)),
        "decoder_norm_max": float(norms.max()),
    }
    return HubSAE(sae=sae, release=release, sae_id=sae_id, block=block, details=details)


def hub_unavailable_message(spec: SubjectSpec) -> str:
    """Return the one-line message for a hub subject whose model is neither cached nor reachable."""
    from huggingface_hub import constants

    hub_id = spec.model["hub_id"]
    reason = "HF_HUB_OFFLINE is set" if constants.HF_HUB_OFFLINE else f"{constants.ENDPOINT} cannot be reached"
    gated = (
        f"the model is gated: accept its licence at {constants.ENDPOINT}/{hub_id} and set HF_TOKEN, then run once with the hub reachable"
        if spec.model.get("gated")
        else "run once with the hub reachable to fill the cache"
    )
    return (
        f"--model {spec.name} needs {hub_id} and its SAEs from the Hugging Face hub, but {hub_id} is not in the hub cache "
        f"({constants.HF_HUB_CACHE}) and {reason}; {gated}; --model {OFFLINE_FALLBACK_SUBJECT} runs offline"
    )


def _hub_reachable(endpoint: str, timeout: float = HUB_CONNECT_TIMEOUT_S) -> bool:
    parsed = urlparse(endpoint)
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        with socket.create_connection((parsed.hostname, port), timeout=timeout):
            return True
    except OSError:
        return False


def check_hub_access(spec: SubjectSpec) -> None:
    """Fail fast when the subject's model is not cached and the hub cannot be reached.

    Raises
    ------
    HubUnavailableError
        With one line: what is missing, whether the model is gated
        (HF_TOKEN), and that `--model smollm2-135m` runs offline.
    """
    from huggingface_hub import constants, try_to_load_from_cache

    if isinstance(try_to_load_from_cache(spec.model["hub_id"], "config.json"), str):
        return
    if not constants.HF_HUB_OFFLINE and _hub_reachable(constants.ENDPOINT):
        return
    raise HubUnavailableError(hub_unavailable_message(spec))


def hub_model_revision(hub_id: str) -> str:
    """Return the commit of the model's files in the hub cache (downloading config.json when online)."""
    from huggingface_hub import hf_hub_download

    return Path(hf_hub_download(hub_id, "config.json")).parent.name


def forward_dtype(device: str) -> torch.dtype:
    """Return the dtype of forward passes: bfloat16 on CUDA, float32 elsewhere (CPU unchanged)."""
    return torch.bfloat16 if str(device).startswith("cuda") else torch.float32


def load_hub_model(spec: SubjectSpec, device: str) -> LoadedModel:
    """Load the subject's model and tokenizer with transformers and check them against the spec.

    The attention implementation named by the subject (eager for Gemma 2,
    whose logit soft-capping the fused kernels skip) is requested and then
    checked on the loaded model. BOS is the tokenizer's own BOS token
    (`<bos>` for Gemma 2, `<|endoftext|>` for GPT-2 and Pythia), prepended by
    the harness to every window and word.

    Raises
    ------
    HubUnavailableError
        If the files are neither cached nor downloadable.
    SubjectError
        If the attention implementation, depth or width differ from the spec,
        or the tokenizer has no BOS token.
    """
    from huggingface_hub.errors import LocalEntryNotFoundError
    from transformers import AutoModelForCausalLM, AutoTokenizer

    hub_id = spec.model["hub_id"]
    kwargs = {"dtype": forward_dtype(device)}
    attention = spec.model.get("attention")
    if attention:
        kwargs["attn_implementation"] = attention
    logger.info("loading %s from the hub cache (%s, %s)", hub_id, kwargs["dtype"], attention or "default attention")
    try:
        tokenizer = AutoTokenizer.from_pretrained(hub_id)
        model = AutoModelForCausalLM.from_pretrained(hub_id, **kwargs)
    except (OSError, LocalEntryNotFoundError) as error:
        raise HubUnavailableError(f"{hub_unavailable_message(spec)} ({type(error).__name__})") from None
    model.eval().to(device)

    loaded_attention = getattr(model.config, "_attn_implementation", None)
    if attention and loaded_attention != attention:
        raise SubjectError(f"{hub_id} loaded with {loaded_attention!r} attention, but subject {spec.name!r} requires {attention!r}; upgrade transformers")

    check_model_matches_spec(model, tokenizer, spec, hub_id)
    return LoadedModel(
        model=model, tokenizer=tokenizer, bos_token_id=tokenizer.bos_token_id, device=device, center_residual=bool(spec.model.get("center_residual", False))
    )


def sequence_bytes(config, tokens: int, recorded_layers: int, dtype_bytes: int = 2) -> int:
    """Estimate the GPU memory one sequence of `tokens` tokens needs in a forward pass.

    Counted: float32 logits over the vocabulary (Gemma 2 soft-caps them in
    float32), one block's working set (residual, attention and MLP
    activations), eager attention scores, and the recorded block outputs.
    A deliberately generous estimate; the batch size uses half the free
    memory on top.
    """
    hidden = config.hidden_size
    intermediate = getattr(config, "intermediate_size", None) or 4 * hidden
    heads = config.num_attention_heads
    per_token = 4 * config.vocab_size + dtype_bytes * (6 * hidden + 3 * intermediate) + dtype_bytes * hidden * recorded_layers
    attention_scores = 4 * 2 * heads * tokens * tokens
    return tokens * per_token + attention_scores


def fitted_batch_size(free_bytes: int, bytes_per_sequence: int, fraction: float = GPU_MEMORY_FRACTION, largest: int = LARGEST_BATCH_SIZE) -> int:
    """Return how many sequences fit in `fraction` of the free memory, between 1 and `largest`."""
    return int(max(1, min(largest, (free_bytes * fraction) // max(1, bytes_per_sequence))))


def forward_batch_size(loaded: LoadedModel, tokens: int, recorded_layers: int, default: int) -> int:
    """Return the batch size for sequences of `tokens` tokens: fitted to free memory on CUDA, `default` elsewhere."""
    if not str(loaded.device).startswith("cuda"):
        return default
    free_bytes, _ = torch.cuda.mem_get_info(torch.device(loaded.device))
    dtype_bytes = torch.finfo(next(loaded.model.parameters()).dtype).bits // 8
    size = fitted_batch_size(free_bytes, sequence_bytes(loaded.model.config, tokens, recorded_layers, dtype_bytes))
    logger.info("batch size %d for %d-token sequences (%.1f GiB free on %s)", size, tokens, free_bytes / 2**30, loaded.device)
    return size


class HubSAESubject(TrainedSAESubject):
    """A hub model with pretrained SAEs per block; corpus, activations and word stages as for trained SAEs.

    Each SAE is scored once on the analysis split's activations, which gives
    the held-out quality table and the live-feature mask of the galaxy
    scale. The scores are cached here; the SAEs stay in the hub cache.
    """

    def __init__(self, spec: SubjectSpec, settings: RunSettings):
        super().__init__(spec, settings)
        self._hub_saes: dict[tuple[str, int], HubSAE] = {}
        self._scored: dict[tuple[str, int], tuple[HubSAE, dict, np.ndarray]] = {}
        self.model_details: dict[str, str] = {"hub id": spec.model["hub_id"], "forward dtype": str(forward_dtype(settings.device)), **hub_settings()}

    @cached_property
    def model_identity(self) -> dict:
        """What identifies the model's activations: hub id, cached commit, dtype and residual centring."""
        return {
            "subject": self.spec.name,
            "hub_id": self.spec.model["hub_id"],
            "revision": hub_model_revision(self.spec.model["hub_id"]),
            "dtype": str(forward_dtype(self.settings.device)),
            "attention": self.spec.model.get("attention"),
            "center_residual": bool(self.spec.model.get("center_residual", False)),
        }

    def _model(self) -> LoadedModel:
        if self._loaded_model is None:
            with self._timed("model loading"):
                self._loaded_model = load_hub_model(self.spec, self.settings.device)
            model = self._loaded_model.model
            self.model_details.update(
                {
                    "attention implementation (checked after loading)": str(getattr(model.config, "_attn_implementation", None)),
                    "BOS token": f"{self._loaded_model.tokenizer.bos_token!r} (id {self._loaded_model.bos_token_id}), prepended to every window and word",
                    "residual centred over d_model": str(self._loaded_model.center_residual),
                    "revision": self.model_identity["revision"],
                }
            )
            logger.info("%s: %s", self.spec.name, ", ".join(f"{key} {value}" for key, value in self.model_details.items()))
        return self._loaded_model

    def _forward_batch_size(self) -> int:
        return forward_batch_size(self._model(), self.settings.budget.context_tokens, len(self.settings.layers), FORWARD_BATCH_SIZE)

    def _chunk_batch_size(self) -> int:
        return forward_batch_size(self._model(), 1 + self._chunk_document_tokens(), 1, CHUNK_BATCH_SIZE)

    def _chunk_document_tokens(self) -> int:
        """Return the tokens each document keeps: the authors' 1,024, or fewer where the model's positions end sooner.

        GPT-2 has 1,024 positions, BOS included, so its documents keep 768
        tokens (whole 256-token chunks) and BOS plus the document fit.
        """
        config = self._model().model.config
        positions = getattr(config, "max_position_embeddings", None) or getattr(config, "n_positions", None) or MAX_DOCUMENT_TOKENS + 1
        return min(MAX_DOCUMENT_TOKENS, (positions - 1) // CHUNK_TOKENS * CHUNK_TOKENS)

    def _hub_sae_inputs(self, scale: str, layer: int) -> dict:
        table = self.spec.saes[scale]
        return {
            "version": HUB_SAE_STAGE_VERSION,
            "scale": scale,
            "layer": layer,
            "sae": {"release": table["release"], "sae_id": sae_id_for_block(self.spec, scale, layer), "width": table.get("width")},
            "sae_lens_version": metadata.version("sae-lens"),
            "held_out_activations": self._activation_inputs("analysis"),
            "firing_threshold": self.spec.firing_threshold,
        }

    def _hub_sae(self, scale: str, layer: int) -> HubSAE:
        key = (scale, layer)
        if key not in self._hub_saes:
            table = self.spec.saes[scale]
            with self._timed("sae loading"):
                sae = load_hub_sae(
                    table["release"], sae_id_for_block(self.spec, scale, layer), layer, self.spec.d_model, table.get("width"), self.settings.device
                )
            trained_centred = json.loads(sae.details["model_from_pretrained_kwargs"]).get("center_writing_weights", False)
            if trained_centred and not self.spec.model.get("center_residual", False):
                raise SubjectError(
                    f"the SAE {sae.release}/{sae.sae_id} was trained on a residual stream centred over d_model (center_writing_weights), "
                    f"but subject {self.spec.name!r} does not centre it; add center_residual = true to [{self.spec.name}.model]"
                )
            self._hub_saes[key] = sae
        return self._hub_saes[key]

    def _scored_sae(self, scale: str, layer: int) -> tuple[HubSAE, dict, np.ndarray]:
        """Return (sae, quality, alive mask) of a scale's SAE at a layer, scoring it on a cache miss."""
        key = (scale, layer)
        if key in self._scored:
            return self._scored[key]

        def build(folder: Path) -> None:
            sae = self._hub_sae(scale, layer)
            with self._timed("sae scoring"):
                quality, alive = score_sae(sae, self.activations("analysis")[layer], self.spec.firing_threshold)
            quality.update(layer=layer, scale=scale, **sae.details)
            write_json(folder / "quality.json", quality)
            np.save(folder / "alive.npy", alive)
            logger.info(
                "layer-%d %s SAE %s: variance explained %.3f, mean L0 %.1f, dead fraction %.3f",
                layer, scale, sae.sae_id, quality["fraction_variance_explained"], quality["mean_l0"], quality["dead_fraction"],
            )

        folder = self.settings.cache.fetch("hub-sae-quality", self._hub_sae_inputs(scale, layer), build)
        scored = (self._hub_sae(scale, layer), json.loads((folder / "quality.json").read_text()), np.load(folder / "alive.npy"))
        self._scored[key] = scored
        return scored

    # The brain scale's chunk firing (inherited) reads the brain SAE.
    def _firing_sae_inputs(self, layer: int) -> dict:
        return self._hub_sae_inputs("brain", layer)

    def _firing_sae(self, layer: int):
        return self._hub_sae("brain", layer)

    def feature_directions(self, layer: int) -> np.ndarray:
        """Return the unit decoder rows of the galaxy SAE's features that fire on held-out text."""
        sae, _, alive = self._scored_sae("galaxy", layer)
        decoder = sae.W_dec.detach().cpu().numpy().astype(np.float64)[alive]
        return decoder / np.linalg.norm(decoder, axis=1, keepdims=True)

    def decoder_directions(self, layer: int) -> np.ndarray:
        """Return the unit decoder rows of all the brain SAE's features, dead ones included."""
        sae, _, _ = self._scored_sae("brain", layer)
        decoder = sae.W_dec.detach().cpu().numpy().astype(np.float64)
        return decoder / np.linalg.norm(decoder, axis=1, keepdims=True)

    def data_key(self, layer: int) -> dict:
        """Return the identity of the layer's galaxy and brain SAEs and held-out activations."""
        return {"subject": self.spec.name, **{scale: self._hub_sae_inputs(scale, layer) for scale in SAE_SCALES}}

    def sae_quality(self) -> list[dict]:
        """Return the held-out quality of every scored SAE of the analysed layers, scoring none."""
        rows = []
        for layer in self.settings.layers:
            for scale in SAE_SCALES:
                if (scale, layer) in self._scored:
                    rows.append(self._scored[(scale, layer)][1])
                    continue
                folder = self.settings.cache.lookup("hub-sae-quality", self._hub_sae_inputs(scale, layer))
                if folder is not None:
                    rows.append(json.loads((folder / "quality.json").read_text()))
        return rows


def hub_settings() -> dict[str, str]:
    """Return the hub settings a report should state: cache folder and offline mode."""
    from huggingface_hub import constants

    return {"hub cache": str(constants.HF_HUB_CACHE), "HF_HUB_OFFLINE": str(bool(constants.HF_HUB_OFFLINE)), "HF_TOKEN set": str(bool(os.environ.get("HF_TOKEN")))}
