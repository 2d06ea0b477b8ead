"""Which briefings are scheduled and when they are due: report definitions become job specs,
a trigger gives its newest due time and the one to catch up, and `tracker schedule list`
gets its rows.

`job_specs`, `last_due` and `catch_up_due` are pure (no clock, no processes).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tracker import definitions, settings, store
from tracker.errors import DefinitionError
from tracker.location import StoreLocation, may_exist
from tracker.models import BriefingDefinition
from tracker.schedule.cron import DstSafeCronTrigger, parse_cron

# How far back `last_due` looks, widening until it finds a due time.
LOOKBACK = (timedelta(minutes=2), timedelta(hours=2), timedelta(days=2), timedelta(days=33),
            timedelta(days=367), timedelta(days=5 * 366))  # fmt: skip


@dataclass(frozen=True)
class JobSpec:
    """One scheduled briefing: what the scheduler needs of its definition."""

    name: str
    cron: str
    timezone: str
    trigger: DstSafeCronTrigger
    sha256: str
    definition: BriefingDefinition


def job_specs(found: Iterable[BriefingDefinition]) -> tuple[list[JobSpec], list[str]]:
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


def last_due(trigger: DstSafeCronTrigger, now: datetime) -> datetime | None:
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
    trigger: DstSafeCronTrigger, now: datetime, last_success_started: datetime | None
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
    db: StoreLocation, now: datetime | None = None
) -> tuple[list[ScheduleListing], list[str]]:
    """Each scheduled briefing with its cron, time zone, last run and next run."""
    moment = now or datetime.now(UTC)
    problems: list[str] = []
    specs, bad = job_specs(load_definitions(settings.reports_dir(), problems))
    problems.extend(bad)
    last: dict[str, dict[str, Any]] = {}
    successes: dict[str, datetime] = {}
    if may_exist(db):
        with store.read_run_history(db) as runs:
            last = {r["report"]: r for r in store.last_runs(runs).iter_rows(named=True)}
            successes = store.last_successes(runs)
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


def load_definitions(folder: Path, problems: list[str]) -> list[BriefingDefinition]:
    """Every definition that loads; the error of each that does not goes to `problems`."""
    found = []
    for path in definitions.briefing_files(folder):
        try:
            found.append(definitions.load_briefing(path, settings.templates_dir()))
        except (DefinitionError, OSError) as error:
            problems.append(str(error))
    return found
