// What the live page knows, in one place, and who wants to hear when it changes.
// Snapshots come from the REST API, changes from the event stream (live.js).

export const state = {
  me: null, // SessionOut
  site: null, // SitePlan
  workers: new Map(), // id -> WorkerOut
  workersTs: null,
  alarms: new Map(), // alarm_id -> AlarmOut (open alarms only)
  flood: null, // FloodOut | null
  cameras: new Map(), // id -> CameraOut
  zoneActions: [], // ZoneActionOut, newest first
  selectedWorker: null,
};

const listeners = new Map();

/** on("alarms", fn): fn(detail) after every change of that part. */
export function on(topic, fn) {
  if (!listeners.has(topic)) listeners.set(topic, new Set());
  listeners.get(topic).add(fn);
}

export function emit(topic, detail) {
  for (const fn of listeners.get(topic) || []) {
    try {
      fn(detail);
    } catch (err) {
      // one broken view must not stop the others; still visible to developers
      console.warn(`view for ${topic} failed`, err);
    }
  }
}

// -- alarms ------------------------------------------------------------------------------------

let alarmEventsWhileFetching = null; // null: no snapshot being fetched

/**
 * Applies one alarm record; closed ("normal") alarms leave the open list. Records from the
 * event stream arrive in the engine's order and always apply (even if the daemon's clock
 * stepped back); others (an action's answer) only when not older than the one shown.
 */
export function applyAlarm(alarm, cause = null, { fromStream = false } = {}) {
  if (alarmEventsWhileFetching && fromStream) alarmEventsWhileFetching.push([alarm, cause]);
  const old = state.alarms.get(alarm.alarm_id);
  if (!fromStream && ((old && old.updated_ts > alarm.updated_ts) || closed.has(alarm.alarm_id))) return;
  if (alarm.state === "normal") {
    state.alarms.delete(alarm.alarm_id);
    remember(alarm.alarm_id);
  } else state.alarms.set(alarm.alarm_id, alarm);
  emit("alarms", { alarm, cause });
}

// alarms the stream said are closed: a late answer to an action must not bring them back
const closed = new Set();
function remember(id) {
  closed.add(id);
  if (closed.size > 2000) closed.delete(closed.values().next().value);
}

/** Fetch a snapshot with `fetcher`, then replay the events that arrived meanwhile on top of it. */
export async function refreshAlarms(fetcher) {
  if (alarmEventsWhileFetching) return; // one at a time
  alarmEventsWhileFetching = [];
  try {
    const snap = await fetcher();
    const during = alarmEventsWhileFetching;
    alarmEventsWhileFetching = null;
    state.alarms = new Map(snap.alarms.filter((a) => a.state !== "normal").map((a) => [a.alarm_id, a]));
    state.flood = snap.flood || null;
    // events that came while the snapshot was made: they may be newer than it (or the same)
    for (const [alarm] of during) {
      const old = state.alarms.get(alarm.alarm_id);
      if (old && old.updated_ts > alarm.updated_ts) continue;
      if (alarm.state === "normal") state.alarms.delete(alarm.alarm_id);
      else state.alarms.set(alarm.alarm_id, alarm);
    }
    emit("alarms", { snapshot: true });
    emit("flood", state.flood);
  } finally {
    alarmEventsWhileFetching = null;
  }
}

// -- workers -----------------------------------------------------------------------------------

export function applyWorkers(list) {
  if (state.workersTs !== null && list.ts < state.workersTs) return; // out of order
  state.workersTs = list.ts;
  state.workers = new Map(list.workers.map((w) => [w.id, w]));
  emit("workers", list);
}

export function workerName(id) {
  const w = state.workers.get(id);
  return w ? w.name : id;
}

/** "Chloe Martin (w03)" for worker:w03, the zone's name for zone:x, else the subject. */
export function subjectLabel(subject) {
  const [kind, id] = String(subject || "").split(/:(.*)/s);
  if (kind === "worker" && id) {
    const w = state.workers.get(id);
    return w ? `${w.name} (${id})` : id;
  }
  if (kind === "zone" && id) return `Zone ${zoneName(id)}`;
  if (kind === "device" && id) return `Device ${id}`;
  return String(subject || "");
}

export function zoneName(id) {
  const z = state.site && state.site.zones.find((zone) => zone.id === id);
  return z ? z.name : id;
}

export function canAct() {
  return !!state.me && (state.me.role === "supervisor" || state.me.role === "admin");
}
