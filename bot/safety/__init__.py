"""Crisis and emergency detection for every visitor message, before anything else sees it.

Why this exists: people write to a health FAQ bot in the middle of a crisis (thinking of ending their
life, having a stroke, bleeding after a vein procedure abroad, being hurt at home) and still type it
into a box meant for questions about CCSVI. ``detect`` finds those messages so the chat route can
answer with emergency and crisis contacts instead of a trial result.

- rules.yml: the phrase lists, context cues and ordered rules (data, with comments on each list);
- detector.py: the ``Detector`` compiled from a rules file, and ``load_detector``;
- schema.py: the rules file's schema (pydantic), so a broken file is one clear ``RulesError``;
- triggers.py: which words each pattern's matches can start with (the speed-up);
- normalise.py: the folding of a message into lowercase ASCII words;
- semantic.py: the crisis net beside the rules, over the message's meaning (sentence vectors of the
  packaged all-MiniLM-L6-v2 and a logistic regression fitted on crisis_training.jsonl), with
  ``combine`` weighing it with Rasa's crisis intent. The service builds it at start-up
  (api/runtime.py) and the chat route asks it right after the rules.

Importing this package reads no file and compiles nothing. The shared detector is built on first use,
once (thread-safe); the API's lifespan calls ``warm()`` so that happens at start-up, where a broken
rules file stops the service instead of the first visitor's message paying for it.
"""

from __future__ import annotations

import threading

from bot.safety.base import (
    CATEGORIES,
    CHEST_BREATHING,
    DETECTOR_ERROR,
    HARM_DISCLOSURE,
    MEDICAL_EMERGENCY,
    MODES,
    POST_PROCEDURE_COMPLICATION,
    STROKE_NEURO_EMERGENCY,
    SUICIDE_SELF_HARM,
    RulesError,
    SafetyMatch,
)
from bot.safety.detector import RULES_PATH, Detector, load_detector, log

__all__ = [
    "CATEGORIES",
    "CHEST_BREATHING",
    "DETECTOR_ERROR",
    "HARM_DISCLOSURE",
    "MEDICAL_EMERGENCY",
    "MODES",
    "POST_PROCEDURE_COMPLICATION",
    "RULES_PATH",
    "STROKE_NEURO_EMERGENCY",
    "SUICIDE_SELF_HARM",
    "Detector",
    "RulesError",
    "SafetyMatch",
    "default_detector",
    "detect",
    "load_detector",
    "normalise",
    "warm",
]

_default: Detector | None = None
_lock = threading.Lock()


def default_detector() -> Detector:
    """The shared detector from bot/safety/rules.yml, built by the first caller; RulesError if the file is broken."""
    global _default
    detector = _default
    if detector is None:
        with _lock:
            if _default is None:
                _default = load_detector()
            detector = _default
    return detector


def warm() -> Detector:
    """Build the shared detector now (the API's lifespan calls this), so start-up fails on a broken rules file."""
    return default_detector()


def detect(message: object) -> SafetyMatch | None:
    """The crisis or emergency in a visitor's message, or None. Never raises; fails closed.

    If the detector cannot be built (a broken rules file that ``warm`` did not catch at start-up), every
    message gets the emergency reply rather than none."""
    if message is None:
        return None
    try:
        detector = default_detector()
    except Exception:
        log.exception("safety detector could not be built; treating the message as an emergency")
        return SafetyMatch(MEDICAL_EMERGENCY, DETECTOR_ERROR)
    return detector.detect(message)


def normalise(message: str) -> str:
    """The message as the patterns see it: lowercase ASCII words separated by single spaces."""
    return default_detector().normalise(message)
