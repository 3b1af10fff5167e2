// The page of `pixelseg annotate`: label the images of a folder, every change saved as it is made.
// The mask lives here as one byte per pixel (class id, 255 = ignore); each change is saved with
// PUT /api/images/{id}/mask?version=V (raw bytes, gzip-compressed) and the server answers with the
// new version, or 409 when another tab saved first. See pixelseg/annotate/app.py and docs/annotate.md.
"use strict";

const $ = (id) => document.getElementById(id);
const IGNORE = 255;
const UNDO_BYTES = 256 * 2 ** 20; // undo history kept within this many bytes

const state = {
  classes: [], images: [], index: -1, assist: false, snap: false,
  tool: "polygon", value: 1, size: 12, opacity: 0.55, showMask: true,
  id: null, width: 0, height: 0, mask: null, version: "", readOnly: false, source: "",
  undo: [], redo: [], points: [], superpixels: null, superpixelsFor: null, snapSource: "superpixels", suggestion: null, suggestionFor: null,
  zoom: 1, panX: 0, panY: 0, dragging: null, spaceDown: false,
  saving: null, dirty: false, conflict: false, labelled: 0, total: 0,
};
window.annotator = state; // for the browser test and for curious users

const photo = $("photo"), maskCanvas = $("mask"), draft = $("draft"), stage = $("stage"), viewport = $("viewport");
const maskContext = maskCanvas.getContext("2d"), draftContext = draft.getContext("2d");
let colours = new Uint8Array(256 * 3); // class id -> RGB

function path(id) { // an id in a URL: "train/my cat #1" -> "train/my%20cat%20%231"
  return id.split("/").map(encodeURIComponent).join("/");
}

