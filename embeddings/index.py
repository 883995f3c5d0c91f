"""A FAISS index of every text the retriever searches, with a stable id per vector, kept on disk.

Vectors are L2-normalised, so inner product is cosine similarity. Each vector's id is derived from
what it stands for (the item, the field, which alternate), not from its row, so publishing one pair
removes and re-adds that pair's vectors only: nothing else is re-embedded, renumbered or rewritten.

Layout under <data_dir>/index/:
    <name>/vectors.faiss   a full index (faiss' own format, never pickle): an IndexIDMap2
    <name>/manifest.json   model, dimension, count, checksum, and for every vector: its id, item, field,
                           alternate position and a digest of its text
    <name>/journal         the changes since (ids removed, vectors added), appended and fsynced
    CURRENT                the name of the folder in use, replaced atomically (knowledge/atomic.py)

A publish appends one record to the journal (a few kilobytes) instead of writing the whole index
again; a record cut short by a crash fails its checksum and is ignored, so the index before it is
what loads. When the journal has grown to a quarter of the index (or many records), the next
publish writes a new folder beside the old one and moves CURRENT to it.

At start the saved index is used when its manifest names the same encoder; entries whose text
changed meanwhile (shipped files edited, say) are the only ones embedded again.

The retriever reads `top`: up to EXACT_ROWS rows every vector is scored; above, a copy of the base
in half precision is scanned first (half the bytes of float32), and only the rows whose exact score
may be among the best are scored exactly, with FAISS' own inner product, so that the rows and scores
are those of a full float32 search (the scores up to float32 rounding: FAISS' kernels for one row and
for a selection sum in different orders, about 1e-7 apart). Measured at 200,000 vectors of 384 dimensions: 8 ms
against 17 ms per query (2-core CPU); the copy costs half the base's memory and about a second to make
at a million vectors (at start, and when an update folds the delta into a new base).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import os
import secrets
import shutil
import struct
import threading
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, overload

import numpy as np

from embeddings.encoder import encode_stored, text_digest
from knowledge.atomic import build_beside, fsync_dir, locked, read_pointer, write_pointer

if TYPE_CHECKING:
    import faiss

    from embeddings.encoder import Encoder

log = logging.getLogger("faqbot")
_T = TypeVar("_T")

MANIFEST_VERSION = 2
ID_BITS = 63  # FAISS ids are signed 64-bit and -1 means "no result"
_ID_MASK = (1 << ID_BITS) - 1
_SUM_MASK = (1 << 128) - 1
VECTORS, MANIFEST, JOURNAL = "vectors.faiss", "manifest.json", "journal"
_RECORD = struct.Struct("<4sQI")  # magic, payload length, crc32 of the payload
_MAGIC = b"FQJ2"
# A new full index is written when the journal outgrows this share of it, or holds this many records.
JOURNAL_SHARE = 0.25
JOURNAL_RECORDS = 500
# An update folds the delta into a new base when it holds more than this share of the base's rows
# (or more dead rows than DEAD_SHARE), and at least DELTA_ROWS: a search scans both, so the delta stays small.
DELTA_ROWS = 512
DELTA_SHARE = 1 / 16
DEAD_SHARE = 1 / 8
# `top` scores every row exactly up to this many rows to score; above it, a base this large is first
# scanned in half precision (see _Coarse) and only the rows that may be among the best are scored exactly.
EXACT_ROWS = 20_000
# float32's unit roundoff.
_U32 = 2.0**-24


@lru_cache(maxsize=1)
def faiss_module():
    """FAISS, imported on first use (not when this module is imported), with one thread per search:
    for single queries one thread is faster than many (no thread start-up per search)."""
    import faiss

    faiss.omp_set_num_threads(1)
    return faiss


@dataclass(frozen=True)
class Entry:
    """One indexed text: which item it belongs to, which field of it, and (for alternates) which one."""

    key: str  # pair id or passage id
    kind: str  # "qa" or "passage"
    field: str  # "question", "alternate", "answer" or "passage"
    text: str
    position: int = 0  # the alternate's place in the pair's list; 0 for the other fields

    @property
    def identity(self) -> tuple[str, str, str, int]:
        return (self.kind, self.key, self.field, self.position)


class IndexMismatch(Exception):
    """The index on disk was built from other content or another encoder, or cannot be read."""


def _identity_bytes(identity: tuple[str, str, str, int]) -> bytes:
    # Unit separators: no id holds one (ids are slugs and "<source>#p<n>"), so no two identities meet.
    return "\x1f".join(map(str, identity)).encode("utf-8")


def entry_id(identity: tuple[str, str, str, int], attempt: int = 0) -> int:
    """The vector's id: 63 bits of a hash of what it stands for; `attempt` > 0 after a collision."""
    data = _identity_bytes(identity) + (b"\x00%d" % attempt if attempt else b"")
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "little") & _ID_MASK


def _term(identity: tuple[str, str, str, int], digest: str) -> int:
    """One entry's share of the content checksum (a sum, so one entry changes it without the others)."""
    h = hashlib.blake2b(_identity_bytes(identity) + b"\x00" + digest.encode(), digest_size=16)
    return int.from_bytes(h.digest(), "little")


