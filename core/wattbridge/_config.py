"""The TOML config: reading it, checking every key against the plugins' attrs classes,
and reporting every mistake at once with its file, line, table and key.

A config has a ``[wattbridge]`` table of settings, ``[sources.NAME]`` and
``[sinks.NAME]`` tables (each with ``plugin = "..."``) and ``[[routes]]``.
"""

from __future__ import annotations

import difflib
import os
import re
import stat
import types
import typing
from collections.abc import Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

import attrs

from wattbridge._durations import parse_duration
from wattbridge._errors import ConfigValueError
from wattbridge._plugins import PluginType, Registry
from wattbridge._resample import Resample
from wattbridge._resolution import route_problems
from wattbridge._secret import Secret
from wattbridge._servicesettings import HttpSettings, LogSettings
from wattbridge._tomllines import TomlLines
from wattbridge._validators import positive_duration

try:
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python < 3.11
    import tomli as tomllib  # type: ignore[no-redef,import-not-found,unused-ignore]


# ---------------------------------------------------------------------------
# What a mistake looks like
# ---------------------------------------------------------------------------


@attrs.frozen
class Problem:
    """One mistake in a config: where it is and what is wrong."""

    file: str
    line: int | None
    table: str
    key: str | None
    message: str

    def __str__(self) -> str:
        place = f"{self.file}:{self.line}" if self.line else self.file
        key = f" {self.key}:" if self.key else ""
        table = f" {self.table}" if self.table else ""
        return f"{place}:{table}{key} {self.message}"


class ConfigError(Exception):
    """The config has mistakes; ``problems`` lists every one of them."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        count = len(self.problems)
        lines = "\n".join(f"  {problem}" for problem in self.problems)
        super().__init__(f"{count} problem{'s' if count != 1 else ''} in the config:\n{lines}")


class _Invalid(Exception):
    """Raised inside conversion; turned into a Problem by the caller."""


# ---------------------------------------------------------------------------
# The config's own tables
# ---------------------------------------------------------------------------

LogLevel = Literal["debug", "info", "warning", "error"]


@attrs.frozen
class Settings:
    """The ``[wattbridge]`` table."""

    state_dir: Path = Path("wattbridge-state")
    """Where outboxes and plugin state live; relative paths are from the config's folder."""
    log_level: LogLevel = "info"
    log_format: Literal["text", "json"] = "text"
    fsync: bool = True
    """Sync every accepted batch to disk, so it survives a power cut (not only a crash).
    false trades that for speed on slow disks (SD cards): a crash still loses nothing."""
    http: HttpSettings | None = None
    """``[wattbridge.http]``: the metrics and health endpoint; off unless the table is there."""
    log: LogSettings = attrs.field(factory=LogSettings)
    """``[wattbridge.log]``: a rotating log file instead of standard error."""
    dead_letter_retention: timedelta | None = None
    """Dead letters older than this are deleted by ``wattbridge run`` (default: kept)."""


@attrs.frozen
class SourceCommon:
    """The keys every ``[sources.NAME]`` table has, whatever its plugin."""

    plugin: str
    interval: timedelta = attrs.field(default=timedelta(seconds=10), validator=positive_duration)
    """How often a polled source is polled, on the wall clock's grid (15m: :00, :15 ...)."""
    timestamp: Literal["scheduled", "measured"] = "scheduled"
    """scheduled: a polled source's readings carry the grid instant of their poll;
    measured: the timestamps the source gave them."""


