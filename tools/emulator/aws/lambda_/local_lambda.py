"""The local Lambda runtime: runs one attempt of a deployed function in a process of its own, as Lambda would.

moto cannot execute functions without Docker, so this module plays Lambda's execution environment. Everything is
read from the local AWS rather than from a copy of the configuration: the function's configuration (handler,
environment, memory, timeout, CodeSha256, logging, reserved concurrency) and its async invoke config (retries,
maximum event age, on-failure destination). `tools.emulator.aws.lambda_.lambda_service` queues and schedules invocations
and calls `LocalLambda.run_attempt` for each attempt; `tools.emulator.aws.server` is where events come from.

* **Code**: each attempt runs the package whose SHA-256 equals the deployed CodeSha256, downloaded from
  GetFunction's Code.Location (the local AWS serves the deployed bytes there, as AWS serves a presigned URL) and
  unpacked once per hash (the local /var/task); packages given as `packages=` are the fallback for a local AWS
  that does not serve code (a plain moto server).
* **Limits**: the timeout by killing the process; memory by polling its resident set size (RSS) every 10 ms and
  killing it (with its process group) above MemorySize, the way Lambda's cgroup limit counts memory (processes
  the handler starts itself are killed with it but not counted). An address-space limit (RLIMIT_AS) is not used:
  it counts reserved, untouched virtual memory (glibc reserves up to 64 MB of arena per thread, and the
  handler's batch writers are threads): measured here, Python with boto3 and 8 busy threads has 629 MB of
  address space for 57 MB resident. CPU: the share the memory size buys (`cpu_share`, beside it: a cgroup
  quota where one is writable, else CPU time charged against the timeout). Each attempt's peak RSS is the
  kernel's high-water mark (VmHWM) of the function process; its CPU time comes from wait4's rusage.
* **Trace**: the process gets `_X_AMZN_TRACE_ID` (Root, Parent, Lineage), so the SDK's recursion-detection
  header carries the chain into any Invoke (or PutObject) the function makes.
* **After the attempt**: every output line is kept, in `<state>/logs/<function>.log` and in CloudWatch Logs (one
  stream per attempt, START/END/REPORT included); every EMF document the function prints becomes
  `PutMetricData`, as CloudWatch Logs does; failure records go to the on-failure destination (`send_failure`).
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import datetime as dt
import fnmatch
import hashlib
import io
import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
import zipfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

from botocore.exceptions import ClientError

from tools.emulator import endpoint
from tools.emulator.aws.clients import FAKE_CREDENTIALS, aws_client
from tools.emulator.aws.lambda_ import cpu_share
from tools.terraform import tfwork

BOOTSTRAP = Path(__file__).with_name("lambda_bootstrap.py")
DEFAULT_STATE_DIR = endpoint.DEFAULT_STATE_DIR
DEFAULT_PACKAGE = tfwork.BUILD / "shipment_processor.zip"
INIT_TIMEOUT_S = 10.0  # Lambda's limit for the init phase of an on-demand function
POLL_INTERVAL_S = 0.01
RESULT_GRACE_S = 2.0  # time a process gets to exit after returning (non-daemon threads are then killed)
DEFAULT_MAX_EVENT_AGE_S = 21600
JOURNAL_PAYLOAD_BYTES = 65536
LOG_TAIL_BYTES = 4096  # X-Amz-Log-Result: the last 4 KB of the execution log
MOTO_DOCKER_ERROR = "error running docker:"


class PackageMismatchError(RuntimeError):
    """No candidate package has the deployed CodeSha256: running it would not run what was deployed."""


# ------------------------------------------------------------------------------------------ function config


@dataclasses.dataclass(frozen=True)
class FunctionSpec:
    """What the local AWS says about a function: its configuration and its async invoke configuration."""

    name: str
    arn: str
    handler: str
    runtime: str
    memory_mb: int
    timeout_s: int
    environment: dict[str, str]
    code_sha256: str
    log_group: str
    log_format: str
    application_log_level: str | None
    max_retries: int
    max_event_age_s: int
    on_failure: str | None
    reserved_concurrency: int | None = None


def describe_function(lambda_client: Any, function: str) -> FunctionSpec:
    """Read a function's configuration and async invoke config (AWS defaults where none is set)."""
    config = lambda_client.get_function_configuration(FunctionName=function)
    try:
        invoke = lambda_client.get_function_event_invoke_config(FunctionName=function)
    except ClientError as error:
        if error.response["Error"]["Code"] != "ResourceNotFoundException":
            raise
        invoke = {}
    # moto 5.2.5 does not store LoggingConfig: when it is absent the function logs in Lambda's default format.
    logging_config = config.get("LoggingConfig") or {}
    destination = (invoke.get("DestinationConfig") or {}).get("OnFailure", {}).get("Destination")
    return FunctionSpec(
        name=config["FunctionName"],
        arn=config["FunctionArn"],
        handler=config["Handler"],
        runtime=config.get("Runtime", "python3.12"),
        memory_mb=int(config.get("MemorySize", 128)),
        timeout_s=int(config.get("Timeout", 3)),
        environment=dict((config.get("Environment") or {}).get("Variables") or {}),
        code_sha256=config["CodeSha256"],
        log_group=logging_config.get("LogGroup") or f"/aws/lambda/{config['FunctionName']}",
        log_format=logging_config.get("LogFormat", "Text"),
        application_log_level=logging_config.get("ApplicationLogLevel"),
        max_retries=int(invoke.get("MaximumRetryAttempts", 2)),
        max_event_age_s=int(invoke.get("MaximumEventAgeInSeconds", DEFAULT_MAX_EVENT_AGE_S)),
        on_failure=destination or None,
        reserved_concurrency=_reserved_concurrency(lambda_client, function),
    )


