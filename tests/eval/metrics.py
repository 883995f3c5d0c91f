"""Retrieval metrics shared by `make eval` and the tuning script (no assertions: figures only)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

EVAL_DIR = Path(__file__).resolve().parent


def load_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def dev_set(split: str | None = None) -> list[dict]:
    rows = load_jsonl(EVAL_DIR / "devset.jsonl")
    return [r for r in rows if split is None or r["split"] == split]


def out_of_scope(split: str | None = None) -> list[dict]:
    rows = load_jsonl(EVAL_DIR / "out_of_scope.jsonl")
    return [r for r in rows if split is None or r["split"] == split]


@dataclass
class Ranking:
    r1: float
    r5: float
    mrr: float
    n: int

    def row(self) -> str:
        return f"R@1 {self.r1:.3f}  R@5 {self.r5:.3f}  MRR {self.mrr:.3f}  (n={self.n})"


def ranking(results: list[tuple[list[str], set[str]]]) -> Ranking:
    """results: (ranked ids, relevant ids) per query."""
    r1 = r5 = mrr = 0.0
    for ranked, relevant in results:
        for i, key in enumerate(ranked[:10]):
            if key in relevant:
                r1 += i == 0
                r5 += i < 5
                mrr += 1 / (i + 1)
                break
    n = max(1, len(results))
    return Ranking(r1 / n, r5 / n, mrr / n, len(results))


@dataclass
class OutOfScope:
    precision: float
    recall: float
    in_scope_answered: float
    in_scope_correct_answer: float
    wrong_answers: float

    def row(self) -> str:
        return (
            f"OOS precision {self.precision:.3f}  recall {self.recall:.3f} | in-scope: answered "
            f"{self.in_scope_answered:.3f}, answered right {self.in_scope_correct_answer:.3f}, "
            f"answered wrong {self.wrong_answers:.3f}"
        )


def out_of_scope_metrics(in_scope: list[tuple[str, list[str], set[str]]], oos_kinds: list[str]) -> OutOfScope:
    """in_scope: (decision kind, decision ids, relevant ids); oos_kinds: decision kind per OOS query.

    An out-of-scope query is caught when it gets the fallback; an in-scope query wrongly caught
    when it does. Precision and recall are of the fallback as the detector of out-of-scope.
    """
    tp = sum(k == "fallback" for k in oos_kinds)
    fp = sum(k == "fallback" for k, _, _ in in_scope)
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / len(oos_kinds) if oos_kinds else 1.0
    n = max(1, len(in_scope))
    answered = [(k, ids, rel) for k, ids, rel in in_scope if k == "answer"]
    right = sum(ids[0] in rel for _, ids, rel in answered)
    return OutOfScope(precision, recall, len(answered) / n, right / n, (len(answered) - right) / n)
