"""Rasa's own check of the bot's domain, NLU data, rules and stories."""
import subprocess

import pytest

from api.rasa_runtime import BOT_DIR, _rasa_env, rasa_executable

pytestmark = pytest.mark.e2e


def test_rasa_data_validate_finds_no_errors(tmp_path):
    out = subprocess.run(
        [str(rasa_executable()), "data", "validate", "--domain", str(BOT_DIR / "domain.yml"), "--data",
         str(BOT_DIR / "data"), "--config", str(BOT_DIR / "config.yml"), "--fail-on-warnings"],
        cwd=tmp_path, env=_rasa_env(), capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
