"""Render briefings: definition -> data (read-only) -> context -> HTML -> PDF, written
atomically, each run recorded in `report_runs` of the run history (`<db>.runs.duckdb`).

A render is a draft (marked DRAFT on every page, no issue number, written to
`reports/drafts/<report>/<date>/`) unless it is published (`publish=True`: `tracker brief
--publish` and the scheduler): an issue takes the next number of its briefing (variant) and
its own folder, `reports/out/<report>/<issue>-<date>/`, never overwritten; the archive page
`reports/out/index.html` is rewritten after it.

The one Jinja environment lives here (autoescape, StrictUndefined); WeasyPrint gets a URL
fetcher that refuses everything outside templates/.

The main database is only ever opened read-only here (a shared lock: analysts' read-only
sessions do not block a render): one read-only connection checks the definition's names and
reads the data, and is closed before rendering. The run is recorded in the run history file
in short write transactions: inserted as 'running' once the names are checked, closed as
'succeeded' (or 'failed') at the end.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import jinja2
import polars as pl

from tracker import definitions, settings, store
from tracker.briefing import archive, variants
from tracker.briefing.build import build_briefing
from tracker.briefing.context import BuiltBriefing
from tracker.briefing.data import known_names, previous_run, read_briefing
from tracker.briefing.note import EditorNote
from tracker.errors import (
    DatabaseBusyError,
    DatabaseFileError,
    InputError,
    OutputError,
    TrackerError,
)
from tracker.files import remove_stale_temporaries, write_temporary
from tracker.location import StoreLocation, may_exist
from tracker.models import BRIEFING_FORMATS, BriefingDefinition

MANIFEST = "manifest.json"


@dataclass(frozen=True)
class RenderedBriefing:
    """What one `render_briefing` call produced."""

    briefing_name: str
    run_id: int
    issue: int | None  # None for a draft
    output_dir: Path
    files: tuple[Path, ...]
    data_as_of: datetime | None
    briefing_date: date
    archive: Path | None = None  # the archive page rewritten after a publish
    archive_error: str = ""  # why the archive page could not be rewritten (the issue stands)

    @property
    def label(self) -> str:
        """'issue 3' or 'draft'."""
        return "draft" if self.issue is None else f"issue {self.issue}"


@dataclass(frozen=True)
class BriefingListing:
    """One line of `tracker reports`."""

    name: str
    title: str
    cadence: str
    schedule: str
    formats: str
    last_run: str
    last_output: str
    parameters: str = ""  # e.g. "geography (default KAZ; values_query 'countries with data')"


# --- public entry points -----------------------------------------------------------------


def render_briefings(
    db: StoreLocation,
    name: str | None = None,
    *,
    formats: Sequence[str] | None = None,
    out_root: Path | None = None,
    as_of: datetime | None = None,
    publish: bool = False,
    note: EditorNote | None = None,
) -> list[RenderedBriefing]:
    """Render one briefing, or every briefing in reports/ when `name` is None: drafts, or
    published issues with `publish`.

    Every definition is loaded and checked (names against the store too) before anything
    is rendered or written.
    """
    templates = settings.templates_dir()
    if name is None:
        chosen = definitions.load_briefings(settings.reports_dir(), templates)
        if not chosen:
            raise InputError(f"{settings.reports_dir()}: no briefing definitions (*.toml).")
    else:
        path = definitions.find_briefing(settings.reports_dir(), name)
        chosen = [definitions.load_briefing(path, templates)]
    wanted, as_of = render_options(formats, as_of)
    if len(chosen) > 1:  # one definition is checked in render_briefing's first connection
        with store.connect(db, read_only=True) as conn:
            _check_names(db, conn, chosen)
    return [
        render_briefing(
            db,
            definition,
            formats=wanted,
            out_root=out_root,
            as_of=as_of,
            publish=publish,
            note=note,
        )  # fmt: skip
        for definition in chosen
    ]


def render_briefing(
    db: StoreLocation,
    definition: BriefingDefinition,
    *,
    formats: Sequence[str] | None = None,
    out_root: Path | None = None,
    as_of: datetime | None = None,
    publish: bool = False,
    note: EditorNote | None = None,
) -> RenderedBriefing:
    """Render one briefing to PDF/HTML/CSV/manifest: a draft under
    `<out_root or reports/drafts>/<report>/<date>/`, or with `publish` an issue under
    `<out_root or reports/out>/<report>/<issue>-<date>/` (a variant, see
    tracker.briefing.variants: in `<param>-<value>/` below that)."""
    wanted = tuple(formats) if formats else definition.formats
    started = store.utc_now()
    cutoff = as_of or started
    briefing_date = cutoff.date()
    previous = previous_run(None, definition.name, cutoff)  # read with the run
    issue: int | None = None

    def record_run() -> int:
        return store.run_history_write(db, insert, what=f"the run record of {definition.name}")

    def insert(runs: store.Connection) -> int:
        nonlocal previous, issue
        # The issue this one follows (of the same variant) and the number it takes, in the
        # same short transaction; an issue number is claimed, so no two runs take it.
        previous = previous_run(runs, definition.name, cutoff, definition.variant_params)
        if publish:
            store.claim_writes(runs)
            issue = store.next_issue(runs, definition.name, definition.variant_params)
        return store.insert_run(
            runs, briefing_name=definition.name, started_at=started,
            briefing_date=briefing_date,
            as_of=as_of, cutoff=cutoff, formats=wanted, definition_sha256=definition.sha256,
            pid=os.getpid(), params=definition.variant_params, published=publish,
            note=note.markdown if note else None, **_scheduled_run(),
        )  # fmt: skip

    run_id: int | None = None
    try:
        # The main file is only read: analysts' read-only sessions do not stand in the way.
        with store.connect(db, read_only=True) as conn:
            if definition.params and not definition.variant:  # parameters: the default variant
                definition = variants.with_defaults(conn, [definition])[0]
            _check_names(db, conn, [definition])
            run_id = record_run()
            data = read_briefing(
                conn, definition, cutoff=cutoff, briefing_date=briefing_date, previous=previous
            )
        built = build_briefing(definition, data, issue=issue, as_of=as_of, generated_at=started,
                               editor_note=note.html if note else None)  # fmt: skip
        html = render_html(definition.template, built)
        root = output_root(out_root, publish=publish)
        folder = briefing_date.isoformat() if issue is None else f"{issue}-{briefing_date}"
        output_dir = root / definition.name / folder / definition.variant_slug
        if issue is not None:
            _refuse_a_published_folder(db, output_dir, run_id)
        written = write_outputs(output_dir, definition, built, html, wanted, run_id=run_id,
                                note=note)  # fmt: skip
        files = list(written)
        outputs = [{"file": str(path), "sha256": digest} for path, digest in written.items()]
        finished_id = run_id
        store.run_history_write(
            db,
            lambda runs: store.finish_run(
                runs, finished_id, status="succeeded", finished_at=store.utc_now(),
                data_as_of=built.data_as_of, issue=issue, output_dir=str(output_dir),
                outputs=json.dumps(outputs), key_figures=built.key_figures_json,
                key_messages=built.key_messages_json,
            ),
            what=f"the outcome of run {run_id} ({definition.name})",
        )  # fmt: skip
    except BaseException as error:
        if run_id is None and isinstance(error, DatabaseBusyError):
            run_id = _try(record_run)  # the data could not be read: a failed run too
        if run_id is not None:
            _record_failure(db, run_id, error)
        raise
    rendered = RenderedBriefing(definition.name, run_id, issue, output_dir, tuple(files),
                                built.data_as_of, briefing_date)  # fmt: skip
    if publish:
        rendered = rewrite_archive(db, out_root, rendered)
    return rendered


def output_root(out_root: Path | None, *, publish: bool) -> Path:
    """Where renders go: `--out`, else reports/out for issues and reports/drafts for drafts."""
    if out_root is not None:
        return out_root
    return settings.reports_dir() / ("out" if publish else "drafts")


def rewrite_archive(
    db: StoreLocation, out_root: Path | None, rendered: RenderedBriefing
) -> RenderedBriefing:
    """Rewrite the archive page of the issues under `out_root` (default reports/out) after
    `rendered` was published. The issue stands either way: a failure to write the page is
    told in `archive_error`, never raised."""
    root = output_root(out_root, publish=True)
    environment = jinja_environment(settings.templates_dir())
    try:
        page = archive.write_archive(db, root, environment, store.utc_now())
    except (OSError, TrackerError, jinja2.TemplateError) as error:
        reason = f"the archive page {root / archive.ARCHIVE} was not rewritten: {error}"
        return replace(rendered, archive=None, archive_error=reason)
    return replace(rendered, archive=page, archive_error="")


def _refuse_a_published_folder(db: StoreLocation, folder: Path, run_id: int) -> None:
    """An issue's folder is never overwritten: refuse one holding a manifest, unless that
    manifest is of a failed attempt at the same issue in this run history (a killed or
    failed publish never was an issue, so the next attempt writes over it)."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        written_by = int(manifest["run_id"])
    except FileNotFoundError:
        return
    except (OSError, ValueError, KeyError, TypeError):
        written_by = None
    run = None
    if written_by is not None and written_by != run_id:
        with store.read_run_history(db) as runs:
            run = store.run_by_id(runs, str(manifest.get("report")), written_by)
    if run is not None and run["status"] == "failed":
        return
    holds = f"issue {run['issue']} (run {written_by})" if run and run["issue"] else "an issue"
    raise OutputError(
        f"cannot write the briefing to {folder}: it holds {holds}, and a published issue is "
        "never overwritten (another database may publish into this folder); publish with "
        "another --out folder, or move that folder away"
    )


