// The printable exposure report of one worker: /report/exposure?worker=w03&shift=day&date=2026-03-02
// (or &since=&until= in UNIX seconds). Print CSS hides the navigation.
import { session, get, query, ApiError } from "./api.js";
import { h, clear, setTimeZone, dateTime, num } from "./util.js";

const $ = (id) => document.getElementById(id);

function vsLimit(value, limit, unit, measure) {
  if (value == null) {
    return h("span.muted", { dataset: { measure } }, `no data${limit != null ? ` (limit ${num(limit, 2)} ${unit})` : ""}`);
  }
  if (limit == null) return h("span", { dataset: { measure } }, `${num(value, 2)} ${unit} (no limit set)`);
  const fraction = value / limit;
  const level = fraction >= 1 ? "over" : fraction >= 0.5 ? "warn" : "ok";
  const fill = h(`div.bar-fill.bar-${level}`);
  fill.style.width = `${Math.min(100, Math.max(0, fraction * 100))}%`;
  return h("div.report-measure", { dataset: { measure } },
    h(`span.bar-text-${level}`, `${num(value, 2)} / ${num(limit, 2)} ${unit} — ${Math.round(fraction * 100)} %${level === "over" ? " ⚠ OVER LIMIT" : ""}`),
    h("div.bar", { role: "progressbar", "aria-valuenow": String(Math.round(fraction * 100)), "aria-valuemin": "0", "aria-valuemax": "100", "aria-label": `${measure} ${Math.round(fraction * 100)} % of limit` }, fill));
}

async function main() {
  $("print").addEventListener("click", () => window.print());
  const params = new URLSearchParams(location.search);
  const worker = params.get("worker");
  let me;
  try {
    me = await session();
  } catch (err) {
    return;
  }
  if (!worker) {
    $("report-sub").textContent = "No worker chosen: open this report from the history page.";
    return;
  }
  const q = { worker };
  for (const k of ["shift", "date", "since", "until"]) if (params.get(k)) q[k] = params.get(k);
  let rep;
  try {
    rep = await get(`/reports/exposure${query(q)}`);
  } catch (err) {
    const box = $("error-banner");
    box.textContent = `The report could not be made: ${err instanceof ApiError ? err.text : err}`;
    box.hidden = false;
    $("report-sub").textContent = "";
    return;
  }
  setTimeZone(rep.timezone);
  document.title = `Exposure report — ${rep.name} (${rep.worker})`;
  $("report-title").textContent = `Gas exposure report — ${rep.name}`;
  $("report-sub").textContent = `${dateTime(rep.since)} to ${dateTime(rep.until)} (${rep.timezone})`;
  const facts = clear($("report-facts"));
  const fact = (dt, dd) => facts.append(h("div", h("dt", dt), h("dd", dd)));
  fact("Worker", `${rep.name} (${rep.worker})`);
  if (q.shift) fact("Shift", `${q.shift}${q.date ? `, starting ${q.date}` : ""}`);
  fact("Window", `${dateTime(rep.since)} – ${dateTime(rep.until)}`);
  fact("Gases", String(rep.gases.length));

  const rows = clear($("report-rows"));
  for (const g of rep.gases) {
    const over = (g.twa != null && g.twa_limit != null && g.twa >= g.twa_limit)
      || (g.stel_peak != null && g.stel_limit != null && g.stel_peak >= g.stel_limit);
    rows.append(h(`tr${over ? ".over" : ""}`, { dataset: { gas: g.gas } },
      h("th", { scope: "row" }, `${g.gas}${over ? " ⚠" : ""}`),
      h("td", String(g.minutes)),
      h("td", vsLimit(g.twa, g.twa_limit, g.unit, "TWA")),
      h("td", vsLimit(g.stel_peak, g.stel_limit, g.unit, "STEL")),
      h("td", g.stel_peak_ts ? dateTime(g.stel_peak_ts) : "—"),
      h("td", g.peak != null ? `${num(g.peak, 2)} ${g.unit}` : "—"),
      h("td", String(g.alarms))));
  }
  $("report-empty").hidden = rep.gases.length > 0;
  $("report-foot").textContent = `Made ${dateTime(Date.now() / 1000)} by ${me.display_name || me.name} from the SiteGuard edge records of this site.`;
  document.body.dataset.ready = "true";
}

main();
