"""Site files that cannot break alarms (issue 9): each refused with exit 2 naming the key.

File-level cases go through the real CLI (``check-config --config FILE`` and
``run --config FILE``, one loader behind both); model cases through
``parse_config``; the loader itself is fuzzed with the property "a clean
ConfigError or a config, never another exception".
``SITEGUARD_FUZZ_CONFIGS`` (default 100, a few seconds) sets the examples per fuzz test.
"""
from __future__ import annotations

import copy
import os
import tempfile
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge_runtime.config import ConfigError, load_config, parse_config
from edge_runtime.config.site_file import MAX_DEPTH, parse_site_yaml
from edge_runtime.geometry import polygon_problem
from tests.edge.test_config import MINIMAL, _site, run_cli

FUZZ_EXAMPLES = int(os.environ.get("SITEGUARD_FUZZ_CONFIGS", "100"))
DEMO_TEXT = resources.files("edge_runtime.sim").joinpath("demo_site.yaml").read_text(encoding="utf-8")
SQUARE = [[0, 0], [10, 0], [10, 10], [0, 10]]
HASH = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA"


def _worker(i: int, **extra: object) -> dict[str, object]:
    return {"id": f"w{i}", "name": f"Worker {i}", "age": 30, **extra}


def _problems(data: dict[str, object]) -> list[tuple[str, str]]:
    with pytest.raises(ConfigError) as info:
        parse_config(data)
    return info.value.problems


def _named(data: dict[str, object], key: str, words: str = "") -> str:
    """The message for ``key`` (asserting there is one, and that it contains ``words``)."""
    problems = _problems(data)
    messages = [m for k, m in problems if k == key]
    assert messages, problems
    assert words in messages[0], problems
    return messages[0]


# -- file level, through the CLI -----------------------------------------------------------------

FILES: dict[str, tuple[bytes, str, str]] = {  # name: (content, key, words)
    "binary": (bytes(range(256)) * 4, "<file>", "not a UTF-8 text file"),
    "utf16": (yaml.safe_dump(MINIMAL).encode("utf-16"), "<file>", "not a UTF-8 text file"),
    "latin1": ("site: {id: s1, name: Café, origin_lat: 0, origin_lon: 0}\n".encode("latin-1"), "<file>",
               "not a UTF-8 text file"),
    "deep": (b"site: " + b"[" * 20_000 + b"]" * 20_000 + b"\n", "site.0.0.0.0.0.0.0.", f"deeper than {MAX_DEPTH}"),
    "duplicate_key": (b"site: {id: s1, origin_lat: 0, origin_lon: 0}\nmqtt:\n  port: 1883\n  port: 1884\n",
                      "mqtt.port", "duplicate key 'port'"),
}


@pytest.mark.parametrize("name", list(FILES))
def test_check_config_refuses_the_file_naming_the_key(tmp_path: Path, name: str) -> None:
    content, key, words = FILES[name]
    path = tmp_path / f"{name}.yaml"
    path.write_bytes(content)
    res = run_cli("check-config", "--config", str(path))
    assert res.returncode == 2, res.stderr
    assert "Traceback" not in res.stderr
    assert f"  {key}" in res.stderr and words in res.stderr, res.stderr


def test_run_loads_through_the_same_checks(tmp_path: Path) -> None:
    path = tmp_path / "site.yaml"
    path.write_bytes(FILES["duplicate_key"][0])
    res = run_cli("run", "--config", str(path))
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert res.stderr == run_cli("check-config", str(path)).stderr


