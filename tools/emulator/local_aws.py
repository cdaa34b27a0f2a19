"""The local AWS: a moto server on a free loopback port, managed through a pid file.

Terraform and boto3 both talk to it over real HTTP, the way they talk to AWS. The server's pid, port and log
live in a state directory (default `build/local/`), so `up` reuses a running server and `down` stops exactly
the one it started.

    python -m tools.emulator.local_aws up|down|status|endpoint [--state-dir build/local]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_STATE_DIR = ROOT / "build" / "local"
HOST = "127.0.0.1"
START_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Server:
    """A running moto server: where it listens and which process it is."""

    pid: int
    port: int

    @property
    def endpoint(self) -> str:
        return f"http://{HOST}:{self.port}"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def healthy(endpoint: str, timeout: float = 2.0) -> bool:
    """True when a moto server answers its management API at `endpoint`.

    /moto-api/config, not /moto-api/data.json: data.json serialises every model and answers 500 as soon as a
    Lambda function exists (the model's docker client property raises without Docker), which made a running
    server look dead and `start` launch a second one.
    """
    try:
        with urllib.request.urlopen(f"{endpoint}/moto-api/config", timeout=timeout) as response:
            return response.status in (200, 201)
    except (urllib.error.URLError, OSError):
        return False


def _server_file(state_dir: Path) -> Path:
    return state_dir / "moto.json"


def running(state_dir: Path = DEFAULT_STATE_DIR) -> Server | None:
    """The server recorded in `state_dir`, if its process is alive and answering."""
    record = _server_file(state_dir)
    if not record.is_file():
        return None
    data = json.loads(record.read_text())
    server = Server(pid=int(data["pid"]), port=int(data["port"]))
    if _alive(server.pid) and healthy(server.endpoint):
        return server
    return None


def _moto_command(port: int) -> list[str]:
    moto = Path(sys.executable).with_name("moto_server")
    if moto.exists():
        return [str(moto), "-H", HOST, "-p", str(port)]
    return [sys.executable, "-m", "moto.server", "-H", HOST, "-p", str(port)]


def start(state_dir: Path = DEFAULT_STATE_DIR) -> Server:
    """Start a moto server (or reuse the running one) and wait until it answers."""
    existing = running(state_dir)
    if existing:
        return existing
    state_dir.mkdir(parents=True, exist_ok=True)
    for _attempt in range(3):  # the port can be taken between choosing and binding it
        port = _free_port()
        log = (state_dir / "moto.log").open("ab")
        process = subprocess.Popen(
            _moto_command(port),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # not killed by a Ctrl-C aimed at the caller
        )
        log.close()
        server = Server(pid=process.pid, port=port)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline and process.poll() is None:
            if healthy(server.endpoint, timeout=0.5):
                _server_file(state_dir).write_text(json.dumps({"pid": server.pid, "port": server.port}))
                return server
            time.sleep(0.1)
        if process.poll() is None:
            process.kill()
    raise RuntimeError(f"moto server did not start; see {state_dir / 'moto.log'}")


def stop(state_dir: Path = DEFAULT_STATE_DIR) -> bool:
    """Stop the server recorded in `state_dir`; True if one was running."""
    record = _server_file(state_dir)
    if not record.is_file():
        return False
    pid = int(json.loads(record.read_text())["pid"])
    record.unlink()
    if not _alive(pid):
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            finished, _status = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:  # not our child: poll for it instead
            finished = 0 if _alive(pid) else pid
        if finished:
            return True
        time.sleep(0.1)
    os.kill(pid, signal.SIGKILL)
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Manage the local AWS (moto server).")
    parser.add_argument("command", choices=["up", "down", "status", "endpoint"])
    parser.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR)
    args = parser.parse_args(argv)
    if args.command == "up":
        server = start(args.state_dir)
        print(f"local AWS up at {server.endpoint} (pid {server.pid}, log {args.state_dir / 'moto.log'})")
    elif args.command == "down":
        print("local AWS stopped" if stop(args.state_dir) else "local AWS was not running")
    else:
        server = running(args.state_dir)
        if server is None:
            print("local AWS is not running", file=sys.stderr)
            return 1
        print(server.endpoint if args.command == "endpoint" else f"up at {server.endpoint} (pid {server.pid})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
