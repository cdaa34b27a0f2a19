"""The operator CLI against an account whose files the real handler processed: what an operator sees."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from shipment_processor.profiles import profile_version

from tests.unit.support import BUCKET, NOW, Context, World, as_csv, record, records
from tools.ops import cli
from tools.ops.environment import Environment


class HandlerAsLambda:
    """Lambda's Invoke API running the real handler in this process (synchronous invocations)."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.payloads: list[dict[str, Any]] = []

    def invoke(self, *, FunctionName: str, InvocationType: str, Payload: bytes, **_: Any) -> dict[str, Any]:
        event = json.loads(Payload)
        self.payloads.append(event)
        try:
            result = self.world.invoke(event, context=Context(f"req-ops-{len(self.payloads)}"))
        except Exception as exc:  # the function's unhandled error, as Lambda reports it
            body = {"errorMessage": str(exc), "errorType": type(exc).__name__}
            return {"StatusCode": 200, "FunctionError": "Unhandled", "Payload": io.BytesIO(json.dumps(body).encode())}
        return {"StatusCode": 200 if InvocationType == "RequestResponse" else 202,
                "Payload": io.BytesIO(json.dumps(result).encode())}  # fmt: skip


@pytest.fixture
def lambda_client(world: World) -> HandlerAsLambda:
    return HandlerAsLambda(world)


@pytest.fixture
def outputs(outputs: dict[str, Any], world: World) -> dict[str, Any]:
    """The deployment's outputs, with an on-failure queue."""
    return {**outputs, "failure_queue_url": world_queue(world)}


def world_queue(world: World) -> str:
    import boto3  # noqa: PLC0415

    return str(boto3.client("sqs", region_name="eu-west-1").create_queue(QueueName="failures")["QueueUrl"])


def failure_record(event: dict[str, Any]) -> str:
    """What Lambda sends to the on-failure destination after the last retry."""
    return json.dumps(
        {
            "version": "1.0",
            "requestContext": {"requestId": "req-dead", "condition": "RetriesExhausted", "approximateInvokeCount": 3},
            "requestPayload": event,
            "responsePayload": {"errorType": "Sandbox.Timedout", "errorMessage": "Task timed out after 30.00 seconds"},
        }
    )


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    capsys.readouterr()
    code = cli.main(["--env", "dev", *args])
    return code, capsys.readouterr().out


def processed(world: World) -> None:
    world.now = NOW.replace(year=2026)
    world.process("incoming/acme/good.csv", as_csv(records(3)), event_time="2026-12-01T09:00:00.000Z")
    world.process("incoming/acme/mixed.csv", as_csv([record(1), record(2, status="LOST")]),
                  event_time="2026-12-01T10:00:00.000Z")  # fmt: skip
    world.process("incoming/globex/empty.csv", b"", event_time="2026-12-01T11:00:00.000Z")


def test_files_lists_newest_first_and_filters_by_shipper_and_outcome(world: World, env: Environment, capsys) -> None:
    processed(world)
    window = ["--since", "2026-11-30T00:00:00Z", "--until", "2026-12-02T00:00:00Z", "--json"]

    _, every = run(capsys, "files", *window)
    _, acme = run(capsys, "files", "--shipper", "acme", *window)
    _, failed = run(capsys, "files", "--outcome", "FAILED", *window)
    _, partial = run(capsys, "files", "--outcome", "PARTIAL", "--shipper", "acme", *window)

    assert [f["filename"] for f in json.loads(every)] == [
        "incoming/globex/empty.csv", "incoming/acme/mixed.csv", "incoming/acme/good.csv"]  # fmt: skip
    assert [f["filename"] for f in json.loads(acme)] == ["incoming/acme/mixed.csv", "incoming/acme/good.csv"]
    assert [f["filename"] for f in json.loads(failed)] == ["incoming/globex/empty.csv"]
    assert [f["filename"] for f in json.loads(partial)] == ["incoming/acme/mixed.csv"]


def test_files_queries_indexes_and_never_scans(world: World, env: Environment, capsys) -> None:
    processed(world)
    calls: list[str] = []
    real = env.client("dynamodb")
    real.meta.events.register("before-call.dynamodb.*", lambda model, **_: calls.append(model.name))

    run(capsys, "files", "--since", "2026-11-29T00:00:00Z", "--until", "2026-12-02T00:00:00Z")

    assert calls and set(calls) == {"Query"}


