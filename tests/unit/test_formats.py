"""Every supported format, plain and gzip-compressed, through the deployed handler into the tables."""

from __future__ import annotations

import codecs
import json
from typing import Any

import pytest

from .support import (
    NOW,
    World,
    as_csv,
    as_json_array,
    as_json_object,
    as_ndjson,
    gz,
    record,
    records,
)

BAD = record(99, status="LOST")


def stored_ids(events: list[dict[str, Any]]) -> set[str]:
    return {event["shipment_id"] for event in events}


FILES = {
    "csv": (".csv", as_csv),
    "ndjson": (".jsonl", as_ndjson),
    "json_array": (".json", as_json_array),
}


@pytest.mark.parametrize("compressed", [False, True], ids=["plain", "gzip"])
@pytest.mark.parametrize("fmt", ["csv", "ndjson", "json_array"])
def test_multi_record_formats_store_valid_records_and_report_the_invalid_one(
    world: World, fmt: str, compressed: bool
) -> None:
    suffix, encode = FILES[fmt]
    data = encode([*records(4), BAD])
    key = f"incoming/acme/updates{suffix}{'.gz' if compressed else ''}"

    result = world.process(key, gz(data) if compressed else data)

    assert result.status == "PARTIAL"
    assert (result.item["records_total"], result.item["records_accepted"], result.item["records_rejected"]) == (5, 4, 1)
    assert result.item["format"] == fmt
    assert result.item["compression"] == ("gzip" if compressed else "none")
    assert stored_ids(result.events) == {f"SHP-{n:06d}" for n in range(4)}
    assert "status 'LOST' is not one of" in result.rejects[0]["reason"]


@pytest.mark.parametrize("compressed", [False, True], ids=["plain", "gzip"])
def test_single_json_object_file_is_one_record(world: World, compressed: bool) -> None:
    data = as_json_object(record(1))
    key = "incoming/acme/one.json" + (".gz" if compressed else "")

    result = world.process(key, gz(data) if compressed else data)

    assert result.status == "SUCCESS"
    assert result.item["format"] == "json_object"
    assert [event["shipment_id"] for event in result.events] == ["SHP-000001"]
    assert result.events[0]["record_ref"] == "index 0"


@pytest.mark.parametrize(
    ("key", "data", "fmt"),
    [
        ("incoming/acme/export.txt", as_csv(records(3)), "csv"),
        ("incoming/acme/export", as_ndjson(records(3)), "ndjson"),
        ("incoming/acme/export.dat", as_json_array(records(3), indent=2), "json_array"),
        ("incoming/acme/export.data", as_json_object(record(0)), "json_object"),
        ("incoming/acme/export.txt.gz", gz(as_ndjson(records(3))), "ndjson"),
        ("incoming/acme/export.csv", gz(as_csv(records(3))), "csv"),
    ],
    ids=["csv-as-txt", "ndjson-no-suffix", "array-as-dat", "object-as-data", "ndjson-txt-gz", "gzip-named-csv"],
)
def test_unknown_or_misleading_suffixes_are_sniffed_from_the_content(
    world: World, key: str, data: bytes, fmt: str
) -> None:
    result = world.process(key, data)

    assert result.status == "SUCCESS"
    assert result.item["format"] == fmt


def test_csv_headers_are_case_insensitive_and_trimmed(world: World) -> None:
    data = b" Shipment_ID ,STATUS,TimeStamp , Carrier\nS-1,in transit,2026-03-01T10:00:00+01:00, UPS \n"

    result = world.process("incoming/acme/headers.csv", data)

    assert result.status == "SUCCESS"
    event = result.events[0]
    assert (event["shipment_id"], event["status"], event["timestamp"]) == ("S-1", "IN_TRANSIT", "2026-03-01T09:00:00Z")
    assert event["carrier"] == "UPS"


