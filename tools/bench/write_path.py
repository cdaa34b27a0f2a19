"""Write-path benchmark (issue 10): the function's CPU per stored record, direct path vs ``client.batch_write_item``,
in one run, against moto as a separate process behind a kept-alive TLS endpoint.

    python -m tools.bench.write_path [--quick] [--repeats N] [--cap-records N] [--out build/bench-write-path.md]

Rows:

* end to end: the real handler in a fresh process (``write_path_child handler``) processes a real object from the
  local S3 into the local DynamoDB; CPU of the function process only (every thread, after a warm-up invocation),
  per stored record. 20k and 100k records, CSV and NDJSON, ``EVENTS_WRITE_PATH=direct`` vs ``sdk``.
* write path alone: the same accepted updates, already parsed, written by the events writer (direct, sdk) next to
  the floor: ``json.dumps`` of typed items and their exchange on one kept-alive connection, no SDK, no signing.
  Parse + validate alone completes the picture.
* capped: the function process in a cgroup v1 CPU quota of 14.5 ms per 100 ms (Lambda's share at 256 MB), 30 s of
  wall time after its import phase, then killed like a timed-out invocation; the row counts the items stored.
* capacity: the same capped invocation against a table of 4,000 WRU/s (a fresh on-demand table) and of 40,000
  (the per-table quota), modelled by the latency stub with the local AWS's capacity model: records per second
  of one chain against the table's floor, and how many writes were throttled. Whether one chain can use a large
  table, or whether a file must be split across concurrent invocations.

Every case gets a fresh moto server (moto grows in memory), a fresh TLS certificate made with the openssl CLI and
trusted through ``AWS_CA_BUNDLE``. The server runs with ``--linear-item-size`` (see keepalive_moto.py). The cgroup
is removed at the end of each capped case whatever happens.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from tools.bench import inputs
from tools.bench.report import Report, Row, machine_facts, median, render, spread
from tools.emulator.aws.server import make_certificate

ROOT = Path(__file__).resolve().parents[2]
REGION = "eu-west-1"
BUCKET = "bench-write-path"
METADATA_TABLE = "bench-metadata"
EVENTS_TABLE = "bench-events"
CGROUP_ROOT = Path("/sys/fs/cgroup/cpu")
CPU_PERIOD_US = 100_000
CPU_QUOTA_US = 14_500  # 256 MB of 1,769 MB per vCPU
KEYS = {"csv": "incoming/bench/shipments.csv", "ndjson": "incoming/bench/shipments.jsonl"}
PATHS = ("direct", "sdk")


@dataclass
class Sizes:
    e2e_counts: tuple[int, ...] = (20_000, 100_000)
    e2e_repeats: dict[int, int] = field(default_factory=lambda: {20_000: 2, 100_000: 1})
    alone_count: int = 20_000
    alone_repeats: int = 2
    cap_records: int = 200_000
    cap_seconds: float = 30.0
    cap_thread_study: tuple[int, ...] = (1,)  # extra capped direct CSV runs at these WRITE_CONCURRENCY values
    stub_ms: float = 10.0  # the latency stub's answer time for BatchWriteItem

    @classmethod
    def quick(cls) -> Sizes:
        return cls((2_000,), {2_000: 1}, 2_000, 1, 20_000, 5.0, (1,), 10.0)


# ---------------------------------------------------------------------------------------------- local AWS


class Moto:
    """A fresh keep-alive TLS moto server (tools.bench.keepalive_moto) for one case, stopped by its pid."""

    def __init__(self, work: Path, cert: Path, key: Path) -> None:
        self.work, self.cert, self.key = work, cert, key
        self.process: subprocess.Popen[bytes] | None = None
        self.endpoint = ""

    def __enter__(self) -> Moto:
        ready = self.work / f"moto-{uuid.uuid4().hex[:8]}.json"
        log = (self.work / "moto.log").open("ab")
        self.process = subprocess.Popen(
            [
                *(sys.executable, "-m", "tools.bench.keepalive_moto", "--linear-item-size"),
                *("--cert", str(self.cert), "--key", str(self.key), "--ready-file", str(ready)),
            ],
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + 60
        while not ready.is_file():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.__exit__()
                raise RuntimeError(f"keep-alive moto did not start; see {self.work / 'moto.log'}")
            time.sleep(0.05)
        self.endpoint = f"https://127.0.0.1:{json.loads(ready.read_text())['port']}"
        ready.unlink()
        return self

    def __exit__(self, *_: object) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def cpu_s(self) -> float:
        assert self.process is not None
        return _proc_cpu_s(self.process.pid)

    def client(self, service: str) -> Any:
        import boto3  # noqa: PLC0415

        return boto3.session.Session().client(
            service,
            endpoint_url=self.endpoint,
            region_name=REGION,
            verify=str(self.cert),
            aws_access_key_id="bench",
            aws_secret_access_key="bench",
        )

    def prepare(self, objects: dict[str, Path]) -> dict[str, tuple[str, str | None, int]]:
        """The bucket and both tables as the Terraform declares them, and the objects uploaded."""
        s3, dynamodb = self.client("s3"), self.client("dynamodb")
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
        s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        for table, (hash_key, range_key) in (
            (METADATA_TABLE, ("filename", "upload_timestamp")),
            (EVENTS_TABLE, ("shipment_id", "event_key")),
        ):
            dynamodb.create_table(
                TableName=table,
                KeySchema=[
                    {"AttributeName": hash_key, "KeyType": "HASH"},
                    {"AttributeName": range_key, "KeyType": "RANGE"},
                ],
                AttributeDefinitions=[
                    {"AttributeName": hash_key, "AttributeType": "S"},
                    {"AttributeName": range_key, "AttributeType": "S"},
                ],
                BillingMode="PAY_PER_REQUEST",
            )
        uploaded = {}
        for key, path in objects.items():
            data = path.read_bytes()
            version = s3.put_object(Bucket=BUCKET, Key=key, Body=data).get("VersionId")
            uploaded[key] = (key, version, len(data))
        return uploaded

    def events_stored(self) -> int:
        """moto computes ItemCount live (a Scan of a large table is quadratic in moto)."""
        return int(self.client("dynamodb").describe_table(TableName=EVENTS_TABLE)["Table"]["ItemCount"])


class Stub:
    """tools.bench.latency_stub in front of ``moto``: BatchWriteItem answered after ``latency_ms``, rest forwarded."""

    def __init__(self, moto: Moto, latency_ms: float, capacity_wru: float | None = None) -> None:
        self.moto, self.latency_ms, self.capacity_wru = moto, latency_ms, capacity_wru
        self.process: subprocess.Popen[bytes] | None = None
        self.endpoint = ""

    def __enter__(self) -> Stub:
        ready = self.moto.work / f"stub-{uuid.uuid4().hex[:8]}.json"
        self.process = subprocess.Popen(
            [
                *(sys.executable, "-m", "tools.bench.latency_stub", "--upstream", self.moto.endpoint),
                *("--ca", str(self.moto.cert), "--cert", str(self.moto.cert), "--key", str(self.moto.key)),
                *("--latency-ms", str(self.latency_ms), "--ready-file", str(ready)),
                *(("--capacity-wru", str(self.capacity_wru)) if self.capacity_wru else ()),
            ],
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + 30
        while not ready.is_file():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.__exit__()
                raise RuntimeError("the latency stub did not start")
            time.sleep(0.05)
        self.endpoint = f"https://127.0.0.1:{json.loads(ready.read_text())['port']}"
        ready.unlink()
        return self

    def __exit__(self, *_: object) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def counts(self) -> dict[str, int]:
        import ssl  # noqa: PLC0415
        import urllib.request  # noqa: PLC0415

        context = ssl.create_default_context(cafile=str(self.moto.cert))
        with urllib.request.urlopen(f"{self.endpoint}/stub/count", context=context, timeout=10) as response:
            return dict(json.loads(response.read()))


def _proc_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def cpu_cgroup() -> Iterator[Path]:
    """A cgroup v1 CPU quota of Lambda's 256 MB share; removed afterwards, always."""
    path = CGROUP_ROOT / f"bench-write-path-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    path.mkdir()
    try:
        (path / "cpu.cfs_period_us").write_text(str(CPU_PERIOD_US))
        (path / "cpu.cfs_quota_us").write_text(str(CPU_QUOTA_US))
        yield path
    finally:
        for pid in (path / "cgroup.procs").read_text().split():  # only our child, and only if it outlived us
            with contextlib.suppress(OSError):
                (CGROUP_ROOT / "cgroup.procs").write_text(pid)
        path.rmdir()


