// The site map: an SVG drawn from the site plan in site metres (x east, y north;
// SVG's y grows down, so every y is negated). Zones are coloured by hazard and
// by the priority of their open alarms, and hatched and flashing while
// evacuating; sirens show when they sound; workers show where they were last
// seen, greyed with their age once the position is stale. No map tiles: the
// plan is all there is, so it works offline.
import { state, on, emit, zoneName } from "./state.js";
import { s, clear, age, hazardLabel, PRIORITY_LABEL, PRIORITY_LETTER, clockTime } from "./util.js";

const PAD = 6; // metres around the site bounds
let svg;
let layers = {};
const workerMarks = new Map(); // id -> {g, dot, ring, label}

export function setupMap(el) {
  svg = el;
  on("site", drawSite);
  on("workers", drawWorkers);
  on("selected", markSelected);
  // symbols are sized in screen pixels: draw again when the map changes size
  new ResizeObserver(() => {
    const width = svg.getBoundingClientRect().width;
    if (!lastSite || Math.abs(width - Number(svg.dataset.width || 0)) < 2) return;
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(() => drawSite(lastSite), 120);
  }).observe(svg);
}

/** First name, or the id when there is no name. */
function shortName(w) {
  return (w.name || w.id).split(/\s+/)[0];
}

let lastSite = null;
let resizeTimer = null;

/** Site metres per CSS pixel of the drawn map, so symbols and labels keep their size on any screen. */
function unitsPerPixel(w, hgt) {
  const rect = svg.getBoundingClientRect();
  if (!rect.width || !rect.height) return w / 800;
  return Math.max(w / rect.width, hgt / rect.height);
}

function drawSite(site) {
  if (!svg || !site) return;
  lastSite = site;
  const [minx, miny, maxx, maxy] = site.bounds;
  const x0 = minx - PAD;
  const y0 = -(maxy + PAD);
  const w = maxx - minx + 2 * PAD;
  const hgt = maxy - miny + 2 * PAD;
  svg.setAttribute("viewBox", `${x0} ${y0} ${w} ${hgt}`);
  svg.setAttribute("preserveAspectRatio", "xMidYMid meet");
  const px = unitsPerPixel(w, hgt);
  const scale = px * 5; // "scale" units below: 5 CSS px each
  svg.dataset.scale = String(scale);
  svg.dataset.width = String(svg.getBoundingClientRect().width);
  svg.dataset.right = String(x0 + w);
  // the frame (and the worker markers) are drawn again only when the plan's extent or the
  // screen size changed; a zone or siren changing state redraws just the zones and points
  const frameKey = JSON.stringify([site.bounds, scale.toFixed(5)]);
  if (frameKey === svg.dataset.frame && layers.zones) {
    clear(layers.zones);
    clear(layers.points);
    clear(layers.labels);
    drawPlan(site, scale, { x0, y0, w, hgt });
    return;
  }
  svg.dataset.frame = frameKey;
  clear(svg);
  workerMarks.clear();
  svg.append(s("defs", {},
    s("pattern", { id: "hatch", width: 4 * scale, height: 4 * scale, patternUnits: "userSpaceOnUse", patternTransform: "rotate(45)" },
      s("rect", { width: 2 * scale, height: 4 * scale, class: "hatch-bar" }))));

  svg.append(s("rect", { x: x0, y: y0, width: w, height: hgt, class: "map-bg" }));
  layers = {
    zones: s("g", { class: "layer-zones" }),
    points: s("g", { class: "layer-points" }),
    workers: s("g", { class: "layer-workers" }),
    labels: s("g", { class: "layer-labels" }),
    furniture: s("g", { class: "layer-furniture" }),
  };
  svg.append(layers.zones, layers.points, layers.labels, layers.workers, layers.furniture);
  drawPlan(site, scale, { x0, y0, w, hgt });

  // a 10 m scale bar and a north arrow
  const bx = x0 + 3 * scale;
  const by = y0 + hgt - 3 * scale;
  const len = niceLength(70 * px); // about 70 px long, a round number of metres
  layers.furniture.append(
    s("g", { class: "scale-bar" },
      s("line", { x1: bx, y1: by, x2: bx + len, y2: by }),
      s("line", { x1: bx, y1: by - scale, x2: bx, y2: by + scale * 0.2 }),
      s("line", { x1: bx + len, y1: by - scale, x2: bx + len, y2: by + scale * 0.2 }),
      s("text", { x: bx + len / 2, y: by - 1.4 * scale, "text-anchor": "middle", "font-size": 2.4 * scale }, `${len} m`)),
    s("g", { class: "north" },
      s("path", { d: `M${x0 + w - 5 * scale},${y0 + 8 * scale} l${2 * scale},${-5 * scale} l${2 * scale},${5 * scale} z` }),
      s("text", { x: x0 + w - 3 * scale, y: y0 + 11 * scale, "text-anchor": "middle", "font-size": 2.6 * scale }, "N")),
  );
  if (state.workers.size) drawWorkers();
}

