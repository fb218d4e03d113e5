// The open alarms, most urgent first: priority, then newest. Alarms of one flood
// share a collapsible row with their count; a banner summarises the flood.
// Supervisors acknowledge (with an optional verdict and note), give verdicts,
// and shelve for a chosen time with a reason; viewers get no buttons at all.
// Rows are keyed by alarm id and updated in place, so an open form survives
// the live updates around it.
import { post, ApiError } from "./api.js";
import { state, on, applyAlarm, subjectLabel, zoneName, canAct } from "./state.js";
import {
  h, clear, clockTime, hhmm, num, priorityBadge, kindLabel, PRIORITY_RANK, STATE_LABEL, VERDICT_LABEL,
} from "./util.js";

export const SHELVE_CHOICES = [
  [900, "15 min"],
  [3600, "1 h"],
  [4 * 3600, "4 h"],
  [8 * 3600, "8 h"],
];
const UNACKED = new Set(["active_unacknowledged", "returned_unacknowledged"]);
const HIDDEN_STATES = new Set(["shelved", "suppressed", "out_of_service"]);

let listEl;
let emptyEl;
let countsEl;
let floodEl;
const items = new Map(); // alarm_id -> {li, main, actions, form, key}
const groups = new Map(); // flood_group -> {li, summary, inner, key}

export function setupAlarms(list, empty, counts, floodBanner) {
  listEl = list;
  emptyEl = empty;
  countsEl = counts;
  floodEl = floodBanner;
  on("alarms", render);
  on("flood", renderFlood);
  on("workers", () => { if (!namesKnown) render(); });
}

let namesKnown = false;

export function sortAlarms(alarms) {
  return alarms.sort((a, b) =>
    PRIORITY_RANK[b.priority] - PRIORITY_RANK[a.priority] || b.raised_ts - a.raised_ts || (a.alarm_id < b.alarm_id ? -1 : 1));
}

function render() {
  if (!listEl) return;
  namesKnown = state.workers.size > 0;
  const alarms = sortAlarms([...state.alarms.values()]);
  const top = []; // elements in order
  const members = new Map(); // group -> [alarm]
  for (const a of alarms) {
    const item = itemFor(a);
    if (a.flood_group) {
      if (!members.has(a.flood_group)) {
        members.set(a.flood_group, []);
        top.push(groupFor(a.flood_group).li);
      }
      members.get(a.flood_group).push(a);
    } else {
      top.push(item.li);
    }
  }
  for (const [group, list] of members) {
    const g = groups.get(group);
    renderGroupSummary(g, group, list);
    reorder(g.inner, list.map((a) => items.get(a.alarm_id).li));
  }
  reorder(listEl, top);
  // forget what is gone
  for (const [id, item] of items) {
    if (!state.alarms.has(id)) {
      item.li.remove();
      items.delete(id);
    }
  }
  for (const [group, g] of groups) {
    if (!members.has(group)) {
      g.li.remove();
      groups.delete(group);
    }
  }
  const unacked = alarms.filter((a) => UNACKED.has(a.state)).length;
  const shelved = alarms.filter((a) => a.state === "shelved").length;
  countsEl.textContent = `${alarms.length} open · ${unacked} unacknowledged${shelved ? ` · ${shelved} shelved` : ""}`;
  emptyEl.hidden = alarms.length > 0;
  document.body.classList.toggle("has-unacked", unacked > 0);
  renderFlood(state.flood);
}

/** Puts `wanted` into `parent` in order, moving only nodes that are out of place. */
function reorder(parent, wanted) {
  wanted.forEach((el, i) => {
    if (parent.children[i] !== el) parent.insertBefore(el, parent.children[i] || null);
  });
  while (parent.children.length > wanted.length) parent.lastElementChild.remove();
}

