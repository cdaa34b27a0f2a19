"""Where the function finds shipper profiles: one S3 object Terraform writes, read with a short cache.

The object (``PROFILES_BUCKET``/``PROFILES_KEY``) is ``{"format": 1, "profiles": {"<shipper>": {...}}}``. It is
fetched at most once per :data:`TTL_S` per process, with a conditional GET (``If-None-Match`` the last ETag), so
an unchanged object costs a 304 and a changed one reaches the next file within ``TTL_S`` seconds, with no
redeploy. A file is read with the profile that was current when its first segment started: later segments of the
same attempt use the copy pinned in the checkpoint, so a change never splits one file between two versions.

A bad profile is not a crash: :meth:`ProfileStore.resolve` returns its error, and the processor fails that
shipper's files with it (FAILED, naming the error). An AWS error other than "not there" propagates, so Lambda
retries the invocation, as for any other transient failure.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from logging import ERROR, INFO
from typing import Any

from botocore.exceptions import ClientError

from ..config import Limits
from ..logs import log
from ..profiles import Profile, ProfileError, parse_profile, profile_version

TTL_S = 30.0
DOCUMENT_FORMAT = 1


@dataclass(frozen=True, slots=True)
class Resolved:
    """The profile a file is read with (None: the contract as it stands), or why the file cannot be read."""

    profile: Profile | None = None
    error: str | None = None
    name: str | None = None
    version: str | None = None

    def pinned(self) -> dict[str, Any] | None:
        """What a checkpoint keeps so later segments read the file with the same profile."""
        if self.profile is None:
            return None
        return {"name": self.profile.name, "document": json.dumps(self.profile.document, sort_keys=True)}

    def item_fields(self) -> dict[str, str]:
        """``profile`` and ``profile_version`` for the metadata item and the outcome event (none without one)."""
        return {"profile": self.name, "profile_version": self.version} if self.name and self.version else {}


class ProfileStore:
    """Shipper profiles from one S3 object, cached for :data:`TTL_S` and re-validated with a conditional GET."""

    def __init__(
        self,
        client: Callable[[], Any],
        bucket: str,
        key: str,
        *,
        ttl_s: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client, self._bucket, self._key = client, bucket, key
        self._ttl_s, self._clock = TTL_S if ttl_s is None else ttl_s, clock
        self._checked_at: float | None = None
        self._etag: str | None = None
        self._documents: Mapping[str, object] = {}
        self._broken: str | None = None  # why the whole object is unusable
        self._parsed: dict[tuple[str, str], Profile | ProfileError] = {}

    @property
    def location(self) -> str:
        return f"s3://{self._bucket}/{self._key}"

    def resolve(self, shipper: str, limits: Limits, pinned: Mapping[str, Any] | None = None) -> Resolved:
        """The profile for ``shipper``'s next file (or the one ``pinned`` by an earlier segment of it)."""
        if pinned:
            name, document = str(pinned["name"]), pinned["document"]
        else:
            self._refresh()
            if self._broken is not None:
                return Resolved(error=self._broken)
            if shipper not in self._documents:
                return Resolved()
            name, document = shipper, self._documents[shipper]
        text = document if isinstance(document, str) else json.dumps(document, sort_keys=True)
        cache_key = (name, text)
        parsed = self._parsed.get(cache_key)
        if parsed is None:
            try:
                parsed = parse_profile(name, document)
            except ProfileError as exc:
                parsed = exc
            if len(self._parsed) > 256:  # profiles change rarely; keep the cache bounded all the same
                self._parsed.clear()
            self._parsed[cache_key] = parsed
        if isinstance(parsed, ProfileError):
            return Resolved(error=f"shipper {parsed}", name=name, version=_version_of(document))
        try:
            parsed.effective_limits(limits)
        except ProfileError as exc:
            return Resolved(error=f"shipper {exc}", name=name, version=parsed.version)
        return Resolved(parsed, name=name, version=parsed.version)

    def _refresh(self) -> None:
        now = self._clock()
        if self._checked_at is not None and now - self._checked_at < self._ttl_s:
            return
        request: dict[str, Any] = {"Bucket": self._bucket, "Key": self._key}
        if self._etag and self._broken is None:
            request["IfNoneMatch"] = self._etag
        try:
            response = self._client().get_object(**request)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in ("304", "NotModified"):
                self._checked_at = now
                return
            if code not in ("NoSuchKey", "404"):
                raise
            self._set_broken(
                f"the shipper profiles object {self.location} does not exist; run terraform apply to write it",
                now,
            )
            return
        body = response["Body"].read()
        self._etag = response.get("ETag")
        self._checked_at = now
        try:
            document = json.loads(body)
            if not isinstance(document, dict) or document.get("format") != DOCUMENT_FORMAT:
                raise ValueError(f"expected an object with format {DOCUMENT_FORMAT}")
            profiles = document.get("profiles")
            if not isinstance(profiles, dict):
                raise ValueError("expected a 'profiles' object")
        except ValueError as exc:
            self._set_broken(f"the shipper profiles object {self.location} is unusable: {exc}", now)
            return
        self._documents, self._broken = profiles, None
        log(INFO, "shipper profiles loaded", location=self.location, etag=self._etag, shippers=len(profiles))

    def _set_broken(self, reason: str, now: float) -> None:
        self._documents, self._broken, self._checked_at, self._etag = {}, reason, now, None
        log(ERROR, "shipper profiles unusable; files are failed until this is fixed", reason=reason)


def _version_of(document: object) -> str | None:
    return profile_version(document) if isinstance(document, Mapping) else None
