"""The direct write path (EVENTS_WRITE_PATH=direct, the default) against a real moto server, through an endpoint
that injects the faults real DynamoDB produces: throttling, partial writes, 5xx, dropped connections, lost
responses, corrupted responses, timeouts. What is asserted is what a user sees: the events table, the
invocation's outcome, and the requests that reached the endpoint.
"""

from __future__ import annotations

import datetime
import json
import socket
import ssl
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import boto3
import botocore.auth
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials, RefreshableCredentials
from botocore.exceptions import ClientError, NoCredentialsError
from botocore.serialize import create_serializer
from shipment_processor.aws import clients, direct_write
from shipment_processor.aws.clients import Backoff, TransientAWSError
from shipment_processor.aws.direct_write import (
    MAX_ITEM_BYTES,
    DirectTransport,
    ItemEncoder,
    ItemTooLargeError,
    RetryableWriteError,
)
from shipment_processor.aws.events import EventWriter, PipelinedWriter, SdkEvents
from shipment_processor.aws.metadata import from_dynamodb
from shipment_processor.config import ConfigError, Settings
from shipment_processor.handler import ProcessingError, Runtime, handle
from shipment_processor.store import Store
from shipment_processor.validation import ShipmentUpdate

from tools.emulator.aws.server import make_certificate

from .faulty_endpoint import FaultyEndpoint
from .support import NOW, REGION, Context, as_csv, as_ndjson, create_tables, fake_aws_env, record, records

EVENT_TIME = "2026-03-01T11:59:58.123Z"


@dataclass
class ServerWorld:
    """A bucket and both tables on the moto server; DynamoDB is reached through ``endpoint``."""

    endpoint: FaultyEndpoint
    s3: Any
    dynamodb: Any
    bucket: str
    metadata_table: str
    events_table: str
    env: dict[str, str] = field(default_factory=dict)
    sleeps: list[float] = field(default_factory=list)

    def settings(self) -> Settings:
        return Settings.from_env({"METADATA_TABLE": self.metadata_table, "EVENTS_TABLE": self.events_table, **self.env})

    def runtime(self) -> Runtime:
        settings = self.settings()
        store = Store(settings, backoff=Backoff(sleep=self.sleeps.append, random=lambda: 1.0))
        return Runtime.create(settings, store=store, clock=lambda: NOW)

    def process(self, key: str, data: bytes, runtime: Runtime | None = None) -> dict[str, Any]:
        """Upload like a shipper, deliver the notification to the handler, return its response."""
        response = self.s3.put_object(Bucket=self.bucket, Key=key, Body=data)
        obj = {"key": quote_plus(key, safe="/"), "versionId": response["VersionId"], "size": len(data)}
        event = {
            "Records": [
                {
                    "eventSource": "aws:s3",
                    "eventName": "ObjectCreated:Put",
                    "eventTime": EVENT_TIME,
                    "s3": {"bucket": {"name": self.bucket}, "object": obj},
                }
            ]
        }
        return handle(event, Context(), runtime or self.runtime())

    def events(self) -> dict[tuple[str, str], dict[str, Any]]:
        """The events table, read from moto directly (not through the faulty endpoint)."""
        items: list[dict[str, Any]] = []
        for page in self.dynamodb.get_paginator("scan").paginate(TableName=self.events_table):
            items += [from_dynamodb(item) for item in page["Items"]]
        return {(item["shipment_id"], item["event_key"]): item for item in items}

    def writer(
        self, store: Store | None = None, source: str = "incoming/acme/direct.csv"
    ) -> EventWriter | PipelinedWriter:
        store = store or Store(self.settings(), backoff=Backoff(sleep=self.sleeps.append, random=lambda: 1.0))
        return store.event_writer(source, "v1")


