"""The sign-in page and the helpline staff page in a real browser (Debian's Chromium via Playwright).

One service of our own (Rasa off: staff search needs only the retriever), accounts made through the
CLI as an administrator would, and each test in a fresh browser context. What is checked is what
helpline staff would notice with a caller waiting: signing in (and being told why not), results
while typing, a keyboard-only path from sign-in to a copied answer (timed, never asserted), flags for
editors, the filters, hostile text shown as text, and the pages' accessibility.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import subprocess
import sys
import time
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest

from tests.conftest import REPO, LiveServer, start_server
from tests.e2e.browser import Watch, axe_violations, screenshot

pytestmark = pytest.mark.e2e

PASSWORD = "correct horse battery staple"
USERS = {
    "alice": "staff",  # signs in for most tests
    "bob": "staff",  # types a wrong password
    "carol": "staff",  # is locked out
    "kim": "staff",  # the keyboard-only run
    "erin": "editor",
}
LIBERATION = "liberation-procedure-proven"
TIMINGS = REPO / "var" / "test-artifacts" / "timings.json"
DESKTOP = {"width": 1280, "height": 720}
TABLET = {"width": 768, "height": 1024}
# Chromium logs every 4xx answer to fetch as a console error; the tests that provoke one expect it.
EXPECTED_HTTP_ERRORS = ("Failed to load resource",)

RESULTS_READY = """q => {
  const r = document.getElementById('results');
  return r && r.dataset.query === q && !r.hasAttribute('aria-busy');
}"""


def create_user(server: LiveServer, username: str, role: str, password: str = PASSWORD) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "api.cli", "user", "--role", role, "--username", username, "--password-stdin"],
        cwd=REPO,
        env=server.env,
        input=password + "\n",
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    s = start_server(
        tmp_path_factory.mktemp("staff") / "data",
        wait_for_bot=False,
        FAQBOT_BOT__ENABLED="false",
        # Every test signs in from 127.0.0.1; the per-account limit (5 failures) stays as shipped.
        FAQBOT_WEB__SIGNIN_MAX_ATTEMPTS_PER_CLIENT="500",
    )
    try:
        for name, role in USERS.items():
            create_user(s, name, role)
        # Visitors' "was this helpful" answers, which the staff page shows as counts.
        for helpful in (True, True, False):
            message = "/feedback" + json.dumps({"pair_id": LIBERATION, "helpful": helpful}, separators=(",", ":"))
            r = httpx.post(s.base_url + "/api/chat", json={"message": message}, timeout=30)
            assert r.status_code == 200, r.text
        yield s
    finally:
        s.stop()


@pytest.fixture
def context(browser, server):
    ctx = browser.new_context(viewport=DESKTOP, locale="en-GB", timezone_id="Europe/London")
    ctx.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.base_url)
    yield ctx
    ctx.close()


def open_page(context: Any, server: LiveServer) -> tuple[Any, Watch]:
    page = context.new_page()
    watch = Watch({server.base_url})
    watch.attach(page)
    page.set_default_timeout(20_000)
    return page, watch


def sign_in(page: Any, server: LiveServer, watch: Watch | None = None, username: str = "alice") -> None:
    """Signs in on the sign-in page and waits for the staff page. The sign-in page first asks
    /api/auth/me (signed in already?), and Chromium logs that 401 as a console error: it is expected,
    so it is forgotten here; anything the staff page logs afterwards is counted."""
    page.goto(server.base_url + "/signin?next=/staff")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("#signin-button")
    page.wait_for_url(server.base_url + "/staff")
    page.wait_for_selector("#q", state="visible")
    if watch is not None:
        watch.console_errors[:] = [m for m in watch.console_errors if "status of 401" not in m]


def search(page: Any, text: str) -> Any:
    page.fill("#q", text)
    page.wait_for_function(RESULTS_READY, arg=text)
    return page.locator("#results .result")


def read_clipboard(page: Any, must_contain: str, timeout: float = 10.0) -> str:
    deadline = time.monotonic() + timeout
    text = ""
    while time.monotonic() < deadline:
        text = page.evaluate("navigator.clipboard.readText()")
        if must_contain in text:
            return text
        time.sleep(0.02)
    raise AssertionError(f"the clipboard never held {must_contain!r}; it holds {text!r}")


def active(page: Any) -> dict:
    return page.evaluate(
        """() => { const a = document.activeElement;
        return {id: a.id, tag: a.tagName, cls: a.className, dataId: a.dataset ? a.dataset.id || null : null}; }"""
    )


def editor_headers(server: LiveServer) -> dict[str, str]:
    return {"Authorization": f"Bearer {server.token('editor')}"}


def edit_pair(server: LiveServer, pair_id: str, **changes: Any) -> dict:
    """An editor's change through the API, as the editors' tools make it: read for the ETag, then PUT."""
    with httpx.Client(base_url=server.base_url, headers=editor_headers(server), timeout=120) as c:
        r = c.get(f"/api/qa/{pair_id}")
        assert r.status_code == 200, r.text
        pair = r.json()
        pair.update(changes)
        put = c.put(f"/api/qa/{pair_id}", json=pair, headers={"If-Match": r.headers["ETag"]})
        assert put.status_code == 200, put.text
        return put.json()


def api_search(server: LiveServer, **params: Any) -> list[dict]:
    headers = {"Authorization": f"Bearer {server.token('staff')}"}
    r = httpx.get(server.base_url + "/api/search", params=params, headers=headers, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()["results"]


def record_timing(name: str, seconds: float) -> None:
    TIMINGS.parent.mkdir(parents=True, exist_ok=True)
    try:
        data = json.loads(TIMINGS.read_text())
        if not isinstance(data, dict):
            data = {}
    except (OSError, ValueError):
        data = {}
    data[name] = {"seconds": round(seconds, 3), "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}
    TIMINGS.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


# ---- signing in -------------------------------------------------------------------------------


def test_not_signed_in_the_staff_page_sends_you_to_sign_in_and_back(context, server):
    page, watch = open_page(context, server)
    response = page.goto(server.base_url + "/staff")
    assert response is not None and response.ok
    assert "script-src 'self'" in (response.headers.get("content-security-policy") or "")
    page.wait_for_url(re.compile(r"/signin\?"))
    assert parse_qs(urlsplit(page.url).query)["next"] == ["/staff"]
    assert page.locator("#results").count() == 0
    page.fill("#username", "alice")
    page.fill("#password", PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(server.base_url + "/staff")
    assert page.locator("#whoami").text_content() == "Signed in as alice (helpline staff)"
    assert httpx.get(server.base_url + "/api/search", params={"q": "ccsvi"}, timeout=30).status_code == 401
    assert watch.problems(page, ignore_console=EXPECTED_HTTP_ERRORS) == {}


def test_sign_in_goes_on_only_to_this_site_and_sign_out_ends_it(context, server):
    page, watch = open_page(context, server)
    response = page.goto(server.base_url + "/signin?next=/staff")
    assert response is not None and "form-action 'self'" in (response.headers.get("content-security-policy") or "")
    assert active(page)["id"] == "username"
    assert page.get_by_label("Username").is_visible() and page.get_by_label("Password").is_visible()
    screenshot(page, "signin")
    sign_in(page, server, watch)
    # Signed in already: the sign-in page goes straight on, and never to another site.
    for next_value in ("/staff", "//evil.example/x", "https://evil.example/", "javascript:alert(1)", "/\\evil.example"):
        page.goto(server.base_url + "/signin?" + urlencode({"next": next_value}))
        page.wait_for_url(server.base_url + "/staff")
    page.click("#signout")
    page.wait_for_url(re.compile(r"/signin\?signed_out=1"))
    assert page.locator("#signin-notice").text_content() == "You have signed out."
    page.goto(server.base_url + "/staff")
    page.wait_for_url(re.compile(r"/signin\?next="))
    assert watch.problems(page, ignore_console=EXPECTED_HTTP_ERRORS) == {}


def test_a_wrong_password_is_said_plainly_and_the_form_stays(context, server):
    page, watch = open_page(context, server)
    page.goto(server.base_url + "/signin?next=/staff")
    page.fill("#username", "bob")
    page.fill("#password", "not the password at all")
    with page.expect_response("**/api/auth/login") as answer:
        page.click("#signin-button")
    assert answer.value.status == 401
    error = page.locator("#signin-error")
    error.filter(has_text="not right").wait_for()
    assert "The username or password is not right" in error.text_content()
    assert page.get_attribute("#password", "aria-invalid") == "true"
    assert page.input_value("#password") == "" and page.input_value("#username") == "bob"
    assert active(page)["id"] == "password"
    assert urlsplit(page.url).path == "/signin"
    screenshot(page, "signin-error")
    assert watch.problems(page, ignore_console=EXPECTED_HTTP_ERRORS) == {}


def test_a_cookie_alone_cannot_post_a_flag_from_inside_the_page(context, server):
    page, watch = open_page(context, server)
    sign_in(page, server, watch)
    result = page.evaluate(
        """async (pairId) => {
          const send = (headers) => fetch('/api/flags', {method: 'POST', credentials: 'same-origin',
            headers: Object.assign({'Content-Type': 'application/json'}, headers),
            body: JSON.stringify({pair_id: pairId, note: 'csrf probe'})});
          const bare = await send({});
          const wrong = await send({'X-CSRF-Token': 'not-the-token'});
          const me = await (await fetch('/api/auth/me', {credentials: 'same-origin'})).json();
          const right = await send({'X-CSRF-Token': me.csrf_token});
          return {bare: bare.status, bareBody: await bare.json(), wrong: wrong.status, right: right.status};
        }""",
        LIBERATION,
    )
    assert result["bare"] == 403 and result["bareBody"]["error"] == "csrf_failed", result
    assert result["wrong"] == 403, result
    assert result["right"] == 201, result  # the same cookie with the page's token is let in
    assert watch.problems(page, ignore_console=EXPECTED_HTTP_ERRORS) == {}


def test_a_session_that_ends_mid_search_comes_back_to_the_same_words(context, server):
    page, watch = open_page(context, server)
    sign_in(page, server, watch)
    search(page, "what is ccsvi")
    context.clear_cookies()  # as if the session had timed out while the page was open
    page.fill("#q", "is the liberation procedure proven")
    page.wait_for_url(re.compile(r"/signin\?"))
    params = parse_qs(urlsplit(page.url).query)
    assert params["next"] == ["/staff?q=is%20the%20liberation%20procedure%20proven"] and params["expired"] == ["1"]
    assert page.locator("#signin-notice").text_content() == "Your session has ended. Please sign in again."
    page.fill("#username", "alice")
    page.fill("#password", PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_function(RESULTS_READY, arg="is the liberation procedure proven")
    assert page.locator("#results .result").first.get_attribute("data-id") == LIBERATION
    assert watch.problems(page, ignore_console=EXPECTED_HTTP_ERRORS) == {}


# ---- searching ----------------------------------------------------------------------------------


def test_results_appear_while_typing_with_everything_staff_need(context, server):
    page, watch = open_page(context, server)
    sent: list[str] = []
    page.on("request", lambda r: sent.append(r.url) if "/api/search" in r.url else None)
    sign_in(page, server, watch)
    query = "is the liberation procedure proven"
    page.click("#q")
    page.keyboard.type(query, delay=40)  # no Enter: results come as the words are typed
    page.wait_for_function(RESULTS_READY, arg=query)
    assert len(sent) < len(query) / 2, f"searched on almost every keystroke: {len(sent)} requests"

    expected = api_search(server, q=query, k=5)
    cards = page.locator("#results .result")
    assert [cards.nth(i).get_attribute("data-id") for i in range(cards.count())] == [r["id"] for r in expected]
    first = cards.first
    assert first.get_attribute("data-id") == LIBERATION
    assert first.locator(".result__title").text_content() == "Is the liberation procedure proven to work?"
    badges = first.locator(".result__badges").text_content()
    assert f"Match {round(expected[0]['score'] * 100)}%" in badges
    assert "Evidence: Shown not to work" in badges
    text = first.text_content()
    assert "Please note:" in text and "neurologist or MS nurse" in text
    sources = first.locator(".sources__list li")
    assert sources.count() == len(expected[0]["citations"])
    assert re.search(r"JAMA Neurology, January 2018", sources.first.text_content())
    historical = [c["historical"] for c in expected[0]["citations"]]
    assert first.locator(".sources .badge--historical").count() == sum(historical)
    meta = first.locator(".result__meta").text_content()
    assert "Visitors: 2 helpful, 1 not helpful" in meta
    assert re.search(r"Review due \d{1,2} \w+ 20\d\d", meta)
    assert first.get_by_role("button", name="Copy answer with citation").is_visible()
    assert first.get_by_role("button", name="Flag for editors").is_visible()
    assert "5 results for “is the liberation procedure proven”" in page.locator("#search-status").text_content()
    screenshot(page, "staff-results", full_page=False)
    assert watch.problems(page) == {}


def test_a_slow_answer_for_older_words_never_replaces_the_newer_one(context, server):
    page, watch = open_page(context, server)
    # Answers to searches for "ccsvi" arrive 1.5 s late, after the answer to the newer words.
    page.add_init_script(
        """(() => { const real = window.fetch;
          window.fetch = function (url, init) {
            const p = real.call(this, url, init);
            if (String(url).indexOf('/api/search?q=ccsvi') === 0) {
              return p.then(r => new Promise(ok => setTimeout(() => ok(r), 1500)));
            }
            return p; }; })();"""
    )
    sign_in(page, server, watch)
    with page.expect_request(lambda r: "/api/search?q=ccsvi" in r.url):
        page.fill("#q", "ccsvi")
    search(page, "is the liberation procedure proven")
    page.wait_for_timeout(2000)
    assert page.locator("#results").get_attribute("data-query") == "is the liberation procedure proven"
    assert page.locator("#results .result").first.get_attribute("data-id") == LIBERATION
    assert watch.problems(page, ignore_console=("AbortError",)) == {}


def test_keyboard_only_from_sign_in_to_a_copied_answer(context, server):
    page, watch = open_page(context, server)
    page.goto(server.base_url + "/signin?next=/staff")
    page.wait_for_function("() => document.activeElement && document.activeElement.id === 'username'")
    page.keyboard.type("kim")
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    start = time.perf_counter()
    page.keyboard.press("Enter")
    page.wait_for_url(server.base_url + "/staff")
    page.wait_for_selector("#q", state="visible")
    page.keyboard.press("/")
    assert active(page)["id"] == "q" and page.input_value("#q") == ""
    query = "is the liberation procedure proven"
    page.keyboard.type(query)
    page.wait_for_function(RESULTS_READY, arg=query)  # what the person sees before moving on
    page.keyboard.press("ArrowDown")
    assert active(page)["dataId"] == LIBERATION
    page.keyboard.press("c")
    copied = read_clipboard(page, "Please note:")
    elapsed = time.perf_counter() - start
    print(f"\nsign-in Enter to the answer on the clipboard (keyboard only): {elapsed:.2f} s")
    record_timing("staff_signin_to_copied_answer", elapsed)

    lines = copied.splitlines()
    assert lines[0] == "Is the liberation procedure proven to work?"
    assert "Three randomised trials compared the procedure with a sham" in copied
    assert "\nPlease note:\n- Decisions about your own treatment are for your neurologist or MS nurse." in copied
    sources = [line for line in lines if line.startswith("Source: ")]
    assert sources and all(re.search(r", (?:\d{1,2} )?(?:[A-Z][a-z]+ )?(?:19|20)\d\d\b", s) for s in sources), sources
    assert "<" not in copied and "Match" not in copied  # plain text, ready to read out or paste
    assert page.input_value("#q") == query  # "c" was a command, not typed into the box
    page.wait_for_function("() => document.getElementById('announce').textContent.indexOf('Copied') === 0")
    assert page.locator("#results .result").first.locator(".copied").text_content() == "Copied"

    # Enter shows the details, the arrows move on and back, Escape returns to the box.
    page.keyboard.press("Enter")
    assert page.locator("#results .result").first.locator("details").get_attribute("open") is not None
    page.keyboard.press("ArrowDown")
    second = active(page)
    assert second["dataId"] == page.locator("#results .result").nth(1).get_attribute("data-id")
    page.keyboard.press("ArrowUp")
    assert active(page)["dataId"] == LIBERATION
    page.keyboard.press("ArrowUp")
    assert active(page)["id"] == "q"
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Escape")
    assert active(page)["id"] == "q"
    assert watch.problems(page, ignore_console=EXPECTED_HTTP_ERRORS) == {}


def test_tab_moves_through_the_page_without_a_trap(context, server):
    page, watch = open_page(context, server)
    sign_in(page, server, watch)
    search(page, "what is ccsvi")
    seen = []
    for _ in range(80):
        page.keyboard.press("Tab")
        seen.append(
            page.evaluate(
                """() => { const a = document.activeElement;
                if (!a.__tabNumber) { window.__tabs = (window.__tabs || 0) + 1; a.__tabNumber = window.__tabs; }
                return {n: a.__tabNumber, id: a.id, tag: a.tagName, cls: a.className}; }"""
            )
        )
    # Focus reaches the sign-out button, the results' buttons and the shortcut switch, and goes round the
    # page: no element holds it (each is visited about as often as the others).
    assert any(s["id"] == "signout" for s in seen)
    assert any("copy-button" in s["cls"] for s in seen)
    assert any(s["id"] == "single-keys" for s in seen)
    visits = [n for n in (s["n"] for s in seen)]
    assert len(set(visits)) > 20 and max(visits.count(n) for n in visits) <= 4, seen


def test_copy_button_and_flag_for_editors(context, server):
    page, watch = open_page(context, server)
    sign_in(page, server, watch)
    cards = search(page, "what are the risks of the liberation procedure")
    second = cards.nth(1)
    pair_id = second.get_attribute("data-id")
    title = second.locator(".result__title").text_content()
    second.get_by_role("button", name="Copy answer with citation").click()
    assert read_clipboard(page, title).splitlines()[0] == title
    page.wait_for_function("() => document.getElementById('announce').textContent.indexOf('Copied') === 0")

    first = cards.first
    pair_id = first.get_attribute("data-id")
    flag = first.get_by_role("button", name="Flag for editors")
    flag.click()
    assert flag.get_attribute("aria-expanded") == "true"
    note = first.get_by_label("Note for the editors")
    assert active(page)["id"] == note.get_attribute("id")
    first.get_by_role("button", name="Send to editors").click()
    assert "Write a short note" in first.locator(".flag-form .error-box").text_content()
    page.keyboard.press("Escape")  # closes the note, back on its button
    assert first.locator(".flag-form").is_hidden() and active(page)["cls"].find("flag-button") >= 0
    flag.click()
    text = "A caller says this leaves out the 2024 follow-up; please check. <b>not bold</b>"
    note.fill(text)
    with page.expect_response("**/api/flags") as answer:
        first.get_by_role("button", name="Send to editors").click()
    assert answer.value.status == 201
    assert "X-CSRF-Token".lower() in {k.lower() for k in answer.value.request.headers}
    first.locator(".flag-done").filter(has_text="Flagged for editors").wait_for()
    headers = {"Authorization": f"Bearer {server.token('staff')}"}
    open_flags = httpx.get(server.base_url + "/api/flags", params={"state": "open"}, headers=headers, timeout=30)
    assert open_flags.status_code == 200, open_flags.text
    mine = [f for f in open_flags.json() if f["note"] == text]
    assert len(mine) == 1 and mine[0]["pair_id"] == pair_id and mine[0]["created_by"] == "alice"
    assert mine[0]["state"] == "open"
    assert watch.problems(page) == {}


def test_tag_and_kind_filters(context, server):
    page, watch = open_page(context, server)
    sign_in(page, server, watch)
    query = "what did the trials find"
    search(page, query)
    with page.expect_request(lambda r: "tag=risks" in r.url):
        page.fill("#tag", "risks")
    page.wait_for_function(RESULTS_READY, arg=query)
    cards = page.locator("#results .result")
    ids = [cards.nth(i).get_attribute("data-id") for i in range(cards.count())]
    assert ids and ids == [r["id"] for r in api_search(server, q=query, k=5, tag="risks")]
    for i in range(cards.count()):
        tags = cards.nth(i).locator(".details__row", has_text="Tags").locator("dd").text_content()
        assert "risks" in tags.split(", ")
    assert "(tag risks)" in page.locator("#search-status").text_content()

    page.fill("#tag", "")
    page.wait_for_function(RESULTS_READY, arg=query)
    page.get_by_label("Article passages").check()
    page.wait_for_function(
        "() => [...document.querySelectorAll('#results .result')].every(c => c.querySelector('.badge--kind'))"
        " && document.querySelectorAll('#results .result').length > 0"
    )
    page.wait_for_function(RESULTS_READY, arg=query)
    ids = [cards.nth(i).get_attribute("data-id") for i in range(cards.count())]
    assert ids == [r["id"] for r in api_search(server, q=query, k=5, kind="passage")]
    assert cards.locator(".flag-button").count() == 0  # passages are not editors' pairs

    page.get_by_label("Answers (Q&A pairs)").check()
    page.wait_for_function(
        "() => document.querySelectorAll('#results .result').length > 0"
        " && ![...document.querySelectorAll('#results .result')].some(c => c.querySelector('.badge--kind'))"
    )
    ids = [cards.nth(i).get_attribute("data-id") for i in range(cards.count())]
    assert ids == [r["id"] for r in api_search(server, q=query, k=5, kind="qa")]
    assert cards.locator(".badge--evidence").count() == cards.count()
    assert watch.problems(page) == {}


def test_review_overdue_is_marked_visibly(context, server):
    edit_pair(server, "what-is-sham-controlled-trial", reviewed_on="2019-01-01", review_due="2020-01-01")
    page, watch = open_page(context, server)
    sign_in(page, server, watch)
    card = search(page, "what is a sham controlled trial").first
    assert card.get_attribute("data-id") == "what-is-sham-controlled-trial"
    assert card.locator(".badge--overdue").is_visible()
    assert card.locator(".badge--overdue").text_content() == "Review overdue"
    assert "Review overdue (was due 1 January 2020)" in card.locator(".result__meta").text_content()
    assert watch.problems(page) == {}


# ---- hostile text ------------------------------------------------------------------------------

LONG = "The quick brown fox " + "x" * 980  # 1,000 characters, most of them one unbroken word
XSS = [
    "<script>window.__pwned = 1; alert('script')</script>",
    "<img src=x onerror=\"window.__pwned = 1; alert('img')\">",
    '<svg onload="alert(1)"><a href="javascript:alert(1)">click me</a></svg>',
    '" onmouseover="alert(1)" autofocus onfocus="alert(2)" x="',
    "<a href='javascript:alert(document.cookie)'>sources</a>",
    "[see the trial](javascript:alert(1)) and ![x](https://evil.example/p.png)",
    "javascript:alert(1)",
    '<iframe src="javascript:alert(1)"></iframe><style>body{display:none}</style>',
    "Right-to-left \u202etxt.exe\u202c and zero\u200bwidth java\u200bscript:alert(1)",
    "Іs the lіberation procedure proven? (Cyrillic І and і, not Latin)",
    "{{constructor.constructor('alert(1)')()}} ${alert(1)} <%= alert(1) %>",
]


def test_hostile_text_from_an_editor_is_shown_as_literal_text(context, server):
    pair_id = "brave-dreams-trial"
    question = "<script>alert('question')</script> Brave Dreams <img src=x onerror=alert(1)> \u202eevil\u202c?"
    edit_pair(server, pair_id, question=question, answer="\n\n".join(XSS), caveats=[*XSS[:5], LONG])
    page, watch = open_page(context, server)
    requests: list[str] = []
    page.on("request", lambda r: requests.append(urlsplit(r.url).path))
    sign_in(page, server, watch)
    search(page, "brave dreams results")
    card = page.locator(f'#results .result[data-id="{pair_id}"]')
    card.wait_for()
    assert card.locator(".result__title").text_content() == question
    shown = card.text_content()
    for payload in [*XSS, LONG]:
        assert payload in shown, payload
    assert card.locator(".caveats__list li").last.text_content() == LONG

    found = page.evaluate(
        """() => ({
          elements: document.querySelectorAll('#results script, #results img, #results iframe, #results svg, '
            + '#results style, #results [onerror], #results [onload], #results [onmouseover], #results [onfocus]').length,
          badLinks: [...document.querySelectorAll('a[href]')].map(a => a.getAttribute('href'))
            .filter(h => !/^(https?:\\/\\/|#)/.test(h)),
          pwned: window.__pwned === undefined ? null : window.__pwned,
          overflow: document.documentElement.scrollWidth - document.documentElement.clientWidth,
        })"""
    )
    assert found == {"elements": 0, "badLinks": [], "pwned": None, "overflow": 0}, found
    card.scroll_into_view_if_needed()
    screenshot(page, "staff-hostile-text")

    card.focus()
    page.keyboard.press("c")
    copied = read_clipboard(page, "<script>alert('question')</script>")
    assert copied.splitlines()[0] == question
    page.wait_for_timeout(300)
    expected = {"/signin", "/staff", "/api/auth/login", "/api/auth/me", "/api/search"}
    assert [p for p in requests if p not in expected and not p.startswith("/static/")] == [], requests
    assert watch.problems(page) == {}


# ---- accessibility and layout --------------------------------------------------------------------


def test_axe_finds_no_serious_problems_on_the_sign_in_and_staff_pages(context, server):
    page, watch = open_page(context, server)
    page.goto(server.base_url + "/signin?next=/staff")
    found = {"signin": axe_violations(page)}
    page.fill("#username", "bob")
    page.fill("#password", "wrong password again")
    page.click("#signin-button")
    page.locator("#signin-error").filter(has_text="not right").wait_for()
    found["signin with an error"] = axe_violations(page)
    sign_in(page, server, watch)
    found["staff, empty"] = axe_violations(page)
    cards = search(page, "is the liberation procedure proven")
    cards.first.locator("summary").click()
    cards.first.get_by_role("button", name="Flag for editors").click()
    found["staff, with results, details and a note open"] = axe_violations(page)
    print("\naxe-core serious/critical violations:", json.dumps(found, indent=2))
    assert all(v == [] for v in found.values()), found


def test_targets_are_at_least_44_pixels_and_the_page_reflows(context, server):
    page, watch = open_page(context, server)
    sign_in(page, server, watch)
    search(page, "what is ccsvi")
    # The tablet, upright.
    page.set_viewport_size(TABLET)
    page.wait_for_timeout(200)
    screenshot(page, "staff-tablet", full_page=False)
    assert page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")
    # Every control at least 44 by 44 CSS pixels (the details' source links included).
    page.set_viewport_size(DESKTOP)
    page.locator("#results .result").first.locator("summary").click()
    small = page.evaluate(
        """() => [...document.querySelectorAll('button, input[type=search], input[type=text], summary, label.choice,'
          + ' .source__link a')]
          .filter(e => e.offsetParent !== null)
          .map(e => { const r = e.getBoundingClientRect();
                      return {what: e.textContent.trim().slice(0, 40) || e.id, w: r.width, h: r.height}; })
          .filter(r => r.w < 44 || r.h < 44)"""
    )
    assert small == [], small
    # 200% zoom of a 1280 by 720 window is 640 by 360 CSS pixels: nothing scrolls sideways.
    page.set_viewport_size({"width": 640, "height": 360})
    page.wait_for_timeout(200)
    assert page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")
    assert page.locator("#q").is_visible()
    box = page.locator("#q").bounding_box()
    assert box is not None and box["width"] >= 200
    # 400% zoom (WCAG's reflow width, 320 CSS pixels): still no sideways scrolling.
    page.set_viewport_size({"width": 320, "height": 640})
    page.wait_for_timeout(200)
    assert page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")
    assert watch.problems(page) == {}


# Last: it locks an account out for a quarter of an hour.
def test_too_many_wrong_passwords_are_told_as_a_wait_in_minutes(context, server):
    page, watch = open_page(context, server)
    page.goto(server.base_url + "/signin?next=/staff")
    statuses = []
    for attempt in range(8):
        page.fill("#username", "carol")
        page.fill("#password", f"wrong password number {attempt}")
        with page.expect_response("**/api/auth/login") as answer:
            page.click("#signin-button")
        statuses.append(answer.value.status)
        if answer.value.status == 429:
            retry_after = int(answer.value.headers["retry-after"])
            break
    assert statuses[:5] == [401] * 5 and statuses[-1] == 429, statuses
    error = page.locator("#signin-error")
    error.filter(has_text="Too many attempts").wait_for()
    minutes = max(1, -(-retry_after // 60))
    assert f"Please wait {minutes} minute" in error.text_content(), error.text_content()
    # The right password waits too, and the page says so again.
    page.fill("#username", "carol")
    page.fill("#password", PASSWORD)
    with page.expect_response("**/api/auth/login") as answer:
        page.click("#signin-button")
    assert answer.value.status == 429
    error.filter(has_text="Too many attempts").wait_for()
    assert urlsplit(page.url).path == "/signin"
    assert watch.problems(page, ignore_console=EXPECTED_HTTP_ERRORS) == {}
