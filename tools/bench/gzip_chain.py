"""Case 6: a CSV and the gzip of the same CSV, read across a chain of invocations at the defaults.

The chain runs the function's real reader (``ResultStream``: fetch, decompress, parse, validate) in this process,
one "invocation" after another, each resuming from the previous one's checkpoint after a JSON round trip (as it
travels through DynamoDB). An invocation ends when its CPU reaches the budget of the default 256 MB / 30 s
function at Lambda's CPU share: (30 s - the 5 s checkpoint margin) x 0.145 = 3.6 CPU-seconds. The reading CPU is
measured; storing the events is not run here, so each stored record is charged ``WRITE_CPU_S_PER_RECORD``, the
function's measured write-path cost. Three chains run on the same content: the plain CSV, the gzip resumed at
seek points, and the gzip resumed from byte 0 (no seek points: the path before issue 23).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tools.bench import inputs
from tools.bench.probe import NOW
from tools.bench.report import Report, Row

MIB = 1 << 20
TIMEOUT_S, MARGIN_S, MEMORY_MB = 30, 5, 256  # the module's defaults
WRITE_CPU_S_PER_RECORD = 20e-6  # the direct write path's ~28 us/record end to end, minus ~8 us of parse + validate
MAX_CHAIN = 500  # MAX_INVOCATIONS


@dataclass
class Chain:
    invocations: int = 0
    read_cpu_s: float = 0.0
    records: int = 0
    fetched: int = 0
    decompressed: int = 0
    finished: bool = False

    @property
    def cpu_s(self) -> float:
        return self.read_cpu_s + self.records * WRITE_CPU_S_PER_RECORD


class FileSource:
    """The object on disk, read with ranged opens as S3 serves them; counts the bytes read."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fetched = 0

    def open(self, start: int = 0, end: int | None = None) -> Any:
        handle = self.path.open("rb")
        handle.seek(start)
        source, left = self, None if end is None else max(0, end - start)

        class Body:
            def read(self, size: int = -1) -> bytes:
                nonlocal left
                want = size if left is None else min(size, left)
                data = handle.read(want) if want else b""
                if left is not None:
                    left -= len(data)
                source.fetched += len(data)
                return data

        return Body()


def run_chain(path: Path, key: str, budget_cpu_s: float) -> Chain:
    """Read ``path`` in invocations of ``budget_cpu_s`` each; stop at MAX_CHAIN or when one reads nothing."""
    from shipment_processor.config import Limits  # noqa: PLC0415 - the measured sources are on sys.path by now
    from shipment_processor.formats import OutOfTime, ResumePoint  # noqa: PLC0415
    from shipment_processor.pipeline import ResultStream, StreamStats  # noqa: PLC0415

    chain, resume = Chain(), None
    source = FileSource(path)
    while chain.invocations < MAX_CHAIN:
        chain.invocations += 1
        started, before = time.process_time(), chain.records

        def spent(started: float = started, before: int = before) -> float:
            return time.process_time() - started + (chain.records - before) * WRITE_CPU_S_PER_RECORD

        stats = StreamStats()
        stream = ResultStream(source, key, Limits(), NOW, stats, resume=resume, records_before=before,
                              out_of_time=lambda: spent() >= budget_cpu_s)  # fmt: skip
        outcome = "end"
        try:
            for _ in stream:
                chain.records += 1
                if not (chain.records - before) % 64 and spent() >= budget_cpu_s:
                    outcome = "stopped"
                    break
        except OutOfTime:
            outcome = "stopped" if chain.records > before else "stuck"  # the function fails a chain stuck so
        chain.read_cpu_s += time.process_time() - started
        chain.decompressed += stats.bytes_decompressed - (_seek_start(resume) if resume else 0)
        if outcome != "stopped":
            chain.finished = outcome == "end"
            break
        point = stream.resume_point()
        assert point is not None
        resume = ResumePoint(**json.loads(json.dumps(asdict(point))))  # through the checkpoint, as stored
    chain.fetched = source.fetched
    return chain


