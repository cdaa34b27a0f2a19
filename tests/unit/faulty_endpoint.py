"""A keep-alive HTTP(S) endpoint in front of the session's moto server that injects DynamoDB faults.

The direct write path speaks raw HTTP, which moto's in-process ``mock_aws`` never sees, so its tests run against a
real moto server (the ``moto_endpoint`` fixture). This proxy sits in between, keeps client connections open the
way AWS endpoints do (moto's own server closes every one), records every request, and applies the next planned
fault to each BatchWriteItem request. Every other request passes through untouched.

Faults, each consumed by one BatchWriteItem request:

* ``throttle`` / ``validation`` / ``server-error`` / ``unavailable-html``: answer with that error, apply nothing;
* ``drop``: close the connection before forwarding (nothing applied, no response);
* ``lose``: forward (applied) and close the connection without an answer (the response is lost);
* ``partial``: forward the first half of the items, answer with the rest as UnprocessedItems;
* ``bad-crc``: forward, answer with a wrong ``x-amz-crc32`` (every other DynamoDB answer carries the right one);
* ``slow``: wait ``slow_s`` before forwarding (a read timeout for the client);
* ``chunked`` / ``close``: forward, answer chunked / with ``Connection: close``.
"""

from __future__ import annotations

import http.client
import http.server
import json
import ssl
import threading
import time
import zlib
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

THROTTLE = {
    "__type": "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
    "message": "The level of configured provisioned throughput for the table was exceeded.",
}
VALIDATION = {
    "__type": "com.amazon.coral.validate#ValidationException",
    "message": "Item size has exceeded the maximum allowed size",
}
SERVER_ERROR = {"__type": "com.amazonaws.dynamodb.v20120810#InternalServerError", "Message": "Internal server error"}


@dataclass
class Seen:
    """One request as the endpoint received it."""

    connection: int
    target: str
    headers: dict[str, str]
    body: bytes

    @property
    def items(self) -> list[dict[str, Any]]:
        """The put requests of a BatchWriteItem body."""
        (requests,) = json.loads(self.body)["RequestItems"].values()
        return list(requests)


@dataclass
class FaultyEndpoint:
    """The proxy; ``url`` is what a client's endpoint_url should be."""

    upstream: str
    tls: tuple[Path, Path] | None = None
    faults: deque[str] = field(default_factory=deque)
    targeted: list[tuple[bytes, deque[str]]] = field(default_factory=list)
    seen: list[Seen] = field(default_factory=list)
    slow_s: float = 1.0
    url: str = ""
    connections: int = 0

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._server = _QuietServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        scheme = "http"
        if self.tls is not None:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(*self.tls)
            self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
            scheme = "https"
        self.url = f"{scheme}://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def plan(self, *faults: str) -> None:
        """Faults for the next BatchWriteItem requests, in order."""
        self.faults.extend(faults)

    def plan_for(self, marker: bytes, *faults: str) -> None:
        """Faults for the next BatchWriteItem requests whose body contains ``marker`` (before the general plan)."""
        self.targeted.append((marker, deque(faults)))

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def batch_writes(self) -> list[Seen]:
        return [seen for seen in self.seen if seen.target.endswith(".BatchWriteItem")]

    def _next_fault(self, target: str, body: bytes) -> str | None:
        if not target.endswith(".BatchWriteItem"):
            return None
        with self._lock:
            for marker, faults in self.targeted:
                if faults and marker in body:
                    return faults.popleft()
            return self.faults.popleft() if self.faults else None

    def _forward(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, list, bytes]:
        parts = urlsplit(self.upstream)
        upstream = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        try:
            upstream.request(method, path, body, {k: v for k, v in headers.items() if k.lower() != "connection"})
            response = upstream.getresponse()
            return response.status, response.getheaders(), response.read()
        finally:
            upstream.close()


class _QuietServer(http.server.ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that gave up (a timeout test) makes the answer fail: nothing to report."""


def _handler(endpoint: FaultyEndpoint) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def setup(self) -> None:
            super().setup()
            with endpoint._lock:
                endpoint.connections += 1
                self.number = endpoint.connections

        def log_message(self, *_: Any) -> None:
            """Quiet."""

        def do_POST(self) -> None:
            self._handle()

        def do_GET(self) -> None:
            self._handle()

        def do_PUT(self) -> None:
            self._handle()

        def do_HEAD(self) -> None:
            self._handle()

        def do_DELETE(self) -> None:
            self._handle()

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = dict(self.headers.items())
            target = self.headers.get("X-Amz-Target", "")
            with endpoint._lock:
                endpoint.seen.append(Seen(self.number, target, headers, body))
            fault = endpoint._next_fault(target, body)
            if fault == "drop":
                self.close_connection = True
                return
            if fault in ("throttle", "validation", "server-error"):
                status, error = {"throttle": (400, THROTTLE), "validation": (400, VALIDATION)}.get(
                    fault, (500, SERVER_ERROR)
                )
                return self._answer(status, [("x-amzn-RequestId", "FAULT")], json.dumps(error).encode(), crc=True)
            if fault == "unavailable-html":
                return self._answer(503, [("Content-Type", "text/html")], b"<html>Service Unavailable</html>")
            if fault == "slow":
                time.sleep(endpoint.slow_s)
            if fault == "stall":  # the request was taken, and is never answered nor written
                time.sleep(endpoint.slow_s)
                self.close_connection = True
                return None
            if fault == "partial":
                request = json.loads(body)
                ((table, requests),) = request["RequestItems"].items()
                half = len(requests) // 2
                body = json.dumps({"RequestItems": {table: requests[:half]}}).encode()
                headers["Content-Length"] = str(len(body))
                status, answer_headers, _ = endpoint._forward(self.command, self.path, headers, body)
                answer = json.dumps({"UnprocessedItems": {table: requests[half:]}}).encode()
                return self._answer(status, _crc_free(answer_headers), answer, crc=True)
            status, answer_headers, answer = endpoint._forward(self.command, self.path, headers, body)
            if fault == "lose":
                self.close_connection = True
                return
            if fault == "bad-crc":
                wrong = [("x-amz-crc32", str((zlib.crc32(answer) + 1) & 0xFFFFFFFF))]
                return self._answer(status, _crc_free(answer_headers) + wrong, answer)
            dynamodb = target.startswith("DynamoDB_")  # DynamoDB checksums every response; S3 does not
            return self._answer(
                status,
                _crc_free(answer_headers),
                answer,
                crc=dynamodb,
                chunked=fault == "chunked",
                close=fault == "close",
            )

        def _answer(
            self,
            status: int,
            headers: list[tuple[str, str]],
            body: bytes,
            *,
            crc: bool = False,
            chunked: bool = False,
            close: bool = False,
        ) -> None:
            self.send_response(status)
            for name, value in headers:
                if name.lower() not in ("content-length", "transfer-encoding", "connection", "server", "date"):
                    self.send_header(name, value)
            if crc:
                self.send_header("x-amz-crc32", str(zlib.crc32(body)))
            if close:
                self.send_header("Connection", "close")
                self.close_connection = True
            if chunked:
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                half = len(body) // 2
                for piece in (body[:half], body[half:]):
                    if piece:
                        self.wfile.write(f"{len(piece):x};note=x\r\n".encode() + piece + b"\r\n")
                self.wfile.write(b"0\r\nx-trailer: 1\r\n\r\n")
            else:
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)
            self.wfile.flush()

    return Handler


def _crc_free(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Upstream headers without a checksum (the proxy may change the body; it adds its own when it should)."""
    return [(name, value) for name, value in headers if name.lower() != "x-amz-crc32"]
