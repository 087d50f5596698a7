"""Config flow: pick a sink type, fill in its keys (checked against the platform where
the sink type allows), pick the entities; a reconfigure flow for the sink's keys, a
reauth flow for its secrets, and an options flow for the entities."""

from __future__ import annotations

import hashlib
import json
import logging
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import voluptuous as vol
from homeassistant.config_entries import ConfigEntry, ConfigFlow, OptionsFlow
from homeassistant.core import callback
from homeassistant.helpers import selector

from wattbridge import ConfigError, Secret, redact
from wattbridge.commands import Registry

from .bridge import build_config, load_registry
from .checks import CannotConnect, InvalidAuth, check_sink
from .const import (
    CONF_EXCLUDE_DEVICE_CLASSES,
    CONF_EXCLUDE_DOMAINS,
    CONF_EXCLUDE_ENTITIES,
    CONF_INCLUDE_DEVICE_CLASSES,
    CONF_INCLUDE_DOMAINS,
    CONF_INCLUDE_ENTITIES,
    CONF_RESOLUTION,
    CONF_SINK,
    CONF_SINK_TYPE,
    CONF_STREAM_NAMES,
    DEVICE_CLASS_CHOICES,
    DOMAIN,
    DOMAIN_CHOICES,
    RESOLUTIONS,
)
from .redaction import ALWAYS_REDACT, secret_keys
from .sinkform import form_fields, sink_schema, sink_table

if TYPE_CHECKING:
    # HA 2024.4 and later; HA 2024.3 (the oldest supported) has only FlowResult, the
    # same dict at run time.
    from homeassistant.config_entries import ConfigFlowResult

_LOGGER = logging.getLogger(__package__)


def selection_schema(current: dict[str, Any]) -> vol.Schema:
    """The entity-selection form, filled in with ``current``."""

    def choices(options: tuple[str, ...]) -> selector.SelectSelector:
        return selector.SelectSelector(
            selector.SelectSelectorConfig(options=list(options), multiple=True, custom_value=True)
        )

    entities = selector.EntitySelector(selector.EntitySelectorConfig(multiple=True))
    fields: list[tuple[str, selector.Selector]] = [
        (CONF_INCLUDE_ENTITIES, entities),
        (CONF_INCLUDE_DEVICE_CLASSES, choices(DEVICE_CLASS_CHOICES)),
        (CONF_INCLUDE_DOMAINS, choices(DOMAIN_CHOICES)),
        (CONF_EXCLUDE_ENTITIES, entities),
        (CONF_EXCLUDE_DEVICE_CLASSES, choices(DEVICE_CLASS_CHOICES)),
        (CONF_EXCLUDE_DOMAINS, choices(DOMAIN_CHOICES)),
    ]
    schema: dict[Any, Any] = {
        vol.Optional(key, description={"suggested_value": current.get(key, [])}): sel
        for key, sel in fields
    }
    schema[vol.Optional(CONF_RESOLUTION, default=current.get(CONF_RESOLUTION, "exact"))] = (
        selector.SelectSelector(
            selector.SelectSelectorConfig(
                options=list(RESOLUTIONS), translation_key=CONF_RESOLUTION
            )
        )
    )
    names = "\n".join(f"{k} = {v}" for k, v in current.get(CONF_STREAM_NAMES, {}).items())
    schema[vol.Optional(CONF_STREAM_NAMES, description={"suggested_value": names})] = (
        selector.TextSelector(selector.TextSelectorConfig(multiline=True))
    )
    return vol.Schema(schema)


def parse_stream_names(text: str) -> dict[str, str]:
    """``entity_id = name`` lines to a mapping; raises ValueError naming the bad line."""
    names: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        entity_id, sep, name = line.partition("=")
        entity_id, name = entity_id.strip(), name.strip().strip('"')
        if not sep or "." not in entity_id or not name:
            raise ValueError(f"line {number}: write entity_id = stream name, not {line!r}")
        names[entity_id] = name
    return names


def _clean_selection(user_input: dict[str, Any]) -> dict[str, Any]:
    """The options to store; raises ValueError for bad stream-name lines."""
    options: dict[str, Any] = {
        key: list(value)
        for key, value in user_input.items()
        if value and key not in (CONF_RESOLUTION, CONF_STREAM_NAMES)
    }
    if user_input.get(CONF_RESOLUTION, "exact") != "exact":
        options[CONF_RESOLUTION] = user_input[CONF_RESOLUTION]
    names = parse_stream_names(user_input.get(CONF_STREAM_NAMES) or "")
    if names:
        options[CONF_STREAM_NAMES] = names
    return options


