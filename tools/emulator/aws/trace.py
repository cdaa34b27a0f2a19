"""X-Ray trace headers as Lambda uses them for recursive loop detection.

Lambda gives every invocation a trace header in `_X_AMZN_TRACE_ID` (`Root=1-<8 hex time>-<24 hex>;Parent=<16
hex>;Sampled=0;Lineage=<hash>:<count>`); the AWS SDKs copy it into the `X-Amzn-Trace-Id` header of every request
the function makes (botocore: `handlers.add_recursion_detection_header`, when `AWS_LAMBDA_FUNCTION_NAME` is set).
A service that receives such a request and invokes a function passes the Root on and counts, per function, how
often the chain has invoked it. Lambda stops a chain "after exceeding 16 invocations" of the same function (AWS
Compute Blog, "Detecting and stopping recursive loops in AWS Lambda functions") unless the function's recursion
config is `Allow`. The Lineage encoding here (`<8 hex of the function ARN's SHA-256>:<count>`, several joined
with `|`) is this emulator's: AWS does not document it, and only this emulator reads it back.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import time
from urllib.parse import unquote

MAX_CHAIN_INVOCATIONS = 16


def new_root() -> str:
    return f"1-{int(time.time()):08x}-{os.urandom(12).hex()}"


def new_parent() -> str:
    return os.urandom(8).hex()


def function_hash(function_arn: str) -> str:
    unqualified = ":".join(function_arn.split(":")[:7])
    return hashlib.sha256(unqualified.encode()).hexdigest()[:8]


@dataclasses.dataclass(frozen=True)
class TraceHeader:
    root: str | None = None
    parent: str | None = None
    sampled: str | None = None
    lineage: dict[str, int] = dataclasses.field(default_factory=dict)

    @classmethod
    def parse(cls, header: str | None) -> TraceHeader:
        if not header:
            return cls()
        fields: dict[str, str] = {}
        for part in unquote(header).split(";"):
            name, _, value = part.strip().partition("=")
            if name:
                fields[name] = value
        lineage: dict[str, int] = {}
        for entry in filter(None, fields.get("Lineage", "").split("|")):
            digest, _, count = entry.rpartition(":")
            if digest and count.isdigit():
                lineage[digest.split(":")[-1]] = int(count)
        return cls(fields.get("Root") or None, fields.get("Parent") or None, fields.get("Sampled"), lineage)

    def count_for(self, function_arn: str) -> int:
        """How often this chain has invoked the function so far."""
        return self.lineage.get(function_hash(function_arn), 0)

    def for_invocation(self, function_arn: str) -> TraceHeader:
        """The header of the next invocation of `function_arn` in this chain (a new Root if there is none)."""
        lineage = dict(self.lineage)
        digest = function_hash(function_arn)
        lineage[digest] = lineage.get(digest, 0) + 1
        return TraceHeader(self.root or new_root(), new_parent(), "0", lineage)

    def header(self) -> str:
        parts = [f"Root={self.root}"] if self.root else []
        if self.parent:
            parts.append(f"Parent={self.parent}")
        parts.append(f"Sampled={self.sampled or '0'}")
        if self.lineage:
            parts.append("Lineage=" + "|".join(f"{h}:{c}" for h, c in self.lineage.items()))
        return ";".join(parts)

    def journal(self, function_arn: str) -> dict[str, object]:
        return {
            "root": self.root,
            "parent": self.parent,
            "header": self.header(),
            "count": self.count_for(function_arn),
        }
