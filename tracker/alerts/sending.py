"""Alerts checked and sent: each definition's events (see events.py), one e-mail per
definition and recipient listing the events that recipient does not have yet, by the SMTP
settings and code of deliveries (deliver.smtp), recorded in `alerts_sent` (run history).

Each (alert, event, recipient) is claimed as 'sending' (committed) before the message goes
to the SMTP server and marked 'sent' after the server accepted it:
- an event marked 'sent' for a recipient is never sent to them again (re-runs, restarts);
- one whose send failed ('failed'), or that was never tried, is sent at the next check;
- one left 'sending' by a process that is gone is sent again: the kill may have come after
  the server accepted the message and before the mark, so delivery is at-least-once there,
  and exactly once everywhere else.

An event that no longer holds when it is next checked (a stale indicator given a new
figure, a target's figure revised below it) is not sent late.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import formatdate, parseaddr
from pathlib import Path
from typing import Any

from tracker import definitions, settings, store
from tracker.alerts.events import AlertEvent, alert_events, newest_batch
from tracker.deliver.smtp import SmtpSettings, send_with_retries
from tracker.errors import DeliveryError
from tracker.location import StoreLocation
from tracker.models import AlertDefinition
from tracker.text import show

log = logging.getLogger("tracker.alerts")

# An e-mail lists at most this many events; the rest are counted (and recorded as sent).
SHOWN_EVENTS = 200

BASELINES = "SELECT alert, since_batch FROM alert_baselines"
SET_BASELINE = """
MERGE INTO alert_baselines AS t
USING (SELECT $1::TEXT AS alert, $2::BIGINT AS since_batch, $3::TIMESTAMP AS since) AS s
ON t.alert = s.alert
WHEN NOT MATCHED THEN INSERT (alert, since_batch, since) VALUES (s.alert, s.since_batch, s.since)
"""
STATES = """
SELECT event, recipient, status, pid, host, updated_at FROM alerts_sent WHERE alert = $1
"""
CLAIM = """
MERGE INTO alerts_sent AS t
USING (SELECT $1::TEXT AS alert, unnest($2::TEXT[]) AS event, $3::TEXT AS recipient,
              $4::TEXT AS kind, unnest($5::TEXT[]) AS summary, $6::TEXT AS message_id,
              $7::INTEGER AS pid, $8::TIMESTAMP AS updated_at, $9::TEXT AS host) AS s
ON t.alert = s.alert AND t.event = s.event AND t.recipient = s.recipient
WHEN MATCHED THEN UPDATE SET status = 'sending', tries = t.tries + 1, pid = s.pid,
    host = s.host, message_id = s.message_id, updated_at = s.updated_at, error = NULL
WHEN NOT MATCHED THEN INSERT (alert, event, recipient, kind, summary, message_id, status,
                              tries, pid, updated_at, host)
    VALUES (s.alert, s.event, s.recipient, s.kind, s.summary, s.message_id, 'sending', 1,
            s.pid, s.updated_at, s.host)
"""
MARK = """
UPDATE alerts_sent SET status = $4, updated_at = $5, error = $6
WHERE alert = $1 AND recipient = $2 AND list_contains($3, event)
"""
LAST_EVENTS = """
SELECT alert, count(DISTINCT event) FILTER (WHERE status = 'sent') AS sent,
       count(DISTINCT event) FILTER (WHERE status <> 'sent') AS owed,
       max(updated_at) AS last_at, arg_max(summary, updated_at) AS last_summary
