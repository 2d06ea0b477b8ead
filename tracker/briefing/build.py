"""Build a briefing's context, chart specs and CSV from the frames `briefing.data` read.

Sources are numbered in the order the briefing first cites them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from datetime import date, datetime
from typing import Any

import polars as pl
from markupsafe import Markup

from tracker.briefing import charts, key_messages
from tracker.briefing.context import (
    BriefingContext,
    BuiltBriefing,
    ChangeRow,
    ChangesSection,
    Chart,
    ChartNote,
    ComparisonPoint,
    ComparisonSection,
    FigureBox,
    FreshnessRow,
    FreshnessSection,
    KeyFigure,
    KeyFiguresSection,
    KeyMessage,
    KeyMessagesSection,
    Programme,
    Section,
    SeriesSection,
    SourcesSection,
    TargetRow,
    TargetsSection,
)
from tracker.briefing.data import BriefingData, ChartData, SectionData
from tracker.briefing.wording import (
    SourceIndex,
    change_text,
    neutralise_csv,
    previous_briefing_text,
    projection_text,
    time_left_text,
    when,
)
from tracker.models import BriefingDefinition
from tracker.text import NO_COMPARABLE, amount, number, only, percent, unit_text

# What `report_runs.key_figures` holds for each key figure shown: the next issue compares
# with (indicator, initiative, geography, period, value, currency), and the e-mail writes
# its lines from the rest. Rows written before the e-mail read them have only the first six;
# rows written before migration 012 have no contributor (read as the whole programme's);
# rows written before the e-mail cited sources have no source, source_kind or sources_differ.
KEY_FIGURE_FIELDS = (
    "indicator", "initiative", "geography", "period", "value", "qualifier", "currency",
    "indicator_name", "geography_name", "unit", "count_noun",
    "previous_period", "previous_value", "previous_qualifier", "change", "change_share",
    "contributor", "contributor_name", "source", "source_kind", "sources_differ",
)  # fmt: skip

PROJECTION_METHOD = (
    "Projected dates come from a straight line through the last two points of the series "
    "(points of the same period length, in the target's currency), extended until it "
    "reaches the target; 'no trend' where there are fewer than two points or they do not "
    "rise."
)


def build_briefing(
    definition: BriefingDefinition,
    data: BriefingData,
    *,
    issue: int | None,
    as_of: datetime | None,
    generated_at: datetime,
    editor_note: Markup | None = None,
) -> BuiltBriefing:
    """Turn the frames of one briefing into its context, chart specs and CSV; `issue` None
    makes a draft."""
    parts = _Parts(definition, data)
    shown, not_tracked = _fold_untracked(definition, data) if definition.variant else (
        data.sections, ""
    )  # fmt: skip
    sections: list[Section] = []
    for number_, section in enumerate(shown, start=1):
        sections.append(_section(parts, number_, section))
    if definition.variant:  # key messages with nothing to say fold like an empty section
        sections = _renumbered(
            [s for s in sections if not (isinstance(s, KeyMessagesSection) and not s.messages)]
        )
    sources = parts.sources.entries(data.sources)
    sections = [
        SourcesSection(s.kind, s.anchor, s.number, s.title, s.intro, sources=sources)
        if s.kind == "sources"
        else s
        for s in sections
    ]
    used = [f["recorded_at"].max() for f in parts.used if "recorded_at" in f.columns]
    stamps = [stamp for stamp in used if isinstance(stamp, datetime)]
    data_as_of = max(stamps) if stamps else None
    window = _window_text(definition.window_start, definition.window_end)
    messages = next((s.messages for s in sections if isinstance(s, KeyMessagesSection)), ())
    context = BriefingContext(
        briefing_name=definition.name,
        title=definition.title,
        audience=definition.audience,
        cadence=definition.cadence,
        briefing_date=when(data.briefing_date),
        briefing_date_iso=data.briefing_date.isoformat(),
        data_as_of=f"{data_as_of:%Y-%m-%d %H:%M} UTC" if data_as_of else "no data",
        as_of_note=None
        if as_of is None
        else f"Rendered as of {as_of:%Y-%m-%d %H:%M} UTC from the data recorded by then.",
        issue=issue,
        generated_at=f"{generated_at:%Y-%m-%d %H:%M} UTC",
        window=window,
        sections=tuple(sections),
        not_tracked=not_tracked,
        key_messages=messages,
        draft=issue is None,
        editor_note=editor_note,
    )
    csv = pl.concat(parts.csv_frames, how="diagonal_relaxed") if parts.csv_frames else (
        pl.DataFrame(schema={"section": pl.String, "item": pl.String, "source": pl.String})
    )  # fmt: skip
    numbers = {entry.id: entry.number for entry in sources}
    if "unit" in csv.columns and "currency" in csv.columns:
        # each row's unit in its own currency: a Global Gateway figure is 'EUR bn'
        csv = csv.with_columns(
            pl.struct("unit", "currency")
            .map_elements(
                lambda r: unit_text(r["unit"], r["currency"]) if r["unit"] else r["unit"],
                return_dtype=pl.String,
            )
            .alias("unit")
        )
    csv = csv.with_columns(
        pl.col("source").replace_strict(numbers, default=None, return_dtype=pl.Int64)
        .alias("source_number"),
    ).join(
        data.sources.select(
            pl.col("id").alias("source"),
            pl.col("title").alias("source_title"),
            pl.col("kind").alias("source_kind"),
            pl.col("url").alias("source_url"),
        ),
        on="source",
        how="left",
    )  # fmt: skip
    return BuiltBriefing(
        context=context,
        specs=parts.specs,
        csv=neutralise_csv(csv),
        key_figures_json=parts.key_figures_json,
        data_as_of=data_as_of,
        as_of=as_of,
        sources=sources,
        key_messages_json=json.dumps(
            [
                {
                    "text": m.text,
                    "footnotes": list(m.footnotes),
                    "sources": list(m.sources),
                    "kind": m.kind,
                    "score": m.score,
                }
                for m in messages
            ],
            ensure_ascii=False,
        ),  # fmt: skip
    )


def _renumbered(sections: list[Section]) -> list[Section]:
    """Sections numbered (and anchored) again in order, after some were left out."""
    return [
        replace(s, number=n, anchor=f"s{n}-{s.kind.replace('_', '-')}")
        for n, s in enumerate(sections, start=1)
    ]


def _fold_untracked(
    definition: BriefingDefinition, data: BriefingData
) -> tuple[tuple[SectionData, ...], str]:
    """A variant's sections without what has no figure for it, and the one line that names
    what was left out: 'Not yet tracked for Kazakhstan: ...' ('' when nothing was).

    Key figures and charts without data leave their section (naming their indicator); a
    section left with nothing to show (no key figure, chart, comparison point or target
    with a value) goes, named by its indicators or, for targets and comparisons, its title.
    """
    names = {(kind, id_): name for kind, id_, name in data.names.iter_rows()}
    missing: list[str] = []
    kept: list[SectionData] = []
    for section in data.sections:
        kind, frame = section.spec.kind, section.frame
        if kind == "key_figures" and frame is not None:
            absent = frame.filter(pl.col("value").is_null())
            missing += absent["indicator_name"].to_list()
            if absent.height < frame.height:
                kept.append(replace(section, frame=frame.filter(pl.col("value").is_not_null())))
        elif kind == "series":
            charts_ = tuple(c for c in section.charts if c.points.height)
            missing += [
                names.get(("indicator", c.spec.indicator), c.spec.indicator)
                for c in section.charts
                if not c.points.height
            ]
            if charts_:
                kept.append(replace(section, charts=charts_))
        elif kind in ("targets", "comparison") and frame is not None:
            value = "latest_value" if kind == "targets" else "value"
            if frame.filter(pl.col(value).is_not_null()).height:
                kept.append(section)
            else:
                missing.append(section.spec.title)
        else:
            kept.append(section)
    if not missing:
        return tuple(kept), ""
    where = " and ".join(names.get((name, value), value) for name, value in definition.variant)
    return tuple(kept), f"Not yet tracked for {where}: " + "; ".join(dict.fromkeys(missing)) + "."


class _Parts:
    """What the section builders share and add to, in reading order: footnote numbers (a
    source is numbered when first cited), colours, chart specs, CSV frames, frames used."""

    def __init__(self, definition: BriefingDefinition, data: BriefingData) -> None:
        self.definition = definition
        self.data = data
        self.sources = SourceIndex()
        # Only '#rgb'-style colours reach charts and style attributes; anything else in the
        # data gets the neutral fallback colour.
        self.colours: dict[str, str] = dict(
            data.initiatives.select(
                "id",
                pl.when(pl.col("colour").str.contains(r"^#[0-9A-Fa-f]{3,8}$"))
                .then(pl.col("colour"))
                .otherwise(pl.lit(charts.FALLBACK_COLOUR)),
            ).iter_rows()
        )
        self.specs: dict[str, dict[str, Any]] = {}
        self.series_charts = 0  # numbers the series charts: chart-1, chart-2, ...
        self.csv_frames: list[pl.DataFrame] = []
        self.used: list[pl.DataFrame] = []
        self.key_figures_json = "[]"
        previous = data.previous
        self.previous_issue: int | None = int(previous["issue"][0]) if previous.height else None
        self.previous_figures = pl.DataFrame(
            json.loads(previous["key_figures"][0] or "[]") if previous.height else [],
            schema={"indicator": pl.String, "initiative": pl.String, "geography": pl.String,
                    "period": pl.String, "value": pl.Float64, "currency": pl.String,
                    "qualifier": pl.String, "contributor": pl.String},
        )  # fmt: skip


SectionBuilder = Callable[[_Parts, dict[str, Any], SectionData], Section]


def _section(parts: _Parts, number_: int, data: SectionData) -> Section:
    """One section, by the builder its kind names in SECTION_BUILDERS."""
    kind = data.spec.kind
    head: dict[str, Any] = {
        "kind": kind,
        "anchor": f"s{number_}-{kind.replace('_', '-')}",
        "number": number_,
        "title": data.spec.title,
        "intro": data.spec.intro,
    }
    return SECTION_BUILDERS.get(kind, _plain)(parts, head, data)


def _plain(parts: _Parts, head: dict[str, Any], data: SectionData) -> Section:
    """A section with only its heading; `build_briefing` fills in the sources list later."""
    return Section(**head)


# --- key messages --------------------------------------------------------------------------

# Fewer sentences than this are explained in the section rather than padded.
FEW_MESSAGES = 3


def _key_messages(parts: _Parts, head: dict[str, Any], data: SectionData) -> Section:
    """Up to `max_messages` sentences, ranked by score (tracker.briefing.key_messages); their
    sources are cited here, so the briefing's footnotes start with them."""
    spec = data.spec
    chosen = key_messages.rank(
        key_messages.candidates(spec, data.frames, parts.previous_figures, parts.previous_issue),
        spec.max_messages,
    )
    for frame in data.frames.values():
        parts.used.append(frame)
    # one number per source, in the order the sentence names them (the first key messages
    # number the briefing's first sources)
    messages = tuple(
        KeyMessage(c.text, tuple(parts.sources.cite([s])[0] for s in c.sources), c.sources,
                   c.kind, c.score)
        for c in chosen
    )  # fmt: skip
    note = ""
    if len(messages) < min(FEW_MESSAGES, spec.max_messages):
        first = " (first issue: nothing to compare with)" if parts.previous_issue is None else ""
        note = (
            f"{'No key message' if not messages else f'Only {len(messages)} key message(s)'}: "
            "the data hold no other change, record, target reached, moved projection, "
            f"revision or disagreement between sources{first}."
        )
    if chosen:
        parts.csv_frames.append(
            pl.DataFrame(
                {
                    "section": ["Key messages"] * len(chosen),
                    "item": [c.text for c in chosen],
                    "indicator": [c.figure["indicator"] for c in chosen],
                    "initiative": [c.figure["initiative"] for c in chosen],
                    "geography": [c.figure["geography"] for c in chosen],
                    "source": [c.sources[0] if c.sources else None for c in chosen],
                    "message_kind": [c.kind for c in chosen],
                    "score": [c.score for c in chosen],
                },
                schema_overrides={"source": pl.String},
            )
        )
    return KeyMessagesSection(**head, messages=messages, note=note)


