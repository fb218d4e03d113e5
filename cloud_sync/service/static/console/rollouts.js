// Rollouts: every rollout with its state, canary devices, progress toward automatic promotion (canaries
// healthy for the period, confirmed alarms seen) and why it was halted; one rollout's devices and events.
// Admins start rollouts and promote, pause, resume or roll them back; viewers see no control.
// Refreshed every 2 s while a rollout is moving, every 10 s otherwise.
import { api, get } from "/common/api.js";
import { age, clear, h } from "/common/dom.js";
import { $, dialog, field, may, utc } from "./page.js";

const BUSY_MS = 2000; // while a rollout is moving (canary, promoted)
const IDLE_MS = 10000;
const STATE_LABEL = {
  canary: "Canary", promoted: "Promoted", paused: "Paused", halted: "Halted", rolled_back: "Rolled back",
  completed: "Completed",
};
const ACTIONS = { // the states each action starts from (cloud_sync/rollout/states.py)
  promote: ["canary", "paused"], pause: ["canary", "promoted"], resume: ["paused"],
  rollback: ["canary", "promoted", "paused", "completed", "halted"],
};
const ACTION_LABEL = { promote: "Promote", pause: "Pause", resume: "Resume", rollback: "Roll back" };
let timer = null;
let open = null; // the rollout id whose detail is shown
let wired = false;

export function stopRollouts() {
  clearTimeout(timer);
  timer = null;
}

export async function showRollouts(id) {
  if (!wired) {
    $("rollout-open").addEventListener("click", create);
    wired = true;
  }
  open = id;
  stopRollouts();
  await refresh();
}

async function refresh() {
  const list = (await get("/rollouts")).rollouts;
  $("rollouts-empty").hidden = list.length > 0;
  clear($("rollout-rows")).append(...list.map(row));
  $("rollout-detail").hidden = !open;
  if (open) renderDetail(await get(`/rollouts/${encodeURIComponent(open)}`));
  const busy = list.some((r) => r.state === "canary" || r.state === "promoted");
  timer = setTimeout(() => refresh().catch(() => {}), busy ? BUSY_MS : IDLE_MS);
}

function stateBadge(r) {
  return h(`span.rollout-state.rstate-${r.state}`, STATE_LABEL[r.state] || r.state);
}

/** "1 of 2 canaries healthy · 3 of 5 confirmed alarms · 4 min to go" */
function progressText(r) {
  const p = r.progress;
  if (r.state !== "canary") return `${p.targets_active} of ${p.targets} targets run it`;
  const parts = [`${p.canary_healthy} of ${p.canary_total} canaries healthy`,
    `${p.confirmed} of ${p.min_confirmed_alarms} confirmed alarms`];
  if (p.remaining_s != null && p.remaining_s > 0) parts.push(`${age(p.remaining_s)} to go`);
  else if (p.remaining_s == null) parts.push(`${p.canary_total - p.canary_active} not switched yet`);
  return parts.join(" · ");
}

function progressBar(r) {
  const p = r.progress;
  const done = r.state === "canary" ? (p.canary_healthy / Math.max(1, p.canary_total) + Math.min(1, p.confirmed
    / Math.max(1, p.min_confirmed_alarms))) / 2 : p.targets_active / Math.max(1, p.targets);
  const pct = Math.round(done * 100);
  return h("progress", { max: 100, value: pct, "aria-label": `${pct}%` });
}

function actions(r) {
  if (!may("admin")) return null;
  return Object.keys(ACTIONS).filter((a) => ACTIONS[a].includes(r.state)).map((a) => h(
    `button.btn.btn-small.rollout-action${a === "rollback" ? ".btn-danger" : ""}`,
    { type: "button", dataset: { action: a }, onclick: () => act(r, a) }, ACTION_LABEL[a]));
}

function row(r) {
  return h(`tr.rollout-row${r.id === open ? ".selected" : ""}`, { dataset: { rollout: r.id } },
    h("td.nowrap", h("a.mono", { href: `#/rollouts/${encodeURIComponent(r.id)}` }, r.id), h("div.cell-note", r.slot)),
    h("td", h("span.mono", `${r.model} ${r.version}`), h("div.cell-note", `baseline ${r.baseline_version || "none"}`)),
    h("td", stateBadge(r)),
    h("td.canaries", r.canary_devices.join(", ")),
    h("td.progress-cell", progressBar(r), h("div.cell-note.progress-text", progressText(r))),
    h("td.reason", r.reason || "—"),
    h("td.nowrap.rollout-actions", actions(r)));
}

