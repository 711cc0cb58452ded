"""``serial://...``: a serial port, USB CDC gadget or any pyserial URL."""
from __future__ import annotations

from typing import Any

import serial

from diagbridge_host.errors import LinkError, UsageError
from diagbridge_host.transports.base import Transport

DEFAULT_BAUDRATE = 115200
# pyserial reconfigures the port when its timeout changes, so reads use one
# fixed short timeout; the reader loop calls again until its own deadline.
_READ_TIMEOUT_S = 0.02


class SerialTransport(Transport):
    """A pyserial port.  ``serial:///dev/ttyACM0?baudrate=921600`` names a
    device (the baud rate matters only on a real UART); ``serial://loop://``
    or ``serial://rfc2217://host:port`` pass a pyserial URL through."""

    def __init__(self, port: Any, url: str) -> None:
        self.url = url
        self._port = port
        self._closed = False

    @classmethod
    def open(cls, rest: str, query: dict) -> "SerialTransport":
        if not rest:
            raise UsageError("serial URL needs a device: serial:///dev/ttyACM0 or serial://loop://")
        try:
            baud = int(query.pop("baudrate", DEFAULT_BAUDRATE))
        except ValueError:
            raise UsageError("serial URL: baudrate must be an integer") from None
        if query:
            raise UsageError("serial URL: unknown option(s) %s" % ", ".join(sorted(query)))
        url = "serial://" + rest
        try:
            port = serial.serial_for_url(rest, baudrate=baud, timeout=_READ_TIMEOUT_S,
                                         write_timeout=None)
        except (serial.SerialException, ValueError) as e:
            raise LinkError("cannot open %s: %s (is the gateway plugged in, and may you open "
                            "the port?)" % (url, e)) from e
        return cls(port, url)

    def read(self, timeout_s: float) -> bytes:
        if self._closed:
            raise LinkError("%s: closed" % self.url)
        port = self._port
        try:
            data = port.read(1)
            if data:
                n = port.in_waiting
                if n:
                    data += port.read(n)
            return data
        except (serial.SerialException, OSError, TypeError, AttributeError) as e:
            if self._closed:
                raise LinkError("%s: closed" % self.url) from e
            raise LinkError("%s: read failed: %s (gateway unplugged?)" % (self.url, e)) from e

    def write(self, data: bytes) -> None:
        try:
            self._port.write(data)
        except (serial.SerialException, OSError) as e:
            raise LinkError("%s: write failed: %s (gateway unplugged?)" % (self.url, e)) from e

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self._port.cancel_read()
        except (AttributeError, serial.SerialException, OSError):
            pass
        self._port.close()
