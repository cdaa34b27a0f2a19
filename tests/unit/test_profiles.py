"""Shipper profiles: each feature read end to end through the real parse -> map -> validate pipeline, and each
way a profile document can be wrong, with the words an operator or a shipper gets back."""

from __future__ import annotations

import gzip
import io
import itertools
import zoneinfo
from datetime import UTC, datetime
from typing import Any

import pytest
from shipment_processor import profiles
from shipment_processor.config import Limits
from shipment_processor.formats import BytesSource, _Transcoder
from shipment_processor.pipeline import Accepted, FileError, Rejected, Result, ResultStream, ResumePoint
from shipment_processor.profiles import Profile, ProfileError, load_zone, parse_profile, profile_version

from .test_resume import RangedSource

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

GERMAN: dict[str, Any] = {
    "encoding": "windows-1252",
    "csv": {"delimiter": ";"},
    "columns": {"shipment_id": "Sendungsnummer", "status": "Status", "timestamp": "Datum"},
    "rename": {"Ort": "location"},
    "statuses": {"map": {"zugestellt": "DELIVERED", "in Zustellung": "OUT_FOR_DELIVERY", "abgeholt": "PICKED_UP"}},
    "timestamps": {"formats": ["%d.%m.%Y %H:%M"], "zone": "Europe/Berlin"},
}
EDI: dict[str, Any] = {
    "columns": {"shipment_id": "shipment", "status": "at7", "timestamp": "epoch"},
    "statuses": {"map": {"AF": "PICKED_UP", "X6": "IN_TRANSIT", "X1": "OUT_FOR_DELIVERY", "D1": "DELIVERED"}},
    "timestamps": {"formats": ["unix_seconds", "unix_milliseconds"]},
}


def run(document: dict[str, Any] | Profile, data: bytes, key: str = "incoming/x/f.csv") -> list[Result]:
    profile = document if isinstance(document, Profile) else parse_profile("x", document)
    return list(ResultStream(BytesSource(io.BytesIO(data)), key, Limits(), NOW, profile=profile))


def accepted(results: list[Result]) -> list[tuple[str, str, str, tuple[tuple[str, str], ...]]]:
    return [tuple(r.update) for r in results if isinstance(r, Accepted)]  # type: ignore[misc]


def reasons(results: list[Result]) -> list[str]:
    return [r.reason for r in results if isinstance(r, Rejected)]


def profile_error(document: object) -> str:
    with pytest.raises(ProfileError) as caught:
        parse_profile("acme", document)
    return str(caught.value)


# --- columns ------------------------------------------------------------------------------------------------------


def test_german_semicolon_windows_1252_export_is_mapped_to_the_contract() -> None:
    data = "Sendungsnummer;Status;Datum;Ort\nKR-1;zugestellt;03.06.2025 14:30;München\n".encode("cp1252")

    assert accepted(run(GERMAN, data)) == [("KR-1", "DELIVERED", "2025-06-03T12:30:00Z", (("location", "München"),))]


def test_header_names_match_whatever_their_case_and_surrounding_spaces() -> None:
    data = " SENDUNGSNUMMER ;status;DATUM;ort\nKR-1;Zugestellt;03.01.2025 14:30;Bonn\n".encode("cp1252")

    assert accepted(run(GERMAN, data)) == [("KR-1", "DELIVERED", "2025-01-03T13:30:00Z", (("location", "Bonn"),))]


def test_a_header_without_a_mapped_column_fails_the_file_naming_it() -> None:
    data = b"Sendungsnummer;Status;Ort\nKR-1;zugestellt;Bonn\n"

    with pytest.raises(FileError, match=r"CSV header is missing required column\(s\) datum; found sendungsnummer"):
        run(GERMAN, data)


def test_dropped_columns_are_not_stored_and_unlisted_ones_pass_through() -> None:
    document = {**EDI, "drop": ["clerk"]}
    data = b"shipment,at7,epoch,clerk,depot\nS-1,D1,1717425000,anna,HAM\n"

    assert accepted(run(document, data)) == [("S-1", "DELIVERED", "2024-06-03T14:30:00Z", (("depot", "HAM"),))]


def test_header_less_csv_names_columns_by_position() -> None:
    document = {
        "csv": {"header": False, "delimiter": "|"},
        "columns": {"shipment_id": 2, "status": 1, "timestamp": 3},
        "rename": {"4": "location"},
        "statuses": {"accept_contract_words": True},
    }
    data = b"DELIVERED|S-1|2026-02-01T10:00:00Z|Hamburg|extra\nCREATED|S-2|2026-02-01T11:00:00+01:00\n"

    assert accepted(run(document, data)) == [
        ("S-1", "DELIVERED", "2026-02-01T10:00:00Z", (("location", "Hamburg"), ("column_5", "extra"))),
        ("S-2", "CREATED", "2026-02-01T10:00:00Z", ()),
    ]


