"""Inline SVG figures for the HTML report, drawn with matplotlib from figure specs in the results.

A claim's ``figures`` list contains plain dicts (specs) so that results.json stays the single
record of a run. Six kinds are drawn: ``loglog-spectra`` (eigenvalue spectra against rank),
``layer-profile`` (a statistic against layer index), ``k-profile`` (a statistic against the
number of clusters k), ``x-profile`` (a statistic against any other count, such as the number
of LDA components), ``scatter`` (2-D points coloured by group, with an optional fitted line)
and ``heatmap`` (a labelled matrix). Any other kind, or a spec that cannot be drawn, becomes a short HTML note so that
one bad figure never stops the report.
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
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.colors import BoundaryNorm, ListedColormap  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.ticker import MaxNLocator, NullLocator  # noqa: E402
from matplotlib.transforms import blended_transform_factory  # noqa: E402

logger = logging.getLogger(__name__)

FIGURE_SIZE_INCHES = (6.5, 4.0)

# Above this many spectra a legend would cover the plot, so a colour bar keyed by series
# order replaces it.
MAX_LEGEND_SERIES = 10

# A profile legend with more entries than this covers data inside the axes, so it moves
# to the right of them.
MAX_LEGEND_ENTRIES_INSIDE = 3

# Profile series cycle through these markers as well as through colours, so that
# overlapping series stay apart in greyscale print too.
_SERIES_MARKERS = ("o", "s", "^", "D", "v", "P", "X")

# Resolution of the raster image that contains a scatter plot's points inside the SVG. The
# page shows figures up to 820 px wide, so 150 dpi on a 6.5 inch figure stays sharp.
SCATTER_RASTER_DPI = 150
SCATTER_MARKER_SIZE = 4
SCATTER_ALPHA = 0.6
# Above this many legend entries the scatter legend wraps into further columns.
MAX_LEGEND_ROWS = 14

# Heatmaps grow taller with the number of rows, between these heights in inches.
HEATMAP_HEIGHT_RANGE_INCHES = (3.0, 9.0)
HEATMAP_ROW_HEIGHT_INCHES = 0.32
# Cells whose luma (Rec. 709 weights applied to the sRGB components) is above this get
# black annotations, darker cells white ones.
_ANNOTATION_LUMA_THRESHOLD = 0.45

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


def _new_axes(spec: Mapping, default_x_label: str, default_y_label: str, size_inches=FIGURE_SIZE_INCHES):
    figure, axes = plt.subplots(figsize=size_inches, layout="constrained")
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


def _add_legend_right_of_axes(axes, handles: list, **options) -> None:
    """Place the legend beside the axes, top-aligned with them, where it covers no data.

    Constrained layout counts an axes legend, so the axes shrink to make room for it.
    """
    axes.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0, frameon=False, **options)


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
    figure, axes, _ = _plot_profile(spec, x_key="layer", default_x_label="layer")
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))

    thirds = spec.get("thirds")
    if thirds:
        _mark_depth_thirds(axes, [float(boundary) for boundary in thirds])
    return figure


def plot_x_profile(spec: Mapping) -> Figure:
    """Plot one or more statistics against a count on a linear axis, such as the number of LDA components.

    The keys mean what they mean for ``layer-profile``, with ``x`` in place of ``layer``.
    """
    figure, axes, _ = _plot_profile(spec, x_key="x", default_x_label="x")
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    return figure


def plot_k_profile(spec: Mapping) -> Figure:
    """Plot one or more statistics against the number of clusters k on a log2 axis.

    The series, ``null_band`` and ``reference_line`` keys mean what they mean for
    ``layer-profile``, with ``k`` in place of ``layer``. Ticks sit at the k values that occur
    in the spec. A k below 1 raises ValueError because no clustering has fewer than one
    cluster, and the log2 axis would silently drop a k of 0 or less.
    """
    figure, axes, k_values = _plot_profile(spec, x_key="k", default_x_label="number of clusters k", x_scale="log")
    finite_k = k_values[np.isfinite(k_values)]
    if np.any(finite_k < 1):
        raise ValueError(f"k must be at least 1 on the log2 axis, got {finite_k[finite_k < 1].tolist()}")

    ticks = np.unique(finite_k)
    if ticks.size:
        axes.set_xticks(ticks, labels=[_tick_label(k) for k in ticks])
    axes.xaxis.set_minor_locator(NullLocator())
    return figure


def _tick_label(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _plot_profile(
    spec: Mapping, x_key: str, default_x_label: str, x_scale: str = "linear"
) -> tuple[Figure, Axes, np.ndarray]:
    """Draw the null band, series with error bars, reference line and legend shared by the profile kinds.

    ``x_key`` names the x values in each series and in the null band, and ``x_scale``
    "log" gives a base-2 log axis. Returns the figure, its axes and every x value drawn,
    so that the caller can place ticks and add kind-specific marks.
    """
    series_list = _series_list(spec)
    figure, axes = _new_axes(spec, default_x_label, "value")
    if x_scale == "log":
        axes.set_xscale("log", base=2)
    handles = []
    x_drawn = [np.empty(0)]

    null_band = spec.get("null_band")
    if null_band:
        x, low = _paired(null_band.get(x_key), null_band.get("low"), x_key, "low", "null_band")
        _, high = _paired(null_band.get(x_key), null_band.get("high"), x_key, "high", "null_band")
        order = np.argsort(x)
        label = str(null_band.get("label") or "null")
        band = axes.fill_between(x[order], low[order], high[order], color="0.6", alpha=0.3, linewidth=0, label=label)
        handles.append(band)
        x_drawn.append(x)

    for index, series in enumerate(series_list):
        owner = f"series[{index}]"
        x, value = _paired(series.get(x_key), series.get("value"), x_key, "value", owner)
        error = _error_bar_lengths(series, value, owner)
        label = str(series.get("label") or f"series {index}")
        container = axes.errorbar(
            x,
            value,
            yerr=error,
            color=f"C{index % 10}",
            marker=_SERIES_MARKERS[index % len(_SERIES_MARKERS)],
            markersize=4,
            linewidth=1.5,
            capsize=2.5,
            elinewidth=1,
            label=label,
        )
        handles.append(container)
        x_drawn.append(x)

    reference_line = spec.get("reference_line")
    if reference_line is not None:
        axes.axhline(float(reference_line), color="0.3", linewidth=0.8, zorder=1)

    if len(handles) > MAX_LEGEND_ENTRIES_INSIDE:
        _add_legend_right_of_axes(axes, handles)
    elif len(handles) > 1:
        axes.legend(handles=handles, loc="best", frameon=False)
    return figure, axes, np.concatenate(x_drawn)


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


def plot_scatter(spec: Mapping) -> Figure:
    """Plot 2-D points coloured by group, such as feature positions coloured by lobe.

    ``points`` contains parallel ``x``, ``y`` and ``group`` lists, and ``group`` indexes
    ``group_labels``. An optional ``line`` (``x``, ``y`` and ``label``) is drawn over the
    points, such as a least-squares fit. The points are one rasterized collection, so the SVG contains a single
    PNG image instead of one vector marker per point. They are drawn in a fixed shuffled
    order so that no group is hidden under the groups drawn after it.
    """
    points = spec.get("points")
    if not isinstance(points, Mapping):
        raise ValueError("points must be a dict with x, y and group lists")
    x, y = _paired(points.get("x"), points.get("y"), "x", "y", "points")
    group = _group_indices(points.get("group"), x.size)
    group_labels = spec.get("group_labels")
    if group_labels is None:
        group_labels = [f"group {index}" for index in range(int(group.max(initial=-1)) + 1)]
    if isinstance(group_labels, (str, bytes)) or not isinstance(group_labels, Sequence):
        raise ValueError("group_labels must be a list of strings")
    if group.size and group.max() >= len(group_labels):
        raise ValueError(f"points.group contains {int(group.max())} but there are only {len(group_labels)} group_labels")

    figure, axes = _new_axes(spec, "x", "y")
    figure.set_dpi(SCATTER_RASTER_DPI)
    colour_map = plt.get_cmap("tab10" if len(group_labels) <= 10 else "tab20")
    if len(group_labels) > colour_map.N:
        logger.warning(
            "Scatter %r has %d groups but %s has %d colours, so colours repeat",
            spec.get("title"), len(group_labels), colour_map.name, colour_map.N,
        )
    colours = colour_map(np.arange(len(group_labels)) % colour_map.N)

    order = np.random.default_rng(0).permutation(x.size)
    axes.scatter(
        x[order],
        y[order],
        s=SCATTER_MARKER_SIZE,
        c=colours[group[order]] if x.size else None,
        alpha=SCATTER_ALPHA,
        linewidths=0,
        rasterized=True,
    )
    if not np.any(np.isfinite(x) & np.isfinite(y)):
        axes.text(0.5, 0.5, "no points to plot", transform=axes.transAxes, ha="center", va="center", color="0.4")

    handles = [
        Line2D([], [], linestyle="none", marker="o", markersize=5, markeredgewidth=0, color=colour, label=str(label))
        for colour, label in zip(colours, group_labels)
    ]
    line = spec.get("line")
    if line is not None:
        if not isinstance(line, Mapping):
            raise ValueError("line must be a dict with x, y and label")
        line_x, line_y = _paired(line.get("x"), line.get("y"), "x", "y", "line")
        (drawn,) = axes.plot(line_x, line_y, color="0.15", linewidth=1.5, label=str(line.get("label") or "fit"))
        handles.append(drawn)
    if handles:
        _add_legend_right_of_axes(axes, handles, ncols=-(-len(handles) // MAX_LEGEND_ROWS), handletextpad=0.2)
    return figure


def _group_indices(values: Sequence | None, size: int) -> np.ndarray:
    """Convert ``points.group`` to non-negative integer indices, one per point."""
    group = _as_floats(values, "points.group")
    if group.size != size:
        raise ValueError(f"points has {size} x values but {group.size} group values")
    if not np.all(np.isfinite(group)) or np.any(group < 0) or np.any(group != np.round(group)):
        raise ValueError("points.group must contain non-negative integers")
    return group.astype(int)


def plot_heatmap(spec: Mapping) -> Figure:
    """Plot a labelled matrix, such as the fraction of chunks each lobe wins per document genre.

    ``values`` is a list of rows matching ``row_labels`` and ``column_labels``. A colour bar
    labelled ``value_label`` keys the sequential colour map. With ``annotate`` each cell
    shows its value to at most four significant digits, in black or white, whichever reads
    better on the cell. Null values show as grey cells.
    """
    row_labels = _labels(spec.get("row_labels"), "row_labels")
    column_labels = _labels(spec.get("column_labels"), "column_labels")
    values = _matrix(spec.get("values"))
    if values.shape != (len(row_labels), len(column_labels)):
        raise ValueError(
            f"values has shape {values.shape[0]} x {values.shape[1]} but there are "
            f"{len(row_labels)} row_labels and {len(column_labels)} column_labels"
        )
    if values.size == 0:
        raise ValueError("values has no cells")

    low, high = HEATMAP_HEIGHT_RANGE_INCHES
    height = min(max(1.5 + HEATMAP_ROW_HEIGHT_INCHES * len(row_labels), low), high)
    figure, axes = _new_axes(spec, "", "", size_inches=(FIGURE_SIZE_INCHES[0], height))
    axes.grid(False)
    colour_map = plt.get_cmap("viridis").with_extremes(bad="0.85")
    image = axes.imshow(np.ma.masked_invalid(values), cmap=colour_map, aspect="auto", interpolation="nearest")

    axes.set_xticks(np.arange(len(column_labels)), labels=column_labels)
    axes.set_yticks(np.arange(len(row_labels)), labels=row_labels)
    axes.tick_params(length=0)
    if len(column_labels) > 6 or max(len(label) for label in column_labels) > 10:
        axes.tick_params(axis="x", labelrotation=40)
        for label in axes.get_xticklabels():
            label.set_horizontalalignment("right")
            label.set_rotation_mode("anchor")
    for side in ("top", "right", "bottom", "left"):
        axes.spines[side].set_visible(False)

    colour_bar = figure.colorbar(image, ax=axes, pad=0.02, fraction=0.05)
    colour_bar.set_label(str(spec.get("value_label") or ""))
    colour_bar.outline.set_visible(False)

    if spec.get("annotate"):
        _annotate_cells(axes, image, values)
    return figure


def _labels(values, name: str) -> list[str]:
    if values is None or isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
        raise ValueError(f"{name} must be a list of strings")
    return [str(value) for value in values]


def _matrix(rows) -> np.ndarray:
    """Convert ``values`` (a list of equally long rows, nulls allowed) to a 2-D float array."""
    if rows is None or isinstance(rows, (str, bytes)) or not isinstance(rows, Sequence):
        raise ValueError("values must be a list of rows")
    if not all(isinstance(row, Sequence) and not isinstance(row, (str, bytes)) for row in rows):
        raise ValueError("every entry of values must be a list of numbers")
    lengths = {len(row) for row in rows}
    if len(lengths) > 1:
        raise ValueError(f"values rows differ in length: {sorted(lengths)}")
    return np.array(
        [[np.nan if value is None else value for value in row] for row in rows], dtype=float
    ).reshape(len(rows), lengths.pop() if lengths else 0)


def _annotate_cells(axes, image, values: np.ndarray) -> None:
    font_size = 9 if values.shape[1] <= 8 else 7
    for (row, column), value in np.ndenumerate(values):
        if np.isfinite(value):
            red, green, blue, _ = image.cmap(image.norm(value))
            luma = 0.2126 * red + 0.7152 * green + 0.0722 * blue
            colour = "black" if luma > _ANNOTATION_LUMA_THRESHOLD else "white"
            text = f"{value:.4g}"
        else:
            colour, text = "0.3", "—"
        axes.text(column, row, text, ha="center", va="center", color=colour, fontsize=font_size)


_PLOTTERS: dict[str, Callable[[Mapping], Figure]] = {
    "loglog-spectra": plot_loglog_spectra,
    "layer-profile": plot_layer_profile,
    "k-profile": plot_k_profile,
    "x-profile": plot_x_profile,
    "scatter": plot_scatter,
    "heatmap": plot_heatmap,
}
