"""Parse + validate one file as a lazy stream of results. Pure: no AWS, no clock, no global state.

This is the function a benchmark or another runtime can drive directly::

    with open("shipments.csv.gz", "rb") as body:
        for result in stream_results(body, "incoming/acme/shipments.csv.gz", Limits(), datetime.now(UTC)):
            ...
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from typing import NamedTuple

from .config import Limits
from .formats import (
    BytesSource,
    FileError,
    Readable,
    RecordReader,
    RecordRef,
    ResumePoint,
    Source,
    StreamStats,
    preview,
)
from .profiles import Mapper, Profile
from .validation import Invalid, ShipmentUpdate, validate_record

__all__ = [
    "Accepted",
    "FileError",
    "Rejected",
    "Result",
    "ResultStream",
    "ResumePoint",
    "StreamStats",
    "describe_ref",
    "stream_results",
]


class Accepted(NamedTuple):
    """A record that passed validation, normalised and ready to store (a NamedTuple: one is built per record)."""

    ref: RecordRef
    update: ShipmentUpdate


class Rejected(NamedTuple):
    """A record that did not pass, with the reason and its raw text (at most 1 KB) for the rejects report."""

    ref: RecordRef
    reason: str
    raw: str


Result = Accepted | Rejected


def stream_results(
    body: Readable,
    key: str,
    limits: Limits,
    now: datetime,
    stats: StreamStats | None = None,
    *,
    profile: Profile | None = None,
) -> Iterator[Result]:
    """Yield an Accepted or Rejected result for every record of ``body``, in file order, lazily.

    Signature: ``stream_results(body, key, limits, now, stats=None, *, profile=None) -> Iterator[Accepted | Rejected]``.

    * ``body``: binary file-like object; only ``body.read(n)`` is called, with ``0 < n <= 64 KiB``, so memory
      stays constant (one chunk plus one record) whatever the file size. It may be gzip-compressed.
    * ``key``: the object key, only used for format detection (``.csv``, ``.json``, ``.jsonl``/``.ndjson``,
      optional ``.gz``); unknown suffixes are sniffed from the first bytes.
    * ``limits``: size limits (:class:`~shipment_processor.config.Limits`).
    * ``now``: timezone-aware processing time; a record more than 24 h after it is rejected.
    * ``stats``: optional :class:`StreamStats`, filled in as the stream advances (format, compression, bytes).
    * ``profile``: the shipper's :class:`~shipment_processor.profiles.Profile`, if it has one: its dialect and
      encoding are read, its limits apply, and its mapping runs between parsing and validation.

    Raises :class:`FileError` when the file as a whole is unusable (results already yielded stay valid), and
    ``StreamReadError`` when ``body.read`` itself fails. Every record yields exactly one result, so accepted +
    rejected = total by construction.
    """
    return iter(ResultStream(BytesSource(body), key, limits, now, stats, profile=profile))


class ResultStream:
    """:func:`stream_results` over a :class:`Source`, from the start or from a :class:`ResumePoint`.

    ``records_before`` is how many records earlier invocations read (MAX_RECORDS counts the whole file). After
    any result, :meth:`resume_point` says where the next record starts. With a ``profile``, ``limits`` are
    tightened by it (ProfileError if it would loosen them) and ``mapper`` is its mapping step.
    """

    def __init__(
        self,
        source: Source,
        key: str,
        limits: Limits,
        now: datetime,
        stats: StreamStats | None = None,
        *,
        resume: ResumePoint | None = None,
        records_before: int = 0,
        out_of_time: Callable[[], bool] | None = None,
        profile: Profile | None = None,
    ) -> None:
        self.mapper: Mapper | None = None
        if profile is not None:
            limits = profile.effective_limits(limits)
            self.mapper = profile.mapper(now)
            self._reader = RecordReader(
                source, key, limits, stats, resume, out_of_time=out_of_time, dialect=profile.dialect
            )
        else:
            self._reader = RecordReader(source, key, limits, stats, resume, out_of_time=out_of_time)
        self._limits, self._now, self._count = limits, now, records_before

    def resume_point(self) -> ResumePoint | None:
        """Where the record after the last result starts (None when nothing can follow)."""
        return self._reader.resume_point()

    def __iter__(self) -> Iterator[Result]:
        limits, now, stats, mapper = self._limits, self._now, self._reader.stats, self.mapper
        count = self._count
        for record in self._reader:
            count += 1
            if count + stats.blank_lines > limits.max_records:
                raise FileError(
                    f"file has more than {limits.max_records} records (MAX_RECORDS; blank lines count too)"
                    if stats.blank_lines
                    else f"file has more than {limits.max_records} records (MAX_RECORDS)"
                )
            if record.problem is not None or record.pairs is None:
                yield Rejected(record.ref, record.problem or "record could not be read", preview(record.raw))
                continue
            pairs = record.pairs
            if mapper is not None:
                mapped, problem = mapper.apply(pairs)
                if mapped is None:
                    yield Rejected(record.ref, problem or "record could not be mapped", preview(record.raw))
                    continue
                pairs = mapped
            outcome = validate_record(pairs, now)
            if isinstance(outcome, Invalid):
                yield Rejected(record.ref, outcome.reason, preview(record.raw))
            else:
                yield Accepted(record.ref, outcome)


def describe_ref(ref: RecordRef) -> str:
    """Human form of a record reference: ``line 7`` or ``index 3``."""
    return f"{ref[0]} {ref[1]}"
