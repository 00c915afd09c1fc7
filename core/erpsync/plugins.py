"""Plugin discovery, validation, and the typed face of every hook.

Plugins are found through the ``erpsync`` entry-point group, loaded one by one so that one
broken plugin never breaks the others (each failure is kept by name for ``erpsync plugins``),
and validated before use:

- two distributions claiming one entry-point name: neither is loaded, and both are named;
- an import error, an implementation of an unknown hook, a hook with unknown arguments, a
  missing or wrong :func:`~erpsync.hookspecs.describe`, a name that differs from the entry
  point, hooks of the other role, a write-back hook without ``lookup_report``, one of
  ``authorization_url`` and ``complete_authorization`` without the other, or a plugin built
  for another major version of the hook specifications: that plugin is refused;
- ``ERPSYNC_PLUGINS`` (comma-separated names) limits which plugins load at all.

A pluggy hook call reaches every plugin that implements the hook, but each goods owner uses
exactly one ERP and one WMS plugin: :class:`Erp` and :class:`Wms` wrap each hook in a typed
method that calls the hook of that one plugin only. This module is the only place in erpsync
that touches ``pm.hook``.
"""

from __future__ import annotations

import importlib.metadata
import os
from collections.abc import AsyncIterator, Callable, Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

import pluggy
from pydantic import BaseModel, ValidationError

from erpsync import hookspecs
from erpsync.errors import AuthenticationLost, PluginError
from erpsync.hookspecs import (
    HOOKSPEC_VERSION,
    PROJECT,
    Context,
    PluginInfo,
    Rejection,
    WriteResult,
)
from erpsync.models import (
    Article,
    Delivery,
    Event,
    Flow,
    InventoryAdjustment,
    Order,
    PurchaseOrder,
    Receipt,
    Record,
    StockBalance,
    Supplier,
    Unreadable,
)

__all__ = [
    "AUTHORIZATION_HOOKS",
    "ENTRY_POINT_GROUP",
    "ERP_FLOW_HOOKS",
    "SELECT_ENV",
    "WMS_FLOW_HOOKS",
    "Erp",
    "LoadFailure",
    "LoadedPlugin",
    "PluginRegistry",
    "Wms",
    "discover",
]

ENTRY_POINT_GROUP = PROJECT
SELECT_ENV = "ERPSYNC_PLUGINS"

ERP_FLOW_HOOKS: dict[Flow, tuple[str, ...]] = {
    Flow.ARTICLES: ("fetch_articles",),
    Flow.SUPPLIERS: ("fetch_suppliers",),
    Flow.ORDERS: ("fetch_orders",),
    Flow.PURCHASE_ORDERS: ("fetch_purchase_orders",),
    Flow.DELIVERIES: ("report_delivery", "lookup_report"),
    Flow.RECEIPTS: ("report_receipt", "lookup_report"),
    Flow.STOCK: ("push_stock",),
    Flow.ADJUSTMENTS: ("push_inventory_adjustment", "lookup_report"),
}
"""The hooks an ERP plugin implements to offer each flow."""

WMS_FLOW_HOOKS: dict[Flow, tuple[str, ...]] = {
    Flow.ARTICLES: ("upsert_article",),
    Flow.SUPPLIERS: ("upsert_supplier",),
    Flow.ORDERS: ("upsert_order",),
    Flow.PURCHASE_ORDERS: ("upsert_purchase_order",),
    Flow.DELIVERIES: ("fetch_deliveries", "mark_reported"),
    Flow.RECEIPTS: ("fetch_receipts", "mark_reported"),
    Flow.STOCK: ("fetch_stock_balances",),
    Flow.ADJUSTMENTS: ("fetch_inventory_adjustments", "mark_reported"),
}
"""The hooks a WMS plugin implements to offer each flow."""

_COMMON_HOOKS = frozenset({"describe", "check_connection", "sandbox", "enabled_flows"})
AUTHORIZATION_HOOKS = ("authorization_url", "complete_authorization")
"""The hooks of ``erpsync authorize`` (an ERP plugin implements both or neither)."""
_ROLE_HOOKS = {
    "erp": frozenset(h for hooks in ERP_FLOW_HOOKS.values() for h in hooks) | _COMMON_HOOKS
    | frozenset(AUTHORIZATION_HOOKS),
    "wms": frozenset(h for hooks in WMS_FLOW_HOOKS.values() for h in hooks) | _COMMON_HOOKS,
}
_WRITE_BACK = ("report_delivery", "report_receipt", "push_inventory_adjustment")

