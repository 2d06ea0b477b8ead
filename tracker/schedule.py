"""Scheduled briefings: the `schedule` of each file in reports/ becomes a cron job
(APScheduler 3.x); each run renders in a child process with a time limit, then delivers.

Layer 3: the only APScheduler user. Imports settings, errors, models, definitions, store,
variants, briefing_runs, deliver. Pure parts (no clock, no processes): `parse_cron`, `job_specs`,
`last_due`, `catch_up_due`; `BriefingScheduler` runs them.

The scheduler holds no DuckDB connection between runs: it reads the run history in short
read-only connections (catch-up, the run a child recorded) and writes it only to mark a run
it killed as failed. The run history in DuckDB is the truth for what ran.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.events import EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED, JobEvent
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger

from tracker import (
    briefing_runs,
    deliver,
    report_definitions,
    settings,
    store,
    variants,
)
from tracker.errors import DefinitionError, TrackerError
from tracker.models import ReportDefinition

log = logging.getLogger("tracker.schedule")

WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
MISFIRE_GRACE = 600  # seconds a fire may be late (e.g. after a suspend) and still run
DELIVERY_TIMEOUT = 300.0  # seconds a `tracker deliver` child may take
# How far back `last_due` looks, widening until it finds a due time.
LOOKBACK = (timedelta(minutes=2), timedelta(hours=2), timedelta(days=2), timedelta(days=33),
            timedelta(days=367), timedelta(days=5 * 366))  # fmt: skip


# --- cron expressions and job specs (pure) ---------------------------------------------


class DstSafeCronTrigger(CronTrigger):  # type: ignore[misc]
    """A CronTrigger that fires a fixed wall-clock time once when clocks go back.

    APScheduler 3.x fires '30 2 * * *' twice on the night the clocks go back (02:30 CEST,
    then 02:30 CET). As cron does, a job at a fixed hour skips the repeated wall-clock time;
    a job for every hour (hour field '*') keeps running in real time. On the night the
    clocks go forward a time that does not exist (02:30) fires once, an hour later (03:30).
    """

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        probe = now.astimezone(UTC)
        if previous_fire_time is not None:  # as CronTrigger: from just after the last fire
            probe = min(probe, previous_fire_time.astimezone(UTC) + timedelta(microseconds=1))
        every_hour = str(self.fields[5]) == "*"  # fields: year month day week dow hour ...
        for _ in range(1000):
            fire: datetime | None = super().get_next_fire_time(None, probe)
            if fire is None:
                return None
            if fire.timestamp() < probe.timestamp():
                # In the repeated hour CronTrigger 3.x answers with the first occurrence
                # of the wall time (fold=0), which lies before `probe`: take the second.
                second = fire.replace(fold=1)
                if second.timestamp() < probe.timestamp():
                    probe = _after_repeated_hour(probe)
                    continue
                fire = second
            if not every_hour and _is_repeated_wall_time(fire):
                probe = _after_repeated_hour(fire)
                continue
            return fire
        return None


def _after_repeated_hour(moment: datetime) -> datetime:
    """The first whole minute after `moment` (UTC) whose wall-clock time is not repeated."""
    probe = moment.astimezone(UTC).replace(second=0, microsecond=0) + timedelta(minutes=1)
    zone = moment.tzinfo
    while _is_repeated_wall_time(probe.astimezone(zone)):
        probe += timedelta(minutes=1)
    return probe


def _is_repeated_wall_time(moment: datetime) -> bool:
    """True for the second occurrence of a wall-clock time in the hour the clocks go back."""
    first = moment.replace(tzinfo=None).replace(tzinfo=moment.tzinfo, fold=0)
    return first.utcoffset() != moment.utcoffset() and first.timestamp() < moment.timestamp()


def parse_cron(cron: str, timezone: str) -> DstSafeCronTrigger:
    """A trigger for a cron expression read in an IANA time zone; ValueError says what is wrong.

    Five fields: minute hour day-of-month month day-of-week (0 or 7 = Sunday, names allowed),
    or six with seconds first. Ranges, lists and steps as in cron; both day fields must match
    when both are restricted (cron fires when either does).

    >>> parse_cron("0 7 1 * *", "Europe/Brussels").get_next_fire_time(
    ...     None, datetime(2026, 3, 5, tzinfo=UTC)).isoformat()
    '2026-04-01T07:00:00+02:00'
    """
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone '{timezone}': expected an IANA name such as Europe/Brussels"
        ) from None
    fields = cron.split()
    if len(fields) not in (5, 6):
        raise ValueError(f"'{cron}' has {len(fields)} fields; expected 5 (or 6, seconds first)")
    second = fields.pop(0) if len(fields) == 6 else "0"
    minute, hour, day, month, weekday = fields
    try:
        return DstSafeCronTrigger(
            second=second,
            minute=minute,
            hour=hour,
            day=day,
            month=_months(month),
            day_of_week=_weekdays(weekday),
            timezone=zone,
        )
    except ValueError as error:
        raise ValueError(f"'{cron}': {error}") from None


def _weekdays(field: str) -> str:
    """A cron day-of-week field (0 or 7 = Sunday) as APScheduler 3.x day names (0 = Monday
    there), expanded to a list so ranges and steps keep cron's meaning."""
    days = {d % 7 for d in _expand(field.lower(), "day-of-week", 0, 7, 6, WEEKDAYS, 0)}
    return "*" if len(days) == 7 else ",".join(WEEKDAYS[d] for d in sorted(days))


