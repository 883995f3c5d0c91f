/* The editors' page (/editor): keep the knowledge base right, losing nothing and publishing nothing
 * by accident.
 *
 * - Everything from the service (questions, answers, notes, names) is shown as text: createElement and
 *   textContent only, never parsed as HTML (the page's CSP requires Trusted Types, so an HTML sink
 *   would throw anyway). Only absolute http(s) URLs become links.
 * - The session is the staff sign-in's HttpOnly cookie; every change carries the CSRF token from
 *   /api/auth/me in X-CSRF-Token.
 * - The form being edited is kept in localStorage from the first key pressed until the service has
 *   saved it; leaving the page with unsaved changes asks first. "Save draft" never publishes; publishing,
 *   unpublishing, deleting and restoring each ask for confirmation (the safe choice has the focus).
 * - An edit conflict (412) shows both versions and never drops the typed text; a change that would
 *   break golden questions (409) lists them, and only an administrator may override with a reason.
 *
 * Views (the address's hash): #pairs, #new, #edit/<id>, #queue, #golden, #import, #retrain, #quality (quality.js). */

import { renderPreview, formatDate, safeHttpUrl } from "/static/answer-view.js";
import { showQuality, wireQuality } from "/static/quality.js";

const CHECK_DEBOUNCE_MS = 450;
const SEARCH_DEBOUNCE_MS = 250;
const RETRAIN_POLL_MS = 1500;
const UNSAVED_PREFIX = "faqbot.editor.unsaved.";
const STASH_PREFIX = "faqbot.editor.stash.";
// This tab's mark on the work it keeps: a save in another tab of the same answer leaves it alone.
const TAB_ID = Math.random().toString(36).slice(2) + Date.now().toString(36);
const EDITOR_ROLES = ["editor", "admin"];
const ROLE_NAMES = { staff: "helpline staff", editor: "editor", admin: "administrator" };
const EVIDENCE = {
  "established": "Established",
  "uncertain": "Uncertain",
  "not-supported": "Not supported by evidence",
  "disproven": "Shown not to work",
  "background": "Background"
};
const FIELD_NAMES = {
  id: "Identifier", question: "Question", alternates: "Other ways people ask it", answer: "Answer",
  evidence: "Evidence", audience: "Who is answered from it", caveats: "Caveats", sources: "Sources", tags: "Tags", status: "Status",
  reviewed_on: "Reviewed on", review_due: "Review due", deleted: "Deleted"
};
const FIELDS = ["question", "alternates", "answer", "evidence", "audience", "caveats", "sources", "tags", "reviewed_on", "review_due"];
const AUDIENCE = { visitors: "Visitors in the chat, and staff search", staff: "Staff search only" };
const LIST_FIELDS = ["alternates", "caveats", "tags"];
const SOURCE_FIELDS = [
  ["title", "Title", "text", true],
  ["publisher", "Publisher", "text", true],
  ["published", "Published (YYYY, YYYY-MM or YYYY-MM-DD)", "text", false],
  ["url", "Web address", "url", false],
  ["passage", "What the source says (a short quote)", "textarea", false]
];
const ACTIONS = {
  create: "created", update: "changed", publish: "published", unpublish: "unpublished", delete: "deleted",
  restore: "restored", revert: "went back to an earlier version", import: "imported", seed: "loaded from the shipped files"
};

const state = {
  user: null,
  csrf: "",
  view: "",
  filters: { q: "", status: "", tag: "", due: false, flagged: false, changed_since: "" },
  listSeq: 0,
  listTimer: null,
  overview: [],
  edit: null,          // {id, base, etag, status, checkSeq, previewSeq}
  checkTimer: null,
  saving: false,
  golden: [],
  goldenEditing: null,
  retrainTimer: null
};

const $ = (id) => document.getElementById(id);

// ---- small helpers ------------------------------------------------------------------------------

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) { node.className = className; }
  if (text !== undefined && text !== null) { node.textContent = String(text); }
  return node;
}

function button(text, className, onClick) {
  const b = el("button", "button" + (className ? " " + className : ""), text);
  b.type = "button";
  if (onClick) { b.addEventListener("click", onClick); }
  return b;
}

function clear(node) { while (node.firstChild) { node.removeChild(node.firstChild); } }

function plural(n, one, many) { return n + " " + (n === 1 ? one : many); }

function when(iso) {
  if (!iso) { return ""; }
  const d = new Date(iso);
  if (isNaN(d.getTime())) { return String(iso); }
  const day = formatDate(d.getFullYear() + "-" + String(d.getMonth() + 1).padStart(2, "0") + "-" +
    String(d.getDate()).padStart(2, "0"));
  return day + " at " + String(d.getHours()).padStart(2, "0") + ":" + String(d.getMinutes()).padStart(2, "0");
}

function announce(text) {
  const box = $("announce");
  box.textContent = "";
  window.setTimeout(() => { box.textContent = text; }, 40);
}

/** A message above every view; it stays for the next view shown (a save that moves to another view). */
function notice(text) {
  $("page-notice").textContent = text || "";
  state.noticeKeep = !!text;
}

function pageError(text) {
  const box = $("page-error");
  box.textContent = "";
  if (text) { window.setTimeout(() => { box.textContent = text; }, 40); }
}

function storage() {
  try { return window.localStorage; } catch (e) { return null; }
}

function readJSON(key) {
  const s = storage();
  if (!s) { return null; }
  try { return JSON.parse(s.getItem(key) || "null"); } catch (e) { return null; }
}

function writeJSON(key, value) {
  const s = storage();
  if (!s) { return false; }
  try { s.setItem(key, JSON.stringify(value)); return true; } catch (e) { return false; }
}

function removeKey(key) {
  const s = storage();
  if (s) { try { s.removeItem(key); } catch (e) { /* ignore */ } }
}

function editHash(id) { return "#edit/" + encodeURIComponent(id); }

function pairLink(id, text) {
  const a = el("a", null, text || id);
  a.setAttribute("href", editHash(id));
  return a;
}

// ---- the service ------------------------------------------------------------------------------

function toSignin() {
  const here = "/editor" + window.location.hash;
  window.location.replace("/signin?next=" + encodeURIComponent(here) + "&expired=1");
}

async function me() {
  const r = await fetch("/api/auth/me", { credentials: "same-origin", cache: "no-store", headers: { Accept: "application/json" } });
  if (r.status === 401) { return null; }
  if (!r.ok) { throw new Error("status " + r.status); }
  return r.json();
}

function rawCall(method, path, opts) {
  const headers = Object.assign({ Accept: "application/json" }, opts.headers || {});
  const init = { method: method, credentials: "same-origin", cache: "no-store", headers: headers };
  if (method !== "GET") { headers["X-CSRF-Token"] = state.csrf; }
  if (opts.text !== undefined) {
    headers["Content-Type"] = opts.contentType || "text/plain";
    init.body = opts.text;
  } else if (opts.body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(opts.body);
  }
  return fetch(path, init);
}

/** One call to the service. A CSRF refusal fetches the token again and retries once; a session that
 *  ended sends the editor to sign in (the form is in localStorage, so nothing is lost). */
async function call(method, path, opts) {
  opts = opts || {};
  let r = await rawCall(method, path, opts);
  if (r.status === 403 && method !== "GET") {
    const b = await r.clone().json().catch(() => ({}));
    if (b && b.error === "csrf_failed") {
      const who = await me();
      if (who) { state.csrf = who.csrf_token || ""; r = await rawCall(method, path, opts); }
    }
  }
  if (r.status === 401) { toSignin(); throw Object.assign(new Error("signed out"), { quiet: true }); }
  return r;
}

async function getJSON(path) {
  const r = await call("GET", path);
  if (!r.ok) { throw await failure(r); }
  return r.json();
}

async function failure(r) {
  const b = await r.json().catch(() => ({}));
  const e = new Error(b && b.message ? b.message : "error " + r.status);
  e.status = r.status;
  e.body = b || {};
  e.userMessage = (b && b.message ? b.message : "The service answered with error " + r.status + ".");
  return e;
}

function report(err, where) {
  if (err && err.quiet) { return; }
  const text = err && err.userMessage ? err.userMessage : "The service could not be reached. Check your connection and try again.";
  if (where) { where.textContent = ""; window.setTimeout(() => { where.textContent = text; }, 40); } else { pageError(text); }
}

/** Latin-1 only can go in a header; the reason is one line. */
function headerSafe(text) {
  return String(text).replace(/\s+/g, " ").trim();
}

/** Runs a change; when it would break golden questions, asks (an admin may override with a reason)
 *  and runs it again with X-Golden-Override. Returns the response, or null when the editor stopped. */
async function changing(run) {
  let r = await run({});
  if (r.status !== 409) { return r; }
  const b = await r.clone().json().catch(() => ({}));
  if (!b || b.error !== "golden_broken") { return r; }
  const reason = await goldenDialog(b);
  if (!reason) { return null; }
  return run({ "X-Golden-Override": reason });
}

// ---- dialogs ---------------------------------------------------------------------------------------

function openDialog(dialog, focusOn) {
  const back = document.activeElement;
  dialog.showModal();
  if (focusOn) { focusOn.focus(); }
  return () => {
    if (dialog.open) { dialog.close(); }
    if (back && back.focus && document.contains(back)) { back.focus(); }
  };
}

/** A yes/no question. The focus starts on Cancel, so a held Enter key never confirms by accident. */
function confirmDialog(title, text, yesText, danger) {
  const dialog = $("confirm-dialog");
  $("confirm-title").textContent = title;
  $("confirm-text").textContent = text;
  const yes = $("confirm-yes");
  const no = $("confirm-no");
  yes.textContent = yesText;
  yes.className = "button " + (danger ? "button--danger" : "button--primary");
  return new Promise((resolve) => {
    const done = openDialog(dialog, no);
    function finish(answer) {
      yes.removeEventListener("click", onYes);
      no.removeEventListener("click", onNo);
      dialog.removeEventListener("cancel", onNo);
      done();
      resolve(answer);
    }
    function onYes() { finish(true); }
    function onNo(e) { if (e) { e.preventDefault(); } finish(false); }
    yes.addEventListener("click", onYes);
    no.addEventListener("click", onNo);
    dialog.addEventListener("cancel", onNo);
  });
}

