"""Importing the retrieval modules does no work: no model library, no FAISS, no environment change.

The service (or a command) decides when to load models: the encoder's constructor calls
embeddings.encoder.configure_runtime(), which sets the offline variables and FAISS' thread count.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]
HEAVY = [
    "torch",
    "onnxruntime",
    "faiss",
    "sentence_transformers",
    "transformers",
    "bm25s",
    "Stemmer",
    "wordfreq",
    "sklearn",
]


def run(script: str) -> dict:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-c", script], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_importing_the_retrieval_modules_loads_no_model_library_and_leaves_the_environment_alone():
    report = run(
        "import json, os, sys\n"
        "before = dict(os.environ)\n"
        "import embeddings.retriever, embeddings.index, embeddings.encoder, embeddings.finetune\n"
        "import embeddings.lexical, embeddings.query, embeddings.editing\n"
        "import embeddings.calibration, embeddings.retraining, embeddings.retrain_job, embeddings.clusters\n"
        f"print(json.dumps({{'loaded': [m for m in {HEAVY!r} if m in sys.modules],\n"
        "                   'environ_changed': dict(os.environ) != before}))\n"
    )
    assert report == {"loaded": [], "environ_changed": False}


def test_configure_runtime_sets_what_the_model_libraries_read_without_overriding_the_operator():
    report = run(
        "import json, os\n"
        "os.environ['TOKENIZERS_PARALLELISM'] = 'true'\n"
        "from embeddings.encoder import configure_runtime\n"
        "configure_runtime()\n"
        "import faiss\n"
        "print(json.dumps({'hub': os.environ.get('HF_HUB_OFFLINE'), 'tok': os.environ['TOKENIZERS_PARALLELISM'],\n"
        "                  'threads': faiss.omp_get_max_threads()}))\n"
    )
    assert report == {"hub": "1", "tok": "true", "threads": 1}
