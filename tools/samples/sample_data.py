"""Seeded, reproducible sample shipment files for the demo and the end-to-end test (`examples/shipment-files/`).

Four shippers, each with its own id scheme, carriers, locations and UTC offset, upload a day or two of status
updates: a clean CSV (quoted locations with commas), a clean NDJSON, a JSON array with sloppy-but-valid field
names and statuses, a gzip CSV, a CSV with a few bad records of every kind, a single JSON object, and a
UTF-16 export that fails as a whole. Two more shippers send their own export shape, read through their shipper
profiles (`examples/profiles/<shipper>.json`): a German carrier's semicolon-separated Windows-1252 file with
German status words and Berlin local times, and an EDI 214-style feed with AT7 codes and Unix epoch times.
`manifest.json` lists every file with the S3 key it is uploaded under and the outcome the record contract
(docs/design.md) prescribes, plus three shipments followed across files.

The same seed always writes byte-identical files (fixed gzip header, sorted JSON keys, no wall-clock input),
so the files are committed and `--check` tells whether they are current.

    python -m tools.samples.sample_data [--out examples/shipment-files] [--check]
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import datetime as dt
import gzip
import io
import json
import random
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_OUT = ROOT / "examples" / "shipment-files"
PROFILES_DIR = ROOT / "examples" / "profiles"
# The local account's root stands in for the profiled shippers' upload roles (the local AWS has no other accounts).
LOCAL_PRINCIPAL = "arn:aws:iam::123456789012:root"
SEED = 20250602
START = dt.datetime(2025, 6, 2, 6, 0, tzinfo=dt.UTC)  # in the past, so no update is "in the future"
STATUS_FLOW = ["CREATED", "PICKED_UP", "IN_TRANSIT", "IN_TRANSIT", "OUT_FOR_DELIVERY", "DELIVERED"]
CSV_FIELDS = ["shipment_id", "status", "timestamp", "carrier", "tracking_number", "location", "eta"]


@dataclasses.dataclass(frozen=True)
class Shipper:
    name: str  # the path segment after incoming/ (may contain spaces)
    id_format: Callable[[random.Random], str]
    carriers: tuple[str, ...]
    locations: tuple[str, ...]
    utc_offset_h: int


def _tracking(rng: random.Random, carrier: str) -> str:
    digits = "0123456789"
    alnum = "0123456789ABCDEFGHJKLMNPRSTUVWXYZ"
    if carrier == "UPS":
        return "1Z" + "".join(rng.choices(alnum, k=6)) + "03" + "".join(rng.choices(digits, k=8))
    if carrier == "USPS":
        return "9400" + "".join(rng.choices(digits, k=18))
    if carrier == "Royal Mail":
        return "".join(rng.choices("ABCDEFGHJKLMNPRSTUVWXYZ", k=2)) + "".join(rng.choices(digits, k=9)) + "GB"
    length = {"FedEx": 12, "DHL": 10, "DPD": 14, "GLS": 11}.get(carrier, 12)
    return "".join(rng.choices(digits, k=length))


SHIPPERS = {
    "acme": Shipper(
        "acme-logistics",
        lambda rng: f"ACME-{rng.randrange(10**7, 10**8)}",
        ("UPS", "FedEx", "USPS"),
        (
            "Memphis, TN, US",
            "Louisville, KY, US",
            "Chicago, IL, US",
            "Dallas, TX, US",
            "Newark, NJ, US",
            "Atlanta, GA, US",
            "Ontario, CA, US",
        ),
        -5,
    ),
    "northwind": Shipper(
        "northwind freight",
        lambda rng: f"NWF2025-{rng.randrange(10**5, 10**6):06d}",
        ("DHL", "Royal Mail", "DPD"),
        ("East Midlands, GB", "Heathrow, GB", "Leipzig, DE", "Coventry, GB", "Paris CDG, FR"),
        1,
    ),
    "globex": Shipper(
        "globex",
        lambda rng: "GX_" + "".join(rng.choices("ABCDEFGHJKLMNPQRSTUVWXYZ23456789", k=10)),
        ("Maersk", "DHL", "FedEx"),
        ("Rotterdam, NL", "Antwerp, BE", "Hamburg, DE", "Felixstowe, GB", "Singapore, SG"),
        0,
    ),
    "initech": Shipper(
        "initech",
        lambda rng: f"INI-{rng.randrange(10**6, 10**7)}",
        ("GLS", "DPD", "DHL"),
        ("Vienna, AT", "Munich, DE", "Prague, CZ", "Graz, AT", "Budapest, HU"),
        2,
    ),
}


class Fleet:
    """One shipper's shipments, each moving through the status flow with increasing timestamps."""

    def __init__(self, rng: random.Random, shipper: Shipper, size: int) -> None:
        self.rng = rng
        self.shipper = shipper
        self.ids: list[str] = []
        while len(self.ids) < size:
            candidate = shipper.id_format(rng)
            if candidate not in self.ids:
                self.ids.append(candidate)
        self.reserved: set[str] = set()  # followed shipments: they move only when asked to
        self.state: dict[str, dict[str, Any]] = {}
        for sid in self.ids:
            carrier = rng.choice(shipper.carriers)
            self.state[sid] = {
                "step": 0,
                "time": START + dt.timedelta(minutes=rng.randrange(0, 18 * 60)),
                "carrier": carrier,
                "tracking_number": _tracking(rng, carrier),
                "eta": (START + dt.timedelta(days=rng.randrange(2, 6))).date().isoformat(),
            }

    def next_update(self, sid: str | None = None, fraction: bool = False) -> dict[str, str]:
        """The next status update of a shipment (random if not given) that still has one to send."""
        if sid is None:
            open_ids = [s for s in self.ids if self.state[s]["step"] < len(STATUS_FLOW) and s not in self.reserved]
            sid = self.rng.choice(open_ids)
        state = self.state[sid]
        status = STATUS_FLOW[state["step"]]
        if status == "IN_TRANSIT" and self.rng.random() < 0.06:
            status = self.rng.choice(["DELAYED", "EXCEPTION"])
        state["step"] += 1
        state["time"] += dt.timedelta(minutes=self.rng.randrange(40, 9 * 60))
        offset = dt.timezone(dt.timedelta(hours=self.shipper.utc_offset_h))
        local = state["time"].astimezone(offset)
        if fraction:
            local = local.replace(microsecond=self.rng.randrange(0, 1000) * 1000)
        text = local.isoformat(timespec="milliseconds" if fraction else "seconds")
        return {
            "shipment_id": sid,
            "status": status,
            "timestamp": text.replace("+00:00", "Z"),
            "carrier": state["carrier"],
            "tracking_number": state["tracking_number"],
            "location": self.rng.choice(self.shipper.locations),
            "eta": state["eta"],
        }

    def updates(self, count: int, fraction: bool = False) -> list[dict[str, str]]:
        return [self.next_update(fraction=fraction) for _ in range(count)]


