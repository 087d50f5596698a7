"""Plugin parts that need an optional dependency (an extra of the ``wattbridge``
distribution), imported only when they are used.

A slim install (``pip install wattbridge``) still loads every built-in plugin, so
``--help``, ``plugins``, ``check`` and the plugins whose dependencies are there all
work; building a source or sink, or running a command, whose dependency is missing ends
with an error that names the extra to install.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


class MissingExtra(ImportError):
    """A plugin's optional dependency is not installed; the message names the extra."""


def load(target: str, extra: str) -> Any:
    """Import ``module:attribute`` (or the module, given no ``:attribute``); a missing
    dependency raises :class:`MissingExtra`."""
    module_name, _, attribute = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and exc.name.split(".")[0] in ("wattbridge", "wattbridge_plugins"):
            raise
        what = target.rsplit(":", maxsplit=1)[-1].rsplit(".", maxsplit=1)[-1]
        raise MissingExtra(
            f"{what} needs {exc.name!r}, which is not installed: pip install 'wattbridge[{extra}]'"
        ) from exc
    return getattr(module, attribute) if attribute else module


def needs_extra(target: str, extra: str) -> Callable[..., Any]:
    """A stand-in for the callable at ``module:attribute`` that imports it on first call
    (a source or sink class, a command's ``run``); see :func:`load`."""

    def call(*args: Any, **kwargs: Any) -> Any:
        return load(target, extra)(*args, **kwargs)

    call.__name__ = target.rsplit(":", maxsplit=1)[-1]
    call.__doc__ = f"{target}, imported when first used (needs wattbridge[{extra}])."
    call.lazy_target = target  # type: ignore[attr-defined]  # where it lives, for checks
    return call
