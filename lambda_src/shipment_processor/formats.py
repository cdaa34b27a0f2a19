"""Format detection and streaming parsers over a binary body (anything with ``read(n)``).

The body is read in :data:`CHUNK_SIZE` pieces and never as a whole: memory stays bounded by the chunk size and
``MAX_RECORD_BYTES`` whatever the file size. Layers, outermost first: byte counting against ``MAX_OBJECT_BYTES``
-> gzip (detected by its magic bytes, whatever the key says) -> byte counting against ``MAX_DECOMPRESSED_BYTES``
(gzip bombs) -> format sniffing on the first bytes -> one of four parsers, which yield :class:`RawRecord` values.

Two kinds of trouble are kept apart:

* a bad *record* (an NDJSON line that is not JSON, a CSV row with the wrong number of fields, an array item that
  is not an object, ...) is yielded as a ``RawRecord`` with a ``problem``; parsing carries on with the next one;
* a bad *file* (not UTF-8, not gzip, truncated, unparseable, over a limit) raises :class:`FileError`; records
  already yielded stay yielded.

Failures to read the body itself (network) are re-raised as :class:`StreamReadError`: they are not the file's
fault, and a retry may succeed.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import json
import re
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import NamedTuple, Protocol

from . import seekable_gzip
from .config import Limits
from .validation import JsonObject, NonFiniteNumber

CHUNK_SIZE = 64 * 1024
GZIP_MAGIC = b"\x1f\x8b"
UTF8_BOM = b"\xef\xbb\xbf"
RAW_PREVIEW_BYTES = 1024

CSV = "csv"
NDJSON = "ndjson"
JSON_ARRAY = "json_array"
JSON_OBJECT = "json_object"

_JSON_SUFFIXES = {".csv": CSV, ".jsonl": NDJSON, ".ndjson": NDJSON, ".json": "json"}
_GZIP_SUFFIXES = (".gz", ".gzip")
_JSON_WHITESPACE = re.compile(r"[ \t\n\r]*")
CONTRACT_COLUMNS = ("shipment_id", "status", "timestamp")
ENCODINGS: dict[str, str] = {
    "utf-8": "utf-8",
    "windows-1252": "cp1252",
    "iso-8859-1": "latin-1",
    "utf-16": "utf-16",
}
"""Encodings a shipper profile may name -> the Python codec that reads them (UTF-16 needs a byte-order mark)."""

RecordRef = tuple[str, int]
"""Where a record sits in its file: ``("line", n)`` (1-based, CSV/NDJSON) or ``("index", n)`` (0-based, JSON)."""


@dataclass(frozen=True, slots=True)
class CsvDialect:
    """How a file is written, when a shipper profile says it differs from the contract's comma-separated UTF-8.

    ``encoding`` applies to the whole content (any format): other encodings are re-encoded to UTF-8 before
    parsing, so offsets in a :class:`ResumePoint` are then offsets in that UTF-8 text. ``header=False`` names the
    columns of a header-less CSV by position (``"1"``, ``"2"``, ...). ``required_columns`` are the header names
    that must be present.
    """

    delimiter: str = ","
    quotechar: str = '"'
    header: bool = True
    encoding: str = "utf-8"  # a key of ENCODINGS
    required_columns: tuple[str, ...] = CONTRACT_COLUMNS


DEFAULT_DIALECT = CsvDialect()


class Readable(Protocol):
    """The one thing a body must do."""

    def read(self, size: int, /) -> bytes: ...


class FileError(Exception):
    """The file as a whole cannot be used; the message says why, in words a shipper can act on."""


class OutOfTime(Exception):
    """The invocation's time ran out while reading something that is not a record (skipping to a resume point,
    blank lines): the caller decides whether that is progress."""


class StreamReadError(Exception):
    """Reading the body failed (network, timeout): not the file's fault, so retrying may help."""


class JsonNumber(str):
    """A JSON number, kept as its source text (fields are stored as strings; no int() digit limits)."""

    __slots__ = ()


class RawRecord(NamedTuple):
    """One record as read from the file, before validation (a NamedTuple: one is built per record)."""

    ref: RecordRef
    pairs: Sequence[tuple[str, object]] | None
    raw: str
    problem: str | None = None


@dataclass(slots=True)
class StreamStats:
    """Filled in while a file streams: what it turned out to be and how many bytes it took."""

    format: str | None = None
    compression: str | None = None
    bytes_read: int = 0
    bytes_decompressed: int = 0
    blank_lines: int = 0


@dataclass(frozen=True, slots=True)
class ResumePoint:
    """Where the record after the last one read starts, so that a later invocation can carry on from there.

    Offsets are positions in the content: the object's bytes, or the decompressed bytes of a gzip object. A gzip
    is entered again at ``seek`` (an opaque :class:`~.seekable_gzip.SeekPoint`: a deflate block boundary at or
    before ``offset`` with its window) and skipped from there to ``offset``; without one it is read again from
    its start.
    """

    format: str
    compression: str | None
    offset: int
    next_ref: int  # number of the next line (CSV, NDJSON) or index of the next item (JSON array)
    header_end: int = 0  # CSV: the header row is content[0:header_end], read again to name the columns
    text_line: int = 1  # JSON array: line and column of ``offset``, so positions in messages stay true
    text_column: int = 1
    blank_lines: int = 0  # blank lines read so far (they count toward MAX_RECORDS)
    seek: str | None = None  # gzip: where decompression can start again, at or before ``offset``


class Source(Protocol):
    """A stored object that can be read from any offset (an S3 ranged GET, or bytes in memory)."""

    def open(self, start: int = 0, end: int | None = None, /) -> Readable:
        """A body with the content from ``start`` up to ``end`` (exclusive; None = the end)."""
        ...


