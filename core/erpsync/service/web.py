"""The HTTP surface of ``erpsync serve`` (starlette): health, readiness, metrics, a status page.

=============  =====================================================================  =======
path           what                                                                   token
=============  =====================================================================  =======
``/healthz``   the process and its scheduler are alive (200, else 503): liveness       never
``/readyz``    the config is valid, the state store answers, every goods owner is      off
               scheduled (200, else 503 naming what is not): readiness                 loopback
``/metrics``   Prometheus text format (:mod:`erpsync.service.metrics`)                 off
                                                                                      loopback
``/``          the status page: server-rendered HTML, no JavaScript                    off
                                                                                      loopback
=============  =====================================================================  =======

Bound to anything but loopback, every path but ``/healthz`` asks for the config's token, as
``Authorization: Bearer TOKEN`` (Prometheus's ``authorization`` / ``bearer_token``) or as the
password of HTTP Basic (any user name: a browser asks for it). A request without it, or with
another, gets 401 and a log line naming the client and the path, never what was sent.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import logging
import math
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from jinja2 import Environment, PackageLoader, select_autoescape
from prometheus_client.exposition import choose_encoder
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from erpsync.errors import StateError
from erpsync.models import Flow
from erpsync.secrets import redact
from erpsync.service.status import OwnerView, snapshot

if TYPE_CHECKING:
    from erpsync.service import Service

__all__ = ["PAGE_SIZE", "create_app"]

log = logging.getLogger("erpsync.service")

PAGE_SIZE = 100
"""Goods owners per page of the status page."""
LETTERS_SHOWN = 200
"""Dead letters listed on the page; the rest are counted."""
HEARTBEAT_LIMIT = 30.0
"""Seconds without a scheduler heartbeat after which /healthz answers 503."""


def _when(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if moment else "–"


def _shown(value: Any) -> Any:
    """Every expression on the page: a secret that slipped into a vendor's text is masked."""
    return redact(value) if isinstance(value, str) else ("" if value is None else value)


_pages = Environment(loader=PackageLoader("erpsync.service"), autoescape=select_autoescape(),
                     finalize=_shown, trim_blocks=True, lstrip_blocks=True)
_pages.filters["when"] = _when
_WORDS = {"needs_reauthorisation": "needs re-authorisation", "purchase_orders": "purchase orders",
          "dead_lettered": "dead-lettered"}
_pages.filters["words"] = lambda name: _WORDS.get(name, name)


def _command(action: str | None) -> tuple[str, str]:
    """An action's prose and the command in it (the page shows the command as code)."""
    prose, found, command = (action or "").partition("erpsync ")
    return (prose, found + command) if found else (prose, "")


_pages.filters["command"] = _command


def create_app(service: Service) -> Starlette:
    """The ASGI app serving ``service``."""

    def guarded(endpoint: Callable[[Request], Awaitable[Response]]
                ) -> Callable[[Request], Awaitable[Response]]:
        async def checked(request: Request) -> Response:
            refusal = _refusal(service, request)
            if refusal is not None:
                return refusal
            return await endpoint(request)
        return checked

    async def healthz(request: Request) -> Response:
        problem = _unhealthy(service)
        return JSONResponse({"status": "unhealthy" if problem else "ok",
                             **({"reason": problem} if problem else {})},
                            status_code=503 if problem else 200)

    async def readyz(request: Request) -> Response:
        checks = await run_in_threadpool(_readiness, service)
        ready = all(ok for ok, _ in checks.values())
        return JSONResponse({"status": "ready" if ready else "not ready",
                             "checks": {name: text for name, (_, text) in checks.items()}},
                            status_code=200 if ready else 503)

    async def metrics(request: Request) -> Response:
        # The format the scraper asks for (Accept), as prometheus_client's own server does.
        encode, media_type = choose_encoder(request.headers.get("accept", ""))
        body = await run_in_threadpool(encode, service.metrics.registry)
        return Response(body, headers={"Content-Type": media_type})

    async def page(request: Request) -> Response:
        html, status = await run_in_threadpool(_render, service, dict(request.query_params))
        return HTMLResponse(html, status_code=status, headers={"Cache-Control": "no-store"})

    return Starlette(routes=[
        Route("/healthz", healthz),
        Route("/readyz", guarded(readyz)),
        Route("/metrics", guarded(metrics)),
        Route("/", guarded(page)),
    ])


