"""Lexical retrieval: BM25 (bm25s) over each item's question, alternates and answer, or a passage.

Dense retrieval misses rare exact words (drug and trial names, "IPG640", "azygos") and BM25 misses
paraphrases; the retriever combines both. Words are lower-cased, English stop words dropped and
stemmed (Snowball), the same way for documents and queries.
"""
from __future__ import annotations

import re

import bm25s
import numpy as np
import Stemmer

_TOKEN = re.compile(r"[a-z0-9]+")
_STOP = frozenset(bm25s.stopwords.STOPWORDS_EN)
_stemmer = Stemmer.Stemmer("english")


def tokens(text: str) -> list[str]:
    words = [w for w in _TOKEN.findall(text.lower()) if w not in _STOP and (len(w) > 1 or w.isdigit())]
    return _stemmer.stemWords(words)


class LexicalIndex:
    """BM25 over one document per item; scores for every item at once."""

    def __init__(self, keys: list[str], documents: list[str]):
        self.keys = keys
        self._bm25 = bm25s.BM25(k1=1.2, b=0.75)
        corpus = [tokens(d) or ["_empty_"] for d in documents]
        self._bm25.index(corpus, show_progress=False)
        self._vocab = set(self._bm25.vocab_dict)

    def scores(self, query: str, per_term: bool = False) -> np.ndarray:
        """BM25 of every item; with per_term, divided by the number of the query's words, so that a
        long message full of words that match nothing in particular does not outweigh a short one."""
        words = tokens(query)
        q = [t for t in words if t in self._vocab]
        if not q or not self.keys:
            return np.zeros(len(self.keys), dtype=np.float32)
        raw = np.asarray(self._bm25.get_scores(q), dtype=np.float32)
        return raw / len(words) if per_term else raw
