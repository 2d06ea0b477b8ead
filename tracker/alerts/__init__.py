"""Alerts: events found in the store (a target reached, a revision, stale data, a new
figure) e-mailed once each to the recipients of `reports/alerts/*.toml`."""

from tracker.alerts.events import AlertEvent, alert_events
from tracker.alerts.sending import (
    AlertOutcome,
    alert_message,
    check_alerts,
    checked_definitions,
    last_events,
    would_send,
)

__all__ = [
    "AlertEvent",
    "AlertOutcome",
    "alert_events",
    "alert_message",
    "check_alerts",
    "checked_definitions",
    "last_events",
    "would_send",
]
