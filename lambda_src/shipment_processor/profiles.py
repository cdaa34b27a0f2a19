"""Per-shipper profiles: how one shipper's export maps onto the record contract. Pure: no AWS, no clock.

A profile is a JSON document (Terraform renders one per shipper; see docs/design.md, "Shipper profiles"). It
can name the shipper's columns for the contract fields (by header name, or by position in a header-less CSV),
rename and drop other columns, build the timestamp from two columns, translate the shipper's status codes, read
timestamps in other formats and in a local time zone, and set the CSV dialect, the encoding, extra required
fields and tighter limits.

:func:`parse_profile` checks a document and returns a :class:`Profile`, or raises :class:`ProfileError` naming
every problem. :meth:`Profile.mapper` gives the step that runs between parsing and validation:
``Mapper.apply(pairs)`` turns one record's ``(name, value)`` pairs, as the parser read them, into the pairs the
contract expects (``shipment_id``, ``status``, ``timestamp`` as UTC ISO 8601, other fields renamed), or into the
reason the record is rejected. Validation then runs unchanged on the result.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import tarfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from functools import cache
from importlib import resources
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .config import Limits
from .formats import CONTRACT_COLUMNS, DEFAULT_DIALECT, ENCODINGS, CsvDialect
from .validation import MAX_FUTURE, RESERVED_FIELDS, STATUSES

try:  # python-dateutil bundles the IANA tz data; botocore depends on it, so every Lambda runtime has it
    from dateutil import zoneinfo as dateutil_zoneinfo
except ImportError:  # pragma: no cover
    dateutil_zoneinfo = None  # type: ignore[assignment]

DELIMITERS = (",", ";", "\t", "|")
QUOTES = ('"', "'")
ISO_8601 = "iso8601"
UNIX_SECONDS = "unix_seconds"
UNIX_MILLISECONDS = "unix_milliseconds"
NONEXISTENT_RULES = ("reject", "shift_forward", "shift_backward")
AMBIGUOUS_RULES = ("reject", "earlier", "later")
LIMIT_NAMES = ("max_object_bytes", "max_decompressed_bytes", "max_record_bytes", "max_records")
CONTRACT_FIELDS = CONTRACT_COLUMNS
MAX_LISTED_CODES = 40  # codes listed in an "unmapped status" reason; the rest are counted

_TOP_LEVEL = frozenset(
    {"description", "encoding", "csv", "columns", "rename", "drop", "statuses", "timestamps", "required", "limits"}
)
_FIELD_NAME = re.compile(r"[a-z0-9_][a-z0-9_.-]{0,63}")
_SEPARATORS = re.compile(r"[\s_-]+")
_STRFTIME_DIRECTIVE = re.compile(r"%(.)", re.DOTALL)
_DIRECTIVES: dict[str, str] = {
    "Y": r"(?P<Y>\d{4})",
    "y": r"(?P<y>\d{2})",
    "m": r"(?P<m>\d{1,2})",
    "d": r"(?P<d>\d{1,2})",
    "H": r"(?P<H>\d{1,2})",
    "I": r"(?P<I>\d{1,2})",
    "p": r"(?P<p>[AaPp][Mm])",
    "M": r"(?P<M>\d{2})",
    "S": r"(?P<S>\d{2})",
    "f": r"(?P<f>\d{1,9})",
    "z": r"(?P<z>[Zz]|[+-]\d{2}:?\d{2})",
    "b": r"(?P<b>[A-Za-z]{3})",
    "%": "%",
}
_MONTHS = {
    name: number
    for number, name in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1
    )
}
_ISO_LOCAL = re.compile(
    r"(?P<Y>\d{4})-(?P<m>\d{2})-(?P<d>\d{2})[Tt ](?P<H>\d{2}):(?P<M>\d{2})(?::(?P<S>\d{2})(?:[.,](?P<f>\d{1,9}))?)?"
    r"(?P<z>[Zz]|[+-]\d{2}:?\d{2})?",
    re.ASCII,
)
_UNIX_SECONDS = re.compile(r"(\d{1,11})(?:\.(\d{1,9}))?", re.ASCII)
_UNIX_MILLISECONDS = re.compile(r"\d{1,14}", re.ASCII)


class ProfileError(ValueError):
    """A profile document cannot be used; the message names every problem, in words an operator can act on."""


# --- the parsed profile ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TimestampRule:
    """How the shipper writes times: accepted formats in order, the zone of times without an offset, DST rules."""

    formats: tuple[str, ...] = (ISO_8601,)
    zone: str | None = None
    nonexistent: str = "reject"
    ambiguous: str = "reject"


@dataclass(frozen=True, slots=True)
class Profile:
    """One shipper's checked profile. ``version`` is a content hash: the same document always has the same one."""

    name: str
    version: str
    document: Mapping[str, object] = field(repr=False, compare=False)
    dialect: CsvDialect = DEFAULT_DIALECT
    columns: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # contract field -> source column(s)
    rename: Mapping[str, str] = field(default_factory=dict)  # source column -> field name
    drop: frozenset[str] = frozenset()
    statuses: Mapping[str, str] = field(default_factory=dict)  # normalised code -> contract status
    status_labels: tuple[str, ...] = ()  # the codes as the profile spells them, for reasons
    accept_contract_words: bool = True
    timestamps: TimestampRule = TimestampRule()
    required: tuple[str, ...] = ()
    limits: Mapping[str, int] = field(default_factory=dict)

    def effective_limits(self, limits: Limits) -> Limits:
        """The deployment's limits tightened by the profile's; raise ProfileError for a limit that would loosen."""
        looser = [
            f"limits.{name} {value} is above the deployment's {getattr(limits, name)}"
            for name, value in self.limits.items()
            if value > getattr(limits, name)
        ]
        if looser:
            raise ProfileError(f"profile '{self.name}': " + "; ".join(looser) + " (a profile may only tighten limits)")
        return replace(limits, **self.limits)

    def mapper(self, now: datetime) -> Mapper:
        """The mapping step for one file read with this profile; ``now`` is the processing time (24 h rule)."""
        return Mapper(self, now)

    def describe_columns(self) -> list[tuple[str, str]]:
        """(source, target) for every column the profile names: contract fields, renames and drops."""
        rows = [(" + ".join(_show_ref(ref) for ref in refs), target) for target, refs in self.columns.items()]
        rows += [(_show_ref(ref), target) for ref, target in self.rename.items()]
        rows += [(_show_ref(ref), "(dropped)") for ref in sorted(self.drop)]
        return rows


