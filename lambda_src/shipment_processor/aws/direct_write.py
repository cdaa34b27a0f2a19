"""BatchWriteItem to the events table without botocore's per-call machinery: the request is built from item JSON
text made once per record, signed with botocore's own credentials and SigV4 signer, and sent on a kept-alive
connection.

Why: per stored record, ``client.batch_write_item`` spends most of the function's CPU on generic work (shape-driven
serialisation of every attribute, event hooks, endpoint rules, urllib3), and at Lambda's CPU share that CPU decides
how many records one invocation can store. What stays botocore's, taken from the client the transport is made
for: its credentials (frozen per request, so refreshed session credentials and their token are always used
together), the SigV4 signer, the endpoint and region the client resolved, its CA bundle and its timeouts.

Proxies: the proxy botocore resolved for the client (``Config(proxies=...)``, else ``HTTPS_PROXY`` and
``NO_PROXY``) is used the way urllib3 uses it for an HTTPS endpoint: a CONNECT tunnel through an ``http://``
proxy (with its ``Proxy-Authorization`` when the proxy URL has credentials), TLS to the endpoint inside it. Any
other proxy setup (an ``https://`` proxy, forwarding for HTTPS, a plain-HTTP endpoint behind a proxy) raises
:class:`UnsupportedProxyError`, and the caller uses the SDK path, which handles them all.

Time: every request's answer is awaited until the caller's deadline at the latest, and never longer than
``REQUEST_TIMEOUT_S`` (DynamoDB answers a BatchWriteItem in milliseconds; a stalled connection costs seconds).

One call here is one HTTP attempt. :class:`RetryableWriteError` marks what may succeed when repeated (throttling,
5xx, dropped connections, timeouts, a corrupted response); the caller's backoff decides when and how often. Any
other error response raises botocore's ``ClientError`` with DynamoDB's code and message, as the SDK path does.
"""

from __future__ import annotations

import json
import os
import select
import socket
import ssl
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from json.encoder import encode_basestring_ascii
from typing import Any
from urllib.parse import urlsplit

import botocore
from botocore.auth import SIGNED_HEADERS_BLACKLIST, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError, NoCredentialsError
from botocore.httpsession import ProxyConfiguration, create_urllib3_context, get_cert_path
from botocore.utils import get_environ_proxies

from ..formats import RecordRef
from ..validation import ShipmentUpdate

TARGET = "DynamoDB_20120810.BatchWriteItem"
CONTENT_TYPE = "application/x-amz-json-1.0"
MAX_ITEM_BYTES = 400 * 1024  # DynamoDB's item size limit (attribute names + values, UTF-8)
MAX_REQUEST_BYTES = 16 * 1024 * 1024  # DynamoDB's BatchWriteItem request size limit
USER_AGENT_SUFFIX = "shipment-processor md/events-write#direct"
# Error codes worth repeating, as in the SDK path; any 5xx is retried too.
RETRYABLE_ERROR_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "InternalServerError",
        "ServiceUnavailable",
    }
)
REQUEST_TIMEOUT_S = 5.0  # the longest one answer is awaited (the client's read timeout, if shorter)
_NAME_CACHE_MAX = 1024
_MAX_HEAD_BYTES = 64 * 1024
# A connection idle for longer is checked for a server-side close before reuse (a poll() per request would
# hand the GIL over once more per batch; a close within this time costs one retried attempt).
_IDLE_CHECK_S = 1.0
_RECEIVE_BYTES = 16 * 1024  # recv allocates its whole size each call: 256 KiB cost ~12 µs more per read here

_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")
_escape: Callable[[str], str] = encode_basestring_ascii  # JSON string literal, ASCII-only (as json.dumps writes)


class RetryableWriteError(Exception):
    """One write attempt failed in a way that may succeed when repeated; ``problem`` says how, in a few words."""

    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem


class UnsupportedProxyError(Exception):
    """A proxy applies to the endpoint in a way this transport does not speak; use the SDK path."""


class ItemTooLargeError(ValueError):
    """An item or a request is over DynamoDB's size limit: sending it could only be rejected."""


