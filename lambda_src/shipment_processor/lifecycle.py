"""The life of one object version in the metadata table, exactly once in effect under at-least-once delivery.

Identity is (key, version), never the event time alone. S3 may announce a version more than once, at the
same time, with different event times (a replayed event), and two versions of one key may share an event
time. So every version first writes a small *version record* (sort key ``#version#<identity>``) with a
conditional put: the first event time written there is the version's ``upload_timestamp`` for good, whoever
races. If another version already holds the item at that time, this one takes ``<event time>#<identity>``:
every delivery of a version computes the same key, and two versions never share one.

The file item then goes through these states, each move a conditional write on one item (DynamoDB serialises
them), each able to recognise its own earlier success when a response was lost and the SDK sent it again
(the claim token it wrote is there):

    (none) --begin--> PROCESSING (claim: token, owner = request id, expiry)
    PROCESSING --checkpoint--> PROCESSING + handoff token  --continue (the next invocation)--> PROCESSING
    PROCESSING --close--> PROCESSING + closing (how the chain ends: counts, verdict, the report's durable state)
    PROCESSING --finish--> SUCCESS | PARTIAL | FAILED | SUPERSEDED  (+ outcome_pending until it is emitted)
    final --reprocess--> PROCESSING of attempt n + 1 (the earlier attempt's summary is kept)
    PROCESSING, stale claim --reprocess--> taken over, resumed from its checkpoint (or, restart: attempt n + 1)

A claim is taken over only when it is stale (past the holder's deadline), when it belongs to the same request
id (Lambda retries an async invocation with the same id, after the earlier try ended), or, for a continuation,
with the hand-off token the checkpoint wrote. Taking over resumes from the last checkpoint, never restarts.
A taken-over invocation that tries to write again finds another token and stops (SUPERSEDED).

This module decides; the metadata table's adapter (:class:`~.aws.metadata.MetadataTable`) does the writes. It
imports nothing from boto3.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

PROCESSING = "PROCESSING"
SUPERSEDED = "SUPERSEDED"
FINAL_STATUSES = frozenset({"SUCCESS", "PARTIAL", "FAILED", SUPERSEDED})
PROBLEM_STATUSES = frozenset({"PARTIAL", "FAILED"})  # the sparse by-problem index holds these
GUARD_PREFIX = "#version#"  # sorts before every timestamp: newest-first queries of a key see files first
MAX_ATTEMPT_HISTORY = 10
# Fields of a file item that describe one processing run; a new attempt clears them.
RUN_FIELDS = (
    "checkpoint",
    "closing",
    "handoff_token",
    "outcome_pending",
    "problem_status",
    "error_message",
    "error_samples",
    "rejects_key",
    "rejects_version_id",
    "records_total",
    "records_accepted",
    "records_rejected",
    "processing_duration",
    "processed_at",
    "last_error",
)


class MetadataTable(Protocol):
    """The conditional writes the ledger needs (implemented by :class:`~.aws.metadata.MetadataTable`)."""

    def put_if(self, item: Mapping[str, Any], condition: str, values: Mapping[str, Any]) -> dict[str, Any] | None:
        """None when written, else what stood in the way ({} when nothing)."""
        ...

    def update_if(
        self,
        key: Mapping[str, str],
        update: str,
        condition: str,
        values: Mapping[str, Any],
        *,
        names: Mapping[str, str] | None = None,
    ) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        """(item as written, None) or (None, what stood in the way)."""
        ...

    def get_metadata(self, filename: str, upload_timestamp: str) -> dict[str, Any] | None: ...


@dataclass(frozen=True, slots=True)
class Target:
    """One object version, as its ObjectCreated event describes it."""

    bucket: str
    key: str
    event_time: str
    version_id: str | None = None
    etag: str | None = None
    size: int | None = None
    sequencer: str | None = None

    @property
    def identity(self) -> str:
        """What makes this upload unique: its version id; in an unversioned bucket its sequencer (unique per
        write of a key); without either (a hand-made event), its event time."""
        if self.version_id:
            return f"v:{self.version_id}"
        if self.sequencer:
            return f"s:{self.sequencer}"
        return f"t:{self.event_time}"


@dataclass(slots=True)
class Claim:
    """This invocation holds the file item: it may process from ``checkpoint`` and must write with ``token``."""

    filename: str
    upload_timestamp: str
    token: str
    owner: str
    item: dict[str, Any]
    takeover: str | None = None  # why an earlier holder's claim was taken over, if it was

    @property
    def key(self) -> dict[str, str]:
        return {"filename": self.filename, "upload_timestamp": self.upload_timestamp}

    @property
    def attempt(self) -> int:
        return int(self.item.get("attempt", 1))

    @property
    def segment(self) -> int:
        return int(self.item.get("segment", 1))

    @property
    def checkpoint(self) -> dict[str, Any] | None:
        return self.item.get("checkpoint")


@dataclass(frozen=True, slots=True)
class Skip:
    """This delivery changes nothing: DUPLICATE (already final), IN_PROGRESS (another invocation holds it), or
    SUPERSEDED (a newer attempt or holder replaced the one this delivery belongs to)."""

    status: str
    item: dict[str, Any]
    reason: str
    pending_outcome: bool = False  # final, but its outcome was never emitted and this invocation should


def upload_day(upload_timestamp: str) -> str:
    """``YYYY-MM-DD`` of an upload (the partition of the by-day index)."""
    return upload_timestamp[:10]


class Ledger:
    """The moves of the state machine above, on a :class:`MetadataTable`."""

    def __init__(self, table: MetadataTable, clock: Callable[[], float], token: Callable[[], str] | None = None):
        self._table, self._clock = table, clock
        self._token = token or (lambda: secrets.token_hex(16))

    # --- identity ------------------------------------------------------------------------------------------

    def upload_timestamp(self, target: Target) -> str:
        """The version's upload_timestamp: the first event time recorded for its identity."""
        if target.identity.startswith("t:"):
            return target.event_time
        guard = {
            "filename": target.key,
            "upload_timestamp": GUARD_PREFIX + target.identity,
            "item_type": "version",
            "file_upload_timestamp": target.event_time,
            "version_id": target.version_id or "null",
        }
        existing = self._table.put_if(guard, "attribute_not_exists(#filename)", {})
        if existing is None or not existing.get("file_upload_timestamp"):
            return target.event_time
        return str(existing["file_upload_timestamp"])

    def find(self, key: str, version_id: str | None = None, upload_timestamp: str | None = None) -> dict | None:
        """The file item of a version (by version id or sequencer identity) or of an upload time."""
        if upload_timestamp is None:
            if not version_id:
                return None
            guard = self._table.get_metadata(key, f"{GUARD_PREFIX}v:{version_id}")
            if guard is None:
                return None
            upload_timestamp = str(guard["file_upload_timestamp"])
            item = self._table.get_metadata(key, upload_timestamp)
            if item is not None and item.get("identity") not in (None, f"v:{version_id}"):
                item = self._table.get_metadata(key, f"{upload_timestamp}#v:{version_id}")
            return item
        return self._table.get_metadata(key, upload_timestamp)

    # --- taking the item -----------------------------------------------------------------------------------

    def begin(self, target: Target, owner: str, expires_at: int, fields: Mapping[str, Any]) -> Claim | Skip:
        """Claim the file item of an S3 event's version: new, or taken over from a holder that stopped."""
        upload_timestamp = self.upload_timestamp(target)
        for _ in range(2):  # the second round only when another version holds this event time
            token = self._token()
            item = {
                **fields,
                "filename": target.key,
                "upload_timestamp": upload_timestamp,
                "identity": target.identity,
                "upload_day": upload_day(upload_timestamp),
                "processing_status": PROCESSING,
                "attempt": 1,
                "segment": 1,
                "invocations": 1,
                "claim_token": token,
                "claim_owner": owner,
                "claim_expires_at": expires_at,
            }
            existing = self._table.put_if(item, "attribute_not_exists(#filename)", {})
            if existing is None or existing.get("claim_token") == token:
                return Claim(target.key, upload_timestamp, token, owner, item)
            if existing.get("identity", target.identity) != target.identity:
                upload_timestamp = f"{target.event_time}#{target.identity}"
                continue
            return self._take_over(existing, owner, expires_at)
        raise RuntimeError(f"two versions claim {target.key} at {upload_timestamp}")

    def resume(self, continuation: Mapping[str, Any], owner: str, expires_at: int) -> Claim | Skip:
        """Claim the file item for the next segment, with the hand-off token of the checkpoint that queued it."""
        key = {"filename": str(continuation["key"]), "upload_timestamp": str(continuation["upload_timestamp"])}
        token = self._token()
        written, existing = self._table.update_if(
            key,
            "SET #claim_token = :token, #claim_owner = :owner, #claim_expires_at = :expires, "
            "#invocations = #invocations + :one REMOVE #handoff_token",
            "#processing_status = :processing AND #attempt = :attempt AND #segment = :segment AND "
            "#handoff_token = :handoff",
            {
                ":token": token,
                ":owner": owner,
                ":expires": expires_at,
                ":one": 1,
                ":processing": PROCESSING,
                ":attempt": int(continuation["attempt"]),
                ":segment": int(continuation["segment"]),
                ":handoff": str(continuation["handoff_token"]),
            },
        )
        if written is not None:
            return Claim(key["filename"], key["upload_timestamp"], token, owner, written)
        assert existing is not None
        if existing.get("claim_token") == token:
            return Claim(key["filename"], key["upload_timestamp"], token, owner, existing)
        if not existing:
            return Skip(SUPERSEDED, existing, "the file item of this continuation does not exist")
        if existing.get("processing_status") in FINAL_STATUSES:
            return self._final(existing, owner, "the file is already final")
        if int(existing.get("attempt", 1)) != int(continuation["attempt"]):
            return Skip(SUPERSEDED, existing, "a newer attempt replaced the one this continuation belongs to")
        # A retry of this continuation (its earlier try may have checkpointed and failed to queue the next one),
        # or a chain whose holder stopped: carry on from the item's own checkpoint, whatever its segment.
        return self._take_over(existing, owner, expires_at)

    def reprocess(
        self, filename: str, upload_timestamp: str, owner: str, expires_at: int, *, restart: bool = False
    ) -> Claim | Skip:
        """An operator's request on one version: a new attempt on a final version (after a fix), or the way out for
        one left PROCESSING. A stuck version's claim is taken over when it is stale or held by this request (Lambda
        retrying a reprocess that failed) and the attempt carries on from its checkpoint; with ``restart`` the
        version starts again as a new attempt instead. A live claim answers IN_PROGRESS. The earlier attempt stays
        in the item's history."""
        existing = self._table.get_metadata(filename, upload_timestamp)
        if existing is None:
            return Skip(SUPERSEDED, {}, "there is no such file item")
        for _ in range(3):
            final = existing.get("processing_status") in FINAL_STATUSES
            if not final:
                if not self._may_take_over(existing, owner):
                    return Skip("IN_PROGRESS", existing, "the version is still being processed")
                if not restart:
                    return self._take_over(existing, owner, expires_at, by="an operator resumed it")
            token = self._token()
            ended = None if final else "abandoned while PROCESSING: an operator restarted the version"
            history = [*existing.get("previous_attempts", []), _summary(existing, ended)][-MAX_ATTEMPT_HISTORY:]
            attempt = int(existing.get("attempt", 1))
            written, conflict = self._table.update_if(
                {"filename": filename, "upload_timestamp": upload_timestamp},
                "SET #processing_status = :processing, #attempt = :next, #segment = :one, #invocations = :one, "
                "#claim_token = :token, #claim_owner = :owner, #claim_expires_at = :expires, "
                "#claimed_at = :claimed_at, #previous_attempts = :history REMOVE "
                + ", ".join(f"#{name}" for name in RUN_FIELDS),
                "#attempt = :attempt AND #processing_status = :status AND #claim_token = :seen",
                {
                    ":processing": PROCESSING,
                    ":next": attempt + 1,
                    ":one": 1,
                    ":token": token,
                    ":owner": owner,
                    ":expires": expires_at,
                    ":history": history,
                    ":attempt": attempt,
                    ":status": existing["processing_status"],
                    ":seen": existing.get("claim_token", ""),
                    ":claimed_at": _iso(self._clock()),
                },
            )
            if written is not None:
                return Claim(filename, upload_timestamp, token, owner, written)
            assert conflict is not None
            if conflict.get("claim_token") == token:
                return Claim(filename, upload_timestamp, token, owner, conflict)
            existing = conflict
        return Skip("IN_PROGRESS", existing, "other invocations keep changing this item")

    def _may_take_over(self, existing: Mapping[str, Any], owner: str) -> bool:
        """A claim may be taken over when it is stale (past its holder's deadline, or released after an error) or
        when this request holds it (Lambda retries an invocation with the same request id)."""
        return int(existing.get("claim_expires_at", 0)) < int(self._clock()) or existing.get("claim_owner") == owner

    def _take_over(
        self, existing: dict[str, Any], owner: str, expires_at: int, *, by: str | None = None
    ) -> Claim | Skip:
        filename, upload_timestamp = str(existing["filename"]), str(existing["upload_timestamp"])
        for _ in range(3):
            status = existing.get("processing_status")
            if status in FINAL_STATUSES:
                return self._final(existing, owner, "this object version is already processed")
            if not self._may_take_over(existing, owner):
                return Skip("IN_PROGRESS", existing, "another invocation is processing this object version")
            token = self._token()
            why = _why(existing, owner)
            interrupted = not why.startswith("retrying after an error")
            if by:
                why = f"{by} ({why})"
            written, conflict = self._table.update_if(
                {"filename": filename, "upload_timestamp": upload_timestamp},
                "SET #claim_token = :token, #claim_owner = :owner, #claim_expires_at = :expires, "
                "#invocations = if_not_exists(#invocations, :zero) + :one, "
                "#interrupted_invocations = if_not_exists(#interrupted_invocations, :zero) + :interrupted"
                + (", #last_interruption = :why" if interrupted or by else "")
                + " REMOVE #handoff_token",
                "#processing_status = :processing AND #claim_token = :seen",
                {
                    ":token": token,
                    ":owner": owner,
                    ":expires": expires_at,
                    ":zero": 0,
                    ":one": 1,
                    ":interrupted": 1 if interrupted else 0,
                    ":processing": PROCESSING,
                    ":seen": existing.get("claim_token", ""),
                    **({":why": why} if interrupted or by else {}),
                },
            )
            if written is not None:
                return Claim(filename, upload_timestamp, token, owner, written, why)
            assert conflict is not None
            if conflict.get("claim_token") == token:
                return Claim(filename, upload_timestamp, token, owner, conflict, why)
            existing = conflict
        return Skip("IN_PROGRESS", existing, "other invocations keep taking this item over")

    def _final(self, existing: dict[str, Any], owner: str, reason: str) -> Skip:
        """A final item: a duplicate, unless its outcome was never emitted and this invocation may do it."""
        pending = bool(existing.get("outcome_pending")) and self._may_take_over(existing, owner)
        return Skip("DUPLICATE", existing, reason, pending_outcome=pending)

    def take_outcome(self, item: Mapping[str, Any], owner: str, expires_at: int) -> dict[str, Any] | None:
        """Take a final item's pending outcome over, to publish it: its holder stopped (a stale claim) or is this
        request. One invocation at a time wins (the claim token changes); None when another holds it."""
        if not item.get("outcome_pending") or not self._may_take_over(item, owner):
            return None
        token = self._token()
        written, conflict = self._table.update_if(
            {"filename": str(item["filename"]), "upload_timestamp": str(item["upload_timestamp"])},
            "SET #claim_token = :token, #claim_owner = :owner, #claim_expires_at = :expires",
            "#claim_token = :seen AND attribute_exists(#outcome_pending)",
            {":token": token, ":owner": owner, ":expires": expires_at, ":seen": item.get("claim_token", "")},
        )
        if written is not None:
            return written
        assert conflict is not None
        return conflict if conflict.get("claim_token") == token else None

    # --- moving it on --------------------------------------------------------------------------------------

    def checkpoint(self, claim: Claim, state: Mapping[str, Any], expires_at: int) -> tuple[str, int] | None:
        """Record where the next segment starts and queue it: (hand-off token, next segment), or None when the
        claim was taken over (this invocation must stop)."""
        handoff = self._token()
        segment = claim.segment + 1
        values = {":state": dict(state), ":segment": segment, ":handoff": handoff, ":expires": expires_at}
        written, _ = self._table.update_if(
            claim.key,
            "SET #checkpoint = :state, #segment = :segment, #handoff_token = :handoff, #claim_expires_at = :expires",
            "#claim_token = :token",
            {**values, ":token": claim.token},
        )
        if written is None:
            return None
        claim.item = written
        return handoff, segment

    def close(self, claim: Claim, ending: Mapping[str, Any]) -> bool:
        """Record how the chain ends, before anything of its end is written elsewhere (the report): a retry then
        finishes from this record instead of reading the file again, and reaches the same ending whatever the time
        or the object has become. False if the claim was taken over. Re-sent after a lost response, it succeeds."""
        written, _ = self._table.update_if(
            claim.key,
            "SET #closing = :ending",
            "#claim_token = :token",
            {":ending": dict(ending), ":token": claim.token},
        )
        if written is None:
            return False
        claim.item = written
        return True

    def finish(self, claim: Claim, final: Mapping[str, Any]) -> bool:
        """Replace the item with its final form (outcome pending until emitted); False if taken over.

        The final item keeps the claim token, so the SDK re-sending this write after a lost response finds its
        own result and succeeds.
        """
        kept = {k: v for k, v in claim.item.items() if k not in RUN_FIELDS and k not in final}
        item = {**kept, **final, "claim_token": claim.token, "outcome_pending": True}
        status = item["processing_status"]
        item["problem_status"] = status if status in PROBLEM_STATUSES else None
        existing = self._table.put_if(item, "#claim_token = :token", {":token": claim.token})
        if existing is None:
            claim.item = item
            return True
        if existing.get("claim_token") == claim.token and existing.get("processing_status") in FINAL_STATUSES:
            claim.item = existing
            return True
        return False

    def outcome_emitted(self, item: Mapping[str, Any]) -> None:
        """The outcome of a final item has been emitted: clear its pending mark (at most once per attempt)."""
        self._table.update_if(
            {"filename": str(item["filename"]), "upload_timestamp": str(item["upload_timestamp"])},
            "REMOVE #outcome_pending",
            "#claim_token = :token",
            {":token": item.get("claim_token", "")},
        )

    def release(self, claim: Claim, error: str) -> None:
        """Expire the claim now, so the retry of this failed invocation can take over at once."""
        self._table.update_if(
            claim.key,
            "SET #claim_expires_at = :zero, #last_error = :error",
            "#claim_token = :token",
            {":zero": 0, ":error": error, ":token": claim.token},
        )


def _iso(seconds: float) -> str:
    """An instant as the items keep it (``2026-03-01T12:00:00.000Z``)."""
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _why(existing: Mapping[str, Any], owner: str) -> str:
    """Why a claim that may be taken over (stale, or an earlier try of this request) is taken over."""
    if int(existing.get("claim_expires_at", 1)) == 0:
        return f"retrying after an error: {existing.get('last_error', 'unknown')}"
    if existing.get("claim_owner") == owner:
        return "an earlier try of this invocation ended without finishing (timeout, out of memory or crash)"
    if existing.get("handoff_token"):
        return "the continuation queued by the last checkpoint never started"
    return "the invocation holding the claim stopped without finishing (timeout, out of memory or crash)"


def _summary(item: Mapping[str, Any], ended: str | None = None) -> dict[str, Any]:
    """What the history keeps of an earlier attempt (``ended``: how one that never finished was left)."""
    names = ("attempt", "processing_status", "records_total", "records_accepted", "records_rejected",
             "processed_at", "request_id", "error_message", "invocations")  # fmt: skip
    summary = {name: item.get(name) for name in names if item.get(name) is not None}
    return {**summary, "ended": ended} if ended else summary
