// engram explore: the page's own script (no libraries, no network beyond this server).
// Settings live in the URL query, so a view can be shared: see readSettings/writeSettings.
"use strict";

const $ = (id) => document.getElementById(id);
const SIDE = 8;
const state = { digits: [], pad: new Array(SIDE * SIDE).fill(-1), stored: [], storedNames: [],
                lastRecall: null, training: null };

async function api(path, body) {
  const init = body === undefined ? {} : {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) };
  const response = await fetch(path, init);
  const payload = await response.json();
  if (!response.ok) throw new Error(payload.error || response.statusText);
  return payload;
}

function showError(element, error) {
  element.textContent = error.message;
  element.classList.add("error");
}

function showStatus(element, text) {
  element.textContent = text;
  element.classList.remove("error");
}

// ---------------------------------------------------------------- settings in the URL
function readSettings() {
  return new URLSearchParams(window.location.search);
}

function writeSettings(changes) {
  const params = readSettings();
  for (const [key, value] of Object.entries(changes)) {
    if (value === null || value === "") params.delete(key); else params.set(key, value);
  }
  window.history.replaceState(null, "", "?" + params.toString());
}

function showView(view) {
  for (const section of document.querySelectorAll(".view")) {
    section.classList.toggle("active", section.id === view);
  }
  for (const link of document.querySelectorAll("nav a")) {
    link.classList.toggle("active", link.dataset.view === view);
  }
}

// ---------------------------------------------------------------- drawing
function drawPattern(canvas, pattern) {
  const ctx = canvas.getContext("2d");
  const cell = canvas.width / SIDE;
  for (let i = 0; i < pattern.length; i++) {
    ctx.fillStyle = pattern[i] > 0 ? "#263238" : "#eceff1";
    ctx.fillRect((i % SIDE) * cell, Math.floor(i / SIDE) * cell, cell - 1, cell - 1);
  }
}

function lineChart(canvas, series, options = {}) {
  const ctx = canvas.getContext("2d");
  const w = canvas.width, h = canvas.height, m = 30;
  ctx.clearRect(0, 0, w, h);
  const xs = series.flatMap((s) => s.x), ys = series.flatMap((s) => s.y);
  if (!xs.length) return;
  const xmin = options.xmin ?? Math.min(...xs), xmax = options.xmax ?? Math.max(...xs);
  const ymin = options.ymin ?? Math.min(...ys), ymax = options.ymax ?? Math.max(...ys);
  const sx = (x) => m + (x - xmin) / ((xmax - xmin) || 1) * (w - m - 8);
  const sy = (y) => h - m + (ymin - y) / ((ymax - ymin) || 1) * (h - m - 8);
  ctx.strokeStyle = "#999"; ctx.beginPath(); ctx.moveTo(m, 8); ctx.lineTo(m, h - m);
  ctx.lineTo(w - 8, h - m); ctx.stroke();
  ctx.fillStyle = "#555"; ctx.font = "10px sans-serif";
  ctx.fillText(ymax.toPrecision(3), 2, 14); ctx.fillText(ymin.toPrecision(3), 2, h - m);
  ctx.fillText(String(+xmin.toPrecision(3)), m, h - m + 12);
  ctx.fillText(String(+xmax.toPrecision(3)), w - 40, h - m + 12);
  if (options.xlabel) ctx.fillText(options.xlabel, w / 2 - 20, h - 4);
  for (const v of options.vlines || []) {
    ctx.strokeStyle = "#e57373"; ctx.setLineDash([4, 3]); ctx.beginPath();
    ctx.moveTo(sx(v), 8); ctx.lineTo(sx(v), h - m); ctx.stroke(); ctx.setLineDash([]);
  }
  series.forEach((s, k) => {
    ctx.strokeStyle = s.color || ["#00897b", "#5c6bc0"][k % 2]; ctx.lineWidth = 2;
    ctx.beginPath();
    s.x.forEach((x, i) => (i ? ctx.lineTo(sx(x), sy(s.y[i])) : ctx.moveTo(sx(x), sy(s.y[i]))));
    ctx.stroke();
    if (s.dots) {
      ctx.fillStyle = ctx.strokeStyle;
      s.x.forEach((x, i) => { ctx.beginPath(); ctx.arc(sx(x), sy(s.y[i]), 3, 0, 7); ctx.fill(); });
    }
  });
}

// ---------------------------------------------------------------- Hopfield view
function renderPad() { drawPattern($("pad"), state.pad); }