# -- the YAML loader -----------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("text", "key", "words"),
    [
        ("a:\n  1: x\n  0x1: y\n", "a.1", "duplicate key 1"),  # equal once read, not as written
        ("workers:\n  - {id: a, id: b}\n", "workers.0.id", "the last one would silently win"),
        ("".join(" " * i + f"k{i}:\n" for i in range(MAX_DEPTH + 5)), "k0.k1.k2", f"deeper than {MAX_DEPTH}"),
        ("a: &a [*a]\n", "a.0", "contains it"),
        ("a: &a " + "[" * 60 + "]" * 60 + "\nb: " + "[" * 10 + "*a" + "]" * 10 + "\n", "b.0.0", "aliases"),
        ("a: &a [1,1,1,1,1,1,1,1,1,1]\n" + "".join(
            f"{n}: &{n} [{', '.join(['*' + p] * 10)}]\n" for p, n in zip("abcde", "bcdef", strict=True)
        ) + "g: [" + ", ".join(["*f"] * 10) + "]\n", "f", "more than 1,000,000 values"),
        ("workers:\n  - {id: a, last_bump: 2024-02-30}\n", "workers.0.last_bump", "day is out of range"),
        ("a: !!int x\n", "a", "cannot read 'x' as int"),
        ("a: !!python/object:os.system x\n", "a", "could not determine a constructor"),
        ("site: [unclosed", "site", "expected ',' or ']'"),
        ("a: \x07\n", "<yaml>", "#x0007"),
        ("a: 1\n---\nb: 2\n", "<yaml>", "another document"),
    ],
)
def test_yaml_problems_name_the_key(text: str, key: str, words: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_site_yaml(text)
    [(got_key, message)] = info.value.problems
    assert got_key.startswith(key) and words in message, info.value.problems


def test_merge_keys_may_be_overridden_and_anchors_shared() -> None:
    data = parse_site_yaml("base: &b {x: 1, y: 2}\nother:\n  <<: *b\n  x: 3\nsame: *b\n")
    assert data == {"base": {"x": 1, "y": 2}, "other": {"x": 3, "y": 2}, "same": {"x": 1, "y": 2}}


def test_not_a_mapping_and_empty_files_are_config_errors(tmp_path: Path) -> None:
    for text in ("", "- a\n- b\n", "just text\n"):
        (tmp_path / "s.yaml").write_text(text)
        with pytest.raises(ConfigError, match="<root>"):
            load_config(tmp_path / "s.yaml")


# -- ids: safe as an MQTT topic level and a file name ----------------------------------------------

BAD_IDS = ["w/1", "w+", "#", "a b", "..", "a..b", ".hidden", "-w", "", "x" * 65, "w\0", "w\n", "wé"]


@pytest.mark.parametrize("bad", BAD_IDS)
def test_a_worker_id_unsafe_in_a_topic_is_refused(bad: str) -> None:
    workers = [_worker(i) for i in range(3)] + [{"id": bad, "name": "D", "age": 30}]
    assert "not a valid id" in _named(_site(workers=workers), "workers.3.id")


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"site": {"id": "s#", "origin_lat": 0, "origin_lon": 0}}, "site.id"),
        (_site(device_id="edge/1"), "device_id"),
        (_site(zones=[{"id": "z 1", "polygon": SQUARE}]), "zones.0.id"),
        (_site(detectors=[{"id": "pd+", "kind": "portable"}]), "detectors.0.id"),
        (_site(equipment=[{"id": "crane/1"}]), "equipment.0.id"),
        (_site(equipment=[{"id": "truck", "gps": "gp#"}]), "equipment.0.gps"),
        (_site(cameras=[{"id": "../cam", "source": "x.avi"}]), "cameras.0.id"),
        (_site(workers=[_worker(0, wearable="wb/0")]), "workers.0.wearable"),
        (_site(workers=[_worker(0, gps="gp 0")]), "workers.0.gps"),
        (_site(workers=[_worker(0, detector="pd+")]), "workers.0.detector"),
        (_site(serial=[{"port": "/dev/ttyUSB0", "protocol": "nmea", "device": "gps/1"}]), "serial.0.device"),
        (_site(serial=[{"port": "/dev/ttyUSB0", "protocol": "gateway", "gateway_devices": {1: "a#"}}]),
         "serial.0.gateway_devices.1"),
        (_site(serial=[{"port": "/dev/ttyUSB0", "protocol": "modbus", "modbus": [{"unit": 1, "detector": "f/1"}]}]),
         "serial.0.modbus.0.detector"),
    ],
)
def test_every_id_that_reaches_a_topic_or_file_name_is_checked(data: dict[str, object], key: str) -> None:
    assert "not a valid id" in _named(data, key)


def test_ids_within_the_rule_are_accepted() -> None:
    ids = ["w01", "wb-01", "fd.tank2_a", "A" * 64, "9"]
    config = parse_config(_site(workers=[_worker(0, id=i, wearable=f"wb{n}") for n, i in enumerate(ids)]))
    assert [w.id for w in config.workers] == ids


