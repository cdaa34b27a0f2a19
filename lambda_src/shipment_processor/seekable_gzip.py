"""Gzip decompression that a later invocation can enter again in the middle, instead of from byte 0.

A deflate stream cannot be entered at an arbitrary byte, but it can at a *block boundary*, given the bit
position there and the last 32 KiB of output (the window back-references may reach into). This is zlib's own
``zran`` technique. Python's ``zlib`` module does not expose what it needs (``Z_BLOCK``, ``inflatePrime``,
``inflateGetDictionary``), so the zlib the interpreter itself uses is driven through ``ctypes``: ``libz.so.1``, or
the library the interpreter's ``zlib`` module was linked with, so there is no native wheel to package. Which one
loaded (or that none did) is what :func:`library` says; the function answers it to ``shipment-ops smoke``.

While a file streams, :class:`SeekableGunzip` notes a :class:`SeekPoint` at member starts and at block
boundaries (at most one per :data:`SPAN` of output) and keeps the recent ones. When an invocation stops,
:meth:`SeekableGunzip.seek_point` gives the last one at or before the record boundary; the next invocation opens
the object at the point's compressed offset, primes the inflater with the point's bits and window, and skips the
few decompressed bytes up to the record. Across a chain the content is decompressed about once.

Errors are those :class:`gzip.GzipFile` raises for the same bytes (``EOFError`` for a truncated file,
``gzip.BadGzipFile`` or ``zlib.error`` for bad data), with the same messages: members, zero padding and trailing
garbage behave exactly as they do through the standard library. When libz cannot be loaded, :func:`available`
is False and the caller keeps the standard library's path.
"""

from __future__ import annotations

import base64
import ctypes
import ctypes.util
import gzip
import io
import struct
import weakref
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache

WINDOW_BYTES = 32 * 1024  # deflate's largest back-reference distance
SPAN = 64 * 1024  # at most one seek point per this much output: bounds the windows copied and kept
READ_BYTES = 16 * 1024  # compressed bytes per read: what a stop leaves read but unused is at most this
OUT_BYTES = 64 * 1024  # content bytes per read at most

_Z_OK, _Z_STREAM_END, _Z_BUF_ERROR, _Z_NO_FLUSH, _Z_BLOCK = 0, 1, -5, 0, 5
_END_OF_BLOCK, _LAST_BLOCK = 128, 64
_FTEXT, _FHCRC, _FEXTRA, _FNAME, _FCOMMENT = 1, 2, 4, 8, 16
_TRUNCATED = "Compressed file ended before the end-of-stream marker was reached"  # gzip's own words
_FORMAT = 1  # version of the encoded seek point
_HEAD = struct.Struct("<BBQQBBIQ")  # format, in-member flag, cin, uout, bits, prime, crc, member_out


class _ZStream(ctypes.Structure):
    """zlib's ``z_stream`` (the layout is zlib's ABI, the same on every LP64 Linux)."""

    _fields_ = [
        ("next_in", ctypes.c_void_p),
        ("avail_in", ctypes.c_uint),
        ("total_in", ctypes.c_ulong),
        ("next_out", ctypes.c_void_p),
        ("avail_out", ctypes.c_uint),
        ("total_out", ctypes.c_ulong),
        ("msg", ctypes.c_char_p),
        ("state", ctypes.c_void_p),
        ("zalloc", ctypes.c_void_p),
        ("zfree", ctypes.c_void_p),
        ("opaque", ctypes.c_void_p),
        ("data_type", ctypes.c_int),
        ("adler", ctypes.c_ulong),
        ("reserved", ctypes.c_ulong),
    ]


_CALLS = ("inflateInit2_", "inflate", "inflateEnd", "inflatePrime", "inflateSetDictionary", "inflateGetDictionary",
          "zlibVersion")  # fmt: skip


@cache
def _loaded() -> tuple[ctypes.CDLL, str] | None:
    """A zlib with the calls this module needs and where it came from, or None when there is none (nothing seeks)."""
    for where in _candidates():
        try:
            lib = ctypes.CDLL(where)
            for name in _CALLS:
                getattr(lib, name)
        except (OSError, AttributeError):
            continue
        lib.zlibVersion.restype = ctypes.c_char_p
        if _round_trip(lib):
            return lib, where
    return None


