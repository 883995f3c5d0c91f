"""Crash safety of publishing: the publishing process is killed (SIGKILL) at random points, and a
restart must serve the old content or the new, whole, and lose nothing whose publish had returned.

The publishing process (tests/integration/crash_child.py) builds what the service builds (the store
on SQLite, the real encoder, the passages, a Retriever on <data dir>/index) and publishes as
api/routes/qa.py does: the store write, then Runtime.reindex. Each run forks one from a fork server
(so a run costs the encoder's load, not Python's imports), lets it publish a few changes (edits of one
pair's answer and alternate, a pair unpublished and published again, new pairs), and kills it at a
uniformly random delay within one publish, measured beforehand: in the store write, the embedding,
the journal write, the new folder's write, the pointer swap, the BM25 update, or after it returned.
Some runs kill it at one exact step instead, and some kill the next restart too.

After each kill the test restarts in process, the way build_runtime does (a Store on the same
file, a Retriever loaded from the store's published pairs), and checks:
(a) every pair is whole in the store: the one in flight exactly its old content or its new, the
    others as last written, each with a consistent version and newest revision;
(b) every publish the child reported as returned is there;
(c) what is served is exactly the store: the index holds one vector per searched text of the
    published pairs and passages, each the encoder's vector of that text; an exact question and a
    changed alternate find their pair first with its current text; each unique marker word of a
    current text is found by BM25 (and known to the typo vocabulary), and no marker of an older or
    unpublished text is; the index on disk was readable after the crash (no rebuild) and reloads
    as exactly what is served.

FAQBOT_CRASH_SEED and FAQBOT_CRASH_RUNS repeat or lengthen a run.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import queue
import random
import signal
import statistics
import string
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from embeddings.index import VectorIndex, content_checksum, text_digest
from embeddings.retriever import Retriever, Thresholds, entries_for
from knowledge.loader import load_pairs
from knowledge.passages import load_passages
from knowledge.schema import QAPair
from knowledge.store import Store
from tests.conftest import REPO, TEST_CACHE, base_env

pytestmark = pytest.mark.integration

RUNS = int(os.environ.get("FAQBOT_CRASH_RUNS", "50"))
OPS_PER_RUN = 3
# Every this many runs, the restart that follows the kill is killed too (at a random point of it).
KILL_RESTART_EVERY = 5
# Exact steps at which one run each kills itself (crash_child.py's markers), beside the random kills.
SELF_KILLS = ("store-done", "embed", "embedded", "persist", "torn-journal", "save", "swap", "swapped", "persisted")
TIMEOUT = 120.0

# The phase a kill landed in, from the last line the child wrote before it.
PHASES = {
    "START": "restart",
    "LOADED": "restart",
    "RESTART": "restart",
    "READY": "between publishes",
    "BEGIN": "store write",
    "store-done": "reindex: read store, diff",
    "embed": "embedding + FAISS update",
    "embedded": "reindex: before persist",
    "persist": "journal append",
    "save": "whole index written beside",
    "swap": "pointer swap",
    "swapped": "old folders removed",
    "persisted": "BM25 + vocabulary + snapshot",
    "DONE": "after the publish returned",
    "END": "after the publish returned",
}


def marker(rng: random.Random) -> str:
    """A made-up word: in one text only, far from every other (no typo mending joins two)."""
    return "zq" + "".join(rng.choice(string.ascii_lowercase) for _ in range(8))


class Zygote:
    """The fork server (crash_child.py) as a process of this test."""

    def __init__(self, log: Path):
        env = base_env(log.parent, HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
        self.log = log
        self.children: set[int] = set()
        self._err = open(log, "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.integration.crash_child"],
            cwd=REPO,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._err,
            text=True,
        )

    def _ask(self, cmd: dict) -> list[str]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()
        answer = self.proc.stdout.readline().split()
        if not answer:
            raise RuntimeError(f"the fork server stopped:\n{self.log.read_text(errors='replace')[-3000:]}")
        return answer

    def fork(self, cmd: dict) -> int:
        pid = int(self._ask({"cmd": "run", **cmd})[1])
        self.children.add(pid)
        return pid

    def wait(self, pid: int) -> int:
        code = int(self._ask({"cmd": "wait", "pid": pid})[2])
        self.children.discard(pid)
        return code

    def close(self) -> None:
        """Stop the workers still there (after a failure), then the fork server."""
        for pid in list(self.children):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            if self.proc.poll() is None:
                self.wait(pid)
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.write(json.dumps({"cmd": "quit"}) + "\n")
            self.proc.stdin.close()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._err.close()


class Lines:
    """What a worker writes to its FIFO, each line with the time it arrived."""

    def __init__(self, path: Path):
        self.path = path
        self.queue: queue.Queue[tuple[float, str] | None] = queue.Queue()
        self.all: list[tuple[float, str]] = []
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        fd = os.open(self.path, os.O_RDONLY)  # until the worker opens its end
        buf = b""
        with os.fdopen(fd, "rb", buffering=0) as fh:
            while chunk := fh.read(65536):
                buf += chunk
                now = time.perf_counter()
                *done, buf = buf.split(b"\n")
                for raw in done:
                    self.queue.put((now, raw.decode()))
        self.queue.put(None)

    def until(self, prefix: str) -> float | None:
        """Wait for a line starting with `prefix`; its arrival time, or None if the worker ended first."""
        deadline = time.monotonic() + TIMEOUT
        while True:
            try:
                item = self.queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty as exc:
                raise TimeoutError(f"no {prefix!r} from the worker; got {[x for _, x in self.all]}") from exc
            if item is None:
                self.queue.put(None)
                return None
            self.all.append(item)
            if item[1].startswith(prefix):
                return item[0]

    def finish(self) -> list[tuple[float, str]]:
        """Every line, once the worker is gone."""
        if self.thread.is_alive() and not self.all:
            # The worker may have died before opening its end: open it, so the reader sees EOF.
            with contextlib.suppress(OSError):
                os.close(os.open(self.path, os.O_WRONLY | os.O_NONBLOCK))
        self.thread.join(30)
        while True:
            try:
                item = self.queue.get_nowait()
            except queue.Empty:
                break
            if item is not None:
                self.all.append(item)
        return self.all


def phase_of(lines: list[tuple[float, str]]) -> str:
    if not lines:
        return "restart"
    last = lines[-1][1].split()
    key = last[1] if last[0] == "MARK" else last[0]
    return PHASES.get(key, key)


@dataclass
class Model:
    """What the store must hold: each pair's content and version, and every marker word ever published."""

    pairs: dict[str, dict[str, Any]]
    versions: dict[str, int]
    markers: dict[str, tuple[str, int]] = field(default_factory=dict)  # marker -> (pair id, run) it was written in

    def text(self, pair_id: str) -> str:
        p = self.pairs[pair_id]
        return " ".join([p["question"], *p["alternates"], p["answer"]])


