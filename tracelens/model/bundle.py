"""The incident bundle layout: the one place its file and directory names are written.

A bundle is a directory that every way of getting traces (fetch, listen, the emulator) ends
in, so any analysis can be re-run from files later::

    bundle/
      traces*.ndjson[.gz]    trace or segment documents (fetch and emulate write traces.ndjson)
      spans.ndjson           optional: aws/spans log events (fetch --source spans, emulate --format)
      otlp.ndjson            optional: OTLP JSON requests received by listen, one per line
      source.json            optional: how fetch found the traces (segment destination, indexing)
      config.json            optional: function / queue / mapping settings
      dlq/*.json             optional: DLQ or on-failure destination dumps
      truth.json             emulator runs only: what really happened
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

#: The traces file that ``fetch`` appends to and ``emulate`` writes.
TRACES_FILE = "traces.ndjson"
#: ``aws/spans`` log events (Transaction Search), one span a line.
SPANS_FILE = "spans.ndjson"
#: OTLP/JSON ``ExportTraceServiceRequest`` bodies received by ``listen``, one a line.
OTLP_FILE = "otlp.ndjson"
#: How ``fetch`` found the traces: the segment destination and the indexing rules.
SOURCE_FILE = "source.json"
#: Function, queue and event source mapping settings, AWS API field names.
CONFIG_FILE = "config.json"
#: Directory of DLQ / on-failure destination dumps, one ``*.json`` per target.
DLQ_DIR = "dlq"
#: The emulator's record of what really happened (the test oracle).
TRUTH_FILE = "truth.json"
#: Files in a bundle directory that are side inputs, never traces.
SIDE_FILES = frozenset({CONFIG_FILE, TRUTH_FILE, SOURCE_FILE})


def traces_path(bundle: Path) -> Path:
    """The bundle's ``traces.ndjson``."""
    return bundle / TRACES_FILE


def spans_path(bundle: Path) -> Path:
    """The bundle's ``spans.ndjson``."""
    return bundle / SPANS_FILE


def otlp_path(bundle: Path) -> Path:
    """The bundle's ``otlp.ndjson``."""
    return bundle / OTLP_FILE


def source_path(bundle: Path) -> Path:
    """The bundle's ``source.json``."""
    return bundle / SOURCE_FILE


def config_path(bundle: Path) -> Path:
    """The bundle's ``config.json``."""
    return bundle / CONFIG_FILE


def dlq_dir(bundle: Path) -> Path:
    """The bundle's ``dlq/`` directory."""
    return bundle / DLQ_DIR


def dlq_dump_path(bundle: Path, name: str) -> Path:
    """The dump file of the DLQ or destination called ``name`` (already safe as a file name)."""
    return dlq_dir(bundle) / f"{name}.json"


def truth_path(bundle: Path) -> Path:
    """The bundle's ``truth.json``."""
    return bundle / TRUTH_FILE


def dlq_dumps(bundle: Path) -> list[Path]:
    """The bundle's DLQ dump files, sorted; none when it has no ``dlq/`` directory."""
    directory = dlq_dir(bundle)
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.glob("*.json") if p.is_file())
