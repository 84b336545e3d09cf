"""Text corpora with genre labels, built only from what a Python installation contains.

"The Geometry of Concepts" (arXiv 2410.19750) relates the geometry of sparse autoencoder
features to the genre of the Pile documents that activate them, so the pipeline needs
text of several genres. Without network access to The Pile, the ``local-mix`` corpus
takes each genre from something every installation has. Code comes from standard
library sources and technical prose from pydoc help topics. Legal and descriptive prose
come from the licence files and long descriptions of installed distributions. Math
problems are generated with sympy in the style of the DeepMind Mathematics dataset.

Other corpora carry any genre label. ``read_jsonl_corpus`` reads a local JSONL file,
``stream_pile`` streams The Pile from the Hugging Face Hub with its subset names as
genres, and ``open_corpus`` resolves the ``--corpus`` option to one of these.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import math
import os
import random
import re
import sysconfig
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from importlib import metadata
from pathlib import Path

import sympy

from harness.errors import HarnessError

logger = logging.getLogger(__name__)

GENRES: tuple[str, ...] = ("code", "math", "technical-prose", "legal", "descriptive-prose")

# Genres expected to activate the paper's math/code lobe most: local-mix's "code" and
# "math" and the matching Pile subsets.
CODE_AND_MATH_GENRES = frozenset({"code", "math", "Github", "DM Mathematics"})

LOCAL_MIX_NAME = "local-mix"
PILE_NAME = "pile"
PILE_DATASET = "monology/pile-uncopyrighted"
DEFAULT_PILE_DOCUMENTS = 50_000
DEFAULT_MATH_DOCUMENTS = 400
MIN_CODE_CHARACTERS = 200
MIN_DESCRIPTION_CHARACTERS = 500
MIN_MATH_PAIRS_PER_DOCUMENT = 10
MAX_MATH_PAIRS_PER_DOCUMENT = 30

# Folder names skipped anywhere under the stdlib folder. pydoc_data/topics.py is skipped
# because it contains the technical-prose genre as one string literal.
_SKIPPED_STDLIB_FOLDERS = frozenset(
    {"test", "tests", "idlelib", "site-packages", "dist-packages", "__pycache__", "pydoc_data"}
)
_LICENCE_FILE_PREFIXES = ("LICENSE", "LICENCE", "COPYING", "NOTICE")
_SPLIT_FRACTION_TOLERANCE = 1e-9


class CorpusError(HarnessError, ValueError):
    """Invalid corpus input, or an installation that cannot supply a genre."""


@dataclass(frozen=True)
class Document:
    """One text with its genre label and a string naming where it came from.

    ``genre`` is one of ``GENRES`` in ``local-mix`` and any non-empty label elsewhere,
    such as a Pile subset name like ``"Github"``. ``source`` looks like
    ``"stdlib:json/decoder.py"``, ``"generated:math#17"``, ``"pydoc:topics/for"``,
    ``"licence:numpy/licenses/LICENSE.txt"``, ``"metadata:numpy"``,
    ``"jsonl:data.jsonl:3"`` or ``"pile#17"``.
    """

    text: str
    genre: str
    source: str

    def __post_init__(self) -> None:
        if not isinstance(self.genre, str) or not self.genre.strip():
            raise CorpusError(
                f"document {self.source!r} has genre {self.genre!r}; a genre must be a "
                "non-empty string such as 'code' or 'Github'"
            )


@dataclass(frozen=True)
class Corpus:
    """A named, ordered collection of documents."""

    name: str
    documents: tuple[Document, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "documents", tuple(self.documents))

    def digest(self) -> str:
        """Return a SHA-256 hex digest of the name and every (genre, source, text) in order.

        Each field is length-prefixed, so no two different corpora encode to the same bytes.
        The digest keys on-disk caches of activations and must change with any text.
        """
        hasher = hashlib.sha256()
        fields = itertools.chain(
            [self.name],
            itertools.chain.from_iterable(
                (document.genre, document.source, document.text) for document in self.documents
            ),
        )
        for field in fields:
            encoded = field.encode("utf-8")
            hasher.update(len(encoded).to_bytes(8, "big"))
            hasher.update(encoded)
        return hasher.hexdigest()

    def genre_counts(self) -> dict[str, int]:
        """Return the number of documents of every genre.

        When every genre is one of ``GENRES``, the keys are all of ``GENRES`` in that
        order, zeros included. Otherwise they are the genres present, in order of first
        appearance.
        """
        genres = _distinct_genres(self.documents)
        counts = dict.fromkeys(GENRES if set(genres) <= set(GENRES) else genres, 0)
        for document in self.documents:
            counts[document.genre] += 1
        return counts

    def __len__(self) -> int:
        return len(self.documents)


def build_local_mix(
    seed: int = 0,
    max_documents_per_genre: int | None = None,
    max_characters_per_document: int = 20_000,
) -> Corpus:
    """Build the ``local-mix`` corpus from the running Python installation.

    Deterministic for a seed on a given installation. Each genre is listed in a fixed
    order, shuffled with ``random.Random(f"{genre}:{seed}")`` and capped at
    ``max_documents_per_genre``. The final order interleaves the genres round-robin in
    ``GENRES`` order, so any prefix of the corpus mixes genres.

    Parameters
    ----------
    seed : int
        Seed for math generation and for the per-genre shuffles.
    max_documents_per_genre : int or None
        Cap on the documents of each genre. It is also the number of math documents
        generated, which is ``DEFAULT_MATH_DOCUMENTS`` when None.
    max_characters_per_document : int
        Texts longer than this are truncated to their first this-many characters.

    Returns
    -------
    Corpus
        The corpus named ``"local-mix"``.

    Raises
    ------
    CorpusError
        If a limit is not a positive integer, or a genre yields no documents here.
    """
    if max_documents_per_genre is not None and max_documents_per_genre < 1:
        raise CorpusError(
            f"max_documents_per_genre={max_documents_per_genre} must be a positive integer "
            "or None for no cap"
        )
    if max_characters_per_document < 1:
        raise CorpusError(
            f"max_characters_per_document={max_characters_per_document} must be a positive "
            "integer"
        )

    stdlib_folder = Path(sysconfig.get_paths()["stdlib"])
    distributions = _list_installed_distributions()
    math_document_count = (
        DEFAULT_MATH_DOCUMENTS if max_documents_per_genre is None else max_documents_per_genre
    )
    listings = {
        "code": _list_stdlib_code(stdlib_folder),
        "math": _generate_math_documents(math_document_count, seed),
        "technical-prose": _list_help_topics(),
        "legal": _list_licence_texts(distributions, stdlib_folder),
        "descriptive-prose": _list_distribution_descriptions(distributions),
    }
    missing_reasons = {
        "code": f"no .py file of at least {MIN_CODE_CHARACTERS} characters under {stdlib_folder}; "
        "run with a Python that ships its standard library sources",
        "math": "the generator produced no documents",
        "technical-prose": "pydoc_data.topics is missing or empty; run with a Python that "
        "ships pydoc_data",
        "legal": f"no LICENSE, LICENCE, COPYING or NOTICE file in any installed distribution "
        f"and no LICENSE.txt in {stdlib_folder}; install packages that ship licence files",
        "descriptive-prose": "no installed distribution has a long description of at least "
        f"{MIN_DESCRIPTION_CHARACTERS} characters; install a few documented packages such as numpy",
    }

    documents_by_genre: dict[str, list[Document]] = {}
    for genre in GENRES:
        listed = listings[genre]
        if not listed:
            raise CorpusError(
                f"genre {genre!r} of {LOCAL_MIX_NAME} is empty: {missing_reasons[genre]}"
            )
        random.Random(f"{genre}:{seed}").shuffle(listed)
        documents_by_genre[genre] = [
            Document(text[:max_characters_per_document], genre, source)
            for source, text in listed[:max_documents_per_genre]
        ]

    interleaved = [
        document
        for documents_at_rank in itertools.zip_longest(*documents_by_genre.values())
        for document in documents_at_rank
        if document is not None
    ]
    corpus = Corpus(LOCAL_MIX_NAME, tuple(interleaved))
    logger.info("built %s with seed %d: %s", corpus.name, seed, corpus.genre_counts())
    return corpus


def split_corpus(corpus: Corpus, fractions: dict[str, float], seed: int = 0) -> dict[str, Corpus]:
    """Split a corpus into disjoint parts, stratified by genre.

    Every document goes to exactly one split. Within each genre, documents are shuffled
    with ``random.Random(f"{genre}:{seed}")`` and handed out by the largest-remainder
    rule. A split with a positive fraction gets at least one document of every genre
    that has at least as many documents as there are such splits. Each split keeps the
    corpus order of its documents.

    Parameters
    ----------
    corpus : Corpus
        The corpus to split. It must not be empty.
    fractions : dict of str to float
        Split name to fraction of each genre, e.g. ``{"sae-train": 0.5, "analysis": 0.5}``.
        Fractions must be non-negative and sum to 1.
    seed : int
        Seed for the per-genre shuffles.

    Returns
    -------
    dict of str to Corpus
        Split name to corpus named ``f"{corpus.name}/{split}"``, in the order of ``fractions``.

    Raises
    ------
    CorpusError
        If the corpus is empty or the fractions are empty, negative or do not sum to 1.
    """
    if not corpus.documents:
        raise CorpusError(f"corpus {corpus.name!r} is empty; build it with at least one document")
    if not fractions:
        raise CorpusError(
            'fractions is empty; pass split names with fractions, e.g. {"train": 1.0}'
        )
    for split_name, fraction in fractions.items():
        if not math.isfinite(fraction) or fraction < 0:
            raise CorpusError(
                f"fraction {fraction} for split {split_name!r} must be a finite number >= 0"
            )
    total = sum(fractions.values())
    if abs(total - 1.0) > _SPLIT_FRACTION_TOLERANCE:
        raise CorpusError(f"fractions {fractions} sum to {total}; make them sum to 1")

    split_names = list(fractions)
    split_by_position: dict[int, str] = {}
    for genre in _distinct_genres(corpus.documents):
        positions = [
            position
            for position, document in enumerate(corpus.documents)
            if document.genre == genre
        ]
        random.Random(f"{genre}:{seed}").shuffle(positions)
        counts = _allocate_counts(len(positions), [fractions[name] for name in split_names])
        start = 0
        for split_name, count in zip(split_names, counts):
            for position in positions[start : start + count]:
                split_by_position[position] = split_name
            start += count

    return {
        split_name: Corpus(
            f"{corpus.name}/{split_name}",
            tuple(
                document
                for position, document in enumerate(corpus.documents)
                if split_by_position[position] == split_name
            ),
        )
        for split_name in split_names
    }


def _distinct_genres(documents: Iterable[Document]) -> list[str]:
    """Return the genres of the documents in order of first appearance."""
    return list(dict.fromkeys(document.genre for document in documents))


def _allocate_counts(item_count: int, fractions: Sequence[float]) -> list[int]:
    """Divide ``item_count`` items by ``fractions`` (summing to 1) into integer counts."""
    exact = [item_count * fraction for fraction in fractions]
    counts = [math.floor(value) for value in exact]
    positive = [index for index, fraction in enumerate(fractions) if fraction > 0]
    by_remainder = sorted(positive, key=lambda index: counts[index] - exact[index])
    for index in itertools.islice(itertools.cycle(by_remainder), item_count - sum(counts)):
        counts[index] += 1

    # Give every positive-fraction split one item where there are enough to go round,
    # taking each from the split that has the most.
    if item_count >= len(positive):
        for index in positive:
            if counts[index] == 0:
                donor = max(range(len(counts)), key=lambda other: counts[other])
                counts[donor] -= 1
                counts[index] += 1
    return counts


def _check_max_documents(max_documents: int | None, allow_none: bool) -> None:
    if max_documents is None and allow_none:
        return
    if (
        isinstance(max_documents, bool)
        or not isinstance(max_documents, int)
        or max_documents < 1
    ):
        raise CorpusError(
            f"max_documents={max_documents!r} must be a positive integer"
            + (" or None for no cap" if allow_none else "")
        )


def read_jsonl_corpus(path: Path, max_documents: int | None = None) -> Corpus:
    """Read a labelled corpus from a local JSONL file, so any genre-labelled text runs offline.

    Each non-blank line is one JSON object with non-empty string fields ``"text"`` and
    ``"genre"``. Other fields are ignored and blank lines are skipped. Documents keep the
    file order, and each one's source is ``f"jsonl:{path.name}:{line_number}"``.

    Parameters
    ----------
    path : Path
        The JSONL file, encoded in UTF-8.
    max_documents : int or None
        Stop after this many documents. None reads the whole file.

    Returns
    -------
    Corpus
        The corpus named ``f"jsonl:{path.name}"``.

    Raises
    ------
    CorpusError
        If the file cannot be read, a line is not a JSON object with the two string
        fields, or the file has no documents. The message names the file and the
        1-based line number.
    """
    _check_max_documents(max_documents, allow_none=True)
    path = Path(path)
    fix = "every line needs non-empty string fields 'text' and 'genre'"

    documents: list[Document] = []
    try:
        with path.open("rb") as file:
            for line_number, raw_line in enumerate(file, start=1):
                if max_documents is not None and len(documents) >= max_documents:
                    break
                where = f"corpus file {path}, line {line_number}"
                try:
                    line = raw_line.decode("utf-8")
                except UnicodeDecodeError as error:
                    raise CorpusError(
                        f"{where}: invalid UTF-8 at byte {error.start + 1}; "
                        "save the file as UTF-8"
                    ) from error
                if not line.strip():
                    continue
                documents.append(_parse_jsonl_line(line, where, fix, path.name, line_number))
    except FileNotFoundError as error:
        raise CorpusError(
            f"corpus file {path} not found; pass the path of an existing JSONL file "
            "or --corpus local-mix"
        ) from error
    except OSError as error:
        raise CorpusError(
            f"cannot read corpus file {path}: {error.strerror}; pass a readable JSONL file"
        ) from error

    if not documents:
        raise CorpusError(
            f"corpus file {path} has no documents; write one JSON object per line with "
            "string fields 'text' and 'genre'"
        )
    corpus = Corpus(f"jsonl:{path.name}", tuple(documents))
    logger.info("read %d documents from %s: %s", len(corpus), path, corpus.genre_counts())
    return corpus


def _parse_jsonl_line(
    line: str, where: str, fix: str, file_name: str, line_number: int
) -> Document:
    """Turn one non-blank JSONL line into a Document, raising CorpusError at ``where``."""
    try:
        record = json.loads(line)
    except json.JSONDecodeError as error:
        raise CorpusError(
            f"{where}: invalid JSON ({error.msg} at column {error.colno}); "
            "write one JSON object per line"
        ) from error
    if not isinstance(record, dict):
        raise CorpusError(
            f"{where}: a JSON {_json_type_name(record)} is not an object; {fix}"
        )

    for field in ("text", "genre"):
        if field not in record:
            raise CorpusError(f"{where}: missing the field {field!r}; {fix}")
        value = record[field]
        if not isinstance(value, str):
            raise CorpusError(
                f"{where}: the field {field!r} is a JSON {_json_type_name(value)}, "
                f"not a string; {fix}"
            )
        if not value.strip():
            raise CorpusError(f"{where}: the field {field!r} is empty; {fix}")
    return Document(record["text"], record["genre"], f"jsonl:{file_name}:{line_number}")


def _json_type_name(value: object) -> str:
    """Return the JSON name (object, array, number, ...) of a value that json.loads made."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    return {dict: "object", list: "array", str: "string"}.get(type(value), type(value).__name__)


