"""Deliver rendered briefings: the newest PDF copied atomically to `reports/outbox/`, and an
e-mail over SMTP (plain text and HTML listing the key figures and what changed, the PDF
attached). Every attempt is recorded in `deliveries` of the run history; failures are
retried a bounded number of times and never touch the rendered briefing.

Layer 2.4: imports settings, errors, models, store, variants, briefing_runs. SMTP settings come only
from the environment (TRACKER_SMTP_*); the password is never put in a message or a log.
"""

from __future__ import annotations

import csv
import html
import io
import json
import logging
import os
import smtplib
import ssl
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Any

from tracker import briefing_runs, settings, store, variants
from tracker.errors import InputError, TrackerError
from tracker.models import ReportDefinition

log = logging.getLogger("tracker.deliver")

TLS_MODES = ("none", "starttls", "ssl")
DEFAULT_PORTS = {"none": 25, "starttls": 587, "ssl": 465}
SMTP_TIMEOUT = 30.0

INSERT_DELIVERY = """
INSERT INTO deliveries (report, run_id, channel, recipients, status, attempt, error,
                        recorded_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
RETURNING id
"""


class DeliveryError(TrackerError):
    """A briefing could not be delivered (exit code 1); the rendered files are kept."""


@dataclass(frozen=True)
class SmtpSettings:
    """Where and how to send e-mail, from TRACKER_SMTP_* (the password is never shown)."""

    host: str
    port: int
    tls: str
    user: str | None
    password: str | None = field(repr=False)
    sender: str

    @classmethod
    def from_environment(cls) -> SmtpSettings | None:
        """The SMTP settings, or None when TRACKER_SMTP_HOST is not set."""
        host = settings.value(settings.SMTP_HOST).strip()
        if not host:
            return None
        tls = settings.value(settings.SMTP_TLS).strip().lower()
        if tls not in TLS_MODES:
            raise DeliveryError(
                f"{settings.SMTP_TLS.env}: found '{tls}', expected none, starttls or ssl."
            )
        port_text = settings.value(settings.SMTP_PORT).strip()
        try:
            port = int(port_text) if port_text else DEFAULT_PORTS[tls]
        except ValueError:
            raise DeliveryError(
                f"{settings.SMTP_PORT.env}: found '{port_text}', expected a port number."
            ) from None
        user = settings.value(settings.SMTP_USER).strip() or None
        sender = settings.value(settings.SMTP_FROM).strip() or user
        if not sender:
            raise DeliveryError(
                f"{settings.SMTP_FROM.env} is not set (nor {settings.SMTP_USER.env}): "
                "set the sender address of briefing e-mails."
            )
        password = os.environ.get(settings.SMTP_PASSWORD.env) or None
        return cls(host, port, tls, user, password, sender)

    def describe(self) -> str:
        """Where mail goes, for messages: host, port and TLS mode (never the password)."""
        return f"{self.host}:{self.port} ({self.tls})"


@dataclass(frozen=True)
class Delivery:
    """What one `deliver_briefing` call did."""

    report: str
    run_id: int
    issue: int | None
    pdf: Path
    outbox: Path | None
    recipients: tuple[str, ...]
    emailed: bool
    note: str = ""


# --- public entry points -----------------------------------------------------------------