# ------------------------------------------------------------------------------------------------ writers


def csv_bytes(records: list[dict[str, str]], fields: list[str] = CSV_FIELDS) -> bytes:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=fields, lineterminator="\r\n", extrasaction="ignore")
    writer.writeheader()
    writer.writerows(records)
    return buffer.getvalue().encode("utf-8")


def ndjson_bytes(records: list[dict[str, str]]) -> bytes:
    return "".join(json.dumps(r, sort_keys=True) + "\n" for r in records).encode("utf-8")


def gzip_bytes(data: bytes) -> bytes:
    """gzip with a fixed header (no name, mtime 0), so the same input always gives the same bytes."""
    buffer = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buffer, mtime=0, compresslevel=9) as archive:
        archive.write(data)
    return buffer.getvalue()


def sloppy(record: dict[str, str]) -> dict[str, str]:
    """The same update as a careless exporter writes it: odd key case, spaces, readable statuses (all valid)."""
    status = record["status"].replace("_", " ").title()
    return {
        "Shipment_ID": record["shipment_id"],
        " Status ": status.replace(" ", "-") if status.startswith("Out") else status,
        "TimeStamp": record["timestamp"],
        "Carrier": record["carrier"],
        "Tracking_Number": record["tracking_number"],
        "Location": record["location"],
        "ETA": record["eta"],
    }


# -------------------------------------------------------------------------------------------- bad records

