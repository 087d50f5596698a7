"""``wattbridge homeassistant backfill``: queue what a Home Assistant recorded to the
sinks the config routes its ``homeassistant`` source to.

For each selected entity it reads the state changes HA's recorder stored since
``--since`` (``history/history_during_period``), and for the selected energy sensors
(device class ``energy``) the hourly long-term statistics (``recorder/statistics_during
_period``: the state at each hour's end), which HA keeps after it purges the states
(10 days by default). The readings are queued in the routed sinks' outboxes, exactly
as the running source would queue them; ``wattbridge run`` sends them. A reading sent
before is sent again, which a platform keeps as one value per stream and time.
"""

from __future__ import annotations

import argparse
import logging
from datetime import UTC, datetime

from wattbridge import Reading, exitcodes
from wattbridge.commands import CommandFailed, Config, Runtime, add_config_argument, read_config
from wattbridge_plugins.common.extras import MissingExtra, load
from wattbridge_plugins.sources.homeassistant.config import HomeAssistantConfig
from wattbridge_plugins.sources.homeassistant.history import (
    history_command,
    readings_from_statistics,
    states_from_history,
    statistics_command,
)
from wattbridge_plugins.sources.homeassistant.states import StateConverter, selection_from

HELP = "queue what Home Assistant recorded (history, hourly statistics) for the routed sinks"
PLUGIN = "homeassistant"
ANSWER_TIMEOUT = 300.0
"""A week of history for many entities is a large answer that HA builds for a while."""

log = logging.getLogger("wattbridge.source.homeassistant.backfill")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``backfill`` sub-command."""
    actions = parser.add_subparsers(dest="homeassistant_action", metavar="ACTION", required=True)
    backfill = actions.add_parser("backfill", help=HELP)
    add_config_argument(backfill)
    backfill.add_argument(
        "--since",
        required=True,
        type=_moment,
        help="from this time: 2026-11-30, 2026-11-30T06:00 (UTC) or with an offset",
    )
    backfill.add_argument("--until", type=_moment, help="up to this time (default: now)")
    backfill.add_argument("--source", help="only this homeassistant source of the config")
    backfill.add_argument(
        "--no-statistics",
        dest="statistics",
        action="store_false",
        help="do not send the hourly long-term statistics of energy sensors",
    )


def _moment(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a date or time (YYYY-MM-DD[THH:MM[:SS]][+HH:MM])"
        ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def run(args: argparse.Namespace) -> int:
    """Run ``wattbridge homeassistant backfill``; returns the exit code."""
    config = read_config(args)
    until = args.until or datetime.now(UTC)
    if args.since >= until:
        raise CommandFailed(f"--since {args.since} is not before --until {until}", exitcodes.USAGE)
    sources = _sources(config, args.source)
    per_source = {
        name: recorded_readings(source_config, args.since, until, statistics=args.statistics)
        for name, source_config in sources.items()
    }
    runtime = Runtime(config, args.registry)
    try:
        for name, readings in per_source.items():
            runtime.emit(name, readings)
    finally:
        runtime.close()
    for name, readings in per_source.items():
        print(f"{name}: queued {len(readings)} reading(s) from {args.since} to {until}")
    return 0


def _sources(config: Config, only: str | None) -> dict[str, HomeAssistantConfig]:
    found = {name: spec.config for name, spec in config.sources.items() if spec.type.name == PLUGIN}
    if only is not None:
        if only not in found:
            raise CommandFailed(
                f"no homeassistant source named {only!r} in {config.path} "
                f"(homeassistant sources: {', '.join(found) or 'none'})",
                exitcodes.NOT_FOUND,
            )
        return {only: found[only]}
    if not found:
        raise CommandFailed(
            f"{config.path} has no source with plugin = {PLUGIN!r}", exitcodes.NOT_FOUND
        )
    return found


def recorded_readings(
    config: HomeAssistantConfig, since: datetime, until: datetime, *, statistics: bool = True
) -> list[Reading]:
    """The selected entities' recorded state changes and, with ``statistics``, the
    hourly statistics of the selected energy sensors, between ``since`` and ``until``."""
    try:
        # websockets is the `homeassistant` extra: imported only when a backfill runs.
        client_module = load("wattbridge_plugins.sources.homeassistant.client", "homeassistant")
    except MissingExtra as exc:
        raise CommandFailed(str(exc), exitcodes.FAILURE) from None
    HomeAssistantClient = client_module.HomeAssistantClient
    AuthError, ProtocolError = client_module.AuthError, client_module.ProtocolError
    CONNECTION_ERRORS = client_module.CONNECTION_ERRORS
    try:
        client = HomeAssistantClient.connect(
            config.url, config.token, tls=config, timeout=config.connect_timeout
        )
    except AuthError as exc:
        raise CommandFailed(str(exc), exitcodes.FAILURE) from None
    except CONNECTION_ERRORS as exc:
        raise CommandFailed(
            f"cannot reach Home Assistant at {config.url}: {exc}", exitcodes.FAILURE
        ) from None
    try:
        converter = StateConverter(selection_from(config), log)
        states = client.call({"type": "get_states"}, ANSWER_TIMEOUT)
        selected = {
            state["entity_id"]: state
            for state in (states if isinstance(states, list) else [])
            if isinstance(state, dict)
            and converter.selected(state.get("entity_id"), state.get("attributes"))
        }
        if not selected:
            return []
        history = client.call(history_command(selected, since, until), ANSWER_TIMEOUT)
        readings = converter.convert_all(states_from_history(history))
        if statistics:
            units = {
                entity_id: str(state["attributes"].get("unit_of_measurement") or "")
                for entity_id, state in selected.items()
                if state["attributes"].get("device_class") == "energy"
            }
            if units:
                rows = client.call(statistics_command(units, since, until), ANSWER_TIMEOUT)
                readings += readings_from_statistics(rows, units)
        return readings
    except (ProtocolError, *CONNECTION_ERRORS) as exc:
        raise CommandFailed(f"Home Assistant at {config.url}: {exc}", exitcodes.FAILURE) from None
    finally:
        client.close()