def test_header_less_row_too_short_for_a_mapped_column_is_rejected() -> None:
    document = {"csv": {"header": False}, "columns": {"shipment_id": 1, "status": 2, "timestamp": 3}}

    results = run(document, b"S-1,CREATED\n")

    assert reasons(results) == ["record has no column 3 (the profile reads contract fields from them)"]


def test_two_column_timestamp_joins_a_date_and_a_time() -> None:
    document = {**GERMAN, "columns": {**GERMAN["columns"], "timestamp": ["Datum", "Zeit"]}}
    data = b"Sendungsnummer;Status;Datum;Zeit\nKR-1;abgeholt;03.06.2025;07:05\nKR-2;abgeholt;03.06.2025;\n"

    results = run(document, data)

    assert accepted(results) == [("KR-1", "PICKED_UP", "2025-06-03T05:05:00Z", ())]
    assert reasons(results) == ["timestamp has a date but no time ('zeit' is empty or not text)"]


def test_json_records_are_mapped_by_their_keys() -> None:
    data = b'[{"shipment": "S-1", "at7": "X6", "epoch": 1717425000123, "seal": "A1"}, {"shipment": "S-2"}]'

    results = run(EDI, data, key="incoming/x/f.json")

    assert accepted(results) == [("S-1", "IN_TRANSIT", "2024-06-03T14:30:00.123Z", (("seal", "A1"),))]
    assert reasons(results) == ["record has no 'at7', 'epoch' (the profile reads contract fields from them)"]


def test_a_json_record_repeating_a_mapped_key_is_rejected() -> None:
    data = b'{"shipment": "S-1", "at7": "X6", "at7": "D1", "epoch": 1717425000}'

    assert reasons(run(EDI, data, key="incoming/x/f.json")) == [
        "record has more than one 'at7' (the profile reads status from it)"
    ]


# --- statuses -----------------------------------------------------------------------------------------------------


def test_status_codes_match_ignoring_case_and_spaces() -> None:
    data = (
        "Sendungsnummer;Status;Datum\nKR-1;  IN   zustellung ;03.06.2025 14:30\nKR-2;In-Zustellung;03.06.2025 14:31\n"
    )

    assert [update[1] for update in accepted(run(GERMAN, data.encode("cp1252")))] == ["OUT_FOR_DELIVERY"] * 2


def test_an_unmapped_status_code_is_rejected_listing_the_codes_the_profile_knows() -> None:
    data = b"shipment,at7,epoch\nS-1,SD,1717425000\nS-2,SD,1717425000\nS-3,DELIVERED,1717425000\n"
    stream = ResultStream(
        BytesSource(io.BytesIO(data)), "incoming/x/f.csv", Limits(), NOW, profile=parse_profile("e", EDI)
    )

    results = list(stream)

    assert reasons(results)[0] == "status 'SD' is not a code this shipper's profile maps (it maps AF, X6, X1, D1)"
    assert len(reasons(results)) == 3  # contract words are not accepted once a table is given, unless asked
    assert stream.mapper is not None and stream.mapper.unmapped == {"SD": 2, "DELIVERED": 1}


def test_a_profile_can_also_accept_the_contract_words() -> None:
    document = {**EDI, "statuses": {**EDI["statuses"], "accept_contract_words": True}}
    data = b"shipment,at7,epoch\nS-1,delivered,1717425000\nS-2,LOST,1717425000\n"

    results = run(document, data)

    assert [update[1] for update in accepted(results)] == ["DELIVERED"]
    assert reasons(results) == [
        "status 'LOST' is not a code this shipper's profile maps (it maps AF, X6, X1, D1; the contract's own words "
        "(CREATED, PICKED_UP, IN_TRANSIT, OUT_FOR_DELIVERY, DELIVERED, DELAYED, EXCEPTION, RETURNED, CANCELLED) are "
        "accepted too)"
    ]


def test_a_long_status_table_is_listed_in_part() -> None:
    document = {**EDI, "statuses": {"map": {f"C{n}": "CREATED" for n in range(50)}}}

    reason = reasons(run(document, b"shipment,at7,epoch\nS-1,ZZ,1717425000\n"))[0]

    assert reason.endswith("C38, C39 and 10 more)")


