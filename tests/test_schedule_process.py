"""The real scheduler (`python -m tracker schedule run`) as a subprocess, with a briefing due
every few seconds and a real SMTP server on loopback: e-mail with the PDF, runs recorded,
SIGTERM, catch-up after downtime, ingest / `tracker sql` / read-only sessions during runs,
and a database held by a writer."""

from __future__ import annotations

import io
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest
from pypdf import PdfReader

from tests.conftest import PROJECT, Inbox, copy_database, invoke, runs_rows

NAME = "ticker"
TICKER = """title = "Ticker"
audience = "The scheduler tests."
formats = ["pdf"]
initiatives = ["BRI"]
geographies = ["WLD"]

[schedule]
cron = "{cron}"
timezone = "UTC"
recipients = ["desk@example.org"]
owner = "owner@example.org"

[[sections]]
kind = "key_figures"
indicators = ["new_deal_value", "new_deals"]
"""


class Scheduler:
    """`tracker schedule run` in a subprocess; its stderr collected line by line."""

    def __init__(self, db: Path, env: dict[str, str], *args: str) -> None:
        self.lines: list[str] = []
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tracker", "--db", str(db), "schedule", "run", *args],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
        )  # fmt: skip
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def log(self) -> str:
        return "\n".join(self.lines)

    def wait_for(self, pattern: str, timeout: float = 60, count: int = 1) -> None:
        """Until `pattern` occurs `count` times in the log (or fail with the log)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(re.findall(pattern, self.log)) >= count:
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.1)
        pytest.fail(f"no {pattern!r} x{count} in the scheduler's log:\n{self.log}")

    def stop(self, timeout: float = 60) -> int:
        """SIGTERM, then its exit code."""
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=timeout)
        self.close()
        return code

    def close(self) -> None:
        self.reader.join(timeout=10)
        if self.process.stdout is not None:
            self.process.stdout.close()


@pytest.fixture
def project(tmp_path: Path, shipped_db_template: Path) -> tuple[Path, Path]:
    """A project folder whose reports/ holds only the test briefing, and its database."""
    home = tmp_path / "home"
    for folder in ("indicators", "templates"):
        shutil.copytree(PROJECT / folder, home / folder)
    (home / "reports").mkdir()
    db = tmp_path / "tracker.duckdb"
    copy_database(shipped_db_template, db)
    return home, db


def _environment(home: Path, inbox: Inbox | None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("TRACKER_") and k != "JOURNAL_STREAM"}  # fmt: skip
    env.update(TRACKER_HOME=str(home), TRACKER_RELOAD_INTERVAL="1", TRACKER_RETRY_DELAY="1",
               TRACKER_STOP_GRACE="30", TRACKER_BUSY_TIMEOUT="30")  # fmt: skip
    if inbox is not None:
        env.update(inbox.environment())
    env.update(extra)
    return env


def _write_definition(home: Path, cron: str) -> None:
    (home / "reports" / f"{NAME}.toml").write_text(TICKER.format(cron=cron), encoding="utf-8")


def _poll(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except duckdb.Error:
            pass  # the run history is being written at this moment
        time.sleep(0.05)
    pytest.fail(f"timed out waiting for {what}")


def _status_counts(db: Path) -> dict[str, int]:
    rows = runs_rows(db, "SELECT status, count(*) FROM report_runs GROUP BY status")
    return {str(status): int(str(count)) for status, count in rows}


@pytest.fixture
def cleanup() -> Iterator[list[Scheduler]]:
    started: list[Scheduler] = []
    yield started
    for scheduler in started:
        if scheduler.process.poll() is None:
            scheduler.process.kill()
            scheduler.process.wait(timeout=10)
        scheduler.close()


def test_scheduled_runs_are_rendered_recorded_and_mailed_while_others_use_the_database(
    project: tuple[Path, Path], smtp_server: Inbox, tmp_path: Path, cleanup: list[Scheduler]
) -> None:
    home, db = project
    _write_definition(home, "*/3 * * * * *")  # every 3 seconds (six fields, seconds first)
    # An analyst's read-only session stays open while the first runs happen.
    analyst = duckdb.connect(str(db), read_only=True)
    scheduler = Scheduler(db, _environment(home, smtp_server))
    cleanup.append(scheduler)
    try:
        scheduler.wait_for(r"tracker\.schedule: scheduled ticker: cron '\*/3 \* \* \* \* \*' UTC")
        scheduler.wait_for(r"tracker\.schedule: delivered ticker run=\d+ in \d+\.\d\ds")
        assert analyst.execute("SELECT count(*) FROM observations").fetchall()[0][0] > 0
    finally:
        analyst.close()
    # During a run, an ingest and `tracker sql` both succeed (they wait, nothing fails).
    done_before = _status_counts(db).get("succeeded", 0)
    _poll(lambda: _status_counts(db).get("running", 0) == 1, 30, "a run in progress")
    extra = tmp_path / "extra.csv"
    extra.write_text("indicator,initiative,geography,period,value,unit,source\n"
                     "new_deals,BRI,WLD,2026-H1,99,count,gfdc-bri-h1-2025\n",
                     encoding="utf-8")  # fmt: skip
    env = _environment(home, None)
    tracker = [sys.executable, "-m", "tracker", "--db", str(db)]
    ingest = subprocess.Popen([*tracker, "ingest", str(extra)], env=env, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)  # fmt: skip
    query = subprocess.run([*tracker, "sql", "--format", "csv", "SELECT count(*) AS n FROM "
                            "report_runs"], env=env, text=True, capture_output=True,
                           timeout=60)  # fmt: skip
    ingest_output, _ = ingest.communicate(timeout=60)
    assert ingest.returncode == 0, ingest_output
    assert "loaded 1 rows" in ingest_output
    assert query.returncode == 0, query.stderr
    assert int(query.stdout.splitlines()[1]) >= 1
    _poll(lambda: _status_counts(db).get("succeeded", 0) >= done_before + 2, 40,
          "two more runs after the ingest")  # fmt: skip
    assert scheduler.stop() == 0
    log = scheduler.log
    assert "tracker.schedule: received SIGTERM" in log and log.endswith("tracker.schedule: stopped")
    assert re.search(r"tracker\.schedule: started ticker \((scheduled|catch-up) due ", log)
    assert re.search(r"tracker\.schedule: finished ticker run=\d+ in \d+\.\d\ds", log)
    assert smtp_server.password not in log
    # the run history: every run finished (SIGTERM let the last one finish), none failed
    counts = _status_counts(db)
    assert counts.get("running", 0) == 0 and counts.get("failed", 0) == 0
    assert counts["succeeded"] >= 3
    rows = runs_rows(db, "SELECT DISTINCT triggered_by FROM report_runs")
    assert {row[0] for row in rows} <= {"scheduled", "catch-up"}
    assert runs_rows(db, "SELECT count(*) FROM report_runs WHERE scheduled_for IS NULL") == [(0,)]
    # the e-mail: to the definition's recipients, the PDF attached and readable
    sent = runs_rows(db, "SELECT count(*) FROM deliveries WHERE channel = 'email' "
                         "AND status = 'sent'")[0][0]  # fmt: skip
    assert sent == len(smtp_server.messages) >= 1
    message = smtp_server.messages[0]
    assert smtp_server.envelopes[0][1] == ["desk@example.org"]
    (attachment,) = list(message.iter_attachments())
    assert attachment.get_content_type() == "application/pdf"
    reader = PdfReader(io.BytesIO(attachment.get_content()))
    assert "Ticker" in reader.pages[0].extract_text()
    # the outbox holds the newest PDF, whole; no temporary file is left anywhere
    outbox = home / "reports" / "outbox" / f"{NAME}.pdf"
    assert PdfReader(outbox).pages
    assert not [p for p in (home / "reports").rglob("*") if ".tmp-" in p.name]


def test_after_a_stop_past_a_due_time_a_restart_runs_the_missed_briefing_exactly_once(
    project: tuple[Path, Path], smtp_server: Inbox, cleanup: list[Scheduler]
) -> None:
    home, db = project

    def daily_at(moment: datetime) -> None:
        _write_definition(home, f"{moment.second} {moment.minute} {moment.hour} * * *")

    # Daily, an hour from now: its newest due time (yesterday's) is covered by a manual run
    # now, so the first start has nothing to catch up, however long it takes to start.
    daily_at(datetime.now(UTC) + timedelta(hours=1))
    env = _environment(home, smtp_server)
    command = [sys.executable, "-m", "tracker", "--db", str(db), "brief", NAME, "--publish"]
    first = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stderr
    before = Scheduler(db, env)
    cleanup.append(before)
    before.wait_for(r"scheduled ticker: cron")
    assert before.stop() == 0
    assert "catch-up" not in before.log
    # Then daily at a time that passes while the scheduler is down.
    due = (datetime.now(UTC) + timedelta(seconds=2)).replace(microsecond=0)
    daily_at(due)
    while datetime.now(UTC) < due + timedelta(seconds=1):
        time.sleep(0.2)
    after = Scheduler(db, env)
    cleanup.append(after)
    after.wait_for(r"catch-up ticker: due \S+ \S+ UTC passed without a successful run")
    after.wait_for(r"delivered ticker run=\d+")
    time.sleep(2)  # nothing more comes
    assert after.stop() == 0
    rows = runs_rows(db, "SELECT triggered_by, status, scheduled_for FROM report_runs "
                         "WHERE triggered_by <> 'manual'")  # fmt: skip
    assert rows == [("catch-up", "succeeded", due.replace(tzinfo=None))]
    command = [sys.executable, "-m", "tracker", "--db", str(db), "schedule", "run", "--once"]
    once = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert once.returncode == 0, once.stderr
    assert "nothing due" in once.stderr
    assert runs_rows(db, "SELECT count(*) FROM report_runs") == [(2,)]
    assert len(smtp_server.messages) == 1


def test_sigterm_kills_a_render_after_the_grace_period_and_leaves_no_half_file(
    project: tuple[Path, Path], cleanup: list[Scheduler]
) -> None:
    home, db = project
    _write_definition(home, "*/2 * * * * *")
    scheduler = Scheduler(db, _environment(home, None, TRACKER_STOP_GRACE="0"))
    cleanup.append(scheduler)
    _poll(lambda: _status_counts(db).get("running", 0) == 1, 60, "a run in progress")
    assert scheduler.stop() == 0
    assert re.search(r"killing pid \d+: still running after the grace period", scheduler.log)
    ((status, error),) = runs_rows(db, "SELECT status, error FROM report_runs")
    assert status == "failed"
    assert "killed by SIGKILL after the stop grace period (TRACKER_STOP_GRACE)" in str(error)
    # what is at the published path (if anything) is whole; no temporary file stays there
    for pdf in (home / "reports" / "out").rglob("*.pdf"):
        assert PdfReader(pdf).pages
    assert not (home / "reports" / "outbox").exists()


def test_a_render_waits_for_a_writer_then_fails_naming_it_and_runs_beside_readers(
    project: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    home, db = project
    _write_definition(home, "0 7 * * *")
    monkeypatch.setenv("TRACKER_HOME", str(home))
    monkeypatch.setenv("TRACKER_BUSY_TIMEOUT", "1")
    holder = subprocess.Popen(
        [sys.executable, "-c", "import duckdb, sys, time\n"
         f"c = duckdb.connect({str(db)!r})\nprint('held', flush=True)\ntime.sleep(60)"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        started = time.monotonic()
        busy = invoke("brief", NAME, "--out", tmp_path / "out", db=db)
        waited = time.monotonic() - started
    finally:
        holder.kill()
        holder.communicate(timeout=10)
    assert busy.exit_code == 1
    message = " ".join(busy.output.split())
    assert f"{db}: the database is busy:" in message
    assert f"(PID {holder.pid}) holds it for writing" in message
    assert waited >= 1.0
    ((status, error),) = runs_rows(db, "SELECT status, error FROM report_runs")
    assert status == "failed" and f"PID {holder.pid}" in str(error)
    # An analyst's `duckdb -readonly` session (the stock CLI) does not stand in the way.
    cli = Path(sys.executable).with_name("duckdb")
    pipes = {"stdin": subprocess.PIPE, "stdout": subprocess.PIPE, "stderr": subprocess.PIPE}
    analyst = subprocess.Popen([str(cli), "-readonly", str(db)], text=True, **pipes)
    try:
        assert analyst.stdin is not None
        analyst.stdin.write("select count(*) from observations;\n")
        analyst.stdin.flush()
        time.sleep(0.5)
        assert analyst.poll() is None, "the analyst's session should be open"
        again = invoke("brief", NAME, "--out", tmp_path / "out", db=db)
    finally:
        analyst.communicate(timeout=10)  # closes its stdin: the session ends
    assert again.exit_code == 0, again.output
    assert runs_rows(db, "SELECT status FROM report_runs ORDER BY id") == [
        ("failed",),
        ("succeeded",),
    ]


VARIANTS = """title = "Desk note: {geography}"
audience = "The scheduler tests."
formats = ["pdf"]
initiatives = ["BRI"]
geographies = ["{geography}"]

