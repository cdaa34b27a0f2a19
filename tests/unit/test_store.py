"""The AWS adapter's edges that whole-file tests cannot reach precisely."""

from __future__ import annotations

from typing import Any

import pytest
from shipment_processor.config import Settings
from shipment_processor.store import Store, TransientAWSError

from .support import BUCKET, World, log_lines

PART = 5 * 1024 * 1024


def test_report_of_exactly_two_parts_is_completed(world: World) -> None:
    store = Store(Settings(), s3=world.s3, report_part_bytes=PART)
    writer = store.rejects_writer(BUCKET, "rejected/exact.errors.jsonl", {})
    line_bytes = len(b'{"line": 7, "reason": "r", "record": ""}\n')
    record = "x" * (1024 - line_bytes)  # every report line is exactly 1 KiB
    for _ in range(2 * PART // 1024):
        writer.add(("line", 7), "r", record)

    assert writer.close() == "rejected/exact.errors.jsonl"

    head = world.s3.head_object(Bucket=BUCKET, Key="rejected/exact.errors.jsonl")
    assert head["ContentLength"] == 2 * PART
    assert head["ETag"].strip('"').endswith("-2")


def test_an_upload_that_cannot_be_aborted_is_logged_not_raised(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    class NoAbort:
        def __getattr__(self, name: str) -> Any:
            return getattr(world.s3, name)

        def abort_multipart_upload(self, **_: Any) -> None:
            raise ConnectionError("network gone")

    store = Store(Settings(), s3=NoAbort(), report_part_bytes=PART)
    writer = store.rejects_writer(BUCKET, "rejected/aborted.errors.jsonl", {})
    writer.add(("index", 0), "r", "x" * PART)
    capsys.readouterr()

    writer.abort()

    (line,) = log_lines(capsys.readouterr().out)
    assert line["message"] == "could not abort the rejects report upload"
    assert "network gone" in line["error"]


def test_nothing_to_report_uploads_nothing(world: World) -> None:
    writer = Store(Settings(), s3=world.s3).rejects_writer(BUCKET, "rejected/none.errors.jsonl", {})

    assert writer.close() is None
    assert world.s3.list_objects_v2(Bucket=BUCKET, Prefix="rejected/").get("KeyCount", 0) == 0


def test_clients_are_created_once_per_process_and_honour_the_endpoint_override(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:4566")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    store = Store(Settings())

    client = store.client("dynamodb")

    assert store.client("dynamodb") is client
    assert client.meta.endpoint_url == "http://127.0.0.1:4566"
    assert client.meta.config.retries["mode"] == "standard"
    assert (client.meta.config.connect_timeout, client.meta.config.read_timeout) == (5, 30)


def test_conditional_writes_without_placeholders_or_values_are_well_formed(world: World) -> None:
    store = Store(Settings(), dynamodb=world.dynamodb)
    item = {"filename": "k", "upload_timestamp": "t", "note": "x"}

    assert store.put_if(item, "attribute_not_exists(filename)", {}) is None
    written, conflict = store.update_if({"filename": "k", "upload_timestamp": "t"}, "REMOVE note",
                                        "attribute_exists(filename)", {})  # fmt: skip
    assert conflict is None and written == {"filename": "k", "upload_timestamp": "t"}
    _, absent = store.update_if({"filename": "nope", "upload_timestamp": "t"}, "REMOVE note",
                                "attribute_exists(filename)", {})  # fmt: skip
    assert absent == {}


def test_values_round_trip_through_dynamodb_types() -> None:
    from shipment_processor.store import from_dynamodb, to_dynamodb  # noqa: PLC0415

    plain = {"s": "x", "n": 3, "b": True, "l": ["a", 1], "m": {"inner": False, "gone": None}}
    assert from_dynamodb(to_dynamodb(plain)) == {"s": "x", "n": 3, "b": True, "l": ["a", 1], "m": {"inner": False}}
    assert from_dynamodb({"x": {"NULL": True}, "f": {"N": "1.5"}}) == {"x": None, "f": 1.5}


def test_a_continuation_lambda_did_not_queue_fails_the_invocation(world: World) -> None:
    class Refusing:
        def invoke(self, **_: Any) -> dict[str, Any]:
            return {"StatusCode": 200}

    store = Store(Settings(), clients={"lambda": Refusing()})
    with pytest.raises(TransientAWSError, match="did not queue"):
        store.invoke_async("fn", {"continuation": {}})


def test_ranged_reads_at_and_past_the_end_of_an_object_read_nothing(world: World) -> None:
    world.s3.put_object(Bucket=BUCKET, Key="incoming/a/three", Body=b"abc")
    source = Store(Settings(), s3=world.s3).object_source(BUCKET, "incoming/a/three", None, None)

    assert source.open(0).read() == b"abc" and source.size == 3
    assert source.open(3).read() == b""
    assert source.open(2, 2).read() == b""
    source.close()


def test_a_large_remainder_is_uploaded_as_a_part_rather_than_carried_over(world: World) -> None:
    store = Store(Settings(), s3=world.s3, report_part_bytes=8 * PART)
    writer = store.rejects_report(BUCKET, "rejected/big.errors.jsonl", {}, "rejected/.partial/")
    writer.add(("line", 1), "r", "x" * (PART + 10))

    state = writer.suspend("1-1")

    assert state["spill"] is None and len(state["parts"]) == 1
    resumed = store.rejects_report(BUCKET, "rejected/big.errors.jsonl", {}, "rejected/.partial/")
    resumed.resume(state)
    resumed.add(("line", 2), "r", "y")
    assert resumed.close() == "rejected/big.errors.jsonl"
    body = world.s3.get_object(Bucket=BUCKET, Key="rejected/big.errors.jsonl")["Body"].read()
    assert body.count(b"\n") == 2


def test_a_temporary_report_object_that_cannot_be_deleted_is_logged(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    class NoDelete:
        def __getattr__(self, name: str) -> Any:
            return getattr(world.s3, name)

        def delete_object(self, **_: Any) -> None:
            raise ConnectionError("network gone")

    store = Store(Settings(), s3=NoDelete())
    writer = store.rejects_report(BUCKET, "rejected/small.errors.jsonl", {}, "rejected/.partial/")
    writer.add(("line", 1), "r", "x")
    state = writer.suspend("1-1")
    resumed = store.rejects_report(BUCKET, "rejected/small.errors.jsonl", {}, "rejected/.partial/")
    resumed.resume(state)
    capsys.readouterr()

    assert resumed.close() == "rejected/small.errors.jsonl"

    (line,) = log_lines(capsys.readouterr().out)
    assert line["message"] == "could not delete a temporary rejects object"
