"""The seekable gzip reader gives what the standard library gives, and can be entered again at its seek points.

Every case is checked against :class:`gzip.GzipFile` on the same bytes: the content, and for a bad file the same
exception with the same message (the shipper reads that message in the metadata item).
"""

from __future__ import annotations

import ctypes
import functools
import gc
import gzip
import io
import random
import struct
import zlib

import pytest
from shipment_processor import seekable_gzip
from shipment_processor.seekable_gzip import SPAN, WINDOW_BYTES, SeekableGunzip, SeekPoint

from .support import as_csv, records

TEXT = as_csv(records(12_000))  # about 850 KB: several deflate blocks


def standard(data: bytes) -> tuple[bytes, tuple[str, str] | None]:
    """Content and error through gzip.GzipFile, read one byte at a time at the end so no data is lost."""
    reader = gzip.GzipFile(fileobj=io.BytesIO(data))
    out = bytearray()
    try:
        while piece := reader.read1(4096):
            out += piece
    except Exception as exc:
        return bytes(out), (type(exc).__name__, str(exc))
    return bytes(out), None


def seekable(
    data: bytes, at: SeekPoint | None = None, keep_back: int = 1 << 40
) -> tuple[bytes, tuple[str, str] | None, SeekableGunzip]:
    reader = SeekableGunzip(io.BytesIO(data[at.cin :] if at else data).read, keep_back=keep_back, at=at)
    out = bytearray()
    try:
        while piece := reader.read(4096):
            out += piece
    except Exception as exc:
        return bytes(out), (type(exc).__name__, str(exc)), reader
    return bytes(out), None, reader


def flushed(data: bytes, every: int, mode: int) -> bytes:
    """A gzip of ``data`` with a deflate block ending every ``every`` bytes (as streaming loggers write)."""
    packer = zlib.compressobj(6, zlib.DEFLATED, 31)
    parts = [packer.compress(data[i : i + every]) + packer.flush(mode) for i in range(0, len(data), every)]
    return b"".join(parts) + packer.flush()


def with_header(flags: int, extra: bytes = b"") -> bytes:
    header = b"\x1f\x8b\x08" + bytes([flags]) + b"\0\0\0\0\0\xff" + extra
    body = zlib.compressobj(6, zlib.DEFLATED, -15)
    deflated = body.compress(TEXT[:5000]) + body.flush()
    return header + deflated + struct.pack("<II", zlib.crc32(TEXT[:5000]), 5000)


def corrupted(data: bytes, at: int) -> bytes:
    damaged = bytearray(data)
    damaged[at] ^= 0xFF
    return bytes(damaged)