def _reserved_concurrency(lambda_client: Any, function: str) -> int | None:
    try:
        value = lambda_client.get_function_concurrency(FunctionName=function).get("ReservedConcurrentExecutions")
    except ClientError:
        return None
    return None if value is None else int(value)


def code_sha256(path: Path) -> str:
    """CodeSha256 as Lambda reports it: base64 of the zip's SHA-256."""
    return base64.b64encode(hashlib.sha256(path.read_bytes()).digest()).decode()


class CodeStore:
    """Unpacked packages, one directory per code hash (the local /var/task)."""

    def __init__(self, root: Path, packages: Sequence[Path] = (), lambda_client: Any = None) -> None:
        self.root = root
        self.packages = list(packages)
        self.lambda_client = lambda_client
        self._lock = threading.Lock()
        self._hashes: dict[tuple[Path, float, int], str] = {}

    def _hash(self, path: Path) -> str:
        stat = path.stat()
        key = (path.resolve(), stat.st_mtime, stat.st_size)
        if key not in self._hashes:
            self._hashes[key] = code_sha256(path)
        return self._hashes[key]

    def task_root(self, spec: FunctionSpec) -> Path:
        """The unpacked package whose hash is the deployed CodeSha256; raise if none can be had."""
        target = self.root / base64.b64decode(spec.code_sha256).hex()
        if target.is_dir():
            return target
        with self._lock:
            downloaded = self._download(spec)
            if downloaded is not None:
                return self._unpack(downloaded, target)
            candidates = [p for p in self.packages if p.is_file()]
            for package in candidates:
                if self._hash(package) == spec.code_sha256:
                    return self._unpack(package.read_bytes(), target)
            seen = ", ".join(f"{p} ({self._hash(p)})" for p in candidates) or "none found"
            raise PackageMismatchError(
                f"{spec.name} runs code with CodeSha256 {spec.code_sha256}, and no local package matches "
                f"(candidates: {seen}). Rebuild the package and re-apply (make demo does both)."
            )

    def _download(self, spec: FunctionSpec) -> bytes | None:
        """The deployed zip from GetFunction's Code.Location, if the local AWS serves it and the hash matches."""
        if self.lambda_client is None:
            return None
        with contextlib.suppress(ClientError, OSError, KeyError, ValueError):
            location = self.lambda_client.get_function(FunctionName=spec.arn)["Code"]["Location"]
            if location.startswith(("http://", "https://")):
                context = None
                if location.startswith("https:") and os.environ.get("AWS_CA_BUNDLE"):
                    import ssl  # noqa: PLC0415

                    context = ssl.create_default_context(cafile=os.environ["AWS_CA_BUNDLE"])
                with urllib.request.urlopen(location, timeout=30, context=context) as response:
                    body = response.read()
                if base64.b64encode(hashlib.sha256(body).digest()).decode() == spec.code_sha256:
                    return body
        return None

    def _unpack(self, package: bytes, target: Path) -> Path:
        if not target.is_dir():
            scratch = target.with_name(target.name + f".tmp-{os.getpid()}-{threading.get_ident()}")
            with zipfile.ZipFile(io.BytesIO(package)) as archive:
                archive.extractall(scratch)
            try:
                scratch.rename(target)
            except OSError:  # another process unpacked the same code first: theirs is identical
                shutil.rmtree(scratch, ignore_errors=True)
        return target


