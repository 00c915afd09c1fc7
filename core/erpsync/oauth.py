"""OAuth 2.0 tokens for plugins: rotating refresh tokens, client credentials, consent URLs.

A plugin whose vendor speaks OAuth keeps its tokens in a
:class:`~erpsync.hookspecs.CredentialStore` (``ctx.credentials("oauth")``) and asks one of
these objects for an access token before each call::

    tokens = RotatingTokens(ctx.credentials("oauth"), endpoint, action="erpsync authorize acme")
    token = await tokens.access_token()           # refreshed under the store's lock if due
    ...                                           # the API answered 401 to ``token``:
    token = await tokens.after_unauthorized(token)

The stored dict holds ``access_token``, ``refresh_token`` (not for client credentials),
``expires_at`` (ISO-8601 with offset) and ``scope``. Token calls go through an
:class:`erpsync.http.HttpClient` made for the token endpoint's origin, so
:func:`erpsync.http.mount`, the body cap and TLS verification apply; a token call is made
once, never retried automatically (a retried single-use refresh token is refused).

Errors: a refusal of the grant or of the client (HTTP 400, 401 or 403, ``invalid_grant``,
``invalid_client`` ...; RFC 6749 §5.2, https://datatracker.ietf.org/doc/html/rfc6749#section-5.2)
raises :class:`~erpsync.errors.AuthenticationLost` with the vendor's error text and the
``action`` given (the command that re-authorises), so the goods owner stops at once with
"needs re-authorisation" instead of retrying a dead token; a network failure or a 5xx raises
:class:`~erpsync.errors.TransientError`. No message or log line holds a token or the client
secret.

Rotating refresh tokens and crashes
===================================

A vendor that rotates refresh tokens (RFC 9700 §4.14.2,
https://datatracker.ietf.org/doc/html/rfc9700#section-4.14.2) invalidates the old refresh
token the moment it answers a refresh with a new pair. Exactly one copy of the new pair then
exists: the answer's bytes in the memory of the process that asked. A refresh therefore runs,
under the store's lock (one refresher per credential across tasks, threads and processes):

1. take the lock, load the pair again: if another process refreshed meanwhile, use its pair
   and send nothing (two processes refreshing at once keep one chain);
2. save a marker ``refresh_sent_at`` (fsync'd): "a refresh may be in flight";
3. POST the refresh token (once, no retry);
4. on a 2xx answer, save the answer's raw text (``answer``) at once: between the last byte
   of the answer and this fsync'd save there is no parsing, no logging and no ``await`` in
   this module (the HTTP client's own debug line for the attempt is the only step between);
5. parse the answer and save the new pair, dropping ``answer`` and the marker;
6. only then return the new access token.

What a process killed (SIGKILL, power loss) at each step leaves behind:

- after 1 or 2, or after 3 before the vendor handled the request: the vendor did not rotate;
  the stored refresh token still works. The lock expires with its holder; the next run sees
  the marker and refreshes at once with the stored token, which succeeds.
- after 4 (the raw answer saved) or during 5: the next run finds ``answer`` and finishes step
  5 from it without calling the vendor. The store's save is one SQLite transaction: a kill
  during it leaves the state before or after it, each covered here.
- after 5: the new pair is stored; nothing is lost.
- **the one window no client can close**: the vendor rotated (step 3 reached it) and the
  process died before step 4's save was durable: while the answer was on the wire, or in
  this process's memory before the fsync returned. The only valid refresh token died with
  the process. Keeping this window as small as it can be is why step 4 saves the bytes
  before anything else is done with them. It is detected, never silent: the marker is still
  stored, so the next run refreshes at once (it does not go on with the old access token
  until it expires), the vendor answers ``invalid_grant``, and :class:`AuthenticationLost`
  says that the previous refresh was interrupted; the goods owner gets the status "needs
  re-authorisation" with the command to run (``erpsync authorize OWNER``).

A refresh answer that cannot be read (not JSON, no access token) is dropped with the
marker kept, and raises :class:`~erpsync.errors.ResponseInvalid`: the next run tries the
stored refresh token again, and the vendor's answer to that decides (a new pair, or
``invalid_grant`` and the re-authorisation status).
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, quote_plus, urlencode, urlsplit

import httpx

from erpsync.errors import AuthenticationLost, ResponseInvalid, TransientError, VendorError
from erpsync.hookspecs import CredentialStore
from erpsync.http import HttpClient, check_base_url
from erpsync.secrets import register_secret

__all__ = ["ClientCredentials", "RotatingTokens", "TokenEndpoint", "authorization_url"]

log = logging.getLogger("erpsync.oauth")

_MAX_ANSWER_BYTES = 64_000
"""A token answer is a few hundred bytes; anything near this is not one."""
_VENDOR_TEXT_CHARS = 300
_DEFAULT_LIFETIME = timedelta(hours=1)
"""RFC 6749 §5.1 makes ``expires_in`` only RECOMMENDED: without it the lifetime is unknown, so
assume an hour and let a 401 (:meth:`RotatingTokens.after_unauthorized`) correct it."""
_REFUSALS = frozenset({400, 401, 403})
_MASK = "***"


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class TokenEndpoint:
    """Where and as whom tokens are asked for."""

    url: str
    """The full URL of the token endpoint (https; http only on loopback, for simulators)."""
    client_id: str
    client_secret: str = field(repr=False)
    """Sent as HTTP Basic auth (client_secret_basic, RFC 6749 §2.3.1,
    https://datatracker.ietf.org/doc/html/rfc6749#section-2.3.1)."""
    vendor: str
    """The vendor's name, for messages: ``"MyERP"``."""
    headers: Mapping[str, str] = field(default_factory=dict)
    """Extra headers on every token call (for example a tenant id)."""

    def __post_init__(self) -> None:
        check_base_url(self.url, example="https://auth.example.com/oauth/token")
        if not self.client_id or not self.client_secret:
            raise ValueError(f"{self.vendor}: the OAuth client id and secret must not be empty")

    @property
    def origin(self) -> str:
        parts = urlsplit(self.url)
        return f"{parts.scheme}://{parts.netloc}"

    @property
    def path(self) -> str:
        return urlsplit(self.url).path or "/"

    def basic_auth(self) -> str:
        # RFC 6749 §2.3.1: id and secret are form-urlencoded before they are joined and
        # base64-encoded (for the usual letters and digits this changes nothing).
        pair = f"{quote_plus(self.client_id)}:{quote_plus(self.client_secret)}"
        return "Basic " + base64.b64encode(pair.encode()).decode("ascii")


def authorization_url(
    base: str,
    *,
    client_id: str,
    redirect_uri: str,
    scopes: Sequence[str],
    state: str,
    extra: Mapping[str, str] = {},
) -> str:
    """The consent page URL of the authorization code grant (RFC 6749 §4.1.1,
    https://datatracker.ietf.org/doc/html/rfc6749#section-4.1.1): ``response_type=code``,
    the client id, the redirect URI, the scopes space-delimited (§3.3) and ``state``, plus
    ``extra`` (vendor parameters such as ``access_type``)."""
    params = {"client_id": client_id, "redirect_uri": redirect_uri, "scope": " ".join(scopes),
              "state": state, "response_type": "code", **extra}
    separator = "&" if urlsplit(base).query else "?"
    return base + separator + urlencode(params, quote_via=quote)


class _Masked:
    """The credential store, with every token that passes through it registered as a secret:
    a vendor that quotes a token in an error text has it masked in messages,
    run records and logs like any configured secret."""

    def __init__(self, store: CredentialStore) -> None:
        self._store = store

    def load(self) -> dict[str, Any] | None:
        data = self._store.load()
        self._register(data)
        return data

    def save(self, data: dict[str, Any]) -> None:
        self._register(data)
        self._store.save(data)

    def lock(self) -> AbstractAsyncContextManager[None]:
        return self._store.lock()

    @staticmethod
    def _register(data: Mapping[str, Any] | None) -> None:
        for name in ("access_token", "refresh_token"):
            value = data.get(name) if data else None
            if isinstance(value, str):
                register_secret(value)


class _Tokens:
    """What both grants share: the token client, the lock, reading an answer."""

    def __init__(
        self, store: CredentialStore, endpoint: TokenEndpoint, *, action: str, margin: timedelta
    ) -> None:
        self._store = _Masked(store)
        self._endpoint = endpoint
        self._action = action
        self._margin = margin
        self._client: HttpClient | None = None

    async def aclose(self) -> None:
        """Close the token endpoint's connections."""
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    # --- asking ----------------------------------------------------------------------------

    async def _post(self, form: Mapping[str, str]) -> httpx.Response:
        """One token call: sent once, never retried (raises TransientError if it fails)."""
        if self._client is None:
            self._client = HttpClient(self._endpoint.origin, vendor=self._endpoint.vendor,
                                      max_attempts=1, max_body_bytes=_MAX_ANSWER_BYTES)
        headers = {**self._endpoint.headers, "Authorization": self._endpoint.basic_auth(),
                   "Accept": "application/json"}
        return await self._client.post(self._endpoint.path, data=dict(form), headers=headers,
                                       idempotent=False)

    def _usable(self, data: Mapping[str, Any] | None) -> bool:
        """A stored access token that is valid for longer than the margin, with nothing
        left unfinished (no unsettled answer, no refresh of unknown outcome)."""
        if not data or "answer" in data or "refresh_sent_at" in data:
            return False
        token, expires = data.get("access_token"), data.get("expires_at")
        if not isinstance(token, str) or not token or not isinstance(expires, str):
            return False
        try:
            expires_at = datetime.fromisoformat(expires)
        except ValueError:
            return False
        return expires_at.tzinfo is not None and expires_at - self._margin > _now()

    # --- reading answers -------------------------------------------------------------------

    def _settle(
        self, data: dict[str, Any], *, rotating: bool, fallback: bool = True
    ) -> dict[str, Any]:
        """Turn the saved raw ``answer`` of ``data`` into the stored token set (RFC 6749
        §5.1, https://datatracker.ietf.org/doc/html/rfc6749#section-5.1) and save it.
        ``fallback``: an answer without a refresh token keeps the stored one (a refresh; not
        a code exchange, which starts a new chain)."""
        answer = data.get("answer")
        received = data.get("answer_received_at")
        previous = data if fallback else {"scope": data.get("scope")}
        try:
            body = json.loads(answer) if isinstance(answer, str) else None
            tokens = self._read_answer(body, previous, received, rotating=rotating)
        except ValueError as error:
            # Keep the old pair and the marker: the next run asks again with the stored
            # refresh token, and the vendor's answer to that decides.
            kept = {k: v for k, v in data.items() if k not in ("answer", "answer_received_at")}
            self._store.save(kept)
            raise ResponseInvalid(
                f"{self._endpoint.vendor} answered the token request with something that is "
                f"not a token set: {error}", maybe_sent=True,
            ) from None
        self._store.save(tokens)
        return tokens

    def _read_answer(
        self, body: Any, previous: Mapping[str, Any], received: Any, *, rotating: bool
    ) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise ValueError("the answer is not a JSON object")
        token = body.get("access_token")
        if not isinstance(token, str) or not token:
            raise ValueError("the answer has no access_token")
        token_type = body.get("token_type", "bearer")
        if not isinstance(token_type, str) or token_type.lower() != "bearer":
            raise ValueError("the token type is not bearer")
        lifetime = body.get("expires_in")
        if isinstance(lifetime, str) and lifetime.isdigit():
            lifetime = int(lifetime)
        if isinstance(lifetime, bool) or not isinstance(lifetime, int | None) or (
                lifetime is not None and lifetime <= 0):
            raise ValueError("expires_in is not a positive number of seconds")
        try:
            start = datetime.fromisoformat(received) if isinstance(received, str) else _now()
        except ValueError:
            start = _now()
        expires_at = start + (_DEFAULT_LIFETIME if lifetime is None
                              else timedelta(seconds=lifetime))
        scope = body.get("scope", previous.get("scope"))
        tokens: dict[str, Any] = {"access_token": token, "expires_at": expires_at.isoformat(),
                                  "scope": scope if isinstance(scope, str) else None}
        if rotating:
            # RFC 6749 §6: the server MAY issue a new refresh token; without one the client
            # keeps the one it has.
            refresh = body.get("refresh_token", previous.get("refresh_token"))
            if not isinstance(refresh, str) or not refresh:
                raise ValueError("the answer has no refresh_token")
            tokens["refresh_token"] = refresh
        return tokens

    def _refusal(
        self, response: httpx.Response, what: str, known: Mapping[str, Any] | None,
        *, note: str = "",
    ) -> VendorError:
        """The error for a token call the vendor did not answer with 2xx."""
        text = self._vendor_text(response, known)
        status = response.status_code
        if status in _REFUSALS:
            return AuthenticationLost(
                f"{self._endpoint.vendor} refused {what}: {text}{note}",
                action=self._action, vendor_message=text, status=status,
            )
        if status >= 500 or status == 429:
            return TransientError(
                f"{self._endpoint.vendor} could not answer {what}: HTTP {status} {text}",
                maybe_sent=True, vendor_message=text, status=status,
            )
        return VendorError(f"{self._endpoint.vendor} answered {what} with HTTP {status}: {text}",
                           vendor_message=text, status=status)

    def _vendor_text(self, response: httpx.Response, known: Mapping[str, Any] | None) -> str:
        """The vendor's ``error`` and ``error_description`` (RFC 6749 §5.2), or the start of
        the body, with any token or the client secret masked."""
        try:
            body = json.loads(response.content)
        except ValueError:
            body = None
        if isinstance(body, dict) and isinstance(body.get("error"), str):
            text = str(body["error"])
            description = body.get("error_description")
            if isinstance(description, str) and description:
                text += f": {description}"
        else:
            text = response.content[:_VENDOR_TEXT_CHARS].decode("utf-8", "replace").strip()
            text = text or response.reason_phrase or f"HTTP {response.status_code}"
        secrets = [self._endpoint.client_secret]
        if known:
            secrets += [v for k, v in known.items()
                        if k in ("access_token", "refresh_token") and isinstance(v, str)]
        for secret in sorted((s for s in secrets if s), key=len, reverse=True):
            text = text.replace(secret, _MASK)
        return text[:_VENDOR_TEXT_CHARS]

    def _answered(self, data: Mapping[str, Any], response: httpx.Response) -> dict[str, Any]:
        """``data`` with the raw 2xx answer, saved durably before anything else is done
        with it (see the module docstring). No parsing, logging or await in here."""
        saved = {**data, "answer": response.content.decode("utf-8", "replace"),
                 "answer_received_at": _now().isoformat()}
        self._store.save(saved)
        return saved


class RotatingTokens(_Tokens):
    """An access token and a single-use rotating refresh token kept in a CredentialStore
    (:class:`erpsync.hookspecs.CredentialStore`, from ``ctx.credentials("oauth")``).

    :param action: what a person does when the refresh token is refused, shown with
        "needs re-authorisation" (``"erpsync authorize acme"``).
    :param margin: refresh when the access token expires within this time.
    """

    def __init__(
        self,
        store: CredentialStore,
        endpoint: TokenEndpoint,
        *,
        action: str,
        margin: timedelta = timedelta(minutes=5),
    ) -> None:
        super().__init__(store, endpoint, action=action, margin=margin)

    async def access_token(self) -> str:
        """A valid access token; refreshed under ``store.lock()`` when it expires within
        ``margin`` (or when an earlier refresh was interrupted)."""
        data = self._store.load()
        if self._usable(data):
            assert data is not None
            return str(data["access_token"])
        async with self._store.lock():
            data = self._store.load()
            if not self._usable(data):
                data = await self._renew(data)
            assert data is not None
            return str(data["access_token"])

    async def after_unauthorized(self, used: str) -> str:
        """The API refused ``used`` (HTTP 401): refresh once, unless another refresher already
        replaced it, and return the new access token."""
        async with self._store.lock():
            data = self._store.load()
            if data is not None and "answer" in data:
                data = self._settle(data, rotating=True)
            current = data.get("access_token") if data else None
            if isinstance(current, str) and current != used and self._usable(data):
                return current
            data = await self._renew(data, force=True)
            return str(data["access_token"])

    async def exchange_code(self, code: str, redirect_uri: str) -> None:
        """Exchange an authorization code for a pair and store it (RFC 6749 §4.1.3,
        https://datatracker.ietf.org/doc/html/rfc6749#section-4.1.3); the old pair, if any,
        is replaced."""
        async with self._store.lock():
            previous = self._store.load() or {}
            response = await self._post({"grant_type": "authorization_code", "code": code,
                                         "redirect_uri": redirect_uri})
            if not response.is_success:
                raise self._refusal(response, "the authorisation code", previous)
            kept = {k: v for k, v in previous.items() if k != "refresh_sent_at"}
            self._settle(self._answered(kept, response), rotating=True, fallback=False)
        log.info("%s: authorised; tokens stored", self._endpoint.vendor)

    async def _renew(self, data: dict[str, Any] | None, *, force: bool = False
                     ) -> dict[str, Any]:
        """Under the lock: finish a saved answer, or refresh (see the module docstring)."""
        vendor = self._endpoint.vendor
        if data is not None and "answer" in data:
            data = self._settle(data, rotating=True)
            if not force and self._usable(data):
                return data
        refresh = data.get("refresh_token") if data else None
        if data is None or not isinstance(refresh, str) or not refresh:
            raise AuthenticationLost(
                f"no {vendor} authorisation is stored for this goods owner",
                action=self._action,
            )
        interrupted = data.get("refresh_sent_at")
        marked = {**data, "refresh_sent_at": _now().isoformat()}
        self._store.save(marked)
        response = await self._post({"grant_type": "refresh_token", "refresh_token": refresh})
        if response.is_success:
            tokens = self._settle(self._answered(marked, response), rotating=True)
            log.info("%s: access token refreshed; the new pair is stored", vendor)
            return tokens
        note = ""
        if interrupted:
            note = (f" (an earlier refresh, sent at {interrupted}, was interrupted before its "
                    f"answer was saved: {vendor} had rotated the token and the new one was lost)")
        error = self._refusal(response, "the refresh token", data, note=note)
        if isinstance(error, AuthenticationLost):
            # The token is dead either way: no marker is left to resolve.
            self._store.save({k: v for k, v in data.items() if k != "refresh_sent_at"})
        raise error


class ClientCredentials(_Tokens):
    """The client credentials grant (service accounts; RFC 6749 §4.4,
    https://datatracker.ietf.org/doc/html/rfc6749#section-4.4): no refresh token; a new
    access token when the old one expires or is refused."""

    def __init__(
        self,
        store: CredentialStore,
        endpoint: TokenEndpoint,
        *,
        action: str,
        scope: str | None = None,
        margin: timedelta = timedelta(minutes=5),
    ) -> None:
        super().__init__(store, endpoint, action=action, margin=margin)
        self._scope = scope

    async def access_token(self) -> str:
        """A valid access token, asked for anew under ``store.lock()`` when it expires within
        ``margin``."""
        data = self._store.load()
        if self._usable(data):
            assert data is not None
            return str(data["access_token"])
        async with self._store.lock():
            data = self._store.load()
            if not self._usable(data):
                data = await self._renew()
            assert data is not None
            return str(data["access_token"])

    async def after_unauthorized(self, used: str) -> str:
        """The API refused ``used``: a new access token, unless another process already got
        one."""
        async with self._store.lock():
            data = self._store.load()
            current = data.get("access_token") if data else None
            if isinstance(current, str) and current != used and self._usable(data):
                return current
            return str((await self._renew())["access_token"])

    async def _renew(self) -> dict[str, Any]:
        form = {"grant_type": "client_credentials"}
        if self._scope:
            form["scope"] = self._scope
        response = await self._post(form)
        if not response.is_success:
            raise self._refusal(response, "the client credentials", self._store.load())
        tokens = self._settle(self._answered({}, response), rotating=False)
        log.info("%s: new access token (client credentials) stored", self._endpoint.vendor)
        return tokens
