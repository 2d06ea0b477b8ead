"""The store through the CLI: init, indicators, sql, the views, and the stock duckdb CLI."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest
import typer

from tests.conftest import LONG_HEADER, PROJECT, db_rows, invoke
from tracker.cli.app import app


def _all_commands() -> list[tuple[str, Any]]:
    root = typer.main.get_command(app)
    found: list[tuple[str, Any]] = []

    def walk(prefix: str, command: Any) -> None:
        found.append((prefix, command))
        if hasattr(command, "commands"):
            for name, sub in command.commands.items():
                walk(f"{prefix} {name}".strip(), sub)

    walk("", root)
    return found


def test_every_command_has_help_text() -> None:
    for name, command in _all_commands():
        assert (command.help or "").strip(), f"`tracker {name}` has no help text"
        result = invoke(*name.split(), "--help")
        assert result.exit_code == 0, name
        assert "Usage" in result.output


def test_init_creates_schema_once_and_is_idempotent(tmp_path: Path) -> None:
    db = tmp_path / "new.duckdb"
    first = invoke("init", db=db)
    assert first.exit_code == 0, first.output
    assert "001_initial" in first.output
    second = invoke("init", db=db)
    assert second.exit_code == 0
    assert "schema up to date" in second.output
    names = {r[0] for r in db_rows(db, "SELECT table_name FROM duckdb_tables()")}
    assert {"indicators", "initiatives", "geographies", "sources", "observations",
            "batches", "targets", "fx_rates"} <= names  # fmt: skip
    views = {r[0] for r in db_rows(db, "SELECT view_name FROM duckdb_views() WHERE NOT internal")}
    assert {"observations_current", "latest_values", "target_progress", "comparison_usd"} <= views
    assert not list(tmp_path.glob(".*tmp*")), "the temporary build file was left behind"


def test_init_migrates_a_database_made_before_count_nouns(tmp_path: Path) -> None:
    db = tmp_path / "old.duckdb"
    assert invoke("init", db=db).exit_code == 0
    # The database as migration 001 left it, its definitions already synced.
    with duckdb.connect(str(db)) as conn:
        conn.execute("ALTER TABLE indicators DROP COLUMN count_noun")
        conn.execute("DELETE FROM schema_migrations WHERE version = 2")
    digest = db_rows(db, "SELECT value FROM meta WHERE key = 'definitions_sha256'")
    before = invoke("indicators", db=db)
    assert before.exit_code == 1
    assert "lacks migration(s) 002_indicator_count_noun. Run `tracker init`" in before.output
    assert "Traceback" not in before.output
    again = invoke("init", db=db)
    assert again.exit_code == 0, again.output
    assert "002_indicator_count_noun" in again.output
    assert db_rows(db, "SELECT value FROM meta WHERE key = 'definitions_sha256'") == digest
    nouns = db_rows(db, "SELECT id, count_noun FROM indicators WHERE unit = 'count' ORDER BY id")
    assert nouns == [
        ("new_deals", "deals"), ("new_deals_energy", "deals"), ("new_deals_transport", "deals"),
        ("partner_countries", "countries"), ("power_projects", "projects"),
    ]  # fmt: skip
    listing = invoke("indicators", db=db)
    assert listing.exit_code == 0 and "no data yet" in listing.output


def test_shipped_indicators_are_all_synced(empty_db: Path) -> None:
    files = sorted(p.stem for p in (PROJECT / "indicators").glob("*.toml"))
    synced = [r[0] for r in db_rows(empty_db, "SELECT id FROM indicators ORDER BY id")]
    assert synced == files
    required = {"new_deals", "new_deal_value", "financing", "trade_central_asia",
                "power_capacity", "power_projects"}  # fmt: skip
    assert required <= set(synced)


def test_central_asia_region_has_its_five_members(empty_db: Path) -> None:
    members = db_rows(
        empty_db, "SELECT member FROM geography_members WHERE region = 'central-asia' ORDER BY 1"
    )
    assert [m[0] for m in members] == ["KAZ", "KGZ", "TJK", "TKM", "UZB"]


def test_init_refuses_a_foreign_duckdb_file_and_leaves_it_alone(tmp_path: Path) -> None:
    db = tmp_path / "foreign.duckdb"
    with duckdb.connect(str(db)) as conn:
        conn.execute("CREATE TABLE sales (x INTEGER); INSERT INTO sales VALUES (1)")
    before = db.read_bytes()
    result = invoke("init", db=db)
    assert result.exit_code == 1
    assert str(db) in result.output and "not a tracker database" in result.output
    assert "Traceback" not in result.output
    assert db.read_bytes() == before


def test_a_corrupt_file_is_named_and_not_overwritten(tmp_path: Path) -> None:
    db = tmp_path / "corrupt.duckdb"
    db.write_bytes(b"this is not a database\x00" * 200)
    before = db.read_bytes()
    for command in (["indicators"], ["sql", "select 1"], ["init"]):
        result = invoke(*command, db=db)
        assert result.exit_code == 1, (command, result.output)
        assert str(db) in result.output
        assert "Traceback" not in result.output
    assert db.read_bytes() == before


def test_a_missing_database_says_to_run_init(tmp_path: Path) -> None:
    result = invoke("indicators", db=tmp_path / "nothing.duckdb")
    assert result.exit_code == 1
    assert "tracker init" in result.output


def test_indicators_lists_each_with_its_latest_value(tracker_db: Path) -> None:
    result = invoke("indicators", db=tracker_db)
    assert result.exit_code == 0, result.output
    lines = {line.split()[1]: line for line in result.output.splitlines() if "│" in line
             and len(line.split()) > 2}  # fmt: skip
    trade = next(line for key, line in lines.items() if key == "trade_central_asia")
    assert "94.8" in trade and "2024" in trade and "USD bn" in trade
    assert "no data yet" in lines["partner_countries"]


def test_indicators_show_gives_series_targets_and_sources(tracker_db: Path) -> None:
    result = invoke("indicators", "show", "trade_central_asia", db=tracker_db)
    assert result.exit_code == 0, result.output
    assert "central-asia" in result.output
    assert "94.8" in result.output
    assert "94.8" in result.output.split("Targets")[1]
    assert "seed-003-cgtn-central-asia" in result.output


def test_indicators_show_unknown_id_suggests_the_close_match(tracker_db: Path) -> None:
    result = invoke("indicators", "show", "new_deal", db=tracker_db)
    assert result.exit_code == 2
    assert "Unknown indicator 'new_deal'" in result.output
    assert "Did you mean 'new_deals'?" in result.output


def test_target_progress_computes_each_share(tracker_db: Path) -> None:
    rows = db_rows(
        tracker_db,
        "SELECT label, target_value, latest_value, share_achieved, latest_period "
        "FROM target_progress ORDER BY label",
    )
    by_label = {r[0]: r for r in rows}
    trade = next(r for label, r in by_label.items() if label.startswith("China"))
    assert trade[3] == pytest.approx(94.8 / 100)
    assert trade[4] == "2024"
    gateway_300 = next(r for r in rows if r[1] == 300)
    assert gateway_300[2] == pytest.approx(306)
    assert gateway_300[3] == pytest.approx(306 / 300)
    # the US's more than USD 60 bn counts toward the US's USD 200 bn, not the G7's 600
    us_share = next(r for r in rows if r[1] == 200)
    assert us_share[3] == pytest.approx(60 / 200)
    g7 = next(r for r in rows if r[1] == 600)
    assert (g7[2], g7[3]) == (None, None)


def test_comparison_usd_converts_eur_with_the_stated_rate(tracker_db: Path) -> None:
    rows = db_rows(
        tracker_db,
        "SELECT period, value, currency, usd_per_unit, rate_year, value_usd, rate_used "
        "FROM comparison_usd WHERE indicator = 'financing' AND initiative = 'GG' ORDER BY period",
    )
    assert [r[0] for r in rows] == ["2023", "2025-10-09"]
    y2023, y2025 = rows
    assert y2023[2] == "EUR" and y2023[4] == 2023
    # converted, then rounded to 6 decimals (migration 010): 193.5527 exactly
    assert y2023[5] == Decimal("193.5527")
    assert "1.0813" in y2023[6]
    # the 2025 rate: the mean of the 255 daily ECB rates of 2025; 306 x 1.12998 = 345.77388
    assert y2025[4] == 2025 and y2025[5] == Decimal("345.77388")
    assert y2025[6] == "EUR 1 = USD 1.12998 (2025 rate, ecb-eurofxref-hist)"


def test_a_figure_of_a_year_without_a_rate_converts_at_the_latest_earlier_year_and_says_so(
    tracker_db: Path, tmp_path: Path
) -> None:
    path = tmp_path / "eur2026.csv"
    path.write_text(
        ",".join(LONG_HEADER) + "\nfinancing,GG,KAZ,2026,EUR 10 bn,,A 2026 figure,\n",
        encoding="utf-8",
    )
    assert invoke("ingest", path, db=tracker_db).exit_code == 0
    rows = db_rows(
        tracker_db,
        "SELECT rate_year, value_usd, rate_used FROM comparison_usd WHERE period = '2026'",
    )
    # no 2026 rate ships: 10 x 1.12998 (2025) = 11.2998
    assert rows == [
        (2025, Decimal("11.2998"), "EUR 1 = USD 1.12998 (2025 rate, ecb-eurofxref-hist)")
    ]


def test_sql_formats(tracker_db: Path) -> None:
    query = "SELECT id, unit FROM indicators WHERE id IN ('new_deals', 'financing') ORDER BY id"
    as_csv = invoke("sql", "--format", "csv", query, db=tracker_db)
    assert as_csv.exit_code == 0, as_csv.output
    assert as_csv.output.splitlines() == ["id,unit", "financing,USD bn", "new_deals,count"]
    as_json = invoke("sql", "--format", "json", query, db=tracker_db)
    assert json.loads(as_json.output) == [
        {"id": "financing", "unit": "USD bn"},
        {"id": "new_deals", "unit": "count"},
    ]
    as_table = invoke("sql", query, db=tracker_db)
    assert "financing" in as_table.output and "USD bn" in as_table.output


def test_sql_reads_statements_from_a_file(tracker_db: Path, tmp_path: Path) -> None:
    script = tmp_path / "q.sql"
    script.write_text("-- two statements; the last one's rows are printed\n"
                      "SELECT 1;\nSELECT count(*) AS n FROM initiatives;\n")  # fmt: skip
    result = invoke("sql", "--format", "csv", "-f", script, db=tracker_db)
    assert result.exit_code == 0, result.output
    expected = db_rows(tracker_db, "SELECT count(*) FROM initiatives")[0][0]
    assert result.output.splitlines() == ["n", str(expected)]


@pytest.mark.parametrize(
    "statement",
    [
        "DROP TABLE observations",
        "DELETE FROM observations",
        "INSERT INTO fx_rates VALUES ('CHF', 2024, 1.27, 'x', NULL)",
        "UPDATE indicators SET name = 'x'",
        "CREATE TABLE t (x INT)",
        "ATTACH '/tmp/tracker-other.duckdb' AS other",
        "COPY fx_rates FROM '/etc/passwd'",
        "COPY fx_rates TO '/tmp/tracker-leak.csv'",
        "INSTALL httpfs",
        "SET threads = 1",
        "SELECT * FROM read_csv('/etc/passwd')",
    ],
)
def test_sql_without_write_cannot_change_or_reach_out(tracker_db: Path, statement: str) -> None:
    before = db_rows(tracker_db, "SELECT count(*), sum(value) FROM observations")
    result = invoke("sql", statement, db=tracker_db)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert db_rows(tracker_db, "SELECT count(*), sum(value) FROM observations") == before
    assert not Path("/tmp/tracker-leak.csv").exists()


def test_sql_with_write_changes_in_one_transaction(tracker_db: Path) -> None:
    ok = invoke(
        "sql", "--write",
        "INSERT INTO fx_rates VALUES ('CHF', 2024, 1.27, 'ecb-exr-annual', 'test')",
        db=tracker_db,
    )  # fmt: skip
    assert ok.exit_code == 0, ok.output
    assert db_rows(tracker_db, "SELECT usd_per_unit FROM fx_rates WHERE currency = 'CHF'") == [
        (1.27,)
    ]
    failing = invoke(
        "sql", "--write",
        "DELETE FROM fx_rates WHERE currency = 'CHF'; SELECT * FROM no_such_table",
        db=tracker_db,
    )  # fmt: skip
    assert failing.exit_code == 2
    assert "no_such_table" in failing.output
    assert db_rows(tracker_db, "SELECT count(*) FROM fx_rates WHERE currency = 'CHF'") == [(1,)]


def test_bad_sql_is_refused_with_exit_2(tracker_db: Path) -> None:
    result = invoke("sql", "SELEC 1", db=tracker_db)
    assert result.exit_code == 2
    assert "SELEC" in result.output
    assert "Traceback" not in result.output


def test_the_stock_duckdb_cli_opens_the_file_and_its_views_work(tracker_db: Path) -> None:
    binary = shutil.which("duckdb", path=str(Path(sys.executable).parent))
    assert binary, "the duckdb CLI (package duckdb-cli) is a dev dependency"
    expected = db_rows(tracker_db, "SELECT count(*) FROM latest_values")[0][0]
    completed = subprocess.run(
        [binary, "-readonly", "-csv", "-noheader", str(tracker_db), "-c",
         "SELECT count(*) FROM latest_values; "
         "SELECT round(share_achieved, 3) FROM target_progress "
         "WHERE indicator = 'trade_central_asia'; "
         "SELECT count(*) FROM observations_as_of(now()::TIMESTAMP);"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    lines = completed.stdout.split()
    assert lines[0] == str(expected)
    assert lines[1] == "0.948"
    assert int(lines[2]) == db_rows(tracker_db, "SELECT count(*) FROM observations_current")[0][0]


def test_removing_a_definition_that_has_observations_is_refused(
    tracker_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    for folder in ("indicators", "data"):
        shutil.copytree(PROJECT / folder, home / folder)
    (home / "indicators" / "power_projects.toml").unlink()
    monkeypatch.setenv("TRACKER_HOME", str(home))
    before = db_rows(tracker_db, "SELECT count(*) FROM observations")
    for command in (["init"], ["ingest", *sorted((home / "data/observations").glob("*.csv"))]):
        result = invoke(*command, db=tracker_db)
        assert result.exit_code == 2, result.output
        assert "'power_projects'" in result.output and "Restore the file" in result.output
    assert db_rows(tracker_db, "SELECT count(*) FROM indicators WHERE id = 'power_projects'") == [
        (1,)
    ]
    assert db_rows(tracker_db, "SELECT count(*) FROM observations") == before


def test_a_changed_definition_is_synced_before_ingest(
    tracker_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    for folder in ("indicators", "data"):
        shutil.copytree(PROJECT / folder, home / folder)
    (home / "indicators" / "rail_km.toml").write_text(
        'id = "rail_km"\nname = "Railway built"\ndescription = "Kilometres of railway."\n'
        'unit = "count"\nmeasure = "flow"\nfrequency = "annual"\ncategory = "transport"\n'
    )
    rows = tmp_path / "rail.csv"
    rows.write_text(
        "indicator,initiative,geography,period,value,source\n"
        "rail_km,BRI,KAZ,2024,12,synthetic test figure\n"
    )
    monkeypatch.setenv("TRACKER_HOME", str(home))
    result = invoke("ingest", rows, db=tracker_db)
    assert result.exit_code == 0, result.output
    assert db_rows(tracker_db, "SELECT value FROM observations WHERE indicator = 'rail_km'") == [
        (12.0,)
    ]


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


HEADER = "indicator,initiative,geography,period,value,unit,source,note\n"


def test_observations_as_of_shows_the_data_as_it_stood(tracker_db: Path, tmp_path: Path) -> None:
    first = _write(tmp_path / "a.csv", HEADER + "new_deals,BRI,KAZ,2024,10,count,test-src x,\n")
    second = _write(tmp_path / "b.csv", HEADER + "new_deals,BRI,KAZ,2024,12,count,test-src x,\n")
    assert invoke("ingest", first, db=tracker_db).exit_code == 0
    between = db_rows(tracker_db, "SELECT max(recorded_at) FROM batches")[0][0]
    revised = invoke("ingest", second, db=tracker_db)
    assert revised.exit_code == 0, revised.output
    assert "1 revised" in revised.output
    point = "indicator = 'new_deals' AND geography = 'KAZ'"
    assert db_rows(tracker_db, f"SELECT value FROM observations_current WHERE {point}") == [(12.0,)]
    assert db_rows(
        tracker_db, f"SELECT value FROM observations_as_of(?::TIMESTAMP) WHERE {point}", [between]
    ) == [(10.0,)]
    assert db_rows(tracker_db, f"SELECT count(*) FROM observations WHERE {point}") == [(2,)]
    batches = db_rows(tracker_db, "SELECT rows_new, rows_revised FROM batches ORDER BY id DESC")
    assert batches[0] == (0, 1) and batches[1] == (1, 0)


COUNTS = (
    "SELECT (SELECT count(*) FROM observations), (SELECT count(*) FROM batches), "
    "(SELECT count(*) FROM sources)"
)


def test_dry_run_counts_but_writes_nothing(tracker_db: Path, tmp_path: Path) -> None:
    rows = _write(
        tmp_path / "a.csv",
        HEADER + "new_deals,BRI,KAZ,2024,10,count,test-src x,\n"
        # a new value is a revision (an empty note alone is not: it keeps the stored note)
        "new_deals,BRI,WLD,2024,341,count,seed-000-bri-2-0,\n",
    )
    before = db_rows(tracker_db, COUNTS)
    result = invoke("ingest", "--dry-run", rows, db=tracker_db)
    assert result.exit_code == 0, result.output
    assert "would load 2 rows" in result.output
    assert "1 new" in result.output and "1 revised" in result.output
    after = db_rows(tracker_db, COUNTS)
    assert after == before


def test_loading_the_shipped_data_again_records_nothing(tracker_db: Path) -> None:
    from tests.conftest import SHIPPED_OBSERVATIONS

    batches = db_rows(tracker_db, "SELECT count(*) FROM batches")
    result = invoke("ingest", *SHIPPED_OBSERVATIONS, db=tracker_db)
    assert result.exit_code == 0
    assert "nothing new" in result.output
    assert db_rows(tracker_db, "SELECT count(*) FROM batches") == batches


def test_init_restores_definitions_and_reference_rows_that_sql_write_changed(
    tracker_db: Path,
) -> None:
    def content() -> list[Any]:
        return [
            db_rows(tracker_db, "SELECT * EXCLUDE (synced_at) FROM indicators ORDER BY id"),
            db_rows(tracker_db, "SELECT * FROM targets ORDER BY ALL"),
            db_rows(tracker_db, "SELECT * FROM geographies ORDER BY id"),
            db_rows(tracker_db, "SELECT * FROM initiatives ORDER BY id"),
        ]

    shipped = content()
    damage = (
        "DELETE FROM targets; DELETE FROM indicators WHERE id = 'power_capacity'; "
        "DELETE FROM geographies WHERE id = 'KAZ'; "
        "UPDATE initiatives SET name = 'tampered' WHERE id = 'BRI'"
    )
    assert invoke("sql", "--write", damage, db=tracker_db).exit_code == 0
    assert content() != shipped

    result = invoke("init", db=tracker_db)
    assert result.exit_code == 0, result.output
    assert "Restored from indicators/ and data/reference/" in result.output
    for part in ("indicators: 1 row", "geographies: 1 row", "initiatives: 1 row", "targets:"):
        assert part in result.output
    assert content() == shipped

    again = invoke("init", db=tracker_db)
    assert again.exit_code == 0 and "Restored" not in again.output


def test_sql_output_keeps_numbers_exact_and_null_apart_from_empty_text(tracker_db: Path) -> None:
    query = (
        "SELECT 123456789012345678.25::DECIMAL(20,2) AS d, "
        "170141183460469231731687303715884105727::HUGEINT AS h, 0.1::DOUBLE AS x, "
        "0.1::FLOAT AS f, 'nan'::DOUBLE AS n, true AS b, NULL AS z, '' AS e, 'a,\"b\"' AS q, "
        "DATE '2024-01-02' AS day, TIMESTAMP '2024-01-02 03:04:05.123' AS at"
    )
    as_csv = invoke("sql", "--format", "csv", query, db=tracker_db)
    assert as_csv.exit_code == 0, as_csv.output
    assert as_csv.output.splitlines() == [
        "d,h,x,f,n,b,z,e,q,day,at",
        '123456789012345678.25,170141183460469231731687303715884105727,0.1,0.1,NaN,true,,"",'
        '"a,""b""",2024-01-02,2024-01-02T03:04:05.123000',
    ]
    as_json = invoke("sql", "--format", "json", query, db=tracker_db)
    assert as_json.exit_code == 0, as_json.output
    assert json.loads(as_json.output) == [
        {"d": "123456789012345678.25", "h": "170141183460469231731687303715884105727",
         "x": 0.1, "f": 0.1, "n": None, "b": True, "z": None, "e": "", "q": 'a,"b"',
         "day": "2024-01-02", "at": "2024-01-02 03:04:05.123"}
    ]  # fmt: skip


def test_sql_output_of_many_batches_holds_every_row_once(tracker_db: Path) -> None:
    query = "SELECT range AS n FROM range(25001)"  # more than two batches of 10,000
    as_csv = invoke("sql", "--format", "csv", query, db=tracker_db)
    assert as_csv.exit_code == 0
    assert as_csv.output.splitlines() == ["n", *map(str, range(25001))]
    as_json = invoke("sql", "--format", "json", query, db=tracker_db)
    assert json.loads(as_json.output) == [{"n": n} for n in range(25001)]
    empty = invoke("sql", "--format", "json", "SELECT 1 AS n WHERE false", db=tracker_db)
    assert empty.output == "[]\n"


def test_views_that_show_a_value_show_its_qualifier_and_whether_it_is_context(
    tracker_db: Path,
) -> None:
    for view in ("latest_values", "comparison_usd", "observations_current"):
        columns = {row[0] for row in db_rows(tracker_db, f"DESCRIBE {view}")}
        assert "qualifier" in columns, view
    for view in ("latest_values", "comparison_usd"):
        columns = {row[0] for row in db_rows(tracker_db, f"DESCRIBE {view}")}
        assert "context" in columns, view
