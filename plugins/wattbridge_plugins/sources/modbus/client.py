"""One connection to a bus (a TCP socket or a serial port) through pymodbus's sync client.

The bus thread that owns a :class:`BusClient` is the only one that uses it, so requests
on a bus are serialised by construction; :meth:`BusClient.read` keeps ``pause`` of quiet
time between two of them. Retries are ours, not pymodbus's, so that each try has the
device's own timeout and a failure can be logged once, by the caller.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from pymodbus import FramerType
from pymodbus.client import ModbusSerialClient, ModbusTcpClient
from pymodbus.exceptions import ConnectionException, ModbusException

from wattbridge_plugins.sources.modbus.model import Link

# pymodbus logs every failed connect and every timeout at ERROR; the source logs a device
# going down once and coming back once, so keep pymodbus quiet unless the user set a level.
_pymodbus_log = logging.getLogger("pymodbus")
if _pymodbus_log.level == logging.NOTSET:
    _pymodbus_log.setLevel(logging.CRITICAL)

EXCEPTION_NAMES = {
    1: "illegal function",
    2: "illegal data address",
    3: "illegal data value",
    4: "server device failure",
    5: "acknowledge",
    6: "server device busy",
    8: "memory parity error",
    10: "gateway path unavailable",
    11: "gateway target device failed to respond",
}
# Exception codes that say the device could not be reached or is busy, not that the
# request was wrong: they count as no answer (retry, mark down), not as a bad register.
UNREACHABLE_CODES = frozenset({5, 6, 10, 11})


class NoAnswer(Exception):
    """The device did not answer in time, or could not be reached."""


class Refused(Exception):
    """The device answered with a Modbus exception response."""

    def __init__(self, code: int) -> None:
        self.code = code
        super().__init__(f"exception response {code} ({EXCEPTION_NAMES.get(code, 'unknown')})")


class BusClient:
    """Reads from the devices of one bus; see the module doc."""

    def __init__(self, link: Link, stop: threading.Event | None = None) -> None:
        self.link = link
        self._stop = stop or threading.Event()
        self._client: Any = None
        self._quiet_until = 0.0
        self.requests = 0
        """Requests sent (for the benchmark and ``wattbridge modbus read``)."""

    def _connect(self, timeout: float) -> Any:
        if self._client is None:
            link = self.link
            if link.transport == "rtu":
                assert link.serial is not None
                self._client = ModbusSerialClient(
                    link.serial,
                    framer=FramerType.RTU,
                    baudrate=link.baudrate,
                    parity=link.parity,
                    stopbits=link.stopbits,
                    bytesize=link.bytesize,
                    timeout=timeout,
                    retries=0,
                )
            else:
                assert link.host is not None
                self._client = ModbusTcpClient(
                    link.host,
                    port=link.port,
                    framer=FramerType.RTU
                    if link.transport == "rtu-over-tcp"
                    else FramerType.SOCKET,
                    timeout=timeout,
                    retries=0,
                )
        # One client serves devices with different timeouts; set this request's.
        self._client.comm_params.timeout_connect = timeout
        if not self._client.connect():
            self.close()
            raise NoAnswer(f"cannot connect to {self.link.label}")
        return self._client

    def read(self, unit: int, kind: str, address: int, count: int, timeout: float) -> list[int]:
        """Read ``count`` registers (or bits, as 0 and 1) of ``kind`` from ``address``.

        Raises :class:`NoAnswer` or :class:`Refused`; one try, no retries.
        """
        wait = self._quiet_until - time.monotonic()
        if wait > 0:
            self._stop.wait(wait)
        client = self._connect(timeout)
        self.requests += 1
        try:
            if kind == "holding":
                response = client.read_holding_registers(address, count=count, device_id=unit)
            elif kind == "input":
                response = client.read_input_registers(address, count=count, device_id=unit)
            elif kind == "coil":
                response = client.read_coils(address, count=count, device_id=unit)
            else:
                response = client.read_discrete_inputs(address, count=count, device_id=unit)
        except (ConnectionException, ModbusException) as exc:
            # A late answer would be taken for the next request's: start afresh.
            self._drop()
            raise NoAnswer(f"no answer within {timeout:g}s ({type(exc).__name__})") from None
        finally:
            self._quiet_until = time.monotonic() + self.link.pause
        if response.isError():
            code = int(getattr(response, "exception_code", 0))
            if code in UNREACHABLE_CODES:
                raise NoAnswer(f"{Refused(code)}")
            raise Refused(code)
        if kind in ("coil", "discrete"):
            values = [int(bit) for bit in response.bits[:count]]
        else:
            values = list(response.registers)
        if len(values) != count:
            self._drop()
            raise NoAnswer(f"a short answer: {len(values)} of {count} values")
        return values

    def _drop(self) -> None:
        if self.link.transport != "rtu":
            self.close()
        elif self._client is not None and self._client.socket is not None:
            try:
                self._client.socket.reset_input_buffer()
            except Exception:  # a port that went away is reopened on the next request
                self.close()

    def close(self) -> None:
        """Close the connection; the next read opens it again."""
        if self._client is not None:
            try:
                self._client.close()
            finally:
                self._client = None
