"""CloudWatch embedded metric format (EMF): one JSON document per processed file, printed to stdout.

CloudWatch Logs turns the document into metrics; no API call, no latency, no PutMetricData permission. The
dimension set is exactly the one the alarms use (``Environment``): a metric published with any other dimension set
is a different metric, and the alarm would never see it.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Mapping
from typing import Any

DIMENSIONS: list[list[str]] = [["Environment"]]
UNITS: dict[str, str] = {
    "ProcessingSuccess": "Count",
    "ProcessingFailure": "Count",
    "RecordsAccepted": "Count",
    "RecordsRejected": "Count",
    "ProcessingDuration": "Milliseconds",
    "FileBytes": "Bytes",
}


def emf_document(
    *,
    namespace: str,
    environment: str,
    succeeded: bool,
    records_accepted: int,
    records_rejected: int,
    duration_ms: int,
    file_bytes: int,
    timestamp_ms: int,
    properties: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The EMF document for one file; ``properties`` become searchable log fields, not dimensions."""
    values = {
        "ProcessingSuccess": 1 if succeeded else 0,
        "ProcessingFailure": 0 if succeeded else 1,
        "RecordsAccepted": records_accepted,
        "RecordsRejected": records_rejected,
        "ProcessingDuration": duration_ms,
        "FileBytes": file_bytes,
    }
    return {
        **(properties or {}),
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [
                {
                    "Namespace": namespace,
                    "Dimensions": DIMENSIONS,
                    "Metrics": [{"Name": name, "Unit": unit} for name, unit in UNITS.items()],
                }
            ],
        },
        "Environment": environment,
        **values,
    }


def emit(document: Mapping[str, Any]) -> bool:
    """Print the document as one line on stdout, where the Lambda log stream picks it up; False when stdout failed.

    Like the log lines, a metrics document never breaks processing: the file's outcome is already recorded. A
    failure is reported on stderr, which the Lambda log stream also captures."""
    line = json.dumps(document, separators=(",", ":"), ensure_ascii=False) + "\n"
    try:
        sys.stdout.write(line)
        sys.stdout.flush()
    except Exception as exc:
        with contextlib.suppress(Exception):  # with stderr gone too, there is nowhere left to say it
            sys.stderr.write(f"shipment_processor: could not print the metrics document: {exc!r}: {line}")
        return False
    return True
