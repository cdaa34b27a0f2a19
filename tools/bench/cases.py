"""The six benchmark cases. Each one measures ours and its baseline in the same run, on the same inputs."""

from __future__ import annotations

import contextlib
import csv
import gc
import io
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import time
import uuid
import zipfile
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from tools.bench import gzip_chain, inputs
from tools.bench.probe import NOW
from tools.bench.report import Report, Row, median, rate, spread
from tools.emulator import local_aws
from tools.packager import lambda_zip

ROOT = Path(__file__).resolve().parents[2]
MIB = 1 << 20
LAMBDA_ZIP_LIMIT = 50 * 1000 * 1000  # direct-upload limit for a zipped deployment package
FAKE_CREDENTIALS = {"aws_access_key_id": "bench", "aws_secret_access_key": "bench"}
REGION = "eu-west-1"


@dataclass
class Sizes:
    """How big each case is; ``quick`` shrinks everything for a smoke run."""

    parse_records: int = 1_000_000
    parse_repeats: int = 3
    budget_s: float = 560.0  # case 1 runs last and starts no round that would end past this (make bench: < 600 s)
    memory_bytes: int = 200 * MIB
    store_items: int = 20_000
    store_repeats: int = 3
    naive_repeats: int = 1
    e2e_records: int = 300_000
    e2e_repeats: int = 1
    import_repeats: int = 7
    e2e_files: tuple[str, ...] = ("csv", "gzip")  # case 4's files: the CSV, a gzip of other updates
    gzip_records: int = 1_200_000  # case 6: a CSV and its gzip read across invocations (about 12 at the defaults)
    # case 6's largest gzips: (records, content, compressed) limits; None: the function's defaults
    largest_limits: tuple[int, int, int] | None = None

    @classmethod
    def quick(cls) -> Sizes:
        return cls(20_000, 2, 120.0, 4 * MIB, 1_000, 2, 1, 5_000, 1, 3, gzip_records=20_000,
                   largest_limits=(30_000, 8 * MIB, 4 * MIB))  # fmt: skip

    def store_source_records(self) -> int:
        """Records to read for ``store_items`` accepted ones (about 1 % of the generated records are invalid)."""
        return self.store_items + self.store_items // 20 + 10


@dataclass
class Context:
    src: Path
    work: Path
    sizes: Sizes
    log: Callable[[str], None]
    server: local_aws.Server | None = None
    deployment: Future[Any] | None = None
    zip_path: Path | None = None
    started: float = field(default_factory=time.monotonic)

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    @property
    def inputs(self) -> Path:
        return self.work / "inputs"

    @property
    def state_dir(self) -> Path:
        return self.work / "local"

    def endpoint(self) -> str:
        """The bench's own local AWS (started on first use, in its own state directory)."""
        if self.server is None:
            self.log(f"starting the local AWS (state {self.state_dir})")
            # case 4 runs files through the event-driven local runtime, as a shipper's upload is processed
            self.server = local_aws.start(self.state_dir)
        return self.server.endpoint

    def deploy_in_background(self) -> None:
        """Start the Terraform apply of case 4 now (it mostly waits on moto), to overlap it with case 2."""
        from tools.emulator import local_deploy  # noqa: PLC0415 - only case 4 needs Terraform

        zip_path, endpoint = self.package(), self.endpoint()
        self.log("case 4 setup: terraform apply of the root to the bench's local AWS (in the background)")
        pool = ThreadPoolExecutor(1, thread_name_prefix="deploy")
        self.deployment = pool.submit(
            local_deploy.deploy, endpoint, self.state_dir, package=zip_path, skip_lifecycle=True, say=self.log
        )
        pool.shutdown(wait=False)

    def close(self) -> None:
        if self.deployment is not None:
            self.deployment.cancel()
            with contextlib.suppress(Exception):
                self.deployment.result()
        if self.server is not None:
            local_aws.stop(self.state_dir)
            self.server = None

    def package(self) -> Path:
        """The Lambda zip built from ``src`` with tools/packager, once per run (cases 4 and 5 measure the same)."""
        if self.zip_path is None:
            self.zip_path = lambda_zip.build(self.src, self.work / "shipment_processor.zip")
        return self.zip_path


