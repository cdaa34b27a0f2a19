"""Starting the local AWS: each caller gets its own server, even when two pick the same free port at once."""

from __future__ import annotations

from pathlib import Path

import pytest

from tools.emulator import local_aws, local_lambda


def test_a_server_that_lost_the_race_for_a_port_never_takes_the_winner_for_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = local_aws.start(tmp_path / "first", lambda_service=False)
    try:
        ports = iter([first.port])  # the second start's first pick is the port the first server holds
        free_port = local_aws._free_port
        monkeypatch.setattr(local_aws, "_free_port", lambda: next(ports, None) or free_port())

        second = local_aws.start(tmp_path / "second", lambda_service=False)
        try:
            assert (second.pid, second.port) != (first.pid, first.port)
            assert second.port != first.port
            # what one creates, the other does not see
            local_lambda.aws_client("s3", first.endpoint).create_bucket(
                Bucket="only-in-first", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
            )
            buckets = local_lambda.aws_client("s3", second.endpoint).list_buckets()["Buckets"]
            assert [b["Name"] for b in buckets] == []
            assert local_aws.healthy(second.endpoint, pid=second.pid)
            assert not local_aws.healthy(first.endpoint, pid=second.pid)
        finally:
            local_aws.stop(tmp_path / "second")
    finally:
        local_aws.stop(tmp_path / "first")
