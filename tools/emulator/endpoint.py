"""Where the local AWS listens and what is deployed on it: the one part of the emulator that tools talking to AWS
(the operator CLI) may import. Standard library only; it reads the records the emulator writes in its state
directory and checks that the server still answers.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_STATE_DIR = Path(__file__).resolve().parents[2] / "build" / "local"
REGION = "eu-west-1"
# Fake credentials: the local AWS accepts any, and with these nothing can reach a real account.
CREDENTIALS = {"aws_access_key_id": "test", "aws_secret_access_key": "test", "aws_session_token": "test"}


class NotRunningError(RuntimeError):
    """The local AWS is not running, or nothing is deployed on it."""


@dataclass(frozen=True)
class LocalDeployment:
    """The local AWS endpoint and the Terraform outputs of the root applied to it."""

    endpoint: str
    region: str
    outputs: dict[str, Any]


def answers(endpoint: str, timeout: float = 2.0) -> bool:
    """True when a local AWS answers at ``endpoint``."""
    try:
        with urllib.request.urlopen(f"{endpoint}/moto-api/config", timeout=timeout) as response:
            return response.status in (200, 201)
    except (urllib.error.URLError, OSError):
        return False


def local_deployment(state_dir: Path = DEFAULT_STATE_DIR) -> LocalDeployment:
    """The running local AWS and its deployment, or NotRunningError saying what to do."""
    record = state_dir / "deployment.json"
    if not record.is_file():
        raise NotRunningError(f"nothing is deployed locally ({record} is missing): run `make demo` or `make local-up`")
    deployed = json.loads(record.read_text())
    endpoint = str(deployed["endpoint"])
    if not answers(endpoint):
        raise NotRunningError(f"the local AWS at {endpoint} does not answer: run `make local-up`")
    return LocalDeployment(endpoint, str(deployed.get("region", REGION)), dict(deployed["outputs"]))
