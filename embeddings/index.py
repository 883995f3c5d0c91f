"""A FAISS index of every text the retriever searches, saved beside a manifest and swapped atomically.

Vectors are L2-normalised, so inner product is cosine similarity. Each vector has a stable id
(its row in the manifest). An index on disk is used only when its manifest names the same
encoder and the same content checksum as what is being served; otherwise it is rebuilt.

Layout under <data_dir>/index/:
    <checksum>/vectors.faiss    the FAISS index (faiss' own format, never pickle)
    <checksum>/manifest.json    model, dimension, count, checksum, the entry of every vector
    CURRENT                     the name of the folder being served, replaced atomically
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np

from embeddings.encoder import Encoder

# For single queries one thread is faster than many (no thread start-up per search).
faiss.omp_set_num_threads(1)

MANIFEST_VERSION = 1


@dataclass(frozen=True)
class Entry:
    """One indexed text: which item it belongs to and which field of it."""

    key: str  # pair id or passage id
    kind: str  # "qa" or "passage"
    field: str  # "question", "alternate", "answer" or "passage"
    text: str


class IndexMismatch(Exception):
    """The index on disk was built from other content or another encoder."""


def content_checksum(entries: list[Entry], model_id: str) -> str:
    h = hashlib.sha256(f"v{MANIFEST_VERSION}\n{model_id}\n".encode())
    for e in entries:
        h.update(json.dumps([e.key, e.kind, e.field, e.text], ensure_ascii=False).encode())
        h.update(b"\n")
    return h.hexdigest()


class VectorIndex:
    """The FAISS index together with the entries its ids point to."""

    def __init__(self, index: faiss.Index, entries: list[Entry], model_id: str, checksum: str):
        if index.ntotal != len(entries):
            raise IndexMismatch(f"index holds {index.ntotal} vectors but the manifest lists {len(entries)}")
        self.index = index
        self.entries = entries
        self.model_id = model_id
        self.checksum = checksum

    @property
    def dimension(self) -> int:
        return self.index.d

    def __len__(self) -> int:
        return self.index.ntotal

    def vectors(self) -> np.ndarray:
        """Every stored vector, in id order."""
        if not len(self):
            return np.zeros((0, self.dimension), np.float32)
        return faiss.downcast_index(self.index.index).reconstruct_n(0, self.index.ntotal)

    @classmethod
    def build(cls, entries: list[Entry], encoder: Encoder, previous: "VectorIndex | None" = None) -> "VectorIndex":
        """Embed the entries; texts the previous index (same encoder) already holds are not encoded again."""
        vectors = np.zeros((len(entries), encoder.dimension), np.float32)
        todo = list(range(len(entries)))
        if previous is not None and previous.model_id == encoder.model_id and len(previous):
            known = {e.text: i for i, e in enumerate(previous.entries)}
            old = previous.vectors()
            todo = []
            for i, e in enumerate(entries):
                if e.text in known:
                    vectors[i] = old[known[e.text]]
                else:
                    todo.append(i)
        if todo:
            vectors[todo] = encoder.encode([entries[i].text for i in todo])
        index = faiss.IndexIDMap2(faiss.IndexFlatIP(encoder.dimension))
        if len(entries):
            index.add_with_ids(vectors, np.arange(len(entries), dtype=np.int64))
        return cls(index, entries, encoder.model_id, content_checksum(entries, encoder.model_id))

    def search(self, vectors: np.ndarray, k: int, ids: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Top-k (scores, ids) for each query row; `ids` limits the search to those vector ids."""
        if k <= 0:
            raise ValueError("k must be positive")
        k = min(k, self.index.ntotal)
        if k == 0:
            return np.zeros((len(vectors), 0), np.float32), np.zeros((len(vectors), 0), np.int64)
        params = None
        if ids is not None:
            params = faiss.SearchParameters(sel=faiss.IDSelectorBatch(np.ascontiguousarray(ids, dtype=np.int64)))
        return self.index.search(vectors, k, params=params)

    # --- persistence -------------------------------------------------------------------------

    def save(self, root: Path) -> Path:
        """Write beside, fsync, validate, then point CURRENT at it. Returns the folder written."""
        root.mkdir(parents=True, exist_ok=True)
        name = self.checksum[:16]
        final = root / name
        tmp = root / f".{name}.tmp-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        blob = faiss.serialize_index(self.index)
        _write(tmp / "vectors.faiss", blob.tobytes())
        manifest = {
            "version": MANIFEST_VERSION,
            "model": self.model_id,
            "dimension": self.dimension,
            "count": len(self),
            "checksum": self.checksum,
            "entries": [[e.key, e.kind, e.field] for e in self.entries],
        }
        _write(tmp / "manifest.json", json.dumps(manifest, ensure_ascii=False).encode())
        # Validate what was written before anything points at it.
        _read_folder(tmp, self.entries, self.model_id)
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
        _write(root / ".CURRENT.tmp", name.encode())
        os.replace(root / ".CURRENT.tmp", root / "CURRENT")
        _fsync_dir(root)
        for other in root.iterdir():
            if other.is_dir() and other.name != name:
                shutil.rmtree(other, ignore_errors=True)
        return final

    @classmethod
    def load(cls, root: Path, entries: list[Entry], model_id: str) -> "VectorIndex":
        """The index CURRENT points at; IndexMismatch unless it matches these entries and encoder."""
        current = root / "CURRENT"
        if not current.exists():
            raise IndexMismatch("no index has been saved yet")
        return _read_folder(root / current.read_text().strip(), entries, model_id)


def _read_folder(folder: Path, entries: list[Entry], model_id: str) -> VectorIndex:
    try:
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise IndexMismatch(f"unreadable manifest in {folder}: {exc}") from exc
    expected = content_checksum(entries, model_id)
    if manifest.get("model") != model_id:
        raise IndexMismatch(f"index was built with {manifest.get('model')}, not {model_id}")
    if manifest.get("checksum") != expected:
        raise IndexMismatch("index was built from other content")
    if manifest.get("count") != len(entries):
        raise IndexMismatch("index count does not match its manifest")
    try:
        blob = np.frombuffer((folder / "vectors.faiss").read_bytes(), dtype=np.uint8)
        index = faiss.deserialize_index(blob)
    except (OSError, RuntimeError) as exc:
        raise IndexMismatch(f"unreadable index in {folder}: {exc}") from exc
    if index.d != manifest.get("dimension"):
        raise IndexMismatch("index dimension does not match its manifest")
    return VectorIndex(index, entries, model_id, expected)


def _write(path: Path, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def load_or_build(root: Path, entries: list[Entry], encoder: Encoder,
                  previous: VectorIndex | None = None) -> tuple[VectorIndex, bool]:
    """The saved index when it matches, else a new one, saved. Returns (index, built)."""
    try:
        return VectorIndex.load(root, entries, encoder.model_id), False
    except IndexMismatch:
        index = VectorIndex.build(entries, encoder, previous)
        index.save(root)
        return index, True
