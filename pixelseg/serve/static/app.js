// pixelseg serve: the page. Plain JavaScript, no libraries, only this server's own API.
//
// Flow: GET /api/model (classes, colours, limits) -> a photo is dropped -> POST /api/segment
// (index-mask PNG) -> the overlay and legend are drawn here -> POST /api/apply with the photo,
// the chosen effect and its options (the server keeps the photo's logits, so the model does not run
// twice) -> the result, downloadable: the same bytes `pixelseg apply` writes for those options.
// document.body.dataset.state says where it is: loading, ready, segmenting, applying, done, error.
// Live: the camera (getUserMedia) -> a JPEG per frame over WebSocket /api/live -> the composited
// frame drawn as it comes back; one frame in flight at a time, so the server never has to drop one.
// document.body.dataset.live: off, starting, running, error.
"use strict";

const $ = (id) => document.getElementById(id);
const state = {
  model: null,   // GET /api/model
  file: null,    // the photo (File)
  maskBlob: null,
  ids: null,     // Uint8Array of class ids, width * height
  photo: null,   // Uint8ClampedArray RGBA of the photo at the mask's size, or null if the browser cannot decode it
  width: 0,
  height: 0,
  inferenceMs: null,
  seq: 0,        // the latest request; answers to older ones are dropped
  resultUrl: null,
};

function setState(name) { document.body.dataset.state = name; }

function showError(message) {
  const box = $("error");
  box.textContent = message;
  box.hidden = !message;
  if (message) setState("error");
}

async function errorOf(response) {
  try {
    const body = await response.json();
    if (body && body.detail) return `${body.detail} (HTTP ${response.status})`;
  } catch (e) { /* not JSON */ }
  return `the server answered HTTP ${response.status} ${response.statusText}`;
}

function megabytes(n) { return `${(n / 2 ** 20).toFixed(n < 2 ** 20 ? 2 : 1)} MB`; }
function ms(value) { return value == null ? "" : `${Number(value).toFixed(value < 10 ? 1 : 0)} ms`; }
function hexToRgb(hex) { return [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16)); }

// ---- the model ------------------------------------------------------------------------------

async function loadModel() {
  const response = await fetch("/api/model");
  if (!response.ok) throw new Error(await errorOf(response));
  const model = await response.json();
  state.model = model;
  model.rgb = model.classes.map((c) => hexToRgb(c.color));
  const lookup = new Map();
  model.rgb.forEach(([r, g, b], id) => lookup.set((r << 16) | (g << 8) | b, id));
  lookup.set(0xffffff, 255);  // ignore
  model.lookup = lookup;

  const names = model.classes.map((c) => c.name);
  $("model").textContent = `${model.name} · ${names.length} classes · ${model.device}` + (model.checkpoint ? ` · ${model.checkpoint}` : "");
  $("model").title = `classes: ${names.join(", ")}`;
  const limits = model.limits;
  $("limits").textContent = `${model.input.formats.join(", ")} · up to ${megabytes(limits.max_bytes)} and ${(limits.max_pixels / 1e6).toFixed(1)} megapixels`;

  const target = $("target");
  target.replaceChildren();
  if (names.length > 2) target.append(new Option(`everything but ${names[0]}`, model.classes.slice(1).map((c) => c.id).join(",")));
  model.classes.forEach((c) => target.append(new Option(c.name, String(c.id))));
  const person = names.indexOf("person");  // the default of `pixelseg apply` and /api/apply
  target.value = person >= 0 ? String(person) : (names.length > 1 ? "1" : "0");
  buildEffects(model.effects);
  buildLegend();
}

// The effect buttons, from the server's one table (apply/effects.py EFFECTS); the first is chosen.
function buildEffects(effects) {
  const group = $("effects");
  group.replaceChildren();
  Object.entries(effects).forEach(([name, about], i) => {
    const label = document.createElement("label");
    label.title = about.description;
    const radio = document.createElement("input");
    radio.type = "radio";
    radio.name = "effect";
    radio.value = name;
    radio.checked = i === 0;
    radio.addEventListener("change", () => { showControls(); applyEffect(); updateLive(); });
    const text = document.createElement("span");
    text.textContent = about.label;
    label.append(radio, text);
    group.append(label);
  });
  showControls();
}

