"""Units and periods as files write them."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tracker.periods import FiscalYear, Period, parse_period
from tracker.units import (
    OWN_COUNT_NOUNS,
    Unit,
    _pint_unit,
    counted_unit,
    fits,
    own_unit_names,
    parse_scale_only,
    parse_unit,
)


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
        ("thousand projects", "projects", "projects", 1e3),
        ("km", "length", "m", 1e3),
        ("kilometres", "length", "m", 1e3),
        ("m", "length", "m", 1.0),
        ("t", "mass", "t", 1.0),
        ("Mt", "mass", "t", 1e6),
        ("GWh", "energy", "Wh", 1e9),
        ("%", "share", "%", 1.0),
        ("per cent", "share", "%", 1.0),
        ("pp", "percentage points", "pp", 1.0),
        ("percentage points", "percentage points", "pp", 1.0),
        ("TEU", "TEU", "TEU", 1.0),
        ("million TEU", "TEU", "TEU", 1e6),
        ("FEU", "TEU", "TEU", 2.0),
        ("deals", "deals", "deals", 1.0),
        ("persons", "people", "people", 1.0),
        ("people", "people", "people", 1.0),
        ("megawatt", "power", "W", 1e6),
        ("kt", None, None, None),  # pint reads a knot; a speed is no dimension of tracker's
        ("rad", None, None, None),  # dimensionless, but not a share
        ("degC", None, None, None),
        ("million t", None, None, None),
        ("km\u200b", None, None, None),
        ("furlongs", "length", "m", 201.1684),  # any length pint knows
        ("widgets", None, None, None),
        ("", None, None, None),
    ],
)
def test_parse_unit(text: str, dimension: str | None, base: str | None, scale: float) -> None:
    unit = parse_unit(text)
    if dimension is None:
        assert unit is None
    else:
        assert unit == Unit(dimension, base or "", pytest.approx(scale))


def test_unit_labels_and_factors() -> None:
    usd_bn, usd_m, mw, gw = (parse_unit(t) for t in ("USD bn", "USD m", "MW", "GW"))
    assert usd_bn and usd_m and mw and gw
    assert usd_bn.label == "USD bn" and gw.label == "GW"
    assert usd_m.factor_to(usd_bn) == pytest.approx(0.001)
    assert mw.factor_to(gw) == pytest.approx(0.001)
    assert parse_scale_only("million") == 1e6
    assert parse_scale_only("USD") is None
    m, km, t, mt, mw, gw = (parse_unit(u) for u in ("m", "km", "t", "Mt", "MW", "GW"))
    assert m and km and t and mt and mw and gw
    assert m.factor_to(km) == pytest.approx(0.001) and mt.factor_to(t) == pytest.approx(1e6)
    assert fits(m, km) and fits(mt, t) and fits(mw, gw)
    assert km.label == "km" and mt.label == "Mt" and parse_unit("tonnes") == t


@pytest.mark.parametrize(
    ("given_unit", "wanted_unit"),
    [("%", "pp"), ("pp", "%"), ("deals", "projects"), ("km", "t"), ("TEU", "people"),
     ("MW", "GWh"), ("USD bn", "km"), ("deals", "count")],
)  # fmt: skip
def test_units_of_different_dimensions_never_fit(given_unit: str, wanted_unit: str) -> None:
    given_parsed, wanted_parsed = parse_unit(given_unit), parse_unit(wanted_unit)
    assert given_parsed and wanted_parsed
    assert not fits(given_parsed, wanted_parsed)


def test_a_plain_count_fits_a_count_of_a_noun_and_a_count_keeps_its_noun() -> None:
    count, deals, projects = (parse_unit(u) for u in ("count", "deals", "projects"))
    assert count and deals and projects
    counted = counted_unit(count, "deals")
    assert fits(count, counted) and fits(deals, counted) and not fits(projects, counted)
    assert counted.label == "count"
    assert counted_unit(count, "countries") == count  # a noun pint does not know: a count


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


@pytest.mark.parametrize(
    ("text", "canonical"),
    [("2024Q3", "2024-Q3"), ("Q3 2024", "2024-Q3"), ("2024 Q3", "2024-Q3"), ("q3 2024", "2024-Q3"),
     ("H1 2025", "2025-H1"), ("2025H1", "2025-H1"), ("Jan 2025", "2025-01"),
     ("January 2025", "2025-01"), ("15 Jan 2025", "2025-01-15"), ("Sept 2024", "2024-09"),
     ("1 march 2024", "2024-03-01")],
)  # fmt: skip
def test_periods_as_analysts_write_them(text: str, canonical: str) -> None:
    period = parse_period(text)
    assert period is not None and period.text == canonical


@pytest.mark.parametrize(
    "text",
    ["2024-13", "Q5 2024", "31 Feb 2024", "H3", "H3 2024", "2024H0", "Q0 2024", "32 Jan 2024",
     "0 Jan 2024", "Jan 24", "Janu 2024", "2024 Jan", "Q3 24", "2024-Q3-01", "Q3  2024x",
     "29 Feb 2023", "FY2024", "FY24"],
)  # fmt: skip
def test_near_miss_periods_are_refused(text: str) -> None:
    assert parse_period(text) is None


MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December"]  # fmt: skip


def _forms(period: Period) -> list[str]:
    """Every accepted way of writing `period` (case varied by the caller)."""
    year = period.start.year
    if period.grain == "year":
        return [str(year)]
    if period.grain in ("half", "quarter"):
        part = period.text[-2:]
        return [period.text, f"{year}{part}", f"{year} {part}", f"{part} {year}"]
    name = MONTHS[period.start.month - 1]
    if period.grain == "month":
        return [period.text, f"{name} {year}", f"{name[:3]} {year}", f"{name[:3]}. {year}"]
    day = period.start.day
    return [period.text, f"{day} {name} {year}", f"{day:02d} {name[:3]} {year}"]


@st.composite
def periods(draw: st.DrawFn) -> Period:
    """A random canonical period of any grain, built from its parts."""
    year = draw(st.integers(1800, 2200))
    grain = draw(st.sampled_from(["year", "half", "quarter", "month", "day"]))
    if grain == "day":
        day = date(year, 1, 1) + timedelta(days=draw(st.integers(0, 364)))
        text = day.isoformat()
    elif grain == "month":
        text = f"{year}-{draw(st.integers(1, 12)):02d}"
    elif grain == "quarter":
        text = f"{year}-Q{draw(st.integers(1, 4))}"
    elif grain == "half":
        text = f"{year}-H{draw(st.integers(1, 2))}"
    else:
        text = str(year)
    period = parse_period(text)
    assert period is not None and period.text == text
    return period


@given(periods(), st.data())
def test_every_accepted_form_of_a_period_reads_as_the_same_period(
    period: Period, data: st.DataObject
) -> None:
    form = data.draw(st.sampled_from(_forms(period)))
    written = data.draw(st.sampled_from([form, form.upper(), form.lower(), f" {form} "]))
    assert parse_period(written) == period


@given(periods(), st.integers(0, 11), st.sampled_from(["start", "end"]))
def test_near_misses_of_a_period_are_refused_never_read_as_another(
    period: Period, shift: int, named_by: str
) -> None:
    year = period.start.year
    misses = [f"{year}-{13 + shift}", f"Q{5 + shift} {year}", f"H{3 + shift} {year}",
              f"{year}H{3 + shift}", f"{30 + (shift % 2)} Feb {year}", f"{year}-00",
              f"{year % 100:02d}-Q1", f"{period.text}x", f"Q1 {year % 100:02d}",
              f"{year}-{shift + 1:02d}-{32 + shift}",
              f"FY{year}/{(year + 2 + shift) % 100:02d}"]  # fmt: skip
    for miss in misses:
        assert parse_period(miss) is None, miss
        assert parse_period(miss, FiscalYear(shift + 1, named_by)) is None, miss


@given(st.integers(1801, 2198), st.integers(1, 12), st.sampled_from(["start", "end"]))
def test_a_fiscal_year_reads_the_same_in_every_form_and_spans_twelve_months(
    year: int, start_month: int, named_by: str
) -> None:
    fiscal = FiscalYear(start_month, named_by)
    starts_in = year if named_by == "start" or start_month == 1 else year - 1
    one_year = [f"FY{year}", f"fy {year}"] + (
        [f"FY{year % 100:02d}"] if 2000 <= year <= 2099 else []
    )
    two_years = [f"FY{starts_in}/{(starts_in + 1) % 100:02d}", f"FY{starts_in}-{starts_in + 1}"]
    read = {parse_period(form, fiscal) for form in one_year}
    if start_month != 1:
        read |= {parse_period(form, fiscal) for form in two_years}
    else:
        assert all(parse_period(form, fiscal) is None for form in two_years)
    assert len(read) == 1
    period = read.pop()
    assert period is not None
    assert period.start == date(starts_in, start_month, 1)
    following = date(starts_in + 1, start_month, 1)
    assert period.end == following - timedelta(days=1)
    assert parse_period(period.text, fiscal) == period  # the stored text reads back
    if start_month == 1:
        assert (period.text, period.grain) == (str(year), "year")
    else:
        assert period.text == f"FY{starts_in}/{(starts_in + 1) % 100:02d}"
        assert period.grain == "fiscal_year"


def test_the_count_nouns_read_without_pint_are_what_pint_reads() -> None:
    for word, unit in OWN_COUNT_NOUNS.items():
        assert _pint_unit(word) == unit, word
    defined = {name.lower() for name in own_unit_names()} - {"percentage_point", "pp",
                                                             "percentage_points"}  # fmt: skip
    assert defined <= set(OWN_COUNT_NOUNS), "a count noun of unit_definitions.txt is missing"