def parse_profile(name: str, document: object) -> Profile:
    """Check a profile document (a mapping, or its JSON text) and return the profile; raise ProfileError if bad."""
    if isinstance(document, str | bytes):
        try:
            document = json.loads(document)
        except ValueError as exc:
            raise ProfileError(f"profile '{name}' is not valid JSON: {exc}") from None
    if not isinstance(document, Mapping):
        raise ProfileError(f"profile '{name}' must be a JSON object, got {type(document).__name__}")
    problems: list[str] = []
    unknown = sorted(set(document) - _TOP_LEVEL)
    if unknown:
        problems.append(f"unknown setting(s) {', '.join(unknown)} (known: {', '.join(sorted(_TOP_LEVEL))})")
    checker = _Checker(problems)
    dialect = checker.dialect(document.get("csv"), document.get("encoding"))
    positional = not dialect.header
    columns = checker.columns(document.get("columns"), positional)
    rename = checker.rename(document.get("rename"), positional)
    drop = checker.drop(document.get("drop"), positional)
    statuses, labels, accept = checker.statuses(document.get("statuses"))
    timestamps = checker.timestamps(document.get("timestamps"))
    required = checker.required(document.get("required"))
    limits = checker.limits(document.get("limits"))
    used: dict[str, str] = {}
    for target, refs in columns.items():
        for ref in refs:
            checker.claim(used, ref, target)
    for ref, target in rename.items():
        checker.claim(used, ref, target)
    for ref in drop:
        checker.claim(used, ref, "(dropped)")
    targets = list(rename.values())
    for target in sorted({t for t in targets if targets.count(t) > 1 or t in columns}):
        problems.append(f"rename gives more than one column the name '{target}'")
    if problems:
        raise ProfileError(f"profile '{name}' is invalid: " + "; ".join(problems))
    if dialect.header:
        required_columns = tuple(ref for refs in columns.values() for ref in refs)
        dialect = replace(dialect, required_columns=required_columns)
    else:
        dialect = replace(dialect, required_columns=())
    return Profile(
        name=name,
        version=profile_version(document),
        document=document,
        dialect=dialect,
        columns=columns,
        rename=rename,
        drop=drop,
        statuses=statuses,
        status_labels=labels,
        accept_contract_words=accept,
        timestamps=timestamps,
        required=required,
        limits=limits,
    )


def profile_version(document: Mapping[str, object]) -> str:
    """``sha256:<12 hex digits>`` of the document's canonical JSON: equal documents, equal versions."""
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()[:12]


