"""The visitors' chat page in a real browser (Debian's Chromium) against the real API and Rasa server.

Each test checks what a visitor would notice: the answer and its sources, markup shown as text,
clarifying options as buttons, keyboard use, and a page that runs without errors under its CSP.
"""
from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from tests.conftest import find_clarify_message

pytestmark = pytest.mark.e2e

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
REPLY_TIMEOUT_MS = 60_000
SCREENSHOT_DIR = Path("/tmp")

# Records CSP violations before any page script runs (init scripts are not subject to the page's CSP).
CSP_RECORDER = """
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation', function (e) {
  window.__cspViolations.push({directive: e.violatedDirective, blocked: e.blockedURI, sample: e.sample});
});
"""


@pytest.fixture(scope="module")
def browser(chromium_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        yield b
        b.close()


class PageProblems:
    def __init__(self):
        self.console_errors: list[str] = []
        self.page_errors: list[str] = []


@pytest.fixture
def chat(browser, live_server):
    """A fresh page (own context, so its own session) on the chat page, with its problems recorded."""
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="en-GB")
    page = context.new_page()
    page.problems = PageProblems()
    page.on("console", lambda m: page.problems.console_errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: page.problems.page_errors.append(str(e)))
    page.add_init_script(CSP_RECORDER)
    page.set_default_timeout(REPLY_TIMEOUT_MS)
    response = page.goto(live_server.base_url + "/")
    assert response is not None and response.ok
    page.wait_for_selector("#message")
    yield page
    context.close()


def bot_count(page) -> int:
    return page.locator("#log .msg--bot").count()


def wait_for_reply(page, before: int) -> None:
    page.wait_for_function(
        "n => document.querySelectorAll('#log .msg--bot').length > n"
        " && document.getElementById('thinking').textContent === ''"
        " && !document.getElementById('send').disabled",
        arg=before, timeout=REPLY_TIMEOUT_MS)


def ask(page, text: str):
    """Types a question, presses Enter and returns the assistant's last reply once it is shown."""
    before = bot_count(page)
    page.locator("#message").fill(text)
    page.locator("#message").press("Enter")
    wait_for_reply(page, before)
    return page.locator("#log .msg--bot").last


def api_chat(live_server, message: str) -> dict:
    r = httpx.post(live_server.base_url + "/api/chat", json={"message": message}, timeout=60)
    r.raise_for_status()
    return r.json()


# --- 1. an answer with its sources and caveats -------------------------------------------------

def test_answer_shows_not_proven_with_dated_sources_and_caveats(chat, live_server):
    reply = ask(chat, "is the liberation procedure proven?")

    answer_text = reply.locator(".msg__body > .msg__text").first.inner_text()
    assert re.match(r"\s*No\b", answer_text) or "not proven" in answer_text.lower(), answer_text

    caveats = reply.locator(".caveats")
    assert caveats.is_visible()
    assert caveats.locator("h3").inner_text().strip() == "Please note"
    assert caveats.locator("li").count() >= 1
    assert caveats.locator("li").first.inner_text().strip()

    sources = reply.locator(".sources__list > li")
    assert sources.count() >= 1
    metas = [sources.nth(i).locator(".source__meta").inner_text() for i in range(sources.count())]
    assert any(re.search(r"Published .*\b(19|20)\d\d\b", m) for m in metas), metas
    assert reply.locator(".sources__list time[datetime]").count() >= 1

    # Every link to a source opens safely in a new tab and is http(s).
    links = reply.locator(".sources__list a")
    for i in range(links.count()):
        link = links.nth(i)
        assert re.match(r"https?://", link.get_attribute("href"))
        assert link.get_attribute("target") == "_blank"
        assert set(link.get_attribute("rel").split()) >= {"noopener", "noreferrer"}

    # Old sources carry a visible "historical" marker, one per historical citation the service sent.
    api_answer = api_chat(live_server, "is the liberation procedure proven?")["replies"][0]["answer"]
    historical = [c for c in api_answer["citations"] if c["historical"]]
    markers = reply.locator(".badge--historical")
    assert markers.count() == len(historical)
    for i in range(markers.count()):
        assert markers.nth(i).is_visible()
        assert re.fullmatch(r"Historical source \(published \d{4}\)", markers.nth(i).inner_text().strip())

    # The visitor's own message is in the conversation.
    assert chat.locator("#log .msg--user .msg__text").last.inner_text() == "is the liberation procedure proven?"


# --- 2. markup is shown as text ----------------------------------------------------------------

