"""Tests for harness.report: both files, self-contained HTML, strict JSON and atomic writes."""

import copy
import html
import json
import math
import os
import re

import matplotlib.pyplot as plt
import numpy as np
import pytest

import harness.report
from harness.report import format_number, write_report
from harness.report.figures import render_figure

ALLOWED_URLS = {"http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink"}
ERROR_TEXT = "RuntimeError: CUDA out of memory while collecting activations at layer 6"


def _spectrum(alpha: float, size: int, scale: float = 1.0) -> list[float]:
    rank = np.arange(1, size + 1)
    return (scale * rank ** (-alpha)).tolist()


def _build_results() -> dict:
    ranks = list(range(1, 2305))
    spectra = {
        "kind": "loglog-spectra",
        "title": "Decoder covariance spectra",
        "x_label": "rank",
        "y_label": "eigenvalue",
        "series": [
            {"label": f"layer {layer}", "rank": ranks, "eigenvalue": _spectrum(alpha, len(ranks))}
            for layer, alpha in ((0, 0.9), (3, 1.1), (6, 1.3))
        ],
        "reference": {"label": "Gaussian null", "rank": ranks, "eigenvalue": _spectrum(0.2, len(ranks), 0.01)},
        "fit_range": [10, 150],
    }
    spectra["series"][0]["eigenvalue"][-1] = 0.0  # must be dropped, not crash the log axis
    spectra["series"][1]["eigenvalue"][-2] = -1e-9

    profile = {
        "kind": "layer-profile",
        "title": "Power-law exponent by layer",
        "x_label": "layer",
        "y_label": "alpha",
        "series": [
            {"label": "SAE decoder", "layer": [0, 3, 6], "value": [1.1, 1.25, 1.32], "low": [1.0, 1.2, 1.3], "high": [1.2, 1.3, 1.4]},
            {"label": "shuffled", "layer": [0, 3, 6], "value": [0.5, 0.55, None], "low": None, "high": None},
        ],
        "null_band": {"label": "Gaussian null (95 %)", "layer": [0, 3, 6], "low": [0.19, 0.2, 0.2], "high": [0.23, 0.24, 0.22]},
        "thirds": [2.0, 4.0],
        "reference_line": 0.0,
    }

    return {
        "run": {
            "subject": "smollm2-135m",
            "subject_description": "SmolLM2-135M-Instruct with top-k SAEs trained here",
            "budget": "standard",
            "layers": [0, 3, 6],
            "n_layers": 30,
            "seed": 0,
            "device": "cpu",
            "started": "2026-12-04T20:00:00+00:00",
            "finished": "2026-12-04T20:13:32+00:00",
            "duration_s": 812.3,
            "versions": {"python": "3.11.7", "torch": "2.13.0", "sae_lens": "6.54.12"},
            "timings": {"activations": 301.2, "sae training": 350.0, "galaxy statistics": 60.1},
            "sae_quality": [
                {"layer": layer, "n_features": 2304, "k": 32, "training_samples": 150000,
                 "fraction_variance_explained": fve, "mean_l0": 32.0, "dead_fraction": dead}
                for layer, fve, dead in ((0, 0.903, 0.039), (3, 0.871, 0.0123), (6, 0.8456789, 0.00042))
            ],
            "settings": {"cache_dir": "/tmp/cache", "command": "pytest claims/ --model smollm2-135m", "batch_size": 32},
        },
        "claims": [
            {
                "id": "galaxy.power-law",
                "scale": "galaxy",
                "statement": "Decoder covariance eigenvalues follow a power law steeper than a Gaussian null.",
                "paper_finding": "Power law at every layer, exponent well above an i.i.d. Gaussian matrix.",
                "verdict": "holds",
                "message": "median alpha 1.25 [1.2, 1.3] against null 0.21.\nAll 3 layers pass.",
                "threshold": "alpha interval above the null interval at every layer",
                "observed": {"name": "median exponent alpha over layers", "value": 1.2345678, "interval": [1.1, 1.3]},
                "null": {"name": "Gaussian matrix of the same shape", "value": 0.21, "interval": [0.19, 0.23]},
                "per_layer": [
                    {"layer": 0, "alpha": 1.1, "alpha_low": 1.0, "alpha_high": 1.2, "r_squared": 0.98123, "passes": True},
                    {"layer": 3, "alpha": 1.25, "alpha_low": 1.2, "alpha_high": 1.3, "r_squared": 0.99, "passes": True},
                    {"layer": 6, "alpha": 1.32, "alpha_low": 1.3, "alpha_high": 1.4, "r_squared": 0.97, "passes": False, "note": "short fit"},
                ],
                "figures": [spectra, profile],
            },
            {
                "id": "brain.modularity",
                "scale": "brain",
                "statement": "Features that co-occur are spatially clustered into lobes.",
                "paper_finding": "Co-occurrence lobes align with spatial clusters far above chance.",
                "verdict": "does not hold",
                "message": "adjusted mutual information 0.0004 against null 0.0003.",
                "threshold": "AMI above the 99th percentile of the shuffled null",
                "observed": {"name": "adjusted mutual information", "value": 0.0004, "interval": None},
                "null": {"name": "shuffled co-occurrence", "value": 0.0003, "interval": [0.0001, 0.0006]},
                "per_layer": [{"layer": 3, "ami": 0.0004, "p_value": 0.31, "passes": False}],
                "figures": [],
            },
            {
                "id": "atom.parallelograms",
                "scale": "atom",
                "statement": "Crystals such as man:woman::king:queen appear after projecting out distractors.",
                "paper_finding": "LDA projection reveals parallelograms.",
                "verdict": "error",
                "message": ERROR_TEXT + "\nTraceback (most recent call last): ...",
                "threshold": "",
                "observed": None,
                "null": None,
                "per_layer": [],
                "figures": [],
            },
        ],
        "summary": {"holds": 1, "does not hold": 1, "error": 1, "not evaluable": 0},
    }


