"""The runnable examples under examples/ plan against the local AWS, calling the modules by relative source.

Each example is copied with modules/ beside it (so `../../modules/...` resolves as in the repository), gets a
provider override aimed at the session's moto server and a stand-in package at ../../build/, and is planned.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import tftest

from tools.terraform import tfwork

from .planning import ACCOUNT_ID, REGION, Plan, Workdir, write_dummy_package

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted(p.name for p in (ROOT / "examples").iterdir() if (p / "main.tf").is_file())

pytestmark = pytest.mark.terraform


@pytest.fixture(scope="module", params=EXAMPLES)
def example(request: pytest.FixtureRequest, moto_endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> Plan:
    repo = tmp_path_factory.mktemp("example")
    shutil.copytree(ROOT / "modules", repo / "modules", ignore=shutil.ignore_patterns(".terraform*", "tests"))
    work = tfwork.prepare_workdir(ROOT / "examples" / request.param, repo / "examples" / request.param, moto_endpoint)
    write_dummy_package(repo / "build" / "shipment_processor.zip")
    tf = tftest.TerraformTest(str(work))
    tf.setup(input=False, color=False)
    return Workdir(tf).plan(environment="ex1")


def test_there_are_a_minimal_and_a_complete_example() -> None:
    assert EXAMPLES == ["complete", "minimal"]


def test_each_example_plans_the_whole_pipeline(example: Plan) -> None:
    types = {address.split(".")[-2] for address in example.resources}

    assert {
        "aws_s3_bucket",
        "aws_dynamodb_table",
        "aws_lambda_function",
        "aws_s3_bucket_notification",
        "aws_cloudwatch_metric_alarm",
        "aws_lambda_function_recursion_config",
    } <= types
    assert example.one("aws_lambda_function")["environment"][0]["variables"]["ENVIRONMENT"] == "ex1"


def test_the_complete_example_encrypts_with_its_key_and_wires_shippers_and_email(
    example: Plan, request: pytest.FixtureRequest
) -> None:
    if request.node.callspec.params["example"] == "minimal":
        assert "aws_kms_key.this" not in example.resources, "the minimal example uses S3-managed encryption"
        return
    assert "aws_kms_key.this" in example.resources
    assert example.one("aws_s3_bucket")["bucket"] == f"parcels-files-{ACCOUNT_ID}-{REGION}-ex1"
    assert len(example.of_type("aws_kms_grant")) == 2  # one per shipper principal
    assert [s["endpoint"] for s in example.of_type("aws_sns_topic_subscription").values()] == ["oncall@example.com"]
    assert example.unknown["module.lambda.aws_lambda_function.this"]["kms_key_arn"] is True  # the new key's ARN
    # A new account's concurrency quota is often too small to reserve any: unreserved unless asked for.
    assert example.one("aws_lambda_function")["reserved_concurrent_executions"] == -1
