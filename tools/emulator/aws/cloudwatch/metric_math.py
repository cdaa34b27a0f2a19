"""Evaluate a CloudWatch alarm locally: its metric queries from CloudWatch, its metric-math expression here.

moto stores metric-math alarms and answers GetMetricData for plain metrics, but resolves an expression only
when it is the bare id of another query, and it never evaluates alarms. The demo and `python -m tools.emulator
status` still want to say what the failure-rate alarm sees, so this module fetches each metric query's statistic
over the alarm's evaluation window and evaluates the expression with the subset of metric math such alarms use:
numbers, ids, + - * / ^, comparisons, AND/OR/NOT, FILL(x, value), IF(c, a, b), ABS, MIN/MAX/SUM/AVG.
A missing datapoint is None, and (as in CloudWatch) arithmetic on it is None; FILL replaces it.
"""

from __future__ import annotations

import ast
import dataclasses
import datetime as dt
import operator
import re
from collections.abc import Callable, Mapping
from typing import Any

Value = float | None

_BINARY: dict[type, Callable[[float, float], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.Pow: operator.pow,
}
_COMPARE: dict[type, Callable[[float, float], bool]] = {
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
}
_COMPARISON_OPERATORS = {
    "GreaterThanThreshold": operator.gt,
    "GreaterThanOrEqualToThreshold": operator.ge,
    "LessThanThreshold": operator.lt,
    "LessThanOrEqualToThreshold": operator.le,
}


def _python_syntax(expression: str) -> str:
    """Metric math spelled as a Python expression (same precedence for everything the subset allows)."""
    text = expression.replace("^", "**").replace("&&", " AND ").replace("||", " OR ")
    return re.sub(r"\b(AND|OR|NOT)\b", lambda m: m.group(1).lower(), text)


def evaluate(expression: str, values: Mapping[str, Value]) -> Value:
    """The value of a metric-math expression given one value (or None) per query id."""
    tree = ast.parse(_python_syntax(expression), mode="eval")
    return _eval(tree.body, values)


def _number(value: Any) -> Value:
    if value is None:
        return None
    return float(value)


def _eval(node: ast.AST, values: Mapping[str, Value]) -> Value:
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
        return float(node.value)
    if isinstance(node, ast.Name):
        if node.id not in values:
            raise ValueError(f"unknown metric id {node.id!r}")
        return values[node.id]
    if isinstance(node, ast.UnaryOp):
        operand = _eval(node.operand, values)
        if operand is None:
            return None
        if isinstance(node.op, ast.USub):
            return -operand
        if isinstance(node.op, ast.Not):
            return float(not operand)
        return operand
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _eval(node.left, values), _eval(node.right, values)
        if left is None or right is None:
            return None
        try:
            return _number(_BINARY[type(node.op)](left, right))
        except ZeroDivisionError:
            return None  # CloudWatch returns no datapoint for a division by zero
    if isinstance(node, ast.Compare) and len(node.ops) == 1 and type(node.ops[0]) in _COMPARE:
        left, right = _eval(node.left, values), _eval(node.comparators[0], values)
        if left is None or right is None:
            return None
        return float(_COMPARE[type(node.ops[0])](left, right))
    if isinstance(node, ast.BoolOp):
        operands = [_eval(v, values) for v in node.values]
        if any(v is None for v in operands):
            return None
        combine = all if isinstance(node.op, ast.And) else any
        return float(combine(bool(v) for v in operands))
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        return _call(node.func.id.upper(), node.args, values)
    raise ValueError(f"unsupported metric math: {ast.unparse(node)}")


def _call(name: str, args: list[ast.expr], values: Mapping[str, Value]) -> Value:
    if name == "IF":
        condition = _eval(args[0], values)
        if condition is None:
            return None
        branch = args[1] if condition else (args[2] if len(args) > 2 else None)
        return _eval(branch, values) if branch is not None else None
    evaluated = [_eval(a, values) for a in args]
    if name == "FILL":
        return evaluated[0] if evaluated[0] is not None else evaluated[1]
    if name == "ABS":
        return abs(evaluated[0]) if evaluated[0] is not None else None
    present = [v for v in evaluated if v is not None]
    if name in {"MIN", "MAX", "SUM", "AVG"}:
        if not present:
            return None
        return {"MIN": min, "MAX": max, "SUM": sum, "AVG": lambda v: sum(v) / len(v)}[name](present)
    raise ValueError(f"unsupported metric math function {name}")


@dataclasses.dataclass(frozen=True)
class AlarmEvaluation:
    """What an alarm reads over its window and what that means."""

    alarm_name: str
    expression: str | None
    window_s: int
    inputs: dict[str, Value]  # query id -> statistic over the window (None = no datapoint)
    labels: dict[str, str]  # query id -> "Namespace MetricName Stat {dimensions}"
    value: Value
    threshold: float
    comparison: str
    treat_missing_data: str
    moto_state: str

    @property
    def state(self) -> str:
        """ALARM, OK or INSUFFICIENT_DATA, as CloudWatch would set it for this window."""
        if self.value is None:
            return {"breaching": "ALARM", "notBreaching": "OK"}.get(self.treat_missing_data, "INSUFFICIENT_DATA")
        compare = _COMPARISON_OPERATORS.get(self.comparison)
        if compare is None:
            return "INSUFFICIENT_DATA"
        return "ALARM" if compare(self.value, self.threshold) else "OK"


def evaluate_alarm(cloudwatch: Any, alarm_name: str, now: dt.datetime | None = None) -> AlarmEvaluation:
    """Fetch an alarm's inputs for its evaluation window (ending now) and evaluate it."""
    alarms = cloudwatch.describe_alarms(AlarmNames=[alarm_name], AlarmTypes=["MetricAlarm"])["MetricAlarms"]
    if not alarms:
        raise LookupError(f"no alarm named {alarm_name}")
    alarm = alarms[0]
    end = (now or dt.datetime.now(dt.UTC)).replace(microsecond=0) + dt.timedelta(seconds=1)
    queries = alarm.get("Metrics") or [
        {
            "Id": "m1",
            "ReturnData": True,
            "MetricStat": {
                "Metric": {
                    "Namespace": alarm["Namespace"],
                    "MetricName": alarm["MetricName"],
                    "Dimensions": alarm.get("Dimensions", []),
                },
                "Period": alarm["Period"],
                "Stat": alarm.get("Statistic") or alarm.get("ExtendedStatistic"),
            },
        }
    ]
    stats = [q for q in queries if "MetricStat" in q]
    period = max(int(q["MetricStat"]["Period"]) for q in stats)
    window = period * int(alarm.get("EvaluationPeriods", 1))
    inputs: dict[str, Value] = {}
    labels: dict[str, str] = {}
    for query in stats:
        stat = query["MetricStat"]
        metric = stat["Metric"]
        response = cloudwatch.get_metric_statistics(
            Namespace=metric["Namespace"],
            MetricName=metric["MetricName"],
            Dimensions=metric.get("Dimensions", []),
            StartTime=end - dt.timedelta(seconds=window),
            EndTime=end,
            Period=window,
            Statistics=[stat["Stat"]],
        )
        points = [p[stat["Stat"]] for p in response["Datapoints"]]
        inputs[query["Id"]] = _aggregate(stat["Stat"], points)
        dims = ", ".join(f"{d['Name']}={d['Value']}" for d in metric.get("Dimensions", []))
        labels[query["Id"]] = f"{metric['Namespace']} {metric['MetricName']} {stat['Stat']} {{{dims}}}"
    returned = next((q for q in queries if q.get("ReturnData", "Expression" in q)), queries[0])
    expression = returned.get("Expression")
    value = evaluate(expression, inputs) if expression else inputs.get(returned["Id"])
    return AlarmEvaluation(
        alarm_name=alarm_name,
        expression=expression,
        window_s=window,
        inputs=inputs,
        labels=labels,
        value=value,
        threshold=float(alarm["Threshold"]),
        comparison=alarm["ComparisonOperator"],
        treat_missing_data=alarm.get("TreatMissingData", "missing"),
        moto_state=alarm.get("StateValue", "?"),
    )


def _aggregate(stat: str, points: list[float]) -> Value:
    if not points:
        return None
    if stat in {"Sum", "SampleCount"}:
        return float(sum(points))
    if stat == "Maximum":
        return float(max(points))
    if stat == "Minimum":
        return float(min(points))
    return float(sum(points) / len(points))
