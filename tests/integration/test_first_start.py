"""The first start (no fine-tuned model yet): the service answers at once with the packaged encoder while
the fine-tuning runs in a child process, then swaps the fine-tuned encoder in without a restart.

A real `python -m api` (Rasa off) on a fresh data folder and an encoder cache with no fine-tuned model:
only the packaged model's ONNX export, crisis net and vectors are shared from the test cache, for time.
The fine-tuning is a real one, of one epoch. A second service (in process) sharing that cache folder, as
a replica does, starts no fine-tuning of its own and adopts the first one's model.
"""

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from api.runtime import build_runtime
from api.settings import Settings
from embeddings.encoder import DEFAULT_MODEL_NAME
from embeddings.finetune import CURRENT
from knowledge.atomic import read_pointer
from tests.conftest import REPO, TEST_CACHE, base_env, ensure_finetuned_encoder, start_server

pytestmark = pytest.mark.integration

QUESTION = "is the liberation procedure proven?"
PAIR = "liberation-procedure-proven"


@pytest.fixture
def fresh_cache(tmp_path, encoder) -> Path:
    """An encoder cache without a fine-tuned model, sharing the packaged model's export and its files."""
    shared, cache = TEST_CACHE / "encoder", tmp_path / "encoder"
    (cache / "vectors").mkdir(parents=True)
    export = encoder.model_id.replace("@", "-")
    (cache / export).symlink_to(shared / export)  # only read
    for name in ("crisis_net.json", f"vectors/{export}.sqlite"):
        if (shared / name).exists():
            shutil.copyfile(shared / name, cache / name)
    return cache


def _serving_torch(pid: int) -> bool:
    return "libtorch" in Path(f"/proc/{pid}/maps").read_text()


def test_the_first_start_answers_with_the_packaged_encoder_then_swaps_in_the_fine_tuned_one(
    tmp_path, fresh_cache, encoder, monkeypatch
):
    server = start_server(
        tmp_path / "data",
        wait_for_bot=False,
        FAQBOT_BOT__ENABLED="false",
        FAQBOT_ENCODER__CACHE_DIR=str(fresh_cache),
        FAQBOT_RETRAIN__EPOCHS="1",
    )
    replica = None
    try:
        editor = {"Authorization": f"Bearer {server.token('editor')}"}
        staff = {"Authorization": f"Bearer {server.token('staff')}"}
        with httpx.Client(base_url=server.base_url, timeout=60) as c:
            # At once: the packaged model serves, and /healthz says a fine-tuning is under way.
            index = c.get("/healthz").json()["index"]
            assert index["model"].startswith(f"{DEFAULT_MODEL_NAME}@")
            assert index["retraining"]["started_by"] == "first start"
            reply = c.post("/api/chat", json={"message": QUESTION}).json()["replies"][0]
            assert reply["kind"] == "answer" and reply["answer"]["id"] == PAIR
            assert (
                c.get("/api/search", params={"q": QUESTION, "k": 3}, headers=staff).json()["results"][0]["id"] == PAIR
            )
            status = c.get("/api/retrain", headers=editor).json()
            assert status["state"] == "running" and status["started_by"] == "first start", status  # still training
            # Another replica sharing the cache folder, starting now, trains nothing: it adopts this one's model.
            env = base_env(
                tmp_path / "replica", FAQBOT_BOT__ENABLED="false", FAQBOT_ENCODER__CACHE_DIR=str(fresh_cache)
            )
            for k, v in env.items():
                monkeypatch.setenv(k, v)
            replica = build_runtime(Settings())
            assert replica.retrainer.start_first() is False and not replica.retrainer.running
            assert replica.retriever.encoder.model_id == encoder.model_id

            started = time.monotonic()
            while status["state"] == "running":
                assert time.monotonic() - started < 900, status
                time.sleep(2)
                status = c.get("/api/retrain", headers=editor).json()
            assert status["state"] == "succeeded", status

            # Swapped in without a restart: the fine-tuned encoder serves chat and search.
            index = c.get("/healthz").json()["index"]
            assert index["model"].startswith("finetuned-") and "retraining" not in index
            assert status["model"] == index["model"]
            assert (
                c.get("/api/search", params={"q": QUESTION, "k": 3}, headers=staff).json()["results"][0]["id"] == PAIR
            )
            reply = c.post("/api/chat", json={"message": QUESTION}).json()["replies"][0]
            assert reply["kind"] == "answer" and reply["answer"]["id"] == PAIR
        # The other replica adopts it at its next sync, keeping the packaged model for the collections that
        # prefer it, as a start with the fine-tuned model does.
        assert replica.sync() == ["model"] and replica.retriever.encoder.model_id == index["model"]
        assert (
            replica.retriever.base_encoder is not None and replica.retriever.base_encoder.model_id == encoder.model_id
        )
        assert replica.retriever.search(QUESTION, 1)[0].key == PAIR
        # It is current for the next start, its confidence is config.yml's (no calibration.json was fitted),
        # and torch never loaded in the serving process: the training and the export ran in children.
        current = read_pointer(fresh_cache / "finetuned", CURRENT)
        assert current is not None and index["model"].startswith(current)
        assert not (fresh_cache / "finetuned" / current / "calibration.json").exists()
        assert not _serving_torch(server.proc.pid)
    finally:
        server.stop()
        if replica is not None:
            replica.store.close()


def test_a_start_with_the_fine_tuned_model_serves_it_without_loading_torch(tmp_path):
    ensure_finetuned_encoder()
    script = (
        "import json, sys\n"
        "from api.runtime import build_runtime\n"
        "from api.settings import Settings\n"
        "runtime = build_runtime(Settings())\n"
        "hit = runtime.retriever.search('is the liberation procedure proven?', 1)[0]\n"
        "print(json.dumps({'model': runtime.retriever.encoder.model_id, 'hit': hit.key,\n"
        "                  'first_job': runtime.retrainer.start_first(),\n"
        "                  'heavy': [m for m in ('torch', 'sentence_transformers') if m in sys.modules]}))\n"
    )
    env = base_env(tmp_path / "data", FAQBOT_BOT__ENABLED="false")
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=True
    )
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["model"].startswith("finetuned-") and report["hit"] == PAIR
    assert report["first_job"] is False and report["heavy"] == []
