"""Exact figures (issue 12, item 10), through the real commands: a value is stored exactly as
entered and scaled to its indicator's multiplier (DECIMAL(38, 12), migration 010), so it reads
back, and sums and differences of values print, without binary noise; a value that needs more
digits is refused, never rounded."""

from __future__ import annotations

import csv
import io
import json
import re
from decimal import Context, Decimal
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import db_execute, db_rows, invoke

SOURCE = "gfdc-bri-2023"
LONG = "indicator,initiative,geography,period,value,unit,source\n"


def sql_csv(db: Path, query: str) -> list[list[str]]:
    result = invoke("sql", "--format", "csv", query, db=db)
    assert result.exit_code == 0, result.output
    return list(csv.reader(io.StringIO(result.output)))


def test_250_comma_5_eur_bn_under_a_decimal_comma_reads_back_as_250_5(
    tracker_db: Path, tmp_path: Path
) -> None:
    path = tmp_path / "excel.csv"
    path.write_text(
        "indicator;initiative;geography;period;value;unit;source\n"
        f"financing;GG;WLD;2030;250,5;EUR bn;{SOURCE}\n"
        f"financing;GG;WLD;2031;250500,1;EUR m;{SOURCE}\n",
        encoding="utf-8",
    )
    result = invoke("ingest", path, "--decimal", ",", db=tracker_db)
    assert result.exit_code == 0, result.output
    query = (
        "SELECT period, value FROM observations WHERE indicator = 'financing' "
        "AND period IN ('2030', '2031') ORDER BY period"
    )
    # as doubles these were 250.50000000000003 and 250.50010000000003
    assert sql_csv(tracker_db, query) == [["period", "value"], ["2030", "250.5"],
                                          ["2031", "250.5001"]]  # fmt: skip
    table = invoke("sql", query, db=tracker_db)
    assert "250.5 " in table.output and "250.5001" in table.output
    assert "250.500000" not in table.output


def test_a_sum_of_121_8_and_49_282_prints_171_082(tracker_db: Path, tmp_path: Path) -> None:
    path = tmp_path / "sum.csv"
    path.write_text(
        LONG + f"new_deal_value,BRI,KAZ,2030,121.8,USD bn,{SOURCE}\n"
        f"new_deal_value,BRI,KAZ,2031,49282,USD m,{SOURCE}\n",
        encoding="utf-8",
    )
    assert invoke("ingest", path, db=tracker_db).exit_code == 0
    where = "FROM observations_current WHERE indicator = 'new_deal_value' AND geography = 'KAZ'"
    assert sql_csv(tracker_db, f"SELECT sum(value) AS s {where}") == [["s"], ["171.082"]]
    assert sql_csv(tracker_db, f"SELECT max(value) - min(value) AS d {where}") == [
        ["d"],
        ["72.518"],
    ]
    as_json = invoke("sql", "--format", "json", f"SELECT sum(value) AS s {where}", db=tracker_db)
    assert json.loads(as_json.output) == [{"s": "171.082"}]


def test_trailing_zeros_past_the_twelfth_decimal_are_no_extra_digits(
    tracker_db: Path, tmp_path: Path
) -> None:
    path = tmp_path / "zeros.csv"
    path.write_text(
        LONG + f"new_deal_value,BRI,KAZ,2030,1.5000000000000,USD bn,{SOURCE}\n"
        f"new_deal_value,BRI,KAZ,2031,2500.0000000000000,USD m,{SOURCE}\n",
        encoding="utf-8",
    )
    result = invoke("ingest", path, db=tracker_db)
    assert result.exit_code == 0, result.output
    where = "FROM observations_current WHERE indicator = 'new_deal_value' AND geography = 'KAZ'"
    assert sql_csv(tracker_db, f"SELECT value {where} ORDER BY period") == [
        ["value"], ["1.5"], ["2.5"]
    ]  # fmt: skip


def test_values_that_cannot_be_held_exactly_are_refused_naming_line_and_column(
    tracker_db: Path, tmp_path: Path
) -> None:
    path = tmp_path / "fine.csv"
    path.write_text(
        LONG + f"financing,GG,WLD,2030,0.0000000000001,EUR bn,{SOURCE}\n"
        f"financing,GG,WLD,2031,1.0000001,EUR,{SOURCE}\n"
        f"financing,GG,WLD,2032,1e25,EUR bn,{SOURCE}\n"
        f"financing,GG,WLD,2033,0.000000000001,EUR bn,{SOURCE}\n",
        encoding="utf-8",
    )
    before = db_rows(
        tracker_db, "SELECT count(*), (SELECT count(*) FROM batches) FROM observations"
    )
    result = invoke("ingest", path, db=tracker_db)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    text = " ".join(result.output.split())
    decimals = (
        "more decimals than can be stored exactly once converted to the indicator's unit "
        "'USD bn': at most 12 after the point. Figures are stored as entered, never rounded"
    )
    assert f"{path}:2: column 'value': found '0.0000000000001', {decimals}" in text
    assert f"{path}:3: column 'value': found '1.0000001', {decimals}" in text
    assert (
        f"{path}:4: column 'value': found '1e25', too large once converted to the indicator's "
        "unit 'USD bn': values are stored exactly, with at most 25 digits before the point"
    ) in text
    assert f"{path}:5:" not in text  # 12 decimals fit
    assert (
        db_rows(tracker_db, "SELECT count(*), (SELECT count(*) FROM batches) FROM observations")
        == before
    )


