"""A throwaway PostgreSQL server for the team-store tests: `initdb` and `pg_ctl` from Debian's
`postgresql` package (/usr/lib/postgresql/<version>/bin), a cluster in a temporary folder,
listening on a free loopback port, stopped at the end of the test session.

The cluster asks for a password (scram-sha-256) on TCP, so the tests pass credentials the
way an analyst would: through the environment or a PGPASSFILE, never in the URL. As root
(CI containers), the server runs as the `postgres` user, since PostgreSQL refuses to run as
root. Without the binaries the tests skip saying how to install them; under CI they fail.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

INSTALL_HINT = (
    "PostgreSQL's server binaries are not installed (Debian: `apt-get install postgresql`; "
    "`make test` installs them when it runs as root): the team-store tests need a real server."
)
SUPERUSER = "tracker_admin"
PASSWORD = "test-only-password"  # a throwaway cluster on loopback, deleted after the run


def server_binaries() -> Path | None:
    """The newest /usr/lib/postgresql/<version>/bin holding initdb and pg_ctl, or None."""
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda path: int(path.parent.parent.name) if path.parent.parent.name.isdigit() else 0,
    )
    return found[-1].parent if found else None


@dataclass(frozen=True)
class PostgresServer:
    """A running throwaway cluster: where it listens and how to log in."""

    host: str
    port: int
    user: str
    password: str
    bin: Path

    def conninfo(self, dbname: str) -> str:
        """A libpq connection string without the password (it comes from the environment)."""
        return f"dbname={dbname} host={self.host} port={self.port} user={self.user}"

    def psql(self, sql: str, dbname: str = "postgres") -> str:
        """Run `sql` with psql as the superuser; its output (tuples only, unaligned)."""
        result = subprocess.run(
            [str(self.bin / "psql"), "-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1",
             "-c", sql, self.conninfo(dbname)],
            env={**os.environ, "PGPASSWORD": self.password},
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        return result.stdout.strip()

    def create_database(self, name: str) -> str:
        """A new empty database `name`; its connection string (no password)."""
        self.psql(f'CREATE DATABASE "{name}"')
        return self.conninfo(name)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _as_server_user(command: list[str]) -> list[str]:
    """`command` run as the `postgres` user when we are root (initdb refuses root)."""
    if os.geteuid() != 0:
        return command
    return ["runuser", "-u", "postgres", "--", *command]


@contextmanager
def running_server() -> Iterator[PostgresServer]:
    """Start a cluster in a temporary folder; stop it and remove the folder at the end."""
    binaries = server_binaries()
    if binaries is None:
        raise FileNotFoundError(INSTALL_HINT)
    folder = Path(tempfile.mkdtemp(prefix="tracker-pg-"))
    data = folder / "data"
    password_file = folder / "superuser-password"
    password_file.write_text(PASSWORD + "\n")
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres")
        shutil.chown(password_file, "postgres")
    port = _free_port()
    subprocess.run(
        _as_server_user([
            str(binaries / "initdb"), "-D", str(data), "-U", SUPERUSER,
            f"--pwfile={password_file}", "--auth-local=trust", "--auth-host=scram-sha-256",
            "--encoding=UTF8", "--locale=C.UTF-8",
        ]),
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c max_connections=200"
    subprocess.run(
        _as_server_user([
            str(binaries / "pg_ctl"), "-D", str(data), "-o", options,
            "-l", str(folder / "server.log"), "-w", "-t", "60", "start",
        ]),
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    try:
        server = PostgresServer("127.0.0.1", port, SUPERUSER, PASSWORD, binaries)
        _wait_until_ready(server)
        yield server
    finally:
        subprocess.run(
            _as_server_user([str(binaries / "pg_ctl"), "-D", str(data), "-m", "immediate",
                             "-w", "stop"]),
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        shutil.rmtree(folder, ignore_errors=True)


def _wait_until_ready(server: PostgresServer) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            server.psql("SELECT 1")
            return
        except subprocess.CalledProcessError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