def _checksum(total: int, model_id: str) -> str:
    return hashlib.sha256(f"v{MANIFEST_VERSION}\n{model_id}\n{total & _SUM_MASK:032x}".encode()).hexdigest()


def content_checksum(entries: list[Entry], model_id: str) -> str:
    """Names the content (in any order) and the encoder: equal checksums, equal vectors."""
    return _checksum(sum(_term(e.identity, text_digest(e.text)) for e in entries), model_id)


def _v1_checksum(entries: list[Entry], model_id: str) -> str:
    """The checksum of indexes saved before stable ids (manifest version 1), to adopt them once."""
    h = hashlib.sha256(f"v1\n{model_id}\n".encode())
    for e in entries:
        h.update(json.dumps([e.key, e.kind, e.field, e.text], ensure_ascii=False).encode())
        h.update(b"\n")
    return h.hexdigest()


@dataclass(frozen=True)
class Change:
    """What one update did to the index, as the journal records it."""

    removed: np.ndarray  # ids
    added: list[list[Any]]  # [id, kind, key, field, position, text digest] per added vector
    vectors: np.ndarray  # the added vectors, in that order


@dataclass(frozen=True)
class Saved:
    """Where an index's exact state is on disk: a folder and how far into its journal."""

    folder: str
    journal_length: int
    records: int
    base_size: int


