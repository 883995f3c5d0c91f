"""The layers import one way down, and the light commands stay light."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]


def test_each_layer_imports_only_the_layers_below_it():
    """api > bot > embeddings > knowledge (the contract is in pyproject.toml, checked by import-linter)."""
    lint = Path(sys.executable).parent / "lint-imports"
    result = subprocess.run([str(lint), "--no-cache"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_make_token_loads_no_model_index_or_rasa_code(tmp_path):
    """Creating a token is instant: no torch, onnxruntime, FAISS or sentence-transformers is imported."""
    script = (
        "import json, sys\n"
        "from api.cli import main\n"
        "code = main(['token', '--role', 'staff'])\n"
        "heavy = ['torch', 'onnxruntime', 'faiss', 'sentence_transformers', 'rasa_sdk', 'bm25s']\n"
        "print(json.dumps({'code': code, 'loaded': [m for m in heavy if m in sys.modules]}))\n"
    )
    env = {"PATH": "/usr/bin:/bin", "FAQBOT_DATA_DIR": str(tmp_path), "HOME": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    token, report = lines[0], json.loads(lines[-1])
    assert len(token) >= 40 and report == {"code": 0, "loaded": []}
