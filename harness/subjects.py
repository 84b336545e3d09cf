"""Subjects: what `--model NAME` names, and the settings of one run.

A subject is data (a table in a TOML file): its kind, the model's size and
where its weights, SAEs and corpus come from. The built-in subjects live in
`harness/data/subjects.toml`; a user adds more with `--subjects FILE` in the
same form. `open_subject` turns a spec into an object the claims can measure.
"""

from __future__ import annotations

import importlib
import logging
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from harness.budgets import Budget
from harness.cache import Cache
from harness.errors import SubjectError

logger = logging.getLogger(__name__)

BUILTIN_SUBJECTS_FILE = Path(__file__).parent / "data" / "subjects.toml"

# The class that builds each kind of subject, as "module:Class" so that a
# synthetic run never imports torch or transformers.
SUBJECT_KINDS = {
    "trained-saes": "harness.pipeline:TrainedSAESubject",
    "gaussian-null": "fixtures.gaussian_null:GaussianNullSubject",
    "planted": "fixtures.planted:PlantedSubject",
    "planted-sae": "fixtures.planted_sae:PlantedSAESubject",
}

_REQUIRED_FIELDS = {
    "description": str,
    "kind": str,
    "n_layers": int,
    "d_model": int,
    "corpus": str,
    "firing_threshold": (int, float),
}
_OPTIONAL_FIELDS = {"model": dict, "atom_layers": list}


