"""Briefing runs in `report_runs` of the run history file (`store.connect_run_history`,
migrations in tracker/store/sql/runs): record a run as 'running', close it as 'succeeded' or
'failed' (a succeeded scheduled run then owes a delivery: `delivery` = 'pending'), mark the
runs of processes that are gone as failed, list the last run of each briefing, find what the
scheduler needs.

A run is a draft or a published issue (`published`, migration runs/005): only a published
run has an issue number, counts for the schedule, is "the previous briefing" of the next one
and owes a delivery. Every query below that means "an issue" says `published`.

Each statement is a named constant run through `connection.query`; every function takes a
connection to the run history, not to the main database.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from tracker import settings, text
from tracker.store import connection

if TYPE_CHECKING:
    import polars as pl

# No RETURNING: a DuckLake table (the team store) has none; the id comes from next_id.
INSERT_RUN = """
INSERT INTO report_runs (id, report, status, started_at, briefing_date, as_of, data_cutoff,
                         formats, definition_sha256, pid, triggered_by, scheduled_for, attempt,
                         params, published, note, host)
VALUES ($15, $1, 'running', $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $16)
"""

FINISH_RUN = """
UPDATE report_runs
SET status = $2, finished_at = $3, data_as_of = $4, issue = $5, output_dir = $6,
    outputs = $7, key_figures = $8, error = $9, key_messages = $10,
    -- a scheduled issue that succeeded owes a delivery, recorded with its success
    delivery = CASE WHEN $2 = 'succeeded' AND triggered_by <> 'manual' AND published
                    THEN 'pending' END
WHERE id = $1
"""

# The newest run (draft or issue) of each briefing, and its newest published issue.
LAST_RUNS = """
SELECT r.report, r.id, r.status, r.started_at, r.finished_at, r.briefing_date, r.issue,
       r.published, r.output_dir, r.outputs, r.error, s.finished_at AS last_success_at,
       s.output_dir AS last_success_dir, s.issue AS last_success_issue
FROM report_runs AS r
LEFT JOIN (
    SELECT * FROM report_runs WHERE status = 'succeeded' AND published
    QUALIFY row_number() OVER (PARTITION BY report ORDER BY started_at DESC, id DESC) = 1
) AS s ON s.report = r.report
QUALIFY row_number() OVER (PARTITION BY r.report ORDER BY r.started_at DESC, r.id DESC) = 1
ORDER BY r.report
"""


def insert_run(
    conn: connection.Connection,
    *,
    briefing_name: str,
    started_at: datetime,
    briefing_date: date,
    as_of: datetime | None,
    cutoff: datetime,
    formats: Sequence[str],
    definition_sha256: str,
    pid: int,
    triggered_by: str = "manual",
    scheduled_for: datetime | None = None,
    attempt: int = 1,
    params: str | None = None,
    published: bool = False,
    note: str | None = None,
) -> int:
    """Record a run as 'running'; returns its id. `params`: a variant's values as JSON;
    `published`: an issue (else a draft); `note`: the editor's note (Markdown)."""
    run_id = connection.next_id(conn, "report_run_ids")
    conn.execute(
        INSERT_RUN,
        [briefing_name, started_at, briefing_date, as_of, cutoff, ",".join(formats),
         definition_sha256, pid, triggered_by, scheduled_for, attempt, params, published,
         note, run_id, this_host()],
    )  # fmt: skip
    return run_id


def finish_run(
    conn: connection.Connection,
    run_id: int,
    *,
    status: str,
    finished_at: datetime,
    data_as_of: datetime | None = None,
    issue: int | None = None,
    output_dir: str | None = None,
    outputs: str | None = None,
    key_figures: str | None = None,
    error: str | None = None,
    key_messages: str | None = None,
) -> None:
    """Mark run `run_id` succeeded or failed, with what it produced or why it failed."""
    conn.execute(
        FINISH_RUN,
        [run_id, status, finished_at, data_as_of, issue, output_dir, outputs, key_figures,
         error, key_messages],
    )  # fmt: skip


def last_runs(conn: connection.Connection) -> pl.DataFrame:
    """The newest run of each briefing, with its newest succeeded run."""
    return connection.query(conn, LAST_RUNS)


# The start of the newest published issue of each briefing: what the scheduler's catch-up
# rule compares the last due time against (a draft never satisfies the schedule).
LAST_SUCCESSES = """
SELECT report, max(started_at) AS started_at
FROM report_runs
WHERE status = 'succeeded' AND published
GROUP BY report
"""

# The number the next issue of a briefing variant takes ($2: its parameters as JSON).
NEXT_ISSUE = """
SELECT coalesce(max(issue), 0) + 1 AS issue
FROM report_runs
WHERE report = $1 AND status = 'succeeded' AND published AND params IS NOT DISTINCT FROM $2
"""

# Every published issue of every briefing, newest first per briefing: the archive page.
PUBLISHED_ISSUES = """
SELECT id, report, params, issue, briefing_date, started_at, output_dir, outputs, key_figures
FROM report_runs
WHERE status = 'succeeded' AND published
ORDER BY report, started_at DESC, id DESC
"""

