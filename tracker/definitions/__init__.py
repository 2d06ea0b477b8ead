"""Indicator and briefing definition files -> validated models, checked against schemas/."""

from tracker.definitions.briefings import (
    check_param_value,
    check_report_names,
    find_report,
    load_report,
    load_reports,
    report_files,
)
from tracker.definitions.indicators import definitions_digest, load_indicators

__all__ = [
    "check_param_value",
    "check_report_names",
    "find_report",
    "load_report",
    "load_reports",
    "report_files",
    "definitions_digest",
    "load_indicators",
]