@pytest.fixture
def results() -> dict:
    return _build_results()


@pytest.fixture
def written(results, tmp_path):
    report_path = write_report(results, tmp_path / "out")
    return report_path, report_path.read_text(encoding="utf-8")


def test_writes_both_files(written, tmp_path):
    report_path, _ = written

    assert report_path == tmp_path / "out" / "report.html"
    assert report_path.is_file()
    assert (tmp_path / "out" / "results.json").is_file()


def test_report_lists_claims_and_verdicts(written, results):
    _, page = written

    for claim in results["claims"]:
        assert claim["id"] in page
        assert claim["verdict"] in page
    assert "concept-geometry report: smollm2-135m, standard budget" in page


def test_report_inlines_svg(written):
    _, page = written

    assert page.count("<svg") == 2
    assert "<?xml" not in page
    assert "<!DOCTYPE svg" not in page


def test_report_has_no_external_resources(written):
    _, page = written

    assert "<script src" not in page.lower()
    assert "<link" not in page.lower()
    assert 'src="http' not in page
    assert "url(http" not in page
    assert set(re.findall(r"https?://[^\"'\s<>)]*", page)) <= ALLOWED_URLS


def test_svg_ids_unique_in_page(written):
    _, page = written

    ids = re.findall(r'\bid="([^"]+)"', page)

    assert len(ids) == len(set(ids))
    for reference in re.findall(r'href="#([^"]+)"', page):
        assert reference in ids


def test_figures_closed_after_report(written):
    assert plt.get_fignums() == []


def test_results_json_round_trips(written, results, tmp_path):
    text = (tmp_path / "out" / "results.json").read_text(encoding="utf-8")

    assert json.loads(text) == results
    assert text == json.dumps(results, indent=2, sort_keys=False, allow_nan=False)


@pytest.mark.parametrize(
    ("bad_value", "location", "expected_path"),
    [
        (math.nan, ("claims", 1, "observed", "value"), "claims[1].observed.value"),
        (math.inf, ("claims", 0, "per_layer", 2, "alpha"), "claims[0].per_layer[2].alpha"),
        (-math.inf, ("claims", 0, "figures", 0, "series", 1, "eigenvalue", 1500), "claims[0].figures[0].series[1].eigenvalue[1500]"),
        (np.float64("nan"), ("run", "duration_s"), "run.duration_s"),
    ],
)
def test_non_finite_value_names_path(results, tmp_path, bad_value, location, expected_path):
    container = results
    for key in location[:-1]:
        container = container[key]
    container[location[-1]] = bad_value

    with pytest.raises(ValueError, match=re.escape(expected_path)):
        write_report(results, tmp_path / "out")

    assert not (tmp_path / "out" / "results.json").exists()
    assert not (tmp_path / "out" / "report.html").exists()


