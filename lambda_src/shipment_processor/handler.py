"""Lambda entry point: decode the S3 event, hand each object to the processor, report. Thin on purpose.

Settings are read and validated once per cold start (at import, so a bad configuration fails the init phase with
a clear message); boto3 clients are created on first use and reused by later invocations.
"""

from __future__ import annotations

import functools
import os
import platform
import uuid
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from logging import INFO, WARNING
from typing import Any
from urllib.parse import unquote_plus

from . import seekable_gzip
from .arns import unqualified_function_arn
from .config import Settings
from .logs import bind, configure, log, log_exception
from .processor import FileProcessor, FileReport, Invocation, S3Object
from .profiles import zone_data_source
from .store import Store


class ProcessingError(RuntimeError):
    """At least one object of the event could not be processed; Lambda should retry the invocation."""


@dataclass(frozen=True, slots=True)
class Runtime:
    """Per-process state: settings and the processor with its AWS clients."""

    settings: Settings
    processor: FileProcessor

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Runtime:
        """Read and validate the settings, then wire everything up."""
        return cls.create(Settings.from_env(env))

    @classmethod
    def create(cls, settings: Settings, *, store: Store | None = None, **processor_options: Any) -> Runtime:
        """Configure logging and build the processor (tests pass their own store or clock)."""
        configure(settings.log_level)
        return cls(settings, FileProcessor(settings, store or Store(settings), **processor_options))


@functools.cache
def runtime() -> Runtime:
    """The process-wide runtime, built from ``os.environ`` on first call.

    On Lambda the AWS clients are made here, in the init phase: it runs before the invocation's timeout starts and,
    at small memory sizes, with more CPU than the invocation gets (a boto3 client costs tens of milliseconds of CPU).
    """
    rt = Runtime.from_env(os.environ)
    if os.environ.get("AWS_LAMBDA_FUNCTION_NAME"):
        rt.processor.store.warm(("s3", "dynamodb", "events", "lambda"))
    return rt


def lambda_handler(event: Any, context: Any) -> dict[str, Any]:
    """AWS Lambda entry point (``shipment_processor.handler.lambda_handler``)."""
    return handle(event, context, runtime())


def handle(event: Any, context: Any, rt: Runtime) -> dict[str, Any]:
    """Process what the event asks for; raise ProcessingError if any of it could not be processed.

    Three kinds of event: an S3 notification (every ObjectCreated record), a ``continuation`` this function
    queued for itself to carry on with a large file, and a ``reprocess`` request from an operator (a new attempt
    on a version that is already final). A fourth, a probe, touches nothing and answers what this runtime
    provides (``shipment-ops smoke`` asks it on a real deployment): an S3 test event with a ``probe`` member, so
    that code from before probes ignores it as a test event instead of failing (a failed invocation would count in
    the function's Errors metric and page someone).
    """
    if is_probe(event):
        log(INFO, "probe answered: what this runtime provides", **(facts := runtime_facts()))
        return {"runtime": facts}
    request_id = str(getattr(context, "aws_request_id", "") or uuid.uuid4())
    # requestId, as the Lambda runtime's own JSON log lines spell it, so one Logs Insights filter finds both.
    bind(requestId=request_id, environment=rt.settings.environment)
    invocation = Invocation(
        request_id,
        getattr(context, "get_remaining_time_in_millis", None),
        # A continuation goes to the function itself even when this invocation came through an alias or version.
        unqualified_function_arn(getattr(context, "invoked_function_arn", None)),
    )
    work: list[tuple[str, str | None, Callable[[], FileReport]]] = []
    problems: list[str] = []
    if isinstance(event, dict) and isinstance(event.get("continuation"), dict):
        request = event["continuation"]
        work.append((str(request.get("key")), None, lambda: rt.processor.continue_file(request, invocation)))
    elif isinstance(event, dict) and isinstance(event.get("reprocess"), dict):
        request = event["reprocess"]
        work.append(
            (str(request.get("key")), request.get("version_id"), lambda: rt.processor.reprocess(request, invocation))
        )
    else:
        objects, problems = s3_objects(event, rt.settings)
        for obj in objects:
            work.append((obj.key, obj.version_id, functools.partial(rt.processor.process, obj, invocation)))
    reports = []
    failures: list[str] = []
    first_error: Exception | None = None
    for key, version_id, run in work:
        try:
            reports.append(run())
        except Exception as exc:  # finish the other objects, then fail the invocation
            first_error = first_error or exc
            log_exception(
                "object could not be processed; the invocation will fail and be retried",
                key=key,
                version_id=version_id,
                error=repr(exc),
            )
            failures.append(f"{key}: {exc!r}")
    if problems or failures:
        raise ProcessingError("; ".join(problems + failures)) from first_error
    return {"files": [asdict(report) for report in reports]}


