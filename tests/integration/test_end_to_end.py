"""End to end: the real root applied to the local AWS, files uploaded by S3 clients, the real handler run by the
local Lambda service from the deployed code.

Each test states one thing a user would observe through the AWS APIs. The sample files are uploaded once for
the module (all at once, as the demo does, with plain PutObject calls); the failure tests swap the deployed code
for a deliberately broken package with `update_function_code` (and shorten the timeout or memory for the slow
cases), so the retries, limits and failure queue under test are the deployed function's own configuration.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3.s3.transfer
import pytest

from tests.integration.conftest import ENVIRONMENT, ROOT, Stack
from tools.emulator import cli, local_deploy, local_report
from tools.emulator.aws import clients
from tools.emulator.aws.cloudwatch import metric_math
from tools.emulator.aws.lambda_ import journal, local_lambda
from tools.samples import sample_data

pytestmark = [pytest.mark.slow, pytest.mark.terraform]

DATA = sample_data.DEFAULT_OUT
MANIFEST = sample_data.load_manifest(DATA)
FILES = {f["key"]: f for f in MANIFEST["files"]}
CLEAN_CSV = "incoming/acme-logistics/2025-06-02 manifest.csv"
PARTIAL_CSV = "incoming/acme-logistics/2025-06-03 manifest+corrections.csv"
SMALL_CSV = b"shipment_id,status,timestamp\r\nTEST-1,CREATED,2025-06-02T10:00:00Z\r\n"


@pytest.fixture(scope="module")
def uploaded(stack: Stack) -> dict[str, cli.UploadResult]:
    """Every sample file uploaded and delivered through the runtime, by key."""
    results = stack.uploader.upload_many([(DATA / f["path"], f["key"]) for f in MANIFEST["files"]], workers=8)
    return {r.key: r for r in results}


def _scan(stack: Stack, table: str, **kwargs: Any) -> list[dict[str, Any]]:
    dynamodb = stack.client("dynamodb")
    items: list[dict[str, Any]] = []
    while True:
        page = dynamodb.scan(TableName=table, **kwargs)
        items += [local_report.plain(i) for i in page["Items"]]
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _events_of(stack: Stack, key: str) -> list[dict[str, Any]]:
    return _scan(
        stack,
        stack.outputs["events_table_name"],
        FilterExpression="source_file = :f",
        ExpressionAttributeValues={":f": {"S": key}},
    )


def _utc(timestamp: str) -> str:
    return dt.datetime.fromisoformat(timestamp).astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _metric_sum(stack: Stack, name: str, dimensions: list[dict[str, str]]) -> float:
    end = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)
    response = stack.client("cloudwatch").get_metric_statistics(
        Namespace=stack.outputs["metrics_namespace"],
        MetricName=name,
        Dimensions=dimensions,
        StartTime=end - dt.timedelta(minutes=30),
        EndTime=end,
        Period=1800,
        Statistics=["Sum"],
    )
    return sum(p["Sum"] for p in response["Datapoints"])


@contextmanager
def deployed_code(stack: Stack, behaviour: str, **configuration: int) -> Iterator[None]:
    """Deploy a fake package (and configuration) to the function for the duration of a test, then restore."""
    functions = stack.client("lambda")
    name = stack.outputs["function_name"]
    before = functions.get_function_configuration(FunctionName=name)
    functions.update_function_code(FunctionName=name, ZipFile=stack.packages[behaviour].read_bytes())
    if configuration:
        functions.update_function_configuration(FunctionName=name, **configuration)
    try:
        yield
    finally:
        functions.update_function_code(FunctionName=name, ZipFile=stack.packages["real"].read_bytes())
        if configuration:
            functions.update_function_configuration(
                FunctionName=name, Timeout=before["Timeout"], MemorySize=before["MemorySize"]
            )
        after = functions.get_function_configuration(FunctionName=name)
        assert after["CodeSha256"] == before["CodeSha256"]
        assert after["Environment"] == before["Environment"]


# --------------------------------------------------------------------------------------- the sample files


def test_every_sample_file_ends_with_the_outcome_the_contract_prescribes(
    uploaded: dict[str, cli.UploadResult],
) -> None:
    for key, sample in FILES.items():
        item = uploaded[key].item
        assert item is not None, key
        expected = sample["expected"]
        assert item["processing_status"] == expected["processing_status"], (key, item.get("error_message"))
        if "records_accepted" in expected:
            assert item["records_accepted"] == expected["records_accepted"], key
        if "records_rejected" in expected:
            assert item["records_rejected"] == expected["records_rejected"], key
        assert item["records_accepted"] + item["records_rejected"] == item["records_total"], key
        assert item["environment"] == ENVIRONMENT
        assert item["shipper"] == sample["shipper"]
        assert item["version_id"] == uploaded[key].version_id


def test_each_file_ran_once_within_the_deployed_memory(uploaded: dict[str, cli.UploadResult], stack: Stack) -> None:
    memory = stack.client("lambda").get_function_configuration(FunctionName=stack.outputs["function_name"])[
        "MemorySize"
    ]
    for result in uploaded.values():
        assert result.attempts == 1
        assert 20 < (result.peak_rss_mb or 0) < memory


def test_a_failed_file_says_why(uploaded: dict[str, cli.UploadResult]) -> None:
    item = uploaded["incoming/initech/legacy export utf16.csv"].item
    assert item is not None
    assert "UTF-16" in item["error_message"] or "UTF-8" in item["error_message"]


def test_events_table_holds_exactly_the_accepted_updates_of_a_file(
    uploaded: dict[str, cli.UploadResult], stack: Stack
) -> None:
    rows = list(csv.DictReader(io.StringIO((DATA / FILES[CLEAN_CSV]["path"]).read_text())))
    stored = _events_of(stack, CLEAN_CSV)
    assert {(e["shipment_id"], e["timestamp"], e["status"]) for e in stored} == {
        (r["shipment_id"], _utc(r["timestamp"]), r["status"]) for r in rows
    }
    for event in stored:  # the sort key: UTC time first (newest-first queries), then the status
        assert event["event_key"].startswith(event["timestamp"][:19])
        assert event["event_key"].endswith(f"Z#{event['status']}")
    first = next(
        e for e in stored if e["shipment_id"] == rows[0]["shipment_id"] and e["timestamp"] == _utc(rows[0]["timestamp"])
    )
    assert (first["carrier"], first["location"], first["tracking_number"]) == (
        rows[0]["carrier"],
        rows[0]["location"],
        rows[0]["tracking_number"],
    )
    assert first["source_version"] == uploaded[CLEAN_CSV].version_id


def test_rejected_records_are_not_stored_and_are_listed_with_reasons(
    uploaded: dict[str, cli.UploadResult], stack: Stack
) -> None:
    item = uploaded[PARTIAL_CSV].item
    assert item is not None
    assert item["rejects_key"] == f"rejected/{PARTIAL_CSV}.{item['version_id']}.errors.jsonl"
    body = stack.client("s3").get_object(Bucket=stack.outputs["bucket_name"], Key=item["rejects_key"])["Body"]
    report = [json.loads(line) for line in body.read().decode().splitlines()]
    assert [r["line"] for r in report] == FILES[PARTIAL_CSV]["expected"]["rejected_lines"]
    assert all(r["reason"] for r in report)
    assert len(_events_of(stack, PARTIAL_CSV)) == item["records_accepted"]


def test_followed_shipments_show_their_latest_status(uploaded: dict[str, cli.UploadResult], stack: Stack) -> None:
    for shipment_id, expected in MANIFEST["featured_shipments"].items():
        latest = local_report.latest_status(stack.client("dynamodb"), stack.outputs["events_table_name"], shipment_id)
        assert latest is not None
        assert (latest["status"], latest["timestamp"]) == (expected["status"], _utc(expected["timestamp"]))


def test_metrics_reach_cloudwatch_under_the_alarms_dimensions(
    uploaded: dict[str, cli.UploadResult], stack: Stack
) -> None:
    cloudwatch = stack.client("cloudwatch")
    alarm = cloudwatch.describe_alarms(AlarmNames=[stack.outputs["failure_rate_alarm_name"]])["MetricAlarms"][0]
    dimension_sets = [
        q["MetricStat"]["Metric"]["Dimensions"]
        for q in alarm["Metrics"]
        if "MetricStat" in q and q["MetricStat"]["Metric"]["Namespace"] == stack.outputs["metrics_namespace"]
    ]
    assert dimension_sets == [[{"Name": "Environment", "Value": ENVIRONMENT}]] * 2, "the handler's two metrics"
    dimensions = dimension_sets[0]
    items = [r.item or {} for r in uploaded.values()]
    failed = sum(i.get("processing_status") == "FAILED" for i in items)
    assert _metric_sum(stack, "ProcessingSuccess", dimensions) == len(items) - failed
    assert _metric_sum(stack, "ProcessingFailure", dimensions) == failed
    assert _metric_sum(stack, "RecordsAccepted", dimensions) == sum(i["records_accepted"] for i in items)
    assert _metric_sum(stack, "RecordsRejected", dimensions) == sum(i["records_rejected"] for i in items)


def test_the_failure_rate_alarm_sees_the_one_failed_sample_file(
    uploaded: dict[str, cli.UploadResult], stack: Stack
) -> None:
    total = len(MANIFEST["files"])  # nine: one FAILED (the UTF-16 export)
    failed = sum(f["expected"]["processing_status"] == "FAILED" for f in MANIFEST["files"])
    evaluation = metric_math.evaluate_alarm(stack.client("cloudwatch"), stack.outputs["failure_rate_alarm_name"])
    assert evaluation.inputs == {"success": float(total - failed), "failure": float(failed), "dead": None}, (
        "no event reached the failure queue"
    )
    assert (failed, evaluation.value) == (1, pytest.approx(100 / total))
    assert evaluation.state == "ALARM"


# ------------------------------------------------------------------------------------------- idempotency


def test_a_duplicate_delivery_changes_nothing(uploaded: dict[str, cli.UploadResult], stack: Stack) -> None:
    dynamodb = stack.client("dynamodb")
    s3 = stack.client("s3")
    rejects_key = uploaded[PARTIAL_CSV].item["rejects_key"]  # type: ignore[index]
    items_before = local_report.metadata_items(dynamodb, stack.outputs["metadata_table_name"], PARTIAL_CSV)
    events_before = sorted(e["event_key"] + e["shipment_id"] for e in _events_of(stack, PARTIAL_CSV))
    rejects_before = s3.get_object(Bucket=stack.outputs["bucket_name"], Key=rejects_key)["Body"].read()
    dimensions = [{"Name": "Environment", "Value": ENVIRONMENT}]
    successes_before = _metric_sum(stack, "ProcessingSuccess", dimensions)

    again = stack.uploader.redeliver(PARTIAL_CSV)

    (record,) = again.records
    assert record.event == uploaded[PARTIAL_CSV].records[0].event
    assert record.cause["duplicate"] is True
    assert [f["status"] for f in record.attempts[0]["payload"]["files"]] == ["DUPLICATE"]
    assert local_report.metadata_items(dynamodb, stack.outputs["metadata_table_name"], PARTIAL_CSV) == items_before
    assert sorted(e["event_key"] + e["shipment_id"] for e in _events_of(stack, PARTIAL_CSV)) == events_before
    assert s3.get_object(Bucket=stack.outputs["bucket_name"], Key=rejects_key)["Body"].read() == rejects_before
    assert _metric_sum(stack, "ProcessingSuccess", dimensions) == successes_before


def test_uploading_processed_content_again_is_skipped(uploaded: dict[str, cli.UploadResult], stack: Stack) -> None:
    result = stack.uploader.upload(DATA / FILES[CLEAN_CSV]["path"], CLEAN_CSV)
    assert (result.action, result.records) == ("skipped", [])
    versions = stack.client("s3").list_object_versions(Bucket=stack.outputs["bucket_name"], Prefix=CLEAN_CSV)
    assert len(versions["Versions"]) == 1


def test_a_key_with_unicode_and_plus_is_decoded_as_uploaded(stack: Stack, tmp_path: Path) -> None:
    key = "incoming/acme-logistics/état 2025+06.csv"
    source = tmp_path / "file.csv"
    source.write_bytes(SMALL_CSV)
    result = stack.uploader.upload(source, key)
    event_key = result.records[0].event["Records"][0]["s3"]["object"]["key"]
    assert event_key == "incoming/acme-logistics/%C3%A9tat+2025%2B06.csv"
    assert result.item is not None
    assert (result.item["filename"], result.item["processing_status"]) == (key, "SUCCESS")


# ---------------------------------------------------------------------------------------------- failures


def _upload_small(stack: Stack, key: str, body: bytes = SMALL_CSV) -> journal.Record:
    """PutObject of a small CSV; the one invocation its event caused, once finished."""
    version = stack.client("s3").put_object(Bucket=stack.outputs["bucket_name"], Key=key, Body=body)["VersionId"]
    (record,) = stack.journal.wait_for_object(stack.outputs["bucket_name"], key, version, timeout_s=120)
    return record


def _only_failure_record(stack: Stack, key: str) -> dict[str, Any]:
    records = stack.drain_failure_queue()
    assert len(records) == 1
    record = records[0]
    assert record["requestPayload"]["Records"][0]["s3"]["object"]["key"] == local_lambda.event_key(key)
    return record


def test_a_function_that_always_crashes_ends_in_the_failure_queue_after_three_attempts(stack: Stack) -> None:
    stack.drain_failure_queue()
    key = "incoming/acme-logistics/crash.csv"
    with deployed_code(stack, "raises"):
        invocation = _upload_small(stack, key)
    assert [a["outcome"] for a in invocation.attempts] == ["error", "error", "error"]
    record = _only_failure_record(stack, key)
    assert record["version"] == "1.0"
    assert record["requestContext"] == {
        "requestId": invocation.request_id,
        "functionArn": f"{stack.outputs['function_arn']}:$LATEST",
        "condition": "RetriesExhausted",
        "approximateInvokeCount": 3,
    }
    assert record["responseContext"] == {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"}
    assert record["responsePayload"]["errorType"] == "RuntimeError"
    assert record["responsePayload"]["errorMessage"] == "simulated persistent DynamoDB throttling"
    assert record["requestPayload"] == invocation.event
    metadata = local_report.metadata_items(stack.client("dynamodb"), stack.outputs["metadata_table_name"], key)
    assert metadata == []


def test_a_function_past_its_timeout_is_stopped_and_retried(stack: Stack) -> None:
    stack.drain_failure_queue()
    cloudwatch = stack.client("cloudwatch")
    dead_before = metric_math.evaluate_alarm(cloudwatch, stack.outputs["failure_rate_alarm_name"]).inputs["dead"]
    key = "incoming/acme-logistics/slow.csv"
    with deployed_code(stack, "sleeps", Timeout=2):
        attempts = _upload_small(stack, key).attempts
    assert [a["outcome"] for a in attempts] == ["timeout"] * 3
    assert all(2000 <= a["duration_ms"] < 3500 for a in attempts)
    record = _only_failure_record(stack, key)
    assert record["responsePayload"]["errorType"] == "Sandbox.Timedout"
    assert "Task timed out after 2.00 seconds" in record["responsePayload"]["errorMessage"]
    # A file that timed out on every attempt never printed its metrics; the failure-rate alarm still counts it,
    # through the event that reached the failure queue (AWS/SQS NumberOfMessagesSent).
    deadline = time.monotonic() + 30
    while True:
        evaluation = metric_math.evaluate_alarm(cloudwatch, stack.outputs["failure_rate_alarm_name"])
        if (evaluation.inputs["dead"] or 0) >= (dead_before or 0) + 1 or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert evaluation.inputs["dead"] == (dead_before or 0) + 1
    assert evaluation.value is not None and evaluation.value > 0


def test_a_function_past_its_memory_is_stopped_and_retried(stack: Stack) -> None:
    stack.drain_failure_queue()
    key = "incoming/acme-logistics/hoard.csv"
    with deployed_code(stack, "allocates", MemorySize=128):
        attempts = _upload_small(stack, key).attempts
    assert [a["outcome"] for a in attempts] == ["out_of_memory"] * 3
    assert all(128 < a["peak_rss_mb"] < 128 + 160 for a in attempts)
    record = _only_failure_record(stack, key)
    assert record["responsePayload"]["errorType"] == "Runtime.OutOfMemory"


# ------------------------------------------------------------------------- any S3 client, as on AWS


AWS_CLI = Path(sys.executable).with_name("aws")


def _csv(prefix: str, count: int, padding: int = 0) -> bytes:
    """A valid shipment CSV of `count` records; `padding` adds 20 optional note fields of that many characters."""
    notes = [f"note_{i:02d}" for i in range(20)] if padding else []
    lines = [",".join(["shipment_id", "status", "timestamp", *notes])]
    for n in range(count):
        fields = [f"{prefix}-{n}", "IN_TRANSIT", f"2025-06-02T{n // 3600 % 24:02d}:{n // 60 % 60:02d}:{n % 60:02d}Z"]
        lines.append(",".join(fields + ["x" * padding] * len(notes)))
    return ("\r\n".join(lines) + "\r\n").encode()


def _stored(stack: Stack, shipment_ids: list[str]) -> list[dict[str, Any]]:
    """The stored events of these shipments (queries: the table holds megabytes by now, a scan would be slow)."""
    dynamodb = stack.client("dynamodb")
    found = []
    for shipment_id in shipment_ids:
        response = dynamodb.query(
            TableName=stack.outputs["events_table_name"],
            KeyConditionExpression="shipment_id = :s",
            ExpressionAttributeValues={":s": {"S": shipment_id}},
            ProjectionExpression="shipment_id, event_key, source_file, source_version",
        )
        found += [local_report.plain(i) for i in response["Items"]]
    return found


def _outcome(stack: Stack, key: str) -> tuple[list[journal.Record], dict[str, Any] | None]:
    bucket = stack.outputs["bucket_name"]
    version = stack.client("s3").head_object(Bucket=bucket, Key=key)["VersionId"]
    records = stack.journal.wait_for_object(bucket, key, version, timeout_s=180)
    return records, stack.uploader.metadata(key, version)


def _aws_cli(stack: Stack, home: Path, *args: str) -> None:
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(home),
        "AWS_ENDPOINT_URL": stack.deployment.endpoint,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "eu-west-1",
        "AWS_CONFIG_FILE": os.devnull,
    }
    result = subprocess.run([str(AWS_CLI), *args], env=env, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr


def test_a_shipper_using_the_aws_cli_gets_the_file_processed(stack: Stack, tmp_path: Path) -> None:
    source = tmp_path / "day.csv"
    source.write_bytes(_csv("CLI", 2))
    key = "incoming/acme-logistics/cli-upload.csv"
    _aws_cli(stack, tmp_path, "s3", "cp", str(source), f"s3://{stack.outputs['bucket_name']}/{key}")
    (record,), item = _outcome(stack, key)
    assert record.event["Records"][0]["eventName"] == "ObjectCreated:Put"
    assert item is not None
    assert (item["processing_status"], item["records_accepted"], item["records_rejected"]) == ("SUCCESS", 2, 0)


def test_an_aws_cli_multipart_upload_is_processed_once(stack: Stack, tmp_path: Path) -> None:
    source = tmp_path / "big.csv"
    source.write_bytes(_csv("MPU", 500, padding=900))
    assert source.stat().st_size > 8 * 1024 * 1024  # above the CLI's multipart_threshold
    key = "incoming/acme-logistics/big-multipart.csv"
    _aws_cli(stack, tmp_path, "s3", "cp", str(source), f"s3://{stack.outputs['bucket_name']}/{key}")
    (record,), item = _outcome(stack, key)
    assert record.event["Records"][0]["eventName"] == "ObjectCreated:CompleteMultipartUpload"
    assert item is not None
    assert (item["processing_status"], item["records_accepted"]) == ("SUCCESS", 500)
    sample = [f"MPU-{n}" for n in (0, 1, 250, 498, 499)]  # the metadata item counts all 500; spot-check the table
    assert [e["source_file"] for e in _stored(stack, sample)] == [key] * len(sample)


def test_boto3_multipart_upload_file_presigned_put_and_copy_are_all_processed(stack: Stack, tmp_path: Path) -> None:
    s3 = stack.client("s3")
    bucket = stack.outputs["bucket_name"]
    source = tmp_path / "parts.csv"
    source.write_bytes(_csv("B3", 400, padding=900))
    config = boto3.s3.transfer.TransferConfig(multipart_threshold=5 * 1024 * 1024, multipart_chunksize=5 * 1024 * 1024)
    s3.upload_file(str(source), bucket, "incoming/globex/parts.csv", Config=config)
    url = s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "incoming/initech/put.csv"})
    request = urllib.request.Request(url, data=_csv("PUT", 3), method="PUT", headers={"Content-Type": "text/csv"})
    with urllib.request.urlopen(request, timeout=60) as response:
        assert response.status == 200
    s3.put_object(Bucket=bucket, Key="staging/copy-source.csv", Body=_csv("CP", 4))
    s3.copy_object(
        Bucket=bucket, Key="incoming/globex/copied.csv", CopySource={"Bucket": bucket, "Key": "staging/copy-source.csv"}
    )
    expected = {
        "incoming/globex/parts.csv": ("ObjectCreated:CompleteMultipartUpload", 400),
        "incoming/initech/put.csv": ("ObjectCreated:Put", 3),
        "incoming/globex/copied.csv": ("ObjectCreated:Copy", 4),
    }
    for key, (event_name, accepted) in expected.items():
        (record,), item = _outcome(stack, key)
        assert record.event["Records"][0]["eventName"] == event_name, key
        assert item is not None, key
        assert (item["processing_status"], item["records_accepted"], item["records_rejected"]) == (
            "SUCCESS",
            accepted,
            0,
        ), key


def test_twenty_files_from_twenty_clients_at_once_are_all_processed_in_parallel(stack: Stack) -> None:
    bucket = stack.outputs["bucket_name"]
    keys = [f"incoming/burst/file-{n:02d}.csv" for n in range(20)]
    barrier = threading.Barrier(len(keys))

    def shipper(n: int) -> str:
        client = clients.aws_client("s3", stack.deployment.endpoint)  # each shipper its own client
        barrier.wait()
        return client.put_object(Bucket=bucket, Key=keys[n], Body=_csv(f"BURST{n}", 10 + n))["VersionId"]

    started = time.monotonic()
    with ThreadPoolExecutor(len(keys)) as pool:
        versions = list(pool.map(shipper, range(len(keys))))
    records = {
        k: stack.journal.wait_for_object(bucket, k, v, timeout_s=300) for k, v in zip(keys, versions, strict=True)
    }
    wall = time.monotonic() - started
    for n, key in enumerate(keys):
        (record,) = records[key]  # none lost, none doubled
        assert [a["outcome"] for a in record.attempts] == ["success"], key
        item = stack.uploader.metadata(key, versions[n])
        assert item is not None
        assert (item["processing_status"], item["records_accepted"]) == ("SUCCESS", 10 + n), key
        last = _stored(stack, [f"BURST{n}-{9 + n}"])  # the file's last record is in the table, once
        assert [e["source_file"] for e in last] == [key]
    attempts = [r.attempts[0] for (r,) in records.values()]
    busy = sum(a["wall_ms"] + (a["init_ms"] or 0) for a in attempts) / 1000
    overlap = _max_overlap(attempts)
    print(f"20 files: wall {wall:.1f} s, sum of attempt times {busy:.1f} s, at most {overlap} at once")
    assert overlap >= 4
    assert wall < busy * 0.6


def _max_overlap(attempts: list[dict[str, Any]]) -> int:
    edges = []
    for attempt in attempts:
        start = dt.datetime.strptime(attempt["started_at"], "%Y-%m-%dT%H:%M:%S.%fZ").timestamp()
        edges += [(start, 1), (start + (attempt["wall_ms"] + (attempt["init_ms"] or 0)) / 1000, -1)]
    running = peak = 0
    for _moment, step in sorted(edges):
        running += step
        peak = max(peak, running)
    return peak


def test_two_versions_of_a_key_uploaded_back_to_back_are_both_processed(stack: Stack) -> None:
    bucket = stack.outputs["bucket_name"]
    s3 = stack.client("s3")
    key = "incoming/acme-logistics/versions.csv"
    first = s3.put_object(Bucket=bucket, Key=key, Body=_csv("V1", 3))["VersionId"]
    second = s3.put_object(Bucket=bucket, Key=key, Body=_csv("V2", 5))["VersionId"]
    for version, prefix, count in ((first, "V1", 3), (second, "V2", 5)):
        (record,) = stack.journal.wait_for_object(bucket, key, version, timeout_s=180)
        assert record.status == "succeeded"
        item = stack.uploader.metadata(key, version)
        assert item is not None
        assert (item["processing_status"], item["records_accepted"]) == ("SUCCESS", count)
        stored = [e for e in _stored(stack, [f"{prefix}-{n}" for n in range(count)]) if e["source_version"] == version]
        assert {e["shipment_id"] for e in stored} == {f"{prefix}-{n}" for n in range(count)}


def test_several_s3_records_in_one_invocation_are_each_processed(stack: Stack) -> None:
    bucket = stack.outputs["bucket_name"]
    s3 = stack.client("s3")
    dynamodb = stack.client("dynamodb")
    keys = ["incoming/batch/one.csv", "incoming/batch/two.csv"]
    events = []
    for n, key in enumerate(keys):
        version = s3.put_object(Bucket=bucket, Key=key, Body=_csv(f"BATCH{n}", 2 + n))["VersionId"]
        (record,) = stack.journal.wait_for_object(bucket, key, version, timeout_s=120)
        events.append(record.event["Records"][0])
        # an operator's replay: forget the version was processed, so the batched event processes it again
        item = stack.uploader.metadata(key, version)
        assert item is not None
        dynamodb.delete_item(
            TableName=stack.outputs["metadata_table_name"],
            Key={"filename": {"S": key}, "upload_timestamp": {"S": item["upload_timestamp"]}},
        )
    response = stack.client("lambda").invoke(
        FunctionName=stack.outputs["function_name"], Payload=json.dumps({"Records": events}).encode()
    )
    assert "FunctionError" not in response
    files = json.loads(response["Payload"].read())["files"]
    assert [(f["status"], f["records_accepted"]) for f in files] == [("SUCCESS", 2), ("SUCCESS", 3)]


def test_a_file_larger_than_one_invocation_continues_in_new_ones_and_ends_exact(stack: Stack) -> None:
    """Issue 9 end to end: a short timeout under Lambda's CPU share makes one file take several invocations."""
    functions = stack.client("lambda")
    name = stack.outputs["function_name"]
    before = functions.get_function_configuration(FunctionName=name)
    variables = {**before["Environment"]["Variables"], "CHECKPOINT_MARGIN_MS": "2000", "FUNCTION_TIMEOUT_S": "3"}
    # 3 s less the 2 s margin leaves 1 s of work per invocation: 12,000 records need 3 or more even when moto
    # answers fast (with a 5 s and a 4 s timeout, a quick run of the local AWS finished the file in 2)
    functions.update_function_configuration(FunctionName=name, Timeout=3, Environment={"Variables": variables})
    key = "incoming/bulk-shipper/long day.csv"
    rows = [",".join(["shipment_id", "status", "timestamp", "location"])]
    for n in range(12_000):
        status = "LOST" if n % 10 == 7 else "IN_TRANSIT"
        rows.append(f"LONG-{n},{status},2025-06-02T{n // 3600 % 24:02d}:{n // 60 % 60:02d}:{n % 60:02d}Z,Dock {n % 9}")
    try:
        stack.client("s3").put_object(Bucket=stack.outputs["bucket_name"], Key=key, Body="\n".join(rows).encode())
        records, item = _outcome(stack, key)
    finally:
        functions.update_function_configuration(
            FunctionName=name, Timeout=before["Timeout"], Environment=before["Environment"]
        )

    assert item is not None and item["processing_status"] == "PARTIAL"
    assert (item["records_total"], item["records_accepted"], item["records_rejected"]) == (12_000, 10_800, 1_200)
    assert item["invocations"] >= 3
    assert len(records) >= 3, "the S3 event's invocation and the continuations it queued, one trace"
    report = stack.client("s3").get_object(Bucket=stack.outputs["bucket_name"], Key=item["rejects_key"])
    lines = report["Body"].read().decode().splitlines()
    assert len(lines) == 1_200 and json.loads(lines[0])["line"] == 9 and json.loads(lines[-1])["line"] == 11_999
    sample = [f"LONG-{n}" for n in range(0, 12_000, 997) if n % 10 != 7]
    assert {e["shipment_id"] for e in _stored(stack, sample)} == set(sample)


