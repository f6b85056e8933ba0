// comfy-local toolbar page: instance tiles, connection test, workflow runs with live events,
// output gallery, model installs. Talks only to this backend's /api (same origin). Every value
// from the server is put into the page as text (textContent), never as HTML.
"use strict";

const POLL_MS = 3000;
const TOKEN_KEY = "comfy-backend-token";

const state = {
  instances: [],
  selected: null,
  workflow: null,
  inputs: [],
  runJob: null,
  modelJob: null,
  runAbort: null,
  modelAbort: null,
  objectUrls: [],
  tokenNeeded: false,
  tilesKey: null,
  runBusy: false,
  modelBusy: false,
};

const $ = (id) => document.getElementById(id);


function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(child);
  }
  return node;
}

function svgIcon(name) {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("class", "icon");
  svg.setAttribute("aria-hidden", "true");
  const use = document.createElementNS(ns, "use");
  use.setAttribute("href", `#i-${name}`);
  svg.append(use);
  return svg;
}

// ---- API ----

class ApiError extends Error {
  constructor(status, code, message, hint) {
    super(message);
    this.status = status;
    this.code = code;
    this.hint = hint;
  }
}

function token() {
  try {
    return sessionStorage.getItem(TOKEN_KEY) || "";
  } catch {
    return "";
  }
}

function authHeaders(extra) {
  const headers = new Headers(extra || {});
  const t = token();
  if (t) headers.set("Authorization", `Bearer ${t}`);
  return headers;
}

async function errorFrom(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  const err = body && typeof body === "object" && body.error && typeof body.error === "object" ? body.error : {};
  const message = typeof err.message === "string" ? err.message : `the backend answered ${response.status} ${response.statusText}`;
  const hint = typeof err.hint === "string" ? err.hint : null;
  const code = typeof err.code === "string" ? err.code : "http_" + response.status;
  if (response.status === 401) askForToken(message);
  return new ApiError(response.status, code, message, hint);
}

async function api(path, options) {
  const opts = Object.assign({ cache: "no-store" }, options || {});
  opts.headers = authHeaders(opts.headers);
  let response;
  try {
    response = await fetch(path, opts);
  } catch (e) {
    if (e && e.name === "AbortError") throw e;
    throw new ApiError(0, "unreachable", "the backend does not answer", "is comfy-backend still running?");
  }
  if (!response.ok) throw await errorFrom(response);
  return response;
}

async function apiJson(path, options) {
  const response = await api(path, options);
  return response.json();
}

function postJson(path, body) {
  return apiJson(path, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: body === undefined ? "" : JSON.stringify(body),
  });
}

