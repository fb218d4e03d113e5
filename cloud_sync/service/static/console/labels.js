// Labelling the camera's hard examples: a strip of frames and an editor where an operator accepts
// the model's boxes, corrects them (draw, move, resize, relabel, remove) or deletes the frame from
// training. Boxes live in 0..1 of the image: the overlay's viewBox is the unit square.
import { API, api, get, query } from "/common/api.js";
import { clear, h, s } from "/common/dom.js";
import { $, count, may, utc } from "./page.js";

const MIN_SIZE = 0.01; // a drag smaller than this is a click, not a box
let wired = false;
let examples = [];
let classes = [];
let current = null; // the HardExample in the editor
let boxes = []; // its boxes being edited: {label, x1, y1, x2, y2}
let selected = -1;
let drag = null; // {mode: draw|move|resize, index, start: [x, y], origin: box}

export async function showLabels() {
  if (!wired) {
    $("label-filter").addEventListener("submit", (event) => { event.preventDefault(); load(); });
    $("label-accept").addEventListener("click", () => save("accepted", modelBoxes()));
    $("label-save").addEventListener("click", () => save("corrected", boxes));
    $("label-delete").addEventListener("click", () => save("deleted", []));
    $("label-reset").addEventListener("click", () => edit(current));
    const overlay = $("label-overlay");
    overlay.addEventListener("pointerdown", pointerDown);
    overlay.addEventListener("pointermove", pointerMove);
    overlay.addEventListener("pointerup", pointerUp);
    overlay.addEventListener("pointercancel", () => { drag = null; });
    wired = true;
  }
  await load();
}

async function load(keep = null) {
  const params = { status: $("label-status").value, device_id: $("label-device").value.trim(), limit: 60 };
  const page = await get(`/labels/hard-examples${query(params)}`);
  examples = page.examples;
  classes = page.classes;
  const c = page.counts;
  clear($("label-counts")).append(h("span.summary-item", `${count(c.unlabelled)} to label`),
    h("span.summary-item", `${count(c.labelled)} labelled`), h("span.summary-item", `${count(c.deleted)} deleted`));
  clear($("label-thumbs")).append(...examples.map((e) => h("li",
    h("button.thumb", { type: "button", dataset: { id: e.id }, onclick: () => edit(e),
      "aria-label": `Frame ${e.id} of ${e.camera} on ${e.device_id}` },
    h("img", { src: imageUrl(e), alt: "", loading: "lazy" }),
    h("span.thumb-state", e.label ? e.label.status : "unlabelled")))));
  edit(examples.find((e) => keep && e.id === keep) || examples[0] || null);
}

function imageUrl(example) {
  return `${API}/labels/hard-examples/${example.id}/image`;
}

/** Opens ``example`` in the editor with its label's boxes, else the model's. */
function edit(example) {
  current = example;
  selected = -1;
  $("label-error").hidden = true;
  for (const b of document.querySelectorAll(".thumb")) b.classList.toggle("current", example && b.dataset.id === String(example.id));
  $("label-frame").hidden = !example;
  $("label-actions").hidden = !example || !may("operator");
  if (!example) {
    $("editor-title").textContent = "No hard example to show";
    $("editor-origin").textContent = "";
    boxes = [];
    render();
    return;
  }
  $("editor-title").textContent = `Frame ${example.id}${example.label ? ` · ${example.label.status}` : ""}`;
  $("editor-origin").textContent = `${example.camera} on ${example.device_id} (${example.site}), ${utc(example.ts)}`
    + (example.label ? ` · revision ${example.label.revision} by ${example.label.by}` : "");
  const image = $("label-image");
  image.onload = () => {
    boxes = example.label ? example.label.boxes.map((b) => ({ ...b })) : modelBoxes();
    render();
  };
  image.src = imageUrl(example);
}

/** The model's detections as boxes in 0..1 of the image (they come in image pixels). */
function modelBoxes() {
  const image = $("label-image");
  const w = image.naturalWidth || 1;
  const hgt = image.naturalHeight || 1;
  const clamp = (v) => Math.min(1, Math.max(0, v));
  return (current ? current.detections : []).filter((d) => classes.includes(d.label)).map((d) => ({
    label: d.label, x1: clamp(d.box[0] / w), y1: clamp(d.box[1] / hgt), x2: clamp(d.box[2] / w), y2: clamp(d.box[3] / hgt),
  }));
}