# ----------------------------------------------------------------------------------------- S3 notifications


@dataclasses.dataclass(frozen=True)
class NotificationTarget:
    """One LambdaFunctionConfiguration of a bucket: which events and keys reach which function."""

    configuration_id: str
    function_arn: str
    events: tuple[str, ...]
    prefix: str
    suffix: str

    def matches(self, event_name: str, key: str) -> bool:
        """S3's rule: the event is one of the configured ones (wildcards allowed) and the key fits both filters."""
        named = any(fnmatch.fnmatchcase(event_name, pattern) for pattern in self.events)
        return named and key.startswith(self.prefix) and key.endswith(self.suffix)


def notification_targets(s3_client: Any, bucket: str) -> list[NotificationTarget]:
    """The bucket's Lambda notification configurations as the local S3 returns them."""
    config = s3_client.get_bucket_notification_configuration(Bucket=bucket)
    targets = []
    for entry in config.get("LambdaFunctionConfigurations", []):
        rules = {r["Name"].lower(): r["Value"] for r in entry.get("Filter", {}).get("Key", {}).get("FilterRules", [])}
        targets.append(
            NotificationTarget(
                configuration_id=entry.get("Id", ""),
                function_arn=entry["LambdaFunctionArn"],
                events=tuple(entry["Events"]),
                prefix=rules.get("prefix", ""),
                suffix=rules.get("suffix", ""),
            )
        )
    return targets


@dataclasses.dataclass(frozen=True)
class S3Object:
    """One object version as an S3 event describes it."""

    bucket: str
    key: str
    size: int
    etag: str
    version_id: str | None
    event_time: dt.datetime
    sequencer: str


def event_key(key: str) -> str:
    """An object key as S3 writes it into event records: URL-encoded, spaces as `+`, slashes kept."""
    return quote_plus(key, safe="/")


def iso_millis(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def s3_event(
    obj: S3Object, region: str, configuration_id: str, event_name: str = "ObjectCreated:Put"
) -> dict[str, Any]:
    """The event S3 sends to Lambda for `obj` (the notification-content structure, event version 2.1)."""
    request_id = uuid.uuid5(uuid.NAMESPACE_URL, f"{obj.bucket}/{obj.key}/{obj.sequencer}").hex[:16].upper()
    s3_object: dict[str, Any] = {"key": event_key(obj.key), "size": obj.size, "eTag": obj.etag}
    if obj.version_id and obj.version_id != "null":
        s3_object["versionId"] = obj.version_id
    s3_object["sequencer"] = obj.sequencer
    return {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": region,
                "eventTime": iso_millis(obj.event_time),
                "eventName": event_name.removeprefix("s3:"),
                "userIdentity": {"principalId": "AWS:AIDALOCALUPLOADER"},
                "requestParameters": {"sourceIPAddress": "127.0.0.1"},
                "responseElements": {"x-amz-request-id": request_id, "x-amz-id-2": request_id.lower()},
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "configurationId": configuration_id,
                    "bucket": {
                        "name": obj.bucket,
                        "ownerIdentity": {"principalId": "A3LOCALOWNER"},
                        "arn": f"arn:aws:s3:::{obj.bucket}",
                    },
                    "object": s3_object,
                },
            }
        ]
    }


_sequence_lock = threading.Lock()
_last_sequence = 0


def next_sequencer() -> str:
    """A sequencer like S3's: an increasing hexadecimal string (compare as equal-length strings)."""
    global _last_sequence  # noqa: PLW0603 - a process-wide monotonic counter
    with _sequence_lock:
        _last_sequence = max(_last_sequence + 1, time.time_ns())
        return f"{_last_sequence:018X}"


# ------------------------------------------------------------------------------------------- invocations


