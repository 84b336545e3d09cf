"""End-to-end runs of `pytest claims/` in a subprocess, as a user runs it."""

import json
import os
import subprocess
import sys
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
GALAXY_CLAIMS = {"galaxy.power-law", "galaxy.slope-peaks-mid", "galaxy.sae-steeper", "galaxy.entropy-dip"}
BRAIN_CLAIMS = {"brain.lobes-ami", "brain.lobes-predictable", "brain.phi-strongest", "brain.math-code-lobe"}
ATOM_CLAIMS = {"atom.relation-clusters", "atom.lda-sharpens", "atom.length-distractor", "atom.parallelograms"}
ALL_CLAIMS = GALAXY_CLAIMS | BRAIN_CLAIMS | ATOM_CLAIMS


def run_claims(*options: str, cache_dir: Path, report_dir: Path, timeout: int = 900) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "pytest", "claims/", "-p", "no:cacheprovider", "-q", "--cache-dir", str(cache_dir), "--report-dir", str(report_dir), *options]
    return subprocess.run(command, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=timeout, env={**os.environ, "PYTHONUNBUFFERED": "1"})


def read_results(report_dir: Path) -> dict:
    folders = sorted(report_dir.iterdir())
    assert len(folders) == 1, f"expected one report folder, found {folders}"
    assert (folders[0] / "report.html").is_file()
    return json.loads((folders[0] / "results.json").read_text())


def verdicts(results: dict) -> dict[str, str]:
    return {claim["id"]: claim["verdict"] for claim in results["claims"]}


def observed_values(results: dict) -> dict[str, float]:
    return {claim["id"]: claim["observed"]["value"] for claim in results["claims"]}


def test_unknown_model_one_line_error(tmp_path):
    result = run_claims("--model", "nope", cache_dir=tmp_path / "cache", report_dir=tmp_path / "reports")
    error_lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode != 0
    assert len(error_lines) == 1, result.stderr
    assert "unknown --model 'nope'" in error_lines[0]
    assert "smollm2-135m" in error_lines[0]
    assert not (tmp_path / "reports").exists()


def test_layer_out_of_range_one_line_error(tmp_path):
    result = run_claims("--layers", "99", cache_dir=tmp_path / "cache", report_dir=tmp_path / "reports")
    error_lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode != 0
    assert len(error_lines) == 1, result.stderr
    assert "valid layers are 0 to 29" in error_lines[0]


def test_malformed_relation_file_one_line_error(tmp_path):
    relations = tmp_path / "relations"
    relations.mkdir()
    (relations / "colour-fruit.tsv").write_text("# source: general knowledge\nred\tcherry\nyellow banana\n")

    result = run_claims("--model", "gaussian-null", "--relations", str(relations), cache_dir=tmp_path / "cache", report_dir=tmp_path / "reports")
    error_lines = [line for line in result.stderr.splitlines() if line.strip()]

    assert result.returncode != 0
    assert len(error_lines) == 1, result.stderr
    assert "colour-fruit.tsv, line 3" in error_lines[0]
    assert not (tmp_path / "reports").exists()


def test_unknown_budget_one_line_error(tmp_path):
    result = run_claims("--budget", "huge", cache_dir=tmp_path / "cache", report_dir=tmp_path / "reports")
    error_lines = [line for line in result.stderr.splitlines() if line.strip()]

    assert result.returncode != 0
    assert len(error_lines) == 1, result.stderr
    assert "unknown --budget 'huge'; choose one of: smoke, standard, paper" in error_lines[0]


def test_missing_corpus_file_one_line_error(tmp_path):
    result = run_claims("--corpus", str(tmp_path / "missing.jsonl"), cache_dir=tmp_path / "cache", report_dir=tmp_path / "reports")
    error_lines = [line for line in result.stderr.splitlines() if line.strip()]

    assert result.returncode != 0
    assert len(error_lines) == 1, result.stderr
    assert "missing.jsonl not found" in error_lines[0]
    assert not (tmp_path / "reports").exists()


def test_gaussian_null_fails_every_claim(tmp_path):
    result = run_claims("--model", "gaussian-null", "--budget", "smoke", cache_dir=tmp_path / "cache", report_dir=tmp_path / "reports")
    results = read_results(tmp_path / "reports")

    assert result.returncode == 1, result.stdout[-3000:]
    assert verdicts(results) == {claim: "does not hold" for claim in ALL_CLAIMS}
    for claim in results["claims"]:
        assert claim["observed"]["value"] is not None
        assert claim["null"]["value"] is not None
        assert claim["message"] in result.stdout
        assert "threshold" in claim["message"].lower(), claim["id"]
        assert "null" in claim["message"].lower() or "gaussian" in claim["message"].lower(), claim["id"]


def test_same_seed_same_numbers(tmp_path):
    for run in ("first", "second"):
        run_claims("--model", "gaussian-null", "--budget", "smoke", "--seed", "3", cache_dir=tmp_path / run / "cache", report_dir=tmp_path / run / "reports")

    first = read_results(tmp_path / "first" / "reports")
    second = read_results(tmp_path / "second" / "reports")
    assert observed_values(first) == observed_values(second)
    assert [claim["per_layer"] for claim in first["claims"]] == [claim["per_layer"] for claim in second["claims"]]


def test_truncated_cache_file_rebuilt(tmp_path):
    cache_dir = tmp_path / "cache"
    run_claims("--model", "gaussian-null", "--budget", "smoke", cache_dir=cache_dir, report_dir=tmp_path / "first")
    statistics_file = next((cache_dir / "galaxy-layer").glob("*/statistics.json"))
    statistics_file.write_bytes(statistics_file.read_bytes()[:100])

    result = run_claims("--model", "gaussian-null", "--budget", "smoke", "-o", "log_cli=true", cache_dir=cache_dir, report_dir=tmp_path / "second")

    assert "is corrupt" in result.stdout
    assert observed_values(read_results(tmp_path / "first")) == observed_values(read_results(tmp_path / "second"))


def test_smollm2_smoke_reaches_every_verdict(tmp_path):
    result = run_claims("--model", "smollm2-135m", "--budget", "smoke", cache_dir=tmp_path / "cache", report_dir=tmp_path / "reports", timeout=1200)
    results = read_results(tmp_path / "reports")

    assert result.returncode in (0, 1), result.stdout[-3000:] + result.stderr[-3000:]
    assert set(verdicts(results)) == ALL_CLAIMS
    assert set(verdicts(results).values()) <= {"holds", "does not hold"}, result.stdout[-3000:]
    assert len(results["run"]["sae_quality"]) == len(results["run"]["layers"])
    for row in results["run"]["sae_quality"]:
        assert 0 < row["fraction_variance_explained"] <= 1


def test_planted_lobes_survive_the_sae_path(tmp_path):
    result = run_claims("--model", "planted-sae", "--budget", "smoke", "-k", "lobes", cache_dir=tmp_path / "cache", report_dir=tmp_path / "reports")
    results = read_results(tmp_path / "reports")

    assert result.returncode == 0, result.stdout[-3000:]
    assert verdicts(results) == {"brain.lobes-ami": "holds", "brain.lobes-predictable": "holds"}
    assert results["run"]["sae_quality"][0]["fraction_variance_explained"] > 0.5
