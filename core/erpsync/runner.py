"""The schedule: which flows of which goods owner run when.

:meth:`Runner.run_once` runs one cycle of every (or some) goods owners; :meth:`Runner.serve`
runs each goods owner's cycle on its interval until asked to stop. Both keep the same rules:

- one goods owner's failure never stops another: every flow's outcome is recorded and the next
  flow, and the next goods owner, go on;
- a goods owner whose credentials were refused stops at once with the status "needs
  re-authorisation" and is skipped by the schedule until someone re-authorises it
  (``erpsync authorize ID`` when its ERP plugin has a consent flow) or runs it by hand
  (``erpsync run --once --goods-owner ID``) after fixing the credentials: no retry loop against
  a dead credential. Entering that status (the transition, not every cycle that finds it)
  sends one notification to the config's ``[notify]`` webhook and e-mail: the goods owner, the
  message and the command to run. A notification that fails is logged and never breaks the
  run;
- at most ``concurrency`` goods owners run at once; the calls of one goods owner are made one
  flow at a time, and two cycles of one goods owner never overlap, even across processes
  (a lock in the state store);
- a stop request (SIGTERM, SIGINT) lets every running flow finish its current record, keeps
  the cursors where they are safe, and returns;
- only :class:`~erpsync.errors.StateError` ends everything: without durable state nothing may
  be synced.
"""

from __future__ import annotations

import asyncio
import logging
import smtplib
import ssl
from collections.abc import Collection
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from urllib.parse import urlsplit

from erpsync.config import Config, EmailSettings, GoodsOwner, NotifySettings
from erpsync.errors import ErpsyncError, StateError
from erpsync.flows import FlowOptions, RunContext, run_flow
from erpsync.http import HttpClient
from erpsync.models import Flow
from erpsync.plugins import Erp, PluginRegistry
from erpsync.state import OwnerStatus, RunRecord, StateStore

__all__ = ["Notifier", "Runner", "reauthorisation_action"]

log = logging.getLogger("erpsync.runner")


def _now() -> datetime:
    return datetime.now(UTC)


def _first(errors: BaseExceptionGroup[StateError]) -> StateError:
    """The first StateError of a task group's: raised as itself, so that callers (the CLI)
    can catch it by its kind and show its message rather than "unhandled errors in a
    TaskGroup"."""
    first = errors.exceptions[0]
    return first if isinstance(first, StateError) else _first(first)


_PROBE_REDIRECT = "http://127.0.0.1/callback"
_NOTIFY_TIMEOUT = 15.0


def reauthorisation_action(owner_id: str, erp: Erp, run: RunRecord | None = None) -> str:
    """What a person does for a goods owner whose credentials were refused: ``erpsync
    authorize OWNER`` when the ERP's were refused and its plugin has a consent flow for these
    settings; else what the refusing plugin says (or: fix the credentials in the config), and
    then run the goods owner by hand."""
    by_hand = f"erpsync run --once --goods-owner {owner_id}"
    if run is None or run.refused_by != "wms":
        try:
            consent = erp.authorization_url(_PROBE_REDIRECT, "status") is not None
        except Exception:  # a broken hook must not hide the status itself
            log.exception("%s: asking %s for its consent URL failed", owner_id, erp.name)
            consent = False
        if consent:
            return f"erpsync authorize {owner_id}"
    if run is not None and run.action:
        return f"{run.action}; then run: {by_hand}"
    side = f" of the {run.refused_by.upper()}" if run is not None and run.refused_by else ""
    return f"fix the credentials{side} in the config, then run: {by_hand}"


