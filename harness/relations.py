"""Relation word pairs for the atom scale, one tab-separated file per relation.

A relation file is named `<relation>.tsv`. Lines starting with `#` are
comments, and one of them must state the pairs' source (`# source: ...`);
every other line is `subject<TAB>object`, such as `Austria<TAB>Vienna`.
Within a file a word may appear only once: two pairs that share a word
have correlated differences even for random word vectors, which would
pass for clustering. Add a relation by dropping a file into the folder
(the built-in one, or your own passed with `--relations DIR`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from harness.errors import RelationFileError

BUILTIN_RELATIONS_FOLDER = Path(__file__).parent / "data" / "relations"
RELATION_FILE_SUFFIX = ".tsv"


@dataclass(frozen=True)
class WordPair:
    """One pair of a relation: its subject and object words and the file line it came from."""

    relation: str
    subject: str
    object: str
    line: int


@dataclass(frozen=True)
class RelationSet:
    """The word pairs of every relation in a folder, in file order."""

    pairs: tuple[WordPair, ...]
    sources: dict[str, str]
    folder: Path

    @property
    def relations(self) -> tuple[str, ...]:
        """Relation names, sorted."""
        return tuple(sorted({pair.relation for pair in self.pairs}))

    @property
    def words(self) -> tuple[str, ...]:
        """Every distinct word, sorted, each to be run through the model once."""
        return tuple(sorted({word for pair in self.pairs for word in (pair.subject, pair.object)}))

    def digest(self) -> str:
        """Return a SHA-256 of the pairs, for the keys of cached word representations."""
        text = "\n".join(f"{pair.relation}\t{pair.subject}\t{pair.object}" for pair in self.pairs)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    def count(self, relation: str) -> int:
        """Return the number of pairs of one relation."""
        return sum(pair.relation == relation for pair in self.pairs)


def read_relation_file(path: Path) -> tuple[list[WordPair], str]:
    """Read one relation file and return its pairs and its stated source.

    Raises
    ------
    RelationFileError
        If a line is not two non-empty tab-separated fields, a word repeats,
        the file states no source, or it contains no pairs; the message names
        the file and the 1-based line.
    """
    relation = path.name.removesuffix(RELATION_FILE_SUFFIX)
    pairs: list[WordPair] = []
    source = ""
    first_line_of_word: dict[str, int] = {}

    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise RelationFileError(f"relation file {path} is not UTF-8 text; save it as UTF-8") from None

    for number, raw_line in enumerate(text.splitlines(), start=1):
        line = raw_line.rstrip("\r")
        if not line.strip():
            continue
        if line.lstrip().startswith("#"):
            comment = line.lstrip()[1:].strip()
            if comment.lower().startswith("source:"):
                source = comment[len("source:") :].strip()
            continue

        fields = line.split("\t")
        if len(fields) != 2 or not all(field.strip() for field in fields):
            raise RelationFileError(f"{path}, line {number}: expected 'subject<TAB>object', got {line!r}; write one pair per line, separated by one tab")
        subject, object_ = (field.strip() for field in fields)

        for word in (subject, object_):
            key = word.casefold()
            if key in first_line_of_word:
                raise RelationFileError(
                    f"{path}, line {number}: the word {word!r} already appears on line {first_line_of_word[key]}; "
                    "use each word once per relation, since pairs sharing a word cluster even for random vectors"
                )
            first_line_of_word[key] = number
        pairs.append(WordPair(relation=relation, subject=subject, object=object_, line=number))

    if not source:
        raise RelationFileError(f"{path} states no source; add a comment line such as '# source: general knowledge'")
    if not pairs:
        raise RelationFileError(f"{path} contains no word pairs; add lines 'subject<TAB>object' or remove the file")
    return pairs, source


def load_relations(folder: Path | None = None) -> RelationSet:
    """Read every `*.tsv` relation file of a folder (the built-in one by default).

    Raises
    ------
    RelationFileError
        If the folder is missing or contains no relation files, or a file is malformed.
    """
    folder = Path(folder) if folder is not None else BUILTIN_RELATIONS_FOLDER
    if not folder.is_dir():
        raise RelationFileError(f"relations folder {folder} not found; pass a folder of '<relation>.tsv' files to --relations")

    files = sorted(folder.glob(f"*{RELATION_FILE_SUFFIX}"))
    if not files:
        raise RelationFileError(f"relations folder {folder} contains no '*{RELATION_FILE_SUFFIX}' files; add one file per relation")

    pairs: list[WordPair] = []
    sources: dict[str, str] = {}
    for path in files:
        file_pairs, source = read_relation_file(path)
        pairs.extend(file_pairs)
        sources[file_pairs[0].relation] = source
    return RelationSet(pairs=tuple(pairs), sources=sources, folder=folder)