function renderStored() {
  const box = $("stored");
  box.innerHTML = "";
  state.stored.forEach((pattern) => {
    const c = document.createElement("canvas");
    c.width = c.height = 40;
    drawPattern(c, pattern);
    box.appendChild(c);
  });
  const n = SIDE * SIDE, p = state.stored.length;
  $("load").textContent = `${p} stored in ${n} units: load P/N = ${(p / n).toFixed(3)}` +
    ` (Hebb's rule holds about ${(0.138 * n).toFixed(1)} random patterns)`;
  writeSettings({ stored: state.storedNames.join(",") });
}

function storePattern(pattern, name) {
  state.stored.push(pattern.slice());
  state.storedNames.push(name);
  renderStored();
}

async function damagePad() {
  const fraction = Number($("damage").value), seed = Number($("seed").value);
  try {
    const { cue } = await api("/api/damage", { pattern: state.pad, fraction, seed });
    state.pad = cue;
    renderPad();
    writeSettings({ damage: fraction, seed });
    showStatus($("recall-status"), `${Math.round(fraction * 100)}% of the units flipped (seed ${seed}).`);
  } catch (error) { showError($("recall-status"), error); }
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function recall() {
  const status = $("recall-status");
  try {
    const result = await api("/api/recall", { patterns: state.stored, cue: state.pad });
    const energies = result.steps.map((s) => s.energy);
    for (let k = 0; k < result.steps.length; k++) {
      const step = result.steps[k];
      state.pad = step.state;
      renderPad();
      lineChart($("energy"), [{ x: energies.slice(0, k + 1).map((_, i) => i),
                                y: energies.slice(0, k + 1), dots: true }],
                { xmin: 0, xmax: Math.max(1, energies.length - 1),
                  ymin: Math.min(...energies), ymax: Math.max(...energies), xlabel: "step" });
      const best = step.overlaps.indexOf(Math.max(...step.overlaps));
      showStatus(status, `step ${k}: energy ${step.energy.toFixed(2)}, closest memory ` +
        `#${best + 1} (overlap ${step.overlaps[best].toFixed(3)})`);
      await sleep(250);
    }
    const last = result.steps[result.steps.length - 1];
    state.lastRecall = last.state;
    $("recall-status").dataset.state = JSON.stringify(last.state);
    $("recall-status").dataset.steps = String(result.steps.length - 1);
    showStatus(status, status.textContent + (result.converged ? " - a fixed point." : " - step limit."));
  } catch (error) { showError(status, error); }
}

async function measureCapacity() {
  const n = Number($("n-units").value);
  const status = $("capacity-status");
  showStatus(status, "measuring...");
  try {
    const curve = await api("/api/capacity", { n_units: n, seed: Number($("seed").value) });
    lineChart($("capacity"), [{ x: curve.loads, y: curve.recalled, dots: true }],
              { ymin: 0, ymax: 1, vlines: [curve.alpha_c], xlabel: "load P/N" });
    writeSettings({ n });
    showStatus(status, `share recalled against P/N for N = ${curve.n_units}; dashed: 0.138`);
    status.dataset.recalled = JSON.stringify(curve.recalled);
  } catch (error) { showError(status, error); }
}

async function initHopfield(params) {
  const { patterns } = await api("/api/digits");
  state.digits = patterns;
  const box = $("digits");
  patterns.forEach((pattern, d) => {
    const b = document.createElement("button");
    b.textContent = String(d);
    b.id = `digit-${d}`;
    b.addEventListener("click", () => {
      state.pad = pattern.slice(); renderPad(); writeSettings({ digit: d });
    });
    box.appendChild(b);
  });
  $("pad").addEventListener("click", (event) => {
    const rect = event.target.getBoundingClientRect();
    const col = Math.floor((event.clientX - rect.left) / rect.width * SIDE);
    const row = Math.floor((event.clientY - rect.top) / rect.height * SIDE);
    state.pad[row * SIDE + col] *= -1;
    renderPad();
  });
  $("store").addEventListener("click", () => {
    const d = state.digits.findIndex((p) => p.every((v, i) => v === state.pad[i]));
    storePattern(state.pad, d >= 0 ? String(d) : "drawn");
  });
  $("forget").addEventListener("click", () => {
    state.stored = []; state.storedNames = []; renderStored();
  });
  $("clear").addEventListener("click", () => { state.pad.fill(-1); renderPad(); });
  $("damage").addEventListener("input", () => {
    $("damage-value").textContent = `${Math.round($("damage").value * 100)}%`;
  });
  $("damage-btn").addEventListener("click", damagePad);
  $("recall").addEventListener("click", recall);
  $("capacity-btn").addEventListener("click", measureCapacity);

  for (const name of (params.get("stored") || "").split(",")) {
    if (/^\d$/.test(name)) storePattern(state.digits[Number(name)], name);
  }
  if (params.has("damage")) $("damage").value = params.get("damage");
  $("damage").dispatchEvent(new Event("input"));
  if (params.has("seed")) $("seed").value = params.get("seed");
  if (params.has("n")) $("n-units").value = params.get("n");
  if (/^\d$/.test(params.get("digit") || "")) state.pad = state.digits[Number(params.get("digit"))].slice();
  renderPad();
  renderStored();
}

// ---------------------------------------------------------------- training view
function drawSurface(result) {
  const canvas = $("surface"), ctx = canvas.getContext("2d");
  const n = result.side, cell = canvas.width / n, [x0, x1, y0, y1] = result.bounds;
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      const p = result.surface[i * n + j];  // row i: y rising; column j: x rising
      const r = Math.round(255 * (0.35 + 0.65 * p)), b = Math.round(255 * (1 - 0.65 * p));
      ctx.fillStyle = `rgb(${r},${Math.round(0.85 * Math.min(r, b))},${b})`;
      ctx.fillRect(j * cell, canvas.height - (i + 1) * cell, cell + 1, cell + 1);
    }
  }
  result.points.forEach(([x, y], k) => {
    ctx.fillStyle = result.labels[k] ? "#b71c1c" : "#0d47a1";
    ctx.beginPath();
    ctx.arc((x - x0) / (x1 - x0) * canvas.width, canvas.height - (y - y0) / (y1 - y0) * canvas.height,
            2.5, 0, 7);
    ctx.fill();
  });
}

