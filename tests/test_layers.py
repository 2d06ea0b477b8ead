"""The packages of tracker rank in the order data flows (STYLE.md, README "Code layout"):
each imports only from ranks below it; a package's own modules import each other freely.
Heavy libraries stay behind one door each."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "tracker"
# Rank by rank, as the data flows: definitions -> store -> ingest / briefing -> importers
# (publishers' files, through ingest) / deliver -> schedule -> cli. The first three ranks are
# the base modules, which do no work at import.
RANKS: list[set[str]] = [
    {"errors", "models", "units", "periods", "text", "files"},
    {"location"},  # the store a --db names (a file or a team store); raises InputError
    {"settings"},  # its default_db() parses TRACKER_DB into a location
    {"definitions"},
    {"store"},
    {"ingest", "briefing"},
    {"importers", "articles", "deliver"},
    {"alerts"},  # sends by deliver's SMTP code
    {"schedule"},
    {"cli"},
    {"__main__"},  # `python -m tracker`: the one importer of cli outside cli
]
# Where each library may be imported: a package, or one module of it ("briefing.charts").
ONLY_IN = {
    "duckdb": {"store"},
    "altair": {"briefing.charts"},
    "vl_convert": {"briefing.charts"},
    "apscheduler": {"schedule"},
    "typer": {"cli"},
    "pint": {"units"},
    "fastexcel": {"importers.aiddata"},
    "psycopg": {"schedule.catalog_lock"},
}


def _rank(part: str) -> int:
    for rank, parts in enumerate(RANKS):
        if part in parts:
            return rank
    raise AssertionError(f"tracker.{part} has no rank: add it to RANKS (and README 'Code layout')")


def _part(path: Path) -> str:
    """The package (or base module) a file belongs to: store/batches.py -> 'store'."""
    relative = path.relative_to(PACKAGE)
    return relative.parts[0] if len(relative.parts) > 1 else relative.stem


def _dotted(path: Path) -> str:
    return ".".join(path.relative_to(PACKAGE).with_suffix("").parts)


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            if node.module == "tracker":
                names.update(f"tracker.{alias.name}" for alias in node.names)
            else:
                names.add(node.module)
    return names


def _modules() -> list[Path]:
    return [p for p in sorted(PACKAGE.rglob("*.py")) if p != PACKAGE / "__init__.py"]


def test_every_package_has_a_rank() -> None:
    for path in _modules():
        _rank(_part(path))


def test_imports_go_downward_only() -> None:
    for path in _modules():
        part = _part(path)
        for name in _imports(path):
            if not name.startswith("tracker."):
                continue
            target = name.split(".")[1]
            if target == part:
                continue  # a package's modules import each other freely
            assert _rank(target) < _rank(part), (
                f"{_dotted(path)} imports {name}, which is not below it"
            )


def test_heavy_libraries_stay_behind_their_door() -> None:
    for path in _modules():
        for name in _imports(path):
            doors = ONLY_IN.get(name.split(".")[0])
            if doors is not None:
                where = {_part(path), _dotted(path)}
                assert where & doors, f"{_dotted(path)} imports {name} (only {doors} may)"


def test_every_package_says_what_it_is() -> None:
    for init in sorted(PACKAGE.glob("*/__init__.py")):
        doc = ast.get_docstring(ast.parse(init.read_text()))
        assert doc and "\n" not in doc.strip(), f"{init}: one line saying what the package is"


def test_no_lazy_package_exports_a_name_of_one_of_its_modules() -> None:
    # Importing a module sets its name on the package, which shadows an export of that name
    # that the package only imports on first use (store.user_sql was one). Packages that
    # import their exports at once rebind the name after the module, so they are safe.
    for init in sorted(PACKAGE.glob("*/__init__.py")):
        package = importlib.import_module(f"tracker.{init.parent.name}")
        if "__getattr__" not in vars(package):
            continue
        exported = set(getattr(package, "__all__", ()))
        modules = {p.stem for p in init.parent.glob("*.py")}
        assert not exported & modules, f"{init.parent.name} exports {exported & modules}"
