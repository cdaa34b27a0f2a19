"""Which deployment the operator CLI talks to, and its resource names: a real account through the usual credential
chain (profile, region), or the local AWS. Names come from the environment's Terraform outputs, or from the
deployment itself: the function of the environment (found by the root module's naming, whatever its name_prefix)
and the tables it is configured with.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from tools.emulator import endpoint as local

# The alarms the monitoring module creates, named <name_prefix>-<kind>-<environment>. Matched whole: environment
# names and prefixes may contain hyphens, so "prod" must not pick up the alarms of "eu-prod".
ALARM_KINDS = (
    "file-failure-rate",
    "processor-errors",
    "processor-failed-events",
    "processor-failed-events-age",
    "processor-destination-failures",
)


@dataclass(frozen=True)
class Environment:
    """One deployed environment: where its resources are and how to reach them."""

    name: str
    region: str
    bucket: str
    metadata_table: str
    events_table: str
    function_name: str
    failure_queue_url: str | None
    log_group: str
    alarm_names: tuple[str, ...] = ()
    endpoint: str | None = None  # the local AWS; None for a real account
    profile: str | None = None
    _clients: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_outputs(
        cls,
        outputs: Mapping[str, Any],
        *,
        region: str,
        endpoint: str | None = None,
        profile: str | None = None,
    ) -> Environment:
        """From ``terraform output -json`` (values or ``{"value": ...}`` entries) of the root module."""
        plain = {k: (v["value"] if isinstance(v, Mapping) and "value" in v else v) for k, v in outputs.items()}
        function = str(plain["function_name"])
        return cls(
            name=str(plain.get("environment") or function.rsplit("-", 1)[-1]),
            region=region,
            bucket=str(plain["bucket_name"]),
            metadata_table=str(plain["metadata_table_name"]),
            events_table=str(plain["events_table_name"]),
            function_name=function,
            failure_queue_url=plain.get("failure_queue_url"),
            log_group=str(plain.get("log_group_name") or f"/aws/lambda/{function}"),
            alarm_names=tuple(sorted(str(v) for k, v in plain.items() if k.endswith("_alarm_name"))),
            endpoint=endpoint,
            profile=profile,
        )

    @classmethod
    def by_convention(
        cls, name: str, *, region: str, profile: str | None = None, name_prefix: str | None = None
    ) -> Environment:
        """Environment ``name`` as the root module deploys it, found in the account: its function is
        ``<name_prefix>-processor-<name>`` and says which environment it serves; its tables are the ones that
        function is configured with. Without ``name_prefix`` the prefix is read off the one such function there is."""
        probe = cls(name, region, "", "", "", "", None, "", profile=profile)
        account = probe.client("sts").get_caller_identity()["Account"]
        function = _deployed_function(probe.client("lambda"), name, name_prefix, region)
        prefix = function["FunctionName"].removesuffix(f"-processor-{name}")
        variables = function.get("Environment", {}).get("Variables", {})
        sqs = probe.client("sqs")
        queue = sqs.get_queue_url(QueueName=f"{prefix}-processor-failures-{name}")["QueueUrl"]
        wanted = [f"{prefix}-{kind}-{name}" for kind in ALARM_KINDS]
        found = probe.client("cloudwatch").describe_alarms(AlarmNames=wanted).get("MetricAlarms", [])
        names = tuple(sorted(alarm["AlarmName"] for alarm in found))
        return cls(
            name=name,
            region=region,
            bucket=f"{prefix}-files-{account}-{region}-{name}",
            metadata_table=str(variables.get("METADATA_TABLE") or f"{prefix}-metadata-{name}"),
            events_table=str(variables.get("EVENTS_TABLE") or f"{prefix}-events-{name}"),
            function_name=function["FunctionName"],
            failure_queue_url=queue,
            log_group=f"/aws/lambda/{function['FunctionName']}",
            alarm_names=names,
            profile=profile,
        )

    def client(self, service: str) -> Any:
        """A boto3 client for this environment (fake credentials and the endpoint when local)."""
        if service not in self._clients:
            config = Config(retries={"mode": "standard", "max_attempts": 5}, read_timeout=900)
            if self.endpoint:
                session = boto3.session.Session(region_name=self.region, **local.CREDENTIALS)
                config = config.merge(Config(s3={"addressing_style": "path"}))
                self._clients[service] = session.client(service, endpoint_url=self.endpoint, config=config)
            else:
                session = boto3.session.Session(profile_name=self.profile, region_name=self.region)
                self._clients[service] = session.client(service, config=config)
        return self._clients[service]


def _deployed_function(client: Any, name: str, name_prefix: str | None, region: str) -> dict[str, Any]:
    """The processing function of environment ``name``: ``<name_prefix>-processor-<name>`` with ENVIRONMENT=name."""
    suffix = f"-processor-{name}"
    found = [
        function
        for page in client.get_paginator("list_functions").paginate()
        for function in page.get("Functions", [])
        if function["FunctionName"].endswith(suffix)
        and (name_prefix is None or function["FunctionName"] == f"{name_prefix}{suffix}")
        and function.get("Environment", {}).get("Variables", {}).get("ENVIRONMENT") == name
        and "METADATA_TABLE" in function.get("Environment", {}).get("Variables", {})
    ]
    if not found:
        wanted = f"{name_prefix}{suffix}" if name_prefix else f"<name_prefix>{suffix}"
        raise ValueError(
            f"no deployment of environment {name!r} in {region}: no function {wanted} serving it "
            "(check --region and --profile, or pass --outputs FILE)"
        )
    if len(found) > 1:
        prefixes = ", ".join(sorted(f["FunctionName"].removesuffix(suffix) for f in found))
        raise ValueError(
            f"environment {name!r} is deployed under several name prefixes ({prefixes}): pass --name-prefix"
        )
    return found[0]


def resolve(
    *,
    use_local: bool,
    state_dir: Path | None,
    outputs_file: Path | None,
    env_name: str | None,
    region: str | None,
    profile: str | None,
    name_prefix: str | None = None,
) -> Environment:
    """The environment the command line names (exactly one of --local, --outputs, --env)."""
    chosen = [use_local, outputs_file is not None, env_name is not None]
    if sum(chosen) != 1:
        raise ValueError("say which environment: --local, --outputs FILE (terraform output -json) or --env NAME")
    if use_local:
        deployment = local.local_deployment(state_dir or local.DEFAULT_STATE_DIR)
        return Environment.from_outputs(deployment.outputs, region=deployment.region, endpoint=deployment.endpoint)
    region = region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    if not region:
        raise ValueError("no region: pass --region or set AWS_REGION")
    if outputs_file is not None:
        return Environment.from_outputs(json.loads(outputs_file.read_text()), region=region, profile=profile)
    assert env_name is not None
    return Environment.by_convention(env_name, region=region, profile=profile, name_prefix=name_prefix)