@dataclasses.dataclass
class Attempt:
    """One run of the function: how it ended, how long it took, how much memory and CPU it used."""

    number: int
    outcome: str  # success | error | timeout | out_of_memory | crash
    duration_ms: float
    init_ms: float | None
    peak_rss_mb: float
    log_stream: str
    payload: Any = None
    error: dict[str, Any] | None = None
    metrics_forwarded: int = 0
    cpu_s: float = 0.0
    cpu_share: float = 0.0
    cpu_mode: str = "none"
    wall_ms: float = 0.0
    stolen_ms: float = 0.0
    log_tail: str = ""
    started_at: str = ""

    @property
    def succeeded(self) -> bool:
        return self.outcome == "success"

    def journal(self) -> dict[str, Any]:
        """The attempt as the invocation journal records it."""
        return {
            "number": self.number,
            "started_at": self.started_at,
            "outcome": self.outcome,
            "duration_ms": round(self.duration_ms, 1),
            "wall_ms": round(self.wall_ms, 1),
            "stolen_ms": round(self.stolen_ms, 1),
            "init_ms": None if self.init_ms is None else round(self.init_ms, 1),
            "peak_rss_mb": self.peak_rss_mb,
            "cpu_s": round(self.cpu_s, 3),
            "cpu_share": round(self.cpu_share, 4),
            "cpu_mode": self.cpu_mode,
            "log_stream": self.log_stream,
            "error": self.error,
            "metrics_forwarded": self.metrics_forwarded,
            # the handler's result, when small (the project's handler returns one summary per file)
            "payload": self.payload if len(json.dumps(self.payload, default=str)) <= JOURNAL_PAYLOAD_BYTES else None,
        }


