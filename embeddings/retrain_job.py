"""One retraining job, run as a child process of the service: `python -m embeddings.retrain_job <job dir>`.

Reads `<job dir>/input.json` (written by embeddings/retraining.py: the published pairs and passages,
the golden questions, the encoder and retrieval settings, the recipe, the labelled question sets),
then:

1. fine-tunes the encoder on the pairs (embeddings/finetune.py), without making it current;
2. exports it to ONNX (when that is the backend), so the service only has to load it;
3. fits the confidence for it (embeddings/calibration.py) on a retriever over the same content,
   and writes calibration.json into the model's folder (unless the job says `"calibrate": false`, the
   service's first fine-tuning: config.yml's numbers serve it; the collection is still embedded here,
   into the shared vector cache, so that the service's swap need not embed it).

Progress goes to `<job dir>/progress.json` ({stage, progress, message}), replaced whole at every
change; the outcome to `<job dir>/result.json`. A failure writes stage "failed" with the reason and
exits 1; the service keeps serving the model it has. The training (torch) happens here, never in the
serving process, at a lower priority so chat and search keep their CPU.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import tempfile
import time
import traceback
from pathlib import Path

from knowledge.atomic import atomic_write_bytes

log = logging.getLogger("faqbot")

INPUT, PROGRESS, RESULT, LOG = "input.json", "progress.json", "result.json", "job.log"
# Where each stage's progress runs from and to (the service's own stages follow from CHILD_DONE).
TRAIN_FROM, TRAIN_TO = 0.03, 0.7
EXPORT_AT = 0.72
CALIBRATE_FROM, CALIBRATE_TO = 0.76, 0.9
CHILD_DONE = 0.9


def write_json(path: Path, data: dict) -> None:
    atomic_write_bytes(path, json.dumps(data, indent=2, ensure_ascii=False).encode("utf-8"))


def report(job_dir: Path, stage: str, progress: float, message: str = "", **more: str) -> None:
    write_json(
        job_dir / PROGRESS,
        {"stage": stage, "progress": round(progress, 4), "message": message, "at": time.time(), **more},
    )


def run(job_dir: Path) -> dict:
    """Do the job described in job_dir/input.json; returns (and writes) the result."""
    from embeddings.calibration import CalibrationError, Labelled, fit, save_calibration
    from embeddings.encoder import CALIBRATION_FILE, SentenceEncoder, model_digest
    from embeddings.finetune import Recipe, finetune
    from embeddings.retriever import Retriever
    from embeddings.settings import RetrievalSettings
    from knowledge.passages import Passage
    from knowledge.schema import QAPair

    started = time.time()
    report(job_dir, "starting", 0.0, "reading the job")
    job = json.loads((job_dir / INPUT).read_text(encoding="utf-8"))
    pairs = [QAPair.model_validate(p) for p in job["pairs"]]
    passages = [Passage(**{**x, "tags": tuple(x.get("tags", ()))}) for x in job["passages"]]
    questions = [Labelled(q["query"], tuple(q["expected"]), q["origin"]) for q in job["questions"]]
    recipe = Recipe(**job["recipe"])
    retrieval = RetrievalSettings.model_validate(job["retrieval"])
    base_path, root, cache_dir = Path(job["base_path"]), Path(job["finetune_root"]), Path(job["cache_dir"])

    def trained(step: int, steps: int) -> None:
        report(job_dir, "training", TRAIN_FROM + (TRAIN_TO - TRAIN_FROM) * step / steps, f"step {step} of {steps}")

    report(job_dir, "training", TRAIN_FROM, f"fine-tuning on {len(pairs)} published pairs")
    t = time.time()
    model_path = finetune(base_path, model_digest(base_path), pairs, root, recipe, progress=trained, make_current=False)
    seconds = {"training": round(time.time() - t, 1)}

    report(job_dir, "exporting", EXPORT_AT, "loading the new encoder" + (" (ONNX export)" * (job["backend"] == "onnx")))
    t = time.time()
    encoder = SentenceEncoder(model_path, backend=job["backend"], cache_dir=cache_dir, cache_size=0)
    seconds["exporting"] = round(time.time() - t, 1)

    calibrate = job.get("calibrate", True)
    doing = (
        f"fitting the confidence on {len(questions)} labelled questions" if calibrate else "embedding the collection"
    )
    report(job_dir, "calibrating", CALIBRATE_FROM, doing)
    t = time.time()
    calibration, note = None, ""
    with tempfile.TemporaryDirectory(dir=job_dir) as index_dir:
        retriever = Retriever(encoder, Path(index_dir), retrieval.thresholds(), retrieval.scoring(finetuned=True))
        retriever.load(pairs, passages)
        if calibrate:
            report(job_dir, "calibrating", (CALIBRATE_FROM + CALIBRATE_TO) / 2, "scoring the labelled questions")
            try:
                calibration = fit(retriever, questions, retrieval.answer_threshold, encoder.model_id)
            except CalibrationError as exc:
                note = f"the confidence was not refitted ({exc}); config.yml's numbers serve"
        else:
            note = "config.yml's confidence for fine-tuned models serves"
    if calibration is not None:
        save_calibration(model_path, calibration)
    elif calibrate:
        # A calibration.json left from an earlier fit of this model does not describe this content.
        (model_path / CALIBRATION_FILE).unlink(missing_ok=True)
    seconds["calibrating"] = round(time.time() - t, 1)
    seconds["total"] = round(time.time() - started, 1)
    result = {
        "model_path": str(model_path),
        "model_id": encoder.model_id,
        "calibration": calibration.to_json() if calibration else None,
        "note": note,
        "seconds": seconds,
    }
    write_json(job_dir / RESULT, result)
    report(job_dir, "trained", CHILD_DONE, f"model {encoder.model_id} ready")
    return result


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m embeddings.retrain_job <job dir>", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    with contextlib.suppress(OSError):
        os.nice(10)  # the service answering visitors comes first
    job_dir = Path(argv[0])
    try:
        run(job_dir)
    except BaseException as exc:
        traceback.print_exc()
        try:
            last = json.loads((job_dir / PROGRESS).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            last = {}
        report(
            job_dir,
            "failed",
            float(last.get("progress", 0.0)),
            f"{type(exc).__name__}: {exc}",
            failed_stage=str(last.get("stage") or "starting"),
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
