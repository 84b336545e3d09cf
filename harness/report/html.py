"""Render the results of a claims run as one self-contained HTML page.

The page has no external resources: CSS sits in a ``<style>`` tag and figures are inline
SVG, so the file opens offline and can be mailed or archived on its own. Every string
taken from the results is escaped. Optional keys may be missing or None anywhere, so a
claim that errored before measuring anything still renders with its message.
"""

from __future__ import annotations

import html
import json
import logging
import math
import numbers
import re
from collections.abc import Iterable, Mapping, Sequence

from harness.report.figures import render_figure

logger = logging.getLogger(__name__)

VERDICTS: tuple[str, ...] = ("holds", "does not hold", "error", "not evaluable")
MISSING = "—"
SIGNIFICANT_DIGITS = 4
MAX_LIST_ITEMS_IN_CELL = 8
_NUMBER_CLASS = ' class="number"'

_SAE_QUALITY_COLUMNS: tuple[tuple[str, str], ...] = (
    ("layer", "layer"),
    ("n_features", "features"),
    ("k", "k"),
    ("training_samples", "training samples"),
    ("fraction_variance_explained", "fraction of variance explained"),
    ("mean_l0", "mean L0"),
    ("dead_fraction", "dead fraction"),
)

_STYLESHEET = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
       max-width: 1100px; margin: 2rem auto; padding: 0 1.25rem; color: #1f2328; line-height: 1.5; }
