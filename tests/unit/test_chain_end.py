"""A chain's end is a commit point: whatever fails or is killed in the last invocation of a file, Lambda's retries
finish it exactly.

The last invocation closes the rejects report (a PUT, or the completion of a multipart upload carried across
invocations), writes the final metadata item, deletes the temporary report objects, then publishes the outcome
event and the metrics document and clears the item's pending mark. These tests stop that invocation at each of its
AWS calls in turn, three ways:

* ``fail``: the call answers an error that survives the SDK's retries; the handler releases its claim and fails;
* ``kill``: the process dies as the call is made (the request never leaves): a timeout, an out-of-memory kill;
* ``lost``: the call is carried out and the process dies before it hears the answer.

Each time, Lambda's retries (the same request id, as Lambda retries an asynchronous invocation) must finish the file
with the counts of an undisturbed run, one rejects report (one S3 version), one metrics document and one outcome
event. The one exception is named where it is asserted: an outcome that was published by a process that then died
before it could record so is published again (EventBridge and CloudWatch Logs have no idempotent write), with the same
``event_id`` so that a consumer can drop the copy.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError
from shipment_processor.aws.clients import Backoff
from shipment_processor.handler import ProcessingError, Runtime
from shipment_processor.store import Store

from .support import (
    BUCKET,
    EVENT_TIME,
    NOW,
    AtTheFinalWrite,
    Context,
    FaultyDynamoDB,
    S3Limits,
    ShortContext,
    World,
    as_csv,
    as_ndjson,
    emf_documents,
    mocked_world,
    record,
)

KEY = "incoming/acme/last step.csv"
SPILLS = "rejected/.partial/"


class Killed(BaseException):
    """The process ends here: no handler code runs after it, and the claim stays as it was."""


@dataclass
class CallFaults:
    """Counts the AWS calls made through the clients it wraps, and breaks call number ``at`` in the way ``how``
    says (see the module docstring)."""

    at: int | None = None
    how: str = "fail"
    calls: list[str] = field(default_factory=list)

    def wrap(self, service: str, client: Any) -> Any:
        return _Counted(self, service, client)

    def call(self, name: str, method: Callable[..., Any], kwargs: dict[str, Any]) -> Any:
        number = len(self.calls)
        self.calls.append(name)
        if number == self.at and self.how == "kill":
            raise Killed(name)
        if number == self.at and self.how == "fail":
            error = {"Error": {"Code": "InternalError", "Message": f"injected failure of {name}"}}
            raise ClientError(error, name.partition(".")[2])
        result = method(**kwargs)
        if number == self.at and self.how == "lost":
            raise Killed(name)
        return result


class _Counted:
    def __init__(self, faults: CallFaults, service: str, client: Any) -> None:
        self._faults, self._service, self._client = faults, service, client

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._client, name)
        if name.startswith("_") or name in ("meta", "exceptions") or not callable(method):
            return method
        return lambda **kwargs: self._faults.call(f"{self._service}.{name}", method, kwargs)


@dataclass(frozen=True)
class Case:
    name: str
    key: str
    data: bytes
    looks: int
    part_bytes: int | None = None


def small_report_file() -> Case:
    rows = [record(n, status="LOST") if n % 7 == 3 else record(n) for n in range(400)]
    return Case("small report", KEY, as_csv(rows), looks=3)


def multipart_report_file() -> Case:
    """Rejected records of ~1 KB: the report passes S3's 5 MiB part minimum, and its last part is uploaded and the
    upload completed by the chain's last invocation."""
    rows = [record(n, status="LOST", notes="n" * 950) for n in range(6_200)] + [record(99_999)]
    return Case("multipart report", "incoming/acme/bad day.jsonl", as_ndjson(rows), looks=40, part_bytes=5 << 20)


def runtime(world: World, faults: CallFaults | None = None, part_bytes: int | None = None) -> Runtime:
    """A cold start whose four clients go through ``faults`` (when given)."""
    clients = {"s3": S3Limits(world.s3), "dynamodb": world.dynamodb, "lambda": world.lambda_, "events": world.events}
    if faults is not None:
        clients = {service: faults.wrap(service, client) for service, client in clients.items()}
    settings = world.settings()
    store = Store(
        settings,
        clients=clients,
        backoff=Backoff(sleep=world.sleeps.append),
        **({"report_part_bytes": part_bytes} if part_bytes else {}),
    )
    return Runtime.create(settings, store=store, clock=lambda: world.now)


