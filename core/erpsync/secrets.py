"""Secrets: given by reference in the config, resolved once, never written anywhere.

A plugin's settings model declares a secret field as :data:`Secret`. The operator writes a
reference, never the value::

    private_key = { env = "ACME_ERP_KEY" }
    password = { file = "/run/credentials/erpsync/acme-wms" }

Resolving a reference registers the value with :func:`redact`, which every log handler (through
:class:`RedactingFilter`) and every :class:`erpsync.errors.ErpsyncError` message pass through,
so a secret that slips into a URL, a vendor's error text or a traceback is shown as ``***``.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import Annotated, Any

from pydantic import BeforeValidator, SecretStr

__all__ = ["RedactingFilter", "Secret", "redact", "register_secret", "resolve_secret"]

_MASK = "***"
_lock = threading.Lock()
_known: set[str] = set()
_MIN_LENGTH = 4  # shorter values would mask ordinary words; no real credential is that short


def register_secret(value: str) -> None:
    """Make ``redact`` mask ``value`` from now on (values shorter than 4 characters excepted)."""
    if len(value) >= _MIN_LENGTH:
        with _lock:
            _known.add(value)


def redact(text: str) -> str:
    """``text`` with every registered secret replaced by ``***`` (longest first)."""
    if not _known:
        return text
    with _lock:
        known = sorted(_known, key=len, reverse=True)
    for value in known:
        if value in text:
            text = text.replace(value, _MASK)
    return text


class RedactingFilter(logging.Filter):
    """A logging filter that masks registered secrets in the formatted message."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        return True


def resolve_secret(reference: object) -> SecretStr:
    """Resolve ``{env = NAME}`` or ``{file = PATH}`` to its value; refuse an inline value."""
    if isinstance(reference, SecretStr):
        register_secret(reference.get_secret_value())
        return reference
    if isinstance(reference, str):
        raise ValueError(
            'secrets are given by reference, not inline: write { env = "VARIABLE" } '
            'or { file = "/path/to/file" }'
        )
    if not isinstance(reference, dict) or len(reference) != 1:
        raise ValueError('give exactly one of { env = "VARIABLE" } or { file = "/path" }')
    ((kind, where),) = reference.items()
    if kind == "env":
        value = os.environ.get(str(where))
        if value is None:
            raise ValueError(f"environment variable {where} is not set")
    elif kind == "file":
        path = Path(str(where)).expanduser()
        try:
            value = path.read_text(encoding="utf-8").strip()
        except OSError as error:
            raise ValueError(f"cannot read secret file {path}: {error.strerror}") from None
    else:
        raise ValueError(f"unknown secret reference {kind!r}: use env or file")
    if not value:
        raise ValueError(f"the secret in {kind} {where} is empty")
    register_secret(value)
    return SecretStr(value)


def _validate(value: Any) -> SecretStr:
    return resolve_secret(value)


Secret = Annotated[SecretStr, BeforeValidator(_validate)]
"""A settings field holding a secret given by reference (env or file)."""
