"""Where a command finds its config, and what ``status`` and ``deadletter list`` read
of it without building any plugin (so they need none of the sinks' secrets).

The order: ``-c FILE``, then ``$WATTBRIDGE_CONFIG``, then ``./wattbridge.toml``, then
``/etc/wattbridge/wattbridge.toml`` (where the systemd unit in examples/ keeps it).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import attrs

from wattbridge._config import Settings, path_in_config

try:
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python < 3.11
    import tomli as tomllib  # type: ignore[no-redef,import-not-found,unused-ignore]

CONFIG_ENV = "WATTBRIDGE_CONFIG"
LOCAL_CONFIG = Path("wattbridge.toml")
SYSTEM_CONFIG = Path("/etc/wattbridge/wattbridge.toml")


def config_candidates(given: Path | None) -> list[tuple[Path, str]]:
    """Each place looked at, in order, with why it is looked at."""
    if given is not None:
        return [(given, "-c")]
    places = []
    env = os.environ.get(CONFIG_ENV)
    if env:
        # Set but wrong is a mistake to report, not a reason to fall back silently.
        return [(Path(env), f"${CONFIG_ENV}")]
    places.append((LOCAL_CONFIG, "the current folder"))
    places.append((SYSTEM_CONFIG, "the system config"))
    return places


def find_config(given: Path | None) -> Path:
    """The config a command reads: the first of :func:`config_candidates` that exists,
    or (when none does) the first of them, so the error names it."""
    candidates = config_candidates(given)
    for path, _why in candidates:
        if path.exists():
            return path
    return candidates[0][0]


def searched(given: Path | None) -> str:
    """The places looked at, for an error message."""
    return ", ".join(f"{path} ({why})" for path, why in config_candidates(given))


@attrs.frozen
class LocalView:
    """What a config says about local files only: its path, state folder, and sink and
    source names."""

    path: Path
    state_dir: Path
    sinks: tuple[str, ...]
    sources: tuple[str, ...] = ()


class LocalViewError(Exception):
    """The config cannot be read even for its state folder and sink names."""


def read_local_view(path: Path) -> LocalView:
    """Read ``path``'s ``[wattbridge] state_dir`` and the names of its sinks, without
    checking plugin keys or resolving secrets (``status`` runs where they are not set)."""
    try:
        data: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise LocalViewError(f"{path}: cannot read: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise LocalViewError(f"{path}: not valid TOML: {exc}") from None
    settings = data.get("wattbridge", {})
    raw = (
        settings.get("state_dir", str(Settings().state_dir)) if isinstance(settings, dict) else None
    )
    if not isinstance(raw, str):
        raise LocalViewError(f"{path}: [wattbridge] state_dir: must be a path string")
    try:
        state_dir = path_in_config(raw, path)
    except ValueError as exc:
        raise LocalViewError(f"{path}: [wattbridge] state_dir: {exc}") from None
    sinks = data.get("sinks", {})
    if not isinstance(sinks, dict):
        raise LocalViewError(f"{path}: [sinks] must be a table of named sinks")
    sources = data.get("sources", {})
    if not isinstance(sources, dict):
        raise LocalViewError(f"{path}: [sources] must be a table of named sources")
    return LocalView(path.resolve(), state_dir, tuple(sinks), tuple(sources))
