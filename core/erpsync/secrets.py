"""Secrets: given by reference in the config, resolved once, never written anywhere.

A plugin's settings model declares a secret field as :data:`Secret`. The operator writes a
reference, never the value::

    private_key = { env = "ACME_ERP_KEY" }
    password = { file = "/run/credentials/erpsync.service/acme-wms" }

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

import ahocorasick
from pydantic import BeforeValidator, SecretStr

__all__ = ["RedactingFilter", "Secret", "redact", "register_secret", "resolve_secret"]

_MASK = "***"
_lock = threading.Lock()
_known: set[str] = set()
_MIN_LENGTH = 4  # shorter values would mask ordinary words; no real credential is that short
_matcher: ahocorasick.Automaton | None = None
"""Every known secret in one Aho-Corasick automaton: a text is searched once for all of them
(a service with 1,000 goods owners knows thousands of secrets, and its status page redacts
every value it shows). Rebuilt, then swapped in, after a secret is added."""


def register_secret(value: str) -> None:
    """Make ``redact`` mask ``value`` from now on (values shorter than 4 characters excepted)."""
    global _matcher
    if len(value) >= _MIN_LENGTH:
        with _lock:
            if value not in _known:
                _known.add(value)
                _matcher = None


def _built() -> ahocorasick.Automaton:
    global _matcher
    with _lock:
        if _matcher is None:
            automaton = ahocorasick.Automaton()
            for value in _known:
                automaton.add_word(value, len(value))
            automaton.make_automaton()
            _matcher = automaton
        return _matcher


def redact(text: str) -> str:
    """``text`` with every registered secret replaced by ``***`` (leftmost, longest first)."""
    if not _known or len(text) < _MIN_LENGTH:
        return text
    matcher = _matcher if _matcher is not None else _built()
    pieces: list[str] = []
    start = 0
    for end, length in matcher.iter_long(text):
        pieces += (text[start:end + 1 - length], _MASK)
        start = end + 1
    if not pieces:
        return text
    pieces.append(text[start:])
    return "".join(pieces)


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