class BytesSource:
    """A :class:`Source` over a body that can only be read once, from the start (no resuming)."""

    def __init__(self, body: Readable) -> None:
        self._body: Readable | None = body

    def open(self, start: int = 0, end: int | None = None, /) -> Readable:
        if start or end is not None or self._body is None:
            raise ValueError("this body can only be read once, from its start")
        body, self._body = self._body, None
        return body


def suffix_format(key: str) -> tuple[str | None, bool]:
    """Format named by the key's suffix (``csv``, ``ndjson``, ``json`` or None) and whether it ends in .gz."""
    name = key.lower()
    gzipped = name.endswith(_GZIP_SUFFIXES)
    if gzipped:
        name = name[: name.rfind(".")]
    dot = name.rfind(".")
    return (_JSON_SUFFIXES.get(name[dot:]) if dot >= 0 else None), gzipped


def iter_raw_records(body: Readable, key: str, limits: Limits, stats: StreamStats | None = None) -> Iterator[RawRecord]:
    """Stream the records of one file; raise FileError when the file itself is unusable."""
    return iter(RecordReader(BytesSource(body), key, limits, stats))


_OBJECT_LIMIT = "file is larger than {limit} (MAX_OBJECT_BYTES)"
_DECOMPRESSED_LIMIT = "decompressed content is larger than {limit} (MAX_DECOMPRESSED_BYTES); a gzip bomb?"


class _Cursor:
    """Where the line-oriented parsers are: the content offset just after the last line read, and its number."""

    __slots__ = ("end", "line_no")

    def __init__(self, end: int = 0, line_no: int = 0) -> None:
        self.end, self.line_no = end, line_no


