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
    "hub-saes": "harness.hub:HubSAESubject",
}

# Kinds whose subjects run a model, so that --device matters.
MODEL_KINDS = ("trained-saes", "hub-saes")

# The scales that read pretrained SAEs, each from its own table [NAME.saes.SCALE]
# of a "hub-saes" subject (the atom scale reads the residual stream, no SAE).
SAE_SCALES = ("galaxy", "brain")
_SAE_TABLE_FIELDS = {"release": str, "sae_id": str, "sae_ids": list, "width": int}
_HUB_MODEL_FIELDS = {"hub_id": str, "gated": bool, "attention": str, "center_residual": bool}

_REQUIRED_FIELDS = {
    "description": str,
    "kind": str,
    "n_layers": int,
    "d_model": int,
    "corpus": str,
    "firing_threshold": (int, float),
}
_OPTIONAL_FIELDS = {"model": dict, "atom_layers": list, "saes": dict}


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
    saes: dict = field(default_factory=dict)
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


def _check_hub_fields(name: str, table: dict, source: str) -> None:
    """Check the [NAME.model] and [NAME.saes.SCALE] tables of a "hub-saes" subject.

    Each scale names a sae-lens release and either one `sae_id` template
    with `{layer}` or a list `sae_ids` whose entry i is the SAE that reads
    the output of block i. Every error is one line naming the field.
    """
    where = f"subject {name!r} in {source}"
    model = table.get("model", {})
    unknown = sorted(set(model) - set(_HUB_MODEL_FIELDS))
    if unknown:
        raise SubjectError(f"{where}: [{name}.model] has unknown field(s) {', '.join(unknown)}; known fields: {', '.join(_HUB_MODEL_FIELDS)}")
    if not isinstance(model.get("hub_id"), str) or not model["hub_id"].strip():
        raise SubjectError(f"{where}: [{name}.model] needs hub_id, the model's Hugging Face id such as \"google/gemma-2-2b\"")
    for key, expected_type in _HUB_MODEL_FIELDS.items():
        if key in model and not isinstance(model[key], expected_type):
            raise SubjectError(f"{where}: field 'model.{key}' has the invalid value {model[key]!r}")

    saes = table.get("saes", {})
    missing = [scale for scale in SAE_SCALES if scale not in saes]
    if missing:
        raise SubjectError(f"{where} needs [{name}.saes.{missing[0]}] with the release and SAE ids of its {missing[0]}-scale SAEs")
    unknown = sorted(set(saes) - set(SAE_SCALES))
    if unknown:
        raise SubjectError(f"{where}: [{name}.saes] has unknown scale(s) {', '.join(unknown)}; known scales: {', '.join(SAE_SCALES)}")
    for scale in SAE_SCALES:
        _check_sae_table(f"{where}: saes.{scale}", saes[scale], table["n_layers"])


def _check_sae_table(where: str, sae_table, n_layers: int) -> None:
    if not isinstance(sae_table, dict):
        raise SubjectError(f"{where} is not a table; write it as a table with release and sae_id or sae_ids")
    unknown = sorted(set(sae_table) - set(_SAE_TABLE_FIELDS))
    if unknown:
        raise SubjectError(f"{where} has unknown field(s) {', '.join(unknown)}; known fields: {', '.join(_SAE_TABLE_FIELDS)}")
    for key, expected_type in _SAE_TABLE_FIELDS.items():
        value = sae_table.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, expected_type)):
            raise SubjectError(f"{where}: field {key!r} has the invalid value {value!r}")
    if not sae_table.get("release"):
        raise SubjectError(f"{where} is missing the field 'release' (a sae-lens release name)")
    if ("sae_id" in sae_table) == ("sae_ids" in sae_table):
        raise SubjectError(f"{where} needs exactly one of 'sae_id' (a template with {{layer}}) and 'sae_ids' (one id per block)")
    if "sae_id" in sae_table and "{layer}" not in sae_table["sae_id"]:
        raise SubjectError(f"{where}: field 'sae_id' {sae_table['sae_id']!r} has no {{layer}}; write the block index as {{layer}} or list every id in 'sae_ids'")
    if "sae_ids" in sae_table:
        ids = sae_table["sae_ids"]
        if len(ids) != n_layers or not all(isinstance(sae_id, str) and sae_id for sae_id in ids):
            raise SubjectError(f"{where}: field 'sae_ids' must list {n_layers} SAE ids, entry i reading the output of block i; it has {len(ids)} entries")
    if "width" in sae_table and sae_table["width"] < 1:
        raise SubjectError(f"{where}: field 'width' must be a positive number of SAE features")


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
    if table["kind"] == "hub-saes":
        _check_hub_fields(name, table, source)
    elif "saes" in table:
        raise SubjectError(f"subject {name!r} in {source}: field 'saes' is only for kind \"hub-saes\"; remove it or change the kind")

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
        saes={scale: dict(values) for scale, values in table.get("saes", {}).items()},
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
