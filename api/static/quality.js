/* The editors' page, view #quality: what visitors asked that the bot could not answer (api/routes/quality.py).
 *
 * - A date range (default the last 28 days, UTC) for everything below.
 * - Four charts drawn with Chart.js (api/static/vendor/chart.umd.min.js, loaded by editor.html before this
 *   module; it sets window.Chart): questions per day by reply kind, the fallback and "did you mean" rates,
 *   the helpful rate per answer, the largest unanswered groups. Each canvas has role="img" and an
 *   aria-label that says what it shows; the same figures are in a table beside it (caption, th scope).
 * - The groups of unanswered questions, each with its suggestions and one button per action; the result
 *   or the refusal is written to a live region, then the lists are loaded again.
 * - The active out-of-scope marks, each with Undo.
 *
 * Everything from the service is shown as text (createElement/textContent), as in editor.js, whose
 * helpers (the service calls, dialogs, elements) are handed over by `wireQuality`. */

const KINDS = [
  ["answer", "Answered", "#0b4f8a"],
  ["clarify", "“Did you mean” offered", "#8a6400"],
  ["fallback", "Not answered (helpline given)", "#a4001d"],
  ["none_of_these", "“None of these” chosen", "#474747"]
];
const OUTCOMES = {
  fallback: "not answered", open: "did you mean, no choice yet", chosen: "did you mean, then chose",
  none_of_these: "did you mean, then “None of these”", not_helpful: "answered, voted not helpful"
};
const DAY_MS = 86400000;
const DEFAULT_DAYS = 28;

let ctx = null;
const charts = {};
const tablesOpen = {};
let seq = 0;

const $ = (id) => document.getElementById(id);

function isoDay(d) { return d.toISOString().slice(0, 10); }

function percent(rate) { return rate === null || rate === undefined ? "–" : Math.round(rate * 1000) / 10 + "%"; }

function shortDay(day) {
  const d = new Date(day + "T00:00:00Z");
  return d.toLocaleDateString("en-GB", { day: "numeric", month: "short", timeZone: "UTC" });
}

function range() {
  return { from: $("q-from").value, to: $("q-to").value };
}

function query(extra) {
  const r = range();
  const p = new URLSearchParams();
  if (r.from) { p.set("from", r.from); }
  if (r.to) { p.set("to", r.to); }
  Object.keys(extra || {}).forEach((k) => p.set(k, String(extra[k])));
  return "?" + p.toString();
}

/** Messages: `status` for what went well, `error` for a refusal (both live regions). */
let sayTimer = null;

/** Replaces the status message (after a moment, so a screen reader announces the same text again). */
function say(text, fill) {
  const box = $("quality-status");
  window.clearTimeout(sayTimer);
  ctx.clear(box);
  sayTimer = window.setTimeout(() => { if (fill) { fill(box); } else { box.textContent = text; } }, 40);
}

function sayError(text) {
  const box = $("quality-error");
  box.textContent = "";
  if (text) { window.setTimeout(() => { box.textContent = text; }, 40); }
}

function errorText(err) {
  if (err && err.userMessage) { return err.userMessage; }
  return "The service could not be reached. Check your connection and try again.";
}

// ---- tables and charts -----------------------------------------------------------------------------------

/** A table of the real figures: caption, column headers, the first cell of each row a row header. */
function table(caption, heads, rows) {
  const t = ctx.el("table", "etable qtable");
  t.appendChild(ctx.el("caption", "qtable__caption", caption));
  const thead = ctx.el("thead");
  const hr = ctx.el("tr");
  heads.forEach((h) => { const th = ctx.el("th", null, h); th.scope = "col"; hr.appendChild(th); });
  thead.appendChild(hr);
  t.appendChild(thead);
  const body = ctx.el("tbody");
  rows.forEach((cells) => {
    const tr = ctx.el("tr");
    cells.forEach((c, i) => {
      const cell = ctx.el(i === 0 ? "th" : "td", i === 0 ? null : "qtable__num");
      if (i === 0) { cell.scope = "row"; }
      if (c instanceof Node) { cell.appendChild(c); } else { cell.textContent = String(c); }
      tr.appendChild(cell);
    });
    body.appendChild(tr);
  });
  if (!rows.length) {
    const tr = ctx.el("tr");
    const td = ctx.el("td", null, "Nothing in this range.");
    td.colSpan = heads.length;
    tr.appendChild(td);
    body.appendChild(tr);
  }
  t.appendChild(body);
  return t;
}

