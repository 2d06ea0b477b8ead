"""`make bench`: every benchmark of the project in one run, printed as one table. Not a test
and not run by CI; results are kept in tests/benchmarks/RESULTS.md.

    .venv/bin/python -m tests.benchmarks.bench [--quick] [--only ROW ...]

Each figure is measured against a baseline measured in the same run, on the same machine,
the two taking turns (so both see the same load). All data beyond the shipped demo is
synthetic and says so (sources of kind 'synthetic', notes 'SYNTHETIC benchmark row').
Work files go to tests/benchmarks/work/ (git-ignored).

Rows (goal in brackets):
  ingest     1,000,000-row long CSV through `tracker ingest`'s code vs DuckDB read_csv into
             a table, each in a fresh process, median of 3 [<= 1.5x, peak RSS < 1 GB]
  render     programmes-compared end to end (PDF + HTML + CSV + manifest, runs recorded) vs
             the same SVGs and HTML through vl-convert + WeasyPrint alone, median of 5 [<= 1.2x]
  store      the same briefing with 10,000,000 synthetic observations in the store vs on
             the shipped data, median of 5 [<= 1.3x]
  variants   `tracker brief country-profile --each geography` over 50 countries (one warm
             process, workers on every core) vs 50 x `tracker brief country-profile --param
             geography=X` each in a fresh process (10 run, scaled to 50) [<= 0.4x]
  queries    `SELECT * FROM latest_values` / `target_progress` on the 10,000,000-row store,
             p50 of 20 [< 100 ms]
  scheduler  `tracker schedule run` left idle for 60 s: CPU share and RSS [< 1% CPU]
  startup    `tracker --help`, `tracker sql "select 1"`, `tracker indicators` and `tracker
             ingest` of a 10-row CSV, each a fresh process, vs a process that imports duckdb,
             opens the same file and runs `select 1`, taking turns, medians of 11; tracker's
             modules byte-compiled first, as pip does on install [<= 1.6x]
  sqlstream  `tracker sql --format csv` of a 10,000,000-row query to a file vs DuckDB's own
             `COPY (query) TO 'file' (FORMAT csv)` in a fresh process: time and peak RSS
             [peak RSS < 2x DuckDB's and < 500 MiB: rows stream, never all held]
  teamingest the ingest row's 1,000,000-row CSV into a team store (a DuckLake catalog in a
             throwaway PostgreSQL, tests/benchmarks/team_bench.py) vs into a single-file
             store, fresh processes taking turns, medians of 3 [measured; no goal yet]
  teamrender programmes-compared (PDF + HTML + CSV + manifest, runs recorded) on a team
             store vs on a single-file store, both holding the shipped data, taking turns,
             median of 5 [measured; no goal yet]
  aiddata    `tracker import aiddata` of 20,985 SYNTHETIC GCDF-shaped records (the published
             header, generated rows; tests/benchmarks/aiddata_bench.py): records into
             `projects` plus every derived indicator, one batch, vs DuckDB's read_csv of the
             same file into a table, fresh processes, medians of 3 [<= 2x]
  sdmx       `tracker import sdmx` of the ECB EXR specimen (monthly USD/EUR, SDMX-ML 2.1) into
             a copy of the demo database vs sdmx1 reading the file alone, fresh processes,
             taking turns, medians of 5; tracker's modules byte-compiled first [<= 1.3x]
"""

from __future__ import annotations

import argparse
import compileall
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from tests.benchmarks import aiddata_bench, ingest_bench, render_bench, synthetic, team_bench
from tests.postgres_server import PostgresServer
from tracker import settings, store

WORK = Path(__file__).resolve().parent / "work" / "bench"
PROJECT = Path(__file__).resolve().parents[2]
TRACKER = Path(sys.executable).with_name("tracker")
ROWS = ("ingest", "render", "store", "variants", "queries", "scheduler", "startup", "sqlstream",
        "aiddata", "sdmx", "teamingest", "teamrender")  # fmt: skip


