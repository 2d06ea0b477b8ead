"""The scheduler service: briefings rendered and delivered on their cron schedule."""

from tracker.schedule.children import log_format
from tracker.schedule.jobs import list_schedules
from tracker.schedule.service import BriefingScheduler

__all__ = [
    "log_format",
    "list_schedules",
    "BriefingScheduler",
]
