"""``shipment-ops smoke``: one command that proves a fresh deployment works end to end, and leaves nothing behind.

It uploads a small marked file under a reserved folder of the incoming prefix, ``<incoming>_smoke/``. Shipper
names start with a letter or digit (the s3 module refuses others), so no shipper's folder, and no shipper's
upload permission, can ever be that one. The file holds three good updates and one bad one, so it ends PARTIAL:
every output the pipeline has is exercised (events, a rejects report, a metrics document), and the failure-rate
alarm counts it as a success, never as a failure.

Then it checks what a user of the deployment would observe, each check printed as PASS, FAIL or SKIP (a check
that needs what an earlier one found): the runtime provides what the code relies on (a probe invocation answers
which zlib gzip seek points use, and where time zones come from), the function's S3 notification covers the key,
the upload, the metadata item reaching its final state with the right counts, the outcome emitted, the stored
events, the rejects report, the metrics document in the function's log group, and the data points the
failure-rate alarm reads. Whatever happened, it deletes what it wrote: the object version, the rejects report,
the events and the metadata items.
The log lines and the metric data points stay (CloudWatch deletes neither on request); they carry the run id.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from tools.ops import queries
from tools.ops.actions import invoke
from tools.ops.environment import Environment

RESERVED_FOLDER = "_smoke/"
# The file's name ends in the first of these the bucket's notification sends to the function.
SUFFIXES = (".csv", ".jsonl", ".json", ".csv.gz", ".jsonl.gz", ".json.gz")
FINAL = ("SUCCESS", "PARTIAL", "FAILED", "SUPERSEDED")
REJECTED_STATUS = "LOST"  # not a status the record contract knows: the one rejected record
SUCCESS_METRIC = "ProcessingSuccess"
# An S3 test event with a probe member: the function answers what its runtime provides; code from before probes
# ignores it as a test event instead of failing (a failed invocation counts in the Errors alarm).
PROBE = {"Service": "shipment-ops smoke", "Event": "s3:TestEvent", "probe": {}}
INDEPENDENT = ("runtime",)  # checks the later ones do not need: when one fails, the others still run


@dataclass
class Check:
    """One check's verdict: passed True/False, or None when it could not run (an earlier check failed)."""

    name: str
    passed: bool | None
    detail: str

    @property
    def word(self) -> str:
        return {True: "PASS", False: "FAIL", None: "SKIP"}[self.passed]

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "result": self.word}


class CheckFailed(Exception):
    """A check did not hold; the message says what was found instead."""


