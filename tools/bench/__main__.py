"""Command line of the benchmark: run the selected cases, print the table, write it to build/bench.md."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from tools.bench import cases, inputs
from tools.bench.report import Report, machine_facts, render

ROOT = cases.ROOT


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.bench", description=__doc__)
    parser.add_argument("--cases", default="1,2,3,4,5,6,7", help="comma-separated case numbers (default: all)")
    parser.add_argument("--quick", action="store_true", help="tiny inputs: a smoke run of every code path")
    parser.add_argument("--parse-records", type=int, help="records per format in case 1 (default 1,000,000)")
    parser.add_argument("--repeats", type=int, help="most rounds of case 1, and runs of the batched writer in case 3")
    parser.add_argument("--e2e-records", type=int, help="records of case 4's files (default 300,000)")
    parser.add_argument("--e2e-files", help="case 4's files: csv, gzip or csv,gzip (the default)")
    parser.add_argument("--gzip-records", type=int, help="records of case 6's CSV and gzip (default 1,200,000)")
    parser.add_argument("--budget", type=float, help="seconds after which case 1 starts no new round (default 560)")
    parser.add_argument("--src", type=Path, default=ROOT / "lambda_src", help="the Lambda sources to measure")
    parser.add_argument("--work", type=Path, default=ROOT / "build" / "bench", help="inputs and scratch files")
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "bench.md", help="where the table goes")
    args = parser.parse_args(argv)

    sizes = cases.Sizes.quick() if args.quick else cases.Sizes()
    if args.parse_records:
        sizes.parse_records = args.parse_records
    if args.repeats:
        sizes.parse_repeats = sizes.store_repeats = args.repeats
    if args.budget:
        sizes.budget_s = args.budget
    if args.e2e_records:
        sizes.e2e_records = args.e2e_records
    if args.gzip_records:
        sizes.gzip_records = args.gzip_records
    if args.e2e_files:
        sizes.e2e_files = tuple(kind.strip() for kind in args.e2e_files.split(","))
        if not set(sizes.e2e_files) <= {"csv", "gzip"}:
            parser.error("--e2e-files takes csv, gzip or both, comma-separated")
    src = args.src.resolve()
    sys.path.insert(0, str(src))
    started = time.monotonic()

    def log(message: str) -> None:
        print(f"[bench {time.monotonic() - started:5.0f} s] {message}", file=sys.stderr, flush=True)

    ctx = cases.Context(src=src, work=args.work.resolve(), sizes=sizes, log=log, started=started)
    chosen = dict(cases.selected(args.cases))
    report = Report()
    try:
        ctx.log("preparing inputs (generated on the first run, reused afterwards)")
        inputs.prepare(
            ctx.inputs,
            [sizes.parse_records] * ("1" in chosen)
            + [sizes.store_source_records()] * ("3" in chosen)
            + [sizes.e2e_records] * ("4" in chosen)
            + [sizes.gzip_records] * ("6" in chosen),
            [sizes.memory_bytes] * ("2" in chosen),
        )
        if "4" in chosen:
            ctx.deploy_in_background()  # Terraform mostly waits on moto: overlap it with case 2, which only
            # claims peak memory; the timed cases (1, 3) start once the apply is done
        # 2 first (alongside the apply), 1 last (it fills the time left in the budget with more rounds)
        order = sorted(chosen, key=lambda name: {"2": "0", "1": "9"}.get(name, name))
        for name in order:
            if name != "2" and ctx.deployment is not None:
                ctx.deployment.result()
            began = time.monotonic()
            chosen[name](ctx, report)
            log(f"case {name} done in {time.monotonic() - began:.0f} s")
    finally:
        ctx.close()
    report.rows.sort(key=lambda row: row.case[0])

    command = (
        "make bench"
        if argv is None and not sys.argv[1:]
        else "python -m tools.bench " + " ".join(sys.argv[1:] if argv is None else argv)
    )
    facts = [*machine_facts(), f"sources measured: {src}"]
    table = render(
        report,
        title="Shipment processor benchmark",
        command=command,
        facts=facts,
        elapsed_s=time.monotonic() - started,
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(table)
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
