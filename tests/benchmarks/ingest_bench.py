"""How fast is `tracker ingest` next to DuckDB's own CSV reader, and how much memory it takes.

    python -m tests.benchmarks.ingest_bench [--rows 1000000] [--repeat 3]

Generates a synthetic long CSV (distinct keys drawn from the real indicator, initiative and
geography ids; periods 2000..2030 as years and months; the source column is the free-text
citation 'synthetic benchmark data, not real figures', so it registers as a new source),
then measures, on the same file:

  (a) DuckDB: `CREATE TABLE t AS SELECT * FROM read_csv(file)` into a fresh DuckDB file;
  (b) tracker: connect, catalog, `ingest.prepare`, `store_batches.write_batch`, commit, close,
      into a fresh initialised tracker database.

Each runs in a fresh process, as a command would (timed inside it, imports excluded), on
a fresh database, `--repeat` times; medians are reported, and the peak RSS of (b) read
with getrusage(RUSAGE_CHILDREN) in a small launcher process. Not a pytest test.
"""

from __future__ import annotations

import argparse
import importlib
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import polars as pl

from tracker import ingest, store
from tracker.location import StoreLocation, store_location
from tracker.models import IndicatorInfo
from tracker.units import Unit

SOURCE_TEXT = "synthetic benchmark data, not real figures"


def build_template(path: StoreLocation) -> None:
    """An initialised tracker database (schema, reference tables, indicators), no data: a
    file, or a team store (bench.py's team rows)."""
    with store.create_or_open(path) as conn:
        store.initialise(conn)


def write_csv(template: Path, path: Path, rows: int) -> int:
    """A long CSV of `rows` distinct points; returns the number written."""
    with store.connect(template, read_only=True) as conn:
        catalog = store.catalog(conn)
    # programme figures only: context indicators take no initiative (README "CSV format")
    programme = sorted(i for i, info in catalog.indicators.items() if not info.context)
    indicators = pl.DataFrame(
        {"indicator": programme, "unit": [_label(catalog.indicators[i]) for i in programme]}
    )
    initiatives = pl.DataFrame({"initiative": sorted(catalog.initiatives - {"CONTEXT"})})
    geographies = pl.DataFrame({"geography": sorted(set(catalog.geographies.values()))})
    years = [str(y) for y in range(2000, 2031)]
    months = [f"{y}-{m:02d}" for y in range(2000, 2031) for m in range(1, 13)]
    periods = pl.DataFrame({"period": years + months})
    keys = indicators.join(initiatives, how="cross").join(geographies, how="cross")
    keys = keys.join(periods, how="cross").head(rows)
    frame = keys.with_row_index("n").select(
        "indicator", "initiative", "geography", "period",
        ((pl.col("n") * 7919 % 100_000) / 100).round(2).cast(pl.String).alias("value"),
        "unit",
        pl.lit(SOURCE_TEXT).alias("source"),
        pl.when(pl.col("n") % 50 == 0).then(pl.lit("synthetic note, not a real figure"))
        .alias("note"),
    )  # fmt: skip
    frame.write_csv(path)
    return frame.height


def _label(info: IndicatorInfo) -> str:
    return Unit(info.dimension, info.base_unit, info.multiplier).label


# The child is started from a small launcher process: a child forked from this (large)
# process would carry this process's resident pages in its ru_maxrss.
LAUNCHER = """
import json, resource, subprocess, sys
result = subprocess.run(sys.argv[1:], capture_output=True, text=True)
if result.returncode:
    sys.exit(result.stdout + result.stderr)
figures = json.loads(result.stdout.strip().splitlines()[-1])
figures["ru_maxrss_mib"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
print(json.dumps(figures))
"""