# --- key figures ---------------------------------------------------------------------------


def _key_figures(parts: _Parts, head: dict[str, Any], data: SectionData) -> Section:
    frame = data.frame
    if frame is None:
        return Section(**head)
    parts.used.append(frame)
    with_previous = frame.join(
        parts.previous_figures.rename(
            {"period": "briefing_period", "value": "briefing_value",
             "currency": "briefing_currency", "qualifier": "briefing_qualifier"}
        ),
        on=["indicator", "initiative", "geography", "contributor"],
        how="left",
        nulls_equal=True,  # a null contributor is the whole programme: it matches itself
    )  # fmt: skip
    figures = []
    differ: dict[tuple[str, str, str, str | None], str] = {}
    for row in with_previous.iter_rows(named=True):
        has_data = row["value"] is not None
        footnotes = parts.sources.cite(row["point_sources"] or [])
        disagreement = _sources_differ(row, parts) if has_data else ""
        if disagreement:
            differ[(row["indicator"], row["initiative"], row["geography"], row["contributor"])] = (
                disagreement
            )
        figures.append(
            KeyFigure(
                name=row["indicator_name"],
                where=", ".join(
                    filter(
                        None,
                        [
                            row["initiative"],
                            row["geography_name"],
                            only(row["contributor_name"] or row["contributor"]),
                        ],
                    )
                ),  # fmt: skip
                value=amount(
                    row["value"], row["unit"], row["currency"], row["count_noun"], row["qualifier"]
                )
                if has_data
                else "no data yet",
                period=row["period"] or "",
                vs_previous_period=change_text(row) if has_data else "",
                vs_previous_briefing=previous_briefing_text(row, parts.previous_issue)
                if has_data
                else "",
                footnotes=footnotes,
                has_data=has_data,
                sources_differ=disagreement,
                secondary=has_data and row["source_kind"] == "secondary",
            )
        )
    keys = ("indicator", "initiative", "geography", "contributor")
    noted = pl.DataFrame(
        [(*key, text) for key, text in differ.items()],
        schema={**{k: frame.schema[k] for k in keys}, "sources_differ": pl.String},
        orient="row",
    )
    frame = frame.join(noted, on=keys, how="left", nulls_equal=True, maintain_order="left")
    present = frame.filter(pl.col("value").is_not_null())
    parts.key_figures_json = present.select(KEY_FIGURE_FIELDS).write_json()
    parts.csv_frames.append(
        present.select(
            pl.lit("Key figures").alias("section"),
            pl.col("indicator_name").alias("item"),
            "indicator", "initiative", "geography", "period", "value", "qualifier",
            "currency", "unit", "contributor", "previous_period", "previous_value",
            "previous_qualifier", "change", "change_share", "source", "note", "sources_differ",
        )
    )  # fmt: skip
    return KeyFiguresSection(**head, figures=tuple(figures))