@pytest.fixture
def server_world(
    moto_endpoint: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Iterator[ServerWorld]:
    fake_aws_env(monkeypatch)
    monkeypatch.delenv("EVENTS_WRITE_PATH")  # the default path
    endpoint = FaultyEndpoint(moto_endpoint)
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", moto_endpoint)
    monkeypatch.setenv("AWS_ENDPOINT_URL_EVENTBRIDGE", moto_endpoint)  # the outcome event of each file
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", endpoint.url)
    suffix = uuid.uuid4().hex[:10]
    session = boto3.session.Session()
    s3 = session.client("s3", endpoint_url=moto_endpoint, region_name=REGION)
    dynamodb = session.client("dynamodb", endpoint_url=moto_endpoint, region_name=REGION)
    bucket = f"direct-{suffix}"
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    create_tables(dynamodb, f"metadata-{suffix}", f"events-{suffix}")
    try:
        yield ServerWorld(endpoint, s3, dynamodb, bucket, f"metadata-{suffix}", f"events-{suffix}")
    finally:
        endpoint.close()
        capsys.readouterr()


def update(n: int, **overrides: Any) -> ShipmentUpdate:
    fields = overrides.pop("fields", (("carrier", "DHL"), ("location", 'Zürich "Süd"')))
    values = {"shipment_id": f"SHP-{n:06d}", "status": "IN_TRANSIT", "timestamp": "2026-03-01T10:00:00Z"}
    return ShipmentUpdate(**{**values, **overrides}, fields=fields)


# --- the handler on the direct path -------------------------------------------------------------------------


def test_handler_stores_every_accepted_update_on_the_direct_path(server_world: ServerWorld) -> None:
    rows = [*records(60), record(61, status="LOST")]

    response = server_world.process("incoming/acme/day.csv", as_csv(rows))

    assert response["files"][0]["status"] == "PARTIAL"
    events = server_world.events()
    assert len(events) == 60
    stored = events[("SHP-000007", next(k for s, k in events if s == "SHP-000007"))]
    assert stored["location"] == "Zürich"
    assert stored["record_ref"] == "line 9"
    assert stored["source_file"] == "incoming/acme/day.csv"
    writes = server_world.endpoint.batch_writes()
    assert sum(len(seen.items) for seen in writes) == 60
    assert max(len(seen.items) for seen in writes) <= 25
    assert all(seen.headers["X-Amz-Target"] == "DynamoDB_20120810.BatchWriteItem" for seen in writes)
    assert all(seen.headers["Content-Type"] == "application/x-amz-json-1.0" for seen in writes)
    assert {table for seen in writes for table in json.loads(seen.body)["RequestItems"]} == {server_world.events_table}


def test_direct_path_stores_exactly_what_the_sdk_path_stores(server_world: ServerWorld) -> None:
    rows = [
        record(1, notes='quote " backslash \\ tab \t newline-free', location="Zürich"),
        record(2, emoji="📦 ok", status="out-for-delivery"),
        record(3, timestamp="2026-03-01T10:00:00.5+01:00"),
    ]
    server_world.process("incoming/acme/same.jsonl", as_ndjson(rows))
    direct = server_world.events()
    direct_calls = _calls(server_world.endpoint.seen)
    server_world.endpoint.seen.clear()
    server_world.env["EVENTS_WRITE_PATH"] = "sdk"
    for table in (server_world.metadata_table, server_world.events_table):
        server_world.dynamodb.delete_table(TableName=table)
    create_tables(server_world.dynamodb, server_world.metadata_table, server_world.events_table)
    server_world.process("incoming/acme/same.jsonl", as_ndjson(rows), server_world.runtime())

    def without_version(items: dict[Any, dict[str, Any]]) -> dict[Any, dict[str, Any]]:
        return {key: {k: v for k, v in item.items() if k != "source_version"} for key, item in items.items()}

    assert without_version(server_world.events()) == without_version(direct)  # each upload is a new version
    assert direct_calls == _calls(server_world.endpoint.seen), "the same calls on the same tables: the same grants"
    assert ("DynamoDB_20120810.BatchWriteItem", server_world.events_table) in direct_calls
    assert direct[("SHP-000002", "2026-03-01T10:59:58.000000000Z#OUT_FOR_DELIVERY")]["emoji"] == "📦 ok"


def _calls(seen: list[Any]) -> set[tuple[str, str]]:
    """(X-Amz-Target, table) of every DynamoDB request: what IAM authorises each call against."""
    calls = set()
    for request in seen:
        body = json.loads(request.body)
        for table in body["RequestItems"] if "RequestItems" in body else [body["TableName"]]:
            calls.add((request.target, table))
    return calls


def test_fallback_setting_sends_the_events_through_client_batch_write_item(server_world: ServerWorld) -> None:
    server_world.env["EVENTS_WRITE_PATH"] = "sdk"

    server_world.process("incoming/acme/sdk.csv", as_csv(records(30)))

    assert len(server_world.events()) == 30
    agents = {seen.headers["User-Agent"] for seen in server_world.endpoint.batch_writes()}
    assert len(agents) == 1
    (agent,) = agents
    assert agent.startswith("Boto3/") and "events-write#direct" not in agent


def test_connections_are_kept_alive_across_batches(server_world: ServerWorld) -> None:
    server_world.env["WRITE_CONCURRENCY"] = "1"

    server_world.process("incoming/acme/keep.csv", as_csv(records(200)))

    writes = server_world.endpoint.batch_writes()
    assert len(writes) == 8
    assert len({seen.connection for seen in writes}) == 1


def test_user_agent_is_botocores_with_the_processor_named(server_world: ServerWorld) -> None:
    server_world.env["WRITE_CONCURRENCY"] = "1"
    server_world.process("incoming/acme/ua.csv", as_csv(records(3)))

    (write,) = server_world.endpoint.batch_writes()
    agent = write.headers["User-Agent"]
    assert agent.startswith("Boto3/")
    assert "Botocore" in agent
    assert agent.endswith("shipment-processor md/events-write#direct")


def test_two_updates_of_one_key_are_stored_in_file_order_even_when_the_first_batch_is_retried(
    server_world: ServerWorld,
) -> None:
    server_world.env["WRITE_CONCURRENCY"] = "4"
    rows = [record(n) for n in range(400)]
    rows.append({**record(5), "carrier": "UPS"})  # the same key as line 7, 395 lines later
    server_world.endpoint.plan_for(b'"line 7"', "throttle", "throttle", "server-error", "drop")

    server_world.process("incoming/acme/order.csv", as_csv(rows))

    (stored,) = [item for (sid, _), item in server_world.events().items() if sid == "SHP-000005"]
    assert stored["carrier"] == "UPS"
    assert stored["record_ref"] == "line 402"
    writes = server_world.endpoint.batch_writes()
    first = next(i for i, seen in enumerate(writes) if b'"line 7"' in seen.body)
    later = next(i for i, seen in enumerate(writes) if b'"line 402"' in seen.body)
    assert first + 4 < later, "the earlier update was retried four times before the later one was sent"


def test_a_key_repeated_within_one_batch_is_sent_once_with_its_latest_update(server_world: ServerWorld) -> None:
    server_world.env["WRITE_CONCURRENCY"] = "1"
    rows = [record(1), record(2), {**record(1), "carrier": "GLS"}]

    response = server_world.process("incoming/acme/repeat.csv", as_csv(rows))

    assert response["files"][0]["records_accepted"] == 3
    (write,) = server_world.endpoint.batch_writes()
    assert len(write.items) == 2
    (stored,) = [item for (sid, _), item in server_world.events().items() if sid == "SHP-000001"]
    assert (stored["carrier"], stored["record_ref"]) == ("GLS", "line 4")


# --- faults ------------------------------------------------------------------------------------------------


def test_throttled_batches_are_resent_at_a_paced_rate_and_nothing_is_lost(server_world: ServerWorld) -> None:
    server_world.env["WRITE_CONCURRENCY"] = "1"
    server_world.endpoint.plan("throttle", "throttle", "throttle")

    response = server_world.process("incoming/acme/busy.csv", as_csv(records(40)))

    assert response["files"][0]["status"] == "SUCCESS"
    assert len(server_world.events()) == 40
    assert server_world.sleeps, "the resends waited for the paced rate"
    assert [len(seen.items) for seen in server_world.endpoint.batch_writes()] == [25, 25, 25, 25, 15]


def test_backoff_after_server_errors_grows_exponentially_with_full_jitter_and_a_cap(server_world: ServerWorld) -> None:
    server_world.env["WRITE_CONCURRENCY"] = "1"
    server_world.endpoint.plan(*["server-error"] * 7)

    server_world.process("incoming/acme/cap.csv", as_csv(records(10)))

    assert server_world.sleeps == [0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 5.0]
    assert len(server_world.events()) == 10


def test_unprocessed_items_are_resent_until_every_update_is_stored(server_world: ServerWorld) -> None:
    server_world.env["WRITE_CONCURRENCY"] = "1"
    server_world.endpoint.plan("partial", "partial", "partial")

    server_world.process("incoming/acme/partial.csv", as_csv(records(25)))

    assert len(server_world.events()) == 25
    assert [len(seen.items) for seen in server_world.endpoint.batch_writes()] == [25, 13, 7, 4]
    assert server_world.sleeps, "the resends waited for the paced rate"


@pytest.mark.parametrize("fault", ["server-error", "unavailable-html"])
def test_server_errors_are_retried(server_world: ServerWorld, fault: str) -> None:
    server_world.endpoint.plan(fault, fault)

    server_world.process("incoming/acme/5xx.csv", as_csv(records(20)))

    assert len(server_world.events()) == 20
    assert len(server_world.sleeps) == 2


def test_a_dropped_connection_is_reopened_and_the_batch_sent_again(server_world: ServerWorld) -> None:
    server_world.env["WRITE_CONCURRENCY"] = "1"
    server_world.endpoint.plan("drop")

    server_world.process("incoming/acme/drop.csv", as_csv(records(50)))

    assert len(server_world.events()) == 50
    first, again, *_ = server_world.endpoint.batch_writes()
    assert first.body == again.body
    assert first.connection != again.connection


def test_a_lost_response_is_sent_again_and_the_update_stored_once(server_world: ServerWorld) -> None:
    server_world.env["WRITE_CONCURRENCY"] = "1"
    server_world.endpoint.plan("lose", "lose")

    response = server_world.process("incoming/acme/lost.csv", as_csv(records(10)))

    assert response["files"][0]["status"] == "SUCCESS"
    writes = server_world.endpoint.batch_writes()
    assert len(writes) == 3, "applied twice with the answer lost, then answered"
    assert len({seen.body for seen in writes}) == 1
    assert len(server_world.events()) == 10


def test_a_response_with_a_wrong_checksum_is_treated_as_corrupt_and_retried(server_world: ServerWorld) -> None:
    server_world.env["WRITE_CONCURRENCY"] = "1"
    server_world.endpoint.plan("bad-crc")

    server_world.process("incoming/acme/crc.csv", as_csv(records(5)))

    corrupt, again = server_world.endpoint.batch_writes()
    assert corrupt.connection != again.connection, "a connection whose answer was corrupt is not reused"
    assert len(server_world.events()) == 5


@pytest.mark.parametrize("fault", ["chunked", "close"])
def test_chunked_and_closing_responses_are_read_whole(server_world: ServerWorld, fault: str) -> None:
    server_world.env["WRITE_CONCURRENCY"] = "1"
    server_world.endpoint.plan(fault, fault)

    server_world.process("incoming/acme/framing.csv", as_csv(records(60)))

    assert len(server_world.events()) == 60
    assert server_world.sleeps == []
    connections = [seen.connection for seen in server_world.endpoint.batch_writes()]
    if fault == "close":
        assert len(set(connections)) == 3, "a connection the server closes is not reused"
    else:
        assert len(set(connections)) == 1


def test_every_shard_has_a_request_on_the_wire_at_once_all_sent_from_the_callers_thread(
    server_world: ServerWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    server_world.env["WRITE_CONCURRENCY"] = "4"
    server_world.endpoint.slow_s = 0.3
    server_world.endpoint.plan("slow", "slow", "slow", "slow")
    writer = server_world.writer()
    assert isinstance(writer, PipelinedWriter)
    senders: set[int] = set()
    begin = writer._transport.begin

    def recording_begin(table: str, requests: list[str], deadline: float | None = None) -> Any:
        senders.add(threading.get_ident())
        return begin(table, requests, deadline)

    monkeypatch.setattr(writer._transport, "begin", recording_begin)

    for n in range(200):
        writer.put(update(n), ("line", n + 2))
    assert writer.close() == 200

    first = server_world.endpoint.batch_writes()[:4]
    assert len({seen.connection for seen in first}) == 4, "four slow answers outstanding on four connections"
    assert senders == {threading.get_ident()}
    assert len(server_world.events()) == 200


def impatient_transport(server_world: ServerWorld) -> DirectTransport:
    """A transport to the faulty endpoint that waits at most 0.2 s for an answer."""
    return DirectTransport(
        endpoint_url=server_world.endpoint.url,
        region=REGION,
        credentials=Credentials("testing", "testing", "testing"),
        user_agent="test",
        read_timeout=0.2,
    )


def test_an_aborted_writer_closes_the_connections_whose_answers_are_outstanding(server_world: ServerWorld) -> None:
    server_world.env["WRITE_CONCURRENCY"] = "1"
    server_world.endpoint.slow_s = 0.3
    server_world.endpoint.plan("slow")
    store = Store(server_world.settings(), backoff=Backoff(sleep=server_world.sleeps.append, random=lambda: 1.0))
    with pytest.raises(RuntimeError, match="the file broke"), server_world.writer(store) as writer:
        for n in range(25):
            writer.put(update(n), ("line", n + 2))  # the 25th sends the batch
        raise RuntimeError("the file broke")

    transport = store.direct_transport()
    assert transport._idle == [], "the connection with an answer outstanding never goes back to the pool"
    again = server_world.writer(store)
    again.put(update(99), ("line", 2))
    assert again.close() == 1
    first, second = server_world.endpoint.batch_writes()
    assert first.connection != second.connection


def test_an_answer_overdue_past_the_read_timeout_is_given_up_and_the_batch_sent_again(
    server_world: ServerWorld,
) -> None:
    transport = impatient_transport(server_world)
    backoff = Backoff(sleep=server_world.sleeps.append, random=lambda: 1.0)
    writer = PipelinedWriter(
        transport, server_world.events_table, "incoming/acme/slow.csv", "v1", shards=2, backoff=backoff
    )
    server_world.endpoint.slow_s = 0.6
    server_world.endpoint.plan("slow")

    writer.put(update(1), ("line", 2))
    assert writer.close() == 1

    first, second = server_world.endpoint.batch_writes()
    assert first.connection != second.connection, "the connection with an answer outstanding is not reused"
    assert server_world.sleeps == [0.1]
    assert len(server_world.events()) == 1


def test_a_read_timeout_is_retried(server_world: ServerWorld) -> None:
    transport = impatient_transport(server_world)
    server_world.endpoint.slow_s = 0.5
    server_world.endpoint.plan("slow")
    encode = ItemEncoder("incoming/acme/slow.csv", "v1")
    request = encode(update(1), update(1).event_key, ("line", 2))

    with pytest.raises(RetryableWriteError, match="timed out"):
        transport.batch_write(server_world.events_table, [request])
    assert transport.batch_write(server_world.events_table, [request]) == []
    assert len(server_world.events()) == 1


def test_persistent_throttling_fails_the_invocation_with_a_transient_error(server_world: ServerWorld) -> None:
    server_world.env["WRITE_CONCURRENCY"] = "1"
    server_world.endpoint.plan(*["throttle"] * 100)

    with pytest.raises(ProcessingError, match=r"still failing after 8 attempts \(ProvisionedThroughputExceeded"):
        server_world.process("incoming/acme/stuck.csv", as_csv(records(10)))

    assert len(server_world.endpoint.batch_writes()) == 8
    assert server_world.events() == {}


def test_persistently_dropped_connections_raise_a_transient_error_naming_the_cause(
    server_world: ServerWorld,
) -> None:
    server_world.endpoint.plan(*["drop"] * 100)
    writer = server_world.writer()
    writer.put(update(1), ("line", 2))

    with pytest.raises(TransientAWSError, match="still failing after 8 attempts \\(connection failed") as caught:
        writer.close()

    assert isinstance(caught.value.__cause__, ConnectionError), "the cause is the last attempt's own error"


def test_persistently_unprocessed_items_fail_the_invocation(server_world: ServerWorld) -> None:
    # One shard, as in the persistent-throttling test: with several, the sleeps here take no time, every shard
    # sends before the first answer cuts the rate, and whether a shard's attempt counts toward giving up depends on
    # the order the answers are read in (under load the 100 planned answers ran out first).
    server_world.env["WRITE_CONCURRENCY"] = "1"
    server_world.endpoint.plan(*["partial"] * 100)
    writer = server_world.writer()
    for n in range(4):
        writer.put(update(n), ("line", n + 2))

    with pytest.raises(TransientAWSError, match=r"still failing after 8 attempts \(1 unprocessed items\)"):
        writer.close()


def test_a_validation_error_raises_at_once_with_dynamodbs_message(server_world: ServerWorld) -> None:
    server_world.endpoint.plan("validation")
    writer = server_world.writer()
    writer.put(update(1), ("line", 2))

    with pytest.raises(ClientError) as caught:
        writer.close()

    error = caught.value.response
    assert error["Error"] == {"Code": "ValidationException", "Message": VALIDATION_MESSAGE}
    assert error["ResponseMetadata"] == {"HTTPStatusCode": 400, "RequestId": "FAULT"}
    assert server_world.sleeps == []
    assert "ValidationException" in str(caught.value)


VALIDATION_MESSAGE = "Item size has exceeded the maximum allowed size"


def test_a_missing_table_raises_moto_s_resource_not_found(server_world: ServerWorld) -> None:
    server_world.dynamodb.delete_table(TableName=server_world.events_table)
    writer = server_world.writer()
    writer.put(update(1), ("line", 2))

    with pytest.raises(ClientError, match="ResourceNotFoundException"):
        writer.close()


# --- credentials and signing -------------------------------------------------------------------------------


def _verify_signature(seen: Any, secret: str, region: str = REGION) -> bool:
    """Recompute the request's SigV4 signature with botocore's signer, from what the endpoint received."""
    auth = seen.headers["Authorization"]
    signed = auth.split("SignedHeaders=", 1)[1].split(",", 1)[0].split(";")
    headers = {name: value for name, value in seen.headers.items() if name.lower() in signed}
    request = AWSRequest(method="POST", url=f"https://{seen.headers['Host']}/", data=seen.body, headers=headers)
    request.context["timestamp"] = seen.headers["X-Amz-Date"]
    access_key = auth.split("Credential=", 1)[1].split("/", 1)[0]
    signer = SigV4Auth(Credentials(access_key, secret, seen.headers.get("X-Amz-Security-Token")), "dynamodb", region)
    canonical = signer.canonical_request(request)
    expected = signer.signature(signer.string_to_sign(request, canonical), request)
    return bool(auth.endswith(f"Signature={expected}"))


def session_secret() -> str:
    """The secret key of the process's session credentials (the handler's own chain signs with it)."""
    return str(clients.shared_session().get_credentials().get_frozen_credentials().secret_key)


def test_session_token_is_signed_sent_and_the_request_accepted(server_world: ServerWorld) -> None:
    server_world.env["WRITE_CONCURRENCY"] = "1"
    response = server_world.process("incoming/acme/token.csv", as_csv(records(3)))

    assert response["files"][0]["status"] == "SUCCESS"
    (write,) = server_world.endpoint.batch_writes()
    assert write.headers["X-Amz-Security-Token"] == "testing"
    signed = write.headers["Authorization"].split("SignedHeaders=", 1)[1].split(",", 1)[0].split(";")
    assert signed == ["content-type", "host", "x-amz-date", "x-amz-security-token", "x-amz-target"]
    assert f"/{REGION}/dynamodb/aws4_request" in write.headers["Authorization"]
    assert _verify_signature(write, session_secret())


def test_refreshed_credentials_are_used_from_the_next_request_on(server_world: ServerWorld) -> None:
    generation = iter(range(1, 100))

    def fetch() -> dict[str, str]:
        number = next(generation)
        expiry = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=1 if number <= 2 else 3600)
        return {
            "access_key": f"ASIA{number}",
            "secret_key": f"secret-{number}",
            "token": f"token-{number}",
            "expiry_time": expiry.isoformat(),
        }

    credentials = RefreshableCredentials.create_from_metadata(fetch(), fetch, "test")
    transport = DirectTransport(
        endpoint_url=server_world.endpoint.url, region=REGION, credentials=credentials, user_agent="test"
    )
    encode = ItemEncoder("incoming/acme/refresh.csv", "v1")

    for n in range(2):
        assert (
            transport.batch_write(server_world.events_table, [encode(update(n), update(n).event_key, ("line", 2))])
            == []
        )

    tokens = [seen.headers["X-Amz-Security-Token"] for seen in server_world.endpoint.batch_writes()]
    assert tokens == ["token-2", "token-3"], "credentials are frozen anew for every request"
    first, second = server_world.endpoint.batch_writes()
    assert _verify_signature(first, "secret-2") and _verify_signature(second, "secret-3")
    transport.close()


def test_the_lean_signer_signs_exactly_as_botocores_sigv4(monkeypatch: pytest.MonkeyPatch) -> None:
    transport = DirectTransport(
        endpoint_url="https://dynamodb.eu-west-1.amazonaws.com",
        region="eu-west-1",
        credentials=Credentials("AKID", "secret", "token"),
        user_agent="test",
    )

    assert transport._signer is direct_write._LeanSigV4Auth
    head, _, body = transport.signed(b'{"RequestItems":{}}').partition(b"\r\n\r\n")
    headers = dict(line.split(": ", 1) for line in head.decode().split("\r\n")[1:])
    plain = AWSRequest(
        method="POST",
        url="https://dynamodb.eu-west-1.amazonaws.com/",
        data=body,
        headers={k: headers[k] for k in ("Host", "Content-Type", "X-Amz-Target")},
    )
    stamp = datetime.datetime.strptime(headers["X-Amz-Date"], "%Y%m%dT%H%M%SZ")
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: stamp)
    SigV4Auth(Credentials("AKID", "secret", "token"), "dynamodb", "eu-west-1").add_auth(plain)
    assert plain.headers["Authorization"] == headers["Authorization"]
    assert plain.headers["X-Amz-Security-Token"] == headers["X-Amz-Security-Token"] == "token"


