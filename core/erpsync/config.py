"""The operator's configuration: one TOML file, every goods owner in it.

::

    state_dir = "state"            # relative to this file; where cursors, ledger, tokens live
    # state_url = { env = "ERPSYNC_STATE_URL" }  # or: the state in PostgreSQL (erpsync[postgres])
    concurrency = 8                # goods owners served at once
    overlap_seconds = 300          # incremental reads start this far before the cursor

    [[goods_owners]]
    id = "acme"
    interval_minutes = 15          # how often `erpsync serve` runs this goods owner
    flows = ["articles", "orders", "deliveries"]   # default: every flow both plugins offer

    [goods_owners.erp]
    plugin = "myerp"
    [goods_owners.erp.settings]    # validated by the plugin's own settings model
    customer_id = "ACME-API"
    private_key = { env = "ACME_ERP_KEY" }    # secrets by reference: env or file

    [goods_owners.wms]
    plugin = "mywms"
    [goods_owners.wms.settings]
    password = { file = "/run/credentials/erpsync.service/acme-wms" }

    [service]                      # optional: the HTTP surface of `erpsync serve`
    port = 8470                    # off unless a port is given
    host = "127.0.0.1"             # the default; any other address needs the token
    token = { env = "ERPSYNC_SERVICE_TOKEN" }     # Bearer token (or Basic password), by reference

    engine = "temporal"            # optional: the flows on Temporal workers (erpsync[temporal]);
    [temporal]                     # needs state_url: every worker shares the state
    address = "temporal.example.com:7233"
    namespace = "erpsync"
    task_queue = "erpsync"
    api_key = { env = "TEMPORAL_API_KEY" }        # Temporal Cloud: an API key (TLS is implied)

    [notify]                       # optional: who hears when a goods owner must re-authorise
    webhook_url = "https://hooks.example.com/erpsync"     # or { env = "..." } if it is secret
    [notify.email]
    host = "smtp.example.com"
    port = 587
    from = "erpsync@example.com"
    to = ["ops@example.com"]
    username = { env = "SMTP_USER" }                      # secrets by reference
    password = { env = "SMTP_PASSWORD" }
    starttls = true

:func:`load_config` reports every problem at once, each naming the file, the goods owner and
the field, with the fix; it never echoes a value (a misplaced secret must not be printed).
"""

from __future__ import annotations

import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from erpsync.errors import ConfigError, ConfigProblem, PluginError
from erpsync.http import check_base_url, is_loopback
from erpsync.models import Flow
from erpsync.plugins import PluginRegistry
from erpsync.secrets import Secret, resolve_secret

__all__ = ["Config", "EmailSettings", "GoodsOwner", "NotifySettings", "ServiceSettings",
           "TemporalSettings", "TimeZoneName", "load_config"]


def _time_zone(value: str) -> str:
    value = value.strip()
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {value!r}: give an IANA name such as "
                         "Europe/Helsinki") from None
    return value


TimeZoneName = Annotated[str, AfterValidator(_time_zone)]
"""A plugin setting naming a time zone (IANA, e.g. ``Europe/Oslo``), checked when loaded."""


def _webhook_url(value: object) -> str:
    """A webhook URL, given plainly or, since it often carries a token, by secret reference."""
    if isinstance(value, dict):
        value = resolve_secret(value).get_secret_value()
    if not isinstance(value, str):
        raise ValueError('give a URL such as "https://hooks.example.com/erpsync", or a '
                         'reference { env = "VARIABLE" }')
    parts = urlsplit(value.strip())
    if parts.username or parts.password:
        raise ValueError("give the URL without user and password")
    origin = f"{parts.scheme}://{parts.netloc}" if parts.netloc else value
    check_base_url(origin, example="https://hooks.example.com/erpsync")
    return value.strip()


def _state_url(value: object) -> str:
    """A PostgreSQL URL, given plainly when it holds no password, else by secret reference."""
    if isinstance(value, dict):
        value = resolve_secret(value).get_secret_value()
    elif isinstance(value, str) and urlsplit(value.strip()).password:
        raise ValueError('this URL holds a password: give it by reference, '
                         'state_url = { env = "ERPSYNC_STATE_URL" }')
    if not isinstance(value, str):
        raise ValueError('give a URL such as "postgresql://erpsync@db.example.com/erpsync", '
                         'or a reference { env = "VARIABLE" }')
    if urlsplit(value.strip()).scheme not in ("postgresql", "postgres"):
        raise ValueError("give a postgresql:// URL (the embedded store needs none: leave "
                         "state_url out)")
    return value.strip()