# --- timestamps ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("formats", "value", "stored"),
    [
        (["iso8601"], "2026-02-01 10:00", "2026-02-01T09:00:00Z"),  # no offset: the profile's zone
        (["iso8601"], "2026-02-01T10:00:00.250+02:00", "2026-02-01T08:00:00.25Z"),
        (["%Y%m%d%H%M%S"], "20260201100000", "2026-02-01T09:00:00Z"),
        (["%d %b %y %I:%M %p"], "01 Feb 26 10:00 PM", "2026-02-01T21:00:00Z"),
        (["%d/%m/%Y %H:%M:%S.%f %z"], "01/02/2026 10:00:00.5 -0300", "2026-02-01T13:00:00.5Z"),
        (["%d/%m/%Y %H:%M %z"], "01/02/2026 10:00 Z", "2026-02-01T10:00:00Z"),
        (["unix_seconds"], "1769940000.75", "2026-02-01T10:00:00.75Z"),
        (["unix_milliseconds"], "1769940000000", "2026-02-01T10:00:00Z"),
        (["unix_milliseconds", "iso8601"], "2026-02-01T10:00:00Z", "2026-02-01T10:00:00Z"),
        (["unix_seconds", "%d.%m.%Y %H:%M"], "01.02.2026 10:00", "2026-02-01T09:00:00Z"),  # the first that matches
    ],
)
def test_each_timestamp_format_is_read_and_stored_in_utc(formats: list[str], value: str, stored: str) -> None:
    document = {**EDI, "timestamps": {"formats": formats, "zone": "Europe/Berlin"}}

    assert accepted(run(document, f"shipment,at7,epoch\nS-1,D1,{value}\n".encode()))[0][2] == stored


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("yesterday", "timestamp 'yesterday' matches none of this shipper's formats ('%d.%m.%Y %H:%M', 'iso8601')"),
        ("31.02.2026 10:00", "timestamp '31.02.2026 10:00' is not a real date/time: day is out of range for month"),
        ("2026-02-01T10:00+24:00", "timestamp '2026-02-01T10:00+24:00' has an offset outside -23:59..+23:59"),
        (
            "02.03.2026 14:00",
            "timestamp '02.03.2026 14:00' (2026-03-02T13:00:00Z) is more than 24 h after the processing time "
            "2026-03-01T12:00:00Z",
        ),
    ],
)
def test_a_timestamp_that_cannot_be_read_is_rejected_with_the_reason(value: str, reason: str) -> None:
    document = {**EDI, "timestamps": {"formats": ["%d.%m.%Y %H:%M", "iso8601"], "zone": "Europe/Berlin"}}

    assert reasons(run(document, f"shipment,at7,epoch\nS-1,D1,{value}\n".encode()))[0].startswith(reason)


def test_a_timestamp_out_of_the_storable_range_is_rejected() -> None:
    document = {**EDI, "timestamps": {"formats": ["iso8601"], "zone": "America/New_York"}}

    assert reasons(run(document, b"shipment,at7,epoch\nS-1,D1,9999-12-31T23:00\n")) == [
        "timestamp '9999-12-31T23:00' is out of the range of dates that can be stored"
    ]


def test_without_a_zone_an_iso_timestamp_still_needs_its_offset() -> None:
    document = {**EDI, "timestamps": {"formats": ["iso8601"]}}

    assert reasons(run(document, b"shipment,at7,epoch\nS-1,D1,2026-02-01T10:00\n")) == [
        "timestamp '2026-02-01T10:00' has no UTC offset, and this shipper's profile names no zone"
    ]


def test_an_empty_timestamp_is_left_for_validation_to_report() -> None:
    assert reasons(run(EDI, b"shipment,at7,epoch\nS-1,D1,\n")) == ["required field 'timestamp' is empty"]


SPRING_GAP = "30.03.2025 02:30"  # Europe/Berlin: 02:00 CET -> 03:00 CEST, so 02:30 never happens
AUTUMN_OVERLAP = "26.10.2025 02:30"  # 03:00 CEST -> 02:00 CET, so 02:30 happens twice


def berlin(value: str, **rules: str) -> list[Result]:
    document = {**GERMAN, "timestamps": {"formats": ["%d.%m.%Y %H:%M"], "zone": "Europe/Berlin", **rules}}
    return run(document, f"Sendungsnummer;Status;Datum\nKR-1;zugestellt;{value}\n".encode())


def test_a_local_time_in_the_dst_gap_is_rejected_by_default() -> None:
    assert reasons(berlin(SPRING_GAP)) == [
        "timestamp '30.03.2025 02:30' does not exist in Europe/Berlin: the clocks skip it at the daylight-saving "
        "change (the profile's timestamps.nonexistent is 'reject'; it may say shift_forward or shift_backward)"
    ]