# Sources of one point further apart than this, as a share of the headline, are noted.
SOURCES_DIFFER_ABOVE = 0.05


def _sources_differ(row: dict[str, Any], parts: _Parts) -> str:
    """The headline and each other source of its point whose figure (in the same currency)
    is more than 5 % away from it, with footnote numbers; '' when none is."""
    figures = row["point_figures"] or []
    if len(figures) < 2 or not figures[0]["value"]:
        return ""
    head = figures[0]

    def written(figure: dict[str, Any]) -> str:
        number_ = parts.sources.cite([figure["source"]])[0]
        shown = amount(
            figure["value"], row["unit"], figure["currency"], row["count_noun"],
            figure["qualifier"],
        )  # fmt: skip
        return f"{shown} [{number_}]"

    others = [
        f"{written(f)} ({f['kind'] or 'unspecified'}, {percent(gap)} apart)"
        for f in figures[1:]
        if f["currency"] == head["currency"]
        and (gap := abs(f["value"] - head["value"]) / abs(head["value"])) > SOURCES_DIFFER_ABOVE
    ]
    if not others:
        return ""
    kind = head["kind"] or "unspecified"
    return f"{written(head)} (headline, {kind}) against " + "; ".join(others)


# --- comparison ----------------------------------------------------------------------------