def test_if_the_lean_signer_ever_disagrees_botocores_own_signer_is_used(
    server_world: ServerWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(direct_write._LeanSigV4Auth, "signed_headers", lambda self, headers: "host")

    writer = server_world.writer()
    writer.put(update(1), ("line", 2))
    writer.close()

    assert writer._transport._signer is SigV4Auth
    assert len(server_world.events()) == 1
    assert _verify_signature(server_world.endpoint.batch_writes()[0], session_secret())


def test_the_signer_check_gives_up_when_the_clock_never_holds_still(monkeypatch: pytest.MonkeyPatch) -> None:
    seconds = iter(range(10_000))
    start = datetime.datetime(2026, 3, 1, 12, 0, 0)
    monkeypatch.setattr(
        botocore.auth, "get_current_datetime", lambda: start + datetime.timedelta(seconds=next(seconds))
    )

    assert direct_write._lean_signer_agrees("https://dynamodb.eu-west-1.amazonaws.com/", "eu-west-1") is False


def _access_key(seen: Any) -> str:
    return str(seen.headers["Authorization"].split("Credential=", 1)[1].split("/", 1)[0])


def test_the_direct_path_signs_with_the_credentials_of_the_client_it_is_given(server_world: ServerWorld) -> None:
    server_world.env["WRITE_CONCURRENCY"] = "1"
    endpoint = server_world.endpoint.url
    first = boto3.client(
        "dynamodb", region_name=REGION, endpoint_url=endpoint, aws_access_key_id="AKIDFIRST", aws_secret_access_key="s1"
    )
    second = boto3.session.Session(
        aws_access_key_id="AKIDSECOND", aws_secret_access_key="s2", aws_session_token="t2", region_name=REGION
    ).client("dynamodb", endpoint_url=endpoint)

    for n, client in enumerate((first, second)):
        writer = Store(server_world.settings(), dynamodb=client).event_writer(f"incoming/acme/{n}.csv", "v1")
        writer.put(update(n), ("line", 2))
        assert writer.close() == 1

    one, two = server_world.endpoint.batch_writes()
    assert (_access_key(one), _access_key(two)) == ("AKIDFIRST", "AKIDSECOND")
    assert "X-Amz-Security-Token" not in one.headers and two.headers["X-Amz-Security-Token"] == "t2"
    assert _verify_signature(one, "s1") and _verify_signature(two, "s2")
    assert session_secret() == "testing", "the default chain holds other keys, and signed neither request"
    assert len(server_world.events()) == 2


def test_a_client_with_credentials_needs_none_in_the_environment(
    server_world: ServerWorld, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    client = boto3.client(
        "dynamodb",
        region_name=REGION,
        endpoint_url=server_world.endpoint.url,
        aws_access_key_id="AKIDEXPLICIT",
        aws_secret_access_key="explicit",
    )

    writer = Store(server_world.settings(), dynamodb=client).event_writer("incoming/acme/keys.csv", "v1")
    writer.put(update(1), ("line", 2))

    assert writer.close() == 1
    (write,) = server_world.endpoint.batch_writes()
    assert _access_key(write) == "AKIDEXPLICIT" and _verify_signature(write, "explicit")


def test_no_credentials_fail_when_the_writer_is_made() -> None:
    with pytest.raises(NoCredentialsError):
        DirectTransport(
            endpoint_url="https://dynamodb.eu-west-1.amazonaws.com", region=REGION, credentials=None, user_agent="x"
        )


# --- endpoint, TLS, limits ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return make_certificate(tmp_path_factory.mktemp("tls"), days=2)


def test_https_endpoint_is_verified_against_the_configured_ca_bundle(
    server_world: ServerWorld, certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    secure = FaultyEndpoint(server_world.endpoint.upstream, tls=certificate)
    try:
        server_world.env["WRITE_CONCURRENCY"] = "1"
        monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", secure.url)
        monkeypatch.setenv("AWS_CA_BUNDLE", str(certificate[0]))

        server_world.process("incoming/acme/tls.csv", as_csv(records(3)))

        assert len(server_world.events()) == 3
        assert len(secure.batch_writes()) == 1
    finally:
        secure.close()


def test_an_untrusted_certificate_fails_at_once_without_retries(
    server_world: ServerWorld, certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    secure = FaultyEndpoint(server_world.endpoint.upstream, tls=certificate)
    try:
        monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", secure.url)
        monkeypatch.delenv("AWS_CA_BUNDLE", raising=False)
        monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
        writer = server_world.writer()
        writer.put(update(1), ("line", 2))

        with pytest.raises(ssl.SSLCertVerificationError):
            writer.close()

        assert server_world.sleeps == []
        assert secure.batch_writes() == []
    finally:
        secure.close()


def test_tls_context_follows_botocores_verify_value(certificate: tuple[Path, Path], tmp_path: Path) -> None:
    assert direct_write._tls_context(False).verify_mode == ssl.CERT_NONE
    checked = direct_write._tls_context(str(certificate[0]))
    assert checked.verify_mode == ssl.CERT_REQUIRED and checked.check_hostname
    (tmp_path / "ca").mkdir()
    assert direct_write._tls_context(str(tmp_path / "ca")).verify_mode == ssl.CERT_REQUIRED
    assert direct_write._tls_context(True).check_hostname


def test_transport_for_a_client_uses_its_endpoint_region_timeouts_and_ca_bundle(
    monkeypatch: pytest.MonkeyPatch, certificate: tuple[Path, Path]
) -> None:
    fake_aws_env(monkeypatch)
    monkeypatch.setenv("AWS_CA_BUNDLE", str(certificate[0]))
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", "https://localhost:8443/base")
    store = Store(Settings())
    client = store.client("dynamodb")

    transport = DirectTransport.for_client(client)

    assert transport._url == "https://localhost:8443/base"
    assert transport._address == ("localhost", 8443)
    assert transport._timeouts == (5, 30)
    assert transport._region == REGION
    assert transport._head.startswith("POST /base HTTP/1.1\r\nHost: localhost:8443\r\n")


def test_transport_for_a_client_without_botocore_internals_still_verifies_tls() -> None:
    class Meta:
        endpoint_url = "https://dynamodb.eu-west-1.amazonaws.com:443"
        region_name = "eu-west-1"

        class config:  # mirrors botocore's attribute name
            connect_timeout, read_timeout = 2, 3

    class Client:
        meta = Meta

        def _get_credentials(self) -> Credentials:
            return Credentials("a", "b")

    transport = DirectTransport.for_client(Client())

    assert transport._context is not None and transport._context.check_hostname
    assert transport._host == "dynamodb.eu-west-1.amazonaws.com"
    assert f"User-Agent: Botocore/{botocore.__version__} shipment-processor" in transport._head


def test_endpoint_must_be_an_http_url() -> None:
    with pytest.raises(ValueError, match="is not an http"):
        DirectTransport(
            endpoint_url="ftp://example.com", region=REGION, credentials=Credentials("a", "b"), user_agent="x"
        )


def test_ipv6_endpoint_is_bracketed_in_the_host_header() -> None:
    transport = DirectTransport(
        endpoint_url="http://[::1]:8000", region=REGION, credentials=Credentials("a", "b"), user_agent="x"
    )

    assert transport._host == "[::1]:8000"
    assert transport._context is None


def test_header_values_with_line_breaks_are_refused() -> None:
    with pytest.raises(ValueError, match="User-Agent header value contains a line break"):
        DirectTransport(
            endpoint_url="http://127.0.0.1:1", region=REGION, credentials=Credentials("a", "b"), user_agent="x\r\ny"
        )
    transport = DirectTransport(
        endpoint_url="http://127.0.0.1:1", region=REGION, credentials=Credentials("a", "b", "t\noken"), user_agent="x"
    )
    with pytest.raises(ValueError, match="X-Amz-Security-Token"):
        transport.signed(b"{}")


def test_an_item_over_400_kb_fails_clearly_before_anything_is_sent() -> None:
    encode = ItemEncoder("incoming/acme/big.csv", "v1")
    fields = tuple((f"field_{n}", "x" * 1024) for n in range(MAX_ITEM_BYTES // 1024))

    with pytest.raises(ItemTooLargeError, match=r"shipment SHP-000001 at line 2 is \d+ bytes"):
        encode(update(1, fields=fields), update(1).event_key, ("line", 2))


def test_an_item_whose_json_is_long_but_whose_size_is_within_the_limit_is_encoded() -> None:
    encode = ItemEncoder("incoming/acme/big.csv", "v1")
    fields = tuple((f"field_{n}", "ü" * 512) for n in range(140))  # 6 JSON bytes per 2 UTF-8 bytes

    text = encode(update(1, fields=fields), update(1).event_key, ("line", 2))

    assert len(text) > MAX_ITEM_BYTES
    assert json.loads(text)["PutRequest"]["Item"]["field_3"] == {"S": "ü" * 512}


def test_a_request_over_16_mb_fails_clearly_before_anything_is_sent() -> None:
    transport = DirectTransport(
        endpoint_url="http://127.0.0.1:1", region=REGION, credentials=Credentials("a", "b"), user_agent="x"
    )

    with pytest.raises(ItemTooLargeError, match=r"is 16777\d+ bytes; the limit is 16777216"):
        transport.batch_write("t", ["x" * (16 * 1024 * 1024)])


def test_request_body_is_the_json_botocore_serialises_for_the_sdk_paths_items() -> None:
    source, version = 'incoming/acme/we"ird.csv', "v\\1"
    updates = [
        update(1, fields=(("note", 'a "b" \\ c\u2028 \x07'), ("emoji", "📦"))),
        update(2, status="DELIVERED", timestamp="2026-03-01T10:00:00.5Z", fields=()),
    ]
    refs = [("index", 0), ("index", 1)]
    direct_encode = ItemEncoder(source, version)
    sdk_encode = SdkEvents(lambda: None, "events").encoder(source, version)
    operation = boto3.session.Session().client("dynamodb", region_name=REGION).meta.service_model
    serializer = create_serializer("json")

    texts = [direct_encode(u, u.event_key, ref) for u, ref in zip(updates, refs, strict=True)]
    typed = [sdk_encode(u, u.event_key, ref) for u, ref in zip(updates, refs, strict=True)]
    sdk_body = serializer.serialize_to_request(
        {"RequestItems": {"events": typed}}, operation.operation_model("BatchWriteItem")
    )["body"]

    assert all(text.isascii() for text in texts), "ASCII escapes, as json.dumps writes them"
    assert json.loads('{"RequestItems":{"events":[' + ",".join(texts) + "]}}") == json.loads(sdk_body)


def test_field_name_fragments_are_cached_up_to_a_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(direct_write, "_NAME_CACHE_MAX", 2)
    encode = ItemEncoder("s", "v")
    item = update(1, fields=(("a", "1"), ("b", "2"), ("c", "3")))

    first = encode(item, item.event_key, ("line", 2))

    assert first == encode(item, item.event_key, ("line", 2))
    assert list(encode._names) == ["a", "b"]
    bare = update(2, fields=())
    assert json.loads(encode(bare, bare.event_key, ("line", 3)))["PutRequest"]["Item"].keys() == {
        "shipment_id",
        "event_key",
        "status",
        "timestamp",
        "source_file",
        "source_version",
        "record_ref",
    }


# --- response framing, against a scripted server -------------------------------------------------------------


class ScriptedServer:
    """Accepts connections and answers each request with the next scripted bytes (then closes if told to)."""

    def __init__(self, *answers: bytes | tuple[bytes, str]) -> None:
        self._answers = list(answers)
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        self.connections = 0
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while self._answers:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            self.connections += 1
            with conn:
                while self._answers:
                    request = b""
                    while b"\r\n\r\n" not in request:
                        chunk = conn.recv(65536)
                        if not chunk:
                            break
                        request += chunk
                    if not request:
                        break
                    head, _, body = request.partition(b"\r\n\r\n")
                    length = int(head.lower().split(b"content-length: ", 1)[1].split(b"\r\n", 1)[0])
                    while len(body) < length:
                        body += conn.recv(65536)
                    answer = self._answers.pop(0)
                    data, then = answer if isinstance(answer, tuple) else (answer, "")
                    try:
                        for piece in data if isinstance(data, list) else [data]:
                            conn.sendall(piece)
                            time.sleep(0.05)  # the client's reads see the pieces one by one
                    except OSError:  # the client gave up (a timeout test)
                        break
                    if then == "close":
                        break

    def close(self) -> None:
        self._sock.close()


OK = b'{"UnprocessedItems":{}}'


def _transport(url: str) -> DirectTransport:
    return DirectTransport(endpoint_url=url, region=REGION, credentials=Credentials("a", "b"), user_agent="x")


def _http(head: str, body: bytes = OK) -> bytes:
    return head.replace("\n", "\r\n").encode() + b"\r\n\r\n" + body


@pytest.mark.parametrize(
    ("answer", "reused"),
    [
        (_http(f"HTTP/1.1 200 OK\nContent-Length: {len(OK)}\nX-Dup: 1\nX-Dup: 2"), True),
        (_http("HTTP/1.1 100 Continue", b"") + _http(f"HTTP/1.1 200 OK\nContent-Length: {len(OK)}"), True),
        (_http(f"HTTP/1.1 200 OK\nContent-Length: {len(OK)}") + b"HTTP/1.1 200 OK\r\n", False),
        (_http(f"HTTP/1.0 200 OK\nContent-Length: {len(OK)}\nConnection: keep-alive"), True),
        ((_http(f"HTTP/1.0 200 OK\nContent-Length: {len(OK)}"), "close"), False),
        ((_http("HTTP/1.1 200 OK\nConnection: close"), "close"), False),
        (([_http("HTTP/1.1 200 OK\nConnection: close", b""), OK[:9], OK[9:]], "close"), False),
        (
            _http(
                "HTTP/1.1 200 OK\nTransfer-Encoding: chunked",
                b"5\r\n" + OK[:5] + b"\r\n12\r\n" + OK[5:] + b"\r\n0\r\n\r\n",
            ),
            True,
        ),
    ],
)
def test_responses_are_read_in_every_http_1_1_framing(answer: Any, reused: bool) -> None:
    server = ScriptedServer(answer, (_http(f"HTTP/1.1 200 OK\nContent-Length: {len(OK)}"), "close"))
    transport = _transport(server.url)
    try:
        assert transport.batch_write("t", []) == []
        assert transport.batch_write("t", []) == []
        assert server.connections == (1 if reused else 2)
    finally:
        server.close()
        transport.close()


def test_an_answer_that_trickles_in_is_given_up_at_the_read_timeout() -> None:
    head = _http(f"HTTP/1.1 200 OK\nContent-Length: {len(OK)}", b"")
    server = ScriptedServer(([head, *(bytes([byte]) for byte in OK)], "close"))  # a byte every 50 ms
    transport = DirectTransport(
        endpoint_url=server.url, region=REGION, credentials=Credentials("a", "b"), user_agent="x", read_timeout=0.3
    )
    started = time.monotonic()
    try:
        with pytest.raises(RetryableWriteError, match="timed out"):
            transport.batch_write("t", [])
    finally:
        server.close()
    assert time.monotonic() - started < 0.3 + 0.5, "the whole answer is due by the read timeout, not each read"


def test_an_answer_already_overdue_is_not_waited_for() -> None:
    server = ScriptedServer(_http(f"HTTP/1.1 200 OK\nContent-Length: {len(OK)}"))
    transport = _transport(server.url)
    try:
        exchange = transport.begin("t", [])
        exchange.deadline = time.monotonic() - 1  # e.g. the writer was paused past it
        with pytest.raises(RetryableWriteError, match="did not arrive within the read timeout"):
            transport.finish(exchange)
        assert transport._idle == []
    finally:
        server.close()


def test_a_no_content_response_has_no_body_and_is_an_error() -> None:
    server = ScriptedServer(_http("HTTP/1.1 204 No Content", b""))
    transport = _transport(server.url)
    try:
        with pytest.raises(ClientError, match=r"\(204\)"):
            transport.batch_write("t", [])
    finally:
        server.close()


@pytest.mark.parametrize(
    ("answer", "problem"),
    [
        ((b"SSH-2.0-OpenSSH\r\n\r\n", "close"), "not an HTTP response"),
        ((b"HTTP/1.1 2x0 OK\r\n\r\n", "close"), "not an HTTP response"),
        ((b"HTTP/1.1 2\xb20 OK\r\n\r\n", "close"), "not an HTTP response"),  # '²' passes str.isdigit
        ((_http("HTTP/1.1 200 OK\nContent-Length: \xb2"), "close"), "bad Content-Length"),
        ((_http("HTTP/1.1 200 OK\nno colon here"), "close"), "malformed response header"),
        ((_http("HTTP/1.1 200 OK\nContent-Length: -5"), "close"), "bad Content-Length"),
        ((_http("HTTP/1.1 200 OK\nContent-Length: 99"), "close"), "closed before the response body ended"),
        ((b"HTTP/1.1 200 OK\r\nContent-Length: 5", "close"), "closed before the response head ended"),
        ((b"HTTP/1.1 200 OK\r\n" + b"X-Pad: " + b"p" * 70_000, "close"), "response head is too large"),
        ((_http("HTTP/1.1 200 OK\nTransfer-Encoding: chunked", b"zz\r\n"), "close"), "bad chunk size"),
        ((_http("HTTP/1.1 200 OK\nTransfer-Encoding: chunked", b"-5\r\n"), "close"), "bad chunk size"),
        ((_http("HTTP/1.1 200 OK\nTransfer-Encoding: chunked", b"0x1a\r\n"), "close"), "bad chunk size"),
        (
            (_http("HTTP/1.1 200 OK\nTransfer-Encoding: chunked", b"2\r\n{}xx\r\n"), "close"),
            "chunk not followed by CRLF",
        ),
        ((_http("HTTP/1.1 200 OK\nTransfer-Encoding: chunked", b"2"), "close"), "inside a chunked response body"),
        ((_http("HTTP/1.1 200 OK\nTransfer-Encoding: chunked", b"1" * 70_000), "close"), "framing line is too long"),
    ],
)
def test_broken_responses_are_retryable_and_close_the_connection(answer: Any, problem: str) -> None:
    server = ScriptedServer(answer)
    transport = _transport(server.url)
    try:
        with pytest.raises(RetryableWriteError, match=problem):
            transport.batch_write("t", [])
        assert transport._idle == []
    finally:
        server.close()


@pytest.mark.parametrize(
    "body",
    [
        b"[1,2,3]",
        b"{{{",
        b"{}",
        b'{"UnprocessedItems":[1]}',
        b'{"UnprocessedItems":{"t":{}}}',
        b'{"UnprocessedItems":{"t":[1]}}',
    ],
)
def test_a_success_status_with_a_body_that_is_no_batch_result_is_retryable(body: bytes) -> None:
    server = ScriptedServer(_http(f"HTTP/1.1 200 OK\nContent-Length: {len(body)}", body))
    transport = _transport(server.url)
    try:
        with pytest.raises(RetryableWriteError, match="HTTP 200 with a body that is not a BatchWriteItem result"):
            transport.batch_write("t", [])
    finally:
        server.close()


@pytest.mark.parametrize(
    ("body", "code", "message"),
    [
        (
            b'{"__type":"com.amazon.coral.service#AccessDeniedException:extra","Message":"no"}',
            "AccessDeniedException",
            "no",
        ),
        (b"not json", "403", ""),
        (b'["a list"]', "403", ""),
        (b"", "403", ""),
    ],
)
def test_error_responses_are_parsed_like_botocores_json_protocol(body: bytes, code: str, message: str) -> None:
    server = ScriptedServer(_http(f"HTTP/1.1 403 Forbidden\nContent-Length: {len(body)}", body))
    transport = _transport(server.url)
    try:
        with pytest.raises(ClientError) as caught:
            transport.batch_write("t", [])
        assert caught.value.response["Error"] == {"Code": code, "Message": message}
        assert caught.value.response["ResponseMetadata"] == {"HTTPStatusCode": 403}
    finally:
        server.close()


def test_a_refused_connection_is_retryable() -> None:
    server = ScriptedServer()
    server.close()

    with pytest.raises(RetryableWriteError, match="connection failed: ConnectionRefusedError"):
        _transport(server.url).batch_write("t", [])


def test_a_writer_that_cannot_connect_pauses_between_attempts_then_fails_naming_the_cause() -> None:
    server = ScriptedServer()
    server.close()
    sleeps: list[float] = []
    backoff = Backoff(max_attempts=3, sleep=sleeps.append, random=lambda: 1.0)
    writer = PipelinedWriter(_transport(server.url), "t", "incoming/acme/x.csv", "v1", shards=2, backoff=backoff)

    writer.put(update(1), ("line", 2))
    with pytest.raises(TransientAWSError, match=r"after 3 attempts \(connection failed: ConnectionRefusedError"):
        writer.close()
    assert sleeps == [0.1, 0.2]


def test_a_request_that_cannot_be_sent_closes_its_connection_and_is_retryable(monkeypatch: pytest.MonkeyPatch) -> None:
    transport = _transport("http://127.0.0.1:9")

    class Unsendable:
        closed = False

        def send(self, request: bytes, deadline: float) -> None:
            raise BrokenPipeError("the peer is gone")

        def close(self) -> None:
            self.closed = True

    connection = Unsendable()
    monkeypatch.setattr(transport, "_checkout", lambda due: connection)

    with pytest.raises(RetryableWriteError, match="connection failed: BrokenPipeError"):
        transport.begin("t", [])
    assert connection.closed


def test_a_kept_connection_the_server_closed_while_idle_is_replaced_before_use(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(direct_write, "_IDLE_CHECK_S", 0.1)
    answer = _http(f"HTTP/1.1 200 OK\nContent-Length: {len(OK)}")
    server = ScriptedServer((answer, "close"), answer)
    transport = _transport(server.url)
    try:
        assert transport.batch_write("t", []) == []
        time.sleep(0.3)  # the server has closed its end by now, and the connection has been idle long enough

        assert transport.batch_write("t", []) == [], "no failed attempt, so no backoff"
        assert server.connections == 2
    finally:
        server.close()
        transport.close()


def test_a_connection_reused_at_once_is_not_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    checks: list[bool] = []
    monkeypatch.setattr(direct_write._Connection, "dropped", lambda self: checks.append(True) or False)
    answer = _http(f"HTTP/1.1 200 OK\nContent-Length: {len(OK)}")
    server = ScriptedServer(answer, answer)
    transport = _transport(server.url)
    try:
        transport.batch_write("t", [])
        transport.batch_write("t", [])

        assert checks == []
        assert server.connections == 1
    finally:
        server.close()
        transport.close()


def test_closing_the_transport_closes_its_idle_connections() -> None:
    server = ScriptedServer(_http(f"HTTP/1.1 200 OK\nContent-Length: {len(OK)}"))
    transport = _transport(server.url)
    try:
        transport.batch_write("t", [])
        assert len(transport._idle) == 1

        transport.close()

        assert transport._idle == []
    finally:
        server.close()


def test_store_makes_one_transport_per_process_for_all_files(server_world: ServerWorld) -> None:
    store = Store(server_world.settings())

    first, second = server_world.writer(store), server_world.writer(store, "incoming/acme/other.csv")

    assert isinstance(first, PipelinedWriter) and isinstance(second, PipelinedWriter)
    assert first._transport is second._transport
    first.close()
    second.close()


# --- the setting ---------------------------------------------------------------------------------------------


def test_events_write_path_defaults_to_direct_and_accepts_sdk_in_any_case() -> None:
    assert Settings.from_env({}).events_write_path == "direct"
    assert Settings.from_env({"EVENTS_WRITE_PATH": " SDK "}).events_write_path == "sdk"


def test_an_unknown_events_write_path_fails_the_cold_start_with_the_choices() -> None:
    with pytest.raises(ConfigError, match="EVENTS_WRITE_PATH='boto': must be one of direct, sdk"):
        Settings.from_env({"EVENTS_WRITE_PATH": "boto"})
