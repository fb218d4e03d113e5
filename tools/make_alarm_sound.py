#!/usr/bin/env python3
"""Writes the dashboard's alarm tone, edge_runtime/dashboard/static/alarm.wav.

Three short two-tone bursts (960 Hz / 1280 Hz, like a "hi-lo" site alarm),
about 1.3 s in all, 16-bit mono at 16 kHz (~40 KB). Each burst fades in and
out over a few milliseconds so it does not click. The output is committed;
run this again only to change the tone:

    python tools/make_alarm_sound.py [output.wav]

Only the standard library is used (wave, math, struct), so the result is
byte-for-byte reproducible.
"""
from __future__ import annotations

import math
import struct
import sys
import wave
from pathlib import Path

RATE = 16_000
AMPLITUDE = 0.55  # of full scale: loud but never clipping
FADE_S = 0.006
#: (frequency Hz or 0 for silence, seconds)
PATTERN = [(960, 0.16), (1280, 0.16), (0, 0.06)] * 3 + [(0, 0.12)]
DEFAULT_OUT = Path(__file__).resolve().parents[1] / "edge_runtime" / "dashboard" / "static" / "alarm.wav"


def samples() -> list[int]:
    out: list[int] = []
    for freq, seconds in PATTERN:
        n = int(RATE * seconds)
        fade = max(1, int(RATE * FADE_S))
        for i in range(n):
            if freq == 0:
                out.append(0)
                continue
            envelope = min(1.0, i / fade, (n - 1 - i) / fade)
            # a touch of the third harmonic makes it cut through site noise on small speakers
            s = math.sin(2 * math.pi * freq * i / RATE) + 0.25 * math.sin(2 * math.pi * 3 * freq * i / RATE)
            out.append(round(32767 * AMPLITUDE * envelope * s / 1.25))
    return out


def write(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = samples()
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(struct.pack(f"<{len(data)}h", *data))
    return path


def main(argv: list[str]) -> int:
    out = Path(argv[1]) if len(argv) > 1 else DEFAULT_OUT
    write(out)
    print(f"wrote {out} ({out.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
