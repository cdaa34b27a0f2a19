"""Small file helpers shared by the tools (the emulator's state files, the generated Terraform CLI config)."""

from __future__ import annotations

import os
import time
from pathlib import Path


def write_atomic(path: Path, text: str, durable: bool = True) -> None:
    """Replace `path` with `text` so that a concurrent reader sees the old content or the new, never a part.

    `durable` also fsyncs the new content before the rename (state that must survive a crash of the machine).
    """
    scratch = path.with_name(f".{path.name}.{os.getpid()}.{time.monotonic_ns()}.tmp")
    with scratch.open("w", encoding="utf-8") as handle:
        handle.write(text)
        if durable:
            handle.flush()
            os.fsync(handle.fileno())
    scratch.replace(path)
