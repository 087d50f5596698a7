"""The MQTT door's readers of outside data: its packet parser and its rules, on any
bytes a client may send (hypothesis), and on the text's own example messages."""

from __future__ import annotations

import asyncio
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wattbridge_plugins.sinks.energydata.sandbox.mqttrules import judge, may_receive
from wattbridge_plugins.sinks.energydata.sandbox.mqttwire import (
    Packet,
    ProtocolError,
    encode_length,
    parse_connect,
    parse_publish,
    read_packet,
)
from wattbridge_plugins.sinks.energydata.sandbox.store import Datastream, TokenInfo

STREAMS = {
    "my/topic/suffix1": Datastream(1, "my/topic/suffix1", "double"),
    "my/topic/suffix2": Datastream(2, "my/topic/suffix2", "integer"),
    "my/topic/note": Datastream(3, "my/topic/note", "string"),
}
WRITER = TokenInfo("t", "write", 1, None, None)
READER = TokenInfo("r", "read", 2, None, frozenset())
ONLY_ONE = TokenInfo("o", "one", 3, frozenset({1}), frozenset({1}))


def parse(data: bytes) -> Packet | None:
    async def run() -> Packet | None:
        reader = asyncio.StreamReader()
        reader.feed_data(data)
        reader.feed_eof()
        return await read_packet(reader)

    return asyncio.run(run())


@given(st.integers(min_value=0, max_value=268_435_455), st.binary(max_size=40))
def test_remaining_lengths_read_back(length: int, rest: bytes) -> None:
    encoded = encode_length(length)
    assert 1 <= len(encoded) <= 4
    body = bytes(length) if length <= 1000 else b""
    if length <= 1000:
        assert parse(bytes([0x30]) + encoded + body + rest) == Packet(0x30, body)


@given(st.binary(max_size=80))
def test_any_bytes_are_a_packet_a_protocol_error_or_too_short(data: bytes) -> None:
    try:
        packet = parse(data)
    except (ProtocolError, asyncio.IncompleteReadError):
        return
    if packet is None:
        assert data == b""
        return
    for parser in (parse_connect, parse_publish):
        try:
            parser(packet)
        except ProtocolError:
            pass


@given(st.text(max_size=30), st.binary(max_size=60))
def test_judging_any_topic_and_payload_never_fails(topic: str, payload: bytes) -> None:
    for info in (WRITER, READER, ONLY_ONE):
        verdict = judge(topic, payload, info, STREAMS)
        if verdict.refusal is None:
            # Authorized: only what a token may write is ever stored.
            assert all(info.may_write(ds) for ds, _, _ in verdict.values)
        else:
            assert verdict.values == []


@given(
    st.integers(min_value=0, max_value=2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
)
def test_the_texts_multi_value_example_form_is_stored_whole(ms: int, x: float, n: int) -> None:
    payload = json.dumps({"timestamp": ms, "value": {"my/topic/suffix1": x, "suffix2": n}})
    verdict = judge("my/topic", payload.encode(), WRITER, STREAMS)
    assert verdict.refusal is None and verdict.invalid is None
    assert verdict.values == [(1, ms, x), (2, ms, n)]


@pytest.mark.parametrize(
    ("topic", "value", "refused"),
    [
        ("my/topic/suffix2", 3, "no write access"),
        ("my/topic", {"suffix1": 1.0, "suffix2": 2}, "no write access"),
        ("my/topic", {"suffix1": 1.0, "nothing": 2}, "is not a datastream"),
        ("my/other", 1.0, "is not the topic of a datastream"),
    ],
)
def test_what_a_token_may_not_write_is_refused(topic: str, value: object, refused: str) -> None:
    payload = json.dumps({"timestamp": 1, "value": value}).encode()
    verdict = judge(topic, payload, ONLY_ONE, STREAMS)
    assert verdict.refusal is not None and refused in verdict.refusal


def test_bad_numbers_are_not_stored() -> None:
    for text in (b"NaN", b"Infinity", b"1e400", b"true"):
        payload = b'{"timestamp": 1, "value": ' + text + b"}"
        verdict = judge("my/topic/suffix1", payload, WRITER, STREAMS)
        assert verdict.refusal is None and verdict.values == [], text
        assert verdict.invalid


def test_subscribers_receive_what_they_may_read() -> None:
    assert may_receive("my/topic/suffix1", ONLY_ONE, STREAMS)
    assert not may_receive("my/topic/suffix2", ONLY_ONE, STREAMS)
    assert may_receive("my/topic", ONLY_ONE, STREAMS)  # a multi-value message with it
    assert not may_receive("my/topic/suffix1", TokenInfo("n", "n", 4, frozenset(), None), STREAMS)
