"""What a briefing reads from the store: named SQL, each run through `store.query`.

Every function takes an open connection and returns a polars frame; aggregation (latest
points, changes, shares, trends, freshness) is done in SQL here, never in Python loops. Data
is read as it stood at a cutoff timestamp, through `observations_as_of` and the as-of macros
of migration 001, so `--as-of` and a current run share one code path.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime

import polars as pl
from polars.datatypes import DataTypeClass

from tracker import store
from tracker.briefing.queries import (
    CHANGES,
    CHART_TARGETS,
    COMPARISON,
    FRESHNESS,
    FRESHNESS_RULES,
    INITIATIVES,
    KEY_FIGURES,
    KEY_MESSAGE_SERIES,
    KNOWN_NAMES,
    NAMES,
    PREVIOUS_RUN,
    SERIES_POINTS,
    SOURCES,
    TARGETS,
)
from tracker.models import BriefingDefinition, SectionSpec, SeriesChartSpec

EARLIEST = date(1800, 1, 1)
LATEST = date(2200, 12, 31)


@dataclass(frozen=True)
class Scope:
    """What one query may show: vintages recorded up to `cutoff`, these names, this window.

    Parameters $1..$6 of every scoped query, in this order.
    """

    cutoff: datetime
    indicators: tuple[str, ...]
    initiatives: tuple[str, ...]
    geographies: tuple[str, ...]
    window_start: date = EARLIEST
    window_end: date = LATEST

    def params(self) -> list[object]:
        """The bound parameters $1..$6."""
        return [
            self.cutoff,
            list(self.indicators),
            list(self.initiatives),
            list(self.geographies),
            self.window_start,
            self.window_end,
        ]


def known_names(conn: store.Connection) -> dict[str, set[str]]:
    """The indicator, initiative and geography ids the store knows, by kind."""
    frame = store.query(conn, KNOWN_NAMES)
    grouped = frame.group_by("kind").agg(pl.col("id"))
    names: dict[str, set[str]] = {"indicator": set(), "initiative": set(), "geography": set()}
    for kind, ids in grouped.iter_rows():
        names[kind] = set(ids)
    return names


def names(conn: store.Connection) -> pl.DataFrame:
    """Every indicator, initiative and geography: kind, id and name."""
    return store.query(conn, NAMES)


def initiatives(conn: store.Connection) -> pl.DataFrame:
    """Every initiative with its name, what its figures measure, and its chart colour."""
    return store.query(conn, INITIATIVES)


def sources(conn: store.Connection) -> pl.DataFrame:
    """Every source (title, publisher, url, published, kind)."""
    return store.query(conn, SOURCES)


def key_figures(conn: store.Connection, scope: Scope) -> pl.DataFrame:
    """Newest point per series with its change against the previous point of its grain."""
    return _figures(store.query(conn, KEY_FIGURES, scope.params()))


def key_message_series(conn: store.Connection, scope: Scope) -> pl.DataFrame:
    """Newest point per series with its previous point of the same grain and what a record
    needs (earlier points of that grain: count, highest value, currencies, qualifiers)."""
    return _figures(store.query(conn, KEY_MESSAGE_SERIES, scope.params()))


def comparison(conn: store.Connection, scope: Scope) -> pl.DataFrame:
    """Money figures of the scope's initiatives in USD, with the rate each one used."""
    return _figures(store.query(conn, COMPARISON, scope.params()))


def targets(conn: store.Connection, scope: Scope, today: date) -> pl.DataFrame:
    """Progress toward each target in scope, with the linear trend's projected date."""
    return _figures(store.query(conn, TARGETS, [*scope.params(), today]))


def series_points(
    conn: store.Connection, scope: Scope, charts: Sequence[SeriesChartSpec]
) -> pl.DataFrame:
    """The points of each chart (column `chart`: its position in `charts`), oldest first;
    `scope` gives the cutoff and window (its names are replaced by the charts')."""
    return _figures(store.query(conn, SERIES_POINTS, [*_union_scope(scope, charts).params(),
                                                      *_chart_params(charts)]))  # fmt: skip


