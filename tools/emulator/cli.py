"""Command line for the local system: deploy it, upload shipment files through it, see what it did.

    python -m tools.emulator up                      package + local AWS + terraform apply (idempotent)
    python -m tools.emulator upload FILE... [--shipper NAME] [--key KEY] [--force] [--workers N]
    python -m tools.emulator redeliver KEY [--version-id ID]     deliver an object's event again (a duplicate)
    python -m tools.emulator down [--purge]          stop the local AWS (--purge: also delete build/local)

`upload` only uploads: a plain PutObject of each file under `incoming/<shipper>/<file name>` (or KEY), several
files in parallel with a progress display on stderr, exactly as any other S3 client would. The local AWS delivers
the S3 event to the function as S3 does (`tools.emulator.aws.server`); `upload` then waits, through the invocation
journal (`tools.emulator.aws.lambda_.journal`), until every invocation the new object version caused (continuations the
function invoked itself included) has finished, and reports the version's metadata item. A file whose content is
already in the bucket with a finished metadata item is skipped (nothing is reprocessed); `--force` uploads it
again as a new object version. `redeliver` journals the object's event once more (a duplicate delivery, which S3's
at-least-once delivery may also make).

What the system did is the operator CLI's to show, the same way on the local AWS as on a real account:
`shipment-ops --local files | file KEY | shipment ID | alarms | logs | replay | reprocess` (``tools.ops``).
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import shutil
import sys
import time
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from tools.emulator import local_aws, local_deploy, local_report
from tools.emulator.aws import clients, trace
from tools.emulator.aws.lambda_ import journal, local_lambda
from tools.ops import render
from tools.ops.progress import Progress
from tools.packager import lambda_zip
from tools.samples import sample_data

DEFAULT_STATE_DIR = local_aws.DEFAULT_STATE_DIR
DEFAULT_WORKERS = 8  # uploads in flight at once; the function runs as many as its concurrency allows
DEFAULT_SHIPPER = "local-shipper"


@dataclasses.dataclass
class UploadResult:
    """One file's trip: what was done this time and what the metadata table says about its version."""

    key: str
    action: str  # processed | skipped | redelivered | waited
    version_id: str | None
    records: list[journal.Record]
    item: dict[str, Any] | None

    @property
    def attempts(self) -> int:
        return sum(len(r.attempts) for r in self.records)

    @property
    def peak_rss_mb(self) -> float | None:
        peaks = [r.peak_rss_mb for r in self.records if r.attempts]
        return max(peaks) if peaks else None

    @property
    def failed(self) -> bool:
        return any(r.status in {"failed", "stopped"} for r in self.records)

    def summary(self) -> str:
        if self.item is None:
            return "failed every attempt: sent to the failure queue" if self.failed else "no metadata item"
        text = (
            f"{self.item.get('processing_status')} {self.item.get('records_accepted', 0)} accepted, "
            f"{self.item.get('records_rejected', 0)} rejected"
        )
        if self.action == "skipped":
            return text + " (already processed: skipped)"
        peak = self.peak_rss_mb
        return text + f", {self.attempts} attempt(s)" + (f", peak {peak:.0f} MB" if peak else "")


def default_key(path: Path, shipper: str | None) -> str:
    """incoming/<shipper>/<file name>; the shipper defaults to the folder under examples/shipment-files, if any."""
    if shipper is None:
        try:
            shipper = path.resolve().relative_to(sample_data.DEFAULT_OUT).parts[0]
        except ValueError:
            shipper = DEFAULT_SHIPPER
        if shipper == path.name:
            shipper = DEFAULT_SHIPPER
    return f"incoming/{shipper}/{path.name}"


