"""Delivery as an obligation: a scheduled run that succeeds owes a delivery
(`report_runs.delivery` = 'pending', recorded with its success by the render itself), and
`deliver_owed` pays it: the outbox copy, then one e-mail per recipient, each recipient
claimed in `delivery_recipients` before the message goes to the SMTP server and marked
'sent' after the server accepted it; the run becomes 'delivered' when every recipient is.

What this guarantees, whatever process is killed when:
- a recipient marked 'sent' is never sent that issue again by the scheduler;
- a recipient not yet claimed, or whose send failed, is sent it at the next try;
- a recipient claimed ('sending') by a process that is gone is sent it again: the outcome
  is unknown, because the kill may have come after the server accepted the message and
  before the mark. There, and only there, delivery is at-least-once: a second copy can
  arrive, with the same Message-ID (derived from briefing, run id and recipient), so a
  mail client can drop it. Everywhere else it is exactly once.

Only the scheduler calls this; `tracker deliver` always sends (it is asked to).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from email.utils import parseaddr
from pathlib import Path
from typing import Any

from tracker import settings, store
from tracker.deliver.delivery import _pdf_of, _run_and_previous, _variant_of, publish_to_outbox
from tracker.deliver.messages import briefing_message
from tracker.deliver.smtp import SmtpSettings, record_delivery, send_with_retries
from tracker.errors import DeliveryError
from tracker.location import StoreLocation
from tracker.models import BriefingDefinition

log = logging.getLogger("tracker.deliver")

# Succeeded scheduled runs that still owe their delivery, oldest first.
OWED_RUNS = """
SELECT id, report, params FROM report_runs
WHERE status = 'succeeded' AND delivery = 'pending'
ORDER BY id
"""
RECIPIENTS_OF_RUN = """
SELECT recipient, status, pid, host, updated_at FROM delivery_recipients WHERE run_id = $1
"""
# Claimed before the message is handed to the SMTP server (committed on its own).
CLAIM = """
MERGE INTO delivery_recipients AS t
USING (SELECT $1::BIGINT AS run_id, $2::TEXT AS report, $3::TEXT AS recipient,
              $4::TEXT AS message_id, $5::INTEGER AS pid, $6::TIMESTAMP AS updated_at,
              $7::TEXT AS host) AS s
ON t.run_id = s.run_id AND t.recipient = s.recipient
WHEN MATCHED THEN UPDATE SET status = 'sending', tries = t.tries + 1, pid = s.pid,
    host = s.host, updated_at = s.updated_at, error = NULL
WHEN NOT MATCHED THEN INSERT (run_id, report, recipient, message_id, status, tries, pid,
                              updated_at, host)
    VALUES (s.run_id, s.report, s.recipient, s.message_id, 'sending', 1, s.pid, s.updated_at,
            s.host)
"""
MARK = """
UPDATE delivery_recipients SET status = $3, updated_at = $4, error = $5
WHERE run_id = $1 AND recipient = $2
"""
DELIVERED = """
UPDATE report_runs SET delivery = 'delivered' WHERE id = $1
"""
# A newer published issue of the same briefing variant: its PDF is in the outbox.
NEWER_SUCCESS = """
SELECT count(*) AS n FROM report_runs
WHERE report = $1 AND params IS NOT DISTINCT FROM $2 AND status = 'succeeded'
  AND published AND id > $3
