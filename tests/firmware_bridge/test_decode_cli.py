"""``siteguard decode``: JSON lines on stdout, a summary on stderr, for every protocol."""
from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from firmware_bridge.codecs.gateway import encode_gateway
from firmware_bridge.codecs.hrm import encode_hrm
from firmware_bridge.codecs.modbus_detector import encode_registers, encode_rtu_response
from firmware_bridge.codecs.winsen import encode_winsen
from firmware_bridge.decode_cli import GPS_KEYS, add_decode_parser, run_decode
from firmware_bridge.readings import Contact, Gas, GasSample, HeartRate

REPO = Path(__file__).parents[2]
CAPTURE = REPO.parent / "shared" / "data" / "nmea" / "mt3339.log"
needs_capture = pytest.mark.skipif(not CAPTURE.exists(), reason=f"GPSD capture {CAPTURE} not present")


def decode(protocol: str, data: bytes) -> tuple[int, list[dict], dict]:  # type: ignore[type-arg]
    out, err = io.StringIO(), io.StringIO()
    status = run_decode(protocol, io.BytesIO(data), out, err)
    return status, [json.loads(line) for line in out.getvalue().splitlines()], json.loads(err.getvalue())


@needs_capture
def test_nmea_capture_with_header_comments() -> None:
    status, readings, summary = decode("nmea", CAPTURE.read_bytes())
    assert status == 0
    assert summary == {"protocol": "nmea", "frames_ok": 138, "frames_rejected": 0, "bytes_discarded": 0, "readings": 90}
    assert len(readings) == 90
    assert all(set(r) == set(GPS_KEYS) for r in readings)
    first = readings[0]
    assert first["sentence"] == "GGA" and first["talker"] == "GP" and first["fix_valid"] is True
    assert first["lat"] == pytest.approx(44.068843333) and first["alt"] == 1127.7 and first["time"] == "20:26:40.000"


def test_rejected_frames_are_counted_not_fatal() -> None:
    status, readings, summary = decode("nmea", b"garbage\n$GPGGA,1,2*00\r\n")
    assert status == 0 and readings == []
    assert summary["frames_rejected"] == 1 and summary["bytes_discarded"] == len(b"garbage\n$GPGGA,1,2*00")


def test_winsen_prints_dataclass_fields() -> None:
    _, readings, _ = decode("winsen", encode_winsen(Gas.CO, 35.5, full_range=500.0, decimals=1))
    assert readings == [
        {"gas": "CO", "value": 35.5, "unit": "ppm", "full_range": 500.0, "over_range": False, "fault": None}
    ]


def test_gateway_adds_the_address() -> None:
    data = encode_gateway(513, "hrm", encode_hrm(HeartRate(64, Contact.DETECTED, rr_s=(0.5,))))
    _, readings, _ = decode("gateway", data)
    assert readings == [{"bpm": 64, "contact": "detected", "energy_kj": None, "rr_s": [0.5], "address": 513}]


def test_hrm_and_modbus_hex_captures() -> None:
    _, readings, _ = decode("hrm", b"# hr_raw from a gateway log\n0648\n")
    assert readings == [{"bpm": 72, "contact": "detected", "energy_kj": None, "rr_s": []}]
    regs = encode_registers([GasSample(Gas.LEL, 4.5, "%LEL", fault="warming_up")])
    _, readings, summary = decode("modbus", encode_rtu_response(regs).hex().encode() + b"\n")
    assert readings == [
        {"gas": "LEL", "value": 4.5, "unit": "%LEL", "full_range": None, "over_range": False, "fault": "warming_up"}
    ]
    assert summary["frames_ok"] == 1


def test_read_error_exits_1() -> None:
    class Failing(io.BytesIO):
        def read(self, size: int | None = -1) -> bytes:
            raise OSError("device went away")

    err = io.StringIO()
    assert run_decode("nmea", Failing(), io.StringIO(), err) == 1
    assert "device went away" in err.getvalue()


def test_subcommand_wiring(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser(prog="siteguard")
    decode_parser = add_decode_parser(parser.add_subparsers(dest="command", required=True))
    capture = tmp_path / "co.bin"
    capture.write_bytes(encode_winsen(Gas.CO, 1.0, full_range=100.0))
    args = parser.parse_args(["decode", "--protocol", "winsen", str(capture)])
    assert args.func(args) == 0
    assert json.loads(capsys.readouterr().out)["gas"] == "CO"
    missing = parser.parse_args(["decode", "--protocol", "winsen", str(tmp_path / "nope")])
    assert missing.func(missing) == 1
    with pytest.raises(SystemExit):
        parser.parse_args(["decode", "--protocol", "morse"])
    assert "hex frame per line" in decode_parser.format_help()


@needs_capture
def test_module_entry_point_on_a_file_and_on_stdin() -> None:
    command = [sys.executable, "-m", "firmware_bridge.decode_cli", "--protocol", "nmea"]
    from_file = subprocess.run([*command, str(CAPTURE)], cwd=REPO, capture_output=True, timeout=30, check=True)
    from_stdin = subprocess.run(
        [*command, "-"], cwd=REPO, input=CAPTURE.read_bytes(), capture_output=True, timeout=30, check=True
    )
    assert from_file.stdout == from_stdin.stdout
    _, readings, summary = decode("nmea", CAPTURE.read_bytes())
    assert [json.loads(line) for line in from_file.stdout.splitlines()] == readings
    assert json.loads(from_file.stderr) == summary
