"""The publishing process that tests/integration/test_crash.py kills (SIGKILL) at random points.

Run as a fork server: `python -m tests.integration.crash_child` imports the heavy libraries once
(sentence-transformers, FAISS, SQLAlchemy: about 4 s), then reads one JSON command per line on stdin:

    {"cmd": "run", ...}   fork a worker; answers "PID <pid>". The worker loads the encoder, then
                          waits for SIGUSR1 and reads the rest of its command from its "go_file"
    {"cmd": "wait", "pid": n}   reap it; answers "EXIT <pid> <returncode>" (-9: killed)
    {"cmd": "quit"}

A worker builds what the service builds for publishing, on the run's data directory: the store on
its SQLite file, the real encoder (the ONNX export in the test cache), the passages and a Retriever
on <data dir>/index loaded from the store's published pairs (build_runtime's start: the saved index,
brought up to the store). Then it publishes the way api/routes/qa.py does: the store write, then
Runtime.reindex (retriever.load(store.published_pairs(), passages)). It writes a line to the run's
FIFO at every step, so the parent knows which phase a kill landed in:

    START / LOADED            the encoder loaded (before the go: nothing on disk touched yet)
    RESTART / READY           the restart: the store opened, the index loaded and brought up to it
    BEGIN <k>                 publish k starts: the store write
    MARK store-done           committed; the reindex reads the store and diffs
    MARK embed / embedded     VectorIndex.apply: the changed pair's texts embedded, FAISS updated
    MARK persist              the index goes to disk: a journal record appended, unless "save" follows
    MARK save                 the whole index written into a folder beside the old one
    MARK swap / swapped       CURRENT moved to the new folder / old folders removed
    MARK persisted            on disk; BM25 statistics and the vocabulary updated, the snapshot swapped
    DONE <k> <json>           the publish call returned (what the API would answer 200 for)

`self_kill` (a marker name, or "torn-journal") makes the worker kill itself at that exact point of
the target publish: a deterministic crash at each step, beside the parent's random ones.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

# Imported here, in the fork server, so that each worker starts in a second instead of five.
import faiss  # noqa: F401
import numpy  # noqa: F401
import sentence_transformers  # noqa: F401
import sqlalchemy  # noqa: F401

import embeddings.index as index_module
from embeddings.encoder import SentenceEncoder, configure_runtime
from embeddings.index import VectorIndex
from embeddings.retriever import Retriever, Thresholds
from knowledge.passages import load_passages
from knowledge.schema import QAPair
from knowledge.store import Store

BY = "crash-test"


class _Worker:
    def __init__(self, cmd: dict[str, Any]):
        self.cmd = cmd
        self.out = os.open(cmd["fifo"], os.O_WRONLY)
        self.target: int | None = None
        self.self_kill: str | None = None
        self.current: int | None = None

    def say(self, *parts: object) -> None:
        os.write(self.out, (" ".join(str(p) for p in parts) + "\n").encode())

    def mark(self, name: str) -> None:
        self.say("MARK", name)
        if self.self_kill == name and self.current is not None and self.current == self.target:
            os.kill(os.getpid(), signal.SIGKILL)

    def instrument(self) -> None:
        """Phase markers around the steps of a publish (the code itself is unchanged)."""
        worker = self
        apply, persist, save = VectorIndex.apply, VectorIndex.persist, VectorIndex._save
        write_pointer = index_module.write_pointer

        def marked_apply(self, *args, **kwargs):
            worker.mark("embed")
            out = apply(self, *args, **kwargs)
            worker.mark("embedded")
            return out

        def marked_persist(self, *args, **kwargs):
            worker.mark("persist")
            out = persist(self, *args, **kwargs)
            worker.mark("persisted")
            return out

        def marked_save(self, *args, **kwargs):
            worker.mark("save")
            return save(self, *args, **kwargs)

        def marked_pointer(*args, **kwargs):
            worker.mark("swap")
            out = write_pointer(*args, **kwargs)
            worker.mark("swapped")
            return out

        VectorIndex.apply = marked_apply
        VectorIndex.persist = marked_persist
        VectorIndex._save = marked_save
        index_module.write_pointer = marked_pointer
        if self.self_kill == "torn-journal":
            index_module.open = self._torn_open  # type: ignore[attr-defined]

    def _torn_open(self, path, mode="r", *args, **kwargs):
        """open() for embeddings/index.py: the target publish's journal record is cut short by a kill."""
        fh = open(path, mode, *args, **kwargs)  # noqa: SIM115
        if mode != "ab" or self.current != self.target:
            return fh
        write = fh.write

        def torn_write(data: bytes) -> int:
            write(data[: max(1, len(data) // 2)])
            fh.flush()
            os.kill(os.getpid(), signal.SIGKILL)
            return 0

        fh.write = torn_write
        return fh

    def run(self) -> None:
        self.say("START")
        encoder = SentenceEncoder(backend="onnx", cache_dir=Path(self.cmd["encoder_cache"]))
        # Loaded while the parent checks the last run; the rest waits for its go (SIGUSR1), since
        # it reads and writes the data directory.
        self.say("LOADED")
        if signal.sigtimedwait({signal.SIGUSR1}, 600) is None:
            return  # the test is gone
        cmd = {**self.cmd, **json.loads(Path(self.cmd["go_file"]).read_text())}
        self.target, self.self_kill = cmd.get("target"), cmd.get("self_kill")
        # How often a publish writes the whole index instead of a journal record (0: every time).
        if cmd.get("journal_records") is not None:
            index_module.JOURNAL_RECORDS = int(cmd["journal_records"])
        if cmd.get("journal_share") is not None:
            index_module.JOURNAL_SHARE = float(cmd["journal_share"])
        self.instrument()
        self.say("RESTART")
        data = Path(cmd["data"])
        store = Store(cmd["database_url"])
        passages = load_passages()
        retriever = Retriever(encoder, data / "index", Thresholds.default())
        retriever.load(store.published_pairs(), passages)  # build_runtime: runtime.reindex()
        self.say("READY")
        for k, op in enumerate(cmd["ops"]):
            self.current = k
            pair = QAPair.model_validate(op["pair"])
            self.say("BEGIN", k)
            if op["kind"] == "create":
                stored = store.create(pair, BY)
            else:
                now = store.get(pair.id)
                assert now is not None, pair.id
                stored = store.replace(pair, now.version, BY)
            self.mark("store-done")
            retriever.load(store.published_pairs(), passages)  # Runtime.reindex
            self.say("DONE", k, json.dumps({"id": pair.id, "version": stored.version}))
        self.current = None
        self.say("END")
        time.sleep(600)  # wait to be killed: a kill after every publish returned is a run too


def serve() -> None:
    configure_runtime()
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})  # a worker's go waits until it asks
    for raw in sys.stdin:
        cmd = json.loads(raw)
        if cmd["cmd"] == "quit":
            return
        if cmd["cmd"] == "wait":
            _, status = os.waitpid(cmd["pid"], 0)
            code = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
            print("EXIT", cmd["pid"], code, flush=True)
            continue
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                sys.stdin.close()
                _Worker(cmd).run()
            except BaseException:
                import traceback

                traceback.print_exc()
                code = 1
            finally:
                os._exit(code)
        print("PID", pid, flush=True)


if __name__ == "__main__":
    serve()