def render_options(
    formats: Sequence[str] | None, as_of: datetime | None
) -> tuple[tuple[str, ...] | None, datetime | None]:
    """--format and --as-of as every render checks them: an unknown format or a date in the
    future is refused; today means the data as it stands now."""
    wanted = _formats(formats)
    now = store.utc_now()
    if as_of is not None and as_of > now:
        if as_of.date() > now.date():
            raise InputError(f"--as-of {as_of:%Y-%m-%d %H:%M}: that is in the future (UTC).")
        as_of = now  # today: the data as it stands now
    return wanted, as_of


def list_briefings(db: StoreLocation) -> list[BriefingListing]:
    """Every briefing definition with its schedule, formats, last run and output folder."""
    found = definitions.load_briefings(settings.reports_dir(), settings.templates_dir())
    runs: dict[str, dict[str, Any]] = {}
    if may_exist(db):
        with store.read_run_history(db) as conn:
            runs = {r["report"]: r for r in store.last_runs(conn).iter_rows(named=True)}
    listings = []
    for definition in found:
        run = runs.get(definition.name)
        schedule = definition.schedule
        listings.append(
            BriefingListing(
                name=definition.name,
                title=definition.title,
                cadence=definition.cadence,
                schedule=f"{schedule.cron} ({schedule.timezone})" if schedule else "none",
                formats=",".join(definition.formats),
                last_run=_run_summary(run),
                last_output=_last_issue(run),
                parameters=variants.describe(definition),
            )
        )
    return listings


