"""The embeddable chat widget (api/static/widget.js) in a real browser (Debian's Chromium) against the real API
and Rasa server, embedded in a partner's page served from a second origin, and as the full page at `/`.

What a visitor would notice: the notice before the first message, answers with their caveats, evidence, dated
sources and review date, "did you mean" options, "Was this helpful?", the helpline one tap away, the keyboard
alone, screen readers told of new replies, small screens and 200% zoom, reduced motion; and what an attacker
would try: markup and tricks typed as messages, a host page's styles, a reply carrying markup or odd links.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from tests.conftest import LiveServer, find_clarify_message
from tests.e2e.browser import Watch, axe_violations, screenshot

pytestmark = pytest.mark.e2e

REPLY_TIMEOUT_MS = 60_000
HOST_TAG = "ms-faq-chat"
HELPLINE_TEL = "tel:08088008000"
PROVEN = "is the liberation procedure proven?"
EVIDENCE_WORDS = {
    "established": "Established",
    "uncertain": "Uncertain",
    "not-supported": "Not supported by evidence",
    "disproven": "Shown not to work",
    "background": "Background",
}

# ---- the partner's site, on another origin ----------------------------------------------------------------

HOST_BODY = """
  <header><h1 class="fq-title">Partner charity</h1><nav><a href="/about">About us</a></nav></header>
  <main>
    <h2>Living with MS</h2>
    <p class="fq-text">Our own page text, with class names the widget also uses.</p>
    <button type="button" class="fq-option fq-launcher">A button of the partner's own</button>
    <div class="fq fq-panel" role="note">A box of the partner's own</div>
    <label for="fq-message">The partner's own field</label>
    <textarea id="fq-message" class="fq-input"></textarea>
  </main>
