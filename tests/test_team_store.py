"""The team store (issue 15): every command works unchanged on a DuckLake catalog in a real
PostgreSQL server (tests/postgres_server.py), with the Parquet files in a temporary folder,
through the real CLI; its schema is the single-file store's but for constraints; later
migrations run on it as written; a store it cannot use is refused in one paragraph.

The catalog is read back with plain duckdb and the extension wheels, not tracker's code.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import duckdb_extension_ducklake
import duckdb_extension_postgres
import pytest
from pypdf import PdfReader

from tests.conftest import PROJECT, SHIPPED_OBSERVATIONS, Inbox, invoke
from tests.postgres_server import PostgresServer
from tracker.store import connection, team

REPORT = "programmes-compared"
AIDDATA = PROJECT / "data" / "imports" / "aiddata-gcdf3-malaysia-extract.csv"
AIDDATA_MAP = PROJECT / "data" / "imports" / "aiddata-extract-demo.toml"
USD_MONTHLY = PROJECT.parent / "shared" / "corpora" / "sdmx-test-data" / "ECB_EXR" / "1"
USD_MONTHLY = USD_MONTHLY / "M.USD.EUR.SP00.A.xml"
# target_progress without days_left (it counts from today)
PROGRESS = (
    "SELECT indicator, initiative, geography, label, target_value, latest_value, "
    "latest_qualifier, share_achieved, contributor, other_figures FROM target_progress "
    "ORDER BY ALL"
)


@pytest.fixture
def team_store(postgres_database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A team store URL on a fresh PostgreSQL database, TRACKER_DATA_PATH a temp folder."""
    data = tmp_path / "lake"
    data.mkdir()
    monkeypatch.setenv("TRACKER_DATA_PATH", f"{data}/")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return f"ducklake:postgres:{postgres_database}"


@contextmanager
def lake(url: str, *, read_only: bool = True) -> Iterator[duckdb.DuckDBPyConnection]:
    """The catalog attached with plain duckdb and the wheels' extension binaries."""
    version = f"v{duckdb.__version__}"
    postgres = Path(duckdb_extension_postgres.__file__).parent / "extensions" / version
    ducklake = Path(duckdb_extension_ducklake.__file__).parent / "extensions" / version
    folder = Path(os.environ["TRACKER_DATA_PATH"]).parent / "test-extensions"
    folder.mkdir(exist_ok=True)
    link = folder / "postgres_scanner.duckdb_extension"
    if not link.exists():
        link.symlink_to(postgres / "postgres.duckdb_extension")
    conn = duckdb.connect(config={"autoinstall_known_extensions": False,
                                  "autoload_known_extensions": False})  # fmt: skip
    try:
        conn.execute(f"LOAD '{link}'")
        conn.execute(f"LOAD '{ducklake / 'ducklake.duckdb_extension'}'")
        mode = ", READ_ONLY" if read_only else ""
        conn.execute(
            f"ATTACH '{url}' AS lake (DATA_PATH '{os.environ['TRACKER_DATA_PATH']}'{mode})"
        )
        conn.execute("USE lake")
        yield conn
    finally:
        conn.close()


def lake_rows(url: str, sql: str) -> list[tuple[object, ...]]:
    with lake(url) as conn:
        return conn.execute(sql).fetchall()


def ok(*args: str | Path) -> str:
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    return result.output


def sql_csv(db: str | Path, sql: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(ok("--db", db, "sql", "--format", "csv", sql))))


@pytest.fixture
def home(home_with_alert: Path) -> Path:
    return home_with_alert


