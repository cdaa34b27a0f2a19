"""The local AWS: `tools.emulator.aws.server` (moto plus S3 events, Lambda and CloudWatch behaviour) on a free loopback
port, managed through a pid file.

Terraform, boto3 and the AWS CLI all talk to it over real HTTP (or HTTPS with `--tls`), the way they talk to AWS.
The server's pid, port and log live in a state directory (default `build/local/`), so `up` reuses a running
server and `down` stops exactly the one it started (the server stops its Lambda service child and that one its
function processes and CPU cgroups).

    python -m tools.emulator.local_aws up|down|status|endpoint [--state-dir build/local] [--tls]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from tools.emulator.aws.server import PID_HEADER
from tools.files import write_atomic

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_STATE_DIR = ROOT / "build" / "local"
HOST = "127.0.0.1"
START_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Server:
    """A running local AWS server: where it listens and which process it is."""

    pid: int
    port: int
    scheme: str = "http"
    ca_bundle: str | None = None

    @property
    def endpoint(self) -> str:
        return f"{self.scheme}://{HOST}:{self.port}"

    def client_env(self) -> dict[str, str]:
        """What any AWS client (the CLI, boto3, Terraform) needs to use this server."""
        env = {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
            "AWS_DEFAULT_REGION": "eu-west-1",
        }
        if self.ca_bundle:
            env["AWS_CA_BUNDLE"] = self.ca_bundle
        return env


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


def healthy(endpoint: str, timeout: float = 2.0, ca_bundle: str | None = None, pid: int | None = None) -> bool:
    """True when a moto server answers its management API at `endpoint` (and, given `pid`, it is that process).

    With `pid`, only the local AWS started as that process counts: two callers can pick the same free port, and the
    one whose server then fails to bind it must not take the other's server for its own (two test workers would
    then share one AWS, and each would see the other's resources).

    /moto-api/config, not /moto-api/data.json: data.json serialises every model and answers 500 as soon as a
    Lambda function exists (the model's docker client property raises without Docker), which made a running
    server look dead and `start` launch a second one.
    """
    context = None
    if endpoint.startswith("https:"):
        if ca_bundle and not Path(ca_bundle).is_file():
            return False  # the server has not written its certificate yet
        context = ssl.create_default_context(cafile=ca_bundle)
    try:
        with urllib.request.urlopen(f"{endpoint}/moto-api/config", timeout=timeout, context=context) as response:
            ours = pid is None or response.headers.get(PID_HEADER) == str(pid)
            return response.status in (200, 201) and ours
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
    server = Server(
        pid=int(data["pid"]), port=int(data["port"]), scheme=data.get("scheme", "http"), ca_bundle=data.get("ca_bundle")
    )
    if _alive(server.pid) and healthy(server.endpoint, ca_bundle=server.ca_bundle, pid=server.pid):
        return server
    return None


def _server_command(
    port: int, state_dir: Path, tls: bool, duplicate_s3_events: bool, lambda_service: bool
) -> list[str]:
    command = [sys.executable, "-m", "tools.emulator.aws.server", "--port", str(port), "--state-dir", str(state_dir)]
    if tls:
        command.append("--tls")
    if duplicate_s3_events:
        command.append("--duplicate-s3-events")
    if not lambda_service:
        command.append("--no-lambda-service")
    return command


def start(
    state_dir: Path = DEFAULT_STATE_DIR,
    *,
    tls: bool = False,
    duplicate_s3_events: bool = False,
    lambda_service: bool = True,
    env: dict[str, str] | None = None,
) -> Server:
    """Start the local AWS (or reuse the running one) and wait until it answers.

    `lambda_service=False` journals S3 events and Invoke calls but runs nothing (for a caller that runs attempts
    itself, like the bench); `env` adds variables for the server and its Lambda service (LOCAL_* settings).
    """
    existing = running(state_dir)
    if existing:
        return existing
    state_dir = state_dir.resolve()
    state_dir.mkdir(parents=True, exist_ok=True)
    for _attempt in range(3):  # the port can be taken between choosing and binding it
        port = _free_port()
        log = (state_dir / "moto.log").open("ab")
        process = subprocess.Popen(
            _server_command(port, state_dir, tls, duplicate_s3_events, lambda_service),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
            start_new_session=True,  # not killed by a Ctrl-C aimed at the caller
        )
        log.close()
        ca_bundle = str(state_dir / "tls" / "cert.pem") if tls else None
        server = Server(pid=process.pid, port=port, scheme="https" if tls else "http", ca_bundle=ca_bundle)
        deadline = time.monotonic() + START_TIMEOUT_S
        recorded = False
        try:
            while time.monotonic() < deadline and process.poll() is None:
                if healthy(server.endpoint, timeout=0.5, ca_bundle=ca_bundle, pid=process.pid):
                    record = {"pid": server.pid, "port": server.port, "scheme": server.scheme, "ca_bundle": ca_bundle}
                    write_atomic(_server_file(state_dir), json.dumps(record), durable=False)
                    recorded = True
                    return server
                time.sleep(0.1)
        finally:
            if not recorded and process.poll() is None:
                process.terminate()  # never leave a server behind that nobody recorded
    raise RuntimeError(f"the local AWS did not start; see {state_dir / 'moto.log'}")


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
    deadline = time.monotonic() + 30  # the Lambda service first stops its function processes
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
    parser.add_argument("--tls", action="store_true", help="serve HTTPS (self-signed; clients use AWS_CA_BUNDLE)")
    args = parser.parse_args(argv)
    if args.command == "up":
        server = start(args.state_dir, tls=args.tls)
        print(f"local AWS up at {server.endpoint} (pid {server.pid}, log {args.state_dir / 'moto.log'})")
        print(
            "any AWS client works against it, e.g.:\n  export "
            + " ".join(f"{k}={v}" for k, v in server.client_env().items())
        )
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
