/* Helpline staff page (/staff): search the answers while a caller waits, copy an answer with its
 * citation, flag a pair for editors.
 *
 * Everything the service sends is shown as text: elements are built with createElement and filled
 * with textContent, never parsed as HTML; only absolute http(s) URLs become links.
 * The session is an HttpOnly cookie; every POST carries the CSRF token from /api/auth/me. */
(function () {
  "use strict";

  var DEBOUNCE_MS = 200;
  var MIN_QUERY = 2;
  var RESULTS = 5;
  var STAFF_ROLES = ["staff", "editor", "admin"];
  var SHORTCUTS_KEY = "faqbot.staff.singleKeyShortcuts";
  var MONTHS = ["January", "February", "March", "April", "May", "June", "July",
                "August", "September", "October", "November", "December"];
  var EVIDENCE = {
    "established": "Established",
    "uncertain": "Uncertain",
    "not-supported": "Not supported by evidence",
    "disproven": "Shown not to work",
    "background": "Background"
  };
  var ROLE_NAMES = { staff: "helpline staff", editor: "editor", admin: "administrator" };
  var MATCHED = { question: "the question", alternate: "another wording of the question", answer: "the answer",
                  passage: "the passage", title: "the title" };

  var state = {
    user: null,
    csrf: "",
    seq: 0,            // number of the latest search sent; older answers are ignored
    timer: null,
    controller: null,
    shownKey: null,    // the search whose results are on the page
    pendingKey: null,  // the search on its way
    selectFirst: false,
    results: [],
    cards: [],
    selected: -1,
    tags: {},
    renderCount: 0
  };

  var box, form, tagInput, tagList, resultsList, statusBox, announceBox, singleKeys;

  function $(id) { return document.getElementById(id); }

  // ---- building elements (text only) -------------------------------------------------------

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) { node.className = className; }
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    return node;
  }

  function safeHttpUrl(value) {
    if (typeof value !== "string" || !value) { return null; }
    var url;
    try { url = new URL(value.trim()); } catch (e) { return null; }
    if (url.protocol !== "http:" && url.protocol !== "https:") { return null; }
    return url.href;
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

  function percent(score) {
    var n = Math.round(Number(score) * 100);
    if (!isFinite(n)) { return "–"; }
    return Math.max(0, Math.min(100, n)) + "%";
  }

  function plural(n, one, many) { return n + " " + (n === 1 ? one : many); }

  function announce(text) {
    announceBox.textContent = "";
    window.setTimeout(function () { announceBox.textContent = text; }, 30);
  }

  // ---- the service ------------------------------------------------------------------------------

  function api(method, path, body, signal) {
    var headers = { "Accept": "application/json" };
    var init = { method: method, credentials: "same-origin", cache: "no-store", headers: headers };
    if (method !== "GET") { headers["X-CSRF-Token"] = state.csrf; }
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    if (signal) { init.signal = signal; }
    return fetch(path, init);
  }

  /** The sign-in page, coming back here afterwards; when the session ended mid-search, with the words
   *  that were in the box, so the search is there again after signing in. */
  function signinUrl(expired) {
    var here = window.location.pathname + window.location.search;
    var words = box && box.value.trim();
    if (expired && words) { here = window.location.pathname + "?q=" + encodeURIComponent(words); }
    return "/signin?next=" + encodeURIComponent(here).replace(/%2F/g, "/") + (expired ? "&expired=1" : "");
  }

  function toSignin(expired) { window.location.replace(signinUrl(expired)); }

  function me() {
    return api("GET", "/api/auth/me").then(function (r) {
      if (r.status === 401) { return null; }
      if (!r.ok) { throw new Error("status " + r.status); }
      return r.json();
    });
  }

  /** A POST with the CSRF header; on a CSRF refusal the token is fetched again and the call retried once. */
  function post(path, body) {
    return api("POST", path, body).then(function (r) {
      if (r.status !== 403) { return r; }
      return r.clone().json().catch(function () { return {}; }).then(function (b) {
        if (!b || b.error !== "csrf_failed") { return r; }
        return me().then(function (who) {
          if (!who) { return r; }
          state.csrf = who.csrf_token || "";
          return api("POST", path, body);
        });
      });
    });
  }

  // ---- search -----------------------------------------------------------------------------------

  function kindValue() {
    var checked = form.querySelector("input[name=kind]:checked");
    return checked ? checked.value : "";
  }

  function currentSearch() {
    return { q: box.value.trim(), tag: tagInput.value.trim(), kind: kindValue() };
  }

  function keyOf(s) { return JSON.stringify([s.q, s.tag, s.kind]); }

  function isPending() {
    return state.timer !== null || (state.pendingKey !== null && state.pendingKey === keyOf(currentSearch()));
  }

  function schedule() {
    if (state.timer !== null) { window.clearTimeout(state.timer); }
    resultsList.setAttribute("aria-busy", "true");
    state.timer = window.setTimeout(function () { state.timer = null; runSearch(false); }, DEBOUNCE_MS);
  }

  function runSearch(force) {
    if (state.timer !== null) { window.clearTimeout(state.timer); state.timer = null; }
    var s = currentSearch();
    var key = keyOf(s);
    if (s.q.length < MIN_QUERY) {
      state.seq += 1;
      if (state.controller) { state.controller.abort(); state.controller = null; }
      state.pendingKey = null;
      state.selectFirst = false;
      render(null, s, key);
      statusBox.textContent = s.q ? "Type a little more to search." : "";
      return;
    }
    if (!force && (key === state.shownKey || key === state.pendingKey)) {
      if (key === state.shownKey) {
        resultsList.removeAttribute("aria-busy");
        if (state.selectFirst) {
          state.selectFirst = false;
          if (document.activeElement === box) { select(0); }
        }
      }
      return;
    }
    state.seq += 1;
    var mine = state.seq;
    if (state.controller) { state.controller.abort(); }
    var controller = typeof AbortController === "function" ? new AbortController() : null;
    state.controller = controller;
    state.pendingKey = key;
    resultsList.setAttribute("aria-busy", "true");
    var params = new URLSearchParams({ q: s.q, k: String(RESULTS) });
    if (s.tag) { params.set("tag", s.tag); }
    if (s.kind) { params.set("kind", s.kind); }
    api("GET", "/api/search?" + params.toString(), undefined, controller ? controller.signal : undefined)
      .then(function (r) {
        if (mine !== state.seq) { return null; } // a newer search was sent: this answer is stale
        if (r.status === 401) { toSignin(true); return null; }
        if (!r.ok) {
          return r.json().catch(function () { return {}; }).then(function (b) { throw searchError(r.status, b); });
        }
        return r.json();
      })
      .then(function (body) {
        if (!body || mine !== state.seq) { return; }
        state.pendingKey = null;
        state.controller = null;
        render(body.results || [], s, key);
      })
      .catch(function (err) {
        if (mine !== state.seq || (err && err.name === "AbortError")) { return; }
        state.pendingKey = null;
        state.controller = null;
        state.selectFirst = false;
        render(null, s, key); // older results would pass for answers to these words: they go
        statusBox.textContent = err && err.userMessage ? err.userMessage
          : "The search could not reach the service. Check your connection; it will try again when you type.";
        statusBox.className = "search-status search-status--error";
      });
  }

  function searchError(status, body) {
    var e = new Error("search failed");
    if (status === 403) {
      e.userMessage = "Your account cannot use the staff search. Ask an administrator for the staff role.";
    } else if (status === 422) {
      e.userMessage = "That search could not be run: " + (body && body.message ? body.message : "check the words and the tag") + ".";
    } else if (status === 429) {
      e.userMessage = "Too many searches at once. Wait a few seconds and try again.";
    } else {
      e.userMessage = "The search is not working just now (error " + status + "). Try again in a moment.";
    }
    return e;
  }

  // ---- results ----------------------------------------------------------------------------------

  function render(results, s, key) {
    state.renderCount += 1;
    state.results = results || [];
    state.cards = [];
    state.selected = -1;
    state.shownKey = results ? key : null;
    while (resultsList.firstChild) { resultsList.removeChild(resultsList.firstChild); }
    resultsList.removeAttribute("aria-busy");
    statusBox.className = "search-status";
    if (results) {
      resultsList.setAttribute("data-query", s.q);
    } else {
      resultsList.removeAttribute("data-query");
    }
    if (!results) { return; }
    results.forEach(function (r, i) {
      var li = el("li", "results__item");
      var card = buildCard(r, i);
      li.appendChild(card);
      resultsList.appendChild(li);
      state.cards.push(card);
      (r.tags || []).forEach(function (t) { rememberTag(t); });
    });
    var filters = [];
    if (s.tag) { filters.push("tag " + s.tag); }
    if (s.kind) { filters.push(s.kind === "qa" ? "answers only" : "article passages only"); }
    var where = filters.length ? " (" + filters.join(", ") + ")" : "";
    if (!results.length) {
      statusBox.textContent = "Nothing found for “" + s.q + "”" + where + ". Try other words" +
        (filters.length ? " or clear the filters." : ", or offer the helpline.");
    } else {
      statusBox.textContent = plural(results.length, "result", "results") + " for “" + s.q + "”" + where +
        ". Press the down arrow to go through them.";
    }
    if (state.cards.length) { state.cards[0].setAttribute("tabindex", "0"); }
    if (state.selectFirst) {
      state.selectFirst = false;
      if (state.cards.length && document.activeElement === box) { select(0); }
    }
  }

  function rememberTag(t) {
    if (typeof t !== "string" || !t || state.tags[t]) { return; }
    state.tags[t] = true;
    var names = Object.keys(state.tags).sort();
    while (tagList.firstChild) { tagList.removeChild(tagList.firstChild); }
    names.forEach(function (n) {
      var o = document.createElement("option");
      o.value = n;
      tagList.appendChild(o);
    });
  }

  function badge(text, modifier) {
    return el("span", "badge" + (modifier ? " badge--" + modifier : ""), text);
  }

  function sourceLine(c) {
    var parts = [c.title, c.publisher, formatDate(c.published)].filter(function (p) { return p; });
    return parts.join(", ");
  }

  function buildCard(r, i) {
    var n = state.renderCount + "-" + i;
    var isPair = r.kind === "qa";
    var card = el("article", "result" + (r.review_overdue ? " result--overdue" : ""));
    card.setAttribute("tabindex", "-1");
    card.setAttribute("data-id", String(r.id));
    card.setAttribute("data-index", String(i));
    card.setAttribute("aria-labelledby", "title-" + n);
    card.setAttribute("aria-describedby", "badges-" + n);

    var head = el("div", "result__head");
    var title = el("h3", "result__title", r.title);
    title.id = "title-" + n;
    head.appendChild(title);
    var badges = el("p", "result__badges");
    badges.id = "badges-" + n;
    badges.appendChild(badge("Match " + percent(r.score), "score"));
    if (isPair && r.evidence) {
      badges.appendChild(badge("Evidence: " + (EVIDENCE[r.evidence] || r.evidence), "evidence badge--" + r.evidence));
    }
    if (!isPair) { badges.appendChild(badge("Article passage", "kind")); }
    if (r.review_overdue) { badges.appendChild(badge("Review overdue", "overdue")); }
    if (isPair && r.status && r.status !== "published") { badges.appendChild(badge("Not published: " + r.status, "draft")); }
    head.appendChild(badges);
    card.appendChild(head);

    var answer = el("div", "result__answer");
    String(r.text == null ? "" : r.text).split(/\n\s*\n/).forEach(function (part) {
      if (part.trim()) { answer.appendChild(el("p", "result__text", part.trim())); }
    });
    card.appendChild(answer);

    var caveats = r.caveats || [];
    if (caveats.length) {
      var cv = el("div", "caveats");
      cv.appendChild(el("p", "caveats__title", "Please note:"));
      var ul = el("ul", "caveats__list");
      caveats.forEach(function (c) { ul.appendChild(el("li", null, c)); });
      cv.appendChild(ul);
      card.appendChild(cv);
    }

    var cites = r.citations || [];
    if (cites.length) {
      var src = el("div", "sources");
      src.appendChild(el("p", "sources__title", cites.length > 1 ? "Sources:" : "Source:"));
      var sl = el("ul", "sources__list");
      cites.forEach(function (c) {
        var li = el("li", "source");
        li.appendChild(el("span", "source__title", c.title));
        li.appendChild(document.createTextNode(", " + c.publisher + ", "));
        li.appendChild(timeEl(c.published));
        if (c.historical) {
          li.appendChild(document.createTextNode(" "));
          li.appendChild(badge("Historical", "historical"));
        }
        sl.appendChild(li);
      });
      src.appendChild(sl);
      card.appendChild(src);
    }

    if (isPair) {
      var meta = el("p", "result__meta");
      var review;
      if (r.review_overdue) {
        review = el("strong", "overdue-text", "Review overdue" + (r.review_due ? " (was due " + formatDate(r.review_due) + ")" : ""));
      } else {
        review = el("span", null, r.review_due ? "Review due " + formatDate(r.review_due) : "No review date");
      }
      meta.appendChild(review);
      var fb = r.feedback;
      if (fb) {
        meta.appendChild(document.createTextNode(" · Visitors: " + (fb.helpful || 0) + " helpful, " +
          (fb.not_helpful || 0) + " not helpful"));
      }
      card.appendChild(meta);
    }

    var actions = el("div", "result__actions");
    var copyBtn = el("button", "button button--primary copy-button", "Copy answer with citation");
    copyBtn.type = "button";
    copyBtn.addEventListener("click", function () { copyResult(i); });
    actions.appendChild(copyBtn);
    var flagBtn = null;
    var flagForm = null;
    if (isPair) {
      flagBtn = el("button", "button flag-button", "Flag for editors");
      flagBtn.type = "button";
      flagBtn.setAttribute("aria-expanded", "false");
      flagBtn.setAttribute("aria-controls", "flag-" + n);
      actions.appendChild(flagBtn);
    }
    var copied = el("span", "copied");
    copied.setAttribute("aria-hidden", "true");
    actions.appendChild(copied);
    card.appendChild(actions);

    if (isPair) {
      flagForm = buildFlagForm(r, n, flagBtn, card);
      card.appendChild(flagForm);
      flagBtn.addEventListener("click", function () {
        if (flagForm.hidden) { openFlag(card); } else { closeFlag(card, true); }
      });
      var done = el("p", "flag-done");
      card.appendChild(done);
    }

    card.appendChild(buildDetails(r, n));
    card.addEventListener("focusin", function () { markSelected(i); });
    return card;
  }

  function buildDetails(r, n) {
    var details = el("details", "result__details");
    details.id = "details-" + n;
    details.appendChild(el("summary", "result__summary", "Details"));
    var body = el("div", "details__body");
    var dl = el("dl", "details__list");
    function row(label, value) {
      if (value === null || value === undefined || value === "") { return; }
      var wrap = el("div", "details__row");
      wrap.appendChild(el("dt", null, label));
      var dd = el("dd");
      if (typeof value === "string") { dd.textContent = value; } else { dd.appendChild(value); }
      wrap.appendChild(dd);
      dl.appendChild(wrap);
    }
    row("Kind", r.kind === "qa" ? "Curated answer (Q&A pair)" : "Passage from a source article");
    row("Identifier", String(r.id));
    if (r.kind === "qa") { row("Evidence", EVIDENCE[r.evidence] || String(r.evidence || "")); }
    row("Status", r.status ? String(r.status) : "");
    if (r.review_due) {
      row("Review", (r.review_overdue ? "Overdue: was due " : "Due ") + formatDate(r.review_due));
    }
    if (r.feedback) {
      row("Visitors' feedback", (r.feedback.helpful || 0) + " found it helpful, " + (r.feedback.not_helpful || 0) + " did not");
    }
    row("Tags", (r.tags || []).join(", "));
    var how = "Match " + percent(r.score);
    if (r.matched_field) { how += ", best on " + (MATCHED[r.matched_field] || r.matched_field); }
    if (typeof r.dense === "number" && typeof r.lexical === "number") {
      how += " (meaning " + r.dense.toFixed(2) + ", words " + r.lexical.toFixed(2) + ")";
    }
    row("How it matched", how);
    body.appendChild(dl);

    var cites = r.citations || [];
    if (cites.length) {
      body.appendChild(el("p", "details__heading", "Sources in full"));
      var ol = el("ol", "details__sources");
      cites.forEach(function (c) {
        var li = el("li", "details__source");
        li.appendChild(el("p", "source__title", c.title));
        var meta = el("p", "source__meta", c.publisher + ", published ");
        meta.appendChild(timeEl(c.published));
        if (c.historical) { meta.appendChild(document.createTextNode(" (historical: older than current guidance)")); }
        li.appendChild(meta);
        var href = safeHttpUrl(c.url);
        if (href) {
          var p = el("p", "source__link");
          var a = el("a", "ext-link", href);
          a.setAttribute("href", href);
          a.setAttribute("target", "_blank");
          a.setAttribute("rel", "noopener noreferrer");
          a.appendChild(el("span", "visually-hidden", " (opens in a new tab)"));
          p.appendChild(a);
          li.appendChild(p);
        }
        if (c.passage) {
          var q = el("blockquote", "source__passage");
          q.appendChild(el("p", null, c.passage));
          li.appendChild(q);
        }
        ol.appendChild(li);
      });
      body.appendChild(ol);
    }
    details.appendChild(body);
    return details;
  }

  // ---- selection and keyboard -------------------------------------------------------------------

  function markSelected(i) {
    if (state.selected === i) { return; }
    state.cards.forEach(function (c, j) {
      if (j === i) {
        c.setAttribute("aria-current", "true");
        c.setAttribute("tabindex", "0");
      } else {
        c.removeAttribute("aria-current");
        c.setAttribute("tabindex", "-1");
      }
    });
    state.selected = i;
  }

  function select(i) {
    if (!state.cards.length) { return; }
    i = Math.max(0, Math.min(state.cards.length - 1, i));
    markSelected(i);
    state.cards[i].focus();
    if (state.cards[i].scrollIntoView) { state.cards[i].scrollIntoView({ block: "nearest" }); }
  }

  function focusBox() {
    box.focus();
    box.select();
  }

  function isTextField(node) {
    if (!node || !node.tagName) { return false; }
    var tag = node.tagName;
    if (tag === "TEXTAREA" || tag === "SELECT" || node.isContentEditable) { return true; }
    if (tag !== "INPUT") { return false; }
    var type = (node.getAttribute("type") || "text").toLowerCase();
    return ["checkbox", "radio", "button", "submit", "reset"].indexOf(type) < 0;
  }

  function cardOf(node) {
    return node && node.closest ? node.closest(".result") : null;
  }

  function shortcutsOn() { return singleKeys.checked; }

  function onKeyDown(e) {
    if (e.defaultPrevented || e.altKey || e.ctrlKey || e.metaKey || e.isComposing) { return; }
    var t = e.target;
    var inField = isTextField(t);
    var card = cardOf(t);
    var index = card ? state.cards.indexOf(card) : -1;

    if (e.key === "Escape") {
      if (card && t.closest(".flag-form") && !card.querySelector(".flag-form").hidden) {
        e.preventDefault();
        closeFlag(card, true);
        return;
      }
      if (t !== box) {
        e.preventDefault();
        focusBox();
      }
      return;
    }
    if (e.key === "/" && shortcutsOn() && (!inField || (t === box && box.value === ""))) {
      // Also in the empty search box (where the page starts): the box is where "/" leads anyway.
      e.preventDefault();
      focusBox();
      return;
    }
    if (e.key === "ArrowDown" || e.key === "ArrowUp") {
      if (t === box) {
        if (e.key !== "ArrowDown") { return; }
        e.preventDefault();
        if (isPending() || keyOf(currentSearch()) !== state.shownKey) {
          // The results on screen are for older words: fetch the current ones and select the first.
          state.selectFirst = true;
          runSearch(false);
        } else {
          select(0);
        }
        return;
      }
      if (index >= 0 && !inField) {
        e.preventDefault();
        if (e.key === "ArrowUp" && index === 0) { focusBox(); return; }
        select(index + (e.key === "ArrowDown" ? 1 : -1));
      }
      return;
    }
    if (index < 0 || inField) { return; }
    if (e.key === "Enter" && t === card) {
      e.preventDefault();
      toggleDetails(index);
      return;
    }
    if ((e.key === "c" || e.key === "C") && shortcutsOn() && !e.repeat) {
      e.preventDefault();
      copyResult(index);
    }
  }

  function toggleDetails(i) {
    var d = state.cards[i].querySelector(".result__details");
    d.open = !d.open;
    announce((d.open ? "Details shown for: " : "Details hidden for: ") + state.results[i].title);
    if (d.open && d.scrollIntoView) { d.scrollIntoView({ block: "nearest" }); }
  }

  // ---- copy -------------------------------------------------------------------------------------

  /** Plain text to read out or paste into an email: question, answer, caveats, dated sources. */
  function citationText(r) {
    var lines = [String(r.title), "", String(r.text)];
    var caveats = r.caveats || [];
    if (caveats.length) {
      lines.push("", "Please note:");
      caveats.forEach(function (c) { lines.push("- " + c); });
    }
    var cites = r.citations || [];
    if (cites.length) {
      lines.push("");
      cites.forEach(function (c) { lines.push("Source: " + sourceLine(c) + (c.historical ? " (historical)" : "")); });
    }
    return lines.join("\n");
  }

  function legacyCopy(text) {
    var active = document.activeElement;
    var area = el("textarea", "offscreen");
    area.value = text;
    area.setAttribute("readonly", "");
    area.setAttribute("aria-hidden", "true");
    area.setAttribute("tabindex", "-1");
    document.body.appendChild(area);
    area.select();
    var ok = false;
    try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
    document.body.removeChild(area);
    if (active && active.focus) { active.focus(); }
    return ok;
  }

  function copyResult(i) {
    var r = state.results[i];
    var card = state.cards[i];
    if (!r || !card) { return; }
    markSelected(i);
    var text = citationText(r);
    var done = function () {
      var mark = card.querySelector(".copied");
      mark.textContent = "Copied";
      window.setTimeout(function () { if (mark.textContent === "Copied") { mark.textContent = ""; } }, 4000);
      announce("Copied the answer to “" + r.title + "” with its sources.");
    };
    var failed = function () {
      if (legacyCopy(text)) { done(); return; }
      announce("Copying did not work. Select the answer and press Control and C.");
      card.querySelector(".copied").textContent = "Copying did not work";
    };
    if (navigator.clipboard && navigator.clipboard.writeText) {
      navigator.clipboard.writeText(text).then(done, failed);
    } else {
      failed();
    }
  }

  // ---- flag for editors ------------------------------------------------------------------------

  function buildFlagForm(r, n, flagBtn, card) {
    var f = el("form", "flag-form");
    f.id = "flag-" + n;
    f.hidden = true;
    f.noValidate = true;
    f.setAttribute("aria-label", "Flag “" + r.title + "” for editors");
    var label = el("label", "field__label", "Note for the editors");
    label.setAttribute("for", "note-" + n);
    f.appendChild(label);
    var hint = el("p", "hint hint--small", "What needs checking? For example: out of date, unclear, or a caller's question it does not answer. Do not include callers' personal details.");
    hint.id = "note-hint-" + n;
    f.appendChild(hint);
    var note = el("textarea", "field__input flag-form__note");
    note.id = "note-" + n;
    note.rows = 3;
    note.maxLength = 1000;
    note.setAttribute("aria-describedby", "note-hint-" + n + " note-error-" + n);
    f.appendChild(note);
    var err = el("p", "error-box");
    err.id = "note-error-" + n;
    err.setAttribute("role", "alert");
    f.appendChild(err);
    var row = el("div", "flag-form__actions");
    var send = el("button", "button button--primary", "Send to editors");
    send.type = "submit";
    var cancel = el("button", "button", "Cancel");
    cancel.type = "button";
    cancel.addEventListener("click", function () { closeFlag(card, true); });
    row.appendChild(send);
    row.appendChild(cancel);
    f.appendChild(row);
    var sending = false;
    f.addEventListener("submit", function (e) {
      e.preventDefault();
      if (sending) { return; }
      var text = note.value.trim();
      if (!text) {
        note.setAttribute("aria-invalid", "true");
        err.textContent = "Write a short note so the editors know what to check.";
        note.focus();
        return;
      }
      note.removeAttribute("aria-invalid");
      err.textContent = "";
      sending = true;
      send.setAttribute("aria-disabled", "true");
      send.textContent = "Sending…";
      post("/api/flags", { pair_id: r.id, note: text }).then(function (resp) {
        sending = false;
        send.removeAttribute("aria-disabled");
        send.textContent = "Send to editors";
        if (resp.status === 401) { toSignin(true); return; }
        if (resp.status !== 201 && resp.status !== 200) {
          return resp.json().catch(function () { return {}; }).then(function (b) {
            err.textContent = resp.status === 403 && b.error === "csrf_failed"
              ? "The page's security check failed. Reload the page and send the note again."
              : "The flag was not sent (error " + resp.status + (b && b.message ? ": " + b.message : "") + "). Try again.";
            note.focus();
          });
        }
        return resp.json().catch(function () { return {}; }).then(function () {
          note.value = "";
          closeFlag(card, true);
          var time = new Date();
          var hh = ("0" + time.getHours()).slice(-2);
          var mm = ("0" + time.getMinutes()).slice(-2);
          card.querySelector(".flag-done").textContent = "Flagged for editors at " + hh + ":" + mm + ". Thank you.";
          announce("Flagged for editors: " + r.title + ".");
        });
      }).catch(function () {
        sending = false;
        send.removeAttribute("aria-disabled");
        send.textContent = "Send to editors";
        err.textContent = "The flag could not be sent: the service could not be reached. Try again.";
      });
    });
    return f;
  }

  function openFlag(card) {
    var f = card.querySelector(".flag-form");
    var btn = card.querySelector(".flag-button");
    f.hidden = false;
    btn.setAttribute("aria-expanded", "true");
    card.querySelector(".flag-done").textContent = "";
    f.querySelector("textarea").focus();
  }

  function closeFlag(card, focusButton) {
    var f = card.querySelector(".flag-form");
    var btn = card.querySelector(".flag-button");
    f.hidden = true;
    btn.setAttribute("aria-expanded", "false");
    if (focusButton) { btn.focus(); }
  }

  // ---- session ----------------------------------------------------------------------------------

  function signOut() {
    var btn = $("signout");
    btn.setAttribute("aria-disabled", "true");
    post("/api/auth/logout").then(function (r) {
      if (r.ok || r.status === 401) {
        window.location.replace("/signin?signed_out=1");
        return;
      }
      btn.removeAttribute("aria-disabled");
      announce("Signing out did not work (error " + r.status + "). Try again.");
    }).catch(function () {
      btn.removeAttribute("aria-disabled");
      announce("Signing out did not work: the service could not be reached.");
    });
  }

  function start(who) {
    state.user = who;
    state.csrf = who.csrf_token || "";
    var role = String(who.role || "");
    $("whoami").textContent = "Signed in as " + who.username + " (" + (ROLE_NAMES[role] || role) + ")";
    var out = $("signout");
    out.hidden = false;
    out.addEventListener("click", signOut);
    if (role === "editor" || role === "admin") {
      // Editors and administrators also keep the answers right: their page is one step away.
      var link = el("a", "topbar__link", "Editors' page");
      link.id = "editor-link";
      link.setAttribute("href", "/editor");
      out.parentNode.insertBefore(link, $("whoami"));
    }
    if (STAFF_ROLES.indexOf(role) < 0) {
      $("gate").textContent = "This page is for helpline staff. Your account cannot use it.";
      return;
    }
    $("gate").textContent = "";
    $("gate").hidden = true;
    $("app").hidden = false;

    box.addEventListener("input", schedule);
    tagInput.addEventListener("input", schedule);
    tagInput.addEventListener("change", function () { runSearch(false); });
    Array.prototype.forEach.call(form.querySelectorAll("input[name=kind]"), function (radio) {
      radio.addEventListener("change", function () { runSearch(false); });
    });
    form.addEventListener("submit", function (e) {
      e.preventDefault();
      runSearch(false);
    });
    document.addEventListener("keydown", onKeyDown);
    try {
      singleKeys.checked = window.localStorage.getItem(SHORTCUTS_KEY) !== "off";
    } catch (e) { /* storage unavailable: shortcuts stay on */ }
    if (!singleKeys.checked) { box.removeAttribute("aria-keyshortcuts"); }
    singleKeys.addEventListener("change", function () {
      try { window.localStorage.setItem(SHORTCUTS_KEY, singleKeys.checked ? "on" : "off"); } catch (e) { /* ignore */ }
      if (singleKeys.checked) { box.setAttribute("aria-keyshortcuts", "/"); } else { box.removeAttribute("aria-keyshortcuts"); }
    });
    var initial = new URLSearchParams(window.location.search).get("q");
    if (initial) { box.value = initial.slice(0, 1000); runSearch(false); }
    box.focus();
  }

  function init() {
    box = $("q");
    form = $("search-form");
    tagInput = $("tag");
    tagList = $("tag-list");
    resultsList = $("results");
    statusBox = $("search-status");
    announceBox = $("announce");
    singleKeys = $("single-keys");
    me().then(function (who) {
      if (!who) { toSignin(false); return; }
      start(who);
    }).catch(function () {
      $("gate").textContent = "The service could not be reached. Check your connection and reload the page.";
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
