"""The `tracker` command line: the one typer app, its --db option, and every command
registered in the order `tracker --help` lists them. Each command opens the store, calls one
library function and turns a domain error into a one-paragraph message.

Nothing imports it but `__main__`; the console script `tracker` is its `app`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tracker import settings
from tracker.cli import articles, briefings, data, entry, schedule
from tracker.cli.shared import Context

app = typer.Typer(
    help="Follow BRI, PGII and Global Gateway indicators in DuckDB; publish briefings.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
indicators_app = typer.Typer(
    help="List indicator definitions with unit, measure and latest value.",
    invoke_without_command=True,
)
schedule_app = typer.Typer(
    help="Render briefings on their cron schedule (reports/*.toml \\[schedule]).",
    no_args_is_help=True,
)


@app.callback()
def main(
    ctx: typer.Context,
    db: Annotated[
        Path | None,
        typer.Option(
            "--db",
            envvar=settings.DB.env,
            help=f"{settings.DB.help} [default: {settings.DB.default} in the project]",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Follow BRI, PGII and Global Gateway indicators in DuckDB; publish briefings."""
    ctx.obj = Context(db=db or settings.default_db())


app.add_typer(indicators_app, name="indicators")
app.command()(data.init)
app.command(name="ingest")(data.ingest_command)
app.command()(entry.add)
app.command()(entry.template)
app.command()(entry.history)
app.command()(entry.withdraw)
app.command()(articles.extract)
indicators_app.callback()(data.indicators_list)
indicators_app.command("show")(data.indicators_show)
app.command()(data.sql)
app.command()(briefings.brief)
app.command(name="reports")(briefings.reports_command)
app.add_typer(schedule_app, name="schedule")
schedule_app.command("list")(schedule.schedule_list)
schedule_app.command("run")(schedule.schedule_run)
app.command(name="deliver")(schedule.deliver_command)


def run() -> None:
    """Entry point for `python -m tracker`."""
    app()
