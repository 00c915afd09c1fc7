"""Logging: which goods owner, flow and run a line belongs to, as text or as JSON lines.

The runner and the flows say where they are with :func:`context`; every log line written
inside (by the core, by a plugin, by the HTTP client, in tasks started there) carries
``goods_owner``, ``flow`` and ``run_id``. :func:`setup` sends the lines to stderr, human
readable by default (``... erpsync.flows [acme articles 3f2a...]: ...``) or, for a log
collector, one JSON object per line (python-json-logger) with those three keys. Either way
every line passes :class:`~erpsync.secrets.RedactingFilter` first.
"""

from __future__ import annotations

import contextvars
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal

from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter

from erpsync.secrets import RedactingFilter, redact

__all__ = ["LogFormat", "context", "current", "setup"]

LogFormat = Literal["text", "json"]

_FIELDS = ("goods_owner", "flow", "run_id")
_where: contextvars.ContextVar[tuple[tuple[str, str], ...]] = contextvars.ContextVar(
    "erpsync_log_context", default=())


@contextmanager
def context(**fields: str) -> Iterator[None]:
    """Log lines written inside the block (and in tasks it starts) carry ``fields`` (any of
    goods_owner, flow, run_id), on top of the enclosing block's."""
    unknown = set(fields) - set(_FIELDS)
    if unknown:
        raise ValueError(f"unknown log context field(s): {', '.join(sorted(unknown))}")
    token = _where.set(tuple({**dict(_where.get()), **fields}.items()))
    try:
        yield
    finally:
        _where.reset(token)


def current() -> dict[str, str]:
    """The fields of the innermost :func:`context` block."""
    return dict(_where.get())


class _ContextFilter(logging.Filter):
    """Puts the context's fields on every record (empty strings outside a block)."""

    def filter(self, record: logging.LogRecord) -> bool:
        where = dict(_where.get())
        for field in _FIELDS:
            setattr(record, field, where.get(field, ""))
        record.where = (" [" + " ".join(where[f] for f in _FIELDS if f in where) + "]"
                        if where else "")
        return True


class _Json(JsonFormatter):
    def formatException(self, ei: object) -> str:
        """The traceback masked too: this formatter formats it anew, not from exc_text."""
        return redact(super().formatException(ei))  # type: ignore[arg-type]


_TEXT = "%(asctime)s %(levelname)s %(name)s%(where)s: %(message)s"
_JSON = ["asctime", "levelname", "name", "message", *_FIELDS]


def setup(level: int, fmt: LogFormat = "text") -> None:
    """Log erpsync's lines at ``level`` (everything else at WARNING) to stderr as ``fmt``."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RedactingFilter())
    handler.addFilter(_ContextFilter())
    if fmt == "json":
        handler.setFormatter(_Json(
            _JSON, rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            datefmt="%Y-%m-%dT%H:%M:%S%z", reserved_attrs=[*RESERVED_ATTRS, "where"]))
    else:
        handler.setFormatter(logging.Formatter(_TEXT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    logging.getLogger("erpsync").setLevel(level)