def _comparison(parts: _Parts, head: dict[str, Any], data: SectionData) -> Section:
    frame = data.frame
    if frame is None:
        return Section(**head)
    parts.used.append(frame)
    shown = [i for i in data.spec.initiatives if i in set(frame["initiative"].to_list())]
    info = {row["id"]: row for row in parts.data.initiatives.iter_rows(named=True)}
    programmes = []
    for initiative in shown:
        rows = frame.filter(pl.col("initiative") == initiative)
        points = []
        for row in rows.iter_rows(named=True):
            cited = [row["source"]] + ([row["rate_source"]] if row["rate_source"] else [])
            converted = row["currency"] != "USD"
            points.append(
                ComparisonPoint(
                    period=row["period"],
                    as_published=amount(
                        row["value"], row["unit"], row["currency"], qualifier=row["qualifier"]
                    ),
                    in_usd=amount(row["value_usd"], row["unit"], "USD", qualifier=row["qualifier"])
                    if row["value_usd"] is not None
                    else "no rate",
                    rate_used=row["rate_used"] if converted else "",
                    secondary=row["source_kind"] == "secondary",
                    footnotes=parts.sources.cite(cited),
                    note=row["note"],
                    counts=only(row["contributor_name"] or row["contributor"]),
                )
            )
        programmes.append(
            Programme(
                id=initiative,
                name=info[initiative]["name"],
                colour=parts.colours.get(initiative, charts.FALLBACK_COLOUR),
                measures=info[initiative]["measures"] or "",
                points=tuple(points),
            )
        )
    # A dot of one contributor's figure says whose it is ('> 60, United States only').
    labelled = frame.with_columns(
        label=pl.struct("value_usd", "qualifier", "contributor", "contributor_name").map_elements(
            lambda r: ", ".join(
                filter(None, [number(r["value_usd"], r["qualifier"]),
                              only(r["contributor_name"] or r["contributor"])])
            ),
            return_dtype=pl.String,
        )
    )  # fmt: skip
    chart = _chart(
        parts,
        f"{head['anchor']}-chart",
        "Financing on one USD basis, by programme (USD bn)",
        charts.comparison_chart(labelled.drop_nulls("value_usd"), parts.colours)
        if frame.height
        else None,
        "Each dot is one published figure, converted to USD with the stated ECB annual "
        "rate where published in EUR; hollow diamonds come from secondary sources. "
        "The programmes measure different things (see the caveats): do not add them.",
        frame["source"].to_list(),
    )
    caveats = tuple(f"{p.name} ({p.id}): {p.measures}" for p in programmes if p.measures)
    parts.csv_frames.append(
        frame.select(
            pl.lit("Comparison").alias("section"),
            pl.lit("Financing on one USD basis").alias("item"),
            "indicator", "initiative", "geography", "period", "value", "qualifier",
            "currency", "unit", "contributor", "value_usd", "rate_used", "source", "note",
        )
    )  # fmt: skip
    return ComparisonSection(**head, programmes=tuple(programmes), chart=chart, caveats=caveats)


