"""Publishers' files (World Bank, SDMX, AidData) -> the batch `tracker ingest` writes."""

from tracker.importers.batch import (
    FORMATS,
    ROW_COLUMNS,
    WHERE,
    Adapter,
    FileRefused,
    FileRows,
    ImportSummary,
    adapter,
    adapters,
    import_files,
)
from tracker.importers.mappings import (
    Mapping,
    Series,
    check_mapping,
    check_shipped_mappings,
    load_mapping,
)

__all__ = [
    "FORMATS",
    "ROW_COLUMNS",
    "WHERE",
    "Adapter",
    "FileRefused",
    "FileRows",
    "ImportSummary",
    "adapter",
    "adapters",
    "import_files",
    "Mapping",
    "Series",
    "check_mapping",
    "check_shipped_mappings",
    "load_mapping",
]
