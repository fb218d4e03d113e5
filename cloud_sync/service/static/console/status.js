// A device's health in words and shapes: what the server's heartbeat status says, never better.
// Online only while the latest heartbeat is younger than two of the device's intervals: the server
// decides at ``checked_ts``, and the page keeps ageing that answer by its own clock between fetches,
// so a device that falls silent reads "Offline" on time even before the next fetch.
import { age, h } from "/common/dom.js";

const LANES = ["events", "bulk", "snapshots"];
const OFFLINE_AFTER_INTERVALS = 2;

/** The server's clock now, from a status fetched ``sinceFetch`` seconds ago (by this page's clock). */
export function serverNow(status, sinceFetch) {
  return status.checked_ts + sinceFetch;
}

/** {key, label, detail} of a device (DeviceView) fetched ``sinceFetch`` seconds ago. */
export function health(device, sinceFetch) {
  if (device.decommissioned_ts != null) return { key: "retired", label: "Decommissioned", detail: "" };
  const st = device.status;
  if (!st) return { key: "never", label: "Never seen", detail: "no heartbeat yet" };
  const silentFor = serverNow(st, sinceFetch) - st.received_ts;
  const silent = `last heard ${age(silentFor)} ago`;
  if (!st.online || silentFor >= OFFLINE_AFTER_INTERVALS * st.heartbeat.interval_s) {
    return { key: "offline", label: "Offline", detail: silent };
  }
  if (st.heartbeat.last_error) return { key: "degraded", label: "Online · sync failing", detail: st.heartbeat.last_error };
  return { key: "online", label: "Online", detail: silent };
}

export function healthBadge(state) {
  return h(`span.health.health-${state.key}`, { title: state.detail || state.label },
    h(`span.health-icon`, { "aria-hidden": "true" }), state.label);
}

/** Total backlog rows, and the rows of each lane, from a heartbeat. */
export function backlog(heartbeat) {
  const lanes = (heartbeat && heartbeat.lanes) || {};
  const rows = {};
  let total = 0;
  for (const lane of LANES) {
    rows[lane] = lanes[lane] ? lanes[lane].backlog_rows : 0;
    total += rows[lane];
  }
  return { total, rows, lanes };
}

export { LANES };

/** Disk use as a fraction of the budget, or null when the device reports none. */
export function diskShare(heartbeat) {
  const disk = heartbeat && heartbeat.disk;
  if (!disk || !disk.budget_bytes) return null;
  return disk.used_bytes / disk.budget_bytes;
}

/** A bar (a <meter>: no inline style needed) and the percentage in words. */
export function diskMeter(heartbeat) {
  const share = diskShare(heartbeat);
  if (share == null) return h("span.muted", "—");
  const pct = Math.round(share * 100);
  return h("span.disk", h("meter", { min: 0, max: 1, low: 0.7, high: 0.9, optimum: 0, value: Math.min(share, 1),
    title: `${pct}% of the disk budget` }), ` ${pct}%`);
}
