"""`tracker alerts list|check`, and the check that follows every ingest, add and import."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from tracker.cli.shared import db_path, err, out, reported
from tracker.errors import TrackerError
from tracker.location import StoreLocation

if TYPE_CHECKING:
    from tracker.alerts import AlertOutcome
    from tracker.models import AlertDefinition


def alerts_list(ctx: typer.Context) -> None:
    """List alert definitions (reports/alerts/*.toml) and their last events."""
    from tracker import alerts

    with reported():
        path = db_path(ctx)
        found = _definitions(path)
        if not found:
            return
        last = alerts.last_events(path)
        table = Table("alert", "kind", "watches", "recipients", "sent", "owed", "last event")
        for definition in found:
            row = last.get(definition.name, {})
            scope = (
                "; ".join(
                    f"{key}: {', '.join(names)}"
                    for key, names in (
                        ("indicators", definition.indicators),
                        ("initiatives", definition.initiatives),
                        ("geographies", definition.geographies),
                    )
                    if names
                )
                or "everything"
            )
            if definition.threshold_percent is not None:
                scope += f"; more than {definition.threshold_percent:g} %"
            when: datetime | None = row.get("last_at")
            table.add_row(
                definition.name,
                definition.kind,
                scope,
                ", ".join(definition.recipients),
                str(row.get("sent", 0)),
                str(row.get("owed", 0)),
                f"{when:%Y-%m-%d %H:%M} UTC: {row['last_summary']}" if when else "none yet",
            )
        out.print(table)


def alerts_check(
    ctx: typer.Context,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print what would be sent; send and record nothing.")
    ] = False,
) -> None:
    """Evaluate every alert now and e-mail each event its recipients do not have yet."""
    from tracker import alerts

    with reported():
        path = db_path(ctx)
        found = _definitions(path)
        if not found:
            return
        outcomes = alerts.check_alerts(path, found, dry_run=dry_run)
        if dry_run:
            for outcome in outcomes:
                for recipient, events in alerts.would_send(outcome, path).items():
                    for event in events:
                        out.print(f"would send {outcome.definition.name} to {recipient}: "
                                  f"{event.summary}. Source: {event.source}")  # fmt: skip
            total = sum(len(e) for o in outcomes for e in alerts.would_send(o, path).values())
            out.print(f"Dry run: {total} event(s) would be sent; nothing was sent.")
            return
        owed = _report(outcomes)
        sent = sum(len(keys) for o in outcomes for keys in o.sent.values())
        already = sum(o.already for o in outcomes)
        out.print(f"{sent} event(s) sent now, {already} sent before, {owed} e-mail(s) owed.")
        if owed:
            raise typer.Exit(1)


def _definitions(path: StoreLocation) -> list[AlertDefinition]:
    """The checked alert definitions; none found is said on standard output."""
    from tracker import alerts, settings

    found = alerts.checked_definitions(path, settings.alerts_dir(), settings.reports_dir())
    if not found:
        out.print(f"No alert definitions in {settings.alerts_dir()}.")
    return found


def check_after_load(db: StoreLocation) -> None:
    """The alert check after `ingest`, `add` and `import`: what was sent goes to stderr,
    and a failure (mail down, a bad definition) is said there too; never an exit code, the
    data is loaded."""
    from tracker import settings
    from tracker.definitions.alerts import alert_files

    if not alert_files(settings.alerts_dir()):
        return  # no alert defined: ingest loads nothing more (start-up time, issue 10)
    from tracker import alerts

    try:
        found = alerts.checked_definitions(db, settings.alerts_dir(), settings.reports_dir())
        if not found:
            return
        _report(alerts.check_alerts(db, found))
    except TrackerError as error:
        err.print(f"Alerts not checked: {error} The data is loaded; run `tracker alerts "
                  "check` once this is fixed.", markup=False, highlight=False)  # fmt: skip


def _report(outcomes: list[AlertOutcome]) -> int:
    """Print what was sent (stdout) and what stays owed (stderr); how many stay owed."""
    owed = 0
    for outcome in outcomes:
        name = outcome.definition.name
        for recipient, keys in outcome.sent.items():
            err.print(f"alert {name}: sent {len(keys)} event(s) to {recipient}.",
                      markup=False, highlight=False)  # fmt: skip
        for recipient, why in outcome.owed.items():
            owed += 1
            err.print(f"alert {name}: not sent to {recipient}: {why}. It stays owed: the next "
                      "`tracker alerts check`, ingest or scheduler pass sends it.",
                      markup=False, highlight=False)  # fmt: skip
    return owed
