"""What a query's words say before any search: typos to mend, and words the collection never uses.

Visitors type "juglar vien" and "canadain liberation trail"; about one question in five in our dev
set has a misspelling. The encoder splits a misspelt word into pieces that mean little, and BM25
does not match it at all. So a word the collection does not contain, and that is not an ordinary
English word either (word frequency from `wordfreq`), is replaced by the collection's word that is
one edit away (two for long words; never two substitutions, which would turn "conection" into
"condition").

A word that is neither in the collection (nor another form of one of its words: "relapse" where it
says "relapses", "randomized" where it says "randomised", "multicentre" where it has "multi" and
"centre") nor a typo of one of its words is evidence that the question is about something the
collection does not cover ("is ocrevus covered by the nhs", "side effects of baclofen"). A rare word
one edit from a common English word ("storys", "lesons", "profesional") is a typo, not a name: it
counts in the share of unknown words but never as a name, so it does not make the bot ask "did you
mean" of a question it can answer (on the dev split 14 of the 34 "did you mean"s whose first option
was right were caused by such words; see tests/eval/tune.py for the refit confidence). Two figures feed the confidence (see retriever.Scoring): how many such
words are rare in English (names of drugs, places, organisations), and what share of the query's
content words the collection never uses.
"""

from __future__ import annotations

import re
from collections import Counter, OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache

from rapidfuzz import process
from rapidfuzz.distance import DamerauLevenshtein, Indel

_WORD = re.compile(r"[A-Za-z]+")
# Words this frequent in English (Zipf scale: 3 = once per million words) are never "corrected".
COMMON_ZIPF = 3.0
# A word the collection never uses that is rarer than this names something specific.
RARE_ZIPF = 3.5
# Function words: never corrected and never evidence of a topic.
STOP_WORDS = frozenset(
    """
a about above after again against all also am an and any are as at be because been before being below
between both but by can could did do does doing done down during each few for from further get gets got had
has have having he her here hers him his how i if in into is it its just me more most my no nor not now of
off on once only or other our ours out over own same she should so some such than that the their theirs them
then there these they this those through to too under until up very was we were what when where which while
who whom why will with would you your yours u ur im ive dont cant wont isnt whats hows thats
""".split()
)


@dataclass(frozen=True)
class QueryAnalysis:
    text: str  # the query with typos mended (the original when nothing changed)
    corrections: dict[str, str] = field(default_factory=dict)
    unknown_names: tuple[str, ...] = ()  # words the collection never uses that are rare in English
    unknown_share: float = 0.0  # share of the content words that the collection never uses
    query: str = ""  # the query as it was asked
    tag: str | None = None  # the collection it was read against (None: everything)

    @property
    def rare_unknown(self) -> int:
        return len(self.unknown_names)


def words(text: str) -> list[str]:
    """The words of a text, lower-cased."""
    return [m.lower() for m in _WORD.findall(text)]


def replace_words(text: str, table: dict[str, str]) -> str:
    """The text with each word that `table` holds (by its lower-case form) replaced, the rest as typed."""
    return _WORD.sub(lambda m: table.get(m.group(0).lower(), m.group(0)), text) if table else text


@lru_cache(maxsize=65536)
def zipf(word: str) -> float:
    from wordfreq import zipf_frequency

    return zipf_frequency(word, "en")


# Endings taken off (longest first) to compare forms of a word; US "-ize" is read as UK "-ise".
_ENDINGS = ("ations", "ation", "ings", "ing", "ers", "ies", "ied", "er", "ed", "es", "s", "ly")


def stem(word: str) -> str:
    """A crude stem, enough to see two forms of one word: "relapses"/"relapse", "harmed"/"harm",
    "randomized"/"randomised", "studies"/"study". Never shorter than four letters."""
    w = re.sub(r"(i|y)z(e|es|ed|ing|ation|ations)$", r"\1s\2", word)
    for end in _ENDINGS:
        if w.endswith(end) and len(w) - len(end) >= 4:
            w = w[: -len(end)] + ("y" if end in ("ies", "ied") else "")
            break
    return w[:-1] if w.endswith("e") and len(w) > 4 else w


# Per vocabulary, how the last this many questions read (for a question asked again).
ANALYSED_QUERIES = 1024

# English words common enough that a word one edit from one of them is taken for its misspelling
# ("exaustion", "storys", "lesons"), not for a name the collection does not know.
TYPO_ZIPF = 3.5


@lru_cache(maxsize=1)
def _english_by_start() -> dict[tuple[str, int], list[str]]:
    from wordfreq import top_n_list

    out: dict[tuple[str, int], list[str]] = {}
    for w in top_n_list("en", 40_000):  # most frequent first
        if zipf(w) < TYPO_ZIPF:
            break
        if w.isalpha() and len(w) >= 4:
            out.setdefault((w[0], len(w)), []).append(w)
    return out