class RecordReader:
    """The records of one file, from its start or from a :class:`ResumePoint`; iterate it once.

    After any record it yields, :meth:`resume_point` says where the next one starts. Records, line numbers and
    JSON array indexes read after resuming are exactly those a single pass would have read from that point.
    """

    def __init__(
        self,
        source: Source,
        key: str,
        limits: Limits,
        stats: StreamStats | None = None,
        resume: ResumePoint | None = None,
        *,
        out_of_time: Callable[[], bool] | None = None,
        dialect: CsvDialect = DEFAULT_DIALECT,
    ) -> None:
        self._source, self._key, self._limits = source, key, limits
        self._dialect = dialect
        self._codec = ENCODINGS[dialect.encoding] if dialect.encoding != "utf-8" else None
        self._out_of_time = out_of_time or (lambda: False)
        self.stats = stats if stats is not None else StreamStats()
        self._resume = resume
        self._cursor = _Cursor()
        self._text: _TextBuffer | None = None
        self._gunzip: _Gunzip | None = None
        self._header_end = resume.header_end if resume else 0
        self._next_index = 0
        self._format: str | None = resume.format if resume else None

    def __iter__(self) -> Iterator[RawRecord]:
        return self._records()

    def resume_point(self) -> ResumePoint | None:
        """Where the record after the last one yielded starts (None for a single JSON object: nothing follows)."""
        fmt = self._format
        if fmt in (CSV, NDJSON):
            offset = self._cursor.end
            return ResumePoint(
                fmt,
                self.stats.compression,
                offset,
                self._cursor.line_no + 1,
                self._header_end,
                blank_lines=self.stats.blank_lines,
                seek=self._seek_point(offset),
            )
        if fmt == JSON_ARRAY and self._text is not None:
            line, column = self._text.line_column(self._text.pos)
            offset = self._text.byte_offset(self._text.pos)
            seek = self._seek_point(offset)
            return ResumePoint(fmt, self.stats.compression, offset, self._next_index, 0, line, column, seek=seek)
        return None

    def _seek_point(self, offset: int) -> str | None:
        """A gzip seek point for ``offset``; none for re-encoded content, whose offsets are in the UTF-8 text."""
        return self._gunzip.seek_point(offset) if self._gunzip and not self._codec else None

    def _records(self) -> Iterator[RawRecord]:
        limits, stats = self._limits, self.stats
        resume = self._resume
        if resume is None:
            text, fmt = self._open_from_start()
            start, first_line, at_start, header = 0, 1, True, None
        else:
            text, header = self._open_at(resume)
            fmt = resume.format
            start, first_line, at_start = resume.offset, resume.next_ref, False
            stats.format, stats.compression, stats.blank_lines = fmt, resume.compression, resume.blank_lines
        self._format = fmt
        max_bytes = limits.max_record_bytes
        if fmt in (CSV, NDJSON):
            self._cursor = _Cursor(start, first_line - 1)
            lines = _lines(text.read, max_bytes, self._cursor, at_start=at_start)
            if fmt == CSV:
                yield from self._csv(lines, header)
            else:
                yield from _ndjson_records(lines, max_bytes, stats, limits.max_records, self._out_of_time)
        elif fmt == JSON_ARRAY:
            if resume is None:
                self._text = _TextBuffer(text.read, max_bytes)
            else:
                self._text = _TextBuffer(text.read, max_bytes, resume.offset, resume.text_line, resume.text_column)
            yield from self._json_array(self._text, resume.next_ref if resume else None)
        else:
            yield from _json_object_record(_TextBuffer(text.read, max_bytes))

    def _open_from_start(self) -> tuple[_Peekable, str]:
        limits, stats = self._limits, self.stats
        declared, gzip_suffix = suffix_format(self._key)
        raw = _Peekable(
            _Counter(_guarded(self._source.open(0)), limits.max_object_bytes, stats, "bytes_read", _OBJECT_LIMIT).read
        )
        magic = raw.peek(2)
        if not magic:
            raise FileError("file is empty (0 bytes)")
        if magic == GZIP_MAGIC:
            stats.compression = "gzip"
            self._gunzip = _Gunzip(raw, limits)
            stream: Callable[[int], bytes] = self._gunzip.read
        elif gzip_suffix:
            raise FileError(
                f"key ends in .gz but the content is not gzip data (it starts with {magic.hex(' ')}, not 1f 8b)"
            )
        else:
            stream = raw.read
        content = _Counter(stream, limits.max_decompressed_bytes, stats, "bytes_decompressed", _DECOMPRESSED_LIMIT).read
        if self._codec:
            content = _Transcoder(content, self._codec, self._dialect.encoding).read
        text = _Peekable(content)
        stats.format = fmt = _detect(text, declared, limits, gzipped=stats.compression == "gzip")
        return text, fmt

    def _open_at(self, resume: ResumePoint) -> tuple[_Peekable, bytes | None]:
        """The content from ``resume.offset`` on, and the CSV header row's bytes when the format has one."""
        limits, stats = self._limits, self.stats
        want_header = resume.format == CSV and self._dialect.header
        if self._codec:
            # Re-encoded offsets are offsets in the UTF-8 text, not in the object (nor in a gzip's content): read
            # the content again from its start, through the gzip when it is one, and skip to the resume point.
            raw = _Peekable(
                _Counter(
                    _guarded(self._source.open(0)), limits.max_object_bytes, stats, "bytes_read", _OBJECT_LIMIT
                ).read
            )
            if resume.compression == "gzip":
                self._gunzip = _Gunzip(raw, limits)
                stream: Callable[[int], bytes] = self._gunzip.read
            else:
                stream = raw.read
            counted = _Counter(
                stream, limits.max_decompressed_bytes, stats, "bytes_decompressed", _DECOMPRESSED_LIMIT
            ).read
            read = _Transcoder(counted, self._codec, self._dialect.encoding).read
            header = _skip(read, resume.offset, resume.header_end if want_header else 0, self._out_of_time)
            return _Peekable(read), header if want_header else None
        if resume.compression == "gzip":
            point = _seek_point(resume)
            start = point.uout if point else 0
            raw_gzip = _Counter(
                _guarded(self._source.open(point.cin if point else 0)),
                limits.max_object_bytes,
                stats,
                "bytes_read",
                _OBJECT_LIMIT,
                start=point.cin if point else 0,
            )
            self._gunzip = _Gunzip(_Peekable(raw_gzip.read), limits, point)
            content = _Counter(
                self._gunzip.read,
                limits.max_decompressed_bytes,
                stats,
                "bytes_decompressed",
                _DECOMPRESSED_LIMIT,
                start=start,
            )
            keep = resume.header_end if want_header and not start else 0
            header = _skip(content.read, resume.offset - start, keep, self._out_of_time, start)
            if want_header and start:
                header = self._gzip_header_row(resume.header_end)
            return _Peekable(content.read), header if want_header else None
        header = None
        if want_header:
            head = _guarded(self._source.open(0, resume.header_end))
            header = b"".join(iter(lambda: head(CHUNK_SIZE), b""))
            if len(header) != resume.header_end:
                raise StreamReadError(f"the header row should be {resume.header_end} bytes; read {len(header)}")
        body = _guarded(self._source.open(resume.offset))
        counted = _Counter(body, limits.max_object_bytes, stats, "bytes_read", _OBJECT_LIMIT, start=resume.offset)
        content = _Counter(
            counted.read,
            limits.max_decompressed_bytes,
            stats,
            "bytes_decompressed",
            _DECOMPRESSED_LIMIT,
            start=resume.offset,
        )
        return _Peekable(content.read), header

    def _gzip_header_row(self, size: int) -> bytes:
        """The first ``size`` bytes of a gzip's content (the CSV header row), from ranged reads of its start."""
        head = _Gunzip(_Peekable(_guarded(_RangedReads(self._source))), self._limits)
        return _skip(head.read, size, size, lambda: False)  # one record's worth at most: no need to watch the time

    def _csv(self, lines: Iterator[_Line], header: bytes | None) -> Iterator[RawRecord]:
        max_bytes = self._limits.max_record_bytes
        dialect = self._dialect
        options = {"strict": True, "delimiter": dialect.delimiter, "quotechar": dialect.quotechar}
        feeder = _CsvFeeder(lines, max_bytes)
        reader = csv.reader(feeder, **options)  # type: ignore[arg-type]
        names: list[str] | None = None
        if not dialect.header:
            pass  # columns are named by position
        elif header is None:
            names = _csv_header(reader, feeder, dialect)
            self._header_end = self._cursor.end
        else:
            head_feeder = _CsvFeeder(_lines(io.BytesIO(header).read, max_bytes, _Cursor()), max_bytes)
            names = _csv_header(csv.reader(head_feeder, **options), head_feeder, dialect)  # type: ignore[arg-type]
        yield from _csv_rows(reader, feeder, names, self.stats, self._limits.max_records, out_of_time=self._out_of_time)

    def _json_array(self, text: _TextBuffer, resume_index: int | None) -> Iterator[RawRecord]:
        for record in _json_array_records(text, resume_index):
            self._next_index = record.ref[1] + 1
            yield record