function renderDetail(r) {
  $("rollout-title").textContent = `${r.id} · ${r.model} ${r.version} · ${STATE_LABEL[r.state]}`;
  const t = r.target;
  const target = [t.sites.length && `sites ${t.sites.join(", ")}`, t.device_types.length && `types ${t.device_types.join(", ")}`,
    t.devices.length && `devices ${t.devices.join(", ")}`, t.profile && `profile ${JSON.stringify(t.profile)}`]
    .filter(Boolean).join("; ") || "the whole fleet";
  const facts = [["State", stateBadge(r)], ["Progress", progressText(r)], ["Target", target],
    ["Canary share", `${Math.round(r.canary_share * 100)} %`], ["Healthy period", age(r.healthy_period_s)],
    ["Confirmed alarms needed", String(r.min_confirmed_alarms)], ["Shadow run", age(r.shadow_s)], ["Watch", age(r.watch_s)],
    ["Latency budget", r.latency_budget_ms ? `${r.latency_budget_ms} ms` : "none"], ["Created", `${utc(r.created_ts)} by ${r.created_by}`],
    ["Reason", r.reason || "—"]];
  clear($("rollout-facts")).append(...facts.flatMap(([k, v]) => [h("dt", k), h("dd", v)]));
  clear($("rollout-device-rows")).append(...r.devices.map((d) => h(`tr.stage-${d.stage}`, { dataset: { device: d.device_id } },
    h("td", h("a", { href: `#/devices/${encodeURIComponent(d.device_id)}` }, d.device_id)), h("td", d.device_type),
    h("td", d.stage), h("td", d.state || "not reported"), h("td.mono", d.active_version || "—"),
    h("td.nowrap", d.activated_ts ? utc(d.activated_ts) : "—"), h("td", String(d.confirmed)),
    h("td", d.rolled_back_reason ? h("span.bad", d.rolled_back_reason) : "—"))));
  clear($("rollout-events")).append(...r.events.map((e) => h(`li.event-${e.kind}`, h("span.log-ts", utc(e.ts)), " ",
    h("strong", e.kind.replace("_", " ")), ` by ${e.by}`, e.reason ? `: ${e.reason}` : "")));
}

async function act(r, action) {
  const error = $("rollouts-error");
  error.hidden = true;
  try {
    const reason = action === "pause" || action === "rollback" ? await askReason(r, action) : null;
    if (reason === undefined) return;
    await api("POST", `/rollouts/${encodeURIComponent(r.id)}/${action}`, { reason });
    open = r.id;
    stopRollouts();
    await refresh();
  } catch (err) {
    error.textContent = err.text || String(err);
    error.hidden = false;
  }
}

/** The reason for a pause or rollback (kept in the rollout's events); undefined when cancelled. */
async function askReason(r, action) {
  const reason = h("input", { name: "reason", autocomplete: "off", maxlength: 2000 });
  const words = action === "rollback" ? "Every target gets the baseline back" : "Nothing moves until it is resumed";
  const closed = await dialog(`${ACTION_LABEL[action]} ${r.id}`, [h("p", `${words}.`), field("Reason", reason)],
    [{ label: "Cancel", value: "cancel" }, { label: ACTION_LABEL[action], value: action, danger: action === "rollback",
      primary: action !== "rollback" }]);
  return closed === action ? reason.value.trim() || null : undefined;
}

const list = (text) => text.split(",").map((s) => s.trim()).filter(Boolean);

async function create() {
  if (!may("admin")) return;
  const models = (await get("/models")).models;
  const input = (name, attrs = {}) => h("input", { name, autocomplete: "off", ...attrs });
  const form = h("div.rollout-form",
    field("Slot", h("select", { name: "slot" }, h("option", { value: "camera" }, "camera"), h("option", { value: "risk" }, "risk"))),
    field("Model", h("select", { name: "model" }, models.map((m) => h("option", { value: m.name }, m.name)))),
    field("Version", input("version", { required: true })),
    field("Baseline version", input("baseline_version", { placeholder: "what the targets run now" })),
    field("Sites", input("sites", { placeholder: "all (comma-separated)" })),
    field("Device types", input("device_types", { placeholder: "all (comma-separated)" })),
    field("Devices", input("devices", { placeholder: "all (comma-separated ids)" })),
    field("Canary share (%)", input("canary_share", { type: "number", min: 0, max: 100, value: 10 })),
    field("Healthy period (s)", input("healthy_period_s", { type: "number", min: 0, value: 600 })),
    field("Confirmed alarms needed", input("min_confirmed_alarms", { type: "number", min: 0, value: 1 })));
  const value = (name) => form.querySelector(`[name="${name}"]`).value.trim();
  let created = null;
  const closed = await dialog("Start a rollout", form, [
    { label: "Cancel", value: "cancel" }, { label: "Start", value: "start", primary: true },
  ], async () => {
    created = await api("POST", "/rollouts", {
      slot: value("slot"), model: value("model"), version: value("version"), baseline_version: value("baseline_version") || null,
      target: { sites: list(value("sites")), device_types: list(value("device_types")), devices: list(value("devices")) },
      canary_share: Number(value("canary_share")) / 100, healthy_period_s: Number(value("healthy_period_s")),
      min_confirmed_alarms: Number(value("min_confirmed_alarms")),
    });
  });
  if (closed === "start" && created) location.hash = `#/rollouts/${encodeURIComponent(created.id)}`;
}