def test_file_shows_counts_samples_and_the_rejects_report(world: World, env: Environment, capsys) -> None:
    processed(world)

    code, text = run(capsys, "file", "incoming/acme/mixed.csv")
    _, data = run(capsys, "file", "incoming/acme/mixed.csv", "--json")

    assert code == 0
    assert "PARTIAL" in text and "2 total, 1 accepted, 1 rejected" in text
    assert "line 3: status 'LOST'" in text
    report = json.loads(data)["rejects"]
    assert report["address"].startswith(f"s3://{BUCKET}/rejected/incoming/acme/mixed.csv.")
    assert report["first"][0]["line"] == 3


def test_file_of_a_given_version_and_of_an_unknown_key(world: World, env: Environment, capsys) -> None:
    first = world.process("incoming/acme/v.csv", as_csv(records(1)))
    world.process("incoming/acme/v.csv", as_csv(records(2)), event_time="2026-03-01T12:30:00.000Z")

    _, older = run(capsys, "file", "incoming/acme/v.csv", "--version", first.item["version_id"], "--json")
    _, newest = run(capsys, "file", "incoming/acme/v.csv", "--json")
    code, _ = run(capsys, "file", "incoming/acme/nothing.csv")

    assert json.loads(older)["item"]["records_total"] == 1
    assert json.loads(newest)["item"]["records_total"] == 2 and json.loads(newest)["versions"] == 2
    assert code == 1


def test_shipment_shows_its_history_newest_first(world: World, env: Environment, capsys) -> None:
    updates = [
        record(1, status="CREATED", timestamp="2026-03-01T08:00:00Z"),
        record(1, status="DELIVERED", timestamp="2026-03-01T09:00:00Z"),
    ]
    world.process("incoming/acme/a.csv", as_csv(updates))

    _, data = run(capsys, "shipment", "SHP-000001", "--json")

    assert [e["status"] for e in json.loads(data)] == ["DELIVERED", "CREATED"]


def test_reprocess_records_a_second_attempt(world: World, env: Environment, capsys) -> None:
    world.process("incoming/acme/r.csv", as_csv(records(2)))

    code, text = run(capsys, "reprocess", "incoming/acme/r.csv")

    assert code == 0 and "SUCCESS (attempt 2)" in text
    _, data = run(capsys, "file", "incoming/acme/r.csv", "--json")
    item = json.loads(data)["item"]
    assert item["attempt"] == 2 and item["previous_attempts"][0]["attempt"] == 1


def test_every_option_has_help_text() -> None:
    parsers = [cli.parser()]
    actions = []
    while parsers:  # every command and sub-command (profile check)
        parser = parsers.pop()
        actions += parser._actions
        if parser._subparsers is not None:
            parsers += parser._subparsers._group_actions[0].choices.values()  # type: ignore[union-attr]
    assert all(action.help for action in actions if action.dest not in ("command",)), [
        a.dest for a in actions if not a.help]  # fmt: skip


def test_saying_no_environment_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["files"]) == 2
    assert "--local, --outputs FILE" in capsys.readouterr().err


def test_replay_redrives_the_failure_queue_and_deletes_only_what_succeeded(
    world: World, env: Environment, capsys
) -> None:
    import boto3  # noqa: PLC0415

    sqs = boto3.client("sqs", region_name="eu-west-1")
    meta = world.put("incoming/acme/dead.csv", as_csv(records(4)))
    sqs.send_message(
        QueueUrl=env.failure_queue_url, MessageBody=failure_record(world.event(("incoming/acme/dead.csv", meta)))
    )
    broken = {"Records": [{"eventSource": "aws:s3"}]}  # unusable: the function fails it again
    sqs.send_message(QueueUrl=env.failure_queue_url, MessageBody=failure_record(broken))

    code, looked = run(capsys, "replay", "--dry-run", "--json")
    assert code == 0 and sorted(r["outcome"] for r in json.loads(looked)) == ["would replay", "would replay"]
    assert world.metadata("incoming/acme/dead.csv") == [], "a dry run changes nothing"

    code, replayed = run(capsys, "replay", "--json")

    assert code == 1, "one message could not be replayed"
    printed = replayed[replayed.index("\n[") + 1 :]  # after the log lines the in-process handler printed
    assert sorted(r["outcome"] for r in json.loads(printed)) == ["failed", "replayed"]
    assert world.observe("incoming/acme/dead.csv").item["records_total"] == 4
    left = sqs.receive_message(QueueUrl=env.failure_queue_url, MaxNumberOfMessages=10).get("Messages", [])
    assert [json.loads(m["Body"])["requestPayload"] for m in left] == [broken]


