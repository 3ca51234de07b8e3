"""Real HJ 212 packets from public sources (tests/ingest/data/hj212_field_packets.tsv).

Each packet is run through the pure pipeline with a table of what must come out, and all of
them through a real collector into InfluxDB. Packets whose frame cannot be trusted (length or
CRC wrong as published) are the only ones refused.
"""

from __future__ import annotations

import tomllib
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ingest.client import MqttClient
from ingest.kernel import hj212
from ingest.kernel.pipeline import Accepted, IngestRules, Refused, handle_message
from ingest.kernel.registry import parse_registry
from ingest.kernel.topics import Topics
from scripts.devstack import Server
from tests.builders import MeterSpec, RegistryBuilder
from tests.support import Process, http_post, wait_until

DATA = Path(__file__).parents[1] / "data" / "hj212_field_packets.tsv"
NOW = datetime(2026, 11, 28, tzinfo=UTC)
AMBIENT_CODES = {"a01001": "temp_c", "a01002": "humidity_pct", "a01006": "pressure_kpa"}
# plant -> (MN of its stack, extra registry keys of the stack)
STACKS: dict[str, tuple[str, dict[str, object]]] = {
    "sl-101": ("81733553216103", {}),
    "sl-102": ("411420sibo0606", {"flow_unit": "m3/h"}),  # sends a00000 in m³/h
    "sl-103": ("MYHJ00000000000080011128", {}),
    "sl-104": ("WJTHGY91320509703697203A", {}),
    "sl-105": ("18AAH", {}),
    "sl-106": ("7568770259402", {}),
    "sl-107": ("888888800000020123456781", {}),
    "sl-108": ("010000A8900016F000169DC0", {}),
    "sl-109": ("88888880000001", {}),
    "sl-110": ("A140100_2006", {}),
    "sl-111": ("14513567846884", {}),
    "sl-112": ("44011600300021", {}),
    "sl-113": ("MP1", {}),
    "sl-114": ("TY0102183V0001", {}),
    "sl-115": ("JLYP01_AIR01_0001", {}),
    "sl-116": ("MYHJ00000000000080011129", {}),
    "sl-117": ("3072", {"codes": AMBIENT_CODES}),
    "sl-118": ("81733553213013", {}),
    "sl-119": ("JSRCTD000YD107", {}),
    "sl-120": ("2019051703100020", {"codes": {"NMHC": "nmhc_mgm3"}}),  # vendor name as code
    "sl-121": ("NEWPROTOCOLTEST000000092", {}),
    "sl-122": ("41082201S15303", {}),
    "sl-123": ("HJZB0XH0150109", {"codes": AMBIENT_CODES}),
}
# Packets refused before their MN is read are published under this plant's topic.
ANY_PLANT = "sl-101"


def field_packets() -> dict[str, bytes]:
    out = {}
    for line in DATA.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            name, packet, _source = line.split("\t")
            out[name] = packet.encode() + b"\r\n"
    return out


PACKETS = field_packets()
# Derived from published text, framed by us (named so): a DataTime with milliseconds as
# loggers send it (real unframed upload "MN=123456;DataTime=20190312113200001;..."), and an
# environmental logger's CP with empty values (`a01006-Rtd=,`, `Leq-Rtd=,`), QN after CN.
PACKETS["derived_datatime_ms"] = hj212.frame(
    "QN=20240123123950241;ST=31;CN=2011;PW=123456;MN=81733553216103;Flag=4;"
    "CP=&&DataTime=20240122081700123;a01013-Rtd=-0.049,a01013-Flag=N;a24088-Rtd=0.811,"
    "a24088-Flag=N&&"
)
PACKETS["derived_empty_value"] = hj212.frame(
    "ST=22;CN=2011;QN=20210531164108642;PW=123456;MN=3072;Flag=0;CP=&&DataTime=20210531164108;"
    "a34001-Rtd=0,a34001-Flag=N;a01001-Rtd=21.2,a01001-Flag=N;a01002-Rtd=51.6,a01002-Flag=N;"
    "a01006-Rtd=,a01006-Flag=N;Leq-Rtd=,Leq-Flag=N;&&"
)

