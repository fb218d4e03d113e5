// Workers: a list of everyone on site and the card of the selected worker
// (heart rate with its trend, gas readings with STEL/TWA toward their limits,
// batteries, last seen, open alarms). Selecting a worker on the map opens it.
import { get } from "./api.js";
import { state, on, emit, zoneName } from "./state.js";
import { h, s, clear, age, clockTime, num, priorityBadge, kindLabel, PRIORITY_RANK } from "./util.js";

const TREND_REFRESH_MS = 3000;
const HR_LEVEL = { hr_high: "⚠ HIGH", hr_low: "⚠ LOW", hr_no_signal: "no signal" };
let listEl;
let cardEl;
let card = null; // WorkerCard of the selected worker
let trendTimer = null;
const rows = new Map(); // id -> li

export function setupWorkers(list, cardBox) {
  listEl = list;
  cardEl = cardBox;
  on("workers", renderList);
  on("workers", mergeLive);
  on("alarms", () => { if (card) renderCard(); });
  on("select-worker", select);
}

function freshness(w) {
  if (!w.position) return { text: "no position", cls: "fresh-none" };
  if (w.position.stale) return { text: `stale ${age(w.position.age_s)}`, cls: "fresh-stale" };
  return { text: "live", cls: "fresh-ok" };
}

function minBattery(w) {
  const values = Object.values(w.battery || {});
  return values.length ? Math.min(...values) : null;
}

function renderList() {
  if (!listEl) return;
  const workers = [...state.workers.values()].sort((a, b) =>
    (PRIORITY_RANK[b.alarm_priority] || 0) - (PRIORITY_RANK[a.alarm_priority] || 0) || a.name.localeCompare(b.name));
  let stale = 0;
  workers.forEach((w, i) => {
    const f = freshness(w);
    if (f.cls !== "fresh-ok") stale += 1;
    const battery = minBattery(w);
    const hr = w.hr && w.hr.valid && w.hr.bpm != null ? `${Math.round(w.hr.bpm)} bpm` : "HR —";
    const worstGas = w.gas.filter((g) => g.band);
    const item = h("li.worker-row", { dataset: { worker: w.id } },
      h("button.worker-open", {
        type: "button",
        "aria-label": `Open ${w.name}'s card`,
        "aria-pressed": String(state.selectedWorker === w.id),
        onclick: () => select(w.id),
      },
      h("span.worker-name", w.name),
      h("span.worker-role", w.role),
      w.alarm_priority ? priorityBadge(w.alarm_priority) : null,
      h(`span.fresh.${f.cls}`, f.text),
      h("span.worker-hr", hr),
      worstGas.length ? h("span.worker-gas.warn", worstGas.map((g) => `${g.gas} ${num(g.value)} ${g.unit}`).join(", ")) : null,
      battery != null ? h(`span.worker-battery${battery < 20 ? ".warn" : ""}`, `battery ${Math.round(battery)} %`) : null));
    const old = rows.get(w.id);
    if (old && old.isEqualNode(item)) {
      if (listEl.children[i] !== old) listEl.insertBefore(old, listEl.children[i] || null);
      return;
    }
    if (old) old.replaceWith(item);
    rows.set(w.id, item);
    if (listEl.children[i] !== item) listEl.insertBefore(item, listEl.children[i] || null);
  });
  const ids = new Set(workers.map((w) => w.id));
  for (const [id, li] of rows) {
    if (!ids.has(id)) {
      li.remove();
      rows.delete(id);
    }
  }
  const counts = document.getElementById("worker-counts");
  if (counts) counts.textContent = `${workers.length} on site${stale ? ` · ${stale} without a live position` : ""}`;
}

async function select(id) {
  state.selectedWorker = id;
  emit("selected", id);
  for (const [wid, li] of rows) {
    const b = li.querySelector("button");
    if (b) b.setAttribute("aria-pressed", String(wid === id));
  }
  const live = state.workers.get(id);
  card = live ? { ...live, hr_trend: [], gas_trend: {} } : null;
  renderCard();
  cardEl.scrollIntoView({ block: "nearest", behavior: "smooth" });
  await loadTrends();
  clearInterval(trendTimer);
  trendTimer = setInterval(loadTrends, TREND_REFRESH_MS);
}