function drawPlan(site, scale, view) {
  const { x0, y0, w, hgt } = view;
  // zones: biggest first so small ones stay on top and clickable
  const area = (poly) => Math.abs(poly.reduce((a, [x, y], i) => {
    const [x2, y2] = poly[(i + 1) % poly.length];
    return a + x * y2 - x2 * y;
  }, 0) / 2);
  const zones = [...site.zones].sort((a, b) => area(b.polygon) - area(a.polygon));
  const placed = []; // label boxes so far
  for (const z of zones) {
    const pts = z.polygon.map(([x, y]) => `${x},${-y}`).join(" ");
    const classes = ["zone", `hazard-${z.hazard}`];
    if (z.alarm_priority) classes.push("zone-alarm", `prio-${z.alarm_priority}`);
    if (z.evacuating) classes.push("evacuating");
    if (z.siren_on) classes.push("siren-on");
    const status = [
      hazardLabel(z.hazard),
      z.alarm_priority ? `alarm ${PRIORITY_LABEL[z.alarm_priority]}` : null,
      z.evacuating ? "EVACUATING" : null,
      z.siren_on ? "siren sounding" : null,
      `${z.occupants.length} inside`,
    ].filter(Boolean).join(", ");
    const g = s("g", { class: classes.join(" "), "data-zone": z.id },
      s("title", {}, `${z.name}: ${status}`),
      s("polygon", { points: pts, class: "zone-shape" }));
    if (z.evacuating) g.append(s("polygon", { points: pts, class: "zone-hatch", fill: "url(#hatch)" }));
    layers.zones.append(g);
    // the label: inside the north-west corner, else above or below the zone, where it overlaps no other
    let text = z.name;
    if (z.evacuating) text = `EVACUATE · ${text}`;
    else if (z.alarm_priority) text = `${text} · ${PRIORITY_LABEL[z.alarm_priority]}`;
    const label = s("text", { class: `zone-label${z.evacuating ? " evac" : ""}`, "font-size": 2.6 * scale, "data-zone-label": z.id }, text);
    layers.labels.append(label);
    placeLabel(label, z.polygon, scale, { x0, y0, w, hgt }, placed);
  }

  const zoneById = new Map(site.zones.map((z) => [z.id, z]));
  // points on the same spot (detectors and a siren placed at a zone's centre) are fanned out
  const spots = new Map();
  for (const p of site.points) {
    const key = `${Math.round(p.x)},${Math.round(p.y)}`;
    if (!spots.has(key)) spots.set(key, []);
    spots.get(key).push(p);
  }
  for (const group of spots.values()) {
    group.forEach((p, i) => {
      let q = p;
      if (group.length > 1) {
        const a = (2 * Math.PI * i) / group.length - Math.PI / 2;
        q = { ...p, x: p.x + Math.cos(a) * 3 * scale, y: p.y + Math.sin(a) * 3 * scale };
      }
      layers.points.append(pointMark(q, zoneById.get(p.zone), scale));
    });
  }
}

