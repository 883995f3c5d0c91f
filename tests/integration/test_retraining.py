"""Retraining in the background (embeddings/retraining.py, /api/retrain): a real fine-tuning in a real
child process, through the API of the service in process, with chat and search answering meanwhile.

The service starts on a copy of the test cache's fine-tuned encoder (so nothing there is replaced) and
retrains with one epoch, which makes another model: the one swapped in.
"""

import json
import shutil
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from embeddings.calibration import load_calibration
from embeddings.encoder import SentenceEncoder
from embeddings.finetune import CURRENT
from embeddings.index import MANIFEST, VectorIndex
from embeddings.loading import encoder_path
from embeddings.retraining import Retrainer
from embeddings.retriever import Retriever, entries_for
from embeddings.settings import EncoderSettings, RetrievalSettings
from knowledge.atomic import read_pointer
from knowledge.loader import load_pairs
from knowledge.passages import load_passages
from tests.conftest import TEST_CACHE, make_token

pytestmark = pytest.mark.integration

QUESTION = "is the liberation procedure proven?"
# The retrain here learns from this many pairs (one epoch): a minute or less on two free cores.
TRAIN_PAIRS = 12


@pytest.fixture(scope="module")
def encoder_cache(tmp_path_factory) -> Path:
    """An encoder cache of our own holding the test cache's fine-tuned model (trained there if missing)."""
    shared = TEST_CACHE / "encoder"
    tuned = encoder_path(EncoderSettings(finetune=True), shared, load_pairs())
    assert tuned is not None
    SentenceEncoder(tuned, backend="onnx", cache_dir=shared)  # its ONNX export, made once
    cache = tmp_path_factory.mktemp("retrain") / "encoder"
    (cache / "finetuned").mkdir(parents=True)
    shutil.copytree(tuned, cache / "finetuned" / tuned.name)
    (cache / "finetuned" / CURRENT).write_text(tuned.name)
    for export in shared.iterdir():  # the exports are only read: shared, not copied
        if export.is_dir() and not export.name.startswith(".") and export.name != "finetuned":
            (cache / export.name).symlink_to(export)
    return cache


@pytest.fixture(scope="module")
def service(encoder_cache, tmp_path_factory):
    import os

    from api.main import create_app
    from api.settings import Settings
    from tests.conftest import base_env

    data = tmp_path_factory.mktemp("retrain-data") / "data"
    saved = dict(os.environ)
    os.environ.update(base_env(data, FAQBOT_BOT__ENABLED="false"))
    try:
        settings = Settings(encoder={"cache_dir": str(encoder_cache)}, retrain={"epochs": 1})
        with TestClient(create_app(settings)) as client:
            runtime = client.app.state.runtime  # type: ignore[attr-defined]
            client.headers["Authorization"] = f"Bearer {make_token(runtime, 'editor')}"
            yield client, runtime, settings
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _served_index_model(index_dir: Path) -> str:
    name = read_pointer(index_dir)
    assert name is not None
    return json.loads((index_dir / name / MANIFEST).read_text())["model"]


def test_only_editors_and_admins_see_or_start_a_retrain(service):
    client, runtime, _ = service
    assert client.get("/api/retrain", headers={"Authorization": ""}).status_code == 401
    staff = {"Authorization": f"Bearer {make_token(runtime, 'staff')}"}
    assert client.get("/api/retrain", headers=staff).status_code == 403
    assert client.post("/api/retrain", headers=staff).status_code == 403
    body = client.get("/api/retrain").json()
    assert body["state"] == "idle" and body["model"] == runtime.retriever.encoder.model_id
    assert body["schedule"] == {"every_hours": None, "next_at": None} and body["enabled"] is True


