import pytest

from api.limits import RateLimiter
from bot.sessions import Sessions

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


def test_the_confidence_fit_follows_the_encoder_in_use():
    from api.settings import Settings

    retrieval = Settings(_env_file=None).retrieval
    tuned, packaged = retrieval.scoring(finetuned=True), retrieval.scoring(finetuned=False)
    assert (tuned.calibration_a, tuned.calibration_b) == (retrieval.calibration_a, retrieval.calibration_b)
    fitted = (packaged.calibration_a, packaged.calibration_b, packaged.calibration_rare, packaged.calibration_unknown)
    assert fitted == (
        retrieval.calibration_base_a,
        retrieval.calibration_base_b,
        retrieval.calibration_base_rare,
        retrieval.calibration_base_unknown,
    )
    # the same fused score means a different chance of being right under each encoder
    assert tuned.confidence(0.8) != packaged.confidence(0.8)


def test_the_method_guard_answers_each_path_alike_and_keeps_only_routes_paths():
    """Allow/405 come from the routes; made-up paths (a scanner's) are worked out each time, never kept."""
    from fastapi import FastAPI

    from api.hardening import MethodGuard

    app = FastAPI()
    app.get("/api/things")(lambda: {})
    app.put("/api/things/{thing_id}")(lambda thing_id: {})
    app.delete("/api/things/{thing_id}")(lambda thing_id: {})
    guard = MethodGuard(app, app.router.routes)
    for _ in range(2):  # worked out, then remembered: the same answer
        assert guard.allowed("/api/things") == ["GET", "OPTIONS"]
        assert guard.allowed("/api/things/a1") == ["PUT", "DELETE", "OPTIONS"]
    for i in range(5000):
        assert guard.allowed(f"/wp-admin/{i}.php") is None
    assert guard.allowed("/api/things/" + "x" * 500) == ["PUT", "DELETE", "OPTIONS"]
    assert len(guard._answers) == 2