def pile_documents(records: Iterable[dict], max_documents: int, source: str = "pile") -> Corpus:
    """Turn records in The Pile's format into a corpus labelled by Pile subset.

    A record looks like ``{"text": str, "meta": {"pile_set_name": str}}``, and the
    subset name (``"Github"``, ``"ArXiv"``, ``"DM Mathematics"``, ...) becomes the
    genre, as in the paper's brain-scale analysis. Records are read lazily, so a stream
    is consumed only up to the last document kept. A record whose text is empty or only
    whitespace is skipped, because it yields no tokens.

    Parameters
    ----------
    records : iterable of dict
        Pile records, e.g. from ``datasets.load_dataset(..., streaming=True)`` or
        ``json.loads(line) for line in file``.
    max_documents : int
        Stop after this many documents.
    source : str
        Prefix of every document's source, which is ``f"{source}#{index}"`` with the
        0-based index of the record.

    Returns
    -------
    Corpus
        The corpus named ``"pile"``.

    Raises
    ------
    CorpusError
        If ``max_documents`` is not a positive integer, or a record is not an object,
        has no string ``text`` or no string ``meta.pile_set_name``. The message names
        the record index.
    """
    _check_max_documents(max_documents, allow_none=False)
    fix = 'every record needs {"text": str, "meta": {"pile_set_name": str}}'

    documents: list[Document] = []
    skipped_empty = 0
    for index, record in enumerate(records):
        where = f"Pile record {index} from {source!r}"
        if not isinstance(record, dict):
            raise CorpusError(f"{where} is a {type(record).__name__}, not an object; {fix}")
        text = record.get("text")
        if not isinstance(text, str):
            raise CorpusError(f"{where} has no string field 'text'; {fix}")
        meta = record.get("meta")
        genre = meta.get("pile_set_name") if isinstance(meta, dict) else None
        if not isinstance(genre, str) or not genre.strip():
            raise CorpusError(f"{where} has no string field 'meta.pile_set_name'; {fix}")

        if not text.strip():
            skipped_empty += 1
            continue
        documents.append(Document(text, genre, f"{source}#{index}"))
        if len(documents) >= max_documents:
            break

    if skipped_empty:
        logger.debug("skipped %d Pile records with empty text from %s", skipped_empty, source)
    return Corpus(PILE_NAME, tuple(documents))