def _refusal(service: Service, request: Request) -> Response | None:
    """401 unless bound to loopback or the request carries the token."""
    token = service.token
    if token is None:
        return None
    offered = _offered(request.headers.get("authorization", ""))
    if offered is not None and hmac.compare_digest(offered.encode(), token.encode()):
        return None
    client = request.client.host if request.client else "unknown"
    log.warning("401 for %s %s from %s: %s", request.method, request.url.path, client,
                "no token" if offered is None else "wrong token")
    return JSONResponse({"error": "a token is required: Authorization: Bearer TOKEN"},
                        status_code=401,
                        headers={"WWW-Authenticate": 'Basic realm="erpsync", charset="UTF-8"'})


def _offered(header: str) -> str | None:
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    if scheme.lower() == "basic" and value.strip():
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None
        return decoded.partition(":")[2]
    return None


def _unhealthy(service: Service) -> str | None:
    runner = service.runner
    if not runner.serving:
        return "the scheduler is not running"
    if runner.halted is not None:
        return f"the scheduler is halted: {runner.halted.message}"
    silent = time.monotonic() - runner.heartbeat
    if silent > HEARTBEAT_LIMIT:
        return f"the scheduler has not been heard of for {silent:.0f} s"
    return None


def _readiness(service: Service) -> dict[str, tuple[bool, str]]:
    runner = service.runner
    checks: dict[str, tuple[bool, str]] = {}
    refused = service.reload_refused
    checks["config"] = (True, f"{runner.config.path}: {len(runner.config.goods_owners)} goods "
                        "owner(s)" + (f"; a reload at {_when(refused.at)} was refused, still "
                                      "on the config before it" if refused else ""))
    try:
        runner.state.check()
        checks["state"] = (True, "reachable")
    except StateError as error:
        checks["state"] = (False, error.message)
    alive = runner.scheduled()
    wanted = [o.id for o in runner.config.goods_owners if o.enabled]
    missing = [i for i in wanted if not alive.get(i)]
    problem = runner.schedule_problem()
    checks["schedule"] = ((not missing and runner.serving and problem is None),
                          f"{len(wanted) - len(missing)} of {len(wanted)} goods owner(s) "
                          "scheduled" + (f"; not: {', '.join(missing[:10])}" if missing else "")
                          + (f"; {problem}" if problem else ""))
    return checks


def _render(service: Service, query: dict[str, str]) -> tuple[str, int]:
    """The page, and its status: 503 with a banner alone while the state store fails."""
    runner = service.runner
    try:
        now = snapshot(runner)
        letters_all = runner.state.dead_letters()
    except StateError as error:
        return _pages.get_template("status.html").render(
            now=datetime.now(UTC), total=len(runner.config.goods_owners), counts={},
            halted=error.message, owners=[], letters=[], letters_total=0, reauth=[], flows=[],
            matching=0, pages=1, page=1, shown_from=None, owner_filter="",
            problems_only=False, query=lambda **_: "", problems_total=0), 503
    owner_filter = query.get("owner", "").strip()
    problems_only = query.get("problems") == "1"
    views = [v for v in now.owners if owner_filter.lower() in v.owner.id.lower()
             and (v.problem or not problems_only)]
    views.sort(key=lambda v: (not v.problem, v.owner.id))
    pages = max(1, math.ceil(len(views) / PAGE_SIZE))
    try:
        page = min(max(1, int(query.get("page", "1"))), pages)
    except ValueError:
        page = 1
    shown = views[(page - 1) * PAGE_SIZE: page * PAGE_SIZE]
    matching_ids = {v.owner.id for v in views}
    letters = [d for d in letters_all if d.goods_owner in matching_ids]
    letters.sort(key=lambda d: d.last_seen, reverse=True)
    used = {f.value for o in runner.config.goods_owners for f in o.flows}

    def query_for(**changes: object) -> str:
        merged = {"owner": owner_filter, "problems": "1" if problems_only else "",
                  **{k: str(v) for k, v in changes.items()}}
        return urlencode({k: v for k, v in merged.items() if v})

    reauth: list[OwnerView] = [v for v in views if v.status is not None]
    return _pages.get_template("status.html").render(
        now=datetime.now(UTC), total=len(now.owners), counts=now.counts,
        halted=runner.halted.message if runner.halted else None,
        reload_refused=service.reload_refused, owner_filter=owner_filter,
        problems_only=problems_only, reauth=reauth, owners=shown, matching=len(views),
        shown_from=(page - 1) * PAGE_SIZE + 1 if pages > 1 else None,
        shown_to=(page - 1) * PAGE_SIZE + len(shown), page=page, pages=pages,
        flows=[f.value for f in Flow if f.value in used], query=query_for,
        letters=letters[:LETTERS_SHOWN], letters_total=len(letters),
        problems_total=sum(1 for v in now.owners if v.problem)), 200
