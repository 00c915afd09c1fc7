"""The status page in a real browser: Debian's chromium, headless, driven by Playwright.

The served world (tests/served.py) has two goods owners: ``acme``, one of whose articles the
warehouse refuses (dead letters), and ``beta``, whose Netvisor key is refused (it needs
re-authorisation). The tests check what chromium rendered, use the filter form with
JavaScript switched off (the page promises to work without it) and keep screenshots in
``test-artifacts/`` at the repository's root for a person (or CI) to look at.

Chromium is a system package: ``.ci/run`` installs Debian's ``chromium`` before the tests;
elsewhere they skip naming the package, and under CI (``CI=true``) its absence fails them.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest
from playwright.sync_api import Browser, expect, sync_playwright

from erpsync.state import DeadLetter, DiskState, FlowSummary

from .served import ServedErpsync, served_erpsync

CHROMIUM = Path("/usr/bin/chromium")
"""Debian's chromium (never Playwright's own download: the network is closed)."""
CHROMIUM_FLAGS = [
    "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-component-update",
    # Without these chromium calls Google's services at start; a closed network refuses them.
    "--disable-background-networking", "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
"""Kept after the run (.gitignore'd): the screenshots."""
T = TypeVar("T")
VENDOR_MESSAGE = "Article name is too long for the label printer"

expect.set_options(timeout=2_000)  # a server-rendered page: nothing appears later


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{CHROMIUM} is missing: .ci/run installs Debian's package chromium "
                        "before the tests", pytrace=False)
        pytest.skip("needs Debian's package chromium (apt-get install chromium)")
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                              chromium_sandbox=False, args=CHROMIUM_FLAGS)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def world(browser: Browser, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedErpsync]:
    """acme with its dead letters, beta needing re-authorisation, after their first cycle.

    The interval is long so that no second cycle runs during the tests: it would send the
    refused article again, the simulator would take it this time, and the dead letters would
    go. (The refused article is one that an order and a purchase order need, so the warehouse
    refuses those too: one refusal, three dead letters.)
    """
    with served_erpsync(tmp_path_factory.mktemp("served"), interval_minutes=30) as opened:
        opened.wms.fail_next(1, 400, {"message": VENDOR_MESSAGE}, method="PUT",
                             path="/articles")
        opened.write_config()
        opened.start()
        opened.wait_for(lambda: _read(opened, lambda s: s.runs("acme", "adjustments")
                                      and s.dead_letters("acme")
                                      and s.get_owner_status("beta")))
        yield opened


def _read(world: ServedErpsync, look: Callable[[DiskState], T]) -> T:
    state = DiskState(world.state_dir)
    try:
        return look(state)
    finally:
        state.close()


def _secrets(world: ServedErpsync) -> dict[str, str]:
    """Every secret the config references, by file: the served world puts each in a file."""
    files = sorted(world.folder.glob("*/secrets/*"))
    assert len(files) >= 4, "expected the Netvisor and Ongoing secrets of acme and beta"
    return {str(f.relative_to(world.folder)): s for f in files
            if (s := f.read_text(encoding="utf-8").strip())}


def test_the_page_shows_owners_credentials_and_dead_letters_without_secrets(
    browser: Browser, world: ServedErpsync,
) -> None:
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    answer = page.goto(world.url + "/")
    assert answer is not None and answer.status == 200
    page.screenshot(path=ARTIFACTS / "status-page.png", full_page=True)  # kept on failure too

    expect(page).to_have_title("erpsync (2 to look at)")
    expect(page.locator("tr.owner-row")).to_have_count(2)
    acme, beta = page.locator("#owner-acme"), page.locator("#owner-beta")
    expect(acme).to_be_visible()
    expect(beta).to_be_visible()

    # beta: its state, and the credentials table with what was refused and what to run.
    expect(beta.locator("td").nth(1)).to_have_text(re.compile(r"^\s*needs re-authorisation"))
    credentials = page.locator("tr.reauth-row")
    expect(credentials).to_have_count(1)
    expect(credentials.locator("td").nth(0)).to_have_text("beta")
    expect(credentials.locator("td").nth(2)).to_contain_text("Netvisor refused the API")
    expect(credentials.locator("code")).to_be_visible()
    expect(credentials.locator("code")).to_contain_text("erpsync run --once --goods-owner beta")

    # The dead letters: the page lists what the state holds; the refused article with the
    # vendor's own words.
    stored: list[DeadLetter] = _read(world, lambda s: s.dead_letters("acme"))
    letters = page.locator("tr.dead-letter")
    expect(letters).to_have_count(len(stored))
    expect(page.locator("#dead-letters")).to_have_text(f"Dead letters ({len(stored)})")
    (article,) = [d for d in stored if d.flow == "articles"]
    refused = letters.filter(has_text=VENDOR_MESSAGE)
    expect(refused).to_have_count(1)
    cells = refused.locator("td")
    expect(cells.nth(0)).to_have_text("acme")
    expect(cells.nth(1)).to_have_text("articles")
    expect(cells.nth(2)).to_have_text(article.business_key)
    expect(cells.nth(4)).to_have_text(VENDOR_MESSAGE)
    for letter in stored:
        expect(letters.filter(has=page.locator("td", has_text=re.compile(
            f"^{re.escape(letter.business_key)}$")))).to_have_count(1)

    # acme's flows, column by column as the header names them: each shows its last outcome.
    flows = [h.replace(" ", "_") for h in page.locator("#owners + table th").all_inner_texts()]
    assert flows[:4] == ["goods_owner", "state", "next_run", "articles"], flows
    summary: dict[str, FlowSummary] = _read(world, lambda s: s.summary("acme", flows[3:]))
    assert summary["articles"].last.outcome == "partial"
    row = acme.locator("td")
    expect(row.nth(1)).to_contain_text("active")
    expect(row.nth(1)).to_contain_text(f"{len(stored)} dead letters")
    for column, flow in enumerate(flows[3:], start=3):
        last = summary[flow].last
        expect(row.nth(column)).to_contain_text(last.outcome)
        expect(row.nth(column)).to_contain_text(f"read {last.read} · written {last.written}")
    expect(row.nth(3)).to_contain_text("1 refused")

    text, html = page.inner_text("body"), page.content()
    shown = [name for name, secret in _secrets(world).items() if secret in text + html]
    assert not shown, "secrets from the config are on the page (their files are named)"
    context.close()


def test_the_filter_form_works_without_javascript(browser: Browser, world: ServedErpsync) -> None:
    context = browser.new_context(java_script_enabled=False,
                                  viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.goto(world.url + "/")
    expect(page.locator("script")).to_have_count(0)
    expect(page.locator("tr.owner-row")).to_have_count(2)

    page.get_by_label("Goods owner").fill("beta")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url(re.compile(r"/\?owner=beta$"))
    page.screenshot(path=ARTIFACTS / "status-page-beta.png", full_page=True)

    expect(page.get_by_label("Goods owner")).to_have_value("beta")
    expect(page.locator("tr.owner-row")).to_have_count(1)
    expect(page.locator("#owner-beta")).to_be_visible()
    expect(page.locator("#owner-acme")).to_have_count(0)
    expect(page.locator("tr.dead-letter")).to_have_count(0)  # acme's: filtered out too
    expect(page.locator("tr.reauth-row")).to_have_count(1)
    expect(page.get_by_role("link", name="show all")).to_be_visible()
    context.close()