function goldenDialog(body) {
  const dialog = $("golden-dialog");
  const admin = state.user.role === "admin";
  const broken = Array.isArray(body.broken) ? body.broken : [];
  $("golden-dialog-text").textContent = (broken.length ? plural(broken.length, "golden question", "golden questions") +
    " that reach their answer now would not after this change:" : (body.message || "This change would break golden questions."));
  const list = $("golden-broken");
  clear(list);
  broken.forEach((g) => {
    const li = el("li", "broken");
    li.appendChild(el("p", "broken__q", "“" + g.question + "”"));
    const must = el("p", "broken__meta", "Must reach: ");
    must.appendChild(pairLink(g.pair_id, g.pair_id));
    li.appendChild(must);
    li.appendChild(el("p", "broken__meta", "Would reach instead: " +
      (g.top_question ? "“" + g.top_question + "” (" + (g.top || "") + ")" : (g.top || "no answer (the chat would not answer)"))));
    list.appendChild(li);
  });
  const overrideBox = $("golden-override");
  const reason = $("override-reason");
  const yes = $("override-yes");
  const note = $("golden-editor-note");
  const close = $("golden-dialog-close");
  const err = $("override-error");
  overrideBox.hidden = !admin;
  yes.hidden = !admin;
  note.hidden = admin;
  reason.value = "";
  reason.removeAttribute("aria-invalid");
  err.textContent = "";
  note.textContent = "Only an administrator can publish a change that breaks a golden question. Change the wording " +
    "so the questions still reach their answers, or change the golden question if it is wrong, or ask an administrator.";
  return new Promise((resolve) => {
    const done = openDialog(dialog, close);
    function finish(answer) {
      yes.removeEventListener("click", onYes);
      close.removeEventListener("click", onNo);
      dialog.removeEventListener("cancel", onNo);
      done();
      resolve(answer);
    }
    function onYes() {
      const text = headerSafe(reason.value);
      if (!text) {
        reason.setAttribute("aria-invalid", "true");
        err.textContent = "Write why this change should be published although it breaks these questions.";
        reason.focus();
        return;
      }
      if (/[^\u0020-\u00ff]/.test(text)) {
        reason.setAttribute("aria-invalid", "true");
        err.textContent = "Use letters, digits and ordinary punctuation only in the reason (no emoji or special quotes).";
        reason.focus();
        return;
      }
      finish(text);
    }
    function onNo(e) { if (e) { e.preventDefault(); } finish(null); }
    yes.addEventListener("click", onYes);
    close.addEventListener("click", onNo);
    dialog.addEventListener("cancel", onNo);
  });
}

// ---- views ---------------------------------------------------------------------------------------

const VIEWS = ["pairs", "edit", "queue", "golden", "import", "retrain", "quality"];

