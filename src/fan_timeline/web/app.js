// fan-timeline page: read a game through the API, pick windows, show the timeline.
// Vanilla JS, no dependencies, nothing from the network but this server. Every piece of text that
// comes from a request or a response is set with textContent, never parsed as HTML.
"use strict";

const SVG_NS = "http://www.w3.org/2000/svg";
const SENTIMENTS = ["positive", "negative", "mixed", "neutral"];
const $ = (id) => document.getElementById(id);

const state = {
  body: null,       // the game part of a request: {game, pbp, comment_files} or canonical rows
  windows: [],      // /v1/windows' windows
  selected: new Set(),
  series: null,
  game: null,
  last: null,       // the last timeline written: the API's answers merged (tests read it)
};

// ---------------------------------------------------------------- small DOM helpers

function el(tag, attrs = {}, text) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

function svg(tag, attrs = {}, text) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

function showError(message) {
  const box = $("error");
  box.textContent = message;
  box.hidden = !message;
}

function setStatus(text) {
  $("status").textContent = text;
}

// ---------------------------------------------------------------- API

function headers(json) {
  const h = {};
  if (json) h["Content-Type"] = "application/json";
  const key = $("api-key").value.trim();
  if (key) h["X-API-Key"] = key;
  return h;
}

function describeError(status, payload) {
  const detail = payload && payload.detail;
  if (Array.isArray(detail)) {
    return detail.map((d) => `${(d.loc || []).join(".")}: ${d.msg}`).join("\n");
  }
  if (typeof detail === "string") return detail;
  return `HTTP ${status}`;
}

