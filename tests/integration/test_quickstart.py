"""The README's quick start, run as written, in a fresh copy of the repository, so it cannot rot.

Run by `make quickstart` (and so by .ci/run); skipped in `make test`, whose 10-minute budget it would strain.
The copy holds what a clone would (`git ls-files`, plus files not yet committed, minus ignored ones) and
reuses this checkout's virtualenv through the Makefile's VENV variable (no network needed); its build/local,
local AWS and Terraform state are its own, so a demo the developer has running is never touched. After the
README's commands, `make demo` runs a second time (it must reprocess nothing) and `make demo-down` cleans up.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"

pytestmark = [pytest.mark.slow, pytest.mark.terraform]


def quick_start_commands(readme: str) -> list[str]:
    """The shell commands of the README's first fenced block that runs `make demo` (prompts, comments dropped)."""
    for block in re.findall(r"```(?:sh|bash|shell|console)?\n(.*?)```", readme, flags=re.DOTALL):
        commands = []
        for line in block.splitlines():
            command = re.sub(r"\s+#.*$", "", line.strip().removeprefix("$ ")).strip()
            if command and not command.startswith("#"):
                commands.append(command)
        if any(re.fullmatch(r"make demo\b.*", c) for c in commands):
            return commands
    return []


def _copy_checkout(dest: Path) -> Path:
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split("\0")
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)  # keeps mtimes, so make sees the virtualenv as up to date
    return dest


def _run(command: str, cwd: Path, env: dict[str, str]) -> str:
    result = subprocess.run(
        ["bash", "-c", command], check=False, cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"`{command}` failed ({result.returncode}):\n{output[-6000:]}"
    return output


@pytest.mark.skipif(
    os.environ.get("QUICKSTART") != "1",
    reason="about 2 minutes: runs in .ci/run (make quickstart), outside make test's 10-minute budget",
)
def test_readme_quick_start_runs_as_written_and_a_second_demo_reprocesses_nothing(tmp_path: Path) -> None:
    assert README.is_file(), "README.md is missing: its quick start (make demo) is what this test runs"
    commands = quick_start_commands(README.read_text())
    assert commands, "README.md has no fenced shell block with `make demo` (the quick start)"
    checkout = _copy_checkout(tmp_path / "clone")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PYTEST", "COV_"))}
    env["VENV"] = str(Path(sys.executable).parent.parent)
    try:
        outputs = [_run(command, checkout, env) for command in commands if not command.startswith("make test")]
        first = "\n".join(outputs)
        assert "== Files (s3://" in first
        assert re.search(r"value = [\d.]+; condition > 5 -> ALARM", first)
        assert "== Failure queue ==" in first
        second = _run("make demo", checkout, env)
        assert "local deployment is up to date" in second
        assert "this run processed 0 file(s)" in second
    finally:
        subprocess.run(["make", "demo-down"], check=False, cwd=checkout, env=env, capture_output=True, timeout=120)
    assert not (checkout / "build" / "local").exists()
