"""`terraform test` (the native *.tftest.hcl files, mock provider, offline) for every module, each in a scratch copy.

Run in place, `terraform test` would leave `.terraform/` and a lock file in the module; a copy keeps the tree as
committed. This is also what the Terraform Cloud private registry runs for a published module. Exits non-zero if
any module's tests fail.

    python -m tools.terraform.native_test [module ...]
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from pathlib import Path

from tools.terraform import tfwork

ROOT = tfwork.ROOT


def tested_modules() -> list[Path]:
    return sorted(p for p in (ROOT / "modules").iterdir() if (p / "tests").is_dir())


def run(
    config: Path, scratch: Path, env: dict[str, str], extra_test_files: dict[str, str] | None = None
) -> tuple[bool, str]:
    """Copy `config` (with its tests/) to `scratch`, init, `terraform test`.

    With `extra_test_files`, those are written under tests/ and only they run (`-filter`): the module's own test
    files are `make test-tf`'s, and running them again here would only repeat the same plans.
    """
    copy = scratch / config.name
    shutil.copytree(config, copy, ignore=shutil.ignore_patterns(".terraform*", "*.tfstate*", "build"))
    only = [f"tests/{name}" for name in extra_test_files or {}]
    for name, text in (extra_test_files or {}).items():
        (copy / "tests").mkdir(exist_ok=True)
        (copy / "tests" / name).write_text(text)
    if only:
        # Generated files are left in canonical form, so `terraform fmt -check -recursive` stays clean over scratch
        # copies kept under build/ too.
        tfwork.terraform(["fmt", *only], copy, env, capture=True)
    init = tfwork.terraform(
        ["init", "-backend=false", "-input=false", "-no-color"], copy, env, check=False, capture=True
    )
    if init.returncode != 0:
        return False, init.stdout + init.stderr
    filters = [f"-filter={path}" for path in only]
    result = tfwork.terraform(["test", "-no-color", *filters], copy, env, check=False, capture=True)
    return result.returncode == 0, result.stdout + result.stderr


def main(argv: list[str]) -> int:
    env = tfwork.terraform_env()
    modules = [ROOT / "modules" / name for name in argv] or tested_modules()
    failed = []
    with tempfile.TemporaryDirectory(prefix="tf-test-") as scratch:
        for module in modules:
            started = time.monotonic()
            ok, output = run(module, Path(scratch), env)
            summary = next((line for line in reversed(output.splitlines()) if line.strip()), "")
            print(f"terraform test modules/{module.name}: {summary} ({time.monotonic() - started:.1f} s)")
            if not ok:
                failed.append(module.name)
                print(output, file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