def _months(field: str) -> str:
    """A cron month field (numbers or jan..dec) as a list of numbers."""
    months = _expand(field.lower(), "month", 1, 12, 12, MONTHS, 1)
    return "*" if len(months) == 12 else ",".join(str(m) for m in sorted(months))


def _expand(
    field: str, what: str, low: int, high: int, last_of_star: int, names: Sequence[str],
    offset: int,
) -> set[int]:  # fmt: skip
    """The numbers a cron field names: '*', 'a', 'a-b', each with '/step', comma lists."""

    def number(text: str) -> int:
        if text in names:
            return names.index(text) + offset
        if not text.isdigit() or not low <= int(text) <= high:
            raise ValueError(f"{what} field: found '{text}', expected {low}-{high} or a name")
        return int(text)

    found: set[int] = set()
    for part in field.split(","):
        base, slash, step_text = part.partition("/")
        if slash and (not step_text.isdigit() or int(step_text) == 0):
            raise ValueError(f"{what} field: found step '{step_text}', expected a number")
        step = int(step_text) if slash else 1
        if base == "*":
            first, last = low, last_of_star
        elif "-" in base:
            start, _, end = base.partition("-")
            first, last = number(start), number(end)
        else:
            first = number(base)
            last = last_of_star if slash else first  # 'a/n': from a to the end, every n
        if last < first:
            raise ValueError(f"{what} field: range '{base}' runs backwards")
        found.update(range(first, last + 1, step))
    return found


@dataclass(frozen=True)
class JobSpec:
    """One scheduled briefing: what the scheduler needs of its definition."""

    name: str
    cron: str
    timezone: str
    trigger: DstSafeCronTrigger
    sha256: str
    definition: ReportDefinition


def job_specs(found: Iterable[ReportDefinition]) -> tuple[list[JobSpec], list[str]]:
    """Jobs for every definition with a `schedule`, and a problem line for each bad one.

    >>> job_specs([])
    ([], [])
    """
    specs: list[JobSpec] = []
    problems: list[str] = []
    for definition in found:
        schedule = definition.schedule
        if schedule is None:
            continue
        try:
            trigger = parse_cron(schedule.cron, schedule.timezone)
        except ValueError as error:
            problems.append(f"{definition.path}: key 'schedule': {error}.")
            continue
        specs.append(JobSpec(definition.name, schedule.cron, schedule.timezone, trigger,
                             definition.sha256, definition))  # fmt: skip
    return specs, problems


def last_due(trigger: CronTrigger, now: datetime) -> datetime | None:
    """The trigger's newest fire time at or before `now` (aware), or None in five years."""
    for window in LOOKBACK:
        start = now - window
        fire: datetime | None = trigger.get_next_fire_time(None, start)
        found: datetime | None = None
        steps = 0
        while fire is not None and fire <= now and steps < 100_000:
            found = fire
            after = fire.astimezone(UTC) + timedelta(microseconds=1)
            fire = trigger.get_next_fire_time(fire, after)
            steps += 1
        if found is not None:
            return found
    return None


def catch_up_due(
    trigger: CronTrigger, now: datetime, last_success_started: datetime | None
) -> datetime | None:
    """The due time to run once now, when the newest due time passed without a successful
    run started at or after it; else None. `last_success_started` is naive UTC, as stored.

    Only the newest missed due time counts: after a week of downtime a daily briefing runs
    once, not seven times.
    """
    due = last_due(trigger, now)
    if due is None:
        return None
    if last_success_started is not None:
        if last_success_started.replace(tzinfo=UTC) >= due.astimezone(UTC):
            return None
    return due


# --- listing ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ScheduleListing:
    """One line of `tracker schedule list`."""

    name: str
    cron: str
    timezone: str
    last_run: str
    next_run: str
    catch_up: str


