"""Token windows and batched forward passes that collect residual-stream activations.

Each document is tokenised, truncated to `MAX_DOCUMENT_TOKENS` (the authors
truncated Pile documents to 1,024 tokens) and cut into windows of
`context_tokens - 1` tokens, each preceded by the BOS token. The BOS position
and padding are never stored: their activations are outliers that describe
no text.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import torch
from tqdm.auto import tqdm

from harness.corpora import Corpus, CorpusError
from harness.models import BlockOutputRecorder, LoadedModel

logger = logging.getLogger(__name__)

MAX_DOCUMENT_TOKENS = 1024
MIN_WINDOW_TOKENS = 16
FORWARD_BATCH_SIZE = 8
WORD_BATCH_SIZE = 64
_FLOAT16_MAX = float(np.finfo(np.float16).max)


@dataclass(frozen=True)
class TokenWindows:
    """Windows of token ids, BOS first, right-padded to a common length.

    Attributes
    ----------
    token_ids : torch.Tensor
        (n_windows, context_tokens) int64; padding positions hold the BOS id.
    lengths : torch.Tensor
        Valid positions of each window, BOS included.
    genres : tuple[str, ...]
        Genre of the document each window came from.
    """

    token_ids: torch.Tensor
    lengths: torch.Tensor
    genres: tuple[str, ...]

    @property
    def n_text_tokens(self) -> int:
        """Tokens that yield an activation (every valid position but the BOS)."""
        return int((self.lengths - 1).sum())


def make_token_windows(corpus: Corpus, tokenizer, bos_token_id: int, context_tokens: int, max_text_tokens: int) -> TokenWindows:
    """Cut corpus documents, in corpus order, into BOS-led windows until `max_text_tokens` is reached.

    Raises
    ------
    CorpusError
        If the corpus is empty or yields no window of at least
        `MIN_WINDOW_TOKENS` tokens.
    """
    if len(corpus) == 0:
        raise CorpusError(f"corpus {corpus.name!r} is empty; choose a corpus with documents")

    piece_length = context_tokens - 1
    windows: list[list[int]] = []
    genres: list[str] = []
    collected = 0

    for document in corpus.documents:
        token_ids = tokenizer(document.text, add_special_tokens=False)["input_ids"][:MAX_DOCUMENT_TOKENS]
        for start in range(0, len(token_ids), piece_length):
            piece = token_ids[start : start + piece_length]
            if len(piece) < MIN_WINDOW_TOKENS:
                continue
            piece = piece[: max_text_tokens - collected]
            windows.append([bos_token_id, *piece])
            genres.append(document.genre)
            collected += len(piece)
            if collected >= max_text_tokens:
                break
        if collected >= max_text_tokens:
            break

    if not windows:
        raise CorpusError(f"corpus {corpus.name!r} yields no window of at least {MIN_WINDOW_TOKENS} tokens; add longer documents")
    if collected < max_text_tokens:
        logger.warning("corpus %s contains only %d of the %d tokens the budget requests", corpus.name, collected, max_text_tokens)

    token_ids = torch.full((len(windows), context_tokens), bos_token_id, dtype=torch.long)
    lengths = torch.tensor([len(window) for window in windows], dtype=torch.long)
    for row, window in enumerate(windows):
        token_ids[row, : len(window)] = torch.tensor(window)

    return TokenWindows(token_ids=token_ids, lengths=lengths, genres=tuple(genres))


@torch.inference_mode()
def collect_block_outputs(
    loaded: LoadedModel, windows: TokenWindows, layers: tuple[int, ...], description: str = "forward passes", batch_size: int = FORWARD_BATCH_SIZE
) -> dict[int, np.ndarray]:
    """Run the model over the windows and return each layer's activations at text positions.

    `batch_size` windows run per forward pass; it changes speed and memory,
    not the values (each window is masked to its own tokens).

    Returns
    -------
    dict[int, numpy.ndarray]
        Per layer, (n_text_tokens, d_model) activations in window order. They
        are float16 to halve memory and disk, unless a value would overflow
        float16, in which case that layer is kept in float32.
    """
    n_tokens = windows.n_text_tokens
    d_model = loaded.model.config.hidden_size
    store = {layer: np.empty((n_tokens, d_model), dtype=np.float32) for layer in layers}
    position_index = torch.arange(windows.token_ids.shape[1])
    filled = 0

    with BlockOutputRecorder(loaded.model, layers, loaded.center_residual) as recorder, tqdm(total=n_tokens, desc=description, unit="tok") as progress:
        for start in range(0, len(windows.lengths), batch_size):
            token_ids = windows.token_ids[start : start + batch_size]
            lengths = windows.lengths[start : start + batch_size]
            attention_mask = (position_index[None, :] < lengths[:, None]).long()

            loaded.model(input_ids=token_ids.to(loaded.device), attention_mask=attention_mask.to(loaded.device), use_cache=False)

            text_positions = attention_mask.bool()
            text_positions[:, 0] = False
            batch_tokens = int(text_positions.sum())
            for layer in layers:
                hidden = recorder.outputs[layer].float().cpu()
                store[layer][filled : filled + batch_tokens] = hidden[text_positions].numpy()
            filled += batch_tokens
            progress.update(batch_tokens)

    for layer in layers:
        if np.abs(store[layer]).max() < _FLOAT16_MAX:
            store[layer] = store[layer].astype(np.float16)
    return store


CHUNK_TOKENS = 256
CHUNK_BATCH_SIZE = 4


@dataclass(frozen=True)
class ChunkFiring:
    """Which SAE features fire in each 256-token chunk of text.

    Attributes
    ----------
    firing : numpy.ndarray
        (n_chunks, n_features) bool; True where the feature's activation is
        above the firing threshold on at least one token of the chunk.
    genres : tuple[str, ...]
        Genre of the document each chunk came from.
    documents : numpy.ndarray
        Index (in corpus order) of the document each chunk came from.
    """

    firing: np.ndarray
    genres: tuple[str, ...]
    documents: np.ndarray


def document_chunks_tokens(corpus: Corpus, tokenizer, max_document_tokens: int, max_text_tokens: int) -> list[tuple[int, list[int]]]:
    """Tokenise documents as the authors chunked The Pile: truncate, keep whole 256-token chunks only.

    Returns (document index, text token ids) pairs, each holding a multiple
    of `CHUNK_TOKENS` tokens, until `max_text_tokens` tokens are collected.
    Documents shorter than one chunk contribute nothing.
    """
    if len(corpus) == 0:
        raise CorpusError(f"corpus {corpus.name!r} is empty; choose a corpus with documents")

    selected = []
    collected = 0
    for index, document in enumerate(corpus.documents):
        token_ids = tokenizer(document.text, add_special_tokens=False)["input_ids"][:max_document_tokens]
        whole_chunks = min(len(token_ids), max_text_tokens - collected) // CHUNK_TOKENS
        if whole_chunks == 0:
            continue
        selected.append((index, token_ids[: whole_chunks * CHUNK_TOKENS]))
        collected += whole_chunks * CHUNK_TOKENS
        if max_text_tokens - collected < CHUNK_TOKENS:
            break

    if not selected:
        raise CorpusError(f"corpus {corpus.name!r} has no document of at least {CHUNK_TOKENS} tokens, so it yields no chunk; use a corpus with longer documents")
    return selected


@torch.inference_mode()
def collect_chunk_firing(
    loaded: LoadedModel,
    sae,
    corpus: Corpus,
    layer: int,
    firing_threshold: float,
    max_text_tokens: int,
    max_document_tokens: int = MAX_DOCUMENT_TOKENS,
    batch_size: int = CHUNK_BATCH_SIZE,
) -> ChunkFiring:
    """Run documents (each led by one BOS) through the model and record per-chunk SAE firing at one layer.

    The BOS position is dropped before chunking, so a feature that fires only
    on BOS is never counted; padding positions are dropped too. `batch_size`
    documents run per forward pass.
    """
    # Documents of equal length share a batch, so that padding wastes no compute; chunks keep their document index.
    documents = sorted(document_chunks_tokens(corpus, loaded.tokenizer, max_document_tokens, max_text_tokens), key=lambda item: len(item[1]))
    total_tokens = sum(len(token_ids) for _, token_ids in documents)
    firing_rows: list[np.ndarray] = []
    genres: list[str] = []
    chunk_documents: list[int] = []

    with BlockOutputRecorder(loaded.model, (layer,), loaded.center_residual) as recorder, tqdm(total=total_tokens, desc=f"forward passes (chunks, layer {layer})", unit="tok") as progress:
        for start in range(0, len(documents), batch_size):
            batch = documents[start : start + batch_size]
            longest = max(len(token_ids) for _, token_ids in batch) + 1
            token_ids = torch.full((len(batch), longest), loaded.bos_token_id, dtype=torch.long)
            attention_mask = torch.zeros((len(batch), longest), dtype=torch.long)
            for row, (_, text_ids) in enumerate(batch):
                token_ids[row, 1 : len(text_ids) + 1] = torch.tensor(text_ids)
                attention_mask[row, : len(text_ids) + 1] = 1

            loaded.model(input_ids=token_ids.to(loaded.device), attention_mask=attention_mask.to(loaded.device), use_cache=False)
            hidden = recorder.outputs[layer]

            for row, (document_index, text_ids) in enumerate(batch):
                text_hidden = hidden[row, 1 : len(text_ids) + 1].float()
                feature_acts = sae.encode(text_hidden.to(sae.W_dec.device))
                n_chunks = len(text_ids) // CHUNK_TOKENS
                fired = (feature_acts > firing_threshold).reshape(n_chunks, CHUNK_TOKENS, -1).any(dim=1)
                firing_rows.append(fired.cpu().numpy())
                genres.extend([corpus.documents[document_index].genre] * n_chunks)
                chunk_documents.extend([document_index] * n_chunks)
                progress.update(len(text_ids))

    return ChunkFiring(firing=np.concatenate(firing_rows), genres=tuple(genres), documents=np.array(chunk_documents))


@dataclass(frozen=True)
class WordRepresentations:
    """Each word run alone after its BOS: the residual stream at its last token.

    Attributes
    ----------
    words : tuple[str, ...]
        The words, in the order of the rows of every vector array.
    vectors : dict[int, numpy.ndarray]
        Per layer, (n_words, d_model) float64 block outputs at the last token.
    last_tokens : tuple[str, ...]
        The text of each word's last token, whose length in characters the
        length-distractor test compares.
    """

    words: tuple[str, ...]
    vectors: dict[int, np.ndarray]
    last_tokens: tuple[str, ...]

    def rows(self, words) -> np.ndarray:
        """Return the row index of each given word."""
        index = {word: row for row, word in enumerate(self.words)}
        return np.array([index[word] for word in words], dtype=int)


@torch.inference_mode()
def collect_word_representations(loaded: LoadedModel, words: tuple[str, ...], layers: tuple[int, ...]) -> WordRepresentations:
    """Run every word alone, BOS first, and keep each layer's output at its last token.

    Words are batched by token count, so that no batch needs padding and no
    word's representation can depend on another's.

    Raises
    ------
    CorpusError
        If a word tokenises to nothing.
    """
    token_ids = [loaded.tokenizer(word, add_special_tokens=False)["input_ids"] for word in words]
    for word, ids in zip(words, token_ids):
        if not ids:
            raise CorpusError(f"the word {word!r} tokenises to no tokens; remove it from its relation file")

    d_model = loaded.model.config.hidden_size
    vectors = {layer: np.empty((len(words), d_model), dtype=np.float64) for layer in layers}
    rows_by_length: dict[int, list[int]] = {}
    for row, ids in enumerate(token_ids):
        rows_by_length.setdefault(len(ids), []).append(row)

    with BlockOutputRecorder(loaded.model, layers, loaded.center_residual) as recorder, tqdm(total=len(words), desc="forward passes (words)", unit="word") as progress:
        for rows in rows_by_length.values():
            for start in range(0, len(rows), WORD_BATCH_SIZE):
                batch = rows[start : start + WORD_BATCH_SIZE]
                inputs = torch.tensor([[loaded.bos_token_id, *token_ids[row]] for row in batch], dtype=torch.long, device=loaded.device)
                loaded.model(input_ids=inputs)
                for layer in layers:
                    vectors[layer][batch] = recorder.outputs[layer][:, -1, :].float().cpu().numpy()
                progress.update(len(batch))

    last_tokens = tuple(loaded.tokenizer.decode([ids[-1]]).strip() for ids in token_ids)
    return WordRepresentations(words=tuple(words), vectors=vectors, last_tokens=last_tokens)
