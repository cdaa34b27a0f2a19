"""Settings read from the environment once per cold start.

Every setting has a default so the function runs with an empty environment; a value that is present but wrong
raises :class:`ConfigError` naming every bad variable, so a misconfigured deployment fails at init with a message
instead of misbehaving on the first file.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

_T = TypeVar("_T")

_TABLE_NAME = re.compile(r"[A-Za-z0-9_.-]{3,255}")
_ENVIRONMENT = re.compile(r"[A-Za-z0-9_-]{1,64}")
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
EVENTS_WRITE_PATHS = ("direct", "sdk")


class ConfigError(ValueError):
    """One or more environment variables hold values the function cannot run with."""


@dataclass(frozen=True, slots=True)
class Limits:
    """Size limits applied while streaming one file; any breach fails the file (or the record) with a reason."""

    max_object_bytes: int = 536_870_912
    max_decompressed_bytes: int = 2_147_483_648
    max_record_bytes: int = 65_536
    max_records: int = 10_000_000


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the handler needs from its environment."""

    metadata_table: str = "shipment-metadata-dev"
    events_table: str = "shipment-events-dev"
    environment: str = "dev"
    metrics_namespace: str = "ShipmentProcessing/dev"
    incoming_prefix: str = "incoming/"
    rejects_prefix: str = "rejected/"
    limits: Limits = Limits()
    log_level: str = "INFO"
    claim_timeout_s: int = 900
    write_concurrency: int = 4
    events_write_path: str = "direct"  # "sdk": client.batch_write_item, the fallback

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        """Build settings from an environment mapping (normally ``os.environ``); raise ConfigError if invalid."""
        reader = _Reader(env)
        environment = reader.get("ENVIRONMENT", "dev", _environment)
        incoming = reader.get("INCOMING_PREFIX", "incoming/", _prefix)
        rejects = reader.get("REJECTS_PREFIX", "rejected/", _prefix)
        settings = cls(
            metadata_table=reader.get("METADATA_TABLE", "shipment-metadata-dev", _table_name),
            events_table=reader.get("EVENTS_TABLE", "shipment-events-dev", _table_name),
            environment=environment,
            metrics_namespace=reader.get("METRICS_NAMESPACE", f"ShipmentProcessing/{environment}", _namespace),
            incoming_prefix=incoming,
            rejects_prefix=rejects,
            limits=Limits(
                max_object_bytes=reader.get("MAX_OBJECT_BYTES", "536870912", _int_between(1, 5 * 1024**4)),
                max_decompressed_bytes=reader.get("MAX_DECOMPRESSED_BYTES", "2147483648", _int_between(1, 2**50)),
                max_record_bytes=reader.get("MAX_RECORD_BYTES", "65536", _int_between(64, 1_048_576)),
                max_records=reader.get("MAX_RECORDS", "10000000", _int_between(1, 10**9)),
            ),
            log_level=reader.get("LOG_LEVEL", "INFO", _log_level),
            claim_timeout_s=reader.get("CLAIM_TIMEOUT_S", "900", _int_between(1, 86_400)),
            write_concurrency=reader.get("WRITE_CONCURRENCY", "4", _int_between(1, 32)),
            events_write_path=reader.get("EVENTS_WRITE_PATH", "direct", _events_write_path),
        )
        if incoming and rejects and (rejects.startswith(incoming) or incoming.startswith(rejects)):
            reader.problems.append(
                f"REJECTS_PREFIX {rejects!r} and INCOMING_PREFIX {incoming!r} overlap: rejects reports would "
                "be processed as shipment files"
            )
        if reader.problems:
            raise ConfigError("invalid configuration: " + "; ".join(reader.problems))
        return settings


class _Reader:
    """Reads variables with defaults and collects every problem instead of stopping at the first."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = env
        self.problems: list[str] = []

    def get(self, name: str, default: str, parse: Callable[[str], _T]) -> _T:
        raw = self._env.get(name)
        value = default if raw is None or raw.strip() == "" else raw.strip()
        try:
            return parse(value)
        except ValueError as exc:
            self.problems.append(f"{name}={raw!r}: {exc}")
            return parse(default)


def _int_between(low: int, high: int) -> Callable[[str], int]:
    def parse(value: str) -> int:
        try:
            number = int(value.replace("_", ""))
        except ValueError:
            raise ValueError(f"must be a whole number between {low} and {high}") from None
        if not low <= number <= high:
            raise ValueError(f"must be between {low} and {high}")
        return number

    return parse


def _environment(value: str) -> str:
    if not _ENVIRONMENT.fullmatch(value):
        raise ValueError("must be 1-64 letters, digits, '_' or '-'")
    return value


def _table_name(value: str) -> str:
    if not _TABLE_NAME.fullmatch(value):
        raise ValueError("must be a DynamoDB table name: 3-255 letters, digits, '_', '-' or '.'")
    return value


def _namespace(value: str) -> str:
    if len(value) > 255 or not value.isascii() or not value.isprintable():
        raise ValueError("must be at most 255 printable ASCII characters")
    if value.startswith("AWS/"):
        raise ValueError("the AWS/ namespace is reserved for AWS services")
    return value


def _prefix(value: str) -> str:
    if not value.endswith("/"):
        raise ValueError("must be a key prefix ending in '/'")
    return value


def _log_level(value: str) -> str:
    level = value.upper()
    if level not in _LOG_LEVELS:
        raise ValueError(f"must be one of {', '.join(_LOG_LEVELS)}")
    return level


def _events_write_path(value: str) -> str:
    path = value.lower()
    if path not in EVENTS_WRITE_PATHS:
        raise ValueError(f"must be one of {', '.join(EVENTS_WRITE_PATHS)}")
    return path