@attrs.frozen
class SinkCommon:
    """The keys every ``[sinks.NAME]`` table has, whatever its plugin."""

    plugin: str
    flush_interval: timedelta = attrs.field(
        default=timedelta(seconds=1), validator=positive_duration
    )
    """How often the outbox is drained (sooner when a full batch is waiting)."""
    max_queue: int = attrs.field(default=1_000_000, validator=attrs.validators.ge(1))
    """The outbox's bound in readings: sources pause when it is reached."""
    max_queue_bytes: int = attrs.field(
        default=2_000_000_000, validator=attrs.validators.ge(1_000_000)
    )
    """The outbox file's bound in bytes, for sources that cannot pause without loss (an
    MQTT subscription, Home Assistant's events): they go on past ``max_queue`` up to it."""
    min_free_bytes: int = attrs.field(default=200_000_000, validator=attrs.validators.ge(0))
    """Free space past ``max_queue`` never takes from the outbox's file system."""
    batch_size: int | None = attrs.field(
        default=None, validator=attrs.validators.optional(attrs.validators.ge(1))
    )
    """Readings per send; at most the sink's own limit."""
    retry_initial: timedelta = attrs.field(
        default=timedelta(seconds=1), validator=positive_duration
    )
    retry_max: timedelta = attrs.field(default=timedelta(minutes=5), validator=positive_duration)


@attrs.frozen
class SourceSpec:
    """A configured source: its name, common keys, plugin type and plugin config."""

    name: str
    common: SourceCommon
    type: PluginType
    config: Any


@attrs.frozen
class SinkSpec:
    """A configured sink: its name, common keys, plugin type and plugin config."""

    name: str
    common: SinkCommon
    type: PluginType
    config: Any


@attrs.frozen
class Route:
    """Readings of ``sources`` go to ``sinks``; ``streams`` maps names (None: all, as
    named); ``resample`` folds them into windows first (None: each reading as it is)."""

    sources: tuple[str, ...]
    sinks: tuple[str, ...]
    streams: Mapping[str, str] | None = None
    resample: Resample | None = None


@attrs.frozen
class Config:
    """A loaded, checked config."""

    path: Path
    settings: Settings
    sources: Mapping[str, SourceSpec]
    sinks: Mapping[str, SinkSpec]
    routes: tuple[Route, ...]
    warnings: tuple[str, ...] = ()

    @property
    def state_dir(self) -> Path:
        """The state folder, absolute."""
        return self.settings.state_dir


# ---------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------

TOP_LEVEL = ("wattbridge", "sources", "sinks", "routes")
ROUTE_KEYS = ("from", "to", "streams", "resample")


def load_config(path: str | os.PathLike[str], registry: Registry) -> Config:
    """Read and check the config at ``path``. Raises :class:`ConfigError` with every problem."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        problem = Problem(str(path), None, "", None, f"cannot read: {exc.strerror}")
        raise ConfigError([problem]) from None
    except UnicodeDecodeError as exc:
        problem = Problem(str(path), None, "", None, f"not UTF-8 text: {exc.reason}")
        raise ConfigError([problem]) from None
    return parse_config(text, path, registry)


def parse_config(text: str, path: Path, registry: Registry) -> Config:
    """Check a config's TOML ``text`` as if read from ``path``."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        match = re.search(r"at line (\d+)", str(exc))
        line = int(match.group(1)) if match else None
        raise ConfigError([Problem(str(path), line, "", None, f"not valid TOML: {exc}")]) from None
    return config_from_data(data, path, registry, lines=TomlLines(text))


def config_from_data(
    data: dict[str, Any], path: Path, registry: Registry, *, lines: TomlLines | None = None
) -> Config:
    """Check a config given as parsed data (as if read from ``path``), for programs that
    build configs themselves, like the Home Assistant component and tests."""
    loader = _Loader(path, lines or TomlLines(""), registry)
    config = loader.load(data)
    if loader.problems:
        raise ConfigError(loader.problems)
    assert config is not None
    return config


def path_in_config(raw: str, config_file: Path) -> Path:
    """``raw``, a path as a user writes it in a config file: ``~`` and ``~user``
    expanded, and a relative path taken from ``config_file``'s folder. An unknown
    ``~user`` is a ValueError that names it (pathlib's own is a bare RuntimeError)."""
    try:
        path = Path(raw).expanduser()
    except RuntimeError:
        raise ValueError(f"{raw.split('/', 1)[0]}: no such user's home folder") from None
    return path if path.is_absolute() else (config_file.parent / path).resolve()


def _table_keys(data: dict[str, Any], name: str) -> list[str]:
    tables = data.get(name)
    return list(tables) if isinstance(tables, dict) else []


