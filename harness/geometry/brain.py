"""Brain scale: lobes of co-occurring features and their geometry.

`brain_statistics` measures one layer (co-occurrence lobes for the five
affinities, geometry clusters of the decoder rows, AMI and predictability
against their nulls, the genre of the chunks each lobe wins); it is cached
as one JSON document. The four `measure_*` functions turn it into one
`Measurement` each.
"""

from __future__ import annotations

import logging

import numpy as np
from scipy import stats
from sklearn.decomposition import PCA
from threadpoolctl import threadpool_limits

from harness.activations import ChunkFiring
from harness.corpora import CODE_AND_MATH_GENRES
from harness.geometry.cooccurrence import AFFINITY_MEASURES, affinity, count_cooccurrence
from harness.geometry.lobes import (
    adjusted_mutual_information,
    ami_against_permutations,
    angular_similarity,
    lobe_winners,
    predictability_against_random_features,
    shared_features,
    spectral_lobes,
)
from harness.stats import basic_bootstrap_interval, holm_adjusted, one_sided_p_value, z_score
from harness.verdicts import CLAIMS, CONFIDENCE, Measurement, MeasurementError

logger = logging.getLogger(__name__)

BRAIN_STAGE_VERSION = 1
BRAIN_BUDGET_FIELDS = ("brain_text_tokens", "cluster_counts", "permutation_draws", "random_feature_draws", "affinity_bootstrap_draws")
# The paper highlights the coarsest splits: at k = 2 and 3 both alignment tests were far above their nulls.
COARSE_CLUSTER_COUNTS = (2, 3)
SIGNIFICANCE = 1 - CONFIDENCE
# brain.math-code-lobe: the chi-square p-value below which genre and winning lobe are called dependent.
MATH_CODE_CHI_SQUARE_ALPHA = 0.01
# brain.math-code-lobe: how many times more often the lobe must win code and math chunks than prose chunks.
MATH_CODE_WIN_RATIO = 2.0
MATH_CODE_LOBES = 3
_FIRING_BATCH_CHUNKS = 1024


def brain_statistics(directions: np.ndarray, chunks: ChunkFiring, budget, seed: int) -> dict:
    """Measure lobes at one layer on a single BLAS thread; see `_brain_statistics`.

    The work is hundreds of small fits (k-means, logistic regression), which
    multithreaded BLAS slows down by an order of magnitude on a busy 2-core
    machine (0.15 s against 2.8 s for one fit, measured here).
    """
    with threadpool_limits(limits=1):
        return _brain_statistics(directions, chunks, budget, seed)