class VectorIndex:
    """The vector of every searched text, by row, in FAISS; `entry(row)` says what each row is.

    A fresh index is one IndexIDMap2 over a flat inner-product index (the base). An update never
    copies the base: the rows it removes are marked dead there, and the vectors it adds go into a
    small second IndexIDMap2 (the delta), whose rows follow the base's. Once the delta or the dead
    rows outgrow a share of the base, the update folds both into a new base. Immutable once built:
    `apply` returns a new index and leaves this one serving.
    """

    _delta: faiss.IndexIDMap2 | None
    _delta_flat: faiss.IndexFlatIP | None

    def __init__(
        self,
        index: faiss.IndexIDMap2,
        entries: list[Entry],
        model_id: str,
        digests: list[str] | None = None,
        total: int | None = None,
    ):
        faiss = faiss_module()
        if index.ntotal != len(entries):
            raise IndexMismatch(f"index holds {index.ntotal} vectors but the manifest lists {len(entries)}")
        self.index = index  # the base
        self._base = faiss.downcast_index(index.index)
        self._delta = None
        self._delta_flat = None
        self._alive: np.ndarray | None = None  # per row (dead ones are in the base); None: all alive
        self._rows = _Rows(entries)  # per row, dead ones included
        self.ids = faiss.vector_to_array(index.id_map).astype(np.int64, copy=False)
        self.digests = _Rows(digests if digests is not None else [text_digest(e.text) for e in entries])
        if total is None:
            total = sum(_term(e.identity, d) for e, d in zip(entries, self.digests, strict=True))
        self._total = total & _SUM_MASK
        self._live = len(entries)
        self.model_id = model_id
        self.checksum = _checksum(self._total, model_id)
        self.saved: Saved | None = None
        self._coarse = _Coarse()  # shared by every index made from this one by `apply` (the same base)

    @property
    def dimension(self) -> int:
        return self.index.d

    def __len__(self) -> int:
        """The number of vectors searched (dead rows not counted)."""
        return self._live

    @property
    def rows(self) -> int:
        """The number of rows, dead ones included: the length of per-row arrays."""
        return len(self._rows)

    def entry(self, row: int) -> Entry:
        return self._rows[row]

    @property
    def entries(self) -> list[Entry]:
        """The entries searched, in row order."""
        if self._alive is None:
            return list(self._rows)
        return [e for e, alive in zip(self._rows, self._alive, strict=True) if alive]

    def alive(self) -> np.ndarray | None:
        """Which rows are searched (None: all)."""
        return self._alive

    def vectors(self, rows: np.ndarray | None = None) -> np.ndarray:
        """The stored vectors of these rows (of every row, dead ones included, by default)."""
        rows = np.arange(self.rows) if rows is None else np.asarray(rows, np.int64)
        nb = self.index.ntotal
        out = np.empty((len(rows), self.dimension), np.float32)
        in_base = rows < nb
        first = int(np.count_nonzero(in_base))
        if in_base[:first].all():  # base rows first (as always here): one pass each, no temporary
            np.take(_codes(self._base), rows[:first], axis=0, out=out[:first])
            if first < len(rows):
                np.take(_codes(self._delta_flat), rows[first:] - nb, axis=0, out=out[first:])
        else:
            out[in_base] = _codes(self._base)[rows[in_base]]
            out[~in_base] = _codes(self._delta_flat)[rows[~in_base] - nb]
        return out

    # --- building --------------------------------------------------------------------------

    @classmethod
    def from_vectors(cls, entries: list[Entry], vectors: np.ndarray, model_id: str) -> VectorIndex:
        """An index of these entries with their vectors (rows in this order)."""
        faiss = faiss_module()
        index = faiss.IndexIDMap2(faiss.IndexFlatIP(vectors.shape[1]))
        if len(entries):
            index.add_with_ids(np.ascontiguousarray(vectors, np.float32), _assign_ids(entries, np.zeros(0, np.int64)))
        return cls(index, entries, model_id)

    @classmethod
    def build(cls, entries: list[Entry], encoder: Encoder, previous: VectorIndex | None = None) -> VectorIndex:
        """Embed the entries; texts the previous index (same encoder) already holds are not encoded again."""
        vectors = np.zeros((len(entries), encoder.dimension), np.float32)
        todo = list(range(len(entries)))
        if previous is not None and previous.model_id == encoder.model_id and previous.rows:
            known = {e.text: i for i, e in enumerate(previous._rows)}
            old = previous.vectors()
            todo = []
            for i, e in enumerate(entries):
                if e.text in known:
                    vectors[i] = old[known[e.text]]
                else:
                    todo.append(i)
        if todo:
            vectors[todo] = encode_stored(encoder, [entries[i].text for i in todo])
        return cls.from_vectors(entries, vectors, encoder.model_id)

    def apply(
        self, remove: np.ndarray, add: list[Entry], encoder: Encoder | None, reuse: np.ndarray | None = None
    ) -> tuple[VectorIndex, Change, np.ndarray]:
        """A new index without the rows `remove` and with the entries `add` (this one is unchanged).

        An added text that one of the removed rows (or of the rows `reuse`) holds keeps its vector;
        only the others are encoded. Returns (index, change, source): source[r] is the row of this
        index that row r of the new one was, for each row but the added ones, which come last.
        """
        faiss = faiss_module()
        remove = np.unique(np.asarray(remove, np.int64))
        digests = [text_digest(e.text) for e in add]
        candidates = remove if reuse is None else np.concatenate([remove, np.asarray(reuse, np.int64)])
        held = self.digests if len(candidates) < 64 else list(self.digests)
        known = {held[int(r)]: int(r) for r in candidates}
        vectors = np.zeros((len(add), self.dimension), np.float32)
        todo = [i for i, d in enumerate(digests) if d not in known]
        found = [i for i, d in enumerate(digests) if d in known]
        if found:
            vectors[found] = self.vectors(np.array([known[digests[i]] for i in found]))
        if todo:
            if encoder is None or encoder.model_id != self.model_id:
                raise ValueError("new texts need the encoder this index was built with")
            vectors[todo] = encode_stored(encoder, [add[i].text for i in todo])

        nb = self.index.ntotal
        alive = np.ones(self.rows, bool) if self._alive is None else self._alive.copy()
        if not alive[remove].all():
            raise IndexMismatch("asked to remove a row that is not in the index")
        alive[remove] = False
        new_ids = _assign_ids(add, self.ids[alive])
        # The base is shared with this index and never changes; the small delta is copied.
        gone = remove[remove >= nb] - nb
        delta = (
            faiss.clone_index(self._delta)
            if self._delta is not None
            else faiss.IndexIDMap2(faiss.IndexFlatIP(self.dimension))
        )
        if len(gone):
            delta.remove_ids(faiss.IDSelectorBatch(self.ids[nb + gone]))
        if add:
            delta.add_with_ids(vectors, new_ids)
        kept = np.delete(np.arange(nb, self.rows), gone)
        source = np.concatenate([np.arange(nb), kept])
        total = self._total
        for r in remove:
            total -= _term(self._rows[int(r)].identity, self.digests[int(r)])
        for e, d in zip(add, digests, strict=True):
            total += _term(e.identity, d)

        new = object.__new__(VectorIndex)
        new.index, new._base, new.model_id, new.saved = self.index, self._base, self.model_id, None
        new._coarse = self._coarse
        new._delta, new._delta_flat = delta, faiss.downcast_index(delta.index)
        new._alive = np.concatenate([alive[:nb], np.ones(len(kept) + len(add), bool)])
        if new._alive.all():
            new._alive = None
        new._rows = self._rows.updated(gone, add)
        new.ids = np.concatenate([self.ids[source], new_ids])
        new.digests = self.digests.updated(gone, digests)
        new._total = total & _SUM_MASK
        new._live = self._live - len(remove) + len(add)
        new.checksum = _checksum(new._total, self.model_id)
        source = np.concatenate([source, np.full(len(add), -1, np.int64)])
        dead = nb - (int(np.count_nonzero(new._alive[:nb])) if new._alive is not None else nb)
        if delta.ntotal > max(DELTA_ROWS, nb * DELTA_SHARE) or dead > max(DELTA_ROWS, nb * DEAD_SHARE):
            new, folded = new.compacted()
            source = source[folded]
        rows = [[int(i), *e.identity, d] for i, e, d in zip(new_ids, add, digests, strict=True)]
        return new, Change(self.ids[remove], rows, vectors), source

    def compacted(self) -> tuple[VectorIndex, np.ndarray]:
        """The same index as one base without dead rows, and for each of its rows the row it was here."""
        rows = np.arange(self.rows) if self._alive is None else np.flatnonzero(self._alive)
        if self._delta is None and self._alive is None:
            return self, rows
        faiss = faiss_module()
        index = faiss.IndexIDMap2(faiss.IndexFlatIP(self.dimension))
        if len(rows):
            index.add_with_ids(self.vectors(rows), self.ids[rows])
        entries, digests = list(self._rows), list(self.digests)
        new = VectorIndex(index, [entries[r] for r in rows], self.model_id, [digests[r] for r in rows], self._total)
        new.saved = self.saved
        return new, rows

    def search(
        self, vectors: np.ndarray, k: int, allowed: np.ndarray | None = None, ordered: bool = True
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-k (scores, rows) for each query vector, best first; `allowed` (a bool per row) limits
        the search to those rows. Rows that could not be filled are -1. Without `ordered` the caller
        does not need them best first, which saves a sort when every row is asked for."""
        if k <= 0:
            raise ValueError("k must be positive")
        k = min(k, len(self))
        if k == 0:
            return np.zeros((len(vectors), 0), np.float32), np.zeros((len(vectors), 0), np.int64)
        nb = self.index.ntotal
        dead = self.rows - self._live
        # The flat indexes themselves: their labels are rows, so no id has to be looked up per result.
        if allowed is None and dead:
            # Every row but the dead ones (all in the base): ask for as many more and drop them,
            # which is faster than filtering every row (and the same when every row is asked for).
            scores, rows = self._base.search(vectors, min(k + dead, nb))
            gone = (rows >= 0) & ~self._alive[np.maximum(rows, 0)]  # type: ignore[index]
            scores[gone], rows[gone] = -np.inf, -1
        else:
            select = allowed if self._alive is None else allowed & self._alive
            scores, rows = self._base.search(vectors, min(k, nb), params=_selected(select, 0, nb))
        if self._delta_flat is not None and self._delta_flat.ntotal:
            params = None if allowed is None else _selected(allowed, nb, self.rows)
            more, delta_rows = self._delta_flat.search(vectors, min(k, self._delta_flat.ntotal), params=params)
            scores = np.hstack([scores, more])
            rows = np.hstack([rows, np.where(delta_rows >= 0, delta_rows + nb, -1)])
        elif not (allowed is None and dead):
            return scores, rows  # one search: best first and k at most already
        if not ordered and k >= len(self):  # every row is wanted: nothing to cut, so no sort
            return scores, rows
        order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
        return np.take_along_axis(scores, order, 1), np.take_along_axis(rows, order, 1)

    def top(self, query: np.ndarray, k: int, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """One query's k best rows among the searched ones (and `allowed`, a bool per row), as
        (scores, rows) in no particular order; every such row when there are no more than k.

        The same rows and scores as search(), the scores up to float32 rounding (about 1e-7: FAISS' own
        inner product, whose kernels sum in another order for a selection of rows than for all of them).
        Up to EXACT_ROWS candidate rows every one is scored (no heap, no selector, no sort); a larger
        base is scanned first in half precision, whose error on each score is bounded (see _Coarse),
        and only the rows that may be among the best are scored exactly. Of rows with equal scores at
        the cut, the first are kept (search() keeps whichever its heap met first)."""
        faiss = faiss_module()
        q = np.ascontiguousarray(np.asarray(query, np.float32).reshape(-1))
        if k <= 0:
            raise ValueError("k must be positive")
        if len(q) != self.dimension:  # the inner products below read the query by pointer
            raise ValueError(f"a query of dimension {len(q)} for an index of dimension {self.dimension}")
        select = self._alive if allowed is None else (allowed if self._alive is None else allowed & self._alive)
        count = len(self) if select is None else int(np.count_nonzero(select))
        nb = self.index.ntotal
        if count <= max(k, EXACT_ROWS) or nb <= EXACT_ROWS:
            rows = np.arange(self.rows) if select is None else np.flatnonzero(select)
            return _best(self._exact(q, rows, count == self.rows), rows, k)
        coarse = self._coarse.get(self._base, faiss)
        if coarse is None:  # vectors half precision cannot hold: one exact scan
            scores, rows = self.search(q[None], k, allowed, ordered=False)
            return scores[0][rows[0] >= 0], rows[0][rows[0] >= 0]
        # The delta's rows are few: all scored exactly.
        delta_rows = np.arange(nb, self.rows)
        if select is not None:
            delta_rows = delta_rows[select[nb:]]
        share = (count - len(delta_rows)) / nb  # of the base's rows, those that may be returned
        want = min(nb, int(k / max(share, 1e-6) * 1.25) + 64)
        while True:
            approx, found, eps = coarse.search(q, want)
            floor = float(approx[found >= 0].min(initial=np.inf))  # rows not found score no higher here
            if select is not None:
                approx, found = approx[found >= 0], found[found >= 0]
                keep = select[found]
                approx, found = approx[keep], found[keep]
            # The k-th best of these scores less eps is a floor for the k-th best exact score (those k rows
            # score at least that); a row scoring below that floor less eps cannot be among the best.
            if len(found) >= k:
                cut = float(np.partition(approx, len(approx) - k)[len(approx) - k]) - 2 * eps
                if floor < cut or want >= nb:
                    found = np.sort(found[approx >= cut])
                    break
            elif want >= nb:
                found = np.sort(found[found >= 0])
                break
            want = min(nb, want * 4)
        rows = np.concatenate([found, delta_rows])  # ascending: the delta's rows follow the base's
        scores = np.concatenate([self._exact(q, found, False), self._exact(q, delta_rows, False)])
        return _best(scores, rows, k)

    def _exact(self, q: np.ndarray, rows: np.ndarray, every: bool) -> np.ndarray:
        """FAISS' inner product of q with these rows (ascending; `every`: all rows, in order)."""
        faiss = faiss_module()
        out = np.empty(len(rows), np.float32)
        if not len(rows):
            return out
        nb, d = self.index.ntotal, self.dimension
        parts = [(self._base, 0, nb)]
        if self._delta_flat is not None and self._delta_flat.ntotal:
            parts.append((self._delta_flat, nb, self.rows))
        qp = faiss.swig_ptr(q)
        at = 0
        for flat, start, end in parts:
            lo, hi = (start, end) if every else np.searchsorted(rows, [start, end])
            n = int(hi - lo)
            if not n:
                continue
            chunk = out[at : at + n]
            if every:
                faiss.fvec_inner_products_ny(faiss.swig_ptr(chunk), qp, flat.get_xb(), d, n)
            elif n * 4 >= end - start:  # most of the part: one pass over it, then pick
                whole = np.empty(end - start, np.float32)
                faiss.fvec_inner_products_ny(faiss.swig_ptr(whole), qp, flat.get_xb(), d, end - start)
                chunk[:] = whole[rows[lo:hi] - start]
            else:
                ids = np.ascontiguousarray(rows[lo:hi] - start, np.int64)
                faiss.fvec_inner_products_by_idx(faiss.swig_ptr(chunk), qp, flat.get_xb(), faiss.swig_ptr(ids), d, 1, n)
            at += n
        return out

    def prepare(self) -> None:
        """Make what `top` reads for a large base now (about a second at a million rows), not on a query."""
        if self.index.ntotal > EXACT_ROWS:
            self._coarse.get(self._base, faiss_module())

    # --- persistence -------------------------------------------------------------------------

    def save(self, root: Path) -> Path:
        """Write the whole index into a new folder beside the old, then point CURRENT at it."""
        with locked(root):
            return self._save(root)

    def _save(self, root: Path) -> Path:
        faiss = faiss_module()
        name = f"{self.checksum[:12]}-{secrets.token_hex(3)}"
        previous = read_pointer(root)
        whole, _ = self.compacted()  # dead rows are not written
        blob = faiss.serialize_index(whole.index)  # uint8 array, written as it is (no copy)
        manifest = {
            "version": MANIFEST_VERSION,
            "model": self.model_id,
            "dimension": self.dimension,
            "count": len(self),
            "checksum": self.checksum,
            "rows": [[int(i), *e.identity, d] for i, e, d in zip(whole.ids, whole._rows, whole.digests, strict=True)],
        }
        with build_beside(root / name, make_dir=True) as tmp:
            (tmp / VECTORS).write_bytes(blob)
            (tmp / MANIFEST).write_bytes(json.dumps(manifest, ensure_ascii=False).encode("utf-8"))
            # Validate what was written before anything points at it.
            if _read_folder(tmp, self.model_id).checksum() != self.checksum:
                raise IndexMismatch("the index written does not read back as the one in memory")
        try:
            write_pointer(root, name)
        except BaseException:
            _remove_folder(root / name)
            raise
        # Keep the one before (a service starting may be reading it); older folders go.
        for other in root.iterdir():
            if other.is_dir() and not other.name.startswith(".") and other.name not in (name, previous):
                _remove_folder(other)
        self.saved = Saved(name, 0, 0, len(blob))
        return root / name

    def persist(self, root: Path, since: VectorIndex, change: Change) -> None:
        """Put this index on disk, made from `since` by `change`: one journal record when the disk
        holds `since` and the journal is still small, else a whole new folder."""
        with locked(root):
            at = since.saved
            record = _record(change)
            journal = root / at.folder / JOURNAL if at else root
            if (
                at is None
                or read_pointer(root) != at.folder
                or _size(journal) != at.journal_length
                or at.records + 1 > JOURNAL_RECORDS
                or at.journal_length + len(record) > JOURNAL_SHARE * at.base_size
            ):
                self._save(root)
                return
            with open(journal, "ab") as fh:
                fh.write(record)
                fh.flush()
                os.fsync(fh.fileno())
            if at.journal_length == 0:
                fsync_dir(journal.parent)
            self.saved = Saved(at.folder, at.journal_length + len(record), at.records + 1, at.base_size)

    @classmethod
    def load(cls, root: Path, entries: list[Entry], model_id: str) -> VectorIndex:
        """The index CURRENT points at; IndexMismatch unless it holds exactly these entries, by this encoder."""
        stored = _read_current(root, model_id)
        index = stored.matching(entries)
        if index is None:
            raise IndexMismatch("index was built from other content")
        return index


# --- disk ------------------------------------------------------------------------------------


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _remove_folder(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


class _Rows(Sequence[_T]):
    """What an index holds per row: the base's list, shared by every index `apply` makes from it (an
    update does not copy it), and the delta's short list of its own."""

    __slots__ = ("_base", "_tail")

    def __init__(self, base: list[_T], tail: list[_T] | None = None):
        self._base = base
        self._tail = tail or []

    def updated(self, gone: np.ndarray, added: list[_T]) -> _Rows[_T]:
        """Without the delta's rows `gone` (counted from the delta's first), with `added` after."""
        return _Rows(self._base, _without(self._tail, gone) + added)

    def __len__(self) -> int:
        return len(self._base) + len(self._tail)

    @overload
    def __getitem__(self, row: int) -> _T: ...
    @overload
    def __getitem__(self, row: slice) -> list[_T]: ...
    def __getitem__(self, row: int | slice) -> _T | list[_T]:
        if isinstance(row, slice):
            return list(self)[row]
        n = len(self._base)
        if row < 0:
            row += len(self)
        return self._base[row] if row < n else self._tail[row - n]

    def __iter__(self) -> Iterator[_T]:
        return itertools.chain(self._base, self._tail)


def _without(items: list, rows: np.ndarray) -> list:
    out = list(items)
    for r in sorted((int(r) for r in rows), reverse=True):
        del out[r]
    return out


def _codes(flat) -> np.ndarray:
    """The flat index's vectors as an array (a view, no copy: valid while the index lives)."""
    faiss = faiss_module()
    n, d = flat.ntotal, flat.d
    if not n:
        return np.zeros((0, d), np.float32)
    return faiss.rev_swig_ptr(flat.get_xb(), n * d).reshape(n, d)


def _selected(select: np.ndarray | None, start: int, end: int):
    """Search parameters limiting a search to the selected rows in [start, end) (None: all of them)."""
    if select is None:
        return None
    part = select[start:end]
    if part.all():
        return None
    faiss = faiss_module()
    return faiss.SearchParameters(sel=faiss.IDSelectorBitmap(np.packbits(part, bitorder="little")))


def _best(scores: np.ndarray, rows: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The k highest scores and their rows (given ascending), in no particular order; all of them when
    there are no more than k. Of rows with equal scores at the cut (the same text twice), the first are
    kept, whatever the order they were added in (FAISS' heap keeps whichever it met first)."""
    if len(scores) <= k:
        return scores, rows
    kth = scores[np.argpartition(scores, len(scores) - k)[len(scores) - k]]
    above = np.flatnonzero(scores > kth)
    picked = np.concatenate([above, np.flatnonzero(scores == kth)[: k - len(above)]])
    return scores[picked], rows[picked]


class _Coarse:
    """A base's vectors in half precision (FAISS' fp16 scalar quantizer: half the base's size), which `top`
    scans to find the rows that may be among the best without reading the whole base.

    How far a half-precision score may be from FAISS' exact one, for a query q, with r the rounding of a
    stored vector: |q.r| is at most |q| max|r| (over the rows) and at most sum |q_i| max|r_i|; the two
    float32 sums add at most 2 d u |q| (max|x| + max|r|) (u = 2^-24, d the dimension).
    """

    CHUNK = 32768

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._made = False
        self._index: Any = None
        self._worst = np.zeros(0)  # per dimension: the largest |r_i|
        self._residual = 0.0  # the largest |r|
        self._norm = 0.0  # the largest |x|

    def get(self, base, faiss) -> _Coarse | None:
        """This, made from the base on first use; None when the base's vectors do not fit half precision."""
        if not self._made:
            with self._lock:
                if not self._made:
                    self._make(base, faiss)
                    self._made = True
        return self if self._index is not None else None

    def _make(self, base, faiss) -> None:
        vectors = _codes(base)
        index = faiss.IndexScalarQuantizer(base.d, faiss.ScalarQuantizer.QT_fp16, faiss.METRIC_INNER_PRODUCT)
        worst, residual, norm = np.zeros(base.d), 0.0, 0.0
        for start in range(0, len(vectors), self.CHUNK):
            part = vectors[start : start + self.CHUNK]
            index.add(part)
            x = part.astype(np.float64)
            r = index.sa_decode(index.sa_encode(part)).astype(np.float64) - x
            np.maximum(worst, np.abs(r).max(axis=0), out=worst)
            residual = max(residual, float(np.sqrt(np.einsum("ij,ij->i", r, r).max())))
            norm = max(norm, float(np.sqrt(np.einsum("ij,ij->i", x, x).max())))
        if np.isfinite(worst).all() and np.isfinite(norm) and norm < 1e4:
            self._index, self._worst, self._residual, self._norm = index, worst, residual, norm

    def search(self, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, float]:
        """(approximate scores, rows) of the k best rows for q, and the bound on their error."""
        scores, rows = self._index.search(q[None], k)
        q64 = q.astype(np.float64)
        qn = float(np.linalg.norm(q64))
        spread = min(qn * self._residual, float(np.abs(q64) @ self._worst))
        d = len(self._worst)
        rounding = 2 * d * _U32 / (1 - d * _U32) * qn * (self._norm + self._residual)
        return scores[0], rows[0], (spread + rounding) * 1.01 + 1e-7


def _assign_ids(entries: list[Entry], taken: np.ndarray) -> np.ndarray:
    """One id per entry, none equal to another's or to a `taken` one: on a collision (about one in
    10^9 at a million vectors) the entry takes the next hash of its identity, and the manifest
    records the id it got."""
    used: set[int] = set(taken.tolist()) if len(entries) > 64 else set()
    check_taken = len(entries) <= 64 and len(taken) > 0
    out = np.zeros(len(entries), np.int64)
    for i, e in enumerate(entries):
        attempt = 0
        while True:
            candidate = entry_id(e.identity, attempt)
            if candidate not in used and not (check_taken and bool((taken == candidate).any())):
                break
            log.warning("vector id collision for %s; it takes the next id", e.identity)
            attempt += 1
        used.add(candidate)
        out[i] = candidate
    return out


def _record(change: Change) -> bytes:
    header = json.dumps({"remove": [int(i) for i in change.removed], "add": change.added}, ensure_ascii=False).encode(
        "utf-8"
    )
    payload = struct.pack("<I", len(header)) + header + np.ascontiguousarray(change.vectors, "<f4").tobytes()
    return _RECORD.pack(_MAGIC, len(payload), zlib.crc32(payload)) + payload


def _records(data: bytes, dimension: int) -> Iterator[tuple[int, dict, np.ndarray]]:
    """(end offset, header, vectors) of each whole record; stops at the first one cut short or damaged."""
    at = 0
    while at + _RECORD.size <= len(data):
        magic, length, crc = _RECORD.unpack_from(data, at)
        start, end = at + _RECORD.size, at + _RECORD.size + length
        if magic != _MAGIC or end > len(data) or zlib.crc32(data[start:end]) != crc:
            return
        try:
            (size,) = struct.unpack_from("<I", data, start)
            header = json.loads(data[start + 4 : start + 4 + size])
            vectors = np.frombuffer(data[start + 4 + size : end], "<f4").reshape(-1, dimension)
            removed = [int(i) for i in header["remove"]]
            added = [list(row) for row in header["add"]]
            if len(added) != len(vectors) or any(len(row) != 6 for row in added):
                return
        except (struct.error, ValueError, TypeError, KeyError):
            return
        yield end, {"remove": removed, "add": added}, vectors
        at = end


class _Stored:
    """An index as read from disk: its rows (id, identity, text digest) but not its texts."""

    def __init__(
        self,
        folder: Path,
        index: faiss.IndexIDMap2,
        rows: list[list[Any]],
        model_id: str,
        journal_length: int,
        records: int,
        base_size: int,
    ):
        self.folder = folder
        self.index = index
        self.rows = rows
        self.model_id = model_id
        self.saved = Saved(folder.name, journal_length, records, base_size)

    def checksum(self) -> str:
        return _checksum(sum(_term(tuple(r[1:5]), r[5]) for r in self.rows), self.model_id)

    def matching(self, entries: list[Entry]) -> VectorIndex | None:
        """This index with these entries' texts, if it holds exactly them (same identities and texts)."""
        by_identity = {e.identity: e for e in entries}
        if len(by_identity) != len(self.rows) or len(entries) != len(self.rows):
            return None
        mine = []
        for r in self.rows:
            e = by_identity.get(tuple(r[1:5]))
            if e is None or text_digest(e.text) != r[5]:
                return None
            mine.append(e)
        index = VectorIndex(self.index, mine, self.model_id, [r[5] for r in self.rows])
        index.saved = self.saved
        return index

    def reconcile(self, entries: list[Entry], encoder: Encoder) -> tuple[VectorIndex, bool]:
        """This index brought up to these entries: rows whose text is unchanged stay, the others are
        replaced, and only texts this index does not hold at all are encoded. (index, changed)."""
        wanted = {e.identity: (e, text_digest(e.text)) for e in entries}
        placeholder = []
        keep: set[tuple] = set()
        remove = []
        for row, r in enumerate(self.rows):
            identity = tuple(r[1:5])
            hit = wanted.get(identity)
            if hit is not None and hit[1] == r[5] and identity not in keep:
                keep.add(identity)
                placeholder.append(hit[0])
            else:
                remove.append(row)
                placeholder.append(Entry(r[2], r[1], r[3], "", r[4]))  # text unknown; removed below
        current = VectorIndex(self.index, placeholder, self.model_id, [r[5] for r in self.rows])
        current.saved = self.saved
        add = [e for e in entries if e.identity not in keep]
        if not remove and not add:
            return current, False
        index, change, _ = current.apply(np.asarray(remove, np.int64), add, encoder, reuse=np.arange(len(self.rows)))
        index, _ = index.compacted()  # at start: one base, nothing dead
        index.persist(self.folder.parent, current, change)
        return index, True


def _read_folder(folder: Path, model_id: str) -> _Stored:
    faiss = faiss_module()
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise IndexMismatch(f"unreadable manifest in {folder}: {exc}") from exc
    if not isinstance(manifest, dict):
        raise IndexMismatch(f"unreadable manifest in {folder}")
    if manifest.get("model") != model_id:
        raise IndexMismatch(f"index was built with {manifest.get('model')}, not {model_id}")
    if manifest.get("version") != MANIFEST_VERSION:
        raise IndexMismatch(f"index format {manifest.get('version')}, not {MANIFEST_VERSION}")
    try:
        blob = (folder / VECTORS).read_bytes()
        # Already of its own class (IndexIDMap2); never downcast it again, which would leave it unowned.
        index = faiss.deserialize_index(np.frombuffer(blob, dtype=np.uint8))
    except (OSError, RuntimeError) as exc:
        raise IndexMismatch(f"unreadable index in {folder}: {exc}") from exc
    rows = manifest.get("rows")
    if (
        not isinstance(index, faiss.IndexIDMap2)
        or index.d != manifest.get("dimension")
        or not isinstance(rows, list)
        or index.ntotal != len(rows)
        or manifest.get("count") != len(rows)
    ):
        raise IndexMismatch("index does not match its manifest")
    ids = faiss.vector_to_array(index.id_map)
    if any(not isinstance(r, list) or len(r) != 6 or int(i) != r[0] for i, r in zip(ids, rows, strict=True)):
        raise IndexMismatch("index ids do not match its manifest")
    journal = folder / JOURNAL
    data = journal.read_bytes() if journal.exists() else b""
    # Fold the journal into one removal and one addition (the rows end up in the order that applying
    # the records one by one gives).
    removed: set[int] = set()
    added: dict[int, tuple[list[Any], np.ndarray]] = {}
    valid, records = 0, 0
    for end, header, vectors in _records(data, index.d):
        for i in header["remove"]:
            if added.pop(i, None) is None:
                removed.add(i)
        for row, vector in zip(header["add"], vectors, strict=True):
            added[row[0]] = (row, vector)
        valid, records = end, records + 1
    if valid < len(data):
        log.warning("index journal in %s ends with an incomplete record (a crash while saving); ignored", folder)
    if removed:
        index.remove_ids(faiss.IDSelectorBatch(np.fromiter(removed, np.int64, len(removed))))
        rows = [r for r in rows if r[0] not in removed]
    if added:
        index.add_with_ids(
            np.vstack([v for _, v in added.values()]).astype(np.float32), np.fromiter(added, np.int64, len(added))
        )
        rows = rows + [r for r, _ in added.values()]
    return _Stored(folder, index, rows, model_id, valid, records, len(blob))


def _read_current(root: Path, model_id: str) -> _Stored:
    with locked(root):
        name = read_pointer(root)
        if name is None:
            raise IndexMismatch("no index has been saved yet")
        stored = _read_folder(root / name, model_id)
        journal = root / name / JOURNAL
        if _size(journal) > stored.saved.journal_length:
            # Drop the damaged tail now, so that the next record is appended after the last good one.
            with open(journal, "r+b") as fh:
                fh.truncate(stored.saved.journal_length)
                os.fsync(fh.fileno())
        return stored


def _adopt_v1(root: Path, entries: list[Entry], model_id: str) -> VectorIndex | None:
    """An index saved before stable ids, when it holds exactly these entries: its vectors, given ids."""
    faiss = faiss_module()
    name = read_pointer(root)
    if name is None:
        return None
    folder = root / name
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        if (
            manifest.get("version") != 1
            or manifest.get("model") != model_id
            or manifest.get("count") != len(entries)
            or manifest.get("checksum") != _v1_checksum(entries, model_id)
        ):
            return None
        index = faiss.deserialize_index(np.frombuffer((folder / VECTORS).read_bytes(), dtype=np.uint8))
        vectors = faiss.downcast_index(index.index).reconstruct_n(0, index.ntotal)
    except (OSError, ValueError, RuntimeError, AttributeError):
        return None
    if len(vectors) != len(entries):
        return None
    return VectorIndex.from_vectors(entries, vectors, model_id)


def load_or_build(
    root: Path, entries: list[Entry], encoder: Encoder, previous: VectorIndex | None = None
) -> tuple[VectorIndex, bool]:
    """The saved index, brought up to these entries (only changed texts are embedded), or a new one,
    saved. Returns (index, built): built is False when the saved index held exactly these entries."""
    try:
        stored = _read_current(root, encoder.model_id)
    except IndexMismatch as exc:
        adopted = _adopt_v1(root, entries, encoder.model_id)
        if adopted is not None:
            adopted.save(root)
            return adopted, False
        log.info("building the index: %s", exc)
        index = VectorIndex.build(entries, encoder, previous)
        index.save(root)
        return index, True
    return stored.reconcile(entries, encoder)
