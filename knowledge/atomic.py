"""Build beside, then swap: how everything under the data directory is replaced whole.

A reader (a service starting, another service sharing the folder, the next start after a crash)
must never see half a model, half an index, or a pointer to a folder that is not there yet. So a
new version is written into a temporary sibling, fsynced, and moved into place with one rename; a
CURRENT file that names the version in use is itself replaced with one rename. A crash leaves the
old content and at worst a temporary sibling, which the next build in that folder removes.

Used for the FAISS index and its CURRENT pointer, the ONNX export of the encoder, the fine-tuned
encoder and its CURRENT pointer, and the trained Rasa model. The lowest layer, so every layer may use it.
"""

from __future__ import annotations

import fcntl
import os
import re
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

POINTER = "CURRENT"

# ".<name>.tmp-<pid>" (older releases) or ".<name>.tmp-<pid>-<random>": a temporary sibling and who made it.
_TEMP = re.compile(r"^\..+\.tmp-(\d+)(-[0-9a-f]+)?$")
# Temporary paths this process is writing now (the others with its pid are left from a process that had it before).
_active: set[Path] = set()


def temp_sibling(final: Path) -> Path:
    """A fresh temporary name beside `final`, which remove_stale recognises once its maker is gone."""
    return final.with_name(f".{final.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def remove_stale(folder: Path) -> list[Path]:
    """Remove the temporary siblings in `folder` whose maker no longer runs (a crash mid-build)."""
    removed: list[Path] = []
    if not folder.is_dir():
        return removed
    for path in folder.iterdir():
        m = _TEMP.match(path.name)
        if not m or path in _active:
            continue
        pid = int(m.group(1))
        if pid == os.getpid() or not _alive(pid):
            _remove(path)
            removed.append(path)
    return removed


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_file(path: Path) -> None:
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())


def fsync_tree(path: Path) -> None:
    """Every file under `path` (or the file itself) and every folder, on disk before anything points at them."""
    if not path.is_dir():
        _fsync_file(path)
        return
    for folder, _dirs, files in os.walk(path):
        for name in files:
            _fsync_file(Path(folder) / name)
        fsync_dir(Path(folder))


def _move_into_place(tmp: Path, final: Path) -> None:
    if final.exists() and (final.is_dir() or tmp.is_dir()):
        # A folder cannot be renamed over another: move the old one aside first (it is not in use,
        # or it would not be rebuilt), then remove it.
        aside = temp_sibling(final)
        os.replace(final, aside)
        os.replace(tmp, final)
        _remove(aside)
    else:
        os.replace(tmp, final)
    fsync_dir(final.parent)


@contextmanager
def build_beside(final: Path, make_dir: bool = False) -> Iterator[Path]:
    """Yield a temporary sibling of `final` to write (a file or a folder; `make_dir` creates a folder).

    When the block succeeds, what it wrote is fsynced and renamed to `final` (replacing what was
    there); when it raises, the temporary is removed and `final` is untouched. Temporaries left by
    crashed processes in the same folder are removed first.
    """
    final.parent.mkdir(parents=True, exist_ok=True)
    remove_stale(final.parent)
    tmp = temp_sibling(final)
    _active.add(tmp)
    try:
        if make_dir:
            tmp.mkdir()
        yield tmp
        if not tmp.exists():
            raise FileNotFoundError(f"nothing was written for {final}")
        fsync_tree(tmp)
        _move_into_place(tmp, final)
    finally:
        _active.discard(tmp)
        if tmp.exists() or tmp.is_symlink():
            _remove(tmp)


@contextmanager
def scratch_dir(parent: Path, label: str) -> Iterator[Path]:
    """A private working folder in `parent`, removed afterwards (or, after a crash, by the next build there)."""
    parent.mkdir(parents=True, exist_ok=True)
    remove_stale(parent)
    tmp = temp_sibling(parent / label)
    _active.add(tmp)
    try:
        tmp.mkdir()
        yield tmp
    finally:
        _active.discard(tmp)
        _remove(tmp)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Replace the file with `data` whole: readers see the old bytes or the new, never a mix."""
    with build_beside(path) as tmp:
        tmp.write_bytes(data)


def write_pointer(root: Path, name: str, pointer: str = POINTER) -> None:
    """Point `root/CURRENT` at the version `name` (which must already be complete on disk)."""
    atomic_write_bytes(root / pointer, name.encode("utf-8"))


def read_pointer(root: Path, pointer: str = POINTER) -> str | None:
    """The version `root/CURRENT` names, or None when there is none."""
    try:
        name = (root / pointer).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    return name or None


@contextmanager
def locked(folder: Path, name: str = ".lock") -> Iterator[None]:
    """One writer at a time per folder, across processes (services may share a data directory)."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / name, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