@dataclass(frozen=True)
class Row:
    """One line of the table."""

    figure: str
    ours: str
    baseline: str
    ratio: str
    goal: str
    met: str


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="fewer rows and repeats: a smoke test of the script"
    )
    parser.add_argument("--only", nargs="+", choices=ROWS, default=list(ROWS))
    args = parser.parse_args()
    quick = args.quick
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    started = time.perf_counter()
    _say(f"building the demo database in {WORK} ...")
    demo = WORK / "demo.duckdb"
    synthetic.build_demo(demo)
    big = WORK / "big.duckdb"
    big_rows = 200_000 if quick else 10_000_000
    if {"store", "queries"} & set(args.only):
        _say(f"adding {big_rows:,} synthetic observations (DuckDB SQL, range()) ...")
        synthetic.copy_database(demo, big)
        synthetic.add_many_observations(big, big_rows)
    steps: dict[str, Callable[[], Row | list[Row]]] = {
        "ingest": lambda: ingest_row(100_000 if quick else 1_000_000, 1 if quick else 3),
        "sdmx": lambda: sdmx_row(demo, 1 if quick else 5),
        "render": lambda: render_row(demo, 1 if quick else 5),
        "store": lambda: store_row(demo, big, big_rows, 1 if quick else 5),
        "variants": lambda: variants_row(demo, 6 if quick else 50, 2 if quick else 10),
        "queries": lambda: queries_row(big, big_rows, 3 if quick else 20),
        "scheduler": lambda: scheduler_row(demo, 5 if quick else 60),
        "startup": lambda: startup_rows(demo, 3 if quick else 11),
        "sqlstream": lambda: sqlstream_row(demo, 200_000 if quick else 10_000_000),
        "aiddata": lambda: aiddata_row(2_000 if quick else 20_985, 1 if quick else 3),
        "teamingest": lambda: team_ingest_row(100_000 if quick else 1_000_000, 1 if quick else 3),
        "teamrender": lambda: team_render_row(1 if quick else 5),
    }
    rows: list[Row] = []
    with ExitStack() as stack:
        for name in args.only:
            _say(f"--- {name}")
            if name.startswith("team") and POSTGRES not in SHARED:
                SHARED[POSTGRES] = stack.enter_context(team_bench.postgres())
            done = steps[name]()
            rows.extend(done if isinstance(done, list) else [done])
    print_table(rows, time.perf_counter() - started, quick)


# --- the rows -------------------------------------------------------------------------------


def ingest_row(rows: int, repeat: int) -> Row:
    """`tracker ingest`'s code (fresh process) vs DuckDB read_csv -> table (fresh process)."""
    folder = WORK / "ingest"
    folder.mkdir()
    template = folder / "template.duckdb"
    ingest_bench.build_template(template)
    csv_path = folder / "synthetic.csv"
    written = ingest_bench.write_csv(template, csv_path, rows)
    duck, ours, peaks = [], [], []
    for _ in range(repeat):
        target = folder / "duckdb_only.duckdb"
        target.unlink(missing_ok=True)
        duck.append(ingest_bench.run_child("duckdb", str(target), str(csv_path))["seconds"])
        target = folder / "tracker.duckdb"
        target.unlink(missing_ok=True)
        shutil.copyfile(template, target)
        figures = ingest_bench.run_child("tracker", str(target), str(csv_path), "--write-batch",
                                         "tracker.store.batches:write_batch")  # fmt: skip
        ours.append(figures["seconds"])
        peaks.append(figures["ru_maxrss_mib"])
    a, b, peak = statistics.median(duck), statistics.median(ours), max(peaks)
    _say(f"duckdb runs {_list(duck)}; tracker runs {_list(ours)}; peak RSS {peak:.0f} MiB")
    ok = b / a <= 1.5 and peak < 1024
    return Row(f"ingest of a {written:,}-row long CSV", f"{b:.2f} s, peak RSS {peak:.0f} MiB",
               f"DuckDB read_csv into a table: {a:.2f} s", f"{b / a:.2f}x",
               "<= 1.5x, RSS < 1 GB", _met(ok))  # fmt: skip