def closest(word: str, candidates: typing.Iterable[str]) -> str | None:
    """The candidate most like ``word`` (a likely misspelling), or None."""
    matches = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return matches[0] if matches else None


def _suggest(word: str, candidates: typing.Iterable[str]) -> str:
    match = closest(word, candidates)
    return f"; did you mean {match!r}?" if match else ""


def config_keys(cls: type) -> list[Any]:
    """The fields of a config class that are keys: all but ``init=False`` ones, which
    the class computes itself (a modbus source's resolved buses, say)."""
    return [field for field in attrs.fields(cls) if field.init]


def _unknown_key(cls: type, key: str, names: typing.Iterable[str], owner: str = "") -> str:
    # A config class may list keys it had in earlier versions as a ClassVar
    # ``renamed_keys`` (old -> new), so an old config is told what to write instead.
    renamed: Mapping[str, str] = getattr(cls, "renamed_keys", {})
    if key in renamed:
        return f"renamed to {renamed[key]!r}"
    return f"unknown key{owner}{_suggest(key, names)}"


def _table_name(path: Sequence[str | int]) -> str:
    if path and isinstance(path[-1], int):
        return f"[[{'.'.join(str(p) for p in path[:-1])}]] #{path[-1] + 1}"
    return f"[{'.'.join(str(p) for p in path)}]" if path else ""