# A logger's log upload (CN 3020) with UTF-8 text, in the shape a public C# HJ 212 library
# sends it (`UploadLogReq`: `i11001-Info=//<log>//`, length counted in bytes).
PACKETS["derived_log_3020_utf8"] = hj212.frame(
    "QN=20240123131014225;ST=31;CN=3020;PW=123456;MN=81733553216103;Flag=5;"
    "CP=&&DataTime=20240123131500;PolId=a24088;i11001-Info=//分析仪校准完成//&&"
)


def registry_toml() -> str:
    builder = RegistryBuilder()
    for plant, (mn, extra) in STACKS.items():
        builder.plant(
            plant, "synthetic_leather", [MeterSpec("stack-1", "voc", {"hj212_mn": mn, **extra})]
        )
    return builder.toml()


RULES = IngestRules(parse_registry(tomllib.loads(registry_toml())))
PLANT_OF = {mn: plant for plant, (mn, _) in STACKS.items()}

# name -> (measurement or refusal code, {field: value} that must be in the point)
EXPECTED: dict[str, tuple[str, dict[str, object]]] = {
    "negative_pressure_2011": (
        "voc",
        {"pressure_kpa": -0.052, "flow_m3h": 5.407 * 3600, "nmhc_mgm3": 0.804, "temp_c": 6.48},
    ),
    "hourly_2061_with_cou": (
        "voc_hour",
        {
            "pressure_kpa": -0.026,
            "pressure_kpa_min": -0.041,
            "nmhc_mgm3": 0.933,
            "nmhc_kg": 0.018,
            "flow_volume_m3": 19191.973,
        },
    ),
    "parameters_3020_empty": ("hj212_event", {"cn": "3020"}),
    "absolute_pressure_2011": (
        "voc",
        {"pressure_kpa": 103.79, "flow_m3h": 3434.0, "nmhc_mgm3": 37.55, "thc_mgm3": 39.0},
    ),
    "pressure_pa_like_2011": ("voc", {"pressure_kpa": 61.05, "flow_m3h": 0.0}),
    "all_flags_d_2011": ("voc", {"nmhc_mgm3": 0.0, "nmhc_mgm3_flag": "D", "xylene_mgm3": 0.0}),
    "restart_2081_empty_pw": ("hj212_event", {"cn": "2081"}),
    "restart_2081_wrong_length": ("hj212", {"reason": "length field says 131"}),
    "minute_2051_comm_fault_split": (
        "voc_minute",
        {"o2_pct": 0.0, "o2_pct_flag": "B", "flow_volume_m3": 0.0},
    ),
    "stopped_nmhc_only_2011": ("voc", {"nmhc_mgm3": 0.0, "nmhc_mgm3_flag": "F"}),
    "hourly_2061_no_qn_2005_codes": ("voc_hour", {"nmhc_mgm3": 3.2176, "nmhc_kg": 0.0354}),
    "hand_typed_example_bad_length": ("hj212", {"reason": "length field says 428"}),
    "restart_2081_readme": ("hj212_event", {"cn": "2081"}),
    "restart_2081_python": ("hj212_event", {"cn": "2081"}),
    # Flag=9 is HJ 212-2025 (SPEC 12), whose MN is a 24-hex network code: this 2019
    # logger's Flag=9 with a free-form MN is refused, saying why (docs/decisions.md).
    "parameters_3020_polid": ("hj212", {"reason": "24-character network code"}),
    "minute_2051_atmospheric_only": ("hj212_event", {"cn": "2051"}),
    "hj212_2005_no_qn_bad_crc": ("hj212", {"reason": "length field says 318"}),
    "hj212_2005_no_qn_mp1_bad_crc": ("hj212", {"reason": "CRC mismatch"}),
    "hj212_2005_tvoc": ("hj212_event", {"cn": "2011"}),
    "air_station_2051": ("hj212_event", {"cn": "2051"}),
    "air_2011_semicolon_items_bad_crc": ("hj212", {"reason": "CRC mismatch"}),
    "derived_datatime_ms": ("voc", {"pressure_kpa": -0.049}),
    "derived_log_3020_utf8": ("hj212_event", {"cn": "3020"}),
    "water_2011_sampletime": ("hj212_event", {"cn": "2011"}),  # water codes: none mapped
    "ambient_2011_flag_first": ("hj212_event", {"cn": "2011"}),
    "whitespace_2011": ("hj212", {"reason": "length field says 297"}),
    "standard_1062_command": ("hj212", {"reason": "CN 1062: CP has no DataTime"}),
    "lampblack_2031_named_codes": (
        "voc_day",
        {"nmhc_mgm3": 4.23, "nmhc_mgm3_min": 3.11, "nmhc_mgm3_max": 10.66},
    ),
    "hourly_2061_pressure_pa": (
        "voc_hour",
        {
            "nmhc_mgm3": 0.0196,
            "nmhc_kg": 0.0003,
            "temp_c_flag": "T",
            "flow_m3h": 3.9151 * 3600,
            "flow_volume_m3": 12758.2462,
            "pressure_kpa_invalid": "pressure_kpa=-123.072 is outside the plausible range "
            "[-50, 300]",
        },
    ),
    "minute_2051_zs_pressure_pa": (
        "voc_minute",
        {
            "nmhc_mgm3": 0.0002,
            "thc_mgm3_max": 0.0223,
            "o2_pct_flag": "T",
            "pressure_kpa_invalid": "pressure_kpa=-120.412 is outside the plausible range "
            "[-50, 300]",
        },
    ),
    "ambient_2051_no_flag_header": (
        "voc_minute",
        {"temp_c": 15.1, "humidity_pct_max": 54.5, "pressure_kpa": 0.0, "pressure_kpa_flag": "F"},
    ),
    "realtime_2011_with_avg": ("hj212_event", {"cn": "2011"}),  # 2011 reads -Rtd only
    "request_2051_begin_end": ("hj212", {"reason": "CRC mismatch"}),
    "comma_before_mn_2011": ("hj212", {"reason": "header field MN is missing"}),
    "derived_empty_value": (
        "voc",
        {
            "temp_c": 21.2,
            "humidity_pct": 51.6,
            "pressure_kpa_invalid": "a01006-Rtd='' is not a number",
        },
    ),
}


