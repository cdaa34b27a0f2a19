"""At-least-once delivery: duplicates change nothing, crashes are finished by the retry, versions stay apart."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from botocore.exceptions import EndpointConnectionError
from shipment_processor.handler import ProcessingError

from .support import (
    EVENT_TIME,
    Context,
    FaultyDynamoDB,
    World,
    as_csv,
    emf_documents,
    log_lines,
    record,
    records,
)

KEY = "incoming/acme/shipments.csv"


class SimulatedCrash(BaseException):
    """The process dies (timeout, out of memory): no handler code runs after it, the claim stays in place."""


def mixed_file(count: int = 300) -> bytes:
    rows = [record(n, status="LOST") if n % 10 == 3 else record(n) for n in range(count)]
    return as_csv(rows)


def content(events: list[dict[str, Any]]) -> set[tuple[tuple[str, Any], ...]]:
    """What an update says, without where it came from."""
    ignored = {"source_file", "source_version"}
    return {tuple(sorted((k, v) for k, v in event.items() if k not in ignored)) for event in events}


def deliver(world: World, meta: dict[str, Any], *, request_id: str, runtime: Any = None, **kwargs: Any) -> Any:
    return world.invoke(world.event((KEY, meta), **kwargs), runtime, Context(aws_request_id=request_id))


def test_second_delivery_of_a_processed_version_changes_nothing(world: World) -> None:
    first = world.process(KEY, mixed_file(40))

    world.capsys.readouterr()
    response = deliver(world, {"versionId": first.item["version_id"]}, request_id="req-2")
    stdout = world.capsys.readouterr().out
    again = world.observe(KEY)

    assert response["files"][0]["status"] == "DUPLICATE"
    assert again.item == first.item
    assert content(again.events) == content(first.events)
    assert again.rejects == first.rejects
    assert emf_documents(stdout) == [], "a duplicate is not a second file in the metrics"
    assert any(line["message"].startswith("duplicate delivery ignored") for line in log_lines(stdout))


def test_redelivery_of_a_failed_file_is_also_a_duplicate(world: World) -> None:
    failed = world.process(KEY, b"")

    response = deliver(world, {"versionId": failed.item["version_id"]}, request_id="req-2")

    assert failed.status == "FAILED"
    assert response["files"][0]["status"] == "DUPLICATE"
    assert world.observe(KEY).item == failed.item


def test_same_version_announced_with_another_event_time_is_still_one_item(world: World) -> None:
    first = world.process(KEY, mixed_file(20))

    response = deliver(
        world, {"versionId": first.item["version_id"]}, request_id="replay", event_time="2026-03-01T13:00:00.000Z"
    )

    assert response["files"][0]["status"] == "DUPLICATE"
    assert response["files"][0]["upload_timestamp"] == EVENT_TIME
    assert world.metadata(KEY) == [first.item]


def test_a_new_version_of_the_same_key_gets_its_own_item(world: World) -> None:
    first = world.process(KEY, as_csv(records(3, prefix="V1")))
    second = world.process(KEY, as_csv(records(5, prefix="V2")), event_time="2026-03-01T12:30:00.000Z")

    items = {item["upload_timestamp"]: item for item in world.metadata(KEY)}
    assert set(items) == {EVENT_TIME, "2026-03-01T12:30:00.000Z"}
    assert items[EVENT_TIME]["records_total"] == 3
    assert items["2026-03-01T12:30:00.000Z"]["records_total"] == 5
    assert first.item["version_id"] != second.item["version_id"]
    assert {e["source_version"] for e in world.events_for(KEY) if e["shipment_id"].startswith("V2")} == {
        second.item["version_id"]
    }


def test_unversioned_bucket_tells_writes_apart_by_their_sequencer(world: World) -> None:
    world.s3.create_bucket(Bucket="plain-bucket", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})

    def deliver_plain(data: bytes, event_time: str, request_id: str, sequencer: str) -> dict[str, Any]:
        put = world.s3.put_object(Bucket="plain-bucket", Key=KEY, Body=data)
        meta = {"size": len(data), "eTag": put["ETag"].strip('"'), "sequencer": sequencer}
        event = world.event((KEY, meta), event_time=event_time)
        event["Records"][0]["s3"]["bucket"]["name"] = "plain-bucket"
        return world.invoke(event, context=Context(aws_request_id=request_id))

    first = deliver_plain(as_csv(records(2)), EVENT_TIME, "req-1", "0055AED6DCD90281E5")
    duplicate = deliver_plain(as_csv(records(2)), EVENT_TIME, "req-2", "0055AED6DCD90281E5")
    overwrite = deliver_plain(as_csv(records(4)), "2026-03-01T12:10:00.000Z", "req-3", "0055AED6DCD90281F0")

    assert [r["files"][0]["status"] for r in (first, duplicate, overwrite)] == ["SUCCESS", "DUPLICATE", "SUCCESS"]
    items = world.metadata(KEY)
    assert [(i["version_id"], i["records_total"]) for i in items] == [("null", 2), ("null", 4)]
    assert len(world.events_for(KEY)) == 4, "the overwrite re-stated the first two updates and added two"


def test_retry_after_a_failure_mid_file_ends_exactly_like_an_uninterrupted_run(world: World) -> None:
    data = mixed_file(300)
    control = world.process("incoming/acme/control.csv", data)
    meta = world.put(KEY, data)
    crashing = FaultyDynamoDB(
        world.dynamodb, fail_after=4, error=EndpointConnectionError(endpoint_url="https://dynamodb")
    )

    with pytest.raises(ProcessingError, match="Could not connect to the endpoint URL"):
        deliver(world, meta, request_id="attempt-1", runtime=world.runtime(dynamodb=crashing))
    interrupted = world.metadata(KEY)[0]
    assert interrupted["processing_status"] == "PROCESSING"
    assert interrupted["claim_expires_at"] == 0, "a failing attempt releases its claim for the retry"
    assert 0 < len(world.events_for(KEY)) < control.item["records_accepted"]

    deliver(world, meta, request_id="attempt-2")
    retried = world.observe(KEY)

    assert retried.status == control.status == "PARTIAL"
    for count in ("records_total", "records_accepted", "records_rejected"):
        assert retried.item[count] == control.item[count]
    assert content(retried.events) == content(control.events)
    assert retried.rejects == control.rejects


def crash_mid_file(world: World) -> dict[str, Any]:
    meta = world.put(KEY, mixed_file(300))
    dying = FaultyDynamoDB(world.dynamodb, fail_after=3, error=SimulatedCrash())
    with pytest.raises(SimulatedCrash):
        deliver(world, meta, request_id="attempt-1", runtime=world.runtime(dynamodb=dying))
    return meta


def test_claim_of_a_crashed_attempt_blocks_other_deliveries_until_it_expires(world: World) -> None:
    meta = crash_mid_file(world)
    claim = world.metadata(KEY)[0]

    response = deliver(world, meta, request_id="s3-duplicate")

    assert response["files"][0]["status"] == "IN_PROGRESS"
    assert world.metadata(KEY) == [claim]
    assert claim["claim_expires_at"] == int(world.now.timestamp()) + 300 + 5, "remaining time + grace"


def test_lambda_retry_of_the_crashed_request_takes_its_claim_over_at_once(world: World) -> None:
    meta = crash_mid_file(world)

    response = deliver(world, meta, request_id="attempt-1")

    assert response["files"][0]["status"] == "PARTIAL"
    assert world.observe(KEY).item["records_total"] == 300


def test_stale_claim_is_taken_over_after_the_claimers_deadline(world: World) -> None:
    meta = crash_mid_file(world)
    world.now += timedelta(seconds=306)

    response = deliver(world, meta, request_id="much-later")

    assert response["files"][0]["status"] == "PARTIAL"
    assert world.observe(KEY).item["request_id"] == "much-later"


def test_without_a_lambda_context_the_claim_lasts_claim_timeout(world: World) -> None:
    world.env["CLAIM_TIMEOUT_S"] = "60"
    meta = world.put(KEY, mixed_file(10))
    dying = FaultyDynamoDB(world.dynamodb, fail_after=0, error=SimulatedCrash())

    with pytest.raises(SimulatedCrash):
        world.invoke(world.event((KEY, meta)), world.runtime(dynamodb=dying), context=object())  # type: ignore[arg-type]

    assert world.metadata(KEY)[0]["claim_expires_at"] == int(world.now.timestamp()) + 60 + 5


def test_an_attempt_whose_claim_was_taken_over_discards_its_result(world: World) -> None:
    meta = world.put(KEY, mixed_file(60))

    def another_invocation_takes_over(call: int) -> None:
        if call == 1:
            world.dynamodb.update_item(
                TableName="shipment-metadata-dev",
                Key={"filename": {"S": KEY}, "upload_timestamp": {"S": EVENT_TIME}},
                UpdateExpression="SET claim_token = :t, claim_owner = :o",
                ExpressionAttributeValues={":t": {"S": "someone-else"}, ":o": {"S": "req-other"}},
            )

    slow = FaultyDynamoDB(world.dynamodb, before_call=another_invocation_takes_over)
    world.capsys.readouterr()
    response = deliver(world, meta, request_id="req-slow", runtime=world.runtime(dynamodb=slow))

    assert response["files"][0]["status"] == "SUPERSEDED"
    assert world.metadata(KEY)[0]["claim_owner"] == "req-other", "the new claimer's item is left alone"
    assert emf_documents(world.capsys.readouterr().out) == []