def test_a_briefing_csv_prints_entered_values_without_noise(
    tracker_db: Path, tmp_path: Path
) -> None:
    path = tmp_path / "excel.csv"
    path.write_text(
        "indicator;initiative;geography;period;value;unit;source\n"
        f"financing;GG;WLD;2026;250,5;EUR bn;{SOURCE}\n",
        encoding="utf-8",
    )
    assert invoke("ingest", path, "--decimal", ",", db=tracker_db).exit_code == 0
    out = tmp_path / "out"
    result = invoke("brief", "programmes-compared", "--format", "html", "--out", out, db=tracker_db)
    assert result.exit_code == 0, result.output
    (written,) = out.glob("programmes-compared/*/programmes-compared.csv")
    text = written.read_text(encoding="utf-8")
    rows = [r for r in csv.DictReader(io.StringIO(text)) if r["period"] == "2026"]
    assert rows and {r["value"] for r in rows} == {"250.5"}
    # no binary noise anywhere: runs of 0s or 9s after the point (250.50000000000003)
    assert not re.search(r"\d\.\d*(0{8,}|9{8,})\d", text), text


def test_a_database_with_double_values_migrates_exactly_with_init(tracker_db: Path) -> None:
    """A database from before migration 010 (values as DOUBLE, with the old scaling's noise)
    migrates with `tracker init`: noise is rounded away at 12 decimals; a value that would
    lose more stops the migration, naming the point, and nothing changes."""
    where = "WHERE indicator = 'financing' AND initiative = 'GG' AND period = '2023'"
    for table in ("observations", "latest_points"):
        db_execute(tracker_db, f"ALTER TABLE {table} ALTER value SET DATA TYPE DOUBLE")
    db_execute(tracker_db, "DELETE FROM schema_migrations WHERE version = 10")
    db_execute(tracker_db, f"UPDATE observations SET value = 250.50000000000003::DOUBLE {where}")
    assert db_rows(tracker_db, f"SELECT value FROM observations {where}") == [(250.50000000000003,)]
    db_execute(tracker_db, "UPDATE observations SET value = 1e-13 WHERE period = '2021'")
    refused = invoke("init", db=tracker_db)
    assert refused.exit_code != 0
    assert "migration 010 cannot store" in refused.output
    assert "Traceback" not in refused.output
    db_execute(tracker_db, "UPDATE observations SET value = 1340 WHERE period = '2021'")
    result = invoke("init", db=tracker_db)
    assert result.exit_code == 0, result.output
    assert db_rows(tracker_db, f"SELECT value FROM observations {where}") == [(Decimal("250.5"),)]
    assert db_rows(tracker_db, "SELECT typeof(value) FROM latest_values LIMIT 1") == [
        ("DECIMAL(38,12)",)
    ]


# Any decimal the store holds: at most 12 decimals, fewer than 26 digits before the point.
stored_decimals = st.builds(
    lambda digits, places: Decimal(digits).scaleb(-places),
    st.integers(-(10**25) + 1, 10**25 - 1),
    st.integers(0, 12),
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(values=st.lists(stored_decimals, min_size=1, max_size=4))
def test_any_decimal_within_the_bounds_round_trips_exactly_through_ingest_and_sql(
    empty_db: Path, tmp_path: Path, values: list[Decimal]
) -> None:
    values = [v for v in values if abs(v) < Decimal(10) ** 24]  # below the refusal bound
    if not values:
        return
    path = tmp_path / "values.csv"
    path.write_text(
        LONG
        + "".join(
            f"new_deal_value,BRI,WLD,{2030 + i},{v:f},USD bn,{SOURCE}\n"
            for i, v in enumerate(values)
        ),
        encoding="utf-8",
    )
    result = invoke("ingest", path, db=empty_db)
    assert result.exit_code == 0, result.output
    printed = sql_csv(
        empty_db,
        "SELECT period, value FROM observations_current WHERE indicator = 'new_deal_value' "
        f"AND period >= '2030' AND period < '{2030 + len(values)}' ORDER BY period",
    )[1:]
    assert [Decimal(text) for _, text in printed] == values
    sums = sql_csv(
        empty_db,
        "SELECT sum(value) FROM observations_current WHERE indicator = 'new_deal_value' "
        f"AND period >= '2030' AND period < '{2030 + len(values)}'",
    )
    exact = Context(prec=100)
    total = Decimal(0)
    for value in values:
        total = exact.add(total, value)
    assert Decimal(sums[1][0]) == total
