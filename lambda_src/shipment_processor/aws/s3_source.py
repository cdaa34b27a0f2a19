"""The S3 object an event announced, read with ranged GETs from any offset and pinned to its version and ETag."""

from __future__ import annotations

import contextlib
from typing import Any

from botocore.exceptions import ClientError

from .clients import error_code


class ObjectMissingError(Exception):
    """The object version named by the event no longer exists."""


class ObjectChangedError(Exception):
    """The object at the key is no longer the one the event announced (an unversioned key overwritten)."""


class S3Source:
    """An object version read with ranged GETs, pinned to the event's version and ETag.

    The ETag is sent as ``If-Match``: in an unversioned bucket, a key overwritten after its event was sent
    answers 412, raised as :class:`ObjectChangedError`, instead of serving the newer body under the old
    identity. A missing object or version raises :class:`ObjectMissingError`.
    """

    def __init__(self, client: Any, bucket: str, key: str, version_id: str | None, etag: str | None) -> None:
        self._client, self.bucket, self.key, self.version_id = client, bucket, key, version_id
        self.etag = etag.strip('"') if etag else None
        self.size: int | None = None
        self._bodies: list[Any] = []

    def open(self, start: int = 0, end: int | None = None) -> Any:
        params: dict[str, Any] = {"Bucket": self.bucket, "Key": self.key}
        if self.version_id:
            params["VersionId"] = self.version_id
        if self.etag:
            params["IfMatch"] = f'"{self.etag}"'
        if start or end is not None:
            if end is not None and end <= start:
                return _EmptyBody()
            params["Range"] = f"bytes={start}-{'' if end is None else end - 1}"
        try:
            response = self._client.get_object(**params)
        except ClientError as exc:
            code = error_code(exc)
            if code in ("NoSuchKey", "NoSuchVersion", "404", "NotFound"):
                raise ObjectMissingError(
                    f"s3://{self.bucket}/{self.key} (version {self.version_id or 'null'}) no longer exists"
                ) from exc
            if code in ("PreconditionFailed", "412"):
                raise ObjectChangedError(
                    f"s3://{self.bucket}/{self.key} was overwritten after this upload's event was sent (its "
                    f"ETag is no longer {self.etag}); the newer upload is processed on its own event"
                ) from exc
            if code == "InvalidRange":  # a range starting at the very end of the object
                return _EmptyBody()
            raise
        if self.size is None:
            content_range = response.get("ContentRange") or ""
            total = content_range.rpartition("/")[2]
            self.size = int(total) if total.isdigit() else int(response.get("ContentLength", 0))
        body = response["Body"]
        self._bodies.append(body)
        return body

    def close(self) -> None:
        """Close every body this source opened (connections go back to the pool)."""
        for body in self._bodies:
            with contextlib.suppress(Exception):
                body.close()
        self._bodies.clear()


class _EmptyBody:
    def read(self, size: int = -1) -> bytes:
        return b""
