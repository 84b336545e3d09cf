"""Atom scale: crystals of word-pair differences, sharpened by LDA and tested on held-out pairs.

A pair's difference vector is representation(subject) - representation(object),
labelled by its relation. At each word layer `atom_statistics` measures four
things, each against its null: how well differences cluster by relation
(label permutations); how much an LDA fitted on training pairs sharpens the
held-out pairs (LDA fitted on permuted labels); how strongly the top principal
direction tracks word length (permuted lengths); and how well same-relation
quadruples close into parallelograms (cross-relation quadruples). The four `measure_*` functions turn the cached document into
one `Measurement` each.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from scipy import stats
from sklearn.decomposition import PCA
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.metrics import pairwise_distances
from sklearn.model_selection import train_test_split
from threadpoolctl import threadpool_limits

from harness.activations import WordRepresentations
from harness.relations import RelationSet
from harness.stats import percentile_interval, permutation_p_value
from harness.verdicts import CLAIMS, CONFIDENCE, Measurement, MeasurementError

logger = logging.getLogger(__name__)

ATOM_STAGE_VERSION = 2
ATOM_BUDGET_FIELDS = ("permutation_draws", "atom_split_draws")
SIGNIFICANCE = 1 - CONFIDENCE
# Share of each relation's pairs held out from the LDA fit.
HELD_OUT_FRACTION = 0.2
# A relation needs this many pairs to leave at least two held-out pairs after the split.
MIN_PAIRS_PER_RELATION = 10
# atom.length-distractor: |r| at least this (a moderate correlation) besides significance.
LENGTH_MIN_ABS_CORRELATION = 0.3
_SCATTER_SPLIT = 0


@dataclass(frozen=True)
class PairDifferences:
    """The difference vectors of one layer with their relation labels and last-token length differences."""

    vectors: np.ndarray
    labels: np.ndarray
    relations: tuple[str, ...]
    length_differences: np.ndarray


def usable_relations(relations: RelationSet) -> tuple[str, ...]:
    """Return the relations with enough pairs for the held-out split; log each one dropped."""
    kept = []
    for relation in relations.relations:
        count = relations.count(relation)
        if count < MIN_PAIRS_PER_RELATION:
            logger.warning("relation %s has %d pairs, fewer than the %d a held-out split needs; it is left out of the atom scale", relation, count, MIN_PAIRS_PER_RELATION)
            continue
        kept.append(relation)
    return tuple(kept)


def pair_differences(relations: RelationSet, representations: WordRepresentations, layer: int, kept: tuple[str, ...]) -> PairDifferences:
    """Return representation(subject) - representation(object) for every pair of the kept relations."""
    pairs = [pair for pair in relations.pairs if pair.relation in kept]
    subjects = representations.rows([pair.subject for pair in pairs])
    objects = representations.rows([pair.object for pair in pairs])
    vectors = representations.vectors[layer]
    token_lengths = np.array([len(token) for token in representations.last_tokens])
    return PairDifferences(
        vectors=np.asarray(vectors[subjects] - vectors[objects], dtype=np.float64),
        labels=np.array([kept.index(pair.relation) for pair in pairs]),
        relations=kept,
        length_differences=(token_lengths[subjects] - token_lengths[objects]).astype(float),
    )


def lda_component_count(n_relations: int, dimension: int) -> int:
    """Return the number of LDA components: one fewer than the relations, at most the dimension.

    Raises
    ------
    MeasurementError
        If fewer than two components are possible (fewer than three relations).
    """
    components = min(n_relations - 1, dimension)
    if components < 2:
        raise MeasurementError(f"LDA needs at least three relations with {MIN_PAIRS_PER_RELATION} or more pairs; only {n_relations} are usable")
    return components


def fit_lda(train_vectors: np.ndarray, train_labels: np.ndarray) -> np.ndarray:
    """Fit LDA on training pairs only and return its projection (d x components), strongest first.

    Ledoit-Wolf shrinkage of the within-relation covariance keeps the fit
    stable when pairs are fewer than dimensions (hundreds of pairs, 576 or
    more dimensions). The projection is linear, so it maps difference
    vectors and differences of differences alike.
    """
    components = lda_component_count(len(np.unique(train_labels)), train_vectors.shape[1])
    lda = LinearDiscriminantAnalysis(solver="eigen", shrinkage="auto")
    lda.fit(train_vectors, train_labels)
    return lda.scalings_[:, :components]


def closure_auc(vectors: np.ndarray, labels: np.ndarray, rng: np.random.Generator) -> float:
    """Return how much better same-relation quadruples close into parallelograms than cross-relation ones.

    For two pairs with differences d1 and d2 the closure error is
    |d1 - d2| / ((|d1| + |d2|) / 2). Every two pairs of the same relation form
    a quadruple; as many cross-relation quadruples are drawn at random. The
    value is the probability that a same-relation quadruple closes better
    than a cross-relation one (0.5: no better).
    """
    norms = np.linalg.norm(vectors, axis=1)
    first, second = np.triu_indices(len(vectors), k=1)
    same = labels[first] == labels[second]
    if not same.any() or same.all():
        raise MeasurementError("held-out pairs give no same-relation or no cross-relation quadruples")

    cross_index = np.flatnonzero(~same)
    chosen_cross = rng.choice(cross_index, size=min(int(same.sum()), len(cross_index)), replace=False)
    chosen = np.concatenate([np.flatnonzero(same), chosen_cross])
    scale = np.maximum((norms[first[chosen]] + norms[second[chosen]]) / 2, np.finfo(float).tiny)
    errors = np.linalg.norm(vectors[first[chosen]] - vectors[second[chosen]], axis=1) / scale

    n_same = int(same.sum())
    ranks = stats.rankdata(errors)
    # Mann-Whitney: rank sum of the cross errors counts the (same, cross) pairs where same closes better.
    cross_rank_sum = ranks[n_same:].sum() - len(chosen_cross) * (len(chosen_cross) + 1) / 2
    return float(cross_rank_sum / (n_same * len(chosen_cross)))


def silhouette(distances: np.ndarray, labels: np.ndarray) -> float:
    """Return the mean silhouette of `labels` from a square distance matrix, as scikit-learn defines it.

    A point's silhouette is (b - a) / max(a, b), with a its mean distance to
    the rest of its cluster and b the smallest mean distance to another
    cluster. A point alone in its cluster scores 0. The same number as
    `sklearn.metrics.silhouette_score(..., metric="precomputed")`, without the
    input validation that dominates thousands of calls on a hundred points.
    """
    _, codes = np.unique(labels, return_inverse=True)
    n_clusters = codes.max() + 1
    if not 2 <= n_clusters <= len(codes) - 1:
        raise ValueError(f"silhouette needs 2 to {len(codes) - 1} clusters, got {n_clusters}")

    members = np.eye(n_clusters)[codes]
    sums = distances @ members
    sizes = members.sum(axis=0)
    own = sizes[codes]
    within = sums[np.arange(len(codes)), codes] / np.maximum(own - 1, 1)
    others = np.where(members.astype(bool), np.inf, sums / sizes)
    nearest = others.min(axis=1)
    scores = (nearest - within) / np.maximum(within, nearest)
    scores[own == 1] = 0.0
    return float(np.nan_to_num(scores).mean())


def _held_out_silhouette(vectors: np.ndarray, labels: np.ndarray) -> float:
    return silhouette(pairwise_distances(vectors), labels)


def stratified_split(labels: np.ndarray, split_seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Return training and held-out pair indices, holding out `HELD_OUT_FRACTION` of every relation."""
    indices = np.arange(len(labels))
    train, test = train_test_split(indices, test_size=HELD_OUT_FRACTION, stratify=labels, random_state=split_seed)
    return train, test


