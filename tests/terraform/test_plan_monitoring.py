"""Plan of modules/monitoring on its own: the alarm topic, the three alarms and the dashboard.

A customer managed key on the topic and no email subscribers are checked in the root's production plan.
"""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from .planning import ACCOUNT_ID, REGION, Plan, Workdir

ENV = "qa7"
NAMESPACE = f"ShipmentProcessing/{ENV}"
FUNCTION = f"shipment-processor-{ENV}"
QUEUE = f"shipment-processor-failures-{ENV}"
TOPIC_ARN = f"arn:aws:sns:{REGION}:{ACCOUNT_ID}:shipment-alarms-{ENV}"
EMAILS = ["ops@example.com", "oncall@example.com"]
INPUTS = {
    "environment": ENV,
    "account_id": ACCOUNT_ID,
    "region": REGION,
    "metrics_namespace": NAMESPACE,
    "function_name": FUNCTION,
    "log_group_name": f"/aws/lambda/{FUNCTION}",
    "failure_queue_name": QUEUE,
}
FAILURE_RATE = "aws_cloudwatch_metric_alarm.failure_rate"

pytestmark = pytest.mark.terraform


@pytest.fixture(scope="module")
def module(workdir) -> Workdir:
    return workdir("modules/monitoring")


@pytest.fixture(scope="module")
def plan(module: Workdir) -> Plan:
    return module.plan(**INPUTS, alarm_email_addresses=EMAILS)


def queries(plan: Plan) -> dict[str, dict[str, Any]]:
    return {q["id"]: q for q in plan[FAILURE_RATE]["metric_query"]}


class Value(float):
    """A metric-math number: like CloudWatch, dividing by zero gives no number (NaN) instead of an error."""

    def __truediv__(self, other: float) -> Value:
        return Value(math.nan if other == 0 else float(self) / other)

    def __mul__(self, other: float) -> Value:
        return Value(float(self) * other)

    __rmul__ = __mul__

    def __add__(self, other: float) -> Value:
        return Value(float(self) + other)


def evaluate(expression: str, success: float | None, failure: float | None, dead: float | None = None) -> float:
    """Evaluate the alarm's metric-math expression for one period's sums (None = no datapoint)."""
    functions = {
        "FILL": lambda series, fill: Value(fill if series is None else series),
        "IF": lambda condition, then, otherwise: then if condition else otherwise,
    }
    return eval(expression, {"__builtins__": {}}, {**functions, "success": success, "failure": failure, "dead": dead})


# --- failure-rate alarm ---


def test_the_failure_rate_alarm_fires_above_5_percent_in_one_5_minute_period(plan: Plan) -> None:
    alarm = plan[FAILURE_RATE]

    assert alarm["alarm_name"] == f"shipment-file-failure-rate-{ENV}"
    assert alarm["threshold"] == 5
    assert alarm["comparison_operator"] == "GreaterThanThreshold"
    assert alarm["evaluation_periods"] == 1
    assert alarm["treat_missing_data"] == "notBreaching"


def test_the_failure_rate_sums_success_and_failure_over_5_minutes_for_this_environment(plan: Plan) -> None:
    found = queries(plan)

    assert set(found) == {"success", "failure", "dead", "failure_rate"}
    for query_id, metric_name in (("success", "ProcessingSuccess"), ("failure", "ProcessingFailure")):
        (metric,) = found[query_id]["metric"]
        assert metric["namespace"] == NAMESPACE
        assert metric["metric_name"] == metric_name
        assert metric["stat"] == "Sum"
        assert metric["period"] == 300
        assert metric["dimensions"] == {"Environment": ENV}
        assert found[query_id]["return_data"] is False
    assert found["failure_rate"]["return_data"] is True


def test_the_failure_rate_expression_fills_gaps_and_never_divides_by_zero(plan: Plan) -> None:
    expression = queries(plan)["failure_rate"]["expression"]

    assert "FILL(failure, 0)" in expression and "FILL(success, 0)" in expression
    assert evaluate(expression, success=95, failure=5) == 5  # exactly 5 %: not above the threshold
    assert evaluate(expression, success=94, failure=6) == 6
    assert evaluate(expression, success=10, failure=None) == 0  # no failure datapoint means none failed
    assert evaluate(expression, success=None, failure=3) == 100
    assert evaluate(expression, success=None, failure=None) == 0  # no files at all: 0, not a division by zero
    assert evaluate(expression, success=0, failure=0) == 0


