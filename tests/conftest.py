"""Fixtures shared by every test layer: the local AWS (a moto server) and scratch Terraform copies.

Nothing here touches a real account: every Terraform run happens in a scratch copy whose provider points at
the session's own moto server, with fake credentials and its own state.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import botocore.client
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


def _untraced(call: Callable[..., Any]) -> Callable[..., Any]:
    """`call`, run with this thread's tracer (coverage's, if any) off and put back after.

    The tracer is cleared and put back in the frame that makes the call, here and in pytest_runtest_call below;
    not in a context manager. Coverage's tracer keeps a stack of the frames it saw called: an __enter__ that turns
    it off returns unseen, its entry is never popped, and every line after is credited to contextlib (a fresh-clone
    run read 95.94 % instead of 100 %).
    """

    def untraced(*args: Any, **kwargs: Any) -> Any:
        tracer = sys.gettrace()
        if tracer is None:
            return call(*args, **kwargs)
        sys.settrace(None)
        try:
            return call(*args, **kwargs)
        finally:
            sys.settrace(tracer)

    return untraced


# Coverage measures lambda_src only, yet its tracer is called for every Python function a test runs: inside an
# SDK call that is botocore's serialising, signing and parsing and, under mock_aws, all of moto. No lambda_src code
# runs inside an SDK call (the handler registers no botocore hooks and passes no objects of its own), so the call
# runs untraced and coverage reads the same. Measured on tests/unit + tests/ops (-n 2, one machine, one hour):
# 210-218 CPU-seconds traced throughout, 168 with SDK calls untraced, 96 with no coverage at all.
botocore.client.BaseClient._make_api_call = _untraced(botocore.client.BaseClient._make_api_call)  # type: ignore[method-assign]


@pytest.hookimpl(wrapper=True, trylast=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    """A test marked `no_cover` runs with no tracer at all, in an xdist worker too.

    pytest-cov's own `no_cover` stops the worker's coverage, but under xdist the worker also holds the coverage
    pytest-cov started for a controller (it sees `--dist` in the worker's options); stopping one resumes the
    other, so the test ran traced anyway. Measured: the 20,000-record files took 18 s each in a worker against 9 s
    untraced. This runs inside pytest-cov's wrapper (trylast), so it clears whichever tracer is left and puts it
    back after the call; coverage's own pause does the same (sys.settrace / threading.settrace).
    """
    if item.get_closest_marker("no_cover") is None:
        return (yield)
    tracer, thread_tracer = sys.gettrace(), threading.gettrace()
    sys.settrace(None)
    threading.settrace(None)  # type: ignore[arg-type]
    try:
        return (yield)
    finally:
        threading.settrace(thread_tracer)  # type: ignore[arg-type]
        sys.settrace(tracer)


# Test timings for the local AWS: async retries without AWS's 1- and 2-minute waits, SQS gauges and alarm
# evaluation every 2 s instead of every 60 s and 10 s.
LOCAL_AWS_TEST_ENV = {
    "LOCAL_LAMBDA_RETRY_DELAYS_S": "0",
    "LOCAL_SQS_METRICS_INTERVAL_S": "2",
    "LOCAL_ALARM_INTERVAL_S": "2",
}


@pytest.fixture(scope="session")
def local_aws_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[local_aws.Server, Path]]:
    """The session's own local AWS (moto + S3 events + Lambda service) on a free loopback port, and its state dir."""
    state_dir = tmp_path_factory.mktemp("moto")
    server = local_aws.start(state_dir, env=LOCAL_AWS_TEST_ENV)
    try:
        yield server, state_dir
    finally:
        local_aws.stop(state_dir)


@pytest.fixture(scope="session")
def moto_endpoint(local_aws_server: tuple[local_aws.Server, Path]) -> str:
    """The endpoint of the session's local AWS."""
    return local_aws_server[0].endpoint


@pytest.fixture(scope="session")
def scratch_modules(moto_endpoint: str, pytestconfig: pytest.Config) -> Path:
    """The pytest-terraform module tree, each module given a provider aimed at this session's moto server."""
    modules_copy = Path(pytestconfig.option.dest_tf_mod_dir)
    for module in modules_copy.iterdir():
        if module.is_dir():
            (module / "local_provider.tf").write_text(tfwork.local_provider(moto_endpoint))
    return modules_copy
