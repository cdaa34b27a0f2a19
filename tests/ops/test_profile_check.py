"""``shipment-ops profile check``: an operator tries a sample file against a shipper's profile, deployed or not,
and sees what the function would store and reject, with nothing written anywhere."""

from __future__ import annotations

import io
import json
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

from tests.unit.support import BUCKET, KRAUS_PROFILE, PROFILES_KEY, REGION, put_profiles
from tools.emulator import endpoint as local
from tools.ops import cli

SAMPLE = (
    "Sendungsnummer;Status;Datum;Zeit;Ort\n"
    "KR-1;zugestellt;03.06.2025;14:30;München\n"
    "KR-2;verloren;03.06.2025;14:31;Köln\n"
    "KR-3;In Zustellung;03.06.2025;08:00;Köln\n"
    "KR-4;verloren;03.06.2025;14:35;Köln\n"
).encode("cp1252")
FUNCTION = "shipment-processor-dev"


@pytest.fixture
def sample(tmp_path: Path) -> Path:
    path = tmp_path / "kraus-sample.csv"
    path.write_bytes(SAMPLE)
    return path


@pytest.fixture
def profile_file(tmp_path: Path) -> Path:
    path = tmp_path / "kraus.json"
    path.write_text(json.dumps(KRAUS_PROFILE))
    return path


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = cli.main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_a_profile_file_not_yet_deployed_is_tried_on_a_sample(
    capsys: pytest.CaptureFixture[str], sample: Path, profile_file: Path
) -> None:
    code, text, _ = run(
        capsys, "profile", "check", "--shipper", "kraus", "--profile-file", str(profile_file), str(sample)
    )

    assert code == 1  # some records would be rejected
    assert "profile kraus sha256:" in text
    assert "encoding windows-1252, delimiter ';'" in text
    assert "'datum' + 'zeit' -> timestamp" in text and "'ort'            -> location" in text
    assert "kraus-sample.csv (csv): 4 records, 2 would be stored, 2 rejected -> PARTIAL" in text
    assert (
        '{"shipment_id": "KR-1", "status": "DELIVERED", "timestamp": "2025-06-03T12:30:00Z", "location": "München"}'
        in text
    )
    assert "line 3: status 'verloren' is not a code this shipper's profile maps" in text
    assert "status codes the profile does not map: 'verloren' (2)" in text


def test_the_json_report_says_what_would_happen(
    capsys: pytest.CaptureFixture[str], sample: Path, profile_file: Path
) -> None:
    _, out, _ = run(
        capsys, "profile", "check", "--shipper", "kraus", "--profile-file", str(profile_file), "--json", str(sample)
    )
    report = json.loads(out)

    assert (report["outcome"], report["records"], report["accepted"], report["rejected"]) == ("PARTIAL", 4, 2, 2)
    assert report["unmapped_statuses"] == {"verloren": 2}
    assert {"source": "'sendungsnummer'", "field": "shipment_id"} in report["columns"]
    assert report["rejects_by_reason"] == {"status": 2}


def test_a_file_the_profile_cannot_read_would_fail(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, profile_file: Path
) -> None:
    sample = tmp_path / "comma.csv"
    sample.write_text("shipment_id,status,timestamp\nS-1,CREATED,2026-01-01T00:00:00Z\n")

    code, text, _ = run(
        capsys, "profile", "check", "--shipper", "kraus", "--profile-file", str(profile_file), str(sample)
    )

    assert code == 1
    assert "-> FAILED" in text
    assert (
        "the file would FAIL: CSV header is missing required column(s) sendungsnummer, status, datum, zeit; found "
        "shipment_id,status,timestamp. The header looks comma-separated (3 columns: shipment_id, status, "
        "timestamp): save the file as ';'-separated CSV, or change the shipper profile's csv.delimiter to ','"
    ) in text


def test_a_bad_profile_file_is_refused_with_its_problems(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, sample: Path
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({**KRAUS_PROFILE, "encoding": "ebcdic"}))

    code, _, err = run(capsys, "profile", "check", "--shipper", "kraus", "--profile-file", str(bad), str(sample))

    assert code == 2
    assert "profile 'kraus' is invalid: encoding 'ebcdic' is not one of" in err


def test_without_an_environment_or_a_profile_file_it_says_what_is_missing(
    capsys: pytest.CaptureFixture[str], sample: Path
) -> None:
    code, _, err = run(capsys, "profile", "check", "--shipper", "kraus", str(sample))

    assert code == 2
    assert "say which environment (--local, --outputs or --env), or give --profile-file" in err


# --- against a deployment: the local AWS (a moto server standing in for `make local-up`) ----------------------


@pytest.fixture
def local_aws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """A running local AWS with the bucket, the profiles object and the function's configuration, recorded in a
    state directory the way `make local-up` records a deployment."""
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    session = boto3.session.Session(region_name=REGION, **local.CREDENTIALS)
    s3 = session.client("s3", endpoint_url=endpoint)
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    iam = session.client("iam", endpoint_url=endpoint)
    role = iam.create_role(
        RoleName="fn", AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []})
    )
    package = io.BytesIO()
    with zipfile.ZipFile(package, "w") as archive:
        archive.writestr("handler.py", "def handler(event, context):\n    return event\n")
    session.client("lambda", endpoint_url=endpoint).create_function(
        FunctionName=FUNCTION,
        Runtime="python3.12",
        Role=role["Role"]["Arn"],
        Handler="handler.handler",
        Code={"ZipFile": package.getvalue()},
        Environment={"Variables": {"PROFILES_BUCKET": BUCKET, "PROFILES_KEY": PROFILES_KEY, "MAX_RECORDS": "3"}},
    )
    outputs = {
        "bucket_name": BUCKET,
        "metadata_table_name": "shipment-metadata-dev",
        "events_table_name": "shipment-events-dev",
        "function_name": FUNCTION,
        "log_group_name": f"/aws/lambda/{FUNCTION}",
    }
    (tmp_path / "deployment.json").write_text(json.dumps({"endpoint": endpoint, "region": REGION, "outputs": outputs}))
    try:
        yield {"s3": s3, "state_dir": str(tmp_path), "session": session, "endpoint": endpoint}
    finally:
        urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST"))
        server.stop()