/** One figure: a chart (when Chart.js loaded and there is something to draw) and its table. */
function figure(key, hostId, title, label, config, tbl) {
  const host = $(hostId);
  if (charts[key]) { charts[key].destroy(); delete charts[key]; }
  ctx.clear(host);
  host.appendChild(ctx.el("h3", "qfig__title", title));
  if (config) {
    const box = ctx.el("div", "qfig__chart");
    const canvas = ctx.el("canvas");
    canvas.setAttribute("role", "img");
    canvas.setAttribute("aria-label", label);
    canvas.appendChild(ctx.el("p", null, label));  // fallback content for a browser without canvas
    box.appendChild(canvas);
    host.appendChild(box);
    if (window.Chart) {
      try { charts[key] = new window.Chart(canvas, config); } catch (err) { host.appendChild(ctx.el("p", "hint", "The chart could not be drawn; the table below has the figures.")); }
    } else {
      host.appendChild(ctx.el("p", "hint", "The chart could not be loaded; the table below has the figures."));
    }
  } else {
    host.appendChild(ctx.el("p", "hint", label));
  }
  // The table is folded away unless the editor opened it (kept open across reloads).
  const details = ctx.el("details", "qfig__table");
  details.open = !!tablesOpen[key];
  details.addEventListener("toggle", () => { tablesOpen[key] = details.open; });
  details.appendChild(ctx.el("summary", null, "Show the figures as a table"));
  const wrap = ctx.el("div", "table-wrap");
  wrap.appendChild(tbl);
  details.appendChild(wrap);
  host.appendChild(details);
}

function baseOptions(extra) {
  return Object.assign({
    animation: false,
    responsive: true,
    maintainAspectRatio: false,
    plugins: { legend: { position: "bottom", labels: { font: { size: 14 }, color: "#1b1b1b" } } }
  }, extra || {});
}

function drawPerDay(board) {
  const labels = board.days.map((d) => shortDay(d.day));
  const datasets = KINDS.map(([kind, name, color]) => ({
    label: name, data: board.days.map((d) => d.counts[kind]), backgroundColor: color, borderColor: color, stack: kind === "none_of_these" ? "after" : "turns"
  }));
  const t = board.totals.counts;
  const label = "Bar chart of questions per day by reply kind, " + board.days.length + " days. In total " +
    KINDS.map(([kind, name]) => name.toLowerCase() + " " + t[kind]).join(", ") + ".";
  const rows = board.days.map((d) => [d.day, ...KINDS.map(([kind]) => d.counts[kind]), d.questions]);
  rows.push(["All days", ...KINDS.map(([kind]) => t[kind]), board.totals.questions]);
  figure("perDay", "q-fig-days", "Questions per day, by reply", label, {
    type: "bar",
    data: { labels: labels, datasets: datasets },
    options: baseOptions({ scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } } } })
  }, table("Questions per day by reply kind", ["Day", ...KINDS.map((k) => k[1]), "Questions"], rows));
}

function drawRates(board) {
  const pct = (r) => (r === null || r === undefined ? null : Math.round(r * 1000) / 10);
  const label = "Line chart of the share of questions not answered and the share given a “did you mean”, per day. " +
    "Over the range: not answered " + percent(board.totals.fallback_rate) + ", did you mean " + percent(board.totals.clarify_rate) + ".";
  const rows = board.days.map((d) => [d.day, d.questions, percent(d.fallback_rate), percent(d.clarify_rate)]);
  rows.push(["All days", board.totals.questions, percent(board.totals.fallback_rate), percent(board.totals.clarify_rate)]);
  figure("rates", "q-fig-rates", "Share not answered, and given a “did you mean”", label, {
    type: "line",
    data: {
      labels: board.days.map((d) => shortDay(d.day)),
      datasets: [
        { label: "Not answered (%)", data: board.days.map((d) => pct(d.fallback_rate)), borderColor: "#a4001d", backgroundColor: "#a4001d", pointStyle: "rectRot", pointRadius: 5, spanGaps: true },
        { label: "“Did you mean” (%)", data: board.days.map((d) => pct(d.clarify_rate)), borderColor: "#0b4f8a", backgroundColor: "#0b4f8a", borderDash: [6, 4], pointRadius: 5, spanGaps: true }
      ]
    },
    options: baseOptions({ scales: { y: { beginAtZero: true, max: 100, ticks: { callback: (v) => v + "%" } } } })
  }, table("Share of questions not answered and given a “did you mean”, per day", ["Day", "Questions", "Not answered", "“Did you mean”"], rows));
}

