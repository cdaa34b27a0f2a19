"""Fixtures for the local AWS on its own: tiny fake functions on resources made with boto3 (no Terraform).

The probe is a versioned bucket notifying a fake function (1 retry, SQS on failure) for incoming/*.csv, on the
session's local AWS. Objects are uploaded with plain boto3 calls; the server delivers their events and its Lambda
service runs the function; tests read what happened from the journal and the AWS APIs.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.integration import fake_functions
from tools.emulator import local_aws, local_deploy
from tools.emulator.aws import clients
from tools.emulator.aws.lambda_ import journal

FUNCTION = "runtime-probe"
BUCKET = "runtime-probe-bucket"
QUEUE = "runtime-probe-failures"
NAMESPACE = "ShipmentProcessing/probe"


@dataclass
class Probe:
    endpoint: str
    state_dir: Path
    packages: dict[str, Path]
    queue_url: str
    function_arn: str

    @property
    def journal(self) -> journal.Journal:
        return journal.Journal(self.state_dir)

    def client(self, service: str) -> Any:
        return clients.aws_client(service, self.endpoint)

    def deploy(self, behaviour: str, **configuration: Any) -> None:
        functions = self.client("lambda")
        functions.update_function_code(FunctionName=FUNCTION, ZipFile=self.packages[behaviour].read_bytes())
        if configuration:
            functions.update_function_configuration(FunctionName=FUNCTION, **configuration)

    def put(self, key: str, body: bytes = b"a,b\n1,2\n") -> tuple[str | None, list[journal.Record]]:
        """PutObject, then wait for every invocation the new version caused; (version id, records)."""
        version = self.client("s3").put_object(Bucket=BUCKET, Key=key, Body=body).get("VersionId")
        return version, self.journal.wait_for_object(BUCKET, key, version, timeout_s=60)

    def drain_queue(self) -> list[dict[str, Any]]:
        sqs = self.client("sqs")
        import json  # noqa: PLC0415

        bodies = []
        while batch := sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10).get("Messages", []):
            for message in batch:
                bodies.append(json.loads(message["Body"]))
                sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
        return bodies

    def wait_chain(self, root: str, count: int, timeout_s: float = 60) -> list[journal.Record]:
        """Wait until a chain has at least `count` records and all of them are finished."""
        deadline = time.monotonic() + timeout_s
        while True:
            chain = self.journal.chain(root)
            if len(chain) >= count and all(r.finished for r in chain):
                return chain
            if time.monotonic() > deadline:
                raise TimeoutError(f"chain {root}: {[(r.request_id, r.status) for r in chain]}")
            time.sleep(0.05)


@pytest.fixture(scope="module")
def probe(local_aws_server: tuple[local_aws.Server, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Probe]:
    server, state_dir = local_aws_server
    endpoint = server.endpoint
    scratch = tmp_path_factory.mktemp("probe")
    packages = {name: fake_functions.build(scratch, name) for name in fake_functions.BEHAVIOURS}
    client = lambda service: clients.aws_client(service, endpoint)  # noqa: E731
    role = client("iam").create_role(RoleName="runtime-probe-role", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    sqs = client("sqs")
    queue_url = sqs.create_queue(QueueName=QUEUE)["QueueUrl"]
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
    yield Probe(endpoint, state_dir, packages, queue_url, function["FunctionArn"])
    # The server is the session's: remove what this module made, for the tests that list what exists.
    journal.Journal(state_dir).wait_idle(timeout_s=60)
    local_deploy.empty_bucket(endpoint, BUCKET)
    s3.delete_bucket(Bucket=BUCKET)
    client("lambda").delete_function(FunctionName=FUNCTION)
    client("logs").delete_log_group(logGroupName=f"/aws/lambda/{FUNCTION}")
    sqs.delete_queue(QueueUrl=queue_url)
    client("iam").delete_role(RoleName="runtime-probe-role")
