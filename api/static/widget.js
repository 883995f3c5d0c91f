/* The MS CCSVI FAQ chat widget: one script for an embedded launcher and panel on any allowed site, and for
 * the full-page chat at "/".
 *
 *   <script src="https://bot.example/widget.js" data-api="https://bot.example" defer></script>
 *
 * data- attributes of the script tag (all optional):
 *   data-api             where the chat service is (default: the origin this script was loaded from)
 *   data-mode            "launcher" (default: a button at the bottom right that opens a chat panel) or
 *                        "page" (the chat fills its container; used by the page at "/")
 *   data-container       page mode: the id of the element to fill (default: the end of <body>)
 *   data-title           the chat's heading (default "Ask about CCSVI and MS")
 *   data-launcher-label  the launcher's text (default "Ask a question")
 *   data-helpline-name   default "MS Society helpline"
 *   data-helpline-phone  default "0808 800 8000"; the only number ever made a tel: link
 *
 * Everything lives in a shadow root (styles come from <api>/static/widget.css), so the host page's styles do
 * not reach the widget and the widget's do not reach the page. Everything a visitor or the service sends is
 * shown as text (textContent and text nodes, never parsed as markup); only http(s) URLs become links. The
 * conversation and its session id are kept in memory only: nothing is written to any browser storage.
 */
