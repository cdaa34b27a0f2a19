"""Deterministic packager for the Lambda zip.

Two builds of the same sources are byte-identical on any machine: entries are sorted, timestamps and
permissions are fixed, caches are excluded. That keeps `source_code_hash` stable, so a rebuild with unchanged
sources never shows up as a Lambda update in `terraform plan`.

    python -m tools.packager [--src lambda_src] [--out build/shipment_processor.zip]
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_SRC = ROOT / "lambda_src"
DEFAULT_OUT = ROOT / "build" / "shipment_processor.zip"
PACKAGE_NAME = "shipment_processor"

# 1980-01-01 is the earliest timestamp a zip entry can hold; any fixed value works.
FIXED_DATE_TIME = (1980, 1, 1, 0, 0, 0)
FILE_MODE = 0o100644  # regular file, rw-r--r--
EXCLUDED_DIRS = {"__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache"}
EXCLUDED_SUFFIXES = {".pyc", ".pyo", ".swp"}


def package_files(src: Path) -> list[Path]:
    """Return the files that belong in the package, sorted by their archive path."""
    package_dir = src / PACKAGE_NAME
    if not (package_dir / "__init__.py").is_file():
        raise FileNotFoundError(f"{package_dir} is not a Python package (no __init__.py)")
    files = [
        path
        for path in package_dir.rglob("*")
        if path.is_file()
        and not EXCLUDED_DIRS.intersection(path.relative_to(src).parts)
        and path.suffix not in EXCLUDED_SUFFIXES
        and not path.name.startswith(".")
    ]
    return sorted(files, key=lambda p: p.relative_to(src).as_posix())


def build(src: Path = DEFAULT_SRC, out: Path = DEFAULT_OUT) -> Path:
    """Write the zip deterministically and return its path."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(out.suffix + ".tmp")
    with zipfile.ZipFile(tmp, "w") as archive:
        for path in package_files(src):
            info = zipfile.ZipInfo(path.relative_to(src).as_posix(), date_time=FIXED_DATE_TIME)
            info.external_attr = FILE_MODE << 16
            info.create_system = 3  # Unix, whatever the building OS, so attributes read the same
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, path.read_bytes(), compresslevel=9)
    tmp.replace(out)
    return out


def source_code_hash(path: Path) -> str:
    """The value Terraform's filebase64sha256() computes for the file."""
    return base64.b64encode(hashlib.sha256(path.read_bytes()).digest()).decode()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", type=Path, default=DEFAULT_SRC)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    out = build(args.src, args.out)
    count = len(package_files(args.src))
    print(f"{out} {out.stat().st_size} bytes, {count} files, source_code_hash {source_code_hash(out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
