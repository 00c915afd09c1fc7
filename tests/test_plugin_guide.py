"""The plugin author's guide (docs/writing-a-plugin.md) cannot drift from the code it documents.

Every hook specification has its own heading with its exact signature (compared with the
source of erpsync.hookspecs and with ``inspect.signature``) and an example implementation
that pluggy would accept; every Python block compiles; every check of both conformance suites
is explained by name, with what to do when it fails; the guide's links resolve; and the
README's "Writing a plugin" section links to the guide.
"""

from __future__ import annotations

import ast
import importlib.util
import inspect
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from erpsync import hookspecs

ROOT = Path(__file__).parent.parent
GUIDE = ROOT / "docs" / "writing-a-plugin.md"
README = ROOT / "README.md"
GUIDE_LINK = "docs/writing-a-plugin.md"

HOOKS = sorted(
    name for name, value in vars(hookspecs).items()
    if callable(value) and hasattr(value, f"{hookspecs.PROJECT}_spec")
)
SUITES = ("erpsync.conformance.suite", "erpsync.conformance.wms")

FunctionNode = ast.FunctionDef | ast.AsyncFunctionDef


# --- reading markdown -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Heading:
    level: int
    title: str
    line: int


@dataclass(frozen=True)
class Block:
    language: str
    code: str
    line: int
    """The line of the opening fence (1-based), for messages."""


def _lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def _parse(lines: list[str]) -> tuple[list[Heading], list[Block]]:
    """Headings outside code fences, and the fenced blocks (a ``# comment`` inside a block is
    not a heading)."""
    headings: list[Heading] = []
    blocks: list[Block] = []
    fence: tuple[str, int, list[str]] | None = None
    for number, line in enumerate(lines, 1):
        if fence is None:
            if line.startswith("```"):
                fence = (line[3:].strip(), number, [])
                continue
            match = re.match(r"(#{1,6}) +(.+?) *$", line)
            if match:
                headings.append(Heading(len(match.group(1)), match.group(2), number))
        elif line.startswith("```"):
            language, start, body = fence
            blocks.append(Block(language, "\n".join(body) + "\n", start))
            fence = None
        else:
            fence[2].append(line)
    assert fence is None, f"a code fence opened on line {fence[1]} is never closed"
    return headings, blocks


@cache
def guide() -> tuple[list[str], list[Heading], list[Block]]:
    lines = _lines(GUIDE)
    return (lines, *_parse(lines))


def _section(heading: Heading, headings: list[Heading], lines: list[str],
             depth: int) -> tuple[int, int]:
    """The lines under ``heading`` up to the next heading of level ``depth`` or higher."""
    later = [h.line for h in headings if h.line > heading.line and h.level <= depth]
    return heading.line, (later[0] - 1 if later else len(lines))


def _blocks_in(span: tuple[int, int], language: str = "python") -> list[Block]:
    _, _, blocks = guide()
    return [b for b in blocks if span[0] < b.line <= span[1] and b.language == language]


def _slug(title: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = title.strip().lower().replace("`", "")
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def _anchors(headings: list[Heading]) -> set[str]:
    seen: dict[str, int] = {}
    anchors: set[str] = set()
    for heading in headings:
        slug = _slug(heading.title)
        count = seen.get(slug, 0)
        anchors.add(slug if count == 0 else f"{slug}-{count}")
        seen[slug] = count + 1
    return anchors


# --- reading the hook specifications --------------------------------------------------------------


@cache
def spec_nodes() -> dict[str, FunctionNode]:
    tree = ast.parse(inspect.getsource(hookspecs))
    return {node.name: node for node in tree.body
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)}


def _render(node: FunctionNode) -> str:
    """A function's signature as one normalised line: ``async def name(a: T) -> R``."""
    prefix = "async def" if isinstance(node, ast.AsyncFunctionDef) else "def"
    returns = f" -> {ast.unparse(node.returns)}" if node.returns is not None else ""
    return f"{prefix} {node.name}({ast.unparse(node.args)}){returns}"