def run_child(*args: str) -> dict[str, float]:
    """Run one measurement in a fresh process (as a user runs a command); its figures."""
    command = [sys.executable, "-m", "tests.benchmarks.ingest_bench", "--child", *args]
    result = subprocess.run(
        [sys.executable, "-c", LAUNCHER, *command], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise SystemExit(f"child failed:\n{result.stdout}\n{result.stderr}")
    figures: dict[str, float] = json.loads(result.stdout.strip().splitlines()[-1])
    return figures


def duckdb_child(db: Path, csv_path: Path) -> None:
    """(a): DuckDB alone loads the CSV into a table of a fresh database file."""
    start = time.perf_counter()
    conn = duckdb.connect(str(db))
    conn.execute("CREATE TABLE t AS SELECT * FROM read_csv(?)", [str(csv_path)])
    conn.close()
    print(json.dumps({"seconds": time.perf_counter() - start}))


def tracker_child(db: StoreLocation, csv_path: Path, write_batch: str) -> None:
    """(b): the full ingest (what `tracker ingest FILE` does), printed as JSON."""
    module, _, name = write_batch.partition(":")
    write = getattr(importlib.import_module(module), name)
    start = time.perf_counter()
    with store.connect(db) as conn:
        with store.transaction(conn):
            catalog = store.catalog(conn)
            prepared = ingest.prepare([csv_path], catalog, ingest.IngestOptions())
            prepared_at = time.perf_counter()
            summary = write(
                conn,
                prepared.rows,
                files=prepared.files,
                sha256s=prepared.sha256s,
                new_sources=prepared.new_sources,
            )
    end = time.perf_counter()
    figures = {
        "seconds": end - start,
        "prepare": prepared_at - start,
        "write_commit_close": end - prepared_at,
        "rows_new": summary.rows_new,
    }
    print(json.dumps(figures))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--write-batch",
        default="tracker.store.batches:write_batch",
        metavar="MODULE:FUNCTION",
        help="the write_batch to measure, to compare a candidate (importable) implementation",
    )
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        which, db, csv_file = args.child
        if which == "duckdb":
            duckdb_child(Path(db), Path(csv_file))
        else:
            tracker_child(store_location(db), Path(csv_file), args.write_batch)
        return
    with tempfile.TemporaryDirectory(prefix="ingest-bench-") as tmp:
        folder = Path(tmp)
        template = folder / "template.duckdb"
        build_template(template)
        csv_path = folder / "synthetic.csv"
        rows = write_csv(template, csv_path, args.rows)
        size = csv_path.stat().st_size / 1e6
        print(f"{rows:,} rows, {size:.1f} MB: {csv_path.name}")
        duck, ours, prepare, write, peaks = [], [], [], [], []
        for _ in range(args.repeat):
            target = folder / "duckdb_only.duckdb"
            target.unlink(missing_ok=True)
            duck.append(run_child("duckdb", str(target), str(csv_path))["seconds"])
            target = folder / "tracker.duckdb"
            target.unlink(missing_ok=True)
            shutil.copyfile(template, target)
            figures = run_child(
                "tracker", str(target), str(csv_path), "--write-batch", args.write_batch
            )
            assert figures["rows_new"] == rows, figures
            ours.append(figures["seconds"])
            prepare.append(figures["prepare"])
            write.append(figures["write_commit_close"])
            peaks.append(figures["ru_maxrss_mib"])
        peak = max(peaks)
        a, b = statistics.median(duck), statistics.median(ours)
        print(f"(a) duckdb read_csv -> table : {a:6.2f} s  {rows / a:12,.0f} rows/s")
        print(
            f"(b) tracker ingest           : {b:6.2f} s  {rows / b:12,.0f} rows/s  "
            f"(prepare {statistics.median(prepare):.2f} s, write+commit "
            f"{statistics.median(write):.2f} s)"
        )
        print(f"ratio b/a: {b / a:.2f}   peak RSS of (b): {peak:.0f} MiB")
        print(f"runs (a): {', '.join(f'{x:.2f}' for x in duck)}")
        print(f"runs (b): {', '.join(f'{x:.2f}' for x in ours)}")


if __name__ == "__main__":
    main()