# -- duplicates ----------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("data", "key", "first"),
    [
        (_site(workers=[_worker(0), _worker(1), _worker(0)]), "workers.2.id", "workers.0.id"),
        (_site(zones=[{"id": "z", "polygon": SQUARE}] * 2), "zones.1.id", "zones.0.id"),
        (_site(detectors=[{"id": "d", "kind": "portable"}] * 2), "detectors.1.id", "detectors.0.id"),
        (_site(equipment=[{"id": "crane"}, {"id": "crane"}]), "equipment.1.id", "equipment.0.id"),
        (_site(cameras=[{"id": "c", "source": "x.avi"}] * 2), "cameras.1.id", "cameras.0.id"),
        (_site(dashboard={"accounts": [{"name": "sam", "role": "viewer", "password_hash": HASH}] * 2}),
         "dashboard.accounts.1.name", "dashboard.accounts.0.name"),
        (_site(workers=[_worker(0, wearable="wb"), _worker(1, wearable="wb")]), "workers.1.wearable",
         "workers.0.wearable"),
        (_site(workers=[_worker(0, detector="pd"), _worker(1, detector="pd")],
               detectors=[{"id": "pd", "kind": "portable"}]), "workers.1.detector", "workers.0.detector"),
        (_site(workers=[_worker(0, gps="gp")], equipment=[{"id": "truck", "gps": "gp"}]), "equipment.0.gps",
         "workers.0.gps"),
        (_site(serial=[{"port": "/dev/ttyUSB0", "protocol": "nmea", "device": "a"},
                       {"port": "/dev/ttyUSB0", "protocol": "nmea", "device": "b"}]), "serial.1.port", "serial.0.port"),
        (_site(serial=[{"port": "/dev/ttyUSB0", "protocol": "nmea", "device": "gp"},
                       {"port": "/dev/ttyUSB1", "protocol": "gateway", "gateway_devices": {4: "gp"}}]),
         "serial.1.gateway_devices.4", "serial.0.device"),
        (_site(detectors=[{"id": "f1", "kind": "fixed", "zone": "z"}, {"id": "f2", "kind": "fixed", "zone": "z"}],
               zones=[{"id": "z", "polygon": SQUARE}],
               serial=[{"port": "/dev/ttyUSB0", "protocol": "modbus",
                        "modbus": [{"unit": 3, "detector": "f1"}, {"unit": 3, "detector": "f2"}]}]),
         "serial.0.modbus.1.unit", "serial.0.modbus.0.unit"),
    ],
)
def test_duplicates_name_both_keys(data: dict[str, object], key: str, first: str) -> None:
    assert f"(already used by {first})" in _named(data, key, "duplicate")


# -- zone polygons -------------------------------------------------------------------------------

NAN, INF = float("nan"), float("inf")


@pytest.mark.parametrize(
    ("polygon", "key", "words"),
    [
        ([[0, 0], [10, 10], [10, 0], [0, 10]], "zones.0.polygon", "crosses or touches itself"),  # a bow tie
        ([[0, 0], [4, 0], [4, 4], [2, 0], [0, 4]], "zones.0.polygon", "crosses or touches itself"),  # touches
        ([[0, 0], [5, 0], [5, 5], [5, 0], [0, 5]], "zones.0.polygon", "crosses or touches itself"),  # a spike
        ([[0, 0], [1, 1], [2, 2], [3, 3]], "zones.0.polygon", "zero area"),
        ([[0, 0], [1, 0], [0, 0], [1, 0]], "zones.0.polygon", "3 distinct vertices"),
        ([[0, 0], [1, 1]], "zones.0.polygon", "3 distinct vertices"),
        ([[0, 0], [10, NAN], [10, 10]], "zones.0.polygon.1.1", "finite"),
        ([[0, 0], [INF, 0], [10, 10]], "zones.0.polygon.1.0", "finite"),
        ([[0, 0], [1e300, 0], [0, 1e300]], "zones.0.polygon", "within"),  # its edge lengths would overflow
    ],
)
def test_a_zone_that_cannot_contain_anyone_is_refused(polygon: list[list[float]], key: str, words: str) -> None:
    _named(_site(zones=[{"id": "z", "polygon": polygon}]), key, words)


def test_an_image_zone_is_checked_like_a_site_zone() -> None:
    camera = {"id": "c", "source": "x.avi", "zones": [{"zone": "z", "polygon": [[0, 0], [9, 9], [9, 0], [0, 9]]}]}
    _named(_site(zones=[{"id": "z", "polygon": SQUARE}], cameras=[camera]), "cameras.0.zones.0.polygon", "crosses")