function render() {
  const overlay = clear($("label-overlay"));
  boxes.forEach((b, i) => {
    overlay.append(s("rect", { x: b.x1, y: b.y1, width: b.x2 - b.x1, height: b.y2 - b.y1, "data-index": i,
      class: `box box-${b.label}${i === selected ? " selected" : ""}`, "vector-effect": "non-scaling-stroke" }));
    if (i === selected && may("operator")) {
      overlay.append(s("rect", { x: b.x2 - 0.02, y: b.y2 - 0.02, width: 0.04, height: 0.04, "data-index": i,
        class: "handle", "vector-effect": "non-scaling-stroke" }));
    }
  });
  const editable = may("operator");
  clear($("box-list")).append(...boxes.map((b, i) => h(`li.box-item${i === selected ? ".selected" : ""}`,
    { dataset: { index: i } },
    h("button.btn.btn-small.box-pick", { type: "button", onclick: () => { selected = i; render(); } }, `Box ${i + 1}`),
    h("select.box-label", { "aria-label": `Label of box ${i + 1}`, disabled: !editable,
      onchange: (event) => { boxes[i].label = event.currentTarget.value; render(); } },
    classes.map((c) => h("option", { value: c, selected: c === b.label }, c))),
    editable ? h("button.btn.btn-small.box-remove", { type: "button", onclick: () => { boxes.splice(i, 1); selected = -1; render(); } },
      "Remove") : null)));
}

/** The pointer's position in 0..1 of the image. */
function point(event) {
  const r = $("label-overlay").getBoundingClientRect();
  return [Math.min(1, Math.max(0, (event.clientX - r.left) / r.width)), Math.min(1, Math.max(0, (event.clientY - r.top) / r.height))];
}

function pointerDown(event) {
  if (!may("operator") || !current) return;
  const [x, y] = point(event);
  const index = event.target.dataset ? Number(event.target.dataset.index) : NaN;
  event.currentTarget.setPointerCapture(event.pointerId);
  if (event.target.classList.contains("handle")) {
    drag = { mode: "resize", index, start: [x, y], origin: { ...boxes[index] } };
  } else if (Number.isInteger(index) && event.target.classList.contains("box")) {
    selected = index;
    drag = { mode: "move", index, start: [x, y], origin: { ...boxes[index] } };
  } else {
    boxes.push({ label: classes[0], x1: x, y1: y, x2: x, y2: y });
    selected = boxes.length - 1;
    drag = { mode: "draw", index: selected, start: [x, y], origin: null };
  }
  render();
}

function pointerMove(event) {
  if (!drag) return;
  const [x, y] = point(event);
  const b = boxes[drag.index];
  const [sx, sy] = drag.start;
  if (drag.mode === "draw") {
    Object.assign(b, { x1: Math.min(sx, x), y1: Math.min(sy, y), x2: Math.max(sx, x), y2: Math.max(sy, y) });
  } else if (drag.mode === "move") {
    const o = drag.origin;
    const dx = Math.min(1 - o.x2, Math.max(-o.x1, x - sx));
    const dy = Math.min(1 - o.y2, Math.max(-o.y1, y - sy));
    Object.assign(b, { x1: o.x1 + dx, y1: o.y1 + dy, x2: o.x2 + dx, y2: o.y2 + dy });
  } else {
    Object.assign(b, { x2: Math.max(drag.origin.x1 + MIN_SIZE, x), y2: Math.max(drag.origin.y1 + MIN_SIZE, y) });
  }
  render();
}

function pointerUp() {
  if (drag && drag.mode === "draw") {
    const b = boxes[drag.index];
    if (b.x2 - b.x1 < MIN_SIZE || b.y2 - b.y1 < MIN_SIZE) {
      boxes.splice(drag.index, 1);
      selected = -1;
    }
  }
  drag = null;
  render();
}

async function save(status, chosen) {
  if (!current) return;
  const error = $("label-error");
  error.hidden = true;
  const round = (v) => Math.round(v * 10000) / 10000;
  const body = { status, boxes: chosen.map((b) => ({ label: b.label, x1: round(b.x1), y1: round(b.y1), x2: round(b.x2), y2: round(b.y2) })) };
  try {
    await api("PUT", `/labels/hard-examples/${current.id}/label`, body);
  } catch (err) {
    error.textContent = err.text || String(err);
    error.hidden = false;
    return;
  }
  const next = examples[examples.indexOf(current) + 1];
  await load(next ? next.id : null);
}