function route() {
  const hash = decodeURIComponent(window.location.hash.replace(/^#/, ""));
  let view = "pairs";
  let id = null;
  if (hash === "new") { view = "edit"; } else if (hash.indexOf("edit/") === 0) { view = "edit"; id = hash.slice(5); } else if (VIEWS.indexOf(hash) >= 0) { view = hash; }
  if (state.noticeKeep) { state.noticeKeep = false; } else { notice(""); }
  leaveEdit();
  state.view = view;
  VIEWS.forEach((v) => { $("view-" + v).hidden = v !== view; });
  document.querySelectorAll("#views-nav a").forEach((a) => {
    const current = a.dataset.view === view && (view !== "edit" || (a.getAttribute("href") === "#new") === (id === null));
    if (current) { a.setAttribute("aria-current", "page"); } else { a.removeAttribute("aria-current"); }
  });
  pageError("");
  if (view === "pairs") { showPairs(); } else if (view === "edit") { openEditor(id); } else if (view === "queue") { showQueue(); } else if (view === "golden") { showGolden(); } else if (view === "import") { showImport(); } else if (view === "retrain") { showRetrain(); } else if (view === "quality") { showQuality(); }
  const title = document.querySelector("#view-" + view + " h1");
  const first = state.booted;
  state.booted = true;
  if (title && first) { title.focus(); }
}

// ---- the list of pairs -----------------------------------------------------------------------------

function readFilters() {
  state.filters = {
    q: $("f-q").value.trim(), status: $("f-status").value, tag: $("f-tag").value.trim(),
    due: $("f-due").checked, flagged: $("f-flagged").checked, changed_since: $("f-since").value
  };
}

function showPairs() {
  showUnsavedList();
  loadPairs();
}

function scheduleList() {
  if (state.listTimer) { window.clearTimeout(state.listTimer); }
  state.listTimer = window.setTimeout(() => { state.listTimer = null; readFilters(); loadPairs(); }, SEARCH_DEBOUNCE_MS);
}

async function loadPairs() {
  const f = state.filters;
  const params = new URLSearchParams();
  if (f.q) { params.set("q", f.q); }
  if (f.status) { params.set("status", f.status); }
  if (f.tag) { params.set("tag", f.tag); }
  if (f.due) { params.set("due", "true"); }
  if (f.flagged) { params.set("flagged", "true"); }
  if (f.changed_since) { params.set("changed_since", f.changed_since); }
  const mine = ++state.listSeq;
  const table = $("pairs-table");
  table.setAttribute("aria-busy", "true");
  try {
    const rows = await getJSON("/api/qa/overview" + (params.toString() ? "?" + params.toString() : ""));
    if (mine !== state.listSeq) { return; }
    state.overview = rows;
    renderPairs(rows, f);
  } catch (err) {
    if (mine !== state.listSeq) { return; }
    report(err, $("pairs-status"));
  } finally {
    if (mine === state.listSeq) { table.removeAttribute("aria-busy"); }
  }
}

function statusBadge(row) {
  if (row.deleted) { return el("span", "badge badge--deleted", "Deleted"); }
  if (row.status === "published") { return el("span", "badge badge--published", "Published"); }
  return el("span", "badge badge--draft", "Draft");
}

function renderPairs(rows, f) {
  const body = $("pairs-body");
  clear(body);
  const tags = {};
  rows.forEach((row) => {
    const tr = el("tr");
    tr.dataset.id = row.id;
    const q = el("td", "etable__q");
    if (row.deleted) {
      q.appendChild(el("span", "etable__deleted-q", row.question));
      const restore = button("Restore", "button--small", () => restorePair(row));
      restore.setAttribute("aria-label", "Restore “" + row.question + "”");
      q.appendChild(el("br"));
      q.appendChild(restore);
    } else {
      q.appendChild(pairLink(row.id, row.question));
      if (readJSON(UNSAVED_PREFIX + row.id)) { q.appendChild(el("span", "badge badge--unsaved", "Unsaved changes")); }
    }
    q.appendChild(el("span", "etable__id", row.id));
    tr.appendChild(q);
    const st = el("td");
    st.appendChild(statusBadge(row));
    tr.appendChild(st);
    tr.appendChild(el("td", null, EVIDENCE[row.evidence] || row.evidence || ""));
    tr.appendChild(el("td", null, (row.tags || []).join(", ")));
    (row.tags || []).forEach((t) => { tags[t] = true; });
    const review = el("td");
    if (row.due) { review.appendChild(el("strong", "overdue-text", "Due" + (row.review_due ? " (" + formatDate(row.review_due) + ")" : ""))); } else { review.textContent = row.review_due ? formatDate(row.review_due) : "No date"; }
    tr.appendChild(review);
    const fb = [];
    if (row.open_flags) { fb.push(plural(row.open_flags, "open flag", "open flags")); }
    fb.push((row.helpful || 0) + " helpful, " + (row.not_helpful || 0) + " not");
    tr.appendChild(el("td", null, fb.join("; ")));
    tr.appendChild(el("td", null, when(row.updated_at) + (row.updated_by ? " by " + row.updated_by : "")));
    body.appendChild(tr);
  });
  const list = $("tag-list");
  if (!f.tag && !f.q) {
    clear(list);
    Object.keys(tags).sort().forEach((t) => { const o = el("option"); o.value = t; list.appendChild(o); });
  }
  const ids = $("pair-ids");
  if (!f.q && !f.tag && !f.status && !f.due && !f.flagged && !f.changed_since) {
    clear(ids);
    rows.forEach((r) => { const o = el("option", null, r.question); o.value = r.id; ids.appendChild(o); });
  }
  const parts = [];
  if (f.q) { parts.push("matching “" + f.q + "”"); }
  if (f.status) { parts.push(f.status === "deleted" ? "deleted" : f.status === "draft" ? "drafts" : "published"); }
  if (f.tag) { parts.push("tagged " + f.tag); }
  if (f.due) { parts.push("due for review"); }
  if (f.flagged) { parts.push("with open flags"); }
  if (f.changed_since) { parts.push("changed since " + formatDate(f.changed_since)); }
  const text = plural(rows.length, "answer", "answers") + (parts.length ? " " + parts.join(", ") : "") + ".";
  $("pairs-status").textContent = text;
  $("pairs-caption").textContent = "Answers: " + text;
}

function unsavedEntries() {
  const s = storage();
  const out = [];
  if (!s) { return out; }
  for (let i = 0; i < s.length; i++) {
    const key = s.key(i);
    if (key && key.indexOf(UNSAVED_PREFIX) === 0) {
      const v = readJSON(key);
      if (v) { out.push(v); }
    }
  }
  return out;
}

function showUnsavedList() {
  const entries = unsavedEntries();
  const box = $("unsaved-list");
  const list = $("unsaved-items");
  clear(list);
  box.hidden = !entries.length;
  entries.forEach((v) => {
    const li = el("li");
    const title = (v.form && v.form.question) || (v.id ? v.id : "A new answer");
    const a = el("a", null, title);
    a.setAttribute("href", v.id ? editHash(v.id) : "#new");
    li.appendChild(a);
    li.appendChild(document.createTextNode(" (last typed " + when(v.at) + ")"));
    list.appendChild(li);
  });
}

async function restorePair(row) {
  const ok = await confirmDialog("Restore this answer?", "“" + row.question + "” comes back" +
    (row.status === "published" ? " and is shown in the chat again at once." : " as a draft."), "Restore it", false);
  if (!ok) { return; }
  try {
    const r = await changing((extra) => call("POST", "/api/qa/" + encodeURIComponent(row.id) + "/restore", { headers: extra }));
    if (!r) { return; }
    if (!r.ok) { throw await failure(r); }
    notice("Restored “" + row.question + "”.");
    window.location.hash = editHash(row.id);
  } catch (err) { report(err); }
}

// ---- editing ------------------------------------------------------------------------------------------

function lines(text) {
  return String(text || "").split("\n").map((s) => s.trim()).filter((s) => s);
}

function blank(v) { return v === undefined || v === null || String(v).trim() === ""; }

function readSource(li) {
  const s = {};
  SOURCE_FIELDS.forEach(([name]) => {
    const input = li.querySelector("[data-source-field=" + name + "]");
    const v = input.value.trim();
    s[name] = v || null;
  });
  s.title = s.title || "";
  s.publisher = s.publisher || "";
  return s;
}

/** The form as a pair (the shape of QACreate). */
function formValue() {
  const v = {
    question: $("e-question").value.trim(),
    alternates: lines($("e-alternates").value),
    answer: $("e-answer").value.trim(),
    evidence: $("e-evidence").value,
    audience: $("e-audience").value,
    caveats: lines($("e-caveats").value),
    sources: Array.from($("e-sources").children).map(readSource),
    tags: $("e-tags").value.split(/[\s,]+/).map((s) => s.trim()).filter((s) => s),
    status: state.edit && state.edit.status ? state.edit.status : "draft",
    reviewed_on: $("e-reviewed_on").value || null,
    review_due: $("e-review_due").value || null
  };
  const id = state.edit && state.edit.id ? state.edit.id : $("e-id").value.trim();
  if (id) { v.id = id; }
  return v;
}

/** The form's text as typed (for localStorage): nothing trimmed, so a restore gives back every key press. */
function formRaw() {
  return {
    id: $("e-id").value, question: $("e-question").value, alternates: $("e-alternates").value,
    answer: $("e-answer").value, evidence: $("e-evidence").value, audience: $("e-audience").value,
    caveats: $("e-caveats").value,
    sources: Array.from($("e-sources").children).map((li) => {
      const s = {};
      SOURCE_FIELDS.forEach(([name]) => { s[name] = li.querySelector("[data-source-field=" + name + "]").value; });
      return s;
    }),
    tags: $("e-tags").value, reviewed_on: $("e-reviewed_on").value, review_due: $("e-review_due").value
  };
}

function pairToRaw(p) {
  p = p || {};
  return {
    id: p.id || "", question: p.question || "", alternates: (p.alternates || []).join("\n"), answer: p.answer || "",
    evidence: p.evidence || "background", audience: p.audience || "visitors", caveats: (p.caveats || []).join("\n"),
    sources: (p.sources || []).map((s) => {
      const o = {};
      SOURCE_FIELDS.forEach(([name]) => { o[name] = s && s[name] ? String(s[name]) : ""; });
      return o;
    }),
    tags: (p.tags || []).join(", "), reviewed_on: p.reviewed_on || "", review_due: p.review_due || ""
  };
}

function fillForm(raw) {
  $("e-id").value = raw.id || "";
  $("e-question").value = raw.question || "";
  $("e-alternates").value = raw.alternates || "";
  $("e-answer").value = raw.answer || "";
  $("e-evidence").value = EVIDENCE[raw.evidence] ? raw.evidence : "background";
  $("e-audience").value = AUDIENCE[raw.audience] ? raw.audience : "visitors";
  $("e-caveats").value = raw.caveats || "";
  const list = $("e-sources");
  clear(list);
  (raw.sources || []).forEach((s) => addSource(s, false));
  $("e-tags").value = raw.tags || "";
  $("e-reviewed_on").value = raw.reviewed_on || "";
  $("e-review_due").value = raw.review_due || "";
}

function sourceCount() { return $("e-sources").children.length; }

function addSource(values, focus) {
  const list = $("e-sources");
  const n = list.children.length;
  const li = el("li", "source-edit");
  const fs = el("fieldset", "source-edit__set");
  const legend = el("legend", "source-edit__legend", "Source " + (n + 1));
  fs.appendChild(legend);
  const warn = el("div", "warnings");
  warn.id = "w-sources-" + n;
  SOURCE_FIELDS.forEach(([name, label, kind, required]) => {
    const wrap = el("div", "efield efield--source");
    const id = "e-source-" + n + "-" + name;
    const lab = el("label", "field__label", label);
    if (required) { lab.appendChild(el("span", "field__req", " (required)")); }
    lab.setAttribute("for", id);
    wrap.appendChild(lab);
    const input = kind === "textarea" ? el("textarea", "field__input") : el("input", "field__input");
    if (kind === "textarea") { input.rows = 3; } else { input.type = kind === "url" ? "url" : "text"; }
    input.id = id;
    input.dataset.sourceField = name;
    input.setAttribute("autocomplete", "off");
    input.setAttribute("aria-describedby", "w-sources-" + n + "-" + name + " w-sources-" + n);
    input.value = values && values[name] ? values[name] : "";
    wrap.appendChild(input);
    const fw = el("div", "warnings");
    fw.id = "w-sources-" + n + "-" + name;
    wrap.appendChild(fw);
    fs.appendChild(wrap);
  });
  fs.appendChild(warn);
  const remove = button("Remove source " + (n + 1), "button--small", () => {
    const kept = Array.from(list.children).filter((x) => x !== li).map((x) => {
      const s = {};
      SOURCE_FIELDS.forEach(([name]) => { s[name] = x.querySelector("[data-source-field=" + name + "]").value; });
      return s;
    });
    clear(list);
    kept.forEach((s) => addSource(s, false));
    onFormInput();
    announce("Source " + (n + 1) + " removed.");
    (list.children.length ? list.lastElementChild.querySelector("input") : $("add-source")).focus();
  });
  fs.appendChild(remove);
  li.appendChild(fs);
  list.appendChild(li);
  if (focus) { li.querySelector("input").focus(); }
}

function normal(p) {
  const o = {};
  FIELDS.forEach((f) => {
    let v = p ? p[f] : undefined;
    if (LIST_FIELDS.indexOf(f) >= 0) { v = (v || []).map((s) => String(s).trim()).filter((s) => s); } else if (f === "sources") {
      v = (v || []).map((s) => {
        const x = {};
        SOURCE_FIELDS.forEach(([name]) => { x[name] = blank(s[name]) ? null : String(s[name]).trim(); });
        return x;
      });
    } else if (f === "evidence") { v = v || "background"; } else if (f === "audience") { v = v || "visitors"; } else { v = blank(v) ? null : String(v).trim(); }
    o[f] = v;
  });
  return o;
}

function sameField(a, b, f) { return JSON.stringify(normal(a)[f]) === JSON.stringify(normal(b)[f]); }

function isDirty() {
  const e = state.edit;
  if (!e) { return false; }
  const now = formValue();
  if (!e.base) { return FIELDS.some((f) => !sameField(now, {}, f)) || !blank($("e-id").value); }
  return FIELDS.some((f) => !sameField(now, e.base, f));
}

/** Forgets the kept work once it is saved, unless another tab kept newer work on the same answer. */
function forgetUnsaved() {
  const kept = readJSON(unsavedKey());
  if (!kept || !kept.tab || kept.tab === TAB_ID) { removeKey(unsavedKey()); }
}

function unsavedKey() { return UNSAVED_PREFIX + (state.edit && state.edit.id ? state.edit.id : "new"); }

function keepUnsaved() {
  if (!state.edit) { return; }
  if (isDirty()) {
    const saved = writeJSON(unsavedKey(), {
      id: state.edit.id, form: formRaw(), base: state.edit.base, etag: state.edit.etag, at: new Date().toISOString(), tab: TAB_ID
    });
    $("save-busy").dataset.kept = saved ? "yes" : "no";
  } else {
    forgetUnsaved();
  }
  updateActions();
}

function onFormInput() {
  keepUnsaved();
  scheduleCheck();
}

function updateActions() {
  const e = state.edit;
  if (!e) { return; }
  const dirty = isDirty();
  const published = e.status === "published";
  const exists = !!e.base;
  $("save-draft").hidden = published;
  $("publish").textContent = published ? "Publish changes" : "Publish";
  $("unpublish").hidden = !published;
  $("delete-pair").hidden = !exists;
  $("discard-changes").hidden = !(dirty && exists);
  $("row-id").hidden = exists;
  const status = $("edit-status");
  clear(status);
  status.appendChild(el("span", "badge " + (published ? "badge--published" : "badge--draft"), published ? "Published" : exists ? "Draft" : "Not saved yet"));
  if (dirty) { status.appendChild(el("span", "badge badge--unsaved", "Unsaved changes")); }
  $("actions-hint").textContent = published
    ? "This answer is published. Your changes reach the chat only when you press “Publish changes”; until then they are kept in this browser. “Unpublish” takes it out of the chat."
    : "“Save draft” keeps your work without showing it to anyone. “Publish” puts it in the chat, after asking you to confirm.";
}

function leaveEdit() {
  if (state.view !== "edit" || !state.edit) { return; }
  keepUnsaved();
  if (isDirty()) {
    notice("Your unsaved changes to “" + (formValue().question || "a new answer") + "” are kept in this browser; open the answer again to go on.");
  }
  state.edit = null;
  if (state.checkTimer) { window.clearTimeout(state.checkTimer); state.checkTimer = null; }
}

function clearFieldMessages() {
  document.querySelectorAll("#edit-form .warnings").forEach((w) => clear(w));
  document.querySelectorAll("#edit-form [aria-invalid]").forEach((i) => i.removeAttribute("aria-invalid"));
  $("edit-error").textContent = "";
}

async function openEditor(id) {
  $("edit-notice").textContent = "";
  $("restored-box").hidden = true;
  $("form-golden").hidden = true;
  $("diff").hidden = true;
  clearFieldMessages();
  $("warn-summary").textContent = "";
  $("reading-age").textContent = "";
  $("preview-status").textContent = "";
  state.edit = { id: id, base: null, etag: null, status: "draft", checkSeq: 0, previewSeq: 0 };
  const edit = state.edit;
  $("edit-title").textContent = id ? "Edit an answer" : "New answer";
  $("history").hidden = !id;
  showStash();
  fillForm(pairToRaw(null));
  if (id) {
    try {
      const r = await call("GET", "/api/qa/" + encodeURIComponent(id));
      if (state.edit !== edit) { return; }
      if (r.status === 404) {
        $("edit-notice").textContent = "There is no answer “" + id + "”: it may have been deleted. Look in the list under Status: Deleted.";
        $("edit-form").hidden = true;
        return;
      }
      if (!r.ok) { throw await failure(r); }
      edit.base = await r.json();
      edit.etag = r.headers.get("ETag");
      edit.status = edit.base.status;
      $("edit-title").textContent = "Edit: " + edit.base.question;
    } catch (err) { report(err, $("edit-error")); return; }
  }
  $("edit-form").hidden = false;
  const kept = readJSON(unsavedKey());
  if (kept && kept.form) {
    // Work from an earlier visit: back in the form, on the version it was started from (a save then
    // finds out whether someone else changed the answer meanwhile).
    if (kept.base) { edit.base = kept.base; edit.etag = kept.etag; edit.status = kept.base.status; }
    fillForm(kept.form);
    $("restored-text").textContent = "Your unsaved changes from " + when(kept.at) + " are back in the form.";
    $("restored-box").hidden = false;
  } else {
    fillForm(pairToRaw(edit.base));
  }
  updateActions();
  runCheck();
  if (id) { loadRevisions(); }
}

// ---- warnings and preview -----------------------------------------------------------------------------

function scheduleCheck() {
  if (state.checkTimer) { window.clearTimeout(state.checkTimer); }
  state.checkTimer = window.setTimeout(() => { state.checkTimer = null; runCheck(); }, CHECK_DEBOUNCE_MS);
}

/** Where a message about `field` goes: "question", "alternates[2]", "sources[0].published", "sources.0.url"... */
function fieldTarget(field) {
  const parts = String(field || "").replace(/\[(\d+)\]/g, ".$1").split(".").filter((p) => p);
  const base = parts[0];
  if (base === "sources" && parts.length > 1 && /^\d+$/.test(parts[1])) {
    const n = parts[1];
    const sub = parts[2];
    const box = (sub && $("w-sources-" + n + "-" + sub)) || $("w-sources-" + n) || $("w-sources");
    const input = sub ? $("e-source-" + n + "-" + sub) : null;
    return { box: box, input: input };
  }
  const box = $("w-" + base);
  return box ? { box: box, input: $("e-" + base) } : { box: $("w-general"), input: null };
}

function label(field) {
  const parts = String(field || "").replace(/\[(\d+)\]/g, ".$1").split(".");
  let name = FIELD_NAMES[parts[0]] || parts[0];
  if (parts[0] === "sources" && /^\d+$/.test(parts[1] || "")) { name = "Source " + (parseInt(parts[1], 10) + 1) + (parts[2] ? ", " + parts[2] : ""); }
  if ((parts[0] === "alternates" || parts[0] === "caveats") && /^\d+$/.test(parts[1] || "")) { name += ", line " + (parseInt(parts[1], 10) + 1); }
  return name;
}

function showMessages(items, kind) {
  items.forEach((w) => {
    const t = fieldTarget(w.field);
    const p = el("p", "fmsg fmsg--" + kind);
    p.dataset.code = w.code || "";
    p.dataset.field = w.field || "";
    p.appendChild(el("strong", "fmsg__kind", kind === "error" ? "Problem: " : "Warning: "));
    p.appendChild(document.createTextNode((t.box.id === "w-general" || /\d/.test(w.field || "") ? label(w.field) + ": " : "") + w.message));
    t.box.appendChild(p);
    if (kind === "error" && t.input) { t.input.setAttribute("aria-invalid", "true"); }
  });
}

async function runCheck() {
  const edit = state.edit;
  if (!edit) { return; }
  const pair = formValue();
  const seq = ++edit.checkSeq;
  const host = $("preview-host");
  if (!pair.question || !pair.answer) {
    clearFieldMessages();
    $("warn-summary").textContent = "";
    $("preview-status").textContent = "The preview appears once there is a question and an answer.";
    host.hidden = true;
    return;
  }
  let check, preview;
  try {
    [check, preview] = await Promise.all([
      call("POST", "/api/qa/check", { body: pair }),
      call("POST", "/api/qa/preview", { body: pair })
    ]);
  } catch (err) {
    if (state.edit === edit && seq === edit.checkSeq) { report(err, $("preview-status")); }
    return;
  }
  if (state.edit !== edit || seq !== edit.checkSeq) { return; }
  clearFieldMessages();
  let summary = "";
  if (check.ok) {
    const b = await check.json();
    const warnings = b.warnings || [];
    showMessages(warnings, "warning");
    $("reading-age").textContent = typeof b.reading_age === "number" ? "Reading age of the answer: about " + Math.round(b.reading_age) + "." : "";
    summary = warnings.length ? plural(warnings.length, "warning", "warnings") + ": " +
      warnings.map((w) => label(w.field) + ": " + w.message).join(" ") : "No warnings.";
  } else if (check.status === 422) {
    const b = await check.json().catch(() => ({}));
    const problems = (b.detail || []).map((d) => ({ field: d.field, message: d.msg, code: "invalid" }));
    showMessages(problems, "error");
    summary = plural(problems.length, "problem", "problems") + " to put right before saving: " +
      problems.map((w) => label(w.field) + ": " + w.message).join(" ");
  }
  if (state.edit === edit && seq === edit.checkSeq) {
    const box = $("warn-summary");
    if (box.textContent !== summary) { box.textContent = summary; }
  }
  if (preview.ok) {
    const b = await preview.json();
    if (state.edit !== edit || seq !== edit.checkSeq) { return; }
    host.hidden = false;
    renderPreview(host, b.reply || {});
    $("preview-status").textContent = "";
  } else {
    host.hidden = true;
    $("preview-status").textContent = preview.status === 422 ? "The preview appears once the problems in the form are put right."
      : "The preview is not available just now (error " + preview.status + ").";
  }
}

// ---- saving -----------------------------------------------------------------------------------------------

function setSaving(text) {
  state.saving = !!text;
  $("save-busy").textContent = text || "";
  ["save-draft", "publish", "unpublish", "delete-pair"].forEach((id) => {
    if (text) { $(id).setAttribute("aria-disabled", "true"); } else { $(id).removeAttribute("aria-disabled"); }
  });
}

/** Saves the form with the given status (draft or published). */
async function save(status, how) {
  const edit = state.edit;
  if (!edit || state.saving) { return; }
  const pair = formValue();
  pair.status = status;
  if (!pair.question || !pair.answer) {
    showFormError("Fill in the question and the answer first.", !pair.question ? $("e-question") : $("e-answer"));
    return;
  }
  if (how !== "draft") {
    const published = edit.status === "published";
    const title = status === "draft" ? "Unpublish this answer?" : published ? "Publish your changes?" : "Publish this answer?";
    const text = status === "draft"
      ? "“" + pair.question + "” will no longer be shown in the chat. It stays here as a draft" + (isDirty() ? ", with your changes" : "") + "."
      : published ? "Visitors will see the changed answer in the chat at once."
        : "Visitors will see “" + pair.question + "” in the chat at once.";
    const yes = status === "draft" ? "Unpublish it" : published ? "Publish the changes" : "Publish it";
    if (!(await confirmDialog(title, text, yes, status === "draft"))) { return; }
  }
  setSaving(status === "published" ? "Publishing…" : how === "unpublish" ? "Unpublishing…" : "Saving…");
  $("edit-error").textContent = "";
  try {
    const r = await changing((extra) => edit.base
      ? call("PUT", "/api/qa/" + encodeURIComponent(edit.id), { body: pair, headers: Object.assign({ "If-Match": edit.etag || "" }, extra) })
      : call("POST", "/api/qa", { body: pair, headers: extra }));
    setSaving("");
    if (!r) { $("edit-notice").textContent = "Nothing was saved. Your changes are still in the form."; return; }
    if (r.status === 412) { await conflict(r); return; }
    if (r.status === 409) {
      const b = await r.json().catch(() => ({}));
      showFormError((b.message || "That identifier is taken.") + " Choose another identifier.", $("e-id"));
      return;
    }
    if (r.status === 422) {
      const b = await r.json().catch(() => ({}));
      const problems = (b.detail || []).map((d) => ({ field: d.field, message: d.msg }));
      clearFieldMessages();
      showMessages(problems, "error");
      showFormError("Not saved: " + (b.message || "some fields are not right") + ". Your changes are still in the form.",
        problems.length ? (fieldTarget(problems[0].field).input || null) : null);
      return;
    }
    if (!r.ok) { throw await failure(r); }
    const saved = await r.json();
    const wasNew = !edit.base;
    forgetUnsaved();
    edit.base = saved;
    edit.id = saved.id;
    edit.etag = r.headers.get("ETag");
    edit.status = saved.status;
    const word = status === "published" ? (wasNew || how === "publish" ? "Published" : "Published the changes to") : how === "unpublish" ? "Unpublished" : "Saved the draft of";
    const msg = word + " “" + saved.question + "” at " + new Date().toTimeString().slice(0, 5) + "." +
      (status === "published" ? " The chat answers with it now." : "");
    if (wasNew) {
      notice(msg);
      state.edit = null; // the saved form is not "left with unsaved changes"
      window.location.hash = editHash(saved.id);
      return;
    }
    $("restored-box").hidden = true;
    $("edit-title").textContent = "Edit: " + saved.question;
    fillForm(pairToRaw(saved));
    updateActions();
    $("edit-notice").textContent = msg;
    loadRevisions();
    runCheck();
  } catch (err) {
    setSaving("");
    report(err, $("edit-error"));
  }
}

function showFormError(text, focusOn) {
  const box = $("edit-error");
  box.textContent = "";
  window.setTimeout(() => { box.textContent = text; }, 40);
  if (focusOn) { focusOn.focus(); }
}

async function deletePair() {
  const edit = state.edit;
  if (!edit || !edit.base) { return; }
  const q = edit.base.question;
  const ok = await confirmDialog("Delete this answer?", "“" + q + "” will be taken out of the chat and the list. " +
    "Its history is kept, and it can be restored from the list (Status: Deleted).", "Delete it", true);
  if (!ok) { return; }
  setSaving("Deleting…");
  try {
    const r = await changing((extra) => call("DELETE", "/api/qa/" + encodeURIComponent(edit.id), { headers: Object.assign({ "If-Match": edit.etag || "" }, extra) }));
    setSaving("");
    if (!r) { return; }
    if (r.status === 412) { await conflict(r); return; }
    if (!r.ok) { throw await failure(r); }
    if (isDirty()) { stash(edit.id, formRaw()); }
    removeKey(unsavedKey());
    state.edit = null;
    notice("Deleted “" + q + "”. To bring it back, choose Status: Deleted in the list and press Restore.");
    window.location.hash = "#pairs";
  } catch (err) { setSaving(""); report(err, $("edit-error")); }
}

async function discardChanges() {
  const edit = state.edit;
  if (!edit) { return; }
  const ok = await confirmDialog("Discard your unsaved changes?", "The form goes back to the saved version of this answer. What you typed since is lost.", "Discard them", true);
  if (!ok) { return; }
  removeKey(unsavedKey());
  $("restored-box").hidden = true;
  openEditor(edit.id);
}

// ---- edit conflicts -------------------------------------------------------------------------------------

function valueText(pair, f) {
  if (!pair) { return ""; }
  const v = normal(pair)[f];
  if (f === "sources") {
    return (v || []).map((s, i) => "Source " + (i + 1) + ": " + SOURCE_FIELDS.map(([n]) => s[n]).filter((x) => x).join(" — ")).join("\n");
  }
  if (Array.isArray(v)) { return v.join("\n"); }
  if (f === "evidence") { return EVIDENCE[v] || v || ""; }
  if (f === "audience") { return AUDIENCE[v] || v || ""; }
  return v === null || v === undefined ? "" : String(v);
}

/** After a 412: their version comes in the answer (`current`, and its ETag), or is read again. */
async function conflict(refused) {
  const edit = state.edit;
  let theirs = null;
  let etag = null;
  let by = "";
  const told = refused ? await refused.json().catch(() => ({})) : {};
  if (told && told.current && refused.headers.get("ETag")) {
    theirs = told.current;
    etag = refused.headers.get("ETag");
    by = told.updated_by || "";
  }
  if (!theirs) try {
    const r = await call("GET", "/api/qa/" + encodeURIComponent(edit.id));
    if (r.status === 404) {
      stash(edit.id, formRaw());
      showFormError("Someone deleted this answer while you were editing it. Your text is kept below the form; " +
        "an editor can restore the answer from the list (Status: Deleted).", null);
      showStash();
      return;
    }
    if (!r.ok) { throw await failure(r); }
    theirs = await r.json();
    etag = r.headers.get("ETag");
  } catch (err) { report(err, $("edit-error")); return; }
  const mine = formValue();
  const base = edit.base;
  const fields = FIELDS.filter((f) => !sameField(mine, theirs, f));
  $("conflict-text").textContent = "While you were editing, " + (by ? by : "someone else") + " saved this answer. Nothing of yours was saved " +
    "and nothing you typed is lost. " + (fields.length ? "These fields differ between their version and yours:" : "Their version and yours are the same.");
  const box = $("conflict-fields");
  clear(box);
  fields.forEach((f) => {
    const wrap = el("section", "conflict-field");
    const both = !sameField(mine, base, f) && !sameField(theirs, base, f);
    wrap.appendChild(el("h3", "conflict-field__name", (FIELD_NAMES[f] || f) + (both ? " (changed by both of you)" : !sameField(mine, base, f) ? " (changed by you)" : " (changed by them)")));
    const cols = el("div", "conflict-field__cols");
    [["Theirs (saved)", theirs], ["Yours (not saved)", mine]].forEach(([title, p]) => {
      const col = el("div", "conflict-field__col");
      col.appendChild(el("p", "conflict-field__who", title));
      col.appendChild(el("p", "conflict-field__text", valueText(p, f) || "(empty)"));
      cols.appendChild(col);
    });
    wrap.appendChild(cols);
    box.appendChild(wrap);
  });
  const dialog = $("conflict-dialog");
  const merge = $("conflict-merge");
  const load = $("conflict-theirs");
  const close = $("conflict-cancel");
  const choice = await new Promise((resolve) => {
    const done = openDialog(dialog, merge);
    function finish(v) {
      merge.removeEventListener("click", onMerge);
      load.removeEventListener("click", onLoad);
      close.removeEventListener("click", onClose);
      dialog.removeEventListener("cancel", onClose);
      done();
      resolve(v);
    }
    function onMerge() { finish("merge"); }
    function onLoad() { finish("theirs"); }
    function onClose(e) { if (e) { e.preventDefault(); } finish(null); }
    merge.addEventListener("click", onMerge);
    load.addEventListener("click", onLoad);
    close.addEventListener("click", onClose);
    dialog.addEventListener("cancel", onClose);
  });
  if (state.edit !== edit) { return; }
  if (!choice) {
    $("edit-notice").textContent = "Your changes are still in the form, not saved. Saving again needs you to choose how to combine them with the other version.";
    return;
  }
  const mineRaw = formRaw();
  const theirsRaw = pairToRaw(theirs);
  if (choice === "merge") {
    // Their version, with each field you changed (from the version you started on) set to yours.
    const merged = Object.assign({}, theirsRaw);
    FIELDS.forEach((f) => { if (!sameField(mine, base, f)) { merged[f] = mineRaw[f]; } });
    merged.id = theirsRaw.id;
    edit.base = theirs;
    edit.etag = etag;
    edit.status = theirs.status;
    fillForm(merged);
    keepUnsaved();
    $("edit-notice").textContent = "Their version is loaded and your changes are applied on top of it. Check the form, then save or publish again.";
  } else {
    stash(edit.id, mineRaw);
    edit.base = theirs;
    edit.etag = etag;
    edit.status = theirs.status;
    fillForm(theirsRaw);
    removeKey(unsavedKey());
    showStash();
    $("edit-notice").textContent = "Their version is in the form. Your text is kept below the form until you no longer need it.";
  }
  updateActions();
  runCheck();
  loadRevisions();
  $("e-question").focus();
}

function stash(id, raw) {
  writeJSON(STASH_PREFIX + (id || "new"), { id: id, form: raw, at: new Date().toISOString() });
}

function showStash() {
  const edit = state.edit;
  const box = $("stash");
  const kept = edit ? readJSON(STASH_PREFIX + (edit.id || "new")) : null;
  box.hidden = !kept;
  const fields = $("stash-fields");
  clear(fields);
  if (!kept) { return; }
  const dl = el("dl", "stash__list");
  ["question", "alternates", "answer", "evidence", "caveats", "tags", "reviewed_on", "review_due"].forEach((f) => {
    const v = kept.form[f];
    if (blank(v)) { return; }
    const row = el("div", "stash__row");
    row.appendChild(el("dt", null, FIELD_NAMES[f]));
    row.appendChild(el("dd", "stash__text", v));
    dl.appendChild(row);
  });
  (kept.form.sources || []).forEach((s, i) => {
    const row = el("div", "stash__row");
    row.appendChild(el("dt", null, "Source " + (i + 1)));
    row.appendChild(el("dd", "stash__text", SOURCE_FIELDS.map(([n]) => s[n]).filter((x) => x).join(" — ")));
    dl.appendChild(row);
  });
  fields.appendChild(dl);
}

// ---- history, diff and restore ----------------------------------------------------------------------------

async function loadRevisions() {
  const edit = state.edit;
  if (!edit || !edit.id) { return; }
  const list = $("revisions");
  let revs;
  try { revs = await getJSON("/api/qa/" + encodeURIComponent(edit.id) + "/revisions"); } catch (err) { report(err, $("edit-error")); return; }
  if (state.edit !== edit) { return; }
  edit.revisions = revs;
  clear(list);
  const a = $("diff-a");
  const b = $("diff-b");
  const keepA = a.value;
  const keepB = b.value;
  clear(a);
  clear(b);
  revs.forEach((rev, i) => {
    const li = el("li", "revision");
    li.dataset.number = rev.number;
    li.appendChild(el("p", "revision__head", "Change " + rev.number + ": " + (ACTIONS[rev.action] || rev.action) +
      " by " + rev.by + ", " + when(rev.at)));
    if (rev.fields && rev.fields.length) {
      li.appendChild(el("p", "revision__fields", "Fields: " + rev.fields.map((f) => FIELD_NAMES[f] || f).join(", ")));
    }
    if (rev.note) { li.appendChild(el("p", "revision__note", "Note: " + rev.note)); }
    const row = el("div", "actions__row");
    if (i + 1 < revs.length) {
      const show = button("What changed", "button--small", () => showDiff(revs[i + 1].number, rev.number));
      show.setAttribute("aria-label", "What changed (in change " + rev.number + ")");
      row.appendChild(show);
    }
    if (i > 0 && rev.action !== "delete") {
      const back = button("Go back to this version", "button--small", () => revert(rev));
      back.setAttribute("aria-label", "Go back to this version (after change " + rev.number + ")");
      row.appendChild(back);
    }
    li.appendChild(row);
    list.appendChild(li);
    [a, b].forEach((sel) => {
      const o = el("option", null, "Change " + rev.number + " (" + (ACTIONS[rev.action] || rev.action) + ", " + when(rev.at) + ")");
      o.value = String(rev.number);
      sel.appendChild(o);
    });
  });
  if (revs.length) {
    a.value = keepA && revs.some((r) => String(r.number) === keepA) ? keepA : String(revs[Math.min(1, revs.length - 1)].number);
    b.value = keepB && revs.some((r) => String(r.number) === keepB) ? keepB : String(revs[0].number);
  }
}

/** Word by word (or line by line for lists): a list of [op, text] with op "=", "-" or "+". */
function diffTokens(a, b) {
  let start = 0;
  while (start < a.length && start < b.length && a[start] === b[start]) { start++; }
  let endA = a.length;
  let endB = b.length;
  while (endA > start && endB > start && a[endA - 1] === b[endB - 1]) { endA--; endB--; }
  const midA = a.slice(start, endA);
  const midB = b.slice(start, endB);
  const out = a.slice(0, start).map((t) => ["=", t]);
  const n = midA.length;
  const m = midB.length;
  if (n * m > 4000000) {
    midA.forEach((t) => out.push(["-", t]));
    midB.forEach((t) => out.push(["+", t]));
  } else {
    const w = m + 1;
    const lcs = new Uint32Array((n + 1) * w);
    for (let i = n - 1; i >= 0; i--) {
      for (let j = m - 1; j >= 0; j--) {
        lcs[i * w + j] = midA[i] === midB[j] ? lcs[(i + 1) * w + j + 1] + 1 : Math.max(lcs[(i + 1) * w + j], lcs[i * w + j + 1]);
      }
    }
    let i = 0;
    let j = 0;
    while (i < n || j < m) {
      if (i < n && j < m && midA[i] === midB[j]) { out.push(["=", midA[i]]); i++; j++; } else if (j < m && (i >= n || lcs[i * w + j + 1] >= lcs[(i + 1) * w + j])) { out.push(["+", midB[j]]); j++; } else { out.push(["-", midA[i]]); i++; }
    }
  }
  a.slice(endA).forEach((t) => out.push(["=", t]));
  return out;
}

function renderChanges(oldText, newText, byLine) {
  const tokens = (s) => byLine ? (s ? s.split("\n").map((x) => x + "\n") : []) : (s.match(/\s+|[^\s]+/g) || []);
  const ops = diffTokens(tokens(oldText), tokens(newText));
  const box = el("p", "diff__changes" + (byLine ? " diff__changes--lines" : ""));
  ops.forEach(([op, text]) => {
    if (op === "=") { box.appendChild(document.createTextNode(text)); return; }
    const node = el(op === "-" ? "del" : "ins", op === "-" ? "diff__del" : "diff__ins");
    node.appendChild(el("span", "diff__mark", op === "-" ? "[−" : "[+"));
    node.appendChild(el("span", "visually-hidden", op === "-" ? " removed: " : " added: "));
    node.appendChild(document.createTextNode(text.replace(/\n$/, "")));
    node.appendChild(el("span", "diff__mark", "]"));
    box.appendChild(node);
    if (byLine) { box.appendChild(document.createTextNode("\n")); }
  });
  return box;
}

async function showDiff(numA, numB) {
  const edit = state.edit;
  if (!edit) { return; }
  const box = $("diff");
  numA = parseInt(numA, 10);
  numB = parseInt(numB, 10);
  if (numA > numB) { const t = numA; numA = numB; numB = t; }
  $("diff-a").value = String(numA);
  $("diff-b").value = String(numB);
  clear(box);
  box.hidden = false;
  if (numA === numB) { box.appendChild(el("p", null, "Choose two different changes to compare.")); box.focus(); return; }
  let ra, rb;
  try {
    const base = "/api/qa/" + encodeURIComponent(edit.id) + "/revisions/";
    [ra, rb] = await Promise.all([getJSON(base + numA), getJSON(base + numB)]);
  } catch (err) { report(err, $("edit-error")); return; }
  if (state.edit !== edit) { return; }
  box.appendChild(el("h3", "diff__title", "From change " + numA + " to change " + numB));
  const pa = ra.pair;
  const pb = rb.pair;
  if (!pa || !pb) { box.appendChild(el("p", null, (!pa ? "Change " + numA : "Change " + numB) + " deleted the answer, so there is no version to compare after it.")); }
  const fields = ["status"].concat(FIELDS).filter((f) => (f === "status" ? (pa || {}).status !== (pb || {}).status : !sameField(pa || {}, pb || {}, f)));
  if (pa && pb && !fields.length) { box.appendChild(el("p", null, "The two versions are the same.")); }
  if (pa && pb) {
    fields.forEach((f) => {
      const sec = el("section", "diff__field");
      sec.dataset.field = f;
      sec.appendChild(el("h4", "diff__name", FIELD_NAMES[f] || f));
      const oldText = f === "status" ? String(pa.status || "") : valueText(pa, f);
      const newText = f === "status" ? String(pb.status || "") : valueText(pb, f);
      const dl = el("dl", "diff__both");
      [["Before (change " + numA + ")", oldText, "diff__old"], ["After (change " + numB + ")", newText, "diff__new"]].forEach(([t, v, c]) => {
        const row = el("div", "diff__row " + c);
        row.appendChild(el("dt", null, t));
        row.appendChild(el("dd", null, v || "(empty)"));
        dl.appendChild(row);
      });
      sec.appendChild(dl);
      if (f !== "status" && f !== "evidence" && f !== "audience" && f !== "reviewed_on" && f !== "review_due") {
        sec.appendChild(el("p", "diff__label", "What changed ([− removed], [+ added]):"));
        sec.appendChild(renderChanges(oldText, newText, f !== "question" && f !== "answer"));
      }
      box.appendChild(sec);
    });
  }
  box.focus();
}

async function revert(rev) {
  const edit = state.edit;
  if (!edit || !edit.base) { return; }
  const ok = await confirmDialog("Go back to this version?", "The answer becomes what it was after change " + rev.number +
    " (" + when(rev.at) + ")" + (edit.status === "published" || (rev.action === "publish") ? "; if it is published, visitors see that version at once" : "") +
    ". This is recorded as a new change, so it can be undone too." + (isDirty() ? " Your unsaved text is kept below the form." : ""), "Go back to it", false);
  if (!ok) { return; }
  setSaving("Going back to change " + rev.number + "…");
  try {
    const r = await changing((extra) => call("POST", "/api/qa/" + encodeURIComponent(edit.id) + "/revisions/" + rev.number + "/restore",
      { headers: Object.assign({ "If-Match": edit.etag || "" }, extra) }));
    setSaving("");
    if (!r) { return; }
    if (r.status === 412) { await conflict(r); return; }
    if (!r.ok) { throw await failure(r); }
    if (isDirty()) { stash(edit.id, formRaw()); }
    removeKey(unsavedKey());
    const saved = await r.json();
    edit.base = saved;
    edit.etag = r.headers.get("ETag");
    edit.status = saved.status;
    fillForm(pairToRaw(saved));
    showStash();
    updateActions();
    $("edit-title").textContent = "Edit: " + saved.question;
    $("edit-notice").textContent = "Went back to the version after change " + rev.number + ".";
    loadRevisions();
    runCheck();
  } catch (err) { setSaving(""); report(err, $("edit-error")); }
}

// ---- golden questions tested with the form -----------------------------------------------------------

function renderGoldenResults(box, b, withForm) {
  clear(box);
  box.hidden = false;
  const total = b.total || 0;
  box.appendChild(el("h2", "section-title", withForm ? "Golden questions with your changes" : "Results of the test"));
  box.appendChild(el("p", "golden-summary", total + " golden questions: " + (b.passed_live || 0) + " reach their answer now; " +
    (b.passed_draft || 0) + " would " + (withForm ? "with your changes (and every draft) published" : "with every draft published") +
    (typeof b.took_ms === "number" ? ". Took " + (b.took_ms / 1000).toFixed(1) + " seconds." : ".")));
  const broken = b.broken || [];
  const fixed = b.fixed || [];
  const sec = el("div", broken.length ? "golden-broken-box" : "golden-ok-box");
  sec.appendChild(el("h3", "golden-sub", broken.length ? "Would break: " + plural(broken.length, "question", "questions") : "Nothing would break."));
  if (broken.length) {
    const ul = el("ul", "broken-list");
    broken.forEach((g) => {
      const li = el("li", "broken");
      li.appendChild(el("p", "broken__q", "“" + g.question + "”"));
      const must = el("p", "broken__meta", "Must reach ");
      must.appendChild(pairLink(g.pair_id));
      must.appendChild(document.createTextNode("; would reach " + (g.top_question ? "“" + g.top_question + "”" : g.top || "nothing") + "."));
      li.appendChild(must);
      ul.appendChild(li);
    });
    sec.appendChild(ul);
  }
  box.appendChild(sec);
  if (fixed.length) {
    box.appendChild(el("h3", "golden-sub", "Would be fixed: " + plural(fixed.length, "question", "questions")));
    const ul = el("ul");
    fixed.forEach((g) => ul.appendChild(el("li", null, "“" + g.question + "”")));
    box.appendChild(ul);
  }
  const results = b.results || [];
  if (results.length && !withForm) {
    const wrap = el("div", "table-wrap");
    const table = el("table", "etable");
    table.appendChild(el("caption", "visually-hidden", "Every golden question"));
    const head = el("tr");
    ["Question", "Must reach", "Now", "With the drafts"].forEach((t) => { const th = el("th", null, t); th.scope = "col"; head.appendChild(th); });
    const thead = el("thead");
    thead.appendChild(head);
    table.appendChild(thead);
    const tbody = el("tbody");
    results.forEach((res) => {
      const tr = el("tr");
      tr.appendChild(el("td", null, res.question));
      const must = el("td");
      must.appendChild(pairLink(res.pair_id));
      tr.appendChild(must);
      [res.live, res.draft].forEach((x) => {
        const td = el("td");
        x = x || {};
        td.appendChild(el("span", "badge " + (x.passed ? "badge--published" : "badge--fail"), x.passed ? "Passes" : "Fails"));
        if (!x.passed && x.top) { td.appendChild(el("span", "etable__id", "reaches " + x.top)); }
        tr.appendChild(td);
      });
      tbody.appendChild(tr);
    });
    table.appendChild(tbody);
    wrap.appendChild(table);
    box.appendChild(wrap);
  }
}

async function testGoldenWithForm() {
  const pair = formValue();
  const box = $("form-golden");
  if (!pair.question || !pair.answer) { showFormError("Fill in the question and the answer first.", !pair.question ? $("e-question") : $("e-answer")); return; }
  if (!pair.id) { pair.id = pair.question.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, "").slice(0, 60) || "pair"; }
  pair.status = "published";
  $("save-busy").textContent = "Testing the golden questions…";
  try {
    const r = await call("POST", "/api/golden/test", { body: { pair: pair } });
    if (!r.ok) { throw await failure(r); }
    renderGoldenResults(box, await r.json(), true);
    $("save-busy").textContent = "";
    box.setAttribute("tabindex", "-1");
    box.focus();
  } catch (err) { $("save-busy").textContent = ""; report(err, $("edit-error")); }
}

// ---- flags and feedback ------------------------------------------------------------------------------------

async function showQueue() {
  loadQueueList("flags", "/api/flags?state=open", (f) => "/api/flags/" + f.id, "PATCH");
  loadQueueList("feedback", "/api/feedback?state=open", (f) => "/api/feedback/" + f.id + "/close", "POST");
}

async function loadQueueList(kind, path, closePath, method) {
  const list = $(kind + "-list");
  const status = $(kind + "-status");
  let items;
  try { items = await getJSON(path); } catch (err) { report(err, status); return; }
  clear(list);
  status.textContent = items.length ? plural(items.length, "open item", "open items") + "." : "Nothing open.";
  items.forEach((item) => {
    const li = el("li", "queue__item");
    li.dataset.id = item.id;
    const title = el("p", "queue__title");
    title.appendChild(pairLink(item.pair_id, item.question || item.pair_id));
    if (!item.question) { title.appendChild(document.createTextNode(" (this answer was deleted)")); }
    li.appendChild(title);
    if (item.note) { li.appendChild(el("p", "queue__note", "“" + item.note + "”")); }
    li.appendChild(el("p", "queue__meta", (kind === "flags" ? "Flagged by " + (item.created_by || "staff") + ", " : "A visitor said “not helpful”, ") + when(item.created_at)));
    const open = button("Close this item…", "button--small");
    open.setAttribute("aria-expanded", "false");
    const form = el("form", "close-form");
    form.hidden = true;
    form.noValidate = true;
    const nid = kind + "-note-" + item.id;
    open.setAttribute("aria-controls", kind + "-close-" + item.id);
    form.id = kind + "-close-" + item.id;
    const lab = el("label", "field__label", "What was done (optional note)");
    lab.setAttribute("for", nid);
    form.appendChild(lab);
    const note = el("textarea", "field__input");
    note.id = nid;
    note.rows = 2;
    note.maxLength = 1000;
    form.appendChild(note);
    const err = el("p", "error-box");
    err.setAttribute("role", "alert");
    form.appendChild(err);
    const row = el("div", "actions__row");
    const go = el("button", "button button--primary", "Close it");
    go.type = "submit";
    row.appendChild(go);
    row.appendChild(button("Cancel", "", () => { form.hidden = true; open.setAttribute("aria-expanded", "false"); open.focus(); }));
    form.appendChild(row);
    open.addEventListener("click", () => { form.hidden = !form.hidden; open.setAttribute("aria-expanded", form.hidden ? "false" : "true"); if (!form.hidden) { note.focus(); } });
    form.addEventListener("keydown", (e) => { if (e.key === "Escape") { e.preventDefault(); form.hidden = true; open.setAttribute("aria-expanded", "false"); open.focus(); } });
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      try {
        const body = method === "PATCH" ? { state: "closed", note: note.value.trim() } : { note: note.value.trim() };
        const r = await call(method, closePath(item), { body: body });
        if (!r.ok) { throw await failure(r); }
        const next = li.nextElementSibling || li.previousElementSibling;
        li.remove();
        const left = list.children.length;
        status.textContent = "Closed. " + (left ? plural(left, "open item", "open items") + " left." : "Nothing open.");
        (next ? next.querySelector("a") : $("queue-title")).focus();
        updateQueueCount();
      } catch (er) { report(er, err); }
    });
    li.appendChild(open);
    li.appendChild(form);
    list.appendChild(li);
  });
  updateQueueCount();
}

