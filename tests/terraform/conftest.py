"""Plan fixtures: initialised scratch copies of the root and of each module, planned against the moto server."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import tftest

from tools.terraform import tfwork

from .planning import Workdir, write_dummy_package

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def workdir(moto_endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Workdir]:
    """Factory: the initialised scratch copy of "." (the root) or "modules/<name>", one per session each.

    Each copy holds a dummy package at build/shipment_processor.zip (the default package_path).
    """
    created: dict[str, Workdir] = {}

    def get(configuration: str) -> Workdir:
        if configuration not in created:
            name = "root" if configuration == "." else configuration.replace("/", "-")
            dest = tfwork.prepare_workdir(ROOT / configuration, tmp_path_factory.mktemp("plan") / name, moto_endpoint)
            write_dummy_package(dest / "build" / "shipment_processor.zip")
            tf = tftest.TerraformTest(str(dest))
            tf.setup(input=False, color=False)
            created[configuration] = Workdir(tf)
        return created[configuration]

    return get
