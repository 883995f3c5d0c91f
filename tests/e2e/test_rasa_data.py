"""Rasa's own checks: the bot's data validates, and the test stories (bot/tests) pass."""

import subprocess

import pytest

from api.rasa_runtime import BOT_DIR, _rasa_env, rasa_executable, train
from tests.conftest import TEST_CACHE

pytestmark = pytest.mark.e2e


def rasa(*args, cwd):
    return subprocess.run(
        [str(rasa_executable()), *args], cwd=cwd, env=_rasa_env(), capture_output=True, text=True, timeout=900
    )


def test_rasa_data_validate_finds_no_errors(tmp_path):
    out = rasa(
        "data",
        "validate",
        "--domain",
        str(BOT_DIR / "domain.yml"),
        "--data",
        str(BOT_DIR / "data"),
        "--config",
        str(BOT_DIR / "config.yml"),
        "--fail-on-warnings",
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]


def test_every_conversation_flow_passes_rasa_test(tmp_path):
    model = train(TEST_CACHE / "bot-models")
    out = rasa(
        "test",
        "core",
        "--model",
        str(model),
        "--stories",
        str(BOT_DIR / "tests" / "test_stories.yml"),
        "--out",
        str(tmp_path / "results"),
        "--fail-on-prediction-errors",
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    failed = tmp_path / "results" / "failed_test_stories.yml"
    assert not failed.exists() or "story:" not in failed.read_text(), failed.read_text()
