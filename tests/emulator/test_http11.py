"""The local AWS's HTTP/1.1 handler on the wire: how an answer is written to the socket, byte for byte.

Terraform's Go SDK, on a loaded machine, sometimes closed a kept-alive connection when a response's headers
reached it in a segment of their own and sent the call again: a create that had been applied then failed as
'already exists'. These tests pin what the handler writes: one write per answer (status line, headers and the
first body bytes), Nagle off, a single interim `100 Continue`, and the connection kept for the next request.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from werkzeug.serving import make_server

from tools.emulator.aws.http11 import KeepAliveHandler


class _Recorder:
    """The handler's wfile, with every write kept."""

    def __init__(self, wfile: Any, writes: list[bytes]) -> None:
        self.wfile, self.writes = wfile, writes

    def write(self, data: bytes) -> int:
        self.writes.append(bytes(data))
        return self.wfile.write(data)

    def flush(self) -> None:
        self.wfile.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.wfile, name)


def _app(environ: dict[str, Any], start_response: Any) -> Any:
    body = environ["wsgi.input"].read()
    if environ["PATH_INFO"] == "/chunked":  # no Content-Length: the handler frames it as chunks
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"first chunk;", b"second chunk"]
    answer = b'{"echo": "' + body + b'"}'
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(answer)))])
    return [answer]


@pytest.fixture
def wire() -> Iterator[tuple[int, list[bytes], list[int]]]:
    """A server with the handler on a free port, every socket write it makes, and TCP_NODELAY per connection."""
    writes: list[bytes] = []
    nodelay: list[int] = []

    class Recording(KeepAliveHandler):
        def setup(self) -> None:
            super().setup()
            nodelay.append(self.connection.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            self.wfile = _Recorder(self.wfile, writes)

    server = make_server("127.0.0.1", 0, _app, threaded=True, request_handler=Recording)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], writes, nodelay
    finally:
        server.shutdown()
        server.server_close()


def _exchange(sock: socket.socket, request: bytes, ends_with: bytes) -> bytes:
    sock.sendall(request)
    received = b""
    while not received.endswith(ends_with):
        chunk = sock.recv(65536)
        assert chunk, f"connection closed after {received!r}"
        received += chunk
    return received


def _post(path: str, body: bytes, *extra: str) -> bytes:
    head = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", f"Content-Length: {len(body)}", *extra]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


def test_an_answer_leaves_in_one_write_and_the_connection_serves_the_next_request(
    wire: tuple[int, list[bytes], list[int]],
) -> None:
    port, writes, nodelay = wire
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        first = _exchange(sock, _post("/", b"one"), b'{"echo": "one"}')
        second = _exchange(sock, _post("/", b"two"), b'{"echo": "two"}')  # same connection: kept alive
    assert first.startswith(b"HTTP/1.1 200 OK\r\n") and b"Content-Length: 15\r\n" in first
    assert b"Connection: close" not in first + second
    assert second.startswith(b"HTTP/1.1 200 OK\r\n")
    assert writes == [first, second]  # status line, headers and body in a single write each
    assert nodelay == [1]


def test_a_chunked_answer_sends_its_headers_with_the_first_chunk(wire: tuple[int, list[bytes], list[int]]) -> None:
    port, writes, _ = wire
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        received = _exchange(sock, _post("/chunked", b""), b"0\r\n\r\n")
    head, _, body = received.partition(b"\r\n\r\n")
    assert b"Transfer-Encoding: chunked" in head
    assert body == b"c\r\nfirst chunk;\r\nc\r\nsecond chunk\r\n0\r\n\r\n"
    assert writes[0] == head + b"\r\n\r\nc\r\nfirst chunk;\r\n"
    assert b"".join(writes) == received


def test_expect_100_continue_gets_one_interim_answer(wire: tuple[int, list[bytes], list[int]]) -> None:
    port, _, _ = wire
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(_post("/", b"", "Expect: 100-continue").replace(b"Content-Length: 0", b"Content-Length: 4"))
        interim = b""
        while not interim.endswith(b"\r\n\r\n"):
            interim += sock.recv(1)
        assert interim.startswith(b"HTTP/1.1 100 Continue\r\n")
        received = _exchange(sock, b"body", b'{"echo": "body"}')
    assert received.startswith(b"HTTP/1.1 200 OK\r\n")  # no second "100 Continue" before the answer
    assert b"100 Continue" not in received