class Uploader:
    """Uploads files to the deployed bucket with plain S3 calls and waits for what the system made of them."""

    def __init__(self, deployment: local_deploy.Deployment, state_dir: Path, timeout_s: float = 600.0) -> None:
        self.outputs = deployment.outputs
        self.journal = journal.Journal(state_dir)
        self.timeout_s = timeout_s
        self.s3 = clients.aws_client("s3", deployment.endpoint)
        self.dynamodb = clients.aws_client("dynamodb", deployment.endpoint)

    @property
    def bucket(self) -> str:
        return str(self.outputs["bucket_name"])

    def metadata(self, key: str, version_id: str | None) -> dict[str, Any] | None:
        return local_report.metadata_for_version(self.dynamodb, self.outputs["metadata_table_name"], key, version_id)

    def outcome(self, key: str, version_id: str | None, action: str) -> UploadResult:
        """Wait for the version's invocations (and the chains they started) to finish; read its metadata item."""
        records = self.journal.wait_for_object(self.bucket, key, version_id, timeout_s=self.timeout_s)
        return UploadResult(key, action, version_id, records, self.metadata(key, version_id))

    def upload(self, path: Path, key: str, force: bool = False) -> UploadResult:
        """Upload one file (unless this content is already there and processed) and wait for its outcome."""
        body = path.read_bytes()
        if not force:
            existing = self._same_content(key, body)
            if existing is not None:
                version_id = existing or None
                item = self.metadata(key, version_id)
                if item is not None and item.get("processing_status") in local_report.FINAL_STATUSES:
                    return UploadResult(key, "skipped", version_id, [], item)
                result = self.outcome(key, version_id, "waited")  # uploaded before: its delivery may still run
                if result.item is None and not result.records:
                    return self.redeliver(key, version_id)
                return result
        response = self.s3.put_object(Bucket=self.bucket, Key=key, Body=body)
        return self.outcome(key, response.get("VersionId"), "processed")

    def redeliver(self, key: str, version_id: str | None = None) -> UploadResult:
        """Deliver the event of an object version again, as S3's at-least-once delivery sometimes does."""
        if version_id is None:
            version_id = self.s3.head_object(Bucket=self.bucket, Key=key).get("VersionId")
        delivered = self.journal.for_object(self.bucket, key, version_id)
        if not delivered:
            raise LookupError(f"no S3 event was ever delivered for s3://{self.bucket}/{key} ({version_id})")
        first = delivered[0].data
        header = trace.TraceHeader().for_invocation(first["function_arn"])
        record = self.journal.accept(
            {
                "request_id": str(uuid.uuid4()),
                "function_name": first["function_name"],
                "function_arn": first["function_arn"],
                "invocation_type": "Event",
                "trace": header.journal(first["function_arn"]),
                "cause": {**first["cause"], "duplicate": True},
                "event": first["event"],
            }
        )
        deadline = time.monotonic() + self.timeout_s
        while True:
            chain = self.journal.chain(record.trace_root)
            if chain and all(r.finished for r in chain):
                return UploadResult(key, "redelivered", version_id, chain, self.metadata(key, version_id))
            if time.monotonic() > deadline:
                raise TimeoutError(f"redelivery {record.request_id} still running after {self.timeout_s:.0f} s")
            time.sleep(0.05)

    def _same_content(self, key: str, body: bytes) -> str | None:
        """The version id ("" when unversioned) of the current object if it has exactly this content."""
        try:
            head = self.s3.head_object(Bucket=self.bucket, Key=key)
        except ClientError as error:
            if error.response["Error"]["Code"] in {"404", "NoSuchKey", "NotFound"}:
                return None
            raise
        if head["ETag"].strip('"') != hashlib.md5(body, usedforsecurity=False).hexdigest():
            return None
        return head.get("VersionId") or ""

    def upload_many(
        self,
        files: Sequence[tuple[Path, str]],
        workers: int = DEFAULT_WORKERS,
        force: bool = False,
        progress: Progress | None = None,
    ) -> list[UploadResult]:
        """Upload several files in parallel (as several shippers would), in the order given."""
        progress = progress or Progress(len(files), "uploading and processing")

        def one(path: Path, key: str) -> UploadResult:
            progress.start(key)
            result = self.upload(path, key, force)
            progress.finish(key, result.summary())
            return result

        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            futures = [pool.submit(one, path, key) for path, key in files]
            results = [f.result() for f in futures]
        progress.close()
        return results


def bring_up(state_dir: Path, force: bool = False, skip_lifecycle: bool = False) -> local_deploy.Deployment:
    """Package, start the local AWS (or reuse it) and apply the root to it (skipped when unchanged)."""
    built = lambda_zip.build()
    server = local_aws.start(state_dir)
    print(
        f"local AWS at {server.endpoint} (pid {server.pid}); package {built} "
        f"(CodeSha256 {local_lambda.code_sha256(built)})"
    )
    return local_deploy.deploy(server.endpoint, state_dir, package=built, force=force, skip_lifecycle=skip_lifecycle)


# ------------------------------------------------------------------------------------------------ commands


