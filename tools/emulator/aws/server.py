"""The local AWS: moto's WSGI app behind a middleware that adds what moto lacks for this system to behave as on AWS.

    python -m tools.emulator.aws.server --port PORT --state-dir DIR [--tls] [--duplicate-s3-events]
        [--no-lambda-service]

Started and stopped by `tools.emulator.local_aws` (pid, port and log in the state directory). One process serves
every API over HTTP/1.1 with keep-alive (as AWS endpoints do; moto_server's HTTP/1.0 closes every connection),
optionally over TLS with a self-signed certificate made with the `openssl` CLI (clients trust it through
`AWS_CA_BUNDLE`). On top of moto it does:

* **S3 event notifications for every client.** moto calls `moto.s3.notifications.send_event` from inside the
  request that creates an object, with the event name of the API (PutObject -> ObjectCreated:Put, browser-form
  POST -> :Post, CopyObject -> :Copy, CompleteMultipartUpload -> :CompleteMultipartUpload; UploadPart and
  UploadPartCopy create nothing and send nothing). This server replaces moto's Lambda delivery there (moto would
  run the function in Docker and log "error running docker" streams) with the one S3 does: for every Lambda
  notification of the bucket whose events and prefix/suffix filters match, the event record S3 sends (key
  URL-encoded, size, eTag, versionId, sequencer, eventTime, requester) is journaled durably as an async
  invocation *before the API call is answered*, so a restart neither loses nor repeats it. SQS/SNS/EventBridge
  notifications stay moto's.
* **The Lambda Invoke API** (`POST /2015-03-31/functions/{name}/invocations`): `Event` -> journaled, 202;
  `RequestResponse` -> run by the Lambda service, payload with `X-Amz-Function-Error`, `X-Amz-Executed-Version`
  and (LogType=Tail) `X-Amz-Log-Result`; `DryRun` -> 204. Payload limits as documented for Invoke (6 MB
  synchronous, 1 MB asynchronous: API_Invoke, "For asynchronous invocations, the maximum payload size is 1 MB"),
  Lambda's error codes, recursive loop detection from the request's `X-Amzn-Trace-Id` (see `tools.emulator.aws.trace`).
* **Recursion config** (`GET/PUT /2024-08-31/functions/{name}/recursion-config`), which moto 5.2.5 lacks.
* **CloudWatch Logs saved queries** (`PutQueryDefinition`, `DescribeQueryDefinitions`, `DeleteQueryDefinition`),
  which moto 5.2.5 lacks too.
* **GetFunction's Code.Location** points at this server (moto gives none for zip uploads), as AWS's presigned
  URL does, so the Lambda service runs exactly the deployed bytes.
* **SQS metrics** as SQS publishes them: `NumberOfMessagesSent` for every SendMessage(Batch), and the queue
  gauges (visible, not visible, delayed, age of oldest) every `LOCAL_SQS_METRICS_INTERVAL_S` (60) seconds.
* **Alarm evaluation** (`cloudwatch.alarms`): every `LOCAL_ALARM_INTERVAL_S` (10) seconds and shortly after
  any PutMetricData, every metric alarm is evaluated and its state set with SetAlarmState.
* **The Lambda service** (`lambda_.lambda_service`) runs as this process's child and is restarted if it dies.
* **DynamoDB write capacity** (`tools.emulator.aws.dynamodb_capacity`): writes are throttled as DynamoDB throttles
  them (on unless `--no-dynamodb-capacity` or `LOCAL_DYNAMODB_CAPACITY=off`); the `OnDemandThroughput` of
  CreateTable/UpdateTable, which moto drops, is kept and shown by DescribeTable; `GET/POST
  /_emulator/dynamodb-capacity` reads the model's counters and sets one table's limit (or turns it off).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import io
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
import zlib
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote_plus, unquote, urlparse

from tools.emulator.aws import dynamodb_capacity, moto_fixes
from tools.emulator.aws import trace as trace_module
from tools.emulator.aws.lambda_ import journal as journal_module
from tools.files import write_atomic

ROOT = Path(__file__).resolve().parents[3]
PID_HEADER = "X-Local-Aws-Pid"  # the health check names the process that answers (see local_aws.healthy)
DEFAULT_ACCOUNT = "123456789012"
DEFAULT_REGION = "eu-west-1"
SYNC_PAYLOAD_LIMIT = 6 * 1024 * 1024  # 6 MB, request and response (Lambda quotas)
ASYNC_PAYLOAD_LIMIT = 1024 * 1024  # 1 MB since 2025 (was 256 KB): API_Invoke documentation
INVOKE_PATH = re.compile(r"^/2015-03-31/functions/(?P<name>[^/]+)/invocations/?$")
FUNCTION_PATH = re.compile(r"^/2015-03-31/functions/(?P<name>[^/]+)/?$")
TABLE_OPERATIONS = frozenset({"CreateTable", "UpdateTable", "DeleteTable", "DescribeTable"})
QUERY_DEFINITION_OPERATIONS = {"PutQueryDefinition", "DescribeQueryDefinitions", "DeleteQueryDefinition"}
RECURSION_PATH = re.compile(r"^/2024-08-31/functions/(?P<name>[^/]+)/recursion-config/?$")
CODE_PATH = re.compile(r"^/_emulator/lambda-code/(?P<account>\d+)/(?P<region>[a-z0-9-]+)/(?P<name>[^/]+)$")
CAPACITY_PATH = "/_emulator/dynamodb-capacity"
DYNAMODB_TARGET = "DynamoDB_20120810."
CREDENTIAL = re.compile(r"Credential=(?P<key>[^/]+)/\d+/(?P<region>[^/]+)/(?P<service>[^/]+)/")

_request = threading.local()


def _iso_millis(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def event_key(key: str) -> str:
    """An object key as S3 writes it into event records: URL-encoded, spaces as `+`, slashes kept."""
    return quote_plus(key, safe="/")


def s3_created_event(environ: dict[str, Any]) -> str | None:
    """The ObjectCreated event S3 sends for this request's API, from what is on the wire (None: creates nothing).

    PUT with `x-amz-copy-source` is CopyObject; PUT with `partNumber`/`uploadId` is UploadPart(Copy), which
    creates no object; POST `?uploadId=` is CompleteMultipartUpload; POST of a multipart/form-data body to the
    bucket is the browser-form upload. Requests that moto routes to S3 by path only (no other service's path
    matches an object PUT), so a non-S3 request simply never creates an S3 object.
    """
    method = environ.get("REQUEST_METHOD")
    query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
    if method == "PUT":
        if "partNumber" in query or "uploadId" in query or {"acl", "tagging", "retention", "legal-hold"} & set(query):
            return None
        return "s3:ObjectCreated:Copy" if environ.get("HTTP_X_AMZ_COPY_SOURCE") else "s3:ObjectCreated:Put"
    if method == "POST":
        if "uploadId" in query:
            return "s3:ObjectCreated:CompleteMultipartUpload"
        if environ.get("CONTENT_TYPE", "").startswith("multipart/form-data"):
            return "s3:ObjectCreated:Post"
    return None


class _Sequencer:
    """S3's per-key event sequencer: hexadecimal, increasing for later events (compare equal-length strings)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last = 0

    def next(self) -> str:
        with self._lock:
            self._last = max(self._last + 1, time.time_ns())
            return f"{self._last:018X}"