def list_schedules(
    db: Path, now: datetime | None = None
) -> tuple[list[ScheduleListing], list[str]]:
    """Each scheduled briefing with its cron, time zone, last run and next run."""
    moment = now or datetime.now(UTC)
    problems: list[str] = []
    specs, bad = job_specs(_load_each(settings.reports_dir(), problems))
    problems.extend(bad)
    last: dict[str, dict[str, Any]] = {}
    successes: dict[str, datetime] = {}
    if db.exists():
        with store.read_runs(db) as runs:
            if runs is not None:
                last = {r["report"]: r for r in briefing_runs.last_runs(runs).iter_rows(named=True)}
                successes = briefing_runs.last_successes(runs)
    listings = []
    for spec in specs:
        run = last.get(spec.name)
        upcoming = spec.trigger.get_next_fire_time(None, moment)
        due = catch_up_due(spec.trigger, moment, successes.get(spec.name))
        listings.append(
            ScheduleListing(
                name=spec.name,
                cron=spec.cron,
                timezone=spec.timezone,
                last_run=_last_run_text(run),
                next_run=f"{upcoming:%Y-%m-%d %H:%M:%S %Z}" if upcoming else "never",
                catch_up=f"missed {due:%Y-%m-%d %H:%M:%S %Z}" if due else "",
            )
        )
    return listings, problems


def _last_run_text(run: dict[str, Any] | None) -> str:
    if run is None:
        return "never"
    stamp = run["finished_at"] or run["started_at"]
    text = f"{run['status']} {stamp:%Y-%m-%d %H:%M:%S} UTC (run {run['id']})"
    return text + (f": {str(run['error']).splitlines()[0][:120]}" if run["error"] else "")


def _load_each(folder: Path, problems: list[str]) -> list[ReportDefinition]:
    """Every definition that loads; the error of each that does not goes to `problems`."""
    found = []
    for path in report_definitions.report_files(folder):
        try:
            found.append(report_definitions.load_report(path, settings.templates_dir()))
        except (DefinitionError, OSError) as error:
            problems.append(str(error))
    return found


# --- the scheduler ----------------------------------------------------------------------


@dataclass(frozen=True)
class ChildResult:
    """How one child process (`tracker brief` or `tracker deliver`) ended."""

    code: int
    pid: int
    stdout: str
    stderr: str
    seconds: float
    killed: str  # why it was killed, or ''


@dataclass(frozen=True)
class Outcome:
    """How one render attempt ended."""

    ok: bool
    run_id: int | None
    detail: str


