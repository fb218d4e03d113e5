// The dashboard API client: JSON in and out, the session cookie, and the CSRF
// header on every state change. A 401 (session ended) goes back to the login form.
export const API = "/api/v1";
const CSRF_HEADER = "X-CSRF-Token";
const UNSAFE = new Set(["POST", "PUT", "PATCH", "DELETE"]);

let csrfToken = null;

export class ApiError extends Error {
  constructor(status, message, details = []) {
    super(message);
    this.status = status;
    this.details = details;
  }

  /** One line for people: the server's message and its details. */
  get text() {
    return this.details.length ? `${this.message}: ${this.details.join("; ")}` : this.message;
  }
}

export function toLogin() {
  const next = location.pathname + location.search;
  location.assign(`/login?next=${encodeURIComponent(next)}`);
}

/** Calls the API; resolves to the decoded JSON (null for 204), rejects with ApiError. */
export async function api(method, path, body) {
  const headers = { Accept: "application/json" };
  const init = { method, credentials: "same-origin", headers, cache: "no-store" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  if (UNSAFE.has(method) && csrfToken) headers[CSRF_HEADER] = csrfToken;
  let r;
  try {
    r = await fetch(API + path, init);
  } catch (err) {
    throw new ApiError(0, "the site server cannot be reached");
  }
  if (r.status === 401) {
    toLogin();
    throw new ApiError(401, "signed out");
  }
  if (r.status === 204) return null;
  let data = null;
  const type = r.headers.get("Content-Type") || "";
  if (type.includes("application/json")) {
    try { data = await r.json(); } catch { data = null; }
  }
  if (!r.ok) {
    const message = (data && data.error) || `HTTP ${r.status}`;
    throw new ApiError(r.status, message, (data && data.details) || []);
  }
  return data;
}

export const get = (path) => api("GET", path);
export const post = (path, body) => api("POST", path, body ?? {});

/** The signed-in person (SessionOut); sends to the login form when there is none. */
export async function session() {
  const me = await get("/session");
  csrfToken = me.csrf_token;
  return me;
}

export async function signOut() {
  try {
    await api("DELETE", "/session");
  } catch { /* signed out either way */ }
  location.assign("/login");
}

/** A query string from an object, leaving out empty values. */
export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== null && v !== undefined && v !== "") q.set(k, String(v));
  }
  const s = q.toString();
  return s ? `?${s}` : "";
}