function drawHelpful(board) {
  const rows = board.helpful.slice(0, 15);
  const name = (r) => r.question || r.pair_id;
  const label = rows.length ? "Bar chart of the share of “helpful” votes for the " + rows.length + " most voted answers. " +
    rows.slice(0, 3).map((r) => name(r) + ": " + percent(r.helpful_rate) + " of " + r.votes).join("; ") + "."
    : "No votes in this range.";
  figure("helpful", "q-fig-helpful", "Helpful votes per answer", label, rows.length ? {
    type: "bar",
    data: {
      labels: rows.map((r) => { const n = name(r); return n.length > 40 ? n.slice(0, 39) + "…" : n; }),
      datasets: [{ label: "Voted helpful (%)", data: rows.map((r) => (r.helpful_rate === null ? 0 : Math.round(r.helpful_rate * 1000) / 10)), backgroundColor: "#14532d" }]
    },
    options: baseOptions({ indexAxis: "y", scales: { x: { beginAtZero: true, max: 100, ticks: { callback: (v) => v + "%" } } } })
  } : null, table("Helpful votes per answer", ["Answer", "Helpful", "Not helpful", "Votes", "Helpful rate"],
    rows.map((r) => [ctx.pairLink(r.pair_id, name(r)), r.helpful, r.not_helpful, r.votes, percent(r.helpful_rate)])));
}

function drawClusters(board) {
  const rows = board.clusters;
  const label = rows.length ? "Bar chart of the " + rows.length + " largest groups of unanswered questions. Largest: “" +
    rows[0].example + "”, " + ctx.plural(rows[0].size, "question", "questions") + "." : "No unanswered questions in this range.";
  figure("clusters", "q-fig-clusters", "Largest groups of unanswered questions", label, rows.length ? {
    type: "bar",
    data: {
      labels: rows.map((c) => (c.example.length > 40 ? c.example.slice(0, 39) + "…" : c.example)),
      datasets: [{ label: "Questions", data: rows.map((c) => c.size), backgroundColor: "#a4001d" }]
    },
    options: baseOptions({ indexAxis: "y", scales: { x: { beginAtZero: true, ticks: { precision: 0 } } } })
  } : null, table("Largest groups of unanswered questions", ["Example question", "Questions", "This week", "The week before", "Nearest answer"],
    rows.map((c) => [c.example, c.size, c.this_week, c.last_week, c.nearest ? ctx.pairLink(c.nearest.pair_id, c.nearest.question) : "none"])));
}

// ---- loading ---------------------------------------------------------------------------------------------

async function loadDashboard(mine) {
  const board = await ctx.getJSON("/api/quality/dashboard" + query({ clusters: 10 }));
  if (mine !== seq) { return; }
  const m = board.misses;
  $("q-summary").textContent = "From " + board.from + " to " + board.to + ": " +
    ctx.plural(board.totals.questions, "question", "questions") + ", " + percent(board.totals.fallback_rate) +
    " not answered, " + percent(board.totals.clarify_rate) + " given a “did you mean”; " +
    ctx.plural(m.kept, "question kept", "questions kept") + " to look at, " + m.open + " still open.";
  drawPerDay(board);
  drawRates(board);
  drawHelpful(board);
  drawClusters(board);
}

function trendText(tr) {
  const change = tr.this_week > tr.last_week ? "rising" : tr.this_week < tr.last_week ? "falling" : "steady";
  return "Trend: " + change + " (" + tr.this_week + " in the last 7 days, " + tr.last_week + " in the 7 before).";
}

function suggestionButton(cluster, s, n) {
  if (s.action === "alternate") {
    const b = ctx.button("Add as alternates of “" + (s.question || s.pair_id) + "”", "button--big" + (s.recommended ? " button--primary" : ""),
      () => addAlternates(b, s));
    return b;
  }
  if (s.action === "draft") {
    const b = ctx.button("Start a draft", "button--big" + (s.recommended ? " button--primary" : ""), () => startDraft(b, s));
    return b;
  }
  const b = ctx.button("Out of scope…", "button--big" + (s.recommended ? " button--primary" : ""));
  b.dataset.cluster = String(n);
  return b;
}

