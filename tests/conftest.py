"""Shared fixtures: real DuckDB files on disk, built through the real CLI."""

from __future__ import annotations

import csv
import itertools
import os
import shutil
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import duckdb
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from typer.testing import CliRunner, Result

from tests import s3_server
from tests.postgres_server import INSTALL_HINT, PostgresServer, running_server
from tracker import settings, store
from tracker.cli.app import app

PROJECT = settings.PROJECT_ROOT
SHIPPED_OBSERVATIONS = sorted((PROJECT / "data" / "observations").glob("*.csv"))
CORPORA = PROJECT.parent / "shared" / "corpora"

Invoke = Callable[..., Result]
_database_numbers = itertools.count(1)


def runs_file(db: Path) -> Path:
    """The run history beside database `db` (report_runs, deliveries): x.duckdb -> x.runs.duckdb."""
    return db.with_name(db.name.removesuffix(".duckdb") + ".runs.duckdb")


def runs_rows(db: Path, sql: str, params: list[object] | None = None) -> list[tuple[object, ...]]:
    """Read the run history of `db` with plain duckdb (not tracker's code); [] when no run was
    ever recorded (the file is created by the first run)."""
    path = runs_file(db)
    if not path.exists():
        return []
    with duckdb.connect(str(path), read_only=True) as conn:
        return conn.execute(sql, params).fetchall()


def copy_database(source: Path, target: Path) -> Path:
    """Copy database `source` and its run history (when it has one) to `target`."""
    shutil.copyfile(source, target)
    if runs_file(source).exists():
        shutil.copyfile(runs_file(source), runs_file(target))
    return target


def run_count(db: Path) -> int:
    """How many briefing runs the run history of `db` holds."""
    rows = runs_rows(db, "SELECT count(*) FROM report_runs")
    return int(str(rows[0][0])) if rows else 0


def invoke(*args: str | Path, db: Path | None = None, input: str | None = None) -> Result:
    """Run the real `tracker` command in-process; returns exit code and output."""
    argv = [str(a) for a in args]
    if db is not None:
        argv = ["--db", str(db), *argv]
    return CliRunner().invoke(app, argv, input=input, catch_exceptions=False)


LONG_HEADER = ["indicator", "initiative", "geography", "period", "value", "unit", "source", "note"]


def ingest_rows(db: Path, folder: Path, rows: list[list[str]]) -> None:
    """`tracker ingest` of rows in the long format (LONG_HEADER), from a new file in `folder`."""
    path = folder / f"rows-{len(list(folder.glob('rows-*.csv')))}.csv"
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(LONG_HEADER)
        writer.writerows(rows)
    result = invoke("ingest", path, db=db)
    assert result.exit_code == 0, result.output


@pytest.fixture
def custom_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project folder with the shipped templates and an empty reports/ folder."""
    home = tmp_path / "home"
    shutil.copytree(PROJECT / "templates", home / "templates")
    (home / "reports").mkdir()
    monkeypatch.setenv("TRACKER_HOME", str(home))
    return home


def db_rows(db: Path, sql: str, params: list[object] | None = None) -> list[tuple[object, ...]]:
    """Read the database with plain duckdb, not through tracker's own code."""
    with duckdb.connect(str(db), read_only=True) as conn:
        return conn.execute(sql, params).fetchall()


def db_execute(db: Path, sql: str, params: list[object] | None = None) -> None:
    """Change the database with plain duckdb (to set up a case tracker must handle)."""
    with duckdb.connect(str(db)) as conn:
        conn.execute(sql, params)