function placeLabel(label, polygon, k, view, placed) {
  const xs = polygon.map((p) => p[0]);
  const ys = polygon.map((p) => p[1]);
  const left = Math.min(...xs);
  const top = -Math.max(...ys);
  const bottom = -Math.min(...ys);
  let width = 0;
  try {
    width = label.getComputedTextLength();
  } catch {
    width = 0;
  }
  if (!width) width = label.textContent.length * 2.6 * k * 0.6;
  const height = 2.6 * k;
  const clampX = (x) => Math.max(view.x0 + k, Math.min(x, view.x0 + view.w - width - k));
  const candidates = [
    [left + 0.8 * k, top + 3.2 * k], // inside, north-west corner
    [left, top - 1.0 * k], // just above
    [left, bottom + 3.4 * k], // just below
  ].map(([x, y]) => [clampX(x), Math.max(view.y0 + height + k, Math.min(y, view.y0 + view.hgt - k))]);
  const box = ([x, y]) => ({ x1: x, x2: x + width, y1: y - height, y2: y + 0.3 * height });
  const hits = (b) => placed.some((o) => b.x1 < o.x2 && o.x1 < b.x2 && b.y1 < o.y2 && o.y1 < b.y2);
  const fits = ([x]) => x + width <= Math.max(...xs) || candidates.length === 1;
  let spot = candidates.find((c, i) => (i > 0 || fits(c)) && !hits(box(c))) || candidates[0];
  if (!spot) spot = candidates[0];
  label.setAttribute("x", String(spot[0]));
  label.setAttribute("y", String(spot[1]));
  placed.push(box(spot));
}

function niceLength(metres) {
  const p = 10 ** Math.floor(Math.log10(metres));
  const f = metres / p;
  return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * p;
}

