// The dashboard's API client: the shared one (/common/api.js), with a 401 (session ended)
// going back to the login form and then to this page.
import { api, onSignedOut } from "/common/api.js";

export { API, ApiError, api, get, post, query, session } from "/common/api.js";

export function toLogin() {
  const next = location.pathname + location.search;
  location.assign(`/login?next=${encodeURIComponent(next)}`);
}

onSignedOut(toLogin);

export async function signOut() {
  try {
    await api("DELETE", "/session");
  } catch { /* signed out either way */ }
  location.assign("/login");
}