def mn_of(raw: bytes) -> str:
    text = raw.decode()
    return text.split("MN=", 1)[1].split(";", 1)[0]


def test_every_public_packet_has_an_expectation() -> None:
    assert set(PACKETS) == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_public_packet_outcome(name: str) -> None:
    raw = PACKETS[name]
    outcome = handle_message(RULES, Topics().hj212(PLANT_OF.get(mn_of(raw), ANY_PLANT)), raw, NOW)
    where, fields = EXPECTED[name]
    if where == "hj212":
        assert isinstance(outcome, Refused), outcome
        assert outcome.code == "hj212" and str(fields["reason"]) in outcome.reason
        return
    assert isinstance(outcome, Accepted), outcome
    [line] = outcome.lines
    assert line.startswith(where + ",")
    if where == "hj212_event":
        assert f",cn={fields['cn']}," in line or f",cn={fields['cn']} " in line
        return
    [reading] = outcome.readings
    stored: dict[str, object] = dict(reading.values)
    stored |= {f"{k}_flag": reading.flag(k) for k in reading.values}
    stored |= {f"{k}_invalid": v for k, v in reading.invalid.items()}
    for key, value in fields.items():
        assert stored.get(key) == (value if isinstance(value, str) else pytest.approx(value)), key


def test_milliseconds_of_datatime_are_kept() -> None:
    outcome = handle_message(RULES, Topics().hj212("sl-101"), PACKETS["derived_datatime_ms"], NOW)
    assert isinstance(outcome, Accepted)
    expected = datetime(2024, 1, 22, 0, 17, 0, 123_000, tzinfo=UTC)
    assert outcome.readings[0].ts == expected


