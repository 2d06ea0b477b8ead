"""`tracker store migrate --to TARGET` (issue 15, item 4): a file store copied into a team
store (a DuckLake catalog in a real PostgreSQL server) and back into a file, through the real
CLI, keeps every row of every table, and both copies go on working; a target with data, an
existing file and a source table the target lacks are refused; the per-table check notices
a changed row.

Rows are compared with plain duckdb (and the extension wheels for the catalog), not with
tracker's checksum.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import duckdb
import pytest

from tests.conftest import SHIPPED_OBSERVATIONS, Inbox, db_execute, invoke, runs_file
from tests.test_team_store import AIDDATA, AIDDATA_MAP, REPORT, USD_MONTHLY, lake
from tracker.store import copying


def ok(*args: str | Path) -> str:
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    return result.output


def refused(*args: str | Path) -> str:
    """The output of a command that must exit 2 with one paragraph and no traceback."""
    result = invoke(*args)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and result.output.strip().count("\n") == 0
    return " ".join(result.output.split())


@pytest.fixture
def home(home_with_alert: Path, monkeypatch: pytest.MonkeyPatch, smtp_server: Inbox) -> Path:
    """The project folder with an alert, mail going to the loopback SMTP server."""
    for key, value in smtp_server.environment().items():
        monkeypatch.setenv(key, value)
    return home_with_alert


@pytest.fixture
def catalog(postgres_database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A team store URL on a fresh PostgreSQL database, TRACKER_DATA_PATH a temp folder."""
    data = tmp_path / "lake"
    data.mkdir()
    monkeypatch.setenv("TRACKER_DATA_PATH", f"{data}/")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return f"ducklake:postgres:{postgres_database}"


def _revised_csv(folder: Path, value: str) -> Path:
    path = folder / f"revised-{value}.csv"
    path.write_text(
        "indicator,initiative,geography,period,value,unit,source\n"
        f"new_deal_value,BRI,WLD,2022,{value},USD bn,gfdc-bri-2023\n",
        encoding="utf-8",
    )
    return path


@pytest.fixture
def full_store(home: Path, tmp_path: Path) -> Path:
    """A file store with revisions, a withdrawn point, AidData projects, imported exchange
    rates, a draft and a published briefing run, a delivery and an alert sent."""
    db = tmp_path / "source.duckdb"
    ok("--db", db, "init")
    ok("--db", db, "ingest", *SHIPPED_OBSERVATIONS)
    ok("--db", db, "ingest", _revised_csv(tmp_path, "75.1"))
    ok("--db", db, "withdraw", "new_deal_value", "--initiative", "BRI", "--geography", "WLD",
       "--period", "2022", "--source", "gfdc-bri-2023", "--reason", "double counted")  # fmt: skip
    ok("--db", db, "import", "aiddata", AIDDATA, "--map", AIDDATA_MAP)
    if USD_MONTHLY.exists():
        ok("--db", db, "import", "sdmx", USD_MONTHLY)
    out = tmp_path / "out"
    ok("--db", db, "brief", REPORT, "--format", "pdf", "--out", out)
    ok("--db", db, "brief", REPORT, "--publish", "--format", "pdf", "--out", out)
    ok("--db", db, "deliver", REPORT)
    ok("--db", db, "alerts", "check")
    return db


def _tables(conn: duckdb.DuckDBPyConnection, database: str, schema: str) -> list[str]:
    return [row[0] for row in conn.execute(
        "SELECT table_name FROM duckdb_tables() WHERE database_name = ? AND schema_name = ? "
        "ORDER BY ALL", [database, schema]).fetchall()]  # fmt: skip


def _same_rows(conn: duckdb.DuckDBPyConnection, parts: list[tuple[str, str]]) -> int:
    """Assert every table of each pair of `database.schema` holds the same rows, exactly;
    the number of rows compared."""
    compared = 0
    for left, right in parts:
        tables = _tables(conn, *left.split("."))
        assert tables == _tables(conn, *right.split(".")) and tables
        for table in tables:
            rows = conn.execute(f"SELECT * FROM {left}.{table} ORDER BY ALL").fetchall()
            assert rows == conn.execute(f"SELECT * FROM {right}.{table} ORDER BY ALL").fetchall(), (
                table
            )
            compared += len(rows)
    return compared


def _batch_ids(output: str) -> list[int]:
    return [int(n) for n in re.findall(r"as batch (\d+)", output)]


