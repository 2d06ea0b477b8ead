"""The scheduler's lock on a team store: a PostgreSQL advisory lock held by one libpq session
(tracker/schedule/catalog_lock.py), tried against the real throwaway server of
tests/postgres_server.py by real separate processes. Waits are bounded and generous (the
machine is slow and shared); nothing asserts how fast anything happens."""

from __future__ import annotations

import logging
import os
import queue
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.postgres_server import PostgresServer
from tracker.errors import TrackerError
from tracker.schedule.catalog_lock import (
    LockWaitStopped,
    advisory_key,
    scheduler_lock_in_postgres,
    session_conninfo,
)

BOUND = 90.0  # seconds: the most any step may take on a loaded machine before it is a failure
POLL = 0.2

# A scheduler stand-in: takes the lock, says so, holds it until its stdin closes, then leaves
# the `with` block normally.
HOLDER = textwrap.dedent("""
    import logging, sys
    from tracker.schedule.catalog_lock import scheduler_lock_in_postgres
    logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="log: %(message)s")
    conninfo, name, poll = sys.argv[1], sys.argv[2], float(sys.argv[3])
    with scheduler_lock_in_postgres(conninfo, name, poll=poll,
                                    log=logging.getLogger("test")) as lock:
        print("held", flush=True)
        sys.stdin.readline()
        print("still held:", lock.still_held(), flush=True)
    print("released", flush=True)
""")


class Scheduler:
    """A process running HOLDER; its stdout lines arrive in a queue as they are printed."""

    def __init__(self, conninfo: str, lock_name: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", HOLDER, conninfo, lock_name, str(POLL)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True, env=dict(os.environ),
        )  # fmt: skip
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def wait_for(self, start: str) -> str:
        """The first line (from now on) starting with `start`; fails after BOUND seconds or
        when the process ends without printing it."""
        deadline = time.monotonic() + BOUND
        for line in self.lines:
            if line.startswith(start):
                return line
        while time.monotonic() < deadline:
            try:
                line = self._queue.get(timeout=1)
            except queue.Empty:
                continue
            if line is None:
                break
            self.lines.append(line)
            if line.startswith(start):
                return line
        raise AssertionError(f"no line starting {start!r}; got: {self.lines}")

    def printed(self, start: str) -> bool:
        while not self._queue.empty():
            line = self._queue.get_nowait()
            if line is not None:
                self.lines.append(line)
        return any(line.startswith(start) for line in self.lines)

    def finish(self) -> None:
        """Close stdin: the holder leaves its `with` block normally and exits."""
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.wait_for("released")
        assert self.process.wait(BOUND) == 0, self.lines

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(BOUND)

    def close(self) -> None:
        """Kill the process if it still runs, and close its pipes."""
        if self.process.poll() is None:
            self.kill()
        self._reader.join(BOUND)
        for pipe in (self.process.stdin, self.process.stdout):
            if pipe is not None and not pipe.closed:
                pipe.close()


@pytest.fixture
def schedulers() -> Iterator[list[Scheduler]]:
    started: list[Scheduler] = []
    yield started
    for scheduler in started:
        scheduler.close()


def start(schedulers: list[Scheduler], conninfo: str, lock_name: str) -> Scheduler:
    scheduler = Scheduler(conninfo, lock_name)
    schedulers.append(scheduler)
    return scheduler


def lock_holders(server: PostgresServer, dbname: str, lock_name: str) -> list[str]:
    """application_name of the sessions holding `lock_name`'s advisory lock, read by psql."""
    unsigned = advisory_key(lock_name) & 0xFFFF_FFFF_FFFF_FFFF
    rows = server.psql(
        "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a USING (pid) "
        f"WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 "
        f"AND l.classid = {unsigned >> 32} AND l.objid = {unsigned & 0xFFFF_FFFF}",
        dbname,
    )
    return rows.splitlines()


def dbname_of(conninfo: str) -> str:
    return conninfo.split()[0].removeprefix("dbname=")


def test_a_second_scheduler_waits_naming_the_first_and_takes_over_when_it_stops(
    postgres_server: PostgresServer, postgres_database: str, schedulers: list[Scheduler]
) -> None:
    first = start(schedulers, postgres_database, "tracker/ducklake")
    first.wait_for("held")
    second = start(schedulers, postgres_database, "tracker/ducklake")
    waiting = second.wait_for("log: waiting:")
    assert waiting.startswith(
        "log: waiting: the scheduler of this catalog is running in tracker scheduler, "
        f"PID {first.process.pid} on {socket.gethostname()} (since 20"
    ), waiting
    assert " UTC); trying again every 0.2s" in waiting
    assert not second.printed("held")
    assert lock_holders(postgres_server, dbname_of(postgres_database), "tracker/ducklake") == [
        f"tracker scheduler, PID {first.process.pid} on {socket.gethostname()}"
    ]
    first.finish()
    assert first.lines[-2:] == ["still held: True", "released"]
    second.wait_for("held")
    assert lock_holders(postgres_server, dbname_of(postgres_database), "tracker/ducklake") == [
        f"tracker scheduler, PID {second.process.pid} on {socket.gethostname()}"
    ]
    assert sum(line.startswith("log: waiting:") for line in second.lines) == 1  # logged once
    second.finish()


