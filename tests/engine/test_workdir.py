"""The work directory: removed after success, error and Ctrl-C; kept on request; clear
errors when it cannot be written."""

from __future__ import annotations

import errno
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.cli_helpers import one_line_error, run_cli
from tracelens.engine.workdir import WorkDirError, work_directory

if TYPE_CHECKING:
    from collections.abc import Callable

BUNDLE = Path(__file__).resolve().parents[2] / "sample_traces" / "async_retry_storm"


def test_the_work_directory_is_removed_after_a_report(tmp_path: Path) -> None:
    result = run_cli("analyze", BUNDLE, "--format", "json", "--work-dir", tmp_path)
    assert result.exit_code == 0
    assert list(tmp_path.iterdir()) == []


def test_the_work_directory_is_removed_after_an_error(tmp_path: Path) -> None:
    result = run_cli("analyze", BUNDLE, "--function", "nope", "--work-dir", tmp_path)
    assert result.exit_code == 2
    assert list(tmp_path.iterdir()) == []


def test_keep_work_dir_keeps_it_and_says_where(tmp_path: Path) -> None:
    result = run_cli(
        "analyze", BUNDLE, "--format", "json", "--work-dir", tmp_path, "--keep-work-dir"
    )
    assert result.exit_code == 0
    (kept,) = tmp_path.iterdir()
    assert f"work directory kept: {kept}" in result.stderr


def test_an_unwritable_work_directory_is_one_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    one_line_error(
        run_cli("analyze", BUNDLE, "--work-dir", blocker / "sub"), f"work directory {blocker}"
    )


@pytest.mark.parametrize("number", [errno.ENOSPC, errno.EROFS])
def test_a_full_disk_names_the_work_directory(tmp_path: Path, number: int) -> None:
    def fill(work: Path) -> None:
        raise OSError(number, "No space left on device")

    with pytest.raises(WorkDirError, match="work directory") as caught:
        _inside(tmp_path, fill)
    (work,) = _made
    assert str(work) in str(caught.value)
    assert not work.exists()


def test_ctrl_c_removes_the_work_directory(tmp_path: Path) -> None:
    def interrupt(work: Path) -> None:
        (work / "spill.arrow").write_bytes(b"x")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _inside(tmp_path, interrupt)
    (work,) = _made
    assert not work.exists()


_made: list[Path] = []


def _inside(base: Path, body: Callable[[Path], None]) -> None:
    """Run ``body`` inside a work directory made in ``base`` (remembered in ``_made``)."""
    _made.clear()
    with work_directory(base) as work:
        _made.append(work)
        body(work)