def test_unknown_figure_kind_renders_note(results, tmp_path):
    results["claims"][1]["figures"] = [{"kind": "umap-scatter", "title": "not drawn"}, "not a dict"]

    page = write_report(results, tmp_path).read_text(encoding="utf-8")

    assert "figure kind &#x27;umap-scatter&#x27; not supported" in page
    assert "figure spec is a str" in page


def test_malformed_figure_renders_note(results, tmp_path):
    figure = results["claims"][0]["figures"][0]
    figure["series"][0]["rank"] = figure["series"][0]["rank"][:10]

    page = write_report(results, tmp_path).read_text(encoding="utf-8")

    assert "could not be drawn" in page
    assert "series[0] has 10 rank values but 2304 eigenvalue values" in page
    assert page.count("<svg") == 1
    assert plt.get_fignums() == []


def test_no_temporary_files_left(written, tmp_path):
    assert sorted(path.name for path in (tmp_path / "out").iterdir()) == ["report.html", "results.json"]


@pytest.mark.parametrize("failing_fsync_call", [1, 2])
def test_failed_write_leaves_no_partial_file(results, tmp_path, monkeypatch, failing_fsync_call):
    # The temporary file already contains the text when fsync runs, so failing there models
    # a disk error after the data is written but before the rename.
    real_fsync = os.fsync
    calls = []

    def failing_fsync(descriptor):
        calls.append(descriptor)
        if len(calls) == failing_fsync_call:
            raise OSError(28, "No space left on device")
        real_fsync(descriptor)

    monkeypatch.setattr(harness.report.os, "fsync", failing_fsync)

    with pytest.raises(OSError, match="No space left"):
        write_report(results, tmp_path)

    names = sorted(path.name for path in tmp_path.iterdir())
    if failing_fsync_call == 1:
        assert names == []
    else:
        assert names == ["results.json"]
        assert json.loads((tmp_path / "results.json").read_text(encoding="utf-8")) == results


def test_failed_write_keeps_previous_files(results, tmp_path, monkeypatch):
    write_report(results, tmp_path)
    previous_json = (tmp_path / "results.json").read_text(encoding="utf-8")
    previous_page = (tmp_path / "report.html").read_text(encoding="utf-8")
    changed = copy.deepcopy(results)
    changed["run"]["seed"] = 1

    def failing_replace(source, target):
        raise OSError("rename failed")

    monkeypatch.setattr(harness.report.os, "replace", failing_replace)

    with pytest.raises(OSError, match="rename failed"):
        write_report(changed, tmp_path)

    assert (tmp_path / "results.json").read_text(encoding="utf-8") == previous_json
    assert (tmp_path / "report.html").read_text(encoding="utf-8") == previous_page
    assert sorted(path.name for path in tmp_path.iterdir()) == ["report.html", "results.json"]


def test_failed_render_writes_nothing(results, tmp_path, monkeypatch):
    def failing_render(results):
        raise RuntimeError("render failed")

    monkeypatch.setattr(harness.report, "render_report", failing_render)

    with pytest.raises(RuntimeError, match="render failed"):
        write_report(results, tmp_path / "out")

    assert not (tmp_path / "out" / "results.json").exists()
    assert not (tmp_path / "out" / "report.html").exists()


def test_error_claim_shows_message(written):
    _, page = written

    assert ERROR_TEXT in page
    section = page.split('id="claim-atom.parallelograms"')[1].split("</section>")[0]
    assert "error" in section
    assert "<svg" not in section


def test_claim_without_optional_keys(tmp_path):
    minimal = {"claims": [{"id": "galaxy.power-law", "verdict": "error", "message": "boom"}, {}]}

    page = write_report(minimal, tmp_path).read_text(encoding="utf-8")

    assert "boom" in page
    assert "no saes trained for this subject" in page.lower()
    assert "1 error" in page


