"""The hook specifications: the whole contract between erpsync and a plugin.

A plugin is a module (or object) registered under the ``erpsync`` entry-point group that
implements some of these hooks with :data:`hookimpl`. Two roles exist:

- an **ERP plugin** reads master data and orders from the ERP (``fetch_*``) and writes the
  warehouse's events back to it (``report_*``, ``push_*``);
- a **WMS plugin** writes those records into the warehouse (``upsert_*``) and reads the
  warehouse's events (``fetch_deliveries`` ...), marking each one reported once the ERP has it.

Each goods owner uses exactly one plugin of each role, and the core calls a hook on that one
plugin only (never ``pm.hook.x()`` across all plugins). The flows a plugin offers are the hooks
it implements: ``erpsync plugins`` lists them, and the conformance suite tests every one.

The hooks that reach a vendor are coroutine functions (``async def``); the ``fetch_*`` hooks
are async generators that yield records as the vendor's pages arrive, so a catalogue of any
size streams through in constant memory. The hooks that only look at settings
(:func:`describe`, :func:`enabled_flows`, :func:`authorization_url`, :func:`sandbox`) are
plain functions. A hook must never block the event loop: use the
HTTP client of :mod:`erpsync.http`, which is asynchronous, paces itself and retries.

Common arguments:

``ctx`` (:class:`Context`)
    The goods owner being served, a logger, durable credential storage and per-cycle
    resources. Keep no state outside it: module globals are shared by all goods owners.
``settings``
    An instance of the plugin's own settings model (:attr:`PluginInfo.settings_model`),
    validated from the operator's config, secrets already resolved.
``since``
    ``None`` for a full read. Otherwise a timezone-aware time: return **every** record whose
    last change is at or after ``since`` (``>=``, never ``>``: the core moves ``since`` back by
    an overlap window and drops unchanged records by fingerprint, so returning a few records
    too many costs nothing, and returning one too few loses it). Set ``modified_at`` on each
    record from the vendor's own change time when the vendor has one.

A record the vendor sent that the plugin cannot map is not an error of the read: a ``fetch_*``
hook of an ERP plugin yields :class:`~erpsync.models.Unreadable` (its key and what cannot be
read) in its place, and the core dead-letters it while the rest of the read goes on.

Errors: a hook raises :class:`~erpsync.errors.AuthenticationLost` when credentials are refused,
:class:`~erpsync.errors.RecordRejected` when the vendor refuses one record (with the vendor's
message), and :class:`~erpsync.errors.TransientError` when the vendor is unavailable after the
HTTP layer's retries. Any other exception is treated as a bug in the plugin: the flow stops for
that goods owner and the message is shown in ``erpsync status``.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Any, Literal, Protocol, TypeVar

import pluggy
from pydantic import BaseModel, ConfigDict

from erpsync.models import (
    Article,
    Delivery,
    Event,
    Flow,
    InventoryAdjustment,
    Order,
    PurchaseOrder,
    Receipt,
    StockBalance,
    Supplier,
)

__all__ = [
    "HOOKSPEC_VERSION",
    "PROJECT",
    "Context",
    "CredentialStore",
    "PluginInfo",
    "Rejection",
    "WriteResult",
    "authorization_url",
    "check_connection",
    "complete_authorization",
    "describe",
    "enabled_flows",
    "fetch_articles",
    "fetch_deliveries",
    "fetch_inventory_adjustments",
    "fetch_orders",
    "fetch_purchase_orders",
    "fetch_receipts",
    "fetch_stock_balances",
    "fetch_suppliers",
    "hookimpl",
    "hookspec",
    "lookup_report",
    "mark_reported",
    "push_inventory_adjustment",
    "push_stock",
    "report_delivery",
    "report_receipt",
    "sandbox",
    "upsert_article",
    "upsert_order",
    "upsert_purchase_order",
    "upsert_supplier",
]

PROJECT = "erpsync"
HOOKSPEC_VERSION = "1.1"
"""The version of this contract. A plugin states the version it was built for; plugins built
for any 1.x load (1.1 added the optional :func:`authorization_url`,
:func:`complete_authorization` and :func:`enabled_flows`)."""

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)

T = TypeVar("T")


# --- what the hooks exchange -------------------------------------------------------------------


class PluginInfo(BaseModel):
    """What :func:`describe` returns."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    name: str
    """The plugin's name; must equal its entry-point name."""
    version: str
    role: Literal["erp", "wms"]
    settings_model: type[BaseModel]
    """The pydantic model that validates this plugin's settings in the operator's config."""
    description: str = ""
    hookspec_version: str = HOOKSPEC_VERSION


