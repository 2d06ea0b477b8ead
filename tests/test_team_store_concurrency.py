"""Concurrency on a team store (issue 15, item 3): for 60 s, four real processes work on one
DuckLake catalog in a real PostgreSQL server: two ingest loops (each file new points,
revisions, and one point both loops add at once), a render loop and a `tracker sql` loop.
Writers never wait for each other; a write that lost a commit race is run again by the
tool. Every command succeeds; `batches` and `observations` grow by exactly what the
ingests reported; no batch id twice, no point with two current vintages, no source twice;
every PDF matches its manifest (files' sha256s, and each figure of its key messages in the
PDF's text).

Two writers adding the same new point at once cannot both commit it (DuckLake alone would
let two inserts commit); the one refused, run again, finds it there. A write that keeps
losing gives up after TRACKER_WRITE_RETRIES retries, saying nothing of it was written.

Then SIGKILL of an ingest of 200,000 synthetic rows once it has started writing Parquet
files: the catalog holds the whole batch or none, and the next ingest completes.

The catalog is read back with plain duckdb and the extension wheels, not tracker's code.
"""

from __future__ import annotations

import collections
import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from pypdf import PdfReader

from tests.conftest import SHIPPED_OBSERVATIONS, SYNTHETIC_SOURCE, invoke, synthetic_csv
from tests.postgres_server import PostgresServer
from tests.test_team_store import lake_rows
from tracker import ingest, store
from tracker.errors import DatabaseBusyError, WriteConflictError
from tracker.location import store_location
from tracker.models import BatchSummary

TRACKER = [sys.executable, "-m", "tracker"]
SECONDS = 60
LOADED = re.compile(r"loaded \d+ rows .* as batch (\d+): (\d+) new, (\d+) revised, (\d+) unchanged")
NOTHING_NEW = "nothing new:"
RETRIED = "again from the start (retry"
# A figure as the formatter writes it in a key message: 'USD 128.4 bn', '~USD 85.2 bn', '102.0 %'
FIGURE = re.compile(r"(?:[A-Z]{3} )?\b\d+(?:,\d{3})*(?:\.\d+)?(?: ?(?:bn|tn|m|%)(?![A-Za-z]))?")
KILL_ROWS = 200_000
SYNTHETIC = SYNTHETIC_SOURCE