async function updateQueueCount() {
  try {
    const [flags, feedback] = await Promise.all([getJSON("/api/flags?state=open"), getJSON("/api/feedback?state=open")]);
    const n = flags.length + feedback.length;
    $("queue-count").textContent = n ? "(" + n + ")" : "";
  } catch (err) { /* the count is a convenience */ }
}

// ---- golden questions -----------------------------------------------------------------------------------------

async function showGolden() {
  try {
    state.golden = await getJSON("/api/golden");
  } catch (err) { report(err, $("golden-status")); return; }
  renderGolden();
  if (!$("pair-ids").children.length) {
    try {
      const rows = await getJSON("/api/qa/overview");
      const ids = $("pair-ids");
      clear(ids);
      rows.forEach((r) => { const o = el("option", null, r.question); o.value = r.id; ids.appendChild(o); });
    } catch (err) { /* the suggestions are a convenience */ }
  }
}

function renderGolden() {
  const body = $("golden-body");
  clear(body);
  $("golden-status").textContent = plural(state.golden.length, "golden question", "golden questions") + ".";
  state.golden.forEach((g) => {
    const tr = el("tr");
    tr.dataset.id = g.id;
    tr.appendChild(el("td", null, g.question));
    const must = el("td");
    must.appendChild(pairLink(g.pair_id, g.pair_question || g.pair_id));
    must.appendChild(el("span", "etable__id", g.pair_question ? g.pair_id : "(no such answer now)"));
    tr.appendChild(must);
    const actions = el("td");
    const row = el("div", "actions__row");
    const edit = button("Change", "button--small", () => editGolden(g));
    edit.setAttribute("aria-label", "Change the golden question “" + g.question + "”");
    const del = button("Delete", "button--small button--danger", () => deleteGolden(g));
    del.setAttribute("aria-label", "Delete the golden question “" + g.question + "”");
    row.appendChild(edit);
    row.appendChild(del);
    actions.appendChild(row);
    tr.appendChild(actions);
    body.appendChild(tr);
  });
}

