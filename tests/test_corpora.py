"""Tests for harness.corpora: local-mix, JSONL and Pile corpora, splits and math answers."""

import dataclasses
import itertools
import json
import random
import re
import string
from collections import Counter
from fractions import Fraction

import pytest
import sympy

import harness.corpora
from harness.corpora import (
    CODE_AND_MATH_GENRES,
    GENRES,
    MATH_MODULES,
    Corpus,
    CorpusError,
    Document,
    build_local_mix,
    generate_math_problems,
    open_corpus,
    pile_documents,
    read_jsonl_corpus,
    split_corpus,
    stream_pile,
)

CAP = 40


@pytest.fixture(scope="module")
def capped_corpus() -> Corpus:
    return build_local_mix(seed=0, max_documents_per_genre=CAP)


def test_same_seed_gives_identical_corpus(capped_corpus):
    random.seed(12345)  # The global random state must not matter.
    rebuilt = build_local_mix(seed=0, max_documents_per_genre=CAP)

    assert rebuilt == capped_corpus
    assert rebuilt.digest() == capped_corpus.digest()


def test_different_seed_changes_digest(capped_corpus):
    other = build_local_mix(seed=1, max_documents_per_genre=CAP)

    assert other.digest() != capped_corpus.digest()


def test_default_build_has_every_genre():
    corpus = build_local_mix(seed=0)
    counts = corpus.genre_counts()

    assert list(counts) == list(GENRES)
    assert all(count > 0 for count in counts.values()), counts
    assert counts["math"] == 400
    assert corpus.name == "local-mix"
    assert len(corpus) == sum(counts.values())


def test_prefix_mixes_genres(capped_corpus):
    first_round = capped_corpus.documents[: len(GENRES)]

    assert [document.genre for document in first_round] == list(GENRES)


def test_sources_are_unique(capped_corpus):
    sources = [document.source for document in capped_corpus.documents]

    assert len(set(sources)) == len(sources)


def test_sources_name_their_origin(capped_corpus):
    prefixes = {
        "code": "stdlib:",
        "math": "generated:math#",
        "technical-prose": "pydoc:topics/",
        "legal": "licence:",
        "descriptive-prose": "metadata:",
    }
    for document in capped_corpus.documents:
        assert document.source.startswith(prefixes[document.genre]), document.source


def test_code_skips_tests_and_short_files():
    corpus = build_local_mix(seed=0)
    code = [document for document in corpus.documents if document.genre == "code"]

    for document in code:
        folders = document.source.removeprefix("stdlib:").split("/")[:-1]
        assert not {"test", "tests", "idlelib", "site-packages"} & set(folders), document.source
        assert document.source.endswith(".py")
        assert len(document.text) >= 200


def test_prose_genres_have_no_duplicate_texts():
    corpus = build_local_mix(seed=0, max_characters_per_document=10**9)

    for genre in ("legal", "descriptive-prose"):
        texts = [document.text for document in corpus.documents if document.genre == genre]
        assert len(set(texts)) == len(texts), genre
    descriptions = [d.text for d in corpus.documents if d.genre == "descriptive-prose"]
    assert min(len(text) for text in descriptions) >= 500


def test_max_documents_per_genre_caps_counts():
    corpus = build_local_mix(seed=0, max_documents_per_genre=5)
    counts = corpus.genre_counts()

    assert counts["math"] == 5
    assert all(1 <= count <= 5 for count in counts.values()), counts


def test_long_texts_are_truncated():
    corpus = build_local_mix(seed=0, max_documents_per_genre=10, max_characters_per_document=300)

    assert max(len(document.text) for document in corpus.documents) == 300


@pytest.mark.parametrize(
    "arguments",
    [{"max_documents_per_genre": 0}, {"max_characters_per_document": 0}],
)
def test_bad_limits_raise(arguments):
    with pytest.raises(CorpusError):
        build_local_mix(**arguments)


def test_any_non_empty_genre_accepted():
    document = Document(text="def f(): pass", genre="Github", source="pile#0")

    assert document.genre == "Github"


@pytest.mark.parametrize("genre", ["", "   ", None, 3])
def test_empty_or_non_string_genre_raises(genre):
    with pytest.raises(CorpusError, match="test:poem"):
        Document(text="Roses are red.", genre=genre, source="test:poem")