class WriteResult(BaseModel):
    """What an ``upsert_*`` hook returns."""

    model_config = ConfigDict(frozen=True)

    outcome: Literal["written", "skipped"]
    """``skipped``: the WMS may not change the record now (the warehouse started on it)."""
    reason: str | None = None
    """Why it was skipped, in words an operator understands."""
    wms_key: str | None = None


class Rejection(BaseModel):
    """One balance :func:`push_stock` could not write, with the vendor's message."""

    model_config = ConfigDict(frozen=True)

    key: str
    message: str


class CredentialStore(Protocol):
    """Durable storage for one credential of one goods owner (tokens that rotate).

    ``save`` returns only once the data is durable on disk, so a rotated refresh token is
    saved before the access token that came with it is used. ``lock`` is held by one
    refresher at a time across threads and processes.
    """

    def load(self) -> dict[str, Any] | None: ...

    def save(self, data: dict[str, Any]) -> None: ...

    def lock(self) -> AbstractAsyncContextManager[None]: ...


class Context(Protocol):
    """What the core hands to every hook call."""

    @property
    def goods_owner(self) -> str: ...

    @property
    def log(self) -> logging.Logger: ...

    def credentials(self, name: str) -> CredentialStore:
        """The durable store of this plugin's credential ``name`` (for example ``"oauth"``)."""
        ...

    async def resource(self, name: str, factory: Callable[[], Awaitable[T]]) -> T:
        """One object per cycle, goods owner and plugin (an HTTP client): created by
        ``factory`` on first use, closed (``aclose()`` if it has one) when the cycle ends.
        Names are the plugin's own: another plugin's ``"client"`` is another object."""
        ...


# --- description -------------------------------------------------------------------------------


@hookspec(firstresult=True)
def describe() -> PluginInfo:
    """Describe the plugin: its name, version, role and settings model.

    Every plugin implements this hook. It is called once at load time, without a goods owner,
    and must not do I/O.

    :return: the :class:`PluginInfo`; ``name`` must equal the entry-point name.
    """


@hookspec(firstresult=True)
def enabled_flows(settings: BaseModel) -> Collection[Flow]:
    """Return the flows that ``settings`` switch on, among those the plugin offers.

    Optional: without it every offered flow is on. For a plugin whose processes are switched
    per goods owner (a module the tenant may not have, a process off by default), so that a
    flow switched off is neither scheduled nor expected: a goods owner's default flows are the
    ones both of its plugins offer and switch on, and a config that names a flow switched off
    is refused naming the plugin. Called at config load, without I/O. A flow the plugin does
    not offer (its hooks are not implemented) stays off whatever this returns.
    """


@hookspec(firstresult=True)
def sandbox() -> Any:
    """Return a fresh simulator of the vendor API this plugin talks to.

    Optional. ``erpsync demo`` serves it on a loopback port and runs a whole integration
    against it; the conformance suites can use it too. An ERP plugin's simulator implements
    :class:`erpsync.conformance.ErpSandbox` plus ``populate_demo(size)``, a WMS plugin's
    implements :class:`erpsync.conformance.WmsSandbox`; both are plain objects with an ASGI
    ``app`` and the ``settings()`` that point the plugin at it. Importing the simulator's
    dependencies (starlette) inside this hook keeps them out of production installs.
    """


@hookspec(firstresult=True)
async def check_connection(ctx: Context, settings: BaseModel) -> None:
    """Prove that the settings reach the vendor and the credentials are accepted.

    Used by ``erpsync check --connect``. Makes one cheap read call and nothing else.

    :raises AuthenticationLost: the credentials are refused (say what to do in ``action``).
    :raises TransientError: the vendor cannot be reached now.
    """


# --- ERP: authorisation (OAuth consent) -----------------------------------------------------