def aiddata_row(rows: int, repeat: int) -> Row:
    """`tracker import aiddata` (records + derived figures) vs DuckDB read_csv -> table."""
    folder = WORK / "aiddata"
    folder.mkdir()
    duck, ours = aiddata_bench.measure(rows, repeat, folder)
    return Row(f"import aiddata of {rows:,} synthetic GCDF records + derivation",
               f"{ours:.2f} s", f"DuckDB read_csv into a table: {duck:.2f} s",
               f"{ours / duck:.2f}x", "<= 2x", _met(ours / duck <= 2))  # fmt: skip


# The ECB's monthly US dollar / euro series from 1999 (SDMX-ML 2.1 generic), in the corpora
# beside the project: `tracker import sdmx` makes 21 annual rates of it.
EXR_SPECIMEN = PROJECT.parent / "shared" / "corpora" / "sdmx-test-data" / "ECB_EXR" / "1" / \
    "M.USD.EUR.SP00.A.xml"  # fmt: skip


def sdmx_row(demo: Path, repeat: int) -> Row:
    """`tracker import sdmx` of the ECB EXR specimen (a fresh process, into a copy of the demo
    database whose shipped EUR rates it leaves unchanged, so every run reads, maps and checks
    the whole file) vs a fresh process of `sdmx1` reading the same file alone; tracker's
    modules byte-compiled first, as for the start-up rows."""
    _compile_ours()
    folder = WORK / "sdmx"
    folder.mkdir()
    target = folder / "tracker.duckdb"
    alone = [sys.executable, "-c", "import sys, sdmx; sdmx.read_sdmx(sys.argv[1])",
             str(EXR_SPECIMEN)]  # fmt: skip
    ours_command = [str(PROJECT / ".venv" / "bin" / "tracker"), "--db", str(target), "import",
                    "sdmx", str(EXR_SPECIMEN)]  # fmt: skip
    baseline, ours = [], []
    for _ in range(repeat):
        synthetic.copy_database(demo, target)
        baseline.append(_timed(alone))
        ours.append(_timed(ours_command))
    a, b = statistics.median(baseline), statistics.median(ours)
    _say(f"sdmx1 alone {_list(baseline)}; tracker import sdmx {_list(ours)}")
    return Row("import sdmx of the ECB EXR specimen (monthly USD/EUR 1999-2019)", f"{b:.2f} s",
               f"sdmx1 reading the file alone (fresh process): {a:.2f} s", f"{b / a:.2f}x",
               "<= 1.3x", _met(b / a <= 1.3))  # fmt: skip


def _compile_ours() -> None:
    """Byte-compile tracker's modules, as pip does on install."""
    # An installed tracker has its bytecode; a checkout run under PYTHONDONTWRITEBYTECODE=1
    # would compile every module of ours in every run (0.05 s for `tracker import sdmx`), a
    # cost no user pays and the baselines (duckdb, sdmx1: installed) never have.
    compileall.compile_dir(Path(settings.__file__).parent, quiet=1)


def _timed(command: list[str]) -> float:
    """Seconds a command takes, start-up included; it must succeed."""
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, timeout=600)
    return time.perf_counter() - start


def render_row(demo: Path, repeat: int) -> Row:
    """The shipped briefing end to end vs its SVGs + HTML through the two libraries."""
    db = _copy(demo, "render.duckdb")
    specs, html = render_bench._specs_and_html(db)
    ours, bare = render_bench._medians(
        [lambda: render_bench._render(db), lambda: render_bench._bare(specs, html)], repeat
    )
    ok = ours / bare <= 1.2
    return Row("one briefing, PDF + HTML (programmes-compared)", f"{ours:.3f} s",
               f"the same {len(specs)} SVGs + HTML through vl-convert + WeasyPrint alone: "
               f"{bare:.3f} s", f"{ours / bare:.2f}x", "<= 1.2x", _met(ok))  # fmt: skip