def normalise_code(code: str) -> str:
    """A status code as tables match it: case-folded, with runs of spaces, '_' and '-' read as one '_'."""
    return _SEPARATORS.sub("_", code.strip()).casefold()


class _Checker:
    """Reads each section of a profile document, collecting every problem instead of stopping at the first."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems

    def section(self, value: object, name: str) -> Mapping[str, object]:
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            self.problems.append(f"{name} must be an object")
            return {}
        return value

    def unknown(self, section: Mapping[str, object], name: str, known: Iterable[str]) -> None:
        extra = sorted(set(section) - set(known))
        if extra:
            self.problems.append(f"{name}: unknown setting(s) {', '.join(extra)} (known: {', '.join(sorted(known))})")

    def dialect(self, value: object, encoding: object) -> CsvDialect:
        section = self.section(value, "csv")
        self.unknown(section, "csv", ("delimiter", "quote", "header"))
        delimiter = section.get("delimiter", ",")
        if delimiter not in DELIMITERS:
            self.problems.append(f"csv.delimiter {delimiter!r} is not one of ',', ';', tab ('\\t') or '|'")
            delimiter = ","
        quote = section.get("quote", '"')
        if quote not in QUOTES:
            self.problems.append(f"csv.quote {quote!r} must be '\"' or \"'\"")
            quote = '"'
        header = section.get("header", True)
        if not isinstance(header, bool):
            self.problems.append("csv.header must be true or false")
            header = True
        encoding = "utf-8" if encoding is None else encoding
        if not isinstance(encoding, str) or encoding.lower() not in ENCODINGS:
            self.problems.append(f"encoding {encoding!r} is not one of {', '.join(ENCODINGS)}")
            encoding = "utf-8"
        return CsvDialect(str(delimiter), str(quote), header, encoding.lower())

    def ref(self, value: object, where: str, positional: bool) -> str | None:
        """A column reference: a header name (lower-cased) or, for a header-less CSV, a 1-based position."""
        if positional:
            if isinstance(value, str) and value.isascii() and value.isdigit():
                value = int(value)
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 10_000:
                self.problems.append(f"{where}: a header-less CSV names columns by position (1, 2, ...), not {value!r}")
                return None
            return str(value)
        if not isinstance(value, str) or not value.strip():
            self.problems.append(f"{where}: a column is named by its header text, not {value!r}")
            return None
        return value.strip().lower()

    def columns(self, value: object, positional: bool) -> dict[str, tuple[str, ...]]:
        section = self.section(value, "columns")
        self.unknown(section, "columns", CONTRACT_FIELDS)
        columns: dict[str, tuple[str, ...]] = {}
        for target in CONTRACT_FIELDS:
            if target not in section:
                if positional:
                    self.problems.append(f"columns.{target}: a header-less CSV must give its position")
                else:
                    columns[target] = (target,)
                continue
            raw = section[target]
            parts = raw if target == "timestamp" and isinstance(raw, list) else [raw]
            if not 1 <= len(parts) <= 2:
                self.problems.append("columns.timestamp: one column, or two (a date and a time)")
                continue
            refs = [self.ref(part, f"columns.{target}", positional) for part in parts]
            if all(refs):
                columns[target] = tuple(ref for ref in refs if ref)
        return columns

    def field_name(self, value: object, where: str) -> str | None:
        if not isinstance(value, str) or not _FIELD_NAME.fullmatch(value):
            self.problems.append(f"{where}: {value!r} is not a field name (1-64 of a-z, 0-9, '_', '-', '.')")
            return None
        if value in CONTRACT_FIELDS or value in RESERVED_FIELDS:
            self.problems.append(f"{where}: '{value}' is reserved (map contract fields under columns)")
            return None
        return value

    def rename(self, value: object, positional: bool) -> dict[str, str]:
        renames: dict[str, str] = {}
        for source, target in self.section(value, "rename").items():
            ref = self.ref(source, f"rename[{source!r}]", positional)
            name = self.field_name(target, f"rename[{source!r}]")
            if ref and name:
                renames[ref] = name
        return renames

    def drop(self, value: object, positional: bool) -> frozenset[str]:
        if value is None:
            return frozenset()
        if not isinstance(value, list):
            self.problems.append("drop must be a list of columns")
            return frozenset()
        return frozenset(ref for item in value if (ref := self.ref(item, "drop", positional)))

    def claim(self, used: dict[str, str], ref: str, target: str) -> None:
        if ref in used and used[ref] != target:
            self.problems.append(f"column {_show_ref(ref)} is used twice (for {used[ref]} and {target})")
        used.setdefault(ref, target)

    def statuses(self, value: object) -> tuple[dict[str, str], tuple[str, ...], bool]:
        section = self.section(value, "statuses")
        self.unknown(section, "statuses", ("map", "accept_contract_words"))
        table = self.section(section.get("map"), "statuses.map")
        accept = section.get("accept_contract_words", not table)
        if not isinstance(accept, bool):
            self.problems.append("statuses.accept_contract_words must be true or false")
            accept = True
        mapped: dict[str, str] = {}
        labels: list[str] = []
        for code, status in table.items():
            key = normalise_code(code)
            target = normalise_code(status).upper() if isinstance(status, str) else None
            if not key:
                self.problems.append("statuses.map has an empty code")
            elif target not in STATUSES:
                self.problems.append(f"statuses.map[{code!r}]: {status!r} is not one of {', '.join(STATUSES)}")
            elif key in mapped and mapped[key] != target:
                self.problems.append(f"statuses.map: {code!r} is listed twice (codes ignore case and spaces)")
            else:
                if key not in mapped:
                    labels.append(code.strip())
                mapped[key] = target
        return mapped, tuple(labels), accept

    def timestamps(self, value: object) -> TimestampRule:
        section = self.section(value, "timestamps")
        self.unknown(section, "timestamps", ("formats", "zone", "nonexistent", "ambiguous"))
        formats = section.get("formats", [ISO_8601])
        if isinstance(formats, str):
            formats = [formats]
        if not isinstance(formats, list) or not formats or not all(isinstance(f, str) for f in formats):
            self.problems.append("timestamps.formats must be a non-empty list of formats")
            formats = [ISO_8601]
        zone = section.get("zone")
        if zone is not None:
            try:
                load_zone(zone)
            except ProfileError as exc:
                self.problems.append(f"timestamps.zone: {exc}")
                zone = None
        for pattern in formats:
            if pattern in (ISO_8601, UNIX_SECONDS, UNIX_MILLISECONDS):
                continue
            try:
                compiled = compile_strftime(pattern)
            except ProfileError as exc:
                self.problems.append(f"timestamps.formats: {exc}")
                continue
            if "z" not in compiled.groupindex and zone is None and "zone" in section:
                continue  # the zone's own problem is already reported
            if "z" not in compiled.groupindex and zone is None:
                self.problems.append(
                    f"timestamps.formats: {pattern!r} has no %z, so the profile must name a zone (timestamps.zone)"
                )
        rules = []
        for name, allowed in (("nonexistent", NONEXISTENT_RULES), ("ambiguous", AMBIGUOUS_RULES)):
            rule = section.get(name, "reject")
            if rule not in allowed:
                self.problems.append(f"timestamps.{name} {rule!r} is not one of {', '.join(allowed)}")
                rule = "reject"
            rules.append(str(rule))
        return TimestampRule(tuple(formats), zone if isinstance(zone, str) else None, rules[0], rules[1])

    def required(self, value: object) -> tuple[str, ...]:
        if value is None:
            return ()
        if not isinstance(value, list):
            self.problems.append("required must be a list of field names")
            return ()
        names = []
        for item in value:
            if item in CONTRACT_FIELDS:
                continue  # always required
            name = self.field_name(item, "required")
            if name:
                names.append(name)
        return tuple(names)

    def limits(self, value: object) -> dict[str, int]:
        section = self.section(value, "limits")
        self.unknown(section, "limits", LIMIT_NAMES)
        limits: dict[str, int] = {}
        for name in LIMIT_NAMES:
            if name not in section:
                continue
            number = section[name]
            if isinstance(number, bool) or not isinstance(number, int) or number < 1:
                self.problems.append(f"limits.{name} must be a whole number of at least 1")
            else:
                limits[name] = number
        return limits


def _show_ref(ref: str) -> str:
    return f"column {ref}" if ref.isdigit() else f"'{ref}'"


# --- time zones and formats -------------------------------------------------------------------------------------


@cache
def load_zone(name: object) -> ZoneInfo:
    """An IANA zone from the system's tz database or, where the runtime has none, the copy python-dateutil bundles."""
    if not isinstance(name, str) or not name or name.startswith(("/", ".")) or ".." in name:
        raise ProfileError(f"{name!r} is not an IANA time zone name such as Europe/Berlin")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        pass
    data = _bundled_zone_data(name)
    if data is None:
        raise ProfileError(f"{name!r} is not an IANA time zone name such as Europe/Berlin")
    return ZoneInfo.from_file(io.BytesIO(data), key=name)


