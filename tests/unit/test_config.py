"""Settings from the environment: documented defaults, every variable honoured, bad values named clearly."""

from __future__ import annotations

import pytest
from shipment_processor.config import (
    FUNCTION_TIMEOUT_BOUNDS,
    INTEGER_SETTINGS,
    ConfigError,
    Limits,
    Settings,
    chain_content_limit,
    gzip_limit_reachable,
)


def test_empty_environment_gives_the_documented_defaults() -> None:
    settings = Settings.from_env({})

    assert settings == Settings(
        metadata_table="shipment-metadata-dev",
        events_table="shipment-events-dev",
        environment="dev",
        metrics_namespace="ShipmentProcessing/dev",
        incoming_prefix="incoming/",
        rejects_prefix="rejected/",
        limits=Limits(
            max_object_bytes=536_870_912,
            max_decompressed_bytes=2_147_483_648,
            max_record_bytes=65_536,
            max_records=10_000_000,
        ),
        log_level="INFO",
        claim_timeout_s=900,
        write_concurrency=4,
        max_invocations=500,
        checkpoint_margin_ms=5_000,
        outcome_events=True,
        outcome_event_source="shipment-processing.dev",
    )


def test_every_variable_is_read() -> None:
    env = {
        "METADATA_TABLE": "meta-prod",
        "EVENTS_TABLE": "events-prod",
        "ENVIRONMENT": "prod",
        "METRICS_NAMESPACE": "Shipping/Prod",
        "INCOMING_PREFIX": "in/",
        "REJECTS_PREFIX": "out/",
        "MAX_OBJECT_BYTES": "1000",
        "MAX_DECOMPRESSED_BYTES": "2000",
        "MAX_RECORD_BYTES": "512",
        "MAX_RECORDS": "10",
        "LOG_LEVEL": "debug",
        "CLAIM_TIMEOUT_S": "60",
        "WRITE_CONCURRENCY": "2",
        "MAX_INVOCATIONS": "7",
        "CHECKPOINT_MARGIN_MS": "1500",
        "OUTCOME_EVENTS": "OFF",
        "OUTCOME_EVENT_SOURCE": "acme.shipments",
    }

    settings = Settings.from_env(env)

    assert settings == Settings("meta-prod", "events-prod", "prod", "Shipping/Prod", "in/", "out/",
                                Limits(1000, 2000, 512, 10), "DEBUG", 60, 2, 7, 1500, False,
                                "acme.shipments")  # fmt: skip


def test_metrics_namespace_follows_the_environment_by_default() -> None:
    assert Settings.from_env({"ENVIRONMENT": "staging"}).metrics_namespace == "ShipmentProcessing/staging"


def test_blank_values_mean_the_default() -> None:
    assert Settings.from_env({"MAX_RECORDS": " ", "LOG_LEVEL": ""}) == Settings.from_env({})


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("MAX_OBJECT_BYTES", "-1", "MAX_OBJECT_BYTES='-1': must be between 1 and"),
        ("MAX_DECOMPRESSED_BYTES", "2GB", "MAX_DECOMPRESSED_BYTES='2GB': must be a whole number"),
        ("MAX_RECORD_BYTES", "10", "MAX_RECORD_BYTES='10': must be between 64 and 1048576"),
        ("MAX_RECORDS", "0", "MAX_RECORDS='0': must be between 1 and"),
        ("CLAIM_TIMEOUT_S", "1.5", "CLAIM_TIMEOUT_S='1.5': must be a whole number"),
        ("WRITE_CONCURRENCY", "100", "WRITE_CONCURRENCY='100': must be between 1 and 32"),
        ("LOG_LEVEL", "VERBOSE", "LOG_LEVEL='VERBOSE': must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL"),
        ("METADATA_TABLE", "no spaces allowed", "METADATA_TABLE='no spaces allowed': must be a DynamoDB table name"),
        ("EVENTS_TABLE", "x", "EVENTS_TABLE='x': must be a DynamoDB table name"),
        ("ENVIRONMENT", "prod/eu", "ENVIRONMENT='prod/eu': must be 1-64 letters, digits, '_' or '-'"),
        ("METRICS_NAMESPACE", "AWS/Lambda", "METRICS_NAMESPACE='AWS/Lambda': the AWS/ namespace is reserved"),
        ("METRICS_NAMESPACE", "Ünïcode", "METRICS_NAMESPACE='Ünïcode': must be at most 255 printable ASCII"),
        ("INCOMING_PREFIX", "incoming", "INCOMING_PREFIX='incoming': must be a key prefix ending in '/'"),
    ],
)
def test_bad_value_is_rejected_naming_the_variable(name: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=r"^invalid configuration: ") as raised:
        Settings.from_env({name: value})

    assert message in str(raised.value)


def test_all_problems_are_reported_at_once() -> None:
    with pytest.raises(ConfigError) as raised:
        Settings.from_env({"MAX_RECORDS": "many", "LOG_LEVEL": "loud", "EVENTS_TABLE": "?"})

    assert str(raised.value).count(";") == 2


def test_rejects_inside_the_incoming_prefix_would_loop_and_is_refused() -> None:
    with pytest.raises(ConfigError, match="overlap: rejects reports would be processed as shipment files"):
        Settings.from_env({"REJECTS_PREFIX": "incoming/rejected/"})


def test_the_event_source_follows_the_environment_by_default() -> None:
    assert Settings.from_env({"ENVIRONMENT": "prod"}).outcome_event_source == "shipment-processing.prod"


