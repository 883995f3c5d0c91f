"""Recognises a request for advice on the visitor's own treatment ("should I have the procedure?",
"can I stop my medication before going abroad?").

The bot never advises a person on their own treatment. Such a question still gets the general
facts with their sources, and a plain statement that decisions are for the visitor's neurologist
or MS nurse, with the helpline. This is a pattern list, not a classifier, so that every rule can
be read and tested.
"""

from __future__ import annotations

import re

_ME = r"(?:i|me|my|we|us|our|my (?:husband|wife|partner|son|daughter|mum|mom|dad|mother|father|friend|brother|sister)|he|she)"
_DECIDE = (
    r"(?:hav(?:e|ing)|get(?:ting)?|go(?:ing)?|try(?:ing)?|stop(?:ping)?|start(?:ing)?|com(?:e|ing) off|"
    r"quit(?:ting)?|chang(?:e|ing)|switch(?:ing)?|tak(?:e|ing)|book(?:ing)?|travel(?:l?ing)?|pay(?:ing)?|"
    r"do(?:ing)?|undergo(?:ing)?|skip(?:ping)?|drop(?:ping)?|reduc(?:e|ing)|continu(?:e|ing)|keep taking|"
    r"giv(?:e|ing) up)"
)
_TREATMENT = (
    r"(?:procedure|operation|op|surgery|treatment|angioplasty|venoplasty|stent|liberation|ccsvi|zamboni|"
    r"medication|medicine|meds|drugs?|dmts?|disease.modifying|tablets|injections?|infusions?|therapy|"
    r"clinic|abroad|poland|bulgaria)"
)

_PATTERNS = [
    # "should I have the procedure", "can I stop my medication", "would it be ok for my wife to go abroad"
    re.compile(rf"\b(?:should|shall|can|could|may|must|ought)\s+{_ME}\b.{{0,60}}?\b{_DECIDE}\b", re.I),
    re.compile(
        rf"\b(?:is it|would it be|will it be)\s+(?:safe|ok|okay|alright|worth it|a good idea|wise|sensible)\s+"
        rf"(?:for\s+{_ME}\b|to\b|if\s+{_ME}\b)",
        re.I,
    ),
    re.compile(r"\b(?:do|would)\s+you\s+(?:recommend|advise|suggest)\b", re.I),
    re.compile(rf"\bwhat\s+(?:should|would)\s+(?:{_ME}|you)\s+do\b", re.I),
    re.compile(
        rf"\b{_ME}(?:\s+(?:am|is|are|was)|'m|'re|'s)?\s+(?:thinking of|considering|planning to|planning on|going to|about to|"
        rf"want to|wants to|would like to)\s+.{{0,40}}?\b{_DECIDE}\b",
        re.I,
    ),
    re.compile(rf"\bworth\s+(?:it\s+)?(?:for\s+{_ME}|{_ME}\s+(?:trying|having|going))\b", re.I),
]


def is_personal_advice(message: str) -> bool:
    """True when the message asks what the visitor (or someone close) should do about treatment."""
    text = " ".join(message.lower().replace("’", "'").split())
    if not re.search(_TREATMENT, text):
        return False
    return any(p.search(text) for p in _PATTERNS)