# --- targets -------------------------------------------------------------------------------


def _targets(parts: _Parts, head: dict[str, Any], data: SectionData) -> Section:
    frame = data.frame
    if frame is None:
        return Section(**head)
    parts.used.append(frame)
    rows = []
    for row in frame.iter_rows(named=True):
        footnotes = parts.sources.cite(
            [row["target_source"]] + ([row["latest_source"]] if row["latest_source"] else [])
        )
        noun = row["count_noun"]
        incomparable = row["trend_status"] == NO_COMPARABLE
        latest = NO_COMPARABLE if incomparable else amount(
            row["latest_value"], row["unit"], row["target_currency"], noun, row["latest_qualifier"]
        )  # fmt: skip
        rows.append(
            TargetRow(
                label=row["label"],
                programme=row["initiative_name"] or row["initiative"],
                target=f"{amount(row['target_value'], row['unit'], row['target_currency'], noun)}"
                f" by {row['due']:%d %b %Y}",
                latest=latest,
                latest_period=row["latest_period"] or "",
                share=NO_COMPARABLE
                if incomparable
                else percent(row["share_achieved"], row["latest_qualifier"]),
                time_left=time_left_text(row["days_left"], row["due"]),
                projection=projection_text(row),
                note=row["note"],
                footnotes=footnotes,
            )
        )
    progress = frame.select(
        "label",
        "initiative",
        pl.col("share_achieved").alias("share"),
        pl.struct("share_achieved", "latest_qualifier", "trend_status")
        .map_elements(
            lambda r: (
                NO_COMPARABLE
                if r["trend_status"] == NO_COMPARABLE
                else percent(r["share_achieved"], r["latest_qualifier"])
            ),
            return_dtype=pl.String,
        )
        .alias("share_text"),
    )
    chart = _chart(
        parts,
        f"{head['anchor']}-chart",
        "Share of each target achieved",
        charts.progress_chart(progress, parts.colours) if frame.height else None,
        "Bar: latest value as a share of the target; dashed line: the target (100 %).",
        frame["target_source"].to_list(),
    )
    parts.csv_frames.append(
        frame.select(
            pl.lit("Targets").alias("section"),
            pl.col("label").alias("item"),
            "indicator", "initiative", "geography",
            pl.col("latest_period").alias("period"),
            pl.col("latest_value").alias("value"),
            pl.col("latest_qualifier").alias("qualifier"),
            pl.col("target_currency").alias("currency"), "unit", "contributor", "target_value",
            "due",
            "share_achieved", "days_left", "trend_status", "projected_date",
            pl.col("latest_source").alias("source"), "note",
        )
    )  # fmt: skip
    return TargetsSection(**head, targets=tuple(rows), chart=chart, method=PROJECTION_METHOD)


