"""The CPU share a function's memory size buys on Lambda, enforced on a local process.

Lambda allocates CPU in proportion to memory: 1,769 MB is one vCPU, up to the 6 vCPUs of a 10,240 MB function.
A 256 MB function therefore gets 256/1769 = 0.145 of a core, so CPU-bound work takes ~7x longer than on an
unthrottled laptop core. Three modes, chosen once per runtime (``LOCAL_LAMBDA_CPU_MODE`` = auto|cgroup|charged|none):

* ``cgroup``: each attempt gets its own cgroup with a CFS quota (v1: ``cpu.cfs_quota_us``/``cpu.cfs_period_us``
  under the mounted ``cpu`` controller; v2: ``cpu.max``), and the function process is moved into it before it
  reads its invocation. The kernel throttles it exactly as Lambda's Firecracker guest is throttled.
* ``charged``: where no cgroup is writable (a laptop, a container without cgroup access), the process runs
  unthrottled and its CPU time / share is charged against the timeout: 0.5 CPU-seconds at 0.145 count as 3.4 s.
  A warning is printed once.
* ``none``: no CPU limit at all (only for comparisons).

**Init phase**: AWS documents no CPU figure for the init phase; measurements (bitesizedserverless.com, "Lambda
Cold Starts and Bootstrap Code": init code runs faster than handler code below 3,008 MB) show init running with
more CPU than the memory share. We therefore run the init phase (interpreter start and the handler module import,
up to Lambda's 10 s init limit) with at least ``INIT_CPUS`` (2 vCPUs) and switch the cgroup to the memory share
when the runtime reports ``init_done``; in ``charged`` mode only CPU time after ``init_done`` is charged.

**A loaded host is not a slower Lambda.** On AWS each execution environment gets its share whatever else runs;
here the function processes share a few cores with everything else on the machine (other functions, moto, the
developer's tests). Time a process spends runnable but waiting for a core that its share entitles it to is
*stolen* by the host: the run-queue delay the kernel reports in `/proc/<pid>/schedstat` minus the time its own
quota throttled it (`throttled_time` in the cgroup's `cpu.stat`; measured here: 0.5 CPU-s at 0.145 spent 3.29 s
waiting, 2.50 s of it throttled). The runtime moves the init and invoke deadlines by the stolen time and reports
it, so a busy laptop makes runs slower but never makes a function time out that would not time out on Lambda.

Every cgroup this module creates lives under ``<controller>/shipment-local-lambda/<runtime pid>-<n>``; it is
removed when the attempt ends, and cgroups of runtimes that are no longer alive are removed at start.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import os
import sys
import threading
import time
from pathlib import Path

MB_PER_VCPU = 1769.0
MAX_VCPUS = 6.0  # the share of a 10,240 MB function (10240/1769 = 5.79) is below it; the cap is Lambda's maximum
INIT_CPUS = 2.0
PERIOD_US = 100_000
PARENT = "shipment-local-lambda"
CGROUP_ROOT = Path(os.environ.get("LOCAL_LAMBDA_CGROUP_ROOT", "/sys/fs/cgroup"))
MODES = ("cgroup", "charged", "none")


def share_for(memory_mb: int) -> float:
    """The fraction of one core a function of `memory_mb` gets on Lambda."""
    return min(memory_mb / MB_PER_VCPU, MAX_VCPUS)


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a live process (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclasses.dataclass
class Controller:
    """A writable cpu controller: where it is mounted and which cgroup version it speaks."""

    root: Path  # the directory holding our PARENT directory
    version: int  # 1 or 2

    def quota_files(self, group: Path, share: float) -> dict[Path, str]:
        quota = max(1000, round(share * PERIOD_US))
        if self.version == 1:
            return {group / "cpu.cfs_period_us": str(PERIOD_US), group / "cpu.cfs_quota_us": str(quota)}
        return {group / "cpu.max": f"{quota} {PERIOD_US}"}


def _writable(directory: Path) -> bool:
    probe = directory / f"{PARENT}-probe-{os.getpid()}"
    try:
        probe.mkdir(exist_ok=True)
        probe.rmdir()
    except OSError:
        return False
    return True


def find_controller(root: Path = CGROUP_ROOT) -> Controller | None:
    """The cpu controller we may create cgroups in: v1 `<root>/cpu`, else v2 `<root>` with cpu enabled."""
    v1 = root / "cpu"
    if (v1 / "cpu.cfs_quota_us").is_file() and _writable(v1):
        return Controller(v1, 1)
    for v2 in (root, root / "unified"):
        controllers = v2 / "cgroup.controllers"
        if controllers.is_file() and "cpu" in controllers.read_text().split():
            subtree = v2 / "cgroup.subtree_control"
            with contextlib.suppress(OSError):
                if "cpu" not in subtree.read_text().split():
                    subtree.write_text("+cpu")
            if _writable(v2) and "cpu" in subtree.read_text().split():
                return Controller(v2, 2)
    return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove_group(group: Path) -> bool:
    """Move any remaining task to the root and remove the cgroup; True when it is gone."""
    for _ in range(50):
        try:
            group.rmdir()
            return True
        except FileNotFoundError:
            return True
        except OSError:
            procs = group / "cgroup.procs"
            with contextlib.suppress(OSError):
                for pid in procs.read_text().split():
                    with contextlib.suppress(OSError):  # the controller's root cgroup (v1 and v2 alike)
                        (group.parent.parent / "cgroup.procs").write_text(pid)
            time.sleep(0.02)
    return False


def remove_stale(controller: Controller) -> list[str]:
    """Remove the cgroups of runtimes that are no longer alive (a runtime killed with SIGKILL leaves its own)."""
    parent = controller.root / PARENT
    removed = []
    if not parent.is_dir():
        return removed
    for group in parent.iterdir():
        if not group.is_dir():
            continue
        owner = group.name.split("-", 1)[0]
        if owner.isdigit() and not _alive(int(owner)) and _remove_group(group):
            removed.append(group.name)
    return removed


class CpuLimiter:
    """Decides the mode once and hands out per-attempt limits (cgroups or CPU-time charging)."""

    def __init__(self, mode: str | None = None, root: Path = CGROUP_ROOT, warn=None) -> None:
        wanted = (mode or os.environ.get("LOCAL_LAMBDA_CPU_MODE", "auto")).lower()
        self.controller: Controller | None = None
        self._counter = itertools.count(1)
        self._lock = threading.Lock()
        self._warn = warn or (lambda text: print(f"warning: {text}", file=sys.stderr, flush=True))
        if wanted in {"auto", "cgroup"}:
            self.controller = find_controller(root)
            if self.controller is not None:
                (self.controller.root / PARENT).mkdir(exist_ok=True)
                remove_stale(self.controller)
                self.mode = "cgroup"
            elif wanted == "cgroup":
                raise RuntimeError(f"LOCAL_LAMBDA_CPU_MODE=cgroup but no writable cpu controller under {root}")
            else:
                self.mode = "charged"
                self._warn(
                    f"no writable cpu cgroup under {root}: function CPU time is charged against the timeout at the "
                    "memory share instead of being throttled (LOCAL_LAMBDA_CPU_MODE=charged)"
                )
        elif wanted in MODES:
            self.mode = wanted
        else:
            raise ValueError(f"LOCAL_LAMBDA_CPU_MODE must be one of auto, {', '.join(MODES)}; got {wanted!r}")

    def attempt(self, memory_mb: int) -> AttemptLimit:
        share = share_for(memory_mb)
        if self.mode != "cgroup":
            return AttemptLimit(self.mode, share, None, None)
        assert self.controller is not None
        with self._lock:
            name = f"{os.getpid()}-{next(self._counter)}"
        group = self.controller.root / PARENT / name
        for tries_left in reversed(range(5)):
            try:  # another runtime that just closed may have removed the (then empty) shared parent
                group.mkdir(parents=True)
                break
            except FileNotFoundError:
                if not tries_left:
                    raise
        limit = AttemptLimit("cgroup", share, group, self.controller)
        limit.set_share(max(share, INIT_CPUS))  # the init phase: see the module docstring
        return limit

    def close(self) -> None:
        """Remove our parent directory if nothing else is left in it (other runtimes may still use it)."""
        if self.controller is not None:
            with contextlib.suppress(OSError):
                (self.controller.root / PARENT).rmdir()


@dataclasses.dataclass
class AttemptLimit:
    """One attempt's CPU limit: its mode, its share and (in cgroup mode) its cgroup."""

    mode: str
    share: float
    group: Path | None
    controller: Controller | None
    pid: int | None = None
    init_cpu_s: float = 0.0
    _stolen: float = 0.0

    def add(self, pid: int) -> None:
        """Put the (not yet working) function process into the cgroup."""
        self.pid = pid
        if self.group is not None:
            (self.group / "cgroup.procs").write_text(str(pid))

    def set_share(self, share: float) -> None:
        if self.group is not None and self.controller is not None:
            for path, value in self.controller.quota_files(self.group, share).items():
                path.write_text(value)

    def init_done(self, init_cpu_s: float | None = None) -> None:
        """The runtime finished init: from now on the memory share applies (and CPU time is charged).
        ``init_cpu_s`` is the CPU time init used as the process itself read it (else it is read now, later)."""
        if init_cpu_s is not None:
            self.init_cpu_s = init_cpu_s
        elif self.pid is not None:
            self.init_cpu_s = process_cpu_s(self.pid)
        self.set_share(self.share)

    def cpu_s(self) -> float:
        """CPU seconds the attempt's process has used so far (the runtime takes the final figure from wait4)."""
        return process_cpu_s(self.pid) if self.pid else 0.0

    def stolen_s(self) -> float:
        """Seconds the process waited for a core beyond its own quota's throttling (the host's, not Lambda's)."""
        if self.pid is None:
            return 0.0
        try:
            run_delay_ns = int(Path(f"/proc/{self.pid}/schedstat").read_text().split()[1])
        except (OSError, IndexError, ValueError):
            return self._stolen
        throttled_ns = 0
        if self.group is not None and self.controller is not None:
            with contextlib.suppress(OSError, ValueError):
                for line in (self.group / "cpu.stat").read_text().splitlines():
                    name, _, value = line.partition(" ")
                    if name == "throttled_time":  # v1, ns
                        throttled_ns = int(value)
                    elif name == "throttled_usec":  # v2
                        throttled_ns = int(value) * 1000
        self._stolen = max(self._stolen, (run_delay_ns - throttled_ns) / 1e9)
        return self._stolen

    def charged_s(self, cpu_s: float) -> float:
        """Wall seconds the invoke phase's CPU time stands for at this share (charged mode's clock)."""
        return max(0.0, cpu_s - self.init_cpu_s) / self.share

    def close(self) -> None:
        if self.group is not None and self.controller is not None:
            _remove_group(self.group)


def cgroups_of_this_runtime(root: Path = CGROUP_ROOT) -> list[str]:
    """Names of cgroups this process created that still exist (tests assert none is left)."""
    found = []
    for base in (root / "cpu", root, root / "unified"):
        parent = base / PARENT
        if parent.is_dir():
            found += [g.name for g in parent.iterdir() if g.is_dir() and g.name.startswith(f"{os.getpid()}-")]
    return found


def all_cgroups(root: Path = CGROUP_ROOT) -> list[str]:
    """Every cgroup of every local runtime (`<pid>-<n>`)."""
    found = []
    for base in (root / "cpu", root, root / "unified"):
        parent = base / PARENT
        if parent.is_dir():
            found += [g.name for g in parent.iterdir() if g.is_dir()]
    return found
