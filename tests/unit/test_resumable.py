"""A file larger than one invocation can process continues in new invocations and ends exactly as one pass.

The contexts here run short after a few looks at the time left, so a few hundred records already take several
invocations; the continuations queued through Lambda's Invoke API are then run as Lambda runs them.
"""

from __future__ import annotations

from typing import Any

import pytest
from shipment_processor.handler import ProcessingError

from .support import (
    BUCKET,
    EVENT_TIME,
    FUNCTION_ARN,
    Context,
    FaultyDynamoDB,
    ShortContext,
    World,
    as_csv,
    as_json_array,
    as_ndjson,
    emf_documents,
    gz,
    log_lines,
    record,
)

KEY = "incoming/acme/big day.csv"


def mixed(count: int, prefix: str = "SHP") -> list[dict[str, Any]]:
    """Valid records with a rejected one every 17th, and a quoted field spanning lines every 29th."""
    rows = []
    for n in range(count):
        if n % 17 == 5:
            rows.append(record(n, prefix, status="LOST"))
        elif n % 29 == 3:
            rows.append(record(n, prefix, location='Dock "7",\nGate 2'))
        else:
            rows.append(record(n, prefix))
    return rows


def single_invocation(world: World, key: str, data: bytes) -> dict[str, Any]:
    result = world.process(key.replace("incoming/acme/", "incoming/control/"), data)
    return result.item


ENCODINGS = {
    "csv": (as_csv, ".csv"),
    "ndjson": (as_ndjson, ".jsonl"),
    "json-array": (as_json_array, ".json"),
}


@pytest.mark.parametrize("compressed", [False, True], ids=["plain", "gzip"])
@pytest.mark.parametrize("fmt", list(ENCODINGS))
def test_a_file_processed_in_several_invocations_ends_exactly_like_one_pass(
    world: World, fmt: str, compressed: bool
) -> None:
    encode, suffix = ENCODINGS[fmt]
    data = encode(mixed(700))
    key = f"incoming/acme/segments{suffix}" + (".gz" if compressed else "")
    if compressed:
        data = gz(data)
    control = single_invocation(world, key, data)

    result = world.process_in_segments(key, data, looks=3)

    assert result.item["invocations"] >= 3
    for name in ("processing_status", "records_total", "records_accepted", "records_rejected", "format"):
        assert result.item[name] == control[name], name
    assert result.item["records_rejected"] == len(result.rejects) == 41
    refs = [line.get("line", line.get("index")) for line in result.rejects]
    assert refs == sorted(refs), "one report, in file order, with line numbers and indexes that run on"
    assert len(emf_documents(result.stdout)) == 1, "metrics once per file, not once per invocation"
    (document,) = emf_documents(result.stdout)
    assert document["RecordsAccepted"] == control["records_accepted"]
    assert "checkpoint" not in result.item and "handoff_token" not in result.item
    assert world.s3.list_objects_v2(Bucket=BUCKET, Prefix="rejected/.partial/").get("KeyCount", 0) == 0


def test_each_invocation_stops_at_a_record_boundary_and_says_where(world: World) -> None:
    result = world.process_in_segments(KEY, as_csv(mixed(400)), looks=3)

    continued = [line for line in log_lines(result.stdout) if line["message"] == "file continues in a new invocation"]
    assert len(continued) == result.item["invocations"] - 1 >= 2
    assert [line["segment"] for line in continued] == list(range(2, len(continued) + 2))
    assert all(line["records_so_far"] % 64 == 0 for line in continued)


def test_a_large_rejects_report_stays_one_object_across_invocations(world: World) -> None:
    rows = [record(n, status="LOST", notes="n" * 900) for n in range(7000)] + [record(99_999)]
    runtime = world.runtime(report_part_bytes=5 * 1024 * 1024)

    result = world.process_in_segments("incoming/acme/bad.jsonl", as_ndjson(rows), looks=12, runtime=runtime)

    assert result.item["invocations"] >= 5
    assert [line["line"] for line in result.rejects] == list(range(1, 7001))
    head = world.s3.head_object(Bucket=BUCKET, Key=result.item["rejects_key"])
    assert head["ETag"].strip('"').endswith("-2"), "one multipart upload of two parts, assembled over invocations"
    assert head.get("VersionId") == result.item["rejects_version_id"]