def store_row(demo: Path, big: Path, big_rows: int, repeat: int) -> Row:
    """The same briefing with the big synthetic store vs on the shipped data."""
    small_db, big_db = _copy(demo, "store-small.duckdb"), _copy(big, "store-big.duckdb")
    small, large = render_bench._medians(
        [lambda: render_bench._render(small_db), lambda: render_bench._render(big_db)], repeat
    )
    ok = large / small <= 1.3
    return Row(f"one briefing with {_count(big_db):,} observations in the store",
               f"{large:.3f} s", f"the same briefing on the shipped data: {small:.3f} s",
               f"{large / small:.2f}x", "<= 1.3x", _met(ok))  # fmt: skip


def variants_row(demo: Path, count: int, fresh: int) -> Row:
    """`--each geography` over `count` countries (the 5 Central Asian ones have the shipped
    region's figures; the others get synthetic points) vs `count` fresh processes, of which
    `fresh` are run and the mean scaled."""
    db = _copy(demo, "variants.duckdb")
    extra = synthetic.countries_outside(db, "central-asia", count - 5)
    synthetic.add_country_points(db, extra)
    fresh_db = _copy(db, "variants-fresh.duckdb")
    values = ["KAZ", "UZB", *extra][:fresh]
    _say(f"{fresh} fresh processes: tracker brief country-profile --param geography=X ...")
    singles = []
    for value in values:
        singles.append(_timed([str(TRACKER), "--db", str(fresh_db), "brief", "country-profile",
                               "--param", f"geography={value}", "--out",
                               str(WORK / "variants-fresh")]))  # fmt: skip
    _say(f"one process: tracker brief country-profile --each geography ({count} variants) ...")
    output = WORK / "variants-warm"
    warm, text = _timed_output([str(TRACKER), "--db", str(db), "brief", "country-profile",
                                "--each", "geography", "--out", str(output)])  # fmt: skip
    pdfs = len(list(output.rglob("*.pdf")))
    assert pdfs == count, f"{pdfs} PDFs for {count} variants:\n{text}"
    scaled = statistics.mean(singles) * count
    _say(f"fresh runs {_list(singles)}; warm {warm:.2f} s for {pdfs} PDFs; {text.splitlines()[-1]}")
    ok = warm / scaled <= 0.4
    return Row(f"{count} country variants (`--each geography`, {os.cpu_count()} cores)",
               f"{warm:.1f} s ({pdfs} PDFs)",
               f"{count} x one variant in a fresh process: {scaled:.1f} s "
               f"(mean of {fresh} runs {statistics.mean(singles):.2f} s, x {count})",
               f"{warm / scaled:.2f}x", "<= 0.4x", _met(ok))  # fmt: skip


def queries_row(big: Path, big_rows: int, repeat: int) -> Row:
    """p50 of `repeat` full reads of latest_values and target_progress on the big store."""
    db = _copy(big, "queries.duckdb")
    p50: dict[str, float] = {}
    sizes: dict[str, int] = {}
    with store.connect(db, read_only=True) as conn:
        # The sum adds the stored values themselves (DECIMAL(38, 12) since migration 010).
        sums = "SELECT indicator, currency, sum(value) FROM latest_values GROUP BY ALL"
        for view, sql in (("latest_values", "SELECT * FROM latest_values"),
                          ("target_progress", "SELECT * FROM target_progress"),
                          ("sum over latest_values", sums)):  # fmt: skip
            store.query(conn, sql)  # warm-up
            times = []
            for _ in range(repeat):
                start = time.perf_counter()
                sizes[view] = store.query(conn, sql).height
                times.append(time.perf_counter() - start)
            p50[view] = statistics.median(times) * 1000
    ok = all(ms < 100 for ms in p50.values())
    ours = ", ".join(f"{v} {p50[v]:.0f} ms ({sizes[v]:,} rows)" for v in p50)
    return Row(f"`latest_values`, `target_progress`, a sum on {_count(db):,} observations", ours,
               f"none (absolute, p50 of {repeat})", "-", "< 100 ms", _met(ok))  # fmt: skip


