"""Retraining in the background: the fine-tuned encoder and its confidence, from the published pairs.

Started by an editor (POST /api/retrain), every `retrain.schedule_hours` (config.yml), or at a start
that finds no fine-tuned model (`encoder.finetune` on; start_first): the service then answers at once
with the base model while the first one is trained. One job at a time. The heavy part runs in a child
process (`python -m embeddings.retrain_job <job dir>`): it is fed a job file written here (the
published pairs and passages, the golden questions, the labelled question sets' dev rows, the
settings) and writes its progress to a JSON file, replaced whole, which status() reads. It fine-tunes
the encoder (embeddings/finetune.py), exports it to ONNX and fits the confidence for it
(embeddings/calibration.py: calibration.json in the model's folder; not for the first fine-tuning).

Then, in the service: the new encoder is loaded, the whole published collection embedded again into
a new index beside the one in use while the old one keeps answering (Retriever.swap_encoder), the two
swapped at once, and the new model made current (finetune/CURRENT) so that the next start uses it.
At every point a crash restarts on a consistent index: the index manifest names its encoder, and an
index of another encoder than the current model is rebuilt at start (embeddings/index.py). A failed
job leaves the old model and confidence serving, with state "failed" and the reason.

The last job's outcome is kept in <data_dir>/retrain/status.json, so it survives a restart.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import fcntl
import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from embeddings.calibration import labelled_questions, served_scoring
from embeddings.encoder import SentenceEncoder, model_digest
from embeddings.finetune import Recipe, is_finetuned, promote
from embeddings.loading import base_model_path, current_encoder_path, finetune_dir
from embeddings.retrain_job import CHILD_DONE, INPUT, LOG, PROGRESS, RESULT, write_json
from embeddings.settings import EncoderSettings, RetrainSettings, RetrievalSettings
from knowledge.atomic import remove_stale
from knowledge.passages import Passage
from knowledge.schema import QAPair

if TYPE_CHECKING:
    from embeddings.retriever import Retriever

log = logging.getLogger("faqbot")

PROJECT = Path(__file__).resolve().parent.parent
STATUS = "status.json"
# Held (flock) by the service whose first-start job fine-tunes for a cache folder, so that replicas
# sharing that folder train once: the others serve the base model and adopt the result (Runtime.sync).
FIRST_START_LOCK = ".first-start.lock"
FIRST_START = "first start"
LOADING_AT, INDEXING_AT, SWAPPING_AT = 0.91, 0.93, 0.98
POLL_SECONDS = 0.25


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _passage_json(x: Passage) -> dict:
    return {**asdict(x), "tags": list(x.tags)}


class Retrainer:
    """Runs retraining jobs one at a time and swaps their result in; see the module's docstring."""

    def __init__(
        self,
        retriever: Retriever,
        settings: RetrainSettings,
        encoder: EncoderSettings,
        retrieval: RetrievalSettings,
        cache_dir: Path,
        work_dir: Path,
        pairs: Callable[[], list[QAPair]],
        passages: Callable[[], list[Passage]],
        golden: Callable[[], list[tuple[str, str]]],
        calibration_sets: list[Path],
    ):
        self.retriever = retriever
        self.settings = settings
        self.encoder_settings = encoder
        self.retrieval = retrieval
        self.cache_dir = cache_dir
        self.work_dir = work_dir
        self.pairs = pairs
        self.passages = passages
        self.golden = golden
        self.calibration_sets = calibration_sets
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._proc: subprocess.Popen | None = None
        self._stopping = threading.Event()
        self._schedule: threading.Thread | None = None
        self._next_at: float | None = None
        self._job_dir: Path | None = None
        self._first_lock: IO[str] | None = None
        self._state: dict[str, Any] = {
            "state": "idle",
            "stage": "",
            "progress": 0.0,
            "started_at": None,
            "finished_at": None,
            "message": "",
            "started_by": None,
            "calibration": None,
            "input_digest": None,
        }
        self._restore()

    # --- status ---------------------------------------------------------------------------

    @property
    def enabled(self) -> bool:
        return self.settings.enabled and self.encoder_settings.finetune

    @property
    def running(self) -> bool:
        with self._lock:
            return self._state["state"] == "running"

    def status(self) -> dict[str, Any]:
        """{state, stage, progress, started_at, finished_at, message, model, schedule, ...}."""
        with self._lock:
            out = dict(self._state)
            job_dir = self._job_dir if out["state"] == "running" else None
        if job_dir is not None and out["progress"] < CHILD_DONE:
            child = _read_json(job_dir / PROGRESS)
            if child and child.get("stage") not in (None, "failed"):
                out.update(stage=child["stage"], progress=float(child["progress"]), message=child.get("message", ""))
        out.pop("input_digest", None)
        out["model"] = self.retriever.encoder.model_id
        out["enabled"] = self.enabled
        out["schedule"] = {
            "every_hours": self.settings.schedule_hours or None,
            "next_at": dt.datetime.fromtimestamp(self._next_at, dt.UTC).isoformat(timespec="seconds")
            if self._next_at and self.enabled
            else None,
        }
        return out

    def _set(self, **changes: Any) -> None:
        with self._lock:
            self._state.update(changes)

    def _restore(self) -> None:
        saved = _read_json(self.work_dir / STATUS)
        if not saved:
            return
        keys = {k: saved[k] for k in self._state if k in saved}
        if keys.get("state") == "running":  # the service stopped (or died) during that job
            keys.update(state="failed", message="interrupted: the service stopped while it ran", finished_at=None)
        self._state.update(keys)

    def _save_status(self) -> None:
        with self._lock:
            state = dict(self._state)
        try:
            write_json(self.work_dir / STATUS, state)
        except OSError:
            log.exception("retrain: could not save its status")

    # --- jobs -----------------------------------------------------------------------------

    def start(self, by: str = "", scheduled: bool = False, first: bool = False) -> bool:
        """Start a job in the background; False when one is running already (or retraining is off).

        `first`: the first fine-tuning (start_first), which `encoder.finetune` alone allows."""
        if not (self.encoder_settings.finetune if first else self.enabled):
            return False
        with self._lock:
            if self._state["state"] == "running" or self._stopping.is_set():
                return False
            self._state.update(
                state="running",
                stage="preparing",
                progress=0.0,
                started_at=_now(),
                finished_at=None,
                message="collecting the published pairs and golden questions",
                started_by=by or ("schedule" if scheduled else None),
                calibration=None,
            )
            self._thread = threading.Thread(target=self._run, args=(scheduled, first), name="retrain", daemon=True)
            self._thread.start()
        return True

    def needs_first(self) -> bool:
        """Fine-tuning is on, the encoder serving is the base model, and no fine-tuned model of it is current."""
        if not self.encoder_settings.finetune:
            return False
        served = getattr(self.retriever.encoder, "model_path", None)
        if served is not None and is_finetuned(Path(served)):
            return False
        return current_encoder_path(self.encoder_settings, self.cache_dir) is None

    def start_first(self) -> bool:
        """At a start without a fine-tuned model: train one in the background now, while the base model
        (with config.yml's confidence fitted for it) answers; it is swapped in when ready, as a retrain's.

        The job is a retrain's with the recipe (and `retrain.epochs`), without refitting the confidence:
        config.yml's numbers for fine-tuned models serve it, as they did when the first start trained in
        the serving process. A service sharing the cache folder with another that is doing this already
        (replicas) does not: it serves the base model and adopts the other's model once that is current
        (api/runtime.py Runtime.sync). False when no job was started."""
        if not self.needs_first():
            return False
        root = finetune_dir(self.cache_dir, base_model_path(self.encoder_settings))
        root.mkdir(parents=True, exist_ok=True)
        fh = open(root / FIRST_START_LOCK, "w")  # noqa: SIM115 - held until the job ends (_run)
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.close()
            log.info("retrain: another service is fine-tuning the first model for %s; it is adopted when ready", root)
            return False
        if current_encoder_path(self.encoder_settings, self.cache_dir) is not None:  # made while we looked
            fh.close()
            return False
        self._first_lock = fh
        if not self.start(by=FIRST_START, first=True):
            self._release_first()
            return False
        log.info("retrain: no fine-tuned model yet; serving %s while one is trained", self.retriever.encoder.model_id)
        return True

    def _release_first(self) -> None:
        fh, self._first_lock = self._first_lock, None
        if fh is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(fh, fcntl.LOCK_UN)
            fh.close()

    def wait(self, timeout: float | None = None) -> dict[str, Any]:
        """Wait for the running job (if any) to end; its status."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
        return self.status()

    def _run(self, scheduled: bool, first: bool = False) -> None:
        started = time.monotonic()
        try:
            job = self._job_input()
            # The first fine-tuning keeps config.yml's confidence for fine-tuned models (see start_first).
            job["calibrate"] = not first
            digest = _digest(job)
            if scheduled and digest == self._last_success_digest():
                self._set(state="succeeded", stage="done", progress=1.0, finished_at=_now())
                self._set(message="nothing changed since the last retrain; the model serving stays")
                return
            result = self._train(job)
            self._swap_in(result)
            figures = result.get("calibration")
            calibrated = (
                f"confidence refitted on {figures['n']} questions (accuracy {figures['accuracy']:.3f} at the answer "
                f"threshold, Brier {figures['brier']:.3f})"
                if figures
                else result.get("note") or "config.yml's confidence serves"
            )
            self._set(
                state="succeeded",
                stage="done",
                progress=1.0,
                finished_at=_now(),
                calibration=figures,
                input_digest=digest,
                message=f"serving {result['model_id']} after {time.monotonic() - started:.0f} s; {calibrated}",
            )
            log.info("retrain: %s", self.status()["message"])
        except Exception as exc:
            log.exception("retrain failed; the model serving stays")
            with self._lock:
                stage = self._state["stage"]
            message = str(exc) if isinstance(exc, RetrainFailed) else f"{type(exc).__name__}: {exc}"
            self._set(state="failed", finished_at=_now(), message=f"{stage}: {message}; the model serving stays")
        finally:
            self._save_status()
            if first:
                self._release_first()

    def _job_input(self) -> dict[str, Any]:
        """What the child is fed: everything it learns from and the settings it needs."""
        recipe = Recipe()
        if self.settings.epochs:
            recipe = dataclasses.replace(recipe, epochs=self.settings.epochs)
        base = base_model_path(self.encoder_settings)
        published = [p for p in self.pairs() if p.status == "published"]
        questions = labelled_questions(self.golden(), self.calibration_sets)
        return {
            "pairs": [p.model_dump(mode="json") for p in sorted(published, key=lambda p: p.id)],
            "passages": [_passage_json(x) for x in self.passages()],
            "questions": [{"query": q.query, "expected": list(q.expected), "origin": q.origin} for q in questions],
            "recipe": asdict(recipe),
            "retrieval": self.retrieval.model_dump(mode="json"),
            "base_path": str(base),
            "base_model_id": model_digest(base),
            "finetune_root": str(finetune_dir(self.cache_dir, base)),
            "cache_dir": str(self.cache_dir),
            "backend": self.encoder_settings.backend,
        }

    def _last_success_digest(self) -> str | None:
        with self._lock:
            return self._state.get("input_digest")

    def _train(self, job: dict[str, Any]) -> dict[str, Any]:
        """Run the child on this job; its result (RetrainFailed when it fails, is stopped or runs too long)."""
        self.work_dir.mkdir(parents=True, exist_ok=True)
        remove_stale(self.work_dir)
        for old in self.work_dir.glob("job-*"):
            shutil.rmtree(old, ignore_errors=True)  # one job at a time: what is left is an older one's
        job_dir = self.work_dir / f"job-{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}"
        job_dir.mkdir()
        write_json(job_dir / INPUT, job)
        with self._lock:
            self._job_dir = job_dir
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([str(PROJECT), *filter(None, [env.get("PYTHONPATH")])])
        deadline = time.monotonic() + self.settings.timeout_minutes * 60
        with open(job_dir / LOG, "wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "embeddings.retrain_job", str(job_dir)],
                cwd=PROJECT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a Ctrl-C meant for the service is the service's to pass on
            )
        self._proc = proc
        try:
            while proc.poll() is None:
                if self._stopping.is_set():
                    _end(proc)
                    raise RetrainFailed("stopped with the service")
                if time.monotonic() > deadline:
                    _end(proc)
                    raise RetrainFailed(f"took longer than {self.settings.timeout_minutes:g} minutes and was stopped")
                time.sleep(POLL_SECONDS)
        finally:
            self._proc = None
        progress = _read_json(job_dir / PROGRESS) or {}
        result = _read_json(job_dir / RESULT)
        if proc.returncode != 0 or not result:
            failed = progress.get("stage") == "failed"
            self._set(stage=progress.get("failed_stage") if failed else progress.get("stage") or "starting")
            reason = progress.get("message") if failed else None
            raise RetrainFailed(reason or f"the training process exited with {proc.returncode} (see {job_dir / LOG})")
        self._set(stage=progress.get("stage", "trained"), progress=CHILD_DONE, message=progress.get("message", ""))
        return result

    def _swap_in(self, result: dict[str, Any]) -> None:
        """Load the new encoder, index the collection with it beside the index in use, swap, make it current."""
        model_path = Path(result["model_path"])
        self._set(stage="loading", progress=LOADING_AT, message=f"loading {result['model_id']}")
        s = self.encoder_settings
        encoder = SentenceEncoder(model_path, backend=s.backend, cache_dir=self.cache_dir, cache_size=s.cache_size)
        if encoder.model_id != result["model_id"]:
            raise RetrainFailed(f"the model loaded is {encoder.model_id}, not the {result['model_id']} trained")
        scoring = served_scoring(self.retrieval, model_path, finetuned=True)
        self._set(stage="indexing", progress=INDEXING_AT, message="embedding the published collection again")
        self._keep_base_encoder()
        self.retriever.swap_encoder(encoder, scoring)
        self._set(stage="swapping", progress=SWAPPING_AT, message="making the new model current")
        promote(model_path.parent, model_path)  # the fine-tuned models of its base (finetune_dir)
        _drop_exports(self.cache_dir)

    def adopt(self, model_path: Path) -> None:
        """Serve a fine-tuned model that another replica sharing the cache folder made current."""
        s = self.encoder_settings
        encoder = SentenceEncoder(model_path, backend=s.backend, cache_dir=self.cache_dir, cache_size=s.cache_size)
        self._keep_base_encoder()
        self.retriever.swap_encoder(encoder, served_scoring(self.retrieval, model_path, finetuned=True))
        log.info("retrain: now serving %s, made current elsewhere", encoder.model_id)

    def _keep_base_encoder(self) -> None:
        """When the base model serves (a first start) and a model fine-tuned from it is about to replace
        it: keep it as the retriever's base encoder, for the collections that prefer it
        (`retrieval.encoder_per_collection`), as a start with the fine-tuned model loads it (api/runtime.py
        load_base_encoder). Set before the swap: until then base and served are one model, which the
        retriever treats as no choice."""
        served = self.retriever.encoder
        folder = getattr(served, "model_path", None)
        if (
            self.retrieval.encoder_per_collection
            and self.retriever.base_encoder is None
            and folder is not None
            and not is_finetuned(Path(folder))
            and Path(folder).resolve() == base_model_path(self.encoder_settings).resolve()
        ):
            self.retriever.base_encoder = served

    # --- schedule -------------------------------------------------------------------------

    def start_schedule(self) -> None:
        """Retrain every `schedule_hours` in a background thread (nothing when 0 or retraining is off)."""
        if not self.enabled or not self.settings.schedule_hours or self._schedule is not None:
            return
        interval = self.settings.schedule_hours * 3600
        self._next_at = time.time() + interval

        def loop() -> None:
            while not self._stopping.wait(max(0.0, (self._next_at or 0) - time.time())):
                self._next_at = time.time() + interval
                if self.start(by="schedule", scheduled=True):
                    log.info("retrain: the scheduled job started")

        self._schedule = threading.Thread(target=loop, name="retrain-schedule", daemon=True)
        self._schedule.start()

    def stop(self, timeout: float = 30) -> None:
        """Stop the schedule and any running job (its child is ended; the old model keeps serving)."""
        self._stopping.set()
        for thread in (self._schedule, self._thread):
            if thread is not None:
                thread.join(timeout)
        self._next_at = None


class RetrainFailed(RuntimeError):
    pass


def _end(proc: subprocess.Popen) -> None:
    """End the child we started: asked first, then killed."""
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _drop_exports(cache_dir: Path) -> None:
    """Remove the ONNX exports of fine-tuned models that are gone (promote keeps the current and the one before)."""
    kept = {m.name for m in finetune_dir(cache_dir).rglob("finetuned-*") if m.is_dir()}  # every base's
    for export in cache_dir.glob("finetuned-*-*"):
        if export.name.rsplit("-", 1)[0] not in kept:
            if export.is_symlink():
                export.unlink()
            else:
                shutil.rmtree(export, ignore_errors=True)


def _read_json(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _digest(job: dict[str, Any]) -> str:
    """What a job learns from and makes: the same digest, the same model and calibration."""
    return hashlib.sha256(json.dumps(job, sort_keys=True).encode("utf-8")).hexdigest()[:16]