def _timed(run: Callable[[], int]) -> tuple[float, int]:
    gc.collect()
    started = time.perf_counter()
    count = run()
    return time.perf_counter() - started, count


# ------------------------------------------------------------------------------------ 1. parse + validate

FORMATS = ("csv", "ndjson", "json_array")
FORMAT_LABELS = {"csv": "CSV", "ndjson": "NDJSON", "json_array": "JSON array"}
_KEYS = {
    "csv": "incoming/bench/shipments.csv",
    "ndjson": "incoming/bench/shipments.jsonl",
    "json_array": "incoming/bench/shipments.json",
}
_RAW = {
    "csv": "csv.reader over the text",
    "ndjson": "json.loads per line",
    "json_array": "json.loads of the whole array",
}


def _raw_csv(data: bytes) -> int:
    reader = csv.reader(io.StringIO(data.decode("utf-8"), newline=""))
    next(reader)  # header
    return sum(1 for _ in reader)


def _raw_ndjson(data: bytes) -> int:
    count = 0
    for line in data.decode("utf-8").splitlines():
        if line:
            json.loads(line)
            count += 1
    return count


def _raw_json_array(data: bytes) -> int:
    return len(json.loads(data))


def _layer(fmt: str, data: bytes) -> int:
    from shipment_processor.config import Limits  # noqa: PLC0415
    from shipment_processor.formats import iter_raw_records  # noqa: PLC0415

    return sum(1 for _ in iter_raw_records(io.BytesIO(data), _KEYS[fmt], Limits()))


RAW_PARSERS: dict[str, Callable[[bytes], int]] = {
    "csv": _raw_csv,
    "ndjson": _raw_ndjson,
    "json_array": _raw_json_array,
}


_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_UTC = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z")
_STATUSES = frozenset(
    (
        "CREATED",
        "PICKED_UP",
        "IN_TRANSIT",
        "OUT_FOR_DELIVERY",
        "DELIVERED",
        "DELAYED",
        "EXCEPTION",
        "RETURNED",
        "CANCELLED",
    )
)
_LATEST = f"{NOW + timedelta(hours=24):%Y-%m-%dT%H:%M:%S}Z"
_REQUIRED = ("shipment_id", "status", "timestamp")


def _check(ref: int, shipment_id: str, status: str, timestamp: str, optional: Iterable[tuple[str, str]]) -> object:
    """The least any validator must do per record: the required-field rules and the optional fields stripped."""
    if _ID.fullmatch(shipment_id) and status in _STATUSES and _UTC.fullmatch(timestamp) and timestamp <= _LATEST:
        return (ref, shipment_id, status, timestamp, tuple((name, value.strip()) for name, value in optional if value))
    return (ref, None)


def _floor_csv(data: bytes) -> int:
    reader = csv.reader(io.StringIO(data.decode("utf-8"), newline=""))
    names = [name.strip().lower() for name in next(reader)]
    assert tuple(names[:3]) == _REQUIRED
    count = 0
    for line, row in enumerate(reader, start=2):
        _check(line, row[0], row[1], row[2], zip(names[3:], row[3:], strict=True))
        count += 1
    return count


def _floor_object(ref: int, record: dict[str, str]) -> object:
    optional = [(name, value) for name, value in record.items() if name not in _REQUIRED]
    get = record.get
    return _check(ref, get("shipment_id", ""), get("status", ""), get("timestamp", ""), optional)


def _floor_ndjson(data: bytes) -> int:
    count = 0
    for line, text in enumerate(data.decode("utf-8").splitlines(), start=1):
        if text:
            _floor_object(line, json.loads(text))
            count += 1
    return count


def _floor_json_array(data: bytes) -> int:
    count = 0
    for index, record in enumerate(json.loads(data)):
        _floor_object(index, record)
        count += 1
    return count


FLOOR_CHECKERS: dict[str, Callable[[bytes], int]] = {
    "csv": _floor_csv,
    "ndjson": _floor_ndjson,
    "json_array": _floor_json_array,
}


def _ours(data: bytes, key: str) -> int:
    from shipment_processor.config import Limits  # noqa: PLC0415 - imported from --src, after sys.path is set
    from shipment_processor.pipeline import stream_results  # noqa: PLC0415

    return sum(1 for _ in stream_results(io.BytesIO(data), key, Limits(), NOW))


