"""Unit-test support: moto's in-process AWS (``mock_aws``) with the bucket and tables the Terraform creates.

Tests drive the real handler against real (mocked) services and assert on what a user would see: the metadata
and events tables, the rejects report in S3, and the EMF document on stdout. Every processed file is checked
for the core invariants (accepted + rejected = total; the report has one line per rejected record; the events
table holds exactly the accepted updates).
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.dynamodb.models import dynamodb_backends

LAMBDA_SRC = Path(__file__).resolve().parents[2] / "lambda_src"
if str(LAMBDA_SRC) not in sys.path:  # pragma: no cover - pyproject's pythonpath normally does this
    sys.path.insert(0, str(LAMBDA_SRC))

from shipment_processor.aws.clients import Backoff  # noqa: E402
from shipment_processor.aws.metadata import from_dynamodb  # noqa: E402
from shipment_processor.config import Settings  # noqa: E402
from shipment_processor.handler import Runtime, handle  # noqa: E402
from shipment_processor.store import Store  # noqa: E402

from tools.emulator.aws import moto_fixes  # noqa: E402

# S3's answer to a repeated completion of a multipart upload (NoSuchUpload), which the local AWS gives too.
moto_fixes.no_such_upload()

REGION = "eu-west-1"
ACCOUNT = "123456789012"
BUCKET = f"shipment-files-{ACCOUNT}-{REGION}-dev"
METADATA_TABLE = "shipment-metadata-dev"
EVENTS_TABLE = "shipment-events-dev"
# One session for the whole run: mock_aws resets boto3's default session on every start, and re-loading the
# service models for each test's clients would dominate the suite's runtime.
SESSION = boto3.session.Session()
NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
EVENT_TIME = "2026-03-01T11:59:58.123Z"
# The metadata table's global secondary indexes, as modules/dynamodb declares them: name -> hash key.
METADATA_INDEXES = {"by-day": "upload_day", "by-shipper": "shipper", "by-problem": "problem_status"}
# Where the root module writes the shipper profiles object, in the files bucket.
PROFILES_KEY = "config/shipper-profiles.json"
# A shipper's profile for German CSV exports: windows-1252, ';'-separated, German column names and statuses,
# and the time in two columns of Berlin local time.
KRAUS_PROFILE: dict[str, Any] = {
    "encoding": "windows-1252",
    "csv": {"delimiter": ";"},
    "columns": {"shipment_id": "Sendungsnummer", "status": "Status", "timestamp": ["Datum", "Zeit"]},
    "rename": {"Ort": "location"},
    "statuses": {"map": {"zugestellt": "DELIVERED", "in Zustellung": "OUT_FOR_DELIVERY"}},
    "timestamps": {"formats": ["%d.%m.%Y %H:%M"], "zone": "Europe/Berlin"},
}


def fake_aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials and region; no endpoint override, so mock_aws intercepts every call."""
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_DEFAULT_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_REGION", REGION)
    # mock_aws only sees requests made through botocore: the direct write path is tested against a moto server.
    monkeypatch.setenv("EVENTS_WRITE_PATH", "sdk")


@contextmanager
def mocked_world(capsys: pytest.CaptureFixture[str]) -> Iterator[World]:
    """A versioned bucket and both tables in a fresh mocked account, mocked while the block runs."""
    with mock_aws():
        s3 = SESSION.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
        s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        dynamodb = SESSION.client("dynamodb", region_name=REGION)
        create_tables(dynamodb)
        yield World(s3, dynamodb, capsys)


def put_profiles(s3: Any, profiles: Mapping[str, Any] | bytes) -> None:
    """Write the shipper profiles object as Terraform does: ``profiles`` by shipper name, or the object's bytes."""
    body = profiles if isinstance(profiles, bytes) else json.dumps({"format": 1, "profiles": profiles}).encode()
    s3.put_object(Bucket=BUCKET, Key=PROFILES_KEY, Body=body)


