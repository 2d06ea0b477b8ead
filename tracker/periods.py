"""Periods as files write them: 2024, 2024-H1, 2024-Q3, 2024-07, 2024-07-15.

Each period has a canonical text, a first and a last day, and a grain (year, half, quarter,
month, day).
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date

PERIOD_PATTERN = re.compile(
    r"^(?P<year>\d{4})(?:-(?:(?P<half>[Hh][12])|(?P<quarter>[Qq][1-4])|(?P<month>\d{2})"
    r"(?:-(?P<day>\d{2}))?))?$",
    re.ASCII,  # digits 0-9 only, as numbers are read: not '２０２４' or '٢٠٢٤'
)
GRAIN_ORDER = {"day": 0, "month": 1, "quarter": 2, "half": 3, "year": 4}


@dataclass(frozen=True)
class Period:
    """One period: canonical text, first and last day, grain."""

    text: str
    start: date
    end: date
    grain: str


def parse_period(text: str) -> Period | None:
    """Parse a period; None when it is not one of the accepted forms.

    >>> parse_period("2024-q3").text
    '2024-Q3'
    """
    match = PERIOD_PATTERN.match(text.strip())
    if not match:
        return None
    year = int(match["year"])
    if year < 1800 or year > 2200:
        return None
    try:
        if match["half"]:
            half = int(match["half"][1])
            first_month = 1 if half == 1 else 7
            return _span(f"{year}-H{half}", year, first_month, first_month + 5, "half")
        if match["quarter"]:
            quarter = int(match["quarter"][1])
            first_month = 3 * quarter - 2
            return _span(f"{year}-Q{quarter}", year, first_month, first_month + 2, "quarter")
        if match["month"]:
            month = int(match["month"])
            if match["day"]:
                day = date(year, month, int(match["day"]))
                return Period(day.isoformat(), day, day, "day")
            return _span(f"{year}-{month:02d}", year, month, month, "month")
    except ValueError:
        return None
    return _span(str(year), year, 1, 12, "year")


def _span(text: str, year: int, first_month: int, last_month: int, grain: str) -> Period:
    if not 1 <= first_month <= last_month <= 12:
        raise ValueError(text)
    last_day = calendar.monthrange(year, last_month)[1]
    return Period(text, date(year, first_month, 1), date(year, last_month, last_day), grain)
