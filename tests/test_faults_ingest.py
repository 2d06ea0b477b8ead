"""Crash during ingest: SIGKILL a real `tracker ingest` process at moments spread over its
run; each time the database opens, holds the whole batch or none of it, and a re-run of the
same ingest completes.

CI runs a quick version (5 moments); `make test-slow` runs all 20.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from tests.conftest import synthetic_csv

ROWS = 200_000
TRACKER = [sys.executable, "-m", "tracker"]


def _big_csv(path: Path) -> Path:
    return synthetic_csv(path, ROWS)


def _counts(db: Path) -> tuple[int, int]:
    with duckdb.connect(str(db), read_only=True) as conn:
        rows = conn.execute(
            "SELECT (SELECT count(*) FROM observations), (SELECT count(*) FROM batches)"
        ).fetchall()
    return int(rows[0][0]), int(rows[0][1])


def _ingest(db: Path, csv: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [*TRACKER, "--db", str(db), "ingest", str(csv)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "TRACKER_BUSY_TIMEOUT": "30"},
    )


def _kill_moments(count: int, duration: float) -> list[float]:
    """`count` moments from process start to just past the measured run time."""
    return [duration * 1.1 * (k + 0.5) / count for k in range(count)]


def _crash_and_recover(tmp_path: Path, empty_db: Path, moments: int) -> list[str]:
    csv = _big_csv(tmp_path / "big.csv")
    timing_db = tmp_path / "timing.duckdb"
    shutil.copyfile(empty_db, timing_db)
    start = time.monotonic()
    completed = _ingest(timing_db, csv)
    _, err = completed.communicate(timeout=300)
    assert completed.returncode == 0, err.decode()
    duration = time.monotonic() - start
    outcomes = []
    for moment in _kill_moments(moments, duration):
        db = tmp_path / "crash.duckdb"
        for leftover in (db, db.with_name(db.name + ".wal")):
            leftover.unlink(missing_ok=True)
        shutil.copyfile(empty_db, db)
        process = _ingest(db, csv)
        time.sleep(moment)
        process.send_signal(signal.SIGKILL)
        process.communicate(timeout=60)
        observations, batches = _counts(db)
        assert (observations, batches) in ((0, 0), (ROWS, 1)), (moment, observations, batches)
        outcomes.append("whole batch" if observations else "none")
        rerun = _ingest(db, csv)
        out, err = rerun.communicate(timeout=300)
        assert rerun.returncode == 0, err.decode()
        assert _counts(db) == (ROWS, 1), out.decode()
    return outcomes


def test_sigkill_during_ingest_leaves_all_or_nothing_quick(tmp_path: Path, empty_db: Path) -> None:
    outcomes = _crash_and_recover(tmp_path, empty_db, moments=5)
    assert len(outcomes) == 5


@pytest.mark.slow
def test_sigkill_during_ingest_leaves_all_or_nothing_20_moments(
    tmp_path: Path, empty_db: Path
) -> None:
    outcomes = _crash_and_recover(tmp_path, empty_db, moments=20)
    print(f"\n20 kills: {outcomes.count('none')} left nothing, "
          f"{outcomes.count('whole batch')} the whole batch")  # fmt: skip
    assert len(outcomes) == 20
