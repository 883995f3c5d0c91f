"""The safety detector's vocabulary: its categories, its modes, the match it returns and its one error.

Kept apart from the detector and the schema so that importing them costs nothing: no YAML, no
pydantic, no regular expression (the rules are read and compiled only when a detector is built).
"""

from __future__ import annotations

from dataclasses import dataclass

SUICIDE_SELF_HARM = "suicide_self_harm"
STROKE_NEURO_EMERGENCY = "stroke_neuro_emergency"
CHEST_BREATHING = "chest_breathing"
POST_PROCEDURE_COMPLICATION = "post_procedure_complication"
HARM_DISCLOSURE = "harm_disclosure"
MEDICAL_EMERGENCY = "medical_emergency"

# The chat route has a reply for each of these: a rule may name no other category.
CATEGORIES = (
    SUICIDE_SELF_HARM,
    STROKE_NEURO_EMERGENCY,
    CHEST_BREATHING,
    POST_PROCEDURE_COMPLICATION,
    HARM_DISCLOSURE,
    MEDICAL_EMERGENCY,
)

# How a rule's match is weighed against the rest of the message (rules.yml explains each).
PATTERN_MODES = ("always", "personal", "current", "recurring")
COOCCURRENCE = "cooccurrence"
MODES = (*PATTERN_MODES, COOCCURRENCE)

# The phrase of the match returned when the detector itself fails: a crisis reply beats a crisis missed.
DETECTOR_ERROR = "(safety detector error)"


@dataclass(frozen=True)
class SafetyMatch:
    """A message that needs the safety reply: which kind, and the (normalised) words that matched."""

    category: str
    phrase: str
    # For a match held back (Detector.topic): True when someone is in the message, in a frame that
    # does not say it is happening now (the past, a question about the subject, a story): the crisis
    # net then decides with a lower bar (bot/safety/semantic.py PERSONAL_AGREE).
    personal: bool = False


class RulesError(ValueError):
    """A rules file that cannot be used: the message names the file, the rule and the pattern at fault.

    Raised when a detector is built (at start-up), never by ``detect``: a broken rules file must stop
    the service from starting rather than let messages through unchecked."""
