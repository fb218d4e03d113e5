// The dataset browser: rows of one synced table by device, site, time range (UTC), reading kind,
// alarm kind and verdict, a page at a time; operators export the same selection as Hive-partitioned
// Parquet or CSV and download its files here.
import { API, api, get, query } from "/common/api.js";
import { clear, h } from "/common/dom.js";
import { $, count, fromUtcInput, utc } from "./page.js";

const PAGE = 100;
let wired = false;
let filters = null; // the selection the rows on show came from
let shown = 0;

export async function showData() {
  if (!wired) {
    $("data-form").addEventListener("submit", (event) => { event.preventDefault(); search(); });
    $("data-more").addEventListener("click", () => more());
    $("data-export").addEventListener("click", exportSelection);
    wired = true;
  }
  if (!$("data-table").options.length) {
    const tables = Object.keys((await get("/definitions/*")).tables);
    $("data-table").append(...tables.map((t) => h("option", { value: t, selected: t === "alarms" }, t)));
  }
}

function selection() {
  const form = $("data-form").elements;
  const text = (name) => form[name].value.trim();
  return {
    table: text("table"), device_id: text("device_id"), site: text("site"), since: fromUtcInput(text("since")),
    until: fromUtcInput(text("until")), kind: text("kind"), alarm_kind: text("alarm_kind"), verdict: text("verdict"),
  };
}

function error(text) {
  $("data-error").textContent = text || "";
  $("data-error").hidden = !text;
}

async function search() {
  filters = selection();
  shown = 0;
  clear($("data-head"));
  clear($("data-rows"));
  await more(0);
}

async function more(after = Number($("data-more").dataset.after || 0)) {
  const { table, ...rest } = filters;
  error(null);
  try {
    const page = await get(`/datasets/${encodeURIComponent(table)}${query({ ...rest, limit: PAGE, after_id: after })}`);
    render(page.rows);
    $("data-more").hidden = page.next_after_id == null;
    $("data-more").dataset.after = page.next_after_id ?? "";
  } catch (err) {
    error(err.text || String(err));
  }
}

function cell(name, value) {
  if (value == null) return h("td.muted", "—");
  if ((name === "ts" || name.endsWith("_ts")) && typeof value === "number") return h("td.nowrap", { title: String(value) }, utc(value));
  if (typeof value === "object") return h("td.mono", JSON.stringify(value));
  return h("td", String(value));
}

function render(rows) {
  if (!$("data-head").firstChild && rows.length) {
    $("data-head").append(h("tr", Object.keys(rows[0]).map((k) => h("th", { scope: "col" }, k))));
  }
  const columns = rows.length ? Object.keys(rows[0]) : [];
  $("data-rows").append(...rows.map((r) => h("tr.data-row", columns.map((k) => cell(k, r[k])))));
  shown += rows.length;
  $("data-count").textContent = shown ? `(${count(shown)} shown)` : "(none match)";
}

async function exportSelection() {
  const chosen = selection();
  const body = { format: $("data-format").value };
  for (const [k, v] of Object.entries(chosen)) if (v !== "" && v != null) body[k] = v;
  const button = $("data-export");
  button.disabled = true;
  error(null);
  try {
    const out = await api("POST", "/datasets/exports", body);
    $("export-result").hidden = false;
    $("export-where").textContent = out.files.length
      ? `${out.files.length} file(s) in ${out.directory} on the service's data volume (DuckDB or Spark read it as is):`
      : "No row matches: nothing was written.";
    clear($("export-files")).append(...out.files.map((f) => h("li", h("a.export-file", {
      href: `${API}/datasets/exports/${out.id}/file${query({ path: f })}`, download: f.replace(/[/=]/g, "_"),
    }, f))));
  } catch (err) {
    error(err.text || String(err));
  } finally {
    button.disabled = false;
  }
}
