"""`tracker sql`: all or nothing under --write, no files or network, a time bound, Ctrl-C,
the run history held only while a query reads it, data shown as plain text, odd result
types written exactly, -f reading only regular files."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import db_execute, db_rows, invoke, runs_file

TRACKER = [sys.executable, "-m", "tracker"]
# Runs for minutes unless stopped: a cross join DuckDB cannot shortcut.
LONG_QUERY = "SELECT sum(a.range * b.range) FROM range(100000000) a, range(100000000) b"


def _state(db: Path) -> list[object]:
    return [
        db_rows(db, "SELECT count(*), sum(value) FROM observations"),
        db_rows(db, "SELECT * FROM latest_points ORDER BY ALL"),
        db_rows(db, "SELECT * FROM fx_rates ORDER BY ALL"),
    ]


@pytest.mark.parametrize(
    "text",
    [
        "ROLLBACK; DELETE FROM observations WHERE indicator = 'financing'; SELECT error('x')",
        "DELETE FROM observations WHERE indicator = 'financing'; COMMIT",
        "BEGIN; DELETE FROM observations WHERE indicator = 'financing'",
        "DELETE FROM observations WHERE indicator = 'financing'; ABORT",
        "DELETE FROM observations WHERE indicator = 'financing'; END",
        "DELETE FROM observations WHERE indicator = 'financing'; CHECKPOINT",
        "DELETE FROM observations WHERE indicator = 'financing'; SELECT error('x')",
        "DELETE FROM observations WHERE indicator = 'financing'; SELECT * FROM no_such_table",
    ],
)
def test_sql_write_changes_nothing_when_any_statement_is_refused_or_fails(
    tracker_db: Path, text: str
) -> None:
    before = _state(tracker_db)
    result = invoke("sql", "--write", text, db=tracker_db)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert "Nothing was" in result.output and "Committed" not in result.output
    assert _state(tracker_db) == before


def test_sql_write_says_what_it_committed(tracker_db: Path) -> None:
    count = db_rows(tracker_db, "SELECT count(*) FROM observations WHERE indicator = 'financing'")
    result = invoke(
        "sql", "--write", "--format", "csv",
        "UPDATE observations SET value = value * 2 WHERE indicator = 'financing'; "
        "SELECT [1, 2] AS l",
        db=tracker_db,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert f"Committed: 2 statement(s) run, {count[0][0]} row(s) changed." in result.output
    assert "Nothing was changed" not in result.output
    doubled = db_rows(
        tracker_db,
        "SELECT count(*) FROM latest_points p JOIN observations o USING (indicator, "
        "initiative, geography, period, source) WHERE o.superseded_at IS NULL AND "
        "p.value = o.value AND o.indicator = 'financing'",
    )
    assert doubled[0][0] > 0  # latest_points rebuilt in the same transaction


@pytest.mark.parametrize(
    "statement",
    [
        "SELECT * FROM read_text('/etc/passwd')",
        "SELECT * FROM read_csv('/etc/passwd')",
        "COPY fx_rates TO '{tmp}/leak.csv'",
        "EXPORT DATABASE '{tmp}/export'",
        "ATTACH '{tmp}/new.duckdb' AS other",
        "INSTALL httpfs",
        "LOAD httpfs",
        "SET threads = 1",
        "SELECT * FROM read_text('http://127.0.0.1:9/x')",
    ],
)
def test_sql_write_cannot_reach_files_network_or_settings(
    tracker_db: Path, tmp_path: Path, statement: str
) -> None:
    before = _state(tracker_db)
    text = f"DELETE FROM fx_rates; {statement.format(tmp=tmp_path)}"
    result = invoke("sql", "--write", text, db=tracker_db)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert _state(tracker_db) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [tracker_db.name, runs_file(tracker_db).name]
    )  # nothing new written beside the database and its run history


def test_allow_files_reads_and_writes_files_but_loads_no_extension(
    tracker_db: Path, tmp_path: Path
) -> None:
    source = tmp_path / "in.txt"
    source.write_text("hello")
    read = invoke("sql", "--allow-files", "--format", "csv",
                  f"SELECT content FROM read_text('{source}')", db=tracker_db)  # fmt: skip
    assert read.exit_code == 0, read.output
    assert read.output.splitlines() == ["content", "hello"]
    copied = invoke("sql", "--allow-files", f"COPY fx_rates TO '{tmp_path}/fx.csv'", db=tracker_db)
    assert copied.exit_code == 0, copied.output
    assert (tmp_path / "fx.csv").read_text().startswith("currency")
    for statement in ("INSTALL httpfs", "LOAD httpfs", f"ATTACH '{tmp_path}/n.duckdb'"):
        refused = invoke("sql", "--allow-files", "--write", statement, db=tracker_db)
        assert refused.exit_code == 2, refused.output
    assert not (tmp_path / "n.duckdb").exists()


def test_a_query_past_its_time_is_stopped_and_a_write_rolled_back(
    tracker_db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stopped = invoke("sql", "--timeout", "0.5", LONG_QUERY, db=tracker_db)
    assert stopped.exit_code == 1, stopped.output
    assert "Stopped: the query ran longer than 0.5 s" in stopped.output
    before = _state(tracker_db)
    monkeypatch.setenv("TRACKER_SQL_TIMEOUT", "0.5")
    written = invoke("sql", "--write", f"DELETE FROM fx_rates; {LONG_QUERY}", db=tracker_db)
    assert written.exit_code == 1, written.output
    assert "Nothing was changed" in written.output
    assert _state(tracker_db) == before


def test_a_bad_memory_setting_is_refused(tracker_db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACKER_SQL_MEMORY", "lots")
    result = invoke("sql", "SELECT 1", db=tracker_db)
    assert result.exit_code == 2 and "TRACKER_SQL_MEMORY: found 'lots'" in result.output


def _start(db: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([*TRACKER, "--db", str(db), "sql", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip


def _wait_until_running(process: subprocess.Popen[str]) -> None:
    """Until the process has started its query: its CPU time passes what start-up takes."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        fields = Path(f"/proc/{process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        if int(fields[11]) + int(fields[12]) > 0 and _threads(process.pid) > 1:
            time.sleep(1.0)  # start-up done (DuckDB threads are up); now inside the query
            return
        time.sleep(0.05)
    raise AssertionError("tracker sql did not start")


def _threads(pid: int) -> int:
    return len(list(Path(f"/proc/{pid}/task").iterdir()))


@pytest.mark.parametrize("write", [False, True])
def test_ctrl_c_stops_a_running_query_at_once(tracker_db: Path, write: bool) -> None:
    before = _state(tracker_db)
    args = ["--write", f"DELETE FROM fx_rates; {LONG_QUERY}"] if write else [LONG_QUERY]
    process = _start(tracker_db, "--timeout", "120", *args)
    try:
        _wait_until_running(process)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=30)
    finally:
        process.kill()
        process.wait()
    assert process.returncode == 130, stderr
    assert "Interrupted." in stderr and "Traceback" not in stderr
    assert ("Nothing was changed" in stderr) == write
    assert _state(tracker_db) == before


