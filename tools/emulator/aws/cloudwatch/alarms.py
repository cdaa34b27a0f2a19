"""CloudWatch alarm evaluation for the local AWS (moto stores alarms but never evaluates them).

`AlarmEvaluator.evaluate_all()` evaluates every metric alarm of every region (plain metric and metric-math
alarms alike, with `metric_math` beside it) over its evaluation window ending now, and when the state
changes (or was never evaluated) sets it with SetAlarmState, with a StateReason and StateReasonData shaped like
CloudWatch's (the JSON documented for DescribeAlarms' StateReasonData: version, queryDate, startDate,
statistic/period for single-metric alarms, recentDatapoints, threshold, evaluatedDatapoints of timestamp,
sampleCount and value), then notifies the alarm's SNS actions for the new state as CloudWatch does. An operator
tool that reads StateValue and StateReasonData therefore sees the same thing here and on AWS.

Evaluation here uses one datapoint per alarm: the statistic over the whole window (period x evaluation
periods) ending at the evaluation time, which is what the project's alarms (one evaluation period) need.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from tools.emulator.aws.cloudwatch import metric_math

ACCOUNT = "123456789012"
WORDS = {
    "GreaterThanThreshold": "greater than",
    "GreaterThanOrEqualToThreshold": "greater than or equal to",
    "LessThanThreshold": "less than",
    "LessThanOrEqualToThreshold": "less than or equal to",
}
MISSING_AS = {"breaching": "Breaching", "notBreaching": "NonBreaching", "ignore": "Ignore", "missing": "Missing"}


def _cw_time(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


def _short_time(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%d/%m/%y %H:%M:%S")


def reason(alarm: dict[str, Any], evaluation: metric_math.AlarmEvaluation, now: dt.datetime) -> tuple[str, str, str]:
    """(state, StateReason, StateReasonData) for one evaluation, as CloudWatch words and shapes them."""
    start = now - dt.timedelta(seconds=evaluation.window_s)
    state = evaluation.state
    data: dict[str, Any] = {"version": "1.0", "queryDate": _cw_time(now), "startDate": _cw_time(start)}
    if not alarm.get("Metrics"):
        data["statistic"] = alarm.get("Statistic") or alarm.get("ExtendedStatistic")
        data["period"] = int(alarm["Period"])
    else:
        data["period"] = evaluation.window_s
    data["recentDatapoints"] = [] if evaluation.value is None else [evaluation.value]
    data["threshold"] = evaluation.threshold
    words = WORDS.get(evaluation.comparison, evaluation.comparison)
    if evaluation.value is None:
        treated = MISSING_AS.get(evaluation.treat_missing_data, "Missing")
        if evaluation.treat_missing_data in {"missing", "ignore"}:
            state = "INSUFFICIENT_DATA" if evaluation.treat_missing_data == "missing" else alarm["StateValue"]
        text = (
            "Threshold Crossed: no datapoints were received for 1 period and 1 missing datapoint was treated as "
            f"[{treated}]."
        )
    else:
        datapoint: dict[str, Any] = {"timestamp": _cw_time(start), "value": evaluation.value}
        if not alarm.get("Metrics"):
            datapoint["sampleCount"] = 1.0
        data["evaluatedDatapoints"] = [datapoint]
        negation = "" if state == "ALARM" else "not "
        text = (
            f"Threshold Crossed: 1 datapoint [{evaluation.value} ({_short_time(start)})] was {negation}{words} the "
            f"threshold ({evaluation.threshold})."
        )
    return state, text, json.dumps(data)


def notification(alarm: dict[str, Any], old: str, new: str, text: str, *, region: str, when: dt.datetime) -> str:
    """The message CloudWatch publishes to an alarm's SNS actions on a state change."""
    message: dict[str, Any] = {
        "AlarmName": alarm["AlarmName"],
        "AlarmDescription": alarm.get("AlarmDescription"),
        "AWSAccountId": ACCOUNT,
        "NewStateValue": new,
        "NewStateReason": text,
        "StateChangeTime": _cw_time(when),
        "Region": region,
        "AlarmArn": alarm.get("AlarmArn"),
        "OldStateValue": old,
        "OKActions": alarm.get("OKActions", []),
        "AlarmActions": alarm.get("AlarmActions", []),
        "InsufficientDataActions": alarm.get("InsufficientDataActions", []),
    }
    if alarm.get("MetricName"):
        message["Trigger"] = {
            "MetricName": alarm["MetricName"],
            "Namespace": alarm.get("Namespace"),
            "Statistic": str(alarm.get("Statistic", "")).upper(),
            "Dimensions": [{"value": d["Value"], "name": d["Name"]} for d in alarm.get("Dimensions", [])],
            "Period": alarm.get("Period"),
            "EvaluationPeriods": alarm.get("EvaluationPeriods"),
            "ComparisonOperator": alarm.get("ComparisonOperator"),
            "Threshold": alarm.get("Threshold"),
            "TreatMissingData": alarm.get("TreatMissingData"),
        }
    else:
        message["Trigger"] = {
            "Metrics": alarm.get("Metrics", []),
            "Period": alarm.get("Period"),
            "EvaluationPeriods": alarm.get("EvaluationPeriods"),
            "ComparisonOperator": alarm.get("ComparisonOperator"),
            "Threshold": alarm.get("Threshold"),
            "TreatMissingData": alarm.get("TreatMissingData"),
        }
    return json.dumps(message)