@pytest.mark.parametrize(
    "polygon",
    [
        SQUARE,
        [*SQUARE, SQUARE[0]],  # a closed ring written out in full
        [[0, 0], [10, 0], [10, 0], [10, 10]],  # a repeated vertex in a row
        [[0, 0], [10, 0], [10, 4], [4, 4], [4, 10], [0, 10]],  # concave (an L)
        [[0, 0], [5, 0], [10, 0], [10, 10]],  # collinear neighbours along one edge
    ],
)
def test_simple_polygons_pass(polygon: list[list[float]]) -> None:
    assert polygon_problem(polygon) is None
    assert parse_config(_site(zones=[{"id": "z", "polygon": polygon}])).zones[0].polygon


def test_every_zone_in_the_demo_site_is_simple() -> None:
    for zone in yaml.safe_load(DEMO_TEXT)["zones"]:
        assert polygon_problem(zone["polygon"]) is None, zone["id"]


# -- numbers and orders --------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("data", "key", "words"),
    [
        (_site(proximity={"advisory_m": 2, "critical_m": 3}), "proximity.critical_m", "below advisory_m"),
        (_site(proximity={"emergency_m": 3}), "proximity.emergency_m", "below critical_m"),
        (_site(proximity={"emergency_m": 0}), "proximity.emergency_m", "greater than 0"),
        (_site(gas={"set_points": {"H2S": {"unit": "ppm", "low": 10, "high": NAN}}}), "gas.set_points.H2S.high",
         "finite"),
        (_site(gas={"set_points": {"H2S": {"unit": "ppm", "low": 10, "high": 5}}}), "gas.set_points.H2S.high",
         "must be >= low"),
        (_site(alarms={"flood": {"count": 10, "end_below": 20}}), "alarms.flood.end_below", "must be <= count"),
        (_site(man_down={"no_motion_s": INF}), "man_down.no_motion_s", "finite"),
        (_site(detectors=[{"id": "d", "kind": "portable", "last_bump": "yesterday"}]), "detectors.0.last_bump",
         "ISO date"),
        (_site(cameras=[{"id": "c", "source": "x.avi", "ground_points": [
            {"image": [0, 0], "site": [0, 0]}, {"image": [1e300, 0], "site": [1, 0]},
            {"image": [1e300, 1e300], "site": [1, 1]}, {"image": [0, 1e300], "site": [0, 1]}]}]),
         "cameras.0.ground_points", "finite homography"),
        (_site(cameras=[{"id": "c", "source": "x.avi", "model": "m" * 5000}]), "cameras.0.model", "cannot use"),
        (_site(dashboard={"timezone": "Europe/" + "x" * 5000}), "dashboard.timezone", "unknown time zone"),
    ],
)
def test_values_that_would_silence_an_alarm_name_the_key(data: dict[str, object], key: str, words: str) -> None:
    _named(data, key, words)


# -- shipped site files --------------------------------------------------------------------------

def test_shipped_site_files_pass_check_config() -> None:
    for path in ("edge_runtime/sim/demo_site.yaml", "k3s/site.example.yaml"):
        res = run_cli("check-config", path)
        assert res.returncode == 0 and "OK" in res.stdout, res.stderr


def test_bench_sites_load_as_the_daemon_reads_them(tmp_path: Path) -> None:
    from bench.fusion_observation import site as observation_site
    from bench.support.site import bench_site

    sites = {
        "probed": bench_site(workers=200, gateway_ports=[tmp_path / "gw0", tmp_path / "gw1"],
                             probe_ports=[tmp_path / f"probe{k}" for k in range(4)], mqtt_port=1883,
                             db_path=tmp_path / "bench.db"),
        "telemetry_only": bench_site(workers=200, gateway_ports=[], probe_ports=[], mqtt_port=1883,
                                     db_path=tmp_path / "bench.db"),
        "fusion_observation": observation_site(200),
    }
    for name, data in sites.items():
        (tmp_path / f"{name}.yaml").write_text(yaml.safe_dump(data))
        assert len(load_config(tmp_path / f"{name}.yaml").workers) >= 200, name


# -- fuzzing the loader ----------------------------------------------------------------------------

TOKENS = ["[", "]", "{", "}", ":", ": ", "- ", ",", "&a ", "*a", "<<: *a\n", "!!int ", "!!timestamp ", "!!binary ",
          "!!python/object:x ", "? ", "|\n", ">\n", "\t", "\n", "  ", "---\n", "...\n", "%YAML 1.1\n", "'", '"',
          "\\", "#", ".nan", ".inf", "-.inf", "1e999", "0x", "2024-02-30", "~", "\ufeff", "\x85", "\u2028", "é"]
