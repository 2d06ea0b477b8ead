"""Paths and settings, declared once, read from the environment or the CLI.

Layer 0: imports nothing from tracker.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Setting:
    """One setting: its environment variable, default and help text."""

    env: str
    default: str
    help: str


DB = Setting("TRACKER_DB", "data/tracker.duckdb", "DuckDB file holding everything.")
HOME = Setting(
    "TRACKER_HOME",
    str(PROJECT_ROOT),
    "Project folder holding indicators/, reports/, templates/ and data/.",
)
BUSY_TIMEOUT = Setting(
    "TRACKER_BUSY_TIMEOUT",
    "30",
    "Seconds to wait for a database held by another process before giving up.",
)


def value(setting: Setting) -> str:
    """The setting's value from the environment, else its default."""
    return os.environ.get(setting.env) or setting.default


def home() -> Path:
    """The project folder (indicators/, reports/, templates/, data/)."""
    return Path(value(HOME)).resolve()


def indicators_dir() -> Path:
    """Folder of indicator definition files."""
    return home() / "indicators"


def reports_dir() -> Path:
    """Folder of briefing definition files."""
    return home() / "reports"


def templates_dir() -> Path:
    """Folder of Jinja2 templates."""
    return home() / "templates"


def reference_dir() -> Path:
    """Folder of shipped reference tables (initiatives, geographies, sources, fx_rates)."""
    return home() / "data" / "reference"


def default_db() -> Path:
    """The database path: TRACKER_DB as given, else data/tracker.duckdb in the project."""
    env = os.environ.get(DB.env)
    return Path(env) if env else home() / DB.default


def busy_timeout() -> float:
    """Seconds to wait for a locked database."""
    try:
        return max(0.0, float(value(BUSY_TIMEOUT)))
    except ValueError:
        return float(BUSY_TIMEOUT.default)