"""

# The partner's ordinary styles.
PLAIN_CSS = """
body { font-family: Georgia, serif; margin: 1rem; color: #222; background: #fff; }
h1 { color: #0b3d2e; }
"""

# A partner whose styles would wreck anything they reached: universal, !important, aimed at the widget's own
# element and class names, and a root font size that rem-based widgets would follow.
HOSTILE_CSS = """
html { font-size: 10px; }
* { font-family: "Courier New", monospace !important; letter-spacing: 2px !important; text-transform: uppercase !important;
    color: rgb(120, 0, 120) !important; line-height: 3 !important; }
button, a, textarea { background: rgb(255, 105, 180) !important; padding: 30px !important; border: 5px dashed lime !important;
    border-radius: 0 !important; font-size: 9px !important; }
div, p, section, h1, h2, h3 { margin: 30px !important; box-sizing: content-box !important; }
ms-faq-chat { display: none !important; font-size: 40px !important; color: red !important; position: absolute !important; }
ms-faq-chat * { display: none !important; }
[role="dialog"], .fq-panel, .fq-launcher, #fq-message { display: none !important; }
:root { --fq-text: red; --fq-primary: red; --fq-bg: black; }
"""


def host_page(api: str, css: str, widget: bool) -> bytes:
    script = f'<script src="{api}/widget.js" data-api="{api}" defer></script>' if widget else ""
    return f"""<!doctype html>
<html lang="en-GB"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Partner charity</title><link rel="icon" href="data:,"><link rel="stylesheet" href="/{css}.css">{script}</head>
<body>{HOST_BODY}</body></html>""".encode()


class HostSite:
    """A partner's site on another origin (another port), with a strict CSP that lists only the chat service."""

    def __init__(self, port: int, api: str):
        self.origin = f"http://127.0.0.1:{port}"
        self.api = api
        self.csp = (
            f"default-src 'self'; script-src 'self' {api}; style-src 'self' {api}; connect-src {api}; "
            "img-src 'self' data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
        )
        pages = {
            "/": (host_page(api, "plain", True), "text/html"),
            "/hostile.html": (host_page(api, "hostile", True), "text/html"),
            "/hostile-plain.html": (host_page(api, "hostile", False), "text/html"),
            "/plain.css": (PLAIN_CSS.encode(), "text/css"),
            "/hostile.css": (HOSTILE_CSS.encode(), "text/css"),
        }
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body, media = pages.get(self.path.split("?")[0], (b"not found", "text/plain"))
                self.send_response(200 if body != b"not found" else 404)
                self.send_header("Content-Type", media + "; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                if media == "text/html":
                    self.send_header("Content-Security-Policy", site.csp)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str = "/") -> str:
        return self.origin + path

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def host_site(live_server: LiveServer, widget_host_port: int) -> Iterator[HostSite]:
    site = HostSite(widget_host_port, live_server.base_url)
    yield site
    site.close()


# ---- driving the widget ---------------------------------------------------------------------------------------

SHADOW = f"document.querySelector('{HOST_TAG}').shadowRoot"

# Stands in for the browser's speech synthesis and records what it was asked to say.
SPEECH_RECORDER = """
window.__spoken = [];
window.SpeechSynthesisUtterance = function (text) { this.text = text; };
Object.defineProperty(window, 'speechSynthesis', { configurable: true, value: {
  speak: function (u) { window.__spoken.push(u.text); }, cancel: function () {}, speaking: false } });
"""

NO_SPEECH = """
Object.defineProperty(window, 'speechSynthesis', { configurable: true, value: undefined });
Object.defineProperty(window, 'SpeechSynthesisUtterance', { configurable: true, value: undefined });
"""

# Records any attempt to keep something in the browser: storage, cookies, IndexedDB.
STORAGE_SPY = """
window.__stored = [];
(function () {
  var setItem = Storage.prototype.setItem;
  Storage.prototype.setItem = function (k, v) { window.__stored.push('storage:' + k); return setItem.call(this, k, v); };
  var cookie = Object.getOwnPropertyDescriptor(Document.prototype, 'cookie');
  Object.defineProperty(document, 'cookie', { configurable: true,
    get: function () { return cookie.get.call(document); },
    set: function (v) { window.__stored.push('cookie:' + v); cookie.set.call(document, v); } });
  if (window.indexedDB) {
    var open = IDBFactory.prototype.open;
    IDBFactory.prototype.open = function (name) { window.__stored.push('indexeddb:' + name); return open.apply(this, arguments); };
  }
})();
"""


class Widget:
    """One page with the widget on it; locators pierce its (open) shadow root."""

    def __init__(self, page: Any, watch: Watch):
        self.page = page
        self.watch = watch
        self.sent: list[dict] = []
        page.on("request", self._record)

    def _record(self, request: Any) -> None:
        if request.url.endswith("/api/chat") and request.method == "POST":
            self.sent.append(request.post_data_json)

    def goto(self, url: str, widget: bool = True) -> Widget:
        response = self.page.goto(url)
        assert response is not None and response.ok
        if widget:
            self.page.wait_for_selector(f"{HOST_TAG}[data-ready]", state="attached")
        else:
            self.page.wait_for_load_state("load")
        return self

    def loc(self, selector: str, **options: Any) -> Any:
        """Inside the widget only (the host page may use the same class names)."""
        return self.page.locator(HOST_TAG).locator(selector, **options)

    def focused(self) -> dict | None:
        """The element with focus inside the widget (None when focus is outside it)."""
        return self.page.evaluate(
            f"""() => {{
              const host = document.querySelector('{HOST_TAG}');
              if (!host || document.activeElement !== host) return null;
              const a = host.shadowRoot.activeElement;
              if (!a) return null;
              const s = getComputedStyle(a);
              return {{id: a.id, cls: a.className, text: (a.textContent || '').trim(), tag: a.tagName,
                       outline: s.outlineStyle + ' ' + s.outlineWidth, shadow: s.boxShadow}};
            }}"""
        )

    def open(self) -> None:
        self.loc(".fq-launcher").click()
        self.loc(".fq-panel").wait_for(state="visible")
        self.settle()

    def settle(self) -> None:
        """Waits for the widget's animations (opening the panel, scrolling) to finish."""
        self.page.wait_for_function(f"() => {SHADOW}.getAnimations().every(a => a.playState !== 'running')")
        # Smooth scrolling has no animation object to wait for: wait until nothing has scrolled for a while.
        self.page.evaluate(
            f"""() => new Promise(done => {{
              const r = {SHADOW};
              const where = () => [r.querySelector('.fq-scroll'), r.querySelector('.fq-panel'), document.scrollingElement]
                .map(e => e ? e.scrollTop : 0).join();
              let last = where(), still = 0;
              const timer = setInterval(() => {{
                const now = where();
                still = now === last ? still + 1 : 0;
                last = now;
                if (still >= 3) {{ clearInterval(timer); done(); }}
              }}, 100);
            }})"""
        )

    def acknowledge(self) -> None:
        self.loc(".fq-ack").click()
        self.loc("#fq-message").wait_for(state="visible")

    def bot_count(self) -> int:
        return int(self.page.evaluate(f"{SHADOW}.querySelectorAll('.fq-log .fq-msg--bot').length"))

    def wait_for_reply(self, before: int) -> None:
        self.page.wait_for_function(
            f"""n => {{ const r = {SHADOW};
                 return r.querySelectorAll('.fq-log .fq-msg--bot').length > n
                   && r.querySelector('.fq-thinking').textContent === ''
                   && !r.querySelector('.fq-send').disabled; }}""",
            arg=before,
            timeout=REPLY_TIMEOUT_MS,
        )

    def ask(self, text: str) -> Any:
        """Types a message, presses Enter and returns the assistant's last reply once it is shown."""
        before = self.bot_count()
        self.loc("#fq-message").fill(text)
        self.loc("#fq-message").press("Enter")
        self.wait_for_reply(before)
        return self.last_bot()

    def tap(self, button: Any) -> Any:
        before = self.bot_count()
        button.click()
        self.wait_for_reply(before)
        return self.last_bot()

    def last_bot(self) -> Any:
        return self.loc(".fq-log .fq-msg--bot").nth(self.bot_count() - 1)

    def last_user_text(self) -> str:
        return str(self.loc(".fq-log .fq-msg--user .fq-text").last.text_content())

    def problems(self) -> dict:
        return self.watch.problems(self.page)


@pytest.fixture
def new_widget(browser: Any, live_server: LiveServer, host_site: HostSite):
    """Opens pages in fresh contexts (each its own conversation) with their problems watched."""
    contexts: list[Any] = []

    def make(viewport: tuple[int, int] = (1280, 800), init: tuple[str, ...] = (), **options: Any) -> Widget:
        context = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]}, locale="en-GB", **options)
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(REPLY_TIMEOUT_MS)
        watch = Watch({host_site.origin, live_server.base_url})
        watch.attach(page)
        for script in init:
            page.add_init_script(script)
        return Widget(page, watch)

    yield make
    for context in contexts:
        context.close()