BAD_KINDS = [
    ("status", lambda r, rng: {**r, "status": "LOST"}),
    ("timestamp", lambda r, rng: {**r, "timestamp": r["timestamp"][:16].replace("T", " ")}),  # no offset
    ("timestamp", lambda r, rng: {**r, "timestamp": "2025-13-01T10:00:00Z"}),
    ("timestamp", lambda r, rng: {**r, "timestamp": "2099-01-01T00:00:00Z"}),  # in the future
    ("shipment_id", lambda r, rng: {**r, "shipment_id": ""}),
    ("shipment_id", lambda r, rng: {**r, "shipment_id": r["shipment_id"].replace("-", "#")}),
    ("location", lambda r, rng: {**r, "location": "Dock 7, " + "overflow area " * 90}),  # > 1 KB
]


def with_bad_records(
    records: list[dict[str, str]], rng: random.Random, count: int
) -> tuple[list[dict[str, str]], list[dict[str, Any]]]:
    """Replace `count` records (spread through the file) by invalid ones; return the file and what was broken."""
    out = list(records)
    positions = sorted(rng.sample(range(len(out)), count))
    broken = []
    for n, index in enumerate(positions):
        field, breaker = BAD_KINDS[n % len(BAD_KINDS)]
        out[index] = breaker(out[index], rng)
        broken.append({"line": index + 2, "field": field})  # CSV line numbers: the header is line 1
    return out, broken


# ------------------------------------------------------------------------------------------------ the set


@dataclasses.dataclass
class SampleFile:
    path: str  # relative to the output directory: <shipper>/<file name>
    shipper: str
    description: str
    format: str
    records: int
    expected: dict[str, Any]
    data: bytes = dataclasses.field(repr=False, default=b"")

    @property
    def key(self) -> str:
        return f"incoming/{self.path}"

    def manifest_entry(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "key": self.key,
            "shipper": self.shipper,
            "description": self.description,
            "format": self.format,
            "records": self.records,
            "bytes": len(self.data),
            "expected": self.expected,
        }


def _success(n: int) -> dict[str, Any]:
    return {"processing_status": "SUCCESS", "records_accepted": n, "records_rejected": 0}