@dataclass(frozen=True)
class Undisturbed:
    """The chain of ``case`` when nothing goes wrong: its length, its final counts, the last invocation's calls."""

    length: int
    item: dict[str, Any]
    calls: list[str]


def undisturbed(capsys: pytest.CaptureFixture[str], case: Case) -> Undisturbed:
    with mocked_world(capsys) as world:
        world.process_in_segments(case.key, case.data, looks=case.looks, runtime=runtime(world, None, case.part_bytes))
        (item,) = world.metadata(case.key)
    with mocked_world(capsys) as world:
        payload = last_invocation(world, case, int(item["invocations"]))
        faults = CallFaults()
        finish_with_retries(world, case, payload, faults)
        return Undisturbed(int(item["invocations"]), item, faults.calls)


def last_invocation(world: World, case: Case, length: int) -> dict[str, Any]:
    """Run the file's chain up to its last invocation; return that invocation's payload (the last continuation).
    The segments end after the same number of looks at the clock as in the undisturbed chain, so the two chains
    are cut alike."""
    meta = world.put(case.key, case.data)
    plain = runtime(world, part_bytes=case.part_bytes)
    payload: dict[str, Any] = world.event((case.key, meta))
    for number in range(1, length):
        world.invoke(payload, plain, ShortContext(f"req-{number}", looks=case.looks))
        (payload,) = world.lambda_.queued
        world.lambda_.queued.clear()
    return payload


def finish_with_retries(world: World, case: Case, payload: dict[str, Any], faults: CallFaults) -> str:
    """The last invocation with ``faults``, then Lambda's retries (the same request id; a new process after a kill)
    until one succeeds, two at most. Returns everything printed from the last invocation on."""
    world.capsys.readouterr()
    try:
        world.invoke(payload, runtime(world, faults, case.part_bytes), Context("req-last"))
    except (Killed, ProcessingError):
        world.invoke(payload, runtime(world, part_bytes=case.part_bytes), Context("req-last"))
    assert world.lambda_.queued == [], "the last invocation queued another one"
    return world.capsys.readouterr().out


# What a retry cannot avoid publishing again: the outcome went out, and the process died before clearing the
# item's pending mark (the "lost" answer of the event, or the death at the mark itself).
REPUBLISHED = {
    ("lost", "events.put_events"),
    ("kill", "dynamodb.update_item#mark"),
    ("lost", "dynamodb.update_item#mark"),
}
CASES = {case.name: case for case in (small_report_file(), multipart_report_file())}


