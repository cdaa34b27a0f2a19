"""The Terraform variables that set the handler's environment accept exactly what config.py accepts.

config.py's INTEGER_SETTINGS / CHOICE_SETTINGS are the one table of bounds. For every setting this test takes the
values at and just past each bound (low-1, low, high, high+1, a fraction; every choice in several cases and a
word that is none), asks config.py whether a cold start would accept each, and generates a `terraform test` file
(mock provider, offline) whose runs plan with those values and expect exactly the refused ones to fail their
variable's validation. It runs for the lambda module and for the root, in scratch copies. Changing a bound on one
side only fails it.

Two settings are also measured against the function's timeout (config.py's timing_problems, given the timeout
as FUNCTION_TIMEOUT_S): the range runs use Lambda's largest timeout, and further runs probe each side of both
relations at two timeouts. And config.py's gzip_limit_reachable weighs the function's memory and timeout with
MAX_INVOCATIONS and CHECKPOINT_MARGIN_MS against MAX_DECOMPRESSED_BYTES: further runs sit on either side of that
limit, and every run's expected verdict includes it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from shipment_processor.config import (
    CHOICE_SETTINGS,
    INTEGER_SETTINGS,
    ConfigError,
    Settings,
    chain_content_limit,
    gzip_limit_reachable,
)

from tools.terraform import native_test, tfwork

ROOT = Path(__file__).resolve().parents[2]

# Environment variable -> the Terraform variable that sets it (same name in the root and the lambda module).
VARIABLES = {
    "MAX_OBJECT_BYTES": "max_object_bytes",
    "MAX_DECOMPRESSED_BYTES": "max_decompressed_bytes",
    "MAX_RECORD_BYTES": "max_record_bytes",
    "MAX_RECORDS": "max_records",
    "CLAIM_TIMEOUT_S": "claim_timeout_s",
    "WRITE_CONCURRENCY": "write_concurrency",
    "MAX_INVOCATIONS": "max_invocations",
    "CHECKPOINT_MARGIN_MS": "checkpoint_margin_ms",
    "LOG_LEVEL": "log_level",
    "EVENTS_WRITE_PATH": "events_write_path",
}
# The function's memory and timeout: their Terraform variables in each configuration (the timeout under the name
# config.py gives it), and the values Terraform uses when a run does not set them.
TIMEOUT_SETTING = "FUNCTION_TIMEOUT_S"
FUNCTION_VARIABLES = {
    "modules/lambda": {"MEMORY_MB": "memory_mb", TIMEOUT_SETTING: "timeout_s"},
    ".": {"MEMORY_MB": "lambda_memory_mb", TIMEOUT_SETTING: "lambda_timeout_s"},
}
FUNCTION = {"MEMORY_MB": 256, TIMEOUT_SETTING: 30}
GZIP_INPUTS = ("MEMORY_MB", TIMEOUT_SETTING, "CHECKPOINT_MARGIN_MS", "MAX_INVOCATIONS")
RANGE_TIMEOUT_S = 900  # Lambda's largest: every value in a setting's own range fits it
# Settings checked against the timeout, each with a value that passes its relation at any timeout, so a probe of
# one is judged on that one alone.
TIMED_SETTINGS = {"CHECKPOINT_MARGIN_MS": 100, "CLAIM_TIMEOUT_S": 86_400}
# (timeout, setting, value) probes at each side of each relation.
RELATION_PROBES = [
    (timeout, name, value)
    for timeout in (60, 1)
    for name, values in (
        ("CHECKPOINT_MARGIN_MS", (timeout * 1000 - 1, timeout * 1000)),
        ("CLAIM_TIMEOUT_S", (timeout, timeout + 1)),
    )
    for value in values
    if value >= INTEGER_SETTINGS[name][0]
]
# A bool in Terraform (outcome_events_enabled), written as one of these words: they must be config.py's choices.
BOOLEAN_CHOICES = {"OUTCOME_EVENTS": ("on", "off")}

pytestmark = pytest.mark.terraform


def choices() -> dict[str, tuple[tuple[str, ...], str]]:
    return dict(CHOICE_SETTINGS)


def config_accepts(name: str, value: Any, timeout_s: int = RANGE_TIMEOUT_S) -> bool:
    env = {key: str(safe) for key, safe in TIMED_SETTINGS.items()}
    env.update({TIMEOUT_SETTING: str(timeout_s), name: str(value)})
    try:
        Settings.from_env(env)
    except ConfigError:
        return False
    return True


def probe_values(name: str) -> list[Any]:
    if name in INTEGER_SETTINGS:
        low, high, _default = INTEGER_SETTINGS[name]
        return [low - 1, low, high, high + 1, low + 0.5]
    words, _default = choices()[name]
    return [*words, *(w.lower() for w in words), *(w.title() for w in words), "bogus"]


def test_every_handler_setting_has_a_terraform_variable() -> None:
    assert set(INTEGER_SETTINGS) | set(CHOICE_SETTINGS) == set(VARIABLES) | set(BOOLEAN_CHOICES)


def test_boolean_settings_are_written_as_config_pys_words() -> None:
    for name, words in BOOLEAN_CHOICES.items():
        assert set(CHOICE_SETTINGS[name][0]) == set(words), name


def gzip_verdict(values: dict[str, Any]) -> bool:
    """config.py's verdict on the gzip limit for one run (settings it does not set are at their defaults)."""
    value = {**{name: INTEGER_SETTINGS[name][2] for name in INTEGER_SETTINGS}, **FUNCTION, **values}
    return gzip_limit_reachable(
        value["MEMORY_MB"],
        value[TIMEOUT_SETTING],
        value["CHECKPOINT_MARGIN_MS"],
        value["MAX_INVOCATIONS"],
        value["MAX_DECOMPRESSED_BYTES"],
    )