def _seek_point(resume: ResumePoint) -> seekable_gzip.SeekPoint | None:
    """The resume point's way into the gzip, when there is one and it can be used here."""
    if resume.seek is None or not seekable_gzip.available():
        return None
    try:
        point = seekable_gzip.SeekPoint.decode(resume.seek)
    except ValueError as exc:
        raise FileError(f"the checkpoint's gzip seek point is unusable ({exc}); reprocess the file") from None
    if point.uout > resume.offset:
        raise FileError(f"the checkpoint's gzip seek point lies after its offset {resume.offset}; reprocess the file")
    return point


class _RangedReads:
    """The object from its start in ranged GETs of growing size, for reading a few bytes of a long object."""

    def __init__(self, source: Source, first: int = 4 * 1024) -> None:
        self._source, self._end, self._size = source, 0, first
        self._body: Readable = io.BytesIO()
        self._left = 0  # bytes the current range should still give; more than 0 at its end: the object's end

    def read(self, size: int, /) -> bytes:
        while True:
            data = self._body.read(size)
            if data:
                self._left -= len(data)
                return data
            if self._left:
                return b""
            self._body = self._source.open(self._end, self._end + self._size)
            self._end, self._left, self._size = self._end + self._size, self._size, self._size * 4


def _skip(
    read: Callable[[int], bytes], count: int, keep: int, out_of_time: Callable[[], bool], origin: int = 0
) -> bytes:
    """Read and drop ``count`` bytes (the content from ``origin`` on), returning the first ``keep`` of them."""
    kept = bytearray()
    left = count
    while left:
        if out_of_time():
            raise OutOfTime(f"re-reading the gzip content up to byte {origin + count} to resume took all the time left")
        data = read(min(CHUNK_SIZE, left))
        if not data:
            raise FileError(f"the content ends before offset {origin + count} where processing was to resume")
        if len(kept) < keep:
            kept += data[: keep - len(kept)]
        left -= len(data)
    return bytes(kept)


def preview(text: str, limit: int = RAW_PREVIEW_BYTES) -> str:
    """``text`` cut to at most ``limit`` UTF-8 bytes (never mid-character) for reports."""
    data = text.encode("utf-8", "surrogatepass")
    if len(data) <= limit:
        return text
    return data[:limit].decode("utf-8", "ignore")


# --- byte layers -------------------------------------------------------------------------------------------------


def _guarded(body: Readable) -> Callable[[int], bytes]:
    def read(size: int) -> bytes:
        try:
            return body.read(size)
        except Exception as exc:  # any failure of the source is a read failure, by definition
            raise StreamReadError(f"reading the object failed: {exc!r}") from exc

    return read


class _Counter:
    """Counts bytes through a reader and fails the file once a limit is passed (counting from ``start``)."""

    def __init__(
        self, read: Callable[[int], bytes], limit: int, stats: StreamStats, field: str, message: str, *, start: int = 0
    ) -> None:
        self._read, self._limit, self._stats, self._field, self._message = read, limit, stats, field, message
        self._count = start

    def read(self, size: int) -> bytes:
        data = self._read(size)
        self._count += len(data)
        setattr(self._stats, self._field, self._count)
        if self._count > self._limit:
            raise FileError(self._message.format(limit=f"{self._limit} bytes"))
        return data


class _Peekable:
    """A reader that can look at its first bytes without consuming them."""

    def __init__(self, read: Callable[[int], bytes]) -> None:
        self._read = read
        self._head = b""
        self.eof = False

    def peek(self, size: int) -> bytes:
        while len(self._head) < size and not self.eof:
            data = self._read(CHUNK_SIZE)
            if data:
                self._head += data
            else:
                self.eof = True
        return self._head[:size]

    def read(self, size: int) -> bytes:
        size = size if size > 0 else CHUNK_SIZE
        if self._head:
            data, self._head = self._head[:size], self._head[size:]
            return data
        return self._read(size)


class _Transcoder:
    """Re-encodes content in another encoding to UTF-8, in bounded reads (what the parsers read is UTF-8)."""

    def __init__(self, read: Callable[[int], bytes], codec: str, label: str) -> None:
        self._read, self._codec, self._label = read, codec, label
        self._decoder = codecs.getincrementaldecoder(codec)("strict")
        self._out = b""
        self._in = 0
        self._eof = False
        self._checked = codec != "utf-16"

    def read(self, size: int) -> bytes:
        size = size if size > 0 else CHUNK_SIZE
        while not self._out and not self._eof:
            self._fill()
        data, self._out = self._out[:size], self._out[size:]
        return data

    def _fill(self) -> None:
        data = self._read(CHUNK_SIZE)
        if not self._checked:
            while len(data) < 2 and (more := self._read(CHUNK_SIZE)):
                data += more
            if data and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
                raise FileError(
                    f"the shipper profile says utf-16, but the file has no UTF-16 byte-order mark (it starts with "
                    f"{data[:4].hex(' ')}); save it as UTF-16 with a byte-order mark, or as UTF-8"
                )
            self._checked = True
        try:
            text = self._decoder.decode(data, final=not data)
        except UnicodeDecodeError as exc:
            offset = self._in + len(data) - len(exc.object) + exc.start
            raise FileError(
                f"not valid {self._label} (byte 0x{exc.object[exc.start]:02x} at byte offset {offset}); check the "
                "shipper profile's encoding"
            ) from None
        self._in += len(data)
        self._eof = not data
        self._out = text.encode("utf-8")