@pytest.mark.parametrize(
    ("rule", "stored"),
    [("shift_forward", "2025-03-30T01:30:00Z"), ("shift_backward", "2025-03-30T00:30:00Z")],
)
def test_a_local_time_in_the_dst_gap_follows_the_rule_the_profile_names(rule: str, stored: str) -> None:
    assert accepted(berlin(SPRING_GAP, nonexistent=rule))[0][2] == stored


def test_an_ambiguous_local_time_is_rejected_by_default_naming_both_offsets() -> None:
    assert reasons(berlin(AUTUMN_OVERLAP)) == [
        "timestamp '26.10.2025 02:30' happens twice in Europe/Berlin (UTC offset +02:00 or +01:00): the clocks go "
        "back at the daylight-saving change; add the offset, or set the profile's timestamps.ambiguous to earlier "
        "or later"
    ]


@pytest.mark.parametrize(("rule", "stored"), [("earlier", "2025-10-26T00:30:00Z"), ("later", "2025-10-26T01:30:00Z")])
def test_an_ambiguous_local_time_follows_the_rule_the_profile_names(rule: str, stored: str) -> None:
    assert accepted(berlin(AUTUMN_OVERLAP, ambiguous=rule))[0][2] == stored


def test_times_next_to_the_dst_change_are_unaffected_by_the_rules() -> None:
    assert [accepted(berlin(v))[0][2] for v in ("30.03.2025 01:59", "30.03.2025 03:00")] == [
        "2025-03-30T00:59:00Z",
        "2025-03-30T01:00:00Z",
    ]