function groupFor(group) {
  let g = groups.get(group);
  if (!g) {
    const summary = h("summary.flood-summary");
    const inner = h("ol.alarm-list.alarm-list-inner");
    const details = h("details.flood-details", summary, inner);
    const li = h("li.flood-group", { dataset: { floodGroup: group } }, details);
    g = { li, summary, inner, details, key: "" };
    groups.set(group, g);
  }
  return g;
}

function renderGroupSummary(g, group, list) {
  const highest = list[0].priority;
  const unacked = list.filter((a) => UNACKED.has(a.state)).length;
  const key = JSON.stringify([highest, list.length, unacked, list[0].alarm_id, list[0].message]);
  if (g.key === key) return;
  g.key = key;
  g.li.className = `flood-group prio-${highest}`;
  g.li.dataset.priority = highest;
  g.li.dataset.count = String(list.length);
  clear(g.summary).append(
    priorityBadge(highest),
    h("span.flood-title", `Alarm flood: ${list.length} alarm${list.length === 1 ? "" : "s"}`),
    h("span.flood-count", { "aria-label": `${list.length} alarms` }, String(list.length)),
    h("span.flood-sub", `${unacked} unacknowledged · most urgent: ${kindLabel(list[0].kind)} — ${subjectLabel(list[0].subject)}`),
  );
}

function itemFor(a) {
  let item = items.get(a.alarm_id);
  if (!item) {
    const main = h("div.alarm-main");
    const actions = h("div.alarm-actions");
    const form = h("div.alarm-form", { hidden: true });
    const li = h("li.alarm", { dataset: { alarmId: a.alarm_id } }, main, actions, form);
    item = { li, main, actions, form, key: "", openForm: null };
    items.set(a.alarm_id, item);
  }
  const key = JSON.stringify([a, subjectLabel(a.subject), canAct()]);
  if (item.key !== key) {
    item.key = key;
    fillItem(item, a);
  }
  return item;
}

// Which model raised the alarm (a camera's detector) and what the risk model scored it: a score ranks, never quietens.
function modelLine(a) {
  const parts = [];
  if (a.risk_score != null) {
    const by = a.risk_model ? ` (${a.risk_model.name} ${a.risk_model.version})` : "";
    parts.push(`Risk ${Math.round(a.risk_score * 100)}%${by}`);
  }
  if (a.model) parts.push(`Detected by ${a.model.name} ${a.model.version}`);
  return parts.join(" · ");
}

function fillItem(item, a) {
  const { li } = item;
  li.className = `alarm prio-${a.priority} state-${a.state}${UNACKED.has(a.state) ? " unacked" : ""}${HIDDEN_STATES.has(a.state) ? " dimmed" : ""}`;
  li.dataset.state = a.state;
  li.dataset.priority = a.priority;
  li.dataset.kind = a.kind;
  const value = a.value != null ? `${num(a.value, 2)}${a.threshold != null ? ` (limit ${num(a.threshold, 2)})` : ""}` : null;
  const lines = [
    h("div.alarm-head",
      priorityBadge(a.priority),
      h("span.alarm-state", { dataset: { state: a.state } }, stateIcon(a.state), " ", STATE_LABEL[a.state] || a.state)),
    h("div.alarm-title", h("strong", kindLabel(a.kind)), " — ", subjectLabel(a.subject)),
    h("div.alarm-msg", a.message),
    h("div.alarm-meta",
      `Raised ${clockTime(a.raised_ts)}`,
      a.zone ? ` · ${zoneName(a.zone)}` : "",
      value ? ` · ${value}` : "",
      a.condition_active ? "" : " · condition cleared",
      a.latching ? " · latching" : ""),
  ];
  const models = modelLine(a);
  if (models) lines.push(h("div.alarm-model", models));
  if (a.acked_by) {
    lines.push(h("div.alarm-ack", `✔ Acknowledged by ${a.acked_by}${via(a.acked_via)}${a.acked_ts ? ` at ${clockTime(a.acked_ts)}` : ""}`,
      a.verdict ? h("span.verdict", ` · verdict: ${VERDICT_LABEL[a.verdict]}`) : ""));
  } else if (a.verdict) {
    lines.push(h("div.alarm-ack", h("span.verdict", `Verdict: ${VERDICT_LABEL[a.verdict]}`)));
  }
  if (a.state === "shelved" && a.shelved_by) {
    lines.push(h("div.alarm-shelved", `Shelved by ${a.shelved_by}${via(a.shelved_via)} until ${hhmm(a.shelved_until)}`,
      a.shelve_reason ? ` — ${a.shelve_reason}` : ""));
  }
  clear(item.main).append(...lines);

  clear(item.actions);
  if (!canAct()) {
    item.actions.hidden = true;
    return;
  }
  item.actions.hidden = false;
  const buttons = [];
  if (!a.acked_by && UNACKED.has(a.state)) buttons.push(actionButton(item, a, "ack", "Acknowledge", "btn-primary"));
  if (a.acked_by && !a.verdict) buttons.push(actionButton(item, a, "verdict", "Verdict…"));
  if (a.state === "shelved") buttons.push(unshelveButton(a));
  else if (!HIDDEN_STATES.has(a.state)) buttons.push(actionButton(item, a, "shelve", "Shelve…"));
  item.actions.append(...buttons);
  // a form for an action no longer offered closes (someone else did it)
  if (item.openForm && !buttons.some((b) => b.dataset.action === item.openForm)) closeForm(item);
}