@pytest.mark.parametrize("value", ["aws.s3", "", "has space", "x" * 257])
def test_an_event_source_eventbridge_would_refuse_is_named(value: str) -> None:
    env = {"OUTCOME_EVENT_SOURCE": value}
    if not value:  # blank means the default
        assert Settings.from_env(env).outcome_event_source == "shipment-processing.dev"
        return
    with pytest.raises(ConfigError, match="OUTCOME_EVENT_SOURCE"):
        Settings.from_env(env)


@pytest.mark.parametrize("value", ["\uff11\uff12", "\u0663", "1\u200b"])  # full-width, Arabic-Indic, zero-width
def test_numbers_must_be_written_in_ascii_digits(value: str) -> None:
    with pytest.raises(ConfigError, match="MAX_RECORDS"):
        Settings.from_env({"MAX_RECORDS": value})


def test_every_bounded_setting_refuses_just_outside_its_bounds_and_takes_its_edges() -> None:
    for name, (low, high, _default) in INTEGER_SETTINGS.items():
        for value in (low, high):
            Settings.from_env({name: str(value)})
        for value in (low - 1, high + 1):
            with pytest.raises(ConfigError, match=name):
                Settings.from_env({name: str(value)})


def test_the_functions_timeout_is_read_when_the_deployment_sets_it() -> None:
    assert Settings.from_env({}).function_timeout_s is None
    assert Settings.from_env({"FUNCTION_TIMEOUT_S": "60"}).function_timeout_s == 60
    assert FUNCTION_TIMEOUT_BOUNDS == (1, 900), "Lambda's own bounds"


@pytest.mark.parametrize("value", ["0", "901", "30s", "1.5"])
def test_a_timeout_lambda_would_refuse_is_named(value: str) -> None:
    with pytest.raises(ConfigError, match=f"FUNCTION_TIMEOUT_S='{value}': must be"):
        Settings.from_env({"FUNCTION_TIMEOUT_S": value})


@pytest.mark.parametrize(("margin_ms", "accepted"), [(29_999, True), (30_000, False), (45_000, False)])
def test_the_checkpoint_margin_must_be_below_the_timeout(margin_ms: int, accepted: bool) -> None:
    env = {"FUNCTION_TIMEOUT_S": "30", "CHECKPOINT_MARGIN_MS": str(margin_ms)}
    if accepted:
        assert Settings.from_env(env).checkpoint_margin_ms == margin_ms
        return
    with pytest.raises(ConfigError, match=f"CHECKPOINT_MARGIN_MS={margin_ms} must be below the function's timeout"):
        Settings.from_env(env)


@pytest.mark.parametrize(("claim_s", "accepted"), [(31, True), (30, False), (5, False)])
def test_a_claim_must_outlive_an_invocation(claim_s: int, accepted: bool) -> None:
    env = {"FUNCTION_TIMEOUT_S": "30", "CLAIM_TIMEOUT_S": str(claim_s)}
    if accepted:
        assert Settings.from_env(env).claim_timeout_s == claim_s
        return
    with pytest.raises(ConfigError, match=f"CLAIM_TIMEOUT_S={claim_s} must be above the function's timeout"):
        Settings.from_env(env)


def test_without_a_declared_timeout_the_margin_and_claim_are_only_range_checked() -> None:
    settings = Settings.from_env({"CHECKPOINT_MARGIN_MS": "600000", "CLAIM_TIMEOUT_S": "1"})

    assert (settings.checkpoint_margin_ms, settings.claim_timeout_s) == (600_000, 1)


@pytest.mark.parametrize(
    ("region", "partition"),
    [
        ("", "aws"),
        ("eu-west-1", "aws"),
        ("cn-northwest-1", "aws-cn"),
        ("us-gov-east-1", "aws-us-gov"),
        ("us-iso-east-1", "aws-iso"),
        ("us-isob-east-1", "aws-iso-b"),
        ("us-isof-south-1", "aws-iso-f"),
        ("eu-isoe-west-1", "aws-iso-e"),
        ("eusc-de-east-1", "aws-eusc"),
    ],
)
def test_the_partition_follows_the_region(region: str, partition: str) -> None:
    assert Settings.from_env({"AWS_REGION": region}).partition == partition


def test_a_gzip_at_the_default_limit_can_finish_at_the_default_memory_and_timeout() -> None:
    assert gzip_limit_reachable(256, 30, 5_000, 500, 2_147_483_648)
    assert chain_content_limit(256, 30, 5_000, 500) > 60 * 2**30, "a chain of 500 reads tens of GiB of content"
    assert not gzip_limit_reachable(256, 30, 5_000, 1, 2_147_483_648), "one invocation cannot read 2 GiB"
    assert gzip_limit_reachable(1769, 30, 5_000, 1, 900 * 2**20), "a whole vCPU reads about 1 GiB in 25 s"
    assert not gzip_limit_reachable(256, 5, 5_000, 500, 1), "a margin as long as the timeout leaves no time at all"
    for memory_mb in (1769, 3008, 10_240):  # exactly on the line, as Terraform computes it: (25 - 0.05) / 0.025 MiB
        assert gzip_limit_reachable(memory_mb, 30, 5_000, 1, 998 * 2**20)
        assert not gzip_limit_reachable(memory_mb, 30, 5_000, 1, 998 * 2**20 + 1)
    assert chain_content_limit(10_240, 30, 5_000, 1) == chain_content_limit(1769, 30, 5_000, 1), (
        "more than one vCPU does not read a gzip faster: the reader is one thread"
    )
