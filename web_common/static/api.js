// The API client both apps' pages use: JSON in and out, the session cookie, and the CSRF
// header on every state change. A 401 (session ended) calls the page's signed-out handler.
export const API = "/api/v1";
const CSRF_HEADER = "X-CSRF-Token";
const UNSAFE = new Set(["POST", "PUT", "PATCH", "DELETE"]);

let csrfToken = null;
let signedOut = () => {};

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

/** What a 401 does on this page (the dashboard goes to its login form, the console shows its own). */
export function onSignedOut(handler) {
  signedOut = handler;
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
    throw new ApiError(0, "the server cannot be reached");
  }
  if (r.status === 401) {
    csrfToken = null;
    signedOut();
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

/** The signed-in person (SessionOut); a 401 goes to the signed-out handler. */
export async function session() {
  const me = await get("/session");
  csrfToken = me.csrf_token;
  return me;
}

/** Keeps the CSRF token of a sign-in answer (the console signs in without reloading). */
export function useSession(me) {
  csrfToken = me.csrf_token;
  return me;
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
