"""The one AWS adapter: reads the object, claims and records files in the metadata table, batch-writes shipment
events, uploads rejects reports. Everything else in the package is pure.

Retries: botocore retries each call (standard mode: throttling, 5xx, connection errors). On top of that, batch
writes retry ``UnprocessedItems`` and throttling errors with exponential backoff and full jitter; on the direct
events path (``EVENTS_WRITE_PATH=direct``, see direct_write.py) that backoff is the only retry layer and also
covers 5xx, dropped connections and timeouts. When AWS still fails after that, :class:`TransientAWSError` (or the
botocore error) propagates so that the invocation fails and Lambda's own retries and on-failure destination take
over.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from logging import WARNING
from typing import Any, Protocol

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from .config import Settings
from .direct_write import RETRYABLE_ERROR_CODES, DirectTransport, ItemEncoder, RetryableWriteError
from .formats import RecordRef
from .logs import log
from .validation import ShipmentUpdate

BATCH_SIZE = 25  # BatchWriteItem maximum
REPORT_PART_BYTES = 8 * 1024 * 1024
PROCESSING = "PROCESSING"
FINAL_STATUSES = frozenset({"SUCCESS", "PARTIAL", "FAILED"})

Item = dict[str, Any]


class TransientAWSError(RuntimeError):
    """AWS kept failing after the handler's own retries; the invocation should fail and be retried."""


