"""Atomic writes: all-or-nothing, usual permissions, no temporary files left behind."""

from __future__ import annotations

import os

import pytest

from gpu_moa._atomic import atomic_path, write_text_atomic


def test_success_replaces_the_target_with_the_usual_mode(tmp_path):
    target = tmp_path / "sub" / "a.txt"
    write_text_atomic(target, "new")
    assert target.read_text() == "new"
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask


def test_failure_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "a.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("interrupted")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"]
