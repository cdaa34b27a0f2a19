"""Fixtures shared by every test layer: the local AWS (a moto server) and scratch Terraform copies.

Nothing here touches a real account: every Terraform run happens in a scratch copy whose provider points at
the session's own moto server, with fake credentials and its own state.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tools.emulator import local_aws
from tools.terraform import tfwork

ROOT = Path(__file__).resolve().parent.parent
MODULES = ROOT / "modules"


def pytest_configure(config: pytest.Config) -> None:
    """Offline provider for every terraform call, and a scratch module tree for pytest-terraform."""
    scratch = Path(tempfile.mkdtemp(prefix="tf-cli-"))
    os.environ["TF_CLI_CONFIG_FILE"] = str(tfwork.write_cli_config(scratch / "terraformrc"))
    os.environ["TF_IN_AUTOMATION"] = "1"
    os.environ["CHECKPOINT_DISABLE"] = "1"
    # pytest-terraform runs init/apply inside the module directory it is given and writes lock files and
    # tf_resources.json there: give it copies so modules/ stays clean.
    modules_copy = scratch / "modules"
    if MODULES.is_dir():
        shutil.copytree(MODULES, modules_copy, ignore=shutil.ignore_patterns(".terraform*", "*.tfstate*"))
    else:
        modules_copy.mkdir()
    config.option.dest_tf_mod_dir = str(modules_copy)
    config.stash[_SCRATCH] = scratch


_SCRATCH = pytest.StashKey[Path]()


def pytest_unconfigure(config: pytest.Config) -> None:
    scratch = config.stash.get(_SCRATCH, None)
    if scratch is not None:
        shutil.rmtree(scratch, ignore_errors=True)


@pytest.fixture(scope="session")
def moto_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A moto server of this session's own on a free loopback port, stopped by its pid at the end."""
    state_dir = tmp_path_factory.mktemp("moto")
    server = local_aws.start(state_dir)
    try:
        yield server.endpoint
    finally:
        local_aws.stop(state_dir)


@pytest.fixture(scope="session")
def scratch_modules(moto_endpoint: str, pytestconfig: pytest.Config) -> Path:
    """The pytest-terraform module tree, each module given a provider aimed at this session's moto server."""
    modules_copy = Path(pytestconfig.option.dest_tf_mod_dir)
    for module in modules_copy.iterdir():
        if module.is_dir():
            (module / "local_provider.tf").write_text(tfwork.local_provider(moto_endpoint))
    return modules_copy