def _from_inspect(hook: str) -> str:
    """The same line built from the imported function (annotations are strings here: the
    module uses ``from __future__ import annotations``)."""
    function: Callable[..., Any] = getattr(hookspecs, hook)
    signature = inspect.signature(function)
    parameters = []
    for parameter in signature.parameters.values():
        assert parameter.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD, (
            f"{hook}: this test renders plain parameters only; teach it {parameter.kind}")
        text = f"{parameter.name}: {parameter.annotation}"
        if parameter.default is not inspect.Parameter.empty:
            text += f" = {parameter.default!r}"
        parameters.append(text)
    prefix = "async def" if inspect.iscoroutinefunction(function) else "def"
    return f"{prefix} {hook}({', '.join(parameters)}) -> {signature.return_annotation}"


def _hook_section(hook: str) -> tuple[int, int]:
    lines, headings, _ = guide()
    found = [h for h in headings if h.level == 3 and h.title == hook]
    assert len(found) == 1, (
        f"docs/writing-a-plugin.md needs exactly one heading '### {hook}' (found {len(found)})"
    )
    return _section(found[0], headings, lines, depth=3)


def _functions(block: Block) -> Iterator[FunctionNode]:
    for node in ast.parse(block.code).body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            yield node


def _is_hookimpl(node: FunctionNode) -> bool:
    names = [d.id if isinstance(d, ast.Name) else d.attr if isinstance(d, ast.Attribute) else ""
             for d in node.decorator_list]
    return "hookimpl" in names


# --- the hooks ------------------------------------------------------------------------------------


def test_the_hooks_are_found() -> None:
    assert len(HOOKS) >= 24
    assert set(HOOKS) == set(spec_nodes()) & set(HOOKS)


def test_the_spec_source_and_inspect_agree() -> None:
    """The guide is compared with the source below; the source and the imported functions
    must say the same, or that comparison would prove nothing."""
    for hook in HOOKS:
        assert _render(spec_nodes()[hook]) == _from_inspect(hook)


@pytest.mark.parametrize("hook", HOOKS)
def test_each_hook_has_its_heading_and_exact_signature(hook: str) -> None:
    section = _hook_section(hook)
    blocks = _blocks_in(section)
    assert blocks, f"'### {hook}' shows no ```python block with its signature"
    first = blocks[0]
    defined = list(_functions(first))
    assert [f.name for f in defined] == [hook], (
        f"the first python block under '### {hook}' (line {first.line}) must be the hook's "
        f"signature as in core/erpsync/hookspecs.py, and nothing else"
    )
    (node,) = defined
    assert _render(node) == _render(spec_nodes()[hook]) == _from_inspect(hook), (
        f"the signature of {hook} in the guide (line {first.line}) differs from hookspecs.py:\n"
        f"  guide: {_render(node)}\n  spec:  {_from_inspect(hook)}"
    )


@pytest.mark.parametrize("hook", HOOKS)
def test_each_hook_has_an_example_pluggy_would_accept(hook: str) -> None:
    spec = spec_nodes()[hook]
    examples = [f for block in _blocks_in(_hook_section(hook)) for f in _functions(block)
                if f.name == hook and _is_hookimpl(f)]
    assert examples, f"'### {hook}' has no example: an @hookimpl function named {hook}"
    allowed = [a.arg for a in spec.args.args]
    returns = ast.unparse(spec.returns) if spec.returns is not None else ""
    for example in examples:
        names = [a.arg for a in example.args.args]
        assert set(names) <= set(allowed), (
            f"the {hook} example takes {names}; pluggy accepts only a subset of {allowed}"
        )
        if isinstance(spec, ast.AsyncFunctionDef) or returns.startswith("AsyncIterator["):
            assert isinstance(example, ast.AsyncFunctionDef), (
                f"the {hook} example must be `async def`")
        else:
            assert isinstance(example, ast.FunctionDef), (
                f"{hook} is a plain function; its example must not be `async def`")
        yields = any(isinstance(n, ast.Yield | ast.YieldFrom) for n in ast.walk(example))
        assert yields == returns.startswith("AsyncIterator["), (
            f"the {hook} example must {'be' if not yields else 'not be'} an async generator"
        )


