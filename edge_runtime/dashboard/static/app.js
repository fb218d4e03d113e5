// The live page: signs in the page (session + CSRF token), loads the snapshots,
// then keeps them current from the event stream.
import { session, get, signOut, ApiError } from "./api.js";
import { state, on, emit, applyAlarm, applyWorkers, refreshAlarms } from "./state.js";
import { setTimeZone, clockTime, nowSeconds } from "./util.js";
import { setupMap } from "./map.js";
import { setupAlarms } from "./alarms.js";
import { setupWorkers } from "./workers.js";
import { setupCameras, loadCameras, applyCameraEvent } from "./cameras.js";
import { setupZones, loadZoneLog, applyZoneAction } from "./zones.js";
import { setupSync, loadSync } from "./sync.js";
import { setupSound, alarmSound } from "./sound.js";
import { LiveStream, staleText } from "./live.js";

const SITE_REFRESH_MS = 15000;
const LOAD_REFRESH_MS = 5000;
const $ = (id) => document.getElementById(id);
const errors = new Map(); // what failed -> message

function showError(what, err) {
  if (err && err.status === 401) return; // on the way to the login form
  if (err) errors.set(what, `${what}: ${err instanceof ApiError ? err.text : err}`);
  else errors.delete(what);
  const box = $("error-banner");
  box.textContent = [...errors.values()].join(" · ");
  box.hidden = errors.size === 0;
}

async function guarded(what, fn) {
  try {
    const out = await fn();
    showError(what, null);
    return out;
  } catch (err) {
    showError(what, err);
    return null;
  }
}

// -- snapshots ---------------------------------------------------------------------------------

async function loadSite() {
  const site = await get("/site");
  state.site = site;
  setTimeZone(site.timezone);
  $("site-name").textContent = site.site_name;
  document.title = `SiteGuard — ${site.site_name}`;
  emit("site", site);
  return site;
}

let siteTimer = null;
function siteSoon(delay = 400) {
  if (siteTimer) return;
  siteTimer = setTimeout(() => {
    siteTimer = null;
    guarded("Site plan", loadSite);
  }, delay);
}

const loadWorkers = async () => applyWorkers(await get("/workers"));
const loadAlarms = () => refreshAlarms(() => get("/alarms"));

let alarmTimer = null;
function alarmsSoon() {
  if (alarmTimer) return;
  alarmTimer = setTimeout(() => {
    alarmTimer = null;
    guarded("Alarms", loadAlarms);
  }, 1000);
}

// -- load shedding: routine telemetry coalesced under overload (events are never shed) ---------

let lastShed = null; // the shed total at the previous poll
async function loadLoad() {
  const load = await get("/load");
  const banner = $("load-banner");
  const recent = lastShed !== null && load.shed > lastShed;
  lastShed = load.shed;
  showStorage(load.storage);
  banner.hidden = !load.shedding;
  banner.classList.toggle("active", recent);
  document.body.dataset.shedding = recent ? "now" : load.shedding ? "since-start" : "no";
  if (!load.shedding) return;
  const where = load.queues.filter((q) => q.shed > 0).map((q) => q.name).join(", ");
  banner.textContent = recent
    ? `Overload: routine telemetry is being coalesced (${load.shed} readings shed, ${where}). Alarms and events are not affected.`
    : `Load: ${load.shed} routine readings were coalesced since start (${where}); none now. Alarms and events were not affected.`;
}

// -- storage: alarms are raised without it, but their history is only held while it fails ----------

function showStorage(storage) {
  const banner = $("storage-banner");
  banner.hidden = storage.writable;
  document.body.dataset.storage = storage.writable ? "ok" : "failed";
  if (storage.writable) return;
  const lost = storage.lost ? ` ${storage.lost} could not be kept anywhere.` : "";
  banner.textContent = `Storage failed (${storage.reason}): alarms are still raised and sent, but their history `
    + `(${storage.held} alarm changes) is only held until the database takes writes again.${lost}`;
}

function resync() {
  guarded("Load", loadLoad);
  guarded("Alarms", loadAlarms);
  guarded("Workers", loadWorkers);
  guarded("Site plan", loadSite);
  guarded("Cameras", loadCameras);
  guarded("Zone log", loadZoneLog);
  guarded("Sync", loadSync);
}

// -- freshness ---------------------------------------------------------------------------------

function setStale(isStale, since) {
  const banner = $("stale-banner");
  document.body.classList.toggle("live-stale", isStale);
  banner.hidden = !isStale;
  if (isStale) banner.textContent = `⚠ ${staleText(since)}`;
  const indicator = $("live-state");
  indicator.textContent = isStale ? "✖ Stale" : "● Live";
  indicator.className = `live-state ${isStale ? "bad" : "ok"}`;
}

// -- start -------------------------------------------------------------------------------------

async function main() {
  let me;
  try {
    me = await session();
  } catch (err) {
    showError("Session", err);
    return;
  }
  state.me = me;
  document.body.classList.add(`role-${me.role}`);
  document.body.dataset.role = me.role;
  $("user").textContent = `${me.display_name || me.name} · ${me.role}`;
  $("logout").addEventListener("click", signOut);

  setupSound($("sound-toggle"), $("sound-hint"), $("sound-enable"));
  setupMap($("site-map"));
  setupAlarms($("alarm-list"), $("alarms-empty"), $("alarm-counts"), $("flood-banner"));
  setupWorkers($("worker-list"), $("worker-card"));
  setupZones($("zone-list"), $("zone-log"), $("zone-log-empty"));
  setupCameras($("camera-grid"), $("cameras-empty"));
  setupSync($("sync-panel"), $("sync-state"), $("sync-lanes"), $("sync-facts"));
  on("site-dirty", () => siteSoon());

  const site = await guarded("Site plan", loadSite);
  await Promise.all([
    guarded("Workers", loadWorkers),
    guarded("Alarms", loadAlarms),
    guarded("Cameras", loadCameras),
    guarded("Zone log", loadZoneLog),
    guarded("Load", loadLoad),
    guarded("Sync", loadSync),
  ]);

  const live = new LiveStream({
    staleAfterS: (site && site.page_stale_after_s) || 5,
    resync,
    onStale: setStale,
    onClosed: () => { get("/session").catch(() => {}); }, // a 401 there goes to the login form
    handlers: {
      alarm: (ev) => {
        if (!ev || !ev.alarm) return;
        applyAlarm(ev.alarm, ev.cause, { fromStream: true });
        alarmSound(ev.alarm, ev.cause);
        if (ev.alarm.flood_group || (state.flood && state.flood.active)) alarmsSoon();
        siteSoon(); // zone colours and sirens follow the alarms
      },
      workers: (list) => list && applyWorkers(list),
      camera: (ev) => ev && applyCameraEvent(ev),
      zone_action: (action) => action && applyZoneAction(action),
    },
  });
  live.start();
  setStale(false, nowSeconds());

  setInterval(() => { $("clock").textContent = clockTime(nowSeconds()); }, 1000);
  $("clock").textContent = clockTime(nowSeconds());
  setInterval(() => siteSoon(0), SITE_REFRESH_MS);
  setInterval(() => guarded("Load", loadLoad), LOAD_REFRESH_MS);
  setInterval(() => guarded("Sync", loadSync), LOAD_REFRESH_MS);
  document.body.classList.remove("loading");
  document.body.dataset.ready = "true";
}

main();