def split_scores(differences: PairDifferences, train: np.ndarray, test: np.ndarray, components: int, rng: np.random.Generator) -> dict:
    """Score one split: held-out silhouettes by number of components, and closure AUCs.

    Only the training pairs and their labels reach the LDA and PCA fits;
    held-out labels are used for scoring alone.
    """
    train_vectors, test_vectors = differences.vectors[train], differences.vectors[test]
    train_labels, test_labels = differences.labels[train], differences.labels[test]

    projection = fit_lda(train_vectors, train_labels)
    permuted_projection = fit_lda(train_vectors, rng.permutation(train_labels))
    pca = PCA(n_components=components, random_state=0).fit(train_vectors)

    projected = test_vectors @ projection
    permuted = test_vectors @ permuted_projection
    principal = pca.transform(test_vectors)
    by_components = {
        "lda": [_held_out_silhouette(projected[:, :m], test_labels) for m in range(1, components + 1)],
        "permuted_lda": [_held_out_silhouette(permuted[:, :m], test_labels) for m in range(1, components + 1)],
        "pca": [_held_out_silhouette(principal[:, :m], test_labels) for m in range(1, components + 1)],
    }
    return {
        "raw_silhouette": _held_out_silhouette(test_vectors, test_labels),
        **by_components,
        "closure_raw": closure_auc(test_vectors, test_labels, rng),
        "closure_lda": closure_auc(projected, test_labels, rng),
        "test": test.tolist(),
        "projected": projected[:, :2].tolist(),
    }


