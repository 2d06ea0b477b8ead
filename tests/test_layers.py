"""Layers import downward only (STYLE.md); duckdb, altair and printing stay where they belong."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "tracker"
# Layer 2 is ordered inside: the briefing modules build on one another in this order.
# ingest's helpers sit between layer 1 and ingest: csvtext < ingest_run < ingest_values.
LAYERS: dict[str, float] = {
    "settings": 0, "errors": 0, "models": 0, "units": 0, "periods": 0, "atomic_files": 0,
    "briefing_queries": 0,
    "definitions": 1, "store": 1, "charts": 1, "briefing_text": 1, "csvtext": 1,
    "store_sync": 1.1, "store_batches": 1.1, "store_user_sql": 1.2,
    "report_definitions": 1.5, "ingest_run": 1.8, "ingest_values": 1.9,
    "ingest": 2, "variants": 2.05, "briefing_data": 2.1, "briefing_runs": 2.1,
    "briefing_context": 2.2, "briefing_build": 2.25, "report": 2.3, "variant_runs": 2.35,
    "deliver_email": 2.37, "deliver_smtp": 2.38, "deliver": 2.4,
    "schedule_cron": 2.5, "schedule_jobs": 2.6, "schedule_children": 2.7, "schedule_runs": 2.8,
    "schedule": 3,
    "cli_shared": 3.5, "cli_data": 3.6, "cli_briefings": 3.6, "cli_schedule": 3.6,
    "cli": 4, "__main__": 5,  # __main__: `python -m tracker`, the one importer of cli
}  # fmt: skip
# The command line is cli and its command modules; the scheduler service and its trigger
# (a CronTrigger subclass) are the only APScheduler users.
ONLY_IN = {"duckdb": {"store"}, "altair": {"charts"}, "vl_convert": {"charts"},
           "apscheduler": {"schedule", "schedule_cron"},
           "typer": {"cli", "cli_shared", "cli_data", "cli_briefings", "cli_schedule"}}  # fmt: skip


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
    return [p for p in sorted(PACKAGE.glob("*.py")) if p.stem != "__init__"]


def test_every_module_has_a_layer() -> None:
    missing = [p.stem for p in _modules() if p.stem not in LAYERS]
    assert not missing, f"add these modules to LAYERS (and README 'Code layout'): {missing}"


def test_imports_go_downward_only() -> None:
    for path in _modules():
        layer = LAYERS[path.stem]
        for name in _imports(path):
            if not name.startswith("tracker."):
                continue
            target = name.split(".")[1]
            assert target in LAYERS, f"{path.name} imports unknown module {name}"
            if layer == 1:
                assert LAYERS[target] == 0, f"{path.name} (layer 1) imports {name}"
            else:
                assert LAYERS[target] < layer, f"{path.name} imports {name} (not below it)"


def test_heavy_libraries_stay_in_their_module() -> None:
    for path in _modules():
        for name in _imports(path):
            top = name.split(".")[0]
            if top in ONLY_IN:
                assert path.stem in ONLY_IN[top], f"{path.name} imports {top}"
