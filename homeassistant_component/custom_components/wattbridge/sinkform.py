"""A config-flow form for any registered sink type, built from its attrs config class.

Each field whose type a form can show (text, number, yes/no, a choice, a duration, a
path, a list of texts, a secret) becomes a form field; a :class:`wattbridge.Secret`
field is a password field. Keys a form cannot show (tables, nested profiles) go in the
``extra_toml`` field as TOML, so every sink type can be set up from the UI.
"""

from __future__ import annotations

import types
import typing
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

import attrs
import voluptuous as vol
from homeassistant.helpers import selector

from wattbridge import Secret, format_duration

from .const import CONF_EXTRA_TOML

try:
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python < 3.11
    import tomli as tomllib  # type: ignore[no-redef]


def _plain(hint: Any) -> tuple[Any, bool]:
    """The type inside ``X | None`` and whether None was allowed."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(hint) if a is not type(None)]
        optional = len(options) < len(typing.get_args(hint))
        if len(options) == 1:
            return options[0], optional
        # A union of several types (list or table): a form shows the first simple one.
        simple = [o for o in options if _selector(o) is not None]
        return (simple[0] if simple else options[0]), optional
    return hint, False


def _selector(hint: Any) -> selector.Selector | None:
    origin = typing.get_origin(hint)
    if hint is Secret:
        return selector.TextSelector(
            selector.TextSelectorConfig(type=selector.TextSelectorType.PASSWORD)
        )
    if hint is bool:
        return selector.BooleanSelector()
    if hint is int:
        return selector.NumberSelector(
            selector.NumberSelectorConfig(mode=selector.NumberSelectorMode.BOX, step=1)
        )
    if hint is float:
        return selector.NumberSelector(
            selector.NumberSelectorConfig(mode=selector.NumberSelectorMode.BOX, step="any")
        )
    if hint in (str, Path, timedelta):
        return selector.TextSelector()
    if origin is Literal:
        return selector.SelectSelector(
            selector.SelectSelectorConfig(options=[str(a) for a in typing.get_args(hint)])
        )
    if origin is list and typing.get_args(hint) in ((str,), ()):
        return selector.TextSelector(selector.TextSelectorConfig(multiple=True))
    return None


def _default(field: attrs.Attribute[Any]) -> Any:
    default = field.default
    if default is attrs.NOTHING:
        return vol.UNDEFINED
    factory = getattr(default, "factory", None)  # an attrs.Factory
    if callable(factory):
        default = factory()
    if default is None:
        return vol.UNDEFINED
    if isinstance(default, timedelta):
        return format_duration(default)
    if isinstance(default, Path):
        return str(default)
    return default


def form_fields(config_class: type) -> list[tuple[str, Any, bool]]:
    """(name, plain type, required) of each field a form can show, in class order."""
    hints = typing.get_type_hints(config_class)
    fields = []
    for field in attrs.fields(config_class):
        plain, optional = _plain(hints[field.name])
        if _selector(plain) is None:
            continue
        required = field.default is attrs.NOTHING and not optional
        fields.append((field.name, plain, required))
    return fields


def hidden_required(config_class: type) -> list[str]:
    """Required keys a form cannot show: the user gives them as TOML."""
    shown = {name for name, _, _ in form_fields(config_class)}
    return [
        f.name
        for f in attrs.fields(config_class)
        if f.default is attrs.NOTHING and f.name not in shown
    ]


def sink_schema(
    config_class: type, current: dict[str, Any] | None = None, *, stored_secrets: bool = False
) -> vol.Schema:
    """The form for a sink type; ``current`` fills in what the user gave before.

    With ``stored_secrets`` (the reconfigure flow) a secret field is never required: an
    empty one keeps the stored secret.
    """
    current = current or {}
    fields = {f.name: f for f in attrs.fields(config_class)}
    schema: dict[Any, Any] = {}
    for name, plain, required in form_fields(config_class):
        default = current.get(name, _default(fields[name]))
        if plain is Secret and name in current:
            default = vol.UNDEFINED  # never send a stored secret back to the browser
        marker = (
            vol.Required if required and not (stored_secrets and plain is Secret) else vol.Optional
        )
        key = (
            marker(name)
            if default is vol.UNDEFINED
            else marker(name, description={"suggested_value": default})
        )
        schema[key] = _selector(plain)
    schema[
        vol.Optional(
            CONF_EXTRA_TOML, description={"suggested_value": current.get(CONF_EXTRA_TOML, "")}
        )
    ] = selector.TextSelector(selector.TextSelectorConfig(multiline=True))
    return vol.Schema(schema)


def sink_table(config_class: type, user_input: dict[str, Any]) -> dict[str, Any]:
    """The sink's TOML table from a submitted form. Raises ValueError for bad TOML."""
    kinds = {name: plain for name, plain, _ in form_fields(config_class)}
    table: dict[str, Any] = {}
    for name, value in user_input.items():
        if name == CONF_EXTRA_TOML or name not in kinds or value in ("", None, []):
            continue
        # HA's number selector gives floats; an int key must get an int.
        if kinds[name] is int and isinstance(value, float) and value.is_integer():
            table[name] = int(value)
        else:
            table[name] = value
    extra = (user_input.get(CONF_EXTRA_TOML) or "").strip()
    if extra:
        try:
            more = tomllib.loads(extra)
        except tomllib.TOMLDecodeError as exc:
            raise ValueError(f"extra TOML: {exc}") from None
        table.update(more)
    return table