def zone_data_source() -> str:
    """Where :func:`load_zone` finds its zones on this runtime: the system's tz database, or the bundled copy."""
    try:
        ZoneInfo("Europe/Berlin")
    except (ZoneInfoNotFoundError, ValueError):
        return "python-dateutil's bundled copy" if _bundled_zone_data("Europe/Berlin") else "none"
    return "the system's tz database"


def _bundled_zone_data(name: str) -> bytes | None:
    """The TZif data of ``name`` from python-dateutil's bundled tarball (a botocore dependency), if present."""
    if dateutil_zoneinfo is None:  # pragma: no cover - botocore always brings python-dateutil
        return None
    archive = resources.files(dateutil_zoneinfo) / dateutil_zoneinfo.ZONEFILENAME
    try:
        with archive.open("rb") as raw, tarfile.open(fileobj=raw) as tar:
            member = tar.extractfile(name)
            return member.read() if member is not None else None
    except (KeyError, OSError, tarfile.TarError):
        return None


@cache
def compile_strftime(pattern: str) -> re.Pattern[str]:
    """A strftime-style pattern as a regular expression with one named group per directive."""
    parts: list[str] = []
    seen: set[str] = set()
    position = 0
    for match in _STRFTIME_DIRECTIVE.finditer(pattern):
        parts.append(re.escape(pattern[position : match.start()]))
        directive = match[1]
        if directive not in _DIRECTIVES:
            supported = " ".join(f"%{d}" for d in _DIRECTIVES)
            raise ProfileError(f"{pattern!r} uses %{directive}, which is not supported (supported: {supported})")
        if directive in seen and directive != "%":
            raise ProfileError(f"{pattern!r} uses %{directive} twice")
        seen.add(directive)
        parts.append(_DIRECTIVES[directive])
        position = match.end()
    parts.append(re.escape(pattern[position:]))
    if not ({"Y", "y"} & seen and {"m", "b"} & seen and "d" in seen and {"H", "I"} & seen and "M" in seen):
        raise ProfileError(f"{pattern!r} must give at least the year, month, day, hour and minute")
    if ("I" in seen) != ("p" in seen):
        raise ProfileError(f"{pattern!r}: %I (12-hour clock) and %p (AM/PM) go together")
    return re.compile("".join(parts), re.ASCII)


