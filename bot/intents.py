"""Rasa's small-talk intents, recognised without Rasa: for the answers given while it is down.

When the Rasa server cannot answer, a visitor's message is answered from the retriever directly; a
greeting or a request for a person must still get the greeting or the helpline, not a "did you
mean". This finds the nearest of Rasa's own training examples (bot/data/nlu/*.yml) in the encoder's
space: a small-talk intent counts only when its example is near and clearly nearer than any
question's, so a question that opens with "hi" stays a question.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np
import yaml

from embeddings.encoder import QueryEncoder

NLU_DIR = Path(__file__).resolve().parent / "data" / "nlu"
SMALLTALK_INTENTS = ("greet", "goodbye", "thank", "bot_challenge", "request_human")
# Intents whose examples are questions (or crises): they compete with small talk, and are never returned.
OTHER_INTENTS = ("ask_question", "out_of_scope", "crisis")
# A small-talk example this near (cosine) ...
MIN_SIMILARITY = 0.72
# ... and this much nearer than the nearest question.
MIN_MARGIN = 0.05
# Longer messages are questions or statements, whatever they open with.
MAX_WORDS = 12


def training_examples(nlu_dir: Path = NLU_DIR) -> list[tuple[str, str]]:
    """(intent, example) from Rasa's NLU files, for the intents above."""
    out = []
    for path in sorted(nlu_dir.glob("*.yml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for block in data.get("nlu") or []:
            intent = block.get("intent")
            if intent not in SMALLTALK_INTENTS + OTHER_INTENTS:
                continue
            for line in str(block.get("examples") or "").splitlines():
                text = line.strip().removeprefix("- ").strip()
                if text:
                    out.append((intent, text))
    return out


class SmalltalkIntents:
    """The small-talk intent of a message (one of SMALLTALK_INTENTS) or None."""

    def __init__(self, encoder: Callable[[], QueryEncoder], examples: list[tuple[str, str]] | None = None):
        """`encoder` gives the encoder to use now (the retriever's: it changes when a retrained model is swapped in)."""
        self._encoder = encoder
        self._examples = examples
        self._vectors: np.ndarray | None = None
        self._model_id = ""
        self._intents: list[str] = []
        self._lock = threading.Lock()

    def warm(self) -> QueryEncoder:
        """Embed the examples with the current encoder (again only when it changed); that encoder."""
        encoder = self._encoder()
        with self._lock:
            if self._vectors is None or self._model_id != encoder.model_id:
                examples = self._examples if self._examples is not None else training_examples()
                vectors = np.asarray(encoder.encode([text for _, text in examples]), dtype=np.float32)
                norms = np.linalg.norm(vectors, axis=1, keepdims=True)
                self._vectors = vectors / np.maximum(norms, 1e-12)
                self._intents = [intent for intent, _ in examples]
                self._model_id = encoder.model_id
        return encoder

    def classify(self, message: str) -> str | None:
        words = message.split()
        if not words or len(words) > MAX_WORDS:
            return None
        encoder = self.warm()
        assert self._vectors is not None
        q = np.asarray(encoder.encode_query(message), dtype=np.float32).reshape(-1)
        q = q / max(float(np.linalg.norm(q)), 1e-12)
        sims = self._vectors @ q
        best: dict[str, float] = {}
        for intent, sim in zip(self._intents, sims, strict=True):
            best[intent] = max(best.get(intent, -1.0), float(sim))
        small = max(SMALLTALK_INTENTS, key=lambda i: best.get(i, -1.0))
        other = max((best.get(i, -1.0) for i in OTHER_INTENTS), default=-1.0)
        if best.get(small, -1.0) >= MIN_SIMILARITY and best[small] - other >= MIN_MARGIN:
            return small
        return None