def test_events_that_reach_the_failure_queue_count_as_failed_files(plan: Plan) -> None:
    # A file whose every invocation timed out or crashed prints no EMF document; its event reaches the queue.
    (metric,) = queries(plan)["dead"]["metric"]
    expression = queries(plan)["failure_rate"]["expression"]

    assert (metric["namespace"], metric["metric_name"], metric["stat"]) == ("AWS/SQS", "NumberOfMessagesSent", "Sum")
    assert metric["dimensions"] == {"QueueName": QUEUE}
    assert metric["period"] == 300
    assert evaluate(expression, success=None, failure=None, dead=1) == 100
    assert evaluate(expression, success=9, failure=None, dead=1) == 10
    assert evaluate(expression, success=8, failure=1, dead=1) == 20


# --- the other alarms ---


def test_any_function_error_raises_an_alarm(plan: Plan) -> None:
    alarm = plan["aws_cloudwatch_metric_alarm.function_errors"]

    assert alarm["alarm_name"] == f"shipment-processor-errors-{ENV}"
    assert (alarm["namespace"], alarm["metric_name"], alarm["statistic"]) == ("AWS/Lambda", "Errors", "Sum")
    assert alarm["dimensions"] == {"FunctionName": FUNCTION}
    assert (alarm["comparison_operator"], alarm["threshold"]) == ("GreaterThanThreshold", 0)
    assert alarm["period"] == 300
    assert alarm["treat_missing_data"] == "notBreaching"


def test_any_event_waiting_in_the_failure_queue_raises_an_alarm(plan: Plan) -> None:
    alarm = plan["aws_cloudwatch_metric_alarm.failure_queue"]

    assert alarm["alarm_name"] == f"shipment-processor-failed-events-{ENV}"
    assert (alarm["namespace"], alarm["metric_name"]) == ("AWS/SQS", "ApproximateNumberOfMessagesVisible")
    assert alarm["dimensions"] == {"QueueName": QUEUE}
    assert (alarm["comparison_operator"], alarm["threshold"]) == ("GreaterThanThreshold", 0)
    assert alarm["treat_missing_data"] == "notBreaching"


def test_an_event_nearing_the_failure_queues_14_day_retention_raises_an_alarm(plan: Plan) -> None:
    alarm = plan["aws_cloudwatch_metric_alarm.failure_queue_age"]

    assert alarm["alarm_name"] == f"shipment-processor-failed-events-age-{ENV}"
    assert (alarm["namespace"], alarm["metric_name"], alarm["statistic"]) == (
        "AWS/SQS",
        "ApproximateAgeOfOldestMessage",
        "Maximum",
    )
    assert alarm["dimensions"] == {"QueueName": QUEUE}
    assert alarm["comparison_operator"] == "GreaterThanThreshold"
    assert alarm["threshold"] == 10 * 86400 < 14 * 86400


def test_a_failed_event_lambda_could_not_queue_raises_an_alarm(plan: Plan) -> None:
    alarm = plan["aws_cloudwatch_metric_alarm.destination_delivery_failures"]

    assert alarm["alarm_name"] == f"shipment-processor-destination-failures-{ENV}"
    assert (alarm["namespace"], alarm["metric_name"], alarm["statistic"]) == (
        "AWS/Lambda",
        "DestinationDeliveryFailures",
        "Sum",
    )
    assert alarm["dimensions"] == {"FunctionName": FUNCTION}
    assert (alarm["comparison_operator"], alarm["threshold"]) == ("GreaterThanThreshold", 0)


@pytest.mark.parametrize(
    ("alarm", "next_step"),
    [
        ("failure_rate", f"shipment-ops --env {ENV} --region {REGION} files --outcome FAILED"),
        ("function_errors", f"shipment-ops --env {ENV} --region {REGION} logs"),
        ("failure_queue", f"shipment-ops --env {ENV} --region {REGION} replay --dry-run"),
        ("failure_queue_age", f"shipment-ops --env {ENV} --region {REGION} replay --dry-run"),
        ("destination_delivery_failures", f"shipment-ops --env {ENV} --region {REGION} files --outcome FAILED"),
    ],
)
def test_each_alarm_description_says_what_to_do_and_where_the_runbook_is(
    plan: Plan, alarm: str, next_step: str
) -> None:
    description = plan[f"aws_cloudwatch_metric_alarm.{alarm}"]["alarm_description"]

    assert next_step in description
    assert "Runbook: docs/runbook.md" in description
    assert len(description) <= 1024  # CloudWatch's limit