def test_csv_quoted_fields_keep_commas_quotes_and_newlines(world: World) -> None:
    data = (
        b"shipment_id,status,timestamp,location,notes\r\n"
        b'S-1,DELIVERED,2026-03-01T10:00:00Z,"Berlin, DE","left at ""front"" door\r\nsecond line"\r\n'
        b"S-2,CREATED,2026-03-01T10:00:00Z,Paris,\r\n"
    )

    result = world.process("incoming/acme/quoted.csv", data)

    by_id = {event["shipment_id"]: event for event in result.events}
    assert by_id["S-1"]["location"] == "Berlin, DE"
    assert by_id["S-1"]["notes"] == 'left at "front" door\r\nsecond line'
    assert by_id["S-2"]["record_ref"] == "line 4", "a record's line is where it starts in the file"
    assert "notes" not in by_id["S-2"], "an empty optional cell is an absent field"


def test_utf8_byte_order_mark_is_accepted_in_every_format(world: World) -> None:
    bom = codecs.BOM_UTF8
    for name, data in {
        "bom.csv": as_csv(records(2)),
        "bom.jsonl": as_ndjson(records(2, prefix="NDJ")),
        "bom.json": as_json_array(records(2, prefix="ARR")),
    }.items():
        result = world.process(f"incoming/acme/{name}", bom + data)
        assert result.status == "SUCCESS", name


def test_ndjson_skips_blank_lines_and_numbers_records_by_physical_line(world: World) -> None:
    rows = records(2)
    data = ("\n" + json.dumps(rows[0]) + "\r\n   \n" + json.dumps(rows[1]) + "\n\n").encode()

    result = world.process("incoming/acme/gaps.ndjson", data)

    assert result.item["records_total"] == 2
    assert sorted(event["record_ref"] for event in result.events) == ["line 2", "line 4"]


def test_pretty_printed_json_array_larger_than_a_read_chunk_is_parsed_incrementally(world: World) -> None:
    rows = records(800)  # ~145 KB with indentation: items straddle the 64 KiB chunk boundaries
    data = as_json_array(rows, indent=4)
    assert len(data) > 2 * 64 * 1024

    result = world.process("incoming/acme/pretty.json", data)

    assert result.status == "SUCCESS"
    assert len(result.events) == 800


def test_json_numbers_and_booleans_in_optional_fields_are_stored_as_their_text(world: World) -> None:
    data = as_json_array([record(1, weight_kg=12.50, pieces=3, fragile=True, note=None)]).replace(b"12.5", b"12.50")

    result = world.process("incoming/acme/types.json", data)

    event = result.events[0]
    assert (event["weight_kg"], event["pieces"], event["fragile"]) == ("12.50", "3", "true")
    assert "note" not in event, "null means the field is absent"


def test_multi_member_gzip_is_read_to_the_end(world: World) -> None:
    rows = records(4)
    data = gz(as_csv(rows[:2])) + gz(as_csv(rows[2:]).split(b"\n", 1)[1])

    result = world.process("incoming/acme/members.csv.gz", data)

    assert result.status == "SUCCESS"
    assert len(result.events) == 4


def test_stored_update_carries_its_source_file_version_and_position(world: World) -> None:
    result = world.process("incoming/acme/source.jsonl", as_ndjson([record(7)]))

    event = result.events[0]
    assert event["source_file"] == "incoming/acme/source.jsonl"
    assert event["source_version"] == result.item["version_id"]
    assert event["record_ref"] == "line 1"
    assert event["event_key"] == f"{event['timestamp'][:-1]}.000000000Z#{event['status']}"
    assert event["timestamp"] < NOW.strftime("%Y-%m-%dT%H:%M:%SZ")


# --- header hints and unnamed columns (no shipper profile) -----------------------------------------------------


def test_utf16_without_a_byte_order_mark_gets_a_hint_in_the_header_error(world: World) -> None:
    data = as_csv(records(1)).decode().encode("utf-16-le")

    result = world.process("incoming/acme/no-bom.csv", data)

    assert result.status == "FAILED"
    assert (
        "The header contains NUL characters: the file looks UTF-16 encoded without a byte-order mark"
        in (result.item["error_message"])
    )


def test_a_byte_that_is_no_letter_in_windows_1252_gets_no_encoding_hint(world: World) -> None:
    data = as_csv(records(1)) + b"SHP-9,CREATED,2026-03-01T10:00:00Z,\x81\n"

    result = world.process("incoming/acme/odd.csv", data)

    assert result.item["error_message"].endswith("save the file as UTF-8")
