"""The content-addressed cache: keys, atomic entries and corrupt-entry recovery."""

import logging
import os
import subprocess
import sys

import pytest

from harness.cache import Cache, cache_key


def write_file(name: str, text: str):
    def build(folder):
        (folder / name).write_text(text)

    return build


def test_same_inputs_reuse_entry(tmp_path):
    cache = Cache(tmp_path)
    builds = []

    def build(folder):
        builds.append(folder)
        (folder / "value.txt").write_text("42")

    first = cache.fetch("stage", {"x": 1}, build)
    second = cache.fetch("stage", {"x": 1}, build)

    assert first == second
    assert len(builds) == 1
    assert (first / "value.txt").read_text() == "42"


def test_changed_input_gives_new_entry(tmp_path):
    cache = Cache(tmp_path)

    first = cache.fetch("stage", {"x": 1}, write_file("value.txt", "one"))
    second = cache.fetch("stage", {"x": 2}, write_file("value.txt", "two"))

    assert first != second
    assert (second / "value.txt").read_text() == "two"


def test_key_ignores_dict_order():
    assert cache_key("stage", {"a": 1, "b": 2}) == cache_key("stage", {"b": 2, "a": 1})
    assert cache_key("stage", {"a": 1}) != cache_key("other", {"a": 1})


def test_failed_build_leaves_nothing(tmp_path):
    cache = Cache(tmp_path)

    def build(folder):
        (folder / "half.txt").write_text("partial")
        raise RuntimeError("stage failed")

    with pytest.raises(RuntimeError, match="stage failed"):
        cache.fetch("stage", {"x": 1}, build)

    assert list((tmp_path / "stage").iterdir()) == []


def test_truncated_file_is_rebuilt(tmp_path, caplog):
    cache = Cache(tmp_path)
    folder = cache.fetch("stage", {"x": 1}, write_file("value.txt", "complete text"))
    (folder / "value.txt").write_text("comp")

    with caplog.at_level(logging.WARNING, logger="harness.cache"):
        rebuilt = cache.fetch("stage", {"x": 1}, write_file("value.txt", "complete text"))

    assert (rebuilt / "value.txt").read_text() == "complete text"
    corrupt_lines = [record.getMessage() for record in caplog.records if "corrupt" in record.getMessage()]
    assert len(corrupt_lines) == 1
    assert "value.txt" in corrupt_lines[0]


def test_altered_file_same_size_is_rebuilt(tmp_path):
    cache = Cache(tmp_path)
    folder = cache.fetch("stage", {"x": 1}, write_file("value.txt", "abc"))
    (folder / "value.txt").write_text("xyz")

    rebuilt = cache.fetch("stage", {"x": 1}, write_file("value.txt", "abc"))

    assert (rebuilt / "value.txt").read_text() == "abc"


def test_missing_manifest_is_rebuilt(tmp_path):
    cache = Cache(tmp_path)
    folder = cache.fetch("stage", {"x": 1}, write_file("value.txt", "abc"))
    (folder / "manifest.json").unlink()

    rebuilt = cache.fetch("stage", {"x": 1}, write_file("value.txt", "abc"))

    assert (rebuilt / "manifest.json").is_file()


def test_build_folder_of_a_killed_process_is_removed(tmp_path):
    cache = Cache(tmp_path)
    cache.fetch("stage", {"a": 1}, lambda folder: (folder / "x.txt").write_text("x"))
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True)
    abandoned = tmp_path / "stage" / f".partial-{'0' * 32}-{dead.stdout.strip()}-abcd1234"
    running = tmp_path / "stage" / f".partial-{'1' * 32}-{os.getpid()}-abcd1234"
    abandoned.mkdir()
    running.mkdir()

    cache.fetch("stage", {"a": 2}, lambda folder: (folder / "x.txt").write_text("y"))

    assert not abandoned.exists()
    assert running.exists()


def test_lookup_never_builds(tmp_path):
    cache = Cache(tmp_path)

    assert cache.lookup("stage", {"a": 1}) is None
    folder = cache.fetch("stage", {"a": 1}, lambda folder: (folder / "x.txt").write_text("x"))
    assert cache.lookup("stage", {"a": 1}) == folder