def test_a_packet_from_the_future_is_refused_for_its_time() -> None:
    outcome = handle_message(
        RULES,
        Topics().hj212("sl-101"),
        PACKETS["negative_pressure_2011"],
        datetime(2024, 1, 1, tzinfo=UTC),
    )
    assert isinstance(outcome, Refused) and "in the future" in outcome.reason


def _query(influx_url: str, database: str, q: str) -> list[list[object]]:
    resp = http_post(f"{influx_url}/query", data={"db": database, "q": q, "epoch": "ms"})
    series = resp.json()["results"][0].get("series")
    return series[0]["values"] if series else []


@pytest.mark.integration
def test_public_packets_round_trip_through_a_collector(
    tmp_path: Path, influxd: Server, mosquitto: Server, spawn: Callable[..., Process]
) -> None:
    registry = tmp_path / "registry.toml"
    registry.write_text(registry_toml(), encoding="utf-8")
    database = f"field_{uuid.uuid4().hex[:8]}"
    influx_url = f"http://127.0.0.1:{influxd.port}"
    collector = spawn(
        ["ingest"],
        {
            "PLANTWATCH_REGISTRY": str(registry),
            "PLANTWATCH_MQTT_PORT": str(mosquitto.port),
            "PLANTWATCH_INFLUX_URL": influx_url,
            "PLANTWATCH_INFLUX_DB": database,
            "PLANTWATCH_COLLECTOR_ID": database,
            "PLANTWATCH_SHARE_GROUP": "",
            "PLANTWATCH_SPOOL_DIR": str(tmp_path / "spool"),
            "PLANTWATCH_BATCH_MAX_SECONDS": "0.2",
        },
        "collector",
    )
    assert wait_until(lambda: "mqtt connected" in collector.log(), 20), collector.log()
    plant = MqttClient(f"plant-{database}", "127.0.0.1", mosquitto.port)
    plant.start()
    for raw in PACKETS.values():
        plant.publish(Topics().hj212(PLANT_OF.get(mn_of(raw), ANY_PLANT)), raw)
    refused = sum(1 for where, _ in EXPECTED.values() if where == "hj212")
    events = sum(1 for where, _ in EXPECTED.values() if where == "hj212_event")
    assert wait_until(
        lambda: (
            len(_query(influx_url, database, "SELECT * FROM dead_letter")) == refused
            and len(_query(influx_url, database, "SELECT * FROM hj212_event")) == events
        ),
        30,
    ), collector.log()
    plant.stop()
    rows = _query(
        influx_url,
        database,
        'SELECT "pressure_kpa", "nmhc_mgm3", "flow_m3h" FROM "voc" WHERE "plant" = \'sl-101\'',
    )
    assert [r[1:] for r in rows] == [
        [-0.052, 0.804, pytest.approx(5.407 * 3600)],
        [-0.049, 0.811, None],
    ]
    assert rows[1][0] == int(
        datetime(2024, 1, 22, 0, 17, 0, 123_000, tzinfo=UTC).timestamp() * 1000
    )
    [[_, pressure, flow]] = _query(
        influx_url,
        database,
        'SELECT "pressure_kpa", "flow_m3h" FROM "voc" WHERE "plant" = \'sl-102\' AND "flow_m3h" > 0',
    )
    assert (pressure, flow) == (103.79, 3434.0)
    [[_, reason, temp]] = _query(
        influx_url,
        database,
        'SELECT "pressure_kpa_invalid", "temp_c" FROM "voc" WHERE "plant" = \'sl-117\'',
    )
    assert (reason, temp) == ("a01006-Rtd='' is not a number", 21.2)
    [[_, kg, low]] = _query(
        influx_url,
        database,
        'SELECT "nmhc_kg", "pressure_kpa_min" FROM "voc_hour" WHERE "plant" = \'sl-101\'',
    )
    assert (kg, low) == (0.018, -0.041)
    cns = {
        r[1] for r in _query(influx_url, database, 'SELECT "description", "cn" FROM "hj212_event"')
    }
    assert len(cns) > 0
