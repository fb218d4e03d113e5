// One device: its health cards (status, sync, backlog per lane, disk, models, alarms, profile), its model
// updates (desired and active version per slot, update state, rollout, performance, and what ran when),
// credentials (rotate, revoke), sync history with a chart, and its schema-skew report.
import { api, get } from "/common/api.js";
import { age, clear, h, s } from "/common/dom.js";
import { credentialDialog, deviceForm, readDeviceForm } from "./device_forms.js";
import { $, banner, bytes, count, dialog, field, may, utc } from "./page.js";
import { backlog, diskMeter, health, healthBadge, LANES, serverNow } from "./status.js";

const REFRESH_MS = 5000;
const TICK_MS = 1000;
let timers = [];
let current = null; // the DeviceView on show
let fetchedAt = 0; // performance.now() of its fetch, in seconds
let wired = false;

export function stopDevice() {
  for (const t of timers) clearInterval(t);
  timers = [];
}

export async function showDevice(id) {
  if (!wired) {
    $("device-edit").addEventListener("click", edit);
    $("device-rotate").addEventListener("click", rotate);
    $("device-decommission").addEventListener("click", decommission);
    wired = true;
  }
  stopDevice();
  if (!current || current.id !== id) {
    current = null; // no action on the device shown before while this one loads
    $("device-title").textContent = id;
    for (const button of ["device-edit", "device-rotate", "device-decommission"]) $(button).disabled = true;
  }
  await refresh(id);
  timers = [setInterval(() => refresh(id).catch((err) => banner(err.text || String(err))), REFRESH_MS),
    setInterval(() => renderCards(current), TICK_MS)];
}

async function refresh(id) {
  const path = `/devices/${encodeURIComponent(id)}`;
  const [device, keys, history, skew, updates] = await Promise.all([
    get(path), get(`${path}/credentials`), get(`${path}/sync`), get(`${path}/skew`), get(`${path}/updates`)]);
  current = device;
  fetchedAt = performance.now() / 1000;
  const retired = device.decommissioned_ts != null;
  $("device-title").textContent = `${device.name} (${device.id})`;
  for (const id of ["device-edit", "device-rotate", "device-decommission"]) $(id).disabled = retired;
  renderCards(device);
  renderKeys(keys.keys, retired);
  renderHistory(history.requests);
  renderSkew(skew.skew);
  renderUpdates(updates);
}

function card(title, ...body) {
  return h("section.card", h("h2", title), ...body);
}

function dl(pairs) {
  return h("dl.pairs", pairs.filter(Boolean).map(([k, v]) => [h("dt", k), h("dd", v)]));
}

function renderCards(device) {
  const since = performance.now() / 1000 - fetchedAt;
  const state = health(device, since);
  const st = device.status;
  const now = st ? serverNow(st, since) : 0;
  const beat = st && st.heartbeat;
  const lanes = backlog(beat);
  const p = device.profile;
  const runtimes = Object.entries(p.runtimes || {}).filter(([, v]) => v).map(([k, v]) => `${k} ${v}`).join(", ");
  const disk = beat && beat.disk;
  clear($("device-cards")).append(
    card("Status", h("p", healthBadge(state)), dl([
      ["Heartbeat", st ? `${utc(st.received_ts)} (${age(now - st.received_ts)} ago, every ${beat.interval_s} s)` : "never"],
      ["Software", (beat && beat.software) || "—"],
      ["Site", device.site], ["Type", device.device_type],
      device.decommissioned_ts != null && ["Decommissioned", utc(device.decommissioned_ts)],
    ])),
    card("Sync", dl([
      ["Last success", beat && beat.last_success_ts != null ? `${utc(beat.last_success_ts)} (${age(now - beat.last_success_ts)} ago)` : "never"],
      ["Last error", (beat && beat.last_error) || "none"],
      ["Quarantined batches", beat ? count(beat.quarantined) : "—"],
    ])),
    card("Backlog", h("table.grid.compact#lane-table", h("thead", h("tr", h("th", "Lane"), h("th", "Rows"), h("th", "Bytes"),
      h("th", "Oldest unsynced"))), h("tbody", LANES.map((lane) => {
      const l = lanes.lanes[lane];
      return h("tr", { dataset: { lane } }, h("td", lane), h("td", l ? count(l.backlog_rows) : "—"),
        h("td", l ? bytes(l.backlog_bytes) : "—"),
        h("td", l && l.oldest_unsynced_ts != null ? `${age(now - l.oldest_unsynced_ts)} old` : "—"));
    })))),
    card("Disk", h("p", diskMeter(beat)), dl([
      ["Used", disk ? bytes(disk.used_bytes) : "—"], ["Budget", disk ? bytes(disk.budget_bytes) : "—"]])),
    card("Models", modelsList(beat)),
    card("Open alarms", alarmsList(beat)),
    card("Hardware", dl([
      ["CPU", p.cpu_arch], ["Accelerator", p.accelerator], ["Memory", `${count(p.memory_mb)} MB`],
      p.gpu_compute_capability && ["GPU compute capability", p.gpu_compute_capability],
      ["Runtimes", runtimes || "none reported"],
    ])));
}