function pointMark(p, zone, k) {
  const x = p.x;
  const y = -p.y;
  const classes = ["point", `point-${p.kind}`];
  if (p.online === false) classes.push("offline");
  let shape;
  let title = `${p.name || p.id} (${p.kind}${p.zone ? `, ${zoneName(p.zone)}` : ""})`;
  if (p.online === false) title += " — OFFLINE";
  const r = 1.5 * k;
  if (p.kind === "detector") {
    shape = s("path", { d: `M${x},${y - r} L${x + r},${y} L${x},${y + r} L${x - r},${y} Z`, class: "mark" });
  } else if (p.kind === "camera") {
    shape = s("g", {},
      s("rect", { x: x - r, y: y - r * 0.7, width: r * 1.5, height: r * 1.4, class: "mark" }),
      s("path", { d: `M${x + r * 0.5},${y} L${x + r * 1.3},${y - r * 0.6} L${x + r * 1.3},${y + r * 0.6} Z`, class: "mark" }));
  } else if (p.kind === "siren") {
    const on = !!(zone && zone.siren_on);
    if (on) {
      classes.push("on");
      title += " — SOUNDING";
    }
    shape = s("g", {},
      on ? s("circle", { cx: x, cy: y, r: r * 2.2, class: "siren-wave" }) : null,
      s("circle", { cx: x, cy: y, r: r * 1.1, class: "mark" }),
      s("text", { x, y: y + r * 0.5, "text-anchor": "middle", "font-size": 1.5 * k, class: "mark-text" }, "S"));
  } else if (p.kind === "equipment") {
    shape = s("g", {},
      s("path", { d: `M${x},${y - r * 1.4} L${x + r * 1.3},${y + r} L${x - r * 1.3},${y + r} Z`, class: "mark" }),
      s("text", { x, y: y + r * 3, "text-anchor": "middle", "font-size": 2 * k, class: "point-label" }, p.name ? p.name.split(/\s+\(/)[0] : p.id));
  } else {
    shape = s("circle", { cx: x, cy: y, r, class: "mark" });
  }
  if (p.online === false && p.kind !== "siren") {
    shape = s("g", {}, shape, s("path", { d: `M${x - r},${y - r} L${x + r},${y + r} M${x + r},${y - r} L${x - r},${y + r}`, class: "offline-cross" }));
  }
  return s("g", { class: classes.join(" "), "data-point": p.id }, s("title", {}, title), shape);
}

function drawWorkers() {
  if (!svg || !layers.workers) return;
  const k = Number(svg.dataset.scale || 1);
  const seen = new Set();
  let stale = 0;
  for (const w of state.workers.values()) {
    if (!w.position) continue;
    seen.add(w.id);
    let m = workerMarks.get(w.id);
    if (!m) {
      m = createWorker(w, k);
      workerMarks.set(w.id, m);
      layers.workers.append(m.g);
    }
    const pos = w.position;
    m.g.setAttribute("transform", `translate(${pos.x} ${-pos.y})`);
    const classes = ["worker"];
    if (pos.stale) {
      classes.push("stale");
      stale += 1;
    }
    if (w.alarm_priority) classes.push("has-alarm", `prio-${w.alarm_priority}`);
    if (state.selectedWorker === w.id) classes.push("selected");
    m.g.setAttribute("class", classes.join(" "));
    m.g.dataset.stale = pos.stale ? "true" : "false";
    const label = pos.stale ? `${shortName(w)} · stale ${age(pos.age_s)}` : shortName(w);
    if (m.label.textContent !== label) m.label.textContent = label;
    // near the right edge the label goes to the left of the dot, so it is never cut off
    const right = Number(svg.dataset.right) - pos.x < label.length * 2.6 * k * 0.62 + 3 * k;
    if (right !== (m.label.getAttribute("text-anchor") === "end")) {
      m.label.setAttribute("text-anchor", right ? "end" : "start");
      m.label.setAttribute("x", String((right ? -1 : 1) * 1.9 * k * 1.4));
    }
    const alarmText = w.alarm_priority ? `, alarm ${PRIORITY_LABEL[w.alarm_priority]}` : "";
    const desc = `${w.name} (${w.id}), ${w.role}${pos.stale ? `, position stale ${age(pos.age_s)}` : ""}${alarmText}`;
    if (m.title.textContent !== desc) {
      m.title.textContent = desc;
      m.g.setAttribute("aria-label", desc);
    }
    m.mark.textContent = w.alarm_priority ? PRIORITY_LETTER[w.alarm_priority] : "";
  }
  for (const [id, m] of workerMarks) {
    if (!seen.has(id)) {
      m.g.remove();
      workerMarks.delete(id);
    }
  }
  const note = document.getElementById("map-note");
  if (note) {
    note.textContent = `${seen.size} on the map${stale ? ` · ${stale} stale` : ""} · ${clockTime(state.workersTs)}`;
  }
}

function createWorker(w, k) {
  const r = 1.9 * k;
  const title = s("title", {}, w.name);
  const label = s("text", { x: r * 1.4, y: r * 0.55, "font-size": 2.6 * k, class: "worker-label" }, shortName(w));
  const mark = s("text", { x: 0, y: r * 0.55, "text-anchor": "middle", "font-size": 2.2 * k, class: "worker-mark" }, "");
  const g = s("g", { class: "worker", tabindex: "0", role: "button", "data-worker": w.id },
    title,
    s("circle", { r: r * 1.8, class: "worker-hit" }),
    s("circle", { r, class: "worker-dot" }),
    mark,
    label);
  const open = () => emit("select-worker", w.id);
  g.addEventListener("click", open);
  g.addEventListener("keydown", (e) => {
    if (e.key === "Enter" || e.key === " ") {
      e.preventDefault();
      open();
    }
  });
  return { g, title, label, mark };
}

function markSelected(id) {
  for (const [wid, m] of workerMarks) m.g.classList.toggle("selected", wid === id);
}
