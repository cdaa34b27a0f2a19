"""`terraform validate` for the root and every module, each in a scratch copy.

Validating in place would leave `.terraform/` directories and lock-file edits in the tree; a copy keeps the
working tree exactly as committed. Exits non-zero if any configuration is invalid.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from tools.terraform import tfwork

ROOT = tfwork.ROOT


def configurations() -> list[Path]:
    return [ROOT, *sorted(p for p in (ROOT / "modules").iterdir() if p.is_dir())]


def validate(config: Path, scratch: Path, env: dict[str, str]) -> bool:
    copy = tfwork.copy_configuration(config, scratch / (config.name if config != ROOT else "root"))
    init = tfwork.terraform(["init", "-backend=false", "-input=false"], copy, env, check=False, capture=True)
    if init.returncode != 0:
        print(f"{config.relative_to(ROOT.parent)}: init failed\n{init.stdout}{init.stderr}", file=sys.stderr)
        return False
    result = tfwork.terraform(["validate", "-no-color"], copy, env, check=False, capture=True)
    name = "root" if config == ROOT else config.relative_to(ROOT).as_posix()
    print(f"terraform validate {name}: {result.stdout.strip() or result.stderr.strip()}")
    return result.returncode == 0


def main() -> int:
    env = tfwork.terraform_env()
    with tempfile.TemporaryDirectory(prefix="tf-validate-") as scratch:
        results = [validate(config, Path(scratch), env) for config in configurations()]
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