PACKED = gzip.compress(TEXT, mtime=0)
CASES = {
    "one member": PACKED,
    "two members": gzip.compress(TEXT[:100_000]) + gzip.compress(TEXT[100_000:]),
    "an empty member between two": gzip.compress(TEXT[:9]) + gzip.compress(b"") + gzip.compress(TEXT[9:]),
    "empty content": gzip.compress(b""),
    "zero padding after the last member": PACKED + b"\0" * 300,
    "trailing garbage": PACKED + b"garbage",
    "one stray byte after the member": PACKED + b"\x1f",
    "truncated in the deflate data": PACKED[: len(PACKED) // 2],
    "truncated in the trailer": PACKED[:-3],
    "truncated in the next member's header": PACKED + b"\x1f\x8b\x08\x00",
    "wrong CRC": corrupted(PACKED, len(PACKED) - 8),
    "wrong length": corrupted(PACKED, len(PACKED) - 2),
    "corrupt deflate data": PACKED[:10] + b"\xff" * 40,
    "unknown compression method": PACKED + b"\x1f\x8b\x07" + PACKED[3:],
    "name, comment, extra field and header CRC": with_header(
        2 | 4 | 8 | 16, struct.pack("<H", 3) + b"abc" + b"name.csv\0" + b"a comment\0" + b"\x12\x34"
    ),
    "a name that never ends": b"\x1f\x8b\x08\x08\0\0\0\0\0\xffname-without-end",
    "sync-flushed every line": flushed(TEXT, 61, zlib.Z_SYNC_FLUSH),
    "blocks that end mid-byte": flushed(TEXT, 4999, zlib.Z_BLOCK),
    "incompressible": gzip.compress(random.Random(7).randbytes(200_000)),
}


@pytest.mark.parametrize("data", CASES.values(), ids=CASES.keys())
def test_content_and_errors_are_those_of_the_standard_library(data: bytes) -> None:
    content, error, _ = seekable(data)
    assert (content, error) == standard(data)


@pytest.mark.parametrize("data", CASES.values(), ids=CASES.keys())
def test_from_every_seek_point_the_rest_of_the_content_is_read_exactly(data: bytes) -> None:
    content, error, reader = seekable(data)
    points = reader._points  # with keep_back unbounded, every point the stream offered
    for point in points:
        again = SeekPoint.decode(point.encode())
        assert again == point
        rest, rest_error, _ = seekable(data, again)
        assert (rest, rest_error) == (content[point.uout :], error), f"from {point.cin}/{point.uout}"


def test_points_are_block_boundaries_inside_members_and_member_starts() -> None:
    data = CASES["two members"]
    _, _, reader = seekable(data)
    members = [p for p in reader._points if not p.in_member]
    inside = [p for p in reader._points if p.in_member]
    assert [(p.cin, p.uout) for p in members] == [(0, 0), (data.index(b"\x1f\x8b", 10), 100_000)]
    assert inside and all(p.window and len(p.window) <= WINDOW_BYTES for p in inside)
    assert all(b.uout - a.uout >= SPAN for a, b in zip(reader._points, reader._points[1:], strict=False))


def test_a_boundary_in_the_middle_of_a_byte_keeps_its_bits() -> None:
    _, _, reader = seekable(CASES["blocks that end mid-byte"])
    assert any(p.bits for p in reader._points), "Z_BLOCK flushes leave blocks that end mid-byte"


def test_a_member_resumed_in_its_middle_still_has_its_crc_checked() -> None:
    data = CASES["wrong CRC"]
    _, _, reader = seekable(data)
    point = next(p for p in reader._points if p.in_member)
    rest, error, _ = seekable(data, point)
    assert rest == TEXT[point.uout :]
    assert error is not None and error[1].startswith("CRC check failed")


def test_only_points_within_keep_back_of_the_output_are_kept() -> None:
    data = flushed(TEXT, 1000, zlib.Z_SYNC_FLUSH)
    _, _, reader = seekable(data, keep_back=3 * SPAN)
    kept = reader._points
    assert 2 <= len(kept) <= 5
    assert reader.seek_point(kept[0].uout - 1) is None, "a point no longer kept is not invented"
    assert reader.seek_point(len(TEXT)) == kept[-1]
    assert reader.seek_point(kept[1].uout + 10) == kept[1]


def test_an_encoded_point_stays_small_even_when_its_window_does_not_compress() -> None:
    _, _, reader = seekable(CASES["incompressible"])
    sizes = [len(p.encode()) for p in reader._points]
    assert max(sizes) <= 45_000
    assert all(text.isascii() for text in (p.encode() for p in reader._points))


@pytest.mark.parametrize(
    "text",
    [
        "",
        "not base64!",
        "AAAA",
        SeekPoint(1, 2).encode()[:-8] + "AAAAAAAA",
        SeekPoint(1, 2, window=b"w" * 40_000).encode(),
    ],
)
def test_text_that_is_not_an_encoded_point_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="not a seek point"):
        SeekPoint.decode(text)


def test_a_point_of_another_format_is_refused() -> None:
    other = seekable_gzip._HEAD.pack(9, 0, 0, 0, 0, 0, 0, 0) + zlib.compress(b"")
    import base64  # noqa: PLC0415

    with pytest.raises(ValueError, match="not a seek point of this format"):
        SeekPoint.decode(base64.b64encode(other).decode())


def test_without_any_zlib_nothing_seeks(monkeypatch: pytest.MonkeyPatch) -> None:
    tried: list[str] = []

    def no_library(name: str, *_: object, **__: object) -> None:
        tried.append(name)
        raise OSError(f"{name}: cannot open shared object file")

    monkeypatch.setattr(ctypes, "CDLL", no_library)
    assert seekable_gzip._loaded.__wrapped__() is None
    assert tried[:2] == ["libz.so.1", zlib.__file__], "libz.so.1 first, then the interpreter's own zlib module"
    assert len(tried) == 3, "then the platform's name for the library"
    monkeypatch.setattr(seekable_gzip, "_loaded", lambda: None)
    assert not seekable_gzip.available()
    assert seekable_gzip.library() is None
    with pytest.raises(RuntimeError, match="libz is not available"):
        SeekableGunzip(io.BytesIO(PACKED).read, keep_back=0)


def test_without_libz_so_1_the_zlib_the_interpreter_was_linked_with_serves(monkeypatch: pytest.MonkeyPatch) -> None:
    """A runtime that keeps zlib under another name, or only inside Python's zlib module, still seeks."""
    real = ctypes.CDLL

    def only_through_the_module(name: str, *args: object, **kwargs: object) -> ctypes.CDLL:
        if name != zlib.__file__:
            raise OSError(f"{name}: cannot open shared object file")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(ctypes, "CDLL", only_through_the_module)
    monkeypatch.setattr(seekable_gzip, "_loaded", functools.cache(seekable_gzip._loaded.__wrapped__))
    assert seekable_gzip.library() == f"zlib {zlib.ZLIB_RUNTIME_VERSION} ({zlib.__file__})"
    assert seekable(PACKED)[:2] == (TEXT, None)