# --- series --------------------------------------------------------------------------------


def _series(parts: _Parts, head: dict[str, Any], data: SectionData) -> Section:
    charts_ = (c for chart in data.charts for c in _by_currency(chart))
    return SeriesSection(**head, charts=tuple(_series_chart(parts, c) for c in charts_))


def _by_currency(chart: ChartData) -> list[ChartData]:
    """One chart per currency of its points: EUR and USD figures never share an axis."""
    currencies = chart.points["currency"].unique(maintain_order=True).to_list()
    if len(currencies) < 2:
        return [chart]
    return [
        ChartData(
            replace(chart.spec, title=f"{chart.spec.title}: figures in {currency}"),
            chart.points.filter(pl.col("currency").eq_missing(currency)),
            chart.targets.filter(pl.col("currency").eq_missing(currency)),
        )
        for currency in currencies
    ]


def _series_chart(parts: _Parts, chart: ChartData) -> Chart:
    """A series chart, or figure boxes when each of its series has one point."""
    points = _with_series_names(chart.points)
    parts.used.append(points)
    parts.series_charts += 1
    chart_id = f"chart-{parts.series_charts}"
    noted = points.with_row_index("n").with_columns(
        letter=pl.when(pl.col("note").is_not_null())
        .then(pl.col("note").is_not_null().cum_sum().sub(1))
        .otherwise(None)
    )
    letters = "abcdefghijklmnopqrstuvwxyz"
    noted = noted.with_columns(
        letter=pl.col("letter").map_elements(lambda i: letters[i % 26], return_dtype=pl.String),
        value_text=pl.struct("value", "qualifier").map_elements(
            lambda r: number(r["value"], r["qualifier"]), return_dtype=pl.String
        ),
    ).with_columns(
        label=pl.when(pl.col("letter").is_not_null())
        .then(pl.format("{} ({})", "value_text", "letter"))
        .otherwise(pl.col("value_text"))
    )
    first = points.row(0, named=True) if points.height else {}
    unit = first.get("unit") or ""
    unit_shown = unit_text(unit, first.get("currency"), first.get("count_noun"))
    places = {r["geography"]: r["geography_name"] for r in points.iter_rows(named=True)}
    target_rows = chart.targets.with_columns(
        label=pl.Series(
            [
                ("Target" if len(places) < 2 else
                 f"Target for {places.get(t['geography'], t['geography'])}")
                + f": {amount(t['value'], unit, t['currency'])} by {t['due']:%b %Y}"
                for t in chart.targets.iter_rows(named=True)
            ],
            dtype=pl.String,
        )
    )  # fmt: skip
    cited = [*points["source"].to_list(), *chart.targets["source"].to_list()]
    notes = tuple(
        ChartNote(
            letter=row["letter"],
            period=row["period"],
            text=row["note"],
            footnotes=parts.sources.cite(row["point_sources"] or [row["source"]]),
        )
        for row in noted.filter(pl.col("letter").is_not_null()).iter_rows(named=True)
    )
    # A series of one point is a figure, not a one-bar chart.
    boxed = points.height > 0 and points["series"].n_unique() == points.height
    figures = tuple(
        FigureBox(
            where=", ".join(filter(None, [row["initiative"], row["geography_name"]])),
            value=amount(row["value"], unit, row["currency"], row["count_noun"], row["qualifier"]),
            period=row["period"],
            letter=row["letter"] or "",
            secondary=row["source_kind"] == "secondary",
            footnotes=parts.sources.cite(row["point_sources"] or [row["source"]]),
        )
        for row in (noted.iter_rows(named=True) if boxed else ())
    )
    spec = (
        charts.series_chart(noted, target_rows, parts.colours, unit=unit_shown,
                            mark=chart.spec.mark)
        if points.height and not boxed
        else None
    )  # fmt: skip
    caption = ""
    if points.height:
        caption = f"Unit: {unit_shown}. Geography: {', '.join(sorted(set(places.values())))}."
    several = points["series"].n_unique() > 1
    if (
        spec is not None
        and not several
        and chart.spec.mark == "bar"
        and ("secondary" in points["source_kind"].to_list())
    ):
        caption += " Lighter bars: figures from secondary sources."
    if spec is not None and several:
        caption += " One line per series, named at its end; periods ordered by end date."
    if chart.targets.height:
        caption += (
            (" Dashed line: " if spec is not None else " Target: ")
            + "; ".join(chart.targets["label"].to_list())
            + "."
        )
    parts.csv_frames.append(
        points.select(
            pl.lit("Series").alias("section"),
            pl.lit(chart.spec.title).alias("item"),
            "indicator", "initiative", "geography", "period", "value", "qualifier", "currency",
            "unit", "contributor", "source", "note",
        )
    )  # fmt: skip
    return _chart(parts, chart_id, chart.spec.title, spec, caption, cited, notes, figures)