def api_chat(live_server: LiveServer, message: str) -> dict:
    r = httpx.post(live_server.base_url + "/api/chat", json={"message": message}, timeout=60)
    r.raise_for_status()
    return r.json()


@pytest.fixture(scope="module")
def vague_message(live_server: LiveServer) -> tuple[str, dict]:
    message = find_clarify_message(live_server)
    reply = api_chat(live_server, message)["replies"][0]
    assert reply["kind"] == "clarify" and any(o["payload"] != "/none_of_these" for o in reply["options"])
    return message, reply


def shot(w: Widget, name: str, full_page: bool = False) -> None:
    """A screenshot (var/test-artifacts/screenshots/<name>.png) once the widget has stopped moving."""
    if full_page:  # the helpline bar is sticky: captured where it sits, not halfway down the page
        w.page.evaluate("window.scrollTo(0, 0)")
    w.settle()
    screenshot(w.page, name, full_page=full_page)


def in_order(reply: Any, selectors: list[str]) -> bool:
    """Whether the first element of each selector comes after the one before, in the reply's reading order."""
    return bool(
        reply.evaluate(
            """(box, sels) => {
              const nodes = sels.map(s => box.querySelector(s));
              if (nodes.some(n => !n)) return false;
              return nodes.every((n, i) => i === 0 ||
                (nodes[i - 1].compareDocumentPosition(n) & Node.DOCUMENT_POSITION_FOLLOWING));
            }""",
            selectors,
        )
    )


# ---- 1. a whole conversation in a partner's page -----------------------------------------------------------------


