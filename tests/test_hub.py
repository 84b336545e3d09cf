"""Hub subjects (gemma-2-2b, gpt2-small, pythia-70m-deduped), proved offline.

A module-scoped hub cache contains tiny files under the real repo ids and SAE
paths (fixtures/hub_cache.py); the subjects run from the built-in
definitions with only their sizes shrunk, with `HF_HUB_OFFLINE=1`.
"""

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from huggingface_hub import constants

from fixtures.hub_cache import COMMIT, HUB_SUBJECTS, TINY_D_MODEL, TINY_WIDTHS, HubCacheWriter, build_hub_cache, hub_environment, tiny_subjects_toml
from harness.errors import HubUnavailableError, SAEFileError, SubjectError
from harness.hub import (
    LARGEST_BATCH_SIZE,
    block_read_by_hook,
    check_hub_access,
    check_jumprelu_threshold,
    fitted_batch_size,
    forward_batch_size,
    forward_dtype,
    hub_unavailable_message,
    load_hub_sae,
    sae_id_for_block,
    sequence_bytes,
)
from harness.models import LoadedModel
from harness.subjects import SAE_SCALES, find_subject, known_subjects, read_subjects_file
from tests.test_end_to_end import ALL_CLAIMS, PROJECT_ROOT, read_results, verdicts


def _sae_directory():
    from sae_lens.loading.pretrained_saes_directory import get_pretrained_saes_directory

    return get_pretrained_saes_directory()


@pytest.fixture(scope="module")
def hub_home(tmp_path_factory) -> Path:
    """An HF_HOME whose hub cache contains the tiny files of all three hub subjects."""
    home = tmp_path_factory.mktemp("hf-home")
    build_hub_cache(home)
    tiny_subjects_toml(home / "tiny-subjects.toml")
    return home


