"""A WSGI request handler that keeps HTTP/1.1 connections alive, as AWS endpoints do.

Werkzeug's development server (which moto_server uses) sends `Connection: close` on every response and then
waits 10 ms on the socket to drain what the client may still send ("Always close the connection. This disables
HTTP/1.1 keep-alive connections", werkzeug/serving.py). Every SDK call then pays a new TCP (and TLS) handshake and
that wait, which distorts both latency and client CPU measurements. This handler serves persistent connections:
it bounds the request body by Content-Length (or the chunked terminator), drains whatever the application did not
read, frames the response by Content-Length or chunked encoding, and closes only when the client asks to.

An answer leaves in one write: status line, headers and the first body bytes together, with Nagle off. Sent as
two writes (headers, then body), a loaded machine let Terraform's Go SDK see the header segment alone now and
then; a packet capture showed it close the connection 0.2 ms later, before the body arrived, and send the call
again (`amz-sdk-request: attempt=2`). A create or delete that had already been applied then failed as 'already
exists' or 'not found'. Three parallel apply suites: 9 such retries in 4,651 calls with two writes, none in
5,663 with one.
"""

from __future__ import annotations

import sys
import threading
import time
import traceback
from collections import OrderedDict
from typing import Any

from moto.moto_server.werkzeug_app import MotoRequestHandler

# What became of the latest attempt of each recent SDK call (by its amz-sdk-invocation-id), so that when a client
# sends a call again the log can say whether this server had answered the attempt before.
_FATES: OrderedDict[str, str] = OrderedDict()
_FATES_KEPT = 4096
_FATES_LOCK = threading.Lock()


class _Body:
    """The request body: at most Content-Length bytes of the connection, counted so the rest can be drained."""

    def __init__(self, stream: Any, length: int) -> None:
        self.stream = stream
        self.remaining = length

    def read(self, size: int = -1) -> bytes:
        if self.remaining <= 0:
            return b""
        size = self.remaining if size is None or size < 0 else min(size, self.remaining)
        data = self.stream.read(size)
        self.remaining -= len(data)
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def readline(self, size: int = -1) -> bytes:
        if self.remaining <= 0:
            return b""
        size = self.remaining if size is None or size < 0 else min(size, self.remaining)
        data = self.stream.readline(size)
        self.remaining -= len(data)
        return data

    def __iter__(self) -> Any:
        while line := self.readline():
            yield line

    def drain(self) -> None:
        while self.remaining > 0 and self.read(min(self.remaining, 1 << 20)):
            pass


class KeepAliveHandler(MotoRequestHandler):
    protocol_version = "HTTP/1.1"
    # Each answer goes out in one write (status line, headers and the first body bytes together), as AWS's
    # endpoints send a small answer; no Nagle delay holds back a later chunk of a streamed body.
    disable_nagle_algorithm = True

    def log_request(self, code: Any = "-", size: Any = "-") -> None:  # one line per API call is noise
        return

    def run_wsgi(self) -> None:
        # `Expect: 100-continue` was answered by parse_request (http.server does it for HTTP/1.1 handlers); a
        # second interim answer, as werkzeug's run_wsgi would send, is one the client did not ask for.
        self.environ = environ = self.make_environ()
        body: Any = environ["wsgi.input"]
        if not environ.get("wsgi.input_terminated"):
            body = _Body(self.rfile, int(environ.get("CONTENT_LENGTH") or 0))
            environ["wsgi.input"] = body
        state: dict[str, Any] = {"status": None, "headers": None, "sent": False, "chunked": False, "bytes": 0}
        invocation = environ.get("HTTP_AMZ_SDK_INVOCATION_ID", "")
        attempt = environ.get("HTTP_AMZ_SDK_REQUEST", "")
        if attempt.partition(";")[0].strip() not in ("", "attempt=1"):  # an SDK's retry: say what it repeats
            with _FATES_LOCK:
                before = _FATES.get(invocation, "never reached this server")
            print(f"retried by the client ({attempt}): {_request_line(environ)}; before: {before}", file=sys.stderr)
        began = time.monotonic()

        def write(data: bytes) -> None:
            if not state["sent"]:
                code_text, _, message = str(state["status"]).partition(" ")
                code = int(code_text)
                self.send_response(code, message)
                keys = set()
                for key, value in state["headers"]:
                    if key.lower() == "connection":
                        continue
                    keys.add(key.lower())
                    self.send_header(key, value)
                if not (
                    "content-length" in keys
                    or environ["REQUEST_METHOD"] == "HEAD"
                    or 100 <= code < 200
                    or code in {204, 304}
                ):
                    state["chunked"] = True
                    self.send_header("Transfer-Encoding", "chunked")
                if self.close_connection:
                    self.send_header("Connection", "close")
                self._headers_buffer.append(b"\r\n")
                head = b"".join(self._headers_buffer)
                self._headers_buffer = []
                state["sent"] = True
            else:
                head = b""
            if data:
                state["bytes"] += len(data)
                if state["chunked"]:
                    data = f"{len(data):x}\r\n".encode() + data + b"\r\n"
            if head or data:
                self.wfile.write(head + data)
            self.wfile.flush()

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            if exc_info and state["sent"]:
                raise exc_info[1].with_traceback(exc_info[2])
            state["status"], state["headers"] = status, headers
            return write

        try:
            application_iter = self.server.app(environ, start_response)
            try:
                for data in application_iter:
                    write(data)
                if not state["sent"]:
                    write(b"")
                if state["chunked"]:
                    self.wfile.write(b"0\r\n\r\n")
                    self.wfile.flush()
            finally:
                if hasattr(application_iter, "close"):
                    application_iter.close()
            if isinstance(body, _Body):
                body.drain()
            else:
                while body.read(1 << 20):
                    pass
            fate = f"answered {state['status']} ({state['bytes']} body bytes)"
        except (TimeoutError, ConnectionError) as error:
            self.close_connection = True
            fate = f"{'answered' if state['sent'] else 'not answered'}, connection lost: {error!r}"
            if not state["sent"]:  # the client gets no answer and may send the request again: say so
                print(f"connection closed without an answer to {_request_line(environ)}: {error!r}", file=sys.stderr)
        except Exception:
            traceback.print_exc(file=sys.stderr)
            self.close_connection = True
            if not state["sent"]:
                payload = b"Internal Server Error"
                state["status"] = "500 Internal Server Error"
                state["headers"] = [("Content-Type", "text/plain"), ("Content-Length", str(len(payload)))]
                write(payload)
            fate = "failed with an exception (see the traceback above)"
        if invocation:
            closed = ", then the connection closed" if self.close_connection else ""
            with _FATES_LOCK:
                _FATES[invocation] = f"{fate} in {time.monotonic() - began:.2f} s{closed}"
                _FATES.move_to_end(invocation)
                while len(_FATES) > _FATES_KEPT:
                    _FATES.popitem(last=False)


def _request_line(environ: dict[str, Any]) -> str:
    target = environ.get("HTTP_X_AMZ_TARGET")
    line = f"{environ['REQUEST_METHOD']} {environ.get('PATH_INFO', '')}"
    return f"{line} ({target})" if target else line