def test_embedded_conversation(new_widget, host_site, live_server, vague_message):
    w = new_widget(init=(SPEECH_RECORDER, STORAGE_SPY)).goto(host_site.url("/"))
    page = w.page

    # Closed: only the launcher, labelled, not expanded.
    launcher = w.loc(".fq-launcher")
    assert launcher.is_visible() and w.loc(".fq-launcher__label").inner_text().strip() == "Ask a question"
    assert w.page.get_by_role("button", name="Ask a question", exact=True).count() == 1
    assert launcher.get_attribute("aria-expanded") == "false"
    assert not w.loc(".fq-panel").is_visible()

    # Open: a labelled, non-modal dialog with the notice first and the helpline one tap away.
    w.open()
    dialog = w.loc("[role=dialog]")
    assert dialog.get_attribute("aria-modal") == "false"
    assert dialog.get_attribute("aria-labelledby") == "fq-title"
    assert w.loc("#fq-title").inner_text().strip()
    assert launcher.get_attribute("aria-expanded") == "true"
    notice = w.loc(".fq-intro").inner_text()
    assert "automated assistant" in notice and "not medical advice" in notice
    assert "personal details" in notice and "999" in notice
    assert not w.loc("#fq-message").is_visible()
    assert (w.focused() or {}).get("cls") == "fq-ack"
    call = w.loc(".fq-help a.fq-call")
    assert call.get_attribute("href") == HELPLINE_TEL and "Call the helpline" in call.inner_text()
    shot(w, "widget-embedded-notice", full_page=False)

    # The notice is acknowledged with a button; focus goes to the message box, which has a visible label.
    w.acknowledge()
    assert (w.focused() or {}).get("id") == "fq-message"
    assert w.loc("label[for=fq-message]").is_visible()
    assert w.loc("#fq-message-count").inner_text() == "0 of 1000 characters"

    # An answer: short answer first, then "Please note", the evidence in words, dated sources, the review date.
    api_answer = api_chat(live_server, PROVEN)["replies"][0]["answer"]
    reply = w.ask(PROVEN)
    assert "fq-msg--answer" in (reply.get_attribute("class") or "")
    answer_text = reply.locator(".fq-answer__text").inner_text()
    assert re.match(r"\s*No\b", answer_text), answer_text
    assert reply.locator(".fq-caveats__title").inner_text().strip() == "Please note"
    assert reply.locator(".fq-caveats li").count() == len(api_answer["caveats"])
    assert reply.locator(".fq-evidence__level").inner_text().strip() == EVIDENCE_WORDS[api_answer["evidence"]]
    sources = reply.locator(".fq-sources__list > li")
    assert sources.count() == len(api_answer["citations"])
    for i, citation in enumerate(api_answer["citations"]):
        meta = sources.nth(i).locator(".fq-source__meta").inner_text()
        assert citation["publisher"] in meta and re.search(r"Published .*\b(19|20)\d\d\b", meta), meta
    historical = [c for c in api_answer["citations"] if c["historical"]]
    markers = reply.locator(".fq-badge--historical")
    assert markers.count() == len(historical)
    for i, citation in enumerate(historical):
        assert markers.nth(i).inner_text().strip() == f"Historical source (published {citation['published'][:4]})"
    links = reply.locator(".fq-sources__list a")
    for i in range(links.count()):
        assert re.match(r"https?://", links.nth(i).get_attribute("href") or "")
        assert links.nth(i).get_attribute("target") == "_blank"
        assert set((links.nth(i).get_attribute("rel") or "").split()) >= {"noopener", "noreferrer"}
    assert re.fullmatch(r"Reviewed on \d{1,2} \w+ \d{4}\.", reply.locator(".fq-reviewed").inner_text().strip())
    parts = [".fq-answer__text", ".fq-caveats", ".fq-evidence", ".fq-sources", ".fq-reviewed"]
    assert in_order(reply, parts), "the answer's parts are out of order"
    assert w.last_user_text() == PROVEN
    # Screen readers are told: the polite live region carries the new answer.
    page.wait_for_function(
        f"t => {SHADOW}.querySelector('[aria-live=polite][aria-atomic]').textContent.includes(t)",
        arg=api_answer["text"][:40],
    )
    shot(w, "widget-embedded-answer", full_page=False)

    # Read aloud: in the browser, nothing sent anywhere.
    requests_before = len(w.sent)
    read = reply.locator(".fq-read")
    read.click()
    spoken = page.evaluate("window.__spoken")
    assert len(spoken) == 1 and api_answer["text"][:40] in spoken[0] and "Please note" in spoken[0]
    assert read.inner_text().strip() == "Stop reading"
    read.click()
    assert read.inner_text().strip() == "Read aloud"
    assert len(w.sent) == requests_before

    # Related questions are buttons too.
    related = reply.locator(".fq-options button")
    assert related.count() == len(api_chat(live_server, PROVEN)["replies"][0]["options"])

    # "Did you mean": the options are buttons; tapping one sends its payload and shows its title.
    message, api_reply = vague_message
    clarify = w.ask(message)
    buttons = clarify.locator(".fq-options button")
    titles = [t.strip() for t in buttons.all_inner_texts()]
    assert titles == [o["title"] for o in api_reply["options"]]
    box = buttons.first.bounding_box()
    assert box and box["height"] >= 44, box
    shot(w, "widget-embedded-clarify", full_page=False)
    chosen = w.tap(buttons.first)
    assert w.last_user_text() == titles[0]
    assert w.sent[-1]["message"] == api_reply["options"][0]["payload"]
    assert "fq-msg--answer" in (chosen.get_attribute("class") or "")
    assert chosen.locator(".fq-sources__list > li").count() >= 1
    assert "choose_pair" not in w.loc(".fq-log").inner_text()

    # "Was this helpful?" Yes: the feedback payload is sent, the answer stays, the vote stays given.
    answers_before = w.loc(".fq-log .fq-msg--answer").count()
    yes = reply.locator(".fq-feedback button", has_text="Yes")
    thanks = w.tap(yes)
    assert re.fullmatch(r"/feedback\{.*\"helpful\":true\}", w.sent[-1]["message"]), w.sent[-1]
    assert "Thank you" in thanks.inner_text()
    assert w.loc(".fq-log .fq-msg--answer").count() == answers_before
    assert reply.locator(".fq-answer__text").inner_text() == answer_text
    assert yes.is_disabled() and yes.get_attribute("aria-pressed") == "true"
    assert reply.locator(".fq-feedback button", has_text="No").is_disabled()

    # The helpline button: a person, whenever it is wanted.
    handoff = w.tap(w.loc(".fq-help .fq-person"))
    assert w.sent[-1]["message"] == "I want to talk to a person"
    assert "fq-msg--contact" in (handoff.get_attribute("class") or "")
    assert "0808 800 8000" in handoff.inner_text()
    # tel: links only ever come from the widget's own configuration.
    tels = page.evaluate(f"[...{SHADOW}.querySelectorAll('a[href^=\"tel:\"]')].map(a => a.getAttribute('href'))")
    assert tels and set(tels) == {HELPLINE_TEL}
    shot(w, "widget-embedded-handoff", full_page=False)

    # One conversation: no id on the first turn, then the id the service issued; kept in memory only.
    assert w.sent[0].get("session_id") is None
    ids = {body["session_id"] for body in w.sent[1:]}
    assert len(ids) == 1 and all(ids), ids
    assert page.evaluate("window.__stored") == []
    assert page.evaluate("[localStorage.length, sessionStorage.length, document.cookie]") == [0, 0, ""]
    assert page.evaluate("indexedDB.databases().then(d => d.length)") == 0

    assert w.problems() == {}


