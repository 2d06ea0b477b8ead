"""The exception family: every error a user can cause is one of these."""

from __future__ import annotations


class TrackerError(Exception):
    """Base of every error the CLI turns into a message (exit code 1)."""

    exit_code = 1


class InputError(TrackerError):
    """Refused input: a bad file, an unknown name, bad SQL (exit code 2)."""

    exit_code = 2


class DefinitionError(InputError):
    """An indicator or briefing definition file is invalid."""


class IngestError(InputError):
    """A CSV file was refused; `problems` lists each one as `FILE:LINE: ...`."""

    def __init__(self, problems: list[str], advice: str, total: int | None = None) -> None:
        self.problems = problems
        self.advice = advice
        self.total = total if total is not None else len(problems)
        shown = "\n".join(problems)
        more = ""
        if self.total > len(problems):
            more = f"\n... and {self.total - len(problems)} more problems not shown."
        super().__init__(
            f"{shown}{more}\nNothing was loaded: the database is unchanged. {advice}".strip()
        )


class UnknownNameError(InputError):
    """A name (indicator, initiative, geography, report) that is not defined."""


class DatabaseBusyError(TrackerError):
    """The database file is held by another process for longer than we wait."""


class WriteConflictError(DatabaseBusyError):
    """A team store refused a commit because another process committed a conflicting change
    first; the transaction was rolled back whole (`store.retried` runs it again)."""


class DatabaseFileError(TrackerError):
    """The file at --db is not a tracker database (corrupt, foreign, or unreadable)."""


class OutputError(TrackerError):
    """Briefing files could not be written: --out is not a folder, is read-only, or the disk
    is full."""


class DeliveryError(TrackerError):
    """A briefing could not be delivered (exit code 1); the rendered files are kept."""


class QueryError(InputError):
    """Ad-hoc SQL that DuckDB refused, or that tried to write without --write."""


class QueryStoppedError(TrackerError):
    """Ad-hoc SQL stopped before it finished: its time ran out (exit code 1) or the user
    pressed Ctrl-C (exit code 130)."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code
