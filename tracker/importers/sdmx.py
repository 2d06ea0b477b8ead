"""SDMX data messages -> tracker's long rows and ECB exchange rates (`tracker import sdmx`).

Read by `sdmx1` (`sdmx.read_sdmx`), offline: SDMX-ML 2.1 and 3.0 data messages, generic and
structure-specific, SDMX-JSON 1.0, SDMX-CSV 2.0 and 1.0 (1.0 is given to sdmx1 as 2.0: its
`DATAFLOW` column becomes `STRUCTURE,STRUCTURE_ID`). A structure-specific message and an
SDMX-CSV file cannot be read without their data structure (which cells are dimensions, which
are attributes): it is taken from a structure message given among the FILEs, by the id the
data names (`ECB:ECB_EXR1(1.0)`, or its dataflow's); nothing is fetched from the network, and
without it the file is refused. A structure message no data file uses is refused as data.

Each series is matched to a mapping entry by its key (`M.USD.EUR.SP00.A`, dimension values
in order) or by dimension values (`match = {FREQ = "A", COUNTERPART_AREA = "KZ"}`); a series
no entry matches is refused, naming its key, unless a mapping says `unmapped = "skip"`; one
that two entries match is refused. Entries with `target = "fx_rates"` collect ECB EXR
observations, made into annual USD rates by `importers.fx_rates` over all files of the import.
A series whose UNIT_MULT attribute differs from the entry's `scale` is refused: its values
would be read a power of ten wrong. Periods are SDMX's (`2019`, `2019-Q1`, `2019-01`,
`2019-01-02`, and `2019-S1` -> `2019-H1`, `2019-M01` -> `2019-01`).
"""

from __future__ import annotations

import contextlib
import csv
import io
import logging
import math
import re
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tracker.importers.batch import ROW_COLUMNS, WHERE, FileRefused, FileRows
from tracker.importers.fx_rates import ExrObservation
from tracker.importers.mappings import Mapping, Series
from tracker.text import show

if TYPE_CHECKING:
    import polars as pl  # imported only for series of indicators: EXR files make no frame

FORMATS = (
    "an SDMX data message: SDMX-ML 2.1 or 3.0 (generic, or structure-specific with its "
    "structure message as another FILE), SDMX-JSON 1.0, or SDMX-CSV 1.0 or 2.0 (with its "
    "structure message as another FILE)"
)
SHOWN = 5
STRUCTURE_SPECIFIC = re.compile(rb"<(?:\w+:)?StructureSpecific(?:TimeSeries)?Data[\s>]")
STRUCTURE_MESSAGE = re.compile(rb"<(?:\w+:)?Structure[\s>]")
REFERENCE = re.compile(
    r"(?:DataStructure|Dataflow)=([\w.-]+):([\w.-]+)\(([\w.]+)\)|"
    r"<(?:\w+:)?Ref\b[^>]*?\bid=\"([\w.-]+)\"|^([\w.-]+):([\w.-]+)\(([\w.]+)\)$"
)
PERIOD_FORMS = (
    (re.compile(r"^(\d{4})-S([12])$"), r"\1-H\2"),
    (re.compile(r"^(\d{4})-M(\d{2})$"), r"\1-\2"),
    (re.compile(r"^(\d{4})-A1?$"), r"\1"),
    (re.compile(r"^(\d{4})-Q([1-4])$"), r"\1-Q\2"),
)


@dataclass(frozen=True)
class Structures:
    """The data structures and dataflows of the structure messages given among the FILEs."""

    by_id: dict[str, Any]  # DSD or dataflow id -> the DSD
    files: dict[str, Path]  # DSD or dataflow id -> the file that holds it
    paths: tuple[Path, ...]  # every structure message given


