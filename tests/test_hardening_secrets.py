"""SMTP credentials never reach a file or an output: real `tracker brief` and `tracker
deliver` processes with TRACKER_SMTP_USER and TRACKER_SMTP_PASSWORD set to distinctive
secrets, against aiosmtpd on loopback: a delivery that succeeds, one with a wrong password,
one to a server that echoes the user and password it refused, and one to a port where
nothing listens.

Afterwards no secret (as text, nor base64 as SMTP AUTH sends it) is in any file the runs
left (briefing PDF, HTML, CSV and manifest.json, the outbox, the database and its run
history, raw bytes), in the text of the PDFs, in any text column of either database, in
the e-mails received, or in anything the commands printed.
"""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pypdf
import pytest

from tests.conftest import (
    PROJECT,
    S3_SECRET,
    SHIPPED_OBSERVATIONS,
    Inbox,
    free_port,
    loopback_smtp,
    runs_file,
    runs_rows,
)
from tests.postgres_server import PostgresServer
from tests.s3_server import S3Server

REPORT = "programmes-compared"
USER = "mailer-Qx7v2-user"
PASSWORD = "pw-Zt4k9Rm2-correct"
WRONG_PASSWORD = "pw-Hq2Lw8Yd-wrong"
SECRETS = (USER, PASSWORD, WRONG_PASSWORD)


def _forms(secret: str) -> list[bytes]:
    """A secret as text and base64 (AUTH LOGIN sends each alone, AUTH PLAIN all three)."""
    return [secret.encode(), base64.b64encode(secret.encode())]


FORBIDDEN = [
    *(form for secret in SECRETS for form in _forms(secret)),
    *(base64.b64encode(f"\0{USER}\0{p}".encode()) for p in (PASSWORD, WRONG_PASSWORD)),
]


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A project folder with the shipped definitions and templates; the outbox goes here."""
    home = tmp_path / "home"
    for folder in ("indicators", "reports", "templates"):
        shutil.copytree(PROJECT / folder, home / folder,
                        ignore=shutil.ignore_patterns("out", "outbox"))  # fmt: skip
    return home


def _tracker(db: Path, home: Path, *args: str | Path, **smtp: str) -> tuple[int, bytes]:
    """Run the real CLI in a process of its own; returns exit code and stdout + stderr."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRACKER_")}
    env |= {"TRACKER_HOME": str(home), "TRACKER_RUN_RETRIES": "1",
            "TRACKER_RETRY_DELAY": "0.05", "TRACKER_SMTP_TLS": "none",
            "TRACKER_SMTP_FROM": "tracker@example.org", "TRACKER_SMTP_USER": USER,
            "TRACKER_SMTP_PASSWORD": PASSWORD} | smtp  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-m", "tracker", "--db", str(db), *map(str, args)],
        capture_output=True, env=env, timeout=300, check=False,
    )  # fmt: skip
    return done.returncode, done.stdout + done.stderr


def _server() -> Inbox:
    """A loopback server on a free port that accepts PASSWORD (from any user)."""
    return Inbox("127.0.0.1", free_port(), USER, PASSWORD)


def _leaks(data: bytes) -> list[bytes]:
    return [form for form in FORBIDDEN if form in data]


def _text_columns(db: Path) -> dict[tuple[str, str], list[str]]:
    """Every text value of every table, by (table, column), read with plain duckdb."""
    values: dict[tuple[str, str], list[str]] = {}
    with duckdb.connect(str(db), read_only=True) as conn:
        columns = conn.execute(
            "SELECT table_name, column_name FROM information_schema.columns "
            "JOIN information_schema.tables USING (table_catalog, table_schema, table_name) "
            "WHERE table_type = 'BASE TABLE' AND data_type IN ('VARCHAR', 'JSON')"
        ).fetchall()
        for table, column in columns:
            rows = conn.execute(f'SELECT "{column}"::VARCHAR FROM "{table}"').fetchall()
            values[(table, column)] = [str(v) for (v,) in rows if v is not None]
    return values


