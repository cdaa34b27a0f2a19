"""The life of one uploaded object: claim it, stream it through the pipeline into the stores, record the outcome.

Outcomes (DESIGN.md): SUCCESS (no record rejected), PARTIAL (some rejected), FAILED (the file as a whole is
unusable: unreadable, over a limit, no records, or no valid records). A FAILED file is a normal return: retrying
cannot fix it. Processing is a single streaming pass, so when a file breaks part-way (truncated, bad bytes, too
many records) the valid updates read before the break have already been stored; the FAILED item says where the
file broke, and its counts cover exactly the records read (accepted + rejected = total, and the events table
holds the accepted ones). Re-uploading a corrected file rewrites those updates harmlessly.

AWS failures that survive the retries propagate: the claim is released and the invocation fails, so Lambda
retries it (and finally sends it to the on-failure destination).
"""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from logging import INFO, WARNING
from typing import Any

from . import metrics
from .config import Settings
from .logs import log
from .pipeline import Accepted, FileError, StreamStats, describe_ref, stream_results
from .store import FINAL_STATUSES, ObjectMissingError, Store

MAX_ERROR_SAMPLES = 20
CLAIM_GRACE_S = 5  # clock skew allowance on top of the claimer's own deadline


@dataclass(frozen=True, slots=True)
class S3Object:
    """One ObjectCreated notification, decoded."""

    bucket: str
    key: str
    event_time: str
    version_id: str | None = None
    etag: str | None = None
    size: int | None = None


@dataclass(frozen=True, slots=True)
class Invocation:
    """What the processor needs from the Lambda context."""

    request_id: str
    remaining_ms: Callable[[], int] | None = None


@dataclass(frozen=True, slots=True)
class FileReport:
    """What happened to one object; ``status`` is SUCCESS/PARTIAL/FAILED, or DUPLICATE/IN_PROGRESS/SUPERSEDED
    when this delivery changed nothing."""

    key: str
    upload_timestamp: str
    status: str
    records_total: int = 0
    records_accepted: int = 0
    records_rejected: int = 0
    error_message: str | None = None
    rejects_key: str | None = None


