"""The real SmolLM2 model: loading, block-output hooks and activation collection."""

import numpy as np
import pytest
import torch

from harness.activations import CHUNK_TOKENS, collect_block_outputs, collect_chunk_firing, make_token_windows
from harness.corpora import Corpus, CorpusError, Document
from harness.errors import SubjectError
from harness.models import BlockOutputRecorder, load_causal_lm
from harness.subjects import find_subject


@pytest.fixture(scope="module")
def smollm2():
    return load_causal_lm(find_subject("smollm2-135m"), "cpu")


@pytest.fixture(scope="module")
def token_ids(smollm2):
    text = "The capital of France is Paris, and the capital of Italy is Rome."
    ids = smollm2.tokenizer(text, add_special_tokens=False)["input_ids"]
    return torch.tensor([[smollm2.bos_token_id, *ids]])


def test_model_answers_paris(smollm2):
    ids = smollm2.tokenizer("The capital of France is", add_special_tokens=False)["input_ids"]
    with torch.inference_mode():
        logits = smollm2.model(torch.tensor([[smollm2.bos_token_id, *ids]])).logits
    assert smollm2.tokenizer.decode(logits[0, -1].argmax()).strip() == "Paris"


def test_hook_equals_block_output(smollm2, token_ids):
    layers = (0, 6, 15, 28)
    with BlockOutputRecorder(smollm2.model, layers) as recorder, torch.inference_mode():
        hidden_states = smollm2.model(token_ids, output_hidden_states=True).hidden_states

    # hidden_states[0] is the embedding output, so block i's output is entry i + 1.
    for layer in layers:
        assert torch.equal(recorder.outputs[layer], hidden_states[layer + 1]), f"layer {layer}"
        assert not torch.equal(recorder.outputs[layer], hidden_states[layer]), f"layer {layer}"


def test_last_block_has_no_final_norm(smollm2, token_ids):
    last = smollm2.model.config.num_hidden_layers - 1
    with BlockOutputRecorder(smollm2.model, (last,)) as recorder, torch.inference_mode():
        hidden_states = smollm2.model(token_ids, output_hidden_states=True).hidden_states
        normed = smollm2.model.model.norm(recorder.outputs[last])

    assert not torch.allclose(recorder.outputs[last], hidden_states[-1])
    assert torch.allclose(normed, hidden_states[-1], atol=1e-5)


def test_hooks_removed_after_exit(smollm2, token_ids):
    with BlockOutputRecorder(smollm2.model, (3,)) as recorder:
        pass
    with torch.inference_mode():
        smollm2.model(token_ids)
    assert recorder.outputs == {}


def test_recorder_rejects_layer_out_of_range(smollm2):
    with pytest.raises(SubjectError, match="out of range"):
        BlockOutputRecorder(smollm2.model, (30,))


def test_activations_skip_bos_and_padding(smollm2):
    corpus = Corpus(
        name="two-documents",
        documents=(
            Document(text="def add(a, b):\n    return a + b\n" * 3, genre="code", source="test:add"),
            Document(text="Solve 3*x + 2 = 11 for x. Answer: 3. " * 2, genre="math", source="test:solve"),
        ),
    )
    windows = make_token_windows(corpus, smollm2.tokenizer, smollm2.bos_token_id, context_tokens=64, max_text_tokens=10_000)
    outputs = collect_block_outputs(smollm2, windows, (0, 5))

    assert windows.token_ids[:, 0].eq(smollm2.bos_token_id).all()
    assert windows.lengths.min() < 64, "the second window should be padded"
    for layer in (0, 5):
        assert outputs[layer].shape == (windows.n_text_tokens, 576)
        assert np.isfinite(outputs[layer]).all()

    # The first stored vector is the first text token of window 0, not its BOS.
    with BlockOutputRecorder(smollm2.model, (0,)) as recorder, torch.inference_mode():
        smollm2.model(windows.token_ids[:1, : int(windows.lengths[0])])
    expected = recorder.outputs[0][0, 1].numpy()
    assert np.allclose(outputs[0][0].astype(np.float32), expected, rtol=1e-2, atol=1e-2)


def test_empty_corpus_rejected(smollm2):
    with pytest.raises(CorpusError, match="empty"):
        make_token_windows(Corpus(name="nothing", documents=()), smollm2.tokenizer, smollm2.bos_token_id, 64, 100)


class RecordingSAE:
    """Stands in for an SAE: fires feature 0 on every row it encodes and records those rows."""

    def __init__(self, d_model: int):
        self.W_dec = torch.zeros(2, d_model)
        self.rows = []

    def encode(self, hidden):
        self.rows.append(hidden.clone())
        acts = torch.zeros(len(hidden), 2)
        acts[:, 0] = 1.0
        return acts


def test_chunk_firing_never_sees_bos(smollm2):
    text = "The quick brown fox jumps over the lazy dog. " * 60
    corpus = Corpus(name="fox", documents=(Document(text=text, genre="descriptive-prose", source="test:fox"),))
    sae = RecordingSAE(576)

    chunks = collect_chunk_firing(smollm2, sae, corpus, layer=3, firing_threshold=0.5, max_text_tokens=512)

    with BlockOutputRecorder(smollm2.model, (3,)) as recorder, torch.inference_mode():
        smollm2.model(torch.tensor([[smollm2.bos_token_id]]))
    bos_output = recorder.outputs[3][0, 0]
    encoded = torch.cat(sae.rows)
    assert chunks.firing.shape == (2, 2)
    assert len(encoded) == 2 * CHUNK_TOKENS
    assert not torch.isclose(encoded, bos_output, atol=1e-4).all(dim=1).any()
    assert chunks.firing[:, 0].all()
    assert not chunks.firing[:, 1].any()
    assert chunks.genres == ("descriptive-prose", "descriptive-prose")


def test_short_documents_yield_no_chunk(smollm2):
    corpus = Corpus(name="short", documents=(Document(text="Too short.", genre="legal", source="test:short"),))
    with pytest.raises(CorpusError, match="no document of at least 256 tokens"):
        collect_chunk_firing(smollm2, RecordingSAE(576), corpus, layer=0, firing_threshold=0.0, max_text_tokens=512)
