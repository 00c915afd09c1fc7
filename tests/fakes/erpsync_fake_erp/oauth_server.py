"""The Fake ERP's OAuth 2.0 authorization server: strict, with a control surface for tests.

Served by :class:`erpsync_fake_erp.sandbox.FakeErp` next to its API (``/oauth/authorize`` and
``/oauth/token``), and usable on its own (:meth:`OAuthServer.app`) as a token server for the
core's OAuth tests. It follows RFC 6749 (https://datatracker.ietf.org/doc/html/rfc6749) and
takes the strict reading wherever a server may choose:

- ``GET /oauth/authorize`` (§4.1.1): ``client_id``, ``redirect_uri``, ``response_type=code``,
  ``state``, ``scope``. A loopback ``http://127.0.0.1:{any port}/{path}`` redirect is accepted
  (RFC 8252 §7.3, https://datatracker.ietf.org/doc/html/rfc8252#section-7.3); other redirect
  URIs must be registered. With :attr:`OAuthServer.auto_consent` (the default) the user
  consents at once: 302 to ``redirect_uri?code=...&state=...``; otherwise the user refuses:
  302 with ``error=access_denied``.
- ``POST /oauth/token`` (§3.2), form-encoded, the client authenticated by HTTP Basic only
  (§2.3.1); a missing or wrong client is ``401 invalid_client``. Grants:
  ``authorization_code`` (the code single-use, for the same client and ``redirect_uri``),
  ``refresh_token`` and ``client_credentials``. Every refresh rotates the pair: the refresh
  token used is dead at once, and using it again (or any unknown one) is
  ``400 {"error": "invalid_grant"}`` (§5.2). Answers carry ``Cache-Control: no-store`` (§5.1).
  The access tokens issued before a rotation stay valid until they expire.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, unquote_plus, urlencode, urlsplit

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

__all__ = ["DEFAULT_CLIENT_ID", "DEFAULT_CLIENT_SECRET", "OAuthServer"]

DEFAULT_CLIENT_ID = "fake-erp-client-4242"
DEFAULT_CLIENT_SECRET = "fake-erp-client-secret-9b1e"


@dataclass
class _Grant:
    client_id: str
    scope: str
    expires_at: datetime | None = None
    redirect_uri: str = ""


def _is_loopback_redirect(uri: str) -> bool:
    parts = urlsplit(uri)
    return parts.scheme == "http" and parts.hostname in ("127.0.0.1", "::1")


class OAuthServer:
    """The authorization server's state and its ASGI routes (see the module docstring)."""

    def __init__(
        self,
        *,
        clients: dict[str, str] | None = None,
        access_lifetime: float = 3600,
        scope: str = "read write",
    ) -> None:
        self.clients = dict(clients or {DEFAULT_CLIENT_ID: DEFAULT_CLIENT_SECRET})
        """client id -> client secret."""
        self.redirect_uris: set[str] = set()
        """Registered non-loopback redirect URIs."""
        self.access_lifetime = access_lifetime
        """Seconds an access token lives (``expires_in``)."""
        self.scope = scope
        self.auto_consent = True
        self.token_requests = 0
        """POSTs to the token endpoint received."""
        self.refreshes = 0
        """Refresh grants that rotated a pair."""
        self.refused: list[str] = []
        """The ``error`` of every refused token request, in order."""
        self.on_token_request: Callable[[str], bool | None] | None = None
        """Called with the grant type when a token request arrives, before it is handled;
        returning False leaves the request unhandled (answered 503, nothing issued)."""
        self.after_rotation: Callable[[], None] | None = None
        """Called after a refresh rotated the pair, before the answer is sent."""
        self._codes: dict[str, _Grant] = {}
        self._access: dict[str, _Grant] = {}
        self._refresh: dict[str, _Grant] = {}
        self._app: Starlette | None = None

    # --- control surface -----------------------------------------------------------------

    def issue_pair(self, client_id: str = DEFAULT_CLIENT_ID) -> dict[str, Any]:
        """A fresh pair for ``client_id``, as if its user had just consented: the stored
        form the core keeps (access_token, refresh_token, expires_at, scope)."""
        access, refresh, expires_at = self._pair(client_id, self.scope)
        return {"access_token": access, "refresh_token": refresh,
                "expires_at": expires_at.isoformat(), "scope": self.scope}

    def accepts(self, access_token: str) -> bool:
        """Whether ``access_token`` is valid now."""
        grant = self._access.get(access_token)
        return grant is not None and (grant.expires_at is None
                                      or grant.expires_at > datetime.now(UTC))

    def refresh_token_alive(self, refresh_token: str) -> bool:
        return refresh_token in self._refresh

    def live_refresh_tokens(self) -> int:
        return len(self._refresh)

    def revoke_all(self) -> None:
        """Play "the integration stopped working": every token and code is dead."""
        self._codes.clear()
        self._access.clear()
        self._refresh.clear()

    # --- the endpoints -------------------------------------------------------------------

    def routes(self, prefix: str = "/oauth") -> list[Route]:
        return [Route(f"{prefix}/authorize", self._authorize, methods=["GET"]),
                Route(f"{prefix}/token", self._token, methods=["POST"])]

    @property
    def app(self) -> Starlette:
        """The server on its own, as an ASGI application."""
        if self._app is None:
            self._app = Starlette(routes=self.routes())
        return self._app

    async def _authorize(self, request: Request) -> Response:
        params = request.query_params
        client_id, redirect_uri = params.get("client_id", ""), params.get("redirect_uri", "")
        if client_id not in self.clients:
            return JSONResponse({"error": "unauthorized_client"}, status_code=400)
        if not (_is_loopback_redirect(redirect_uri) or redirect_uri in self.redirect_uris):
            # §4.1.2.1: never redirect to an unverified URI.
            return JSONResponse({"error": "invalid_request",
                                 "error_description": "redirect_uri is not registered"},
                                status_code=400)
        answer: dict[str, str] = {}
        if params.get("response_type") != "code":
            answer["error"] = "unsupported_response_type"
        elif not self.auto_consent:
            answer["error"] = "access_denied"
        else:
            code = secrets.token_urlsafe(16)
            self._codes[code] = _Grant(client_id, params.get("scope") or self.scope,
                                       datetime.now(UTC) + timedelta(minutes=10), redirect_uri)
            answer["code"] = code
        if "state" in params:
            answer["state"] = params["state"]
        separator = "&" if urlsplit(redirect_uri).query else "?"
        return RedirectResponse(redirect_uri + separator + urlencode(answer), status_code=302)

    async def _token(self, request: Request) -> Response:
        self.token_requests += 1
        client_id = self._client(request)
        if client_id is None:
            return self._refuse("invalid_client", 401, "client authentication failed",
                                {"WWW-Authenticate": 'Basic realm="fake-erp"'})
        if request.headers.get("content-type", "").split(";")[0].strip() != (
                "application/x-www-form-urlencoded"):
            return self._refuse("invalid_request", 400, "the body must be form-encoded")
        form = dict(parse_qsl((await request.body()).decode("utf-8", "replace"),
                              keep_blank_values=True))
        grant_type = form.get("grant_type", "")
        if self.on_token_request is not None and self.on_token_request(grant_type) is False:
            return self._refuse("temporarily_unavailable", 503, "the request was dropped")
        if grant_type == "authorization_code":
            grant = self._codes.pop(form.get("code", ""), None)
            if (grant is None or grant.client_id != client_id
                    or grant.redirect_uri != form.get("redirect_uri")
                    or (grant.expires_at is not None and grant.expires_at < datetime.now(UTC))):
                return self._refuse("invalid_grant", 400, "the authorization code is invalid")
            return self._issue(client_id, grant.scope)
        if grant_type == "refresh_token":
            grant = self._refresh.get(form.get("refresh_token", ""))
            if grant is None or grant.client_id != client_id:
                return self._refuse("invalid_grant", 400,
                                    "the refresh token is invalid, used or revoked")
            del self._refresh[form["refresh_token"]]
            self.refreshes += 1
            response = self._issue(client_id, grant.scope)
            if self.after_rotation is not None:
                self.after_rotation()
            return response
        if grant_type == "client_credentials":
            access = secrets.token_urlsafe(24)
            expires_at = datetime.now(UTC) + timedelta(seconds=self.access_lifetime)
            self._access[access] = _Grant(client_id, self.scope, expires_at)
            return self._answer({"access_token": access, "token_type": "Bearer",
                                 "expires_in": int(self.access_lifetime), "scope": self.scope})
        return self._refuse("unsupported_grant_type", 400, f"grant_type {grant_type!r}")

    def _client(self, request: Request) -> str | None:
        header = request.headers.get("authorization", "")
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8")
        except ValueError:
            return None
        client_id, colon, secret = decoded.partition(":")
        client_id, secret = unquote_plus(client_id), unquote_plus(secret)
        if not colon or self.clients.get(client_id) != secret:
            return None
        return client_id

    def _pair(self, client_id: str, scope: str) -> tuple[str, str, datetime]:
        access, refresh = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        expires_at = datetime.now(UTC) + timedelta(seconds=self.access_lifetime)
        self._access[access] = _Grant(client_id, scope, expires_at)
        self._refresh[refresh] = _Grant(client_id, scope)
        return access, refresh, expires_at

    def _issue(self, client_id: str, scope: str) -> Response:
        access, refresh, _ = self._pair(client_id, scope)
        return self._answer({"access_token": access, "refresh_token": refresh,
                             "token_type": "Bearer", "expires_in": int(self.access_lifetime),
                             "scope": scope})

    @staticmethod
    def _answer(body: dict[str, Any]) -> Response:
        return JSONResponse(body, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})

    def _refuse(self, error: str, status: int, description: str,
                headers: dict[str, str] | None = None) -> Response:
        self.refused.append(error)
        return JSONResponse({"error": error, "error_description": description},
                            status_code=status,
                            headers={"Cache-Control": "no-store", **(headers or {})})
