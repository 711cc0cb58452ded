"""CAN-TP (ISO 15765-2) over any python-can bus, asyncio API.

The same ``CanTpEngine`` as ``blocking``, run by one task on the event loop
instead of a thread::

    async with AsyncCanTpBus(bus) as tpbus:
        ecu = tpbus.open(tx_id=0x7E0, rx_id=0x7E8)
        await ecu.send(b"\\x22\\xF1\\x90", timeout=2.0)
        answer = await ecu.recv(timeout=1.0)        # bytes or None
        m = await ecu.recv_message(timeout=1.0)     # RxMessage(data, functional, ts_us)

    async with await open_async_channel(bus, tx_id=0x7E0, rx_id=0x7E8) as ecu: ...

    tpbus.add_node(Ecu(profile))    # a sans-I/O node (contract: base "Nodes")

A ``send`` whose ``timeout`` runs out aborts its transfer (no further frame
goes out); ``hold()`` / ``ready()`` and ``rx_queue_max`` give flow-control
backpressure, as in ``blocking``.  A peer's transfer to us that breaks is
skipped by ``recv()``, counted in ``channel.rx_errors`` (by N_* code) and
passed to ``on_error(result)`` (called in the event loop), or raised with
``raise_rx_errors=True``, as in ``blocking``.

Frames arrive through ``can.Notifier(bus, ..., loop=loop)``: the loop watches
the bus's file descriptor where there is one (socketcan), otherwise a reader
thread hands frames over with ``call_soon_threadsafe``.  Timing as in
``blocking``: the task sleeps until ``spin_us`` before the core's deadline,
then yields with ``await asyncio.sleep(0)`` until it (other tasks keep
running; the CPU stays busy for at most ``spin_us`` per deadline).

python-can's ``bus.send`` is synchronous: when the driver's transmit queue is
full (socketcan: ENOBUFS) it blocks the event loop until there is room, at
most N_As (then the transfer fails with N_ERROR).  A real controller drains
its queue by itself; a loopback between two tasks of one loop cannot, so
there keep block sizes small (BS=8 is the default).
"""
from __future__ import annotations

import asyncio
import logging
from typing import Any, Callable

import can

from diagbridge.clock import ticks_diff
from diagbridge.cantp.addr import Address
from diagbridge.cantp.channel import Channel
from diagbridge.cantp.config import TpConfig
from diagbridge.errors import UsageError
from diagbridge.cpy.cantp.base import (TransportError, TransportTimeout, channel_config,
                                       check_node)
from diagbridge.cpy.cantp.engine import (CanTpEngine, Slot, TxRequest, RxMessage, RxFlow,
                                         RxErrors, HOLD_APP)
from diagbridge.cpy.clock import now_us

log = logging.getLogger(__name__)

__all__ = ["AsyncCanTpBus", "AsyncCanTpChannel", "open_async_channel", "RxMessage",
           "TransportError", "TransportTimeout"]

_NOTIFIER_TIMEOUT_S = 0.1


