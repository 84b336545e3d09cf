"""Galaxy scale: the shape of the SAE point cloud across layers.

`layer_statistics` measures one layer (spectra, exponents with bootstrap
draws, Gaussian nulls, subsampled clustering) and is cached per layer; the
four `measure_*` functions turn the statistics of all analysed layers into
one `Measurement` each.
"""

from __future__ import annotations

import logging

import numpy as np

from harness.geometry.entropy import subsample_clustering
from harness.geometry.spectra import (
    DEFAULT_RANK_RANGE,
    bootstrap_exponents,
    check_rank_range,
    covariance_spectrum,
    fit_power_law,
    gaussian_null_exponents,
    unit_rows,
)
from harness.stats import basic_bootstrap_interval, null_upper_bound, percentile_interval
from harness.verdicts import (
    CLAIMS,
    CONFIDENCE,
    DEPTH_THIRDS,
    POWER_LAW_MIN_R_SQUARED,
    SAE_STEEPER_MIN_LAYER_FRACTION,
    Measurement,
    MeasurementError,
)

logger = logging.getLogger(__name__)

GALAXY_STAGE_VERSION = 1
# The budget fields the per-layer statistics depend on; only these key their cache entries.
GALAXY_BUDGET_FIELDS = ("spectrum_bootstrap_draws", "gaussian_null_draws", "entropy_resamples", "entropy_max_points", "entropy_dimensions")