@dataclass
class SmokeFile:
    """The marked file: its key, body and what the function must make of it."""

    run_id: str
    key: str
    body: bytes
    accepted: list[dict[str, str]]
    rejected: dict[str, str]
    rejected_ref: tuple[str, int]  # ("line", n) or ("index", n), as the rejects report names it

    @classmethod
    def build(cls, key_prefix: str, suffix: str, run_id: str, now: dt.datetime) -> SmokeFile:
        stamp = now.astimezone(dt.UTC).replace(microsecond=0)
        statuses = ("CREATED", "IN_TRANSIT", REJECTED_STATUS, "DELIVERED")
        records = [
            {
                "shipment_id": f"SMOKE-{run_id}-{n}",
                "status": status,
                "timestamp": (stamp - dt.timedelta(minutes=len(statuses) - n)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "location": "shipment-ops smoke",
            }
            for n, status in enumerate(statuses, start=1)
        ]
        position = statuses.index(REJECTED_STATUS)
        kind = suffix.removesuffix(".gz")
        if kind == ".csv":
            lines = [",".join(records[0])] + [",".join(r.values()) for r in records]
            text, ref = "\r\n".join(lines) + "\r\n", ("line", position + 2)  # after the header, from 1
        elif kind == ".jsonl":
            text, ref = "".join(json.dumps(r) + "\n" for r in records), ("line", position + 1)
        else:
            text, ref = json.dumps(records, indent=1), ("index", position)
        body = text.encode()
        if suffix.endswith(".gz"):
            body = gzip.compress(body, mtime=0)
        rejected = records.pop(position)
        return cls(run_id, f"{key_prefix}smoke-{run_id}{suffix}", body, records, rejected, ref)


@dataclass
class Smoke:
    """One smoke run against ``env``; ``run()`` returns the checks in order."""

    env: Environment
    timeout_s: float = 300.0
    poll_s: float = 2.0
    say: Callable[[Check], None] = lambda check: None
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)
    run_id: str = field(default_factory=lambda: secrets.token_hex(6))
    checks: list[Check] = field(default_factory=list)
    # What the checks found, for the ones after them and for the cleanup.
    file: SmokeFile | None = None
    version_id: str | None = None
    uploaded_at: dt.datetime | None = None
    item: dict[str, Any] | None = None
    function: dict[str, Any] = field(default_factory=dict)
    _deadline: float = 0.0

    def run(self) -> list[Check]:
        steps: list[tuple[str, Callable[[], str]]] = [
            ("runtime", self._runtime),
            ("notification", self._notification),
            ("upload", self._upload),
            ("processed", self._processed),
            ("outcome", self._outcome),
            ("events", self._events),
            ("rejects report", self._rejects_report),
            ("metrics document", self._metrics_document),
            ("alarm inputs", self._alarm_inputs),
        ]
        try:
            self._deadline = self.clock() + self.timeout_s
            failed = False
            for name, step in steps:
                if failed:
                    self._record(Check(name, None, "skipped: an earlier check failed"))
                    continue
                try:
                    self._record(Check(name, True, step()))
                except (CheckFailed, ClientError, BotoCoreError) as error:
                    failed = name not in INDEPENDENT
                    self._record(Check(name, False, str(error)))
        finally:
            self._record(self._cleanup())
        return self.checks

    def _record(self, check: Check) -> None:
        self.checks.append(check)
        self.say(check)

    def _wait(self, what: str, probe: Callable[[], Any]) -> Any:
        """``probe()`` until it returns something truthy, or CheckFailed once the run's time is up."""
        while True:
            found = probe()
            if found:
                return found
            if self.clock() >= self._deadline:
                raise CheckFailed(f"{what}: not seen within {self.timeout_s:.0f} s of the start")
            self.sleep(self.poll_s)

    # --- the checks ----------------------------------------------------------------------------------------

    def _runtime(self) -> str:
        """The deployed runtime provides what the code relies on: zlib for gzip seek points, and time zones."""
        succeeded, answer = invoke(self.env, PROBE)
        if succeeded and answer == {"files": []}:  # code from before probes: it ignored a test event
            raise CheckFailed("the deployed function predates the probe (it ignored it as an S3 test event): deploy "
                              "the current package (make apply), then run smoke again")  # fmt: skip
        facts = answer.get("runtime") if succeeded and isinstance(answer, dict) else None
        if not isinstance(facts, dict):
            raise CheckFailed(f"the function did not answer a probe: {answer}")
        where = f"python {facts.get('python')} on {facts.get('architecture')}, {facts.get('memory_mb')} MB"
        if not facts.get("gzip_seek_points"):
            raise CheckFailed(
                f"{where}: no zlib with inflatePrime loads, so every continuation of a gzip decompresses it again "
                "from byte 0 (quadratic: large gzips may not finish within MAX_INVOCATIONS)"
            )
        if facts.get("time_zones") == "none":
            raise CheckFailed(f"{where}: no tz database, so profiles that name a time zone cannot load")
        return f"{where}; gzip seek points through {facts['gzip_seek_points']}; time zones from {facts['time_zones']}"

    def _notification(self) -> str:
        """The bucket's notification sends the smoke key to the function; pick the suffix that it sends."""
        configuration = self.env.client("lambda").get_function_configuration(FunctionName=self.env.function_name)
        variables = (configuration.get("Environment") or {}).get("Variables") or {}
        self.function = {"arn": configuration["FunctionArn"], **variables}
        prefix = variables.get("INCOMING_PREFIX", "incoming/") + RESERVED_FOLDER
        rules = self.env.client("s3").get_bucket_notification_configuration(Bucket=self.env.bucket)
        ours = [
            rule
            for rule in rules.get("LambdaFunctionConfigurations", [])
            if rule["LambdaFunctionArn"].split(":")[:7] == self.function["arn"].split(":")[:7]
            and any(event in ("s3:ObjectCreated:*", "s3:ObjectCreated:Put") for event in rule.get("Events", []))
        ]
        for suffix in SUFFIXES:
            key = f"{prefix}smoke-{self.run_id}{suffix}"
            if any(_matches(rule, key) for rule in ours):
                self.file = SmokeFile.build(prefix, suffix, self.run_id, self.now())
                return f"{key} is sent to {self.env.function_name} on ObjectCreated:Put"
        raise CheckFailed(
            f"no S3 notification of {self.env.bucket} sends {prefix}smoke-*{{{','.join(SUFFIXES)}}} to "
            f"{self.env.function_name} on ObjectCreated:Put ({len(ours)} rule(s) for the function)"
        )

    def _upload(self) -> str:
        assert self.file is not None
        self.uploaded_at = self.now()
        response = self.env.client("s3").put_object(Bucket=self.env.bucket, Key=self.file.key, Body=self.file.body)
        self.version_id = response.get("VersionId")
        return f"s3://{self.env.bucket}/{self.file.key} version {self.version_id} ({len(self.file.body)} bytes)"

    def _processed(self) -> str:
        assert self.file is not None
        key = self.file.key

        def final() -> dict[str, Any] | None:
            item = queries.file_item(self.env, key, self.version_id)
            return item if item and item.get("processing_status") in FINAL else None

        try:
            item = self._wait("the file's final metadata item", final)
        except CheckFailed as waited:
            seen = queries.file_item(self.env, key, self.version_id)
            state = (
                f"its item is {seen.get('processing_status')} after {seen.get('invocations', 1)} invocation(s)"
                if seen
                else "no metadata item: the function never claimed it"
            )
            raise CheckFailed(
                f"{waited}; {state} (see `shipment-ops logs --since 15m` and `shipment-ops replay --dry-run`)"
            ) from None
        self.item = item
        counts = (item.get("processing_status"), item.get("records_total"), item.get("records_accepted"),
                  item.get("records_rejected"))  # fmt: skip
        expected = ("PARTIAL", 4, len(self.file.accepted), 1)
        if counts != expected:
            raise CheckFailed(
                f"{item.get('processing_status')} with {counts[1]} total, {counts[2]} accepted, {counts[3]} rejected "
                f"(expected PARTIAL, 4, 3, 1): {item.get('error_message') or 'no error message'}"
            )
        return (
            f"PARTIAL, 4 records: 3 accepted, 1 rejected, in {item.get('invocations', 1)} invocation(s), "
            f"{item.get('processing_duration', '?')} ms"
        )

    def _outcome(self) -> str:
        assert self.file is not None and self.item is not None
        key = self.file.key

        def emitted() -> dict[str, Any] | None:
            item = queries.file_item(self.env, key, self.version_id)
            return item if item and not item.get("outcome_pending") else None

        self._wait("the outcome (event and metrics) marked as emitted on the metadata item", emitted)
        return "outcome emitted (the item's outcome_pending mark is cleared)"

    def _events(self) -> str:
        assert self.file is not None
        wrong = []
        for update in self.file.accepted:
            stored = queries.shipment(self.env, update["shipment_id"], limit=10)
            seen = [(e.get("status"), e.get("timestamp"), e.get("source_file")) for e in stored]
            if seen != [(update["status"], update["timestamp"], self.file.key)]:
                wrong.append(f"{update['shipment_id']}: {seen or 'nothing stored'}")
        rejected = queries.shipment(self.env, self.file.rejected["shipment_id"], limit=10)
        if rejected:
            wrong.append(f"{self.file.rejected['shipment_id']} was rejected, yet {len(rejected)} update(s) stored")
        if wrong:
            raise CheckFailed("; ".join(wrong))
        return f"{len(self.file.accepted)} updates stored in {self.env.events_table}, the rejected one not"

    def _rejects_report(self) -> str:
        assert self.file is not None and self.item is not None
        report = queries.rejects(self.env, self.item, lines=10)
        if report is None:
            raise CheckFailed("the metadata item names no rejects report")
        kind, position = self.file.rejected_ref
        lines = report["first"]
        if len(lines) != 1 or lines[0].get(kind) != position or REJECTED_STATUS not in str(lines[0].get("reason")):
            raise CheckFailed(f"{report['address']} holds {lines}; expected one line with {kind} {position}")
        return f"{report['address']}: {kind} {position}: {lines[0]['reason'][:80]}"

    def _metrics_document(self) -> str:
        assert self.file is not None and self.uploaded_at is not None
        key, since = self.file.key, self.uploaded_at - dt.timedelta(minutes=1)

        def document() -> dict[str, Any] | None:
            lines = queries.logs(self.env, since=since, pattern=f'"{self.run_id}"', limit=1000)
            for line in lines:
                parsed = _json_object(line["message"])
                if parsed and "_aws" in parsed and parsed.get("key") == key:
                    return parsed
            return None

        found = self._wait(f"the metrics document of {key} in {self.env.log_group}", document)
        directive = found["_aws"]["CloudWatchMetrics"][0]
        namespace = self.function.get("METRICS_NAMESPACE") or directive["Namespace"]
        environment = self.function.get("ENVIRONMENT") or self.env.name
        observed = {
            "namespace": directive["Namespace"],
            "dimensions": directive["Dimensions"],
            "Environment": found.get("Environment"),
            SUCCESS_METRIC: found.get(SUCCESS_METRIC),
            "RecordsAccepted": found.get("RecordsAccepted"),
            "RecordsRejected": found.get("RecordsRejected"),
        }
        expected = {
            "namespace": namespace,
            "dimensions": [["Environment"]],
            "Environment": environment,
            SUCCESS_METRIC: 1,
            "RecordsAccepted": len(self.file.accepted),
            "RecordsRejected": 1,
        }
        if observed != expected:
            raise CheckFailed(f"the document says {observed}; expected {expected}")
        return f"{namespace} {{Environment={environment}}}: {SUCCESS_METRIC}=1, RecordsAccepted=3, RecordsRejected=1"

    def _alarm_inputs(self) -> str:
        """The metrics the failure-rate alarm reads, queried as the alarm defines them, hold this file's success."""
        assert self.uploaded_at is not None
        if not self.env.alarm_names:
            raise CheckFailed("this environment names no alarms")
        described = self.env.client("cloudwatch").describe_alarms(AlarmNames=list(self.env.alarm_names))
        for alarm in described.get("MetricAlarms", []):
            stats = [q for q in alarm.get("Metrics") or [] if q.get("MetricStat")]
            success = [q for q in stats if q["MetricStat"]["Metric"]["MetricName"] == SUCCESS_METRIC]
            if success:
                break
        else:
            raise CheckFailed(f"no alarm of {', '.join(self.env.alarm_names)} reads {SUCCESS_METRIC}")
        period = dt.timedelta(seconds=int(success[0]["MetricStat"]["Period"]))
        wanted = [{"Id": q["Id"], "MetricStat": q["MetricStat"], "ReturnData": True} for q in stats]
        start = self.uploaded_at - period

        def counted() -> float | None:
            response = self.env.client("cloudwatch").get_metric_data(
                MetricDataQueries=wanted, StartTime=start, EndTime=self.now() + period
            )
            values = [
                value
                for result in response.get("MetricDataResults", [])
                if result["Id"] == success[0]["Id"]
                for value in result.get("Values", [])
            ]
            return sum(values) or None

        total = self._wait(f"a {SUCCESS_METRIC} data point of the alarm {alarm['AlarmName']}", counted)
        metric = success[0]["MetricStat"]["Metric"]
        dimensions = ",".join(f"{d['Name']}={d['Value']}" for d in metric.get("Dimensions", []))
        return (
            f"{alarm['AlarmName']} reads {metric['Namespace']} {SUCCESS_METRIC} {{{dimensions}}}: "
            f"{total:g} since the upload (state {alarm.get('StateValue')})"
        )

    # --- cleanup -------------------------------------------------------------------------------------------

    def _cleanup(self) -> Check:
        """Delete what the run wrote, each part by its own key, never anything a shipper wrote."""
        if self.file is None:
            return Check("cleanup", True, "nothing was written")
        removed: list[str] = []
        problems: list[str] = []

        def attempt(what: str, action: Callable[[], int]) -> None:
            try:
                count = action()
            except (ClientError, BotoCoreError) as error:
                problems.append(f"{what}: {error}")
            else:
                if count:
                    removed.append(f"{count} {what}")

        file = self.file
        attempt("object version(s)", lambda: self._delete_versions(file.key))
        attempt("rejects report version(s)", lambda: self._delete_rejects_report(file.key))
        attempt("event(s)", lambda: self._delete_events(file))
        attempt("metadata item(s)", lambda: self._delete_metadata(file.key))
        if problems:
            return Check(
                "cleanup", False, "; ".join(problems) + (f" (removed {', '.join(removed)})" if removed else "")
            )
        return Check("cleanup", True, "removed " + (", ".join(removed) or "nothing (nothing was stored)"))

    def _delete_versions(self, key: str) -> int:
        """Every version (and delete marker) of exactly ``key``: a versioned bucket keeps nothing of it."""
        s3 = self.env.client("s3")
        doomed = []
        for page in s3.get_paginator("list_object_versions").paginate(Bucket=self.env.bucket, Prefix=key):
            for version in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]:
                if version["Key"] == key:
                    doomed.append({"Key": key, "VersionId": version["VersionId"]})
        for version in doomed:
            s3.delete_object(Bucket=self.env.bucket, **version)
        return len(doomed)

    def _delete_rejects_report(self, key: str) -> int:
        """The report each metadata item of ``key`` names (read now: the function may have finished late)."""
        return sum(
            self._delete_versions(str(item["rejects_key"]))
            for item in queries.versions(self.env, key)
            if item.get("rejects_key")
        )

    def _delete_events(self, file: SmokeFile) -> int:
        dynamodb, count = self.env.client("dynamodb"), 0
        for update in [*file.accepted, file.rejected]:
            for event in queries.shipment(self.env, update["shipment_id"], limit=100):
                if event.get("source_file") != file.key:
                    continue  # not ours, whatever its shipment id says
                dynamodb.delete_item(
                    TableName=self.env.events_table,
                    Key={"shipment_id": {"S": event["shipment_id"]}, "event_key": {"S": event["event_key"]}},
                    ConditionExpression="source_file = :key",
                    ExpressionAttributeValues={":key": {"S": file.key}},
                )
                count += 1
        return count

    def _delete_metadata(self, key: str) -> int:
        """The file items and version records of ``key`` (its partition holds nothing else)."""
        dynamodb, count = self.env.client("dynamodb"), 0
        pages = dynamodb.get_paginator("query").paginate(
            TableName=self.env.metadata_table,
            KeyConditionExpression="filename = :f",
            ExpressionAttributeValues={":f": {"S": key}},
            ProjectionExpression="filename, upload_timestamp",
            ConsistentRead=True,
        )
        for page in pages:
            for found in page.get("Items", []):
                dynamodb.delete_item(TableName=self.env.metadata_table, Key=found)
                count += 1
        return count


def _matches(rule: dict[str, Any], key: str) -> bool:
    filters = {f["Name"].lower(): f["Value"] for f in rule.get("Filter", {}).get("Key", {}).get("FilterRules", [])}
    return key.startswith(filters.get("prefix", "")) and key.endswith(filters.get("suffix", ""))


def _json_object(message: str) -> dict[str, Any] | None:
    """The JSON object a log line holds (Lambda's text format puts fields before it), or None."""
    start = message.find("{")
    if start < 0:
        return None
    try:
        parsed = json.loads(message[start:])
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else None
