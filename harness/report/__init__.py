"""Write the results of a claims run as strict JSON and as a self-contained HTML report.

``write_report`` is the entry point. results.json is the record that downstream tools
read, and report.html is the page interpretability researchers read: which claims hold,
with the measured numbers, the nulls and figures.
"""

from __future__ import annotations

import json
import logging
import math
import os
import pathlib
import tempfile
from collections.abc import Iterator, Mapping

from harness.report.html import format_number, render_report

__all__ = ["format_number", "render_report", "results_to_json", "write_report"]

logger = logging.getLogger(__name__)

RESULTS_FILE_NAME = "results.json"
REPORT_FILE_NAME = "report.html"
OUTPUT_FILE_MODE = 0o644


def write_report(results: dict, folder: pathlib.Path) -> pathlib.Path:
    """Write results.json and report.html into folder (created if missing); return the path of report.html.

    Both documents are rendered in memory before anything touches the disk, and each file
    is written to a temporary file in ``folder`` and then moved over the target with
    ``os.replace``. A crash or an exception therefore leaves each file either absent, as it
    was before, or complete. The two files are replaced one after the other, so a crash
    between the two replacements can leave a new results.json next to an old report.html.

    Raises
    ------
    ValueError
        If ``results`` contains NaN or infinity. The message names the JSON path of the
        first such value, for example ``claims[1].observed.value``.
    """
    folder = pathlib.Path(folder)
    results_text = results_to_json(results)
    report_text = render_report(results)

    folder.mkdir(parents=True, exist_ok=True)
    _write_atomically(folder / RESULTS_FILE_NAME, results_text)
    report_path = folder / REPORT_FILE_NAME
    _write_atomically(report_path, report_text)

    logger.info("Wrote %s and %s to %s", RESULTS_FILE_NAME, REPORT_FILE_NAME, folder)
    return report_path


def results_to_json(results: Mapping) -> str:
    """Serialise results as strict JSON (no NaN or infinity), indented by two spaces.

    Raises
    ------
    ValueError
        If a value is NaN or infinite, naming its JSON path so the producing claim can be
        fixed to report None (null) or a finite number instead.
    """
    try:
        return json.dumps(results, indent=2, sort_keys=False, allow_nan=False)
    except ValueError:
        for path, value in _non_finite_floats(results, "", set()):
            raise ValueError(
                f"results contains {value!r} at {path}, which strict JSON cannot represent. "
                "Report a missing or undefined number as None instead."
            ) from None
        raise


def _non_finite_floats(value: object, path: str, containers_on_path: set[int]) -> Iterator[tuple[str, float]]:
    """Yield ``(json_path, value)`` for each NaN or infinity, depth first in document order.

    A container that contains itself is skipped, because json.dumps also raises ValueError
    for circular references and the search must then end so that error is re-raised.
    """
    if isinstance(value, float):
        if not math.isfinite(value):
            yield path, value
        return

    if not isinstance(value, (Mapping, list, tuple)) or id(value) in containers_on_path:
        return
    containers_on_path.add(id(value))
    if isinstance(value, Mapping):
        for key, item in value.items():
            yield from _non_finite_floats(item, f"{path}.{key}" if path else str(key), containers_on_path)
    else:
        for index, item in enumerate(value):
            yield from _non_finite_floats(item, f"{path}[{index}]", containers_on_path)
    containers_on_path.discard(id(value))


def _write_atomically(path: pathlib.Path, text: str) -> None:
    """Write text to a temporary file next to ``path``, flush it to disk, then rename it over ``path``."""
    descriptor, temporary_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        # mkstemp creates the file readable by its owner only, but the report is meant to be shared.
        os.chmod(temporary_name, OUTPUT_FILE_MODE)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary_name, path)
    except BaseException:
        pathlib.Path(temporary_name).unlink(missing_ok=True)
        raise
