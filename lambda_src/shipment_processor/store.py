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

import contextlib
import hashlib
import json
import random
import re
import select
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FuturesTimeout
from dataclasses import dataclass
from logging import WARNING
from typing import Any, Protocol, Self

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from .config import Settings
from .direct_write import (
    RETRYABLE_ERROR_CODES,
    DirectTransport,
    Exchange,
    ItemEncoder,
    RetryableWriteError,
    UnsupportedProxyError,
)
from .formats import RecordRef
from .logs import log
from .pacing import Pacer, is_throttling
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

    def pause(self, attempt: int, deadline: float | None = None) -> None:
        """Wait before attempt ``attempt + 1``, never past ``deadline`` (monotonic)."""
        self.wait(self.random() * min(self.cap_s, self.base_s * 2**attempt), deadline)

    def wait(self, seconds: float, deadline: float | None = None) -> None:
        """Sleep ``seconds``, cut short at ``deadline`` (monotonic)."""
        if deadline is not None:
            seconds = min(seconds, deadline - time.monotonic())
        if seconds > 0:
            self.sleep(seconds)


class ObjectChangedError(Exception):
    """The object at the key is no longer the one the event announced (an unversioned key overwritten)."""


Conflict = Item
"""What a failed conditional write found in its place (DynamoDB's ALL_OLD; empty when there is no item)."""


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
        clients: Mapping[str, Any] | None = None,
    ) -> None:
        self.settings = settings
        self.backoff = backoff or Backoff()
        self.report_part_bytes = report_part_bytes
        self._clients: dict[str, Any] = {k: v for k, v in (("s3", s3), ("dynamodb", dynamodb)) if v is not None}
        self._clients.update(clients or {})
        self._lock = threading.Lock()
        self._direct: DirectTransport | None = None
        self._pacers: dict[str, Pacer] = {}
        self._proxy_noted = False

    def warm(self, services: tuple[str, ...]) -> None:
        """Create the clients of ``services`` now (an init phase gets its CPU before the timeout starts)."""
        for service in services:
            self.client(service)

    def client(self, service: str) -> Any:
        """The process-wide client for ``service``, created on first use."""
        with self._lock:
            if service not in self._clients:
                self._clients[service] = _session().client(service, config=client_config(self.settings))
            return self._clients[service]

    # --- S3 --------------------------------------------------------------------------------------------------

    def object_source(self, bucket: str, key: str, version_id: str | None, etag: str | None) -> S3Source:
        """The object version of an event, readable from any offset (a :class:`~.formats.Source`)."""
        return S3Source(self.client("s3"), bucket, key, version_id, etag)

    def rejects_report(self, bucket: str, key: str, metadata: Mapping[str, str], spill_prefix: str) -> RejectsWriter:
        """A writer for the rejects report at ``key`` (nothing is uploaded unless a line is added)."""
        return RejectsWriter(
            lambda: self.client("s3"), bucket, key, dict(metadata), self.report_part_bytes, spill_prefix=spill_prefix
        )

    def rejects_writer(self, bucket: str, key: str, metadata: Mapping[str, str]) -> RejectsWriter:
        """A writer for a report that is written in one invocation (no parts carried to another)."""
        return self.rejects_report(bucket, key, metadata, f"{self.settings.rejects_prefix}.partial/")

    # --- metadata table ------------------------------------------------------------------------------------

    def put_if(self, item: Mapping[str, Any], condition: str, values: Mapping[str, Any]) -> Conflict | None:
        """PutItem when ``condition`` holds: None when written, else the item that stood in the way.

        A retried request whose first attempt was applied (its response lost) fails its own condition; the
        caller recognises its own write in the returned item (its claim token).
        """
        params: dict[str, Any] = {
            "TableName": self.settings.metadata_table,
            "Item": to_dynamodb(item),
            "ConditionExpression": condition,
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
        if values:  # DynamoDB refuses an empty ExpressionAttributeValues
            params["ExpressionAttributeValues"] = to_dynamodb(values)
        if names := _names(condition):
            params["ExpressionAttributeNames"] = names
        try:
            self.client("dynamodb").put_item(**params)
        except ClientError as exc:
            return self._conflict(exc, item["filename"], item["upload_timestamp"])
        return None

    def update_if(
        self,
        key: Mapping[str, str],
        update: str,
        condition: str,
        values: Mapping[str, Any],
        *,
        names: Mapping[str, str] | None = None,
    ) -> tuple[Item | None, Conflict | None]:
        """UpdateItem when ``condition`` holds: (the item as written, None), or (None, what stood in the way)."""
        params: dict[str, Any] = {
            "TableName": self.settings.metadata_table,
            "Key": to_dynamodb(key),
            "UpdateExpression": update,
            "ConditionExpression": condition,
            "ReturnValues": "ALL_NEW",
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
        if values:
            params["ExpressionAttributeValues"] = to_dynamodb(values)
        names = {**_names(update, condition), **(names or {})}
        if names:
            params["ExpressionAttributeNames"] = names
        try:
            response = self.client("dynamodb").update_item(**params)
        except ClientError as exc:
            return None, self._conflict(exc, key["filename"], key["upload_timestamp"])
        return from_dynamodb(response.get("Attributes", {})), None

    def _conflict(self, exc: ClientError, filename: str, upload_timestamp: str) -> Conflict:
        if _code(exc) != "ConditionalCheckFailedException":
            raise exc
        if "Item" in exc.response:
            return from_dynamodb(exc.response["Item"])
        return self.get_metadata(filename, upload_timestamp) or {}  # ALL_OLD is empty when nothing was there

    def get_metadata(self, filename: str, upload_timestamp: str) -> Item | None:
        """The metadata item as plain Python values (consistent read)."""
        response = self.client("dynamodb").get_item(
            TableName=self.settings.metadata_table,
            Key=to_dynamodb({"filename": filename, "upload_timestamp": upload_timestamp}),
            ConsistentRead=True,
        )
        return from_dynamodb(response["Item"]) if "Item" in response else None

    # --- Lambda and EventBridge ----------------------------------------------------------------------------

    def invoke_async(self, function: str, payload: Mapping[str, Any]) -> None:
        """Hand ``payload`` to a new asynchronous invocation of ``function`` (Lambda queues it and retries it)."""
        body = json.dumps(payload, separators=(",", ":")).encode()
        response = self.client("lambda").invoke(FunctionName=function, InvocationType="Event", Payload=body)
        if response.get("StatusCode") != 202:
            raise TransientAWSError(f"Lambda did not queue the continuation (status {response.get('StatusCode')})")

    def put_event(self, source: str, detail_type: str, detail: Mapping[str, Any], resources: list[str]) -> None:
        """One event on the account's default EventBridge bus; entries EventBridge reports as failed are retried."""
        entry = {
            "Source": source,
            "DetailType": detail_type,
            "Detail": json.dumps(detail, separators=(",", ":"), ensure_ascii=False),
            "Resources": resources,
        }
        attempt = 0
        while True:
            response = self.client("events").put_events(Entries=[entry])
            if not response.get("FailedEntryCount"):
                return
            failure = (response.get("Entries") or [{}])[0]
            attempt += 1
            if attempt >= self.backoff.max_attempts:
                raise TransientAWSError(
                    f"EventBridge refused the outcome event {attempt} times: "
                    f"{failure.get('ErrorCode')} {failure.get('ErrorMessage')}"
                )
            self.backoff.pause(attempt)

    # --- events table --------------------------------------------------------------------------------------

    def event_writer(
        self, source_file: str, source_version: str, *, deadline: float | None = None
    ) -> EventWriter | PipelinedWriter:
        """A batching, concurrent writer of accepted updates for one file, on the path ``EVENTS_WRITE_PATH`` picks.

        With a ``deadline`` (monotonic), the writer neither waits nor sends past it: what it has not stored by
        then is left in :meth:`~PipelinedWriter.unwritten` for the next invocation.
        """
        table, shards = self.settings.events_table, self.settings.write_concurrency
        pacing = {"backoff": self.backoff, "pacer": self.pacer(table), "deadline": deadline}
        transport = self._direct_if_possible() if self.settings.events_write_path == "direct" else None
        if transport is None:
            sink = SdkEvents(lambda: self.client("dynamodb"), table)
            return EventWriter(sink, source_file, source_version, shards=shards, **pacing)
        return PipelinedWriter(transport, table, source_file, source_version, shards=shards, **pacing)

    def _direct_if_possible(self) -> DirectTransport | None:
        """The direct transport, or None (once logged) when a proxy applies that only the SDK path can use."""
        try:
            return self.direct_transport()
        except UnsupportedProxyError as exc:
            with self._lock:
                first, self._proxy_noted = not self._proxy_noted, True
            if first:
                log(WARNING, "events are written through the SDK path: a proxy applies", reason=str(exc))
            return None

    def pacer(self, table: str) -> Pacer:
        """The process-wide pacing of writes to ``table``: what one file learnt of its capacity, the next uses."""
        with self._lock:
            return self._pacers.setdefault(table, Pacer())

    def direct_transport(self) -> DirectTransport:
        """The process-wide transport of the direct path (one pool of kept-alive connections for every file)."""
        client = self.client("dynamodb")
        with self._lock:
            if self._direct is None:
                self._direct = DirectTransport.for_client(client)
            return self._direct


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


class _AbortsOnError:
    """A writer used as a context manager: an exception inside the block aborts it (queued batches dropped)."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: object, *_: object) -> None:
        if exc_type is not None:
            self.abort()

    abort: Callable[[], None]  # each writer's own


def _key_of(request: Mapping[str, Any]) -> tuple[str, str]:
    """The (shipment_id, event_key) of a put request."""
    item = request["PutRequest"]["Item"]
    return item["shipment_id"]["S"], item["event_key"]["S"]


class _Progress:
    """Throttling gives up only when nothing at all is stored: a batch's throttled attempts count from the last
    time any batch of the writer was stored, and only once the pacer is at its slowest (one batch a second). A
    throttled table stores its capacity, so a working chain never runs out of attempts; a table that stores
    nothing for ``max_attempts`` paced attempts does."""

    def __init__(self) -> None:
        self.stored = 0
        self._lock = threading.Lock()

    def add(self, items: int) -> None:
        with self._lock:
            self.stored += items


class EventWriter(_AbortsOnError):
    """The sdk path's writer: BatchWriteItem calls on writer threads, several batches in flight, losing nothing.

    Updates are sharded by their key onto single-thread executors, so two updates with the same key are always
    written in file order (the later one wins) while different keys are written concurrently. Within a batch a
    repeated key keeps only its latest update (DynamoDB rejects duplicate keys in one batch). At most
    ``max_in_flight`` batches per shard are queued: memory stays bounded. Each put request is encoded once, at
    ``put``, in the sink's own form. Throttled writes are paced by ``pacer``; other retryable failures are retried
    with ``backoff``. Nothing waits past ``deadline``: batches not stored by then are left in :meth:`unwritten`
    (a call still on the wire then is abandoned to its thread; its batch is among them).
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
        pacer: Pacer | None = None,
        deadline: float | None = None,
    ) -> None:
        self._sink, self._table = sink, sink.table
        self._encode = sink.encoder(source_file, source_version)
        self._backoff = backoff
        self._pacer = pacer or Pacer()
        self._deadline = deadline
        self._max_in_flight = max_in_flight
        self._executors = [ThreadPoolExecutor(1, thread_name_prefix=f"events-{i}") for i in range(shards)]
        self._pending: list[dict[tuple[str, str], Any]] = [{} for _ in range(shards)]
        self._in_flight: list[deque[tuple[Future[list[Any]], list[Any]]]] = [deque() for _ in range(shards)]
        self._progress = _Progress()
        self._left: list[Any] = []
        self.items_written = 0

    def carry(self, requests: list[str]) -> None:
        """Queue put requests an earlier invocation left unwritten (JSON text), ahead of this file's next ones."""
        for text in requests:
            request = json.loads(text)
            key = _key_of(request)
            shard = hash(key) % len(self._pending)
            self._pending[shard][key] = request
            if len(self._pending[shard]) == BATCH_SIZE:
                self._submit(shard)

    def put(self, update: ShipmentUpdate, ref: RecordRef) -> None:
        """Queue one accepted update; may block (never past the deadline) while earlier batches are written."""
        event_key = update.event_key
        key = (update.shipment_id, event_key)
        shard = hash(key) % len(self._pending)
        pending = self._pending[shard]
        pending[key] = self._encode(update, event_key, ref)  # a repeat of a key within the batch replaces it
        if len(pending) == BATCH_SIZE:
            self._submit(shard)

    def close(self) -> int:
        """Write everything still queued, wait for all batches (until the deadline); return how many items were
        written."""
        try:
            for shard in range(len(self._pending)):
                if self._pending[shard]:
                    self._submit(shard)
            for queue in self._in_flight:
                while queue:
                    self._collect(queue, block=True)
        finally:
            self.abort()
        return self.items_written

    def unwritten(self) -> list[Any]:
        """The put requests not stored when the deadline came, in file order per key (empty when all were)."""
        return list(self._left)

    def abort(self) -> None:
        """Drop queued batches and stop the threads (batches already sent are harmless: writes are keyed)."""
        for executor in self._executors:
            executor.shutdown(wait=not self._expired(), cancel_futures=True)

    def _expired(self) -> bool:
        return self._deadline is not None and time.monotonic() >= self._deadline

    def _submit(self, shard: int) -> None:
        requests = list(self._pending[shard].values())
        self._pending[shard] = {}
        queue = self._in_flight[shard]
        queue.append((self._executors[shard].submit(self._write_batch, requests), requests))
        while len(queue) > self._max_in_flight or (queue and queue[0][0].done()):
            self._collect(queue, block=len(queue) > self._max_in_flight)

    def _collect(self, queue: deque[tuple[Future[list[Any]], list[Any]]], *, block: bool) -> None:
        future, requests = queue[0]
        timeout = None if self._deadline is None else max(0.0, self._deadline - time.monotonic())
        try:
            left = future.result(timeout=timeout if block else 0)
        except FuturesTimeout:
            left = requests  # still on the wire at the deadline: sent again by the next invocation
            future.cancel()
        queue.popleft()
        self._left += left
        self.items_written += len(requests) - len(left)

    def _write_batch(self, requests: list[Any]) -> list[Any]:
        """Write one batch; return what is left unwritten at the deadline."""
        attempt, throttles, mark = 0, 0, -1
        while True:
            if self._expired():
                return requests
            self._backoff.wait(self._pacer.reserve(len(requests)), self._deadline)
            if self._expired():
                return requests
            sent_at = time.monotonic()
            cause: Exception | None = None
            try:
                left = self._sink.send(requests)
            except RetryableWriteError as exc:
                left, problem, cause = requests, exc.problem, exc.__cause__ or exc
            else:
                problem = f"{len(left)} unprocessed items"
            self._progress.add(len(requests) - len(left))
            self._pacer.stored(len(requests) - len(left))
            if not left:
                return []
            requests = left
            if is_throttling(problem):
                self._pacer.throttled(sent_at)
                throttles = throttles + 1 if self._progress.stored == mark and self._pacer.slowest() else 1
                mark = self._progress.stored
                _give_up_after(self._backoff, self._table, throttles, problem, cause)
            else:
                attempt += 1
                _give_up_after(self._backoff, self._table, attempt, problem, cause)
                self._backoff.pause(attempt, self._deadline)


@dataclass(slots=True)
class _Shard:
    """One shard of a :class:`PipelinedWriter`: the batch being filled, full batches waiting, the batch being
    written (its attempts, its throttled attempts since the writer last stored anything) and its request on the
    wire (sent at ``sent_at``)."""

    pending: dict[tuple[str, str], str]
    waiting: deque[list[str]]
    batch: list[str] | None = None
    count: int = 0
    attempt: int = 0
    throttles: int = 0
    mark: int = -1
    sent_at: float = 0.0
    exchange: Exchange | None = None


class PipelinedWriter(_AbortsOnError):
    """The direct path's writer: BatchWriteItem requests of several shards in flight at once, from one thread.

    The same contract as :class:`EventWriter`: updates are sharded by key, a shard writes its batches one after
    another (so two updates of one key are stored in file order, the later one winning), a key repeated within a
    batch keeps its latest update, at most ``max_waiting`` full batches per shard wait, throttled writes are paced
    by ``pacer``, other retryable failures are retried with ``backoff``, a persistent failure raises, and nothing
    waits or is sent past ``deadline``: what is not stored by then is left in :meth:`unwritten`.

    Why one thread: the requests are sent as soon as a batch is full and their answers are read when ``poll``
    says they have arrived, between two records of the caller. A writer thread per shard costs a thread hand-off
    and a GIL transfer per batch, which at Lambda's CPU share was the largest cost left after the HTTP client.
    A pause stops the whole writer (the table is over its capacity: every shard should slow down).
    """

    def __init__(
        self,
        transport: DirectTransport,
        table: str,
        source_file: str,
        source_version: str,
        *,
        shards: int,
        backoff: Backoff,
        max_waiting: int = 2,
        pacer: Pacer | None = None,
        deadline: float | None = None,
    ) -> None:
        self._transport, self._table = transport, table
        self._encode = ItemEncoder(source_file, source_version)
        self._backoff, self._max_waiting = backoff, max_waiting
        self._pacer = pacer or Pacer()
        self._deadline = deadline
        self._shards = [_Shard({}, deque()) for _ in range(shards)]
        self._left: list[str] = []
        self.items_written = 0

    def carry(self, requests: list[str]) -> None:
        """Queue put requests an earlier invocation left unwritten, ahead of this file's next ones."""
        shards = self._shards
        for text in requests:
            key = _key_of(json.loads(text))
            shard = shards[hash(key) % len(shards)]
            shard.pending[key] = text
            if len(shard.pending) == BATCH_SIZE:
                shard.waiting.append(list(shard.pending.values()))
                shard.pending = {}

    def put(self, update: ShipmentUpdate, ref: RecordRef) -> None:
        """Queue one accepted update; may block (never past the deadline) while earlier batches are written."""
        event_key = update.event_key
        key = (update.shipment_id, event_key)
        shards = self._shards
        shard = shards[hash(key) % len(shards)]
        pending = shard.pending
        pending[key] = self._encode(update, event_key, ref)  # a repeat of a key within the batch replaces it
        if len(pending) == BATCH_SIZE:
            shard.waiting.append(list(pending.values()))
            shard.pending = {}
            self._service(block=False)
            while len(shard.waiting) > self._max_waiting and not self._expired():
                self._service(block=True)

    def close(self) -> int:
        """Write everything still queued and wait for every answer, until the deadline; return how many items
        were written."""
        try:
            for shard in self._shards:
                if shard.pending:
                    shard.waiting.append(list(shard.pending.values()))
                    shard.pending = {}
            while any(shard.batch is not None or shard.waiting for shard in self._shards) and not self._expired():
                self._service(block=True)
            for shard in self._shards:
                self._left += [*(shard.batch or []), *(r for batch in shard.waiting for r in batch)]
        finally:
            self.abort()
        return self.items_written

    def unwritten(self) -> list[str]:
        """The put requests not stored when the deadline came, in file order per key (empty when all were)."""
        return list(self._left)

    def abort(self) -> None:
        """Drop what is queued and close the connections whose answers are outstanding (batches already sent are
        harmless: writes are keyed)."""
        for shard in self._shards:
            if shard.exchange is not None:
                shard.exchange.abandon()
            shard.exchange, shard.batch = None, None
            shard.waiting.clear()
            shard.pending = {}

    def _expired(self) -> bool:
        return self._deadline is not None and time.monotonic() >= self._deadline

    def _service(self, *, block: bool) -> None:
        """Send every shard's next batch that can go, then read the answers that have arrived; with ``block``,
        wait for at least one answer (a shard with nothing on the wire is never waited for), never past the
        deadline."""
        for shard in self._shards:
            if shard.exchange is None and (shard.batch is not None or shard.waiting) and not self._expired():
                self._send(shard)
        # Every shard with a batch now has its request on the wire (a failed send raised or was retried), unless
        # the deadline came. A kept connection carries no bytes beyond the last answer it gave (it is closed
        # otherwise), so poll sees every answer.
        busy = [(shard, shard.exchange) for shard in self._shards if shard.exchange is not None]
        if not busy:
            return
        timeout = max(0.0, min(e.deadline for _, e in busy) - time.monotonic()) if block else 0.0
        poller = select.poll()  # not select.select: it cannot take a descriptor above 1023
        for _, exchange in busy:
            poller.register(exchange, select.POLLIN)
        ready = {fd for fd, _ in poller.poll(timeout * 1000)}
        if block and not ready:  # the oldest request's answer is overdue: that attempt failed
            now = time.monotonic()
            for shard in [shard for shard, exchange in busy if exchange.deadline <= now]:
                self._abandon(shard, "no answer within the request's time")
            return
        for shard, exchange in busy:
            if exchange.fileno() in ready:
                self._receive(shard)

    def _send(self, shard: _Shard) -> None:
        if shard.batch is None:
            shard.batch = shard.waiting.popleft()
            shard.count, shard.attempt, shard.throttles = len(shard.batch), 0, 0
        while not self._expired():
            self._backoff.wait(self._pacer.reserve(len(shard.batch)), self._deadline)
            if self._expired():
                return
            try:
                shard.sent_at = time.monotonic()
                shard.exchange = self._transport.begin(self._table, shard.batch, deadline=self._deadline)
                return
            except RetryableWriteError as exc:
                self._retry(shard, exc.problem, exc.__cause__ or exc)

    def _receive(self, shard: _Shard) -> None:
        exchange, shard.exchange = shard.exchange, None
        assert exchange is not None and shard.batch is not None
        try:
            unprocessed = self._transport.finish(exchange)
        except RetryableWriteError as exc:
            self._retry(shard, exc.problem, exc.__cause__ or exc)
            return
        stored = len(shard.batch) - len(unprocessed)
        self.items_written += stored
        self._pacer.stored(stored)
        if unprocessed:
            shard.batch = unprocessed
            self._retry(shard, f"{len(unprocessed)} unprocessed items", None)
            return
        shard.batch = None

    def _abandon(self, shard: _Shard, problem: str) -> None:
        assert shard.exchange is not None
        shard.exchange.abandon()
        shard.exchange = None
        self._retry(shard, problem, None)

    def _retry(self, shard: _Shard, problem: str, cause: BaseException | None) -> None:
        if is_throttling(problem):
            self._pacer.throttled(shard.sent_at)
            shard.throttles = shard.throttles + 1 if self.items_written == shard.mark and self._pacer.slowest() else 1
            shard.mark = self.items_written
            _give_up_after(self._backoff, self._table, shard.throttles, problem, cause)
            return
        shard.attempt += 1
        _give_up_after(self._backoff, self._table, shard.attempt, problem, cause)
        self._backoff.pause(shard.attempt, self._deadline)


def _give_up_after(backoff: Backoff, table: str, attempt: int, problem: str, cause: BaseException | None) -> None:
    """After failed attempt ``attempt`` of a batch (both writers): raise when it was the last one allowed."""
    if attempt >= backoff.max_attempts:
        message = f"BatchWriteItem to {table} still failing after {attempt} attempts ({problem})"
        raise TransientAWSError(message) from cause


class S3Source:
    """An object version read with ranged GETs, pinned to the event's version and ETag.

    The ETag is sent as ``If-Match``: in an unversioned bucket, a key overwritten after its event was sent
    answers 412, raised as :class:`ObjectChangedError`, instead of serving the newer body under the old
    identity. A missing object or version raises :class:`ObjectMissingError`.
    """

    def __init__(self, client: Any, bucket: str, key: str, version_id: str | None, etag: str | None) -> None:
        self._client, self.bucket, self.key, self.version_id = client, bucket, key, version_id
        self.etag = etag.strip('"') if etag else None
        self.size: int | None = None
        self._bodies: list[Any] = []

    def open(self, start: int = 0, end: int | None = None) -> Any:
        params: dict[str, Any] = {"Bucket": self.bucket, "Key": self.key}
        if self.version_id:
            params["VersionId"] = self.version_id
        if self.etag:
            params["IfMatch"] = f'"{self.etag}"'
        if start or end is not None:
            if end is not None and end <= start:
                return _EmptyBody()
            params["Range"] = f"bytes={start}-{'' if end is None else end - 1}"
        try:
            response = self._client.get_object(**params)
        except ClientError as exc:
            code = _code(exc)
            if code in ("NoSuchKey", "NoSuchVersion", "404", "NotFound"):
                raise ObjectMissingError(
                    f"s3://{self.bucket}/{self.key} (version {self.version_id or 'null'}) no longer exists"
                ) from exc
            if code in ("PreconditionFailed", "412"):
                raise ObjectChangedError(
                    f"s3://{self.bucket}/{self.key} was overwritten after this upload's event was sent (its "
                    f"ETag is no longer {self.etag}); the newer upload is processed on its own event"
                ) from exc
            if code == "InvalidRange":  # a range starting at the very end of the object
                return _EmptyBody()
            raise
        if self.size is None:
            content_range = response.get("ContentRange") or ""
            total = content_range.rpartition("/")[2]
            self.size = int(total) if total.isdigit() else int(response.get("ContentLength", 0))
        body = response["Body"]
        self._bodies.append(body)
        return body

    def close(self) -> None:
        """Close every body this source opened (connections go back to the pool)."""
        for body in self._bodies:
            with contextlib.suppress(Exception):
                body.close()
        self._bodies.clear()


class _EmptyBody:
    def read(self, size: int = -1) -> bytes:
        return b""


S3_MIN_PART_BYTES = 5 * 1024 * 1024  # every part of a multipart upload but the last must be at least this


class RejectsWriter:
    """Streams a rejects report (JSON Lines, in file order) to S3, across as many invocations as the file takes.

    Small reports go up in one PUT, large ones as a multipart upload. A file processed in several invocations
    keeps one multipart upload open: :meth:`suspend` uploads what fills whole parts and puts the rest (under
    S3's 5 MiB part minimum) into a temporary object below ``spill_prefix``; :meth:`resume` reads it back. Part
    numbers are fixed by position, so an invocation that dies and is retried re-uploads the same parts.

    Closing is repeatable: the report carries ``metadata`` (its source version, upload and attempt), so a retry of
    an invocation that had already closed it recognises the finished object (:meth:`recognise`, or S3 answering
    ``NoSuchUpload`` for a completed upload) and writes nothing again. The temporary objects a report was resumed
    from are deleted only when the caller says so (:meth:`discard_resumed`), after the write that made them
    unnecessary: until then a retry may need them.
    """

    def __init__(
        self,
        client: Callable[[], Any],
        bucket: str,
        key: str,
        metadata: dict[str, str],
        part_bytes: int,
        *,
        spill_prefix: str,
    ) -> None:
        self._client, self._bucket, self.key, self._metadata = client, bucket, key, metadata
        self._part_bytes = max(part_bytes, S3_MIN_PART_BYTES)
        self._spill_prefix = spill_prefix
        self._buffer = bytearray()
        self._upload_id: str | None = None
        self._created_here = False
        self._parts: list[dict[str, Any]] = []
        self._spills: list[str] = []  # temporary objects read back, deleted once the report no longer needs them
        self._closed = False  # the finished report is already in S3 (an earlier try of this attempt closed it)
        self.lines = 0
        self.version_id: str | None = None

    def __enter__(self) -> RejectsWriter:
        return self

    def __exit__(self, exc_type: object, *_: object) -> None:
        if exc_type is not None:
            self.abort()

    def add(self, ref: RecordRef, reason: str, raw: str) -> None:
        """Append one report line: where the record is, why it was rejected, and the record itself."""
        self.lines += 1
        if self._closed:  # the report already holds this line
            return
        entry = {ref[0]: ref[1], "reason": reason, "record": raw}
        self._buffer += json.dumps(entry, ensure_ascii=False).encode() + b"\n"
        if len(self._buffer) >= self._part_bytes:
            self._upload_part()

    def suspend(self, tag: str) -> dict[str, Any]:
        """Make everything added so far durable for a later invocation; return the state to resume from."""
        if self._closed:
            return {"lines": self.lines, "closed": True, "version_id": self.version_id}
        spill = None
        if self._buffer:
            if len(self._buffer) >= S3_MIN_PART_BYTES:
                self._upload_part()
            else:
                spill = f"{self._spill_prefix}{hashlib.sha256(self.key.encode()).hexdigest()[:32]}/{tag}.jsonl"
                self._client().put_object(Bucket=self._bucket, Key=spill, Body=bytes(self._buffer))
        return {"lines": self.lines, "upload_id": self._upload_id, "parts": list(self._parts), "spill": spill}

    def seal(self, tag: str) -> dict[str, Any]:
        """Make the whole report durable before the chain's end is recorded (as :meth:`suspend` does), and keep it
        to close now. The state names every temporary object this report was carried in: they are deleted after
        the final write, by this invocation or by a retry that closes the report from the state."""
        state = self.suspend(tag)
        if state.get("spill"):
            self._spills.append(state["spill"])
        return {**state, "discard": list(self._spills)} if self._spills else state

    def resume(self, state: Mapping[str, Any]) -> None:
        """Carry on from :meth:`suspend`'s state (the report so far stays where the earlier invocation put it)."""
        self.lines = int(state.get("lines", 0))
        if state.get("closed"):
            self._closed, self.version_id = True, state.get("version_id")
            return
        self._upload_id = state.get("upload_id")
        self._parts = [{"PartNumber": int(p["PartNumber"]), "ETag": p["ETag"]} for p in state.get("parts", [])]
        spill = state.get("spill")
        if spill:
            body = self._client().get_object(Bucket=self._bucket, Key=spill)["Body"]
            self._buffer = bytearray(body.read())
            self._spills.append(spill)
        self._spills += [key for key in state.get("discard", []) if key not in self._spills]

    def recognise(self) -> bool:
        """Whether the finished report of this attempt is already in S3 (an earlier try closed it and then failed
        or was stopped before its final write); if so, nothing more is written and :meth:`close` returns it."""
        try:
            head = self._client().head_object(Bucket=self._bucket, Key=self.key)
        except ClientError as exc:
            # Without s3:ListBucket on the key's prefix S3 answers 403, not 404, for a key that does not exist.
            if _code(exc) in ("404", "NoSuchKey", "NotFound", "403", "AccessDenied"):
                return False
            raise
        if head.get("Metadata") != self._metadata:  # another attempt's or another version's report
            return False
        self._closed, self.version_id = True, head.get("VersionId")
        self._buffer = bytearray()
        return True

    def discard_resumed(self) -> None:
        """Delete the temporary objects read back by :meth:`resume`, once the write that supersedes them (the next
        checkpoint, or the final item) has succeeded."""
        for spill in self._spills:
            try:
                self._client().delete_object(Bucket=self._bucket, Key=spill)
            except Exception as exc:  # a lifecycle rule expires the temporary objects
                log(WARNING, "could not delete a temporary rejects object", key=spill, error=repr(exc))
        self._spills.clear()

    def close(self) -> str | None:
        """Finish the upload (or recognise it finished); return the report key, or None when nothing was rejected.

        Temporary objects are kept: the caller deletes them after its final write (:meth:`discard_resumed`)."""
        if not self.lines:
            return None
        if self._closed:
            return self.key
        if self._upload_id is None:
            response = self._client().put_object(
                Bucket=self._bucket,
                Key=self.key,
                Body=bytes(self._buffer),
                ContentType="application/x-ndjson",
                Metadata=self._metadata,
            )
            self.version_id = response.get("VersionId")
        else:
            if self._buffer or not self._parts:
                self._upload_part()
            if not self._closed:
                self._complete()
        self._closed = True
        return self.key

    def abort(self) -> None:
        """Abandon a multipart upload this invocation started, so no orphaned parts are left behind.

        An upload carried over from an earlier invocation is kept: the retry of this invocation resumes it
        from the last checkpoint (and the bucket's lifecycle rule aborts it if the file is never finished).
        """
        if self._upload_id is not None and self._created_here:
            upload_id, self._upload_id = self._upload_id, None
            try:
                self._client().abort_multipart_upload(Bucket=self._bucket, Key=self.key, UploadId=upload_id)
            except Exception as exc:  # a bucket lifecycle rule cleans up abandoned uploads
                log(WARNING, "could not abort the rejects report upload", key=self.key, error=repr(exc))

    def _complete(self) -> None:
        try:
            response = self._client().complete_multipart_upload(
                Bucket=self._bucket,
                Key=self.key,
                UploadId=self._upload_id,
                MultipartUpload={"Parts": self._parts},
            )
        except ClientError as exc:
            # S3 may answer a repeated CompleteMultipartUpload (a lost response re-sent) with NoSuchUpload.
            if _code(exc) == "NoSuchUpload" and self.recognise():
                return
            raise
        finally:
            self._upload_id = None  # completed, or failed for good: nothing for abort() to do
        self.version_id = response.get("VersionId")

    def _upload_part(self) -> None:
        if self._upload_id is None:
            self._upload_id = self._client().create_multipart_upload(
                Bucket=self._bucket, Key=self.key, ContentType="application/x-ndjson", Metadata=self._metadata
            )["UploadId"]
            self._created_here = True
        number = len(self._parts) + 1
        try:
            response = self._client().upload_part(
                Bucket=self._bucket,
                Key=self.key,
                UploadId=self._upload_id,
                PartNumber=number,
                Body=bytes(self._buffer),
            )
        except ClientError as exc:
            # Another holder of this attempt (a stale claim that came back) completed the upload meanwhile.
            if _code(exc) == "NoSuchUpload" and self.recognise():
                return
            raise
        self._parts.append({"PartNumber": number, "ETag": response["ETag"]})
        self._buffer = bytearray()


def to_dynamodb(item: Mapping[str, Any]) -> Item:
    """Plain values -> DynamoDB attribute values: text, whole numbers, booleans, lists and maps; None is left
    out (of maps too)."""
    return {name: _attribute(value) for name, value in item.items() if value is not None}


def _attribute(value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, int):
        return {"N": str(value)}
    if isinstance(value, Mapping):
        return {"M": to_dynamodb(value)}
    return {"L": [_attribute(v) for v in value]}


def from_dynamodb(item: Mapping[str, Any]) -> Item:
    """DynamoDB attribute values -> plain values (the inverse of :func:`to_dynamodb`)."""
    return {name: _value(attribute) for name, attribute in item.items()}


def _value(attribute: Mapping[str, Any]) -> Any:
    kind, value = next(iter(attribute.items()))
    if kind == "N":
        return int(value) if "." not in value and "e" not in value.lower() else float(value)
    if kind == "L":
        return [_value(v) for v in value]
    if kind == "M":
        return from_dynamodb(value)
    if kind == "NULL":
        return None
    return value


def _names(*expressions: str) -> dict[str, str]:
    """``#name`` placeholders of expressions, each standing for the attribute of that name (many attribute
    names here, such as ``segment`` and ``attempt``, are DynamoDB reserved words)."""
    return {f"#{name}": name for expression in expressions for name in re.findall(r"#(\w+)", expression)}


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))