class Notifier:
    """Sends "goods owner X needs re-authorisation" to the ``[notify]`` webhook and e-mail.

    :meth:`send` never raises: a notification that cannot be delivered is logged (without
    the webhook URL, which may carry a token) and the run goes on.
    """

    def __init__(self, settings: NotifySettings | None) -> None:
        self.settings = settings

    async def send(self, status: OwnerStatus) -> None:
        if self.settings is None:
            return
        if self.settings.webhook_url is not None:
            try:
                await asyncio.wait_for(self._webhook(self.settings.webhook_url, status),
                                       _NOTIFY_TIMEOUT)
            except Exception as error:
                log.warning("%s: the re-authorisation webhook to %s failed: %s",
                            status.goods_owner, urlsplit(self.settings.webhook_url).hostname,
                            _reason(error))
        if self.settings.email is not None:
            try:
                await asyncio.wait_for(
                    asyncio.to_thread(_send_mail, self.settings.email, status),
                    _NOTIFY_TIMEOUT)
            except Exception as error:
                log.warning("%s: the re-authorisation e-mail via %s failed: %s",
                            status.goods_owner, self.settings.email.host, _reason(error))

    @staticmethod
    async def _webhook(url: str, status: OwnerStatus) -> None:
        parts = urlsplit(url)
        body = {"event": "needs_reauthorisation", "goods_owner": status.goods_owner,
                "message": status.message, "action": status.action,
                "since": status.since.isoformat(), "text": _text(status)}
        async with HttpClient(f"{parts.scheme}://{parts.netloc}", vendor="notify webhook",
                              max_attempts=3, max_wait=5.0, timeout=10.0) as client:
            response = await client.post(url, json=body)
        if not response.is_success:
            raise RuntimeError(f"HTTP {response.status_code}")
        log.info("%s: re-authorisation notice sent to the webhook", status.goods_owner)


def _text(status: OwnerStatus) -> str:
    return (f"erpsync: goods owner {status.goods_owner} needs re-authorisation.\n\n"
            f"{status.message}\n\nTo fix it, run:\n\n    {status.action}\n")


def _send_mail(settings: EmailSettings, status: OwnerStatus) -> None:
    """One message over SMTP (blocking: runs in a thread)."""
    message = EmailMessage()
    message["Subject"] = f"erpsync: goods owner {status.goods_owner} needs re-authorisation"
    message["From"] = settings.sender
    message["To"] = ", ".join(settings.to)
    message.set_content(_text(status))
    with smtplib.SMTP(settings.host, settings.port, timeout=10) as smtp:
        if settings.starttls:
            smtp.starttls(context=ssl.create_default_context())
        if settings.username is not None and settings.password is not None:
            smtp.login(settings.username.get_secret_value(), settings.password.get_secret_value())
        smtp.send_message(message)
    log.info("%s: re-authorisation notice e-mailed to %d recipient(s)", status.goods_owner,
             len(settings.to))


def _reason(error: BaseException) -> str:
    """Why a notification failed, without the server's words (an SMTP server may echo the
    user name) and without a URL."""
    if isinstance(error, ErpsyncError):
        return type(error).__name__
    if isinstance(error, smtplib.SMTPResponseException):
        return f"SMTP {error.smtp_code}"
    if isinstance(error, TimeoutError):
        return "timed out"
    return type(error).__name__ + (f" ({error})" if isinstance(error, RuntimeError) else "")