def test_digest_changes_when_one_text_changes(capped_corpus):
    documents = list(capped_corpus.documents)
    documents[7] = dataclasses.replace(documents[7], text=documents[7].text + " ")
    edited = Corpus(capped_corpus.name, tuple(documents))

    assert edited.digest() != capped_corpus.digest()


def test_digest_does_not_depend_on_field_boundaries():
    first = Corpus("c", (Document("ab", "code", "s"),))
    second = Corpus("c", (Document("b", "code", "sa"),))

    assert first.digest() != second.digest()


def test_split_is_disjoint_and_covering(capped_corpus):
    splits = split_corpus(capped_corpus, {"sae-train": 0.5, "analysis": 0.5})
    train_sources = {document.source for document in splits["sae-train"].documents}
    analysis_sources = {document.source for document in splits["analysis"].documents}

    assert not train_sources & analysis_sources
    assert train_sources | analysis_sources == {d.source for d in capped_corpus.documents}
    assert len(splits["sae-train"]) + len(splits["analysis"]) == len(capped_corpus)


def test_split_is_stratified(capped_corpus):
    splits = split_corpus(capped_corpus, {"sae-train": 0.7, "analysis": 0.2, "holdout": 0.1})

    for split in splits.values():
        assert all(count > 0 for count in split.genre_counts().values()), split.name
    train_counts = splits["sae-train"].genre_counts()
    for genre, count in capped_corpus.genre_counts().items():
        assert abs(train_counts[genre] - 0.7 * count) <= 1


def test_split_gives_small_fractions_every_genre():
    corpus = build_local_mix(seed=0, max_documents_per_genre=10)
    splits = split_corpus(corpus, {"train": 0.96, "tiny": 0.04})

    assert all(count == 1 for count in splits["tiny"].genre_counts().values())


def test_split_is_deterministic_and_named(capped_corpus):
    fractions = {"sae-train": 0.5, "analysis": 0.5}
    first = split_corpus(capped_corpus, fractions, seed=3)
    second = split_corpus(capped_corpus, fractions, seed=3)
    other = split_corpus(capped_corpus, fractions, seed=4)

    assert first == second
    assert first["analysis"].digest() != other["analysis"].digest()
    assert first["analysis"].name == "local-mix/analysis"


@pytest.mark.parametrize(
    "fractions",
    [
        {"a": 0.6, "b": 0.6},
        {"a": 0.3},
        {"a": -0.5, "b": 1.5},
        {"a": float("nan"), "b": 1.0},
        {},
    ],
)
def test_bad_fractions_raise(capped_corpus, fractions):
    with pytest.raises(CorpusError):
        split_corpus(capped_corpus, fractions)


def test_split_of_empty_corpus_raises():
    with pytest.raises(CorpusError, match="empty"):
        split_corpus(Corpus("nothing", ()), {"all": 1.0})


# Independent checks of generated math answers: each question is parsed back from its
# text and solved with sympy, or with brute-force enumeration for probabilities.

_SYMBOLS = {letter: sympy.Symbol(letter) for letter in string.ascii_lowercase}
_ORDER_BY_ORDINAL = {"first": 1, "second": 2, "third": 3}
_COUNT_BY_WORD = {"two": 2, "three": 3, "four": 4}
_POOL = r"(\{.+?\}|\w+)"  # A letter pool, "{a: 2, b: 3}" or "abbab".


def _parse(text):
    return sympy.sympify(text, locals=_SYMBOLS, rational=True)


def _parse_expanded(text):
    """Parse an answer that must already be in expanded form."""
    expression = _parse(text)
    assert expression == sympy.expand(expression), f"answer {text!r} is not expanded"
    return expression


def _parse_pool(text):
    if text.startswith("{"):
        pairs = re.findall(r"(\w): (\d+)", text)
        return [letter for letter, count in pairs for _ in range(int(count))]
    return list(text)


def _brute_force_probability(pool, pick_count, is_match):
    draws = list(itertools.permutations(range(len(pool)), pick_count))
    matches = sum(is_match([pool[index] for index in draw]) for draw in draws)
    return Fraction(matches, len(draws))