const CHANNEL_LABEL = { dashboard: "dashboard", mqtt: "MQTT console", wearable: "wearable" };

/** " (via MQTT console)": where an acknowledgement or a shelve came from, when not the dashboard. */
function via(channel) {
  return channel && channel !== "dashboard" ? ` (via ${CHANNEL_LABEL[channel] || channel})` : "";
}

function stateIcon(st) {
  return { active_unacknowledged: "●", active_acknowledged: "✔", returned_unacknowledged: "○", shelved: "‖",
    suppressed: "⊘", out_of_service: "⊘" }[st] || "";
}

function actionButton(item, a, action, label, extra = "") {
  return h(`button.btn.alarm-btn${extra ? `.${extra}` : ""}`, {
    type: "button",
    dataset: { action },
    "aria-expanded": String(item.openForm === action),
    onclick: () => (item.openForm === action ? closeForm(item) : openForm(item, a.alarm_id, action)),
  }, label);
}

function unshelveButton(a) {
  const b = h("button.btn.alarm-btn", { type: "button", dataset: { action: "unshelve" } }, "Unshelve");
  b.addEventListener("click", async () => {
    b.disabled = true;
    try {
      const out = await post(`/alarms/${encodeURIComponent(a.alarm_id)}/unshelve`, {});
      if (out && out.alarm_id) applyAlarm(out, "unshelved");
    } catch (err) {
      b.disabled = false;
      b.textContent = `Unshelve failed: ${err instanceof ApiError ? err.text : err}`;
    }
  });
  return b;
}

function closeForm(item) {
  item.openForm = null;
  item.form.hidden = true;
  clear(item.form);
  for (const b of item.actions.querySelectorAll("button[aria-expanded]")) b.setAttribute("aria-expanded", "false");
}

function radio(name, value, label, checked = false) {
  const id = `${name}-${value}-${Math.random().toString(36).slice(2, 8)}`;
  return h("span.choice",
    h("input", { type: "radio", name, value, id, checked }),
    h("label", { for: id }, label));
}