h1 { font-size: 1.6rem; margin-bottom: 0.3rem; }
h2 { font-size: 1.3rem; border-bottom: 1px solid #d0d7de; padding-bottom: 0.25rem; margin-top: 2.5rem; }
h3 { font-size: 1rem; margin: 0.4rem 0 0.3rem; }
a { color: #0550ae; text-decoration: none; }
a:hover { text-decoration: underline; }
code, pre { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; }
table { border-collapse: collapse; margin: 0.75rem 0; font-size: 0.9rem; }
th, td { border: 1px solid #d0d7de; padding: 0.3rem 0.6rem; text-align: left; vertical-align: top; }
th { background: #f6f8fa; font-weight: 600; }
td.number, th.number { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.badge { display: inline-block; padding: 0.1rem 0.6rem; border-radius: 1rem; color: #fff; font-size: 0.8rem;
         font-weight: 600; white-space: nowrap; vertical-align: middle; }
.verdict-holds { background: #1a7f37; }
.verdict-does-not-hold { background: #b54708; }
.verdict-error { background: #82071e; }
.verdict-not-evaluable, .verdict-unknown { background: #6e7781; }
.summary { margin: 0.5rem 0 1rem; }
.summary .badge { margin-right: 0.4rem; }
.subtitle, .quantity-name, .scale { color: #57606a; font-size: 0.85rem; }
.quantity-name { white-space: normal; }
.statement { font-size: 1.05rem; }
.comparison { display: grid; grid-template-columns: 1fr 1fr; gap: 1rem; margin: 0.75rem 0; }
.comparison > div { background: #f6f8fa; border-radius: 6px; padding: 0.4rem 0.9rem 0.6rem; }
.comparison dl { margin: 0; }
.comparison dt { color: #57606a; font-size: 0.85rem; margin-top: 0.3rem; }
.comparison dd { margin: 0; font-variant-numeric: tabular-nums; }
pre.message { white-space: pre-wrap; background: #f6f8fa; border-left: 4px solid #d0d7de; padding: 0.6rem 0.8rem;
              font-size: 0.85rem; border-radius: 0 6px 6px 0; }
section.claim-error pre.message { border-left-color: #82071e; background: #fff5f5; }
figure.plot { margin: 1rem 0; }
figure.plot svg { width: 100%; max-width: 820px; height: auto; }
.figure-note { color: #57606a; font-style: italic; }
.back { font-size: 0.85rem; }
@media (max-width: 720px) { .comparison { grid-template-columns: 1fr; } }
"""


def format_number(value: object) -> str:
    """Format a number for display with four significant digits.

    Integers are shown exactly, so counts such as training samples stay precise. Floats
    use scientific notation when ``|x| < 1e-3`` or ``|x| >= 1e6`` (zero excepted) and fixed
    notation otherwise, with trailing zeros dropped. None becomes "—", booleans "yes"/"no",
    and anything that is not a number is returned as ``str(value)``.
    """
    if value is None:
        return MISSING
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if not isinstance(value, numbers.Real):
        return str(value)

    number = float(value)
    if math.isnan(number):
        return "NaN"
    if math.isinf(number):
        return "∞" if number > 0 else "-∞"
    if number == 0:
        return "0"

    if abs(number) < 1e-3 or abs(number) >= 1e6:
        mantissa, exponent = f"{number:.{SIGNIFICANT_DIGITS - 1}e}".split("e")
        return f"{_strip_trailing_zeros(mantissa)}e{int(exponent)}"

    # Rounding first fixes the digit count when rounding carries into a new digit (9.9996 -> 10).
    magnitude = math.floor(math.log10(abs(number)))
    rounded = round(number, SIGNIFICANT_DIGITS - 1 - magnitude)
    magnitude = math.floor(math.log10(abs(rounded)))
    decimals = max(0, SIGNIFICANT_DIGITS - 1 - magnitude)
    return _strip_trailing_zeros(f"{rounded:.{decimals}f}")


def _strip_trailing_zeros(text: str) -> str:
    if "." not in text:
        return text
    return text.rstrip("0").rstrip(".")


def format_interval(interval: object) -> str:
    """Format a two-element ``[low, high]`` interval as "[low, high]", or None as ""."""
    if interval is None:
        return ""
    if isinstance(interval, Sequence) and not isinstance(interval, str) and len(interval) == 2:
        return f"[{format_number(interval[0])}, {format_number(interval[1])}]"
    return str(interval)


def format_cell(value: object) -> str:
    """Format any JSON value for a table cell, shortening long lists."""
    if isinstance(value, Mapping):
        return json.dumps(value, default=str)
    if isinstance(value, Sequence) and not isinstance(value, str):
        formatted_items = ", ".join(format_number(item) for item in list(value)[:MAX_LIST_ITEMS_IN_CELL])
        if len(value) > MAX_LIST_ITEMS_IN_CELL:
            formatted_items += f", … ({len(value)} values)"
        return f"[{formatted_items}]"
    return format_number(value)


def render_report(results: Mapping) -> str:
    """Render the results dict of a claims run as one self-contained HTML document.

    Parameters
    ----------
    results
        The dict that ``harness.report.write_report`` also saves as results.json, with
        ``run``, ``claims`` and ``summary`` keys. Missing optional keys are shown as empty.

    Returns
    -------
    str
        The complete HTML document.
    """
    run = _mapping(results.get("run"))
    claims = [_mapping(claim) for claim in _sequence(results.get("claims"))]
    anchors = _claim_anchors(claims)
    title = f"concept-geometry report: {run.get('subject') or 'unknown subject'}, {run.get('budget') or 'unknown'} budget"

    body = [
        f"<h1>{_escape(title)}</h1>",
        _run_subtitle(run),
        _summary_line(results.get("summary"), claims),
        '<h2 id="claims">Claims</h2>',
        _claims_table(claims, anchors),
    ]
    body.extend(_claim_section(claim, anchor) for claim, anchor in zip(claims, anchors))
    body.append(_run_section(run))

    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en">',
            "<head>",
            '<meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{_escape(title)}</title>",
            f"<style>{_STYLESHEET}</style>",
            "</head>",
            "<body>",
            *body,
            "</body>",
            "</html>",
            "",
        ]
    )


def _mapping(value: object) -> Mapping:
    return value if isinstance(value, Mapping) else {}


def _sequence(value: object) -> Sequence:
    return value if isinstance(value, Sequence) and not isinstance(value, str) else []


def _escape(value: object) -> str:
    return html.escape("" if value is None else str(value))


def _verdict_class(verdict: object) -> str:
    if verdict in VERDICTS:
        return "verdict-" + str(verdict).replace(" ", "-")
    return "verdict-unknown"


def _badge(verdict: object, text: str | None = None) -> str:
    label = text if text is not None else (verdict or "no verdict")
    return f'<span class="badge {_verdict_class(verdict)}">{_escape(label)}</span>'


def _claim_anchors(claims: list[Mapping]) -> list[str]:
    """Return one unique, URL-safe element id per claim, derived from the claim id."""
    anchors = []
    seen: set[str] = set()
    for index, claim in enumerate(claims):
        base = "claim-" + (re.sub(r"[^A-Za-z0-9_.-]+", "-", str(claim.get("id") or "")).strip("-") or str(index + 1))
        anchor = base
        suffix = 2
        while anchor in seen:
            anchor = f"{base}-{suffix}"
            suffix += 1
        seen.add(anchor)
        anchors.append(anchor)
    return anchors


def _run_subtitle(run: Mapping) -> str:
    parts = []
    if run.get("subject_description"):
        parts.append(_escape(run["subject_description"]))
    if run.get("started"):
        parts.append(f"started {_escape(run['started'])}")
    if run.get("duration_s") is not None:
        parts.append(f"took {_escape(_format_duration(run['duration_s']))}")
    if run.get("device"):
        parts.append(f"on {_escape(run['device'])}")
    return f'<p class="subtitle">{" · ".join(parts)} · <a href="#run">run details</a></p>'


def _summary_line(summary: object, claims: list[Mapping]) -> str:
    counts = dict(_mapping(summary))
    if not counts:
        for claim in claims:
            verdict = claim.get("verdict") or "no verdict"
            counts[verdict] = counts.get(verdict, 0) + 1

    ordered = [verdict for verdict in VERDICTS if verdict in counts]
    ordered += [verdict for verdict in counts if verdict not in VERDICTS]
    badges = " ".join(_badge(verdict, f"{format_number(counts[verdict])} {verdict}") for verdict in ordered)
    claim_count = f"{len(claims)} claim" if len(claims) == 1 else f"{len(claims)} claims"
    return f'<p class="summary">{claim_count}: {badges}</p>'


def _quantity_cell(quantity: object) -> str:
    """Show an observed or null quantity as "value [low, high]" with its name underneath."""
    quantity = _mapping(quantity)
    if not quantity:
        return f'<td class="number">{MISSING}</td>'
    text = " ".join(part for part in (format_number(quantity.get("value")), format_interval(quantity.get("interval"))) if part)
    name = f'<div class="quantity-name">{_escape(quantity["name"])}</div>' if quantity.get("name") else ""
    return f'<td class="number">{_escape(text)}{name}</td>'


def _claims_table(claims: list[Mapping], anchors: list[str]) -> str:
    if not claims:
        return "<p>No claims were run.</p>"

    # Thresholds are long sentences, so they appear in each claim's section, not here.
    rows = ["<tr><th>claim</th><th>verdict</th><th>observed</th><th>null</th></tr>"]
    for claim, anchor in zip(claims, anchors):
        rows.append(
            "<tr>"
            f'<td><a href="#{anchor}"><code>{_escape(claim.get("id") or "(no id)")}</code></a></td>'
            f"<td>{_badge(claim.get('verdict'))}</td>"
            f"{_quantity_cell(claim.get('observed'))}"
            f"{_quantity_cell(claim.get('null'))}"
            "</tr>"
        )
    return '<table class="claims">\n' + "\n".join(rows) + "\n</table>"


def _measured_list(claim: Mapping) -> str:
    items = []
    for role in ("observed", "null"):
        quantity = _mapping(claim.get(role))
        if not quantity:
            items.append(f"<dt>{role}</dt><dd>{MISSING}</dd>")
            continue
        name = f"{role}: {quantity['name']}" if quantity.get("name") else role
        value = " ".join(part for part in (format_number(quantity.get("value")), format_interval(quantity.get("interval"))) if part)
        items.append(f"<dt>{_escape(name)}</dt><dd>{_escape(value)}</dd>")
    return "<dl>" + "".join(items) + "</dl>"


def _claim_section(claim: Mapping, anchor: str) -> str:
    verdict = claim.get("verdict")
    parts = [
        f'<section class="{"claim claim-error" if verdict == "error" else "claim"}" id="{anchor}">',
        f'<h2><code>{_escape(claim.get("id") or "(no id)")}</code> {_badge(verdict)}</h2>',
    ]
    if claim.get("scale"):
        parts.append(f'<p class="scale">scale: {_escape(claim["scale"])}</p>')
    parts.append(f'<p class="statement">{_escape(claim.get("statement") or MISSING)}</p>')
    parts.append(
        '<div class="comparison">'
        f'<div><h3>Paper</h3><p>{_escape(claim.get("paper_finding") or MISSING)}</p></div>'
        f"<div><h3>Measured</h3>{_measured_list(claim)}</div>"
        "</div>"
    )
    parts.append(f"<p><strong>Threshold:</strong> {_escape(claim.get('threshold') or MISSING)}</p>")
    if claim.get("message"):
        parts.append(f'<pre class="message">{_escape(claim["message"])}</pre>')

    per_layer = [row for row in _sequence(claim.get("per_layer")) if isinstance(row, Mapping)]
    if per_layer:
        parts.append("<h3>Per layer</h3>")
        parts.append(_records_table(per_layer))

    for index, spec in enumerate(_sequence(claim.get("figures"))):
        parts.append(render_figure(spec, id_prefix=f"{anchor}-figure{index + 1}-"))

    parts.append('<p class="back"><a href="#claims">back to the claims table</a></p>')
    parts.append("</section>")
    return "\n".join(parts)


def _is_number(value: object) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _records_table(rows: list[Mapping], columns: Iterable[tuple[str, str]] | None = None) -> str:
    """Render flat dicts as a table whose columns default to the union of keys in first-seen order."""
    if columns is None:
        keys: dict[str, None] = {}
        for row in rows:
            keys.update(dict.fromkeys(row))
        columns = [(key, key) for key in keys]
    columns = list(columns)

    numeric = {
        key: all(_is_number(row.get(key)) for row in rows if row.get(key) is not None)
        and any(row.get(key) is not None for row in rows)
        for key, _ in columns
    }
    header = "".join(
        f"<th{_NUMBER_CLASS if numeric[key] else ''}>{_escape(label)}</th>" for key, label in columns
    )
    lines = [f"<tr>{header}</tr>"]
    for row in rows:
        cells = "".join(
            f"<td{_NUMBER_CLASS if numeric[key] else ''}>{_escape(format_cell(row.get(key)))}</td>"
            for key, _ in columns
        )
        lines.append(f"<tr>{cells}</tr>")
    return "<table>\n" + "\n".join(lines) + "\n</table>"


def _key_value_table(values: Mapping, key_header: str, value_header: str) -> str:
    rows = [f"<tr><th>{_escape(key_header)}</th><th>{_escape(value_header)}</th></tr>"]
    for key, value in values.items():
        rows.append(f"<tr><td>{_escape(key)}</td><td>{_escape(format_cell(value))}</td></tr>")
    return "<table>\n" + "\n".join(rows) + "\n</table>"


def _format_duration(seconds: object) -> str:
    if not _is_number(seconds) or not math.isfinite(float(seconds)):
        return format_number(seconds)
    text = f"{format_number(seconds)} s"
    if float(seconds) >= 60:
        minutes, remainder = divmod(round(float(seconds)), 60)
        hours, minutes = divmod(minutes, 60)
        clock = f"{hours} h {minutes} min" if hours else f"{minutes} min {remainder} s"
        text += f" ({clock})"
    return text


def _timings_table(timings: Mapping, duration: object) -> str:
    stage_seconds = [value for value in timings.values() if _is_number(value)]
    total = float(duration) if _is_number(duration) and float(duration) > 0 else sum(stage_seconds)
    rows = ['<tr><th>stage</th><th class="number">seconds</th><th class="number">share of run</th></tr>']
    for stage, seconds in timings.items():
        share = f"{100 * float(seconds) / total:.1f} %" if _is_number(seconds) and total > 0 else MISSING
        rows.append(
            f'<tr><td>{_escape(stage)}</td><td class="number">{_escape(format_number(seconds))}</td>'
            f'<td class="number">{share}</td></tr>'
        )
    return "<table>\n" + "\n".join(rows) + "\n</table>"


def _run_section(run: Mapping) -> str:
    layers = run.get("layers")
    layer_text = ", ".join(format_number(layer) for layer in _sequence(layers)) if layers is not None else MISSING
    if run.get("n_layers") is not None:
        layer_text += f" (of {format_number(run['n_layers'])} layers)"

    overview = {
        "subject": run.get("subject"),
        "description": run.get("subject_description"),
        "budget": run.get("budget"),
        "layers": layer_text,
        "seed": run.get("seed"),
        "device": run.get("device"),
        "started": run.get("started"),
        "finished": run.get("finished"),
        "duration": _format_duration(run.get("duration_s")),
    }
    parts = ['<h2 id="run">Run</h2>', _key_value_table(overview, "field", "value")]

    timings = _mapping(run.get("timings"))
    parts.append("<h3>Time per stage</h3>")
    parts.append(_timings_table(timings, run.get("duration_s")) if timings else "<p>No stage timings recorded.</p>")

    versions = _mapping(run.get("versions"))
    parts.append("<h3>Versions</h3>")
    parts.append(_key_value_table(versions, "package", "version") if versions else "<p>No versions recorded.</p>")

    settings = _mapping(run.get("settings"))
    parts.append("<h3>Settings</h3>")
    parts.append(_key_value_table(settings, "setting", "value") if settings else "<p>No settings recorded.</p>")

    parts.append("<h3>Sparse autoencoder quality</h3>")
    sae_rows = [row for row in _sequence(run.get("sae_quality")) if isinstance(row, Mapping)]
    if sae_rows:
        known = {key for key, _ in _SAE_QUALITY_COLUMNS}
        extra_keys: dict[str, None] = {}
        for row in sae_rows:
            extra_keys.update(dict.fromkeys(key for key in row if key not in known))
        columns = [*_SAE_QUALITY_COLUMNS, *((key, key) for key in extra_keys)]
        parts.append(_records_table(sae_rows, columns))
    else:
        parts.append("<p>No SAEs trained for this subject.</p>")

    return "\n".join(parts)
