"""Atom scale: relation files, held-out LDA, closure errors and the four measurements."""

from types import SimpleNamespace

import numpy as np
import pytest

from harness.activations import WordRepresentations
from harness.errors import RelationFileError
from harness.geometry import atom
from harness.geometry.atom import (
    atom_statistics,
    closure_auc,
    lda_component_count,
    measure_lda_sharpens,
    measure_length_distractor,
    measure_parallelograms,
    measure_relation_clusters,
    pair_differences,
    split_scores,
    stratified_split,
    usable_relations,
)
from harness.relations import BUILTIN_RELATIONS_FOLDER, RelationSet, WordPair, load_relations, read_relation_file
from harness.verdicts import MeasurementError

BUDGET = SimpleNamespace(permutation_draws=50, atom_split_draws=8)
PAPER_RELATIONS = {
    "country-capital", "country-currency", "english-french", "english-german", "english-spanish", "landmark-country",
    "person-instrument", "person-occupation", "person-sport", "present-past", "product-company", "singular-plural",
}


def synthetic_relations(n_relations: int = 5, pairs_per_relation: int = 30) -> RelationSet:
    pairs = [
        WordPair(relation=f"relation-{r}", subject=f"s{r}w{i}", object=f"o{r}w{i}", line=i + 1)
        for r in range(n_relations)
        for i in range(pairs_per_relation)
    ]
    return RelationSet(pairs=tuple(pairs), sources={}, folder=BUILTIN_RELATIONS_FOLDER)


def synthetic_words(relations: RelationSet, offset_scale: float, length_scale: float, seed: int = 0, dimension: int = 40) -> WordRepresentations:
    """Random word vectors; each object sits at subject + a relation offset, and a length direction is added."""
    rng = np.random.default_rng(seed)
    offsets = {relation: rng.standard_normal(dimension) * offset_scale for relation in relations.relations}
    length_direction = rng.standard_normal(dimension)
    length_direction /= np.linalg.norm(length_direction)

    vectors, tokens = {}, {}
    for pair in relations.pairs:
        subject_length, object_length = rng.integers(1, 9, size=2)
        vectors[pair.subject] = rng.standard_normal(dimension) + length_scale * subject_length * length_direction
        vectors[pair.object] = vectors[pair.subject] - offsets[pair.relation] + rng.standard_normal(dimension) + length_scale * (object_length - subject_length) * length_direction
        tokens[pair.subject] = "x" * int(subject_length)
        tokens[pair.object] = "x" * int(object_length)

    words = relations.words
    return WordRepresentations(words=words, vectors={0: np.array([vectors[word] for word in words])}, last_tokens=tuple(tokens[word] for word in words))


def write_relation(folder, name: str, text: str):
    path = folder / f"{name}.tsv"
    path.write_text(text, encoding="utf-8")
    return path


# Relation files


def test_builtin_relations_are_the_papers_twelve():
    relations = load_relations()

    assert set(relations.relations) == PAPER_RELATIONS
    for relation in relations.relations:
        assert relations.count(relation) >= 40, relation
        assert "general knowledge" in relations.sources[relation]


def test_missing_tab_names_file_line(tmp_path):
    path = write_relation(tmp_path, "colour-fruit", "# source: general knowledge\nred\tcherry\nyellow banana\n")

    with pytest.raises(RelationFileError, match=r"colour-fruit\.tsv, line 3: expected 'subject<TAB>object'"):
        read_relation_file(path)


def test_relation_file_repeating_a_word_is_rejected(tmp_path):
    path = write_relation(tmp_path, "country-currency", "# source: general knowledge\nGermany\teuro\nFrance\tEuro\n")

    with pytest.raises(RelationFileError, match=r"line 3: the word 'Euro' already appears on line 2"):
        read_relation_file(path)


def test_relation_file_without_source_is_rejected(tmp_path):
    path = write_relation(tmp_path, "colour-fruit", "red\tcherry\n")

    with pytest.raises(RelationFileError, match="states no source"):
        read_relation_file(path)


def test_user_folder_adds_a_relation(tmp_path):
    write_relation(tmp_path, "colour-fruit", "# source: general knowledge\nred\tcherry\nyellow\tbanana\n")

    relations = load_relations(tmp_path)

    assert relations.relations == ("colour-fruit",)
    assert relations.words == ("banana", "cherry", "red", "yellow")


def test_empty_relations_folder_is_rejected(tmp_path):
    with pytest.raises(RelationFileError, match="contains no"):
        load_relations(tmp_path)


def test_small_relation_dropped_logged(caplog):
    relations = RelationSet(
        pairs=tuple(synthetic_relations(3, 12).pairs) + (WordPair("tiny", "a", "b", 1),),
        sources={},
        folder=BUILTIN_RELATIONS_FOLDER,
    )

    kept = usable_relations(relations)

    assert "tiny" not in kept
    assert len(kept) == 3
    assert "relation tiny has 1 pairs" in caplog.text