function openForm(item, alarmId, action) {
  closeForm(item);
  item.openForm = action;
  const error = h("p.form-error", { role: "alert", hidden: true });
  const note = h("textarea", { name: "note", rows: "2", maxlength: "1000", placeholder: "What was done, what was found" });
  let form;
  if (action === "ack") {
    form = h("form.alarm-action-form", { dataset: { form: "ack" } },
      h("fieldset.choices", h("legend", "Verdict (optional)"),
        radio("verdict", "", "Not yet", true), radio("verdict", "confirmed", "Confirmed"), radio("verdict", "false_alarm", "False alarm")),
      h("label", "Note", note),
      error,
      h("div.form-buttons",
        h("button.btn.btn-primary", { type: "submit" }, "Acknowledge alarm"),
        h("button.btn", { type: "button", onclick: () => closeForm(item) }, "Cancel")));
  } else if (action === "verdict") {
    form = h("form.alarm-action-form", { dataset: { form: "verdict" } },
      h("fieldset.choices", h("legend", "Verdict"),
        radio("verdict", "confirmed", "Confirmed"), radio("verdict", "false_alarm", "False alarm")),
      h("label", "Note", note),
      error,
      h("div.form-buttons",
        h("button.btn.btn-primary", { type: "submit" }, "Save verdict"),
        h("button.btn", { type: "button", onclick: () => closeForm(item) }, "Cancel")));
  } else {
    const duration = h("select", { name: "duration" }, SHELVE_CHOICES.map(([sec, label], i) =>
      h("option", { value: String(sec), selected: i === 0 }, label)));
    const reason = h("input", { type: "text", name: "reason", maxlength: "500", placeholder: "Why (required)", autocomplete: "off" });
    form = h("form.alarm-action-form", { dataset: { form: "shelve" } },
      h("label", "Shelve for", duration),
      h("label", "Reason", reason),
      error,
      h("div.form-buttons",
        h("button.btn.btn-primary", { type: "submit" }, "Shelve alarm"),
        h("button.btn", { type: "button", onclick: () => closeForm(item) }, "Cancel")));
  }
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.hidden = true;
    const data = new FormData(form);
    let path;
    let body;
    if (action === "ack") {
      body = {};
      if (data.get("verdict")) body.verdict = data.get("verdict");
      if (String(data.get("note") || "").trim()) body.note = String(data.get("note")).trim();
      path = "ack";
    } else if (action === "verdict") {
      if (!data.get("verdict")) return showError(error, "Choose Confirmed or False alarm.");
      body = { verdict: data.get("verdict") };
      if (String(data.get("note") || "").trim()) body.note = String(data.get("note")).trim();
      path = "verdict";
    } else {
      const why = String(data.get("reason") || "").trim();
      if (why.length < 3) return showError(error, "A reason is required to shelve an alarm (at least 3 characters).");
      body = { duration_s: Number(data.get("duration")), reason: why };
      path = "shelve";
    }
    const submit = form.querySelector("button[type=submit]");
    submit.disabled = true;
    try {
      const out = await post(`/alarms/${encodeURIComponent(alarmId)}/${path}`, body);
      closeForm(item);
      if (out && out.alarm_id) applyAlarm(out, path);
    } catch (err) {
      submit.disabled = false;
      showError(error, err instanceof ApiError ? err.text : String(err));
    }
  });
  item.form.append(form);
  item.form.hidden = false;
  for (const b of item.actions.querySelectorAll("button[aria-expanded]")) {
    b.setAttribute("aria-expanded", String(b.dataset.action === action));
  }
  const first = form.querySelector("input:checked, select, input, textarea");
  if (first) first.focus();
}

function showError(el, text) {
  el.textContent = text;
  el.hidden = false;
}

function renderFlood(flood) {
  if (!floodEl) return;
  if (!flood || !flood.active) {
    floodEl.hidden = true;
    document.body.classList.remove("flood");
    return;
  }
  // the summary comes with snapshots; alarms of the flood that arrived since count too
  let count = flood.count;
  if (flood.group) count = Math.max(count, [...state.alarms.values()].filter((a) => a.flood_group === flood.group).length);
  clear(floodEl).append(
    h("strong", `⚠ ALARM FLOOD — ${count} alarm${count === 1 ? "" : "s"} since ${clockTime(flood.since)}.`),
    " ",
    flood.summary || "Most urgent first; flooded alarms are grouped below.",
  );
  floodEl.hidden = false;
  document.body.classList.add("flood");
}