def deliver_briefing(
    db: Path,
    definition: ReportDefinition,
    *,
    run_id: int | None = None,
    to: Sequence[str] = (),
    attempts: int | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> Delivery:
    """Copy the run's PDF to the outbox and e-mail it to the recipients (or `to`).

    Without `run_id` the newest succeeded run is delivered. The e-mail is tried up to
    `attempts` times (default 1 + TRACKER_RUN_RETRIES), waiting TRACKER_RETRY_DELAY seconds,
    doubled each time, in between; every attempt is recorded in `deliveries`.
    """
    run, previous = _run_and_previous(db, definition.name, run_id)
    run_number = int(run["id"])
    pdf = _pdf_of(definition.name, run)
    definition = _variant_of(db, definition, run)
    outbox = publish_to_outbox(pdf, pdf.stem)  # <report>.pdf; a variant's <report>--<p>-<v>.pdf
    _record(db, definition.name, run_number, "outbox", str(outbox), "sent", 1)
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
        _record(db, definition.name, run_number, "email", ", ".join(recipients), "skipped", 1,
                reason)  # fmt: skip
        raise DeliveryError(
            f"{definition.name}: not e-mailed to {', '.join(recipients)}: {reason}. Set the "
            "TRACKER_SMTP_* variables (see README, 'Scheduled briefings'); the PDF is in "
            f"{outbox}."
        )
    message = briefing_message(definition, run, previous, pdf, recipients, smtp.sender)
    _send_with_retries(db, smtp, message, definition.name, run_number, "email", recipients,
                       attempts, sleep)  # fmt: skip
    return Delivery(definition.name, run_number, issue, pdf, outbox, recipients, True)


def notify_failure(
    db: Path,
    definition: ReportDefinition,
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
        _record(db, definition.name, run_id, "failure-notice", schedule.owner, "skipped", 1,
                f"{settings.SMTP_HOST.env} is not set")  # fmt: skip
        return False
    message = EmailMessage()
    message["Subject"] = f"tracker: the briefing {definition.name} failed"
    message["From"] = smtp.sender
    message["To"] = schedule.owner
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain="tracker.invalid")
    outbox = outbox_path(definition.name)
    kept = f"The last good PDF is still {outbox}." if outbox.exists() else "No PDF was sent."
    message.set_content(
        f"The scheduled run of '{definition.title}' ({definition.name}) failed after "
        f"{attempts_made} attempt(s).\n\nRun: {run_id if run_id is not None else 'not recorded'}"
        f"\nError: {_scrub(error, smtp)}\n\n{kept}\n"
        'The run history: tracker sql "select * from report_runs order by id desc limit 5"\n'
    )
    try:
        _send_with_retries(db, smtp, message, definition.name, run_id, "failure-notice",
                           (schedule.owner,), 2, sleep)  # fmt: skip
    except DeliveryError:
        return False
    return True


def outbox_path(report: str) -> Path:
    """Where the newest PDF of `report` is published: reports/outbox/<report>.pdf (for a
    variant `report` is its file name, e.g. country-profile--geography-KAZ)."""
    return settings.reports_dir() / "outbox" / f"{report}.pdf"


def publish_to_outbox(pdf: Path, report: str) -> Path:
    """Copy `pdf` to reports/outbox/<report>.pdf atomically (temp file, fsync, rename)."""
    target = outbox_path(report)
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    try:
        with open(pdf, "rb") as source, open(temporary, "wb") as handle:
            while chunk := source.read(1 << 20):
                handle.write(chunk)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return target


# --- the e-mail ------------------------------------------------------------------------------


@dataclass(frozen=True)
class KeyFigure:
    """One line of the e-mail's key figures."""

    name: str
    where: str
    period: str
    value: str
    change: str
    since_previous: str


def briefing_message(
    definition: ReportDefinition,
    run: dict[str, Any],
    previous: dict[str, Any] | None,
    pdf: Path,
    recipients: Sequence[str],
    sender: str,
) -> EmailMessage:
    """The briefing e-mail: plain text and HTML alternatives, the PDF attached."""
    issue = run.get("issue")
    day = run["briefing_date"]
    figures = key_figures(run, previous)
    changed = [f for f in figures if f.since_previous]
    previous_issue = previous.get("issue") if previous else None
    data_as_of = run.get("data_as_of")
    stamp = f"{data_as_of:%Y-%m-%d %H:%M} UTC" if data_as_of else "no data"
    heading = f"Issue {issue} of {day:%-d %B %Y}; data as of {stamp}."
    if previous_issue is None:
        change_line = "This is the first issue."
    elif not changed:
        change_line = f"No key figure changed since issue {previous_issue}."
    else:
        change_line = f"{len(changed)} key figure(s) changed since issue {previous_issue}:"

    text = io.StringIO()
    text.write(f"{definition.title}\n{heading}\n\nKey figures\n")
    for f in figures:
        text.write(f"- {f.name} ({f.where}), {f.period}: {f.value}{_paren(f.change)}\n")
    if not figures:
        text.write("- none in this briefing\n")
    text.write(f"\nWhat changed\n{change_line}\n")
    for f in changed:
        text.write(f"- {f.name} ({f.where}): {f.since_previous}\n")
    text.write(f"\nThe full briefing is attached: {pdf.name} ({pdf.stat().st_size // 1024} KB).\n")

    e = html.escape
    rows = "".join(
        f"<tr><td>{e(f.name)}</td><td>{e(f.where)}</td><td>{e(f.period)}</td>"
        f'<td style="text-align:right">{e(f.value)}</td><td>{e(f.change)}</td></tr>'
        for f in figures
    )
    changes = "".join(
        f"<li>{e(f.name)} ({e(f.where)}): {e(f.since_previous)}</li>" for f in changed
    )
    page = (
        '<!doctype html><html><body style="font-family: sans-serif">'
        f'<h1 style="font-size:1.2em">{e(definition.title)}</h1><p>{e(heading)}</p>'
        '<h2 style="font-size:1em">Key figures</h2>'
        '<table cellpadding="4" style="border-collapse:collapse">'
        "<tr><th>Indicator</th><th>Initiative, geography</th><th>Period</th><th>Value</th>"
        f"<th>Change</th></tr>{rows}</table>"
        f'<h2 style="font-size:1em">What changed</h2><p>{e(change_line)}</p>'
        f"{f'<ul>{changes}</ul>' if changes else ''}"
        f"<p>The full briefing is attached: {e(pdf.name)}.</p></body></html>"
    )

    message = EmailMessage()
    message["Subject"] = f"{definition.title}: issue {issue}, {day:%-d %B %Y}"
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain="tracker.invalid")
    message.set_content(text.getvalue())
    message.add_alternative(page, subtype="html")
    message.add_attachment(pdf.read_bytes(), maintype="application", subtype="pdf",
                           filename=pdf.name)  # fmt: skip
    return message