@hookspec(firstresult=True)
def authorization_url(settings: BaseModel, redirect_uri: str, state: str) -> str | None:
    """The vendor's consent page for this goods owner's credential, or None when the plugin's
    settings need no interactive consent (client credentials).

    Optional, for ERPs whose API access a person grants in a browser (the OAuth
    authorization code grant). ``erpsync authorize GOODS_OWNER`` shows this URL, receives the
    vendor's redirect on ``redirect_uri`` (a loopback ``http://127.0.0.1:PORT/callback``),
    checks ``state`` and hands the code to :func:`complete_authorization`. Put ``redirect_uri``
    and ``state`` into the URL unchanged (:func:`erpsync.oauth.authorization_url` builds one),
    with the scopes the goods owner's switched-on flows need. Must not do I/O. The same
    command re-authorises a goods owner whose credentials were refused, so a plugin that
    implements it should give :class:`~erpsync.errors.AuthenticationLost` the action
    ``erpsync authorize GOODS_OWNER``.

    A plugin that implements this hook implements :func:`complete_authorization` too.
    """


@hookspec(firstresult=True)
async def complete_authorization(
    ctx: Context, settings: BaseModel, code: str, redirect_uri: str
) -> None:
    """Exchange the code the consent page redirected with; store the credential durably.

    Called by ``erpsync authorize`` with the ``code`` of the vendor's redirect and the same
    ``redirect_uri`` the consent URL named (the vendor compares them). Store the tokens in
    ``ctx.credentials(...)`` (:class:`erpsync.oauth.RotatingTokens` does both), replacing a
    dead pair. The core then clears the goods owner's "needs re-authorisation" status.

    :raises AuthenticationLost: the vendor refused the code or the client.
    :raises TransientError: the vendor cannot be reached now.
    """


# --- ERP: reads ----------------------------------------------------------------------------------


@hookspec(firstresult=True)
def fetch_articles(
    ctx: Context, settings: BaseModel, since: datetime | None
) -> AsyncIterator[Article]:
    """Yield the articles changed at or after ``since`` (all of them when ``since`` is None).

    Only articles the ERP publishes to the warehouse: the plugin applies the vendor's default
    filters (for example "published, not deleted"). An archived article may be yielded with
    ``is_active=False``. Each article number is yielded at most once per call.

    Offers the ``articles`` flow. Reading is side-effect free and safe to repeat.
    """


@hookspec(firstresult=True)
def fetch_suppliers(
    ctx: Context, settings: BaseModel, since: datetime | None
) -> AsyncIterator[Supplier]:
    """Yield the suppliers changed at or after ``since``. Offers the ``suppliers`` flow."""


@hookspec(firstresult=True)
def fetch_orders(ctx: Context, settings: BaseModel, since: datetime | None) -> AsyncIterator[Order]:
    """Yield the sales orders changed at or after ``since`` that the warehouse should ship.

    The plugin applies the integration's default filter (for example: orders, not invoices,
    not yet delivered). A cancelled order is yielded with ``cancelled=True`` so the warehouse
    can stop it while it still may. Each order number at most once per call.

    Offers the ``orders`` flow.
    """


@hookspec(firstresult=True)
def fetch_purchase_orders(
    ctx: Context, settings: BaseModel, since: datetime | None
) -> AsyncIterator[PurchaseOrder]:
    """Yield the purchase orders changed at or after ``since`` that the warehouse should expect.

    Offers the ``purchase_orders`` flow.
    """


# --- ERP: write-back -------------------------------------------------------------------------


@hookspec(firstresult=True)
async def report_delivery(ctx: Context, settings: BaseModel, delivery: Delivery) -> str:
    """Tell the ERP that (part of) an order left the warehouse.

    The core calls this at most once per ``delivery.event_id`` unless :func:`lookup_report`
    says the ERP never got it. A partial delivery is followed later by another event for the
    rest; use ``delivered_quantity`` (this event) or ``total_delivered_quantity`` (cumulative)
    as the vendor needs.

    :return: the ERP's reference of what was written (an id the lookup can find again).
    :raises RecordRejected: the ERP refused it (unknown order, locked order ...).

    Offers the ``deliveries`` flow (together with :func:`lookup_report`).
    """


@hookspec(firstresult=True)
async def report_receipt(ctx: Context, settings: BaseModel, receipt: Receipt) -> str:
    """Tell the ERP what was received against a purchase order (quantities may differ from
    those advised); ``receipt.complete`` says the warehouse closed the purchase order.

    Same once-only rules and return as :func:`report_delivery`. Offers the ``receipts`` flow.
    """


