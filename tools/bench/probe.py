"""What the benchmark runs in fresh processes (memory peaks, import times). Stdlib only at import time.

    python -m tools.bench.probe stream <file> <key>   # the pipeline over a body read from disk in 1 MiB chunks
    python -m tools.bench.probe whole <file> <key>    # baseline: read the whole object, then parse it at once
    python -m tools.bench.probe imports               # import boto3, then the handler, timing each
    python -m tools.bench.probe timed <file> <key> [profile.json]   # the pipeline over bytes in memory, timed

`shipment_processor` must be importable (the parent sets PYTHONPATH). Each command prints one JSON line. Peak
memory is the kernel's high-water mark of this process's resident set (VmHWM): `ru_maxrss` is not used because
after fork+exec it also counts the resident memory the parent had when it forked.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import UTC, datetime

SOURCE_CHUNK = 1 << 20  # the body fetches from its source 1 MiB at a time, as a network stream would
NOW = datetime(2024, 3, 1, tzinfo=UTC)  # after every generated timestamp: the bench never depends on the clock
# The deployed default MAX_RECORDS (10,000,000) is what the memory case streams under.
MAX_RECORDS = 10_000_000


def peak_rss_mib() -> float:
    """VmHWM of this process in MiB."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def stream(path: str, key: str) -> dict[str, object]:
    from shipment_processor.config import Limits  # noqa: PLC0415 - measured process: import only what runs
    from shipment_processor.pipeline import Accepted, StreamStats, stream_results  # noqa: PLC0415

    accepted = rejected = 0
    stats = StreamStats()
    started = time.perf_counter()
    with open(path, "rb", buffering=SOURCE_CHUNK) as body:
        for result in stream_results(body, key, Limits(max_records=MAX_RECORDS), NOW, stats):
            if isinstance(result, Accepted):
                accepted += 1
            else:
                rejected += 1
    return {
        "records": accepted + rejected,
        "accepted": accepted,
        "seconds": time.perf_counter() - started,
        "bytes_decompressed": stats.bytes_decompressed,
    }


def whole(path: str, key: str) -> dict[str, object]:
    """The original handler's way: body.read() of everything, decompress, decode, parse into a list of rows."""
    import csv  # noqa: PLC0415 - kept out of the import-time probe's process
    import gzip  # noqa: PLC0415
    import io  # noqa: PLC0415

    started = time.perf_counter()
    with open(path, "rb") as body:
        data = body.read()
    if key.endswith(".gz"):
        data = gzip.decompress(data)
    text = data.decode("utf-8")
    records = list(csv.DictReader(io.StringIO(text)))
    return {"records": len(records), "seconds": time.perf_counter() - started, "bytes_decompressed": len(data)}


def timed(path: str, key: str, profile_path: str | None = None, rounds: int = 3) -> dict[str, object]:
    """Seconds of the pipeline over the file's bytes already in memory (no I/O), the best of ``rounds``."""
    import io  # noqa: PLC0415

    from shipment_processor.config import Limits  # noqa: PLC0415
    from shipment_processor.pipeline import stream_results  # noqa: PLC0415

    options: dict[str, object] = {}
    if profile_path:
        from shipment_processor.profiles import parse_profile  # noqa: PLC0415

        with open(profile_path, encoding="utf-8") as document:
            options["profile"] = parse_profile("bench", document.read())
    with open(path, "rb") as body:
        data = body.read()
    best, records = float("inf"), 0
    for _ in range(rounds):
        started = time.perf_counter()
        records = sum(1 for _ in stream_results(io.BytesIO(data), key, Limits(max_records=MAX_RECORDS), NOW, **options))
        best = min(best, time.perf_counter() - started)
    return {"records": records, "seconds": best}


def imports() -> dict[str, object]:
    started = time.perf_counter()
    import boto3  # noqa: F401, PLC0415 - the point is to time it

    boto3_done = time.perf_counter()
    import shipment_processor.handler  # noqa: F401, PLC0415

    handler_done = time.perf_counter()
    return {"boto3_s": boto3_done - started, "handler_s": handler_done - boto3_done}


def main(argv: list[str]) -> int:
    command, *args = argv
    if command == "stream":
        result = stream(args[0], args[1])
    elif command == "whole":
        result = whole(args[0], args[1])
    elif command == "imports":
        result = imports()
    elif command == "timed":
        result = timed(args[0], args[1], args[2] if len(args) > 2 else None)
    else:
        raise SystemExit(f"unknown probe {command!r}")
    result["peak_rss_mib"] = peak_rss_mib()
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