[params.geography]
default = "KAZ"
values = ["KAZ", "UZB"]
on_schedule = "each"

[params.geography.recipients]
UZB = ["uzbekistan-desk@example.org"]

[schedule]
cron = "0 7 * * *"
timezone = "Europe/Brussels"
recipients = ["desk@example.org"]

[[sections]]
kind = "key_figures"
indicators = ["power_capacity"]
"""


def test_once_renders_each_scheduled_variant_and_mails_it_to_its_own_recipients(
    project: tuple[Path, Path], smtp_server: Inbox
) -> None:
    home, db = project
    (home / "reports" / "desk-note.toml").write_text(VARIANTS, encoding="utf-8")
    env = _environment(home, smtp_server)
    command = [sys.executable, "-m", "tracker", "--db", str(db), "schedule", "run", "--once"]
    once = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert once.returncode == 0, once.stderr
    assert re.search(r"finished desk-note\[geography=KAZ\] run=\d+", once.stderr)
    assert re.search(r"delivered desk-note\[geography=UZB\] run=\d+", once.stderr)
    rows = runs_rows(db, "SELECT params, status, triggered_by FROM report_runs ORDER BY id")
    assert rows == [('{"geography": "KAZ"}', "succeeded", "catch-up"),
                    ('{"geography": "UZB"}', "succeeded", "catch-up")]  # fmt: skip
    # one e-mail per recipient (each marked sent on its own): the desk gets both variants
    pairs = zip(smtp_server.envelopes, smtp_server.messages, strict=True)
    sent = sorted((envelope[1][0], message["Subject"].removeprefix("Desk note: ")[:10])
                  for envelope, message in pairs)  # fmt: skip
    assert sent == [("desk@example.org", "Kazakhstan"), ("desk@example.org", "Uzbekistan"),
                    ("uzbekistan-desk@example.org", "Uzbekistan")]  # fmt: skip
    outbox = sorted(p.name for p in (home / "reports" / "outbox").iterdir())
    assert outbox == ["desk-note--geography-KAZ.pdf", "desk-note--geography-UZB.pdf"]


def test_a_failed_run_is_retried_recorded_and_reported_to_the_owner_then_caught_up(
    project: tuple[Path, Path], smtp_server: Inbox
) -> None:
    home, db = project
    _write_definition(home, "0 7 * * *")
    env = _environment(home, smtp_server, TRACKER_BUSY_TIMEOUT="1", TRACKER_RUN_RETRIES="1",
                       TRACKER_RETRY_DELAY="0.2")  # fmt: skip
    command = [sys.executable, "-m", "tracker", "--db", str(db), "schedule", "run", "--once"]
    holder = subprocess.Popen(
        [sys.executable, "-c", "import duckdb, time\n"
         f"c = duckdb.connect({str(db)!r})\nprint('held', flush=True)\ntime.sleep(60)"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        failed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    finally:
        holder.kill()
        holder.communicate(timeout=10)
    assert failed.returncode == 1
    assert "retry ticker in 0.2s (attempt 2/2)" in failed.stderr
    assert re.search(rf"failed ticker run=\d+ in \S+ \(attempt 2/2\): .*PID {holder.pid}",
                     failed.stderr)  # fmt: skip
    assert "notified owner@example.org of the failure of ticker" in failed.stderr
    rows = runs_rows(db, "SELECT status, triggered_by, attempt, error FROM report_runs ORDER BY id")
    assert [row[:3] for row in rows] == [("failed", "catch-up", 1), ("failed", "retry", 2)]
    assert all(f"(PID {holder.pid}) holds it for writing" in str(row[3]) for row in rows)
    (notice,) = smtp_server.messages
    assert notice["To"] == "owner@example.org"
    assert notice["Subject"] == "tracker: the briefing ticker failed"
    assert "failed after 2 attempt(s)" in notice.get_content()
    # the writer is gone: the next --once runs the missed briefing, nothing is lost
    again = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    assert runs_rows(db, "SELECT status FROM report_runs ORDER BY id")[-1] == ("succeeded",)
    assert len(smtp_server.messages) == 2


def test_definitions_added_changed_or_removed_are_picked_up_without_a_restart(
    project: tuple[Path, Path], cleanup: list[Scheduler]
) -> None:
    home, db = project
    definition = home / "reports" / f"{NAME}.toml"
    scheduler = Scheduler(db, _environment(home, None))  # checks reports/ every second
    cleanup.append(scheduler)
    scheduler.wait_for(r"tracker\.schedule: started: db=")
    _write_definition(home, "0 7 * * *")
    scheduler.wait_for(r"scheduled ticker: cron '0 7 \* \* \*' UTC, next \S+ 07:00:00 UTC")
    _write_definition(home, "30 6 * * 1-5")
    scheduler.wait_for(r"rescheduled ticker: cron '30 6 \* \* 1-5' UTC")
    definition.write_text(TICKER.format(cron="0 7 * * *").replace("UTC", "Mars/Olympus"))
    scheduler.wait_for(r"not scheduled: \S+ticker\.toml: key 'schedule': unknown time zone")
    scheduler.wait_for(r"unscheduled ticker")
    definition.unlink()
    assert scheduler.stop() == 0
    assert "catch-up" not in scheduler.log and "started ticker" not in scheduler.log
    # SIGHUP reloads at once, whatever the interval
    slow = Scheduler(db, _environment(home, None, TRACKER_RELOAD_INTERVAL="600"))
    cleanup.append(slow)
    slow.wait_for(r"tracker\.schedule: started: db=")
    _write_definition(home, "0 7 * * *")
    slow.process.send_signal(signal.SIGHUP)
    slow.wait_for(r"scheduled ticker: cron", timeout=20)
    assert slow.stop() == 0


def _once(db: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "tracker", "--db", str(db), "schedule", "run", "--once"]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)


def _finished(counts: dict[str, int]) -> bool:
    """Whether a run is recorded and none is still going."""
    return bool(counts) and counts.get("running", 0) == 0


@pytest.mark.parametrize("moment", ["mid-render", "after-render"])
def test_a_scheduler_killed_mid_run_loses_no_issue_and_sends_it_once(
    project: tuple[Path, Path], smtp_server: Inbox, cleanup: list[Scheduler], moment: str
) -> None:
    home, db = project
    _write_definition(home, "0 7 1 * *")  # monthly: due (missed) now, once
    env = _environment(home, smtp_server)
    first = Scheduler(db, env, "--once")
    cleanup.append(first)
    if moment == "mid-render":
        first.wait_for(r"started ticker \(catch-up")
        time.sleep(1.5)
    else:  # the render recorded success; the kill comes before or while it is e-mailed
        _poll(lambda: _status_counts(db).get("succeeded", 0) == 1, 120, "a succeeded run")
    first.process.kill()
    first.process.wait(timeout=10)
    # the render child runs in its own session and outlives the scheduler; under load it may
    # not have recorded its run yet when the scheduler is killed, so wait for a finished run
    _poll(lambda: _finished(_status_counts(db)), 120, "the render to end")
    for _ in range(2):  # the next --once delivers what is owed; the one after sends nothing
        again = _once(db, env)
        assert again.returncode == 0, again.stderr
        assert "nothing due" in again.stderr
    ((run_id, status, delivery),) = runs_rows(db, "SELECT id, status, delivery FROM report_runs")
    assert (status, delivery) == ("succeeded", "delivered")
    # SIGKILL came before the server accepted anything: exactly one copy
    assert [envelope[1] for envelope in smtp_server.envelopes] == [["desk@example.org"]]
    assert re.fullmatch(rf"<briefing\.{run_id}\.[0-9a-f]{{24}}@example\.org>",
                        str(smtp_server.messages[0]["Message-ID"]))  # fmt: skip
    assert PdfReader(home / "reports" / "outbox" / f"{NAME}.pdf").pages
    assert runs_rows(db, "SELECT recipient, status FROM delivery_recipients") == [
        ("desk@example.org", "sent")
    ]


def test_a_due_time_while_the_previous_run_goes_on_is_skipped_and_logged(
    project: tuple[Path, Path], cleanup: list[Scheduler]
) -> None:
    home, db = project
    _write_definition(home, "* * * * * *")  # every second: due again while it renders
    scheduler = Scheduler(db, _environment(home, None))
    cleanup.append(scheduler)
    scheduler.wait_for(r"skipped ticker due \S+ \S+ UTC(, \S+ \S+ UTC)*: the previous run "
                       r"is still going \(coalesced\)", timeout=90)  # fmt: skip
    scheduler.wait_for(r"finished ticker run=\d+", timeout=90)
    assert scheduler.stop() == 0
    assert "Traceback" not in scheduler.log and "AttributeError" not in scheduler.log
