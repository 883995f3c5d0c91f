"""The wording rules of replies, with a stand-in retriever (pure logic: no model, no index)."""

import datetime as dt
from types import SimpleNamespace
from typing import cast

import numpy as np
import pytest

from api.settings import Settings
from bot.answering import Answerer, choice_payload, feedback_payload, is_follow_up, parse_choice, parse_feedback
from embeddings.index import Entry, VectorIndex
from embeddings.query import QueryAnalysis, Vocabulary
from embeddings.retriever import Decision, Hit, Retriever
from knowledge.schema import QAPair
from tests.factories import pair_data

pytestmark = pytest.mark.unit


class FakeRetriever:
    def __init__(self, decision: Decision, pairs: dict[str, QAPair], decisions: dict[str, Decision] | None = None):
        self.decision = decision
        # The collection holds every pair a decision can name, as a real one would.
        named = [h.pair for d in [decision, *(decisions or {}).values()] for h in d.hits if h.pair is not None]
        self.pairs = {**{p.id: p for p in named}, **pairs}
        self.decisions = decisions or {}
        self.asked: list[str] = []

    def decide(self, query):
        self.asked.append(query)
        return self.decisions.get(query, self.decision)

    def pair(self, pair_id):
        return self.pairs.get(pair_id)

    def related(self, pair_id):
        return [p for k, p in self.pairs.items() if k != pair_id][:3]

    def analyse(self, query):
        return QueryAnalysis(query, query=query)

    @property
    def snapshot(self):
        """What the vague-message rule and the menu read: the collection's words, and its questions'
        vectors (one axis per pair, so every pair is as central as the next)."""
        pairs = list(self.pairs.values())
        texts = [" ".join([p.question, *p.alternates, p.answer]) for p in pairs]
        entries = [Entry(p.id, "qa", "question", p.question) for p in pairs]
        vectors = np.eye(max(len(pairs), 1), 8, dtype=np.float32)[: len(pairs)]
        index = VectorIndex.from_vectors(entries, vectors, "fake")
        return SimpleNamespace(vocabulary=Vocabulary(texts), index=index, pairs=self.pairs)


def answerer(decision=Decision("fallback"), pairs=None, decisions=None, **settings) -> Answerer:
    fake = cast(Retriever, FakeRetriever(decision, pairs or {}, decisions))
    a = Answerer(fake, Settings(_env_file=None, **settings).bot_config)
    a.today = lambda: dt.date(2026, 11, 22)
    return a


def test_choice_payload_round_trips_and_rejects_garbage():
    assert parse_choice(choice_payload("ccsvi-what")) == "ccsvi-what"
    assert parse_choice("/choose_pair{not json}") is None
    assert parse_choice("what is ccsvi") is None


def test_an_answer_carries_caveats_sources_and_marks_old_sources_historical():
    pair = QAPair.model_validate(
        pair_data(
            sources=[
                {"title": "Old article", "publisher": "WebMD", "published": "2010-10-12"},
                {"title": "New review", "publisher": "Cochrane", "published": "2024-05"},
            ]
        )
    )
    decision = Decision("answer", [Hit(pair.id, "qa", 0.9, "question", pair=pair)])
    reply = answerer(decision).reply_to("is the test procedure proven?")[0]
    assert reply.kind == "answer" and reply.answer.id == pair.id
    assert [c.historical for c in reply.answer.citations] == [True, False]
    assert "Please note" in reply.text and pair.caveats[0] in reply.text
    assert "Old article, WebMD, 2010-10-12 (historical" in reply.text


def test_an_overdue_pair_is_answered_with_a_review_note():
    pair = QAPair.model_validate(pair_data(reviewed_on="2024-01-01", review_due="2025-01-01"))
    reply = answerer().answer(pair, 0.8)
    assert reply.answer.review_overdue and "due for review" in reply.text


def test_clarify_offers_candidates_and_none_of_these():
    pairs = [QAPair.model_validate(pair_data(id=f"p{i}", question=f"Question {i}?")) for i in range(2)]
    hits = [Hit(p.id, "qa", 0.5, "question", pair=p) for p in pairs]
    reply = answerer(Decision("clarify", hits)).reply_to("which test question is it")[0]
    assert reply.kind == "clarify"
    assert [o.title for o in reply.options] == ["Question 0?", "Question 1?", "None of these"]
    assert parse_choice(reply.options[0].payload) == "p0"


def test_a_clarify_says_which_words_of_the_question_it_knows_nothing_about():
    pair = QAPair.model_validate(pair_data(id="risks", question="What are the risks?"))
    reply = answerer(Decision("clarify", [Hit(pair.id, "qa", 0.8, "question", pair=pair)], ("baclofen",))).reply_to(
        "side effects of baclofen"
    )[0]
    assert reply.kind == "clarify" and reply.text.startswith("I couldn't find “baclofen” in what I know.")
    assert [o.title for o in reply.options] == ["What are the risks?", "None of these"]