def test_a_retrain_reports_progress_keeps_answering_and_swaps_in_the_new_model(service, encoder_cache, monkeypatch):
    client, runtime, settings = service
    # Trained on a few of the pairs, for time (the whole collection is still indexed and served).
    monkeypatch.setattr(runtime.retrainer, "pairs", lambda: runtime.store.published_pairs()[:TRAIN_PAIRS])
    before = runtime.retriever.encoder.model_id
    config_a = settings.retrieval.calibration_a
    assert runtime.retriever.scoring.calibration_a == config_a  # the copied model has no calibration.json
    started = time.monotonic()
    r = client.post("/api/retrain")
    assert r.status_code == 202 and r.json()["state"] == "running"
    again = client.post("/api/retrain")
    assert again.status_code == 409 and again.json()["error"] == "retrain_running"

    seen: list[tuple[str, float]] = []
    answered = 0
    while True:
        status = client.get("/api/retrain").json()
        if status["state"] != "running":
            break
        seen.append((status["stage"], status["progress"]))
        reply = client.post("/api/chat", json={"message": QUESTION}).json()["replies"][0]
        assert reply["kind"] == "answer" and reply["answer"]["id"] == "liberation-procedure-proven"
        hits = client.get("/api/search", params={"q": QUESTION, "k": 3}).json()["results"]
        assert hits[0]["id"] == "liberation-procedure-proven"
        answered += 1
        assert time.monotonic() - started < 600, status
        time.sleep(0.5)
    took = time.monotonic() - started
    assert status["state"] == "succeeded", status
    print(f"\nretrain took {took:.1f} s: {status['message']}")

    stages = [s for s, _ in seen]
    assert {"training", "calibrating"} <= set(stages), stages
    assert any(s == "training" and 0 < p < 1 for s, p in seen)
    progress = [p for _, p in seen]
    assert progress == sorted(progress) and answered >= 3

    # The new model serves, with the confidence fitted for it, and is what the next start uses.
    after = runtime.retriever.encoder.model_id
    assert after != before and status["model"] == after and status["progress"] == 1.0
    model_path = runtime.retriever.encoder.model_path
    calibration = load_calibration(model_path)
    assert calibration is not None and calibration.model_id == after
    assert status["calibration"]["a"] == calibration.a and calibration.golden > 0 and calibration.dev > 0
    scoring = runtime.retriever.scoring
    assert (scoring.calibration_a, scoring.calibration_rare, scoring.calibration_unknown, scoring.calibration_b) == (
        calibration.a,
        calibration.rare,
        calibration.unknown,
        calibration.b,
    )
    assert scoring.calibration_a != config_a
    print(f"fitted {calibration}")
    assert read_pointer(encoder_cache / "finetuned", CURRENT) == model_path.name
    assert _served_index_model(settings.index_dir) == after
    reply = client.post("/api/chat", json={"message": QUESTION}).json()["replies"][0]
    assert reply["kind"] == "answer" and reply["answer"]["id"] == "liberation-procedure-proven"


def test_a_failed_job_leaves_the_old_model_serving(service, monkeypatch):
    client, runtime, settings = service
    model, scoring = runtime.retriever.encoder.model_id, runtime.retriever.scoring
    real = Retrainer._job_input

    def corrupt(self):
        job = real(self)
        job["pairs"] = [{"id": "not a pair"}]
        return job

    monkeypatch.setattr(Retrainer, "_job_input", corrupt)
    assert client.post("/api/retrain").status_code == 202
    status = runtime.retrainer.wait(120)
    assert status["state"] == "failed" and "ValidationError" in status["message"], status
    assert status["stage"] == "starting" and status["finished_at"]
    assert runtime.retriever.encoder.model_id == model and runtime.retriever.scoring == scoring
    assert client.get("/api/retrain").json()["model"] == model
    assert _served_index_model(settings.index_dir) == model
    reply = client.post("/api/chat", json={"message": QUESTION}).json()["replies"][0]
    assert reply["answer"]["id"] == "liberation-procedure-proven"


def test_the_next_start_serves_the_retrained_model_with_its_confidence_and_index(service):
    from api.runtime import build_runtime

    _client, runtime, settings = service
    model, scoring = runtime.retriever.encoder.model_id, runtime.retriever.scoring
    again = build_runtime(settings)
    try:
        assert again.retriever.encoder.model_id == model and again.retriever.scoring == scoring
        assert again.retrainer.status()["state"] == "failed"  # the last job's outcome is remembered
        assert again.reindex() is False  # the index on disk is the retrained model's: reused, not rebuilt
    finally:
        again.store.close()


def test_swapping_the_encoder_applies_what_was_published_while_the_new_index_was_built(
    tmp_path, encoder, encoder_cache, monkeypatch
):
    """A publish that lands while the whole collection is embedded again is not lost in the swap."""
    tuned = SentenceEncoder(
        encoder_path(EncoderSettings(finetune=True), TEST_CACHE / "encoder", []), cache_dir=TEST_CACHE / "encoder"
    )
    pairs, passages = load_pairs(), load_passages()
    scoring = RetrievalSettings().scoring(finetuned=False)
    retriever = Retriever(encoder, tmp_path / "index", RetrievalSettings().thresholds(), scoring)
    retriever.load(pairs, passages)
    edited = pairs[0].model_copy(update={"question": "Which colour is the hospital's front door?"})
    build = VectorIndex.build

    def build_while_publishing(entries, enc, previous=None):
        index = build(entries, enc, previous)
        retriever.load([edited, *pairs[1:]], passages)  # an editor publishes meanwhile, on the old encoder
        return index

    monkeypatch.setattr(VectorIndex, "build", build_while_publishing)
    new_scoring = RetrievalSettings().scoring(finetuned=True)
    assert retriever.swap_encoder(tuned, new_scoring) is True
    assert retriever.encoder is tuned and retriever.scoring == new_scoring
    assert retriever.search(edited.question, 1)[0].key == edited.id
    assert retriever.snapshot.index.model_id == tuned.model_id
    # On disk: exactly the served content, by the new encoder.
    monkeypatch.undo()
    served = entries_for([edited, *pairs[1:]], passages)
    assert len(VectorIndex.load(tmp_path / "index", served, tuned.model_id)) == len(served)
    assert retriever.swap_encoder(tuned, scoring) is False and retriever.scoring == scoring