def test_a_second_scheduler_takes_over_when_the_first_is_killed(
    postgres_database: str, schedulers: list[Scheduler]
) -> None:
    first = start(schedulers, postgres_database, "tracker/ducklake")
    first.wait_for("held")
    second = start(schedulers, postgres_database, "tracker/ducklake")
    second.wait_for("log: waiting:")
    first.kill()
    second.wait_for("held")
    second.finish()
    assert second.lines[-2:] == ["still held: True", "released"]


def test_schedulers_of_two_catalogs_do_not_wait_for_each_other(
    postgres_server: PostgresServer, postgres_database: str, schedulers: list[Scheduler]
) -> None:
    other_database = postgres_server.create_database(dbname_of(postgres_database) + "_other")
    one = start(schedulers, postgres_database, "tracker/ducklake")
    same_database_other_schema = start(schedulers, postgres_database, "tracker/ducklake_2")
    other_database_same_name = start(schedulers, other_database, "tracker/ducklake")
    for scheduler in (one, same_database_other_schema, other_database_same_name):
        scheduler.wait_for("held")
    for scheduler in (one, same_database_other_schema, other_database_same_name):
        assert not scheduler.printed("log: waiting:")
        scheduler.finish()


def test_still_held_turns_false_when_the_session_is_terminated(
    postgres_server: PostgresServer, postgres_database: str
) -> None:
    log = logging.getLogger("test")
    with scheduler_lock_in_postgres(postgres_database, "tracker/ducklake", poll=POLL,
                                    log=log) as lock:  # fmt: skip
        assert lock.still_held()
        server_side = lock._connection.execute(  # the server probes a vanished client too
            "SELECT current_setting('tcp_keepalives_idle'), current_setting('idle_session_timeout')"
        ).fetchone()
        assert server_side == ("30", "0")
        terminated = postgres_server.psql(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            f"WHERE application_name = 'tracker scheduler, PID {os.getpid()} on "
            f"{socket.gethostname()}'"
        )
        assert terminated == "1"
        deadline = time.monotonic() + BOUND
        while lock.still_held():  # the backend ends a moment after it is told to
            assert time.monotonic() < deadline, "still held after pg_terminate_backend"
            time.sleep(0.1)
        assert not lock.still_held()  # lost stays lost
    # leaving the block after the session is gone raises nothing; the lock is free
    assert lock_holders(postgres_server, dbname_of(postgres_database), "tracker/ducklake") == []


def test_a_stop_while_waiting_ends_the_wait_without_the_lock(
    postgres_database: str, caplog: pytest.LogCaptureFixture
) -> None:
    log = logging.getLogger("test.stop")
    stop = threading.Event()
    outcome: list[BaseException | None] = []

    def standby() -> None:
        try:
            with scheduler_lock_in_postgres(postgres_database, "tracker/ducklake", poll=POLL,
                                            log=log, stop=stop):  # fmt: skip
                outcome.append(None)
        except BaseException as error:  # noqa: BLE001 - handed to the test thread
            outcome.append(error)

    caplog.set_level(logging.INFO, logger="test.stop")
    with scheduler_lock_in_postgres(postgres_database, "tracker/ducklake", poll=POLL,
                                    log=logging.getLogger("test")):  # fmt: skip
        waiter = threading.Thread(target=standby)
        waiter.start()
        deadline = time.monotonic() + BOUND
        while not any("waiting:" in record.getMessage() for record in caplog.records):
            assert time.monotonic() < deadline and waiter.is_alive(), outcome
            time.sleep(0.05)
        stop.set()
        waiter.join(BOUND)
    assert not waiter.is_alive()
    assert len(outcome) == 1 and isinstance(outcome[0], LockWaitStopped)


