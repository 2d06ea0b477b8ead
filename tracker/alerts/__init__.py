"""Alerts of reports/alerts/*.toml: events found in the store, e-mailed once each."""

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