class SdmxReader:
    """The adapter of `tracker import sdmx`; `with_files` sees every FILE first, to take the
    structure messages that structure-specific and SDMX-CSV files need."""

    def __init__(self, structures: Structures | None = None) -> None:
        self.structures = structures or Structures({}, {}, ())
        self.used: set[Path] = set()

    def with_files(self, files: Sequence[tuple[Path, bytes]]) -> SdmxReader:
        """A reader that knows the structure messages among `files`."""
        by_id: dict[str, Any] = {}
        where: dict[str, Path] = {}
        paths = []
        for path, raw in files:
            if not _is_structure(raw):
                continue
            try:
                message = _read(raw, path.suffix)
            except Exception:  # refused when it is read as data, with the reason
                continue
            if type(message).__name__ != "StructureMessage":
                continue  # a metadata message: refused when it is read as data
            paths.append(path)
            for dsd in message.structure.values():
                by_id.setdefault(str(dsd.id), dsd)
                where.setdefault(str(dsd.id), path)
            for flow in message.dataflow.values():
                if getattr(flow, "structure", None) is not None:
                    by_id.setdefault(str(flow.id), flow.structure)
                    where.setdefault(str(flow.id), path)
        reader = SdmxReader(Structures(by_id, where, tuple(paths)))
        for path, raw in files:
            if path not in reader.structures.paths:
                with contextlib.suppress(FileRefused):  # refused when it is read
                    reader._structure_for(path, raw)
        return reader

    def __call__(self, path: Path, raw: bytes, mapping: Mapping) -> FileRows:
        """One SDMX file as tracker's long rows and EXR observations, mapped by `mapping`."""
        if path in self.structures.paths:
            if path in self.used:
                return FileRows(rows=None)
            raise FileRefused(
                f"{path}: found a structure message (data structures, codelists, dataflows), "
                f"not data; expected {FORMATS}. Give a structure message only beside the "
                "structure-specific or SDMX-CSV data it describes."
            )
        return read_data(path, raw, mapping, self._structure_for(path, raw))

    def _structure_for(self, path: Path, raw: bytes) -> Any:
        """The data structure a structure-specific or SDMX-CSV file needs, or None."""
        text_like = raw[:4096].lstrip(b"\xef\xbb\xbf \t\r\n")
        is_csv = not text_like.startswith((b"<", b"{", b"["))
        if not is_csv and not STRUCTURE_SPECIFIC.search(raw[:4096]):
            return None
        first = text_like.split(b"\n", 1)[0].decode("utf-8", "replace").strip()
        if is_csv and not re.match(r"^\W*(STRUCTURE|DATAFLOW)\b", first, re.IGNORECASE):
            hint = (
                " (a World Bank CSV: use `tracker import worldbank`)"
                if "Data Source" in (first) or "Country Code" in first
                else ""
            )
            raise FileRefused(
                f"{path}: line 1 reads '{show(first, 80)}'{hint}; expected {FORMATS}: an "
                "SDMX-CSV file starts with a STRUCTURE (2.0) or DATAFLOW (1.0) column."
            )
        kind = "an SDMX-CSV file" if is_csv else "a structure-specific SDMX-ML message"
        wanted = _references(raw, is_csv)
        for name in wanted:
            if name in self.structures.by_id:
                self.used.add(self.structures.files[name])
                return self.structures.by_id[name]
        given = ", ".join(sorted(self.structures.by_id)) or "none"
        named = ", ".join(wanted) or "(no structure id found in the file)"
        raise FileRefused(
            f"{path}: {kind} is read only with its data structure, which it names "
            f"{named}; the structure messages given hold {given}. Give the structure message "
            "(the DSD or dataflow, as downloaded with the data) as another FILE; tracker "
            "fetches nothing from the network."
        )


def read_data(path: Path, raw: bytes, mapping: Mapping, structure: Any) -> FileRows:
    """The rows of one SDMX data message (`structure`: its DSD, or None when not needed)."""
    try:
        message = _read(_as_csv_2(raw) if _is_csv_1(raw) else raw, path.suffix, structure)
    except Exception as error:  # sdmx1 raises many kinds; each means "not readable"
        reason = show(str(error).strip().splitlines()[0] if str(error).strip() else "", 160)
        raise FileRefused(
            f"{path}: sdmx1 cannot read it as SDMX ({type(error).__name__}: {reason}); "
            f"expected {FORMATS}. SDMX-JSON 2.0 and SDMX-ML 3.0 structure-specific data "
            "without a structure are not read."
        ) from None
    kind = type(message).__name__
    if kind != "DataMessage":
        what = {
            "StructureMessage": "a structure message (data structures, codelists, dataflows)",
            "MetadataMessage": "a reference metadata message",
            "ErrorMessage": "an error message from an SDMX service",
        }.get(kind, f"an SDMX {kind}")
        raise FileRefused(f"{path}: found {what}, not data; expected {FORMATS}.")
    if not message.data:
        footer = getattr(message, "footer", None)
        said = " ".join(str(t) for t in getattr(footer, "text", []) or [])
        raise FileRefused(
            f"{path}: the data message holds no data set"
            + (f" (its footer says: '{show(said, 200)}')" if said else "")
            + f"; expected {FORMATS} with observations."
        )
    for dataset in message.data:
        action = str(getattr(dataset, "action", "") or "").lower()
        if "delete" in action:
            raise FileRefused(
                f"{path}: a data set has the action Delete (the publisher withdraws "
                "observations); expected data sets of figures (action Replace, Append or "
                "Information). To withdraw a point, use `tracker withdraw`."
            )
    return _rows(path, list(_observations(message)), mapping)