function showTraining(result) {
  lineChart($("loss"), [{ x: result.loss.map((_, i) => i + 1), y: result.loss }],
            { ymin: 0, xlabel: "epoch" });
  drawSurface(result);
  const status = $("train-status");
  showStatus(status, `epoch ${result.epoch}: loss ${result.loss[result.loss.length - 1].toFixed(4)},` +
    ` training accuracy ${(100 * result.accuracy).toFixed(1)}%`);
  status.dataset.epoch = String(result.epoch);
  status.dataset.loss = JSON.stringify(result.loss);
}

async function train() {
  const settings = {
    dataset: $("dataset").value, layers: $("layers").value, activation: $("activation").value,
    learning_rate: Number($("lr").value), seed: Number($("train-seed").value),
  };
  const total = Number($("epochs").value), chunk = 5;
  writeSettings({ dataset: settings.dataset, layers: settings.layers, lr: settings.learning_rate,
                  activation: settings.activation, epochs: total, tseed: settings.seed });
  const run = { stopped: false };
  if (state.training) state.training.stopped = true;
  state.training = run;
  try {
    let result = await api("/api/train", { ...settings, epochs: chunk });
    const session = result.session;
    showTraining(result);
    while (!run.stopped && result.epoch < total) {
      result = await api(`/api/train/${session}`, { epochs: Math.min(chunk, total - result.epoch) });
      showTraining(result);
    }
  } catch (error) { showError($("train-status"), error); }
}

function initTraining(params) {
  for (const [id, key] of [["dataset", "dataset"], ["layers", "layers"], ["lr", "lr"],
                           ["activation", "activation"], ["epochs", "epochs"], ["train-seed", "tseed"]]) {
    if (params.has(key)) $(id).value = params.get(key);
  }
  $("train-btn").addEventListener("click", train);
  $("stop").addEventListener("click", () => { if (state.training) state.training.stopped = true; });
  if (params.get("autotrain") === "1") train();
}