def stream_pile(
    max_documents: int, dataset: str = PILE_DATASET, split: str = "train"
) -> Corpus:
    """Stream the first documents of The Pile from the Hugging Face Hub.

    Uses ``datasets.load_dataset(dataset, split=split, streaming=True)``, so only the
    records kept are downloaded, and labels each document by its Pile subset through
    ``pile_documents``. The ``datasets`` cache and its offline settings apply.

    Parameters
    ----------
    max_documents : int
        Number of documents to keep.
    dataset : str
        Hub dataset in The Pile's record format. The default is the copyright-filtered
        Pile, since the original release is no longer hosted.
    split : str
        Dataset split to stream.

    Returns
    -------
    Corpus
        The corpus named ``"pile"``, with sources ``f"{dataset}/{split}#{index}"``.

    Raises
    ------
    CorpusError
        If ``datasets`` is not installed, the hub cannot be reached and nothing is
        cached, or a record is malformed.
    """
    _check_max_documents(max_documents, allow_none=False)
    offline_hint = "--corpus local-mix or --corpus FILE.jsonl, which run offline"
    try:
        import datasets
    except ImportError as error:
        raise CorpusError(
            f"streaming The Pile needs the datasets library; pip install datasets, "
            f"or use {offline_hint}"
        ) from error

    try:
        records = datasets.load_dataset(dataset, split=split, streaming=True)
        corpus = pile_documents(records, max_documents, source=f"{dataset}/{split}")
    except CorpusError:
        raise
    except Exception as error:
        # A streaming dataset connects lazily, so the iteration inside pile_documents can
        # fail too. The library raises many unrelated types for an unreachable hub.
        logger.debug("loading %s split %s failed", dataset, split, exc_info=True)
        raise CorpusError(
            f"failed to stream {dataset!r} split {split!r} ({type(error).__name__}): the "
            "Hugging Face Hub is unreachable and nothing is cached, or the dataset name is "
            f"wrong; connect to the hub, or use {offline_hint}"
        ) from error

    logger.info(
        "streamed %d documents from %s split %s: %s",
        len(corpus),
        dataset,
        split,
        corpus.genre_counts(),
    )
    return corpus