R = TypeVar("R", bound=Record)


@dataclass(frozen=True)
class LoadFailure:
    """A plugin that could not be loaded, and why (shown by ``erpsync plugins``)."""

    name: str
    distribution: str | None
    error: str


@dataclass(frozen=True)
class LoadedPlugin:
    name: str
    info: PluginInfo
    distribution: str | None
    hooks: frozenset[str]
    flows: tuple[Flow, ...]
    """The flows offered, in cycle order."""
    obj: object = field(repr=False, compare=False)

    @property
    def role(self) -> str:
        return self.info.role

    def validate_settings(self, data: dict[str, Any]) -> BaseModel:
        """The plugin's settings model applied to ``data`` (raises pydantic's ValidationError).

        A key the model does not know is an error whatever the model's own ``extra`` setting:
        a misspelt setting silently ignored is a setting the operator believes is in force.
        """
        model = self.info.settings_model
        known = {name for name, f in model.model_fields.items()} | {
            f.alias for f in model.model_fields.values() if f.alias}
        errors: list[Any] = [
            {"type": "extra_forbidden", "loc": (key,), "input": None}
            for key in data if key not in known
        ]
        try:
            settings = model.model_validate(data)
        except ValidationError as error:
            found = error.errors(include_url=False)
            reported = {e["loc"] for e in found if e["type"] == "extra_forbidden"}
            errors = [*found, *(e for e in errors if e["loc"] not in reported)]
            settings = None
        if errors:
            raise ValidationError.from_exception_data(model.__name__, errors)
        assert settings is not None
        return settings


def _distribution(ep: importlib.metadata.EntryPoint) -> str | None:
    dist = getattr(ep, "dist", None)
    return f"{dist.name} {dist.version}" if dist is not None else None


def _major(version: str) -> str:
    return version.split(".", 1)[0]


