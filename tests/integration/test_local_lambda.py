"""The local Lambda runtime on its own: tiny fake functions on resources made with boto3 (no Terraform).

These pin down the AWS behaviours the runtime imitates — the S3 event record, notification filters, the
function's environment and context, async retries from the invoke config, logs and EMF — in seconds, so the
end-to-end test can concentrate on the system.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.integration import fake_functions
from tools.emulator import local_deploy, local_lambda

FUNCTION = "runtime-probe"
BUCKET = "runtime-probe-bucket"
NAMESPACE = "ShipmentProcessing/probe"


@dataclass
class Probe:
    endpoint: str
    runtime: local_lambda.LocalLambda
    packages: dict[str, Path]
    queue_url: str
    function_arn: str

    def client(self, service: str) -> Any:
        return local_lambda.aws_client(service, self.endpoint)

    def deploy(self, behaviour: str) -> None:
        self.client("lambda").update_function_code(FunctionName=FUNCTION, ZipFile=self.packages[behaviour].read_bytes())


@pytest.fixture(scope="module")
def probe(moto_endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Probe]:
    """A versioned bucket notifying a fake function (1 retry, SQS on failure) for incoming/*.csv."""
    state = tmp_path_factory.mktemp("probe")
    packages = {name: fake_functions.build(state, name) for name in fake_functions.BEHAVIOURS}
    client = lambda service: local_lambda.aws_client(service, moto_endpoint)  # noqa: E731
    role = client("iam").create_role(RoleName="runtime-probe-role", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    sqs = client("sqs")
    queue_url = sqs.create_queue(QueueName="runtime-probe-failures")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    function = client("lambda").create_function(
        FunctionName=FUNCTION,
        Runtime="python3.12",
        Role=role,
        Handler=fake_functions.HANDLER,
        Code={"ZipFile": packages["succeeds"].read_bytes()},
        MemorySize=128,
        Timeout=5,
        Environment={"Variables": {"ENVIRONMENT": "probe", "METRICS_NAMESPACE": NAMESPACE}},
    )
    client("lambda").put_function_event_invoke_config(
        FunctionName=FUNCTION, MaximumRetryAttempts=1, DestinationConfig={"OnFailure": {"Destination": queue_arn}}
    )
    client("logs").create_log_group(logGroupName=f"/aws/lambda/{FUNCTION}")
    s3 = client("s3")
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_notification_configuration(
        Bucket=BUCKET,
        NotificationConfiguration={
            "LambdaFunctionConfigurations": [
                {
                    "Id": "csv-files",
                    "LambdaFunctionArn": function["FunctionArn"],
                    "Events": ["s3:ObjectCreated:*"],
                    "Filter": {
                        "Key": {
                            "FilterRules": [
                                {"Name": "prefix", "Value": "incoming/"},
                                {"Name": "suffix", "Value": ".csv"},
                            ]
                        }
                    },
                }
            ]
        },
    )
    runtime = local_lambda.LocalLambda(
        moto_endpoint, packages=list(packages.values()), state_dir=state, retry_delays_s=(0.0,)
    )
    yield Probe(moto_endpoint, runtime, packages, queue_url, function["FunctionArn"])
    # The moto server is the session's: remove what this module made, for the tests that list what exists.
    local_deploy.empty_bucket(moto_endpoint, BUCKET)
    s3.delete_bucket(Bucket=BUCKET)
    client("lambda").delete_function(FunctionName=FUNCTION)
    client("logs").delete_log_group(logGroupName=f"/aws/lambda/{FUNCTION}")
    sqs.delete_queue(QueueUrl=queue_url)
    client("iam").delete_role(RoleName="runtime-probe-role")


def _deliver(probe: Probe, key: str, body: bytes = b"a,b\n1,2\n") -> local_lambda.Delivery:
    return probe.runtime.put_and_deliver(BUCKET, key, body)


def test_the_event_record_is_the_one_s3_sends(probe: Probe) -> None:
    body = b"shipment_id,status\n"
    delivery = _deliver(probe, "incoming/north wind/a+b.csv", body)
    (record,) = delivery.invocations[0].event["Records"]
    assert record["eventVersion"] == "2.1"
    assert (record["eventSource"], record["eventName"], record["awsRegion"]) == (
        "aws:s3",
        "ObjectCreated:Put",
        "eu-west-1",
    )
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", record["eventTime"])
    assert record["s3"]["configurationId"] == "csv-files"
    assert record["s3"]["bucket"] == {
        "name": BUCKET,
        "ownerIdentity": {"principalId": "A3LOCALOWNER"},
        "arn": f"arn:aws:s3:::{BUCKET}",
    }
    obj = record["s3"]["object"]
    assert obj["key"] == "incoming/north+wind/a%2Bb.csv"
    assert (obj["size"], obj["eTag"], obj["versionId"]) == (
        len(body),
        hashlib.md5(body, usedforsecurity=False).hexdigest(),
        delivery.obj.version_id,
    )
    assert re.fullmatch(r"[0-9A-F]{18}", obj["sequencer"])


def test_sequencers_increase_with_each_upload(probe: Probe) -> None:
    first = _deliver(probe, "incoming/seq/1.csv").obj.sequencer
    second = _deliver(probe, "incoming/seq/1.csv").obj.sequencer
    assert second > first


def test_only_keys_matching_the_notification_filters_reach_the_function(probe: Probe) -> None:
    assert _deliver(probe, "incoming/x/report.json").invocations == []
    assert _deliver(probe, "rejected/incoming/x/a.csv").invocations == []
    assert len(_deliver(probe, "incoming/x/a.csv").invocations) == 1


def test_the_function_gets_its_environment_lambda_variables_and_a_context(probe: Probe) -> None:
    attempt = _deliver(probe, "incoming/env/a.csv").invocations[0].attempts[0]
    env = attempt.payload["env"]
    assert env["ENVIRONMENT"] == "probe"
    assert (env["AWS_LAMBDA_FUNCTION_NAME"], env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"]) == (FUNCTION, "128")
    assert (env["AWS_REGION"], env["AWS_ENDPOINT_URL"]) == ("eu-west-1", probe.endpoint)
    assert env["HOME"] is None  # nothing of the caller's environment leaks in
    assert 0 < attempt.payload["remaining_ms"] <= 5000
    assert Path(env["LAMBDA_TASK_ROOT"], "shipment_processor", "handler.py").is_file()


def test_what_runs_is_the_package_with_the_deployed_code_sha(probe: Probe, tmp_path: Path) -> None:
    stranger = local_lambda.LocalLambda(probe.endpoint, packages=[probe.packages["raises"]], state_dir=tmp_path)
    with pytest.raises(local_lambda.PackageMismatchError, match="CodeSha256"):
        stranger.put_and_deliver(BUCKET, "incoming/sha/a.csv", b"x")


def test_emf_documents_become_cloudwatch_metrics_with_their_dimensions_and_units(probe: Probe) -> None:
    attempt = _deliver(probe, "incoming/emf/a.csv").invocations[0].attempts[0]
    assert attempt.metrics_forwarded == 4
    cloudwatch = probe.client("cloudwatch")
    end = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)
    stats = cloudwatch.get_metric_statistics(
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


def test_each_attempt_is_a_log_stream_with_lambdas_report_line(probe: Probe) -> None:
    invocation = _deliver(probe, "incoming/logs/a.csv").invocations[0]
    logs = probe.client("logs")
    group = f"/aws/lambda/{FUNCTION}"
    messages = [
        e["message"]
        for e in logs.get_log_events(logGroupName=group, logStreamName=invocation.attempts[0].log_stream)["events"]
    ]
    assert messages[0] == f"START RequestId: {invocation.request_id} Version: $LATEST"
    assert any('"message": "processing"' in m for m in messages)
    assert messages[-1].startswith(f"REPORT RequestId: {invocation.request_id}\tDuration: ")
    assert "Memory Size: 128 MB\tMax Memory Used: " in messages[-1]
    streams = logs.describe_log_streams(logGroupName=group)["logStreams"]
    for stream in streams:  # moto's own (Docker-less) invoke attempts were swept away
        first = logs.get_log_events(logGroupName=group, logStreamName=stream["logStreamName"])["events"][0]
        assert not first["message"].startswith(local_lambda.MOTO_DOCKER_ERROR)


def test_peak_memory_is_the_function_process_own(probe: Probe) -> None:
    ballast = b"x" * (150 * 1024 * 1024)  # the caller's memory must not show up in the function's peak
    attempt = _deliver(probe, "incoming/mem/a.csv").invocations[0].attempts[0]
    assert 5 < attempt.peak_rss_mb < 60
    del ballast


def test_failed_attempts_are_retried_as_the_invoke_config_says_then_sent_to_the_queue(probe: Probe) -> None:
    probe.deploy("raises")
    try:
        invocation = _deliver(probe, "incoming/fail/a.csv").invocations[0]
    finally:
        probe.deploy("succeeds")
    assert [a.outcome for a in invocation.attempts] == ["error", "error"]  # MaximumRetryAttempts = 1
    assert invocation.attempts[0].error["stackTrace"][0].strip().startswith('File "')
    sqs = probe.client("sqs")
    (message,) = sqs.receive_message(QueueUrl=probe.queue_url, MaxNumberOfMessages=10)["Messages"]
    record = json.loads(message["Body"])
    assert record["requestContext"]["approximateInvokeCount"] == 2
    assert record["requestContext"]["functionArn"] == f"{probe.function_arn}:$LATEST"
    assert invocation.destination_message_id == message["MessageId"]


def test_a_handler_that_cannot_be_imported_fails_its_attempts(probe: Probe) -> None:
    functions = probe.client("lambda")
    functions.update_function_configuration(FunctionName=FUNCTION, Handler="shipment_processor.missing.handler")
    try:
        invocation = _deliver(probe, "incoming/import/a.csv").invocations[0]
    finally:
        functions.update_function_configuration(FunctionName=FUNCTION, Handler=fake_functions.HANDLER)
    assert {a.error["errorType"] for a in invocation.attempts} == {"Runtime.ImportModuleError"}


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


def test_notification_event_names_match_like_s3() -> None:
    target = local_lambda.NotificationTarget("id", "arn", ("s3:ObjectCreated:*",), "incoming/", ".csv")
    assert target.matches("s3:ObjectCreated:Put", "incoming/a.csv")
    assert target.matches("s3:ObjectCreated:CompleteMultipartUpload", "incoming/a.csv")
    assert not target.matches("s3:ObjectRemoved:Delete", "incoming/a.csv")
