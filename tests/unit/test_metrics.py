"""EMF: one metrics document per processed file, with exactly the dimensions the alarms query."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from shipment_processor import metrics

from .support import NOW, World, as_csv, record, records

MONITORING_MAIN = Path(__file__).resolve().parents[2] / "modules" / "monitoring" / "main.tf"
UNITS = {
    "ProcessingSuccess": "Count",
    "ProcessingFailure": "Count",
    "RecordsAccepted": "Count",
    "RecordsRejected": "Count",
    "ProcessingDuration": "Milliseconds",
    "FileBytes": "Bytes",
}


def only_document(stdout_docs: list[dict[str, Any]]) -> dict[str, Any]:
    assert len(stdout_docs) == 1, "exactly one EMF document per file"
    return stdout_docs[0]


def test_successful_file_emits_one_document_with_namespace_dimension_and_values(world: World) -> None:
    result = world.process("incoming/acme/ok.csv", as_csv(records(7)))

    doc = only_document(result.emf)
    directive = doc["_aws"]["CloudWatchMetrics"][0]
    assert directive["Namespace"] == "ShipmentProcessing/dev"
    assert directive["Dimensions"] == [["Environment"]]
    assert {m["Name"]: m["Unit"] for m in directive["Metrics"]} == UNITS
    assert doc["Environment"] == "dev"
    assert doc["_aws"]["Timestamp"] == int(NOW.timestamp() * 1000)
    assert {name: doc[name] for name in UNITS if name != "ProcessingDuration"} == {
        "ProcessingSuccess": 1,
        "ProcessingFailure": 0,
        "RecordsAccepted": 7,
        "RecordsRejected": 0,
        "FileBytes": result.item["file_size"],
    }
    assert doc["ProcessingDuration"] == result.item["processing_duration"] >= 0


def test_partial_file_counts_as_a_success(world: World) -> None:
    result = world.process("incoming/acme/partial.csv", as_csv([record(1), record(2, status="LOST")]))

    doc = only_document(result.emf)
    assert (doc["ProcessingSuccess"], doc["ProcessingFailure"]) == (1, 0)
    assert (doc["RecordsAccepted"], doc["RecordsRejected"]) == (1, 1)


def test_failed_file_counts_as_a_failure(world: World) -> None:
    result = world.process("incoming/acme/broken.json", b"[{")

    doc = only_document(result.emf)
    assert (doc["ProcessingSuccess"], doc["ProcessingFailure"]) == (0, 1)
    assert doc["FileBytes"] == 2


def test_namespace_and_environment_come_from_the_environment(world: World) -> None:
    world.env.update({"ENVIRONMENT": "prod"})
    prod = only_document(world.process("incoming/acme/p.csv", as_csv(records(1))).emf)
    world.env.update({"METRICS_NAMESPACE": "Custom/Shipments"})
    custom = only_document(world.process("incoming/acme/c.csv", as_csv(records(1, prefix="C"))).emf)

    assert prod["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "ShipmentProcessing/prod"
    assert prod["Environment"] == "prod"
    assert custom["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "Custom/Shipments"


def test_document_is_valid_emf_every_metric_and_dimension_has_a_top_level_value(world: World) -> None:
    doc = only_document(world.process("incoming/acme/v.csv", as_csv(records(2))).emf)

    directive = doc["_aws"]["CloudWatchMetrics"][0]
    for metric in directive["Metrics"]:
        assert isinstance(doc[metric["Name"]], int)
    for dimension_set in directive["Dimensions"]:
        for dimension in dimension_set:
            assert isinstance(doc[dimension], str)


# --- the dimension set must be the one the alarms query ------------------------------------------------------


def _enclosing_block(text: str, position: int) -> str:
    """The innermost `{ ... }` block of HCL ``text`` that contains ``position``."""
    depth = 0
    start = position
    while start > 0:
        start -= 1
        if text[start] == "}":
            depth += 1
        elif text[start] == "{":
            if depth == 0:
                break
            depth -= 1
    depth = 0
    for end in range(start, len(text)):
        if text[end] == "{":
            depth += 1
        elif text[end] == "}":
            depth -= 1
            if depth == 0:
                return text[start : end + 1]
    raise AssertionError("unbalanced braces in monitoring/main.tf")


def alarm_dimension_sets(hcl: str) -> dict[str, set[frozenset[str]]]:
    """Dimension names used with ProcessingSuccess/ProcessingFailure in metric blocks, per metric."""
    lines = [line for line in hcl.splitlines() if not line.lstrip().startswith(("#", "//"))]
    text = "\n".join(lines)
    found: dict[str, set[frozenset[str]]] = {}
    for match in re.finditer(r'metric_name\s*=\s*"(ProcessingSuccess|ProcessingFailure)"', text):
        block = _enclosing_block(text, match.start())
        dimensions = re.search(r"dimensions\s*=\s*\{([^{}]*)\}", block)
        body = dimensions.group(1) if dimensions else ""
        keys = re.findall(r'(?:^|[,\n])\s*"?([A-Za-z0-9_:.-]+)"?\s*=', body)
        found.setdefault(match.group(1), set()).add(frozenset(keys))
    return found


def test_parser_reads_dimensions_of_metric_query_blocks() -> None:
    hcl = """
    resource "aws_cloudwatch_metric_alarm" "x" {
      metric_query {
        id = "s"
        metric {
          # a comment with dimensions = { Bogus = 1 }
          namespace   = "ns"
          metric_name = "ProcessingSuccess"
          dimensions = {
            Environment = var.environment
          }
        }
      }
      metric_query {
        metric {
          metric_name = "ProcessingFailure"
          dimensions  = { "Environment" = var.environment, Shard = "a" }
        }
      }
    }
    """

    assert alarm_dimension_sets(hcl) == {
        "ProcessingSuccess": {frozenset({"Environment"})},
        "ProcessingFailure": {frozenset({"Environment", "Shard"})},
    }


def test_emf_dimensions_equal_the_monitoring_alarms_dimensions() -> None:
    if not MONITORING_MAIN.exists():
        pytest.skip(f"{MONITORING_MAIN} does not exist yet; re-run once the monitoring module is written")

    found = alarm_dimension_sets(MONITORING_MAIN.read_text())

    emitted = {frozenset(dimension_set) for dimension_set in metrics.DIMENSIONS}
    assert set(found) == {"ProcessingSuccess", "ProcessingFailure"}, "the failure-rate alarm queries both metrics"
    for metric, dimension_sets in found.items():
        assert dimension_sets == emitted, f"{metric}: alarm dimensions {dimension_sets} != EMF {emitted}"


class Closed:
    def write(self, text: str) -> int:
        raise OSError("stream closed")

    def flush(self) -> None:  # pragma: no cover - write fails first
        raise OSError("stream closed")


def test_a_broken_stdout_never_breaks_processing_and_the_metrics_document_goes_to_stderr(
    world: World, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    meta = world.put("incoming/acme/day.csv", as_csv(records(3)))
    monkeypatch.setattr("sys.stdout", Closed())

    response = world.invoke(world.event(("incoming/acme/day.csv", meta)))

    assert response["files"][0]["status"] == "SUCCESS"
    assert world.observe("incoming/acme/day.csv").item["records_accepted"] == 3
    (line,) = [line for line in capsys.readouterr().err.splitlines() if "metrics document" in line]
    assert '"RecordsAccepted":3' in line


def test_a_metrics_document_with_no_stream_left_to_print_on_is_dropped_quietly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdout", Closed())
    monkeypatch.setattr("sys.stderr", Closed())

    assert metrics.emit({"_aws": {}}) is False
