"""Fixtures for the end-to-end tests: one apply of the real root to the session's moto server, and the runtime.

The apply happens once (about a minute against moto) with environment `e2e`, so its names never collide with
the other apply tests sharing the server, and a `terraform destroy` leaves the server as it was found. Fake
function packages (tests/integration/fake_functions.py) are offered to the runtime next to the real package:
it runs whichever one has the deployed CodeSha256, which is how the failure tests swap in a crashing, sleeping
or hoarding handler.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration import fake_functions
from tools.emulator import cli, local_deploy, local_lambda
from tools.packager import lambda_zip

ROOT = Path(__file__).resolve().parents[2]
ENVIRONMENT = "e2e"


class Stack:
    """The applied root configuration, its outputs and boto3 clients for it."""

    def __init__(
        self, deployment: local_deploy.Deployment, runtime: local_lambda.LocalLambda, packages: dict[str, Path]
    ) -> None:
        self.deployment = deployment
        self.outputs = deployment.outputs
        self.runtime = runtime
        self.packages = packages
        self.uploader = cli.Uploader(deployment, runtime)

    def client(self, service: str) -> Any:
        return local_lambda.aws_client(service, self.deployment.endpoint)

    def drain_failure_queue(self) -> list[dict[str, Any]]:
        """Every message now in the failure queue (deleted as read), bodies parsed."""
        sqs = self.client("sqs")
        bodies = []
        while True:
            batch = sqs.receive_message(
                QueueUrl=self.outputs["failure_queue_url"], MaxNumberOfMessages=10, WaitTimeSeconds=0
            ).get("Messages", [])
            if not batch:
                return bodies
            for message in batch:
                bodies.append(json.loads(message["Body"]))
                sqs.delete_message(QueueUrl=self.outputs["failure_queue_url"], ReceiptHandle=message["ReceiptHandle"])


@pytest.fixture(scope="module")
def stack(moto_endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    state_dir = tmp_path_factory.mktemp("e2e-local")
    real = lambda_zip.build(ROOT / "lambda_src", state_dir / "shipment_processor.zip")
    packages = {"real": real, **{name: fake_functions.build(state_dir, name) for name in fake_functions.BEHAVIOURS}}
    deployment = local_deploy.deploy(
        moto_endpoint, state_dir, package=real, environment=ENVIRONMENT, skip_lifecycle=True, say=lambda _: None
    )
    runtime = local_lambda.LocalLambda(
        moto_endpoint, packages=list(packages.values()), state_dir=state_dir, retry_delays_s=(0.0, 0.0)
    )
    yield Stack(deployment, runtime, packages)
    # The moto server is the session's: leave it as found, for the apply tests that check what exists there.
    local_deploy.destroy(state_dir, say=lambda _: None)
