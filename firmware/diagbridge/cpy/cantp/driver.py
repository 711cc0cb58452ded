"""A tester machine run inside a CAN-TP bus loop (CPython).

``LoopDriver`` moves PDUs between a core tester machine (``UdsClient`` or
``Flasher``) and one channel's ``Slot`` of a ``CanTpEngine``, in the I/O
thread that owns the engine: what the blocking facade's loop does with
``send`` and ``recv``, without a hand-over between threads per request.
``blocking.CanTpChannel.run_machine`` uses it.
"""
from __future__ import annotations

from typing import Any, Callable, Iterable

from diagbridge.clock import due
from diagbridge.codes import N_OK
from diagbridge.cpy.cantp.base import TransportError
from diagbridge.cpy.cantp.engine import CanTpEngine, RxItem, RxMessage, Slot, TxRequest
from diagbridge.cpy.clock import now_us

__all__ = ["LoopDriver"]


class LoopDriver:
    """A tester machine run by the I/O loop on one channel (loop thread only).

    The machine has the core client's verbs (``pop_pdu``, ``tx_functional``,
    ``sent``, ``feed_pdu``, ``rx_started``, ``rx_failed``, ``on_timer``,
    ``deadline``, ``poll``): what the blocking facade's own loop does with ``send`` and
    ``recv``, done where the frames are, so a request, its frames and its
    answer never wait for another thread.  ``start(backlog)`` (PDUs received
    before, fed first) takes over the slot's deliveries and joins the
    engine's timers; ``on_event(machine, ev)`` sees every event; once
    ``is_done()`` is true after an event, or on an error (a closed channel,
    an exception from ``on_event``), the slot is given back and
    ``finish(error_or_None)`` is called once."""

    def __init__(self, engine: CanTpEngine, slot: Slot, machine: Any,
                 on_event: Callable[[Any, int], None], is_done: Callable[[], bool],
                 finish: Callable[[BaseException | None], None],
                 max_pdu: int = 4095) -> None:
        self.machine = machine
        self._engine = engine
        self._slot = slot
        self._on_event = on_event
        self._is_done = is_done
        self._finish = finish
        self._buf = bytearray(max_pdu)
        self._bufv = memoryview(self._buf)
        self._saved = None
        self._saved_ff = None
        self._sending = False
        self._ended = False

    def start(self, backlog: Iterable[RxItem] = ()) -> None:
        slot = self._slot
        if slot not in self._engine.slots:
            self._ended = True
            self._finish(TransportError("channel closed"))
            return
        self._saved = slot.deliver
        self._saved_ff = slot.on_ff
        slot.deliver = self._on_rx
        slot.on_ff = self._on_ff
        self._engine._drivers.append(self)
        for item in backlog:
            self._on_rx(item, False)
            if self._ended:
                return
        self._pump()

    def cancel(self) -> None:
        """Stop driving (the caller gave up); the machine is left as it is."""
        self._end(None)

    def deadline(self) -> int | None:
        return self.machine.deadline()

    def on_timer(self, now: int) -> None:
        m = self.machine
        if due(now, m.deadline()):
            try:
                m.on_timer(now)
            except Exception as e:      # a bug in the machine: the caller sees it
                self._end(e)
                return
            self._pump()

    def _end(self, error: BaseException | None) -> None:
        if self._ended:
            return
        self._ended = True
        if self._saved is not None:
            self._slot.deliver = self._saved
            self._slot.on_ff = self._saved_ff
        drivers = self._engine._drivers
        if self in drivers:
            drivers.remove(self)
        self._finish(error)

    def _pump(self) -> None:
        if self._ended:
            return
        m = self.machine
        on_event = self._on_event
        try:
            ev = m.poll()
            while ev:
                on_event(m, ev)
                ev = m.poll()
            if self._sending:
                return
            n = m.pop_pdu(self._buf)
            if n:
                self._sending = True
                self._engine.submit(self._slot, TxRequest(bytes(self._bufv[:n]),
                                                          m.tx_functional, self._sent))
                return
            done = self._is_done()
        except Exception as e:          # a user callback, or a bug: the caller sees it
            self._end(e)
            return
        if done:
            self._end(None)

    def _sent(self, error: BaseException | None) -> None:
        self._sending = False
        if self._ended:
            return
        if error is not None and (not isinstance(error, TransportError) or error.result is None):
            self._end(error)            # closed, or the caller's misuse (UsageError)
            return
        try:
            self.machine.sent(now_us(), N_OK if error is None else error.result)
        except Exception as e:
            self._end(e)
            return
        self._pump()

    def _on_ff(self, length: int) -> None:
        """A segmented response began: P2 stops (the core's ``rx_started``);
        from here N_Cr bounds the wait."""
        if self._ended:
            return
        try:
            self.machine.rx_started(now_us())
        except Exception as e:
            self._end(e)
            return
        self._pump()

    def _on_rx(self, item: RxItem, pump: bool = True) -> None:
        if self._ended:                 # (cannot happen: the slot is given back)
            return
        if item is None:                # the bus closed: later recv() calls see it too
            self._saved(None)
            self._end(TransportError("channel closed"))
            return
        m = self.machine
        try:
            if item.__class__ is RxMessage:
                data = item.data
                m.feed_pdu(now_us(), data, len(data))
            elif isinstance(item, TransportError) and item.result is not None:
                m.rx_failed(now_us(), item.result)
            else:
                self._end(item)
                return
        except Exception as e:
            self._end(e)
            return
        if pump:
            self._pump()
