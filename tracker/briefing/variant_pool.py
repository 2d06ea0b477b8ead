"""Render the variants of a briefing (`tracker brief REPORT --param ...` / `--each NAME`):
every variant is checked before the first is rendered, then each is rendered as its own
run by `render.render_briefing`, many of them in warm worker processes.

Why processes: a render is CPU-bound Python, vl-convert and WeasyPrint (one core each),
and most of a fresh `tracker brief` is start-up (imports, the JavaScript engine of
vl-convert, WeasyPrint's fonts). Workers are started once ("spawn": a fork of a process
that has loaded polars and DuckDB is not safe) and each renders many variants with
everything warm; one per core. The main database is only read by a render and the run
history is written in short transactions, so the workers do not wait on each other for
long.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from tracker import definitions, settings, store
from tracker.briefing import render, variants
from tracker.briefing.note import EditorNote
from tracker.errors import TrackerError
from tracker.location import StoreLocation
from tracker.models import BriefingDefinition

Progress = Callable[[str, int, int], None]
# Below this many variants the workers' start-up costs more than it saves.
MIN_VARIANTS_FOR_WORKERS = 3


@dataclass(frozen=True)
class VariantOutcome:
    """One variant's render: what it wrote, or why it failed (exit code 2 or 1)."""

    params: tuple[tuple[str, str], ...]  # e.g. (('geography', 'KAZ'),)
    rendered: render.RenderedBriefing | None
    error: str | None = None
    exit_code: int = 0

    @property
    def label(self) -> str:
        """'geography=KAZ' (or '' for a briefing without parameters)."""
        return ", ".join(f"{name}={value}" for name, value in self.params)


def plan_variants(
    db: StoreLocation,
    name: str,
    *,
    params: Sequence[str] = (),
    each: Sequence[str] = (),
    as_of: datetime | None = None,
) -> list[BriefingDefinition]:
    """The definitions of the variants asked for, all checked (parameter names and values,
    names against the store) before anything is written."""
    templates = settings.templates_dir()
    path = definitions.find_briefing(settings.reports_dir(), name)
    definition = definitions.load_briefing(path, templates)
    given = variants.parse_param_arguments(definition, params)
    if (given or each) and not definition.params:
        variants.param_of(definition, [*given, *each][0])  # raises: it declares none
    with store.connect(db, read_only=True) as conn:
        chosen = variants.resolve(conn, definition, given, each=each, cutoff=as_of)
        render.check_names(conn, chosen)
    return chosen


def render_variants(
    db: StoreLocation,
    name: str,
    *,
    params: Sequence[str] = (),
    each: Sequence[str] = (),
    formats: Sequence[str] | None = None,
    out_root: Path | None = None,
    as_of: datetime | None = None,
    workers: int | None = None,
    progress: Progress | None = None,
    publish: bool = False,
    note: EditorNote | None = None,
) -> list[VariantOutcome]:
    """Render the variants of briefing `name` that `params` (NAME=VALUE) and `each` (NAME)
    ask for, each as its own run: a draft into `<out>/<report>/<date>/<param>-<value>/`, or
    with `publish` an issue (numbered per variant) into `<out>/<report>/<issue>-<date>/...`.

    Refuses (InputError, nothing written) an unknown parameter or a value that is not
    allowed before rendering anything. A variant whose render fails does not stop the
    others: its outcome says why. `workers` defaults to one per core (at most one per
    variant); with fewer than MIN_VARIANTS_FOR_WORKERS variants they render in this
    process.
    """
    wanted, as_of = render.render_options(formats, as_of)
    chosen = plan_variants(db, name, params=params, each=each, as_of=as_of)
    count = workers if workers is not None else (os.cpu_count() or 1)
    count = max(1, min(count, len(chosen)))
    if count > 1 and len(chosen) < MIN_VARIANTS_FOR_WORKERS:
        count = 1
    phase = f"rendering {name}"
    if progress:
        progress(phase, 0, len(chosen))
    # Created and migrated once, before the workers start.
    store.run_history_write(db, lambda runs: None, what="the run history's migrations")
    tasks = [(db, variant, wanted, out_root, as_of, publish, note) for variant in chosen]
    outcomes: list[VariantOutcome | None] = [None] * len(tasks)
    if count == 1:
        for index, task in enumerate(tasks):
            outcomes[index] = render_one(*task)
            if progress:
                progress(phase, index + 1, len(tasks))
    else:
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=count, mp_context=context) as pool:
            futures: dict[Future[VariantOutcome], int] = {
                pool.submit(render_one, *task): index for index, task in enumerate(tasks)
            }
            for done, future in enumerate(as_completed(futures), start=1):
                outcomes[futures[future]] = future.result()
                if progress:
                    progress(phase, done, len(tasks))
    return [outcome for outcome in outcomes if outcome is not None]


def render_one(
    db: StoreLocation,
    definition: BriefingDefinition,
    formats: Sequence[str] | None,
    out_root: Path | None,
    as_of: datetime | None,
    publish: bool = False,
    note: EditorNote | None = None,
) -> VariantOutcome:
    """Render one variant (in a worker or here); an error becomes the outcome's message."""
    try:
        rendered = render.render_briefing(
            db,
            definition,
            formats=formats,
            out_root=out_root,
            as_of=as_of,
            publish=publish,
            note=note,
        )
    except TrackerError as error:
        return VariantOutcome(definition.variant, None, str(error), error.exit_code)
    except Exception as error:  # noqa: BLE001 - one variant must not stop the others
        return VariantOutcome(
            definition.variant, None, f"Internal error: {type(error).__name__}: {error}", 1
        )
    return VariantOutcome(definition.variant, rendered)