PARSE_KINDS: dict[str, Callable[[str, bytes], int]] = {
    "raw": lambda fmt, data: RAW_PARSERS[fmt](data),
    "ours": lambda fmt, data: _ours(data, _KEYS[fmt]),
    "layer": _layer,
    "bound": lambda fmt, data: FLOOR_CHECKERS[fmt](data),
}


def parse_validate(ctx: Context, report: Report) -> None:
    """Runs last: it repeats rounds (all formats, all four parsers) while the bench's time budget allows."""
    count, sizes = ctx.sizes.parse_records, ctx.sizes
    paths = {fmt: inputs.records_file(ctx.inputs, fmt, count) for fmt in FORMATS}
    times: dict[tuple[str, str], list[float]] = {(fmt, kind): [] for fmt in FORMATS for kind in PARSE_KINDS}
    for number in range(1, sizes.parse_repeats + 1):
        round_started = time.monotonic()
        for fmt in FORMATS:
            ctx.log(f"case 1 round {number}: {fmt}")
            data = paths[fmt].read_bytes()
            for kind, parse in PARSE_KINDS.items():
                seconds, seen = _timed(lambda parse=parse, fmt=fmt, data=data: parse(fmt, data))
                assert seen == count, f"{kind} {fmt} saw {seen} records, expected {count}"
                times[(fmt, kind)].append(seconds)
            del data
        last_round = time.monotonic() - round_started
        if number < sizes.parse_repeats and ctx.elapsed() + last_round > sizes.budget_s:
            report.note(
                f"Case 1 ran {number} round(s) of {sizes.parse_repeats}: a round takes {last_round:.0f} s here and "
                f"another would end past the bench's {sizes.budget_s:.0f} s budget."
            )
            break
    for fmt in FORMATS:
        raw = times[(fmt, "raw")]
        label = f"{FORMAT_LABELS[fmt]} {count:,} records ({paths[fmt].stat().st_size / MIB:.0f} MiB)"
        raw_rate = f"{rate(count, median(raw))} (raw, above)"
        for kind, case, measure, target in (
            ("ours", "1 parse+validate", f"{label}: pipeline vs {_RAW[fmt]}", True),
            ("layer", "1 context", f"{label}: the pipeline's parse layer alone (no validation)", False),
            ("bound", "1 context", f"{label}: minimal required-field checker over the raw parse", False),
        ):
            ratio = median(raw) / median(times[(fmt, kind)])
            report.add(
                Row(
                    case,
                    measure,
                    f"{rate(count, median(times[(fmt, kind)]))}; {spread(times[(fmt, kind)])}",
                    f"{rate(count, median(raw))}; {spread(raw)}" if target else raw_rate,
                    f"{ratio:.2f}x raw",
                    ">= 0.5x raw" if target else "-",
                    ratio >= 0.5 if target else None,
                )
            )
    report.note(
        'Case 1 context rows. "Parse layer": formats.iter_raw_records alone, the streaming parser with bounded '
        "memory (64 KiB reads, per-record size limits, line numbers, raw text kept for the rejects report), with no "
        "validation at all: where it is below 0.5x raw, no validator, however fast, brings the pipeline to the "
        'target; the streaming parser itself would have to be rebuilt. "Minimal checker": a tight loop over the raw '
        "stdlib parse that only applies the three required-field rules and strips the optional fields, with no "
        "streaming, line numbers, raw text, duplicate-field detection, size limits or messages: an upper bound for "
        "any pure-Python validator (the Lambda package is stdlib-only)."
    )


# --------------------------------------------------------------------------------------------- 2. memory


