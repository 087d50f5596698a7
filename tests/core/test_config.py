"""The config: every mistake at once, each with file, line, table and key."""

import os
import re
import stat
from datetime import timedelta
from pathlib import Path

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wattbridge._config import ConfigError, Problem, load_config, parse_config
from wattbridge._durations import format_duration, parse_duration
from wattbridge._secret import Secret

GOOD = """
[wattbridge]
state_dir = "state"

[sources.demo]
plugin = "replay"
rate = 5
streams = ["a", "b"]

[sinks.out]
plugin = "jsonl"
path = "out.jsonl"
flush_interval = "2s"
max_queue = 500

[[routes]]
from = "demo"
to = "out"
streams = {"a" = "meter/a"}
"""


def problems(text, registry, tmp_path) -> list[Problem]:
    path = tmp_path / "wattbridge.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(path, registry)
    return info.value.problems


def test_a_good_config_loads(wattbridge_config, tmp_path):
    config = wattbridge_config(GOOD)
    assert config.settings.state_dir == tmp_path / "state"
    assert config.sinks["out"].common.flush_interval == timedelta(seconds=2)
    assert config.sinks["out"].common.max_queue == 500
    assert config.sinks["out"].config.path == tmp_path / "out.jsonl"
    assert config.sources["demo"].config.streams == ["a", "b"]
    assert config.routes[0].streams == {"a": "meter/a"}
    assert config.warnings == ()


def test_every_mistake_is_reported_at_once_with_line_table_and_key(wattbridge_registry, tmp_path):
    text = """[sources.demo]
plugin = "replay"
rat = 5
count = "many"

[sinks.out]
plugin = "jsonll"

[sinks.other]
plugin = "jsonl"
flush_interval = "soon"

[[routes]]
from = "dmo"
to = "other"
"""
    found = problems(text, wattbridge_registry, tmp_path)
    rendered = [str(p) for p in found]
    path = str(tmp_path / "wattbridge.toml")
    assert (
        f"{path}:3: [sources.demo] rat: unknown key for plugin 'replay'; did you mean 'rate'?"
        in rendered
    )
    assert any(
        r.startswith(f"{path}:4: [sources.demo] count: must be a whole number") for r in rendered
    )
    assert any(
        r.startswith(
            f"{path}:7: [sinks.out] plugin: no sink plugin 'jsonll'; did you mean 'jsonl'?"
        )
        for r in rendered
    )
    assert any(
        r.startswith(f"{path}:11: [sinks.other] flush_interval: 'soon' is not a duration")
        for r in rendered
    )
    assert f"{path}:14: [[routes]] #1 from: no source named 'dmo'; did you mean 'demo'?" in rendered
    assert len(found) == 5


def test_unknown_top_level_table_is_named(wattbridge_registry, tmp_path):
    found = problems('[sink.out]\nplugin = "jsonl"\n', wattbridge_registry, tmp_path)
    assert [p.message for p in found] == ["unknown table; did you mean 'sinks'?"]
    assert found[0].key == "sink"


def test_not_toml_names_the_line(wattbridge_registry, tmp_path):
    found = problems('[sinks.out]\nplugin = "jsonl\n', wattbridge_registry, tmp_path)
    assert found[0].line == 2
    assert "not valid TOML" in found[0].message


def test_missing_file_is_a_problem_not_a_traceback(wattbridge_registry, tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "nope.toml", wattbridge_registry)


def test_missing_plugin_key_and_bad_route_shapes(wattbridge_registry, tmp_path):
    text = """[sinks.out]
path = "x"

[[routes]]
from = ["a", 3]
streams = "all"
"""
    found = {(p.table, p.key): p.message for p in problems(text, wattbridge_registry, tmp_path)}
    assert found[("[sinks.out]", "plugin")].startswith("missing: say which plugin")
    assert found[("[[routes]] #1", "from")] == "must be a source name or a list of names"
    assert found[("[[routes]] #1", "to")].startswith("missing")
    assert found[("[[routes]] #1", "streams")].startswith("must map stream names")