def test_an_interpreter_with_zlib_built_in_skips_straight_to_the_platforms_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A zlib module compiled into the interpreter has no file of its own to open."""
    monkeypatch.delattr(zlib, "__file__")
    monkeypatch.setattr(ctypes.util, "find_library", lambda name: f"lib{name}.so.1")

    assert list(seekable_gzip._candidates()) == ["libz.so.1", "libz.so.1"]


def test_a_library_without_the_calls_is_passed_over(monkeypatch: pytest.MonkeyPatch) -> None:
    """An old or stripped zlib without inflateGetDictionary is not used; the next candidate is."""
    real = ctypes.CDLL

    class Stripped:
        def __getattr__(self, name: str) -> object:
            raise AttributeError(name)

    monkeypatch.setattr(
        ctypes, "CDLL", lambda name, *a, **k: Stripped() if name == "libz.so.1" else real(name, *a, **k)
    )
    loaded = seekable_gzip._loaded.__wrapped__()
    assert loaded is not None and loaded[1] == zlib.__file__


class Wrapped:
    """A loaded zlib with some calls replaced."""

    def __init__(self, lib: ctypes.CDLL, **calls: object) -> None:
        self._lib, self._calls = lib, calls

    def __getattr__(self, name: str) -> object:
        return self._calls.get(name) or getattr(self._lib, name)


def loading(monkeypatch: pytest.MonkeyPatch, **calls: object) -> None:
    """libz.so.1 loads with ``calls`` replaced; the other candidates load as they are."""
    real = ctypes.CDLL
    monkeypatch.setattr(
        ctypes,
        "CDLL",
        lambda name, *a, **k: Wrapped(real(name, *a, **k), **calls) if name == "libz.so.1" else real(name, *a, **k),
    )
    monkeypatch.setattr(seekable_gzip, "_loaded", functools.cache(seekable_gzip._loaded.__wrapped__))


def test_a_zlib_that_exports_the_calls_but_cannot_inflate_is_not_used(monkeypatch: pytest.MonkeyPatch) -> None:
    """Z_VERSION_ERROR (another z_stream layout): every valid gzip would fail as bad data; the next zlib serves."""
    loading(monkeypatch, inflateInit2_=lambda *_: -6)

    assert seekable_gzip.library() == f"zlib {zlib.ZLIB_RUNTIME_VERSION} ({zlib.__file__})"
    assert seekable(PACKED)[:2] == (TEXT, None)


def test_a_zlib_that_cannot_enter_a_member_in_the_middle_is_not_used(monkeypatch: pytest.MonkeyPatch) -> None:
    """A library that inflates from the start but primes the wrong bits would corrupt every continuation."""
    real = ctypes.CDLL("libz.so.1")
    loading(monkeypatch, inflatePrime=lambda stream, bits, value: real.inflatePrime(stream, bits, value ^ 1))

    assert seekable_gzip.library() == f"zlib {zlib.ZLIB_RUNTIME_VERSION} ({zlib.__file__})"


def test_a_zlib_that_inflates_to_the_wrong_bytes_fails_the_round_trip(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(SeekableGunzip, "read", lambda self, size: b"")  # e.g. a stream that ends at once
    lib = ctypes.CDLL("libz.so.1")
    lib.zlibVersion.restype = ctypes.c_char_p

    assert not seekable_gzip._round_trip(lib)


def test_when_the_round_trip_has_no_point_to_enter_a_whole_inflate_suffices(monkeypatch: pytest.MonkeyPatch) -> None:
    """A compressor that wrote one block leaves no point inside the member: the library is judged by inflating."""
    monkeypatch.setattr(SeekableGunzip, "seek_point", lambda self, offset: None)

    lib = ctypes.CDLL("libz.so.1")
    lib.zlibVersion.restype = ctypes.c_char_p
    assert seekable_gzip._round_trip(lib)


def test_the_system_libz_is_found_here() -> None:
    assert seekable_gzip.available(), "every Lambda runtime ships libz.so.1; so must the test machine"
    assert seekable_gzip.library() == f"zlib {zlib.ZLIB_RUNTIME_VERSION} (libz.so.1)"


def test_a_point_where_a_members_deflate_data_starts_needs_no_window() -> None:
    start = SeekPoint(cin=10, uout=0, in_member=True)  # gzip.compress writes a 10-byte header
    assert seekable(PACKED, start)[:2] == (TEXT, None)


def test_a_reader_dropped_part_way_frees_zlibs_state() -> None:
    reader = SeekableGunzip(io.BytesIO(PACKED).read, keep_back=0)
    assert reader.read(4096)
    release = reader._end
    assert release.alive, "the stream is open while the member is read"
    del reader
    gc.collect()
    assert not release.alive, "inflateEnd ran when the reader was dropped (an invocation that stopped part-way)"