@pytest.fixture
def catalog(postgres_database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A team store on a fresh PostgreSQL database, initialised, holding the shipped data;
    TRACKER_DATA_PATH a temp folder. Child processes inherit the environment."""
    data = tmp_path / "lake"
    data.mkdir()
    monkeypatch.setenv("TRACKER_DATA_PATH", f"{data}/")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    url = f"ducklake:postgres:{postgres_database}"
    for args in (["init"], ["ingest", *SHIPPED_OBSERVATIONS]):
        result = invoke("--db", url, *args)
        assert result.exit_code == 0, result.output
    return url


def _run(url: str, *args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*TRACKER, "--db", url, *map(str, args)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip


def _count(url: str, sql: str) -> int:
    return int(str(lake_rows(url, sql)[0][0]))


class Tally:
    """What the four workers saw: outcomes, what the ingests reported, and any failure."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.outcomes: collections.Counter[str] = collections.Counter()
        self.observations_added = 0
        self.batch_ids: list[int] = []
        self.problems: list[str] = []

    def note(self, outcome: str, count: int = 1) -> None:
        with self.lock:
            self.outcomes[outcome] += count

    def problem(self, what: str, result: subprocess.CompletedProcess[str]) -> None:
        with self.lock:
            self.problems.append(
                f"{what}: exit {result.returncode}\n{result.stdout}\n{result.stderr}"
            )


def _ingest_file(path: Path, geography: str, turn: int) -> None:
    """20 points revised every turn (the value alternates), one new point of this loop, and
    one point the other loop adds in the same turn with another value."""
    value = 10.0 + turn % 2
    shared = 5.0 if geography == "KAZ" else 6.0
    rows = [(geography, year, value + year % 7) for year in range(1901, 1921)]
    rows += [(geography, 1921 + turn, 1.0), ("MNG", 1960 + turn, shared)]
    path.write_text(
        "indicator,initiative,geography,period,value,unit,source,note\n"
        + "".join(f'power_capacity,BRI,{g},{y},{v},MW,"{SYNTHETIC}",\n' for g, y, v in rows),
        encoding="utf-8",
    )


def _ingest_loop(url: str, folder: Path, geography: str, deadline: float, tally: Tally) -> None:
    turn = 0
    while time.monotonic() < deadline:
        path = folder / f"{geography}-{turn}.csv"
        _ingest_file(path, geography, turn)
        result = _run(url, "ingest", path)
        tally.note("ingest retries", result.stderr.count(RETRIED))
        found = LOADED.search(result.stdout)
        if result.returncode == 0 and found:
            batch, new, revised, _ = (int(n) for n in found.groups())
            with tally.lock:
                tally.observations_added += new + revised
                tally.batch_ids.append(batch)
            tally.note("ingest committed")
        elif result.returncode == 0 and NOTHING_NEW in result.stdout:
            tally.note("ingest with nothing new")
        else:
            tally.problem(f"ingest {path.name}", result)
            return
        turn += 1


def _figures(text: str) -> set[str]:
    return {f.strip() for f in FIGURE.findall(text) if any(c.isdigit() for c in f)}


def _check_against_manifest(folder: Path) -> int:
    """Each file's sha256 as the manifest lists it, and every figure of the key messages in
    the PDF's text; the number of figures checked."""
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    for entry in manifest["files"]:
        data = (folder / entry["name"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"], entry["name"]
    [pdf] = [folder / e["name"] for e in manifest["files"] if e["name"].endswith(".pdf")]
    text = " ".join(" ".join((page.extract_text() or "").split()) for page in PdfReader(pdf).pages)
    figures = set().union(*(_figures(m["text"]) for m in manifest["key_messages"]))
    missing = [figure for figure in sorted(figures) if figure not in text]
    assert not missing, (folder, missing)
    return len(figures)


def _render_loop(url: str, out: Path, deadline: float, tally: Tally) -> None:
    turn = 0
    while time.monotonic() < deadline:
        target = out / str(turn)
        result = _run(url, "brief", "programmes-compared", "--format", "pdf", "--out", target)
        if result.returncode != 0:
            tally.problem("render", result)
            return
        [manifest] = target.rglob("manifest.json")
        tally.note("figures checked", _check_against_manifest(manifest.parent))
        tally.note("render succeeded")
        turn += 1


def _sql_loop(url: str, deadline: float, tally: Tally) -> None:
    while time.monotonic() < deadline:
        result = _run(
            url, "sql", "--format", "csv", "SELECT count(*) AS n FROM observations_current"
        )
        if result.returncode != 0 or not result.stdout.splitlines()[1].isdigit():
            tally.problem("sql", result)
            return
        tally.note("sql succeeded")


def _in_parallel(jobs: list[Callable[[], None]], seconds: float) -> None:
    errors: list[BaseException] = []

    def guarded(job: Callable[[], None]) -> None:
        try:
            job()
        except BaseException as error:  # an assertion in a worker fails the test
            errors.append(error)

    threads = [threading.Thread(target=guarded, args=(job,)) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=seconds + 600)
    if errors:
        raise errors[0]


def test_two_ingests_a_render_loop_and_a_sql_loop_for_60_s_all_succeed_and_counts_stay_exact(
    catalog: str, tmp_path: Path
) -> None:
    url = catalog
    observations = _count(url, "SELECT count(*) FROM observations")
    batches = _count(url, "SELECT count(*) FROM batches")
    tally = Tally()
    deadline = time.monotonic() + SECONDS
    _in_parallel(
        [
            lambda: _ingest_loop(url, tmp_path, "KAZ", deadline, tally),
            lambda: _ingest_loop(url, tmp_path, "UZB", deadline, tally),
            lambda: _render_loop(url, tmp_path / "out", deadline, tally),
            lambda: _sql_loop(url, deadline, tally),
        ],
        SECONDS,
    )
    print(f"\n{SECONDS} s on a team store: {dict(tally.outcomes)}")
    assert not tally.problems, "\n\n".join(tally.problems)
    assert tally.outcomes["ingest committed"] >= 4, tally.outcomes
    assert tally.outcomes["render succeeded"] >= 1, tally.outcomes
    assert tally.outcomes["sql succeeded"] >= 1, tally.outcomes
    assert tally.outcomes["figures checked"] >= 1, tally.outcomes

    assert _count(url, "SELECT count(*) FROM observations") == (
        observations + tally.observations_added
    )
    assert _count(url, "SELECT count(*) FROM batches") == batches + len(tally.batch_ids)
    assert len(set(tally.batch_ids)) == len(tally.batch_ids)
    stored = {int(str(row[0])) for row in lake_rows(url, "SELECT id FROM batches")}
    assert set(tally.batch_ids) <= stored
    twice = "SELECT count(*) FROM (SELECT {k} FROM {t} {w} GROUP BY {k} HAVING count(*) > 1)"
    keys = "indicator, initiative, geography, period, source"
    assert _count(url, twice.format(k="id", t="batches", w="")) == 0
    assert _count(url, twice.format(k="id", t="sources", w="")) == 0
    current = twice.format(k=keys, t="observations", w="WHERE superseded_at IS NULL")
    assert _count(url, current) == 0
    assert _count(url, "SELECT count(*) FROM meta WHERE key = 'write_claim'") == 1


# --- one race, step by step ----------------------------------------------------------------

NEW_POINT = (
    "indicator,initiative,geography,period,value,unit,source,note\n"
    f'power_capacity,BRI,KAZ,1899,7,MW,"{SYNTHETIC}",\n'
)


def test_two_writers_adding_the_same_new_point_cannot_both_commit_and_the_retry_rereads(
    catalog: str,
) -> None:
    location = store_location(catalog)
    one_row = ingest.InlineCsv("one-row.csv", NEW_POINT.encode("utf-8"))

    def add(conn: store.Connection) -> BatchSummary:
        prepared = ingest.prepare([one_row], store.catalog(conn), ingest.IngestOptions())
        return store.write_batch(
            conn, prepared.rows, files=prepared.files, sha256s=prepared.sha256s,
            new_sources=prepared.new_sources,
        )  # fmt: skip

    with pytest.raises(WriteConflictError):
        with store.connect(location) as first, store.connect(location) as second:
            first.execute("BEGIN TRANSACTION")
            second.execute("BEGIN TRANSACTION")
            assert add(first).rows_new == add(second).rows_new == 1  # both saw it new
            first.execute("COMMIT")
            second.execute("COMMIT")
    point = "FROM observations WHERE geography = 'KAZ' AND period = '1899'"
    assert _count(catalog, f"SELECT count(*) {point}") == 1
    again = store.write_transaction(location, add, what="the test row")
    assert (again.batch_id, again.rows_unchanged) == (None, 1)
    assert _count(catalog, f"SELECT count(*) {point}") == 1


def test_a_write_that_keeps_losing_gives_up_after_the_retries_saying_nothing_was_written(
    catalog: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRACKER_WRITE_RETRIES", "2")
    location = store_location(catalog)
    attempts = []

    def losing() -> None:
        attempts.append(1)
        with store.connect(location) as conn, store.transaction(conn):
            store.claim_writes(conn)
            with store.connect(location) as other:  # commits first, every time
                store.claim_writes(other)

    with pytest.raises(DatabaseBusyError) as refused:
        store.retried(location, losing, what="the test write")
    assert len(attempts) == 3
    assert str(refused.value) == (
        f"{catalog}: the test write was not written: other processes committed conflicting "
        "changes to the same tables first, 3 times in a row. Each attempt was rolled back "
        "whole, so nothing of it is in the store. Run the command again (or raise "
        "TRACKER_WRITE_RETRIES, now 2)."
    )


# --- SIGKILL mid-ingest ------------------------------------------------------------------------


def _big_csv(path: Path) -> Path:
    return synthetic_csv(path, KILL_ROWS)


def _parquet_files(data: Path) -> set[Path]:
    return set((data / "main" / "observations").rglob("*.parquet"))


def test_sigkill_of_an_ingest_once_it_writes_leaves_the_whole_batch_or_none(
    catalog: str, tmp_path: Path
) -> None:
    url = catalog
    data = Path(os.environ["TRACKER_DATA_PATH"])
    csv = _big_csv(tmp_path / "big.csv")
    observations = _count(url, "SELECT count(*) FROM observations")
    batches = _count(url, "SELECT count(*) FROM batches")
    before = _parquet_files(data)
    process = subprocess.Popen(
        [*TRACKER, "--db", url, "ingest", str(csv)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    # It has started writing once a new Parquet file of observations is there.
    deadline = time.monotonic() + 300
    while not _parquet_files(data) - before and process.poll() is None:
        assert time.monotonic() < deadline, "the ingest wrote no Parquet file in 300 s"
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    out, err = process.communicate(timeout=60)
    assert process.returncode == -signal.SIGKILL, (out.decode(), err.decode())

    after = _count(url, "SELECT count(*) FROM observations")
    assert after in (observations, observations + KILL_ROWS)
    assert _count(url, "SELECT count(*) FROM batches") == batches + (after > observations)
    orphans = (
        "SELECT count(*) FROM batches AS b WHERE b.rows_new + b.rows_revised > 0 "
        "AND NOT EXISTS (SELECT 1 FROM observations AS o WHERE o.batch = b.id)"
    )
    assert _count(url, orphans) == 0
    print(f"\nkilled once writing: {'the whole batch' if after > observations else 'none'} stored")

    # no stale lock: the same ingest runs to the end
    result = _run(url, "ingest", csv)
    assert result.returncode == 0, result.stderr
    if after == observations:
        assert f"{KILL_ROWS} new" in result.stdout, result.stdout
    assert _count(url, "SELECT count(*) FROM observations") == observations + KILL_ROWS
    assert _count(url, orphans) == 0


def test_the_catalog_server_lost_mid_ingest_is_one_paragraph_and_leaves_the_batch_or_none(
    catalog: str, postgres_server: PostgresServer, tmp_path: Path
) -> None:
    url = catalog
    dbname = url.split("dbname=", 1)[1].split()[0]
    data = Path(os.environ["TRACKER_DATA_PATH"])
    csv = _big_csv(tmp_path / "big.csv")
    observations = _count(url, "SELECT count(*) FROM observations")
    before = _parquet_files(data)
    process = subprocess.Popen(
        [*TRACKER, "--db", url, "ingest", str(csv)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 300
    while not _parquet_files(data) - before and process.poll() is None:
        assert time.monotonic() < deadline, "the ingest wrote no Parquet file in 300 s"
        time.sleep(0.005)
    # The server drops every session of the catalog's database, as a restart would.
    postgres_server.psql(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
        f"WHERE datname = '{dbname}' AND pid <> pg_backend_pid()"
    )
    out, err = process.communicate(timeout=120)
    print(f"\nexit {process.returncode}: {out}{err}")
    after = _count(url, "SELECT count(*) FROM observations")
    assert after in (observations, observations + KILL_ROWS)
    if process.returncode == 0:  # it had committed before the sessions went
        assert after == observations + KILL_ROWS
    else:
        assert process.returncode == 1, err
        assert "Traceback" not in err and err.strip().count("\n") == 0, err
        assert err.startswith(f"{url}: the connection to the team store's catalog in PostgreSQL "
                              "was lost during the command"), err  # fmt: skip
        assert "nothing of it was written" in err and "run the command again." in err, err
        assert after == observations
    result = _run(url, "ingest", csv)
    assert result.returncode == 0, result.stderr
    assert _count(url, "SELECT count(*) FROM observations") == observations + KILL_ROWS
