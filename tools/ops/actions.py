"""What an operator does to an environment: redrive the failure queue, reprocess a finished version, and get a
version stuck PROCESSING going again.

Both go through the function itself (Lambda's Invoke API, synchronous, so the outcome is known): a replayed
event is the original one, so everything the handler guarantees under at-least-once delivery holds (a version
already final answers DUPLICATE; one stuck PROCESSING is taken over and resumed); a reprocess is a new,
recorded attempt.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tools.ops.environment import Environment

REPLAY_VISIBILITY_S = 900  # a message stays hidden while its event is replayed (the longest a function runs)


@dataclass
class Replayed:
    """One failure-queue message and what replaying it did."""

    message_id: str
    condition: str | None
    request_id: str | None
    keys: list[str]
    outcome: str  # replayed | failed | would replay
    detail: Any = None

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def invoke(env: Environment, payload: dict[str, Any]) -> tuple[bool, Any]:
    """Invoke the function synchronously: (it succeeded, its response or error document)."""
    response = env.client("lambda").invoke(
        FunctionName=env.function_name,
        InvocationType="RequestResponse",
        LogType="Tail",
        Payload=json.dumps(payload).encode(),
    )
    body = response["Payload"].read()
    try:
        document = json.loads(body) if body else None
    except ValueError:
        document = body.decode("utf-8", "replace")
    failed = bool(response.get("FunctionError"))
    if failed and response.get("LogResult"):
        tail = base64.b64decode(response["LogResult"]).decode("utf-8", "replace").splitlines()[-5:]
        document = {"error": document, "log_tail": tail}
    return not failed, document


def _keys(event: Any) -> list[str]:
    if isinstance(event, dict) and isinstance(event.get("Records"), list):
        return [str(r.get("s3", {}).get("object", {}).get("key", "?")) for r in event["Records"]]
    for kind in ("continuation", "reprocess"):
        if isinstance(event, dict) and isinstance(event.get(kind), dict):
            return [str(event[kind].get("key", "?"))]
    return ["?"]


def _messages(env: Environment, visibility: int, limit: int) -> list[dict[str, Any]]:
    assert env.failure_queue_url, "this environment has no failure queue"
    sqs = env.client("sqs")
    seen: dict[str, dict[str, Any]] = {}
    while len(seen) < limit:
        batch = sqs.receive_message(
            QueueUrl=env.failure_queue_url,
            MaxNumberOfMessages=min(10, limit - len(seen)),
            VisibilityTimeout=visibility,
            WaitTimeSeconds=0,
            MessageSystemAttributeNames=["ApproximateReceiveCount"],
        ).get("Messages", [])
        fresh = [m for m in batch if m["MessageId"] not in seen]
        if not fresh:
            break
        seen.update((m["MessageId"], m) for m in fresh)
    return list(seen.values())


def replay(
    env: Environment,
    *,
    dry_run: bool = False,
    limit: int = 1000,
    progress: Callable[[str, str | None], None] | None = None,
) -> list[Replayed]:
    """Re-invoke the function with each failure-queue message's original event; delete a message only when its
    invocation succeeded. ``--dry-run`` shows what would be replayed and leaves every message in the queue."""
    sqs = env.client("sqs")
    messages = _messages(env, 30 if dry_run else REPLAY_VISIBILITY_S, limit)
    results = []
    for message in messages:
        try:
            record = json.loads(message["Body"])
        except ValueError:
            record = {}
        event = record.get("requestPayload")
        context = record.get("requestContext", {})
        keys = _keys(event)
        result = Replayed(message["MessageId"], context.get("condition"), context.get("requestId"), keys, "")
        if progress:
            progress(", ".join(keys), None)
        if dry_run or event is None:
            result.outcome = "would replay" if event is not None else "not an invocation record: left in the queue"
            sqs.change_message_visibility(
                QueueUrl=env.failure_queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
            )
        else:
            succeeded, response = invoke(env, event)
            result.detail = response
            if succeeded:
                sqs.delete_message(QueueUrl=env.failure_queue_url, ReceiptHandle=message["ReceiptHandle"])
                result.outcome = "replayed"
            else:
                sqs.change_message_visibility(
                    QueueUrl=env.failure_queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
                )
                result.outcome = "failed"
        if progress:
            progress(", ".join(keys), result.outcome)
        results.append(result)
    return results


def reprocess(env: Environment, item: dict[str, Any], *, wait: bool = True, restart: bool = False) -> tuple[bool, Any]:
    """Ask the function for a new attempt on a final version (after a fix), or to carry a version stuck PROCESSING
    (a stale claim) on from its checkpoint (``restart``: start it again as a new attempt); with ``wait``, return
    its report."""
    request = {
        "reprocess": {
            "bucket": item.get("bucket", env.bucket),
            "key": item["filename"],
            "version_id": None if item.get("version_id") in (None, "null") else item["version_id"],
            "upload_timestamp": item["upload_timestamp"],
            **({"restart": True} if restart else {}),
        }
    }
    if not wait:
        env.client("lambda").invoke(
            FunctionName=env.function_name, InvocationType="Event", Payload=json.dumps(request).encode()
        )
        return True, {"queued": request}
    return invoke(env, request)
