"""Module-level applies with pytest-terraform: the dynamodb and monitoring modules, each on its own.

pytest-terraform's `terraform` fixture runs init/apply in a scratch copy of modules/ (tests/conftest.py points
its module dir there and gives each copy a provider aimed at this session's moto server). The tests then look at
what moto holds through boto3, as an operator would.

There is no destroy on teardown (TEARDOWN_OFF): test_apply destroys the whole root, these modules included, and
checks that nothing of it is left; destroying each module here again cost 34 CPU-seconds of the suite's 2 cores
(measured: 2 destroys, 25 s). The resources carry the environment `modtest`, which no other test's names contain,
and the session's moto server is discarded at the end.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pytest_terraform import terraform

from tools.emulator.aws import clients
from tools.terraform import tfwork

ENVIRONMENT = "modtest"
ACCOUNT_ID = "123456789012"

pytestmark = [pytest.mark.terraform, pytest.mark.slow]

MODULE_INPUTS = {
    "dynamodb": {"environment": ENVIRONMENT, "account_id": ACCOUNT_ID, "region": tfwork.LOCAL_REGION},
    "monitoring": {
        "environment": ENVIRONMENT,
        "account_id": ACCOUNT_ID,
        "region": tfwork.LOCAL_REGION,
        "metrics_namespace": f"ShipmentProcessing/{ENVIRONMENT}",
        "function_name": f"shipment-processor-{ENVIRONMENT}",
        "log_group_name": f"/aws/lambda/shipment-processor-{ENVIRONMENT}",
        "failure_queue_name": f"shipment-processor-failures-{ENVIRONMENT}",
        "alarm_email_addresses": ["oncall@example.com"],
    },
}


@pytest.fixture(scope="module", autouse=True)
def module_inputs(scratch_modules: Path) -> None:
    """pytest-terraform applies without -var flags: give each scratch module its inputs as auto-loaded tfvars."""
    for module, inputs in MODULE_INPUTS.items():
        (scratch_modules / module / "terraform.tfvars.json").write_text(json.dumps(inputs))


@terraform("dynamodb", scope="function", teardown=terraform.TEARDOWN_OFF)
def test_dynamodb_module_creates_both_tables_with_keys_billing_encryption_and_recovery(
    dynamodb, moto_endpoint: str
) -> None:
    client = clients.aws_client("dynamodb", moto_endpoint)
    metadata = dynamodb.outputs["metadata_table_name"]["value"]
    events = dynamodb.outputs["events_table_name"]["value"]
    assert (metadata, events) == (f"shipment-metadata-{ENVIRONMENT}", f"shipment-events-{ENVIRONMENT}")

    keys = {
        metadata: [("filename", "HASH"), ("upload_timestamp", "RANGE")],
        events: [("shipment_id", "HASH"), ("event_key", "RANGE")],
    }
    for name, expected in keys.items():
        table = client.describe_table(TableName=name)["Table"]
        assert [(k["AttributeName"], k["KeyType"]) for k in table["KeySchema"]] == expected
        assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
        assert table["SSEDescription"]["Status"] == "ENABLED"
        assert (
            table["TableArn"]
            == dynamodb.outputs["metadata_table_arn" if name == metadata else "events_table_arn"]["value"]
        )
        recovery = client.describe_continuous_backups(TableName=name)["ContinuousBackupsDescription"]
        assert recovery["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "ENABLED"


@terraform("monitoring", scope="function", teardown=terraform.TEARDOWN_OFF)
def test_monitoring_module_creates_topic_alarms_and_dashboard_wired_together(monitoring, moto_endpoint: str) -> None:
    topic = monitoring.outputs["alarm_topic_arn"]["value"]
    sns = clients.aws_client("sns", moto_endpoint)
    cloudwatch = clients.aws_client("cloudwatch", moto_endpoint)

    assert sns.get_topic_attributes(TopicArn=topic)["Attributes"].get("KmsMasterKeyId")
    subscriptions = sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    assert [(s["Protocol"], s["Endpoint"]) for s in subscriptions] == [("email", "oncall@example.com")]

    names = [
        monitoring.outputs[name]["value"]
        for name in ("failure_rate_alarm_name", "function_errors_alarm_name", "failure_queue_alarm_name")
    ]
    alarms = {a["AlarmName"]: a for a in cloudwatch.describe_alarms(AlarmNames=names)["MetricAlarms"]}
    assert sorted(alarms) == sorted(names)
    for alarm in alarms.values():
        assert alarm["AlarmActions"] == [topic]
    rate = alarms[names[0]]
    assert (rate["Threshold"], rate["ComparisonOperator"], rate["TreatMissingData"]) == (
        5,
        "GreaterThanThreshold",
        "notBreaching",
    )
    errors = alarms[names[1]]
    assert (errors["Namespace"], errors["MetricName"]) == ("AWS/Lambda", "Errors")
    assert errors["Dimensions"] == [{"Name": "FunctionName", "Value": f"shipment-processor-{ENVIRONMENT}"}]
    queue = alarms[names[2]]
    assert (queue["Namespace"], queue["MetricName"]) == ("AWS/SQS", "ApproximateNumberOfMessagesVisible")
    assert queue["Dimensions"] == [{"Name": "QueueName", "Value": f"shipment-processor-failures-{ENVIRONMENT}"}]

    dashboard = cloudwatch.get_dashboard(DashboardName=monitoring.outputs["dashboard_name"]["value"])
    widgets = json.loads(dashboard["DashboardBody"])["widgets"]
    charted = json.dumps(widgets)
    for metric in (
        "ProcessingSuccess",
        "ProcessingFailure",
        "RecordsAccepted",
        "RecordsRejected",
        "ProcessingDuration",
        "Errors",
        "ApproximateNumberOfMessagesVisible",
    ):
        assert metric in charted, f"dashboard does not chart {metric}"
