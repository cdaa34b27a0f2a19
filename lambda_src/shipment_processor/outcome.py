"""What a finished file tells the world, built from its final metadata item (pure; no AWS).

The same item always gives the same metrics document and the same event, so an invocation that finds a final
item whose outcome was never emitted (its predecessor stopped right after the final write) emits exactly what
the predecessor would have.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import Any

from . import metrics

DETAIL_TYPE = "Shipment File Processed"
MAX_REASON_KINDS = 30  # distinct kinds counted per file; the rest are counted as "other"
_QUOTED = re.compile(r"'[^']*'")
_NUMBER = re.compile(r"\d+")
_LIST = re.compile(r"\s*\(.*\)$")


def reason_kind(reason: str) -> str:
    """What kind of rejection a reason is, without the record's own values: the first problem, with quoted
    values, numbers and trailing lists replaced (``status '…' is not one of …``), so reasons can be counted."""
    first = reason.split("; ", 1)[0]
    kind = _LIST.sub("", _NUMBER.sub("N", _QUOTED.sub("'…'", first)))
    return kind[:160]


def count_reason(counts: dict[str, int], reason: str) -> None:
    """Add one rejection to per-kind ``counts``, bounded to MAX_REASON_KINDS kinds."""
    kind = reason_kind(reason)
    if kind not in counts and len(counts) >= MAX_REASON_KINDS:
        kind = "other"
    counts[kind] = counts.get(kind, 0) + 1


def emf(item: Mapping[str, Any], namespace: str, timestamp_ms: int) -> dict[str, Any] | None:
    """The file's EMF document; None for a superseded upload (it was never processed: not a file outcome)."""
    status = str(item["processing_status"])
    if status == "SUPERSEDED":
        return None
    return metrics.emf_document(
        namespace=namespace,
        environment=str(item.get("environment", "")),
        succeeded=status != "FAILED",
        records_accepted=int(item.get("records_accepted", 0)),
        records_rejected=int(item.get("records_rejected", 0)),
        duration_ms=int(item.get("processing_duration", 0)),
        file_bytes=int(item.get("file_size") or 0),
        timestamp_ms=timestamp_ms,
        properties={
            "key": item["filename"],
            "shipper": item.get("shipper"),
            "status": status,
            "attempt": int(item.get("attempt", 1)),
            "invocations": int(item.get("invocations", 1)),
        },
    )


def event_detail(item: Mapping[str, Any]) -> dict[str, Any]:
    """The detail of the "Shipment File Processed" event; ``event_id`` is the same for every emission of one
    attempt, so a consumer can drop the rare duplicate."""
    bucket, key = str(item.get("bucket", "")), str(item["filename"])
    attempt = int(item.get("attempt", 1))
    identity = f"{bucket}\0{key}\0{item['upload_timestamp']}\0{attempt}"
    rejects = item.get("rejects_key")
    return {
        "event_id": hashlib.sha256(identity.encode("utf-8", "surrogatepass")).hexdigest()[:32],
        "environment": item.get("environment"),
        "bucket": bucket,
        "key": key,
        "version_id": item.get("version_id"),
        "upload_timestamp": item["upload_timestamp"],
        "shipper": item.get("shipper"),
        "outcome": item["processing_status"],
        "records_total": int(item.get("records_total", 0)),
        "records_accepted": int(item.get("records_accepted", 0)),
        "records_rejected": int(item.get("records_rejected", 0)),
        "rejects_report": f"s3://{bucket}/{rejects}" if rejects else None,
        "error_message": item.get("error_message"),
        "attempt": attempt,
        "invocations": int(item.get("invocations", 1)),
        "processing_duration_ms": int(item.get("processing_duration", 0)),
        "profile": item.get("profile"),
        "profile_version": item.get("profile_version"),
    }


def object_arn(item: Mapping[str, Any], partition: str) -> str:
    """The S3 object ARN the event is about (EventBridge's ``resources``), in the function's ``partition``."""
    return f"arn:{partition}:s3:::{item.get('bucket', '')}/{item['filename']}"
