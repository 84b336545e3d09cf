"""Co-occurrence of SAE features in 256-token chunks, and the affinities derived from it.

At the brain scale, Li et al. (arXiv 2410.19750) ask whether features that fire
in the same chunks of a document also sit near each other in the decoder space.
The input is the boolean firing matrix (chunks x features). From it we count
n_i (chunks in which feature i fires) and n_ij (chunks in which both i and j
fire). Each pair then has a 2x2 table, and five affinities compare the features:
simple matching, Jaccard, Dice, overlap and the phi coefficient. The affinity
matrices are later clustered into lobes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from tqdm import tqdm

AFFINITY_MEASURES = ("simple-matching", "jaccard", "dice", "overlap", "phi")

# Each pending sparse product is densified over the full feature x feature
# matrix, which costs about as much as a few chunks of the dense reference.
# Batches are therefore pooled until they hold this many chunks, so that small
# batches from the caller do not each pay for one dense pass.
_CHUNKS_PER_PRODUCT = 4096

# Entries per row block of the pair counts (4 MiB of int32) and of the affinity
# matrix (32 MiB of float64). In benchmarks/cooccurrence.py on 2 cores, count
# blocks from 2**18 to 2**22 entries timed alike within the noise.
_COUNT_BLOCK_ENTRIES = 1 << 20
_AFFINITY_BLOCK_ENTRIES = 1 << 22


@dataclass(frozen=True, eq=False)
class CooccurrenceCounts:
    """Counts of features firing, alone and in pairs, over the chunks of a corpus.

    Attributes
    ----------
    n_chunks : int
        N, the number of chunks counted.
    fire_counts : np.ndarray
        n_i, the number of chunks in which each feature fires; shape (n_features,), int64.
    pair_counts : np.ndarray
        n_ij, the number of chunks in which both features fire; shape
        (n_features, n_features), symmetric, with n_i on the diagonal. The dtype
        is int32 when N < 2**31 (no count exceeds N) and int64 otherwise.
    """

    n_chunks: int
    fire_counts: np.ndarray
    pair_counts: np.ndarray


@dataclass(frozen=True, eq=False)
class Affinity:
    """One affinity measure between the features that fire in some but not all chunks.

    Attributes
    ----------
    measure : str
        One of `AFFINITY_MEASURES`.
    matrix : np.ndarray
        float32, shape (n_kept, n_kept), symmetric and non-negative. Phi is
        shifted by +1, so that it lies in [0, 2].
    kept : np.ndarray
        Indices (into the original features) of the rows and columns of `matrix`.
    never_fire : int
        Number of features with n_i == 0, which are left out.
    always_fire : int
        Number of features with n_i == N, which are left out.
    undefined_pairs : int
        Number of unordered pairs (i < j) of the original features for which
        this measure is 0/0. All of them involve a left-out feature.
    """

    measure: str
    matrix: np.ndarray
    kept: np.ndarray
    never_fire: int
    always_fire: int
    undefined_pairs: int


def pair_count_dtype(n_chunks: int) -> type[np.signedinteger]:
    """Return the smallest integer dtype that can store every pair count of `n_chunks` chunks."""
    return np.int32 if n_chunks < 2**31 else np.int64


def count_cooccurrence(firing_batches: Iterable[np.ndarray], n_features: int) -> CooccurrenceCounts:
    """Count how often each feature, and each pair of features, fires over batches of chunks.

    Each batch is turned into a scipy.sparse CSR matrix F of 0/1, and its Gram
    matrix F^T F (a sparse-sparse product, computed one block of feature rows at
    a time) is converted to dense integers and added in place. Memory is thus
    bounded by one n_features x n_features integer matrix, one batch and the
    sparse form of the batches pooled for the next product (a few thousand
    chunks), whatever the number of chunks. Small batches are pooled because
    each product costs one dense pass over the count matrix.

    Parameters
    ----------
    firing_batches : Iterable[np.ndarray]
        Batches of the firing matrix, each of shape (chunks, n_features) and
        dtype bool. An entry is True where the feature fires somewhere in the chunk.
    n_features : int
        Number of SAE features, the width of every batch.

    Returns
    -------
    CooccurrenceCounts

    Raises
    ------
    ValueError
        If `n_features` is not positive, a batch is not a 2-D boolean array of
        width `n_features`, or the batches hold no chunk at all.
    """
    if n_features < 1:
        raise ValueError(f"n_features is {n_features}; pass the SAE's number of features (at least 1)")

    n_chunks = 0
    fire_counts = np.zeros(n_features, dtype=np.int64)
    pair_counts = np.zeros((n_features, n_features), dtype=np.int32)
    pending: list[sp.csr_array] = []
    pending_chunks = 0

    for index, batch in enumerate(firing_batches):
        batch = _checked_firing(batch, f"firing batch {index}", n_features)
        n_chunks += len(batch)
        fire_counts += batch.sum(axis=0)
        pending.append(_sparse_firing(batch))
        pending_chunks += len(batch)
        if pending_chunks >= _CHUNKS_PER_PRODUCT:
            pair_counts = _add_pair_counts(pair_counts, pending, n_chunks)
            pending, pending_chunks = [], 0

    if n_chunks == 0:
        raise ValueError(_NO_CHUNKS_MESSAGE)
    if pending_chunks > 0:
        pair_counts = _add_pair_counts(pair_counts, pending, n_chunks)

    return CooccurrenceCounts(n_chunks=n_chunks, fire_counts=fire_counts, pair_counts=pair_counts)


def count_cooccurrence_reference(firing: np.ndarray, *, progress: bool = False) -> CooccurrenceCounts:
    """Count co-occurrences slowly: add the dense outer product np.outer(f, f) of every chunk's 0/1 firing vector.

    This is the definition of n_ij, kept as the check for `count_cooccurrence`.

    Parameters
    ----------
    firing : np.ndarray
        The firing matrix, shape (chunks, n_features), dtype bool.
    progress : bool
        Show a tqdm progress bar over the chunks.

    Returns
    -------
    CooccurrenceCounts

    Raises
    ------
    ValueError
        If `firing` is not a 2-D boolean array or has no chunk.
    """
    firing = _checked_firing(firing, "firing", None)
    n_chunks, n_features = firing.shape
    if n_chunks == 0:
        raise ValueError(_NO_CHUNKS_MESSAGE)

    dtype = pair_count_dtype(n_chunks)
    pair_counts = np.zeros((n_features, n_features), dtype=dtype)
    for chunk_firing in tqdm(firing, desc="reference co-occurrence", unit="chunk", disable=not progress):
        indicator = chunk_firing.astype(dtype)
        pair_counts += np.outer(indicator, indicator)

    fire_counts = firing.sum(axis=0, dtype=np.int64)
    return CooccurrenceCounts(n_chunks=n_chunks, fire_counts=fire_counts, pair_counts=pair_counts)


def affinity(counts: CooccurrenceCounts, measure: str) -> Affinity:
    """Compute one affinity between features from the 2x2 table of each pair.

    With n11 = n_ij, n10 = n_i - n_ij, n01 = n_j - n_ij and
    n00 = N - n_i - n_j + n_ij, the measures are

    - simple-matching: (n11 + n00) / N
    - jaccard: n11 / (n11 + n10 + n01)
    - dice: 2 n11 / (2 n11 + n10 + n01)
    - overlap: n11 / min(n_i, n_j)
    - phi: (n11 n00 - n10 n01) / sqrt(n_i (N - n_i) n_j (N - n_j)), plus 1.

    Features that never fire or always fire are left out for every measure:
    phi is 0/0 for their pairs, the other measures are degenerate, and they
    carry no co-occurrence information. Their numbers, and the number of pairs
    for which this measure is 0/0, are returned. Values are computed in float64
    one block of rows at a time and stored as float32, so that 16,384 features
    need about 1 GiB for the matrix. The diagonal is a feature's value with
    itself: 1, or 2 for shifted phi.

    Parameters
    ----------
    counts : CooccurrenceCounts
        Output of `count_cooccurrence`.
    measure : str
        One of `AFFINITY_MEASURES`.

    Returns
    -------
    Affinity

    Raises
    ------
    ValueError
        If `measure` is unknown, or fewer than 2 features fire in some but not all chunks.
    """
    if measure not in AFFINITY_MEASURES:
        raise ValueError(f"measure {measure!r} is unknown; use one of {', '.join(AFFINITY_MEASURES)}")

    n_chunks = counts.n_chunks
    fire_counts = counts.fire_counts
    never_fire = int(np.sum(fire_counts == 0))
    always_fire = int(np.sum(fire_counts == n_chunks))
    kept = np.flatnonzero((fire_counts > 0) & (fire_counts < n_chunks))
    if len(kept) < 2:
        raise ValueError(
            f"counts: only {len(kept)} of {len(fire_counts)} features fire in some but not all of the "
            f"{n_chunks} chunks ({never_fire} never fire, {always_fire} always fire); "
            "affinities need at least 2, so count more chunks or more features"
        )

    formula = _MEASURE_FORMULAS[measure]
    n_kept = len(kept)
    matrix = np.empty((n_kept, n_kept), dtype=np.float32)
    kept_fire = fire_counts[kept].astype(np.float64)
    column_fire = kept_fire[np.newaxis, :]
    rows_per_block = max(1, _AFFINITY_BLOCK_ENTRIES // n_kept)

    for start in range(0, n_kept, rows_per_block):
        stop = min(start + rows_per_block, n_kept)
        both = counts.pair_counts[np.ix_(kept[start:stop], kept)].astype(np.float64)
        row_fire = kept_fire[start:stop, np.newaxis]
        values = formula(both, row_fire, column_fire, float(n_chunks))
        assert np.all(np.isfinite(values)), f"{measure} is not finite for a pair of kept features"
        matrix[start:stop] = values

    np.fill_diagonal(matrix, 2.0 if measure == "phi" else 1.0)

    return Affinity(
        measure=measure,
        matrix=matrix,
        kept=kept,
        never_fire=never_fire,
        always_fire=always_fire,
        undefined_pairs=_count_undefined_pairs(measure, len(fire_counts), never_fire, always_fire),
    )


_NO_CHUNKS_MESSAGE = "no chunks: the corpus produced no 256-token chunk; use a corpus with longer documents"


def _checked_firing(firing: np.ndarray, name: str, n_features: int | None) -> np.ndarray:
    firing = np.asarray(firing)
    if firing.ndim != 2:
        raise ValueError(f"{name} has shape {firing.shape}; pass a 2-D firing matrix of shape (chunks, features)")
    if firing.dtype != np.bool_:
        raise ValueError(f"{name} has dtype {firing.dtype}; pass a boolean firing matrix, e.g. activations > 0")
    if n_features is not None and firing.shape[1] != n_features:
        raise ValueError(
            f"{name} has {firing.shape[1]} features but n_features is {n_features}; pass batches of width n_features"
        )
    return firing


def _sparse_firing(firing: np.ndarray) -> sp.csr_array:
    """Return the 0/1 CSR matrix of a boolean firing batch, built without a dense integer copy."""
    n_chunks = len(firing)
    indptr = np.zeros(n_chunks + 1, dtype=np.int64)
    np.cumsum(firing.sum(axis=1), out=indptr[1:])
    _, indices = np.nonzero(firing)
    data = np.ones(len(indices), dtype=pair_count_dtype(n_chunks))
    return sp.csr_array((data, indices, indptr), shape=firing.shape)


def _add_pair_counts(pair_counts: np.ndarray, pending: list[sp.csr_array], n_chunks: int) -> np.ndarray:
    """Add F^T F of the pending batches to `pair_counts` in place, widening it first if N reaches 2**31."""
    if pair_counts.dtype != pair_count_dtype(n_chunks):
        pair_counts = pair_counts.astype(pair_count_dtype(n_chunks))

    firing = pending[0] if len(pending) == 1 else sp.vstack(pending, format="csr")
    firing_by_feature = firing.T.tocsr()
    n_features = firing.shape[1]
    rows_per_block = max(1, _COUNT_BLOCK_ENTRIES // n_features)
    dense_block = np.empty((min(rows_per_block, n_features), n_features), dtype=firing.dtype)

    for start in range(0, n_features, rows_per_block):
        block = firing_by_feature[start : start + rows_per_block] @ firing
        if block.nnz == 0:
            continue
        n_rows = block.shape[0]
        pair_counts[start : start + n_rows] += block.toarray(out=dense_block[:n_rows])

    return pair_counts


def _simple_matching(both: np.ndarray, row_fire: np.ndarray, column_fire: np.ndarray, n_chunks: float) -> np.ndarray:
    neither = n_chunks - (row_fire + column_fire) + both
    return (both + neither) / n_chunks


def _jaccard(both: np.ndarray, row_fire: np.ndarray, column_fire: np.ndarray, n_chunks: float) -> np.ndarray:
    return both / ((row_fire + column_fire) - both)


def _dice(both: np.ndarray, row_fire: np.ndarray, column_fire: np.ndarray, n_chunks: float) -> np.ndarray:
    return 2 * both / (row_fire + column_fire)


def _overlap(both: np.ndarray, row_fire: np.ndarray, column_fire: np.ndarray, n_chunks: float) -> np.ndarray:
    return both / np.minimum(row_fire, column_fire)


def _shifted_phi(both: np.ndarray, row_fire: np.ndarray, column_fire: np.ndarray, n_chunks: float) -> np.ndarray:
    # n11 n00 - n10 n01 equals N n11 - n_i n_j. Every product here commutes, so
    # the block values are exactly symmetric in i and j.
    covariance = n_chunks * both - row_fire * column_fire
    row_spread = np.sqrt(row_fire * (n_chunks - row_fire))
    column_spread = np.sqrt(column_fire * (n_chunks - column_fire))
    phi = covariance / (row_spread * column_spread)

    # Rounding can take |phi| a few ulp past 1 for identical or complementary
    # features, which would make the shifted value negative.
    return np.clip(phi + 1.0, 0.0, 2.0)


_MEASURE_FORMULAS: dict[str, Callable[[np.ndarray, np.ndarray, np.ndarray, float], np.ndarray]] = {
    "simple-matching": _simple_matching,
    "jaccard": _jaccard,
    "dice": _dice,
    "overlap": _overlap,
    "phi": _shifted_phi,
}


def _count_undefined_pairs(measure: str, n_features: int, never_fire: int, always_fire: int) -> int:
    """Count the pairs i < j whose value of `measure` is 0/0.

    Jaccard and Dice are 0/0 when neither feature fires, overlap when either
    never fires, and phi when either never or always fires. Simple matching
    divides by N > 0 and is always defined.
    """
    if measure == "simple-matching":
        return 0
    if measure in ("jaccard", "dice"):
        return never_fire * (never_fire - 1) // 2

    degenerate = never_fire if measure == "overlap" else never_fire + always_fire
    return degenerate * (degenerate - 1) // 2 + degenerate * (n_features - degenerate)
