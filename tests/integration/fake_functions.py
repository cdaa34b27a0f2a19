"""Tiny function packages with known behaviour, for testing the local Lambda runtime on its own.

Each is a zip laid out like the real package (`shipment_processor/handler.py` at the root, handler
`shipment_processor.handler.lambda_handler`), so the deployed function's handler setting works unchanged when
a test swaps one in with `update_function_code`.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

HANDLER = "shipment_processor.handler.lambda_handler"

SUCCEEDS = """
import json, os, time

def lambda_handler(event, context):
    record = event["Records"][0]
    print(json.dumps({"message": "processing", "key": record["s3"]["object"]["key"],
                      "remaining_ms": context.get_remaining_time_in_millis(),
                      "request_id": context.aws_request_id, "memory": context.memory_limit_in_mb}))
    print(json.dumps({
        "_aws": {"Timestamp": int(time.time() * 1000), "CloudWatchMetrics": [{
            "Namespace": os.environ["METRICS_NAMESPACE"], "Dimensions": [["Environment"]],
            "Metrics": [{"Name": "ProcessingSuccess", "Unit": "Count"},
                        {"Name": "ProcessingFailure", "Unit": "Count"},
                        {"Name": "RecordsAccepted", "Unit": "Count"},
                        {"Name": "ProcessingDuration", "Unit": "Milliseconds"}]}]},
        "Environment": os.environ["ENVIRONMENT"], "ProcessingSuccess": 1, "ProcessingFailure": 0,
        "RecordsAccepted": 7, "ProcessingDuration": 12.5}))
    return {"key": record["s3"]["object"]["key"], "remaining_ms": context.get_remaining_time_in_millis(),
            "request_id": context.aws_request_id, "env": {k: os.environ.get(k) for k in
            ("ENVIRONMENT", "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_REGION",
             "AWS_ENDPOINT_URL", "LAMBDA_TASK_ROOT", "HOME")}}
"""

RAISES = """
def lambda_handler(event, context):
    print("about to fail")
    raise RuntimeError("simulated persistent DynamoDB throttling")
"""

SLEEPS = """
import time

def lambda_handler(event, context):
    print("sleeping past the timeout")
    time.sleep(600)
"""

ALLOCATES = """
def lambda_handler(event, context):
    print("allocating past the memory size")
    hoard = []
    for _ in range(64):
        hoard.append(b"x" * (32 * 1024 * 1024))  # touched pages: they count in RSS, as on Lambda
    return len(hoard)
"""

BUSY = """
import os, time

def lambda_handler(event, context):
    started = time.process_time()
    while time.process_time() - started < float(event.get("cpu_s", 0.5)):
        pass
    return {"cpu_s": time.process_time() - started, "trace": os.environ.get("_X_AMZN_TRACE_ID")}
"""

# Invokes itself asynchronously (the way the real handler continues a large file) until `left` reaches 0, or
# forever when there is no `left`; each run records its trace header so tests can follow the chain.
RECURSES = """
import json, os, boto3

def lambda_handler(event, context):
    print(json.dumps({"message": "link", "trace": os.environ.get("_X_AMZN_TRACE_ID"), "left": event.get("left")}))
    left = event.get("left")
    if left is None or left > 0:
        boto3.client("lambda").invoke(
            FunctionName=context.invoked_function_arn, InvocationType="Event",
            Payload=json.dumps({"left": None if left is None else left - 1}))
    return {"trace": os.environ.get("_X_AMZN_TRACE_ID")}
"""

BEHAVIOURS = {
    "succeeds": SUCCEEDS,
    "raises": RAISES,
    "sleeps": SLEEPS,
    "allocates": ALLOCATES,
    "busy": BUSY,
    "recurses": RECURSES,
}


def build(directory: Path, behaviour: str) -> Path:
    """Write `<behaviour>.zip` holding the handler module for that behaviour; return its path."""
    path = directory / f"{behaviour}.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("shipment_processor/__init__.py", "")
        archive.writestr("shipment_processor/handler.py", BEHAVIOURS[behaviour])
    return path
