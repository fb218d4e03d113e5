// The collected-data definitions editor: per device type, each reading kind's values and each
// record field, with type, unit, allowed range and whether it is required. Viewers read only.
import { api, get } from "/common/api.js";
import { clear, h } from "/common/dom.js";
import { $, may } from "./page.js";

const TYPES = ["float", "int", "bool", "str", "json", "bytes"];
const VALUES = ["v1", "v2", "v3"];
let deviceType = "*";
let wired = false;

export async function showDefinitions(type) {
  if (!wired) {
    $("definition-pick").addEventListener("submit", (event) => {
      event.preventDefault();
      location.hash = `#/definitions/${encodeURIComponent($("definition-type").value.trim() || "*")}`;
    });
    $("kind-add").addEventListener("click", () => $("kind-rows").append(fieldRow("kind", "", "v1", { type: "float" }, true)));
    $("definition-form").addEventListener("submit", save);
    wired = true;
  }
  deviceType = type;
  $("definition-type").value = type;
  message(null, null);
  const definition = await get(`/definitions/${encodeURIComponent(type)}`);
  const kinds = Object.entries(definition.readings).sort(([a], [b]) => a.localeCompare(b));
  clear($("kind-rows")).append(...kinds.flatMap(([kind, values]) =>
    Object.entries(values).map(([value, def]) => fieldRow("kind", kind, value, def, true))));
  const fields = Object.entries(definition.tables);
  clear($("field-rows")).append(...fields.flatMap(([table, columns]) =>
    Object.entries(columns).map(([name, def]) => fieldRow("field", table, name, def, false))));
}

const num = (v) => (v == null ? "" : String(v));

/** One editable row: (kind, value) of a reading or (table, field) of a record, then the definition. */
function fieldRow(what, group, name, def, editableKey) {
  const ro = !may("operator");
  const key = what === "kind"
    ? [h("td", h("input.in-kind", { value: group, required: true, "aria-label": "Reading kind", disabled: ro })),
      h("td", h("select.in-name", { "aria-label": "Value", disabled: ro },
        VALUES.map((v) => h("option", { value: v, selected: v === name }, v))))]
    : [h("td.mono.in-group", group), h("td.mono.in-name-text", name)];
  const row = h(`tr.def-row.def-${what}`, { dataset: { group, name } }, key,
    h("td", h("select.in-type", { "aria-label": "Type", disabled: ro },
      TYPES.map((t) => h("option", { value: t, selected: t === def.type }, t)))),
    h("td", h("input.in-unit", { value: def.unit || "", "aria-label": "Unit", disabled: ro, size: 6 })),
    h("td", h("input.in-min", { value: num(def.min), inputMode: "decimal", "aria-label": "Minimum", disabled: ro, size: 6 })),
    h("td", h("input.in-max", { value: num(def.max), inputMode: "decimal", "aria-label": "Maximum", disabled: ro, size: 6 })),
    h("td", h("input.in-required", { type: "checkbox", checked: !!def.required, "aria-label": "Required", disabled: ro })),
    h("td", ro || !editableKey ? null : h("button.btn.btn-small", { type: "button", onclick: () => row.remove(),
      "aria-label": "Remove this value" }, "Remove")));
  return row;
}

function readRow(row) {
  const text = (sel) => row.querySelector(sel).value.trim();
  const number = (sel, label) => {
    const t = text(sel);
    if (t === "") return null;
    const v = Number(t);
    if (!Number.isFinite(v)) throw new Error(`${label} "${t}" is not a number`);
    return v;
  };
  const def = { type: text(".in-type"), required: row.querySelector(".in-required").checked };
  if (text(".in-unit")) def.unit = text(".in-unit");
  const min = number(".in-min", "minimum");
  const max = number(".in-max", "maximum");
  if (min != null) def.min = min;
  if (max != null) def.max = max;
  return def;
}

/** The definition the form holds; an Error names the first row that cannot be one. */
function readForm() {
  const readings = {};
  for (const row of $("kind-rows").children) {
    const kind = row.querySelector(".in-kind").value.trim();
    const value = row.querySelector(".in-name").value;
    if (!kind) throw new Error("every reading value needs its kind");
    readings[kind] = readings[kind] || {};
    if (readings[kind][value]) throw new Error(`${kind} ${value} is defined twice`);
    readings[kind][value] = readRow(row);
  }
  const tables = {};
  for (const row of $("field-rows").children) {
    const { group, name } = row.dataset;
    tables[group] = tables[group] || {};
    tables[group][name] = readRow(row);
  }
  return { tables, readings };
}

function message(error, ok) {
  $("definition-error").textContent = error || "";
  $("definition-error").hidden = !error;
  $("definition-ok").textContent = ok || "";
  $("definition-ok").hidden = !ok;
}

async function save(event) {
  event.preventDefault();
  const button = $("definition-save");
  button.disabled = true;
  try {
    const definition = readForm();
    await api("PUT", `/definitions/${encodeURIComponent(deviceType)}`, definition);
    message(null, `Saved: batches of ${deviceType === "*" ? "every device type without its own" : deviceType} are checked against it from now on.`);
  } catch (err) {
    message(err.text || err.message || String(err), null);
  } finally {
    button.disabled = false;
  }
}
