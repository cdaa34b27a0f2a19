"""A DynamoDB endpoint for the bench that answers BatchWriteItem like a service that scales: after a fixed latency,
concurrently, every item processed. Everything else (the metadata table's calls) is forwarded to moto.

Why: moto applies writes in one GIL-bound process at ~0.3-0.5 ms of CPU per item, so against it the function
mostly waits, and a count of items stored in 30 s measures the emulator. Real DynamoDB answers a 25-item
BatchWriteItem in milliseconds and many at once. With this stub the function's own CPU share is the limit. It
checks what it acknowledges (the JSON 1.0 target and content type, one table, at most 25 put requests with both
key attributes, no key twice in a request) and counts the items; nothing is stored.

    python -m tools.bench.latency_stub --upstream https://127.0.0.1:N --ca cert.pem --cert cert.pem --key key.pem
        [--latency-ms 10] [--capacity-wru N] --ready-file f

With ``--capacity-wru``, the table's write capacity is modelled as the local AWS models DynamoDB's
(tools.emulator.aws.dynamodb_capacity, a limit of N WRU/s over partitions of 1,000): throttled writes come back as
UnprocessedItems, a request wholly throttled as ThrottlingException, and only admitted items are counted.

``GET /stub/count`` answers ``{"items": n, "requests": n, "rejected": n, "throttled": n}``.
"""

from __future__ import annotations

import argparse
import http.client
import http.server
import json
import os
import ssl
import sys
import threading
import time
import zlib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from tools.emulator.aws import dynamodb_capacity


def serve(
    upstream: str,
    ca: Path,
    cert: Path,
    key: Path,
    *,
    latency_s: float,
    ready_file: Path,
    capacity_wru: float | None = None,
) -> None:
    """Run until killed."""
    counts = {"items": 0, "requests": 0, "rejected": 0, "throttled": 0}
    model = dynamodb_capacity.CapacityModel(enabled=capacity_wru is not None)
    configured: set[str] = set()
    lock = threading.Lock()
    parts = urlsplit(upstream)
    client_context = ssl.create_default_context(cafile=str(ca))
    local = threading.local()

    def forward(method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, list[Any], bytes]:
        connection = getattr(local, "connection", None)
        for _attempt in range(2):  # a kept connection may have been closed by moto's server
            if connection is None:
                connection = http.client.HTTPSConnection(parts.hostname, parts.port, context=client_context)
                local.connection = connection
            try:
                connection.request(method, path, body, headers)
                response = connection.getresponse()
                return response.status, response.getheaders(), response.read()
            except (OSError, http.client.HTTPException):
                connection.close()
                connection = local.connection = None
        raise ConnectionError("upstream moto did not answer")

    def check(headers: dict[str, str], body: bytes) -> int:
        """Items in a well-formed BatchWriteItem request; raise ValueError for anything DynamoDB would refuse."""
        if headers.get("content-type") != "application/x-amz-json-1.0":
            raise ValueError("content type")
        ((_table, requests),) = json.loads(body)["RequestItems"].items()
        if not 0 < len(requests) <= 25:
            raise ValueError("request count")
        keys = {
            (r["PutRequest"]["Item"]["shipment_id"]["S"], r["PutRequest"]["Item"]["event_key"]["S"]) for r in requests
        }
        if len(keys) != len(requests):
            raise ValueError("duplicate key")
        return len(requests)

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def log_message(self, *_: Any) -> None:
            """Quiet."""

        def do_GET(self) -> None:
            if self.path == "/stub/count":
                with lock:
                    return self._answer(200, [], json.dumps(counts).encode())
            return self._proxy()

        def do_POST(self) -> None:
            if self.headers.get("X-Amz-Target") == "DynamoDB_20120810.BatchWriteItem":
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {name.lower(): value for name, value in self.headers.items()}
                try:
                    items = check(headers, body)
                except (ValueError, KeyError, TypeError):
                    with lock:
                        counts["rejected"] += 1
                    error = {"__type": "com.amazon.coral.validate#ValidationException", "message": "stub refused"}
                    return self._answer(400, [], json.dumps(error).encode())
                time.sleep(latency_s)
                request = json.loads(body)
                ((table, _),) = request["RequestItems"].items()
                if capacity_wru is not None and table not in configured:
                    model.configure(table, write_units_per_second=capacity_wru)
                    configured.add(table)
                shape = dynamodb_capacity.TableShape(
                    table, f"arn:aws:dynamodb:eu-west-1:123456789012:table/{table}", "shipment_id",
                    ("shipment_id", "event_key"),
                )  # fmt: skip
                decision = dynamodb_capacity.decide(model, "BatchWriteItem", request, lambda _name: shape)
                left = len(decision.unprocessed.get(table, []))
                with lock:
                    counts["requests"] += 1
                    counts["throttled"] += items if decision.error else left
                    counts["items"] += 0 if decision.error else items - left
                if decision.error is not None:
                    return self._answer(400, [], dynamodb_capacity.error_body(decision.error))
                answer = {"UnprocessedItems": decision.unprocessed}
                return self._answer(200, [], json.dumps(answer).encode())
            return self._proxy()

        def _proxy(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            headers = {k: v for k, v in self.headers.items() if k.lower() != "connection"}
            status, answer_headers, answer = forward(self.command, self.path, headers, body)
            skip = ("content-length", "transfer-encoding", "connection", "date", "server")
            self._answer(status, [(k, v) for k, v in answer_headers if k.lower() not in skip], answer)

        def _answer(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
            self.send_response(status)
            for name, value in headers:
                if name.lower() != "x-amz-crc32":
                    self.send_header(name, value)
            self.send_header("x-amz-crc32", str(zlib.crc32(body)))
            self.send_header("Content-Type", "application/x-amz-json-1.0")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    scratch = ready_file.with_name(ready_file.name + ".partial")
    scratch.write_text(json.dumps({"port": server.server_address[1], "pid": os.getpid()}))
    scratch.replace(ready_file)
    server.serve_forever()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.bench.latency_stub", description=__doc__)
    parser.add_argument("--upstream", required=True)
    parser.add_argument("--ca", type=Path, required=True)
    parser.add_argument("--cert", type=Path, required=True)
    parser.add_argument("--key", type=Path, required=True)
    parser.add_argument("--latency-ms", type=float, default=10.0)
    parser.add_argument("--capacity-wru", type=float, help="model a table of this many WRU/s (default: unlimited)")
    parser.add_argument("--ready-file", type=Path, required=True)
    args = parser.parse_args(argv)
    serve(
        args.upstream,
        args.ca,
        args.cert,
        args.key,
        latency_s=args.latency_ms / 1000,
        ready_file=args.ready_file,
        capacity_wru=args.capacity_wru,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
