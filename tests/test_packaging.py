"""tracker as a wheel: every package, its SQL and its schemas are in it, and a non-editable
install into a fresh virtualenv runs `tracker init`, `ingest` and `brief`."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest
from pypdf import PdfReader

from tests.conftest import PROJECT


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A wheel built from this checkout (no network: the build uses this environment)."""
    out = tmp_path_factory.mktemp("dist")
    build = tmp_path_factory.mktemp("build")
    # Built from a copy, so the build leaves no build/ or egg-info in the checkout.
    source = build / "tracker-src"
    shutil.copytree(
        PROJECT,
        source,
        ignore=shutil.ignore_patterns(".venv", ".git", "*.duckdb", "*.wal", "out", "outbox",
                                      "drafts", "__pycache__", "*.egg-info", "build"),
    )  # fmt: skip
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
         "--wheel-dir", str(out), str(source)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    (found,) = out.glob("tracker-*.whl")
    return found


def test_the_wheel_holds_every_package_its_sql_and_its_schemas(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    packages = sorted(
        p.relative_to(PROJECT).as_posix() for p in (PROJECT / "tracker").rglob("__init__.py")
    )
    data = sorted(
        p.relative_to(PROJECT).as_posix()
        for pattern in ("*.sql", "*.json", "*.txt", "py.typed")
        for p in (PROJECT / "tracker").rglob(pattern)
    )
    assert len(packages) >= 8 and len(data) >= 6
    missing = [name for name in packages + data if name not in names]
    assert not missing, f"not in the wheel: {missing}"


def test_a_non_editable_install_initialises_ingests_and_renders(
    wheel: Path, tmp_path: Path
) -> None:
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=False)
    python = env_dir / "bin" / "python"
    purelib = Path(
        subprocess.run(
            [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            check=True, capture_output=True, text=True,
        ).stdout.strip()
    )  # fmt: skip
    # The wheel alone, unpacked as pip installs it; its dependencies come from this
    # environment's site-packages (appended after the fresh venv's own), so nothing is fetched.
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index",
         "--target", str(purelib), str(wheel)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    (purelib / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    tracker = [str(python), "-m", "tracker"]

    # A project folder of the analyst's own, outside the checkout; run from inside it.
    home = tmp_path / "project"
    for folder in ("indicators", "reports", "templates", "data"):
        shutil.copytree(PROJECT / folder, home / folder, ignore=shutil.ignore_patterns("*.duckdb*"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRACKER_")}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*tracker, *args], cwd=home, env=env, capture_output=True, text=True, timeout=300
        )

    where = subprocess.run(
        [python, "-c", "import tracker; print(tracker.__file__)"],
        cwd=tmp_path, env=env, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert where.startswith(str(purelib)), f"tracker imported from {where}, not the install"

    assert run("init").returncode == 0
    observations = sorted(str(p) for p in (home / "data" / "observations").glob("*.csv"))
    ingest = run("ingest", *observations)
    assert ingest.returncode == 0, ingest.stderr
    brief = run("brief", "programmes-compared")
    assert brief.returncode == 0, brief.stderr
    assert (home / "data" / "tracker.duckdb").is_file()
    pdfs = sorted(home.glob("reports/**/*.pdf"))
    assert pdfs, "no PDF rendered"
    text = "".join(page.extract_text() for page in PdfReader(pdfs[0]).pages)
    assert "Belt and Road" in text or "BRI" in text