class PluginRegistry:
    """The loaded plugins and the single pluggy manager that holds them."""

    def __init__(self) -> None:
        self.pm = pluggy.PluginManager(PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.plugins: dict[str, LoadedPlugin] = {}
        self.failures: list[LoadFailure] = []
        self._callers: dict[tuple[str, str], Callable[..., Any]] = {}

    # --- loading ---------------------------------------------------------------------------

    def register(self, name: str, obj: object, distribution: str | None = None) -> None:
        """Validate and register one plugin object; on failure record it and go on."""
        try:
            self.plugins[name] = self._register(name, obj, distribution)
        except PluginError as error:
            self.failures.append(LoadFailure(name, distribution, error.message))

    def _register(self, name: str, obj: object, distribution: str | None) -> LoadedPlugin:
        if name in self.plugins:
            raise PluginError(f"plugin name {name!r} is already taken")
        try:
            self.pm.register(obj, name=name)
        except pluggy.PluginValidationError as error:
            raise PluginError(f"plugin {name!r} has an invalid hook: {error}") from error
        except ValueError as error:
            raise PluginError(f"plugin {name!r} cannot be registered: {error}") from error
        try:
            return self._validate(name, obj, distribution)
        except PluginError:
            self.pm.unregister(obj)
            raise

    def _validate(self, name: str, obj: object, distribution: str | None) -> LoadedPlugin:
        callers = self.pm.get_hookcallers(obj) or []
        unknown = sorted(c.name for c in callers if c.spec is None)
        if unknown:
            known = ", ".join(sorted(_ROLE_HOOKS["erp"] | _ROLE_HOOKS["wms"]))
            raise PluginError(
                f"plugin {name!r} implements unknown hook(s) {', '.join(unknown)}; "
                f"the known hooks are: {known}"
            )
        hooks = frozenset(c.name for c in callers)
        if "describe" not in hooks:
            raise PluginError(f"plugin {name!r} does not implement the describe hook")
        try:
            info = self._caller(name, "describe")()
        except Exception as error:
            raise PluginError(f"plugin {name!r}: describe() failed: {error!r}") from error
        if not isinstance(info, PluginInfo):
            raise PluginError(
                f"plugin {name!r}: describe() returned {type(info).__name__}, not PluginInfo"
            )
        if info.name != name:
            raise PluginError(
                f"plugin {name!r} describes itself as {info.name!r}: the entry-point name and "
                "PluginInfo.name must be equal"
            )
        if not (isinstance(info.settings_model, type) and issubclass(info.settings_model,
                                                                      BaseModel)):
            raise PluginError(f"plugin {name!r}: settings_model is not a pydantic model")
        if _major(info.hookspec_version) != _major(HOOKSPEC_VERSION):
            raise PluginError(
                f"plugin {name!r} was built for erpsync hook specifications "
                f"{info.hookspec_version}; this erpsync provides {HOOKSPEC_VERSION}: install a "
                f"version of the plugin made for {_major(HOOKSPEC_VERSION)}.x"
            )
        foreign = sorted(hooks - _ROLE_HOOKS[info.role])
        if foreign:
            raise PluginError(
                f"{info.role} plugin {name!r} implements hooks of the other role: "
                f"{', '.join(foreign)}"
            )
        if info.role == "erp" and "lookup_report" not in hooks:
            lacking = [h for h in _WRITE_BACK if h in hooks]
            if lacking:
                raise PluginError(
                    f"plugin {name!r} implements {', '.join(lacking)} but not lookup_report, "
                    "which the write-back ledger needs to avoid reporting twice after a crash"
                )
        halves = [h for h in AUTHORIZATION_HOOKS if h in hooks]
        if len(halves) == 1:
            other = next(h for h in AUTHORIZATION_HOOKS if h not in hooks)
            raise PluginError(
                f"plugin {name!r} implements {halves[0]} but not {other}: `erpsync authorize` "
                "needs both (the consent URL, and the exchange of the code it returns)"
            )
        table = ERP_FLOW_HOOKS if info.role == "erp" else WMS_FLOW_HOOKS
        flows = tuple(f for f in Flow if all(h in hooks for h in table[f]))
        return LoadedPlugin(name, info, distribution, hooks, flows, obj)

    # --- lookup ----------------------------------------------------------------------------

    def get(self, name: str, role: str | None = None) -> LoadedPlugin:
        plugin = self.plugins.get(name)
        if plugin is None:
            failed = next((f for f in self.failures if f.name == name), None)
            if failed is not None:
                raise PluginError(f"plugin {name!r} failed to load: {failed.error}")
            have = ", ".join(sorted(self.plugins)) or "none"
            raise PluginError(
                f"no plugin named {name!r} is installed (installed: {have}); "
                f"pip install the distribution that provides it"
            )
        if role is not None and plugin.role != role:
            raise PluginError(
                f"plugin {name!r} is an {plugin.role.upper()} plugin, not a {role.upper()} plugin"
            )
        return plugin

    def erp(self, name: str, settings: BaseModel) -> Erp:
        return Erp(self, self.get(name, "erp"), settings)

    def wms(self, name: str, settings: BaseModel) -> Wms:
        return Wms(self, self.get(name, "wms"), settings)

    def enabled_flows(self, name: str, settings: BaseModel) -> tuple[Flow, ...]:
        """The flows plugin ``name`` offers that ``settings`` switch on (its ``enabled_flows``
        hook; every offered flow without one), in cycle order."""
        plugin = self.get(name)
        if "enabled_flows" not in plugin.hooks:
            return plugin.flows
        chosen = self._caller(name, "enabled_flows")(settings=settings)
        if isinstance(chosen, str | bytes) or not isinstance(chosen, Collection) or not all(
                isinstance(f, Flow) for f in chosen):
            raise PluginError(f"plugin {name!r}: enabled_flows must return a collection of Flow")
        return tuple(f for f in plugin.flows if f in chosen)

    def sandbox(self, name: str) -> Any:
        """A fresh simulator from plugin ``name``'s ``sandbox`` hook."""
        plugin = self.get(name)
        if "sandbox" not in plugin.hooks:
            raise PluginError(f"plugin {name!r} ships no simulator (it has no sandbox hook)")
        return self._caller(name, "sandbox")()

    def _caller(self, name: str, hook: str) -> Callable[..., Any]:
        """The hook ``hook`` of plugin ``name`` only: the one place ``pm.hook`` is touched."""
        caller = self._callers.get((name, hook))
        if caller is None:
            target = self.pm.get_plugin(name)
            others = [p for p in self.pm.get_plugins() if p is not target]
            caller = self.pm.subset_hook_caller(hook, remove_plugins=others)
            self._callers[(name, hook)] = caller
        return caller


def discover(
    select: Collection[str] | None = None,
    entry_points: Iterable[importlib.metadata.EntryPoint] | None = None,
) -> PluginRegistry:
    """Load the plugins of the ``erpsync`` entry-point group, one by one.

    :param select: names to load (default: ``$ERPSYNC_PLUGINS`` if set, else all).
    :param entry_points: for tests; default: the installed entry points.
    """
    if select is None and os.environ.get(SELECT_ENV):
        select = {n.strip() for n in os.environ[SELECT_ENV].split(",") if n.strip()}
    eps = list(entry_points if entry_points is not None
               else importlib.metadata.entry_points(group=ENTRY_POINT_GROUP))
    registry = PluginRegistry()
    by_name: dict[str, list[importlib.metadata.EntryPoint]] = {}
    for ep in eps:
        if select is None or ep.name in select:
            by_name.setdefault(ep.name, []).append(ep)
    for name, claims in sorted(by_name.items()):
        dists = {_distribution(ep) or ep.value for ep in claims}
        if len(dists) > 1:
            registry.failures.append(LoadFailure(
                name, None,
                f"the plugin name {name!r} is claimed by {len(dists)} distributions "
                f"({'; '.join(sorted(dists))}): neither is loaded; uninstall all but one",
            ))
            continue
        ep = claims[0]
        try:
            obj = ep.load()
        except Exception as error:
            registry.failures.append(LoadFailure(
                name, _distribution(ep), f"could not import {ep.value}: {error!r}"
            ))
            continue
        registry.register(name, obj, _distribution(ep))
    return registry


# --- the typed face of the hooks -----------------------------------------------------------------


class _Bound:
    def __init__(self, registry: PluginRegistry, plugin: LoadedPlugin, settings: BaseModel) -> None:
        self.registry = registry
        self.plugin = plugin
        self.settings = settings

    @property
    def name(self) -> str:
        return self.plugin.name

    def _call(self, hook: str, ctx: Context, **kwargs: Any) -> Any:
        if hook not in self.plugin.hooks:
            raise PluginError(f"plugin {self.name!r} does not implement {hook}")
        return self.registry._caller(self.name, hook)(ctx=ctx, settings=self.settings, **kwargs)

    async def _stream(
        self, hook: str, model: type[R], ctx: Context, **kwargs: Any
    ) -> AsyncIterator[R]:
        async for record in self._stream_or_unreadable(hook, model, ctx, **kwargs):
            if isinstance(record, Unreadable):
                raise PluginError(f"plugin {self.name!r}: {hook} may not yield Unreadable")
            yield record

    async def _stream_or_unreadable(
        self, hook: str, model: type[R], ctx: Context, **kwargs: Any
    ) -> AsyncIterator[R | Unreadable]:
        stream = self._call(hook, ctx, **kwargs)
        if not hasattr(stream, "__aiter__"):
            raise PluginError(f"plugin {self.name!r}: {hook} must be an async generator")
        with self._blamed():
            async for record in stream:
                if isinstance(record, Unreadable):
                    yield record
                    continue
                if not isinstance(record, model):
                    raise PluginError(
                        f"plugin {self.name!r}: {hook} yielded {type(record).__name__}, "
                        f"expected {model.__name__}"
                    )
                yield record

    async def _await(self, hook: str, ctx: Context, **kwargs: Any) -> Any:
        with self._blamed():
            return await self._call(hook, ctx, **kwargs)

    @contextmanager
    def _blamed(self) -> Iterator[None]:
        """Mark refused credentials with this plugin's role: the status then says whose."""
        try:
            yield
        except AuthenticationLost as error:
            error.role = error.role or self.plugin.role
            raise

    async def check_connection(self, ctx: Context) -> None:
        if "check_connection" in self.plugin.hooks:
            await self._await("check_connection", ctx)


class Erp(_Bound):
    """One ERP plugin bound to one goods owner's settings."""

    @property
    def can_authorize(self) -> bool:
        """Whether the plugin implements the consent hooks (``erpsync authorize``)."""
        return all(h in self.plugin.hooks for h in AUTHORIZATION_HOOKS)

    def authorization_url(self, redirect_uri: str, state: str) -> str | None:
        """The consent page for these settings, or None when they need no consent (also when
        the plugin has no consent hooks)."""
        if not self.can_authorize:
            return None
        url = self.registry._caller(self.name, "authorization_url")(
            settings=self.settings, redirect_uri=redirect_uri, state=state)
        if url is not None and not (isinstance(url, str) and url.startswith(("https://",
                                                                             "http://"))):
            raise PluginError(f"plugin {self.name!r}: authorization_url must return an http(s) "
                              "URL or None")
        return url

    async def complete_authorization(self, ctx: Context, code: str, redirect_uri: str) -> None:
        await self._await("complete_authorization", ctx, code=code, redirect_uri=redirect_uri)

    def fetch_articles(
        self, ctx: Context, since: datetime | None
    ) -> AsyncIterator[Article | Unreadable]:
        return self._stream_or_unreadable("fetch_articles", Article, ctx, since=since)

    def fetch_suppliers(
        self, ctx: Context, since: datetime | None
    ) -> AsyncIterator[Supplier | Unreadable]:
        return self._stream_or_unreadable("fetch_suppliers", Supplier, ctx, since=since)

    def fetch_orders(
        self, ctx: Context, since: datetime | None
    ) -> AsyncIterator[Order | Unreadable]:
        return self._stream_or_unreadable("fetch_orders", Order, ctx, since=since)

    def fetch_purchase_orders(
        self, ctx: Context, since: datetime | None
    ) -> AsyncIterator[PurchaseOrder | Unreadable]:
        return self._stream_or_unreadable("fetch_purchase_orders", PurchaseOrder, ctx, since=since)

    async def report_delivery(self, ctx: Context, delivery: Delivery) -> str:
        return str(await self._await("report_delivery", ctx, delivery=delivery))

    async def report_receipt(self, ctx: Context, receipt: Receipt) -> str:
        return str(await self._await("report_receipt", ctx, receipt=receipt))

    async def push_inventory_adjustment(self, ctx: Context, adjustment: InventoryAdjustment) -> str:
        return str(await self._await("push_inventory_adjustment", ctx, adjustment=adjustment))

    async def lookup_report(self, ctx: Context, flow: Flow, event: Event) -> str | None:
        found = await self._await("lookup_report", ctx, flow=flow, event=event)
        return None if found is None else str(found)

    async def push_stock(
        self, ctx: Context, balances: Sequence[StockBalance]
    ) -> Sequence[Rejection]:
        rejections = await self._await("push_stock", ctx, balances=balances)
        if rejections is None:
            return ()
        if not all(isinstance(r, Rejection) for r in rejections):
            raise PluginError(f"plugin {self.name!r}: push_stock must return Rejection objects")
        return tuple(rejections)


class Wms(_Bound):
    """One WMS plugin bound to one goods owner's settings."""

    async def _upsert(self, hook: str, ctx: Context, **kwargs: Any) -> WriteResult:
        result = await self._await(hook, ctx, **kwargs)
        if not isinstance(result, WriteResult):
            raise PluginError(f"plugin {self.name!r}: {hook} must return a WriteResult")
        return result

    async def upsert_article(self, ctx: Context, article: Article) -> WriteResult:
        return await self._upsert("upsert_article", ctx, article=article)

    async def upsert_supplier(self, ctx: Context, supplier: Supplier) -> WriteResult:
        return await self._upsert("upsert_supplier", ctx, supplier=supplier)

    async def upsert_order(self, ctx: Context, order: Order) -> WriteResult:
        return await self._upsert("upsert_order", ctx, order=order)

    async def upsert_purchase_order(
        self, ctx: Context, purchase_order: PurchaseOrder
    ) -> WriteResult:
        return await self._upsert("upsert_purchase_order", ctx, purchase_order=purchase_order)

    def fetch_deliveries(self, ctx: Context, since: datetime | None) -> AsyncIterator[Delivery]:
        return self._stream("fetch_deliveries", Delivery, ctx, since=since)

    def fetch_receipts(self, ctx: Context, since: datetime | None) -> AsyncIterator[Receipt]:
        return self._stream("fetch_receipts", Receipt, ctx, since=since)

    def fetch_inventory_adjustments(
        self, ctx: Context, since: datetime | None
    ) -> AsyncIterator[InventoryAdjustment]:
        return self._stream("fetch_inventory_adjustments", InventoryAdjustment, ctx, since=since)

    def fetch_stock_balances(self, ctx: Context) -> AsyncIterator[StockBalance]:
        return self._stream("fetch_stock_balances", StockBalance, ctx)

    async def mark_reported(self, ctx: Context, flow: Flow, event: Event) -> None:
        await self._await("mark_reported", ctx, flow=flow, event=event)
