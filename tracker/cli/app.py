"""The `tracker` command line: the one typer app, its --db option, and every command
registered in the order `tracker --help` lists them. Each command opens the store, calls one
library function and turns a domain error into a one-paragraph message.

A command's module is imported, and typer reads its parameters, only when that command runs
(or `--help` lists them all): `tracker sql` starts without the briefing, scheduler and entry
commands.

Nothing imports it but `__main__`; the console script `tracker` is its `app`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, MutableMapping
from importlib import import_module
from typing import Annotated, Any

import typer
import typer.main
from typer.core import TyperGroup

from tracker import settings
from tracker.cli.shared import Context, reported
from tracker.location import store_location


def _command(name: str, module: str, function: str) -> Callable[[], typer.Typer]:
    """A one-command app for `tracker NAME`, running `tracker.cli.MODULE.FUNCTION`."""

    def build() -> typer.Typer:
        single = typer.Typer(add_completion=False)
        single.command(name=name)(getattr(import_module(f"tracker.cli.{module}"), function))
        return single

    return build


def _indicators() -> typer.Typer:
    from tracker.cli import data

    group = typer.Typer(
        name="indicators",
        help="List indicator definitions with unit, measure and latest value.",
        invoke_without_command=True,
        add_completion=False,
    )
    group.callback()(data.indicators_list)
    group.command("show")(data.indicators_show)
    return group


def _group(
    name: str, module: str, summary: str, commands: dict[str, str], callback: str | None = None
) -> Callable[[], typer.Typer]:
    """`tracker NAME SUBCOMMAND`: each of `commands` (subcommand -> function) from
    `tracker.cli.MODULE`; `callback` makes it a group even with one subcommand."""

    def build() -> typer.Typer:
        functions = import_module(f"tracker.cli.{module}")
        group = typer.Typer(name=name, help=summary, no_args_is_help=True, add_completion=False)
        if callback is not None:
            group.callback()(getattr(functions, callback))
        for subcommand, function in commands.items():
            group.command(subcommand)(getattr(functions, function))
        return group

    return build


# Every command, in the order `tracker --help` lists them (typer lists groups last).
COMMANDS: dict[str, Callable[[], typer.Typer]] = {
    "init": _command("init", "data", "init"),
    "ingest": _command("ingest", "data", "ingest_command"),
    "import": _command("import", "imports", "import_command"),
    "extract": _command("extract", "articles", "extract"),
    "add": _command("add", "entry", "add"),
    "template": _command("template", "entry", "template"),
    "history": _command("history", "entry", "history"),
    "withdraw": _command("withdraw", "entry", "withdraw"),
    "sql": _command("sql", "data", "sql"),
    "brief": _command("brief", "briefings", "brief"),
    "reports": _command("reports", "briefings", "reports_command"),
    "deliver": _command("deliver", "schedule", "deliver_command"),
    "indicators": _indicators,
    "schedule": _group(
        "schedule",
        "schedule",
        "Render briefings on their cron schedule (reports/*.toml \\[schedule]).",
        {"list": "schedule_list", "run": "schedule_run"},
    ),
    "alerts": _group(
        "alerts",
        "alerts",
        "E-mail a target reached, a revision, stale data or a new figure (reports/alerts/).",
        {"list": "alerts_list", "check": "alerts_check"},
    ),
    "store": _group(
        "store",
        "stores",
        "Move the whole store: copy it into a new file or an empty team store.",
        {"migrate": "migrate"},
        callback="store_group",
    ),  # fmt: skip
}


# Values are click commands: typer 0.28 vendors click as typer._click, earlier versions use
# click itself, so the type is named by neither.
class _LazyCommands(MutableMapping[str, Any]):
    """The commands of a group by name, each built from `COMMANDS` when first looked up."""

    def __init__(self, builders: dict[str, Callable[[], typer.Typer]]) -> None:
        self._builders = dict(builders)
        self._built: dict[str, Any] = {}

    def __getitem__(self, name: str) -> Any:
        if name not in self._built:
            self._built[name] = typer.main.get_command(self._builders[name]())
        return self._built[name]

    def __setitem__(self, name: str, command: Any) -> None:
        self._built[name] = command

    def __delitem__(self, name: str) -> None:
        if name not in self._builders and name not in self._built:
            raise KeyError(name)
        self._builders.pop(name, None)
        self._built.pop(name, None)

    def __iter__(self) -> Iterator[str]:
        return iter(dict.fromkeys([*self._builders, *self._built]))

    def __len__(self) -> int:
        return len(dict.fromkeys([*self._builders, *self._built]))


class _LazyGroup(TyperGroup):
    """The root group: its commands are `COMMANDS`, built only when looked up."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.commands = _LazyCommands(COMMANDS)


app = typer.Typer(
    help="Follow BRI, PGII and Global Gateway indicators in DuckDB; publish briefings.",
    cls=_LazyGroup,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def main(
    ctx: typer.Context,
    db: Annotated[
        str | None,
        typer.Option(
            "--db",
            envvar=settings.DB.env,
            help=f"{settings.DB.help} \\[default: {settings.DB.default} in the project]",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Follow BRI, PGII and Global Gateway indicators in DuckDB; publish briefings."""
    with reported():  # a team store without TRACKER_DATA_PATH, or with a password: exit 2
        ctx.obj = Context(db=store_location(db) if db else settings.default_db())


def run() -> None:
    """Entry point for `python -m tracker`."""
    app()
