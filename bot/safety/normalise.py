"""Folds a visitor's message into the lowercase ASCII words the safety patterns are written against.

Why: people in distress do not type carefully. Unicode quotes and dashes, accents, zero-width
characters, apostrophes ("can't" -> "cant", "I'm" -> "im"), elongations ("pleeease" -> "pleease"),
leetspeak inside words ("k1ll"), misspellings and text-speak ("wanna", "cnt", "myslef") and a few
spelled-out contractions ("i am" -> "im") are all folded here, so each pattern is written once.
Sentence ends (. ? ! ; :) become " . " so small-gap patterns do not join words across sentences; line
breaks and "..." do not, because distressed people type "i just... want to die".

The word lists come from rules.yml; the fixed steps below are code. Everything is compiled when a
``Normaliser`` is built (with the detector), not when this module is imported.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping

# Leetspeak digits and symbols between two letters.
_LEET = {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "@": "a", "$": "s"}
# Apostrophes that were some other character and became a space: "can t", "i m", "he s".
_SPLIT_CONTRACTION_HINTS = (" t ", " m ", " ve ", " d ", " ll ", " s ")


def _join_contraction(m: re.Match[str]) -> str:
    return "".join(g for g in m.groups() if g)


class Normaliser:
    """``normalise(message)``: lowercase ASCII words separated by single spaces; sentence ends as " . "."""

    def __init__(
        self, character_folds: Mapping[str, str], word_fixes: Mapping[str, str], phrase_fixes: Mapping[str, str]
    ):
        self.fold_table = str.maketrans(dict(character_folds))
        self.word_fixes = dict(word_fixes)
        # longest first, so "kill my self" is folded before "my self"
        self.phrase_fixes = tuple(
            (f" {k} ", f" {v} ") for k, v in sorted(phrase_fixes.items(), key=lambda kv: len(kv[0]), reverse=True)
        )
        self.invisible = re.compile(
            r"[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180e\u200b-\u200f\u202a-\u202e"
            r"\u2060-\u206f\ufeff\ufe00-\ufe0f]"
        )
        self.combining = re.compile(r"[\u0300-\u036f]")
        # "OD'd" before apostrophes go ("odd" is a word)
        self.odd = re.compile(r"\bod'd\b|\bod-ed\b|\boded\b")
        self.a_and_e = re.compile(r"\ba ?& ?e\b")
        self.leet = re.compile(r"(?<=[a-z])[01345@$](?=[a-z])")
        self.elongated = re.compile(r"([a-z])\1{2,}")
        # ASCII letters and digits stay, sentence ends become "|" (then " . "), everything else a space.
        self.ascii_table = str.maketrans(
            {chr(i): (chr(i) if chr(i).isalnum() else "|" if chr(i) in ".?!;:" else " ") for i in range(128)}
        )
        self.ellipsis = re.compile(r"\.\.+")
        self.sentence_mark = re.compile(r"\|[| ]*")
        self.non_ascii = re.compile(r"[^\x00-\x7f]+")
        self.split_contraction = re.compile(
            r"\b(can|don|won|isn|doesn|didn|wasn|couldn|wouldn|shouldn|haven|hasn|aren|weren|ain) t\b"
            r"|\b(i) (m|ve|d|ll)\b|\b(he|she|it|that|what|there) (s)\b"
        )

    def __call__(self, message: str) -> str:
        text = message.replace("`", "'")
        if not text.isascii():
            text = unicodedata.normalize("NFKC", text).translate(self.fold_table)
            text = self.invisible.sub("", text.replace("\u200b", " ")).casefold()
            text = self.combining.sub("", unicodedata.normalize("NFKD", text))
        text = text.lower()
        if "od'" in text or "oded" in text or "od-" in text:
            text = self.odd.sub(" overdosed ", text)
        if "&" in text:
            text = self.a_and_e.sub(" ae ", text).replace("&", " and ")
        if any(c in text for c in "01345@$"):
            text = self.leet.sub(lambda m: _LEET[m.group()], text)
        if ".." in text:
            text = self.ellipsis.sub(" ", text)
        text = self.elongated.sub(r"\1\1", text.replace("'", "")).translate(self.ascii_table)
        if not text.isascii():
            text = self.non_ascii.sub(" ", text)
        text = " " + self.sentence_mark.sub(" . ", text) + " "
        if any(h in text for h in _SPLIT_CONTRACTION_HINTS):
            text = self.split_contraction.sub(_join_contraction, text)
        word_fixes = self.word_fixes
        text = " " + " ".join([word_fixes.get(w, w) for w in text.split()]) + " "
        for old, new in self.phrase_fixes:
            while old in text:
                text = text.replace(old, new)
        return text.strip()
