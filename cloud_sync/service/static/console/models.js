// Models: every registered model with its aliases; one model's versions with lineage (parent, run,
// data snapshot), metrics and alias history; operators point an alias (champion, candidate) at a version.
import { api, get } from "/common/api.js";
import { clear, h } from "/common/dom.js";
import { $, may, utc } from "./page.js";

const ALIASES = ["champion", "candidate"];
const HEADLINE = ["average_precision", "recall", "roc_auc", "map50", "precision"];

export async function showModels(name, version) {
  const list = (await get("/models")).models;
  $("models-empty").hidden = list.length > 0;
  clear($("model-rows")).append(...list.map((m) => h(`tr${m.name === name ? ".selected" : ""}`, { dataset: { model: m.name } },
    h("td", h("a", { href: `#/models/${encodeURIComponent(m.name)}` }, m.name)), h("td", m.task), h("td", String(m.versions)),
    h("td.mono", m.latest), h("td", Object.entries(m.aliases).map(([a, v]) => `${a} → ${v}`).join(", ") || "—"))));
  $("model-detail").hidden = !name;
  if (name) await showModel(name, version);
}

function headline(metrics) {
  const shown = HEADLINE.filter((k) => k in metrics).map((k) => `${k} ${Number(metrics[k]).toFixed(3)}`);
  return shown.join(", ") || "—";
}

async function showModel(name, version) {
  const detail = await get(`/models/${encodeURIComponent(name)}`);
  $("model-title").textContent = name;
  const aliasOf = {};
  for (const a of detail.aliases) (aliasOf[a.version] = aliasOf[a.version] || []).push(a.alias);
  clear($("version-rows")).append(...detail.versions.slice().reverse().map((v) => h(
    `tr${v.version === version ? ".selected" : ""}`, { dataset: { version: v.version } },
    h("td", h("a.mono", { href: `#/models/${encodeURIComponent(name)}/${encodeURIComponent(v.version)}` }, v.version)),
    h("td.mono", v.parent_version || "—"), h("td.mono", v.run_id || "—"), h("td.mono", v.data_snapshot_id || "—"),
    h("td.nowrap", utc(v.created_ts)), h("td", headline(v.metrics)), h("td", (aliasOf[v.version] || []).join(", ") || "—"),
    h("td.nowrap", may("operator") ? ALIASES.filter((a) => !(aliasOf[v.version] || []).includes(a)).map((a) =>
      h("button.btn.btn-small.set-alias", { type: "button", dataset: { alias: a }, onclick: () => setAlias(name, a, v.version) },
        `Make ${a}`)) : null))));
  clear($("alias-history")).append(...detail.alias_history.map((c) => h("li",
    `${utc(c.ts)}: ${c.alias} → ${c.version}`, c.previous_version ? ` (was ${c.previous_version})` : "", ` by ${c.by}`)));
  $("lineage-title").hidden = !version;
  clear($("lineage"));
  if (version) {
    const v = await get(`/models/${encodeURIComponent(name)}/${encodeURIComponent(version)}`);
    $("lineage").append(...v.lineage.map((step) => h("li", h("strong.mono", step.version),
      step.registered ? ` · run ${step.run_id || "—"} · data ${step.data_snapshot_id || "—"} · ${headline(step.metrics)}`
        : " · not registered here")));
  }
}

async function setAlias(name, alias, version) {
  const error = $("models-error");
  error.hidden = true;
  try {
    await api("PUT", `/models/${encodeURIComponent(name)}/aliases/${alias}`, { version });
    await showModels(name, version);
  } catch (err) {
    error.textContent = err.text || String(err);
    error.hidden = false;
  }
}
