"""Throttling and transient AWS errors: throttled writes are resent at a paced rate, other transient errors retried
with backoff, nothing lost; a table that stores nothing at all, or persistent trouble, fails the invocation."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError
from shipment_processor.aws.clients import Backoff
from shipment_processor.handler import ProcessingError

from .support import (
    Context,
    FaultyDynamoDB,
    World,
    as_ndjson,
    emf_documents,
    log_lines,
    records,
)

KEY = "incoming/acme/busy.jsonl"


def run(world: World, dynamodb: Any, count: int = 200) -> dict[str, Any]:
    meta = world.put(KEY, as_ndjson(records(count)))
    return world.invoke(world.event((KEY, meta)), world.runtime(dynamodb=dynamodb))


def test_unprocessed_items_are_retried_until_every_update_is_stored(world: World) -> None:
    faulty = FaultyDynamoDB(world.dynamodb, unprocessed_calls=6)

    response = run(world, faulty)

    result = world.observe(KEY)
    assert response["files"][0]["status"] == "SUCCESS"
    assert len(result.events) == 200
    assert faulty.calls > 6, "every partial write was resent"
    assert world.sleeps, "the resends were paced"


def test_provisioned_throughput_exceeded_is_retried_and_loses_nothing(world: World) -> None:
    faulty = FaultyDynamoDB(world.dynamodb, throttle_calls=6)

    response = run(world, faulty)

    result = world.observe(KEY)
    assert response["files"][0]["status"] == "SUCCESS"
    assert len(result.events) == 200
    assert faulty.calls > 6, "every throttled call was resent"
    assert world.sleeps, "the resends were paced"


def test_backoff_after_server_errors_grows_exponentially_with_full_jitter_and_a_cap(world: World) -> None:
    world.env["WRITE_CONCURRENCY"] = "1"
    faulty = FaultyDynamoDB(world.dynamodb, throttle_calls=7, throttle_code="InternalServerError")

    run(world, faulty, count=10)

    # the world's backoff draws random() == 1.0, i.e. the top of each jitter window: 0.05 * 2**attempt, max 5 s
    assert world.sleeps == [0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 5.0]


def test_persistent_throttling_fails_the_invocation_without_a_result(world: World) -> None:
    faulty = FaultyDynamoDB(world.dynamodb, throttle_calls=10_000)
    world.capsys.readouterr()

    with pytest.raises(ProcessingError, match="still failing after 8 attempts"):
        run(world, faulty)

    item = world.metadata(KEY)[0]
    assert item["processing_status"] == "PROCESSING", "no FAILED verdict for an AWS problem"
    assert item["claim_expires_at"] == 0, "claim released so Lambda's retry can start at once"
    assert emf_documents(world.capsys.readouterr().out) == []


def test_invocation_that_failed_on_throttling_succeeds_on_lambdas_retry(world: World) -> None:
    meta = world.put(KEY, as_ndjson(records(120)))
    event = world.event((KEY, meta))
    with pytest.raises(ProcessingError):
        world.invoke(event, world.runtime(dynamodb=FaultyDynamoDB(world.dynamodb, throttle_calls=10_000)))

    response = world.invoke(event, context=Context(aws_request_id="retry"))

    result = world.observe(KEY)
    assert response["files"][0]["status"] == "SUCCESS"
    assert len(result.events) == 120


def test_persistently_unprocessed_items_fail_the_invocation(world: World) -> None:
    with pytest.raises(ProcessingError, match=r"still failing after 8 attempts \(\d+ unprocessed items\)"):
        run(world, FaultyDynamoDB(world.dynamodb, unprocessed_calls=10_000))


def test_non_retryable_errors_are_not_retried(world: World) -> None:
    error = ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "BatchWriteItem")
    faulty = FaultyDynamoDB(world.dynamodb, fail_after=0, error=error)

    with pytest.raises(ProcessingError, match="AccessDeniedException"):
        run(world, faulty, count=30)

    assert world.sleeps == []


def test_failure_reading_the_object_fails_the_invocation_instead_of_the_file(world: World) -> None:
    class BrokenBody:
        def __init__(self, body: Any) -> None:
            self._body, self._reads = body, 0

        def read(self, size: int) -> bytes:
            self._reads += 1
            if self._reads > 1:
                raise ConnectionResetError("connection reset by peer")
            return self._body.read(size)

        def close(self) -> None:
            self._body.close()

    class FlakyS3:
        def __init__(self, real: Any) -> None:
            self._real = real

        def __getattr__(self, name: str) -> Any:
            return getattr(self._real, name)

        def get_object(self, **kwargs: Any) -> dict[str, Any]:
            response = self._real.get_object(**kwargs)
            return {**response, "Body": BrokenBody(response["Body"])}

    meta = world.put(KEY, as_ndjson(records(2000)))

    with pytest.raises(ProcessingError, match="reading the object failed"):
        world.invoke(world.event((KEY, meta)), world.runtime(s3=FlakyS3(world.s3)))

    assert world.metadata(KEY)[0]["processing_status"] == "PROCESSING"


class Wrapped:
    """A real client with chosen operations replaced."""

    def __init__(self, real: Any, **replacements: Any) -> None:
        self._real = real
        self._replacements = replacements

    def __getattr__(self, name: str) -> Any:
        return self._replacements.get(name) or getattr(self._real, name)


def client_error(code: str, operation: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": code}}, operation)


def test_access_denied_on_the_object_fails_the_invocation_not_the_file(world: World) -> None:
    def get_object(**_: Any) -> dict[str, Any]:
        raise client_error("AccessDenied", "GetObject")

    meta = world.put(KEY, as_ndjson(records(3)))

    with pytest.raises(ProcessingError, match="AccessDenied"):
        world.invoke(world.event((KEY, meta)), world.runtime(s3=Wrapped(world.s3, get_object=get_object)))

    assert world.metadata(KEY)[0]["processing_status"] == "PROCESSING"


def test_failure_to_record_the_result_fails_the_invocation_and_releases_the_claim(world: World) -> None:
    def put_item(**kwargs: Any) -> dict[str, Any]:
        if kwargs["Item"].get("processing_status", {}).get("S", "PROCESSING") != "PROCESSING":
            raise client_error("InternalServerError", "PutItem")
        return world.dynamodb.put_item(**kwargs)

    meta = world.put(KEY, as_ndjson(records(3)))

    with pytest.raises(ProcessingError, match="InternalServerError"):
        world.invoke(world.event((KEY, meta)), world.runtime(dynamodb=Wrapped(world.dynamodb, put_item=put_item)))

    assert world.metadata(KEY)[0]["claim_expires_at"] == 0


def test_a_claim_that_cannot_be_released_is_logged_and_the_original_error_still_raised(world: World) -> None:
    def update_item(**_: Any) -> dict[str, Any]:
        raise client_error("ThrottlingException", "UpdateItem")

    faulty = FaultyDynamoDB(world.dynamodb, fail_after=0, error=RuntimeError("disk on fire"))
    meta = world.put(KEY, as_ndjson(records(30)))
    world.capsys.readouterr()

    with pytest.raises(ProcessingError, match="disk on fire"):
        world.invoke(world.event((KEY, meta)), world.runtime(dynamodb=Wrapped(faulty, update_item=update_item)))

    messages = [line["message"] for line in log_lines(world.capsys.readouterr().out)]
    assert "could not release the claim; it will expire on its own" in messages
    assert world.metadata(KEY)[0]["claim_expires_at"] > 0


def test_error_on_the_metadata_table_fails_the_invocation(world: World) -> None:
    class NoMetadataTable:
        def __init__(self, real: Any) -> None:
            self._real = real

        def __getattr__(self, name: str) -> Any:
            return getattr(self._real, name)

        def put_item(self, **kwargs: Any) -> dict[str, Any]:
            raise ClientError({"Error": {"Code": "InternalServerError", "Message": "boom"}}, "PutItem")

    meta = world.put(KEY, as_ndjson(records(3)))

    with pytest.raises(ProcessingError, match="InternalServerError"):
        world.invoke(world.event((KEY, meta)), world.runtime(dynamodb=NoMetadataTable(world.dynamodb)))

    assert world.metadata(KEY) == []


def test_backoff_pauses_are_jittered_over_the_whole_exponential_window() -> None:
    """Full jitter: attempt n waits uniform(0, min(cap, base * 2**n)), so writers throttled together spread out."""
    pauses: list[float] = []
    draws = iter([0.1, 0.25, 0.999, 0.5])
    backoff = Backoff(base_s=0.05, cap_s=5.0, sleep=pauses.append, random=lambda: next(draws))

    for attempt in (1, 3, 3, 10):
        backoff.pause(attempt)

    assert pauses == pytest.approx([0.1 * 0.1, 0.25 * 0.4, 0.999 * 0.4, 0.5 * 5.0])


def test_the_default_backoff_draws_a_new_pause_each_time() -> None:
    pauses: list[float] = []
    backoff = Backoff(sleep=pauses.append)

    for _ in range(50):
        backoff.pause(4)

    assert len(set(pauses)) > 40 and all(0 <= pause <= 0.8 for pause in pauses)