# ------------------------------------------------------------------------------------- the operator's CLI
# The console script itself, as an operator runs it, against the applied root on the local AWS.


def ops(stack: Stack, *args: str) -> tuple[int, Any]:
    """`shipment-ops --local ... --json`: exit code and the parsed JSON it printed."""
    state_dir = stack.deployment.workdir.parent  # where the local deploy recorded deployment.json
    command = [sys.executable, "-m", "tools.ops", "--local", "--state-dir", str(state_dir), *args, "--json"]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode in (0, 1), result.stderr
    return result.returncode, json.loads(result.stdout)


def test_a_failed_file_is_replayed_by_the_operator_after_the_fix_and_ends_exact(stack: Stack) -> None:
    stack.drain_failure_queue()
    key = "incoming/acme-logistics/replayed.csv"
    body = b"shipment_id,status,timestamp\r\nOPS-1,CREATED,2025-06-02T10:00:00Z\r\nOPS-2,LOST,2025-06-02T10:00:00Z\r\n"
    with deployed_code(stack, "raises"):  # the bug
        record = _upload_small(stack, key, body)
        assert [a["outcome"] for a in record.attempts] == ["error"] * 3
    # the fix is deployed (deployed_code restored the real package); the event waits in the failure queue

    _, planned = ops(stack, "replay", "--dry-run")
    assert [r["outcome"] for r in planned] == ["would replay"]
    _, replayed = ops(stack, "replay")

    assert [r["outcome"] for r in replayed] == ["replayed"]
    assert stack.drain_failure_queue() == []
    _, shown = ops(stack, "file", key)
    item = shown["item"]
    assert (item["processing_status"], item["records_total"], item["records_accepted"], item["records_rejected"]) == (
        "PARTIAL", 2, 1, 1)  # fmt: skip
    assert shown["rejects"]["address"].startswith(f"s3://{stack.outputs['bucket_name']}/rejected/{key}.")
    _, listed = ops(stack, "files", "--shipper", "acme-logistics", "--outcome", "PARTIAL", "--since", "1h")
    assert key in [f["filename"] for f in listed]
    _, history = ops(stack, "shipment", "OPS-1")
    assert [e["status"] for e in history] == ["CREATED"]


