"""20 000-record files of every multi-record format, end to end through the handler and moto.

These are scale and throughput tests, so coverage tracing is off for them (``no_cover``): under the tracer moto
runs 3-4 times slower, which would distort the measured rate and dominate the suite's runtime. Every line they
exercise is covered by the smaller tests.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from .support import World, as_csv, as_json_array, as_ndjson, gz, record

COUNT = 20_000  # across invocations at Lambda's CPU share: tests/integration (12k records), make bench (300k)
BAD = COUNT // 5_000


def big_rows() -> list[dict[str, Any]]:
    rows = [record(n, prefix="BIG", location=None, carrier=None) for n in range(COUNT)]
    for n in range(0, COUNT, 5_000):
        rows[n] = record(n, prefix="BIG", location=None, carrier=None, status="MISPLACED")
    return rows


@pytest.mark.no_cover
@pytest.mark.parametrize(
    ("fmt", "key", "encode"),
    [
        ("csv", "incoming/bulk/day.csv", as_csv),
        ("ndjson", "incoming/bulk/day.jsonl.gz", lambda rows: gz(as_ndjson(rows))),
        ("json_array", "incoming/bulk/day.json", as_json_array),
    ],
)
def test_a_20000_record_file_is_fully_stored(
    world: World,
    capsys: pytest.CaptureFixture[str],
    fmt: str,
    key: str,
    encode: Callable[[list[dict[str, Any]]], bytes],
) -> None:
    data = encode(big_rows())

    meta = world.put(key, data)

    started, cpu_started = time.perf_counter(), time.process_time()
    world.invoke(world.event((key, meta)))
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started

    result = world.observe(key)

    assert result.status == "PARTIAL"
    assert result.item["format"] == fmt
    assert (result.item["records_accepted"], result.item["records_rejected"]) == (COUNT - BAD, BAD)
    assert {event["shipment_id"] for event in result.events} == {f"BIG-{n:06d}" for n in range(COUNT) if n % 5_000}
    assert [line.get("line", line.get("index")) for line in result.rejects][:2] in ([2, 5002], [1, 5001], [0, 5000])
    with capsys.disabled():  # a measurement, not an assertion: the machine may be shared
        print(
            f"\n  {COUNT} {fmt} records through the handler in mock_aws: {seconds:.1f} s wall "
            f"({COUNT / seconds:,.0f} records/s), {cpu_seconds:.1f} s CPU ({COUNT / cpu_seconds:,.0f} records/CPU-s)"
        )