def test_a_crisis_message_is_urgent_and_announced_assertively(new_widget, host_site):
    w = new_widget().goto(host_site.url("/"))
    w.open()
    w.acknowledge()
    reply = w.ask("i dont want to be here anymore")
    assert "fq-msg--urgent" in (reply.get_attribute("class") or "")
    assert reply.locator(".fq-urgent__title").inner_text().strip() == "Get help now"
    assert "999" in reply.inner_text() and "116 123" in reply.inner_text()
    w.page.wait_for_function(f"() => {SHADOW}.querySelector('[aria-live=assertive]').textContent.includes('999')")
    colour = reply.evaluate("e => getComputedStyle(e).borderTopColor")
    assert colour == "rgb(164, 0, 29)", colour
    shot(w, "widget-safety", full_page=False)
    assert w.problems() == {}


def test_the_helpline_works_before_the_notice_is_acknowledged(new_widget, live_server):
    w = new_widget().goto(live_server.base_url + "/")
    assert w.loc(".fq-help .fq-call").get_attribute("href") == HELPLINE_TEL
    reply = w.tap(w.loc(".fq-help .fq-person"))
    assert "fq-msg--contact" in (reply.get_attribute("class") or "")
    assert not w.loc(".fq-intro").is_visible() and w.loc("#fq-message").is_visible()
    assert w.problems() == {}


def test_read_aloud_is_hidden_without_speech_synthesis(new_widget, host_site):
    w = new_widget(init=(NO_SPEECH,)).goto(host_site.url("/"))
    w.open()
    w.acknowledge()
    reply = w.ask(PROVEN)
    assert reply.locator(".fq-answer__text").is_visible()
    assert w.loc(".fq-read").count() == 0
    assert w.problems() == {}


# ---- 2. styles stay on their own side -------------------------------------------------------------------------------

STYLE_PROPS = [
    "display",
    "position",
    "font-family",
    "font-size",
    "font-weight",
    "color",
    "background-color",
    "letter-spacing",
    "text-transform",
    "line-height",
    "padding-top",
    "padding-left",
    "margin-top",
    "border-top-width",
    "border-top-style",
    "border-top-color",
    "border-top-left-radius",
    "box-sizing",
    "width",
    "height",
]

WIDGET_PARTS = [
    ".fq-launcher",
    ".fq-panel",
    ".fq-title",
    ".fq-call",
    ".fq-person",
    ".fq-intro p",
    ".fq-ack",
]
WIDGET_PARTS_AFTER = [
    ".fq-msg__who",
    ".fq-log .fq-option",
    "label[for=fq-message]",
    "#fq-message",
    ".fq-send",
    ".fq-count",
]
HOST_PARTS = ["body", "h1.fq-title", "h2", "p.fq-text", "button.fq-option", "div.fq-panel", "textarea#fq-message", "a"]


def computed(page: Any, root: str, selectors: list[str]) -> dict:
    return dict(
        page.evaluate(
            f"""([sels, props]) => {{
              const root = {root};
              const out = {{}};
              for (const s of sels) {{
                const e = root.querySelector(s);
                if (!e) {{ out[s] = null; continue; }}
                const c = getComputedStyle(e);
                out[s] = Object.fromEntries(props.map(p => [p, c.getPropertyValue(p)]));
              }}
              return out;
            }}""",
            [selectors, STYLE_PROPS],
        )
    )


def test_host_styles_do_not_reach_the_widget_and_the_widget_does_not_restyle_the_host(new_widget, host_site):
    def widget_styles(path: str) -> tuple[dict, dict, dict]:
        w = new_widget().goto(host_site.url(path))
        w.open()
        before = computed(w.page, SHADOW, WIDGET_PARTS)
        w.acknowledge()
        after = computed(w.page, SHADOW, WIDGET_PARTS_AFTER)
        host = computed(w.page, "document", HOST_PARTS)
        if path == "/hostile.html":
            shot(w, "widget-hostile-host", full_page=False)
        assert w.problems() == {}
        return before, after, host

    plain_before, plain_after, _ = widget_styles("/")
    hostile_before, hostile_after, hostile_host = widget_styles("/hostile.html")
    assert all(plain_before.values()) and all(plain_after.values())
    assert hostile_before == plain_before
    assert hostile_after == plain_after
    # The widget's own look, whatever the host: its font size follows the visitor's setting (18px), not the host's.
    assert plain_after["#fq-message"]["font-size"] == "18px"
    assert "Courier" not in plain_before[".fq-title"]["font-family"]

    # The host's elements (some with the widget's own class names and ids) look the same with and without it.
    w = new_widget().goto(host_site.url("/hostile-plain.html"), widget=False)
    without = computed(w.page, "document", HOST_PARTS)
    assert all(without.values())
    assert hostile_host == without


# ---- 3. the keyboard alone ---------------------------------------------------------------------------------------------