def parse_as_of(text: str) -> datetime:
    """--as-of: a date (the end of that day, UTC) or an ISO timestamp (UTC)."""
    try:
        if len(text.strip()) == 10:
            day = date.fromisoformat(text.strip())
            return datetime.combine(day, time.max)
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise InputError(
            f"--as-of: found '{text}', expected a date such as 2025-06-30 "
            "(or a UTC timestamp such as 2025-06-30T12:00)."
        ) from None
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment


# --- HTML and PDF ----------------------------------------------------------------------------


@cache
def jinja_environment(folder: Path) -> jinja2.Environment:
    """The one Jinja environment: templates/ only, autoescape on, undefined is an error."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(folder),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def render_html(template: str, built: BuiltBriefing) -> str:
    """The standalone HTML page (inline CSS and SVG) of a built briefing."""
    page = jinja_environment(settings.templates_dir()).get_template(template)
    return page.render(b=built.context)


def render_pdf(html: str, folder: Path | None = None) -> bytes:
    """The PDF of `html`: WeasyPrint with a fetcher that refuses every URL outside the
    templates folder, and that folder as base URL (nothing else resolves anywhere)."""
    weasyprint = _weasyprint()
    templates = (folder or settings.templates_dir()).resolve()
    fetcher = templates_only_fetcher(templates)
    document = weasyprint.HTML(string=html, base_url=templates.as_uri() + "/", url_fetcher=fetcher)
    pdf: bytes = document.write_pdf()
    return pdf


def templates_only_fetcher(folder: Path) -> Any:
    """A WeasyPrint URLFetcher that fetches only file: URLs inside `folder`.

    Every other URL (http, https, data, file elsewhere, ...) raises, so WeasyPrint skips
    the resource; `refused` lists what was refused.
    """
    weasyprint = _weasyprint()

    class TemplatesOnlyFetcher(weasyprint.URLFetcher):  # type: ignore[misc, name-defined]
        def __init__(self) -> None:
            super().__init__(timeout=2, allowed_protocols=("file",), allow_redirects=False)
            self.refused: list[str] = []

        def fetch(self, url: str, headers: Any = None) -> Any:
            parts = urlsplit(url)
            if parts.scheme != "file" or parts.netloc not in ("", "localhost"):
                self.refused.append(url)
                raise ValueError(f"refused: {url[:80]} (only files in templates/)")
            path = Path(unquote(parts.path)).resolve()
            if not path.is_relative_to(folder) or not path.is_file():
                self.refused.append(url)
                raise ValueError(f"refused: {url[:80]} (only files in templates/)")
            return super().fetch(path.as_uri(), headers)

    return TemplatesOnlyFetcher()


@cache
def _weasyprint() -> Any:
    """Import WeasyPrint once, on first use (it is slow to import). Its warning about an
    optional system library (HarfBuzz-Subset) is not ours to act on, so it is muted."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="HarfBuzz-Subset", category=DeprecationWarning)
        import weasyprint

    return weasyprint