def test_a_briefing_renders_while_a_long_query_runs(
    tracker_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRACKER_BUSY_TIMEOUT", "2")
    first = invoke("brief", "programmes-compared", "--format", "html", "--out",
                   tmp_path / "out", db=tracker_db)  # fmt: skip
    assert first.exit_code == 0, first.output
    assert runs_file(tracker_db).exists()
    process = _start(tracker_db, "--timeout", "120", LONG_QUERY)
    try:
        _wait_until_running(process)
        again = invoke("brief", "programmes-compared", "--format", "html", "--out",
                       tmp_path / "out", db=tracker_db)  # fmt: skip
        assert again.exit_code == 0, again.output
        assert process.poll() is None  # the query was running all along
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=30)
    named = invoke("sql", "--format", "csv", "SELECT count(*) AS n FROM report_runs",
                   db=tracker_db)  # fmt: skip
    assert named.exit_code == 0 and named.output.splitlines() == ["n", "2"]


def test_data_text_is_shown_as_plain_text_never_as_markup(tracker_db: Path) -> None:
    texts = ["note [/red] here", "[/] source", "[bold]b[/bold]", "[link=http://e.org]l[/link]"]
    db_execute(tracker_db, "UPDATE observations SET note = ? WHERE indicator = 'financing'",
               [texts[0]])  # fmt: skip
    selected = invoke("sql", "SELECT DISTINCT note FROM observations WHERE indicator = "
                      "'financing'", db=tracker_db)  # fmt: skip
    assert selected.exit_code == 0, selected.output
    assert texts[0] in selected.output
    literals = ", ".join(f"'{text}' AS \"{text}\"" for text in texts[1:])
    shown = invoke("sql", f"SELECT {literals}", db=tracker_db)
    assert shown.exit_code == 0, shown.output
    for text in texts[1:]:
        assert shown.output.count(text) == 2  # the header and the cell, as they are