def chart_targets(conn: store.Connection, charts: Sequence[SeriesChartSpec]) -> pl.DataFrame:
    """Targets of each chart's indicator, initiatives and geographies (column `chart`)."""
    return _figures(store.query(conn, CHART_TARGETS, _chart_params(charts)))


def _figures(frame: pl.DataFrame) -> pl.DataFrame:
    """`frame` with every stored value (DECIMAL(38, 12) in the store, also inside lists and
    structs) as the nearest double: what charts, the formatter and the CSV writer take. A
    value of up to 15 significant digits (every shipped one) reads back as the same decimal
    text (121.8, never 121.80000000000001); sums stay exact because the SQL does them."""
    changed = [
        pl.col(name).cast(_as_double(dtype))
        for name, dtype in frame.schema.items()
        if _as_double(dtype) != dtype
    ]
    return frame.with_columns(changed) if changed else frame


def _as_double(dtype: pl.DataType | DataTypeClass) -> pl.DataType | DataTypeClass:
    if isinstance(dtype, pl.Decimal):
        return pl.Float64()
    if isinstance(dtype, pl.List):
        return pl.List(_as_double(dtype.inner))
    if isinstance(dtype, pl.Struct):
        return pl.Struct([pl.Field(f.name, _as_double(f.dtype)) for f in dtype.fields])
    return dtype


def _chart_params(charts: Sequence[SeriesChartSpec]) -> list[object]:
    return [
        list(range(len(charts))),
        [chart.indicator for chart in charts],
        [list(chart.initiatives) for chart in charts],
        [list(chart.geographies) for chart in charts],
    ]


def _union_scope(scope: Scope, charts: Sequence[SeriesChartSpec]) -> Scope:
    def union(names: list[str]) -> tuple[str, ...]:
        return tuple(dict.fromkeys(names))

    return Scope(
        scope.cutoff,
        union([c.indicator for c in charts]),
        union([i for c in charts for i in c.initiatives]),
        union([g for c in charts for g in c.geographies]),
        scope.window_start,
        scope.window_end,
    )


def changes(conn: store.Connection, scope: Scope, since: datetime) -> pl.DataFrame:
    """New points and revisions recorded after `since` and up to the scope's cutoff."""
    return _figures(store.query(conn, CHANGES, [*scope.params(), since]))


def freshness(conn: store.Connection, scope: Scope, today: date) -> pl.DataFrame:
    """Each indicator's newest point, flagged 'stale' by its frequency's rule."""
    return _figures(store.query(conn, FRESHNESS, [*scope.params(), today]))


def freshness_rules(conn: store.Connection) -> pl.DataFrame:
    """The freshness rule of each frequency (max_age_months)."""
    return store.query(conn, FRESHNESS_RULES)


def previous_run(
    conn: store.Connection | None, briefing_name: str, cutoff: datetime, params: str | None = None
) -> pl.DataFrame:
    """The last succeeded current run of `briefing_name` (of the variant `params`, JSON) started by
    `cutoff` (0 or 1 rows), from the run history (None: nothing was ever recorded)."""
    if conn is None:
        return pl.DataFrame(schema=NO_PREVIOUS_RUN)
    return store.query(conn, PREVIOUS_RUN, [briefing_name, cutoff, params])


NO_PREVIOUS_RUN: dict[str, pl.DataType | type[pl.DataType]] = {
    "id": pl.Int64, "started_at": pl.Datetime("us"), "briefing_date": pl.Date,
    "data_as_of": pl.Datetime("us"), "issue": pl.Int32, "key_figures": pl.String,
    "earlier_runs": pl.Int64,
}  # fmt: skip


# --- everything one briefing reads ------------------------------------------------------