def test_text_from_results_is_escaped(results, tmp_path):
    results["claims"][0]["statement"] = "<script>alert('x')</script> & more"
    results["run"]["settings"]["command"] = '"><img src=x>'

    page = write_report(results, tmp_path).read_text(encoding="utf-8")

    assert "<script>" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; more" in page
    assert "<img" not in page


def test_per_layer_table_formats_cells(written):
    _, page = written

    assert "0.9812" in page
    assert ">yes<" in page
    assert ">no<" in page
    assert ">short fit<" in page
    assert "1.235 [1.1, 1.3]" in page
    brain_section = page.split('id="claim-brain.modularity"')[1].split("</section>")[0]
    assert ">4e-4<" in brain_section


def test_run_section_tables(written):
    _, page = written
    run = page.split('id="run"')[1]

    for text in ("sae_lens", "6.54.12", "sae training", "43.1 %", "812.3 s (13 min 32 s)", "0.8457", "4.2e-4", "150000", "/tmp/cache"):
        assert text in run


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, "—"),
        (0, "0"),
        (0.0, "0"),
        (150000, "150000"),
        (12345678, "12345678"),
        (np.int64(7), "7"),
        (True, "yes"),
        (32.0, "32"),
        (0.903, "0.903"),
        (1.2345678, "1.235"),
        (-1.2345678, "-1.235"),
        (812.3, "812.3"),
        (12345.6, "12350"),
        (9.99996, "10"),
        (0.001, "0.001"),
        (0.00042, "4.2e-4"),
        (-1.23456e-7, "-1.235e-7"),
        (1e6, "1e6"),
        (2.5e9, "2.5e9"),
        (np.float32(0.5), "0.5"),
        (math.nan, "NaN"),
        ("text", "text"),
    ],
)
def test_format_number(value, expected):
    assert format_number(value) == expected


def test_render_figure_many_series_uses_colour_bar():
    spec = {
        "kind": "loglog-spectra",
        "title": "thirty layers",
        "series": [{"label": f"layer {layer}", "rank": [1, 2, 3], "eigenvalue": [1.0, 0.5, 0.2]} for layer in range(30)],
        "reference": None,
        "fit_range": None,
    }

    fragment = render_figure(spec, id_prefix="test-")

    assert fragment.startswith('<figure class="plot">')
    assert "layer 29" in fragment
    assert "layer 14" in fragment
    assert "layer 13" not in fragment


def test_circular_results_raise_value_error(results, tmp_path):
    results["run"]["settings"]["self"] = results["run"]["settings"]

    with pytest.raises(ValueError, match="Circular reference"):
        write_report(results, tmp_path)


@pytest.mark.parametrize(
    "spec",
    [
        {"kind": "loglog-spectra", "title": "nothing positive", "series": [{"label": "layer 0", "rank": [1, 2], "eigenvalue": [0.0, -1.0]}]},
        {"kind": "loglog-spectra", "title": "no series", "series": []},
        {"kind": "layer-profile", "title": "no series", "series": [], "null_band": None, "thirds": None, "reference_line": None},
        {"kind": "layer-profile", "title": "low only", "series": [{"label": "a", "layer": [0, 1], "value": [1.0, 2.0], "low": [0.5, 2.5], "high": None}]},
    ],
)
def test_render_figure_edge_cases_draw(spec, recwarn):
    fragment = render_figure(spec, id_prefix="edge-")

    assert fragment.startswith('<figure class="plot">')
    assert [str(warning.message) for warning in recwarn] == []


K_VALUES = [2, 3, 4, 8, 16]
AFFINITY_MEASURES = ("simple matching", "Jaccard", "Dice", "phi coefficient", "Pearson")


def _k_profile_spec() -> dict:
    return {
        "kind": "k-profile",
        "title": "Spatial-functional agreement by number of clusters",
        "x_label": "number of clusters k",
        "y_label": "adjusted mutual information",
        "series": [
            {
                "label": measure,
                "k": K_VALUES,
                "value": [0.05 * (index + 1) + 0.01 * step for step in range(len(K_VALUES))],
                "low": [0.05 * (index + 1) + 0.01 * step - 0.01 for step in range(len(K_VALUES))] if index % 2 == 0 else None,
                "high": [0.05 * (index + 1) + 0.01 * step + 0.015 for step in range(len(K_VALUES))] if index % 2 == 0 else None,
            }
            for index, measure in enumerate(AFFINITY_MEASURES)
        ],
        "null_band": {"label": "shuffled null (95 %)", "k": K_VALUES, "low": [0.0] * 5, "high": [0.02, 0.02, 0.025, 0.03, 0.03]},
        "reference_line": 0.0,
    }


