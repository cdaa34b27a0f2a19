"""The local Lambda service: runs the invocations the local AWS accepted, the way Lambda's async queue does.

    python -m tools.emulator.aws.lambda_.lambda_service --endpoint URL --state-dir DIR [--parent-pid PID]

Started (and restarted if it dies) by the local AWS server, as its child. It reads the invocation journal
(`journal`, beside it): every accepted async invocation (an S3 event, an `Event` Invoke) is a queue marker
and a record; every `RequestResponse` Invoke is a request file the server waits on. For each it reads the
function's configuration from the local AWS and runs attempts with `tools.emulator.aws.lambda_.local_lambda`:

* **Concurrency**: per function at most its reserved concurrency (GetFunctionConcurrency) or
  `LOCAL_LAMBDA_CONCURRENCY` (10) attempts run at once, each in its own process under its own limits; async
  events beyond that wait in the queue (as in Lambda's internal queue) and count once as `Throttles`; a
  synchronous invoke beyond it is answered 429 TooManyRequestsException.
* **Async retries**: a failed attempt is retried MaximumRetryAttempts times after `LOCAL_LAMBDA_RETRY_DELAYS_S`
  (default "1,2" seconds; AWS waits about 1 and 2 minutes), without holding a concurrency slot while it waits;
  an event older than MaximumEventAgeInSeconds is not run again. Then the failure record goes to the on-failure
  destination (condition RetriesExhausted / EventAgeExceeded). An invocation the server stopped as a recursive
  loop goes there too, without running (condition RecursiveInvocationLoopDetected).
* **At least once, never twice on restart**: a record is finished (attempts, outcome, destination) before its
  queue marker is removed; a restart resumes what is still queued and skips what is finished.
* **Metrics**: AWS/Lambda Invocations, Errors, Duration, Throttles, DestinationDeliveryFailures, AsyncEventAge,
  RecursiveInvocationsDropped (`tools.emulator.aws.cloudwatch.aws_metrics`).
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import dataclasses
import datetime as dt
import json
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from tools.emulator.aws import clients
from tools.emulator.aws.cloudwatch import aws_metrics
from tools.emulator.aws.lambda_ import cpu_share, journal, local_lambda
from tools.files import write_atomic

POLL_S = 0.05
DEFAULT_CONCURRENCY = 10


def _retry_delays() -> tuple[float, ...]:
    raw = os.environ.get("LOCAL_LAMBDA_RETRY_DELAYS_S", "1,2")
    return tuple(float(v) for v in raw.split(",") if v.strip()) or (0.0,)


def _age_s(received_at: str) -> float:
    moment = dt.datetime.strptime(received_at, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.UTC)
    return (dt.datetime.now(dt.UTC) - moment).total_seconds()


@dataclasses.dataclass
class _Item:
    request_id: str
    due: float
    throttled: bool = False


class LambdaService:
    """The scheduler: one thread polling the journal, one worker thread per running attempt."""

    def __init__(self, endpoint: str, state_dir: Path, concurrency: int | None = None) -> None:
        self.endpoint = endpoint
        self.journal = journal.Journal(state_dir)
        self.cpu = cpu_share.CpuLimiter()
        self.runtime = local_lambda.LocalLambda(endpoint, state_dir=state_dir, cpu=self.cpu)
        self.cloudwatch = clients.aws_client("cloudwatch", endpoint)
        self.retry_delays = _retry_delays()
        self.default_concurrency = concurrency or int(os.environ.get("LOCAL_LAMBDA_CONCURRENCY", DEFAULT_CONCURRENCY))
        self.stopping = threading.Event()
        self._known: set[str] = set()
        self._ready: list[_Item] = []
        self._running: dict[str, int] = {}
        self._sync_seen: set[str] = set()
        self._lock = threading.Lock()
        self._workers: set[threading.Thread] = set()
        (state_dir / "lambda").mkdir(parents=True, exist_ok=True)
        write_atomic(state_dir / "lambda" / "cpu-mode", self.cpu.mode, durable=False)

    # ------------------------------------------------------------------------------------- scheduling

    def spec(self, function_arn: str) -> local_lambda.FunctionSpec:
        """The function's configuration now (read for every attempt: an update applies to the next one)."""
        return local_lambda.describe_function(self.runtime.lambda_, function_arn)

    def _attempt(self, spec: local_lambda.FunctionSpec, record: journal.Record, number: int) -> local_lambda.Attempt:
        """Run one attempt; a failure of the runtime itself (no code to run, say) is the attempt's error."""
        try:
            return self.runtime.run_attempt(
                spec, record.event, record.request_id, number, record.data.get("trace", {}).get("header")
            )
        except Exception as error:  # reported as the attempt's outcome
            return local_lambda.Attempt(
                number=number,
                outcome="crash",
                duration_ms=0.0,
                init_ms=None,
                peak_rss_mb=0.0,
                log_stream="",
                error={"errorType": f"Runtime.{type(error).__name__}", "errorMessage": str(error)},
                started_at=journal.now_iso(),
            )

    def _limit(self, spec: local_lambda.FunctionSpec) -> int:
        return self.default_concurrency if spec.reserved_concurrency is None else spec.reserved_concurrency

    def poll_once(self) -> None:
        for _marker, request_id in self.journal.pending():
            if request_id not in self._known:
                self._known.add(request_id)
                self._ready.append(_Item(request_id, time.monotonic()))
        for request in sorted(self.journal.sync_dir.glob("*.request.json")):
            request_id = request.name.removesuffix(".request.json")
            if request_id not in self._sync_seen:
                self._sync_seen.add(request_id)
                self._start_sync(request_id, request)
        now = time.monotonic()
        for item in list(self._ready):
            if item.due > now:
                continue
            record = self.journal.get(item.request_id)
            if record is None:
                self._ready.remove(item)
                continue
            if record.status == "stopped":
                self._ready.remove(item)
                self._spawn(self._stopped, record)
                continue
            try:
                spec = self.spec(record.data["function_arn"])
            except ClientError as error:  # the function is gone: the event cannot run anywhere
                self._ready.remove(item)
                record.data.update(status="failed", condition="ResourceNotFound", error=str(error))
                self.journal.finish(record)
                continue
            with self._lock:
                running = self._running.get(spec.arn, 0)
                if running >= self._limit(spec):
                    if not item.throttled:
                        item.throttled = True
                        self._metrics(spec.name, [("Throttles", 1.0, "Count")])
                    continue
                self._running[spec.arn] = running + 1
            self._ready.remove(item)
            self._spawn(self._run_async, record, spec)

    def _spawn(self, target: Any, *args: Any) -> None:
        worker = threading.Thread(target=self._guard, args=(target, *args), daemon=True)
        with self._lock:
            self._workers.add(worker)
        worker.start()

    def _guard(self, target: Any, *args: Any) -> None:
        try:
            target(*args)
        except Exception as error:
            print(f"lambda service: {target.__name__} failed: {error!r}", file=sys.stderr, flush=True)
        finally:
            with self._lock:
                self._workers.discard(threading.current_thread())

    def _release(self, arn: str) -> None:
        with self._lock:
            self._running[arn] = max(0, self._running.get(arn, 1) - 1)

    # ------------------------------------------------------------------------------------------ async

    def _run_async(self, record: journal.Record, spec: local_lambda.FunctionSpec) -> None:
        try:
            number = len(record.attempts) + 1
            if number > 1 and _age_s(record.data["received_at"]) > spec.max_event_age_s:
                self._fail(record, spec, "EventAgeExceeded")
                return
            record.data["status"] = "running"
            self.journal.update(record)
            age_ms = _age_s(record.data["received_at"]) * 1000
            attempt = self._attempt(spec, record, number)
            if self.stopping.is_set():  # killed by our own shutdown: not an attempt; the restart runs it
                return
            record.data.setdefault("attempts", []).append(attempt.journal())
            self._metrics(
                spec.name,
                [
                    ("Invocations", 1.0, "Count"),
                    ("Errors", 0.0 if attempt.succeeded else 1.0, "Count"),
                    ("Duration", attempt.duration_ms, "Milliseconds"),
                    ("AsyncEventAge", age_ms, "Milliseconds"),
                ],
            )
            if attempt.succeeded:
                record.data["status"] = "succeeded"
                self.journal.finish(record)
            elif number <= spec.max_retries:
                record.data["status"] = "retrying"
                self.journal.update(record)
                delay = self.retry_delays[min(number - 1, len(self.retry_delays) - 1)]
                with self._lock:
                    self._ready.append(_Item(record.request_id, time.monotonic() + delay))
            else:
                self._fail(record, spec, "RetriesExhausted")
        finally:
            self._release(spec.arn)

    def _fail(self, record: journal.Record, spec: local_lambda.FunctionSpec | None, condition: str) -> None:
        record.data["condition"] = condition
        record.data["status"] = "stopped" if condition == "RecursiveInvocationLoopDetected" else "failed"
        failure = local_lambda.failure_record(
            record.request_id, record.data["function_arn"], record.event, record.attempts, condition
        )
        if spec is not None:
            destination, message_id, error = self.runtime.send_failure(spec, failure)
            record.data.update(destination=destination, destination_message_id=message_id, destination_error=error)
            if error:
                self._metrics(spec.name, [("DestinationDeliveryFailures", 1.0, "Count")])
                self.runtime.append_local_log(
                    spec.name, record.request_id, len(record.attempts), [(int(time.time() * 1000), error)]
                )
        self.journal.finish(record)

    def _stopped(self, record: journal.Record) -> None:
        """A recursive loop the server stopped: never run; the event goes to the on-failure destination."""
        try:
            spec = self.spec(record.data["function_arn"])
        except ClientError:
            spec = None
        if spec is not None:
            self._metrics(spec.name, [("RecursiveInvocationsDropped", 1.0, "Count")])
        self._fail(record, spec, "RecursiveInvocationLoopDetected")

    # ------------------------------------------------------------------------------------------- sync

    def _start_sync(self, request_id: str, request: Path) -> None:
        record = self.journal.get(request_id)
        response = self.journal.sync_dir / f"{request_id}.response.json"
        if record is None:
            return
        try:
            spec = self.spec(record.data["function_arn"])
        except ClientError:
            self._answer(request, response, {"payload": None, "function_error": "Unhandled"})
            return
        with self._lock:
            running = self._running.get(spec.arn, 0)
            throttled = running >= self._limit(spec)
            if not throttled:
                self._running[spec.arn] = running + 1
        if throttled:
            reason = (
                "ReservedFunctionConcurrentInvocationLimitExceeded"
                if spec.reserved_concurrency is not None
                else "ConcurrentInvocationLimitExceeded"
            )
            self._metrics(spec.name, [("Throttles", 1.0, "Count")])
            record.data.update(status="failed", condition="Throttled")
            self.journal.finish(record)
            self._answer(request, response, {"throttled": True, "reason": reason})
            return
        self._spawn(self._run_sync, record, spec, request, response)

    def _run_sync(self, record: journal.Record, spec: local_lambda.FunctionSpec, request: Path, response: Path) -> None:
        try:
            record.data["status"] = "running"
            self.journal.update(record)
            attempt = self._attempt(spec, record, 1)
            record.data.setdefault("attempts", []).append(attempt.journal())
            record.data["status"] = "succeeded" if attempt.succeeded else "failed"
            self.journal.finish(record)
            self._metrics(
                spec.name,
                [
                    ("Invocations", 1.0, "Count"),
                    ("Errors", 0.0 if attempt.succeeded else 1.0, "Count"),
                    ("Duration", attempt.duration_ms, "Milliseconds"),
                ],
            )
            answer: dict[str, Any] = {"log_tail": attempt.log_tail}
            if attempt.succeeded:
                answer["payload"] = attempt.payload
            else:
                answer["payload"] = {
                    k: v for k, v in (attempt.error or {}).items() if k in {"errorMessage", "errorType", "stackTrace"}
                }
                answer["function_error"] = "Unhandled"
            self._answer(request, response, answer)
        finally:
            self._release(spec.arn)

    @staticmethod
    def _answer(request: Path, response: Path, answer: dict[str, Any]) -> None:
        write_atomic(response, json.dumps(answer, default=str), durable=False)
        with contextlib.suppress(FileNotFoundError):
            request.unlink()

    # ----------------------------------------------------------------------------------------- other

    def _metrics(self, function_name: str, values: list[tuple[str, float, str]]) -> None:
        data = [
            d for metric, value, unit in values for d in aws_metrics.lambda_datum(function_name, metric, value, unit)
        ]
        try:
            aws_metrics.publish_lambda(self.cloudwatch, data)
        except ClientError as error:
            print(f"lambda service: could not publish metrics: {error}", file=sys.stderr, flush=True)

    def run(self) -> None:
        print(f"lambda service up (endpoint {self.endpoint}, CPU mode {self.cpu.mode})", flush=True)
        while not self.stopping.is_set():
            try:
                self.poll_once()
            except Exception as error:
                print(f"lambda service: poll failed: {error!r}", file=sys.stderr, flush=True)
            self.stopping.wait(POLL_S)

    def stop(self) -> None:
        """Stop scheduling, kill running function processes (their attempts rerun after a restart), clean up."""
        self.stopping.set()
        self.runtime.kill_all()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with self._lock:
                if not self._workers:
                    break
            time.sleep(0.05)
        self.cpu.close()


def _die_with_parent(parent_pid: int | None) -> None:
    """SIGTERM this process when the server that started it dies (Linux prctl PR_SET_PDEATHSIG)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)
    if parent_pid is not None and os.getppid() != parent_pid:
        os.kill(os.getpid(), signal.SIGTERM)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--state-dir", type=Path, required=True)
    parser.add_argument("--parent-pid", type=int)
    args = parser.parse_args(argv)
    service = LambdaService(args.endpoint, args.state_dir)

    def shutdown(signum: int, frame: Any) -> None:
        service.stopping.set()

    signal.signal(signal.SIGTERM, shutdown)
    signal.signal(signal.SIGINT, shutdown)
    _die_with_parent(args.parent_pid)
    service.run()
    service.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