@lru_cache(maxsize=65536)
def is_english_typo(word: str) -> bool:
    """Whether this (rare) word is one edit from a common English word: a typo, not a name."""
    if len(word) < 5:
        return False
    table = _english_by_start()
    choices = [
        c
        for start in dict.fromkeys(word[:2])
        for n in (len(word) - 1, len(word), len(word) + 1)
        for c in table.get((start, n), ())
    ]
    return bool(process.extract(word, choices, scorer=DamerauLevenshtein.distance, score_cutoff=1, limit=1))


class Vocabulary:
    """The words of one collection, for mending typos and spotting words it never uses."""

    def __init__(self, documents: list[str]):
        self.counts = Counter(w for d in documents for w in words(d))
        zipf("warm")  # loads the English word list now, not on a visitor's first question
        _english_by_start()
        # Candidates by first letter and length, so a large collection is not compared word by word.
        self._by_start: dict[tuple[str, int], list[str]] = {}
        for w in self.counts:
            if len(w) >= 3:
                self._by_start.setdefault((w[0], len(w)), []).append(w)

    def updated(self, removed: Iterable[str], added: Iterable[str]) -> Vocabulary:
        """A new vocabulary without the words of the `removed` documents and with those of `added`;
        this one is unchanged (it may be serving). Costs the size of the vocabulary, not of the collection."""
        minus = Counter(w for d in removed for w in words(d))
        plus = Counter(w for d in added for w in words(d))
        new = object.__new__(Vocabulary)
        new.counts = self.counts.copy()
        new.counts.subtract(minus)
        new.counts.update(plus)
        gone = [w for w in minus if new.counts[w] <= 0]
        for w in gone:
            del new.counts[w]
        born = [w for w in plus if w not in self.counts]
        new._by_start = dict(self._by_start)
        for w in [*gone, *born]:
            if len(w) < 3:
                continue
            start = (w[0], len(w))
            bucket = [c for c in new._by_start.get(start, ()) if c != w]
            if w in new.counts:
                bucket.append(w)
            if bucket:
                new._by_start[start] = bucket
            else:
                new._by_start.pop(start, None)
        return new

    def correction(self, word: str) -> str | None:
        """The collection's word this one is a typo of, if it is one."""
        w = word.lower()
        if len(w) < 4 or w in self.counts or w in STOP_WORDS or zipf(w) >= COMMON_ZIPF:
            return None
        limit = 1 if len(w) <= 6 else 2
        # Same first letter, or the first two swapped ("hte"); length within the edit limit.
        choices = [
            c
            for start in dict.fromkeys(w[:2])
            for n in range(len(w) - limit, len(w) + limit + 1)
            for c in self._by_start.get((start, n), ())
        ]
        # Every candidate within the limit (not the first few), so the order of the candidates, which
        # differs after updates, never changes the choice.
        matches = process.extract(w, choices, scorer=DamerauLevenshtein.distance, score_cutoff=limit, limit=None)
        found = [(c, d) for c, d, _ in matches if Indel.distance(w, c) <= 2]
        if not found:
            return None
        # Fewest edits; then fewest inserted or dropped letters (a missed key is commoner than a wrong one).
        return min(found, key=lambda x: (x[1], Indel.distance(w, x[0]), -self.counts[x[0]], x[0]))[0]

    def stems(self) -> frozenset[str]:
        """The stems of the collection's words (see `stem`), made on first use."""
        cached = self.__dict__.get("_stems")
        if cached is None:
            cached = self.__dict__["_stems"] = frozenset(stem(w) for w in self.counts)
        return cached

    def knows(self, word: str) -> bool:
        """Whether the collection uses this word, another form of it ("relapse" for "relapses",
        "randomized" for "randomised") or both halves of it ("multicentre": "multi" and "centre")."""
        if word in self.counts or stem(word) in self.stems():
            return True
        return any(word[:i] in self.counts and word[i:] in self.counts for i in range(3, len(word) - 2))

    def analyse(self, query: str, correct: bool = True) -> QueryAnalysis:
        """How the query reads against this vocabulary; the same question asked again is read once
        (the vocabulary never changes: a publish makes a new one)."""
        cache = self.__dict__.setdefault("_analysed", OrderedDict())
        key = (query, correct)
        hit = cache.get(key)
        if hit is not None:
            return hit
        analysis = self._analyse(query, correct)
        cache[key] = analysis
        if len(cache) > ANALYSED_QUERIES:
            cache.popitem(last=False)
        return analysis

    def _analyse(self, query: str, correct: bool) -> QueryAnalysis:
        corrections: dict[str, str] = {}
        if correct:
            for w in set(words(query)):
                fixed = self.correction(w)
                if fixed:
                    corrections[w] = fixed
        text = replace_words(query, corrections)
        content = [w for w in words(text) if w not in STOP_WORDS and len(w) >= 3]
        unknown = [w for w in content if not self.knows(w)]
        names = tuple(dict.fromkeys(w for w in unknown if zipf(w) < RARE_ZIPF and not is_english_typo(w)))
        share = len(unknown) / len(content) if content else 0.0
        return QueryAnalysis(text, corrections, names, share, query)
