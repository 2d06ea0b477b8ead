"""The run history (`<db>.runs.duckdb`) as a first-class file: missing, truncated or foreign,
every command that reads it says so once, with the fix, and changes nothing; runs left
'running' by a process that is gone are marked failed when next seen."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from tests.conftest import PROJECT, invoke, runs_file, runs_rows

COMMANDS = [
    ("brief", "programmes-compared"),
    ("reports",),
    ("schedule", "list"),
    ("schedule", "run", "--once"),
    ("deliver", "programmes-compared"),
    ("sql", "SELECT count(*) FROM report_runs"),
]


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    for folder in ("indicators", "reports", "templates"):
        shutil.copytree(PROJECT / folder, home / folder,
                        ignore=shutil.ignore_patterns("out", "outbox"))  # fmt: skip
    shutil.copytree(PROJECT / "data" / "reference", home / "data" / "reference")
    monkeypatch.setenv("TRACKER_HOME", str(home))
    return home


def _break(db: Path, how: str) -> bytes | None:
    path = runs_file(db)
    if how == "missing":
        path.unlink()
        return None
    if how == "truncated":
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    else:  # foreign: a DuckDB file of something else
        path.unlink()
        with duckdb.connect(str(path)) as conn:
            conn.execute("CREATE TABLE notes AS SELECT 1 AS x")
    return path.read_bytes()


@pytest.mark.parametrize("how", ["missing", "truncated", "foreign"])
def test_a_broken_run_history_is_refused_by_every_command_with_the_fix(
    tracker_db: Path, home: Path, how: str
) -> None:
    before = _break(tracker_db, how)
    for command in COMMANDS:
        result = invoke(*command, db=tracker_db)
        output = result.output
        assert result.exit_code == 1, (command, output)
        assert "Traceback" not in output and "nothing due" not in output, (command, output)
        assert f"{runs_file(tracker_db)}: the run history of {tracker_db}" in output, command
        assert f"Fix: put the right file back at {runs_file(tracker_db)}" in output, command
        assert f"`tracker init --db {tracker_db}`" in output, command
        # nothing changed: the file byte for byte, nothing rendered
        if before is None:
            assert not runs_file(tracker_db).exists()
        else:
            assert runs_file(tracker_db).read_bytes() == before
    assert not (home / "reports" / "out").exists()
    # the fix works: init starts an empty run history (a broken file moved away first)
    if before is not None:
        runs_file(tracker_db).rename(tracker_db.with_name("broken.runs.duckdb"))
    assert invoke("init", db=tracker_db).exit_code == 0
    listed = invoke("reports", db=tracker_db)
    assert listed.exit_code == 0 and "last run: never" in listed.output


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


@pytest.mark.parametrize("command", COMMANDS[1:3] + COMMANDS[5:])
def test_a_run_left_running_by_a_dead_process_is_failed_when_next_seen(
    tracker_db: Path, home: Path, command: tuple[str, ...]
) -> None:
    pid = _dead_pid()
    live = os.getpid()  # this process, started before the run: it stays running
    with duckdb.connect(str(runs_file(tracker_db))) as conn:
        for who in (pid, live):
            conn.execute(
                "INSERT INTO report_runs (report, status, started_at, briefing_date, "
                "data_cutoff, formats, definition_sha256, pid) VALUES ('programmes-compared', "
                "'running', now()::TIMESTAMP, current_date, now()::TIMESTAMP, 'pdf', 'x', ?)",
                [who],
            )
    result = invoke(*command, db=tracker_db)
    assert result.exit_code == 0, result.output
    rows = runs_rows(tracker_db, "SELECT pid, status, error FROM report_runs ORDER BY id")
    assert [row[:2] for row in rows] == [(pid, "failed"), (live, "running")]
    assert f"the process that rendered it (PID {pid}) is gone" in str(rows[0][2])


def test_a_manual_render_stopped_by_sigterm_is_recorded_as_failed(
    tracker_db: Path, home: Path
) -> None:
    env = dict(os.environ, TRACKER_HOME=str(home))
    render = subprocess.Popen(
        [sys.executable, "-m", "tracker", "--db", str(tracker_db), "brief",
         "programmes-compared"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and render.poll() is None:
        try:
            if runs_rows(tracker_db, "SELECT count(*) FROM report_runs") != [(0,)]:
                break
        except duckdb.Error:
            pass
        time.sleep(0.05)
    render.send_signal(signal.SIGTERM)
    _, stderr = render.communicate(timeout=60)
    assert render.returncode != 0 and "Traceback" not in stderr
    ((status, error),) = runs_rows(tracker_db, "SELECT status, error FROM report_runs")
    assert status == "failed" and error  # was left 'running' before