def test_a_file_store_goes_into_a_catalog_and_back_with_every_row_and_keeps_working(
    full_store: Path, catalog: str, tmp_path: Path, smtp_server: Inbox
) -> None:
    source = full_store
    with duckdb.connect(str(source), read_only=True) as conn:
        assert conn.execute("SELECT count(*) FROM observations WHERE superseded_at IS NOT NULL "
                            "AND withdrawn IS NOT TRUE").fetchall()[0][0] >= 1  # fmt: skip
        assert conn.execute("SELECT count(*) FROM observations WHERE withdrawn").fetchall()[0][0]
        assert conn.execute("SELECT count(*) FROM projects").fetchall()[0][0] == 4
        batches = conn.execute("SELECT max(id) FROM batches").fetchall()[0][0]
    with duckdb.connect(str(runs_file(source)), read_only=True) as conn:
        runs = conn.execute("SELECT max(id), count(*) FILTER (WHERE published) "
                            "FROM report_runs").fetchall()[0]  # fmt: skip
        assert runs == (2, 1)
        assert conn.execute("SELECT count(*) FROM deliveries").fetchall()[0][0] >= 1
        assert conn.execute("SELECT count(*) FROM alerts_sent").fetchall()[0][0] == 1

    ok("--db", catalog, "init")  # an empty team store is a valid target
    printed = ok("--db", source, "store", "migrate", "--to", catalog)
    assert "observations" in printed and "runs.report_runs" in printed and "DIFFERS" not in printed
    assert f"{source} -> {catalog}: 21 tables" in " ".join(printed.split())
    back = tmp_path / "back.duckdb"
    ok("--db", catalog, "store", "migrate", "--to", back)

    with lake(catalog) as conn:  # the catalog holds what the file held, row for row
        conn.execute(f"ATTACH '{source}' AS src (READ_ONLY)")
        conn.execute(f"ATTACH '{runs_file(source)}' AS src_runs (READ_ONLY)")
        assert _same_rows(conn, [("src.main", "lake.main"), ("src_runs.main", "lake.runs")]) > 1000
    with duckdb.connect() as conn:  # ... and so does the file it was copied back into
        for name, path in (("src", source), ("src_runs", runs_file(source)), ("back", back),
                           ("back_runs", runs_file(back))):  # fmt: skip
            conn.execute(f"ATTACH '{path}' AS {name} (READ_ONLY)")
        assert _same_rows(conn, [("src.main", "back.main"), ("src_runs.main", "back_runs.main")])

    # both copies go on working: new batches, runs and issues get ids after the copied ones
    for number, db in enumerate((catalog, back)):
        said = ok("--db", db, "ingest", _revised_csv(tmp_path, "76.2"))
        assert _batch_ids(said) == [batches + 1]
        published = ok("--db", db, "brief", REPORT, "--publish", "--format", "pdf",
                       "--out", tmp_path / f"out-{number}")  # fmt: skip
        assert "issue 2" in published
    with lake(catalog) as conn:
        assert conn.execute("SELECT max(id) FROM runs.report_runs").fetchall()[0][0] == 3
    with duckdb.connect(str(runs_file(back)), read_only=True) as conn:
        assert conn.execute("SELECT max(id) FROM report_runs").fetchall()[0][0] == 3

    # a catalog holding data is never a target: refused, and left as it was
    message = refused("--db", source, "store", "migrate", "--to", catalog)
    assert "already holds data" in message and "main.batches" in message
    with lake(catalog) as conn:
        assert conn.execute("SELECT max(id) FROM main.batches").fetchall()[0][0] == batches + 1


def test_an_existing_file_target_is_refused_and_left_untouched(tmp_path: Path) -> None:
    source, target = tmp_path / "a.duckdb", tmp_path / "b.duckdb"
    ok("--db", source, "init")
    ok("--db", source, "ingest", *SHIPPED_OBSERVATIONS)
    target.write_bytes(b"not mine")
    message = refused("--db", source, "store", "migrate", "--to", target)
    assert f"--to: {target} exists" in message and "Nothing was changed" in message
    assert target.read_bytes() == b"not mine" and not runs_file(target).exists()
    # the run history's name counts too: a stray b.runs.duckdb is never written over
    target.unlink()
    runs_file(target).write_bytes(b"stray")
    assert "b.runs.duckdb exists" in refused("--db", source, "store", "migrate", "--to", target)
    assert not target.exists() and runs_file(target).read_bytes() == b"stray"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.duckdb", "a.runs.duckdb",
                                                          "b.runs.duckdb"]  # fmt: skip


