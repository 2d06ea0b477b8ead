"""Indicator and briefing definition files -> validated models, checked against schemas/."""

from tracker.definitions.alerts import alert_files, check_alert_names, load_alert, load_alerts
from tracker.definitions.briefings import (
    briefing_files,
    check_briefing_names,
    check_email_address,
    check_one_line,
    check_param_value,
    find_briefing,
    load_briefing,
    load_briefings,
)
from tracker.definitions.indicators import (
    definition_files_digest,
    definitions_digest,
    load_indicators,
)

__all__ = [
    "alert_files",
    "check_alert_names",
    "load_alert",
    "load_alerts",
    "check_param_value",
    "check_email_address",
    "check_one_line",
    "check_briefing_names",
    "find_briefing",
    "load_briefing",
    "load_briefings",
    "briefing_files",
    "definition_files_digest",
    "definitions_digest",
    "load_indicators",
]
