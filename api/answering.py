"""Turns a retrieval decision into the replies a visitor reads: answer, clarify or fallback.

Used by the Rasa custom action and by the direct path that serves /api/chat while Rasa is down,
so both say exactly the same thing. Contact details come from settings, never from Q&A content.
"""
from __future__ import annotations

import datetime as dt
import json
import re

from api.models import AnswerPayload, Citation, Option, Reply
from api.settings import Settings
from embeddings.retriever import Decision, Hit, Retriever
from knowledge.schema import QAPair, Source

CHOOSE_INTENT = "choose_pair"
NONE_INTENT = "none_of_these"
_CHOICE = re.compile(r"^/" + CHOOSE_INTENT + r"(\{.*\})?$", re.DOTALL)


def choice_payload(pair_id: str) -> str:
    """A message that answers one pair directly (Rasa's `/intent{entities}` form)."""
    return "/" + CHOOSE_INTENT + json.dumps({"pair_id": pair_id}, separators=(",", ":"))


def parse_choice(message: str) -> str | None:
    m = _CHOICE.match(message.strip())
    if not m or not m.group(1):
        return None
    try:
        value = json.loads(m.group(1)).get("pair_id")
    except (ValueError, AttributeError):
        return None
    return value if isinstance(value, str) else None


def is_none_of_these(message: str) -> bool:
    return message.strip() == "/" + NONE_INTENT


class Answerer:
    def __init__(self, retriever: Retriever, settings: Settings):
        self.retriever = retriever
        self.settings = settings

    def today(self) -> dt.date:
        return dt.date.today()

    # --- entry point ----------------------------------------------------------------------

    def reply_to(self, message: str, pair_id: str | None = None) -> list[Reply]:
        """The replies to a question, or to a chosen candidate when pair_id is given."""
        if is_none_of_these(message):
            return [self.fallback()]
        pair_id = pair_id or parse_choice(message)
        if pair_id:
            pair = self.retriever.pair(pair_id)
            return [self.answer(pair, 1.0)] if pair else [self.fallback()]
        return [self.from_decision(self.retriever.decide(message))]

    def from_decision(self, decision: Decision) -> Reply:
        if decision.kind == "answer":
            best = decision.best
            return self.answer(best.pair, best.score)
        if decision.kind == "clarify":
            return self.clarify(decision.hits)
        return self.fallback()

    # --- replies --------------------------------------------------------------------------

    def citation(self, source: Source) -> Citation:
        years = self.settings.retrieval.historical_after_years
        published = source.published_date()
        today = self.today()
        age_limit = dt.date(today.year - years, today.month, min(today.day, 28))
        return Citation(title=source.title, publisher=source.publisher, published=source.published, url=source.url,
                        passage=source.passage, historical=published < age_limit)

    def answer(self, pair: QAPair, score: float) -> Reply:
        citations = [self.citation(s) for s in pair.sources]
        overdue = bool(pair.review_due and pair.review_due < self.today())
        payload = AnswerPayload(
            id=pair.id, question=pair.question, text=pair.answer, score=round(score, 4), evidence=pair.evidence,
            caveats=list(pair.caveats), reviewed_on=_iso(pair.reviewed_on), review_due=_iso(pair.review_due),
            review_overdue=overdue, citations=citations,
        )
        lines = [pair.answer]
        if pair.caveats:
            lines.append("\n".join(["Please note:"] + [f"- {c}" for c in pair.caveats]))
        src_lines = ["Sources:" if len(citations) > 1 else "Source:"]
        for c in citations:
            label = f"- {c.title}, {c.publisher}, {c.published}"
            if c.historical:
                label += f" (historical: published {c.published[:4]}, more than {self.settings.retrieval.historical_after_years} years ago)"
            src_lines.append(label)
        lines.append("\n".join(src_lines))
        if overdue:
            lines.append("This answer is due for review, so some details may have changed.")
        return Reply(kind="answer", text="\n\n".join(lines), answer=payload)

    def clarify(self, hits: list[Hit]) -> Reply:
        options = [Option(title=h.pair.question, payload=choice_payload(h.key)) for h in hits if h.pair]
        options.append(Option(title="None of these", payload="/" + NONE_INTENT))
        return Reply(kind="clarify", text="I'm not sure which of these you mean. Please choose one, or ask in other words.",
                     options=options)

    def helpline_text(self) -> str:
        h = self.settings.helpline
        parts = [f"the {h.name} on {h.phone}"]
        if h.hours:
            parts.append(f"({h.hours})")
        text = " ".join(parts)
        if h.url:
            text += f", or visit {h.url}"
        return text

    def fallback(self) -> Reply:
        return Reply(kind="fallback", text=(
            "I'm sorry, I don't have a reliable answer to that. I can answer questions about CCSVI, the "
            "\"liberation procedure\" and multiple sclerosis. For anything else, please contact "
            f"{self.helpline_text()}."))

    def handoff(self) -> Reply:
        return Reply(kind="handoff", text=(
            f"You can talk to a person at {self.helpline_text()}. "
            "You can also keep asking me questions here."))


def _iso(d: dt.date | None) -> str | None:
    return d.isoformat() if d else None