# --- the mapping step ---------------------------------------------------------------------------------------------

Pairs = Sequence[tuple[str, object]]


_KEEP, _DROP, _SID, _STATUS, _DATE, _TIME = range(6)
_TARGET_NAMES = {_SID: "shipment_id", _STATUS: "status", _DATE: "timestamp", _TIME: "timestamp"}
_ABSENT: object = object()
_CACHE_ENTRIES = 4096  # bounded caches: names, codes and hours repeat across a file's records


class Mapper:
    """Turns one record's pairs, as parsed, into contract pairs; ``apply`` returns (pairs, None) or (None, reason).

    Column names are matched as the CSV reader reports them (stripped, lower-case); JSON keys are matched the same
    way. Columns the profile does not name pass through unchanged (header-less: as ``column_<n>``). Per record,
    each field costs one dict lookup: a name's role, a code's status and an hour's UTC offset are cached.
    """

    def __init__(self, profile: Profile, now: datetime) -> None:
        self.profile = profile
        self._by_ref: dict[str, tuple[int, str]] = {}
        for target, refs in profile.columns.items():
            kinds = (_DATE, _TIME) if target == "timestamp" else (_SID if target == "shipment_id" else _STATUS,)
            for kind, ref in zip(kinds, refs, strict=False):
                self._by_ref[ref] = (kind, ref)
        for ref, name in profile.rename.items():
            self._by_ref[ref] = (_KEEP, name)
        for ref in profile.drop:
            self._by_ref[ref] = (_DROP, ref)
        self._roles: dict[str, tuple[int, str]] = {}
        self._positional = not profile.dialect.header
        self._two_part = len(profile.columns.get("timestamp", ())) == 2
        self._times = TimeReader(profile.timestamps, now)
        self._statuses = profile.statuses
        self._codes: dict[str, str | None] = {}
        self._accept_contract = profile.accept_contract_words
        self._translate_status = bool(profile.statuses)
        self._required = profile.required
        self.unmapped: dict[str, int] = {}  # status codes seen that the profile does not map -> times seen

    def _role(self, name: str) -> tuple[int, str]:
        key = name.strip().lower()
        role = self._by_ref.get(key) or (_KEEP, f"column_{key}" if self._positional else name)
        if len(self._roles) < _CACHE_ENTRIES:
            self._roles[name] = role
        return role

    def apply(self, pairs: Pairs) -> tuple[list[tuple[str, object]] | None, str | None]:
        """The contract pairs of one record, or the reason it cannot be mapped."""
        roles = self._roles
        out: list[tuple[str, object]] = []
        append = out.append
        found: list[object] = [_ABSENT] * 6
        for name, value in pairs:
            role = roles.get(name) or self._role(name)
            kind = role[0]
            if kind == _KEEP:
                append((role[1], value))
            elif kind != _DROP:
                if found[kind] is not _ABSENT:
                    return None, (
                        f"record has more than one {_show_ref(role[1])} "
                        f"(the profile reads {_TARGET_NAMES[kind]} from it)"
                    )
                found[kind] = value
        shipment_id, status, date, time = found[_SID], found[_STATUS], found[_DATE], found[_TIME]
        if shipment_id is _ABSENT or status is _ABSENT or (date is _ABSENT and time is _ABSENT):
            return None, self._missing(found)
        problems: list[str] = []
        if self._translate_status and isinstance(status, str):
            mapped = self._codes.get(status)
            status = mapped if mapped is not None else self._status(status, problems) if status.strip() else status
        if not self._two_part and date.__class__ is str and (text := date.strip()):  # type: ignore[union-attr]
            timestamp, problem = self._times.read(text)
            if problem:
                problems.append(problem)
        else:
            timestamp = self._timestamp(None if date is _ABSENT else date, None if time is _ABSENT else time, problems)
        for required in self._required:
            if not any(field == required and value not in (None, "") for field, value in out):
                problems.append(f"missing required field '{required}' (this shipper's profile requires it)")
        if problems:
            return None, "; ".join(problems)
        append(("shipment_id", shipment_id))
        append(("status", status))
        append(("timestamp", timestamp))
        return out, None

    def _missing(self, found: list[object]) -> str:
        missing = []
        for target, refs in self.profile.columns.items():
            kinds = (_DATE, _TIME) if target == "timestamp" else (_SID if target == "shipment_id" else _STATUS,)
            if all(found[kind] is _ABSENT for kind in kinds):
                missing.append(" + ".join(_show_ref(ref) for ref in refs))
        return f"record has no {', '.join(missing)} (the profile reads contract fields from them)"

    def _status(self, code: str, problems: list[str]) -> str:
        mapped = self._codes.get(code, _ABSENT)
        if mapped is _ABSENT:
            key = normalise_code(code)
            mapped = self._statuses.get(key)
            if mapped is None and self._accept_contract and key.upper() in STATUSES:
                mapped = code
            if len(self._codes) < _CACHE_ENTRIES:
                self._codes[code] = mapped  # type: ignore[assignment]
        if mapped is not None:
            return mapped  # type: ignore[return-value]
        self.unmapped[code.strip()] = self.unmapped.get(code.strip(), 0) + 1
        labels = self.profile.status_labels
        known = ", ".join(labels[:MAX_LISTED_CODES]) + (
            f" and {len(labels) - MAX_LISTED_CODES} more" if len(labels) > MAX_LISTED_CODES else ""
        )
        also = f"; the contract's own words ({', '.join(STATUSES)}) are accepted too" if self._accept_contract else ""
        problems.append(f"status '{_show(code)}' is not a code this shipper's profile maps (it maps {known}{also})")
        return code

    def _timestamp(self, date_part: object, time_part: object, problems: list[str]) -> object:
        value = date_part
        if self._two_part:
            if not isinstance(date_part, str) or not date_part.strip():
                return date_part  # empty, or not text: validation names what is wrong
            if not isinstance(time_part, str) or not time_part.strip():
                time_ref = self.profile.columns["timestamp"][1]
                problems.append(f"timestamp has a date but no time ({_show_ref(time_ref)} is empty or not text)")
                return None
            value = f"{date_part.strip()} {time_part.strip()}"
        if not isinstance(value, str) or not value.strip():
            return value  # empty or not text: validation says so
        converted, problem = self._times.read(value.strip())
        if problem:
            problems.append(problem)
        return converted


