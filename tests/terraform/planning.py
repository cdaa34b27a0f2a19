"""Plan helpers for the Terraform tests: run `terraform plan` through tftest and read the plan JSON.

A configuration is copied (tools/tfwork.prepare_workdir: provider aimed at the session's moto server, own
.terraform and state), initialised once, and planned through tftest. Plans and refused plans are cached per
variable set, so a test file asks for the plan it needs and many small tests share it.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import pytest
import tftest

from tools.terraform import tfwork

ACCOUNT_ID = "123456789012"  # moto's account
REGION = tfwork.LOCAL_REGION


class Plan:
    """The JSON of one saved plan, with the lookups the tests need."""

    def __init__(self, raw: dict[str, Any]) -> None:
        self.raw = raw
        self.resources: dict[str, dict[str, Any]] = {}
        self._types: dict[str, str] = {}
        self._collect(raw["planned_values"]["root_module"])
        # Attributes only known after apply (e.g. an ARN of a resource created in the same plan), by address.
        self.unknown: dict[str, dict[str, Any]] = {
            change["address"]: change["change"].get("after_unknown") or {} for change in raw.get("resource_changes", [])
        }

    def _collect(self, module: dict[str, Any]) -> None:
        for resource in module.get("resources", []):
            if resource["mode"] == "managed":
                # A resource whose every attribute is unknown until apply has no "values".
                self.resources[resource["address"]] = resource.get("values", {})
                self._types[resource["address"]] = resource["type"]
        for child in module.get("child_modules", []):
            self._collect(child)

    def __getitem__(self, address: str) -> dict[str, Any]:
        return self.resources[address]

    def of_type(self, resource_type: str) -> dict[str, dict[str, Any]]:
        """Planned values of every managed resource of one type, by address."""
        return {a: v for a, v in self.resources.items() if self._types[a] == resource_type}

    def one(self, resource_type: str) -> dict[str, Any]:
        """Planned values of the only resource of a type (fails if there are none or several)."""
        found = self.of_type(resource_type)
        assert len(found) == 1, f"expected one {resource_type}, found {sorted(found)}"
        return next(iter(found.values()))

    def policy(self, address: str, attribute: str = "policy") -> dict[str, Any]:
        return json.loads(self.resources[address][attribute])

    @property
    def outputs(self) -> dict[str, Any]:
        return {name: o.get("value") for name, o in self.raw["planned_values"].get("outputs", {}).items()}


class Workdir:
    """An initialised scratch copy of one configuration; plans it through tftest."""

    def __init__(self, tf: tftest.TerraformTest) -> None:
        self.tf = tf
        self.path = Path(tf.tfdir)
        self._plans: dict[str, Plan] = {}
        self._errors: dict[str, str] = {}
        self._count = 0

    def _args(self, tf_vars: dict[str, Any]) -> list[str]:
        # A JSON var file keeps every type exact (tftest's -var k=v turns True into "True" and None into "None").
        self._count += 1
        var_file = self.path / f"test-{self._count}.tfvars.json"
        var_file.write_text(json.dumps(tf_vars))
        return tftest.parse_args(tf_var_file=var_file.name, input=False, color=False)

    def plan(self, **tf_vars: Any) -> Plan:
        """Plan with these variables (cached per variable set) and return the plan JSON."""
        key = json.dumps(tf_vars, sort_keys=True)
        if key not in self._plans:
            args = self._args(tf_vars)
            # tftest's plan(output=True) leaves its plan file in TMPDIR; keep ours in the scratch copy instead.
            plan_file = self.path / f"test-{self._count}.tfplan"
            self.tf.execute_command("plan", *args, f"-out={plan_file}")
            shown = self.tf.execute_command("show", "-no-color", "-json", str(plan_file))
            plan_file.unlink()
            self._plans[key] = Plan(json.loads(shown.out))
        return self._plans[key]

    def plan_error(self, **tf_vars: Any) -> str:
        """Plan with these variables, expecting terraform to refuse; return its error output (cached per variable set).

        Terraform reports every failed validation of a run, so one refused plan can serve several tests.
        """
        key = json.dumps(tf_vars, sort_keys=True)
        if key not in self._errors:
            with pytest.raises(tftest.TerraformTestError) as failed:
                self.tf.execute_command("plan", *self._args(tf_vars))
            # tftest puts output and stderr in the exception's args; terraform wraps long messages: join the lines.
            self._errors[key] = " ".join(" ".join(str(arg) for arg in failed.value.args).split())
        return self._errors[key]


def write_dummy_package(path: Path) -> None:
    """A tiny stand-in for the real package: plans only hash it, they never run it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("shipment_processor/__init__.py", "")
        archive.writestr("shipment_processor/handler.py", "def lambda_handler(event, context):\n    return None\n")
