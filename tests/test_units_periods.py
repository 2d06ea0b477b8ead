"""Units and periods as files write them."""

from __future__ import annotations

from datetime import date

import pytest

from tracker.periods import parse_period
from tracker.units import Unit, parse_scale_only, parse_unit


@pytest.mark.parametrize(
    ("text", "dimension", "base", "scale"),
    [
        ("USD bn", "money", "USD", 1e9),
        ("usd bn", None, None, None),
        ("EUR billion", "money", "EUR", 1e9),
        ("bn EUR", "money", "EUR", 1e9),
        ("US$ m", "money", "USD", 1e6),
        ("$bn", "money", "USD", 1e9),
        ("USD", "money", "USD", 1.0),
        ("USD tn", "money", "USD", 1e12),
        ("GW", "power", "W", 1e9),
        ("MW", "power", "W", 1e6),
        ("mw", "power", "W", 1e6),
        ("count", "count", "count", 1.0),
        ("thousand projects", "count", "count", 1e3),
        ("furlongs", None, None, None),
        ("", None, None, None),
    ],
)
def test_parse_unit(text: str, dimension: str | None, base: str | None, scale: float) -> None:
    unit = parse_unit(text)
    if dimension is None:
        assert unit is None
    else:
        assert unit == Unit(dimension, base or "", scale)


def test_unit_labels_and_factors() -> None:
    usd_bn, usd_m, mw, gw = (parse_unit(t) for t in ("USD bn", "USD m", "MW", "GW"))
    assert usd_bn and usd_m and mw and gw
    assert usd_bn.label == "USD bn" and gw.label == "GW"
    assert usd_m.factor_to(usd_bn) == pytest.approx(0.001)
    assert mw.factor_to(gw) == pytest.approx(0.001)
    assert parse_scale_only("million") == 1e6
    assert parse_scale_only("USD") is None


@pytest.mark.parametrize(
    ("text", "canonical", "start", "end", "grain"),
    [
        ("2024", "2024", date(2024, 1, 1), date(2024, 12, 31), "year"),
        ("2024-H1", "2024-H1", date(2024, 1, 1), date(2024, 6, 30), "half"),
        ("2024-h2", "2024-H2", date(2024, 7, 1), date(2024, 12, 31), "half"),
        ("2024-Q3", "2024-Q3", date(2024, 7, 1), date(2024, 9, 30), "quarter"),
        ("2024-02", "2024-02", date(2024, 2, 1), date(2024, 2, 29), "month"),
        ("2023-02", "2023-02", date(2023, 2, 1), date(2023, 2, 28), "month"),
        ("2024-07-15", "2024-07-15", date(2024, 7, 15), date(2024, 7, 15), "day"),
        (" 2025 ", "2025", date(2025, 1, 1), date(2025, 12, 31), "year"),
    ],
)
def test_parse_period(text: str, canonical: str, start: date, end: date, grain: str) -> None:
    period = parse_period(text)
    assert period is not None
    assert (period.text, period.start, period.end, period.grain) == (canonical, start, end, grain)


@pytest.mark.parametrize(
    "text", ["2024-13", "2024-Q5", "2024-H3", "24", "2024-02-30", "FY2024", "", "2024/07", "0999"]
)
def test_bad_periods_are_refused(text: str) -> None:
    assert parse_period(text) is None