def test_keyboard_only(new_widget, host_site, vague_message):
    w = new_widget().goto(host_site.url("/"))
    page = w.page

    for _ in range(20):
        page.keyboard.press("Tab")
        if (w.focused() or {}).get("cls") == "fq-launcher":
            break
    else:
        pytest.fail("Tab never reached the launcher")
    focus = w.focused() or {}
    assert "solid" in focus["outline"], focus  # focus is visible

    page.keyboard.press("Enter")
    w.loc(".fq-panel").wait_for(state="visible")
    assert (w.focused() or {}).get("cls") == "fq-ack"
    page.keyboard.press("Enter")
    assert (w.focused() or {}).get("id") == "fq-message"

    message, api_reply = vague_message
    before = w.bot_count()
    page.keyboard.type(message)
    assert w.loc("#fq-message-count").inner_text() == f"{len(message)} of 1000 characters"
    page.keyboard.press("Enter")
    w.wait_for_reply(before)
    assert w.last_user_text() == message
    assert (w.focused() or {}).get("id") == "fq-message"

    # The options are just above the message box: Shift+Tab reaches them, each with a visible focus ring.
    titles = [o["title"] for o in api_reply["options"]]
    for _ in range(15):
        page.keyboard.press("Shift+Tab")
        focus = w.focused() or {}
        if focus.get("cls") == "fq-option" and focus.get("text") in titles:
            break
    else:
        pytest.fail("Shift+Tab never reached an option")
    assert "solid" in focus["outline"], focus
    before = w.bot_count()
    page.keyboard.press("Enter")
    w.wait_for_reply(before)
    assert w.last_user_text() == focus["text"]
    assert (w.focused() or {}).get("id") == "fq-message"

    # Shift+Enter is a new line, not a send.
    page.keyboard.type("first line")
    page.keyboard.press("Shift+Enter")
    page.keyboard.type("second line")
    assert w.loc("#fq-message").input_value() == "first line\nsecond line"

    # Escape closes the panel and focus is back on the launcher.
    page.keyboard.press("Escape")
    assert not w.loc(".fq-panel").is_visible()
    assert (w.focused() or {}).get("cls") == "fq-launcher"
    assert w.loc(".fq-launcher").get_attribute("aria-expanded") == "false"

    # No trap: Tab goes on through the open panel and out of the widget.
    page.keyboard.press("Enter")
    assert (w.focused() or {}).get("id") == "fq-message"
    assert w.loc("#fq-message").input_value() == "first line\nsecond line"  # nothing lost by closing
    for _ in range(60):
        page.keyboard.press("Tab")
        if w.focused() is None:
            break
    else:
        pytest.fail("focus never left the widget")
    assert w.problems() == {}


# ---- 4. markup, scripts and tricks typed as messages are text ------------------------------------------------------------

XSS_CORPUS = [
    "<script>alert(1)</script>",
    '<img src=x onerror="alert(1)">',
    "<svg/onload=alert(1)>",
    '<a href="javascript:alert(1)">click me</a>',
    '<div onmouseover="alert(1)" onclick="alert(2)">what is ccsvi</div>',
    '" autofocus onfocus="alert(1)" x="',
    "javascript:alert(document.domain)",
    "[x](javascript:alert(1)) and [y](https://example.org)",
    '<iframe srcdoc="<script>parent.alert(1)</script>"></iframe>',
    "\u202egnp.exe what is ccsvi\u202c",  # right-to-left override
    "wh\u200bat is c\u200dcsvi\u2060?",  # zero-width characters
    "<\u0455cript>alert(1)</\u0455cript>",  # homoglyph: Cyrillic dze for "s"
    "</script><script>alert(1)</script>",
    "{{constructor.constructor('alert(1)')()}} ${alert(1)}",
    ("<b>bold</b> <img src=x onerror=alert(1)> " * 30)[:1000],
]


def test_markup_and_tricks_are_shown_as_literal_text_and_nothing_runs(new_widget, host_site):
    assert len(XSS_CORPUS[-1]) == 1000
    w = new_widget().goto(host_site.url("/"))
    w.open()
    w.acknowledge()
    page = w.page
    for text in XSS_CORPUS:
        w.ask(text)
        assert w.last_user_text() == text, text
        assert w.sent[-1]["message"] == text
        assert w.loc(".fq-error").inner_text() == ""

    found = page.evaluate(
        f"""() => {{
          const root = {SHADOW};
          const all = [...root.querySelectorAll('*'), ...document.querySelectorAll('*')];
          return {{
            elements: [...root.querySelectorAll('script, img, svg, iframe, object, embed, b, style')].map(e => e.tagName),
            handlers: all.filter(e => [...e.attributes].some(a => a.name.startsWith('on'))).map(e => e.tagName),
            links: [...root.querySelectorAll('a[href]')].map(a => a.getAttribute('href'))
                    .filter(h => !/^https?:\\/\\//.test(h) && h !== '{HELPLINE_TEL}'),
            scripts: document.scripts.length,
          }};
        }}"""
    )
    assert found == {"elements": [], "handlers": [], "links": [], "scripts": 1}, found
    shot(w, "widget-xss-corpus", full_page=False)
    assert w.problems() == {}