class _Gunzip:
    """Incremental gzip decompression (bounded reads, multi-member aware) with shipper-readable errors.

    Through the system libz when it loads (then :meth:`seek_point` can say where a later invocation may enter
    the content again), else through the standard library from the start only.
    """

    def __init__(self, source: _Peekable, limits: Limits, at: seekable_gzip.SeekPoint | None = None) -> None:
        self._seekable: seekable_gzip.SeekableGunzip | None = None
        if seekable_gzip.available():
            # How far the parsers' record boundary can lag behind what was decompressed: their read-ahead.
            keep_back = 2 * limits.max_record_bytes + 4 * CHUNK_SIZE
            self._seekable = seekable_gzip.SeekableGunzip(source.read, keep_back=keep_back, at=at)
            self._read = self._seekable.read
        else:
            self._read = gzip.GzipFile(fileobj=source, mode="rb").read  # type: ignore[arg-type]

    def read(self, size: int) -> bytes:
        try:
            return self._read(size)
        except StreamReadError:
            raise
        except EOFError as exc:
            raise FileError(f"gzip data is truncated: {exc}") from exc
        except (OSError, zlib.error) as exc:
            raise FileError(f"not valid gzip data: {exc}") from exc

    def seek_point(self, offset: int) -> str | None:
        """Where decompression can start again to reach content ``offset`` (None: only from the start)."""
        point = self._seekable.seek_point(offset) if self._seekable else None
        return point.encode() if point and point.uout else None


def _detect(text: _Peekable, declared: str | None, limits: Limits, *, gzipped: bool) -> str:
    head = text.peek(CHUNK_SIZE)
    if not head:
        raise FileError("file is empty after gzip decompression" if gzipped else "file is empty (0 bytes)")
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise FileError(
            "file is UTF-16 encoded (it starts with a UTF-16 byte-order mark); save it as UTF-8, or ask your "
            "operator for a shipper profile with encoding utf-16"
        )
    content = head[len(UTF8_BOM) :] if head.startswith(UTF8_BOM) else head
    significant = content.lstrip(b" \t\r\n")
    if not significant and text.eof:
        raise FileError("file contains only whitespace")
    first = significant[:1]
    if declared in (CSV, NDJSON):
        return declared
    if declared == "json":
        if first == b"[":
            return JSON_ARRAY
        if first == b"{":
            return JSON_OBJECT
        found = repr(first.decode("latin-1")) if first else "only whitespace in the first 64 KiB"
        raise FileError(f"a .json file must start with '[' (an array of records) or '{{' (one record); found {found}")
    if first == b"[":
        return JSON_ARRAY
    if first == b"{":
        return NDJSON if _looks_like_ndjson(text, limits) else JSON_OBJECT
    return CSV


def _looks_like_ndjson(text: _Peekable, limits: Limits) -> bool:
    """True when the first line is a complete JSON object and more content follows it."""
    head = text.peek(limits.max_record_bytes + 2)
    if head.startswith(UTF8_BOM):
        head = head[len(UTF8_BOM) :]
    head = head.lstrip(b" \t\r\n")
    first_line, newline, rest = head.partition(b"\n")
    if not newline or not rest.strip():
        return False
    try:
        value = json.loads(first_line, object_pairs_hook=JsonObject)
    except (ValueError, RecursionError):
        return False
    return isinstance(value, JsonObject)


# --- line-oriented formats ---------------------------------------------------------------------------------------

_Line = tuple[int, str, int]
"""(line number, text without the newline, size in bytes when the line is over the limit else 0)."""


def _lines(read: Callable[[int], bytes], max_bytes: int, cursor: _Cursor, *, at_start: bool = True) -> Iterator[_Line]:
    """Split a byte stream into UTF-8 lines; an over-long line is skipped and reported with its size.

    Before each line is yielded, ``cursor`` holds its number and the content offset just after it (its newline
    included), which is where the next line starts: a point a later invocation can resume from.
    """
    line_no = cursor.line_no
    end = cursor.end
    pending = b""
    skipping = 0
    skipped_head = b""
    first = at_start
    while chunk := read(CHUNK_SIZE):
        if first:
            first = False
            if chunk.startswith(UTF8_BOM):
                chunk = chunk[len(UTF8_BOM) :]
                end += len(UTF8_BOM)
        if skipping:
            newline = chunk.find(b"\n")
            if newline < 0:
                skipping += len(chunk)
                continue
            line_no += 1
            end += skipping + newline + 1
            cursor.end, cursor.line_no = end, line_no
            yield line_no, _decode_preview(skipped_head), skipping + newline
            skipping = 0
            chunk = chunk[newline + 1 :]
        parts = (pending + chunk).split(b"\n") if pending else chunk.split(b"\n")
        pending = parts.pop()
        for part in parts:
            line_no += 1
            end += len(part) + 1
            cursor.end, cursor.line_no = end, line_no
            if len(part) > max_bytes:
                yield line_no, _decode_preview(part[:RAW_PREVIEW_BYTES]), len(part)
            else:
                yield line_no, _decode(part, line_no), 0
        if len(pending) > max_bytes:
            skipping, skipped_head, pending = len(pending), pending[:RAW_PREVIEW_BYTES], b""
    if skipping:
        cursor.end, cursor.line_no = end + skipping, line_no + 1
        yield line_no + 1, _decode_preview(skipped_head), skipping
    elif pending:
        cursor.end, cursor.line_no = end + len(pending), line_no + 1
        yield line_no + 1, _decode(pending, line_no + 1), 0


def _decode(data: bytes, line_no: int) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FileError(
            f"line {line_no} is not valid UTF-8 (byte 0x{data[exc.start]:02x} at byte {exc.start + 1} of the line); "
            f"save the file as UTF-8{_single_byte_hint(data[exc.start])}"
        ) from None