def gzip_limit_runs() -> list[dict[str, Any]]:
    """Runs on either side of the gzip limit at a few memory sizes and timeouts (exactly on it where the limit is a
    whole number of bytes), and one whose margin is as long
    as its timeout (no invocation can read anything; the margin's own relation refuses it first)."""
    runs = []
    for memory, timeout, margin, invocations in (
        (256, 30, 5000, 500),
        (128, 3, 2000, 1),
        (1769, 60, 10000, 10),
        (3008, 60, 10000, 10),  # above one core: the reader's is the cap
        (3008, 30, 5000, 1),  # a limit of exactly 998 MiB
    ):
        limit = chain_content_limit(memory, timeout, margin, invocations)
        exact = (int(limit), int(limit) + 1) if limit == int(limit) else ()  # on the line, and one byte past it
        for size in (int(limit * 0.99), int(limit * 1.01) + 1, *exact):
            runs.append({"MEMORY_MB": memory, TIMEOUT_SETTING: timeout, "CHECKPOINT_MARGIN_MS": margin,
                         "MAX_INVOCATIONS": invocations, "MAX_DECOMPRESSED_BYTES": size})  # fmt: skip
    runs.append({TIMEOUT_SETTING: 5, "CHECKPOINT_MARGIN_MS": 5000, "MAX_DECOMPRESSED_BYTES": 1})
    return runs


def tftest_file(
    required: dict[str, Any], mocks: str, function_variables: dict[str, str]
) -> tuple[str, list[dict[str, tuple[Any, bool]]]]:
    """HCL of one test file: run i sets every setting to its i-th probe value (at the largest timeout), then one run
    per relation probe, then runs around the gzip limit; the expected verdicts. A run's timeout is under the key
    TIMEOUT_SETTING."""
    probes = {name: probe_values(name) for name in VARIABLES}
    runs: list[dict[str, tuple[Any, bool]]] = []
    for index in range(max(len(values) for values in probes.values())):
        values = {name: values[index] for name, values in probes.items() if index < len(values)}
        runs.append({name: (value, config_accepts(name, value)) for name, value in values.items()})
        runs[-1][TIMEOUT_SETTING] = (RANGE_TIMEOUT_S, True)
    for timeout, name, value in RELATION_PROBES:
        runs.append({TIMEOUT_SETTING: (timeout, True), name: (value, config_accepts(name, value, timeout))})
    for values in gzip_limit_runs():
        timeout = values[TIMEOUT_SETTING]
        runs.append({name: (value, name not in VARIABLES or config_accepts(name, value, timeout))
                     for name, value in values.items()})  # fmt: skip
    for run in runs:  # a timed setting a run does not probe holds a value that fits any timeout
        for name, safe in TIMED_SETTINGS.items():
            run.setdefault(name, (safe, True))
    names = {**VARIABLES, **function_variables}
    lines = [f'mock_provider "aws" {{\n{mocks}}}\n', "variables {"]
    lines += [f"  {key} = {json.dumps(value)}" for key, value in required.items()]
    lines.append("}\n")
    for index, run in enumerate(runs):
        lines.append(f'run "probe_{index}" {{\n  command = plan\n\n  variables {{')
        lines += [f"    {names[name]} = {json.dumps(value)}" for name, (value, _ok) in run.items()]
        lines.append("  }")
        refused = [f"var.{names[name]}" for name, (_value, ok) in run.items() if not ok]
        if not gzip_verdict({name: value for name, (value, _ok) in run.items()}):
            refused = sorted({*refused, "var.max_decompressed_bytes"})
            run["gzip limit"] = (None, False)
        if any(f"var.{names[name]}" in refused for name in GZIP_INPUTS):
            # Terraform does not validate a variable whose validation reads another variable that failed its own:
            # max_decompressed_bytes is checked (both rules) once those are fixed.
            refused = [name for name in refused if name != "var.max_decompressed_bytes"]
        if refused:
            lines.append(f"\n  expect_failures = [{', '.join(refused)}]")
        lines.append("}\n")
    return "\n".join(lines), runs


