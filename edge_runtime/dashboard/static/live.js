// Live updates over Server-Sent Events (/api/v1/events).
//
// Every event, pings included, proves the stream is alive. After
// page_stale_after_s without one the page says so ("Live data stale since
// HH:MM:SS — reconnecting"), greys the map and opens a new stream; when a
// stream (re)opens after a failure, the alarm and worker snapshots are fetched
// again, since events sent while we were away are lost.
import { API } from "./api.js";
import { clockTime, nowSeconds } from "./util.js";

const CHECK_MS = 500;

export class LiveStream {
  /**
   * handlers: {hello, alarm, workers, camera, zone_action, ping} (each gets the parsed data),
   * resync() after a reconnect, onStale(isStale, sinceTs) on every change of freshness,
   * onClosed() when the server refused the stream (e.g. the session ended).
   */
  constructor({ handlers, resync, onStale, onClosed = null, staleAfterS = 5 }) {
    this.handlers = handlers;
    this.onClosed = onClosed;
    this.resync = resync;
    this.onStale = onStale;
    this.staleAfterS = staleAfterS;
    this.source = null;
    this.lastEvent = nowSeconds();
    this.stale = false;
    this.failed = false; // the current stream had an error (or was replaced): resync on the next open
    this.lastReconnect = 0;
    this.opens = 0;
  }

  start() {
    this.connect();
    this.timer = setInterval(() => this.check(), CHECK_MS);
  }

  connect() {
    if (this.source) this.source.close();
    const es = new EventSource(`${API}/events`, { withCredentials: true });
    this.source = es;
    this.lastReconnect = nowSeconds();
    es.addEventListener("open", () => {
      if (es !== this.source) return;
      this.opens += 1;
      document.documentElement.dataset.liveOpens = String(this.opens);
      if (this.failed || this.opens > 1) {
        this.failed = false;
        this.resync();
      }
    });
    es.addEventListener("error", () => {
      if (es !== this.source) return;
      // EventSource retries by itself while readyState is CONNECTING; a CLOSED one is done for good
      this.failed = true;
      if (es.readyState === EventSource.CLOSED) {
        // refused (not a dropped connection): maybe the session ended, which onClosed finds out
        if (this.onClosed) this.onClosed();
        setTimeout(() => { if (es === this.source) this.connect(); }, 2000);
      }
    });
    for (const name of ["hello", "alarm", "workers", "camera", "zone_action", "ping"]) {
      es.addEventListener(name, (e) => {
        if (es !== this.source) return;
        this.seen();
        let data = null;
        try {
          data = e.data ? JSON.parse(e.data) : null;
        } catch {
          console.warn(`unreadable ${name} event`);
          return;
        }
        if (name === "hello" && data && data.stale_after_s > 0) this.staleAfterS = data.stale_after_s;
        const fn = this.handlers[name];
        if (fn) fn(data);
      });
    }
    // a server may also send unnamed messages: they count as signs of life
    es.addEventListener("message", () => { if (es === this.source) this.seen(); });
  }

  seen() {
    this.lastEvent = nowSeconds();
    if (this.stale) {
      this.stale = false;
      this.onStale(false, this.lastEvent);
    }
  }

  check() {
    const now = nowSeconds();
    const quiet = now - this.lastEvent;
    if (quiet > this.staleAfterS) {
      if (!this.stale) {
        this.stale = true;
        this.onStale(true, this.lastEvent);
      }
      // the stream may hang without an error: replace it, at most once per stale period
      if (now - this.lastReconnect > Math.max(this.staleAfterS, 3)) {
        this.failed = true;
        this.connect();
      }
    }
  }
}

export function staleText(sinceTs) {
  return `Live data stale since ${clockTime(sinceTs)} — reconnecting`;
}