def test_markup_in_a_message_is_shown_as_literal_text(chat):
    evil = '<img src=x onerror="window.__xss=1">what is ccsvi'
    ask(chat, evil)

    assert chat.locator("#log .msg--user .msg__text").last.text_content() == evil
    assert chat.locator("#log img").count() == 0
    assert chat.evaluate("document.querySelectorAll('[onerror]').length") == 0
    assert chat.evaluate("typeof window.__xss") == "undefined"


# --- 3. clarifying options are buttons that answer ---------------------------------------------

@pytest.fixture(scope="module")
def vague_message(live_server) -> tuple[str, dict]:
    message = find_clarify_message(live_server)
    reply = api_chat(live_server, message)["replies"][0]
    assert reply["kind"] == "clarify" and any(o["payload"] != "/none_of_these" for o in reply["options"])
    return message, reply


def test_clarify_options_are_buttons_and_choosing_one_answers(chat, vague_message):
    message, api_reply = vague_message
    reply = ask(chat, message)

    buttons = reply.locator(".options button")
    assert buttons.count() == len(api_reply["options"])
    titles = [buttons.nth(i).inner_text().strip() for i in range(buttons.count())]
    assert titles == [o["title"] for o in api_reply["options"]]
    first = buttons.first
    box = first.bounding_box()
    assert box and box["height"] >= 44, box

    chosen = titles[0]
    before = bot_count(chat)
    first.click()
    wait_for_reply(chat, before)

    # The visitor sees the question they chose, not the raw payload.
    shown = chat.locator("#log .msg--user .msg__text").last.inner_text()
    assert shown == chosen
    assert "choose_pair" not in chat.locator("#log").inner_text()

    answer = chat.locator("#log .msg--bot").last
    assert "msg--answer" in answer.get_attribute("class")
    assert answer.locator(".msg__body > .msg__text").first.inner_text().strip()
    assert answer.locator(".sources__list > li").count() >= 1


# --- 4. keyboard only --------------------------------------------------------------------------

def test_keyboard_only_conversation_keeps_focus_in_the_message_box(chat):
    for _ in range(15):
        chat.keyboard.press("Tab")
        if chat.evaluate("document.activeElement && document.activeElement.id") == "message":
            break
    else:
        pytest.fail("Tab never reached the message box")

    before = bot_count(chat)
    chat.keyboard.type("What is CCSVI?")
    assert chat.locator("#message-count").inner_text() == "14 of 1000 characters"
    chat.keyboard.press("Enter")
    wait_for_reply(chat, before)

    assert chat.locator("#log .msg--user .msg__text").last.inner_text() == "What is CCSVI?"
    assert chat.locator("#log .msg--bot").last.locator(".msg__text").first.inner_text().strip()
    assert chat.evaluate("document.activeElement.id") == "message"
    assert chat.locator("#message").input_value() == ""

    # Shift+Enter makes a new line instead of sending.
    chat.keyboard.type("first line")
    chat.keyboard.press("Shift+Enter")
    chat.keyboard.type("second line")
    assert chat.locator("#message").input_value() == "first line\nsecond line"
    assert bot_count(chat) == before + 1


# --- 5. no console errors and no CSP violations ------------------------------------------------

def test_conversation_has_no_console_errors_or_csp_violations(chat, live_server, vague_message):
    headers = httpx.get(live_server.base_url + "/", timeout=10).headers
    assert "script-src 'self'" in headers["content-security-policy"]

    sent = []
    chat.on("request", lambda r: sent.append(r.post_data_json) if r.url.endswith("/api/chat") else None)
    ask(chat, "hello")
    ask(chat, "is the liberation procedure proven?")
    reply = ask(chat, vague_message[0])
    before = bot_count(chat)
    reply.locator(".options button").first.click()
    wait_for_reply(chat, before)
    ask(chat, "I would like to talk to a person")

    assert chat.problems.page_errors == []
    assert chat.problems.console_errors == []
    assert chat.evaluate("window.__cspViolations") == []
    assert chat.locator("#error").inner_text() == ""

    # One conversation: no id on the first turn, then the id the service issued on every later turn.
    assert len(sent) == 5
    assert sent[0].get("session_id") is None
    ids = {body["session_id"] for body in sent[1:]}
    assert len(ids) == 1 and all(ids), ids


# --- errors a visitor can meet -----------------------------------------------------------------

