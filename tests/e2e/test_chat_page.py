"""The visitors' chat page at `/` in a real browser (Debian's Chromium) against the real API and Rasa server.

The page is the chat widget (api/static/widget.js) in its full-page mode; tests/e2e/test_widget.py checks the
widget embedded in another site. Each test checks what a visitor would notice: the answer and its sources,
markup shown as text, clarifying options as buttons, keyboard use, and a page that runs without errors under
its CSP.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from tests.conftest import LiveServer, find_clarify_message
from tests.e2e.browser import Watch, screenshot
from tests.e2e.test_widget import REPLY_TIMEOUT_MS, Widget

pytestmark = pytest.mark.e2e


@pytest.fixture
def page_open(browser, live_server) -> Any:
    """A fresh page (own context, so its own session) on the chat page, with its problems recorded."""
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="en-GB")
    page = context.new_page()
    page.set_default_timeout(REPLY_TIMEOUT_MS)
    watch = Watch({live_server.base_url})
    watch.attach(page)
    yield Widget(page, watch).goto(live_server.base_url + "/")
    context.close()


@pytest.fixture
def chat(page_open: Widget) -> Widget:
    """The chat page with its notice acknowledged."""
    page_open.acknowledge()
    return page_open


def api_chat(live_server: LiveServer, message: str) -> dict:
    r = httpx.post(live_server.base_url + "/api/chat", json={"message": message}, timeout=60)
    r.raise_for_status()
    return r.json()


# --- 1. an answer with its sources and caveats -------------------------------------------------


def test_answer_shows_not_proven_with_dated_sources_and_caveats(chat, live_server):
    reply = chat.ask("is the liberation procedure proven?")

    answer_text = reply.locator(".fq-answer__text .fq-text").first.inner_text()
    assert re.match(r"\s*No\b", answer_text) or "not proven" in answer_text.lower(), answer_text

    caveats = reply.locator(".fq-caveats")
    assert caveats.is_visible()
    assert caveats.locator("h3").inner_text().strip() == "Please note"
    assert caveats.locator("li").count() >= 1
    assert caveats.locator("li").first.inner_text().strip()

    sources = reply.locator(".fq-sources__list > li")
    assert sources.count() >= 1
    metas = [sources.nth(i).locator(".fq-source__meta").inner_text() for i in range(sources.count())]
    assert any(re.search(r"Published .*\b(19|20)\d\d\b", m) for m in metas), metas
    assert reply.locator(".fq-sources__list time[datetime]").count() >= 1
    assert re.fullmatch(r"Reviewed on \d{1,2} \w+ \d{4}\.", reply.locator(".fq-reviewed").inner_text().strip())

    # Every link to a source opens safely in a new tab and is http(s).
    links = reply.locator(".fq-sources__list a")
    for i in range(links.count()):
        link = links.nth(i)
        assert re.match(r"https?://", link.get_attribute("href"))
        assert link.get_attribute("target") == "_blank"
        assert set(link.get_attribute("rel").split()) >= {"noopener", "noreferrer"}

    # Old sources carry a visible "historical" marker, one per historical citation the service sent.
    api_answer = api_chat(live_server, "is the liberation procedure proven?")["replies"][0]["answer"]
    historical = [c for c in api_answer["citations"] if c["historical"]]
    markers = reply.locator(".fq-badge--historical")
    assert markers.count() == len(historical)
    for i in range(markers.count()):
        assert markers.nth(i).is_visible()
        assert re.fullmatch(r"Historical source \(published \d{4}\)", markers.nth(i).inner_text().strip())

    # The visitor's own message is in the conversation.
    assert chat.last_user_text() == "is the liberation procedure proven?"


# --- 2. markup is shown as text ----------------------------------------------------------------


def test_markup_in_a_message_is_shown_as_literal_text(chat):
    evil = '<img src=x onerror="window.__xss=1">what is ccsvi'
    chat.ask(evil)

    assert chat.last_user_text() == evil
    assert chat.loc(".fq-log img").count() == 0
    assert (
        chat.page.evaluate("document.querySelector('ms-faq-chat').shadowRoot.querySelectorAll('[onerror]').length") == 0
    )
    assert chat.page.evaluate("typeof window.__xss") == "undefined"


# --- 3. clarifying options are buttons that answer ---------------------------------------------


@pytest.fixture(scope="module")
def vague_message(live_server) -> tuple[str, dict]:
    message = find_clarify_message(live_server)
    reply = api_chat(live_server, message)["replies"][0]
    assert reply["kind"] == "clarify" and any(o["payload"] != "/none_of_these" for o in reply["options"])
    return message, reply


def test_clarify_options_are_buttons_and_choosing_one_answers(chat, vague_message):
    message, api_reply = vague_message
    reply = chat.ask(message)

    buttons = reply.locator(".fq-options button")
    assert buttons.count() == len(api_reply["options"])
    titles = [buttons.nth(i).inner_text().strip() for i in range(buttons.count())]
    assert titles == [o["title"] for o in api_reply["options"]]
    box = buttons.first.bounding_box()
    assert box and box["height"] >= 44, box

    answer = chat.tap(buttons.first)

    # The visitor sees the question they chose, not the raw payload.
    assert chat.last_user_text() == titles[0]
    assert "choose_pair" not in chat.loc(".fq-log").inner_text()

    assert "fq-msg--answer" in answer.get_attribute("class")
    assert answer.locator(".fq-answer__text .fq-text").first.inner_text().strip()
    assert answer.locator(".fq-sources__list > li").count() >= 1


# --- 4. keyboard only --------------------------------------------------------------------------


def test_keyboard_only_conversation_keeps_focus_in_the_message_box(page_open):
    chat = page_open
    for _ in range(15):
        chat.page.keyboard.press("Tab")
        if (chat.focused() or {}).get("cls") == "fq-ack":
            break
    else:
        pytest.fail("Tab never reached the notice's button")
    chat.page.keyboard.press("Enter")
    assert (chat.focused() or {}).get("id") == "fq-message"

    before = chat.bot_count()
    chat.page.keyboard.type("What is CCSVI?")
    assert chat.loc("#fq-message-count").inner_text() == "14 of 1000 characters"
    chat.page.keyboard.press("Enter")
    chat.wait_for_reply(before)

    assert chat.last_user_text() == "What is CCSVI?"
    assert chat.last_bot().locator(".fq-text").first.inner_text().strip()
    assert (chat.focused() or {}).get("id") == "fq-message"
    assert chat.loc("#fq-message").input_value() == ""

    # Shift+Enter makes a new line instead of sending.
    chat.page.keyboard.type("first line")
    chat.page.keyboard.press("Shift+Enter")
    chat.page.keyboard.type("second line")
    assert chat.loc("#fq-message").input_value() == "first line\nsecond line"
    assert chat.bot_count() == before + 1


# --- 5. no console errors and no CSP violations ------------------------------------------------


def test_conversation_has_no_console_errors_or_csp_violations(chat, live_server, vague_message):
    headers = httpx.get(live_server.base_url + "/", timeout=10).headers
    assert "script-src 'self'" in headers["content-security-policy"]
    assert "style-src 'self'" in headers["content-security-policy"]

    chat.ask("hello")
    chat.ask("is the liberation procedure proven?")
    reply = chat.ask(vague_message[0])
    chat.tap(reply.locator(".fq-options button").first)
    chat.ask("I would like to talk to a person")

    assert chat.problems() == {}
    assert chat.loc(".fq-error").inner_text() == ""

    # One conversation: no id on the first turn, then the id the service issued on every later turn.
    sent = chat.sent
    assert len(sent) == 5
    assert sent[0].get("session_id") is None
    ids = {body["session_id"] for body in sent[1:]}
    assert len(ids) == 1 and all(ids), ids


# --- errors a visitor can meet -----------------------------------------------------------------


def test_unreachable_service_keeps_the_message_in_the_box(chat):
    chat.page.route("**/api/chat", lambda route: route.abort("connectionrefused"))
    before_user = chat.loc(".fq-log .fq-msg--user").count()
    chat.loc("#fq-message").fill("what is ccsvi")
    chat.loc("#fq-message").press("Enter")
    error = chat.loc(".fq-error")
    error.wait_for(state="visible")
    chat.loc(".fq-send:not([disabled])").wait_for()
    assert "can't be reached" in error.inner_text()
    assert chat.loc("#fq-message").input_value() == "what is ccsvi"
    assert chat.loc(".fq-log .fq-msg--user").count() == before_user
    assert (chat.focused() or {}).get("id") == "fq-message"


def test_rate_limit_and_validation_errors_are_explained(chat):
    chat.page.route(
        "**/api/chat",
        lambda route: route.fulfill(
            status=429,
            headers={"Retry-After": "3", "Content-Type": "application/json"},
            body='{"error": "too_many_requests", "message": "Too many messages: please wait a moment and try again."}',
        ),
    )
    chat.loc("#fq-message").fill("what is ccsvi")
    chat.loc("#fq-message").press("Enter")
    chat.loc(".fq-error:not(:empty)").wait_for()
    assert "wait 3 seconds" in chat.loc(".fq-error").inner_text()
    assert chat.loc(".fq-send").is_disabled()
    assert chat.loc("#fq-message").input_value() == "what is ccsvi"
    chat.loc(".fq-send:not([disabled])").wait_for(timeout=10_000)

    chat.page.unroute("**/api/chat")
    chat.page.route(
        "**/api/chat",
        lambda route: route.fulfill(
            status=422,
            headers={"Content-Type": "application/json"},
            body='{"error": "validation_error", "message": "The request is not valid: message: message must not be empty",'
            ' "fields": ["message"], "detail": [{"field": "message", "msg": "message must not be empty"}]}',
        ),
    )
    chat.loc("#fq-message").fill("x")
    chat.loc("#fq-message").press("Enter")
    chat.loc(".fq-error", has_text="could not be sent").wait_for()
    assert "Message must not be empty" in chat.loc(".fq-error").inner_text()


def test_counter_and_limit(chat):
    chat.loc("#fq-message").fill("a" * 1200)
    assert len(chat.loc("#fq-message").input_value()) == 1000
    assert chat.loc("#fq-message-count").inner_text() == "1000 of 1000 characters"


# --- layout --------------------------------------------------------------------------------------


@pytest.mark.parametrize("width,height", [(390, 844), (1280, 800), (320, 640)])
def test_layout_fits_and_screenshots(chat, width, height):
    chat.page.set_viewport_size({"width": width, "height": height})
    chat.ask("is the liberation procedure proven?")
    chat.ask("I would like to talk to a person")
    overflow = chat.page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the page scrolls sideways by {overflow}px at {width}px wide"
    send = chat.loc(".fq-send").bounding_box()
    assert send["height"] >= 44 and send["width"] >= 44
    font_size = chat.loc(".fq-answer__text .fq-text").first.evaluate("e => parseFloat(getComputedStyle(e).fontSize)")
    assert font_size >= 18
    # The helpline stays in view however far the page scrolls.
    chat.loc(".fq-log .fq-msg--bot .fq-sources").last.scroll_into_view_if_needed()
    call = chat.loc(".fq-help .fq-call").bounding_box()
    assert call and call["y"] >= 0 and call["y"] + call["height"] <= height, call
    chat.page.evaluate("window.scrollTo(0, 0)")  # the helpline bar is sticky: captured where it sits
    screenshot(chat.page, f"chat-page-{width}x{height}")


# --- issue 5 flows on the page: safety, the advice line, feedback --------------------------------


def test_a_crisis_message_shows_the_emergency_box_first(chat):
    reply = chat.ask("i dont want to be here anymore")
    assert "fq-msg--urgent" in (reply.get_attribute("class") or "")
    assert reply.locator(".fq-urgent__title").inner_text().strip() == "Get help now"
    text = reply.inner_text()
    assert "999" in text and "116 123" in text


def test_a_personal_treatment_question_shows_the_advice_line_above_the_facts(chat):
    reply = chat.ask("Should I have the liberation procedure?")
    note = reply.locator(".fq-personal-note")
    assert note.is_visible() and "can't advise you on your own treatment" in note.inner_text()
    assert reply.locator(".fq-sources li").count() >= 1


def test_was_this_helpful_can_be_answered_once(chat):
    reply = chat.ask("what is CCSVI?")
    buttons = reply.locator(".fq-feedback button")
    assert [b.strip() for b in buttons.all_inner_texts()] == ["Yes", "No"]
    thanks = chat.tap(buttons.nth(1)).inner_text()
    assert "Thank you" in thanks and "0808 800 8000" in thanks
    assert buttons.nth(0).is_disabled() and buttons.nth(1).is_disabled()