def test_alarms_show_state_and_the_value_cloudwatch_evaluated(world: World, env: Environment, capsys) -> None:
    import boto3  # noqa: PLC0415

    cloudwatch = boto3.client("cloudwatch", region_name="eu-west-1")
    cloudwatch.put_metric_alarm(AlarmName="shipment-file-failure-rate-dev", ComparisonOperator="GreaterThanThreshold",
                                EvaluationPeriods=1, Threshold=5, MetricName="ProcessingFailure",
                                Namespace="ShipmentProcessing/dev", Period=300, Statistic="Sum")  # fmt: skip
    cloudwatch.set_alarm_state(AlarmName="shipment-file-failure-rate-dev", StateValue="ALARM",
                               StateReason="Threshold Crossed", StateReasonData=json.dumps(
                                   {"version": "1.0", "recentDatapoints": [14.29], "threshold": 5.0}))  # fmt: skip

    code, text = run(capsys, "alarms")

    assert code == 1, "an alarm in ALARM is a non-zero exit for scripts"
    assert "shipment-file-failure-rate-dev  ALARM  14.29" in text


def _stuck(world: World, key: str) -> None:
    """A version whose chain stopped: PROCESSING with a checkpoint, its claim past its deadline."""
    from datetime import timedelta  # noqa: PLC0415

    from tests.unit.support import ShortContext  # noqa: PLC0415

    world.invoke(world.event((key, world.put(key, as_csv(records(300))))), context=ShortContext("req-1", looks=3))
    world.lambda_.queued.clear()  # the continuation is lost
    world.now += timedelta(hours=1)


def test_reprocess_carries_a_stuck_version_on_from_its_checkpoint(world: World, env: Environment, capsys) -> None:
    _stuck(world, "incoming/acme/stuck.csv")

    code, text = run(capsys, "reprocess", "incoming/acme/stuck.csv")

    assert code == 0 and "SUCCESS (attempt 1)" in text
    _, data = run(capsys, "file", "incoming/acme/stuck.csv", "--json")
    item = json.loads(data)["item"]
    assert item["records_total"] == 300 and item["last_interruption"].startswith("an operator resumed it")


def test_reprocess_restart_starts_a_stuck_version_again_and_records_why(world: World, env: Environment, capsys) -> None:
    _stuck(world, "incoming/acme/stuck.csv")

    code, text = run(capsys, "reprocess", "incoming/acme/stuck.csv", "--restart")

    assert code == 0 and "SUCCESS (attempt 2)" in text
    _, data = run(capsys, "file", "incoming/acme/stuck.csv", "--json")
    (earlier,) = json.loads(data)["item"]["previous_attempts"]
    assert earlier["processing_status"] == "PROCESSING" and "restarted" in earlier["ended"]


def test_file_shows_the_shipper_profile_version_that_read_the_file(
    world: World, env: Environment, capsys: pytest.CaptureFixture[str]
) -> None:
    profile = {"columns": {"shipment_id": "id"}}
    world.s3.put_object(
        Bucket=BUCKET, Key="config/p.json", Body=json.dumps({"format": 1, "profiles": {"acme": profile}})
    )
    world.env.update({"PROFILES_BUCKET": BUCKET, "PROFILES_KEY": "config/p.json"})
    world.process("incoming/acme/day.csv", b"id,status,timestamp\nS-1,CREATED,2026-02-01T10:00:00Z\n")

    code, text = run(capsys, "file", "incoming/acme/day.csv")

    assert code == 0
    assert f"  profile      acme {profile_version(profile)}" in text