# --- outputs ----------------------------------------------------------------------------------


def write_outputs(
    output_dir: Path,
    definition: BriefingDefinition,
    built: BuiltBriefing,
    html: str,
    formats: Sequence[str],
    *,
    run_id: int,
    note: EditorNote | None = None,
) -> dict[Path, str]:
    """Write the formats, the CSV and manifest.json, each under a temporary name renamed
    into place (manifest last), so no reader sees a half-written file. Returns each
    file's sha256."""
    contents: dict[str, bytes] = {}
    if "pdf" in formats:
        contents[f"{definition.file_stem}.pdf"] = render_pdf(html)
    if "html" in formats:
        contents[f"{definition.file_stem}.html"] = html.encode("utf-8")
    contents[f"{definition.file_stem}.csv"] = csv_bytes(built.csv)
    manifest = {
        "report": definition.name,
        "params": dict(definition.variant),
        "title": definition.title,
        "published": not built.context.draft,
        "issue": built.context.issue,
        "run_id": run_id,
        "briefing_date": built.context.briefing_date_iso,
        "as_of": built.as_of.isoformat() if built.as_of else None,
        "data_as_of": built.data_as_of.isoformat() if built.data_as_of else None,
        "generated_at": built.context.generated_at,
        "definition": {"file": f"reports/{definition.path.name}", "sha256": definition.sha256},
        "sections": [section.title for section in built.context.sections],
        "editor_note": None
        if note is None
        else {"markdown": note.markdown, "sha256": _sha256(note.markdown.encode("utf-8"))},
        "key_messages": json.loads(built.key_messages_json),
        "files": [
            {"name": name, "sha256": _sha256(data), "bytes": len(data)}
            for name, data in contents.items()
        ],
        "sources": [
            {
                "number": s.number,
                "id": s.id,
                "title": s.title,
                "publisher": s.publisher,
                "published": s.published,
                "url": s.url,
                "kind": s.kind,
            }
            for s in built.sources
        ],  # fmt: skip
    }
    contents[MANIFEST] = (json.dumps(manifest, indent=2, ensure_ascii=False) + "\n").encode()
    temporary: dict[str, Path] = {}
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(output_dir)
        for name, data in contents.items():
            temporary[name] = write_temporary(output_dir / name, [data])
        for name, temp in temporary.items():
            os.replace(temp, output_dir / name)
    except OSError as error:
        for temp in temporary.values():
            temp.unlink(missing_ok=True)
        raise OutputError(
            f"cannot write the briefing to {output_dir}: {error.strerror or error}; "
            "give --out a folder you can write to, on a disk with room"
        ) from error
    return {output_dir / name: _sha256(data) for name, data in contents.items()}


