"""How a briefing words changes, targets, dates and sources, and numbers its footnotes.

Pure functions of plain values, so each wording rule is in one place; figures themselves
are written by `tracker.text`, the formatter the e-mail and the command line share.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any
from urllib.parse import urlsplit

import polars as pl

from tracker.text import NO_COMPARABLE, amount, change, number

GRAIN_WORDS = {"year": "annual", "half": "half-year", "quarter": "quarterly",
               "month": "monthly", "day": "dated"}  # fmt: skip
CSV_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
_SAFE_URL = re.compile(r"^[^\s\x00-\x1f\x7f<>\"]+$")


@dataclass(frozen=True)
class SourceEntry:
    """One numbered source of the briefing's source list."""

    number: int
    id: str
    title: str
    publisher: str
    published: str  # ISO date, or 'date not given'
    url: str  # printed as text; '' when none
    href: str | None  # the url, only when it is http(s): the one case it becomes a link
    kind: str  # primary, secondary, synthetic, unspecified
    note: str


class SourceIndex:
    """Footnote numbers: a source gets the next number the first time it is cited."""

    def __init__(self) -> None:
        self._numbers: dict[str, int] = {}

    def cite(self, ids: Iterable[str | None]) -> tuple[int, ...]:
        """The footnote numbers of `ids` (sorted, no repeats), numbering new ones."""
        numbers = set()
        for source in ids:
            if source:
                numbers.add(self._numbers.setdefault(source, len(self._numbers) + 1))
        return tuple(sorted(numbers))

    def entries(self, sources: pl.DataFrame) -> tuple[SourceEntry, ...]:
        """The cited sources in footnote order, described from the sources table."""
        rows = {row["id"]: row for row in sources.iter_rows(named=True)}
        entries = []
        for source, number_ in sorted(self._numbers.items(), key=lambda item: item[1]):
            row: Mapping[str, Any] = rows.get(source) or {"title": source, "kind": "unspecified"}
            url = row.get("url") or ""
            published = row.get("published")
            entries.append(
                SourceEntry(
                    number=number_,
                    id=source,
                    title=row.get("title") or source,
                    publisher=row.get("publisher") or "publisher not given",
                    published=published.isoformat() if published else "date not given",
                    url=url,
                    href=safe_href(url),
                    kind=row.get("kind") or "unspecified",
                    note=row.get("note") or "",
                )
            )
        return tuple(entries)


def safe_href(url: str | None) -> str | None:
    """`url` when it may be a link (http or https with a host, no spaces), else None.

    >>> safe_href("javascript:alert(1)") is None
    True
    """
    if not url or not _SAFE_URL.match(url):
        return None
    parts = urlsplit(url)
    return url if parts.scheme in ("http", "https") and parts.netloc else None


def change_text(row: Mapping[str, Any]) -> str:
    """The change against the previous point of the same period length."""
    if row["previous_period"] is None:
        return f"no earlier {GRAIN_WORDS.get(row['grain'], '')} figure".replace("  ", " ")
    if row["change"] is None:
        was = number(row["previous_value"], row.get("previous_qualifier"))
        return f"was {was} in {row['previous_period']}"
    return change(row["change"], row["change_share"], row["previous_period"])


def previous_briefing_text(row: Mapping[str, Any], previous_issue: int | None) -> str:
    """The change against the figure the previous issue showed."""
    if previous_issue is None:
        return "first issue"
    before = row.get("briefing_value")
    if before is None:
        return f"new since issue {previous_issue}"
    was = number(before, row.get("briefing_qualifier"))
    if row.get("briefing_period") != row["period"]:
        return f"was {was} for {row['briefing_period']} (issue {previous_issue})"
    if (
        abs(before - row["value"]) < 1e-9
        and row.get("briefing_currency") == row["currency"]
        and row.get("briefing_qualifier") == row.get("qualifier")
    ):
        return f"unchanged since issue {previous_issue}"
    return f"revised from {was} (issue {previous_issue})"


def time_left_text(days: int | None, due: date) -> str:
    """Days to the due date, or how long ago it passed."""
    if days is None:
        return ""
    if days >= 0:
        return f"{days} days left (due {due:%d %b %Y})"
    return f"due date {due:%d %b %Y} passed {-days} days ago"


def projection_text(row: Mapping[str, Any]) -> str:
    """When the trend reaches the target, or why there is no trend."""
    unit, currency, noun = row["unit"], row["target_currency"], row.get("count_noun")
    status = row["trend_status"]
    if status == "no data yet":
        return "No data yet: no trend."
    if status == NO_COMPARABLE:
        return (
            "No comparable figure yet: the figures of this series count another contributor "
            "than the target does, so no share or trend is built on them."
        )
    if status == "reached":
        latest = amount(row["latest_value"], unit, currency, noun, row.get("latest_qualifier"))
        return (
            f"Reached: {latest} ({row['latest_period']}) against "
            f"{amount(row['target_value'], unit, currency, noun)}."
        )
    if status == "one point":
        return f"No trend: only one data point ({row['latest_period']})."
    first = number(row["trend_from_value"], row.get("trend_from_qualifier"))
    last = number(row["trend_to_value"], row.get("trend_to_qualifier"))
    start, end = f"{row['trend_from_period']}: {first}", f"{row['trend_to_period']}: {last}"
    if status == "not rising":
        return f"No trend: the last two points ({start}, {end}) do not rise."
    projected: date = row["projected_date"]
    side = "before" if projected <= row["due"] else "after"
    built_on = ""
    if row.get("trend_qualifiers"):
        built_on = (
            f" It is built on figures that are not exact ({row['trend_qualifiers']}), "
            "so the date is no firmer than they are."
        )
    return (
        f"Linear trend through the last two points ({start} → {end}) reaches the target "
        f"around {projected:%b %Y}, {side} the due date.{built_on}"
    )


def when(day: date) -> str:
    """A date as the cover prints it: 23 November 2026."""
    return f"{day.day} {day:%B %Y}"


def neutralise_csv(frame: pl.DataFrame) -> pl.DataFrame:
    """Prefix text cells starting with = + - @ (or tab, CR) with ' so a spreadsheet shows
    them as text instead of running them as formulas. Numbers stay numbers."""
    texts = [name for name, dtype in frame.schema.items() if dtype == pl.String]
    pattern = "^[" + re.escape("".join(CSV_TRIGGERS)) + "]"
    return frame.with_columns(
        pl.when(pl.col(name).str.contains(pattern))
        .then(pl.lit("'") + pl.col(name))
        .otherwise(pl.col(name))
        .alias(name)
        for name in texts
    )
