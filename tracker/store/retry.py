"""Writes that lost a commit race on a team store, run again from their start (bounded).

A team store's writers never wait for each other: DuckLake commits optimistically and
refuses a commit whose changes conflict with one committed since the transaction began
(`errors.WriteConflictError`, from `team._session`). `retried` then runs the whole write
again: a new connection, a new snapshot, every read and decision made afresh (a revision's
vintage, a batch id, an issue number), never the stale ones re-committed. Between attempts
it waits a jittered, doubling pause, so writers that collided do not collide again in step.

Each retry is logged (logger `tracker.store`, a warning: on standard error in a command,
in the scheduler's log). After TRACKER_WRITE_RETRIES retries it gives up with one
paragraph: what was not written, that nothing of it is in the store, and to run the
command again. A single-file store never raises WriteConflictError (DuckDB's file lock
makes writers wait instead), so there `retried` is one plain call.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import TypeVar

from tracker import settings
from tracker.errors import DatabaseBusyError, WriteConflictError
from tracker.location import StoreLocation
from tracker.store.connection import Connection, connect, connect_run_history, transaction

T = TypeVar("T")
log = logging.getLogger("tracker.store")

FIRST_PAUSE = 0.05  # seconds; each further pause may be twice as long, up to LONGEST_PAUSE
LONGEST_PAUSE = 2.0


def retried(location: StoreLocation, write: Callable[[], T], *, what: str) -> T:
    """`write()` (one whole write: it opens the store, reads, writes and commits), run
    again from its start each time its commit loses a race with another process, at most
    TRACKER_WRITE_RETRIES times; DatabaseBusyError saying that `what` (e.g. "the batch from
    2 file(s)") was not written when every attempt lost.

        summary = retried(db, lambda: ingest_once(db), what="the batch from a.csv")
    """
    retries = settings.write_retries()
    for attempt in range(retries + 1):
        try:
            return write()
        except WriteConflictError:
            if attempt == retries:
                break
            log.warning(
                "%s: another process committed a conflicting change first; writing %s "
                "again from the start (retry %d of %d).", location, what, attempt + 1, retries
            )  # fmt: skip
            time.sleep(random.uniform(0, min(LONGEST_PAUSE, FIRST_PAUSE * 2**attempt)))
    raise DatabaseBusyError(
        f"{location}: {what} was not written: other processes committed conflicting "
        f"changes to the same tables first, {retries + 1} times in a row. Each attempt was "
        "rolled back whole, so nothing of it is in the store. Run the command again (or "
        f"raise {settings.WRITE_RETRIES.env}, now {retries})."
    )


def write_transaction(
    location: StoreLocation, work: Callable[[Connection], T], *, what: str, keep: bool = True
) -> T:
    """`work(conn)` in one transaction of the store at `location`, committed (rolled back
    with keep=False: a dry run), and on a team store run again whole after a lost commit
    race (`retried`). The one way a command writes the main store.

        batch_id = write_transaction(db, lambda conn: withdraw_point(conn, key, why),
                                     what="the withdrawal")
    """

    def once() -> T:
        with connect(location) as conn, transaction(conn, keep=keep):
            return work(conn)

    return retried(location, once, what=what)


def run_history_write(
    db: StoreLocation, work: Callable[[Connection], T], *, what: str, fail_dead: bool = True
) -> T:
    """`work(runs)` in one transaction of the run history of `db` (`connect_run_history`),
    run again whole after a lost commit race on a team store (`retried`). The one way a
    command records runs, deliveries and alerts.

        run_id = run_history_write(db, lambda runs: insert_run(runs, ...), what="the run")
    """

    def once() -> T:
        with connect_run_history(db, fail_dead=fail_dead) as runs, transaction(runs):
            return work(runs)

    return retried(db, once, what=what)