def relation_clusters(differences: PairDifferences, n_draws: int, rng: np.random.Generator) -> dict:
    """Return the silhouette of the relation labels on all raw differences and its label-permutation null."""
    distances = pairwise_distances(differences.vectors)
    observed = silhouette(distances, differences.labels)
    null = [silhouette(distances, rng.permutation(differences.labels)) for _ in range(n_draws)]
    return {"silhouette": observed, "null": null, "p": permutation_p_value(observed, np.array(null))}


def length_distractor(differences: PairDifferences, n_draws: int, rng: np.random.Generator) -> dict:
    """Correlate the first principal component of the standardised differences with the last-token length difference."""
    spread = differences.vectors.std(axis=0)
    standardised = (differences.vectors - differences.vectors.mean(axis=0)) / np.where(spread > 0, spread, 1.0)
    first_component = PCA(n_components=1, random_state=0).fit_transform(standardised)[:, 0]
    lengths = differences.length_differences

    if np.std(lengths) == 0:
        raise MeasurementError("every pair has the same last-token length difference, so nothing can track it")
    observed = float(np.corrcoef(first_component, lengths)[0, 1])
    null = [abs(float(np.corrcoef(first_component, rng.permutation(lengths))[0, 1])) for _ in range(n_draws)]
    slope, intercept = np.polyfit(lengths, first_component, 1)
    return {
        "r": observed,
        "null_abs_r": null,
        "p": permutation_p_value(abs(observed), np.array(null)),
        "first_component": first_component.tolist(),
        "length_difference": lengths.tolist(),
        "fit": {"slope": float(slope), "intercept": float(intercept)},
    }


def layer_atom_statistics(differences: PairDifferences, budget, seed: int, layer: int) -> dict:
    """Measure the four atom-scale statistics at one layer; every value is JSON-ready."""
    rng = np.random.default_rng([seed, layer, 13])
    components = lda_component_count(len(differences.relations), differences.vectors.shape[1])

    splits = []
    for draw in range(budget.atom_split_draws):
        split_seed = int(np.random.SeedSequence([seed, layer, draw]).generate_state(1)[0])
        train, test = stratified_split(differences.labels, split_seed=split_seed)
        splits.append(split_scores(differences, train, test, components, rng))
    example = splits[_SCATTER_SPLIT]
    raw_plane = PCA(n_components=2, random_state=seed).fit_transform(differences.vectors)

    return {
        "layer": layer,
        "n_pairs": int(len(differences.labels)),
        "relations": list(differences.relations),
        "components": components,
        "relation_clusters": relation_clusters(differences, budget.permutation_draws, rng),
        "length_distractor": length_distractor(differences, budget.permutation_draws, rng),
        "splits": {key: [split[key] for split in splits] for key in ("raw_silhouette", "lda", "permuted_lda", "pca", "closure_raw", "closure_lda")},
        "raw_plane": {"x": raw_plane[:, 0].tolist(), "y": raw_plane[:, 1].tolist(), "group": differences.labels.tolist()},
        "lda_plane": {
            "x": [point[0] for point in example["projected"]],
            "y": [point[1] for point in example["projected"]],
            "group": differences.labels[example["test"]].tolist(),
        },
    }