function editGolden(g) {
  state.goldenEditing = g;
  $("golden-form-title").textContent = "Change a golden question";
  $("g-question").value = g.question;
  $("g-pair").value = g.pair_id;
  $("g-save").textContent = "Save the change";
  $("g-cancel").hidden = false;
  $("g-question").focus();
}

function resetGoldenForm() {
  state.goldenEditing = null;
  $("golden-form-title").textContent = "Add a golden question";
  $("g-question").value = "";
  $("g-pair").value = "";
  $("g-save").textContent = "Add the golden question";
  $("g-cancel").hidden = true;
  $("g-error").textContent = "";
}

async function saveGolden(e) {
  e.preventDefault();
  const question = $("g-question").value.trim();
  const pairId = $("g-pair").value.trim();
  const err = $("g-error");
  if (!question || !pairId) {
    err.textContent = !question ? "Write the question." : "Give the identifier of the answer it must reach.";
    (!question ? $("g-question") : $("g-pair")).focus();
    return;
  }
  const editing = state.goldenEditing;
  try {
    const r = editing ? await call("PUT", "/api/golden/" + editing.id, { body: { question: question, pair_id: pairId } })
      : await call("POST", "/api/golden", { body: { question: question, pair_id: pairId } });
    if (!r.ok) { throw await failure(r); }
    resetGoldenForm();
    await showGolden();
    announce(editing ? "Golden question changed." : "Golden question added.");
    $("golden-status").textContent = (editing ? "Changed. " : "Added. ") + plural(state.golden.length, "golden question", "golden questions") + ".";
    $("g-question").focus();
  } catch (er) { report(er, err); }
}