def test_unreachable_service_keeps_the_message_in_the_box(chat):
    chat.route("**/api/chat", lambda route: route.abort("connectionrefused"))
    before_user = chat.locator("#log .msg--user").count()
    chat.locator("#message").fill("what is ccsvi")
    chat.locator("#message").press("Enter")
    error = chat.locator("#error")
    error.wait_for(state="visible")
    chat.wait_for_function("() => !document.getElementById('send').disabled")
    assert "can't be reached" in error.inner_text()
    assert chat.locator("#message").input_value() == "what is ccsvi"
    assert chat.locator("#log .msg--user").count() == before_user
    assert chat.evaluate("document.activeElement.id") == "message"


def test_rate_limit_and_validation_errors_are_explained(chat):
    chat.route("**/api/chat", lambda route: route.fulfill(
        status=429, headers={"Retry-After": "3", "Content-Type": "application/json"},
        body='{"error": "too_many_requests", "message": "Too many messages: please wait a moment and try again."}'))
    chat.locator("#message").fill("what is ccsvi")
    chat.locator("#message").press("Enter")
    chat.wait_for_function("() => document.getElementById('error').textContent !== ''")
    assert "wait 3 seconds" in chat.locator("#error").inner_text()
    assert chat.locator("#send").is_disabled()
    assert chat.locator("#message").input_value() == "what is ccsvi"
    chat.wait_for_function("() => !document.getElementById('send').disabled", timeout=10_000)

    chat.unroute("**/api/chat")
    chat.route("**/api/chat", lambda route: route.fulfill(
        status=422, headers={"Content-Type": "application/json"},
        body='{"error": "validation_error", "message": "The request is not valid: message: message must not be empty",'
             ' "fields": ["message"], "detail": [{"field": "message", "msg": "message must not be empty"}]}'))
    chat.locator("#message").fill("x")
    chat.locator("#message").press("Enter")
    chat.wait_for_function("() => document.getElementById('error').textContent.indexOf('could not be sent') >= 0")
    assert "Message must not be empty" in chat.locator("#error").inner_text()


def test_counter_and_limit(chat):
    chat.locator("#message").fill("a" * 1200)
    assert len(chat.locator("#message").input_value()) == 1000
    assert chat.locator("#message-count").inner_text() == "1000 of 1000 characters"


# --- layout --------------------------------------------------------------------------------------

@pytest.mark.parametrize("width,height", [(390, 844), (1280, 800), (320, 640)])
def test_layout_fits_and_screenshots(chat, width, height):
    chat.set_viewport_size({"width": width, "height": height})
    ask(chat, "is the liberation procedure proven?")
    ask(chat, "I would like to talk to a person")
    overflow = chat.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the page scrolls sideways by {overflow}px at {width}px wide"
    send = chat.locator("#send").bounding_box()
    assert send["height"] >= 44 and send["width"] >= 44
    font_size = chat.evaluate("parseFloat(getComputedStyle(document.body).fontSize)")
    assert font_size >= 18
    chat.locator("#log .msg--bot .sources").last.scroll_into_view_if_needed()
    chat.screenshot(path=str(SCREENSHOT_DIR / f"chat-page-{width}x{height}.png"), full_page=True)


# --- issue 5 flows on the page: safety, the advice line, feedback --------------------------------

def test_a_crisis_message_shows_the_emergency_box_first(chat):
    reply = ask(chat, "i dont want to be here anymore")
    assert "msg--urgent" in (reply.get_attribute("class") or "")
    assert reply.locator(".urgent__title").inner_text().strip() == "Get help now"
    text = reply.inner_text()
    assert "999" in text and "116 123" in text


def test_a_personal_treatment_question_shows_the_advice_line_above_the_facts(chat):
    reply = ask(chat, "Should I have the liberation procedure?")
    note = reply.locator(".personal-note")
    assert note.is_visible() and "can't advise you on your own treatment" in note.inner_text()
    assert reply.locator(".sources li").count() >= 1


def test_was_this_helpful_can_be_answered_once(chat):
    ask(chat, "what is CCSVI?")
    # Pin this answer (the "last" reply moves on once the thanks arrives).
    reply = chat.locator("#log .msg--bot").nth(bot_count(chat) - 1)
    buttons = reply.locator(".feedback button")
    assert [b.strip() for b in buttons.all_inner_texts()] == ["Yes", "No"]
    before = bot_count(chat)
    buttons.nth(1).click()
    wait_for_reply(chat, before)
    thanks = chat.locator("#log .msg--bot").last.inner_text()
    assert "Thank you" in thanks and "0808 800 8000" in thanks
    assert buttons.nth(0).is_disabled() and buttons.nth(1).is_disabled()
