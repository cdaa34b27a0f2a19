"""The events writers against time and the network: an invocation's deadline, a stalled DynamoDB endpoint, and an
egress proxy, on the direct path against a real moto server (through tests/unit/faulty_endpoint.py).

What is asserted is what a user sees: when the invocation ended against its deadline, the events table, the
outcome, and what reached the endpoint and the proxy.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import select
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from botocore.credentials import Credentials
from shipment_processor.aws import direct_write
from shipment_processor.aws.backlog import Backlog
from shipment_processor.aws.clients import Backoff, TransientAWSError
from shipment_processor.aws.direct_write import DirectTransport, RetryableWriteError, UnsupportedProxyError
from shipment_processor.aws.events import EventWriter, PipelinedWriter, SdkEvents, _Progress
from shipment_processor.handler import ProcessingError, Runtime, handle
from shipment_processor.pacing import REQUEST_TIMEOUT_S, Pacer
from shipment_processor.store import Store

from . import test_direct_write
from .faulty_endpoint import FaultyEndpoint
from .support import FUNCTION_ARN, NOW, Context, LambdaQueue, as_csv, records
from .test_direct_write import ServerWorld

server_world = test_direct_write.server_world  # the fixtures of the direct path's tests, shared
certificate = test_direct_write.certificate

# --- an invocation whose time really passes ----------------------------------------------------------------


@dataclass
class Clocked:
    """A Lambda context with a real deadline ``budget_ms`` after it was made."""

    budget_ms: int
    aws_request_id: str = "req-1"
    invoked_function_arn: str = FUNCTION_ARN
    started: float = field(default_factory=time.monotonic)

    def get_remaining_time_in_millis(self) -> int:
        return int(self.budget_ms - (time.monotonic() - self.started) * 1000)


class SteppedClock:
    """A monotonic clock that moves only when something sleeps on it: a deadline falls exactly where the test put
    it, however loaded the machine (a real clock can pass a deadline before the writer has even started)."""

    def __init__(self) -> None:
        self.now = time.monotonic()
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def _chain(world: ServerWorld, key: str, data: bytes, budget_ms: int) -> tuple[list[dict[str, Any]], list[float]]:
    """Upload, run the S3 event's invocation and every continuation it queues; (responses, ms left at each end)."""
    queue = LambdaQueue()
    settings = world.settings()
    store = Store(settings, backoff=Backoff(sleep=time.sleep), clients={"lambda": queue})
    runtime = Runtime.create(settings, store=store, clock=lambda: NOW)
    response = world.s3.put_object(Bucket=world.bucket, Key=key, Body=data)
    event: dict[str, Any] = {
        "Records": [
            {
                "eventSource": "aws:s3",
                "eventName": "ObjectCreated:Put",
                "eventTime": "2026-03-01T11:59:58.123Z",
                "s3": {
                    "bucket": {"name": world.bucket},
                    "object": {"key": key, "versionId": response["VersionId"], "size": len(data)},
                },
            }
        ]
    }
    responses, left = [], []
    while True:
        context = Clocked(budget_ms)
        responses.append(handle(event, context, runtime))
        left.append(context.get_remaining_time_in_millis())
        if not queue.queued:
            return responses, left
        event = queue.queued.pop(0)


def test_a_stalled_dynamodb_endpoint_costs_seconds_and_the_invocation_checkpoints_before_its_deadline(
    server_world: ServerWorld,
) -> None:
    server_world.env.update({"WRITE_CONCURRENCY": "1", "CHECKPOINT_MARGIN_MS": "2000"})
    server_world.endpoint.slow_s = 30  # accepts the request and never answers within the invocation
    server_world.endpoint.plan("stall")

    responses, left = _chain(server_world, "incoming/acme/stalled.csv", as_csv(records(300)), budget_ms=6_000)

    assert responses[0]["files"][0]["status"] == "CONTINUED", "the first invocation handed the file on"
    assert all(ms > 0 for ms in left), f"every invocation ended before its deadline (ms left: {left})"
    assert responses[-1]["files"][0]["status"] == "SUCCESS"
    assert len(server_world.events()) == 300, "the file ends exact: nothing lost, nothing doubled"
    stalled, *rest = server_world.endpoint.batch_writes()
    assert any(seen.body == stalled.body for seen in rest), "the stalled batch was sent again"


