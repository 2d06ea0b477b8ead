"""Runs and claims of processes on other machines (issue 15): a team store's run history is
shared, and a pid means something only on its own machine. A row of another host counts as
alive until it is older than its bound, then it is failed / sent again naming the host; a
row of this host is judged by its pid as before. The rows of "another host" are written
with plain duckdb SQL: test data, as another machine's tracker would leave them."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from tests.conftest import PROJECT, Inbox, invoke, runs_file, runs_rows
from tests.test_schedule_process import TICKER as SCHEDULER_TICKER
from tests.test_team_store import lake, lake_rows, team_store  # noqa: F401 (a fixture)

BRIEFING = "programmes-compared"
TICKER = SCHEDULER_TICKER.format(cron="0 7 1 1 *")
INSERT_RUN = (
    "INSERT INTO {table} (id, report, status, started_at, briefing_date, data_cutoff, formats, "
    "definition_sha256, pid, host) VALUES (?, 'programmes-compared', 'running', ?, "
    "current_date, ?, 'pdf', 'x', ?, ?)"
)


def _ago(**delta: float) -> datetime:
    return datetime.now(UTC).replace(tzinfo=None) - timedelta(**delta)


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    for folder in ("indicators", "templates"):
        shutil.copytree(PROJECT / folder, home / folder)
    (home / "reports").mkdir()
    shutil.copy(PROJECT / "reports" / f"{BRIEFING}.toml", home / "reports")
    shutil.copytree(PROJECT / "data" / "reference", home / "data" / "reference")
    (home / "reports" / "ticker.toml").write_text(TICKER, encoding="utf-8")
    monkeypatch.setenv("TRACKER_HOME", str(home))
    return home


def _runs(dead: int) -> list[tuple[int, datetime, int, str]]:
    """(id, started_at, pid, host): another host's recent and old runs (their pids dead
    here, which must not matter), this host's dead and live ones."""
    here = socket.gethostname()
    return [
        (1, _ago(minutes=5), dead, "host-a"),
        (2, _ago(hours=2, minutes=5), dead, "host-a"),
        (3, _ago(seconds=1), dead, here),
        (4, _ago(seconds=1), os.getpid(), here),
    ]


def _check_settled(rows: list[tuple[object, ...]], dead: int) -> None:
    assert [row[:2] for row in rows] == [
        (1, "running"), (2, "failed"), (3, "failed"), (4, "running")
    ]  # fmt: skip
    remote, local = str(rows[1][2]), str(rows[2][2])
    assert remote.startswith(f"left running by PID {dead} on host-a, not heard of for 2 h "
                             "(more than the 22 min allowed;"), remote  # fmt: skip
    assert f"UTC on {socket.gethostname()})" in remote
    assert f"the process that rendered it (PID {dead}) is gone" in local


def test_a_run_of_another_host_is_left_running_while_recent_and_failed_naming_it_when_old(
    tracker_db: Path, home: Path
) -> None:
    dead = _dead_pid()
    with duckdb.connect(str(runs_file(tracker_db))) as conn:
        conn.execute("DELETE FROM report_runs")
        for run_id, started, pid, host in _runs(dead):
            conn.execute(INSERT_RUN.format(table="report_runs"),
                         [run_id, started, started, pid, host])  # fmt: skip
    result = invoke("reports", db=tracker_db)
    assert result.exit_code == 0, result.output
    _check_settled(runs_rows(tracker_db, "SELECT id, status, error FROM report_runs ORDER BY id"),
                   dead)  # fmt: skip


