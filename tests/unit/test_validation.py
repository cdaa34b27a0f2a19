"""The record contract, rule by rule, with the exact message a shipper receives."""

from __future__ import annotations

from typing import Any

import pytest
from shipment_processor.formats import JsonNumber
from shipment_processor.validation import (
    Invalid,
    JsonObject,
    NonFiniteNumber,
    ShipmentUpdate,
    validate_record,
)

from .support import NOW, World, as_csv, as_ndjson

VALID = {"shipment_id": "SHP-1", "status": "DELIVERED", "timestamp": "2026-03-01T10:00:00Z"}
STATUSES = "CREATED, PICKED_UP, IN_TRANSIT, OUT_FOR_DELIVERY, DELIVERED, DELAYED, EXCEPTION, RETURNED, CANCELLED"


def check(**changes: Any) -> ShipmentUpdate | Invalid:
    fields = {**VALID, **changes}
    return validate_record([(k, v) for k, v in fields.items() if v is not ...], NOW)


def reason(**changes: Any) -> str:
    outcome = check(**changes)
    assert isinstance(outcome, Invalid), outcome
    return outcome.reason


RULES = [
    # (rule, field changes, exact reason)
    ("shipment_id is required", {"shipment_id": ...}, "missing required field 'shipment_id'"),
    ("shipment_id may not be empty", {"shipment_id": "  "}, "required field 'shipment_id' is empty"),
    ("shipment_id may not be null", {"shipment_id": None}, "required field 'shipment_id' is empty"),
    (
        "shipment_id is at most 64 characters",
        {"shipment_id": "A" * 65},
        f"shipment_id '{'A' * 65}' is 65 characters; at most 64 are allowed",
    ),
    (
        "shipment_id uses a restricted alphabet",
        {"shipment_id": "SHP 1/2"},
        "shipment_id 'SHP 1/2' may only contain A-Z, a-z, 0-9, '_' and '-'",
    ),
    ("shipment_id must be text", {"shipment_id": True}, "shipment_id must be text, got a JSON boolean"),
    ("status is required", {"status": ...}, "missing required field 'status'"),
    ("status must be known", {"status": "LOST"}, f"status 'LOST' is not one of {STATUSES}"),
    ("status must be text", {"status": ["DELIVERED"]}, "status must be text, got a JSON array"),
    ("status may not be NaN", {"status": NonFiniteNumber("NaN")}, "status must be text, got the non-JSON number NaN"),
    ("timestamp may not be an object", {"timestamp": JsonObject()}, "timestamp must be text, got a JSON object"),
    ("timestamp is required", {"timestamp": ...}, "missing required field 'timestamp'"),
    (
        "timestamp must be ISO 8601",
        {"timestamp": "2026-13-01"},
        "timestamp '2026-13-01' is not ISO 8601 with an offset "
        "(e.g. 2026-03-01T14:30:00Z or 2026-03-01T14:30:00+01:00)",
    ),
    (
        "timestamp must carry an offset",
        {"timestamp": "2026-03-01T10:00:00"},
        "timestamp '2026-03-01T10:00:00' has no UTC offset; add 'Z' or an offset such as +01:00",
    ),
    (
        "timestamp must be a real date",
        {"timestamp": "2026-02-30T10:00:00Z"},
        "timestamp '2026-02-30T10:00:00Z' is not a real date/time: day is out of range for month",
    ),
    (
        "timestamp offset must be within a day",
        {"timestamp": "2026-03-01T10:00:00+24:00"},
        "timestamp '2026-03-01T10:00:00+24:00' has an offset outside -23:59..+23:59",
    ),
    (
        "timestamp at most 24 h in the future",
        {"timestamp": "2026-03-02T12:00:01Z"},
        "timestamp '2026-03-02T12:00:01Z' is more than 24 h after the processing time 2026-03-01T12:00:00Z",
    ),
    (
        "timestamp as a number is not ISO 8601",
        {"timestamp": JsonNumber("1772366400")},
        "timestamp '1772366400' is not ISO 8601 with an offset "
        "(e.g. 2026-03-01T14:30:00Z or 2026-03-01T14:30:00+01:00)",
    ),
    (
        "optional fields are at most 1 KB",
        {"notes": "x" * 1025},
        "field 'notes' is 1025 bytes; at most 1024 are allowed",
    ),
    (
        "optional fields are counted in UTF-8 bytes",
        {"notes": "é" * 513},
        "field 'notes' is 1026 bytes; at most 1024 are allowed",
    ),
    (
        "optional fields may not be objects",
        {"location": JsonObject([("lat", JsonNumber("1"))])},
        "field 'location' is a JSON object; optional fields must be text, numbers or booleans",
    ),
    (
        "optional fields may not be arrays",
        {"tags": []},
        "field 'tags' is a JSON array; optional fields must be text, numbers or booleans",
    ),
    (
        "NaN is not JSON",
        {"weight": NonFiniteNumber("NaN")},
        "field 'weight' is NaN; NaN and Infinity are not valid JSON numbers",
    ),
    (
        "processor attributes are reserved",
        {"source_file": "mine.csv"},
        "field 'source_file' is reserved for the processor's own attributes; rename it",
    ),
    ("field names may not be empty", {" ": "x"}, "a field has an empty name"),
    (
        "unpaired surrogates cannot be stored",
        {"notes": "bad \ud800 text"},
        "field 'notes' contains an unpaired surrogate escape (\\ud800-\\udfff)",
    ),
    (
        "field names may not hold unpaired surrogates",
        {"n\udc00": "x"},
        "field name 'n\\udc00' contains an unpaired surrogate escape (\\ud800-\\udfff)",
    ),
    (
        "field names are at most 255 bytes",
        {"n" * 256: "x"},
        f"field name '{'n' * 80}…' is longer than 255 bytes",
    ),
]


