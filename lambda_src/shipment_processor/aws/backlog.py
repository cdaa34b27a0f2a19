"""Accepted updates the events writer had not stored when the invocation's time ran short, carried to the next.

Why: the records are read (and counted, and their rejects reported) before their writes are confirmed, so the
checkpoint's offset is past them. Under throttling or a stalled connection some writes are still queued when
the writers' deadline comes. They are kept in a temporary S3 object (JSON Lines of put requests, file order per
key) named in the checkpoint; the next invocation queues them ahead of the records it reads, and the object is
deleted once a later checkpoint or the final result no longer names it (the bucket's lifecycle rule expires any
left behind). The writes are keyed puts, so one that was stored after all is stored again unchanged.
"""

from __future__ import annotations

import hashlib
import json
from logging import WARNING
from typing import Any

from ..logs import log


class Backlog:
    """The carried writes of one file: loaded from, and saved to, objects below ``prefix`` in ``bucket``."""

    def __init__(self, s3: Any, bucket: str, prefix: str, filename: str) -> None:
        self._s3, self._bucket = s3, bucket
        self._prefix = f"{prefix}{hashlib.sha256(filename.encode()).hexdigest()[:32]}/"

    def load(self, key: str | None) -> list[str]:
        """The put requests (JSON text) in the object ``key`` names; none for None."""
        if not key:
            return []
        body = self._s3().get_object(Bucket=self._bucket, Key=key)["Body"].read()
        return [line for line in body.decode().splitlines() if line]

    def save(self, requests: list[Any], tag: str) -> str | None:
        """Store ``requests`` (JSON text or put-request dicts) for the next invocation; the object's key, or None
        when there is nothing to carry."""
        if not requests:
            return None
        lines = [r if isinstance(r, str) else json.dumps(r, separators=(",", ":")) for r in requests]
        key = f"{self._prefix}{tag}.events.jsonl"
        self._s3().put_object(Bucket=self._bucket, Key=key, Body="\n".join(lines).encode())
        return key

    def discard(self, key: str | None) -> None:
        """Delete a carried object no checkpoint names any more (a failure is left to the lifecycle rule)."""
        if not key:
            return
        try:
            self._s3().delete_object(Bucket=self._bucket, Key=key)
        except Exception as exc:  # the lifecycle rule expires the temporary objects
            log(WARNING, "could not delete a temporary events object", key=key, error=repr(exc))
