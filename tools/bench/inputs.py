"""Seeded, reproducible shipment files for the benchmark, cached under `build/bench/inputs/`.

Every file name carries the parameters that produced it (generator version, seed, record count or size), so a
later run reuses a file only when it would generate the same bytes. Files are written to a temporary name and
renamed, so an interrupted run never leaves a truncated input behind.

The records look like real shipper files: seven fields (three required, four optional), mostly UTC timestamps
with some offsets and fractions, quoted CSV cells (locations contain commas), and about 1 % invalid records
(unknown status, timestamp without offset, missing shipment id) so the rejection path is exercised too.
"""

from __future__ import annotations

import csv
import gzip
import json
import random
import shutil
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import IO

GENERATOR_VERSION = 1
SEED = 20260301
FIELDS = ("shipment_id", "status", "timestamp", "carrier", "tracking_number", "location", "eta")
STATUSES = ("CREATED", "PICKED_UP", "IN_TRANSIT", "OUT_FOR_DELIVERY", "DELIVERED", "DELAYED", "EXCEPTION")
CARRIERS = ("UPS", "DHL", "FedEx", "USPS", "DPD", "GLS", "La Poste")
LOCATIONS = (
    "Berlin, DE",
    "Hamburg, DE",
    "Lyon, FR",
    "Paris, FR",
    "Austin, TX, US",
    "Memphis, TN, US",
    "Louisville, KY, US",
    "Rotterdam, NL",
    "Milano, IT",
    "Warszawa, PL",
)
# All timestamps fall in the first 60 days of 2024: in the past for any processing time the bench uses.
_EPOCH_DAYS = 60
_OFFSETS = ("+01:00", "+02:00", "-05:00", "-06:00", "+05:30")
INVALID_SHARE = 0.01

Row = tuple[str, ...]  # values in FIELDS order; "" means the field is absent


def _timestamp(rng: random.Random) -> str:
    day = rng.randrange(_EPOCH_DAYS)
    month, mday = (1, day + 1) if day < 31 else (2, day - 30)
    clock = f"{rng.randrange(24):02d}:{rng.randrange(60):02d}:{rng.randrange(60):02d}"
    style = rng.random()
    if style < 0.85:
        return f"2024-{month:02d}-{mday:02d}T{clock}Z"
    if style < 0.95:
        return f"2024-{month:02d}-{mday:02d}T{clock}{rng.choice(_OFFSETS)}"
    return f"2024-{month:02d}-{mday:02d}T{clock}.{rng.randrange(1000):03d}Z"


def rows(count: int, seed: int = SEED) -> Iterator[Row]:
    """``count`` records in FIELDS order, the same ones for the same seed."""
    rng = random.Random(seed)
    for _ in range(count):
        row = [
            f"SHP-{rng.randrange(10**10):010d}",
            rng.choice(STATUSES),
            _timestamp(rng),
            rng.choice(CARRIERS),
            f"1Z{rng.randrange(16**14):014X}",
            rng.choice(LOCATIONS),
            f"2024-03-{rng.randrange(1, 29):02d}",
        ]
        draw = rng.random()
        if draw < INVALID_SHARE:
            if draw < INVALID_SHARE * 0.4:
                row[1] = "LOST_IN_SPACE"
            elif draw < INVALID_SHARE * 0.7:
                row[2] = row[2][:19]  # no UTC offset
            else:
                row[0] = ""
        yield tuple(row)


def _as_object(row: Row) -> dict[str, str]:
    return {name: value for name, value in zip(FIELDS, row, strict=True) if value}


def _write_csv(out: IO[str], source: Iterator[Row], stop: Callable[[int], bool] | None = None) -> int:
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(FIELDS)
    count = 0
    for row in source:
        writer.writerow(row)
        count += 1
        if stop is not None and count % 1000 == 0 and stop(out.tell()):
            break
    return count