function close() {
  state.selectedWorker = null;
  card = null;
  clearInterval(trendTimer);
  trendTimer = null;
  cardEl.hidden = true;
  clear(cardEl);
  emit("selected", null);
  for (const li of rows.values()) li.querySelector("button")?.setAttribute("aria-pressed", "false");
}

async function loadTrends() {
  const id = state.selectedWorker;
  if (!id) return;
  try {
    const full = await get(`/workers/${encodeURIComponent(id)}`);
    if (state.selectedWorker !== id) return;
    const live = state.workers.get(id);
    card = live && card && live.last_seen > full.last_seen ? { ...full, ...live } : full;
    renderCard();
  } catch (err) {
    if (card && err.status !== 401) {
      cardEl.dataset.error = err.message;
    }
  }
}

function mergeLive() {
  if (!card) return;
  const live = state.workers.get(card.id);
  if (!live) return;
  card = { ...card, ...live, hr_trend: card.hr_trend, gas_trend: card.gas_trend };
  renderCard();
}

/** An inline SVG sparkline of [{ts, value}] (no axes: the numbers sit beside it). */
export function sparkline(points, { label = "", limit = null, width = 120, height = 32 } = {}) {
  const svgEl = s("svg", { class: "spark", viewBox: `0 0 ${width} ${height}`, preserveAspectRatio: "none", role: "img", "aria-label": label || "trend" });
  if (!points || points.length < 2) {
    svgEl.classList.add("spark-empty");
    return svgEl;
  }
  const t0 = points[0].ts;
  const t1 = points[points.length - 1].ts || t0 + 1;
  let lo = Math.min(...points.map((p) => p.value));
  let hi = Math.max(...points.map((p) => p.value));
  if (limit != null) hi = Math.max(hi, limit);
  if (hi - lo < 1e-9) {
    hi += 1;
    lo -= 1;
  }
  const X = (ts) => ((ts - t0) / Math.max(1e-9, t1 - t0)) * (width - 2) + 1;
  const Y = (v) => height - 2 - ((v - lo) / (hi - lo)) * (height - 4);
  if (limit != null) svgEl.append(s("line", { x1: 0, x2: width, y1: Y(limit), y2: Y(limit), class: "spark-limit" }));
  svgEl.append(s("polyline", { points: points.map((p) => `${X(p.ts).toFixed(1)},${Y(p.value).toFixed(1)}`).join(" "), class: "spark-line" }));
  return svgEl;
}

const hasLimit = (exposure) => !!exposure && exposure.limit != null;

/** A bar toward a limit: 100 % is the alarm point (width set through the CSSOM, allowed by the CSP). */
function limitBar(name, exposure, unit) {
  if (!exposure || exposure.limit == null) return h("div.bar-row", h("span.bar-name", name), h("span.bar-na", "no limit"));
  const fraction = exposure.fraction != null ? exposure.fraction : (exposure.value || 0) / exposure.limit;
  const pct = Math.max(0, fraction * 100);
  const level = fraction >= 1 ? "over" : fraction >= 0.5 ? "warn" : "ok";
  const fill = h(`div.bar-fill.bar-${level}`);
  fill.style.width = `${Math.min(100, pct)}%`;
  return h("div.bar-row", { dataset: { measure: name.toLowerCase() } },
    h("span.bar-name", name),
    h("div.bar", {
      role: "progressbar", "aria-label": `${name} ${Math.round(pct)} % of limit`,
      "aria-valuemin": "0", "aria-valuemax": "100", "aria-valuenow": String(Math.round(Math.min(pct, 999))),
    }, fill),
    h(`span.bar-value.bar-text-${level}`, `${num(exposure.value, 2)} / ${num(exposure.limit)} ${unit} (${Math.round(pct)} %)${level === "over" ? " ⚠ OVER" : ""}`));
}

