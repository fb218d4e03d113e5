// The alarm tone for new high and critical alarms (static/alarm.wav, served locally).
//
// Browsers may refuse to play sound before the person has interacted with the
// page (autoplay policy). The header's "Sound" toggle is that interaction; when
// a play() is refused anyway, a hint with an "Enable sound" button shows.
// Every attempt is counted on <html data-alarm-sound-attempts="n"> and the last
// outcome is in data-alarm-sound ("played", "blocked", "off"), so people and
// tests can see that the page tried.
const KEY = "siteguard.sound";
const LOUD = new Set(["high", "critical"]);
const audio = new Audio("/static/alarm.wav");
audio.preload = "auto";

let enabled = localStorage.getItem(KEY) !== "off"; // on unless someone turned it off
let button = null;
let hint = null;
let attempts = 0;

function render() {
  if (button) {
    button.textContent = enabled ? "Sound: on" : "Sound: off";
    button.setAttribute("aria-pressed", String(enabled));
    button.classList.toggle("on", enabled);
  }
}

function mark(outcome) {
  document.documentElement.dataset.alarmSound = outcome;
  if (hint) hint.hidden = outcome !== "blocked";
}

export function setupSound(toggle, hintBox, enableButton) {
  button = toggle;
  hint = hintBox;
  render();
  toggle.addEventListener("click", () => {
    enabled = !enabled;
    localStorage.setItem(KEY, enabled ? "on" : "off");
    render();
    if (enabled) test();
    else {
      audio.pause();
      mark("off");
    }
  });
  enableButton.addEventListener("click", () => {
    enabled = true;
    localStorage.setItem(KEY, "on");
    render();
    test();
  });
}

/** A short play in answer to a click: unlocks audio for later alarms. */
function test() {
  play();
}

function play() {
  attempts += 1;
  document.documentElement.dataset.alarmSoundAttempts = String(attempts);
  try {
    audio.currentTime = 0;
    const p = audio.play();
    mark("playing");
    if (p && typeof p.then === "function") {
      p.then(() => mark("played"), (err) => mark(err && err.name === "NotAllowedError" ? "blocked" : "error"));
    }
  } catch {
    mark("error");
  }
}

/** Called for each alarm event: sounds for new or escalated high/critical alarms. */
export function alarmSound(alarm, cause) {
  if (!alarm || !LOUD.has(alarm.priority)) return;
  if (!["raised", "escalated", "re_alarmed"].includes(cause)) return;
  if (alarm.state !== "active_unacknowledged") return;
  if (!enabled) {
    mark("off");
    return;
  }
  play();
}