def create_tables(dynamodb: Any, metadata_table: str = METADATA_TABLE, events_table: str = EVENTS_TABLE) -> None:
    """The two tables with exactly the keys and indexes the Terraform declares."""
    dynamodb.create_table(
        TableName=metadata_table,
        KeySchema=[
            {"AttributeName": "filename", "KeyType": "HASH"},
            {"AttributeName": "upload_timestamp", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": name, "AttributeType": "S"}
            for name in ("filename", "upload_timestamp", "upload_day", "shipper", "problem_status")
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": index,
                "KeySchema": [
                    {"AttributeName": hash_key, "KeyType": "HASH"},
                    {"AttributeName": "upload_timestamp", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
            for index, hash_key in METADATA_INDEXES.items()
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    dynamodb.create_table(
        TableName=events_table,
        KeySchema=[
            {"AttributeName": "shipment_id", "KeyType": "HASH"},
            {"AttributeName": "event_key", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "shipment_id", "AttributeType": "S"},
            {"AttributeName": "event_key", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )


# --- records and files -------------------------------------------------------------------------------------------


def record(n: int, prefix: str = "SHP", **overrides: Any) -> dict[str, Any]:
    """A valid shipment record; ``overrides`` replace or add fields (None removes one)."""
    base: dict[str, Any] = {
        "shipment_id": f"{prefix}-{n:06d}",
        "status": ("CREATED", "PICKED_UP", "IN_TRANSIT", "DELIVERED")[n % 4],
        "timestamp": (NOW - timedelta(hours=1, seconds=n)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "carrier": "DHL",
        "location": "Zürich",
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def records(count: int, prefix: str = "SHP") -> list[dict[str, Any]]:
    return [record(n, prefix) for n in range(count)]


def as_csv(rows: Iterable[Mapping[str, Any]], columns: list[str] | None = None) -> bytes:
    rows = list(rows)
    columns = columns or list(dict.fromkeys(name for row in rows for name in row))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow(["" if row.get(c) is None else row.get(c) for c in columns])
    return out.getvalue().encode()


def as_ndjson(rows: Iterable[Mapping[str, Any]]) -> bytes:
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows).encode()


def as_json_array(rows: Iterable[Mapping[str, Any]], indent: int | None = None) -> bytes:
    return json.dumps(list(rows), ensure_ascii=False, indent=indent).encode()


def as_json_object(row: Mapping[str, Any]) -> bytes:
    return json.dumps(row, ensure_ascii=False, indent=2).encode()


def gz(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


_SEQUENCE = iter(range(0x0055AED6DCD90281E5, 0x0055AED6DCD90281E5 + 10**9))


def next_sequencer() -> str:
    """A new S3 sequencer: every write of a key gets a larger one (compared as equal-length hex strings)."""
    return f"{next(_SEQUENCE):018X}"


# --- the world ---------------------------------------------------------------------------------------------------


FUNCTION_ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:shipment-processor-dev"


@dataclass
class Context:
    """The parts of the Lambda context the handler uses."""

    aws_request_id: str = "req-1"
    remaining_ms: int = 300_000
    invoked_function_arn: str = FUNCTION_ARN

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


@dataclass
class ShortContext(Context):
    """A context whose time runs short after ``looks`` looks at it: the processor then checkpoints and hands
    the rest of the file to a new invocation (it looks once per claim and once every 64 records)."""

    looks: int = 3

    def get_remaining_time_in_millis(self) -> int:
        self.looks -= 1
        return 300_000 if self.looks >= 0 else 1


class LambdaQueue:
    """Lambda as the function's own Invoke calls see it: asynchronous invocations queue up here."""

    def __init__(self) -> None:
        self.queued: list[dict[str, Any]] = []
        self.fail_next = 0

    def invoke(self, *, FunctionName: str, InvocationType: str, Payload: bytes) -> dict[str, Any]:
        assert InvocationType == "Event" and FunctionName == FUNCTION_ARN
        if self.fail_next:
            self.fail_next -= 1
            raise ClientError({"Error": {"Code": "ServiceException", "Message": "Lambda is down"}}, "Invoke")
        self.queued.append(json.loads(Payload))
        return {"StatusCode": 202}


class EventsRecorder:
    """EventBridge as the function sees it: the events put on the default bus are kept in order."""

    def __init__(self) -> None:
        self.entries: list[dict[str, Any]] = []

    def put_events(self, *, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        self.entries.extend(Entries)
        return {"FailedEntryCount": 0, "Entries": [{"EventId": str(len(self.entries))} for _ in Entries]}

    @property
    def details(self) -> list[dict[str, Any]]:
        return [json.loads(entry["Detail"]) for entry in self.entries]


@dataclass
class Processed:
    """Everything a user can observe after one invocation about one file."""

    key: str
    response: dict[str, Any]
    item: dict[str, Any]
    events: list[dict[str, Any]]
    rejects: list[dict[str, Any]]
    stdout: str = ""

    @property
    def status(self) -> str:
        return str(self.item["processing_status"])

    @property
    def emf(self) -> list[dict[str, Any]]:
        return emf_documents(self.stdout)


def emf_documents(stdout: str) -> list[dict[str, Any]]:
    return [doc for doc in json_lines(stdout) if "_aws" in doc]


def log_lines(stdout: str) -> list[dict[str, Any]]:
    return [doc for doc in json_lines(stdout) if "_aws" not in doc]


def json_lines(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]


@dataclass
class World:
    """A mocked account with the bucket and tables, and a handler runtime built from ``env``."""

    s3: Any
    dynamodb: Any
    capsys: pytest.CaptureFixture[str]
    env: dict[str, str] = field(default_factory=dict)
    now: datetime = NOW
    sleeps: list[float] = field(default_factory=list)
    lambda_: LambdaQueue = field(default_factory=LambdaQueue)
    events: EventsRecorder = field(default_factory=EventsRecorder)

    def settings(self) -> Settings:
        """Settings from ``env``; the events go through ``client.batch_write_item`` unless ``env`` says otherwise,
        because mock_aws only sees requests made through botocore (test_direct_write.py covers the direct path
        against a moto server)."""
        return Settings.from_env({"EVENTS_WRITE_PATH": "sdk", **self.env})

    def runtime(
        self, *, dynamodb: Any = None, s3: Any = None, report_part_bytes: int | None = None, fakes: bool = True
    ) -> Runtime:
        """A fresh runtime (a cold start) reading ``self.env``; clients may be replaced to inject faults. With
        ``fakes`` (the default) Lambda and EventBridge are :class:`LambdaQueue` and :class:`EventsRecorder`."""
        settings = self.settings()
        store = Store(
            settings,
            s3=s3 or S3Limits(self.s3),
            dynamodb=dynamodb or self.dynamodb,
            backoff=Backoff(sleep=self.sleeps.append, random=lambda: 1.0),
            clients={"lambda": self.lambda_, "events": self.events} if fakes else None,
            **({"report_part_bytes": report_part_bytes} if report_part_bytes else {}),
        )
        return Runtime.create(settings, store=store, clock=lambda: self.now)

    def put(self, key: str, data: bytes) -> dict[str, Any]:
        """Upload like a shipper; returns what the S3 notification would carry."""
        response = self.s3.put_object(Bucket=BUCKET, Key=key, Body=data)
        return {
            "versionId": response.get("VersionId"),
            "eTag": response["ETag"].strip('"'),
            "size": len(data),
            "sequencer": next_sequencer(),
        }

    def event(self, *keys_and_meta: tuple[str, dict[str, Any]], event_time: str = EVENT_TIME) -> dict[str, Any]:
        """An S3 ObjectCreated notification as AWS sends it (keys URL-encoded with '+' for spaces)."""
        return {
            "Records": [
                {
                    "eventVersion": "2.1",
                    "eventSource": "aws:s3",
                    "awsRegion": REGION,
                    "eventTime": event_time,
                    "eventName": "ObjectCreated:Put",
                    "s3": {
                        "s3SchemaVersion": "1.0",
                        "bucket": {"name": BUCKET, "arn": f"arn:aws:s3:::{BUCKET}"},
                        "object": {"key": quote_plus(key, safe="/"), "sequencer": "0055AED6DCD90281E5", **meta},
                    },
                }
                for key, meta in keys_and_meta
            ]
        }

    def invoke(self, event: dict[str, Any], runtime: Runtime | None = None, context: Context | None = None) -> Any:
        return handle(event, context or Context(), runtime or self.runtime())

    def drain(self, runtime: Runtime | None = None, looks: int = 3, limit: int = 1000) -> list[Any]:
        """Run every queued continuation (and those they queue) as Lambda would, each a new invocation."""
        responses = []
        runtime = runtime or self.runtime()
        while self.lambda_.queued and len(responses) < limit:
            payload = self.lambda_.queued.pop(0)
            number = len(responses) + 2
            responses.append(self.invoke(payload, runtime, ShortContext(f"req-c{number}", looks=looks)))
        return responses

    def process_in_segments(
        self, key: str, data: bytes, *, looks: int = 3, runtime: Runtime | None = None, duplicates: int = 0
    ) -> Processed:
        """Upload ``data``, deliver its event to an invocation whose time runs short, run the continuations it
        queues until the file is final; check the invariants and return what is visible."""
        meta = self.put(key, data)
        self.capsys.readouterr()
        runtime = runtime or self.runtime()
        first = self.invoke(self.event((key, meta)), runtime, ShortContext("req-1", looks=looks))
        self.drain(runtime, looks)
        stdout = self.capsys.readouterr().out
        return self.observe(key, first, stdout, upload_timestamp=EVENT_TIME, duplicates=duplicates)

    def process(
        self,
        key: str,
        data: bytes,
        *,
        duplicates: int = 0,
        runtime: Runtime | None = None,
        event_time: str = EVENT_TIME,
    ) -> Processed:
        """Upload ``data`` at ``key``, deliver the notification, check the invariants, return what is visible."""
        meta = self.put(key, data)
        self.capsys.readouterr()
        response = self.invoke(self.event((key, meta), event_time=event_time), runtime)
        stdout = self.capsys.readouterr().out
        return self.observe(key, response, stdout, upload_timestamp=event_time, duplicates=duplicates)

    def observe(
        self,
        key: str,
        response: Any = None,
        stdout: str = "",
        *,
        upload_timestamp: str | None = None,
        duplicates: int = 0,
    ) -> Processed:
        """The finished metadata item of ``key`` (the only one, or the one at ``upload_timestamp``) and its
        outputs, checked against the invariants every processed file must satisfy."""
        items = [i for i in self.metadata(key) if upload_timestamp in (None, i["upload_timestamp"])]
        assert len(items) == 1, f"expected one metadata item for {key}, found {len(items)}"
        item = items[0]
        events = [e for e in self.events_for(key) if e["source_version"] == item["version_id"]]
        result = Processed(key, response, item, events, self.report(item.get("rejects_key")), stdout)
        assert_consistent(result, duplicates=duplicates)
        return result

    def metadata(self, key: str) -> list[dict[str, Any]]:
        return [item for item in self.metadata_records(key) if item.get("item_type") != "version"]

    def metadata_records(self, key: str) -> list[dict[str, Any]]:
        """Every item of the key's partition: file items and the version records that give them their key."""
        response = self.dynamodb.query(
            TableName=METADATA_TABLE,
            KeyConditionExpression="filename = :f",
            ExpressionAttributeValues={":f": {"S": key}},
            ConsistentRead=True,
        )
        return [from_dynamodb(item) for item in response["Items"]]

    def events_for(self, key: str) -> list[dict[str, Any]]:
        return [item for item in self.all_events() if item["source_file"] == key]

    def all_events(self) -> list[dict[str, Any]]:
        """Every item of the events table.

        Read from moto's table state rather than through Scan: moto re-walks the whole table for every Scan
        page, which makes checking a 50 000-item table take minutes. The content is the same.
        """
        table = dynamodb_backends[ACCOUNT][REGION].get_table(EVENTS_TABLE)
        return [from_dynamodb(item.to_json()["Attributes"]) for item in table.all_items()]

    def report(self, rejects_key: str | None) -> list[dict[str, Any]]:
        if not rejects_key:
            return []
        body = self.s3.get_object(Bucket=BUCKET, Key=rejects_key)["Body"].read().decode()
        return [json.loads(line) for line in body.splitlines()]


class S3Limits:
    """The (moto) S3 client with the key limit AWS enforces and moto does not: at most 1,024 bytes of UTF-8."""

    def __init__(self, real: Any) -> None:
        self._real = real

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._real, name)
        if name not in {"put_object", "create_multipart_upload", "upload_part", "complete_multipart_upload"}:
            return method

        def checked(**kwargs: Any) -> Any:
            if len(kwargs["Key"].encode()) > 1024:
                raise ClientError({"Error": {"Code": "KeyTooLongError", "Message": "Your key is too long"}}, name)
            return method(**kwargs)

        return checked


def throttled(operation: str = "BatchWriteItem", code: str = "ProvisionedThroughputExceededException") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "Rate of requests exceeds"}}, operation)


class FaultyDynamoDB:
    """The real (moto) DynamoDB client with faults injected into BatchWriteItem; everything else passes through.

    * ``throttle_calls``: the first n calls raise ProvisionedThroughputExceededException (or ``throttle_code``);
    * ``unprocessed_calls``: the first n calls write only half of the request and return the rest as
      UnprocessedItems, as DynamoDB does under load;
    * ``fail_after``: every call after the first n successful ones raises ``error`` (a crash mid-file);
    * ``before_call``: a hook run before every call (to change the world mid-file).
    """

    def __init__(
        self,
        real: Any,
        *,
        throttle_calls: int = 0,
        unprocessed_calls: int = 0,
        fail_after: int | None = None,
        error: BaseException | None = None,
        before_call: Callable[[int], None] | None = None,
        throttle_code: str = "ProvisionedThroughputExceededException",
    ) -> None:
        self._real = real
        self.throttle_code = throttle_code
        self.throttle_calls, self.unprocessed_calls = throttle_calls, unprocessed_calls
        self.fail_after, self.error, self.before_call = fail_after, error, before_call
        self.calls = 0
        self.items_sent = 0
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def batch_write_item(self, **kwargs: Any) -> dict[str, Any]:
        with self._lock:
            self.calls += 1
            call = self.calls
        if self.before_call is not None:
            self.before_call(call)
        if self.fail_after is not None and call > self.fail_after:
            raise self.error or RuntimeError("injected failure")
        if call <= self.throttle_calls:
            raise throttled(code=self.throttle_code)
        table, requests = next(iter(kwargs["RequestItems"].items()))
        if call <= self.unprocessed_calls:
            written, unprocessed = requests[: len(requests) // 2], requests[len(requests) // 2 :]
            if written:
                self._real.batch_write_item(RequestItems={table: written})
            return {"UnprocessedItems": {table: unprocessed}}
        return self._real.batch_write_item(**kwargs)


class AtTheFinalWrite:
    """The real (moto) DynamoDB client, with :meth:`final_write` run just before each write of a file's final item
    (every other call passes through): a subclass refuses that write there, or changes the item first."""

    def __init__(self, real: Any) -> None:
        self._real = real

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def put_item(self, **kwargs: Any) -> Any:
        if kwargs["Item"].get("processing_status", {}).get("S") not in (None, "PROCESSING"):
            self.final_write(kwargs)
        return self._real.put_item(**kwargs)

    def final_write(self, request: dict[str, Any]) -> None:
        """What happens just before ``request`` (PutItem's arguments) writes a final item."""


def assert_consistent(result: Processed, *, duplicates: int = 0) -> None:
    """The invariants every processed file must satisfy, whatever its outcome."""
    item = result.item
    assert item["records_accepted"] + item["records_rejected"] == item["records_total"], item
    assert len(result.rejects) == item["records_rejected"], "rejects report must list every rejected record"
    assert ("rejects_key" in item) == (item["records_rejected"] > 0)
    assert len(result.events) == item["records_accepted"] - duplicates, "events table must hold the accepted updates"
    rejected_refs = {f"{k} {line[k]}" for line in result.rejects for k in ("line", "index") if k in line}
    assert rejected_refs.isdisjoint(e["record_ref"] for e in result.events), "a rejected record was stored"
    assert item["processing_status"] in ("SUCCESS", "PARTIAL", "FAILED")
    if item["processing_status"] == "FAILED":
        assert item["error_message"]


@contextmanager
def responses_lost(
    client: Any, operation: str, when: Callable[[dict[str, Any]], bool] = lambda _: True
) -> Iterator[list[dict[str, Any]]]:
    """Make botocore send a request again after it succeeded, as it does when the response is lost on the way
    back (a 500 or a dropped connection after the write was applied). ``when`` sees the request's JSON body;
    each matching request is re-sent once. Yields the bodies of the requests that were re-sent."""
    resent: list[dict[str, Any]] = []
    service = client.meta.service_model.service_id.hyphenize()

    def lose(response: Any, attempts: int, request_dict: dict[str, Any], **_: Any) -> int | None:
        if response is None or attempts != 1 or response[0].status_code != 200:
            return None
        raw = request_dict.get("body")
        try:
            body = json.loads(raw) if isinstance(raw, bytes | str) and raw[:1] in (b"{", "{") else {}
        except ValueError:  # not one JSON document (an S3 body)
            body = {}
        if not when(body):
            return None
        resent.append(body)
        return 0  # retry at once: the write is applied a second time, with the same content

    event = f"needs-retry.{service}.{operation}"
    client.meta.events.register_first(event, lose, unique_id=f"lost-{operation}")
    try:
        yield resent
    finally:
        client.meta.events.unregister(event, unique_id=f"lost-{operation}")