function renderCard() {
  if (!cardEl) return;
  if (!card) {
    cardEl.hidden = true;
    return;
  }
  const w = card;
  const f = freshness(w);
  const pos = w.position;
  const hr = w.hr;
  const hrText = hr && hr.valid && hr.bpm != null ? `${Math.round(hr.bpm)} bpm` : "no signal";
  const alarms = (w.alarm_ids || []).map((id) => state.alarms.get(id)).filter(Boolean)
    .sort((a, b) => PRIORITY_RANK[b.priority] - PRIORITY_RANK[a.priority]);

  const body = h("div.card-body",
    h("div.card-head",
      h("div",
        h("h3.card-title", w.name, " ", h("span.muted", `(${w.id})`)),
        h("p.card-sub", w.role, w.zones.length ? ` · in ${w.zones.map(zoneName).join(", ")}` : "")),
      w.alarm_priority ? priorityBadge(w.alarm_priority) : null,
      h("button.btn.btn-small.card-close", { type: "button", onclick: close, "aria-label": "Close worker card" }, "Close")),
    h("dl.facts",
      h("div", h("dt", "Position"), h(`dd.${f.cls}`, pos ? `${num(pos.x)}, ${num(pos.y)} m · ${pos.stale ? `STALE ${age(pos.age_s)}` : `${age(pos.age_s)} old`}${pos.hdop != null ? ` · HDOP ${num(pos.hdop)}` : ""}` : "no position")),
      h("div", h("dt", "Last seen"), h("dd", w.last_seen ? `${clockTime(w.last_seen)}` : "never")),
      h("div", h("dt", "Battery"), h("dd", Object.keys(w.battery || {}).length
        ? Object.entries(w.battery).map(([dev, pct]) => h(`span.batt${pct < 20 ? ".warn" : ""}`, `${dev} ${Math.round(pct)} %`))
        : "—"))),
    h("div.card-section.hr-section",
      h("h4", "Heart rate"),
      h("div.hr-now",
        h(`span.hr-value${hr && hr.level ? ".warn" : ""}`, hrText),
        hr ? h("span.muted", [HR_LEVEL[hr.level] || hr.level, hr.contact ? `contact ${hr.contact}` : null, hr.age_s != null ? `${age(hr.age_s)} ago` : null].filter(Boolean).join(" · ")) : null,
        sparkline(w.hr_trend, { label: `Heart rate trend of ${w.name}` }))),
    h("div.card-section",
      h("h4", "Gas"),
      w.gas.length ? h("ul.gas-list", w.gas.map((g) => h("li.gas", { dataset: { gas: g.gas } },
        h("div.gas-now",
          h("span.gas-name", g.gas),
          h(`span.gas-value${g.band ? ".warn" : ""}`, `${num(g.value, 1)} ${g.unit}`),
          g.band ? h("span.tag.tag-band", `⚠ ${g.band.toUpperCase()}`) : null,
          g.stale ? h("span.tag.tag-stale", "STALE") : null,
          g.fault ? h("span.tag.tag-fault", `FAULT: ${g.fault}`) : null,
          sparkline((w.gas_trend || {})[g.gas], { label: `${g.gas} trend` })),
        // exposure limits exist for toxic gases only (not O2 or %LEL)
        hasLimit(g.stel) || hasLimit(g.twa) ? [limitBar("STEL", g.stel, g.unit), limitBar("TWA", g.twa, g.unit)] : null))) : h("p.muted", "No gas readings."),
    ),
    h("div.card-section",
      h("h4", "Open alarms"),
      alarms.length ? h("ul.card-alarms", alarms.map((a) => h("li", priorityBadge(a.priority), " ", kindLabel(a.kind), " — ", a.message)))
        : h("p.muted", (w.alarm_ids || []).length ? `${w.alarm_ids.length} (shelved or loading)` : "None.")),
  );
  cardEl.dataset.worker = w.id;
  cardEl.hidden = false;
  // keep the close button's focus across the per-second refresh
  const hadFocus = cardEl.contains(document.activeElement) && document.activeElement.classList.contains("card-close");
  clear(cardEl).append(body);
  if (hadFocus) cardEl.querySelector(".card-close").focus();
}
