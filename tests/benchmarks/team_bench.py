"""The team store's rows of `make bench` (issue 15): the 1,000,000-row ingest and one
briefing on a DuckLake catalog in PostgreSQL, each against the single-file store in the
same run, the two taking turns.

The bench starts its own throwaway PostgreSQL cluster (tests/postgres_server.py) and stops
it at the end; each team store is a new database of it with its Parquet files in a folder
of tests/benchmarks/work/. Not a pytest test.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from itertools import count
from pathlib import Path

from tests.benchmarks import ingest_bench, render_bench
from tests.postgres_server import PostgresServer, running_server
from tracker import settings
from tracker.location import StoreLocation, TeamStore

TRACKER = Path(sys.executable).with_name("tracker")
_numbers = count(1)


@contextmanager
def postgres() -> Iterator[PostgresServer]:
    """A throwaway cluster; its password in PGPASSWORD (as a user gives it), for this process
    and the commands it starts."""
    with running_server() as server:
        os.environ["PGPASSWORD"] = server.password
        yield server


def new_team_store(server: PostgresServer, work: Path) -> TeamStore:
    """An empty database of `server` and a fresh data path under `work`; TRACKER_DATA_PATH
    set to it, so child processes reach the same store."""
    name = f"bench_{next(_numbers)}"
    data = work / f"{name}-lake"
    shutil.rmtree(data, ignore_errors=True)
    data.mkdir(parents=True)
    os.environ[settings.DATA_PATH.env] = f"{data}/"
    return TeamStore(server.create_database(name), f"{data}/")


def _use(location: StoreLocation) -> None:
    """Point TRACKER_DATA_PATH at a team store's data path before a child reaches it."""
    if isinstance(location, TeamStore):
        os.environ[settings.DATA_PATH.env] = location.data_path


def ingest_seconds(
    server: PostgresServer, work: Path, rows: int, repeat: int
) -> tuple[int, list[float], list[float]]:
    """The full ingest of one synthetic long CSV (`ingest_bench`'s child, a fresh process
    each time) into a fresh initialised file store and a fresh initialised team store,
    taking turns: (rows written, file seconds, team seconds)."""
    template = work / "template.duckdb"
    ingest_bench.build_template(template)
    csv_path = work / "synthetic.csv"
    written = ingest_bench.write_csv(template, csv_path, rows)
    on_file, on_team = [], []
    for _ in range(repeat):
        target = work / "file.duckdb"
        target.unlink(missing_ok=True)
        shutil.copyfile(template, target)
        on_file.append(_ingest(target, csv_path))
        team = new_team_store(server, work)
        ingest_bench.build_template(team)
        on_team.append(_ingest(team, csv_path))
    return written, on_file, on_team


def _ingest(location: StoreLocation, csv_path: Path) -> float:
    _use(location)
    figures = ingest_bench.run_child("tracker", str(location), str(csv_path), "--write-batch",
                                     "tracker.store.batches:write_batch")  # fmt: skip
    return figures["seconds"]


def briefing_seconds(server: PostgresServer, work: Path, repeat: int) -> tuple[float, float]:
    """Medians of `tracker brief programmes-compared` (PDF + HTML + CSV + manifest, runs
    recorded; render_bench's in-process render) on a file store and on a team store, both
    built as a user would (`tracker init`, `tracker ingest data/observations/*.csv`)."""
    file_store = work / "briefing.duckdb"
    file_store.unlink(missing_ok=True)
    team = new_team_store(server, work)
    for location in (file_store, team):
        _build(location)
    _use(team)
    on_file, on_team = render_bench._medians(
        [lambda: render_bench._render(file_store), lambda: render_bench._render(team)], repeat
    )
    return on_file, on_team


def _build(location: StoreLocation) -> None:
    _use(location)
    observations = sorted((settings.PROJECT_ROOT / "data" / "observations").glob("*.csv"))
    for command in (["init"], ["ingest", *map(str, observations)]):
        subprocess.run([str(TRACKER), "--db", str(location), *command], check=True,
                       stdout=subprocess.DEVNULL)  # fmt: skip