def test_every_command_works_on_a_team_store_as_on_a_file(
    team_store: str, home: Path, tmp_path: Path, smtp_server: Inbox,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    url = team_store
    file_db = tmp_path / "file.duckdb"
    first = ok("--db", url, "init")
    assert "001_initial" in first and "015_sdmx" in first and "runs/007_alerts" in first
    assert "schema up to date" in ok("--db", url, "init")  # the second init changes nothing
    ok("--db", file_db, "init")

    # the same ingest says the same on both stores; the same again writes nothing
    summary = ok("--db", url, "ingest", *SHIPPED_OBSERVATIONS)
    assert summary == ok("--db", file_db, "ingest", *SHIPPED_OBSERVATIONS)
    assert "as batch 1: 37 new" in summary
    assert "nothing new" in ok("--db", url, "ingest", *SHIPPED_OBSERVATIONS)

    # a revision makes a vintage, in batch 2
    revised = tmp_path / "revised.csv"
    revised.write_text(
        "indicator,initiative,geography,period,value,unit,source\n"
        "new_deal_value,BRI,WLD,2022,75.1,USD bn,gfdc-bri-2023\n",
        encoding="utf-8",
    )
    for db in (url, file_db):
        assert "as batch 2: 0 new, 1 revised" in ok("--db", db, "ingest", revised)
    vintages = lake_rows(url, "SELECT value, superseded_at IS NULL, batch FROM observations "
                              "WHERE indicator = 'new_deal_value' AND period = '2022' "
                              "ORDER BY batch")  # fmt: skip
    assert [(float(v), current, b) for v, current, b in vintages] == [
        (74.5, False, 1), (75.1, True, 2)
    ]  # fmt: skip

    said: dict[str | Path, list[str]] = {}
    for db in (url, file_db):
        said[db] = [
            ok("--db", db, "add", "power_capacity", "7 GW", "--period", "2031", "--geography",
               "KAZ", "--initiative", "BRI", "--source", "gfdc-bri-2023"),
            ok("--db", db, "import", "aiddata", AIDDATA, "--map", AIDDATA_MAP),
            ok("--db", db, "import", "sdmx", USD_MONTHLY) if USD_MONTHLY.exists() else "",
        ]  # fmt: skip
    assert said[url] == said[file_db]
    assert "as batch 3" in said[url][0] and "Project records: 4 read" in said[url][1]
    ids = lake_rows(url, "SELECT list(id ORDER BY id) FROM batches")[0][0]
    assert ids == list(range(1, len(ids) + 1))  # ids from the PostgreSQL sequence, no gaps

    # tracker sql: read-only by default, --write in one transaction; the run history named
    before = lake_rows(url, "SELECT count(*) FROM observations")
    refused = invoke("--db", url, "sql", "DELETE FROM observations")
    assert refused.exit_code == 2 and "read-only" in refused.output
    assert "Traceback" not in refused.output
    assert lake_rows(url, "SELECT count(*) FROM observations") == before
    ok("--db", url, "sql", "--write", "DELETE FROM targets WHERE label = 'no such target'")
    assert sql_csv(url, "SELECT count(*) FROM runs.report_runs") == [["count_star()"], ["0"]]

    # the same figures out of target_progress as on the file
    assert sql_csv(url, PROGRESS) == sql_csv(file_db, PROGRESS)
    assert len(sql_csv(url, PROGRESS)) > 3
    assert "financing" in ok("--db", url, "indicators")
    assert "EUR 306 bn" in ok("--db", url, "history", "financing", "--initiative", "GG")

    # a draft and a published issue, read back against the manifest; the run recorded
    out = tmp_path / "out"
    ok("--db", url, "brief", REPORT, "--out", out)
    published = ok("--db", url, "brief", REPORT, "--publish", "--out", out)
    assert "issue 1" in published
    [folder] = [p for p in (out / REPORT).iterdir() if p.name.startswith("1-")]
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    assert (manifest["published"], manifest["issue"]) == (True, 1)
    for entry in manifest["files"]:
        data = (folder / entry["name"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"]
    text = " ".join(page.extract_text() for page in PdfReader(folder / f"{REPORT}.pdf").pages)
    assert "Global Gateway" in text
    runs = lake_rows(url, "SELECT id, status, published, issue FROM runs.report_runs ORDER BY id")
    assert runs == [(1, "succeeded", False, None), (2, "succeeded", True, 1)]
    assert "issue 1" in ok("--db", url, "reports")

    # an alert is sent once, and recorded in the catalog's run history
    for key, value in smtp_server.environment().items():
        monkeypatch.setenv(key, value)
    ok("--db", url, "alerts", "check")
    assert len(smtp_server.messages) == 1
    assert "> EUR 306 bn" in str(smtp_server.messages[0].get_content())
    ok("--db", url, "alerts", "check")
    assert len(smtp_server.messages) == 1
    sent = lake_rows(url, "SELECT alert, status FROM runs.alerts_sent")
    assert sent == [("gg-target", "sent")]

    # the issue delivered now; a point withdrawn as a new vintage
    ok("--db", url, "deliver", REPORT, "--to", "editor@example.org")
    assert len(smtp_server.messages) == 2
    deliveries = lake_rows(url, "SELECT id, channel, status FROM runs.deliveries ORDER BY id")
    assert ("email", "sent") in [(channel, status) for _, channel, status in deliveries]
    assert [row[0] for row in deliveries] == list(range(1, len(deliveries) + 1))
    ok("--db", url, "withdraw", "power_capacity", "--period", "2031", "--geography", "KAZ",
       "--initiative", "BRI", "--source", "gfdc-bri-2023",
       "--reason", "typed by mistake")  # fmt: skip
    assert lake_rows(url, "SELECT count(*) FROM observations_current WHERE period = '2031' "
                          "AND indicator = 'power_capacity'") == [(0,)]  # fmt: skip


def _schema(conn: duckdb.DuckDBPyConnection, database: str, schema: str) -> dict[str, object]:
    """Tables with column names and types, views and macros of one schema."""
    columns = conn.execute(
        "SELECT table_name, list(column_name || ' ' || data_type ORDER BY column_index) "
        "FROM duckdb_columns() WHERE database_name = ? AND schema_name = ? "
        "GROUP BY ALL ORDER BY ALL", [database, schema]).fetchall()  # fmt: skip
    views = conn.execute("SELECT view_name FROM duckdb_views() WHERE database_name = ? AND "
                         "schema_name = ? ORDER BY ALL", [database, schema]).fetchall()  # fmt: skip
    macros = conn.execute(
        "SELECT function_name, function_type, parameters FROM duckdb_functions() "
        "WHERE database_name = ? AND schema_name = ? AND function_type LIKE '%macro' "
        "ORDER BY ALL", [database, schema]).fetchall()  # fmt: skip
    return {"columns": columns, "views": views, "macros": macros}


def test_the_team_schema_is_the_file_schema_but_for_constraints(
    team_store: str, tmp_path: Path
) -> None:
    file_db = tmp_path / "file.duckdb"
    ok("--db", team_store, "init")
    ok("--db", file_db, "init")
    with lake(team_store) as conn:
        conn.execute(f"ATTACH '{file_db}' AS file (READ_ONLY)")
        conn.execute(f"ATTACH '{connection.run_history_path(file_db)}' AS file_runs (READ_ONLY)")
        assert _schema(conn, "lake", "main") == _schema(conn, "file", "main")
        assert _schema(conn, "lake", "runs") == _schema(conn, "file_runs", "main")
        assert len(_schema(conn, "lake", "main")["views"]) >= 6  # type: ignore[arg-type]
        # the rows migrations seed, and every migration recorded
        for table in ("freshness_rules", "schema_migrations"):
            columns = "* EXCLUDE (applied_at)" if table == "schema_migrations" else "*"
            rows = f"SELECT {columns} FROM {{}}.main.{table} ORDER BY ALL"
            assert (
                conn.execute(rows.format("lake")).fetchall()
                == conn.execute(rows.format("file")).fetchall()
            )


def test_migrations_after_the_team_store_run_on_a_catalog_as_written(team_store: str) -> None:
    ok("--db", team_store, "init")
    later = {
        folder: [m for m in connection.migrations(folder) if m[0] > through]
        for folder, through in team.REPLAYED_THROUGH.items()
    }
    with lake(team_store, read_only=False) as conn:
        for folder, found in later.items():
            conn.execute("USE lake.main" if folder == "sql" else "USE lake.runs")
            for _number, _name, sql in found:
                conn.execute("BEGIN TRANSACTION")
                try:
                    conn.execute(sql)  # fails here if it needs what DuckLake lacks
                finally:
                    conn.execute("ROLLBACK")
        # what the rule keeps out: a key constraint cannot be created on the catalog
        with pytest.raises(duckdb.Error, match="(?i)primary key|constraint|not supported"):
            conn.execute("CREATE TABLE lake.main.later (id INTEGER PRIMARY KEY)")


def _refused(*args: str, env: dict[str, str]) -> str:
    """`tracker ARGS` in a process of its own that must exit 2 without a traceback."""
    done = subprocess.run([sys.executable, "-m", "tracker", *args], capture_output=True,
                          text=True, env=env, timeout=120)  # fmt: skip
    printed = done.stdout + done.stderr
    assert done.returncode == 2, printed
    assert "Traceback" not in printed and printed.strip().count("\n") == 0, printed
    return printed


def test_a_team_store_it_cannot_use_is_refused_in_one_paragraph(
    postgres_server: PostgresServer, postgres_database: str, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRACKER_", "PG"))}
    env |= {"TRACKER_DATA_PATH": str(tmp_path / "lake"), "XDG_CACHE_HOME": str(tmp_path)}
    url = f"ducklake:postgres:{postgres_database}"
    wrong = "pw-Wr0ng-Kq71"
    printed = _refused("--db", url, "init", env=env | {"PGPASSWORD": wrong})
    assert "password authentication failed" in printed and "PGPASSWORD" in printed
    assert wrong not in printed
    closed = url.replace(f"port={postgres_server.port}", "port=1")
    printed = _refused("--db", closed, "indicators",
                       env=env | {"PGPASSWORD": postgres_server.password})  # fmt: skip
    assert "Connection refused" in printed
    no_path = {k: v for k, v in env.items() if k != "TRACKER_DATA_PATH"}
    assert "TRACKER_DATA_PATH" in _refused("--db", url, "init", env=no_path)
    secret = "pw-InUrl-Zq93"
    for given in (
        f"{url} password={secret}",
        f"ducklake:postgres:postgresql://u:{secret}@h/db",
        f"ducklake:postgres:postgresql://u@h/db?sslmode=disable&password={secret}",
    ):
        printed = _refused("--db", given, "init", env=env)
        assert secret not in printed and "PGPASSFILE" in printed
        printed = _refused("sql", "select 1", env=env | {"TRACKER_DB": given})
        assert secret not in printed
    # nothing was created in the database the refused commands named
    assert db_rows_count_tables(postgres_server, postgres_database) == 0


def db_rows_count_tables(server: PostgresServer, conninfo: str) -> int:
    dbname = conninfo.split("dbname=")[1].split()[0]
    return int(server.psql("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'", dbname))


def test_a_file_store_opens_no_extension_and_no_team_code(tmp_path: Path) -> None:
    db = tmp_path / "t.duckdb"
    ok("--db", db, "init")
    done = subprocess.run(
        [sys.executable, "-c",
         "import sys; from tracker.cli.app import app\n"
         "try:\n    app(sys.argv[1:], prog_name='tracker')\nexcept SystemExit:\n    pass\n"
         "print(sorted(m for m in sys.modules if 'team' in m or 'psycopg' in m))",
         "--db", str(db), "indicators"],
        capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_a_commit_that_loses_a_race_is_refused_as_busy_and_writes_nothing(
    team_store: str,
) -> None:
    from tracker import store
    from tracker.errors import DatabaseBusyError
    from tracker.location import store_location

    ok("--db", team_store, "init")
    location = store_location(team_store)
    with pytest.raises(DatabaseBusyError, match="committed a conflicting change"):
        with store.connect(location) as first, store.connect(location) as second:
            with store.transaction(second):  # commits last: DuckLake refuses it
                second.execute("UPDATE initiatives SET name = 'second' WHERE id = 'GG'")
                with store.transaction(first):
                    first.execute("UPDATE initiatives SET name = 'first' WHERE id = 'GG'")
    assert lake_rows(team_store, "SELECT name FROM initiatives WHERE id = 'GG'") == [("first",)]


def test_the_readme_duckdb_cli_commands_read_target_progress(team_store: str) -> None:
    ok("--db", team_store, "init")
    ok("--db", team_store, "ingest", *SHIPPED_OBSERVATIONS)
    readme = (PROJECT / "README.md").read_text(encoding="utf-8")
    block = readme.split("The stock DuckDB CLI")[1].split("```sh\n")[1].split("```")[0]
    conninfo = team_store.removeprefix("ducklake:postgres:")
    cache = Path(os.environ["XDG_CACHE_HOME"])
    script = (
        block.replace("dbname=tracker host=db.example.org user=tracker", conninfo)
        .replace("$HOME/.cache", str(cache))
        .replace(".venv/", f"{sys.prefix}/")
        .replace("SELECT * FROM target_progress", "SELECT count(*) FROM target_progress")
    )
    done = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    expected = lake_rows(team_store, "SELECT count(*) FROM target_progress")[0][0]
    assert f" {expected} │" in done.stdout, done.stdout


def test_no_statement_needs_a_primary_key_or_returning() -> None:
    """A DuckLake table has no primary key and no RETURNING: every upsert is
    `connection.merge_sql`, every id `store.next_id` (a later branch once brought back an
    INSERT OR REPLACE, which only the team store's tests caught)."""
    forbidden = re.compile(r"INSERT\s+OR\s+(REPLACE|IGNORE)|\bON\s+CONFLICT|\bRETURNING\b", re.I)
    found = [
        f"{path.relative_to(PROJECT)}:{number}"
        for path in sorted((PROJECT / "tracker").rglob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if forbidden.search(line)
        and not line.lstrip().startswith("#")
        and "neither INSERT OR REPLACE nor ON CONFLICT" not in line
    ]
    assert found == []


def test_the_scheduler_renders_records_and_mails_a_team_store_and_a_second_one_waits(
    team_store: str, home: Path, smtp_server: Inbox
) -> None:
    """`tracker schedule run --once` on a team store: the due issue is rendered from the
    catalog, recorded in its run history and mailed; meanwhile a second scheduler of the same
    catalog waits for the advisory lock (it would otherwise run the same jobs twice)."""
    (home / "reports" / "country-profile.toml").unlink()  # one briefing keeps the test short
    (home / "reports" / "alerts" / "gg-target.toml").unlink()
    ok("--db", team_store, "init")
    ok("--db", team_store, "ingest", *SHIPPED_OBSERVATIONS)
    environment = {**os.environ, **smtp_server.environment(), "TRACKER_DB": team_store,
                   "TRACKER_RELOAD_INTERVAL": "0.2"}  # fmt: skip
    command = [sys.executable, "-m", "tracker", "schedule", "run", "--once"]
    first = subprocess.Popen(command, env=environment, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not lake_rows(team_store, "SELECT * FROM runs.report_runs"):
            assert first.poll() is None, first.communicate()[1]
            assert time.monotonic() < deadline, "the first scheduler started no run"
            time.sleep(0.2)
        second = subprocess.run(command, env=environment, capture_output=True, text=True,
                                timeout=240)  # fmt: skip
        _, first_log = first.communicate(timeout=240)
    finally:
        first.kill()
    assert first.returncode == 0, first_log
    assert second.returncode == 0, second.stderr
    assert "waiting: the scheduler of this catalog is running in tracker scheduler" in (
        second.stderr
    )
    runs = lake_rows(
        team_store, "SELECT report, status, published, issue, delivery FROM runs.report_runs"
    )
    assert runs == [("programmes-compared", "succeeded", True, 1, "delivered")]
    assert len(smtp_server.messages) == 1
    body = smtp_server.messages[0].get_body(preferencelist=("plain",))
    assert body is not None and "> EUR 306 bn" in str(body.get_content())
    assert os.environ["PGPASSWORD"] not in first_log + second.stderr


def test_credentials_come_from_a_pgpassfile_or_a_pgservicefile(
    postgres_server: PostgresServer, postgres_database: str, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """No PGPASSWORD: libpq's own files give the password (PGPASSFILE, mode 0600) and the
    connection parameters (PGSERVICEFILE, `service=NAME`), as README "Team store" says."""
    monkeypatch.delenv("PGPASSWORD")
    monkeypatch.setenv("TRACKER_DATA_PATH", f"{tmp_path / 'lake'}/")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    (tmp_path / "lake").mkdir()
    server = postgres_server
    dbname = postgres_database.split()[0].removeprefix("dbname=")
    passfile = tmp_path / "pgpass"
    passfile.write_text(f"{server.host}:{server.port}:*:{server.user}:{server.password}\n")
    passfile.chmod(0o600)
    services = tmp_path / "pg_service.conf"
    services.write_text(
        f"[tracker]\nhost={server.host}\nport={server.port}\nuser={server.user}\ndbname={dbname}\n"
    )
    without = invoke("--db", f"ducklake:postgres:{postgres_database}", "init")
    assert without.exit_code == 2, without.output  # no password anywhere: refused
    monkeypatch.setenv("PGPASSFILE", str(passfile))
    ok("--db", f"ducklake:postgres:{postgres_database}", "init")
    monkeypatch.setenv("PGSERVICEFILE", str(services))
    printed = ok("--db", "ducklake:postgres:service=tracker", "ingest", *SHIPPED_OBSERVATIONS)
    assert "as batch 1: 37 new" in printed
    assert server.password not in printed
