"""``shipment-ops profile check``: a sample file through the real parse -> map -> validate pipeline, writing nothing.

The profile is the deployed one (read where the function reads it: the PROFILES_BUCKET/PROFILES_KEY object named
in the function's configuration) or a profile file not yet deployed. The limits are the function's own when an
environment is given. Nothing is written anywhere: the pipeline is pure, and the only AWS calls are two reads.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from tools.ops.environment import Environment

LAMBDA_SRC = Path(__file__).resolve().parents[2] / "lambda_src"
if str(LAMBDA_SRC) not in sys.path:  # the function's own package: the check runs the code the function runs
    sys.path.insert(0, str(LAMBDA_SRC))

from shipment_processor.config import Limits, Settings  # noqa: E402
from shipment_processor.formats import BytesSource, FileError, StreamStats  # noqa: E402
from shipment_processor.pipeline import Accepted, ResultStream, describe_ref  # noqa: E402
from shipment_processor.profiles import Profile, ProfileError, parse_profile  # noqa: E402

FIRST_REJECTS = 10


@dataclass
class CheckReport:
    """What the function would do with the sample: counts, mapping, first rejects, unmapped status codes."""

    shipper: str
    file: str
    profile: str | None
    profile_version: str | None
    profile_source: str
    settings: dict[str, Any] = field(default_factory=dict)
    columns: list[tuple[str, str]] = field(default_factory=list)
    records: int = 0
    accepted: int = 0
    rejected: int = 0
    first_rejects: list[str] = field(default_factory=list)
    rejects_by_reason: dict[str, int] = field(default_factory=dict)
    unmapped_statuses: dict[str, int] = field(default_factory=dict)
    sample: list[dict[str, Any]] = field(default_factory=list)
    file_error: str | None = None
    format: str | None = None

    @property
    def outcome(self) -> str:
        """The outcome the function would record for this file."""
        if self.file_error or not self.accepted:
            return "FAILED"
        return "PARTIAL" if self.rejected else "SUCCESS"

    def as_dict(self) -> dict[str, Any]:
        data = dict(self.__dict__)
        data["outcome"] = self.outcome
        data["columns"] = [{"source": s, "field": t} for s, t in self.columns]
        return data

    def text(self) -> str:
        lines = [
            f"shipper {self.shipper}: "
            + (
                f"profile {self.profile} {self.profile_version} ({self.profile_source})"
                if self.profile
                else f"no profile ({self.profile_source}): the record contract as it stands"
            )
        ]
        if self.settings:
            lines.append("  " + ", ".join(f"{k} {v}" for k, v in self.settings.items()))
        if self.columns:
            lines.append("columns:")
            width = max(len(source) for source, _ in self.columns)
            lines += [f"  {source.ljust(width)} -> {target}" for source, target in self.columns]
        lines.append(
            f"{self.file} ({self.format or 'unknown format'}): {self.records} records, {self.accepted} would be "
            f"stored, {self.rejected} rejected -> {self.outcome}"
        )
        if self.file_error:
            lines.append(f"the file would FAIL: {self.file_error}")
        if self.sample:
            lines.append("first stored updates:")
            lines += [f"  {json.dumps(update, ensure_ascii=False)}" for update in self.sample]
        if self.first_rejects:
            lines.append(f"first {len(self.first_rejects)} rejects:")
            lines += [f"  {reject}" for reject in self.first_rejects]
        if self.unmapped_statuses:
            seen = ", ".join(f"{code!r} ({count})" for code, count in self.unmapped_statuses.items())
            lines.append(f"status codes the profile does not map: {seen}")
        return "\n".join(lines)


def deployed_profile(env: Environment, shipper: str) -> tuple[Profile | None, str, Limits]:
    """The shipper's deployed profile (None: it has none), where it was read, and the function's limits."""
    variables = env.client("lambda").get_function_configuration(FunctionName=env.function_name)
    variables = variables.get("Environment", {}).get("Variables", {})
    limits = Settings.from_env(variables).limits
    bucket, key = variables.get("PROFILES_BUCKET"), variables.get("PROFILES_KEY")
    if not bucket or not key:
        return None, f"{env.function_name} reads no profiles (PROFILES_KEY unset)", limits
    location = f"s3://{bucket}/{key}"
    try:
        body = env.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
            raise ValueError(f"the profiles object {location} does not exist; run terraform apply") from exc
        raise
    profiles = json.loads(body).get("profiles", {})
    if shipper not in profiles:
        return None, location, limits
    try:
        return parse_profile(shipper, profiles[shipper]), location, limits
    except ProfileError as exc:
        raise ValueError(f"the deployed profile is refused, so the function fails this shipper's files: {exc}") from exc


def profile_from_file(path: Path, shipper: str) -> Profile:
    """A profile document not yet deployed: the JSON Terraform would render for the shipper."""
    try:
        return parse_profile(shipper, path.read_text(encoding="utf-8"))
    except ProfileError as exc:
        raise ValueError(str(exc)) from exc


def check(
    sample: Path,
    shipper: str,
    profile: Profile | None,
    source: str,
    limits: Limits,
    *,
    now: datetime | None = None,
) -> CheckReport:
    """Run the sample through the pipeline the function runs; collect what an operator needs to see."""
    report = CheckReport(
        shipper=shipper,
        file=sample.name,
        profile=profile.name if profile else None,
        profile_version=profile.version if profile else None,
        profile_source=source,
    )
    if profile is not None:
        dialect = profile.dialect
        report.settings = {
            "encoding": dialect.encoding,
            "delimiter": repr(dialect.delimiter),
            "quote": repr(dialect.quotechar),
            "header": "yes" if dialect.header else "no (columns by position)",
            "timestamps": ", ".join(profile.timestamps.formats)
            + (f" in {profile.timestamps.zone}" if profile.timestamps.zone else ""),
        }
        report.columns = profile.describe_columns()
    stats = StreamStats()
    reasons: Counter[str] = Counter()
    stream: ResultStream | None = None
    try:
        with sample.open("rb") as body:
            stream = ResultStream(
                BytesSource(body),
                f"incoming/{shipper}/{sample.name}",
                limits,
                now or datetime.now(UTC),
                stats,
                profile=profile,
            )
            for result in stream:
                report.records += 1
                if isinstance(result, Accepted):
                    report.accepted += 1
                    if len(report.sample) < 3:
                        update = result.update
                        report.sample.append(
                            {
                                "shipment_id": update.shipment_id,
                                "status": update.status,
                                "timestamp": update.timestamp,
                                **dict(update.fields),
                            }
                        )
                    continue
                report.rejected += 1
                reasons[result.reason.split(" '", 1)[0]] += 1
                if len(report.first_rejects) < FIRST_REJECTS:
                    report.first_rejects.append(f"{describe_ref(result.ref)}: {result.reason}")
    except (FileError, ProfileError) as exc:
        report.file_error = str(exc)
    if stream is not None and stream.mapper is not None:
        report.unmapped_statuses = dict(sorted(stream.mapper.unmapped.items(), key=lambda pair: -pair[1]))
    report.format = stats.format
    report.rejects_by_reason = dict(reasons.most_common())
    return report