@pytest.fixture
def offline_hub(hub_home, monkeypatch) -> Path:
    """Point this process's huggingface_hub at the tiny cache, offline."""
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(hub_home / "hub"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    return hub_home


# --- the subject definitions and their block mapping -------------------------


def test_real_hub_subjects_defined():
    subjects = known_subjects()
    shapes = {name: (subjects[name].kind, subjects[name].n_layers, subjects[name].d_model) for name in HUB_SUBJECTS}
    assert shapes == {"gemma-2-2b": ("hub-saes", 26, 2304), "gpt2-small": ("hub-saes", 12, 768), "pythia-70m-deduped": ("hub-saes", 6, 512)}
    gemma = subjects["gemma-2-2b"]
    assert gemma.model == {"hub_id": "google/gemma-2-2b", "gated": True, "attention": "eager"}
    assert gemma.saes["brain"]["release"] == "gemma-scope-2b-pt-res-canonical"
    assert gemma.saes["galaxy"]["release"] == "gemma-scope-2b-pt-res"
    assert gemma.atom_layers == (0, 12)
    assert {subjects[name].corpus for name in HUB_SUBJECTS} == {"pile"}
    assert {subjects[name].firing_threshold for name in HUB_SUBJECTS} == {0.0}


def test_block_read_by_hook():
    assert block_read_by_hook("blocks.0.hook_resid_pre") == -1
    assert block_read_by_hook("blocks.5.hook_resid_pre") == 4
    assert block_read_by_hook("blocks.5.hook_resid_post") == 5
    with pytest.raises(SAEFileError, match="not a residual-stream hook"):
        block_read_by_hook("blocks.5.hook_mlp_out")


def test_layer_mapping_spot_checks():
    gemma, gpt2, pythia = (find_subject(name) for name in HUB_SUBJECTS)
    assert sae_id_for_block(gemma, "brain", 12) == "layer_12/width_16k/canonical"
    assert sae_id_for_block(gemma, "galaxy", 12) == "layer_12/width_65k/average_l0_72"
    assert sae_id_for_block(gpt2, "galaxy", 0) == "blocks.1.hook_resid_pre"
    assert sae_id_for_block(gpt2, "brain", 10) == "blocks.11.hook_resid_pre"
    assert sae_id_for_block(gpt2, "brain", 11) == "blocks.11.hook_resid_post"
    assert sae_id_for_block(pythia, "galaxy", 3) == "blocks.3.hook_resid_post"


@pytest.mark.parametrize("name", HUB_SUBJECTS)
def test_every_sae_id_exists_and_reads_its_block(name):
    """Each listed SAE is in the installed sae-lens directory and reads the output of the block it is listed for."""
    spec = find_subject(name)
    directory = _sae_directory()
    for scale in SAE_SCALES:
        release = spec.saes[scale]["release"]
        for block in range(spec.n_layers):
            sae_id = sae_id_for_block(spec, scale, block)
            assert sae_id in directory[release].saes_map, (release, sae_id)
            gemma_layer = re.match(r"layer_(\d+)/", sae_id)
            # Gemma Scope's loader hooks blocks.L.hook_resid_post for folder layer_L.
            reads = int(gemma_layer.group(1)) if gemma_layer else block_read_by_hook(sae_id)
            assert reads == block, (scale, block, sae_id)


def test_gemma_65k_ids_follow_the_documented_rule():
    """Per block, the 65k SAE whose average L0 is closest to 100, the one the canonical release points to."""
    directory = _sae_directory()
    available = directory["gemma-scope-2b-pt-res"].saes_map
    canonical = directory["gemma-scope-2b-pt-res-canonical"].saes_map
    spec = find_subject("gemma-2-2b")
    l0s = []
    for block in range(spec.n_layers):
        choices = {int(m.group(1)): sae_id for sae_id in available if (m := re.fullmatch(rf"layer_{block}/width_65k/average_l0_(\d+)", sae_id))}
        closest = choices[min(choices, key=lambda l0: (abs(l0 - 100), l0))]
        assert sae_id_for_block(spec, "galaxy", block) == closest
        assert canonical[f"layer_{block}/width_65k/canonical"] == available[closest]
        l0s.append(int(closest.rsplit("_", 1)[1]))
    # CLAIMS.md: one L0 per layer, from 70 to 128.
    assert min(l0s) == 70
    assert max(l0s) == 128


# --- one-line errors of bad definitions --------------------------------------

_GOOD_HUB_SUBJECT = """
[hubby]
description = "test"
kind = "hub-saes"
n_layers = 2
d_model = 8
corpus = "pile"
firing_threshold = 0.0
[hubby.model]
hub_id = "org/model"
[hubby.saes.brain]
release = "r"
sae_id = "layer_{layer}"
[hubby.saes.galaxy]
release = "r"
sae_ids = ["a", "b"]
"""


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("", "", None),
        ('sae_ids = ["a", "b"]', 'sae_ids = ["a"]', "field 'sae_ids' must list 2 SAE ids"),
        ('sae_id = "layer_{layer}"', 'sae_id = "layer_12"', r"field 'sae_id' 'layer_12' has no \{layer\}"),
        ('release = "r"\nsae_id', 'releas = "r"\nsae_id', r"saes.brain has unknown field\(s\) releas"),
        ('hub_id = "org/model"', 'hub_id = "org/model"\nhub = 1', r"\[hubby.model\] has unknown field\(s\) hub"),
        ('hub_id = "org/model"', "hub_id = 3", "needs hub_id"),
        ("[hubby.saes.galaxy]", "[hubby.saes.galaxi]", r"needs \[hubby.saes.galaxy\]"),
        ('sae_ids = ["a", "b"]', 'sae_ids = ["a", "b"]\nwidth = "big"', "field 'width' has the invalid value 'big'"),
    ],
)
def test_hub_subject_field_errors_are_one_line(tmp_path, old, new, expected):
    path = tmp_path / "subjects.toml"
    path.write_text(_GOOD_HUB_SUBJECT.replace(old, new, 1) if old else _GOOD_HUB_SUBJECT)
    if expected is None:
        assert read_subjects_file(path)["hubby"].saes["galaxy"]["sae_ids"] == ["a", "b"]
        return
    with pytest.raises(SubjectError, match=expected) as error:
        read_subjects_file(path)
    assert "\n" not in str(error.value)


# --- loading through sae-lens -------------------------------------------------