def _address(value: str) -> str:
    value = value.strip()
    local, at, domain = value.rpartition("@")
    if not at or not local or "." not in domain or any(c in value for c in " ,;<>\r\n"):
        raise ValueError("not an e-mail address: give one such as ops@example.com")
    return value


Address = Annotated[str, AfterValidator(_address)]


class EmailSettings(BaseModel):
    """``[notify.email]``: an SMTP server and who gets the message."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    host: str = Field(min_length=1)
    port: int = Field(default=587, ge=1, le=65535)
    sender: Address = Field(alias="from")
    to: list[Address] = Field(min_length=1)
    username: Secret | None = None
    password: Secret | None = None
    starttls: bool = True

    @model_validator(mode="after")
    def _both_or_neither(self) -> EmailSettings:
        if (self.username is None) != (self.password is None):
            raise ValueError("give both username and password, or neither")
        return self


class NotifySettings(BaseModel):
    """``[notify]``: where a goods owner's "needs re-authorisation" is announced."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    webhook_url: Annotated[str, BeforeValidator(_webhook_url)] | None = None
    email: EmailSettings | None = None

    @model_validator(mode="after")
    def _something(self) -> NotifySettings:
        if self.webhook_url is None and self.email is None:
            raise ValueError("[notify] needs webhook_url, [notify.email], or both")
        return self


