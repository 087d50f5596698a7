"""Issue 14, item 10: every state Home Assistant can send is parsed or refused with a
reason, never raised, and whatever is parsed can be stored.

The strategy follows HA's own state model (``homeassistant.core.State.as_dict``, as the
websocket's ``state_changed`` events and ``get_states`` carry it): ``entity_id``
``domain.object_id``; ``state`` a string of at most 255 characters (HA's
``MAX_LENGTH_STATE_STATE``), "unknown" and "unavailable" included; ``attributes`` a
dict of any JSON; ``last_changed``, ``last_updated`` and ``last_reported`` ISO 8601
strings with an offset; ``context`` ``{id, parent_id, user_id}``. The source subscribes
with ``subscribe_events``, not ``subscribe_entities``, so the compressed event form
never reaches it. Each reading made is put into a real outbox: accepted means storable.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wattbridge._outbox import Outbox
from wattbridge_plugins.sources.homeassistant.states import (
    SKIP_REASONS,
    EntitySelection,
    StateConverter,
    parse_number,
)

LOG = logging.getLogger("test.homeassistant.model")

# Every code point, lone surrogates included: JSON's "\ud800" decodes to one.
any_text = st.text(alphabet=st.characters(codec=None), max_size=255)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | any_text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(any_text, inner, max_size=4),
    max_leaves=10,
)
numbers = st.one_of(
    st.integers(min_value=-(10**254), max_value=10**254).map(str),
    st.floats().map(repr),
    st.decimals(allow_nan=True).map(str),
    st.from_regex(r"[+-]?[0-9]{0,200}(\.[0-9]{0,40})?([eE][+-]?[0-9]{1,4})?", fullmatch=True),
)
state_strings = st.one_of(
    numbers,
    st.sampled_from(["unknown", "unavailable", "on", "off", "", " ", "None", "1_000", "٣"]),
    any_text,
).map(lambda s: s[:255])
iso_times = st.one_of(
    st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat()),
    st.datetimes().map(lambda d: d.isoformat()),  # naive: not HA's, refused
    any_text,
)
context = st.fixed_dictionaries(
    {"id": any_text, "parent_id": st.none() | any_text, "user_id": st.none() | any_text}
)
ha_states = st.fixed_dictionaries(
    {
        "entity_id": st.from_regex(r"[a-z0-9_]{1,20}\.[a-z0-9_]{1,40}", fullmatch=True),
        "state": state_strings,
        "attributes": st.fixed_dictionaries(
            {},
            optional={
                "unit_of_measurement": st.one_of(
                    st.sampled_from(["kWh", "W", "m³", "°C", "€/kWh"]), any_text, json_values
                ),
                "device_class": st.one_of(st.sampled_from(["energy", "power"]), json_values),
                "state_class": json_values,
                "friendly_name": json_values,
            },
        ).flatmap(
            lambda known: st.dictionaries(any_text, json_values, max_size=3).map(
                lambda extra: {**extra, **known}
            )
        ),
        "last_changed": iso_times,
        "last_updated": iso_times,
        "last_reported": iso_times,
        "context": context,
    },
    # A state missing a field, or with one of another type, is not HA's but may come.
    optional={"extra": json_values},
).flatmap(
    lambda state: st.sets(st.sampled_from(sorted(state)), max_size=2).map(
        lambda dropped: {k: v for k, v in state.items() if k not in dropped}
    )
)


@pytest.fixture(scope="module")
def outbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Outbox]:
    box = Outbox(tmp_path_factory.mktemp("ha-model") / "box.sqlite", synchronous="OFF")
    yield box
    box.close()


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(state=ha_states)
def test_every_state_is_a_storable_reading_or_a_skip_with_a_reason(
    state: dict[str, Any], outbox: Outbox
) -> None:
    converter = StateConverter(EntitySelection(), LOG)
    reading = converter.convert(state)
    skips = sum(converter.skipped.values())
    assert set(converter.skipped) <= set(SKIP_REASONS)
    if reading is None:
        assert skips == 1, state  # refused with a reason, not silently
        return
    assert skips == 0
    assert reading.stream == state["entity_id"]
    assert reading.value == parse_number(state["state"])
    outbox.put([reading])  # raises if SQLite cannot store it


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"state": "9" * 5000}, "not_numeric"),  # int() refuses over 4300 digits
        ({"state": "12", "attributes": {"unit_of_measurement": "kWh\ud800"}}, "malformed"),
        ({"state": "12", "last_changed": "0001-01-01T00:00:00+05:00"}, "malformed"),
        ({"state": "12", "last_changed": "2024-03-01T12:00:00"}, "malformed"),
        ({"state": "unavailable"}, "unavailable"),
        ({"state": "1e400"}, "not_numeric"),
    ],
)
def test_odd_states_are_skipped_with_their_reason(changes: dict[str, Any], reason: str) -> None:
    state = {
        "entity_id": "sensor.meter",
        "state": "1",
        "attributes": {},
        "last_changed": "2024-03-01T12:00:00+00:00",
        **changes,
    }
    converter = StateConverter(EntitySelection(), LOG)
    assert converter.convert(state) is None
    assert dict(converter.skipped) == {reason: 1}


def test_an_unforeseen_error_is_a_malformed_skip_not_a_raise(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Odd(dict[str, Any]):
        def get(self, key: str, default: Any = None) -> Any:
            if key == "state":
                raise RuntimeError("a state object that breaks on reading")
            return super().get(key, default)

    converter = StateConverter(EntitySelection(), LOG)
    state = Odd(entity_id="sensor.x", state="1", last_changed="2024-03-01T12:00:00+00:00")
    with caplog.at_level(logging.INFO):
        assert converter.convert(state) is None
    assert dict(converter.skipped) == {"malformed": 1}
    assert "sensor.x skipped (malformed): RuntimeError: a state object that breaks" in caplog.text