@dataclass(frozen=True)
class ChartData:
    """The points and targets of one series chart."""

    spec: SeriesChartSpec
    points: pl.DataFrame
    targets: pl.DataFrame


@dataclass(frozen=True)
class SectionData:
    """What one section shows: its main frame (None for sources) and, for series, charts;
    key messages read several frames, by name (`frames`)."""

    spec: SectionSpec
    frame: pl.DataFrame | None
    charts: tuple[ChartData, ...] = ()
    frames: dict[str, pl.DataFrame] = field(default_factory=dict)


@dataclass(frozen=True)
class BriefingData:
    """Every frame one briefing needs, read in one read-only connection."""

    cutoff: datetime
    briefing_date: date
    previous: pl.DataFrame  # 0 or 1 rows of PREVIOUS_RUN
    initiatives: pl.DataFrame
    sources: pl.DataFrame
    freshness_rules: pl.DataFrame
    sections: tuple[SectionData, ...]
    names: pl.DataFrame  # kind, id, name of every indicator, initiative and geography


def read_briefing(
    conn: store.Connection,
    definition: BriefingDefinition,
    *,
    cutoff: datetime,
    briefing_date: date,
    previous: pl.DataFrame | None = None,
) -> BriefingData:
    """Read what each section of `definition` shows, as the data stood at `cutoff`;
    `previous` is the `previous_run` read from the run history (None: no earlier issue)."""
    if previous is None:
        previous = previous_run(None, definition.name, cutoff)
    since = previous["data_as_of"][0] if previous.height else None
    start = definition.window_start or EARLIEST
    end = definition.window_end or LATEST
    sections = []
    for section in definition.sections:
        scope = Scope(cutoff, section.indicators, section.initiatives, section.geographies,
                      start, end)  # fmt: skip
        frame: pl.DataFrame | None = None
        charts: tuple[ChartData, ...] = ()
        frames: dict[str, pl.DataFrame] = {}
        if section.kind == "key_messages":
            frames = _key_message_frames(conn, scope, briefing_date, previous)
        elif section.kind == "key_figures":
            frame = key_figures(conn, scope)
        elif section.kind == "comparison":
            frame = comparison(conn, scope)
        elif section.kind == "targets":
            frame = targets(conn, scope, briefing_date)
        elif section.kind == "changes" and since is not None:
            frame = changes(conn, scope, since)
        elif section.kind == "freshness":
            frame = freshness(conn, scope, briefing_date)
        elif section.kind == "series" and section.charts:
            points = series_points(conn, scope, section.charts)
            goals = chart_targets(conn, section.charts)
            charts = tuple(
                ChartData(
                    chart,
                    points.filter(pl.col("chart") == number).drop("chart"),
                    goals.filter(pl.col("chart") == number).drop("chart"),
                )
                for number, chart in enumerate(section.charts)
            )
        sections.append(SectionData(section, frame, charts, frames))
    return BriefingData(
        cutoff=cutoff,
        briefing_date=briefing_date,
        previous=previous,
        initiatives=initiatives(conn),
        sources=sources(conn),
        freshness_rules=freshness_rules(conn),
        sections=tuple(sections),
        names=names(conn),
    )


def _key_message_frames(
    conn: store.Connection, scope: Scope, briefing_date: date, previous: pl.DataFrame
) -> dict[str, pl.DataFrame]:
    """What key messages are written from: each series' newest point, the targets now and,
    when there is a previous issue, the targets as that issue read them (its cutoff, its
    date) and the points revised since its data date."""
    frames = {
        "series": key_message_series(conn, scope),
        "targets": targets(conn, scope, briefing_date),
    }
    if previous.height:
        then = replace(scope, cutoff=previous["started_at"][0])
        frames["targets_before"] = targets(conn, then, previous["briefing_date"][0])
        since = previous["data_as_of"][0]
        if since is not None:
            frames["changes"] = changes(conn, scope, since)
    return frames
