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
_EVENT_SOURCE = re.compile(r"[A-Za-z0-9._/-]{1,256}")
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
EVENTS_WRITE_PATHS = ("direct", "sdk")

# The one table of numeric bounds: (lowest, highest, default) per variable. The Terraform variables that set
# these variables validate the same bounds, and a test checks that the two agree, so a plan that passes never
# deploys a function whose cold start then fails.
INTEGER_SETTINGS: dict[str, tuple[int, int, int]] = {
    "MAX_OBJECT_BYTES": (1, 5 * 1024**4, 536_870_912),
    "MAX_DECOMPRESSED_BYTES": (1, 2**50, 2_147_483_648),
    "MAX_RECORD_BYTES": (64, 1_048_576, 65_536),
    "MAX_RECORDS": (1, 10**9, 10_000_000),
    "CLAIM_TIMEOUT_S": (1, 86_400, 900),
    "WRITE_CONCURRENCY": (1, 32, 4),
    "MAX_INVOCATIONS": (1, 10_000, 500),
    "CHECKPOINT_MARGIN_MS": (100, 600_000, 5_000),
}
# Variables that take one of a few words: (choices, default).
CHOICE_SETTINGS: dict[str, tuple[tuple[str, ...], str]] = {
    "LOG_LEVEL": (_LOG_LEVELS, "INFO"),
    "OUTCOME_EVENTS": (("on", "off"), "on"),
    "EVENTS_WRITE_PATH": (EVENTS_WRITE_PATHS, "direct"),
}


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
    max_invocations: int = 500
    checkpoint_margin_ms: int = 5_000
    outcome_events: bool = True
    outcome_event_source: str = "shipment-processing.dev"
    function_name: str = ""  # AWS_LAMBDA_FUNCTION_NAME, set by Lambda: where continuations go without a context
    events_write_path: str = "direct"  # "sdk": client.batch_write_item, the fallback
    profiles_bucket: str = ""  # with profiles_key: the S3 object holding the shipper profiles ("": none)
    profiles_key: str = ""

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
                max_object_bytes=reader.integer("MAX_OBJECT_BYTES"),
                max_decompressed_bytes=reader.integer("MAX_DECOMPRESSED_BYTES"),
                max_record_bytes=reader.integer("MAX_RECORD_BYTES"),
                max_records=reader.integer("MAX_RECORDS"),
            ),
            log_level=reader.choice("LOG_LEVEL"),
            claim_timeout_s=reader.integer("CLAIM_TIMEOUT_S"),
            write_concurrency=reader.integer("WRITE_CONCURRENCY"),
            max_invocations=reader.integer("MAX_INVOCATIONS"),
            checkpoint_margin_ms=reader.integer("CHECKPOINT_MARGIN_MS"),
            outcome_events=reader.choice("OUTCOME_EVENTS") == "on",
            outcome_event_source=reader.get(
                "OUTCOME_EVENT_SOURCE", f"shipment-processing.{environment}", _event_source
            ),
            function_name=env.get("AWS_LAMBDA_FUNCTION_NAME", "").strip(),
            events_write_path=reader.choice("EVENTS_WRITE_PATH"),
            profiles_bucket=env.get("PROFILES_BUCKET", "").strip(),
            profiles_key=env.get("PROFILES_KEY", "").strip(),
        )
        if bool(settings.profiles_bucket) != bool(settings.profiles_key):
            reader.problems.append("PROFILES_BUCKET and PROFILES_KEY go together: set both, or neither")
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

    def integer(self, name: str) -> int:
        """A whole number within the bounds INTEGER_SETTINGS gives for ``name``."""
        low, high, default = INTEGER_SETTINGS[name]
        return self.get(name, str(default), _int_between(low, high))

    def choice(self, name: str) -> str:
        """One of the words CHOICE_SETTINGS allows for ``name`` (case-insensitive), upper- or lower-cased like them."""
        choices, default = CHOICE_SETTINGS[name]
        return self.get(name, default, _one_of(choices))


def _int_between(low: int, high: int) -> Callable[[str], int]:
    def parse(value: str) -> int:
        try:
            if not value.isascii():  # int() would read full-width and other non-ASCII digits
                raise ValueError(value)
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


def _one_of(choices: tuple[str, ...]) -> Callable[[str], str]:
    by_folded = {choice.casefold(): choice for choice in choices}

    def parse(value: str) -> str:
        if not value.isascii() or value.casefold() not in by_folded:
            raise ValueError(f"must be one of {', '.join(choices)}")
        return by_folded[value.casefold()]

    return parse


def _event_source(value: str) -> str:
    if not _EVENT_SOURCE.fullmatch(value) or value.startswith("aws."):
        raise ValueError("must be 1-256 letters, digits, '.', '_', '/' or '-', and not start with 'aws.'")
    return value