/** The inline form that asks why a group is out of scope (the reason is shown to visitors). */
function scopeForm(cluster, opener, n, missIds) {
  const form = ctx.el("form", "close-form qscope");
  form.noValidate = true;
  form.hidden = true;
  form.id = "q-scope-" + n;
  opener.setAttribute("aria-expanded", "false");
  opener.setAttribute("aria-controls", form.id);
  const lab = ctx.el("label", "field__label", "Why the chat does not answer this (shown to visitors with the helpline)");
  lab.setAttribute("for", "q-scope-reason-" + n);
  form.appendChild(lab);
  const reason = ctx.el("textarea", "field__input");
  reason.id = "q-scope-reason-" + n;
  reason.rows = 2;
  reason.maxLength = 300;
  reason.setAttribute("aria-describedby", "q-scope-err-" + n);
  form.appendChild(reason);
  const err = ctx.el("p", "error-box");
  err.id = "q-scope-err-" + n;
  err.setAttribute("role", "alert");
  form.appendChild(err);
  const row = ctx.el("div", "actions__row");
  const go = ctx.el("button", "button button--primary button--big", "Mark out of scope");
  go.type = "submit";
  row.appendChild(go);
  const hide = () => { form.hidden = true; opener.setAttribute("aria-expanded", "false"); opener.focus(); };
  row.appendChild(ctx.button("Cancel", "button--big", hide));
  form.appendChild(row);
  opener.addEventListener("click", () => {
    form.hidden = !form.hidden;
    opener.setAttribute("aria-expanded", form.hidden ? "false" : "true");
    if (!form.hidden) { reason.focus(); }
  });
  form.addEventListener("keydown", (e) => { if (e.key === "Escape") { e.preventDefault(); hide(); } });
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const text = reason.value.trim();
    if (!text) {
      reason.setAttribute("aria-invalid", "true");
      err.textContent = "Write a short reason: visitors see it with the helpline's number.";
      reason.focus();
      return;
    }
    reason.removeAttribute("aria-invalid");
    await act(go, async () => {
      const r = await ctx.changing((extra) => ctx.call("POST", "/api/quality/out-of-scope", { body: { miss_ids: missIds, reason: text }, headers: extra }));
      if (!r) { return null; }
      if (!r.ok) { throw await ctx.failure(r); }
      const b = await r.json();
      return "Marked out of scope: from now on questions like these get the helpline with your reason." + warningText(b.warnings);
    });
  });
  return form;
}

function warningText(warnings) {
  if (!warnings || !warnings.length) { return ""; }
  return " Warnings: " + warnings.map((w) => w.message).join(" ");
}

/** Runs one action: the button is marked busy, the result (or the refusal) is said, the lists reload. */
async function act(btn, run) {
  if (btn.getAttribute("aria-disabled") === "true") { return; }
  btn.setAttribute("aria-disabled", "true");
  sayError("");
  say("Working…");
  let message = null;
  try {
    message = await run();
  } catch (err) {
    if (err && err.quiet) { return; }
    say("");
    sayError(refusal(err));
    btn.removeAttribute("aria-disabled");
    await reload(true);
    $("q-clusters-title").focus();
    return;
  }
  btn.removeAttribute("aria-disabled");
  if (message === null) { say("Nothing was changed."); btn.focus(); return; }
  await reload(true);
  if (typeof message === "string") { say(message); } else { showResult(message); }
  $("q-clusters-title").focus();
}

function refusal(err) {
  const status = err && err.status;
  const text = errorText(err);
  if (status === 412) { return "Not added: that answer was changed by someone else since this list was loaded. The list is up to date now: try again. (" + text + ")"; }
  if (status === 409) { return "Not done: " + text; }
  if (status === 428) { return "Not added: the answer's version was missing. Reload the page and try again."; }
  if (status === 404) { return "Not done: the answer or the questions are gone (someone else may have dealt with them). The list is up to date now."; }
  if (status === 422) { return "Not done: " + text; }
  return text;
}

