"""The meaning net: a second safety check beside the phrase rules, over what a message means.

Why: the phrase rules (rules.yml) catch every wording they were written for, and miss the ones
nobody foresaw ("I've been looking up how many pills it would take", "I won't be around much
longer", "I've said goodbye to everyone"). This net reads the sentence vectors of the packaged
all-MiniLM-L6-v2 (never the fine-tuned encoder, which changes with every retraining) and a logistic
regression fitted on crisis_training.jsonl: crisis messages (suicide, self-harm, being harmed) and
ordinary ones, many of them hard look-alikes (questions about death, clots, pain and doses; "this
heat is killing me"; sarcasm about the disease; goodbyes that are only goodbyes).

How it is used (the thresholds are settings, config.yml `conversation:`):
- probability >= crisis_net_sure: a verdict, the safety reply, exactly as a phrase rule gives it;
- crisis_net_doubt <= probability < crisis_net_sure: unsure, so the normal reply is given and the
  crisis numbers are added under it;
- below: nothing.

A message is judged as a whole and sentence by sentence (the highest probability counts), so one
sentence in a long message is not diluted by the rest.

A question the phrase rules hold back as a topic question ("what is the suicide rate in MS?",
"is assisted dying legal in the UK?": a rule's match with nobody in the message; rules.yml,
context.topic_question) is judged at least TOPIC_PROBABILITY, inside the doubt band: it is answered
with the crisis numbers added under the answer, and gets the safety reply only if the net is sure.

The weights are fitted when the service starts (under a second once the training messages are
encoded) and kept as JSON beside the encoder's cache, keyed by the encoder and the training file's
digest; never pickled. The evaluation sets in tests/eval (crisis_heldout, health_lookalikes,
everyday_chatter) were written after this file, in other wording styles, and are never trained on.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from bot.safety.base import HARM_DISCLOSURE, SUICIDE_SELF_HARM, SafetyMatch
from embeddings.calibration import fit_logistic

if TYPE_CHECKING:
    from bot.settings import ConversationSettings
    from embeddings.encoder import Encoder

log = logging.getLogger("faqbot.safety")

_WORDY = re.compile(r"[^\W\d_]{2}")
TRAINING_PATH = Path(__file__).resolve().with_name("crisis_training.jsonl")
# The categories the net knows: the ones a wording can hide. Emergencies (a stroke, chest pain, a
# bleeding stent site) are named plainly and left to the phrase rules.
NET_CATEGORIES = (SUICIDE_SELF_HARM, HARM_DISCLOSURE)
# Ridge penalty of the logistic regression: chosen by 5-fold cross-validation on the training file
# (python -m bot.safety.semantic), the one that kept recall highest at the fewest false alarms.
L2 = 0.1
# A message is also judged sentence by sentence, up to this many sentences (1000 characters hold
# about 20); a message longer than WHOLE_LIMIT characters is judged by its sentences alone, since
# encoding a long text whole costs ten times its sentences' and a crisis in it is a sentence anyway.
MAX_SENTENCES = 24
WHOLE_LIMIT = 300
_SENTENCE_END = re.compile(r"(?<=[.!?;])\s+|\n+|\s+(?:but|and then)\s+", re.I)
_VERSION = 1
# Judgements kept for repeated messages: the chat route and Rasa's crisis action ask about the same one.
CACHE_SIZE = 1024
SAFETY = "safety"  # the safety reply, instead of anything else
REMINDER = "reminder"  # the normal reply, with the crisis numbers under it
# The least probability of a message whose phrase-rule match was held back as a topic question: above
# crisis_net_doubt (0.35), so the numbers are added, and below crisis_net_agree (0.5), so Rasa's crisis
# intent alone cannot turn a question about suicide into the safety reply (tests/unit/test_crisis_net.py
# checks this against the settings' defaults and config.yml).
TOPIC_PROBABILITY = 0.4
# A message the phrase rules held back with someone in it (SafetyMatch.personal: "my mum attempted
# suicide years ago", "I feel suicidal, is that a side effect?") gets the safety reply when the net
# leans the same way as the rules (at crisis_net_agree's default): the rules and the net agree.
PERSONAL_AGREE = 0.5


class Topics(Protocol):
    """What the phrase rules held back in a message as a topic question (bot.safety.Detector.topic)."""

    def __call__(self, message: object, /) -> SafetyMatch | None: ...


@dataclass(frozen=True)
class Example:
    text: str
    category: str | None  # None: not a crisis


@dataclass(frozen=True)
class Judgement:
    """How likely the message is a crisis, and which kind it most resembles."""

    probability: float
    category: str
    topic: str | None = None  # the phrase-rule match held back as a topic question, if any


def read_examples(path: Path = TRAINING_PATH) -> list[Example]:
    examples = []
    with path.open(encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            row = json.loads(line)
            category = row.get("label")
            if category is not None and category not in NET_CATEGORIES:
                raise ValueError(f"{path}:{n}: label {category!r} is not one of {NET_CATEGORIES} or null")
            examples.append(Example(str(row["text"]), category))
    return examples


def sentences(message: str) -> list[str]:
    """The texts a message is judged by: the whole message (unless it is long and has sentences),
    then its sentences when it has more than one, at most MAX_SENTENCES of them."""
    text = " ".join(message.split())
    parts = [p.strip() for p in _SENTENCE_END.split(text) if p and len(p.strip().split()) >= 2]
    if len(parts) <= 1:
        return [text]
    return ([text] if len(text) <= WHOLE_LIMIT else []) + parts[:MAX_SENTENCES]


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-z))


def data_digest(path: Path = TRAINING_PATH) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


class CrisisNet:
    """A fitted net: ``judge(message)`` is a probability and the nearest crisis category."""

    def __init__(
        self, encoder: Encoder, weights: np.ndarray, centroids: dict[str, np.ndarray], topics: Topics | None = None
    ):
        """`topics`: the phrase rules' topic questions (default: the shared detector's)."""
        self.encoder = encoder
        self.topics = topics
        self.weights = np.asarray(weights, dtype=np.float64)
        self.categories = list(centroids)
        self.centroids = np.vstack([centroids[c] for c in self.categories])
        if self.weights.shape != (encoder.dimension + 1,):
            raise ValueError("the net's weights do not fit the encoder's dimension")
        self._cache: OrderedDict[str, Judgement] = OrderedDict()
        self._lock = threading.Lock()

    @classmethod
    def fit(cls, encoder: Encoder, examples: list[Example], l2: float = L2) -> CrisisNet:
        x = encoder.encode([e.text for e in examples]).astype(np.float64)
        y = np.array([e.category is not None for e in examples], dtype=np.float64)
        if y.min() == y.max():
            raise ValueError("the crisis net needs crisis and non-crisis examples")
        centroids = {}
        for category in NET_CATEGORIES:
            rows = x[[e.category == category for e in examples]]
            if len(rows):
                centroids[category] = rows.mean(axis=0)
        return cls(encoder, fit_logistic(x, y, l2), centroids)

    def to_json(self, key: str) -> dict:
        return {
            "version": _VERSION,
            "key": key,
            "weights": self.weights.tolist(),
            "centroids": {c: v.tolist() for c, v in zip(self.categories, self.centroids, strict=True)},
        }

    def probabilities(self, texts: list[str]) -> np.ndarray:
        x = self.encoder.encode(texts).astype(np.float64)
        return _sigmoid(x @ self.weights[:-1] + self.weights[-1])

    def judge(self, message: str) -> Judgement:
        """The probability that the message is a crisis (its most alarming sentence counts), and the
        category of the crisis examples its vector is nearest to."""
        text = " ".join(message.split())
        if not _WORDY.search(text):
            # No word to read ("?", "!!", an emoji): the vector of punctuation alone means nothing, and the
            # net is not asked (the phrase rules still are).
            return Judgement(0.0, SUICIDE_SELF_HARM)
        key = text.lower()
        parts = sentences(text)
        with self._lock:
            cached = self._cache.get(key)
            if cached is not None:
                self._cache.move_to_end(key)
                return cached
        # The whole message apart from its sentences: a batch is padded to its longest text.
        whole, rest = (parts[:1], parts[1:]) if parts[0] == text else ([], parts)
        x = np.vstack([self.encoder.encode(batch) for batch in (whole, rest) if batch]).astype(np.float64)
        p = _sigmoid(x @ self.weights[:-1] + self.weights[-1])
        best = int(np.argmax(p))
        judgement = Judgement(float(p[best]), self.categories[int(np.argmax(self.centroids @ x[best]))])
        held = self._topic(text)
        if held is not None and held.personal and judgement.probability >= PERSONAL_AGREE:
            category = held.category if held.category in NET_CATEGORIES else judgement.category
            judgement = Judgement(1.0, category, held.phrase)
        elif held is not None and judgement.probability < TOPIC_PROBABILITY:
            category = held.category if held.category in NET_CATEGORIES else judgement.category
            judgement = Judgement(TOPIC_PROBABILITY, category, held.phrase)
        elif held is not None:
            judgement = Judgement(judgement.probability, judgement.category, held.phrase)
        with self._lock:
            self._cache[key] = judgement
            if len(self._cache) > CACHE_SIZE:
                self._cache.popitem(last=False)
        return judgement

    def _topic(self, text: str) -> SafetyMatch | None:
        if self.topics is None:
            from bot.safety import default_detector

            try:
                self.topics = default_detector().topic
            except Exception:  # a broken rules file: detect() already fails closed on every message
                log.exception("safety rules could not be built; no topic questions held back")
                return None
        return self.topics(text)


def combine(probability: float | None, crisis_intent: float, cut: ConversationSettings) -> str | None:
    """What the net and Rasa's crisis intent together call for: SAFETY, REMINDER or None.

    `probability`: the net's (None: no net, and Rasa's intent is weighed alone, as before the net);
    `crisis_intent`: Rasa's confidence in its `crisis` intent (0 when another intent won). Rasa's
    small classifier is overconfident on text unlike its examples (it took "I've lost my glasses
    again" for a crisis), so it decides nothing on its own: its verdict counts where the net leans
    the same way (crisis_net_agree), its doubt where the net is not sure it is nothing (crisis_net_floor).
    """
    if probability is None:
        if crisis_intent >= cut.crisis_confidence:
            return SAFETY
        return REMINDER if crisis_intent >= cut.crisis_doubt else None
    if probability >= cut.crisis_net_sure or (
        crisis_intent >= cut.crisis_confidence and probability >= cut.crisis_net_agree
    ):
        return SAFETY
    if probability >= cut.crisis_net_doubt or (
        crisis_intent >= cut.crisis_doubt and probability >= cut.crisis_net_floor
    ):
        return REMINDER
    return None


def load_net(encoder: Encoder, cache_dir: Path | None = None, path: Path = TRAINING_PATH) -> CrisisNet:
    """The net for this encoder: from the JSON cache when it was fitted on this training file, else fitted now."""
    key = f"{encoder.model_id}:{data_digest(path)}:{L2}"
    cached = cache_dir / "crisis_net.json" if cache_dir else None
    if cached and cached.exists():
        try:
            data = json.loads(cached.read_text())
            if data.get("version") == _VERSION and data.get("key") == key:
                centroids = {c: np.asarray(v) for c, v in data["centroids"].items()}
                return CrisisNet(encoder, np.asarray(data["weights"]), centroids)
        except (OSError, ValueError, KeyError, TypeError):
            log.warning("crisis net cache %s unreadable; fitting again", cached)
    net = CrisisNet.fit(encoder, read_examples(path))
    if cached:
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(net.to_json(key)))
        tmp.replace(cached)
    log.info("crisis net fitted on %s", path.name)
    return net


def cross_validate(encoder: Encoder, examples: list[Example], folds: int = 5, l2: float = L2) -> np.ndarray:
    """Out-of-fold probabilities of the training examples (how the thresholds are calibrated)."""
    x = encoder.encode([e.text for e in examples]).astype(np.float64)
    y = np.array([e.category is not None for e in examples], dtype=np.float64)
    fold = np.random.default_rng(2026).integers(0, folds, len(y))
    out = np.zeros(len(y))
    for k in range(folds):
        train = fold != k
        w = fit_logistic(x[train], y[train], l2)
        out[~train] = _sigmoid(x[~train] @ w[:-1] + w[-1])
    return out


def main() -> None:
    """Print the cross-validated calibration of the thresholds on the training file (not the held-out sets)."""
    from embeddings.encoder import SentenceEncoder

    cache = Path("var/test-cache/encoder")
    encoder = SentenceEncoder(None, backend="onnx", cache_dir=cache)
    examples = read_examples()
    y = np.array([e.category is not None for e in examples])
    for l2 in (0.03, 0.1, 0.3, 1.0):
        p = cross_validate(encoder, examples, l2=l2)
        pos, neg = p[y], p[~y]
        print(f"l2={l2}: {y.sum()} crisis, {(~y).sum()} not")
        for q in (0.90, 0.95, 0.98, 1.0):
            th = float(np.quantile(pos, 1 - q))
            print(f"  recall {q:.2f} at p>={th:.3f}: false alarms {np.mean(neg >= th):.3f}")
        for fa in (0.0, 0.01, 0.02, 0.05):
            th = float(np.quantile(neg, 1 - fa)) if fa else float(neg.max())
            print(f"  false alarms {fa:.2f} above p={th:.3f}: recall {np.mean(pos > th):.3f}")


if __name__ == "__main__":
    main()