def test_interval_on_a_pushed_source_is_refused(wattbridge_registry, tmp_path):
    found = problems(
        '[sources.d]\nplugin = "replay"\ninterval = "5s"\n', wattbridge_registry, tmp_path
    )
    assert [(p.key, p.message) for p in found] == [
        ("interval", "'replay' is not polled; remove it")
    ]


def test_attrs_validator_errors_name_the_key(wattbridge_registry, tmp_path):
    found = problems('[sinks.o]\nplugin = "jsonl"\nmax_queue = 0\n', wattbridge_registry, tmp_path)
    assert found[0].key == "max_queue"
    assert found[0].line == 3


def test_secrets_from_env_and_file(wattbridge_registry, tmp_path, monkeypatch):
    from wattbridge._config import _Loader
    from wattbridge._tomllines import TomlLines

    loader = _Loader(tmp_path / "c.toml", TomlLines(""), wattbridge_registry)
    monkeypatch.setenv("WB_TEST_TOKEN", "tok-from-env-123")
    secret = loader.secret({"env": "WB_TEST_TOKEN"})
    assert secret.reveal() == "tok-from-env-123"
    assert "tok-from-env" not in repr(secret) and "tok-from-env" not in str(secret)
    token_file = tmp_path / "token"
    token_file.write_text("tok-from-file-456\n")
    os.chmod(token_file, 0o600)
    assert loader.secret({"file": "token"}).reveal() == "tok-from-file-456"
    assert loader.warnings == []
    os.chmod(token_file, 0o644)
    loader.secret({"file": str(token_file)})
    assert "readable by other users" in loader.warnings[0]
    monkeypatch.delenv("WB_TEST_TOKEN")
    with pytest.raises(Exception, match="environment variable WB_TEST_TOKEN is not set"):
        loader.secret({"env": "WB_TEST_TOKEN"})
    with pytest.raises(Exception, match="cannot read secret file"):
        loader.secret({"file": "missing"})
    with pytest.raises(Exception, match='a secret is a string, {env = "VAR"} or {file = "path"}'):
        loader.secret({"vault": "x"})


def test_secret_is_redacted_everywhere():
    from wattbridge._secret import redact

    secret = Secret("super-secret-token")
    assert (
        redact("GET https://x/?token=super-secret-token failed")
        == "GET https://x/?token=*** failed"
    )
    assert "super" not in f"{secret} {secret!r}"


def test_inline_secret_in_a_world_readable_config_warns(wattbridge_registry, tmp_path):
    # An attrs config class with a Secret field, registered by a test plugin.
    import attrs

    from wattbridge import hookimpl
    from wattbridge._plugins import load_plugins

    @attrs.frozen
    class TokenConfig:
        token: Secret

    class Plugin:
        @staticmethod
        @hookimpl
        def wattbridge_register_sinks(register):
            register("needs-token", object, TokenConfig)

    registry = load_plugins([Plugin], entry_points=False)
    path = tmp_path / "c.toml"
    path.write_text('[sinks.s]\nplugin = "needs-token"\ntoken = "inline-token-789"\n')
    os.chmod(path, 0o644)
    config = load_config(path, registry)
    assert config.sinks["s"].config.token.reveal() == "inline-token-789"
    assert any("holds a secret inline and is readable by other users" in w for w in config.warnings)
    os.chmod(path, stat.S_IRUSR | stat.S_IWUSR)
    assert not any("readable" in w for w in load_config(path, registry).warnings)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("10s", timedelta(seconds=10)),
        ("5m", timedelta(minutes=5)),
        ("1h", timedelta(hours=1)),
        ("1h30m", timedelta(minutes=90)),
        ("250ms", timedelta(milliseconds=250)),
        ("2d", timedelta(days=2)),
        ("1.5s", timedelta(seconds=1.5)),
        (3, timedelta(seconds=3)),
    ],
)
def test_durations(text, expected):
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "10", "s", "10x", "-5s", "5 minutes", "1h-2m", True])
def test_bad_durations_explain_the_form(text):
    with pytest.raises(ValueError, match="is not a duration|negative"):
        parse_duration(text)


