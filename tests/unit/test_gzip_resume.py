"""A gzip file resumes at a deflate block boundary near its checkpoint, never again from byte 0.

Checkpoints fall inside a member, at a member boundary, inside a multi-byte character and between CR and LF; the
records read after resuming are exactly those of a single pass, in every format, and a chain of invocations
decompresses and fetches the file about once.
"""

from __future__ import annotations

import gzip
import itertools
import zlib
from collections.abc import Iterator
from typing import Any

import pytest
from shipment_processor import formats, seekable_gzip
from shipment_processor.config import Limits
from shipment_processor.formats import ResumePoint, _RangedReads
from shipment_processor.pipeline import FileError, ResultStream
from shipment_processor.seekable_gzip import SeekableGunzip, SeekPoint

from .support import (
    NOW,
    Context,
    FaultyDynamoDB,
    S3Limits,
    ShortContext,
    World,
    as_csv,
    as_json_array,
    as_ndjson,
    emf_documents,
    record,
)
from .test_resumable import SimulatedTimeout, mixed
from .test_resume import MIXED, RangedSource, assert_every_boundary_resumes, single_pass, stopped_after


@pytest.fixture
def every_boundary(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every deflate block boundary becomes a seek point (normally at most one per 64 KiB of output), so that
    the small files here are entered at exactly the awkward places they were built with."""
    monkeypatch.setattr(seekable_gzip, "SPAN", 1)


def blocks_at(data: bytes, cuts: list[int], mode: int = zlib.Z_BLOCK) -> bytes:
    """One gzip member whose deflate blocks end at the content offsets ``cuts`` (Z_BLOCK: often mid-byte)."""
    packer = zlib.compressobj(6, zlib.DEFLATED, 31)
    edges = [0, *cuts]
    parts = [packer.compress(data[a:b]) + packer.flush(mode) for a, b in itertools.pairwise(edges)]
    return b"".join(parts) + packer.compress(data[edges[-1] :]) + packer.flush()


def members_at(data: bytes, cuts: list[int]) -> bytes:
    """A multi-member gzip (concatenated gzip files) whose members end at the content offsets ``cuts``."""
    edges = [0, *cuts, len(data)]
    return b"".join(gzip.compress(data[a:b], mtime=0) for a, b in itertools.pairwise(edges))


def all_of(data: bytes, needle: bytes, shift: int) -> list[int]:
    places, start = [], 0
    while (found := data.find(needle, start)) >= 0:
        places.append(found + shift)
        start = found + 1
    return places


CRLF = as_csv(MIXED).replace(b"\n", b"\r\n")
NDJSON = as_ndjson(MIXED)
ARRAY = as_json_array(MIXED, indent=2)


def awkward() -> Iterator[Any]:
    for name, data, key in (("csv", CRLF, "m.csv.gz"), ("ndjson", NDJSON, "m.jsonl.gz"), ("json", ARRAY, "m.json.gz")):
        inside = list(range(5, len(data), 23))
        records_end = all_of(data, b"\n", 1)
        multibyte = all_of(data, "ü".encode(), 1) + all_of(data, "東".encode(), 2)
        cr_lf = all_of(data, b"\r\n", 1)
        yield pytest.param(blocks_at(data, inside), key, inside, id=f"{name}-inside-a-member")
        yield pytest.param(members_at(data, records_end), key, records_end, id=f"{name}-at-member-boundaries")
        yield pytest.param(members_at(data, inside), key, inside, id=f"{name}-members-cut-mid-record")
        yield pytest.param(blocks_at(data, multibyte), key, multibyte, id=f"{name}-blocks-in-a-character")
        yield pytest.param(members_at(data, multibyte), key, multibyte, id=f"{name}-members-in-a-character")
        if cr_lf:
            yield pytest.param(blocks_at(data, cr_lf), key, cr_lf, id=f"{name}-blocks-between-cr-and-lf")
            yield pytest.param(members_at(data, cr_lf), key, cr_lf, id=f"{name}-members-between-cr-and-lf")


@pytest.mark.usefixtures("every_boundary")
@pytest.mark.parametrize(("packed", "key", "cuts"), list(awkward()))
def test_a_gzip_resumes_exactly_from_seek_points_at_awkward_places(packed: bytes, key: str, cuts: list[int]) -> None:
    assert_every_boundary_resumes(packed, key)

    entered = set()
    for count in range(1, len(single_pass(packed, key))):
        _, point = stopped_after(packed, key, count)
        assert point.seek is not None
        seek = SeekPoint.decode(point.seek)
        assert seek.uout <= point.offset
        entered.add(seek.uout)
    assert entered & set(cuts), "the resumes entered the gzip at the boundaries the file was built with"


def test_a_resumed_gzip_fetches_from_the_seek_point_and_decompresses_only_the_rest() -> None:
    data = as_ndjson(record(n, note=f"{n * 7919 % 100_003}" * 3) for n in range(30_000))
    packed = gzip.compress(data)
    _, point = stopped_after(packed, "x.jsonl.gz", 20_000)
    assert point.seek is not None
    seek = SeekPoint.decode(point.seek)
    source = RangedSource(packed)

    stats = formats.StreamStats()
    rest = list(ResultStream(source, "x.jsonl.gz", Limits(), NOW, stats, resume=point, records_before=20_000))

    assert len(rest) == 10_000
    assert source.fetched == len(packed) - seek.cin
    assert point.offset - seek.uout <= 2 * 1024 * 1024, "the skip is a block or so, not the content before it"
    assert stats.bytes_decompressed == len(data), "counted from the seek point on, the file's total is unchanged"


def test_a_csv_gzip_resumed_past_its_header_reads_the_header_with_a_short_ranged_read() -> None:
    data = as_csv(record(n, note=f"{n * 7919 % 100_003}" * 3) for n in range(30_000))
    packed = gzip.compress(data)
    whole = single_pass(packed, "x.csv.gz")
    _, point = stopped_after(packed, "x.csv.gz", 20_000)
    seek = SeekPoint.decode(point.seek or "")
    source = RangedSource(packed)

    rest = list(ResultStream(source, "x.csv.gz", Limits(), NOW, resume=point, records_before=20_000))

    assert rest == whole[20_000:]
    assert source.fetched <= len(packed) - seek.cin + 4 * 1024, "the rest, and one 4 KiB range for the header"


def test_the_start_of_an_object_is_read_in_growing_ranges_until_it_ends() -> None:
    data = bytes(range(256)) * 1000
    source = RangedSource(data)
    reads = _RangedReads(source)
    got = b"".join(iter(lambda: reads.read(10_000), b""))
    assert got == data
    assert reads.read(10) == b""
    assert source.fetched == len(data)


def test_a_gzip_with_trailing_garbage_fails_the_same_way_after_a_resume() -> None:
    data = as_ndjson(record(n, note=f"{n * 7919 % 100_003}" * 3) for n in range(20_000))
    packed = gzip.compress(data) + b"this is not gzip"
    whole: list[object] = []
    with pytest.raises(FileError, match=r"not valid gzip data: Not a gzipped file \(b'th'\)"):
        whole.extend(ResultStream(RangedSource(packed), "x.jsonl.gz", Limits(), NOW))
    assert len(whole) == 20_000, "every record before the garbage is read"
    head, point = stopped_after(packed, "x.jsonl.gz", 15_000)
    assert point.seek is not None
    resumed = ResultStream(RangedSource(packed), "x.jsonl.gz", Limits(), NOW, resume=point, records_before=15_000)
    got = []
    with pytest.raises(FileError, match=r"not valid gzip data: Not a gzipped file \(b'th'\)"):
        got.extend(resumed)
    assert head + got == whole


@pytest.mark.usefixtures("every_boundary")
def test_without_a_system_libz_a_gzip_resumes_from_its_start_exactly(monkeypatch: pytest.MonkeyPatch) -> None:
    packed = members_at(CRLF, all_of(CRLF, b"\r\n", 1))
    _, with_seek = stopped_after(packed, "m.csv.gz", 3)
    assert with_seek.seek is not None
    monkeypatch.setattr(seekable_gzip, "available", lambda: False)

    assert_every_boundary_resumes(packed, "m.csv.gz")
    _, point = stopped_after(packed, "m.csv.gz", 3)
    assert point.seek is None
    source = RangedSource(packed)
    rest = list(ResultStream(source, "m.csv.gz", Limits(), NOW, resume=with_seek, records_before=3))
    assert rest == single_pass(packed, "m.csv.gz")[3:], "a checkpoint's seek point is ignored, not misread"
    assert source.fetched == len(packed)


@pytest.mark.usefixtures("every_boundary")
@pytest.mark.parametrize(
    ("seek", "message"),
    [
        ("not a seek point", "the checkpoint's gzip seek point is unusable"),
        (SeekPoint(0, 10**9).encode(), "the checkpoint's gzip seek point lies after its offset"),
    ],
)
def test_a_checkpoint_whose_seek_point_is_unusable_fails_the_file_clearly(seek: str, message: str) -> None:
    packed = members_at(NDJSON, all_of(NDJSON, b"\n", 1))
    _, point = stopped_after(packed, "m.jsonl.gz", 2)
    bad = ResumePoint(**{**{n: getattr(point, n) for n in point.__slots__}, "seek": seek})  # type: ignore[attr-defined]
    with pytest.raises(FileError, match=message):
        list(ResultStream(RangedSource(packed), "m.jsonl.gz", Limits(), NOW, resume=bad, records_before=2))


# --- a chain of invocations through the handler --------------------------------------------------------------------


class CountingS3:
    """The (moto) S3 client, counting the bytes the function reads from the bodies of one key's GETs."""

    def __init__(self, real: Any, key: str) -> None:
        self._real, self._key = S3Limits(real), key
        self.fetched = 0
        self.gets = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def get_object(self, **kwargs: Any) -> Any:
        response = self._real.get_object(**kwargs)
        if kwargs["Key"] == self._key:
            self.gets += 1
            body, counter = response["Body"], self

            class Counted:
                def read(self, size: int = -1) -> bytes:
                    data = body.read(size)
                    counter.fetched += len(data)
                    return data

                def close(self) -> None:
                    body.close()

            response["Body"] = Counted()
        return response


def count_decompressed(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    total = [0]
    read = SeekableGunzip.read

    def counted(self: SeekableGunzip, size: int) -> bytes:
        data = read(self, size)
        total[0] += len(data)
        return data

    monkeypatch.setattr(SeekableGunzip, "read", counted)
    return total


def big_csv(count: int = 24_000) -> bytes:
    """About 290 bytes a record, with a long note that compresses about as shippers' data does (3:1)."""
    rows = [record(n, note=" ".join(f"{(n * 7919 + i) % 100_003:05d}" for i in range(40))) for n in range(count)]
    for n in range(0, count, 1000):
        rows[n] = record(n, status="LOST")
    return as_csv(rows)


@pytest.mark.no_cover
def test_a_chain_of_invocations_decompresses_and_fetches_a_gzip_about_once(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = big_csv()
    packed = gzip.compress(data)
    key = "incoming/acme/daily.csv.gz"
    control = world.process("incoming/control/daily.csv.gz", packed).item
    decompressed = count_decompressed(monkeypatch)
    s3 = CountingS3(world.s3, key)
    runtime = world.runtime(s3=s3)

    result = world.process_in_segments(key, packed, looks=40, runtime=runtime)

    assert result.item["invocations"] >= 10
    for name in ("processing_status", "records_total", "records_accepted", "records_rejected"):
        assert result.item[name] == control[name], name
    assert len(result.rejects) == result.item["records_rejected"] == 24
    assert len(emf_documents(result.stdout)) == 1
    assert [detail["key"] for detail in world.events.details].count(key) == 1, "one outcome event"
    assert decompressed[0] <= 1.2 * len(data), f"decompressed {decompressed[0] / len(data):.2f}x the content"
    assert s3.fetched <= 1.5 * len(packed), f"fetched {s3.fetched / len(packed):.2f}x the object"
    print(
        f"\n  {result.item['invocations']} invocations: decompressed {decompressed[0] / len(data):.3f}x of "
        f"{len(data):,} B, fetched {s3.fetched / len(packed):.3f}x of {len(packed):,} B in {s3.gets} GETs"
    )


def test_a_gzip_continuation_killed_then_delivered_twice_changes_nothing(world: World) -> None:
    data = big_csv(6000)
    key = "incoming/acme/twice.csv.gz"
    meta = world.put(key, gzip.compress(data))
    runtime = world.runtime()
    world.invoke(world.event((key, meta)), runtime, ShortContext("req-1", looks=25))
    (continuation,) = world.lambda_.queued
    world.lambda_.queued.clear()
    assert world.metadata(key)[0]["checkpoint"]["resume"]["seek"], "the checkpoint carries the gzip's seek point"
    dying = FaultyDynamoDB(world.dynamodb, fail_after=3, error=SimulatedTimeout())

    with pytest.raises(SimulatedTimeout):
        world.invoke(continuation, world.runtime(dynamodb=dying), ShortContext("req-c2", looks=25))
    world.invoke(continuation, runtime, ShortContext("req-c2", looks=25))  # Lambda's retry of the continuation
    duplicate = world.invoke(continuation, runtime, Context("req-c2-again"))  # async delivery is at least once
    world.drain(runtime, looks=25)
    again = world.invoke(world.event((key, meta)), runtime, Context("req-9"))  # and so is the S3 event's

    assert duplicate["files"][0]["status"] in ("DUPLICATE", "IN_PROGRESS")
    assert again["files"][0]["status"] == "DUPLICATE"
    result = world.observe(key, stdout=world.capsys.readouterr().out)
    assert (result.item["records_total"], result.item["interrupted_invocations"]) == (6000, 1)
    assert result.item["invocations"] >= 3
    assert len(emf_documents(result.stdout)) == 1
    assert [detail["key"] for detail in world.events.details] == [key]


def chain_inputs() -> Iterator[Any]:
    rows = mixed(700)
    crlf = as_csv(rows).replace(b"\n", b"\r\n")
    yield pytest.param(members_at(crlf, all_of(crlf, b"\r\n", 1)[::5]), ".csv.gz", id="csv-members-between-cr-and-lf")
    yield pytest.param(members_at(crlf, list(range(101, len(crlf), 997))), ".csv.gz", id="csv-members-mid-record")
    lines = as_ndjson(rows)
    multibyte = all_of(lines, "ü".encode(), 1)[::3]
    yield pytest.param(blocks_at(lines, multibyte), ".jsonl.gz", id="ndjson-blocks-inside-characters")
    array = as_json_array(rows, indent=2)
    yield pytest.param(blocks_at(array, list(range(50, len(array), 3001))), ".json.gz", id="json-blocks-mid-item")


@pytest.mark.usefixtures("every_boundary")
@pytest.mark.parametrize(("packed", "suffix"), list(chain_inputs()))
def test_a_gzip_processed_in_many_invocations_ends_exactly_like_one_pass(
    world: World, packed: bytes, suffix: str
) -> None:
    control = world.process(f"incoming/control/awkward{suffix}", packed).item

    result = world.process_in_segments(f"incoming/acme/awkward{suffix}", packed, looks=3)

    assert result.item["invocations"] >= 5
    for name in ("processing_status", "records_total", "records_accepted", "records_rejected", "format"):
        assert result.item[name] == control[name], name
    assert result.item["records_rejected"] == len(result.rejects) == 41
    refs = [line.get("line", line.get("index")) for line in result.rejects]
    assert refs == sorted(refs), "one report, in file order, with line numbers and indexes that run on"
    assert len(emf_documents(result.stdout)) == 1
    assert "checkpoint" not in result.item