/** A result with a link to the answer it made or changed. */
function showResult(res) {
  say("", (box) => {
    box.appendChild(document.createTextNode(res.text + " "));
    const a = ctx.pairLink(res.pair_id, res.link);
    a.id = "q-result-link";
    box.appendChild(a);
    if (res.warnings) { box.appendChild(document.createTextNode(res.warnings)); }
  });
}

function addAlternates(btn, s) {
  return act(btn, async () => {
    const r = await ctx.changing((extra) => ctx.call("POST", "/api/quality/alternates", {
      body: { pair_id: s.pair_id, miss_ids: s.miss_ids }, headers: Object.assign({ "If-Match": s.etag || "" }, extra)
    }));
    if (!r) { return null; }
    if (!r.ok) { throw await ctx.failure(r); }
    const b = await r.json();
    return {
      text: "Added " + ctx.plural(b.added.length, "question", "questions") + " as other ways of asking (published at once if the answer is):",
      pair_id: b.pair.id, link: "open “" + b.pair.question + "”", warnings: warningText(b.warnings)
    };
  });
}

function startDraft(btn, s) {
  return act(btn, async () => {
    const r = await ctx.call("POST", "/api/quality/drafts", { body: { miss_ids: s.miss_ids } });
    if (!r.ok) { throw await ctx.failure(r); }
    const b = await r.json();
    return {
      text: "A draft answer was started (not published). Write its answer:",
      pair_id: b.pair.id, link: "open the draft “" + b.pair.question + "”", warnings: warningText(b.warnings)
    };
  });
}

function dismiss(btn, cluster) {
  return act(btn, async () => {
    const yes = await ctx.confirmDialog("Set these questions aside?", "The " + ctx.plural(cluster.size, "question", "questions") +
      " like “" + cluster.examples[0].question + "” leave this list. Nothing in the answers changes.", "Set them aside", false);
    if (!yes) { return null; }
    const r = await ctx.call("POST", "/api/quality/dismiss", { body: { miss_ids: cluster.miss_ids } });
    if (!r.ok) { throw await ctx.failure(r); }
    const b = await r.json();
    return "Set aside " + ctx.plural(b.dismissed, "question", "questions") + ".";
  });
}

function renderCluster(cluster, n) {
  const li = ctx.el("li", "qcluster");
  li.dataset.size = String(cluster.size);
  const titleId = "q-cluster-" + n;
  li.setAttribute("aria-labelledby", titleId);
  const first = cluster.examples.length ? cluster.examples[0].question : "";
  const h = ctx.el("h3", "qcluster__title", "“" + first + "”");
  h.id = titleId;
  li.appendChild(h);
  li.appendChild(ctx.el("p", "qcluster__meta", ctx.plural(cluster.size, "question", "questions") + " in this group. " + trendText(cluster.trend)));
  if (cluster.nearest) {
    const p = ctx.el("p", "qcluster__meta", "Nearest answer: ");
    p.appendChild(ctx.pairLink(cluster.nearest.pair_id, cluster.nearest.question));
    p.appendChild(document.createTextNode(" (score " + cluster.nearest.score.toFixed(2) + "; reached first by " +
      cluster.nearest.first + " of " + cluster.size + ")"));
    li.appendChild(p);
  } else {
    li.appendChild(ctx.el("p", "qcluster__meta", "No answer is near these questions."));
  }
  const ex = ctx.el("ul", "qcluster__examples");
  ex.setAttribute("aria-label", "Questions in this group");
  cluster.examples.forEach((e) => {
    const item = ctx.el("li", null, "“" + e.question + "”");
    item.appendChild(ctx.el("span", "qcluster__when", " – " + (OUTCOMES[e.outcome] || e.outcome) + ", " + ctx.when(e.at)));
    ex.appendChild(item);
  });
  li.appendChild(ex);
  const acts = ctx.el("div", "qcluster__actions");
  const sugg = cluster.suggestions.slice();
  if (!sugg.some((s) => s.action === "draft")) { sugg.push({ action: "draft", miss_ids: cluster.miss_ids, recommended: false, why: "" }); }
  if (!sugg.some((s) => s.action === "out_of_scope")) { sugg.push({ action: "out_of_scope", miss_ids: cluster.miss_ids, recommended: false, why: "" }); }
  const forms = [];
  sugg.forEach((s) => {
    const wrap = ctx.el("div", "qsuggest");
    const b = suggestionButton(cluster, s, n);
    wrap.appendChild(b);
    if (s.why) { wrap.appendChild(ctx.el("p", "hint hint--small qsuggest__why", (s.recommended ? "Suggested: " : "") + s.why)); }
    acts.appendChild(wrap);
    if (s.action === "out_of_scope") { forms.push(scopeForm(cluster, b, n, s.miss_ids)); }
  });
  const wrap = ctx.el("div", "qsuggest");
  const d = ctx.button("Dismiss", "button--big");
  d.setAttribute("aria-label", "Dismiss this group");
  d.addEventListener("click", () => dismiss(d, cluster));
  wrap.appendChild(d);
  acts.appendChild(wrap);
  li.appendChild(acts);
  forms.forEach((f) => li.appendChild(f));
  return li;
}