def test_reprocess_by_the_operator_records_a_second_attempt_and_doubles_nothing(stack: Stack) -> None:
    key = "incoming/acme-logistics/reprocessed.csv"
    body = b"shipment_id,status,timestamp\r\nREPRO-1,CREATED,2025-06-02T10:00:00Z\r\n"
    _upload_small(stack, key, body)
    _, before = ops(stack, "shipment", "REPRO-1")

    code, _ = ops(stack, "reprocess", key)

    assert code == 0
    _, shown = ops(stack, "file", key)
    item = shown["item"]
    assert (item["processing_status"], item["attempt"], item["records_accepted"]) == ("SUCCESS", 2, 1)
    assert [a["attempt"] for a in item["previous_attempts"]] == [1]
    _, after = ops(stack, "shipment", "REPRO-1")
    assert len(before) == len(after) == 1, "the update is rewritten, not added"


def test_the_operator_sees_alarms_and_the_function_log(stack: Stack) -> None:
    _upload_small(stack, "incoming/acme-logistics/logged.csv")

    _, alarms = ops(stack, "alarms")
    _, lines = ops(stack, "logs", "--since", "30m", "--filter", '"file processed"')

    assert {a["name"] for a in alarms} == {v for k, v in stack.outputs.items() if k.endswith("_alarm_name")}
    assert all(a["state"] in ("OK", "ALARM", "INSUFFICIENT_DATA") for a in alarms)
    assert any("incoming/acme-logistics/logged.csv" in line["message"] for line in lines)