# The runs a process of this machine ($3: its host; the scheduler's child, by its pid)
# recorded since it was started; a pid of another machine sharing a team store is another
# process. Rows from before migration runs/008 have no host.
RUNS_OF_PROCESS = """
SELECT id, report, status, error, started_at, finished_at, output_dir, outputs
FROM report_runs
WHERE pid = $1 AND started_at >= $2 AND coalesce(host, $3) = $3
ORDER BY id
"""

# Runs a killed process left 'running' become 'failed' with the reason (each by FAIL_RUN).
UNFINISHED = """
SELECT id FROM report_runs
WHERE pid = $1 AND started_at >= $2 AND coalesce(host, $3) = $3 AND status = 'running'
ORDER BY id
"""

# One run, or the newest published issue ($2 true) or draft ($2 false) of a briefing.
RUN_BY_ID = """
SELECT * FROM report_runs WHERE id = $1 AND report = $2
"""
NEWEST_SUCCESS = """
SELECT * FROM report_runs
WHERE report = $1 AND status = 'succeeded' AND published = $2
ORDER BY started_at DESC, id DESC
LIMIT 1
"""
# The published issue before run $2 of briefing $1 (what that run compared against).
SUCCESS_BEFORE = """
SELECT * FROM report_runs
WHERE report = $1 AND status = 'succeeded' AND published AND id < $2
ORDER BY started_at DESC, id DESC
LIMIT 1
"""


def last_successes(conn: connection.Connection | None) -> dict[str, datetime]:
    """When the newest succeeded current run of each briefing started (UTC, naive)."""
    if conn is None:
        return {}
    return {row[0]: row[1] for row in connection.query(conn, LAST_SUCCESSES).iter_rows()}


def runs_of_process(conn: connection.Connection, pid: int, since: datetime) -> pl.DataFrame:
    """The runs process `pid` of this machine recorded since `since` (UTC), oldest first."""
    return connection.query(conn, RUNS_OF_PROCESS, [pid, since, this_host()])


def fail_unfinished(
    conn: connection.Connection, pid: int, since: datetime, error: str
) -> list[int]:
    """Mark the runs process `pid` of this machine left 'running' (since `since`) as failed;
    their ids."""
    moment = connection.utc_now()
    rows = conn.execute(UNFINISHED, [pid, since, this_host()]).fetchall()
    failed = [int(row[0]) for row in rows]
    for run_id in failed:
        conn.execute(FAIL_RUN, [run_id, moment, error])
    return failed


def run_by_id(
    conn: connection.Connection, briefing_name: str, run_id: int
) -> dict[str, object] | None:
    """Run `run_id` of briefing `briefing_name` as a dict, or None."""
    frame = connection.query(conn, RUN_BY_ID, [run_id, briefing_name])
    return frame.row(0, named=True) if frame.height else None


def newest_success(
    conn: connection.Connection, briefing_name: str, *, draft: bool = False
) -> dict[str, object] | None:
    """The newest published issue of `briefing_name` (with `draft`: its newest draft) as a dict,
    or None."""
    frame = connection.query(conn, NEWEST_SUCCESS, [briefing_name, not draft])
    return frame.row(0, named=True) if frame.height else None


def next_issue(conn: connection.Connection, briefing_name: str, params: str | None) -> int:
    """The number the next published issue of `briefing_name` (variant `params`, JSON) takes."""
    return int(connection.query(conn, NEXT_ISSUE, [briefing_name, params])["issue"][0])


def published_issues(conn: connection.Connection) -> pl.DataFrame:
    """Every published issue of every briefing, newest first within each briefing."""
    return connection.query(conn, PUBLISHED_ISSUES)


def success_before(
    conn: connection.Connection, briefing_name: str, run_id: int
) -> dict[str, object] | None:
    """The published issue of `briefing_name` before run `run_id`, or None."""
    frame = connection.query(conn, SUCCESS_BEFORE, [briefing_name, run_id])
    return frame.row(0, named=True) if frame.height else None


# --- runs and claims whose process is gone ---------------------------------------------------

RUNNING = """
SELECT id, report, pid, host, started_at FROM report_runs WHERE status = 'running' ORDER BY id
"""
FAIL_RUN = """
UPDATE report_runs SET status = 'failed', finished_at = $2, error = $3
WHERE id = $1 AND status = 'running'
"""
# Slack between a process's start (from /proc, whole seconds of boot time) and the
# started_at it recorded: a process that started later than this is another one (pid reuse).
_START_SLACK = 2.0
# How long a 'sending' claim (delivery_recipients, alerts_sent) of another machine counts as
# alive: one SMTP exchange with its retries (TRACKER_RUN_RETRIES, TRACKER_RETRY_DELAY, 60 s
# and 120 s by default) takes minutes, so a claim untouched for this long was left by a
# process that is gone.
CLAIM_BOUND = 15 * 60.0
# A render of another machine counts as alive for this many times the longest a scheduled
# render may take (TRACKER_RENDER_TIMEOUT + TRACKER_STOP_GRACE): a manual `tracker brief`
# has no timeout, and failing a render that is still running would be worse than noticing
# a crashed one late.
RUN_BOUND_FACTOR = 2