ODD = (
    "SELECT 'infinity'::TIMESTAMP AS t, '-infinity'::TIMESTAMP AS tn, 'infinity'::DATE AS d, "
    "'-infinity'::DATE AS dn, '9999-12-31 23:59:59.999999'::TIMESTAMP AS tmax, "
    "'\\x00\\xFFa'::BLOB AS b, 340282366920938463463374607431768211455::UHUGEINT AS u, "
    "(-170141183460469231731687303715884105727 - 1)::HUGEINT AS h, "
    "-99999999999999999999999999999999999.999::DECIMAL(38,3) AS m"
)
ODD_TEXT = ["infinity", "-infinity", "infinity", "-infinity", None, "\\x00\\xFFa",
            "340282366920938463463374607431768211455", "-170141183460469231731687303715884105728",
            "-99999999999999999999999999999999999.999"]  # fmt: skip


def test_odd_result_types_are_written_exactly_in_every_format(tracker_db: Path) -> None:
    as_csv = invoke("sql", "--format", "csv", ODD, db=tracker_db)
    assert as_csv.exit_code == 0, as_csv.output
    cells = as_csv.output.splitlines()[1].split(",")
    assert cells[4] == "9999-12-31T23:59:59.999999"
    assert [c for i, c in enumerate(cells) if i != 4] == [t for t in ODD_TEXT if t]
    as_json = invoke("sql", "--format", "json", ODD, db=tracker_db)
    assert as_json.exit_code == 0, as_json.output
    record = json.loads(as_json.output)[0]
    assert record["tmax"] == "9999-12-31 23:59:59.999999"
    assert [v for k, v in record.items() if k != "tmax"] == [t for t in ODD_TEXT if t]
    as_table = invoke("sql", ODD, db=tracker_db)
    assert as_table.exit_code == 0, as_table.output
    for text in ODD_TEXT:
        assert text is None or text in as_table.output


def test_a_huge_result_shows_the_first_rows_in_a_table_and_counts_the_rest(
    tracker_db: Path,
) -> None:
    result = invoke("sql", "SELECT range AS n FROM range(1000000)", db=tracker_db)
    assert result.exit_code == 0, result.output
    assert "│ 999 │" in result.output and "│ 1000 │" not in result.output
    assert "... 999,000 more row(s) not shown; use --format csv" in result.output


def test_sql_file_must_be_a_regular_file_of_at_most_10_mb(tracker_db: Path, tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.sql"
    os.mkfifo(fifo)
    big = tmp_path / "big.sql"
    with big.open("wb") as handle:
        handle.truncate(11 * 2**20)
    cases = {fifo: "not a regular file", Path("/dev/zero"): "not a regular file",
             tmp_path: "a folder", big: "up to 10 MB"}  # fmt: skip
    for path, message in cases.items():
        result = invoke("sql", "-f", path, db=tracker_db)
        assert result.exit_code == 2, result.output
        assert str(path) in result.output and message in result.output
