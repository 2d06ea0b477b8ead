"""One due briefing, run to the end: each variant its schedule asks for rendered in a child
process (`tracker brief`, time-limited, retried with a growing delay), then delivered by
another (`tracker deliver`); the owner is e-mailed when every attempt failed.

Reads the run history only in short connections, and writes it only to mark the run of a
child it killed as failed.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tracker import briefing, deliver, settings, store
from tracker.errors import TrackerError
from tracker.schedule.children import ChildProcesses, ChildResult, last_line
from tracker.schedule.jobs import JobSpec, last_due

log = logging.getLogger("tracker.schedule")

DELIVERY_TIMEOUT = 300.0  # seconds a `tracker deliver` child may take


@dataclass(frozen=True)
class Outcome:
    """How one render attempt ended."""

    ok: bool
    run_id: int | None
    detail: str


class Attempts:
    """Runs due briefings for one database, never two at once for one briefing."""

    def __init__(self, db: Path, children: ChildProcesses, stopping: threading.Event) -> None:
        self.db = db
        self.children = children
        self.stopping = stopping  # set: no new attempt, no retry
        self.python = sys.executable
        self.render_timeout = settings.number(settings.RENDER_TIMEOUT, 1.0)
        self.retries = int(settings.number(settings.RUN_RETRIES))
        self.retry_delay = settings.number(settings.RETRY_DELAY)
        self.locks: dict[str, threading.Lock] = {}

    def run(self, spec: JobSpec, triggered_by: str, scheduled_for: datetime | None) -> bool:
        """Render `spec` in a child process (retried, bounded), then deliver; True if rendered.
        A run that comes while one of the same briefing runs is skipped."""
        if self.stopping.is_set():
            return False
        lock = self.locks.setdefault(spec.name, threading.Lock())
        if not lock.acquire(blocking=False):
            log.info("skipped %s: a run is still going (coalesced)", spec.name)
            return False
        try:
            with self.children.busy():
                return self._attempts(spec, triggered_by, scheduled_for)
        finally:
            lock.release()

    def _attempts(self, spec: JobSpec, triggered_by: str, scheduled_for: datetime | None) -> bool:
        due = scheduled_for or last_due(spec.trigger, datetime.now(UTC))
        try:
            units = self._units(spec)
        except TrackerError as error:
            log.error("failed %s: its variants could not be listed: %s", spec.name, error)
            if not self.stopping.is_set():
                self._notify_owner(spec, Outcome(False, None, str(error)), 1)
            return False
        results = [self._unit(spec, unit, triggered_by, due) for unit in units]
        return all(results)

    def _units(self, spec: JobSpec) -> list[briefing.ScheduledVariant]:
        """What one due time renders: the briefing, or each variant its schedule asks for
        (parameters with on_schedule = 'each'), read in a short read-only connection."""
        if not spec.definition.params:
            return [briefing.ScheduledVariant(spec.definition, (spec.name,), ())]
        with store.connect(self.db, read_only=True) as conn:
            return briefing.scheduled_variants(conn, spec.definition)

    def _unit(
        self, spec: JobSpec, unit: briefing.ScheduledVariant, triggered_by: str,
        due: datetime | None,
    ) -> bool:  # fmt: skip
        label = _label(unit.arguments)
        attempts = 1 + self.retries
        outcome = Outcome(False, None, "not started")
        attempt = 0
        for attempt in range(1, attempts + 1):
            trigger = triggered_by if attempt == 1 else "retry"
            outcome = self._render(label, unit.arguments, trigger, due, attempt, attempts)
            if outcome.ok:
                self._deliver(spec.name, label, outcome.run_id, unit.recipients)
                return True
            if attempt == attempts or self.stopping.is_set():
                break
            delay = self.retry_delay * 2 ** (attempt - 1)
            log.info("retry %s in %gs (attempt %d/%d)", label, delay, attempt + 1, attempts)
            if self.stopping.wait(delay):
                break
        if self.stopping.is_set():
            log.warning("gave up %s run=%s: the scheduler is stopping", label, outcome.run_id)
        else:
            self._notify_owner(spec, outcome, attempt)
        return False

    def _render(
        self, label: str, arguments: Sequence[str], triggered_by: str, due: datetime | None,
        attempt: int, attempts: int,
    ) -> Outcome:  # fmt: skip
        env = dict(os.environ)
        env[settings.RUN_TRIGGER.env] = triggered_by
        env[settings.SCHEDULED_FOR.env] = due.astimezone(UTC).isoformat() if due else ""
        env[settings.RUN_ATTEMPT.env] = str(attempt)
        command = [self.python, "-m", "tracker", "--db", str(self.db), "brief", *arguments]
        due_text = f" due {due:%Y-%m-%d %H:%M:%S %Z}" if due else ""
        log.info("started %s (%s%s, attempt %d/%d)", label, triggered_by, due_text,
                 attempt, attempts)  # fmt: skip
        since = store.utc_now() - timedelta(seconds=1)
        child = self.children.run(command, env, self.render_timeout, "TRACKER_RENDER_TIMEOUT")
        if child is None:
            return Outcome(False, None, "not started: the scheduler is stopping")
        run_id, status, error = self._recorded_run(child, since)
        if child.code == 0 and status == "succeeded":
            log.info("finished %s run=%s in %.2fs", label, run_id, child.seconds)
            return Outcome(True, run_id, child.stdout.strip())
        detail = child.killed or error or last_line(child.stderr) or f"exit code {child.code}"
        log.error("failed %s run=%s in %.2fs (attempt %d/%d): %s", label, run_id,
                  child.seconds, attempt, attempts, detail)  # fmt: skip
        return Outcome(False, run_id, detail)

    def _deliver(
        self, name: str, label: str, run_id: int | None, recipients: Sequence[str]
    ) -> None:
        """`tracker deliver NAME --run ID` (with `--to` for a variant's own recipients)."""
        if run_id is None:
            return
        command = [self.python, "-m", "tracker", "--db", str(self.db), "deliver", name,
                   "--run", str(run_id)]  # fmt: skip
        for address in recipients:
            command += ["--to", address]
        child = self.children.run(command, dict(os.environ), DELIVERY_TIMEOUT, "the delivery limit")
        if child is None:
            log.warning("not delivered %s run=%s: the scheduler stopped; deliver it with "
                        "`tracker deliver %s --run %s`", label, run_id, name, run_id)  # fmt: skip
        elif child.code == 0:
            log.info("delivered %s run=%s in %.2fs: %s", label, run_id, child.seconds,
                     last_line(child.stdout))  # fmt: skip
        else:
            detail = child.killed or last_line(child.stderr) or f"exit code {child.code}"
            log.error("delivery failed %s run=%s in %.2fs: %s", label, run_id,
                      child.seconds, detail)  # fmt: skip

    def _notify_owner(self, spec: JobSpec, outcome: Outcome, attempts: int) -> None:
        try:
            sent = deliver.notify_failure(self.db, spec.definition, run_id=outcome.run_id,
                                          error=outcome.detail, attempts_made=attempts)  # fmt: skip
        except TrackerError as error:
            log.error("failure notice for %s not sent: %s", spec.name, error)
            return
        if sent and spec.definition.schedule is not None:
            log.info("notified %s of the failure of %s run=%s",
                     spec.definition.schedule.owner, spec.name, outcome.run_id)  # fmt: skip

    def _recorded_run(
        self, child: ChildResult, since: datetime
    ) -> tuple[int | None, str | None, str | None]:
        """The run a child recorded: (id, status, error); a killed child's run is failed."""
        try:
            if child.killed:
                with store.connect_run_history(self.db) as runs:
                    store.fail_unfinished(runs, child.pid, since, child.killed)
            with store.read_run_history(self.db) as runs:
                if runs is None:
                    return None, None, None
                frame = store.runs_of_process(runs, child.pid, since)
        except TrackerError as error:
            log.error("the run history could not be read: %s", error)
            return None, None, None
        if not frame.height:
            return None, None, None
        row = frame.row(-1, named=True)
        message = str(row["error"]).strip().splitlines()[0] if row["error"] else None
        return int(row["id"]), str(row["status"]), message


def _label(arguments: Sequence[str]) -> str:
    """'country-profile --param geography=KAZ' -> 'country-profile[geography=KAZ]'."""
    values = [a for a in arguments[1:] if a != "--param"]
    return f"{arguments[0]}[{','.join(values)}]" if values else arguments[0]