def _round_trip(lib: ctypes.CDLL) -> bool:
    """Whether ``lib`` really inflates a gzip and enters it again in the middle of a member (a boundary's bits and
    window); a library that only exports the calls would otherwise fail every valid gzip as bad data. About 5 ms
    of CPU, once per process, on its first gzip."""
    text = b"".join(b"%06d,%08x\n" % (n, n * 2_654_435_761 % 2**32) for n in range(8_000))  # 128 KB, some blocks
    packed = zlib.compress(text, 1, wbits=31)
    try:
        reader = SeekableGunzip(io.BytesIO(packed).read, keep_back=len(text), lib=lib)
        if b"".join(iter(lambda: reader.read(OUT_BYTES), b"")) != text:
            return False
        point = reader.seek_point(len(text) - 1)
        if (
            point is None or not point.in_member
        ):  # pragma: no cover - a compressor that wrote one block: nothing to enter
            return True
        again = SeekableGunzip(io.BytesIO(packed[point.cin :]).read, keep_back=0, at=point, lib=lib)
        return b"".join(iter(lambda: again.read(OUT_BYTES), b"")) == text[point.uout :]
    except (zlib.error, EOFError, OSError, ValueError):
        return False


def _candidates() -> Iterator[str]:
    """Where to look for zlib, cheapest first.

    ``libz.so.1`` is a plain dlopen (no ldconfig subprocess at a cold start). The interpreter's own ``zlib``
    extension comes next: opening it again is free, and a symbol lookup through it also searches the libraries it
    was linked with, so it finds the interpreter's zlib under another soname, or linked in statically with its
    symbols exported. Last, the platform's name for the library (macOS: ``libz.dylib``).
    """
    yield "libz.so.1"
    module_file = getattr(zlib, "__file__", None)  # absent when zlib is built into the interpreter
    if module_file:
        yield module_file
    yield ctypes.util.find_library("z") or "libz"  # runs ldconfig on Linux: only when the two above failed


def _libz() -> ctypes.CDLL | None:
    loaded = _loaded()
    return loaded[0] if loaded else None


def available() -> bool:
    """Whether gzip content can be entered in the middle here (a zlib with the calls it needs loads)."""
    return _loaded() is not None


def library() -> str | None:
    """The zlib that gzip seek points use, as "zlib 1.3.1 (libz.so.1)", or None when none loads."""
    loaded = _loaded()
    if loaded is None:
        return None
    lib, where = loaded
    return f"zlib {lib.zlibVersion().decode()} ({where})"


@dataclass(frozen=True, slots=True)
class SeekPoint:
    """A place where decompression can start again: at a member's header, or at a block boundary inside one.

    ``cin`` is the compressed offset to read from (the gzip header, or the first whole byte after the boundary),
    ``uout`` the content offset it produces first; ``bits``/``prime`` are the boundary's leftover bits of the
    byte before ``cin``; ``crc``/``member_out`` let the member's trailer still be checked.
    """

    cin: int
    uout: int
    in_member: bool = False
    bits: int = 0
    prime: int = 0
    crc: int = 0
    member_out: int = 0
    window: bytes = b""

    def encode(self) -> str:
        """The point as ASCII text for a checkpoint: at most about 44 KB (a window that does not compress)."""
        head = _HEAD.pack(_FORMAT, self.in_member, self.cin, self.uout, self.bits, self.prime, self.crc,
                          self.member_out)  # fmt: skip
        return base64.b64encode(head + zlib.compress(self.window, 1)).decode("ascii")

    @classmethod
    def decode(cls, text: str) -> SeekPoint:
        """The point :meth:`encode` wrote; ValueError for anything else."""
        try:
            data = base64.b64decode(text.encode("ascii"), validate=True)
            fmt, in_member, cin, uout, bits, prime, crc, member_out = _HEAD.unpack_from(data)
            window = zlib.decompressobj().decompress(data[_HEAD.size :], WINDOW_BYTES + 1)
        except (UnicodeError, ValueError, struct.error, zlib.error) as exc:
            raise ValueError(f"not a seek point: {exc}") from exc
        if fmt != _FORMAT or bits > 7 or len(window) > WINDOW_BYTES:
            raise ValueError("not a seek point of this format")
        return cls(cin, uout, bool(in_member), bits, prime, crc, member_out, window)


