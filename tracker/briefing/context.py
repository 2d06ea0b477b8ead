"""The typed context of one briefing: what the templates show, section by section.

Every field a template shows is text ready to print (numbers formatted, footnote numbers
assigned by `briefing.build`). Text from data stays plain `str`, which the Jinja environment
escapes; only chart SVG, produced by Vega and XML-escaped there, is `Markup`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import polars as pl
from markupsafe import Markup

from tracker.briefing.wording import SourceEntry


@dataclass(frozen=True)
class Section:
    """Fields every section has: its kind (the partial that draws it), anchor, number,
    title and the definition's intro text."""

    kind: str
    anchor: str
    number: int
    title: str
    intro: str | None


@dataclass(frozen=True)
class KeyMessage:
    """One sentence of the key messages, written from the data by a template
    (tracker.briefing.key_messages), with the footnote numbers of its sources."""

    text: str  # 'Value of new BRI deals (engagement), BRI, World, rose 31.8 % to ...'
    footnotes: tuple[int, ...]
    sources: tuple[str, ...]  # the source ids behind `footnotes`, in the same order
    kind: str  # one of models.KEY_MESSAGE_KINDS
    score: float  # what ranked it (README "Key messages")


@dataclass(frozen=True)
class KeyMessagesSection(Section):
    messages: tuple[KeyMessage, ...]
    note: str  # why there are fewer than 3 sentences, or ''


@dataclass(frozen=True)
class KeyFigure:
    """One headline figure: latest value with its period, two changes, its footnotes."""

    name: str
    where: str  # initiative and geography, e.g. 'BRI, World'
    value: str  # 'USD 121.8 bn', or 'no data yet'
    period: str
    vs_previous_period: str
    vs_previous_briefing: str
    footnotes: tuple[int, ...]
    has_data: bool
    # when another source of the same point differs from the headline by more than 5 %:
    # 'USD 121.8 bn [1] (headline, primary) against USD 110 bn [2] (secondary, 9.7 % apart)'
    sources_differ: str = ""
    secondary: bool = False  # the headline's source is secondary (tagged as in the comparison)


@dataclass(frozen=True)
class KeyFiguresSection(Section):
    figures: tuple[KeyFigure, ...]


@dataclass(frozen=True)
class ComparisonPoint:
    """One published figure of a programme, as published and in USD."""

    period: str
    as_published: str
    in_usd: str
    rate_used: str  # '' for USD figures
    secondary: bool
    footnotes: tuple[int, ...]
    note: str | None
    counts: str = ""  # whose part of the programme it counts ('United States only'); '' all


@dataclass(frozen=True)
class Programme:
    """One column of the side-by-side comparison."""

    id: str
    name: str
    colour: str
    measures: str
    points: tuple[ComparisonPoint, ...]


@dataclass(frozen=True)
class FigureBox:
    """A series with one point, written out instead of drawn as a one-bar chart."""

    where: str  # programme and place, e.g. 'BRI, Central Asia'
    value: str  # by the one formatter, with its qualifier: '~22 GW', 'USD 94.8 bn'
    period: str
    letter: str  # the letter of its note in the chart's notes ('' without a note)
    secondary: bool  # the figure comes from a secondary source
    footnotes: tuple[int, ...]


@dataclass(frozen=True)
class Chart:
    """One chart: inline SVG (or, when each series has one point, figure boxes), what it
    shows, annotations from the data's notes."""

    id: str
    title: str
    svg: Markup | None  # None when there is no data yet, or figure boxes stand in for it
    caption: str
    notes: tuple[ChartNote, ...]
    footnotes: tuple[int, ...]
    figures: tuple[FigureBox, ...] = ()


@dataclass(frozen=True)
class ChartNote:
    """An annotation: the letter shown on the chart, the point, the data's note."""

    letter: str
    period: str
    text: str
    footnotes: tuple[int, ...]


@dataclass(frozen=True)
class ComparisonSection(Section):
    programmes: tuple[Programme, ...]
    chart: Chart
    caveats: tuple[str, ...]


@dataclass(frozen=True)
class TargetRow:
    """Progress toward one target."""

    label: str
    programme: str
    target: str
    latest: str
    latest_period: str
    share: str
    time_left: str
    projection: str
    note: str | None
    footnotes: tuple[int, ...]


@dataclass(frozen=True)
class TargetsSection(Section):
    targets: tuple[TargetRow, ...]
    chart: Chart
    method: str


@dataclass(frozen=True)
class SeriesSection(Section):
    charts: tuple[Chart, ...]


@dataclass(frozen=True)
class ChangeRow:
    """One new point or revision since the previous briefing."""

    change: str  # new, revised, note revised
    indicator: str
    where: str
    period: str
    old: str
    new: str
    recorded: str
    footnotes: tuple[int, ...]


@dataclass(frozen=True)
class ChangesSection(Section):
    rows: tuple[ChangeRow, ...]
    message: str


@dataclass(frozen=True)
class FreshnessRow:
    """How old the newest point of one indicator is, against its frequency's rule."""

    indicator: str
    frequency: str
    newest: str
    age: str
    status: str  # fresh, stale, no data yet


@dataclass(frozen=True)
class FreshnessSection(Section):
    rows: tuple[FreshnessRow, ...]
    rule: str


@dataclass(frozen=True)
class SourcesSection(Section):
    sources: tuple[SourceEntry, ...]


@dataclass(frozen=True)
class BriefingContext:
    """Everything the briefing template shows. Built by `build_briefing`."""

    briefing_name: str
    title: str
    audience: str
    cadence: str
    briefing_date: str  # '23 November 2026'
    briefing_date_iso: str
    data_as_of: str  # newest recorded_at used, or 'no data'
    as_of_note: str | None  # set when rendered with --as-of
    issue: int | None  # None for a draft
    generated_at: str
    window: str
    sections: tuple[Section, ...]
    # A variant's indicators (and sections) without any figure for it, in one line instead
    # of a 'no data yet' box each: 'Not yet tracked for Kazakhstan: ...' ('' when none).
    not_tracked: str = ""
    # the sentences of the first key_messages section, for the archive page and the e-mail
    key_messages: tuple[KeyMessage, ...] = ()
    draft: bool = False  # a draft is marked DRAFT on every page and has no issue number
    editor_note: Markup | None = None  # the editor's note (`--note`), rendered from Markdown


@dataclass(frozen=True)
class BuiltBriefing:
    """A briefing ready to render: context, chart specs, the CSV and what to store."""

    context: BriefingContext
    specs: dict[str, dict[str, Any]]
    csv: pl.DataFrame
    key_figures_json: str
    data_as_of: datetime | None
    as_of: datetime | None
    sources: tuple[SourceEntry, ...]
    # JSON of context.key_messages for `report_runs.key_messages`: [{"text", "footnotes",
    # "sources", "kind", "score"}]
    key_messages_json: str = "[]"