class ItemEncoder:
    """Builds the JSON text of each record's put request once, at ``put``, for one source file.

    The text is the JSON value botocore serialises for the same typed item (``{"S": ...}`` values, ASCII escapes),
    so the batch body is a join, not a walk over nested dicts. The attributes every item of the file shares are
    encoded once.
    """

    def __init__(self, source_file: str, source_version: str) -> None:
        self._source = (source_file, source_version)
        self._shared = (
            f'}},"source_file":{{"S":{_escape(source_file)}}},"source_version":{{"S":{_escape(source_version)}}},'
            '"record_ref":{"S":'
        )
        self._names: dict[str, str] = {}

    def __call__(self, update: ShipmentUpdate, event_key: str, ref: RecordRef) -> str:
        """The ``{"PutRequest": {"Item": ...}}`` text of one update."""
        esc = _escape
        parts = [
            '{"PutRequest":{"Item":{"shipment_id":{"S":',
            esc(update.shipment_id),
            '},"event_key":{"S":',
            esc(event_key),
            '},"status":{"S":',
            esc(update.status),
            '},"timestamp":{"S":',
            esc(update.timestamp),
            self._shared,
            esc(f"{ref[0]} {ref[1]}"),
        ]
        names = self._names
        for name, value in update.fields:
            parts.append(names.get(name) or self._name(name))
            parts.append(esc(value))
        parts.append("}}}}")
        text = "".join(parts)  # one join: measured faster than f-strings and concatenation
        if len(text) > MAX_ITEM_BYTES:  # the JSON text is never shorter than the item's DynamoDB size
            _check_item_size(update, event_key, ref, self._source)
        return text

    def _name(self, name: str) -> str:
        fragment = f'}},{_escape(name)}:{{"S":'
        if len(self._names) < _NAME_CACHE_MAX:
            self._names[name] = fragment
        return fragment


def _check_item_size(update: ShipmentUpdate, event_key: str, ref: RecordRef, source: tuple[str, str]) -> None:
    """Raise ItemTooLargeError when the item's DynamoDB size (names + values, UTF-8) is over 400 KB."""
    attributes = [
        ("shipment_id", update.shipment_id),
        ("event_key", event_key),
        ("status", update.status),
        ("timestamp", update.timestamp),
        ("source_file", source[0]),
        ("source_version", source[1]),
        ("record_ref", f"{ref[0]} {ref[1]}"),
        *update.fields,
    ]
    size = sum(len(name.encode()) + len(value.encode()) for name, value in attributes)
    if size > MAX_ITEM_BYTES:
        raise ItemTooLargeError(
            f"the update of shipment {update.shipment_id} at {ref[0]} {ref[1]} is {size} bytes as a "
            f"DynamoDB item; the limit is {MAX_ITEM_BYTES}"
        )


