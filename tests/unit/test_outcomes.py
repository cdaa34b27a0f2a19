"""What a finished file tells the world, once: the "Shipment File Processed" event and the metrics; and
deliberate new attempts on a finished version (after a fix), recorded as attempts, doubling nothing."""

from __future__ import annotations

from typing import Any

import pytest
from shipment_processor.handler import ProcessingError

from .support import (
    BUCKET,
    EVENT_TIME,
    Context,
    EventsRecorder,
    ShortContext,
    World,
    as_csv,
    emf_documents,
    log_lines,
    record,
    records,
)

KEY = "incoming/acme-logistics/day.csv"


def partial() -> bytes:
    return as_csv([record(1), record(2, status="LOST"), record(3)])


@pytest.mark.parametrize(
    ("region", "partition"),
    [("eu-west-1", "aws"), ("cn-north-1", "aws-cn"), ("us-gov-west-1", "aws-us-gov"), ("us-isob-east-1", "aws-iso-b")],
)
def test_the_events_resource_is_an_arn_of_the_functions_partition(world: World, region: str, partition: str) -> None:
    world.env["AWS_REGION"] = region

    world.process(KEY, partial())

    (entry,) = world.events.entries
    assert entry["Resources"] == [f"arn:{partition}:s3:::{BUCKET}/{KEY}"]


def test_each_finished_file_puts_one_event_on_the_default_bus(world: World) -> None:
    result = world.process(KEY, partial())

    (entry,) = world.events.entries
    assert entry["Source"] == "shipment-processing.dev"
    assert entry["DetailType"] == "Shipment File Processed"
    assert entry["Resources"] == [f"arn:aws:s3:::{BUCKET}/{KEY}"]
    assert "EventBusName" not in entry, "the default bus"
    (detail,) = world.events.details
    assert detail == {
        "event_id": detail["event_id"],
        "environment": "dev",
        "bucket": BUCKET,
        "key": KEY,
        "version_id": result.item["version_id"],
        "upload_timestamp": EVENT_TIME,
        "shipper": "acme-logistics",
        "outcome": "PARTIAL",
        "records_total": 3,
        "records_accepted": 2,
        "records_rejected": 1,
        "rejects_report": f"s3://{BUCKET}/{result.item['rejects_key']}",
        "error_message": None,
        "attempt": 1,
        "invocations": 1,
        "processing_duration_ms": result.item["processing_duration"],
        "profile": None,
        "profile_version": None,
    }


def test_the_event_source_follows_the_setting_and_events_can_be_switched_off(world: World) -> None:
    world.env["OUTCOME_EVENT_SOURCE"] = "acme.shipments"
    world.process(KEY, partial())
    world.env["OUTCOME_EVENTS"] = "off"
    world.process("incoming/acme-logistics/other.csv", partial())

    assert [entry["Source"] for entry in world.events.entries] == ["acme.shipments"]


def test_a_file_in_several_invocations_has_one_event(world: World) -> None:
    world.process_in_segments(KEY, as_csv(records(400)), looks=3)

    (detail,) = world.events.details
    assert detail["invocations"] >= 3 and detail["records_accepted"] == 400