def failure_record(
    request_id: str, function_arn: str, event: Any, attempts: Sequence[dict[str, Any]], condition: str
) -> dict[str, Any]:
    """The record Lambda sends to an on-failure destination (version 1.0 of the invocation record)."""
    record: dict[str, Any] = {
        "version": "1.0",
        "timestamp": iso_millis(dt.datetime.now(dt.UTC)),
        "requestContext": {
            "requestId": request_id,
            "functionArn": f"{function_arn}:$LATEST",
            "condition": condition,
            "approximateInvokeCount": len(attempts),
        },
        "requestPayload": event,
    }
    if attempts:
        error = dict(attempts[-1].get("error") or {})
        record["responseContext"] = {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"}
        record["responsePayload"] = {k: error[k] for k in ("errorMessage", "errorType", "stackTrace") if k in error}
    return record


def _memory_mb(pid: int) -> tuple[float, float]:
    """Current and peak resident memory (VmRSS, VmHWM) of a process, in MiB; zeros once it is gone."""
    rss = hwm = 0.0
    try:
        with open(f"/proc/{pid}/status", "rb") as status:
            for line in status:
                if line.startswith(b"VmRSS:"):
                    rss = int(line.split()[1]) / 1024
                elif line.startswith(b"VmHWM:"):
                    hwm = int(line.split()[1]) / 1024
    except (OSError, IndexError, ValueError):
        pass
    return rss, hwm


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


class _LineSink:
    """Collects a process's output lines (with their arrival time) while it runs."""

    def __init__(self) -> None:
        self.lines: list[tuple[int, str]] = []

    def add(self, text: str) -> None:
        self.lines.append((int(time.time() * 1000), text.rstrip("\n")))

    def read(self, stream: Any) -> None:
        for raw in iter(stream.readline, b""):
            self.add(raw.decode("utf-8", errors="replace"))
        stream.close()


# ------------------------------------------------------------------------------------------------- EMF


def emf_metric_data(document: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """PutMetricData entries, per namespace, for one EMF document (empty if it is not valid EMF)."""
    meta = document.get("_aws")
    if not isinstance(meta, dict) or not isinstance(meta.get("CloudWatchMetrics"), list):
        return {}
    try:
        timestamp = dt.datetime.fromtimestamp(int(meta["Timestamp"]) / 1000, dt.UTC)
    except (KeyError, TypeError, ValueError, OverflowError):
        return {}
    out: dict[str, list[dict[str, Any]]] = {}
    for directive in meta["CloudWatchMetrics"]:
        namespace = directive.get("Namespace")
        dimension_sets = directive.get("Dimensions") or [[]]
        if not isinstance(namespace, str):
            continue
        for metric in directive.get("Metrics", []):
            name = metric.get("Name")
            value = document.get(name)
            values = value if isinstance(value, list) else [value]
            if not values or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
                continue  # CloudWatch skips a metric whose member is missing or not numeric
            for dimension_set in dimension_sets:
                if not all(isinstance(document.get(d), str) for d in dimension_set):
                    continue
                datum: dict[str, Any] = {
                    "MetricName": name,
                    "Dimensions": [{"Name": d, "Value": document[d]} for d in dimension_set],
                    "Timestamp": timestamp,
                    "Unit": metric.get("Unit", "None"),
                }
                if isinstance(value, list):
                    datum["Values"] = [float(v) for v in values]
                else:
                    datum["Value"] = float(value)
                if metric.get("StorageResolution") == 1:
                    datum["StorageResolution"] = 1
                out.setdefault(namespace, []).append(datum)
    return out


def emf_documents(lines: Iterable[str]) -> Iterable[dict[str, Any]]:
    """The log lines that are EMF documents (a JSON object with `_aws.CloudWatchMetrics`)."""
    for line in lines:
        text = line.strip()
        if not (text.startswith("{") and '"_aws"' in text):
            continue
        try:
            document = json.loads(text)
        except json.JSONDecodeError:
            continue
        if isinstance(document, dict):
            yield document


# ----------------------------------------------------------------------------------------------- runtime


class LocalLambda:
    """Runs attempts of functions deployed on the local AWS as Lambda would, and delivers their failure records."""

    def __init__(
        self,
        endpoint: str,
        *,
        packages: Sequence[Path] = (),
        state_dir: Path = DEFAULT_STATE_DIR,
        region: str = tfwork.LOCAL_REGION,
        python: str = sys.executable,
        cpu: cpu_share.CpuLimiter | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.region = region
        self.state_dir = state_dir
        self.python = python
        self.s3 = aws_client("s3", endpoint, region)
        self.lambda_ = aws_client("lambda", endpoint, region)
        self.logs = aws_client("logs", endpoint, region)
        self.cloudwatch = aws_client("cloudwatch", endpoint, region)
        self.sqs = aws_client("sqs", endpoint, region)
        self.sns = aws_client("sns", endpoint, region)
        self.code = CodeStore(state_dir / "lambda-code", packages, self.lambda_)
        self.log_dir = state_dir / "logs"
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.cpu = cpu or cpu_share.CpuLimiter()
        self._log_lock = threading.Lock()
        self._active: set[int] = set()

    def kill_all(self) -> None:
        """Kill every function process this runtime is running (its attempts end as crashes)."""
        for pid in list(self._active):
            _kill_group(pid)

    def put_object(self, bucket: str, key: str, body: bytes) -> S3Object:
        """PutObject, as a shipper would (the local AWS delivers its event), and describe the new version."""
        response = self.s3.put_object(Bucket=bucket, Key=key, Body=body)
        return S3Object(
            bucket=bucket,
            key=key,
            size=len(body),
            etag=response["ETag"].strip('"'),
            version_id=response.get("VersionId"),
            event_time=dt.datetime.now(dt.UTC),
            sequencer=next_sequencer(),
        )

    # ------------------------------------------------------------------------------ after the function

    def send_failure(self, spec: FunctionSpec, record: dict[str, Any]) -> tuple[str | None, str | None, str | None]:
        """Deliver a failure record to the function's on-failure destination: (destination, message id, error)."""
        destination = spec.on_failure
        if not destination:
            return None, None, None
        body = json.dumps(record)
        service = destination.split(":")[2]
        try:
            if service == "sqs":
                account, name = destination.split(":")[4], destination.split(":")[5]
                url = self.sqs.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)["QueueUrl"]
                return destination, self.sqs.send_message(QueueUrl=url, MessageBody=body)["MessageId"], None
            if service == "sns":
                return destination, self.sns.publish(TopicArn=destination, Message=body)["MessageId"], None
        except ClientError as error:  # Lambda counts this as DestinationDeliveryFailures
            return destination, None, str(error)
        return destination, None, f"on-failure destination {destination} is not supported locally"

    def _environment(
        self, spec: FunctionSpec, task_root: Path, log_stream: str, trace_header: str | None
    ) -> dict[str, str]:
        """The function's own variables plus what Lambda sets, the local endpoint and fake credentials."""
        env = dict(spec.environment)
        env.update(
            {
                "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
                "LANG": "C.UTF-8",
                "TZ": ":UTC",
                "LAMBDA_TASK_ROOT": str(task_root),
                "LAMBDA_RUNTIME_DIR": str(BOOTSTRAP.parent),
                "_HANDLER": spec.handler,
                "AWS_EXECUTION_ENV": f"AWS_Lambda_{spec.runtime}",
                "AWS_LAMBDA_FUNCTION_NAME": spec.name,
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_mb),
                "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
                "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
                "AWS_LAMBDA_LOG_GROUP_NAME": spec.log_group,
                "AWS_LAMBDA_LOG_STREAM_NAME": log_stream,
                "AWS_REGION": self.region,
                "AWS_DEFAULT_REGION": self.region,
                "AWS_ENDPOINT_URL": self.endpoint,
                # local-only safety: no shared config or credentials file can point the function elsewhere
                "AWS_CONFIG_FILE": os.devnull,
                "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
                **FAKE_CREDENTIALS,
            }
        )
        if trace_header:
            env["_X_AMZN_TRACE_ID"] = trace_header
        if self.endpoint.startswith("https:") and os.environ.get("AWS_CA_BUNDLE"):
            env["AWS_CA_BUNDLE"] = os.environ["AWS_CA_BUNDLE"]
        if spec.log_format.upper() == "JSON":
            env["AWS_LAMBDA_LOG_FORMAT"] = "JSON"
            env["AWS_LAMBDA_LOG_LEVEL"] = spec.application_log_level or "INFO"
        return env

    def run_attempt(
        self,
        spec: FunctionSpec,
        event: Any,
        request_id: str,
        number: int,
        trace_header: str | None = None,
    ) -> Attempt:
        """Run the handler once in a fresh process with the function's limits; collect logs and metrics."""
        task_root = self.code.task_root(spec)
        log_stream = f"{time.strftime('%Y/%m/%d', time.gmtime())}/[$LATEST]{uuid.uuid4().hex}"
        started_at = iso_millis(dt.datetime.now(dt.UTC))
        sink = _LineSink()
        control: queue.Queue[dict[str, Any]] = queue.Queue()
        limit = self.cpu.attempt(spec.memory_mb)
        read_fd, write_fd = os.pipe()
        try:
            process = subprocess.Popen(
                [self.python, "-I", "-u", str(BOOTSTRAP), str(write_fd)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                env=self._environment(spec, task_root, log_stream, trace_header),
                cwd=task_root,
                pass_fds=(write_fd,),
                start_new_session=True,  # its own process group: a kill reaches anything it started
            )
            os.close(write_fd)
            self._active.add(process.pid)
            # The bootstrap reads its request before it imports the handler: it is in its cgroup before any work.
            limit.add(process.pid)
            readers = [
                threading.Thread(target=sink.read, args=(process.stdout,), daemon=True),
                threading.Thread(target=_read_control, args=(read_fd, control), daemon=True),
            ]
            for reader in readers:
                reader.start()
            assert process.stdin is not None
            request = {
                "event": event,
                "request_id": request_id,
                "invoked_function_arn": spec.arn,
                "timeout_ms": spec.timeout_s * 1000,
            }
            with contextlib.suppress(BrokenPipeError):
                process.stdin.write((json.dumps(request) + "\n").encode())
                process.stdin.close()

            sink.add(f"START RequestId: {request_id} Version: $LATEST")
            watch = _Watch(process.pid, spec, limit)
            status, usage = watch.run(control)
            self._active.discard(process.pid)
            process.returncode = os.waitstatus_to_exitcode(status)
            _kill_group(process.pid)  # anything the handler left running in the background
            for reader in readers:
                reader.join(timeout=5)
            while not control.empty():
                watch.observe(control.get_nowait())
            watch.settle(usage)
        finally:
            limit.close()

        attempt = watch.attempt(number, request_id, process.returncode, log_stream)
        attempt.cpu_s = usage.ru_utime + usage.ru_stime
        attempt.cpu_share = limit.share
        attempt.cpu_mode = limit.mode
        attempt.started_at = started_at
        self._finish_logs(spec, attempt, request_id, sink)
        tail = "\n".join(line for _, line in sink.lines).encode()[-LOG_TAIL_BYTES:]
        attempt.log_tail = base64.b64encode(tail).decode()
        attempt.metrics_forwarded = self._forward_metrics(line for _, line in sink.lines)
        return attempt

    # ------------------------------------------------------------------------------ logs and metrics

    def _finish_logs(self, spec: FunctionSpec, attempt: Attempt, request_id: str, sink: _LineSink) -> None:
        if attempt.outcome == "timeout":
            sink.add(
                f"{iso_millis(dt.datetime.now(dt.UTC))} {request_id} Task timed out after {spec.timeout_s:.2f} seconds"
            )
        sink.add(f"END RequestId: {request_id}")
        report = (
            f"REPORT RequestId: {request_id}\tDuration: {attempt.duration_ms:.2f} ms\tBilled Duration: "
            f"{int(attempt.duration_ms) + 1} ms\tMemory Size: {spec.memory_mb} MB\tMax Memory Used: "
            f"{round(attempt.peak_rss_mb)} MB"
        )
        if attempt.init_ms is not None:
            report += f"\tInit Duration: {attempt.init_ms:.2f} ms"
        if attempt.outcome in {"timeout", "out_of_memory", "crash"}:
            report += f"\tStatus: {attempt.outcome}"
        sink.add(report)
        self.append_local_log(spec.name, request_id, attempt.number, sink.lines)
        self._put_log_events(spec.log_group, attempt.log_stream, sink.lines)

    def append_local_log(self, function: str, request_id: str, attempt: int, lines: list[tuple[int, str]]) -> None:
        """Append lines (with the time each was printed) to `<state>/logs/<function>.log`."""
        prefix = f"{request_id} #{attempt}"
        with self._log_lock, (self.log_dir / f"{function}.log").open("a", encoding="utf-8") as log:
            for ms, line in lines:
                moment = dt.datetime.fromtimestamp(ms / 1000, dt.UTC)
                log.write(f"{iso_millis(moment)} {prefix} | {line}\n")

    def _put_log_events(self, group: str, stream: str, lines: list[tuple[int, str]]) -> None:
        try:
            try:
                self.logs.create_log_stream(logGroupName=group, logStreamName=stream)
            except ClientError as error:
                if error.response["Error"]["Code"] != "ResourceNotFoundException":
                    raise
                self.logs.create_log_group(logGroupName=group)
                self.logs.create_log_stream(logGroupName=group, logStreamName=stream)
            events = [{"timestamp": ts, "message": line or " "} for ts, line in lines]
            for start in range(0, len(events), 5000):
                self.logs.put_log_events(
                    logGroupName=group, logStreamName=stream, logEvents=events[start : start + 5000]
                )
        except ClientError as error:  # logs are best effort, as in Lambda: the invocation result stands
            print(f"warning: could not write CloudWatch Logs {group}/{stream}: {error}", file=sys.stderr)

    def _forward_metrics(self, lines: Iterable[str]) -> int:
        """Turn EMF documents into PutMetricData calls, as CloudWatch Logs does for a function's log group."""
        by_namespace: dict[str, list[dict[str, Any]]] = {}
        for document in emf_documents(lines):
            for namespace, data in emf_metric_data(document).items():
                by_namespace.setdefault(namespace, []).extend(data)
        for namespace, data in by_namespace.items():
            for start in range(0, len(data), 1000):
                self.cloudwatch.put_metric_data(Namespace=namespace, MetricData=data[start : start + 1000])
        return sum(len(d) for d in by_namespace.values())


def _read_control(fd: int, messages: queue.Queue[dict[str, Any]]) -> None:
    with os.fdopen(fd, "r", encoding="utf-8") as control:
        for line in control:
            with contextlib.suppress(json.JSONDecodeError):
                messages.put(json.loads(line))


class _Watch:
    """Watches one function process: phases, deadlines, memory, CPU; kills it when a limit is crossed."""

    def __init__(self, pid: int, spec: FunctionSpec, limit: cpu_share.AttemptLimit) -> None:
        self.pid = pid
        self.spec = spec
        self.limit = limit
        self.started = time.monotonic()
        self.invoke_started: float | None = None
        self.finished: float | None = None
        self.init_ms: float | None = None
        self.final: dict[str, Any] | None = None
        self.killed_for: str | None = None
        self.peak_rss_mb = 0.0
        self.charged_s = 0.0
        self.stolen_s = 0.0  # time the host did not give the process the CPU its share entitles it to
        self.stolen_at_invoke = 0.0
        self._stolen_checked = 0.0

    def observe(self, message: dict[str, Any]) -> None:
        phase = message.get("phase")
        now = time.monotonic()
        if phase == "init_done" and self.invoke_started is None:
            self.init_ms = float(message.get("init_ms", 0.0))
            self.invoke_started = now
            self.stolen_at_invoke = self._stolen()
            cpu = message.get("init_cpu_s")
            self.limit.init_done(float(cpu) if cpu is not None else None)
        elif phase in {"result", "error"} and self.final is None:
            self.final = message
            self.finished = now
            if self.limit.mode == "charged":  # 0 if the process is already gone: settle() then charges it
                self.charged_s = max(self.charged_s, self.limit.charged_s(self.limit.cpu_s()))
        self.peak_rss_mb = max(self.peak_rss_mb, float(message.get("peak_rss_kb", 0)) / 1024)

    def settle(self, usage: Any) -> None:
        """Charged mode, after the process exited: charge its exact CPU time from its rusage. A quick attempt can
        exit before the poll loop reads its messages, and /proc no longer knows its CPU time then."""
        if self.limit.mode == "charged":
            self.charged_s = max(self.charged_s, self.limit.charged_s(usage.ru_utime + usage.ru_stime))

    def _stolen(self) -> float:
        self.stolen_s = self.limit.stolen_s()
        return self.stolen_s

    def _deadline(self) -> float:
        if self.finished is not None:
            return self.finished + RESULT_GRACE_S
        if time.monotonic() - self._stolen_checked > 0.1:
            self._stolen_checked = time.monotonic()
            self._stolen()
        if self.invoke_started is not None:
            return self.invoke_started + self.spec.timeout_s + (self.stolen_s - self.stolen_at_invoke)
        return self.started + INIT_TIMEOUT_S + self.stolen_s

    def _over_cpu(self) -> bool:
        """Charged mode: the invoke phase's CPU time at the share has used up the timeout."""
        if self.limit.mode != "charged" or self.invoke_started is None or self.final is not None:
            return False
        self.charged_s = self.limit.charged_s(self.limit.cpu_s())
        return self.charged_s >= self.spec.timeout_s

    def run(self, control: queue.Queue[dict[str, Any]]) -> tuple[int, Any]:
        """Poll until the process exits (killing it at a limit); return its wait status and rusage."""
        while True:
            pid, status, usage = os.wait4(self.pid, os.WNOHANG)
            if pid:
                return status, usage
            while not control.empty():
                self.observe(control.get_nowait())
            rss, hwm = _memory_mb(self.pid)
            self.peak_rss_mb = max(self.peak_rss_mb, rss, hwm)
            if self.killed_for is None and self.final is None:
                if rss > self.spec.memory_mb:
                    self.killed_for = "out_of_memory"
                elif time.monotonic() > self._deadline() or self._over_cpu():
                    self.killed_for = "timeout"
                if self.killed_for:
                    self.finished = time.monotonic()
                    _kill_group(self.pid)
            elif self.final is not None and time.monotonic() > self._deadline():
                _kill_group(self.pid)
            time.sleep(POLL_INTERVAL_S)

    def attempt(self, number: int, request_id: str, returncode: int, log_stream: str) -> Attempt:
        end = self.finished or time.monotonic()
        wall_ms = (end - (self.invoke_started or self.started)) * 1000
        stolen_ms = (self.stolen_s - (self.stolen_at_invoke if self.invoke_started is not None else 0.0)) * 1000
        # as Lambda would have timed it: without the time the host stole; in charged mode at least CPU / share
        duration_ms = max(0.0, wall_ms - stolen_ms)
        if self.limit.mode == "charged":
            duration_ms = max(duration_ms, self.charged_s * 1000)
        outcome, error, payload = "crash", None, None
        if self.killed_for == "timeout":
            outcome = "timeout"
            error = {
                "errorType": "Sandbox.Timedout",
                "errorMessage": f"RequestId: {request_id} Error: Task timed out after "
                f"{self.spec.timeout_s:.2f} seconds",
            }
        elif self.killed_for == "out_of_memory":
            outcome = "out_of_memory"
            error = {
                "errorType": "Runtime.OutOfMemory",
                "errorMessage": f"RequestId: {request_id} Error: Runtime exited with error: signal: killed",
            }
        elif self.final is not None and self.final["phase"] == "result":
            outcome, payload = "success", self.final.get("payload")
        elif self.final is not None:
            outcome = "error"
            error = {k: self.final[k] for k in ("errorType", "errorMessage", "stackTrace") if k in self.final}
        else:
            how = f"signal: {signal.Signals(-returncode).name}" if returncode < 0 else f"exit status {returncode}"
            error = {
                "errorType": "Runtime.ExitError",
                "errorMessage": f"RequestId: {request_id} Error: Runtime exited with error: {how}",
            }
        return Attempt(
            number=number,
            outcome=outcome,
            duration_ms=duration_ms,
            init_ms=self.init_ms,
            peak_rss_mb=round(self.peak_rss_mb, 1),
            log_stream=log_stream,
            payload=payload,
            error=error,
            wall_ms=wall_ms,
            stolen_ms=stolen_ms,
        )