def _single_byte_hint(byte: int) -> str:
    """Windows-1252 / ISO-8859-1 exports fail UTF-8 decoding at their first accented letter: say what it would be."""
    try:
        letter = bytes([byte]).decode("cp1252")
    except UnicodeDecodeError:
        return ""
    if not letter.isalpha():
        return ""
    return (
        f". The file looks Windows-1252 or ISO-8859-1 encoded (byte 0x{byte:02x} would be {letter!r} there): save "
        "it as UTF-8, or ask your operator for a shipper profile with encoding windows-1252"
    )


def _decode_preview(data: bytes) -> str:
    return data.decode("utf-8", "replace")


def _oversized(size: int, max_bytes: int) -> str:
    return f"line is {size} bytes, longer than the {max_bytes}-byte limit (MAX_RECORD_BYTES)"


def _blank_line(stats: StreamStats, max_records: int, out_of_time: Callable[[], bool]) -> None:
    """Count a blank line: they cost as much to read as a record, so they count toward MAX_RECORDS too."""
    stats.blank_lines += 1
    if stats.blank_lines > max_records:
        raise FileError(f"file has more than {max_records} blank lines (they count toward MAX_RECORDS)")
    if not stats.blank_lines & 1023 and out_of_time():
        raise OutOfTime(f"the time ran out reading blank lines ({stats.blank_lines} so far)")


def _ndjson_records(
    lines: Iterator[_Line], max_bytes: int, stats: StreamStats, max_records: int, out_of_time: Callable[[], bool]
) -> Iterator[RawRecord]:
    decoder = _json_decoder()
    for line_no, text, oversize in lines:
        ref = ("line", line_no)
        if oversize:
            yield RawRecord(ref, None, text, _oversized(oversize, max_bytes))
            continue
        if not text.strip():
            _blank_line(stats, max_records, out_of_time)
            continue
        try:
            value = decoder.decode(text)
        except json.JSONDecodeError as exc:
            yield RawRecord(ref, None, text, f"not valid JSON: {_at(exc.msg, f'column {exc.colno}')}")
            continue
        except RecursionError:
            yield RawRecord(ref, None, text, "JSON is nested too deeply to parse")
            continue
        if isinstance(value, JsonObject):
            yield RawRecord(ref, value, text)
        else:
            yield RawRecord(ref, None, text, f"expected a JSON object, got {_describe(value)}")


class _CsvFeeder:
    """Feeds lines to ``csv.reader`` and remembers which lines made up the current record."""

    def __init__(self, lines: Iterator[_Line], max_bytes: int) -> None:
        self._lines = lines
        self._max_bytes = max_bytes
        self._parts: list[str] = []
        self._size = 0
        self.start = 0

    def __iter__(self) -> _CsvFeeder:
        return self

    def __next__(self) -> str:
        line_no, text, oversize = next(self._lines)
        if not self._parts:
            self.start = line_no
        if oversize:
            hint = " (the file may use bare CR line endings; use LF or CRLF)" if "\r" in text.rstrip("\r") else ""
            raise FileError(f"line {line_no}: {_oversized(oversize, self._max_bytes)}{hint}")
        if self._parts:  # a record continuing over several lines (quoted newlines): count all of them
            self._size = self._size or len(self._parts[0].encode())
            self._size += 1 + len(text.encode())
        if self._size > self._max_bytes:
            raise FileError(
                f"CSV record starting at line {self.start} is longer than the {self._max_bytes}-byte limit "
                "(MAX_RECORD_BYTES); this usually means a quote that is never closed"
            )
        self._parts.append(text)
        return text + "\n"

    def take(self) -> tuple[int, str]:
        """Start line and raw text of the record just read; resets for the next one."""
        raw = self._parts[0] if len(self._parts) == 1 else "\n".join(self._parts)
        self._parts, self._size = [], 0
        return self.start, raw


def _csv_error(message: str) -> str:
    if "new-line character seen in unquoted field" in message:
        return "contains a bare carriage return (\\r) outside quotes; use LF or CRLF line endings"
    return f"is not valid CSV: {message}"


def _csv_header(reader: Iterator[list[str]], feeder: _CsvFeeder, dialect: CsvDialect) -> list[str]:
    """Read the header row (after any blank lines) and return its checked, normalised column names."""
    header: list[str] = []
    while not header:
        try:
            header = next(reader)
        except StopIteration:
            raise FileError("CSV file has no header row (it contains only blank lines)") from None
        except csv.Error as exc:
            raise FileError(f"CSV header row (line {feeder.start}) {_csv_error(str(exc))}") from None
        feeder.take()
    names = [name.strip().lower() for name in header]
    _check_header(names, dialect)
    return names


def _csv_rows(
    reader: Iterator[list[str]],
    feeder: _CsvFeeder,
    names: list[str] | None,
    stats: StreamStats,
    max_records: int,
    *,
    out_of_time: Callable[[], bool],
) -> Iterator[RawRecord]:
    """The records of a CSV's rows: named by the header, or by position ("1", "2", ...) when it has none."""
    positions: list[str] = []
    width = len(names) if names is not None else 0
    unnamed = [position for position, name in enumerate(names or []) if not name]
    for start, raw, row in _parsed_rows(reader, feeder, stats, max_records, out_of_time):
        if isinstance(row, str):
            yield RawRecord(("line", start), None, raw, row)
        elif names is None:
            while len(positions) < len(row):
                positions.append(str(len(positions) + 1))
            yield RawRecord(("line", start), [(n, v if v else None) for n, v in zip(positions, row, strict=False)], raw)
        elif len(row) != width:
            reason = f"row has {len(row)} fields but the header has {width} ({', '.join(names)})"
            yield RawRecord(("line", start), None, raw, reason)
        elif unnamed and (filled := [position + 1 for position in unnamed if row[position].strip()]):
            yield RawRecord(("line", start), None, raw, _unnamed_values(filled, row))
        else:
            fields = [(n, v if v else None) for n, v in zip(names, row, strict=True) if n]  # unnamed: empty here
            yield RawRecord(("line", start), fields, raw)