@pytest.mark.parametrize(("changes", "expected"), [rule[1:] for rule in RULES], ids=[rule[0] for rule in RULES])
def test_rule_violation_is_rejected_with_an_actionable_reason(changes: dict[str, Any], expected: str) -> None:
    assert reason(**changes) == expected


def test_at_most_32_optional_fields() -> None:
    extra = {f"f{i}": "x" for i in range(33)}

    assert reason(**extra) == "record has 33 optional fields; at most 32 are allowed"
    assert isinstance(check(**dict(list(extra.items())[:32])), ShipmentUpdate)


def test_a_field_given_twice_is_rejected_naming_both_spellings() -> None:
    outcome = validate_record([*VALID.items(), ("Status", "CREATED")], NOW)

    assert outcome == Invalid("field 'status' appears more than once ('status', 'Status')")


def test_every_problem_of_a_record_is_reported_together() -> None:
    outcome = validate_record([("shipment_id", "bad id"), ("status", "LOST")], NOW)

    assert isinstance(outcome, Invalid)
    assert outcome.reason.split("; ") == [
        "shipment_id 'bad id' may only contain A-Z, a-z, 0-9, '_' and '-'",
        f"status 'LOST' is not one of {STATUSES}",
        "missing required field 'timestamp'",
    ]


@pytest.mark.parametrize(
    ("written", "stored"),
    [
        ("in transit", "IN_TRANSIT"),
        ("Out-For-Delivery", "OUT_FOR_DELIVERY"),
        ("  picked   up ", "PICKED_UP"),
        ("cancelled", "CANCELLED"),
    ],
)
def test_status_is_case_insensitive_and_reads_spaces_and_hyphens_as_underscores(written: str, stored: str) -> None:
    outcome = check(status=written)

    assert isinstance(outcome, ShipmentUpdate)
    assert outcome.status == stored


@pytest.mark.parametrize(
    ("written", "stored"),
    [
        ("2026-03-01T10:00:00Z", "2026-03-01T10:00:00Z"),
        ("2026-03-01t10:00:00z", "2026-03-01T10:00:00Z"),
        ("2026-03-01T10:00:00+01:00", "2026-03-01T09:00:00Z"),
        ("2026-03-01T00:30:00-02:30", "2026-03-01T03:00:00Z"),
        ("2026-03-01T10:00:00+0100", "2026-03-01T09:00:00Z"),
        ("2026-03-01T10:00Z", "2026-03-01T10:00:00Z"),
        ("2026-03-01 10:00:00Z", "2026-03-01T10:00:00Z"),
        ("2026-03-01T10:00:00.5Z", "2026-03-01T10:00:00.5Z"),
        ("2026-03-01T10:00:00,250+01:00", "2026-03-01T09:00:00.25Z"),
        ("2026-03-01T10:00:00.123456789Z", "2026-03-01T10:00:00.123456789Z"),
        ("2026-03-01T10:00:00.000Z", "2026-03-01T10:00:00Z"),
        ("2026-03-02T12:00:00Z", "2026-03-02T12:00:00Z"),
    ],
)
def test_timestamps_are_normalised_to_utc_keeping_significant_fractions(written: str, stored: str) -> None:
    outcome = check(timestamp=written)

    assert isinstance(outcome, ShipmentUpdate), outcome
    assert outcome.timestamp == stored


