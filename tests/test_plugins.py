"""Discovery: plugins load one by one, failures are named, hooks reach one plugin only."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from erpsync.errors import PluginError
from erpsync.hookspecs import HOOKSPEC_VERSION
from erpsync.models import Flow
from erpsync.plugins import discover
from tests.conftest import MakeDist

HEADER = """
from pydantic import BaseModel
from erpsync.hookspecs import hookimpl, PluginInfo
from erpsync.models import Article

class Settings(BaseModel):
    token: str = "t"
"""


def erp_module(name: str, extra: str = "", article: str = "A-1") -> str:
    return HEADER + f"""
@hookimpl
def describe():
    return PluginInfo(name={name!r}, version="2.3.4", role="erp", settings_model=Settings)

@hookimpl
async def fetch_articles(ctx, settings, since):
    yield Article(article_number={article!r}, erp_key="1", name="from {name}")
""" + extra


def test_a_good_plugin_loads_with_its_flows(make_dist: MakeDist) -> None:
    make_dist("good-erp", {"good_erp": erp_module("good")}, {"good": "good_erp"})
    registry = discover(select={"good"})
    assert registry.failures == []
    plugin = registry.get("good")
    assert plugin.info.version == "2.3.4"
    assert plugin.role == "erp"
    assert plugin.flows == (Flow.ARTICLES,)
    assert plugin.distribution == "good-erp 1.0"


def test_one_broken_import_does_not_break_the_others(make_dist: MakeDist) -> None:
    make_dist("mixed", {"ok_erp": erp_module("ok"), "bad_erp": "import does_not_exist_x\n"},
              {"ok": "ok_erp", "bad": "bad_erp"})
    registry = discover(select={"ok", "bad"})
    assert list(registry.plugins) == ["ok"]
    (failure,) = registry.failures
    assert failure.name == "bad"
    assert "does_not_exist_x" in failure.error
    with pytest.raises(PluginError, match="failed to load"):
        registry.get("bad")


def test_a_name_claimed_twice_loads_neither(make_dist: MakeDist) -> None:
    make_dist("first-dist", {"first_erp": erp_module("twin")}, {"twin": "first_erp"})
    make_dist("second-dist", {"second_erp": erp_module("twin")}, {"twin": "second_erp"})
    registry = discover(select={"twin"})
    assert registry.plugins == {}
    (failure,) = registry.failures
    assert "first-dist" in failure.error and "second-dist" in failure.error
    assert "uninstall all but one" in failure.error


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (erp_module("odd", "\n@hookimpl\ndef fetch_everything(ctx):\n    return []\n"),
         "unknown hook(s) fetch_everything"),
        (erp_module("odd", "\n@hookimpl\nasync def report_delivery(ctx, settings, delivery):\n"
                           "    return 'x'\n"), "not lookup_report"),
        (erp_module("odd", "\n@hookimpl\nasync def upsert_article(ctx, settings, article):\n"
                           "    return None\n"), "hooks of the other role: upsert_article"),
        (erp_module("other-name"), "describes itself as 'other-name'"),
        (erp_module("odd").replace('version="2.3.4",', 'version="1", hookspec_version="9.0",'),
         f"built for erpsync hook specifications 9.0; this erpsync provides {HOOKSPEC_VERSION}"),
        (HEADER + "\n@hookimpl\ndef describe():\n    return {'name': 'odd'}\n", "not PluginInfo"),
        (HEADER + "\n@hookimpl\ndef describe():\n    raise RuntimeError('boom')\n", "boom"),
        (HEADER + "\n@hookimpl\nasync def fetch_articles(ctx, settings, since):\n    yield 1\n",
         "does not implement the describe hook"),
        (erp_module("odd", "\n@hookimpl\nasync def push_stock(ctx, settings, stock):\n"
                           "    return []\n"), "invalid hook"),
        (erp_module("odd", "\n@hookimpl\ndef authorization_url(settings, redirect_uri, state):\n"
                           "    return 'https://erp.example/consent'\n"),
         "implements authorization_url but not complete_authorization"),
        (erp_module("odd", "\n@hookimpl\nasync def complete_authorization(ctx, settings, code,"
                           " redirect_uri):\n    return None\n"),
         "implements complete_authorization but not authorization_url"),
    ],
)
def test_a_plugin_breaking_the_contract_is_refused_by_name(
    make_dist: MakeDist, code: str, expected: str
) -> None:
    make_dist("odd-dist", {"odd_erp": code, "fine_erp": erp_module("fine")},
              {"odd": "odd_erp", "fine": "fine_erp"})
    registry = discover(select={"odd", "fine"})
    assert list(registry.plugins) == ["fine"], "the other plugin must still load"
    (failure,) = registry.failures
    assert failure.name == "odd"
    assert expected in failure.error


def test_environment_variable_limits_what_loads(
    make_dist: MakeDist, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_dist("two", {"one_erp": erp_module("one"), "two_erp": erp_module("two")},
              {"one": "one_erp", "two": "two_erp"})
    monkeypatch.setenv("ERPSYNC_PLUGINS", "two")
    assert list(discover().plugins) == ["two"]


def test_unknown_plugin_names_what_is_installed(make_dist: MakeDist) -> None:
    make_dist("one", {"one_erp": erp_module("one")}, {"one": "one_erp"})
    registry = discover(select={"one"})
    with pytest.raises(PluginError, match=r"no plugin named 'nope' is installed \(installed: one"):
        registry.get("nope")
    with pytest.raises(PluginError, match="is an ERP plugin, not a WMS plugin"):
        registry.wms("one", registry.get("one").validate_settings({}))


async def test_a_hook_call_reaches_only_the_chosen_plugin(make_dist: MakeDist) -> None:
    make_dist("pair", {"left_erp": erp_module("left", article="L-1"),
                       "right_erp": erp_module("right", article="R-1")},
              {"left": "left_erp", "right": "right_erp"})
    registry = discover(select={"left", "right"})
    settings = registry.get("right").validate_settings({})

    class Ctx:
        goods_owner = "o"

    erp = registry.erp("right", settings)
    got = [a.article_number async for a in erp.fetch_articles(Ctx(), None)]  # type: ignore[arg-type]
    assert got == ["R-1"]


async def test_a_plugin_yielding_the_wrong_type_is_named(make_dist: MakeDist) -> None:
    code = HEADER + """