def open_corpus(name_or_path: str, seed: int, max_documents: int | None = None) -> Corpus:
    """Resolve the ``--corpus`` option to a corpus.

    Parameters
    ----------
    name_or_path : str
        ``"local-mix"``, ``"pile"``, or the path of a JSONL file. A path is recognised
        by its ``.jsonl`` suffix or because it names an existing file.
    seed : int
        Seed of ``local-mix``. JSONL files and The Pile are read in their stored order,
        so they ignore it.
    max_documents : int or None
        Cap on the documents of a JSONL file or The Pile. None reads a whole JSONL file
        and ``DEFAULT_PILE_DOCUMENTS`` of The Pile. ``local-mix`` ignores it, because
        its size is set per genre by ``build_local_mix``.

    Returns
    -------
    Corpus
        The resolved corpus.

    Raises
    ------
    CorpusError
        If ``name_or_path`` matches no choice above, or the corpus cannot be built.
    """
    if name_or_path == LOCAL_MIX_NAME:
        return build_local_mix(seed)
    if name_or_path == PILE_NAME:
        return stream_pile(DEFAULT_PILE_DOCUMENTS if max_documents is None else max_documents)
    check_corpus_option(name_or_path)
    return read_jsonl_corpus(Path(name_or_path), max_documents)


def check_corpus_option(name_or_path: str) -> None:
    """Check the ``--corpus`` option without reading the corpus, so that a bad value fails at startup.

    Raises
    ------
    CorpusError
        If it is not ``local-mix``, ``pile`` or the path of an existing file.
    """
    if name_or_path in (LOCAL_MIX_NAME, PILE_NAME):
        return
    path = Path(name_or_path)
    if path.suffix == ".jsonl" and not path.is_file():
        raise CorpusError(f"corpus file {path} not found; pass the path of an existing JSONL file or --corpus local-mix")
    if not path.is_file():
        raise CorpusError(
            f"unknown corpus {name_or_path!r}; use --corpus local-mix, --corpus pile "
            "or --corpus FILE.jsonl with the path of a JSONL file"
        )


# Listing of each genre: each returns (source, text) pairs in a deterministic order.


def _normalize_distribution_name(name: str) -> str:
    """Return the PEP 503 normalized form of a distribution name."""
    return re.sub(r"[-_.]+", "-", name).lower()


# This project's own distribution is left out: its description is the README,
# so every edit of the README would change the corpus and invalidate the cache.
_EXCLUDED_DISTRIBUTIONS = frozenset({"concept-geometry"})


def _list_installed_distributions() -> list[tuple[str, metadata.Distribution]]:
    """Return (normalized name, distribution) pairs sorted by name, first one of each name."""
    distributions_by_name: dict[str, metadata.Distribution] = {}
    for distribution in metadata.distributions():
        message = distribution.metadata
        name = message.get("Name") if message is not None else None
        if not name or _normalize_distribution_name(name) in _EXCLUDED_DISTRIBUTIONS:
            continue
        distributions_by_name.setdefault(_normalize_distribution_name(name), distribution)
    return sorted(distributions_by_name.items(), key=lambda item: item[0])


