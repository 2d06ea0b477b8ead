"""The scheduler's pure parts with a fixed clock: cron expressions and time zones, the
nights the clocks change, job specs from definitions, and the catch-up rule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tests.conftest import PROJECT
from tracker import definitions
from tracker.schedule.cron import parse_cron
from tracker.schedule.jobs import catch_up_due, job_specs, last_due

BERLIN = ZoneInfo("Europe/Berlin")
TEMPLATES = PROJECT / "templates"


def _fires(cron: str, zone: str, start: datetime, end: datetime) -> list[datetime]:
    """Every fire time of `cron` from `start` to `end`, as the scheduler computes them."""
    trigger = parse_cron(cron, zone)
    found = []
    fire = trigger.get_next_fire_time(None, start)
    while fire is not None and fire <= end:
        found.append(fire)
        fire = trigger.get_next_fire_time(fire, fire.astimezone(UTC) + timedelta(microseconds=1))
    return found


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M")


def test_0230_berlin_runs_once_on_the_night_the_clocks_go_forward() -> None:
    # 2026-03-29: 02:00 CET becomes 03:00 CEST; 02:30 does not exist that night.
    fires = _fires("30 2 * * *", "Europe/Berlin", datetime(2026, 3, 28, 12, tzinfo=BERLIN),
                   datetime(2026, 3, 30, 12, tzinfo=BERLIN))  # fmt: skip
    assert [_utc(f) for f in fires] == ["2026-03-29 01:30", "2026-03-30 00:30"]


def test_0230_berlin_runs_once_on_the_night_the_clocks_go_back() -> None:
    # 2026-10-25: 03:00 CEST becomes 02:00 CET; 02:30 happens twice, it runs at the first.
    fires = _fires("30 2 * * *", "Europe/Berlin", datetime(2026, 10, 24, 12, tzinfo=BERLIN),
                   datetime(2026, 10, 26, 12, tzinfo=BERLIN))  # fmt: skip
    assert [_utc(f) for f in fires] == ["2026-10-25 00:30", "2026-10-26 01:30"]
    assert [f.utcoffset() for f in fires] == [timedelta(hours=2), timedelta(hours=1)]


def test_an_hourly_job_keeps_running_through_the_repeated_hour() -> None:
    fires = _fires("15 * * * *", "Europe/Berlin", datetime(2026, 10, 25, 0, 0, tzinfo=UTC),
                   datetime(2026, 10, 25, 2, 0, tzinfo=UTC))  # fmt: skip
    # 02:15 CEST (00:15 UTC) and 02:15 CET (01:15 UTC): real hours, both run
    assert [_utc(f) for f in fires] == ["2026-10-25 00:15", "2026-10-25 01:15"]


def test_a_daily_job_across_both_changes_runs_every_day_exactly_once() -> None:
    for start in (datetime(2026, 3, 20, tzinfo=BERLIN), datetime(2026, 10, 18, tzinfo=BERLIN)):
        fires = _fires("30 2 * * *", "Europe/Berlin", start, start + timedelta(days=14))
        days = [f.astimezone(BERLIN).date() for f in fires]
        assert len(days) == 14 and len(set(days)) == 14


def test_weekday_numbers_mean_what_they_mean_in_cron() -> None:
    monday = datetime(2026, 6, 1, 12, tzinfo=UTC)  # a Monday
    sundays = _fires("0 9 * * 0", "UTC", monday, monday + timedelta(days=14))
    assert {f.strftime("%A") for f in sundays} == {"Sunday"}
    assert _fires("0 9 * * 7", "UTC", monday, monday + timedelta(days=14)) == sundays
    workdays = _fires("0 9 * * 1-5", "UTC", monday, monday + timedelta(days=7))
    assert [f.strftime("%a") for f in workdays] == ["Tue", "Wed", "Thu", "Fri", "Mon"]
    weekend = _fires("0 9 * * sat,sun", "UTC", monday, monday + timedelta(days=7))
    assert [f.strftime("%a") for f in weekend] == ["Sat", "Sun"]


def test_six_fields_put_seconds_first_and_the_time_zone_is_honoured() -> None:
    start = datetime(2026, 6, 1, 12, 0, 0, tzinfo=UTC)
    fires = _fires("*/20 * * * * *", "UTC", start, start + timedelta(minutes=1))
    assert [f.second for f in fires] == [0, 20, 40, 0]
    (brussels,) = _fires("0 7 1 * *", "Europe/Brussels", start, start + timedelta(days=31))
    assert _utc(brussels) == "2026-07-01 05:00"  # 07:00 CEST
    with pytest.raises(ValueError, match=r"has 4 fields; expected 5 \(or 6, seconds first\)"):
        parse_cron("0 7 1 *", "UTC")


@pytest.mark.parametrize(
    ("cron", "zone", "message"),
    [
        ("0 7 1 * *", "Europe/Brusels", "unknown time zone 'Europe/Brusels'"),
        ("0 25 * * *", "UTC", "'0 25 * * *'"),
        ("0 7 * * 8", "UTC", "day-of-week field: found '8', expected 0-7"),
        ("0 7 * * 5-1", "UTC", "range '5-1' runs backwards"),
    ],
)
def test_a_bad_schedule_names_the_file_and_key_and_is_not_scheduled(
    tmp_path: Path, cron: str, zone: str, message: str
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(
        'title = "T"\naudience = "A"\ninitiatives = ["BRI"]\ngeographies = ["WLD"]\n'
        f'[schedule]\ncron = "{cron}"\ntimezone = "{zone}"\n'
        '[[sections]]\nkind = "key_figures"\nindicators = ["new_deals"]\n',
        encoding="utf-8",
    )
    specs, problems = job_specs([definitions.load_briefing(path, TEMPLATES)])
    assert specs == []
    (problem,) = problems
    assert problem.startswith(f"{path}: key 'schedule': ") and message in problem


def test_the_shipped_briefings_become_jobs() -> None:
    found = definitions.load_briefings(PROJECT / "reports", TEMPLATES)
    specs, problems = job_specs(found)
    assert problems == []
    spec = next(s for s in specs if s.name == "programmes-compared")
    assert (spec.cron, spec.timezone) == ("0 7 1 * *", "Europe/Brussels")
    assert spec.sha256 == spec.definition.sha256
    schedule = spec.definition.schedule
    assert schedule is not None and schedule.owner == "briefing-owner@example.org"


def test_last_due_is_the_newest_fire_time_at_or_before_now() -> None:
    monthly = parse_cron("0 7 1 * *", "Europe/Brussels")
    now = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)
    assert _utc(last_due(monthly, now) or now) == "2026-11-01 06:00"
    every_3s = parse_cron("*/3 * * * * *", "UTC")
    assert last_due(every_3s, datetime(2026, 1, 1, 0, 0, 7, tzinfo=UTC)) == datetime(
        2026, 1, 1, 0, 0, 6, tzinfo=UTC
    )
    yearly = parse_cron("0 0 29 2 *", "UTC")  # leap days only
    assert _utc(last_due(yearly, now) or now) == "2024-02-29 00:00"


def test_catch_up_runs_a_missed_briefing_once_however_many_slots_were_missed() -> None:
    daily = parse_cron("0 6 * * *", "UTC")
    now = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)
    week_ago = datetime(2026, 11, 16, 6, 0, 5)  # naive UTC, as report_runs stores it
    # a week of downtime: one catch-up, for the newest due time only
    assert catch_up_due(daily, now, week_ago) == datetime(2026, 11, 23, 6, 0, tzinfo=UTC)
    # the newest due time has a successful run started after it: nothing to do
    assert catch_up_due(daily, now, datetime(2026, 11, 23, 6, 0, 1)) is None
    # never ran: the newest due time counts as missed
    assert catch_up_due(daily, now, None) == datetime(2026, 11, 23, 6, 0, tzinfo=UTC)
    # a run started just before the due time does not cover it
    assert catch_up_due(daily, now, datetime(2026, 11, 23, 5, 59, 59)) is not None
