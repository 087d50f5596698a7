"""Meter profiles: register maps in TOML, shipped in profiles/ or in a user's own file.

A profile file has top-level keys ``maker``, ``model``, ``manual`` (the register map it
was checked against), optional ``references`` (the open implementations it was checked
against too), optional defaults for its registers (``kind``, ``type``, ``byte_order``),
optional ``max_gap`` and ``max_count`` for the planner, and an array ``[[registers]]``
of register tables with the same keys as a device's ``registers``.
"""

from __future__ import annotations

import functools
import tomllib
from pathlib import Path
from typing import Any

import attrs

from wattbridge_plugins.sources.modbus.registers import BYTE_ORDERS, KINDS, REGISTER_TYPES

PROFILES_DIR = Path(__file__).parent / "profiles"

RETIRED = {
    "carlogavazzi-em24": (
        "the EM24 has two register maps that differ from 0032h on: use "
        "'carlogavazzi-em24-e1' for the Ethernet (E1) models and "
        "'carlogavazzi-em24-rs485' for the RS-485 (IS) ones"
    ),
}
"""Profile names no longer shipped, with what to use instead: a config naming one fails
with that advice rather than reading a meter at addresses that may not be its own."""

_TOP_KEYS = {
    "maker",
    "model",
    "manual",
    "references",
    "kind",
    "type",
    "byte_order",
    "max_gap",
    "max_count",
    "registers",
}


@attrs.frozen
class Profile:
    """A loaded profile. ``registers`` are raw tables, checked when a device resolves them."""

    name: str
    maker: str
    model: str
    manual: str
    references: tuple[str, ...]
    kind: str | None
    type: str | None
    byte_order: str | None
    max_gap: int | None
    max_count: int | None
    registers: tuple[dict[str, Any], ...]


def shipped() -> dict[str, Path]:
    """The profiles shipped with the plugin, by name (the file name without .toml)."""
    return {path.stem: path for path in sorted(PROFILES_DIR.glob("*.toml"))}


def find(name: str) -> Path:
    """The file of a shipped profile; ValueError naming the ones there are."""
    profiles = shipped()
    if name in RETIRED:
        raise ValueError(f"profile {name!r} is no longer shipped: {RETIRED[name]}")
    if name not in profiles:
        import difflib

        close = difflib.get_close_matches(name, list(profiles), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ValueError(
            f"no profile {name!r}{hint} (shipped: {', '.join(profiles)}; "
            "or point profile_file at your own)"
        )
    return profiles[name]


@functools.lru_cache(maxsize=64)
def load(path: Path) -> Profile:
    """Read and check the top level of a profile file; ValueError names the file."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ValueError(f"profile {path}: cannot read: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"profile {path}: not valid TOML: {exc}") from None
    where = f"profile {path.stem}"
    unknown = sorted(set(data) - _TOP_KEYS)
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {', '.join(unknown)}")
    for key in ("maker", "model", "manual"):
        if not isinstance(data.get(key), str):
            raise ValueError(f"{where}: {key} must be given as a string")
    references = data.get("references", [])
    if not isinstance(references, list) or not all(isinstance(r, str) for r in references):
        raise ValueError(f"{where}: references must be a list of strings")
    for key, allowed in (("kind", KINDS), ("type", REGISTER_TYPES), ("byte_order", BYTE_ORDERS)):
        if key in data and data[key] not in allowed:
            raise ValueError(f"{where}: {key} {data[key]!r} is not one of {', '.join(allowed)}")
    for key in ("max_gap", "max_count"):
        if key in data and (not isinstance(data[key], int) or data[key] < 0):
            raise ValueError(f"{where}: {key} must be a whole number >= 0")
    registers = data.get("registers", [])
    if not isinstance(registers, list) or not all(isinstance(r, dict) for r in registers):
        raise ValueError(f"{where}: registers must be an array of tables ([[registers]])")
    return Profile(
        name=path.stem,
        maker=data["maker"],
        model=data["model"],
        manual=data["manual"],
        references=tuple(references),
        kind=data.get("kind"),
        type=data.get("type"),
        byte_order=data.get("byte_order"),
        max_gap=data.get("max_gap"),
        max_count=data.get("max_count"),
        registers=tuple(registers),
    )