(function () {
  "use strict";

  if (window.__msFaqWidget) { return; } // included twice: the first copy serves
  window.__msFaqWidget = true;

  var MAX_CHARS = 1000;
  var WARN_AT = 100; // characters left when the counter starts warning
  var REQUEST_TIMEOUT_MS = 45000;
  var TALK_TO_PERSON = "I want to talk to a person";
  var MONTHS = ["January", "February", "March", "April", "May", "June", "July",
                "August", "September", "October", "November", "December"];
  var EVIDENCE = {
    "established": "Established",
    "uncertain": "Uncertain",
    "not-supported": "Not supported by evidence",
    "disproven": "Shown not to work",
    "background": "Background"
  };
  var STARTERS = [
    "Is the liberation procedure proven to work?",
    "What is CCSVI?",
    "What are the risks of the liberation procedure?"
  ];

  // ---- configuration from the script tag ---------------------------------------------------------

  function findScript() {
    if (document.currentScript) { return document.currentScript; }
    var scripts = document.querySelectorAll("script[src]");
    for (var i = scripts.length - 1; i >= 0; i--) {
      if (/\/widget\.js(\?|#|$)/.test(scripts[i].src)) { return scripts[i]; }
    }
    return null;
  }

  var script = findScript();
  var data = (script && script.dataset) || {};

  function httpBase(value) {
    try {
      var u = new URL(value, document.baseURI);
      if (u.protocol !== "http:" && u.protocol !== "https:") { return null; }
      return (u.origin + u.pathname).replace(/\/+$/, "");
    } catch (e) { return null; }
  }

  var scriptOrigin = script && script.src ? httpBase(new URL(script.src, document.baseURI).origin) : null;
  var config = {
    api: (data.api && httpBase(data.api)) || scriptOrigin || httpBase(location.origin) || "",
    mode: data.mode === "page" ? "page" : "launcher",
    container: data.container || "",
    title: data.title || "Ask about CCSVI and MS",
    launcherLabel: data.launcherLabel || "Ask a question",
    helplineName: data.helplineName || "MS Society helpline",
    helplinePhone: data.helplinePhone || "0808 800 8000"
  };
  var isPage = config.mode === "page";
  var headingBase = isPage ? 1 : 2;

  // ---- state (memory only) ---------------------------------------------------------------------------

  var state = {
    sessionId: null, busy: false, waitUntil: 0, waitTimer: null, lastCountBand: "",
    acknowledged: false, open: isPage, speaking: null
  };

  var ui = {};

  // ---- building elements (text only) --------------------------------------------------------------

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) { node.className = className; }
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    return node;
  }

  function heading(offset, className, text) {
    return el("h" + Math.min(6, headingBase + offset), className, text);
  }

  function button(className, text) {
    var b = el("button", className, text);
    b.type = "button";
    return b;
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
    var a = el("a", "fq-link", text);
    a.setAttribute("href", href);
    a.setAttribute("target", "_blank");
    a.setAttribute("rel", "noopener noreferrer");
    a.appendChild(el("span", "fq-vh", " (opens in a new tab)"));
    return a;
  }

  /** Digits of a phone number for a tel: link (the widget's own configuration only). */
  function telHref(phone) {
    var digits = String(phone).replace(/[^\d+]/g, "");
    return digits ? "tel:" + digits : null;
  }

  var URL_RE = /https?:\/\/[^\s<>"'`]+/g;
  var PHONE_RE = /\+?\d(?:[ \u00a0]?\d){2,}/g;

  /** Appends text to parent, turning http(s) URLs into links and (optionally) setting phone numbers in a
   *  bold, unbreakable span. Never parses markup; phone numbers in replies are never made links. */
  function appendRichText(parent, text, emphasisePhones) {
    text = String(text == null ? "" : text);
    var last = 0;
    var match;
    URL_RE.lastIndex = 0;
    while ((match = URL_RE.exec(text)) !== null) {
      var trimmed = match[0].replace(/[.,;:!?)\]]+$/, "");
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
      parent.appendChild(el("strong", "fq-phone", match[0]));
      last = match.index + match[0].length;
    }
    if (last < text.length) { parent.appendChild(document.createTextNode(text.slice(last))); }
  }

  /** Paragraphs from plain text: blank lines split paragraphs, single newlines are kept. */
  function paragraphs(parent, text, emphasisePhones) {
    String(text == null ? "" : text).split(/\n\s*\n/).forEach(function (part) {
      if (!part.trim()) { return; }
      var p = el("p", "fq-text");
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

  // ---- messages ---------------------------------------------------------------------------------------

  function message(who, className) {
    var box = el("div", "fq-msg " + className);
    var head = el("div", "fq-msg__head");
    head.appendChild(el("p", "fq-msg__who", who));
    box.appendChild(head);
    var body = el("div", "fq-msg__body");
    box.appendChild(body);
    return { box: box, head: head, body: body };
  }

  function addVisitorMessage(text) {
    var m = message("You", "fq-msg--user");
    m.body.appendChild(el("p", "fq-text fq-text--user", text));
    ui.log.appendChild(m.box);
    return m.box;
  }

  function renderCitation(c) {
    var li = el("li", "fq-source");
    var href = safeHttpUrl(c.url);
    var title = el("p", "fq-source__title");
    if (href) { title.appendChild(externalLink(href, c.title || href)); }
    else { title.textContent = c.title || "Untitled source"; }
    li.appendChild(title);

    var meta = el("p", "fq-source__meta");
    if (c.publisher) { meta.appendChild(document.createTextNode(c.publisher + ". ")); }
    if (c.published) {
      meta.appendChild(document.createTextNode("Published "));
      meta.appendChild(timeEl(c.published));
      meta.appendChild(document.createTextNode("."));
    }
    li.appendChild(meta);

    if (c.historical) {
      var year = /^\d{4}/.exec(String(c.published || ""));
      li.appendChild(el("p", "fq-badge fq-badge--historical",
        "Historical source" + (year ? " (published " + year[0] + ")" : "")));
    }
    if (c.passage) {
      var details = el("details", "fq-passage");
      details.appendChild(el("summary", "fq-passage__summary", "What the source says"));
      var quote = el("blockquote", "fq-passage__quote");
      quote.appendChild(el("p", null, c.passage));
      details.appendChild(quote);
      li.appendChild(details);
    }
    return li;
  }

  /** Renders an answer; returns the plain text to read aloud. */
  function renderAnswer(body, reply) {
    var a = reply.answer;
    var spoken = [];
    if (a.question) {
      // Which question of the knowledge base this answers, so a visitor can tell if it was the wrong one.
      body.appendChild(heading(1, "fq-answer__question", a.question));
      spoken.push(a.question);
    }
    if (a.personal_note) {
      // The visitor asked about their own treatment: say plainly what the bot cannot do, first.
      body.appendChild(el("p", "fq-personal-note", a.personal_note));
      spoken.push(a.personal_note);
    }
    var answerBox = el("div", "fq-answer__text");
    paragraphs(answerBox, a.text || reply.text, false);
    body.appendChild(answerBox);
    spoken.push(a.text || reply.text);

    var caveats = (a.caveats || []).filter(function (c) { return c && String(c).trim(); });
    if (caveats.length) {
      var note = el("div", "fq-caveats");
      note.appendChild(heading(2, "fq-caveats__title", "Please note"));
      var ul = el("ul");
      caveats.forEach(function (c) {
        var li = el("li");
        appendRichText(li, c, false);
        ul.appendChild(li);
      });
      note.appendChild(ul);
      body.appendChild(note);
      spoken.push("Please note: " + caveats.join(" "));
    }

    var level = EVIDENCE[a.evidence];
    if (level) {
      var ev = el("p", "fq-evidence");
      ev.appendChild(el("span", "fq-evidence__label", "Evidence: "));
      ev.appendChild(el("strong", "fq-evidence__level fq-evidence--" + String(a.evidence).replace(/[^a-z-]/g, ""), level));
      body.appendChild(ev);
      spoken.push("Evidence: " + level + ".");
    }

    var citations = a.citations || [];
    if (citations.length) {
      var sources = el("div", "fq-sources");
      sources.appendChild(heading(2, "fq-sources__title", citations.length > 1 ? "Sources" : "Source"));
      var ol = el("ol", "fq-sources__list");
      citations.forEach(function (c) { ol.appendChild(renderCitation(c || {})); });
      sources.appendChild(ol);
      body.appendChild(sources);
    }

    if (a.reviewed_on) {
      var reviewed = el("p", "fq-reviewed", "Reviewed on ");
      reviewed.appendChild(timeEl(a.reviewed_on));
      reviewed.appendChild(document.createTextNode("."));
      body.appendChild(reviewed);
    }
    if (a.review_overdue) {
      body.appendChild(el("p", "fq-review-note", "This answer is due for review, so some details may have changed."));
    }
    return spoken.join("\n");
  }

  function renderOptions(box, reply) {
    var options = (reply.options || []).filter(function (o) {
      return o && typeof o.payload === "string" && o.payload.trim();
    });
    if (!options.length) { return; }
    var group = el("div", "fq-options");
    group.setAttribute("role", "group");
    var label = reply.kind === "clarify" ? "Choose a question" : "You could also ask";
    group.setAttribute("aria-label", label);
    if (reply.kind !== "clarify") { group.appendChild(el("p", "fq-options__label", label + ":")); }
    options.forEach(function (o) {
      var title = typeof o.title === "string" && o.title.trim() ? o.title : o.payload;
      var b = button("fq-option", title);
      b.addEventListener("click", function () { send(o.payload, title, false); });
      group.appendChild(b);
    });
    box.appendChild(group);
  }

  function renderFeedback(box, reply) {
    var fb = reply.feedback;
    var options = fb && Array.isArray(fb.options) ? fb.options.filter(function (o) {
      return o && typeof o.payload === "string" && o.payload.trim();
    }) : [];
    if (!options.length) { return; }
    var group = el("div", "fq-feedback");
    group.setAttribute("role", "group");
    var question = String(fb.question || "Was this helpful?");
    group.setAttribute("aria-label", question);
    group.appendChild(el("p", "fq-feedback__label", question));
    options.forEach(function (o) {
      var title = String(o.title || "");
      var b = button("fq-option fq-option--feedback", title);
      b.setAttribute("aria-pressed", "false");
      b.addEventListener("click", function () {
        // One answer per reply: once given it stays given, so nobody votes twice by accident.
        var all = group.querySelectorAll("button");
        for (var i = 0; i < all.length; i++) { all[i].setAttribute("data-used", ""); all[i].disabled = true; }
        b.setAttribute("aria-pressed", "true");
        var shown = /^yes$/i.test(title) ? "Yes, this was helpful."
          : /^no$/i.test(title) ? "No, this was not helpful." : title;
        send(o.payload, shown, false);
      });
      group.appendChild(b);
    });
    box.appendChild(group);
  }

  // ---- reading aloud (in the browser; nothing is sent anywhere) ------------------------------------------

  function speechSupported() {
    return !!(window.speechSynthesis && typeof window.SpeechSynthesisUtterance === "function");
  }

  function stopSpeaking() {
    if (state.speaking) {
      state.speaking.textContent = "Read aloud";
      state.speaking.classList.remove("fq-read--on");
      state.speaking = null;
    }
    if (speechSupported()) { window.speechSynthesis.cancel(); }
  }

  function readAloudButton(text) {
    var b = button("fq-read", "Read aloud");
    b.addEventListener("click", function () {
      if (state.speaking === b) { stopSpeaking(); return; }
      stopSpeaking();
      var u = new window.SpeechSynthesisUtterance(text);
      u.lang = "en-GB";
      u.rate = 0.95;
      u.onend = u.onerror = function () {
        if (state.speaking === b) { b.textContent = "Read aloud"; b.classList.remove("fq-read--on"); state.speaking = null; }
      };
      state.speaking = b;
      b.textContent = "Stop reading";
      b.classList.add("fq-read--on");
      window.speechSynthesis.speak(u);
    });
    return b;
  }

  // ---- bot replies ----------------------------------------------------------------------------------------

  function addBotReply(reply) {
    var kind = reply && typeof reply.kind === "string" ? reply.kind.replace(/[^a-z]/g, "") : "smalltalk";
    var m = message("Assistant", "fq-msg--bot fq-msg--" + kind);
    var spoken;
    if (kind === "safety") {
      m.box.classList.add("fq-msg--urgent");
      m.body.appendChild(heading(1, "fq-urgent__title", "Get help now"));
    } else if (kind === "handoff") {
      m.box.classList.add("fq-msg--contact");
      m.body.appendChild(heading(1, "fq-contact__title", "Talk to a person"));
    }
    if (kind === "answer" && reply.answer) {
      spoken = renderAnswer(m.body, reply);
    } else {
      var phones = kind === "safety" || kind === "handoff" || kind === "fallback";
      paragraphs(m.body, reply && reply.text, phones);
      spoken = String((reply && reply.text) || "");
    }
    if (kind === "handoff") {
      var call = helplineLink("fq-call fq-call--inline");
      if (call) { m.body.appendChild(call); }
    }
    renderOptions(m.box, reply || {});
    renderFeedback(m.box, reply || {});
    if (speechSupported() && spoken.trim()) { m.head.appendChild(readAloudButton(spoken)); }
    ui.log.appendChild(m.box);
    return { box: m.box, kind: kind, text: kind === "answer" && reply.answer ? (reply.answer.text || reply.text) : reply.text };
  }

  /** The helpline link: the number comes from the widget's configuration, never from a reply. */
  function helplineLink(className) {
    var href = telHref(config.helplinePhone);
    if (!href) { return null; }
    var a = el("a", className);
    a.setAttribute("href", href);
    a.appendChild(el("span", "fq-call__label", "Call the helpline"));
    a.appendChild(el("span", "fq-vh", " on "));
    a.appendChild(el("span", "fq-call__number", config.helplinePhone));
    return a;
  }

  // ---- status -------------------------------------------------------------------------------------------------

  function showError(text) { ui.error.textContent = text || ""; }

  function showNotice(text) { ui.notice.textContent = text || ""; }

  /** Says a reply through the live regions: safety replies assertively, the rest politely. */
  function announce(text, urgent) {
    var region = urgent ? ui.liveAssertive : ui.livePolite;
    region.textContent = "";
    setTimeout(function () { region.textContent = text; }, 50);
  }

  function setBusy(busy) {
    state.busy = busy;
    ui.log.setAttribute("aria-busy", busy ? "true" : "false");
    ui.thinking.textContent = "";
    if (busy) {
      ui.thinking.appendChild(el("span", null, "The assistant is looking for an answer"));
      var dots = el("span", "fq-dots");
      dots.setAttribute("aria-hidden", "true");
      for (var i = 0; i < 3; i++) { dots.appendChild(el("span", "fq-dot", ".")); }
      ui.thinking.appendChild(dots);
    }
    updateControls();
  }

  function updateControls() {
    var waiting = Date.now() < state.waitUntil;
    ui.send.disabled = state.busy || waiting;
    ui.send.textContent = state.busy ? "Sending…" : "Send";
    var buttons = ui.root.querySelectorAll(".fq-option");
    for (var i = 0; i < buttons.length; i++) {
      // A "was this helpful" answer, once given, stays given.
      buttons[i].disabled = state.busy || waiting || buttons[i].hasAttribute("data-used");
    }
  }

  function updateCounter() {
    var n = ui.input.value.length;
    var left = MAX_CHARS - n;
    ui.counter.textContent = n + " of " + MAX_CHARS + " characters";
    ui.counter.classList.toggle("fq-count--warn", left <= WARN_AT && left > 0);
    ui.counter.classList.toggle("fq-count--full", left <= 0);
    var band = left <= 0 ? "full" : left <= WARN_AT ? "warn" : "";
    if (band !== state.lastCountBand) {
      ui.countAnnounce.textContent = band === "full" ? "You have reached the limit of " + MAX_CHARS + " characters."
        : band === "warn" ? left + " characters left." : "";
      state.lastCountBand = band;
    }
  }

  function focusInput() {
    if (!state.open || ui.composer.hidden) { return; }
    try { ui.input.focus({ preventScroll: true }); } catch (e) { ui.input.focus(); }
  }

  function reducedMotion() {
    return !!(window.matchMedia && window.matchMedia("(prefers-reduced-motion: reduce)").matches);
  }

  /** Brings a message to the top of the conversation. The panel scrolls on its own; the page does not. */
  function scrollToMessage(node) {
    if (!node) { return; }
    var behavior = reducedMotion() ? "auto" : "smooth";
    if (isPage) {
      if (node.scrollIntoView) { node.scrollIntoView({ block: "start", behavior: behavior }); }
      return;
    }
    // The conversation scrolls inside the panel; on short screens the whole panel scrolls under its sticky top.
    var scroller = /auto|scroll/.test(getComputedStyle(ui.scroller).overflowY) ? ui.scroller : ui.panel;
    var offset = scroller === ui.panel ? ui.panel.querySelector(".fq-top").offsetHeight : 0;
    var top = node.getBoundingClientRect().top - scroller.getBoundingClientRect().top + scroller.scrollTop - offset - 8;
    if (scroller.scrollTo) { scroller.scrollTo({ top: top, behavior: behavior }); } else { scroller.scrollTop = top; }
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
      if (ui.error.textContent) { showError("You can send your message now."); }
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

  // ---- sending ---------------------------------------------------------------------------------------------------

  function postChat(text) {
    var controller = typeof AbortController === "function" ? new AbortController() : null;
    var timer = controller ? setTimeout(function () { controller.abort(); }, REQUEST_TIMEOUT_MS) : null;
    return fetch(config.api + "/api/chat", {
      method: "POST",
      mode: "cors",
      credentials: "omit", // no cookies: the session id travels in the body and lives in memory only
      cache: "no-store",
      referrerPolicy: "no-referrer",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ message: text, session_id: state.sessionId }),
      signal: controller ? controller.signal : undefined
    }).finally(function () { if (timer) { clearTimeout(timer); } });
  }

  function readJson(res) {
    return res.json().catch(function () { return null; });
  }

  /** Sends `payload`; shows `shown` as the visitor's message. fromInput: the text came from the message box. */
  function send(payload, shown, fromInput) {
    var kept = fromInput ? " Your message is still in the box." : " You can choose the same option again.";
    if (state.busy) { return; }
    if (!state.acknowledged) { acknowledge(false); }
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
    stopSpeaking();
    var visitorBubble = addVisitorMessage(shown);
    scrollToMessage(visitorBubble);
    setBusy(true);

    postChat(text).then(function (res) {
      if (res.ok) {
        return readJson(res).then(function (body) {
          if (!body || !Array.isArray(body.replies)) { throw new Error("bad response"); }
          if (typeof body.session_id === "string" && body.session_id) { state.sessionId = body.session_id; }
          var notice = typeof body.notice === "string" ? body.notice : "";
          if (!notice && body.degraded === true) {
            notice = "Some conversation features are unavailable at the moment, so answers come straight from the knowledge base.";
          }
          showNotice(notice);
          if (fromInput && ui.input.value === text) { ui.input.value = ""; updateCounter(); }
          var replies = body.replies.length ? body.replies : [{
            kind: "fallback",
            text: "Sorry, I have no answer to that. Please try asking in other words."
          }];
          var shownReplies = replies.map(function (r) { return addBotReply(r || {}); });
          // The question asked at the top, its answer under it.
          scrollToMessage(visitorBubble);
          var urgent = shownReplies.filter(function (r) { return r.kind === "safety"; });
          var spoken = (urgent.length ? urgent : shownReplies)
            .map(function (r) { return String(r.text || ""); }).join(" ");
          announce("Assistant: " + spoken, urgent.length > 0);
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
      // Not delivered: take it out of the conversation. Typed text stays in the box; an option can be chosen again.
      if (bubble && bubble.parentNode) { bubble.parentNode.removeChild(bubble); }
    }
  }

  function sendFromInput() {
    send(ui.input.value, ui.input.value.trim(), true);
  }

  // ---- the notice, opening and closing ----------------------------------------------------------------------

  /** The visitor has read the notice: the conversation starts and (when asked) focus goes to the message box. */
  function acknowledge(moveFocus) {
    if (!state.acknowledged) {
      state.acknowledged = true;
      ui.intro.hidden = true;
      ui.panel.removeAttribute("aria-describedby");
      ui.conversation.hidden = false;
      ui.composer.hidden = false;
      ui.reminder.hidden = false;
    }
    if (moveFocus) { focusInput(); }
  }

  function openPanel() {
    if (isPage || state.open) { return; }
    state.open = true;
    ui.panel.hidden = false;
    ui.launcher.setAttribute("aria-expanded", "true");
    ui.root.classList.add("fq--open");
    if (state.acknowledged) { focusInput(); } else { ui.ack.focus(); }
  }

  function closePanel() {
    if (isPage || !state.open) { return; }
    state.open = false;
    stopSpeaking();
    ui.panel.hidden = true;
    ui.launcher.setAttribute("aria-expanded", "false");
    ui.root.classList.remove("fq--open");
    ui.launcher.focus();
  }

  // ---- building the widget ---------------------------------------------------------------------------------------

  function buildPanel() {
    var panel = el(isPage ? "section" : "div", "fq-panel" + (isPage ? " fq-panel--page" : ""));
    panel.id = "fq-panel";
    if (!isPage) {
      panel.setAttribute("role", "dialog");
      panel.setAttribute("aria-modal", "false");
      panel.hidden = true;
    }
    panel.setAttribute("aria-labelledby", "fq-title");
    panel.setAttribute("aria-describedby", "fq-intro-text");

    var header = el("div", "fq-header");
    var titles = el("div", "fq-header__titles");
    var title = heading(0, "fq-title", config.title);
    title.id = "fq-title";
    titles.appendChild(title);
    titles.appendChild(el("p", "fq-subtitle", "An automated assistant, not a doctor"));
    header.appendChild(titles);
    if (!isPage) {
      var close = button("fq-close", "Close");
      close.setAttribute("aria-label", "Close the chat");
      close.addEventListener("click", closePanel);
      header.appendChild(close);
      ui.close = close;
    }
    var top = el("div", "fq-top");
    top.appendChild(header);

    // The helpline, one tap away whatever is on screen.
    var help = el("div", "fq-help");
    help.setAttribute("role", "group");
    help.setAttribute("aria-label", "Talk to a person");
    var call = helplineLink("fq-call");
    if (call) { help.appendChild(call); }
    var person = button("fq-person", "Talk to a person");
    person.addEventListener("click", function () { send(TALK_TO_PERSON, TALK_TO_PERSON, false); });
    help.appendChild(person);
    ui.person = person;
    top.appendChild(help);
    panel.appendChild(top);

    var scroller = el("div", "fq-scroll");
    ui.scroller = scroller;

    // The notice before the first message.
    var intro = el("section", "fq-intro");
    intro.setAttribute("aria-labelledby", "fq-intro-title");
    var introTitle = heading(1, "fq-intro__title", "Before you start");
    introTitle.id = "fq-intro-title";
    intro.appendChild(introTitle);
    var introText = el("div", "fq-intro__text");
    introText.id = "fq-intro-text";
    [
      "This is an automated assistant, not a person or a doctor. It answers common questions about CCSVI, " +
        "the “liberation procedure” and multiple sclerosis, and shows the sources behind each answer.",
      "It is not medical advice and cannot advise you about your own health or treatment. For that, talk to " +
        "your MS nurse, GP or neurologist.",
      "Please do not type your name, contact details or other personal details.",
      "In an emergency, call 999."
    ].forEach(function (t, i) { introText.appendChild(el("p", i === 3 ? "fq-intro__emergency" : "fq-text", t)); });
    intro.appendChild(introText);
    var ack = button("fq-ack", "I understand");
    ack.addEventListener("click", function () { acknowledge(true); });
    intro.appendChild(ack);
    ui.intro = intro;
    ui.ack = ack;
    scroller.appendChild(intro);

    var conversation = el("div", "fq-conversation");
    conversation.hidden = true;
    var reminder = el("p", "fq-reminder",
      "Not medical advice. Please don't share personal details. In an emergency, call 999.");
    reminder.hidden = true;
    ui.reminder = reminder;
    conversation.appendChild(reminder);

    var log = el("div", "fq-log");
    log.setAttribute("role", "region");
    log.setAttribute("aria-label", "Conversation");
    var welcome = message("Assistant", "fq-msg--bot fq-msg--welcome");
    welcome.body.appendChild(el("p", "fq-text", "Hello. Type your question in the box below and press Send, or choose one of these questions:"));
    var starters = el("div", "fq-options");
    starters.setAttribute("role", "group");
    starters.setAttribute("aria-label", "Example questions");
    STARTERS.forEach(function (q) {
      var b = button("fq-option", q);
      b.addEventListener("click", function () { send(q, q, false); });
      starters.appendChild(b);
    });
    welcome.box.appendChild(starters);
    log.appendChild(welcome.box);
    conversation.appendChild(log);
    ui.log = log;

    var thinking = el("div", "fq-thinking");
    thinking.setAttribute("role", "status");
    conversation.appendChild(thinking);
    ui.thinking = thinking;
    var notice = el("p", "fq-notice");
    notice.setAttribute("role", "status");
    conversation.appendChild(notice);
    ui.notice = notice;
    ui.conversation = conversation;
    scroller.appendChild(conversation);
    panel.appendChild(scroller);

    panel.appendChild(buildComposer());

    // New replies are announced here: politely, and safety replies assertively.
    var polite = el("div", "fq-vh");
    polite.setAttribute("aria-live", "polite");
    polite.setAttribute("aria-atomic", "true");
    var assertive = el("div", "fq-vh");
    assertive.setAttribute("aria-live", "assertive");
    assertive.setAttribute("aria-atomic", "true");
    panel.appendChild(polite);
    panel.appendChild(assertive);
    ui.livePolite = polite;
    ui.liveAssertive = assertive;
    ui.panel = panel;
    return panel;
  }

  function buildComposer() {
    var form = el("form", "fq-composer");
    form.setAttribute("novalidate", "");
    form.hidden = true;
    var label = el("label", "fq-composer__label", "Your question");
    label.setAttribute("for", "fq-message");
    form.appendChild(label);
    var hint = el("p", "fq-hint", "Press Enter to send, or Shift and Enter for a new line.");
    hint.id = "fq-message-hint";
    form.appendChild(hint);
    var input = el("textarea", "fq-input");
    input.id = "fq-message";
    input.name = "message";
    input.rows = 3;
    input.maxLength = MAX_CHARS;
    input.setAttribute("enterkeyhint", "send");
    input.setAttribute("autocomplete", "off");
    input.setAttribute("spellcheck", "true");
    input.setAttribute("aria-describedby", "fq-message-hint fq-message-count");
    form.appendChild(input);
    var row = el("div", "fq-composer__row");
    var counter = el("p", "fq-count");
    counter.id = "fq-message-count";
    row.appendChild(counter);
    var sendButton = el("button", "fq-send", "Send");
    sendButton.type = "submit";
    row.appendChild(sendButton);
    form.appendChild(row);
    var countAnnounce = el("p", "fq-vh");
    countAnnounce.setAttribute("aria-live", "polite");
    form.appendChild(countAnnounce);
    var error = el("p", "fq-error");
    error.setAttribute("role", "alert");
    form.appendChild(error);

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
      if (ui.error.textContent && !state.busy && Date.now() >= state.waitUntil) { showError(""); }
    });

    ui.composer = form;
    ui.input = input;
    ui.send = sendButton;
    ui.counter = counter;
    ui.countAnnounce = countAnnounce;
    ui.error = error;
    return form;
  }

  function mount() {
    if (!config.api || !document.body || typeof document.body.attachShadow !== "function") { return; }
    var host = document.createElement("ms-faq-chat");
    host.setAttribute("data-mode", config.mode);
    var shadow = host.attachShadow({ mode: "open" });

    var root = el("div", "fq fq--" + config.mode);
    root.setAttribute("lang", "en-GB");
    root.setAttribute("dir", "ltr");
    root.hidden = true; // shown once the styles have loaded, so nothing flashes unstyled
    ui.root = root;

    var link = document.createElement("link");
    link.rel = "stylesheet";
    link.href = config.api + "/static/widget.css";
    var shown = false;
    function show() {
      if (shown) { return; }
      shown = true;
      root.hidden = false;
      host.setAttribute("data-ready", "");
    }
    link.addEventListener("load", show);
    link.addEventListener("error", show); // unstyled is better than nothing: it still works
    setTimeout(show, 4000);
    shadow.appendChild(link);
    shadow.appendChild(root);

    if (!isPage) {
      var launcher = button("fq-launcher", null);
      launcher.appendChild(el("span", "fq-launcher__icon", "?")).setAttribute("aria-hidden", "true");
      launcher.appendChild(el("span", "fq-launcher__label", config.launcherLabel));
      launcher.setAttribute("aria-expanded", "false");
      launcher.setAttribute("aria-controls", "fq-panel");
      launcher.addEventListener("click", function () { if (state.open) { closePanel(); } else { openPanel(); } });
      root.appendChild(launcher);
      ui.launcher = launcher;
    }
    root.appendChild(buildPanel());

    root.addEventListener("keydown", function (e) {
      if (e.key === "Escape" && !isPage && state.open && !e.isComposing) {
        e.preventDefault();
        e.stopPropagation();
        closePanel();
      }
    });

    updateCounter();
    updateControls();

    var container = isPage && config.container ? document.getElementById(config.container) : null;
    if (container) {
      // The page's own "loading / call the helpline" text is for when the script does not run.
      var fallbacks = container.querySelectorAll("[data-fallback]");
      for (var i = 0; i < fallbacks.length; i++) { fallbacks[i].hidden = true; }
      container.appendChild(host);
    } else {
      document.body.appendChild(host);
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", mount);
  } else {
    mount();
  }
})();
