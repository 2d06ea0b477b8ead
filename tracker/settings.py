"""Paths and settings, declared once, read from the environment or the CLI."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from tracker.location import DATA_PATH_ENV, StoreLocation, store_location

# The source checkout this package runs from; in an installed (non-editable) package this
# is site-packages, which holds no project folders, so `home()` falls back to the current one.
PROJECT_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Setting:
    """One setting: its environment variable, default and help text."""

    env: str
    default: str
    help: str


DB = Setting(
    "TRACKER_DB",
    "data/tracker.duckdb",
    "DuckDB file holding everything, or a team store: ducklake:postgres:<libpq conninfo>.",
)
DATA_PATH = Setting(
    DATA_PATH_ENV,
    "",
    "A team store's Parquet files: a shared folder or an s3:// URL (required with one).",
)
HOME = Setting(
    "TRACKER_HOME",
    "the source checkout, else the current folder",
    "Project folder holding indicators/, reports/, templates/ and data/.",
)
BUSY_TIMEOUT = Setting(
    "TRACKER_BUSY_TIMEOUT",
    "30",
    "Seconds to wait for a database held by another process before giving up.",
)
WRITE_RETRIES = Setting(
    "TRACKER_WRITE_RETRIES",
    "10",
    "Times a team store's write that lost a commit race to another process is run again, "
    "from its start, before the command gives up.",
)


def value(setting: Setting) -> str:
    """The setting's value from the environment, else its default."""
    return os.environ.get(setting.env) or setting.default


def home() -> Path:
    """The project folder (indicators/, reports/, templates/, data/): TRACKER_HOME, else the
    source checkout tracker runs from, else (an installed package) the current folder."""
    given = os.environ.get(HOME.env)
    if given:
        return Path(given).resolve()
    if (PROJECT_ROOT / "indicators").is_dir():
        return PROJECT_ROOT
    return Path.cwd()


def indicators_dir() -> Path:
    """Folder of indicator definition files."""
    return home() / "indicators"


def reports_dir() -> Path:
    """Folder of briefing definition files."""
    return home() / "reports"


def alerts_dir() -> Path:
    """Folder of alert definition files."""
    return reports_dir() / "alerts"


def templates_dir() -> Path:
    """Folder of Jinja2 templates."""
    return home() / "templates"


def reference_dir() -> Path:
    """Folder of shipped reference tables (initiatives, geographies, sources, fx_rates)."""
    return home() / "data" / "reference"


def default_db() -> StoreLocation:
    """The store: TRACKER_DB as given (a path, or a team store), else data/tracker.duckdb in
    the project."""
    env = os.environ.get(DB.env)
    return store_location(env) if env else home() / DB.default


def busy_timeout() -> float:
    """Seconds to wait for a locked database."""
    try:
        return max(0.0, float(value(BUSY_TIMEOUT)))
    except ValueError:
        return float(BUSY_TIMEOUT.default)


def write_retries() -> int:
    """How often a team store's write that lost a commit race is run again."""
    return int(number(WRITE_RETRIES))


# --- scheduler and delivery (tracker schedule, tracker deliver) ------------------------------

RENDER_TIMEOUT = Setting(
    "TRACKER_RENDER_TIMEOUT", "600", "Seconds a scheduled render may take before it is killed."
)
STOP_GRACE = Setting(
    "TRACKER_STOP_GRACE",
    "60",
    "Seconds the scheduler lets a running render finish after SIGTERM/SIGINT before killing it.",
)
RELOAD_INTERVAL = Setting(
    "TRACKER_RELOAD_INTERVAL", "5", "Seconds between checks of reports/ for changed files."
)
ALERT_INTERVAL = Setting(
    "TRACKER_ALERT_INTERVAL", "300", "Seconds between the scheduler's checks of reports/alerts/."
)
RUN_RETRIES = Setting(
    "TRACKER_RUN_RETRIES", "2", "Retries of a failed scheduled render (and of a delivery)."
)
RETRY_DELAY = Setting(
    "TRACKER_RETRY_DELAY",
    "60",
    "Seconds before the first retry; each further retry waits twice as long.",
)
SMTP_HOST = Setting("TRACKER_SMTP_HOST", "", "SMTP server; e-mail is not sent without it.")
SMTP_PORT = Setting("TRACKER_SMTP_PORT", "", "SMTP port [default: 25, 587 with starttls, 465 ssl].")
SMTP_TLS = Setting("TRACKER_SMTP_TLS", "starttls", "none, starttls or ssl.")
SMTP_USER = Setting("TRACKER_SMTP_USER", "", "SMTP login (none: no AUTH).")
SMTP_PASSWORD = Setting("TRACKER_SMTP_PASSWORD", "", "SMTP password; never printed or logged.")
SMTP_FROM = Setting("TRACKER_SMTP_FROM", "", "Sender address [default: TRACKER_SMTP_USER].")
# Set by the scheduler for the `tracker brief` process it starts, recorded with the run.
RUN_TRIGGER = Setting("TRACKER_RUN_TRIGGER", "manual", "Why a run started (set by the scheduler).")
SCHEDULED_FOR = Setting("TRACKER_SCHEDULED_FOR", "", "UTC due time of a scheduled run.")
RUN_ATTEMPT = Setting("TRACKER_RUN_ATTEMPT", "1", "Attempt number of a scheduled run.")


def number(setting: Setting, minimum: float = 0.0) -> float:
    """A numeric setting from the environment; its default when unset or not a number."""
    try:
        return max(minimum, float(value(setting)))
    except ValueError:
        return max(minimum, float(setting.default))


# --- ad-hoc SQL (tracker sql) ------------------------------------------------------------------

SQL_TIMEOUT = Setting(
    "TRACKER_SQL_TIMEOUT", "300", "Seconds a `tracker sql` query may run before it is stopped."
)
SQL_MEMORY = Setting(
    "TRACKER_SQL_MEMORY", "2GB", "DuckDB's memory limit for a `tracker sql` query (500MB, 4GB)."
)
SQL_FILE_LIMIT = 10 * 1024 * 1024  # bytes of SQL read from `tracker sql -f FILE`
