"""CSV files -> one validated batch of observations."""

from tracker.ingest.prepare import (
    ADVICE,
    LONG_COLUMNS,
    OBSERVATION_COLUMNS,
    InlineCsv,
    PreparedBatch,
    check_files,
    load,
    prepare,
)
from tracker.ingest.state import IngestOptions

__all__ = [
    "ADVICE",
    "LONG_COLUMNS",
    "OBSERVATION_COLUMNS",
    "InlineCsv",
    "PreparedBatch",
    "check_files",
    "load",
    "prepare",
    "IngestOptions",
]
