"""Where terraform gets the aws provider, and which platforms the lock file covers.

The provider mirror is optional: with one, the CLI config installs from it and never from the registry; without
one, from the public registry. `make init` says which in one line and, when init fails, what to do.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tools.terraform import tfwork

ROOT = Path(__file__).resolve().parents[2]
MIRROR = tfwork.DEFAULT_MIRROR


def test_with_a_mirror_providers_come_from_it_and_never_from_the_registry(tmp_path: Path) -> None:
    mirror = tmp_path / "mirror"
    (mirror / "registry.terraform.io").mkdir(parents=True)

    text = tfwork.write_cli_config(tmp_path / "rc", mirror=str(mirror)).read_text()

    assert f'path    = "{mirror}"' in text
    assert 'exclude = ["registry.terraform.io/*/*"]' in text
    assert tfwork.describe_source(str(mirror)) == f"providers: filesystem mirror {mirror} (registry not used)"


def test_without_a_mirror_providers_come_from_the_public_registry(tmp_path: Path) -> None:
    text = tfwork.write_cli_config(tmp_path / "rc", mirror=str(tmp_path / "missing")).read_text()

    assert "filesystem_mirror" not in text
    assert re.search(r"provider_installation \{\s+direct \{\}\s+\}", text)
    line = tfwork.describe_source(str(tmp_path / "missing"))
    assert line.startswith(f"providers: public registry (no mirror at {tmp_path / 'missing'}")
    assert "set TF_PLUGIN_MIRROR" in line


def test_terraform_reads_the_registry_config_without_complaint(tmp_path: Path) -> None:
    config = tfwork.write_cli_config(tmp_path / "rc", mirror=str(tmp_path / "missing"))
    env = {**os.environ, "TF_CLI_CONFIG_FILE": str(config), "CHECKPOINT_DISABLE": "1"}

    result = subprocess.run(
        ["terraform", "init", "-input=false"], cwd=tmp_path, env=env, capture_output=True, text=True, check=False
    )

    assert result.returncode == 0, result.stderr
    assert "problems with the CLI configuration" not in result.stdout + result.stderr


def test_make_init_without_a_mirror_says_where_providers_come_from_and_what_to_do(tmp_path: Path) -> None:
    # A scratch copy of what make init needs; the registry may or may not be reachable from here.
    work = tmp_path / "repo"
    tfwork.copy_configuration(ROOT, work)
    shutil.copy2(ROOT / "Makefile", work / "Makefile")
    shutil.copytree(ROOT / "tools", work / "tools", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("requirements-dev.txt", "pyproject.toml"):  # what the venv target depends on
        shutil.copy2(ROOT / name, work / name)
    venv = ROOT / ".venv"
    env = {**os.environ, "TF_PLUGIN_MIRROR": str(tmp_path / "no-mirror-here")}
    env.pop("TF_CLI_CONFIG_FILE", None)

    result = subprocess.run(
        ["make", "--no-print-directory", "init", f"VENV={venv}"],
        cwd=work,
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )

    output = result.stdout + result.stderr
    assert "providers: public registry (no mirror at" in output
    if result.returncode != 0:  # no registry access: the message says what to do
        assert "point TF_PLUGIN_MIRROR at a provider mirror" in output
        assert "Traceback" not in output


def test_the_lock_check_names_the_one_command_for_an_uncovered_platform() -> None:
    assert tfwork.lock_check("linux_amd64") is None
    message = tfwork.lock_check("darwin_arm64")

    assert message is not None
    assert "not darwin_arm64" in message and "make lock" in message
    assert tfwork.LOCK_COMMAND in message
    make_lock = re.search(r"^lock:.*\n\t(.*)$", (ROOT / "Makefile").read_text(), re.MULTILINE)
    assert make_lock and tfwork.LOCK_COMMAND.removeprefix("terraform ") in make_lock.group(1)


def _dirhash_h1(directory: Path) -> str:
    """Terraform's h1: hash of an unpacked provider (Go's dirhash.Hash1)."""
    lines = "".join(
        f"{hashlib.sha256(path.read_bytes()).hexdigest()}  {path.relative_to(directory).as_posix()}\n"
        for path in sorted(p for p in directory.rglob("*") if p.is_file())
    )
    return "h1:" + base64.b64encode(hashlib.sha256(lines.encode()).digest()).decode()


def test_the_lock_file_holds_the_hash_of_every_platform_it_claims_to_cover() -> None:
    lock = (ROOT / ".terraform.lock.hcl").read_text()
    version = re.search(r'version\s+=\s+"([^"]+)"', lock).group(1)
    packages = Path(MIRROR, "registry.terraform.io", "hashicorp", "aws", version)
    if not packages.is_dir():
        pytest.skip(f"no provider mirror at {packages} to hash")

    hashes = set(re.findall(r'"(h1:[^"]+)"', lock))
    for platform in tfwork.LOCKED_PLATFORMS:
        if (packages / platform).is_dir():
            assert _dirhash_h1(packages / platform) in hashes, platform
