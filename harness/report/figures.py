"""Inline SVG figures for the HTML report, drawn with matplotlib from figure specs in the results.

A claim's ``figures`` list contains plain dicts (specs) so that results.json stays the single
record of a run. Two kinds are drawn: ``loglog-spectra`` (eigenvalue spectra against rank)
and ``layer-profile`` (a statistic against layer index). Any other kind, or a spec that
cannot be drawn, becomes a short HTML note so that one bad figure never stops the report.
"""

from __future__ import annotations

import html
import io
import logging
import re
from collections.abc import Callable, Mapping, Sequence

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)
import numpy as np  # noqa: E402
from matplotlib.colors import BoundaryNorm, ListedColormap  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402
from matplotlib.transforms import blended_transform_factory  # noqa: E402

logger = logging.getLogger(__name__)

FIGURE_SIZE_INCHES = (6.5, 4.0)

# Above this many spectra a legend would cover the plot, so a colour bar keyed by series
# order replaces it.
MAX_LEGEND_SERIES = 10

_STYLE = {
    "svg.fonttype": "none",
    "font.size": 10,
    "axes.titlesize": 12,
    "axes.labelsize": 11,
    "xtick.labelsize": 10,
    "ytick.labelsize": 10,
    "legend.fontsize": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
}

# Leaving every metadata field empty makes matplotlib omit the RDF block, which would
# otherwise put Dublin Core and Creative Commons URLs into the page.
_EMPTY_SVG_METADATA = {"Date": None, "Creator": None, "Format": None, "Type": None}

_XML_PROLOG = re.compile(r"<\?xml[^>]*\?>\s*")
_DOCTYPE = re.compile(r"<!DOCTYPE[^>]*>\s*", re.IGNORECASE)
_METADATA_BLOCK = re.compile(r"<metadata>.*?</metadata>\s*", re.DOTALL)
# The id and href patterns require an open tag before the attribute, so text content such
# as a title reading 'id="x"' is left alone.
_ID_ATTRIBUTE = re.compile(r'(<[^<>]*?\s)id="([^"]+)"')
_HREF_REFERENCE = re.compile(r'(<[^<>]*?\s(?:xlink:)?href="#)([^"]+)"')
_URL_REFERENCE = re.compile(r"url\(#([^)]+)\)")


def render_figure(spec: Mapping, id_prefix: str) -> str:
    """Draw one figure spec and return it as an HTML fragment holding an inline ``<svg>``.

    Parameters
    ----------
    spec
        A figure spec from a claim's ``figures`` list. Its ``kind`` key selects the plot.
    id_prefix
        Prefix for every element id inside the SVG. Several SVGs share one HTML document,
        so each needs its own prefix to keep ids (markers, clip paths) from colliding.

    Returns
    -------
    str
        ``<figure>`` with the SVG, or ``<p class="figure-note">`` when the kind is unknown
        or the spec is malformed. A malformed spec is logged as a warning, not raised.
    """
    if not isinstance(spec, Mapping):
        return _note(f"figure spec is a {type(spec).__name__}, not a dict")

    kind = spec.get("kind")
    plotter = _PLOTTERS.get(kind)
    if plotter is None:
        return _note(f"figure kind {kind!r} not supported")

    try:
        svg = _draw_svg(plotter, spec, id_prefix)
    except (KeyError, TypeError, ValueError) as error:
        logger.warning("Figure %r of kind %r could not be drawn: %s", spec.get("title"), kind, error)
        return _note(f"figure {spec.get('title')!r} of kind {kind!r} could not be drawn: {error}")

    return f'<figure class="plot">\n{svg}\n</figure>'


def _note(text: str) -> str:
    return f'<p class="figure-note">{html.escape(text)}</p>'


def _draw_svg(plotter: Callable[[Mapping], Figure], spec: Mapping, id_prefix: str) -> str:
    buffer = io.StringIO()
    open_before = set(plt.get_fignums())
    try:
        with plt.rc_context({**_STYLE, "svg.hashsalt": id_prefix}):
            figure = plotter(spec)
            figure.savefig(buffer, format="svg", metadata=_EMPTY_SVG_METADATA)
    finally:
        # A plotter that raises on a malformed spec has already opened its figure.
        for number in set(plt.get_fignums()) - open_before:
            plt.close(number)

    return _inline_svg(buffer.getvalue(), id_prefix)