def this_host() -> str:
    """This machine's name, recorded beside every pid (`socket.gethostname()`)."""
    return socket.gethostname()


def run_bound() -> float:
    """Seconds a run of another machine left 'running' counts as alive:
    RUN_BOUND_FACTOR x (TRACKER_RENDER_TIMEOUT + TRACKER_STOP_GRACE), 22 min by default."""
    longest = settings.number(settings.RENDER_TIMEOUT, 1.0) + settings.number(settings.STOP_GRACE)
    return RUN_BOUND_FACTOR * longest


def claimant_gone(pid: int | None, host: str | None, since: datetime, bound: float) -> str | None:
    """Why the process that wrote a row (`pid` on `host`, at `since`, naive UTC) counts as
    gone, or None while it may still run: the one rule for runs and claims.

    A row of this machine (or with no host, recorded before runs/008) is judged by its pid
    (`process_alive`). A pid of another machine cannot be checked from here: its row counts
    as alive until it is older than `bound` seconds.
    e.g. "PID 123 on host-a, not heard of for 2 h (more than the 22 min allowed)".
    """
    if host is None or host == this_host():
        return None if process_alive(pid, since) else f"PID {pid}, which is gone"
    age = (connection.utc_now() - since).total_seconds()
    if age <= bound:
        return None
    return (f"PID {pid} on {host}, not heard of for {text.duration(age)} (more than the "
            f"{text.duration(bound)} allowed; a process of another machine cannot be checked "
            f"from {this_host()})")  # fmt: skip


def claim_gone(pid: int, host: str | None, since: datetime) -> str | None:
    """Who left a 'sending' claim (delivery_recipients, alerts_sent) and is gone, or None
    while its claimant may still be sending: `claimant_gone` with `CLAIM_BOUND`. A claim of
    this very process is its own to take again."""
    if pid == os.getpid() and host in (None, this_host()):
        return f"PID {pid} (this process)"
    return claimant_gone(pid, host, since, CLAIM_BOUND)


def dead_runs(conn: connection.Connection) -> list[tuple[int, str]]:
    """The runs left 'running' whose process is gone: (id, error to record)."""
    rows = conn.execute(RUNNING).fetchall()  # plain rows: `tracker sql` starts without polars
    bound = run_bound()
    dead = []
    for run_id, _, pid, host, started in rows:
        reason = claimant_gone(pid, host, started, bound)
        if reason is None:
            continue
        if host is None or host == this_host():
            error = (f"the process that rendered it (PID {pid}) is gone: it was killed or "
                     "crashed before it finished")  # fmt: skip
        else:
            error = f"left running by {reason}: taken as killed or crashed"
        dead.append((int(run_id), error))
    return dead


def fail_dead_runs(conn: connection.Connection) -> list[int]:
    """Mark the runs left 'running' by a process that is gone (killed, crashed, the machine
    restarted; on another machine: not heard of for longer than `run_bound`) as failed,
    with the reason; their ids."""
    failed = []
    for run_id, error in dead_runs(conn):
        moment = connection.utc_now()
        noticed = f" (noticed {moment:%Y-%m-%d %H:%M:%S} UTC on {this_host()})"
        conn.execute(FAIL_RUN, [run_id, moment, error + noticed])
        failed.append(run_id)
    return failed


def process_alive(pid: int | None, started_at: datetime) -> bool:
    """Whether the process that recorded a run at `started_at` (naive UTC) as `pid` still
    runs: the pid exists, is not a zombie and (where /proc tells) started by then, so a
    reused pid does not count."""
    if pid is None or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        pass  # another user's process: it exists
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        boot = next(line for line in Path("/proc/stat").read_text().splitlines()
                    if line.startswith("btime "))  # fmt: skip
    except (OSError, StopIteration):
        return True  # no /proc: the pid exists, trust it
    fields = stat[stat.rfind(")") + 2 :].split()  # after "pid (name) ": state is field 3
    if fields[0] in ("Z", "X"):
        return False  # a zombie: it ended, its parent has not reaped it yet
    started = int(boot.split()[1]) + int(fields[19]) / os.sysconf("SC_CLK_TCK")
    return started <= started_at.replace(tzinfo=UTC).timestamp() + _START_SLACK


# Issues under way now (runs of processes that are gone were failed when the file was opened).
IN_PROGRESS = """
SELECT report, min(started_at) AS started_at, any_value(pid) AS pid
FROM report_runs WHERE status = 'running' AND published GROUP BY report
"""


def runs_in_progress(conn: connection.Connection) -> dict[str, tuple[datetime, int | None]]:
    """Each briefing with an issue being published now: (when it started, its pid)."""
    rows = connection.query(conn, IN_PROGRESS).iter_rows()
    return {briefing_name: (started, pid) for briefing_name, started, pid in rows}
