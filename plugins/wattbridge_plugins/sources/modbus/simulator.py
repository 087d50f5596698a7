"""Simulated meters on a real pymodbus server, for tests, the benchmark and trying a
config without hardware.

A :class:`SimulatedMeter` holds the words (and bits) of one unit id; a
:class:`MeterServer` serves a set of them over Modbus TCP, RTU over TCP, or RTU on a
serial port, from an asyncio loop in a background thread. Addresses a meter does not
hold answer with exception 2 (illegal data address), as real meters do. A meter can be
made slow (``delay``), silent (``muted``: it never answers), or refuse addresses.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterable
from typing import Any

from pymodbus import FramerType
from pymodbus.constants import ExcCodes
from pymodbus.server import ModbusSerialServer, ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from wattbridge_plugins.sources.modbus.model import Register
from wattbridge_plugins.sources.modbus.registers import BIT_KINDS, encode

_FUNCTION_KINDS = {1: "coil", 2: "discrete", 3: "holding", 4: "input"}
# pymodbus needs every block to hold something; park an unused entry at the top.
_PARKED = {"coil": 65504, "discrete": 65504, "holding": 65534, "input": 65534}


class SimulatedMeter:
    """The memory of one simulated device (unit id), changeable while it is served."""

    def __init__(self, unit: int = 1) -> None:
        self.unit = unit
        self.words: dict[tuple[str, int], int] = {}
        self.delay = 0.0
        self.muted = False
        self.refused: dict[tuple[str, int], int] = {}
        self.requests = 0
        self.request_times: list[float] = []
        """time.monotonic() of each request, as the server saw it."""

    def set_words(self, kind: str, address: int, words: Iterable[int]) -> None:
        """Put raw 16-bit words (or, for coils and discrete inputs, 0/1 bits) at ``address``."""
        for offset, word in enumerate(words):
            self.words[(kind, address + offset)] = int(word) & 0xFFFF

    def set_value(self, register: Register, raw: float) -> None:
        """Hold ``raw`` (before scale and offset) where ``register`` reads it."""
        if register.kind in BIT_KINDS:
            self.set_words(register.kind, register.address, [1 if raw else 0])
        else:
            value = int(raw) if not register.type.startswith("float") else float(raw)
            self.set_words(
                register.kind, register.address, encode(value, register.type, register.byte_order)
            )

    def refuse(self, kind: str, address: int, code: int = ExcCodes.ILLEGAL_ADDRESS) -> None:
        """Answer requests that include ``address`` with exception ``code``."""
        self.refused[(kind, address)] = code

    def _device(self, fill_gaps: bool) -> SimDevice:
        blocks: dict[str, list[SimData]] = {
            kind: [] for kind in ("coil", "discrete", "holding", "input")
        }
        for kind, entries in blocks.items():
            addresses = sorted(a for (k, a) in self.words if k == kind)
            for start, end in _runs(addresses, fill_gaps):
                if kind in BIT_KINDS:
                    entries.append(
                        SimData(start, values=[False] * (end - start), datatype=DataType.BITS)
                    )
                else:
                    entries.append(
                        SimData(start, values=[0] * (end - start), datatype=DataType.REGISTERS)
                    )
            if not entries:
                size = 16 if kind in BIT_KINDS else 1
                entries.append(
                    SimData(
                        _PARKED[kind],
                        values=[False] * size if size > 1 else [0],
                        datatype=DataType.BITS if size > 1 else DataType.REGISTERS,
                    )
                )
        return SimDevice(
            self.unit,
            simdata=(blocks["coil"], blocks["discrete"], blocks["holding"], blocks["input"]),
            action=self._action,
        )

    async def _action(
        self,
        function_code: int,
        start_address: int,
        address: int,
        count: int,
        registers: list[int],
        _values: Any,
    ) -> ExcCodes | None:
        self.requests += 1
        self.request_times.append(time.monotonic())
        if self.muted:
            while self.muted:
                await asyncio.sleep(0.02)
            # Cancelling the handler sends nothing: the request is lost, as on a dead line.
            raise asyncio.CancelledError
        if self.delay:
            await asyncio.sleep(self.delay)
        kind = _FUNCTION_KINDS.get(function_code)
        if kind is None:
            return ExcCodes.ILLEGAL_FUNCTION
        if kind in BIT_KINDS:
            # pymodbus packs bits 16 to a word; count is in words here.
            first_word = address // 16
            for index in range(count):
                word = 0
                for bit in range(16):
                    if self.words.get((kind, (first_word + index) * 16 + bit)):
                        word |= 1 << bit
                registers[first_word - start_address + index] = word
            wanted = range(address, address + count * 16)
        else:
            for index in range(count):
                registers[address - start_address + index] = self.words.get(
                    (kind, address + index), 0
                )
            wanted = range(address, address + count)
        for (refused_kind, refused_address), code in self.refused.items():
            if refused_kind == kind and refused_address in wanted:
                return ExcCodes(code)
        return None


def _runs(addresses: list[int], fill_gaps: bool) -> list[tuple[int, int]]:
    runs: list[tuple[int, int]] = []
    for address in addresses:
        if runs and (address == runs[-1][1] or (fill_gaps and address > runs[-1][1])):
            runs[-1] = (runs[-1][0], address + 1)
        else:
            runs.append((address, address + 1))
    return runs


class MeterServer:
    """A pymodbus server for simulated meters, in a background thread; see the module doc.

    ``transport`` is "tcp", "rtu-over-tcp" or "rtu" (then ``serial`` is the port to
    serve, e.g. one end of a socat pty pair). ``fill_gaps`` makes addresses between
    the ones a meter holds readable (as zeros), for meters that allow that.
    """

    def __init__(
        self,
        meters: Iterable[SimulatedMeter],
        *,
        transport: str = "tcp",
        host: str = "127.0.0.1",
        port: int = 0,
        serial: str | None = None,
        baudrate: int = 9600,
        fill_gaps: bool = False,
    ) -> None:
        self.meters = {meter.unit: meter for meter in meters}
        self.transport = transport
        self.host = host
        self.port = port
        self.serial = serial
        self.baudrate = baudrate
        self.fill_gaps = fill_gaps
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: Any = None

    def __getitem__(self, unit: int) -> SimulatedMeter:
        return self.meters[unit]

    def start(self) -> MeterServer:
        """Start serving; returns once the server listens."""
        if self._loop is None:
            self._loop = asyncio.new_event_loop()
            self._thread = threading.Thread(
                target=self._loop.run_forever, name="modbus-simulator", daemon=True
            )
            self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    async def _start(self) -> None:
        devices = [meter._device(self.fill_gaps) for meter in self.meters.values()]
        if self.transport == "rtu":
            self._server = ModbusSerialServer(
                devices, port=self.serial or "", framer=FramerType.RTU, baudrate=self.baudrate
            )
        else:
            framer = FramerType.RTU if self.transport == "rtu-over-tcp" else FramerType.SOCKET
            self._server = ModbusTcpServer(devices, address=(self.host, self.port), framer=framer)
        await self._server.serve_forever(background=True)
        if self.transport != "rtu" and not self.port:
            self.port = self._server.transport.sockets[0].getsockname()[1]

    def stop(self) -> None:
        """Stop serving (connections are closed); :meth:`start` serves again."""
        if self._loop is not None and self._server is not None:
            asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(10)

    async def _stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            await server.shutdown()
            await asyncio.sleep(0.05)  # let the listener and handlers close

    def close(self) -> None:
        """Stop serving and end the background thread."""
        self.stop()
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            assert self._thread is not None
            self._thread.join(5)
            self._loop.close()
            self._loop = None
