// Training: the pipelines (with a "Run now" for operators) and their jobs, each with its state, a
// progress bar, what started it, attempts and timings; one job's metrics and log on request.
// Refreshed every 2 s while a job is unfinished, every 10 s otherwise.
import { api, get } from "/common/api.js";
import { age, clear, h } from "/common/dom.js";
import { $, may, utc } from "./page.js";

const BUSY_MS = 2000;
const IDLE_MS = 10000;
const STATE_LABEL = {
  queued: "Queued", preprocessing: "Preprocessing", training: "Training", evaluating: "Evaluating",
  packaging: "Packaging", done: "Done", failed: "Failed",
};
let timer = null;
let open = null; // the job id whose detail is shown

export function stopTraining() {
  clearTimeout(timer);
  timer = null;
}

export async function showTraining(jobId) {
  open = jobId;
  stopTraining();
  await refresh();
}

async function refresh() {
  const [pipelines, jobs] = await Promise.all([get("/training/pipelines"), get("/training/jobs?limit=50")]);
  renderPipelines(pipelines.pipelines, jobs.jobs);
  renderJobs(jobs.jobs);
  if (open != null) await renderDetail(open);
  $("job-detail").hidden = open == null;
  const busy = jobs.jobs.some((j) => j.ended_ts == null);
  timer = setTimeout(() => refresh().catch(() => {}), busy ? BUSY_MS : IDLE_MS);
}

function triggerText(t) {
  if (t.type === "schedule") return `schedule ${t.cron}`;
  if (t.type === "labels") return `${t.min_new} new verdicts`;
  if (t.type === "drift") return `drift (${t.method} > ${t.threshold})`;
  if (t.type === "performance") return "live performance";
  return t.type;
}

function renderPipelines(pipelines, jobs) {
  $("pipelines-empty").hidden = pipelines.length > 0;
  clear($("pipeline-rows")).append(...pipelines.map((p) => {
    const last = jobs.find((j) => j.pipeline === p.name);
    return h("tr", { dataset: { pipeline: p.name } }, h("td.mono", p.name), h("td", p.kind),
      h("td", p.triggers.map(triggerText).join(", ")),
      h("td", last ? `${STATE_LABEL[last.state]} · ${utc(last.created_ts)}` : "never"),
      h("td", may("operator") ? h("button.btn.btn-small.run-now", { type: "button", onclick: () => runNow(p.name) },
        "Run now") : null));
  }));
}

async function runNow(name) {
  const error = $("training-error");
  error.hidden = true;
  try {
    const job = await api("POST", `/training/pipelines/${encodeURIComponent(name)}/runs`, {});
    location.hash = `#/training/${job.id}`;
  } catch (err) {
    error.textContent = err.text || String(err);
    error.hidden = false;
  }
}

function stateBadge(job) {
  return h(`span.job-state.state-${job.state}`, STATE_LABEL[job.state] || job.state);
}

function progressBar(job) {
  const pct = Math.round(job.progress * 100);
  return h("span.job-progress", h("progress", { max: 100, value: pct, "aria-label": `${pct}%` }), ` ${pct}%`);
}

function renderJobs(jobs) {
  $("jobs-empty").hidden = jobs.length > 0;
  const now = Date.now() / 1000;
  clear($("job-rows")).append(...jobs.map((j) => h(`tr.job-row${j.id === open ? ".selected" : ""}`, { dataset: { job: j.id } },
    h("td", h("a", { href: `#/training/${j.id}` }, `#${j.id}`)), h("td.mono", j.pipeline), h("td", stateBadge(j)),
    h("td", progressBar(j), j.step && j.ended_ts == null ? h("div.cell-note", j.step) : null),
    h("td", j.trigger, h("div.cell-note", j.reason)), h("td", `${j.attempt} of ${j.max_attempts}`),
    h("td.nowrap", j.started_ts ? utc(j.started_ts) : "—"),
    h("td.nowrap", j.duration_s != null ? age(j.duration_s) : j.started_ts ? `${age(now - j.started_ts)} so far` : "—"),
    h("td.outcome", j.error ? h("span.bad", j.error.slice(0, 160)) : j.result && j.result.version
      ? `${j.result.model} ${j.result.version} (${j.result.alias})` : "—"))));
}

async function renderDetail(id) {
  const [job, logs] = await Promise.all([get(`/training/jobs/${id}`), get(`/training/jobs/${id}/logs?limit=500`)]);
  $("job-title").textContent = `Job #${job.id} · ${job.pipeline} · ${STATE_LABEL[job.state]}`;
  const facts = [["State", stateBadge(job)], ["Progress", progressBar(job)], ["Step", job.step || "—"],
    ["Trigger", `${job.trigger}: ${job.reason}`], ["Attempt", `${job.attempt} of ${job.max_attempts}`],
    ["Data snapshot", job.data_snapshot_id || "—"], ["Parent version", job.parent_version || "—"],
    ["Created", utc(job.created_ts)], ["Started", job.started_ts ? utc(job.started_ts) : "—"],
    ["Ended", job.ended_ts ? utc(job.ended_ts) : "—"], ["Error", job.error || "none"]];
  clear($("job-facts")).append(...facts.flatMap(([k, v]) => [h("dt", k), h("dd", v)]));
  clear($("job-timings")).append(...Object.entries(job.timings).flatMap(([k, v]) => [h("dt", k), h("dd", `${v.toFixed(1)} s`)]));
  $("job-metrics").textContent = JSON.stringify(job.metrics, null, 2);
  clear($("job-log")).append(...logs.lines.map((l) => h(`li.log-${l.level}`, h("span.log-ts", utc(l.ts)), " ", l.line)));
}
