// The dashboard's helpers: DOM building and ages (shared with the cloud console, from
// /common/dom.js), time formatting in the site's time zone, and the labels people read.

import { h } from "/common/dom.js";

export { h, s, clear, age } from "/common/dom.js";

// -- time -------------------------------------------------------------------------------------

let siteZone = "UTC";
const formatters = new Map();

export function setTimeZone(tz) {
  try {
    new Intl.DateTimeFormat("en-GB", { timeZone: tz });
    siteZone = tz;
  } catch {
    siteZone = "UTC";
  }
  formatters.clear();
}

export function timeZone() {
  return siteZone;
}

function fmt(kind) {
  let f = formatters.get(kind);
  if (!f) {
    const opts = { timeZone: siteZone, hourCycle: "h23" };
    if (kind === "time") Object.assign(opts, { hour: "2-digit", minute: "2-digit", second: "2-digit" });
    if (kind === "hm") Object.assign(opts, { hour: "2-digit", minute: "2-digit" });
    if (kind === "datetime") Object.assign(opts, { year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit" });
    if (kind === "parts") Object.assign(opts, { year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit" });
    f = new Intl.DateTimeFormat("en-GB", opts);
    formatters.set(kind, f);
  }
  return f;
}

/** HH:MM:SS in the site's time zone (ts in UNIX seconds). */
export function clockTime(ts) {
  return ts == null ? "—" : fmt("time").format(new Date(ts * 1000));
}

export function hhmm(ts) {
  return ts == null ? "—" : fmt("hm").format(new Date(ts * 1000));
}

/** The site-local wall clock of ts as {year, month, day, hour, minute, second}. */
export function zonedParts(ts) {
  const out = {};
  for (const p of fmt("parts").formatToParts(new Date(ts * 1000))) {
    if (p.type !== "literal") out[p.type] = Number(p.value);
  }
  if (out.hour === 24) out.hour = 0;
  return out;
}

const pad = (n, w = 2) => String(n).padStart(w, "0");

/** YYYY-MM-DD HH:MM:SS in the site's time zone. */
export function dateTime(ts) {
  if (ts == null) return "—";
  const p = zonedParts(ts);
  return `${p.year}-${pad(p.month)}-${pad(p.day)} ${pad(p.hour)}:${pad(p.minute)}:${pad(p.second)}`;
}

/** YYYY-MM-DD (site local) of ts. */
export function isoDate(ts) {
  const p = zonedParts(ts);
  return `${p.year}-${pad(p.month)}-${pad(p.day)}`;
}

/** "YYYY-MM-DDTHH:MM" (site local) for <input type=datetime-local>. */
export function localInput(ts) {
  const p = zonedParts(ts);
  return `${p.year}-${pad(p.month)}-${pad(p.day)}T${pad(p.hour)}:${pad(p.minute)}`;
}

/** UNIX seconds of a site-local "YYYY-MM-DDTHH:MM[:SS]" wall-clock time. */
export function fromLocalInput(text) {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?$/.exec(text || "");
  if (!m) return null;
  const wall = Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +(m[6] || 0)) / 1000;
  // the zone's offset at that instant; a second pass settles DST edges
  let ts = wall;
  for (let i = 0; i < 2; i++) {
    const p = zonedParts(ts);
    const seen = Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second) / 1000;
    ts += wall - seen;
  }
  return ts;
}

export function nowSeconds() {
  return Date.now() / 1000;
}

// -- labels -----------------------------------------------------------------------------------

export const PRIORITY_RANK = { critical: 4, high: 3, medium: 2, low: 1 };
/** Text and a shape per priority: never colour alone. */
export const PRIORITY_LABEL = { critical: "CRITICAL", high: "HIGH", medium: "MEDIUM", low: "LOW" };
/** One letter per priority for places too small for the word (map markers). */
export const PRIORITY_LETTER = { critical: "C", high: "H", medium: "M", low: "L" };

export const STATE_LABEL = {
  active_unacknowledged: "Active · unacknowledged",
  active_acknowledged: "Active · acknowledged",
  returned_unacknowledged: "Cleared · unacknowledged",
  shelved: "Shelved",
  suppressed: "Suppressed",
  out_of_service: "Out of service",
  normal: "Closed",
};

export const VERDICT_LABEL = { confirmed: "Confirmed", false_alarm: "False alarm" };

export const KIND_LABEL = {
  gas_low: "Gas low alarm", gas_high: "Gas high alarm", gas_stel: "Gas STEL", gas_twa: "Gas TWA",
  gas_over_range: "Gas over range", gas_drift: "Sensor drift", gas_sensor_stale: "Gas sensor silent",
  gas_bump_due: "Bump test due", gas_calibration_due: "Calibration due", gas_lel_poisoned: "LEL sensor poisoned",
  zone_gas: "Zone gas", zone_evacuate: "Zone evacuation", hr_high: "Heart rate high", hr_low: "Heart rate low",
  hr_no_signal: "No heart-rate signal", no_motion: "No motion", fall: "Fall", man_down: "Man down",
  panic: "Panic button", check_in_missed: "Missed check-in", low_battery: "Low battery", link_lost: "Link lost",
  no_position: "No position", geofence: "Geofence", proximity: "Proximity", camera_intruder: "Intruder (camera)",
  ppe_missing: "PPE missing", person_down: "Person down (camera)", camera_offline: "Camera offline",
  storage_failed: "Storage failed",
};

export const HAZARD_LABEL = {
  general: "General", confined_space: "Confined space", restricted: "Restricted", crane_radius: "Crane radius",
};

export const ZONE_ACTION_LABEL = {
  siren_on: "Sound siren", siren_off: "Silence siren", evacuate: "Evacuate", all_clear: "All clear",
};

export function kindLabel(kind) {
  return KIND_LABEL[kind] || String(kind || "").replace(/_/g, " ");
}

export function hazardLabel(hazard) {
  return HAZARD_LABEL[hazard] || String(hazard || "").replace(/_/g, " ");
}

/**
 * A priority badge: a shape (octagon, triangle, diamond, circle; drawn by CSS, so no font
 * can lose it) and the word, coloured by class.
 */
export function priorityBadge(priority) {
  const p = priority || "low";
  return h(`span.prio.prio-${p}`, { title: `Priority ${PRIORITY_LABEL[p] || p}` },
    h(`span.prio-icon.shape-${p}`, { "aria-hidden": "true" }), PRIORITY_LABEL[p] || p);
}

export function num(v, digits = 1) {
  if (v == null || !isFinite(v)) return "—";
  return Number(v).toFixed(digits).replace(/\.0+$/, "");
}