async function loadClusters(mine) {
  const found = await ctx.getJSON("/api/quality/clusters" + query({ limit: 30 }));
  if (mine !== seq) { return; }
  const list = $("q-clusters");
  ctx.clear(list);
  $("q-clusters-count").textContent = found.clusters.length
    ? ctx.plural(found.clustered, "open question", "open questions") + " in " + ctx.plural(found.clusters.length, "group", "groups") + ", largest first."
    : "No open unanswered questions in this range.";
  found.clusters.forEach((c, n) => list.appendChild(renderCluster(c, n)));
}

async function loadMarks(mine) {
  const marks = await ctx.getJSON("/api/quality/out-of-scope?state=active");
  if (mine !== seq) { return; }
  const list = $("q-marks");
  ctx.clear(list);
  $("q-marks-count").textContent = marks.length ? ctx.plural(marks.length, "active mark", "active marks") + "." : "No questions are marked out of scope.";
  marks.forEach((m) => {
    const li = ctx.el("li", "qmark");
    li.appendChild(ctx.el("p", "qmark__reason", "Reason shown: “" + m.reason + "”"));
    li.appendChild(ctx.el("p", "qmark__meta", "Questions like: " + m.questions.slice(0, 3).map((q) => "“" + q + "”").join(", ") +
      (m.questions.length > 3 ? " and " + (m.questions.length - 3) + " more" : "") + ". Marked by " + m.created_by + ", " + ctx.when(m.created_at) + "."));
    const undo = ctx.button("Undo", "button--big");
    undo.setAttribute("aria-label", "Undo the mark “" + m.reason + "”");
    undo.addEventListener("click", () => act(undo, async () => {
      const r = await ctx.call("DELETE", "/api/quality/out-of-scope/" + m.id);
      if (!r.ok) { throw await ctx.failure(r); }
      return "Undone: questions like these are answered as before, and are open again in the list.";
    }));
    li.appendChild(undo);
    list.appendChild(li);
  });
}

/** Loads the dashboard, the groups and the marks for the range; `quiet` keeps the messages. */
async function reload(quiet) {
  const mine = ++seq;
  const r = range();
  if (r.from && r.to && r.from > r.to) {
    sayError("The first day is after the last day: change one of them.");
    $("q-from").setAttribute("aria-invalid", "true");
    return;
  }
  $("q-from").removeAttribute("aria-invalid");
  if (!quiet) { sayError(""); }
  $("view-quality").setAttribute("aria-busy", "true");
  try {
    await Promise.all([loadDashboard(mine), loadClusters(mine), loadMarks(mine)]);
    if (mine === seq) { $("view-quality").dataset.loaded = String(mine); }
  } catch (err) {
    if (!(err && err.quiet)) { sayError(errorText(err)); }
  } finally {
    if (mine === seq) { $("view-quality").removeAttribute("aria-busy"); }
  }
}

export function showQuality() {
  if (!$("q-from").value && !$("q-to").value) {
    const today = new Date();
    $("q-to").value = isoDay(today);
    $("q-from").value = isoDay(new Date(today.getTime() - (DEFAULT_DAYS - 1) * DAY_MS));
  }
  say("");
  reload(false);
}

export function wireQuality(helpers) {
  ctx = helpers;
  if (window.Chart) {
    window.Chart.defaults.font.size = 14;
    window.Chart.defaults.color = "#1b1b1b";
  }
  $("q-range").addEventListener("submit", (e) => { e.preventDefault(); reload(false); });
  $("q-last-28").addEventListener("click", () => {
    $("q-from").value = "";
    $("q-to").value = "";
    showQuality();
  });
}
