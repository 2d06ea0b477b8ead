"""E-mail over SMTP: the settings from TRACKER_SMTP_*, sending with a bounded number of
retries, and the record of every delivery attempt (any channel) in `deliveries`.

The password comes only from the environment and is never put in a message, a record or a
log.
"""

from __future__ import annotations

import logging
import os
import smtplib
import ssl
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage

from tracker import settings, store
from tracker.errors import DeliveryError, TrackerError
from tracker.location import StoreLocation

log = logging.getLogger("tracker.deliver")

TLS_MODES = ("none", "starttls", "ssl")
DEFAULT_PORTS = {"none": 25, "starttls": 587, "ssl": 465}
SMTP_TIMEOUT = 30.0

INSERT_DELIVERY = """
INSERT INTO deliveries (id, report, run_id, channel, recipients, status, attempt, error,
                        recorded_at)
VALUES ($9, $1, $2, $3, $4, $5, $6, $7, $8)
"""


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

    def scrub(self, text: str) -> str:
        """`text` without the password and user, should a server or library echo them."""
        for secret in (self.password, self.user):
            text = text.replace(secret, "***") if secret else text
        return text


def send_with_retries(
    db: StoreLocation,
    smtp: SmtpSettings,
    message: EmailMessage,
    briefing_name: str,
    run_id: int | None,
    channel: str,
    recipients: Sequence[str],
    attempts: int | None,
    sleep: Callable[[float], None],
) -> None:
    """Send `message`, up to `attempts` times (default 1 + TRACKER_RUN_RETRIES), waiting
    TRACKER_RETRY_DELAY seconds, doubled each time, in between; each attempt is recorded.
    DeliveryError when the last attempt fails."""
    total = attempts or 1 + int(settings.number(settings.RUN_RETRIES))
    delay = settings.number(settings.RETRY_DELAY)
    shown = ", ".join(recipients)
    for attempt in range(1, total + 1):
        started = time.monotonic()
        try:
            send(smtp, message)
        except (smtplib.SMTPException, OSError, ValueError) as error:
            reason = smtp.scrub(f"{type(error).__name__}: {error}")
            record_delivery(db, briefing_name, run_id, channel, shown, "failed", attempt, reason)
            log.warning("delivery failed %s run=%s to %s via %s (attempt %d/%d): %s", briefing_name,
                        run_id, shown, smtp.describe(), attempt, total, reason)  # fmt: skip
            if attempt == total:
                raise DeliveryError(
                    f"{briefing_name}: e-mail to {shown} via {smtp.describe()} failed after "
                    f"{total} attempt(s): {reason}. The rendered briefing is kept; try again with "
                    f"`tracker deliver {briefing_name}`."
                ) from None
            sleep(delay * 2 ** (attempt - 1))
            continue
        record_delivery(db, briefing_name, run_id, channel, shown, "sent", attempt)
        log.info("delivered %s run=%s by e-mail to %s in %.2fs", briefing_name, run_id, shown,
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


def record_delivery(
    db: StoreLocation,
    briefing_name: str,
    run_id: int | None,
    channel: str,
    recipients: str,
    status: str,
    attempt: int,
    error: str | None = None,
) -> None:
    """One row in `deliveries`; a busy run history is logged, never hides the delivery."""
    try:
        store.run_history_write(
            db,
            lambda runs: runs.execute(INSERT_DELIVERY, [
                briefing_name, run_id, channel, recipients, status, attempt, error,
                store.utc_now(), store.next_id(runs, "delivery_ids")]),
            what=f"the delivery record of {briefing_name}",
        )  # fmt: skip
    except TrackerError as problem:
        log.warning("delivery of %s not recorded: %s", briefing_name, problem)