@pytest.fixture(scope="session")
def shipped_db_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A database built like `make demo` does, once per test session."""
    path = tmp_path_factory.mktemp("template") / "tracker.duckdb"
    result = invoke("init", db=path)
    assert result.exit_code == 0, result.output
    result = invoke("ingest", *SHIPPED_OBSERVATIONS, db=path)
    assert result.exit_code == 0, result.output
    return path


@pytest.fixture
def tracker_db(shipped_db_template: Path, tmp_path: Path) -> Path:
    """A fresh copy of the shipped demo database for one test to change at will."""
    return copy_database(shipped_db_template, tmp_path / "tracker.duckdb")


@pytest.fixture
def empty_db(tmp_path: Path) -> Path:
    """An initialised database (schema, reference tables, indicators) with no observations."""
    path = tmp_path / "empty.duckdb"
    result = invoke("init", db=path)
    assert result.exit_code == 0, result.output
    return path


# --- a real SMTP server on loopback (aiosmtpd), for delivery and scheduler tests ----------


@dataclass
class Inbox:
    """What the loopback SMTP server received: parsed messages with their envelopes."""

    host: str
    port: int
    user: str
    password: str
    messages: list[EmailMessage] = field(default_factory=list)
    envelopes: list[tuple[str, list[str], bool]] = field(default_factory=list)

    def environment(self) -> dict[str, str]:
        """TRACKER_SMTP_* for this server (plain SMTP with AUTH LOGIN/PLAIN, no TLS)."""
        return {
            "TRACKER_SMTP_HOST": self.host,
            "TRACKER_SMTP_PORT": str(self.port),
            "TRACKER_SMTP_TLS": "none",
            "TRACKER_SMTP_USER": self.user,
            "TRACKER_SMTP_PASSWORD": self.password,
            "TRACKER_SMTP_FROM": "tracker@example.org",
        }


class _Collect:
    def __init__(self, inbox: Inbox) -> None:
        self.inbox = inbox

    async def handle_DATA(self, server: object, session: Any, envelope: Any) -> str:
        parsed = BytesParser(policy=policy.default).parsebytes(envelope.original_content)
        assert isinstance(parsed, EmailMessage)
        self.inbox.envelopes.append(
            (envelope.mail_from, list(envelope.rcpt_tos), bool(session.authenticated))
        )
        self.inbox.messages.append(parsed)
        return "250 OK"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def loopback_smtp(inbox: Inbox, echo_refused: bool = False) -> Iterator[Inbox]:
    """aiosmtpd on `inbox.host:inbox.port`, accepting AUTH with `inbox.password` (any user).
    With `echo_refused`, a refused AUTH is answered with the user and password it was given,
    as a careless server might."""

    def authenticate(server: object, session: object, envelope: object, mechanism: str,
                     auth_data: object) -> AuthResult:  # fmt: skip
        ok = isinstance(auth_data, LoginPassword) and auth_data.password == inbox.password.encode()
        if ok or not echo_refused or not isinstance(auth_data, LoginPassword):
            return AuthResult(success=ok, handled=False)
        given = f"{auth_data.login.decode()} / {auth_data.password.decode()}"
        return AuthResult(success=False, handled=False, message=f"535 5.7.8 refused: {given}")

    controller = Controller(_Collect(inbox), hostname=inbox.host, port=inbox.port,
                            authenticator=authenticate, auth_require_tls=False)  # fmt: skip
    controller.start()
    try:
        yield inbox
    finally:
        controller.stop()


@pytest.fixture
def smtp_server() -> Iterator[Inbox]:
    """aiosmtpd on 127.0.0.1 (an ephemeral port), accepting one user's AUTH."""
    with loopback_smtp(Inbox("127.0.0.1", free_port(), "tracker-mailer",
                             "pa55-w0rd-never-shown")) as inbox:  # fmt: skip
        yield inbox


@contextmanager
def open_initialised(path: Path) -> Iterator[store.Connection]:
    """A new tracker database at `path` (schema, reference tables, indicators), opened for
    writing; for module-scoped fixtures that run many files through one database."""
    with store.create_or_open(path) as new:
        store.initialise(new)
    with store.connect(path) as opened:
        yield opened