class BriefingScheduler:
    """The foreground scheduler of `tracker schedule run` (and `--once`)."""

    def __init__(self, db: Path) -> None:
        self.db = db.resolve()
        self.python = sys.executable
        self.render_timeout = settings.number(settings.RENDER_TIMEOUT, 1.0)
        self.stop_grace = settings.number(settings.STOP_GRACE)
        self.reload_interval = settings.number(settings.RELOAD_INTERVAL, 0.2)
        self.retries = int(settings.number(settings.RUN_RETRIES))
        self.retry_delay = settings.number(settings.RETRY_DELAY)
        self.specs: dict[str, JobSpec] = {}
        self.locks: dict[str, threading.Lock] = {}
        self.children: dict[int, subprocess.Popen[str]] = {}
        self.state_lock = threading.Lock()  # guards children, active, killing
        self.active = 0  # run_briefing calls under way
        self.killing = False  # past the grace period: no new child starts
        self.stopping = threading.Event()
        self.wake = threading.Event()
        self.reload_requested = False
        self.second_signal = False
        self.folder_state: dict[str, str] = {}
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
        with self._single_instance(), self._signals():
            self.scheduler.start()
            log.info("started: db=%s reports=%s (checks reports/ every %gs; SIGHUP reloads)",
                     self.db, settings.reports_dir(), self.reload_interval)  # fmt: skip
            self._reload(initial=True)
            while not self.stopping.is_set():
                self.wake.wait(self.reload_interval)
                self.wake.clear()
                if self.stopping.is_set():
                    break
                forced, self.reload_requested = self.reload_requested, False
                if forced or self._state() != self.folder_state:
                    self._reload(initial=False)
            log.info("stopping: no new runs; waiting up to %gs for running ones", self.stop_grace)
            self.scheduler.pause()
            self._wait_or_kill()
            self.scheduler.shutdown(wait=True)
            log.info("stopped")

    def run_once(self) -> int:
        """Run every briefing that is due (catch-up rule) one after another, then return the
        number that failed. SIGTERM/SIGINT: the running one may finish within the grace."""
        with self._single_instance(), self._signals():
            specs = self._load_specs()
            due = self._catch_up_list(specs.values())
            if not due:
                log.info("nothing due: every briefing ran after its last due time")
            failures: list[str] = []

            def work() -> None:
                for spec, when in due:
                    if self.stopping.is_set():
                        break
                    if not self.run_briefing(spec.name, "catch-up", when, spec=spec):
                        failures.append(spec.name)

            worker = threading.Thread(target=work, name="tracker-once")
            worker.start()
            while worker.is_alive():
                worker.join(0.2)
                if self.stopping.is_set():
                    self._wait_or_kill()
            worker.join()
            return len(failures) + (1 if self.stopping.is_set() else 0)

    # --- one briefing ---

    def run_briefing(
        self,
        name: str,
        triggered_by: str = "scheduled",
        scheduled_for: datetime | None = None,
        *,
        spec: JobSpec | None = None,
    ) -> bool:
        """Render `name` in a child process (retried, bounded), then deliver; True if rendered.
        Never two at once for one briefing: a run that comes while one runs is skipped."""
        spec = spec or self.specs.get(name)
        if spec is None or self.stopping.is_set():
            return False
        lock = self.locks.setdefault(name, threading.Lock())
        if not lock.acquire(blocking=False):
            log.info("skipped %s: a run is still going (coalesced)", name)
            return False
        with self.state_lock:
            self.active += 1
        try:
            return self._attempts(spec, triggered_by, scheduled_for)
        finally:
            with self.state_lock:
                self.active -= 1
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

    def _units(self, spec: JobSpec) -> list[variants.ScheduledVariant]:
        """What one due time renders: the briefing, or each variant its schedule asks for
        (parameters with on_schedule = 'each'), read in a short read-only connection."""
        if not spec.definition.params:
            return [variants.ScheduledVariant(spec.definition, (spec.name,), ())]
        with store.connect(self.db, read_only=True) as conn:
            return variants.scheduled_variants(conn, spec.definition)

    def _unit(
        self, spec: JobSpec, unit: variants.ScheduledVariant, triggered_by: str,
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
        child = self._child(command, env, self.render_timeout, "TRACKER_RENDER_TIMEOUT")
        if child is None:
            return Outcome(False, None, "not started: the scheduler is stopping")
        run_id, status, error = self._recorded_run(child, since)
        if child.code == 0 and status == "succeeded":
            log.info("finished %s run=%s in %.2fs", label, run_id, child.seconds)
            return Outcome(True, run_id, child.stdout.strip())
        detail = child.killed or error or _last_line(child.stderr) or f"exit code {child.code}"
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
        child = self._child(command, dict(os.environ), DELIVERY_TIMEOUT, "the delivery limit")
        if child is None:
            log.warning("not delivered %s run=%s: the scheduler stopped; deliver it with "
                        "`tracker deliver %s --run %s`", label, run_id, name, run_id)  # fmt: skip
        elif child.code == 0:
            log.info("delivered %s run=%s in %.2fs: %s", label, run_id, child.seconds,
                     _last_line(child.stdout))  # fmt: skip
        else:
            detail = child.killed or _last_line(child.stderr) or f"exit code {child.code}"
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

    def _child(
        self, command: list[str], env: dict[str, str], timeout: float, limit: str
    ) -> ChildResult | None:
        """Run a child in its own session (a terminal's Ctrl-C reaches only the scheduler);
        None when the scheduler is past its grace period and starts nothing new."""
        started = time.monotonic()
        with self.state_lock:
            if self.killing:
                return None
            process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                       text=True, env=env, start_new_session=True)  # fmt: skip
            self.children[process.pid] = process
        killed = ""
        try:
            stdout, stderr = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            killed = f"killed after the time limit of {timeout:g}s ({limit})"
            _kill(process)
            stdout, stderr = process.communicate()
        finally:
            with self.state_lock:
                self.children.pop(process.pid, None)
        if process.returncode < 0 and not killed:
            name = signal.Signals(-process.returncode).name
            when = " after the stop grace period (TRACKER_STOP_GRACE)" if self.killing else ""
            killed = f"killed by {name}{when}"
        return ChildResult(process.returncode, process.pid, stdout, stderr,
                           time.monotonic() - started, killed)  # fmt: skip

    def _recorded_run(
        self, child: ChildResult, since: datetime
    ) -> tuple[int | None, str | None, str | None]:
        """The run a child recorded: (id, status, error); a killed child's run is failed."""
        try:
            if child.killed:
                with store.connect_runs(self.db) as runs:
                    briefing_runs.fail_unfinished(runs, child.pid, since, child.killed)
            with store.read_runs(self.db) as runs:
                if runs is None:
                    return None, None, None
                frame = briefing_runs.runs_of_process(runs, child.pid, since)
        except TrackerError as error:
            log.error("the run history could not be read: %s", error)
            return None, None, None
        if not frame.height:
            return None, None, None
        row = frame.row(-1, named=True)
        message = str(row["error"]).strip().splitlines()[0] if row["error"] else None
        return int(row["id"]), str(row["status"]), message

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
            for spec, when in self._catch_up_list(specs.values()):
                log.info("catch-up %s: due %s passed without a successful run", spec.name,
                         f"{when:%Y-%m-%d %H:%M:%S %Z}")  # fmt: skip
                self.scheduler.add_job(self.run_briefing, "date", id=f"catch-up:{spec.name}",
                                       args=[spec.name, "catch-up", when],
                                       replace_existing=True)  # fmt: skip

    def _load_specs(self) -> dict[str, JobSpec]:
        problems: list[str] = []
        try:
            found = _load_each(settings.reports_dir(), problems)
        except DefinitionError as error:
            log.error("not scheduled: %s", error)
            return {}
        specs, bad = job_specs(found)
        for problem in problems + bad:
            log.error("not scheduled: %s", problem)
        return {spec.name: spec for spec in specs}

    def _catch_up_list(self, specs: Iterable[JobSpec]) -> list[tuple[JobSpec, datetime]]:
        try:
            with store.read_runs(self.db) as runs:
                successes = briefing_runs.last_successes(runs)
        except TrackerError as error:
            log.error("no catch-up: the run history could not be read: %s", error)
            return []
        now = datetime.now(UTC)
        due = [(s, catch_up_due(s.trigger, now, successes.get(s.name))) for s in specs]
        return [(spec, when) for spec, when in due if when is not None]

    def _state(self) -> dict[str, str]:
        """sha256 of each file in reports/ (the cheap check behind reloading)."""
        state: dict[str, str] = {}
        try:
            for path in report_definitions.report_files(settings.reports_dir()):
                state[path.name] = hashlib.sha256(path.read_bytes()).hexdigest()
        except (DefinitionError, OSError):
            pass
        return state

    def _skipped(self, event: JobEvent) -> None:
        why = ("the previous run is still going" if event.code == EVENT_JOB_MAX_INSTANCES
               else "too late to run (the machine slept?)")  # fmt: skip
        log.info("skipped %s due %s: %s (coalesced)", event.job_id,
                 f"{event.scheduled_run_time:%Y-%m-%d %H:%M:%S %Z}", why)  # fmt: skip

    # --- stopping ---

    def _wait_or_kill(self) -> None:
        """Let running briefings finish within TRACKER_STOP_GRACE, then kill their children."""
        deadline = time.monotonic() + self.stop_grace
        while time.monotonic() < deadline:
            with self.state_lock:
                if not self.active and not self.children:
                    self.killing = True  # a job thread arriving now starts nothing
                    return
            if self.wake.wait(0.1):
                self.wake.clear()
                if self.stopping.is_set() and self.second_signal:
                    break  # a second SIGTERM/SIGINT: kill now
        with self.state_lock:
            self.killing = True
            running = list(self.children.values())
        for process in running:
            log.warning("killing pid %d: still running after the grace period", process.pid)
            _kill(process)

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
    def _single_instance(self) -> Iterator[None]:
        """One scheduler per database: a lock file beside it names the one running."""
        if not self.db.exists():
            raise TrackerError(
                f"{self.db}: no database here. Run `tracker init` to create it, or pass --db."
            )
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


def _kill(process: subprocess.Popen[str]) -> None:
    """SIGKILL the child and its process group."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        process.kill()


def _label(arguments: Sequence[str]) -> str:
    """'country-profile --param geography=KAZ' -> 'country-profile[geography=KAZ]'."""
    values = [a for a in arguments[1:] if a != "--param"]
    return f"{arguments[0]}[{','.join(values)}]" if values else arguments[0]


_LOG_LINE = re.compile(r"^(\S+Z )?tracker\.\w+: ")


def _last_line(text: str) -> str:
    """A child's message in one line: its output without its own log lines, or the last."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    message = [line for line in lines if not _LOG_LINE.match(line)] or lines[-1:]
    return " ".join(message)[-500:]


def log_format(to_journal: bool) -> str:
    """One line per event; journald stamps lines itself, elsewhere a UTC time leads."""
    return "%(name)s: %(message)s" if to_journal else "%(asctime)s %(name)s: %(message)s"