function buildLegend() {
  const legend = $("legend");
  legend.replaceChildren();
  for (const c of state.model.classes) {
    const item = document.createElement("li");
    item.dataset.id = c.id;
    item.title = `apply the effect to ${c.name}`;
    const swatch = document.createElement("span");
    swatch.className = "swatch";
    swatch.style.background = c.color;
    const name = document.createElement("span");
    name.className = "name";
    name.textContent = c.name;
    const share = document.createElement("span");
    share.className = "share";
    item.append(swatch, name, share);
    item.addEventListener("click", () => { $("target").value = String(c.id); markTarget(); applyEffect(); });
    legend.append(item);
  }
  markTarget();
}

function markTarget() {
  const ids = $("target").value.split(",").map(Number);
  for (const item of $("legend").children) item.classList.toggle("target", ids.includes(Number(item.dataset.id)));
}

// ---- a photo in: segment it -------------------------------------------------------------------

async function handleFile(file) {
  if (!file || !state.model) return;
  showError("");
  if (file.size > state.model.limits.max_bytes) {
    showError(`${file.name} is ${megabytes(file.size)}; this server takes at most ${megabytes(state.model.limits.max_bytes)}`);
    return;
  }
  const seq = ++state.seq;
  state.file = file;
  $("filename").textContent = `${file.name} · ${megabytes(file.size)}`;
  document.body.classList.add("busy");
  setState("segmenting");
  try {
    const form = new FormData();
    form.append("image", file, file.name || "photo");
    const response = await fetch("/api/segment?format=png", { method: "POST", body: form });
    if (!response.ok) throw new Error(await errorOf(response));
    const maskBlob = await response.blob();
    const inferenceMs = parseFloat(response.headers.get("X-Inference-Ms"));
    // The mask's colours are the palette's exactly: read them as they are, without colour management.
    const maskBitmap = await createImageBitmap(maskBlob, { colorSpaceConversion: "none", premultiplyAlpha: "none" });
    const { width, height } = maskBitmap;
    const maskRgba = pixels(maskBitmap, width, height);
    let photo = null;
    try {
      photo = pixels(await createImageBitmap(file, { imageOrientation: "from-image" }), width, height);
    } catch (e) { /* a format the server reads but this browser does not (TIFF): the mask alone */ }
    if (seq !== state.seq) return;

    const ids = new Uint8Array(width * height);
    const lookup = state.model.lookup;
    for (let i = 0, p = 0; i < ids.length; i++, p += 4) {
      const id = lookup.get((maskRgba[p] << 16) | (maskRgba[p + 1] << 8) | maskRgba[p + 2]);
      ids[i] = id === undefined ? 0 : id;
    }
    Object.assign(state, { maskBlob, ids, photo, width, height, inferenceMs });
    $("overlay").hidden = false;
    $("seg-time").textContent = `${width}×${height} · inference ${ms(inferenceMs)}`;
    $("seg-time").title = "time the model took on the server";
    drawOverlay();
    fillLegend();
    await applyEffect();
  } catch (err) {
    if (seq === state.seq) showError(`Could not segment ${file.name}: ${err.message}`);
  } finally {
    if (seq === state.seq) document.body.classList.remove("busy");
  }
}

function pixels(bitmap, width, height) {
  const canvas = document.createElement("canvas");
  canvas.width = width;
  canvas.height = height;
  const context = canvas.getContext("2d", { willReadFrequently: true });
  context.drawImage(bitmap, 0, 0, width, height);
  return context.getImageData(0, 0, width, height).data;
}

function drawOverlay() {
  const { width, height, ids, photo } = state;
  const canvas = $("overlay");
  canvas.width = width;
  canvas.height = height;
  const context = canvas.getContext("2d");
  const image = context.createImageData(width, height);
  const out = image.data;
  const alpha = photo ? Number($("opacity").value) / 100 : 1;
  const rgb = state.model.rgb;
  // As pixelseg.viz.palette.overlay: class colours blended over the photo; background (0) and ignore (255) stay clear.
  for (let i = 0, p = 0; i < ids.length; i++, p += 4) {
    const id = ids[i];
    for (let k = 0; k < 3; k++) {
      const base = photo ? photo[p + k] : 0;
      out[p + k] = id === 0 || id === 255 ? base : Math.floor((1 - alpha) * base + alpha * rgb[id][k] + 0.5);
    }
    out[p + 3] = 255;
  }
  context.putImageData(image, 0, 0);
}

