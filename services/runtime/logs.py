"""Structured JSON logs (structlog) with the request id and trace id bound per RPC.

`configure_logging` is the one start-up step every service and worker process takes, so it also
sets up the process's tracing (`services.runtime.tracing`)."""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog

from services.runtime.tracing import TracingSettings, configure_tracing, load_tracing_settings

__all__ = ["bind_request", "configure_logging", "get_logger"]


class _Stdout:
    """Whatever `sys.stdout` is at the moment of writing. Loggers are cached on first use, and
    one holding the stream of that moment would keep writing to it after it was swapped (and
    perhaps closed), e.g. by pytest's output capture or `contextlib.redirect_stdout`."""

    def write(self, text: str) -> Any:
        return sys.stdout.write(text)

    def flush(self) -> None:
        sys.stdout.flush()


def configure_logging(
    service: str, level: str = "INFO", *, tracing: TracingSettings | None = None
) -> None:
    """JSON lines to stdout; every line carries the service name and the bound context. Also
    configures tracing for `service` (`tracing`, or settings read by `load_tracing_settings`)."""
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
        logger_factory=structlog.PrintLoggerFactory(_Stdout()),  # type: ignore[arg-type]
        cache_logger_on_first_use=True,
    )
    structlog.contextvars.bind_contextvars(service=service)
    configure_tracing(service, tracing if tracing is not None else load_tracing_settings())


def bind_request(**values: str) -> None:
    """Bind request-scoped values (request_id, trace_id, method, peer) for this task's logs."""
    structlog.contextvars.bind_contextvars(**values)


def get_logger(name: str | None = None) -> structlog.stdlib.BoundLogger:
    return structlog.get_logger(name)  # type: ignore[no-any-return]