def test_the_bound_for_another_host_s_run_follows_the_render_timeout(
    tracker_db: Path, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRACKER_RENDER_TIMEOUT", "60")
    monkeypatch.setenv("TRACKER_STOP_GRACE", "0")  # bound: 2 x 60 s
    with duckdb.connect(str(runs_file(tracker_db))) as conn:
        conn.execute("DELETE FROM report_runs")
        for run_id, minutes in ((1, 1.5), (2, 3)):
            started = _ago(minutes=minutes)
            conn.execute(INSERT_RUN.format(table="report_runs"),
                         [run_id, started, started, 77, "host-a"])  # fmt: skip
    assert invoke("reports", db=tracker_db).exit_code == 0
    rows = runs_rows(tracker_db, "SELECT id, status, error FROM report_runs ORDER BY id")
    assert [row[:2] for row in rows] == [(1, "running"), (2, "failed")]
    assert "PID 77 on host-a, not heard of for 3 min (more than the 2 min allowed" in str(
        rows[1][2]
    )


def test_a_run_this_host_records_carries_its_host(tracker_db: Path, home: Path) -> None:
    result = invoke("brief", BRIEFING, db=tracker_db)
    assert result.exit_code == 0, result.output
    assert runs_rows(tracker_db, "SELECT status, host FROM report_runs") == [
        ("succeeded", socket.gethostname())
    ]


def _once(db: Path, home: Path, inbox: Inbox) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRACKER_")}
    env |= inbox.environment() | {"TRACKER_HOME": str(home), "TRACKER_RETRY_DELAY": "1"}
    command = [sys.executable, "-m", "tracker", "--db", str(db), "schedule", "run", "--once"]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=180)


def test_a_delivery_claim_of_another_host_is_not_resent_while_recent_and_resent_after_the_bound(
    tracker_db: Path, home: Path, smtp_server: Inbox
) -> None:
    result = invoke("brief", "ticker", "--publish", db=tracker_db)
    assert result.exit_code == 0, result.output
    (home / "reports" / f"{BRIEFING}.toml").unlink()  # its schedule would render it now
    with duckdb.connect(str(runs_file(tracker_db))) as conn:  # as host-a's scheduler left it
        (run_id,) = conn.execute("SELECT id FROM report_runs").fetchone() or ()
        conn.execute("UPDATE report_runs SET triggered_by = 'scheduled', delivery = 'pending'")
        conn.execute(
            "INSERT INTO delivery_recipients (run_id, report, recipient, message_id, status, "
            "tries, pid, updated_at, host) VALUES (?, 'ticker', 'desk@example.org', '<m@x>', "
            "'sending', 1, ?, ?, 'host-a')", [run_id, _dead_pid(), _ago(minutes=10)])  # fmt: skip
    first = _once(tracker_db, home, smtp_server)
    assert first.returncode == 1, first.stderr  # --once: a delivery is still owed
    assert smtp_server.messages == []  # host-a may be sending it right now
    assert "still owed to desk@example.org, which another process claimed" in first.stderr
    claim = "SELECT status, host FROM delivery_recipients"
    assert runs_rows(tracker_db, claim) == [("sending", "host-a")]
    assert runs_rows(tracker_db, "SELECT delivery FROM report_runs") == [("pending",)]
    with duckdb.connect(str(runs_file(tracker_db))) as conn:  # host-a went quiet 20 min ago
        conn.execute("UPDATE delivery_recipients SET updated_at = ?", [_ago(minutes=20)])
    second = _once(tracker_db, home, smtp_server)
    assert second.returncode == 0, second.stderr
    assert [envelope[1] for envelope in smtp_server.envelopes] == [["desk@example.org"]]
    assert "on host-a, not heard of for 20 min (more than the 15 min allowed" in second.stderr
    assert runs_rows(tracker_db, claim) == [("sent", socket.gethostname())]
    assert runs_rows(tracker_db, "SELECT delivery FROM report_runs") == [("delivered",)]


def test_runs_of_another_host_on_a_team_store_are_settled_by_the_same_rule(
    team_store: str,  # noqa: F811 (the fixture imported above)
    home: Path,
) -> None:
    result = invoke("--db", team_store, "init")
    assert result.exit_code == 0, result.output
    dead = _dead_pid()
    with lake(team_store, read_only=False) as conn:
        for run_id, started, pid, host in _runs(dead):
            conn.execute(INSERT_RUN.format(table="lake.runs.report_runs"),
                         [run_id, started, started, pid, host])  # fmt: skip
    result = invoke("--db", team_store, "reports")
    assert result.exit_code == 0, result.output
    _check_settled(lake_rows(team_store, "SELECT id, status, error FROM runs.report_runs "
                             "ORDER BY id"), dead)  # fmt: skip
