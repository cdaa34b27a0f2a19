"""Pure validation of one shipment record against the record contract (docs/design.md, "Record contract").

A record arrives as the ``(name, value)`` pairs the parser read, in file order, so duplicate field names can be
reported instead of silently collapsing. Values are ``str`` (JSON numbers keep their source text), ``bool``,
``None`` (JSON null or a blank CSV cell: the field is absent), ``list`` (JSON array), :class:`JsonObject` or
:class:`NonFiniteNumber`. A bad record is a value (:class:`Invalid`) carrying every problem in words a shipper can
act on; nothing here raises for bad data or touches AWS.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from typing import NamedTuple

STATUSES: tuple[str, ...] = (
    "CREATED",
    "PICKED_UP",
    "IN_TRANSIT",
    "OUT_FOR_DELIVERY",
    "DELIVERED",
    "DELAYED",
    "EXCEPTION",
    "RETURNED",
    "CANCELLED",
)
REQUIRED_FIELDS: tuple[str, ...] = ("shipment_id", "status", "timestamp")
# Attribute names the processor writes on every stored update; a record may not override them.
RESERVED_FIELDS = frozenset({"event_key", "source_file", "source_version", "record_ref"})
MAX_OPTIONAL_FIELDS = 32
MAX_FIELD_BYTES = 1024
MAX_FIELD_NAME_BYTES = 255
MAX_FUTURE = timedelta(hours=24)

_STATUS_SET = frozenset(STATUSES)
_STATUS_LIST = ", ".join(STATUSES)
_SHIPMENT_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_STATUS_SEPARATORS = re.compile(r"[\s-]+", re.ASCII)
_TIMESTAMP = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?"
    r"(?:(?P<zulu>[Zz])|(?P<sign>[+-])(?P<oh>\d{2}):?(?P<om>\d{2}))?",
    re.ASCII,  # \d would also match full-width and Arabic-Indic digits; the contract is ASCII
)
_CANONICAL_UTC = re.compile(r"([0-9]{4}-[0-9]{2}-[0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})Z")
_REQUIRED_SET = frozenset(REQUIRED_FIELDS)
_TIMESTAMP_EXAMPLE = "e.g. 2026-03-01T14:30:00Z or 2026-03-01T14:30:00+01:00"


class JsonObject(list):  # type: ignore[type-arg]
    """A JSON object as the list of its ``(name, value)`` pairs (the parser's ``object_pairs_hook``)."""


class NonFiniteNumber(str):
    """``NaN``, ``Infinity`` or ``-Infinity``: accepted by Python's json module, but not valid JSON."""


class ShipmentUpdate(NamedTuple):
    """A valid shipment update, normalised: status upper-case, timestamp in UTC with a ``Z``.

    A NamedTuple rather than a frozen dataclass: one is built per record, and a frozen dataclass's ``__init__``
    (an ``object.__setattr__`` call per field) costs about four times as much.
    """

    shipment_id: str
    status: str
    timestamp: str
    fields: tuple[tuple[str, str], ...] = ()

    @property
    def event_key(self) -> str:
        """Sort key of the events table: ``<UTC timestamp>#<STATUS>``, the timestamp with a fixed 9-digit fraction.

        Fixed width makes key order time order, so "latest status = newest key first" holds within a second too:
        with the plain form, ``...:00Z`` would sort after ``...:00.5Z`` ('Z' > '.'). Nine digits is the most the
        contract accepts, so two different instants never share a key.
        """
        seconds, _, fraction = self.timestamp[:-1].partition(".")
        return f"{seconds}.{fraction.ljust(9, '0')}Z#{self.status}"


@dataclass(frozen=True, slots=True)
class Invalid:
    """Why a record was rejected: every problem found, joined with '; '."""

    reason: str


def validate_record(pairs: Iterable[tuple[str, object]], now: datetime) -> ShipmentUpdate | Invalid:
    """Check one record against the record contract; ``now`` is the processing time (for the 24 h rule)."""
    problems: list[str] = []
    seen: dict[str, str] = {}
    required: dict[str, object] = {}
    optional: list[tuple[str, str]] = []
    for raw_name, value in pairs:
        name, name_problem = _NAMES.get(raw_name) or _field_name(raw_name)
        if name in seen:
            spellings = "" if seen[name] == raw_name else f" ('{_show(seen[name])}', '{_show(raw_name)}')"
            problems.append(f"field '{_show(name)}' appears more than once{spellings}")
            continue
        seen[name] = raw_name
        if name in _REQUIRED_SET:
            required[name] = value
            continue
        if name_problem:
            problems.append(name_problem)
            continue
        # Fast path for the common case, plain ASCII text; anything else takes the full check below.
        if value.__class__ is str and value.isascii() and len(value) <= MAX_FIELD_BYTES:  # type: ignore[union-attr]
            text = value.strip()  # type: ignore[union-attr]
            if text:
                optional.append((name, text))
            continue
        problem, text = _optional_value(name, value)
        if problem:
            problems.append(problem)
        elif text is not None:
            optional.append((name, text))

    shipment_id = _required_text("shipment_id", required, problems)
    if shipment_id is not None and not _SHIPMENT_ID.fullmatch(shipment_id):
        if len(shipment_id) > 64:
            problems.append(
                f"shipment_id '{_show(shipment_id)}' is {len(shipment_id)} characters; at most 64 are allowed"
            )
        else:
            problems.append(f"shipment_id '{_show(shipment_id)}' may only contain A-Z, a-z, 0-9, '_' and '-'")
    status = _required_text("status", required, problems)
    if status is not None and status not in _STATUS_SET:
        # ASCII first: str.upper() turns a dotless i (U+0131) into 'I' and would accept "picked_up" spelt with it.
        normalised = _STATUS_SEPARATORS.sub("_", status).upper() if status.isascii() else ""
        if normalised in _STATUS_SET:
            status = normalised
        else:
            problems.append(f"status '{_show(status)}' is not one of {_STATUS_LIST}")
    timestamp = _required_text("timestamp", required, problems)
    if timestamp is not None:
        timestamp = _timestamp(timestamp, now, problems)
    if len(optional) > MAX_OPTIONAL_FIELDS:
        problems.append(f"record has {len(optional)} optional fields; at most {MAX_OPTIONAL_FIELDS} are allowed")
    if problems:
        return Invalid("; ".join(problems))
    assert shipment_id is not None and status is not None and timestamp is not None  # narrows the types for the checker
    return ShipmentUpdate(shipment_id, status, timestamp, tuple(optional))


# Field names repeat on every record of a file: their normalised form and any problem are computed once.
_NAMES: dict[str, tuple[str, str | None]] = {}
_NAMES_MAX = 4096  # entries of at most _NAME_CACHE_CHARS characters: a bounded cache whatever the files hold
_NAME_CACHE_CHARS = 64


def _field_name(raw_name: str) -> tuple[str, str | None]:
    name = raw_name.strip().lower()
    entry = (name, None if name in _REQUIRED_SET else _name_problem(name))
    if len(raw_name) <= _NAME_CACHE_CHARS and len(_NAMES) < _NAMES_MAX:
        _NAMES[raw_name] = entry
    return entry


def _required_text(name: str, required: dict[str, object], problems: list[str]) -> str | None:
    if name not in required:
        problems.append(f"missing required field '{name}'")
        return None
    value = required[name]
    if value.__class__ is str:
        text = value.strip()  # type: ignore[union-attr]
        if text:
            return text
    if value is None or (isinstance(value, str) and not isinstance(value, NonFiniteNumber) and not value.strip()):
        problems.append(f"required field '{name}' is empty")
        return None
    if not isinstance(value, str) or isinstance(value, NonFiniteNumber):
        problems.append(f"{name} must be text, got {_json_type(value)}")
        return None
    return value.strip()


def _name_problem(name: str) -> str | None:
    """Why an optional field's (normalised) name is not allowed, or None."""
    if not name:
        return "a field has an empty name"
    if not _utf8_ok(name):
        return f"field name '{_show(name)}' contains an unpaired surrogate escape (\\ud800-\\udfff)"
    if len(name.encode()) > MAX_FIELD_NAME_BYTES:
        return f"field name '{_show(name)}' is longer than {MAX_FIELD_NAME_BYTES} bytes"
    if name in RESERVED_FIELDS:
        return f"field '{name}' is reserved for the processor's own attributes; rename it"
    return None


def _optional_value(name: str, value: object) -> tuple[str | None, str | None]:
    """Return (problem, text) for the value of an optional field; text None means the field is absent."""
    if value is None:
        return None, None
    if isinstance(value, NonFiniteNumber):
        return f"field '{_show(name)}' is {value}; NaN and Infinity are not valid JSON numbers", None
    if isinstance(value, bool):
        return None, "true" if value else "false"
    if not isinstance(value, str):
        return (
            f"field '{_show(name)}' is {_json_type(value)}; optional fields must be text, numbers or booleans",
            None,
        )
    text = value.strip()
    if not text:
        return None, None
    if not _utf8_ok(text):
        return f"field '{_show(name)}' contains an unpaired surrogate escape (\\ud800-\\udfff)", None
    size = len(text.encode())
    if size > MAX_FIELD_BYTES:
        return f"field '{_show(name)}' is {size} bytes; at most {MAX_FIELD_BYTES} are allowed", None
    return None, text


def _timestamp(value: str, now: datetime, problems: list[str]) -> str | None:
    fast = _CANONICAL_UTC.fullmatch(value)
    if (
        fast is not None
        and fast[2] < "24"
        and fast[3] < "60"
        and fast[4] < "60"
        and _real_date(fast[1])
        and value[:19] <= _latest_second(now)
    ):
        return value  # already canonical UTC, a real moment, not in the future: what the full path returns
    match = _TIMESTAMP.fullmatch(value)
    if match is None:
        problems.append(f"timestamp '{_show(value)}' is not ISO 8601 with an offset ({_TIMESTAMP_EXAMPLE})")
        return None
    if not match["zulu"] and not match["sign"]:
        problems.append(f"timestamp '{_show(value)}' has no UTC offset; add 'Z' or an offset such as +01:00")
        return None
    year, month, day, hour, minute, second, fraction = match.groups()[:7]
    offset = timedelta(0)
    if match["sign"]:
        if int(match["oh"]) > 23 or int(match["om"]) > 59:
            problems.append(f"timestamp '{_show(value)}' has an offset outside -23:59..+23:59")
            return None
        offset = timedelta(hours=int(match["oh"]), minutes=int(match["om"]))
        if match["sign"] == "-":
            offset = -offset
    fraction = (fraction or "").rstrip("0")
    try:
        local = datetime(
            int(year),
            int(month),
            int(day),
            int(hour),
            int(minute),
            int(second or 0),
            int(fraction[:6].ljust(6, "0")),
            tzinfo=timezone(offset),
        )
        utc = local.astimezone(UTC)
    except (ValueError, OverflowError) as exc:
        problems.append(f"timestamp '{_show(value)}' is not a real date/time: {exc}")
        return None
    if utc > now + MAX_FUTURE:
        limit = f"{now.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}"
        problems.append(f"timestamp '{_show(value)}' is more than 24 h after the processing time {limit}")
        return None
    return (
        f"{utc.year:04d}-{utc.month:02d}-{utc.day:02d}T{utc.hour:02d}:{utc.minute:02d}:{utc.second:02d}"
        f"{'.' + fraction if fraction else ''}Z"
    )


@functools.lru_cache(maxsize=4096)
def _real_date(text: str) -> bool:
    """``YYYY-MM-DD`` (ASCII digits) names a day that exists."""
    try:
        date(int(text[:4]), int(text[5:7]), int(text[8:10]))
    except ValueError:
        return False
    return True


_latest: tuple[datetime, str] | None = None


def _latest_second(now: datetime) -> str:
    """``YYYY-MM-DDTHH:MM:SS`` of now + 24 h in UTC, cut to the second; cached for the ``now`` of one file.

    A timestamp with whole seconds is after now + 24 h exactly when its text sorts after this one.
    """
    global _latest  # noqa: PLW0603 - a one-entry cache: every record of a file has the same ``now``
    cached = _latest
    if cached is not None and cached[0] is now:
        return cached[1]
    limit = (now + MAX_FUTURE).astimezone(UTC)
    text = f"{limit.year:04d}-{limit.month:02d}-{limit.day:02d}T{limit.hour:02d}:{limit.minute:02d}:{limit.second:02d}"
    _latest = (now, text)
    return text


def _json_type(value: object) -> str:
    if isinstance(value, NonFiniteNumber):
        return f"the non-JSON number {value}"
    if isinstance(value, bool):
        return "a JSON boolean"
    if isinstance(value, JsonObject):
        return "a JSON object"
    if isinstance(value, list):
        return "a JSON array"
    return type(value).__name__  # pragma: no cover - parsers only produce the types above


def _utf8_ok(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def _show(value: str, limit: int = 80) -> str:
    """Quote-safe, bounded rendering of a value inside a message."""
    shown = value if len(value) <= limit else value[:limit] + "…"
    return shown.encode("utf-8", "backslashreplace").decode()
