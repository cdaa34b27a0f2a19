"""One invocation's share of a file: take its metadata item, stream records into the stores, then either hand
the rest to a new invocation or record the outcome.

Outcomes: SUCCESS (no record rejected), PARTIAL (some rejected), FAILED (the file as a whole is unusable:
unreadable, over a limit, no records, no valid records, or a chain that stopped making progress), SUPERSEDED
(an unversioned key was overwritten before its first event was processed; the newer upload has its own
event). A FAILED file is a normal return: retrying cannot fix it. Processing streams, so when a file breaks
part-way the valid updates read before the break are stored; the FAILED item says where, and its counts cover
exactly the records read (accepted + rejected = total, and the events table holds the accepted ones).

**Resumable.** When the time the invocation has left drops below ``CHECKPOINT_MARGIN_MS``, processing stops
after the current record, flushes every write, checkpoints its position and running counts in the metadata
item, and queues the rest to a new asynchronous invocation of this function (Lambda's async retries and
on-failure destination then cover the continuation too). The next invocation resumes at the checkpoint: a
ranged GET for a plain file, one from the checkpoint's seek point for a gzip. Counts, error samples and the rejects
report (one object) run on across invocations; metrics and the outcome event are emitted once, at the end. A
chain is bounded (``MAX_INVOCATIONS``) and fails when an invocation reads no record at all.

AWS failures that survive the retries propagate: the claim is released and the invocation fails, so Lambda
retries it (resuming from the last checkpoint) and finally sends it to the on-failure destination.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from logging import INFO, WARNING
from typing import Any

from . import bounds, metrics, outcome, pacing
from .aws.backlog import Backlog
from .aws.clients import TransientAWSError
from .aws.profile_store import ProfileStore, Resolved
from .aws.rejects import RejectsWriter
from .aws.s3_source import ObjectChangedError, ObjectMissingError
from .config import Settings
from .formats import OutOfTime, ResumePoint
from .lifecycle import PROCESSING, SUPERSEDED, Claim, Ledger, Skip, Target
from .logs import log
from .pipeline import Accepted, FileError, ResultStream, StreamStats, describe_ref
from .store import Store

MAX_ERROR_SAMPLES = 20
CLAIM_GRACE_S = 5  # clock skew allowance on top of the claimer's own deadline
BUDGET_CHECK_EVERY = 64  # records between two looks at the time left (a look costs a clock read)

S3Object = Target  # the name the handler and the tests use for one announced object version


@dataclass(frozen=True, slots=True)
class Invocation:
    """What the processor needs from the Lambda context."""

    request_id: str
    remaining_ms: Callable[[], int] | None = None
    function_arn: str | None = None


@dataclass(frozen=True, slots=True)
class HandOff:
    """A segment's ending: the time ran short, and the rest of the file goes to a new invocation from ``point``."""

    point: ResumePoint | None
    stopped_at: float  # monotonic time the time ran short: what follows is the checkpoint margin's use


@dataclass(frozen=True, slots=True)
class Finished:
    """A segment's ending: the file was read to its end, or could be read no further (``error``)."""

    error: str | None = None


@dataclass(frozen=True, slots=True)
class Superseded:
    """A segment's ending: the object at the key is no longer the upload being processed."""

    reason: str


Ending = HandOff | Finished | Superseded


@dataclass(frozen=True, slots=True)
class FileReport:
    """What happened to one object in this invocation; ``status`` is SUCCESS/PARTIAL/FAILED/SUPERSEDED when the
    file finished here, CONTINUED when a new invocation carries on, DUPLICATE/IN_PROGRESS when this delivery
    changed nothing."""

    key: str
    upload_timestamp: str
    status: str
    records_total: int = 0
    records_accepted: int = 0
    records_rejected: int = 0
    error_message: str | None = None
    rejects_key: str | None = None
    invocations: int = 1
    attempt: int = 1


