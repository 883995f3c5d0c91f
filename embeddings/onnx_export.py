"""The one-time ONNX export of an encoder, in a child process: `python -m embeddings.onnx_export <model> <folder>`.

sentence-transformers (and with it torch and transformers) is imported here only, so the serving
process, which runs the exported model with onnxruntime alone (embeddings/onnx_model.py), never
holds them. `export` starts the child and waits for it; the folder is written beside its final
place and moved in whole (knowledge/atomic.build_beside), so a crash leaves no half-written model.
A process that has torch loaded already (a retraining job, `make finetune`) exports in place.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

from embeddings.onnx_model import ONNX_FILE
from knowledge.atomic import build_beside, locked

log = logging.getLogger("faqbot")

PROJECT = Path(__file__).resolve().parent.parent
# As embeddings/encoder.py RUNTIME_ENVIRONMENT: local folders only, no tokenizer threads.
_ENVIRONMENT = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}


def _child_environment() -> dict[str, str]:
    env = {**_ENVIRONMENT, **os.environ}
    env["PYTHONPATH"] = os.pathsep.join([str(PROJECT), *filter(None, [env.get("PYTHONPATH")])])
    return env


def write_export(source: Path, folder: Path) -> None:
    """Export the sentence-transformers model in `source` to ONNX, saved as a whole model folder in `folder`."""
    for name, value in _ENVIRONMENT.items():
        os.environ.setdefault(name, value)
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(source), device="cpu", backend="onnx", model_kwargs={"export": True})
    model.save_pretrained(str(folder))


def export(source: Path, target: Path) -> None:
    """Make `target` the ONNX export of the model in `source`, unless it is there already (another
    process sharing the cache folder may have made it while this one waited for the lock)."""
    with locked(target.parent, ".export.lock"):
        if (target / ONNX_FILE).exists():
            return
        log.info("exporting the encoder %s to ONNX (once) in %s", source, target)
        with build_beside(target) as tmp:
            if "torch" in sys.modules:
                write_export(source, tmp)
            else:
                done = subprocess.run(
                    [sys.executable, "-m", "embeddings.onnx_export", str(source), str(tmp)],
                    cwd=PROJECT,
                    env=_child_environment(),
                    capture_output=True,
                    text=True,
                )
                if done.returncode != 0:
                    tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-20:])
                    raise RuntimeError(f"the ONNX export of {source} failed (exit {done.returncode}):\n{tail}")
            if not (tmp / ONNX_FILE).exists():
                raise RuntimeError(f"the ONNX export of {source} wrote no {ONNX_FILE}")


def main() -> None:
    source, folder = Path(sys.argv[1]), Path(sys.argv[2])
    write_export(source, folder)


if __name__ == "__main__":
    main()
