"""Writing an emulation result as an incident bundle (traces, config, DLQ dumps, truth)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from tracelens.errors import EmulatorError
from tracelens.model import bundle

if TYPE_CHECKING:
    from pathlib import Path

    from tracelens.emulator.result import EmulationResult


def _dump(obj: object) -> str:
    return json.dumps(obj, indent=2, sort_keys=True) + "\n"


def write_bundle(result: EmulationResult, out_dir: Path) -> None:
    """Write ``traces.ndjson``, ``config.json``, ``dlq/*.json`` and ``truth.json``.

    Args:
        result: the emulation result.
        out_dir: the bundle directory (created if missing).

    Raises:
        EmulatorError: the directory cannot be written.
    """
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        with bundle.traces_path(out_dir).open("w", encoding="utf-8", newline="\n") as fh:
            for line in result.trace_lines():
                fh.write(line)
                fh.write("\n")
        bundle.config_path(out_dir).write_text(_dump(result.config), encoding="utf-8")
        dlq_dir = bundle.dlq_dir(out_dir)
        if result.dlq:
            dlq_dir.mkdir(exist_ok=True)
            for old in dlq_dir.glob("*.json"):
                old.unlink()
        for name, dump in sorted(result.dlq.items()):
            bundle.dlq_dump_path(out_dir, name).write_text(_dump(dump), encoding="utf-8")
        bundle.truth_path(out_dir).write_text(_dump(result.truth), encoding="utf-8")
    except OSError as exc:
        raise EmulatorError(f"{out_dir}: cannot write bundle: {exc.strerror}") from exc
