"""What the local deployment holds, read back through the AWS APIs a user would use: files, shipments, metrics.

Shared by `python -m tools.emulator status` and the demo report. Every number comes from the local AWS (the
metadata and events tables, the rejects objects, CloudWatch, the failure queue), never from the runtime's own
bookkeeping, so the report shows what the system stored.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

from boto3.dynamodb.types import TypeDeserializer

from tools.emulator import metric_math

FINAL_STATUSES = {"SUCCESS", "PARTIAL", "FAILED"}
_deserializer = TypeDeserializer()


def plain(item: dict[str, Any]) -> dict[str, Any]:
    """A DynamoDB item as Python values (numbers as int when whole)."""
    out = {}
    for name, value in item.items():
        python = _deserializer.deserialize(value)
        if hasattr(python, "as_integer_ratio") and not isinstance(python, int | float):
            python = int(python) if python == int(python) else float(python)
        out[name] = python
    return out


def metadata_items(dynamodb: Any, table: str, key: str) -> list[dict[str, Any]]:
    """Every metadata item of one object key (one per processed version), oldest first."""
    response = dynamodb.query(
        TableName=table,
        KeyConditionExpression="filename = :f",
        ExpressionAttributeValues={":f": {"S": key}},
        ConsistentRead=True,
    )
    return [plain(i) for i in response["Items"]]


def metadata_for_version(dynamodb: Any, table: str, key: str, version_id: str | None) -> dict[str, Any] | None:
    """The metadata item of one object version, if the handler wrote one."""
    wanted = version_id or "null"
    matches = [i for i in metadata_items(dynamodb, table, key) if i.get("version_id") == wanted]
    return matches[-1] if matches else None


def recent_files(dynamodb: Any, table: str, limit: int = 20) -> list[dict[str, Any]]:
    """The most recently uploaded files' metadata items, newest first (a scan: fine for a local table)."""
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"TableName": table}
    while True:
        page = dynamodb.scan(**kwargs)
        items += [plain(i) for i in page["Items"]]
        if "LastEvaluatedKey" not in page:
            break
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    items.sort(key=lambda i: str(i.get("upload_timestamp", "")), reverse=True)
    return items[:limit]


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


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], right: Sequence[int] = ()) -> str:
    """A plain-text table; columns listed in `right` are right-aligned (numbers)."""
    cells = [[str(h) for h in headers]] + [["" if c is None else str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]

    def line(row: list[str]) -> str:
        parts = [c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))]
        return "  ".join(parts).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(cells[0]), rule, *(line(r) for r in cells[1:])])


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
