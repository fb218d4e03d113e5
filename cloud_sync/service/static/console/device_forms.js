// The device form (register and edit: site, name, device type, hardware profile) and the
// one-time display of a new credential.
import { h } from "/common/dom.js";
import { dialog, field } from "./page.js";

const ARCHES = ["aarch64", "armv7l", "x86_64"];
const ACCELERATORS = ["none", "cuda", "edgetpu", "hailo"];
const RUNTIMES = [["litert", "LiteRT"], ["onnxruntime", "ONNX Runtime"], ["tensorrt", "TensorRT"], ["cuda", "CUDA"]];

function select(name, options, value) {
  return h("select", { name }, options.map((o) => h("option", { value: o, selected: o === value }, o)));
}

/** A form for ``device`` (a Device), or for a new one when null (then it asks for the id too). */
export function deviceForm(device) {
  const profile = (device && device.profile) || { cpu_arch: "aarch64", accelerator: "none", memory_mb: 4096, runtimes: {} };
  const runtimes = profile.runtimes || {};
  return h("div.device-form",
    device ? null : field("Device id", h("input", { name: "id", required: true, pattern: "[A-Za-z0-9_.-]{1,64}",
      placeholder: "e.g. tunnel-3-gw" })),
    field("Name", h("input", { name: "name", required: true, value: device ? device.name : "" })),
    field("Site", h("input", { name: "site", required: true, value: device ? device.site : "" })),
    field("Device type", h("input", { name: "device_type", required: true, value: device ? device.device_type : "pi5-gw" })),
    h("fieldset.profile", h("legend", "Hardware profile"),
      field("CPU architecture", select("cpu_arch", ARCHES, profile.cpu_arch)),
      field("Accelerator", select("accelerator", ACCELERATORS, profile.accelerator)),
      field("Memory (MB)", h("input", { name: "memory_mb", type: "number", min: 1, required: true, value: profile.memory_mb })),
      field("GPU compute capability", h("input", { name: "gpu_compute_capability", placeholder: "e.g. 8.7",
        value: profile.gpu_compute_capability || "" })),
      RUNTIMES.map(([key, label]) => field(`${label} version`, h("input", { name: `rt_${key}`, value: runtimes[key] || "",
        placeholder: "not installed" })))));
}

/** The request body of ``form``: every field for a registration, the editable ones for a change. */
export function readDeviceForm(form, isNew) {
  const value = (name) => form.querySelector(`[name="${name}"]`).value.trim();
  const runtimes = {};
  for (const [key] of RUNTIMES) if (value(`rt_${key}`)) runtimes[key] = value(`rt_${key}`);
  const profile = { cpu_arch: value("cpu_arch"), accelerator: value("accelerator"), memory_mb: Number(value("memory_mb")),
    runtimes };
  if (value("gpu_compute_capability")) profile.gpu_compute_capability = value("gpu_compute_capability");
  const body = { site: value("site"), name: value("name"), device_type: value("device_type"), profile };
  return isNew ? { id: value("id"), ...body } : body;
}

/** Shows a new credential the one time the service answers it, with copy and download. */
export async function credentialDialog(credential) {
  const text = h("textarea.credential#credential-text", { readOnly: true, rows: 3, spellcheck: false,
    "aria-label": "The new credential" }, credential.credential);
  const file = URL.createObjectURL(new Blob([`${credential.credential}\n`], { type: "text/plain" }));
  const copied = h("span.muted#credential-copied", { role: "status" });
  const body = [
    h("p", h("strong", "Shown this once."), ` Key ${credential.key_id} for device ${credential.device}. Write it to the `
      + "device's credential file (the sync: section's credential_file, or SITEGUARD_DEVICE_CREDENTIAL) now: the "
      + "cloud keeps only its public key."),
    text,
    h("div.form-buttons",
      h("button.btn", { type: "button", onclick: async () => {
        text.select();
        try {
          await navigator.clipboard.writeText(credential.credential);
          copied.textContent = "Copied.";
        } catch {
          copied.textContent = "Selected: press Ctrl+C to copy.";
        }
      } }, "Copy"),
      h("a.btn", { href: file, download: `${credential.device}.credential` }, "Download"),
      copied),
  ];
  await dialog("New device credential", body, [{ label: "I have stored it", value: "done", primary: true }]);
  URL.revokeObjectURL(file);
}
