// The demo page: a live chart (fetch + ndjson), a chat box (fetch + ndjson, Stop aborts)
// and an EventSource view of a resumable stream. No framework, no build step.

import { readNdjson } from "./ndjson.js";

const $ = (id) => document.getElementById(id);

// The API key lives in this variable only: never in storage, cookies or the URL.
let apiKey = "";
$("api-key").addEventListener("input", (e) => { apiKey = e.target.value.trim(); });

function authHeaders(extra = {}) {
  return apiKey ? { ...extra, Authorization: `Bearer ${apiKey}` } : extra;
}

function setStatus(el, state, text = state) {
  el.dataset.state = state;
  el.textContent = text;
}

// Only same-origin paths: the key goes with every fetch, so a link must not be able to
// point the page (and the key) at another host.
function sameOriginUrl(value, fallback) {
  try {
    const url = new URL(value, location.origin);
    if (url.origin === location.origin) return url.pathname + url.search;
  } catch { /* fall through */ }
  return fallback;
}

// A failure before the first byte is a real HTTP status with a JSON error body.
async function httpError(response) {
  let detail = response.statusText;
  try {
    const body = await response.json();
    if (body && body.error) detail = `${body.error.type}: ${body.error.message}`;
  } catch { /* not JSON */ }
  return `HTTP ${response.status} ${detail}`;
}

// Runs one ndjson fetch; returns "complete" | "error" | "incomplete" | "stopped".
async function runStream({ url, init, statusEl, detailEl, onRecord, signal }) {
  setStatus(statusEl, "streaming");
  detailEl.textContent = "";
  try {
    const response = await fetch(url, { ...init, signal });
    if (!response.ok) {
      setStatus(statusEl, "error");
      detailEl.textContent = await httpError(response);
      return "error";
    }
    const outcome = await readNdjson(response, (record) => {
      if (record.event === "error") {
        detailEl.textContent = `${record.error.type}: ${record.error.message}`;
      }
      onRecord(record);
    });
    setStatus(statusEl, outcome);
    if (outcome === "incomplete") {
      detailEl.textContent = "the stream ended without an end record: the data may be partial";
    }
    return outcome;
  } catch (err) {
    if (err && err.name === "AbortError") {
      setStatus(statusEl, "stopped");
      return "stopped";
    }
    setStatus(statusEl, "error");
    detailEl.textContent = `request failed: ${err && err.message ? err.message : err}`;
    return "error";
  }
}

// ---- Live chart -------------------------------------------------------------------------

const chart = {
  canvas: $("chart"),
  points: [], // numeric y values, in arrival order
  records: 0,
  pending: false,
  controller: null,
};

function pointValue(data) {
  if (typeof data === "number") return data;
  if (data && typeof data.y === "number") return data.y;
  return null;
}

function drawChart() {
  chart.pending = false;
  const { canvas, points } = chart;
  const ratio = window.devicePixelRatio || 1;
  const w = canvas.clientWidth;
  const h = canvas.clientHeight;
  if (canvas.width !== Math.round(w * ratio)) canvas.width = Math.round(w * ratio);
  if (canvas.height !== Math.round(h * ratio)) canvas.height = Math.round(h * ratio);
  const ctx = canvas.getContext("2d");
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  ctx.clearRect(0, 0, w, h);

  const pad = { left: 44, right: 12, top: 12, bottom: 22 };
  const plotW = w - pad.left - pad.right;
  const plotH = h - pad.top - pad.bottom;
  let lo = points.length ? points.reduce((a, b) => Math.min(a, b)) : 0;
  let hi = points.length ? points.reduce((a, b) => Math.max(a, b)) : 1;
  if (hi - lo < 1e-9) { lo -= 1; hi += 1; }
  const span = Math.max(points.length - 1, 1);
  const x = (i) => pad.left + (plotW * i) / span;
  const y = (v) => pad.top + plotH - ((v - lo) / (hi - lo)) * plotH;

  ctx.strokeStyle = "#e3e7ee";
  ctx.fillStyle = "#6b7280";
  ctx.lineWidth = 1;
  ctx.font = "11px system-ui, sans-serif";
  ctx.textAlign = "right";
  ctx.textBaseline = "middle";
  for (let k = 0; k <= 4; k++) {
    const v = lo + ((hi - lo) * k) / 4;
    const yy = Math.round(y(v)) + 0.5;
    ctx.beginPath();
    ctx.moveTo(pad.left, yy);
    ctx.lineTo(w - pad.right, yy);
    ctx.stroke();
    ctx.fillText(v.toFixed(1), pad.left - 6, yy);
  }
  ctx.textAlign = "left";
  ctx.textBaseline = "alphabetic";
  ctx.fillText(`${points.length} points`, pad.left, h - 6);
  if (!points.length) return;

  ctx.strokeStyle = "#2563eb";
  ctx.lineWidth = 2;
  ctx.lineJoin = "round";
  ctx.beginPath();
  points.forEach((v, i) => (i ? ctx.lineTo(x(i), y(v)) : ctx.moveTo(x(i), y(v))));
  ctx.stroke();
  const last = points.length - 1;
  ctx.fillStyle = "#2563eb";
  ctx.beginPath();
  ctx.arc(x(last), y(points[last]), 3.5, 0, 2 * Math.PI);
  ctx.fill();
}