def _scatter_spec(n_points: int = 20_000, n_groups: int = 3) -> dict:
    rng = np.random.default_rng(0)
    group = rng.integers(0, n_groups, size=n_points)
    centres = rng.normal(scale=4.0, size=(n_groups, 2))
    xy = centres[group] + rng.normal(size=(n_points, 2))
    return {
        "kind": "scatter",
        "title": "Features in 2-D, coloured by lobe",
        "x_label": "t-SNE 1",
        "y_label": "t-SNE 2",
        "points": {"x": xy[:, 0].tolist(), "y": xy[:, 1].tolist(), "group": group.tolist()},
        "group_labels": [f"lobe {index}" for index in range(n_groups)],
    }


def _heatmap_spec() -> dict:
    return {
        "kind": "heatmap",
        "title": "Fraction of chunks won by each lobe",
        "row_labels": ["code", "math", "chat", "papers", "web"],
        "column_labels": ["lobe 0", "lobe 1", "lobe 2"],
        "values": [
            [0.8125, 0.125, 0.0625],
            [0.1, 0.7, 0.2],
            [0.05, 0.15, 0.8],
            [0.3333333, 0.3333333, 0.3333334],
            [0.45, None, 0.55],
        ],
        "value_label": "fraction of chunks won",
        "annotate": True,
    }


@pytest.fixture
def results_with_new_kinds(results) -> dict:
    results["claims"][1]["figures"] = [_k_profile_spec(), _scatter_spec(), _heatmap_spec()]
    return results


def test_k_profile_with_null_band_and_several_series_renders_svg(recwarn):
    fragment = render_figure(_k_profile_spec(), id_prefix="k-")

    assert fragment.startswith('<figure class="plot">')
    assert "<svg" in fragment
    for label in (*AFFINITY_MEASURES, "shuffled null (95 %)", "number of clusters k"):
        assert label in fragment
    for k in K_VALUES:
        assert f">{k}<" in fragment
    assert [str(warning.message) for warning in recwarn] == []


def test_scatter_of_20000_points_stays_small():
    fragment = render_figure(_scatter_spec(n_points=20_000, n_groups=12), id_prefix="scatter-")

    assert "<svg" in fragment
    assert len(fragment.encode("utf-8")) < 1_000_000
    assert fragment.count("<image") == 1
    assert "lobe 11" in fragment


def test_heatmap_renders_svg_with_annotations():
    fragment = render_figure(_heatmap_spec(), id_prefix="heat-")

    assert "<svg" in fragment
    for text in ("fraction of chunks won", "papers", "lobe 2", ">0.8125<", ">0.3333<", ">0.125<", ">—<"):
        assert text in fragment


def test_heatmap_without_annotations_has_no_cell_numbers():
    spec = _heatmap_spec()
    spec["annotate"] = False

    fragment = render_figure(spec, id_prefix="heat-")

    assert "<svg" in fragment
    assert ">0.8125<" not in fragment


