"""Claims, their pre-registered thresholds, and the measurement each test asserts on.

Every threshold below was fixed before any subject's result was looked at
and is the same for every subject. A claim test fails when the data do not
support the claim; that is a result, reported with its numbers, not a crash.
"""

from __future__ import annotations

from dataclasses import dataclass, field

HOLDS = "holds"
DOES_NOT_HOLD = "does not hold"
ERROR = "error"
NOT_EVALUABLE = "not evaluable"
VERDICTS = (HOLDS, DOES_NOT_HOLD, ERROR, NOT_EVALUABLE)

# Two-sided coverage of every interval the verdicts use.
CONFIDENCE = 0.95
# A log-log fit with a lower R^2 than this is not called a power law.
POWER_LAW_MIN_R_SQUARED = 0.9
# galaxy.sae-steeper holds when more than this fraction of layers shows it.
SAE_STEEPER_MIN_LAYER_FRACTION = 0.5
# Layers at depth fraction below the first value are "early", above the second "late".
DEPTH_THIRDS = (1 / 3, 2 / 3)


class MeasurementError(Exception):
    """A claim that cannot be measured with the data and settings given."""


@dataclass(frozen=True)
class Claim:
    """A claim of the paper as the harness tests it."""

    id: str
    scale: str
    statement: str
    paper_finding: str
    threshold: str


@dataclass
class Measurement:
    """The outcome of measuring one claim on one subject.

    `observed` and `null` are dicts with a `name`, a `value` and an
    `interval` (or None); `per_layer` rows and `figures` go to the report
    as they are.
    """

    claim: Claim
    holds: bool
    message: str
    observed: dict
    null: dict | None
    per_layer: list[dict] = field(default_factory=list)
    figures: list[dict] = field(default_factory=list)

    def __repr__(self) -> str:
        return f"<Measurement {self.claim.id}: {self.verdict}>"

    @property
    def verdict(self) -> str:
        """`holds` or `does not hold`."""
        return HOLDS if self.holds else DOES_NOT_HOLD

    def as_result(self) -> dict:
        """Return the JSON-ready entry of this claim for results.json."""
        return {
            "id": self.claim.id,
            "scale": self.claim.scale,
            "statement": self.claim.statement,
            "paper_finding": self.claim.paper_finding,
            "verdict": self.verdict,
            "message": self.message,
            "threshold": self.claim.threshold,
            "observed": self.observed,
            "null": self.null,
            "per_layer": self.per_layer,
            "figures": self.figures,
        }