def test_a_wrong_password_is_one_paragraph_without_the_password(
    postgres_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PGPASSWORD", "wrong-secret-3141")
    with pytest.raises(TrackerError) as caught:
        with scheduler_lock_in_postgres(postgres_database, "x", poll=POLL,
                                        log=logging.getLogger("test")):  # fmt: skip
            pass
    message = str(caught.value)
    assert "wrong-secret-3141" not in message
    assert "\n" not in message
    assert message.startswith(
        "The scheduler could not connect to the catalog's PostgreSQL "
        f"server (database {dbname_of(postgres_database)} on 127.0.0.1:"
    )
    assert 'password authentication failed for user "tracker_admin"' in message
    assert message.endswith("PGPASSWORD, PGPASSFILE (~/.pgpass) or PGSERVICEFILE.")


def test_an_unreachable_server_is_one_paragraph() -> None:
    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(TrackerError) as caught:
        with scheduler_lock_in_postgres(f"dbname=t host=127.0.0.1 port={port} user=u", "x",
                                        poll=POLL, log=logging.getLogger("test")):  # fmt: skip
            pass
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(
        f"The scheduler could not connect to the catalog's PostgreSQL server (database t on "
        f"127.0.0.1:{port} as u): "
    )
    assert "Connection refused" in message


@pytest.mark.parametrize(
    "conninfo",
    ["dbname=t host=h user=u password=hunter2-secret",
     "postgresql://u:hunter2-secret@h/t"],
)  # fmt: skip
def test_a_password_in_the_connection_string_is_refused_without_repeating_it(
    conninfo: str,
) -> None:
    with pytest.raises(TrackerError) as caught:
        session_conninfo(conninfo)
    assert "hunter2-secret" not in str(caught.value)
    assert "holds a password" in str(caught.value)


def test_the_lock_session_names_itself_keeps_alive_and_keeps_what_the_user_set() -> None:
    from psycopg.conninfo import conninfo_to_dict

    merged = conninfo_to_dict(session_conninfo("dbname=t host=h connect_timeout=3"))
    assert merged["application_name"] == (
        f"tracker scheduler, PID {os.getpid()} on {socket.gethostname()}"
    )
    assert merged["keepalives"] == "1"
    assert merged["keepalives_idle"] == "30"
    assert merged["connect_timeout"] == "3"
    assert "password" not in merged


def test_the_key_is_a_stable_signed_64_bit_number() -> None:
    assert advisory_key("tracker/ducklake") == -7796393579814814600  # same on every machine
    assert advisory_key("tracker/ducklake") != advisory_key("tracker/ducklake_2")
    assert -(2**63) <= advisory_key("é" * 1000) < 2**63


def test_the_file_store_never_imports_psycopg() -> None:
    code = "import sys, tracker.schedule, tracker.cli.app; print('psycopg' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)  # fmt: skip
    assert result.stdout.strip() == "False"


# --- the scheduler service on a catalog's lock (BriefingScheduler(catalog=...)) -------------
# Until the team store lands, the run history stays in a database file; the lock is the
# catalog's, which is what these tests are about.

SERVICE = textwrap.dedent("""
    import logging, sys
    from pathlib import Path
    from tracker.errors import TrackerError
    from tracker.schedule import BriefingScheduler
    logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="log: %(message)s")
    db, conninfo = sys.argv[1], sys.argv[2]
    try:
        BriefingScheduler(Path(db), catalog=conninfo, catalog_name="ducklake").run_forever()
    except TrackerError as error:
        print("error:", error, flush=True)
        sys.exit(1)
    print("exited", flush=True)
""")


class Service(Scheduler):
    """`BriefingScheduler(db, catalog=conninfo).run_forever()` in its own process."""

    def __init__(self, db: Path, conninfo: str, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", SERVICE, str(db), conninfo],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True, env=env,
        )  # fmt: skip
        self.lines = []
        self._queue = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()


def test_the_scheduler_on_a_catalog_waits_as_a_standby_and_takes_over(
    postgres_server: PostgresServer, postgres_database: str, tracker_db: Path, tmp_path: Path,
    schedulers: list[Scheduler],
) -> None:  # fmt: skip
    home = tmp_path / "home"
    for folder in ("indicators", "templates", "reports"):
        (home / folder).mkdir(parents=True)
    env = {key: value for key, value in os.environ.items() if not key.startswith("TRACKER_")}
    env.update(TRACKER_HOME=str(home), TRACKER_RELOAD_INTERVAL="0.2", TRACKER_STOP_GRACE="5")

    def service() -> Service:
        started = Service(tracker_db, postgres_database, env)
        schedulers.append(started)
        return started

    first = service()
    first.wait_for("log: started: db=")
    standby = service()
    assert standby.wait_for("log: waiting:").startswith(
        "log: waiting: the scheduler of this catalog is running in tracker scheduler, "
        f"PID {first.process.pid} on {socket.gethostname()} (since "
    )
    standby.process.send_signal(signal.SIGTERM)  # a standby stops cleanly, having run nothing
    assert standby.process.wait(BOUND) == 0
    standby.wait_for("exited")
    assert standby.printed("log: stopped while waiting for the catalog's scheduler lock")
    assert not standby.printed("log: started:")

    second = service()
    second.wait_for("log: waiting:")
    first.kill()  # the machine died: PostgreSQL ends its session and frees the lock
    second.wait_for("log: started: db=")

    terminated = postgres_server.psql(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
        f"WHERE application_name LIKE 'tracker scheduler, PID {second.process.pid} on %'"
    )
    assert terminated == "1"
    lost = second.wait_for("error:")
    assert lost.startswith("error: The scheduler lost its connection to the catalog's PostgreSQL")
    assert second.printed("log: The scheduler lost its connection")
    assert second.process.wait(BOUND) == 1