SCALARS = (st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
           | st.sampled_from(["w/1", "..", "", "x" * 70, "2024-02-30", "/dev/ttyUSB0", "H2S", "fixed"]))
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4)
                      | st.dictionaries(st.text(max_size=8) | st.sampled_from(["id", "polygon", "zone"]), inner,
                                        max_size=4), max_leaves=12)


@st.composite
def mutated_demo(draw: st.DrawFn) -> bytes:
    """The demo site text with a few tokens inserted, characters cut, lines repeated or the end dropped."""
    text = DEMO_TEXT
    for _ in range(draw(st.integers(1, 4))):
        pos = draw(st.integers(0, len(text)))
        op = draw(st.sampled_from(["insert", "cut", "repeat_line", "truncate"]))
        if op == "insert":
            text = text[:pos] + draw(st.sampled_from(TOKENS) | st.text(max_size=4)) + text[pos:]
        elif op == "cut":
            text = text[:pos] + text[pos + draw(st.integers(1, 40)):]
        elif op == "repeat_line":
            start = text.rfind("\n", 0, pos) + 1
            end = text.find("\n", pos) + 1 or len(text)
            text = text[:end] + text[start:end] + text[end:]
        else:
            text = text[:pos]
    return text.encode("utf-8", "surrogatepass")


@st.composite
def demo_with_a_value_replaced(draw: st.DrawFn) -> bytes:
    """The demo site data with one value somewhere in it replaced, dumped as YAML: reaches the models."""
    data: Any = copy.deepcopy(yaml.safe_load(DEMO_TEXT))
    node = data
    while True:
        keys = list(node) if isinstance(node, dict) else list(range(len(node)))
        if not keys:
            break
        key = draw(st.sampled_from(keys))
        if not isinstance(node[key], (dict, list)) or draw(st.booleans()):
            node[key] = draw(VALUES)
            break
        node = node[key]
    return yaml.safe_dump(data, allow_unicode=draw(st.booleans())).encode()


SITE_FILES = st.one_of(st.binary(max_size=300), st.text(max_size=300).map(lambda t: t.encode("utf-8", "surrogatepass")),
                       mutated_demo(), demo_with_a_value_replaced())


@pytest.fixture(scope="module")
def fuzz_file() -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as folder:
        yield Path(folder) / "site.yaml"


@settings(max_examples=FUZZ_EXAMPLES, deadline=None, database=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(content=SITE_FILES)
def test_any_file_is_a_config_or_a_clean_config_error(fuzz_file: Path, content: bytes) -> None:
    fuzz_file.write_bytes(content)
    try:
        load_config(fuzz_file)
    except ConfigError as exc:
        assert exc.problems and all(isinstance(k, str) and isinstance(m, str) and m for k, m in exc.problems)


def test_broker_accounts_are_unique_and_gateways_carry_known_wearables_once() -> None:
    data = _site(workers=[_worker(1, wearable="wb1"), _worker(2, wearable="wb2")])
    data["mqtt"] = {"username": "edge", "accounts": [
        {"name": "edge", "role": "supervisor"},  # the daemon's own name
        {"name": "gw1", "role": "gateway", "wearables": ["wb1", "wb9"]},
        {"name": "gw2", "role": "gateway", "wearables": ["wb1"]},
        {"name": "desk", "role": "operator", "wearables": ["wb2"]},
        {"name": "desk", "role": "siren", "zones": ["nowhere"]},
    ]}
    problems = dict(_problems(data))
    assert "duplicate account 'edge'" in problems["mqtt.accounts.0.name"]
    assert "no worker wears 'wb9'" in problems["mqtt.accounts.1.wearables.1"]
    assert "duplicate wearable 'wb1'" in problems["mqtt.accounts.2.wearables.0"]
    assert "only a gateway" in problems["mqtt.accounts.3.wearables.0"]
    assert "duplicate account 'desk'" in problems["mqtt.accounts.4.name"]
    assert "known zone" in problems["mqtt.accounts.4.zones.0"]


def test_only_console_accounts_acknowledge() -> None:
    data = _site(workers=[_worker(1, wearable="wb1")])
    data["mqtt"] = {"accounts": [{"name": "ctrl", "role": "supervisor"}, {"name": "gate", "role": "operator"},
                                 {"name": "gw", "role": "gateway", "wearables": ["wb1"]}]}
    config = parse_config(data)
    assert [config.console_role(n) for n in ("ctrl", "gate", "gw", "nobody")] == ["supervisor", "operator", None, None]