@hookimpl
def describe():
    return PluginInfo(name="wrong", version="1", role="erp", settings_model=Settings)

@hookimpl
async def fetch_articles(ctx, settings, since):
    yield {"article_number": "A"}
"""
    make_dist("wrong", {"wrong_erp": code}, {"wrong": "wrong_erp"})
    registry = discover(select={"wrong"})
    erp = registry.erp("wrong", registry.get("wrong").validate_settings({}))
    with pytest.raises(PluginError, match="fetch_articles yielded dict, expected Article"):
        async for _ in erp.fetch_articles(object(), datetime.now(UTC)):  # type: ignore[arg-type]
            pass


CONSENT = """
@hookimpl
def authorization_url(settings, redirect_uri, state):
    return f"https://erp.example/consent?redirect_uri={redirect_uri}&state={state}"

@hookimpl
async def complete_authorization(ctx, settings, code, redirect_uri):
    ctx.credentials("oauth").save({"code": code, "redirect_uri": redirect_uri})
"""


async def test_the_consent_hooks_reach_only_the_chosen_plugin(make_dist: MakeDist) -> None:
    make_dist("consent", {"consent_erp": erp_module("consent", CONSENT),
                          "plain_erp": erp_module("plain")},
              {"consent": "consent_erp", "plain": "plain_erp"})
    registry = discover(select={"consent", "plain"})
    assert registry.failures == []
    erp = registry.erp("consent", registry.get("consent").validate_settings({}))
    plain = registry.erp("plain", registry.get("plain").validate_settings({}))
    assert erp.can_authorize and not plain.can_authorize
    assert erp.authorization_url("http://127.0.0.1:1/callback", "s") == (
        "https://erp.example/consent?redirect_uri=http://127.0.0.1:1/callback&state=s")
    assert plain.authorization_url("http://127.0.0.1:1/callback", "s") is None
    saved: list[dict[str, str]] = []

    class Store:
        def save(self, data: dict[str, str]) -> None:
            saved.append(data)

    class Ctx:
        goods_owner = "o"

        def credentials(self, name: str) -> Store:
            return Store()

    await erp.complete_authorization(Ctx(), "the-code", "http://127.0.0.1:1/callback")  # type: ignore[arg-type]
    assert saved == [{"code": "the-code", "redirect_uri": "http://127.0.0.1:1/callback"}]
    with pytest.raises(PluginError, match="does not implement complete_authorization"):
        await plain.complete_authorization(Ctx(), "x", "y")  # type: ignore[arg-type]


def test_a_plugin_built_for_the_previous_minor_version_still_loads(make_dist: MakeDist) -> None:
    code = erp_module("older").replace('version="2.3.4",', 'version="1", hookspec_version="1.0",')
    make_dist("older", {"older_erp": code}, {"older": "older_erp"})
    registry = discover(select={"older"})
    assert registry.failures == []
    assert registry.get("older").info.hookspec_version == "1.0"
