"""What every AWS adapter shares: botocore settings, one boto3 session per process, the :class:`Backoff` of the
handler's own retries (on top of botocore's standard retries), and :class:`TransientAWSError`, which fails the
invocation so that Lambda retries it and finally hands it to the on-failure destination."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from ..config import Settings


class TransientAWSError(RuntimeError):
    """AWS kept failing after the handler's own retries; the invocation should fail and be retried."""


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential backoff with full jitter: attempt n waits uniform(0, min(cap, base * 2**n)) seconds.

    ``sleep`` and ``clock`` (monotonic) are how it waits and what time it reads a deadline against: a test gives
    both, and a wait cut at a deadline is then the same however loaded the machine."""

    max_attempts: int = 8
    base_s: float = 0.05
    cap_s: float = 5.0
    sleep: Callable[[float], None] = time.sleep
    random: Callable[[], float] = random.random
    clock: Callable[[], float] = time.monotonic

    def pause(self, attempt: int, deadline: float | None = None) -> None:
        """Wait before attempt ``attempt + 1``, never past ``deadline`` (monotonic)."""
        self.wait(self.random() * min(self.cap_s, self.base_s * 2**attempt), deadline)

    def wait(self, seconds: float, deadline: float | None = None) -> None:
        """Sleep ``seconds``, cut short at ``deadline`` (monotonic)."""
        if deadline is not None:
            seconds = min(seconds, deadline - self.clock())
        if seconds > 0:
            self.sleep(seconds)


def client_config(settings: Settings) -> Config:
    """botocore settings for every client: bounded timeouts, standard retries, a pool wide enough for the writers.

    Client-side parameter validation is off: the services validate every request anyway, and re-validating
    tens of thousands of fixed-shape BatchWriteItem requests per file is pure CPU cost.
    """
    return Config(
        retries={"mode": "standard", "max_attempts": 5},
        connect_timeout=5,
        read_timeout=30,
        max_pool_connections=settings.write_concurrency + 4,
        user_agent_extra="shipment-processor",
        parameter_validation=False,
    )


_SESSION_LOCK = threading.Lock()
_SESSIONS: list[boto3.session.Session] = []


def shared_session() -> boto3.session.Session:
    """One boto3 session per process, so service models are loaded once however many clients are made."""
    with _SESSION_LOCK:
        if not _SESSIONS:
            _SESSIONS.append(boto3.session.Session())
        return _SESSIONS[0]


def error_code(exc: ClientError) -> str:
    """The AWS error code of a botocore ``ClientError`` ("" when it has none)."""
    return str(exc.response.get("Error", {}).get("Code", ""))