SUFFIXES = {"csv": ".csv", "ndjson": ".jsonl", "json_array": ".json"}


def _atomic(path: Path, write: Callable[[Path], None]) -> Path:
    if path.is_file():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    scratch = path.with_name(path.name + ".partial")
    write(scratch)
    scratch.replace(path)
    return path


def records_path(directory: Path, fmt: str, count: int, seed: int = SEED) -> Path:
    return directory / f"shipments-v{GENERATOR_VERSION}-s{seed}-n{count}{SUFFIXES[fmt]}"


def records_file(directory: Path, fmt: str, count: int, seed: int = SEED) -> Path:
    """A file of ``count`` records in ``fmt`` (csv, ndjson, json_array); all three are generated on first use."""
    path = records_path(directory, fmt, count, seed)
    if not path.is_file():
        _write_all_formats(directory, count, seed)
    return path


def _write_all_formats(directory: Path, count: int, seed: int) -> None:
    """One pass over the records writes the three formats (each record is generated and encoded once)."""
    directory.mkdir(parents=True, exist_ok=True)
    final = {fmt: records_path(directory, fmt, count, seed) for fmt in SUFFIXES}
    scratch = {fmt: path.with_name(path.name + ".partial") for fmt, path in final.items()}
    with (
        scratch["csv"].open("w", encoding="utf-8", newline="") as plain,
        scratch["ndjson"].open("w", encoding="utf-8") as lines,
        scratch["json_array"].open("w", encoding="utf-8") as array,
    ):
        writer = csv.writer(plain, lineterminator="\n")
        writer.writerow(FIELDS)
        array.write("[\n")
        for number, row in enumerate(rows(count, seed)):
            writer.writerow(row)
            text = json.dumps(_as_object(row))
            lines.write(text + "\n")
            array.write(f",\n{text}" if number else text)
        array.write("\n]\n")
    for fmt, path in final.items():
        scratch[fmt].replace(path)


def sized_path(directory: Path, size_bytes: int, seed: int = SEED) -> Path:
    return directory / f"shipments-v{GENERATOR_VERSION}-s{seed}-b{size_bytes}.csv"


def sized_csv(directory: Path, size_bytes: int, seed: int = SEED) -> Path:
    """A CSV of at least ``size_bytes`` (whole records, checked every 1000 records)."""
    path = sized_path(directory, size_bytes, seed)

    def write(target: Path) -> None:
        with target.open("w", encoding="utf-8", newline="") as out:
            _write_csv(out, rows(10**12, seed), stop=lambda written: written >= size_bytes)

    return _atomic(path, write)


def gzip_path(source: Path) -> Path:
    return source.with_name(source.name + ".gz")


def gzipped(source: Path) -> Path:
    """``source`` gzip-compressed (level 6, mtime 0: the same bytes every time)."""

    def write(target: Path) -> None:
        with (
            source.open("rb") as raw,
            target.open("wb") as sink,
            gzip.GzipFile(filename="", mode="wb", fileobj=sink, compresslevel=6, mtime=0) as packed,
        ):
            shutil.copyfileobj(raw, packed, 1 << 20)

    return _atomic(gzip_path(source), write)


def limit_gzip_path(
    directory: Path, *, records: int, content: int, compressed: int, notes: int, seed: int = SEED
) -> Path:
    name = f"shipments-v{GENERATOR_VERSION}-s{seed}-limits-n{records}-c{content}-z{compressed}-notes{notes}.csv.gz"
    return directory / name


