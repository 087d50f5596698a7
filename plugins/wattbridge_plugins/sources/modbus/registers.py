"""Register kinds, data types, byte orders and address conventions; encode and decode.

Address conventions (see README.md): ``address`` is the 0-based protocol address that
goes on the wire; ``register`` is the number a maker's manual prints, either with a
kind prefix (30001 = input register 1 = address 0; 40001 = holding register 1; 10001 =
discrete input 1; six-digit forms 300001 and so on) or, below 10000, a 1-based number of
the kind given with ``kind`` (coil 1 = address 0).
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from typing import Literal

Kind = Literal["holding", "input", "coil", "discrete"]
DataType = Literal[
    "int16", "uint16", "int32", "uint32", "int64", "uint64", "float32", "float64", "bool"
]
ByteOrder = Literal["ABCD", "DCBA", "BADC", "CDAB"]

KINDS: tuple[Kind, ...] = ("holding", "input", "coil", "discrete")
BIT_KINDS = frozenset({"coil", "discrete"})
REGISTER_TYPES: tuple[DataType, ...] = (
    "int16",
    "uint16",
    "int32",
    "uint32",
    "int64",
    "uint64",
    "float32",
    "float64",
)
BYTE_ORDERS: tuple[ByteOrder, ...] = ("ABCD", "DCBA", "BADC", "CDAB")

# struct code and size in 16-bit registers of each register data type.
_STRUCT: dict[str, tuple[str, int]] = {
    "int16": ("h", 1),
    "uint16": ("H", 1),
    "int32": ("i", 2),
    "uint32": ("I", 2),
    "int64": ("q", 4),
    "uint64": ("Q", 4),
    "float32": ("f", 2),
    "float64": ("d", 4),
}

# Kind prefixes of the 5-digit (x0001..x9999) and 6-digit (x00001..x65536) numbering.
_PREFIXES: dict[int, Kind] = {1: "discrete", 3: "input", 4: "holding"}

MAX_REGISTERS_PER_READ = 125
"""The Modbus limit for one read of holding or input registers."""
MAX_BITS_PER_READ = 2000
"""The Modbus limit for one read of coils or discrete inputs."""


def size_of(data_type: str) -> int:
    """How many 16-bit registers (or, for ``bool``, bits) a value of ``data_type`` takes."""
    if data_type == "bool":
        return 1
    return _STRUCT[data_type][1]


def is_float(data_type: str) -> bool:
    """True for float32 and float64."""
    return data_type.startswith("float")


def split_register_number(number: int, kind: Kind | None) -> tuple[Kind, int]:
    """The (kind, 0-based address) of a register number as a maker's manual prints it.

    Raises ValueError with the accepted forms when the number does not fit them, or
    when ``kind`` disagrees with the number's prefix.
    """
    if number >= 100001:
        prefix, offset = divmod(number, 100000)
        limit = 65536
    elif number >= 10001:
        prefix, offset = divmod(number, 10000)
        limit = 9999
    elif number >= 1:
        if kind is None:
            raise ValueError(
                f"register {number} has no kind prefix (3xxxx input, 4xxxx holding, "
                "1xxxx discrete): give kind too, or write the 0-based address"
            )
        return kind, number - 1
    else:
        raise ValueError(f"register {number} is not a register number (they start at 1)")
    prefixed = _PREFIXES.get(prefix)
    if prefixed is None or not 1 <= offset <= limit:
        raise ValueError(
            f"register {number} is not of the forms 1xxxx/3xxxx/4xxxx (or 1xxxxx/3xxxxx/4xxxxx);"
            " for a 0-based protocol address write address = ... with kind"
        )
    if kind is not None and kind != prefixed:
        raise ValueError(
            f"register {number} is {prefixed} register {offset} (prefix {prefix}), "
            f"but kind = {kind!r}; for protocol address {number} write address = {number}"
        )
    return prefixed, offset - 1


def format_register(kind: str, address: int) -> str:
    """How a manual would print the register at ``address``: 30001, 40101, coil 1."""
    base = {"input": 30001, "holding": 40001, "discrete": 10001}.get(kind)
    if base is not None and address <= 9998:
        return str(base + address)
    label = {"input": "input register", "holding": "holding register"}.get(kind, kind)
    return f"{label} {address + 1}"


def describe(kind: str, address: int) -> str:
    """A register named both ways, for errors: "input register 30001 (address 0)"."""
    label = {"input": "input register", "holding": "holding register"}.get(kind, kind)
    return f"{label} {format_register(kind, address).split()[-1]} (address {address})"


def _reorder(data: bytes, order: str) -> bytes:
    """Bytes in ``order`` to big-endian (ABCD) order; the same function reverses itself.

    For 64-bit values the letters generalise: CDAB reverses the order of the words
    keeping each word's bytes, BADC swaps the bytes within each word, DCBA does both.
    """
    if order == "ABCD":
        return data
    if order == "DCBA":
        return data[::-1]
    words = [data[i : i + 2] for i in range(0, len(data), 2)]
    if order == "BADC":
        return b"".join(w[::-1] for w in words)
    if order == "CDAB":
        return b"".join(reversed(words))
    raise ValueError(f"byte order {order!r} is not one of {', '.join(BYTE_ORDERS)}")


def decode(registers: Sequence[int], data_type: str, order: str = "ABCD") -> int | float:
    """The value held in ``registers`` (16-bit words as read) for a data type and order."""
    code, size = _STRUCT[data_type]
    if len(registers) != size:
        raise ValueError(f"{data_type} takes {size} register(s), got {len(registers)}")
    raw = b"".join(word.to_bytes(2, "big") for word in registers)
    value: int | float = struct.unpack(f">{code}", _reorder(raw, order))[0]
    return value


def encode(value: int | float, data_type: str, order: str = "ABCD") -> list[int]:
    """The registers a device would hold for ``value``; the inverse of :func:`decode`."""
    code, _size = _STRUCT[data_type]
    raw = _reorder(struct.pack(f">{code}", value), order)
    return [int.from_bytes(raw[i : i + 2], "big") for i in range(0, len(raw), 2)]


def shortest_float32(value: float) -> float:
    """The shortest decimal that is the same float32 as ``value`` (230.1, not
    230.10000610351562), so readings look as the meter's display shows them."""
    if not math.isfinite(value):
        return value
    packed = struct.pack(">f", value)
    for digits in range(1, 10):
        candidate = float(f"{value:.{digits}g}")
        try:
            if struct.pack(">f", candidate) == packed:
                return candidate
        except OverflowError:  # rounded past the largest float32; more digits will do
            continue
    return value
