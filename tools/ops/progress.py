"""A small progress display on stderr for work that runs in parallel (file deliveries).

On a terminal it keeps one status line up to date (done/total, what is running); elsewhere (CI logs, pipes)
it prints one line per finished item, so logs stay readable.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import TextIO


class Progress:
    """Thread-safe progress for `total` named items: call `start(name)` and `finish(name, summary)`."""

    def __init__(self, total: int, label: str = "delivering", stream: TextIO | None = None) -> None:
        self.total = total
        self.label = label
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty()
        self._running: dict[str, float] = {}
        self._done = 0
        self._lock = threading.Lock()
        self._started = time.monotonic()

    def start(self, name: str) -> None:
        with self._lock:
            self._running[name] = time.monotonic()
            self._render()

    def finish(self, name: str, summary: str) -> None:
        with self._lock:
            began = self._running.pop(name, time.monotonic())
            self._done += 1
            line = f"[{self._done}/{self.total}] {name}: {summary} ({time.monotonic() - began:.1f} s)"
            if self.live:
                self.stream.write("\r\033[K" + line + "\n")
            else:
                self.stream.write(line + "\n")
            self._render()

    def close(self) -> None:
        with self._lock:
            if self.live:
                self.stream.write("\r\033[K")
            elapsed = time.monotonic() - self._started
            self.stream.write(f"{self.label}: {self._done}/{self.total} done in {elapsed:.1f} s\n")
            self.stream.flush()

    def _render(self) -> None:
        if self.live:
            running = ", ".join(self._running) or "-"
            status = f"{self.label} {self._done}/{self.total} | running: {running}"
            self.stream.write("\r\033[K" + status[:160])
        self.stream.flush()
