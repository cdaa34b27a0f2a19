"""The in-process half of the local Lambda runtime: what /var/runtime/bootstrap does on AWS.

`local_lambda` (beside it) starts this file as a script (`python -I -u lambda_bootstrap.py CONTROL_FD`) in a fresh
process whose environment is the deployed function's. It reads one invocation request (JSON) from stdin,
imports the handler from `LAMBDA_TASK_ROOT` (the unpacked package), calls it with the event and a Lambda-like
context, and reports each phase as one JSON line on the control pipe:

    {"phase": "init_done", "init_ms": ..., "init_cpu_s": ...}    the module imported: the invoke starts now
    {"phase": "result", "payload": ...}       the handler returned
    {"phase": "error", "errorType": ..., ...} the handler (or the import) raised

Everything the function prints goes to stdout, which the parent keeps as the log stream, as Lambda does. Only
the standard library is imported here, so the handler sees the same modules it would see on Lambda (boto3 is
there because the interpreter's site-packages has it, as the Lambda Python runtime has it).
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import sys
import time
import traceback
from typing import Any


class LambdaContext:
    """The attributes and method of the context object the Lambda Python runtime passes to handlers."""

    def __init__(self, request: dict[str, Any], deadline_ms: int) -> None:
        self.function_name: str = os.environ["AWS_LAMBDA_FUNCTION_NAME"]
        self.function_version: str = os.environ["AWS_LAMBDA_FUNCTION_VERSION"]
        self.invoked_function_arn: str = request["invoked_function_arn"]
        self.memory_limit_in_mb: str = os.environ["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"]
        self.aws_request_id: str = request["request_id"]
        self.log_group_name: str = os.environ["AWS_LAMBDA_LOG_GROUP_NAME"]
        self.log_stream_name: str = os.environ["AWS_LAMBDA_LOG_STREAM_NAME"]
        self.identity = None
        self.client_context = None
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self) -> int:
        return max(0, self._deadline_ms - int(time.time() * 1000))


class _RequestIdFilter(logging.Filter):
    def __init__(self) -> None:
        super().__init__()
        self.request_id = ""

    def filter(self, record: logging.LogRecord) -> bool:
        record.aws_request_id = self.request_id
        return True


class _JsonFormatter(logging.Formatter):
    """The record shape of Lambda's JSON log format (LoggingConfig.LogFormat = JSON)."""

    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, Any] = {
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "message": record.getMessage(),
            "logger": record.name,
            "requestId": getattr(record, "aws_request_id", ""),
        }
        if record.exc_info:
            document["errorType"] = record.exc_info[0].__name__ if record.exc_info[0] else "Exception"
            document["stackTrace"] = traceback.format_exception(*record.exc_info)
        return json.dumps(document, default=str)


def _configure_logging(request_filter: _RequestIdFilter) -> None:
    """Install the root handler the Lambda Python runtime installs (text or JSON, per the function's config)."""
    handler = logging.StreamHandler(sys.stdout)
    handler.addFilter(request_filter)
    root = logging.getLogger()
    if os.environ.get("AWS_LAMBDA_LOG_FORMAT", "Text").upper() == "JSON":
        handler.setFormatter(_JsonFormatter())
        root.setLevel(os.environ.get("AWS_LAMBDA_LOG_LEVEL", "INFO").upper())
    else:
        handler.setFormatter(
            logging.Formatter(
                "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s", "%Y-%m-%dT%H:%M:%S"
            )
        )
        handler.formatter.converter = time.gmtime  # type: ignore[union-attr]
    root.addHandler(handler)


def _error(exc: BaseException, error_type: str | None = None) -> dict[str, Any]:
    return {
        "phase": "error",
        "errorType": error_type or type(exc).__name__,
        "errorMessage": str(exc),
        # the handler's frames only, as Lambda reports them (not the runtime's own)
        "stackTrace": traceback.format_list(
            [f for f in traceback.extract_tb(exc.__traceback__) if f.filename != __file__]
        ),
    }