def test_lda_components_are_relations_minus_one():
    assert lda_component_count(12, 576) == 11
    assert lda_component_count(12, 5) == 5
    with pytest.raises(MeasurementError, match="at least three relations"):
        lda_component_count(2, 576)


# The held-out LDA path


def test_no_held_out_label_reaches_the_lda_fit(monkeypatch):
    relations = synthetic_relations()
    differences = pair_differences(relations, synthetic_words(relations, 2.0, 0.0), 0, relations.relations)
    fitted = []
    original_fit = atom.LinearDiscriminantAnalysis.fit

    def recording_fit(self, vectors, labels):
        fitted.append(np.array(vectors))
        return original_fit(self, vectors, labels)

    monkeypatch.setattr(atom.LinearDiscriminantAnalysis, "fit", recording_fit)
    train, test = stratified_split(differences.labels, split_seed=3)
    split_scores(differences, train, test, components=4, rng=np.random.default_rng(0))

    held_out = differences.vectors[test]
    assert len(fitted) == 2
    for vectors in fitted:
        assert len(vectors) == len(differences.labels) - len(held_out)
        assert not any(np.any(np.all(vectors == row, axis=1)) for row in held_out)


def test_held_out_labels_change_scores_only():
    relations = synthetic_relations()
    differences = pair_differences(relations, synthetic_words(relations, 2.0, 0.0), 0, relations.relations)
    train, test = stratified_split(differences.labels, split_seed=3)
    scores = split_scores(differences, train, test, components=4, rng=np.random.default_rng(0))

    relabelled_labels = differences.labels.copy()
    relabelled_labels[test] = np.random.default_rng(1).permutation(relabelled_labels[test])
    relabelled = atom.PairDifferences(differences.vectors, relabelled_labels, differences.relations, differences.length_differences)
    relabelled_scores = split_scores(relabelled, train, test, components=4, rng=np.random.default_rng(0))

    assert np.allclose(relabelled_scores["projected"], scores["projected"])
    assert relabelled_scores["lda"] != scores["lda"]


# Closure errors


def test_exact_parallelograms_close_better_than_cross_relation_quadruples():
    rng = np.random.default_rng(0)
    offsets = rng.standard_normal((3, 10)) * 5
    labels = np.repeat(np.arange(3), 6)
    vectors = offsets[labels] + 0.01 * rng.standard_normal((18, 10))

    assert closure_auc(vectors, labels, rng) > 0.99


def test_closure_of_unstructured_differences_is_near_one_half():
    rng = np.random.default_rng(0)
    values = [closure_auc(rng.standard_normal((60, 10)), np.repeat(np.arange(6), 10), rng) for _ in range(20)]

    assert abs(np.mean(values) - 0.5) < 0.05


# Measurements on planted and on structureless word vectors


@pytest.fixture(scope="module")
def planted_statistics():
    relations = synthetic_relations()
    return atom_statistics(relations, synthetic_words(relations, offset_scale=1.5, length_scale=3.0), (0,), BUDGET, seed=0)


@pytest.fixture(scope="module")
def null_statistics():
    relations = synthetic_relations()
    return atom_statistics(relations, synthetic_words(relations, offset_scale=0.0, length_scale=0.0), (0,), BUDGET, seed=0)


@pytest.mark.parametrize("measure", [measure_relation_clusters, measure_lda_sharpens, measure_length_distractor, measure_parallelograms])
def test_planted_crystals_hold(planted_statistics, measure):
    measurement = measure(planted_statistics)

    assert measurement.holds, measurement.message


@pytest.mark.parametrize("measure", [measure_relation_clusters, measure_lda_sharpens, measure_length_distractor, measure_parallelograms])
def test_structureless_word_vectors_fail(null_statistics, measure):
    measurement = measure(null_statistics)

    assert not measurement.holds, measurement.message
    assert "null" in measurement.message
    assert "Threshold" in measurement.message


def test_every_layer_must_hold():
    relations = synthetic_relations()
    planted = synthetic_words(relations, offset_scale=1.5, length_scale=0.0)
    structureless = synthetic_words(relations, offset_scale=0.0, length_scale=0.0, seed=1)
    both = WordRepresentations(planted.words, {0: planted.vectors[0], 5: structureless.vectors[0]}, planted.last_tokens)

    statistics = atom_statistics(relations, both, (0, 5), BUDGET, seed=0)
    measurement = measure_relation_clusters(statistics)

    assert [row["significant"] for row in measurement.per_layer] == [True, False]
    assert not measurement.holds