def _with_series_names(points: pl.DataFrame) -> pl.DataFrame:
    """Points with `series`, the name a reader tells each series by: the programme (BRI),
    the place (Kazakhstan, Central Asia), or both (BRI, Kazakhstan) when both vary."""
    several_places = points["geography"].n_unique() > 1
    several_programmes = points["initiative"].n_unique() > 1
    place = pl.col("geography_name").fill_null(pl.col("geography"))
    if several_places and several_programmes:
        name = pl.format("{}, {}", "initiative", place)
    elif several_places:
        name = place
    else:
        name = pl.col("initiative")
    return points.with_columns(series=name)


def _chart(
    parts: _Parts,
    chart_id: str,
    title: str,
    spec: dict[str, Any] | None,
    caption: str,
    cited: list[str],
    notes: tuple[ChartNote, ...] = (),
    figures: tuple[FigureBox, ...] = (),
) -> Chart:
    """A chart drawn to SVG from `spec` (none without data, or figure boxes instead), its
    sources cited."""
    footnotes = parts.sources.cite(cited)
    svg = None
    if spec is not None:
        parts.specs[chart_id] = spec
        svg = Markup(charts.to_svg(spec, chart_id))  # noqa: S704 - Vega escapes text
    return Chart(chart_id, title, svg, caption, notes, footnotes, figures)


