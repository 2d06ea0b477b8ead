"""Chart specs (Altair -> Vega-Lite JSON) and their SVG, rendered offline by vl-convert.

One theme (`THEME`) for every chart; each initiative keeps one colour in all charts
(initiatives.colour), passed in as `colours`. Specs are plain dicts so the same spec can be
timed or rendered again; `to_svg` turns one into inline-safe SVG text.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ParamSpec, TypeVar

import altair as alt
import polars as pl
import vl_convert
from altair.utils.schemapi import debug_mode

FONT = "DejaVu Sans"
WIDTH = 560
INK = "#222222"
GRID = "#e3e3e3"
MUTED = "#666666"
TARGET_INK = "#444444"
FALLBACK_COLOUR = "#7f7f7f"
VEGA_LITE_VERSION = ".".join(alt.SCHEMA_VERSION.lstrip("v").split(".")[:2])

# The one theme: DejaVu Sans everywhere (installed system-wide, embedded in the PDF), quiet
# axes, no chart border, legends on top.
THEME: dict[str, Any] = {
    "font": FONT,
    "background": "white",
    "padding": {"left": 4, "right": 12, "top": 6, "bottom": 4},
    "view": {"stroke": None},
    "title": {"font": FONT, "fontSize": 13, "fontWeight": "bold", "color": INK,
              "anchor": "start", "offset": 8},
    "axis": {"labelFont": FONT, "titleFont": FONT, "labelFontSize": 11, "titleFontSize": 11,
             "labelColor": INK, "titleColor": INK, "titleFontWeight": "normal",
             "gridColor": GRID, "domainColor": "#999999", "tickColor": "#999999",
             "labelLimit": 260},
    "axisX": {"grid": False, "labelAngle": 0},
    "legend": {"labelFont": FONT, "titleFont": FONT, "labelFontSize": 11,
               "titleFontSize": 11, "titleFontWeight": "normal", "orient": "top",
               "labelColor": INK, "titleColor": INK},
    "text": {"font": FONT, "fontSize": 11, "color": INK},
    "bar": {"cornerRadiusEnd": 1},
}  # fmt: skip

# Layers without data of their own read the chart's rows, added to the spec last (_spec).
ROWS = alt.NamedData(name="rows")
_ID = re.compile(r'\bid="([^"]+)"')
P = ParamSpec("P")
R = TypeVar("R")


def _quick(build: Callable[P, R]) -> Callable[P, R]:
    """Build a chart without Altair's debug mode, which validates every schema object
    against the Vega-Lite schema as it is created (most of the time a chart takes)."""

    @functools.wraps(build)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with debug_mode(False):
            return build(*args, **kwargs)

    return wrapper


def colour_scale(colours: Mapping[str, str], present: Sequence[str]) -> alt.Scale:
    """The colour scale for the initiatives in `present`, each in its fixed colour."""
    domain = list(dict.fromkeys(present))
    return alt.Scale(domain=domain, range=[colours.get(i, FALLBACK_COLOUR) for i in domain])


@_quick
def comparison_chart(points: pl.DataFrame, colours: Mapping[str, str]) -> dict[str, Any]:
    """Financing on one USD basis: one dot per published figure, by programme, periods in
    order of their end date on the x axis.

    `points` has initiative, period, period_end (date), value_usd, label (text beside the
    dot) and source_kind; secondary-source figures are drawn as hollow diamonds.
    """
    data = _values(points.select("initiative", "period", "period_end", "value_usd", "label",
                                 "source_kind"))  # fmt: skip
    order = points.sort("period_end")["period"].unique(maintain_order=True).to_list()
    scale = colour_scale(colours, points["initiative"].to_list())
    x = alt.X("period:O", sort=order, title="Period (ordered by end date)",
              axis=alt.Axis(labelAngle=0))  # fmt: skip
    y = alt.Y("value_usd:Q", title="USD bn", scale=alt.Scale(zero=True))
    color = alt.Color("initiative:N", scale=scale, title="Programme")
    dots = (
        alt.Chart()
        .mark_point(size=120, strokeWidth=2.5, filled=False, opacity=1)
        .encode(
            x=x,
            y=y,
            color=color,
            shape=alt.Shape(
                "source_kind:N",
                title="Source",
                scale=alt.Scale(domain=["primary", "secondary"], range=["circle", "diamond"]),
                legend=alt.Legend(symbolStrokeColor=MUTED, symbolStrokeWidth=2),
            ),
        )
    )
    fills = (
        alt.Chart()
        .mark_point(size=120, filled=True, opacity=1)
        .encode(x=x, y=y, color=color)
        .transform_filter("datum.source_kind != 'secondary'")
    )
    labels = _value_labels(x, y, align="left", dx=10, dy=-8, fontSize=10)
    chart = alt.layer(dots, fills, labels, data=ROWS, width=WIDTH, height=230)
    return _spec(chart, data)


WIDTH_PROGRESS = 220  # px of the progress chart's plot


@_quick
def progress_chart(progress: pl.DataFrame, colours: Mapping[str, str]) -> dict[str, Any]:
    """A bullet-style bar per target: share achieved, with the target at 100 %.

    `progress` has label, initiative, share (0..n, may exceed 1) and share_text. The share
    is written inside the bar's end (outside when the bar is short).
    """
    shares = progress.filter(pl.col("share").is_not_null())
    largest = shares.select(pl.col("share").max()).item() if shares.height else None
    top = max(1.1, float(largest or 0) * 1.05)
    data = _values(progress.select("label", "initiative", "share", "share_text"))
    scale = colour_scale(colours, progress["initiative"].to_list())
    y = alt.Y("label:N", sort=None, title=None, axis=alt.Axis(labelLimit=330, labelPadding=6))
    x_scale = alt.Scale(domain=[0, top], nice=False)
    text = alt.Text("share_text:N")
    # The share is written inside its bar only where the bar is longer than the text (about
    # 7 px a bold character): 'more than 30.0 %' does not fit in a bar of 30 %.
    fits = f"datum.share * {WIDTH_PROGRESS / top:.3f} >= length(datum.share_text) * 7 + 10"
    track = (
        alt.Chart()
        .mark_bar(color="#eeeeee", height=20)
        .encode(y=y, x=alt.X("track_from:Q", scale=x_scale), x2=alt.X2("track_to:Q"))
        .transform_calculate(track_from="0", track_to="1")
    )
    goal = (
        alt.Chart(alt.InlineData(values=[{"goal": 1.0}]))
        .mark_rule(color=TARGET_INK, strokeWidth=2, strokeDash=[4, 2])
        .encode(x=alt.X("goal:Q", scale=x_scale))
    )
    bars = (
        alt.Chart()
        .mark_bar(height=20)
        .encode(
            y=y,
            x=alt.X(
                "share:Q",
                title="Share of target achieved (dashed line: target)",
                stack=None,
                scale=x_scale,
                axis=alt.Axis(format="%", values=[0, 0.25, 0.5, 0.75, 1.0]),
            ),
            color=alt.Color("initiative:N", scale=scale, title="Programme"),
        )
    )
    inside = (
        alt.Chart()
        .mark_text(align="right", dx=-5, fontSize=11, fontWeight="bold", color="white")
        .encode(y=y, x=alt.X("share:Q", scale=x_scale), text=text)
        .transform_filter(f"datum.share != null && {fits}")
    )
    outside = (
        alt.Chart()
        .mark_text(align="left", dx=5, fontSize=11, fontWeight="bold", color=INK)
        .encode(y=y, x=alt.X("share_at:Q", scale=x_scale), text=text)
        .transform_calculate(share_at="datum.share == null ? 0 : datum.share")
        .transform_filter(f"datum.share == null || !({fits})")
    )
    height = max(60, 34 * progress.height)
    chart = alt.layer(track, goal, bars, inside, outside, data=ROWS, width=WIDTH_PROGRESS,
                      height=height)  # fmt: skip
    return _spec(chart, data)


# Colours of the series of one programme that differ by geography (a country and its
# region): the Okabe-Ito palette, told apart by readers with any colour vision.
SERIES_COLOURS = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00",
                  "#F0E442", "#000000")  # fmt: skip


@_quick
def series_chart(
    points: pl.DataFrame,
    targets: pl.DataFrame,
    colours: Mapping[str, str],
    *,
    unit: str,
    mark: str = "bar",
) -> dict[str, Any]:
    """One indicator over time. One series (one programme in one place): bars (or a line,
    `mark`) with value labels. Several series (programmes, or a place and its region): a
    line per series with a legend and its name written at its end, never stacked bars.
    A dashed line with its label for each target; the y axis says `unit` ('USD bn').

    `points` has series (its name: 'Kazakhstan', 'BRI'), initiative, geography, period,
    period_end, value, label and source_kind (secondary sources are drawn lighter);
    `targets` has value and label. Periods of different lengths (2024, 2025-H1) sit side
    by side on the x axis, ordered by their end date.
    """
    order = points.sort("period_end")["period"].unique(maintain_order=True).to_list()
    names = points["series"].unique(maintain_order=True).to_list()
    several = len(names) > 1
    # The last point of each series carries the series' name beside it (a direct label).
    rows = points.with_columns(
        sequence=pl.col("period").replace_strict(order, list(range(len(order)))),
    ).with_columns(
        end_label=pl.when(pl.col("sequence") == pl.col("sequence").max().over("series"))
        .then(pl.col("series"))
        .otherwise(None),
    )
    data = _values(
        rows.select("series", "initiative", "geography", "period", "period_end", "sequence",
                    "value", "label", "end_label", "source_kind")
    )  # fmt: skip
    x = alt.X("period:N", sort=order, title=None, axis=alt.Axis(labelAngle=0))
    top = max([*points["value"].to_list(), *targets["value"].to_list(), 0.0]) * 1.15
    # stack=None: figures of one period are never piled on each other, whatever the mark.
    y = alt.Y("value:Q", title=unit, stack=None,
              scale=alt.Scale(domain=[0, top or 1], nice=True))  # fmt: skip
    if several:
        by_programme = rows["geography"].n_unique() == 1
        palette = (
            [colours.get(name, FALLBACK_COLOUR) for name in rows["initiative"].unique(
                maintain_order=True).to_list()]
            if by_programme and rows["initiative"].n_unique() == len(names)
            else [SERIES_COLOURS[i % len(SERIES_COLOURS)] for i in range(len(names))]
        )  # fmt: skip
        color = alt.Color("series:N", scale=alt.Scale(domain=names, range=palette),
                          sort=names, title=None, legend=alt.Legend())  # fmt: skip
        shapes = (
            alt.Chart()
            .mark_line(point=alt.OverlayMarkDef(size=60, filled=True), strokeWidth=2.5)
            .encode(x=x, y=y, color=color, detail="series:N", order="sequence:Q")
        )
        ends = (
            alt.Chart()
            .mark_text(align="left", baseline="middle", dx=10, fontSize=10, fontWeight="bold")
            .encode(x=x, y=y, color=color, text=alt.Text("end_label:N"))
            .transform_filter("datum.end_label != null")
        )
        # Values below their points: a target line is usually above a series not yet there.
        labels = [_value_labels(x, y, baseline="top", dy=8, fontSize=10), ends]
    else:
        scale = colour_scale(colours, points["initiative"].to_list())
        color = alt.Color("initiative:N", scale=scale, legend=None)
        if mark == "line":
            shapes = (
                alt.Chart()
                .mark_line(point=alt.OverlayMarkDef(size=60, filled=True), strokeWidth=2.5)
                .encode(x=x, y=y, color=color, order="sequence:Q")
            )
            labels = [_value_labels(x, y, dy=-10, fontSize=10)]
        else:
            opacity = alt.Opacity(
                "source_kind:N",
                scale=alt.Scale(domain=["primary", "secondary"], range=[1.0, 0.5]),
                legend=None,
            )
            shapes = alt.Chart().mark_bar(size=64).encode(x=x, y=y, color=color, opacity=opacity)
            # Labels of tall bars sit inside the bar top, so a target line just above a bar
            # cannot cross them; short bars get theirs above.
            tall = f"datum.value >= {top * 0.2}"
            inside = (
                alt.Chart()
                .mark_text(baseline="top", dy=5, fontSize=10, fontWeight="bold", color="white")
                .encode(x=x, y=y, text=alt.Text("label:N"))
                .transform_filter(tall)
            )
            above = _value_labels(x, y, dy=-8, fontSize=10).transform_filter(f"!({tall})")
            labels = [inside, above]
    layers: list[alt.Chart] = [shapes]
    if targets.height:
        goals = alt.InlineData(values=_values(targets.select("value", "label")))
        goal_y = alt.Y("value:Q")
        layers.append(
            alt.Chart(goals)
            .mark_rule(color=TARGET_INK, strokeWidth=2, strokeDash=[6, 3])
            .encode(y=goal_y)
        )
        layers.append(
            alt.Chart(goals)
            .mark_text(align="left", baseline="bottom", dx=4, dy=-4, fontSize=10,
                       color=TARGET_INK, x=0)
            .encode(y=goal_y, text=alt.Text("label:N"))
        )  # fmt: skip
    # Room on the right for the names written at the lines' ends.
    width = WIDTH - 110 if several else WIDTH
    chart = alt.layer(*layers, *labels, data=ROWS, width=width, height=190)
    return _spec(chart, data)


def to_svg(spec: Mapping[str, Any], id_prefix: str) -> str:
    """Render a Vega-Lite spec to SVG offline (no URL may be loaded); ids get `id_prefix`
    so several SVGs can sit in one HTML page. Text in the SVG is XML-escaped by Vega."""
    svg: str = vl_convert.vegalite_to_svg(
        dict(spec), vl_version=VEGA_LITE_VERSION, allowed_base_urls=[]
    )
    svg = re.sub(r"^<\?xml[^>]*\?>\s*", "", svg)
    ids = set(_ID.findall(svg))
    for old in sorted(ids, key=len, reverse=True):
        new = f"{id_prefix}-{old}"
        svg = svg.replace(f'id="{old}"', f'id="{new}"').replace(f"url(#{old})", f"url(#{new})")
        svg = svg.replace(f'href="#{old}"', f'href="#{new}"')
    return svg


def _value_labels(x: alt.X, y: alt.Y, **style: Any) -> alt.Chart:
    """Value labels (field `label`) at each point."""
    labels: alt.Chart = (
        alt.Chart().mark_text(color=INK, **style).encode(x=x, y=y, text=alt.Text("label:N"))
    )
    return labels


def _values(frame: pl.DataFrame) -> list[dict[str, Any]]:
    """Rows for inline data: dates as ISO text, everything else as it is."""
    dates = [name for name, dtype in frame.schema.items() if dtype in (pl.Date, pl.Datetime)]
    return frame.with_columns(pl.col(dates).cast(pl.String)).to_dicts()


def _spec(chart: alt.TopLevelMixin, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The Vega-Lite dict with the theme, and the data added last: Altair copies a chart
    (data included) on every method call, so the rows never pass through it."""
    spec: dict[str, Any] = chart.to_dict(validate=False)
    assert spec["data"] == {"name": ROWS.name}, "every chart reads its rows from ROWS"
    spec["data"] = {"values": rows}
    spec["config"] = THEME
    return spec