"""


@dataclass(frozen=True)
class OwedRun:
    """A succeeded scheduled run whose delivery is not complete."""

    briefing_name: str
    run_id: int
    params: str | None


@dataclass(frozen=True)
class OwedDelivery:
    """What one `deliver_owed` call did."""

    briefing_name: str
    run_id: int
    outbox: Path | None  # None: a newer issue of the same briefing is in the outbox
    sent: tuple[str, ...]  # e-mailed now
    resent: tuple[str, ...]  # of those, claimed before by a process that is gone
    already: tuple[str, ...]  # had it before this call
    elsewhere: tuple[str, ...]  # claimed by another live process: left to it
    complete: bool  # the run is now 'delivered'


def owed_runs(db: StoreLocation) -> list[OwedRun]:
    """Succeeded scheduled runs that owe (part of) their delivery, oldest first."""
    with store.read_run_history(db) as runs:
        rows = store.query(runs, OWED_RUNS).iter_rows()
        return [OwedRun(str(briefing_name), int(i), params) for i, briefing_name, params in rows]


def deliver_owed(
    db: StoreLocation,
    definition: BriefingDefinition,
    run_id: int,
    *,
    attempts: int | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> OwedDelivery:
    """Pay the delivery run `run_id` owes: the outbox copy (unless a newer issue is there),
    then each recipient that does not have it yet, claimed before sending and marked after.

    DeliveryError when SMTP is not configured or a recipient's e-mail failed after its
    retries; what was sent stays marked, and the rest is tried at the next call.
    """
    run, previous = _run_and_previous(db, definition.name, run_id)
    pdf = _pdf_of(definition.name, run)
    variant = _variant_of(db, definition, run)
    recipients = owed_recipients(definition, run)
    outbox: Path | None = None
    if not _newer_success(db, run):
        outbox = publish_to_outbox(pdf, pdf.stem)
        record_delivery(db, definition.name, run_id, "outbox", str(outbox), "sent", 1)
    if not recipients:
        _mark_delivered(db, run_id)
        return OwedDelivery(definition.name, run_id, outbox, (), (), (), (), True)
    smtp = SmtpSettings.from_environment()
    if smtp is None:
        reason = f"{settings.SMTP_HOST.env} is not set"
        record_delivery(db, definition.name, run_id, "email", ", ".join(recipients),
                        "skipped", 1, reason)  # fmt: skip
        raise DeliveryError(
            f"{definition.name}: run {run_id} not e-mailed to {', '.join(recipients)}: "
            f"{reason}. It stays owed: the scheduler sends it once the TRACKER_SMTP_* "
            "variables are set (see README, 'Scheduled briefings')."
        )
    states = _recipient_states(db, run_id)
    sent: list[str] = []
    resent: list[str] = []
    already: list[str] = []
    elsewhere: list[str] = []
    failures: list[str] = []
    for recipient in recipients:
        state = states.get(recipient)
        status = state["status"] if state else None
        if status == "sent":
            already.append(recipient)
            continue
        if status == "sending" and state is not None:
            gone = store.claim_gone(state["pid"], state["host"], state["updated_at"])
            if gone is None:
                elsewhere.append(recipient)
                continue
            log.warning("resending %s run=%d to %s: claimed by %s, so whether "
                        "the server accepted it is unknown; a copy has the same Message-ID",
                        definition.name, run_id, recipient, gone)  # fmt: skip
            resent.append(recipient)
        message = briefing_message(variant, run, previous, pdf, [recipient], smtp.sender)
        identity = message_id(definition.name, run_id, recipient, smtp.sender)
        del message["Message-ID"]
        message["Message-ID"] = identity
        _write(db, CLAIM, [run_id, definition.name, recipient, identity, os.getpid(),
                           store.utc_now(), store.this_host()])  # fmt: skip
        try:
            send_with_retries(db, smtp, message, variant.name, run_id, "email", [recipient],
                              attempts, sleep)  # fmt: skip
        except DeliveryError as error:
            _write(db, MARK, [run_id, recipient, "failed", store.utc_now(), str(error)[:2000]])
            failures.append(str(error))
            continue
        _write(db, MARK, [run_id, recipient, "sent", store.utc_now(), None])
        sent.append(recipient)
    if failures:
        raise DeliveryError(" ".join(failures) + " It stays owed: the scheduler tries again.")
    complete = not elsewhere
    if complete:
        _mark_delivered(db, run_id)
    return OwedDelivery(definition.name, run_id, outbox, tuple(sent), tuple(resent),
                        tuple(already), tuple(elsewhere), complete)  # fmt: skip


def owed_recipients(definition: BriefingDefinition, run: dict[str, Any]) -> tuple[str, ...]:
    """Who a scheduled run goes to: the schedule's recipients, then those its variant's
    parameter values name (`[params.<name>.recipients]`), each once."""
    base = definition.schedule.recipients if definition.schedule else ()
    values = json.loads(str(run["params"])) if run.get("params") else {}
    own = [a for p in definition.params for v, addresses in p.recipients
           if values.get(p.name) == v for a in addresses]  # fmt: skip
    return tuple(dict.fromkeys([*base, *own]))


def message_id(briefing_name: str, run_id: int, recipient: str, sender: str) -> str:
    """The Message-ID of issue `run_id` of `briefing_name` for `recipient`: the same on every try,
    so a copy sent again after a crash can be recognised."""
    digest = hashlib.sha256(f"{briefing_name}\0{run_id}\0{recipient.lower()}".encode()).hexdigest()
    domain = parseaddr(sender)[1].rpartition("@")[2]
    if not domain or not all(c.isalnum() or c in "-." for c in domain):
        domain = "tracker.invalid"
    return f"<briefing.{run_id}.{digest[:24]}@{domain}>"


def _recipient_states(db: StoreLocation, run_id: int) -> dict[str, dict[str, Any]]:
    with store.read_run_history(db) as runs:
        frame = store.query(runs, RECIPIENTS_OF_RUN, [run_id])
    return {str(row["recipient"]): row for row in frame.iter_rows(named=True)}


def _newer_success(db: StoreLocation, run: dict[str, Any]) -> bool:
    with store.read_run_history(db) as runs:
        frame = store.query(runs, NEWER_SUCCESS, [run["report"], run.get("params"), run["id"]])
    return bool(frame["n"][0])


def _mark_delivered(db: StoreLocation, run_id: int) -> None:
    _write(db, DELIVERED, [run_id])


def _write(db: StoreLocation, sql: str, params: Sequence[object]) -> None:
    """One statement in its own short write (committed when it returns)."""
    store.run_history_write(db, lambda runs: store.query(runs, sql, params), what="a delivery")