def generate(seed: int = SEED) -> tuple[list[SampleFile], dict[str, Any]]:
    """Every sample file (bytes included) and the featured shipments, all derived from `seed`."""
    rng = random.Random(seed)
    fleets = {
        name: Fleet(rng, shipper, size)
        for (name, shipper), size in zip(SHIPPERS.items(), (260, 220, 180, 300), strict=True)
    }
    acme, northwind, globex, initech = (fleets[n] for n in ("acme", "northwind", "globex", "initech"))
    featured = [acme.ids[0], northwind.ids[0], globex.ids[0]]
    for fleet, sid in zip((acme, northwind, globex), featured, strict=True):
        fleet.reserved.add(sid)
    files: list[SampleFile] = []
    accepted: list[dict[str, str]] = []

    def follow(fleet: Fleet, records: list[dict[str, str]], steps: int, sid: str) -> list[dict[str, str]]:
        """Put `steps` updates of a featured shipment into a file (at spread positions)."""
        for n in range(steps):
            records.insert((n * 97) % (len(records) + 1), fleet.next_update(sid))
        return records

    day1 = follow(acme, acme.updates(796), 3, featured[0])
    files.append(
        SampleFile(
            "acme-logistics/2025-06-02 manifest.csv",
            acme.shipper.name,
            "clean CSV, quoted locations with commas",
            "csv",
            len(day1),
            _success(len(day1)),
            csv_bytes(day1),
        )
    )
    accepted += day1

    nw = follow(northwind, northwind.updates(695, fraction=True), 5, featured[1])
    files.append(
        SampleFile(
            "northwind freight/updates-2025-06-02.jsonl",
            northwind.shipper.name,
            "clean NDJSON, millisecond timestamps, +01:00 offsets",
            "ndjson",
            len(nw),
            _success(len(nw)),
            ndjson_bytes(nw),
        )
    )
    accepted += nw

    gx = follow(globex, globex.updates(497), 3, featured[2])
    files.append(
        SampleFile(
            "globex/status batch 0602.json",
            globex.shipper.name,
            "JSON array, mixed-case keys and readable statuses",
            "json",
            len(gx),
            _success(len(gx)),
            json.dumps([sloppy(r) for r in gx], indent=1).encode("utf-8"),
        )
    )
    accepted += gx

    ini = initech.updates(900)
    files.append(
        SampleFile(
            "initech/daily-2025-06-02.csv.gz",
            initech.shipper.name,
            "gzip-compressed CSV",
            "csv.gz",
            len(ini),
            _success(len(ini)),
            gzip_bytes(csv_bytes(ini)),
        )
    )
    accepted += ini

    day2 = follow(acme, acme.updates(397), 3, featured[0])
    day2, broken = with_bad_records(day2, rng, 28)
    bad_lines = {b["line"] for b in broken}
    files.append(
        SampleFile(
            "acme-logistics/2025-06-03 manifest+corrections.csv",
            acme.shipper.name,
            "CSV with bad records: unknown status, bad or future timestamps, bad ids, oversized field",
            "csv",
            len(day2),
            {
                "processing_status": "PARTIAL",
                "records_accepted": len(day2) - len(broken),
                "records_rejected": len(broken),
                "rejected_lines": sorted(bad_lines),
            },
            csv_bytes(day2),
        )
    )
    accepted += [r for i, r in enumerate(day2) if i + 2 not in bad_lines]

    correction = globex.next_update(featured[2])
    files.append(
        SampleFile(
            "globex/correction-0603.json",
            globex.shipper.name,
            "a single JSON object",
            "json",
            1,
            _success(1),
            json.dumps(correction, indent=2).encode("utf-8"),
        )
    )
    accepted.append(correction)

    legacy = initech.updates(120)
    files.append(
        SampleFile(
            "initech/legacy export utf16.csv",
            initech.shipper.name,
            "UTF-16 export from a spreadsheet: not UTF-8, so the whole file fails",
            "csv",
            len(legacy),
            {"processing_status": "FAILED", "records_accepted": 0},
            b"\xff\xfe" + csv_bytes(legacy).decode("utf-8").encode("utf-16-le"),
        )
    )

    files += profiled_files(seed)

    latest = {}
    for sid in featured:
        updates = [r for r in accepted if r["shipment_id"] == sid]
        newest = max(updates, key=lambda r: dt.datetime.fromisoformat(r["timestamp"].replace("Z", "+00:00")))
        latest[sid] = {"status": newest["status"], "timestamp": newest["timestamp"], "updates": len(updates)}
    return files, {"seed": seed, "featured_shipments": latest}


# ------------------------------------------------------------------------------------------------ profiled shippers

KRAUS = Shipper(
    "kraus-logistik",
    lambda rng: f"KR{rng.randrange(10**9, 10**10)}",
    ("DHL", "Hermes", "GLS"),
    ("München", "Köln", "Nürnberg", "Düsseldorf", "Frankfurt am Main", "Würzburg"),
    2,
)
TRANSWEST = Shipper(
    "transwest-edi",
    lambda rng: f"TW{rng.randrange(10**7, 10**8)}",
    ("TWX",),
    ("Reno NV", "Sacramento CA", "Salt Lake City UT", "Boise ID", "Fresno CA"),
    -7,
)
GERMAN_STATUS = {
    "CREATED": "angelegt",
    "PICKED_UP": "abgeholt",
    "IN_TRANSIT": "unterwegs",
    "OUT_FOR_DELIVERY": "in Zustellung",
    "DELIVERED": "zugestellt",
    "DELAYED": "verzögert",
    "EXCEPTION": "Störung",
}
AT7_STATUS = {
    "CREATED": "XB",
    "PICKED_UP": "AF",
    "IN_TRANSIT": "X6",
    "OUT_FOR_DELIVERY": "X1",
    "DELIVERED": "D1",
    "DELAYED": "SD",
    "EXCEPTION": "A9",
}
BERLIN = ZoneInfo("Europe/Berlin")


