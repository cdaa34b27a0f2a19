"""Resuming a file at a checkpoint reads exactly what a single pass would have read from that point on.

Every format, plain and gzip, stopped after every record (or a sample of them in large files), at awkward
places: right after the header, after a quoted CSV field spanning lines, at the last record, at records that
straddle the parser's 64 KiB reads, after a UTF-8 byte-order mark, with multi-byte characters before the
point, with blank and over-long lines, and in files whose remaining part breaks (the error names the same
place as a single pass would).
"""

from __future__ import annotations

import gzip
import io
import json
from collections.abc import Iterator

import pytest
from shipment_processor.config import Limits
from shipment_processor.formats import CHUNK_SIZE, ResumePoint
from shipment_processor.pipeline import FileError, Result, ResultStream, StreamStats

from .support import NOW, as_csv, as_json_array, as_ndjson, gz, record, records

DEFAULT_LIMITS = Limits()


class RangedSource:
    """An object in memory that answers ranged reads, as S3 does; counts how many bytes were fetched."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.fetched = 0

    def open(self, start: int = 0, end: int | None = None) -> io.BytesIO:
        piece = self.data[start:end]
        self.fetched += len(piece)
        return io.BytesIO(piece)


def single_pass(data: bytes, key: str, limits: Limits = DEFAULT_LIMITS) -> list[Result]:
    return list(ResultStream(RangedSource(data), key, limits, NOW))


def stopped_after(
    data: bytes, key: str, count: int, limits: Limits = DEFAULT_LIMITS
) -> tuple[list[Result], ResumePoint]:
    stream = ResultStream(RangedSource(data), key, limits, NOW)
    results = []
    for result in stream:
        results.append(result)
        if len(results) == count:
            break
    point = stream.resume_point()
    assert point is not None
    return results, point


def resumed(
    data: bytes, key: str, point: ResumePoint, before: int = 0, limits: Limits = DEFAULT_LIMITS
) -> list[Result]:
    return list(ResultStream(RangedSource(data), key, limits, NOW, resume=point, records_before=before))


def assert_every_boundary_resumes(data: bytes, key: str, step: int = 1) -> None:
    whole = single_pass(data, key)
    assert whole, "the file must hold records"
    for count in [*range(1, len(whole) + 1, step), len(whole)]:
        head, point = stopped_after(data, key, count)
        assert head == whole[:count]
        assert resumed(data, key, point, count) == whole[count:], f"resuming after {count} of {len(whole)}"


def variants(data: bytes, key: str) -> Iterator[tuple[bytes, str]]:
    yield data, key
    yield gz(data), key + ".gz"


MIXED = [
    record(0),
    record(1, status="LOST"),
    record(2, location='Zürich, "Hub"\nDock 4'),  # quoted field across two lines, quotes and a comma
    record(3, timestamp="yesterday"),
    record(4, location="東京"),
    record(5),
]


@pytest.mark.parametrize(
    ("data", "key"),
    [
        *variants(as_csv(MIXED), "incoming/a/mixed.csv"),
        *variants(as_ndjson(MIXED), "incoming/a/mixed.jsonl"),
        *variants(as_json_array(MIXED), "incoming/a/mixed.json"),
        *variants(as_json_array(MIXED, indent=2), "incoming/a/pretty.json"),
        *variants(b"\xef\xbb\xbf" + as_csv(MIXED).replace(b"\n", b"\r\n"), "incoming/a/bom-crlf.csv"),
        *variants(b"\xef\xbb\xbf" + as_json_array(MIXED), "incoming/a/bom.json"),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_resuming_after_any_record_reads_the_rest_exactly(data: bytes, key: str) -> None:
    assert_every_boundary_resumes(data, key)


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "json"])
def test_records_that_straddle_the_parsers_reads_resume_exactly(fmt: str) -> None:
    rows = [record(n, note="x" * (n % 97)) for n in range(3000)]
    data = {"csv": as_csv, "jsonl": as_ndjson, "json": as_json_array}[fmt](rows)
    assert len(data) > 4 * CHUNK_SIZE
    for body, key in variants(data, f"incoming/a/big.{fmt}"):
        assert_every_boundary_resumes(body, key, step=211)


def test_blank_lines_and_an_over_long_line_keep_their_line_numbers_after_resuming() -> None:
    lines = [json.dumps(record(0)), "", "   ", json.dumps(record(1)), "{" + '"x": "' + "y" * 70_000 + '"}', "",
             json.dumps(record(2))]  # fmt: skip
    data = ("\n".join(lines) + "\n").encode()
    whole = single_pass(data, "incoming/a/gaps.jsonl")
    assert [r.ref for r in whole] == [("line", 1), ("line", 4), ("line", 5), ("line", 7)]
    assert_every_boundary_resumes(data, "incoming/a/gaps.jsonl")


def test_right_after_the_csv_header_is_a_resume_point_and_the_columns_are_read_again() -> None:
    data = as_csv(records(3))
    stream = ResultStream(RangedSource(data), "incoming/a/x.csv", Limits(), NOW)
    first = next(iter(stream))
    point = stream.resume_point()
    assert point is not None and point.header_end == data.index(b"\n") + 1
    source = RangedSource(data)
    rest = list(ResultStream(source, "incoming/a/x.csv", Limits(), NOW, resume=point, records_before=1))
    assert [first, *rest] == single_pass(data, "incoming/a/x.csv")
    assert source.fetched == len(data) - point.offset + point.header_end, "only the header and the rest are read"


def test_a_plain_file_resumes_with_a_ranged_read_and_a_gzip_without_a_seek_point_from_its_start() -> None:
    data = as_ndjson(records(200))
    _, point = stopped_after(data, "x.jsonl", 150)
    plain, packed = RangedSource(data), RangedSource(gzip.compress(data))
    list(ResultStream(plain, "x.jsonl", Limits(), NOW, resume=point))
    list(
        ResultStream(
            packed, "x.jsonl.gz", Limits(), NOW, resume=ResumePoint(**{**_fields(point), "compression": "gzip"})
        )
    )
    assert plain.fetched == len(data) - point.offset
    assert packed.fetched == len(packed.data)


def _fields(point: ResumePoint) -> dict[str, object]:
    return {name: getattr(point, name) for name in point.__slots__}  # type: ignore[attr-defined]


def test_the_last_record_is_a_resume_point_after_which_nothing_is_read() -> None:
    for body, key in [*variants(as_csv(records(4)), "x.csv"), *variants(as_json_array(records(4)), "x.json")]:
        _, point = stopped_after(body, key, 4)
        assert resumed(body, key, point, 4) == []


def test_an_error_after_the_resume_point_names_the_same_place_as_a_single_pass() -> None:
    good = as_json_array(records(5), indent=2)
    broken = good[: good.rindex(b"}")] + b', "oops": }\n]'
    with pytest.raises(FileError) as whole:
        single_pass(broken, "x.json")
    _, point = stopped_after(broken, "x.json", 2)
    with pytest.raises(FileError) as later:
        resumed(broken, "x.json", point, 2)
    assert str(later.value) == str(whole.value)
    assert "line" in str(whole.value)


def test_max_records_counts_the_records_of_earlier_invocations() -> None:
    data = as_ndjson(records(10))
    limits = Limits(max_records=8)
    _, point = stopped_after(data, "x.jsonl", 6, limits)
    with pytest.raises(FileError, match="more than 8 records"):
        resumed(data, "x.jsonl", point, 6, limits)


def test_blank_lines_count_toward_max_records_so_a_blank_gzip_bomb_fails_fast() -> None:
    data = gz(as_ndjson(records(2)) + b"\n" * 5_000_000)
    stats = StreamStats()
    with pytest.raises(FileError, match="blank lines"):
        list(ResultStream(RangedSource(data), "x.jsonl.gz", Limits(max_records=1000), NOW, stats))
    assert stats.bytes_decompressed < 1_000_000, "it stops at the limit, not at the end of the file"


def test_blank_csv_rows_count_toward_max_records_across_a_resume() -> None:
    data = as_csv(records(3)) + b"\n" * 10 + as_csv(records(3))[data_start(as_csv(records(3))) :]
    limits = Limits(max_records=12)
    _, point = stopped_after(data, "x.csv", 3, limits)
    assert point.blank_lines == 0
    with pytest.raises(FileError, match="MAX_RECORDS"):
        resumed(data, "x.csv", point, 3, limits)


def data_start(csv_bytes: bytes) -> int:
    return csv_bytes.index(b"\n") + 1


def test_a_plain_body_can_be_read_once_from_its_start_only() -> None:
    from shipment_processor.formats import BytesSource, iter_raw_records  # noqa: PLC0415

    source = BytesSource(io.BytesIO(b"x"))
    assert source.open().read() == b"x"
    with pytest.raises(ValueError, match="once"):
        source.open()
    assert len(list(iter_raw_records(io.BytesIO(as_ndjson(records(3))), "x.jsonl", Limits()))) == 3


def test_a_single_json_object_has_nothing_after_it_to_resume() -> None:
    stream = ResultStream(RangedSource(json.dumps(record(1)).encode()), "x.json", Limits(), NOW)
    assert len(list(stream)) == 1
    assert stream.resume_point() is None


def test_a_resume_point_that_does_not_match_the_object_fails_clearly() -> None:
    data = as_csv(records(5))
    _, point = stopped_after(data, "x.csv", 2)
    shorter = data[: point.header_end - 3]
    from shipment_processor.formats import StreamReadError  # noqa: PLC0415

    with pytest.raises(StreamReadError, match="header row should be"):
        resumed(shorter, "x.csv", point, 2)
    packed = gzip.compress(data[:10])
    with pytest.raises(FileError, match="ends before offset"):
        resumed(packed, "x.csv.gz", ResumePoint(**{**_fields(point), "compression": "gzip"}), 2)