def _brain_statistics(directions: np.ndarray, chunks: ChunkFiring, budget, seed: int) -> dict:
    """Measure lobes at one layer; every value is JSON-ready.

    Parameters
    ----------
    directions : numpy.ndarray
        Unit decoder rows of every SAE feature of the layer (n_features x d).
    chunks : ChunkFiring
        Per-chunk firing of the same features on held-out text, with genres.
    budget : Budget
        Supplies the cluster counts and the numbers of null draws.
    seed : int
        Seeds the clustering, the splits and every null.
    """
    rng = np.random.default_rng([seed, 11])
    n_features = directions.shape[0]
    cluster_counts = tuple(budget.cluster_counts)

    batches = (chunks.firing[start : start + _FIRING_BATCH_CHUNKS] for start in range(0, len(chunks.firing), _FIRING_BATCH_CHUNKS))
    counts = count_cooccurrence(batches, n_features)

    # One affinity matrix at a time: at 16k features each takes about 1 GB.
    labels = {}
    connectivity = {}
    undefined_pairs = {}
    lobe_counts = tuple(sorted(set(cluster_counts) | {MATH_CODE_LOBES}))
    for measure in AFFINITY_MEASURES:
        measured = affinity(counts, measure)
        labels[measure], report = spectral_lobes(measured.matrix, lobe_counts, seed)
        connectivity[measure] = report.as_dict()
        undefined_pairs[measure] = measured.undefined_pairs
    kept, never_fire, always_fire = measured.kept, measured.never_fire, measured.always_fire
    del measured

    kept_directions = directions[kept]
    labels["geometry"], report = spectral_lobes(angular_similarity(kept_directions), cluster_counts, seed)
    connectivity["geometry"] = report.as_dict()

    alignment = {measure: {} for measure in AFFINITY_MEASURES}
    for measure in AFFINITY_MEASURES:
        for k in cluster_counts:
            shared = shared_features(labels[measure][k], labels["geometry"][k])
            observed, null = ami_against_permutations(labels[measure][k][shared], labels["geometry"][k][shared], budget.permutation_draws, rng)
            alignment[measure][k] = {"ami": observed, "null": null.tolist(), "n_features": int(len(shared))}

    predictability = {}
    for k in cluster_counts:
        phi_labels = labels["phi"][k]
        inside = np.flatnonzero(phi_labels >= 0)
        observed, null, convergence_warnings = predictability_against_random_features(
            kept_directions[inside], phi_labels[inside], budget.random_feature_draws, rng, split_seed=seed
        )
        predictability[k] = {"balanced_accuracy": observed, "null": null.tolist(), "convergence_warnings": convergence_warnings}

    measure_bootstrap = _bootstrap_mean_ami(labels, cluster_counts, budget.affinity_bootstrap_draws, rng)

    phi_lobes = labels["phi"][MATH_CODE_LOBES]
    winners = lobe_winners(chunks.firing[:, kept], phi_lobes, MATH_CODE_LOBES)
    coordinates = PCA(n_components=2, random_state=seed).fit_transform(kept_directions)

    return {
        "n_features": n_features,
        "n_chunks": counts.n_chunks,
        "n_kept_features": int(len(kept)),
        "never_fire": never_fire,
        "always_fire": always_fire,
        "undefined_pairs": undefined_pairs,
        "mean_features_firing_per_chunk": float(chunks.firing.sum(axis=1).mean()),
        "cluster_counts": list(cluster_counts),
        "connectivity": connectivity,
        "alignment": {measure: {str(k): value for k, value in by_k.items()} for measure, by_k in alignment.items()},
        "predictability": {str(k): value for k, value in predictability.items()},
        "measure_bootstrap": measure_bootstrap,
        "lobe_function": {"genres": list(chunks.genres), "winners": winners.tolist(), "n_lobes": MATH_CODE_LOBES},
        "pca": {"x": coordinates[:, 0].tolist(), "y": coordinates[:, 1].tolist(), "lobe": phi_lobes.tolist()},
    }


def _bootstrap_mean_ami(labels: dict, cluster_counts: tuple[int, ...], n_draws: int, rng: np.random.Generator) -> dict:
    """Resample features with replacement; per draw, each measure's AMI with geometry averaged over k."""
    shared = shared_features(*(labels[name][k] for name in labels for k in cluster_counts))
    draws = {measure: [] for measure in AFFINITY_MEASURES}
    for _ in range(n_draws):
        sample = rng.choice(shared, size=len(shared), replace=True)
        for measure in AFFINITY_MEASURES:
            scores = [adjusted_mutual_information(labels[measure][k][sample], labels["geometry"][k][sample]) for k in cluster_counts]
            draws[measure].append(float(np.mean(scores)))
    observed = {
        measure: float(np.mean([adjusted_mutual_information(labels[measure][k][shared], labels["geometry"][k][shared]) for k in cluster_counts]))
        for measure in AFFINITY_MEASURES
    }
    return {"observed": observed, "draws": draws, "n_features": int(len(shared))}