class _Connection:
    """One kept-alive HTTP/1.1 connection. A request goes out in one write; the response is read by a strict
    reader of the three body framings (Content-Length, chunked, until close) that treats anything else as a
    broken connection."""

    def __init__(
        self,
        host: str,
        port: int,
        context: ssl.SSLContext | None,
        timeouts: tuple[float, float],
        proxy: _Proxy | None = None,
    ) -> None:
        connect_timeout, read_timeout = timeouts
        sock = socket.create_connection(proxy.address if proxy else (host, port), timeout=connect_timeout)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if proxy is not None:
                proxy.tunnel(sock, host, port)
            if context is not None:
                sock = context.wrap_socket(sock, server_hostname=host)
            sock.settimeout(read_timeout)
        except BaseException:
            sock.close()
            raise
        self._sock = sock
        self._buffer = bytearray()
        self._timeout = read_timeout
        self._deadline = 0.0
        self.idle_since = 0.0

    def send(self, request: bytes, deadline: float) -> None:
        """Send one whole request, by ``deadline`` (monotonic)."""
        self._sock.settimeout(max(0.001, min(self._timeout, deadline - time.monotonic())))
        self._sock.sendall(request)

    def receive(self, deadline: float) -> _Response:
        """Read the whole response to the request sent (interim 1xx responses are skipped), all of it by
        ``deadline`` (monotonic): a server that trickles bytes cannot hold the caller past it."""
        self._deadline = deadline
        while True:
            response = self._read_response()
            if response.status >= 200:
                return response

    def fileno(self) -> int:
        return self._sock.fileno()

    def dropped(self) -> bool:
        """True when an idle connection has become readable: the server closed it (or sent something unasked)."""
        poller = select.poll()  # not select.select: it cannot take a descriptor above 1023
        poller.register(self._sock, select.POLLIN)
        return bool(poller.poll(0))

    def close(self) -> None:
        self._sock.close()

    def _read_response(self) -> _Response:
        buffer = self._buffer
        end = buffer.find(b"\r\n\r\n")
        while end < 0:
            if len(buffer) > _MAX_HEAD_BYTES:
                raise ConnectionError("response head is too large")
            self._receive("before the response head ended")
            end = buffer.find(b"\r\n\r\n")
        lines = bytes(buffer[:end]).decode("latin-1").split("\r\n")
        del buffer[: end + 4]
        version, _, rest = lines[0].partition(" ")
        code = rest[:3]
        if version not in ("HTTP/1.1", "HTTP/1.0") or not (code.isascii() and code.isdigit() and len(code) == 3):
            raise ConnectionError(f"not an HTTP response: {lines[0][:80]!r}")
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, colon, value = line.partition(":")
            if not colon:
                raise ConnectionError(f"malformed response header: {line[:80]!r}")
            name = name.strip().lower()
            headers[name] = f"{headers[name]},{value.strip()}" if name in headers else value.strip()
        status = int(code)
        tokens = {token.strip().lower() for token in headers.get("connection", "").split(",")}
        keep_alive = "keep-alive" in tokens if version == "HTTP/1.0" else "close" not in tokens
        if 100 <= status < 200 or status in (204, 304):
            return _Response(status, headers, b"", keep_alive)
        if "chunked" in headers.get("transfer-encoding", "").lower():
            body = self._read_chunked()
        elif "content-length" in headers:
            length = headers["content-length"]
            if not (length.isascii() and length.isdigit()):
                raise ConnectionError(f"bad Content-Length {length[:40]!r}")
            body = self._read_exactly(int(length))
        else:
            while self._receive(None):
                pass
            body, keep_alive = bytes(buffer), False
            buffer.clear()
        return _Response(status, headers, body, keep_alive and not buffer)

    def _read_exactly(self, length: int) -> bytes:
        buffer = self._buffer
        while len(buffer) < length:
            self._receive("before the response body ended")
        body = bytes(buffer[:length])
        del buffer[:length]
        return body

    def _read_chunked(self) -> bytes:
        body = bytearray()
        while True:
            size_line = self._read_line()
            size = size_line.split(";", 1)[0].strip()
            if not size or not _HEX_DIGITS.issuperset(size):  # int(size, 16) also takes "-5", "0x1a", "1_0"
                raise ConnectionError(f"bad chunk size {size_line[:40]!r}")
            length = int(size, 16)
            if length == 0:
                while self._read_line():  # trailer fields, up to the empty line
                    pass
                return bytes(body)
            body += self._read_exactly(length)
            if self._read_line():
                raise ConnectionError("chunk not followed by CRLF")

    def _read_line(self) -> str:
        buffer = self._buffer
        end = buffer.find(b"\r\n")
        while end < 0:
            if len(buffer) > _MAX_HEAD_BYTES:
                raise ConnectionError("chunked framing line is too long")
            self._receive("inside a chunked response body")
            end = buffer.find(b"\r\n")
        line = bytes(buffer[:end]).decode("latin-1")
        del buffer[: end + 2]
        return line

    def _receive(self, where: str | None) -> bool:
        """Append what the socket has; at end of stream return False, or raise when ``where`` is given."""
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("timed out: the answer did not arrive within the read timeout")
        self._sock.settimeout(left)
        data = self._sock.recv(_RECEIVE_BYTES)
        if not data:
            if where is not None:
                raise ConnectionError(f"connection closed {where}")
            return False
        self._buffer += data
        return True


