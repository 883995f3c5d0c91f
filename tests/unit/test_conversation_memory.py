"""A conversation's memory outside Rasa's tracker (bot/sessions.py): which tracker a message goes to,
what is carried from one message to the next, and that an idle conversation is forgotten whole."""

import pytest

from bot.sessions import Memory, Sessions, rasa_sender

pytestmark = pytest.mark.unit


def test_a_fresh_rasa_tracker_every_few_messages_of_one_conversation():
    memory, senders = Memory(), []
    for _ in range(9):
        senders.append(rasa_sender("abc", memory, 4))
        memory = memory.after(None)
    assert senders == ["abc.0"] * 4 + ["abc.1"] * 4 + ["abc.2"]
    assert rasa_sender("abc", Memory(turns=7), 1) == "abc.7"


def test_the_last_answer_is_remembered_until_another_is_given():
    memory = Memory().after("what-is-ccsvi").after(None).after(None)
    assert memory == Memory(turns=3, last_pair="what-is-ccsvi")
    assert memory.after("who-is-zamboni").last_pair == "who-is-zamboni"


def test_sessions_keep_the_memory_of_a_conversation_in_use(monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr("bot.sessions.time.monotonic", lambda: clock[0])
    sessions = Sessions(idle_seconds=60)
    sid, new = sessions.resolve(None)
    assert new and sessions.recall(sid) == Memory()
    sessions.remember(sid, Memory(2, "what-is-ccsvi"))
    clock[0] += 59
    assert sessions.resolve(sid) == (sid, False)
    assert sessions.recall(sid) == Memory(2, "what-is-ccsvi")


def test_an_idle_conversation_is_forgotten_with_its_memory(monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr("bot.sessions.time.monotonic", lambda: clock[0])
    sessions = Sessions(idle_seconds=60)
    old, _ = sessions.resolve(None)
    sessions.remember(old, Memory(5, "what-is-ccsvi"))
    clock[0] += 61
    _, new = sessions.resolve(None)  # any later message sweeps the idle ones away
    assert new and len(sessions) == 1
    assert sessions.recall(old) == Memory()
    again, new = sessions.resolve(old)
    assert new and again != old and sessions.recall(again) == Memory()
    sessions.remember(old, Memory(1, "x"))  # a reply that arrives after its conversation expired is dropped
    assert sessions.recall(old) == Memory()
