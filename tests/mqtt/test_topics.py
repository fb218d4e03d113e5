"""The topic contract: every topic built, parsed back and guarded against bad ids."""

from __future__ import annotations

import pytest

from edge_runtime.mqtt.topics import TopicError, Topics


@pytest.fixture
def topics() -> Topics:
    return Topics("plant-7")


def test_builds_every_contract_topic(topics: Topics) -> None:
    assert topics.worker_alert("w1") == "siteguard/plant-7/workers/w1/alert"
    assert topics.siren_set("z-north") == "siteguard/plant-7/sirens/z-north/set"
    assert topics.alarm("a-1") == "siteguard/plant-7/alarms/a-1"
    assert topics.alarm_ack("a-1", "ctrl") == "siteguard/plant-7/alarms/a-1/ack/ctrl"
    assert topics.wearable_telemetry("wb-9") == "siteguard/plant-7/wearables/wb-9/telemetry"
    assert topics.device_status("edge-1") == "siteguard/plant-7/devices/edge-1/status"
    assert topics.ACK_FILTER == "siteguard/plant-7/alarms/+/ack/+"
    assert topics.TELEMETRY_FILTER == "siteguard/plant-7/wearables/+/telemetry"


@pytest.mark.parametrize("ident", ["a-1", "A_2.x", "ünïcode", "01HV3K9Z"])
def test_round_trip(topics: Topics, ident: str) -> None:
    assert topics.parse_ack_topic(topics.alarm_ack(ident, ident)) == (ident, ident)
    assert topics.parse_telemetry_topic(topics.wearable_telemetry(ident)) == ident


@pytest.mark.parametrize(
    "topic",
    [
        "siteguard/plant-7/alarms/a-1",  # the record, not its ack
        "siteguard/plant-7/alarms/a-1/ack",  # the old topic: no account, no one to record
        "siteguard/plant-7/alarms/a-1/ack/ctrl/extra",
        "siteguard/plant-7/alarms/a-1/ack/",
        "siteguard/plant-7/alarms/a-1/ack/+",
        "siteguard/other-site/alarms/a-1/ack/ctrl",
        "other/plant-7/alarms/a-1/ack/ctrl",
        "siteguard/plant-7/alarms//ack/ctrl",
        "siteguard/plant-7/alarms/+/ack/ctrl",
        "siteguard/plant-7/wearables/wb-9/telemetry",
    ],
)
def test_parse_ack_rejects_other_topics(topics: Topics, topic: str) -> None:
    assert topics.parse_ack_topic(topic) is None


def test_parse_telemetry_rejects_other_topics(topics: Topics) -> None:
    assert topics.parse_telemetry_topic("siteguard/plant-7/wearables/wb-9/status") is None
    assert topics.parse_telemetry_topic("siteguard/plant-7/alarms/a-1/ack") is None
    assert topics.parse_telemetry_topic("siteguard/plant-7/wearables/#/telemetry") is None


@pytest.mark.parametrize("bad", ["", "a/b", "+", "w#", "x\0y"])
def test_rejects_ids_that_are_not_one_level(topics: Topics, bad: str) -> None:
    for build in (
        topics.worker_alert,
        topics.siren_set,
        topics.alarm,
        lambda x: topics.alarm_ack(x, "ctrl"),
        lambda x: topics.alarm_ack("a-1", x),
        topics.wearable_telemetry,
        topics.device_status,
    ):
        with pytest.raises(TopicError):
            build(bad)
    with pytest.raises(ValueError):  # TopicError is a ValueError for callers that catch broadly
        Topics(bad)