def key_figures(run: dict[str, Any], previous: dict[str, Any] | None) -> list[KeyFigure]:
    """The key figures of a run (from its CSV), each with what changed since `previous`."""
    rows = _key_figure_rows(run)
    before: dict[tuple[str, str, str], dict[str, Any]] = {}
    if previous and previous.get("key_figures"):
        for item in json.loads(str(previous["key_figures"])):
            before[(item["indicator"], item["initiative"], item["geography"])] = item
    figures = []
    for row in rows:
        unit = _unit(row.get("unit", ""), row.get("currency", ""))
        value = _number(row.get("value", ""))
        old = before.get((row["indicator"], row["initiative"], row["geography"]))
        since = ""
        if old is not None and value is not None:
            if old.get("period") != row["period"]:
                since = f"new period {row['period']}: {_shown(value)} {unit} " \
                        f"(was {old.get('period')}: {_shown(old.get('value'))})"  # fmt: skip
            elif old.get("value") is not None and abs(float(old["value"]) - value) > 1e-9:
                since = f"revised {_shown(old['value'])} -> {_shown(value)} {unit}"
        elif old is None and previous is not None and value is not None:
            since = f"new: {row['period']} {_shown(value)} {unit}"
        change = ""
        delta = _number(row.get("change", ""))
        if delta is not None and row.get("previous_period"):
            change = f"{delta:+,.4g} vs {row['previous_period']}"
        figures.append(
            KeyFigure(
                name=row.get("item") or row["indicator"],
                where=f"{row['initiative']}, {row['geography']}",
                period=row["period"] or "-",
                value="no data yet" if value is None else f"{_shown(value)} {unit}".strip(),
                change=change,
                since_previous=since,
            )
        )
    return figures


# --- helpers ------------------------------------------------------------------------------