function modelsList(beat) {
  const models = Object.entries((beat && beat.models) || {});
  if (!models.length) return h("p.muted", "none reported");
  return dl(models.map(([camera, m]) => [camera, `${m.name} ${m.version}${m.sha256 ? ` · ${m.sha256.slice(0, 12)}` : ""}`]));
}

function alarmsList(beat) {
  const alarms = beat && beat.alarms;
  if (!alarms) return h("p.muted", "—");
  const byPriority = Object.entries(alarms.by_priority || {});
  return [h("p.big-number", count(alarms.open)), byPriority.length ? dl(byPriority) : null];
}

function renderKeys(keys, retired) {
  const now = Date.now() / 1000;
  clear($("key-rows")).append(...keys.map((k) => {
    const revoked = k.revoked_ts != null;
    const expired = k.expires_ts != null && k.expires_ts <= now;
    const state = revoked ? `revoked ${utc(k.revoked_ts)}` : expired ? `expired ${utc(k.expires_ts)}`
      : k.expires_ts != null ? `works until ${utc(k.expires_ts)}` : "active";
    return h("tr", { dataset: { key: k.key_id } }, h("td.mono", k.key_id), h("td", utc(k.created_ts)), h("td", state),
      h("td", revoked || expired || retired || !may("operator") ? null
        : h("button.btn.btn-small.btn-danger", { type: "button", onclick: () => revoke(k.key_id) }, "Revoke")));
  }));
}

function renderHistory(requests) {
  $("history-empty").hidden = requests.length > 0;
  clear($("history-rows")).append(...requests.slice(0, 50).map((r) => h("tr",
    h("td.nowrap", utc(r.ts)), h("td", count(r.rows)), h("td", bytes(r.bytes)), h("td", count(r.durable)),
    h("td", count(r.duplicates)), h("td", r.rejected ? h("strong.bad", count(r.rejected)) : "0"),
    h("td", `${Math.round(r.duration_ms)} ms`))));
  clear($("history-chart")).append(chart(requests.slice().reverse()));
}

/** Rows per batch, oldest left, rejected batches in red. */
function chart(requests) {
  const width = 600;
  const height = 80;
  if (!requests.length) return s("svg", { viewBox: `0 0 ${width} ${height}`, class: "chart" });
  const max = Math.max(1, ...requests.map((r) => r.rows));
  const step = Math.min(width / requests.length, 24);
  return s("svg", { viewBox: `0 0 ${width} ${height}`, class: "chart", preserveAspectRatio: "none" },
    requests.map((r, i) => s("rect", { x: i * step, width: Math.max(1, step - 1), y: height - 10 - (r.rows / max) * (height - 14),
      height: (r.rows / max) * (height - 14), class: r.rejected ? "bar bar-rejected" : "bar" })),
    s("line", { x1: 0, x2: width, y1: height - 9, y2: height - 9, class: "axis" }));
}

const modelText = (m) => (m ? `${m.name} ${m.version}` : "—");

function performanceText(p) {
  if (!p || !p.inferences) return "—";
  const parts = [p.inference_p95_ms != null ? `p95 ${p.inference_p95_ms.toFixed(1)} ms` : null,
    `${count(p.alarms)} alarms`, `${count(p.confirmed)} confirmed`,
    p.precision != null ? `precision ${p.precision.toFixed(2)}` : null,
    p.recall_confirmed != null ? `recall ${p.recall_confirmed.toFixed(2)}` : null];
  return parts.filter(Boolean).join(" · ");
}

