"""Concurrency: for a bounded time, two processes ingest different files in a loop (values
alternate, so every run is a revision), one renders briefings and one runs `tracker sql`.
Each command either succeeds or reports the database busy after its bounded wait
(TRACKER_BUSY_TIMEOUT=5); at the end `batches` and `observations` hold exactly what the
successful ingests reported, and every rendered PDF opened and matched its manifest.

CI runs 15 s; `make test-slow` runs 60 s.
"""

from __future__ import annotations

import collections
import hashlib
import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import duckdb
import pypdf
import pytest

TRACKER = [sys.executable, "-m", "tracker"]
BUSY = "the database is busy"
LOADED = re.compile(r"loaded \d+ rows .* as batch \d+: (\d+) new, (\d+) revised, (\d+) unchanged")


def _run(db: Path, busy_timeout: str, *args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*TRACKER, "--db", str(db), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "TRACKER_BUSY_TIMEOUT": busy_timeout},
        check=False,
    )


def _counts(db: Path) -> tuple[int, int]:
    with duckdb.connect(str(db), read_only=True) as conn:
        row = conn.execute(
            "SELECT (SELECT count(*) FROM observations), (SELECT count(*) FROM batches)"
        ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


class Tally:
    """What the workers saw; `problems` are outcomes that are neither success nor busy."""

    def __init__(self, busy_timeout: str) -> None:
        self.busy_timeout = busy_timeout
        self.lock = threading.Lock()
        self.outcomes: collections.Counter[str] = collections.Counter()
        self.observations_added = 0
        self.batches_added = 0
        self.problems: list[str] = []

    def note(self, outcome: str) -> None:
        with self.lock:
            self.outcomes[outcome] += 1

    def problem(self, what: str, result: subprocess.CompletedProcess[str]) -> None:
        with self.lock:
            self.problems.append(
                f"{what}: exit {result.returncode}\n{result.stdout}\n{result.stderr}"
            )


def _busy(result: subprocess.CompletedProcess[str]) -> bool:
    return result.returncode == 1 and BUSY in result.stderr + result.stdout


def _ingest_loop(db: Path, csv: Path, geography: str, deadline: float, tally: Tally) -> None:
    turn = 0
    while time.monotonic() < deadline:
        value = 10.0 + turn % 2  # alternate: every successful run after the first revises
        csv.write_text(
            "indicator,initiative,geography,period,value,unit,source,note\n"
            + "".join(
                f"power_capacity,BRI,{geography},{year},{value + year % 7},MW,"
                "synthetic test data not real figures,\n"
                for year in range(1901, 1951)
            ),
            encoding="utf-8",
        )
        result = _run(db, tally.busy_timeout, "ingest", csv)
        found = LOADED.search(result.stdout)
        if result.returncode == 0 and found:
            new, revised, _ = (int(n) for n in found.groups())
            with tally.lock:
                tally.observations_added += new + revised
                tally.batches_added += 1
            tally.note("ingest committed")
            turn += 1
        elif _busy(result):
            tally.note("ingest busy")
        else:
            tally.problem(f"ingest {geography}", result)
            return


def _render_loop(db: Path, out: Path, deadline: float, tally: Tally) -> None:
    while time.monotonic() < deadline:
        result = _run(
            db, tally.busy_timeout, "brief", "programmes-compared", "--format", "pdf", "--out", out
        )
        if _busy(result):
            tally.note("render busy")
            continue
        if result.returncode != 0:
            tally.problem("render", result)
            return
        # the newest folder (a run past midnight UTC starts a new date folder)
        manifest_path = max(out.rglob("manifest.json"), key=lambda p: p.stat().st_mtime)
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        for entry in manifest["files"]:
            path = manifest_path.parent / entry["name"]
            assert hashlib.sha256(path.read_bytes()).hexdigest() == entry["sha256"]
            if path.suffix == ".pdf":
                assert len(pypdf.PdfReader(path).pages) > 0
        tally.note("render succeeded")


def _sql_loop(db: Path, deadline: float, tally: Tally) -> None:
    while time.monotonic() < deadline:
        result = _run(
            db, tally.busy_timeout, "sql", "SELECT count(*) AS n FROM observations_current"
        )
        if result.returncode == 0:
            tally.note("sql succeeded")
        elif _busy(result):
            tally.note("sql busy")
        else:
            tally.problem("sql", result)
            return


def _run_concurrently(tmp_path: Path, db: Path, seconds: float, busy_timeout: str = "5") -> Tally:
    before = _counts(db)
    tally = Tally(busy_timeout)
    deadline = time.monotonic() + seconds
    jobs: list[Callable[[], None]] = [
        lambda: _ingest_loop(db, tmp_path / "kaz.csv", "KAZ", deadline, tally),
        lambda: _ingest_loop(db, tmp_path / "uzb.csv", "UZB", deadline, tally),
        lambda: _render_loop(db, tmp_path / "out", deadline, tally),
        lambda: _sql_loop(db, deadline, tally),
    ]
    errors: list[BaseException] = []

    def guarded(job: Callable[[], None]) -> None:
        try:
            job()
        except BaseException as error:  # an assertion in a worker thread fails the test
            errors.append(error)

    threads = [threading.Thread(target=guarded, args=(job,)) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=seconds + 300)
    if errors:
        raise errors[0]
    assert not tally.problems, "\n\n".join(tally.problems)
    assert _counts(db) == (
        before[0] + tally.observations_added,
        before[1] + tally.batches_added,
    ), tally.outcomes
    assert tally.outcomes["ingest committed"] >= 2, tally.outcomes
    return tally


def test_ingests_render_and_sql_at_once_keep_counts_exact_quick(
    tmp_path: Path, tracker_db: Path
) -> None:
    tally = _run_concurrently(tmp_path, tracker_db, seconds=15)
    print(f"\n15 s: {dict(tally.outcomes)}")


@pytest.mark.slow
def test_ingests_render_and_sql_at_once_keep_counts_exact_60s(
    tmp_path: Path, tracker_db: Path
) -> None:
    tally = _run_concurrently(tmp_path, tracker_db, seconds=60)
    print(f"\n60 s: {dict(tally.outcomes)}")
    assert tally.outcomes["render succeeded"] >= 1, tally.outcomes


@pytest.mark.slow
def test_with_a_tiny_busy_wait_commands_report_busy_and_counts_stay_exact(
    tmp_path: Path, tracker_db: Path
) -> None:
    tally = _run_concurrently(tmp_path, tracker_db, seconds=30, busy_timeout="0.1")
    print(f"\n30 s, TRACKER_BUSY_TIMEOUT=0.1: {dict(tally.outcomes)}")