@pytest.mark.parametrize("how", ["fail", "kill", "lost"])
@pytest.mark.parametrize("case", list(CASES.values()), ids=list(CASES))
def test_a_failure_at_any_call_of_a_chains_last_invocation_is_finished_exactly_by_lambdas_retry(
    unit_env: None, capsys: pytest.CaptureFixture[str], case: Case, how: str
) -> None:
    control = undisturbed(capsys, case)
    calls = control.calls
    assert control.length >= 3, "the case must be a chain of several invocations"
    assert "dynamodb.put_item" in calls and "events.put_events" in calls
    if case.part_bytes:
        assert "s3.complete_multipart_upload" in calls and "s3.get_object" in calls
    else:
        assert "s3.put_object" in calls
    for at, name in enumerate(calls):
        with mocked_world(capsys) as world:
            payload = last_invocation(world, case, control.length)
            stdout = finish_with_retries(world, case, payload, CallFaults(at, how))

            result = world.observe(case.key, stdout=stdout, upload_timestamp=EVENT_TIME)
            where = f"{how} at call {at} ({name})"
            for field_name in ("processing_status", "records_total", "records_accepted", "records_rejected"):
                assert result.item[field_name] == control.item[field_name], where
            mark = name == "dynamodb.update_item" and calls[at:].count("dynamodb.update_item") == 1
            assert "checkpoint" not in result.item, where
            if not (mark and how == "fail"):  # a mark that cannot be cleared is logged; the outcome is out
                assert "outcome_pending" not in result.item, where
            versions = world.s3.list_object_versions(Bucket=BUCKET, Prefix=result.item["rejects_key"])
            assert len(versions.get("Versions", [])) == 1, f"{where}: one rejects report, written once"
            assert versions["Versions"][0]["VersionId"] == result.item["rejects_version_id"], where
            outcome_events = [d for d in world.events.details if d["key"] == case.key]
            documents = emf_documents(stdout)
            if (how, f"{name}#mark" if mark else name) in REPUBLISHED:
                assert len(outcome_events) <= 2 and len(documents) <= 2, where
                assert len({d["event_id"] for d in outcome_events}) == 1, f"{where}: one outcome, maybe twice"
            else:
                assert len(outcome_events) == 1, f"{where}: one outcome event"
                assert len(documents) == 1, f"{where}: one metrics document"
            spills = world.s3.list_objects_v2(Bucket=BUCKET, Prefix=SPILLS).get("KeyCount", 0)
            final_write = calls.index("dynamodb.put_item")
            if at < final_write or (at == final_write and how != "lost"):
                assert spills == 0, f"{where}: the temporary report objects are gone"
            else:  # the final item was written: what is left below rejected/.partial/ expires by the lifecycle rule
                assert spills <= 2, where  # the last checkpoint's and the sealed end's


# --- endings other than the end of the file ----------------------------------------------------------------------


def rows_with_rejects(count: int) -> list[dict[str, Any]]:
    return [record(n, status="LOST") if n % 8 == 1 else record(n) for n in range(count)]


def test_a_version_deleted_mid_chain_ends_failed_with_the_report_of_what_was_read(world: World) -> None:
    meta = world.put(KEY, as_csv(rows_with_rejects(400)))
    world.invoke(world.event((KEY, meta)), context=ShortContext("req-1", looks=3))
    world.s3.delete_object(Bucket=BUCKET, Key=KEY, VersionId=meta["versionId"])

    world.drain()

    result = world.observe(KEY)
    assert result.status == "FAILED" and "no longer exists" in result.item["error_message"]
    assert 0 < result.item["records_rejected"] == len(result.rejects), "every rejected record read is reported"
    (detail,) = world.events.details
    assert detail["rejects_report"] == f"s3://{BUCKET}/{result.item['rejects_key']}"
    assert world.s3.list_objects_v2(Bucket=BUCKET, Prefix=SPILLS).get("KeyCount", 0) == 0