def test_a_source_table_the_target_lacks_is_refused_and_nothing_is_left(tmp_path: Path) -> None:
    source, target = tmp_path / "a.duckdb", tmp_path / "b.duckdb"
    ok("--db", source, "init")
    db_execute(source, "CREATE TABLE notes_by_hand (note VARCHAR)")
    message = refused("--db", source, "store", "migrate", "--to", target)
    assert "notes_by_hand" in message and "the target lacks" in message
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.duckdb", "a.runs.duckdb"]


def test_a_file_copy_keeps_every_row_and_hands_out_new_ids(tmp_path: Path) -> None:
    source, target = tmp_path / "a.duckdb", tmp_path / "b.duckdb"
    ok("--db", source, "init")
    ok("--db", source, "ingest", *SHIPPED_OBSERVATIONS)
    ok("--db", source, "ingest", _revised_csv(tmp_path, "75.1"))
    printed = ok("--db", source, "store", "migrate", "--to", target)
    assert printed.count("match") >= 21 and "DIFFERS" not in printed
    with duckdb.connect() as conn:
        conn.execute(f"ATTACH '{source}' AS a (READ_ONLY)")
        conn.execute(f"ATTACH '{target}' AS b (READ_ONLY)")
        assert _same_rows(conn, [("a.main", "b.main")])
    assert _batch_ids(ok("--db", target, "ingest", _revised_csv(tmp_path, "76.2"))) == [3]


def _check(left: Path, right: Path, table: str) -> copying.TableCheck:
    with duckdb.connect() as conn:
        conn.execute(f"ATTACH '{left}' AS l (READ_ONLY)")
        conn.execute(f"ATTACH '{right}' AS r (READ_ONLY)")
        columns = [row[0] for row in conn.execute(
            "SELECT column_name FROM duckdb_columns() WHERE database_name = 'l' AND "
            "table_name = ? ORDER BY column_index", [table]).fetchall()]  # fmt: skip
        return copying.table_check(conn, "main", table, columns, copying.Part("l", "main"),
                                   copying.Part("r", "main"))  # fmt: skip


def test_the_check_notices_one_changed_digit_a_moved_null_and_a_swapped_duplicate(
    tmp_path: Path,
) -> None:
    left = tmp_path / "left.duckdb"
    ok("--db", left, "init")
    ok("--db", left, "ingest", *SHIPPED_OBSERVATIONS)
    right = tmp_path / "right.duckdb"
    shutil.copyfile(left, right)
    assert _check(left, right, "observations").matches
    db_execute(right, "UPDATE observations SET value = value + 0.000000000001 "
                      "WHERE indicator = 'new_deal_value' AND geography = 'WLD' AND period = "
                      "'2022'")  # fmt: skip
    changed = _check(left, right, "observations")
    assert not changed.matches and changed.source_rows == changed.target_rows == 37

    for db, rows in ((left, "(NULL, 'a'), ('b', 'b')"), (right, "('a', NULL), ('c', 'c')")):
        db_execute(db, f"CREATE TABLE pairs AS SELECT * FROM (VALUES {rows}) t(x, y)")
    assert not _check(left, right, "pairs").matches
    db_execute(left, "DELETE FROM pairs WHERE x IS NULL OR x = 'b'")  # ('b','b') twice vs
    db_execute(left, "INSERT INTO pairs VALUES ('b', 'b'), ('b', 'b')")  # ('a',NULL),('c','c')
    db_execute(right, "DELETE FROM pairs; INSERT INTO pairs VALUES ('c', 'c'), ('c', 'c')")
    assert not _check(left, right, "pairs").matches  # XOR would call these equal


def test_a_catalog_into_a_catalog_is_refused_before_either_is_reached(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TRACKER_DATA_PATH", str(tmp_path / "lake"))
    url = "ducklake:postgres:dbname=a host=127.0.0.1 port=1"
    message = refused("--db", url, "store", "migrate", "--to", url.replace("=a ", "=b "))
    assert "copy a catalog through a file" in message and "Nothing was changed" in message
    assert not (tmp_path / "lake").exists()