async function deleteGolden(g) {
  const ok = await confirmDialog("Delete this golden question?", "“" + g.question + "” will no longer be tested.", "Delete it", true);
  if (!ok) { return; }
  try {
    const r = await call("DELETE", "/api/golden/" + g.id);
    if (!r.ok && r.status !== 404) { throw await failure(r); }
    await showGolden();
    $("golden-status").textContent = "Deleted. " + plural(state.golden.length, "golden question", "golden questions") + ".";
    $("golden-title").focus();
  } catch (er) { report(er, $("golden-status")); }
}

async function testAllGolden() {
  const busy = $("golden-busy");
  busy.textContent = "Testing the golden questions…";
  $("golden-test").setAttribute("aria-disabled", "true");
  try {
    const r = await call("POST", "/api/golden/test", { body: {} });
    if (!r.ok) { throw await failure(r); }
    const b = await r.json();
    renderGoldenResults($("golden-results"), b, false);
    busy.textContent = "Tested: " + (b.passed_live || 0) + " of " + (b.total || 0) + " pass now.";
    $("golden-results").focus();
  } catch (err) { busy.textContent = ""; report(err, $("golden-status")); } finally { $("golden-test").removeAttribute("aria-disabled"); }
}

// ---- import -------------------------------------------------------------------------------------------------------

