// The fleet console: sign-in, the signed-in person's role, and the views (devices, one device,
// data definitions, datasets) picked by the address's #fragment so that links and Back work.
import { api, ApiError, onSignedOut, session, useSession } from "/common/api.js";
import { showDevices, stopDevices } from "./devices.js";
import { showDevice, stopDevice } from "./device.js";
import { showDefinitions } from "./definitions.js";
import { showData } from "./data.js";
import { showLabels } from "./labels.js";
import { showModels } from "./models.js";
import { showRollouts, stopRollouts } from "./rollouts.js";
import { showTraining, stopTraining } from "./training.js";
import { $, banner, setRole } from "./page.js";

const VIEWS = ["devices", "device", "definitions", "data", "labels", "training", "models", "rollouts"];
let signedIn = false;

function showSignIn(message) {
  signedIn = false;
  stopDevices();
  stopDevice();
  stopTraining();
  stopRollouts();
  for (const v of VIEWS) $(`view-${v}`).hidden = true;
  $("nav").hidden = true;
  $("who").hidden = true;
  $("signin").hidden = false;
  const error = $("signin-error");
  error.hidden = !message;
  error.textContent = message || "";
  $("signin-name").focus();
}

function showSignedIn(me) {
  signedIn = true;
  setRole(me.role);
  $("user").textContent = me.display_name || me.name;
  $("role").textContent = me.role;
  $("signin").hidden = true;
  $("nav").hidden = false;
  $("who").hidden = false;
}

async function signIn(event) {
  event.preventDefault();
  const form = event.currentTarget;
  const name = form.elements.name.value.trim();
  const password = form.elements.password.value;
  if (!name || !password) {
    showSignIn("Enter your name and password.");
    return;
  }
  const button = $("signin-submit");
  button.disabled = true;
  try {
    const me = useSession(await api("POST", "/session", { name, password }));
    form.elements.password.value = "";
    showSignedIn(me);
    await route();
  } catch (err) {
    if (err.status === 401 || err.status === 422) showSignIn("Wrong name or password.");
    else if (err.status === 429) showSignIn(`Too many failed attempts: ${err.text}.`);
    else showSignIn(`Sign-in failed: ${err instanceof ApiError ? err.text : err}.`);
    form.elements.password.value = "";
  } finally {
    button.disabled = false;
  }
}

async function signOut() {
  try {
    await api("DELETE", "/session");
  } catch { /* signed out either way */ }
  location.hash = "#/devices";
  showSignIn();
}

/** Shows the view the #fragment names: #/devices, #/devices/<id>, #/definitions[/<type>], #/data, #/labels,
 * #/training[/<job>], #/models[/<name>[/<version>]], #/rollouts[/<id>]. */
async function route() {
  if (!signedIn) return;
  const parts = location.hash.replace(/^#\/?/, "").split("/").map(decodeURIComponent);
  let view = parts[0] || "devices";
  if (view === "devices" && parts[1]) view = "device";
  if (!VIEWS.includes(view)) view = "devices";
  for (const v of VIEWS) $(`view-${v}`).hidden = v !== view;
  for (const link of document.querySelectorAll("#nav a")) {
    const current = link.dataset.view === (view === "device" ? "devices" : view);
    if (current) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  banner(null);
  if (view !== "devices") stopDevices();
  if (view !== "device") stopDevice();
  if (view !== "training") stopTraining();
  if (view !== "rollouts") stopRollouts();
  try {
    if (view === "devices") await showDevices();
    else if (view === "device") await showDevice(parts[1]);
    else if (view === "definitions") await showDefinitions(parts[1] || "*");
    else if (view === "labels") await showLabels();
    else if (view === "training") await showTraining(parts[1] ? Number(parts[1]) : null);
    else if (view === "models") await showModels(parts[1] || null, parts[2] || null);
    else if (view === "rollouts") await showRollouts(parts[1] || null);
    else await showData();
  } catch (err) {
    if (err.status !== 401) banner(err instanceof ApiError ? err.text : String(err));
  }
  document.body.dataset.ready = "true";
}

async function start() {
  onSignedOut(() => showSignIn("Your session ended. Sign in again."));
  $("signin-form").addEventListener("submit", signIn);
  $("logout").addEventListener("click", signOut);
  window.addEventListener("hashchange", route);
  try {
    showSignedIn(await session());
    await route();
  } catch (err) {
    if (err.status !== 401) showSignIn(`The fleet service cannot be reached: ${err.text || err}`);
  }
  document.body.dataset.ready = "true";
}

start();
