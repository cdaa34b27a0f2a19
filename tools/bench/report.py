"""The benchmark table: one row per claim, medians and ratios, PASS/MISS per target, and the machine facts."""

from __future__ import annotations

import os
import platform
import statistics
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass
class Row:
    """One measured claim. ``passed`` is None when the row only informs (no target)."""

    case: str
    measure: str
    ours: str
    baseline: str
    ratio: str
    target: str = "-"
    passed: bool | None = None

    @property
    def result(self) -> str:
        return "-" if self.passed is None else ("PASS" if self.passed else "MISS")


@dataclass
class Report:
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, row: Row) -> Row:
        self.rows.append(row)
        return row

    def note(self, text: str) -> None:
        self.notes.append(text)


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def spread(values: Sequence[float], unit: str = "s", digits: int = 2) -> str:
    """``median (min-max, n runs)``: enough to see how noisy a measurement was."""
    if len(values) == 1:
        return f"{values[0]:.{digits}f} {unit} (1 run)"
    return f"{median(values):.{digits}f} {unit} ({min(values):.{digits}f}-{max(values):.{digits}f}, {len(values)} runs)"


def rate(count: int, seconds: float) -> str:
    per_s = count / seconds if seconds > 0 else float("inf")
    if per_s >= 10_000:
        return f"{per_s / 1000:,.0f} k rec/s"
    return f"{per_s:,.0f} rec/s"


def machine_facts() -> list[str]:
    """Python version, CPU count, platform and load: what the absolute numbers depend on."""
    load = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
    return [
        f"Python {platform.python_version()} ({platform.python_implementation()}) on {platform.system()} "
        f"{platform.release()} {platform.machine()}",
        f"{os.cpu_count()} CPUs; load average at the end {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f} "
        "(1/5/15 min; other processes share the machine, so absolute numbers are noisy, ratios less so)",
        f"interpreter {sys.executable}",
    ]


def render(report: Report, *, title: str, command: str, facts: Sequence[str], elapsed_s: float) -> str:
    """The table as Markdown (readable as plain text too)."""
    header = ("case", "measure", "ours", "baseline", "ratio", "target", "result")
    cells = [header] + [(r.case, r.measure, r.ours, r.baseline, r.ratio, r.target, r.result) for r in report.rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]

    def line(values: Sequence[str]) -> str:
        return "| " + " | ".join(v.ljust(w) for v, w in zip(values, widths, strict=True)) + " |"

    out = [f"# {title}", "", f"Command: `{command}` (total {elapsed_s:.0f} s)", ""]
    out += [f"- {fact}" for fact in facts]
    out += ["", line(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    out += [line(row) for row in cells[1:]]
    passed = sum(1 for r in report.rows if r.passed)
    targets = sum(1 for r in report.rows if r.passed is not None)
    out += ["", f"Targets met: {passed}/{targets}."]
    if report.notes:
        out += ["", "Notes:", ""] + [f"- {text}" for text in report.notes]
    return "\n".join(out) + "\n"
