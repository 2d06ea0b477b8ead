"""Crash during a render: SIGKILL a real `tracker brief` process at moments spread over its
run. The published files are always complete (the previous render's or the new one's: every
file matches a sha256 of the previous manifest or of the manifest on disk, every PDF opens)
and a killed run is never recorded as 'succeeded'.

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
from pathlib import Path

import pypdf
import pytest

from tests.conftest import runs_rows

TRACKER = [sys.executable, "-m", "tracker"]
REPORT = "programmes-compared"


def _brief(db: Path, out: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [*TRACKER, "--db", str(db), "brief", REPORT, "--out", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "TRACKER_BUSY_TIMEOUT": "30"},
    )


def _published(out: Path) -> dict[str, Path]:
    """The files a reader sees (temporary names start with a dot)."""
    return {p.name: p for p in out.rglob("*") if p.is_file() and not p.name.startswith(".")}


def _manifest_sha256s(out: Path) -> dict[str, str]:
    manifests = list(out.rglob("manifest.json"))
    assert len(manifests) == 1, manifests
    manifest = json.loads(manifests[0].read_text(encoding="utf-8"))
    return {entry["name"]: entry["sha256"] for entry in manifest["files"]}


def _assert_complete(out: Path, previous: dict[str, str]) -> None:
    current = _manifest_sha256s(out)
    files = _published(out)
    assert set(files) == {*previous, "manifest.json"}, sorted(files)
    for name, path in files.items():
        if name == "manifest.json":
            continue
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        assert digest in (previous[name], current.get(name)), f"{name} is neither run's file"
        if name.endswith(".pdf"):
            assert len(pypdf.PdfReader(path).pages) > 0


def _crash_renders(tmp_path: Path, db: Path, moments: int) -> list[str]:
    out = tmp_path / "out"
    start = time.monotonic()
    first = _brief(db, out)
    _, err = first.communicate(timeout=300)
    assert first.returncode == 0, err.decode()
    duration = time.monotonic() - start
    outcomes = []
    for k in range(moments):
        previous = _manifest_sha256s(out)
        process = _brief(db, out)
        time.sleep(duration * (k + 0.5) / moments)
        finished = process.poll() is not None
        process.send_signal(signal.SIGKILL)
        process.communicate(timeout=60)
        _assert_complete(out, previous)
        statuses = runs_rows(db, "SELECT status FROM report_runs WHERE pid = ?", [process.pid])
        if finished:
            assert statuses == [("succeeded",)]
            outcomes.append("finished")
        else:
            assert ("succeeded",) not in statuses, statuses
            outcomes.append("killed")
    # after all the kills a render still completes and publishes a consistent set
    final = _brief(db, out)
    _, err = final.communicate(timeout=300)
    assert final.returncode == 0, err.decode()
    _assert_complete(out, _manifest_sha256s(out))
    return outcomes


def test_sigkill_during_render_leaves_only_complete_outputs_quick(
    tmp_path: Path, tracker_db: Path
) -> None:
    outcomes = _crash_renders(tmp_path, tracker_db, moments=3)
    assert outcomes.count("killed") >= 2, outcomes


@pytest.mark.slow
def test_sigkill_during_render_leaves_only_complete_outputs_10_moments(
    tmp_path: Path, tracker_db: Path
) -> None:
    outcomes = _crash_renders(tmp_path, tracker_db, moments=10)
    print(f"\n10 kills: {outcomes}")
    assert outcomes.count("killed") >= 5, outcomes
