"""The encoder is a setting: a service pointed at another local model (encoder.model_path) indexes with
that model's id and dimension, fine-tunes it into a folder of its own, and serves a confidence fitted
for it, never the numbers config.yml holds for all-MiniLM-L6-v2.

The other model is made here offline: the packaged MiniLM with a fixed random projection to 256
dimensions on top (another digest, another dimension, no download)."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from embeddings.calibration import fitted_path, read_calibration
from embeddings.encoder import default_model_path, model_digest
from embeddings.loading import finetune_dir, is_packaged
from knowledge.atomic import read_pointer
from tests.conftest import make_token

pytestmark = pytest.mark.integration

DIMENSION = 256


@pytest.fixture(scope="module")
def other_model(tmp_path_factory):
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Dense, Normalize

    folder = tmp_path_factory.mktemp("models") / "minilm-256"
    base = SentenceTransformer(str(default_model_path()), device="cpu")
    torch.manual_seed(0)
    dense = Dense(base.get_sentence_embedding_dimension(), DIMENSION, bias=False)
    dense.activation_function = torch.nn.Identity()
    SentenceTransformer(modules=[*base, dense, Normalize()], device="cpu").save(str(folder))
    return folder


def test_a_service_on_another_model_indexes_and_calibrates_for_it(make_settings, other_model, tmp_path):
    from api.main import create_app

    cache = tmp_path / "encoder-cache"
    settings = make_settings(
        encoder={"model_path": str(other_model), "backend": "torch", "finetune": False, "cache_dir": str(cache)}
    )
    expected_id = f"minilm-256@{model_digest(other_model)}"
    app = create_app(settings)
    with TestClient(app) as client:
        runtime = app.state.runtime
        health = client.get("/healthz").json()
        assert health["index"]["model"] == expected_id
        retriever = runtime.retriever
        assert retriever.encoder.dimension == DIMENSION and retriever.snapshot.index.dimension == DIMENSION
        folder = settings.index_dir / read_pointer(settings.index_dir)
        manifest = json.loads((folder / "manifest.json").read_text())
        assert (manifest["model"], manifest["dimension"]) == (expected_id, DIMENSION)

        # Its own confidence, fitted at this first start and kept in the cache (the model folder is not ours).
        fitted = read_calibration(fitted_path(cache, expected_id))
        assert fitted is not None and fitted.model_id == expected_id and fitted.n >= 30
        assert not (other_model / "calibration.json").exists()
        config = settings.retrieval.scoring(finetuned=False)
        assert (retriever.scoring.calibration_a, retriever.scoring.calibration_b) == (fitted.a, fitted.b)
        assert (retriever.scoring.calibration_a, retriever.scoring.calibration_b) != (
            config.calibration_a,
            config.calibration_b,
        )
        staff = {"Authorization": f"Bearer {make_token(runtime, 'staff')}"}
        found = client.get("/api/search", params={"q": "is the liberation procedure safe?", "k": 3}, headers=staff)
        assert found.status_code == 200 and found.json()["results"]
    # Fine-tuning it would go into a folder of its own, beside the packaged model's.
    assert not is_packaged(other_model) and is_packaged(default_model_path())
    assert finetune_dir(cache, other_model) == cache / "finetuned" / "base-minilm-256"
    assert finetune_dir(cache, default_model_path()) == cache / "finetuned"
