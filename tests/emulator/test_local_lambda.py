"""The local Lambda runtime on its own: what a function sees and leaves behind when S3 events reach it.

These pin down the AWS behaviours the runtime imitates — the S3 event record, notification filters, the
function's environment and context, async retries from the invoke config, logs and EMF — in seconds, so the
end-to-end test can concentrate on the system. Every object here is uploaded with a plain boto3 PutObject.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from pathlib import Path

import pytest

from tests.emulator.conftest import BUCKET, FUNCTION, NAMESPACE, Probe
from tools.emulator.aws.lambda_ import local_lambda


def test_the_event_record_is_the_one_s3_sends(probe: Probe) -> None:
    body = b"shipment_id,status\n"
    version, (record,) = probe.put("incoming/north wind/a+b.csv", body)
    (event,) = record.event["Records"]
    assert event["eventVersion"] == "2.1"
    assert (event["eventSource"], event["eventName"], event["awsRegion"]) == (
        "aws:s3",
        "ObjectCreated:Put",
        "eu-west-1",
    )
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", event["eventTime"])
    assert event["s3"]["configurationId"] == "csv-files"
    assert event["s3"]["bucket"]["name"] == BUCKET
    assert event["s3"]["bucket"]["arn"] == f"arn:aws:s3:::{BUCKET}"
    obj = event["s3"]["object"]
    assert obj["key"] == "incoming/north+wind/a%2Bb.csv"
    assert (obj["size"], obj["eTag"], obj["versionId"]) == (
        len(body),
        hashlib.md5(body, usedforsecurity=False).hexdigest(),
        version,
    )
    assert re.fullmatch(r"[0-9A-F]{18}", obj["sequencer"])
    assert record.cause["event_name"] == "ObjectCreated:Put"


def test_sequencers_increase_with_each_upload_of_a_key(probe: Probe) -> None:
    _, (first,) = probe.put("incoming/seq/1.csv")
    _, (second,) = probe.put("incoming/seq/1.csv")
    assert (
        second.event["Records"][0]["s3"]["object"]["sequencer"] > first.event["Records"][0]["s3"]["object"]["sequencer"]
    )


def test_only_keys_matching_the_notification_filters_reach_the_function(probe: Probe) -> None:
    assert probe.put("incoming/x/report.json")[1] == []
    assert probe.put("rejected/incoming/x/a.csv")[1] == []
    assert len(probe.put("incoming/x/a.csv")[1]) == 1


def test_the_function_gets_its_environment_lambda_variables_and_a_context(probe: Probe) -> None:
    _, (record,) = probe.put("incoming/env/a.csv")
    (attempt,) = record.attempts
    env = attempt["payload"]["env"]
    assert env["ENVIRONMENT"] == "probe"
    assert (env["AWS_LAMBDA_FUNCTION_NAME"], env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"]) == (FUNCTION, "128")
    assert (env["AWS_REGION"], env["AWS_ENDPOINT_URL"]) == ("eu-west-1", probe.endpoint)
    assert env["HOME"] is None  # nothing of the caller's environment leaks in
    assert 0 < attempt["payload"]["remaining_ms"] <= 5000
    assert attempt["payload"]["request_id"] == record.request_id
    assert Path(env["LAMBDA_TASK_ROOT"], "shipment_processor", "handler.py").is_file()


def test_what_runs_is_the_code_deployed_now(probe: Probe) -> None:
    probe.deploy("raises")
    try:
        _, (record,) = probe.put("incoming/sha/a.csv")
    finally:
        probe.deploy("succeeds")
    probe.drain_queue()
    assert [a["error"]["errorType"] for a in record.attempts] == ["RuntimeError", "RuntimeError"]
    code = probe.client("lambda").get_function(FunctionName=FUNCTION)["Code"]
    assert code["Location"].startswith(probe.endpoint + "/")


def test_emf_documents_become_cloudwatch_metrics_with_their_dimensions_and_units(probe: Probe) -> None:
    _, (record,) = probe.put("incoming/emf/a.csv")
    assert record.attempts[0]["metrics_forwarded"] == 4
    end = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)
    stats = probe.client("cloudwatch").get_metric_statistics(
        Namespace=NAMESPACE,
        MetricName="ProcessingDuration",
        Dimensions=[{"Name": "Environment", "Value": "probe"}],
        StartTime=end - dt.timedelta(minutes=10),
        EndTime=end,
        Period=600,
        Statistics=["Maximum"],
        Unit="Milliseconds",
    )
    assert [p["Maximum"] for p in stats["Datapoints"]] == [12.5]


def test_each_attempt_is_a_log_stream_with_lambdas_report_line_and_no_docker_noise(probe: Probe) -> None:
    _, (record,) = probe.put("incoming/logs/a.csv")
    logs = probe.client("logs")
    group = f"/aws/lambda/{FUNCTION}"
    stream = record.attempts[0]["log_stream"]
    messages = [e["message"] for e in logs.get_log_events(logGroupName=group, logStreamName=stream)["events"]]
    assert messages[0] == f"START RequestId: {record.request_id} Version: $LATEST"
    assert any('"message": "processing"' in m for m in messages)
    assert messages[-1].startswith(f"REPORT RequestId: {record.request_id}\tDuration: ")
    assert "Memory Size: 128 MB\tMax Memory Used: " in messages[-1]
    for stream in logs.describe_log_streams(logGroupName=group)["logStreams"]:  # moto never tried Docker
        first = logs.get_log_events(logGroupName=group, logStreamName=stream["logStreamName"])["events"][0]
        assert not first["message"].startswith(local_lambda.MOTO_DOCKER_ERROR)


def test_peak_memory_and_cpu_are_the_function_process_own(probe: Probe) -> None:
    _, (record,) = probe.put("incoming/mem/a.csv")
    (attempt,) = record.attempts
    assert 5 < attempt["peak_rss_mb"] < 60
    assert 0 < attempt["cpu_s"] < 2
    assert attempt["cpu_share"] == pytest.approx(128 / 1769, abs=1e-4)
    assert attempt["cpu_mode"] in {"cgroup", "charged"}


def test_failed_attempts_are_retried_as_the_invoke_config_says_then_sent_to_the_queue(probe: Probe) -> None:
    probe.drain_queue()
    probe.deploy("raises")
    try:
        _, (record,) = probe.put("incoming/fail/a.csv")
    finally:
        probe.deploy("succeeds")
    assert [a["outcome"] for a in record.attempts] == ["error", "error"]  # MaximumRetryAttempts = 1
    assert record.attempts[0]["error"]["stackTrace"][0].strip().startswith('File "')
    assert (record.status, record.data["condition"]) == ("failed", "RetriesExhausted")
    (message,) = probe.drain_queue()
    assert message["requestContext"]["approximateInvokeCount"] == 2
    assert message["requestContext"]["functionArn"] == f"{probe.function_arn}:$LATEST"
    assert message["requestContext"]["requestId"] == record.request_id
    assert message["requestPayload"] == record.event
    assert record.data["destination"].endswith(":runtime-probe-failures")


def test_a_handler_that_cannot_be_imported_fails_its_attempts(probe: Probe) -> None:
    functions = probe.client("lambda")
    functions.update_function_configuration(FunctionName=FUNCTION, Handler="shipment_processor.missing.handler")
    try:
        _, (record,) = probe.put("incoming/import/a.csv")
    finally:
        functions.update_function_configuration(
            FunctionName=FUNCTION, Handler="shipment_processor.handler.lambda_handler"
        )
    probe.drain_queue()
    assert {a["error"]["errorType"] for a in record.attempts} == {"Runtime.ImportModuleError"}


# ------------------------------------------------------------------------------------------ pure helpers


def test_emf_without_a_numeric_value_or_a_dimension_value_is_skipped() -> None:
    document = {
        "_aws": {
            "Timestamp": 0,
            "CloudWatchMetrics": [
                {"Namespace": "N", "Dimensions": [["Env"]], "Metrics": [{"Name": "A"}, {"Name": "B"}]}
            ],
        },
        "Env": "x",
        "A": "not a number",
        "B": [1, 2],
    }
    (datum,) = local_lambda.emf_metric_data(document)["N"]
    assert (datum["MetricName"], datum["Values"], datum["Unit"]) == ("B", [1.0, 2.0], "None")
    assert local_lambda.emf_metric_data({**document, "Env": 3}) == {}
    assert local_lambda.emf_metric_data({"_aws": {"CloudWatchMetrics": []}}) == {}