def _log_error(failure: dict[str, Any], request_id: str) -> None:
    """Log an unhandled error the way the runtime does: `[ERROR] Type: message` and the traceback."""
    if os.environ.get("AWS_LAMBDA_LOG_FORMAT", "Text").upper() == "JSON":
        document = {
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "level": "ERROR",
            "message": failure["errorMessage"],
            "errorType": failure["errorType"],
            "stackTrace": failure["stackTrace"],
            "requestId": request_id,
        }
        print(json.dumps(document), flush=True)
    else:
        trace = "".join(failure["stackTrace"])
        print(
            f"[ERROR] {failure['errorType']}: {failure['errorMessage']}\nTraceback (most recent call last):\n{trace}",
            flush=True,
        )


def _peak_rss_kb() -> int:
    """This process's resident high-water mark since exec (VmHWM); getrusage would include the parent's."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def _send(control: Any, message: dict[str, Any]) -> None:
    message["peak_rss_kb"] = _peak_rss_kb()
    control.write(json.dumps(message, default=str) + "\n")
    control.flush()


def _load_handler(spec: str) -> Any:
    module_name, _, function_name = spec.rpartition(".")
    if not module_name:
        raise ValueError(f"Bad handler '{spec}': not enough values to unpack (expected module.function)")
    module = importlib.import_module(module_name.replace("/", "."))
    handler = getattr(module, function_name, None)
    if handler is None:
        raise AttributeError(f"Handler '{function_name}' missing on module '{module_name}'")
    return handler


def _die_with_runtime() -> None:
    """SIGKILL this process if the runtime thread that started it dies (Linux prctl PR_SET_PDEATHSIG), so a
    killed runtime leaves no function running past its timeout."""
    try:
        import ctypes  # noqa: PLC0415 - only here: the handler's module set stays what Lambda's runtime has

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, 9)
    except (OSError, AttributeError):
        pass


def main() -> int:
    _die_with_runtime()
    control = os.fdopen(int(sys.argv[1]), "w", encoding="utf-8")
    # Nothing else happens before the request arrives: the runtime puts this process into its CPU cgroup first.
    request = json.loads(sys.stdin.readline())
    sys.stdin.close()
    sys.path.insert(0, os.environ["LAMBDA_TASK_ROOT"])
    request_filter = _RequestIdFilter()
    _configure_logging(request_filter)

    started = time.monotonic()
    try:
        handler = _load_handler(os.environ["_HANDLER"])
    except Exception as exc:  # the runtime reports any import failure as the invocation's error
        error_type = "Runtime.ImportModuleError" if isinstance(exc, ImportError) else "Runtime.HandlerNotFound"
        return _fail(control, _error(exc, error_type), request["request_id"])
    # The CPU time init used, read here: the runtime reads the message only at its next poll, by when the handler
    # may already have used CPU that must be charged to the invoke phase.
    _send(control, {"phase": "init_done", "init_ms": (time.monotonic() - started) * 1000,
                    "init_cpu_s": time.process_time()})  # fmt: skip

    request_filter.request_id = request["request_id"]
    context = LambdaContext(request, int(time.time() * 1000) + int(request["timeout_ms"]))
    try:
        payload = handler(request["event"], context)
    except Exception as exc:  # an unhandled function error
        return _fail(control, _error(exc), request["request_id"])
    try:
        encoded = json.dumps(payload)
    except (TypeError, ValueError) as exc:  # what Lambda answers for a result it cannot serialise
        return _fail(control, _error(exc, "Runtime.MarshalError"), request["request_id"])
    sys.stdout.flush()
    _send(control, {"phase": "result", "payload": json.loads(encoded)})
    return 0


def _fail(control: Any, failure: dict[str, Any], request_id: str) -> int:
    _log_error(failure, request_id)
    _send(control, failure)
    return 0


if __name__ == "__main__":
    sys.exit(main())