def test_zones_load_from_python_dateutils_bundled_data_when_the_system_has_none(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    zoneinfo.reset_tzpath(to=[])
    zoneinfo.ZoneInfo.clear_cache()
    try:
        with pytest.raises(zoneinfo.ZoneInfoNotFoundError):
            zoneinfo.ZoneInfo("America/Chicago")
        zone = load_zone.__wrapped__("America/Chicago")
        assert datetime(2025, 7, 1, 12, tzinfo=zone).utcoffset().total_seconds() == -5 * 3600  # type: ignore[union-attr]
        with pytest.raises(ProfileError, match="'Mars/Olympus' is not an IANA time zone name"):
            load_zone.__wrapped__("Mars/Olympus")
        assert profiles.zone_data_source() == "python-dateutil's bundled copy"
        monkeypatch.setattr(profiles.dateutil_zoneinfo, "ZONEFILENAME", "no-such-archive.tar.gz")
        assert profiles.zone_data_source() == "none"
    finally:
        zoneinfo.reset_tzpath()
        zoneinfo.ZoneInfo.clear_cache()


def test_this_machine_has_a_system_tz_database() -> None:
    assert profiles.zone_data_source() == "the system's tz database"


def test_a_zone_missing_from_every_tz_database_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(profiles.dateutil_zoneinfo, "ZONEFILENAME", "no-such-archive.tar.gz")

    assert profiles._bundled_zone_data("Europe/Berlin") is None


# --- encodings and dialects ---------------------------------------------------------------------------------------

ROWS = "id,status,ts,city\nS-1,DELIVERED,2026-02-01T10:00:00Z,Zürich\n"
SIMPLE = {"columns": {"shipment_id": "id", "status": "status", "timestamp": "ts"}}


@pytest.mark.parametrize(
    ("encoding", "data"),
    [
        ("utf-8", ROWS.encode()),
        ("utf-8", b"\xef\xbb\xbf" + ROWS.encode()),
        ("windows-1252", ROWS.replace("Zürich", "Zürich €5").encode("cp1252")),
        ("iso-8859-1", ROWS.encode("latin-1")),
        ("utf-16", ROWS.encode("utf-16")),  # a byte-order mark, native order
        ("utf-16", b"\xfe\xff" + ROWS.encode("utf-16-be")),
    ],
    ids=["utf-8", "utf-8-bom", "windows-1252", "iso-8859-1", "utf-16-le", "utf-16-be"],
)
def test_each_encoding_is_read(encoding: str, data: bytes) -> None:
    results = run({**SIMPLE, "encoding": encoding}, data)

    assert accepted(results)[0][3][0][1].startswith("Zürich")


def test_utf_16_without_a_byte_order_mark_fails_the_file() -> None:
    with pytest.raises(FileError, match="the shipper profile says utf-16, but the file has no UTF-16 byte-order mark"):
        run({**SIMPLE, "encoding": "utf-16"}, ROWS.encode("utf-16-le"))


def test_utf_16_read_in_single_bytes_still_finds_its_byte_order_mark() -> None:
    class Trickle:
        def __init__(self, data: bytes) -> None:
            self.data = data

        def read(self, size: int) -> bytes:
            head, self.data = self.data[:1], self.data[1:]
            return head

    profile = parse_profile("x", {**SIMPLE, "encoding": "utf-16"})
    stream = ResultStream(
        BytesSource(Trickle(ROWS.encode("utf-16"))), "incoming/x/f.csv", Limits(), NOW, profile=profile
    )

    assert len(accepted(list(stream))) == 1


def test_bytes_that_are_not_in_the_profiles_encoding_fail_the_file_with_their_offset() -> None:
    with pytest.raises(FileError, match=r"not valid windows-1252 \(byte 0x81 at byte offset 5\)"):
        run({**SIMPLE, "encoding": "windows-1252"}, b"id,st\x81tus\n")


def test_a_quote_character_can_be_a_single_quote() -> None:
    document = {**SIMPLE, "csv": {"delimiter": "\t", "quote": "'"}}
    data = b"id\tstatus\tts\tnote\nS-1\tCREATED\t2026-02-01T10:00:00Z\t'a\ttab, \"quoted\"'\n"

    assert accepted(run(document, data))[0][3] == (("note", 'a\ttab, "quoted"'),)


@pytest.mark.parametrize("compressed", [False, True], ids=["plain", "gzip"])
@pytest.mark.parametrize("encoding", ["windows-1252", "utf-16"])
def test_a_re_encoded_file_with_two_column_timestamps_resumes_exactly_at_every_record(
    encoding: str, compressed: bool
) -> None:
    document = {**GERMAN, "encoding": encoding, "columns": {**GERMAN["columns"], "timestamp": ["Datum", "Zeit"]}}
    profile = parse_profile("x", document)
    text = "Sendungsnummer;Status;Datum;Zeit;Ort\n" + "".join(
        f"KR-{n};zugestellt;03.06.2025;14:{n:02d};Köln\n" for n in range(6)
    )
    data = text.encode("cp1252" if encoding == "windows-1252" else "utf-16")
    if compressed:  # re-encoded offsets are in the UTF-8 text: no gzip seek point applies, the gzip is read again
        data = gzip.compress(data, mtime=0)
    single = run(profile, data)
    assert len(accepted(single)) == 6

    for cut in range(1, 6):
        first = ResultStream(RangedSource(data), "incoming/x/f.csv", Limits(), NOW, profile=profile)
        head = list(itertools.islice(first, cut))
        point = first.resume_point()
        assert isinstance(point, ResumePoint) and point.seek is None
        rest = ResultStream(
            RangedSource(data), "incoming/x/f.csv", Limits(), NOW, resume=point, records_before=cut, profile=profile
        )

        assert head + list(rest) == single, f"resumed after record {cut}"


def test_a_header_less_file_resumes_without_reading_a_header() -> None:
    profile = parse_profile("x", {"csv": {"header": False}, "columns": {"shipment_id": 1, "status": 2, "timestamp": 3}})
    data = b"".join(f"S-{n},CREATED,2026-02-01T10:0{n}:00Z\n".encode() for n in range(3))
    first = ResultStream(RangedSource(data), "incoming/x/f.csv", Limits(), NOW, profile=profile)
    head = list(itertools.islice(first, 1))
    point = first.resume_point()
    assert point is not None and point.header_end == 0

    rest = list(ResultStream(RangedSource(data), "incoming/x/f.csv", Limits(), NOW, resume=point, profile=profile))

    assert head + rest == run(profile, data)


# --- required fields and limits -----------------------------------------------------------------------------------


def test_extra_required_fields_reject_records_without_them() -> None:
    document = {**SIMPLE, "required": ["tracking_number", "shipment_id"]}
    data = b"id,status,ts,tracking_number\nS-1,CREATED,2026-02-01T10:00:00Z,1Z99\nS-2,CREATED,2026-02-01T10:00:00Z,\n"

    results = run(document, data)

    assert [update[0] for update in accepted(results)] == ["S-1"]
    assert reasons(results) == ["missing required field 'tracking_number' (this shipper's profile requires it)"]


def test_profile_limits_tighten_the_deployments() -> None:
    data = ROWS.encode() + b"S-2,CREATED,2026-02-01T10:00:00Z,Bern\n"

    with pytest.raises(FileError, match=r"file has more than 1 records \(MAX_RECORDS\)"):
        run({**SIMPLE, "limits": {"max_records": 1}}, data)


def test_profile_limits_may_not_loosen_the_deployments() -> None:
    profile = parse_profile("acme", {**SIMPLE, "limits": {"max_records": 50, "max_record_bytes": 100}})

    with pytest.raises(ProfileError) as caught:
        profile.effective_limits(Limits(max_records=10))

    assert str(caught.value) == (
        "profile 'acme': limits.max_records 50 is above the deployment's 10 (a profile may only tighten limits)"
    )


# --- the profile document -----------------------------------------------------------------------------------------


def test_the_version_is_a_content_hash_independent_of_key_order() -> None:
    reordered = dict(reversed(list(GERMAN.items())))

    assert parse_profile("a", GERMAN).version == profile_version(reordered) == parse_profile("b", reordered).version
    assert parse_profile("a", GERMAN).version.startswith("sha256:")
    assert parse_profile("a", EDI).version != parse_profile("a", GERMAN).version


def test_a_profile_can_be_given_as_json_text() -> None:
    assert parse_profile("a", '{"encoding": "utf-16"}').dialect.encoding == "utf-16"


def test_describe_columns_lists_every_mapping() -> None:
    document = {**GERMAN, "columns": {**GERMAN["columns"], "timestamp": ["Datum", "Zeit"]}, "drop": ["Notiz"]}

    assert parse_profile("a", document).describe_columns() == [
        ("'sendungsnummer'", "shipment_id"),
        ("'status'", "status"),
        ("'datum' + 'zeit'", "timestamp"),
        ("'ort'", "location"),
        ("'notiz'", "(dropped)"),
    ]


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        ("{not json", "profile 'acme' is not valid JSON: Expecting property name"),
        ([1], "profile 'acme' must be a JSON object, got list"),
        ({"colums": {}}, "unknown setting(s) colums (known: columns, csv, description, drop, encoding, limits"),
        ({"csv": {"delimiter": ":"}}, "csv.delimiter ':' is not one of ',', ';', tab ('\\t') or '|'"),
        ({"csv": {"quote": "`"}}, "csv.quote '`' must be '\"' or \"'\""),
        ({"csv": {"header": "no"}}, "csv.header must be true or false"),
        ({"csv": {"separator": ";"}}, "csv: unknown setting(s) separator (known: delimiter, header, quote)"),
        ({"csv": ";"}, "csv must be an object"),
        ({"encoding": "ebcdic"}, "encoding 'ebcdic' is not one of utf-8, windows-1252, iso-8859-1, utf-16"),
        ({"csv": {"header": False}}, "columns.shipment_id: a header-less CSV must give its position"),
        (
            {"csv": {"header": False}, "columns": {"shipment_id": "id", "status": 2, "timestamp": 3}},
            "columns.shipment_id: a header-less CSV names columns by position (1, 2, ...), not 'id'",
        ),
        ({"columns": {"status": 3}}, "columns.status: a column is named by its header text, not 3"),
        ({"columns": {"timestamp": ["a", "b", "c"]}}, "columns.timestamp: one column, or two (a date and a time)"),
        ({"columns": {"status": "code", "shipment_id": "code"}}, "column 'code' is used twice"),
        ({"rename": {"ort": "Location!"}}, "rename['ort']: 'Location!' is not a field name"),
        ({"rename": {"ort": "status"}}, "rename['ort']: 'status' is reserved (map contract fields under columns)"),
        ({"rename": {"a": "city", "b": "city"}}, "rename gives more than one column the name 'city'"),
        ({"drop": "notes"}, "drop must be a list of columns"),
        ({"statuses": {"map": {"ok": "FINE"}}}, "statuses.map['ok']: 'FINE' is not one of CREATED, PICKED_UP"),
        ({"statuses": {"map": {" ": "CREATED"}}}, "statuses.map has an empty code"),
        ({"statuses": {"map": {"a b": "CREATED", "A-B": "DELIVERED"}}}, "statuses.map: 'A-B' is listed twice"),
        ({"statuses": {"accept_contract_words": "yes"}}, "statuses.accept_contract_words must be true or false"),
        ({"timestamps": {"formats": []}}, "timestamps.formats must be a non-empty list of formats"),
        ({"timestamps": {"formats": ["%d.%m.%Y %H:%M"]}}, "has no %z, so the profile must name a zone"),
        ({"timestamps": {"formats": ["%d.%m.%Y"], "zone": "UTC"}}, "must give at least the year, month, day, hour"),
        ({"timestamps": {"formats": ["%A %H:%M"], "zone": "UTC"}}, "'%A %H:%M' uses %A, which is not supported"),
        ({"timestamps": {"formats": ["%Y %m %d %H %M %M"], "zone": "UTC"}}, "uses %M twice"),
        ({"timestamps": {"formats": ["%Y %m %d %I:%M"], "zone": "UTC"}}, "%I (12-hour clock) and %p (AM/PM)"),
        ({"timestamps": {"zone": "Europe/Atlantis"}}, "timestamps.zone: 'Europe/Atlantis' is not an IANA time zone"),
        ({"timestamps": {"zone": "../../etc/passwd"}}, "'../../etc/passwd' is not an IANA time zone name"),
        ({"timestamps": {"nonexistent": "guess"}}, "timestamps.nonexistent 'guess' is not one of reject, shift_"),
        ({"timestamps": {"ambiguous": "first"}}, "timestamps.ambiguous 'first' is not one of reject, earlier, later"),
        ({"required": "tracking_number"}, "required must be a list of field names"),
        ({"required": ["Tracking Number"]}, "required: 'Tracking Number' is not a field name"),
        ({"limits": {"max_records": 0}}, "limits.max_records must be a whole number of at least 1"),
        ({"limits": {"max_rows": 5}}, "limits: unknown setting(s) max_rows"),
    ],
)
def test_a_bad_profile_is_refused_naming_the_problem(document: object, problem: str) -> None:
    assert problem in profile_error(document)