// ---------------------------------------------------------------- Kuramoto view
function drawPhases(canvas, phases, omega) {
  const ctx = canvas.getContext("2d");
  const w = canvas.width, c = w / 2, radius = w / 2 - 16;
  ctx.clearRect(0, 0, w, w);
  ctx.strokeStyle = "#bbb"; ctx.beginPath(); ctx.arc(c, c, radius, 0, 2 * Math.PI); ctx.stroke();
  const span = Math.max(...omega.map(Math.abs)) || 1;
  let sx = 0, sy = 0;
  phases.forEach((theta, i) => {  // colour: the natural frequency, slow (blue) to fast (red)
    const hue = 240 - 240 * (omega[i] / span + 1) / 2;
    ctx.fillStyle = `hsl(${hue}, 70%, 45%)`;
    ctx.beginPath();
    ctx.arc(c + radius * Math.cos(theta), c - radius * Math.sin(theta), 4, 0, 2 * Math.PI);
    ctx.fill();
    sx += Math.cos(theta); sy += Math.sin(theta);
  });
  const n = phases.length;  // the mean field of the dots shown: an arrow of length r
  ctx.strokeStyle = "#263238"; ctx.lineWidth = 2; ctx.beginPath(); ctx.moveTo(c, c);
  ctx.lineTo(c + radius * sx / n, c - radius * sy / n); ctx.stroke(); ctx.lineWidth = 1;
}

function kuramotoSettings() {
  return { n: Number($("k-n").value), coupling: Number($("k-coupling").value),
           width: Number($("k-width").value), duration: Number($("k-duration").value),
           seed: Number($("k-seed").value) };
}

async function runKuramoto() {
  const status = $("k-status");
  const settings = kuramotoSettings();
  showStatus(status, "integrating...");
  try {
    const run = await api("/api/kuramoto", settings);
    writeSettings({ kn: settings.n, K: settings.coupling, kw: settings.width,
                    kd: settings.duration, kseed: settings.seed });
    const theory = { x: [run.times[0], run.times[run.times.length - 1]],
                     y: [run.r_theory, run.r_theory], color: "#e57373" };
    lineChart($("k-r"), [{ x: run.times, y: run.r }, theory],
              { ymin: 0, ymax: 1, xlabel: "time" });
    let frame = 0;
    const step = () => {
      drawPhases($("k-circle"), run.frames[frame], run.omega);
      frame += 1;
      if (frame < run.frames.length) window.setTimeout(step, 60);
    };
    step();
    const last = run.r.slice(Math.floor(run.r.length / 2));
    const mean = last.reduce((a, b) => a + b, 0) / last.length;
    showStatus(status, `K = ${run.coupling.toFixed(2)} (K_c = ${run.kc.toFixed(2)}): ` +
      `r settles at ${mean.toFixed(3)}; theory for infinite N ${run.r_theory.toFixed(3)} (red).`);
    status.dataset.r = JSON.stringify(run.r);
  } catch (error) { showError(status, error); }
}

async function sweepKuramoto() {
  const status = $("k-sweep-status");
  const { n, width, seed } = kuramotoSettings();
  showStatus(status, "sweeping...");
  try {
    const sweep = await api("/api/kuramoto/sweep", { n, width, seed });
    lineChart($("k-curve"), [{ x: sweep.couplings, y: sweep.r, dots: true },
                              { x: sweep.couplings, y: sweep.theory, color: "#e57373" }],
              { ymin: 0, ymax: 1, vlines: [sweep.kc], xlabel: "coupling K" });
    showStatus(status, `measured r (dots) and the theory (red); dashed: K_c = ${sweep.kc.toFixed(2)}`);
    status.dataset.r = JSON.stringify(sweep.r);
  } catch (error) { showError(status, error); }
}

function initKuramoto(params) {
  for (const [id, key] of [["k-n", "kn"], ["k-coupling", "K"], ["k-width", "kw"],
                           ["k-duration", "kd"], ["k-seed", "kseed"]]) {
    if (params.has(key)) $(id).value = params.get(key);
  }
  const shown = () => { $("k-coupling-value").textContent = Number($("k-coupling").value).toFixed(2); };
  shown();
  $("k-coupling").addEventListener("input", shown);
  $("k-run").addEventListener("click", runKuramoto);
  $("k-sweep").addEventListener("click", sweepKuramoto);
}

// ---------------------------------------------------------------- start
window.addEventListener("DOMContentLoaded", async () => {
  const params = readSettings();
  const view = ["train", "kuramoto"].includes(params.get("view")) ? params.get("view") : "hopfield";
  showView(view);
  for (const link of document.querySelectorAll("nav a")) {
    link.addEventListener("click", (event) => {
      event.preventDefault(); showView(link.dataset.view); writeSettings({ view: link.dataset.view });
    });
  }
  initTraining(params);
  initKuramoto(params);
  try { await initHopfield(params); } catch (error) { showError($("recall-status"), error); }
  document.body.dataset.ready = "1";
});
