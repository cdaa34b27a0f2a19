"""The Lambda side of the local AWS: the Invoke API, recursive loop detection, concurrency, CPU shares, the metrics
Lambda and SQS publish, alarms that evaluate, restarts. Fake functions on boto3-made resources, no Terraform
(except the one test that applies `aws_lambda_function_recursion_config`).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.emulator.conftest import FUNCTION, QUEUE, Probe
from tools.emulator import local_aws
from tools.emulator.aws import clients, server
from tools.emulator.aws.lambda_ import cpu_share, journal, local_lambda

RECORDS = {"Records": [{"s3": {"object": {"key": "incoming/api/a.csv"}}}]}


@pytest.fixture
def restore(probe: Probe) -> Any:
    """Put the probe function back as the fixture made it, whatever the test changed."""
    yield
    functions = probe.client("lambda")
    probe.deploy("succeeds", Timeout=5, MemorySize=128)
    functions.delete_function_concurrency(FunctionName=FUNCTION)
    functions.put_function_recursion_config(FunctionName=FUNCTION, RecursiveLoop="Terminate")
    probe.journal.wait_idle(timeout_s=60)
    probe.drain_queue()


def _metric(probe: Probe, namespace: str, name: str, dimensions: list[dict[str, str]], stat: str = "Sum") -> float:
    end = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)
    points = probe.client("cloudwatch").get_metric_statistics(
        Namespace=namespace,
        MetricName=name,
        Dimensions=dimensions,
        StartTime=end - dt.timedelta(minutes=30),
        EndTime=end,
        Period=1800,
        Statistics=[stat],
    )["Datapoints"]
    return sum(p[stat] for p in points) if stat == "Sum" else max((p[stat] for p in points), default=0.0)


def _wait(predicate: Any, timeout_s: float = 30, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        time.sleep(0.2)


# ------------------------------------------------------------------------------------------- Invoke


def test_request_response_returns_the_payload_with_lambdas_headers(probe: Probe) -> None:
    response = probe.client("lambda").invoke(FunctionName=FUNCTION, Payload=json.dumps(RECORDS), LogType="Tail")
    assert (response["StatusCode"], response["ExecutedVersion"]) == (200, "$LATEST")
    assert "FunctionError" not in response
    payload = json.loads(response["Payload"].read())
    assert payload["key"] == "incoming/api/a.csv"
    log = base64.b64decode(response["LogResult"]).decode()
    assert f"START RequestId: {payload['request_id']}" in log
    assert "REPORT RequestId: " in log


def test_a_function_error_comes_back_in_x_amz_function_error(probe: Probe, restore: None) -> None:
    probe.deploy("raises")
    response = probe.client("lambda").invoke(FunctionName=FUNCTION, Payload=b"{}")
    assert (response["StatusCode"], response["FunctionError"]) == (200, "Unhandled")
    payload = json.loads(response["Payload"].read())
    assert (payload["errorType"], payload["errorMessage"]) == (
        "RuntimeError",
        "simulated persistent DynamoDB throttling",
    )


def test_an_event_invocation_is_accepted_then_run_asynchronously(probe: Probe) -> None:
    response = probe.client("lambda").invoke(FunctionName=FUNCTION, InvocationType="Event", Payload=json.dumps(RECORDS))
    assert response["StatusCode"] == 202
    request_id = response["ResponseMetadata"]["RequestId"]
    record = _wait(lambda: (r := probe.journal.get(request_id)) and r.finished and r, what="the async invocation")
    assert (record.status, record.cause["type"], record.data["invocation_type"]) == ("succeeded", "invoke", "Event")
    assert record.attempts[0]["payload"]["request_id"] == request_id


def test_dry_run_checks_and_runs_nothing(probe: Probe) -> None:
    before = len(probe.journal.records())
    response = probe.client("lambda").invoke(FunctionName=FUNCTION, InvocationType="DryRun")
    assert response["StatusCode"] == 204
    assert len(probe.journal.records()) == before


@pytest.mark.parametrize(
    ("invocation_type", "limit"),
    [("Event", server.ASYNC_PAYLOAD_LIMIT), ("RequestResponse", server.SYNC_PAYLOAD_LIMIT)],
)
def test_payloads_over_lambdas_limits_are_refused(probe: Probe, invocation_type: str, limit: int) -> None:
    too_big = json.dumps({"pad": "x" * limit}).encode()
    with pytest.raises(ClientError) as raised:
        probe.client("lambda").invoke(FunctionName=FUNCTION, InvocationType=invocation_type, Payload=too_big)
    assert raised.value.response["Error"]["Code"] == "RequestEntityTooLargeException"
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 413


def test_an_unknown_function_or_a_payload_that_is_not_json_is_lambdas_error(probe: Probe) -> None:
    functions = probe.client("lambda")
    with pytest.raises(functions.exceptions.ResourceNotFoundException, match="Function not found"):
        functions.invoke(FunctionName="no-such-function", Payload=b"{}")
    with pytest.raises(functions.exceptions.InvalidRequestContentException):
        functions.invoke(FunctionName=FUNCTION, Payload=b"{not json")


# ------------------------------------------------------------------------------------------ recursion


def test_a_function_invoking_itself_forever_is_stopped_after_16_and_its_event_goes_to_the_queue(
    probe: Probe, restore: None
) -> None:
    probe.drain_queue()
    probe.deploy("recurses", MemorySize=1769)  # a full core: each link creates a boto3 client
    # An S3 upload starts the chain; waiting for the object waits for every continuation of its trace Root.
    _, chain = probe.put("incoming/loop/a.csv")
    assert len({r.trace_root for r in chain}) == 1
    assert [r.cause["type"] for r in chain] == ["s3"] + ["invoke"] * 16
    assert [r.data["trace"]["count"] for r in chain] == list(range(1, 18))
    assert [r.status for r in chain] == ["succeeded"] * 16 + ["stopped"]
    assert chain[-1].attempts == []  # never ran
    (message,) = _wait(probe.drain_queue, what="the failure record")
    assert message["requestContext"]["condition"] == "RecursiveInvocationLoopDetected"
    assert message["requestContext"]["approximateInvokeCount"] == 0
    dropped = _metric(probe, "AWS/Lambda", "RecursiveInvocationsDropped", [{"Name": "FunctionName", "Value": FUNCTION}])
    assert dropped >= 1


def test_with_recursion_allowed_the_chain_goes_on(probe: Probe, restore: None) -> None:
    functions = probe.client("lambda")
    assert functions.get_function_recursion_config(FunctionName=FUNCTION)["RecursiveLoop"] == "Terminate"
    functions.put_function_recursion_config(FunctionName=FUNCTION, RecursiveLoop="Allow")
    assert functions.get_function_recursion_config(FunctionName=FUNCTION)["RecursiveLoop"] == "Allow"
    probe.deploy("recurses", MemorySize=1769)
    request_id = functions.invoke(FunctionName=FUNCTION, InvocationType="Event", Payload=json.dumps({"left": 17}))[
        "ResponseMetadata"
    ]["RequestId"]
    first = _wait(lambda: probe.journal.get(request_id), what="the first invocation")
    chain = probe.wait_chain(first.trace_root, 18, timeout_s=120)
    assert [r.status for r in chain] == ["succeeded"] * 18
    with pytest.raises(ClientError, match="ValidationException"):
        functions.put_function_recursion_config(FunctionName=FUNCTION, RecursiveLoop="Sometimes")


# ------------------------------------------------------------------------------------- concurrency


def test_reserved_concurrency_bounds_parallel_runs_and_the_rest_wait_in_the_queue(probe: Probe, restore: None) -> None:
    functions = probe.client("lambda")
    probe.deploy("busy", MemorySize=1769)  # one full core each, so the wait is the concurrency limit's
    functions.put_function_concurrency(FunctionName=FUNCTION, ReservedConcurrentExecutions=2)
    ids = [
        functions.invoke(FunctionName=FUNCTION, InvocationType="Event", Payload=json.dumps({"cpu_s": 0.3}))[
            "ResponseMetadata"
        ]["RequestId"]
        for _ in range(6)
    ]
    records = [_wait(lambda i=i: (r := probe.journal.get(i)) and r.finished and r, 120) for i in ids]
    assert [r.status for r in records] == ["succeeded"] * 6
    spans = []
    for record in records:
        attempt = record.attempts[0]
        start = dt.datetime.strptime(attempt["started_at"], "%Y-%m-%dT%H:%M:%S.%fZ").timestamp()
        spans.append((start, start + (attempt["wall_ms"] + (attempt["init_ms"] or 0)) / 1000))
    overlaps = max(sum(1 for s, e in spans if s <= moment < e) for moment, _ in spans)
    assert overlaps <= 2
    throttles = _metric(probe, "AWS/Lambda", "Throttles", [{"Name": "FunctionName", "Value": FUNCTION}])
    assert throttles >= 1


def test_a_synchronous_invoke_beyond_the_concurrency_is_throttled(probe: Probe, restore: None) -> None:
    functions = probe.client("lambda")
    probe.deploy("busy", MemorySize=1769)
    functions.put_function_concurrency(FunctionName=FUNCTION, ReservedConcurrentExecutions=1)
    busy = functions.invoke(FunctionName=FUNCTION, InvocationType="Event", Payload=json.dumps({"cpu_s": 3}))
    request_id = busy["ResponseMetadata"]["RequestId"]
    _wait(lambda: (r := probe.journal.get(request_id)) and r.status == "running", what="the first one running")
    # botocore retries throttling errors by itself; a client without retries sees Lambda's answer
    impatient = boto3.session.Session().client(
        "lambda",
        endpoint_url=probe.endpoint,
        region_name="eu-west-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(retries={"total_max_attempts": 1}),
    )
    with pytest.raises(impatient.exceptions.TooManyRequestsException) as raised:
        impatient.invoke(FunctionName=FUNCTION, Payload=b"{}")
    assert raised.value.response["Reason"] == "ReservedFunctionConcurrentInvocationLimitExceeded"


# ------------------------------------------------------------------------------------------ CPU share


def test_a_function_gets_the_cpu_share_its_memory_buys_and_its_cgroup_is_removed(probe: Probe, restore: None) -> None:
    service_pid = int((probe.state_dir / "lambda-service.pid").read_text())
    probe.deploy("busy", MemorySize=256)
    response = probe.client("lambda").invoke(FunctionName=FUNCTION, Payload=json.dumps({"cpu_s": 0.5}))
    request_id = response["ResponseMetadata"]["RequestId"]
    (attempt,) = probe.journal.get(request_id).attempts
    if attempt["cpu_mode"] != "cgroup":
        pytest.skip(f"no writable cpu cgroup here (mode {attempt['cpu_mode']})")
    assert attempt["cpu_share"] == pytest.approx(256 / 1769, abs=1e-4)
    assert attempt["cpu_s"] >= 0.5
    assert attempt["wall_ms"] >= 0.5 / (256 / 1769) * 1000 * 0.9  # 3.4 s of wall for 0.5 s of CPU
    assert [g for g in cpu_share.all_cgroups() if g.startswith(f"{service_pid}-")] == []


def test_without_a_cgroup_cpu_time_is_charged_against_the_timeout(probe: Probe, tmp_path: Path, restore: None) -> None:
    warnings: list[str] = []
    runtime = local_lambda.LocalLambda(
        probe.endpoint, state_dir=tmp_path, cpu=cpu_share.CpuLimiter("charged", warn=warnings.append)
    )
    probe.deploy("busy", MemorySize=256, Timeout=3)
    spec = local_lambda.describe_function(runtime.lambda_, FUNCTION)
    quick = runtime.run_attempt(spec, {"cpu_s": 0.3}, "charged-1", 1)
    assert (quick.outcome, quick.cpu_mode) == ("success", "charged")
    assert quick.duration_ms >= 0.3 / spec.memory_mb * 1769 * 1000 * 0.9  # ~2.1 s charged for 0.3 CPU-s
    slow = runtime.run_attempt(spec, {"cpu_s": 1.0}, "charged-2", 1)  # 1 s of CPU = 6.9 s at the share > 3 s
    assert slow.outcome == "timeout"
    assert slow.cpu_s < 0.9  # stopped once 3 s / share = 0.43 CPU-s were charged, not after its wall time


def test_stale_cgroups_of_dead_runtimes_are_removed_at_start() -> None:
    controller = cpu_share.find_controller()
    if controller is None:
        pytest.skip("no writable cpu cgroup here")
    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = controller.root / cpu_share.PARENT / f"{dead.pid}-1"
    stale.mkdir(parents=True)
    cpu_share.CpuLimiter("cgroup")
    assert not stale.exists()


# --------------------------------------------------------------------------------- metrics and alarms


def test_lambda_and_sqs_publish_the_metrics_the_alarms_read(probe: Probe, restore: None) -> None:
    probe.drain_queue()
    probe.deploy("raises")
    probe.put("incoming/metrics/a.csv")
    function = [{"Name": "FunctionName", "Value": FUNCTION}]
    assert _metric(probe, "AWS/Lambda", "Invocations", function) >= 2
    assert _metric(probe, "AWS/Lambda", "Errors", function) >= 2
    assert _metric(probe, "AWS/Lambda", "Duration", function, "Maximum") > 0
    queue = [{"Name": "QueueName", "Value": QUEUE}]
    _wait(lambda: _metric(probe, "AWS/SQS", "NumberOfMessagesSent", queue) >= 1, what="NumberOfMessagesSent")
    _wait(
        lambda: _metric(probe, "AWS/SQS", "ApproximateNumberOfMessagesVisible", queue, "Maximum") >= 1,
        what="the queue depth gauge",
    )


def test_an_alarm_on_lambda_errors_goes_to_alarm_with_cloudwatchs_reason_and_notifies_its_topic(
    probe: Probe, restore: None
) -> None:
    sns, sqs, cloudwatch = probe.client("sns"), probe.client("sqs"), probe.client("cloudwatch")
    topic = sns.create_topic(Name="probe-alarms")["TopicArn"]
    inbox = sqs.create_queue(QueueName="probe-alarm-inbox")["QueueUrl"]
    inbox_arn = sqs.get_queue_attributes(QueueUrl=inbox, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=inbox_arn)
    cloudwatch.put_metric_alarm(
        AlarmName="probe-errors",
        Namespace="AWS/Lambda",
        MetricName="Errors",
        Dimensions=[{"Name": "FunctionName", "Value": FUNCTION}],
        Statistic="Sum",
        Period=300,
        EvaluationPeriods=1,
        Threshold=0,
        ComparisonOperator="GreaterThanThreshold",
        TreatMissingData="notBreaching",
        AlarmActions=[topic],
    )
    try:
        probe.deploy("raises")
        probe.put("incoming/alarm/a.csv")

        def alarm() -> dict[str, Any] | None:
            (found,) = cloudwatch.describe_alarms(AlarmNames=["probe-errors"])["MetricAlarms"]
            return found if found["StateValue"] == "ALARM" else None

        found = _wait(alarm, what="the alarm state")
        data = json.loads(found["StateReasonData"])
        assert (data["version"], data["statistic"], data["period"], data["threshold"]) == ("1.0", "Sum", 300, 0.0)
        assert data["recentDatapoints"][0] >= 2
        assert data["evaluatedDatapoints"][0]["value"] == data["recentDatapoints"][0]
        assert found["StateReason"].startswith("Threshold Crossed: 1 datapoint [")
        assert "was greater than the threshold (0.0)" in found["StateReason"]
        (message,) = _wait(lambda: sqs.receive_message(QueueUrl=inbox, WaitTimeSeconds=1).get("Messages"))
        notification = json.loads(json.loads(message["Body"])["Message"])
        assert (notification["AlarmName"], notification["NewStateValue"]) == ("probe-errors", "ALARM")
    finally:
        cloudwatch.delete_alarms(AlarmNames=["probe-errors"])
        sqs.delete_queue(QueueUrl=inbox)
        sns.delete_topic(TopicArn=topic)


# ------------------------------------------------------------------------------------------- restarts


def test_a_restarted_lambda_service_resumes_what_was_running_and_repeats_nothing_finished(
    probe: Probe, restore: None
) -> None:
    _, (done,) = probe.put("incoming/restart/done.csv")
    probe.deploy("busy", MemorySize=256)
    running = probe.client("lambda").invoke(
        FunctionName=FUNCTION, InvocationType="Event", Payload=json.dumps({"cpu_s": 0.4})
    )
    request_id = running["ResponseMetadata"]["RequestId"]
    _wait(lambda: (r := probe.journal.get(request_id)) and r.status == "running", what="the invocation running")
    pid_file = probe.state_dir / "lambda-service.pid"
    old_pid = int(pid_file.read_text())
    os.kill(old_pid, signal.SIGKILL)  # as hard as a crash: no cleanup of its own
    _wait(lambda: int(pid_file.read_text()) != old_pid, what="the service restarted")
    resumed = _wait(lambda: (r := probe.journal.get(request_id)) and r.finished and r, 60, "the resumed invocation")
    assert resumed.status == "succeeded"
    assert len(resumed.attempts) == 1  # the killed attempt is not an attempt; it ran again
    assert probe.journal.get(done.request_id).data == done.data  # finished before: untouched
    log = (probe.state_dir / "logs" / f"{FUNCTION}.log").read_text()
    assert log.count(f"START RequestId: {done.request_id}") == 1
    controller = cpu_share.find_controller()
    if controller is not None:
        _wait(lambda: not [g for g in cpu_share.all_cgroups() if g.startswith(f"{old_pid}-")], 10, "stale cgroups")


def test_the_duplicate_delivery_switch_delivers_every_s3_event_twice(tmp_path: Path) -> None:
    state = tmp_path / "duplicates"
    running = local_aws.start(state, duplicate_s3_events=True, lambda_service=False)
    try:
        s3 = clients.aws_client("s3", running.endpoint)
        s3.create_bucket(Bucket="dup-bucket", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        s3.put_bucket_notification_configuration(
            Bucket="dup-bucket",
            NotificationConfiguration={
                "LambdaFunctionConfigurations": [
                    {
                        "LambdaFunctionArn": "arn:aws:lambda:eu-west-1:123456789012:function:anything",
                        "Events": ["s3:ObjectCreated:*"],
                    }
                ]
            },
        )
        s3.put_object(Bucket="dup-bucket", Key="a.csv", Body=b"x")
        records = journal.Journal(state).for_object("dup-bucket", "a.csv", None)
        assert [r.cause["duplicate"] for r in records] == [False, True]
        assert records[0].event == records[1].event
    finally:
        local_aws.stop(state)


def test_the_local_aws_serves_tls_that_the_aws_cli_trusts_through_aws_ca_bundle(tmp_path: Path) -> None:
    state = tmp_path / "tls"
    running = local_aws.start(state, tls=True, lambda_service=False)
    try:
        assert running.endpoint.startswith("https://")
        env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "AWS_CONFIG_FILE": os.devnull, **running.client_env()}
        aws = str(Path(os.sys.executable).with_name("aws"))
        for args in (["s3", "mb", "s3://tls-bucket"], ["s3", "ls"]):
            result = subprocess.run([aws, *args], env=env, capture_output=True, text=True, timeout=60, check=False)
            assert result.returncode == 0, result.stderr
        assert "tls-bucket" in result.stdout
    finally:
        local_aws.stop(state)


def test_saved_logs_insights_queries_can_be_put_listed_and_deleted(probe: Probe) -> None:
    logs = probe.client("logs")
    created = logs.put_query_definition(
        name="shipment-processing-t/failed-files", queryString="fields @timestamp", logGroupNames=["/aws/lambda/x"]
    )["queryDefinitionId"]
    logs.put_query_definition(name="other/q", queryString="fields @message")

    listed = logs.describe_query_definitions(queryDefinitionNamePrefix="shipment-processing-t/")["queryDefinitions"]
    assert [(q["queryDefinitionId"], q["logGroupNames"]) for q in listed] == [(created, ["/aws/lambda/x"])]
    logs.put_query_definition(queryDefinitionId=created, name="shipment-processing-t/failed-files", queryString="x")
    (updated,) = logs.describe_query_definitions(queryDefinitionNamePrefix="shipment-processing-t/")["queryDefinitions"]
    assert updated["queryString"] == "x"
    assert logs.delete_query_definition(queryDefinitionId=created)["success"] is True
    assert logs.describe_query_definitions(queryDefinitionNamePrefix="shipment-processing-t/")["queryDefinitions"] == []
