"""The pure pipeline: streaming (bounded reads, lazy results, constant memory) and no AWS anywhere near it."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import tracemalloc
from collections.abc import Iterator

import pytest
from shipment_processor.config import Limits
from shipment_processor.formats import CHUNK_SIZE, FileError, StreamReadError, StreamStats, suffix_format
from shipment_processor.pipeline import Accepted, Rejected, describe_ref, stream_results

from .support import LAMBDA_SRC, NOW, as_csv, as_json_array, as_json_object, as_ndjson, gz, record, records


class RecordingBody:
    """A body that remembers every read request and can hand out at most ``max_piece`` bytes per read."""

    def __init__(self, data: bytes, max_piece: int | None = None) -> None:
        self._stream = io.BytesIO(data)
        self._max_piece = max_piece
        self.requests: list[int] = []

    def read(self, size: int = -1) -> bytes:
        self.requests.append(size)
        if self._max_piece is not None:
            size = min(size, self._max_piece)
        return self._stream.read(size)

    @property
    def consumed(self) -> int:
        return self._stream.tell()


class GeneratedBody:
    """An endless-looking CSV produced on the fly, so the test itself never holds the file in memory."""

    def __init__(self, rows: int) -> None:
        self._parts = self._generate(rows)
        self._pending = b""

    @staticmethod
    def _generate(rows: int) -> Iterator[bytes]:
        yield b"shipment_id,status,timestamp,notes\n"
        for n in range(rows):
            yield f"GEN-{n},IN_TRANSIT,2026-03-01T10:00:00Z,{'n' * 900}\n".encode()

    def read(self, size: int) -> bytes:
        while len(self._pending) < size:
            part = next(self._parts, b"")
            if not part:
                break
            self._pending += part
        data, self._pending = self._pending[:size], self._pending[size:]
        return data


def results(data: bytes, key: str, **kwargs: object) -> list[Accepted | Rejected]:
    return list(stream_results(io.BytesIO(data), key, Limits(), NOW, **kwargs))  # type: ignore[arg-type]


# Larger than one 64 KiB chunk, so records, numbers and multi-byte characters straddle read boundaries.
MIXED = [*records(700), record(99, status="LOST", weight=12.5, pieces=7)]
SAMPLES = {
    "csv": ("x.csv", as_csv(MIXED)),
    "ndjson": ("x.jsonl", as_ndjson(MIXED)),
    "json_array": ("x.json", as_json_array(MIXED, indent=2)),
    "json_array-compact-numbers": ("x.json", as_json_array([{**r, "n": 10**20} for r in records(600)])),
    "json_object": ("x.json", as_json_object(record(5))),
    "csv.gz": ("x.csv.gz", gz(as_csv(MIXED))),
    "bom-ndjson": ("x.ndjson", b"\xef\xbb\xbf" + as_ndjson(MIXED)),
}


@pytest.mark.parametrize("sample", list(SAMPLES))
def test_only_bounded_reads_are_made(sample: str) -> None:
    key, data = SAMPLES[sample]
    body = RecordingBody(data)

    list(stream_results(body, key, Limits(), NOW))

    assert body.requests
    assert all(0 < size <= CHUNK_SIZE for size in body.requests), "never read() the whole object"


@pytest.mark.parametrize("piece", [3, 4093])
@pytest.mark.parametrize("sample", list(SAMPLES))
def test_results_do_not_depend_on_how_the_body_is_chunked(sample: str, piece: int) -> None:
    key, data = SAMPLES[sample]

    chunked = list(stream_results(RecordingBody(data, max_piece=piece), key, Limits(), NOW))

    assert chunked == results(data, key)


def test_results_arrive_before_the_body_has_been_read() -> None:
    data = as_ndjson(records(30_000))
    body = RecordingBody(data)

    first = next(stream_results(body, "big.jsonl", Limits(), NOW))

    assert isinstance(first, Accepted)
    assert body.consumed <= 2 * CHUNK_SIZE < len(data) / 10


def test_memory_stays_bounded_whatever_the_file_size() -> None:
    rows = 6_000  # about 5.6 MB of CSV
    tracemalloc.start()
    try:
        count = sum(1 for _ in stream_results(GeneratedBody(rows), "big.csv", Limits(), NOW))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert count == rows
    assert peak < 1_500_000, f"peak {peak} bytes while streaming ~5.6 MB"


def test_every_record_yields_exactly_one_result_in_file_order() -> None:
    out = results(as_csv([record(1), record(2, status="LOST"), record(3)]), "x.csv")

    assert [type(r).__name__ for r in out] == ["Accepted", "Rejected", "Accepted"]
    assert [describe_ref(r.ref) for r in out] == ["line 2", "line 3", "line 4"]


def test_rejected_raw_record_is_cut_to_1_kb_without_splitting_a_character() -> None:
    (rejected,) = results(as_ndjson([record(1, status="LOST", notes="é" * 700)]), "x.jsonl")

    assert isinstance(rejected, Rejected)
    assert len(rejected.raw.encode()) <= 1024
    assert rejected.raw.startswith('{"shipment_id": "SHP-000001"')


def test_stats_describe_what_was_streamed() -> None:
    data = gz(as_ndjson(records(10)))
    stats = StreamStats()

    results(data, "incoming/a/file.data", stats=stats)

    assert (stats.format, stats.compression) == ("ndjson", "gzip")
    assert stats.bytes_read == len(data)
    assert stats.bytes_decompressed == len(as_ndjson(records(10)))


def test_a_file_of_exactly_max_records_is_accepted() -> None:
    limits = Limits(max_records=3)

    out = list(stream_results(io.BytesIO(as_csv(records(3))), "x.csv", limits, NOW))

    assert len(out) == 3


def test_file_errors_raise_after_the_records_before_them_were_yielded() -> None:
    stream = stream_results(io.BytesIO(as_json_array(records(3))[:-40]), "x.json", Limits(), NOW)

    assert isinstance(next(stream), Accepted)
    assert isinstance(next(stream), Accepted)
    with pytest.raises(FileError, match="file is truncated"):
        next(stream)


def test_a_body_failing_inside_gzip_data_raises_stream_read_error_not_file_error() -> None:
    class FailsAfterHeader:
        def __init__(self) -> None:
            self._data = io.BytesIO(gz(as_csv(records(2000))))

        def read(self, size: int) -> bytes:
            if self._data.tell() > 0:
                raise ConnectionResetError("peer reset")
            return self._data.read(min(size, 100))

    with pytest.raises(StreamReadError, match="ConnectionResetError"):
        list(stream_results(FailsAfterHeader(), "x.csv.gz", Limits(), NOW))


@pytest.mark.parametrize(
    ("data", "fmt"),
    [
        (b"\xef\xbb\xbf" + as_ndjson(records(2)), "ndjson"),
        (b'{"shipment_id": "SHP-1",\n "status": "CREATED",\n "timestamp": "2026-03-01T10:00:00Z"}\n', "json_object"),
        (as_ndjson(records(1)), "json_object"),
        (b"  \n" + as_json_array(records(2)), "json_array"),
        (b"shipment_id,status,timestamp\n", "csv"),
    ],
    ids=["bom-ndjson", "pretty-object", "one-line-object", "array-after-blank-line", "csv"],
)
def test_sniffing_recognises_the_format_of_an_unnamed_file(data: bytes, fmt: str) -> None:
    stats = StreamStats()

    results(data, "incoming/a/upload.bin", stats=stats)

    assert stats.format == fmt


def test_an_over_long_ndjson_line_spanning_chunks_is_skipped_and_reported_with_its_size() -> None:
    huge = b'{"notes": "' + b"x" * 200_000 + b'"}'
    data = as_ndjson([record(1)]) + huge + b"\n" + as_ndjson([record(3)]) + huge

    out = results(data, "x.jsonl")

    assert [type(r).__name__ for r in out] == ["Accepted", "Rejected", "Accepted", "Rejected"]
    assert [r.ref for r in out] == [("line", 1), ("line", 2), ("line", 3), ("line", 4)]
    assert out[1].reason == f"line is {len(huge)} bytes, longer than the 65536-byte limit (MAX_RECORD_BYTES)"  # type: ignore[union-attr]
    assert out[3].reason == out[1].reason  # type: ignore[union-attr]
    assert out[1].raw.startswith('{"notes": "xxx')


def test_csv_of_only_blank_lines_has_no_header() -> None:
    with pytest.raises(FileError, match="CSV file has no header row"):
        results(b"\r\n" * 40_000, "x.csv")


def test_blank_csv_rows_between_records_are_skipped() -> None:
    data = as_csv(records(2)).replace(b"\nSHP-000001", b"\n\n\nSHP-000001")

    out = results(data, "x.csv")

    assert [r.ref for r in out] == [("line", 2), ("line", 5)]


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ({"notes": "x" * 300_000}, "item 1 is larger than the 65536-byte limit (MAX_RECORD_BYTES) or has a string"),
        ({f"f{n}": n for n in range(12_000)}, "item 1 is larger than the 65536-byte limit (MAX_RECORD_BYTES)"),
    ],
    ids=["long-string", "many-fields"],
)
def test_a_json_item_over_the_record_limit_fails_the_file_while_streaming(
    item: dict[str, object], message: str
) -> None:
    data = as_json_array([record(0), item, record(2)])

    with pytest.raises(FileError, match=re.escape(message)):
        results(data, "x.json")


def test_a_failing_body_raises_stream_read_error_not_file_error() -> None:
    class Failing:
        def read(self, size: int) -> bytes:
            raise TimeoutError("read timed out")

    with pytest.raises(StreamReadError, match="reading the object failed: TimeoutError"):
        list(stream_results(Failing(), "x.csv", Limits(), NOW))


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("a/b.CSV", ("csv", False)),
        ("a/b.csv.gz", ("csv", True)),
        ("a/b.jsonl.GZIP", ("ndjson", True)),
        ("a/b.ndjson", ("ndjson", False)),
        ("a/b.json", ("json", False)),
        ("a/b.txt.gz", (None, True)),
        ("a/noext", (None, False)),
    ],
)
def test_suffix_names_the_format_case_insensitively(key: str, expected: tuple[str | None, bool]) -> None:
    assert suffix_format(key) == expected


def test_pipeline_imports_nothing_from_aws() -> None:
    code = (
        "import sys, shipment_processor.pipeline, shipment_processor.validation, shipment_processor.formats; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('boto3', 'botocore')))"
    )
    env = {**os.environ, "PYTHONPATH": str(LAMBDA_SRC)}

    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)

    assert out.stdout.strip() == "[]"


def test_an_unterminated_json_string_is_described_without_a_doubled_at() -> None:
    (result,) = results(b'{"shipment_id": "abc\n', "x.jsonl")
    assert isinstance(result, Rejected)
    assert result.reason == "not valid JSON: Unterminated string starting at column 17"
    with pytest.raises(FileError, match=r"\(Unterminated string starting at line 1 column 18\)$") as error:
        results(b'[{"shipment_id": "abc', "x.json")
    assert " at at " not in str(error.value)