# ------------------------------------------------------------------------------------------------ children


class Child:
    """One run of tools.bench.write_path_child with the function's environment."""

    def __init__(self, mode: str, env: dict[str, str], args: list[str]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tools.bench.write_path_child", mode, *args],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def start(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write("start\n")
        self.process.stdin.flush()

    def message(self, timeout: float = 900) -> dict[str, Any]:
        stdout: IO[str] | None = self.process.stdout
        assert stdout is not None
        line = stdout.readline()
        if not line:
            self.process.wait(timeout)
            raise RuntimeError(f"child failed ({self.process.returncode}):\n{self.stderr()[-3000:]}")
        return dict(json.loads(line))

    def stderr(self) -> str:
        assert self.process.stderr is not None
        return self.process.stderr.read()

    def finish(self) -> None:
        self.process.wait(60)
        if self.process.returncode != 0:
            raise RuntimeError(f"child exited {self.process.returncode}:\n{self.stderr()[-3000:]}")

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()


def function_env(
    endpoint: str, cert: Path, write_path: str, concurrency: int | None, dynamodb: str | None = None
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PYTHON"))}
    env.update(
        PYTHONPATH=os.pathsep.join((str(ROOT / "lambda_src"), str(ROOT))),
        AWS_ENDPOINT_URL=endpoint,
        AWS_CA_BUNDLE=str(cert),
        AWS_ACCESS_KEY_ID="ASIABENCHEXAMPLE",
        AWS_SECRET_ACCESS_KEY="bench-secret",
        AWS_SESSION_TOKEN="bench-session-token",
        AWS_REGION=REGION,
        AWS_DEFAULT_REGION=REGION,
        METADATA_TABLE=METADATA_TABLE,
        EVENTS_TABLE=EVENTS_TABLE,
        EVENTS_WRITE_PATH=write_path,
        LOG_LEVEL="WARNING",
    )
    if concurrency is not None:
        env["WRITE_CONCURRENCY"] = str(concurrency)
    if dynamodb is not None:
        env["AWS_ENDPOINT_URL_DYNAMODB"] = dynamodb
    return env


# ---------------------------------------------------------------------------------------------------- cases


@dataclass
class Bench:
    work: Path  # inputs/ (shared with make bench) and write-path/ (certificate, moto log) live here
    sizes: Sizes
    report: Report
    started: float = field(default_factory=time.monotonic)
    concurrency: int | None = None
    cert: Path = Path()
    key: Path = Path()

    def log(self, message: str) -> None:
        print(f"[write-path {time.monotonic() - self.started:5.0f} s] {message}", file=sys.stderr, flush=True)

    def file(self, fmt: str, count: int) -> Path:
        return inputs.records_file(self.work / "inputs", fmt, count)

    @property
    def scratch(self) -> Path:
        return self.work / "write-path"

    def moto(self) -> Moto:
        return Moto(self.scratch, self.cert, self.key)

    def end_to_end(self, fmt: str, count: int, path: str, stub_ms: float | None = None) -> dict[str, float]:
        """One handler invocation in a fresh process after a warm-up one: its CPU per stored record.

        With ``stub_ms``, BatchWriteItem goes to the latency stub (acknowledged, not stored) and the rest to moto.
        """
        key, warm_key = KEYS[fmt], KEYS[fmt].replace("shipments", "warm-up")
        with self.moto() as moto, _maybe_stub(moto, stub_ms) as stub:
            objects = moto.prepare({key: self.file(fmt, count), warm_key: self.file(fmt, 100)})
            env = function_env(moto.endpoint, self.cert, path, self.concurrency, stub.endpoint if stub else None)
            events = [json.dumps([BUCKET, *objects[key]]), json.dumps([BUCKET, *objects[warm_key]])]
            child = Child("handler", env, ["--event", events[0], "--warm-event", events[1]])
            try:
                child.start()
                child.message()  # imported
                moto_before = moto.cpu_s()
                done = child.message()
                moto_cpu = moto.cpu_s() - moto_before
                child.finish()
            finally:
                child.kill()
            assert done["file"]["status"] in ("SUCCESS", "PARTIAL"), done
            accepted = int(done["file"]["records_accepted"])
            written = stub.counts()["items"] if stub else moto.events_stored()
            assert accepted <= written <= accepted + 100, f"{written} items written for {accepted} + the warm-up's"
        return {
            "per_record_us": done["cpu_s"] / accepted * 1e6,
            "wall_s": done["wall_s"],
            "moto_us": moto_cpu / accepted * 1e6,
        }

    def alone(self, mode: str, path: str) -> float:
        """CPU µs per item of the write path alone (writer, floor) against a stub that answers at once, or of
        parse + validate (parse)."""
        source = self.file("csv", self.sizes.alone_count)
        args = ["--file", str(source), "--key", KEYS["csv"]]
        if mode == "parse":
            child = Child(mode, function_env("https://127.0.0.1:1", self.cert, path, self.concurrency), args)
            return self._single(child)
        with self.moto() as moto, Stub(moto, 0) as stub:
            moto.prepare({})
            child = Child(mode, function_env(stub.endpoint, self.cert, path, self.concurrency), args)
            per_item = self._single(child)
            assert stub.counts()["rejected"] == 0
        return per_item

    def _single(self, child: Child) -> float:
        try:
            child.start()
            done = child.message()
            child.finish()
        finally:
            child.kill()
        return float(done["cpu_s"]) / int(done["items"]) * 1e6

    def capped(
        self,
        fmt: str,
        path: str,
        concurrency: int | None = None,
        stub_ms: float | None = None,
        capacity_wru: float | None = None,
    ) -> dict[str, float]:
        """Items one invocation writes in ``cap_seconds`` of wall time after its import phase, under the cap:
        stored in moto, or acknowledged by the latency stub with ``stub_ms`` (at most ``capacity_wru`` a second)."""
        key = KEYS[fmt]
        with self.moto() as moto, _maybe_stub(moto, stub_ms, capacity_wru) as stub:
            objects = moto.prepare({key: self.file(fmt, self.sizes.cap_records)})
            env = function_env(
                moto.endpoint, self.cert, path, concurrency or self.concurrency, stub.endpoint if stub else None
            )
            with cpu_cgroup() as cgroup:
                child = Child("capped", env, ["--event", json.dumps([BUCKET, *objects[key]])])
                try:
                    (cgroup / "cgroup.procs").write_text(str(child.process.pid))
                    child.start()
                    imported = child.message()
                    began, moto_before = time.monotonic(), moto.cpu_s()
                    finished: dict[str, Any] | None = None
                    with contextlib.suppress(TimeoutError):
                        finished = _message_until(child, began + self.sizes.cap_seconds)
                    elapsed = time.monotonic() - began
                    cpu_used = _proc_cpu_s(child.process.pid) - float(imported["cpu_s"])
                    moto_cpu = moto.cpu_s() - moto_before
                finally:
                    child.kill()
            time.sleep(0.5)  # a request sent before the kill may still be applied
            counts = stub.counts() if stub else {}
            written = counts["items"] if stub else moto.events_stored()
        return {
            "throttled": float(counts.get("throttled", 0)),
            "stored": written,
            "cpu_s": cpu_used,
            "elapsed_s": elapsed,
            "moto_cpu_s": moto_cpu,
            "finished": 1.0 if finished is not None else 0.0,
        }


@contextlib.contextmanager
def _maybe_stub(moto: Moto, latency_ms: float | None, capacity_wru: float | None = None) -> Iterator[Stub | None]:
    if latency_ms is None:
        yield None
        return
    with Stub(moto, latency_ms, capacity_wru) as stub:
        yield stub


def _one_after_another(*runs: Callable[[], dict[str, float]]) -> list[dict[str, float]]:
    """Run capped cases one at a time. Side by side, on 2 cores, the two functions' emulators compete for the
    core the capped functions leave free; that halved the counts, and the count then measured the machine."""
    return [run() for run in runs]


def _message_until(child: Child, deadline: float) -> dict[str, Any]:
    """The child's next message if it comes before ``deadline`` (monotonic), else TimeoutError."""
    import selectors  # noqa: PLC0415

    assert child.process.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(child.process.stdout, selectors.EVENT_READ)
        if not selector.select(max(0.0, deadline - time.monotonic())):
            raise TimeoutError
    return child.message()


CASES = ("e2e", "alone", "capped", "capacity")
CAPACITIES = (4_000, 40_000)  # WRU/s: a fresh on-demand table; the per-table account quota


def run(bench: Bench, cases: tuple[str, ...] = CASES) -> None:
    sizes = bench.sizes
    counts = sorted({*sizes.e2e_counts, sizes.alone_count, sizes.cap_records, 100})
    bench.log(f"inputs: {', '.join(f'{c:,}' for c in counts)} records (generated once, reused)")
    inputs.prepare(bench.work / "inputs", counts, [])
    bench.cert, bench.key = make_certificate(bench.scratch / "tls", days=2)
    for case in cases:
        cases_by_name = {"e2e": end_to_end_case, "alone": write_path_case, "capped": capped_case}
        cases_by_name["capacity"] = capacity_case
        cases_by_name[case](bench)


def end_to_end_case(bench: Bench) -> None:
    sizes, report = bench.sizes, bench.report
    results: dict[tuple[str, int, str], list[dict[str, float]]] = {}
    for count in sizes.e2e_counts:
        for fmt in KEYS:
            for repeat in range(sizes.e2e_repeats.get(count, 1)):
                for path in PATHS:  # interleaved, so machine load affects both alike
                    bench.log(f"end to end: {count:,} {fmt} records, {path} path (run {repeat + 1})")
                    results.setdefault((fmt, count, path), []).append(bench.end_to_end(fmt, count, path))
            direct, sdk = ([r["per_record_us"] for r in results[(fmt, count, p)]] for p in ("direct", "sdk"))
            ratio = median(sdk) / median(direct)
            report.add(
                Row(
                    "end to end",
                    f"{count:,} {fmt.upper()} records, real handler, stored in moto: CPU µs per stored record "
                    "(function process only): EVENTS_WRITE_PATH=direct vs sdk (client.batch_write_item)",
                    f"{spread(direct, 'µs', 1)}; wall {_median_of(results[(fmt, count, 'direct')], 'wall_s'):.1f} s",
                    f"{spread(sdk, 'µs', 1)}; wall {_median_of(results[(fmt, count, 'sdk')], 'wall_s'):.1f} s",
                    f"{ratio:.2f}x fewer",
                    ">= 2x and <= 40 µs",
                    ratio >= 2 and median(direct) <= 40,
                )
            )
    report.note(
        "End to end on moto: the emulator spent "
        + ", ".join(f"{_median_of(v, 'moto_us'):.0f} µs ({k[0]} {k[1]:,} {k[2]})" for k, v in results.items())
        + " of its own CPU per stored item: the function mostly waits for it, and a process that waits pays for "
        "every sleep and wake-up in CPU too (compare the stub rows)."
    )
    stub: dict[tuple[str, str], list[float]] = {}
    count = sizes.alone_count
    for fmt in KEYS:
        for repeat in range(sizes.alone_repeats):
            for path in PATHS:
                bench.log(
                    f"end to end, {sizes.stub_ms:.0f} ms stub: {count:,} {fmt} records, {path} (run {repeat + 1})"
                )
                stub.setdefault((fmt, path), []).append(
                    bench.end_to_end(fmt, count, path, sizes.stub_ms)["per_record_us"]
                )
        direct, sdk = stub[(fmt, "direct")], stub[(fmt, "sdk")]
        report.add(
            Row(
                "end to end",
                f"{count:,} {fmt.upper()} records, real handler, BatchWriteItem answered by a stub after "
                f"{sizes.stub_ms:.0f} ms (acknowledged, not stored; S3 and the metadata table on moto): CPU µs per "
                "record, direct vs sdk",
                spread(direct, "µs", 1),
                spread(sdk, "µs", 1),
                f"{median(sdk) / median(direct):.2f}x fewer",
                "<= 40 µs",
                median(direct) <= 40,
            )
        )


def _median_of(results: list[dict[str, float]], name: str) -> float:
    return median([result[name] for result in results])


def write_path_case(bench: Bench) -> None:
    sizes, report = bench.sizes, bench.report
    alone: dict[str, list[float]] = {}
    for repeat in range(sizes.alone_repeats):
        for name, mode, path in (
            ("direct", "writer", "direct"),
            ("sdk", "writer", "sdk"),
            ("floor", "floor", "direct"),
            ("parse", "parse", "direct"),
        ):
            bench.log(f"write path alone: {name} (run {repeat + 1})")
            alone.setdefault(name, []).append(bench.alone(mode, path))
    floor = median(alone["floor"])
    label = f"{sizes.alone_count:,} CSV records' accepted updates, already parsed, CPU µs per item"
    endpoint = "to a stub that answers at once over a kept-alive TLS connection"
    report.add(
        Row(
            "write path",
            f"{label}, {endpoint}: the events writer on the direct path vs the floor (json.dumps of the typed items "
            "and the exchange on one connection: no SDK, no signing, no item building, no threads)",
            spread(alone["direct"], "µs", 1),
            f"floor {spread(alone['floor'], 'µs', 1)}",
            f"{median(alone['direct']) / floor:.2f}x the floor",
        )
    )
    report.add(
        Row(
            "write path",
            f"{label}, {endpoint}: the events writer on the sdk path vs the floor",
            spread(alone["sdk"], "µs", 1),
            f"floor {spread(alone['floor'], 'µs', 1)}",
            f"{median(alone['sdk']) / floor:.2f}x the floor",
        )
    )
    report.add(
        Row(
            "context",
            f"{sizes.alone_count:,} CSV records, CPU µs per record: parse + validate alone (the pipeline, nothing "
            "stored)",
            spread(alone["parse"], "µs", 1),
            "-",
            "-",
        )
    )


def capped_case(bench: Bench) -> None:
    sizes, report = bench.sizes, bench.report
    quota = f"{CPU_QUOTA_US / CPU_PERIOD_US:.1%}"
    window = f"{sizes.cap_seconds:.0f} s"
    for stub_ms in (None, sizes.stub_ms):
        where = "stored in moto" if stub_ms is None else f"acknowledged by the {stub_ms:.0f} ms stub"
        for fmt in KEYS:
            bench.log(f"capped, {where}: {fmt}, direct then sdk, {window} at {quota}")
            direct, sdk = _one_after_another(
                lambda fmt=fmt, stub_ms=stub_ms: bench.capped(fmt, "direct", stub_ms=stub_ms),
                lambda fmt=fmt, stub_ms=stub_ms: bench.capped(fmt, "sdk", stub_ms=stub_ms),
            )
            report.add(
                Row(
                    "capped",
                    f"{fmt.upper()} ({sizes.cap_records:,} records): items {where} by one invocation in {window} "
                    f"after init at a {quota} CPU quota: direct vs sdk",
                    _capped_cell(direct),
                    _capped_cell(sdk),
                    f"{direct['stored'] / max(1.0, sdk['stored']):.2f}x more",
                    ">= 80,000",
                    direct["stored"] >= 80_000,
                )
            )
    default_threads = bench.concurrency or _default_write_concurrency()
    for threads in sizes.cap_thread_study:
        bench.log(f"capped, {sizes.stub_ms:.0f} ms stub: csv direct, WRITE_CONCURRENCY {threads} vs {default_threads}")
        study, default = _one_after_another(
            lambda threads=threads: bench.capped("csv", "direct", threads, sizes.stub_ms),
            lambda: bench.capped("csv", "direct", default_threads, sizes.stub_ms),
        )
        report.add(
            Row(
                "capped",
                f"CSV, direct path, {sizes.stub_ms:.0f} ms stub: WRITE_CONCURRENCY={threads} vs {default_threads}, "
                "one after another",
                _capped_cell(study),
                _capped_cell(default),
                f"{study['stored'] / max(1.0, default['stored']):.2f}x the items",
            )
        )
    most = sizes.cap_seconds * CPU_QUOTA_US / CPU_PERIOD_US
    report.note(
        "Capped: the runs of a pair go one after another, each process in its own cgroup, each with a fresh moto. "
        f"'CPU' is the function process's CPU over the window (at most {most:.2f} s: below that, the "
        "function was waiting, not capped); 'moto' is the emulator's CPU over the window (near the window's length: "
        "moto was saturated and bounded the count). 'µs/item' is the window's function CPU per item written, "
        "client creation on the first call included."
    )


def capacity_case(bench: Bench) -> None:
    """Records per second of one chain (a capped invocation) against the floor a table's capacity sets."""
    sizes, report = bench.sizes, bench.report
    for wru in CAPACITIES:
        bench.log(f"capacity: csv direct, {sizes.stub_ms:.0f} ms stub modelling {wru:,} WRU/s")
        result = bench.capped("csv", "direct", stub_ms=sizes.stub_ms, capacity_wru=wru)
        rate = result["stored"] / result["elapsed_s"]
        throttled = result["throttled"] / max(1.0, result["stored"] + result["throttled"])
        report.add(
            Row(
                "capacity",
                f"CSV ({sizes.cap_records:,} records), direct path, one invocation at a "
                f"{CPU_QUOTA_US / CPU_PERIOD_US:.1%} CPU quota, {sizes.stub_ms:.0f} ms stub modelling a table of "
                f"{wru:,} WRU/s: records/s stored vs the table's floor",
                f"{rate:,.0f} records/s ({_capped_cell(result)}); {throttled:.1%} of writes throttled",
                f"{wru:,} records/s (1 WRU per record)",
                f"{rate / wru:.2f} of the floor",
            )
        )
    report.note(
        "Capacity: one chain is one invocation at a time. Below the floor, the chain is bound by the function's CPU "
        "share, not the table: a larger table only helps if the file is split across concurrent invocations (or "
        "the function gets more memory, hence CPU)."
    )


def _default_write_concurrency() -> int:
    if str(ROOT / "lambda_src") not in sys.path:
        sys.path.insert(0, str(ROOT / "lambda_src"))
    from shipment_processor.config import Settings  # noqa: PLC0415 - the measured sources, not an installed copy

    return Settings().write_concurrency


def _capped_cell(result: dict[str, float]) -> str:
    stored = int(result["stored"])
    per_item = result["cpu_s"] / stored * 1e6 if stored else float("nan")
    done = ", file finished" if result["finished"] else ""
    return (
        f"{stored:,} written{done}; CPU {result['cpu_s']:.2f} s ({per_item:.0f} µs/item); "
        f"moto {result['moto_cpu_s']:.1f} s"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.bench.write_path", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny inputs, one run each: a smoke test")
    parser.add_argument("--cases", default=",".join(CASES), help=f"comma-separated subset of {', '.join(CASES)}")
    parser.add_argument("--repeats", type=int, help="runs of the 20k end-to-end cases and the write-path rows")
    parser.add_argument("--cap-records", type=int, help="records in the capped runs' file (default 200,000)")
    parser.add_argument("--concurrency", type=int, help="WRITE_CONCURRENCY for every case (default: the setting's)")
    parser.add_argument(
        "--thread-study",
        default="1",
        help="comma-separated WRITE_CONCURRENCY values for extra capped direct CSV runs ('' for none)",
    )
    parser.add_argument("--work", type=Path, default=ROOT / "build" / "bench", help="inputs and scratch files")
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "bench-write-path.md")
    args = parser.parse_args(argv)
    sizes = Sizes.quick() if args.quick else Sizes()
    if args.repeats:
        sizes.alone_repeats = args.repeats
        sizes.e2e_repeats = {count: args.repeats if count <= 20_000 else 1 for count in sizes.e2e_counts}
    if args.cap_records:
        sizes.cap_records = args.cap_records
    sizes.cap_thread_study = tuple(int(value) for value in args.thread_study.split(",") if value.strip())
    bench = Bench(work=args.work.resolve(), sizes=sizes, report=Report(), concurrency=args.concurrency)
    bench.scratch.mkdir(parents=True, exist_ok=True)
    cases = tuple(case.strip() for case in args.cases.split(",") if case.strip())
    unknown = sorted(set(cases) - set(CASES))
    if unknown:
        parser.error(f"unknown case(s) {', '.join(unknown)}; choose from {', '.join(CASES)}")
    run(bench, cases)
    command = "python -m tools.bench.write_path " + " ".join(sys.argv[1:] if argv is None else argv)
    facts = [
        *machine_facts(),
        "endpoint: moto's WSGI app in its own process behind HTTP/1.1 keep-alive over TLS (self-signed, openssl CLI, "
        "trusted via AWS_CA_BUNDLE); one fresh server per case",
    ]
    table = render(
        bench.report,
        title="Write path benchmark",
        command=command.strip(),
        facts=facts,
        elapsed_s=time.monotonic() - bench.started,
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(table)
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