@dataclass(frozen=True)
class SubjectSpec:
    """One subject's definition, as read from a subjects file."""

    name: str
    description: str
    kind: str
    n_layers: int
    d_model: int
    corpus: str
    firing_threshold: float
    model: dict = field(default_factory=dict)
    atom_layers: tuple[int, ...] = ()
    defined_in: str = ""

    @property
    def word_layers(self) -> tuple[int, ...]:
        """Layers at which the atom scale reads word representations.

        The subject's `atom_layers` when given (the paper used 0 and 12 of
        Gemma-2-2b), otherwise the first block and the middle block.
        """
        return self.atom_layers or tuple(sorted({0, (self.n_layers - 1) // 2}))


@dataclass(frozen=True)
class RunSettings:
    """Everything besides the subject that a run's numbers depend on."""

    budget: Budget
    layers: tuple[int, ...]
    seed: int
    device: str
    cache: Cache
    corpus: str | None = None
    relations: Path | None = None


class Subject(Protocol):
    """What a claim measures: per analysed layer, an SAE point cloud and raw activations."""

    spec: SubjectSpec
    settings: RunSettings
    timings: dict[str, float]

    def feature_directions(self, layer: int) -> np.ndarray:
        """Return the unit decoder rows of the layer's live features (n_features x d_model)."""

    def activation_point_cloud(self, layer: int) -> np.ndarray:
        """Return raw residual-stream vectors of the layer from held-out text (n x d_model)."""

    def data_key(self, layer: int) -> dict:
        """Return what identifies the layer's data, for the keys of cached statistics."""

    def sae_quality(self) -> list[dict]:
        """Return one row per analysed layer with the SAE's held-out quality."""


def _parse_spec(name: str, table: dict, source: str) -> SubjectSpec:
    if not isinstance(table, dict):
        raise SubjectError(f"subject {name!r} in {source} is not a table; write it as [{name}] with its fields below")

    unknown = sorted(set(table) - set(_REQUIRED_FIELDS) - set(_OPTIONAL_FIELDS))
    if unknown:
        raise SubjectError(f"subject {name!r} in {source} has unknown field(s) {', '.join(unknown)}; known fields: {', '.join([*_REQUIRED_FIELDS, *_OPTIONAL_FIELDS])}")

    for key, expected_type in {**_REQUIRED_FIELDS, **_OPTIONAL_FIELDS}.items():
        if key not in table:
            if key in _REQUIRED_FIELDS:
                raise SubjectError(f"subject {name!r} in {source} is missing the field {key!r}")
            continue
        value = table[key]
        if isinstance(value, bool) or not isinstance(value, expected_type):
            raise SubjectError(f"subject {name!r} in {source}: field {key!r} has the invalid value {value!r}")

    if table["kind"] not in SUBJECT_KINDS:
        raise SubjectError(f"subject {name!r} in {source} has the unknown kind {table['kind']!r}; known kinds: {', '.join(SUBJECT_KINDS)}")
    if table["n_layers"] < 1 or table["d_model"] < 1:
        raise SubjectError(f"subject {name!r} in {source}: n_layers and d_model must be positive")
    atom_layers = table.get("atom_layers", [])
    for layer in atom_layers:
        if isinstance(layer, bool) or not isinstance(layer, int) or not 0 <= layer < table["n_layers"]:
            raise SubjectError(f"subject {name!r} in {source}: atom_layers entry {layer!r} is not a block index from 0 to {table['n_layers'] - 1}")

    return SubjectSpec(
        name=name,
        description=table["description"],
        kind=table["kind"],
        n_layers=table["n_layers"],
        d_model=table["d_model"],
        corpus=table["corpus"],
        firing_threshold=float(table["firing_threshold"]),
        model=dict(table.get("model", {})),
        atom_layers=tuple(sorted(set(atom_layers))),
        defined_in=source,
    )


def read_subjects_file(path: Path) -> dict[str, SubjectSpec]:
    """Read every subject defined in a TOML file.

    Raises
    ------
    SubjectError
        If the file is missing, is not valid TOML, or defines a subject badly.
    """
    path = Path(path)
    try:
        with path.open("rb") as handle:
            tables = tomllib.load(handle)
    except FileNotFoundError:
        raise SubjectError(f"subjects file {path} not found; pass an existing TOML file to --subjects") from None
    except tomllib.TOMLDecodeError as error:
        raise SubjectError(f"subjects file {path} is not valid TOML ({error}); fix the file or drop --subjects") from None

    return {name: _parse_spec(name, table, str(path)) for name, table in tables.items()}


def known_subjects(extra_file: Path | None = None) -> dict[str, SubjectSpec]:
    """Return the built-in subjects, overlaid with those of `extra_file` when given."""
    subjects = read_subjects_file(BUILTIN_SUBJECTS_FILE)
    if extra_file is not None:
        subjects.update(read_subjects_file(extra_file))
    return subjects


def find_subject(name: str, extra_file: Path | None = None) -> SubjectSpec:
    """Look up a subject by name.

    Raises
    ------
    SubjectError
        If no subject has that name; the message lists the known subjects.
    """
    subjects = known_subjects(extra_file)
    if name not in subjects:
        raise SubjectError(f"unknown --model {name!r}; known subjects: {', '.join(sorted(subjects))} (add one with --subjects FILE)")
    return subjects[name]


def select_layers(spec: SubjectSpec, layers_option: str | None, budget: Budget) -> tuple[int, ...]:
    """Turn the `--layers` option into layer indices, checked against the model's depth.

    With no option, the budget's `layer_count` layers are spread evenly from
    the first block to the last (every block when it is None). Layer i is the
    output of transformer block i, counting from 0.
    """
    last = spec.n_layers - 1

    if layers_option is None or layers_option.strip() == "":
        if budget.layer_count is None or budget.layer_count >= spec.n_layers:
            return tuple(range(spec.n_layers))
        spread = np.linspace(0, last, budget.layer_count).round().astype(int)
        return tuple(sorted(set(spread.tolist())))

    if layers_option.strip() == "all":
        return tuple(range(spec.n_layers))

    layers = []
    for part in layers_option.split(","):
        try:
            layer = int(part)
        except ValueError:
            raise SubjectError(f"--layers {layers_option!r} is invalid; give comma-separated block indices such as 0,6,12 or 'all'") from None
        if not 0 <= layer <= last:
            raise SubjectError(f"--layers {layer} is out of range for {spec.name}: valid layers are 0 to {last}")
        layers.append(layer)
    return tuple(sorted(set(layers)))


def open_subject(spec: SubjectSpec, settings: RunSettings) -> Subject:
    """Build the runtime object for a subject; expensive work happens lazily, per layer."""
    module_name, class_name = SUBJECT_KINDS[spec.kind].split(":")
    subject_class = getattr(importlib.import_module(module_name), class_name)
    return subject_class(spec, settings)
