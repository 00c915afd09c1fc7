"""The hook specifications are the contract: each is typed, documented and exercised."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from erpsync import hookspecs
from erpsync.plugins import discover

ROOT = Path(__file__).parent.parent
HOOKS = sorted(
    name for name, value in vars(hookspecs).items()
    if callable(value) and hasattr(value, f"{hookspecs.PROJECT}_spec")
)


def test_there_are_hooks_and_all_are_exported() -> None:
    assert len(HOOKS) == 24
    assert set(HOOKS) <= set(hookspecs.__all__)


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_is_typed_and_documented(hook: str) -> None:
    function = getattr(hookspecs, hook)
    doc = inspect.getdoc(function) or ""
    assert len(doc.split()) >= 12, f"{hook} needs a docstring that states its contract"
    signature = inspect.signature(function)
    assert signature.return_annotation is not inspect.Signature.empty, f"{hook}: return type"
    for parameter in signature.parameters.values():
        assert parameter.annotation is not inspect.Parameter.empty, f"{hook}: {parameter.name}"


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_is_in_the_plugin_authors_guide(hook: str) -> None:
    assert f"`{hook}" in (ROOT / "README.md").read_text(encoding="utf-8"), (
        f"README 'Writing a plugin' does not document {hook}"
    )


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_is_implemented_by_a_tested_plugin(hook: str) -> None:
    registry = discover(select={"fake_erp", "fake_wms", "ongoing_wms"})
    implemented = set().union(*(p.hooks for p in registry.plugins.values()))
    assert hook in implemented, f"no test plugin implements {hook}, so no test exercises it"