class _Loader:
    def __init__(self, path: Path, lines: TomlLines, registry: Registry) -> None:
        self.path = path
        self.lines = lines
        self.registry = registry
        self.problems: list[Problem] = []
        self.warnings: list[str] = []
        self.inline_secrets = False

    # -- reporting ---------------------------------------------------------

    def problem(self, table: Sequence[str | int], key: str | None, message: str) -> None:
        first_key = key.split(".")[0].split("[")[0] if key else None
        line = self.lines.line_of(table, first_key)
        self.problems.append(Problem(str(self.path), line, _table_name(table), key, message))

    def warn_if_readable(self, path: Path, what: str) -> None:
        try:
            mode = path.stat().st_mode
        except OSError:
            return
        if mode & (stat.S_IRGRP | stat.S_IROTH):
            self.warnings.append(
                f"{path} {what} and is readable by other users (mode {stat.S_IMODE(mode):04o}); "
                f'run `chmod 600 {path}` or use {{env = "VAR"}}'
            )

    # -- the tables --------------------------------------------------------

    def load(self, data: dict[str, Any]) -> Config | None:
        for key in data:
            if key not in TOP_LEVEL:
                self.problem((), key, f"unknown table{_suggest(key, TOP_LEVEL)}")
        settings = self.structure(Settings, data.get("wattbridge", {}), ("wattbridge",))
        sources = self.load_named("sources", data.get("sources", {}), self.registry.sources)
        sinks = self.load_named("sinks", data.get("sinks", {}), self.registry.sinks)
        # Routes are checked against every declared name, so a source with a mistake of
        # its own does not also make each route that names it look wrong.
        routes = self.load_routes(
            data.get("routes", []), _table_keys(data, "sources"), _table_keys(data, "sinks")
        )
        if not self.problems:
            for index, key, message in route_problems(routes, sources, sinks):
                self.problem(("routes", index), key, message)
        if self.problems or settings is None:
            return None
        state_dir = settings.state_dir
        if not state_dir.is_absolute():
            state_dir = (self.path.parent / state_dir).resolve()
        settings = attrs.evolve(settings, state_dir=state_dir)
        if self.inline_secrets:
            self.warn_if_readable(self.path, "holds a secret inline")
        routed_sinks = {sink for route in routes for sink in route.sinks}
        routed_sources = {source for route in routes for source in route.sources}
        for name in sinks:
            if name not in routed_sinks:
                self.warnings.append(f"{self.path}: [sinks.{name}] no route leads to it")
        for name in sources:
            if name not in routed_sources:
                self.warnings.append(
                    f"{self.path}: [sources.{name}] no route takes its readings; "
                    "they will be counted as unrouted"
                )
        return Config(
            path=self.path.resolve(),
            settings=settings,
            sources=sources,  # type: ignore[arg-type]
            sinks=sinks,  # type: ignore[arg-type]
            routes=tuple(routes),
            warnings=tuple(self.warnings),
        )

    def load_named(
        self, kind: str, tables: Any, types_: Mapping[str, PluginType]
    ) -> dict[str, SourceSpec | SinkSpec]:
        if not isinstance(tables, dict):
            self.problem((kind,), None, f"must be a table of named {kind}")
            return {}
        specs: dict[str, SourceSpec | SinkSpec] = {}
        common_class: type = SourceCommon if kind == "sources" else SinkCommon
        spec_class: type = SourceSpec if kind == "sources" else SinkSpec
        for name, table in tables.items():
            where = (kind, name)
            if not isinstance(table, dict):
                self.problem(where, None, 'must be a table with at least `plugin = "..."`')
                continue
            plugin_name = table.get("plugin")
            if not isinstance(plugin_name, str):
                self.problem(where, "plugin", f"missing: say which plugin, one of {sorted(types_)}")
                continue
            plugin_type = types_.get(plugin_name)
            if plugin_type is None:
                self.problem(
                    where,
                    "plugin",
                    f"no {kind[:-1]} plugin {plugin_name!r}{_suggest(plugin_name, types_)} "
                    f"(installed: {', '.join(sorted(types_)) or 'none'})",
                )
                continue
            common_keys = {f.name for f in config_keys(common_class)}
            plugin_keys = {f.name for f in config_keys(plugin_type.config_class)}
            for polling_key in ("interval", "timestamp"):
                if (
                    kind == "sources"
                    and polling_key in table
                    and not hasattr(plugin_type.factory, "poll")
                    and polling_key not in plugin_keys
                ):
                    self.problem(where, polling_key, f"{plugin_name!r} is not polled; remove it")
            for key in table:
                if key not in common_keys and key not in plugin_keys:
                    self.problem(
                        where,
                        key,
                        _unknown_key(
                            plugin_type.config_class,
                            key,
                            common_keys | plugin_keys,
                            f" for plugin {plugin_name!r}",
                        ),
                    )
            common = self.structure(
                common_class, {k: v for k, v in table.items() if k in common_keys}, where
            )
            config = self.structure(
                plugin_type.config_class,
                {k: v for k, v in table.items() if k in plugin_keys},
                where,
            )
            if common is not None and config is not None:
                specs[name] = spec_class(name, common, plugin_type, config)
        return specs

    def load_routes(self, routes: Any, sources: Sequence[str], sinks: Sequence[str]) -> list[Route]:
        if not isinstance(routes, list):
            self.problem(("routes",), None, "must be an array of tables: write [[routes]]")
            return []
        result = []
        for index, table in enumerate(routes):
            where: tuple[str | int, ...] = ("routes", index)
            if not isinstance(table, dict):
                self.problem(where, None, "must be a table with `from` and `to`")
                continue
            for key in table:
                if key not in ROUTE_KEYS:
                    self.problem(where, key, f"unknown key{_suggest(key, ROUTE_KEYS)}")
            froms = self.names(table, "from", where, sources, "source")
            tos = self.names(table, "to", where, sinks, "sink")
            streams = table.get("streams")
            if streams is not None and not (
                isinstance(streams, dict) and all(isinstance(v, str) for v in streams.values())
            ):
                self.problem(
                    where, "streams", 'must map stream names to names: {"power_w" = "meter/power"}'
                )
                streams = None
            resample = None
            if "resample" in table:
                try:
                    resample = self.nested(table["resample"], Resample, where)
                except _Invalid as exc:
                    self.problem(where, "resample", str(exc))
            if froms and tos:
                result.append(Route(froms, tos, streams, resample))
        return result

    def names(
        self,
        table: dict[str, Any],
        key: str,
        where: tuple[str | int, ...],
        known: Sequence[str],
        kind: str,
    ) -> tuple[str, ...]:
        value = table.get(key)
        if value is None:
            self.problem(where, key, f"missing: name the {kind} (or a list of them)")
            return ()
        names = [value] if isinstance(value, str) else value
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            self.problem(where, key, f"must be a {kind} name or a list of names")
            return ()
        good = []
        for name in names:
            if name in known:
                good.append(name)
            else:
                self.problem(where, key, f"no {kind} named {name!r}{_suggest(name, known)}")
        return tuple(good) if len(good) == len(names) else ()

    # -- values --------------------------------------------------------------

    def structure(self, cls: type, table: Any, where: Sequence[str | int]) -> Any:
        """Build the attrs ``cls`` from ``table``, recording every problem; None if any."""
        if not isinstance(table, dict):
            self.problem(where, None, "must be a table")
            return None
        hints = typing.get_type_hints(cls)
        kwargs: dict[str, Any] = {}
        before = len(self.problems)
        field_names = {f.name for f in config_keys(cls)}
        for field in config_keys(cls):
            if field.name in table:
                try:
                    kwargs[field.name] = self.convert(table[field.name], hints[field.name], where)
                except _Invalid as exc:
                    self.problem(where, field.name, str(exc))
            elif field.default is attrs.NOTHING:
                self.problem(where, field.name, "missing (required)")
        for key in table:
            if key not in field_names:
                self.problem(where, key, _unknown_key(cls, key, field_names))
        self.validate_each(cls, kwargs, where)
        if len(self.problems) > before:
            return None
        try:
            return cls(**kwargs)
        except ConfigValueError as exc:
            self.problem(where, exc.key, exc.message)
            return None
        except (ValueError, TypeError) as exc:
            # Only checks across fields (__attrs_post_init__) get here, every field's own
            # validator having passed; a third-party plugin's plain ValueError names no
            # key, so the key is read off the message where it starts with one.
            self.problem(where, _key_in(str(exc), field_names), str(exc))
            return None

    def validate_each(self, cls: type, kwargs: dict[str, Any], where: Sequence[str | int]) -> None:
        """Run every field's validator on its own, recording each refusal under its key.

        attrs stops at the first validator that raises, which made a new user fix a
        file one mistake per run; here every refused value is reported at once. The
        validators see a stand-in instance holding the other fields' values.
        """
        values: dict[str, Any] = {}
        for field in config_keys(cls):
            if field.name in kwargs:
                values[field.name] = kwargs[field.name]
            elif isinstance(field.default, attrs.Factory):  # type: ignore[arg-type]
                if not field.default.takes_self:
                    values[field.name] = field.default.factory()
            elif field.default is not attrs.NOTHING:
                values[field.name] = field.default
        stand_in = types.SimpleNamespace(**values)
        for field in config_keys(cls):
            if field.validator is None or field.name not in values:
                continue
            value = values[field.name]
            try:
                if callable(field.converter):
                    value = field.converter(value)
                field.validator(stand_in, field, value)
            except ConfigValueError as exc:
                self.problem(where, exc.key, exc.message)
            except (ValueError, TypeError) as exc:
                self.problem(where, field.name, str(exc))

    def convert(self, value: Any, hint: Any, where: Sequence[str | int]) -> Any:
        origin = typing.get_origin(hint)
        args = typing.get_args(hint)
        if hint is Any:
            return value
        if origin in (typing.Union, types.UnionType):
            options = [a for a in args if a is not type(None)]
            errors = []
            for option in options:
                try:
                    return self.convert(value, option, where)
                except _Invalid as exc:
                    errors.append(str(exc))
            raise _Invalid(" or ".join(errors))
        if origin is Literal:
            if value not in args:
                raise _Invalid(
                    f"{value!r} is not one of {', '.join(repr(a) for a in args)}"
                    f"{_suggest(str(value), [str(a) for a in args])}"
                )
            return value
        if hint is bool:
            if not isinstance(value, bool):
                raise _Invalid(f"must be true or false, not {value!r}")
            return value
        if hint is int:
            if isinstance(value, bool) or not isinstance(value, int):
                raise _Invalid(f"must be a whole number, not {value!r}")
            return value
        if hint is float:
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise _Invalid(f"must be a number, not {value!r}")
            return float(value)
        if hint is str:
            if not isinstance(value, str):
                raise _Invalid(f"must be a string, not {value!r}")
            return value
        if hint is timedelta:
            try:
                return parse_duration(value)
            except (ValueError, TypeError, AttributeError) as exc:
                raise _Invalid(str(exc)) from None
        if hint is Secret:
            return self.secret(value)
        if hint is Path:
            if not isinstance(value, str):
                raise _Invalid(f"must be a path string, not {value!r}")
            try:
                return path_in_config(value, self.path)
            except ValueError as exc:
                raise _Invalid(str(exc)) from None
        if origin in (list, tuple, Sequence) or hint in (list, tuple):
            if not isinstance(value, list):
                raise _Invalid(f"must be a list, not {value!r}")
            item = args[0] if args else Any
            items = []
            for index, element in enumerate(value):
                try:
                    items.append(self.convert(element, item, where))
                except _Invalid as exc:
                    raise _Invalid(f"item {index + 1}: {exc}") from None
            return tuple(items) if origin is tuple else items
        if origin in (dict, Mapping) or hint is dict:
            if not isinstance(value, dict):
                raise _Invalid(f"must be a table, not {value!r}")
            item = args[1] if len(args) == 2 else Any
            result = {}
            for key, element in value.items():
                try:
                    result[key] = self.convert(element, item, where)
                except _Invalid as exc:
                    raise _Invalid(f"{key}: {exc}") from None
            return result
        if attrs.has(hint):
            return self.nested(value, hint, where)
        if isinstance(hint, type):
            if isinstance(value, hint):
                return value
            raise _Invalid(f"must be {hint.__name__}, not {value!r}")
        return value

    def nested(self, value: Any, cls: type, where: Sequence[str | int]) -> Any:
        """A nested table: mistakes inside it are reported with their own key."""
        if not isinstance(value, dict):
            raise _Invalid(f"must be a table, not {value!r}")
        hints = typing.get_type_hints(cls)
        names = {f.name for f in config_keys(cls)}
        messages = []
        kwargs = {}
        for key in value:
            if key not in names:
                messages.append(f"{key}: {_unknown_key(cls, key, names)}")
        for field in config_keys(cls):
            if field.name in value:
                try:
                    kwargs[field.name] = self.convert(value[field.name], hints[field.name], where)
                except _Invalid as exc:
                    messages.append(f"{field.name}: {exc}")
            elif field.default is attrs.NOTHING:
                messages.append(f"{field.name}: missing (required)")
        if not messages:
            try:
                return cls(**kwargs)
            except (ValueError, TypeError) as exc:
                messages.append(str(exc))
        raise _Invalid("; ".join(messages))

    def secret(self, value: Any) -> Secret:
        if isinstance(value, str):
            self.inline_secrets = True
            return Secret(value)
        if isinstance(value, dict) and len(value) == 1 and "env" in value:
            name = value["env"]
            if not isinstance(name, str) or not name:
                raise _Invalid('{env = "VAR"} needs the name of an environment variable')
            secret = os.environ.get(name)
            if not secret:
                raise _Invalid(f"environment variable {name} is not set (or empty)")
            return Secret(secret, origin=f"env:{name}")
        if isinstance(value, dict) and len(value) == 1 and "file" in value:
            raw = value["file"]
            if not isinstance(raw, str) or not raw:
                raise _Invalid('{file = "path"} needs a path')
            try:
                path = path_in_config(raw, self.path)
            except ValueError as exc:
                raise _Invalid(str(exc)) from None
            try:
                secret = path.read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise _Invalid(f"cannot read secret file {path}: {exc.strerror}") from None
            if not secret:
                raise _Invalid(f"secret file {path} is empty")
            self.warn_if_readable(path, "(a secret file)")
            return Secret(secret, origin=f"file:{path}")
        raise _Invalid('a secret is a string, {env = "VAR"} or {file = "path"}')


def _key_in(message: str, names: typing.Iterable[str]) -> str | None:
    """The key a validator's message is about: attrs' own validators quote it
    ("'max_queue' must be >= 1"); a plugin's may start with it ("window: ...")."""
    for name in sorted(names, key=len, reverse=True):
        if message.startswith((f"'{name}'", f"{name}:", f"{name} ")):
            return name
    return None