def _validate(registry: Registry, sink_type: str, table: dict[str, Any]) -> None:
    """Check the sink's keys and, where possible, its credentials (blocking)."""
    with tempfile.TemporaryDirectory(prefix="wattbridge-flow-") as folder:
        config = build_config(registry, Path(folder), sink_type, table)
        check_sink(config)


def _without_secrets(data: Any, secret_names: set[str]) -> Any:
    if isinstance(data, dict):
        return {
            key: _without_secrets(value, secret_names)
            for key, value in data.items()
            if key not in secret_names
        }
    return data


def _unique_id(sink_type: str, table: dict[str, Any], registry: Registry) -> str:
    """The sink type and its non-secret keys: the same target twice is one entry.

    Secrets (nested ones included) are left out, so a new token is the same target and
    no digest of a token is ever shown as an id.
    """
    secret_names = secret_keys(registry.sinks[sink_type].config_class) | ALWAYS_REDACT
    public = _without_secrets(table, secret_names)
    digest = hashlib.sha256(json.dumps(public, sort_keys=True, default=str).encode()).hexdigest()
    return f"{sink_type}:{digest[:16]}"


class WattbridgeConfigFlow(ConfigFlow, domain=DOMAIN):
    """Set up one wattbridge sink."""

    VERSION = 1

    def __init__(self) -> None:
        self._registry: Registry | None = None
        self._sink_type = ""
        self._table: dict[str, Any] = {}
        self._reauth_entry: ConfigEntry | None = None

    async def _check(
        self,
        registry: Registry,
        sink_type: str,
        build_table: Callable[[], dict[str, Any]],
        placeholders: dict[str, str],
    ) -> tuple[str, dict[str, Any]]:
        """Build the sink's table and check it (config, then the platform where the sink
        type can be checked): the form's error key ("" when all is well) and the table."""
        table: dict[str, Any] = {}
        try:
            table = build_table()
            await self.hass.async_add_executor_job(_validate, registry, sink_type, table)
        except (ValueError, ConfigError) as exc:
            placeholders["problems"] = redact(str(exc))
            return "invalid_config", table
        except InvalidAuth:
            return "invalid_auth", table
        except CannotConnect as exc:
            placeholders["problems"] = redact(str(exc))
            return "cannot_connect", table
        except Exception:  # an unexpected failure of a third-party sink's check
            _LOGGER.exception("checking the %s sink failed", sink_type)
            return "unknown", table
        return "", table

    async def async_step_reauth(self, entry_data: Mapping[str, Any]) -> ConfigFlowResult:
        """The platform refused the stored token: ask for new secrets."""
        self._reauth_entry = self.hass.config_entries.async_get_entry(self.context["entry_id"])
        return await self.async_step_reauth_confirm()

    async def async_step_reauth_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """The sink's secret fields; checked like the first time, then the entry reloads."""
        entry = self._reauth_entry
        assert entry is not None
        registry = await self._get_registry()
        sink_type = entry.data[CONF_SINK_TYPE]
        config_class = registry.sinks[sink_type].config_class
        secret_fields = [name for name, plain, _ in form_fields(config_class) if plain is Secret]
        errors: dict[str, str] = {}
        placeholders = {"sink_type": sink_type, "problems": ""}
        if user_input is not None:
            table = {**entry.data[CONF_SINK], **{k: v for k, v in user_input.items() if v}}
            error, _ = await self._check(registry, sink_type, lambda: table, placeholders)
            if error:
                errors["base"] = error
            else:
                self.hass.config_entries.async_update_entry(
                    entry, data={**entry.data, CONF_SINK: table}
                )
                await self.hass.config_entries.async_reload(entry.entry_id)
                return self.async_abort(reason="reauth_successful")
        schema = vol.Schema(
            {
                vol.Optional(name): selector.TextSelector(
                    selector.TextSelectorConfig(type=selector.TextSelectorType.PASSWORD)
                )
                for name in secret_fields
            }
        )
        return self.async_show_form(
            step_id="reauth_confirm",
            data_schema=schema,
            errors=errors,
            description_placeholders=placeholders,
        )

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Change the sink's keys: the form shows the stored ones (never a secret: an
        empty secret field keeps the stored one; keys the form cannot show are kept,
        and Extra TOML adds or replaces keys). Checked like the first set-up; the entry
        then reloads with its queue as it was."""
        entry = self.hass.config_entries.async_get_entry(self.context["entry_id"])
        assert entry is not None
        registry = await self._get_registry()
        sink_type = entry.data[CONF_SINK_TYPE]
        config_class = registry.sinks[sink_type].config_class
        stored: dict[str, Any] = dict(entry.data[CONF_SINK])
        shown = {name: plain for name, plain, _ in form_fields(config_class)}
        errors: dict[str, str] = {}
        placeholders = {"sink_type": sink_type, "problems": ""}
        if user_input is not None:
            form = user_input

            def build() -> dict[str, Any]:
                table = {key: value for key, value in stored.items() if key not in shown}
                table.update(
                    (key, stored[key])
                    for key, plain in shown.items()
                    if plain is Secret and key in stored and not form.get(key)
                )
                table.update(sink_table(config_class, form))
                return table

            error, table = await self._check(registry, sink_type, build, placeholders)
            if error:
                errors["base"] = error
            else:
                unique_id = _unique_id(sink_type, table, registry)
                if any(
                    other.unique_id == unique_id and other.entry_id != entry.entry_id
                    for other in self._async_current_entries(include_ignore=False)
                ):
                    return self.async_abort(reason="already_configured")
                self.hass.config_entries.async_update_entry(
                    entry, data={**entry.data, CONF_SINK: table}, unique_id=unique_id
                )
                await self.hass.config_entries.async_reload(entry.entry_id)
                return self.async_abort(reason="reconfigure_successful")
        current = user_input or {
            key: value for key, value in stored.items() if key in shown and shown[key] is not Secret
        }
        return self.async_show_form(
            step_id="reconfigure",
            data_schema=sink_schema(config_class, current, stored_secrets=True),
            errors=errors,
            description_placeholders=placeholders,
        )

    async def _get_registry(self) -> Registry:
        if self._registry is None:
            self._registry = await self.hass.async_add_executor_job(load_registry)
        return self._registry

    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Pick the sink type."""
        registry = await self._get_registry()
        if user_input is not None:
            self._sink_type = user_input[CONF_SINK_TYPE]
            return await self.async_step_sink()
        types = sorted(registry.sinks)
        schema = vol.Schema(
            {
                vol.Required(CONF_SINK_TYPE): selector.SelectSelector(
                    selector.SelectSelectorConfig(options=types, translation_key="sink_type")
                )
            }
        )
        return self.async_show_form(step_id="user", data_schema=schema)

    async def async_step_sink(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """The sink's keys, checked before going on."""
        registry = await self._get_registry()
        config_class = registry.sinks[self._sink_type].config_class
        errors: dict[str, str] = {}
        placeholders = {"sink_type": self._sink_type, "problems": ""}
        if user_input is not None:
            error, table = await self._check(
                registry,
                self._sink_type,
                lambda: sink_table(config_class, user_input),
                placeholders,
            )
            if error:
                errors["base"] = error
            else:
                await self.async_set_unique_id(_unique_id(self._sink_type, table, registry))
                self._abort_if_unique_id_configured()
                self._table = table
                return await self.async_step_entities()
        return self.async_show_form(
            step_id="sink",
            data_schema=sink_schema(config_class, user_input),
            errors=errors,
            description_placeholders=placeholders,
        )

    async def async_step_entities(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Which entities' states are sent."""
        errors: dict[str, str] = {}
        placeholders = {"problems": ""}
        if user_input is not None:
            try:
                options = _clean_selection(user_input)
            except ValueError as exc:
                errors[CONF_STREAM_NAMES] = "invalid_stream_names"
                placeholders["problems"] = str(exc)
            else:
                return self.async_create_entry(
                    title=self._sink_type,
                    data={CONF_SINK_TYPE: self._sink_type, CONF_SINK: self._table},
                    options=options,
                )
        return self.async_show_form(
            step_id="entities",
            data_schema=selection_schema({}),
            errors=errors,
            description_placeholders=placeholders,
        )

    @staticmethod
    @callback
    def async_get_options_flow(config_entry: ConfigEntry) -> OptionsFlow:
        """The options flow: change the entity selection."""
        return WattbridgeOptionsFlow(config_entry)


class WattbridgeOptionsFlow(OptionsFlow):
    """Change which entities are sent."""

    def __init__(self, config_entry: ConfigEntry) -> None:
        self.entry = config_entry

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """The entity selection."""
        errors: dict[str, str] = {}
        placeholders = {"problems": ""}
        if user_input is not None:
            try:
                return self.async_create_entry(title="", data=_clean_selection(user_input))
            except ValueError as exc:
                errors[CONF_STREAM_NAMES] = "invalid_stream_names"
                placeholders["problems"] = str(exc)
        return self.async_show_form(
            step_id="init",
            data_schema=selection_schema(dict(self.entry.options)),
            errors=errors,
            description_placeholders=placeholders,
        )
