"""Structured logging: one JSON object per line on stdout, with the invocation's context on every line.

CloudWatch Logs Insights can then filter on any field (``key``, ``status``, ``records_rejected``...). The EMF
metric documents are printed separately by :mod:`shipment_processor.metrics`.
"""

from __future__ import annotations

import json
import logging
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

LOGGER_NAME = "shipment_processor"
_context: ContextVar[dict[str, Any]] = ContextVar("shipment_processor_log_context", default={})  # noqa: B039


class JsonFormatter(logging.Formatter):
    """Formats a record as JSON: timestamp, level, message, the bound context and the record's ``fields``."""

    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, Any] = {
            "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        document.update(_context.get())
        document.update(getattr(record, "fields", {}))
        if record.exc_info:
            document["exception"] = self.formatException(record.exc_info)
        return json.dumps(document, default=str, ensure_ascii=False)


class _StdoutHandler(logging.Handler):
    """Writes to whatever ``sys.stdout`` is at emit time (Lambda captures it; so do tests)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stdout.write(self.format(record) + "\n")
        except Exception:  # logging must never break processing
            self.handleError(record)


def configure(level: str) -> logging.Logger:
    """Set up the package logger once (idempotent) at ``level``; it does not propagate to the runtime's root."""
    logger = logging.getLogger(LOGGER_NAME)
    logger.setLevel(level)
    logger.propagate = False
    if not any(isinstance(handler, _StdoutHandler) for handler in logger.handlers):
        handler = _StdoutHandler()
        handler.setFormatter(JsonFormatter())
        logger.addHandler(handler)
    return logger


def bind(**fields: Any) -> None:
    """Attach fields (e.g. the request id) to every following log line of this invocation."""
    _context.set({**fields})


def log(level: int, message: str, **fields: Any) -> None:
    """Log ``message`` with structured ``fields``."""
    logging.getLogger(LOGGER_NAME).log(level, message, extra={"fields": fields})


def log_exception(message: str, **fields: Any) -> None:
    """Log an error with the current exception's traceback."""
    logging.getLogger(LOGGER_NAME).error(message, exc_info=True, extra={"fields": fields})
