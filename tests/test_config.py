"""The operator's config: every problem named with file, goods owner, field and fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from erpsync.config import load_config
from erpsync.errors import ConfigError
from erpsync.models import Flow
from erpsync.plugins import PluginRegistry, discover
from tests.conftest import MakeDist

PLUGINS = {
    "cfg_erp": """
from pydantic import BaseModel
from erpsync.hookspecs import hookimpl, PluginInfo
from erpsync.secrets import Secret

class Settings(BaseModel):
    user: str
    key: Secret

@hookimpl
def describe():
    return PluginInfo(name="cfg_erp", version="1", role="erp", settings_model=Settings)

@hookimpl
async def fetch_articles(ctx, settings, since):
    yield None

@hookimpl
async def fetch_orders(ctx, settings, since):
    yield None
""",
    "cfg_wms": """
from pydantic import BaseModel
from erpsync.hookspecs import hookimpl, PluginInfo

from erpsync.models import Flow

class Settings(BaseModel):
    warehouse: str = "main"
    articles: bool = True
    broken_switches: bool = False

@hookimpl
def describe():
    return PluginInfo(name="cfg_wms", version="1", role="wms", settings_model=Settings)

@hookimpl
def enabled_flows(settings):
    if settings.broken_switches:
        return "articles"
    return {Flow.ARTICLES, Flow.STOCK} if settings.articles else {Flow.STOCK}

@hookimpl
async def upsert_article(ctx, settings, article):
    return None
""",
}

GOOD = """
state_dir = "st"

[[goods_owners]]
id = "acme"
interval_minutes = 5

[goods_owners.erp]
plugin = "cfg_erp"
settings = { user = "u", key = { env = "CFG_TEST_KEY" } }

[goods_owners.wms]
plugin = "cfg_wms"
"""


@pytest.fixture
def registry(make_dist: MakeDist, monkeypatch: pytest.MonkeyPatch) -> PluginRegistry:
    make_dist("cfg-plugins", PLUGINS, {"cfg_erp": "cfg_erp", "cfg_wms": "cfg_wms"})
    monkeypatch.setenv("CFG_TEST_KEY", "very-secret-key-value")
    return discover(select={"cfg_erp", "cfg_wms"})


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "erpsync.toml"
    path.write_text(text, encoding="utf-8")
    return path


def problems(path: Path, registry: PluginRegistry) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(path, registry)
    return [str(p) for p in caught.value.problems]


def test_a_good_config_resolves(tmp_path: Path, registry: PluginRegistry) -> None:
    config = load_config(write(tmp_path, GOOD), registry)
    (owner,) = config.goods_owners
    assert owner.id == "acme"
    assert owner.interval_minutes == 5
    assert owner.flows == (Flow.ARTICLES,), "only the flows both plugins offer"
    assert owner.erp_settings.key.get_secret_value() == "very-secret-key-value"  # type: ignore[attr-defined]
    assert config.state_dir == tmp_path / "st"
    assert config.concurrency == 8


def test_every_problem_is_reported_at_once_with_its_place_and_fix(
    tmp_path: Path, registry: PluginRegistry
) -> None:
    text = GOOD.replace('user = "u", ', 'usr = "u", ').replace("interval_minutes = 5",
                                                             "interval_minutes = 0")
    text += """
