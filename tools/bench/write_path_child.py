"""The measured process of the write-path benchmark: one fresh Python process per measurement.

    python -m tools.bench.write_path_child handler|capped|writer|floor|parse [options]

The parent configures it through the environment exactly as Lambda would (tables, ``EVENTS_WRITE_PATH``,
``AWS_ENDPOINT_URL``, ``AWS_CA_BUNDLE``, credentials with a session token), sends a line on stdin when the child
may start (after putting it in a CPU cgroup, for the capped runs), and reads one JSON line per phase from the
child's stdout. The function's own output (logs, EMF) goes to /dev/null, as cheap as Lambda's stdout pipe.

CPU is ``getrusage(RUSAGE_SELF)``: every thread of this process, nothing of moto's.

* ``handler``: import the real handler, run it once on a tiny warm-up object (clients created, caches warm, as
  in any warm invocation), then on the measured object; report CPU and wall time of that invocation.
* ``capped``: import the real handler, report, then process the object from a cold runtime until the parent
  kills the process at its deadline (a Lambda timeout).
* ``writer``: parse and validate a local file first (not measured), then time only the events writer writing the
  accepted updates through the Store, on the path the environment selects.
* ``floor``: the same updates as already-typed items; time only ``json.dumps`` of each 25-item request and its
  exchange over one kept-alive connection, unsigned: no SDK, no signing, no item building.
* ``parse``: time the pipeline (parse + validate) over a local file, storing nothing.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import socket
import ssl
import sys
import time
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import quote_plus, urlsplit

from tools.bench.probe import NOW

EVENT_TIME = "2026-03-01T11:59:58.123Z"
BATCH = 25


def cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def s3_event(bucket: str, key: str, version_id: str | None, size: int) -> dict[str, Any]:
    """An ObjectCreated notification as S3 sends it."""
    obj: dict[str, Any] = {"key": quote_plus(key, safe="/"), "size": size, "sequencer": "0055AED6DCD90281E5"}
    if version_id:
        obj["versionId"] = version_id
    return {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": os.environ.get("AWS_REGION", "eu-west-1"),
                "eventTime": EVENT_TIME,
                "eventName": "ObjectCreated:Put",
                "s3": {"bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"}, "object": obj},
            }
        ]
    }


class Context:
    """What the handler reads from the Lambda context."""

    aws_request_id = "bench-request"
    invoked_function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:bench-processor"

    def __init__(self, deadline_s: float) -> None:
        self._deadline = time.monotonic() + deadline_s

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def _event_arg(value: str) -> dict[str, Any]:
    bucket, key, version, size = json.loads(value)
    return s3_event(bucket, key, version, size)


def _accepted(path: Path, key: str) -> list[Any]:
    from shipment_processor.config import Limits  # noqa: PLC0415 - imported after the start signal
    from shipment_processor.pipeline import Accepted, stream_results  # noqa: PLC0415

    with path.open("rb") as body:
        return [r for r in stream_results(body, key, Limits(), NOW) if isinstance(r, Accepted)]


def run_handler(proto: TextIO, args: argparse.Namespace) -> None:
    started = cpu_s()
    from shipment_processor import handler  # noqa: PLC0415 - the import is the measured init phase

    proto.write(json.dumps({"phase": "imported", "cpu_s": cpu_s() - started}) + "\n")
    if args.warm_event:
        handler.lambda_handler(_event_arg(args.warm_event), Context(900))
    event = _event_arg(args.event)
    cpu_before, wall_before = cpu_s(), time.perf_counter()
    response = handler.lambda_handler(event, Context(900))
    cpu_used, wall = cpu_s() - cpu_before, time.perf_counter() - wall_before
    proto.write(json.dumps({"phase": "done", "cpu_s": cpu_used, "wall_s": wall, "file": response["files"][0]}) + "\n")


def run_capped(proto: TextIO, args: argparse.Namespace) -> None:
    from shipment_processor import handler, store  # noqa: PLC0415 - the import is the (unbounded) init phase

    # The invocation checkpoints when its time runs short and queues the rest with Lambda's Invoke API; here that
    # one call is recorded instead (the continuation is not run: the row is about one invocation).
    queued: list[Any] = []
    store.Store.invoke_async = lambda self, function, payload: queued.append(payload)  # type: ignore[method-assign]
    event = _event_arg(args.event)
    proto.write(json.dumps({"phase": "imported", "cpu_s": cpu_s()}) + "\n")
    response = handler.lambda_handler(event, Context(args.deadline))
    proto.write(json.dumps({"phase": "done", "cpu_s": cpu_s(), "file": response["files"][0],
                            "continued": len(queued)}) + "\n")  # fmt: skip


def run_writer(proto: TextIO, args: argparse.Namespace) -> None:
    from shipment_processor.config import Settings  # noqa: PLC0415
    from shipment_processor.store import Store  # noqa: PLC0415

    updates = _accepted(Path(args.file), args.key)
    store = Store(Settings.from_env(os.environ))
    with store.event_writer(args.key, "warm") as warm:  # clients and connections made outside the timer
        for result in updates[:BATCH]:
            warm.put(result.update, result.ref)
        warm.close()
    cpu_before, wall_before = cpu_s(), time.perf_counter()
    with store.event_writer(args.key, "bench") as writer:
        for result in updates:
            writer.put(result.update, result.ref)
        written = writer.close()
    cpu_used, wall = cpu_s() - cpu_before, time.perf_counter() - wall_before
    proto.write(json.dumps({"phase": "done", "cpu_s": cpu_used, "wall_s": wall, "items": written}) + "\n")


def _typed_item(update: Any, ref: tuple[str, int], source_file: str) -> dict[str, Any]:
    item = {
        "shipment_id": {"S": update.shipment_id},
        "event_key": {"S": update.event_key},
        "status": {"S": update.status},
        "timestamp": {"S": update.timestamp},
        "source_file": {"S": source_file},
        "source_version": {"S": "bench"},
        "record_ref": {"S": f"{ref[0]} {ref[1]}"},
    }
    for name, value in update.fields:
        item[name] = {"S": value}
    return item


def _exchange(sock: socket.socket, request: bytes, buffer: bytearray) -> int:
    """Send one request, read one Content-Length response; return its status."""
    sock.sendall(request)
    while (end := buffer.find(b"\r\n\r\n")) < 0:
        buffer += sock.recv(262_144)
    head = bytes(buffer[:end]).decode("latin-1").lower()
    del buffer[: end + 4]
    length = int(head.split("content-length:", 1)[1].split("\r\n", 1)[0])
    while len(buffer) < length:
        buffer += sock.recv(262_144)
    del buffer[:length]
    return int(head[9:12])


def run_floor(proto: TextIO, args: argparse.Namespace) -> None:
    updates = _accepted(Path(args.file), args.key)
    by_key = {(r.update.shipment_id, r.update.event_key): _typed_item(r.update, r.ref, args.key) for r in updates}
    items = list(by_key.values())  # the pipeline's last-wins de-duplication, done up front
    endpoint = urlsplit(os.environ["AWS_ENDPOINT_URL"])
    assert endpoint.hostname and endpoint.port
    sock = socket.create_connection((endpoint.hostname, endpoint.port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if endpoint.scheme == "https":
        context = ssl.create_default_context(cafile=os.environ["AWS_CA_BUNDLE"])
        sock = context.wrap_socket(sock, server_hostname=endpoint.hostname)
    region = os.environ["AWS_REGION"]
    # A fixed, unsigned Authorization header: moto reads the region from it and checks nothing else.
    head = (
        f"POST / HTTP/1.1\r\nHost: {endpoint.netloc}\r\nContent-Type: application/x-amz-json-1.0\r\n"
        "X-Amz-Target: DynamoDB_20120810.BatchWriteItem\r\n"
        f"Authorization: AWS4-HMAC-SHA256 Credential=bench/20260301/{region}/dynamodb/aws4_request, "
        "SignedHeaders=host, Signature=0\r\nContent-Length: "
    )
    table, buffer = os.environ["EVENTS_TABLE"], bytearray()
    cpu_before, wall_before = cpu_s(), time.perf_counter()
    for start in range(0, len(items), BATCH):
        requests = [{"PutRequest": {"Item": item}} for item in items[start : start + BATCH]]
        body = json.dumps({"RequestItems": {table: requests}}).encode()
        status = _exchange(sock, f"{head}{len(body)}\r\n\r\n".encode() + body, buffer)
        assert status == 200, status
    cpu_used, wall = cpu_s() - cpu_before, time.perf_counter() - wall_before
    proto.write(json.dumps({"phase": "done", "cpu_s": cpu_used, "wall_s": wall, "items": len(items)}) + "\n")


def run_parse(proto: TextIO, args: argparse.Namespace) -> None:
    from shipment_processor.config import Limits  # noqa: PLC0415
    from shipment_processor.pipeline import Accepted, stream_results  # noqa: PLC0415

    data = Path(args.file).read_bytes()
    cpu_before = cpu_s()
    accepted = sum(1 for r in stream_results(io.BytesIO(data), args.key, Limits(), NOW) if isinstance(r, Accepted))
    proto.write(json.dumps({"phase": "done", "cpu_s": cpu_s() - cpu_before, "items": accepted}) + "\n")


MODES = {"handler": run_handler, "capped": run_capped, "writer": run_writer, "floor": run_floor, "parse": run_parse}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.bench.write_path_child", description=__doc__)
    parser.add_argument("mode", choices=sorted(MODES))
    parser.add_argument("--event", help='JSON ["bucket", "key", "version or null", size] of the measured object')
    parser.add_argument("--warm-event", help="the same for the warm-up object (handler mode)")
    parser.add_argument("--file", help="local file (writer, floor, parse)")
    parser.add_argument("--key", default="incoming/bench/shipments.csv", help="object key (format detection)")
    parser.add_argument("--deadline", type=float, default=30.0, help="capped: seconds the context reports")
    args = parser.parse_args(argv)
    proto = os.fdopen(os.dup(1), "w", buffering=1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)  # the function's logs and EMF documents
    if sys.stdin.readline().strip() != "start":
        return 2
    MODES[args.mode](proto, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