def test_jumprelu_threshold_must_be_per_feature():
    check_jumprelu_threshold({"threshold": torch.zeros(8)}, {"architecture": "jumprelu", "d_sae": 8}, "r/id")
    check_jumprelu_threshold({}, {"architecture": "standard", "d_sae": 8}, "r/id")
    for threshold in (torch.tensor(0.1), torch.zeros(1, 8), None):
        with pytest.raises(SAEFileError, match="not one value per feature") as error:
            check_jumprelu_threshold({"threshold": threshold} if threshold is not None else {}, {"architecture": "jumprelu", "d_sae": 8}, "r/id")
        assert "\n" not in str(error.value)


def test_scalar_jumprelu_threshold_refused_at_load(tmp_path, monkeypatch):
    """A Gemma Scope params.npz whose threshold is one number is refused before sae-lens builds the SAE."""
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    width, d_model = 16, TINY_D_MODEL
    rng = np.random.default_rng(0)
    file = tmp_path / "params.npz"
    np.savez(
        file, W_enc=rng.standard_normal((d_model, width)).astype(np.float32), W_dec=rng.standard_normal((width, d_model)).astype(np.float32),
        b_enc=np.zeros(width, np.float32), b_dec=np.zeros(d_model, np.float32), threshold=np.float32(0.5),
    )
    folder = _sae_directory()["gemma-scope-2b-pt-res-canonical"].saes_map["layer_0/width_16k/canonical"]
    HubCacheWriter(tmp_path / "hub", "google/gemma-scope-2b-pt-res").add(f"{folder}/params.npz", file)

    with pytest.raises(SAEFileError, match=r"threshold of shape \(\), not one value per feature"):
        load_hub_sae("gemma-scope-2b-pt-res-canonical", "layer_0/width_16k/canonical", 0, d_model, width)


@pytest.mark.parametrize(
    ("release", "sae_id", "block", "width", "architecture"),
    [
        ("gemma-scope-2b-pt-res-canonical", "layer_1/width_16k/canonical", 1, TINY_WIDTHS[16384], "jumprelu"),
        ("gemma-scope-2b-pt-res", "layer_2/width_65k/average_l0_77", 2, TINY_WIDTHS[65536], "jumprelu"),
        ("gpt2-small-res-jb", "blocks.1.hook_resid_pre", 0, TINY_WIDTHS[24576], "standard"),
        ("pythia-70m-deduped-res-sm", "blocks.2.hook_resid_post", 2, TINY_WIDTHS[32768], "standard"),
    ],
)
def test_load_hub_sae_records_details(offline_hub, release, sae_id, block, width, architecture):
    sae = load_hub_sae(release, sae_id, block, TINY_D_MODEL, width)
    details = sae.details
    assert (details["release"], details["sae_id"], details["reads_block"], details["width"], details["architecture"]) == (release, sae_id, block, width, architecture)
    assert details["sae_lens_version"]
    assert details["decoder_norm_min"] <= details["decoder_norm_median"] <= details["decoder_norm_max"]
    assert sae.W_dec.shape == (width, TINY_D_MODEL)
    assert sae.encode(torch.zeros(2, TINY_D_MODEL)).shape == (2, width)


def test_sae_listed_for_the_wrong_block_is_refused(offline_hub):
    # blocks.1.hook_resid_pre reads block 0's output, so listing it for block 1 is an off-by-one.
    with pytest.raises(SAEFileError, match="reads the output of block 0, but the subject lists it for block 1"):
        load_hub_sae("gpt2-small-res-jb", "blocks.1.hook_resid_pre", 1, TINY_D_MODEL, TINY_WIDTHS[24576])


def test_missing_sae_says_hub_unreachable(tmp_path, monkeypatch):
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "empty"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(HubUnavailableError, match="not in the hub cache"):
        load_hub_sae("gpt2-small-res-jb", "blocks.1.hook_resid_pre", 0, 768)


# --- hub access, device and batch sizes --------------------------------------


def test_hub_unavailable_message_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "empty"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(HubUnavailableError) as error:
        check_hub_access(find_subject("gemma-2-2b"))
    message = str(error.value)
    assert "\n" not in message
    for part in ("google/gemma-2-2b", "not in the hub cache", "HF_HUB_OFFLINE is set", "gated", "HF_TOKEN", "--model smollm2-135m runs offline"):
        assert part in message
    assert "gated" not in hub_unavailable_message(find_subject("gpt2-small"))


