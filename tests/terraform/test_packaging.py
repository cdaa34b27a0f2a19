"""The packager is deterministic: same sources, same bytes, whatever the file times or the machine."""

from __future__ import annotations

import os
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

from tools.packager import lambda_zip

ROOT = Path(__file__).resolve().parents[2]


def _copy_sources(dest: Path, mtime: int) -> Path:
    shutil.copytree(ROOT / "lambda_src", dest, ignore=shutil.ignore_patterns("__pycache__"))
    for path in dest.rglob("*"):
        os.utime(path, (mtime, mtime))
    return dest


def test_two_builds_from_copies_with_different_timestamps_are_byte_identical(tmp_path: Path) -> None:
    first = lambda_zip.build(_copy_sources(tmp_path / "a", 1_000_000_000), tmp_path / "a.zip")
    second = lambda_zip.build(_copy_sources(tmp_path / "b", 1_700_000_000), tmp_path / "b.zip")

    assert first.read_bytes() == second.read_bytes()
    assert lambda_zip.source_code_hash(first) == lambda_zip.source_code_hash(second)


def test_caches_and_bytecode_never_reach_the_zip(tmp_path: Path) -> None:
    src = _copy_sources(tmp_path / "src", 1_000_000_000)
    cache = src / "shipment_processor" / "__pycache__"
    cache.mkdir(exist_ok=True)
    (cache / "handler.cpython-311.pyc").write_bytes(b"\x00stale")
    (src / "shipment_processor" / "stray.pyc").write_bytes(b"\x00stale")
    clean = lambda_zip.build(_copy_sources(tmp_path / "clean", 1_000_000_000), tmp_path / "clean.zip")

    built = lambda_zip.build(src, tmp_path / "with-caches.zip")

    names = zipfile.ZipFile(built).namelist()
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    assert built.read_bytes() == clean.read_bytes()


def test_entries_are_sorted_with_fixed_times_and_modes_and_the_handler_at_the_package_root(tmp_path: Path) -> None:
    built = lambda_zip.build(ROOT / "lambda_src", tmp_path / "pkg.zip")

    infos = zipfile.ZipFile(built).infolist()
    names = [info.filename for info in infos]
    assert names == sorted(names)
    assert "shipment_processor/__init__.py" in names
    assert "shipment_processor/handler.py" in names
    assert {info.date_time for info in infos} == {lambda_zip.FIXED_DATE_TIME}
    assert {info.external_attr >> 16 for info in infos} == {lambda_zip.FILE_MODE}


def test_source_code_hash_is_what_terraform_filebase64sha256_computes(tmp_path: Path) -> None:
    built = lambda_zip.build(ROOT / "lambda_src", tmp_path / "pkg.zip")

    console = subprocess.run(
        ["terraform", "console"],
        input=f'filebase64sha256("{built}")\n',
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )

    assert console.stdout.strip().strip('"') == lambda_zip.source_code_hash(built)


def test_a_source_tree_without_the_package_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="not a Python package"):
        lambda_zip.build(tmp_path, tmp_path / "out.zip")
