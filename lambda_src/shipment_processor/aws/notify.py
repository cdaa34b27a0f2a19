"""Calls that hand work or news to other services: a new asynchronous invocation of a function (Lambda Invoke) and
one event on the default EventBridge bus."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from .clients import Backoff, TransientAWSError


def invoke_async(client: Any, function: str, payload: Mapping[str, Any]) -> None:
    """Hand ``payload`` to a new asynchronous invocation of ``function`` (Lambda queues it and retries it)."""
    body = json.dumps(payload, separators=(",", ":")).encode()
    response = client.invoke(FunctionName=function, InvocationType="Event", Payload=body)
    if response.get("StatusCode") != 202:
        raise TransientAWSError(f"Lambda did not queue the continuation (status {response.get('StatusCode')})")


def put_event(
    client: Any, backoff: Backoff, *, source: str, detail_type: str, detail: Mapping[str, Any], resources: list[str]
) -> None:
    """One event on the account's default EventBridge bus; entries EventBridge reports as failed are retried."""
    entry = {
        "Source": source,
        "DetailType": detail_type,
        "Detail": json.dumps(detail, separators=(",", ":"), ensure_ascii=False),
        "Resources": resources,
    }
    attempt = 0
    while True:
        response = client.put_events(Entries=[entry])
        if not response.get("FailedEntryCount"):
            return
        failure = (response.get("Entries") or [{}])[0]
        attempt += 1
        if attempt >= backoff.max_attempts:
            raise TransientAWSError(
                f"EventBridge refused the outcome event {attempt} times: "
                f"{failure.get('ErrorCode')} {failure.get('ErrorMessage')}"
            )
        backoff.pause(attempt)
