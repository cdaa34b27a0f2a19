"""`make demo`: the whole system on a local AWS — deploy, push the sample files through, report what happened.

1. package the Lambda, start the local AWS (moto) and apply the root Terraform to it (skipped when unchanged);
2. upload every file of `examples/shipment-files/` under `incoming/<shipper>/...` (keys with spaces and `+`
   included) with plain S3 PutObject calls, all at once; the local AWS delivers each S3 event to the function,
   which runs them in parallel (up to its concurrency), each under its memory, timeout and CPU share;
3. print a report built from what the system stored: a row per file, the rejects reports, three shipments'
   latest status, the sums the failure-rate alarm reads and what its expression evaluates to, and the failure
   queue depth.

Running it again reprocesses nothing: files whose content is already processed are skipped. `make demo-down`
stops the local AWS and deletes build/local.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from tools.emulator import cli, local_aws, local_report
from tools.emulator.aws import clients
from tools.ops import render
from tools.samples import sample_data

DEFAULT_STATE_DIR = local_aws.DEFAULT_STATE_DIR


def sample_files(data_dir: Path) -> tuple[list[tuple[Path, str]], dict[str, Any]]:
    """(file, key) for every sample file in the manifest, and the manifest itself."""
    manifest = sample_data.load_manifest(data_dir)
    return [(data_dir / f["path"], f["key"]) for f in manifest["files"]], manifest


def expectation_problems(results: list[cli.UploadResult], manifest: dict[str, Any]) -> list[str]:
    """Files whose stored outcome or counts differ from what the record contract prescribes for them."""
    expected = {f["key"]: f["expected"] for f in manifest["files"]}
    problems = []
    for result in results:
        item = result.item or {}
        for name, value in expected.get(result.key, {}).items():
            if (name in item or name == "processing_status") and item.get(name) != value:
                problems.append(f"{result.key}: {name} is {item.get(name)!r}, expected {value!r}")
    return problems


def report(deployment: Any, results: list[cli.UploadResult], manifest: dict[str, Any]) -> list[str]:
    out = deployment.outputs
    endpoint = deployment.endpoint
    s3 = clients.aws_client("s3", endpoint)
    dynamodb = clients.aws_client("dynamodb", endpoint)
    lines = ["", f"== Files (s3://{out['bucket_name']}/, one row per uploaded object) ==", cli.files_table(results)]

    lines += ["", "== Rejects reports and failures =="]
    for result in results:
        item = result.item or {}
        if item.get("rejects_key"):
            count, first = local_report.rejects_lines(s3, out["bucket_name"], item["rejects_key"], limit=2)
            lines.append(f"s3://{out['bucket_name']}/{item['rejects_key']}  ({count} rejected records), first:")
            lines += [f"    {line[:150]}" for line in first]
        if item.get("processing_status") == "FAILED":
            lines.append(f"{result.key}: FAILED: {item.get('error_message')}")

    lines += ["", f"== Latest status of three shipments ({out['events_table_name']}, newest first, limit 1) =="]
    rows = []
    for shipment_id in manifest["featured_shipments"]:
        latest = local_report.latest_status(dynamodb, out["events_table_name"], shipment_id) or {}
        count = local_report.event_count(dynamodb, out["events_table_name"], shipment_id)
        rows.append(
            [
                shipment_id,
                latest.get("status", "-"),
                latest.get("timestamp", "-"),
                latest.get("location", ""),
                count,
                latest.get("source_file", ""),
            ]
        )
    lines.append(render.table(["shipment", "status", "at (UTC)", "location", "updates", "from file"], rows, right=(4,)))

    lines += ["", "== Failure-rate alarm: what it reads (CloudWatch, dimension Environment) =="]
    cloudwatch = clients.aws_client("cloudwatch", endpoint)
    evaluation = local_report.alarm(cloudwatch, out["failure_rate_alarm_name"])
    lines += local_report.describe_alarm(evaluation)
    local_report.wait_for_alarm(cloudwatch, out["failure_rate_alarm_name"], evaluation.state, timeout_s=20)
    lines.append(local_report.describe_alarm_state(cloudwatch, out["failure_rate_alarm_name"]))

    visible, in_flight = local_report.queue_depth(clients.aws_client("sqs", endpoint), out["failure_queue_url"])
    lines += [
        "",
        "== Failure queue ==",
        f"{out['failure_queue_url']}: {visible} message(s) visible, {in_flight} in flight",
    ]
    return lines


def cpu_line(results: list[cli.UploadResult], state_dir: Path) -> str:
    """Which CPU limit the function processes ran under (issue 9: say which one ran)."""
    modes = sorted({m for r in results for rec in r.records for m in rec.cpu_modes})
    service_mode = (
        (state_dir / "lambda" / "cpu-mode").read_text().strip()
        if (state_dir / "lambda" / "cpu-mode").is_file()
        else "?"
    )
    shares = sorted(
        {a.get("cpu_share") for r in results for rec in r.records for a in rec.attempts if a.get("cpu_share")}
    )
    explained = {
        "cgroup": "a CPU cgroup quota per function process",
        "charged": "no writable cgroup: CPU time / share charged against the timeout",
        "none": "no CPU limit",
    }
    mode = ", ".join(modes) if modes else service_mode
    share = ", ".join(f"{s:.3f}" for s in shares) if shares else "-"
    return f"CPU mode: {mode} ({explained.get(mode, 'this run processed nothing')}); share of one core: {share}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR)
    parser.add_argument("--data", type=Path, default=sample_data.DEFAULT_OUT)
    parser.add_argument("--workers", type=int, default=cli.DEFAULT_WORKERS)
    parser.add_argument(
        "--skip-lifecycle",
        action="store_true",
        help="leave the S3 lifecycle rules out of the local apply (faster on a loaded machine)",
    )
    args = parser.parse_args(argv)
    started = time.monotonic()

    print("== Deploy: package, local AWS, terraform apply of the root ==")
    deployment = cli.bring_up(args.state_dir, skip_lifecycle=args.skip_lifecycle)
    deployed_at = time.monotonic()

    files, manifest = sample_files(args.data)
    stale = sample_data.stale(args.data)
    if stale:
        print(f"warning: sample files differ from `python -m tools.samples.sample_data` output: {', '.join(stale)}")
    print(f"\n== Upload: {len(files)} files from {args.data} to s3://{deployment.outputs['bucket_name']}/incoming/ ==")
    uploader = cli.Uploader(deployment, args.state_dir)
    results = uploader.upload_many(files, workers=args.workers)
    uploaded_at = time.monotonic()

    print("\n".join(report(deployment, results, manifest)))
    problems = expectation_problems(results, manifest)
    processed = sum(r.action != "skipped" for r in results)
    function = deployment.outputs["function_name"]
    print(
        f"\n== Done in {time.monotonic() - started:.0f} s "
        f"(deploy {deployed_at - started:.0f} s, files {uploaded_at - deployed_at:.0f} s) =="
    )
    print(f"this run processed {processed} file(s) and skipped {len(results) - processed} already processed")
    print(
        f"logs: {args.state_dir / 'logs' / (function + '.log')} and CloudWatch Logs "
        f"{deployment.outputs['log_group_name']}\n"
        "more: .venv/bin/shipment-ops --local files | file KEY | shipment ID | alarms | logs; "
        ".venv/bin/python -m tools.emulator upload FILE"
    )
    print(cpu_line(results, args.state_dir))
    for problem in problems:
        print(f"warning: {problem}")
    return 1 if any(r.item is None for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