def _read_utf8(path: Path | os.PathLike[str]) -> str | None:
    """Return the file's text, or None when it cannot be read or is not valid UTF-8."""
    try:
        return Path(path).read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def _list_stdlib_code(stdlib_folder: Path) -> list[tuple[str, str]]:
    paths = []
    for folder, subfolders, file_names in os.walk(stdlib_folder):
        subfolders[:] = [name for name in subfolders if name not in _SKIPPED_STDLIB_FOLDERS]
        paths.extend(Path(folder, name) for name in file_names if name.endswith(".py"))

    listed = []
    for path in sorted(paths, key=lambda path: path.relative_to(stdlib_folder).as_posix()):
        text = _read_utf8(path)
        if text is not None and len(text) >= MIN_CODE_CHARACTERS:
            listed.append((f"stdlib:{path.relative_to(stdlib_folder).as_posix()}", text))
    return listed


def _list_help_topics() -> list[tuple[str, str]]:
    try:
        from pydoc_data.topics import topics
    except ImportError:
        return []
    return [
        (f"pydoc:topics/{name}", topics[name].strip())
        for name in sorted(topics)
        if topics[name].strip()
    ]


def _list_licence_texts(
    distributions: Iterable[tuple[str, metadata.Distribution]], stdlib_folder: Path
) -> list[tuple[str, str]]:
    candidates: list[tuple[str, str | None]] = [
        ("licence:stdlib/LICENSE.txt", _read_utf8(stdlib_folder / "LICENSE.txt"))
    ]
    for name, distribution in distributions:
        # NOTE: a distribution without a RECORD file (distribution.files is None), such as
        # some legacy egg-info installs, contributes no licence files.
        licence_files = sorted(
            (
                file
                for file in distribution.files or ()
                if file.name.upper().startswith(_LICENCE_FILE_PREFIXES)
            ),
            key=lambda file: file.as_posix(),
        )
        for file in licence_files:
            # Drop the "<name>-<version>.dist-info/" prefix, so sources do not change
            # with the version.
            parts = file.parts[1:] if file.parts[0].endswith(".dist-info") else file.parts
            candidates.append(
                (f"licence:{name}/{'/'.join(parts)}", _read_utf8(distribution.locate_file(file)))
            )
    return _drop_duplicate_texts(
        (source, text.strip()) for source, text in candidates if text is not None
    )


def _list_distribution_descriptions(
    distributions: Iterable[tuple[str, metadata.Distribution]],
) -> list[tuple[str, str]]:
    candidates = []
    for name, distribution in distributions:
        message = distribution.metadata
        description = message.get("Description") or message.get_payload()
        if isinstance(description, str):
            candidates.append((f"metadata:{name}", description.strip()))
    return _drop_duplicate_texts(
        (source, text)
        for source, text in candidates
        if len(text) >= MIN_DESCRIPTION_CHARACTERS
    )


