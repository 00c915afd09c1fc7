"""The errors erpsync raises and expects plugins to raise, caught by meaning.

A plugin maps every vendor failure onto one of the :class:`VendorError` kinds; the flows decide
what happens next by the kind alone:

- :class:`AuthenticationLost`: the credentials no longer work. The goods owner's connection
  stops at once with a status that says how to re-authorise; nothing is retried.
- :class:`RecordRejected`: the vendor refused this one record. It goes to the dead-letter list
  with the vendor's message and business key; the rest of the run goes on.
- :class:`TransientError`: the vendor is unavailable, slow or over its rate limit, even after
  the HTTP layer's bounded retries. The flow stops with its cursor where it was; the next run
  tries again. ``maybe_sent`` says whether the request may have reached the vendor.

Messages never contain secrets: :func:`erpsync.secrets.redact` is applied to every message.
"""

from __future__ import annotations

from dataclasses import dataclass

from erpsync.secrets import redact

__all__ = [
    "AuthenticationLost",
    "ConfigError",
    "ConfigProblem",
    "ErpsyncError",
    "PluginError",
    "RecordRejected",
    "ResponseInvalid",
    "StateError",
    "TransientError",
    "VendorError",
]


class ErpsyncError(Exception):
    """Base of every error erpsync raises on purpose."""

    def __init__(self, message: str) -> None:
        self.message = redact(message)
        super().__init__(self.message)


@dataclass(frozen=True)
class ConfigProblem:
    """One thing wrong with the operator's configuration."""

    where: str
    """File, goods owner and field: ``erpsync.toml: goods_owner 'acme': erp.settings.user``."""
    problem: str
    fix: str

    def __str__(self) -> str:
        return f"{self.where}: {self.problem} (fix: {self.fix})"


class ConfigError(ErpsyncError):
    """The configuration cannot be used; ``problems`` lists every reason, each with its fix."""

    def __init__(self, problems: list[ConfigProblem]) -> None:
        self.problems = problems
        super().__init__("; ".join(str(p) for p in problems))


class PluginError(ErpsyncError):
    """A plugin cannot be loaded or broke its contract (named in the message)."""


class StateError(ErpsyncError):
    """The durable state cannot be read or written: stop rather than sync blindly."""


class VendorError(ErpsyncError):
    """A call to an ERP or WMS failed. ``vendor_message`` is the vendor's own words."""

    def __init__(
        self, message: str, *, vendor_message: str | None = None, status: int | None = None
    ) -> None:
        self.vendor_message = redact(vendor_message) if vendor_message else None
        self.status = status
        super().__init__(message)


class AuthenticationLost(VendorError):
    """The credentials were refused; a person must re-authorise. ``action`` says how."""

    def __init__(
        self,
        message: str,
        *,
        action: str | None = None,
        vendor_message: str | None = None,
        status: int | None = None,
    ) -> None:
        self.action = action
        self.role: str | None = None
        """``"erp"`` or ``"wms"``: whose credentials were refused (set by the core)."""
        super().__init__(message, vendor_message=vendor_message, status=status)


class RecordRejected(VendorError):
    """The vendor refused one record; ``key`` is its business key when known."""

    def __init__(
        self,
        message: str,
        *,
        key: str | None = None,
        vendor_message: str | None = None,
        status: int | None = None,
    ) -> None:
        self.key = key
        super().__init__(message, vendor_message=vendor_message, status=status)


class TransientError(VendorError):
    """The vendor could not answer now; try again later. ``retry_after`` in seconds if known."""

    def __init__(
        self,
        message: str,
        *,
        maybe_sent: bool = False,
        retry_after: float | None = None,
        vendor_message: str | None = None,
        status: int | None = None,
    ) -> None:
        self.maybe_sent = maybe_sent
        self.retry_after = retry_after
        super().__init__(message, vendor_message=vendor_message, status=status)


class ResponseInvalid(TransientError):
    """The vendor's answer could not be read (malformed, truncated, too large)."""