function showImport() { /* static until a file is chosen */ }

async function importFile(e) {
  e.preventDefault();
  const input = $("import-file");
  const out = $("import-result");
  const busy = $("import-busy");
  const file = input.files && input.files[0];
  clear(out);
  out.hidden = true;
  if (!file) { busy.textContent = ""; report({ userMessage: "Choose a .json or .csv file first." }, $("page-error")); input.focus(); return; }
  pageError("");
  const isCsv = /\.csv$/i.test(file.name) || file.type === "text/csv";
  let text;
  try { text = await file.text(); } catch (err) { report({ userMessage: "The file could not be read." }); return; }
  let opts;
  if (isCsv) {
    opts = { text: text, contentType: "text/csv" };
  } else {
    try { opts = { body: JSON.parse(text) }; } catch (err) {
      report({ userMessage: "“" + file.name + "” is not valid JSON (" + err.message + "). Nothing was imported." });
      return;
    }
  }
  busy.textContent = "Importing “" + file.name + "”…";
  try {
    const target = "/api/qa/import?audience=" + ($("import-visitors").checked ? "visitors" : "staff");
    const r = await changing((extra) => call("POST", target, Object.assign({ headers: extra }, opts)));
    busy.textContent = "";
    if (!r) { out.hidden = false; out.appendChild(el("p", "notice-box", "Nothing was imported.")); out.focus(); return; }
    out.hidden = false;
    if (r.ok) {
      const b = await r.json();
      out.appendChild(el("p", "ok-box", "Imported “" + file.name + "”: " + plural(b.created || 0, "answer", "answers") + " added, " + (b.updated || 0) + " replaced."));
    } else if (r.status === 422) {
      const b = await r.json().catch(() => ({}));
      out.appendChild(el("p", "error-box import-nothing", "Nothing was imported. " + (b.message || "Some rows have problems.") + " Put the rows below right and import the file again."));
      const rows = b.rows || [];
      if (rows.length) {
        const wrap = el("div", "table-wrap");
        const table = el("table", "etable import-errors");
        table.appendChild(el("caption", "visually-hidden", "Rows with problems"));
        const head = el("tr");
        [isCsv ? "Row (the header not counted)" : "Item (counting from 1)", "Identifier", "Field", "Problem"].forEach((t) => { const th = el("th", null, t); th.scope = "col"; head.appendChild(th); });
        const thead = el("thead");
        thead.appendChild(head);
        table.appendChild(thead);
        const tbody = el("tbody");
        rows.forEach((row) => {
          (row.errors && row.errors.length ? row.errors : [{ field: "", msg: "" }]).forEach((er) => {
            const tr = el("tr");
            tr.appendChild(el("td", null, isCsv ? String(row.row) + (row.line ? " (line " + row.line + " of the file)" : "")
              : String(Number(row.row) + 1)));
            tr.appendChild(el("td", null, row.id || ""));
            tr.appendChild(el("td", null, er.field ? label(er.field) + " (" + er.field + ")" : ""));
            tr.appendChild(el("td", null, er.msg || ""));
            tbody.appendChild(tr);
          });
        });
        table.appendChild(tbody);
        wrap.appendChild(table);
        out.appendChild(wrap);
      } else if (b.detail) {
        out.appendChild(el("p", null, (b.detail || []).map((d) => d.field + ": " + d.msg).join("; ")));
      }
    } else {
      const err = await failure(r);
      out.appendChild(el("p", "error-box", "Nothing was imported: " + err.userMessage));
    }
    out.focus();
  } catch (err) { busy.textContent = ""; report(err); }
}

