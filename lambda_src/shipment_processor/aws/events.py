"""The events table's writers: batched, sharded BatchWriteItem of accepted updates, paced on throttling and
bounded by the invocation's deadline, on the SDK path (:class:`EventWriter`) or the direct path
(:class:`PipelinedWriter`, through direct_write.py).

Retries: on the SDK path botocore retries each call (standard mode); on top of that, both writers retry
``UnprocessedItems`` and throttling errors with exponential backoff and full jitter. On the direct path
(``EVENTS_WRITE_PATH=direct``) that backoff is the only retry layer and also covers 5xx, dropped connections and
timeouts. When AWS still fails after that, :class:`~.clients.TransientAWSError` (or the botocore error)
propagates so that the invocation fails and Lambda's own retries and on-failure destination take over.
"""

from __future__ import annotations

import json
import select
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FuturesTimeout
from dataclasses import dataclass
from typing import Any, Protocol, Self

from botocore.exceptions import ClientError

from ..formats import RecordRef
from ..pacing import Pacer, is_throttling
from ..validation import ShipmentUpdate
from .clients import Backoff, TransientAWSError, error_code
from .direct_write import RETRYABLE_ERROR_CODES, DirectTransport, Exchange, ItemEncoder, RetryableWriteError

BATCH_SIZE = 25  # BatchWriteItem maximum


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
            item: dict[str, Any] = {
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
            if error_code(exc) not in RETRYABLE_ERROR_CODES:
                raise
            raise RetryableWriteError(error_code(exc)) from exc
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
    """Throttling gives up only when nothing at all is stored: the writer's throttled answers are counted from the
    last time any of its batches stored something, and only once the pacer is at its slowest (one batch a second
    for the whole writer). A throttled table stores its capacity, so a working chain never runs out of attempts; a
    table that stores nothing for ``max_attempts`` paced answers does, however many shards share the pace (counted
    per shard, 16 shards at one batch a second would each wait 16 s per attempt and never give up)."""

    def __init__(self) -> None:
        self.stored = 0
        self.refused = 0  # throttled answers at the slowest pace since anything was stored
        self._lock = threading.Lock()

    def add(self, items: int) -> None:
        with self._lock:
            self.stored += items
            if items:
                self.refused = 0

    def refusal(self, slowest: bool) -> int:
        """One more throttled answer: how many in a row the writer has had at its slowest pace."""
        with self._lock:
            if slowest:
                self.refused += 1
            return self.refused


class EventWriter(_AbortsOnError):
    """The sdk path's writer: BatchWriteItem calls on writer threads, several batches in flight, losing nothing.

    Updates are sharded by their key onto single-thread executors, so two updates with the same key are always
    written in file order (the later one wins) while different keys are written concurrently. Within a batch a
    repeated key keeps only its latest update (DynamoDB rejects duplicate keys in one batch). At most
    ``max_in_flight`` batches per shard are queued: memory stays bounded. Each put request is encoded once, at
    ``put``, in the sink's own form. Throttled writes are paced by ``pacer``; other retryable failures are retried
    with ``backoff``. Nothing waits past ``deadline``: batches not stored by then are left in :meth:`unwritten`
    (a call still on the wire then is abandoned to its thread; its batch is among them). ``deadline`` and the
    times sends are reported to ``pacer`` at are read on ``clock``: time.monotonic, as the pacer's and the
    backoff's are (a test gives all three one clock whose sleeps only move it on).
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
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sink, self._table = sink, sink.table
        self._encode = sink.encoder(source_file, source_version)
        self._backoff = backoff
        self._pacer = pacer or Pacer()
        self._deadline, self._clock = deadline, clock
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
        return self._deadline is not None and self._clock() >= self._deadline

    def _submit(self, shard: int) -> None:
        requests = list(self._pending[shard].values())
        self._pending[shard] = {}
        queue = self._in_flight[shard]
        queue.append((self._executors[shard].submit(self._write_batch, requests), requests))
        while len(queue) > self._max_in_flight or (queue and queue[0][0].done()):
            self._collect(queue, block=len(queue) > self._max_in_flight)

    def _collect(self, queue: deque[tuple[Future[list[Any]], list[Any]]], *, block: bool) -> None:
        future, requests = queue[0]
        timeout = None if self._deadline is None else max(0.0, self._deadline - self._clock())
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
        attempt = 0
        while True:
            if self._expired():
                return requests
            self._backoff.wait(self._pacer.reserve(len(requests)), self._deadline)
            if self._expired():
                return requests
            sent_at = self._clock()
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
                refused = self._progress.refusal(self._pacer.slowest())
                _give_up_after(self._backoff, self._table, refused, problem, cause)
            else:
                attempt += 1
                _give_up_after(self._backoff, self._table, attempt, problem, cause)
                self._backoff.pause(attempt, self._deadline)


@dataclass(slots=True)
class _Shard:
    """One shard of a :class:`PipelinedWriter`: the batch being filled, full batches waiting, the batch being
    written (its failed attempts other than throttling) and its request on the wire (sent at ``sent_at``)."""

    pending: dict[tuple[str, str], str]
    waiting: deque[list[str]]
    batch: list[str] | None = None
    count: int = 0
    attempt: int = 0
    sent_at: float = 0.0
    exchange: Exchange | None = None


class PipelinedWriter(_AbortsOnError):
    """The direct path's writer: BatchWriteItem requests of several shards in flight at once, from one thread.

    The same contract as :class:`EventWriter`: updates are sharded by key, a shard writes its batches one after
    another (so two updates of one key are stored in file order, the later one winning), a key repeated within a
    batch keeps its latest update, at most ``max_waiting`` full batches per shard wait, throttled writes are paced
    by ``pacer``, other retryable failures are retried with ``backoff``, a persistent failure raises, and nothing
    waits or is sent past ``deadline``: what is not stored by then is left in :meth:`unwritten`. ``deadline`` and
    the times sends are reported to ``pacer`` at are read on ``clock``, as on :class:`EventWriter`; the transport
    bounds each request by its own timeout and ``deadline`` on time.monotonic.

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
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._transport, self._table = transport, table
        self._encode = ItemEncoder(source_file, source_version)
        self._backoff, self._max_waiting = backoff, max_waiting
        self._pacer = pacer or Pacer()
        self._deadline, self._clock = deadline, clock
        self._shards = [_Shard({}, deque()) for _ in range(shards)]
        self._left: list[str] = []
        self.items_written = 0
        self._progress = _Progress()

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
        return self._deadline is not None and self._clock() >= self._deadline

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
            shard.count, shard.attempt = len(shard.batch), 0
        while not self._expired():
            self._backoff.wait(self._pacer.reserve(len(shard.batch)), self._deadline)
            if self._expired():
                return
            try:
                shard.sent_at = self._clock()
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
        self._progress.add(stored)
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
            refused = self._progress.refusal(self._pacer.slowest())
            _give_up_after(self._backoff, self._table, refused, problem, cause)
            return
        shard.attempt += 1
        _give_up_after(self._backoff, self._table, shard.attempt, problem, cause)
        self._backoff.pause(shard.attempt, self._deadline)


def _give_up_after(backoff: Backoff, table: str, attempt: int, problem: str, cause: BaseException | None) -> None:
    """After failed attempt ``attempt`` of a batch (both writers): raise when it was the last one allowed."""
    if attempt >= backoff.max_attempts:
        message = f"BatchWriteItem to {table} still failing after {attempt} attempts ({problem})"
        raise TransientAWSError(message) from cause