def test_choosing_a_candidate_answers_it_and_none_of_these_falls_back():
    pair = QAPair.model_validate(pair_data())
    a = answerer(pairs={pair.id: pair})
    assert a.reply_to(choice_payload(pair.id))[0].answer.id == pair.id
    assert a.reply_to("/none_of_these")[0].kind == "fallback"
    assert a.reply_to(choice_payload("no-such-pair"))[0].kind == "fallback"


def test_fallback_and_handoff_give_the_helpline_from_settings():
    a = answerer(helpline={"name": "Test helpline", "phone": "0800 000 111", "hours": "9am to 5pm", "url": ""})
    fb = a.reply_to("how do I renew my passport online")[0]
    assert fb.kind == "fallback" and fb.answer is None
    assert "Test helpline on 0800 000 111 (9am to 5pm)" in fb.text
    assert "0800 000 111" in a.handoff().text


def test_an_answer_offers_related_questions_and_was_this_helpful():
    a_pair = QAPair.model_validate(pair_data(id="a", question="Question A?"))
    b_pair = QAPair.model_validate(pair_data(id="b", question="Question B?"))
    reply = answerer(pairs={"a": a_pair, "b": b_pair}).answer(a_pair, 0.9)
    assert [o.title for o in reply.options] == ["Question B?"]
    assert [parse_feedback(o.payload) for o in reply.feedback.options] == [("a", True), ("a", False)]
    assert parse_feedback(feedback_payload("a", False)) == ("a", False)
    assert parse_feedback('/feedback{"pair_id": "a", "helpful": "yes"}') is None


def test_a_personal_treatment_question_gets_the_facts_and_no_advice():
    pair = QAPair.model_validate(pair_data())
    hit = Hit(pair.id, "qa", 0.9, "question", pair=pair)
    reply = answerer(Decision("answer", [hit])).reply_to("Should I have the procedure abroad?")[0]
    assert reply.kind == "answer" and reply.answer.citations
    assert "can't advise you on your own treatment" in reply.text and "neurologist or MS nurse" in reply.text
    assert reply.answer.personal_note and "0808 800 8000" in reply.text
    assert "you should" not in reply.text.lower()


def test_a_follow_up_is_resolved_against_the_last_answer():
    last = QAPair.model_validate(pair_data(id="what-is-it", question="What is the liberation procedure?"))
    risks = QAPair.model_validate(pair_data(id="risks", question="What are the risks?"))
    resolved = Decision("answer", [Hit("risks", "qa", 0.9, "question", pair=risks)])
    a = answerer(
        pairs={last.id: last, risks.id: risks},
        decisions={"what are the risks of it? What is the liberation procedure?": resolved},
    )
    reply = a.reply_to("what are the risks of it?", context="what-is-it")[0]
    assert reply.answer.id == "risks"
    assert a.reply_to("what are the risks of it?")[0].kind == "fallback"  # no context, nothing to lean on
    more = a.reply_to("tell me more", context="what-is-it")[0]
    assert more.kind == "clarify" and "What are the risks?" in [o.title for o in more.options]
    assert is_follow_up("who proposed it?") and not is_follow_up(
        "what is the capital of France and its population today"
    )


def test_safety_replies_carry_the_numbers_from_settings():
    a = answerer()
    for category in ("suicide_self_harm", "stroke_neuro_emergency", "harm_disclosure", None):
        text = a.safety(category).text
        assert "999" in text and "116 123" in text and "NHS 111" in text
    assert a.safety("suicide_self_harm").text.startswith("I'm really sorry")


def test_short_vague_messages_get_the_menu_of_example_questions_and_the_helpline():
    pairs = {
        p.id: p
        for p in [QAPair.model_validate(pair_data(id=f"p{i}", question=f"Is venoplasty {i} safe?")) for i in range(5)]
    }
    # The retriever would even answer some of these outright, from whichever pair is nearest.
    a = answerer(Decision("answer", [Hit("p0", "qa", 0.9, "question", pair=pairs["p0"])]), pairs=pairs)
    for message in ("help", "?", "hi can you", "info", "???", "hello?", "why"):
        [reply] = a.reply_to(message)
        assert reply.kind == "smalltalk" and reply.answer is None, message
        assert "I can answer questions about CCSVI" in reply.text and "0808 800 8000" in reply.text
        assert len(reply.options) == 4 and all(o.payload.startswith("/choose_pair") for o in reply.options)


def test_a_short_question_naming_a_topic_is_answered_or_declined_never_given_the_menu():
    pair = QAPair.model_validate(pair_data(id="venoplasty-safe", question="Is venoplasty safe?"))
    hit = Hit(pair.id, "qa", 0.9, "question", pair=pair)
    a = answerer(Decision("answer", [hit]), decisions={"baclofen": Decision("fallback")})
    assert a.reply_to("venoplasty?")[0].kind == "answer"  # a word the collection is about
    assert a.reply_to("baclofen")[0].kind == "fallback"  # a name it does not know: the polite decline
    assert a.reply_to("/choose_pair" + '{"pair_id":"venoplasty-safe"}')[0].kind == "answer"