def _significance_rows(entries: dict, value_key: str) -> list[dict]:
    """Per k: observed value, null mean and SD, z, one-sided p and Holm-adjusted p."""
    rows = []
    # JSON object keys come back as strings sorted as text ("16" before "2"), so order by number.
    for k, entry in sorted(entries.items(), key=lambda item: int(item[0])):
        null = np.array(entry["null"])
        z = z_score(entry[value_key], null)
        rows.append({"k": int(k), value_key: entry[value_key], "null_mean": float(null.mean()), "null_sd": float(null.std(ddof=1)), "z": z, "p": one_sided_p_value(z)})
    for row, adjusted in zip(rows, holm_adjusted([row["p"] for row in rows])):
        row["p_holm"] = adjusted
        row["significant"] = adjusted < SIGNIFICANCE
    return rows


def _coarse_verdict(rows: list[dict]) -> tuple[bool, list[int]]:
    coarse = [row for row in rows if row["k"] in COARSE_CLUSTER_COUNTS]
    if not coarse:
        raise MeasurementError(f"the budget's cluster counts include none of the coarse k {COARSE_CLUSTER_COUNTS} the claim is about")
    return all(row["significant"] for row in coarse), [row["k"] for row in coarse]


def _finite(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def _null_band(rows: list[dict], value_key: str) -> dict:
    return {
        "label": "null mean +/- 1.96 SD",
        "k": [row["k"] for row in rows],
        "low": [row["null_mean"] - 1.96 * row["null_sd"] for row in rows],
        "high": [row["null_mean"] + 1.96 * row["null_sd"] for row in rows],
    }


def _json_rows(rows: list[dict]) -> list[dict]:
    return [{key: (_finite(value) if isinstance(value, float) else value) for key, value in row.items()} for row in rows]


def measure_lobes_ami(statistics: dict) -> Measurement:
    """Test `brain.lobes-ami`: phi lobes share information with geometry clusters, at the coarse k."""
    claim = CLAIMS["brain.lobes-ami"]
    rows = _significance_rows(statistics["alignment"]["phi"], "ami")
    holds, coarse = _coarse_verdict(rows)
    coarse_rows = [row for row in rows if row["k"] in coarse]
    message = (
        "AMI(phi lobes, geometry clusters) per k: "
        + "; ".join(f"k={row['k']}: {row['ami']:.4f} (null {row['null_mean']:.4f} +/- {row['null_sd']:.4f}, z={row['z']:.1f}, Holm p={row['p_holm']:.2g})" for row in rows)
        + f". Threshold: Holm-adjusted p < {SIGNIFICANCE:.2f} at k in {list(coarse)}."
        + f" {statistics['never_fire']} features never fire and {statistics['always_fire']} always fire; they are left out."
    )
    figures = [
        {
            "kind": "k-profile",
            "title": "AMI between co-occurrence lobes and geometry clusters",
            "x_label": "number of clusters k",
            "y_label": "adjusted mutual information",
            "series": [
                {
                    "label": measure,
                    "k": [row["k"] for row in rows],
                    "value": [statistics["alignment"][measure][str(row["k"])]["ami"] for row in rows],
                    "low": None,
                    "high": None,
                }
                for measure in AFFINITY_MEASURES
            ],
            "null_band": _null_band(rows, "ami"),
            "reference_line": 0.0,
        }
    ]
    return Measurement(
        claim=claim,
        holds=holds,
        message=message,
        observed={"name": f"AMI of phi lobes with geometry clusters at k={coarse[0]}", "value": coarse_rows[0]["ami"], "interval": None},
        null={"name": "AMI after permuting geometry labels (mean, +/- 1.96 SD)", "value": coarse_rows[0]["null_mean"], "interval": [coarse_rows[0]["null_mean"] - 1.96 * coarse_rows[0]["null_sd"], coarse_rows[0]["null_mean"] + 1.96 * coarse_rows[0]["null_sd"]]},
        per_layer=_json_rows(rows),
        figures=figures,
    )


def measure_lobes_predictable(statistics: dict) -> Measurement:
    """Test `brain.lobes-predictable`: decoder rows predict phi lobes better than random unit vectors."""
    claim = CLAIMS["brain.lobes-predictable"]
    rows = _significance_rows(statistics["predictability"], "balanced_accuracy")
    for row in rows:
        row["convergence_warnings"] = statistics["predictability"][str(row["k"])]["convergence_warnings"]
    holds, coarse = _coarse_verdict(rows)
    coarse_rows = [row for row in rows if row["k"] in coarse]
    total_warnings = sum(row["convergence_warnings"] for row in rows)
    message = (
        "balanced test accuracy of logistic regression from decoder rows to phi lobes per k: "
        + "; ".join(f"k={row['k']}: {row['balanced_accuracy']:.3f} (null of random unit vectors {row['null_mean']:.3f} +/- {row['null_sd']:.3f}, z={row['z']:.1f}, Holm p={row['p_holm']:.2g})" for row in rows)
        + f". Threshold: Holm-adjusted p < {SIGNIFICANCE:.2f} at k in {list(coarse)}."
        + f" {total_warnings} of the logistic-regression fits did not converge in 1,000 iterations."
    )
    figures = [
        {
            "kind": "k-profile",
            "title": "Predicting a feature's phi lobe from its decoder row",
            "x_label": "number of clusters k",
            "y_label": "balanced test accuracy",
            "series": [{"label": "decoder rows", "k": [row["k"] for row in rows], "value": [row["balanced_accuracy"] for row in rows], "low": None, "high": None}],
            "null_band": _null_band(rows, "balanced_accuracy"),
            "reference_line": None,
        },
        {
            "kind": "scatter",
            "title": f"Decoder rows (first two principal components) coloured by phi lobe, k={MATH_CODE_LOBES}",
            "x_label": "PC 1",
            "y_label": "PC 2",
            "points": {"x": statistics["pca"]["x"], "y": statistics["pca"]["y"], "group": [max(lobe, 0) for lobe in statistics["pca"]["lobe"]]},
            "group_labels": [f"lobe {lobe}" for lobe in range(MATH_CODE_LOBES)],
        },
    ]
    return Measurement(
        claim=claim,
        holds=holds,
        message=message,
        observed={"name": f"balanced accuracy at k={coarse[0]}", "value": coarse_rows[0]["balanced_accuracy"], "interval": None},
        null={"name": "random unit vectors (mean, +/- 1.96 SD)", "value": coarse_rows[0]["null_mean"], "interval": [coarse_rows[0]["null_mean"] - 1.96 * coarse_rows[0]["null_sd"], coarse_rows[0]["null_mean"] + 1.96 * coarse_rows[0]["null_sd"]]},
        per_layer=_json_rows(rows),
        figures=figures,
    )


def measure_phi_strongest(statistics: dict) -> Measurement:
    """Test `brain.phi-strongest`: phi's mean AMI with geometry exceeds each other measure's, resolved by bootstrap."""
    claim = CLAIMS["brain.phi-strongest"]
    bootstrap = statistics["measure_bootstrap"]
    observed = bootstrap["observed"]
    phi_draws = np.array(bootstrap["draws"]["phi"])

    rows = []
    for measure in AFFINITY_MEASURES:
        if measure == "phi":
            continue
        difference = observed["phi"] - observed[measure]
        interval = basic_bootstrap_interval(difference, phi_draws - np.array(bootstrap["draws"][measure]))
        rows.append({"measure": measure, "mean_ami": observed[measure], "phi_minus_measure": difference, "low": interval[0], "high": interval[1], "resolved": interval[0] > 0 or interval[1] < 0})

    holds = all(row["low"] > 0 for row in rows)
    smallest = min(rows, key=lambda row: row["phi_minus_measure"])
    message = (
        f"mean AMI with geometry over k={statistics['cluster_counts']}: "
        + ", ".join(f"{measure} {value:.4f}" for measure, value in observed.items())
        + ". phi minus each other measure with 95% basic bootstrap intervals over features: "
        + "; ".join(f"{row['measure']} {row['phi_minus_measure']:+.4f} [{row['low']:+.4f}, {row['high']:+.4f}]" for row in rows)
        + ". Null: no difference between measures (0). Threshold: every lower bound above 0."
    )
    return Measurement(
        claim=claim,
        holds=holds,
        message=message,
        observed={"name": f"smallest gap: AMI(phi) - AMI({smallest['measure']})", "value": smallest["phi_minus_measure"], "interval": [smallest["low"], smallest["high"]]},
        null={"name": "no difference between measures", "value": 0.0, "interval": None},
        per_layer=rows,
        figures=[],
    )


def measure_math_code_lobe(statistics: dict) -> Measurement | None:
    """Test `brain.math-code-lobe`; return None when the corpus has no code or math chunks, or no prose chunks."""
    claim = CLAIMS["brain.math-code-lobe"]
    function = statistics["lobe_function"]
    genres = np.array(function["genres"])
    winners = np.array(function["winners"])
    n_lobes = function["n_lobes"]

    is_code_or_math = np.isin(genres, sorted(CODE_AND_MATH_GENRES))
    if not is_code_or_math.any() or is_code_or_math.all():
        return None

    genre_names = sorted(set(genres.tolist()))
    table = np.array([[np.sum((genres == genre) & (winners == lobe)) for lobe in range(n_lobes)] for genre in genre_names])
    nonzero = table[table.sum(axis=1) > 0][:, table.sum(axis=0) > 0]
    if nonzero.shape[0] < 2 or nonzero.shape[1] < 2:
        chi_square, p_value = 0.0, 1.0
    else:
        chi_square, p_value, _, _ = stats.chi2_contingency(nonzero)

    code_rates = np.array([np.mean(winners[is_code_or_math] == lobe) for lobe in range(n_lobes)])
    prose_rates = np.array([np.mean(winners[~is_code_or_math] == lobe) for lobe in range(n_lobes)])
    ratios = np.where(prose_rates > 0, code_rates / np.where(prose_rates > 0, prose_rates, 1), np.where(code_rates > 0, np.inf, 0.0))
    best = int(np.argmax(ratios))
    holds = bool(p_value < MATH_CODE_CHI_SQUARE_ALPHA and ratios[best] >= MATH_CODE_WIN_RATIO)

    fractions = table / np.maximum(table.sum(axis=1, keepdims=True), 1)
    message = (
        f"{len(winners)} chunks, {n_lobes} phi lobes; chi-square of genre by winning lobe {float(chi_square):.1f}, p = {float(p_value):.2g} "
        f"(threshold {MATH_CODE_CHI_SQUARE_ALPHA}, null: genre independent of the winning lobe); lobe {best} wins {code_rates[best]:.1%} of code and math chunks and {prose_rates[best]:.1%} of prose chunks "
        f"(ratio {ratios[best]:.2f}, threshold {MATH_CODE_WIN_RATIO:g})."
    )
    rows = [{"genre": genre, "chunks": int(table[index].sum()), **{f"lobe_{lobe}_wins": float(fractions[index, lobe]) for lobe in range(n_lobes)}} for index, genre in enumerate(genre_names)]
    figures = [
        {
            "kind": "heatmap",
            "title": f"Fraction of each genre's chunks won by each phi lobe (k={n_lobes})",
            "row_labels": genre_names,
            "column_labels": [f"lobe {lobe}" for lobe in range(n_lobes)],
            "values": fractions.tolist(),
            "value_label": "fraction of chunks won",
            "annotate": True,
        }
    ]
    return Measurement(
        claim=claim,
        holds=holds,
        message=message,
        observed={"name": f"lobe {best}: win rate on code and math / on prose", "value": _finite(float(ratios[best])), "interval": None},
        null={"name": "genre independent of winning lobe (ratio 1)", "value": 1.0, "interval": None},
        per_layer=rows,
        figures=figures,
    )
