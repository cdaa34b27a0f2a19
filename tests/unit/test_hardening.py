"""What AWS does that moto does not, and what a hostile shipper sends: lost responses, racing deliveries,
DynamoDB's 400 KB items, S3's 1,024-byte keys, versions that share an event time or arrive out of order,
and unversioned keys overwritten before their event is processed."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest

from .support import (
    BUCKET,
    EVENT_TIME,
    Context,
    S3Limits,
    World,
    as_csv,
    as_ndjson,
    emf_documents,
    record,
    records,
    responses_lost,
)

KEY = "incoming/acme/day.csv"
FINAL = {"SUCCESS", "PARTIAL", "FAILED"}


def partial_file(count: int = 300) -> bytes:
    return as_csv([record(n, status="LOST") if n % 10 == 3 else record(n) for n in range(count)])


def _status(body: dict[str, Any]) -> str:
    return str(body.get("Item", {}).get("processing_status", {}).get("S", ""))


WRITES: dict[str, tuple[str, Callable[[dict[str, Any]], bool]]] = {
    "version record": ("PutItem", lambda b: "item_type" in b.get("Item", {})),
    "claim": ("PutItem", lambda b: _status(b) == "PROCESSING"),
    "checkpoint": ("UpdateItem", lambda b: "#checkpoint = :state" in b.get("UpdateExpression", "")),
    "continuation claim": ("UpdateItem", lambda b: "#invocations = #invocations" in b.get("UpdateExpression", "")),
    "final": ("PutItem", lambda b: _status(b) in FINAL),
    "outcome mark": ("UpdateItem", lambda b: "REMOVE #outcome_pending" in b.get("UpdateExpression", "")),
    "batch write": ("BatchWriteItem", lambda b: True),
}


@pytest.mark.parametrize("write", list(WRITES))
def test_a_write_applied_but_its_response_lost_is_recognised_and_nothing_changes(world: World, write: str) -> None:
    control = world.process("incoming/control/day.csv", partial_file())
    operation, matches = WRITES[write]

    with responses_lost(world.dynamodb, operation, matches) as resent:
        result = world.process_in_segments(KEY, partial_file(), looks=3)

    assert resent, f"the {write} was sent again"
    assert result.status == control.status == "PARTIAL"
    for name in ("records_total", "records_accepted", "records_rejected"):
        assert result.item[name] == control.item[name]
    assert len(emf_documents(result.stdout)) == 1, "one metrics document, not none and not two"
    assert "outcome_pending" not in result.item
    assert len(world.events.entries) == 2, "one outcome event for the control file and one for this one"


def test_the_final_write_sent_twice_in_one_invocation_still_reports_the_outcome(world: World) -> None:
    with responses_lost(world.dynamodb, "PutItem", lambda b: _status(b) in FINAL):
        result = world.process(KEY, partial_file(40))

    assert result.response["files"][0]["status"] == "PARTIAL"
    assert emf_documents(result.stdout)[0]["ProcessingSuccess"] == 1


def test_a_rejects_report_upload_whose_response_was_lost_is_one_report(world: World) -> None:
    with responses_lost(world.s3, "PutObject") as resent:
        result = world.process(KEY, partial_file(40))

    assert resent
    assert len(result.rejects) == result.item["records_rejected"] == 4


class Serialised:
    """A DynamoDB client that applies one request at a time, as DynamoDB applies writes to one item; every
    thread's first request waits until all threads have reached it, so they race from the same state."""

    def __init__(self, real: Any, parties: int) -> None:
        self._real = real
        self._lock = threading.Lock()
        self._barrier = threading.Barrier(parties, timeout=20)
        self._started = threading.local()

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._real, name)
        if not callable(method) or name.startswith("get_paginator"):
            return method

        def serialised(**kwargs: Any) -> Any:
            if not getattr(self._started, "done", False):
                self._started.done = True
                self._barrier.wait()
            with self._lock:
                return method(**kwargs)

        return serialised


