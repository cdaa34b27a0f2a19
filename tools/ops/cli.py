"""``shipment-ops``: the operator's command line, for a real account or the local AWS.

    shipment-ops --env prod --region eu-west-1 files --outcome FAILED --since 24h
    shipment-ops --outputs prod-outputs.json file incoming/acme/day.csv
    shipment-ops --local shipment ACME-15781918
    shipment-ops --env prod replay --dry-run
    shipment-ops --env prod reprocess incoming/acme/day.csv --version 3HL4kqtJ...
    shipment-ops --env prod --name-prefix parcels reprocess incoming/acme/stuck.csv --restart
    shipment-ops --env prod alarms
    shipment-ops --local logs --since 30m --filter '"file processed"'
    shipment-ops --outputs prod-outputs.json --region eu-west-1 smoke
    shipment-ops --local profile check --shipper kraus-logistik sample.csv
    shipment-ops profile check --shipper kraus-logistik --profile-file kraus.json sample.csv

Every command takes ``--json`` for scripts. ``python -m tools.ops`` is the same program.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from tools.emulator import endpoint as local
from tools.ops import actions, profile_check, queries, render, smoke
from tools.ops.environment import Environment, resolve
from tools.ops.progress import Progress


def _emit(args: argparse.Namespace, data: Any, text: str) -> None:
    print(json.dumps(data, indent=2, default=str, ensure_ascii=False) if args.json else text)


def cmd_files(env: Environment, args: argparse.Namespace) -> int:
    now = dt.datetime.now(dt.UTC)
    found = queries.files(
        env,
        since=queries.moment(args.since, now),
        until=queries.moment(args.until, now) if args.until else now,
        shipper=args.shipper,
        outcome=args.outcome,
        limit=args.limit,
    )
    rows = [
        [
            i["filename"],
            i.get("upload_timestamp"),
            i.get("processing_status"),
            i.get("records_accepted", "-"),
            i.get("records_rejected", "-"),
            i.get("invocations", 1),
            render.seconds(i.get("processing_duration")),
        ]
        for i in found
    ]
    text = (
        render.table(
            ["file", "uploaded", "outcome", "accepted", "rejected", "invocations", "duration"], rows, right=(3, 4, 5, 6)
        )
        if rows
        else "no files in that window"
    )
    _emit(args, found, text)
    return 0


def cmd_file(env: Environment, args: argparse.Namespace) -> int:
    item = queries.file_item(env, args.key, args.version)
    if item is None:
        print(
            f"no metadata item for {args.key}" + (f" version {args.version}" if args.version else ""), file=sys.stderr
        )
        return 1
    report = queries.rejects(env, item, args.lines)
    data = {"item": item, "rejects": report, "versions": len(queries.versions(env, args.key))}
    lines = [
        f"{item['filename']}  (version {item.get('version_id')}, uploaded {item['upload_timestamp']})",
        f"  outcome      {item.get('processing_status')}"
        + (f": {item['error_message']}" if item.get("error_message") else ""),
        f"  records      {item.get('records_total', 0)} total, {item.get('records_accepted', 0)} accepted, "
        f"{item.get('records_rejected', 0)} rejected ({item.get('format', '?')}, {item.get('compression', '?')})",
        f"  invocations  {item.get('invocations', 1)} (attempt {item.get('attempt', 1)}"
        + (f", {item['interrupted_invocations']} interrupted" if item.get("interrupted_invocations") else "")
        + ")",
        f"  duration     {render.seconds(item.get('processing_duration'))}, "
        f"processed at {item.get('processed_at', '-')}",
    ]
    if item.get("profile"):
        lines.append(f"  profile      {item['profile']} {item.get('profile_version', '')}")
    if item.get("last_interruption"):
        lines.append(f"  interrupted  {item['last_interruption']}")
    for sample in item.get("error_samples") or []:
        lines.append(f"  sample       {sample}")
    if report:
        lines.append(
            f"  rejects      {report['address']}"
            + (f" (version {report['version_id']})" if report["version_id"] else "")
        )
        lines += [f"               {json.dumps(line, ensure_ascii=False)[:160]}" for line in report["first"]]
    for earlier in item.get("previous_attempts") or []:
        lines.append(
            f"  attempt {earlier.get('attempt')}    {earlier.get('processing_status')} "
            f"{earlier.get('records_accepted', 0)} accepted, {earlier.get('records_rejected', 0)} rejected"
        )
    _emit(args, data, "\n".join(lines))
    return 0


def cmd_shipment(env: Environment, args: argparse.Namespace) -> int:
    history = queries.shipment(env, args.shipment_id, args.limit)
    rows = [[e.get("timestamp"), e.get("status"), e.get("location", ""), e.get("source_file"), e.get("record_ref")]
            for e in history]  # fmt: skip
    text = render.table(["at (UTC)", "status", "location", "from file", "record"], rows) if rows else "no updates"
    _emit(args, history, text)
    return 0 if history else 1


def cmd_replay(env: Environment, args: argparse.Namespace) -> int:
    progress = Progress(0, "replaying" if not args.dry_run else "looking at")
    started: dict[str, bool] = {}

    def show(name: str, outcome: str | None) -> None:
        if outcome is None:
            progress.total += 1
            started[name] = True
            progress.start(name)
        else:
            progress.finish(name, outcome)

    results = actions.replay(env, dry_run=args.dry_run, limit=args.limit, progress=show)
    progress.close()
    rows = [[r.message_id[:12], r.condition, ", ".join(r.keys), r.outcome] for r in results]
    text = render.table(["message", "condition", "files", "outcome"], rows) if rows else "the failure queue is empty"
    _emit(args, [r.as_dict() for r in results], text)
    return 1 if any(r.outcome == "failed" for r in results) else 0


def cmd_reprocess(env: Environment, args: argparse.Namespace) -> int:
    item = queries.file_item(env, args.key, args.version)
    if item is None:
        print(f"no metadata item for {args.key}", file=sys.stderr)
        return 1
    succeeded, response = actions.reprocess(env, item, wait=not args.no_wait, restart=args.restart)
    text = (
        json.dumps(response, indent=2, default=str)
        if not succeeded
        else "\n".join(
            f"{f['key']}: {f['status']} (attempt {f.get('attempt')}), {f.get('records_accepted', 0)} accepted, "
            f"{f.get('records_rejected', 0)} rejected"
            for f in (response or {}).get("files", [])
        )
        or json.dumps(response)
    )
    _emit(args, {"succeeded": succeeded, "response": response}, text)
    return 0 if succeeded else 1


def cmd_alarms(env: Environment, args: argparse.Namespace) -> int:
    found = queries.alarms(env)
    rows = [[a["name"], a["state"], "no data" if a["value"] is None else f"{a['value']:g}", a["threshold"]]
            for a in found]  # fmt: skip
    text = render.table(["alarm", "state", "value", "threshold"], rows) if rows else "no alarms found"
    _emit(args, found, text)
    return 1 if any(a["state"] == "ALARM" for a in found) else 0


def cmd_logs(env: Environment, args: argparse.Namespace) -> int:
    lines = queries.logs(env, since=queries.moment(args.since, dt.datetime.now(dt.UTC)), pattern=args.filter,
                         limit=args.limit)  # fmt: skip
    text = "\n".join(
        f"{dt.datetime.fromtimestamp(line['timestamp'] / 1000, dt.UTC):%H:%M:%S} {line['message']}" for line in lines
    )
    _emit(args, lines, text or "no log lines in that window")
    return 0


def cmd_smoke(env: Environment, args: argparse.Namespace) -> int:
    def say(check: smoke.Check) -> None:
        if not args.json:
            print(f"{check.word}  {check.name:<16} {check.detail}", flush=True)

    checks = smoke.Smoke(env, timeout_s=args.timeout, say=say).run()
    failed = [c.name for c in checks if c.passed is False]
    if args.json:
        print(json.dumps([c.as_dict() for c in checks], indent=2, default=str))
    else:
        print(f"smoke test {'FAILED: ' + ', '.join(failed) if failed else 'passed'} ({len(checks)} checks)")
    return 1 if failed else 0


def cmd_profile_check(env: Environment | None, args: argparse.Namespace) -> int:
    if args.profile_file is not None:
        profile = profile_check.profile_from_file(args.profile_file, args.shipper)
        source, limits = str(args.profile_file), profile_check.Limits()
        if env is not None:
            _, _, limits = profile_check.deployed_profile(env, args.shipper)
    elif env is None:
        raise ValueError("say which environment (--local, --outputs or --env), or give --profile-file")
    else:
        profile, source, limits = profile_check.deployed_profile(env, args.shipper)
    report = profile_check.check(args.file, args.shipper, profile, source, limits)
    _emit(args, report.as_dict(), report.text())
    return 0 if report.outcome == "SUCCESS" else 1


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog="shipment-ops",
        description="Operate a shipment-processing environment: a real account or the local AWS.",
        epilog="Examples: shipment-ops --env prod files --outcome FAILED; shipment-ops --local file KEY",
    )
    where = root.add_argument_group("which environment (exactly one)")
    where.add_argument("--local", action="store_true", help="the local AWS started by `make local-up` / `make demo`")
    where.add_argument("--outputs", type=Path, metavar="FILE", help="`terraform output -json` of the environment")
    where.add_argument("--env", metavar="NAME", help="an environment deployed with this repository's naming")
    root.add_argument(
        "--name-prefix",
        metavar="PREFIX",
        help="with --env: the deployment's name_prefix (found in the account when only one serves NAME)",
    )
    root.add_argument("--region", help="AWS region (default: AWS_REGION / AWS_DEFAULT_REGION)")
    root.add_argument("--profile", help="AWS named profile (default: the usual credential chain)")
    root.add_argument("--state-dir", type=Path, default=local.DEFAULT_STATE_DIR, help="local AWS state directory")
    commands = root.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        sub.add_argument("--json", action="store_true", help="print JSON for scripts instead of text")
        return sub

    files = command("files", "recent files, newest first, filtered by shipper, outcome and time window")
    files.add_argument("--shipper", help="only this shipper's files (the folder after incoming/)")
    files.add_argument("--outcome", choices=queries.OUTCOMES, help="only files with this outcome")
    files.add_argument("--since", default="24h", help="start of the window: 30m, 24h, 7d or an ISO time (24h)")
    files.add_argument("--until", help="end of the window: an ISO time or a duration ago (now)")
    files.add_argument("--limit", type=int, default=50, help="at most this many files (50)")
    files.set_defaults(func=cmd_files)

    file = command("file", "one file: counts, error samples, rejects report, invocations, duration")
    file.add_argument("key", help="the object key, e.g. incoming/acme/day.csv")
    file.add_argument("--version", help="the S3 version id (default: the newest upload of the key)")
    file.add_argument("--lines", type=int, default=5, help="rejects report lines to show (5)")
    file.set_defaults(func=cmd_file)

    ship = command("shipment", "a shipment's updates, newest first")
    ship.add_argument("shipment_id", help="the shipment id")
    ship.add_argument("--limit", type=int, default=50, help="at most this many updates (50)")
    ship.set_defaults(func=cmd_shipment)

    replay = command("replay", "redrive the failure queue: re-invoke each message's event, delete it when it works")
    replay.add_argument("--dry-run", action="store_true", help="list what would be replayed; change nothing")
    replay.add_argument("--limit", type=int, default=1000, help="at most this many messages (1000)")
    replay.set_defaults(func=cmd_replay)

    again = command(
        "reprocess",
        "a new, recorded attempt on a finished version (after a fix); a version stuck PROCESSING whose claim is "
        "stale is carried on from its checkpoint (--restart: started again as a new attempt)",
    )
    again.add_argument("key", help="the object key")
    again.add_argument("--version", help="the S3 version id (default: the newest upload of the key)")
    again.add_argument(
        "--restart",
        action="store_true",
        help="for a stuck version: abandon its attempt and start the version again (a recorded new attempt)",
    )
    again.add_argument("--no-wait", action="store_true", help="queue the attempt instead of waiting for it")
    again.set_defaults(func=cmd_reprocess)

    alarms = command("alarms", "each alarm's state and the value CloudWatch last evaluated")
    alarms.set_defaults(func=cmd_alarms)

    logs = command("logs", "recent log lines of the function")
    logs.add_argument("--since", default="15m", help="start: 30m, 2h or an ISO time (15m)")
    logs.add_argument("--filter", help="a CloudWatch Logs filter pattern, e.g. '\"file processed\"'")
    logs.add_argument("--limit", type=int, default=100, help="at most this many lines, the newest (100)")
    logs.set_defaults(func=cmd_logs)

    check = command(
        "smoke",
        "check a deployment end to end (right after `make apply`): upload a marked file under "
        "incoming/_smoke/, check what it became, delete it all again; a PASS/FAIL line per check",
    )
    check.add_argument("--timeout", type=float, default=300, help="seconds to wait for processing and metrics (300)")
    check.set_defaults(func=cmd_smoke)
    profile = commands.add_parser("profile", help="shipper profiles", description="shipper profiles")
    profile_commands = profile.add_subparsers(
        dest="profile_command", required=True, metavar="COMMAND", help="check: try a sample on a profile"
    )
    check_help = (
        "run a sample file through the real parse, map and validate pipeline with a shipper's profile; write "
        "nothing, print what would be stored and rejected"
    )
    check = profile_commands.add_parser("check", help=check_help, description=check_help)
    check.add_argument("--json", action="store_true", help="print JSON for scripts instead of text")
    check.add_argument("--shipper", required=True, help="the shipper (the folder after incoming/)")
    check.add_argument(
        "--profile-file",
        type=Path,
        metavar="F",
        help="a profile document (JSON) not yet deployed; without an environment the default limits apply",
    )
    check.add_argument("file", type=Path, help="the sample file, as the shipper would upload it")
    check.set_defaults(func=cmd_profile_check, env_optional=True)
    return root


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        if getattr(args, "env_optional", False) and not (args.local or args.outputs or args.env):
            return int(args.func(None, args))
        env = resolve(
            use_local=args.local,
            state_dir=args.state_dir,
            outputs_file=args.outputs,
            env_name=args.env,
            region=args.region,
            profile=args.profile,
            name_prefix=args.name_prefix,
        )
        return int(args.func(env, args))
    except (ValueError, local.NotRunningError, FileNotFoundError) as error:
        print(f"shipment-ops: {error}", file=sys.stderr)
        return 2
    except (ClientError, BotoCoreError) as error:
        print(f"shipment-ops: AWS said: {error}", file=sys.stderr)
        return 2