@given(
    st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=999)).map(
        lambda d: timedelta(milliseconds=round(d.total_seconds() * 1000))
    )
)
def test_duration_format_round_trips(value):
    assert parse_duration(format_duration(value)) == value


toml_scalars = st.one_of(
    st.integers(-5, 10**7),
    st.floats(allow_nan=False),
    st.booleans(),
    st.text(max_size=8),
    st.sampled_from(["10s", "5m", "jsonl", "replay", "1h30m", "soon"]),
)
tables = st.dictionaries(
    st.sampled_from(
        [
            "plugin",
            "path",
            "rate",
            "count",
            "streams",
            "max_queue",
            "flush_interval",
            "batch_size",
            "fsync",
            "interval",
            "bogus",
            "unit",
            "start",
            "chunk",
        ]
    ),
    st.one_of(toml_scalars, st.lists(toml_scalars, max_size=3)),
    max_size=6,
)


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    sources=st.dictionaries(st.sampled_from(["a", "b"]), tables, max_size=2),
    sinks=st.dictionaries(st.sampled_from(["x", "y"]), tables, max_size=2),
    routes=st.lists(
        st.dictionaries(
            st.sampled_from(["from", "to", "streams", "via"]),
            st.one_of(
                st.sampled_from(["a", "b", "x", "y", "z"]),
                st.lists(st.sampled_from(["a", "x"]), max_size=2),
                st.dictionaries(st.text(max_size=3), st.text(max_size=3), max_size=2),
            ),
            max_size=3,
        ),
        max_size=2,
    ),
)
def test_any_config_data_loads_or_fails_with_problems(
    wattbridge_registry, tmp_path, sources, sinks, routes
):
    from wattbridge._config import config_from_data

    data = {"sources": sources, "sinks": sinks, "routes": routes, "wattbridge": {"state_dir": "s"}}
    try:
        config = config_from_data(data, tmp_path / "c.toml", wattbridge_registry)
    except ConfigError as exc:
        assert exc.problems
        for problem in exc.problems:
            assert problem.file.endswith("c.toml")
            assert problem.message
    else:
        assert set(config.sources) == set(sources)
        assert set(config.sinks) == set(sinks)


def test_parse_config_of_sample_text(wattbridge_registry):
    config = parse_config(GOOD, Path("/etc/wattbridge/wattbridge.toml"), wattbridge_registry)
    assert config.settings.state_dir == Path("/etc/wattbridge/state")


def test_a_config_value_error_names_its_key_and_line(tmp_path):
    from wattbridge import ConfigValueError, hookimpl

    def refuse_odd(_instance, _attribute, value):
        if value % 2:
            raise ConfigValueError("pair_size", f"must be even, not {value}")

    @attrs.frozen
    class PairConfig:
        pair_size: int = attrs.field(default=2, validator=refuse_odd)

    class PairSink:
        def __init__(self, config, context):
            pass

    class Plugin:
        @hookimpl
        def wattbridge_register_sinks(self, register):
            register("pairs", PairSink, PairConfig)

    from wattbridge._plugins import load_plugins

    registry = load_plugins(extra=[Plugin()])
    path = tmp_path / "wattbridge.toml"
    path.write_text('[sinks.out]\nplugin = "pairs"\n\npair_size = 3\n')
    with pytest.raises(ConfigError) as caught:
        load_config(path, registry)
    (problem,) = caught.value.problems
    assert (problem.key, problem.line, problem.message) == ("pair_size", 4, "must be even, not 3")


# -- one pass, URLs, intervals ------------------------------------------------------