def limit_gzip(
    directory: Path, *, records: int, content: int, compressed: int, notes: int = 0, seed: int = SEED
) -> Path:
    """The largest gzip CSV within three limits: at most ``records`` records, ``content`` bytes of content and
    ``compressed`` bytes of gzip, written straight into the gzip (no plain copy). ``notes`` > 0 adds a ``notes``
    column of about that many bytes of free text per record (drawn from a seeded pool of remarks), so the content
    limit binds before the record count does."""
    pool: list[str] = []
    if notes:
        words = ("parcel", "left", "at", "door", "customer", "not", "home", "signed", "by", "neighbour", "damaged",
                 "box", "rerouted", "via", "hub", "depot", "awaiting", "customs", "clearance", "pallet", "wrapped",
                 "driver", "called", "recipient", "gate", "code", "missing", "rescheduled", "for", "tomorrow",
                 )  # fmt: skip
        draw = random.Random(seed + 1)
        for _ in range(4096):
            text = ""
            while len(text) < notes:
                text += draw.choice(words) + " "
            pool.append(text.strip())
    margin = min(1 << 20, compressed // 8)  # the compressor holds back output; stop while the file is surely within
    counted = 0

    def write(target: Path) -> None:
        nonlocal counted
        with target.open("wb") as sink, gzip.GzipFile(filename="", mode="wb", fileobj=sink, compresslevel=6,
                                                      mtime=0) as packed:  # fmt: skip
            header = ",".join(FIELDS + (("notes",) if notes else ())) + "\n"
            buffer, written = [header], len(header)
            choose = random.Random(seed + 2).randrange
            for count, row in enumerate(rows(records, seed), start=1):
                cells = [f'"{cell}"' if "," in cell else cell for cell in row]
                if notes:
                    cells.append(pool[choose(4096)])
                line = ",".join(cells) + "\n"
                if written + len(line) > content:
                    break
                buffer.append(line)
                written += len(line)
                counted = count
                if count % 1_000 == 0:
                    packed.write("".join(buffer).encode())
                    buffer.clear()
                    if sink.tell() + margin > compressed:
                        break
            packed.write("".join(buffer).encode())

    path = limit_gzip_path(directory, records=records, content=content, compressed=compressed, notes=notes, seed=seed)
    count_file = path.with_name(path.name + ".records")
    if not count_file.is_file():
        path.unlink(missing_ok=True)
        _atomic(path, write)
        if path.stat().st_size > compressed:
            path.unlink()
            raise ValueError(f"{path.name}: the gzip came out above its {compressed:,}-byte limit; lower the margin")
        count_file.write_text(str(counted))
    return path


def record_count(path: Path) -> int:
    """How many records :func:`limit_gzip` wrote into ``path``."""
    return int(path.with_name(path.name + ".records").read_text())


def content_size(path: Path) -> int:
    """A single-member gzip's content size, from its trailer (ISIZE: the size modulo 4 GiB)."""
    with path.open("rb") as packed:
        packed.seek(-4, 2)
        return int.from_bytes(packed.read(4), "little")


def sized_csv_and_gzip(directory: Path, size_bytes: int, seed: int = SEED) -> tuple[Path, Path]:
    plain = sized_csv(directory, size_bytes, seed)
    return plain, gzipped(plain)


def prepare(directory: Path, record_counts: Iterable[int], sized: Iterable[int]) -> list[Path]:
    """Generate every missing input, two processes at a time; return all the paths (cached ones included)."""
    jobs: list[tuple[Callable[..., object], tuple[object, ...]]] = []
    for count in sorted(set(record_counts), reverse=True):
        if not all(records_path(directory, fmt, count).is_file() for fmt in SUFFIXES):
            jobs.append((records_file, (directory, "csv", count)))
    for size in set(sized):
        if not (sized_path(directory, size).is_file() and gzip_path(sized_path(directory, size)).is_file()):
            jobs.append((sized_csv_and_gzip, (directory, size)))
    if jobs:
        with ProcessPoolExecutor(2) as pool:
            for future in [pool.submit(function, *args) for function, args in jobs]:
                future.result()
    paths = [records_path(directory, fmt, count) for count in set(record_counts) for fmt in SUFFIXES]
    for size in set(sized):
        paths += [sized_path(directory, size), gzip_path(sized_path(directory, size))]
    return paths
