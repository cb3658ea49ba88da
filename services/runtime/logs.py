"""Structured JSON logs (structlog) with the request id and trace id bound per RPC."""

from __future__ import annotations

import logging
import sys

import structlog

__all__ = ["bind_request", "configure_logging", "get_logger"]


def configure_logging(service: str, level: str = "INFO") -> None:
    """JSON lines to stdout; every line carries the service name and the bound context."""
    logging.basicConfig(format="%(message)s", stream=sys.stdout, level=level.upper())
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(sys.stdout),
        cache_logger_on_first_use=True,
    )
    structlog.contextvars.bind_contextvars(service=service)


def bind_request(**values: str) -> None:
    """Bind request-scoped values (request_id, trace_id, method, peer) for this task's logs."""
    structlog.contextvars.bind_contextvars(**values)


def get_logger(name: str | None = None) -> structlog.stdlib.BoundLogger:
    return structlog.get_logger(name)  # type: ignore[no-any-return]