def test_two_deliveries_of_one_version_at_once_with_different_event_times_record_it_once(world: World) -> None:
    meta = world.put(KEY, partial_file(200))
    dynamodb = Serialised(world.dynamodb, parties=2)
    responses: dict[str, Any] = {}
    world.capsys.readouterr()

    def deliver(request_id: str, event_time: str) -> None:
        runtime = world.runtime(dynamodb=dynamodb)
        responses[request_id] = world.invoke(world.event((KEY, meta), event_time=event_time), runtime,
                                             Context(request_id))  # fmt: skip

    threads = [
        threading.Thread(target=deliver, args=("req-a", EVENT_TIME)),
        threading.Thread(target=deliver, args=("req-b", "2026-03-01T11:59:59.500Z")),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    statuses = sorted(response["files"][0]["status"] for response in responses.values())
    assert statuses in (["DUPLICATE", "PARTIAL"], ["IN_PROGRESS", "PARTIAL"])
    (item,) = world.metadata(KEY)
    assert item["records_total"] == 200
    assert len(emf_documents(world.capsys.readouterr().out)) == 1, "one version, one metrics document"
    assert len(world.events.entries) == 1


def test_a_record_with_thousands_of_bad_fields_still_lets_the_file_finish(world: World) -> None:
    bad = {f"field_{n:04d}": {"nested": n} for n in range(1500)}  # every one "must be text"
    rows = [record(n, **bad) for n in range(25)] + [record(99)]

    result = world.process("incoming/acme/wide.jsonl", as_ndjson(rows))

    assert result.status == "PARTIAL"
    assert result.item["records_rejected"] == 25
    assert all(len(line["reason"].encode()) <= 2048 and line["reason"].endswith("…") for line in result.rejects)
    assert all(len(sample.encode()) <= 512 for sample in result.item["error_samples"])


def test_a_wide_header_with_rows_of_the_wrong_width_still_lets_the_file_finish(world: World) -> None:
    names = ["shipment_id", "status", "timestamp", *(f"a_rather_long_column_name_number_{n:04d}" for n in range(600))]
    body = ",".join(names) + "\n" + "".join(f"SHP-{n},CREATED,2026-03-01T10:00:00Z\n" for n in range(40))

    result = world.process("incoming/acme/wide.csv", body.encode())

    assert result.status == "FAILED"
    assert result.item["records_rejected"] == 40
    assert result.item["error_message"] == "none of the 40 records is valid; see the rejects report"


def test_a_key_near_s3s_limit_gets_a_rejects_report_key_that_fits_and_is_on_the_item(world: World) -> None:
    key = "incoming/acme/" + "x" * (1000 - len("incoming/acme/")) + ".csv"
    assert len(key.encode()) == 1004

    result = world.process(key, as_csv([record(1), record(2, status="LOST")]))

    assert result.status == "PARTIAL"
    report_key = result.item["rejects_key"]
    assert len(report_key.encode()) <= 1024
    assert report_key.startswith("rejected/incoming/acme/xxx") and report_key.endswith(".errors.jsonl")
    assert len(result.rejects) == 1


def test_a_multibyte_key_at_s3s_limit_is_cut_on_a_character_boundary(world: World) -> None:
    key = "incoming/acme/" + "ü" * 500  # 1,014 bytes
    result = world.process(key, as_csv([record(1), record(2, status="LOST")]))

    report_key = result.item["rejects_key"]
    assert len(report_key.encode()) <= 1024
    assert "\ufffd" not in report_key


def test_two_versions_of_one_key_with_the_same_event_time_are_both_processed(world: World) -> None:
    first = world.put(KEY, as_csv(records(3, "ONE")))
    second = world.put(KEY, as_csv(records(5, "TWO")))

    responses = [world.invoke(world.event((KEY, meta)), context=Context(f"req-{n}"))
                 for n, meta in enumerate((first, second))]  # fmt: skip

    assert [r["files"][0]["status"] for r in responses] == ["SUCCESS", "SUCCESS"]
    items = sorted(world.metadata(KEY), key=lambda i: i["records_total"])
    assert [(i["version_id"], i["records_total"]) for i in items] == [(first["versionId"], 3), (second["versionId"], 5)]
    assert items[0]["upload_timestamp"] != items[1]["upload_timestamp"]


def test_each_version_leads_to_its_own_rejects_report_even_when_events_arrive_out_of_order(world: World) -> None:
    older = world.put(KEY, as_csv([record(1, status="LOST"), record(2)]))
    newer = world.put(KEY, as_csv([record(1, status="LOST"), record(2, status="LOST"), record(3)]))

    world.invoke(world.event((KEY, newer), event_time="2026-03-01T12:00:05.000Z"), context=Context("req-2"))
    world.invoke(world.event((KEY, older), event_time=EVENT_TIME), context=Context("req-1"))

    by_version = {item["version_id"]: item for item in world.metadata(KEY)}
    assert len(world.report(by_version[newer["versionId"]]["rejects_key"])) == 2
    assert len(world.report(by_version[older["versionId"]]["rejects_key"])) == 1
    head = world.s3.head_object(Bucket=BUCKET, Key=by_version[newer["versionId"]]["rejects_key"])
    assert head["Metadata"]["source-version"] == newer["versionId"]


def test_an_unversioned_key_overwritten_before_its_event_is_processed_is_recorded_superseded(world: World) -> None:
    world.s3.create_bucket(Bucket="plain-bucket", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    first = world.s3.put_object(Bucket="plain-bucket", Key=KEY, Body=as_csv(records(2)))
    second = world.s3.put_object(Bucket="plain-bucket", Key=KEY, Body=as_csv(records(4)))

    def event(put: dict[str, Any], sequencer: str, event_time: str) -> dict[str, Any]:
        meta = {"eTag": put["ETag"].strip('"'), "sequencer": sequencer}
        built = world.event((KEY, meta), event_time=event_time)
        built["Records"][0]["s3"]["bucket"]["name"] = "plain-bucket"
        return built

    late = world.invoke(event(first, "0055AED6DCD90281E5", EVENT_TIME), context=Context("req-1"))
    latest = world.invoke(event(second, "0055AED6DCD90281F0", "2026-03-01T12:00:01.000Z"), context=Context("req-2"))

    assert late["files"][0]["status"] == "SUPERSEDED"
    assert latest["files"][0]["status"] == "SUCCESS"
    items = {i["upload_timestamp"]: i for i in world.metadata(KEY)}
    assert "overwritten" in items[EVENT_TIME]["error_message"]
    assert items["2026-03-01T12:00:01.000Z"]["records_total"] == 4
    assert world.events.details[0]["outcome"] == "SUPERSEDED"


def test_the_s3_limits_of_the_test_world_are_aws_limits(world: World) -> None:
    with pytest.raises(Exception, match="KeyTooLongError"):
        S3Limits(world.s3).put_object(Bucket=BUCKET, Key="k" * 1025, Body=b"")
