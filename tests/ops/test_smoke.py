"""`shipment-ops smoke` when the deployment is broken: what fails is named, the rest is skipped, and nothing the
run wrote is left behind. (A healthy deployment passes every check: tests/integration, on the local AWS.)"""

from __future__ import annotations

import contextlib
import io
import json
import platform
from typing import Any

import pytest
from shipment_processor import handler

from tests.unit.support import BUCKET, FUNCTION_ARN, World
from tools.ops import cli, smoke
from tools.ops.environment import Environment


class Function:
    """Lambda's GetFunctionConfiguration and a synchronous Invoke of the deployed function, run in this process
    (moto would need Docker to deploy one)."""

    def __init__(self, world: World, name: str) -> None:
        self.world, self.name = world, name

    def get_function_configuration(self, *, FunctionName: str) -> dict[str, Any]:
        assert FunctionName == self.name
        variables = {"INCOMING_PREFIX": "incoming/", "ENVIRONMENT": "dev"}
        return {"FunctionArn": FUNCTION_ARN, "Environment": {"Variables": variables}}

    def invoke(self, *, FunctionName: str, Payload: bytes, **_: Any) -> dict[str, Any]:
        assert FunctionName == self.name
        with contextlib.redirect_stdout(io.StringIO()):  # the function's log lines go to its log group
            answer = json.dumps(self.world.invoke(json.loads(Payload))).encode()
        return {"StatusCode": 200, "Payload": io.BytesIO(answer)}


@pytest.fixture
def lambda_client(world: World, outputs: dict[str, Any]) -> Function:
    return Function(world, outputs["function_name"])


def notify(world: World, suffix: str) -> None:
    world.s3.put_bucket_notification_configuration(
        Bucket=BUCKET,
        NotificationConfiguration={
            "LambdaFunctionConfigurations": [
                {
                    "LambdaFunctionArn": FUNCTION_ARN,
                    "Events": ["s3:ObjectCreated:*"],
                    "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "incoming/"},
                                                       {"Name": "suffix", "Value": suffix}]}},
                }
            ]
        },
    )  # fmt: skip


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[dict[str, Any]]]:
    code = cli.main(["--env", "dev", "smoke", *args, "--json"])
    return code, json.loads(capsys.readouterr().out)


def test_a_notification_that_misses_every_smoke_file_fails_first_and_uploads_nothing(
    world: World, env: Environment, capsys: pytest.CaptureFixture[str]
) -> None:
    notify(world, ".xml")

    code, checks = run_cli(capsys)

    assert code == 1
    assert [(c["name"], c["result"]) for c in checks] == [
        ("runtime", "PASS"),
        ("notification", "FAIL"),
        *[(name, "SKIP") for name in ("upload", "processed", "outcome", "events", "rejects report",
                                      "metrics document", "alarm inputs")],
        ("cleanup", "PASS"),
    ]  # fmt: skip
    assert "no S3 notification of" in checks[1]["detail"] and "incoming/_smoke/smoke-*" in checks[1]["detail"]
    assert world.s3.list_object_versions(Bucket=BUCKET).get("Versions") is None


def test_the_file_is_named_for_a_suffix_the_notification_sends(world: World, env: Environment) -> None:
    notify(world, ".json.gz")
    checks: list[smoke.Check] = []
    run = smoke.Smoke(env, timeout_s=0, say=checks.append, sleep=lambda _: None)

    run.run()

    assert run.file is not None and run.file.key.endswith(".json.gz") and run.file.body[:2] == b"\x1f\x8b"
    assert run.file.rejected_ref == ("index", 2), "a JSON array's rejects are named by index"


def test_a_file_the_function_never_processes_fails_the_processed_check_and_is_deleted(
    world: World, env: Environment, capsys: pytest.CaptureFixture[str]
) -> None:
    notify(world, ".csv")

    code, checks = run_cli(capsys, "--timeout", "0")

    assert code == 1
    results = {c["name"]: c["result"] for c in checks}
    assert (results["upload"], results["processed"], results["outcome"], results["cleanup"]) == (
        "PASS", "FAIL", "SKIP", "PASS")  # fmt: skip
    processed = next(c for c in checks if c["name"] == "processed")
    assert "no metadata item: the function never claimed it" in processed["detail"]
    assert "removed 1 object version(s)" in checks[-1]["detail"]
    listed = world.s3.list_object_versions(Bucket=BUCKET, Prefix="incoming/_smoke/")
    assert listed.get("Versions", []) + listed.get("DeleteMarkers", []) == []


@pytest.mark.parametrize(
    ("facts", "found"),
    [
        ({"gzip_seek_points": None}, "no zlib with inflatePrime loads, so every continuation of a gzip"),
        ({"time_zones": "none"}, "no tz database, so profiles that name a time zone cannot load"),
    ],
)
def test_a_runtime_without_what_the_code_relies_on_fails_its_check_and_the_others_still_run(
    world: World, env: Environment, monkeypatch: pytest.MonkeyPatch, facts: dict[str, Any], found: str
) -> None:
    notify(world, ".csv")
    monkeypatch.setattr(handler, "runtime_facts", lambda real=handler.runtime_facts: {**real(), **facts})
    checks: list[smoke.Check] = []

    smoke.Smoke(env, timeout_s=0, say=checks.append, sleep=lambda _: None).run()

    assert (checks[0].name, checks[0].passed) == ("runtime", False)
    assert found in checks[0].detail and f"python {platform.python_version()}" in checks[0].detail
    assert (checks[1].name, checks[1].passed) == ("notification", True), "the other checks do not need it"


def test_a_function_that_cannot_answer_a_probe_fails_the_runtime_check(world: World, env: Environment) -> None:
    failed = {"StatusCode": 200, "FunctionError": "Unhandled", "Payload": io.BytesIO(b'{"errorMessage": "old code"}')}
    env._clients["lambda"].invoke = lambda **_: failed  # type: ignore[attr-defined]
    checks: list[smoke.Check] = []

    smoke.Smoke(env, timeout_s=0, say=checks.append, sleep=lambda _: None).run()

    assert (checks[0].name, checks[0].passed) == ("runtime", False)
    assert "the function did not answer a probe" in checks[0].detail and "old code" in checks[0].detail


def test_a_function_from_before_probes_is_told_apart_and_nothing_fails_on_it(world: World, env: Environment) -> None:
    """Code from before probes ignores the probe as an S3 test event: no failed invocation, no Errors alarm."""
    from shipment_processor.handler import s3_objects  # noqa: PLC0415

    assert s3_objects(smoke.PROBE, world.runtime().settings) == ([], []), "old code's path for a test event"
    env._clients["lambda"].invoke = lambda **_: {"StatusCode": 200, "Payload": io.BytesIO(b'{"files": []}')}  # type: ignore[attr-defined]
    checks: list[smoke.Check] = []

    smoke.Smoke(env, timeout_s=0, say=checks.append, sleep=lambda _: None).run()

    assert (checks[0].name, checks[0].passed) == ("runtime", False)
    assert "predates the probe" in checks[0].detail and "make apply" in checks[0].detail