function hexToRgb(hex) {
  return [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
}

function showError(message, action) {
  const box = $("error");
  box.textContent = message;
  if (action) {
    const button = document.createElement("button");
    button.className = "button small";
    button.textContent = action.label;
    button.addEventListener("click", action.run);
    box.appendChild(button);
  }
  box.hidden = false;
}

function clearError() {
  $("error").hidden = true;
  $("error").textContent = "";
}

async function failure(response) {
  try {
    const body = await response.json();
    return `${body.detail || response.statusText} (HTTP ${response.status})`;
  } catch (err) {
    return `HTTP ${response.status} ${response.statusText}`;
  }
}

function setSave(status, text) {
  document.body.dataset.save = status;
  const label = $("save-status");
  label.textContent = text ? `· ${text}` : "";
  label.classList.toggle("error", status === "error" || status === "conflict");
}

function updateCount() {
  $("count").textContent = `${state.labelled} of ${state.total} labelled`;
}

// -- drawing the mask -----------------------------------------------------------------------------

function render() {
  const image = maskContext.createImageData(state.width, state.height);
  const out = image.data, mask = state.mask;
  for (let i = 0, j = 0; i < mask.length; i++, j += 4) {
    const v = mask[i];
    if (v === 0) continue; // background stays clear
    out[j] = colours[v * 3];
    out[j + 1] = colours[v * 3 + 1];
    out[j + 2] = colours[v * 3 + 2];
    out[j + 3] = 255;
  }
  maskContext.putImageData(image, 0, 0);
}

function applyView() {
  stage.style.transform = `translate(${state.panX}px, ${state.panY}px) scale(${state.zoom})`;
  maskCanvas.style.opacity = state.showMask ? String(state.opacity) : "0";
}

function fit() {
  const box = viewport.getBoundingClientRect();
  state.zoom = Math.min(box.width / state.width, box.height / state.height) * 0.96;
  state.panX = (box.width - state.width * state.zoom) / 2;
  state.panY = (box.height - state.height * state.zoom) / 2;
  applyView();
}

function zoomAt(factor, clientX, clientY) {
  const box = viewport.getBoundingClientRect();
  const x = clientX - box.left, y = clientY - box.top;
  const zoom = Math.min(64, Math.max(0.05, state.zoom * factor));
  state.panX = x - ((x - state.panX) * zoom) / state.zoom;
  state.panY = y - ((y - state.panY) * zoom) / state.zoom;
  state.zoom = zoom;
  applyView();
  drawDraft();
}

function zoomCentre(factor) {
  const box = viewport.getBoundingClientRect();
  zoomAt(factor, box.left + box.width / 2, box.top + box.height / 2);
}

// Where a mouse event falls on the image, in image pixels (continuous: pixel i covers [i, i + 1)).
function imagePoint(event) {
  const box = draft.getBoundingClientRect();
  return [((event.clientX - box.left) / box.width) * state.width, ((event.clientY - box.top) / box.height) * state.height];
}

function colourOf(value) {
  if (value === 0) return "rgba(120, 120, 120, 0.9)";
  return `rgb(${colours[value * 3]}, ${colours[value * 3 + 1]}, ${colours[value * 3 + 2]})`;
}

function paintValue() {
  return state.tool === "eraser" ? 0 : state.tool === "ignore" ? IGNORE : state.value;
}

// The draft canvas shows what is being drawn (the polygon so far, the brush stroke) before it
// becomes part of the mask; it is also where shapes are rasterised (alpha >= 128 = inside).
function drawDraft(cursor) {
  if (state.dragging && state.dragging.kind === "brush") return; // the stroke is being painted there
  draftContext.clearRect(0, 0, draft.width, draft.height);
  const points = state.points;
  if (!points.length) return;
  const line = 1.5 / state.zoom;
  draftContext.lineWidth = line;
  draftContext.strokeStyle = colourOf(state.value);
  draftContext.fillStyle = colourOf(state.value);
  draftContext.beginPath();
  draftContext.moveTo(points[0][0], points[0][1]);
  for (const p of points.slice(1)) draftContext.lineTo(p[0], p[1]);
  if (cursor) draftContext.lineTo(cursor[0], cursor[1]);
  draftContext.stroke();
  for (const [i, p] of points.entries()) {
    draftContext.beginPath();
    draftContext.arc(p[0], p[1], (i === 0 ? 4 : 2.5) / state.zoom, 0, 2 * Math.PI);
    draftContext.fill();
  }
}

// -- changes ----------------------------------------------------------------------------------------

function remember() {
  state.undo.push(state.mask.slice());
  state.redo = [];
  while (state.undo.length > 1 && state.undo.length * state.mask.length > UNDO_BYTES) state.undo.shift();
  updateUndoButtons();
}

function updateUndoButtons() {
  $("undo").disabled = !state.undo.length || state.readOnly;
  $("redo").disabled = !state.redo.length || state.readOnly;
}

function changed() {
  render();
  updateUndoButtons();
  scheduleSave();
}

// Pixels where the draft canvas is at least half covered become `value`.
function commitDraft(value) {
  const pixels = draftContext.getImageData(0, 0, state.width, state.height).data;
  let any = false;
  const mask = state.mask;
  for (let i = 0, j = 3; i < mask.length; i++, j += 4) {
    if (pixels[j] >= 128 && mask[i] !== value) {
      if (!any) { remember(); any = true; }
      mask[i] = value;
    }
  }
  draftContext.clearRect(0, 0, draft.width, draft.height);
  if (any) changed();
}

function closePolygon() {
  const points = state.points;
  state.points = [];
  if (points.length < 3) { drawDraft(); return; }
  draftContext.clearRect(0, 0, draft.width, draft.height);
  draftContext.fillStyle = "#000";
  draftContext.beginPath();
  draftContext.moveTo(points[0][0], points[0][1]);
  for (const p of points.slice(1)) draftContext.lineTo(p[0], p[1]);
  draftContext.closePath();
  draftContext.fill();
  commitDraft(state.value);
}

function fillAt(x, y, value, regionOf) {
  const mask = state.mask;
  const region = regionOf(y * state.width + x);
  if (!region) return;
  let any = false;
  for (const i of region) {
    if (mask[i] !== value) {
      if (!any) { remember(); any = true; }
      mask[i] = value;
    }
  }
  if (any) changed();
}

function floodRegion(start, mask = state.mask) { // the 4-connected pixels of the value at `start`
  const width = state.width, target = mask[start];
  const seen = new Uint8Array(mask.length), stack = [start], region = [];
  seen[start] = 1;
  while (stack.length) {
    const i = stack.pop();
    region.push(i);
    const x = i % width;
    const next = [x > 0 ? i - 1 : -1, x < width - 1 ? i + 1 : -1, i >= width ? i - width : -1, i < mask.length - width ? i + width : -1];
    for (const n of next) {
      if (n >= 0 && !seen[n] && mask[n] === target) { seen[n] = 1; stack.push(n); }
    }
  }
  return region;
}

async function loadSuperpixels() {
  if (state.superpixelsFor === state.id) return state.superpixels;
  const id = state.id;
  $("hint").textContent = "computing superpixels…";
  const response = await fetch(`/api/images/${path(id)}/superpixels`);
  if (!response.ok) throw new Error(await failure(response));
  const bitmap = await createImageBitmap(await response.blob(), { colorSpaceConversion: "none", premultiplyAlpha: "none" });
  const canvas = document.createElement("canvas");
  canvas.width = bitmap.width;
  canvas.height = bitmap.height;
  const context = canvas.getContext("2d");
  context.drawImage(bitmap, 0, 0);
  const rgb = context.getImageData(0, 0, bitmap.width, bitmap.height).data;
  const labels = new Int32Array(bitmap.width * bitmap.height);
  for (let i = 0; i < labels.length; i++) labels[i] = rgb[i * 4] + 256 * rgb[i * 4 + 1];
  if (state.id === id) {
    state.superpixels = labels;
    state.superpixelsFor = id;
    $("hint").textContent = "";
  }
  return labels;
}

async function loadSuggestion() { // the model's mask of this image, for snapping to its regions
  if (state.suggestionFor === state.id) return state.suggestion;
  const id = state.id;
  const [mask] = await fetchMask(`/api/images/${path(id)}/suggestion?format=raw`);
  if (state.id === id) {
    state.suggestion = mask;
    state.suggestionFor = id;
  }
  return mask;
}

function modelRegion(start) {
  return floodRegion(start, state.suggestion);
}

function superpixelRegion(start) {
  const labels = state.superpixels, label = labels[start], region = [];
  for (let i = 0; i < labels.length; i++) if (labels[i] === label) region.push(i);
  return region;
}

function undo() {
  if (!state.undo.length || state.readOnly) return;
  state.redo.push(state.mask);
  state.mask = state.undo.pop();
  changed();
}

function redo() {
  if (!state.redo.length || state.readOnly) return;
  state.undo.push(state.mask);
  state.mask = state.redo.pop();
  changed();
}

// -- saving -----------------------------------------------------------------------------------------

async function gzip(bytes) {
  if (typeof CompressionStream === "undefined") return bytes;
  const stream = new Blob([bytes]).stream().pipeThrough(new CompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

function scheduleSave() {
  if (state.readOnly || state.conflict) return;
  state.dirty = true;
  if (!state.saving) state.saving = saveLoop();
}

async function saveLoop() {
  try {
    while (state.dirty && !state.conflict) {
      state.dirty = false;
      const id = state.id, snapshot = state.mask.slice(), version = state.version;
      setSave("saving", "saving…");
      let response;
      try {
        response = await fetch(`/api/images/${path(id)}/mask?version=${encodeURIComponent(version)}`, {
          method: "PUT", headers: { "Content-Type": "application/octet-stream" }, body: await gzip(snapshot),
        });
      } catch (err) {
        state.dirty = true;
        setSave("error", "not saved: the server does not answer");
        showError("Not saved: the server does not answer (is pixelseg annotate still running?). Your change is kept here.",
          { label: "try again", run: () => { clearError(); scheduleSave(); } });
        return;
      }
      if (response.status === 409) {
        state.conflict = true;
        setSave("conflict", "not saved: changed elsewhere");
        showError(`${await failure(response)}.`, { label: "reload this image", run: () => openImage(state.index) });
        return;
      }
      if (!response.ok) {
        setSave("error", "not saved");
        showError(`Not saved: ${await failure(response)}`);
        return;
      }
      const body = await response.json();
      if (state.id === id) state.version = body.version;
      state.labelled = body.labelled;
      state.total = body.images;
      const entry = state.images.find((image) => image.id === id);
      if (entry) entry.labelled = true;
      updateCount();
      renderList();
    }
    if (!state.conflict) setSave("saved", state.version ? "saved" : "");
  } finally {
    state.saving = null;
  }
}

async function settle() { // wait for the saves in flight before leaving an image
  while (state.saving) await state.saving;
}

// -- images -----------------------------------------------------------------------------------------

async function fetchMask(url) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(await failure(response));
  return [new Uint8Array(await response.arrayBuffer()), response.headers.get("X-Mask-Version")];
}

function renderList() {
  const list = $("list");
  list.replaceChildren(...state.images.map((image, i) => {
    const item = document.createElement("li");
    item.textContent = image.id;
    item.title = image.labelled ? `${image.id}: labelled` : `${image.id}: not labelled yet`;
    item.classList.toggle("done", image.labelled);
    item.classList.toggle("current", i === state.index);
    item.addEventListener("click", () => openImage(i));
    return item;
  }));
}

async function openImage(index) {
  if (index < 0 || index >= state.images.length) return;
  await settle();
  clearError();
  const image = state.images[index];
  state.index = index;
  state.id = image.id;
  state.points = [];
  state.undo = [];
  state.redo = [];
  state.conflict = false;
  state.readOnly = true;
  document.body.dataset.state = "loading";
  $("name").textContent = `${image.id}  (${index + 1} / ${state.images.length})`;
  $("prev").disabled = index === 0;
  $("next").disabled = index === state.images.length - 1;
  renderList();
  setSave("idle", "");
  try {
    const response = await fetch(`/api/images/${path(image.id)}`);
    if (!response.ok) throw new Error(await failure(response));
    const info = await response.json();
    if (info.error) throw new Error(info.error);
    let mask = null, version = info.version, source = "mask";
    if (version) {
      [mask, version] = await fetchMask(`/api/images/${path(image.id)}/mask?format=raw`);
    } else if (state.assist) {
      [mask] = await fetchMask(`/api/images/${path(image.id)}/suggestion?format=raw`);
      source = "suggestion";
      state.suggestion = mask.slice();
      state.suggestionFor = image.id;
    } else {
      mask = new Uint8Array(info.width * info.height);
      source = "empty";
    }
    await new Promise((resolve, reject) => {
      photo.onload = resolve;
      photo.onerror = () => reject(new Error(`${image.id}: the browser cannot show this image`));
      const url = `/api/images/${path(image.id)}/image`;
      if (photo.getAttribute("src") === url && photo.complete && photo.naturalWidth) resolve();
      else photo.src = url;
    });
    if (state.id !== image.id) return; // another image was asked for meanwhile
    state.width = info.width;
    state.height = info.height;
    state.mask = mask;
    state.version = version || "";
    state.source = source;
    state.readOnly = false;
    for (const canvas of [maskCanvas, draft]) {
      canvas.width = info.width;
      canvas.height = info.height;
    }
    photo.width = info.width;
    photo.height = info.height;
    render();
    fit();
    updateUndoButtons();
    $("hint").textContent = source === "suggestion"
      ? "The model's suggestion: correct it (every change is saved), or press Ctrl+S to keep it as it is."
      : source === "empty" ? "Not labelled yet: everything starts as class 0." : "";
    setSave(source === "mask" ? "saved" : "idle", source === "mask" ? "saved" : source === "suggestion" ? "suggestion, not saved yet" : "");
    document.body.dataset.state = "ready";
    document.body.dataset.source = source;
  } catch (err) {
    if (state.id !== image.id) return;
    document.body.dataset.state = "error";
    showError(err.message);
  }
}

// -- input ------------------------------------------------------------------------------------------

function selectTool(tool) {
  if (tool === "snap" && !state.snap && !state.assist) return;
  if (state.tool === "polygon" && tool !== "polygon") { state.points = []; drawDraft(); }
  state.tool = tool;
  for (const button of document.querySelectorAll("[data-tool]")) button.setAttribute("aria-checked", String(button.dataset.tool === tool));
  viewport.classList.toggle("panning", tool === "pan");
}

function selectClass(value) {
  if (value < 0 || value >= state.classes.length) return;
  state.value = value;
  for (const item of document.querySelectorAll("#classes li")) item.setAttribute("aria-selected", String(Number(item.dataset.id) === value));
  drawDraft();
}

function setSize(size) {
  state.size = Math.max(1, Math.min(200, Math.round(size)));
  $("size").value = String(state.size);
  $("size-value").textContent = String(state.size);
}

function onPointerDown(event) {
  if (document.body.dataset.state !== "ready") return;
  viewport.focus({ preventScroll: true });
  const panning = event.button === 1 || event.button === 2 || state.spaceDown || state.tool === "pan";
  if (panning) {
    state.dragging = { kind: "pan", x: event.clientX, y: event.clientY, panX: state.panX, panY: state.panY };
    draft.setPointerCapture(event.pointerId);
    return;
  }
  if (event.button !== 0 || state.readOnly) return;
  const [x, y] = imagePoint(event);
  const tool = state.tool;
  if (tool === "polygon") {
    const points = state.points;
    if (points.length >= 3) {
      const [fx, fy] = points[0];
      if (Math.hypot(fx - x, fy - y) * state.zoom <= 8) { closePolygon(); return; } // on the first point: close
    }
    if (event.detail >= 2 && points.length >= 3) { closePolygon(); return; } // a double-click closes too
    points.push([x, y]);
    drawDraft();
  } else if (tool === "brush" || tool === "eraser" || tool === "ignore") {
    draftContext.clearRect(0, 0, draft.width, draft.height);
    draftContext.strokeStyle = colourOf(paintValue());
    draftContext.fillStyle = colourOf(paintValue());
    draftContext.lineWidth = state.size;
    draftContext.lineCap = "round";
    draftContext.lineJoin = "round";
    draftContext.beginPath();
    draftContext.arc(x, y, state.size / 2, 0, 2 * Math.PI);
    draftContext.fill();
    state.dragging = { kind: "brush", x, y, value: paintValue() };
    draft.setPointerCapture(event.pointerId);
  } else if (tool === "fill" || tool === "snap") {
    const px = Math.floor(x), py = Math.floor(y);
    if (px < 0 || py < 0 || px >= state.width || py >= state.height) return;
    if (tool === "fill") {
      fillAt(px, py, state.value, floodRegion);
    } else {
      const model = state.snapSource === "model" || !state.snap;
      (model ? loadSuggestion() : loadSuperpixels())
        .then(() => fillAt(px, py, state.value, model ? modelRegion : superpixelRegion)).catch((err) => showError(err.message));
    }
  }
}

function onPointerMove(event) {
  const drag = state.dragging;
  if (drag && drag.kind === "pan") {
    state.panX = drag.panX + event.clientX - drag.x;
    state.panY = drag.panY + event.clientY - drag.y;
    applyView();
    return;
  }
  if (document.body.dataset.state !== "ready") return;
  const [x, y] = imagePoint(event);
  if (drag && drag.kind === "brush") {
    draftContext.beginPath();
    draftContext.moveTo(drag.x, drag.y);
    draftContext.lineTo(x, y);
    draftContext.stroke();
    drag.x = x;
    drag.y = y;
  } else if (state.tool === "polygon" && state.points.length) {
    drawDraft([x, y]);
  }
  const px = Math.floor(x), py = Math.floor(y);
  if (px >= 0 && py >= 0 && px < state.width && py < state.height && state.mask) {
    const v = state.mask[py * state.width + px];
    const name = v === IGNORE ? "ignore" : (state.classes[v] || { name: `value ${v}` }).name;
    $("hint").textContent = `(${px}, ${py}): ${name}`;
  }
}

function onPointerUp() {
  const drag = state.dragging;
  state.dragging = null;
  if (drag && drag.kind === "brush") commitDraft(drag.value);
}

function onKey(event) {
  if (event.target instanceof HTMLInputElement && event.target.type !== "range") return;
  const key = event.key, ctrl = event.ctrlKey || event.metaKey;
  if (ctrl && (key === "z" || key === "Z")) { event.preventDefault(); event.shiftKey ? redo() : undo(); return; }
  if (ctrl && (key === "y" || key === "Y")) { event.preventDefault(); redo(); return; }
  if (ctrl && (key === "s" || key === "S")) { event.preventDefault(); if (!state.readOnly) scheduleSave(); return; }
  if (ctrl || event.altKey) return;
  const tools = { p: "polygon", b: "brush", e: "eraser", i: "ignore", f: "fill", s: "snap", h: "pan" };
  if (tools[key.toLowerCase()]) { selectTool(tools[key.toLowerCase()]); return; }
  if (/^[1-9]$/.test(key)) { selectClass(Number(key) - 1); return; }
  if (key === "[") { setSize(state.size / 1.25); return; }
  if (key === "]") { setSize(state.size * 1.25 + 0.5); return; }
  if (key === "+" || key === "=") { zoomCentre(1.25); return; }
  if (key === "-" || key === "_") { zoomCentre(0.8); return; }
  if (key === "0") { fit(); return; }
  if (key === "o" || key === "O") { state.showMask = !state.showMask; applyView(); return; }
  if (key === "Enter") { if (state.tool === "polygon") closePolygon(); return; }
  if (key === "Escape") { state.points = []; drawDraft(); return; }
  if (key === "Backspace") { event.preventDefault(); state.points.pop(); drawDraft(); return; }
  if (key === "ArrowLeft" || key === "PageUp") { event.preventDefault(); openImage(state.index - 1); return; }
  if (key === "ArrowRight" || key === "PageDown") { event.preventDefault(); openImage(state.index + 1); return; }
  if (key === " ") { event.preventDefault(); state.spaceDown = true; viewport.classList.add("panning"); }
}

async function start() {
  const response = await fetch("/api/images");
  if (!response.ok) { showError(await failure(response)); document.body.dataset.state = "error"; return; }
  const listing = await response.json();
  state.classes = listing.classes;
  state.images = listing.images;
  state.assist = listing.assist;
  state.snap = listing.snap;
  state.labelled = listing.labelled;
  state.total = listing.total;
  colours = new Uint8Array(256 * 3);
  for (const c of listing.classes) colours.set(hexToRgb(c.color), c.id * 3);
  colours.set([255, 255, 255], IGNORE * 3);
  state.value = Math.min(1, listing.classes.length - 1);
  $("classes").replaceChildren(...listing.classes.map((c, i) => {
    const item = document.createElement("li");
    item.dataset.id = String(c.id);
    const swatch = document.createElement("span");
    swatch.className = "swatch";
    swatch.style.background = c.color;
    const name = document.createElement("span");
    name.className = "class-name";
    name.textContent = c.name;
    item.append(swatch, name);
    if (i < 9) {
      const key = document.createElement("kbd");
      key.className = "key";
      key.textContent = String(i + 1);
      item.append(key);
    }
    item.addEventListener("click", () => selectClass(c.id));
    return item;
  }));
  const snapTool = $("snap-tool");
  snapTool.disabled = !state.snap && !state.assist;
  if (!state.snap) {
    snapTool.title = state.assist ? "snap: the model's region under the click (S); superpixels need scikit-image on the server"
      : "snap needs scikit-image on the server (pip install scikit-image), or a model (--checkpoint)";
  }
  $("snap-source-row").hidden = !(state.snap && state.assist);
  selectClass(state.value);
  selectTool("polygon");
  updateCount();
  if (!state.images.length) {
    document.body.dataset.state = "error";
    showError(`No images in ${listing.root}: put photos there (or in images/<split>/) and reload.`);
    return;
  }
  const first = state.images.findIndex((image) => !image.labelled); // resume where the labelling stopped
  await openImage(first >= 0 ? first : 0);
}

for (const button of document.querySelectorAll("[data-tool]")) button.addEventListener("click", () => selectTool(button.dataset.tool));
$("snap-source").addEventListener("change", (event) => { state.snapSource = event.target.value; });
$("size").addEventListener("input", (event) => setSize(Number(event.target.value)));
$("opacity").addEventListener("input", (event) => { state.opacity = Number(event.target.value) / 100; applyView(); });
$("undo").addEventListener("click", undo);
$("redo").addEventListener("click", redo);
$("save").addEventListener("click", () => { if (!state.readOnly) scheduleSave(); });
$("prev").addEventListener("click", () => openImage(state.index - 1));
$("next").addEventListener("click", () => openImage(state.index + 1));
$("zoom-in").addEventListener("click", () => zoomCentre(1.25));
$("zoom-out").addEventListener("click", () => zoomCentre(0.8));
$("fit").addEventListener("click", fit);
draft.addEventListener("pointerdown", onPointerDown);
draft.addEventListener("pointermove", onPointerMove);
draft.addEventListener("pointerup", onPointerUp);
draft.addEventListener("pointercancel", onPointerUp);
draft.addEventListener("contextmenu", (event) => event.preventDefault());
viewport.addEventListener("wheel", (event) => { event.preventDefault(); zoomAt(event.deltaY < 0 ? 1.15 : 1 / 1.15, event.clientX, event.clientY); },
  { passive: false });
document.addEventListener("keydown", onKey);
document.addEventListener("keyup", (event) => {
  if (event.key === " ") { state.spaceDown = false; viewport.classList.toggle("panning", state.tool === "pan"); }
});
window.addEventListener("resize", () => { if (state.mask) fit(); });
window.addEventListener("beforeunload", (event) => { if (state.saving || state.dirty) event.preventDefault(); });
start();
