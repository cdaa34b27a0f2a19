"""Shipper profiles through the deployed handler: read from the S3 object Terraform writes, recorded on every
file's item and outcome event, refreshed within the cache's TTL, and a bad profile fails only its shipper."""

from __future__ import annotations

import json
from typing import Any

import pytest
from shipment_processor.aws import profile_store
from shipment_processor.aws.profile_store import ProfileStore
from shipment_processor.config import ConfigError, Limits, Settings
from shipment_processor.profiles import profile_version

from .support import BUCKET, KRAUS_PROFILE, PROFILES_KEY, World, as_csv, put_profiles, records

GERMAN_FILE = (
    "Sendungsnummer;Status;Datum;Zeit;Ort\n"
    "KR-1;zugestellt;28.02.2026;14:30;München\n"
    "KR-2;verloren;28.02.2026;14:31;Köln\n"
).encode("cp1252")


def deploy_profiles(world: World, profiles: dict[str, Any] | bytes) -> None:
    put_profiles(world.s3, profiles)
    world.env.update({"PROFILES_BUCKET": BUCKET, "PROFILES_KEY": PROFILES_KEY})


def test_a_profiled_shippers_file_is_mapped_and_records_the_profile_version(world: World) -> None:
    deploy_profiles(world, {"kraus": KRAUS_PROFILE})

    result = world.process("incoming/kraus/2026-02-28.csv", GERMAN_FILE)

    assert result.status == "PARTIAL"
    assert [(e["shipment_id"], e["status"], e["event_key"][:20], e["location"]) for e in result.events] == [
        ("KR-1", "DELIVERED", "2026-02-28T13:30:00.", "München")
    ]
    assert result.rejects[0]["reason"] == (
        "status 'verloren' is not a code this shipper's profile maps (it maps zugestellt, in Zustellung)"
    )
    assert (result.item["profile"], result.item["profile_version"]) == ("kraus", profile_version(KRAUS_PROFILE))
    detail = json.loads(world.events.entries[-1]["Detail"])
    assert (detail["profile"], detail["profile_version"]) == ("kraus", profile_version(KRAUS_PROFILE))


def test_a_shipper_without_a_profile_sees_no_change(world: World) -> None:
    deploy_profiles(world, {"kraus": KRAUS_PROFILE})

    result = world.process("incoming/acme/day.csv", as_csv(records(3)))

    assert result.status == "SUCCESS"
    assert "profile" not in result.item and "profile_version" not in result.item


def test_a_bad_profile_fails_only_its_shippers_files_naming_the_error(world: World) -> None:
    deploy_profiles(world, {"kraus": {**KRAUS_PROFILE, "encoding": "ebcdic"}, "acme": {}})

    failed = world.process("incoming/kraus/2026-02-28.csv", GERMAN_FILE)
    other = world.process("incoming/acme/day.csv", as_csv(records(2)))

    assert failed.status == "FAILED"
    assert failed.item["error_message"] == (
        "shipper profile 'kraus' is invalid: encoding 'ebcdic' is not one of utf-8, windows-1252, iso-8859-1, utf-16"
    )
    assert failed.item["profile_version"] == profile_version({**KRAUS_PROFILE, "encoding": "ebcdic"})
    assert failed.events == []
    assert other.status == "SUCCESS" and other.item["profile_version"] == profile_version({})


def test_a_profile_that_loosens_a_limit_fails_its_shippers_files(world: World) -> None:
    world.env["MAX_RECORDS"] = "100"
    deploy_profiles(world, {"kraus": {**KRAUS_PROFILE, "limits": {"max_records": 1000}}})

    result = world.process("incoming/kraus/2026-02-28.csv", GERMAN_FILE)

    assert result.item["error_message"] == (
        "shipper profile 'kraus': limits.max_records 1000 is above the deployment's 100 (a profile may only "
        "tighten limits)"
    )


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (None, f"the shipper profiles object s3://{BUCKET}/{PROFILES_KEY} does not exist; run terraform apply"),
        (b"{not json", f"the shipper profiles object s3://{BUCKET}/{PROFILES_KEY} is unusable: Expecting"),
        (b'{"format": 2, "profiles": {}}', "is unusable: expected an object with format 1"),
        (b'{"format": 1, "profiles": []}', "is unusable: expected a 'profiles' object"),
    ],
    ids=["missing", "not-json", "unknown-format", "no-profiles"],
)
def test_an_unusable_profiles_object_fails_files_rather_than_falling_back(
    world: World, body: bytes | None, reason: str
) -> None:
    world.env.update({"PROFILES_BUCKET": BUCKET, "PROFILES_KEY": PROFILES_KEY})
    if body is not None:
        world.s3.put_object(Bucket=BUCKET, Key=PROFILES_KEY, Body=body)

    result = world.process("incoming/acme/day.csv", as_csv(records(2)))

    assert result.status == "FAILED"
    assert reason in result.item["error_message"]


