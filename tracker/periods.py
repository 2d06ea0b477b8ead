"""Periods as analysts write them, normalised to one canonical text each.

Stored forms: `2024`, `2024-H1`, `2024-Q3`, `2024-07`, `2024-07-15`, and `FY2024/25` for a
fiscal year that does not start in January. Also accepted (case-insensitive, digits 0-9):
`2024Q3`, `2024 Q3`, `Q3 2024`, `2025H1`, `H1 2025`, `Jan 2025`, `January 2025`,
`15 Jan 2025`; and, for an indicator that declares its fiscal year (`FiscalYear`), `FY2024`,
`FY24`, `FY 2024`, `FY2024/25`, `FY2024-25`, `FY2024/2025`.

Each period has a canonical text, a first and a last day, and a grain (year, half, quarter,
month, day, fiscal_year).
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, timedelta

GRAIN_ORDER = {"day": 0, "month": 1, "quarter": 2, "half": 3, "fiscal_year": 4, "year": 4}
FIRST_YEAR, LAST_YEAR = 1800, 2200
FISCAL_NAMED_BY = ("start", "end")

# English names, fixed: calendar.month_name follows the locale
_MONTH_NAMES = ("january", "february", "march", "april", "may", "june", "july", "august",
                "september", "october", "november", "december")  # fmt: skip
_MONTHS = {name: n for n, name in enumerate(_MONTH_NAMES, 1)}
_MONTHS |= {name[:3]: n for n, name in enumerate(_MONTH_NAMES, 1)} | {"sept": 9}
_MONTH = "|".join(sorted(_MONTHS, key=len, reverse=True))
# re.ASCII: digits 0-9 only, as numbers are read: not '２０２４' or '٢٠٢٤'
_FORMS = [
    re.compile(pattern, re.ASCII | re.IGNORECASE)
    for pattern in (
        r"^(?P<year>\d{4})$",
        r"^(?P<year>\d{4})-(?P<month>\d{2})(?:-(?P<day>\d{2}))?$",
        r"^(?P<year>\d{4})[- ]?(?P<part>[HQ])(?P<number>\d)$",
        r"^(?P<part>[HQ])(?P<number>\d) (?P<year>\d{4})$",
        rf"^(?:(?P<day>\d{{1,2}}) )?(?P<month_name>{_MONTH})\.? (?P<year>\d{{4}})$",
    )
]
_FISCAL = re.compile(
    r"^FY ?(?P<year>\d{4}|\d{2})(?:[/-](?P<second>\d{4}|\d{2}))?$", re.ASCII | re.IGNORECASE
)


@dataclass(frozen=True)
class Period:
    """One period: canonical text, first and last day, grain."""

    text: str
    start: date
    end: date
    grain: str


@dataclass(frozen=True)
class FiscalYear:
    """An indicator's fiscal year: the month it starts in (1-12), and which calendar year a
    one-year label (`FY2025`) names: the year the fiscal year starts in or ends in."""

    start_month: int
    named_by: str  # 'start' or 'end'

    @classmethod
    def of(cls, start_month: int | None, named_by: str | None) -> FiscalYear | None:
        """The fiscal year an indicator declares, or None when it declares none."""
        return None if start_month is None or named_by is None else cls(start_month, named_by)


@dataclass(frozen=True)
class FiscalLabel:
    """A fiscal-year label as written, before an indicator's fiscal year gives it dates:
    `FY2025` is (2025, None); `FY2024/25` is (2024, 2025)."""

    year: int
    second: int | None

    @property
    def text(self) -> str:
        """The label in one spelling: 'FY2025', 'FY2024/25'."""
        if self.second is None:
            return f"FY{self.year}"
        return f"FY{self.year}/{self.second % 100:02d}"


def parse_period(text: str, fiscal: FiscalYear | None = None) -> Period | None:
    """Parse a period; None when it is not one of the accepted forms (see the module).

    A fiscal-year label needs `fiscal`, the indicator's fiscal year; without it, None.

    >>> parse_period("Q3 2024").text, parse_period("15 Jan 2025").text
    ('2024-Q3', '2025-01-15')
    >>> parse_period("FY2025", FiscalYear(4, "end")).text
    'FY2024/25'
    """
    cleaned = text.strip()
    label = parse_fiscal_label(cleaned)
    if label is not None:
        return fiscal_period(label, fiscal) if fiscal is not None else None
    for form in _FORMS:
        match = form.match(cleaned)
        if match:
            try:
                return _period(match.groupdict())
            except ValueError:
                return None
    return None


def parse_fiscal_label(text: str) -> FiscalLabel | None:
    """A fiscal-year label (`FY2025`, `FY25`, `FY2024/25`), or None. Two digits name a year
    of 2000-2099; a second year must follow the first."""
    match = _FISCAL.match(text.strip())
    if not match:
        return None
    year = _full_year(match["year"])
    if match["second"] is None:
        return FiscalLabel(year, None) if FIRST_YEAR <= year < LAST_YEAR else None
    second = match["second"]
    following = year + 1
    if (len(second) == 2 and int(second) != following % 100) or (
        len(second) == 4 and int(second) != following
    ):
        return None
    return FiscalLabel(year, following) if FIRST_YEAR <= year < LAST_YEAR else None


def fiscal_period(label: FiscalLabel, fiscal: FiscalYear) -> Period | None:
    """The dates of a fiscal-year label under an indicator's fiscal year; None when the two
    disagree (`FY2024/25` for a fiscal year starting in January).

    A fiscal year starting in January is the calendar year (`2024`); any other is stored as
    `FY<start year>/<end year, two digits>`, e.g. `FY2024/25`, from its first to its last day.
    """
    if fiscal.start_month == 1:
        if label.second is not None:
            return None
        return _span(str(label.year), label.year, 1, 12, "year")
    if label.second is not None:
        start_year = label.year
    else:
        start_year = label.year if fiscal.named_by == "start" else label.year - 1
    start = date(start_year, fiscal.start_month, 1)
    end = date(start_year + 1, fiscal.start_month, 1) - timedelta(days=1)
    text = FiscalLabel(start_year, start_year + 1).text
    return Period(text, start, end, "fiscal_year")


def _full_year(digits: str) -> int:
    return 2000 + int(digits) if len(digits) == 2 else int(digits)


def _period(parts: dict[str, str | None]) -> Period | None:
    year = int(parts["year"] or 0)
    if not FIRST_YEAR <= year <= LAST_YEAR:
        return None
    part, number = (parts.get("part") or "").upper(), int(parts.get("number") or 0)
    if part == "H":
        if not 1 <= number <= 2:
            return None
        first_month = 1 if number == 1 else 7
        return _span(f"{year}-H{number}", year, first_month, first_month + 5, "half")
    if part == "Q":
        if not 1 <= number <= 4:
            return None
        first_month = 3 * number - 2
        return _span(f"{year}-Q{number}", year, first_month, first_month + 2, "quarter")
    if parts.get("month_name"):
        month = _MONTHS[str(parts["month_name"]).lower()]
    elif parts.get("month"):
        month = int(str(parts["month"]))
    else:
        return _span(str(year), year, 1, 12, "year")
    if parts.get("day"):
        day = date(year, month, int(str(parts["day"])))  # ValueError: no such day
        return Period(day.isoformat(), day, day, "day")
    return _span(f"{year}-{month:02d}", year, month, month, "month")


def _span(text: str, year: int, first_month: int, last_month: int, grain: str) -> Period:
    if not 1 <= first_month <= last_month <= 12:
        raise ValueError(text)
    last_day = calendar.monthrange(year, last_month)[1]
    return Period(text, date(year, first_month, 1), date(year, last_month, last_day), grain)