class ObjectMissingError(Exception):
    """The object version named by the event no longer exists."""


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential backoff with full jitter: attempt n waits uniform(0, min(cap, base * 2**n)) seconds."""

    max_attempts: int = 8
    base_s: float = 0.05
    cap_s: float = 5.0
    sleep: Callable[[float], None] = time.sleep
    random: Callable[[], float] = random.random

    def pause(self, attempt: int) -> None:
        self.sleep(self.random() * min(self.cap_s, self.base_s * 2**attempt))


@dataclass(frozen=True, slots=True)
class StoredObject:
    """An open object body and what S3 said about it."""

    body: Any
    content_length: int
    etag: str | None


@dataclass(frozen=True, slots=True)
class ClaimResult:
    """Outcome of trying to claim a (filename, upload_timestamp) item; ``existing`` is the item that won."""

    acquired: bool
    existing: Item | None = None


def client_config(settings: Settings) -> Config:
    """botocore settings for every client: bounded timeouts, standard retries, a pool wide enough for the writers.

    Client-side parameter validation is off: the services validate every request anyway, and re-validating
    tens of thousands of fixed-shape BatchWriteItem requests per file is pure CPU cost.
    """
    return Config(
        retries={"mode": "standard", "max_attempts": 5},
        connect_timeout=5,
        read_timeout=30,
        max_pool_connections=settings.write_concurrency + 4,
        user_agent_extra="shipment-processor",
        parameter_validation=False,
    )


_SESSION_LOCK = threading.Lock()
_SESSIONS: list[boto3.session.Session] = []


def _session() -> boto3.session.Session:
    """One boto3 session per process, so service models are loaded once however many clients are made."""
    with _SESSION_LOCK:
        if not _SESSIONS:
            _SESSIONS.append(boto3.session.Session())
        return _SESSIONS[0]


class Store:
    """AWS access for one process. Clients are created on first use and reused (they honour AWS_ENDPOINT_URL)."""

    def __init__(
        self,
        settings: Settings,
        *,
        s3: Any = None,
        dynamodb: Any = None,
        backoff: Backoff | None = None,
        report_part_bytes: int = REPORT_PART_BYTES,
    ) -> None:
        self.settings = settings
        self.backoff = backoff or Backoff()
        self.report_part_bytes = report_part_bytes
        self._clients: dict[str, Any] = {k: v for k, v in (("s3", s3), ("dynamodb", dynamodb)) if v is not None}
        self._lock = threading.Lock()
        self._direct: DirectTransport | None = None

    def client(self, service: str) -> Any:
        """The process-wide client for ``service``, created on first use."""
        with self._lock:
            if service not in self._clients:
                self._clients[service] = _session().client(service, config=client_config(self.settings))
            return self._clients[service]

    # --- S3 --------------------------------------------------------------------------------------------------

    def open_object(self, bucket: str, key: str, version_id: str | None) -> StoredObject:
        """GET the exact version from the event (or the latest when the bucket is unversioned)."""
        params = {"Bucket": bucket, "Key": key}
        if version_id:
            params["VersionId"] = version_id
        try:
            response = self.client("s3").get_object(**params)
        except ClientError as exc:
            if _code(exc) in ("NoSuchKey", "NoSuchVersion", "404"):
                raise ObjectMissingError(
                    f"s3://{bucket}/{key} (version {version_id or 'null'}) no longer exists"
                ) from exc
            raise
        return StoredObject(response["Body"], int(response.get("ContentLength", 0)), response.get("ETag"))

    def rejects_writer(self, bucket: str, key: str, metadata: Mapping[str, str]) -> RejectsWriter:
        """A writer for the rejects report at ``key`` (nothing is uploaded unless a line is added)."""
        return RejectsWriter(lambda: self.client("s3"), bucket, key, dict(metadata), self.report_part_bytes)

    # --- metadata table ------------------------------------------------------------------------------------

    def find_version(self, filename: str, version_id: str) -> str | None:
        """upload_timestamp of an existing item for this object version, if any (earliest first)."""
        params: dict[str, Any] = {
            "TableName": self.settings.metadata_table,
            "KeyConditionExpression": "filename = :f",
            "FilterExpression": "version_id = :v",
            "ProjectionExpression": "upload_timestamp",
            "ExpressionAttributeValues": {":f": {"S": filename}, ":v": {"S": version_id}},
            "ConsistentRead": True,
        }
        for page in self.client("dynamodb").get_paginator("query").paginate(**params):
            if page.get("Items"):
                return str(page["Items"][0]["upload_timestamp"]["S"])
        return None

    def claim(self, item: Mapping[str, Any], *, owner: str, now_epoch: int) -> ClaimResult:
        """Create the PROCESSING item, or take it over if its claim is stale or is our own earlier attempt."""
        try:
            self.client("dynamodb").put_item(
                TableName=self.settings.metadata_table,
                Item=to_dynamodb(item),
                ConditionExpression=(
                    "attribute_not_exists(filename) OR (processing_status = :processing AND "
                    "(claim_expires_at < :now OR claim_owner = :owner))"
                ),
                ExpressionAttributeValues={
                    ":processing": {"S": PROCESSING},
                    ":now": {"N": str(now_epoch)},
                    ":owner": {"S": owner},
                },
            )
        except ClientError as exc:
            if _code(exc) != "ConditionalCheckFailedException":
                raise
            return ClaimResult(False, self.get_metadata(item["filename"], item["upload_timestamp"]))
        return ClaimResult(True)

    def release(self, filename: str, upload_timestamp: str, token: str) -> None:
        """Expire our claim now so any redelivery can take over at once (best effort: it only saves time)."""
        try:
            self.client("dynamodb").update_item(
                TableName=self.settings.metadata_table,
                Key=to_dynamodb({"filename": filename, "upload_timestamp": upload_timestamp}),
                UpdateExpression="SET claim_expires_at = :zero",
                ConditionExpression="claim_token = :token",
                ExpressionAttributeValues={":zero": {"N": "0"}, ":token": {"S": token}},
            )
        except Exception as exc:  # the claim then simply expires at its deadline
            log(WARNING, "could not release the claim; it will expire on its own", key=filename, error=repr(exc))

    def finish(self, item: Mapping[str, Any], token: str) -> bool:
        """Replace our PROCESSING item with the final one; False if another invocation has taken the claim over."""
        try:
            self.client("dynamodb").put_item(
                TableName=self.settings.metadata_table,
                Item=to_dynamodb(item),
                ConditionExpression="claim_token = :token",
                ExpressionAttributeValues={":token": {"S": token}},
            )
        except ClientError as exc:
            if _code(exc) == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def get_metadata(self, filename: str, upload_timestamp: str) -> Item | None:
        """The metadata item as plain Python values (consistent read)."""
        response = self.client("dynamodb").get_item(
            TableName=self.settings.metadata_table,
            Key=to_dynamodb({"filename": filename, "upload_timestamp": upload_timestamp}),
            ConsistentRead=True,
        )
        return from_dynamodb(response["Item"]) if "Item" in response else None

    # --- events table --------------------------------------------------------------------------------------

    def event_writer(self, source_file: str, source_version: str) -> EventWriter:
        """A batching, concurrent writer of accepted updates for one file, on the path ``EVENTS_WRITE_PATH`` picks."""
        return EventWriter(
            self._events_sink(),
            source_file,
            source_version,
            shards=self.settings.write_concurrency,
            backoff=self.backoff,
        )

    def _events_sink(self) -> EventSink:
        table = self.settings.events_table
        if self.settings.events_write_path == "sdk":
            return SdkEvents(lambda: self.client("dynamodb"), table)
        client = self.client("dynamodb")
        with self._lock:
            if self._direct is None:
                self._direct = DirectTransport.for_client(client, _session().get_credentials())
            return DirectEvents(self._direct, table)


class EventSink(Protocol):
    """How put requests for the events table are encoded and sent: one BatchWriteItem attempt per ``send``."""

    table: str

    def encoder(self, source_file: str, source_version: str) -> Callable[[ShipmentUpdate, str, RecordRef], Any]:
        """The function that turns (update, event_key, ref) into one put request, for one source file."""
        ...

    def send(self, requests: list[Any]) -> list[Any]:
        """Write ``requests`` once; return those left unprocessed. Raise RetryableWriteError to be retried."""
        ...


class SdkEvents:
    """The fallback path: ``client.batch_write_item`` with botocore's serialiser, signer, retries and HTTP client."""

    def __init__(self, client: Callable[[], Any], table: str) -> None:
        self._client, self.table = client, table

    def encoder(self, source_file: str, source_version: str) -> Callable[[ShipmentUpdate, str, RecordRef], Any]:
        """Put requests as the typed dicts botocore serialises."""

        def encode(update: ShipmentUpdate, event_key: str, ref: RecordRef) -> dict[str, Any]:
            item: Item = {
                "shipment_id": {"S": update.shipment_id},
                "event_key": {"S": event_key},
                "status": {"S": update.status},
                "timestamp": {"S": update.timestamp},
                "source_file": {"S": source_file},
                "source_version": {"S": source_version},
                "record_ref": {"S": f"{ref[0]} {ref[1]}"},
            }
            for name, value in update.fields:
                item[name] = {"S": value}
            return {"PutRequest": {"Item": item}}

        return encode

    def send(self, requests: list[Any]) -> list[Any]:
        """One ``batch_write_item`` call (botocore's own standard retries included)."""
        try:
            response = self._client().batch_write_item(RequestItems={self.table: requests})
        except ClientError as exc:
            if _code(exc) not in RETRYABLE_ERROR_CODES:
                raise
            raise RetryableWriteError(_code(exc)) from exc
        return list(response.get("UnprocessedItems", {}).get(self.table, []))


