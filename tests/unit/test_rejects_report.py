"""The rejects report: rejected/<key>.<version>.errors.jsonl, one line per rejected record, in file order."""

from __future__ import annotations

import json
from typing import Any

import pytest
from shipment_processor.handler import ProcessingError

from .support import BUCKET, FaultyDynamoDB, World, as_csv, as_json_array, as_ndjson, record

KEY = "incoming/acme/week 9/updates.csv"


class RecordingS3:
    """The real (moto) S3 client, remembering which operations were called."""

    def __init__(self, real: Any) -> None:
        self._real = real
        self.calls: list[str] = []

    def __getattr__(self, name: str) -> Any:
        self.calls.append(name)
        return getattr(self._real, name)


def test_report_sits_under_the_rejects_prefix_named_for_the_key_and_its_version(world: World) -> None:
    result = world.process(KEY, as_csv([record(1), record(2, status="LOST")]))

    version = result.item["version_id"]
    assert result.item["rejects_key"] == f"rejected/incoming/acme/week 9/updates.csv.{version}.errors.jsonl"
    head = world.s3.head_object(Bucket=BUCKET, Key=result.item["rejects_key"])
    assert head["ContentType"] == "application/x-ndjson"
    assert head["Metadata"] == {
        "source-version": result.item["version_id"],
        "source-upload-timestamp": result.item["upload_timestamp"],
        "source-attempt": "1",
    }


def test_report_lists_rejected_records_in_file_order_with_line_reason_and_raw_record(world: World) -> None:
    rows = [record(1, status="LOST"), record(2), record(3, timestamp="2026-03-01"), record(4, shipment_id="")]

    result = world.process(KEY, as_csv(rows))

    assert [(line["line"], line["reason"].split(" ")[0]) for line in result.rejects] == [
        (2, "status"),
        (4, "timestamp"),
        (5, "required"),
    ]
    assert result.rejects[0]["record"] == "SHP-000001,LOST,2026-03-01T10:59:59Z,DHL,Zürich"


def test_json_rejections_are_located_by_index(world: World) -> None:
    result = world.process("incoming/acme/a.json", as_json_array([record(0), 42, record(2, status="?")]))

    assert [(line["index"], line["record"]) for line in result.rejects] == [
        (1, "42"),
        (2, json.dumps(record(2, status="?"), ensure_ascii=False)),
    ]


def test_raw_record_in_the_report_is_truncated_to_1_kb(world: World) -> None:
    result = world.process("incoming/acme/long.jsonl", as_ndjson([record(1, status="LOST", notes="x" * 5000)]))

    (line,) = result.rejects
    assert len(line["record"].encode()) == 1024


def test_no_report_when_nothing_is_rejected(world: World) -> None:
    result = world.process(KEY, as_csv([record(1)]))

    assert "rejects_key" not in result.item
    listed = world.s3.list_objects_v2(Bucket=BUCKET, Prefix="rejected/")
    assert listed.get("KeyCount", 0) == 0


def test_large_report_is_uploaded_in_parts_and_complete(world: World) -> None:
    rows = [record(n, status="LOST", notes="n" * 1000) for n in range(6_000)] + [record(99_999)]
    runtime = world.runtime(report_part_bytes=5 * 1024 * 1024)

    result = world.process("incoming/acme/bad-day.jsonl", as_ndjson(rows), runtime=runtime)

    assert result.status == "PARTIAL"
    assert [line["line"] for line in result.rejects] == list(range(1, 6_001))
    head = world.s3.head_object(Bucket=BUCKET, Key=result.item["rejects_key"])
    assert head["ETag"].strip('"').endswith("-2"), "two multipart parts"


def test_failed_invocation_leaves_no_half_written_report(world: World) -> None:
    rows: list[Any] = [record(n, status="LOST", notes="n" * 1000) for n in range(6_000)]
    rows += [record(n, prefix="OK") for n in range(200)]
    meta = world.put("incoming/acme/crash.jsonl", as_ndjson(rows))
    crashing = FaultyDynamoDB(world.dynamodb, fail_after=0, error=RuntimeError("boom"))
    s3 = RecordingS3(world.s3)

    with pytest.raises(ProcessingError, match="boom"):
        world.invoke(
            world.event(("incoming/acme/crash.jsonl", meta)),
            world.runtime(dynamodb=crashing, s3=s3, report_part_bytes=5 * 1024 * 1024),
        )

    assert s3.calls.count("create_multipart_upload") == 1, "the report upload had started"
    assert s3.calls.count("abort_multipart_upload") == 1
    assert world.s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []
    assert world.s3.list_objects_v2(Bucket=BUCKET, Prefix="rejected/").get("KeyCount", 0) == 0


def test_a_new_version_replaces_the_report_rather_than_appending_to_it(world: World) -> None:
    data = as_csv([record(1, status="LOST"), record(2)])
    first = world.process(KEY, data)
    second = world.process(KEY, data, event_time="2026-03-01T12:05:00.000Z")

    assert second.rejects == first.rejects
    head = world.s3.head_object(Bucket=BUCKET, Key=second.item["rejects_key"])
    assert head["Metadata"]["source-version"] == second.item["version_id"] != first.item["version_id"]