# --- changes and freshness -----------------------------------------------------------------


def _changes(parts: _Parts, head: dict[str, Any], data: SectionData) -> Section:
    frame = data.frame
    if frame is None or parts.previous_issue is None:
        message = "This is the first issue: there is no earlier briefing to compare with."
        return ChangesSection(**head, rows=(), message=message)
    since = parts.data.previous["data_as_of"][0]
    rows = tuple(
        ChangeRow(
            change=row["change"],
            indicator=row["indicator_name"],
            where=f"{row['initiative']}, {row['geography']}",
            period=row["period"],
            old="" if row["old_value"] is None
            else amount(row["old_value"], row["unit"], row["old_currency"], row["count_noun"],
                        row["old_qualifier"]),
            new=amount(row["new_value"], row["unit"], row["new_currency"], row["count_noun"],
                       row["new_qualifier"]),
            recorded=f"{row['recorded_at']:%Y-%m-%d %H:%M}",
            footnotes=parts.sources.cite([row["source"]]),
        )
        for row in frame.iter_rows(named=True)
    )  # fmt: skip
    stamp = f"{since:%Y-%m-%d %H:%M} UTC" if since else "its data date"
    new = frame.filter(pl.col("change") == "new").height
    revised = frame.height - new
    message = (
        f"Since issue {parts.previous_issue} (data as of {stamp}): {new} new point(s) and "
        f"{revised} revision(s)."
        if frame.height
        else f"No new points and no revisions since issue {parts.previous_issue} "
        f"(data as of {stamp})."
    )
    parts.csv_frames.append(
        frame.select(
            pl.lit("What changed").alias("section"), pl.col("change").alias("item"),
            "indicator", "initiative", "geography", "period",
            pl.col("new_value").alias("value"), pl.col("new_qualifier").alias("qualifier"),
            pl.col("new_currency").alias("currency"), "unit", "old_value", "old_qualifier",
            "old_currency", "source", "note",
        )
    )  # fmt: skip
    return ChangesSection(**head, rows=rows, message=message)


def _freshness(parts: _Parts, head: dict[str, Any], data: SectionData) -> Section:
    frame = data.frame
    if frame is None:
        return Section(**head)
    rules = parts.data.freshness_rules
    used = set(frame["frequency"].to_list())
    rule = (
        "An indicator is flagged stale when its newest period ended longer before the "
        "briefing date than its frequency allows: "
        + "; ".join(
            f"{r['frequency']} {r['max_age_months']} months"
            for r in rules.iter_rows(named=True)
            if r["frequency"] in used
        )
        + "."
    )
    rows = tuple(
        FreshnessRow(
            indicator=row["indicator_name"],
            frequency=row["frequency"],
            newest=row["newest_period"] or "none",
            age="" if row["age_months"] is None else f"{row['age_months']} months",
            status=row["status"],
        )
        for row in frame.iter_rows(named=True)
    )
    return FreshnessSection(**head, rows=rows, rule=rule)


# The builder of each section kind: a new kind adds its function here and its partial in
# templates/partials/; a kind without a builder (sources) gets only its heading.
SECTION_BUILDERS: dict[str, SectionBuilder] = {
    "key_messages": _key_messages,
    "key_figures": _key_figures,
    "comparison": _comparison,
    "targets": _targets,
    "series": _series,
    "changes": _changes,
    "freshness": _freshness,
    "sources": _plain,
}


def _window_text(start: date | None, end: date | None) -> str:
    if start is None and end is None:
        return "all periods"
    first = f"from {start:%Y-%m-%d}" if start else ""
    last = f"to {end:%Y-%m-%d}" if end else "to the latest"
    return " ".join(filter(None, [first, last]))
