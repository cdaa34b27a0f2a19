"""The invocation journal: every invocation the local Lambda service accepted, as files under the state directory.

Written by the local AWS server (which accepts invocations: S3 events and the Invoke API) and by the Lambda
service (which runs them); read by `upload`, the demo report, `status` and tests. Layout under `<state>/lambda/`:

    journal/<request id>.json     one record per invocation (replaced atomically on every change)
    queue/<ns>-<request id>       an accepted async invocation that has not finished (removed when it has)
    by-root/<trace root>/<id>     index: the invocations of one chain (same X-Ray trace Root)
    by-object/<digest>/<id>       index: the invocations an S3 object version caused (digest of bucket, key, version)
    sync/<id>.request.json        a RequestResponse invocation waiting for the service, and its .response.json

A record (`Record`, JSON):

    request_id, function_name, function_arn, invocation_type (Event | RequestResponse), received_at (ISO UTC),
    trace: {root, parent, lineage, count}       count = this function's invocations in the chain, this one included
    cause: {type: "s3", bucket, key, version_id, event_name, sequencer, duplicate} | {type: "invoke", source_ip}
    event                                       the payload the function receives
    status: queued | running | retrying | succeeded | failed | stopped
    attempts: [{number, started_at, outcome, duration_ms, init_ms, peak_rss_mb, cpu_s, cpu_share, cpu_mode,
                log_stream, error}]
    condition (RetriesExhausted | EventAgeExceeded | RecursiveInvocationLoopDetected), destination,
    destination_message_id, destination_error, finished_at

Reading API: `Journal(state_dir).get(id)`, `.records()`, `.for_object(bucket, key, version)`, `.chain(root)`,
`.wait_for_object(...)` (what `upload` uses: the object's invocations and every invocation their chains caused,
continuations included, all finished).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import hashlib
import json
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from tools.files import write_atomic

TERMINAL = {"succeeded", "failed", "stopped"}


def now_iso() -> str:
    moment = dt.datetime.now(dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def object_digest(bucket: str, key: str, version_id: str | None) -> str:
    return hashlib.sha256(f"{bucket}\0{key}\0{version_id or 'null'}".encode()).hexdigest()[:40]


@dataclasses.dataclass
class Record:
    """One invocation as the journal holds it (a thin view over the JSON document)."""

    data: dict[str, Any]

    @property
    def request_id(self) -> str:
        return str(self.data["request_id"])

    @property
    def status(self) -> str:
        return str(self.data.get("status", "queued"))

    @property
    def finished(self) -> bool:
        return self.status in TERMINAL

    @property
    def attempts(self) -> list[dict[str, Any]]:
        return list(self.data.get("attempts", []))

    @property
    def trace_root(self) -> str:
        return str(self.data.get("trace", {}).get("root", ""))

    @property
    def cause(self) -> dict[str, Any]:
        return dict(self.data.get("cause", {}))

    @property
    def event(self) -> Any:
        return self.data.get("event")

    @property
    def peak_rss_mb(self) -> float:
        return max((float(a.get("peak_rss_mb") or 0) for a in self.attempts), default=0.0)

    @property
    def cpu_modes(self) -> set[str]:
        return {str(a.get("cpu_mode")) for a in self.attempts if a.get("cpu_mode")}


class Journal:
    """The journal of one local AWS (one state directory)."""

    def __init__(self, state_dir: Path) -> None:
        self.root = state_dir / "lambda"
        self.records_dir = self.root / "journal"
        self.queue_dir = self.root / "queue"
        self.roots_dir = self.root / "by-root"
        self.objects_dir = self.root / "by-object"
        self.sync_dir = self.root / "sync"
        for directory in (self.records_dir, self.queue_dir, self.roots_dir, self.objects_dir, self.sync_dir):
            directory.mkdir(parents=True, exist_ok=True)

    # ------------------------------------------------------------------------------------------ writing

    def _record_path(self, request_id: str) -> Path:
        return self.records_dir / f"{request_id}.json"

    def accept(self, data: dict[str, Any], queue: bool = True) -> Record:
        """Journal a new invocation durably (record, indexes, then the queue marker) before it is acknowledged."""
        data.setdefault("received_at", now_iso())
        data.setdefault("status", "queued")
        data.setdefault("attempts", [])
        record = Record(data)
        path = self._record_path(record.request_id)
        if path.exists():  # idempotent: the same invocation accepted twice is one invocation
            return self.get(record.request_id) or record
        write_atomic(path, json.dumps(data, default=str))
        if record.trace_root:
            root_dir = self.roots_dir / record.trace_root
            root_dir.mkdir(exist_ok=True)
            (root_dir / record.request_id).touch()
        cause = record.cause
        if cause.get("type") == "s3":
            digest_dir = self.objects_dir / object_digest(cause["bucket"], cause["key"], cause.get("version_id"))
            digest_dir.mkdir(exist_ok=True)
            (digest_dir / record.request_id).touch()
        if queue:
            (self.queue_dir / f"{time.time_ns():020d}-{record.request_id}").touch()
        return record

    def update(self, record: Record) -> None:
        write_atomic(self._record_path(record.request_id), json.dumps(record.data, default=str), durable=False)

    def finish(self, record: Record) -> None:
        """Write the terminal record, then drop its queue marker (a restart finds it finished, not pending)."""
        record.data.setdefault("finished_at", now_iso())
        write_atomic(self._record_path(record.request_id), json.dumps(record.data, default=str))
        for marker in self.queue_dir.glob(f"*-{record.request_id}"):
            with contextlib.suppress(FileNotFoundError):
                marker.unlink()

    # ------------------------------------------------------------------------------------------ reading

    def get(self, request_id: str) -> Record | None:
        try:
            return Record(json.loads(self._record_path(request_id).read_text()))
        except (FileNotFoundError, json.JSONDecodeError):
            return None

    def records(self) -> list[Record]:
        """Every record, oldest first."""
        found = [r for p in self.records_dir.glob("*.json") if (r := self.get(p.stem)) is not None]
        return sorted(found, key=lambda r: str(r.data.get("received_at", "")))

    def pending(self) -> list[tuple[str, str]]:
        """(marker name, request id) of every accepted async invocation not finished yet, in arrival order."""
        return [(m.name, m.name.split("-", 1)[1]) for m in sorted(self.queue_dir.iterdir()) if "-" in m.name]

    def _ids(self, directory: Path) -> list[str]:
        return sorted(p.name for p in directory.iterdir()) if directory.is_dir() else []

    def for_object(self, bucket: str, key: str, version_id: str | None) -> list[Record]:
        """The invocations an S3 object version's events caused (duplicates included), oldest first."""
        ids = self._ids(self.objects_dir / object_digest(bucket, key, version_id))
        found = [r for i in ids if (r := self.get(i)) is not None]
        return sorted(found, key=lambda r: str(r.data.get("received_at", "")))

    def chain(self, root: str) -> list[Record]:
        """Every invocation of one trace Root (the first one and everything it caused), oldest first."""
        found = [r for i in self._ids(self.roots_dir / root) if (r := self.get(i)) is not None]
        return sorted(found, key=lambda r: str(r.data.get("received_at", "")))

    def wait_for_object(
        self, bucket: str, key: str, version_id: str | None, timeout_s: float = 300.0, poll_s: float = 0.05
    ) -> list[Record]:
        """Wait until the object version's invocations and all their chains have finished; return them all.

        The server journals an S3 event's invocations inside the request that created the object, and a
        function's own Invoke before answering it, so once the object's records exist nothing can be missed.
        """
        deadline = time.monotonic() + timeout_s
        while True:
            first = self.for_object(bucket, key, version_id)
            everything = self._chains(first)
            if all(r.finished for r in everything):
                return everything
            if time.monotonic() > deadline:
                waiting = [f"{r.request_id} ({r.status})" for r in everything if not r.finished]
                raise TimeoutError(
                    f"s3://{bucket}/{key} ({version_id}): still running after {timeout_s:.0f} s: " + ", ".join(waiting)
                )
            time.sleep(poll_s)

    def _chains(self, records: Iterable[Record]) -> list[Record]:
        seen: dict[str, Record] = {}
        for record in records:
            seen[record.request_id] = record
            if record.trace_root:
                for member in self.chain(record.trace_root):
                    seen.setdefault(member.request_id, member)
        return sorted(seen.values(), key=lambda r: str(r.data.get("received_at", "")))

    def wait_idle(self, timeout_s: float = 300.0, poll_s: float = 0.05) -> None:
        """Wait until no accepted async invocation is pending."""
        deadline = time.monotonic() + timeout_s
        while self.pending():
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(self.pending())} invocation(s) still pending after {timeout_s:.0f} s")
            time.sleep(poll_s)