class ServiceSettings(BaseModel):
    """``[service]``: where ``erpsync serve`` answers /healthz, /readyz, /metrics and its
    status page. Bound to anything but loopback, every endpoint but /healthz asks for the
    token, so a token is required there."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    port: int = Field(ge=0, le=65535)
    """0: any free port (tests)."""
    host: str = Field(default="127.0.0.1", min_length=1)
    token: Secret | None = None
    state_check_seconds: float = Field(default=5.0, gt=0, le=300)
    """How often the service proves the state store answers (a failed one halts the schedule
    and makes /healthz and /readyz answer 503 until it answers again)."""

    @model_validator(mode="after")
    def _token_off_loopback(self) -> ServiceSettings:
        if self.token is None and not is_loopback(self.host):
            raise ValueError(
                f"host {self.host!r} is not loopback: give token = {{ env = \"VARIABLE\" }} "
                "(every endpoint but /healthz will ask for it), or bind to 127.0.0.1")
        if self.token is not None and len(self.token.get_secret_value()) < 16:
            raise ValueError("the token is too short: give at least 16 random characters "
                             "(for example from `python3 -c 'import secrets; "
                             "print(secrets.token_urlsafe(32))'`)")
        return self

    @property
    def loopback(self) -> bool:
        return is_loopback(self.host)


class TemporalSettings(BaseModel):
    """``[temporal]``: where the Temporal service is, with ``engine = "temporal"``.

    Secrets by reference: ``api_key`` (Temporal Cloud), or mutual TLS with ``client_cert`` and
    ``client_key`` (PEM, e.g. ``{ file = "/run/credentials/..." }``); ``server_ca`` when the
    server's certificate is not signed by a public authority.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    address: str = Field(default="localhost:7233", pattern=r"^[^\s/]+:\d{1,5}$")
    namespace: str = Field(default="default", min_length=1)
    task_queue: str = Field(default="erpsync", min_length=1)
    schedule_prefix: str = Field(default="erpsync", pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    """Schedules are ``PREFIX:GOODS_OWNER``; erpsync manages those and leaves others alone."""
    tls: bool = False
    api_key: Secret | None = None
    client_cert: Secret | None = None
    client_key: Secret | None = None
    server_ca: Secret | None = None
    heartbeat_seconds: float = Field(default=30, ge=1, le=600)
    """A worker silent this long is presumed dead: its flow runs again on another worker, once
    the goods owner's lock (held as long) has expired."""
    flow_timeout_minutes: float = Field(default=60, gt=0)
    """The longest one flow of one goods owner may take, retries included."""
    jitter_seconds: float = Field(default=30, ge=0)
    """Each cycle starts up to this much later than its interval says (spreads the load)."""

    @model_validator(mode="after")
    def _pairs(self) -> TemporalSettings:
        if (self.client_cert is None) != (self.client_key is None):
            raise ValueError("give both client_cert and client_key (mutual TLS), or neither")
        return self

    @property
    def uses_tls(self) -> bool:
        return (self.tls or self.api_key is not None or self.client_cert is not None
                or self.server_ca is not None)


class _PluginRef(BaseModel):
    model_config = ConfigDict(extra="forbid")
    plugin: str = Field(min_length=1)
    settings: dict[str, Any] = {}


class _OwnerFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    interval_minutes: float = Field(default=15, gt=0)
    flows: list[Flow] | None = None
    enabled: bool = True
    erp: _PluginRef
    wms: _PluginRef


class _ConfigFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    state_dir: str = "state"
    state_url: Annotated[str, BeforeValidator(_state_url)] | None = None
    concurrency: int = Field(default=8, ge=1, le=1000)
    overlap_seconds: float = Field(default=300, ge=0)
    goods_owners: list[_OwnerFile] = []
    notify: NotifySettings | None = None
    service: ServiceSettings | None = None
    engine: Literal["embedded", "temporal"] = "embedded"
    temporal: TemporalSettings | None = None

    @model_validator(mode="after")
    def _engine(self) -> _ConfigFile:
        if self.engine == "temporal" and self.state_url is None:
            raise ValueError('engine = "temporal" runs the flows on workers on any host, which '
                             'must share one state: give state_url (PostgreSQL) too')
        if self.engine != "temporal" and self.temporal is not None:
            raise ValueError('[temporal] is only read with engine = "temporal": add that, or '
                             "remove [temporal]")
        return self


@dataclass(frozen=True)
class GoodsOwner:
    """One goods owner, its two plugins with validated settings, and the flows switched on."""

    id: str
    interval_minutes: float
    flows: tuple[Flow, ...]
    erp_plugin: str
    erp_settings: BaseModel
    wms_plugin: str
    wms_settings: BaseModel
    enabled: bool = True


@dataclass(frozen=True)
class Config:
    path: Path
    state_dir: Path
    concurrency: int
    overlap_seconds: float
    goods_owners: tuple[GoodsOwner, ...]
    notify: NotifySettings | None = None
    service: ServiceSettings | None = None
    state_url: str | None = None
    """Set: the state is in this PostgreSQL database, not in ``state_dir``."""
    temporal: TemporalSettings | None = None
    """Set (``engine = "temporal"``): the flows run on Temporal workers, not in ``serve``."""

    def owner(self, owner_id: str) -> GoodsOwner:
        for owner in self.goods_owners:
            if owner.id == owner_id:
                return owner
        known = ", ".join(o.id for o in self.goods_owners) or "none"
        raise ConfigError([ConfigProblem(
            str(self.path), f"no goods owner {owner_id!r} (configured: {known})",
            "use one of the configured ids",
        )])


_FIXES = {
    "missing": "add this field",
    "extra_forbidden": "remove this field (it is not a known setting; check its spelling)",
    "string_too_short": "give a non-empty value",
    "string_pattern_mismatch": "use letters, digits, '_', '.' or '-' only",
    "greater_than": "give a larger number",
    "greater_than_equal": "give a larger number",
    "less_than_equal": "give a smaller number",
    "enum": "use one of the values the message lists",
    "url_parsing": "give a full URL such as https://host/path",
    "too_short": "give at least one value",
}


def _problems(where: str, prefix: str, error: ValidationError) -> list[ConfigProblem]:
    problems = []
    for item in error.errors(include_input=False, include_url=False):
        loc = ".".join(part for part in (prefix, *map(str, item["loc"])) if part)
        message = str(item["msg"]).removeprefix("Value error, ")
        fix = _FIXES.get(item["type"], "correct this value")
        problems.append(ConfigProblem(f"{where}: {loc}" if loc else where, message, fix))
    return problems


def _where(path: Path, owner: _OwnerFile | dict[str, Any] | None) -> str:
    if owner is None:
        return str(path)
    owner_id = owner.id if isinstance(owner, _OwnerFile) else owner.get("id", "?")
    return f"{path}: goods owner {owner_id!r}"


def load_config(path: str | Path, registry: PluginRegistry) -> Config:
    """Read, validate and resolve the config at ``path``; :class:`ConfigError` lists problems."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError([ConfigProblem(
            str(path), "the config file does not exist",
            "create it (see README 'Configuration') or pass --config PATH",
        )]) from None
    except OSError as error:
        raise ConfigError([ConfigProblem(str(path), f"cannot read: {error.strerror}",
                                         "check the path and its permissions")]) from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError([ConfigProblem(str(path), f"not valid TOML: {error}",
                                         "fix the TOML syntax at that line")]) from None

    problems: list[ConfigProblem] = []
    owners_raw = raw.pop("goods_owners", [])
    try:
        top = _ConfigFile.model_validate(raw)
    except ValidationError as error:
        problems += _problems(str(path), "", error)
        top = _ConfigFile()
    if not isinstance(owners_raw, list):
        problems.append(ConfigProblem(str(path), "goods_owners must be a list of tables",
                                      "write each goods owner as [[goods_owners]]"))
        owners_raw = []

    owners: list[GoodsOwner] = []
    seen: set[str] = set()
    for index, item in enumerate(owners_raw):
        where = _where(path, item if isinstance(item, dict) else None)
        raw_id = item.get("id") if isinstance(item, dict) else None
        if isinstance(raw_id, str) and raw_id in seen:
            problems.append(ConfigProblem(where, "this id is used twice",
                                          "give every goods owner its own id"))
            continue
        if isinstance(raw_id, str):
            seen.add(raw_id)
        try:
            spec = _OwnerFile.model_validate(item)
        except ValidationError as error:
            problems += _problems(where, f"goods_owners[{index}]", error)
            continue
        owner = _resolve(where, spec, registry, problems)
        if owner is not None:
            owners.append(owner)

    if problems:
        raise ConfigError(problems)
    state_dir = Path(top.state_dir).expanduser()
    if not state_dir.is_absolute():
        state_dir = path.parent / state_dir
    temporal = top.temporal or (TemporalSettings() if top.engine == "temporal" else None)
    return Config(path, state_dir, top.concurrency, top.overlap_seconds, tuple(owners),
                  top.notify, top.service, top.state_url, temporal)


def _resolve(
    where: str, spec: _OwnerFile, registry: PluginRegistry, problems: list[ConfigProblem]
) -> GoodsOwner | None:
    count = len(problems)
    settings: dict[str, BaseModel] = {}
    offered: dict[str, Sequence[Flow]] = {}
    enabled: dict[str, Sequence[Flow]] = {}
    for role, ref in (("erp", spec.erp), ("wms", spec.wms)):
        try:
            plugin = registry.get(ref.plugin, role)
        except PluginError as error:
            problems.append(ConfigProblem(f"{where}: {role}.plugin", error.message,
                                          "run `erpsync plugins` to see what is installed"))
            continue
        try:
            settings[role] = plugin.validate_settings(ref.settings)
        except ValidationError as error:
            problems += _problems(where, f"{role}.settings", error)
            continue
        offered[role] = plugin.flows
        try:
            enabled[role] = registry.enabled_flows(ref.plugin, settings[role])
        except PluginError as error:
            problems.append(ConfigProblem(f"{where}: {role}.settings", error.message,
                                          "report this to the plugin's authors"))
    if len(problems) > count:
        return None
    both = [f for f in Flow if f in enabled["erp"] and f in enabled["wms"]]
    flows = both if spec.flows is None else list(dict.fromkeys(spec.flows))
    for flow in flows:
        for role, ref in (("erp", spec.erp), ("wms", spec.wms)):
            if flow not in offered[role]:
                offers = ", ".join(offered[role]) or "none"
                problems.append(ConfigProblem(
                    f"{where}: flows", f"flow {flow.value!r} is not offered by {role} plugin "
                    f"{ref.plugin!r} (it offers: {offers})", "remove it from flows",
                ))
            elif flow not in enabled[role]:
                problems.append(ConfigProblem(
                    f"{where}: flows", f"flow {flow.value!r} is switched off by the settings "
                    f"of {role} plugin {ref.plugin!r}",
                    f"switch it on in [goods_owners.{role}.settings] or remove it from flows",
                ))
    if len(problems) > count:
        return None
    ordered = tuple(f for f in Flow if f in flows)
    return GoodsOwner(spec.id, spec.interval_minutes, ordered, spec.erp.plugin, settings["erp"],
                      spec.wms.plugin, settings["wms"], spec.enabled)
