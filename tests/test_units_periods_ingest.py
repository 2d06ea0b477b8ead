"""Units and periods as analysts write them, through real `tracker init` and `tracker ingest`
on a project whose indicators use km, Mt, %, pp, TEU, deals and a fiscal year."""

from __future__ import annotations

import shutil
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from tests.conftest import PROJECT, db_execute, db_rows, invoke

HEADER = "indicator,initiative,geography,period,value,unit,source,note"
SOURCE = "gfdc-bri-2023"
DEFINITION = """id = "{id}"
name = "{id}"
description = "A test indicator."
unit = "{unit}"
measure = "flow"
frequency = "annual"
category = "transport"
default_initiative = "BRI"
{extra}
"""
INDICATORS = {
    "railway_km": ("km", ""),
    "cargo_mt": ("Mt", ""),
    "port_teu": ("million TEU", ""),
    "green_share": ("%", ""),
    "share_change": ("pp", ""),
    "rail_deals": ("count", 'count_noun = "deals"'),
    "budget_in": ("USD bn", 'fiscal_year = {start_month = 4, named_by = "end"}'),
    "budget_au": ("USD bn", 'fiscal_year = {start_month = 7, named_by = "start"}'),
    "budget_cn": ("USD bn", 'fiscal_year = {start_month = 1, named_by = "end"}'),
}


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project: the shipped indicators and reference data, and the test indicators."""
    home = tmp_path / "home"
    shutil.copytree(PROJECT / "indicators", home / "indicators")
    shutil.copytree(PROJECT / "data" / "reference", home / "data" / "reference")
    shutil.copytree(PROJECT / "templates", home / "templates")
    (home / "reports").mkdir()
    for name, (unit, extra) in INDICATORS.items():
        text = DEFINITION.format(id=name, unit=unit, extra=extra)
        (home / "indicators" / f"{name}.toml").write_text(text, encoding="utf-8")
    monkeypatch.setenv("TRACKER_HOME", str(home))
    return home


@pytest.fixture
def db(home: Path, tmp_path: Path) -> Path:
    path = tmp_path / "tracker.duckdb"
    result = invoke("init", db=path)
    assert result.exit_code == 0, result.output
    return path


def _ingest(db: Path, folder: Path, *rows: str) -> tuple[int, str]:
    path = folder / "rows.csv"
    path.write_text("\n".join([HEADER, *rows]) + "\n", encoding="utf-8")
    result = invoke("ingest", path, db=db)
    return result.exit_code, result.output


def _observations(db: Path) -> list[tuple[object, ...]]:
    return db_rows(
        db,
        "SELECT indicator, period, period_start, period_end, value, unit_as_given "
        "FROM observations ORDER BY indicator, period_start",
    )


def test_indicators_of_any_known_dimension_are_stored_with_their_base_and_multiplier(
    db: Path,
) -> None:
    rows = db_rows(
        db,
        "SELECT id, unit, dimension, base_unit, multiplier, fiscal_year_start_month, "
        "fiscal_year_named_by FROM indicators WHERE list_contains(?, id) ORDER BY id",
        [list(INDICATORS)],
    )
    assert rows == [
        ("budget_au", "USD bn", "money", "USD", 1e9, 7, "start"),
        ("budget_cn", "USD bn", "money", "USD", 1e9, 1, "end"),
        ("budget_in", "USD bn", "money", "USD", 1e9, 4, "end"),
        ("cargo_mt", "Mt", "mass", "t", 1e6, None, None),
        ("green_share", "%", "share", "%", 1.0, None, None),
        ("port_teu", "million TEU", "TEU", "TEU", 1e6, None, None),
        ("rail_deals", "count", "count", "count", 1.0, None, None),
        ("railway_km", "km", "length", "m", 1e3, None, None),
        ("share_change", "pp", "percentage points", "pp", 1.0, None, None),
    ]


def test_values_convert_within_a_dimension_and_periods_are_read_as_written(
    db: Path, tmp_path: Path
) -> None:
    code, output = _ingest(
        db, tmp_path,
        f"railway_km,BRI,KAZ,2024Q3,1200,km,{SOURCE},",
        f"railway_km,BRI,KAZ,Q4 2024,350000,m,{SOURCE},",
        f"railway_km,BRI,KAZ,H1 2025,1.5,Mm,{SOURCE},",
        f"cargo_mt,BRI,KAZ,Jan 2025,2500,kilotonne,{SOURCE},",
        f"cargo_mt,BRI,KAZ,15 Jan 2025,3,Mt,{SOURCE},",
        f"port_teu,BRI,WLD,January 2025,500000,TEU,{SOURCE},",
        f"port_teu,BRI,WLD,2024,2,million TEU,{SOURCE},",
        f"green_share,BRI,WLD,2024,30,%,{SOURCE},",
        f"share_change,BRI,WLD,2024,3,percentage points,{SOURCE},",
        f"rail_deals,BRI,WLD,2024,12,deals,{SOURCE},",
        f"rail_deals,BRI,WLD,2025H1,4,count,{SOURCE},",
    )  # fmt: skip
    assert code == 0, output
    assert _observations(db) == [
        ("cargo_mt", "2025-01", date(2025, 1, 1), date(2025, 1, 31), 2.5, "kilotonne"),
        ("cargo_mt", "2025-01-15", date(2025, 1, 15), date(2025, 1, 15), 3.0, "Mt"),
        ("green_share", "2024", date(2024, 1, 1), date(2024, 12, 31), 30.0, "%"),
        ("port_teu", "2024", date(2024, 1, 1), date(2024, 12, 31), 2.0, "million TEU"),
        ("port_teu", "2025-01", date(2025, 1, 1), date(2025, 1, 31), 0.5, "TEU"),
        ("rail_deals", "2024", date(2024, 1, 1), date(2024, 12, 31), 12.0, "deals"),
        ("rail_deals", "2025-H1", date(2025, 1, 1), date(2025, 6, 30), 4.0, "count"),
        ("railway_km", "2024-Q3", date(2024, 7, 1), date(2024, 9, 30), 1200.0, "km"),
        ("railway_km", "2024-Q4", date(2024, 10, 1), date(2024, 12, 31), 350.0, "m"),
        ("railway_km", "2025-H1", date(2025, 1, 1), date(2025, 6, 30), 1500.0, "Mm"),
        ("share_change", "2024", date(2024, 1, 1), date(2024, 12, 31), 3.0, "percentage points"),
    ]


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("railway_km,BRI,KAZ,2024,5,t",
         "column 'unit': found 't', a unit of mass, which cannot be converted to the "
         "indicator's unit 'km' (a unit of length); expected a unit of length"),
        ("green_share,BRI,WLD,2024,3,pp",
         "found 'pp', a unit of percentage points, which cannot be converted to the "
         "indicator's unit '%' (a unit of share)"),
        ("share_change,BRI,WLD,2024,30,%",
         "found '%', a unit of share, which cannot be converted to the indicator's unit 'pp'"),
        ("rail_deals,BRI,WLD,2024,3,projects",
         "found 'projects', a unit of projects, which cannot be converted to the indicator's "
         "unit 'count' (a unit of deals)"),
        ("railway_km,BRI,KAZ,2024,5,m ",  # trimmed: a metre, not a million
         None),
        ("railway_km,BRI,KAZ,2024,5,thousand",
         "found 'thousand', a bare scale word, which says no unit for the indicator's unit "
         "'km' (a unit of length); expected the unit itself, such as 'km'"),
        ("railway_km,BRI,KAZ,2024,5,furlongs per fortnight", "expected a unit such as"),
        ("railway_km,BRI,KAZ,2024-13,5,km", "column 'period': found '2024-13', expected a "
         "period like 2024"),
        ("railway_km,BRI,KAZ,Q5 2024,5,km", "found 'Q5 2024', expected a period like"),
        ("railway_km,BRI,KAZ,31 Feb 2024,5,km", "found '31 Feb 2024', expected a period like"),
        ("railway_km,BRI,KAZ,FY2024,5,km",
         "column 'period': found 'FY2024', a fiscal year, but indicator 'railway_km' declares "
         "none; add fiscal_year = {start_month = 4, named_by = \"end\"}"),
        ("budget_cn,BRI,WLD,FY2024/25,5,USD bn",
         "found 'FY2024/25', a fiscal year over two calendar years, but indicator 'budget_cn' "
         "has its fiscal year start in January"),
    ],
)  # fmt: skip
def test_a_unit_or_period_that_does_not_fit_is_refused_and_nothing_is_loaded(
    db: Path, tmp_path: Path, row: str, message: str | None
) -> None:
    good = f"railway_km,BRI,KAZ,2023,10,km,{SOURCE},"
    code, output = _ingest(db, tmp_path, good, f"{row},{SOURCE},")
    if message is None:
        assert code == 0, output
        assert db_rows(db, "SELECT value FROM observations WHERE period = '2024'") == [
            (Decimal("0.005"),)
        ]
        return
    assert code == 2, output
    assert "rows.csv:3:" in output and message in " ".join(output.split()), output
    assert "Traceback" not in output
    assert db_rows(db, "SELECT count(*) FROM observations") == [(0,)]


def test_fiscal_years_take_their_indicators_dates_and_order_by_them(
    db: Path, tmp_path: Path
) -> None:
    code, output = _ingest(
        db, tmp_path,
        f"budget_in,BRI,WLD,FY2025,10,USD bn,{SOURCE},",  # India: Apr 2024 - Mar 2025
        f"budget_in,BRI,WLD,FY24,9,USD bn,{SOURCE},",
        f"budget_in,BRI,WLD,FY2025/26,11,USD bn,{SOURCE},",
        f"budget_au,BRI,WLD,FY2025,20,USD bn,{SOURCE},",  # named by its start: Jul 2025
        f"budget_au,BRI,WLD,FY 2024-25,19,USD bn,{SOURCE},",
        f"budget_cn,BRI,WLD,FY2024,30,USD bn,{SOURCE},",  # January: the calendar year
    )  # fmt: skip
    assert code == 0, output
    assert [row[:5] for row in _observations(db)] == [
        ("budget_au", "FY2024/25", date(2024, 7, 1), date(2025, 6, 30), 19.0),
        ("budget_au", "FY2025/26", date(2025, 7, 1), date(2026, 6, 30), 20.0),
        ("budget_cn", "2024", date(2024, 1, 1), date(2024, 12, 31), 30.0),
        ("budget_in", "FY2023/24", date(2023, 4, 1), date(2024, 3, 31), 9.0),
        ("budget_in", "FY2024/25", date(2024, 4, 1), date(2025, 3, 31), 10.0),
        ("budget_in", "FY2025/26", date(2025, 4, 1), date(2026, 3, 31), 11.0),
    ]
    latest = db_rows(
        db, "SELECT indicator, period FROM latest_values WHERE indicator LIKE 'budget%' "
        "ORDER BY indicator",
    )  # fmt: skip
    assert latest == [("budget_au", "FY2025/26"), ("budget_cn", "2024"), ("budget_in", "FY2025/26")]
    # The same fiscal year written another way is the same point: nothing changes.
    code, output = _ingest(db, tmp_path, f"budget_in,BRI,WLD,FY2024/2025,10,USD bn,{SOURCE},")
    assert code == 0, output
    assert db_rows(db, "SELECT count(*) FROM observations") == [(6,)]


def test_a_wide_file_takes_fiscal_years_and_periods_as_written_in_its_header(
    db: Path, tmp_path: Path
) -> None:
    path = tmp_path / "wide.csv"
    path.write_text(
        f"indicator,initiative,geography,source,FY2024,FY2025\n"
        f"budget_in,BRI,WLD,{SOURCE},1,2\n"
        f"budget_au,BRI,WLD,{SOURCE},3,4\n",
        encoding="utf-8",
    )
    result = invoke("ingest", path, db=db)
    assert result.exit_code == 0, result.output
    assert [row[:4] for row in _observations(db)] == [
        ("budget_au", "FY2024/25", date(2024, 7, 1), date(2025, 6, 30)),
        ("budget_au", "FY2025/26", date(2025, 7, 1), date(2026, 6, 30)),
        ("budget_in", "FY2023/24", date(2023, 4, 1), date(2024, 3, 31)),
        ("budget_in", "FY2024/25", date(2024, 4, 1), date(2025, 3, 31)),
    ]


def test_figures_in_new_units_read_with_their_unit_in_tracker_indicators(
    db: Path, tmp_path: Path
) -> None:
    code, output = _ingest(
        db, tmp_path,
        f"railway_km,BRI,KAZ,2024,1308,km,{SOURCE},",
        f"green_share,BRI,WLD,2024,30,%,{SOURCE},",
        f"share_change,BRI,WLD,2024,3,pp,{SOURCE},",
        f"rail_deals,BRI,WLD,2024,1308,deals,{SOURCE},",
        f"port_teu,BRI,WLD,2024,1.2,million TEU,{SOURCE},",
    )  # fmt: skip
    assert code == 0, output
    listing = " ".join(invoke("indicators", db=db).output.split())
    for figure in ("1,308 km", "30 %", "3 pp", "1,308 deals", "1.2 million TEU"):
        assert figure in listing, listing


@pytest.mark.parametrize(
    ("unit", "extra", "message"),
    [
        ("furlongs per fortnight", "", "key 'unit': found 'furlongs per fortnight'"),
        ("km", "fiscal_year = {start_month = 13, named_by = \"end\"}",
         "key 'fiscal_year.start_month'"),
        ("km", "fiscal_year = {start_month = 4}", "key 'fiscal_year'"),
    ],
)  # fmt: skip
def test_a_definition_with_an_unknown_unit_or_a_bad_fiscal_year_is_refused(
    home: Path, tmp_path: Path, unit: str, extra: str, message: str
) -> None:
    text = DEFINITION.format(id="bad_one", unit=unit, extra=extra)
    (home / "indicators" / "bad_one.toml").write_text(text, encoding="utf-8")
    result = invoke("init", db=tmp_path / "x.duckdb")
    assert result.exit_code == 2, result.output
    assert message in result.output and "bad_one.toml" in result.output


def test_init_migrates_a_database_made_before_units_and_fiscal_years(db: Path, home: Path) -> None:
    db_execute(db, "ALTER TABLE indicators DROP COLUMN fiscal_year_start_month")
    db_execute(db, "ALTER TABLE indicators DROP COLUMN fiscal_year_named_by")
    db_execute(db, "DELETE FROM schema_migrations WHERE version = 6")
    result = invoke("init", db=db)
    assert result.exit_code == 0, result.output
    assert db_rows(db, "SELECT fiscal_year_start_month FROM indicators WHERE id = 'budget_in'") == [
        (4,)
    ]
