// The sign-in form. Self-contained on purpose: before signing in the browser may
// load only this file, style.css and siteguard.svg.
const API = "/api/v1";

/** Where to go after signing in: a same-site path from ?next=, else the live page. */
function nextPath() {
  const next = new URLSearchParams(location.search).get("next") || "/";
  // the server vets next= already; check again as the browser itself parses it (tabs and
  // newlines dropped, "\\" read as "/"), so only a path on this origin is ever followed
  let url;
  try {
    url = new URL(next, location.origin);
  } catch {
    return "/";
  }
  const path = url.pathname + url.search + url.hash;
  return url.origin === location.origin && next.startsWith("/") && !path.startsWith("/login") ? path : "/";
}

function showError(text) {
  const box = document.getElementById("login-error");
  box.textContent = text;
  box.hidden = false;
}

async function submit(event) {
  event.preventDefault();
  const form = event.currentTarget;
  const name = form.elements.name.value.trim();
  const password = form.elements.password.value;
  const button = document.getElementById("login-submit");
  document.getElementById("login-error").hidden = true;
  if (!name || !password) {
    showError("Enter your name and password.");
    return;
  }
  button.disabled = true;
  button.textContent = "Signing in…";
  try {
    const r = await fetch(`${API}/session`, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify({ name, password }),
    });
    if (r.ok) {
      location.assign(nextPath());
      return;
    }
    let body = {};
    try { body = await r.json(); } catch { /* not JSON */ }
    if (r.status === 401 || r.status === 403) {
      showError("Wrong name or password.");
    } else if (r.status === 429) {
      const wait = r.headers.get("Retry-After");
      showError(`Too many failed attempts. Wait${wait ? ` ${wait} s` : " a minute"} and try again.`);
    } else {
      showError(body.error ? `Sign-in failed: ${body.error}` : `Sign-in failed (HTTP ${r.status}).`);
    }
    form.elements.password.value = "";
    form.elements.password.focus();
  } catch {
    showError("The site server cannot be reached. Check the network and try again.");
  } finally {
    button.disabled = false;
    button.textContent = "Sign in";
  }
}

document.getElementById("login-form").addEventListener("submit", submit);
document.getElementById("login-name").focus();