def atom_statistics(relations: RelationSet, representations: WordRepresentations, layers: tuple[int, ...], budget, seed: int) -> dict:
    """Measure the atom scale at each word layer, on a single BLAS thread (hundreds of small fits).

    Parameters
    ----------
    relations : RelationSet
        The word pairs; relations with too few pairs for a split are dropped.
    representations : WordRepresentations
        Every relation word's last-token residual stream at `layers`.
    layers : tuple[int, ...]
        The subject's word layers.
    budget : Budget
        Supplies the numbers of permutations and of held-out splits.
    seed : int
        Seeds the splits, permutations and projections.
    """
    kept = usable_relations(relations)
    dropped = [relation for relation in relations.relations if relation not in kept]
    with threadpool_limits(limits=1):
        per_layer = {str(layer): layer_atom_statistics(pair_differences(relations, representations, layer, kept), budget, seed, layer) for layer in layers}
    return {
        "layers": list(layers),
        "relations": {relation: relations.count(relation) for relation in kept},
        "dropped_relations": {relation: relations.count(relation) for relation in dropped},
        "per_layer": per_layer,
    }


def _layers(statistics: dict) -> list[dict]:
    return [statistics["per_layer"][str(layer)] for layer in statistics["layers"]]


def _range(values) -> list[float]:
    return percentile_interval(np.asarray(values, dtype=float))


def _layer_names(statistics: dict) -> str:
    return " and ".join(str(layer) for layer in statistics["layers"])


def measure_relation_clusters(statistics: dict) -> Measurement:
    """Test `atom.relation-clusters`: raw differences cluster by relation above a label-permutation null, at every word layer."""
    claim = CLAIMS["atom.relation-clusters"]
    rows = []
    for layer_stats in _layers(statistics):
        result = layer_stats["relation_clusters"]
        null = np.array(result["null"])
        rows.append({"layer": layer_stats["layer"], "silhouette": result["silhouette"], "null_mean": float(null.mean()), "null_high": _range(null)[1], "p": result["p"], "significant": result["p"] < SIGNIFICANCE})

    holds = all(row["significant"] for row in rows)
    message = (
        f"silhouette of relation labels on raw difference vectors ({statistics['per_layer'][str(statistics['layers'][0])]['n_pairs']} pairs, {len(statistics['relations'])} relations): "
        + "; ".join(f"layer {row['layer']}: {row['silhouette']:.4f} (label-permutation null {row['null_mean']:.4f}, 97.5% point {row['null_high']:.4f}, p={row['p']:.3g})" for row in rows)
        + f". Threshold: permutation p < {SIGNIFICANCE:.2f} at every word layer."
    )
    last = rows[-1]
    null = np.array(_layers(statistics)[-1]["relation_clusters"]["null"])
    figures = [_raw_plane_figure(statistics, layer_stats) for layer_stats in _layers(statistics)]
    return Measurement(
        claim=claim,
        holds=holds,
        message=message,
        observed={"name": f"silhouette of raw differences at layer {last['layer']}", "value": last["silhouette"], "interval": None},
        null={"name": "silhouette after permuting relation labels (95% range)", "value": last["null_mean"], "interval": _range(null)},
        per_layer=rows,
        figures=figures,
    )