function fillLegend() {
  const counts = new Array(state.model.classes.length).fill(0);
  for (const id of state.ids) if (id < counts.length) counts[id]++;
  const total = state.ids.length;
  for (const item of $("legend").children) {
    const count = counts[Number(item.dataset.id)];
    const share = (100 * count) / total;
    item.querySelector(".share").textContent = count ? `${share < 0.1 ? "<0.1" : share.toFixed(1)}%` : "—";
    item.classList.toggle("absent", count === 0);
    item.dataset.pixels = count;
  }
}

// ---- the effect ----------------------------------------------------------------------------

function effect() {
  const chosen = document.querySelector('input[name="effect"]:checked');
  return chosen ? chosen.value : null;
}

function showControls() {
  const chosen = effect();
  for (const element of document.querySelectorAll("[data-effect]")) {
    element.hidden = element.dataset.effect !== chosen || (element.id === "clear-background" && !$("background").files.length);
  }
  const background = $("background").files[0];
  $("background-name").textContent = background ? background.name : "";
}

async function applyEffect() {
  if (!state.file || !state.maskBlob) return;
  const seq = ++state.seq;
  const chosen = effect();
  setState("applying");
  document.body.classList.add("busy");
  const form = new FormData();
  form.append("image", state.file, state.file.name || "photo");
  form.append("effect", chosen);
  form.append("target", $("target").value);
  form.append("feather", $("feather").value);
  form.append("strength", $("strength").value);
  form.append("color", $("color").value);
  const background = $("background").files[0];
  if (chosen === "replace" && background) form.append("background", background, background.name);
  try {
    const response = await fetch("/api/apply", { method: "POST", body: form });
    if (!response.ok) throw new Error(await errorOf(response));
    const blob = await response.blob();
    if (seq !== state.seq) return;
    const effectMs = parseFloat(response.headers.get("X-Effect-Ms"));
    if (state.resultUrl) URL.revokeObjectURL(state.resultUrl);
    state.resultUrl = URL.createObjectURL(blob);
    await new Promise((resolve, reject) => {
      const img = $("result");
      img.onload = resolve;
      img.onerror = () => reject(new Error("the result is not a picture this browser shows"));
      img.src = state.resultUrl;
    });
    if (seq !== state.seq) return;
    $("result").hidden = false;
    const link = $("download");
    link.href = state.resultUrl;
    link.download = `${(state.file.name || "photo").replace(/\.[^.]*$/, "")}-${chosen}.png`;
    link.classList.remove("disabled");
    link.removeAttribute("aria-disabled");
    $("fx-time").textContent = `effect ${ms(effectMs)}`;
    $("result-info").textContent = `${state.width}×${state.height} PNG · ${megabytes(blob.size)} · inference ${ms(state.inferenceMs)} + effect ${ms(effectMs)}`;
    showError("");
    setState("done");
  } catch (err) {
    if (seq === state.seq) showError(`Could not apply the effect: ${err.message}`);
  } finally {
    if (seq === state.seq) document.body.classList.remove("busy");
  }
}

let timer = null;
function applySoon() {
  clearTimeout(timer);
  timer = setTimeout(applyEffect, 200);
}


// ---- live: the camera through /api/live ----------------------------------------------------------

const live = { ws: null, stream: null, sentAt: 0, frames: 0, times: [], trips: [] };

function liveSettings() {
  // A cut-out's transparency has no place in a video frame: live shows the others (GET /api/model's live.effects).
  const chosen = effect();
  const allowed = state.model.live ? state.model.live.effects : [];
  return { effect: allowed.includes(chosen) ? chosen : "replace", background: $("color").value, strength: $("strength").value, target: $("target").value };
}

function showLiveError(message) {
  const box = $("live-error");
  box.textContent = message;
  box.hidden = !message;
}

async function startLive() {
  if (live.ws || !state.model) return;
  showLiveError("");
  document.body.dataset.live = "starting";
  try {
    live.stream = await navigator.mediaDevices.getUserMedia({ video: true, audio: false });
  } catch (err) {
    document.body.dataset.live = "error";
    showLiveError(`The camera could not be opened: ${err.message}`);
    return;
  }
  const video = $("live-camera");
  video.srcObject = live.stream;
  await video.play();
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const query = new URLSearchParams(liveSettings());
  const ws = new WebSocket(`${scheme}://${location.host}${state.model.live.path}?${query}`);
  ws.binaryType = "blob";
  live.ws = ws;
  Object.assign(live, { frames: 0, times: [], trips: [] });
  ws.onopen = () => { document.body.dataset.live = "running"; sendFrame(); };
  ws.onmessage = onLiveMessage;
  ws.onclose = () => { if (live.ws === ws) stopLive(document.body.dataset.live === "error"); };
  $("live-start").hidden = true;
  $("live-stop").hidden = false;
}