def test_every_problem_of_a_profile_is_named_at_once() -> None:
    message = profile_error({"encoding": "ebcdic", "csv": {"delimiter": ":"}, "timestamps": {"ambiguous": "x"}})

    assert message.startswith("profile 'acme' is invalid: ")
    assert message.count("; ") == 2


def test_a_bad_zone_is_reported_once_not_again_for_each_format() -> None:
    message = profile_error({"timestamps": {"zone": "Nowhere/Here", "formats": ["%d.%m.%Y %H:%M"]}})

    assert message.count("Nowhere/Here") == 1 and "%z" not in message


def test_a_two_column_timestamp_without_its_date_is_reported_as_empty() -> None:
    document = {**GERMAN, "columns": {**GERMAN["columns"], "timestamp": ["Datum", "Zeit"]}}

    assert reasons(run(document, b"Sendungsnummer;Status;Datum;Zeit\nKR-1;abgeholt;;07:05\n")) == [
        "required field 'timestamp' is empty"
    ]


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("13:00 PM 01.02.2026", "is not a real date/time: hour must be in 1..12 with AM/PM"),
        ("1", "matches none"),  # %-formats need every field; '1' is none of them
    ],
)
def test_twelve_hour_clock_times_are_checked(value: str, reason: str) -> None:
    document = {**EDI, "timestamps": {"formats": "%I:%M %p %d.%m.%Y", "zone": "UTC"}}

    assert reason in reasons(run(document, f"shipment,at7,epoch\nS-1,D1,{value}\n".encode()))[0]


