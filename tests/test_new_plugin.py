"""``erpsync new-plugin``: a plugin project its author can start from, and the guided path.

The whole path is walked once, as an author would: make the project with the CLI, run ruff and
mypy in it, install it, see ``erpsync plugins`` list it, run its conformance tests (they fail
naming the hook to implement next), implement that hook against the project's simulator, and
run them again (they pass). Subprocesses run with the project installed beside the dev
environment through ``PYTHONPATH`` only, so nothing outside ``tmp_path`` changes.

The project is installed the way an editable install lays it out, from its own pyproject.toml
(see :func:`_install`): a real ``pip install`` would have to download the build backend the
project asks for (setuptools>=77, newer than a fresh virtual environment's), and tests run
offline.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
import types
from collections.abc import Mapping
from pathlib import Path

import pytest
from pydantic import BaseModel
from typer.testing import CliRunner, Result

import erpsync.kit
from erpsync.cli import app
from erpsync.conformance.suite import (
    _assert_it_calls_the_vendor,
    _hook_duty,
    hook_signature,
    next_hook_guide,
)
from erpsync.hookspecs import HOOKSPEC_VERSION, PluginInfo
from erpsync.plugins import ERP_FLOW_HOOKS, WMS_FLOW_HOOKS, LoadedPlugin

NAME = "myerp"
TREE = [
    ".gitignore",
    "README.md",
    "erpsync_myerp/__init__.py",
    "erpsync_myerp/client.py",
    "erpsync_myerp/mapping.py",
    "erpsync_myerp/plugin.py",
    "erpsync_myerp/py.typed",
    "erpsync_myerp/sandbox.py",
    "pyproject.toml",
    "tests/test_conformance.py",
]
FIRST_GUIDE = (
    "this plugin offers no flow yet: implement fetch_articles(ctx, settings, since) -> "
    "AsyncIterator[Article | Unreadable] in erpsync_myerp/plugin.py (see "
    "docs/writing-a-plugin.md#fetch_articles): an async generator (async def ... yield) "
    "decorated with @hookimpl (erpsync.hookspecs): yield the articles changed at or after "
    "`since` (all of them when `since` is None), each an erpsync.models.Article"
)


def new_plugin(*args: str) -> Result:
    return CliRunner().invoke(app, ["new-plugin", *args], env={"COLUMNS": "200"})


def run(argv: list[str], cwd: Path, env: Mapping[str, str] | None = None,
        timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout, check=False)


def _install(project: Path, site: Path) -> list[Path]:
    """``pip install`` the project into ``site``, as an author or a user would: built with its
    own build backend, not editable; its dependencies (erpsync, httpx ...) are this
    environment's, and nothing is fetched (the test extra brings a setuptools new enough for
    its pyproject). Returns the folders to put on ``PYTHONPATH``."""
    shutil.rmtree(site, ignore_errors=True)
    installed = run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                     "--no-build-isolation", "--no-index", "--target", str(site),
                     str(project)], project)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    return [site]


def _environment(path: list[Path]) -> dict[str, str]:
    """This environment, with ``path`` first on PYTHONPATH and nothing of this pytest run."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PYTEST_", "ERPSYNC_")) and k != "PYTHONPATH"}
    env["PYTHONPATH"] = os.pathsep.join(str(p) for p in path)
    env["COLUMNS"] = "200"
    return env


def _conformance(project: Path, env: dict[str, str], basetemp: Path) -> str:
    result = run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p",
                  "no:asyncio", "-p", "no:xdist", f"--basetemp={basetemp}"], project, env)
    return f"exit {result.returncode}\n{result.stdout}{result.stderr}"


# What an author writes next, against the project's simulator: the client pages the list, the
# mapping maps a record, the hook puts them together.

CLIENT_PAGES = '''
    async def article_pages(self, since: datetime | None) -> AsyncIterator[list[Any]]:
        """The articles changed at or after ``since``, page by page."""
        query: dict[str, Any] = {} if since is None else {"changed_since": since.isoformat()}
        page = 1
        while True:
            body = await self.get_json(ARTICLES, {**query, "page": page})
            yield body["items"]
            if page >= body["pages"]:
                return
            page += 1
'''

MAPPING = '''

def to_article(row: dict[str, Any]) -> Article:
    return Article(article_number=row["number"], erp_key=str(row["id"]), name=row["name"],
                   unit=row["unit"], barcode=row["barcode"], is_active=row["active"],
                   modified_at=datetime.fromisoformat(row["changed_at"]))
'''

HOOK = '''

@hookimpl
async def fetch_articles(
    ctx: Context, settings: MyerpSettings, since: datetime | None
) -> AsyncIterator[Article | Unreadable]:
    client = await _client(ctx, settings)
    seen: set[str] = set()
    async for page in client.article_pages(since):
        for row in page:
            article = readable(VENDOR, "article", str(row.get("number")), mapping.to_article, row)
            if isinstance(article, Unreadable):
                yield article
            elif article.article_number not in seen:
                seen.add(article.article_number)
                yield article
'''


