// The fleet: every device with its health, last sync, backlog per lane, disk, models and open
// alarms, refreshed every few seconds; operators register devices here (the credential is shown once).
import { api, get } from "/common/api.js";
import { age, clear, h } from "/common/dom.js";
import { credentialDialog, deviceForm, readDeviceForm } from "./device_forms.js";
import { $, banner, count, dialog, may } from "./page.js";
import { backlog, diskMeter, health, healthBadge, LANES, serverNow } from "./status.js";

const REFRESH_MS = 5000;
const TICK_MS = 1000;
let timers = [];
let devices = [];
let fetchedAt = 0; // performance.now() of the last fetch, in seconds
let wired = false;

export function stopDevices() {
  for (const t of timers) clearInterval(t);
  timers = [];
}

export async function showDevices() {
  if (!wired) {
    $("device-filter").addEventListener("input", render);
    $("register-open").addEventListener("click", register);
    wired = true;
  }
  await refresh();
  stopDevices();
  timers = [setInterval(() => refresh().catch((err) => banner(err.text || String(err))), REFRESH_MS),
    setInterval(render, TICK_MS)];
}

async function refresh() {
  devices = (await get("/devices")).devices;
  fetchedAt = performance.now() / 1000;
  banner(null);
  render();
}

function render() {
  const since = performance.now() / 1000 - fetchedAt;
  const filter = $("device-filter").value.trim().toLowerCase();
  const shown = devices.filter((d) => !filter || [d.id, d.name, d.site, d.device_type]
    .some((v) => String(v).toLowerCase().includes(filter)));
  const states = devices.map((d) => health(d, since).key);
  const n = (key) => states.filter((s) => s === key).length;
  const summary = [[n("online") + n("degraded"), "online"], [n("offline"), "offline"], [n("never"), "never seen"],
    [n("retired"), "decommissioned"]].filter(([k], i) => i < 2 || k > 0);
  clear($("fleet-summary")).append(...summary.map(([k, what]) => h("span.summary-item", `${k} ${what}`)));
  $("devices-empty").hidden = devices.length > 0;
  clear($("device-rows")).append(...shown.map((d) => row(d, since)));
}

function row(device, since) {
  const state = health(device, since);
  const beat = device.status && device.status.heartbeat;
  const now = device.status ? serverNow(device.status, since) : 0;
  const lanes = backlog(beat);
  const models = Object.entries((beat && beat.models) || {});
  const alarms = beat && beat.alarms;
  return h(`tr.device-row.row-${state.key}`, { dataset: { device: device.id } },
    h("td", healthBadge(state), h("div.cell-note", state.detail)),
    h("td", h("a.device-link", { href: `#/devices/${encodeURIComponent(device.id)}` }, device.name),
      h("div.cell-note", `${device.id} · ${device.device_type}`)),
    h("td", device.site),
    h("td.nowrap.last-sync", beat && beat.last_success_ts != null ? `${age(now - beat.last_success_ts)} ago` : "never"),
    h("td.backlog", beat ? LANES.map((lane) => h("div.lane", { dataset: { lane } },
      h("span.lane-name", lane), " ", h("span.lane-rows", count(lanes.rows[lane])))) : "—"),
    h("td", diskMeter(beat)),
    h("td.models", models.length ? models.map(([camera, m]) => h("div", `${camera}: ${m.name} ${m.version}`)) : "—"),
    h("td.alarms", alarms ? alarmText(alarms) : "—"));
}

function alarmText(alarms) {
  const parts = Object.entries(alarms.by_priority || {}).filter(([, n]) => n > 0).map(([p, n]) => `${n} ${p}`);
  return parts.length ? `${alarms.open} (${parts.join(", ")})` : String(alarms.open);
}

async function register() {
  if (!may("operator")) return;
  const form = deviceForm(null);
  let created = null;
  const closed = await dialog("Register a device", form, [
    { label: "Cancel", value: "cancel" }, { label: "Register", value: "register", primary: true },
  ], async () => { created = await api("POST", "/devices", readDeviceForm(form, true)); });
  if (closed !== "register" || !created) return;
  await credentialDialog(created.credential);
  location.hash = `#/devices/${encodeURIComponent(created.device.id)}`;
}
