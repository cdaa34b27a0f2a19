"""Settings read from the environment once per cold start.

Every setting has a default so the function runs with an empty environment; a value that is present but wrong
raises :class:`ConfigError` naming every bad variable, so a misconfigured deployment fails at init with a message
instead of misbehaving on the first file.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import TypeVar

from .arns import DEFAULT_PARTITION, partition

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
# The function's timeout, in seconds, as the deployment declares it (Lambda puts it in no variable of its own; the
# lambda module sets FUNCTION_TIMEOUT_S from its timeout_s). Lambda's own bounds. Unset: not checked.
FUNCTION_TIMEOUT_BOUNDS = (1, 900)
# Variables that take one of a few words: (choices, default).
CHOICE_SETTINGS: dict[str, tuple[tuple[str, ...], str]] = {
    "LOG_LEVEL": (_LOG_LEVELS, "INFO"),
    "OUTCOME_EVENTS": (("on", "off"), "on"),
    "EVENTS_WRITE_PATH": (EVENTS_WRITE_PATHS, "direct"),
}


# How much gzip content a chain of invocations can read at a memory size and timeout (Terraform refuses a
# MAX_DECOMPRESSED_BYTES above it, with the same arithmetic; a test checks that the two agree). Measured in
# docs/design.md ("Resuming a gzip"): content with the longest records costs up to 11.6 ms of CPU per MiB to
# decompress, split and parse (0.025 leaves 2x for a slower machine); a continuation re-enters the gzip at a block
# boundary and re-reads at most one deflate block, under 0.02 CPU-s (0.05 with the same margin). Per-record costs
# (writes) come on top and are bounded by MAX_RECORDS, as for a plain file.
# Exact arithmetic (Fraction), as Terraform's own numbers are: a limit exactly on the line is accepted by both.
MB_PER_VCPU = 1769  # Lambda: 1,769 MB of memory buy one vCPU; more buys more vCPUs, and the reader runs on one
CONTENT_CPU_S_PER_MIB = Fraction("0.025")
GZIP_RESUME_CPU_S = Fraction("0.05")


def chain_content_limit(
    memory_mb: float, timeout_s: float, checkpoint_margin_ms: float, max_invocations: float
) -> Fraction:
    """The most decompressed bytes a chain of ``max_invocations`` invocations can read (negative: none)."""
    memory, margin_ms = Fraction(memory_mb), Fraction(checkpoint_margin_ms)
    budget_cpu_s = (Fraction(timeout_s) - margin_ms / 1000) * min(memory / MB_PER_VCPU, Fraction(1))
    return Fraction(max_invocations) * (budget_cpu_s - GZIP_RESUME_CPU_S) / CONTENT_CPU_S_PER_MIB * 1_048_576


def gzip_limit_reachable(
    memory_mb: float,
    timeout_s: float,
    checkpoint_margin_ms: float,
    max_invocations: float,
    max_decompressed_bytes: float,
) -> bool:
    """Whether a gzip at MAX_DECOMPRESSED_BYTES can finish within MAX_INVOCATIONS at this memory and timeout."""
    return max_decompressed_bytes <= chain_content_limit(memory_mb, timeout_s, checkpoint_margin_ms, max_invocations)


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
    function_timeout_s: int | None = None  # FUNCTION_TIMEOUT_S; None when the deployment does not say
    partition: str = DEFAULT_PARTITION  # of AWS_REGION (Lambda sets it): the first field of the ARNs we build
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
            function_timeout_s=reader.optional_integer("FUNCTION_TIMEOUT_S", *FUNCTION_TIMEOUT_BOUNDS),
            partition=partition(env.get("AWS_REGION", "").strip()),
            profiles_bucket=env.get("PROFILES_BUCKET", "").strip(),
            profiles_key=env.get("PROFILES_KEY", "").strip(),
        )
        if settings.function_timeout_s is not None:
            reader.problems += timing_problems(
                settings.function_timeout_s, settings.checkpoint_margin_ms, settings.claim_timeout_s
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

    def optional_integer(self, name: str, low: int, high: int) -> int | None:
        """A whole number between ``low`` and ``high``, or None when ``name`` is unset or blank."""
        raw = self._env.get(name)
        if raw is None or raw.strip() == "":
            return None
        try:
            return _int_between(low, high)(raw.strip())
        except ValueError as exc:
            self.problems.append(f"{name}={raw!r}: {exc}")
            return None

    def choice(self, name: str) -> str:
        """One of the words CHOICE_SETTINGS allows for ``name`` (case-insensitive), upper- or lower-cased like them."""
        choices, default = CHOICE_SETTINGS[name]
        return self.get(name, default, _one_of(choices))


def timing_problems(timeout_s: int, checkpoint_margin_ms: int, claim_timeout_s: int) -> list[str]:
    """What is wrong with the settings measured against the function's timeout (the Terraform variables check
    the same): the checkpoint margin must leave time to work, and a claim must outlive an invocation."""
    problems = []
    if checkpoint_margin_ms >= timeout_s * 1000:
        problems.append(
            f"CHECKPOINT_MARGIN_MS={checkpoint_margin_ms} must be below the function's timeout "
            f"({timeout_s} s = {timeout_s * 1000} ms): an invocation would checkpoint before doing any work"
        )
    if claim_timeout_s <= timeout_s:
        problems.append(
            f"CLAIM_TIMEOUT_S={claim_timeout_s} must be above the function's timeout ({timeout_s} s): a file "
            "would be taken over while its invocation still runs"
        )
    return problems


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