_EPOCH = datetime(1970, 1, 1)
_HOUR = timedelta(hours=1)


class TimeReader:
    """Reads a timestamp in any of a profile's formats and returns it as UTC ISO 8601 (``...Z``)."""

    def __init__(self, rule: TimestampRule, now: datetime) -> None:
        self.rule = rule
        self._latest = now.astimezone(UTC).replace(tzinfo=None) + MAX_FUTURE
        self._now = f"{now.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}"
        self._zone = load_zone(rule.zone) if rule.zone else None
        self._hours: dict[tuple[int, int, int, int], timedelta | None] = {}
        # (year, month, day, hour) as written -> "YYYY-MM-DDTHH" in UTC, for hours with one whole-hour offset:
        # a local time in such an hour converts by text alone (the minutes and seconds do not change)
        self._prefixes: dict[tuple[str, ...], str] = {}
        self._latest_text = self._latest.isoformat()[:19]
        self._readers: list[Callable[[str], tuple[str | None, str | None] | None]] = [
            self._reader(pattern) for pattern in rule.formats
        ]
        self._names = ", ".join(repr(pattern) for pattern in rule.formats)

    def read(self, value: str) -> tuple[str | None, str | None]:
        """(canonical UTC text, None) or (None, reason)."""
        for reader in self._readers:
            try:
                result = reader(value)
            except (OverflowError, OSError, ValueError):
                return None, f"timestamp '{_show(value)}' is out of the range of dates that can be stored"
            if result is not None:
                return result
        return None, f"timestamp '{_show(value)}' matches none of this shipper's formats ({self._names})"

    def _reader(self, pattern: str) -> Callable[[str], tuple[str | None, str | None] | None]:
        if pattern == UNIX_SECONDS:
            return self._unix_seconds
        if pattern == UNIX_MILLISECONDS:
            return self._unix_milliseconds
        regex = _ISO_LOCAL if pattern == ISO_8601 else compile_strftime(pattern)
        fullmatch, fields, has = regex.fullmatch, self._fields, frozenset(regex.groupindex)
        if self._zone is None or not {"Y", "m", "d", "H", "M"} <= has or has - {"Y", "m", "d", "H", "M", "S", "f", "z"}:

            def read(value: str) -> tuple[str | None, str | None] | None:
                match = fullmatch(value)
                return None if match is None else fields(value, match, has)

            return read
        index = {name: number - 1 for name, number in regex.groupindex.items()}
        year, month, day, hour, minute = (index[name] for name in "YmdHM")
        second, fraction, offset = index.get("S"), index.get("f"), index.get("z")
        prefixes, latest = self._prefixes, self._latest_text

        def read_local(value: str) -> tuple[str | None, str | None] | None:
            match = fullmatch(value)
            if match is None:
                return None
            groups = match.groups()
            if offset is None or groups[offset] is None:
                prefix = prefixes.get((groups[year], groups[month], groups[day], groups[hour]))
                if prefix is not None:
                    minutes = groups[minute]
                    seconds = (groups[second] if second is not None else None) or "00"
                    head = f"{prefix}:{minutes}:{seconds}"
                    if minutes < "60" and seconds < "60" and head < latest:
                        digits = (groups[fraction] or "").rstrip("0") if fraction is not None else ""
                        return (f"{head}.{digits}Z" if digits else f"{head}Z"), None
            return fields(value, match, has)

        return read_local

    def _unix_seconds(self, value: str) -> tuple[str | None, str | None] | None:
        match = _UNIX_SECONDS.fullmatch(value)
        if match is None:
            return None
        return self._canonical(value, _EPOCH + timedelta(seconds=int(match[1])), (match[2] or "").rstrip("0"))

    def _unix_milliseconds(self, value: str) -> tuple[str | None, str | None] | None:
        if not _UNIX_MILLISECONDS.fullmatch(value):
            return None
        seconds, millis = divmod(int(value), 1000)
        return self._canonical(
            value, _EPOCH + timedelta(seconds=seconds), f"{millis:03d}".rstrip("0") if millis else ""
        )

    def _fields(self, value: str, match: re.Match[str], has: frozenset[str]) -> tuple[str | None, str | None]:
        try:
            year = int(match["Y"]) if "Y" in has else 2000 + int(match["y"])
            month = int(match["m"]) if "m" in has else _MONTHS[match["b"].lower()]
            if "H" in has:
                hour = int(match["H"])
            else:
                hour = int(match["I"])
                if not 1 <= hour <= 12:
                    raise ValueError("hour must be in 1..12 with AM/PM")
                hour = hour % 12 + (12 if match["p"].lower() == "pm" else 0)
            naive = datetime(
                year, month, int(match["d"]), hour, int(match["M"]), int(match["S"] or 0) if "S" in has else 0
            )
        except (KeyError, ValueError) as exc:
            return None, f"timestamp '{_show(value)}' is not a real date/time: {exc}"
        fraction = (match["f"] or "").rstrip("0") if "f" in has else ""
        offset_text = match["z"] if "z" in has else None
        if offset_text:
            offset = _offset(offset_text)
            if offset is None:
                return None, f"timestamp '{_show(value)}' has an offset outside -23:59..+23:59"
            return self._canonical(value, naive - offset, fraction)
        if self._zone is None:
            return None, f"timestamp '{_show(value)}' has no UTC offset, and this shipper's profile names no zone"
        hour_key = (naive.year, naive.month, naive.day, naive.hour)
        offset = self._hours.get(hour_key, _ABSENT)  # type: ignore[arg-type]
        if offset is _ABSENT:
            offset = self._hour_offset(naive)
            if len(self._hours) >= _CACHE_ENTRIES:
                self._hours.clear()
            self._hours[hour_key] = offset
        if offset is not None:
            if not offset % _HOUR and {"Y", "m", "d", "H"} <= has and len(self._prefixes) < _CACHE_ENTRIES:
                key = (match["Y"], match["m"], match["d"], match["H"])
                self._prefixes[key] = (naive.replace(minute=0, second=0) - offset).isoformat()[:13]  # type: ignore[operator]
            return self._canonical(value, naive - offset, fraction)  # type: ignore[operator]
        utc, problem = self._localise(value, naive)
        return (None, problem) if utc is None else self._canonical(value, utc, fraction)

    def _hour_offset(self, naive: datetime) -> timedelta | None:
        """The zone's one UTC offset throughout ``naive``'s hour, or None when the hour holds a change of offset."""
        zone = self._zone
        start = naive.replace(minute=0, second=0, microsecond=0)
        end = start + timedelta(minutes=59, seconds=59)
        offsets = {zone.utcoffset(moment.replace(fold=fold)) for moment in (start, end) for fold in (0, 1)}  # type: ignore[union-attr]
        return offsets.pop() if len(offsets) == 1 else None

    def _canonical(self, value: str, utc: datetime, fraction: str) -> tuple[str | None, str | None]:
        """UTC ISO 8601 text of ``utc`` (naive, in UTC, whole seconds), or why it is refused (more than 24 h ahead)."""
        text = f"{utc.isoformat()}.{fraction}Z" if fraction else f"{utc.isoformat()}Z"
        if utc > self._latest:
            return None, f"timestamp '{_show(value)}' ({text}) is more than 24 h after the processing time {self._now}"
        return text, None

    def _localise(self, value: str, naive: datetime) -> tuple[datetime | None, str | None]:
        """UTC of a local wall time in an hour holding a change of offset, applying the profile's DST rules."""
        zone = self._zone
        first = naive.replace(tzinfo=zone)
        second = naive.replace(tzinfo=zone, fold=1)
        before, after = first.utcoffset(), second.utcoffset()
        assert before is not None and after is not None  # a ZoneInfo always has an offset
        if before == after:
            return naive - before, None
        wall = naive.replace(tzinfo=None)
        exists = (naive - before).replace(tzinfo=UTC).astimezone(zone).replace(tzinfo=None) == wall
        shown = f"timestamp '{_show(value)}'"
        if not exists:
            rule = self.rule.nonexistent
            if rule == "shift_forward":  # read with the offset in force before the change: later on the clock
                return naive - before, None
            if rule == "shift_backward":
                return naive - after, None
            return None, (
                f"{shown} does not exist in {self.rule.zone}: the clocks skip it at the daylight-saving change "
                "(the profile's timestamps.nonexistent is 'reject'; it may say shift_forward or shift_backward)"
            )
        rule = self.rule.ambiguous
        if rule == "earlier":
            return naive - before, None
        if rule == "later":
            return naive - after, None
        return None, (
            f"{shown} happens twice in {self.rule.zone} (UTC offset {_show_offset(before)} or "
            f"{_show_offset(after)}): the clocks go back at the daylight-saving change; add the offset, or set the "
            "profile's timestamps.ambiguous to earlier or later"
        )


def _offset(text: str) -> timedelta | None:
    if text in ("Z", "z"):
        return timedelta(0)
    digits = text[1:].replace(":", "")
    hours, minutes = int(digits[:2]), int(digits[2:])
    if hours > 23 or minutes > 59:
        return None
    offset = timedelta(hours=hours, minutes=minutes)
    return -offset if text[0] == "-" else offset


def _show_offset(offset: timedelta) -> str:
    minutes = int(offset.total_seconds()) // 60
    sign = "+" if minutes >= 0 else "-"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def _show(value: str, limit: int = 80) -> str:
    shown = value if len(value) <= limit else value[:limit] + "…"
    return shown.encode("utf-8", "backslashreplace").decode()