def test_a_reply_with_markup_odd_links_and_every_evidence_level_is_rendered_safely(new_widget, live_server):
    """A reply from a compromised or buggy service: markup, javascript: links and phone numbers stay text."""
    evil = '<img src=x onerror="alert(1)"> call 0800 123 4567 or see javascript:alert(1)'
    answers = [
        {
            "kind": "answer",
            "text": evil,
            "answer": {
                "id": f"pair-{level}",
                "question": f"<b>{level}</b>?",
                "text": f"{evil} ({level})",
                "score": 0.9,
                "evidence": level,
                "caveats": ["<script>alert(1)</script>"],
                "reviewed_on": "2020-03-01",
                "review_due": "2021-03-01",
                "review_overdue": True,
                "citations": [
                    {
                        "title": "Bad link",
                        "publisher": "<i>Pub</i>",
                        "published": "2010-05",
                        "url": "javascript:alert(1)",
                        "passage": "<script>x</script>",
                        "historical": True,
                    },
                    {
                        "title": "Good link",
                        "publisher": "NICE",
                        "published": "2019",
                        "url": "https://www.nice.org.uk/x",
                    },
                ],
            },
            "options": [{"title": "<img src=x onerror=alert(1)>", "payload": "<img src=x onerror=alert(2)>"}],
        }
        for level in EVIDENCE_WORDS
    ]
    body = {
        "session_id": "s1",
        "degraded": True,
        "notice": "Conversation features are unavailable.",
        "replies": answers,
    }
    w = new_widget(viewport=(1280, 900)).goto(live_server.base_url + "/")
    page = w.page
    page.route(
        "**/api/chat", lambda route: route.fulfill(status=200, content_type="application/json", body=json.dumps(body))
    )
    w.acknowledge()
    w.ask("anything")

    replies = w.loc(".fq-log .fq-msg--answer")
    assert replies.count() == len(EVIDENCE_WORDS)
    for i, words in enumerate(EVIDENCE_WORDS.values()):
        reply = replies.nth(i)
        assert reply.locator(".fq-evidence__level").inner_text().strip() == words
        assert evil in reply.locator(".fq-answer__text").inner_text()
        assert reply.locator(".fq-caveats li").inner_text() == "<script>alert(1)</script>"
        assert "due for review" in reply.locator(".fq-review-note").inner_text()
        assert reply.locator(".fq-reviewed").inner_text().strip() == "Reviewed on 1 March 2020."
        assert reply.locator(".fq-badge--historical").inner_text().strip() == "Historical source (published 2010)"
        assert reply.locator(".fq-options button").inner_text() == "<img src=x onerror=alert(1)>"
    assert w.loc(".fq-notice").inner_text() == "Conversation features are unavailable."
    found = page.evaluate(
        f"""() => ({{
          elements: [...{SHADOW}.querySelectorAll('script, img, b, i, style')].length,
          links: [...{SHADOW}.querySelectorAll('.fq-log a[href]')].map(a => a.getAttribute('href')),
        }})"""
    )
    assert found["elements"] == 0
    assert set(found["links"]) == {
        "https://www.nice.org.uk/x"
    }  # no javascript:, and phone numbers in replies stay text
    before = len(w.sent)
    w.loc(".fq-log .fq-msg--answer .fq-options button").first.click()
    page.wait_for_function(f"n => {SHADOW}.querySelectorAll('.fq-log .fq-msg--answer').length > n", arg=len(answers))
    assert w.sent[before]["message"] == "<img src=x onerror=alert(2)>"
    assert w.problems() == {}


# ---- 5. accessibility checks ---------------------------------------------------------------------------------------------


# axe-core adds a style element of its own (refused by the pages' CSP) and reads the style sheets with
# XMLHttpRequest (the widget's, on the chat service's origin, is refused it by CORS: the partner's page only
# loads it as a style sheet). That is axe's noise, not the widget's: each page's problems are checked before
# axe runs on it.


def test_axe_finds_no_serious_violations_embedded(new_widget, host_site):
    w = new_widget().goto(host_site.url("/"))
    w.open()
    assert w.problems() == {}
    assert axe_violations(w.page) == [], "the notice"

    w = new_widget().goto(host_site.url("/"))
    w.open()
    w.acknowledge()
    w.ask(PROVEN)
    w.ask("I want to talk to a person")
    assert w.problems() == {}
    assert axe_violations(w.page) == [], "after an answer"


def test_axe_finds_no_serious_violations_on_the_chat_page(new_widget, live_server):
    w = new_widget().goto(live_server.base_url + "/")
    shot(w, "chat-page-notice", full_page=True)
    assert w.problems() == {}
    assert axe_violations(w.page) == [], "the notice"

    w = new_widget().goto(live_server.base_url + "/")
    w.acknowledge()
    w.ask(PROVEN)
    shot(w, "chat-page", full_page=True)
    assert w.problems() == {}
    assert axe_violations(w.page) == [], "after an answer"


