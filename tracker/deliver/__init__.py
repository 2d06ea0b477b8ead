"""Rendered briefings -> the outbox and e-mail; the delivery a scheduled run owes."""

from tracker.deliver.delivery import deliver_briefing, notify_failure
from tracker.deliver.owed import OwedDelivery, OwedRun, deliver_owed, owed_runs

__all__ = [
    "deliver_briefing",
    "notify_failure",
    "OwedDelivery",
    "OwedRun",
    "deliver_owed",
    "owed_runs",
]
