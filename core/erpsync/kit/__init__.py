"""The plugin kit: ``erpsync new-plugin NAME`` starts an ERP plugin distribution of one's own.

The new project is rendered from the copier template kept beside this module (``template/``:
``copier.yml`` and the project's ``*.jinja`` files), so that it is a well-formed template any
copier user can read and render, not strings pasted together here. What is generated:

- ``pyproject.toml``: the distribution ``erpsync-NAME`` with the ``erpsync`` entry point
  ``NAME``, the ``sandbox`` and ``test`` extras, and the ruff and mypy settings;
- ``erpsync_NAME/``: ``plugin.py`` (``describe`` built for this erpsync's hook specifications,
  a settings model with ``base_url`` and a secret ``api_key``, ``check_connection`` and the
  ``sandbox`` hook), ``client.py``, ``mapping.py``, ``sandbox.py`` (a small simulator of an
  imaginary ERP's articles list that keeps :class:`erpsync.conformance.ErpSandbox`) and
  ``py.typed``;
- ``tests/test_conformance.py``: the conformance suite, which fails at first naming the hook to
  implement next, and passes once the hooks work against the simulator;
- ``README.md``: how to develop, test and publish it.

The project passes ``ruff check`` and ``mypy --strict`` as generated. copier is an optional
dependency (``pip install "erpsync[kit]"``): it is imported only when a plugin is made.
"""

from __future__ import annotations

import importlib.metadata
import re
from pathlib import Path

from erpsync import __version__
from erpsync.errors import ErpsyncError
from erpsync.hookspecs import HOOKSPEC_VERSION
from erpsync.plugins import ENTRY_POINT_GROUP

__all__ = ["MAX_NAME_LENGTH", "TEMPLATE", "KitError", "check_name", "new_plugin"]

TEMPLATE = Path(__file__).parent / "template"
"""The copier template (its ``copier.yml`` and, under ``project/``, the files it renders)."""
MAX_NAME_LENGTH = 30
"""Longer names would push the generated code past its line length."""
_NAME = re.compile(r"[a-z][a-z0-9_]*")
_PREFIX = "erpsync"


class KitError(ErpsyncError):
    """A plugin project cannot be made as asked (the message says why and what to do)."""


def check_name(name: str) -> str:
    """``name`` if it can name a plugin: a lower-case Python identifier, which becomes the
    entry-point name, the package ``erpsync_NAME`` and the distribution ``erpsync-NAME``."""
    if not _NAME.fullmatch(name) or not name.isidentifier():
        suggestion = re.sub(r"[^a-z0-9_]+", "_", name.lower()).strip("_")
        if suggestion and not suggestion[0].isalpha():
            suggestion = f"erp_{suggestion}"
        hint = f" (such as {suggestion})" if _NAME.fullmatch(suggestion or "-") else ""
        raise KitError(
            f"the plugin name {name!r} is not a lower-case Python identifier: give letters a-z, "
            f"digits and underscores, starting with a letter{hint}; it names the entry point, "
            f"the package erpsync_NAME and the distribution erpsync-NAME"
        )
    if name == _PREFIX or name.startswith(f"{_PREFIX}_"):
        bare = name.removeprefix(_PREFIX).lstrip("_") or "myerp"
        raise KitError(
            f"leave the erpsync prefix out of the plugin name: `erpsync new-plugin {bare}` "
            f"makes the distribution erpsync-{bare} with the package erpsync_{bare}"
        )
    if len(name) > MAX_NAME_LENGTH:
        raise KitError(f"the plugin name {name!r} is longer than {MAX_NAME_LENGTH} characters")
    return name


def _claimed(name: str) -> str | None:
    """The installed distribution that already provides plugin ``name``, if any."""
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP, name=name):
        dist = getattr(ep, "dist", None)
        return f"{dist.name} {dist.version}" if dist is not None else ep.value
    return None


def new_plugin(name: str, folder: Path) -> Path:
    """Make the plugin project ``folder/erpsync-NAME`` from the template; return its path.

    :raises KitError: the name cannot name a plugin, an installed plugin has it already, the
        project's folder exists or cannot be written, or copier is not installed.
    """
    check_name(name)
    claimed = _claimed(name)
    if claimed is not None:
        raise KitError(
            f"an installed distribution ({claimed}) provides a plugin named {name!r} already; "
            "erpsync refuses two plugins of one name: choose another name"
        )
    if folder.exists() and not folder.is_dir():
        raise KitError(f"{folder} is not a folder: give --folder a folder (it may not exist yet)")
    target = folder / f"erpsync-{name}"
    if target.exists():
        raise KitError(f"{target} exists already: remove it, or give another --folder")
    try:
        from copier import run_copy
    except ImportError:
        raise KitError('making a plugin needs copier: pip install "erpsync[kit]"') from None
    major, minor = __version__.split(".")[:2]
    try:
        run_copy(
            str(TEMPLATE),
            target,
            data={
                "name": name,
                "hookspec_version": HOOKSPEC_VERSION,
                "erpsync_requirement": f"erpsync>={major}.{minor}",
            },
            defaults=True,  # no question is asked: the data answers them all
            quiet=True,
            unsafe=False,
            overwrite=False,
            cleanup_on_error=True,
        )
    except OSError as error:
        raise KitError(f"cannot write {target}: {error.strerror or error}") from error
    return target
