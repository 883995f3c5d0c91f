"""What a browser is told on every response (security headers), and who may call /api/chat from
another site's page (CORS), on the real app in process."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from api.main import create_app
from api.routes import pages

pytestmark = pytest.mark.integration

PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "frame-ancestors 'self'; base-uri 'none'; form-action 'self'; require-trusted-types-for 'script'"
)
JSON_CSP = "default-src 'none'; frame-ancestors 'none'"
EMBEDDER = "https://www.charity.example"


def preflight(client, origin: str, path: str = "/api/chat", method: str = "POST"):
    return client.options(
        path,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": "content-type",
        },
    )


def test_pages_get_a_strict_policy_and_no_referrer(app_client):
    for path, page in (
        ("/", "index.html"),
        ("/signin", "signin.html"),
        ("/staff", "staff.html"),
        ("/editor", "editor.html"),
    ):
        r = app_client.get(path)
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/html"), path
        assert r.text == (pages.STATIC / page).read_text(), path
        assert r.headers["content-security-policy"] == PAGE_CSP, path
        assert "unsafe-inline" not in r.headers["content-security-policy"]
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["referrer-policy"] == "no-referrer"


def test_api_answers_allow_nothing_and_are_not_cached(app_client):
    for r in (
        app_client.post("/api/chat", json={"message": "what is ccsvi"}),
        app_client.get("/api/search", params={"q": "ccsvi"}),  # an error is JSON too
        app_client.get("/api/no-such-thing"),
    ):
        assert r.headers["content-type"].startswith("application/json")
        assert r.headers["content-security-policy"] == JSON_CSP
        assert r.headers["x-content-type-options"] == "nosniff" and r.headers["referrer-policy"] == "no-referrer"
    assert app_client.post("/api/chat", json={"message": "hi"}).headers["cache-control"] == "no-store"
    assert app_client.get("/healthz").headers["content-security-policy"] == JSON_CSP


def test_static_files_are_not_sniffed_and_cached_briefly(app_client):
    script = next(p.name for p in sorted(pages.STATIC.glob("*.js")) if not p.name.startswith("widget"))
    r = app_client.get(f"/static/{script}")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/javascript")
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["cache-control"] == "public, max-age=300"
    assert "cross-origin-resource-policy" not in r.headers  # only the widget is for other sites
    for name in ("widget.js", "widget.css"):  # the widget's own files, loaded by other sites' pages
        if (pages.STATIC / name).exists():
            assert app_client.get(f"/static/{name}").headers["cross-origin-resource-policy"] == "cross-origin"


def test_the_widget_script_is_served_at_a_stable_address_for_other_sites(app_client, tmp_path, monkeypatch):
    monkeypatch.setattr(pages, "STATIC", tmp_path)
    assert app_client.get("/widget.js").status_code == 404  # not installed: said plainly
    (tmp_path / "widget.js").write_text("console.log('widget');\n")
    r = app_client.get("/widget.js", headers={"Origin": EMBEDDER})
    assert r.status_code == 200 and r.text == "console.log('widget');\n"
    assert r.headers["content-type"].startswith("text/javascript")
    assert r.headers["cross-origin-resource-policy"] == "cross-origin"
    assert r.headers["x-content-type-options"] == "nosniff"


def test_the_docs_page_gets_the_same_policy_as_every_page(app_client):
    r = app_client.get("/docs")  # our own files (tests/integration/test_hostile_input.py checks them)
    assert r.status_code == 200 and r.headers["content-security-policy"] == PAGE_CSP


def test_only_the_configured_sites_may_call_the_chat_from_their_pages(make_settings):
    settings = make_settings(web={"allowed_origins": [EMBEDDER + "/"]})
    with TestClient(create_app(settings)) as client:
        ok = preflight(client, EMBEDDER)
        assert ok.status_code == 200
        assert ok.headers["access-control-allow-origin"] == EMBEDDER
        assert "POST" in ok.headers["access-control-allow-methods"]
        assert "content-type" in ok.headers["access-control-allow-headers"].lower()
        assert "access-control-allow-credentials" not in ok.headers

        r = client.post("/api/chat", json={"message": "what is ccsvi"}, headers={"Origin": EMBEDDER})
        assert r.status_code == 200 and r.headers["access-control-allow-origin"] == EMBEDDER
        assert r.headers["access-control-expose-headers"] == "Retry-After"  # the widget can say how long to wait
        assert "access-control-allow-credentials" not in r.headers

        stranger = preflight(client, "https://elsewhere.example")
        assert stranger.status_code == 400 and "access-control-allow-origin" not in stranger.headers
        r = client.post("/api/chat", json={"message": "hello"}, headers={"Origin": "https://elsewhere.example"})
        assert "access-control-allow-origin" not in r.headers  # the browser keeps the answer from that page

        # Nothing else is open to other sites, not even for an allowed one.
        assert "access-control-allow-origin" not in preflight(client, EMBEDDER, "/api/search", "GET").headers
        login = client.post(
            "/api/auth/login", json={"username": "x", "password": "y" * 12}, headers={"Origin": EMBEDDER}
        )
        assert login.status_code == 403 and "access-control-allow-origin" not in login.headers


def test_with_no_origins_configured_the_chat_is_for_this_sites_pages_only(app_client):
    r = preflight(app_client, EMBEDDER)
    assert "access-control-allow-origin" not in r.headers
    same_site = app_client.post("/api/chat", json={"message": "hello"}, headers={"Origin": "http://testserver"})
    assert same_site.status_code == 200


def test_allowed_origins_can_be_set_from_the_environment(make_settings, monkeypatch):
    monkeypatch.setenv("FAQBOT_WEB__ALLOWED_ORIGINS", '["http://127.0.0.1:9999"]')
    assert make_settings().web.allowed_origins == ["http://127.0.0.1:9999"]
    monkeypatch.setenv("FAQBOT_WEB__ALLOWED_ORIGINS", '["https://example.org/embed/page"]')
    with pytest.raises(ValidationError, match="is not an origin"):
        make_settings()