class FlakyEvents(EventsRecorder):
    """EventBridge that refuses the first ``refusals`` events (as FailedEntryCount, not as an error)."""

    def __init__(self, refusals: int) -> None:
        super().__init__()
        self.refusals = refusals

    def put_events(self, *, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        if self.refusals:
            self.refusals -= 1
            return {"FailedEntryCount": 1, "Entries": [{"ErrorCode": "InternalFailure", "ErrorMessage": "try again"}]}
        return super().put_events(Entries=Entries)


def test_an_event_eventbridge_refuses_for_a_while_is_retried(world: World) -> None:
    world.events = FlakyEvents(refusals=2)

    result = world.process(KEY, partial())

    assert len(world.events.entries) == 1
    assert world.sleeps[:2] == [0.1, 0.2], "backoff between the attempts"
    assert "outcome_pending" not in result.item


def test_an_outcome_that_could_not_be_emitted_is_emitted_once_by_the_next_delivery(world: World) -> None:
    world.events = FlakyEvents(refusals=100)
    meta = world.put(KEY, partial())
    world.capsys.readouterr()

    with pytest.raises(ProcessingError, match="EventBridge refused"):
        world.invoke(world.event((KEY, meta)), context=Context("req-1"))
    (item,) = world.metadata(KEY)
    assert item["processing_status"] == "PARTIAL" and item["outcome_pending"] is True
    assert emf_documents(world.capsys.readouterr().out) == [], "no metrics before the event is out"

    world.events.refusals = 0
    retry = world.invoke(world.event((KEY, meta)), context=Context("req-1"))  # Lambda's retry
    later = world.invoke(world.event((KEY, meta)), context=Context("req-2"))  # S3 delivers it once more

    assert retry["files"][0]["status"] == "PARTIAL"
    assert later["files"][0]["status"] == "DUPLICATE"
    assert len(world.events.entries) == 1
    assert len(emf_documents(world.capsys.readouterr().out)) == 1
    assert "outcome_pending" not in world.metadata(KEY)[0]


def test_a_pending_outcome_is_left_to_its_live_holder(world: World) -> None:
    meta = world.put(KEY, partial())
    item_key = {"filename": {"S": KEY}, "upload_timestamp": {"S": EVENT_TIME}}
    world.invoke(world.event((KEY, meta)), context=Context("req-1"))
    world.events.entries.clear()
    world.dynamodb.update_item(  # as if req-1 were still between its final write and its emission
        TableName="shipment-metadata-dev",
        Key=item_key,
        UpdateExpression="SET outcome_pending = :t, claim_expires_at = :later",
        ExpressionAttributeValues={":t": {"BOOL": True}, ":later": {"N": "9999999999"}},
    )

    other = world.invoke(world.event((KEY, meta)), context=Context("req-2"))

    assert other["files"][0]["status"] == "DUPLICATE"
    assert world.events.entries == []


def test_a_pending_outcome_whose_holder_is_long_gone_is_emitted_by_the_next_delivery(world: World) -> None:
    world.events = FlakyEvents(refusals=100)
    meta = world.put(KEY, partial())
    with pytest.raises(ProcessingError):
        world.invoke(world.event((KEY, meta)), context=Context("req-1", remaining_ms=5_000))
    world.events.refusals = 0
    world.now = world.now.replace(hour=13)

    world.invoke(world.event((KEY, meta)), context=Context("req-7"))

    assert len(world.events.entries) == 1


def test_reprocessing_a_failed_version_after_a_fix_is_a_second_attempt(world: World) -> None:
    world.env["MAX_RECORDS"] = "2"
    first = world.process(KEY, as_csv(records(5)))
    assert first.status == "FAILED"
    world.env["MAX_RECORDS"] = "100"  # the fix
    world.capsys.readouterr()

    response = world.invoke({"reprocess": {"bucket": BUCKET, "key": KEY, "version_id": first.item["version_id"]}})
    again = world.observe(KEY, response, world.capsys.readouterr().out)

    assert response["files"][0]["status"] == "SUCCESS" and response["files"][0]["attempt"] == 2
    assert again.item["attempt"] == 2 and again.item["records_accepted"] == 5
    (earlier,) = again.item["previous_attempts"]
    assert earlier["attempt"] == 1 and earlier["processing_status"] == "FAILED" and earlier["records_total"] == 2
    assert len(emf_documents(again.stdout)) == 1, "the new attempt's metrics; the first attempt's are not repeated"
    assert [detail["attempt"] for detail in world.events.details] == [1, 2]
    assert len({detail["event_id"] for detail in world.events.details}) == 2


def test_reprocessing_rewrites_the_updates_harmlessly(world: World) -> None:
    first = world.process(KEY, partial())
    response = world.invoke({"reprocess": {"bucket": BUCKET, "key": KEY, "version_id": first.item["version_id"]}})

    again = world.observe(KEY, response)
    assert len(again.events) == len(first.events) == 2
    assert again.rejects == first.rejects


def test_reprocessing_a_version_still_being_processed_changes_nothing(world: World) -> None:
    meta = world.put(KEY, as_csv(records(300)))
    world.invoke(world.event((KEY, meta)), context=ShortContext("req-1", looks=3))

    request = {"reprocess": {"bucket": BUCKET, "key": KEY, "version_id": meta["versionId"]}}
    response = world.invoke(request, context=Context("req-ops"))

    assert response["files"][0]["status"] == "IN_PROGRESS"
    world.drain()
    assert world.observe(KEY).item["attempt"] == 1


def test_a_late_duplicate_of_a_continuation_after_a_reprocess_changes_nothing(world: World) -> None:
    meta = world.put(KEY, as_csv(records(300)))
    world.invoke(world.event((KEY, meta)), context=ShortContext("req-1", looks=3))
    stale = world.lambda_.queued.pop()
    world.invoke(stale, context=Context("req-c2"))  # the chain finishes
    item = world.metadata(KEY)[0]
    world.invoke({"reprocess": {"bucket": BUCKET, "key": KEY, "upload_timestamp": item["upload_timestamp"]}})

    response = world.invoke(stale, context=Context("req-c3"))

    assert response["files"][0]["status"] == "DUPLICATE"
    assert world.observe(KEY).item["attempt"] == 2


def test_reprocessing_an_unknown_version_fails_the_request_with_a_reason(world: World) -> None:
    with pytest.raises(ProcessingError, match="no metadata item"):
        world.invoke({"reprocess": {"bucket": BUCKET, "key": KEY, "version_id": "nope"}})
    assert any("no metadata item" in line.get("error", "") for line in log_lines(world.capsys.readouterr().out))


def test_a_continuation_for_an_item_that_does_not_exist_is_ignored(world: World) -> None:
    payload = {"continuation": {"bucket": BUCKET, "key": KEY, "upload_timestamp": EVENT_TIME, "attempt": 1,
                                "segment": 2, "handoff_token": "forged"}}  # fmt: skip
    response = world.invoke(payload)

    assert response["files"][0]["status"] == "SUPERSEDED"
    assert world.metadata(KEY) == []
