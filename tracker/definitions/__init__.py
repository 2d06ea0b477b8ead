"""Indicator and briefing definition files -> validated models, checked against schemas/."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tracker.definitions.alerts import (
        alert_files,
        check_alert_names,
        load_alert,
        load_alerts,
    )
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

# Each public name and its module, imported on first use: `tracker import` and `ingest`
# read indicator definitions only, and start without the briefing and alert modules.
_HOMES = {
    "alert_files": "alerts",
    "check_alert_names": "alerts",
    "load_alert": "alerts",
    "load_alerts": "alerts",
    "briefing_files": "briefings",
    "check_briefing_names": "briefings",
    "check_email_address": "briefings",
    "check_one_line": "briefings",
    "check_param_value": "briefings",
    "find_briefing": "briefings",
    "load_briefing": "briefings",
    "load_briefings": "briefings",
    "definition_files_digest": "indicators",
    "definitions_digest": "indicators",
    "load_indicators": "indicators",
}

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


def __getattr__(name: str) -> Any:
    """The public name `name`, imported from its module on first use (PEP 562)."""
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value