class FileProcessor:
    """Processes S3 objects exactly once in effect, under at-least-once delivery.

    Idempotency keys on the metadata item (filename, upload_timestamp = the event's eventTime), one per object
    version. A new version of the same key arrives with a new eventTime and gets a new item. A redelivery of the
    same event has the same eventTime and finds the item: if it is final, the delivery is a logged no-op; if it is
    PROCESSING, it is taken over only when the claim is stale (past the claimer's own Lambda deadline, or
    ``CLAIM_TIMEOUT_S`` without a context) or belongs to the same request id (Lambda retries an async invocation
    with the same request id, after the earlier attempt has ended); otherwise the live claimer will finish it.

    The same version can also be announced with a *different* eventTime (an event replayed by hand or by a
    tool). With a versionId, the processor therefore first looks for an existing item of that version and, if
    there is one, uses its upload_timestamp instead: one item per version, whatever the event says. Unversioned
    buckets have no such identity (every overwrite is "null"), so there the eventTime alone decides. The lookup
    and the claim are two calls, so two deliveries of one version with different eventTimes racing each other
    can still yield two items; both then hold identical counts, and event writes are keyed, so nothing doubles.
    """

    def __init__(
        self,
        settings: Settings,
        store: Store,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings, self.store = settings, store
        self._clock, self._monotonic = clock, monotonic

    def process(self, obj: S3Object, invocation: Invocation) -> FileReport:
        """Process one object (or recognise a duplicate delivery); raise only for AWS trouble."""
        started = self._monotonic()
        now = self._clock()
        upload_timestamp = obj.event_time
        if obj.version_id:
            known = self.store.find_version(obj.key, obj.version_id)
            if known is not None and known != obj.event_time:
                log(
                    INFO,
                    "version already recorded under another event time; using that item",
                    key=obj.key,
                    version_id=obj.version_id,
                    event_time=obj.event_time,
                    upload_timestamp=known,
                )
                upload_timestamp = known
        token = uuid.uuid4().hex
        claim = self.store.claim(
            {
                **self._base_item(obj, upload_timestamp, now),
                "processing_status": "PROCESSING",
                "claim_token": token,
                "claim_owner": invocation.request_id,
                "claim_expires_at": self._claim_expiry(now, invocation),
            },
            owner=invocation.request_id,
            now_epoch=int(now.timestamp()),
        )
        if not claim.acquired:
            return self._not_claimed(obj, upload_timestamp, claim.existing or {})
        try:
            return self._process_claimed(
                obj=obj, upload_timestamp=upload_timestamp, now=now, started=started, token=token, invocation=invocation
            )
        except Exception:
            self.store.release(obj.key, upload_timestamp, token)
            raise

    def _claim_expiry(self, now: datetime, invocation: Invocation) -> int:
        if invocation.remaining_ms is not None:
            seconds = math.ceil(invocation.remaining_ms() / 1000)
        else:
            seconds = self.settings.claim_timeout_s
        return int(now.timestamp()) + seconds + CLAIM_GRACE_S

    def _not_claimed(self, obj: S3Object, upload_timestamp: str, existing: dict[str, Any]) -> FileReport:
        status = str(existing.get("processing_status", ""))
        fields = {"key": obj.key, "version_id": obj.version_id, "upload_timestamp": upload_timestamp}
        if status in FINAL_STATUSES:
            log(
                INFO,
                "duplicate delivery ignored: this object version is already processed",
                outcome="DUPLICATE",
                recorded_status=status,
                **fields,
            )
            return FileReport(
                obj.key,
                upload_timestamp,
                "DUPLICATE",
                int(existing.get("records_total", 0)),
                int(existing.get("records_accepted", 0)),
                int(existing.get("records_rejected", 0)),
            )
        log(
            INFO,
            "delivery ignored: another invocation is processing this object version",
            outcome="IN_PROGRESS",
            claim_owner=existing.get("claim_owner"),
            **fields,
        )
        return FileReport(obj.key, upload_timestamp, "IN_PROGRESS")

    def _base_item(self, obj: S3Object, upload_timestamp: str, now: datetime) -> dict[str, Any]:
        return {
            "filename": obj.key,
            "upload_timestamp": upload_timestamp,
            "version_id": obj.version_id or "null",
            "etag": obj.etag,
            "file_size": obj.size,
            "shipper": self.shipper(obj.key),
            "bucket": obj.bucket,
            "environment": self.settings.environment,
            "claimed_at": _iso(now),
        }

    def shipper(self, key: str) -> str:
        """The path segment after the incoming prefix (``incoming/<shipper>/...``), or ``unknown``."""
        rest = key[len(self.settings.incoming_prefix) :] if key.startswith(self.settings.incoming_prefix) else key
        head, slash, _ = rest.partition("/")
        return head if slash and head else "unknown"

    def _process_claimed(
        self,
        *,
        obj: S3Object,
        upload_timestamp: str,
        now: datetime,
        started: float,
        token: str,
        invocation: Invocation,
    ) -> FileReport:
        limits = self.settings.limits
        version = obj.version_id or "null"
        stats = StreamStats()
        accepted = rejected = 0
        samples: list[str] = []
        error: str | None = None
        rejects_key: str | None = None
        file_size = obj.size or 0
        try:
            stored = self.store.open_object(obj.bucket, obj.key, obj.version_id)
        except ObjectMissingError as exc:
            error = f"object no longer exists (deleted before it could be processed): {exc}"
        else:
            file_size = stored.content_length
            try:
                if stored.content_length > limits.max_object_bytes:
                    error = (
                        f"file is {stored.content_length} bytes, larger than the {limits.max_object_bytes}-byte "
                        "limit (MAX_OBJECT_BYTES)"
                    )
                else:
                    report = self.store.rejects_writer(
                        obj.bucket,
                        f"{self.settings.rejects_prefix}{obj.key}.errors.jsonl",
                        {"source-version": version, "source-upload-timestamp": upload_timestamp},
                    )
                    with self.store.event_writer(obj.key, version) as events, report:
                        try:
                            for result in stream_results(stored.body, obj.key, limits, now, stats):
                                if isinstance(result, Accepted):
                                    events.put(result.update, result.ref)
                                    accepted += 1
                                else:
                                    report.add(result.ref, result.reason, result.raw)
                                    rejected += 1
                                    if len(samples) < MAX_ERROR_SAMPLES:
                                        samples.append(f"{describe_ref(result.ref)}: {result.reason}")
                        except FileError as exc:
                            error = str(exc)
                        events.close()
                        rejects_key = report.close()
            finally:
                stored.body.close()

        total = accepted + rejected
        if error is not None:
            status = "FAILED"
        elif total == 0:
            status, error = "FAILED", "file contains no records"
        elif accepted == 0:
            verdict = "the only record is not valid" if total == 1 else f"none of the {total} records is valid"
            status, error = "FAILED", f"{verdict}; see the rejects report"
        else:
            status = "PARTIAL" if rejected else "SUCCESS"
        duration_ms = int((self._monotonic() - started) * 1000)
        item = {
            **self._base_item(obj, upload_timestamp, now),
            "file_size": file_size,
            "processing_status": status,
            "records_total": total,
            "records_accepted": accepted,
            "records_rejected": rejected,
            "format": stats.format or "unknown",
            "compression": stats.compression or "none",
            "processing_duration": duration_ms,
            "error_message": error,
            "error_samples": samples or None,
            "rejects_key": rejects_key,
            "processed_at": _iso(self._clock()),
            "request_id": invocation.request_id,
        }
        fields = {
            "key": obj.key,
            "version_id": obj.version_id,
            "upload_timestamp": upload_timestamp,
            "shipper": item["shipper"],
            "records_total": total,
            "records_accepted": accepted,
            "records_rejected": rejected,
            "duration_ms": duration_ms,
            "file_bytes": file_size,
        }
        if not self.store.finish(item, token):
            log(
                WARNING,
                "claim was taken over by another invocation; this attempt's result is discarded",
                outcome="SUPERSEDED",
                **fields,
            )
            return FileReport(obj.key, upload_timestamp, "SUPERSEDED", total, accepted, rejected)
        metrics.emit(
            metrics.emf_document(
                namespace=self.settings.metrics_namespace,
                environment=self.settings.environment,
                succeeded=status != "FAILED",
                records_accepted=accepted,
                records_rejected=rejected,
                duration_ms=duration_ms,
                file_bytes=file_size,
                timestamp_ms=int(self._clock().timestamp() * 1000),
                properties={"key": obj.key, "shipper": item["shipper"], "status": status},
            )
        )
        log(
            WARNING if status == "FAILED" else INFO,
            "file processed",
            outcome=status,
            format=item["format"],
            error=error,
            rejects_key=rejects_key,
            **fields,
        )
        return FileReport(obj.key, upload_timestamp, status, total, accepted, rejected, error, rejects_key)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