FROM alerts_sent GROUP BY alert
"""


@dataclass
class AlertOutcome:
    """What one check did for one definition."""

    definition: AlertDefinition
    events: list[AlertEvent]
    sent: dict[str, list[str]] = field(default_factory=dict)  # recipient -> event keys now
    already: int = 0  # (event, recipient) pairs sent before
    owed: dict[str, str] = field(default_factory=dict)  # recipient -> why it stays owed
    elsewhere: int = 0  # claimed by another live process


def check_alerts(
    db: StoreLocation,
    definitions: Sequence[AlertDefinition],
    *,
    dry_run: bool = False,
    today: datetime | None = None,
    attempts: int | None = 1,
    sleep: Callable[[float], None] = time.sleep,
) -> list[AlertOutcome]:
    """Evaluate every definition now and send each recipient the events they lack.

    A new definition's baseline (the newest batch) is recorded at its first check (not in a
    dry run): new_figure and revision count only later batches. `dry_run`: nothing is sent
    or recorded; each outcome's `events` minus what was sent before is what would go.
    TrackerError when the store or the run history cannot be read.
    """
    if not definitions:
        return []
    moment = today or datetime.now(UTC)
    with store.read_run_history(db) as runs:
        baselines = {str(a): int(b) for a, b in store.query(runs, BASELINES).iter_rows()}
        states = {d.name: _states(runs, d.name) for d in definitions}
        issues = {d.briefing: _latest_issue(runs, d.briefing) for d in definitions if d.briefing}
    with store.connect(db, read_only=True) as conn:
        newest = newest_batch(conn)
        found = [
            alert_events(conn, d, baselines.get(d.name, newest), moment.date()) for d in definitions
        ]
    new = [d.name for d in definitions if d.name not in baselines]
    if new and not dry_run:

        def set_baselines(runs: store.Connection) -> None:
            for name in new:
                store.query(runs, SET_BASELINE, [name, newest, store.utc_now()])

        store.run_history_write(db, set_baselines, what="the new alerts' baselines")
    outcomes = []
    smtp: SmtpSettings | None = None
    smtp_problem = ""
    if not dry_run:
        try:
            smtp = SmtpSettings.from_environment()
        except DeliveryError as error:
            smtp_problem = str(error)
        if smtp is None and not smtp_problem:
            smtp_problem = f"{settings.SMTP_HOST.env} is not set"
    for definition, events in zip(definitions, found, strict=True):
        outcome = AlertOutcome(definition, events)
        outcomes.append(outcome)
        for recipient in definition.recipients:
            owed = _owed(outcome, states[definition.name], recipient)
            if not owed or dry_run:
                continue
            if smtp is None:
                outcome.owed[recipient] = smtp_problem
                continue
            issue = issues.get(definition.briefing) if definition.briefing else None
            _send(db, smtp, outcome, recipient, owed, issue, attempts, sleep)
    return outcomes


def would_send(outcome: AlertOutcome, db: StoreLocation) -> dict[str, list[AlertEvent]]:
    """For a dry run: each recipient and the events a check would send them now."""
    with store.read_run_history(db) as runs:
        states = _states(runs, outcome.definition.name)
    probe = AlertOutcome(outcome.definition, outcome.events)
    return {r: _owed(probe, states, r) for r in outcome.definition.recipients}


def last_events(db: StoreLocation) -> dict[str, dict[str, Any]]:
    """Per alert: how many events were sent and are owed, and the newest one."""
    with store.read_run_history(db) as runs:
        rows = store.query(runs, LAST_EVENTS).iter_rows(named=True)
        return {str(row["alert"]): row for row in rows}


def alert_message(
    definition: AlertDefinition,
    events: Sequence[AlertEvent],
    issue: dict[str, Any] | None,
    recipient: str,
    sender: str,
) -> EmailMessage:
    """The alert e-mail (plain text): each event with its figure and source, and where the
    newest published issue of the related briefing is."""
    shown = list(events[:SHOWN_EVENTS])
    count = f"{len(events)} events" if len(events) > 1 else "1 event"
    # no figure in the Subject: a header is cut at 200 characters, never mid-figure
    subject = f"{definition.title} ({count}, alert '{definition.name}')"
    body = [f"{definition.title} (alert '{definition.name}', {count})", ""]
    for event in shown:
        body += [f"- {event.summary}", f"  Source: {event.source}"]
    if len(events) > len(shown):
        body.append(f"- ... and {len(events) - len(shown)} more; `tracker history` shows each "
                    "point's vintages.")  # fmt: skip
    body.append("")
    if definition.briefing:
        body.append(_issue_line(definition.briefing, issue))
    body.append(f"You receive this because {definition.path.name} lists {recipient}.")
    message = EmailMessage()
    message["Subject"] = show(" ".join(subject.split()), 200)
    message["From"] = sender
    message["To"] = recipient
    message["Date"] = formatdate(localtime=False)
    keys = "\0".join(e.key for e in events)
    digest = hashlib.sha256(f"{definition.name}\0{recipient.lower()}\0{keys}".encode())
    domain = parseaddr(sender)[1].rpartition("@")[2]
    if not domain or not all(c.isalnum() or c in "-." for c in domain):
        domain = "tracker.invalid"
    message["Message-ID"] = f"<alert.{digest.hexdigest()[:24]}@{domain}>"
    message.set_content("\n".join(body) + "\n")
    return message


def _issue_line(briefing: str, issue: dict[str, Any] | None) -> str:
    if issue is None:
        return f"No issue of the briefing '{briefing}' has been published yet."
    outputs = json.loads(str(issue.get("outputs") or "[]"))
    files = [str(o["file"]) for o in outputs if str(o["file"]).endswith((".pdf", ".html"))]
    where = "; ".join(files) if files else str(issue.get("output_dir") or "")
    return (
        f"Latest issue of '{briefing}': issue {issue['issue']} of "
        f"{issue['briefing_date']:%-d %B %Y}: {where}"
    )


def _latest_issue(runs: store.Connection, briefing: str) -> dict[str, Any] | None:
    found = store.newest_success(runs, briefing)
    return dict(found) if found else None


def _states(runs: store.Connection, alert: str) -> dict[tuple[str, str], dict[str, Any]]:
    frame = store.query(runs, STATES, [alert])
    return {(str(r["event"]), str(r["recipient"])): r for r in frame.iter_rows(named=True)}


def _owed(
    outcome: AlertOutcome, states: dict[tuple[str, str], dict[str, Any]], recipient: str
) -> list[AlertEvent]:
    """The events `recipient` does not have; counts those sent and those another live
    process is sending."""
    owed = []
    for event in outcome.events:
        state = states.get((event.key, recipient))
        status = state["status"] if state else None
        if status == "sent":
            outcome.already += 1
            continue
        if status == "sending" and state is not None:
            gone = store.claim_gone(state["pid"], state["host"], state["updated_at"])
            if gone is None:
                outcome.elsewhere += 1
                continue
            log.warning("resending alert %s to %s: claimed by %s, so whether the server "
                        "accepted it is unknown", outcome.definition.name, recipient,
                        gone)  # fmt: skip
        owed.append(event)
    return owed


def _send(
    db: StoreLocation,
    smtp: SmtpSettings,
    outcome: AlertOutcome,
    recipient: str,
    events: list[AlertEvent],
    issue: dict[str, Any] | None,
    attempts: int | None,
    sleep: Callable[[float], None],
) -> None:
    definition = outcome.definition
    message = alert_message(definition, events, issue, recipient, smtp.sender)
    keys = [e.key for e in events]
    _write(db, CLAIM, [definition.name, keys, recipient, definition.kind,
                       [e.summary for e in events], message["Message-ID"], os.getpid(),
                       store.utc_now(), store.this_host()])  # fmt: skip
    try:
        send_with_retries(db, smtp, message, f"alert:{definition.name}", None, "email",
                          [recipient], attempts, sleep)  # fmt: skip
    except DeliveryError as error:
        reason = str(error).split(" The rendered briefing is kept")[0]
        _write(db, MARK, [definition.name, recipient, keys, "failed", store.utc_now(),
                          reason[:2000]])  # fmt: skip
        outcome.owed[recipient] = reason
        return
    _write(db, MARK, [definition.name, recipient, keys, "sent", store.utc_now(), None])
    outcome.sent[recipient] = keys


def _write(db: StoreLocation, sql: str, params: Sequence[object]) -> None:
    """One statement in its own short write (committed when it returns)."""
    store.run_history_write(db, lambda runs: store.query(runs, sql, params), what="an alert")


NAMES = """
SELECT 'indicator' AS kind, id FROM indicators
UNION ALL SELECT 'initiative', id FROM initiatives
UNION ALL SELECT 'geography', id FROM geographies
"""


def checked_definitions(db: StoreLocation, folder: Path, briefings: Path) -> list[AlertDefinition]:
    """Every alert definition in `folder`, its names checked against the store and the
    briefings in `briefings`; DefinitionError (file, key) for the first problem."""
    found = definitions.load_alerts(folder)
    if not found:
        return []
    with store.connect(db, read_only=True) as conn:
        names: dict[str, set[str]] = {"indicator": set(), "initiative": set(), "geography": set()}
        for kind, name in store.query(conn, NAMES).iter_rows():
            names[str(kind)].add(str(name))
    known = [p.stem for p in definitions.briefing_files(briefings)] if briefings.is_dir() else []
    for definition in found:
        definitions.check_alert_names(definition, indicators=names["indicator"],
                                      initiatives=names["initiative"],
                                      geographies=names["geography"], briefings=known)  # fmt: skip
    return found