def _parsed_rows(
    reader: Iterator[list[str]],
    feeder: _CsvFeeder,
    stats: StreamStats,
    max_records: int,
    out_of_time: Callable[[], bool],
) -> Iterator[tuple[int, str, list[str] | str]]:
    """Each non-blank row as (its first line, its raw text, its fields), or with the reason it is not valid CSV in
    place of the fields; a quote never closed fails the file."""
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            start, raw = feeder.take()
            if str(exc) == "unexpected end of data":
                raise FileError(f"CSV record starting at line {start} has a quote that is never closed") from None
            yield start, raw, f"row {_csv_error(str(exc))}"
            continue
        start, raw = feeder.take()
        if not row:
            _blank_line(stats, max_records, out_of_time)
            continue
        yield start, raw, row


def _unnamed_values(columns: list[int], row: list[str]) -> str:
    shown = ", ".join(f"column {column} ({row[column - 1].strip()[:40]!r})" for column in columns)
    return f"row has a value under a column with no name in the header: {shown}; name the column or leave it empty"


def _check_header(names: list[str], dialect: CsvDialect = DEFAULT_DIALECT) -> None:
    """Fail the file unless its header names the required columns once each; unnamed columns are allowed (Excel
    exports end in empty ones): their cells must then be empty."""
    named = [name for name in names if name]
    duplicates = sorted({name for name in named if named.count(name) > 1})
    if duplicates:
        raise FileError(f"CSV header repeats column(s) {', '.join(duplicates)} (names are case-insensitive)")
    missing = [name for name in dialect.required_columns if name not in names]
    if missing:
        raise FileError(
            f"CSV header is missing required column(s) {', '.join(missing)}; found {', '.join(names)}"
            + _header_hint(names, dialect)
        )


_OTHER_SEPARATORS = (
    (";", "semicolon", "';'"),
    ("\t", "tab", "'\\t' (tab)"),
    ("|", "pipe", "'|'"),
    (",", "comma", "','"),
)


def _header_hint(names: list[str], dialect: CsvDialect) -> str:
    """What the header looks like, when a wrong delimiter or encoding is the likely cause of missing columns."""
    text = dialect.delimiter.join(names)
    if "\x00" in text:
        return (
            ". The header contains NUL characters: the file looks UTF-16 encoded without a byte-order mark; save it "
            "as UTF-8 (or as UTF-16 with a byte-order mark, and ask your operator for a shipper profile with "
            "encoding utf-16)"
        )
    for separator, word, shown in _OTHER_SEPARATORS:
        if separator != dialect.delimiter and text.count(separator) >= 2:
            columns = [part.strip() for part in text.split(separator)]
            seen = f". The header looks {word}-separated ({len(columns)} columns: {', '.join(columns[:8])}"
            seen += f"{', ...' if len(columns) > 8 else ''})"
            if dialect.delimiter == ",":
                return (
                    f"{seen}: save the file as comma-separated CSV, or ask your operator for a shipper profile with "
                    f"csv.delimiter {shown}"
                )
            return (
                f"{seen}: save the file as {dialect.delimiter!r}-separated CSV, or change the shipper profile's "
                f"csv.delimiter to {shown}"
            )
    return ""


# --- JSON documents ----------------------------------------------------------------------------------------------


def _json_decoder() -> json.JSONDecoder:
    # Numbers keep their source text (fields are stored as strings, and huge integers cannot trip int() limits);
    # NaN/Infinity become markers the validator rejects; objects keep duplicate keys so they can be reported.
    return json.JSONDecoder(
        object_pairs_hook=JsonObject,
        parse_int=JsonNumber,
        parse_float=JsonNumber,
        parse_constant=NonFiniteNumber,
    )


def _at(message: str, where: str) -> str:
    """``message at where``; json's own messages may already end in "at" ("Unterminated string starting at")."""
    return f"{message} {where}" if message.endswith(" at") else f"{message} at {where}"


def _describe(value: object) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, bool):
        return "a boolean"
    if value is None:
        return "null"
    if isinstance(value, NonFiniteNumber):
        return f"the non-JSON number {value}"
    if isinstance(value, JsonNumber):
        return "a number"
    return "a string"