async function api(method, path, body) {
  const response = await fetch(path, {
    method,
    headers: headers(body !== undefined),
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  let payload = null;
  try {
    payload = await response.json();
  } catch (e) {
    payload = null;
  }
  if (!response.ok) {
    let message = `${response.status}: ${describeError(response.status, payload)}`;
    const retry = response.headers.get("Retry-After");
    if (retry) message += ` (retry in ${retry} s)`;
    throw new Error(message);
  }
  return payload;
}

// ---------------------------------------------------------------- input

function bytesToBase64(bytes) {
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}

async function fileToRaw(file) {
  const bytes = new Uint8Array(await file.arrayBuffer());
  return { name: file.name, content: bytesToBase64(bytes), encoding: "base64" };
}

async function ownFilesBody() {
  const body = { game: {}, comment_files: [] };
  const gameText = $("game-json").value.trim();
  if (gameText) {
    try {
      body.game = JSON.parse(gameText);
    } catch (e) {
      throw new Error(`game.json is not valid JSON: ${e.message}`);
    }
  }
  const pbpText = $("pbp-text").value.trim();
  const pbpFile = $("pbp-file").files[0];
  if (pbpText) body.pbp = { name: "pasted play-by-play", content: pbpText, encoding: "text" };
  else if (pbpFile) body.pbp = await fileToRaw(pbpFile);
  else throw new Error("give a play-by-play file (or paste one), or pick a sample game");
  if ($("pbp-format").value) body.pbp.format = $("pbp-format").value;
  for (const f of $("comment-files").files) body.comment_files.push(await fileToRaw(f));
  const commentsText = $("comments-text").value.trim();
  if (commentsText) body.comment_files.push({ name: "pasted comments", content: commentsText, encoding: "text" });
  const commentFormat = $("comment-format").value;
  if (commentFormat) body.comment_files.forEach((f) => { f.format = commentFormat; });
  return body;
}

async function loadSamples() {
  const select = $("sample-select");
  try {
    const samples = await api("GET", "/v1/samples");
    select.replaceChildren(el("option", { value: "" }, samples.length ? "— pick one —" : "(no sample games on this server)"));
    for (const s of samples) {
      const label = `${s.id}: ${s.away || "?"} at ${s.home || "?"}${s.date ? ", " + s.date : ""} (${s.pbp}, ${s.comment_files.length} comment file${s.comment_files.length === 1 ? "" : "s"})`;
      select.appendChild(el("option", { value: s.id }, label));
    }
  } catch (e) {
    select.replaceChildren(el("option", { value: "" }, `(samples unavailable: ${e.message})`));
  }
}

async function readGame(body) {
  showError("");
  setStatus("");
  $("input-summary").textContent = "reading…";
  document.body.dataset.state = "reading";
  const result = await api("POST", "/v1/windows", body);
  state.body = { ...body, audience: result.audience };
  renderAudiences(result);
  state.last = null;
  document.body.dataset.state = "read";
  state.windows = result.windows;
  state.series = result.series;
  state.game = result.game;
  state.selected = new Set(result.windows.map((w) => w.index));
  $("progress").hidden = true;
  $("input-summary").textContent = inputSummary(result);
  renderWindows();
  $("windows-panel").hidden = false;
  $("result-panel").hidden = false;
  $("cards").replaceChildren();
  $("report").textContent = "";
  renderLegend();
  renderChart([]);
}

function inputSummary(r) {
  const g = r.game;
  const i = r.input;
  const parts = [`${g.away_team} at ${g.home_team}${g.date ? ", " + g.date : ""}: ${g.n_plays} plays, ${g.n_comments} comments aligned.`];
  if (i.kind === "raw") {
    parts.push(`Play-by-play ${i.pbp_format}; comments ${i.comment_formats.length ? i.comment_formats.join(", ") : "none"}.`);
  } else {
    parts.push("Canonical rows.");
  }
  const a = i.alignment;
  if (a.method) parts.push(`Aligned by ${a.method}${a.expected_error_s != null ? ` (±${a.expected_error_s} s expected)` : ""}${a.reaction_lag_s != null ? `, reaction lag ${a.reaction_lag_s} s` : ""}.`);
  const rejected = i.plays.rejected + i.comments.rejected;
  if (rejected) parts.push(`Not kept: ${i.plays.rejected} plays, ${i.comments.rejected} comments (${Object.entries(i.comments.rejected_by_reason).map(([k, v]) => `${k} ${v}`).join(", ")}).`);
  parts.push(`${r.windows.length} windows of ${r.params.window_s} s (params from ${r.params.source}).`);
  if (r.params.warning) parts.push(`Note: ${r.params.warning}`);
  return parts.join(" ");
}

// ---------------------------------------------------------------- windows

function renderAudiences(r) {
  const select = $("audience-select");
  select.replaceChildren();
  for (const a of r.audiences) {
    const who = a.team ? `${a.team} fans` : "fan's team by flair";
    select.appendChild(el("option", { value: a.audience }, `${a.audience} (${who}, ${a.comments} comments)`));
  }
  select.value = r.audience;
}

async function switchAudience() {
  if (!state.body) return;
  await readGame({ ...state.body, audience: $("audience-select").value });
}

function renderWindows() {
  const list = $("window-list");
  list.replaceChildren();
  for (const w of state.windows) {
    const chip = el("button", { type: "button", class: "chip", "data-index": String(w.index), "aria-pressed": "true" });
    chip.appendChild(el("strong", {}, `#${w.index} ${w.start}–${w.end.split(" ")[1] || w.end}`));
    chip.appendChild(el("span", {}, `${w.candidates} plays · ${w.comments} comments${w.comments_trimmed ? ` · ${w.comments_trimmed} trimmed` : ""}`));
    chip.addEventListener("click", () => {
      if (state.selected.has(w.index)) state.selected.delete(w.index);
      else state.selected.add(w.index);
      syncChips();
    });
    list.appendChild(chip);
  }
  syncChips();
}

function syncChips() {
  for (const chip of $("window-list").children) {
    chip.setAttribute("aria-pressed", state.selected.has(Number(chip.dataset.index)) ? "true" : "false");
  }
  $("selection-count").textContent = `${state.selected.size} of ${state.windows.length} selected`;
  $("generate").disabled = state.selected.size === 0;
}

// ---------------------------------------------------------------- timeline

const WINDOWS_PER_REQUEST = 4;   // a request per few windows: the progress bar moves, a long game never times out

function mergeResults(parts) {
  // one answer from the answers of consecutive groups of windows, as the API merges one request's
  const last = parts[parts.length - 1];
  const timeline = parts.flatMap((p) => p.timeline).sort((a, b) => clockSeconds(a.ts) - clockSeconds(b.ts));
  const sum = (f) => parts.reduce((n, p) => n + f(p), 0);
  return {
    ...last,
    timeline,
    windows: parts.flatMap((p) => p.windows),
    merge: { duplicates_dropped: sum((p) => p.merge.duplicates_dropped) },
    trimmed: { ...last.trimmed, comments_trimmed: sum((p) => p.trimmed.comments_trimmed) },
    generation: { ...last.generation, new_tokens: sum((p) => p.generation.new_tokens),
                  seconds: Math.round(sum((p) => p.generation.seconds) * 10) / 10 },
  };
}

async function generate(windows) {
  if (!state.body || !windows.length) return;
  showError("");
  const buttons = [$("write-game"), $("generate")];
  buttons.forEach((b) => { b.disabled = true; });
  const bar = $("progress");
  bar.hidden = false;
  bar.max = windows.length;
  bar.value = 0;
  document.body.dataset.state = "writing";
  const t0 = performance.now();
  const parts = [];
  try {
    for (let i = 0; i < windows.length; i += WINDOWS_PER_REQUEST) {
      setStatus(`writing: ${i} of ${windows.length} windows done`);
      parts.push(await api("POST", "/v1/timeline", { ...state.body, windows: windows.slice(i, i + WINDOWS_PER_REQUEST) }));
      bar.value = Math.min(windows.length, i + WINDOWS_PER_REQUEST);
      renderTimeline(mergeResults(parts));   // the moments so far
    }
    state.last = mergeResults(parts);
    setStatus(`done in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    document.body.dataset.state = "done";
  } catch (e) {
    setStatus("");
    showError(e.message);
    document.body.dataset.state = "error";
  } finally {
    buttons.forEach((b) => { b.disabled = false; });
    syncChips();
  }
}

function clockSeconds(ts) {
  // "Q4 01:50" / "OT1 04:59" -> game seconds elapsed (12-minute quarters, 5-minute overtimes)
  const m = /^(Q([1-4])|OT([1-9])) (\d{2}):(\d{2})$/.exec(ts);
  if (!m) return 0;
  const period = m[2] ? Number(m[2]) : 4 + Number(m[3]);
  const length = (p) => (p <= 4 ? 720 : 300);
  let before = 0;
  for (let p = 1; p < period; p++) before += length(p);
  return before + length(period) - (Number(m[4]) * 60 + Number(m[5]));
}

function renderTimeline(result) {
  state.series = result.series;
  const cards = $("cards");
  cards.replaceChildren();
  result.timeline.forEach((entry, k) => {
    const card = el("li", { class: `card sentiment-${entry.fan_sentiment}`, "data-ts": entry.ts });
    const head = el("div", { class: "card-head" });
    head.appendChild(el("span", { class: "num" }, String(k + 1)));
    head.appendChild(el("span", { class: "ts" }, entry.ts));
    head.appendChild(el("span", { class: "pill" }, entry.fan_sentiment));
    card.appendChild(head);
    card.appendChild(el("p", { class: "event" }, entry.event));
    if (entry.quote) card.appendChild(el("blockquote", { class: "quote" }, entry.quote));
    cards.appendChild(card);
  });
  if (!result.timeline.length) cards.appendChild(el("li", { class: "empty" }, "No moments in these windows."));
  const t = result.trimmed;
  const g = result.generation;
  $("report").textContent =
    `${result.timeline.length} moment${result.timeline.length === 1 ? "" : "s"} from ${result.windows.length} of ${result.windows_total} windows` +
    (result.merge.duplicates_dropped ? ` (${result.merge.duplicates_dropped} repeated across windows dropped)` : "") +
    ` for ${result.audience}. Prompts showed ${result.windows.reduce((n, w) => n + w.candidates, 0)} candidate plays and` +
    ` ${result.windows.reduce((n, w) => n + w.comments_shown, 0)} of their reactions` +
    ` (${t.comments_trimmed} trimmed for the token budget).` +
    ` ${g.new_tokens} tokens in ${g.seconds} s, constrained to schema ${g.schema_version}.`;
  renderChart(result.timeline);
}

// ---------------------------------------------------------------- chart

function renderLegend() {
  const legend = $("legend");
  legend.replaceChildren();
  const g = state.game;
  const items = [["home", `${g.home_team} (home)`], ["away", `${g.away_team} (away)`], ["volume", "comments per minute"]];
  for (const s of SENTIMENTS) items.push([`sentiment-${s}`, s]);
  for (const [cls, label] of items) {
    const item = el("span", { class: "legend-item" });
    item.appendChild(el("i", { class: `swatch ${cls}` }));
    item.appendChild(document.createTextNode(label));
    legend.appendChild(item);
  }
}

function renderChart(entries) {
  const chart = $("chart");
  chart.replaceChildren();
  const s = state.series;
  if (!s) return;
  const left = 44, right = 990, top = 28, scoreBottom = 190, volTop = 204, volBottom = 262, axisY = 268;
  const x = (t) => left + (Math.min(Math.max(t, 0), s.end_s) / s.end_s) * (right - left);
  const maxScore = Math.max(10, ...s.score.map((p) => Math.max(p.home, p.away)));
  const y = (v) => scoreBottom - (v / maxScore) * (scoreBottom - top);

  // period bands and the game-clock axis
  s.periods.forEach((p, k) => {
    const end = k + 1 < s.periods.length ? s.periods[k + 1].start_s : s.end_s;
    chart.appendChild(svg("rect", { x: x(p.start_s), y: top - 8, width: x(end) - x(p.start_s), height: volBottom - top + 8, class: k % 2 ? "band odd" : "band" }));
    chart.appendChild(svg("text", { x: (x(p.start_s) + x(end)) / 2, y: axisY + 22, class: "axis-label", "text-anchor": "middle" }, p.label));
    for (let m = 0; p.start_s + m * 60 <= end; m += 3) {
      const t = p.start_s + m * 60;
      chart.appendChild(svg("line", { x1: x(t), x2: x(t), y1: axisY, y2: axisY + 5, class: "tick" }));
    }
  });
  chart.appendChild(svg("line", { x1: left, x2: right, y1: axisY, y2: axisY, class: "axis" }));
  chart.appendChild(svg("text", { x: left - 6, y: y(maxScore) + 4, class: "axis-label", "text-anchor": "end" }, String(maxScore)));
  chart.appendChild(svg("text", { x: left - 6, y: scoreBottom + 4, class: "axis-label", "text-anchor": "end" }, "0"));

  // comment volume
  const maxCount = Math.max(1, ...s.volume.map((v) => v.count));
  for (const v of s.volume) {
    const h = (v.count / maxCount) * (volBottom - volTop);
    const bar = svg("rect", { x: x(v.start_s) + 0.5, y: volBottom - h, width: Math.max(0.5, x(v.end_s) - x(v.start_s) - 1), height: h, class: "volume" });
    bar.appendChild(svg("title", {}, `${v.count} comments`));
    chart.appendChild(bar);
  }

  // score lines (step: the score holds until the next basket)
  for (const side of ["home", "away"]) {
    let d = "";
    s.score.forEach((p, k) => {
      d += k === 0 ? `M${x(p.game_s)},${y(p[side])}` : `H${x(p.game_s)}V${y(p[side])}`;
    });
    d += `H${x(s.end_s)}`;
    chart.appendChild(svg("path", { d, class: `score ${side}` }));
  }
  const last = s.score[s.score.length - 1];
  const g = state.game;
  chart.appendChild(svg("text", { x: right, y: 14, class: "axis-label", "text-anchor": "end" },
    `${g.away_team} ${last.away} – ${last.home} ${g.home_team}`));

  // generated windows and moments
  if (state.last) {
    for (const w of state.last.windows) {
      chart.appendChild(svg("rect", { x: x(w.start_s), y: top - 8, width: x(w.end_s) - x(w.start_s), height: 4, class: "window-mark" }));
    }
  }
  entries.forEach((e, k) => {
    const t = clockSeconds(e.ts);
    const g = svg("g", { class: `moment sentiment-${e.fan_sentiment}` });
    g.appendChild(svg("line", { x1: x(t), x2: x(t), y1: top, y2: volBottom, class: "moment-line" }));
    g.appendChild(svg("circle", { cx: x(t), cy: top + 4 + (k % 3) * 14, r: 7 }));
    g.appendChild(svg("text", { x: x(t), y: top + 8 + (k % 3) * 14, "text-anchor": "middle", class: "moment-num" }, String(k + 1)));
    g.appendChild(svg("title", {}, `${e.ts} ${e.event}${e.quote ? ` — “${e.quote}”` : ""}`));
    chart.appendChild(g);
  });
}

// ---------------------------------------------------------------- wiring

async function loadVersion() {
  try {
    const v = await api("GET", "/version");
    $("version").textContent = `model ${v.model} · schema ${v.schema_version}${v.git_commit ? ` · built from ${v.git_commit.slice(0, 7)}` : ""}`;
  } catch (e) {
    $("version").textContent = "";
  }
}

function guard(fn) {
  return async (...args) => {
    try {
      await fn(...args);
    } catch (e) {
      $("input-summary").textContent = "";
      showError(e.message);
    }
  };
}

$("load-sample").addEventListener("click", guard(async () => {
  const id = $("sample-select").value;
  if (!id) throw new Error("pick a sample game first");
  const body = await api("GET", `/v1/samples/${encodeURIComponent(id)}`);
  await readGame(body);
}));
$("read-own").addEventListener("click", guard(async () => readGame(await ownFilesBody())));
$("audience-select").addEventListener("change", () => switchAudience().catch((e) => showError(e.message)));
$("select-all").addEventListener("click", () => { state.selected = new Set(state.windows.map((w) => w.index)); syncChips(); });
$("select-none").addEventListener("click", () => { state.selected = new Set(); syncChips(); });
$("write-game").addEventListener("click", () => generate(state.windows.map((w) => w.index)));
$("generate").addEventListener("click", () => generate([...state.selected].sort((a, b) => a - b)));
$("api-key").addEventListener("change", loadSamples);

window.fanTimeline = state;   // for tests and the curious: the last response is state.last
loadVersion();
loadSamples();
