"""The demo's helpers that need no AWS: sample data generation and the alarm expression evaluator."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from tools.emulator import cli
from tools.emulator.aws.cloudwatch import metric_math
from tools.samples import sample_data

FAILURE_RATE = (
    "IF((FILL(success, 0) + FILL(failure, 0)) > 0, 100 * FILL(failure, 0) / (FILL(success, 0) + FILL(failure, 0)), 0)"
)


def test_committed_sample_files_are_what_the_generator_writes() -> None:
    assert sample_data.stale() == []


def test_the_generator_is_reproducible(tmp_path: Path) -> None:
    sample_data.write(tmp_path / "a")
    sample_data.write(tmp_path / "b")
    first = {p.relative_to(tmp_path / "a"): p.read_bytes() for p in (tmp_path / "a").rglob("*") if p.is_file()}
    second = {p.relative_to(tmp_path / "b"): p.read_bytes() for p in (tmp_path / "b").rglob("*") if p.is_file()}
    assert first == second


def test_the_samples_cover_every_kind_the_issue_lists() -> None:
    manifest = sample_data.load_manifest()
    files = manifest["files"]
    assert 2000 <= sum(f["records"] for f in files) <= 5000
    assert {f["format"] for f in files} >= {"csv", "ndjson", "json", "csv.gz"}
    assert {f["expected"]["processing_status"] for f in files} == {"SUCCESS", "PARTIAL", "FAILED"}
    assert any(" " in f["key"] for f in files) and any("+" in f["key"] for f in files)
    assert len(manifest["featured_shipments"]) == 3
    gz = next(f for f in files if f["format"] == "csv.gz")
    assert gzip.decompress((sample_data.DEFAULT_OUT / gz["path"]).read_bytes()).startswith(b"shipment_id,")


def test_default_keys_put_files_under_their_shipper(tmp_path: Path) -> None:
    sample = sample_data.DEFAULT_OUT / "globex" / "correction-0603.json"
    assert cli.default_key(sample, None) == "incoming/globex/correction-0603.json"
    assert cli.default_key(tmp_path / "x.csv", None) == f"incoming/{cli.DEFAULT_SHIPPER}/x.csv"
    assert cli.default_key(tmp_path / "x.csv", "acme") == "incoming/acme/x.csv"


@pytest.mark.parametrize(
    ("success", "failure", "expected"),
    [(6.0, 1.0, 100 / 7), (None, None, 0.0), (3.0, None, 0.0), (None, 2.0, 100.0)],
)
def test_the_failure_rate_expression_evaluates_like_cloudwatch(
    success: float | None, failure: float | None, expected: float
) -> None:
    assert metric_math.evaluate(FAILURE_RATE, {"success": success, "failure": failure}) == pytest.approx(expected)


def test_metric_math_missing_data_and_operators() -> None:
    assert metric_math.evaluate("a / b", {"a": 1.0, "b": 0.0}) is None
    assert metric_math.evaluate("a + b", {"a": 1.0, "b": None}) is None
    assert metric_math.evaluate("2 ^ 3 + ABS(-1)", {}) == 9.0
    assert metric_math.evaluate("a > 1 AND b < 2", {"a": 2.0, "b": 1.0}) == 1.0
    assert metric_math.evaluate("MAX(a, b, 3)", {"a": 1.0, "b": None}) == 3.0
    with pytest.raises(ValueError, match="unknown metric id"):
        metric_math.evaluate("c", {})


def test_alarm_state_follows_threshold_and_missing_data() -> None:
    evaluation = metric_math.AlarmEvaluation(
        "a", FAILURE_RATE, 300, {}, {}, 14.3, 5.0, "GreaterThanThreshold", "notBreaching", "OK"
    )
    assert evaluation.state == "ALARM"
    assert json.dumps(evaluation.inputs) == "{}"
    missing = metric_math.AlarmEvaluation(
        "a", None, 300, {}, {}, None, 5.0, "GreaterThanThreshold", "notBreaching", "OK"
    )
    assert missing.state == "OK"


@pytest.mark.parametrize("shipper", ["kraus-logistik", "transwest-edi"])
def test_profiled_samples_get_their_expected_outcome_through_their_profile(shipper: str) -> None:
    from tools.ops import profile_check  # noqa: PLC0415 - puts lambda_src on the path

    entry = next(f for f in sample_data.load_manifest()["files"] if f["shipper"] == shipper)
    profile = profile_check.profile_from_file(sample_data.PROFILES_DIR / f"{shipper}.json", shipper)

    report = profile_check.check(
        sample_data.DEFAULT_OUT / entry["path"], shipper, profile, "sample", profile_check.Limits()
    )

    expected = entry["expected"]
    assert (report.outcome, report.accepted) == (expected["processing_status"], expected["records_accepted"])
    assert report.rejected == expected.get("records_rejected", 0)


def test_the_local_deployment_declares_the_profiled_shippers() -> None:
    declared = sample_data.local_shipper_vars()

    assert (
        sorted(declared["shipper_profiles"])
        == sorted(declared["shipper_principals"])
        == [
            "kraus-logistik",
            "transwest-edi",
        ]
    )
