"""`make bench`: the processor's speed and memory as ratios against stdlib and naive baselines, in one run.

    python -m tools.bench [--quick] [--cases 1,2,3,4,5,6] [--repeats N] [--budget S] [--parse-records N]
                          [--gzip-records N] [--src DIR]

Cases (issue 5): 1 parse+validate throughput vs the raw stdlib parse, 2 peak memory streaming 200 MiB vs reading
it whole, 3 the batched event writer vs a put_item loop on the local moto server, 4 a 100,000-record file through
the local Lambda runtime with the function's limits, 5 package size and handler import time vs boto3's, 6 (issue
23) a CSV and the gzip of it read across a chain of invocations at the default function's CPU budget, resumed at
seek points and from byte 0.

Inputs are generated from a fixed seed under `build/bench/inputs/` and reused by later runs (file names carry
every generation parameter). Case 2 runs first, alongside the Terraform apply case 4 needs; case 1 runs last and
repeats its rounds while the time budget allows. The table goes to stdout and to `build/bench.md`. The claims
are ratios measured in the same run on the same inputs; absolute numbers depend on the machine and its load.
`--src` measures another copy of the Lambda sources (before/after comparisons of a change).
"""