class Emulator:
    """The middleware and the background work of one local AWS process."""

    def __init__(self, state_dir: Path, duplicate_s3_events: bool = False, capacity_model: bool = True) -> None:
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app  # noqa: PLC0415

        self.state_dir = state_dir
        self.journal = journal_module.Journal(state_dir)
        self.moto = DomainDispatcherApplication(create_backend_app)
        self.duplicate_s3_events = duplicate_s3_events
        self.recursion: dict[str, str] = {}
        self.query_definitions: dict[str, dict[str, Any]] = {}
        self.sequencer = _Sequencer()
        self.endpoint = ""
        self.sqs_sent: dict[tuple[str, str], int] = {}
        self._sent_lock = threading.Lock()
        self.metric_written = threading.Event()
        self.capacity = dynamodb_capacity.CapacityModel(enabled=dynamodb_capacity_enabled(capacity_model))
        self.on_demand_throughput: dict[str, dict[str, Any]] = {}  # per table, as CreateTable/UpdateTable set it
        self._install_s3_hook()
        moto_fixes.linear_item_size()
        moto_fixes.no_such_upload()
        moto_fixes.partition_query()

    # ------------------------------------------------------------------------------------- S3 events

    def _install_s3_hook(self) -> None:
        from moto.s3 import notifications  # noqa: PLC0415

        original = notifications.send_event
        emulator = self

        def send_event(account_id: str, event_name: Any, bucket: Any, key: Any) -> None:
            config = bucket.notification_configuration
            if config is None:
                return
            name = str(getattr(event_name, "value", event_name))
            expected = (getattr(_request, "context", None) or {}).get("s3_created")
            if name.startswith("s3:ObjectCreated:") and expected is not None and name != expected:
                # moto's model sends an extra ObjectCreated:Put from inside CompleteMultipartUpload (it stores the
                # assembled object with put_object): S3 sends exactly one event per API call, the API's own.
                return
            for notification in config.cloud_function:
                if notification.matches(name, key.name):
                    emulator.accept_s3_event(account_id, name, bucket, key, notification)
            if config.queue or config.topic or config.event_bridge is not None:
                saved = notifications._invoke_awslambda
                notifications._invoke_awslambda = lambda *a, **k: None  # Lambda targets are ours, above
                try:
                    original(account_id, event_name, bucket, key)
                finally:
                    notifications._invoke_awslambda = saved

        notifications.send_event = send_event

    def accept_s3_event(self, account_id: str, event_name: str, bucket: Any, key: Any, notification: Any) -> None:
        """Journal the async invocation S3 makes for one matching Lambda notification (inside the API request)."""
        context = getattr(_request, "context", {}) or {}
        now = dt.datetime.now(dt.UTC)
        sequencer = self.sequencer.next()
        request_id = context.get("request_id") or uuid.uuid4().hex[:16].upper()
        version_id = getattr(key, "version_id", None)
        s3_object: dict[str, Any] = {
            "key": event_key(key.name),
            "size": int(key.size),
            "eTag": str(key.etag).strip('"'),
        }
        if version_id and version_id != "null":
            s3_object["versionId"] = version_id
        elif getattr(bucket, "versioning_status", None) == "Suspended":
            # S3 stores every new object of a versioning-suspended bucket as the "null" version and says so in the
            # event (moto keeps no version id for it): the function must treat "null" as no version.
            s3_object["versionId"] = "null"
        s3_object["sequencer"] = sequencer
        record = {
            "eventVersion": "2.1",
            "eventSource": "aws:s3",
            "awsRegion": bucket.region_name,
            "eventTime": _iso_millis(now),
            "eventName": event_name.removeprefix("s3:"),
            "userIdentity": {"principalId": f"AWS:{context.get('access_key') or 'ANONYMOUS'}"},
            "requestParameters": {"sourceIPAddress": context.get("source_ip", "127.0.0.1")},
            "responseElements": {"x-amz-request-id": request_id, "x-amz-id-2": request_id.lower()},
            "s3": {
                "s3SchemaVersion": "1.0",
                "configurationId": notification.id,
                "bucket": {
                    "name": bucket.name,
                    "ownerIdentity": {"principalId": f"A{account_id}"},
                    "arn": f"arn:aws:s3:::{bucket.name}",
                },
                "object": s3_object,
            },
        }
        cause = {
            "type": "s3",
            "bucket": bucket.name,
            "key": key.name,
            "version_id": version_id if version_id and version_id != "null" else None,
            "event_name": record["eventName"],
            "sequencer": sequencer,
            "configuration_id": notification.id,
            "duplicate": False,
        }
        incoming = trace_module.TraceHeader.parse(context.get("trace_header"))
        for copy in range(2 if self.duplicate_s3_events else 1):
            self.accept_async(notification.arn, {"Records": [record]}, incoming, {**cause, "duplicate": bool(copy)})

    # --------------------------------------------------------------------------------- async invoke

    def accept_async(
        self, function_arn: str, event: Any, incoming: trace_module.TraceHeader, cause: dict[str, Any]
    ) -> journal_module.Record:
        """Journal an async invocation; a chain past 16 invocations is accepted as stopped (Terminate)."""
        arn = ":".join(function_arn.split(":")[:7])
        header = incoming.for_invocation(arn)
        data: dict[str, Any] = {
            "request_id": str(uuid.uuid4()),
            "function_name": arn.split(":")[6],
            "function_arn": arn,
            "invocation_type": "Event",
            "trace": header.journal(arn),
            "cause": cause,
            "event": event,
        }
        if header.count_for(arn) > trace_module.MAX_CHAIN_INVOCATIONS and self.recursion.get(arn) != "Allow":
            data["status"] = "stopped"
            data["condition"] = "RecursiveInvocationLoopDetected"
        return self.journal.accept(data)

    # --------------------------------------------------------------------------------------- WSGI

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD", "GET")
        auth = environ.get("HTTP_AUTHORIZATION", "")
        credential = CREDENTIAL.search(auth) or CREDENTIAL.search(unquote(environ.get("QUERY_STRING", "")))
        _request.context = {
            "s3_created": s3_created_event(environ),
            "trace_header": environ.get("HTTP_X_AMZN_TRACE_ID"),
            "source_ip": environ.get("REMOTE_ADDR", "127.0.0.1"),
            "access_key": credential.group("key") if credential else None,
            "region": credential.group("region") if credential else DEFAULT_REGION,
        }
        if path == "/moto-api/config":  # the health check: say which process answers (see local_aws.healthy)

            def start_with_pid(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
                return start_response(status, [*headers, (PID_HEADER, str(os.getpid()))], exc_info)

            return self.moto(environ, start_with_pid)
        try:
            if method == "POST" and (match := INVOKE_PATH.match(path)):
                return self.invoke(environ, start_response, unquote(match.group("name")))
            if match := RECURSION_PATH.match(path):
                return self.recursion_config(environ, start_response, unquote(match.group("name")), method)
            if method == "GET" and (match := CODE_PATH.match(path)):
                return self.function_code(start_response, **match.groupdict())
            if method == "GET" and (match := FUNCTION_PATH.match(path)):
                return self.get_function(environ, start_response)
            if path == CAPACITY_PATH:
                return self.capacity_config(environ, start_response, method)
            target = environ.get("HTTP_X_AMZ_TARGET", "")
            if target.startswith(DYNAMODB_TARGET):
                return self.dynamodb(environ, start_response, target.removeprefix(DYNAMODB_TARGET))
            if target.removeprefix("Logs_20140328.") in QUERY_DEFINITION_OPERATIONS:
                return self.query_definition(environ, start_response, target.split(".", 1)[1])
            if self._is_sqs(environ):
                return self.sqs(environ, start_response)
            if self._is_put_metric_data(environ):
                self.metric_written.set()
            return self.moto(environ, start_response)
        finally:
            _request.context = None

    # ---------------------------------------------------------------------------------------- Lambda

    def _function(self, name: str) -> Any:
        """The moto function behind a name, ARN or partial ARN (with an optional qualifier), or None."""
        from moto.awslambda.utils import get_backend  # noqa: PLC0415

        region = _request.context.get("region") or DEFAULT_REGION
        account = DEFAULT_ACCOUNT
        if name.startswith("arn:"):
            parts = name.split(":")
            region, account = parts[3], parts[4]
        elif re.match(r"^\d{12}:function:", name):
            account = name.split(":", maxsplit=1)[0]
        try:
            bare = name.rsplit(":function:", maxsplit=1)[-1].split(":", maxsplit=1)[0]
            return get_backend(account, region).get_function(bare)
        except Exception:
            return None

    def _not_found(self, start_response: Any, name: str) -> list[bytes]:
        region = _request.context.get("region") or DEFAULT_REGION
        arn = name if name.startswith("arn:") else f"arn:aws:lambda:{region}:{DEFAULT_ACCOUNT}:function:{name}"
        return _error(start_response, 404, "ResourceNotFoundException", f"Function not found: {arn}")

    def invoke(self, environ: dict[str, Any], start_response: Any, name: str) -> list[bytes]:
        function = self._function(name)
        if function is None:
            return self._not_found(start_response, name)
        invocation_type = environ.get("HTTP_X_AMZ_INVOCATION_TYPE", "RequestResponse")
        body = _read_body(environ)
        if invocation_type not in {"Event", "RequestResponse", "DryRun"}:
            return _error(
                start_response, 400, "InvalidParameterValueException", f"Invalid invocation type {invocation_type}"
            )
        limit = ASYNC_PAYLOAD_LIMIT if invocation_type == "Event" else SYNC_PAYLOAD_LIMIT
        if len(body) > limit:
            return _error(
                start_response,
                413,
                "RequestEntityTooLargeException",
                f"{len(body)} byte payload is too large for the {invocation_type} invocation type "
                f"(limit {limit} bytes)",
            )
        if invocation_type == "DryRun":
            start_response("204 No Content", [("x-amzn-RequestId", str(uuid.uuid4())), ("Content-Length", "0")])
            return [b""]
        try:
            event = json.loads(body) if body.strip() else {}
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            return _error(
                start_response,
                400,
                "InvalidRequestContentException",
                f"Could not parse request body into json: Could not parse payload into json: {error}",
            )
        incoming = trace_module.TraceHeader.parse(_request.context.get("trace_header"))
        cause = {"type": "invoke", "source_ip": _request.context.get("source_ip")}
        arn = function.function_arn
        if invocation_type == "Event":
            record = self.accept_async(arn, event, incoming, cause)
            start_response("202 Accepted", [("x-amzn-RequestId", record.request_id), ("Content-Length", "0")])
            return [b""]
        header = incoming.for_invocation(arn)
        if header.count_for(arn) > trace_module.MAX_CHAIN_INVOCATIONS and self.recursion.get(arn) != "Allow":
            return _error(
                start_response,
                400,
                "RecursiveInvocationException",
                "Lambda has detected your function being invoked in a recursive loop with other AWS resources "
                "and stopped your function's invocation.",
            )
        data = {
            "request_id": str(uuid.uuid4()),
            "function_name": function.function_name,
            "function_arn": arn,
            "invocation_type": "RequestResponse",
            "trace": header.journal(arn),
            "cause": cause,
            "event": event,
            "log_type": environ.get("HTTP_X_AMZ_LOG_TYPE", "None"),
        }
        record = self.journal.accept(data, queue=False)
        response = self._wait_sync(record.request_id, float(function.timeout) + 60.0)
        if response is None:
            return _error(start_response, 500, "ServiceException", "the local Lambda service did not answer")
        if response.get("throttled"):
            return _error(
                start_response,
                429,
                "TooManyRequestsException",
                "Rate Exceeded.",
                extra={"Reason": response.get("reason", "ReservedFunctionConcurrentInvocationLimitExceeded")},
            )
        payload = json.dumps(response.get("payload")).encode() if "payload" in response else b""
        headers = [
            ("Content-Type", "application/json"),
            ("x-amzn-RequestId", record.request_id),
            ("X-Amz-Executed-Version", "$LATEST"),
        ]
        if len(payload) > SYNC_PAYLOAD_LIMIT:
            payload = json.dumps(
                {
                    "errorMessage": f"Response payload size ({len(payload)} bytes) exceeded maximum allowed "
                    f"payload size ({SYNC_PAYLOAD_LIMIT} bytes).",
                    "errorType": "Function.ResponseSizeTooLarge",
                }
            ).encode()
            response["function_error"] = "Unhandled"
        if response.get("function_error"):
            headers.append(("X-Amz-Function-Error", response["function_error"]))
        if data["log_type"] == "Tail":
            headers.append(("X-Amz-Log-Result", response.get("log_tail", "")))
        headers.append(("Content-Length", str(len(payload))))
        start_response("200 OK", headers)
        return [payload]

    def _wait_sync(self, request_id: str, timeout_s: float) -> dict[str, Any] | None:
        request = self.journal.sync_dir / f"{request_id}.request.json"
        response = self.journal.sync_dir / f"{request_id}.response.json"
        request.write_text(json.dumps({"request_id": request_id}))
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if response.is_file():
                with contextlib.suppress(json.JSONDecodeError):
                    answer = json.loads(response.read_text())
                    response.unlink()
                    return answer
            time.sleep(0.01)
        with contextlib.suppress(FileNotFoundError):
            request.unlink()
        return None

    def recursion_config(self, environ: dict[str, Any], start_response: Any, name: str, method: str) -> list[bytes]:
        function = self._function(name)
        if function is None:
            return self._not_found(start_response, name)
        arn = function.function_arn
        if method == "PUT":
            try:
                value = json.loads(_read_body(environ) or b"{}").get("RecursiveLoop")
            except json.JSONDecodeError:
                value = None
            if value not in {"Allow", "Terminate"}:
                return _error(
                    start_response,
                    400,
                    "ValidationException",
                    f"1 validation error detected: Value '{value}' at 'recursiveLoop' failed to satisfy constraint: "
                    "Member must satisfy enum value set: [Allow, Terminate]",
                )
            self.recursion[arn] = value
        elif method != "GET":
            return _error(start_response, 405, "MethodNotAllowed", method)
        return _json(start_response, 200, {"RecursiveLoop": self.recursion.get(arn, "Terminate")})

    # --------------------------------------------------------------------------------- CloudWatch Logs

    def query_definition(self, environ: dict[str, Any], start_response: Any, operation: str) -> list[bytes]:
        """Saved Logs Insights queries, kept in memory as CloudWatch Logs keeps them per account and region."""
        try:
            request = json.loads(_read_body(environ) or b"{}")
        except json.JSONDecodeError:
            request = {}
        headers = [("Content-Type", "application/x-amz-json-1.1")]
        if operation == "PutQueryDefinition":
            if not request.get("name") or not request.get("queryString"):
                return _json(start_response, 400, {"__type": "InvalidParameterException",
                                                   "message": "name and queryString are required"})  # fmt: skip
            definition_id = request.get("queryDefinitionId") or str(uuid.uuid4())
            self.query_definitions[definition_id] = {
                "queryDefinitionId": definition_id,
                "name": request["name"],
                "queryString": request["queryString"],
                "logGroupNames": request.get("logGroupNames", []),
                "lastModified": int(time.time() * 1000),
            }
            return _json(start_response, 200, {"queryDefinitionId": definition_id}, headers)
        if operation == "DeleteQueryDefinition":
            found = self.query_definitions.pop(str(request.get("queryDefinitionId")), None)
            if found is None:
                return _json(start_response, 400, {"__type": "ResourceNotFoundException",
                                                   "message": "The query definition does not exist"})  # fmt: skip
            return _json(start_response, 200, {"success": True}, headers)
        prefix = request.get("queryDefinitionNamePrefix", "")
        found = [d for d in self.query_definitions.values() if d["name"].startswith(prefix)]
        return _json(start_response, 200, {"queryDefinitions": sorted(found, key=lambda d: d["name"])}, headers)

    def get_function(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        """moto's GetFunction with a Code.Location this server serves (moto gives none for zip uploads)."""
        captured: dict[str, Any] = {}

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            captured.update(status=status, headers=headers)
            return lambda data: None

        body = b"".join(self.moto(environ, capture))
        if captured.get("status", "").startswith("200"):
            with contextlib.suppress(json.JSONDecodeError, KeyError):
                document = json.loads(body)
                config = document["Configuration"]
                if "ImageUri" not in document.get("Code", {}):
                    parts = config["FunctionArn"].split(":")
                    host = environ.get("HTTP_HOST", "127.0.0.1")
                    scheme = environ.get("wsgi.url_scheme", "http")
                    document["Code"] = {
                        "RepositoryType": "S3",
                        "Location": f"{scheme}://{host}/_emulator/lambda-code/{parts[4]}/{parts[3]}/{parts[6]}",
                    }
                    body = json.dumps(document).encode()
        headers = [(k, v) for k, v in captured.get("headers", []) if k.lower() != "content-length"]
        start_response(
            captured.get("status", "500 Internal Server Error"), [*headers, ("Content-Length", str(len(body)))]
        )
        return [body]

    def function_code(self, start_response: Any, account: str, region: str, name: str) -> list[bytes]:
        from moto.awslambda.utils import get_backend  # noqa: PLC0415

        try:
            code = get_backend(account, region).get_function(unquote(name)).code_bytes
        except Exception:
            return _error(start_response, 404, "NoSuchKey", "no such function code")
        start_response("200 OK", [("Content-Type", "application/zip"), ("Content-Length", str(len(code)))])
        return [code]

    # -------------------------------------------------------------------------------- DynamoDB capacity

    def dynamodb(self, environ: dict[str, Any], start_response: Any, operation: str) -> Any:
        """DynamoDB calls through the capacity model (tools.emulator.aws.dynamodb_capacity): writes are admitted or
        throttled as DynamoDB would; the OnDemandThroughput moto does not keep is kept here."""
        if operation not in dynamodb_capacity.WRITE_TARGETS and operation not in TABLE_OPERATIONS:
            return self.moto(environ, start_response)
        body = _read_body(environ)
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        try:
            request = json.loads(body or b"{}")
        except (json.JSONDecodeError, UnicodeDecodeError):
            return self.moto(environ, start_response)
        if not isinstance(request, dict):
            return self.moto(environ, start_response)
        if operation in TABLE_OPERATIONS:
            return self._table_operation(environ, start_response, operation, request)
        decision = dynamodb_capacity.decide(self.capacity, operation, request, self._table_shape)
        if decision.error is not None:
            return _json_body(start_response, 400, dynamodb_capacity.error_body(decision.error), "x-amz-json-1.0")
        if decision.body is not None:
            environ["wsgi.input"] = io.BytesIO(decision.body)
            environ["CONTENT_LENGTH"] = str(len(decision.body))
        if not decision.unprocessed:
            return self.moto(environ, start_response)
        captured: dict[str, Any] = {}

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            captured["status"], captured["headers"] = status, headers
            return lambda data: None

        answer = b"".join(self.moto(environ, capture))
        if captured["status"].startswith("200"):
            answer = dynamodb_capacity.merge_unprocessed(answer, decision.unprocessed)
        headers = [(k, v) for k, v in captured["headers"] if k.lower() not in ("content-length", "x-amz-crc32")]
        headers += [("Content-Length", str(len(answer))), ("x-amz-crc32", str(zlib.crc32(answer)))]
        start_response(captured["status"], headers)
        return [answer]

    def _table_shape(self, name: str) -> dynamodb_capacity.TableShape | None:
        from moto.dynamodb.models import dynamodb_backends  # noqa: PLC0415

        region = _request.context.get("region") or DEFAULT_REGION
        try:
            table = dynamodb_backends[DEFAULT_ACCOUNT][region].get_table(name)
        except Exception:
            return None  # moto answers with its own ResourceNotFoundException
        return dynamodb_capacity.shape_of(table, self.capacity.max_on_demand(name))

    def _table_operation(
        self, environ: dict[str, Any], start_response: Any, operation: str, request: dict[str, Any]
    ) -> Any:
        """Keep a table's OnDemandThroughput (CreateTable, UpdateTable) and show it in DescribeTable as AWS does;
        a deleted table's capacity state goes with it."""
        name = str(request.get("TableName", ""))
        captured: dict[str, Any] = {}

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            captured["status"], captured["headers"] = status, headers
            return lambda data: None

        answer = b"".join(self.moto(environ, capture))
        ok = captured["status"].startswith("200")
        if ok and operation == "DeleteTable":
            self.capacity.forget(name)
            self.on_demand_throughput.pop(name, None)
        elif ok and isinstance(request.get("OnDemandThroughput"), dict):
            setting = {**self.on_demand_throughput.get(name, {}), **request["OnDemandThroughput"]}
            self.on_demand_throughput[name] = setting
            units = setting.get("MaxWriteRequestUnits")
            self.capacity.set_max_on_demand(name, None if units in (None, -1) else int(units))
        setting = self.on_demand_throughput.get(name)
        if ok and setting is not None and operation != "DeleteTable":
            with contextlib.suppress(json.JSONDecodeError, UnicodeDecodeError, AttributeError):
                document = json.loads(answer)
                description = document.get("Table") or document.get("TableDescription")
                if isinstance(description, dict):
                    unset = {"MaxReadRequestUnits": -1, "MaxWriteRequestUnits": -1}
                    description["OnDemandThroughput"] = {**unset, **setting}
                    answer = json.dumps(document).encode()
        headers = [(k, v) for k, v in captured["headers"] if k.lower() not in ("content-length", "x-amz-crc32")]
        headers += [("Content-Length", str(len(answer))), ("x-amz-crc32", str(zlib.crc32(answer)))]
        start_response(captured["status"], headers)
        return [answer]

    def capacity_config(self, environ: dict[str, Any], start_response: Any, method: str) -> list[bytes]:
        """`GET` the capacity model's settings and counters; `POST {"table", "enabled", "write_units_per_second"}`
        to turn it off for one table or give the table a fixed write limit (tests, the bench)."""
        if method == "POST":
            try:
                document = json.loads(_read_body(environ) or b"{}")
                self.capacity.configure(
                    str(document["table"]),
                    enabled=bool(document.get("enabled", True)),
                    write_units_per_second=document.get("write_units_per_second"),
                )
            except (KeyError, TypeError, ValueError, AttributeError) as error:
                return _json(start_response, 400, {"message": f"bad capacity setting: {error!r}"})
        elif method != "GET":
            return _json(start_response, 405, {"message": "GET or POST"})
        return _json(start_response, 200, self.capacity.describe())

    # ------------------------------------------------------------------------------------------- SQS

    @staticmethod
    def _is_sqs(environ: dict[str, Any]) -> bool:
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        if target.startswith("AmazonSQS."):
            return True
        credential = CREDENTIAL.search(environ.get("HTTP_AUTHORIZATION", ""))
        return bool(credential and credential.group("service") == "sqs")

    @staticmethod
    def _is_put_metric_data(environ: dict[str, Any]) -> bool:
        return "PutMetricData" in environ.get("HTTP_X_AMZ_TARGET", "") or environ.get("PATH_INFO", "").endswith(
            "/operation/PutMetricData"
        )

    def sqs(self, environ: dict[str, Any], start_response: Any) -> Any:
        """Pass SQS calls to moto; count the messages every successful SendMessage(Batch) sent, per queue."""
        body = _read_body(environ)
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        target = environ.get("HTTP_X_AMZ_TARGET", "").removeprefix("AmazonSQS.")
        params: dict[str, Any] = {}
        if target:
            with contextlib.suppress(json.JSONDecodeError, UnicodeDecodeError):
                params = json.loads(body or b"{}")
        else:
            query = parse_qs(body.decode("utf-8", "replace")) | parse_qs(environ.get("QUERY_STRING", ""))
            target = (query.get("Action") or [""])[0]
            params = {k: v[0] for k, v in query.items()}
        if target not in {"SendMessage", "SendMessageBatch"}:
            return self.moto(environ, start_response)
        captured: dict[str, Any] = {}

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            captured["status"] = status
            return start_response(status, headers, exc_info) if exc_info else start_response(status, headers)

        result = b"".join(self.moto(environ, capture))
        if captured.get("status", "").startswith("200"):
            url = params.get("QueueUrl") or environ.get("PATH_INFO", "")
            queue = urlparse(str(url)).path.rstrip("/").split("/")[-1]
            sent = 1
            if target == "SendMessageBatch":
                sent = result.count(b"<MessageId>") or _json_count(result, "Successful")
            region = _request.context.get("region") or DEFAULT_REGION
            with self._sent_lock:
                self.sqs_sent[(region, queue)] = self.sqs_sent.get((region, queue), 0) + sent
        return [result]

    def take_sqs_sent(self) -> dict[tuple[str, str], int]:
        with self._sent_lock:
            sent, self.sqs_sent = self.sqs_sent, {}
        return sent


def _json_count(body: bytes, field: str) -> int:
    with contextlib.suppress(json.JSONDecodeError, UnicodeDecodeError):
        return len(json.loads(body).get(field, []))
    return 0


def _read_body(environ: dict[str, Any]) -> bytes:
    stream = environ.get("wsgi.input")
    if stream is None:
        return b""
    length = environ.get("CONTENT_LENGTH")
    if length:
        return stream.read(int(length))
    if environ.get("wsgi.input_terminated"):
        return stream.read()
    return b""


def _json(start_response: Any, status: int, document: Any, headers: list[tuple[str, str]] | None = None) -> list[bytes]:
    body = json.dumps(document).encode()
    reason = {
        200: "OK",
        400: "Bad Request",
        404: "Not Found",
        405: "Method Not Allowed",
        413: "Request Entity Too Large",
        429: "Too Many Requests",
        500: "Internal Server Error",
    }.get(status, "Error")
    start_response(
        f"{status} {reason}",
        [
            ("Content-Type", "application/json"),
            ("x-amzn-RequestId", str(uuid.uuid4())),
            *(headers or []),
            ("Content-Length", str(len(body))),
        ],
    )
    return [body]


def _json_body(start_response: Any, status: int, body: bytes, kind: str) -> list[bytes]:
    start_response(
        f"{status} {'OK' if status == 200 else 'Bad Request'}",
        [
            ("Content-Type", f"application/{kind}"),
            ("x-amzn-RequestId", str(uuid.uuid4())),
            ("x-amz-crc32", str(zlib.crc32(body))),
            ("Content-Length", str(len(body))),
        ],
    )
    return [body]


def dynamodb_capacity_enabled(default: bool) -> bool:
    """The capacity model is on unless LOCAL_DYNAMODB_CAPACITY is off (or --no-dynamodb-capacity was given)."""
    setting = os.environ.get("LOCAL_DYNAMODB_CAPACITY", "").strip().lower()
    if setting in ("off", "0", "false", "no"):
        return False
    return default


def _error(
    start_response: Any, status: int, code: str, message: str, extra: dict[str, str] | None = None
) -> list[bytes]:
    """A Lambda (restJson1) error: the code in X-Amzn-ErrorType, Type and message in the body."""
    document = {"Type": "User", "message": message, **(extra or {})}
    return _json(start_response, status, document, [("X-Amzn-ErrorType", code)])


# ------------------------------------------------------------------------------------- background work


def _self_client(service: str, endpoint: str, region: str = DEFAULT_REGION) -> Any:
    from tools.emulator.aws import clients  # noqa: PLC0415 - boto3 import kept off the server's start path

    return clients.aws_client(service, endpoint, region)


class Background:
    """The server's periodic work: SQS metrics, alarm evaluation, and the Lambda service child."""

    def __init__(self, emulator: Emulator, endpoint: str, state_dir: Path, lambda_service: bool) -> None:
        self.emulator = emulator
        self.endpoint = endpoint
        self.state_dir = state_dir
        self.stopping = threading.Event()
        self.child: subprocess.Popen[bytes] | None = None
        self.lambda_service = lambda_service
        self.sqs_interval = float(os.environ.get("LOCAL_SQS_METRICS_INTERVAL_S", "60"))
        self.alarm_interval = float(os.environ.get("LOCAL_ALARM_INTERVAL_S", "10"))

    def start(self) -> None:
        for target in (self._sqs_loop, self._alarm_loop):
            threading.Thread(target=target, daemon=True).start()
        if self.lambda_service:
            threading.Thread(target=self._supervise, daemon=True).start()

    def _sqs_loop(self) -> None:
        from tools.emulator.aws.cloudwatch import aws_metrics  # noqa: PLC0415

        last_gauges = 0.0
        while not self.stopping.wait(1.0):
            with contextlib.suppress(Exception):
                aws_metrics.publish_sqs_sent(self.endpoint, self.emulator.take_sqs_sent())
                if time.monotonic() - last_gauges >= self.sqs_interval:
                    last_gauges = time.monotonic()
                    aws_metrics.publish_sqs_gauges(self.endpoint)

    def _alarm_loop(self) -> None:
        from tools.emulator.aws.cloudwatch import alarms  # noqa: PLC0415

        evaluator = alarms.AlarmEvaluator(self.endpoint)
        last = 0.0
        while not self.stopping.is_set():
            triggered = self.emulator.metric_written.wait(0.5)
            due = time.monotonic() - last >= self.alarm_interval
            if triggered:
                time.sleep(0.5)  # let the rest of a burst of PutMetricData arrive
                self.emulator.metric_written.clear()
            if triggered or due:
                last = time.monotonic()
                try:
                    evaluator.evaluate_all()
                except Exception as error:
                    print(f"alarm evaluation failed: {error!r}", file=sys.stderr, flush=True)

    def _supervise(self) -> None:
        log = (self.state_dir / "lambda-service.log").open("ab")
        env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1")
        while not self.stopping.is_set():
            self.child = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "tools.emulator.aws.lambda_.lambda_service",
                    "--endpoint",
                    self.endpoint,
                    "--state-dir",
                    str(self.state_dir),
                    "--parent-pid",
                    str(os.getpid()),
                ],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
            # Replaced whole, never truncated first: a reader must never see an empty file
            write_atomic(self.state_dir / "lambda-service.pid", str(self.child.pid), durable=False)
            code = self.child.wait()
            if self.stopping.is_set():
                break
            log.write(f"lambda service exited ({code}); restarting it\n".encode())
            log.flush()
            time.sleep(0.5)
        log.close()

    def stop(self) -> None:
        self.stopping.set()
        child = self.child
        if child is not None and child.poll() is None:
            child.terminate()
            try:
                child.wait(timeout=15)
            except subprocess.TimeoutExpired:
                child.kill()


def ensure_certificate(state_dir: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1/localhost, made once per state directory (valid 30 days)."""
    tls = state_dir / "tls"
    cert, key = tls / "cert.pem", tls / "key.pem"
    if not (cert.is_file() and key.is_file()):
        make_certificate(tls, days=30)
    return cert, key


def make_certificate(directory: Path, *, days: int) -> tuple[Path, Path]:
    """A new self-signed certificate for 127.0.0.1/localhost in ``directory`` (cert.pem, key.pem), made with the
    openssl CLI (no crypto written here)."""
    directory.mkdir(parents=True, exist_ok=True)
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
         "-days", str(days), "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


def serve(
    host: str,
    port: int,
    state_dir: Path,
    *,
    tls: bool,
    duplicate: bool,
    lambda_service: bool,
    capacity_model: bool = True,
) -> None:
    from werkzeug.serving import make_server  # noqa: PLC0415

    from tools.emulator.aws.http11 import KeepAliveHandler  # noqa: PLC0415

    emulator = Emulator(state_dir, duplicate_s3_events=duplicate, capacity_model=capacity_model)
    ssl_context = ensure_certificate(state_dir) if tls else None
    server = make_server(host, port, emulator, threaded=True, request_handler=KeepAliveHandler, ssl_context=ssl_context)
    server.daemon_threads = True
    endpoint = f"{'https' if tls else 'http'}://{host}:{port}"
    emulator.endpoint = endpoint
    if tls:
        os.environ["AWS_CA_BUNDLE"] = str(ssl_context[0])  # our own clients and the Lambda service trust it
    background = Background(emulator, endpoint, state_dir, lambda_service)

    def shutdown(signum: int, frame: Any) -> None:
        background.stop()
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, shutdown)
    signal.signal(signal.SIGINT, shutdown)
    background.start()
    print(f"local AWS serving {endpoint} (state {state_dir})", flush=True)
    server.serve_forever()
    background.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--state-dir", type=Path, required=True)
    parser.add_argument("--tls", action="store_true", help="serve HTTPS with a self-signed certificate")
    parser.add_argument("--duplicate-s3-events", action="store_true", help="deliver every S3 event twice (tests)")
    parser.add_argument("--no-lambda-service", action="store_true", help="journal invocations but run none")
    parser.add_argument(
        "--no-dynamodb-capacity", action="store_true", help="never throttle DynamoDB writes (moto's own behaviour)"
    )
    args = parser.parse_args(argv)
    args.state_dir.mkdir(parents=True, exist_ok=True)
    serve(
        args.host,
        args.port,
        args.state_dir,
        tls=args.tls,
        duplicate=args.duplicate_s3_events,
        lambda_service=not args.no_lambda_service,
        capacity_model=not args.no_dynamodb_capacity,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