def test_a_changed_profile_reaches_the_next_file_after_the_cache_ttl(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(profile_store, "TTL_S", 0.0)
    deploy_profiles(world, {"kraus": KRAUS_PROFILE})
    runtime = world.runtime()
    first = world.process("incoming/kraus/a.csv", GERMAN_FILE, runtime=runtime)
    changed = {**KRAUS_PROFILE, "statuses": {"map": {**KRAUS_PROFILE["statuses"]["map"], "verloren": "EXCEPTION"}}}
    deploy_profiles(world, {"kraus": changed})

    second = world.process("incoming/kraus/b.csv", GERMAN_FILE, runtime=runtime)

    assert first.item["profile_version"] == profile_version(KRAUS_PROFILE)
    assert second.item["profile_version"] == profile_version(changed)
    assert second.status == "SUCCESS"


def test_a_file_in_several_segments_keeps_the_profile_it_started_with(world: World) -> None:
    deploy_profiles(world, {"kraus": KRAUS_PROFILE})
    rows = "".join(f"KR-{n};zugestellt;28.02.2026;10:{n % 60:02d};Köln\n" for n in range(400))
    data = ("Sendungsnummer;Status;Datum;Zeit;Ort\n" + rows).encode("cp1252")
    runtime = world.runtime()
    runtime.processor.profiles._ttl_s = 0.0  # type: ignore[union-attr]
    original = world.lambda_.invoke

    def change_profile_then_queue(*args: Any, **kwargs: Any) -> Any:
        deploy_profiles(world, {"kraus": {**KRAUS_PROFILE, "encoding": "ebcdic"}})  # would fail a new file
        return original(*args, **kwargs)

    world.lambda_.invoke = change_profile_then_queue  # type: ignore[method-assign]
    result = world.process_in_segments("incoming/kraus/big.csv", data, looks=2, runtime=runtime)

    assert result.item["invocations"] > 1
    assert (result.status, result.item["records_accepted"]) == ("SUCCESS", 400)
    assert result.item["profile_version"] == profile_version(KRAUS_PROFILE)


class CountingS3:
    def __init__(self, real: Any) -> None:
        self.real, self.requests = real, []

    def get_object(self, **request: Any) -> Any:
        self.requests.append(request)
        return self.real.get_object(**request)


def test_the_profiles_object_is_fetched_once_per_ttl_then_revalidated_with_its_etag(world: World) -> None:
    deploy_profiles(world, {"kraus": KRAUS_PROFILE})
    s3 = CountingS3(world.s3)
    now = [0.0]
    store = ProfileStore(lambda: s3, BUCKET, PROFILES_KEY, ttl_s=30, clock=lambda: now[0])

    first = store.resolve("kraus", Limits())
    now[0] = 29.0
    store.resolve("kraus", Limits())
    now[0] = 31.0
    again = store.resolve("kraus", Limits())

    assert len(s3.requests) == 2
    assert "IfNoneMatch" not in s3.requests[0] and s3.requests[1]["IfNoneMatch"].strip('"')
    assert first.profile is again.profile  # a 304 keeps the parsed profile


def test_an_aws_error_reading_the_profiles_propagates_for_lambda_to_retry(world: World) -> None:
    store = ProfileStore(lambda: world.s3, "no-such-bucket-for-profiles", PROFILES_KEY)

    with pytest.raises(world.s3.exceptions.NoSuchBucket):
        store.resolve("kraus", Limits())


def test_the_parsed_profile_cache_stays_bounded(world: World) -> None:
    store = ProfileStore(lambda: world.s3, BUCKET, PROFILES_KEY)
    for n in range(300):
        store.resolve("kraus", Limits(), {"name": "kraus", "document": json.dumps({"description": str(n)})})

    assert len(store._parsed) <= 257


def test_profiles_bucket_and_key_go_together() -> None:
    with pytest.raises(ConfigError, match="PROFILES_BUCKET and PROFILES_KEY go together"):
        Settings.from_env({"PROFILES_BUCKET": "b"})


def test_reprocessing_after_a_profile_fix_reads_with_the_fixed_profile(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(profile_store, "TTL_S", 0.0)
    deploy_profiles(
        world, {"kraus": {**KRAUS_PROFILE, "timestamps": {**KRAUS_PROFILE["timestamps"], "zone": "Europe/Berln"}}}
    )
    runtime = world.runtime()
    key = "incoming/kraus/2026-02-28.csv"
    first = world.process(key, GERMAN_FILE, runtime=runtime)
    assert first.status == "FAILED" and "'Europe/Berln' is not an IANA time zone name" in first.item["error_message"]
    deploy_profiles(world, {"kraus": KRAUS_PROFILE})  # the fix
    world.capsys.readouterr()

    response = world.invoke(
        {"reprocess": {"bucket": BUCKET, "key": key, "version_id": first.item["version_id"]}}, runtime
    )
    again = world.observe(key, response, world.capsys.readouterr().out)

    assert (again.status, again.item["attempt"], again.item["records_accepted"]) == ("PARTIAL", 2, 1)
    assert again.item["profile_version"] == profile_version(KRAUS_PROFILE) != first.item["profile_version"]
    assert again.item["previous_attempts"][0]["processing_status"] == "FAILED"