def profiled_files(seed: int = SEED) -> list[SampleFile]:
    """The two profiled shippers' files; their own random stream, so the other files do not change."""
    rng = random.Random(seed + 1)
    kraus, transwest = Fleet(rng, KRAUS, 90), Fleet(rng, TRANSWEST, 80)
    german = kraus.updates(160)
    lost = set(rng.sample(range(len(german)), 4))  # a word the profile does not map: those rows are rejected
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
    writer.writerow(
        ["Sendungsnummer", "Status", "Datum", "Zeit", "Ort", "Dienstleister", "Bemerkung", "Sachbearbeiter"]
    )
    for number, update in enumerate(german):
        local = dt.datetime.fromisoformat(update["timestamp"]).astimezone(BERLIN)
        status = "verloren" if number in lost else GERMAN_STATUS[update["status"]]
        note = "Nachbar; Haus 2" if rng.random() < 0.1 else ""
        writer.writerow(
            [
                update["shipment_id"],
                status,
                f"{local:%d.%m.%Y}",
                f"{local:%H:%M}",
                update["location"],
                update["carrier"],
                note,
                rng.choice(["mk", "jb", "lw"]),
            ]
        )
    edi = transwest.updates(200)
    lines = [
        f"{u['shipment_id']}|{AT7_STATUS[u['status']]}|{int(dt.datetime.fromisoformat(u['timestamp']).timestamp())}"
        f"|{u['location']}|{u['carrier']}"
        for u in edi
    ]
    return [
        SampleFile(
            "kraus-logistik/Sendungen 2025-06-03.csv",
            KRAUS.name,
            "German carrier export read through its profile: ';', Windows-1252, German status words, Berlin time; "
            f"{len(lost)} rows say 'verloren', which the profile does not map",
            "csv",
            len(german),
            {
                "processing_status": "PARTIAL",
                "records_accepted": len(german) - len(lost),
                "records_rejected": len(lost),
            },
            buffer.getvalue().encode("cp1252"),
        ),
        SampleFile(
            "transwest-edi/AT7 2025-06-03.txt",
            TRANSWEST.name,
            "EDI 214-style feed read through its profile: AT7 codes, Unix epoch seconds, '|', no header row",
            "csv",
            len(edi),
            _success(len(edi)),
            ("\n".join(lines) + "\n").encode("ascii"),
        ),
    ]


def profiles() -> dict[str, str]:
    """The profiled shippers' profile documents, as Terraform's shipper_profiles takes them."""
    return {path.stem: path.read_text() for path in sorted(PROFILES_DIR.glob("*.json"))}


def local_shipper_vars() -> dict[str, Any]:
    """Terraform variables that declare the profiled shippers on the local AWS (principals and profiles)."""
    found = profiles()
    return {"shipper_principals": {name: [LOCAL_PRINCIPAL] for name in found}, "shipper_profiles": found}


def write(out: Path = DEFAULT_OUT, seed: int = SEED) -> list[Path]:
    """Write every sample file and manifest.json under `out`; return the paths written."""
    files, extra = generate(seed)
    written = []
    for sample in files:
        path = out / sample.path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(sample.data)
        written.append(path)
    manifest = {**extra, "files": [f.manifest_entry() for f in files]}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return [*written, out / "manifest.json"]


def stale(out: Path = DEFAULT_OUT, seed: int = SEED) -> list[str]:
    """Files under `out` that differ from what the generator writes (empty when current)."""
    files, extra = generate(seed)
    expected = {f.path: f.data for f in files}
    manifest = {**extra, "files": [f.manifest_entry() for f in files]}
    expected["manifest.json"] = (json.dumps(manifest, indent=2) + "\n").encode()
    return [name for name, data in expected.items() if not (out / name).is_file() or (out / name).read_bytes() != data]


def load_manifest(out: Path = DEFAULT_OUT) -> dict[str, Any]:
    return json.loads((out / "manifest.json").read_text())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--check", action="store_true", help="exit 1 if the files under --out are not current")
    args = parser.parse_args(argv)
    if args.check:
        differing = stale(args.out, args.seed)
        for name in differing:
            print(f"out of date: {args.out / name}", file=sys.stderr)
        return 1 if differing else 0
    paths = write(args.out, args.seed)
    manifest = load_manifest(args.out)
    total = sum(f["records"] for f in manifest["files"])
    print(f"wrote {len(paths)} files ({total} records) to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