def test_cached_model_passes_hub_check(offline_hub):
    for name in HUB_SUBJECTS:
        check_hub_access(find_subject(name))


def test_forward_dtype_bf16_on_cuda_only():
    assert forward_dtype("cpu") == torch.float32
    assert forward_dtype("cuda") == torch.bfloat16
    assert forward_dtype("cuda:1") == torch.bfloat16


def test_fitted_batch_size_follows_free_memory():
    gemma = SimpleNamespace(hidden_size=2304, intermediate_size=9216, num_attention_heads=8, vocab_size=256000)
    per_sequence = sequence_bytes(gemma, 1024, recorded_layers=26)
    # Logits alone are 1 GiB per 1,024-token sequence of Gemma 2 (256k vocabulary, float32).
    assert per_sequence > 2**30
    sizes = [fitted_batch_size(gib * 2**30, per_sequence) for gib in (1, 20, 80, 130)]
    assert sizes[0] == 1
    assert sizes == sorted(sizes)
    assert 20 <= sizes[-1] < LARGEST_BATCH_SIZE
    assert fitted_batch_size(10**15, 1) == LARGEST_BATCH_SIZE


def test_forward_batch_size_unchanged_on_cpu():
    loaded = LoadedModel(model=torch.nn.Linear(2, 2), tokenizer=None, bos_token_id=0, device="cpu")
    assert forward_batch_size(loaded, 256, 3, default=8) == 8


# --- the real code path, end to end, offline ---------------------------------


def _offline_env(hub_home: Path) -> dict:
    return {**os.environ, **hub_environment(hub_home), "PYTHONUNBUFFERED": "1"}


def test_gemma_without_cache_ends_with_one_line(tmp_path):
    """Item 6 of the issue: no cache, no hub, one line on stderr."""
    command = [sys.executable, "-m", "pytest", "claims/", "-p", "no:cacheprovider", "-q", "--model", "gemma-2-2b", "--cache-dir", str(tmp_path / "cache"), "--report-dir", str(tmp_path / "reports")]
    result = subprocess.run(command, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300, env=_offline_env(tmp_path / "empty-hf-home"))
    error_lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode != 0
    assert len(error_lines) == 1, result.stderr
    for part in ("google/gemma-2-2b", "HF_TOKEN", "--model smollm2-135m runs offline"):
        assert part in error_lines[0]
    assert not (tmp_path / "reports").exists()


def test_tiny_gemma_smoke_reaches_every_verdict(hub_home, tmp_path):
    """The built-in gemma-2-2b definition, sizes shrunk, runs every claim offline through sae-lens and transformers."""
    command = [
        sys.executable, "-m", "pytest", "claims/", "-p", "no:cacheprovider", "-q", "--model", "gemma-2-2b", "--subjects", str(hub_home / "tiny-subjects.toml"),
        "--budget", "smoke", "--corpus", "local-mix", "--device", "auto", "--cache-dir", str(tmp_path / "cache"), "--report-dir", str(tmp_path / "reports"),
    ]
    result = subprocess.run(command, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=900, env=_offline_env(hub_home))
    results = read_results(tmp_path / "reports")

    assert result.returncode in (0, 1), result.stdout[-3000:] + result.stderr[-3000:]
    assert set(verdicts(results)) == ALL_CLAIMS
    assert set(verdicts(results).values()) <= {"holds", "does not hold"}, result.stdout[-3000:]
    settings = results["run"]["settings"]
    assert settings["model: attention implementation (checked after loading)"] == "eager"
    assert settings["model: revision"] == COMMIT
    assert "<bos>" in settings["model: BOS token"]
    rows = results["run"]["sae_quality"]
    # Galaxy SAEs at every analysed layer; the brain SAE at the middle one.
    assert {(row["scale"], row["layer"]) for row in rows} == {*(("galaxy", layer) for layer in results["run"]["layers"]), ("brain", 1)}
    for row in rows:
        assert row["architecture"] == "jumprelu"
        assert row["sae_lens_version"]
        assert row["reads_block"] == row["layer"]
        assert row["release"] == ("gemma-scope-2b-pt-res" if row["scale"] == "galaxy" else "gemma-scope-2b-pt-res-canonical")