[[goods_owners]]
id = "acme"
[goods_owners.erp]
plugin = "cfg_erp"
settings = { user = "u", key = { env = "CFG_TEST_KEY" } }
[goods_owners.wms]
plugin = "nowhere"
"""
    found = problems(write(tmp_path, text), registry)
    path = str(tmp_path / "erpsync.toml")
    assert any(p.startswith(f"{path}: goods owner 'acme': goods_owners[0].interval_minutes")
               and "fix: give a larger number" in p for p in found), found
    assert f"{path}: goods owner 'acme': this id is used twice (fix: give every goods owner " \
           "its own id)" in found


def test_plugin_settings_problems_name_the_field(tmp_path: Path, registry: PluginRegistry) -> None:
    text = GOOD.replace('user = "u", ', 'usr = "u", ')
    found = problems(write(tmp_path, text), registry)
    assert any("goods owner 'acme': erp.settings.user: Field required (fix: add this field)" in p
               for p in found), found
    assert any("erp.settings.usr" in p and "not a known setting" in p for p in found), found


def test_unknown_plugins_and_unoffered_flows(tmp_path: Path, registry: PluginRegistry) -> None:
    found = problems(write(tmp_path, GOOD.replace('plugin = "cfg_wms"', 'plugin = "nowhere"')),
                     registry)
    assert any("wms.plugin: no plugin named 'nowhere'" in p and "erpsync plugins" in p
               for p in found), found
    text = GOOD.replace("interval_minutes = 5", 'flows = ["articles", "orders"]')
    found = problems(write(tmp_path, text), registry)
    assert any("flow 'orders' is not offered by wms plugin 'cfg_wms' (it offers: articles)" in p
               for p in found), found
    found = problems(write(tmp_path, GOOD.replace("interval_minutes = 5", 'flows = ["sales"]')),
                     registry)
    assert any("flows.0" in p for p in found), found


def test_a_flow_switched_off_by_the_settings_is_not_run_and_may_not_be_named(
    tmp_path: Path, registry: PluginRegistry
) -> None:
    off = GOOD + "settings = { articles = false }\n"
    (owner,) = load_config(write(tmp_path, off), registry).goods_owners
    assert owner.flows == (), "articles is offered by both but switched off, stock not offered"
    named = off.replace("interval_minutes = 5", 'flows = ["articles"]')
    found = problems(write(tmp_path, named), registry)
    assert any("flows: flow 'articles' is switched off by the settings of wms plugin 'cfg_wms'"
               in p and "switch it on in [goods_owners.wms.settings]" in p for p in found), found


def test_switches_a_plugin_gets_wrong_are_its_fault_not_the_operators(
    tmp_path: Path, registry: PluginRegistry
) -> None:
    found = problems(write(tmp_path, GOOD + "settings = { broken_switches = true }\n"), registry)
    assert any("wms.settings: plugin 'cfg_wms': enabled_flows must return a collection of Flow"
               in p and "plugin's authors" in p for p in found), found


def test_secrets_must_be_references_and_are_never_echoed(
    tmp_path: Path, registry: PluginRegistry
) -> None:
    text = GOOD.replace('key = { env = "CFG_TEST_KEY" }', 'key = "pasted-secret-inline"')
    found = problems(write(tmp_path, text), registry)
    assert any("erp.settings.key" in p and 'env = "VARIABLE"' in p for p in found), found
    assert not any("pasted-secret-inline" in p for p in found)
    text = GOOD.replace("CFG_TEST_KEY", "CFG_TEST_UNSET_KEY")
    assert any("environment variable CFG_TEST_UNSET_KEY is not set" in p
               for p in problems(write(tmp_path, text), registry))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("goods_owners = [", "not valid TOML"),
        ("colour = 'blue'", "colour: Extra inputs are not permitted"),
        ("goods_owners = 3", "goods_owners must be a list"),
        ("[[goods_owners]]\nid = 'bad id!'\n", "letters, digits"),
    ],
)
def test_malformed_files(
    tmp_path: Path, registry: PluginRegistry, text: str, expected: str
) -> None:
    found = problems(write(tmp_path, text), registry)
    assert any(expected in p for p in found), found


def test_a_missing_file_says_how_to_start(tmp_path: Path, registry: PluginRegistry) -> None:
    found = problems(tmp_path / "absent.toml", registry)
    assert found == [f"{tmp_path / 'absent.toml'}: the config file does not exist (fix: create "
                     "it (see README 'Configuration') or pass --config PATH)"]


def test_the_service_listens_on_loopback_unless_given_a_token(
    tmp_path: Path, registry: PluginRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = load_config(write(tmp_path, GOOD + "\n[service]\nport = 8470\n"), registry)
    assert config.service is not None
    assert (config.service.host, config.service.port, config.service.token) == (
        "127.0.0.1", 8470, None)
    assert load_config(write(tmp_path, GOOD), registry).service is None  # off unless asked

    (problem,) = problems(write(tmp_path, GOOD + '\n[service]\nport = 8470\nhost = "0.0.0.0"\n'),
                          registry)
    assert "service: host '0.0.0.0' is not loopback: give token" in problem
    monkeypatch.setenv("CFG_SERVICE_TOKEN", "short")
    (problem,) = problems(write(tmp_path, GOOD + '\n[service]\nport = 8470\nhost = "0.0.0.0"\n'
                                'token = { env = "CFG_SERVICE_TOKEN" }\n'), registry)
    assert "the token is too short" in problem and "short" not in problem.split("too short")[1]
    monkeypatch.setenv("CFG_SERVICE_TOKEN", "a-long-enough-service-token-9c1e")
    config = load_config(write(tmp_path, GOOD + '\n[service]\nport = 8470\nhost = "0.0.0.0"\n'
                               'token = { env = "CFG_SERVICE_TOKEN" }\n'), registry)
    assert config.service is not None and config.service.token is not None
    assert problems(write(tmp_path, GOOD + '\n[service]\nport = 70000\ntoken = "inline"\n'),
                    registry) == [
        f"{tmp_path / 'erpsync.toml'}: service.port: Input should be less than or equal to "
        "65535 (fix: give a smaller number)",
        f"{tmp_path / 'erpsync.toml'}: service.token: secrets are given by reference, not "
        'inline: write { env = "VARIABLE" } or { file = "/path/to/file" } (fix: correct this '
        "value)"]


def _top(text: str) -> str:
    """GOOD with ``text`` among its top-level keys and tables, before the goods owners."""
    return GOOD.replace('state_dir = "st"\n', f'state_dir = "st"\n{text}')


def test_the_temporal_engine_needs_a_shared_state_and_its_own_table(
    tmp_path: Path, registry: PluginRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    found = problems(write(tmp_path, _top('engine = "temporal"\n')), registry)
    assert any("give state_url (PostgreSQL) too" in p for p in found), found
    found = problems(write(tmp_path, _top('[temporal]\naddress = "t:7233"\n')), registry)
    assert any('only read with engine = "temporal"' in p for p in found), found

    monkeypatch.setenv("PG_URL", "postgresql://erpsync:pw@db/erpsync")
    monkeypatch.setenv("TEMPORAL_KEY", "temporal-cloud-api-key")
    head = 'engine = "temporal"\nstate_url = { env = "PG_URL" }\n'
    config = load_config(write(tmp_path, _top(head)), registry)
    assert config.temporal is not None, "engine = temporal alone takes the defaults"
    assert (config.temporal.address, config.temporal.task_queue) == ("localhost:7233", "erpsync")
    assert not config.temporal.uses_tls

    cloud = head + ('[temporal]\naddress = "ns.acct.tmprl.cloud:7233"\nnamespace = "ns.acct"\n'
                    'api_key = { env = "TEMPORAL_KEY" }\n')
    config = load_config(write(tmp_path, _top(cloud)), registry)
    assert config.temporal is not None and config.temporal.uses_tls, "an API key implies TLS"
    assert config.temporal.api_key is not None
    assert config.temporal.api_key.get_secret_value() == "temporal-cloud-api-key"

    half = head + '[temporal]\nclient_cert = { env = "TEMPORAL_KEY" }\n'
    found = problems(write(tmp_path, _top(half)), registry)
    assert any("give both client_cert and client_key" in p for p in found), found
    plain = head + '[temporal]\napi_key = "temporal-cloud-api-key"\n'
    found = problems(write(tmp_path, _top(plain)), registry)
    assert any("temporal.api_key" in p for p in found), found
    assert not any("temporal-cloud-api-key" in p for p in found), "a secret is never echoed"