// ---- retraining ------------------------------------------------------------------------------------------------

const RETRAIN_STATES = { idle: "Not running", running: "Running", succeeded: "Finished", failed: "Failed" };

async function showRetrain() {
  await pollRetrain();
}

async function pollRetrain() {
  if (state.retrainTimer) { window.clearTimeout(state.retrainTimer); state.retrainTimer = null; }
  let s;
  try { s = await getJSON("/api/retrain"); } catch (err) { report(err, $("retrain-status")); return; }
  renderRetrain(s);
  if (s.state === "running") {
    state.retrainTimer = window.setTimeout(pollRetrain, RETRAIN_POLL_MS);
  }
}

function renderRetrain(s) {
  const facts = $("retrain-facts");
  clear(facts);
  function row(k, v) {
    if (v === null || v === undefined || v === "") { return; }
    const d = el("div", "facts__row");
    d.appendChild(el("dt", null, k));
    d.appendChild(el("dd", null, typeof v === "object" ? JSON.stringify(v) : String(v)));
    facts.appendChild(d);
  }
  row("State", RETRAIN_STATES[s.state] || s.state);
  row("Stage", s.stage);
  row("Started", when(s.started_at));
  row("Finished", when(s.finished_at));
  row("Started by", s.started_by);
  row("Model in use", s.model);
  const sch = s.schedule || {};
  row("Schedule", sch.every_hours ? "Every " + sch.every_hours + " hours" + (sch.next_at ? "; next on " + when(sch.next_at) : "") : "Only when started here");
  row("Message", s.message);
  facts.dataset.state = s.state || "";
  const running = s.state === "running";
  $("retrain-progress-row").hidden = !running;
  const pct = Math.round(Math.max(0, Math.min(1, Number(s.progress) || 0)) * 100);
  $("retrain-progress").value = pct;
  $("retrain-percent").textContent = pct + "%";
  const status = $("retrain-status");
  const text = running ? "Retraining: " + (s.stage || "working") + ", " + pct + "% done." : s.state === "succeeded" ? "The last retraining finished; the new model is in use."
    : s.state === "failed" ? "The last retraining failed" + (s.message ? ": " + s.message : "") + ". The previous model is still in use." : "";
  if (!running || status.dataset.stage !== s.stage) { status.textContent = text; status.dataset.stage = s.stage || ""; }
  const start = $("retrain-start");
  if (running || s.enabled === false) { start.setAttribute("aria-disabled", "true"); } else { start.removeAttribute("aria-disabled"); }
  start.dataset.enabled = s.enabled === false ? "no" : "yes";
  if (s.enabled === false && !running) { status.textContent = "Retraining is switched off in the service's settings (config.yml)."; }
}

async function startRetrain() {
  const start = $("retrain-start");
  if (start.getAttribute("aria-disabled") === "true") {
    $("retrain-status").textContent = start.dataset.enabled === "no" ? "Retraining is switched off in the service's settings (config.yml)." : "Retraining is already running.";
    return;
  }
  const ok = await confirmDialog("Retrain now?", "This takes a few minutes. The chat keeps answering with the current model until the new one is ready.", "Retrain now", false);
  if (!ok) { return; }
  try {
    const r = await call("POST", "/api/retrain");
    if (r.status === 409) {
      const b = await r.json().catch(() => ({}));
      $("retrain-status").textContent = b.error === "retrain_disabled" ? "Retraining is switched off in the service's settings (config.yml)." : "Retraining is already running.";
    } else if (!r.ok) { throw await failure(r); }
    await pollRetrain();
  } catch (err) { report(err, $("retrain-status")); }
}

// ---- start ---------------------------------------------------------------------------------------------------

function signOut() {
  const btn = $("signout");
  btn.setAttribute("aria-disabled", "true");
  if (state.view === "edit") { keepUnsaved(); }
  call("POST", "/api/auth/logout").then((r) => {
    if (r.ok || r.status === 401) { window.location.replace("/signin?signed_out=1"); return; }
    btn.removeAttribute("aria-disabled");
    announce("Signing out did not work (error " + r.status + "). Try again.");
  }).catch(() => { btn.removeAttribute("aria-disabled"); announce("Signing out did not work: the service could not be reached."); });
}

function wire() {
  $("filters").addEventListener("submit", (e) => { e.preventDefault(); readFilters(); loadPairs(); });
  $("f-q").addEventListener("input", scheduleList);
  $("f-tag").addEventListener("input", scheduleList);
  ["f-status", "f-due", "f-flagged", "f-since"].forEach((id) => $(id).addEventListener("change", () => { readFilters(); loadPairs(); }));
  $("f-clear").addEventListener("click", () => {
    $("f-q").value = ""; $("f-status").value = ""; $("f-tag").value = ""; $("f-due").checked = false;
    $("f-flagged").checked = false; $("f-since").value = "";
    readFilters(); loadPairs(); $("f-q").focus();
  });
  const form = $("edit-form");
  form.addEventListener("input", onFormInput);
  form.addEventListener("change", onFormInput);
  form.addEventListener("submit", (e) => { e.preventDefault(); if (state.edit && state.edit.status !== "published") { save("draft", "draft"); } });
  $("publish").addEventListener("click", () => save("published", "publish"));
  $("unpublish").addEventListener("click", () => save("draft", "unpublish"));
  $("delete-pair").addEventListener("click", deletePair);
  $("discard-changes").addEventListener("click", discardChanges);
  $("discard-unsaved").addEventListener("click", discardChanges);
  $("add-source").addEventListener("click", () => { addSource({}, true); onFormInput(); announce("Source " + sourceCount() + " added."); });
  $("test-golden-form").addEventListener("click", testGoldenWithForm);
  $("show-diff").addEventListener("click", () => showDiff($("diff-a").value, $("diff-b").value));
  $("stash-restore").addEventListener("click", () => {
    const kept = state.edit ? readJSON(STASH_PREFIX + (state.edit.id || "new")) : null;
    if (!kept) { return; }
    fillForm(Object.assign({}, kept.form, { id: $("e-id").value }));
    onFormInput();
    $("edit-notice").textContent = "Your earlier text is back in the form (not saved yet).";
    $("e-question").focus();
  });
  $("stash-dismiss").addEventListener("click", () => {
    if (state.edit) { removeKey(STASH_PREFIX + (state.edit.id || "new")); }
    showStash();
    $("e-question").focus();
  });
  $("golden-form").addEventListener("submit", saveGolden);
  $("g-cancel").addEventListener("click", () => { resetGoldenForm(); $("g-question").focus(); });
  $("golden-test").addEventListener("click", testAllGolden);
  $("import-form").addEventListener("submit", importFile);
  $("retrain-start").addEventListener("click", startRetrain);
  $("signout").addEventListener("click", signOut);
  wireQuality({ el, button, clear, plural, when, pairLink, call, getJSON, failure, changing, confirmDialog });
  window.addEventListener("hashchange", route);
  window.addEventListener("beforeunload", (e) => {
    if (state.view === "edit" && state.edit && isDirty()) {
      keepUnsaved();
      e.preventDefault();
      e.returnValue = "";
    }
  });
  document.addEventListener("keydown", (e) => {
    // Ctrl+S (or Cmd+S) saves a draft; it never publishes.
    if ((e.ctrlKey || e.metaKey) && !e.altKey && (e.key === "s" || e.key === "S") && state.view === "edit") {
      e.preventDefault();
      if (state.edit && state.edit.status !== "published") { save("draft", "draft"); } else { announce("This answer is published: use “Publish changes” to save."); }
    }
  });
}

async function init() {
  let who;
  try { who = await me(); } catch (err) {
    $("gate").textContent = "The service could not be reached. Check your connection and reload the page.";
    return;
  }
  if (!who) {
    window.location.replace("/signin?next=" + encodeURIComponent("/editor" + window.location.hash));
    return;
  }
  state.user = who;
  state.csrf = who.csrf_token || "";
  const role = String(who.role || "");
  $("whoami").textContent = "Signed in as " + who.username + " (" + (ROLE_NAMES[role] || role) + ")";
  $("signout").hidden = false;
  if (EDITOR_ROLES.indexOf(role) < 0) {
    $("gate").textContent = "This page is for editors. Your account cannot change answers; the staff search is open to you.";
    $("signout").addEventListener("click", signOut);
    return;
  }
  $("gate").hidden = true;
  $("gate").textContent = "";
  $("views-nav").hidden = false;
  document.body.dataset.ready = "true";
  wire();
  route();
  updateQueueCount();
}

if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", init); } else { init(); }

export { diffTokens, safeHttpUrl };