# ------------------------------------------------------------------------------------- the outcome event


def test_each_finished_file_puts_one_outcome_event_that_a_rule_delivers_to_sqs(stack: Stack) -> None:
    sqs, rules = stack.client("sqs"), stack.client("events")
    queue = sqs.create_queue(QueueName="outcome-subscriber")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    pattern = {"source": [stack.outputs["outcome_event_source"]], "detail-type": ["Shipment File Processed"]}
    rules.put_rule(Name="shipment-outcomes", EventPattern=json.dumps(pattern))
    rules.put_targets(Rule="shipment-outcomes", Targets=[{"Id": "subscriber", "Arn": queue_arn}])
    key = "incoming/acme-logistics/announced.csv"

    bucket = stack.outputs["bucket_name"]
    versions = {}
    for name in (key, "incoming/acme-logistics/announced-too.csv"):
        versions[name] = stack.client("s3").put_object(Bucket=bucket, Key=name, Body=SMALL_CSV)["VersionId"]
    for name, version in versions.items():
        stack.journal.wait_for_object(bucket, name, version, timeout_s=120)

    received = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and len(received) < 2:
        batch = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
        received += [json.loads(m["Body"]) for m in batch]
    mine = [e for e in received if e["detail"]["key"] == key]
    assert len(mine) == 1, received
    assert len([e for e in received if e["detail"]["key"] == "incoming/acme-logistics/announced-too.csv"]) == 1
    detail = mine[0]["detail"]
    assert (detail["outcome"], detail["shipper"], detail["records_total"]) == ("SUCCESS", "acme-logistics", 1)
    assert detail["version_id"] == versions[key] and mine[0]["detail-type"] == "Shipment File Processed"


