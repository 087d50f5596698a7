"""Which config keys hold secrets: for diagnostics and for unique ids."""

from __future__ import annotations

import typing
from typing import Any

import attrs

from wattbridge import Secret

from .const import CONF_EXTRA_TOML

ALWAYS_REDACT = {"token", "password", "access_token", "api_key", CONF_EXTRA_TOML}


def secret_keys(config_class: type, seen: set[type] | None = None) -> set[str]:
    """Names of every Secret-typed field of ``config_class`` and the classes inside it."""
    seen = seen or set()
    if config_class in seen or not attrs.has(config_class):
        return set()
    seen.add(config_class)
    keys: set[str] = set()
    for name, hint in typing.get_type_hints(config_class).items():
        for part in _types_in(hint):
            if part is Secret:
                keys.add(name)
            elif attrs.has(part):
                keys |= secret_keys(part, seen)
    return keys


def _types_in(hint: Any) -> list[Any]:
    args = typing.get_args(hint)
    return [hint] if not args else [t for arg in args for t in _types_in(arg)]