# --- a real PostgreSQL server for the team store (tests/postgres_server.py) -------------------


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A throwaway PostgreSQL cluster on loopback for the whole session. Skipped, saying how
    to install PostgreSQL, when its binaries are missing; a failure where
    TRACKER_REQUIRE_POSTGRES is set (.ci/run sets it: CI must not skip these tests)."""
    try:
        with running_server() as server:
            yield server
    except FileNotFoundError:
        if os.environ.get("TRACKER_REQUIRE_POSTGRES"):
            pytest.fail(INSTALL_HINT)
        pytest.skip(INSTALL_HINT)


@pytest.fixture
def postgres_database(
    postgres_server: PostgresServer, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> str:
    """A new empty database on the session's server, named after the test; its libpq
    connection string (no password: PGPASSWORD is set in the environment, as a user would)."""
    name = "t_" + "".join(c if c.isalnum() else "_" for c in request.node.name.lower())[:50]
    name = f"{name}_{os.getpid()}_{next(_database_numbers)}"
    monkeypatch.setenv("PGPASSWORD", postgres_server.password)
    return postgres_server.create_database(name)


S3_SECRET = "s3-Vb7q-Lm2X-secret-key"


@pytest.fixture
def s3_data_path(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[s3_server.S3Server, str]]:
    """A loopback S3 server (tests/s3_server.py) with a new bucket, and the environment a
    user would set for it: TRACKER_DATA_PATH `s3://<bucket>/lake/`, the AWS variables with
    S3_SECRET, AWS_ENDPOINT_URL at the server. Skipped with the install hint without moto."""
    for module in ("moto.server", "boto3"):
        pytest.importorskip(module, reason=s3_server.INSTALL_HINT)
    for name in ("AWS_SESSION_TOKEN", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL_S3",
                 "AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    with s3_server.running_server(S3_SECRET) as server:
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3_server.KEY_ID)
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", S3_SECRET)
        monkeypatch.setenv("AWS_REGION", s3_server.REGION)
        monkeypatch.setenv("AWS_ENDPOINT_URL", server.endpoint_url)
        bucket = f"tracker-{next(_database_numbers)}"
        server.create_bucket(bucket)
        monkeypatch.setenv("TRACKER_DATA_PATH", f"s3://{bucket}/lake/")
        yield server, bucket


# --- shared test data --------------------------------------------------------------------------

SYNTHETIC_SOURCE = "synthetic test data, not real figures"


def synthetic_csv(path: Path, rows: int) -> Path:
    """A long CSV of `rows` SYNTHETIC power_capacity rows on distinct keys (daily periods of
    the five Central Asian countries), their source saying they are synthetic."""
    with duckdb.connect() as conn:
        conn.execute(
            f"""
            COPY (
                SELECT 'power_capacity' AS indicator, 'BRI' AS initiative,
                       ['KAZ', 'UZB', 'KGZ', 'TJK', 'TKM'][1 + (i % 5)] AS geography,
                       strftime(DATE '1900-01-01' + INTERVAL (i // 5) DAY, '%Y-%m-%d')
                           AS period,
                       (i % 997) / 10.0 AS value, 'MW' AS unit,
                       '{SYNTHETIC_SOURCE}' AS source, '' AS note
                FROM range({int(rows)}) AS t(i)
            ) TO '{path}' (HEADER, DELIMITER ',')
            """
        )
    return path


@pytest.fixture
def home_with_alert(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project folder (TRACKER_HOME) with the shipped definitions and an alert on the GG
    target; failed runs are not retried."""
    home = tmp_path / "home"
    for folder in ("indicators", "reports", "templates", "data"):
        ignore = shutil.ignore_patterns("out", "outbox", "drafts", "*.duckdb")
        shutil.copytree(PROJECT / folder, home / folder, ignore=ignore)
    (home / "reports" / "alerts").mkdir(exist_ok=True)
    (home / "reports" / "alerts" / "gg-target.toml").write_text(
        'kind = "target_reached"\ninitiatives = ["GG"]\nbriefing = "programmes-compared"\n'
        'recipients = ["desk@example.org"]\n',
        encoding="utf-8",
    )
    monkeypatch.setenv("TRACKER_HOME", str(home))
    monkeypatch.setenv("TRACKER_RUN_RETRIES", "0")
    return home


def ingest_analyst_revision(tracker_db: Path, tmp_path: Path) -> None:
    """Ingest a second source of BRI deals 2024 (110 against the headline's 121.8) from a CSV
    under a home directory (its path must reach no briefing, e-mail or record)."""
    folder = tmp_path / "home" / "analyst" / "csv"
    folder.mkdir(parents=True)
    revision = folder / "3a_revision.csv"
    revision.write_text(
        "indicator,initiative,geography,period,value,unit,source\n"
        "new_deal_value,BRI,WLD,2024,110,USD bn,IMF Article IV 2024 (test citation)\n",
        encoding="utf-8",
    )
    result = invoke("ingest", revision, db=tracker_db)
    assert result.exit_code == 0, result.output
