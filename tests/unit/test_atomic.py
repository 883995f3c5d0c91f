"""Build beside, then swap (knowledge/atomic.py): old content until the new is whole, and no leftovers."""

import os
import subprocess
import sys

import pytest

from knowledge.atomic import (
    atomic_write_bytes,
    build_beside,
    read_pointer,
    remove_stale,
    scratch_dir,
    temp_sibling,
    write_pointer,
)

pytestmark = pytest.mark.unit


def dead_pid() -> int:
    """The pid of a process that has exited (as a crashed build's would be)."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def leftovers(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".tmp-" in p.name)


def test_a_file_is_replaced_whole_when_the_block_succeeds(tmp_path):
    target = tmp_path / "model.tar.gz"
    target.write_bytes(b"old")
    with build_beside(target) as tmp:
        assert tmp.parent == tmp_path and tmp != target
        tmp.write_bytes(b"new")
        assert target.read_bytes() == b"old"  # readers see the old content until the block ends
    assert target.read_bytes() == b"new" and leftovers(tmp_path) == []


def test_a_failure_inside_the_block_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "model.tar.gz"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError), build_beside(target) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("training failed")
    assert target.read_bytes() == b"old" and leftovers(tmp_path) == []


def test_a_folder_replaces_the_old_folder_and_a_failure_leaves_the_old_one(tmp_path):
    target = tmp_path / "model"
    with build_beside(target, make_dir=True) as tmp:
        (tmp / "weights").write_bytes(b"v1")
    with build_beside(target) as tmp:  # the block may create the folder itself (save_pretrained does)
        tmp.mkdir()
        (tmp / "weights").write_bytes(b"v2")
    assert (target / "weights").read_bytes() == b"v2"
    with pytest.raises(OSError), build_beside(target, make_dir=True) as tmp:
        (tmp / "weights").write_bytes(b"half")
        raise OSError("disk full")
    assert (target / "weights").read_bytes() == b"v2" and sorted(os.listdir(tmp_path)) == ["model"]


def test_a_block_that_writes_nothing_changes_nothing(tmp_path):
    target = tmp_path / "model"
    with pytest.raises(FileNotFoundError), build_beside(target):
        pass
    assert not target.exists() and os.listdir(tmp_path) == []


def test_a_stale_temporary_from_a_crashed_run_is_removed_and_a_running_ones_is_kept(tmp_path):
    crashed = tmp_path / f".index-abc.tmp-{dead_pid()}-0a1b2c3d"
    crashed.mkdir()
    (crashed / "vectors.faiss").write_bytes(b"half")
    older = tmp_path / f".CURRENT.tmp-{dead_pid()}"  # the name used before this module
    older.write_bytes(b"x")
    running = tmp_path / f".other.tmp-{os.getppid()}-0a1b2c3d"  # a live process (our parent) is still writing
    running.write_bytes(b"in progress")
    unrelated = tmp_path / "notes.tmp-1"
    unrelated.write_bytes(b"keep")
    with build_beside(tmp_path / "index-def", make_dir=True) as tmp:
        (tmp / "vectors.faiss").write_bytes(b"whole")
    assert not crashed.exists() and not older.exists()
    assert running.exists() and unrelated.exists()


def test_remove_stale_keeps_what_this_process_is_writing(tmp_path):
    with build_beside(tmp_path / "x") as tmp:
        tmp.write_bytes(b"1")
        assert remove_stale(tmp_path) == [] and tmp.exists()
    mine = temp_sibling(tmp_path / "y")  # this pid, but not being written: left by a process that had our pid
    mine.write_bytes(b"old")
    assert remove_stale(tmp_path) == [mine]


def test_pointer_names_the_version_and_a_crash_while_moving_it_keeps_the_old(tmp_path, monkeypatch):
    assert read_pointer(tmp_path) is None
    write_pointer(tmp_path, "v1")
    assert read_pointer(tmp_path) == "v1" and (tmp_path / "CURRENT").read_text() == "v1"
    real = os.replace

    def crash(src, dst):
        if str(dst).endswith("CURRENT"):
            raise OSError("power cut")
        return real(src, dst)

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError):
        write_pointer(tmp_path, "v2")
    monkeypatch.setattr(os, "replace", real)
    assert read_pointer(tmp_path) == "v1" and leftovers(tmp_path) == []


def test_atomic_write_bytes_and_a_scratch_folder_that_is_always_removed(tmp_path):
    atomic_write_bytes(tmp_path / "a.json", b"{}")
    assert (tmp_path / "a.json").read_bytes() == b"{}"
    with scratch_dir(tmp_path, "train") as work:
        (work / "out").write_bytes(b"x")
        assert work.is_dir()
    assert not work.exists()
    with pytest.raises(ValueError), scratch_dir(tmp_path, "train") as work:
        raise ValueError
    assert not work.exists() and sorted(os.listdir(tmp_path)) == ["a.json"]