def _seek_start(resume: Any) -> int:
    """Where a resumed read's decompressed-byte count starts: the seek point's content offset, or 0."""
    from shipment_processor import formats  # noqa: PLC0415

    if resume.compression != "gzip":
        return resume.offset
    point = formats._seek_point(resume)  # the bench measures the reader's own choice
    return point.uout if point else 0


def gzip_chain(ctx: Any, report: Report) -> None:
    """Case 6 (issue 23): invocations and CPU of a gzip against its plain CSV, and the largest gzip that finishes."""
    from shipment_processor import seekable_gzip  # noqa: PLC0415

    from tools.emulator.aws.lambda_.cpu_share import share_for  # noqa: PLC0415

    count = ctx.sizes.gzip_records
    plain = inputs.records_file(ctx.inputs, "csv", count)
    packed = inputs.gzipped(plain)
    content, compressed = plain.stat().st_size, packed.stat().st_size
    share = share_for(MEMORY_MB)
    budget = (TIMEOUT_S - MARGIN_S) * share
    ctx.log(f"case 6: {count:,}-record CSV ({content / MIB:.1f} MiB) and its gzip ({compressed / MIB:.1f} MiB)")
    chains = {"CSV": run_chain(plain, "incoming/bench/chain.csv", budget)}
    chains["gzip"] = run_chain(packed, "incoming/bench/chain.csv.gz", budget)
    available = seekable_gzip.available
    seekable_gzip.available = lambda: False  # type: ignore[assignment]
    try:
        chains["gzip, no seek points"] = run_chain(packed, "incoming/bench/chain.csv.gz", budget)
    finally:
        seekable_gzip.available = available  # type: ignore[assignment]
    base = chains["CSV"]
    for label, chain in chains.items():
        size = compressed if label.startswith("gzip") else content
        report.add(
            Row(
                "6 gzip chain",
                f"{count:,}-record {label} ({size / MIB:.1f} MiB) read across invocations at 256 MB / 30 s under "
                f"the CPU share ({share:.3f} core, {budget:.1f} CPU-s each; writes charged "
                f"{WRITE_CPU_S_PER_RECORD * 1e6:.0f} us/record)",
                f"{chain.invocations} invocations, {chain.cpu_s:.1f} CPU-s ({chain.read_cpu_s:.1f} reading); "
                f"fetched {chain.fetched / size:.2f}x, decompressed {chain.decompressed / content:.2f}x the content; "
                f"{chain.records:,} records{'' if chain.finished else ', NOT finished'}",
                f"CSV: {base.invocations} invocations, {base.cpu_s:.1f} CPU-s",
                f"{chain.cpu_s / base.cpu_s:.2f}x the CPU of the CSV",
                "gzip within 1.2x decompressed, 1.5x fetched" if label == "gzip" else "-",
                (chain.decompressed <= 1.2 * content and chain.fetched <= 1.5 * compressed and chain.finished)
                if label == "gzip"
                else None,
            )
        )
    gz = chains["gzip"]
    per_invocation = content / max(gz.invocations - 1, 1) if gz.invocations > 1 else float(content)
    largest = min(2 * 1024 * MIB, MAX_CHAIN * per_invocation)
    report.note(
        f"Case 6: the gzip at seek points took {gz.invocations} invocations against {base.invocations} for the CSV. "
        f"At about {per_invocation / MIB:.1f} MiB of content per invocation, the largest gzip the defaults finish is "
        f"min(MAX_DECOMPRESSED_BYTES = 2 GiB, 500 invocations x that) = {largest / MIB:,.0f} MiB of content, in about "
        f"{largest / per_invocation:.0f} invocations ({largest / per_invocation * TIMEOUT_S / 60:.0f} minutes): "
        "derived from this run's rate, not run. Without seek points every continuation first decompresses the "
        "content before its checkpoint again, which is the third row."
    )