def test_valid_record_keeps_optional_fields_in_file_order_as_trimmed_text() -> None:
    outcome = validate_record(
        [(" Carrier ", " DHL "), *VALID.items(), ("ETA", "2026-03-02"), ("empty", "  "), ("gone", None)], NOW
    )

    assert outcome == ShipmentUpdate(
        "SHP-1", "DELIVERED", "2026-03-01T10:00:00Z", (("carrier", "DHL"), ("eta", "2026-03-02"))
    )
    assert outcome.event_key == "2026-03-01T10:00:00.000000000Z#DELIVERED"


def test_an_optional_field_of_only_unicode_whitespace_is_absent_not_empty_text() -> None:
    outcome = validate_record([*VALID.items(), ("note", "\u3000\u00a0 "), ("depot", "Zürich ")], NOW)

    assert isinstance(outcome, ShipmentUpdate), outcome
    assert outcome.fields == (("depot", "Zürich"),)


def test_event_keys_sort_in_time_order_whatever_the_fraction_precision() -> None:
    instants = [
        "2026-03-01T10:00:00Z",
        "2026-03-01T10:00:00.000000001Z",
        "2026-03-01T10:00:00.25Z",
        "2026-03-01T10:00:00.5Z",
        "2026-03-01T10:00:00.500001Z",
        "2026-03-01T10:00:01Z",
    ]
    keys = [check(timestamp=instant).event_key for instant in instants]

    assert sorted(keys) == keys
    assert len(set(keys)) == len(keys)


def test_rejected_records_reach_the_report_with_their_line_and_reason(world: World) -> None:
    rows = [dict(VALID, shipment_id="OK-1"), dict(VALID, shipment_id="OK-2", timestamp="yesterday")]

    result = world.process("incoming/acme/rules.csv", as_csv(rows))

    assert result.rejects == [
        {
            "line": 3,
            "reason": "timestamp 'yesterday' is not ISO 8601 with an offset "
            "(e.g. 2026-03-01T14:30:00Z or 2026-03-01T14:30:00+01:00)",
            "record": "OK-2,DELIVERED,yesterday",
        }
    ]
    assert result.item["error_samples"] == [f"line 3: {result.rejects[0]['reason']}"]


def test_duplicate_identical_updates_in_a_file_are_stored_once_and_counted_as_accepted(world: World) -> None:
    rows = [dict(VALID, carrier="DHL"), dict(VALID, shipment_id="OTHER"), dict(VALID, carrier="DHL")]

    result = world.process("incoming/acme/dupes.jsonl", as_ndjson(rows), duplicates=1)

    assert result.status == "SUCCESS"
    assert result.item["records_accepted"] == 3
    assert sorted(event["shipment_id"] for event in result.events) == ["OTHER", "SHP-1"]


def test_a_repeated_update_with_different_details_keeps_the_later_one(world: World) -> None:
    rows = [dict(VALID, location="Depot"), dict(VALID, location="Doorstep")]

    result = world.process("incoming/acme/later-wins.jsonl", as_ndjson(rows), duplicates=1)

    assert [(event["location"], event["record_ref"]) for event in result.events] == [("Doorstep", "line 2")]


@pytest.mark.parametrize(
    "timestamp",
    [
        "\uff12\uff10\uff12\uff16-03-01T10:00:00Z",  # full-width digits in the year
        "2026-03-01T\u0661\u0660:00:00Z",  # Arabic-Indic digits in the hour
        "2026-03-01T10:00:00+\u0660\u0661:00",  # Arabic-Indic digits in the offset
        "2026-03-01T10:00:00.\u0665Z",  # an Arabic-Indic five in the fraction
    ],
)
def test_timestamps_with_non_ascii_digits_are_rejected(timestamp: str) -> None:
    assert "is not ISO 8601 with an offset" in reason(timestamp=timestamp)


@pytest.mark.parametrize("status", ["p\u0131cked_up", "deliver\u0131ed", "IN\u00a0TRANSIT"])
def test_statuses_that_only_look_right_after_unicode_case_mapping_are_rejected(status: str) -> None:
    assert reason(status=status).startswith("status ")
