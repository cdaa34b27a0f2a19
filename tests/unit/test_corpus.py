"""A corpus of malformed (and tricky-but-valid) files, each with the outcome and reason a shipper gets back.

Every case runs through the handler against the tables; the shared invariants (accepted + rejected = total, one
report line per rejection, the events table holds the accepted updates) are checked for each. ``reason`` is
matched against the file's error_message (FAILED) or the first rejection in the report (PARTIAL).
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from .support import World, as_csv, as_json_array, as_ndjson, gz, record, records

OK = as_ndjson(records(2)).decode()
HEADER = "shipment_id,status,timestamp,carrier\n"
ROW = "SHP-1,CREATED,2026-03-01T10:00:00Z,DHL\n"
ROW2 = "SHP-2,DELIVERED,2026-03-01T10:05:00Z,UPS\n"


@dataclass(frozen=True)
class Case:
    name: str
    key: str
    data: bytes
    status: str
    reason: str
    accepted: int = 0
    rejected: int = 0
    env: dict[str, str] = field(default_factory=dict)


CORPUS = [
    Case("empty file", "e.csv", b"", "FAILED", "file is empty (0 bytes)"),
    Case("whitespace only", "ws.json", b" \n\t\r\n  ", "FAILED", "file contains only whitespace"),
    Case("header-only CSV", "h.csv", HEADER.encode(), "FAILED", "file contains no records"),
    Case("empty JSON array", "a.json", b"[ ]", "FAILED", "file contains no records"),
    Case(
        "CSV header missing a required column",
        "m.csv",
        b"shipment_id,timestamp\nSHP-1,2026-03-01T10:00:00Z\n",
        "FAILED",
        "CSV header is missing required column(s) status; found shipment_id, timestamp",
    ),
    Case(
        "CSV row with missing columns",
        "short.csv",
        (HEADER + ROW + "SHP-2,CREATED\n").encode(),
        "PARTIAL",
        "row has 2 fields but the header has 4 (shipment_id, status, timestamp, carrier)",
        accepted=1,
        rejected=1,
    ),
    Case(
        "CSV row with extra columns",
        "long.csv",
        (HEADER + "SHP-2,CREATED,2026-03-01T10:00:00Z,DHL,surprise\n" + ROW).encode(),
        "PARTIAL",
        "row has 5 fields but the header has 4",
        accepted=1,
        rejected=1,
    ),
    Case(
        "CSV quoted newlines, commas and quotes (valid)",
        "q.csv",
        (HEADER + 'SHP-1,CREATED,2026-03-01T10:00:00Z,"Deutsche\nPost, ""Express"""\n' + ROW2).encode(),
        "SUCCESS",
        "",
        accepted=2,
    ),
    Case(
        "CSV quote never closed",
        "open.csv",
        (HEADER + ROW + 'SHP-2,CREATED,2026-03-01T10:00:00Z,"DHL\n').encode(),
        "FAILED",
        "CSV record starting at line 3 has a quote that is never closed",
        accepted=1,
    ),
    Case(
        "CSV stray quote inside a field",
        "stray.csv",
        (HEADER + '"SHP-9"x,CREATED,2026-03-01T10:00:00Z,DHL\n' + ROW).encode(),
        "PARTIAL",
        "row is not valid CSV: ',' expected after '\"'",
        accepted=1,
        rejected=1,
    ),
    Case(
        "CSV header repeats a column",
        "dup.csv",
        (HEADER.strip() + ",Status\n" + ROW.strip() + ",CREATED\n").encode(),
        "FAILED",
        "CSV header repeats column(s) status (names are case-insensitive)",
    ),
    Case(
        "Excel export: unnamed trailing columns, one row with a value under them",
        "excel.csv",
        (HEADER.strip() + ",,\n" + ROW.strip() + ",,\n" + ROW2.strip() + ",,late\n").encode(),
        "PARTIAL",
        "row has a value under a column with no name in the header: column 6 ('late')",
        accepted=1,
        rejected=1,
    ),
    Case(
        "semicolon-separated CSV",
        "semi.csv",
        b"Sendungsnummer;Status;Datum;Ort\nKR-1;zugestellt;03.06.2025 14:30;Berlin\n",
        "FAILED",
        "The header looks semicolon-separated (4 columns: sendungsnummer, status, datum, ort): save the file as "
        "comma-separated CSV, or ask your operator for a shipper profile with csv.delimiter ';'",
    ),
    Case(
        "tab-separated CSV",
        "tabs.csv",
        (HEADER + ROW).replace(",", "\t").encode(),
        "FAILED",
        "The header looks tab-separated (4 columns: shipment_id, status, timestamp, carrier)",
    ),
    Case(
        "CSV with bare CR line endings",
        "mac.csv",
        (HEADER + ROW).replace("\n", "\r").encode(),
        "FAILED",
        "contains a bare carriage return (\\r) outside quotes",
    ),
    Case(
        "huge line in NDJSON",
        "huge.jsonl",
        (json.dumps(record(1, notes="x" * 70_000)) + "\n" + OK).encode(),
        "PARTIAL",
        "line is 70147 bytes, longer than the 65536-byte limit (MAX_RECORD_BYTES)",
        accepted=2,
        rejected=1,
    ),
    Case(
        "huge line in CSV",
        "huge.csv",
        (HEADER + ROW + "SHP-2,CREATED,2026-03-01T10:00:00Z," + "x" * 70_000 + "\n").encode(),
        "FAILED",
        "line 3: line is 70035 bytes, longer than the 65536-byte limit (MAX_RECORD_BYTES)",
        accepted=1,
    ),
    Case(
        "truncated JSON array",
        "cut.json",
        as_json_array(records(3))[:-60],
        "FAILED",
        "file is truncated: it ends inside item 2",
        accepted=2,
    ),
    Case(
        "just an opening bracket", "bracket.json", b"[\n", "FAILED", "file is truncated: the JSON array is never closed"
    ),
    Case(
        "CSV quote swallowing the rest of the file",
        "swallow.csv",
        (HEADER + ROW + 'SHP-2,CREATED,2026-03-01T10:00:00Z,"DHL\n' + ROW2 * 40).encode(),
        "FAILED",
        "CSV record starting at line 3 is longer than the 1024-byte limit (MAX_RECORD_BYTES); "
        "this usually means a quote that is never closed",
        accepted=1,
        env={"MAX_RECORD_BYTES": "1024"},
    ),
    Case(
        "JSON array never closed",
        "open.json",
        as_json_array(records(2))[:-1],
        "FAILED",
        "file is truncated: the JSON array is never closed (after item 1)",
        accepted=2,
    ),
    Case(
        "JSON array with a trailing comma",
        "comma.json",
        as_json_array(records(2))[:-1] + b",]",
        "FAILED",
        "trailing comma after item 1 at line 1 column",
        accepted=2,
    ),
    Case(
        "JSON array items that are not objects",
        "mixed.json",
        b'[1, "two", ' + as_ndjson([record(3)]).strip() + b", null, [4], true, NaN]",
        "PARTIAL",
        "expected a JSON object, got a number",
        accepted=1,
        rejected=6,
    ),
    Case(
        "JSON array of scalars only",
        "scalars.json",
        b"[1, 2, 3]",
        "FAILED",
        "none of the 3 records is valid; see the rejects report",
        rejected=3,
    ),
    Case(
        "deeply nested JSON",
        "deep.json",
        b"[" * 50_000 + b"]" * 50_000,
        "FAILED",
        "item 0 is nested too deeply to parse",
    ),
    Case(
        "deeply nested NDJSON line",
        "deep.jsonl",
        b'{"a":' * 5_000 + b"1" + b"}" * 5_000 + b"\n" + OK.encode(),
        "PARTIAL",
        "JSON is nested too deeply to parse",
        accepted=2,
        rejected=1,
    ),
    Case(
        "NaN in a JSON record",
        "nan.jsonl",
        b'{"shipment_id":"SHP-1","status":"CREATED","timestamp":"2026-03-01T10:00:00Z","weight":NaN}\n' + OK.encode(),
        "PARTIAL",
        "field 'weight' is NaN; NaN and Infinity are not valid JSON numbers",
        accepted=2,
        rejected=1,
    ),
    Case(
        "integer with 5000 digits",
        "bigint.jsonl",
        b'{"shipment_id":"SHP-1","status":"CREATED","timestamp":"2026-03-01T10:00:00Z","n":'
        + b"9" * 5000
        + b"}\n"
        + OK.encode(),
        "PARTIAL",
        "field 'n' is 5000 bytes; at most 1024 are allowed",
        accepted=2,
        rejected=1,
    ),
    Case(
        "JSON object with a duplicate key",
        "dupkey.json",
        b'[{"shipment_id":"SHP-1","status":"CREATED","status":"DELIVERED","timestamp":"2026-03-01T10:00:00Z"},'
        + as_ndjson([record(2)]).strip()
        + b"]",
        "PARTIAL",
        "field 'status' appears more than once",
        accepted=1,
        rejected=1,
    ),
    Case(
        "unpaired surrogate escape",
        "surrogate.jsonl",
        b'{"shipment_id":"SHP-1","status":"CREATED","timestamp":"2026-03-01T10:00:00Z","note":"\\ud83d"}\n'
        + OK.encode(),
        "PARTIAL",
        "field 'note' contains an unpaired surrogate escape",
        accepted=2,
        rejected=1,
    ),
    Case(
        "NDJSON lines that are not JSON objects",
        "junk.ndjson",
        (OK + 'not json\n[1,2]\n{"shipment_id": \n').encode(),
        "PARTIAL",
        "not valid JSON: Expecting value at column 1",
        accepted=2,
        rejected=3,
    ),
    Case(
        "Latin-1 encoded CSV",
        "latin1.csv",
        (HEADER + "SHP-1,CREATED,2026-03-01T10:00:00Z,Zürich\n").encode("latin-1"),
        "FAILED",
        "line 2 is not valid UTF-8 (byte 0xfc at byte 37 of the line); save the file as UTF-8. The file looks "
        "Windows-1252 or ISO-8859-1 encoded (byte 0xfc would be 'ü' there): save it as UTF-8, or ask your operator "
        "for a shipper profile with encoding windows-1252",
    ),
    Case(
        "invalid UTF-8 inside a JSON array",
        "bad-bytes.json",
        b'[{"shipment_id":"SHP-1","status":"CREATED","timestamp":"2026-03-01T10:00:00Z","city":"Z\xfcrich"}]',
        "FAILED",
        "not valid UTF-8 (byte 0xfc at byte offset 87); save the file as UTF-8",
    ),
    Case(
        "UTF-16 with a byte-order mark",
        "utf16.csv",
        (HEADER + ROW).encode("utf-16"),
        "FAILED",
        "file is UTF-16 encoded (it starts with a UTF-16 byte-order mark); save it as UTF-8, or ask your operator "
        "for a shipper profile with encoding utf-16",
    ),
    Case(
        "binary file named .csv",
        "image.csv",
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00",
        "FAILED",
        "line 1 is not valid UTF-8 (byte 0x89 at byte 1 of the line)",
    ),
    Case(
        "gzip suffix on plain text",
        "fake.csv.gz",
        (HEADER + ROW).encode(),
        "FAILED",
        "key ends in .gz but the content is not gzip data (it starts with 73 68, not 1f 8b)",
    ),
    Case(
        "truncated gzip",
        "cut.csv.gz",
        gz((HEADER + ROW * 50).encode())[:-12],
        "FAILED",
        "gzip data is truncated: Compressed file ended before the end-of-stream marker was reached",
    ),
    Case(
        "corrupt gzip stream",
        "corrupt.jsonl.gz",
        gz(OK.encode())[:10] + b"\xff" * 40,
        "FAILED",
        "not valid gzip data: Error -3 while decompressing data: invalid block type",
    ),
    Case(
        "gzip of an empty file",
        "nothing.csv.gz",
        gz(b""),
        "FAILED",
        "file is empty after gzip decompression",
    ),
    Case(
        "gzip bomb",
        "bomb.csv.gz",
        gzip.compress(HEADER.encode() + b"\0" * 30_000_000, compresslevel=9),
        "FAILED",
        "decompressed content is larger than 10000000 bytes (MAX_DECOMPRESSED_BYTES); a gzip bomb?",
        env={"MAX_DECOMPRESSED_BYTES": "10000000"},
    ),
    Case(
        "object over the size limit",
        "big.csv",
        (HEADER + ROW * 100).encode(),
        "FAILED",
        "file is 3937 bytes, larger than the 1000-byte limit (MAX_OBJECT_BYTES)",
        env={"MAX_OBJECT_BYTES": "1000"},
    ),
    Case(
        "more records than allowed",
        "many.jsonl",
        as_ndjson(records(5)),
        "FAILED",
        "file has more than 3 records (MAX_RECORDS)",
        accepted=3,
        env={"MAX_RECORDS": "3"},
    ),
    Case(
        "JSON array item over the record size limit",
        "fat.json",
        as_json_array([record(1), record(2, notes="x" * 1000), record(3)]),
        "FAILED",
        "item 1 is larger than the 512-byte limit (MAX_RECORD_BYTES)",
        accepted=1,
        env={"MAX_RECORD_BYTES": "512"},
    ),
    Case(
        "NDJSON content in a .json file",
        "lines.json",
        as_ndjson(records(2)),
        "FAILED",
        "unexpected content after the JSON object at line 2 column 1; a file with one JSON object per line "
        "must be named .jsonl or .ndjson",
    ),
    Case(
        ".json file that is not an array or object",
        "scalar.json",
        b'"just a string"',
        "FAILED",
        "a .json file must start with '[' (an array of records) or '{' (one record); found '\"'",
    ),
    Case(
        "garbage after the closing bracket",
        "tail.json",
        as_json_array(records(1)) + b" {}",
        "FAILED",
        "unexpected content after the closing ']' at line 1 column",
        accepted=1,
    ),
    Case(
        "missing separator between array items",
        "nosep.json",
        b"[" + as_ndjson([record(1)]).strip() + b" " + as_ndjson([record(2)]).strip() + b"]",
        "FAILED",
        "expected ',' or ']' after item 0 at line 1 column",
        accepted=1,
    ),
    Case(
        "syntax error inside an array item",
        "syntax.json",
        b'[{"shipment_id": "SHP-1", "status": CREATED}]' + b" " * 100,
        "FAILED",
        "item 0 is not valid JSON: Expecting value at line 1 column 37",
    ),
    Case(
        "nested object where text is expected",
        "nested.json",
        as_json_array([record(1, location={"city": "Lyon"}), record(2)]),
        "PARTIAL",
        "field 'location' is a JSON object; optional fields must be text, numbers or booleans",
        accepted=1,
        rejected=1,
    ),
    Case(
        "no valid records at all",
        "allbad.csv",
        as_csv([record(1, status="LOST"), record(2, timestamp="soon")]),
        "FAILED",
        "none of the 2 records is valid; see the rejects report",
        rejected=2,
    ),
    Case(
        "full-width digits in a timestamp",
        "fullwidth.csv",
        as_csv([record(1), record(2, timestamp="\uff12\uff10\uff12\uff16-03-01T10:00:00Z")]),
        "PARTIAL",
        "is not ISO 8601 with an offset",
        accepted=1,
        rejected=1,
    ),
    Case(
        "a status that matches only after Unicode case mapping (dotless i)",
        "dotless.csv",
        as_csv([record(1), record(2, status="p\u0131cked_up")]),
        "PARTIAL",
        "is not one of CREATED",
        accepted=1,
        rejected=1,
    ),
    Case(
        "a record with a thousand bad fields (the reason is capped at 2 KB)",
        "wide.jsonl",
        as_ndjson([record(1), record(2, **{f"f{n:04d}": [n] for n in range(1000)})]),
        "PARTIAL",
        "field 'f0000' is a JSON array; optional fields must be text, numbers or booleans; field 'f0001'",
        accepted=1,
        rejected=1,
    ),
    Case(
        "gzip of millions of blank lines",
        "blank.jsonl.gz",
        gz(as_ndjson(records(1)) + b"\n" * 2_000_000),
        "FAILED",
        "file has more than 1000 blank lines (they count toward MAX_RECORDS)",
        accepted=1,
        env={"MAX_RECORDS": "1000"},
    ),
]


