"""The shipped exchange rates: every row cites a shipped source and says what it is, and a
figure in yuan converts through the ECB's rates (issue 13: CNY, the currency of most Chinese
lending, must load)."""

from __future__ import annotations

import csv
import re
import shutil
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from tests.conftest import LONG_HEADER, PROJECT, SHIPPED_OBSERVATIONS, db_rows, invoke

REFERENCE = PROJECT / "data" / "reference"


def test_every_shipped_rate_cites_a_shipped_source_and_says_how_it_was_made() -> None:
    with (REFERENCE / "sources.csv").open(encoding="utf-8") as handle:
        sources = {row["id"] for row in csv.DictReader(handle)}
    with (REFERENCE / "fx_rates.csv").open(encoding="utf-8") as handle:
        rates = list(csv.DictReader(handle))
    assert {r["currency"] for r in rates} >= {"CNY", "EUR", "GBP", "JPY"}
    for rate in rates:
        assert rate["source"] in sources, rate
        assert rate["note"].strip(), rate
        assert Decimal(rate["usd_per_unit"]) > 0


def test_a_figure_in_yuan_converts_at_the_ecb_cross_rate_of_its_year(
    tracker_db: Path, tmp_path: Path
) -> None:
    path = tmp_path / "cny.csv"
    path.write_text(
        ",".join(LONG_HEADER) + "\nfinancing,BRI,KAZ,2024,RMB 5 bn,,A loan reported in yuan,\n",
        encoding="utf-8",
    )
    result = invoke("ingest", path, db=tracker_db)
    assert result.exit_code == 0, result.output
    ((value_usd, rate_used),) = db_rows(
        tracker_db, "SELECT value_usd, rate_used FROM comparison_usd WHERE currency = 'CNY'"
    )
    # mean USD per EUR of the 256 ECB days of 2024 / mean CNY per EUR of the same days
    assert rate_used == "CNY 1 = USD 0.13899 (2024 rate, ecb-eurofxref-hist)"
    assert value_usd == Decimal("0.69495")


DAILY_NOTE = re.compile(
    r"[Mm]ean of the (?P<days>\d+) daily ECB euro reference rates of (?P<year>\d{4}), "
    r"USD per EUR (?P<usd>\d+\.\d{5})"
)


def _shipped_rates() -> list[dict[str, str]]:
    with (REFERENCE / "fx_rates.csv").open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_the_euro_has_a_rate_for_every_year_from_1999_to_2025() -> None:
    years = sorted(int(r["year"]) for r in _shipped_rates() if r["currency"] == "EUR")
    assert years == list(range(1999, 2026))


def test_each_daily_euro_rate_is_the_usd_mean_its_years_cross_rates_use() -> None:
    daily = [r for r in _shipped_rates() if r["source"] == "ecb-eurofxref-hist"]
    euro = {int(r["year"]): r for r in daily if r["currency"] == "EUR"}
    assert sorted(euro) == [2020, 2025]
    for year, rate in euro.items():
        found = DAILY_NOTE.search(rate["note"])
        assert found and rate["note"].startswith("Mean of the"), rate
        assert int(found["year"]) == year
        # usd_per_unit is the mean to 6 significant digits, the note's to 5 decimals
        assert Decimal(rate["usd_per_unit"]) == Decimal(found["usd"])
        others = [r for r in daily if r["currency"] != "EUR" and int(r["year"]) == year]
        assert {r["currency"] for r in others} == {"CNY", "GBP", "JPY"}
        for other in others:
            same = DAILY_NOTE.search(other["note"])
            assert same and (same["days"], same["usd"]) == (found["days"], found["usd"]), other
    assert euro[2025]["usd_per_unit"] == "1.12998"
    assert "255 daily" in euro[2025]["note"] and "257 daily" in euro[2020]["note"]


def _eurofxref(folder: Path, days: list[date], usd_na: date | None = None) -> Path:
    """A file shaped as the ECB's eurofxref-hist.csv (newest day first, trailing comma)."""
    lines = ["Date,USD,JPY,GBP,CNY,"]
    for day in sorted(days, reverse=True):
        step = Decimal(day.timetuple().tm_yday % 7) / 1000
        usd = "N/A" if day == usd_na else str(Decimal("1.1") + step)
        lines.append(f"{day},{usd},{Decimal('160') + step * 100},{Decimal('0.85') + step},"
                     f"{Decimal('7.8') + step},")  # fmt: skip
    path = folder / "eurofxref-hist.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _weekdays(first: date, last: date) -> list[date]:
    count = (last - first).days + 1
    every = [first + timedelta(days=n) for n in range(count)]
    return [d for d in every if d.weekday() < 5 and (d.month, d.day) not in {(1, 1), (12, 25)}]