class DirectEvents:
    """The default path: item JSON text built once per record, sent by :class:`DirectTransport`."""

    def __init__(self, transport: DirectTransport, table: str) -> None:
        self._transport, self.table = transport, table

    def encoder(self, source_file: str, source_version: str) -> Callable[[ShipmentUpdate, str, RecordRef], Any]:
        """Put requests as JSON text."""
        return ItemEncoder(source_file, source_version)

    def send(self, requests: list[Any]) -> list[Any]:
        """One signed BatchWriteItem over a kept-alive connection."""
        return self._transport.batch_write(self.table, requests)


class EventWriter:
    """Writes updates with BatchWriteItem, several batches in flight, losing nothing.

    Updates are sharded by their key onto single-thread executors, so two updates with the same key are always
    written in file order (the later one wins) while different keys are written concurrently. Within a batch a
    repeated key keeps only its latest update (DynamoDB rejects duplicate keys in one batch). At most
    ``max_in_flight`` batches per shard are queued: memory stays bounded. Each put request is encoded once, at
    ``put``, in the sink's own form; UnprocessedItems and retryable failures are retried with ``backoff``.
    """

    def __init__(
        self,
        sink: EventSink,
        source_file: str,
        source_version: str,
        *,
        shards: int,
        backoff: Backoff,
        max_in_flight: int = 2,
    ) -> None:
        self._sink, self._table = sink, sink.table
        self._encode = sink.encoder(source_file, source_version)
        self._backoff = backoff
        self._max_in_flight = max_in_flight
        self._executors = [ThreadPoolExecutor(1, thread_name_prefix=f"events-{i}") for i in range(shards)]
        self._pending: list[dict[tuple[str, str], Any]] = [{} for _ in range(shards)]
        self._in_flight: list[deque[Future[int]]] = [deque() for _ in range(shards)]
        self.items_written = 0

    def __enter__(self) -> EventWriter:
        return self

    def __exit__(self, exc_type: object, *_: object) -> None:
        if exc_type is not None:
            self.abort()

    def put(self, update: ShipmentUpdate, ref: RecordRef) -> None:
        """Queue one accepted update; may block while earlier batches of its shard are written."""
        event_key = update.event_key
        key = (update.shipment_id, event_key)
        shard = hash(key) % len(self._pending)
        pending = self._pending[shard]
        pending[key] = self._encode(update, event_key, ref)  # a repeat of a key within the batch replaces it
        if len(pending) == BATCH_SIZE:
            self._submit(shard)

    def close(self) -> int:
        """Write everything still queued, wait for all batches; return how many items were written."""
        try:
            for shard in range(len(self._pending)):
                if self._pending[shard]:
                    self._submit(shard)
            for queue in self._in_flight:
                while queue:
                    self.items_written += queue.popleft().result()
        finally:
            self.abort()
        return self.items_written

    def abort(self) -> None:
        """Drop queued batches and stop the threads (batches already sent are harmless: writes are keyed)."""
        for executor in self._executors:
            executor.shutdown(wait=True, cancel_futures=True)

    def _submit(self, shard: int) -> None:
        requests = list(self._pending[shard].values())
        self._pending[shard] = {}
        queue = self._in_flight[shard]
        queue.append(self._executors[shard].submit(self._write_batch, requests))
        while len(queue) > self._max_in_flight or (queue and queue[0].done()):
            self.items_written += queue.popleft().result()

    def _write_batch(self, requests: list[Any]) -> int:
        count = len(requests)
        attempt = 0
        while True:
            cause: Exception | None = None
            try:
                requests = self._sink.send(requests)
            except RetryableWriteError as exc:
                problem, cause = exc.problem, exc.__cause__ or exc
            else:
                if not requests:
                    return count
                problem = f"{len(requests)} unprocessed items"
            attempt += 1
            if attempt >= self._backoff.max_attempts:
                raise TransientAWSError(
                    f"BatchWriteItem to {self._table} still failing after {attempt} attempts ({problem})"
                ) from cause
            self._backoff.pause(attempt)