@dataclass(slots=True)
class _Run:
    """The running state of one attempt at a file, carried from invocation to invocation in the checkpoint."""

    now: datetime
    accepted: int = 0
    rejected: int = 0
    samples: list[str] | None = None
    duration_ms: int = 0
    resume: ResumePoint | None = None
    report: dict[str, Any] | None = None
    reasons: dict[str, int] | None = None  # rejections per kind of reason, for the "rejects by reason" log
    backlog: str | None = None  # the object holding writes not yet stored (see aws/backlog.py)
    carried: str | None = None  # the backlog this invocation took over (deleted once no checkpoint names it)
    profile: dict[str, Any] | None = None  # the shipper profile this attempt reads with, pinned for every segment
    profile_fields: dict[str, str] | None = None  # profile name and version for the item (not checkpointed)

    @classmethod
    def restore(cls, checkpoint: Mapping[str, Any] | None, now: datetime) -> _Run:
        if not checkpoint:
            return cls(now=now, samples=[], reasons={})
        return cls(
            now=datetime.fromisoformat(checkpoint["now"]),
            accepted=int(checkpoint["accepted"]),
            rejected=int(checkpoint["rejected"]),
            samples=list(checkpoint.get("samples", [])),
            duration_ms=int(checkpoint.get("duration_ms", 0)),
            resume=ResumePoint(**{"compression": None, **checkpoint["resume"]}) if checkpoint.get("resume") else None,
            report=checkpoint.get("report"),
            reasons=dict(checkpoint.get("reasons") or {}),
            backlog=checkpoint.get("backlog"),
            carried=checkpoint.get("carried"),
            profile=checkpoint.get("profile"),
        )

    def saved(self) -> dict[str, Any]:
        return {
            "now": self.now.isoformat(),
            "accepted": self.accepted,
            "rejected": self.rejected,
            "samples": self.samples or None,
            "duration_ms": self.duration_ms,
            "resume": asdict(self.resume) if self.resume else None,
            "report": self.report,
            "reasons": self.reasons or None,
            "backlog": self.backlog,
            "carried": self.carried,
            "profile": self.profile,
        }


