"""The store commands: `tracker store migrate --to TARGET` copies the store of --db into a
new file or an empty team store, every table whole, and prints each table's check.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from tracker.cli.shared import db_path, err, out, reported
from tracker.location import store_location

if TYPE_CHECKING:
    from tracker.store.copying import TableCheck


def store_group() -> None:
    """Move the whole store: copy it into a new file or an empty team store."""


def migrate(
    ctx: typer.Context,
    to: Annotated[
        str,
        typer.Option(
            "--to",
            metavar="TARGET",
            help="A new DuckDB file, or an empty team store `ducklake:postgres:<conninfo>` "
            "(its data path in TRACKER_DATA_PATH).",
            show_default=False,
        ),
    ],
) -> None:
    """Copy this store (--db) into a new file or an empty team store, every table whole
    (every vintage, batch, run and delivery, ids kept); check each table's rows and
    checksum."""
    from tracker.store import copying

    source = db_path(ctx)
    with reported():
        target = store_location(to)
        try:
            checks = copying.migrate_store(source, target)
        except copying.MigrationMismatchError as error:
            out.print(_table(error.checks))
            raise
    out.print(_table(checks))
    rows = sum(check.target_rows for check in checks)
    out.print(
        f"{source} -> {target}: {len(checks)} tables, {rows:,} rows copied; every row count "
        "and checksum matches.",
        markup=False,
        highlight=False,
    )
    err.print(
        f"The source is unchanged. Point --db / TRACKER_DB at {target} to use the copy.",
        markup=False,
        highlight=False,
    )


def _table(checks: list[TableCheck]) -> Table:
    table = Table("table", "rows", "checksum", "copied rows", "copied checksum", "match")
    for check in checks:
        table.add_row(
            check.name,
            f"{check.source_rows:,}",
            f"{check.source_checksum:x}",
            f"{check.target_rows:,}",
            f"{check.target_checksum:x}",
            "match" if check.matches else "DIFFERS",
        )
    return table
