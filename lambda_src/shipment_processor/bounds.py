"""Everything the function stores fits the limits AWS enforces and moto does not. Pure; no AWS.

* DynamoDB refuses an item over 400 KB (attribute names included), on every attempt: a metadata item that
  grew past it would leave its file in PROCESSING forever. Every stored string is capped, and the item as a
  whole is fitted under a budget with room to spare.
* S3 refuses a key over 1,024 bytes of UTF-8: the rejects report of an object whose own key is near that
  limit gets a key that is shortened and made unique with a hash of the original.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

MAX_REASON_BYTES = 2048  # one rejection reason (a record with thousands of bad fields lists them all otherwise)
MAX_SAMPLE_BYTES = 512  # one error sample on the metadata item
MAX_ERROR_MESSAGE_BYTES = 4096
ITEM_BUDGET_BYTES = 300_000  # DynamoDB's limit is 400 KB; the rest is headroom for what is added later
S3_KEY_MAX_BYTES = 1024
ELLIPSIS = "…"


def cap(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` UTF-8 bytes, never mid-character, ending in '…' when cut."""
    data = text.encode("utf-8", "surrogatepass")
    if len(data) <= limit:
        return text
    room = limit - len(ELLIPSIS.encode())
    return data[:room].decode("utf-8", "ignore") + ELLIPSIS


def item_size(item: Mapping[str, Any]) -> int:
    """An upper bound of DynamoDB's size of ``item``: names and values in UTF-8, numbers at their maximum."""
    return sum(len(name.encode()) + _value_size(value) for name, value in item.items() if value is not None)


def _value_size(value: Any) -> int:
    if isinstance(value, str):
        return len(value.encode("utf-8", "surrogatepass"))
    if isinstance(value, bool) or value is None:
        return 1
    if isinstance(value, int | float):
        return 21
    if isinstance(value, Mapping):
        return 3 + sum(1 + len(k.encode()) + _value_size(v) for k, v in value.items() if v is not None)
    return 3 + sum(1 + _value_size(v) for v in value)


def fit_item(item: dict[str, Any], budget: int = ITEM_BUDGET_BYTES) -> dict[str, Any]:
    """``item`` with error samples dropped (last first), then the error message cut, until it fits ``budget``.

    Every string the processor stores is already capped, so only a pathological combination gets here; the
    file must still reach a final state rather than fail its final write forever.
    """
    fitted = dict(item)
    samples = list(fitted.get("error_samples") or [])
    while item_size(fitted) > budget and samples:
        samples.pop()
        fitted["error_samples"] = samples or None
    if item_size(fitted) > budget and fitted.get("error_message"):
        fitted["error_message"] = cap(fitted["error_message"], 256)
    return fitted


def version_tag(version_id: str | None, identity: str) -> str:
    """What names an object version in its rejects report key: the S3 version id, or in an unversioned
    bucket ``null-`` and a hash of the upload's identity (its sequencer), so overwrites never share a report."""
    if version_id:
        return version_id
    return "null-" + hashlib.sha256(identity.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def rejects_key(prefix: str, key: str, tag: str) -> str:
    """The rejects report key of one object version: ``<prefix><key>.<tag>.errors.jsonl``, within 1,024 bytes.

    ``tag`` names the version (its S3 version id), so a report never mixes versions. When the whole would be
    too long, the original key is shortened and followed by 16 hex digits of its SHA-256: still unique, still
    starting with the shipper's prefix, and stored on the metadata item, so it is found from there.
    """
    if len(tag) > 64 or not tag.isascii():  # S3 version ids are short ASCII; anything else is hashed
        tag = hashlib.sha256(tag.encode("utf-8", "surrogatepass")).hexdigest()[:32]
    suffix = f".{tag}.errors.jsonl"
    full = f"{prefix}{key}{suffix}"
    if len(full.encode()) <= S3_KEY_MAX_BYTES:
        return full
    digest = "~" + hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    room = S3_KEY_MAX_BYTES - len(f"{prefix}{digest}{suffix}".encode())
    shortened = key.encode("utf-8", "surrogatepass")[: max(room, 0)].decode("utf-8", "ignore")
    return f"{prefix}{shortened}{digest}{suffix}"