def scheduler_row(demo: Path, seconds: int) -> Row:
    """`tracker schedule run` idle: CPU share and RSS over `seconds`, after it has caught up
    (`schedule run --once` first, so nothing is due while it is measured)."""
    db = _copy(demo, "scheduler.duckdb")
    help_text = subprocess.run([str(TRACKER), "schedule", "--help"], capture_output=True,
                               text=True, check=False)  # fmt: skip
    if help_text.returncode != 0:
        return Row("scheduler idle", "not measured: scheduler not built yet", "none", "-",
                   "< 1% CPU", "-")  # fmt: skip
    # Its catch-up renders and outbox go to a project folder of its own, not to reports/.
    home = WORK / "home"
    for folder in ("templates", "indicators", "data/reference"):
        shutil.copytree(settings.PROJECT_ROOT / folder, home / folder)
    (home / "reports").mkdir()
    for definition in (settings.PROJECT_ROOT / "reports").glob("*.toml"):
        shutil.copy(definition, home / "reports")
    env = {**os.environ, "TRACKER_SMTP_HOST": "", "TRACKER_HOME": str(home)}
    subprocess.run([str(TRACKER), "--db", str(db), "schedule", "run", "--once"],
                   capture_output=True, text=True, check=False, env=env)  # fmt: skip
    log = (WORK / "scheduler.log").open("w")
    process = subprocess.Popen([str(TRACKER), "--db", str(db), "schedule", "run"],
                               stdout=log, stderr=log, env=env)  # fmt: skip
    try:
        time.sleep(5)  # start-up (imports, first load of reports/) is not idling
        if process.poll() is not None:
            return Row("scheduler idle", f"not measured: it exited ({process.returncode})",
                       "none", "-", "< 1% CPU", "-")  # fmt: skip
        cpu_start, wall_start = _cpu_seconds(process.pid), time.perf_counter()
        peak = 0.0
        while time.perf_counter() - wall_start < seconds:
            time.sleep(1)
            peak = max(peak, _rss_mib(process.pid))
        cpu = _cpu_seconds(process.pid) - cpu_start
        wall = time.perf_counter() - wall_start
    finally:
        process.terminate()
        process.wait(timeout=120)
        log.close()
    share = cpu / wall * 100
    return Row(f"scheduler idle for {wall:.0f} s (`tracker schedule run`)",
               f"{share:.2f} % CPU ({cpu:.2f} s CPU), RSS {peak:.0f} MiB", "none", "-",
               "< 1% CPU, RSS reported", _met(share < 1))  # fmt: skip


