"""Scheduled briefings: the `schedule` of each file in reports/ becomes a cron job
(APScheduler 3.x); the long-running service of `tracker schedule run` (and `--once`) with its
signals, reloading of reports/ and stop grace period.

It and schedule.cron are the only APScheduler users.

The scheduler holds no DuckDB connection between runs: it reads the run history in short
read-only connections (catch-up, the run a child recorded, deliveries owed) and writes it
to mark a run it killed as failed and what it delivered. The run history in DuckDB is the
truth for what ran and what was delivered: a run history that is missing or unreadable stops
the scheduler with the fix, it never counts as "nothing due".
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType

from apscheduler.events import (
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_MISSED,
    JobEvent,
    JobExecutionEvent,
    JobSubmissionEvent,
)
from apscheduler.schedulers.background import BackgroundScheduler

from tracker import definitions, settings, store
from tracker.errors import DefinitionError, TrackerError
from tracker.location import StoreLocation, may_exist
from tracker.schedule.attempts import Attempts
from tracker.schedule.children import ChildProcesses
from tracker.schedule.jobs import JobSpec, catch_up_due, job_specs, load_definitions

log = logging.getLogger("tracker.schedule")

# The advisory lock's name within the catalog's PostgreSQL database (the key is derived
# from it, tracker/schedule/catalog_lock.py); a database holds one tracker catalog.
TEAM_STORE_LOCK = "ducklake/default"
MISFIRE_GRACE = 600  # seconds a fire may be late (e.g. after a suspend) and still run


class BriefingScheduler:
    """The foreground scheduler of `tracker schedule run` (and `--once`)."""

    def __init__(
        self, db: StoreLocation, *, catalog: str | None = None, catalog_name: str = ""
    ) -> None:
        """`db`: a database file, whose lock file makes this the only scheduler (a second
        refuses), or a team store, whose catalog's PostgreSQL advisory lock a second scheduler
        waits for. `catalog` / `catalog_name` name that lock's server (a libpq connection
        string, no password) and catalog; by default the team store's own."""
        self.db = db.resolve() if isinstance(db, Path) else db
        if not isinstance(db, Path) and catalog is None:
            catalog, catalog_name = db.conninfo, catalog_name or TEAM_STORE_LOCK
        self.catalog = catalog
        self.catalog_name = catalog_name
        self.lock_lost = False
        self.still_held: Callable[[], bool] = lambda: True  # the lock session's check, once held
        self.stop_grace = settings.number(settings.STOP_GRACE)
        self.reload_interval = settings.number(settings.RELOAD_INTERVAL, 0.2)
        self.specs: dict[str, JobSpec] = {}
        self.children = ChildProcesses()
        self.stopping = threading.Event()
        self.runs = Attempts(self.db, self.children, self.stopping)
        self.wake = threading.Event()
        self.reload_requested = False
        self.second_signal = False
        self.folder_state: dict[str, str] = {}
        self.awaiting: set[str] = set()  # briefings another process is rendering right now
        self.scheduler = BackgroundScheduler(
            timezone=UTC,
            job_defaults={
                "max_instances": 1,
                "coalesce": True,
                "misfire_grace_time": MISFIRE_GRACE,
            },  # fmt: skip
        )
        self.scheduler.add_listener(self._skipped, EVENT_JOB_MAX_INSTANCES | EVENT_JOB_MISSED)

    # --- entry points ---

    def run_forever(self) -> None:
        """Schedule every briefing, catch up what was missed, run until SIGTERM/SIGINT;
        reload reports/ on SIGHUP and when its files change."""
        with self._signals(), self._single_instance() as held:
            if not held:
                return
            store.settle_run_history(self.db)  # missing or unreadable: stop here, with the fix
            self.scheduler.start()
            self._reload(initial=True)
            # said once the first definitions are scheduled: a definition added after this
            # line is a change (scheduled, not caught up), whatever the start-up took
            log.info("started: db=%s reports=%s (checks reports/ every %gs; SIGHUP reloads)",
                     self.db, settings.reports_dir(), self.reload_interval)  # fmt: skip
            self.scheduler.add_job(self.check_alerts, "interval", id="alerts",
                                   seconds=settings.number(settings.ALERT_INTERVAL, 1),
                                   next_run_time=datetime.now(UTC))  # fmt: skip
            while not self.stopping.is_set():
                self.wake.wait(self.reload_interval)
                self.wake.clear()
                if self.stopping.is_set() or not self._lock_held():
                    break
                forced, self.reload_requested = self.reload_requested, False
                if forced or self._state() != self.folder_state:
                    self._reload(initial=False)
                if self.awaiting:  # another process's run may have ended: pay what it owes
                    self._queue_owed_deliveries()
            log.info("stopping: no new runs; waiting up to %gs for running ones", self.stop_grace)
            self.scheduler.pause()
            self._wait_or_kill()
            self.scheduler.shutdown(wait=True)
            log.info("stopped")
        if self.lock_lost:
            raise TrackerError(self._lost_message())

    def run_once(self) -> int:
        """Run every briefing that is due (catch-up rule) one after another, then return the
        number that failed. SIGTERM/SIGINT: the running one may finish within the grace."""
        with self._signals(), self._single_instance() as held:
            if not held:
                return 1
            specs = self._load_specs()
            due = self._catch_up_list(specs.values())  # raises when the history is unreadable
            if not due and not self.awaiting:
                log.info("nothing due: every briefing ran after its last due time")
            failures: list[str] = []

            def work() -> None:
                if not self.runs.deliver_owed(specs):
                    failures.append("deliveries owed")
                for spec, when in due:
                    if self.stopping.is_set():
                        break
                    if not self.run_briefing(spec.name, "catch-up", when, spec=spec):
                        failures.append(spec.name)
                if not self.check_alerts():
                    failures.append("alerts owed")

            worker = threading.Thread(target=work, name="tracker-once")
            worker.start()
            while worker.is_alive():
                worker.join(0.2)
                if self.stopping.is_set():
                    self._wait_or_kill()
            worker.join()
            return len(failures) + (1 if self.stopping.is_set() else 0)

    def run_briefing(
        self,
        name: str,
        triggered_by: str = "scheduled",
        scheduled_for: datetime | None = None,
        *,
        spec: JobSpec | None = None,
    ) -> bool:
        """The job of briefing `name`: render it, then deliver (`Attempts.run`); True if
        rendered, False also when it is no longer scheduled."""
        spec = spec or self.specs.get(name)
        if spec is None:
            return False
        return self.runs.run(spec, triggered_by, scheduled_for)

    def check_alerts(self) -> bool:
        """Check every alert of reports/alerts/ and send what is owed (alerts.check_alerts);
        False when an alert stays owed or could not be checked (logged)."""
        from tracker import alerts

        if not self._lock_held():
            return False
        try:
            found = alerts.checked_definitions(self.db, settings.alerts_dir(),
                                               settings.reports_dir())  # fmt: skip
            outcomes = alerts.check_alerts(self.db, found, sleep=self._pause_alert)
        except TrackerError as error:
            log.error("alerts not checked: %s", error)
            return False
        complete = True
        for outcome in outcomes:
            for recipient, keys in outcome.sent.items():
                log.info("alert %s: sent %d event(s) to %s", outcome.definition.name,
                         len(keys), recipient)  # fmt: skip
            for recipient, why in outcome.owed.items():
                complete = False
                log.error("alert %s: not sent to %s, it stays owed: %s",
                          outcome.definition.name, recipient, why)  # fmt: skip
        return complete

    def _pause_alert(self, seconds: float) -> None:
        self.stopping.wait(seconds)

    # --- jobs ---

    def _reload(self, *, initial: bool) -> None:
        state = self._state()
        specs = self._load_specs()
        self.folder_state = state
        for name in sorted(set(self.specs) - set(specs)):
            self.scheduler.remove_job(name)
            log.info("unscheduled %s: its definition is gone or has no valid schedule", name)
        for name, spec in specs.items():
            old = self.specs.get(name)
            if old is not None and old.sha256 == spec.sha256:
                continue
            self.scheduler.add_job(self.run_briefing, spec.trigger, args=[name], id=name,
                                   name=name, replace_existing=True)  # fmt: skip
            upcoming = spec.trigger.get_next_fire_time(None, datetime.now(UTC))
            verb = "scheduled" if old is None else "rescheduled"
            log.info("%s %s: cron '%s' %s, next %s", verb, name, spec.cron, spec.timezone,
                     f"{upcoming:%Y-%m-%d %H:%M:%S %Z}" if upcoming else "never")  # fmt: skip
        self.specs = specs
        if initial:
            self._queue_owed_deliveries()
            for spec, when in self._catch_up_list(specs.values()):
                log.info("catch-up %s: due %s passed without a successful run", spec.name,
                         f"{when:%Y-%m-%d %H:%M:%S %Z}")  # fmt: skip
                self.scheduler.add_job(self.run_briefing, "date", id=f"catch-up:{spec.name}",
                                       args=[spec.name, "catch-up", when],
                                       replace_existing=True)  # fmt: skip

    def _load_specs(self) -> dict[str, JobSpec]:
        problems: list[str] = []
        try:
            found = load_definitions(settings.reports_dir(), problems)
        except DefinitionError as error:
            log.error("not scheduled: %s", error)
            return {}
        specs, bad = job_specs(found)
        for problem in problems + bad:
            log.error("not scheduled: %s", problem)
        return {spec.name: spec for spec in specs}

    def _catch_up_list(self, specs: Iterable[JobSpec]) -> list[tuple[JobSpec, datetime]]:
        """What to catch up now. A briefing another process is rendering (a render child
        that outlived a killed scheduler, a manual run) is left to it: its success counts,
        and its delivery is paid when it ends. TrackerError when the run history is
        missing or unreadable: never "nothing due" by mistake."""
        with store.read_run_history(self.db) as runs:
            successes = store.last_successes(runs)
            going = store.runs_in_progress(runs)
        now = datetime.now(UTC)
        self.awaiting = set()
        found = []
        for spec in specs:
            when = catch_up_due(spec.trigger, now, successes.get(spec.name))
            if spec.name in going:
                started, pid = going[spec.name]
                self.awaiting.add(spec.name)
                if when is not None:
                    log.info("catch-up %s: left to the run started %s UTC by PID %s, still "
                             "going; it is delivered when it succeeds", spec.name,
                             f"{started:%Y-%m-%d %H:%M:%S}", pid)  # fmt: skip
                continue
            if when is not None:
                found.append((spec, when))
        return found

    def _queue_owed_deliveries(self) -> None:
        """Pay the deliveries owed, in a job thread (the main thread keeps taking signals);
        while another process renders a briefing, check again at each reload interval."""
        if self.awaiting:
            try:
                with store.read_run_history(self.db) as runs:
                    self.awaiting &= set(store.runs_in_progress(runs))
            except TrackerError as error:
                log.error("the run history could not be read: %s", error)
                return
        self.scheduler.add_job(self.runs.deliver_owed, "date", args=[self.specs],
                               id="deliver-owed", replace_existing=True)  # fmt: skip

    def _state(self) -> dict[str, str]:
        """sha256 of each file in reports/ (the cheap check behind reloading)."""
        state: dict[str, str] = {}
        try:
            for path in definitions.briefing_files(settings.reports_dir()):
                state[path.name] = hashlib.sha256(path.read_bytes()).hexdigest()
        except (DefinitionError, OSError):
            pass
        return state

    def _skipped(self, event: JobEvent) -> None:
        """APScheduler skipped a due time: a JobSubmissionEvent (max instances: the previous
        run is still going) carries `scheduled_run_times`, a JobExecutionEvent (missed)
        one `scheduled_run_time`."""
        if isinstance(event, JobSubmissionEvent):
            times = list(event.scheduled_run_times)
        elif isinstance(event, JobExecutionEvent):
            times = [event.scheduled_run_time]
        else:
            times = []
        why = ("the previous run is still going" if event.code == EVENT_JOB_MAX_INSTANCES
               else "too late to run (the machine slept?)")  # fmt: skip
        due = ", ".join(f"{moment:%Y-%m-%d %H:%M:%S %Z}" for moment in times) or "unknown"
        log.info("skipped %s due %s: %s (coalesced)", event.job_id, due, why)

    # --- stopping ---

    def _wait_or_kill(self) -> None:
        """Let running briefings finish within TRACKER_STOP_GRACE, then kill their children."""
        deadline = time.monotonic() + self.stop_grace
        while time.monotonic() < deadline:
            if self.children.stop_if_idle():
                return
            if self.wake.wait(0.1):
                self.wake.clear()
                if self.stopping.is_set() and self.second_signal:
                    break  # a second SIGTERM/SIGINT: kill now
        self.children.kill_remaining()

    @contextmanager
    def _signals(self) -> Iterator[None]:
        def stop(number: int, frame: FrameType | None) -> None:
            if self.stopping.is_set():
                self.second_signal = True
            else:
                log.info("received %s", signal.Signals(number).name)
            self.stopping.set()
            self.wake.set()

        def reload(number: int, frame: FrameType | None) -> None:
            self.reload_requested = True
            self.wake.set()

        previous = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}
        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGHUP, reload)
        try:
            yield
        finally:
            for number, handler in previous.items():
                signal.signal(number, handler)

    @contextmanager
    def _single_instance(self) -> Iterator[bool]:
        """One scheduler per store; yields False when told to stop before it got the lock.
        A database file: a lock file beside it names the one running, and a second refuses.
        A team store: its catalog's PostgreSQL advisory lock, which a second waits for."""
        if self.catalog is None:
            with self._lock_file():
                yield True
            return
        from tracker.schedule.catalog_lock import LockWaitStopped, scheduler_lock_in_postgres

        try:
            with scheduler_lock_in_postgres(self.catalog, self.catalog_name, log=log,
                                            poll=self.reload_interval,
                                            stop=self.stopping) as held:  # fmt: skip
                self.runs.may_start = self._lock_held
                self.still_held = held.still_held
                yield True
        except LockWaitStopped:
            log.info("stopped while waiting for the catalog's scheduler lock; ran nothing")
            yield False

    def _lock_held(self) -> bool:
        """False (logged once, and the scheduler stops taking jobs) from the moment the team
        store's lock session is lost; always True on a database file, whose lock lives as
        long as this process."""
        if self.catalog is None:
            return True
        if not self.lock_lost and not self.still_held():
            self.lock_lost = True
            log.error("%s", self._lost_message())
            self.stopping.set()
            self.wake.set()
        return not self.lock_lost

    def _lost_message(self) -> str:
        return ("The scheduler lost its connection to the catalog's PostgreSQL server, and "
                "with it the lock that makes it the only scheduler of this catalog: it starts "
                "no more jobs and stops (a running render may finish). Start it again: it "
                "waits for the lock, as a standby does.")  # fmt: skip

    @contextmanager
    def _lock_file(self) -> Iterator[None]:
        """One scheduler per database file: a lock file beside it names the one running."""
        if not may_exist(self.db):
            raise TrackerError(
                f"{self.db}: no database here. Run `tracker init` to create it, or pass --db."
            )
        assert isinstance(self.db, Path)  # a team store takes its catalog's lock instead
        path = self.db.with_name(f"{self.db.name}.scheduler.lock")
        with open(path, "a+", encoding="utf-8") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.seek(0)
                holder = handle.read().strip() or "another process"
                raise TrackerError(
                    f"{self.db}: a scheduler is already running for this database ({holder}). "
                    "Stop it first (systemctl stop tracker-scheduler), or use another --db."
                ) from None
            handle.seek(0)
            handle.truncate()
            handle.write(f"PID {os.getpid()}\n")
            handle.flush()
            yield