@pytest.mark.parametrize("case", CORPUS, ids=[case.name for case in CORPUS])
def test_malformed_file_outcome(world: World, case: Case) -> None:
    world.env.update(case.env)

    result = world.process(f"incoming/corpus/{case.key}", case.data)

    assert result.status == case.status
    assert (result.item["records_accepted"], result.item["records_rejected"]) == (case.accepted, case.rejected)
    if case.status == "FAILED":
        assert case.reason in result.item["error_message"]
    elif case.status == "PARTIAL":
        assert case.reason in result.rejects[0]["reason"]
    else:
        assert "error_message" not in result.item


def test_the_corpus_in_the_docs_is_the_corpus_the_tests_run() -> None:
    assert DOCS.read_text() == DOCS_HEADER + corpus_table() + "\n", (
        "regenerate: python -m tests.unit.test_corpus > docs/corpus.md"
    )


def test_corpus_is_broad() -> None:
    assert len({case.name for case in CORPUS}) == len(CORPUS) >= 25
    assert {case.status for case in CORPUS} == {"SUCCESS", "PARTIAL", "FAILED"}


DOCS = Path(__file__).resolve().parents[2] / "docs" / "corpus.md"
DOCS_HEADER = """# Malformed files and what a shipper gets back

Every case runs through the real handler in the unit tests (`tests/unit/test_corpus.py`); this page is generated
from them (`python -m tests.unit.test_corpus > docs/corpus.md`) and a test checks it is current. The reason is the
file's `error_message` (FAILED) or the first rejection in the rejects report (PARTIAL).

An upload that changes while it is being processed (the cases of `tests/unit/test_chain_end.py`):
- deleted before it was read to the end: FAILED, "object no longer exists", with the counts and the rejects report
  of the records read before;
- overwritten in a bucket without versioning: SUPERSEDED, with the same report; the newer upload is processed on
  its own;
- uploaded again to a bucket whose versioning is suspended (every object is the "null" version): each upload is
  processed on its own, never taken for a duplicate.

"""


def corpus_table() -> str:
    """The corpus as a Markdown table (case -> outcome -> reason), for docs and reports."""
    lines = ["| case | outcome | accepted/rejected | reason |", "|---|---|---|---|"]
    for case in CORPUS:
        reason = case.reason.replace("|", "\\|") or "-"
        lines.append(f"| {case.name} | {case.status} | {case.accepted}/{case.rejected} | {reason} |")
    return "\n".join(lines)


if __name__ == "__main__":  # pragma: no cover - `python -m tests.unit.test_corpus` prints the page
    print(DOCS_HEADER + corpus_table())