class Runner:
    def __init__(self, config: Config, state: StateStore, registry: PluginRegistry) -> None:
        self.config = config
        self.state = state
        self.registry = registry
        self.notifier = Notifier(config.notify)
        self.next_run: dict[str, datetime] = {}

    def _options(self, **overrides: object) -> FlowOptions:
        base = {"overlap": timedelta(seconds=self.config.overlap_seconds)}
        return FlowOptions(**{**base, **overrides})  # type: ignore[arg-type]

    async def run_owner(
        self,
        owner: GoodsOwner,
        *,
        flows: Collection[Flow] | None = None,
        options: FlowOptions | None = None,
        scheduled: bool = False,
    ) -> list[RunRecord]:
        """One cycle of one goods owner: its switched-on flows in order."""
        options = options or self._options()
        status = self.state.get_owner_status(owner.id)
        if status is not None and scheduled:
            log.warning("%s skipped: %s", owner.id, status.message)
            return []
        selected = [f for f in owner.flows if flows is None or f in flows]
        runs: list[RunRecord] = []
        async with self.state.lock(f"owner:{owner.id}"):
            status = self.state.get_owner_status(owner.id)
            ctx = RunContext(owner.id, self.state)
            try:
                erp = self.registry.erp(owner.erp_plugin, owner.erp_settings)
                wms = self.registry.wms(owner.wms_plugin, owner.wms_settings)
            except ErpsyncError as error:
                now = _now()
                for flow in selected:
                    run = RunRecord(goods_owner=owner.id, flow=flow.value, started_at=now,
                                    finished_at=now, outcome="failed", message=error.message)
                    self.state.add_run(run)
                    runs.append(run)
                return runs
            try:
                for flow in selected:
                    run = await run_flow(flow, owner.id, self.state, erp, wms, ctx, options)
                    runs.append(run)
                    log.info("%s %s %s: read %d, written %d, unchanged %d, skipped %d, "
                             "dead letters %d, requests %d%s", owner.id, flow.value, run.outcome,
                             run.read, run.written, run.unchanged, run.skipped,
                             run.dead_lettered, run.requests,
                             f" ({run.message})" if run.message else "")
                    if run.outcome == "needs_reauthorisation" and not options.dry_run:
                        entered = OwnerStatus(
                            goods_owner=owner.id, state="needs_reauthorisation",
                            message=run.message or "credentials refused", since=_now(),
                            action=reauthorisation_action(owner.id, erp, run),
                        )
                        self.state.set_owner_status(owner.id, entered)
                        if status is None:  # the transition only: one notice, not one a cycle
                            await self.notifier.send(entered)
                        break
                    if run.outcome == "stopped":
                        break
                else:
                    if status is not None and not options.dry_run:
                        self.state.set_owner_status(owner.id, None)
            finally:
                await ctx.aclose()
        return runs

    async def complete_authorization(self, owner: GoodsOwner, code: str,
                                     redirect_uri: str) -> bool:
        """Exchange the code the ERP's consent page redirected with (the ERP plugin stores the
        credential) and clear the goods owner's "needs re-authorisation" status; True if it
        had one. Never while a cycle of the goods owner runs."""
        erp = self.registry.erp(owner.erp_plugin, owner.erp_settings)
        async with self.state.lock(f"owner:{owner.id}"):
            ctx = RunContext(owner.id, self.state)
            try:
                await erp.complete_authorization(ctx.for_plugin(erp.name), code, redirect_uri)
            finally:
                await ctx.aclose()
            cleared = self.state.get_owner_status(owner.id) is not None
            self.state.set_owner_status(owner.id, None)
        return cleared

    async def run_once(
        self,
        owner_ids: Collection[str] | None = None,
        flows: Collection[Flow] | None = None,
        options: FlowOptions | None = None,
    ) -> dict[str, list[RunRecord]]:
        """One cycle of the chosen goods owners (all enabled ones by default), concurrently."""
        owners = ([self.config.owner(i) for i in owner_ids] if owner_ids
                  else [o for o in self.config.goods_owners if o.enabled])
        limit = asyncio.Semaphore(self.config.concurrency)
        results: dict[str, list[RunRecord]] = {}

        async def one(owner: GoodsOwner) -> None:
            async with limit:
                results[owner.id] = await self.run_owner(owner, flows=flows, options=options)

        try:
            async with asyncio.TaskGroup() as group:
                for owner in owners:
                    group.create_task(one(owner))
        except* StateError as errors:
            raise _first(errors) from None
        return {o.id: results[o.id] for o in owners}

    async def serve(self, stop: asyncio.Event) -> None:
        """Run every enabled goods owner on its interval until ``stop`` is set."""
        limit = asyncio.Semaphore(self.config.concurrency)
        options = self._options(stop=stop)
        owners = [o for o in self.config.goods_owners if o.enabled]
        start = _now()
        for owner in owners:
            self.next_run.setdefault(owner.id, start)
        log.info("serving %d goods owners, %d at a time", len(owners), self.config.concurrency)

        async def loop(owner: GoodsOwner) -> None:
            while not stop.is_set():
                delay = (self.next_run[owner.id] - _now()).total_seconds()
                if delay > 0:
                    try:
                        await asyncio.wait_for(stop.wait(), delay)
                        return
                    except TimeoutError:
                        pass
                async with limit:
                    if stop.is_set():
                        return
                    began = _now()
                    self.next_run[owner.id] = began + timedelta(minutes=owner.interval_minutes)
                    await self.run_owner(owner, options=options, scheduled=True)

        try:
            async with asyncio.TaskGroup() as group:
                for owner in owners:
                    group.create_task(loop(owner))
        except* StateError as errors:
            raise _first(errors) from None
        log.info("stopped")
