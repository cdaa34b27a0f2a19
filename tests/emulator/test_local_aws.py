"""Starting the local AWS: each caller gets its own server, even when two pick the same free port at once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tools.emulator import local_aws
from tools.emulator.aws import clients


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
            clients.aws_client("s3", first.endpoint).create_bucket(
                Bucket="only-in-first", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
            )
            buckets = clients.aws_client("s3", second.endpoint).list_buckets()["Buckets"]
            assert [b["Name"] for b in buckets] == []
            assert local_aws.healthy(second.endpoint, pid=second.pid)
            assert not local_aws.healthy(first.endpoint, pid=second.pid)
        finally:
            local_aws.stop(tmp_path / "second")
    finally:
        local_aws.stop(tmp_path / "first")


def test_a_request_an_sdk_sends_again_is_written_to_the_servers_log(
    local_aws_server: tuple[local_aws.Server, Path],
) -> None:
    """Terraform's SDK retries a call whose answer it did not get, and a create or delete that had already
    happened then fails as 'already exists' or 'not found'. The log says which calls were sent again."""
    server, state_dir = local_aws_server
    dynamodb = clients.aws_client("dynamodb", server.endpoint)

    def second_attempt(request: Any, **_: Any) -> None:
        request.headers["amz-sdk-request"] = "attempt=2; max=3"

    log = state_dir / "moto.log"

    def retried() -> list[str]:  # the session's server: other tests' lines may be there too
        return [line for line in log.read_text().splitlines() if "retried by the client" in line]

    before = retried()
    dynamodb.meta.events.register_last("before-send.dynamodb.ListTables", second_attempt)
    dynamodb.list_tables()
    dynamodb.meta.events.unregister("before-send.dynamodb.ListTables", second_attempt)
    dynamodb.list_tables()  # a first attempt: not logged
    first = "retried by the client (attempt=2; max=3): POST / (DynamoDB_20120810.ListTables)"
    assert retried()[len(before) :] == [f"{first}; before: never reached this server"]

    def same_call_again(request: Any, **_: Any) -> None:  # the SDK's invocation id is kept across attempts
        request.headers["amz-sdk-invocation-id"] = "fixed-invocation-id-for-this-test"
        request.headers["amz-sdk-request"] = f"attempt={next(attempts)}; max=3"

    attempts = iter((1, 2))
    dynamodb.meta.events.register_last("before-send.dynamodb.ListTables", same_call_again)
    dynamodb.list_tables()
    dynamodb.list_tables()
    dynamodb.meta.events.unregister("before-send.dynamodb.ListTables", same_call_again)
    (line,) = retried()[len(before) + 1 :]
    assert line.startswith(f"{first}; before: answered 200 OK (")