def is_probe(event: Any) -> bool:
    """``{"Event": "s3:TestEvent", "probe": {}}``: a test event S3 never sends (it has no ``probe``)."""
    return isinstance(event, dict) and event.get("Event") == "s3:TestEvent" and isinstance(event.get("probe"), dict)


def runtime_facts() -> dict[str, Any]:
    """What the code relies on the runtime for, as found here: no AWS call is made."""
    return {
        "python": platform.python_version(),
        "architecture": platform.machine(),
        "memory_mb": os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE"),
        "gzip_seek_points": seekable_gzip.library(),  # None: gzip continuations decompress again from byte 0
        "time_zones": zone_data_source(),
    }


def s3_objects(event: Any, settings: Settings) -> tuple[list[S3Object], list[str]]:
    """The objects an event asks us to process, plus descriptions of records too malformed to use.

    Ignored (logged, not failed): S3 test events, non-ObjectCreated events, keys outside the incoming prefix,
    the handler's own rejects reports, and folder placeholder keys ending in '/'.
    """
    if not isinstance(event, dict):
        return [], [f"event is not an S3 notification: {type(event).__name__}"]
    if event.get("Event") == "s3:TestEvent":
        log(INFO, "S3 test event ignored", bucket=event.get("Bucket"))
        return [], []
    records = event.get("Records")
    if not isinstance(records, list):
        return [], ["event is not an S3 notification: no Records list"]
    objects: list[S3Object] = []
    problems: list[str] = []
    for position, record in enumerate(records):
        try:
            obj = _decode(record)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            problems.append(f"record {position} is not a usable S3 notification: {exc!r}")
            log(WARNING, "malformed S3 event record", position=position, error=repr(exc))
            continue
        reason = _ignore_reason(record, obj, settings)
        if reason:
            log(INFO, f"object ignored: {reason}", key=obj.key, event_name=record.get("eventName"))
        else:
            objects.append(obj)
    return objects, problems


def _decode(record: dict[str, Any]) -> S3Object:
    s3 = record["s3"]
    size = s3["object"].get("size")
    # A bucket whose versioning was suspended gives every new object the version id "null": it names no version
    # (each overwrite replaces the "null" version), so such an upload is told apart by its sequencer and read
    # pinned to its ETag, as in a bucket that was never versioned.
    version_id = s3["object"].get("versionId")
    return S3Object(
        bucket=str(s3["bucket"]["name"]),
        key=unquote_plus(s3["object"]["key"]),
        event_time=str(record["eventTime"]),
        version_id=None if version_id in (None, "", "null") else str(version_id),
        etag=s3["object"].get("eTag"),
        size=int(size) if size is not None else None,
        sequencer=s3["object"].get("sequencer") or None,
    )


def _ignore_reason(record: dict[str, Any], obj: S3Object, settings: Settings) -> str | None:
    if record.get("eventSource") != "aws:s3":
        return f"event source {record.get('eventSource')!r} is not aws:s3"
    if not str(record.get("eventName", "")).startswith("ObjectCreated:"):
        return "not an ObjectCreated event"
    if obj.key.startswith(settings.rejects_prefix):
        return "it is a rejects report written by this function"
    if not obj.key.startswith(settings.incoming_prefix):
        return f"outside the {settings.incoming_prefix} prefix"
    if obj.key.endswith("/"):
        return "folder placeholder"
    return None


runtime()  # cold start: an invalid configuration fails the init phase, before any event is lost to it