def test_every_alarm_notifies_the_topic_when_it_fires_and_when_it_clears(plan: Plan) -> None:
    alarms = plan.of_type("aws_cloudwatch_metric_alarm")

    assert len(alarms) == 5
    for alarm in alarms.values():
        assert alarm["actions_enabled"] is True
        assert alarm["alarm_actions"] == [TOPIC_ARN]
        assert alarm["ok_actions"] == [TOPIC_ARN]


# --- topic ---


def test_the_topic_is_encrypted_with_its_own_key_that_cloudwatch_may_use(plan: Plan) -> None:
    topic = plan["aws_sns_topic.alarms"]
    key = plan["aws_kms_key.topic[0]"]
    statements = {s["Sid"]: s for s in json.loads(key["policy"])["Statement"]}

    assert topic["name"] == f"shipment-alarms-{ENV}"
    assert plan.unknown["aws_sns_topic.alarms"]["kms_master_key_id"] is True  # the new key's ARN
    assert plan["aws_kms_alias.topic[0]"]["name"] == f"alias/shipment-alarms-{ENV}"
    assert key["enable_key_rotation"] is True
    cloudwatch = statements["CloudWatchAlarmsPublishToTheTopic"]
    assert cloudwatch["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert sorted(cloudwatch["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey*"]
    assert cloudwatch["Condition"] == {"StringEquals": {"aws:SourceAccount": ACCOUNT_ID}}
    assert plan.outputs["alarm_topic_arn"] == TOPIC_ARN


def test_each_alarm_email_address_gets_one_subscription(plan: Plan) -> None:
    subscriptions = plan.of_type("aws_sns_topic_subscription").values()

    assert sorted((s["protocol"], s["endpoint"]) for s in subscriptions) == sorted(("email", e) for e in EMAILS)


# --- dashboard ---


def test_the_dashboard_shows_files_records_duration_errors_and_queue_depth(plan: Plan) -> None:
    dashboard = plan["aws_cloudwatch_dashboard.this"]
    widgets = json.loads(dashboard["dashboard_body"])["widgets"]
    plotted = {
        (metric[0], metric[1], metric[2], metric[3])
        for widget in widgets
        for metric in widget["properties"].get("metrics", [])
    }

    assert dashboard["dashboard_name"] == f"shipment-processing-{ENV}-{REGION}"  # dashboards are account-global
    assert plotted >= {
        (NAMESPACE, "ProcessingSuccess", "Environment", ENV),
        (NAMESPACE, "ProcessingFailure", "Environment", ENV),
        (NAMESPACE, "RecordsAccepted", "Environment", ENV),
        (NAMESPACE, "RecordsRejected", "Environment", ENV),
        (NAMESPACE, "ProcessingDuration", "Environment", ENV),
        ("AWS/Lambda", "Duration", "FunctionName", FUNCTION),
        ("AWS/Lambda", "Errors", "FunctionName", FUNCTION),
        ("AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", QUEUE),
    }
    assert all(w["properties"].get("region", REGION) == REGION for w in widgets)


def test_the_dashboard_shows_the_state_of_every_alarm(plan: Plan) -> None:
    widgets = json.loads(plan["aws_cloudwatch_dashboard.this"]["dashboard_body"])["widgets"]
    (alarm_widget,) = [w for w in widgets if w["type"] == "alarm"]
    names = {a["alarm_name"] for a in plan.of_type("aws_cloudwatch_metric_alarm").values()}

    assert alarm_widget["properties"]["alarms"] == [
        f"arn:aws:cloudwatch:{REGION}:{ACCOUNT_ID}:alarm:{name}"
        for name in (
            f"shipment-file-failure-rate-{ENV}",
            f"shipment-processor-errors-{ENV}",
            f"shipment-processor-failed-events-{ENV}",
            f"shipment-processor-failed-events-age-{ENV}",
            f"shipment-processor-destination-failures-{ENV}",
        )
    ]
    assert {arn.rsplit(":", 1)[1] for arn in alarm_widget["properties"]["alarms"]} == names


# --- refused inputs ---


@pytest.mark.parametrize(
    "message",
    [
        "Each alarm email address must look like name@example.com.",
        "metrics_namespace must be a non-empty custom namespace (not AWS/...).",
        "failure_rate_threshold_percent must be at least 0 and below 100.",
    ],
    ids=["email", "aws-namespace", "threshold"],
)
def test_a_bad_setting_is_refused_with_a_clear_message(module: Workdir, message: str) -> None:
    bad = {"alarm_email_addresses": ["not-an-address"], "metrics_namespace": "AWS/Lambda"}
    assert message in module.plan_error(**{**INPUTS, **bad}, failure_rate_threshold_percent=100)
