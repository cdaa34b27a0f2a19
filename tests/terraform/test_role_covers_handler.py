"""The role the lambda module plans allows every AWS call the real handler makes, and every grant is used.

The handler runs under moto (mock_aws) through scenarios that together take every call path: a PARTIAL file
with a rejects report, a report large enough to go up in parts, a crash that aborts that upload, a FAILED file,
a redelivery. Every botocore call is recorded and mapped to the IAM action and resource AWS authorises it
against; each must be allowed by a statement of the planned role policy. The reverse check keeps the role
minimal: each action granted is one the handler really uses, or one Lambda itself uses on the function's behalf.
A grant made ahead of the handler's call fails that check until the handler makes it.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Iterator
from typing import Any

import botocore.client
import pytest

from tests.unit.support import (
    ACCOUNT,
    BUCKET,
    EVENTS_TABLE,
    METADATA_TABLE,
    REGION,
    AtTheFinalWrite,
    FaultyDynamoDB,
    ShortContext,
    World,
    as_csv,
    as_ndjson,
    fake_aws_env,
    mocked_world,
    record,
)

from .planning import Plan

pytestmark = pytest.mark.terraform

TABLE_ARN = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/"
INPUTS = {
    "environment": "dev",
    "account_id": ACCOUNT,
    "region": REGION,
    "bucket_id": BUCKET,
    "bucket_arn": f"arn:aws:s3:::{BUCKET}",
    "metadata_table_name": METADATA_TABLE,
    "metadata_table_arn": TABLE_ARN + METADATA_TABLE,
    "events_table_name": EVENTS_TABLE,
    "events_table_arn": TABLE_ARN + EVENTS_TABLE,
    "package_path": "build/shipment_processor.zip",
}
# S3 operations and the action IAM checks for each (multipart steps are authorised as s3:PutObject).
S3_ACTIONS = {
    "PutObject": "s3:PutObject",
    "CreateMultipartUpload": "s3:PutObject",
    "UploadPart": "s3:PutObject",
    "CompleteMultipartUpload": "s3:PutObject",
    "AbortMultipartUpload": "s3:AbortMultipartUpload",
    "HeadObject": "s3:GetObject",
    "DeleteObject": "s3:DeleteObject",
}
# Used by the Lambda service with the function's role, not by the handler's code: writing its logs, delivering a
# failed event to the on-failure queue.
USED_BY_LAMBDA_ITSELF = {"logs:CreateLogStream", "logs:PutLogEvents", "sqs:SendMessage"}
# No API call of its own: S3 checks it on a GetObject/HeadObject of a missing key or version to answer 404 (the
# handler's "object no longer exists" path) instead of 403.
IMPLICIT = {"s3:ListBucket"}


@pytest.fixture(scope="module")
def role_policy(workdir) -> list[dict[str, Any]]:
    plan: Plan = workdir("modules/lambda").plan(**INPUTS)
    return plan.policy("aws_iam_role_policy.this")["Statement"]


def _authorisation(service: str, operation: str, params: dict[str, Any]) -> list[tuple[str, str]]:
    """(IAM action, resource ARN) pairs AWS checks for one API call."""
    if service == "s3":
        if operation == "GetObject":
            action = "s3:GetObjectVersion" if params.get("VersionId") else "s3:GetObject"
        else:
            action = S3_ACTIONS[operation]
        return [(action, f"arn:aws:s3:::{params['Bucket']}/{params['Key']}")]
    if service == "dynamodb":
        tables = list(params["RequestItems"]) if operation == "BatchWriteItem" else [params["TableName"]]
        index = f"/index/{params['IndexName']}" if params.get("IndexName") else ""
        return [(f"dynamodb:{operation}", TABLE_ARN + table + index) for table in tables]
    if service == "lambda" and operation == "Invoke":
        name = params["FunctionName"]
        arn = name if name.startswith("arn:") else f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"
        return [("lambda:InvokeFunction", arn)]
    if service == "events" and operation == "PutEvents":
        return [("events:PutEvents", f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/default")]
    raise AssertionError(f"the handler called {service}:{operation}, which this test does not know how to map")


@pytest.fixture
def handler_calls(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Iterator[list[tuple[str, str]]]:
    """Run the handler's scenarios under mock_aws and return every (action, resource) it needed."""
    fake_aws_env(monkeypatch)
    calls: list[tuple[str, str]] = []
    queued: list[dict[str, Any]] = []
    recording = [False]
    real_call = botocore.client.BaseClient._make_api_call

    def record_call(client: Any, operation: str, params: dict[str, Any]) -> Any:
        service = client.meta.service_model.service_name
        if recording[0]:
            calls.extend(_authorisation(service, operation, params))
        if service == "lambda" and operation == "Invoke":  # moto would run it in Docker: queue it here instead
            queued.append(json.loads(params["Payload"]))
            return {"StatusCode": 202}
        return real_call(client, operation, params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", record_call)
    with mocked_world(capsys) as world:
        _run_every_call_path(world, recording, queued)
    yield calls


def _run_every_call_path(world: World, recording: list[bool], queued: list[dict[str, Any]]) -> None:
    """Upload as a shipper (not recorded), then invoke the handler (recorded) for each call path, with the real
    (mocked) Lambda and EventBridge clients."""

    def deliver(event: dict[str, Any], runtime: Any = None, context: Any = None) -> None:
        recording[0] = True
        try:
            world.invoke(event, runtime or world.runtime(fakes=False), context)
        finally:
            recording[0] = False

    def invoke(key: str, data: bytes, runtime: Any = None) -> dict[str, Any]:
        event = world.event((key, world.put(key, data)))
        deliver(event, runtime)
        return event

    partial = invoke("incoming/acme/day 1.csv", as_csv([record(1), record(2, status="LOST")]))  # PARTIAL + report
    deliver(partial)  # redelivery: the finished version is looked up, not reprocessed
    unversioned = world.put("incoming/acme/no-version.csv", as_csv([record(3)]))
    unversioned.pop("versionId")  # an event without versionId (versioning suspended) reads the plain key
    deliver(world.event(("incoming/acme/no-version.csv", unversioned)))
    invoke("incoming/acme/empty.csv", b"")  # FAILED file
    big = as_ndjson([record(n, status="LOST", notes="n" * 1000) for n in range(6_000)] + [record(99_999)])
    invoke("incoming/acme/big.jsonl", big, world.runtime(report_part_bytes=5 * 1024 * 1024))  # multipart report
    crashing = FaultyDynamoDB(world.dynamodb, fail_after=0, error=RuntimeError("injected crash"))
    with pytest.raises(Exception, match="injected crash"):  # a crash aborts the half-written report
        invoke("incoming/acme/crash.jsonl", big,
               world.runtime(dynamodb=crashing, report_part_bytes=5 * 1024 * 1024, fakes=False))  # fmt: skip
    # A file processed across invocations: checkpoint, continuation (Invoke), report remainder carried in
    # rejected/.partial/ (put, read back, deleted).
    rows = [record(n, status="LOST") if n % 5 == 0 else record(n) for n in range(400)]
    long_key = "incoming/acme/long.csv"
    # Invoked through an alias (the context's ARN is qualified): the continuation still goes to an ARN the role
    # allows.
    under_alias = ShortContext("req-1", looks=3)
    under_alias.invoked_function_arn += ":live"
    deliver(world.event((long_key, world.put(long_key, as_csv(rows)))), context=under_alias)
    while queued:
        deliver(queued.pop(0), context=ShortContext("req-c", looks=3))
    # A final write that fails after the report was closed: Lambda's retry takes the claim over and looks at the
    # report (HeadObject) before writing it again.
    retried = "incoming/acme/retried.csv"
    event = world.event((retried, world.put(retried, as_csv(rows))))
    with pytest.raises(Exception, match="final write refused"):
        deliver(event, world.runtime(dynamodb=FailsFinalWrite(world.dynamodb), fakes=False))
    deliver(event)
    # An operator's reprocess of a finished version (found through its version record).
    deliver({"reprocess": {"bucket": BUCKET, "key": long_key, "version_id": world.metadata(long_key)[0]["version_id"]}})


class FailsFinalWrite(AtTheFinalWrite):
    """DynamoDB refusing the write of a file's final item (every other call passes through)."""

    def final_write(self, request: dict[str, Any]) -> None:
        raise RuntimeError("final write refused")


def _allowed(policy: list[dict[str, Any]], action: str, resource: str) -> bool:
    def as_list(value: str | list[str]) -> list[str]:
        return [value] if isinstance(value, str) else value

    return any(
        statement["Effect"] == "Allow"
        and action in as_list(statement["Action"])
        and any(fnmatch.fnmatchcase(resource, pattern) for pattern in as_list(statement["Resource"]))
        for statement in policy
    )


def test_every_call_the_handler_makes_is_allowed_by_the_planned_role(
    role_policy: list[dict[str, Any]], handler_calls: list[tuple[str, str]]
) -> None:
    assert handler_calls, "the scenarios made no AWS calls"
    denied = sorted({call for call in handler_calls if not _allowed(role_policy, *call)})

    assert denied == []


def _grants(policy: list[dict[str, Any]]) -> set[str]:
    """Granted actions; a grant on a table's indexes is told apart as "<action>@index"."""

    def as_list(value: str | list[str]) -> list[str]:
        return [value] if isinstance(value, str) else value

    return {
        f"{action}@index" if all("/index/" in r for r in as_list(statement["Resource"])) else action
        for statement in role_policy_statements(policy)
        for action in as_list(statement["Action"])
        if not action.startswith("kms:")  # only with kms_key_arn; S3, DynamoDB and Lambda use the key for the role
    }


def role_policy_statements(policy: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [statement for statement in policy if statement["Effect"] == "Allow"]


def _used(handler_calls: list[tuple[str, str]]) -> set[str]:
    return {f"{action}@index" if "/index/" in resource else action for action, resource in handler_calls}


def test_every_action_the_role_grants_is_used_by_the_handler_or_by_lambda(
    role_policy: list[dict[str, Any]], handler_calls: list[tuple[str, str]]
) -> None:
    unexplained = _grants(role_policy) - _used(handler_calls) - USED_BY_LAMBDA_ITSELF - IMPLICIT

    assert unexplained == set()
