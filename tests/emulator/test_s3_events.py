"""S3 event notifications for every client, as S3 sends them: the AWS CLI, boto3's multipart transfer, a
presigned PUT, a browser-form POST, CopyObject. No project helper does the uploads; each test reads the invocation
the local AWS made from the journal and checks the event record's shape (eventName per API, key, size, eTag,
versionId) and that the function ran.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import subprocess
import sys
import urllib.request
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import boto3.s3.transfer
import pytest

from tests.emulator.conftest import BUCKET, Probe
from tools.emulator.aws.lambda_ import journal

AWS_CLI = Path(sys.executable).with_name("aws")
MIB = 1024 * 1024


def cli_env(probe: Probe, home: Path) -> dict[str, str]:
    """The environment a shipper's shell has after `python -m tools.emulator up` (and nothing of ours)."""
    return {
        "PATH": os.environ["PATH"],
        "HOME": str(home),
        "AWS_ENDPOINT_URL": probe.endpoint,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "eu-west-1",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }


def aws(probe: Probe, tmp_path: Path, *args: str) -> str:
    result = subprocess.run(
        [str(AWS_CLI), *args], env=cli_env(probe, tmp_path), capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def only_record(probe: Probe, key: str) -> journal.Record:
    head = probe.client("s3").head_object(Bucket=BUCKET, Key=key)
    (record,) = probe.journal.wait_for_object(BUCKET, key, head["VersionId"], timeout_s=60)
    return record


def s3_object(record: journal.Record) -> dict[str, Any]:
    return record.event["Records"][0]["s3"]["object"]


def test_aws_cli_cp_of_a_small_file_is_an_object_created_put(probe: Probe, tmp_path: Path) -> None:
    source = tmp_path / "day.csv"
    source.write_bytes(b"shipment_id,status,timestamp\nA-1,CREATED,2025-06-02T10:00:00Z\n")
    aws(probe, tmp_path, "s3", "cp", str(source), f"s3://{BUCKET}/incoming/acme/cli-upload.csv")
    record = only_record(probe, "incoming/acme/cli-upload.csv")
    assert record.event["Records"][0]["eventName"] == "ObjectCreated:Put"
    assert s3_object(record)["size"] == source.stat().st_size
    assert s3_object(record)["eTag"] == hashlib.md5(source.read_bytes(), usedforsecurity=False).hexdigest()
    assert record.status == "succeeded"


def test_aws_cli_cp_above_the_multipart_threshold_is_a_complete_multipart_upload(probe: Probe, tmp_path: Path) -> None:
    source = tmp_path / "big.csv"
    source.write_bytes(os.urandom(9 * MIB))  # the CLI's default multipart_threshold is 8 MB
    aws(probe, tmp_path, "s3", "cp", str(source), f"s3://{BUCKET}/incoming/acme/big cli.csv")
    record = only_record(probe, "incoming/acme/big cli.csv")
    assert record.event["Records"][0]["eventName"] == "ObjectCreated:CompleteMultipartUpload"
    obj = s3_object(record)
    assert (obj["key"], obj["size"]) == ("incoming/acme/big+cli.csv", 9 * MIB)
    assert obj["eTag"].endswith("-2")  # two 8 MB-or-less parts: the multipart ETag, as S3 computes it
    assert record.status == "succeeded"


def test_boto3_upload_file_in_parts_is_a_complete_multipart_upload(probe: Probe, tmp_path: Path) -> None:
    source = tmp_path / "parts.csv"
    source.write_bytes(os.urandom(11 * MIB))
    config = boto3.s3.transfer.TransferConfig(multipart_threshold=5 * MIB, multipart_chunksize=5 * MIB)
    probe.client("s3").upload_file(str(source), BUCKET, "incoming/boto3/parts.csv", Config=config)
    record = only_record(probe, "incoming/boto3/parts.csv")
    assert record.event["Records"][0]["eventName"] == "ObjectCreated:CompleteMultipartUpload"
    assert s3_object(record)["eTag"].endswith("-3")
    assert s3_object(record)["size"] == 11 * MIB


def test_a_presigned_put_from_a_plain_http_client_is_an_object_created_put(probe: Probe) -> None:
    url = probe.client("s3").generate_presigned_url(
        "put_object", Params={"Bucket": BUCKET, "Key": "incoming/curl/presigned.csv"}, ExpiresIn=300
    )
    body = b"shipment_id,status\n"
    # a Content-Type as curl -T sends none: urllib's default (form-urlencoded) makes moto parse the body as a form
    request = urllib.request.Request(url, data=body, method="PUT", headers={"Content-Type": "text/csv"})
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 200
    record = only_record(probe, "incoming/curl/presigned.csv")
    assert record.event["Records"][0]["eventName"] == "ObjectCreated:Put"
    assert s3_object(record)["size"] == len(body)


def test_a_browser_form_post_is_an_object_created_post(probe: Probe) -> None:
    post = probe.client("s3").generate_presigned_post(BUCKET, "incoming/form/${filename}", ExpiresIn=300)
    boundary = uuid.uuid4().hex
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in post["fields"].items()
    ]
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="posted.csv"\r\n'
        "Content-Type: text/csv\r\n\r\n".encode()
        + b"a,b\n"
        + f"\r\n--{boundary}--\r\n".encode()
    )
    request = urllib.request.Request(
        post["url"],
        data=b"".join(parts),
        method="POST",
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status in {200, 201, 204}
    record = only_record(probe, "incoming/form/posted.csv")
    assert record.event["Records"][0]["eventName"] == "ObjectCreated:Post"


def test_copy_object_into_incoming_is_an_object_created_copy(probe: Probe) -> None:
    s3 = probe.client("s3")
    s3.put_object(Bucket=BUCKET, Key="staging/original.csv", Body=b"a,b\n")  # outside incoming/: no event
    s3.copy_object(
        Bucket=BUCKET, Key="incoming/copied/copy.csv", CopySource={"Bucket": BUCKET, "Key": "staging/original.csv"}
    )
    record = only_record(probe, "incoming/copied/copy.csv")
    assert record.event["Records"][0]["eventName"] == "ObjectCreated:Copy"
    head = s3.head_object(Bucket=BUCKET, Key="staging/original.csv")
    assert probe.journal.for_object(BUCKET, "staging/original.csv", head["VersionId"]) == []


def test_upload_part_copy_creates_nothing_until_the_upload_completes(probe: Probe) -> None:
    s3 = probe.client("s3")
    s3.put_object(Bucket=BUCKET, Key="staging/part-source.csv", Body=os.urandom(5 * MIB))
    key = "incoming/copied/assembled.csv"
    upload = s3.create_multipart_upload(Bucket=BUCKET, Key=key)["UploadId"]
    part = s3.upload_part_copy(
        Bucket=BUCKET,
        Key=key,
        UploadId=upload,
        PartNumber=1,
        CopySource={"Bucket": BUCKET, "Key": "staging/part-source.csv"},
    )
    assert [r for r in probe.journal.records() if r.cause.get("key") == key] == []
    s3.complete_multipart_upload(
        Bucket=BUCKET,
        Key=key,
        UploadId=upload,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["CopyPartResult"]["ETag"]}]},
    )
    assert only_record(probe, key).event["Records"][0]["eventName"] == "ObjectCreated:CompleteMultipartUpload"


@pytest.mark.parametrize("key", ["outside/acme/day.csv", "rejected/incoming/acme/day.csv.errors.csv"])
def test_an_upload_outside_incoming_is_never_delivered(probe: Probe, tmp_path: Path, key: str) -> None:
    source = tmp_path / "day.csv"
    source.write_bytes(b"a,b\n")
    aws(probe, tmp_path, "s3", "cp", str(source), f"s3://{BUCKET}/{key}")
    head = probe.client("s3").head_object(Bucket=BUCKET, Key=key)
    assert probe.journal.for_object(BUCKET, key, head["VersionId"]) == []


def test_connections_are_kept_alive_like_an_aws_endpoint(probe: Probe) -> None:
    endpoint = urlparse(probe.endpoint)
    connection = http.client.HTTPConnection(endpoint.hostname, endpoint.port, timeout=10)
    try:
        for _ in range(3):
            connection.request("GET", "/moto-api/config")
            response = connection.getresponse()
            assert response.status in {200, 201}
            json.loads(response.read())
            assert response.getheader("Connection") != "close"
    finally:
        connection.close()