def _probe(ctx: Context, *args: str, pythonpath: Path | None = None, flags: tuple[str, ...] = ()) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "AWS_"))}
    env["PYTHONPATH"] = os.pathsep.join(str(p) for p in (pythonpath or ctx.src, ROOT))
    done = subprocess.run(
        [sys.executable, *flags, "-m", "tools.bench.probe", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"probe {args} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def memory(ctx: Context, report: Report) -> None:
    plain = inputs.sized_csv(ctx.inputs, ctx.sizes.memory_bytes)
    files = (("CSV", plain, "incoming/bench/big.csv"), ("gzip CSV", inputs.gzipped(plain), "incoming/bench/big.csv.gz"))
    # Only peak memory is claimed here, so the four fresh processes run side by side to save time.
    ctx.log("case 2: pipeline and whole-object baseline over the CSV and its gzip, four fresh processes at once")
    with ThreadPoolExecutor(4) as pool:
        streaming = [pool.submit(_probe, ctx, "stream", str(path), key) for _, path, key in files]
        whole_reads = [pool.submit(_probe, ctx, "whole", str(path), key) for _, path, key in files]
        streamed = [future.result() for future in streaming]
        wholes = [future.result() for future in whole_reads]
    for (label, path, _), ours, whole in zip(files, streamed, wholes, strict=True):
        assert ours["records"] == whole["records"], (ours, whole)
        report.add(
            Row(
                "2 memory",
                f"peak RSS, {label} {path.stat().st_size / MIB:.0f} MiB ({int(ours['records']):,} records, "
                f"{int(ours['bytes_decompressed']) / MIB:.0f} MiB text): stream in 1 MiB reads vs read whole + parse",
                f"{ours['peak_rss_mib']:.0f} MiB",
                f"{whole['peak_rss_mib']:.0f} MiB",
                f"{whole['peak_rss_mib'] / ours['peak_rss_mib']:.1f}x less",
                "ours <= 128 MiB",
                ours["peak_rss_mib"] <= 128,
            )
        )
    report.note(
        "Case 2: each number is the peak resident set (VmHWM) of a fresh Python process, interpreter included. The "
        "stream reads the file through a 1 MiB buffer (the pipeline asks for 64 KiB at a time); the baseline does "
        "what the original handler did: body.read() of everything, gzip.decompress, decode, list(csv.DictReader). "
        "ru_maxrss is not used: after fork+exec Linux also counts the parent's resident memory in it. The pipeline "
        "runs with the deployed default limits."
    )


# ---------------------------------------------------------------------------------------------- 3. store


def _accepted_updates(ctx: Context, count: int) -> list[Any]:
    from shipment_processor.config import Limits  # noqa: PLC0415
    from shipment_processor.pipeline import Accepted, stream_results  # noqa: PLC0415

    path = inputs.records_file(ctx.inputs, "csv", ctx.sizes.store_source_records())
    updates: list[Any] = []
    with path.open("rb") as body:
        for result in stream_results(body, "incoming/bench/store.csv", Limits(), NOW):
            if isinstance(result, Accepted):
                updates.append(result)
                if len(updates) == count:
                    break
    return updates


def _item(update: Any, ref: tuple[str, int], source_file: str, version: str) -> dict[str, Any]:
    """The same item the processor's events writer writes."""
    item = {
        "shipment_id": {"S": update.shipment_id},
        "event_key": {"S": update.event_key},
        "status": {"S": update.status},
        "timestamp": {"S": update.timestamp},
        "source_file": {"S": source_file},
        "source_version": {"S": version},
        "record_ref": {"S": f"{ref[0]} {ref[1]}"},
    }
    for name, value in update.fields:
        item[name] = {"S": value}
    return item


def _table(client: Any, name: str) -> None:
    client.create_table(
        TableName=name,
        KeySchema=[
            {"AttributeName": "shipment_id", "KeyType": "HASH"},
            {"AttributeName": "event_key", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "shipment_id", "AttributeType": "S"},
            {"AttributeName": "event_key", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )


def _count(client: Any, table: str) -> int:
    """Items in a table: moto computes ItemCount live (AWS refreshes it about every six hours), and a Scan of a
    large table is quadratic in moto (each page walks the table from the start)."""
    return int(client.describe_table(TableName=table)["Table"]["ItemCount"])


def store(ctx: Context, report: Report) -> None:
    import boto3  # noqa: PLC0415
    from shipment_processor.aws.clients import client_config  # noqa: PLC0415
    from shipment_processor.config import Settings  # noqa: PLC0415
    from shipment_processor.store import Store  # noqa: PLC0415

    count = ctx.sizes.store_items
    updates = _accepted_updates(ctx, count)
    endpoint = ctx.endpoint()
    source, version = "incoming/bench/store.csv", "bench"
    settings = Settings(events_table="bench-events")
    client = boto3.session.Session().client(
        "dynamodb", endpoint_url=endpoint, region_name=REGION, config=client_config(settings), **FAKE_CREDENTIALS
    )

    def batched(table: str) -> int:
        writer = Store(Settings(events_table=table), dynamodb=client).event_writer(source, version)
        with writer:
            for result in updates:
                writer.put(result.update, result.ref)
            return writer.close()

    def naive(table: str) -> int:
        for result in updates:
            client.put_item(TableName=table, Item=_item(result.update, result.ref, source, version))
        return len(updates)

    plan = ["store"] + ["naive"] * ctx.sizes.naive_repeats + ["store"] * (ctx.sizes.store_repeats - 1)
    timings: dict[str, list[float]] = {"store": [], "naive": []}
    run_id = uuid.uuid4().hex[:6]  # a server left running by an interrupted run may still hold older tables
    server_cpu: dict[str, list[float]] = {"store": [], "naive": []}
    assert ctx.server is not None
    for number, kind in enumerate(plan, start=1):
        table = f"bench-events-{run_id}-{kind}-{number}"
        _table(client, table)
        ctx.log(f"case 3: {kind} write of {count:,} items ({number}/{len(plan)})")
        cpu_before = _cpu_s(ctx.server.pid)
        seconds, written = _timed(lambda kind=kind, table=table: (batched if kind == "store" else naive)(table))
        server_cpu[kind].append(_cpu_s(ctx.server.pid) - cpu_before)
        stored = _count(client, table)
        assert written == count and stored == count, f"{kind}: wrote {written}, table holds {stored}, want {count}"
        timings[kind].append(seconds)
        client.delete_table(TableName=table)
    ratio = median(timings["naive"]) / median(timings["store"])
    per_item = {kind: median(values) / count * 1000 for kind, values in server_cpu.items()}
    ceiling = median(timings["naive"]) / count * 1000 / per_item["store"]
    report.note(
        f"Case 3 ceiling on this emulator: the moto server is one GIL-bound process that spends "
        f"{per_item['store']:.2f} ms of CPU per item even in 25-item batches, so no writer can store more than "
        f"~{1000 / per_item['store']:,.0f} items/s, while the put_item loop takes "
        f"{median(timings['naive']) / count * 1000:.2f} ms per item: the largest ratio moto allows here is "
        f"~{ceiling:.1f}x, and the events writer reached {ratio:.1f}x ({ratio / ceiling:.0%} of it)."
    )
    report.add(
        Row(
            "3 store",
            f"write {count:,} accepted updates to DynamoDB on the local moto server: the processor's events writer "
            f"(BatchWriteItem, {settings.write_concurrency} requests in flight) vs a put_item loop",
            f"{rate(count, median(timings['store']))}; {spread(timings['store'])}; "
            f"moto CPU {per_item['store']:.2f} ms/item",
            f"{rate(count, median(timings['naive']))}; {spread(timings['naive'])}; "
            f"moto CPU {per_item['naive']:.2f} ms/item",
            f"{ratio:.1f}x faster",
            ">= 10x",
            ratio >= 10,
        )
    )


# ---------------------------------------------------------------------------------------- 4. end to end


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds a live process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def end_to_end(ctx: Context, report: Report) -> None:
    """Issue 9 (b): a large CSV and its gzip through the local runtime at the default settings (256 MB / 30 s under
    Lambda's CPU share), processed across as many invocations as they take."""
    from tools.emulator.aws.lambda_ import journal  # noqa: PLC0415 - only this case needs the local runtime

    count = ctx.sizes.e2e_records
    if ctx.deployment is None:
        ctx.deploy_in_background()
    assert ctx.deployment is not None
    deployment = ctx.deployment.result()
    endpoint = ctx.endpoint()
    assert ctx.server is not None
    bucket, table = deployment.outputs["bucket_name"], deployment.outputs["events_table_name"]
    s3, dynamodb = runtime_client(endpoint, "s3"), runtime_client(endpoint)
    invocations = journal.Journal(ctx.state_dir)
    for kind in ctx.sizes.e2e_files:
        # The gzip holds other shipments than the CSV (another seed): its updates are new items, so "events
        # stored" counts them instead of finding the CSV's items rewritten.
        plain = inputs.records_file(ctx.inputs, "csv", count, inputs.SEED + (kind == "gzip"))
        expected = _expected_counts(plain)
        path = inputs.gzipped(plain) if kind == "gzip" else plain
        body = path.read_bytes()
        key = f"incoming/bench/e2e-{uuid.uuid4().hex[:8]}{''.join(path.suffixes)}"
        items_before = _items(dynamodb, table)
        moto_before = _cpu_s(ctx.server.pid)
        ctx.log(f"case 4: put {key} ({len(body) / MIB:.1f} MiB) and wait for every invocation it causes")
        began = time.monotonic()
        version = s3.put_object(Bucket=bucket, Key=key, Body=body)["VersionId"]
        records = invocations.wait_for_object(bucket, key, version, timeout_s=1800)
        wall = time.monotonic() - began
        moto_cpu = _cpu_s(ctx.server.pid) - moto_before
        item = _metadata(dynamodb, deployment.outputs["metadata_table_name"], key)
        stored = _items(dynamodb, table) - items_before
        attempts = [a for r in records for a in r.attempts]
        function_cpu = sum(float(a.get("cpu_s") or 0) for a in attempts)
        peak = max((float(a.get("peak_rss_mb") or 0) for a in attempts), default=0.0)
        total, accepted, rejected = (int(item.get(n, -1)) for n in ("records_total", "records_accepted",
                                                                    "records_rejected"))  # fmt: skip
        exact = (
            item.get("processing_status") in ("SUCCESS", "PARTIAL")
            and (total, accepted, rejected) == expected
            and accepted + rejected == total
            and stored == accepted
        )
        label = "gzip CSV" if kind == "gzip" else "CSV"
        report.add(
            Row(
                "4 end to end",
                f"{count:,}-record {label} ({len(body) / MIB:.1f} MiB) through the local Lambda runtime at the default "
                "256 MB / 30 s, under Lambda's CPU share (0.145 of a core), across invocations",
                f"{wall:.0f} s wall, {item.get('invocations')} invocations ({len(attempts)} attempts), peak "
                f"{peak:.0f} MiB; {accepted:,} + {rejected:,} = {total:,}; {stored:,} events stored; CPU: function "
                f"{function_cpu:.1f} s, moto {moto_cpu:.0f} s",
                f"expected {expected[1]:,} + {expected[2]:,} = {expected[0]:,}",
                f"{wall / max(1, item.get('invocations', 1)):.1f} s per invocation",
                "exact counts",
                exact,
            )
        )
    report.note(
        "Case 4: the file is processed the way it is on AWS at the default settings: each invocation stops when its "
        "time gets short, checkpoints and invokes the next. Wall time here is bound by the emulator (moto's own "
        "CPU per stored item, in one process), not by the function; the capped write-path rows measure the "
        "function alone."
    )


def _expected_counts(path: Path) -> tuple[int, int, int]:
    """What the record contract says about a generated file: (total, accepted, rejected), from the pipeline."""
    from shipment_processor.config import Limits  # noqa: PLC0415
    from shipment_processor.pipeline import Accepted, stream_results  # noqa: PLC0415

    with path.open("rb") as body:
        results = list(stream_results(body, path.name, Limits(), NOW))
    accepted = sum(isinstance(r, Accepted) for r in results)
    return len(results), accepted, len(results) - accepted


def _items(dynamodb: Any, table: str) -> int:
    return int(dynamodb.describe_table(TableName=table)["Table"]["ItemCount"])


def _metadata(dynamodb: Any, table: str, key: str) -> dict[str, Any]:
    from tools.ops.queries import plain  # noqa: PLC0415

    response = dynamodb.query(
        TableName=table,
        KeyConditionExpression="filename = :f AND upload_timestamp > :g",
        ExpressionAttributeValues={":f": {"S": key}, ":g": {"S": "#version#\uffff"}},
        ConsistentRead=True,
    )
    return plain(response["Items"][0]) if response.get("Items") else {}


def runtime_client(endpoint: str, service: str = "dynamodb") -> Any:
    import boto3  # noqa: PLC0415
    from botocore.config import Config  # noqa: PLC0415

    config = Config(s3={"addressing_style": "path"}, read_timeout=300)
    return boto3.session.Session().client(service, endpoint_url=endpoint, region_name=REGION, config=config,
                                          **FAKE_CREDENTIALS)  # fmt: skip


# ------------------------------------------------------------------------------------------ 5. cold path


def _unpacked(zip_path: Path, target: Path) -> Path:
    shutil.rmtree(target, ignore_errors=True)
    with zipfile.ZipFile(zip_path) as archive:
        archive.extractall(target)
    return target


def cold_path(ctx: Context, report: Report) -> None:
    zip_path = ctx.package()
    size = zip_path.stat().st_size
    with zipfile.ZipFile(zip_path) as archive:
        files = len(archive.namelist())
        unpacked = sum(info.file_size for info in archive.infolist())
    report.add(
        Row(
            "5 cold path",
            "zipped package (tools/packager)",
            f"{size / 1024:.1f} KiB ({files} files, {unpacked / 1024:.0f} KiB unpacked)",
            f"Lambda zip limit {LAMBDA_ZIP_LIMIT / 1e6:.0f} MB",
            f"{size / LAMBDA_ZIP_LIMIT:.5f}x limit",
        )
    )
    task_root = _unpacked(zip_path, ctx.work / "task")
    boto3_s: list[float] = []
    handler_s: list[float] = []
    for run in range(ctx.sizes.import_repeats):
        ctx.log(f"case 5: import timing {run + 1}/{ctx.sizes.import_repeats}")
        # -B: like /var/task, nothing is written back, so every cold start compiles the package's sources
        result = _probe(ctx, "imports", pythonpath=task_root, flags=("-B",))
        boto3_s.append(float(result["boto3_s"]) * 1000)
        handler_s.append(float(result["handler_s"]) * 1000)
    report.add(
        Row(
            "5 cold path",
            "import shipment_processor.handler after boto3 (fresh process, sources compiled)",
            spread(handler_s, "ms", 0),
            f"import boto3 alone: {spread(boto3_s, 'ms', 0)}",
            f"{median(handler_s) / median(boto3_s):.2f}x boto3",
        )
    )


# ---------------------------------------------------------------------------------------- 7. shipper profiles

PROFILE_RECORDS = 200_000
BENCH_PROFILE = {
    "csv": {"delimiter": ";"},
    "columns": {"shipment_id": "Sendung", "status": "Code", "timestamp": "Zeitpunkt"},
    "rename": {"Dienst": "carrier", "Verfolgung": "tracking_number", "Ort": "location", "Termin": "eta"},
    "statuses": {
        "map": {
            "AN": "CREATED",
            "AB": "PICKED_UP",
            "UW": "IN_TRANSIT",
            "IZ": "OUT_FOR_DELIVERY",
            "ZU": "DELIVERED",
            "VZ": "DELAYED",
            "ST": "EXCEPTION",
        }
    },
    "timestamps": {"formats": ["%d.%m.%Y %H:%M:%S"], "zone": "Europe/Berlin", "ambiguous": "earlier"},
}
_CODES = {status: code for code, status in BENCH_PROFILE["statuses"]["map"].items()}  # type: ignore[index]


def _profiled_csv(source: Path, target: Path) -> None:
    """The same records as ``source`` in a shipper's own shape: other names, codes, Berlin wall-clock time."""
    from zoneinfo import ZoneInfo  # noqa: PLC0415

    berlin = ZoneInfo("Europe/Berlin")
    with source.open(newline="") as rows_in, target.open("w", newline="", encoding="utf-8") as rows_out:
        reader, writer = csv.reader(rows_in), csv.writer(rows_out, delimiter=";", lineterminator="\n")
        next(reader)
        writer.writerow(["Sendung", "Code", "Zeitpunkt", "Dienst", "Verfolgung", "Ort", "Termin"])
        for shipment_id, status, timestamp, *rest in reader:
            try:
                moment = datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
            except ValueError:  # the generated invalid records: keep them invalid
                local = timestamp
            else:
                local = f"{moment.astimezone(berlin):%d.%m.%Y %H:%M:%S}" if moment.tzinfo else timestamp
            writer.writerow([shipment_id, _CODES.get(status, status), local, *rest])


def _baseline_src(ctx: Context) -> tuple[Path, str]:
    """lambda_src as it was just before shipper profiles were added (the commit before profiles.py appeared)."""
    added = subprocess.run(
        ["git", "log", "--format=%H", "--diff-filter=A", "-1", "--", "lambda_src/shipment_processor/profiles.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    if not added:
        raise RuntimeError("no commit adds lambda_src/shipment_processor/profiles.py: nothing to compare with")
    target = ctx.work / f"src-before-profiles-{added[:12]}"
    if not (target / "lambda_src" / "shipment_processor" / "__init__.py").is_file():
        target.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(
            ["git", "archive", f"{added}^", "lambda_src"], cwd=ROOT, capture_output=True, check=True
        )
        subprocess.run(["tar", "-x", "-C", str(target)], input=archive.stdout, check=True)
    return target / "lambda_src", f"{added[:12]}^"


def profiles(ctx: Context, report: Report) -> None:
    """A file without a profile against the code before profiles; a profiled file against the default path."""
    count = min(PROFILE_RECORDS, ctx.sizes.parse_records)
    plain = inputs.records_file(ctx.inputs, "csv", count)
    profiled = ctx.inputs / f"profiled-{count}.csv"
    if not profiled.is_file():
        _profiled_csv(plain, profiled)
    profile_file = ctx.work / "bench-profile.json"
    profile_file.write_text(json.dumps(BENCH_PROFILE))
    before, ref = _baseline_src(ctx)
    runs: dict[str, list[float]] = {"before": [], "default": [], "profiled": []}
    key = "incoming/bench/records.csv"
    for round_number in range(1, ctx.sizes.parse_repeats + 1):  # interleaved, so drift hits all three alike
        ctx.log(f"case 7 round {round_number}: before profiles, default path, profiled path")
        for name, path, pythonpath, extra in (
            ("before", plain, before, ()),
            ("default", plain, ctx.src, ()),
            ("profiled", profiled, ctx.src, (str(profile_file),)),
        ):
            result = _probe(ctx, "timed", str(path), key, *extra, pythonpath=pythonpath)
            assert result["records"] == count, (name, result)
            runs[name].append(float(result["seconds"]))
    per_record = {name: median(times) / count * 1e6 for name, times in runs.items()}
    ratio = per_record["default"] / per_record["before"]
    report.add(
        Row(
            "7 profiles",
            f"CSV {count:,} records, no profile: pipeline now vs before profiles ({ref})",
            f"{per_record['default']:.2f} µs/record; {spread(runs['default'])}",
            f"{per_record['before']:.2f} µs/record; {spread(runs['before'])}",
            f"{ratio:.2f}x before",
            "<= 1.05x (noise)",
            ratio <= 1.05,
        )
    )
    ratio = per_record["profiled"] / per_record["default"]
    report.add(
        Row(
            "7 profiles",
            f"CSV {count:,} records with a profile (';', renames, status table, strftime in Europe/Berlin) vs the "
            "same records in the contract's shape",
            f"{per_record['profiled']:.2f} µs/record; {spread(runs['profiled'])}",
            f"{per_record['default']:.2f} µs/record; {spread(runs['default'])}",
            f"{ratio:.2f}x default",
            "<= 1.3x",
            ratio <= 1.3,
        )
    )
    sizes = {}
    for name, src in (("before", before), ("after", ctx.src)):
        built = lambda_zip.build(src, ctx.work / f"zip-{name}" / "shipment_processor.zip")
        sizes[name] = built.stat().st_size
    report.add(
        Row(
            "7 profiles",
            "deployment zip (time zones from python-dateutil's bundled data: no tz data packaged)",
            f"{sizes['after']:,} bytes",
            f"{sizes['before']:,} bytes before profiles",
            f"+{sizes['after'] - sizes['before']:,} bytes",
        )
    )
    report.note(
        "Case 7: each time is the best of 3 passes over the file's bytes in memory, in a fresh process per "
        "measurement; the three measurements are interleaved round by round. The profiled file holds the same "
        "records as the plain one, written the way a shipper's own export would be."
    )


CASES: dict[str, Callable[[Context, Report], None]] = {
    "1": parse_validate,
    "2": memory,
    "3": store,
    "4": end_to_end,
    "5": cold_path,
    "6": gzip_chain.gzip_chain,
    "7": profiles,
}


def selected(spec: str) -> Iterator[tuple[str, Callable[[Context, Report], None]]]:
    for raw in spec.split(","):
        name = raw.strip()
        if name not in CASES:
            raise SystemExit(f"unknown case {name!r}; choose from {', '.join(CASES)}")
        yield name, CASES[name]
