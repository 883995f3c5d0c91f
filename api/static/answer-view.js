/* The editors' preview of an answer, drawn exactly as the chat widget draws an answer reply.
 *
 * The widget (widget.js) is one classic script that partner sites embed, so it cannot import a
 * module; this file repeats its answer rendering (renderAnswer, renderCitation, renderOptions and
 * renderFeedback) element for element and class for class, and shows it in a shadow root styled by
 * the widget's own widget.css. tests/e2e/test_editor_page.py compares the preview with what the
 * widget shows for the same answer, so a change to one without the other fails a test.
 *
 * Everything is text: createElement and textContent only; only absolute http(s) URLs become links. */

const MONTHS = ["January", "February", "March", "April", "May", "June", "July",
  "August", "September", "October", "November", "December"];
const EVIDENCE = {
  "established": "Established",
  "uncertain": "Uncertain",
  "not-supported": "Not supported by evidence",
  "disproven": "Shown not to work",
  "background": "Background"
};
const HEADING_BASE = 2; // the widget's launcher panel: its title is an h2, an answer's question an h3
const URL_RE = /https?:\/\/[^\s<>"'`]+/g;

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) { node.className = className; }
  if (text !== undefined && text !== null) { node.textContent = String(text); }
  return node;
}

function heading(offset, className, text) {
  return el("h" + Math.min(6, HEADING_BASE + offset), className, text);
}

export function safeHttpUrl(value) {
  if (typeof value !== "string" || !value) { return null; }
  let url;
  try { url = new URL(value.trim()); } catch (e) { return null; }
  if (url.protocol !== "http:" && url.protocol !== "https:") { return null; }
  return url.href;
}

function externalLink(href, text) {
  const a = el("a", "fq-link", text);
  a.setAttribute("href", href);
  a.setAttribute("target", "_blank");
  a.setAttribute("rel", "noopener noreferrer");
  a.appendChild(el("span", "fq-vh", " (opens in a new tab)"));
  return a;
}