# ---- 6. small screens, zoom and motion ---------------------------------------------------------------------------------

OVERFLOW = f"""() => {{
  const r = {SHADOW};
  const sideways = e => e.scrollWidth - e.clientWidth;
  return {{
    page: document.documentElement.scrollWidth - window.innerWidth,
    panel: sideways(r.querySelector('.fq-panel')),
    scroll: sideways(r.querySelector('.fq-scroll')),
    log: sideways(r.querySelector('.fq-log')),
  }};
}}"""


def assert_fits(w: Widget) -> None:
    overflow = w.page.evaluate(OVERFLOW)
    assert all(v <= 0 for v in overflow.values()), f"scrolls sideways: {overflow}"
    width = w.page.evaluate("window.innerWidth")
    for selector in [".fq-panel", ".fq-header", ".fq-help", ".fq-composer", ".fq-log .fq-msg--answer"]:
        box = w.loc(selector).first.bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= width + 0.5, (selector, box, width)


def targets_too_small(w: Widget) -> list:
    return list(
        w.page.evaluate(
            f"""() => [...{SHADOW}.querySelectorAll('button, a[href], summary, textarea')]
                .filter(e => e.getClientRects().length > 0 && !e.closest('.fq-text, .fq-caveats li'))
                .map(e => [e.className || e.tagName, e.getBoundingClientRect()])
                .filter(([, b]) => b.width < 44 || b.height < 44)
                .map(([n, b]) => [n, Math.round(b.width), Math.round(b.height)])"""
        )
    )


def test_320px_wide_the_panel_is_full_width_and_nothing_scrolls_sideways(new_widget, host_site):
    w = new_widget(viewport=(320, 640)).goto(host_site.url("/"))
    w.open()
    panel = w.loc(".fq-panel").bounding_box()
    assert panel and panel["x"] == 0 and panel["width"] == 320, panel
    w.acknowledge()
    w.ask(PROVEN)
    assert_fits(w)
    assert targets_too_small(w) == []
    assert w.loc(".fq-help .fq-call").is_visible() and w.loc(".fq-close").is_visible()
    shot(w, "widget-320px", full_page=False)
    w.ask("I want to talk to a person")
    assert_fits(w)
    assert w.problems() == {}


def test_at_200_percent_zoom_the_panel_reflows_and_the_helpline_stays_in_view(new_widget, host_site):
    # 200% browser zoom of a 1280x800 window: 640x400 CSS pixels at a device scale of 2.
    w = new_widget(viewport=(640, 400), device_scale_factor=2).goto(host_site.url("/"))
    w.open()
    w.acknowledge()
    reply = w.ask(PROVEN)
    assert_fits(w)
    assert targets_too_small(w) == []
    size = reply.locator(".fq-answer__text p").first.evaluate("e => parseFloat(getComputedStyle(e).fontSize)")
    assert size >= 18
    # However far the conversation scrolls, the helpline and the close button stay on screen.
    reply.locator(".fq-reviewed").scroll_into_view_if_needed()
    for selector in (".fq-help .fq-call", ".fq-help .fq-person", ".fq-close"):
        box = w.loc(selector).bounding_box()
        assert box and box["y"] >= 0 and box["y"] + box["height"] <= 400, (selector, box)
    shot(w, "widget-200-percent", full_page=False)
    assert w.problems() == {}


def test_the_chat_page_at_320px_and_200_percent(new_widget, live_server):
    for viewport, scale, name in (((320, 640), 1, "chat-page-320px"), ((640, 400), 2, "chat-page-200-percent")):
        w = new_widget(viewport=viewport, device_scale_factor=scale).goto(live_server.base_url + "/")
        w.acknowledge()
        w.ask(PROVEN)
        overflow = w.page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{name}: the page scrolls sideways by {overflow}px"
        assert targets_too_small(w) == []
        shot(w, name, full_page=True)
        assert w.problems() == {}


def test_reduced_motion_is_respected(new_widget, host_site):
    def motion(reduced: bool) -> dict:
        w = new_widget(reduced_motion="reduce" if reduced else "no-preference").goto(host_site.url("/"))
        w.open()
        return dict(
            w.page.evaluate(
                f"""() => {{ const r = {SHADOW};
                  return {{panel: getComputedStyle(r.querySelector('.fq-panel')).animationName,
                           scroll: getComputedStyle(r.querySelector('.fq-scroll')).scrollBehavior}}; }}"""
            )
        )

    assert motion(False) == {"panel": "fq-in", "scroll": "smooth"}
    assert motion(True) == {"panel": "none", "scroll": "auto"}
    w = new_widget(reduced_motion="reduce").goto(host_site.url("/"))
    w.open()
    w.acknowledge()
    w.ask(PROVEN)
    shot(w, "widget-reduced-motion", full_page=False)
    assert w.problems() == {}