/** Per slot what the cloud asks for and what the device says it runs, then the device's model history. */
function renderUpdates(updates) {
  const reported = (updates.report && updates.report.slots) || {};
  const slots = [...new Set([...Object.keys(updates.desired.models), ...Object.keys(reported)])].sort();
  $("updates-empty").hidden = slots.length > 0;
  clear($("slot-rows")).append(...slots.map((slot) => {
    const want = updates.desired.models[slot];
    const got = reported[slot] || {};
    const rollout = want && want.rollout_id ? h("a.mono", { href: `#/rollouts/${encodeURIComponent(want.rollout_id)}` },
      want.rollout_id) : got.rollout_id || "—";
    return h("tr", { dataset: { slot } }, h("td", slot),
      h("td", modelText(want), want ? h("div.cell-note", `${want.stage} · ${want.artifact || "—"}`) : null),
      h("td", modelText(got.active), got.since_ts ? h("div.cell-note", `since ${utc(got.since_ts)}`) : null),
      h("td.update-state", got.state || "not reported"), h("td", rollout), h("td", performanceText(got.performance)),
      h("td", got.reason ? h("span.bad", got.reason) : "—"));
  }));
  $("activity-empty").hidden = updates.activity.length > 0;
  clear($("activity-rows")).append(...updates.activity.map((a) => h("tr", { dataset: { slot: a.slot } },
    h("td.nowrap", utc(a.from_ts)), h("td", a.slot), h("td", a.name || "none"), h("td.mono", a.version || "—"),
    h("td.mono", a.sha256 ? a.sha256.slice(0, 12) : "—"), h("td.nowrap", utc(a.reported_ts)))));
}

const PROBLEM = { unexpected: "Unexpected field", missing: "Missing field", type: "Wrong type", range: "Out of range" };

function renderSkew(skew) {
  $("skew-empty").hidden = skew.length > 0;
  clear($("skew-rows")).append(...skew.map((k) => h("tr", { dataset: { field: k.field, problem: k.problem } },
    h("td", k.table), h("td.mono", k.field), h("td", PROBLEM[k.problem] || k.problem), h("td", count(k.count)),
    h("td.nowrap", utc(k.first_ts)), h("td.nowrap", utc(k.last_ts)), h("td.mono", k.example || "—"))));
}

// -- changes (operators) ------------------------------------------------------------------------

async function edit() {
  const form = deviceForm(current);
  const id = current.id;
  await dialog(`Edit ${current.name}`, form, [{ label: "Cancel", value: "cancel" }, { label: "Save", value: "save", primary: true }],
    async () => { await api("PATCH", `/devices/${encodeURIComponent(id)}`, readDeviceForm(form, false)); });
  await refresh(id);
}

async function rotate() {
  const id = current.id;
  const revokeOld = h("input", { type: "checkbox", name: "revoke_old" });
  let issued = null;
  const closed = await dialog("Rotate the credential", [
    h("p", "A new credential is issued. The old keys keep working for the overlap so the device can switch, "
      + "unless you refuse them at once (a lost or leaked credential)."),
    h("label.check", revokeOld, " Refuse the old keys at once"),
  ], [{ label: "Cancel", value: "cancel" }, { label: "Issue a new credential", value: "rotate", primary: true }],
  async () => { issued = await api("POST", `/devices/${encodeURIComponent(id)}/credentials`, { revoke_old: revokeOld.checked }); });
  if (closed === "rotate" && issued) await credentialDialog(issued);
  await refresh(id);
}

async function revoke(keyId) {
  const id = current.id;
  await dialog("Revoke a key", h("p", `Key ${keyId} is refused from the next request on. The device needs another `
    + "working key to keep syncing."), [{ label: "Cancel", value: "cancel" }, { label: "Revoke", value: "revoke", danger: true }],
  async () => { await api("DELETE", `/devices/${encodeURIComponent(id)}/credentials/${encodeURIComponent(keyId)}`); });
  await refresh(id);
}

async function decommission() {
  const id = current.id;
  const confirmText = h("input", { name: "confirm", autocomplete: "off" });
  await dialog(`Decommission ${current.name}`, [
    h("p", "Every request of this device is refused from now on; its data stays. Type the device id to confirm."),
    field("Device id", confirmText),
  ], [{ label: "Cancel", value: "cancel" }, { label: "Decommission", value: "decommission", danger: true }], async () => {
    if (confirmText.value.trim() !== id) throw new Error(`Type ${id} to confirm.`);
    await api("DELETE", `/devices/${encodeURIComponent(id)}`);
  });
  await refresh(id);
}