def _rows(path: Path, observations: list[tuple[dict[str, str], str, Any, int | None]],
          mapping: Mapping) -> FileRows:  # fmt: skip
    """Map each observation (key, period, value, UNIT_MULT) through `mapping`."""
    entries = list(mapping.series.values())
    rows: list[tuple[str, ...]] = []
    fx: list[ExrObservation] = []
    unmatched: dict[str, int] = {}
    missing = 0
    cache: dict[tuple[tuple[str, str], ...], Series | None] = {}
    for key, period, value, multiplier in observations:
        series_key = ".".join(key.values())
        frozen = tuple(key.items())
        if frozen not in cache:
            cache[frozen] = _entry(path, key, series_key, entries)
        entry = cache[frozen]
        if entry is None:
            unmatched[series_key] = unmatched.get(series_key, 0) + 1
            continue
        text = _value_text(value)
        if text is None:
            missing += 1
            continue
        where = f"{path} (series {series_key}, {period})"
        if entry.target == "fx_rates":
            fx.append(_fx_row(path, key, series_key, period, text, where))
            continue
        if multiplier is not None and multiplier != entry.scale:
            raise FileRefused(
                f"{path}: series {series_key} gives UNIT_MULT {multiplier} (values in 10^"
                f"{multiplier} units) but its mapping {entry.key} says scale {entry.scale}; "
                "expected the same power of ten: set `scale` to match, or it would be read "
                f"{abs(multiplier - entry.scale)} power(s) of ten wrong."
            )
        geography = entry.geography or key.get("REF_AREA", "")
        rows.append((entry.indicator or "", entry.initiative or "", geography, _period(period),
                     text, entry.unit, entry.source, entry.note, where))  # fmt: skip
    if unmatched and not mapping.skip_unmapped:
        keys = sorted(unmatched)
        more = f", and {len(keys) - SHOWN} more" if len(keys) > SHOWN else ""
        raise FileRefused(
            f"{path}: no mapping entry matches the series {', '.join(keys[:SHOWN])}{more} "
            f"(keys of {_dimension_names(observations)}); expected a [[series]] `code` or "
            '`match` for each series (--map), or `unmapped = "skip"` in the mapping to skip '
            "the others."
        )
    frame = _frame(rows) if rows else None
    return FileRows(rows=frame, unmapped=unmatched, missing=missing, fx=fx or None)


def _frame(rows: list[tuple[str, ...]]) -> pl.DataFrame:
    import polars as pl

    return pl.DataFrame(rows, schema=[*ROW_COLUMNS, WHERE], orient="row")


def _fx_row(path: Path, key: dict[str, str], series_key: str, period: str, text: str,
            where: str) -> ExrObservation:  # fmt: skip
    """An EXR observation for fx_rates: currency, frequency, period, per-euro value, key."""
    needed = ("FREQ", "CURRENCY", "CURRENCY_DENOM")
    absent = [d for d in needed if d not in key]
    if absent or key["CURRENCY_DENOM"] != "EUR":
        raise FileRefused(
            f"{where}: an fx_rates series must be an ECB EXR series of units of CURRENCY "
            f"per euro (dimensions FREQ, CURRENCY, CURRENCY_DENOM = EUR); found "
            f"{', '.join(f'{k}={v}' for k, v in key.items())}."
        )
    try:
        number = float(text)
    except ValueError:
        number = math.nan
    if not math.isfinite(number) or number <= 0:
        raise FileRefused(
            f"{where}: found '{show(text)}', expected a positive number of {key['CURRENCY']} "
            "per euro."
        )
    if not re.match(r"\d{4}(?:$|-)", period):
        raise FileRefused(
            f"{where}: found the period '{show(period)}', expected a year, month or day "
            "(2019, 2019-01, 2019-01-02) of an ECB EXR series."
        )
    return ExrObservation(key["CURRENCY"], key["FREQ"], _period(period), number, series_key)


def _entry(path: Path, key: dict[str, str], series_key: str, entries: list[Series]
           ) -> Series | None:  # fmt: skip
    """The one mapping entry for a series, None when none; two are refused."""
    found = [
        e for e in entries
        if (e.match and all(key.get(d) == v for d, v in e.match))
        or (not e.match and e.code == series_key)
    ]  # fmt: skip
    if len(found) > 1:
        raise FileRefused(
            f"{path}: the series {series_key} is matched by {found[0].key} and {found[1].key}; "
            "expected one mapping entry per series: narrow a `match`."
        )
    return found[0] if found else None