def test_a_status_table_may_list_one_code_in_two_spellings_for_the_same_status() -> None:
    document = {**EDI, "statuses": {"map": {"in transit": "IN_TRANSIT", "IN-TRANSIT": "in transit"}}}

    assert parse_profile("x", document).status_labels == ("in transit",)


def test_records_with_thousands_of_distinct_keys_are_still_mapped() -> None:
    fields = ",".join(f'"{n}":"v"' for n in range(5000))
    data = f'{{"shipment": "S-1", "at7": "D1", "epoch": 1769940000, {fields}}}'.encode()

    assert reasons(run(EDI, data, key="incoming/x/f.json")) == [
        "record has 5000 optional fields; at most 32 are allowed"
    ]


def test_a_header_less_csv_reports_bad_rows_and_skips_blank_lines() -> None:
    document = {"csv": {"header": False}, "columns": {"shipment_id": 1, "status": 2, "timestamp": 3}}
    data = b'S-1,CREATED,2026-02-01T10:00:00Z\n\nS-2,"CREATED"x,2026-02-01T10:00:00Z\n'

    results = run(document, data)

    assert [r.ref for r in results] == [("line", 1), ("line", 3)]
    assert reasons(results) == ["row is not valid CSV: ',' expected after '\"'"]


def test_a_header_less_csv_with_a_quote_never_closed_fails_the_file() -> None:
    document = {"csv": {"header": False}, "columns": {"shipment_id": 1, "status": 2, "timestamp": 3}}

    with pytest.raises(FileError, match="CSV record starting at line 1 has a quote that is never closed"):
        run(document, b'S-1,"CREATED,2026-02-01T10:00:00Z\n')