def test_heatmap_with_mismatched_shape_renders_note(results, tmp_path):
    spec = _heatmap_spec()
    spec["column_labels"] = ["lobe 0", "lobe 1"]
    results["claims"][1]["figures"] = [spec]

    page = write_report(results, tmp_path).read_text(encoding="utf-8")

    assert "values has shape 5 x 3 but there are 5 row_labels and 2 column_labels" in page
    assert page.count("<svg") == 2
    assert plt.get_fignums() == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda spec: spec["values"][1].pop(), "values rows differ in length: [2, 3]"),
        (lambda spec: spec.update(values=[]), "values has shape 0 x 0 but there are 5 row_labels"),
        (lambda spec: spec.update(row_labels=None), "row_labels must be a list of strings"),
        (lambda spec: spec["values"][0].__setitem__(0, "high"), "could not convert string to float"),
    ],
)
def test_malformed_heatmap_renders_note(change, message):
    spec = _heatmap_spec()
    change(spec)

    fragment = render_figure(spec, id_prefix="heat-")

    assert fragment.startswith('<p class="figure-note">')
    assert html.escape(message) in fragment


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({**_scatter_spec(10), "group_labels": ["only one"]}, "points.group contains 2 but there are only 1 group_labels"),
        ({**_scatter_spec(10), "points": {"x": [1.0, 2.0], "y": [1.0, 2.0], "group": [0]}}, "points has 2 x values but 1 group values"),
        ({**_scatter_spec(10), "points": {"x": [1.0], "y": [1.0], "group": [0.5]}}, "points.group must contain non-negative integers"),
        ({**_scatter_spec(10), "points": None}, "points must be a dict"),
        (
            {**_k_profile_spec(), "series": [{"label": "a", "k": [0, 2], "value": [0.1, 0.2]}], "null_band": None},
            "k must be at least 1 on the log2 axis, got [0.0]",
        ),
    ],
)
def test_malformed_scatter_and_k_profile_render_note(spec, message):
    fragment = render_figure(spec, id_prefix="bad-")

    assert fragment.startswith('<p class="figure-note">')
    assert html.escape(message) in fragment
    assert plt.get_fignums() == []


@pytest.mark.parametrize(
    "spec",
    [
        {**_scatter_spec(0), "group_labels": None},
        {**_scatter_spec(5, n_groups=25)},
        {"kind": "k-profile", "title": "no series", "series": [], "null_band": None, "reference_line": None},
        {"kind": "k-profile", "title": "one point", "series": [{"label": "a", "k": [4], "value": [0.3], "low": None, "high": None}]},
        {**_heatmap_spec(), "values": [[0.5] * 3] * 5},
        {**_heatmap_spec(), "values": [[None] * 3] * 5},
        {**_heatmap_spec(), "row_labels": ["only"], "column_labels": ["a rather long column label"], "values": [[1e-7]]},
    ],
)
def test_new_kind_edge_cases_draw(spec, recwarn):
    fragment = render_figure(spec, id_prefix="edge-")

    assert fragment.startswith('<figure class="plot">')
    assert [str(warning.message) for warning in recwarn] == []


def test_report_with_new_kinds_is_self_contained(results_with_new_kinds, tmp_path):
    page = write_report(results_with_new_kinds, tmp_path).read_text(encoding="utf-8")
    ids = re.findall(r'\bid="([^"]+)"', page)

    assert page.count("<svg") == 5
    assert "<p class=\"figure-note\">" not in page
    assert len(ids) == len(set(ids))
    for reference in re.findall(r'href="#([^"]+)"', page):
        assert reference in ids
    assert set(re.findall(r"https?://[^\"'\s<>)]*", page)) <= ALLOWED_URLS
    assert plt.get_fignums() == []


def test_x_profile_draws_integer_ticks_and_null_band(recwarn):
    spec = {
        "kind": "x-profile",
        "title": "Held-out silhouette against components",
        "x_label": "components",
        "series": [{"label": "LDA", "x": [1, 2, 3], "value": [0.1, 0.3, 0.4], "low": [0.0, 0.2, 0.3], "high": [0.2, 0.4, 0.5]}],
        "null_band": {"label": "permuted labels", "x": [1, 2, 3], "low": [-0.1, -0.1, -0.1], "high": [0.0, 0.0, 0.0]},
        "reference_line": 0.0,
    }

    fragment = render_figure(spec, id_prefix="x-")

    assert fragment.startswith('<figure class="plot">')
    for text in ("permuted labels", "components", ">3<"):
        assert text in fragment
    assert [str(warning.message) for warning in recwarn] == []


def test_scatter_fit_line_in_legend():
    spec = {**_scatter_spec(20, n_groups=1), "line": {"x": [-2.0, 2.0], "y": [-1.0, 1.0], "label": "least-squares fit"}}

    fragment = render_figure(spec, id_prefix="line-")

    assert fragment.startswith('<figure class="plot">')
    assert "least-squares fit" in fragment


def test_scatter_with_malformed_line_renders_note():
    spec = {**_scatter_spec(20, n_groups=1), "line": {"x": [0.0, 1.0], "y": [0.0]}}

    fragment = render_figure(spec, id_prefix="line-")

    assert fragment.startswith('<p class="figure-note">')
