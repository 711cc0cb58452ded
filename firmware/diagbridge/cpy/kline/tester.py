"""A blocking K-Line tester over pyserial::

    with KLineTesterPort("/dev/ttyUSB0", target=0x11) as kl:
        kb = kl.fast_init()                    # b"\\xEA\\x8F": the ECU's key bytes
        rsp = kl.request(b"\\x1A\\x80")         # the response, SId first

The core's ``KLineTester`` runs in the ``KLinePort`` I/O thread; these calls
queue requests there and wait for the machine's events.  A failed init or
exchange raises ``KLineLinkError`` (``KLineTimeout`` for K_TIMEOUT_*) with the
core's K_* code in ``.result``; the caller's own ``timeout`` running out first
raises ``KLineTimeout`` with ``.result`` None.  A wake-up pattern the adapter
could not produce within tolerance raises ``KLineTimingError`` (with
``timing="refuse"``, the default).  A negative response is data: it is
returned like any other (``7F SId NRC``); 0x78 is handled by the link.
"""
from __future__ import annotations

import collections
import logging
import queue
import threading
from typing import Any

from diagbridge.codes import OK, code_name
from diagbridge.errors import UsageError
from diagbridge.kline import (KLineTester, TesterConfig, EV_KEY_BYTES, EV_RESPONSE, EV_DONE,
                              EV_FAILED, EV_ERROR, EV_STOPPED)
from diagbridge.cpy.kline.errors import KLineLinkError, KLineTimeout
from diagbridge.cpy.kline.port import KLinePort

log = logging.getLogger(__name__)

__all__ = ["KLineTesterPort"]


class KLineTesterPort:
    """The tester role on ``serial_or_url`` (see ``KLinePort`` for it and for
    ``port_kw``: echo, timing, clock ...).  ``target``: the ECU address used
    when a call names none."""

    def __init__(self, serial_or_url: Any, config: "TesterConfig | None" = None, *,
                 target: int = 0x11, **port_kw: Any) -> None:
        self.machine = KLineTester(config)
        self.target = target
        self.errors = collections.Counter()     # EV_ERROR results by K_* code
        self.stopped = None                      # result of the latest EV_STOPPED
        self._lock = threading.Lock()            # one call at a time
        self._q = queue.SimpleQueue()
        self._responses = []
        self.port = KLinePort(serial_or_url, self.machine, on_event=self._on_event,
                              name=port_kw.pop("name", "kline-tester"), **port_kw)

    # -- public -----------------------------------------------------------------------
    def fast_init(self, target: "int | None" = None, functional: bool = False,
                  timeout: float = 5.0) -> bytes:
        """WuP + StartCommunication; returns the key bytes (KB1, KB2)."""
        tgt = self.target if target is None else target
        self._exchange(lambda now: self.machine.fast_init(now, tgt, functional), timeout,
                       "fast init")
        m = self.machine
        return bytes((m.kb1, m.kb2))

    def five_baud_init(self, address: "int | None" = None, timeout: float = 6.0) -> bytes:
        """The address at 5 baud, sync, key bytes; returns (KB1, KB2)."""
        a = self.target if address is None else address
        self._exchange(lambda now: self.machine.five_baud_init(now, a), timeout, "5-baud init")
        m = self.machine
        return bytes((m.kb1, m.kb2))

    def request_all(self, data: bytes, timeout: float = 10.0, target: "int | None" = None,
                    functional: bool = False) -> "list[tuple[int, bytes]]":
        """One request; every response (segments, several ECUs) as (source, data)."""
        data = bytes(data)
        if not data:
            raise UsageError("empty request")
        tgt = self.target if target is None else target
        self._exchange(lambda now: self.machine.request(now, tgt, data, len(data), functional),
                       timeout, "request %02X" % data[0])
        return list(self._responses)

    def request(self, data: bytes, timeout: float = 10.0, target: "int | None" = None,
                functional: bool = False) -> bytes:
        """One request; the first response (SId first)."""
        rsp = self.request_all(data, timeout, target, functional)
        return rsp[0][1]

    @property
    def initialised(self) -> bool:
        return self.machine.initialised

    def close(self) -> None:
        self.port.close()

    def __enter__(self) -> "KLineTesterPort":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- inside ---------------------------------------------------------------------------
    def _exchange(self, start: Any, timeout: float, what: str) -> None:
        with self._lock:
            while True:                       # events of an earlier, abandoned call
                try:
                    self._q.get_nowait()
                except queue.Empty:
                    break
            self._responses = []
            self.port.refused = None
            self.port.call(start)
            try:
                ev, result = self._q.get(timeout=timeout)
            except queue.Empty:
                raise KLineTimeout("%s: no answer within %.3g s" % (what, timeout)) from None
            if self.port.refused is not None:
                raise self.port.refused
            if ev == EV_DONE:
                return
            if ev == EV_STOPPED and result == OK:
                return                        # StopCommunication accepted
            name = code_name(result)
            cls = KLineTimeout if name.startswith("K_TIMEOUT") else KLineLinkError
            raise cls("%s failed: %s" % (what, name), result)

    def _on_event(self, ev: int, now: int) -> None:
        m = self.machine
        if ev == EV_RESPONSE:
            self._responses.append(
                (m.peer, bytes(m.payload[m.data_off:m.data_off + m.data_len])))
        elif ev == EV_ERROR:
            self.errors[m.result] += 1
            log.debug("%s: %s", self.port.name, code_name(m.result))
        elif ev == EV_KEY_BYTES:
            log.debug("%s: key bytes %02X %02X from %02X", self.port.name, m.kb1, m.kb2, m.peer)
        elif ev in (EV_DONE, EV_FAILED):
            self._q.put((ev, m.result))
        elif ev == EV_STOPPED:
            self.stopped = m.result
            self._q.put((ev, m.result))