def cmd_up(args: argparse.Namespace) -> int:
    deployment = bring_up(args.state_dir, args.force, args.skip_lifecycle)
    for name in ("bucket_name", "function_name", "metadata_table_name", "events_table_name", "failure_queue_url"):
        print(f"  {name:<20} {deployment.outputs[name]}")
    server = local_aws.running(args.state_dir)
    settings = server.client_env() if server else {"AWS_ENDPOINT_URL": deployment.endpoint}
    print("any S3 client works against it (uploads under incoming/ are processed), e.g. the AWS CLI:")
    print("  export " + " ".join(f"{k}={v}" for k, v in settings.items()))
    print(f"  aws s3 cp day.csv s3://{deployment.outputs['bucket_name']}/incoming/<shipper>/day.csv")
    return 0


def cmd_upload(args: argparse.Namespace) -> int:
    if args.key and len(args.files) > 1:
        raise SystemExit("--key names one object: give a single FILE with it")
    deployment = local_deploy.load(args.state_dir)
    uploader = Uploader(deployment, args.state_dir)
    files = [(path, args.key or default_key(path, args.shipper)) for path in args.files]
    results = uploader.upload_many(files, workers=args.workers, force=args.force)
    print(files_table(results))
    return 0 if all(r.item is not None for r in results) else 1


def cmd_redeliver(args: argparse.Namespace) -> int:
    deployment = local_deploy.load(args.state_dir)
    uploader = Uploader(deployment, args.state_dir)
    result = uploader.redeliver(args.key, args.version_id)
    print(f"{result.key}: {result.summary()}")
    for record in result.records:
        for attempt in record.attempts:
            print(f"  {record.request_id} attempt {attempt['number']}: {attempt['outcome']}")
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    print("local AWS stopped" if local_aws.stop(args.state_dir) else "local AWS was not running")
    if args.purge and args.state_dir.exists():
        shutil.rmtree(args.state_dir)
        print(f"removed {args.state_dir}")
    return 0


# ------------------------------------------------------------------------------------------------- views


def files_table(results: Sequence[UploadResult]) -> str:
    rows = []
    for r in results:
        item = r.item or {}
        duration = item.get("processing_duration")
        rows.append(
            [
                r.key,
                item.get("processing_status", "NOT PROCESSED"),
                item.get("records_accepted", "-"),
                item.get("records_rejected", "-"),
                f"{duration / 1000:.2f} s" if isinstance(duration, int | float) else "-",
                r.attempts or "-",
                f"{r.peak_rss_mb:.0f} MB" if r.peak_rss_mb else "-",
                r.action,
            ]
        )
    return render.table(
        ["file", "outcome", "accepted", "rejected", "duration", "attempts", "peak RSS", "this run"],
        rows,
        right=(2, 3, 4, 5, 6),
    )


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="python -m tools.emulator", description=__doc__.splitlines()[0])
    root.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR)
    commands = root.add_subparsers(dest="command", required=True)

    up = commands.add_parser("up", help="package, start the local AWS and apply the Terraform (idempotent)")
    up.add_argument("--force", action="store_true", help="apply even if nothing changed")
    up.add_argument("--skip-lifecycle", action="store_true", help="leave out the slow-to-apply S3 lifecycle rules")
    up.set_defaults(func=cmd_up)

    upload = commands.add_parser("upload", help="upload files and deliver their events to the function")
    upload.add_argument("files", nargs="+", type=Path, metavar="FILE")
    upload.add_argument(
        "--shipper",
        help=f"path segment after incoming/ (default: the examples/shipment-files folder, else {DEFAULT_SHIPPER})",
    )
    upload.add_argument("--key", help="the whole object key (one FILE only)")
    upload.add_argument("--force", action="store_true", help="upload a new version even if already processed")
    upload.add_argument("--workers", type=int, default=DEFAULT_WORKERS, help="files delivered in parallel")
    upload.set_defaults(func=cmd_upload)

    redeliver = commands.add_parser("redeliver", help="deliver an existing object's event again (a duplicate)")
    redeliver.add_argument("key")
    redeliver.add_argument("--version-id")
    redeliver.set_defaults(func=cmd_redeliver)

    down = commands.add_parser("down", help="stop the local AWS")
    down.add_argument("--purge", action="store_true", help="also delete the state directory")
    down.set_defaults(func=cmd_down)
    return root


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return int(args.func(args))
    except (local_deploy.NotDeployedError, LookupError, TimeoutError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
