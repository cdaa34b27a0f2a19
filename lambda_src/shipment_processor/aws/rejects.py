"""The rejects report: JSON Lines streamed to S3 in one PUT or a multipart upload kept open across invocations,
closed exactly once whatever retries happen."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from logging import WARNING
from typing import Any

from botocore.exceptions import ClientError

from ..formats import RecordRef
from ..logs import log
from .clients import error_code

REPORT_PART_BYTES = 8 * 1024 * 1024
S3_MIN_PART_BYTES = 5 * 1024 * 1024  # every part of a multipart upload but the last must be at least this


class RejectsWriter:
    """Streams a rejects report (JSON Lines, in file order) to S3, across as many invocations as the file takes.

    Small reports go up in one PUT, large ones as a multipart upload. A file processed in several invocations
    keeps one multipart upload open: :meth:`suspend` uploads what fills whole parts and puts the rest (under
    S3's 5 MiB part minimum) into a temporary object below ``spill_prefix``; :meth:`resume` reads it back. Part
    numbers are fixed by position, so an invocation that dies and is retried re-uploads the same parts.

    Closing is repeatable: the report carries ``metadata`` (its source version, upload and attempt), so a retry of
    an invocation that had already closed it recognises the finished object (:meth:`recognise`, or S3 answering
    ``NoSuchUpload`` for a completed upload) and writes nothing again. The temporary objects a report was resumed
    from are deleted only when the caller says so (:meth:`discard_resumed`), after the write that made them
    unnecessary: until then a retry may need them.
    """

    def __init__(
        self,
        client: Callable[[], Any],
        bucket: str,
        key: str,
        metadata: dict[str, str],
        part_bytes: int,
        *,
        spill_prefix: str,
    ) -> None:
        self._client, self._bucket, self.key, self._metadata = client, bucket, key, metadata
        self._part_bytes = max(part_bytes, S3_MIN_PART_BYTES)
        self._spill_prefix = spill_prefix
        self._buffer = bytearray()
        self._upload_id: str | None = None
        self._created_here = False
        self._parts: list[dict[str, Any]] = []
        self._spills: list[str] = []  # temporary objects read back, deleted once the report no longer needs them
        self._closed = False  # the finished report is already in S3 (an earlier try of this attempt closed it)
        self.lines = 0
        self.version_id: str | None = None

    def __enter__(self) -> RejectsWriter:
        return self

    def __exit__(self, exc_type: object, *_: object) -> None:
        if exc_type is not None:
            self.abort()

    def add(self, ref: RecordRef, reason: str, raw: str) -> None:
        """Append one report line: where the record is, why it was rejected, and the record itself."""
        self.lines += 1
        if self._closed:  # the report already holds this line
            return
        entry = {ref[0]: ref[1], "reason": reason, "record": raw}
        self._buffer += json.dumps(entry, ensure_ascii=False).encode() + b"\n"
        if len(self._buffer) >= self._part_bytes:
            self._upload_part()

    def suspend(self, tag: str) -> dict[str, Any]:
        """Make everything added so far durable for a later invocation; return the state to resume from."""
        if self._closed:
            return {"lines": self.lines, "closed": True, "version_id": self.version_id}
        spill = None
        if self._buffer:
            if len(self._buffer) >= S3_MIN_PART_BYTES:
                self._upload_part()
            else:
                spill = f"{self._spill_prefix}{hashlib.sha256(self.key.encode()).hexdigest()[:32]}/{tag}.jsonl"
                self._client().put_object(Bucket=self._bucket, Key=spill, Body=bytes(self._buffer))
        return {"lines": self.lines, "upload_id": self._upload_id, "parts": list(self._parts), "spill": spill}

    def seal(self, tag: str) -> dict[str, Any]:
        """Make the whole report durable before the chain's end is recorded (as :meth:`suspend` does), and keep it
        to close now. The state names every temporary object this report was carried in: they are deleted after
        the final write, by this invocation or by a retry that closes the report from the state."""
        state = self.suspend(tag)
        if state.get("spill"):
            self._spills.append(state["spill"])
        return {**state, "discard": list(self._spills)} if self._spills else state

    def resume(self, state: Mapping[str, Any]) -> None:
        """Carry on from :meth:`suspend`'s state (the report so far stays where the earlier invocation put it)."""
        self.lines = int(state.get("lines", 0))
        if state.get("closed"):
            self._closed, self.version_id = True, state.get("version_id")
            return
        self._upload_id = state.get("upload_id")
        self._parts = [{"PartNumber": int(p["PartNumber"]), "ETag": p["ETag"]} for p in state.get("parts", [])]
        spill = state.get("spill")
        if spill:
            body = self._client().get_object(Bucket=self._bucket, Key=spill)["Body"]
            self._buffer = bytearray(body.read())
            self._spills.append(spill)
        self._spills += [key for key in state.get("discard", []) if key not in self._spills]

    def recognise(self) -> bool:
        """Whether the finished report of this attempt is already in S3 (an earlier try closed it and then failed
        or was stopped before its final write); if so, nothing more is written and :meth:`close` returns it."""
        try:
            head = self._client().head_object(Bucket=self._bucket, Key=self.key)
        except ClientError as exc:
            # Without s3:ListBucket on the key's prefix S3 answers 403, not 404, for a key that does not exist.
            if error_code(exc) in ("404", "NoSuchKey", "NotFound", "403", "AccessDenied"):
                return False
            raise
        if head.get("Metadata") != self._metadata:  # another attempt's or another version's report
            return False
        self._closed, self.version_id = True, head.get("VersionId")
        self._buffer = bytearray()
        return True

    def discard_resumed(self) -> None:
        """Delete the temporary objects read back by :meth:`resume`, once the write that supersedes them (the next
        checkpoint, or the final item) has succeeded."""
        for spill in self._spills:
            try:
                self._client().delete_object(Bucket=self._bucket, Key=spill)
            except Exception as exc:  # a lifecycle rule expires the temporary objects
                log(WARNING, "could not delete a temporary rejects object", key=spill, error=repr(exc))
        self._spills.clear()

    def close(self) -> str | None:
        """Finish the upload (or recognise it finished); return the report key, or None when nothing was rejected.

        Temporary objects are kept: the caller deletes them after its final write (:meth:`discard_resumed`)."""
        if not self.lines:
            return None
        if self._closed:
            return self.key
        if self._upload_id is None:
            response = self._client().put_object(
                Bucket=self._bucket,
                Key=self.key,
                Body=bytes(self._buffer),
                ContentType="application/x-ndjson",
                Metadata=self._metadata,
            )
            self.version_id = response.get("VersionId")
        else:
            if self._buffer or not self._parts:
                self._upload_part()
            if not self._closed:
                self._complete()
        self._closed = True
        return self.key

    def abort(self) -> None:
        """Abandon a multipart upload this invocation started, so no orphaned parts are left behind.

        An upload carried over from an earlier invocation is kept: the retry of this invocation resumes it
        from the last checkpoint (and the bucket's lifecycle rule aborts it if the file is never finished).
        """
        if self._upload_id is not None and self._created_here:
            upload_id, self._upload_id = self._upload_id, None
            try:
                self._client().abort_multipart_upload(Bucket=self._bucket, Key=self.key, UploadId=upload_id)
            except Exception as exc:  # a bucket lifecycle rule cleans up abandoned uploads
                log(WARNING, "could not abort the rejects report upload", key=self.key, error=repr(exc))

    def _complete(self) -> None:
        try:
            response = self._client().complete_multipart_upload(
                Bucket=self._bucket,
                Key=self.key,
                UploadId=self._upload_id,
                MultipartUpload={"Parts": self._parts},
            )
        except ClientError as exc:
            # S3 may answer a repeated CompleteMultipartUpload (a lost response re-sent) with NoSuchUpload.
            if error_code(exc) == "NoSuchUpload" and self.recognise():
                return
            raise
        finally:
            self._upload_id = None  # completed, or failed for good: nothing for abort() to do
        self.version_id = response.get("VersionId")

    def _upload_part(self) -> None:
        if self._upload_id is None:
            self._upload_id = self._client().create_multipart_upload(
                Bucket=self._bucket, Key=self.key, ContentType="application/x-ndjson", Metadata=self._metadata
            )["UploadId"]
            self._created_here = True
        number = len(self._parts) + 1
        try:
            response = self._client().upload_part(
                Bucket=self._bucket,
                Key=self.key,
                UploadId=self._upload_id,
                PartNumber=number,
                Body=bytes(self._buffer),
            )
        except ClientError as exc:
            # Another holder of this attempt (a stale claim that came back) completed the upload meanwhile.
            if error_code(exc) == "NoSuchUpload" and self.recognise():
                return
            raise
        self._parts.append({"PartNumber": number, "ETag": response["ETag"]})
        self._buffer = bytearray()