function scheduleDraw() {
  if (!chart.pending) {
    chart.pending = true;
    requestAnimationFrame(drawChart);
  }
}

async function startChart() {
  chart.controller?.abort();
  const controller = new AbortController();
  chart.controller = controller;
  chart.points = [];
  chart.records = 0;
  $("series-count").textContent = "0";
  scheduleDraw();
  $("series-start").disabled = true;
  $("series-stop").disabled = false;
  const url = sameOriginUrl($("series-src").value, "/stream/series?format=ndjson");
  await runStream({
    url,
    init: { headers: authHeaders({ Accept: "application/x-ndjson" }) },
    statusEl: $("series-status"),
    detailEl: $("series-detail"),
    signal: controller.signal,
    onRecord: (record) => {
      if (record.event !== "data") return;
      chart.records += 1;
      const v = pointValue(record.data);
      if (v !== null) chart.points.push(v);
      $("series-count").textContent = String(chart.records);
      scheduleDraw();
    },
  });
  if (chart.controller === controller) {
    $("series-start").disabled = false;
    $("series-stop").disabled = true;
  }
}

$("series-start").addEventListener("click", startChart);
$("series-stop").addEventListener("click", () => chart.controller?.abort());
window.addEventListener("resize", scheduleDraw);

// ---- Chat -------------------------------------------------------------------------------

let chatController = null;

$("chat-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const content = $("chat-input").value.trim();
  if (!content || chatController) return;
  const controller = new AbortController();
  chatController = controller;
  const answer = $("chat-answer");
  answer.textContent = "";
  $("chat-usage").textContent = "";
  $("chat-send").disabled = true;
  $("chat-stop").disabled = false;
  let tokens = 0;
  await runStream({
    url: "/chat?format=ndjson",
    init: {
      method: "POST",
      headers: authHeaders({ "Content-Type": "application/json" }),
      body: JSON.stringify({ messages: [{ role: "user", content }] }),
    },
    statusEl: $("chat-status"),
    detailEl: $("chat-detail"),
    signal: controller.signal,
    onRecord: (record) => {
      if (record.event === "data") {
        tokens += 1;
        answer.append(typeof record.data === "string" ? record.data : JSON.stringify(record.data));
        $("chat-tokens").textContent = String(tokens);
      } else if (record.event === "end" && record.usage) {
        const u = record.usage;
        $("chat-usage").textContent =
          `${u.prompt_tokens} prompt + ${u.completion_tokens} completion tokens`;
      }
    },
  });
  chatController = null;
  $("chat-send").disabled = false;
  $("chat-stop").disabled = true;
});

$("chat-stop").addEventListener("click", () => chatController?.abort());

// ---- EventSource view of a resumable stream ---------------------------------------------

const sse = { source: null, id: null, token: null, lastId: 0, reconnects: 0, refreshed: false };

function sseLog(text, cls = "") {
  const li = document.createElement("li");
  li.textContent = text;
  if (cls) li.className = cls;
  const log = $("sse-log");
  log.append(li);
  log.scrollTop = log.scrollHeight;
}

function sseInfo() {
  $("sse-info").textContent =
    `stream ${sse.id ?? "-"} · last id ${sse.lastId} · reconnects ${sse.reconnects}`;
}

function sseFinish(state, detail = "") {
  sse.source?.close();
  sse.source = null;
  setStatus($("sse-status"), state);
  $("sse-detail").textContent = detail;
  $("sse-start").disabled = false;
  $("sse-resume").disabled = true;
}