def test_the_smoke_command_passes_every_check_on_a_fresh_deployment_and_leaves_nothing_behind(stack: Stack) -> None:
    bucket = stack.outputs["bucket_name"]

    code, checks = ops(stack, "smoke", "--timeout", "120")

    assert code == 0, checks
    assert [(c["name"], c["result"]) for c in checks] == [
        (name, "PASS")
        for name in ("runtime", "notification", "upload", "processed", "outcome", "events", "rejects report",
                     "metrics document", "alarm inputs", "cleanup")
    ]  # fmt: skip
    # The local runtime runs the same code on this machine's Python: its zlib and tz database answer.
    assert "gzip seek points through zlib 1." in checks[0]["detail"], checks[0]
    assert "time zones from the system's tz database" in checks[0]["detail"], checks[0]
    key = checks[1]["detail"].split(" ", 1)[0]
    assert key.startswith("incoming/_smoke/smoke-"), "under the reserved folder no shipper can have"
    assert "3 event(s), 2 metadata item(s)" in checks[-1]["detail"]
    s3, dynamodb = stack.client("s3"), stack.client("dynamodb")
    for prefix in ("incoming/_smoke/", "rejected/incoming/_smoke/"):
        listed = s3.list_object_versions(Bucket=bucket, Prefix=prefix)
        assert listed.get("Versions", []) + listed.get("DeleteMarkers", []) == [], prefix
    left = dynamodb.query(
        TableName=stack.outputs["metadata_table_name"],
        KeyConditionExpression="filename = :f",
        ExpressionAttributeValues={":f": {"S": key}},
    )
    assert left["Items"] == []
    run_id = key.rsplit("smoke-", 1)[1].split(".", 1)[0]
    assert _stored(stack, [f"SMOKE-{run_id}-{n}" for n in range(1, 5)]) == []