def test_a_request_is_given_up_at_the_writers_deadline_not_at_the_read_timeout(server_world: ServerWorld) -> None:
    server_world.env["WRITE_CONCURRENCY"] = "1"
    server_world.endpoint.slow_s = 30
    server_world.endpoint.plan("stall")
    store = Store(server_world.settings(), backoff=Backoff(sleep=time.sleep))
    started = time.monotonic()  # before the writer is made: under load that alone can take a good part of the second
    writer = store.event_writer("incoming/acme/x.csv", "v1", deadline=started + 1.0)
    assert isinstance(writer, PipelinedWriter)
    for n in range(3):
        writer.put(_update(n), ("line", n + 2))

    assert writer.close() == 0
    waited = time.monotonic() - started
    assert 0.9 <= waited < REQUEST_TIMEOUT_S, f"given up at the 1 s deadline, not at the read timeout: {waited:.2f} s"
    assert len(writer.unwritten()) == 3, "what was not stored is handed back, not dropped"


def test_the_sdk_path_leaves_what_is_not_stored_by_the_deadline(server_world: ServerWorld) -> None:
    server_world.env["EVENTS_WRITE_PATH"] = "sdk"
    store = Store(server_world.settings(), backoff=Backoff(sleep=time.sleep))
    writer = store.event_writer("incoming/acme/x.csv", "v1", deadline=time.monotonic() - 1)
    assert isinstance(writer, EventWriter)
    for n in range(30):
        writer.put(_update(n), ("line", n + 2))

    assert writer.close() == 0
    assert len(writer.unwritten()) == 30
    assert server_world.events() == {}


def test_carried_writes_are_stored_before_the_files_next_ones(server_world: ServerWorld) -> None:
    store = Store(server_world.settings(), backoff=Backoff(sleep=time.sleep))
    first = store.event_writer("incoming/acme/x.csv", "v1", deadline=time.monotonic() - 1)
    first.put(_update(1, status="CREATED"), ("line", 2))
    first.close()
    second = store.event_writer("incoming/acme/x.csv", "v1")

    second.carry(first.unwritten())
    second.put(_update(2), ("line", 3))
    assert second.close() == 2

    stored = server_world.events()
    assert sorted(item["status"] for item in stored.values()) == ["CREATED", "IN_TRANSIT"]


def _update(n: int, status: str = "IN_TRANSIT") -> Any:
    from shipment_processor.validation import ShipmentUpdate  # noqa: PLC0415

    return ShipmentUpdate(f"SHP-{n:06d}", status, "2026-03-01T10:00:00Z", fields=(("carrier", "DHL"),))


# --- an egress proxy ---------------------------------------------------------------------------------------


class ConnectProxy:
    """A tiny HTTP CONNECT proxy: tunnels to whatever host:port it is asked for and records each request."""

    def __init__(self, *, refuse: bool = False) -> None:
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.refuse = refuse
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        threading.Thread(target=self._serve, daemon=True).start()

    def close(self) -> None:
        self._listener.close()

    def _serve(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._tunnel, args=(client,), daemon=True).start()

    def _tunnel(self, client: socket.socket) -> None:
        with client:
            head = b""
            while b"\r\n\r\n" not in head:
                data = client.recv(4096)
                if not data:
                    return
                head += data
            lines = head.split(b"\r\n\r\n", 1)[0].decode().split("\r\n")
            method, target, _ = lines[0].split(" ", 2)
            headers = dict(line.split(": ", 1) for line in lines[1:])
            self.requests.append((f"{method} {target}", headers))
            if method != "CONNECT" or self.refuse:
                client.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
                return
            host, port = target.rsplit(":", 1)
            with socket.create_connection((host, int(port))) as upstream:
                client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
                _pipe(client, upstream)


def _pipe(a: socket.socket, b: socket.socket) -> None:
    while True:
        ready, _, _ = select.select([a, b], [], [], 30)
        if not ready:
            return
        for sock in ready:
            data = sock.recv(65536)
            if not data:
                return
            (b if sock is a else a).sendall(data)