def _check_sequence(pick_word, pool_text, sequence):
    pool = _parse_pool(pool_text)
    return _brute_force_probability(
        pool, _COUNT_BY_WORD[pick_word.lower()], lambda drawn: "".join(drawn) == sequence
    )


def _check_level_set(pick_word, pool_text, outcome):
    pool = _parse_pool(pool_text)
    expected_counts = Counter(
        {letter: int(count) for count, letter in re.findall(r"(\d+) (\w)", outcome)}
    )
    return _brute_force_probability(
        pool, _COUNT_BY_WORD[pick_word.lower()], lambda drawn: Counter(drawn) == expected_counts
    )


def _solutions(equation_text, variable):
    left, right = equation_text.split(" = ")
    return sorted(sympy.solve(sympy.Eq(_parse(left), _parse(right)), _SYMBOLS[variable]))


# (pattern, function of the groups returning the expected answer, answer parser). The
# first pattern that matches a question decides, so specific patterns come first.
_CHECKERS = [
    (
        r"(?:Calculate the greatest common divisor|What is the (?:highest|greatest) common "
        r"factor) of (\d+) and (\d+)[.?]",
        lambda a, b: sympy.gcd(int(a), int(b)),
        _parse,
    ),
    (
        r"(?:What is|Calculate) the remainder when (\d+) is divided by (\d+)[.?]",
        lambda a, b: sympy.Mod(int(a), int(b)),
        _parse,
    ),
    (
        r"(?:What is|Find) the (first|second|third) derivative of (.+?)(?: wrt (\w))?[.?]",
        lambda order, expression, variable: sympy.expand(
            sympy.diff(
                _parse(expression),
                _SYMBOLS[variable] if variable else _parse(expression).free_symbols.pop(),
                _ORDER_BY_ORDINAL[order],
            )
        ),
        _parse_expanded,
    ),
    (
        r"Differentiate (.+?) (?:with respect to|wrt) (\w)\.",
        lambda expression, variable: sympy.expand(
            sympy.diff(_parse(expression), _SYMBOLS[variable])
        ),
        _parse_expanded,
    ),
    (
        rf"(\w+) letters picked without replacement from {_POOL}\. (?:What is|Give) prob of "
        r"sequence (\w+)[.?]",
        _check_sequence,
        Fraction,
    ),
    (
        rf"(\w+) letters picked without replacement from {_POOL}\. What is prob of picking (.+)\?",
        _check_level_set,
        Fraction,
    ),
    (
        r"Calculate prob of picking (.+) when (\w+) letters picked without replacement from "
        rf"{_POOL}\.",
        lambda outcome, pick_word, pool_text: _check_level_set(pick_word, pool_text, outcome),
        Fraction,
    ),
    (
        r"Solve (.+? = .+?), (.+? = .+?) for (\w)\.",
        lambda first, second, variable: sympy.solve(
            [sympy.Eq(*map(_parse, equation.split(" = "))) for equation in (first, second)],
            dict=True,
        )[0][_SYMBOLS[variable]],
        _parse,
    ),
    (
        r"Solve (.+? = .+?) for (\w)\.",
        _solutions,
        lambda answer: sorted(_parse(root) for root in answer.split(", ")),
    ),
    (
        r"(?:Find|Determine) (\w) (?:such|so) that (.+? = 0)\.",
        lambda variable, equation: _solutions(equation, variable),
        lambda answer: sorted(_parse(root) for root in answer.split(", ")),
    ),
    (
        r"(?:Expand|Multiply out) (.+?)(?: and simplify)?\.",
        lambda expression: sympy.expand(_parse(expression)),
        _parse_expanded,
    ),
    (
        r"(?:Collect the terms in|Simplify|Combine like terms in) (.+)\.",
        lambda expression: sympy.expand(_parse(expression)),
        _parse_expanded,
    ),
    (
        r"Let (\w)\((\w)\) = (.+?)\. (?:What is|Calculate|Give) \1\((-?\d+)\)[.?]",
        lambda function, variable, expression, point: _parse(expression).subs(
            _SYMBOLS[variable], int(point)
        ),
        _parse,
    ),
    (
        r"(?:Multiply|Product of) (-?\d+) and (-?\d+)\.|What is (-?\d+) times (-?\d+)\?",
        lambda *groups: sympy.Mul(*(int(group) for group in groups if group is not None)),
        _parse,
    ),
    (
        r"Divide (-?\d+) by (-?\d+)\.|(?:What is|Calculate) (-?\d+) divided by (-?\d+)[.?]",
        lambda *groups: sympy.Rational(*(int(group) for group in groups if group is not None)),
        _parse,
    ),
    (
        r"(?:Add|Total of|Sum) (\S+) and (\S+)\.",
        lambda first, second: _parse(first) + _parse(second),
        _parse,
    ),
    (
        r"Subtract (\S+) from (\S+)\.",
        lambda subtrahend, minuend: _parse(minuend) - _parse(subtrahend),
        _parse,
    ),
    (
        r"(?:Calculate|Evaluate|What is the value of|What is) (.+)[.?]",
        _parse,
        _parse,
    ),
]