def measure_lda_sharpens(statistics: dict) -> Measurement:
    """Test `atom.lda-sharpens`: LDA fitted on training pairs beats LDA fitted on permuted labels on held-out pairs."""
    claim = CLAIMS["atom.lda-sharpens"]
    rows = []
    for layer_stats in _layers(statistics):
        splits = layer_stats["splits"]
        lda = np.array([scores[-1] for scores in splits["lda"]])
        permuted = np.array([scores[-1] for scores in splits["permuted_lda"]])
        pca = np.array([scores[-1] for scores in splits["pca"]])
        gain_over_permuted = lda - permuted
        interval = _range(gain_over_permuted)
        rows.append({
            "layer": layer_stats["layer"],
            "components": layer_stats["components"],
            "raw_silhouette": float(np.mean(splits["raw_silhouette"])),
            "pca_silhouette": float(pca.mean()),
            "lda_silhouette": float(lda.mean()),
            "permuted_lda_silhouette": float(permuted.mean()),
            "gain_over_pca": float((lda - pca).mean()),
            "permuted_gain_over_pca": float((permuted - pca).mean()),
            "gain_over_permuted": float(gain_over_permuted.mean()),
            "low": interval[0],
            "high": interval[1],
        })

    holds = all(row["low"] > 0 for row in rows)
    n_splits = len(_layers(statistics)[0]["splits"]["lda"])
    message = (
        f"held-out silhouette over {n_splits} stratified splits ({HELD_OUT_FRACTION:.0%} of each relation's pairs held out): "
        + "; ".join(
            f"layer {row['layer']}: LDA ({row['components']} components) {row['lda_silhouette']:.3f}, PCA of the same dimension {row['pca_silhouette']:.3f}, "
            f"raw {row['raw_silhouette']:.3f}; gain over PCA {row['gain_over_pca']:+.3f} against {row['permuted_gain_over_pca']:+.3f} for LDA fitted on permuted labels (null); "
            f"LDA minus permuted-label LDA {row['gain_over_permuted']:+.3f}, 95% range over splits [{row['low']:+.3f}, {row['high']:+.3f}]"
            for row in rows
        )
        + ". Threshold: the 95% range of LDA minus permuted-label LDA lies above zero at every word layer."
    )
    last = rows[-1]
    figures = []
    for layer_stats in _layers(statistics):
        figures.append(_lda_plane_figure(statistics, layer_stats))
        figures.append(_components_figure(layer_stats))
    return Measurement(
        claim=claim,
        holds=holds,
        message=message,
        observed={"name": f"held-out silhouette gain, LDA minus permuted-label LDA, layer {last['layer']}", "value": last["gain_over_permuted"], "interval": [last["low"], last["high"]]},
        null={"name": "LDA fitted on permuted labels (no gain)", "value": 0.0, "interval": None},
        per_layer=rows,
        figures=figures,
    )


def measure_length_distractor(statistics: dict) -> Measurement:
    """Test `atom.length-distractor`: the first principal component of the standardised differences tracks last-token length."""
    claim = CLAIMS["atom.length-distractor"]
    rows = []
    for layer_stats in _layers(statistics):
        result = layer_stats["length_distractor"]
        null = np.array(result["null_abs_r"])
        rows.append({
            "layer": layer_stats["layer"],
            "r": result["r"],
            "null_abs_r_mean": float(null.mean()),
            "null_abs_r_high": _range(null)[1],
            "p": result["p"],
            "holds": result["p"] < SIGNIFICANCE and abs(result["r"]) >= LENGTH_MIN_ABS_CORRELATION,
        })

    holds = all(row["holds"] for row in rows)
    message = (
        "correlation of the first principal component of the standardised differences with the difference in last-token length (characters): "
        + "; ".join(f"layer {row['layer']}: r={row['r']:+.3f} (null of permuted lengths: |r| {row['null_abs_r_mean']:.3f}, 97.5% point {row['null_abs_r_high']:.3f}; p={row['p']:.3g})" for row in rows)
        + f". Threshold: permutation p < {SIGNIFICANCE:.2f} and |r| >= {LENGTH_MIN_ABS_CORRELATION} at every word layer."
    )
    last = rows[-1]
    null = np.array(_layers(statistics)[-1]["length_distractor"]["null_abs_r"])
    return Measurement(
        claim=claim,
        holds=holds,
        message=message,
        observed={"name": f"r(first principal component, length difference) at layer {last['layer']}", "value": last["r"], "interval": None},
        null={"name": "|r| with permuted length differences (95% range)", "value": last["null_abs_r_mean"], "interval": _range(null)},
        per_layer=rows,
        figures=[_length_figure(layer_stats) for layer_stats in _layers(statistics)],
    )