// Server-Sent Events read with fetch (EventSource cannot send the Authorization header).
// Resumes with Last-Event-ID when the stream breaks before `done` or `error`.
async function streamEvents(jobId, onEvent, signal) {
  let lastId = null;
  for (let attempt = 0; attempt < 30; attempt++) {
    const headers = { Accept: "text/event-stream" };
    if (lastId !== null) headers["Last-Event-ID"] = String(lastId);
    const response = await api(`/api/jobs/${encodeURIComponent(jobId)}/events`, { headers, signal });
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    let event = { name: "message", data: "", id: null };
    for (;;) {
      let chunk;
      try {
        chunk = await reader.read();
      } catch (e) {
        if (signal && signal.aborted) throw e;
        break;
      }
      if (chunk.done) break;
      buffer += chunk.value;
      let newline;
      while ((newline = buffer.search(/\r\n|\r|\n/)) >= 0) {
        const line = buffer.slice(0, newline);
        buffer = buffer.slice(newline + (buffer.startsWith("\r\n", newline) ? 2 : 1));
        if (line === "") {
          if (event.data !== "" || event.name !== "message") {
            if (event.id !== null) lastId = event.id;
            let data = null;
            try {
              data = JSON.parse(event.data);
            } catch {
              data = { raw: event.data };
            }
            const terminal = event.name === "done" || event.name === "error";
            onEvent(event.name, data && typeof data === "object" ? data : { value: data });
            if (terminal) return;
          }
          event = { name: "message", data: "", id: null };
          continue;
        }
        if (line.startsWith(":")) continue;
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        let value = colon < 0 ? "" : line.slice(colon + 1);
        if (value.startsWith(" ")) value = value.slice(1);
        if (field === "event") event.name = value;
        else if (field === "data") event.data = event.data === "" ? value : event.data + "\n" + value;
        else if (field === "id") event.id = value;
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
  throw new ApiError(0, "stream_lost", "lost the job's event stream", "reload the page to see the job's state");
}

// ---- Messages ----

function showMessage(target, error, ok) {
  const box = $(target);
  box.replaceChildren();
  box.classList.toggle("ok", Boolean(ok));
  if (!error) return;
  if (typeof error === "string") {
    box.append(error);
    return;
  }
  box.append(el("strong", { text: error.message || String(error) }));
  if (error.hint) box.append(el("span", { class: "hint", text: error.hint }));
}

// ---- Token ----

function askForToken(message) {
  state.tokenNeeded = true;
  $("token-button").hidden = false;
  const dialog = $("token-dialog");
  if (dialog.open) return;
  showMessage("token-message", token() ? { message, hint: "the saved token was refused; enter it again" } : null);
  $("token-input").value = "";
  dialog.showModal();
}

function setUpToken() {
  $("token-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const value = $("token-input").value.trim();
    if (!value) {
      showMessage("token-message", { message: "enter the token" });
      return;
    }
    try {
      sessionStorage.setItem(TOKEN_KEY, value);
    } catch {
      showMessage("token-message", { message: "this browser does not let the page keep the token" });
      return;
    }
    $("token-dialog").close();
    refreshAll();
  });
  $("token-cancel").addEventListener("click", () => $("token-dialog").close());
  $("token-button").addEventListener("click", () => askForToken("enter the backend token"));
}

// ---- Instances ----

function money(n) {
  return typeof n === "number" && Number.isFinite(n) ? `$${n.toFixed(2)}/hr` : "–";
}

function mb(n) {
  if (typeof n !== "number") return null;
  return n >= 1024 ? `${(n / 1024).toFixed(1)} GB` : `${n} MB`;
}

function dotClass(inst) {
  if (inst.online) return "online";
  if (["configured", "loading", "starting", "scheduling"].includes(inst.status)) return "pending";
  return "offline";
}

function gpuPlaceholder(inst) {
  if (inst.provider !== "local") return "GPU unknown";
  if (inst.status === "configured") return "checking…";
  if (inst.status === "disabled") return "disabled in the config";
  return inst.online ? "GPU not reported" : "ComfyUI does not answer";
}

// Why runs and tests refuse this instance (GET /api/instances' `unusable`), with the hint as
// the tooltip; nothing when it is usable.
function unusableNote(inst) {
  if (inst.usable !== false || !inst.unusable) return null;
  return el("span", {
    class: "tile-unusable",
    title: inst.unusable.hint || null,
    text: `Not usable: ${inst.unusable.reason}`,
  });
}

function tile(inst) {
  const local = inst.provider === "local";
  const selected = state.selected === inst.id;
  const statusWord = inst.status || (inst.online ? "online" : "offline");
  const vramUsed = typeof inst.vram_total_mb === "number" && typeof inst.vram_free_mb === "number"
    ? inst.vram_total_mb - inst.vram_free_mb : null;
  const vramText = vramUsed !== null
    ? `${mb(vramUsed)} / ${mb(inst.vram_total_mb)}`
    : (typeof inst.vram_total_mb === "number" ? `${mb(inst.vram_total_mb)} total` : "–");
  const queueText = typeof inst.queue_running === "number" || typeof inst.queue_pending === "number"
    ? `${inst.queue_running ?? 0} running · ${inst.queue_pending ?? 0} waiting` : "–";
  const bar = el("span");
  if (vramUsed !== null && inst.vram_total_mb > 0) {
    bar.style.width = `${Math.min(100, Math.max(0, (100 * vramUsed) / inst.vram_total_mb)).toFixed(1)}%`;
  }
  const price = local
    ? el("span", { class: "price" }, el("span", { class: "badge-free", text: "FREE" }), el("span", { class: "amount", text: money(0) }))
    : el("span", { class: "price" }, el("span", { class: "amount", text: money(inst.cost_per_hour) }));
  const select = el("button", {
    type: "button",
    class: "tile-select",
    "aria-pressed": selected ? "true" : "false",
    onclick: () => selectInstance(inst.id),
  },
  el("span", { class: "tile-top" },
    el("span", { class: "tile-icon" }, svgIcon(local ? "house" : "cloud")),
    el("span", { class: "tile-title" },
      el("span", { class: "tile-name", text: inst.name }),
      el("span", { class: "tile-sub" },
        el("span", { class: `dot ${dotClass(inst)}`, "aria-hidden": "true" }),
        el("span", { class: "status-word", text: statusWord }),
        el("span", { text: "·" }),
        el("span", { text: local ? "local" : "VastAI" })))),
  price,
  el("span", { class: "tile-gpu", text: inst.gpu || gpuPlaceholder(inst) }),
  unusableNote(inst),
  el("span", { class: "stats" },
    el("span", { text: "VRAM" }), el("strong", { class: "vram-text", text: vramText }),
    el("span", { class: "vram", "aria-hidden": "true" }, bar),
    el("span", { text: "Queue" }), el("strong", { class: "queue-text", text: queueText })));
  const test = el("button", {
    type: "button",
    class: "btn test-connection",
    "data-instance": inst.id,
    onclick: (e) => testConnection(inst, e.currentTarget),
  }, svgIcon("plug"), "Test connection");
  return el("div", {
    class: `tile ${local ? "local" : "vastai"}${selected ? " selected" : ""}${inst.usable === false ? " unusable" : ""}`,
    role: "listitem",
    "data-instance": inst.id,
    "data-provider": inst.provider,
  }, select, el("div", { class: "tile-actions" }, test));
}

function renderTiles() {
  const box = $("tiles");
  // Re-render only on change: a poll must not replace the button under the user's pointer.
  const key = JSON.stringify([state.selected, state.instances]);
  if (key === state.tilesKey) return;
  state.tilesKey = key;
  const focusedId = document.activeElement && document.activeElement.closest(".tile")
    ? document.activeElement.closest(".tile").dataset.instance : null;
  const focusedTest = document.activeElement && document.activeElement.classList.contains("test-connection");
  const busy = new Set([...box.querySelectorAll(".test-connection.busy")].map((b) => b.dataset.instance));
  box.replaceChildren(...state.instances.map(tile));
  box.setAttribute("aria-busy", "false");
  for (const id of busy) {
    const b = box.querySelector(`.tile[data-instance="${CSS.escape(id)}"] .test-connection`);
    if (b) { b.classList.add("busy"); b.setAttribute("aria-busy", "true"); }
  }
  if (focusedId !== null) {
    const t = box.querySelector(`.tile[data-instance="${CSS.escape(focusedId)}"]`);
    const target = t && t.querySelector(focusedTest ? ".test-connection" : ".tile-select");
    if (target) target.focus();
  }
  if (state.instances.length === 0) {
    box.append(el("p", { class: "muted", text: "No instances: add one under local: in the config, or enable vastai." }));
  }
}

function selectInstance(id) {
  state.selected = id;
  renderTiles();
  updateTargets();
}

function selectedInstance() {
  return state.instances.find((i) => i.id === state.selected) || null;
}

function updateTargets() {
  const inst = selectedInstance();
  const name = inst ? inst.name : "no instance selected";
  $("run-target").textContent = name;
  $("model-target").textContent = name;
  const run = $("run");
  run.disabled = !inst || !state.workflow;
  // Busy while a run goes on, not disabled: a disabled button would drop the keyboard focus.
  run.classList.toggle("busy", state.runBusy);
  if (state.runBusy) run.setAttribute("aria-busy", "true");
  else run.removeAttribute("aria-busy");
}

async function refreshInstances() {
  try {
    const list = await apiJson("/api/instances");
    state.instances = Array.isArray(list.instances) ? list.instances : [];
    if (state.selected === null || !state.instances.some((i) => i.id === state.selected)) {
      const first = state.instances.find((i) => i.provider === "local") || state.instances[0];
      state.selected = first ? first.id : null;
    }
    renderTiles();
    updateTargets();
    const errors = Array.isArray(list.errors) ? list.errors : [];
    const box = $("provider-errors");
    box.hidden = errors.length === 0;
    box.replaceChildren(...errors.map((e) => el("div", { text: `${e.provider}: ${e.message}` })));
    $("instances-note").textContent = typeof list.refreshed_at === "number"
      ? `updated ${new Date(list.refreshed_at).toLocaleTimeString()}` : "first refresh under way…";
  } catch (e) {
    $("instances-note").textContent = `cannot list instances: ${e.message}${e.hint ? " (" + e.hint + ")" : ""}`;
  }
}

// ---- Connection test ----

const MARKS = { pass: "✓", warn: "!", fail: "✕", skip: "–" };

function renderReport(inst, report) {
  const body = $("report-body");
  const stages = Array.isArray(report.stages) ? report.stages : [];
  const failed = stages.filter((s) => s.status === "fail").length;
  const warned = stages.filter((s) => s.status === "warn").length;
  const summary = report.ok
    ? `${inst.name}: connection OK${warned ? ` (${warned} warning${warned > 1 ? "s" : ""})` : ""}`
    : `${inst.name}: connection failed at ${failed} stage${failed === 1 ? "" : "s"}`;
  body.replaceChildren(
    el("div", { class: "report-summary", id: "report-summary", "data-ok": report.ok ? "true" : "false" },
      el("span", { class: `state-chip ${report.ok ? "succeeded" : "failed"}`, text: report.ok ? "passed" : "failed" }),
      el("span", { text: summary })),
    el("ol", { class: "stages" }, ...stages.map((s) => {
      const status = ["pass", "warn", "fail", "skip"].includes(s.status) ? s.status : "skip";
      const ms = typeof s.duration_ms === "number" ? `${s.duration_ms < 10 ? s.duration_ms.toFixed(1) : Math.round(s.duration_ms)} ms` : "–";
      return el("li", { class: `stage ${status}`, "data-stage": s.stage },
        el("span", { class: "mark", "aria-hidden": "true", text: MARKS[status] }),
        el("span", { class: "title" }, el("span", { class: "visually-hidden", text: `${status}: ` }), s.title || s.stage),
        el("span", { class: "ms", text: ms }),
        el("span", { class: "detail" }, s.detail || "", s.hint ? el("span", { class: "hint", text: `Hint: ${s.hint}` }) : null));
    })));
}

async function testConnection(inst, button) {
  if (button.getAttribute("aria-busy") === "true") return;
  const section = $("report");
  section.hidden = false;
  $("report-title").textContent = `Connection test · ${inst.name}`;
  $("report-body").replaceChildren(el("p", { class: "muted", text: "Testing each stage: TCP, SSH handshake and host key, login, folders, ComfyUI HTTP and WebSocket…" }));
  // Busy, not disabled: a disabled button would drop the keyboard focus.
  button.classList.add("busy");
  button.setAttribute("aria-busy", "true");
  try {
    const report = await postJson(`/api/instances/${encodeURIComponent(inst.id)}/test`);
    renderReport(inst, report);
  } catch (e) {
    const box = el("div", { class: "message" });
    $("report-body").replaceChildren(box);
    box.id = "report-error";
    box.append(el("strong", { text: e.message }));
    if (e.hint) box.append(el("span", { class: "hint", text: e.hint }));
  } finally {
    const live = document.querySelector(`.tile[data-instance="${CSS.escape(inst.id)}"] .test-connection`) || button;
    for (const b of new Set([live, button])) {
      b.classList.remove("busy");
      b.removeAttribute("aria-busy");
    }
  }
}

// ---- Workflow files ----

function humanBytes(n) {
  if (typeof n !== "number") return "";
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  if (n < 1024 * 1024 * 1024) return `${(n / 1024 / 1024).toFixed(1)} MB`;
  return `${(n / 1024 / 1024 / 1024).toFixed(2)} GB`;
}

function renderFiles() {
  const list = $("files");
  const rows = [];
  const row = (role, file, onRemove) => el("li", {},
    el("span", { class: "role", text: role }),
    el("span", { class: "name", text: file.name }),
    el("span", { class: "size", text: humanBytes(file.size) }),
    el("button", { type: "button", class: "btn icon-only ghost", "aria-label": `Remove ${file.name}`, onclick: onRemove }, svgIcon("x")));
  if (state.workflow) rows.push(row("workflow", state.workflow, () => { state.workflow = null; renderFiles(); }));
  state.inputs.forEach((file, i) => rows.push(row("input", file, () => { state.inputs.splice(i, 1); renderFiles(); })));
  list.replaceChildren(...rows);
  updateTargets();
}

function addFiles(files, asWorkflow) {
  for (const file of files) {
    const isJson = file.name.toLowerCase().endsWith(".json") || file.type === "application/json";
    if (asWorkflow || (isJson && !state.workflow)) state.workflow = file;
    else state.inputs.push(file);
  }
  showMessage("run-message", null);
  renderFiles();
}

function setUpFiles() {
  $("workflow-file").addEventListener("change", (e) => {
    if (e.target.files.length) addFiles([e.target.files[0]], true);
    e.target.value = "";
  });
  $("input-files").addEventListener("change", (e) => {
    addFiles([...e.target.files], false);
    e.target.value = "";
  });
  const zone = $("dropzone");
  zone.addEventListener("dragover", (e) => { e.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (e) => {
    e.preventDefault();
    zone.classList.remove("over");
    if (e.dataTransfer && e.dataTransfer.files.length) addFiles([...e.dataTransfer.files], false);
  });
  // A file dropped next to the zone must not make the browser navigate away from the page.
  window.addEventListener("dragover", (e) => e.preventDefault());
  window.addEventListener("drop", (e) => e.preventDefault());
}

// ---- Runs ----

function setJobState(prefix, jobState) {
  const chip = $(`${prefix}-state`);
  chip.textContent = jobState;
  chip.className = `state-chip ${jobState}`;
}

function logEvent(name, text) {
  const log = $("run-log");
  log.append(el("li", { class: name }, el("span", { class: "ev", text: name }), " ", text));
  log.scrollTop = log.scrollHeight;
}

function describeRunEvent(name, d) {
  switch (name) {
    case "queued":
      if (d.stage === "accepted") return "accepted by the backend";
      if (d.stage === "prepared") return `workflow ready: ${d.nodes ?? "?"} nodes${d.converted ? " (converted from the UI format)" : ""}`;
      if (d.stage === "uploaded") return `uploaded ${d.name} (${humanBytes(d.bytes)})`;
      if (d.stage === "submitted") return `queued in ComfyUI as ${d.prompt_id}`;
      if (d.stage === "waiting") return `${d.ahead} prompt${d.ahead === 1 ? "" : "s"} ahead in ComfyUI's queue`;
      return d.stage || "queued";
    case "node":
      if (d.state === "running") return `node ${d.node} running`;
      if (d.state === "cached") return `cached: ${Array.isArray(d.nodes) ? d.nodes.join(", ") : ""}`;
      if (d.state === "executed") return `node ${d.node} done`;
      return d.state || "";
    case "progress":
      if (d.stage === "node") return `node ${d.node}: ${d.value}/${d.max}`;
      return d.stage || d.event || "";
    case "output":
      return `${d.name} (${humanBytes(d.size)})`;
    case "done":
      return "finished";
    case "error":
      return `${d.state}: ${d.message}`;
    default:
      return JSON.stringify(d);
  }
}

function clearGallery() {
  for (const url of state.objectUrls) URL.revokeObjectURL(url);
  state.objectUrls = [];
  $("gallery").replaceChildren();
  $("gallery-wrap").hidden = true;
}

function outputPath(jobId, name) {
  return `/api/jobs/${encodeURIComponent(jobId)}/outputs/${name.split("/").map(encodeURIComponent).join("/")}`;
}

async function addToGallery(jobId, output) {
  $("gallery-wrap").hidden = false;
  const caption = el("div", { class: "caption" }, el("span", { text: output.name }), el("span", { class: "muted", text: humanBytes(output.size) }));
  const item = el("li", { "data-name": output.name });
  $("gallery").append(item);
  const image = typeof output.content_type === "string" && /^image\/(png|jpeg|webp|gif)$/.test(output.content_type);
  try {
    const blob = await (await api(outputPath(jobId, output.name))).blob();
    const url = URL.createObjectURL(blob);
    state.objectUrls.push(url);
    const media = image
      ? el("img", { src: url, alt: `Output ${output.name}`, loading: "lazy" })
      : el("div", { class: "file-only", text: output.content_type || "file" });
    item.append(el("a", { href: url, download: output.name.split("/").pop(), title: `Download ${output.name}` }, media, caption));
  } catch (e) {
    item.append(el("div", { class: "file-only", text: e.message }), caption);
  }
}

async function runWorkflow() {
  const inst = selectedInstance();
  if (!inst || !state.workflow || state.runBusy) return;
  state.runBusy = true;
  const form = new FormData();
  form.append("workflow", state.workflow, state.workflow.name);
  for (const file of state.inputs) form.append(file.name, file, file.name);
  showMessage("run-message", null);
  clearGallery();
  $("run-log").replaceChildren();
  const bar = $("run-bar");
  bar.classList.remove("done");
  bar.removeAttribute("value");
  $("run-progress").hidden = false;
  setJobState("run", "queued");
  $("run-status").textContent = `sending to ${inst.name}…`;
  updateTargets();
  let jobId;
  try {
    const answer = await apiJson(`/api/instances/${encodeURIComponent(inst.id)}/workflows`, { method: "POST", body: form });
    jobId = answer.job_id;
  } catch (e) {
    $("run-progress").hidden = true;
    showMessage("run-message", e);
    state.runBusy = false;
    updateTargets();
    return;
  }
  state.runJob = jobId;
  refreshHealth();
  refreshJobs();
  state.runAbort = new AbortController();
  $("cancel").hidden = false;
  await followRun(jobId, state.runAbort.signal);
  state.runJob = null;
  state.runBusy = false;
  $("cancel").hidden = true;
  updateTargets();
  refreshJobs();
  refreshHealth();
}

async function followRun(jobId, signal) {
  const bar = $("run-bar");
  let nodes = null;
  const executed = new Set();
  try {
    await streamEvents(jobId, (name, d) => {
      logEvent(name, describeRunEvent(name, d));
      if (name === "queued") {
        if (d.stage === "prepared" && typeof d.nodes === "number") nodes = d.nodes;
        $("run-status").textContent = describeRunEvent(name, d);
      } else if (name === "node") {
        setJobState("run", "running");
        if (d.state === "executed" && d.node !== undefined) executed.add(String(d.node));
        if (d.state === "cached" && Array.isArray(d.nodes)) d.nodes.forEach((n) => executed.add(String(n)));
        if (nodes) { bar.max = nodes; bar.value = Math.min(executed.size, nodes); }
        $("run-status").textContent = describeRunEvent(name, d);
      } else if (name === "progress") {
        setJobState("run", "running");
        if (d.stage === "node" && typeof d.max === "number" && d.max > 0) {
          $("run-status").textContent = `node ${d.node}: step ${d.value} of ${d.max}`;
        }
      } else if (name === "output") {
        addToGallery(jobId, d);
      } else if (name === "done") {
        setJobState("run", "succeeded");
        bar.max = 1; bar.value = 1; bar.classList.add("done");
        const secs = d.result && typeof d.result.seconds === "number" ? d.result.seconds : null;
        const seconds = secs === null ? "" : secs < 1 ? ` in ${Math.round(secs * 1000)} ms` : ` in ${secs.toFixed(1)} s`;
        $("run-status").textContent = `finished${seconds}`;
        showMessage("run-message", `Workflow finished${seconds}.`, true);
      } else if (name === "error") {
        setJobState("run", d.state || "failed");
        bar.max = 1; bar.value = 0;
        $("run-status").textContent = d.state || "failed";
        showMessage("run-message", { message: `Run ${d.state || "failed"}: ${d.message || "no reason given"}`, hint: d.hint });
      }
    }, signal);
  } catch (e) {
    if (!(e && e.name === "AbortError")) showMessage("run-message", e);
  }
}

async function cancelJob(jobId, messageTarget) {
  try {
    await postJson(`/api/jobs/${encodeURIComponent(jobId)}/cancel`);
  } catch (e) {
    showMessage(messageTarget, e);
  }
}

// ---- Model installs ----

function setModelBusy(busy) {
  state.modelBusy = busy;
  const button = $("model-install");
  button.classList.toggle("busy", busy);
  if (busy) button.setAttribute("aria-busy", "true");
  else button.removeAttribute("aria-busy");
}

async function installModel(e) {
  e.preventDefault();
  if (state.modelBusy) return;
  const inst = selectedInstance();
  if (!inst) {
    showMessage("model-message", { message: "select an instance first" });
    return;
  }
  const url = $("model-url").value.trim();
  const folder = $("model-folder").value.trim();
  if (!url || !folder) {
    showMessage("model-message", { message: !url ? "enter the download URL" : "enter the models folder", hint: "for example checkpoints, loras or vae" });
    (!url ? $("model-url") : $("model-folder")).focus();
    return;
  }
  const body = { url, folder };
  const name = $("model-name").value.trim();
  const sha = $("model-sha").value.trim();
  if (name) body.name = name;
  if (sha) body.sha256 = sha;
  showMessage("model-message", null);
  const bar = $("model-bar");
  bar.classList.remove("done");
  bar.removeAttribute("value");
  $("model-progress").hidden = false;
  setJobState("model", "queued");
  $("model-status").textContent = "starting…";
  setModelBusy(true);
  let jobId;
  try {
    jobId = (await postJson(`/api/instances/${encodeURIComponent(inst.id)}/models`, body)).job_id;
  } catch (err) {
    $("model-progress").hidden = true;
    setModelBusy(false);
    showMessage("model-message", err);
    return;
  }
  state.modelJob = jobId;
  refreshHealth();
  refreshJobs();
  state.modelAbort = new AbortController();
  $("model-cancel").hidden = false;
  let total = null;
  try {
    await streamEvents(jobId, (ev, d) => {
      if (ev === "progress" && d.event === "started") {
        setJobState("model", "running");
        total = typeof d.total === "number" ? d.total : null;
        $("model-status").textContent = `downloading ${d.name || ""} into ${d.folder || folder}${d.resumed_from ? ` (resumed at ${humanBytes(d.resumed_from)})` : ""}`;
      } else if (ev === "progress" && d.event === "progress") {
        setJobState("model", "running");
        const t = typeof d.total === "number" ? d.total : total;
        if (t) { bar.max = t; bar.value = Math.min(d.position, t); }
        $("model-status").textContent = t ? `${humanBytes(d.position)} of ${humanBytes(t)} (${Math.floor((100 * d.position) / t)} %)` : `${humanBytes(d.position)} downloaded`;
      } else if (ev === "progress" && (d.event === "retrying" || d.event === "restarted")) {
        $("model-status").textContent = d.event === "retrying" ? "connection lost, retrying…" : "the server restarted the download";
      } else if (ev === "done") {
        setJobState("model", "succeeded");
        bar.max = 1; bar.value = 1; bar.classList.add("done");
        const r = d.result || {};
        const what = r.status === "already_present" ? "already present" : "installed";
        $("model-status").textContent = `${r.name || "model"} ${what}`;
        showMessage("model-message", { message: `${r.name || "The model"} ${what} in ${r.folder || folder}${typeof r.size === "number" ? ` (${humanBytes(r.size)})` : ""}.`, hint: r.path ? `on the host: ${r.path}` : null }, true);
      } else if (ev === "error") {
        setJobState("model", d.state || "failed");
        $("model-status").textContent = d.state || "failed";
        showMessage("model-message", { message: `Install ${d.state || "failed"}: ${d.message || "no reason given"}`, hint: d.hint });
      }
    }, state.modelAbort.signal);
  } catch (err) {
    if (!(err && err.name === "AbortError")) showMessage("model-message", err);
  }
  state.modelJob = null;
  $("model-cancel").hidden = true;
  setModelBusy(false);
  refreshJobs();
  refreshHealth();
}

// ---- Jobs ----

const KINDS = { run: "workflow", install_model: "model", install_node: "node" };

async function showJobOutputs(job) {
  clearGallery();
  showMessage("run-message", null);
  try {
    const list = await apiJson(`/api/jobs/${encodeURIComponent(job.id)}/outputs`);
    const outputs = Array.isArray(list.outputs) ? list.outputs : [];
    if (outputs.length === 0) {
      showMessage("run-message", "That job has no outputs.");
      return;
    }
    for (const output of outputs) addToGallery(job.id, output);
    $("gallery-wrap").scrollIntoView({ behavior: "smooth", block: "nearest" });
  } catch (e) {
    showMessage("run-message", e);
  }
}

async function refreshJobs() {
  const body = $("jobs");
  try {
    const list = await apiJson("/api/jobs?limit=10");
    const jobs = Array.isArray(list.jobs) ? list.jobs : [];
    if (jobs.length === 0) {
      body.replaceChildren(el("tr", { class: "empty" }, el("td", { colspan: "6", text: "No jobs yet." })));
      return;
    }
    body.replaceChildren(...jobs.map((job) => el("tr", {},
      el("td", { class: "id", text: String(job.id).slice(0, 8) }),
      el("td", { text: KINDS[job.kind] || job.kind }),
      el("td", { text: job.instance }),
      el("td", {}, el("span", { class: `state-chip ${job.state}`, text: job.state }),
        job.error && job.error.message ? el("span", { class: "muted small", text: ` ${job.error.message}` }) : null),
      el("td", { class: "muted", text: typeof job.created_at === "number" ? new Date(job.created_at).toLocaleString() : "" }),
      el("td", {}, job.kind === "run"
        ? el("button", { type: "button", class: "btn ghost small-btn", onclick: () => showJobOutputs(job), "aria-label": `Show the outputs of job ${String(job.id).slice(0, 8)}` }, "Outputs")
        : null))));
  } catch (e) {
    body.replaceChildren(el("tr", { class: "empty" }, el("td", { colspan: "6", text: `cannot list jobs: ${e.message}` })));
  }
}

// ---- Start ----

async function refreshHealth() {
  const chip = $("backend-status");
  try {
    const response = await fetch("/healthz", { cache: "no-store" });
    const h = await response.json();
    chip.className = "chip ok";
    chip.textContent = `backend ${h.version} · ${h.jobs_running} job${h.jobs_running === 1 ? "" : "s"} running`;
  } catch {
    chip.className = "chip bad";
    chip.textContent = "backend unreachable";
  }
}

function refreshAll() {
  refreshHealth();
  refreshInstances();
  refreshJobs();
}

document.addEventListener("DOMContentLoaded", () => {
  setUpToken();
  setUpFiles();
  $("run").addEventListener("click", runWorkflow);
  $("cancel").addEventListener("click", () => state.runJob && cancelJob(state.runJob, "run-message"));
  $("model-form").addEventListener("submit", installModel);
  $("model-cancel").addEventListener("click", () => state.modelJob && cancelJob(state.modelJob, "model-message"));
  $("report-close").addEventListener("click", () => { $("report").hidden = true; });
  $("jobs-refresh").addEventListener("click", refreshJobs);
  refreshAll();
  setInterval(() => { refreshInstances(); refreshHealth(); }, POLL_MS);
});