# ------------------------------------------------------------------------------------- shipper profiles


PROFILED = [f for f in MANIFEST["files"] if (sample_data.PROFILES_DIR / f"{f['shipper']}.json").is_file()]


def test_a_profile_changed_with_terraform_apply_reaches_the_next_file_without_a_redeploy(stack: Stack) -> None:
    """Last in this module on purpose (make test runs it --dist loadfile, in file order): it leaves the German
    profile changed, and the stack is destroyed after the module, so no second apply restores it."""
    from shipment_processor.profiles import profile_version  # noqa: PLC0415 - lambda_src is on the test path

    function = stack.client("lambda")
    deployed = function.get_function_configuration(FunctionName=stack.outputs["function_name"])
    profiles = sample_data.profiles()
    first = {f["key"]: stack.uploader.upload(DATA / f["path"], f["key"], force=True) for f in PROFILED}
    read_at = time.monotonic()
    for entry in PROFILED:
        item = first[entry["key"]].item
        assert item is not None
        assert {k: item[k] for k in entry["expected"]} == entry["expected"], entry["key"]
        assert item["profile_version"] == profile_version(json.loads(profiles[entry["shipper"]]))

    german = json.loads(profiles["kraus-logistik"])
    german["statuses"]["map"]["verloren"] = "EXCEPTION"  # the rows the shipper calls lost are now stored
    changed = {**profiles, "kraus-logistik": json.dumps(german)}
    local_deploy.deploy(
        stack.deployment.endpoint, stack.deployment.workdir.parent, package=stack.packages["real"],
        environment=ENVIRONMENT, skip_lifecycle=True, extra_vars={"shipper_profiles": changed}, say=lambda _: None,
    )  # fmt: skip
    after = function.get_function_configuration(FunctionName=stack.outputs["function_name"])
    assert (after["CodeSha256"], after["LastModified"]) == (deployed["CodeSha256"], deployed["LastModified"])
    time.sleep(max(0.0, 31 - (time.monotonic() - read_at)))  # past the function's 30 s profile cache

    entry = next(f for f in PROFILED if f["shipper"] == "kraus-logistik")
    again = stack.uploader.upload(DATA / entry["path"], "incoming/kraus-logistik/after the change.csv")

    assert again.item is not None and again.item["profile_version"] == profile_version(german)
    assert (again.item["processing_status"], again.item["records_accepted"]) == ("SUCCESS", entry["records"])
