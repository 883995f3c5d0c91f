"""The wording rules of replies, with a stand-in retriever (pure logic: no model, no index)."""
import datetime as dt

import pytest

from api.answering import Answerer, choice_payload, parse_choice
from api.settings import Settings
from embeddings.retriever import Decision, Hit
from knowledge.schema import QAPair
from tests.factories import pair_data

pytestmark = pytest.mark.unit


class FakeRetriever:
    def __init__(self, decision: Decision, pairs: dict[str, QAPair]):
        self.decision = decision
        self.pairs = pairs

    def decide(self, query):
        return self.decision

    def pair(self, pair_id):
        return self.pairs.get(pair_id)


def answerer(decision=Decision("fallback"), pairs=None, **settings) -> Answerer:
    a = Answerer(FakeRetriever(decision, pairs or {}), Settings(_env_file=None, **settings))
    a.today = lambda: dt.date(2026, 11, 22)
    return a


def test_choice_payload_round_trips_and_rejects_garbage():
    assert parse_choice(choice_payload("ccsvi-what")) == "ccsvi-what"
    assert parse_choice("/choose_pair{not json}") is None
    assert parse_choice("what is ccsvi") is None


def test_an_answer_carries_caveats_sources_and_marks_old_sources_historical():
    pair = QAPair.model_validate(pair_data(sources=[
        {"title": "Old article", "publisher": "WebMD", "published": "2010-10-12"},
        {"title": "New review", "publisher": "Cochrane", "published": "2024-05"}]))
    reply = answerer(Decision("answer", [Hit(pair.id, "qa", 0.9, "question", pair=pair)])).reply_to("q")[0]
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
    reply = answerer(Decision("clarify", hits)).reply_to("vague")[0]
    assert reply.kind == "clarify"
    assert [o.title for o in reply.options] == ["Question 0?", "Question 1?", "None of these"]
    assert parse_choice(reply.options[0].payload) == "p0"


def test_choosing_a_candidate_answers_it_and_none_of_these_falls_back():
    pair = QAPair.model_validate(pair_data())
    a = answerer(pairs={pair.id: pair})
    assert a.reply_to(choice_payload(pair.id))[0].answer.id == pair.id
    assert a.reply_to("/none_of_these")[0].kind == "fallback"
    assert a.reply_to(choice_payload("no-such-pair"))[0].kind == "fallback"


def test_fallback_and_handoff_give_the_helpline_from_settings():
    a = answerer(helpline={"name": "Test helpline", "phone": "0800 000 111", "hours": "9am to 5pm", "url": ""})
    fb = a.reply_to("anything")[0]
    assert fb.kind == "fallback" and fb.answer is None
    assert "Test helpline on 0800 000 111 (9am to 5pm)" in fb.text
    assert "0800 000 111" in a.handoff().text
