"""The metrics AWS services publish on their own (no code of ours prints them), published to the local CloudWatch.

* **AWS/SQS** (published by the local AWS server): `NumberOfMessagesSent` (Sum) for every message a SendMessage or
  SendMessageBatch put in a queue, and every `LOCAL_SQS_METRICS_INTERVAL_S` seconds (60, SQS's own period) the
  gauges `ApproximateNumberOfMessagesVisible`, `ApproximateNumberOfMessagesNotVisible`,
  `ApproximateNumberOfMessagesDelayed` and `ApproximateAgeOfOldestMessage` (seconds), dimension QueueName.
* **AWS/Lambda** (published by the Lambda service after every attempt): `Invocations`, `Errors` (0 or 1, so a
  period with only successes has datapoints of 0, as on Lambda), `Duration` (ms), `Throttles`,
  `DestinationDeliveryFailures`, `AsyncEventAge` (ms) and `RecursiveInvocationsDropped`, each with dimension
  FunctionName and once without dimensions (the account-wide aggregate Lambda also publishes).
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

ACCOUNT = "123456789012"


def _client(endpoint: str, region: str) -> Any:
    from tools.emulator.aws import clients  # noqa: PLC0415

    return clients.aws_client("cloudwatch", endpoint, region)


def publish_sqs_sent(endpoint: str, sent: dict[tuple[str, str], int]) -> None:
    now = dt.datetime.now(dt.UTC)
    by_region: dict[str, list[dict[str, Any]]] = {}
    for (region, queue), count in sent.items():
        by_region.setdefault(region, []).append(
            {
                "MetricName": "NumberOfMessagesSent",
                "Dimensions": [{"Name": "QueueName", "Value": queue}],
                "Timestamp": now,
                "Value": float(count),
                "Unit": "Count",
            }
        )
    for region, data in by_region.items():
        _client(endpoint, region).put_metric_data(Namespace="AWS/SQS", MetricData=data)


def sqs_gauges() -> dict[str, list[dict[str, Any]]]:
    """The gauge datapoints of every queue of the local AWS, per region (read in-process from moto)."""
    from moto.sqs.models import sqs_backends  # noqa: PLC0415

    now = dt.datetime.now(dt.UTC)
    now_ms = int(time.time() * 1000)
    out: dict[str, list[dict[str, Any]]] = {}
    for region, backend in sqs_backends[ACCOUNT].items():
        for name, queue in list(backend.queues.items()):
            messages = list(queue._messages)
            oldest = min((m.sent_timestamp for m in messages if m.sent_timestamp), default=None)
            values = {
                "ApproximateNumberOfMessagesVisible": (queue.approximate_number_of_messages, "Count"),
                "ApproximateNumberOfMessagesNotVisible": (queue.approximate_number_of_messages_not_visible, "Count"),
                "ApproximateNumberOfMessagesDelayed": (queue.approximate_number_of_messages_delayed, "Count"),
                "ApproximateAgeOfOldestMessage": (0 if oldest is None else (now_ms - oldest) / 1000, "Seconds"),
            }
            for metric, (value, unit) in values.items():
                out.setdefault(region, []).append(
                    {
                        "MetricName": metric,
                        "Dimensions": [{"Name": "QueueName", "Value": name}],
                        "Timestamp": now,
                        "Value": float(value),
                        "Unit": unit,
                    }
                )
    return out


def publish_sqs_gauges(endpoint: str) -> None:
    for region, data in sqs_gauges().items():
        client = _client(endpoint, region)
        for start in range(0, len(data), 1000):
            client.put_metric_data(Namespace="AWS/SQS", MetricData=data[start : start + 1000])


def lambda_datum(function_name: str, metric: str, value: float, unit: str = "Count") -> list[dict[str, Any]]:
    """One AWS/Lambda datapoint, per function and account-wide."""
    now = dt.datetime.now(dt.UTC)
    base = {"MetricName": metric, "Timestamp": now, "Value": float(value), "Unit": unit}
    return [{**base, "Dimensions": [{"Name": "FunctionName", "Value": function_name}]}, {**base, "Dimensions": []}]


def publish_lambda(cloudwatch: Any, data: list[dict[str, Any]]) -> None:
    if data:
        cloudwatch.put_metric_data(Namespace="AWS/Lambda", MetricData=data)
