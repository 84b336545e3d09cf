"""Tests for harness.corpora: determinism, genre coverage, splits and math answers."""

import dataclasses
import itertools
import random
import re
import string
from collections import Counter
from fractions import Fraction

import pytest
import sympy

from harness.corpora import (
    GENRES,
    MATH_MODULES,
    Corpus,
    CorpusError,
    Document,
    build_local_mix,
    generate_math_problems,
    split_corpus,
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


def test_unknown_genre_raises():
    with pytest.raises(CorpusError, match="poetry"):
        Document(text="Roses are red.", genre="poetry", source="test:poem")


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
