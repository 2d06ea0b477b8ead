"""How fast is `tracker import aiddata` (records -> `projects`, then every derived indicator)
next to DuckDB's own CSV reader, on a GCDF-shaped file of 20,985 records.

    python -m tests.benchmarks.aiddata_bench [--rows 20985] [--repeat 3]

The file is SYNTHETIC: the published header of data/imports/aiddata-gcdf3-malaysia-extract.csv
and generated rows (titles say 'synthetic record, not real'; recipients drawn from real ISO-3
codes, years 2000-2021, sectors including ENERGY and TRANSPORT AND STORAGE, random amounts),
cited to a source titled 'synthetic benchmark data, not real figures'. On the same file:

  (a) DuckDB: `CREATE TABLE t AS SELECT * FROM read_csv(file)` into a fresh DuckDB file;
  (b) tracker: connect, `importers.import_files` (read, check, write the records, derive and
      load the figures as one batch), commit, close, into a fresh initialised database.

Each runs in a fresh process (timed inside it, imports excluded), `--repeat` times; medians.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb

from tracker import store

EXTRACT = Path(__file__).resolve().parents[2] / "data/imports/aiddata-gcdf3-malaysia-extract.csv"
RECIPIENTS = ("KAZ", "UZB", "KGZ", "TJK", "TKM", "PAK", "LKA", "KEN", "ETH", "AGO", "ZMB", "MYS",
              "IDN", "LAO", "KHM", "BRA", "ECU", "VEN", "ARG", "EGY")  # fmt: skip
SECTORS = ((210, "TRANSPORT AND STORAGE"), (230, "ENERGY"), (120, "HEALTH"),
           (240, "BANKING AND FINANCIAL SERVICES"), (520, "DEVELOPMENTAL FOOD AID/FOOD SECURITY "
           "ASSISTANCE"))  # fmt: skip
MAPPING = """format = "aiddata"
[source]
id = "synthetic-aiddata-bench"
title = "synthetic benchmark data, not real figures"
publisher = "tracker benchmarks"
"""


def write_csv(path: Path, rows: int) -> None:
    """A synthetic GCDF-shaped CSV: the published header, generated rows."""
    with open(EXTRACT, encoding="utf-8", newline="") as handle:
        header = next(csv.reader(handle))
    at = {name: i for i, name in enumerate(header)}
    generator = random.Random(2021)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    for record in range(1, rows + 1):
        row = [""] * len(header)
        code, sector = generator.choice(SECTORS)
        year = generator.randint(2000, 2021)
        amount = round(generator.lognormvariate(17, 2), 4)
        for name, value in (
            ("AidData Record ID", record), ("Recommended For Aggregates",
            "Yes" if generator.random() < 0.9 else "No"), ("Recipient ISO-3",
            generator.choice(RECIPIENTS)), ("Recipient", "synthetic"), ("Commitment Year", year),
            ("Commitment Date (MM/DD/YYYY)", f"{year}-01-01"),
            ("Title", f"synthetic record {record}, not real"), ("Sector Code", code),
            ("Sector Name", sector), ("Infrastructure", "Yes" if code in (210, 230) else ""),
            ("Amount (Constant USD 2021)", amount if generator.random() < 0.8 else ""),
            ("Amount (Nominal USD)", amount), ("Original Currency", "USD"),
            ("Funding Agencies", "synthetic agency"), ("Source URLs", "https://example.org/a|"
            "https://example.org/b"),
        ):  # fmt: skip
            row[at[name]] = str(value)
        writer.writerow(row)
    path.write_text(buffer.getvalue(), encoding="utf-8")


def child(kind: str, db: str, csv_path: str, mapping: str) -> None:
    """One timed run in this (fresh) process; prints {"seconds": ...}."""
    if kind == "duckdb":
        started = time.perf_counter()
        conn = duckdb.connect(db)
        conn.execute("CREATE TABLE t AS SELECT * FROM read_csv(?)", [csv_path])
        conn.close()
    else:
        from tracker import importers

        loaded = importers.load_mapping("aiddata", [Path(mapping)])
        adapter = importers.adapters()["aiddata"]
        assert adapter is not None
        started = time.perf_counter()
        with store.connect(Path(db)) as conn, store.transaction(conn):
            summary = importers.import_files(conn, adapter, [Path(csv_path)], loaded)
        assert summary.projects is not None and summary.projects.new > 0
    print(json.dumps({"seconds": time.perf_counter() - started}))


def run_child(*args: str) -> float:
    done = subprocess.run(
        [sys.executable, "-m", "tests.benchmarks.aiddata_bench", "--child", *args],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    return float(json.loads(done.stdout.strip().splitlines()[-1])["seconds"])


def measure(rows: int, repeat: int, folder: Path) -> tuple[float, float]:
    """Median seconds of (a) DuckDB read_csv and (b) tracker import aiddata."""
    csv_path, mapping = folder / "gcdf-synthetic.csv", folder / "synthetic.toml"
    write_csv(csv_path, rows)
    mapping.write_text(MAPPING)
    template = folder / "template.duckdb"
    subprocess.run([Path(sys.executable).with_name("tracker"), "--db", template, "init"],
                   check=True, capture_output=True)  # fmt: skip
    duck, ours = [], []
    for _ in range(repeat):
        target = folder / "duckdb_only.duckdb"
        target.unlink(missing_ok=True)
        duck.append(run_child("duckdb", str(target), str(csv_path), str(mapping)))
        target = folder / "tracker.duckdb"
        target.unlink(missing_ok=True)
        shutil.copyfile(template, target)
        ours.append(run_child("tracker", str(target), str(csv_path), str(mapping)))
    return statistics.median(duck), statistics.median(ours)


def main() -> None:
    if sys.argv[1:2] == ["--child"]:
        child(*sys.argv[2:6])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_985)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        a, b = measure(args.rows, args.repeat, Path(folder))
    print(f"duckdb read_csv {a:.3f} s; tracker import aiddata {b:.3f} s; ratio {b / a:.2f}x")


if __name__ == "__main__":
    main()