def _expected_and_generated(question, answer):
    for pattern, solve, parse_answer in _CHECKERS:
        match = re.fullmatch(pattern, question)
        if match:
            return solve(*match.groups()), parse_answer(answer)
    raise AssertionError(f"no checker matches generated question {question!r}")


@pytest.mark.parametrize("module", MATH_MODULES)
def test_math_answers_are_correct(module):
    problems = generate_math_problems(random.Random(module), module, 40)

    for question, answer in problems:
        expected, generated = _expected_and_generated(question, answer)
        assert expected == generated, (question, answer)


def test_math_documents_are_question_answer_pairs(capped_corpus):
    math_documents = [d for d in capped_corpus.documents if d.genre == "math"]

    assert len(math_documents) == CAP
    for document in math_documents[:10]:
        lines = document.text.splitlines()
        assert len(lines) % 2 == 0
        assert 10 <= len(lines) // 2 <= 30
        for question, answer in zip(lines[::2], lines[1::2]):
            expected, generated = _expected_and_generated(question, answer)
            assert expected == generated, (document.source, question, answer)


def test_unknown_math_module_raises():
    with pytest.raises(CorpusError, match="geometry"):
        generate_math_problems(random.Random(0), "geometry", 1)


# Corpora from JSONL files and The Pile. No test contacts the network: The Pile is
# mimicked with local files in its record format.


def _write_jsonl(path, lines):
    """Write ``lines`` to ``path``, JSON-encoding every line that is not already a string."""
    path.write_text(
        "".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines),
        encoding="utf-8",
    )
    return path


def _pile_record(text, subset):
    return {"text": text, "meta": {"pile_set_name": subset}}


def test_jsonl_keeps_order_skips_blank_lines(tmp_path):
    path = _write_jsonl(
        tmp_path / "data.jsonl",
        [
            {"text": "import os", "genre": "code", "id": 7},
            "",
            "   ",
            {"text": "1 + 1 = 2", "genre": "math"},
            {"text": "Dear reader,", "genre": "Pile-CC"},
        ],
    )

    corpus = read_jsonl_corpus(path)

    assert corpus.name == "jsonl:data.jsonl"
    assert [d.text for d in corpus.documents] == ["import os", "1 + 1 = 2", "Dear reader,"]
    assert [d.genre for d in corpus.documents] == ["code", "math", "Pile-CC"]
    assert [d.source for d in corpus.documents] == [
        "jsonl:data.jsonl:1",
        "jsonl:data.jsonl:4",
        "jsonl:data.jsonl:5",
    ]
    assert corpus.genre_counts() == {"code": 1, "math": 1, "Pile-CC": 1}


def test_jsonl_stops_at_max_documents(tmp_path):
    records = [{"text": f"text {index}", "genre": "code"} for index in range(5)]
    path = _write_jsonl(tmp_path / "data.jsonl", [*records, "not json"])

    corpus = read_jsonl_corpus(path, max_documents=2)

    assert [d.text for d in corpus.documents] == ["text 0", "text 1"]


