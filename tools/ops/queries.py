"""What an operator asks of an environment, answered from its AWS APIs without scanning: files by day, shipper or
problem through the metadata table's indexes, one file with its rejects report, a shipment's history, alarm
states, log lines. Every function returns plain values (the CLI renders them as text or JSON).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterator
from typing import Any

from boto3.dynamodb.types import TypeDeserializer

from tools.ops.environment import Environment

PROBLEM_OUTCOMES = ("FAILED", "PARTIAL")
OUTCOMES = ("SUCCESS", "PARTIAL", "FAILED", "SUPERSEDED", "PROCESSING")
GUARD_PREFIX = "#version#"  # the version records next to the file items (docs/design.md, storage contract)
_deserializer = TypeDeserializer()
_DURATION = re.compile(r"(\d+)\s*([smhd])")


def plain(item: dict[str, Any]) -> dict[str, Any]:
    """A DynamoDB item as Python values (numbers as int when whole)."""
    return {name: _plain(_deserializer.deserialize(value)) for name, value in item.items()}


def _plain(value: Any) -> Any:
    if hasattr(value, "as_integer_ratio") and not isinstance(value, int | float):
        return int(value) if value == int(value) else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def moment(text: str, now: dt.datetime) -> dt.datetime:
    """``24h``, ``30m``, ``7d`` (before ``now``) or an ISO 8601 time."""
    match = _DURATION.fullmatch(text.strip())
    if match:
        amount, unit = int(match[1]), match[2]
        return now - dt.timedelta(**{{"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}[unit]: amount})
    parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _iso(moment_: dt.datetime) -> str:
    return moment_.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def files(
    env: Environment,
    *,
    since: dt.datetime,
    until: dt.datetime,
    shipper: str | None = None,
    outcome: str | None = None,
    limit: int = 50,
) -> list[dict[str, Any]]:
    """Files uploaded in [since, until], newest first, by the index that fits the filters (never a scan)."""
    low, high = _iso(since), _iso(until) + "\uffff"  # the "\uffff" keeps "<time>#<identity>" keys in range
    if shipper:
        queries = [("by-shipper", "shipper", shipper)]
    elif outcome in PROBLEM_OUTCOMES:
        queries = [("by-problem", "problem_status", outcome)]
    else:
        day, first = until.astimezone(dt.UTC).date(), since.astimezone(dt.UTC).date()
        queries = []
        while day >= first:
            queries.append(("by-day", "upload_day", day.isoformat()))
            day -= dt.timedelta(days=1)
    found: list[dict[str, Any]] = []
    for index, attribute, value in queries:
        for item in _query_index(env, index, attribute, value, low=low, high=high):
            if outcome and item.get("processing_status") != outcome:
                continue
            found.append(item)
            if len(found) >= limit:
                return found
    return found


def _query_index(env: Environment, index: str, attribute: str, value: str, *, low: str, high: str) -> Iterator[dict]:
    params: dict[str, Any] = {
        "TableName": env.metadata_table,
        "IndexName": index,
        "KeyConditionExpression": "#k = :v AND upload_timestamp BETWEEN :low AND :high",
        "ExpressionAttributeNames": {"#k": attribute},
        "ExpressionAttributeValues": {":v": {"S": value}, ":low": {"S": low}, ":high": {"S": high}},
        "ScanIndexForward": False,
    }
    for page in env.client("dynamodb").get_paginator("query").paginate(**params):
        for item in page.get("Items", []):
            yield plain(item)


def file_item(env: Environment, key: str, version_id: str | None = None) -> dict[str, Any] | None:
    """The metadata item of one version of ``key`` (the newest upload when no version is given)."""
    dynamodb = env.client("dynamodb")
    if version_id:
        guard = dynamodb.get_item(
            TableName=env.metadata_table,
            Key={"filename": {"S": key}, "upload_timestamp": {"S": f"{GUARD_PREFIX}v:{version_id}"}},
            ConsistentRead=True,
        ).get("Item")
        if guard is None:
            return None
        upload = plain(guard)["file_upload_timestamp"]
        for candidate in (upload, f"{upload}#v:{version_id}"):
            item = dynamodb.get_item(
                TableName=env.metadata_table,
                Key={"filename": {"S": key}, "upload_timestamp": {"S": candidate}},
                ConsistentRead=True,
            ).get("Item")
            if item is not None and plain(item).get("version_id") == version_id:
                return plain(item)
        return None
    response = dynamodb.query(
        TableName=env.metadata_table,
        KeyConditionExpression="filename = :f AND upload_timestamp > :guards",
        ExpressionAttributeValues={":f": {"S": key}, ":guards": {"S": GUARD_PREFIX + "\uffff"}},
        ScanIndexForward=False,
        Limit=1,
        ConsistentRead=True,
    )
    return plain(response["Items"][0]) if response.get("Items") else None


def versions(env: Environment, key: str) -> list[dict[str, Any]]:
    """Every processed version of ``key``, newest first (status and counts only)."""
    response = env.client("dynamodb").query(
        TableName=env.metadata_table,
        KeyConditionExpression="filename = :f AND upload_timestamp > :guards",
        ExpressionAttributeValues={":f": {"S": key}, ":guards": {"S": GUARD_PREFIX + "\uffff"}},
        ScanIndexForward=False,
        ConsistentRead=True,
    )
    return [plain(item) for item in response.get("Items", [])]


def rejects(env: Environment, item: dict[str, Any], lines: int = 5) -> dict[str, Any] | None:
    """Where a file's rejects report is and its first ``lines`` lines (read with a ranged GET)."""
    key = item.get("rejects_key")
    if not key:
        return None
    params: dict[str, Any] = {"Bucket": env.bucket, "Key": key, "Range": "bytes=0-65535"}
    if item.get("rejects_version_id"):
        params["VersionId"] = item["rejects_version_id"]
    body = env.client("s3").get_object(**params)["Body"].read().decode("utf-8", "replace")
    first = [json.loads(line) for line in body.splitlines()[:lines] if line.startswith("{")]
    return {"address": f"s3://{env.bucket}/{key}", "version_id": item.get("rejects_version_id"), "first": first}