def test_an_unversioned_upload_overwritten_mid_chain_keeps_the_report_of_its_segments(world: World) -> None:
    plain = "plain-bucket"
    world.s3.create_bucket(Bucket=plain, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    data = as_csv(rows_with_rejects(400))
    put = world.s3.put_object(Bucket=plain, Key=KEY, Body=data)
    event = world.event((KEY, {"size": len(data), "eTag": put["ETag"].strip('"'), "sequencer": "0055AED6DCD90281E5"}))
    event["Records"][0]["s3"]["bucket"]["name"] = plain
    world.invoke(event, context=ShortContext("req-1", looks=3))
    world.s3.put_object(Bucket=plain, Key=KEY, Body=as_csv(rows_with_rejects(3)))  # the next upload of the key

    world.drain()

    (item,) = world.metadata(KEY)
    assert item["processing_status"] == "SUPERSEDED" and item["records_rejected"] > 0
    report = world.s3.get_object(Bucket=plain, Key=item["rejects_key"])["Body"].read().decode().splitlines()
    assert len(report) == item["records_rejected"]
    (detail,) = world.events.details
    assert detail["rejects_report"] == f"s3://{plain}/{item['rejects_key']}"


# --- a stuck version has a way out ---------------------------------------------------------------------------------


def test_a_reprocess_whose_invocation_failed_is_finished_by_lambdas_retry(world: World) -> None:
    first = world.process(KEY, as_csv(rows_with_rejects(300)))
    request = {"reprocess": {"bucket": BUCKET, "key": KEY, "version_id": first.item["version_id"]}}
    broken = world.runtime(dynamodb=FaultyDynamoDB(world.dynamodb, fail_after=1, error=RuntimeError("boom")))
    with pytest.raises(ProcessingError, match="boom"):
        world.invoke(request, broken, Context("req-ops"))

    response = world.invoke(request, world.runtime(), Context("req-ops"))  # Lambda's retry: the same request id

    (report,) = response["files"]
    assert report["status"] == "PARTIAL" and report["attempt"] == 2
    again = world.observe(KEY)
    assert again.item["records_total"] == 300 and again.item["last_error"] == "RuntimeError('boom')"


def test_a_reprocess_left_processing_is_resumed_by_a_later_request(world: World) -> None:
    first = world.process(KEY, as_csv(rows_with_rejects(300)))
    request = {"reprocess": {"bucket": BUCKET, "key": KEY, "version_id": first.item["version_id"]}}
    with pytest.raises(Killed):  # the reprocess dies; Lambda's retries die the same way
        world.invoke(request, world.runtime(dynamodb=FaultyDynamoDB(world.dynamodb, fail_after=1, error=Killed())),
                     Context("req-ops"))  # fmt: skip
    assert world.invoke(request, world.runtime(), Context("req-ops-2"))["files"][0]["status"] == "IN_PROGRESS"
    world.now += timedelta(hours=1)  # the claim is stale

    response = world.invoke(request, world.runtime(), Context("req-ops-3"))

    assert response["files"][0]["status"] == "PARTIAL"
    again = world.observe(KEY)
    assert again.item["attempt"] == 2 and again.item["records_total"] == 300
    assert again.item["last_interruption"].startswith("an operator resumed it")


def test_a_suspended_versioning_buckets_null_version_is_told_apart_by_its_sequencer(world: World) -> None:
    world.s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Suspended"})
    # S3 gives every new object of a suspended bucket the version id "null", and its events carry it (moto's own
    # answer leaves the version id out; the local AWS's events carry "null" as S3's do).
    first = {**world.put(KEY, as_csv(rows_with_rejects(3))), "versionId": "null"}
    world.invoke(world.event((KEY, first)), context=Context("req-1"))
    second = {**world.put(KEY, as_csv(rows_with_rejects(5))), "versionId": "null"}  # replaces the "null" version

    response = world.invoke(world.event((KEY, second), event_time="2026-03-01T12:05:00.000Z"), context=Context("req-2"))

    assert response["files"][0]["status"] == "PARTIAL", "the overwrite is a new upload, not a duplicate"
    items = world.metadata(KEY)
    assert sorted(i["records_total"] for i in items) == [3, 5]
    assert {i["identity"] for i in items} == {f"s:{first['sequencer']}", f"s:{second['sequencer']}"}


# --- a retry ends where the first try ended ------------------------------------------------------------------------


class KillAt(CallFaults):
    """Breaks the ``occurrence``-th call (from 1) named ``name``."""

    def __init__(self, name: str, occurrence: int = 1, how: str = "kill") -> None:
        super().__init__(None, how)
        self.name, self.occurrence = name, occurrence

    def call(self, name: str, method: Callable[..., Any], kwargs: dict[str, Any]) -> Any:
        if name == self.name:
            self.occurrence -= 1
            if self.occurrence == 0:
                self.at = len(self.calls)
        return super().call(name, method, kwargs)


def first_continuation(world: World, key: str, data: bytes) -> dict[str, Any]:
    meta = world.put(key, data)
    world.invoke(world.event((key, meta)), runtime(world), ShortContext("req-1", looks=3))
    (payload,) = world.lambda_.queued
    world.lambda_.queued.clear()
    return payload


def assert_report_and_events_match_the_item(world: World, key: str, bucket: str = BUCKET) -> dict[str, Any]:
    (item,) = world.metadata(key)
    lines = []
    if item.get("rejects_key"):
        lines = world.s3.get_object(Bucket=bucket, Key=item["rejects_key"])["Body"].read().splitlines()
    assert len(lines) == item.get("records_rejected", 0), "the report lists exactly the rejected records"
    assert len(world.events_for(key)) == item.get("records_accepted", 0), "the table holds exactly the accepted"
    reports = world.s3.list_objects_v2(Bucket=bucket, Prefix="rejected/incoming/").get("KeyCount", 0)
    assert reports == (1 if item.get("rejects_key") else 0), "no report that nothing points at"
    return item


def test_a_retry_an_hour_later_judges_the_records_as_the_first_try_did(world: World) -> None:
    soon = (NOW + timedelta(hours=24, minutes=30)).strftime("%Y-%m-%dT%H:%M:%SZ")  # future-dated now, not in 1 h
    later = (NOW + timedelta(hours=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    meta = world.put(KEY, as_csv([record(0), record(1, timestamp=soon), record(2, timestamp=later), record(3)]))
    event = world.event((KEY, meta))
    with pytest.raises(Killed):  # the report is written; the final write (the third put_item) never leaves
        world.invoke(event, runtime(world, KillAt("dynamodb.put_item", 3)), Context("req-1"))
    world.now = NOW + timedelta(hours=1)

    world.invoke(event, runtime(world), Context("req-1"))  # Lambda's retry, or a replay from the failure queue

    item = assert_report_and_events_match_the_item(world, KEY)
    assert item["records_rejected"] == 2


@pytest.mark.parametrize("retry_looks", [5, None], ids=["runs short later", "has all the time it needs"])
def test_a_chain_stopped_at_max_invocations_ends_where_the_first_try_stopped(
    world: World, retry_looks: int | None
) -> None:
    world.env["MAX_INVOCATIONS"] = "2"
    payload = first_continuation(world, KEY, rows_as_csv(600))
    with pytest.raises(Killed):
        world.invoke(payload, runtime(world, KillAt("dynamodb.put_item")), ShortContext("req-c2", looks=3))
    stopped_at = world.metadata(KEY)[0]["closing"]

    context = Context("req-c2") if retry_looks is None else ShortContext("req-c2", looks=retry_looks)
    world.invoke(payload, runtime(world), context)

    item = assert_report_and_events_match_the_item(world, KEY)
    assert item["processing_status"] == "FAILED" and "MAX_INVOCATIONS" in item["error_message"]
    assert (item["records_accepted"], item["records_rejected"]) == (stopped_at["accepted"], stopped_at["rejected"])


def test_a_version_deleted_after_its_end_was_recorded_still_ends_as_recorded(world: World) -> None:
    meta = world.put(KEY, rows_as_csv(400))
    world.invoke(world.event((KEY, meta)), runtime(world), ShortContext("req-1", looks=3))
    while True:  # run the chain; the invocation that reaches the final write is killed there
        (payload,) = world.lambda_.queued
        world.lambda_.queued.clear()
        try:
            world.invoke(payload, runtime(world, KillAt("dynamodb.put_item")), ShortContext("req-c", looks=3))
        except Killed:
            break
    world.s3.delete_object(Bucket=BUCKET, Key=KEY, VersionId=meta["versionId"])

    world.invoke(payload, runtime(world), Context("req-c"))

    item = assert_report_and_events_match_the_item(world, KEY)
    assert item["processing_status"] == "PARTIAL" and item["records_total"] == 400


def test_an_unversioned_upload_overwritten_after_its_end_was_recorded_keeps_its_report(world: World) -> None:
    plain = "plain-bucket"
    world.s3.create_bucket(Bucket=plain, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    data = rows_as_csv(100)
    put = world.s3.put_object(Bucket=plain, Key=KEY, Body=data)
    event = world.event((KEY, {"size": len(data), "eTag": put["ETag"].strip('"'), "sequencer": "0055AED6DCD90281E5"}))
    event["Records"][0]["s3"]["bucket"]["name"] = plain
    with pytest.raises(Killed):
        world.invoke(event, runtime(world, KillAt("dynamodb.put_item", 3)), Context("req-1"))
    world.s3.put_object(Bucket=plain, Key=KEY, Body=rows_as_csv(5))  # the shipper's next upload of the key

    world.invoke(event, runtime(world), Context("req-1"))

    item = assert_report_and_events_match_the_item(world, KEY, bucket=plain)
    assert item["processing_status"] == "PARTIAL" and item["records_total"] == 100


def rows_as_csv(count: int) -> bytes:
    return as_csv(rows_with_rejects(count))


# --- a pending outcome is published once ----------------------------------------------------------------------------


class PutEventsHook:
    """EventBridge, running ``hook`` once just before the first PutEvents goes out."""

    def __init__(self, real: Any, hook: Callable[[], None]) -> None:
        self._real, self._hook = real, hook

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def put_events(self, **kwargs: Any) -> Any:
        hook, self._hook = self._hook, lambda: None
        hook()
        return self._real.put_events(**kwargs)


def test_two_deliveries_that_meet_one_pending_outcome_publish_it_once(world: World) -> None:
    meta = world.put(KEY, rows_as_csv(50))
    event = world.event((KEY, meta))
    with pytest.raises(Killed):  # the final item is written; the process dies as the event is about to go out
        world.invoke(event, runtime(world, KillAt("events.put_events")), Context("req-1"))
    world.now = NOW + timedelta(minutes=10)
    world.capsys.readouterr()
    retry = runtime(world)
    redelivered = lambda: world.invoke(event, runtime(world), Context("req-dup"))  # noqa: E731 - S3's duplicate
    retry.processor.store._clients["events"] = PutEventsHook(world.events, redelivered)

    world.invoke(event, retry, Context("req-1"))  # Lambda's retry, with S3's duplicate arriving meanwhile

    assert len(world.events.details) == 1
    assert len(emf_documents(world.capsys.readouterr().out)) == 1


def test_a_reprocess_first_publishes_the_outcome_the_replaced_attempt_left_pending(world: World) -> None:
    meta = world.put(KEY, rows_as_csv(50))
    event = world.event((KEY, meta))
    with pytest.raises(Killed):
        world.invoke(event, runtime(world, KillAt("events.put_events")), Context("req-1"))
    world.now = NOW + timedelta(minutes=10)
    request = {"reprocess": {"bucket": BUCKET, "key": KEY, "version_id": meta["versionId"]}}

    world.invoke(request, runtime(world), Context("req-ops"))
    world.invoke(event, runtime(world), Context("req-1"))  # Lambda's retry of the killed invocation, late

    assert sorted(detail["attempt"] for detail in world.events.details) == [1, 2]


def test_a_reprocess_leaves_a_pending_outcome_to_its_live_holder(world: World) -> None:
    meta = world.put(KEY, rows_as_csv(50))
    with pytest.raises(Killed):
        world.invoke(world.event((KEY, meta)), runtime(world, KillAt("events.put_events")), Context("req-1"))
    request = {"reprocess": {"bucket": BUCKET, "key": KEY, "version_id": meta["versionId"]}}

    response = world.invoke(request, runtime(world), Context("req-ops"))  # the holder's claim is still live

    assert response["files"][0]["status"] == "IN_PROGRESS"
    assert world.events.details == [] and world.metadata(KEY)[0]["attempt"] == 1


def test_an_end_whose_claim_was_taken_over_after_it_was_recorded_is_left_to_the_new_holder(world: World) -> None:
    class TakenOverBeforeTheFinalWrite(AtTheFinalWrite):
        def final_write(self, request: dict[str, Any]) -> None:
            self._real.update_item(
                TableName=request["TableName"],
                Key={name: request["Item"][name] for name in ("filename", "upload_timestamp")},
                UpdateExpression="SET claim_token = :other",
                ExpressionAttributeValues={":other": {"S": "someone-else"}},
            )

    meta = world.put(KEY, rows_as_csv(20))

    response = world.invoke(
        world.event((KEY, meta)), world.runtime(dynamodb=TakenOverBeforeTheFinalWrite(world.dynamodb))
    )

    assert response["files"][0]["status"] == "SUPERSEDED"
    (item,) = world.metadata(KEY)
    assert item["processing_status"] == "PROCESSING" and item["closing"]["accepted"] == 17, "the new holder ends it"
