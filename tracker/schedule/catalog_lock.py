"""The scheduler's lock on a team store (a DuckLake catalog in PostgreSQL): a session-level
PostgreSQL advisory lock, held by one dedicated libpq session for as long as the scheduler
runs, instead of the lock file beside a database file.

A second scheduler, on this machine or another, waits for the lock (standby) and logs who
holds it, rather than refusing; it takes over when the holder stops, or dies: PostgreSQL ends
a dead client's session (TCP keepalives find a vanished machine) and frees its locks.

The key is a stable 64-bit number derived from the lock name (`advisory_key`); advisory locks
are per PostgreSQL database, so the name only needs to tell catalogs of one database apart.
Passwords are libpq's business: PGPASSWORD, PGPASSFILE or PGSERVICEFILE; a connection string
holding one is refused, and no message repeats one. psycopg is imported here only, lazily,
so the single-file store never loads it.
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from tracker.errors import TrackerError

if TYPE_CHECKING:
    import psycopg

# Libpq settings of the lock session unless the connection string sets them: give up
# connecting after 10 s; probe an idle connection after 30 s, every 10 s, 3 times; drop a
# connection whose sent data stays unacknowledged for 30 s. So a vanished server or network
# shows within about a minute (`still_held` is False), and so does a vanished scheduler to
# the server, which then ends its session and frees the lock.
SESSION_DEFAULTS: dict[str, str] = {
    "connect_timeout": "10",
    "keepalives_idle": "30",
    "keepalives_interval": "10",
    "keepalives_count": "3",
    "tcp_user_timeout": "30000",
}
# The same for the server's side of the session, which the client's keepalives do not cover:
# without these, a server on default settings keeps a vanished scheduler's session (and its
# lock) for two hours or more. Each is set for this session only; one the server does not
# know (an older PostgreSQL) is skipped. idle_session_timeout = 0: the lock session idles by
# design, and a server-wide limit must not end it.
SERVER_SETTINGS: dict[str, str] = {
    "tcp_keepalives_idle": "30",
    "tcp_keepalives_interval": "10",
    "tcp_keepalives_count": "3",
    "tcp_user_timeout": "30000",
    "idle_session_timeout": "0",
}
KEY_PREFIX = "tracker scheduler lock\x00"

# A bigint advisory lock shows in pg_locks with its high half in classid, its low half in
# objid and objsubid = 1 (PostgreSQL manual, "pg_locks"); application_name is visible to every
# role, backend_start only to the holder's role and pg_read_all_stats (NULL otherwise).
HOLDER_SQL = """
SELECT a.pid, a.application_name, a.backend_start
FROM pg_locks AS l JOIN pg_stat_activity AS a ON a.pid = l.pid
WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND l.classid = %(high)s::bigint::oid AND l.objid = %(low)s::bigint::oid
"""
HELD_BY_ME_SQL = """
SELECT count(*) FROM pg_locks
WHERE locktype = 'advisory' AND granted AND objsubid = 1 AND pid = pg_backend_pid()
  AND classid = %(high)s::bigint::oid AND objid = %(low)s::bigint::oid
