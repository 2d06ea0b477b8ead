"""Deliver rendered briefings: the newest published issue's PDF copied atomically to
`reports/outbox/`, and an e-mail to the recipients. Every attempt is recorded in `deliveries`
of the run history; failures are retried a bounded number of times and never touch the
rendered briefing.

A draft is never delivered as an issue: `deliver_briefing(..., draft=True)` sends a test copy
of the newest draft to the addresses given (the subject says TEST), with no outbox copy, no
row in `deliveries` and nothing owed.
"""

from __future__ import annotations

import json
import logging
import smtplib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tracker import briefing, settings, store
from tracker.deliver.messages import briefing_message, failure_notice
from tracker.deliver.smtp import SmtpSettings, record_delivery, send, send_with_retries
from tracker.errors import DeliveryError, InputError, TrackerError
from tracker.files import write_atomically
from tracker.location import StoreLocation
from tracker.models import BriefingDefinition

log = logging.getLogger("tracker.deliver")


@dataclass(frozen=True)
class Delivery:
    """What one `deliver_briefing` call did."""

    briefing_name: str
    run_id: int
    issue: int | None
    pdf: Path
    outbox: Path | None
    recipients: tuple[str, ...]
    emailed: bool
    note: str = ""


def deliver_briefing(
    db: StoreLocation,
    definition: BriefingDefinition,
    *,
    run_id: int | None = None,
    to: Sequence[str] = (),
    attempts: int | None = None,
    sleep: Callable[[float], None] = time.sleep,
    draft: bool = False,
) -> Delivery:
    """Copy the issue's PDF to the outbox and e-mail it to the recipients (or `to`).

    Without `run_id` the newest published issue is delivered. The e-mail is tried up to
    `attempts` times (default 1 + TRACKER_RUN_RETRIES), waiting TRACKER_RETRY_DELAY seconds,
    doubled each time, in between; every attempt is recorded in `deliveries`. With `draft`,
    a test copy of the newest draft (or draft `run_id`) goes to `to` only: see the module.
    """
    if draft:
        return _send_test_copy(db, definition, run_id, to)
    run, previous = _run_and_previous(db, definition.name, run_id)
    run_number = int(run["id"])
    pdf = _pdf_of(definition.name, run)
    definition = _variant_of(db, definition, run)
    outbox = publish_to_outbox(pdf, pdf.stem)  # <report>.pdf; a variant's <report>--<p>-<v>.pdf
    record_delivery(db, definition.name, run_number, "outbox", str(outbox), "sent", 1)
    log.info("outbox %s run=%d -> %s", definition.name, run_number, outbox)
    schedule = definition.schedule
    recipients = tuple(to) or (schedule.recipients if schedule else ())
    issue = int(run["issue"]) if run.get("issue") is not None else None
    if not recipients:
        return Delivery(definition.name, run_number, issue, pdf, outbox, (), False,
                        "no recipients")  # fmt: skip
    smtp = SmtpSettings.from_environment()
    if smtp is None:
        reason = f"{settings.SMTP_HOST.env} is not set"
        record_delivery(db, definition.name, run_number, "email", ", ".join(recipients),
                        "skipped", 1, reason)  # fmt: skip
        raise DeliveryError(
            f"{definition.name}: not e-mailed to {', '.join(recipients)}: {reason}. Set the "
            "TRACKER_SMTP_* variables (see README, 'Scheduled briefings'); the PDF is in "
            f"{outbox}."
        )
    message = briefing_message(definition, run, previous, pdf, recipients, smtp.sender)
    send_with_retries(db, smtp, message, definition.name, run_number, "email", recipients,
                      attempts, sleep)  # fmt: skip
    return Delivery(definition.name, run_number, issue, pdf, outbox, recipients, True)


def _send_test_copy(
    db: StoreLocation, definition: BriefingDefinition, run_id: int | None, to: Sequence[str]
) -> Delivery:
    """E-mail a test copy of a draft to `to`, once, recording nothing."""
    if not to:
        raise InputError(
            f"--draft sends a test copy only to the addresses given: tracker deliver "
            f"{definition.name} --draft --to ADDRESS"
        )
    run, previous = _run_and_previous(db, definition.name, run_id, draft=True)
    pdf = _pdf_of(definition.name, run)
    definition = _variant_of(db, definition, run)
    smtp = SmtpSettings.from_environment()
    if smtp is None:
        raise DeliveryError(
            f"{definition.name}: the test copy was not e-mailed: {settings.SMTP_HOST.env} is "
            f"not set. Set the TRACKER_SMTP_* variables (see README, 'Scheduled briefings'); "
            f"the draft is {pdf}."
        )
    message = briefing_message(definition, run, previous, pdf, to, smtp.sender, test=True)
    try:
        send(smtp, message)
    except (smtplib.SMTPException, OSError, ValueError) as error:
        reason = smtp.scrub(f"{type(error).__name__}: {error}")
        raise DeliveryError(
            f"{definition.name}: the test copy to {', '.join(to)} via {smtp.describe()} failed: "
            f"{reason}. Nothing was recorded; try again."
        ) from None
    log.info("test copy %s run=%s -> %s", definition.name, run["id"], ", ".join(to))
    return Delivery(definition.name, int(run["id"]), None, pdf, None, tuple(to), True,
                    "test copy of a draft")  # fmt: skip