def _run_and_previous(
    db: Path, report: str, run_id: int | None
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The run to deliver (newest succeeded, or `run_id`) and the succeeded run before it."""
    which = f"run {run_id} of '{report}'" if run_id is not None else f"'{report}'"
    missing = InputError(
        f"No rendered briefing {which} to deliver: run `tracker brief {report}` first "
        "(`tracker reports` shows the last run)."
    )
    with store.read_runs(db) as runs:
        if runs is None:
            raise missing
        if run_id is None:
            run = briefing_runs.newest_success(runs, report)
        else:
            run = briefing_runs.run_by_id(runs, report, run_id)
        if run is None:
            raise missing
        if run["status"] != "succeeded":
            raise InputError(
                f"Run {run['id']} of '{report}' {run['status']}; only a succeeded run is "
                "delivered. Render it again with `tracker brief`."
            )
        previous = briefing_runs.success_before(runs, report, int(str(run["id"])))
    return dict(run), (dict(previous) if previous else None)


def _variant_of(db: Path, definition: ReportDefinition, run: dict[str, Any]) -> ReportDefinition:
    """The definition of the variant a run rendered (its texts name the country), or the
    definition itself for a briefing without parameters."""
    if not definition.params or not run.get("params"):
        return definition
    try:
        with store.connect(db, read_only=True) as conn:
            return variants.resolve(conn, definition, json.loads(str(run["params"])))[0]
    except (TrackerError, ValueError) as error:
        log.warning("variant of run %s not resolved (%s); using the definition's texts",
                    run["id"], error)  # fmt: skip
        return definition


def _pdf_of(report: str, run: dict[str, Any]) -> Path:
    outputs = json.loads(str(run.get("outputs") or "[]"))
    pdfs = [Path(o["file"]) for o in outputs if str(o["file"]).endswith(".pdf")]
    if not pdfs:
        raise DeliveryError(
            f"Run {run['id']} of '{report}' has no PDF (formats: {run['formats']}). Add 'pdf' "
            "to the definition's formats and render again."
        )
    if not pdfs[0].is_file():
        raise DeliveryError(
            f"{pdfs[0]}: the PDF of run {run['id']} of '{report}' is gone. Render it again "
            f"with `tracker brief {report}`."
        )
    return pdfs[0]


def _key_figure_rows(run: dict[str, Any]) -> list[dict[str, str]]:
    """The 'Key figures' rows of the run's CSV (written beside its PDF)."""
    outputs = json.loads(str(run.get("outputs") or "[]"))
    found = [Path(o["file"]) for o in outputs if str(o["file"]).endswith(".csv")]
    if not found or not found[0].is_file():
        return []
    with open(found[0], encoding="utf-8", newline="") as handle:
        return [row for row in csv.DictReader(handle) if row.get("section") == "Key figures"]


def _send_with_retries(
    db: Path,
    smtp: SmtpSettings,
    message: EmailMessage,
    report: str,
    run_id: int | None,
    channel: str,
    recipients: Sequence[str],
    attempts: int | None,
    sleep: Callable[[float], None],
) -> None:
    total = attempts or 1 + int(settings.number(settings.RUN_RETRIES))
    delay = settings.number(settings.RETRY_DELAY)
    shown = ", ".join(recipients)
    for attempt in range(1, total + 1):
        started = time.monotonic()
        try:
            send(smtp, message)
        except (smtplib.SMTPException, OSError, ValueError) as error:
            reason = _scrub(f"{type(error).__name__}: {error}", smtp)
            _record(db, report, run_id, channel, shown, "failed", attempt, reason)
            log.warning("delivery failed %s run=%s to %s via %s (attempt %d/%d): %s", report,
                        run_id, shown, smtp.describe(), attempt, total, reason)  # fmt: skip
            if attempt == total:
                raise DeliveryError(
                    f"{report}: e-mail to {shown} via {smtp.describe()} failed after {total} "
                    f"attempt(s): {reason}. The rendered briefing is kept; try again with "
                    f"`tracker deliver {report}`."
                ) from None
            sleep(delay * 2 ** (attempt - 1))
            continue
        _record(db, report, run_id, channel, shown, "sent", attempt)
        log.info("delivered %s run=%s by e-mail to %s in %.2fs", report, run_id, shown,
                 time.monotonic() - started)  # fmt: skip
        return


def send(smtp: SmtpSettings, message: EmailMessage) -> None:
    """Send one message (stdlib smtplib), with TLS as configured and AUTH when a user is set."""
    context = ssl.create_default_context()
    client: smtplib.SMTP
    if smtp.tls == "ssl":
        client = smtplib.SMTP_SSL(smtp.host, smtp.port, timeout=SMTP_TIMEOUT, context=context)
    else:
        client = smtplib.SMTP(smtp.host, smtp.port, timeout=SMTP_TIMEOUT)
    with client:
        client.ehlo()
        if smtp.tls == "starttls":
            client.starttls(context=context)
            client.ehlo()
        if smtp.user:
            client.login(smtp.user, smtp.password or "")
        client.send_message(message)


def _record(
    db: Path,
    report: str,
    run_id: int | None,
    channel: str,
    recipients: str,
    status: str,
    attempt: int,
    error: str | None = None,
) -> None:
    """One row in `deliveries`; a busy run history is logged, never hides the delivery."""
    try:
        with store.connect_runs(db) as runs:
            store.query(runs, INSERT_DELIVERY, [report, run_id, channel, recipients, status,
                                                attempt, error, store.utc_now()])  # fmt: skip
    except TrackerError as problem:
        log.warning("delivery of %s not recorded: %s", report, problem)


def _scrub(text: str, smtp: SmtpSettings) -> str:
    """Remove the password and user from a message, should a server or library echo them."""
    for secret in (smtp.password, smtp.user):
        text = text.replace(secret, "***") if secret else text
    return text


def _paren(text: str) -> str:
    return f" ({text})" if text else ""


def _number(text: object) -> float | None:
    try:
        return float(str(text)) if text not in ("", None) else None
    except ValueError:
        return None


def _shown(value: object) -> str:
    number = _number(value)
    if number is None:
        return "-"
    return f"{number:,.0f}" if abs(number) >= 1e4 else f"{number:,.4g}"


def _unit(unit: str, currency: str) -> str:
    """'USD bn' with currency 'EUR' -> 'EUR bn'; other units as they are."""
    parts = unit.split(" ", 1)
    if currency and len(parts) == 2 and len(parts[0]) == 3 and parts[0].isupper():
        return f"{currency} {parts[1]}"
    return unit