def keys(aws: dict[str, Any]) -> list[str]:
    return [o["Key"] for o in aws["s3"].list_objects_v2(Bucket=BUCKET).get("Contents", [])]


def test_local_checks_the_deployed_profile_with_the_functions_limits_and_writes_nothing(
    capsys: pytest.CaptureFixture[str], local_aws: dict[str, Any], sample: Path
) -> None:
    put_profiles(local_aws["s3"], {"kraus": KRAUS_PROFILE})

    code, text, _ = run(capsys, "--local", "--state-dir", local_aws["state_dir"], "profile", "check", "--shipper",
                        "kraus", str(sample))  # fmt: skip

    assert code == 1
    assert f"(s3://{BUCKET}/{PROFILES_KEY})" in text
    assert "the file would FAIL: file has more than 3 records (MAX_RECORDS)" in text  # the function's own limit
    assert keys(local_aws) == [PROFILES_KEY]


def test_local_a_profile_file_is_checked_with_the_deployments_limits(
    capsys: pytest.CaptureFixture[str], local_aws: dict[str, Any], sample: Path, profile_file: Path
) -> None:
    put_profiles(local_aws["s3"], {})

    _, text, _ = run(capsys, "--local", "--state-dir", local_aws["state_dir"], "profile", "check", "--shipper",
                     "kraus", "--profile-file", str(profile_file), str(sample))  # fmt: skip

    assert f"({profile_file})" in text
    assert "file has more than 3 records (MAX_RECORDS)" in text


def test_local_a_shipper_without_a_profile_is_checked_against_the_contract(
    capsys: pytest.CaptureFixture[str], local_aws: dict[str, Any], tmp_path: Path
) -> None:
    put_profiles(local_aws["s3"], {"kraus": KRAUS_PROFILE})
    sample = tmp_path / "acme.csv"
    sample.write_text("shipment_id,status,timestamp\nS-1,CREATED,2026-01-01T00:00:00Z\n")

    code, text, _ = run(capsys, "--local", "--state-dir", local_aws["state_dir"], "profile", "check", "--shipper",
                        "acme", str(sample))  # fmt: skip

    assert code == 0
    assert f"shipper acme: no profile (s3://{BUCKET}/{PROFILES_KEY}): the record contract as it stands" in text
    assert "1 records, 1 would be stored, 0 rejected -> SUCCESS" in text


def test_local_a_deployed_profile_the_function_refuses_is_reported(
    capsys: pytest.CaptureFixture[str], local_aws: dict[str, Any], sample: Path
) -> None:
    put_profiles(local_aws["s3"], {"kraus": {**KRAUS_PROFILE, "timestamps": {"zone": "Mars/Olympus"}}})

    code, _, err = run(capsys, "--local", "--state-dir", local_aws["state_dir"], "profile", "check", "--shipper",
                       "kraus", str(sample))  # fmt: skip

    assert code == 2
    assert "the deployed profile is refused, so the function fails this shipper's files" in err
    assert "'Mars/Olympus' is not an IANA time zone name" in err


def test_local_a_missing_profiles_object_is_reported(
    capsys: pytest.CaptureFixture[str], local_aws: dict[str, Any], sample: Path
) -> None:
    code, _, err = run(capsys, "--local", "--state-dir", local_aws["state_dir"], "profile", "check", "--shipper",
                       "kraus", str(sample))  # fmt: skip

    assert code == 2
    assert f"the profiles object s3://{BUCKET}/{PROFILES_KEY} does not exist; run terraform apply" in err


def test_a_function_that_reads_no_profiles_is_said_so(
    capsys: pytest.CaptureFixture[str], local_aws: dict[str, Any], sample: Path
) -> None:
    local_aws["session"].client("lambda", endpoint_url=local_aws["endpoint"]).update_function_configuration(
        FunctionName=FUNCTION, Environment={"Variables": {}}
    )

    _, text, _ = run(capsys, "--local", "--state-dir", local_aws["state_dir"], "profile", "check", "--shipper",
                     "kraus", str(sample))  # fmt: skip

    assert f"no profile ({FUNCTION} reads no profiles (PROFILES_KEY unset))" in text


def test_other_aws_errors_reach_the_operator(
    capsys: pytest.CaptureFixture[str], local_aws: dict[str, Any], sample: Path
) -> None:
    local_aws["session"].client("lambda", endpoint_url=local_aws["endpoint"]).update_function_configuration(
        FunctionName=FUNCTION, Environment={"Variables": {"PROFILES_BUCKET": "no-such-bucket", "PROFILES_KEY": "k"}}
    )

    code, _, err = run(capsys, "--local", "--state-dir", local_aws["state_dir"], "profile", "check", "--shipper",
                       "kraus", str(sample))  # fmt: skip

    assert code == 2 and "AWS said" in err and "NoSuchBucket" in err