@pytest.fixture
def secure(server_world: ServerWorld, certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> Any:
    """An HTTPS DynamoDB endpoint (trusted through AWS_CA_BUNDLE), the way AWS's endpoints are."""
    endpoint = FaultyEndpoint(server_world.endpoint.upstream, tls=certificate)
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", endpoint.url)
    monkeypatch.setenv("AWS_CA_BUNDLE", str(certificate[0]))
    yield endpoint
    endpoint.close()


def test_the_direct_path_tunnels_through_the_https_proxy_with_connect(
    server_world: ServerWorld, secure: FaultyEndpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    proxy = ConnectProxy()
    monkeypatch.setenv("HTTPS_PROXY", proxy.url.replace("http://", "http://ops:s3cret@"))
    monkeypatch.delenv("NO_PROXY", raising=False)
    try:
        server_world.env["WRITE_CONCURRENCY"] = "1"

        response = server_world.process("incoming/acme/proxied.csv", as_csv(records(30)))
    finally:
        proxy.close()

    assert response["files"][0]["status"] == "SUCCESS"
    assert len(server_world.events()) == 30
    assert len(secure.batch_writes()) == 2, "the events went to the endpoint, through the tunnel"
    port = secure.url.rsplit(":", 1)[1]
    tunnels = [headers for request, headers in proxy.requests if request.endswith(f":{port}")]
    assert tunnels, "every DynamoDB connection, the direct path's too, went through the proxy"
    expected = "Basic " + base64.b64encode(b"ops:s3cret").decode()
    assert all(headers.get("Proxy-Authorization") == expected for headers in tunnels)


def test_no_proxy_is_honoured_by_the_direct_path(
    server_world: ServerWorld, secure: FaultyEndpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    proxy = ConnectProxy(refuse=True)
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    try:
        response = server_world.process("incoming/acme/near.csv", as_csv(records(5)))
    finally:
        proxy.close()

    assert response["files"][0]["status"] == "SUCCESS"
    assert proxy.requests == []


def test_a_proxy_refusing_the_tunnel_is_a_retryable_connection_failure(
    server_world: ServerWorld, secure: FaultyEndpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    proxy = ConnectProxy(refuse=True)
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    monkeypatch.delenv("NO_PROXY", raising=False)
    try:
        transport = Store(server_world.settings()).direct_transport()
        with pytest.raises(RetryableWriteError, match="refused the tunnel"):
            transport.batch_write(server_world.events_table, [])
    finally:
        proxy.close()


def test_a_proxy_the_direct_path_cannot_use_sends_the_events_through_the_sdk_path(
    server_world: ServerWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # the plain-HTTP endpoint would be forwarded
    monkeypatch.delenv("NO_PROXY", raising=False)
    store = Store(server_world.settings())

    with pytest.raises(UnsupportedProxyError):
        store.direct_transport()
    assert isinstance(store.event_writer("incoming/acme/x.csv", "v1"), EventWriter)
    assert isinstance(store.event_writer("incoming/acme/y.csv", "v1"), EventWriter), "noted once, still sdk"


# --- what the deadline leaves, on both paths ----------------------------------------------------------------


@pytest.mark.parametrize("path", ["direct", "sdk"])
def test_a_pacing_wait_is_cut_at_the_deadline_and_the_batch_left_unwritten(
    server_world: ServerWorld, path: str
) -> None:
    server_world.env.update({"EVENTS_WRITE_PATH": path, "WRITE_CONCURRENCY": "1"})
    store = Store(server_world.settings(), backoff=Backoff(sleep=time.sleep))
    pacer = store.pacer(server_world.events_table)
    pacer.throttled(sent_at=time.monotonic())  # throttled before, at the slowest rate...
    pacer.reserve(2_500)  # ...and booked for the next 100 s
    # 1 s: long enough that the writer, however loaded the machine, starts its pacing wait before the deadline
    writer = store.event_writer("incoming/acme/x.csv", "v1", deadline=time.monotonic() + 1.0)
    started = time.monotonic()
    for n in range(25):
        writer.put(_update(n), ("line", n + 2))

    assert writer.close() == 0
    assert time.monotonic() - started < REQUEST_TIMEOUT_S, "cut at the deadline, not after the 100 s booked"
    assert len(writer.unwritten()) == 25
    assert server_world.endpoint.batch_writes() == []


@pytest.mark.parametrize("path", ["direct", "sdk"])
def test_a_pacing_wait_that_reaches_the_deadline_ends_there_with_the_batch_unsent(
    server_world: ServerWorld, path: str
) -> None:
    clock = SteppedClock()
    pacer = Pacer(clock)
    pacer.throttled(sent_at=clock())  # throttled before, at the slowest rate...
    pacer.reserve(2_500)  # ...and booked for the next 100 s
    store, table = Store(server_world.settings()), server_world.events_table
    pacing: dict[str, Any] = {
        "backoff": Backoff(sleep=clock.sleep, clock=clock),
        "pacer": pacer,
        "deadline": clock() + 10,
        "clock": clock,
    }
    writer = (
        PipelinedWriter(store.direct_transport(), table, "incoming/acme/x.csv", "v1", shards=1, **pacing)
        if path == "direct"
        else EventWriter(
            SdkEvents(lambda: store.client("dynamodb"), table), "incoming/acme/x.csv", "v1", shards=1, **pacing
        )
    )
    for n in range(25):
        writer.put(_update(n), ("line", n + 2))

    assert writer.close() == 0
    assert clock.slept == [pytest.approx(10.0)], "waited until the deadline, not for the 100 s booked"
    assert len(writer.unwritten()) == 25
    assert server_world.endpoint.batch_writes() == [], "nothing is sent at or past the deadline"


def test_on_the_sdk_path_a_call_still_on_the_wire_at_the_deadline_is_left_to_its_thread(
    server_world: ServerWorld,
) -> None:
    server_world.env.update({"EVENTS_WRITE_PATH": "sdk", "WRITE_CONCURRENCY": "1"})
    server_world.endpoint.slow_s = 2
    server_world.endpoint.plan("slow")
    store = Store(server_world.settings(), backoff=Backoff(sleep=time.sleep))
    writer = store.event_writer("incoming/acme/x.csv", "v1", deadline=time.monotonic() + 0.5)
    started = time.monotonic()
    writer.put(_update(1), ("line", 2))

    assert writer.close() == 0
    assert time.monotonic() - started < 1.5, "the invocation does not wait for the slow answer"
    assert len(writer.unwritten()) == 1, "its batch is carried, to be written again"


@pytest.mark.parametrize("path", ["direct", "sdk"])
def test_carried_writes_fill_whole_batches_on_both_paths(server_world: ServerWorld, path: str) -> None:
    server_world.env.update({"EVENTS_WRITE_PATH": path, "WRITE_CONCURRENCY": "1"})
    store = Store(server_world.settings(), backoff=Backoff(sleep=time.sleep))
    first = store.event_writer("incoming/acme/x.csv", "v1", deadline=time.monotonic() - 1)
    for n in range(60):
        first.put(_update(n), ("line", n + 2))
    first.close()
    carried = [r if isinstance(r, str) else json.dumps(r) for r in first.unwritten()]

    second = store.event_writer("incoming/acme/x.csv", "v1")
    second.carry(carried)

    assert second.close() == 60
    assert len(server_world.events()) == 60
    assert [len(seen.items) for seen in server_world.endpoint.batch_writes()] == [25, 25, 10]


def test_a_file_error_with_writes_not_stored_in_time_fails_the_invocation_instead_of_recording_a_result(
    world: Any,
) -> None:
    world.env["MAX_RECORDS"] = "2"
    meta = world.put("incoming/acme/late.csv", as_csv(records(5)))

    with pytest.raises(ProcessingError, match="accepted updates were not stored in time"):
        world.invoke(world.event(("incoming/acme/late.csv", meta)), context=Context("req-1", remaining_ms=1_000))

    (item,) = world.metadata("incoming/acme/late.csv")
    assert item["processing_status"] == "PROCESSING", "no FAILED verdict the events table would contradict"


def test_a_temporary_object_that_cannot_be_deleted_is_left_to_the_lifecycle_rule(
    world: Any, caplog: pytest.LogCaptureFixture
) -> None:
    backlog = Backlog(lambda: world.s3, "no-such-bucket", "rejected/.partial/", "incoming/acme/x.csv")

    backlog.discard("rejected/.partial/x/1-1.events.jsonl")
    backlog.discard(None)

    assert "could not delete a temporary events object" in caplog.text


# --- proxies that do not behave ------------------------------------------------------------------------------


class RawProxy:
    """A proxy that answers CONNECT with fixed bytes, then closes."""

    def __init__(self, answer: bytes) -> None:
        self.answer = answer
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.address = self._listener.getsockname()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        with contextlib.suppress(OSError):
            client, _ = self._listener.accept()
            with client:
                client.recv(4096)
                client.sendall(self.answer)

    def close(self) -> None:
        self._listener.close()


@pytest.mark.parametrize(
    ("answer", "problem"),
    [
        (b"", "closed the connection before answering CONNECT"),
        (b"HTTP/1.1 200 OK\r\nX: " + b"y" * 70_000, "answer to CONNECT is too large"),
        (b"HTTP/1.1 200 OK\r\n\r\nHTTP/1.1 200 OK\r\n", "sent data ahead of the tunnel"),
        (b"HTTP/1.1 407 Proxy Authentication Required\r\n\r\n", "refused the tunnel"),
    ],
)
def test_a_proxy_that_misbehaves_is_a_retryable_connection_failure(answer: bytes, problem: str) -> None:
    proxy = RawProxy(answer)
    try:
        sock = socket.create_connection(proxy.address, timeout=5)
        with sock, pytest.raises(ConnectionError, match=problem):
            direct_write._Proxy(proxy.address).tunnel(sock, "dynamodb.eu-west-1.amazonaws.com", 443)
    finally:
        proxy.close()


@pytest.mark.parametrize(
    ("proxies", "settings", "problem"),
    [
        ({"https": "https://proxy.example:3129"}, None, "not a plain CONNECT proxy"),
        ({"https": "http://proxy.example:3128"}, {"proxy_use_forwarding_for_https": True}, "not a plain CONNECT"),
        ({"https": "http://:3128"}, None, "names no host"),
    ],
)
def test_proxies_the_direct_path_cannot_use_are_named(
    proxies: dict[str, str], settings: dict[str, Any] | None, problem: str
) -> None:
    with pytest.raises(UnsupportedProxyError, match=problem):
        DirectTransport.for_client(_client_with(proxies, settings))


def test_a_client_without_botocore_internals_still_gets_its_configured_proxy() -> None:
    transport = DirectTransport.for_client(_client_with({"https": "http://proxy.example:3128"}))

    assert transport._proxy == direct_write._Proxy(("proxy.example", 3128))


def _client_with(proxies: dict[str, str], settings: dict[str, Any] | None = None) -> Any:
    class Config:
        connect_timeout, read_timeout = 2, 3
        proxies_config = settings

    Config.proxies = proxies  # type: ignore[attr-defined]

    class Meta:
        endpoint_url = "https://dynamodb.eu-west-1.amazonaws.com"
        region_name = "eu-west-1"
        config = Config

    class Client:
        meta = Meta

        def _get_credentials(self) -> Credentials:
            return Credentials("a", "b")

    return Client()


def test_writes_still_queued_when_the_file_is_read_are_stored_by_a_continuation(server_world: ServerWorld) -> None:
    server_world.env.update({"WRITE_CONCURRENCY": "1", "CHECKPOINT_MARGIN_MS": "2000"})
    server_world.endpoint.slow_s = 30
    server_world.endpoint.plan("stall")

    responses, left = _chain(server_world, "incoming/acme/short.csv", as_csv(records(3)), budget_ms=6_000)

    assert [r["files"][0]["status"] for r in responses] == ["CONTINUED", "SUCCESS"]
    assert responses[-1]["files"][0]["records_total"] == 3, "the continuation read nothing more"
    assert all(ms > 0 for ms in left)
    assert len(server_world.events()) == 3


def test_a_connection_that_keeps_failing_is_retried_until_the_deadline_then_left() -> None:
    transport = DirectTransport(
        endpoint_url="http://127.0.0.1:9", region="eu-west-1", credentials=Credentials("a", "b"), user_agent="t"
    )
    clock = SteppedClock()
    backoff = Backoff(sleep=clock.sleep, random=lambda: 1.0, clock=clock)
    pacing: dict[str, Any] = {"backoff": backoff, "pacer": Pacer(clock), "deadline": clock() + 0.25, "clock": clock}
    writer = PipelinedWriter(transport, "t", "incoming/acme/x.csv", "v1", shards=1, **pacing)
    writer.put(_update(1), ("line", 2))

    assert writer.close() == 0
    assert len(writer.unwritten()) == 1, "connection refused until the deadline: carried, not failed"
    assert clock.slept == pytest.approx([0.1, 0.15]), "the second pause is cut at the deadline, and ends the tries"


# --- a table that stores nothing ------------------------------------------------------------------------------


class _Answered:
    """A request whose answer has already arrived (a pipe with a byte in it, for poll)."""

    def __init__(self, deadline: float) -> None:
        self._read, self._write = os.pipe()
        os.write(self._write, b"x")
        self.deadline = deadline

    def fileno(self) -> int:
        return self._read

    def abandon(self) -> None:
        self.close()

    def close(self) -> None:
        for fd in (self._read, self._write):
            with contextlib.suppress(OSError):
                os.close(fd)


class _RefusingTransport:
    """The direct path against a table that refuses every BatchWriteItem at once."""

    def __init__(self, clock: SteppedClock) -> None:
        self.clock = clock

    def begin(self, table: str, batch: list[str], *, deadline: float | None = None) -> _Answered:
        return _Answered(self.clock() + REQUEST_TIMEOUT_S)

    def finish(self, exchange: _Answered) -> list[str]:
        exchange.close()
        raise RetryableWriteError("ProvisionedThroughputExceededException")


class _RefusingSink(SdkEvents):
    """The sdk path against the same table."""

    def send(self, requests: list[Any]) -> list[Any]:
        raise RetryableWriteError("ProvisionedThroughputExceededException")


@pytest.mark.parametrize("shards", [1, 4, 16, 32])
@pytest.mark.parametrize("path", ["direct", "sdk"])
def test_a_table_that_stores_nothing_fails_the_invocation_before_its_deadline_whatever_the_shards(
    path: str, shards: int
) -> None:
    """Refused answers count per writer: at the slowest pace all shards share one batch a second, so counted per
    shard, 16 shards never reached their eighth refusal before the deadline and the chain carried its backlog from
    invocation to invocation until MAX_INVOCATIONS."""
    clock = SteppedClock()
    deadline = clock() + 27.5  # a 30 s invocation with the default 5 s margin: the writers stop 2.5 s before it
    pacing: dict[str, Any] = {"backoff": Backoff(sleep=clock.sleep, random=lambda: 1.0, clock=clock),
                              "pacer": Pacer(clock), "deadline": deadline, "clock": clock}  # fmt: skip
    writer: Any = (
        PipelinedWriter(_RefusingTransport(clock), "events", "incoming/acme/a.csv", "v1", shards=shards, **pacing)  # type: ignore[arg-type]
        if path == "direct"
        else EventWriter(_RefusingSink(lambda: None, "events"), "incoming/acme/a.csv", "v1", shards=shards, **pacing)
    )

    with pytest.raises(TransientAWSError, match="still failing after 8 attempts"):
        for n in range(25 * shards * 2):
            writer.put(_update(n), ("line", n + 2))
        writer.close()
    assert clock() < deadline


def test_refused_answers_count_at_the_slowest_pace_only_and_restart_when_anything_is_stored() -> None:
    progress = _Progress()

    assert progress.refusal(slowest=False) == 0, "while the pacer still slows down, nothing is counted"
    assert [progress.refusal(slowest=True) for _ in range(3)] == [1, 2, 3]
    progress.add(0)
    assert progress.refusal(slowest=True) == 4, "an answer that stored nothing is no progress"
    progress.add(5)
    assert progress.refusal(slowest=True) == 1