def _observations(message: Any) -> Iterator[tuple[dict[str, str], str, Any, int | None]]:
    """Each observation: its dimension values but time (in key order), its period, its
    value, and the UNIT_MULT of the observation, series or data set (None: not given)."""
    for dataset in message.data:
        set_mult = _multiplier(getattr(dataset, "attrib", {}))
        for obs in dataset.obs:
            values = {str(k): _code(kv.value) for k, kv in obs.key.values.items()}
            period = ""
            for name in ("TIME_PERIOD", "TIME"):
                if name in values:
                    period = values.pop(name)
                    break
            series = getattr(obs, "series_key", None)
            mult = _multiplier(obs.attached_attribute)
            if mult is None and series is not None:
                mult = _multiplier(getattr(series, "attrib", {}))
            yield values, period, obs.value, set_mult if mult is None else mult


def _multiplier(attributes: Any) -> int | None:
    value = attributes.get("UNIT_MULT") if attributes else None
    if value is None:
        return None
    text = _code(getattr(value, "value", value))
    return int(text) if text.lstrip("-").isdigit() else None


def _code(value: Any) -> str:
    """A dimension or attribute value as text: a Code's id, else the value."""
    return str(getattr(value, "id", value))


def _value_text(value: Any) -> str | None:
    """The observation's value as its text, or None for no value (NaN, empty)."""
    if value is None:
        return None
    if isinstance(value, float):
        return None if math.isnan(value) else repr(value)
    text = str(getattr(value, "value", value)).strip()
    return None if text.lower() in ("", "nan", "na", "-") else text


def _period(period: str) -> str:
    for pattern, replacement in PERIOD_FORMS:
        if pattern.match(period):
            return pattern.sub(replacement, period)
    return period


def _dimension_names(observations: list[tuple[dict[str, str], str, Any, int | None]]) -> str:
    return ".".join(observations[0][0]) if observations else "no dimensions"


def _is_structure(raw: bytes) -> bool:
    head = raw[:4096]
    return (
        b"<" in head[:200]
        and bool(STRUCTURE_MESSAGE.search(head))
        and (b"Structure>" in raw or b":Structure " in head)
        and not re.search(rb"<(?:\w+:)?(?:Generic|StructureSpecific)\w*Data[\s>]", head)
    )


def _is_csv_1(raw: bytes) -> bool:
    return raw.lstrip(b"\xef\xbb\xbf").upper().startswith(b"DATAFLOW,")


def _as_csv_2(raw: bytes) -> bytes:
    """SDMX-CSV 1.0 (`DATAFLOW,...`) as SDMX-CSV 2.0 (`STRUCTURE,STRUCTURE_ID,...`)."""
    reader = csv.reader(io.StringIO(raw.decode("utf-8-sig")))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for number, row in enumerate(reader):
        if not row:
            continue
        writer.writerow(["STRUCTURE", "STRUCTURE_ID", *row[1:]] if number == 0
                        else ["dataflow", *row])  # fmt: skip
    return out.getvalue().encode("utf-8")


def _references(raw: bytes, is_csv: bool) -> list[str]:
    """The structure ids a data file names: its DSD or dataflow (ECB_EXR1, EXR)."""
    if is_csv:
        text = raw.decode("utf-8-sig", "replace").splitlines()[1:2]
        cells = next(csv.reader(text), []) if text else []
        candidates = [c for c in cells[:2] if ":" in c]
    else:
        candidates = [raw[:8192].decode("utf-8", "replace")]
    found: list[str] = []
    for candidate in candidates:
        for match in REFERENCE.finditer(candidate):
            name = match.group(2) or match.group(4) or match.group(6)
            if name and name not in found:
                found.append(name)
    return found


def _read(raw: bytes, suffix: str, structure: Any = None) -> Any:
    """sdmx1's message for `raw`, its prints, log lines and warnings held back."""
    import sdmx  # here, not at the top: only `tracker import sdmx` loads it

    kwargs: dict[str, Any] = {} if structure is None else {"structure": structure}
    hint = {".json": "JSON", ".csv": "CSV", ".xml": "XML"}.get(suffix.lower())
    logger = logging.getLogger("sdmx")
    level, logger.level = logger.level, logging.CRITICAL
    try:
        with (
            warnings.catch_warnings(),
            contextlib.redirect_stdout(io.StringIO()),
            contextlib.redirect_stderr(io.StringIO()),
        ):
            warnings.simplefilter("ignore")
            return sdmx.read_sdmx(io.BytesIO(raw), format=hint, **kwargs)
    finally:
        logger.level = level