def csv_bytes(frame: pl.DataFrame) -> bytes:
    """The CSV of the numbers behind the briefing (text already neutralised)."""
    buffer = io.StringIO()
    frame.write_csv(buffer, quote_style="non_numeric")
    return buffer.getvalue().encode("utf-8")


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --- helpers ------------------------------------------------------------------------------


def _formats(formats: Sequence[str] | None) -> tuple[str, ...] | None:
    if not formats:
        return None
    cleaned = tuple(dict.fromkeys(f.strip().lower() for f in formats if f.strip()))
    unknown = [f for f in cleaned if f not in BRIEFING_FORMATS]
    if unknown or not cleaned:
        raise InputError(
            f"--format: found '{','.join(formats)}', expected pdf, html or pdf,html "
            "(the CSV and manifest.json are always written)."
        )
    return cleaned


def _check_names(
    db: StoreLocation, conn: store.Connection, chosen: Sequence[BriefingDefinition]
) -> None:
    """Check the run history and every definition's names before anything is written."""
    _require_freshness_rules(db, conn)
    check_names(conn, chosen)


def check_names(conn: store.Connection, chosen: Sequence[BriefingDefinition]) -> None:
    """Check every definition's indicator, initiative and geography names against the store."""
    known = known_names(conn)
    for definition in chosen:
        definitions.check_briefing_names(
            definition,
            indicators=known["indicator"],
            initiatives=known["initiative"],
            geographies=known["geography"],
        )


def _require_freshness_rules(db: StoreLocation, conn: store.Connection) -> None:
    if not store.has_table(conn, "freshness_rules"):
        raise DatabaseFileError(
            f"{db}: this database has no freshness_rules table yet. Run `tracker init` to "
            "apply the new migration, then render again."
        )


def _scheduled_run() -> dict[str, Any]:
    """How the scheduler started this run (environment it sets for its child), else manual."""
    trigger = settings.value(settings.RUN_TRIGGER)
    stamp = settings.value(settings.SCHEDULED_FOR)
    try:
        scheduled_for = datetime.fromisoformat(stamp) if stamp else None
    except ValueError:
        scheduled_for = None
    if scheduled_for is not None and scheduled_for.tzinfo is not None:
        scheduled_for = scheduled_for.astimezone(UTC).replace(tzinfo=None)
    return {
        "triggered_by": trigger if trigger in ("scheduled", "catch-up", "retry") else "manual",
        "scheduled_for": scheduled_for,
        "attempt": int(settings.number(settings.RUN_ATTEMPT, 1)),
    }


def _try(action: Callable[[], int]) -> int | None:
    try:
        return action()
    except TrackerError:
        return None


def _record_failure(db: StoreLocation, run_id: int, error: BaseException) -> None:
    """Mark the run failed; a failure to do so must not hide the original error."""
    message = str(error) if isinstance(error, TrackerError) else f"{type(error).__name__}: {error}"
    try:
        store.run_history_write(
            db,
            lambda runs: store.finish_run(
                runs, run_id, status="failed", finished_at=store.utc_now(), error=message[:2000]
            ),
            what=f"the failure of run {run_id}",
        )
    except TrackerError:
        pass


def _last_issue(run: dict[str, Any] | None) -> str:
    """The newest published issue's number and folder, or '-'."""
    if not run or not run.get("last_success_dir"):
        return "-"
    return f"issue {run['last_success_issue']} in {run['last_success_dir']}"


def _run_summary(run: dict[str, Any] | None) -> str:
    """The newest run of a briefing in words: a draft or an issue, and how it ended."""
    if run is None:
        return "never"
    status = run["status"]
    kind = "issue" if run.get("published") else "draft"
    if status == "running":
        return (f"unfinished {kind}: started {run['started_at']:%Y-%m-%d %H:%M} UTC, still "
                "'running'")  # fmt: skip
    finished = run["finished_at"]
    stamp = f"{finished:%Y-%m-%d %H:%M} UTC" if finished else "?"
    if status == "succeeded":
        return f"succeeded {stamp}, " + (f"issue {run['issue']}" if kind == "issue" else "draft")
    last = run.get("last_success_at")
    since = (f"; last issue {run['last_success_issue']}, {last:%Y-%m-%d %H:%M} UTC"
             if last else "")  # fmt: skip
    return f"failed {stamp} ({kind}){since}"