@dataclass(frozen=True, slots=True)
class _Proxy:
    """An ``http://`` proxy that tunnels to the endpoint with CONNECT."""

    address: tuple[str, int]
    headers: tuple[tuple[str, str], ...] = ()

    def tunnel(self, sock: socket.socket, host: str, port: int) -> None:
        """Ask for a tunnel to host:port on ``sock`` (connected to the proxy); raise OSError unless granted."""
        target = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        extra = "".join(f"{name}: {value}\r\n" for name, value in self.headers)
        sock.sendall(f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n{extra}\r\n".encode("latin-1"))
        head = bytearray()
        while b"\r\n\r\n" not in head:
            if len(head) > _MAX_HEAD_BYTES:
                raise ConnectionError("the proxy's answer to CONNECT is too large")
            data = sock.recv(_RECEIVE_BYTES)
            if not data:
                raise ConnectionError("the proxy closed the connection before answering CONNECT")
            head += data
        status_line = bytes(head).split(b"\r\n", 1)[0].decode("latin-1")
        parts = status_line.split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or parts[1] != "200":
            raise ConnectionError(f"the proxy refused the tunnel to {target}: {status_line[:120]!r}")
        if not head.endswith(b"\r\n\r\n"):
            raise ConnectionError("the proxy sent data ahead of the tunnel")


def _proxy_for(client: Any, endpoint_url: str) -> _Proxy | None:
    """The proxy botocore uses for ``client``'s endpoint (its own resolution: Config(proxies=...), else the
    environment with NO_PROXY), as a CONNECT proxy; None when there is none. Raises UnsupportedProxyError."""
    session = getattr(getattr(client, "_endpoint", None), "http_session", None)
    config = getattr(session, "_proxy_config", None)
    if not isinstance(config, ProxyConfiguration):
        meta_config = client.meta.config
        proxies = getattr(meta_config, "proxies", None) or get_environ_proxies(endpoint_url)
        config = ProxyConfiguration(proxies=proxies, proxies_settings=getattr(meta_config, "proxies_config", None))
    url = config.proxy_url_for(endpoint_url)
    if not url:
        return None
    parts = urlsplit(url)
    settings = config.settings or {}
    if urlsplit(endpoint_url).scheme != "https":
        raise UnsupportedProxyError("a plain-HTTP endpoint behind a proxy is sent by forwarding, not CONNECT")
    if parts.scheme != "http" or settings.get("proxy_use_forwarding_for_https"):
        raise UnsupportedProxyError(f"proxy {parts.scheme}://{parts.hostname} is not a plain CONNECT proxy")
    if not parts.hostname:
        raise UnsupportedProxyError("the proxy URL names no host")
    headers = config.proxy_headers_for(url)
    for name, value in headers.items():
        _check_header(name, value)
    return _Proxy((parts.hostname, parts.port or 80), tuple(headers.items()))


@dataclass(frozen=True, slots=True)
class _Response:
    status: int
    headers: dict[str, str]  # names lower-case; repeated fields joined with ","
    body: bytes
    keep_alive: bool


class DirectTransport:
    """Signs and sends BatchWriteItem requests for one process, over a pool of kept-alive connections.

    A connection is taken from the pool for one request and given back only if the exchange completed and the
    server keeps it open, so concurrent writer threads never share one and a broken one is never reused.
    """

    def __init__(
        self,
        *,
        endpoint_url: str,
        region: str,
        credentials: Any,
        user_agent: str,
        verify: bool | str = True,
        connect_timeout: float = 5,
        read_timeout: float = 30,
        proxy: _Proxy | None = None,
    ) -> None:
        parts = urlsplit(endpoint_url)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise ValueError(f"DynamoDB endpoint {endpoint_url!r} is not an http(s) URL")
        if credentials is None:
            raise NoCredentialsError()
        https = parts.scheme == "https"
        default_port = 443 if https else 80
        self._address = (parts.hostname, parts.port or default_port)
        host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
        self._host = host if parts.port in (None, default_port) else f"{host}:{parts.port}"
        self._path = parts.path or "/"
        self._url = f"{parts.scheme}://{self._host}{self._path}"
        self._region, self._credentials = region, credentials
        self._context = _tls_context(verify) if https else None
        self._timeouts = (connect_timeout, read_timeout)
        self._request_timeout = min(read_timeout, REQUEST_TIMEOUT_S)
        self._proxy = proxy
        _check_header("User-Agent", user_agent)
        self._head = (
            f"POST {self._path} HTTP/1.1\r\nHost: {self._host}\r\nUser-Agent: {user_agent}\r\n"
            f"Content-Type: {CONTENT_TYPE}\r\nX-Amz-Target: {TARGET}\r\nAccept-Encoding: identity\r\n"
        )
        self._signer: type[SigV4Auth] = _LeanSigV4Auth if _lean_signer_agrees(self._url, region) else SigV4Auth
        self._idle: list[_Connection] = []
        self._lock = threading.Lock()

    @classmethod
    def for_client(cls, client: Any) -> DirectTransport:
        """A transport that goes where ``client`` goes and signs as it does: its endpoint, region, CA bundle,
        timeouts, User-Agent, proxy (raises UnsupportedProxyError when the proxy is not one this transport can use),
        and its credentials object (frozen for every request, so a refresh is seen).

        The credentials come from the client, not from the default chain: a client made with explicit keys or an
        assumed role's session signs both paths with the same identity. botocore exposes a client's credentials
        only through ``_get_credentials()``, the accessor boto3's own CRT transfer uses for the same purpose.
        """
        meta, config = client.meta, client.meta.config
        # The CA bundle (or False) botocore resolved for this client from verify=, AWS_CA_BUNDLE, the config
        # file's ca_bundle or REQUESTS_CA_BUNDLE; True (its default bundle) when it is not exposed.
        verify = getattr(getattr(getattr(client, "_endpoint", None), "http_session", None), "_verify", True)
        creator = getattr(client, "_user_agent_creator", None)
        user_agent = creator.to_string() if creator is not None else f"Botocore/{botocore.__version__}"
        return cls(
            endpoint_url=meta.endpoint_url,
            region=meta.region_name,
            credentials=client._get_credentials(),
            user_agent=f"{user_agent} {USER_AGENT_SUFFIX}",
            verify=verify,
            connect_timeout=config.connect_timeout,
            read_timeout=config.read_timeout,
            proxy=_proxy_for(client, meta.endpoint_url),
        )

    def batch_write(self, table: str, requests: list[str]) -> list[str]:
        """One BatchWriteItem attempt; return the put requests DynamoDB left unprocessed (as JSON text).

        Raises RetryableWriteError when the attempt may be repeated, ClientError for any other error response,
        ItemTooLargeError for a body over DynamoDB's request limit.
        """
        return self.finish(self.begin(table, requests))

    def begin(self, table: str, requests: list[str], deadline: float | None = None) -> Exchange:
        """Send one BatchWriteItem attempt and return at once; :meth:`finish` reads its answer, awaited until
        ``deadline`` (monotonic) at the latest, and never for longer than the request timeout.

        Raises RetryableWriteError when no connection could be made or the request could not be sent,
        ItemTooLargeError for a body over DynamoDB's request limit.
        """
        body = f'{{"RequestItems":{{{_escape(table)}:[{",".join(requests)}]}}}}'.encode("ascii")
        if len(body) > MAX_REQUEST_BYTES:
            raise ItemTooLargeError(
                f"a BatchWriteItem request of {len(requests)} items is {len(body)} bytes; the limit is "
                f"{MAX_REQUEST_BYTES}"
            )
        request = self.signed(body)
        now = time.monotonic()
        due = now + self._request_timeout if deadline is None else min(now + self._request_timeout, deadline)
        connection = self._checkout(due)
        try:
            connection.send(request, due)
        except OSError as exc:  # reset or closed before the request was out
            connection.close()
            raise RetryableWriteError(f"connection failed: {exc!r}") from exc
        return Exchange(connection, table, due)

    def finish(self, exchange: Exchange) -> list[str]:
        """Read the answer to :meth:`begin`'s request (blocking until it is whole); return the put requests left
        unprocessed. Raises as :meth:`batch_write` does."""
        connection, table = exchange.connection, exchange.table
        try:
            response = connection.receive(exchange.deadline)
        except OSError as exc:  # reset, closed before or during the response, timed out, unreadable response
            connection.close()
            raise RetryableWriteError(f"connection failed: {exc!r}") from exc
        status, data = response.status, response.body
        checksum = response.headers.get("x-amz-crc32")
        if checksum is not None and str(zlib.crc32(data)) != checksum:
            connection.close()  # the framing may be corrupt too: what follows could be read as another answer
            raise RetryableWriteError(f"response CRC32 mismatch (HTTP {status})")
        self._checkin(connection, response.keep_alive)
        if status != 200:
            error = _error(status, response.headers, data)
            code = error["Error"]["Code"]
            if code in RETRYABLE_ERROR_CODES or status >= 500:
                raise RetryableWriteError(code)
            raise ClientError(error, "BatchWriteItem")  # type: ignore[arg-type]
        # DynamoDB always answers with UnprocessedItems ({} when everything was written): an answer without it
        # proves nothing was written.
        try:
            unprocessed = json.loads(data)["UnprocessedItems"]
            left = unprocessed.get(table, [])
        except (ValueError, KeyError, TypeError, AttributeError):
            left = None
        if not isinstance(left, list) or not all(isinstance(request, dict) for request in left):
            raise RetryableWriteError("HTTP 200 with a body that is not a BatchWriteItem result")
        return [json.dumps(request, separators=(",", ":")) for request in left]

    def signed(self, body: bytes) -> bytes:
        """The whole HTTP request: head and body, signed with credentials frozen now (a refresh never mixes two
        sets of keys)."""
        frozen = self._credentials.get_frozen_credentials()
        request = _SigningRequest(self._url, body, self._host)
        self._signer(frozen, "dynamodb", self._region).add_auth(request)  # type: ignore[arg-type]
        headers = request.headers
        token = headers.get("X-Amz-Security-Token")
        if token is not None:
            _check_header("X-Amz-Security-Token", token)
            token_line = f"X-Amz-Security-Token: {token}\r\n"
        else:
            token_line = ""
        head = (
            f"{self._head}X-Amz-Date: {headers['X-Amz-Date']}\r\n{token_line}"
            f"Authorization: {headers['Authorization']}\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        return head.encode("latin-1") + body

    def close(self) -> None:
        """Close the idle connections (a connection in use is closed when its exchange fails or ends the stream)."""
        with self._lock:
            idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()

    def _checkout(self, due: float) -> _Connection:
        """An idle kept-alive connection that is still open, or a new one (connected by ``due``)."""
        with self._lock:
            connection = self._idle.pop() if self._idle else None
        if connection is not None and connection.idle_since < time.monotonic() - _IDLE_CHECK_S and connection.dropped():
            connection.close()  # closed while idle (e.g. while Lambda was frozen)
            connection = None
        try:
            connect = max(0.001, min(self._timeouts[0], due - time.monotonic()))
            return connection or _Connection(*self._address, self._context, (connect, self._timeouts[1]), self._proxy)
        except OSError as exc:  # refused, unreachable, timed out, TLS handshake failed
            if isinstance(exc, ssl.SSLCertVerificationError):
                raise  # a configuration problem: repeating cannot help
            raise RetryableWriteError(f"connection failed: {exc!r}") from exc

    def _checkin(self, connection: _Connection, keep_alive: bool) -> None:
        if keep_alive:
            connection.idle_since = time.monotonic()
            with self._lock:
                self._idle.append(connection)
        else:
            connection.close()


@dataclass(slots=True, eq=False)
class Exchange:
    """One BatchWriteItem request sent on ``connection`` whose answer is not read yet. ``poll`` takes it;
    ``deadline`` (monotonic) is when the answer is overdue (the read timeout)."""

    connection: _Connection
    table: str
    deadline: float

    def fileno(self) -> int:
        return self.connection.fileno()

    def abandon(self) -> None:
        """Close the connection: the answer is no longer wanted (it can never be taken for another request's)."""
        self.connection.close()


class _SigningRequest:
    """The parts of a request SigV4Auth reads and writes, with a plain dict for headers.

    botocore's AWSRequest keeps headers in an ``email.message.Message``, whose header handling is most of the cost
    of signing a request; the signer only needs the mapping operations a dict has.
    """

    __slots__ = ("body", "context", "headers", "method", "params", "url")

    def __init__(self, url: str, body: bytes, host: str) -> None:
        self.method, self.url, self.body = "POST", url, body
        self.headers: dict[str, str] = {"Host": host, "Content-Type": CONTENT_TYPE, "X-Amz-Target": TARGET}
        self.params: dict[str, str] = {}
        self.context: dict[str, Any] = {}


class _HeadersToSign(dict):  # type: ignore[type-arg]
    """Lower-case header names to values, with the one message method the signer calls."""

    def get_all(self, name: str) -> list[str]:
        return [self[name]]


class _LeanSigV4Auth(SigV4Auth):
    """botocore's SigV4 signer (canonical request, string to sign, HMAC chain all its own) over a dict of headers
    instead of an ``email.message.Message``. Used only if it signs a probe request exactly as SigV4Auth does."""

    def headers_to_sign(self, request: Any) -> Any:
        return _HeadersToSign(
            (name.lower(), value)
            for name, value in request.headers.items()
            if name.lower() not in SIGNED_HEADERS_BLACKLIST
        )


def _lean_signer_agrees(url: str, region: str) -> bool:
    """True when the lean signer's Authorization equals SigV4Auth's over an AWSRequest for the same request."""
    credentials = Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "session-token-example")
    body = b'{"RequestItems":{"probe":[]}}'
    host = urlsplit(url).netloc
    for _attempt in range(3):  # the two signatures must fall in the same second
        lean = _SigningRequest(url, body, host)
        _LeanSigV4Auth(credentials, "dynamodb", region).add_auth(lean)  # type: ignore[arg-type]
        plain = AWSRequest(method="POST", url=url, data=body, headers=_SigningRequest(url, body, host).headers)
        SigV4Auth(credentials, "dynamodb", region).add_auth(plain)
        if lean.headers["X-Amz-Date"] == plain.headers["X-Amz-Date"]:
            return bool(lean.headers["Authorization"] == plain.headers["Authorization"])
    return False


def _tls_context(verify: bool | str) -> ssl.SSLContext:
    """TLS as botocore sets it up, with the same CA bundle, checking the certificate's host name."""
    if verify is False:
        return create_urllib3_context(cert_reqs=ssl.CERT_NONE)
    context = create_urllib3_context()
    context.check_hostname = True
    path = get_cert_path(verify)
    if os.path.isdir(path):
        context.load_verify_locations(capath=path)
    else:
        context.load_verify_locations(cafile=path)
    return context


def _check_header(name: str, value: str) -> None:
    if "\r" in value or "\n" in value:
        raise ValueError(f"{name} header value contains a line break")


def _error(status: int, headers: dict[str, str], data: bytes) -> dict[str, Any]:
    """An error response as botocore's JSON protocol parser reads it: code from ``__type``, else the status."""
    try:
        body = json.loads(data) if data else {}
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    code = str(body.get("__type") or status).split(":", 1)[0].rsplit("#", 1)[-1]
    metadata: dict[str, Any] = {"HTTPStatusCode": status}
    request_id = headers.get("x-amzn-requestid")
    if request_id:
        metadata["RequestId"] = request_id
    message = str(body.get("message", body.get("Message", "")))
    return {"Error": {"Code": code, "Message": message}, "ResponseMetadata": metadata}
