"""Encoding and decoding of every data type in every byte order, and register numbers."""

from __future__ import annotations

import math
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pymodbus.client import ModbusTcpClient

from wattbridge_plugins.sources.modbus.registers import (
    BYTE_ORDERS,
    REGISTER_TYPES,
    decode,
    encode,
    format_register,
    shortest_float32,
    size_of,
    split_register_number,
)

_RANGES = {
    "int16": (-(2**15), 2**15 - 1),
    "uint16": (0, 2**16 - 1),
    "int32": (-(2**31), 2**31 - 1),
    "uint32": (0, 2**32 - 1),
    "int64": (-(2**63), 2**63 - 1),
    "uint64": (0, 2**64 - 1),
}


def values_of(data_type: str) -> st.SearchStrategy[int | float]:
    if data_type == "float32":
        return st.floats(width=32, allow_nan=False)
    if data_type == "float64":
        return st.floats(allow_nan=False)
    low, high = _RANGES[data_type]
    return st.integers(low, high)


@st.composite
def typed_values(draw: st.DrawFn) -> tuple[str, str, int | float]:
    data_type = draw(st.sampled_from(REGISTER_TYPES))
    order = draw(st.sampled_from(BYTE_ORDERS))
    return data_type, order, draw(values_of(data_type))


@given(typed_values())
def test_decode_of_encode_is_the_value(case: tuple[str, str, int | float]) -> None:
    data_type, order, value = case
    words = encode(value, data_type, order)
    assert len(words) == size_of(data_type)
    assert all(0 <= w <= 0xFFFF for w in words)
    assert decode(words, data_type, order) == value


@given(
    st.sampled_from(REGISTER_TYPES),
    st.sampled_from(BYTE_ORDERS),
    st.lists(st.integers(0, 0xFFFF), min_size=4, max_size=4),
)
def test_encode_of_decode_is_the_words(data_type: str, order: str, words: list[int]) -> None:
    words = words[: size_of(data_type)]
    value = decode(words, data_type, order)
    if isinstance(value, float) and math.isnan(value):
        return  # NaN has many bit patterns; the source skips them anyway
    assert encode(value, data_type, order) == words


@given(typed_values())
def test_abcd_and_cdab_agree_with_pymodbus(case: tuple[str, str, int | float]) -> None:
    # pymodbus's converter knows big-endian bytes with either word order: ABCD and CDAB.
    data_type, _order, value = case
    kind = getattr(ModbusTcpClient.DATATYPE, data_type.upper())
    assert encode(value, data_type, "ABCD") == ModbusTcpClient.convert_to_registers(
        value, kind, word_order="big"
    )
    assert encode(value, data_type, "CDAB") == ModbusTcpClient.convert_to_registers(
        value, kind, word_order="little"
    )


def test_the_orders_place_bytes_as_their_letters_say() -> None:
    # 0x41424344 as bytes A=0x41 B=0x42 C=0x43 D=0x44, in each order.
    assert encode(0x41424344, "uint32", "ABCD") == [0x4142, 0x4344]
    assert encode(0x41424344, "uint32", "CDAB") == [0x4344, 0x4142]
    assert encode(0x41424344, "uint32", "BADC") == [0x4241, 0x4443]
    assert encode(0x41424344, "uint32", "DCBA") == [0x4443, 0x4241]
    assert encode(0x0102030405060708, "uint64", "CDAB") == [0x0708, 0x0506, 0x0304, 0x0102]
    assert encode(0x0102, "uint16", "BADC") == [0x0201]


@given(st.floats(width=32, allow_nan=False, allow_infinity=False))
def test_shortest_float32_is_the_same_float32(value: float) -> None:
    short = shortest_float32(value)
    assert struct.pack(">f", short) == struct.pack(">f", value)
    assert len(repr(short)) <= len(repr(value))


def test_shortest_float32_shows_what_the_meter_meant() -> None:
    raw = decode(encode(230.1, "float32"), "float32")
    assert raw != 230.1
    assert shortest_float32(raw) == 230.1


@pytest.mark.parametrize(
    ("number", "kind", "expected"),
    [
        (30001, None, ("input", 0)),
        (30073, None, ("input", 72)),
        (40001, None, ("holding", 0)),
        (10001, None, ("discrete", 0)),
        (300001, None, ("input", 0)),
        (465536, None, ("holding", 65535)),
        (1, "coil", ("coil", 0)),
        (30001, "input", ("input", 0)),
    ],
)
def test_register_numbers_as_manuals_print_them(
    number: int, kind: str | None, expected: tuple[str, int]
) -> None:
    assert split_register_number(number, kind) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("number", "kind", "message"),
    [
        (30001, "holding", "is input register 1"),
        (5, None, "has no kind prefix"),
        (25000, None, "is not of the forms"),
        (0, "coil", "start at 1"),
    ],
)
def test_register_numbers_that_do_not_fit(number: int, kind: str | None, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        split_register_number(number, kind)  # type: ignore[arg-type]


def test_format_register() -> None:
    assert format_register("input", 72) == "30073"
    assert format_register("holding", 0x5000) == "holding register 20481"