def _inline_svg(svg: str, id_prefix: str) -> str:
    """Strip what is invalid inside HTML (prolog, doctype, metadata) and prefix every id."""
    svg = _XML_PROLOG.sub("", svg)
    svg = _DOCTYPE.sub("", svg)
    svg = _METADATA_BLOCK.sub("", svg)
    svg = _ID_ATTRIBUTE.sub(lambda match: f'{match.group(1)}id="{id_prefix}{match.group(2)}"', svg)
    svg = _HREF_REFERENCE.sub(lambda match: f'{match.group(1)}{id_prefix}{match.group(2)}"', svg)
    svg = _URL_REFERENCE.sub(lambda match: f"url(#{id_prefix}{match.group(1)})", svg)
    return svg.strip()


def _as_floats(values: Sequence | None, name: str) -> np.ndarray:
    """Convert a JSON list to a float array, with null entries as NaN."""
    if values is None:
        raise ValueError(f"{name} is missing")
    array = np.array([np.nan if value is None else value for value in values], dtype=float)
    if array.ndim != 1:
        raise ValueError(f"{name} must be a flat list of numbers, got shape {array.shape}")
    return array


def _paired(x_values: Sequence | None, y_values: Sequence | None, x_name: str, y_name: str, owner: str):
    x = _as_floats(x_values, f"{owner}.{x_name}")
    y = _as_floats(y_values, f"{owner}.{y_name}")
    if x.shape != y.shape:
        raise ValueError(f"{owner} has {x.size} {x_name} values but {y.size} {y_name} values")
    return x, y


