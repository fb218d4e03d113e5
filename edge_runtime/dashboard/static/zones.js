// Zones: state of each zone (alarm priority, siren, evacuation, who is inside)
// and the supervisor's zone actions. Each action needs a second click on a
// "Confirm …?" button within 5 s; the result goes to the zone action log.
import { get, post, query, ApiError } from "./api.js";
import { state, on, emit, workerName, zoneName, canAct } from "./state.js";
import { h, clear, clockTime, hazardLabel, priorityBadge, ZONE_ACTION_LABEL, nowSeconds } from "./util.js";

export const CONFIRM_MS = 5000;
const LOG_WINDOW_S = 12 * 3600;
const LOG_MAX = 100;
let listEl;
let logEl;
let logEmptyEl;
const zoneItems = new Map(); // zone id -> {li, info, buttons, error}

const CONFIRM_TEXT = {
  siren_on: (z) => `Confirm sound siren in zone ${z}?`,
  siren_off: (z) => `Confirm silence siren in zone ${z}?`,
  evacuate: (z) => `Confirm evacuate zone ${z}?`,
  all_clear: (z) => `Confirm all clear for zone ${z}?`,
};

export function setupZones(list, log, logEmpty) {
  listEl = list;
  logEl = log;
  logEmptyEl = logEmpty;
  on("site", renderZones);
  on("workers", () => renderZones(state.site));
}

export async function loadZoneLog() {
  const out = await get(`/zones/actions${query({ since: Math.floor(nowSeconds() - LOG_WINDOW_S) })}`);
  state.zoneActions = [...out.actions].sort((a, b) => b.ts - a.ts || b.id - a.id);
  renderLog();
}

/** A zone action (from the event stream or our own POST); duplicates by id are ignored. */
export function applyZoneAction(action) {
  if (state.zoneActions.some((a) => a.id === action.id)) return;
  state.zoneActions.unshift(action);
  state.zoneActions.sort((a, b) => b.ts - a.ts || b.id - a.id);
  state.zoneActions.length = Math.min(state.zoneActions.length, LOG_MAX);
  renderLog();
  emit("site-dirty");
}

function renderZones(site) {
  if (!listEl || !site) return;
  site.zones.forEach((z, i) => {
    let item = zoneItems.get(z.id);
    if (!item) {
      item = createZone(z);
      zoneItems.set(z.id, item);
    }
    if (listEl.children[i] !== item.li) listEl.insertBefore(item.li, listEl.children[i] || null);
    fillZone(item, z);
  });
  for (const [id, item] of zoneItems) {
    if (!site.zones.some((z) => z.id === id)) {
      item.li.remove();
      zoneItems.delete(id);
    }
  }
}

function createZone(z) {
  const info = h("div.zone-info");
  const buttons = h("div.zone-actions");
  const error = h("p.form-error", { role: "alert", hidden: true });
  const li = h("li.zone-item", { dataset: { zone: z.id } }, info, buttons, error);
  const item = { li, info, buttons, error, key: "", actionsKey: "" };
  return item;
}

function fillZone(item, z) {
  const inside = z.occupants.map(workerName);
  const key = JSON.stringify([z, inside]);
  if (key !== item.key) {
    item.key = key;
    item.li.className = `zone-item hazard-${z.hazard}${z.alarm_priority ? ` prio-${z.alarm_priority}` : ""}${z.evacuating ? " evacuating" : ""}${z.siren_on ? " siren-on" : ""}`;
    clear(item.info).append(
      h("div.zone-head", h("strong.zone-name", z.name), h("span.zone-hazard", hazardLabel(z.hazard))),
      h("div.zone-status",
        z.alarm_priority ? priorityBadge(z.alarm_priority) : h("span.chip.chip-ok", "✔ No alarm"),
        z.evacuating ? h("span.chip.chip-evac", "⚠ EVACUATING") : null,
        z.siren ? h(`span.chip.${z.siren_on ? "chip-siren" : "chip-quiet"}`, z.siren_on ? "Siren SOUNDING" : "Siren off") : null,
        h("span.chip.chip-people", `${inside.length} inside`)),
      inside.length ? h("p.zone-people", inside.join(", ")) : null,
    );
  }
  const actionsKey = JSON.stringify([canAct(), z.siren, z.name]);
  if (actionsKey !== item.actionsKey) {
    item.actionsKey = actionsKey;
    clear(item.buttons);
    item.buttons.hidden = !canAct();
    if (canAct()) {
      const actions = z.siren ? ["siren_on", "siren_off", "evacuate", "all_clear"] : ["evacuate", "all_clear"];
      for (const action of actions) item.buttons.append(confirmButton(item, z.id, action));
    }
  }
}

function confirmButton(item, zoneId, action) {
  const label = ZONE_ACTION_LABEL[action];
  const b = h(`button.btn.zone-btn.zone-btn-${action}`, { type: "button", dataset: { action } }, label);
  let timer = null;
  const reset = () => {
    clearTimeout(timer);
    timer = null;
    b.classList.remove("confirming");
    delete b.dataset.confirming;
    b.textContent = label;
  };
  b.addEventListener("click", async () => {
    if (!b.dataset.confirming) {
      // first click: ask; any other armed button of this zone disarms
      for (const other of item.buttons.querySelectorAll("button[data-confirming]")) other.dispatchEvent(new Event("disarm"));
      b.dataset.confirming = "true";
      b.classList.add("confirming");
      b.textContent = CONFIRM_TEXT[action](zoneName(zoneId));
      timer = setTimeout(reset, CONFIRM_MS);
      return;
    }
    reset();
    b.disabled = true;
    item.error.hidden = true;
    try {
      const out = await post(`/zones/${encodeURIComponent(zoneId)}/actions`, { action });
      if (out && out.id !== undefined) applyZoneAction(out);
    } catch (err) {
      item.error.textContent = `${label} failed: ${err instanceof ApiError ? err.text : err}`;
      item.error.hidden = false;
    } finally {
      b.disabled = false;
    }
  });
  b.addEventListener("disarm", reset);
  return b;
}

function renderLog() {
  if (!logEl) return;
  clear(logEl);
  for (const a of state.zoneActions) {
    logEl.append(h(`li.zone-log-item.log-${a.action}`, { dataset: { actionId: String(a.id), action: a.action, zone: a.zone } },
      h("span.log-time", clockTime(a.ts)),
      h("strong.log-action", ZONE_ACTION_LABEL[a.action] || a.action),
      h("span.log-zone", zoneName(a.zone)),
      h("span.log-by", `by ${a.by}`),
      a.note ? h("span.log-note", `“${a.note}”`) : null,
      a.alarm_id ? h("span.log-alarm", `alarm ${a.alarm_id}`) : null));
  }
  logEmptyEl.hidden = state.zoneActions.length > 0;
}