def test_jsonl_missing_genre_names_line(tmp_path):
    path = _write_jsonl(
        tmp_path / "data.jsonl",
        [{"text": "a", "genre": "code"}, "", {"text": "b"}],
    )

    with pytest.raises(CorpusError) as raised:
        read_jsonl_corpus(path)

    message = str(raised.value)
    assert "data.jsonl" in message
    assert "line 3" in message
    assert "'genre'" in message
    assert "\n" not in message


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ('{"text": "a", "genre": "code"', "invalid JSON"),
        ('["a", "code"]', "JSON array is not an object"),
        ('{"text": 3, "genre": "code"}', "'text' is a JSON number"),
        ('{"text": "a", "genre": ""}', "'genre' is empty"),
        ('{"genre": "code"}', "missing the field 'text'"),
    ],
)
def test_bad_jsonl_line_names_line(tmp_path, line, expected):
    path = _write_jsonl(tmp_path / "data.jsonl", [{"text": "a", "genre": "code"}, line])

    with pytest.raises(CorpusError, match=expected) as raised:
        read_jsonl_corpus(path)

    assert "line 2" in str(raised.value)
    assert "\n" not in str(raised.value)


def test_invalid_utf8_names_line(tmp_path):
    path = tmp_path / "data.jsonl"
    path.write_bytes(b'{"text": "a", "genre": "code"}\n{"text": "\xff", "genre": "code"}\n')

    with pytest.raises(CorpusError, match="line 2: invalid UTF-8"):
        read_jsonl_corpus(path)


@pytest.mark.parametrize("content", ["", "\n  \n"])
def test_empty_jsonl_file_raises(tmp_path, content):
    path = tmp_path / "empty.jsonl"
    path.write_text(content, encoding="utf-8")

    with pytest.raises(CorpusError, match="empty.jsonl has no documents"):
        read_jsonl_corpus(path)


def test_missing_jsonl_file_raises(tmp_path):
    with pytest.raises(CorpusError, match="absent.jsonl not found"):
        read_jsonl_corpus(tmp_path / "absent.jsonl")


_PILE_RECORDS = [
    _pile_record("def f(): pass", "Github"),
    _pile_record("Solve 2*x = 4 for x.", "DM Mathematics"),
    _pile_record("We prove a theorem.", "ArXiv"),
]


def test_pile_subset_becomes_genre():
    corpus = pile_documents(_PILE_RECORDS, max_documents=10)

    assert corpus.name == "pile"
    assert [d.genre for d in corpus.documents] == ["Github", "DM Mathematics", "ArXiv"]
    assert [d.source for d in corpus.documents] == ["pile#0", "pile#1", "pile#2"]
    assert {"Github", "DM Mathematics"} <= CODE_AND_MATH_GENRES
    assert "ArXiv" not in CODE_AND_MATH_GENRES


def test_pile_stops_at_max_documents():
    consumed = []

    def stream():
        for record in _PILE_RECORDS:
            consumed.append(record)
            yield record

    corpus = pile_documents(stream(), max_documents=2)

    assert [d.genre for d in corpus.documents] == ["Github", "DM Mathematics"]
    assert len(consumed) == 2


def test_pile_skips_empty_texts():
    records = [_pile_record("", "Github"), _pile_record("x = 1", "Github")]

    corpus = pile_documents(records, max_documents=5, source="mirror")

    assert [d.source for d in corpus.documents] == ["mirror#1"]


@pytest.mark.parametrize(
    "bad_record",
    [
        {"text": "no meta"},
        {"text": "no subset", "meta": {}},
        {"meta": {"pile_set_name": "Github"}},
        "not a record",
    ],
)
def test_malformed_pile_record_names_index(bad_record):
    records = [_pile_record("fine", "ArXiv"), bad_record]

    with pytest.raises(CorpusError, match="record 1"):
        pile_documents(records, max_documents=10)


def test_pile_rejects_non_positive_max():
    with pytest.raises(CorpusError, match="max_documents"):
        pile_documents([_pile_record("x", "Github")], max_documents=0)


