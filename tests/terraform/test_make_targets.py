"""The deploy targets of the Makefile: apply applies only a saved, current plan; arguments reach the right command.

Dry runs (`make -n`) show the commands; the refusals run for real in a scratch copy of the repository (init with
this machine's provider source, no AWS call).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tools.terraform import tfwork

ROOT = Path(__file__).resolve().parents[2]
VENV = ROOT / ".venv"

pytestmark = pytest.mark.terraform


def make(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "TF_CLI_CONFIG_FILE"}
    return subprocess.run(
        ["make", "--no-print-directory", f"VENV={VENV}", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


def recipe(target: str, *args: str) -> str:
    """The commands `make -n` would run for the target's own recipe."""
    return make("-n", target, *args).stdout


def test_init_gets_tf_init_args_and_never_the_plan_arguments() -> None:
    commands = recipe("init", "TF_ARGS=-refresh=false", "TF_INIT_ARGS=-migrate-state")
    init = next(line for line in commands.splitlines() if " init -input=false" in line)

    assert "-migrate-state" in init
    assert "-refresh=false" not in init


def test_plan_saves_the_plan_with_the_environment_tfvars_and_tf_args() -> None:
    commands = recipe("plan", "ENV=prod", "TFVARS=prod.tfvars", "TF_ARGS=-refresh=false")
    plan = next(line for line in commands.splitlines() if " plan -input=false" in line)

    assert "-var environment=prod" in plan and "-var-file=prod.tfvars" in plan
    assert "-out=build/prod.tfplan" in plan and "-refresh=false" in plan


def test_apply_applies_the_saved_plan_and_nothing_else() -> None:
    commands = recipe("apply", "ENV=prod", "TF_ARGS=-refresh=false", "TF_APPLY_ARGS=-parallelism=5")
    apply = next(line for line in commands.splitlines() if " apply -input=false" in line)

    assert apply.rstrip().endswith("-parallelism=5 build/prod.tfplan")
    assert "-refresh=false" not in apply and "-var" not in apply
    assert not [line for line in commands.splitlines() if " plan -input" in line]  # no re-plan


def test_destroy_takes_the_same_variables_as_plan() -> None:
    commands = recipe("destroy", "ENV=prod", "TFVARS=prod.tfvars")
    destroy = next(line for line in commands.splitlines() if " destroy " in line)

    assert "-var environment=prod" in destroy and "-var-file=prod.tfvars" in destroy


def test_apply_refuses_a_missing_plan_and_a_stale_one(tmp_path: Path) -> None:
    work = tmp_path / "repo"
    tfwork.copy_configuration(ROOT, work)
    shutil.copy2(ROOT / "Makefile", work / "Makefile")
    shutil.copytree(ROOT / "tools", work / "tools", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("requirements-dev.txt", "pyproject.toml"):  # what the venv target depends on
        shutil.copy2(ROOT / name, work / name)

    missing = make("apply", "ENV=ci", cwd=work)
    assert missing.returncode != 0
    assert "make apply: no build/ci.tfplan: run make plan ENV=ci first" in missing.stderr

    plan = work / "build" / "ci.tfplan"
    plan.write_bytes(b"not applied: the check refuses it first")
    time.sleep(1.1)
    (work / "main.tf").touch()
    stale = make("apply", "ENV=ci", cwd=work)
    assert stale.returncode != 0
    assert "make apply: build/ci.tfplan is stale (changed since: main.tf" in stale.stderr


def test_the_suite_fails_below_full_branch_coverage_of_the_lambda_package() -> None:
    commands = recipe("test")

    assert "--cov-branch" in commands and "--cov-fail-under=100 " in commands