function stopLive(keepError = false) {
  const ws = live.ws;
  live.ws = null;
  if (ws && ws.readyState <= WebSocket.OPEN) ws.close();
  if (live.stream) live.stream.getTracks().forEach((track) => track.stop());
  live.stream = null;
  $("live-start").hidden = false;
  $("live-stop").hidden = true;
  if (!keepError) document.body.dataset.live = "off";
}

function sendFrame() {
  const ws = live.ws;
  if (!ws || ws.readyState !== WebSocket.OPEN) return;
  const video = $("live-camera");
  if (!video.videoWidth) { requestAnimationFrame(sendFrame); return; }
  const frame = $("live-frame");
  frame.width = video.videoWidth;
  frame.height = video.videoHeight;
  frame.getContext("2d", { willReadFrequently: true }).drawImage(video, 0, 0, frame.width, frame.height);
  frame.toBlob((blob) => {
    if (live.ws !== ws || ws.readyState !== WebSocket.OPEN) return;
    live.sentAt = performance.now();
    ws.send(blob);
  }, "image/jpeg", 0.85);
}

async function onLiveMessage(event) {
  if (typeof event.data === "string") {
    const message = JSON.parse(event.data);
    if (message.error) {
      showLiveError(message.error);
      if (live.ws && live.ws.readyState === WebSocket.OPEN) sendFrame();  // that frame has no answer: on with the next
      else document.body.dataset.live = "error";
    }
    return;
  }
  const now = performance.now();
  live.trips.push(now - live.sentAt);
  live.times.push(now);
  if (live.trips.length > 30) live.trips.shift();
  while (live.times.length && now - live.times[0] > 1000) live.times.shift();
  const bitmap = await createImageBitmap(event.data);
  const out = $("live-out");
  out.width = bitmap.width;
  out.height = bitmap.height;
  out.getContext("2d", { willReadFrequently: true }).drawImage(bitmap, 0, 0);
  out.hidden = false;
  out.dataset.frames = String(++live.frames);
  const trip = live.trips.reduce((a, b) => a + b, 0) / live.trips.length;
  $("live-stats").textContent = `${bitmap.width}×${bitmap.height} · ${live.times.length} frames/s · round trip ${ms(trip)}`;
  sendFrame();
}

function updateLive() {
  if (live.ws && live.ws.readyState === WebSocket.OPEN) live.ws.send(JSON.stringify(liveSettings()));
}

// ---- wiring --------------------------------------------------------------------------------

function wire() {
  const drop = $("drop");
  $("pick").addEventListener("click", () => $("file").click());
  drop.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); $("file").click(); } });
  $("file").addEventListener("change", (e) => { handleFile(e.target.files[0]); e.target.value = ""; });
  // The whole window takes a drop, so a photo dropped a little beside the box is not opened as a page.
  let depth = 0;
  window.addEventListener("dragenter", (e) => { e.preventDefault(); depth++; drop.classList.add("over"); });
  window.addEventListener("dragleave", () => { if (--depth <= 0) { depth = 0; drop.classList.remove("over"); } });
  window.addEventListener("dragover", (e) => e.preventDefault());
  window.addEventListener("drop", (e) => {
    e.preventDefault();
    depth = 0;
    drop.classList.remove("over");
    const file = [...(e.dataTransfer?.files || [])][0];
    if (file) handleFile(file);
  });
  window.addEventListener("paste", (e) => {
    const file = [...(e.clipboardData?.files || [])].find((f) => f.type.startsWith("image/"));
    if (file) handleFile(file);
  });

  $("target").addEventListener("change", () => { markTarget(); applyEffect(); updateLive(); });
  $("color").addEventListener("input", () => { applySoon(); updateLive(); });
  $("background").addEventListener("change", () => { showControls(); applyEffect(); });
  $("clear-background").addEventListener("click", () => { $("background").value = ""; showControls(); applyEffect(); });
  $("strength").addEventListener("input", () => { applySoon(); updateLive(); });
  $("live-start").addEventListener("click", startLive);
  $("live-stop").addEventListener("click", () => stopLive());
  $("feather").addEventListener("input", applySoon);
  $("opacity").addEventListener("input", () => { if (state.ids) drawOverlay(); });
  showControls();
}

wire();
loadModel().then(() => setState("ready"), (err) => showError(`Could not load the model: ${err.message}`));