function appendRichText(parent, text) {
  text = String(text == null ? "" : text);
  let last = 0;
  let match;
  URL_RE.lastIndex = 0;
  while ((match = URL_RE.exec(text)) !== null) {
    const trimmed = match[0].replace(/[.,;:!?)\]]+$/, "");
    const end = match.index + trimmed.length;
    const href = safeHttpUrl(trimmed);
    if (!href) { continue; }
    if (match.index > last) { parent.appendChild(document.createTextNode(text.slice(last, match.index))); }
    parent.appendChild(externalLink(href, trimmed.replace(/^https?:\/\//, "")));
    last = end;
    URL_RE.lastIndex = end;
  }
  if (last < text.length) { parent.appendChild(document.createTextNode(text.slice(last))); }
}

function paragraphs(parent, text) {
  String(text == null ? "" : text).split(/\n\s*\n/).forEach(function (part) {
    if (!part.trim()) { return; }
    const p = el("p", "fq-text");
    appendRichText(p, part.trim());
    parent.appendChild(p);
  });
}

export function formatDate(value) {
  const s = String(value || "").trim();
  const m = /^(\d{4})(?:-(\d{2}))?(?:-(\d{2}))?/.exec(s);
  if (!m) { return s; }
  const month = m[2] ? parseInt(m[2], 10) : 0;
  const day = m[3] ? parseInt(m[3], 10) : 0;
  if (month < 1 || month > 12) { return m[1]; }
  const monthYear = MONTHS[month - 1] + " " + m[1];
  return day >= 1 && day <= 31 ? day + " " + monthYear : monthYear;
}

function timeEl(value) {
  const t = el("time", null, formatDate(value));
  const iso = /^\d{4}(-\d{2}(-\d{2})?)?$/.exec(String(value || "").trim());
  if (iso) { t.setAttribute("datetime", iso[0]); }
  return t;
}

function renderCitation(c) {
  const li = el("li", "fq-source");
  const href = safeHttpUrl(c.url);
  const title = el("p", "fq-source__title");
  if (href) { title.appendChild(externalLink(href, c.title || href)); } else { title.textContent = c.title || "Untitled source"; }
  li.appendChild(title);
  const meta = el("p", "fq-source__meta");
  if (c.publisher) { meta.appendChild(document.createTextNode(c.publisher + ". ")); }
  if (c.published) {
    meta.appendChild(document.createTextNode("Published "));
    meta.appendChild(timeEl(c.published));
    meta.appendChild(document.createTextNode("."));
  }
  li.appendChild(meta);
  if (c.historical) {
    const year = /^\d{4}/.exec(String(c.published || ""));
    li.appendChild(el("p", "fq-badge fq-badge--historical",
      "Historical source" + (year ? " (published " + year[0] + ")" : "")));
  }
  if (c.passage) {
    const details = el("details", "fq-passage");
    details.appendChild(el("summary", "fq-passage__summary", "What the source says"));
    const quote = el("blockquote", "fq-passage__quote");
    quote.appendChild(el("p", null, c.passage));
    details.appendChild(quote);
    li.appendChild(details);
  }
  return li;
}

function renderAnswer(body, reply) {
  const a = reply.answer;
  if (a.question) { body.appendChild(heading(1, "fq-answer__question", a.question)); }
  if (a.personal_note) { body.appendChild(el("p", "fq-personal-note", a.personal_note)); }
  const answerBox = el("div", "fq-answer__text");
  paragraphs(answerBox, a.text || reply.text);
  body.appendChild(answerBox);
  const caveats = (a.caveats || []).filter(function (c) { return c && String(c).trim(); });
  if (caveats.length) {
    const note = el("div", "fq-caveats");
    note.appendChild(heading(2, "fq-caveats__title", "Please note"));
    const ul = el("ul");
    caveats.forEach(function (c) {
      const li = el("li");
      appendRichText(li, c);
      ul.appendChild(li);
    });
    note.appendChild(ul);
    body.appendChild(note);
  }
  const level = EVIDENCE[a.evidence];
  if (level) {
    const ev = el("p", "fq-evidence");
    ev.appendChild(el("span", "fq-evidence__label", "Evidence: "));
    ev.appendChild(el("strong", "fq-evidence__level fq-evidence--" + String(a.evidence).replace(/[^a-z-]/g, ""), level));
    body.appendChild(ev);
  }
  const citations = a.citations || [];
  if (citations.length) {
    const sources = el("div", "fq-sources");
    sources.appendChild(heading(2, "fq-sources__title", citations.length > 1 ? "Sources" : "Source"));
    const ol = el("ol", "fq-sources__list");
    citations.forEach(function (c) { ol.appendChild(renderCitation(c || {})); });
    sources.appendChild(ol);
    body.appendChild(sources);
  }
  if (a.reviewed_on) {
    const reviewed = el("p", "fq-reviewed", "Reviewed on ");
    reviewed.appendChild(timeEl(a.reviewed_on));
    reviewed.appendChild(document.createTextNode("."));
    body.appendChild(reviewed);
  }
  if (a.review_overdue) {
    body.appendChild(el("p", "fq-review-note", "This answer is due for review, so some details may have changed."));
  }
}

/** The related questions and "Was this helpful?", as in the widget, but inert: a preview sends nothing. */
function renderButtons(box, reply) {
  const options = (reply.options || []).filter(function (o) { return o && typeof o.payload === "string" && o.payload.trim(); });
  if (options.length) {
    const group = el("div", "fq-options");
    group.setAttribute("role", "group");
    group.setAttribute("aria-label", "You could also ask");
    group.appendChild(el("p", "fq-options__label", "You could also ask:"));
    options.forEach(function (o) {
      const b = el("button", "fq-option", typeof o.title === "string" && o.title.trim() ? o.title : o.payload);
      b.type = "button";
      b.disabled = true;
      group.appendChild(b);
    });
    box.appendChild(group);
  }
  const fb = reply.feedback;
  const fbOptions = fb && Array.isArray(fb.options) ? fb.options.filter(function (o) { return o && o.payload; }) : [];
  if (fbOptions.length) {
    const group = el("div", "fq-feedback");
    group.setAttribute("role", "group");
    const question = String(fb.question || "Was this helpful?");
    group.setAttribute("aria-label", question);
    group.appendChild(el("p", "fq-feedback__label", question));
    fbOptions.forEach(function (o) {
      const b = el("button", "fq-option fq-option--feedback", String(o.title || ""));
      b.type = "button";
      b.disabled = true;
      group.appendChild(b);
    });
    box.appendChild(group);
  }
}

/** Draws `reply` (a chat reply of kind "answer") inside `host`, in a shadow root with the widget's styles. */
export function renderPreview(host, reply) {
  const shadow = host.shadowRoot || host.attachShadow({ mode: "open" });
  let root = shadow.querySelector(".fq");
  if (!root) {
    const link = document.createElement("link");
    link.rel = "stylesheet";
    link.href = "/static/widget.css";
    shadow.appendChild(link);
    root = el("div", "fq fq--preview");
    root.setAttribute("lang", "en-GB");
    root.setAttribute("dir", "ltr");
    shadow.appendChild(root);
  }
  while (root.firstChild) { root.removeChild(root.firstChild); }
  const log = el("div", "fq-log");
  const kind = reply && typeof reply.kind === "string" ? reply.kind.replace(/[^a-z]/g, "") : "answer";
  const box = el("div", "fq-msg fq-msg--bot fq-msg--" + kind);
  const head = el("div", "fq-msg__head");
  head.appendChild(el("p", "fq-msg__who", "Assistant"));
  box.appendChild(head);
  const body = el("div", "fq-msg__body");
  box.appendChild(body);
  if (kind === "answer" && reply.answer) {
    renderAnswer(body, reply);
  } else {
    paragraphs(body, reply && reply.text);
  }
  renderButtons(box, reply || {});
  log.appendChild(box);
  root.appendChild(log);
  return box;
}

export function clearPreview(host, text) {
  const shadow = host.shadowRoot || host.attachShadow({ mode: "open" });
  const root = shadow.querySelector(".fq");
  if (root) { while (root.firstChild) { root.removeChild(root.firstChild); } }
  if (root && text) { root.appendChild(el("p", "fq-text", text)); }
}