class RejectsWriter:
    """Streams the rejects report (JSON Lines, in file order) to S3: one PUT when small, multipart when large."""

    def __init__(
        self, client: Callable[[], Any], bucket: str, key: str, metadata: dict[str, str], part_bytes: int
    ) -> None:
        self._client, self._bucket, self.key, self._metadata = client, bucket, key, metadata
        self._part_bytes = part_bytes
        self._buffer = bytearray()
        self._upload_id: str | None = None
        self._parts: list[dict[str, Any]] = []
        self.lines = 0

    def __enter__(self) -> RejectsWriter:
        return self

    def __exit__(self, exc_type: object, *_: object) -> None:
        if exc_type is not None:
            self.abort()

    def add(self, ref: RecordRef, reason: str, raw: str) -> None:
        """Append one report line: where the record is, why it was rejected, and the record itself."""
        entry = {ref[0]: ref[1], "reason": reason, "record": raw}
        self._buffer += json.dumps(entry, ensure_ascii=False).encode() + b"\n"
        self.lines += 1
        if len(self._buffer) >= self._part_bytes:
            self._upload_part()

    def close(self) -> str | None:
        """Finish the upload; return the report key, or None when there was nothing to report."""
        if self._upload_id is None:
            if not self.lines:
                return None
            self._client().put_object(
                Bucket=self._bucket,
                Key=self.key,
                Body=bytes(self._buffer),
                ContentType="application/x-ndjson",
                Metadata=self._metadata,
            )
            return self.key
        if self._buffer:
            self._upload_part()
        self._client().complete_multipart_upload(
            Bucket=self._bucket,
            Key=self.key,
            UploadId=self._upload_id,
            MultipartUpload={"Parts": self._parts},
        )
        self._upload_id = None
        return self.key

    def abort(self) -> None:
        """Abandon a multipart upload so no half-written report (or stored parts) is left behind."""
        if self._upload_id is not None:
            upload_id, self._upload_id = self._upload_id, None
            try:
                self._client().abort_multipart_upload(Bucket=self._bucket, Key=self.key, UploadId=upload_id)
            except Exception as exc:  # a bucket lifecycle rule cleans up abandoned uploads
                log(WARNING, "could not abort the rejects report upload", key=self.key, error=repr(exc))

    def _upload_part(self) -> None:
        if self._upload_id is None:
            self._upload_id = self._client().create_multipart_upload(
                Bucket=self._bucket, Key=self.key, ContentType="application/x-ndjson", Metadata=self._metadata
            )["UploadId"]
        number = len(self._parts) + 1
        response = self._client().upload_part(
            Bucket=self._bucket,
            Key=self.key,
            UploadId=self._upload_id,
            PartNumber=number,
            Body=bytes(self._buffer),
        )
        self._parts.append({"PartNumber": number, "ETag": response["ETag"]})
        self._buffer = bytearray()


def to_dynamodb(item: Mapping[str, Any]) -> Item:
    """Plain values -> DynamoDB attribute values. The metadata item only holds text, whole numbers and lists of
    text; None is left out."""
    return {name: _attribute(value) for name, value in item.items() if value is not None}


def _attribute(value: str | int | list[str]) -> dict[str, Any]:
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, int):
        return {"N": str(value)}
    return {"L": [_attribute(v) for v in value]}


def from_dynamodb(item: Mapping[str, Any]) -> Item:
    """DynamoDB attribute values -> plain values (the inverse of :func:`to_dynamodb`)."""
    return {name: _value(attribute) for name, attribute in item.items()}


def _value(attribute: Mapping[str, Any]) -> Any:
    kind, value = next(iter(attribute.items()))
    if kind == "N":
        return int(value)
    if kind == "L":
        return [_value(v) for v in value]
    return value


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))