def test_every_python_block_compiles() -> None:
    _, _, blocks = guide()
    python = [b for b in blocks if b.language == "python"]
    assert len(python) > len(HOOKS)
    for block in python:
        try:
            compile(block.code, f"{GUIDE.name}:{block.line}", "exec")
        except SyntaxError as error:
            pytest.fail(f"the python block on line {block.line} of the guide does not "
                        f"compile: {error}")


# --- the conformance suites -----------------------------------------------------------------------


def _suite_checks() -> list[str]:
    names: list[str] = []
    for module in SUITES:
        spec = importlib.util.find_spec(module)
        assert spec is not None and spec.origin is not None, module
        tree = ast.parse(Path(spec.origin).read_text(encoding="utf-8"))
        for cls in (n for n in tree.body if isinstance(n, ast.ClassDef)):
            names += [f.name for f in cls.body
                      if isinstance(f, ast.FunctionDef | ast.AsyncFunctionDef)
                      and f.name.startswith(("test_", "check_"))]
    return sorted(set(names))


CHECKS = _suite_checks()


def _bullets(span: tuple[int, int]) -> dict[str, str]:
    """Each list item under the span that starts with a code name: name -> the item's text."""
    lines, _, _ = guide()
    items: dict[str, str] = {}
    name: str | None = None
    for line in lines[span[0]:span[1]]:
        match = re.match(r"- `([a-z_]+)`", line)
        if match:
            name = match.group(1)
            items[name] = items.get(name, "") + " " + line
        elif name is not None and line.startswith("  ") and line.strip():
            items[name] += " " + line.strip()
        else:
            name = None
    return items


def test_the_suites_have_checks() -> None:
    assert "test_no_secret_leaks" in CHECKS
    assert "check_a_report_reaches_the_erp_once_even_after_a_crash" in CHECKS
    assert "check_every_balance_once_across_pages" in CHECKS


@pytest.mark.parametrize("check", CHECKS)
def test_each_conformance_check_is_explained(check: str) -> None:
    lines, headings, _ = guide()
    (suite,) = [h for h in headings if h.level == 2 and h.title == "The conformance suite"]
    items = _bullets(_section(suite, headings, lines, depth=2))
    assert check in items, (
        f"the conformance check {check} is not explained: add a list item starting with "
        f"`{check}` to 'The conformance suite' in docs/writing-a-plugin.md"
    )
    text = items[check]
    assert len(text.split()) >= 25, f"the explanation of {check} is too short to explain it"
    assert "If it fails" in text, f"the explanation of {check} does not say what to do"


# --- links ----------------------------------------------------------------------------------------


def test_the_guides_own_links_resolve() -> None:
    lines, headings, _ = guide()
    anchors = _anchors(headings)
    text = "\n".join(lines)
    targets = re.findall(r"\]\(#([^)]+)\)", text)
    assert targets
    assert sorted({t for t in targets if t not in anchors}) == []
    for path in re.findall(r"\]\((\.\./[^)#]+)\)", text):
        assert (GUIDE.parent / path).exists(), f"the guide links to {path}, which is missing"


def test_the_readme_links_to_the_guide() -> None:
    lines = _lines(README)
    headings, _ = _parse(lines)
    found = [h for h in headings if h.level == 2 and h.title == "Writing a plugin"]
    assert len(found) == 1, "README.md has no '## Writing a plugin' section"
    start, end = _section(found[0], headings, lines, depth=2)
    section = "\n".join(lines[start:end])
    assert f"]({GUIDE_LINK})" in section or f"]({GUIDE_LINK}#" in section, (
        f"README 'Writing a plugin' does not link to {GUIDE_LINK}"
    )
    anchors = _anchors(guide()[1])
    wrong = sorted({a for a in re.findall(rf"\]\({re.escape(GUIDE_LINK)}#([^)]+)\)",
                                          "\n".join(lines)) if a not in anchors})
    assert wrong == [], f"README links to anchors the guide does not have: {wrong}"