def _edit(path: Path, imports: str, code: str, after: str | None = None) -> None:
    """Add ``imports`` to the module and ``code`` after the text ``after`` (else at the end)."""
    text = path.read_text(encoding="utf-8")
    future = "from __future__ import annotations\n"
    assert future in text
    text = text.replace(future, future + imports, 1)
    if after is None:
        text += code
    else:
        assert after in text
        text = text.replace(after, after + code, 1)
    path.write_text(text, encoding="utf-8")


def _implement_fetch_articles(project: Path) -> None:
    package = project / "erpsync_myerp"
    _edit(package / "client.py",
          "from collections.abc import AsyncIterator\nfrom datetime import datetime\n",
          CLIENT_PAGES, after="        return parse_json(response)\n")
    _edit(package / "mapping.py",
          "from datetime import datetime\nfrom typing import Any\n"
          "from erpsync.models import Article\n", MAPPING)
    _edit(package / "plugin.py",
          "from collections.abc import AsyncIterator\nfrom datetime import datetime\n"
          "from erpsync.models import Article, Unreadable, readable\n", HOOK)
    _edit(package / "plugin.py", "from . import mapping\nfrom .client import VENDOR\n", "",
          after="from .client import MyerpClient\n")


# --- the whole path ---------------------------------------------------------------------------


def test_a_new_plugin_is_guided_from_a_failing_suite_to_a_passing_one(tmp_path: Path) -> None:
    made = new_plugin(NAME, "--folder", str(tmp_path))
    assert made.exit_code == 0, made.output + made.stderr
    project = tmp_path / f"erpsync-{NAME}"
    assert str(project) in made.output and "pytest" in made.output
    assert sorted(str(p.relative_to(project)) for p in project.rglob("*") if p.is_file()) == TREE

    plugin_py = (project / "erpsync_myerp" / "plugin.py").read_text(encoding="utf-8")
    assert f'hookspec_version="{HOOKSPEC_VERSION}"' in plugin_py
    pyproject = tomllib.loads((project / "pyproject.toml").read_text(encoding="utf-8"))
    assert pyproject["project"]["name"] == "erpsync-myerp"
    assert pyproject["project"]["entry-points"]["erpsync"] == {NAME: "erpsync_myerp.plugin"}
    assert any(d.startswith("erpsync>=") for d in pyproject["project"]["dependencies"])
    assert set(pyproject["project"]["optional-dependencies"]) == {"sandbox", "test"}

    # As generated, the project is clean under its own ruff and mypy --strict settings.
    assert pyproject["tool"]["mypy"]["strict"] is True
    lint = run([sys.executable, "-m", "ruff", "check", "--no-cache", "."], project)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    types_ = run([sys.executable, "-m", "mypy", "--cache-dir", str(tmp_path / "mypy-cache")],
                 project)
    assert types_.returncode == 0, types_.stdout + types_.stderr

    env = _environment(_install(project, tmp_path / "site"))
    listed = run([sys.executable, "-m", "erpsync.cli", "plugins"], tmp_path, env)
    row = next((line for line in listed.stdout.splitlines() if f" {NAME} " in line), "")
    assert "erpsync-myerp 0.1.0" in row, listed.stdout + listed.stderr
    assert re.search(rf"\berp\b.*\b{re.escape(HOOKSPEC_VERSION)}\b(?! \(not declared\))", row)

    first = _conformance(project, env, tmp_path / "run-1")
    assert first.startswith("exit 1"), first
    assert FIRST_GUIDE in first, first
    assert "1 failed, 5 passed" in first, first
    assert "FAILED tests/test_conformance.py::TestMyerp::test_the_plugin_offers_a_flow" in first

    _implement_fetch_articles(project)
    fixed = run([sys.executable, "-m", "ruff", "check", "--no-cache", "--fix", "."], project)
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr  # only the imports' order fixed
    types_ = run([sys.executable, "-m", "mypy", "--cache-dir", str(tmp_path / "mypy-cache")],
                 project)
    assert types_.returncode == 0, types_.stdout + types_.stderr
    env = _environment(_install(project, tmp_path / "site"))  # the new version, installed
    second = _conformance(project, env, tmp_path / "run-2")
    assert second.startswith("exit 0"), second
    assert "11 passed" in second, second  # the 6 for every plugin and the 5 of the articles flow
    assert not re.search(r"\d+ (failed|errors?)\b", second), second


# --- the command's refusals -------------------------------------------------------------------


