// The cloud sync panel: what each lane still has to send, when the cloud last confirmed a batch, and
// the last error. Shown only where sync is enabled. The uplink never gates alarms, so a failing one is
// a note in this panel, not a banner over the live page.
import { get } from "./api.js";
import { h, clear, age, dateTime, nowSeconds } from "./util.js";

const LANES = [["events", "Alarms and actions"], ["bulk", "Readings and exposure"], ["snapshots", "Snapshots"]];
const BREAKER = { open: "paused after repeated failures", half_open: "trying again" };
let panelEl;
let stateEl;
let lanesEl;
let factsEl;

export function setupSync(panel, note, lanes, facts) {
  panelEl = panel;
  stateEl = note;
  lanesEl = lanes;
  factsEl = facts;
}

/** "512 B", "3.4 kB", "12.0 MB" */
function size(bytes) {
  if (bytes < 1000) return `${bytes} B`;
  const units = ["kB", "MB", "GB"];
  let value = bytes / 1000;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return `${value.toFixed(1)} ${units[unit]}`;
}

export async function loadSync() {
  const sync = await get("/sync");
  panelEl.hidden = !sync.enabled;
  document.body.dataset.sync = !sync.enabled ? "off" : sync.degraded ? "degraded" : "ok";
  if (!sync.enabled) return;
  const now = nowSeconds();
  stateEl.className = `panel-note sync-state ${sync.degraded ? "bad" : "ok"}`;
  stateEl.textContent = !sync.alive ? "Agent not running"
    : sync.degraded ? `Cloud unreachable${BREAKER[sync.breaker] ? ` (${BREAKER[sync.breaker]})` : ""}` : "Up to date";
  clear(lanesEl);
  for (const [lane, label] of LANES) {
    const backlog = sync.lanes[lane] || { rows: 0, bytes: 0, oldest_ts: null };
    lanesEl.append(h("tr", { dataset: { lane } },
      h("th", { scope: "row" }, label),
      h("td.sync-rows", String(backlog.rows)),
      h("td", size(backlog.bytes)),
      h("td", backlog.oldest_ts == null ? "—" : `${age(now - backlog.oldest_ts)} ago`)));
  }
  const facts = clear(factsEl);
  const fact = (id, dt, dd) => facts.append(h("div", { dataset: { fact: id } }, h("dt", dt), h("dd", dd)));
  fact("last-success", "Last success", sync.last_success_ts == null ? "never"
    : `${dateTime(sync.last_success_ts)} (${age(now - sync.last_success_ts)} ago)`);
  fact("last-error", "Last error", sync.last_error == null ? "none"
    : `${sync.last_error} (${dateTime(sync.last_error_ts)})`);
  if (sync.quarantined) fact("quarantined", "Refused by the cloud", `${sync.quarantined} ranges kept on the device`
    + (sync.last_quarantine ? `; latest: ${sync.last_quarantine}` : ""));
}