def layer_statistics(directions: np.ndarray, activations: np.ndarray, budget, rng: np.random.Generator) -> dict:
    """Measure one layer's point clouds; every value is JSON-ready.

    Parameters
    ----------
    directions : numpy.ndarray
        Unit decoder rows of the layer's live SAE features (n x d).
    activations : numpy.ndarray
        Raw residual-stream vectors of the layer on held-out text; a random
        subsample of n of them, scaled to unit length, is the activation cloud.
    budget : Budget
        Supplies the numbers of bootstrap draws, null draws and subsamples.
    rng : numpy.random.Generator
        The only source of randomness, so a seed fixes every number.
    """
    n_features, dimension = directions.shape
    check_rank_range(n_features, dimension, DEFAULT_RANK_RANGE)

    sae_spectrum = covariance_spectrum(directions)
    sae_fit = fit_power_law(sae_spectrum)
    sae_draws = bootstrap_exponents(directions, budget.spectrum_bootstrap_draws, rng)

    n_activations = min(n_features, len(activations))
    activation_cloud = unit_rows(activations[rng.choice(len(activations), size=n_activations, replace=False)])
    check_rank_range(len(activation_cloud), dimension, DEFAULT_RANK_RANGE)
    activation_spectrum = covariance_spectrum(activation_cloud)
    activation_fit = fit_power_law(activation_spectrum)
    activation_draws = bootstrap_exponents(activation_cloud, budget.spectrum_bootstrap_draws, rng)

    null_draws = gaussian_null_exponents(n_features, dimension, budget.gaussian_null_draws, rng)
    null_spectrum = covariance_spectrum(unit_rows(rng.standard_normal((n_features, dimension))))

    sample_size = min(budget.entropy_max_points, n_features // 2)
    clustering, gaussian_reference = subsample_clustering(directions, sample_size, budget.entropy_resamples, budget.entropy_dimensions, rng)

    return {
        "n_features": n_features,
        "dimension": dimension,
        "n_activations": len(activation_cloud),
        "sae": {**_fit_summary(sae_fit), "draws": sae_draws.tolist(), "spectrum": sae_spectrum.tolist()},
        "activations": {**_fit_summary(activation_fit), "draws": activation_draws.tolist(), "spectrum": activation_spectrum.tolist()},
        "gaussian_null": {"draws": null_draws.tolist(), "spectrum": null_spectrum.tolist()},
        "entropy": {
            "sample_size": sample_size,
            "dimensions": budget.entropy_dimensions,
            "clustering": clustering.tolist(),
            "gaussian_reference": gaussian_reference.tolist(),
        },
    }


def _fit_summary(fit) -> dict:
    return {"alpha": fit.alpha, "regression_interval": list(fit.interval), "r_squared": fit.r_squared}


def depth_thirds(layers: list[int], n_layers: int) -> dict[str, list[int]]:
    """Group layers into the early, middle and late thirds of the network's depth.

    Raises
    ------
    MeasurementError
        If a third holds no analysed layer, since a peak in the middle
        cannot then be tested.
    """
    early_end, late_start = DEPTH_THIRDS
    depth = {layer: layer / max(n_layers - 1, 1) for layer in layers}
    thirds = {
        "early": [layer for layer in layers if depth[layer] < early_end],
        "middle": [layer for layer in layers if early_end <= depth[layer] <= late_start],
        "late": [layer for layer in layers if depth[layer] > late_start],
    }
    empty = [name for name, members in thirds.items() if not members]
    if empty:
        raise MeasurementError(
            f"layers {layers} leave the {' and '.join(empty)} third(s) of the {n_layers}-layer network empty; "
            "analyse at least one layer in each third (e.g. --layers all)"
        )
    return thirds


def _third_boundaries(n_layers: int) -> list[float]:
    return [boundary * (n_layers - 1) for boundary in DEPTH_THIRDS]


def _middle_gap_draws(values_by_layer: dict[int, np.ndarray], thirds: dict[str, list[int]]) -> np.ndarray:
    """Per resample: the smaller of (middle mean - early mean) and (middle mean - late mean)."""
    def third_mean(name: str) -> np.ndarray:
        return np.mean([values_by_layer[layer] for layer in thirds[name]], axis=0)

    middle = third_mean("middle")
    return np.minimum(middle - third_mean("early"), middle - third_mean("late"))


def _layers(statistics: dict[int, dict]) -> list[int]:
    return sorted(statistics)


def measure_power_law(statistics: dict[int, dict]) -> Measurement:
    """Test `galaxy.power-law`: a good log-log fit, steeper than Gaussian clouds, at every layer."""
    claim = CLAIMS["galaxy.power-law"]
    rows = []
    for layer in _layers(statistics):
        layer_stats = statistics[layer]
        sae = layer_stats["sae"]
        low, high = basic_bootstrap_interval(sae["alpha"], np.array(sae["draws"]))
        null_bound = null_upper_bound(np.array(layer_stats["gaussian_null"]["draws"]))
        passes = sae["r_squared"] >= POWER_LAW_MIN_R_SQUARED and sae["alpha"] > null_bound
        rows.append(
            {
                "layer": layer,
                "alpha": sae["alpha"],
                "alpha_low": low,
                "alpha_high": high,
                "regression_low": sae["regression_interval"][0],
                "regression_high": sae["regression_interval"][1],
                "r_squared": sae["r_squared"],
                "null_alpha_bound": null_bound,
                "passes": passes,
            }
        )

    pooled_null = np.concatenate([statistics[layer]["gaussian_null"]["draws"] for layer in _layers(statistics)])
    alphas = np.array([row["alpha"] for row in rows])
    failing = [row["layer"] for row in rows if not row["passes"]]
    holds = not failing
    message = (
        f"alpha over ranks 10-150 ranges {alphas.min():.3f}-{alphas.max():.3f} (median {np.median(alphas):.3f}) across {len(rows)} layers; "
        f"Gaussian clouds of the same shape give {np.median(pooled_null):.3f} {_format_interval(percentile_interval(pooled_null))}; "
        f"R^2 ranges {min(row['r_squared'] for row in rows):.3f}-{max(row['r_squared'] for row in rows):.3f}. "
        + f"Threshold: at every layer R^2 >= {POWER_LAW_MIN_R_SQUARED} and alpha above the null's one-sided {CONFIDENCE:.0%} bound. "
        + ("Every layer passes." if holds else f"Layers failing: {failing}.")
    )

    layers = _layers(statistics)
    figures = [
        {
            "kind": "loglog-spectra",
            "title": "Covariance spectra of SAE decoder rows by layer",
            "x_label": "rank",
            "y_label": "eigenvalue",
            "series": [_spectrum_series(f"layer {layer}", statistics[layer]["sae"]["spectrum"]) for layer in layers],
            "reference": _spectrum_series("Gaussian null", statistics[layers[len(layers) // 2]]["gaussian_null"]["spectrum"]),
            "fit_range": list(DEFAULT_RANK_RANGE),
        }
    ]
    return Measurement(
        claim=claim,
        holds=holds,
        message=message,
        observed={"name": "median alpha over layers (range across layers)", "value": float(np.median(alphas)), "interval": [float(alphas.min()), float(alphas.max())]},
        null={"name": "alpha of Gaussian clouds of the same shape (pooled draws)", "value": float(np.median(pooled_null)), "interval": percentile_interval(pooled_null)},
        per_layer=rows,
        figures=figures,
    )


def _spectrum_series(label: str, spectrum: list[float]) -> dict:
    return {"label": label, "rank": list(range(1, len(spectrum) + 1)), "eigenvalue": spectrum}


def _format_interval(interval: list[float]) -> str:
    return f"[{interval[0]:.3f}, {interval[1]:.3f}]"


def measure_slope_peaks_mid(statistics: dict[int, dict], n_layers: int) -> Measurement:
    """Test `galaxy.slope-peaks-mid`: middle-third alpha above both early and late thirds."""
    claim = CLAIMS["galaxy.slope-peaks-mid"]
    layers = _layers(statistics)
    thirds = depth_thirds(layers, n_layers)

    sae_draws = {layer: np.array(statistics[layer]["sae"]["draws"]) for layer in layers}
    null_draws = {layer: np.array(statistics[layer]["gaussian_null"]["draws"]) for layer in layers}
    gap_draws = _middle_gap_draws(sae_draws, thirds)
    null_gap_draws = _middle_gap_draws(null_draws, thirds)
    gap = float(_middle_gap_draws({layer: np.array([statistics[layer]["sae"]["alpha"]]) for layer in layers}, thirds)[0])
    gap_interval = basic_bootstrap_interval(gap, gap_draws)
    holds = gap_interval[0] > 0

    third_of = {layer: name for name, members in thirds.items() for layer in members}
    rows = [
        {
            "layer": layer,
            "third": third_of[layer],
            "alpha": statistics[layer]["sae"]["alpha"],
            "alpha_low": basic_bootstrap_interval(statistics[layer]["sae"]["alpha"], sae_draws[layer])[0],
            "alpha_high": basic_bootstrap_interval(statistics[layer]["sae"]["alpha"], sae_draws[layer])[1],
        }
        for layer in layers
    ]
    third_means = {name: float(np.mean([statistics[layer]["sae"]["alpha"] for layer in members])) for name, members in thirds.items()}
    message = (
        f"mean alpha by third: early {third_means['early']:.3f}, middle {third_means['middle']:.3f}, late {third_means['late']:.3f}; "
        f"smaller gap (middle minus early or late) {gap:.3f} {_format_interval(gap_interval)}; "
        f"the same gap for Gaussian clouds of the same shapes {float(np.median(null_gap_draws)):.3f} {_format_interval(percentile_interval(null_gap_draws))}; "
        f"threshold: lower bound above 0."
    )

    null_bands = [percentile_interval(null_draws[layer]) for layer in layers]
    figures = [
        {
            "kind": "layer-profile",
            "title": "Power-law exponent of the SAE point cloud against layer",
            "x_label": "layer",
            "y_label": "alpha (ranks 10-150)",
            "series": [
                {
                    "label": "SAE decoder rows",
                    "layer": layers,
                    "value": [row["alpha"] for row in rows],
                    "low": [row["alpha_low"] for row in rows],
                    "high": [row["alpha_high"] for row in rows],
                }
            ],
            "null_band": {"label": "Gaussian null (95%)", "layer": layers, "low": [band[0] for band in null_bands], "high": [band[1] for band in null_bands]},
            "thirds": _third_boundaries(n_layers),
            "reference_line": None,
        }
    ]
    return Measurement(
        claim=claim,
        holds=holds,
        message=message,
        observed={"name": "min(middle - early, middle - late) of mean alpha", "value": gap, "interval": gap_interval},
        null={"name": "the same gap for Gaussian clouds of the same shapes", "value": float(np.median(null_gap_draws)), "interval": percentile_interval(null_gap_draws)},
        per_layer=rows,
        figures=figures,
    )


def measure_sae_steeper(statistics: dict[int, dict]) -> Measurement:
    """Test `galaxy.sae-steeper`: alpha(SAE) above alpha(activations) in most layers."""
    claim = CLAIMS["galaxy.sae-steeper"]
    layers = _layers(statistics)
    rows = []
    null_differences = []
    for layer in layers:
        layer_stats = statistics[layer]
        difference = layer_stats["sae"]["alpha"] - layer_stats["activations"]["alpha"]
        difference_draws = np.array(layer_stats["sae"]["draws"]) - np.array(layer_stats["activations"]["draws"])
        low, high = basic_bootstrap_interval(difference, difference_draws)
        null = np.array(layer_stats["gaussian_null"]["draws"])
        null_differences.append(null[: len(null) // 2] - null[len(null) // 2 : 2 * (len(null) // 2)])
        rows.append(
            {
                "layer": layer,
                "alpha_sae": layer_stats["sae"]["alpha"],
                "alpha_activations": layer_stats["activations"]["alpha"],
                "difference": difference,
                "difference_low": low,
                "difference_high": high,
                "passes": low > 0,
            }
        )

    passing = sum(row["passes"] for row in rows)
    fraction = passing / len(rows)
    holds = fraction > SAE_STEEPER_MIN_LAYER_FRACTION
    differences = np.array([row["difference"] for row in rows])
    pooled_null = np.concatenate(null_differences)
    message = (
        f"alpha(SAE) - alpha(activations) is above zero with {CONFIDENCE:.0%} confidence in {passing} of {len(rows)} layers "
        f"({fraction:.0%}; threshold: more than {SAE_STEEPER_MIN_LAYER_FRACTION:.0%}); median difference {np.median(differences):.3f}; "
        f"the difference between two Gaussian clouds of the same shape: {np.median(pooled_null):.3f} {_format_interval(percentile_interval(pooled_null))}."
    )
    figures = [
        {
            "kind": "layer-profile",
            "title": "Power-law exponent: SAE decoder rows against raw activations",
            "x_label": "layer",
            "y_label": "alpha (ranks 10-150)",
            "series": [
                _profile_series("SAE decoder rows", layers, [statistics[layer]["sae"] for layer in layers]),
                _profile_series("raw activations", layers, [statistics[layer]["activations"] for layer in layers]),
            ],
            "null_band": None,
            "thirds": None,
            "reference_line": None,
        },
        {
            "kind": "loglog-spectra",
            "title": "Covariance spectra of raw activations (unit vectors) by layer",
            "x_label": "rank",
            "y_label": "eigenvalue",
            "series": [_spectrum_series(f"layer {layer}", statistics[layer]["activations"]["spectrum"]) for layer in layers],
            "reference": _spectrum_series("Gaussian null", statistics[layers[len(layers) // 2]]["gaussian_null"]["spectrum"]),
            "fit_range": list(DEFAULT_RANK_RANGE),
        },
    ]
    return Measurement(
        claim=claim,
        holds=holds,
        message=message,
        observed={"name": "fraction of layers where alpha(SAE) > alpha(activations)", "value": fraction, "interval": None},
        null={"name": "alpha difference between two Gaussian clouds (pooled)", "value": float(np.median(pooled_null)), "interval": percentile_interval(pooled_null)},
        per_layer=rows,
        figures=figures,
    )


def _profile_series(label: str, layers: list[int], fits: list[dict]) -> dict:
    intervals = [basic_bootstrap_interval(fit["alpha"], np.array(fit["draws"])) for fit in fits]
    return {
        "label": label,
        "layer": layers,
        "value": [fit["alpha"] for fit in fits],
        "low": [interval[0] for interval in intervals],
        "high": [interval[1] for interval in intervals],
    }


def measure_entropy_dip(statistics: dict[int, dict], n_layers: int) -> Measurement:
    """Test `galaxy.entropy-dip`: excess clustering positive in the middle and above both ends."""
    claim = CLAIMS["galaxy.entropy-dip"]
    layers = _layers(statistics)
    thirds = depth_thirds(layers, n_layers)

    clustering = {layer: np.array(statistics[layer]["entropy"]["clustering"]) for layer in layers}
    reference = {layer: np.array(statistics[layer]["entropy"]["gaussian_reference"]) for layer in layers}
    excess = {layer: clustering[layer] - reference[layer] for layer in layers}

    middle_excess = np.mean([excess[layer] for layer in thirds["middle"]], axis=0)
    middle_interval = percentile_interval(middle_excess)
    gap_draws = _middle_gap_draws(excess, thirds)
    gap_interval = percentile_interval(gap_draws)
    reference_gap_draws = _middle_gap_draws(reference, thirds)
    holds = middle_interval[0] > 0 and gap_interval[0] > 0

    third_of = {layer: name for name, members in thirds.items() for layer in members}
    rows = []
    for layer in layers:
        low, high = percentile_interval(excess[layer])
        rows.append(
            {
                "layer": layer,
                "third": third_of[layer],
                "clustering": float(clustering[layer].mean()),
                "gaussian_reference": float(reference[layer].mean()),
                "excess": float(excess[layer].mean()),
                "excess_low": low,
                "excess_high": high,
            }
        )

    entropy_settings = statistics[layers[0]]["entropy"]
    message = (
        f"excess clustering (nats, {entropy_settings['sample_size']}-point subsamples in {entropy_settings['dimensions']} dimensions) "
        f"in the middle third {float(middle_excess.mean()):.2f} {_format_interval(middle_interval)}; "
        f"smaller gap (middle minus early or late) {float(gap_draws.mean()):.2f} {_format_interval(gap_interval)}; "
        f"the same gap for the Gaussian references alone {float(reference_gap_draws.mean()):.2f} {_format_interval(percentile_interval(reference_gap_draws))}; "
        "threshold: both lower bounds above 0."
    )
    figures = [
        {
            "kind": "layer-profile",
            "title": "Clustering of the SAE point cloud against layer",
            "x_label": "layer",
            "y_label": "H_gauss - H_knn (nats)",
            "series": [
                _draws_series("SAE decoder rows", layers, clustering),
                _draws_series("Gaussian reference (same covariance)", layers, reference),
                _draws_series("excess over the reference", layers, excess),
            ],
            "null_band": None,
            "thirds": _third_boundaries(n_layers),
            "reference_line": 0.0,
        }
    ]
    return Measurement(
        claim=claim,
        holds=holds,
        message=message,
        observed={"name": "min(middle - early, middle - late) of mean excess clustering (nats)", "value": float(gap_draws.mean()), "interval": gap_interval},
        null={"name": "the same gap for the Gaussian references", "value": float(reference_gap_draws.mean()), "interval": percentile_interval(reference_gap_draws)},
        per_layer=rows,
        figures=figures,
    )


def _draws_series(label: str, layers: list[int], draws: dict[int, np.ndarray]) -> dict:
    intervals = [percentile_interval(draws[layer]) for layer in layers]
    return {
        "label": label,
        "layer": layers,
        "value": [float(draws[layer].mean()) for layer in layers],
        "low": [interval[0] for interval in intervals],
        "high": [interval[1] for interval in intervals],
    }