@pytest.mark.parametrize(("name", "says"), [
    ("MyErp", "is not a lower-case Python identifier"),
    ("my-erp", "(such as my_erp)"),
    ("9lives", "starting with a letter"),
    ("erpsync_shop", "leave the erpsync prefix out of the plugin name"),
    ("a" * 31, "longer than 30 characters"),
    ("fake_erp", "provides a plugin named 'fake_erp' already"),
])
def test_a_name_that_cannot_name_a_plugin_is_refused(tmp_path: Path, name: str,
                                                      says: str) -> None:
    result = new_plugin(name, "--folder", str(tmp_path))
    assert result.exit_code == 1
    assert says in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert list(tmp_path.iterdir()) == []


def test_an_existing_folder_is_not_touched(tmp_path: Path) -> None:
    project = tmp_path / "erpsync-shop"
    project.mkdir()
    (project / "notes.txt").write_text("mine", encoding="utf-8")
    result = new_plugin("shop", "--folder", str(tmp_path))
    assert result.exit_code == 1
    assert "erpsync-shop exists already" in result.stderr
    assert [p.name for p in project.iterdir()] == ["notes.txt"]


def test_without_copier_the_command_says_what_to_install(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "copier", None)  # import copier now raises ImportError
    result = new_plugin("shop", "--folder", str(tmp_path))
    assert result.exit_code == 1
    assert result.stderr.strip() == 'error: making a plugin needs copier: pip install ' \
                                    '"erpsync[kit]"'
    assert not (tmp_path / "erpsync-shop").exists()


def test_the_current_hook_specifications_are_rendered(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(erpsync.kit, "HOOKSPEC_VERSION", "1.9")
    project = erpsync.kit.new_plugin("shop_floor", tmp_path)
    plugin_py = (project / "erpsync_shop_floor" / "plugin.py").read_text(encoding="utf-8")
    assert 'hookspec_version="1.9"' in plugin_py
    assert "class ShopFloorSettings(BaseModel)" in plugin_py
    readme = (project / "README.md").read_text(encoding="utf-8")
    assert "built for erpsync's hook specifications 1.9." in readme


def test_the_longest_name_still_makes_a_clean_project(tmp_path: Path) -> None:
    name = "a_long_erp_name_" + "x" * (erpsync.kit.MAX_NAME_LENGTH - 16)
    project = erpsync.kit.new_plugin(name, tmp_path)
    lint = run([sys.executable, "-m", "ruff", "check", "--no-cache", "."], project)
    assert lint.returncode == 0, lint.stdout + lint.stderr  # no line past 100 characters


# --- the suite's guidance -----------------------------------------------------------------------


class _Settings(BaseModel):
    pass


def _plugin(role: str, *hooks: str) -> LoadedPlugin:
    info = PluginInfo(name="x", version="1", role=role, settings_model=_Settings)
    return LoadedPlugin("x", info, None, frozenset({"describe", *hooks}), (),
                        types.ModuleType("erpsync_x.plugin"))


def test_the_guide_names_the_missing_half_of_a_flow_begun() -> None:
    guide = next_hook_guide(_plugin("erp", "lookup_report"))
    assert guide.startswith(
        "this plugin offers no flow yet: it implements lookup_report, which the deliveries flow "
        "needs together with report_delivery: implement report_delivery(ctx, settings, "
        "delivery) -> str in erpsync_x/plugin.py (see docs/writing-a-plugin.md#report_delivery)"
        ": a coroutine function (async def)")
    assert "it returns the ERP's reference of what was written" in guide


def test_the_guide_of_a_wms_plugin_starts_with_upsert_article() -> None:
    guide = next_hook_guide(_plugin("wms"))
    assert "implement upsert_article(ctx, settings, article) -> WriteResult in " \
           "erpsync_x/plugin.py" in guide
    assert "articles: upsert_article; suppliers: upsert_supplier" in guide


@pytest.mark.parametrize(("hook", "role"), sorted(
    {(h, "erp") for hs in ERP_FLOW_HOOKS.values() for h in hs}
    | {(h, "wms") for hs in WMS_FLOW_HOOKS.values() for h in hs}
    | {("check_connection", "erp")}))
def test_every_hook_is_described_in_plain_words(hook: str, role: str) -> None:
    assert re.fullmatch(rf"{hook}\(ctx, settings(, \w+)*\) -> \S.*", hook_signature(hook, role))
    kind, duty = _hook_duty(hook, role).split(" decorated with @hookimpl (erpsync.hookspecs): ")
    assert kind in ("an async generator (async def ... yield)", "a coroutine function (async def)")
    assert len(duty) > 30
    assert "``" not in duty and ":func:" not in duty and "Offers the" not in duty, duty


def test_a_plugin_that_calls_no_vendor_is_told_to_implement_check_connection() -> None:
    harness = types.SimpleNamespace(plugin=_plugin("erp"))
    with pytest.raises(AssertionError, match=re.escape(
            "implement check_connection(ctx, settings) -> None (one cheap read")):
        _assert_it_calls_the_vendor(harness)  # type: ignore[arg-type]
    _assert_it_calls_the_vendor(types.SimpleNamespace(plugin=_plugin("erp", "check_connection")))  # type: ignore[arg-type]
