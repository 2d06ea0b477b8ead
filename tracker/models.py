"""Plain dataclasses shared by the layers above. No work at import."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

MEASURES = ("flow", "level", "cumulative")
# The initiative of every row of a context indicator (GDP, population): no programme's.
CONTEXT_INITIATIVE = "CONTEXT"
FREQUENCIES = ("annual", "semiannual", "quarterly", "monthly", "daily", "irregular")


@dataclass(frozen=True)
class Target:
    """A target an initiative set for an indicator: reach `value` (in `unit`) by `due`."""

    indicator: str
    initiative: str
    geography: str
    label: str
    value: float
    unit: str
    due: date
    source: str
    baseline_value: float | None = None
    baseline_period: str | None = None
    note: str | None = None
    # What the target counts: a geographies.id (the US's part of PGII: 'USA'); None for the
    # programme as a whole. Only figures of the same contributor count toward it.
    contributor: str | None = None


@dataclass(frozen=True)
class Indicator:
    """One indicator definition, as read from `indicators/<id>.toml`."""

    id: str
    name: str
    description: str
    unit: str
    measure: str
    frequency: str
    category: str
    preferred_source: str | None = None
    base_date: date | None = None
    base_note: str | None = None
    default_initiative: str | None = None
    context: bool = False  # belongs to no programme: GDP, population, total trade
    count_noun: str | None = None  # what a 'count' counts: 'deals' in '1,308 deals'
    # its fiscal year, when its files give fiscal years (FY2025): first month, and whether
    # FY2025 names the year it starts ('start') or ends in ('end'); see tracker.periods
    fiscal_year_start_month: int | None = None
    fiscal_year_named_by: str | None = None
    # words and phrases that name it in prose: `tracker extract` matches figures through them
    keywords: tuple[str, ...] = ()
    targets: tuple[Target, ...] = ()
    derived: Derived | None = None  # computed from project records at each import
    path: Path | None = None
    sha256: str = ""


@dataclass(frozen=True)
class Derived:
    """An indicator file's [derived] table: its figures are computed from a table of
    records (`projects`) at each import, one per geography and period."""

    table: str  # 'projects'
    aggregate: str  # 'count' (records) or 'sum' (of `column`)
    column: str | None  # the summed column (sum only)
    unit: str  # the unit of the count or of the summed column: 'count', 'USD'
    filters: tuple[tuple[str, tuple[object, ...]], ...]  # column -> accepted values
    geography: str  # the column giving each figure's geography: 'recipient_iso3'
    period: str  # the column giving each figure's period: 'commitment_year'
    initiative: str
    label: str  # what is counted or summed, in the notes: 'energy records'


@dataclass(frozen=True)
class SourceRecord:
    """A row of `sources`, as an import mapping file declares it."""

    id: str
    title: str
    publisher: str | None = None
    url: str | None = None
    published: date | None = None
    kind: str = "primary"
    note: str | None = None


@dataclass(frozen=True)
class BatchSummary:
    """What one ingest call did (or, with --dry-run, would do)."""

    batch_id: int | None
    files: tuple[str, ...]
    rows_read: int
    rows_new: int
    rows_revised: int
    rows_unchanged: int
    dry_run: bool = False
    warnings: tuple[str, ...] = field(default_factory=tuple)
    # one line per point the batch gave another source (the first 20), then how many more
    second_sources: tuple[str, ...] = field(default_factory=tuple)
    second_source_points: int = 0


@dataclass(frozen=True)
class IndicatorInfo:
    """What ingest needs to know of one indicator in the store."""

    id: str
    dimension: str
    base_unit: str
    multiplier: float
    default_initiative: str | None
    unit: str = ""  # as readers see it: 'USD bn', 'km'
    count_noun: str | None = None
    fiscal_year_start_month: int | None = None
    fiscal_year_named_by: str | None = None
    context: bool = False  # belongs to no programme (GDP, population): rows take CONTEXT


@dataclass(frozen=True)
class Catalog:
    """The names a CSV may use, as the store holds them now."""

    indicators: dict[str, IndicatorInfo]
    initiatives: set[str]
    geographies: dict[str, str]  # lower-cased id, or name as text.name_key -> id
    sources: dict[str, str]  # id -> title
    source_titles: dict[str, str]  # title -> id
    currencies: set[str]  # currencies with fx rates, USD included
    geography_names: dict[str, str] = field(default_factory=dict)  # id -> name
    # a name (text.name_key) that two geographies share -> their ids: refused, never guessed
    ambiguous_geographies: dict[str, tuple[str, ...]] = field(default_factory=dict)
    source_urls: dict[str, str] = field(default_factory=dict)  # url -> id


# --- briefing definitions (reports/<name>.toml) --------------------------------------------

SECTION_KINDS = (
    "key_messages",
    "key_figures",
    "comparison",
    "targets",
    "series",
    "changes",
    "freshness",
    "sources",
)
BRIEFING_FORMATS = ("pdf", "html")
CHART_MARKS = ("bar", "line")
# The kinds of sentence a `key_messages` section writes (README "Key messages" scores them).
KEY_MESSAGE_KINDS = (
    "target_reached", "projection_moved", "revision", "since_previous_issue", "record",
    "change", "sources_differ",
)  # fmt: skip
MAX_KEY_MESSAGES = 6
# Briefing parameters (`[params.<name>]`): the name says what the values are ids of, and
# each name has a small fixed vocabulary of `values_query` (run by tracker.briefing.variants).
PARAM_VALUE_QUERIES: dict[str, tuple[str, ...]] = {
    "geography": ("geographies with data", "countries with data", "regions with data",
                  "countries with data or in a region with data", "countries", "regions"),
    "initiative": ("initiatives with data", "initiatives"),
}  # fmt: skip
PARAM_SCHEDULES = ("default", "each")


@dataclass(frozen=True)
class SeriesChartSpec:
    """One chart of a `series` section: one indicator over time, per initiative."""

    indicator: str
    title: str
    initiatives: tuple[str, ...]
    geographies: tuple[str, ...]
    mark: str = "bar"


@dataclass(frozen=True)
class SectionSpec:
    """One section of a briefing, in the order the definition lists it.

    `indicators`, `initiatives` and `geographies` say what the section shows; for
    `changes` and `freshness` sections they default to everything the briefing shows.
    """

    kind: str
    title: str
    indicators: tuple[str, ...]
    initiatives: tuple[str, ...]
    geographies: tuple[str, ...]
    intro: str | None = None
    charts: tuple[SeriesChartSpec, ...] = ()
    # key_messages only: at most this many sentences, of these kinds (KEY_MESSAGE_KINDS)
    max_messages: int = MAX_KEY_MESSAGES
    message_kinds: tuple[str, ...] = KEY_MESSAGE_KINDS


@dataclass(frozen=True)
class BriefingSchedule:
    """When a scheduler should render the briefing and to whom it goes; `owner` gets an
    e-mail when a scheduled run fails."""

    cron: str
    timezone: str
    recipients: tuple[str, ...]
    owner: str | None = None


ALERT_KINDS = ("target_reached", "revision", "stale", "new_figure")


@dataclass(frozen=True)
class AlertDefinition:
    """One alert definition, as read from `reports/alerts/<name>.toml`: what to watch and
    whom to tell. Empty name tuples mean every one."""

    name: str
    kind: str  # one of ALERT_KINDS
    title: str
    indicators: tuple[str, ...]
    initiatives: tuple[str, ...]
    geographies: tuple[str, ...]
    threshold_percent: float | None  # revision only
    briefing: str | None  # whose newest published issue the e-mail points to
    recipients: tuple[str, ...]
    path: Path
    references: tuple[NameReference, ...] = ()


@dataclass(frozen=True)
class NameReference:
    """A name a briefing definition uses, and the key it sits under (for error messages)."""

    kind: str  # indicator, initiative or geography
    name: str
    key: str  # e.g. 'sections.2.indicators'


@dataclass(frozen=True)
class BriefingParam:
    """A parameter of a briefing, from `[params.<name>]`: the briefing is rendered once per
    value (`tracker brief REPORT --param geography=KAZ`, or `--each geography`).

    `name` (geography or initiative) says what the values are ids of. The allowed values are
    `values` as listed, or what `values_query` (one of PARAM_VALUE_QUERIES) finds, plus
    `default`. `on_schedule` 'each' asks the scheduler for every value; `recipients` gives
    a value its own recipients besides the schedule's.
    """

    name: str
    default: str
    values: tuple[str, ...] = ()
    values_query: str | None = None
    on_schedule: str = "default"
    recipients: tuple[tuple[str, tuple[str, ...]], ...] = ()
    description: str = ""


@dataclass(frozen=True)
class BriefingDefinition:
    """One briefing definition, as read from `reports/<name>.toml`."""

    name: str
    title: str
    audience: str
    cadence: str
    template: str
    formats: tuple[str, ...]
    window_start: date | None
    window_end: date | None
    sections: tuple[SectionSpec, ...]
    schedule: BriefingSchedule | None
    path: Path
    sha256: str
    references: tuple[NameReference, ...] = ()
    params: tuple[BriefingParam, ...] = ()  # declared parameters (see tracker.briefing.variants)
    variant: tuple[tuple[str, str], ...] = ()  # the values of this variant, e.g. geography=KAZ

    @property
    def indicators(self) -> tuple[str, ...]:
        """Every indicator any section shows, in first-use order."""
        return tuple(dict.fromkeys(n for s in self.sections for n in s.indicators))

    @property
    def initiatives(self) -> tuple[str, ...]:
        """Every initiative any section shows, in first-use order."""
        return tuple(dict.fromkeys(n for s in self.sections for n in s.initiatives))

    @property
    def geographies(self) -> tuple[str, ...]:
        """Every geography any section shows, in first-use order."""
        return tuple(dict.fromkeys(n for s in self.sections for n in s.geographies))

    @property
    def variant_slug(self) -> str:
        """'geography-KAZ' for a variant ('' otherwise): its folder and file-name part."""
        return "--".join(f"{name}-{value}" for name, value in self.variant)

    @property
    def file_stem(self) -> str:
        """Output file names without suffix: 'country-profile--geography-KAZ' for a
        variant, the briefing name otherwise."""
        return f"{self.name}--{self.variant_slug}" if self.variant else self.name

    @property
    def variant_params(self) -> str | None:
        """The variant's values as canonical JSON ('{"geography": "KAZ"}'), recorded with
        its runs; None for a briefing without parameters."""
        if not self.variant:
            return None
        return json.dumps(dict(sorted(self.variant)), separators=(", ", ": "))
