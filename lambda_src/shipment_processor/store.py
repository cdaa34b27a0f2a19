"""AWS access for one process: the clients, created once and reused, and the adapters of the aws/ sub-package
handed out over them (the object source, rejects reports, the metadata table, the events writers, Invoke and
EventBridge). Pacing and the direct transport are shared by every file the process handles.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from logging import WARNING
from typing import Any

from .aws import notify
from .aws.clients import Backoff, client_config, shared_session
from .aws.direct_write import DirectTransport, UnsupportedProxyError
from .aws.events import EventWriter, PipelinedWriter, SdkEvents
from .aws.metadata import MetadataTable
from .aws.rejects import REPORT_PART_BYTES, RejectsWriter
from .aws.s3_source import S3Source
from .config import Settings
from .logs import log
from .pacing import Pacer


class Store:
    """AWS access for one process. Clients are created on first use and reused (they honour AWS_ENDPOINT_URL)."""

    def __init__(
        self,
        settings: Settings,
        *,
        s3: Any = None,
        dynamodb: Any = None,
        backoff: Backoff | None = None,
        report_part_bytes: int = REPORT_PART_BYTES,
        clients: Mapping[str, Any] | None = None,
    ) -> None:
        self.settings = settings
        self.backoff = backoff or Backoff()
        self.report_part_bytes = report_part_bytes
        self._clients: dict[str, Any] = {k: v for k, v in (("s3", s3), ("dynamodb", dynamodb)) if v is not None}
        self._clients.update(clients or {})
        self._lock = threading.Lock()
        self._direct: DirectTransport | None = None
        self._pacers: dict[str, Pacer] = {}
        self._proxy_noted = False
        self.metadata_table = MetadataTable(lambda: self.client("dynamodb"), settings.metadata_table)

    def warm(self, services: tuple[str, ...]) -> None:
        """Create the clients of ``services`` now (an init phase gets its CPU before the timeout starts)."""
        for service in services:
            self.client(service)

    def client(self, service: str) -> Any:
        """The process-wide client for ``service``, created on first use."""
        with self._lock:
            if service not in self._clients:
                self._clients[service] = shared_session().client(service, config=client_config(self.settings))
            return self._clients[service]

    # --- S3 --------------------------------------------------------------------------------------------------

    def object_source(self, bucket: str, key: str, version_id: str | None, etag: str | None) -> S3Source:
        """The object version of an event, readable from any offset (a :class:`~.formats.Source`)."""
        return S3Source(self.client("s3"), bucket, key, version_id, etag)

    def rejects_report(self, bucket: str, key: str, metadata: Mapping[str, str], spill_prefix: str) -> RejectsWriter:
        """A writer for the rejects report at ``key`` (nothing is uploaded unless a line is added)."""
        return RejectsWriter(
            lambda: self.client("s3"), bucket, key, dict(metadata), self.report_part_bytes, spill_prefix=spill_prefix
        )

    def rejects_writer(self, bucket: str, key: str, metadata: Mapping[str, str]) -> RejectsWriter:
        """A writer for a report that is written in one invocation (no parts carried to another)."""
        return self.rejects_report(bucket, key, metadata, f"{self.settings.rejects_prefix}.partial/")

    # --- Lambda and EventBridge ----------------------------------------------------------------------------

    def invoke_async(self, function: str, payload: Mapping[str, Any]) -> None:
        """Hand ``payload`` to a new asynchronous invocation of ``function`` (Lambda queues it and retries it)."""
        notify.invoke_async(self.client("lambda"), function, payload)

    def put_event(self, source: str, detail_type: str, detail: Mapping[str, Any], resources: list[str]) -> None:
        """One event on the account's default EventBridge bus; entries EventBridge reports as failed are retried."""
        notify.put_event(
            self.client("events"),
            self.backoff,
            source=source,
            detail_type=detail_type,
            detail=detail,
            resources=resources,
        )

    # --- events table --------------------------------------------------------------------------------------

    def event_writer(
        self, source_file: str, source_version: str, *, deadline: float | None = None
    ) -> EventWriter | PipelinedWriter:
        """A batching, concurrent writer of accepted updates for one file, on the path ``EVENTS_WRITE_PATH`` picks.

        With a ``deadline`` (monotonic), the writer neither waits nor sends past it: what it has not stored by
        then is left in :meth:`~PipelinedWriter.unwritten` for the next invocation.
        """
        table, shards = self.settings.events_table, self.settings.write_concurrency
        pacing = {"backoff": self.backoff, "pacer": self.pacer(table), "deadline": deadline}
        transport = self._direct_if_possible() if self.settings.events_write_path == "direct" else None
        if transport is None:
            sink = SdkEvents(lambda: self.client("dynamodb"), table)
            return EventWriter(sink, source_file, source_version, shards=shards, **pacing)
        return PipelinedWriter(transport, table, source_file, source_version, shards=shards, **pacing)

    def _direct_if_possible(self) -> DirectTransport | None:
        """The direct transport, or None (once logged) when a proxy applies that only the SDK path can use."""
        try:
            return self.direct_transport()
        except UnsupportedProxyError as exc:
            with self._lock:
                first, self._proxy_noted = not self._proxy_noted, True
            if first:
                log(WARNING, "events are written through the SDK path: a proxy applies", reason=str(exc))
            return None

    def pacer(self, table: str) -> Pacer:
        """The process-wide pacing of writes to ``table``: what one file learnt of its capacity, the next uses."""
        with self._lock:
            return self._pacers.setdefault(table, Pacer())

    def direct_transport(self) -> DirectTransport:
        """The process-wide transport of the direct path (one pool of kept-alive connections for every file)."""
        client = self.client("dynamodb")
        with self._lock:
            if self._direct is None:
                self._direct = DirectTransport.for_client(client)
            return self._direct