def test_a_continuation_delivered_twice_changes_nothing(world: World) -> None:
    meta = world.put(KEY, as_csv(mixed(300)))
    runtime = world.runtime()
    world.invoke(world.event((KEY, meta)), runtime, ShortContext("req-1", looks=3))
    (continuation,) = world.lambda_.queued
    world.lambda_.queued.append(continuation)  # Lambda delivers async events at least once

    world.drain(runtime)

    result = world.observe(KEY, stdout=world.capsys.readouterr().out)
    assert len(emf_documents(result.stdout)) == 1
    assert any(line.get("outcome") == "IN_PROGRESS" or line.get("outcome") == "DUPLICATE"
               for line in log_lines(result.stdout))  # fmt: skip


def test_a_crash_between_checkpoint_and_hand_off_is_finished_by_lambdas_retry(world: World) -> None:
    meta = world.put(KEY, as_csv(mixed(300)))
    runtime = world.runtime()
    world.lambda_.fail_next = 1  # the checkpoint is written, then queuing the continuation fails

    with pytest.raises(ProcessingError, match="Lambda is down"):
        world.invoke(world.event((KEY, meta)), runtime, ShortContext("req-1", looks=3))
    assert world.lambda_.queued == []
    world.invoke(world.event((KEY, meta)), runtime, ShortContext("req-1", looks=3))  # Lambda's retry, same id
    world.drain(runtime)

    result = world.observe(KEY, stdout=world.capsys.readouterr().out)
    assert result.item["records_total"] == 300
    assert len(emf_documents(result.stdout)) == 1


class SimulatedTimeout(BaseException):
    """Lambda stops the process at its timeout: no handler code runs after it, the claim stays in place."""


def test_a_timeout_in_the_middle_of_a_segment_resumes_from_the_last_checkpoint(world: World) -> None:
    meta = world.put(KEY, as_csv(mixed(600)))
    runtime = world.runtime()
    world.invoke(world.event((KEY, meta)), runtime, ShortContext("req-1", looks=3))
    dying = FaultyDynamoDB(world.dynamodb, fail_after=3, error=SimulatedTimeout())
    continuation = world.lambda_.queued.pop(0)

    with pytest.raises(SimulatedTimeout):
        world.invoke(continuation, world.runtime(dynamodb=dying), ShortContext("req-c2", looks=3))
    world.invoke(continuation, runtime, ShortContext("req-c2", looks=3))  # Lambda's retry of the continuation
    world.drain(runtime)

    result = world.observe(KEY, stdout=world.capsys.readouterr().out)
    assert result.item["records_total"] == 600
    assert result.item["interrupted_invocations"] == 1
    assert "ended without finishing" in result.item["last_interruption"]
    assert len(emf_documents(result.stdout)) == 1


def test_the_s3_event_redelivered_while_a_continuation_is_in_flight_changes_nothing(world: World) -> None:
    meta = world.put(KEY, as_csv(mixed(300)))
    runtime = world.runtime()
    world.invoke(world.event((KEY, meta)), runtime, ShortContext("req-1", looks=3))

    again = world.invoke(world.event((KEY, meta)), runtime, Context("req-9"))
    world.drain(runtime)

    assert again["files"][0]["status"] == "IN_PROGRESS"
    result = world.observe(KEY, stdout=world.capsys.readouterr().out)
    assert result.item["records_total"] == 300
    assert len(emf_documents(result.stdout)) == 1


def test_a_new_version_uploaded_mid_chain_is_processed_on_its_own(world: World) -> None:
    first_meta = world.put(KEY, as_csv(mixed(300)))
    runtime = world.runtime()
    world.invoke(world.event((KEY, first_meta)), runtime, ShortContext("req-1", looks=3))
    second_meta = world.put(KEY, as_csv(mixed(50, "NEW")))
    world.invoke(world.event((KEY, second_meta), event_time="2026-03-01T12:00:30.000Z"), runtime, Context("req-2"))
    world.drain(runtime)

    first = world.observe(KEY, upload_timestamp=EVENT_TIME)
    second = world.observe(KEY, upload_timestamp="2026-03-01T12:00:30.000Z")
    assert (first.item["records_total"], second.item["records_total"]) == (300, 50)
    assert first.item["version_id"] == first_meta["versionId"] != second.item["version_id"]


