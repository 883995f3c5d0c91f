import pytest

from api.runtime import RateLimiter, Sessions

pytestmark = pytest.mark.unit


def test_sessions_issue_unguessable_ids_and_replace_unknown_ones():
    s = Sessions()
    sid, new = s.resolve(None)
    assert new and len(sid) >= 20
    assert s.resolve(sid) == (sid, False)
    other, new = s.resolve("made-up-id")
    assert new and other != "made-up-id"


def test_rate_limiter_blocks_after_the_limit_and_says_how_long_to_wait():
    r = RateLimiter(per_minute=3)
    assert [r.check("a") for _ in range(3)] == [0, 0, 0]
    assert r.check("a") >= 1
    assert r.check("b") == 0
    assert RateLimiter(per_minute=0).check("a") == 0