def _drop_duplicate_texts(listed: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """Keep the first of each identical text and drop empty ones."""
    seen_hashes = set()
    kept = []
    for source, text in listed:
        if not text:
            continue
        text_hash = hashlib.sha256(text.encode("utf-8")).digest()
        if text_hash not in seen_hashes:
            seen_hashes.add(text_hash)
            kept.append((source, text))
    return kept


# Math problems in the style of the DeepMind Mathematics dataset (Saxton et al., 2019,
# "Analysing Mathematical Reasoning Abilities of Neural Models").
# Each generator returns one (question, answer) pair. Numbers are drawn first and the
# answer is then computed from the question's expression with sympy or fractions.

_VARIABLE_LETTERS = "abcdfghjkmnpqrstuvwxyz"
_FUNCTION_LETTERS = "fghjkmpqrstuvw"
_COUNT_WORDS = {2: "Two", 3: "Three", 4: "Four"}
_ORDINALS = {1: "first", 2: "second", 3: "third"}

MathProblem = tuple[str, str]


def _format_sum(terms: Iterable[tuple[int, str]]) -> str:
    """Format (integer coefficient, monomial) terms in sympy's notation, e.g. ``3*x**2 - x + 5``.

    An empty monomial marks a constant term. Zero terms are dropped.
    """
    pieces = []
    for coefficient, monomial in terms:
        if coefficient == 0:
            continue
        magnitude = abs(coefficient)
        if not monomial:
            body = str(magnitude)
        elif magnitude == 1:
            body = monomial
        else:
            body = f"{magnitude}*{monomial}"
        if pieces:
            pieces.append(f" - {body}" if coefficient < 0 else f" + {body}")
        else:
            pieces.append(f"-{body}" if coefficient < 0 else body)
    return "".join(pieces) or "0"


def _power(variable: str, exponent: int) -> str:
    if exponent == 0:
        return ""
    return variable if exponent == 1 else f"{variable}**{exponent}"


def _format_polynomial(coefficients: Sequence[int], variable: str) -> str:
    """Format coefficients, highest degree first, as a polynomial in ``variable``."""
    degree = len(coefficients) - 1
    return _format_sum(
        (coefficient, _power(variable, degree - index))
        for index, coefficient in enumerate(coefficients)
    )


def _sympy_polynomial(coefficients: Sequence[int], symbol: sympy.Symbol) -> sympy.Poly:
    # Poly keeps dense integer coefficients. With sympy 1.14 on a 2-core CPU, a second
    # derivative of a quintic took about 0.04 ms as a Poly against 5 ms as a sympy.Expr.
    return sympy.Poly(list(coefficients), symbol, domain="ZZ")


def _format_sympy_polynomial(polynomial: sympy.Poly) -> str:
    """Format a univariate integer polynomial, highest degree first.

    This matches ``str(polynomial.as_expr())`` except where sympy moves a positive
    constant to the front (``8 - 35*x**5``), and it runs several times faster.
    """
    coefficients = [int(coefficient) for coefficient in polynomial.all_coeffs()]
    return _format_polynomial(coefficients, str(polynomial.gen))


def _random_nonzero(rng: random.Random, low: int, high: int) -> int:
    value = 0
    while value == 0:
        value = rng.randint(low, high)
    return value


def _random_coefficients(rng: random.Random, degree: int, bound: int = 9) -> list[int]:
    """Draw polynomial coefficients, highest degree first, with a nonzero leading one."""
    coefficients = [_random_nonzero(rng, -bound, bound)]
    for _ in range(degree):
        coefficients.append(rng.randint(-bound, bound) if rng.random() < 0.75 else 0)
    return coefficients


def _parenthesize_negative(value: int | Fraction) -> str:
    return f"({value})" if value < 0 else str(value)


def _format_decimal(value: Fraction) -> str:
    """Format a fraction whose denominator divides a power of ten as a plain decimal.

    The division is exact while the numerator has fewer than 28 digits, the default
    ``decimal`` precision.
    """
    return format(Decimal(value.numerator) / Decimal(value.denominator), "f")


def _arithmetic_add_or_sub(rng: random.Random) -> MathProblem:
    operands = [rng.randint(-30, 30) for _ in range(rng.randint(2, 4))]
    signs = [1] + [rng.choice((1, -1)) for _ in operands[1:]]
    expression = str(operands[0])
    for sign, operand in zip(signs[1:], operands[1:]):
        expression += f" {'+' if sign > 0 else '-'} {_parenthesize_negative(operand)}"
    answer = sum(Fraction(sign * operand) for sign, operand in zip(signs, operands))
    template = rng.choice(
        ("Calculate {}.", "What is {}?", "Evaluate {}.", "What is the value of {}?")
    )
    return template.format(expression), str(answer)


def _arithmetic_add_or_sub_decimals(rng: random.Random) -> MathProblem:
    first, second = (
        Fraction(rng.randint(-999, 999), 10 ** rng.randint(0, 2)) for _ in range(2)
    )
    first_text, second_text = _format_decimal(first), _format_decimal(second)
    if rng.random() < 0.5:
        template = rng.choice(
            ("Add {} and {}.", "Total of {} and {}.", "What is {} + {}?", "Sum {} and {}.")
        )
        return template.format(first_text, second_text), _format_decimal(first + second)
    if rng.random() < 0.5:
        return f"What is {first_text} - {second_text}?", _format_decimal(first - second)
    return f"Subtract {second_text} from {first_text}.", _format_decimal(first - second)


def _arithmetic_multiply_or_divide(rng: random.Random) -> MathProblem:
    first, second = _random_nonzero(rng, -60, 60), _random_nonzero(rng, -12, 12)
    if rng.random() < 0.5:
        template = rng.choice(
            ("Multiply {} and {}.", "What is {} times {}?", "Product of {} and {}.")
        )
        return template.format(first, second), str(Fraction(first) * second)
    dividend = first * second
    template = rng.choice(
        ("Divide {} by {}.", "What is {} divided by {}?", "Calculate {} divided by {}.")
    )
    return template.format(dividend, second), str(Fraction(dividend, second))


@dataclass(frozen=True)
class _ArithmeticNode:
    """Node of an arithmetic expression tree. A leaf has an empty ``operator``."""

    text: str
    value: Fraction
    operator: str = ""


def _needs_parentheses(child: _ArithmeticNode, operator: str, is_right: bool) -> bool:
    if not child.operator or operator == "+":
        return False
    if operator == "-":
        return is_right and child.operator in "+-"
    if operator == "*":
        return child.operator in "+-"
    return child.operator in "+-" or is_right


def _random_arithmetic_tree(rng: random.Random, depth: int) -> _ArithmeticNode:
    if depth == 0:
        leaf = rng.randint(-12, 12)
        return _ArithmeticNode(_parenthesize_negative(leaf), Fraction(leaf))

    left = _random_arithmetic_tree(rng, rng.randint(0, depth - 1))
    right = _random_arithmetic_tree(rng, rng.randint(0, depth - 1))
    operator = rng.choice("+-*/")
    if operator == "/" and right.value == 0:
        operator = "*"

    left_text, right_text = left.text, right.text
    if _needs_parentheses(left, operator, is_right=False):
        left_text = f"({left_text})"
    if _needs_parentheses(right, operator, is_right=True):
        right_text = f"({right_text})"
    separator = f" {operator} " if operator in "+-" else operator
    value = {
        "+": lambda: left.value + right.value,
        "-": lambda: left.value - right.value,
        "*": lambda: left.value * right.value,
        "/": lambda: left.value / right.value,
    }[operator]()
    return _ArithmeticNode(f"{left_text}{separator}{right_text}", value, operator)


def _arithmetic_mixed(rng: random.Random) -> MathProblem:
    tree = _random_arithmetic_tree(rng, rng.randint(2, 3))
    template = rng.choice(
        ("Evaluate {}.", "What is the value of {}?", "Calculate {}.", "What is {}?")
    )
    return template.format(tree.text), str(tree.value)


def _numbers_gcd_or_remainder(rng: random.Random) -> MathProblem:
    if rng.random() < 0.5:
        factor = rng.randint(2, 40)
        first, second = factor * rng.randint(1, 30), factor * rng.randint(1, 30)
        template = rng.choice(
            (
                "Calculate the greatest common divisor of {} and {}.",
                "What is the highest common factor of {} and {}?",
                "What is the greatest common factor of {} and {}?",
            )
        )
        return template.format(first, second), str(sympy.igcd(first, second))
    dividend, divisor = rng.randint(20, 2000), rng.randint(2, 60)
    template = rng.choice(
        (
            "What is the remainder when {} is divided by {}?",
            "Calculate the remainder when {} is divided by {}.",
        )
    )
    return template.format(dividend, divisor), str(Fraction(dividend) % divisor)


def _algebra_linear_1d(rng: random.Random) -> MathProblem:
    variable = rng.choice(_VARIABLE_LETTERS)
    solution = rng.randint(-12, 12)
    left_coefficient = _random_nonzero(rng, -12, 12)
    left_constant = rng.randint(-40, 40)
    right_coefficient = rng.randint(-12, 12) if rng.random() < 0.5 else 0
    while right_coefficient == left_coefficient:
        right_coefficient = rng.randint(-12, 12)
    right_constant = (left_coefficient - right_coefficient) * solution + left_constant

    left = _format_sum([(left_coefficient, variable), (left_constant, "")])
    right = _format_sum([(right_coefficient, variable), (right_constant, "")])
    if rng.random() < 0.25:
        left, right = right, left
        left_coefficient, right_coefficient = right_coefficient, left_coefficient
        left_constant, right_constant = right_constant, left_constant
    answer = Fraction(right_constant - left_constant, left_coefficient - right_coefficient)
    return f"Solve {left} = {right} for {variable}.", str(answer)


def _algebra_linear_2d(rng: random.Random) -> MathProblem:
    first_variable, second_variable = rng.sample(_VARIABLE_LETTERS, 2)
    solutions = (rng.randint(-9, 9), rng.randint(-9, 9))
    determinant = 0
    while determinant == 0:
        matrix = [[rng.randint(-9, 9) for _ in range(2)] for _ in range(2)]
        determinant = matrix[0][0] * matrix[1][1] - matrix[0][1] * matrix[1][0]
    constants = [row[0] * solutions[0] + row[1] * solutions[1] for row in matrix]

    equations = [
        f"{_format_sum([(row[0], first_variable), (row[1], second_variable)])} = {constant}"
        for row, constant in zip(matrix, constants)
    ]
    # Cramer's rule for the first variable.
    answer = Fraction(
        constants[0] * matrix[1][1] - matrix[0][1] * constants[1], determinant
    )
    return f"Solve {equations[0]}, {equations[1]} for {first_variable}.", str(answer)


def _algebra_quadratic_roots(rng: random.Random) -> MathProblem:
    variable = rng.choice(_VARIABLE_LETTERS)
    leading = rng.choice((1, 1, 1, -1, 2, -2, 3, -3))
    first_root, second_root = rng.randint(-10, 10), rng.randint(-10, 10)
    coefficients = [
        leading,
        -leading * (first_root + second_root),
        leading * first_root * second_root,
    ]

    # Solve with the quadratic formula. The roots are integers, so the discriminant is a
    # perfect square and math.isqrt returns its exact root.
    a, b, c = coefficients
    discriminant_root = math.isqrt(b * b - 4 * a * c)
    roots = sorted(
        {Fraction(-b - discriminant_root, 2 * a), Fraction(-b + discriminant_root, 2 * a)}
    )

    polynomial = _format_polynomial(coefficients, variable)
    template = rng.choice(
        (
            "Solve {polynomial} = 0 for {variable}.",
            "Find {variable} such that {polynomial} = 0.",
            "Determine {variable} so that {polynomial} = 0.",
        )
    )
    question = template.format(polynomial=polynomial, variable=variable)
    return question, ", ".join(str(root) for root in roots)


def _polynomials_expand(rng: random.Random) -> MathProblem:
    variable = rng.choice(_VARIABLE_LETTERS)
    symbol = sympy.Symbol(variable)
    factors = [_random_coefficients(rng, rng.choice((1, 1, 2))) for _ in range(rng.randint(2, 3))]
    constant_factor = rng.choice((1, 1, 1, -1, 2, -3))

    factor_texts = [f"({_format_polynomial(factor, variable)})" for factor in factors]
    product_text = "*".join(factor_texts)
    if constant_factor == -1:
        product_text = f"-{product_text}"
    elif constant_factor != 1:
        product_text = f"{constant_factor}*{product_text}"
    product = _sympy_polynomial([constant_factor], symbol)
    for factor in factors:
        product *= _sympy_polynomial(factor, symbol)
    template = rng.choice(("Expand {}.", "Multiply out {}.", "Expand {} and simplify."))
    return template.format(product_text), _format_sympy_polynomial(product)


def _polynomials_collect(rng: random.Random) -> MathProblem:
    variable = rng.choice(_VARIABLE_LETTERS)
    symbol = sympy.Symbol(variable)
    exponents = [rng.randint(0, 3) for _ in range(rng.randint(3, 5))]
    terms = [(_random_nonzero(rng, -9, 9), exponent) for exponent in exponents]

    expression = _format_sum(
        (coefficient, _power(variable, exponent)) for coefficient, exponent in terms
    )
    collected = _sympy_polynomial([0], symbol)
    for coefficient, exponent in terms:
        collected += _sympy_polynomial([coefficient] + [0] * exponent, symbol)
    template = rng.choice(("Collect the terms in {}.", "Simplify {}.", "Combine like terms in {}."))
    return template.format(expression), _format_sympy_polynomial(collected)


def _polynomials_evaluate(rng: random.Random) -> MathProblem:
    variable = rng.choice(_VARIABLE_LETTERS)
    function = rng.choice(_FUNCTION_LETTERS.replace(variable, ""))
    symbol = sympy.Symbol(variable)
    coefficients = _random_coefficients(rng, rng.randint(1, 3), bound=7)
    point = rng.randint(-6, 6)

    polynomial = _format_polynomial(coefficients, variable)
    value = _sympy_polynomial(coefficients, symbol).eval(point)
    template = rng.choice(
        (
            "Let {f}({v}) = {p}. What is {f}({x})?",
            "Let {f}({v}) = {p}. Calculate {f}({x}).",
            "Let {f}({v}) = {p}. Give {f}({x}).",
        )
    )
    return template.format(f=function, v=variable, p=polynomial, x=point), str(value)


def _calculus_differentiate(rng: random.Random) -> MathProblem:
    variable = rng.choice(_VARIABLE_LETTERS)
    symbol = sympy.Symbol(variable)
    order = rng.choice((1, 1, 2, 2, 3))
    coefficients = _random_coefficients(rng, rng.randint(order, 5), bound=30)

    polynomial = _format_polynomial(coefficients, variable)
    derivative = _sympy_polynomial(coefficients, symbol).diff((symbol, order))
    ordinal = _ORDINALS[order]
    templates = [
        "What is the {o} derivative of {p} wrt {v}?",
        "Find the {o} derivative of {p} wrt {v}.",
        "What is the {o} derivative of {p}?",
    ]
    if order == 1:
        templates += ["Differentiate {p} with respect to {v}.", "Differentiate {p} wrt {v}."]
    question = rng.choice(templates).format(o=ordinal, p=polynomial, v=variable)
    return question, _format_sympy_polynomial(derivative)


def _random_letter_pool(rng: random.Random) -> dict[str, int]:
    letters = rng.sample(_VARIABLE_LETTERS, rng.randint(2, 4))
    return {letter: rng.randint(1, 6) for letter in letters}


def _format_pool(rng: random.Random, pool: dict[str, int]) -> str:
    """Format a letter pool as ``{a: 2, b: 3}`` or, like the dataset does too, as ``abbab``."""
    if rng.random() < 0.5:
        return "{" + ", ".join(f"{letter}: {count}" for letter, count in pool.items()) + "}"
    letters = [letter for letter, count in pool.items() for _ in range(count)]
    rng.shuffle(letters)
    return "".join(letters)


def _probability_without_replacement(rng: random.Random) -> MathProblem:
    pool = _random_letter_pool(rng)
    total = sum(pool.values())
    pick_count = rng.randint(2, min(4, total))
    letters = [letter for letter, count in pool.items() for _ in range(count)]
    picked = rng.sample(letters, pick_count)
    pool_text = _format_pool(rng, pool)
    count_word = _COUNT_WORDS[pick_count]

    if rng.random() < 0.5:
        probability = Fraction(1)
        remaining = dict(pool)
        for draw, letter in enumerate(picked):
            probability *= Fraction(remaining[letter], total - draw)
            remaining[letter] -= 1
        sequence = "".join(picked)
        template = rng.choice(
            (
                "{w} letters picked without replacement from {p}. What is prob of sequence {s}?",
                "{w} letters picked without replacement from {p}. Give prob of sequence {s}.",
            )
        )
        return template.format(w=count_word, p=pool_text, s=sequence), str(probability)

    picked_counts = {letter: picked.count(letter) for letter in sorted(set(picked))}
    favourable = math.prod(
        math.comb(pool[letter], count) for letter, count in picked_counts.items()
    )
    probability = Fraction(favourable, math.comb(total, pick_count))
    outcome = " and ".join(f"{count} {letter}" for letter, count in picked_counts.items())
    if rng.random() < 0.5:
        question = (
            f"{count_word} letters picked without replacement from {pool_text}. "
            f"What is prob of picking {outcome}?"
        )
    else:
        question = (
            f"Calculate prob of picking {outcome} when {count_word.lower()} letters picked "
            f"without replacement from {pool_text}."
        )
    return question, str(probability)


# Generators by module name in the DeepMind naming style. Some merge related modules of
# the release, e.g. probability__swr covers swr_p_sequence and swr_p_level_set.
_MATH_GENERATORS: dict[str, Callable[[random.Random], MathProblem]] = {
    "arithmetic__add_or_sub": _arithmetic_add_or_sub,
    "arithmetic__add_or_sub_decimals": _arithmetic_add_or_sub_decimals,
    "arithmetic__mul_div": _arithmetic_multiply_or_divide,
    "arithmetic__mixed": _arithmetic_mixed,
    "numbers__gcd_or_remainder": _numbers_gcd_or_remainder,
    "algebra__linear_1d": _algebra_linear_1d,
    "algebra__linear_2d": _algebra_linear_2d,
    "algebra__polynomial_roots": _algebra_quadratic_roots,
    "polynomials__expand": _polynomials_expand,
    "polynomials__collect": _polynomials_collect,
    "polynomials__evaluate": _polynomials_evaluate,
    "calculus__differentiate": _calculus_differentiate,
    "probability__swr": _probability_without_replacement,
}


def generate_math_problems(rng: random.Random, module: str, count: int) -> list[MathProblem]:
    """Generate (question, answer) pairs of one problem type.

    Parameters
    ----------
    rng : random.Random
        Source of all randomness, so equal states give equal problems.
    module : str
        A problem type, one of ``MATH_MODULES``.
    count : int
        Number of pairs.

    Returns
    -------
    list of (str, str)
        Question and answer text pairs.

    Raises
    ------
    CorpusError
        If ``module`` is not a known problem type.
    """
    if module not in _MATH_GENERATORS:
        raise CorpusError(f"unknown math module {module!r}; use one of {', '.join(MATH_MODULES)}")
    generator = _MATH_GENERATORS[module]
    return [generator(rng) for _ in range(count)]


MATH_MODULES: tuple[str, ...] = tuple(_MATH_GENERATORS)


def _generate_math_documents(document_count: int, seed: int) -> list[tuple[str, str]]:
    """Generate documents of 10 to 30 question/answer pairs from one problem type each.

    One type per document follows the DeepMind release: its generate_to_file.py writes
    one text file per module, with lines alternating between question and answer.
    """
    rng = random.Random(f"math-generation:{seed}")
    documents = []
    for index in range(document_count):
        module = rng.choice(MATH_MODULES)
        pair_count = rng.randint(MIN_MATH_PAIRS_PER_DOCUMENT, MAX_MATH_PAIRS_PER_DOCUMENT)
        problems = generate_math_problems(rng, module, pair_count)
        text = "".join(f"{question}\n{answer}\n" for question, answer in problems)
        documents.append((f"generated:math#{index}", text))
    return documents
