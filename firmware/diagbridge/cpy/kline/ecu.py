"""A ``KLineEcu`` served on a serial port until closed::

    def answer(request: bytes, functional: bool) -> "bytes | None":
        if request[0] == 0x1A:
            return b"\\x5A\\x80" + b"VIN..."
        return bytes((0x7F, request[0], 0x11))

    with KLineEcuRunner("/dev/ttyUSB1", answer, EcuConfig(address=0x11)) as ecu:
        ...                                   # the I/O thread answers every request

The link (StartCommunication, StopCommunication, AccessTimingParameter,
timing, echo) is the core's; ``handler`` gives the application's answer to
any other request, called in the I/O thread (keep it short).  ``None`` sends
nothing (a functional request may go unanswered; an unanswered physical one
is reported by the core as K_TIMEOUT_P2MAX).  A handler that raises is
logged and the request answered with nothing, as is a response the link
refuses (``UsageError``: e.g. longer than 63 bytes with key bytes E9 8F).  The port's ``wup`` option says
how the wake-up pattern is recognised on a UART (``KLinePort``).
"""
from __future__ import annotations

import collections
import logging
from typing import Any, Callable

from diagbridge.codes import code_name
from diagbridge.errors import UsageError
from diagbridge.kline import KLineEcu, EcuConfig, EV_INIT, EV_REQUEST, EV_ERROR, EV_STOPPED
from diagbridge.cpy.kline.port import KLinePort

log = logging.getLogger(__name__)

__all__ = ["KLineEcuRunner"]


class KLineEcuRunner:
    """``requests``: (tester address, request bytes, functional) seen, newest
    last (bounded); ``inits`` / ``stops``: initialisations and ends of
    communication; ``errors``: EV_ERROR results by K_* code."""

    def __init__(self, serial_or_url: Any,
                 handler: "Callable[[bytes, bool], bytes | None]",
                 config: "EcuConfig | None" = None, **port_kw: Any) -> None:
        self.machine = KLineEcu(config)
        self.handler = handler
        self.requests = collections.deque(maxlen=256)
        self.inits = 0
        self.stops = 0
        self.errors = collections.Counter()
        self.port = KLinePort(serial_or_url, self.machine, on_event=self._on_event,
                              name=port_kw.pop("name", "kline-ecu"), **port_kw)

    def close(self) -> None:
        self.port.close()

    def __enter__(self) -> "KLineEcuRunner":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _on_event(self, ev: int, now: int) -> None:
        m = self.machine
        if ev == EV_REQUEST:
            req = bytes(m.payload[m.data_off:m.data_off + m.data_len])
            self.requests.append((m.peer, req, m.functional))
            try:
                rsp = self.handler(req, m.functional)
            except Exception:
                log.exception("%s: handler failed on %s", self.port.name, req.hex())
                return
            if rsp:
                rsp = bytes(rsp)
                try:
                    m.respond(now, rsp, len(rsp))
                except UsageError as e:         # e.g. longer than the key bytes allow
                    log.error("%s: response %s refused: %s", self.port.name, rsp.hex(), e)
        elif ev == EV_INIT:
            self.inits += 1
        elif ev == EV_STOPPED:
            self.stops += 1
        elif ev == EV_ERROR:
            self.errors[m.result] += 1
            log.debug("%s: %s", self.port.name, code_name(m.result))
