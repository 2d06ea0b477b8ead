"""What every command of the `tracker` command line shares: the consoles it prints to, the
--db of the invocation, and errors turned into a one-paragraph message and an exit code.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from tracker.errors import InputError, TrackerError
from tracker.location import StoreLocation

if TYPE_CHECKING:
    from tracker.models import BatchSummary

# Piped output is not cut to 80 columns: tables keep their natural width for grep and files.
PIPED_WIDTH = 10_000


def plain_console(*, stderr: bool) -> Console:
    """A console that prints every text as it is: notes, sources, titles and file names come
    from data, and Rich would read '[/]' or '[bold]' in them as markup (a traceback, or text
    swallowed), ':smile:' as an emoji, and colour numbers. Style is given as Text objects."""
    terminal = (sys.stderr if stderr else sys.stdout).isatty()
    return Console(stderr=stderr, soft_wrap=True, width=None if terminal else PIPED_WIDTH,
                   markup=False, highlight=False, emoji=False)  # fmt: skip


out = plain_console(stderr=False)
err = plain_console(stderr=True)


@dataclass
class Context:
    """Options shared by every command."""

    db: StoreLocation


def db_path(ctx: typer.Context) -> StoreLocation:
    """The store of this invocation (--db, TRACKER_DB or the project's default): a file's
    path or a team store."""
    obj = ctx.find_root().obj
    assert isinstance(obj, Context)
    return obj.db


@contextmanager
def reported() -> Iterator[None]:
    """Turn tracker errors into a message and exit code; never show a traceback."""
    try:
        yield
    except TrackerError as error:
        err.print(str(error), markup=False, highlight=False)
        raise typer.Exit(error.exit_code) from None
    except KeyboardInterrupt:
        err.print("Interrupted; nothing was changed.")
        raise typer.Exit(130) from None
    except (typer.Exit, typer.Abort):
        raise
    except Exception as error:  # noqa: BLE001 - the promise is: no traceback, ever
        if os.environ.get("TRACKER_DEBUG"):
            raise
        err.print(
            f"Internal error: {type(error).__name__}: {error}. Nothing was changed. "
            "Run again with TRACKER_DEBUG=1 to see where it happened, and report it.",
            markup=False,
            highlight=False,
        )
        raise typer.Exit(1) from None


@contextmanager
def progress_bar() -> Iterator[Callable[[str, int, int], None] | None]:
    """A rich progress bar on a terminal; nothing at all otherwise."""
    if not err.is_terminal:
        yield None
        return
    from rich.progress import Progress

    with Progress(console=err, transient=True) as bar:
        tasks: dict[str, Any] = {}

        def update(phase: str, done: int, total: int) -> None:
            if phase not in tasks:
                tasks[phase] = bar.add_task(phase, total=total)
            bar.update(tasks[phase], completed=done, total=total)

        yield update


# `--out FILE` and `--force` of the commands that write a file for the analyst to edit
OutputFile = Annotated[
    Path | None, typer.Option("--out", help="Write to this file \\[default: standard output].")
]
Force = Annotated[bool, typer.Option("--force", help="Replace --out if it exists.")]


def refuse_to_overwrite(output: Path | None, force: bool) -> None:
    """Refuse an existing --out file unless --force: the analyst may have edited it."""
    if output is not None and output.exists() and not force:
        raise InputError(
            f"--out: {output} exists; nothing was written. Give another file, or --force "
            "to replace it."
        )


def print_second_sources(summary: BatchSummary) -> None:
    """Say, point by point, where this call gave a point a second source."""
    if not summary.second_source_points:
        return
    err.print(
        f"{summary.second_source_points} point(s) now have more than one source, each kept "
        'as its own series; the headline rule (README, "Tables and views") picks the '
        "one briefings show first:",
        markup=False,
        highlight=False,
    )
    for line in summary.second_sources:
        err.print(f"  {line}", markup=False, highlight=False)
    more = summary.second_source_points - len(summary.second_sources)
    if more > 0:
        err.print(f"  ... and {more} more point(s)", markup=False, highlight=False)
