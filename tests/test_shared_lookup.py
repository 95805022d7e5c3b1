"""Tests that need ../shared find it from the repository root and fail, not skip, under CI."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tests.conftest import ROOT, SHARED, require_shared

if TYPE_CHECKING:
    from pathlib import Path


def test_shared_is_next_to_the_repository_root() -> None:
    assert ROOT.parent / "shared" == SHARED
    assert (ROOT / "pyproject.toml").is_file()


def test_missing_shared_skips_outside_ci(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="missing"):
        require_shared("real_traces", shared=tmp_path / "shared")


@pytest.mark.parametrize("value", ["true", "1", "yes"])
def test_missing_shared_fails_under_ci(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("CI", value)
    with pytest.raises(pytest.fail.Exception, match="CI is set"):
        require_shared("real_traces", shared=tmp_path / "shared")


def test_present_shared_is_returned(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    (tmp_path / "shared" / "real_traces").mkdir(parents=True)
    assert require_shared("real_traces", shared=tmp_path / "shared") == (
        tmp_path / "shared" / "real_traces"
    )


def test_no_test_hard_codes_the_shared_tree() -> None:
    offenders = [
        str(path.relative_to(ROOT))
        for path in sorted((ROOT / "tests").rglob("*.py"))
        if "/work/" + "shared" in path.read_text(encoding="utf-8")
    ]
    assert offenders == []
