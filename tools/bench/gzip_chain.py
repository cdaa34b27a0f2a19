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
import math
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
FRESH_TABLE_WRU_S = 4_000  # a new on-demand table's write throughput, before it has served a higher peak


@dataclass
class Chain:
    invocations: int = 0
    read_cpu_s: float = 0.0
    records: int = 0
    fetched: int = 0
    decompressed: int = 0
    finished: bool = False
    resume_cpu_s: float = 0.0  # the continuations' CPU before their first record: open, seek, prime, skip
    last_cpu_s: float = 0.0  # the last invocation's CPU, writes charged

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
                if chain.records == before and resume is not None:
                    chain.resume_cpu_s += time.process_time() - started
                chain.records += 1
                if not (chain.records - before) % 64 and spent() >= budget_cpu_s:
                    outcome = "stopped"
                    break
        except OutOfTime:
            outcome = "stopped" if chain.records > before else "stuck"  # the function fails a chain stuck so
        chain.read_cpu_s += time.process_time() - started
        chain.last_cpu_s = spent()
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
    largest_gzips(ctx, report)


# Memory sizes of the largest-gzip rows; at 1,769 MB and above the reader (one thread) has a whole core.
MEMORY_SIZES = (128, 256, 512, 1024, 1769)


def budget_for(memory_mb: int) -> float:
    """CPU-seconds one invocation of the default timeout reads for, at ``memory_mb``'s share (one core at most)."""
    from tools.emulator.aws.lambda_.cpu_share import share_for  # noqa: PLC0415

    return (TIMEOUT_S - MARGIN_S) * min(share_for(memory_mb), 1.0)