class _TextBuffer:
    """A sliding window of decoded text over the byte stream, for incremental ``raw_decode``."""

    def __init__(
        self, read: Callable[[int], bytes], max_bytes: int, byte_base: int = 0, line: int = 1, column: int = 1
    ) -> None:
        self._read = read
        self._max_bytes = max_bytes
        self._decoder = _json_decoder()
        # A BOM can only stand at the very start of the content; later, U+FEFF is just a character.
        self._utf8 = codecs.getincrementaldecoder("utf-8-sig" if byte_base == 0 else "utf-8")("strict")
        self._bytes_in = byte_base
        self._dropped_lines = line - 1
        self._column_base = column - 1  # characters between the last dropped newline and the window's start
        self.buf = ""
        self.pos = 0
        self.eof = False

    def fill(self) -> bool:
        """Append one more chunk of text; False at end of stream."""
        if self.eof:
            return False
        data = self._read(CHUNK_SIZE)
        try:
            text = self._utf8.decode(data, final=not data)
        except UnicodeDecodeError as exc:
            # exc.object ends where the bytes fed so far end, whatever the decoder buffered or skipped (BOM).
            offset = self._bytes_in + len(data) - len(exc.object) + exc.start
            raise FileError(
                f"not valid UTF-8 (byte 0x{exc.object[exc.start]:02x} at byte offset {offset}); save the file as UTF-8"
            ) from None
        self._bytes_in += len(data)
        if not data:
            self.eof = True
        if self.pos > CHUNK_SIZE:
            newlines = self.buf.count("\n", 0, self.pos)
            self._dropped_lines += newlines
            last = self.buf.rfind("\n", 0, self.pos)
            self._column_base = self.pos - last - 1 if newlines else self._column_base + self.pos
            self.buf, self.pos = self.buf[self.pos :], 0
        self.buf += text
        return bool(data)

    def next_significant(self) -> str:
        """Skip JSON whitespace; return the next character without consuming it ('' at end of stream)."""
        while True:
            self.pos = _JSON_WHITESPACE.match(self.buf, self.pos).end()  # type: ignore[union-attr]
            if self.pos < len(self.buf):
                return self.buf[self.pos]
            if not self.fill():
                return ""

    def line_column(self, pos: int) -> tuple[int, int]:
        """1-based line and column of the window position ``pos`` in the whole content."""
        line = self._dropped_lines + self.buf.count("\n", 0, pos) + 1
        last = self.buf.rfind("\n", 0, pos)
        column = pos - last if last >= 0 else self._column_base + pos + 1
        return line, column

    def where(self, pos: int) -> str:
        line, column = self.line_column(pos)
        return f"line {line} column {column}"

    def byte_offset(self, pos: int) -> int:
        """Content offset (in bytes) of the window position ``pos``: bytes fed, minus what is still ahead."""
        undecoded = self._utf8.getstate()[0]
        return self._bytes_in - len(self.buf[pos:].encode("utf-8", "surrogatepass")) - len(undecoded)

    def decode_value(self, label: str) -> tuple[object, str]:
        """Decode the JSON value at ``pos`` (reading more as needed); return it with its source text."""
        while True:
            start = self.pos
            try:
                value, end = self._decoder.raw_decode(self.buf, start)
            except json.JSONDecodeError as exc:
                unterminated = exc.msg.startswith("Unterminated string")
                if not self.eof and (unterminated or exc.pos >= len(self.buf) - 16):
                    # The error may only mean the value continues past the window: read on, within the limit.
                    if len(self.buf) - start > self._max_bytes:
                        raise FileError(
                            f"{label} is larger than the {self._max_bytes}-byte limit (MAX_RECORD_BYTES)"
                            + (" or has a string that is never closed" if unterminated else "")
                        ) from None
                    self.fill()
                    continue
                if unterminated or exc.pos >= len(self.buf.rstrip(" \t\r\n")):
                    raise FileError(
                        f"file is truncated: it ends inside {label} ({_at(exc.msg, self.where(exc.pos))})"
                    ) from None
                raise FileError(f"{label} is not valid JSON: {_at(exc.msg, self.where(exc.pos))}") from None
            except RecursionError:
                raise FileError(f"{label} is nested too deeply to parse") from None
            if end - start > self._max_bytes:
                raise FileError(f"{label} is larger than the {self._max_bytes}-byte limit (MAX_RECORD_BYTES)")
            if end == len(self.buf) and not self.eof:
                self.fill()  # a number at the end of the window may continue in the next chunk
                continue
            self.pos = end
            return value, self.buf[start:end]


def _json_array_records(text: _TextBuffer, resume_index: int | None = None) -> Iterator[RawRecord]:
    """The items of a JSON array; with ``resume_index``, the content starts just after item resume_index - 1."""
    if resume_index is None:
        if text.next_significant() != "[":  # pragma: no cover - the sniffer only routes '[' here
            raise FileError("expected a JSON array")
        text.pos += 1
        index = 0
        following = text.next_significant()
        if following == "]":
            text.pos += 1
    else:
        index, following = resume_index, ","
    at_separator = resume_index is not None  # resuming just after an item: a ',' or ']' comes next
    while following != "]":
        if not at_separator:
            if following == "":
                raise FileError("file is truncated: the JSON array is never closed")
            value, raw = text.decode_value(f"item {index}")
            if isinstance(value, JsonObject):
                yield RawRecord(("index", index), value, raw)
            else:
                yield RawRecord(("index", index), None, raw, f"expected a JSON object, got {_describe(value)}")
            index += 1
        at_separator = False
        separator = text.next_significant()
        if separator == ",":
            text.pos += 1
            following = text.next_significant()
            if following == "]":
                raise FileError(f"trailing comma after item {index - 1} at {text.where(text.pos)}")
        elif separator == "]":
            text.pos += 1
            following = "]"
        elif separator == "":
            raise FileError(f"file is truncated: the JSON array is never closed (after item {index - 1})")
        else:
            raise FileError(
                f"expected ',' or ']' after item {index - 1} at {text.where(text.pos)}, found {separator!r}"
            )
    if text.next_significant() != "":
        raise FileError(f"unexpected content after the closing ']' at {text.where(text.pos)}")


def _json_object_record(text: _TextBuffer) -> Iterator[RawRecord]:
    text.next_significant()
    value, raw = text.decode_value("the JSON object")
    if text.next_significant() != "":
        raise FileError(
            f"unexpected content after the JSON object at {text.where(text.pos)}; a file with one JSON object "
            "per line must be named .jsonl or .ndjson"
        )
    yield RawRecord(("index", 0), value, raw)  # the sniffer only routes '{' here, so value is an object