def test_the_utf16_check_waits_for_two_bytes_when_the_content_arrives_one_at_a_time() -> None:
    chunks = iter([b"\xff", b"\xfe", "a\n".encode("utf-16-le"), b""])

    assert _Transcoder(lambda _size: next(chunks), "utf-16", "utf-16").read(100) == b"a\n"


def test_a_comma_separated_file_for_a_semicolon_profile_gets_the_hint() -> None:
    with pytest.raises(FileError) as caught:
        run(GERMAN, b"Sendungsnummer,Status,Datum\nKR-1,zugestellt,03.06.2025 14:30\n")

    assert str(caught.value).endswith(
        "The header looks comma-separated (3 columns: sendungsnummer, status, datum): save the file as ';'-separated "
        "CSV, or change the shipper profile's csv.delimiter to ','"
    )


def test_a_time_column_that_cannot_be_read_rejects_the_record() -> None:
    document = {**GERMAN, "columns": {**GERMAN["columns"], "timestamp": ["Datum", "Zeit"]}}

    assert reasons(run(document, b"Sendungsnummer;Status;Datum;Zeit\nKR-1;abgeholt;03.06.2025;7 Uhr\n")) == [
        "timestamp '03.06.2025 7 Uhr' matches none of this shipper's formats ('%d.%m.%Y %H:%M')"
    ]


def test_times_in_an_hour_already_seen_are_checked_like_the_first() -> None:
    document = {**EDI, "timestamps": {"formats": ["%d.%m.%Y %H:%M:%S"], "zone": "Europe/Berlin"}}
    rows = ["02.03.2026 13:00:00", "02.03.2026 13:75:00", "02.03.2026 13:59:00", "02.03.2026 13:00:60"]
    data = "shipment,at7,epoch\n" + "".join(f"S-{n},D1,{value}\n" for n, value in enumerate(rows))

    results = run(document, data.encode())

    assert accepted(results)[0][2] == "2026-03-02T12:00:00Z"  # exactly 24 h after NOW: still accepted
    assert reasons(results) == [
        "timestamp '02.03.2026 13:75:00' is not a real date/time: minute must be in 0..59",
        "timestamp '02.03.2026 13:59:00' (2026-03-02T12:59:00Z) is more than 24 h after the processing time "
        "2026-03-01T12:00:00Z",
        "timestamp '02.03.2026 13:00:60' is not a real date/time: second must be in 0..59",
    ]


def test_every_time_in_a_dst_hour_is_checked_on_its_own() -> None:
    data = "Sendungsnummer;Status;Datum\n" + "".join(
        f"KR-{n};zugestellt;{value}\n" for n, value in enumerate(["30.03.2025 02:10", "30.03.2025 02:50"])
    )

    assert len(reasons(run(GERMAN, data.encode()))) == 2


def test_a_half_hour_dst_change_keeps_the_minutes_after_it() -> None:
    document = {**GERMAN, "timestamps": {"formats": ["%d.%m.%Y %H:%M"], "zone": "Australia/Lord_Howe"}}
    data = b"Sendungsnummer;Status;Datum\nKR-1;zugestellt;05.10.2025 02:45\nKR-2;zugestellt;05.10.2025 02:15\n"

    results = run(document, data)

    assert accepted(results)[0][2] == "2025-10-04T15:45:00Z"  # +11:00 from 02:30 on
    assert "does not exist in Australia/Lord_Howe" in reasons(results)[0]


def test_half_hour_zones_convert_without_the_whole_hour_shortcut() -> None:
    document = {**EDI, "timestamps": {"formats": ["iso8601"], "zone": "Asia/Kolkata"}}
    data = b"shipment,at7,epoch\nS-1,D1,2026-02-01 10:00\nS-2,D1,2026-02-01 10:30:15.500\n"

    assert [update[2] for update in accepted(run(document, data))] == ["2026-02-01T04:30:00Z", "2026-02-01T05:00:15.5Z"]


def test_the_caches_stay_bounded_and_results_do_not_depend_on_them(monkeypatch: pytest.MonkeyPatch) -> None:
    document = {**GERMAN, "timestamps": {"formats": ["%d.%m.%Y %H:%M"], "zone": "Europe/Berlin"}}
    data = "Sendungsnummer;Status;Datum\n" + "".join(
        f"KR-{n};{status};0{n % 9 + 1}.01.2026 1{n % 10}:00\n"
        for n, status in enumerate(["zugestellt", "abgeholt", "In Zustellung"] * 4)
    )
    unbounded = run(document, data.encode())
    monkeypatch.setattr(profiles, "_CACHE_ENTRIES", 2)

    assert run(document, data.encode()) == unbounded
    assert len(accepted(unbounded)) == 12
