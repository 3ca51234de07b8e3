"""HJ 212-2017 codec: the standard's example, corruptions, mapping to readings."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ingest.kernel import hj212
from ingest.kernel.errors import Hj212Error

# The example packet printed in HJ 212-2017 (a 1062 command); its CRC is 1C80.
STANDARD_EXAMPLE = (
    b"##0101QN=20160801085857223;ST=32;CN=1062;PW=100000;MN=010000A8900016F000169DC0;"
    b"Flag=5;CP=&&RtdInterval=30&&1C80\r\n"
)
MN = "33112400SL001STACK000001"


def realtime_packet() -> bytes:
    return hj212.encode_packet(
        qn="20260301080000000",
        cn="2011",
        mn=MN,
        data_time="20260301080000",
        items={
            "a24088": {"Rtd": "35.2", "Flag": "N"},
            "a00000": {"Rtd": "2.5", "Flag": "N"},
            "a99051": {"Rtd": "61.0", "Flag": "T"},
            "a01012": {"Rtd": "41.0"},
            "a34013": {"Rtd": "3.1", "Flag": "N"},
        },
    )


def test_standard_example_crc() -> None:
    assert hj212.crc16(STANDARD_EXAMPLE[6:-6]) == 0x1C80
    packet = hj212.decode_packet(STANDARD_EXAMPLE)
    assert (packet.cn, packet.mn, packet.st) == ("1062", "010000A8900016F000169DC0", "32")


def test_not_modbus() -> None:
    # CRC-16/MODBUS of the same bytes differs; the check is not a relabelled MODBUS.
    data = STANDARD_EXAMPLE[6:-6]
    crc = 0xFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    assert crc != 0x1C80


def test_round_trip_and_mapping() -> None:
    packet = hj212.decode_packet(realtime_packet())
    # a99051 is carbon disulfide nationally: only a stack's own code map makes it DMF here
    assert "dmf_mgm3" not in hj212.to_readings(packet, "Asia/Shanghai")[0].values
    codes = hj212.code_map({"a99051": "dmf_mgm3"})
    [reading] = hj212.to_readings(packet, "Asia/Shanghai", codes)
    assert reading.ts == datetime(2026, 3, 1, 0, 0, tzinfo=UTC)
    assert reading.values == {
        "nmhc_mgm3": 35.2,
        "flow_m3h": 9000.0,
        "dmf_mgm3": 61.0,
        "temp_c": 41.0,
    }
    assert reading.flag("dmf_mgm3") == "T" and reading.flag("temp_c") == "N"


def test_minute_and_hour_averages_use_avg() -> None:
    raw = hj212.encode_packet(
        qn="1",
        cn="2061",
        mn=MN,
        data_time="20260301080000",
        items={"a24088": {"Cou": "1.2", "Min": "20", "Avg": "30.5", "Max": "44", "Flag": "N"}},
    )
    [reading] = hj212.to_readings(hj212.decode_packet(raw), "Asia/Shanghai")
    assert reading.values == {
        "nmhc_mgm3": 30.5,
        "nmhc_mgm3_min": 20.0,
        "nmhc_mgm3_max": 44.0,
        "nmhc_kg": 1.2,
    }
    assert hj212.MEASUREMENT_BY_CN["2061"] == "voc_hour"


def _corrupt(packet: bytes, index: int, byte: bytes) -> bytes:
    return packet[:index] + byte + packet[index + 1 :]


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda p: p[1:], "does not start with"),
        (lambda p: _corrupt(p, 40, b"X"), "CRC mismatch"),
        (lambda p: p[:-6] + b"ZZZZ\r\n", "not 4 hex digits"),
        (lambda p: p[:2] + b"0001" + p[6:], "length field says 1"),
        (lambda p: p[:2] + b"00a1" + p[6:], "not 4 decimal digits"),
        (lambda p: p[:60], "length field says"),  # a packet split in transit
        (lambda p: b"##", "too short"),
    ],
)
def test_corrupt_packets_are_refused(mutate, reason: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(Hj212Error, match=reason):
        hj212.decode_packet(mutate(realtime_packet()))


def test_a_command_cn_is_refused() -> None:
    raw = hj212.encode_packet(
        qn="1", cn="1062", mn=MN, data_time="20260301080000", items={"a24088": {"Rtd": "1"}}
    )
    with pytest.raises(Hj212Error, match="neither a data upload"):
        hj212.interpret(hj212.decode_packet(raw), "Asia/Shanghai")


@pytest.mark.parametrize(
    ("item", "reason"),
    [
        ({"Rtd": "abc"}, "a24088-Rtd='abc' is not a number"),
        ({"Rtd": ""}, "a24088-Rtd='' is not a number"),
        ({"Rtd": "nan"}, "a24088-Rtd='nan' is not a number"),
        ({"Rtd": "1", "Flag": "Q"}, "a24088-Flag='Q' is not an HJ 212 flag"),
    ],
)
def test_a_bad_value_costs_only_itself(item: dict[str, str], reason: str) -> None:
    items = {"a24088": item, "a01012": {"Rtd": "41.0", "Flag": "N"}}
    raw = hj212.encode_packet(qn="1", cn="2011", mn=MN, data_time="20260301080000", items=items)
    [reading] = hj212.to_readings(hj212.decode_packet(raw), "Asia/Shanghai")
    assert dict(reading.values) == {"temp_c": 41.0}
    assert reading.invalid["nmhc_mgm3"] == reason


def test_a_data_packet_with_no_mapped_code_is_an_event() -> None:
    raw = hj212.encode_packet(
        qn="1", cn="2011", mn=MN, data_time="20260301080000", items={"a34013": {"Rtd": "1"}}
    )
    event = hj212.interpret(hj212.decode_packet(raw), "Asia/Shanghai")
    assert isinstance(event, hj212.Event)
    assert "a34013" in event.description


@pytest.mark.parametrize("flag", ["N", "F", "M", "S", "D", "C", "T", "B"])
def test_every_data_flag_is_kept(flag: str) -> None:
    raw = hj212.encode_packet(
        qn="1",
        cn="2011",
        mn=MN,
        data_time="20260301080000",
        items={"a25002": {"Rtd": "0.8", "Flag": flag}, "a19001": {"Rtd": "20.1"}},
    )
    [reading] = hj212.to_readings(hj212.decode_packet(raw), "Asia/Shanghai")
    assert reading.flag("benzene_mgm3") == flag
    assert reading.flag("o2_pct") == "N"  # a missing flag means normal


def test_split_upload_maps_to_one_point_time() -> None:
    """A large upload split over packets (PNUM/PNO): each part carries the same DataTime.

    Each part becomes a reading at that time; written to InfluxDB they merge into one
    point (same identity), so no reassembly state is needed across collectors.
    """
    parts = []
    for pno, items in enumerate(
        ({"a24088": {"Rtd": "30.0", "Flag": "N"}}, {"a25002": {"Rtd": "12.0", "Flag": "D"}}),
        start=1,
    ):
        cp = "DataTime=20260301080000;" + ";".join(
            f"{code}-" + ",".join(f"{code}-{k}={v}" for k, v in f.items()).removeprefix(f"{code}-")
            for code, f in items.items()
        )
        parts.append(
            hj212.frame(f"QN=1;ST=31;CN=2011;PW=123456;MN={MN};Flag=5;PNUM=2;PNO={pno};CP=&&{cp}&&")
        )
    readings = [hj212.to_readings(hj212.decode_packet(p), "Asia/Shanghai")[0] for p in parts]
    assert {r.ts for r in readings} == {datetime(2026, 3, 1, 0, 0, tzinfo=UTC)}
    assert [dict(r.values) for r in readings] == [{"nmhc_mgm3": 30.0}, {"benzene_mgm3": 12.0}]
    assert readings[1].flag("benzene_mgm3") == "D"
    assert hj212.decode_packet(parts[1]).header["PNO"] == "2"


def test_packet_split_in_transit_is_refused_not_merged() -> None:
    whole = realtime_packet()
    head, tail = whole[:50], whole[50:]
    with pytest.raises(Hj212Error, match="length field says"):
        hj212.decode_packet(head)
    with pytest.raises(Hj212Error, match="does not start with"):
        hj212.decode_packet(tail)
    assert hj212.decode_packet(head + tail).mn == MN


@pytest.mark.parametrize(
    ("cn", "kinds", "expected"),
    [
        ("2011", {"Rtd": "5.5", "Flag": "N"}, 5.5),
        ("2051", {"Avg": "2.5", "Flag": "N"}, 2.5),
        ("2061", {"Avg": "3.25", "Flag": "N"}, 3.25),
        ("2031", {"Avg": "1.5", "Flag": "N"}, 1.5),
    ],
)
def test_cn_chooses_the_value_kind(cn: str, kinds: dict[str, str], expected: float) -> None:
    raw = hj212.encode_packet(
        qn="1", cn=cn, mn=MN, data_time="20260301080000", items={"a25003": kinds}
    )
    [reading] = hj212.to_readings(hj212.decode_packet(raw), "Asia/Shanghai")
    assert reading.values == {"toluene_mgm3": expected}
