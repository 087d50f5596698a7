"""MQTT 3.1.1 on the wire, as much as the sandbox's front needs: read a control packet,
take a CONNECT and a PUBLISH apart, and write the few answers the front gives itself.

Written from the OASIS MQTT 3.1.1 standard (sections 2 and 3), not from any client's
code. Everything else the front passes through to Mosquitto unread.
"""

from __future__ import annotations

import asyncio
import enum

import attrs

MAX_REMAINING_LENGTH = 268_435_455  # 2.2.3: four bytes of remaining length at most


class Kind(enum.IntEnum):
    """Control packet types (2.2.1)."""

    CONNECT = 1
    CONNACK = 2
    PUBLISH = 3
    PUBACK = 4
    PUBREC = 5
    PUBREL = 6
    PUBCOMP = 7
    SUBSCRIBE = 8
    SUBACK = 9
    UNSUBSCRIBE = 10
    UNSUBACK = 11
    PINGREQ = 12
    PINGRESP = 13
    DISCONNECT = 14


class Refused(enum.IntEnum):
    """CONNACK return codes (3.2.2.3)."""

    UNACCEPTABLE_PROTOCOL = 1
    BAD_CREDENTIALS = 4
    NOT_AUTHORIZED = 5


class ProtocolError(ValueError):
    """The bytes are not a well-formed MQTT 3.1.1 packet; the message says why."""


@attrs.frozen
class Packet:
    """One control packet: its first byte (type and flags) and its body."""

    first: int
    body: bytes

    @property
    def kind(self) -> int:
        """The packet type (a :class:`Kind` value, or 0 or 15, which are reserved)."""
        return self.first >> 4

    def encode(self) -> bytes:
        """The packet's bytes, as it came."""
        return bytes([self.first]) + encode_length(len(self.body)) + self.body


@attrs.frozen
class Connect:
    """What a CONNECT says (3.1)."""

    protocol: str
    level: int
    clean_session: bool
    keep_alive: int
    client_id: str
    username: str | None
    password: bytes | None


@attrs.frozen
class Publish:
    """What a PUBLISH says (3.3)."""

    topic: str
    qos: int
    retain: bool
    packet_id: int | None
    payload: bytes


def encode_length(length: int) -> bytes:
    """The remaining-length field (2.2.3) for ``length``."""
    if not 0 <= length <= MAX_REMAINING_LENGTH:
        raise ProtocolError(f"remaining length {length} is out of range")
    out = bytearray()
    while True:
        byte, length = length % 128, length // 128
        out.append(byte | (0x80 if length else 0))
        if not length:
            return bytes(out)


async def read_packet(reader: asyncio.StreamReader) -> Packet | None:
    """The next packet from ``reader``; None at a clean end of stream between packets."""
    head = await reader.read(1)
    if not head:
        return None
    length = 0
    for position in range(4):
        byte = (await reader.readexactly(1))[0]
        length += (byte & 0x7F) << (7 * position)
        if not byte & 0x80:
            break
    else:
        raise ProtocolError("the remaining length takes more than four bytes")
    return Packet(head[0], await reader.readexactly(length))


class _Cursor:
    """Reads the fields of a packet body in order (1.5: integers and UTF-8 strings)."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.at = 0

    def take(self, count: int) -> bytes:
        if self.at + count > len(self.data):
            raise ProtocolError("the packet ends inside a field")
        chunk = self.data[self.at : self.at + count]
        self.at += count
        return chunk

    def short(self) -> int:
        return int.from_bytes(self.take(2), "big")

    def binary(self) -> bytes:
        return self.take(self.short())

    def text(self) -> str:
        raw = self.binary()
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ProtocolError("a string is not UTF-8 (1.5.3)") from None
        if "\x00" in text:
            raise ProtocolError("a string holds U+0000 (1.5.3)")
        return text

    def rest(self) -> bytes:
        chunk = self.data[self.at :]
        self.at = len(self.data)
        return chunk


def parse_connect(packet: Packet) -> Connect:
    """The fields of a CONNECT packet; :class:`ProtocolError` if it is malformed."""
    if packet.kind != Kind.CONNECT:
        raise ProtocolError("the first packet must be CONNECT (3.1)")
    cursor = _Cursor(packet.body)
    protocol = cursor.text()
    level = cursor.take(1)[0]
    flags = cursor.take(1)[0]
    keep_alive = cursor.short()
    if flags & 0x01:
        raise ProtocolError("the CONNECT flags' reserved bit is set (3.1.2.3)")
    client_id = cursor.text()
    if flags & 0x04:  # a will: topic and message
        cursor.text()
        cursor.binary()
    username = cursor.text() if flags & 0x80 else None
    password = cursor.binary() if flags & 0x40 else None
    return Connect(protocol, level, bool(flags & 0x02), keep_alive, client_id, username, password)


def parse_publish(packet: Packet) -> Publish:
    """The fields of a PUBLISH packet; :class:`ProtocolError` if it is malformed."""
    qos = (packet.first >> 1) & 0x03
    if qos == 3:
        raise ProtocolError("a PUBLISH with QoS 3 (3.3.1.2)")
    cursor = _Cursor(packet.body)
    topic = cursor.text()
    if not topic or "+" in topic or "#" in topic:
        raise ProtocolError(f"{topic!r} is not a topic one may publish to (3.3.2.1)")
    packet_id = cursor.short() if qos else None
    return Publish(topic, qos, bool(packet.first & 0x01), packet_id, cursor.rest())


def connack(code: int) -> bytes:
    """A CONNACK refusing (or, with 0, accepting) a connection; no session present."""
    return bytes([Kind.CONNACK << 4, 2, 0, code])


def puback(packet_id: int) -> bytes:
    """A PUBACK for ``packet_id``."""
    return bytes([Kind.PUBACK << 4, 2]) + packet_id.to_bytes(2, "big")