def measure_parallelograms(statistics: dict) -> Measurement:
    """Test `atom.parallelograms`: held-out same-relation quadruples close better after LDA than before, and better than cross-relation ones."""
    claim = CLAIMS["atom.parallelograms"]
    rows = []
    for layer_stats in _layers(statistics):
        before = np.array(layer_stats["splits"]["closure_raw"])
        after = np.array(layer_stats["splits"]["closure_lda"])
        improvement = _range(after - before)
        after_range = _range(after)
        rows.append({
            "layer": layer_stats["layer"],
            "auc_before": float(before.mean()),
            "auc_after": float(after.mean()),
            "after_low": after_range[0],
            "improvement": float((after - before).mean()),
            "low": improvement[0],
            "high": improvement[1],
            "holds": improvement[0] > 0 and after_range[0] > 0.5,
        })

    holds = all(row["holds"] for row in rows)
    message = (
        "probability that a held-out same-relation quadruple closes into a parallelogram better than one drawn across relations "
        "(closure error |d1 - d2| relative to the mean pair length; 0.5 = the cross-relation null): "
        + "; ".join(
            f"layer {row['layer']}: raw {row['auc_before']:.3f}, in LDA space {row['auc_after']:.3f} (95% range low {row['after_low']:.3f}); "
            f"improvement {row['improvement']:+.3f} [{row['low']:+.3f}, {row['high']:+.3f}]"
            for row in rows
        )
        + ". Threshold: at every word layer the 95% range over splits of the improvement lies above zero and that of the LDA-space value above 0.5."
    )
    last = rows[-1]
    return Measurement(
        claim=claim,
        holds=holds,
        message=message,
        observed={"name": f"closure probability in LDA space minus raw, layer {last['layer']}", "value": last["improvement"], "interval": [last["low"], last["high"]]},
        null={"name": "quadruples across relations (probability 0.5)", "value": 0.5, "interval": None},
        per_layer=rows,
        figures=[],
    )


def _relation_labels(statistics: dict) -> list[str]:
    return list(statistics["relations"])


def _raw_plane_figure(statistics: dict, layer_stats: dict) -> dict:
    return {
        "kind": "scatter",
        "title": f"Raw difference vectors, first two principal components, layer {layer_stats['layer']}",
        "x_label": "PC 1",
        "y_label": "PC 2",
        "points": layer_stats["raw_plane"],
        "group_labels": _relation_labels(statistics),
    }


def _lda_plane_figure(statistics: dict, layer_stats: dict) -> dict:
    return {
        "kind": "scatter",
        "title": f"Held-out pairs in the LDA projection fitted on training pairs, layer {layer_stats['layer']}",
        "x_label": "LDA 1",
        "y_label": "LDA 2",
        "points": layer_stats["lda_plane"],
        "group_labels": _relation_labels(statistics),
    }


def _length_figure(layer_stats: dict) -> dict:
    result = layer_stats["length_distractor"]
    lengths = np.array(result["length_difference"])
    ends = [float(lengths.min()), float(lengths.max())]
    return {
        "kind": "scatter",
        "title": f"First principal component against last-token length difference, layer {layer_stats['layer']} (r = {result['r']:+.2f})",
        "x_label": "length(subject's last token) - length(object's last token), characters",
        "y_label": "first principal component",
        "points": {"x": result["length_difference"], "y": result["first_component"], "group": [0] * len(lengths)},
        "group_labels": ["word pair"],
        "line": {"x": ends, "y": [result["fit"]["intercept"] + result["fit"]["slope"] * end for end in ends], "label": "least-squares fit"},
    }


def _components_figure(layer_stats: dict) -> dict:
    splits = layer_stats["splits"]
    components = list(range(1, layer_stats["components"] + 1))

    def series(label: str, key: str) -> dict:
        values = np.array(splits[key])
        return {
            "label": label,
            "x": components,
            "value": values.mean(axis=0).tolist(),
            "low": np.quantile(values, (1 - CONFIDENCE) / 2, axis=0).tolist(),
            "high": np.quantile(values, 1 - (1 - CONFIDENCE) / 2, axis=0).tolist(),
        }

    permuted = np.array(splits["permuted_lda"])
    return {
        "kind": "x-profile",
        "title": f"Held-out silhouette against the number of components, layer {layer_stats['layer']}",
        "x_label": "components",
        "y_label": "held-out silhouette of relation labels",
        "series": [series("LDA fitted on training pairs", "lda"), series("PCA fitted on training pairs", "pca")],
        "null_band": {
            "label": "LDA fitted on permuted labels (95% range over splits)",
            "x": components,
            "low": np.quantile(permuted, (1 - CONFIDENCE) / 2, axis=0).tolist(),
            "high": np.quantile(permuted, 1 - (1 - CONFIDENCE) / 2, axis=0).tolist(),
        },
        "reference_line": 0.0,
    }