class SeekableGunzip:
    """Decompressed content of a gzip object read with ``read(n)``, from its start or from a :class:`SeekPoint`.

    ``keep_back`` is how far behind the output the caller's record boundary can lag (its read-ahead); points
    that far back stay available to :meth:`seek_point`.
    """

    def __init__(
        self,
        read: Callable[[int], bytes],
        *,
        keep_back: int,
        at: SeekPoint | None = None,
        lib: ctypes.CDLL | None = None,
    ) -> None:
        lib = lib or _libz()
        if lib is None:
            raise RuntimeError("libz is not available; check available() first")
        self._lib, self._read, self._keep_back = lib, read, keep_back
        self._input = b""
        self._pos = 0  # next unread byte of _input
        self._base = at.cin if at else 0  # compressed offset of _input[0]
        self._last_byte = 0
        self._out = at.uout if at else 0
        self._points: list[SeekPoint] = []
        self._stream: _ZStream | None = None
        self._crc = self._member_out = 0
        self._ended = False  # a member's deflate data ended; its trailer is checked on the next read
        self._done = False
        self._buffer = ctypes.create_string_buffer(OUT_BYTES)
        if at is not None and at.in_member:
            self._start_stream(at)

    # --- reading -------------------------------------------------------------------------------------------

    def read(self, size: int) -> bytes:
        """Up to ``size`` bytes of content (fewer at a block or member end); b"" at the end of the content."""
        size = min(size if size > 0 else OUT_BYTES, OUT_BYTES)
        while not self._done:
            if self._ended:
                self._ended = False
                self._member_end()
            if self._stream is None:
                if not self._member_header():
                    self._done = True
                    break
                continue
            data = self._inflate(size)
            if data:
                return data
        return b""

    def seek_point(self, offset: int) -> SeekPoint | None:
        """The last point at or before content ``offset`` (None when it is no longer kept)."""
        best = None
        for point in self._points:
            if point.uout > offset:
                break
            best = point
        return best

    # --- the gzip framing, as gzip.GzipFile reads it ---------------------------------------------------------

    def _member_header(self) -> bool:
        start = self._base + self._pos
        magic = self._take_upto(2)
        if not magic:
            return False
        if magic != b"\x1f\x8b":
            raise gzip.BadGzipFile(f"Not a gzipped file ({magic!r})")
        method, flags = self._take(8)[:2]
        if method != 8:
            raise gzip.BadGzipFile("Unknown compression method")
        if flags & _FEXTRA:
            (extra,) = struct.unpack("<H", self._take(2))
            self._take(extra)
        for flag in (_FNAME, _FCOMMENT):
            if flags & flag:
                while (byte := self._take_upto(1)) and byte != b"\x00":
                    pass
        if flags & _FHCRC:
            self._take(2)
        self._add(SeekPoint(start, self._out))
        self._start_stream(None)
        return True

    def _member_end(self) -> None:
        crc, size = struct.unpack("<II", self._take(8))
        if crc != self._crc:
            raise gzip.BadGzipFile(f"CRC check failed {hex(crc)} != {hex(self._crc)}")
        if size != self._member_out & 0xFFFFFFFF:
            raise gzip.BadGzipFile("Incorrect length of data produced")
        while (byte := self._take_upto(1)) == b"\x00":
            pass
        self._pos -= len(byte)  # the byte after the zero padding starts the next member (or is garbage)

    # --- deflate ---------------------------------------------------------------------------------------------

    def _start_stream(self, at: SeekPoint | None) -> None:
        lib, stream = self._lib, _ZStream()
        version = lib.zlibVersion()
        _check(lib.inflateInit2_(ctypes.byref(stream), -15, version, ctypes.sizeof(stream)), stream)
        self._stream, self._crc, self._member_out = stream, 0, 0
        # zlib's state lives outside Python's heap: free it when the stream ends, or when an invocation that
        # stopped part-way drops the reader (a warm container would otherwise keep ~40 KB per stop).
        self._end = weakref.finalize(self, lib.inflateEnd, ctypes.byref(stream))
        if at is not None:
            if at.bits:
                _check(lib.inflatePrime(ctypes.byref(stream), at.bits, at.prime), stream)
            if at.window:
                _check(lib.inflateSetDictionary(ctypes.byref(stream), at.window, len(at.window)), stream)
            self._crc, self._member_out, self._last_byte = at.crc, at.member_out, at.prime
            self._add(at)

    def _inflate(self, size: int) -> bytes:
        stream, lib = self._stream, self._lib
        assert stream is not None
        if self._pos == len(self._input) and not self._fill():
            raise EOFError(_TRUNCATED)
        data, offered = self._input, len(self._input) - self._pos
        stream.next_in = ctypes.cast(ctypes.c_char_p(data), ctypes.c_void_p).value + self._pos  # type: ignore[operator]
        stream.avail_in = offered
        # Stopping at every block boundary costs a call per block (many, in a stream flushed after each line):
        # run freely up to where the next point is due, and only from there on stop at boundaries.
        due_in = self._points[-1].uout + SPAN - self._out if self._points else 0
        if due_in > 0:
            size = min(size, due_in)
        stream.next_out = ctypes.addressof(self._buffer)
        stream.avail_out = size
        code = lib.inflate(ctypes.byref(stream), _Z_NO_FLUSH if due_in > 0 else _Z_BLOCK)
        if code not in (_Z_OK, _Z_STREAM_END, _Z_BUF_ERROR):
            message = stream.msg.decode("utf-8", "replace") if stream.msg else "invalid input data"
            self._release()
            self._done = True
            raise zlib.error(f"Error {code} while decompressing data: {message}")
        used, produced = offered - stream.avail_in, size - stream.avail_out
        if used:
            self._pos += used
            self._last_byte = data[self._pos - 1]
        out = ctypes.string_at(self._buffer, produced) if produced else b""
        if produced:
            self._crc = zlib.crc32(out, self._crc)
            self._member_out += produced
            self._out += produced
        if code == _Z_STREAM_END:
            self._release()
            self._ended = True
        elif due_in <= produced and stream.data_type & (_END_OF_BLOCK | _LAST_BLOCK) == _END_OF_BLOCK:
            self._boundary(stream)
        return out

    def _release(self) -> None:
        self._end()
        self._stream = None

    def _boundary(self, stream: _ZStream) -> None:
        bits = stream.data_type & 7
        window = ctypes.create_string_buffer(WINDOW_BYTES)
        length = ctypes.c_uint(0)
        _check(self._lib.inflateGetDictionary(ctypes.byref(stream), window, ctypes.byref(length)), stream)
        prime = self._last_byte >> (8 - bits) if bits else 0
        point = SeekPoint(self._base + self._pos, self._out, True, bits, prime, self._crc, self._member_out,
                          window.raw[: length.value])  # fmt: skip
        self._add(point)

    def _add(self, point: SeekPoint) -> None:
        points = self._points
        points.append(point)
        horizon = point.uout - self._keep_back
        while len(points) > 1 and points[1].uout <= horizon:
            del points[0]

    # --- compressed input ------------------------------------------------------------------------------------

    def _fill(self) -> bool:
        data = self._read(READ_BYTES)
        if not data:
            return False
        rest = self._input[self._pos :]
        self._base += self._pos
        self._input, self._pos = rest + data, 0
        return True

    def _take_upto(self, size: int) -> bytes:
        while len(self._input) - self._pos < size and self._fill():
            pass
        piece = self._input[self._pos : self._pos + size]
        self._pos += len(piece)
        return piece

    def _take(self, size: int) -> bytes:
        piece = self._take_upto(size)
        if len(piece) < size:
            raise EOFError(_TRUNCATED)
        return piece


def _check(code: int, stream: _ZStream) -> None:
    if code != _Z_OK:  # pragma: no cover - only a broken libz fails these set-up calls
        raise zlib.error(f"Error {code} while setting up decompression: {stream.msg!r}")
