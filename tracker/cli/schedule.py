"""Scheduled briefings and their delivery: `tracker schedule list`, `tracker schedule run`
and `tracker deliver`, which log one line per event to stderr. The schedule and deliver
packages (APScheduler, the briefing) are imported inside the commands.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from typing import Annotated

import typer
from rich.table import Table

from tracker import settings
from tracker.cli.shared import db_path, err, out, reported


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever sys.stderr is when a line is logged (tests swap it)."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


def _log_to_stderr() -> None:
    """One line per event on stderr; no timestamps when journald reads it (it adds its own)."""
    from tracker import schedule

    formatter = logging.Formatter(
        schedule.log_format("JOURNAL_STREAM" in os.environ), datefmt="%Y-%m-%dT%H:%M:%SZ"
    )
    formatter.converter = time.gmtime
    handler = _StderrHandler()
    handler.setFormatter(formatter)
    logger = logging.getLogger("tracker")
    logger.handlers[:] = [h for h in logger.handlers if not isinstance(h, _StderrHandler)]
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logging.getLogger("apscheduler").setLevel(logging.ERROR)  # our own lines say it all


def schedule_list(ctx: typer.Context) -> None:
    """Each scheduled briefing: cron, time zone, last run, next run, missed run."""
    from tracker import schedule

    path = db_path(ctx)
    with reported():
        listings, problems = schedule.list_schedules(path)
    for problem in problems:
        err.print(f"not scheduled: {problem}", markup=False, highlight=False)
    if not listings:
        out.print("No briefing in reports/ has a [schedule].")
        return
    table = Table(title="Scheduled briefings")
    for column in ("report", "cron", "timezone", "last run", "next run", "catch-up"):
        table.add_column(column)
    for item in listings:
        table.add_row(item.name, item.cron, item.timezone, item.last_run, item.next_run,
                      item.catch_up or "-")  # fmt: skip
    out.print(table)


def schedule_run(
    ctx: typer.Context,
    once: Annotated[
        bool,
        typer.Option("--once", help="Run every briefing that is due, then exit (cron, timers)."),
    ] = False,
) -> None:
    """Run the scheduler in the foreground (a service runs this); logs go to stderr."""
    from tracker import schedule

    path = db_path(ctx)
    _log_to_stderr()
    with reported():
        runner = schedule.BriefingScheduler(path)
        if once:
            failed = runner.run_once()
            if failed:
                raise typer.Exit(1)
        else:
            runner.run_forever()


def deliver_command(
    ctx: typer.Context,
    report_name: Annotated[
        str, typer.Argument(metavar="REPORT", help="Briefing name: a file in reports/.")
    ],
    to: Annotated[
        list[str] | None,
        typer.Option(
            "--to",
            metavar="ADDRESS",
            help="Send to this address instead of the definition's recipients (repeat for more).",
            show_default=False,
        ),
    ] = None,
    run_id: Annotated[
        int | None,
        typer.Option(
            "--run",
            metavar="ID",
            help="Deliver this run (report_runs.id) instead of the newest published issue.",
            show_default=False,
        ),
    ] = None,
    draft: Annotated[
        bool,
        typer.Option(
            "--draft",
            help="Send a test copy of the newest draft (or --run ID) to --to only: marked "
            "TEST in the subject, not copied to the outbox, recorded nowhere as a delivery.",
        ),
    ] = False,
) -> None:
    """Send the newest published issue to its recipients now (and copy it to the outbox);
    --draft --to ADDRESS sends a test copy of the newest draft."""
    from tracker import definitions, deliver

    path = db_path(ctx)
    _log_to_stderr()
    with reported():
        to = [definitions.check_email_address(address, "--to") for address in to or ()]
        definition = definitions.load_briefing(
            definitions.find_briefing(settings.reports_dir(), report_name),
            settings.templates_dir(),
        )
        done = deliver.deliver_briefing(path, definition, run_id=run_id, to=to or (), draft=draft)
    if draft:
        out.print(
            f"{done.briefing_name}: test copy of the draft (run {done.run_id}) e-mailed to "
            f"{', '.join(done.recipients)}; not an issue, recorded nowhere.",
            markup=False,
            highlight=False,
        )
        return
    sent = (
        f"e-mailed to {', '.join(done.recipients)}" if done.emailed
        else f"not e-mailed ({done.note})"
    )  # fmt: skip
    out.print(
        f"{done.briefing_name}: issue {done.issue} (run {done.run_id}) copied to "
        f"{done.outbox}; {sent}.",
        markup=False,
        highlight=False,
    )