def notify_failure(
    db: StoreLocation,
    definition: BriefingDefinition,
    *,
    run_id: int | None,
    error: str,
    attempts_made: int,
    sleep: Callable[[float], None] = time.sleep,
) -> bool:
    """E-mail the briefing's owner that its scheduled run failed; True when sent.

    Only for briefings with recipients and an owner, and only when SMTP is configured.
    """
    schedule = definition.schedule
    if schedule is None or not schedule.recipients or not schedule.owner:
        return False
    smtp = SmtpSettings.from_environment()
    if smtp is None:
        record_delivery(db, definition.name, run_id, "failure-notice", schedule.owner,
                        "skipped", 1, f"{settings.SMTP_HOST.env} is not set")  # fmt: skip
        return False
    message = failure_notice(
        definition, run_id=run_id, error=smtp.scrub(error), attempts_made=attempts_made,
        sender=smtp.sender, owner=schedule.owner, outbox=outbox_path(definition.name),
    )  # fmt: skip
    try:
        send_with_retries(db, smtp, message, definition.name, run_id, "failure-notice",
                          (schedule.owner,), 2, sleep)  # fmt: skip
    except DeliveryError:
        return False
    return True


def outbox_path(briefing_name: str) -> Path:
    """Where the newest PDF of `briefing_name` is published: reports/outbox/<report>.pdf (for a
    variant `briefing_name` is its file name, e.g. country-profile--geography-KAZ)."""
    return settings.reports_dir() / "outbox" / f"{briefing_name}.pdf"


def publish_to_outbox(pdf: Path, briefing_name: str) -> Path:
    """Copy `pdf` to reports/outbox/<report>.pdf atomically (temp file, fsync, rename)."""
    target = outbox_path(briefing_name)
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(pdf, "rb") as source:
        write_atomically(target, iter(lambda: source.read(1 << 20), b""))
    return target


def _run_and_previous(
    db: StoreLocation, briefing_name: str, run_id: int | None, *, draft: bool = False
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The run to deliver (the newest published issue, with `draft` the newest draft, or
    `run_id`) and the published issue before it."""
    which = f"run {run_id} of '{briefing_name}'" if run_id is not None else f"'{briefing_name}'"
    kind = "draft" if draft else "published issue"
    command = f"tracker brief {briefing_name}" + ("" if draft else " --publish")
    missing = InputError(
        f"No {kind} {which} to deliver: run `{command}` first (`tracker reports` shows the "
        "last run)."
    )
    with store.read_run_history(db) as runs:
        if run_id is None:
            run = store.newest_success(runs, briefing_name, draft=draft)
        else:
            run = store.run_by_id(runs, briefing_name, run_id)
        if run is None:
            raise missing
        if run["status"] != "succeeded":
            raise InputError(
                f"Run {run['id']} of '{briefing_name}' {run['status']}; only a succeeded run is "
                f"delivered. Render it again with `{command}`."
            )
        if bool(run["published"]) == draft:
            raise InputError(
                f"Run {run['id']} of '{briefing_name}' is issue {run['issue']}; --draft sends only "
                "drafts. Leave --draft out to deliver the issue."
                if draft
                else f"Run {run['id']} of '{briefing_name}' is a draft, never delivered as an "
                f"issue: send a test copy with `tracker deliver {briefing_name} --draft --to "
                f"ADDRESS`, or publish it with `tracker brief {briefing_name} --publish`."
            )
        previous = store.success_before(runs, briefing_name, int(str(run["id"])))
    return dict(run), (dict(previous) if previous else None)


def _variant_of(
    db: StoreLocation, definition: BriefingDefinition, run: dict[str, Any]
) -> BriefingDefinition:
    """The definition of the variant a run rendered (its texts name the country), or the
    definition itself for a briefing without parameters."""
    if not definition.params or not run.get("params"):
        return definition
    try:
        with store.connect(db, read_only=True) as conn:
            return briefing.resolve(conn, definition, json.loads(str(run["params"])))[0]
    except (TrackerError, ValueError) as error:
        log.warning("variant of run %s not resolved (%s); using the definition's texts",
                    run["id"], error)  # fmt: skip
        return definition


def _pdf_of(briefing_name: str, run: dict[str, Any]) -> Path:
    outputs = json.loads(str(run.get("outputs") or "[]"))
    pdfs = [Path(o["file"]) for o in outputs if str(o["file"]).endswith(".pdf")]
    if not pdfs:
        raise DeliveryError(
            f"Run {run['id']} of '{briefing_name}' has no PDF (formats: {run['formats']}). Add "
            "'pdf' to the definition's formats and render again."
        )
    if not pdfs[0].is_file():
        raise DeliveryError(
            f"{pdfs[0]}: the PDF of run {run['id']} of '{briefing_name}' is gone. Render it again "
            f"with `tracker brief {briefing_name}`."
        )
    return pdfs[0]
