"""Cron expressions read in an IANA time zone, as APScheduler 3.x triggers that fire a fixed
wall-clock time once on the nights the clocks change.

Pure: no clock, no processes.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.cron import CronTrigger

WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")


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