TEN_MISTAKES = """\
[wattbridge]
state_dir = "state"
log_levle = "info"

[sources.files]
plugin = "csv-folder"
inbox = "in"
delimiter = ";;"
quotechar = "ab"
chunk = 0
timezone = "Mars/Olympus"

[sources.meter]
plugin = "modbuss"

[sinks.energinet]
plugin = "energinet"
url = "energinet.net/apiImport"
request_interval = "0s"
[sinks.energinet.senders.home]
token = "t"
meters = { "house/kwh" = "5" }

[sinks.edk]
plugin = "energydata-batch"
url = "http://admin.example.dk"
token = "t"
datastreams = { "house/kwh" = "double" }
flush_interval = "0s"

[[routes]]
from = "files"
to = "nowhere"
"""

EXPECTED = {
    (3, "log_levle"),
    (8, "delimiter"),
    (9, "quotechar"),
    (10, "chunk"),
    (11, "timezone"),
    (14, "plugin"),
    (18, "url"),
    (19, "request_interval"),
    (26, "url"),
    (29, "flush_interval"),
    (33, "to"),
}


def test_a_file_with_ten_mistakes_is_reported_whole_in_one_pass(wattbridge_registry, tmp_path):
    # A new user's first file: every mistake, each at its line and key, in one run.
    path = tmp_path / "wattbridge.toml"
    path.write_text(TEN_MISTAKES)
    with pytest.raises(ConfigError) as caught:
        load_config(path, wattbridge_registry)
    found = {(p.line, p.key) for p in caught.value.problems}
    assert found == EXPECTED, "\n".join(map(str, caught.value.problems))


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("energinet.net/apiImport", "is not an http(s) URL"),
        ("ftp://energinet.net/x", "is not an http(s) URL"),
        ("https://host:port/x", "is not a URL"),
        ("http://energinet.net/apiImport/data", "plain http to energinet.net"),
        ("http://192.168.1.20/import", "plain http to 192.168.1.20"),
    ],
)
def test_urls_that_are_not_or_would_leak_the_token_are_refused(
    wattbridge_registry, tmp_path, url, fragment
):
    text = f'[sinks.e]\nplugin = "energinet"\nurl = "{url}"\n[sinks.e.senders.a]\ntoken = "t"\n'
    text += 'meters = { "m" = "5" }\n'
    with pytest.raises(ConfigError, match=re.escape(fragment)) as caught:
        parse_config(text, tmp_path / "w.toml", wattbridge_registry)
    assert [(p.line, p.key) for p in caught.value.problems] == [(3, "url")]


@pytest.mark.parametrize("url", ["http://127.0.0.1:8080/x", "http://localhost/x", "http://[::1]/"])
def test_plain_http_to_this_machine_is_allowed(wattbridge_registry, tmp_path, url):
    text = f'[sinks.e]\nplugin = "energinet"\nurl = "{url}"\n[sinks.e.senders.a]\ntoken = "t"\n'
    text += 'meters = { "m" = "5" }\n'
    config = parse_config(text, tmp_path / "w.toml", wattbridge_registry)
    assert config.sinks["e"].config.url == url


@pytest.mark.parametrize(
    ("table", "key"),
    [
        ('[sources.s]\nplugin = "modbus"\ninterval = "0s"\n', "interval"),
        ('[sinks.s]\nplugin = "jsonl"\nflush_interval = "0ms"\n', "flush_interval"),
        ('[sinks.s]\nplugin = "jsonl"\nretry_initial = "0s"\n', "retry_initial"),
    ],
)
def test_a_zero_interval_is_refused(wattbridge_registry, tmp_path, table, key):
    with pytest.raises(ConfigError) as caught:
        parse_config(table, tmp_path / "w.toml", wattbridge_registry)
    assert any(p.key == key and "longer than 0s" in p.message for p in caught.value.problems)


def test_a_path_in_an_unknown_users_home_names_the_key(wattbridge_registry, tmp_path):
    text = GOOD.replace('state_dir = "state"', 'state_dir = "~no-such-user-here/s"', 1)
    assert 'state_dir = "~no-such-user-here/s"' in text
    [problem] = problems(text, wattbridge_registry, tmp_path)
    assert problem.key == "state_dir"
    assert "~no-such-user-here: no such user" in problem.message