def startup_rows(demo: Path, repeat: int) -> list[Row]:
    """Commands as a user starts them, each a fresh process, vs `python -c "import duckdb;
    duckdb.connect(PATH).execute('select 1')"` on the same file, all taking turns; medians
    of `repeat`. Each ingest loads 10 new synthetic rows into a fresh copy of the demo."""
    _compile_ours()
    db = _copy(demo, "startup.duckdb")
    ten_rows = WORK / "startup-10-rows.csv"
    ingest_bench.write_csv(demo, ten_rows, 10)
    ingest_db = WORK / "startup-ingest.duckdb"
    baseline = [sys.executable, "-c",
                f"import duckdb; duckdb.connect({str(db)!r}).execute('select 1')"]  # fmt: skip
    commands = {
        "`tracker --help`": [str(TRACKER), "--help"],
        '`tracker sql "select 1"`': [str(TRACKER), "--db", str(db), "sql", "select 1"],
        "`tracker indicators`": [str(TRACKER), "--db", str(db), "indicators"],
        "`tracker ingest` of a 10-row CSV": [str(TRACKER), "--db", str(ingest_db), "ingest",
                                             str(ten_rows)],
    }  # fmt: skip
    times: dict[str, list[float]] = {name: [] for name in ["baseline", *commands]}
    for _ in range(repeat):
        times["baseline"].append(_timed(baseline))
        for name, command in commands.items():
            if "ingest" in command:
                shutil.copyfile(demo, ingest_db)
            times[name].append(_timed(command))
    base = statistics.median(times["baseline"])
    _say("; ".join(f"{name} {_list(runs)}" for name, runs in times.items()))
    rows = []
    for name in commands:
        ours = statistics.median(times[name])
        rows.append(Row(f"start-up: {name}", f"{ours:.3f} s",
                        f"import duckdb, connect, `select 1`: {base:.3f} s",
                        f"{ours / base:.2f}x", "<= 1.6x", _met(ours / base <= 1.6)))  # fmt: skip
    return rows


def sqlstream_row(demo: Path, rows: int) -> Row:
    """`tracker sql --format csv` of `rows` rows into a file vs DuckDB's COPY TO of the same
    query, each a fresh process; seconds and peak RSS (the child's own, from wait4)."""
    db = _copy(demo, "sqlstream.duckdb")
    query = (f"SELECT range AS n, range * 1.5 AS x, 'row ' || range AS t "
             f"FROM range({rows})")  # fmt: skip
    ours_file, duck_file = WORK / "sqlstream-tracker.csv", WORK / "sqlstream-duckdb.csv"
    copy = (f"import duckdb; duckdb.connect({str(db)!r}, read_only=True).execute("
            f"{f'COPY ({query}) TO {str(duck_file)!r} (FORMAT csv)'!r})")  # fmt: skip
    duck_s, duck_mib = _peak([sys.executable, "-c", copy], None)
    ours_s, ours_mib = _peak([str(TRACKER), "--db", str(db), "sql", "--format", "csv",
                              "--timeout", "3600", query], ours_file)  # fmt: skip
    lines = sum(1 for _ in ours_file.open()) - 1
    assert lines == rows, f"{lines} rows written for {rows}"
    ok = ours_mib < 2 * duck_mib and ours_mib < 500
    return Row(f"`tracker sql --format csv` of {rows:,} rows to a file",
               f"{ours_s:.1f} s, peak RSS {ours_mib:.0f} MiB",
               f"DuckDB `COPY (query) TO file (FORMAT csv)`: {duck_s:.1f} s, peak RSS "
               f"{duck_mib:.0f} MiB", f"{ours_mib / duck_mib:.2f}x RSS",
               "RSS < 2x and < 500 MiB", _met(ok))  # fmt: skip


# Linux counts in a child's peak RSS the RSS of the process that forked it (at the fork), and
# this process is large after the 10M-row rows. So a small fresh interpreter starts the
# command and reports its wait4 peak: the command's own.
_SPAWN_AND_MEASURE = """
import os, subprocess, sys, time
start = time.perf_counter()
process = subprocess.Popen(sys.argv[1:])
_, status, usage = os.wait4(process.pid, 0)
print(time.perf_counter() - start, usage.ru_maxrss / 1024, os.waitstatus_to_exitcode(status),
      file=sys.stderr)
"""