@dataclass
class Figures:
    runs: int = 0
    kills: Counter = field(default_factory=Counter)
    restart_kills: Counter = field(default_factory=Counter)
    self_kills_reached: list[str] = field(default_factory=list)
    in_flight_new: int = 0
    in_flight_old: int = 0
    acked: int = 0
    recoveries: int = 0
    restart_s: list[float] = field(default_factory=list)
    child_restart_s: list[float] = field(default_factory=list)
    reembedded: int = 0
    torn_journals: int = 0
    publish_ms: list[float] = field(default_factory=list)


class LogRecords(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def make_ops(rng: random.Random, model: Model, run: int, edit_id: str, toggle_id: str) -> list[dict]:
    """A few publishes, each from the content the one before leaves: edit a pair's answer and last
    alternate; unpublish or republish another (its answer changed too); create a new pair."""
    ops = []
    pairs = {k: dict(v) for k, v in model.pairs.items()}
    for k in range(OPS_PER_RUN):
        m = marker(rng)
        kind = rng.choices(["edit", "toggle", "create"], [3, 1, 1])[0]
        if kind == "edit":
            p = dict(pairs[edit_id])
            base = p["answer"].split(" Update ")[0]
            p["answer"] = f"{base} Update {m}."
            p["alternates"] = [*p["alternates"][:-1], f"is there any news on {m} for this?"]
        elif kind == "toggle":
            p = dict(pairs[toggle_id])
            base = p["answer"].split(" Update ")[0]
            p["answer"] = f"{base} Update {m}."
            p["status"] = "draft" if p["status"] == "published" else "published"
        else:
            p = dict(pairs[edit_id])
            p["id"] = f"crash-{run:03d}-{k}"
            p["question"] = f"What does {m} mean for crash run {run} step {k}?"
            p["alternates"] = [f"tell me about {marker(rng)} please", f"explain {marker(rng)} to me"]
            p["answer"] = f"A new answer about {m}, written in run {run}."
        pairs[p["id"]] = p
        ops.append({"kind": "create" if kind == "create" else "replace", "pair": p})
    return ops


def check_store(store: Store, model: Model, ops: list[dict], done: int, begun: int, figures: Figures) -> None:
    """(a) and (b): each pair exactly as before or after its publish, and every returned publish there."""
    expect: dict[str, list[tuple[dict, int]]] = {}
    for k, op in enumerate(ops[:begun]):
        pid = op["pair"]["id"]
        before = (model.pairs[pid], model.versions[pid]) if pid in model.pairs else None
        after = (op["pair"], (model.versions[pid] + 1) if pid in model.pairs else 1)
        if k < done:  # returned: only the new content will do
            expect[pid] = [after]
            figures.acked += 1
        else:  # in flight when killed: the old content or the new, whole
            expect[pid] = [after] + ([before] if before else [])
        model.pairs[pid], model.versions[pid] = after
    in_flight = ops[done]["pair"]["id"] if begun > done else None
    live = {s.pair.id: s for s in store.list_pairs()}
    for pid in set(model.pairs) | set(live):
        stored = live.get(pid)
        options = expect.get(pid, [(model.pairs[pid], model.versions[pid])] if pid in model.pairs else [])
        if stored is None:
            assert pid == in_flight and len(options) == 1 and pid not in [o["pair"]["id"] for o in ops[:done]], (
                f"pair {pid} is missing from the store"
            )
            del model.pairs[pid], model.versions[pid]
            figures.in_flight_old += 1
            continue
        got = (stored.pair.model_dump(mode="json"), stored.version)
        wanted = [(QAPair.model_validate(c).model_dump(mode="json"), v) for c, v in options]
        assert got in wanted, (
            f"pair {pid}: the store holds version {stored.version}, neither of {[v for _, v in wanted]}"
        )
        if pid == in_flight:
            if got == wanted[0]:
                figures.in_flight_new += 1
            else:
                figures.in_flight_old += 1
        model.pairs[pid], model.versions[pid] = got
        revisions = getattr(store, "revisions", None)
        if revisions is not None and pid in expect:
            revs = revisions(pid)
            assert revs and revs[0].number == stored.version, (
                f"pair {pid}: newest revision is not version {stored.version}"
            )
            assert [r.number for r in revs] == sorted({r.number for r in revs}, reverse=True), f"pair {pid}: revisions"
            if revs[0].pair is not None:
                assert revs[0].pair == got[0], f"pair {pid}: the newest revision's pair is not the pair"


class Verifier:
    """The restart (as build_runtime does it, in this process with the shared encoder) and check (c)."""

    def __init__(self, encoder, data: Path, passages):
        self.encoder = encoder
        self.data = data
        self.url = f"sqlite:///{data / 'faqbot.db'}"
        self.passages = passages
        self.vectors: dict[str, np.ndarray] = {}
        self.log = LogRecords()
        logging.getLogger("faqbot").addHandler(self.log)
        logging.getLogger("faqbot").setLevel(logging.INFO)

    def close(self) -> None:
        logging.getLogger("faqbot").removeHandler(self.log)

    def expected_vectors(self, texts: list[str]) -> np.ndarray:
        todo = list(dict.fromkeys(t for t in texts if t not in self.vectors))
        if todo:
            for t, v in zip(todo, self.encoder.encode(todo), strict=True):
                self.vectors[t] = v
        return np.vstack([self.vectors[t] for t in texts])

    def restart(self, figures: Figures) -> tuple[Store, Retriever]:
        self.log.messages.clear()
        t = time.perf_counter()
        store = Store(self.url)
        retriever = Retriever(self.encoder, self.data / "index", Thresholds.default())
        changed = retriever.load(store.published_pairs(), self.passages)
        figures.restart_s.append(time.perf_counter() - t)
        figures.reembedded += int(changed)
        rebuilt = [m for m in self.log.messages if m.startswith("building the index")]
        assert not rebuilt, f"the index on disk was unreadable after the crash: {rebuilt}"
        figures.torn_journals += sum("incomplete record" in m for m in self.log.messages)
        return store, retriever

    def check_served(
        self, store: Store, retriever: Retriever, model: Model, touched: set[str], run: int, rng: random.Random
    ) -> None:
        published = store.published_pairs()
        snap = retriever.snapshot
        assert snap.pairs == {p.id: p for p in published}, "the pairs served are not the store's published pairs"
        # The vectors: one per searched text, each the encoder's vector of that text.
        entries = entries_for(published, self.passages)
        index = snap.index
        served = sorted((e.identity, text_digest(e.text)) for e in index.entries)
        assert served == sorted((e.identity, text_digest(e.text)) for e in entries), "the index is not the store's"
        assert index.checksum == content_checksum(entries, self.encoder.model_id)
        alive = index.alive()
        stored = index.vectors(None if alive is None else np.flatnonzero(alive))
        expected = self.expected_vectors([e.text for e in index.entries])
        cosine = np.einsum("ij,ij->i", stored, expected)
        assert cosine.min() > 0.999, f"a vector is not its text's: {index.entries[int(cosine.argmin())]}"
        # Searches: an exact question and the changed alternate find the pair, with its current text.
        by_id = {p.id: p for p in published}
        others = sorted(set(by_id) - touched)
        for pid in sorted(touched & set(by_id)) + rng.sample(others, min(3, len(others))):
            pair = by_id[pid]
            for query in [pair.question, *pair.alternates[-1:]]:
                # First, or tied with a pair holding the same text.
                hits = retriever.search(query, k=3, kind="qa", mode="dense")
                mine = [h for h in hits if h.key == pid]
                assert mine and mine[0].dense > 0.999 and mine[0].dense >= hits[0].dense - 1e-5, (
                    f"{query!r} does not find {pid} first: {[(h.key, h.dense) for h in hits]}"
                )
                assert mine[0].pair == pair, f"{pid} is served with other text than the store's"
            if pid in touched:
                hits = retriever.search(pair.question, k=1)
                assert hits and hits[0].pair == pair, f"hybrid search of {pair.question!r} does not find {pid}"
        # Marker words: BM25 and the vocabulary know those of current published texts, and no others.
        # (This run's and the last one's markers, and a sample of the older ones.)
        current = {m for pid in by_id for m in _words(pid, model) if m in model.markers}
        recent = [m for m, (_, r) in model.markers.items() if r >= run - 1]
        older = sorted(set(model.markers) - set(recent))
        for m in recent + rng.sample(older, min(40, len(older))):
            pid = model.markers[m][0]
            hits = retriever.search(m, k=2, mode="bm25")
            if m in current:
                assert [h.key for h in hits] == [pid], f"BM25 for {m!r} (in {pid}'s current text) gives {hits}"
                assert snap.vocabulary.counts.get(m, 0) > 0, f"{m!r} is missing from the typo vocabulary"
            else:
                assert not hits, f"{m!r} (not in any published text) is still found: {[h.key for h in hits]}"
                assert snap.vocabulary.counts.get(m, 0) == 0, f"{m!r} is still in the typo vocabulary"
        # The disk holds exactly what is served.
        again = VectorIndex.load(self.data / "index", entries, self.encoder.model_id)
        assert again.checksum == index.checksum


def _words(pid: str, model: Model) -> set[str]:
    return {w.strip(".,?!").lower() for w in model.text(pid).split()}


def record_markers(model: Model, ops: list[dict], run: int) -> None:
    for op in ops:
        p = op["pair"]
        for w in " ".join([p["question"], *p["alternates"], p["answer"]]).split():
            w = w.strip(".,?!").lower()
            if w.startswith("zq") and len(w) == 10:
                model.markers[w] = (p["id"], run)


@dataclass
class Worker:
    pid: int
    lines: Lines
    go_file: Path


def test_publishing_survives_being_killed_anywhere(tmp_path, encoder):
    seed = int(os.environ.get("FAQBOT_CRASH_SEED", str(random.SystemRandom().randrange(1_000_000))))
    print(f"\ncrash test: seed {seed} (FAQBOT_CRASH_SEED={seed} repeats it), {RUNS} random runs")
    rng = random.Random(seed)
    data = tmp_path / "data"
    data.mkdir()
    passages = load_passages()
    verifier = Verifier(encoder, data, passages)
    figures = Figures()

    # The service's first start: the store seeded from the shipped files, the index built.
    store = Store(verifier.url)
    store.seed(load_pairs())
    Retriever(encoder, data / "index", Thresholds.default()).load(store.published_pairs(), passages)
    listed = store.list_pairs()
    model = Model({s.pair.id: s.pair.model_dump(mode="json") for s in listed}, {s.pair.id: s.version for s in listed})
    published = [s.pair for s in listed if s.pair.status == "published" and s.pair.citable]
    edit_id, toggle_id = published[0].id, published[1].id
    store.close()

    zygote = Zygote(tmp_path / "fork-server.log")
    workers = 0

    def fork() -> Worker:
        """A worker that loads the encoder now (while this process checks the last run) and waits."""
        nonlocal workers
        workers += 1
        path = tmp_path / f"fifo-{workers}"
        os.mkfifo(path)
        lines = Lines(path)
        go_file = tmp_path / f"go-{workers}.json"
        cmd = {
            "data": str(data),
            "database_url": verifier.url,
            "encoder_cache": str(TEST_CACHE / "encoder"),
            "fifo": str(path),
            "go_file": str(go_file),
        }
        return Worker(zygote.fork(cmd), lines, go_file)

    def go(worker: Worker, ops: list[dict], **params: Any) -> None:
        worker.go_file.write_text(json.dumps({"ops": ops, **params}))
        os.kill(worker.pid, signal.SIGUSR1)

    def kill(pid: int) -> None:
        os.kill(pid, signal.SIGKILL)
        code = zygote.wait(pid)
        assert code == -signal.SIGKILL, f"the worker exited with {code}:\n{zygote.log.read_text()[-3000:]}"

    def verify(ops: list[dict], lines: list[tuple[float, str]], run: int) -> None:
        done = sum(1 for _, x in lines if x.startswith("DONE"))
        begun = sum(1 for _, x in lines if x.startswith("BEGIN"))
        st, retriever = verifier.restart(figures)
        try:
            check_store(st, model, ops, done, begun, figures)
            touched = {op["pair"]["id"] for op in ops} | {edit_id, toggle_id}
            verifier.check_served(st, retriever, model, touched, run, rng)
        except AssertionError as exc:
            raise AssertionError(f"run {run} (seed {seed}), killed in {phase_of(lines)}: {exc}") from exc
        finally:
            st.close()
        figures.recoveries += 1

    def arrival(lines: list[tuple[float, str]], text: str) -> float:
        return next(t for t, x in lines if x == text)

    try:
        # One run without a kill measures a publish (and a restart) to spread the kills over.
        ops = make_ops(rng, model, 0, edit_id, toggle_id) + make_ops(rng, model, 1, edit_id, toggle_id)
        for k, op in enumerate(ops):
            if op["kind"] == "create":
                op["pair"] = {**op["pair"], "id": f"crash-measure-{k}"}
        record_markers(model, ops, 0)
        worker = fork()
        go(worker, ops, journal_records=2)
        assert worker.lines.until("END") is not None, zygote.log.read_text()[-3000:]
        kill(worker.pid)
        got = worker.lines.finish()
        begins = {x.split()[1]: t for t, x in got if x.startswith("BEGIN")}
        durations = [t - begins[x.split()[1]] for t, x in got if x.startswith("DONE")]
        figures.publish_ms = [d * 1000 for d in durations]
        span = max(durations)
        startup = arrival(got, "READY") - arrival(got, "RESTART")
        print(
            f"  one publish (store write + reindex), measured: {', '.join(f'{d * 1000:.0f}' for d in durations)} ms;"
            f" kills spread over 0..{span * 1000:.0f} ms. A worker's restart (store, index): {startup * 1000:.0f} ms"
            f" after loading the encoder ({arrival(got, 'LOADED') - arrival(got, 'START'):.2f} s)"
        )
        worker = fork()
        verify(ops, got, 0)

        plan: list[str | None] = [None] * RUNS + list(SELF_KILLS)
        for run, self_kill in enumerate(plan, start=1):
            ops = make_ops(rng, model, run, edit_id, toggle_id)
            record_markers(model, ops, run)
            target = rng.randrange(len(ops))
            journal = 0 if self_kill in ("save", "swap", "swapped") else rng.choice([None, None, 0, 2])
            share = 1e9 if self_kill in ("torn-journal", "persist") else None  # a journal record, surely
            if share:
                journal = 10_000
            go(worker, ops, target=target, journal_records=journal, journal_share=share, self_kill=self_kill)
            begin = worker.lines.until(f"BEGIN {target}")
            assert begin is not None, f"run {run}: the worker ended early:\n{zygote.log.read_text()[-3000:]}"
            if self_kill is None:
                time.sleep(max(0.0, begin + rng.uniform(0, span) - time.perf_counter()))
                kill(worker.pid)
            elif worker.lines.until(f"DONE {target}") is not None:
                kill(worker.pid)  # the step never came (no whole save this time): killed now
            else:
                assert zygote.wait(worker.pid) == -signal.SIGKILL, zygote.log.read_text()[-3000:]
            got = worker.lines.finish()
            phase = phase_of(got)
            figures.kills[phase] += 1
            if self_kill is not None and phase != PHASES["DONE"]:
                figures.self_kills_reached.append(self_kill)
            figures.child_restart_s.append(arrival(got, "READY") - arrival(got, "RESTART"))
            if self_kill is None and run % KILL_RESTART_EVERY == 0:
                # A second process restarts on what the crash left, and is killed too.
                second = fork()
                go(second, [])
                t0 = second.lines.until("RESTART")
                assert t0 is not None
                time.sleep(max(0.0, t0 + rng.uniform(0, startup * 1.5) - time.perf_counter()))
                kill(second.pid)
                finished = any(x == "READY" for _, x in second.lines.finish())
                figures.restart_kills["after it finished" if finished else "during the restart"] += 1
            if run < len(plan):
                worker = fork()
            verify(ops, got, run)
            figures.runs += 1
    finally:
        zygote.close()
        verifier.close()

    kills = sum(figures.kills.values()) + sum(figures.restart_kills.values())
    print(f"  runs: {figures.runs} ({RUNS} at random delays, {len(SELF_KILLS)} at exact steps); kills: {kills}")
    print("  kills by phase (the child's last marker before it died):")
    for phase, n in figures.kills.most_common():
        print(f"    {phase:<32} {n}")
    print(f"  restarts killed in turn: {dict(figures.restart_kills)}")
    print(f"  exact steps reached: {', '.join(figures.self_kills_reached)}")
    print(
        f"  recoveries OK: {figures.recoveries}/{figures.runs + 1}; publishes that had returned, all found: "
        f"{figures.acked}; in flight when killed: {figures.in_flight_new} found whole as new, "
        f"{figures.in_flight_old} whole as old"
    )
    print(
        f"  restart (store + index, in process): mean {statistics.mean(figures.restart_s) * 1000:.0f} ms, "
        f"max {max(figures.restart_s) * 1000:.0f} ms; {figures.reembedded} restarts re-embedded what the index "
        f"lacked, {figures.torn_journals} cut a torn journal record; a worker's restart: mean "
        f"{statistics.mean(figures.child_restart_s) * 1000:.0f} ms (+ the encoder's load)"
    )
    print(f"  index folder after it all: {sorted(p.name for p in (data / 'index').iterdir())}")
    assert figures.recoveries == figures.runs + 1
    assert "torn-journal" in figures.self_kills_reached and "swap" in figures.self_kills_reached
