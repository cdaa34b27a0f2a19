"""Structured logs: one JSON object per line, carrying what an operator searches for."""

from __future__ import annotations

import logging

import pytest
from shipment_processor import logs

from .support import Context, World, as_csv, log_lines, record


def test_processed_file_is_logged_with_key_version_shipper_counts_duration_and_outcome(world: World) -> None:
    result = world.process("incoming/acme/log.csv", as_csv([record(1), record(2, status="LOST")]))

    (line,) = [line for line in log_lines(result.stdout) if line["message"] == "file processed"]
    assert line["level"] == "INFO"
    assert line["requestId"] == "req-1"
    assert line["environment"] == "dev"
    assert {k: line[k] for k in ("key", "version_id", "shipper", "outcome", "format")} == {
        "key": "incoming/acme/log.csv",
        "version_id": result.item["version_id"],
        "shipper": "acme",
        "outcome": "PARTIAL",
        "format": "csv",
    }
    assert (line["records_total"], line["records_accepted"], line["records_rejected"]) == (2, 1, 1)
    assert line["duration_ms"] == result.item["processing_duration"]
    assert line["file_bytes"] == result.item["file_size"]
    assert line["rejects_key"] == result.item["rejects_key"]


def test_failed_file_is_logged_as_a_warning_with_its_reason(world: World) -> None:
    result = world.process("incoming/acme/empty.csv", b"")

    (line,) = [line for line in log_lines(result.stdout) if line["message"] == "file processed"]
    assert line["level"] == "WARNING"
    assert line["outcome"] == "FAILED"
    assert line["error"] == "file is empty (0 bytes)"


def test_failed_invocation_logs_the_error_with_its_traceback(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    meta = world.put("incoming/acme/x.csv", as_csv([record(1)]))
    event = world.event(("incoming/acme/x.csv", meta))
    del event["Records"][0]["s3"]["bucket"]["name"]
    capsys.readouterr()

    with pytest.raises(Exception, match="not a usable S3 notification"):
        world.invoke(event, context=Context(aws_request_id="abc"))

    (line,) = log_lines(capsys.readouterr().out)
    assert line["message"] == "malformed S3 event record"
    assert line["requestId"] == "abc"
    assert "KeyError" in line["error"]


def test_log_level_setting_silences_info_lines(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    world.env["LOG_LEVEL"] = "WARNING"
    try:
        result = world.process("incoming/acme/quiet.csv", as_csv([record(1)]))
    finally:
        logs.configure("INFO")

    assert log_lines(result.stdout) == []
    assert len(result.emf) == 1, "metrics are not logs: they are always printed"


def test_exception_lines_carry_the_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    logs.configure("INFO")
    try:
        raise ValueError("kaputt")
    except ValueError:
        logs.log_exception("it broke", key="k")

    (line,) = log_lines(capsys.readouterr().out)
    assert line["level"] == "ERROR"
    assert line["key"] == "k"
    assert "ValueError: kaputt" in line["exception"]


def test_a_broken_stdout_never_breaks_processing(monkeypatch: pytest.MonkeyPatch) -> None:
    class Closed:
        def write(self, text: str) -> int:
            raise OSError("stdout closed")

    logs.configure("INFO")
    reported: list[logging.LogRecord] = []
    handler = logging.getLogger(logs.LOGGER_NAME).handlers[0]
    monkeypatch.setattr(handler, "handleError", reported.append)
    monkeypatch.setattr("sys.stdout", Closed())

    logs.log(logging.INFO, "still fine")

    assert [record.getMessage() for record in reported] == ["still fine"]


def test_rejects_are_counted_by_kind_of_reason_without_the_records_values(world: World) -> None:
    rows = [record(n, status="LOST") for n in range(3)] + [record(7, status="GONE"), record(8, timestamp="soon")]
    rows += [record(9)]

    result = world.process("incoming/acme/reasons.csv", as_csv(rows))

    counted = {
        line["reason"]: line["count"] for line in log_lines(result.stdout) if line["message"] == "rejects by reason"
    }
    assert counted == {
        "status '…' is not one of CREATED, PICKED_UP, IN_TRANSIT, OUT_FOR_DELIVERY, DELIVERED, DELAYED, EXCEPTION, "
        "RETURNED, CANCELLED": 4,
        "timestamp '…' is not ISO N with an offset": 1,
    }


def test_reason_kinds_are_bounded_per_file() -> None:
    from shipment_processor.outcome import MAX_REASON_KINDS, count_reason  # noqa: PLC0415

    counts: dict[str, int] = {}
    for n in range(MAX_REASON_KINDS + 5):
        count_reason(counts, f"field {chr(65 + n % 26)}{chr(65 + n // 26)} is odd")
    assert len(counts) == MAX_REASON_KINDS + 1 and counts["other"] == 5
