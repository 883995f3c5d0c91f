"""api.rasa_runtime.train writes the Rasa model beside and moves it in whole (knowledge/atomic.py),
with a stand-in for the `rasa` executable: a failed training leaves nothing, a crashed one's leftovers go."""

import os
import subprocess
import sys

import pytest

from api.rasa_runtime import model_path, train

pytestmark = pytest.mark.unit

FAKE_RASA = """#!{python}
import sys
from pathlib import Path
args = sys.argv[1:]
if {fail}:
    sys.exit(3)
out = Path(args[args.index("--out") + 1])
(out / "model.tar.gz").write_bytes(b"a trained model")
"""


def fake_rasa(tmp_path, monkeypatch, fail: bool) -> None:
    exe = tmp_path / "bin" / "rasa"
    exe.parent.mkdir(exist_ok=True)
    exe.write_text(FAKE_RASA.format(python=sys.executable, fail=fail))
    exe.chmod(0o755)
    monkeypatch.setenv("FAQBOT_RASA_EXECUTABLE", str(exe))


def test_the_model_is_moved_in_whole_and_older_models_and_leftovers_of_a_crash_go(tmp_path, monkeypatch):
    models = tmp_path / "models"
    models.mkdir()
    (models / "bot-0000000000000000.tar.gz").write_bytes(b"an older model")
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    crashed = models / f".train.tmp-{proc.pid}-0a1b2c3d"  # Rasa's working folder from a crashed training
    crashed.mkdir()
    fake_rasa(tmp_path, monkeypatch, fail=False)
    target = train(models)
    assert target == model_path(models) and target.read_bytes() == b"a trained model"
    assert sorted(os.listdir(models)) == [".train.lock", target.name]


def test_a_failed_training_leaves_no_model_and_no_temporary(tmp_path, monkeypatch):
    models = tmp_path / "models"
    fake_rasa(tmp_path, monkeypatch, fail=True)
    with pytest.raises(RuntimeError, match="rasa train failed"):
        train(models)
    assert os.listdir(models) == [".train.lock"]
