"""Sessions and rate limits shared by replicas through Redis (api/limits.py, bot/sessions.py), against the
machine's real Redis (127.0.0.1:6379), each test on its own key prefix; and what happens when Redis is gone."""

from __future__ import annotations

import secrets

import pytest

from api.limits import RedisRateLimiter
from api.rasa_runtime import redis_stores
from bot.sessions import Memory, RedisSessions

pytestmark = pytest.mark.integration


@pytest.fixture
def client():
    import redis

    c = redis.Redis(host="127.0.0.1", port=6379, db=0, socket_timeout=2)
    try:
        c.ping()
    except redis.RedisError as exc:
        pytest.fail(f"Redis does not answer on 127.0.0.1:6379 ({exc}); run scripts/ensure-redis.sh", pytrace=False)
    prefix = f"faqbot-test-{secrets.token_hex(4)}:"
    yield c, prefix
    for key in c.scan_iter(prefix + "*"):
        c.delete(key)


def gone():
    """A client of a Redis that is not there."""
    import redis

    return redis.Redis(host="127.0.0.1", port=1, socket_timeout=0.2, socket_connect_timeout=0.2)


def test_two_replicas_share_one_limit(client):
    c, prefix = client
    one = RedisRateLimiter(c, 5, "chat", prefix=prefix)
    two = RedisRateLimiter(c, 5, "chat", prefix=prefix)
    waits = [(one, two)[i % 2].check("198.51.100.1") for i in range(5)]
    assert waits == [0.0] * 5
    assert 1 <= two.check("198.51.100.1") <= 60
    assert one.check("198.51.100.1") > 0
    assert one.check("198.51.100.2") == 0.0  # another client has its own allowance


def test_without_redis_the_limit_is_not_applied_rather_than_refusing_everyone():
    limiter = RedisRateLimiter(gone(), 1, "chat")
    assert [limiter.check("198.51.100.1") for _ in range(3)] == [0.0, 0.0, 0.0]


def test_a_session_started_on_one_replica_continues_on_another_and_expires_when_idle(client):
    c, prefix = client
    one, two = RedisSessions(c, idle_seconds=60, prefix=prefix), RedisSessions(c, idle_seconds=60, prefix=prefix)
    sid, new = one.resolve(None)
    assert new
    assert two.resolve(sid) == (sid, False)
    assert 0 < c.pttl(prefix + sid) <= 60_000  # forgotten by Redis itself after the idle limit
    other, new = two.resolve("made-up-session-id-that-was-never-issued")
    assert new and other != "made-up-session-id-that-was-never-issued"


def test_a_conversations_memory_is_shared_by_replicas_and_expires_with_it(client):
    c, prefix = client
    one, two = RedisSessions(c, idle_seconds=60, prefix=prefix), RedisSessions(c, idle_seconds=60, prefix=prefix)
    sid, _ = one.resolve(None)
    assert two.recall(sid) == Memory()
    one.remember(sid, Memory(5, "what-is-ccsvi"))
    assert two.resolve(sid) == (sid, False)
    assert two.recall(sid) == Memory(5, "what-is-ccsvi")  # "who came up with it?" on the other replica
    assert 0 < c.pttl(prefix + sid) <= 60_000
    one.remember("never-issued-session-id-000", Memory(1, "x"))  # never brings back an unknown conversation
    assert c.exists(prefix + "never-issued-session-id-000") == 0
    assert RedisSessions(gone(), idle_seconds=60).recall(sid) == Memory()  # Redis away: no memory, no error


def test_without_redis_a_conversation_keeps_its_id_and_a_new_one_gets_a_fresh_id():
    sessions = RedisSessions(gone(), idle_seconds=60)
    assert sessions.resolve("abcdefghijklmnopqrstuvwx") == ("abcdefghijklmnopqrstuvwx", False)
    sid, new = sessions.resolve(None)
    assert new and len(sid) >= 16
    assert sessions.resolve("<script>")[1] is True  # a malformed id is never adopted


def test_rasa_keeps_conversations_and_locks_in_the_same_redis():
    import yaml

    stores = yaml.safe_load(redis_stores("redis://:s%40cret@10.0.0.2:6380/4", 3600))
    # The tracker store is Rasa's Redis store, named through bot/rasa_server.py (loaded in the Rasa server).
    assert stores["tracker_store"]["type"] == "bot.rasa_server.RedisTrackerStore"
    assert stores["lock_store"]["type"] == "redis"
    for kind in ("tracker_store", "lock_store"):
        assert (stores[kind]["url"], stores[kind]["port"], stores[kind]["db"]) == ("10.0.0.2", 6380, 4)
        assert stores[kind]["password"] == "s@cret"
    assert stores["tracker_store"]["record_exp"] == 3600  # a conversation expires from Rasa's store too
    with pytest.raises(ValueError):
        redis_stores("http://10.0.0.2", 3600)
