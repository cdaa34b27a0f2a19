"""``--env NAME``: the deployment is found in the account, whatever its name_prefix, and only its own resources."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator

import pytest
from moto import mock_aws

from tests.unit.support import REGION, SESSION, fake_aws_env
from tools.ops.environment import ALARM_KINDS, Environment

# Three deployments whose names overlap: hyphens are allowed in both environment names and prefixes.
DEPLOYMENTS = (("shipment", "prod"), ("shipment", "eu-prod"), ("shipment-eu", "prod"))


@pytest.fixture
def account(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The functions, failure queues and alarms the root module would create for each of DEPLOYMENTS."""
    fake_aws_env(monkeypatch)
    with mock_aws():
        trust = {"Version": "2012-10-17", "Statement": []}
        iam = SESSION.client("iam", region_name=REGION)
        role = iam.create_role(RoleName="processor", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
        package = io.BytesIO()
        with zipfile.ZipFile(package, "w") as archive:
            archive.writestr("handler.py", "def handle(event, context):\n    return None\n")
        functions = SESSION.client("lambda", region_name=REGION)
        queues = SESSION.client("sqs", region_name=REGION)
        alarms = SESSION.client("cloudwatch", region_name=REGION)
        for prefix, environment in DEPLOYMENTS:
            variables = {
                "ENVIRONMENT": environment,
                "METADATA_TABLE": f"{prefix}-metadata-{environment}",
                "EVENTS_TABLE": f"{prefix}-events-{environment}",
            }
            functions.create_function(
                FunctionName=f"{prefix}-processor-{environment}",
                Runtime="python3.12",
                Role=role,
                Handler="handler.handle",
                Code={"ZipFile": package.getvalue()},
                Environment={"Variables": variables},
            )
            queues.create_queue(QueueName=f"{prefix}-processor-failures-{environment}")
            for kind in ALARM_KINDS:
                alarms.put_metric_alarm(
                    AlarmName=f"{prefix}-{kind}-{environment}",
                    MetricName="Errors",
                    Namespace="AWS/Lambda",
                    Statistic="Sum",
                    Period=60,
                    EvaluationPeriods=1,
                    Threshold=1,
                    ComparisonOperator="GreaterThanThreshold",
                )
        yield


def test_an_environment_gets_only_its_own_alarms_and_tables(account: None) -> None:
    found = Environment.by_convention("prod", region=REGION, name_prefix="shipment")

    assert found.function_name == "shipment-processor-prod"
    assert found.alarm_names == tuple(sorted(f"shipment-{kind}-prod" for kind in ALARM_KINDS))
    assert (found.metadata_table, found.events_table) == ("shipment-metadata-prod", "shipment-events-prod")
    assert found.failure_queue_url and found.failure_queue_url.endswith("/shipment-processor-failures-prod")


def test_a_prefix_is_found_when_one_deployment_serves_the_environment(account: None) -> None:
    found = Environment.by_convention("eu-prod", region=REGION)

    assert found.function_name == "shipment-processor-eu-prod"
    assert found.alarm_names == tuple(sorted(f"shipment-{kind}-eu-prod" for kind in ALARM_KINDS))


def test_two_deployments_of_one_environment_ask_for_the_prefix(account: None) -> None:
    with pytest.raises(ValueError, match=r"several name prefixes \(shipment, shipment-eu\).*--name-prefix"):
        Environment.by_convention("prod", region=REGION)