_SUBJECT_PROBE = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    from harness.budgets import get_budget
    from harness.cache import Cache
    from harness.relations import load_relations
    from harness.subjects import RunSettings, find_subject, open_subject

    subjects_file, cache_dir, relations_dir, *names = sys.argv[1:]
    relations = load_relations(Path(relations_dir))
    probes = {}
    for name in names:
        spec = find_subject(name, Path(subjects_file))
        settings = RunSettings(budget=get_budget("smoke"), layers=(0, 2), seed=0, device="cpu", cache=Cache(Path(cache_dir)), corpus="local-mix")
        subject = open_subject(spec, settings)
        directions = subject.feature_directions(2)
        cloud = subject.activation_point_cloud(0)
        firing = subject.chunk_firing(2)
        words = subject.word_representations(relations)
        probes[name] = {
            "directions": list(directions.shape),
            "decoder": list(subject.decoder_directions(2).shape),
            "cloud": list(cloud.shape),
            "cloud_mean_abs": float(abs(cloud.mean(axis=1)).max()),
            "chunks": list(firing.firing.shape),
            "chunk_firing_rate": float(firing.firing.mean()),
            "words": len(words.words),
            "word_layers": sorted(words.vectors),
            "quality": subject.sae_quality(),
            "details": subject.model_details,
            "data_key": subject.data_key(2),
        }
    print(json.dumps(probes))
    """
)

_PAIRS = "# source: test\n" + "\n".join(f"{left}\t{right}" for left, right in zip(
    ["one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"],
    ["eins", "zwei", "drei", "vier", "fuenf", "sechs", "sieben", "acht", "neun", "zehn"],
)) + "\n"


def test_tiny_sae_lens_subjects_serve_every_stage(hub_home, tmp_path):
    """gpt2-small and pythia-70m-deduped: every method the claims call, built-in definitions with sizes shrunk, offline."""
    relations = tmp_path / "relations"
    relations.mkdir()
    (relations / "english-german.tsv").write_text(_PAIRS)
    names = ["gpt2-small", "pythia-70m-deduped"]
    command = [sys.executable, "-c", _SUBJECT_PROBE, str(hub_home / "tiny-subjects.toml"), str(tmp_path / "cache"), str(relations), *names]
    result = subprocess.run(command, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=600, env=_offline_env(hub_home))
    assert result.returncode == 0, result.stderr[-3000:]
    probes = json.loads(result.stdout.strip().splitlines()[-1])

    for name in names:
        probe = probes[name]
        width = TINY_WIDTHS[find_subject(name).saes["galaxy"]["width"]]
        assert probe["decoder"] == [width, TINY_D_MODEL]
        assert 0 < probe["directions"][0] <= width
        assert probe["directions"][1] == TINY_D_MODEL
        assert probe["cloud"][1] == TINY_D_MODEL
        assert probe["cloud"][0] > 1000
        assert probe["chunks"][1] == width
        assert 0 < probe["chunk_firing_rate"] < 1
        assert probe["words"] == 20
        assert probe["word_layers"] == [0, 1]
        assert probe["details"]["BOS token"].startswith("'<|endoftext|>'")
        assert {(row["scale"], row["layer"]) for row in probe["quality"]} == {("galaxy", 2), ("brain", 2)}
        assert {row["architecture"] for row in probe["quality"]} == {"standard"}
        assert {row["reads_block"] for row in probe["quality"]} == {2}
        expected_sae = "blocks.3.hook_resid_pre" if name == "gpt2-small" else "blocks.2.hook_resid_post"
        assert probe["data_key"]["galaxy"]["sae"]["sae_id"] == expected_sae

    # The residual stream the jb SAEs read is centred over d_model (TransformerLens's center_writing_weights); Pythia's is not.
    assert probes["gpt2-small"]["cloud_mean_abs"] < 1e-2
    assert probes["gpt2-small"]["details"]["residual centred over d_model"] == "True"
    assert all("center_writing_weights" in row["model_from_pretrained_kwargs"] for row in probes["gpt2-small"]["quality"])
    assert probes["pythia-70m-deduped"]["details"]["residual centred over d_model"] == "False"
