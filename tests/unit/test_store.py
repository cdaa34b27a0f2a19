"""The AWS adapter's edges that whole-file tests cannot reach precisely."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError
from shipment_processor.aws.clients import TransientAWSError
from shipment_processor.config import Settings
from shipment_processor.store import Store

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
    table = Store(Settings(), dynamodb=world.dynamodb).metadata_table
    item = {"filename": "k", "upload_timestamp": "t", "note": "x"}

    assert table.put_if(item, "attribute_not_exists(filename)", {}) is None
    written, conflict = table.update_if({"filename": "k", "upload_timestamp": "t"}, "REMOVE note",
                                        "attribute_exists(filename)", {})  # fmt: skip
    assert conflict is None and written == {"filename": "k", "upload_timestamp": "t"}
    _, absent = table.update_if({"filename": "nope", "upload_timestamp": "t"}, "REMOVE note",
                                "attribute_exists(filename)", {})  # fmt: skip
    assert absent == {}


def test_values_round_trip_through_dynamodb_types() -> None:
    from shipment_processor.aws.metadata import from_dynamodb, to_dynamodb  # noqa: PLC0415

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
    resumed.discard_resumed()  # after the final write

    (line,) = log_lines(capsys.readouterr().out)
    assert line["message"] == "could not delete a temporary rejects object"


# --- closing a report is repeatable --------------------------------------------------------------------------------

META = {"source-version": "v1", "source-upload-timestamp": "t", "source-attempt": "1"}


def _carried_upload(store: Store, key: str, *, tail: bool = True) -> dict[str, Any]:
    """A report whose multipart upload was started by an earlier invocation: one full part (and a spilled tail)."""
    writer = store.rejects_report(BUCKET, key, META, "rejected/.partial/")
    writer.add(("line", 1), "r", "x" * (PART + 10))
    if tail:
        writer.add(("line", 2), "r", "tail")
    return writer.suspend("1-1")


class CompletesOnce:
    """S3 answering a repeated CompleteMultipartUpload with NoSuchUpload, as its error message allows ("the upload
    may have been aborted or completed"); moto answers it again with the object (the other answer S3 may give)."""

    def __init__(self, real: Any) -> None:
        self._real = real
        self._completed: set[str] = set()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def complete_multipart_upload(self, **kwargs: Any) -> Any:
        if kwargs["UploadId"] in self._completed:
            raise ClientError({"Error": {"Code": "NoSuchUpload", "Message": "completed"}}, "CompleteMultipartUpload")
        self._completed.add(kwargs["UploadId"])
        return self._real.complete_multipart_upload(**kwargs)


@pytest.mark.parametrize("answer", ["the object again", "NoSuchUpload"])
def test_a_report_completed_by_an_earlier_try_is_recognised_when_completing_again(world: World, answer: str) -> None:
    s3 = CompletesOnce(world.s3) if answer == "NoSuchUpload" else world.s3
    store = Store(Settings(), s3=s3, report_part_bytes=PART)
    state = _carried_upload(store, "rejected/twice.errors.jsonl", tail=False)  # the last invocation only completes
    first = store.rejects_report(BUCKET, "rejected/twice.errors.jsonl", META, "rejected/.partial/")
    first.resume(state)
    assert first.close() == "rejected/twice.errors.jsonl"
    again = store.rejects_report(BUCKET, "rejected/twice.errors.jsonl", META, "rejected/.partial/")
    again.resume(state)  # the retry did not look first, and completes the upload again

    assert again.close() == "rejected/twice.errors.jsonl"

    assert again.version_id == first.version_id is not None
    versions = world.s3.list_object_versions(Bucket=BUCKET, Prefix="rejected/twice.errors.jsonl")["Versions"]
    assert len(versions) == 1


def test_a_part_for_an_upload_another_holder_completed_is_recognised_and_not_resent(world: World) -> None:
    store = Store(Settings(), s3=world.s3, report_part_bytes=PART)
    state = _carried_upload(store, "rejected/raced.errors.jsonl")
    late = store.rejects_report(BUCKET, "rejected/raced.errors.jsonl", META, "rejected/.partial/")
    late.resume(state)
    winner = store.rejects_report(BUCKET, "rejected/raced.errors.jsonl", META, "rejected/.partial/")
    winner.resume(state)
    winner.close()

    late.add(("line", 3), "r", "y" * PART)  # fills a part: UploadPart answers NoSuchUpload

    assert late.close() == "rejected/raced.errors.jsonl" and late.version_id == winner.version_id


def test_a_recognised_report_is_carried_closed_through_a_later_hand_off(world: World) -> None:
    store = Store(Settings(), s3=world.s3)
    done = store.rejects_report(BUCKET, "rejected/closed.errors.jsonl", META, "rejected/.partial/")
    done.add(("line", 1), "r", "x")
    done.close()
    retry = store.rejects_report(BUCKET, "rejected/closed.errors.jsonl", META, "rejected/.partial/")
    assert retry.recognise()
    retry.add(("line", 1), "r", "x")

    state = retry.suspend("1-2")  # the retry ran short of time and hands off
    resumed = store.rejects_report(BUCKET, "rejected/closed.errors.jsonl", META, "rejected/.partial/")
    resumed.resume(state)

    assert state == {"lines": 1, "closed": True, "version_id": done.version_id}
    assert resumed.close() == "rejected/closed.errors.jsonl" and resumed.version_id == done.version_id
    versions = world.s3.list_object_versions(Bucket=BUCKET, Prefix="rejected/closed.errors.jsonl")["Versions"]
    assert len(versions) == 1
    assert world.s3.list_objects_v2(Bucket=BUCKET, Prefix="rejected/.partial/").get("KeyCount", 0) == 0


@pytest.mark.parametrize(
    ("metadata", "recognised"),
    [(META, True), ({**META, "source-attempt": "2"}, False), ({**META, "source-version": "v2"}, False)],
    ids=["same attempt", "another attempt", "another version"],
)
def test_only_the_same_attempts_report_is_recognised(world: World, metadata: dict[str, str], recognised: bool) -> None:
    store = Store(Settings(), s3=world.s3)
    done = store.rejects_report(BUCKET, "rejected/mine.errors.jsonl", META, "rejected/.partial/")
    done.add(("line", 1), "r", "x")
    done.close()

    assert store.rejects_report(BUCKET, "rejected/mine.errors.jsonl", metadata, "p/").recognise() is recognised
    assert store.rejects_report(BUCKET, "rejected/none.errors.jsonl", META, "p/").recognise() is False


@pytest.mark.parametrize(("code", "recognised"), [("403", False), ("SlowDown", None)])
def test_a_report_s3_will_not_show_is_not_recognised_and_an_error_is_raised(
    world: World, code: str, recognised: bool | None
) -> None:
    """403 is S3's answer for a missing key to a caller without s3:ListBucket on it: no report there yet."""

    class Refusing:
        def __getattr__(self, name: str) -> Any:
            return getattr(world.s3, name)

        def head_object(self, **_: Any) -> None:
            raise ClientError({"Error": {"Code": code, "Message": code}}, "HeadObject")

    writer = Store(Settings(), s3=Refusing()).rejects_report(BUCKET, "rejected/x.errors.jsonl", META, "p/")

    if recognised is None:
        with pytest.raises(ClientError, match=code):
            writer.recognise()
    else:
        assert writer.recognise() is recognised


def test_a_completion_s3_refuses_for_another_reason_fails_the_invocation(world: World) -> None:
    class Refusing(CompletesOnce):
        def complete_multipart_upload(self, **_: Any) -> Any:
            raise ClientError({"Error": {"Code": "InternalError", "Message": "try again"}}, "CompleteMultipartUpload")

    store = Store(Settings(), s3=Refusing(world.s3), report_part_bytes=PART)
    writer = store.rejects_report(BUCKET, "rejected/refused.errors.jsonl", META, "rejected/.partial/")
    writer.resume(_carried_upload(store, "rejected/refused.errors.jsonl"))

    with pytest.raises(ClientError, match="InternalError"):
        writer.close()


def test_a_last_part_for_an_upload_another_holder_completed_is_recognised_at_close(world: World) -> None:
    store = Store(Settings(), s3=world.s3, report_part_bytes=PART)
    state = _carried_upload(store, "rejected/raced-at-close.errors.jsonl")
    late = store.rejects_report(BUCKET, "rejected/raced-at-close.errors.jsonl", META, "rejected/.partial/")
    late.resume(state)
    winner = store.rejects_report(BUCKET, "rejected/raced-at-close.errors.jsonl", META, "rejected/.partial/")
    winner.resume(state)
    winner.close()

    assert late.close() == "rejected/raced-at-close.errors.jsonl"  # its last part meets NoSuchUpload

    assert late.version_id == winner.version_id
    versions = world.s3.list_object_versions(Bucket=BUCKET, Prefix="rejected/raced-at-close.errors.jsonl")
    assert len(versions["Versions"]) == 1
