"""Errors raised by tracelens.

* TracelensError             the root: every user-facing failure is one of these
  x IngestError              traces could not be read
    + NoUsableInput          nothing usable was read from any input
    + SourceUnavailable      file missing, AWS call refused, UDP port in use
  x SideInputError           a config.json, DLQ dump or destination file is unusable
  x SchemaError              a frame does not match tracelens.model.schema
  x EmulatorError            a scenario is invalid or cannot be run
  x DashboardSpecError       a dashboard spec file is invalid
  x SelectionError           a function, time window or explain key selects nothing (or is
                             ambiguous) in the traces
  x FilterSyntaxError        a filter expression (find, --filter) does not parse (names the
                             column)
"""

from __future__ import annotations


class TracelensError(Exception):
    """Root of every error tracelens raises on purpose."""


class IngestError(TracelensError):
    """Traces could not be read."""


class NoUsableInput(IngestError):
    """Nothing usable was read from any of the inputs."""


class SourceUnavailable(IngestError):
    """A file, directory, endpoint or socket could not be opened."""


class SideInputError(TracelensError):
    """A config.json, DLQ dump or on-failure destination file is unusable."""


class SchemaError(TracelensError):
    """A frame does not match its declared schema."""


class EmulatorError(TracelensError):
    """An emulator scenario is invalid or cannot be run."""


class DashboardSpecError(TracelensError):
    """A dashboard spec file is invalid."""


class SelectionError(TracelensError):
    """A function name, time window or explain key selects nothing, or more than one thing."""


class FilterSyntaxError(TracelensError):
    """A filter expression does not parse; ``column`` is the 1-based column of the problem."""

    def __init__(self, message: str, *, column: int) -> None:
        super().__init__(f"filter expression, column {column}: {message}")
        self.column = column
        self.reason = message


__all__ = [
    "DashboardSpecError",
    "EmulatorError",
    "FilterSyntaxError",
    "IngestError",
    "NoUsableInput",
    "SchemaError",
    "SelectionError",
    "SideInputError",
    "SourceUnavailable",
    "TracelensError",
]
