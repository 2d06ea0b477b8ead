"""Crash during a render: SIGKILL a real `tracker brief` process at moments spread over its
run. The published files are always complete (the previous render's or the new one's: every
file matches a sha256 of the previous manifest or of the manifest on disk, every PDF opens)
and a killed run is never recorded as 'succeeded'. The temporary files a killed render
leaves are removed by the next render, and only those of a writer that is gone.

Every render passes `--as-of` the UTC date the test started on, so all of them write the
same folder, `<out>/<report>/<that date>/`, even when the test runs past midnight (UTC);
an `--as-of` of today renders the data as it stands now.

CI runs 3 moments; `make test-slow` runs 10.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pypdf
import pytest

from tests.conftest import invoke, runs_rows

TRACKER = [sys.executable, "-m", "tracker"]
REPORT = "programmes-compared"


def _brief(db: Path, out: Path, day: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [*TRACKER, "--db", str(db), "brief", REPORT, "--out", str(out), "--as-of", day],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "TRACKER_BUSY_TIMEOUT": "30"},
    )


def _utc_today() -> str:
    return datetime.now(UTC).date().isoformat()


def _published(out: Path, folder: Path) -> dict[str, Path]:
    """The files a reader sees (temporary names start with a dot), all in `folder`."""
    files = [p for p in out.rglob("*") if p.is_file() and not p.name.startswith(".")]
    assert {p.parent for p in files} <= {folder}, sorted(map(str, files))
    return {p.name: p for p in files}


def _manifest_sha256s(folder: Path) -> dict[str, str]:
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    return {entry["name"]: entry["sha256"] for entry in manifest["files"]}


def _assert_complete(out: Path, folder: Path, previous: dict[str, str]) -> None:
    current = _manifest_sha256s(folder)
    files = _published(out, folder)
    assert set(files) == {*previous, "manifest.json"}, sorted(files)
    for name, path in files.items():
        if name == "manifest.json":
            continue
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        assert digest in (previous[name], current.get(name)), f"{name} is neither run's file"
        if name.endswith(".pdf"):
            assert len(pypdf.PdfReader(path).pages) > 0


def _temporaries(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def _crash_renders(tmp_path: Path, db: Path, moments: int) -> list[str]:
    out = tmp_path / "out"
    day = _utc_today()
    folder = out / REPORT / day
    start = time.monotonic()
    first = _brief(db, out, day)
    _, err = first.communicate(timeout=300)
    assert first.returncode == 0, err.decode()
    duration = time.monotonic() - start
    outcomes = []
    for k in range(moments):
        previous = _manifest_sha256s(folder)
        process = _brief(db, out, day)
        time.sleep(duration * (k + 0.5) / moments)
        finished = process.poll() is not None
        process.send_signal(signal.SIGKILL)
        process.communicate(timeout=60)
        _assert_complete(out, folder, previous)
        runs = runs_rows(db, "SELECT id, status FROM report_runs WHERE pid = ?", [process.pid])
        if finished or [status for _, status in runs] == ["succeeded"]:
            # It finished (the kill may land while its interpreter exits): then it is
            # 'succeeded' and what is published is its own complete set, manifest last.
            ((run_id, status),) = runs
            assert status == "succeeded"
            manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
            assert manifest["run_id"] == run_id
            outcomes.append("finished")
        else:  # killed before it recorded its run, or left 'running' (never 'succeeded')
            assert [status for _, status in runs] in ([], ["running"]), runs
            outcomes.append("killed")
    left = _temporaries(folder)
    # after all the kills a render still completes, publishes a consistent set and removes
    # the temporary files the killed renders left
    final = _brief(db, out, day)
    _, err = final.communicate(timeout=300)
    assert final.returncode == 0, err.decode()
    _assert_complete(out, folder, _manifest_sha256s(folder))
    assert _temporaries(folder) == []
    outcomes.append(f"{len(left)} temporary files left, then removed")
    return outcomes


def test_sigkill_during_render_leaves_only_complete_outputs_quick(
    tmp_path: Path, tracker_db: Path
) -> None:
    outcomes = _crash_renders(tmp_path, tracker_db, moments=3)
    assert outcomes.count("killed") >= 2, outcomes


def _dead_pid() -> int:
    """The pid of a process that has exited and been reaped."""
    process = subprocess.Popen([sys.executable, "-c", ""])
    process.wait()
    return process.pid


def test_a_render_removes_temporary_files_of_writers_that_are_gone_and_nothing_else(
    tmp_path: Path, tracker_db: Path
) -> None:
    day = _utc_today()
    folder = tmp_path / "out" / REPORT / day
    folder.mkdir(parents=True)
    dead = _dead_pid()
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        stale = [f".{REPORT}.pdf.tmp-{dead}", f".{REPORT}.csv.tmp-{dead}",
                 f".manifest.json.tmp-{dead}"]  # fmt: skip
        live = f".{REPORT}.html.tmp-{sleeper.pid}"  # a render still writing
        unrelated = [
            "notes.txt", f"{REPORT}.pdf.tmp-{dead}", f".{REPORT}.pdf.tmp-{dead}.bak",
            f".{REPORT}.pdf.tmp-x{dead}", f".draft.docx.tmp-{dead}", f".{REPORT}.pdf.tmp-0",
        ]  # fmt: skip
        for name in [*stale, live, *unrelated]:
            (folder / name).write_bytes(b"half a file")
        (folder / f".{REPORT}.html.tmp-{dead}").mkdir()  # a folder is never removed
        result = invoke("brief", REPORT, "--format", "html", "--out", tmp_path / "out",
                        "--as-of", day, db=tracker_db)  # fmt: skip
        assert result.exit_code == 0, result.output
        kept = {p.name for p in folder.iterdir()}
        assert kept == {
            f"{REPORT}.html", f"{REPORT}.csv", "manifest.json", live, *unrelated,
            f".{REPORT}.html.tmp-{dead}",
        }  # fmt: skip
        assert all((folder / name).read_bytes() == b"half a file" for name in [live, *unrelated])
    finally:
        sleeper.kill()
        sleeper.wait()


@pytest.mark.slow
def test_sigkill_during_render_leaves_only_complete_outputs_10_moments(
    tmp_path: Path, tracker_db: Path
) -> None:
    outcomes = _crash_renders(tmp_path, tracker_db, moments=10)
    print(f"\n10 kills: {outcomes}")
    assert outcomes.count("killed") >= 5, outcomes