class AlarmEvaluator:
    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint

    def regions(self) -> list[str]:
        from moto.cloudwatch.models import cloudwatch_backends  # noqa: PLC0415 - in the server process

        return [region for region, backend in cloudwatch_backends[ACCOUNT].items() if backend.alarms]

    def evaluate_all(self, regions: list[str] | None = None) -> list[tuple[str, str]]:
        """Evaluate every metric alarm; return (alarm name, state) of each."""
        from tools.emulator.aws import clients  # noqa: PLC0415

        states = []
        for region in regions if regions is not None else self.regions():
            cloudwatch = clients.aws_client("cloudwatch", self.endpoint, region)
            sns = clients.aws_client("sns", self.endpoint, region)
            pages = cloudwatch.get_paginator("describe_alarms").paginate(AlarmTypes=["MetricAlarm"])
            for alarm in (a for page in pages for a in page["MetricAlarms"]):
                states.append((alarm["AlarmName"], self.evaluate(cloudwatch, sns, alarm, region)))
        return states

    def evaluate(self, cloudwatch: Any, sns: Any, alarm: dict[str, Any], region: str) -> str:
        now = dt.datetime.now(dt.UTC)
        try:
            evaluation = metric_math.evaluate_alarm(cloudwatch, alarm["AlarmName"], now=now)
        except (ValueError, KeyError, LookupError):
            return str(alarm.get("StateValue"))  # an alarm this evaluator cannot read keeps its state
        state, text, data = reason(alarm, evaluation, now)
        old = str(alarm.get("StateValue"))
        if state == old and alarm.get("StateReasonData"):
            return state
        cloudwatch.set_alarm_state(
            AlarmName=alarm["AlarmName"], StateValue=state, StateReason=text, StateReasonData=data
        )
        if state != old and alarm.get("ActionsEnabled", True):
            actions = {"ALARM": "AlarmActions", "OK": "OKActions", "INSUFFICIENT_DATA": "InsufficientDataActions"}
            for topic in alarm.get(actions[state], []):
                if topic.startswith("arn:aws:sns:"):
                    try:
                        sns.publish(
                            TopicArn=topic,
                            Subject=f'{state}: "{alarm["AlarmName"]}" in {region}'[:100],
                            Message=notification(alarm, old, state, text, region=region, when=now),
                        )
                    except Exception as error:
                        print(f"alarm {alarm['AlarmName']}: could not notify {topic}: {error}", flush=True)
        return state