@hookspec(firstresult=True)
async def push_inventory_adjustment(
    ctx: Context, settings: BaseModel, adjustment: InventoryAdjustment
) -> str:
    """Record a stock change in the ERP (a stock transaction), signed as in the WMS.

    An append write: never safe to repeat. Store ``adjustment.event_id`` with it in the ERP
    where the vendor allows, so :func:`lookup_report` can find it.
    Same once-only rules and return as :func:`report_delivery`. Offers the ``adjustments`` flow.
    """


@hookspec(firstresult=True)
async def lookup_report(ctx: Context, settings: BaseModel, flow: Flow, event: Event) -> str | None:
    """Find out whether an earlier report of ``event`` reached the ERP.

    Called when the process stopped between sending a report and recording the ERP's answer
    (the ledger entry is still ``pending``). The core sends the report again only when this
    returns ``None``, so answer ``None`` only when the ERP certainly does not have it.

    :param flow: ``deliveries``, ``receipts`` or ``adjustments``.
    :return: the ERP's reference if the ERP has the report, else ``None``.

    Required of every plugin that implements a ``report_*`` or ``push_inventory_adjustment``
    hook.
    """


@hookspec(firstresult=True)
async def push_stock(
    ctx: Context, settings: BaseModel, balances: Sequence[StockBalance]
) -> Sequence[Rejection]:
    """Write the warehouse's stock balances to the ERP (absolute values, safe to repeat).

    The core sends only balances that changed since they were last accepted, in batches.

    :return: the balances the ERP refused (empty when all were written).
    Offers the ``stock`` flow.
    """


# --- WMS: writes ---------------------------------------------------------------------------------


@hookspec(firstresult=True)
async def upsert_article(ctx: Context, settings: BaseModel, article: Article) -> WriteResult:
    """Create or update the article in the WMS by its article number. Idempotent."""


@hookspec(firstresult=True)
async def upsert_supplier(ctx: Context, settings: BaseModel, supplier: Supplier) -> WriteResult:
    """Create or update the supplier in the WMS by its supplier number. Idempotent."""


@hookspec(firstresult=True)
async def upsert_order(ctx: Context, settings: BaseModel, order: Order) -> WriteResult:
    """Create or update the order by its order number, only while the WMS allows changes.

    When the warehouse has started on the order, change nothing and return
    ``WriteResult(outcome="skipped", reason=...)``. Idempotent.
    """


@hookspec(firstresult=True)
async def upsert_purchase_order(
    ctx: Context, settings: BaseModel, purchase_order: PurchaseOrder
) -> WriteResult:
    """Create or update the purchase order by its number, only while the WMS allows changes."""


# --- WMS: reads ----------------------------------------------------------------------------------


@hookspec(firstresult=True)
def fetch_deliveries(
    ctx: Context, settings: BaseModel, since: datetime | None
) -> AsyncIterator[Delivery]:
    """Yield the deliveries not yet marked reported (orders Sent or Collected).

    The same unreported delivery must come back with the same ``event_id`` every time until
    :func:`mark_reported` is called for it.
    """


@hookspec(firstresult=True)
def fetch_receipts(
    ctx: Context, settings: BaseModel, since: datetime | None
) -> AsyncIterator[Receipt]:
    """Yield the receipts on purchase orders not yet marked reported (stable ``event_id``;
    ``complete`` when the warehouse closed the purchase order)."""


@hookspec(firstresult=True)
def fetch_inventory_adjustments(
    ctx: Context, settings: BaseModel, since: datetime | None
) -> AsyncIterator[InventoryAdjustment]:
    """Yield the inventory adjustments not yet marked reported, each with its signed quantity
    and a stable ``event_id`` (the WMS's own id of the adjustment), oldest first."""


@hookspec(firstresult=True)
def fetch_stock_balances(ctx: Context, settings: BaseModel) -> AsyncIterator[StockBalance]:
    """Yield the stock balance of every article of the goods owner, page by page.

    Which quantity counts (sellable or physical) is the WMS plugin's setting. The core sends
    the ERP only balances that changed since the ERP last accepted them.
    """


@hookspec(firstresult=True)
async def mark_reported(ctx: Context, settings: BaseModel, flow: Flow, event: Event) -> None:
    """Record in the WMS that ``event`` has reached the ERP, so it is not returned again.

    Called after the ERP accepted the event and the ledger recorded it. Idempotent.
    """
