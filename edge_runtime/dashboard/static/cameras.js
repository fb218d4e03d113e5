// Camera tiles: the newest annotated frame of each camera, refreshed on every
// `camera` event and every 2 s (a cache-busting query makes the browser fetch
// it again). An offline camera says so in plain words, with the reason.
import { API, get } from "./api.js";
import { state, on } from "./state.js";
import { h, clear, clockTime } from "./util.js";

const REFRESH_MS = 2000;
let gridEl;
let emptyEl;
const tiles = new Map(); // id -> {li, img, status, caption, loading, lastSrc}

export function setupCameras(grid, empty) {
  gridEl = grid;
  emptyEl = empty;
  on("cameras", render);
  setInterval(refreshAll, REFRESH_MS);
}

export async function loadCameras() {
  const list = await get("/cameras");
  state.cameras = new Map(list.cameras.map((c) => [c.id, c]));
  render();
}

/** A `camera` event: {id, online, reason, frame_ts}. */
export function applyCameraEvent(ev) {
  const cam = state.cameras.get(ev.id);
  if (!cam) {
    // a camera we did not know: take the whole list again
    loadCameras().catch(() => {});
    return;
  }
  Object.assign(cam, { online: ev.online, reason: ev.reason ?? cam.reason, frame_ts: ev.frame_ts ?? cam.frame_ts });
  updateTile(cam, true);
}

function render() {
  if (!gridEl) return;
  const cams = [...state.cameras.values()].sort((a, b) => (a.name || a.id).localeCompare(b.name || b.id));
  emptyEl.hidden = cams.length > 0;
  for (const [id, t] of tiles) {
    if (!state.cameras.has(id)) {
      t.li.remove();
      tiles.delete(id);
    }
  }
  cams.forEach((cam, i) => {
    let t = tiles.get(cam.id);
    if (!t) {
      t = createTile(cam);
      tiles.set(cam.id, t);
    }
    if (gridEl.children[i] !== t.li) gridEl.insertBefore(t.li, gridEl.children[i] || null);
    updateTile(cam, true);
  });
}

function createTile(cam) {
  const img = h("img.camera-frame", { alt: `Latest annotated frame of ${cam.name || cam.id}`, decoding: "async" });
  const status = h("div.camera-status", { role: "status" });
  const caption = h("figcaption.camera-caption");
  const li = h("li.camera-tile", { dataset: { camera: cam.id } }, h("figure", h("div.camera-view", img, status), caption));
  const t = { li, img, status, caption, loading: false, lastSrc: null, shown: false };
  img.addEventListener("load", () => {
    t.loading = false;
    t.shown = true;
    status.hidden = true;
    li.classList.add("has-frame");
    li.classList.remove("no-frame");
  });
  img.addEventListener("error", () => {
    t.loading = false;
    li.classList.add("no-frame");
    if (!li.classList.contains("offline")) showStatus(t, "No frame yet", "");
  });
  return t;
}

function showStatus(t, title, detail) {
  clear(t.status).append(h("strong", title), detail ? h("span", detail) : "");
  t.status.hidden = false;
}

function updateTile(cam, force) {
  const t = tiles.get(cam.id);
  if (!t) return;
  t.li.classList.toggle("offline", !cam.online);
  t.li.dataset.online = String(!!cam.online);
  const model = [cam.model, cam.model_version, cam.backend].filter(Boolean).join(" · ");
  clear(t.caption).append(
    h("span.camera-name", cam.name || cam.id),
    h(`span.camera-badge.${cam.online ? "ok" : "bad"}`, cam.online ? "● online" : "✖ offline"),
    h("span.camera-info", `${model ? `${model} · ` : ""}${cam.frame_ts ? `frame ${clockTime(cam.frame_ts)}` : "no frame"}`));
  if (!cam.online) {
    showStatus(t, "CAMERA OFFLINE", cam.reason || "no reason given");
    t.img.hidden = true;
    return;
  }
  if (!cam.frame_ts) {
    // nothing to fetch yet (asking would only earn a 503)
    t.img.hidden = !t.shown;
    if (!t.shown) showStatus(t, "No frame yet", "waiting for the first annotated frame");
    return;
  }
  t.img.hidden = false;
  if (t.shown) t.status.hidden = true;
  if (force || cam.frame_ts !== t.lastTs) loadFrame(cam, t);
}

function loadFrame(cam, t) {
  if ((t.loading && Date.now() - t.loadingSince < 10000) || document.hidden) return;
  t.loading = true;
  t.loadingSince = Date.now();
  t.lastTs = cam.frame_ts;
  t.img.src = `${API}/cameras/${encodeURIComponent(cam.id)}/frame.jpg?t=${Date.now()}`;
}

function refreshAll() {
  for (const cam of state.cameras.values()) {
    const t = tiles.get(cam.id);
    if (t && cam.online && cam.frame_ts) loadFrame(cam, t);
  }
}