def test_smtp_credentials_appear_in_no_file_column_mail_or_output(
    tracker_db: Path, home: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    printed: list[bytes] = []

    def tracker(*args: str | Path, **smtp: str) -> int:
        code, output = _tracker(tracker_db, home, *args, **smtp)
        printed.append(output)
        return code

    received: list[bytes] = []
    assert tracker("brief", REPORT, "--publish", "--out", out) == 0, printed[-1]
    with loopback_smtp(_server()) as inbox:
        port = str(inbox.port)
        assert tracker("deliver", REPORT, TRACKER_SMTP_HOST=inbox.host,
                       TRACKER_SMTP_PORT=port) == 0, printed[-1]  # fmt: skip
        assert tracker("deliver", REPORT, TRACKER_SMTP_HOST=inbox.host, TRACKER_SMTP_PORT=port,
                       TRACKER_SMTP_PASSWORD=WRONG_PASSWORD) == 1  # fmt: skip
        received += [message.as_bytes() for message in inbox.messages]
    with loopback_smtp(_server(), echo_refused=True) as echoing:
        assert tracker("deliver", REPORT, TRACKER_SMTP_HOST=echoing.host,
                       TRACKER_SMTP_PORT=str(echoing.port),
                       TRACKER_SMTP_PASSWORD=WRONG_PASSWORD) == 1  # fmt: skip
    assert tracker("deliver", REPORT, TRACKER_SMTP_HOST="127.0.0.1",
                   TRACKER_SMTP_PORT=str(free_port())) == 1  # nothing listens  # fmt: skip

    # The runs happened as described, and recorded the refusals (where a leak would be).
    assert len(received) == 1
    errors = [str(e) for (e,) in runs_rows(tracker_db, "SELECT error FROM deliveries "
                                           "WHERE status = 'failed' ORDER BY id")]  # fmt: skip
    assert len(errors) == 6 and sum("535" in e for e in errors) == 4, errors
    assert sum("refused: " in e and "***" in e for e in errors) == 2, errors  # the echo, scrubbed
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    names = {p.name for p in files}
    assert {"manifest.json", f"{REPORT}.pdf", f"{REPORT}.html", f"{REPORT}.csv"} <= names
    assert (home / "reports" / "outbox" / f"{REPORT}.pdf") in files
    assert {tracker_db, runs_file(tracker_db)} <= set(files)

    leaks = {str(p): _leaks(p.read_bytes()) for p in files}
    leaks |= {f"{p} (text)": _leaks("".join(page.extract_text() for page in
              pypdf.PdfReader(p).pages).encode()) for p in files if p.suffix == ".pdf"}  # fmt: skip
    for db in (tracker_db, runs_file(tracker_db)):
        for (table, column), values in _text_columns(db).items():
            leaks[f"{db.name}: {table}.{column}"] = _leaks("\n".join(values).encode())
    leaks |= {f"e-mail {n}": _leaks(mail) for n, mail in enumerate(received)}
    leaks |= {f"output of command {n}": _leaks(text) for n, text in enumerate(printed)}
    assert {where: found for where, found in leaks.items() if found} == {}


# --- the team store: PostgreSQL credentials (issue 15) --------------------------------------

PG_USER = "analyst_k3v9"
PG_PASSWORD = "pg-Rw5n-Tz81-secret"


def test_a_team_store_password_appears_in_no_file_output_or_catalog_row(
    postgres_server: PostgresServer, postgres_database: str, home: Path, tmp_path: Path
) -> None:
    """PGPASSWORD opens the catalog; afterwards it is nowhere: not in what init, ingest,
    brief --publish, sql and a refused wrong-password run printed, not in any file of the
    data path or the output folder, and not in a dump of the PostgreSQL database."""
    shutil.copytree(PROJECT / "data" / "reference", home / "data" / "reference")
    dbname = postgres_database.split("dbname=")[1].split()[0]
    postgres_server.psql(f"CREATE ROLE {PG_USER} LOGIN PASSWORD '{PG_PASSWORD}'")
    postgres_server.psql(f'ALTER DATABASE "{dbname}" OWNER TO {PG_USER}')
    conninfo = postgres_database.replace(f"user={postgres_server.user}", f"user={PG_USER}")
    url = f"ducklake:postgres:{conninfo}"
    data, out = tmp_path / "lake", tmp_path / "out"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRACKER_", "PG"))}
    env |= {"TRACKER_HOME": str(home), "TRACKER_DATA_PATH": f"{data}/",
            "XDG_CACHE_HOME": str(tmp_path / "cache"), "PGPASSWORD": PG_PASSWORD}  # fmt: skip
    printed = []
    for args, expected in (
        (["init"], 0),
        (["ingest", *map(str, SHIPPED_OBSERVATIONS)], 0),
        (["brief", REPORT, "--publish", "--out", str(out)], 0),
        (["sql", "select * from runs.report_runs"], 0),
        (["sql", "select 1"], 2),  # a wrong password: refused, and not shown either
    ):
        run_env = env | ({"PGPASSWORD": PG_PASSWORD[::-1]} if expected == 2 else {})
        done = subprocess.run([sys.executable, "-m", "tracker", "--db", url, *args],
                              capture_output=True, env=run_env, timeout=300)  # fmt: skip
        assert done.returncode == expected, done.stdout + done.stderr
        printed.append(done.stdout + done.stderr)
    files = [p for folder in (data, out) for p in folder.rglob("*") if p.is_file()]
    assert any(p.suffix == ".parquet" for p in files) and any(p.suffix == ".pdf" for p in files)
    dump = subprocess.run(
        [str(postgres_server.bin / "pg_dump"), "--data-only", postgres_database],
        capture_output=True, env=env | {"PGPASSWORD": postgres_server.password},
        check=True, timeout=120,
    ).stdout  # fmt: skip
    assert b"ducklake_metadata" in dump  # the dump holds the catalog's rows
    secrets = [PG_PASSWORD.encode(), PG_PASSWORD[::-1].encode()]
    found = {
        where: [s for s in secrets if s in text]
        for where, text in [
            *(("output", p) for p in printed),
            ("pg_dump", dump),
            *((str(p), p.read_bytes()) for p in files),
        ]  # fmt: skip
    }
    assert {where: s for where, s in found.items() if s} == {}


# --- the team store on S3: the AWS secret key and session token (issue 15) -------------------

AWS_TOKEN = "tok-Jd4s-Nq8W-session"


def test_an_s3_secret_key_appears_in_no_output_object_file_or_catalog_row(
    postgres_server: PostgresServer, postgres_database: str,
    s3_data_path: tuple[S3Server, str], home: Path, tmp_path: Path,
) -> None:  # fmt: skip
    """AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN reach the loopback S3 server; afterwards
    they are nowhere: not in what init, ingest, brief --publish, sql (the run history, DuckDB's
    list of secrets, redacted or asked unredacted) and refused runs printed, not in any
    object of the bucket, file of the output folder or row of the catalog's database."""
    server, bucket = s3_data_path
    shutil.copytree(PROJECT / "data" / "reference", home / "data" / "reference")
    url = f"ducklake:postgres:{postgres_database}"
    out = tmp_path / "out"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRACKER_")}
    env |= {"TRACKER_HOME": str(home), "TRACKER_DATA_PATH": f"s3://{bucket}/lake/",
            "XDG_CACHE_HOME": str(tmp_path / "cache"), "AWS_SESSION_TOKEN": AWS_TOKEN}  # fmt: skip
    printed = []
    for args, expected, changed in (
        (["init"], 0, {}),
        (["ingest", *map(str, SHIPPED_OBSERVATIONS)], 0, {}),
        (["brief", REPORT, "--publish", "--out", str(out)], 0, {}),
        (["sql", "select * from runs.report_runs"], 0, {}),
        (["sql", "select * from duckdb_secrets()"], 0, {}),
        (["sql", "select * from duckdb_secrets(redact := false)"], 2, {}),
        (["sql", "select 1"], 2, {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}"}),
        (["sql", "select 1"], 2, {"AWS_ACCESS_KEY_ID": ""}),
    ):
        done = subprocess.run([sys.executable, "-m", "tracker", "--db", url, *args],
                              capture_output=True, env=env | changed, timeout=300)  # fmt: skip
        assert done.returncode == expected, done.stdout + done.stderr
        printed.append(done.stdout + done.stderr)
    assert b"secret=redacted" in printed[4]  # the secret was there, and shown redacted
    objects = {key: server.read(bucket, key) for key in server.keys(bucket)}
    assert any(key.endswith(".parquet") for key in objects)
    files = [p for p in out.rglob("*") if p.is_file()]
    assert any(p.suffix == ".pdf" for p in files)
    dump = subprocess.run(
        [str(postgres_server.bin / "pg_dump"), "--data-only", postgres_database],
        capture_output=True, env=env | {"PGPASSWORD": postgres_server.password},
        check=True, timeout=120,
    ).stdout  # fmt: skip
    assert f"s3://{bucket}/lake/".encode() in dump  # the catalog's rows, with its data path
    secrets = [S3_SECRET.encode(), AWS_TOKEN.encode()]
    found = {
        where: [s for s in secrets if s in data]
        for where, data in [
            *((f"output {n}", text) for n, text in enumerate(printed)),
            ("pg_dump", dump),
            *((f"s3://{bucket}/{key}", data) for key, data in objects.items()),
            *((str(p), p.read_bytes()) for p in files),
        ]  # fmt: skip
    }
    assert {where: s for where, s in found.items() if s} == {}
