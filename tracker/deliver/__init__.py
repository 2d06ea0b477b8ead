"""Rendered briefings -> the outbox and e-mail."""

from tracker.deliver.delivery import deliver_briefing, notify_failure

__all__ = [
    "deliver_briefing",
    "notify_failure",
]
