"""Plain dataclasses shared by the layers above. No work at import.

Layer 0: imports nothing from tracker.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

MEASURES = ("flow", "level", "cumulative")
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
    targets: tuple[Target, ...] = ()
    path: Path | None = None
    sha256: str = ""


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


@dataclass(frozen=True)
class IndicatorInfo:
    """What ingest needs to know of one indicator in the store."""

    id: str
    dimension: str
    base_unit: str
    multiplier: float
    default_initiative: str | None


@dataclass(frozen=True)
class Catalog:
    """The names a CSV may use, as the store holds them now."""

    indicators: dict[str, IndicatorInfo]
    initiatives: set[str]
    geographies: dict[str, str]  # lower-cased id or name -> id
    sources: dict[str, str]  # id -> title
    source_titles: dict[str, str]  # title -> id
    currencies: set[str]  # currencies with fx rates, USD included


# --- briefing definitions (reports/<name>.toml) --------------------------------------------

SECTION_KINDS = (
    "key_figures",
    "comparison",
    "targets",
    "series",
    "changes",
    "freshness",
    "sources",
)
REPORT_FORMATS = ("pdf", "html")
CHART_MARKS = ("bar", "line")


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


@dataclass(frozen=True)
class ReportSchedule:
    """When a scheduler should render the briefing and to whom it goes."""

    cron: str
    timezone: str
    recipients: tuple[str, ...]


@dataclass(frozen=True)
class NameReference:
    """A name a briefing definition uses, and the key it sits under (for error messages)."""

    kind: str  # indicator, initiative or geography
    name: str
    key: str  # e.g. 'sections.2.indicators'


@dataclass(frozen=True)
class ReportDefinition:
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
    schedule: ReportSchedule | None
    path: Path
    sha256: str
    references: tuple[NameReference, ...] = ()

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