def _positive_points(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Keep the points a log-log axis can show: finite and strictly positive on both axes."""
    keep = np.isfinite(x) & np.isfinite(y) & (x > 0) & (y > 0)
    return x[keep], y[keep]


def _new_axes(spec: Mapping, default_x_label: str, default_y_label: str):
    figure, axes = plt.subplots(figsize=FIGURE_SIZE_INCHES, layout="constrained")
    axes.set_title(str(spec.get("title") or ""), pad=16)
    axes.set_xlabel(str(spec.get("x_label") or default_x_label))
    axes.set_ylabel(str(spec.get("y_label") or default_y_label))
    axes.grid(True, which="major", color="0.9", linewidth=0.6)
    axes.set_axisbelow(True)
    return figure, axes


def _series_list(spec: Mapping) -> list[Mapping]:
    series = spec.get("series") or []
    if not isinstance(series, Sequence) or not all(isinstance(entry, Mapping) for entry in series):
        raise ValueError("series must be a list of dicts")
    return list(series)


def plot_loglog_spectra(spec: Mapping) -> Figure:
    """Plot eigenvalue spectra against rank on log-log axes.

    Series are coloured along viridis in list order (layer order, in practice), the
    optional ``reference`` spectrum is a dashed black line and the optional ``fit_range``
    a shaded band. Non-positive eigenvalues are dropped because a log axis cannot show them.
    """
    series_list = _series_list(spec)
    figure, axes = _new_axes(spec, "rank", "eigenvalue")
    axes.set_xscale("log")
    axes.set_yscale("log")
    # The yellow end of viridis is hard to see on white, so colours stop short of it.
    colours = [plt.get_cmap("viridis")(position) for position in np.linspace(0.0, 0.85, max(len(series_list), 1))]
    series_handles = []
    other_handles = []
    plotted_points = 0

    for index, series in enumerate(series_list):
        owner = f"series[{index}]"
        rank, eigenvalue = _paired(series.get("rank"), series.get("eigenvalue"), "rank", "eigenvalue", owner)
        rank, eigenvalue = _positive_points(rank, eigenvalue)
        plotted_points += rank.size
        label = str(series.get("label") or f"series {index}")
        (line,) = axes.plot(rank, eigenvalue, color=colours[index], linewidth=1.4, label=label)
        series_handles.append(line)

    reference = spec.get("reference")
    if reference:
        rank, eigenvalue = _paired(reference.get("rank"), reference.get("eigenvalue"), "rank", "eigenvalue", "reference")
        rank, eigenvalue = _positive_points(rank, eigenvalue)
        plotted_points += rank.size
        label = str(reference.get("label") or "reference")
        (line,) = axes.plot(rank, eigenvalue, color="black", linestyle="--", linewidth=1.4, label=label)
        other_handles.append(line)

    fit_range = spec.get("fit_range")
    if fit_range:
        low, high = (float(bound) for bound in fit_range)
        band = axes.axvspan(low, high, color="tab:blue", alpha=0.08, linewidth=0, label=f"fit range [{low:g}, {high:g}]")
        other_handles.append(band)

    if plotted_points == 0:
        axes.text(0.5, 0.5, "no positive eigenvalues to plot", transform=axes.transAxes, ha="center", va="center", color="0.4")

    if len(series_handles) <= MAX_LEGEND_SERIES:
        _add_legend(axes, series_handles + other_handles)
    else:
        _add_legend(axes, other_handles)
        _add_series_colour_bar(figure, axes, [handle.get_label() for handle in series_handles], colours)
    return figure


def _add_legend(axes, handles: list) -> None:
    if len(handles) > 1:
        axes.legend(handles=handles, loc="best", ncols=2 if len(handles) > 6 else 1, frameon=False)


def _add_series_colour_bar(figure: Figure, axes, labels: list[str], colours: list) -> None:
    """Key series colours with a discrete colour bar, labelled at the first, middle and last series."""
    last = len(labels) - 1
    mappable = plt.cm.ScalarMappable(
        cmap=ListedColormap(colours),
        norm=BoundaryNorm(np.arange(len(labels) + 1) - 0.5, len(labels)),
    )
    colour_bar = figure.colorbar(mappable, ax=axes, pad=0.02, fraction=0.04)
    tick_positions = sorted({0, last // 2, last})
    colour_bar.set_ticks(tick_positions, labels=[labels[position] for position in tick_positions])
    colour_bar.ax.tick_params(labelsize=9)
    colour_bar.minorticks_off()
    colour_bar.outline.set_visible(False)


def plot_layer_profile(spec: Mapping) -> Figure:
    """Plot one or more statistics against layer index, with error bars, null band and depth thirds.

    ``low``/``high`` give error bars, ``null_band`` a grey area for the null's range,
    ``thirds`` two dotted lines splitting the network into early, middle and late layers,
    and ``reference_line`` a thin horizontal line such as y = 0.
    """
    series_list = _series_list(spec)
    figure, axes = _new_axes(spec, "layer", "value")
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    handles = []

    null_band = spec.get("null_band")
    if null_band:
        layer, low = _paired(null_band.get("layer"), null_band.get("low"), "layer", "low", "null_band")
        _, high = _paired(null_band.get("layer"), null_band.get("high"), "layer", "high", "null_band")
        order = np.argsort(layer)
        label = str(null_band.get("label") or "null")
        band = axes.fill_between(layer[order], low[order], high[order], color="0.6", alpha=0.3, linewidth=0, label=label)
        handles.append(band)

    for index, series in enumerate(series_list):
        owner = f"series[{index}]"
        layer, value = _paired(series.get("layer"), series.get("value"), "layer", "value", owner)
        error = _error_bar_lengths(series, value, owner)
        label = str(series.get("label") or f"series {index}")
        container = axes.errorbar(
            layer, value, yerr=error, marker="o", markersize=4, linewidth=1.5, capsize=2.5, elinewidth=1, label=label
        )
        handles.append(container)

    reference_line = spec.get("reference_line")
    if reference_line is not None:
        axes.axhline(float(reference_line), color="0.3", linewidth=0.8, zorder=1)

    thirds = spec.get("thirds")
    if thirds:
        _mark_depth_thirds(axes, [float(boundary) for boundary in thirds])

    if len(handles) > 1:
        axes.legend(handles=handles, loc="best", frameon=False)
    return figure


def _error_bar_lengths(series: Mapping, value: np.ndarray, owner: str) -> np.ndarray | None:
    """Return the (2, n) lower and upper error bar lengths from ``low``/``high``, or None."""
    if series.get("low") is None and series.get("high") is None:
        return None

    low = value if series.get("low") is None else _as_floats(series.get("low"), f"{owner}.low")
    high = value if series.get("high") is None else _as_floats(series.get("high"), f"{owner}.high")
    if low.shape != value.shape or high.shape != value.shape:
        raise ValueError(f"{owner} has {value.size} values but {low.size} low and {high.size} high bounds")
    # An interval that excludes its point estimate would give a negative length, which
    # matplotlib rejects. Such a bar is clipped to zero length on that side.
    lengths = np.vstack([value - low, high - value])
    return np.nan_to_num(np.clip(lengths, 0.0, None), nan=0.0)


def _mark_depth_thirds(axes, boundaries: list[float]) -> None:
    if len(boundaries) != 2:
        raise ValueError(f"thirds must contain two layer boundaries, got {boundaries}")

    for boundary in boundaries:
        axes.axvline(boundary, color="0.35", linestyle=":", linewidth=1.2, zorder=1)

    left, right = axes.get_xlim()
    edges = [left, *sorted(boundaries), right]
    above_axes = blended_transform_factory(axes.transData, axes.transAxes)
    for name, start, stop in zip(("early", "middle", "late"), edges[:-1], edges[1:]):
        axes.text((start + stop) / 2, 1.01, name, transform=above_axes, ha="center", va="bottom", fontsize=9, color="0.35")
    axes.set_xlim(left, right)


_PLOTTERS: dict[str, Callable[[Mapping], Figure]] = {
    "loglog-spectra": plot_loglog_spectra,
    "layer-profile": plot_layer_profile,
}