CLAIMS: dict[str, Claim] = {
    claim.id: claim
    for claim in [
        Claim(
            id="atom.relation-clusters",
            scale="atom",
            statement="Difference vectors of word pairs cluster by relation, above a label-permutation null.",
            paper_finding="Raw differences of Gemma-2-2b word representations (layers 0 and 12) gave a slightly negative silhouette, about -0.08: the clusters exist but are blurred by distractors.",
            threshold="At every word layer the silhouette of the relation labels on all raw differences exceeds its label-permutation null with permutation p < 0.05.",
        ),
        Claim(
            id="atom.lda-sharpens",
            scale="atom",
            statement="An LDA projection fitted on training pairs raises the cluster quality of held-out pairs.",
            paper_finding="In LDA space (2 to 11 components) the silhouette rose well above zero; the original fitted and scored LDA on the same pairs.",
            threshold=(
                "At every word layer, over repeated stratified 80/20 splits, the held-out silhouette in the full LDA space minus that of an LDA "
                f"fitted on permuted training labels has its central {CONFIDENCE:.0%} range above zero."
            ),
        ),
        Claim(
            id="atom.length-distractor",
            scale="atom",
            statement="The top principal direction of the difference vectors tracks the difference in word length.",
            paper_finding="The first principal component of the standardised differences grows linearly with the difference in length of the two words' last tokens.",
            threshold="At every word layer the correlation of the first principal component with the last-token length difference has permutation p < 0.05 and |r| >= 0.3.",
        ),
        Claim(
            id="atom.parallelograms",
            scale="atom",
            statement="Same-relation quadruples close into parallelograms, and better after LDA projects out distractor directions.",
            paper_finding="Relations such as man:woman::king:queen form parallelograms and trapezoids that become crisp once distractor directions such as word length are projected out.",
            threshold=(
                "At every word layer, over repeated splits, the probability that a held-out same-relation quadruple closes better than a "
                f"cross-relation one is higher in LDA space than raw (central {CONFIDENCE:.0%} range of the gain above zero) and above 0.5 in LDA space."
            ),
        ),
        Claim(
            id="galaxy.power-law",
            scale="galaxy",
            statement="The eigenvalues of the SAE decoder rows' covariance follow a power law steeper than a Gaussian null.",
            paper_finding="Power-law fall-off at every layer of Gemma-2-2b (65k Gemma Scope SAEs), far steeper than an i.i.d. Gaussian matrix of similar shape.",
            threshold=(
                f"At every analysed layer the log-log fit over ranks 10-150 has R^2 >= {POWER_LAW_MIN_R_SQUARED} and alpha exceeds the "
                f"one-sided {CONFIDENCE:.0%} bound (mean + 1.645 sd) of alpha for Gaussian clouds of the same shape."
            ),
        ),
        Claim(
            id="galaxy.slope-peaks-mid",
            scale="galaxy",
            statement="The power-law exponent is largest in the middle layers.",
            paper_finding="The exponent rises from the first layers, is steepest in the middle layers, and falls again towards the last.",
            threshold=(
                "The mean alpha of middle-third layers exceeds both the early-third and the late-third mean: the lower "
                f"bound of the {CONFIDENCE:.0%} basic bootstrap interval of the smaller of the two gaps is above zero."
            ),
        ),
        Claim(
            id="galaxy.sae-steeper",
            scale="galaxy",
            statement="SAE features' covariance spectrum decays more steeply than raw activations' at the same layer.",
            paper_finding="At each layer the SAE point cloud's eigenvalues fall off more steeply than those of the residual-stream activations.",
            threshold=(
                f"In more than {SAE_STEEPER_MIN_LAYER_FRACTION:.0%} of analysed layers the lower bound of the {CONFIDENCE:.0%} basic bootstrap interval of "
                "alpha(SAE) - alpha(activations) is above zero (both clouds as unit vectors, equal sizes)."
            ),
        ),
        Claim(
            id="galaxy.entropy-dip",
            scale="galaxy",
            statement="Clustering (Gaussian entropy minus kNN entropy) is strongest in the middle layers.",
            paper_finding="Clustering, H_gauss - H_knn of 5,000 features in 100 PCA dimensions, peaks in the middle layers and is weakest in the first and last.",
            threshold=(
                "Excess clustering (over a Gaussian sample of the same size and covariance) averaged over middle-third layers is above zero, "
                f"and exceeds both the early-third and the late-third average: the lower {CONFIDENCE:.0%} bounds over "
                "subsamples drawn without replacement are above zero."
            ),
        ),
        Claim(
            id="brain.lobes-ami",
            scale="brain",
            statement="Lobes of features that fire together (phi co-occurrence) share information with clusters of their decoder directions.",
            paper_finding="With Gemma Scope layer-12 16k SAEs on 50,000 Pile documents, AMI between phi lobes and geometry clusters was many sigma above a label-permutation null at k = 2.",
            threshold=(
                f"The AMI z-score against label permutations gives a one-sided p-value whose Holm adjustment across k is below {1 - CONFIDENCE:.2f} "
                "at both k = 2 and k = 3."
            ),
        ),
        Claim(
            id="brain.lobes-predictable",
            scale="brain",
            statement="A feature's phi lobe is predictable from its decoder row.",
            paper_finding="Logistic regression from decoder rows to co-occurrence lobes (80/20 split) reached balanced test accuracy many sigma above random unit vectors at k = 2.",
            threshold=(
                "Balanced test accuracy of logistic regression on standardised decoder rows (80/20 split), as a z-score against random unit "
                f"vectors, gives a Holm-adjusted one-sided p below {1 - CONFIDENCE:.2f} at both k = 2 and k = 3."
            ),
        ),
        Claim(
            id="brain.phi-strongest",
            scale="brain",
            statement="Phi gives the strongest alignment with geometry of the five co-occurrence measures.",
            paper_finding="Of simple matching, Jaccard, Dice, overlap and phi, phi gave the highest AMI with the geometry clusters.",
            threshold=(
                "The mean AMI over k of phi exceeds that of each other measure, with the lower bound of the 95% basic bootstrap interval "
                "(features resampled) of every difference above zero."
            ),
        ),
        Claim(
            id="brain.math-code-lobe",
            scale="brain",
            statement="With three phi lobes, one lobe wins code and math chunks far more often than prose chunks.",
            paper_finding="At k = 3 one lobe won GitHub and DM Mathematics chunks of The Pile; the others split short chat-like text from long scientific prose.",
            threshold=(
                "Genre by winning lobe departs from independence (chi-square p < 0.01) and one lobe wins code and math chunks at least "
                "twice as often as prose chunks. Not evaluable on a corpus without both code-or-math and prose chunks."
            ),
        ),
    ]
}
