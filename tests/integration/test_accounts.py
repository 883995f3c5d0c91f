"""Staff sign-in on the real app in process: accounts, the session cookie, limits, expiry, CSRF and the CLI.

Time is moved through the accounts' injectable clock, never waited for.
"""

from __future__ import annotations

import datetime as dt
import statistics
import subprocess
import sys
import time

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from api.accounts import users
from tests.conftest import REPO, base_env, make_token

pytestmark = pytest.mark.integration

PASSWORD = "correct horse battery"
WRONG = "wrong horse battery"
UNAUTHORIZED = {"error": "unauthorized", "message": "Wrong username or password."}


class Clock:
    """Stands in for the wall clock of the accounts, so a test can move time."""

    def __init__(self) -> None:
        self.now = dt.datetime.now(dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += dt.timedelta(**delta)


@pytest.fixture
def accounts(app_client):
    return app_client.app.state.accounts


@pytest.fixture
def clock(accounts):
    clock = Clock()
    accounts.clock = clock
    return clock


def sign_in(client, username: str, password: str = PASSWORD, **headers: str):
    return client.post("/api/auth/login", json={"username": username, "password": password}, headers=headers)


def cookie_attributes(set_cookie: str) -> set[str]:
    return {part.strip().split("=")[0].lower() for part in set_cookie.split(";")[1:]}


def test_signing_in_gives_an_httponly_strict_cookie_and_the_page_what_it_needs(app_client, accounts):
    accounts.set_user("Alice", PASSWORD, "staff")  # usernames are kept in lowercase
    r = sign_in(app_client, "ALICE ")
    assert r.status_code == 200
    body = r.json()
    assert body["username"] == "alice" and body["role"] == "staff" and len(body["csrf_token"]) >= 32
    expires = dt.datetime.fromisoformat(body["expires_at"])
    assert dt.timedelta(hours=7.9) < expires - dt.datetime.now(dt.UTC) <= dt.timedelta(hours=8)
    cookie = r.headers["set-cookie"]
    assert cookie.startswith("faqbot_session=") and len(cookie.split(";")[0]) > 40
    assert "HttpOnly; SameSite=Strict; Path=/" in cookie
    assert "secure" not in cookie_attributes(cookie)  # plain http here: a Secure cookie would never come back
    assert PASSWORD not in r.text and "password" not in body

    # The cookie alone signs the next requests in: who am I, and staff search.
    me = app_client.get("/api/auth/me")
    assert me.status_code == 200 and me.json()["username"] == "alice" and me.json()["csrf_token"] == body["csrf_token"]
    search = app_client.get("/api/search", params={"q": "what is ccsvi"})
    assert search.status_code == 200 and search.json()["results"]
    # ... but not the editors' tools: the role still decides.
    assert app_client.get("/api/qa").status_code == 403


def test_over_https_the_session_cookie_is_secure(app_client, accounts):
    accounts.set_user("bob", PASSWORD, "editor")
    https = TestClient(app_client.app, base_url="https://testserver")  # the app is started already
    r = sign_in(https, "bob", Origin="https://testserver")
    assert r.status_code == 200
    assert {"secure", "httponly", "samesite", "path"} <= cookie_attributes(r.headers["set-cookie"])
    assert https.get("/api/auth/me").json()["role"] == "editor"


def test_a_wrong_password_and_an_unknown_user_get_the_same_answer_in_similar_time(app_client, accounts):
    accounts.set_user("carol", PASSWORD, "staff")
    wrong: list[float] = []
    unknown: list[float] = []
    for _ in range(3):
        for name, times in (("carol", wrong), ("nobody-here", unknown)):
            start = time.perf_counter()
            r = sign_in(app_client, name, WRONG)
            times.append(time.perf_counter() - start)
            assert r.status_code == 401 and r.json() == UNAUTHORIZED
            assert "set-cookie" not in r.headers
    # An unknown name is checked against a dummy hash: it takes as long, so timing tells nothing.
    assert statistics.median(unknown) > 0.5 * statistics.median(wrong)
    assert app_client.get("/api/auth/me").status_code == 401


def test_an_account_waits_after_five_failures_even_with_the_right_password(app_client, accounts, clock):
    accounts.set_user("dave", PASSWORD, "staff")
    accounts.set_user("erin", PASSWORD, "staff")
    assert [sign_in(app_client, "dave", WRONG).status_code for _ in range(5)] == [401] * 5
    clock.advance(minutes=5)
    r = sign_in(app_client, "dave")
    assert r.status_code == 429
    assert 590 <= int(r.headers["retry-after"]) <= 600  # the first failure leaves the 15-minute window in 10
    assert r.json()["message"] == "Too many sign-in attempts for this account. Please try again in 10 minutes."
    assert "set-cookie" not in r.headers
    # Only that account waits; a colleague at the same desk signs in.
    assert sign_in(app_client, "erin").status_code == 200
    clock.advance(minutes=10)
    assert sign_in(app_client, "dave").status_code == 200


def test_a_successful_sign_in_clears_the_account_failures(app_client, accounts, clock):
    accounts.set_user("frank", PASSWORD, "staff")
    assert [sign_in(app_client, "frank", WRONG).status_code for _ in range(4)] == [401] * 4
    assert sign_in(app_client, "frank").status_code == 200
    assert [sign_in(app_client, "frank", WRONG).status_code for _ in range(4)] == [401] * 4
    assert sign_in(app_client, "frank").status_code == 200


def test_one_address_may_try_twenty_times_in_fifteen_minutes(app_client, accounts, clock):
    accounts.set_user("grace", PASSWORD, "staff")
    codes = [sign_in(app_client, f"guess-{i}", WRONG).status_code for i in range(19)]
    assert codes == [401] * 19
    assert sign_in(app_client, "grace").status_code == 200  # the 20th attempt, and a right one
    clock.advance(minutes=1)
    r = sign_in(app_client, "grace")
    assert r.status_code == 429 and 800 <= int(r.headers["retry-after"]) <= 840
    assert r.json()["message"] == "Too many sign-in attempts from your network. Please try again in 14 minutes."
    other_desk = TestClient(app_client.app, client=("10.0.0.7", 40000))
    assert sign_in(other_desk, "grace").status_code == 200
    clock.advance(minutes=14)
    assert sign_in(app_client, "grace").status_code == 200


def test_a_session_ends_after_eight_hours_however_busy(app_client, accounts, clock):
    accounts.set_user("heidi", PASSWORD, "staff")
    assert sign_in(app_client, "heidi").status_code == 200
    for _ in range(23):  # a request every 20 minutes keeps it from idling out
        clock.advance(minutes=20)
        assert app_client.get("/api/auth/me").status_code == 200
    clock.advance(minutes=20)  # 8 hours after signing in
    r = app_client.get("/api/auth/me")
    assert r.status_code == 401 and "sign in" in r.json()["message"]
    assert app_client.get("/api/search", params={"q": "ccsvi"}).status_code == 401


def test_a_session_ends_after_thirty_idle_minutes(app_client, accounts, clock):
    accounts.set_user("ivan", PASSWORD, "staff")
    assert sign_in(app_client, "ivan").status_code == 200
    clock.advance(minutes=29)
    assert app_client.get("/api/search", params={"q": "ccsvi"}).status_code == 200  # activity
    clock.advance(minutes=29)
    assert app_client.get("/api/auth/me").status_code == 200
    clock.advance(minutes=30)
    r = app_client.get("/api/auth/me")
    assert r.status_code == 401
    assert "Max-Age=0" in r.headers["set-cookie"]  # the dead cookie is cleared


def test_signing_out_ends_the_session_on_the_server_and_clears_the_cookie(app_client, accounts):
    accounts.set_user("judy", PASSWORD, "staff")
    r = sign_in(app_client, "judy")
    token = r.cookies["faqbot_session"]
    out = app_client.post("/api/auth/logout")
    assert out.status_code == 204 and out.content == b""
    assert out.headers["set-cookie"].startswith("faqbot_session=;") and "Max-Age=0" in out.headers["set-cookie"]
    assert app_client.get("/api/auth/me").status_code == 401
    # A copy of the old cookie is worth nothing now.
    replay = TestClient(app_client.app, cookies={"faqbot_session": token})
    assert replay.get("/api/auth/me").status_code == 401
    assert replay.get("/api/search", params={"q": "ccsvi"}).status_code == 401


def test_a_change_made_with_the_cookie_needs_the_sessions_csrf_token(app_client, accounts):
    accounts.set_user("mallory-target", PASSWORD, "editor")
    csrf = sign_in(app_client, "mallory-target").json()["csrf_token"]
    flag = {"pair_id": "liberation-procedure-proven", "note": "The 2017 trial should be cited."}
    for headers in ({}, {"X-CSRF-Token": "forged"}, {"X-CSRF-Token": csrf[:-1]}):
        r = app_client.post("/api/flags", json=flag, headers=headers)
        assert r.status_code == 403 and r.json()["error"] == "csrf_failed" and "Reload the page" in r.json()["message"]
    assert app_client.get("/api/flags", params={"state": "open"}).json() == []  # nothing was written
    r = app_client.post("/api/flags", json=flag, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 201 and r.json()["created_by"] == "mallory-target"
    closed = app_client.patch(f"/api/flags/{r.json()['id']}", json={"state": "closed", "note": "done"})
    assert closed.status_code == 403 and closed.json()["error"] == "csrf_failed"


def test_signing_in_from_another_sites_page_is_refused(app_client, accounts):
    accounts.set_user("kim", PASSWORD, "staff")
    for origin in ("https://evil.example", "http://testserver.evil.example", "null", "https://testserver"):
        r = sign_in(app_client, "kim", Origin=origin)
        assert r.status_code == 403 and "own sign-in page" in r.json()["message"]
        assert "set-cookie" not in r.headers
    assert app_client.get("/api/auth/me").status_code == 401
    assert sign_in(app_client, "kim", Origin="http://testserver").status_code == 200  # our own page


def test_bearer_tokens_still_work_and_need_no_csrf_token(app_client, accounts):
    runtime = app_client.app.state.runtime
    editor = {"Authorization": f"Bearer {make_token(runtime, 'editor')}"}
    r = app_client.post("/api/flags", json={"pair_id": "what-is-ccsvi", "note": "Check the date."}, headers=editor)
    assert r.status_code == 201 and r.json()["created_by"] == "editor token"
    assert app_client.get("/api/qa", headers=editor).status_code == 200
    # A bearer header decides alone: a wrong token is not rescued by a signed-in cookie.
    accounts.set_user("leo", PASSWORD, "admin")
    assert sign_in(app_client, "leo").status_code == 200
    r = app_client.get("/api/qa", headers={"Authorization": "Bearer not-a-token"})
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"


def test_a_disabled_account_cannot_sign_in_and_is_signed_out(app_client, accounts):
    accounts.set_user("mia", PASSWORD, "staff")
    assert sign_in(app_client, "mia").status_code == 200
    with accounts.engine.begin() as c:
        c.execute(update(users).where(users.c.username == "mia").values(disabled=True))
    assert app_client.get("/api/auth/me").status_code == 401
    r = sign_in(app_client, "mia")
    assert r.status_code == 401 and r.json() == UNAUTHORIZED


def test_a_hash_made_with_older_argon2_parameters_is_renewed_at_sign_in(app_client, accounts):
    current = accounts.hasher
    accounts.hasher = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1)
    accounts.set_user("nina", PASSWORD, "staff")
    accounts.hasher = current

    def stored() -> str:
        with accounts.engine.connect() as c:
            return c.execute(select(users.c.password_hash).where(users.c.username == "nina")).scalar_one()

    assert stored().startswith("$argon2id$v=19$m=8192,t=1,p=1$")
    assert sign_in(app_client, "nina").status_code == 200
    assert stored().startswith(f"$argon2id$v=19$m={current.memory_cost},t={current.time_cost},")
    assert not current.check_needs_rehash(stored())
    app_client.post("/api/auth/logout")
    assert sign_in(app_client, "nina").status_code == 200  # the renewed hash still takes the password


def test_passwords_and_usernames_are_checked(accounts):
    with pytest.raises(ValueError, match="at least 12 characters"):
        accounts.set_user("olga", "short pass", "staff")
    with pytest.raises(ValueError, match="3 to 64 characters"):
        accounts.set_user("o", PASSWORD, "staff")
    with pytest.raises(ValueError, match="3 to 64 characters"):
        accounts.set_user("olga smith", PASSWORD, "staff")
    with pytest.raises(ValueError, match="role"):
        accounts.set_user("olga", PASSWORD, "visitor")
    assert accounts.role_of("olga") is None


def run_cli(tmp_path, *args: str, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "api.cli", "user", *args],
        cwd=REPO,
        env=base_env(tmp_path / "data"),  # the data directory app_client serves from
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_make_user_creates_an_account_and_resets_its_password_and_role(app_client, tmp_path):
    made = run_cli(tmp_path, "--role", "staff", "--username", "pat", "--password-stdin", stdin=PASSWORD + "\n")
    assert made.returncode == 0, made.stderr
    assert "Created the staff account 'pat'" in made.stdout and PASSWORD not in made.stdout + made.stderr
    assert sign_in(app_client, "pat").json()["role"] == "staff"

    short = run_cli(tmp_path, "--role", "admin", "--username", "pat", "--password-stdin", stdin="tooshort\n")
    assert short.returncode == 1
    assert "at least 12 characters" in short.stderr and "Nothing was changed" in short.stderr
    assert app_client.get("/api/auth/me").json()["role"] == "staff"

    new_password = "a new and longer passphrase"
    again = run_cli(tmp_path, "--role", "editor", "--username", "pat", "--password-stdin", stdin=new_password + "\n")
    assert again.returncode == 0, again.stderr
    assert "existed already" in again.stdout and "role staff -> editor" in again.stdout
    assert app_client.get("/api/auth/me").status_code == 401  # signed out by the reset
    assert sign_in(app_client, "pat").status_code == 401
    assert sign_in(app_client, "pat", new_password).json()["role"] == "editor"


def test_the_cli_asks_twice_and_refuses_passwords_that_differ(make_settings, monkeypatch, capsys):
    from api import cli

    make_settings()  # FAQBOT_* for a fresh data directory
    cli.get_settings.cache_clear()
    answers = iter([PASSWORD, PASSWORD + "!"])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))
    assert cli.main(["user", "--role", "staff", "--username", "quinn"]) == 1
    assert "The two passwords differ. Nothing was changed." in capsys.readouterr().err
    answers = iter(["short"])
    assert cli.main(["user", "--role", "staff", "--username", "quinn"]) == 1
    assert "at least 12 characters" in capsys.readouterr().err
    answers = iter([PASSWORD, PASSWORD])
    assert cli.main(["user", "--role", "staff", "--username", "quinn"]) == 0
    assert "Created the staff account 'quinn'" in capsys.readouterr().out
    cli.get_settings.cache_clear()