MOCKS = """  mock_data "aws_partition" {
    defaults = { partition = "aws" }
  }
  mock_data "aws_iam_policy_document" {
    defaults = { json = "{\\"Version\\":\\"2012-10-17\\",\\"Statement\\":[]}" }
  }
  mock_data "aws_caller_identity" {
    defaults = { account_id = "123456789012" }
  }
  mock_data "aws_region" {
    defaults = { name = "eu-west-1" }
  }
"""
PACKAGE_S3 = {"bucket": "artifacts", "key": "shipment_processor/1.0.0.zip", "version": "v1"}
CONFIGURATIONS = {
    "modules/lambda": {
        "environment": "qa7",
        "account_id": "123456789012",
        "region": "eu-west-1",
        "package_s3": PACKAGE_S3,
        "bucket_id": "shipment-files-123456789012-eu-west-1-qa7",
        "bucket_arn": "arn:aws:s3:::shipment-files-123456789012-eu-west-1-qa7",
        "metadata_table_name": "shipment-metadata-qa7",
        "metadata_table_arn": "arn:aws:dynamodb:eu-west-1:123456789012:table/shipment-metadata-qa7",
        "events_table_name": "shipment-events-qa7",
        "events_table_arn": "arn:aws:dynamodb:eu-west-1:123456789012:table/shipment-events-qa7",
    },
    ".": {"environment": "qa7", "package_s3": PACKAGE_S3},
}


@pytest.mark.parametrize("configuration", sorted(CONFIGURATIONS), ids=["root", "lambda"])
def test_terraform_accepts_and_refuses_exactly_what_config_py_does(configuration: str, tmp_path: Path) -> None:
    text, runs = tftest_file(CONFIGURATIONS[configuration], MOCKS, FUNCTION_VARIABLES[configuration])
    assert any(not ok for run in runs for _v, ok in run.values()) and any(ok for run in runs for _v, ok in run.values())
    assert sum("gzip limit" in run for run in runs) >= 4, "runs on both sides of the gzip limit"
    source = ROOT / configuration
    if configuration == ".":
        source = tfwork.copy_configuration(ROOT, tmp_path / "root")
        (tmp_path / "scratch").mkdir()
        work = tmp_path / "scratch"
    else:
        work = tmp_path

    ok, output = native_test.run(source, work, tfwork.terraform_env(), {"bounds_generated.tftest.hcl": text})

    assert ok, f"Terraform and config.py disagree (values per run: {runs}):\n{output[-6000:]}"
    # Every generated run ran, and nothing else did (the module's own test files belong to `make test-tf`).
    assert f"{len(runs)} passed, 0 failed" in output, output[-2000:]


def test_the_relation_probes_see_both_verdicts_of_each_relation() -> None:
    verdicts = {(name, config_accepts(name, value, timeout)) for timeout, name, value in RELATION_PROBES}

    assert verdicts == {(name, ok) for name in TIMED_SETTINGS for ok in (True, False)}
