"""Fixtures for the end-to-end tests: one apply of the real root to the session's local AWS.

The apply happens once (about a minute against moto) with environment `e2e`, so its names never collide with
the other apply tests sharing the server, and a `terraform destroy` leaves the server as it was found. Files are
uploaded with plain S3 calls; the local AWS delivers their events and its Lambda service runs the function from
the deployed code. Fake function packages (tests/integration/fake_functions.py) are deployed with
`update_function_code` by the failure tests, which is how they swap in a crashing, sleeping or hoarding handler.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration import fake_functions
from tools.emulator import cli, local_aws, local_deploy
from tools.emulator.aws import clients
from tools.emulator.aws.lambda_ import journal
from tools.packager import lambda_zip

ROOT = Path(__file__).resolve().parents[2]
ENVIRONMENT = "e2e"


class Stack:
    """The applied root configuration, its outputs, the invocation journal and boto3 clients for it."""

    def __init__(self, deployment: local_deploy.Deployment, state_dir: Path, packages: dict[str, Path]) -> None:
        self.deployment = deployment
        self.outputs = deployment.outputs
        self.packages = packages
        self.state_dir = state_dir
        self.journal = journal.Journal(state_dir)
        self.uploader = cli.Uploader(deployment, state_dir, timeout_s=180)

    def client(self, service: str) -> Any:
        return clients.aws_client(service, self.deployment.endpoint)

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
def stack(local_aws_server: tuple[local_aws.Server, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    server, server_state = local_aws_server
    state_dir = tmp_path_factory.mktemp("e2e-local")
    real = lambda_zip.build(ROOT / "lambda_src", state_dir / "shipment_processor.zip")
    packages = {"real": real, **{name: fake_functions.build(state_dir, name) for name in fake_functions.BEHAVIOURS}}
    deployment = local_deploy.deploy(
        server.endpoint, state_dir, package=real, environment=ENVIRONMENT, skip_lifecycle=True, say=lambda _: None
    )
    yield Stack(deployment, server_state, packages)
    # The server is the session's: leave it as found, for the apply tests that check what exists there.
    try:
        local_deploy.destroy(state_dir, say=lambda _: None)
    except RuntimeError as error:
        # One CI run in several has seen DeleteDashboards answer 404 for a dashboard the destroy's refresh had just
        # read. Say what the server holds at that moment and what it logged, so the next one shows which it was.
        cloudwatch = clients.aws_client("cloudwatch", server.endpoint)
        held = [entry["DashboardName"] for entry in cloudwatch.list_dashboards().get("DashboardEntries", [])]
        moto_log = server_state / "moto.log"
        tail = moto_log.read_text(errors="replace").splitlines()[-40:] if moto_log.is_file() else []
        report = f"{error}\ndashboards the server holds now: {held}\nmoto.log tail:\n" + "\n".join(tail)
        raise RuntimeError(report) from error