def shipment(env: Environment, shipment_id: str, limit: int = 50) -> list[dict[str, Any]]:
    """A shipment's updates, newest first."""
    response = env.client("dynamodb").query(
        TableName=env.events_table,
        KeyConditionExpression="shipment_id = :s",
        ExpressionAttributeValues={":s": {"S": shipment_id}},
        ScanIndexForward=False,
        Limit=limit,
    )
    return [plain(item) for item in response.get("Items", [])]


def alarms(env: Environment) -> list[dict[str, Any]]:
    """Each alarm's state, why, and the value CloudWatch evaluated (from its StateReasonData)."""
    if not env.alarm_names:
        return []
    response = env.client("cloudwatch").describe_alarms(AlarmNames=list(env.alarm_names))
    out = []
    for alarm in [*response.get("MetricAlarms", []), *response.get("CompositeAlarms", [])]:
        data: dict[str, Any] = {}
        try:
            data = json.loads(alarm.get("StateReasonData") or "{}")
        except ValueError:
            data = {}
        points = data.get("recentDatapoints") or [p.get("value") for p in data.get("evaluatedDatapoints", [])]
        out.append(
            {
                "name": alarm["AlarmName"],
                "state": alarm.get("StateValue"),
                "value": points[-1] if points else None,
                "threshold": alarm.get("Threshold", data.get("threshold")),
                "comparison": alarm.get("ComparisonOperator"),
                "reason": alarm.get("StateReason"),
                "updated": str(alarm.get("StateUpdatedTimestamp", "")),
                "description": alarm.get("AlarmDescription"),
            }
        )
    return sorted(out, key=lambda a: a["name"])


def logs(env: Environment, *, since: dt.datetime, pattern: str | None = None, limit: int = 100) -> list[dict]:
    """The function's log lines since ``since`` (oldest first), optionally matching a CloudWatch filter pattern."""
    params: dict[str, Any] = {"logGroupName": env.log_group, "startTime": int(since.timestamp() * 1000)}
    if pattern:
        params["filterPattern"] = pattern
    lines: list[dict[str, Any]] = []
    for page in env.client("logs").get_paginator("filter_log_events").paginate(**params):
        for event in page.get("events", []):
            lines.append({"timestamp": event["timestamp"], "stream": event.get("logStreamName"),
                          "message": event["message"].rstrip("\n")})  # fmt: skip
    return lines[-limit:]