// EventSource reconnects by itself to the same URL and sends Last-Event-ID, and
// /streams/<id> replays what came after it: nothing is lost or repeated. It cannot send
// Authorization: with keys on, the short-lived read token of this one stream (X-Stream-Token)
// goes in the URL instead; it reads this stream and nothing else.
function sseOpen(afterId) {
  let query = afterId ? `&last_event_id=${afterId}` : "";
  if (sse.token) query += `&token=${encodeURIComponent(sse.token)}`;
  const source = new EventSource(`/streams/${encodeURIComponent(sse.id)}?format=sse${query}`);
  sse.source = source;
  source.onopen = () => setStatus($("sse-status"), "streaming");
  source.onmessage = (e) => {
    sse.refreshed = false;
    sse.lastId = Number(e.lastEventId);
    sseLog(`#${e.lastEventId} ${e.data}`);
    sseInfo();
  };
  source.addEventListener("end", (e) => {
    const end = JSON.parse(e.data);
    sseLog(`end: ${end.count} records`, "end");
    sseFinish("complete");
  });
  source.addEventListener("error", (e) => {
    if (e instanceof MessageEvent) { // the server's `event: error`
      const err = JSON.parse(e.data);
      // The read token ran out under a reader that is still following: renew it and go on.
      if (err.type === "token_expired" && apiKey && !sse.refreshed) return sseRefresh();
      sseLog(`error: ${err.type}`, "error");
      sseFinish("error", `${err.type}: ${err.message}`);
    } else if (source.readyState === EventSource.CONNECTING) { // dropped: retrying
      sse.reconnects += 1;
      setStatus($("sse-status"), "reconnecting");
      sseLog(`connection lost after id ${sse.lastId}: reconnecting with Last-Event-ID`, "note");
      sseInfo();
    } else if (sse.source === source) { // CLOSED: the browser gave up (e.g. 401, 404)
      if (sse.token && apiKey && !sse.refreshed) return sseRefresh();
      sseFinish("incomplete", "the connection closed before the end record");
    }
  });
}

// A read token expires (STREAMER_TOKEN_TTL_S). With the key at hand, ask /streams/<id> for a
// fresh one (any response to a key carries one) and carry on from the last id.
async function sseRefresh() {
  sse.refreshed = true;
  sse.source?.close();
  try {
    const response = await fetch(
      `/streams/${encodeURIComponent(sse.id)}?format=ndjson&last_event_id=${sse.lastId}`,
      { headers: authHeaders() });
    if (!response.ok) return sseFinish("error", await httpError(response));
    sse.token = response.headers.get("X-Stream-Token");
    await response.body.cancel();
  } catch (err) {
    return sseFinish("error", `request failed: ${err.message}`);
  }
  sseLog(`read token renewed: resuming after id ${sse.lastId}`, "note");
  sseOpen(sse.lastId);
}

$("sse-start").addEventListener("click", async () => {
  sse.source?.close();
  Object.assign(sse, { source: null, id: null, token: null, lastId: 0, reconnects: 0,
                       refreshed: false });
  $("sse-log").textContent = "";
  $("sse-start").disabled = true;
  setStatus($("sse-status"), "starting");
  // EventSource can only GET the URL it is given: start the resumable stream with fetch,
  // keep its id, leave (a resumable stream keeps running) and follow it with EventSource.
  try {
    const response = await fetch(sameOriginUrl($("sse-src").value, "/stream/data?resumable=1"),
                                 { headers: authHeaders({ Accept: "application/x-ndjson" }) });
    if (!response.ok) return sseFinish("error", await httpError(response));
    sse.id = response.headers.get("X-Stream-Id");
    sse.token = response.headers.get("X-Stream-Token");
    await response.body.cancel();
    if (!sse.id) return sseFinish("error", "no X-Stream-Id: the stream is not resumable");
  } catch (err) {
    return sseFinish("error", `request failed: ${err.message}`);
  }
  sseInfo();
  $("sse-resume").disabled = false;
  sseOpen(0);
});

// Drop the connection on purpose and come back where it left off.
$("sse-resume").addEventListener("click", () => {
  if (!sse.source) return;
  sse.source.close();
  sse.reconnects += 1;
  sseLog(`dropped after id ${sse.lastId}: resuming with last_event_id=${sse.lastId}`, "note");
  sseInfo();
  sseOpen(sse.lastId);
});

// ---- Start-up ---------------------------------------------------------------------------

// ?series=... and ?sse=... preset the stream URLs (same origin only), e.g. for tests.
const params = new URLSearchParams(location.search);
if (params.has("series")) $("series-src").value = params.get("series");
if (params.has("sse")) $("sse-src").value = params.get("sse");
scheduleDraw();
document.body.dataset.ready = "1";