class FileProcessor:
    """Processes S3 objects exactly once in effect, under at-least-once delivery, across invocations."""

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
        self.ledger = Ledger(store.metadata_table, clock=lambda: self._clock().timestamp())
        self.profiles = (
            ProfileStore(lambda: store.client("s3"), settings.profiles_bucket, settings.profiles_key)
            if settings.profiles_key
            else None
        )

    # --- the three ways in ---------------------------------------------------------------------------------

    def process(self, obj: Target, invocation: Invocation) -> FileReport:
        """An S3 event's object version: process it (or recognise a duplicate delivery)."""
        now = self._clock()
        fields = {
            "version_id": obj.version_id or "null",
            "etag": obj.etag,
            "file_size": obj.size,
            "sequencer": obj.sequencer,
            "event_time": obj.event_time,
            "shipper": self.shipper(obj.key),
            "bucket": obj.bucket,
            "environment": self.settings.environment,
            "claimed_at": _iso(now),
        }
        taken = self.ledger.begin(obj, invocation.request_id, self._claim_expiry(now, invocation), fields)
        return self._run(taken, invocation)

    def continue_file(self, continuation: Mapping[str, Any], invocation: Invocation) -> FileReport:
        """The next segment of a file, queued by the previous invocation's checkpoint."""
        expiry = self._claim_expiry(self._clock(), invocation)
        return self._run(self.ledger.resume(continuation, invocation.request_id, expiry), invocation)

    def reprocess(self, request: Mapping[str, Any], invocation: Invocation) -> FileReport:
        """An operator's request: a new attempt on a final version (after a fix), recorded as attempt n + 1; for a
        version stuck PROCESSING with a stale claim, the attempt resumed from its checkpoint (``restart``: the
        version started again as attempt n + 1)."""
        key = str(request["key"])
        item = self.ledger.find(key, request.get("version_id"), request.get("upload_timestamp"))
        if item is None:
            raise LookupError(f"no metadata item for {key} (version {request.get('version_id')})")
        pending = item.get("outcome_pending") and item.get("processing_status") != PROCESSING
        if pending and not self._publish_pending(item, invocation):  # the replaced attempt's outcome goes out first
            busy = Skip("IN_PROGRESS", item, "the outcome of its last attempt is still being published")
            return self._skipped(busy, invocation)
        expiry = self._claim_expiry(self._clock(), invocation)
        taken = self.ledger.reprocess(
            key, str(item["upload_timestamp"]), invocation.request_id, expiry, restart=bool(request.get("restart"))
        )
        return self._run(taken, invocation)

    def shipper(self, key: str) -> str:
        """The path segment after the incoming prefix (``incoming/<shipper>/...``), or ``unknown``."""
        rest = key[len(self.settings.incoming_prefix) :] if key.startswith(self.settings.incoming_prefix) else key
        head, slash, _ = rest.partition("/")
        return head if slash and head else "unknown"

    # --- one segment ---------------------------------------------------------------------------------------

    def _run(self, taken: Claim | Skip, invocation: Invocation) -> FileReport:
        if isinstance(taken, Skip):
            return self._skipped(taken, invocation)
        if taken.takeover:
            log(WARNING, "claim taken over", reason=taken.takeover, key=taken.filename, segment=taken.segment)
        try:
            return self._segment(taken, invocation)
        except Exception as exc:
            try:
                self.ledger.release(taken, repr(exc)[:500])
            except Exception as release_error:  # the claim then simply expires at its deadline
                log(
                    WARNING,
                    "could not release the claim; it will expire on its own",
                    key=taken.filename,
                    error=repr(release_error),
                )
            raise

    def _segment(self, claim: Claim, invocation: Invocation) -> FileReport:
        started = self._monotonic()
        item = claim.item
        closing = item.get("closing")
        run = _Run.restore(closing or claim.checkpoint, self._started(claim))
        profile = self._profile(str(item.get("shipper", "unknown")), run)
        version_id = None if item.get("version_id") in (None, "null") else str(item["version_id"])
        source = self.store.object_source(str(item["bucket"]), claim.filename, version_id, item.get("etag"))
        stats = StreamStats()
        tag = bounds.version_tag(version_id, str(item.get("identity", claim.upload_timestamp)))
        report = self.store.rejects_report(
            str(item["bucket"]),
            bounds.rejects_key(self.settings.rejects_prefix, claim.filename, tag),
            {
                "source-version": version_id or "null",
                "source-upload-timestamp": claim.upload_timestamp,
                "source-attempt": str(claim.attempt),
            },
            spill_prefix=f"{self.settings.rejects_prefix}.partial/",
        )
        if run.report:
            report.resume(run.report)
        if closing:  # an earlier try recorded how the chain ends: finish from that record, read nothing again
            report.recognise()  # it may have closed the report too
            ending: Ending = (
                Superseded(str(closing.get("error")))
                if closing["ending"] == "superseded"
                else Finished(closing.get("error"))
            )
            return self._end_chain(claim, run, ending, report=report, described=closing)
        try:
            ending = self._read(claim, invocation, run, source=source, stats=stats, report=report, profile=profile)
        finally:
            source.close()
        run.duration_ms += int((self._monotonic() - started) * 1000)
        if isinstance(ending, HandOff):
            return self._hand_off(claim, invocation, run, ending, report)
        described = {
            "file_size": source.size if source.size is not None else int(item.get("file_size") or 0),
            "format": stats.format or (run.resume.format if run.resume else None) or "unknown",
            "compression": stats.compression or "none",
        }
        return self._end_chain(claim, run, ending, report=report, described=described)

    def _read(
        self,
        claim: Claim,
        invocation: Invocation,
        run: _Run,
        *,
        source: Any,
        stats: StreamStats,
        report: RejectsWriter,
        profile: Resolved,
    ) -> Ending:
        """Read this segment's records into the events table and the report; say how the segment ends.

        The events are flushed whatever the ending, so the counts always match what is stored. An exception out
        of here is an AWS failure: the invocation fails and Lambda retries it from the last checkpoint."""
        limits = self.settings.limits
        file_size = int(claim.item.get("file_size") or 0)
        if file_size > limits.max_object_bytes:
            return Finished(
                f"file is {file_size} bytes, larger than the {limits.max_object_bytes}-byte limit (MAX_OBJECT_BYTES)"
            )
        if profile.error:
            return Finished(profile.error)
        margin, remaining = self.settings.checkpoint_margin_ms, invocation.remaining_ms

        def out_of_time() -> bool:
            return remaining is not None and remaining() < margin

        # No write goes past the writers' deadline, taken from the claim's expiry (the invocation's own deadline,
        # read when it was claimed; one second off for the whole seconds it is kept in)
        expires = claim.item.get("claim_expires_at") if remaining is not None else None
        left_ms = (int(expires) - CLAIM_GRACE_S - 1 - self._clock().timestamp()) * 1000 if expires else None
        deadline = pacing.writes_deadline(None if left_ms is None else int(left_ms), margin)
        run.carried, run.backlog = run.backlog, None
        stream = ResultStream(
            source,
            claim.filename,
            limits,
            run.now,
            stats,
            resume=run.resume,
            records_before=run.accepted + run.rejected,
            out_of_time=out_of_time,
            profile=profile.profile,
        )
        samples = run.samples = run.samples if run.samples is not None else []
        reasons = run.reasons = run.reasons if run.reasons is not None else {}
        ending: Ending = Finished()
        read_here = 0
        version = claim.item.get("version_id") or "null"
        with self.store.event_writer(claim.filename, version, deadline=deadline) as events, report:
            events.carry(self._backlog(claim).load(run.carried))
            try:
                for result in stream:
                    read_here += 1
                    if isinstance(result, Accepted):
                        events.put(result.update, result.ref)
                        run.accepted += 1
                    else:
                        reason = bounds.cap(result.reason, bounds.MAX_REASON_BYTES)
                        report.add(result.ref, reason, result.raw)
                        outcome.count_reason(reasons, reason)
                        run.rejected += 1
                        if len(samples) < MAX_ERROR_SAMPLES:
                            samples.append(bounds.cap(f"{describe_ref(result.ref)}: {reason}", bounds.MAX_SAMPLE_BYTES))
                    if not read_here % BUDGET_CHECK_EVERY and out_of_time():
                        ending = HandOff(stream.resume_point(), self._monotonic())
                        break
            except OutOfTime as exc:
                if read_here:
                    ending = HandOff(stream.resume_point(), self._monotonic())
                else:
                    ending = Finished(f"no record could be read in one invocation: {exc}")
            except FileError as exc:
                ending = Finished(str(exc))
            except ObjectMissingError as exc:
                ending = Finished(f"object no longer exists (deleted before it could be processed): {exc}")
            except ObjectChangedError as exc:
                ending = Superseded(str(exc))
            events.close()
            unwritten = events.unwritten()
        if unwritten and isinstance(ending, Finished) and ending.error is None and stream.resume_point() is not None:
            # the writes ran out of time, not the reading: the next invocation stores the rest
            ending = HandOff(stream.resume_point(), self._monotonic())
        if isinstance(ending, HandOff) and claim.segment >= self.settings.max_invocations:
            ending = Finished(
                f"the file needed more than {self.settings.max_invocations} invocations (MAX_INVOCATIONS) and was "
                f"stopped after {run.accepted + run.rejected} records; raise the function's memory or timeout, or "
                "split the file"
            )
        if unwritten and not isinstance(ending, HandOff):  # an end must not count updates the table does not hold
            raise TransientAWSError(f"{len(unwritten)} accepted updates were not stored in time")
        if isinstance(ending, HandOff):
            run.backlog = self._backlog(claim).save(unwritten, f"{claim.attempt}-{claim.segment}")
        return ending

    def _hand_off(
        self, claim: Claim, invocation: Invocation, run: _Run, ending: HandOff, report: RejectsWriter
    ) -> FileReport:
        """Checkpoint and queue the next segment. The spilled report this segment resumed from is deleted only
        once the new checkpoint, which no longer points at it, is written."""
        assert ending.point is not None  # only a single JSON object has no resume point, and it never stops
        with report:
            run.report = report.suspend(f"{claim.attempt}-{claim.segment}")
        run.resume = ending.point
        expiry = int(self._clock().timestamp()) + self.settings.claim_timeout_s
        queued = self.ledger.checkpoint(claim, run.saved(), expiry)
        total = run.accepted + run.rejected
        if queued is None:
            return self._taken_over(claim, run)
        report.discard_resumed()
        self._backlog(claim).discard(run.carried)
        handoff, segment = queued
        continuation = {
            "continuation": {
                "bucket": claim.item["bucket"],
                "key": claim.filename,
                "upload_timestamp": claim.upload_timestamp,
                "attempt": claim.attempt,
                "segment": segment,
                "handoff_token": handoff,
            }
        }
        function = invocation.function_arn or self.settings.function_name
        if not function:
            raise RuntimeError("the function's own name is unknown (no context ARN, no AWS_LAMBDA_FUNCTION_NAME)")
        self.store.invoke_async(function, continuation)
        log(
            INFO,
            "file continues in a new invocation",
            outcome="CONTINUED",
            key=claim.filename,
            upload_timestamp=claim.upload_timestamp,
            segment=segment,
            offset=ending.point.offset,
            records_so_far=total,
            handoff_ms=int((self._monotonic() - ending.stopped_at) * 1000),  # of CHECKPOINT_MARGIN_MS, its use
            remaining_ms=invocation.remaining_ms() if invocation.remaining_ms else None,
        )
        return FileReport(
            claim.filename,
            claim.upload_timestamp,
            "CONTINUED",
            total,
            run.accepted,
            run.rejected,
            invocations=int(claim.item.get("invocations", 1)),
            attempt=claim.attempt,
        )

    def _end_chain(
        self,
        claim: Claim,
        run: _Run,
        ending: Finished | Superseded,
        *,
        report: RejectsWriter,
        described: Mapping[str, Any],
    ) -> FileReport:
        """The chain's commit point: record the ending, close the report, write the final item, then clean up and
        publish.

        The ending (counts, verdict, the report made durable) is recorded on the item first (``closing``): a retry
        finishes from that record and reaches the same end, whatever the clock or the object has become since.
        Every step after it can be repeated or is recognised as done: the report's close is recognised by its
        metadata, and the temporary objects the record points at are kept until the final write has succeeded.
        Whatever ended the chain (the end of the file, a broken file, a deleted or overwritten object), the rejected
        records read so far get their report. ``described`` is the file's size, format and compression (from the
        stream, or from the record)."""
        total = run.accepted + run.rejected
        if claim.item.get("closing") is None:
            with report:
                run.report = report.seal(f"{claim.attempt}-{claim.segment}-end")
            kind = "superseded" if isinstance(ending, Superseded) else "finished"
            error = ending.reason if isinstance(ending, Superseded) else ending.error
            if not self.ledger.close(claim, {**run.saved(), **described, "ending": kind, "error": error}):
                return self._taken_over(claim, run)
        if isinstance(ending, Superseded):
            status, error = SUPERSEDED, ending.reason
        elif ending.error is not None:
            status, error = "FAILED", ending.error
        elif total == 0:
            status, error = "FAILED", "file contains no records"
        elif run.accepted == 0:
            verdict = "the only record is not valid" if total == 1 else f"none of the {total} records is valid"
            status, error = "FAILED", f"{verdict}; see the rejects report"
        else:
            status, error = ("PARTIAL" if run.rejected else "SUCCESS"), None
        with report:
            rejects_key = report.close()
        final = bounds.fit_item(
            {
                **claim.item,
                "file_size": int(described["file_size"]),
                "processing_status": status,
                "records_total": total,
                "records_accepted": run.accepted,
                "records_rejected": run.rejected,
                "format": described["format"],
                "compression": described["compression"],
                "processing_duration": run.duration_ms,
                "error_message": bounds.cap(error, bounds.MAX_ERROR_MESSAGE_BYTES) if error else None,
                "error_samples": run.samples or None,
                "rejects_key": rejects_key,
                "rejects_version_id": report.version_id if rejects_key else None,
                "processed_at": _iso(self._clock()),
                "request_id": claim.owner,
                "checkpoint": None,
                "closing": None,
                "handoff_token": None,
                **(run.profile_fields or {}),
            }
        )
        final = {k: v for k, v in final.items() if v is not None}
        if not self.ledger.finish(claim, final):
            return self._taken_over(claim, run)
        report.discard_resumed()
        self._backlog(claim).discard(run.carried)
        for kind, count in sorted((run.reasons or {}).items(), key=lambda pair: -pair[1]):
            log(INFO, "rejects by reason", key=claim.filename, shipper=claim.item.get("shipper"), reason=kind,
                count=count)  # fmt: skip
        self.emit_outcome(claim.item)
        return _report(claim.item)

    def _profile(self, shipper: str, run: _Run) -> Resolved:
        """The shipper's profile for this attempt: the current one at its start, the pinned one after."""
        if self.profiles is None:
            return Resolved()
        resolved = self.profiles.resolve(shipper, self.settings.limits, run.profile)
        run.profile, run.profile_fields = resolved.pinned(), resolved.item_fields()
        return resolved

    def _backlog(self, claim: Claim) -> Backlog:
        """Where this file's writes not yet stored are carried between invocations."""
        prefix = f"{self.settings.rejects_prefix}.partial/"
        return Backlog(lambda: self.store.client("s3"), str(claim.item["bucket"]), prefix, claim.filename)

    def _started(self, claim: Claim) -> datetime:
        """When this attempt started: validation judges every record against it (the 24-hour rule), so a retry of an
        invocation that had no checkpoint yet judges the file as the first try did."""
        claimed = claim.item.get("claimed_at")
        return datetime.fromisoformat(str(claimed)) if claim.takeover and claimed else self._clock()

    def _taken_over(self, claim: Claim, run: _Run) -> FileReport:
        total = run.accepted + run.rejected
        log(
            WARNING,
            "claim was taken over by another invocation; this invocation's result is discarded",
            outcome="SUPERSEDED",
            key=claim.filename,
            upload_timestamp=claim.upload_timestamp,
        )
        return FileReport(claim.filename, claim.upload_timestamp, SUPERSEDED, total, run.accepted, run.rejected)

    # --- outcome -------------------------------------------------------------------------------------------

    def emit_outcome(self, item: Mapping[str, Any]) -> None:
        """Publish a final item's outcome (event, then metrics: the event is the one that can fail), then mark it
        emitted. A crash between the two leaves it pending, and the next invocation to meet it emits it."""
        if self.settings.outcome_events:
            self.store.put_event(
                self.settings.outcome_event_source,
                outcome.DETAIL_TYPE,
                outcome.event_detail(item),
                [outcome.object_arn(item, self.settings.partition)],
            )
        document = outcome.emf(item, self.settings.metrics_namespace, int(self._clock().timestamp() * 1000))
        if document is not None:
            metrics.emit(document)
        try:
            self.ledger.outcome_emitted(item)
        except Exception as exc:  # the mark is bookkeeping: the outcome is out
            log(WARNING, "could not mark the outcome as emitted", key=item["filename"], error=repr(exc))
        status = str(item["processing_status"])
        log(
            WARNING if status in ("FAILED", SUPERSEDED) else INFO,
            "file processed",
            outcome=status,
            key=item["filename"],
            version_id=item.get("version_id"),
            upload_timestamp=item["upload_timestamp"],
            shipper=item.get("shipper"),
            format=item.get("format"),
            records_total=item.get("records_total", 0),
            records_accepted=item.get("records_accepted", 0),
            records_rejected=item.get("records_rejected", 0),
            duration_ms=item.get("processing_duration", 0),
            file_bytes=item.get("file_size"),
            invocations=item.get("invocations", 1),
            attempt=item.get("attempt", 1),
            error=item.get("error_message"),
            rejects_key=item.get("rejects_key"),
        )

    def _skipped(self, skip: Skip, invocation: Invocation) -> FileReport:
        item = skip.item
        fields = _log_fields(item)
        if skip.pending_outcome and self._publish_pending(item, invocation):
            return _report(item)
        if skip.status == "DUPLICATE":
            log(
                INFO,
                "duplicate delivery ignored: this object version is already processed",
                outcome="DUPLICATE",
                recorded_status=item.get("processing_status"),
                **fields,
            )
        else:
            log(
                INFO,
                f"delivery ignored: {skip.reason}",
                outcome=skip.status,
                claim_owner=item.get("claim_owner"),
                **fields,
            )
        report = _report(item) if item.get("processing_status") not in (None, PROCESSING) else None
        return FileReport(
            str(item.get("filename", "")),
            str(item.get("upload_timestamp", "")),
            skip.status,
            report.records_total if report else 0,
            report.records_accepted if report else 0,
            report.records_rejected if report else 0,
        )

    def _publish_pending(self, item: Mapping[str, Any], invocation: Invocation) -> bool:
        """Publish the outcome a stopped holder left pending, if this invocation wins it (two deliveries that meet
        the same pending outcome publish it once); False when another invocation has it."""
        expiry = self._claim_expiry(self._clock(), invocation)
        taken = self.ledger.take_outcome(item, invocation.request_id, expiry)
        fields = _log_fields(item)
        if taken is None:
            log(INFO, "final item's pending outcome is being published by another invocation", **fields)
            return False
        log(INFO, "final item found with its outcome not yet emitted; emitting it", **fields)
        self.emit_outcome(taken)
        return True

    def _claim_expiry(self, now: datetime, invocation: Invocation) -> int:
        if invocation.remaining_ms is not None:
            seconds = math.ceil(invocation.remaining_ms() / 1000)
        else:
            seconds = self.settings.claim_timeout_s
        return int(now.timestamp()) + seconds + CLAIM_GRACE_S


def _log_fields(item: Mapping[str, Any]) -> dict[str, Any]:
    """What names a file item's version in a log line: its key, version id and upload timestamp."""
    return {
        "key": item.get("filename"),
        "version_id": item.get("version_id"),
        "upload_timestamp": item.get("upload_timestamp"),
    }


def _report(item: Mapping[str, Any]) -> FileReport:
    return FileReport(
        str(item["filename"]),
        str(item["upload_timestamp"]),
        str(item["processing_status"]),
        int(item.get("records_total", 0)),
        int(item.get("records_accepted", 0)),
        int(item.get("records_rejected", 0)),
        item.get("error_message"),
        item.get("rejects_key"),
        int(item.get("invocations", 1)),
        int(item.get("attempt", 1)),
    )


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