def test_a_chain_longer_than_max_invocations_ends_failed_with_its_counts(world: World) -> None:
    world.env["MAX_INVOCATIONS"] = "2"

    result = world.process_in_segments(KEY, as_csv(mixed(700)), looks=3)

    assert result.status == "FAILED"
    assert "more than 2 invocations (MAX_INVOCATIONS)" in result.item["error_message"]
    assert result.item["invocations"] == 2
    assert 0 < result.item["records_total"] < 700
    assert world.lambda_.queued == []


def test_an_invocation_that_reads_no_record_ends_the_chain_failed(world: World) -> None:
    data = gz(as_ndjson([record(0)]) + b"\n" * 3_000_000)

    result = world.process_in_segments("incoming/acme/blank.jsonl.gz", data, looks=1)

    assert result.status == "FAILED"
    assert result.item["error_message"].startswith("no record could be read in one invocation")
    assert result.item["invocations"] <= 2


def test_the_metadata_item_records_the_invocations_and_a_long_file_still_alarms_once(world: World) -> None:
    result = world.process_in_segments(KEY, as_csv(mixed(500)), looks=3)

    (document,) = emf_documents(result.stdout)
    assert document["invocations"] == result.item["invocations"] >= 3
    assert document["ProcessingSuccess"] == 1


class TakenOverAtCheckpoint:
    """DynamoDB where another invocation takes the claim over just before this one checkpoints."""

    def __init__(self, real: Any) -> None:
        self._real = real

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def update_item(self, **kwargs: Any) -> Any:
        if "#checkpoint = :state" in kwargs.get("UpdateExpression", ""):
            self._real.update_item(
                TableName=kwargs["TableName"],
                Key=kwargs["Key"],
                UpdateExpression="SET claim_token = :other",
                ExpressionAttributeValues={":other": {"S": "someone-else"}},
            )
        return self._real.update_item(**kwargs)


def test_an_invocation_whose_claim_was_taken_over_before_its_checkpoint_stops_without_queuing(world: World) -> None:
    meta = world.put(KEY, as_csv(mixed(300)))

    response = world.invoke(
        world.event((KEY, meta)),
        world.runtime(dynamodb=TakenOverAtCheckpoint(world.dynamodb)),
        ShortContext("req-1", looks=3),
    )

    assert response["files"][0]["status"] == "SUPERSEDED"
    assert world.lambda_.queued == []


@pytest.mark.parametrize("qualifier", [":live", ":7", ":$LATEST"])
def test_an_invocation_under_an_alias_or_version_continues_under_the_unqualified_function(
    world: World, qualifier: str
) -> None:
    meta = world.put(KEY, as_csv(mixed(300)))
    context = ShortContext("req-1", looks=3)
    context.invoked_function_arn = FUNCTION_ARN + qualifier

    response = world.invoke(world.event((KEY, meta)), context=context)

    assert response["files"][0]["status"] == "CONTINUED"
    assert len(world.lambda_.queued) == 1, "queued through the function's own ARN, which its role may invoke"
    world.drain()
    assert world.metadata(KEY)[0]["records_total"] == 300


def test_without_its_own_name_the_function_cannot_continue_and_says_so(world: World) -> None:
    meta = world.put(KEY, as_csv(mixed(300)))
    context = ShortContext("req-1", looks=3)
    context.invoked_function_arn = ""

    with pytest.raises(ProcessingError, match="own name is unknown"):
        world.invoke(world.event((KEY, meta)), context=context)


def test_an_outcome_whose_mark_cannot_be_cleared_is_still_out_and_logged(world: World) -> None:
    class NoMark:
        def __init__(self, real: Any) -> None:
            self._real = real

        def __getattr__(self, name: str) -> Any:
            return getattr(self._real, name)

        def update_item(self, **kwargs: Any) -> Any:
            if "REMOVE #outcome_pending" in kwargs.get("UpdateExpression", ""):
                raise ConnectionError("network gone")
            return self._real.update_item(**kwargs)

    result = world.process(KEY, as_csv(mixed(20)), runtime=world.runtime(dynamodb=NoMark(world.dynamodb)))

    assert len(emf_documents(result.stdout)) == 1 and len(world.events.entries) == 1
    assert any(line["message"] == "could not mark the outcome as emitted" for line in log_lines(result.stdout))