class AsyncCanTpBus:
    """One python-can bus served by one asyncio task, shared by CAN-TP channels.

    Make it inside a running event loop.  The caller keeps owning ``bus``."""

    def __init__(self, bus: can.BusABC, *, spin_us: int = 1000, name: str = "cantp") -> None:
        if not isinstance(spin_us, int) or spin_us < 0:
            raise ValueError("spin_us")
        self.bus = bus
        self.name = name
        self._spin_us = spin_us
        self._loop = asyncio.get_running_loop()
        self._engine = CanTpEngine(bus)
        self._msgs = []
        self._kick = False
        self._waiter = None
        self._closed = False
        self._notifier = can.Notifier(bus, [self._on_msg], timeout=_NOTIFIER_TIMEOUT_S,
                                      loop=self._loop)
        self._task = self._loop.create_task(self._run(), name="%s-io" % name)

    def open(self, *, config: "TpConfig | None" = None, address: "Address | None" = None,
             rx_queue_max: "int | None" = None, raise_rx_errors: bool = False,
             on_error: "Callable[[int], None] | None" = None,
             **params: Any) -> "AsyncCanTpChannel":
        """A new CAN-TP channel on this bus (keywords: see base;
        ``rx_queue_max``, ``raise_rx_errors``, ``on_error``: see ``blocking``)."""
        if self._closed:
            raise TransportError("CAN-TP bus closed")
        cfg, addr = channel_config(config, address, **params)
        return AsyncCanTpChannel(self, Channel(cfg, addr), False, rx_queue_max,
                                 raise_rx_errors=raise_rx_errors, on_error=on_error)

    def add_node(self, node: Any, name: "str | None" = None) -> None:
        """Carry a sans-I/O node's frames on this bus (e.g. a
        ``diagbridge.ecu.Ecu``), as ``CanTpBus.add_node``: the task feeds it,
        runs its timers, sends what it pops and drains its ``poll()``.  Call
        from the event loop's thread.  Raises ``TypeError`` for an object
        that is not a node, ``UsageError`` if it is on this bus already,
        ``TransportError`` once the bus is closed."""
        check_node(node)
        if self._closed:
            raise TransportError("CAN-TP bus closed")
        if any(s.channel is node for s in self._engine.slots):
            raise UsageError("node already on this bus")
        self._engine.add_node(node, name or self.name)
        self._poke()

    def remove_node(self, node: Any) -> None:
        """Take a node off the bus (at once: the task never touches it again).
        A node that is not on this bus is ignored."""
        self._engine.remove_node(node)

    async def close(self) -> None:
        """Stop the task; pending sends fail, waiting recv() calls raise."""
        if self._closed:
            return
        self._closed = True
        for slot in self._engine.slots:
            if slot.deliver is not None:    # None: a node (add_node)
                slot.deliver(None)
        self._engine.close(TransportError("CAN-TP bus closed"))
        self._task.cancel()
        try:
            await self._task
        except asyncio.CancelledError:
            pass
        self._notifier.stop(1.0)

    async def __aenter__(self) -> "AsyncCanTpBus":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- inputs (all in the event loop's thread) -----------------------------------
    def _on_msg(self, msg: can.Message) -> None:
        self._msgs.append(msg)
        w = self._waiter
        if w is not None and not w.done():
            w.set_result(None)

    def _poke(self) -> None:
        """Something for the task to do: run a step soon."""
        self._kick = True
        w = self._waiter
        if w is not None and not w.done():
            w.set_result(None)

    # -- the task ---------------------------------------------------------------
    async def _run(self) -> None:
        engine = self._engine
        msgs = self._msgs
        d = None
        try:
            while True:
                await self._wait(d)
                self._kick = False
                d = engine.step(now_us(), msgs)
                msgs.clear()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("%s: I/O task stopped", self.name)
            for slot in engine.slots:
                if slot.deliver is not None:
                    slot.deliver(None)
            engine.close(TransportError("CAN-TP I/O task stopped"))
            self._closed = True

    async def _wait(self, d: int | None) -> None:
        if self._msgs or self._kick:
            return
        if d is None:
            timeout = None
        else:
            dt = ticks_diff(d, now_us())
            if dt <= 0:
                return
            timeout = (dt - self._spin_us) / 1e6 if dt > self._spin_us else 0
        if timeout != 0:
            fut = self._loop.create_future()
            self._waiter = fut
            h = None if timeout is None else self._loop.call_later(timeout, _wake, fut)
            try:
                await fut
            finally:
                self._waiter = None
                if h is not None:
                    h.cancel()
            if self._msgs or self._kick or d is None:
                return
        while ticks_diff(d, now_us()) > 0 and not (self._msgs or self._kick):
            await asyncio.sleep(0)


def _wake(fut: asyncio.Future) -> None:
    if not fut.done():
        fut.set_result(None)


class AsyncCanTpChannel:
    """One CAN-TP link on an ``AsyncCanTpBus``: ``await send()``, ``await recv()``.

    ``rx_errors`` / ``raise_rx_errors``: as ``CanTpChannel``."""

    def __init__(self, tpbus: AsyncCanTpBus, channel: Channel, owns_bus_loop: bool,
                 rx_queue_max: "int | None" = None, *, raise_rx_errors: bool = False,
                 on_error: "Callable[[int], None] | None" = None) -> None:
        self._tpbus = tpbus
        self._rx = asyncio.Queue()
        self._closed = False
        self._owns = owns_bus_loop
        a = channel.addr
        name = "%s[0x%X->0x%X]" % (tpbus.name, a.tx_id, a.rx_id)
        errors = RxErrors(on_error, name)
        self.rx_errors = errors.counts
        self.raise_rx_errors = bool(raise_rx_errors)
        flow = self._flow = RxFlow(tpbus._engine, self._rx.put_nowait, self._rx.qsize,
                                   rx_queue_max)
        deliver = errors.wrap(self._rx.put_nowait if rx_queue_max is None else flow.deliver)
        self._slot = flow.slot = Slot(channel, deliver, name)
        self.config = channel.cfg
        self.address = a
        tpbus._engine.add(self._slot)

    async def send(self, payload: bytes | bytearray | memoryview, timeout: "float | None" = None,
                   functional: bool = False) -> None:
        """Send one message; returns when the transfer completed.

        Raises as ``CanTpChannel.send``: ``TransportError`` (``.result``),
        ``TransportTimeout`` (``.result`` None when ``timeout`` ran out: the
        transfer is aborted then), ``UsageError``."""
        data = bytes(payload)
        if self._closed or self._tpbus._closed:
            raise TransportError("channel closed")
        fut = self._tpbus._loop.create_future()

        def finish(error: BaseException | None) -> None:
            if not fut.done():
                fut.set_result(error)

        req = TxRequest(data, functional, finish)
        self._tpbus._engine.submit(self._slot, req)
        self._tpbus._poke()
        try:
            error = await asyncio.wait_for(fut, timeout)
        except asyncio.TimeoutError:
            self._abort(req)
            raise TransportTimeout("send did not complete within %.3f s" % timeout) from None
        except asyncio.CancelledError:      # the caller's task was cancelled: same
            self._abort(req)
            raise
        if error is not None:
            raise error

    def _abort(self, req: TxRequest) -> None:
        self._tpbus._engine.abort(self._slot, req)
        self._tpbus._poke()                 # the next queued send may start

    async def recv(self, timeout: "float | None" = None,
                   raise_rx_errors: "bool | None" = None) -> "bytes | None":
        """The next received message, or None after ``timeout`` seconds.

        A failed reception is skipped (counted in ``rx_errors``, reported to
        ``on_error``) or, with ``raise_rx_errors`` (this call's, else the
        channel's), raised as ``TransportError`` in its turn."""
        m = await self.recv_message(timeout, raise_rx_errors)
        return None if m is None else m.data

    async def recv_message(self, timeout: "float | None" = None,
                           raise_rx_errors: "bool | None" = None) -> "RxMessage | None":
        """As ``recv``, as an ``RxMessage`` (``data``, ``functional``, ``ts_us``)."""
        if self._closed:
            raise TransportError("channel closed")
        raising = self.raise_rx_errors if raise_rx_errors is None else raise_rx_errors
        clock = self._tpbus._loop.time
        end = None if timeout is None else clock() + timeout
        while True:
            if end is None:
                item = await self._rx.get()
            else:
                try:
                    item = await asyncio.wait_for(self._rx.get(), max(0.0, end - clock()))
                except asyncio.TimeoutError:
                    return None
            if self._flow.held and self._flow.release():
                self._tpbus._poke()         # an FC.CTS is due
            if item is None:
                self._rx.put_nowait(None)
                raise TransportError("channel closed")
            if item.__class__ is RxMessage:
                return item
            if raising or getattr(item, "result", None) is None:
                raise item
            # skipped (counted and reported on arrival): wait on


    @property
    def on_first_frame(self) -> "Callable[[int], None] | None":
        """Called with the announced length when a segmented message to this
        channel begins (its first frame, N_USData_FF.ind), in the event loop;
        None (the default) for nothing.  Testers stop P2 there."""
        return self._slot.on_ff

    @on_first_frame.setter
    def on_first_frame(self, fn: "Callable[[int], None] | None") -> None:
        if fn is not None and not callable(fn):
            raise TypeError("on_first_frame must be callable")
        self._slot.on_ff = fn

    def hold(self) -> None:
        """Hold receptions (FC.WAIT to a segmented sender) until ``ready()``;
        as ``CanTpChannel.hold``.  Call from the event loop's thread."""
        self._tpbus._engine.hold(self._slot, HOLD_APP, True)

    def ready(self) -> None:
        """End ``hold()``: a held sender gets FC.CTS."""
        if self._tpbus._engine.hold(self._slot, HOLD_APP, False):
            self._tpbus._poke()

    async def close(self) -> None:
        """Take the channel off the bus (pending sends fail)."""
        if self._closed:
            return
        self._closed = True
        self._tpbus._engine.remove(self._slot, TransportError("channel closed"))
        self._rx.put_nowait(None)
        if self._owns:
            await self._tpbus.close()

    async def __aenter__(self) -> "AsyncCanTpChannel":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


async def open_async_channel(bus: can.BusABC, *, spin_us: int = 1000,
                             config: "TpConfig | None" = None,
                             address: "Address | None" = None,
                             rx_queue_max: "int | None" = None,
                             raise_rx_errors: bool = False,
                             on_error: "Callable[[int], None] | None" = None,
                             **params: Any) -> AsyncCanTpChannel:
    """A single CAN-TP channel with its own task on ``bus`` (closing it stops
    the task).  Keywords: ``AsyncCanTpBus.open``."""
    cfg, addr = channel_config(config, address, **params)
    RxFlow(None, None, None, rx_queue_max)     # checked before the task starts
    RxErrors(on_error, "")
    tpbus = AsyncCanTpBus(bus, spin_us=spin_us)
    return AsyncCanTpChannel(tpbus, Channel(cfg, addr), True, rx_queue_max,
                             raise_rx_errors=raise_rx_errors, on_error=on_error)