def _make_rates(folder: Path) -> list[tuple[str, ...]]:
    """Run the shipped procedure (data/reference/eurofxref_annual_rates.sql) on `folder`."""
    sql = (REFERENCE / "eurofxref_annual_rates.sql").read_text(encoding="utf-8")
    with duckdb.connect() as conn:
        conn.execute("SET file_search_path = ?", [str(folder)])
        return [tuple(str(v) for v in row) for row in conn.execute(sql).fetchall()]


def test_the_procedure_makes_the_euro_rate_from_the_usd_mean_of_a_whole_year(
    tmp_path: Path,
) -> None:
    days = _weekdays(date(2013, 1, 2), date(2025, 12, 31))
    _eurofxref(tmp_path, days)
    rows = _make_rates(tmp_path)
    assert len(rows) == 2 + 3 * 13
    ((_, _, usd_per_unit, source, note),) = [r for r in rows if r[:2] == ("EUR", "2025")]
    of_2025 = [d for d in days if d.year == 2025]
    mean = sum(Decimal("1.1") + Decimal(d.timetuple().tm_yday % 7) / 1000 for d in of_2025) / len(
        of_2025
    )
    assert source == "ecb-eurofxref-hist"
    assert usd_per_unit == f"{float(mean):.6g}"
    assert note == (
        f"Mean of the {len(of_2025)} daily ECB euro reference rates of 2025, "
        f"USD per EUR {mean:.5f} (eurofxref-hist.csv)"
    )
    ((_, _, _, _, cny_note),) = [r for r in rows if r[:2] == ("CNY", "2025")]
    assert f"of 2025, USD per EUR {mean:.5f} / CNY per EUR" in cny_note


@pytest.mark.parametrize("cut", ["part of 2025", "a day of 2020 without a US dollar rate"])
def test_the_procedure_refuses_a_year_that_is_not_whole(tmp_path: Path, cut: str) -> None:
    if cut == "part of 2025":
        _eurofxref(tmp_path, _weekdays(date(2013, 1, 2), date(2025, 6, 30)))
        year = "2025"
    else:
        _eurofxref(tmp_path, _weekdays(date(2013, 1, 2), date(2025, 12, 31)), date(2020, 3, 3))
        year = "2020"
    with pytest.raises(duckdb.InvalidInputException, match=rf"{year} is not a whole year"):
        _make_rates(tmp_path)


def test_a_database_made_before_the_2020_and_2025_euro_rates_gets_them_at_init(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = tmp_path / "old-project"
    shutil.copytree(PROJECT / "indicators", old / "indicators")
    shutil.copytree(REFERENCE, old / "data" / "reference")
    old_rates = old / "data" / "reference" / "fx_rates.csv"
    lines = old_rates.read_text(encoding="utf-8").splitlines(keepends=True)
    kept = [line for line in lines if not line.startswith(("EUR,2020,", "EUR,2025,"))]
    assert len(kept) == len(lines) - 2
    old_rates.write_text("".join(kept), encoding="utf-8")
    db = tmp_path / "tracker.duckdb"
    monkeypatch.setenv("TRACKER_HOME", str(old))
    assert invoke("init", db=db).exit_code == 0
    assert invoke("ingest", *SHIPPED_OBSERVATIONS, db=db).exit_code == 0
    gg_2025 = (
        "SELECT rate_year, value_usd, rate_used FROM comparison_usd "
        "WHERE initiative = 'GG' AND period = '2025-10-09'"
    )
    # without a 2025 rate, the 2024 one was used, and said so: 306 x 1.0824 = 331.2144
    assert db_rows(db, gg_2025) == [
        (2024, Decimal("331.2144"), "EUR 1 = USD 1.0824 (2024 rate, ecb-exr-annual)")
    ]

    monkeypatch.delenv("TRACKER_HOME")
    result = invoke("init", db=db)
    assert result.exit_code == 0, result.output
    assert "fx_rates: 2 rows" in result.output
    assert db_rows(
        db, "SELECT year, usd_per_unit, source FROM fx_rates WHERE currency = 'EUR' "
        "AND year IN (2020, 2025) ORDER BY year"
    ) == [(2020, 1.1422, "ecb-eurofxref-hist"), (2025, 1.12998, "ecb-eurofxref-hist")]  # fmt: skip
    # 306 x 1.12998 = 345.77388
    assert db_rows(db, gg_2025) == [
        (2025, Decimal("345.77388"), "EUR 1 = USD 1.12998 (2025 rate, ecb-eurofxref-hist)")
    ]
    # shipped rows are not import vintages: nothing was imported, nothing replaced
    assert db_rows(db, "SELECT count(*) FROM fx_rate_vintages") == [(0,)]
    again = invoke("init", db=db)
    assert again.exit_code == 0 and "Restored" not in again.output
