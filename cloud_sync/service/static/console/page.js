// What every view of the console shares: element lookup, the error banner, what the signed-in
// role may do (controls marked data-needs="operator" are hidden from viewers), formatting, dialogs.
import { clear, h } from "/common/dom.js";

const RANK = { viewer: 1, operator: 2, admin: 3 };
let role = "viewer";

export const $ = (id) => document.getElementById(id);

export function setRole(name) {
  role = name;
  for (const el of document.querySelectorAll("[data-needs]")) el.hidden = !may(el.dataset.needs);
}

/** Whether the signed-in role is at least ``needed``. */
export function may(needed) {
  return (RANK[role] || 0) >= (RANK[needed] || 99);
}

export function banner(text) {
  const el = $("banner");
  el.textContent = text || "";
  el.hidden = !text;
}

/** "2026-12-03 08:22:20 UTC": a fleet spans time zones, so the console speaks UTC. */
export function utc(ts) {
  if (ts == null) return "—";
  return new Date(ts * 1000).toISOString().replace("T", " ").slice(0, 19) + " UTC";
}

/** "YYYY-MM-DDTHH:MM" in UTC for <input type=datetime-local>, and back to UNIX seconds. */
export const utcInput = (ts) => new Date(ts * 1000).toISOString().slice(0, 16);
export function fromUtcInput(text) {
  if (!text) return null;
  const t = Date.parse(text.length === 16 ? `${text}:00Z` : `${text}Z`);
  return Number.isFinite(t) ? t / 1000 : null;
}

export function bytes(n) {
  if (n == null) return "—";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i += 1;
  }
  return `${i === 0 ? v : v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

export const count = (n) => (n == null ? "—" : Number(n).toLocaleString("en-GB"));

/**
 * Opens the page's one modal dialog: ``body`` (nodes), ``buttons`` as [{label, value, primary, danger}].
 * ``submit(value)`` runs for a button other than "cancel"; a thrown error is shown in the dialog,
 * which stays open. Resolves to the value of the button that closed it.
 */
export function dialog(title, body, buttons, submit = async () => {}) {
  const box = $("dialog");
  $("dialog-title").textContent = title;
  clear($("dialog-body")).append(...[body].flat());
  const error = $("dialog-error");
  error.hidden = true;
  const row = clear($("dialog-buttons"));
  return new Promise((resolve) => {
    for (const b of buttons) {
      const cls = b.primary ? "btn.btn-primary" : b.danger ? "btn.btn-danger" : "btn";
      row.append(h(`button.${cls}`, {
        type: "button", dataset: { value: b.value },
        onclick: async (event) => {
          const button = event.currentTarget;
          if (b.value !== "cancel") {
            button.disabled = true;
            try {
              await submit(b.value);
            } catch (err) {
              error.textContent = err.text || err.message || String(err);
              error.hidden = false;
              return;
            } finally {
              button.disabled = false;
            }
          }
          box.close(b.value);
          resolve(b.value);
        },
      }, b.label));
    }
    box.oncancel = () => resolve("cancel");
    box.showModal();
  });
}

/** A labelled form control for dialogs: h-built <label> and the control, in one div. */
export function field(label, control) {
  const id = control.id || `f-${Math.random().toString(36).slice(2, 9)}`;
  control.id = id;
  return h("div.field", h("label", { for: id }, label), control);
}
