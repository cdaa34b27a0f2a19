"""What the local deployment holds, read back through the AWS APIs a user would use: files, shipments, metrics.

The demo report's reads. Every number comes from the local AWS (the metadata and events tables, the rejects
objects, CloudWatch, the failure queue), never from the runtime's own bookkeeping, so the report shows what the
system stored.
"""

from __future__ import annotations

import json
import time
from typing import Any

from tools.emulator.aws.cloudwatch import metric_math
from tools.ops.queries import plain

FINAL_STATUSES = {"SUCCESS", "PARTIAL", "FAILED", "SUPERSEDED"}


def metadata_items(dynamodb: Any, table: str, key: str) -> list[dict[str, Any]]:
    """Every metadata item of one object key (one per processed version), oldest first; the version records that
    give each its key are left out."""
    response = dynamodb.query(
        TableName=table,
        KeyConditionExpression="filename = :f",
        ExpressionAttributeValues={":f": {"S": key}},
        ConsistentRead=True,
    )
    return [item for item in map(plain, response["Items"]) if item.get("item_type") != "version"]


def metadata_for_version(dynamodb: Any, table: str, key: str, version_id: str | None) -> dict[str, Any] | None:
    """The metadata item of one object version, if the handler wrote one."""
    wanted = version_id or "null"
    matches = [i for i in metadata_items(dynamodb, table, key) if i.get("version_id") == wanted]
    return matches[-1] if matches else None


def latest_status(dynamodb: Any, table: str, shipment_id: str) -> dict[str, Any] | None:
    """A shipment's latest update: its events queried newest first, limit 1 (the access pattern of docs/design.md)."""
    response = dynamodb.query(
        TableName=table,
        KeyConditionExpression="shipment_id = :s",
        ExpressionAttributeValues={":s": {"S": shipment_id}},
        ScanIndexForward=False,
        Limit=1,
    )
    return plain(response["Items"][0]) if response["Items"] else None


def event_count(dynamodb: Any, table: str, shipment_id: str) -> int:
    response = dynamodb.query(
        TableName=table,
        KeyConditionExpression="shipment_id = :s",
        ExpressionAttributeValues={":s": {"S": shipment_id}},
        Select="COUNT",
    )
    return int(response["Count"])


def queue_depth(sqs: Any, queue_url: str) -> tuple[int, int]:
    """(visible, in flight) messages of a queue."""
    attributes = sqs.get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]), int(attributes["ApproximateNumberOfMessagesNotVisible"])


def rejects_lines(s3: Any, bucket: str, key: str, limit: int = 3) -> tuple[int, list[str]]:
    """How many lines a rejects report has, and its first `limit` lines."""
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode("utf-8")
    lines = body.splitlines()
    return len(lines), lines[:limit]


def alarm(cloudwatch: Any, alarm_name: str) -> metric_math.AlarmEvaluation:
    return metric_math.evaluate_alarm(cloudwatch, alarm_name)


def alarm_state(cloudwatch: Any, alarm_name: str) -> tuple[str, float | None, str]:
    """(StateValue, the value in StateReasonData, StateReason) as CloudWatch reports the alarm."""
    found = cloudwatch.describe_alarms(AlarmNames=[alarm_name])["MetricAlarms"]
    if not found:
        raise LookupError(f"no alarm named {alarm_name}")
    alarm_ = found[0]
    try:
        data = json.loads(alarm_.get("StateReasonData") or "{}")
    except json.JSONDecodeError:
        data = {}
    recent = data.get("recentDatapoints") or []
    return str(alarm_["StateValue"]), (float(recent[-1]) if recent else None), str(alarm_.get("StateReason", ""))


def wait_for_alarm(cloudwatch: Any, alarm_name: str, expected: str, timeout_s: float = 30.0) -> str:
    """Wait until CloudWatch (the local AWS evaluates alarms periodically) shows `expected`; return the state."""
    deadline = time.monotonic() + timeout_s
    state = alarm_state(cloudwatch, alarm_name)[0]
    while state != expected and time.monotonic() < deadline:
        time.sleep(0.5)
        state = alarm_state(cloudwatch, alarm_name)[0]
    return state


# ------------------------------------------------------------------------------------------------- text


def describe_alarm(evaluation: metric_math.AlarmEvaluation) -> list[str]:
    """The alarm's inputs, expression, value and resulting state, as report lines."""
    minutes = evaluation.window_s // 60
    lines = [f"alarm {evaluation.alarm_name} (window: the last {minutes} min)"]
    for query_id, value in evaluation.inputs.items():
        shown = "no data" if value is None else f"{value:g}"
        lines.append(f"  {query_id:<8} = {shown:<8} {evaluation.labels[query_id]}")
    if evaluation.expression:
        lines.append(f"  expression: {evaluation.expression}")
    value = "no data" if evaluation.value is None else f"{evaluation.value:.2f}"
    symbol = {
        "GreaterThanThreshold": ">",
        "GreaterThanOrEqualToThreshold": ">=",
        "LessThanThreshold": "<",
        "LessThanOrEqualToThreshold": "<=",
    }.get(evaluation.comparison, evaluation.comparison)
    lines.append(
        f"  value = {value}; condition {symbol} {evaluation.threshold:g} -> {evaluation.state} "
        f"(treat_missing_data={evaluation.treat_missing_data})"
    )
    return lines


def describe_alarm_state(cloudwatch: Any, alarm_name: str) -> str:
    state, value, _reason = alarm_state(cloudwatch, alarm_name)
    shown = "no datapoint" if value is None else f"{value:.2f}"
    return (
        f"  CloudWatch state: {state} (value when it last changed state, from StateReasonData: {shown}; "
        "evaluated by the local AWS as CloudWatch does)"
    )
