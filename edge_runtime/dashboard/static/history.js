// The history page: alarms of a shift (name + start date) or a custom range in
// site local time, filtered by kind, priority and verdict, each with its
// transitions; a CSV export of the same query; links to per-worker exposure reports.
import { API, session, get, signOut, query, ApiError } from "./api.js";
import {
  h, clear, setTimeZone, timeZone, dateTime, clockTime, localInput, fromLocalInput, nowSeconds,
  priorityBadge, kindLabel, KIND_LABEL, STATE_LABEL, VERDICT_LABEL,
} from "./util.js";

const $ = (id) => document.getElementById(id);
let workers = new Map();
let zones = new Map();
let shifts = null;

function showError(err) {
  const box = $("error-banner");
  if (!err) {
    box.hidden = true;
    return;
  }
  if (err.status === 401) return;
  box.textContent = err instanceof ApiError ? err.text : String(err);
  box.hidden = false;
}

function subjectLabel(subject) {
  const [kind, id] = String(subject || "").split(/:(.*)/s);
  if (kind === "worker") {
    const w = workers.get(id);
    return w ? `${w.name} (${id})` : id;
  }
  if (kind === "zone") return `Zone ${zones.get(id) || id}`;
  if (kind === "device") return `Device ${id}`;
  return String(subject || "");
}

function mode() {
  return $("history-form").elements.mode.value;
}

/** The window of the form as API parameters; null when incomplete. */
function windowParams() {
  if (mode() === "shift") {
    const shift = $("shift").value;
    const date = $("date").value;
    return shift && date ? { shift, date } : null;
  }
  const since = fromLocalInput($("since").value);
  const until = fromLocalInput($("until").value);
  return since !== null && until !== null ? { since: Math.floor(since), until: Math.ceil(until) } : null;
}

function filterParams() {
  return { kind: $("kind").value, priority: $("priority").value, verdict: $("verdict").value };
}

function syncMode() {
  const shiftMode = mode() === "shift";
  $("shift-fields").hidden = !shiftMode;
  $("range-fields").hidden = shiftMode;
}

function updateLinks() {
  const win = windowParams();
  const csv = $("csv-link");
  if (win) {
    csv.href = `${API}/history/alarms.csv${query({ ...win, ...filterParams() })}`;
    csv.removeAttribute("aria-disabled");
    csv.classList.remove("disabled");
  } else {
    csv.removeAttribute("href");
    csv.setAttribute("aria-disabled", "true");
    csv.classList.add("disabled");
  }
  const list = clear($("report-links"));
  const sorted = [...workers.values()].sort((a, b) => a.name.localeCompare(b.name));
  for (const w of sorted) {
    list.append(h("li", win
      ? h("a.report-link", { href: `/report/exposure${query({ worker: w.id, ...win })}`, target: "_blank", rel: "noopener", dataset: { worker: w.id } },
        `${w.name} (${w.id})`)
      : h("span.muted", `${w.name} (${w.id})`)));
  }
}

async function show(event) {
  if (event) event.preventDefault();
  const win = windowParams();
  updateLinks();
  if (!win) {
    showError(new Error(mode() === "shift" ? "Choose a shift and its date." : "Enter both ends of the range."));
    return;
  }
  const params = { ...win, ...filterParams() };
  history.replaceState(null, "", `/history${query(params)}`);
  $("result-note").textContent = "Loading…";
  try {
    const out = await get(`/history/alarms${query({ ...params, limit: 1000 })}`);
    showError(null);
    render(out);
  } catch (err) {
    $("result-note").textContent = "";
    showError(err);
  }
}

function render(out) {
  const byAlarm = new Map();
  for (const t of out.transitions) {
    if (!byAlarm.has(t.alarm_id)) byAlarm.set(t.alarm_id, []);
    byAlarm.get(t.alarm_id).push(t);
  }
  const rows = clear($("history-rows"));
  const alarms = [...out.alarms].sort((a, b) => a.raised_ts - b.raised_ts);
  for (const a of alarms) {
    const ts = (byAlarm.get(a.alarm_id) || []).sort((x, y) => x.ts - y.ts);
    rows.append(h(`tr.prio-${a.priority}`, { dataset: { alarmId: a.alarm_id } },
      h("td.nowrap", dateTime(a.raised_ts)),
      h("td", priorityBadge(a.priority)),
      h("td.wrap",
        h("strong", kindLabel(a.kind)), " — ", subjectLabel(a.subject),
        h("div.muted", a.message)),
      h("td", STATE_LABEL[a.state] || a.state),
      h("td", a.acked_by ? `${a.acked_by} ${a.acked_ts ? clockTime(a.acked_ts) : ""}` : "—"),
      h("td", a.verdict ? VERDICT_LABEL[a.verdict] : "—"),
      h("td.wrap", ts.length ? h("details.transitions",
        h("summary", `${ts.length} transition${ts.length === 1 ? "" : "s"}`),
        h("ol.transition-list", ts.map((t) => h("li", { dataset: { cause: t.cause } },
          h("span.nowrap", clockTime(t.ts)), " ", h("strong", t.cause.replace(/_/g, " ")),
          ` ${STATE_LABEL[t.from_state] || t.from_state} → ${STATE_LABEL[t.to_state] || t.to_state}`,
          t.by ? ` · by ${t.by}` : "", t.note ? ` · “${t.note}”` : "")))) : "—")));
  }
  $("history-empty").hidden = alarms.length > 0;
  $("result-note").textContent =
    `${alarms.length} alarm${alarms.length === 1 ? "" : "s"} · ${dateTime(out.since)} to ${dateTime(out.until)} (${timeZone()})`;
}

async function main() {
  let me;
  try {
    me = await session();
  } catch (err) {
    showError(err);
    return;
  }
  $("user").textContent = `${me.display_name || me.name} · ${me.role}`;
  $("logout").addEventListener("click", signOut);
  const kind = $("kind");
  for (const [value, label] of Object.entries(KIND_LABEL)) kind.append(h("option", { value }, label));

  try {
    [shifts] = await Promise.all([
      get("/shifts"),
      get("/workers").then((list) => { workers = new Map(list.workers.map((w) => [w.id, w])); }),
      get("/site").then((site) => { zones = new Map(site.zones.map((z) => [z.id, z.name])); }),
    ]);
  } catch (err) {
    showError(err);
    return;
  }
  setTimeZone(shifts.timezone);
  $("tz-note").textContent = `Times are site local time (${shifts.timezone}).`;
  const shiftSel = $("shift");
  for (const s of shifts.shifts) shiftSel.append(h("option", { value: s.name }, `${s.name} (${s.start}–${s.end})`));

  // defaults: the current shift, or what the address says
  const p = new URLSearchParams(location.search);
  shiftSel.value = p.get("shift") || shifts.current || (shifts.shifts[0] && shifts.shifts[0].name) || "";
  $("date").value = p.get("date") || shifts.current_date || localInput(nowSeconds()).slice(0, 10);
  const now = nowSeconds();
  $("since").value = p.get("since") ? localInput(Number(p.get("since"))) : localInput(now - 8 * 3600);
  $("until").value = p.get("until") ? localInput(Number(p.get("until"))) : localInput(now + 60);
  if (p.get("since") && !p.get("shift")) $("history-form").elements.mode.value = "range";
  for (const f of ["kind", "priority", "verdict"]) if (p.get(f)) $(f).value = p.get(f);

  const form = $("history-form");
  form.addEventListener("submit", show);
  form.addEventListener("change", () => {
    syncMode();
    updateLinks();
  });
  syncMode();
  await show();
  document.body.dataset.ready = "true";
}

main();