def _peak(command: list[str], stdout: Path | None) -> tuple[float, float]:
    """Seconds and peak RSS (MiB) of `command` run to completion in a fresh process."""
    handle = stdout.open("w") if stdout else subprocess.DEVNULL
    try:
        done = subprocess.run([sys.executable, "-c", _SPAWN_AND_MEASURE, *command],
                              stdout=handle, stderr=subprocess.PIPE, text=True)  # fmt: skip
    finally:
        if stdout:
            handle.close()  # type: ignore[union-attr]
    seconds, mib, code = done.stderr.split()[-3:]
    if int(code) != 0:
        raise SystemExit(f"{' '.join(command)} failed ({code})")
    return float(seconds), float(mib)


# The throwaway PostgreSQL server of the team rows, started by the first of them.
POSTGRES = "postgres"
SHARED: dict[str, PostgresServer] = {}


def team_ingest_row(rows: int, repeat: int) -> Row:
    """The ingest row's CSV into a team store vs into a single-file store."""
    folder = WORK / "teamingest"
    folder.mkdir()
    written, on_file, on_team = team_bench.ingest_seconds(SHARED[POSTGRES], folder, rows, repeat)
    a, b = statistics.median(on_file), statistics.median(on_team)
    _say(f"file store runs {_list(on_file)}; team store runs {_list(on_team)}")
    return Row(f"team store: ingest of a {written:,}-row long CSV", f"{b:.2f} s",
               f"the same into a single-file store: {a:.2f} s", f"{b / a:.2f}x",
               "none yet (measured)", "-")  # fmt: skip


def team_render_row(repeat: int) -> Row:
    """programmes-compared on a team store vs on a single-file store."""
    folder = WORK / "teamrender"
    folder.mkdir()
    on_file, on_team = team_bench.briefing_seconds(SHARED[POSTGRES], folder, repeat)
    return Row("team store: one briefing, PDF + HTML (programmes-compared)", f"{on_team:.3f} s",
               f"the same on a single-file store: {on_file:.3f} s", f"{on_team / on_file:.2f}x",
               "none yet (measured)", "-")  # fmt: skip


# --- helpers ----------------------------------------------------------------------------------


def print_table(rows: list[Row], seconds: float, quick: bool) -> None:
    """The table, with the date, machine and command above it."""
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    print()
    smoke = " (--quick: a smoke run, not results)" if quick else ""
    machine = (f"{os.cpu_count()} cores, {memory:.1f} GiB memory, {platform.system()} "
               f"{platform.machine()}, Python {platform.python_version()}")  # fmt: skip
    now = datetime.now(UTC)
    print(f"date: {now:%Y-%m-%d %H:%M} UTC; machine: {machine}; command: make bench{smoke}; "
          f"took {seconds:.0f} s")  # fmt: skip
    print("synthetic data: 'synthetic-benchmark-*' sources (kind 'synthetic'), not real figures")
    print()
    print("| figure | ours | baseline in the same run | ratio | goal | met |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        print(f"| {row.figure} | {row.ours} | {row.baseline} | {row.ratio} | {row.goal} | "
              f"{row.met} |")  # fmt: skip


def _copy(source: Path, name: str) -> Path:
    target = WORK / name
    return synthetic.copy_database(source, target)


def _count(db: Path) -> int:
    with store.connect(db, read_only=True) as conn:
        return int(store.query(conn, "SELECT count(*) AS n FROM observations")["n"][0])


def _timed(command: list[str]) -> float:
    return _timed_output(command)[0]


def _timed_output(command: list[str]) -> tuple[float, str]:
    start = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{result.stdout}\n{result.stderr}")
    return seconds, result.stdout.strip()


def _cpu_seconds(pid: int) -> float:
    """CPU time of process `pid`, all its threads, in nanosecond resolution (schedstat);
    the clock ticks of /proc/PID/stat (10 ms) would round an idle minute to zero."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            total += int((task / "schedstat").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            continue
    return total / 1e9


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _met(ok: bool) -> str:
    return "yes" if ok else "**no**"


def _list(values: list[float]) -> str:
    return ", ".join(f"{v:.2f}" for v in values)


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