def largest_gzips(ctx: Any, report: Report) -> None:
    """The largest gzips the default limits admit, run across a chain at 256 MB; other memory sizes from its CPU.

    Two shapes: records as short as the bench's (MAX_RECORDS binds first) and records with a 330-byte notes
    column (MAX_DECOMPRESSED_BYTES or MAX_OBJECT_BYTES binds first).
    """
    from shipment_processor.config import INTEGER_SETTINGS, Limits  # noqa: PLC0415

    limits, max_chain = Limits(), INTEGER_SETTINGS["MAX_INVOCATIONS"][2]
    records, content, compressed = ctx.sizes.largest_limits or (
        limits.max_records, limits.max_decompressed_bytes, limits.max_object_bytes)  # fmt: skip
    for notes in (0, 330):
        ctx.log(f"case 6: the largest gzip within {records:,} records, {content / MIB:,.0f} MiB of content and "
                f"{compressed / MIB:,.0f} MiB compressed, notes of {notes} bytes (generated once, cached)")  # fmt: skip
        path = inputs.limit_gzip(ctx.inputs, records=records, content=content, compressed=compressed, notes=notes)
        size, packed, count = inputs.content_size(path), path.stat().st_size, inputs.record_count(path)
        nearest, bound = max((count / records, "MAX_RECORDS"), (size / content, "MAX_DECOMPRESSED_BYTES"),
                             (packed / compressed, "MAX_OBJECT_BYTES"))  # fmt: skip
        within = count <= records and size <= content and packed <= compressed
        if nearest < 0.97:  # another record (or chunk of them) would not have crossed any limit
            bound = "no limit"
        ctx.log(f"case 6: {count:,} records, {size / MIB:,.0f} MiB of content in {packed / MIB:,.0f} MiB: reading "
                "it across invocations at 256 MB")  # fmt: skip
        chain = run_chain(path, f"incoming/bench/largest-{notes}.csv.gz", budget_for(MEMORY_MB))
        resumes = max(chain.invocations - 1, 1)
        resume_s = chain.resume_cpu_s / resumes
        minutes = ((chain.invocations - 1) * (TIMEOUT_S - MARGIN_S) + chain.last_cpu_s / budget_for(MEMORY_MB)
                   * (TIMEOUT_S - MARGIN_S)) / 60  # fmt: skip
        exact = chain.finished and chain.records == count
        # A fresh on-demand table stores FRESH_TABLE_WRU_S one-unit items a second: no invocation stores more than
        # that over its reading time, whatever its CPU.
        table_bound = math.ceil(count / (FRESH_TABLE_WRU_S * (TIMEOUT_S - MARGIN_S)))
        report.add(
            Row(
                "6 largest gzip",
                f"the largest gzip the defaults admit, {bound} binding{'' if within else ' (OVER A LIMIT)'}: "
                f"{count:,} records of "
                f"{size / max(count, 1):.0f} bytes, {size / MIB:,.0f} MiB of content in {packed / MIB:,.0f} MiB, "
                f"at 256 MB / 30 s under the CPU share",
                f"{chain.invocations} invocations, {chain.cpu_s:,.0f} CPU-s ({chain.read_cpu_s:,.0f} reading, "
                f"measured; the rest writes charged), {resume_s * 1000:.0f} ms per resume; fetched "
                f"{chain.fetched / packed:.2f}x, decompressed {chain.decompressed / size:.2f}x; about {minutes:.0f} "
                "minutes where the table keeps up, "
                f"at least {table_bound} invocations on a fresh on-demand table"
                f"{'' if exact else f', NOT finished ({chain.records:,} of {count:,} records)'}",
                f"MAX_INVOCATIONS = {max_chain}",
                f"{chain.invocations / max_chain:.2f} of it",
                "at a limit and within all three; finishes exact, within 1.2x decompressed and 1.5x fetched",
                within
                and bound != "no limit"
                and exact
                and chain.decompressed <= 1.2 * size
                and chain.fetched <= 1.5 * packed,
            )
        )
        work = chain.cpu_s - chain.resume_cpu_s  # one pass's CPU, writes charged; each resume costs resume_s more
        sizes, finish = [], True
        for memory in MEMORY_SIZES:
            budget = budget_for(memory)
            needed = math.ceil(work / (budget - resume_s)) if budget > resume_s else max_chain + 1
            wall = (needed - 1) * (TIMEOUT_S - MARGIN_S) + (work - (needed - 1) * (budget - resume_s)) / budget * (
                TIMEOUT_S - MARGIN_S)  # fmt: skip
            finish = finish and needed <= max_chain
            sizes.append(f"{memory} MB: {needed} invocations, {wall / 60:.0f} min" if needed <= max_chain
                         else f"{memory} MB: does not finish ({needed} invocations needed)")  # fmt: skip
        verdict = (
            f"Every memory size finishes it within MAX_INVOCATIONS = {max_chain}, so at the defaults the limits, not "
            "the memory size, bound the largest gzip."
            if finish
            else f"Memory sizes that need more than MAX_INVOCATIONS = {max_chain} invocations do not finish it."
        )
        report.note(
            f"Case 6, the largest gzip with {bound} binding ({count:,} records, {size / MIB:,.0f} MiB of content, "
            f"{packed / MIB:,.0f} MiB compressed): run at 256 MB it took {chain.invocations} invocations. At other "
            f"memory sizes of the default 30 s timeout, from this run's CPU ({work:,.0f} CPU-s for one pass: "
            f"{chain.read_cpu_s - chain.resume_cpu_s:,.0f} measured reading, {count * WRITE_CPU_S_PER_RECORD:,.0f} "
            f"for the writes at a charged {WRITE_CPU_S_PER_RECORD * 1e6:.0f} us/record, the direct write path's "
            f"cost in the write-path table; plus {resume_s * 1000:.0f} ms per resume), the same file needs, where "
            f"the table keeps up: {'; '.join(sizes)} (1,769 MB and more: one core, the reader's thread). {verdict} "
            f"A fresh on-demand table ({FRESH_TABLE_WRU_S:,} WRU/s) stores at most "
            f"{FRESH_TABLE_WRU_S * (TIMEOUT_S - MARGIN_S):,} one-unit items per invocation, so there the file takes "
            f"at least {table_bound} invocations ({count / FRESH_TABLE_WRU_S / 60:,.0f} minutes) at any memory size."
        )
