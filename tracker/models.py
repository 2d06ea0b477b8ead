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