def test_pile_format_jsonl_file_reads(tmp_path):
    path = _write_jsonl(
        tmp_path / "pile-sample.jsonl",
        [
            _pile_record("#include <stdio.h>", "Github"),
            _pile_record("What is 3 + 4?\n7", "DM Mathematics"),
            _pile_record("Abstract. We study", "ArXiv"),
        ],
    )

    with path.open(encoding="utf-8") as file:
        corpus = pile_documents((json.loads(line) for line in file), max_documents=10)

    assert corpus.genre_counts() == {"Github": 1, "DM Mathematics": 1, "ArXiv": 1}
    assert corpus.documents[1].text == "What is 3 + 4?\n7"


def test_pile_corpus_splits_by_subset():
    records = [_pile_record(f"text {index}", ("Github", "ArXiv")[index % 2]) for index in range(8)]
    corpus = pile_documents(records, max_documents=8)

    splits = split_corpus(corpus, {"sae-train": 0.5, "analysis": 0.5})

    for split in splits.values():
        assert split.genre_counts() == {"Github": 2, "ArXiv": 2}


@pytest.mark.parametrize("failure", [ConnectionError("hub unreachable"), OSError("no cache")])
def test_stream_pile_offline_raises(monkeypatch, failure):
    datasets = pytest.importorskip("datasets")

    def fail_to_load(*args, **kwargs):
        raise failure

    monkeypatch.setattr(datasets, "load_dataset", fail_to_load)

    with pytest.raises(CorpusError) as raised:
        stream_pile(10)

    message = str(raised.value)
    assert "--corpus local-mix" in message
    assert "monology/pile-uncopyrighted" in message
    assert "\n" not in message


def test_stream_pile_iteration_failure_raises(monkeypatch):
    datasets = pytest.importorskip("datasets")

    def records_that_fail(*args, **kwargs):
        yield _pile_record("first", "Github")
        raise TimeoutError("connection dropped")

    monkeypatch.setattr(datasets, "load_dataset", records_that_fail)

    with pytest.raises(CorpusError, match="--corpus local-mix"):
        stream_pile(10)


def test_stream_pile_passes_arguments(monkeypatch):
    datasets = pytest.importorskip("datasets")
    calls = []

    def fake_load_dataset(dataset, split, streaming):
        calls.append((dataset, split, streaming))
        return iter([_pile_record("x = 1", "Github"), _pile_record("y", "ArXiv")])

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)

    corpus = stream_pile(1, dataset="local/pile", split="validation")

    assert calls == [("local/pile", "validation", True)]
    assert [d.source for d in corpus.documents] == ["local/pile/validation#0"]


def test_open_corpus_dispatches(monkeypatch, tmp_path):
    requests = []
    monkeypatch.setattr(
        harness.corpora,
        "build_local_mix",
        lambda seed: requests.append(("local-mix", seed)) or "local-mix corpus",
    )
    monkeypatch.setattr(
        harness.corpora,
        "stream_pile",
        lambda max_documents: requests.append(("pile", max_documents)) or "pile corpus",
    )
    jsonl_path = _write_jsonl(tmp_path / "data.jsonl", [{"text": "a", "genre": "code"}])
    plain_path = _write_jsonl(tmp_path / "data.txt", [{"text": "b", "genre": "math"}])

    assert open_corpus("local-mix", seed=3) == "local-mix corpus"
    assert open_corpus("pile", seed=3) == "pile corpus"
    assert open_corpus("pile", seed=3, max_documents=7) == "pile corpus"
    assert requests == [("local-mix", 3), ("pile", 50_000), ("pile", 7)]
    assert open_corpus(str(jsonl_path), seed=0).documents[0].text == "a"
    assert open_corpus(str(plain_path), seed=0).documents[0].genre == "math"


def test_open_corpus_missing_jsonl_raises(tmp_path):
    with pytest.raises(CorpusError, match="not found"):
        open_corpus(str(tmp_path / "absent.jsonl"), seed=0)


def test_open_corpus_unknown_name_lists_choices():
    with pytest.raises(CorpusError) as raised:
        open_corpus("wikipedia", seed=0)

    message = str(raised.value)
    assert "'wikipedia'" in message
    for choice in ("local-mix", "pile", "FILE.jsonl"):
        assert choice in message


def test_own_distribution_left_out():
    corpus = build_local_mix(seed=0)
    sources = [document.source for document in corpus.documents]
    assert "metadata:concept-geometry" not in sources
    assert not any(source.startswith("licence:concept-geometry/") for source in sources)
