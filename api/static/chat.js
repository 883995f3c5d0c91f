/* Visitors' chat page. Everything a visitor or the service sends is shown as text:
 * elements are built with createElement and filled with textContent, never parsed as HTML.
 * Only http(s) URLs become links. */
(function () {
  "use strict";

  var MAX_CHARS = 1000;
  var WARN_AT = 100; // characters left when the counter starts warning
  var REQUEST_TIMEOUT_MS = 45000;
  var MONTHS = ["January", "February", "March", "April", "May", "June", "July",
                "August", "September", "October", "November", "December"];

  var state = { sessionId: null, busy: false, waitUntil: 0, waitTimer: null, lastCountBand: "" };

  var form, input, sendButton, log, thinking, notice, errorBox, counter, countAnnounce, starters;

  function $(id) { return document.getElementById(id); }

  // ---- building elements (text only) -------------------------------------------------------

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) { node.className = className; }
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    return node;
  }

  /** A URL string if it is an absolute http(s) URL, else null. */
  function safeHttpUrl(value) {
    if (typeof value !== "string" || !value) { return null; }
    var url;
    try { url = new URL(value.trim()); } catch (e) { return null; }
    if (url.protocol !== "http:" && url.protocol !== "https:") { return null; }
    return url.href;
  }

  function externalLink(href, text) {
    var a = el("a", "ext-link", text);
    a.setAttribute("href", href);
    a.setAttribute("target", "_blank");
    a.setAttribute("rel", "noopener noreferrer");
    a.appendChild(el("span", "visually-hidden", " (opens in a new tab)"));
    return a;
  }

  var URL_RE = /https?:\/\/[^\s<>"'`]+/g;
  var PHONE_RE = /\+?\d(?:[ \u00a0]?\d){2,}/g;

  /** Appends text to parent, turning http(s) URLs into links and (optionally) setting
   *  phone numbers in a bold, unbreakable span. Never parses markup. */
  function appendRichText(parent, text, emphasisePhones) {
    text = String(text == null ? "" : text);
    var last = 0;
    var match;
    URL_RE.lastIndex = 0;
    while ((match = URL_RE.exec(text)) !== null) {
      var raw = match[0];
      var trimmed = raw.replace(/[.,;:!?)\]]+$/, "");
      var end = match.index + trimmed.length;
      var href = safeHttpUrl(trimmed);
      if (!href) { continue; }
      appendPlain(parent, text.slice(last, match.index), emphasisePhones);
      // Shown without the scheme (shorter, easier to read); the link itself is the full URL.
      parent.appendChild(externalLink(href, trimmed.replace(/^https?:\/\//, "")));
      last = end;
      URL_RE.lastIndex = end;
    }
    appendPlain(parent, text.slice(last), emphasisePhones);
  }

  function appendPlain(parent, text, emphasisePhones) {
    if (!text) { return; }
    if (!emphasisePhones) { parent.appendChild(document.createTextNode(text)); return; }
    var last = 0;
    var match;
    PHONE_RE.lastIndex = 0;
    while ((match = PHONE_RE.exec(text)) !== null) {
      if (match.index > last) { parent.appendChild(document.createTextNode(text.slice(last, match.index))); }
      parent.appendChild(el("strong", "phone", match[0]));
      last = match.index + match[0].length;
    }
    if (last < text.length) { parent.appendChild(document.createTextNode(text.slice(last))); }
  }

  /** Paragraphs from plain text: blank lines split paragraphs, single newlines are kept. */
  function paragraphs(parent, text, emphasisePhones) {
    var parts = String(text == null ? "" : text).split(/\n\s*\n/);
    parts.forEach(function (part) {
      if (!part.trim()) { return; }
      var p = el("p", "msg__text");
      appendRichText(p, part.trim(), emphasisePhones);
      parent.appendChild(p);
    });
  }

  /** "2018-01" -> "January 2018", "2019-05-31" -> "31 May 2019", "2014" -> "2014". */
  function formatDate(value) {
    var s = String(value || "").trim();
    var m = /^(\d{4})(?:-(\d{2}))?(?:-(\d{2}))?/.exec(s);
    if (!m) { return s; }
    var month = m[2] ? parseInt(m[2], 10) : 0;
    var day = m[3] ? parseInt(m[3], 10) : 0;
    if (month < 1 || month > 12) { return m[1]; }
    var monthYear = MONTHS[month - 1] + " " + m[1];
    return day >= 1 && day <= 31 ? day + " " + monthYear : monthYear;
  }

  function timeEl(value) {
    var t = el("time", null, formatDate(value));
    var iso = /^\d{4}(-\d{2}(-\d{2})?)?$/.exec(String(value || "").trim());
    if (iso) { t.setAttribute("datetime", iso[0]); }
    return t;
  }

  // ---- messages ---------------------------------------------------------------------------

  function message(who, className) {
    var box = el("div", "msg " + className);
    box.appendChild(el("p", "msg__who", who));
    var body = el("div", "msg__body");
    box.appendChild(body);
    return { box: box, body: body };
  }

  function addVisitorMessage(text) {
    var m = message("You", "msg--user");
    var p = el("p", "msg__text msg__text--user", text);
    m.body.appendChild(p);
    log.appendChild(m.box);
    return m.box;
  }

  function renderCitation(c) {
    var li = el("li", "source");
    var href = safeHttpUrl(c.url);
    var title = el("p", "source__title");
    if (href) { title.appendChild(externalLink(href, c.title || href)); }
    else { title.textContent = c.title || "Untitled source"; }
    li.appendChild(title);

    var meta = el("p", "source__meta");
    if (c.publisher) { meta.appendChild(document.createTextNode(c.publisher + ". ")); }
    if (c.published) {
      meta.appendChild(document.createTextNode("Published "));
      meta.appendChild(timeEl(c.published));
      meta.appendChild(document.createTextNode("."));
    }
    li.appendChild(meta);

    if (c.historical) {
      var year = /^\d{4}/.exec(String(c.published || ""));
      li.appendChild(el("p", "badge badge--historical",
        "Historical source" + (year ? " (published " + year[0] + ")" : "")));
    }
    if (c.passage) {
      var quote = el("blockquote", "source__passage");
      quote.appendChild(el("p", null, c.passage));
      li.appendChild(quote);
    }
    return li;
  }

  function renderAnswer(body, reply) {
    var a = reply.answer;
    if (a.question) {
      // Which question in the knowledge base this answers, so a visitor can tell if it was the wrong one.
      var q = el("p", "answer__question", "Answering: ");
      q.appendChild(el("strong", null, a.question));
      body.appendChild(q);
    }
    if (a.personal_note) {
      // The visitor asked about their own treatment: say plainly what the bot cannot do, first.
      body.appendChild(el("p", "personal-note", a.personal_note));
    }
    paragraphs(body, a.text || reply.text, false);

    if (a.review_overdue) {
      body.appendChild(el("p", "review-note",
        "This answer is due for review, so some details may have changed."));
    }

    var caveats = (a.caveats || []).filter(function (c) { return c && String(c).trim(); });
    if (caveats.length) {
      var note = el("div", "caveats");
      note.appendChild(el("h3", "caveats__title", "Please note"));
      var ul = el("ul");
      caveats.forEach(function (c) {
        var li = el("li");
        appendRichText(li, c, false);
        ul.appendChild(li);
      });
      note.appendChild(ul);
      body.appendChild(note);
    }

    var citations = a.citations || [];
    if (citations.length) {
      var sources = el("div", "sources");
      sources.appendChild(el("h3", "sources__title", citations.length > 1 ? "Sources" : "Source"));
      var ol = el("ol", "sources__list");
      citations.forEach(function (c) { ol.appendChild(renderCitation(c || {})); });
      sources.appendChild(ol);
      body.appendChild(sources);
    }

    if (a.reviewed_on) {
      var reviewed = el("p", "reviewed", "Answer last reviewed ");
      reviewed.appendChild(timeEl(a.reviewed_on));
      reviewed.appendChild(document.createTextNode("."));
      body.appendChild(reviewed);
    }
  }

  function renderOptions(box, reply) {
    var options = (reply.options || []).filter(function (o) {
      return o && typeof o.payload === "string" && o.payload.trim();
    });
    if (!options.length) { return; }
    var group = el("div", "options");
    group.setAttribute("role", "group");
    var label = reply.kind === "clarify" ? "Choose a question" : "You could also ask";
    group.setAttribute("aria-label", label);
    if (reply.kind !== "clarify") { group.appendChild(el("p", "options__label", label + ":")); }
    options.forEach(function (o) {
      var b = el("button", "option", o.title || o.payload);
      b.type = "button";
      b.addEventListener("click", function () {
        send(o.payload, o.title || o.payload, false);
      });
      group.appendChild(b);
    });
    box.appendChild(group);
  }

  function addBotReply(reply) {
    var kind = reply && typeof reply.kind === "string" ? reply.kind : "smalltalk";
    var m = message("Assistant", "msg--bot msg--" + kind.replace(/[^a-z]/g, ""));
    if (kind === "safety") {
      m.box.classList.add("msg--urgent");
      m.body.appendChild(el("h3", "urgent__title", "Get help now"));
    } else if (kind === "handoff") {
      m.box.classList.add("msg--contact");
      m.body.appendChild(el("h3", "contact__title", "Talk to a person"));
    }
    if (kind === "answer" && reply.answer) {
      renderAnswer(m.body, reply);
    } else {
      var phones = kind === "safety" || kind === "handoff" || kind === "fallback";
      paragraphs(m.body, reply && reply.text, phones);
    }
    renderOptions(m.box, reply || {});
    renderFeedback(m.box, reply || {});
    log.appendChild(m.box);
    return m.box;
  }

  function renderFeedback(box, reply) {
    var fb = reply.feedback;
    var options = fb && Array.isArray(fb.options) ? fb.options.filter(function (o) {
      return o && typeof o.payload === "string" && o.payload.trim();
    }) : [];
    if (!options.length) { return; }
    var group = el("div", "feedback");
    group.setAttribute("role", "group");
    var question = String(fb.question || "Was this helpful?");
    group.setAttribute("aria-label", question);
    group.appendChild(el("p", "feedback__label", question));
    options.forEach(function (o) {
      var b = el("button", "option option--feedback", o.title || "");
      b.type = "button";
      b.addEventListener("click", function () {
        // One answer per reply: the buttons go once used, so nobody votes twice by accident.
        group.querySelectorAll("button").forEach(function (x) { x.setAttribute("data-used", ""); x.disabled = true; });
        send(o.payload, o.title || "", false);
      });
      group.appendChild(b);
    });
    box.appendChild(group);
  }

  // ---- status -----------------------------------------------------------------------------

  function showError(text) { errorBox.textContent = text || ""; }

  function showNotice(text) { notice.textContent = text || ""; }

  function setBusy(busy) {
    state.busy = busy;
    log.setAttribute("aria-busy", busy ? "true" : "false");
    thinking.textContent = "";
    if (busy) {
      thinking.appendChild(el("span", "thinking__text", "The assistant is looking for an answer"));
      var dots = el("span", "thinking__dots");
      dots.setAttribute("aria-hidden", "true");
      for (var i = 0; i < 3; i++) { dots.appendChild(el("span", "dot", ".")); }
      thinking.appendChild(dots);
    }
    updateControls();
  }

  function updateControls() {
    var waiting = Date.now() < state.waitUntil;
    sendButton.disabled = state.busy || waiting;
    sendButton.textContent = state.busy ? "Sending…" : "Send";
    var buttons = document.querySelectorAll(".option");
    for (var i = 0; i < buttons.length; i++) {
      // A "was this helpful" answer, once given, stays given.
      buttons[i].disabled = state.busy || waiting || buttons[i].hasAttribute("data-used");
    }
  }

  function updateCounter() {
    var n = input.value.length;
    var left = MAX_CHARS - n;
    counter.textContent = n + " of " + MAX_CHARS + " characters";
    counter.classList.toggle("count--warn", left <= WARN_AT && left > 0);
    counter.classList.toggle("count--full", left <= 0);
    var band = left <= 0 ? "full" : left <= WARN_AT ? "warn" : "";
    if (band !== state.lastCountBand) {
      countAnnounce.textContent = band === "full" ? "You have reached the limit of " + MAX_CHARS + " characters."
        : band === "warn" ? left + " characters left." : "";
      state.lastCountBand = band;
    }
  }

  function focusInput() {
    try { input.focus({ preventScroll: true }); } catch (e) { input.focus(); }
  }

  function reducedMotion() {
    return window.matchMedia && window.matchMedia("(prefers-reduced-motion: reduce)").matches;
  }

  function scrollToMessage(node) {
    if (!node || !node.scrollIntoView) { return; }
    node.scrollIntoView({ block: "start", behavior: reducedMotion() ? "auto" : "smooth" });
  }

  function retryAfterSeconds(res) {
    var h = res.headers.get("Retry-After");
    if (!h) { return 5; }
    var n = parseInt(h, 10);
    if (!isNaN(n) && String(n) === h.trim()) { return Math.max(1, Math.min(n, 300)); }
    var when = Date.parse(h);
    if (!isNaN(when)) { return Math.max(1, Math.min(Math.ceil((when - Date.now()) / 1000), 300)); }
    return 5;
  }

  function startWait(seconds) {
    state.waitUntil = Date.now() + seconds * 1000;
    clearTimeout(state.waitTimer);
    state.waitTimer = setTimeout(function () {
      state.waitUntil = 0;
      updateControls();
      if (errorBox.textContent) { showError("You can send your message now."); }
    }, seconds * 1000);
    updateControls();
  }

  /** Plain words from a 422 body: {"message": "...", "detail": [{"field", "msg"}]}. */
  function validationMessage(body) {
    var detail = body && Array.isArray(body.detail) ? body.detail : [];
    var msgs = detail.map(function (d) { return d && d.msg ? String(d.msg) : ""; }).filter(Boolean);
    var text = msgs.length ? msgs.join("; ") : (body && body.message ? String(body.message) : "");
    if (!text) { return "Your message could not be sent. Please check it and try again."; }
    text = text.charAt(0).toUpperCase() + text.slice(1);
    return "Your message could not be sent: " + text.replace(/[.\s]+$/, "") + ".";
  }

  // ---- sending ----------------------------------------------------------------------------

  function postChat(text) {
    var controller = typeof AbortController === "function" ? new AbortController() : null;
    var timer = controller ? setTimeout(function () { controller.abort(); }, REQUEST_TIMEOUT_MS) : null;
    return fetch("/api/chat", {
      method: "POST",
      headers: { "Content-Type": "application/json", "Accept": "application/json" },
      body: JSON.stringify({ message: text, session_id: state.sessionId }),
      credentials: "same-origin",
      signal: controller ? controller.signal : undefined
    }).finally(function () { if (timer) { clearTimeout(timer); } });
  }

  function readJson(res) {
    return res.json().catch(function () { return null; });
  }

  /** Sends `payload`; shows `shown` as the visitor's message. fromInput: the text came from the box. */
  function send(payload, shown, fromInput) {
    var kept = fromInput ? " Your message is still in the box." : " You can choose the same option again.";
    if (state.busy) { return; }
    if (Date.now() < state.waitUntil) {
      showError("Please wait a moment before sending again.");
      focusInput();
      return;
    }
    var text = String(payload || "");
    if (!text.trim()) {
      showError("Please type a question first.");
      focusInput();
      return;
    }
    if (text.length > MAX_CHARS) {
      showError("Your message is too long. Please keep it to " + MAX_CHARS + " characters or fewer.");
      focusInput();
      return;
    }
    showError("");
    var visitorBubble = addVisitorMessage(shown);
    scrollToMessage(visitorBubble);
    setBusy(true);

    postChat(text).then(function (res) {
      if (res.ok) {
        return readJson(res).then(function (data) {
          if (!data || !Array.isArray(data.replies)) { throw new Error("bad response"); }
          if (typeof data.session_id === "string" && data.session_id) { state.sessionId = data.session_id; }
          showNotice(typeof data.notice === "string" ? data.notice : "");
          if (fromInput && input.value === text) { input.value = ""; updateCounter(); }
          var replies = data.replies.length ? data.replies : [{
            kind: "fallback",
            text: "Sorry, I have no answer to that. Please try asking in other words."
          }];
          replies.forEach(function (r) { addBotReply(r); });
          return true;
        });
      }
      return readJson(res).then(function (body) {
        failed(visitorBubble);
        if (res.status === 422) {
          showError(validationMessage(body));
        } else if (res.status === 429) {
          var secs = retryAfterSeconds(res);
          showError("You are sending messages quickly. Please wait " + secs +
            (secs === 1 ? " second" : " seconds") + ", then try again." + kept);
          startWait(secs);
        } else if (res.status >= 500) {
          showError("Sorry, something went wrong on our side. Please try again in a moment." + kept);
        } else {
          showError(body && body.message ? "Your message could not be sent: " + String(body.message)
            : "Sorry, your message could not be sent. Please try again.");
        }
        return false;
      });
    }).catch(function () {
      failed(visitorBubble);
      showError("The service can't be reached at the moment. Please check your internet connection and try again." + kept);
    }).then(function () {
      setBusy(false);
      focusInput();
    });

    function failed(bubble) {
      // The message was not delivered: take it out of the conversation. Typed text stays in the box;
      // an option can simply be chosen again.
      if (bubble && bubble.parentNode) { bubble.parentNode.removeChild(bubble); }
    }
  }

  function sendFromInput() {
    send(input.value, input.value.trim(), true);
  }

  // ---- start ------------------------------------------------------------------------------

  function init() {
    form = $("composer");
    input = $("message");
    sendButton = $("send");
    log = $("log");
    thinking = $("thinking");
    notice = $("notice");
    errorBox = $("error");
    counter = $("message-count");
    countAnnounce = $("count-announce");
    starters = $("starters");

    form.addEventListener("submit", function (e) {
      e.preventDefault();
      sendFromInput();
    });
    input.addEventListener("keydown", function (e) {
      if (e.key === "Enter" && !e.shiftKey && !e.altKey && !e.ctrlKey && !e.metaKey && !e.isComposing) {
        e.preventDefault();
        sendFromInput();
      }
    });
    input.addEventListener("input", function () {
      updateCounter();
      if (errorBox.textContent && !state.busy && Date.now() >= state.waitUntil) { showError(""); }
    });

    if (starters) {
      var buttons = starters.querySelectorAll("button[data-message]");
      for (var i = 0; i < buttons.length; i++) {
        buttons[i].addEventListener("click", function (e) {
          var q = e.currentTarget.getAttribute("data-message");
          send(q, q, false);
        });
      }
    }
    updateCounter();
    updateControls();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
