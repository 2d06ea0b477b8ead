"""One due briefing, run to the end: each variant its schedule asks for published in a child
process (`tracker brief --publish`, time-limited, retried with a growing delay), then every
delivery its briefing owes paid (`deliver.deliver_owed`: a succeeded scheduled run owes one,
recorded with its success, so a scheduler killed in between loses nothing); the owner is
e-mailed when every attempt failed.

Reads the run history only in short connections, and writes it to mark the run of a child
it killed as failed and, through deliver_owed, what was delivered to whom.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from tracker import briefing, deliver, settings, store
from tracker.errors import TrackerError
from tracker.location import StoreLocation
from tracker.schedule.children import ChildProcesses, ChildResult, last_line
from tracker.schedule.jobs import JobSpec, last_due

log = logging.getLogger("tracker.schedule")


@dataclass(frozen=True)
class Outcome:
    """How one render attempt ended."""

    ok: bool
    run_id: int | None
    detail: str


class Attempts:
    """Runs due briefings for one database, never two at once for one briefing."""

    def __init__(
        self, db: StoreLocation, children: ChildProcesses, stopping: threading.Event
    ) -> None:
        self.db = db
        self.children = children
        self.stopping = stopping  # set: no new attempt, no retry
        self.python = sys.executable
        self.render_timeout = settings.number(settings.RENDER_TIMEOUT, 1.0)
        self.retries = int(settings.number(settings.RUN_RETRIES))
        self.retry_delay = settings.number(settings.RETRY_DELAY)
        self.locks: dict[str, threading.Lock] = {}
        # Asked before each render and delivery: False when this scheduler no longer holds
        # its store's lock (a team store's PostgreSQL session was lost); the service sets it.
        self.may_start: Callable[[], bool] = lambda: True

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
                self._deliver_owed({spec.name: spec}, locked=True)
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
        if not self.may_start():
            return Outcome(False, None, "not started: the scheduler lost its store's lock")
        env = dict(os.environ)
        env[settings.RUN_TRIGGER.env] = triggered_by
        env[settings.SCHEDULED_FOR.env] = due.astimezone(UTC).isoformat() if due else ""
        env[settings.RUN_ATTEMPT.env] = str(attempt)
        command = [self.python, "-m", "tracker", "--db", str(self.db), "brief", "--publish",
                   *arguments]  # fmt: skip
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

    def deliver_owed(self, specs: Mapping[str, JobSpec]) -> bool:
        """Pay every delivery a succeeded scheduled run of `specs` owes (see deliver.owed);
        False when one is left owed. A briefing running now pays its own after its run."""
        with self.children.busy():
            return self._deliver_owed(specs, locked=False)

    def _deliver_owed(self, specs: Mapping[str, JobSpec], *, locked: bool) -> bool:
        """`locked`: the caller holds the lock of the (one) briefing in `specs`."""
        if not self.may_start():
            return False
        try:
            owed = deliver.owed_runs(self.db)
        except TrackerError as error:
            log.error("no delivery: %s", error)
            return False
        complete = True
        for run in owed:
            spec = specs.get(run.briefing_name)
            if spec is None:
                if len(specs) > 1 or not locked:  # all scheduled briefings were asked for
                    log.warning("not delivered %s run=%d: it is no longer scheduled; deliver "
                                "it with `tracker deliver %s --run %d`", run.briefing_name,
                                run.run_id, run.briefing_name, run.run_id)  # fmt: skip
                    complete = False
                continue
            lock = self.locks.setdefault(spec.name, threading.Lock())
            if not locked and not lock.acquire(blocking=False):
                continue  # its run is under way and pays it when it ends
            try:
                complete = self._deliver_one(spec, run) and complete
            finally:
                if not locked:
                    lock.release()
        return complete

    def _deliver_one(self, spec: JobSpec, run: deliver.OwedRun) -> bool:
        label = _label_of_params(run.briefing_name, run.params)
        started = time.monotonic()
        try:
            done = deliver.deliver_owed(self.db, spec.definition, run.run_id,
                                        sleep=self._pause)  # fmt: skip
        except TrackerError as error:
            log.error("delivery failed %s run=%d in %.2fs: %s", label, run.run_id,
                      time.monotonic() - started, error)  # fmt: skip
            return False
        where = f"outbox {done.outbox}" if done.outbox else "outbox has a newer issue"
        mailed = f"e-mailed to {', '.join(done.sent)}" if done.sent else "no e-mail due"
        if done.already:
            mailed += f" (already sent to {', '.join(done.already)})"
        if done.elsewhere:
            mailed += (f"; still owed to {', '.join(done.elsewhere)}, which another process "
                       "claimed and may be sending now")  # fmt: skip
        log.info("delivered %s run=%d in %.2fs: %s; %s", label, run.run_id,
                 time.monotonic() - started, where, mailed)  # fmt: skip
        return done.complete

    def _pause(self, seconds: float) -> None:
        """Wait between e-mail retries; cut short when the scheduler stops."""
        self.stopping.wait(seconds)

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
                store.run_history_write(
                    self.db,
                    lambda runs: store.fail_unfinished(runs, child.pid, since, child.killed),
                    what=f"the failure of the killed render (PID {child.pid})",
                    fail_dead=False,
                )
            with store.read_run_history(self.db) as runs:
                frame = store.runs_of_process(runs, child.pid, since)
        except TrackerError as error:
            log.error("the run history could not be read: %s", error)
            return None, None, None
        if not frame.height:
            return None, None, None
        row = frame.row(-1, named=True)
        message = str(row["error"]).strip().splitlines()[0] if row["error"] else None
        return int(row["id"]), str(row["status"]), message


def _label_of_params(briefing_name: str, params: str | None) -> str:
    """'country-profile', '{"geography": "KAZ"}' -> 'country-profile[geography=KAZ]'."""
    values = json.loads(params) if params else {}
    inner = ",".join(f"{name}={value}" for name, value in values.items())
    return f"{briefing_name}[{inner}]" if inner else briefing_name


def _label(arguments: Sequence[str]) -> str:
    """'country-profile --param geography=KAZ' -> 'country-profile[geography=KAZ]'."""
    values = [a for a in arguments[1:] if a != "--param"]
    return f"{arguments[0]}[{','.join(values)}]" if values else arguments[0]