"""


class LockWaitStopped(Exception):
    """The scheduler was told to stop (SIGTERM, SIGINT) while it waited for the lock: it never
    held it and ran nothing. Not an error: the caller just returns."""


def advisory_key(lock_name: str) -> int:
    """The advisory lock key of `lock_name`: the first 8 bytes of the SHA-256 of
    "tracker scheduler lock", a NUL byte and the name (UTF-8), read as a signed big-endian
    64-bit integer (PostgreSQL's bigint). The same on every machine and every version.

    >>> advisory_key("tracker/ducklake")
    -7796393579814814600
    """
    digest = hashlib.sha256((KEY_PREFIX + lock_name).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def application_name() -> str:
    """How the lock session names itself in pg_stat_activity (and in a standby's log)."""
    return f"tracker scheduler, PID {os.getpid()} on {socket.gethostname()}"


def session_conninfo(conninfo: str) -> str:
    """`conninfo` for the lock session: its application_name, TCP keepalives on, and
    SESSION_DEFAULTS where `conninfo` does not set them. TrackerError for a connection
    string libpq cannot read or one that holds a password."""
    from psycopg import ProgrammingError
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    try:
        given = conninfo_to_dict(conninfo)
    except ProgrammingError:
        # libpq's message may quote the string, and with it a password: say what, not where.
        raise TrackerError(
            "The PostgreSQL connection string of the catalog could not be read. Write it as "
            "libpq keywords (dbname=tracker host=db.example.org user=tracker) or as a "
            "postgresql:// URL, without a password."
        ) from None
    if given.get("password"):
        raise TrackerError(
            "The PostgreSQL connection string of the catalog holds a password; tracker never "
            "takes one there (it would show in process lists and logs). Remove it and give it "
            "to libpq instead: PGPASSWORD, a PGPASSFILE (~/.pgpass) or a PGSERVICEFILE entry."
        )
    settings = {key: value for key, value in SESSION_DEFAULTS.items() if key not in given}
    return make_conninfo(conninfo, application_name=application_name(), keepalives=1,
                         **settings)  # fmt: skip


def describe(conninfo: str) -> str:
    """Where the catalog's server is, for messages: `database tracker on db.example.org:5432
    as tracker` (the parts the connection string gives; never a password)."""
    from psycopg.conninfo import conninfo_to_dict

    given = conninfo_to_dict(conninfo)
    where = str(given.get("host") or given.get("hostaddr") or "the default host")
    if given.get("port"):
        where += f":{given['port']}"
    text = f"database {given.get('dbname') or '(default)'} on {where}"
    return text + (f" as {given['user']}" if given.get("user") else "")


class HeldLock:
    """The advisory lock as the scheduler holds it, on its own libpq session."""

    def __init__(self, connection: psycopg.Connection[Any], key: int, lock_name: str) -> None:
        self._connection = connection
        self._key = key
        self._lost = False
        self._guard = threading.Lock()  # one statement at a time on the one session
        self.lock_name = lock_name

    def still_held(self) -> bool:
        """True while the session is alive and holds the lock (one round trip); False from
        the first time it is not (the server restarted, the network dropped, the session was
        terminated): a lock lost is not a lock held, so start no job after that."""
        import psycopg

        with self._guard:
            if self._lost:
                return False
            try:
                row = self._connection.execute(HELD_BY_ME_SQL, _halves(self._key)).fetchone()
            except psycopg.Error:
                row = None
            if not row or row[0] != 1:
                self._lost = True
            return not self._lost

    def release(self) -> None:
        """Unlock and end the session (a lost session is just closed)."""
        import psycopg

        with self._guard:
            try:
                if not self._lost and not self._connection.closed:
                    self._connection.execute("SELECT pg_advisory_unlock(%s)", (self._key,))
            except psycopg.Error:
                pass  # the session is gone, and its lock with it
            finally:
                self._lost = True
                self._connection.close()


@contextmanager
def scheduler_lock_in_postgres(
    conninfo: str, lock_name: str, *, poll: float, log: logging.Logger,
    stop: threading.Event | None = None,
) -> Iterator[HeldLock]:  # fmt: skip
    """Hold the scheduler's advisory lock of catalog `lock_name` on the PostgreSQL server of
    `conninfo` (a libpq connection string, no password) for the `with` block. While another
    session holds it, log once who ("waiting: the scheduler of this catalog is running in
    tracker scheduler, PID 4711 on app-1 (since 2026-11-25 07:00:03 UTC)") and try again
    every `poll` seconds; `stop` set meanwhile raises LockWaitStopped. TrackerError (one
    paragraph, no password) when the server cannot be reached or refuses the login.

        with scheduler_lock_in_postgres(conninfo, "tracker/ducklake", poll=5, log=log,
                                        stop=stopping) as lock:
            ...  # before each job: if not lock.still_held(): stop starting jobs
    """
    key = advisory_key(lock_name)
    connection = _connect(conninfo)
    held = HeldLock(connection, key, lock_name)
    try:
        _wait_for_lock(connection, key, conninfo, poll, log, stop)
        log.info("holding the scheduler lock of this catalog (%s, advisory key %d)",
                 describe(conninfo), key)  # fmt: skip
        yield held
    finally:
        held.release()


def _connect(conninfo: str) -> psycopg.Connection[Any]:
    import psycopg

    target = session_conninfo(conninfo)
    connection: psycopg.Connection[Any] | None = None
    try:
        # autocommit: the lock belongs to the session, and no transaction stays open beside it
        connection = psycopg.connect(target, autocommit=True)
        for name, value in SERVER_SETTINGS.items():
            try:
                connection.execute("SELECT set_config(%s, %s, false)", (name, value))
            except psycopg.errors.UndefinedObject:
                pass  # a setting this server version does not have
        return connection
    except psycopg.Error as error:
        if connection is not None:
            connection.close()
        reason = " ".join(str(error).split())  # libpq's lines, as one paragraph
        raise TrackerError(
            f"The scheduler could not connect to the catalog's PostgreSQL server "
            f"({describe(conninfo)}): {reason}. Check that the server runs and is reachable "
            "from here, and the user's password in PGPASSWORD, PGPASSFILE (~/.pgpass) or "
            "PGSERVICEFILE."
        ) from None


def _wait_for_lock(
    connection: psycopg.Connection[Any], key: int, conninfo: str, poll: float,
    log: logging.Logger, stop: threading.Event | None,
) -> None:  # fmt: skip
    import psycopg

    told: tuple[object, ...] | None = None
    while True:
        try:
            row = connection.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()
            if row and row[0]:
                return
            holder = connection.execute(HOLDER_SQL, _halves(key)).fetchone()
        except psycopg.Error as error:
            reason = " ".join(str(error).split())
            raise TrackerError(
                f"The scheduler lost its connection to the catalog's PostgreSQL server "
                f"({describe(conninfo)}) while it waited for the lock: {reason}. It ran "
                "nothing; start it again when the server is back."
            ) from None
        if holder is not None and holder[:2] != told:
            told = holder[:2]
            log.info("waiting: the scheduler of this catalog is running in %s (since %s); "
                     "trying again every %gs", holder[1] or f"PID {holder[0]} on the server",
                     _since(holder[2]), poll)  # fmt: skip
        if stop is not None:
            if stop.wait(poll):
                raise LockWaitStopped
        else:
            threading.Event().wait(poll)


def _since(started: datetime | None) -> str:
    if started is None:
        return "a time this user may not see"
    return f"{started.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC"


def _halves(key: int) -> dict[str, int]:
    """The key as pg_locks shows it: the unsigned high and low 32 bits."""
    unsigned = key & 0xFFFF_FFFF_FFFF_FFFF
    return {"high": unsigned >> 32, "low": unsigned & 0xFFFF_FFFF}
