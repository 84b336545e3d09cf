"""Subject definitions, layer selection and their one-line errors."""

import pytest

from harness.budgets import get_budget
from harness.errors import HarnessError, SubjectError
from harness.subjects import find_subject, known_subjects, read_subjects_file, select_layers


def test_builtin_subjects_present():
    subjects = known_subjects()
    assert "smollm2-135m" in subjects
    assert "gaussian-null" in subjects
    assert subjects["smollm2-135m"].n_layers == 30
    assert subjects["smollm2-135m"].d_model == 576


def test_unknown_model_lists_known_subjects():
    with pytest.raises(SubjectError) as error:
        find_subject("nope")
    message = str(error.value)
    assert "nope" in message
    assert "smollm2-135m" in message
    assert "gaussian-null" in message
    assert "\n" not in message


def test_unknown_budget_lists_budgets():
    with pytest.raises(HarnessError, match="smoke, standard, paper"):
        get_budget("huge")


def test_layer_out_of_range_names_valid_range():
    spec = find_subject("smollm2-135m")
    with pytest.raises(SubjectError, match="valid layers are 0 to 29"):
        select_layers(spec, "99", get_budget("smoke"))


def test_layers_option_parsed():
    spec = find_subject("smollm2-135m")
    assert select_layers(spec, "12,0,6", get_budget("smoke")) == (0, 6, 12)
    assert select_layers(spec, "all", get_budget("smoke")) == tuple(range(30))


def test_invalid_layers_option_rejected():
    spec = find_subject("smollm2-135m")
    with pytest.raises(SubjectError, match="comma-separated"):
        select_layers(spec, "first,last", get_budget("smoke"))


def test_budget_layers_spread_first_to_last():
    spec = find_subject("smollm2-135m")
    layers = select_layers(spec, None, get_budget("standard"))
    assert len(layers) == 10
    assert layers[0] == 0
    assert layers[-1] == 29
    assert select_layers(spec, None, get_budget("paper")) == tuple(range(30))


def test_user_subjects_file_adds_subject(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text(
        '[tiny-null]\ndescription = "small null"\nkind = "gaussian-null"\nn_layers = 6\nd_model = 64\ncorpus = "none"\nfiring_threshold = 0.0\n'
    )
    spec = find_subject("tiny-null", path)
    assert spec.n_layers == 6
    assert spec.defined_in == str(path)


def test_subject_missing_field_rejected(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text('[broken]\ndescription = "x"\nkind = "gaussian-null"\n')
    with pytest.raises(SubjectError, match="missing the field 'n_layers'"):
        read_subjects_file(path)


def test_subject_unknown_kind_rejected(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text('[broken]\ndescription = "x"\nkind = "magic"\nn_layers = 2\nd_model = 8\ncorpus = "none"\nfiring_threshold = 0\n')
    with pytest.raises(SubjectError, match="unknown kind 'magic'"):
        read_subjects_file(path)


def test_malformed_toml_rejected(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("[broken\n")
    with pytest.raises(SubjectError, match="not valid TOML"):
        read_subjects_file(path)


def test_missing_subjects_file_rejected(tmp_path):
    with pytest.raises(SubjectError, match="not found"):
        read_subjects_file(tmp_path / "absent.toml")
