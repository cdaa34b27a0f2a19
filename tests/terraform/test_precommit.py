"""The pre-commit configuration runs offline: only local hooks, each a command this repository provides."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def hooks() -> list[dict]:
    config = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text())
    assert [repo["repo"] for repo in config["repos"]] == ["local"], "a remote hook repository needs the network"
    return config["repos"][0]["hooks"]


def test_fmt_validate_ruff_and_checkov_are_hooked() -> None:
    assert {hook["id"] for hook in hooks()} == {"terraform-fmt", "terraform-validate", "ruff", "ruff-format", "checkov"}


def test_every_hook_runs_a_make_target_or_a_venv_tool_that_exists() -> None:
    targets = set(re.findall(r"^([a-zA-Z_-]+):", (ROOT / "Makefile").read_text(), re.MULTILINE))
    for hook in hooks():
        assert hook["language"] == "system", hook["id"]
        command = hook["entry"].split()
        if command[0] == "make":
            assert command[-1] in targets, hook["id"]
        else:
            assert command[0].startswith(".venv/bin/"), hook["id"]
