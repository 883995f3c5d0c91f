"""The ONNX encoder runs without torch and gives sentence-transformers' vectors.

The service runs the exported model with onnxruntime and `tokenizers` alone (embeddings/onnx_model.py),
so that its process never holds torch (~300 MB resident): visitors would notice a changed vector as
changed answers, and the host as the service's memory.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from embeddings.encoder import default_model_path
from embeddings.onnx_model import POOLING_MODES, pool
from knowledge.loader import load_pairs
from tests.conftest import REPO, base_env

pytestmark = pytest.mark.integration


def test_the_onnx_encoder_gives_sentence_transformers_vectors_for_the_shipped_texts(encoder):
    from sentence_transformers import SentenceTransformer

    pairs = load_pairs()[:12]
    texts = [t for p in pairs for t in [p.question, *p.alternates, p.answer]]
    texts.append(" ".join(p.answer for p in pairs))  # far past 256 tokens: truncated the same way
    reference = SentenceTransformer(str(default_model_path()), device="cpu").encode(
        texts, normalize_embeddings=True, convert_to_numpy=True
    )

    batch = encoder.encode(texts)
    assert batch.dtype == np.float32 and batch.shape == reference.shape
    assert np.allclose(np.linalg.norm(batch, axis=1), 1.0, atol=1e-5)
    assert (batch * reference).sum(axis=1).min() >= 0.9999

    for i in (0, 1, len(texts) - 1):
        single = encoder.encode([texts[i]])[0]
        assert float(single @ reference[i]) >= 0.9999
    query = encoder.encode_query(pairs[0].question)
    assert query.shape == (1, reference.shape[1]) and float(query[0] @ reference[0]) >= 0.9999


def test_every_pooling_mode_matches_sentence_transformers():
    """Another model (encoder.model_path) may pool otherwise than all-MiniLM-L6-v2's mean."""
    import torch
    from sentence_transformers.sentence_transformer.modules import Pooling

    rng = np.random.default_rng(0)
    tokens = rng.normal(size=(3, 7, 8)).astype(np.float32)
    mask = np.array([[1] * 7, [1] * 4 + [0] * 3, [1] * 2 + [0] * 5], dtype=np.int64)  # right padding
    for modes in [*[(m,) for m in POOLING_MODES], ("cls", "mean", "max")]:
        module = Pooling(8, pooling_mode=modes[0] if len(modes) == 1 else modes)
        expected = module({"token_embeddings": torch.from_numpy(tokens), "attention_mask": torch.from_numpy(mask)})
        got = pool(modes, tokens, mask)
        assert np.allclose(got, expected["sentence_embedding"].numpy(), atol=1e-5), modes


# Builds the runtime as the service's lifespan does, then lists what it imported.
_CHILD = """
import json, sys
from api.runtime import build_runtime
from api.settings import Settings

runtime = build_runtime(Settings())
hits = runtime.retriever.search("is the liberation procedure safe?", 3)
runtime.store.close()
heavy = sorted(m for m in ("torch", "transformers", "sentence_transformers") if m in sys.modules)
rss = next(line.split()[1] for line in open("/proc/self/status") if line.startswith("VmRSS"))
print(json.dumps({"heavy": heavy, "hits": len(hits), "rss_mb": int(rss) // 1024}))
"""


def test_the_service_runtime_never_imports_torch(tmp_path):
    env = base_env(tmp_path / "data", FAQBOT_BOT__ENABLED="false")
    done = subprocess.run(
        [sys.executable, "-c", _CHILD], cwd=REPO, env=env, capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["hits"] > 0
    assert result["heavy"] == [], f"the serving process imported {result['heavy']} ({result['rss_mb']} MB resident)"
