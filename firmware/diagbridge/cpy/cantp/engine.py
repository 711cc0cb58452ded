"""The CAN-TP runner body over python-can, shared by the blocking and the
asyncio fronts (``blocking``, ``aio``).

* ``CanTpEngine``: the runner body of ARCHITECTURE.md section 6 for one bus and
  its channels (a ``Mux``): feed received frames, ``on_timer``, pop frames to
  ``bus.send``, dispatch events.  It holds no protocol logic: segmentation,
  flow control, STmin and every N_* timer stay in the core.  Not thread-safe:
  only the I/O loop that owns it calls it.
* ``Slot`` / ``TxRequest``: a channel's loop-side state and one send in flight;
  ``RxMessage``: what a channel's front receives (``data``, ``functional``,
  ``ts_us`` = the loop's tick when the message completed).
* ``abort`` (a caller's send timeout ran out: the core's ``abort_tx``, the bus
  goes quiet) and ``hold`` (flow-control backpressure: FC.WAIT while any
  reason to hold is set) are the fronts' controls, loop thread only.
* drivers (``driver.LoopDriver``): tester machines run inside the loop;
  ``step`` runs their timers and waits for their deadlines too.
* ``RxErrors``: a front's failed receptions, counted per N_* code and
  reported to an ``on_error`` callback as they happen (the fronts' ``recv``
  skips them unless ``raise_rx_errors``).

Keyword arguments, errors, the node contract: ``base``.
"""
from __future__ import annotations

import logging
from collections import Counter, deque, namedtuple
from typing import Any, Callable, Iterable, Union
from time import monotonic_ns as _monotonic_ns

import can

from diagbridge.clock import TICKS_MASK, earliest
from diagbridge.codes import N_OK, code_name
from diagbridge.errors import UsageError
from diagbridge.cantp.addr import TA_FUNCTIONAL, TA_PHYSICAL
from diagbridge.cantp.channel import Channel, TAG_RX
from diagbridge.cantp.events import (EV_TX_DONE, EV_TX_FAILED, EV_RX_FF, EV_RX_DONE,
                                     EV_RX_FAILED)
from diagbridge.cantp.mux import Mux
from diagbridge.cpy.cantp.base import DEFAULT_CFG, TransportError, transport_error
from diagbridge.cpy.canbus import TxMessages, frame_flags

log = logging.getLogger(__name__)

__all__ = ["CanTpEngine", "Slot", "TxRequest", "RxMessage", "RxFlow", "RxErrors",
           "MAX_BURST", "HOLD_APP", "HOLD_QUEUE"]

#: One received message: ``data`` (bytes), ``functional`` (True when it came
#: functionally addressed, a single frame to the channel's ``func_rx_id``) and
#: ``ts_us``, the bus loop's tick (``diagbridge.clock``, us, wrapping at 2**29)
#: of the step that completed it.
RxMessage = namedtuple("RxMessage", ("data", "functional", "ts_us"))

#: What a front's delivery callable is given: a message, a failed reception
#: (an exception whose ``result`` is the N_* code) or None (the bus closed).
RxItem = Union[RxMessage, BaseException, None]
Deliver = Callable[[RxItem], None]

#: Reasons for ``CanTpEngine.hold``: the application asked (``hold()``), the
#: front's receive queue is full (``rx_queue_max``).
HOLD_APP = 1
HOLD_QUEUE = 2

#: Frames popped per loop iteration at most, so that a long BS=0 burst never
#: keeps received frames (other channels' flow control) waiting.
MAX_BURST = 32


class TxRequest:
    """One send() in flight: the loop calls ``finish(error_or_None)`` once."""
    __slots__ = ("data", "ta_type", "finish", "abandoned")

    def __init__(self, data: bytes, functional: bool,
                 finish: Callable[[BaseException | None], None]) -> None:
        self.data = data
        self.ta_type = TA_FUNCTIONAL if functional else TA_PHYSICAL
        self.finish = finish
        self.abandoned = False      # the caller stopped waiting


class Slot:
    """Loop-side state of one channel: its core Channel, the front's delivery
    callable (bytes or TransportError) and the queue of its send requests.
    For a node (``add_node``) ``channel`` is the node and ``deliver`` None.
    ``on_ff(length)``, if set, is called when a segmented reception begins
    (N_USData_FF.ind): a tester stops P2 there (ISO 14229-2 §6.3)."""
    __slots__ = ("channel", "deliver", "pending", "current", "name", "hold", "on_ff")

    def __init__(self, channel: Channel | Any, deliver: Deliver | None,
                 name: str) -> None:
        self.channel = channel
        self.deliver = deliver
        self.on_ff = None
        self.pending = deque()
        self.current = None
        self.name = name
        self.hold = 0                   # HOLD_* bits set (see CanTpEngine.hold)


class CanTpEngine:
    """The runner body for one python-can bus shared by many channels.

    Delivers ``RxMessage`` objects (or a ``TransportError``) to a slot.
    ``step(now, msgs)`` feeds the received ``can.Message`` objects, runs the
    timers, starts queued requests, sends what the core pops (at most
    ``MAX_BURST`` frames) and dispatches events; it returns the tick at which
    it wants to run again (None: only on input).  Call it from one thread."""

    def __init__(self, bus: can.BusABC) -> None:
        self.bus = bus
        self.slots = []
        self._mux = Mux(())
        self._io = self._mux        # the Mux, or the only Channel (same verbs, one call less)
        self._out = bytearray(64)
        self._outv = memoryview(self._out)
        self._rings = ()            # the channels' event rings (skip empty polls)
        self._waiting = []          # slots with a request not yet started
        self._again = False
        self._now = 0               # tick of the running step (RxMessage.ts_us)
        self._drivers = []          # LoopDrivers running tester machines here
        self._send_timeout_s = ()   # by tx_tag: N_As (sender) / N_Ar (FC)
        self._tx_msgs = TxMessages(bus)     # the can.Message objects it sends

    # -- channels (loop thread only) --------------------------------------
    def add(self, slot: Slot) -> None:
        self.slots.append(slot)
        self._rebuild()

    def add_node(self, node: Any, name: str = "node") -> Slot:
        """Carry a node's frames (see the node contract above)."""
        slot = Slot(node, None, name)
        self.add(slot)
        return slot

    def remove_node(self, node: Any) -> bool:
        """Stop carrying ``node``; False if it was not on this bus."""
        for slot in self.slots:
            if slot.channel is node and slot.deliver is None:
                self.slots.remove(slot)
                self._rebuild()
                return True
        return False

    def remove(self, slot: Slot, error: Exception) -> None:
        """Take a channel off the bus; its queued sends fail with ``error``."""
        if slot not in self.slots:
            return
        self.slots.remove(slot)
        slot.channel.reset()
        self._fail_all(slot, error)
        self._rebuild()

    def close(self, error: Exception) -> None:
        for slot in self.slots:
            self._fail_all(slot, error)
        self.slots = []
        self._rebuild()

    def _fail_all(self, slot: Slot, error: BaseException) -> None:
        reqs = list(slot.pending)
        if slot.current is not None:
            reqs.insert(0, slot.current)
        slot.pending.clear()
        slot.current = None
        if slot in self._waiting:
            self._waiting.remove(slot)
        for req in reqs:
            req.finish(error)

    def _rebuild(self) -> None:
        chans = [s.channel for s in self.slots]
        self._mux = Mux(chans)
        # a lone channel is driven directly: its tx_tag equals the Mux's (index 0)
        self._io = chans[0] if len(chans) == 1 else self._mux
        self._rings = tuple(ch.events for ch in chans)
        t = []
        for ch in chans:
            cfg = getattr(ch, "cfg", None) or DEFAULT_CFG
            t.append(cfg.n_as_ms / 1000.0)
            t.append(cfg.n_ar_ms / 1000.0)
        self._send_timeout_s = tuple(t)

    def submit(self, slot: Slot, req: TxRequest) -> None:
        """Queue a send request; the next step() starts it when the channel can."""
        if slot not in self.slots:
            req.finish(TransportError("channel closed"))
            return
        slot.pending.append(req)
        if slot not in self._waiting:
            self._waiting.append(slot)
        self._again = True              # from a dispatch in step(): start it at once

    def abort(self, slot: Slot, req: TxRequest) -> None:
        """The caller stopped waiting for ``req``: if it is being transmitted,
        the core abandons it (no further frame, a late FC is ignored) and the
        next queued send starts; if it is still queued, it never starts."""
        req.abandoned = True
        if slot.current is not req:
            return                      # queued (skipped by _start) or finished
        slot.current = None
        if slot in self.slots:
            slot.channel.abort_tx()
            if slot.pending:
                if slot not in self._waiting:
                    self._waiting.append(slot)
                self._again = True
        log.info("%s: send abandoned by its caller: transfer aborted", slot.name)

    def hold(self, slot: Slot, why: int, on: bool) -> bool:
        """Set (``on``) or clear a reason ``why`` (``HOLD_*``) to hold the
        slot's receptions: while any is set the channel answers a first frame
        or a block end with FC.WAIT (core ``hold()``, at most ``wft_max`` in a
        row); when the last is cleared it sends FC.CTS (core ``ready()``).
        Returns True when a step should run soon (an FC may be due)."""
        h = slot.hold | why if on else slot.hold & ~why
        if h == slot.hold or slot not in self.slots:
            slot.hold = h
            return False
        slot.hold = h
        if h:
            slot.channel.hold()
            return False
        slot.channel.ready((_monotonic_ns() // 1000) & TICKS_MASK)
        self._again = True
        return True

    # -- the body ------------------------------------------------------------
    def step(self, now: int, msgs: Iterable[can.Message] | None) -> "int | None":
        mux = self._io
        self._now = now
        if msgs:
            feed = mux.feed_frame
            rings = self._rings
            for msg in msgs:
                if msg.is_error_frame or msg.is_remote_frame or not msg.is_rx:
                    continue
                data = msg.data
                if feed(now, msg.arbitration_id, data, len(data), frame_flags(msg)):
                    for ring in rings:
                        if ring.count:
                            self._dispatch()    # a payload is valid until the next feed
                            break
        mux.on_timer(now)
        drivers = self._drivers
        if drivers:
            for drv in tuple(drivers):
                drv.on_timer(now)
        if self._waiting:
            self._start(now)
        self._again = False
        self._flush()
        for ring in self._rings:
            if ring.count:
                self._dispatch()
                break
        if self._again:
            return now
        d = mux.deadline()
        for drv in drivers:
            d = earliest(d, drv.deadline())
        return d

    def _start(self, now: int) -> None:
        for slot in tuple(self._waiting):
            if slot.current is not None:
                continue
            while slot.pending and slot.pending[0].abandoned:
                slot.pending.popleft()
            if not slot.pending:
                self._waiting.remove(slot)
                continue
            req = slot.pending[0]
            ch = slot.channel
            try:
                ch.request(now, req.data, len(req.data), req.ta_type)
            except UsageError as e:
                if ch.tx_busy() or ch.rx_busy():
                    continue            # half duplex: after the reception
                slot.pending.popleft()
                req.finish(e)
                continue
            slot.pending.popleft()
            slot.current = req
            if not slot.pending:
                self._waiting.remove(slot)

    def _flush(self) -> None:
        mux = self._io
        pop = mux.pop_frame
        confirm = mux.confirm
        out = self._out
        outv = self._outv
        send = self.bus.send
        timeouts = self._send_timeout_s
        message = self._tx_msgs.message
        mono = _monotonic_ns
        mask = TICKS_MASK
        for _ in range(MAX_BURST):
            n = pop(out)
            if not n:
                return
            tag = mux.tx_tag
            msg = message(mux.tx_id, outv, n, mux.tx_flags)
            try:
                send(msg, timeouts[tag])
                ok = True
            except can.CanError as e:
                ok = False
                log.warning("bus.send failed (%s): %s", "FC" if (tag & 1) == TAG_RX
                            else "frame", e)
            confirm((mono() // 1000) & mask, ok, tag)   # now_us(), inlined
        self._again = True              # burst cut short: come back at once

    def _dispatch(self) -> None:
        mux = self._mux
        slots = self.slots
        while True:
            ev = mux.poll()
            if not ev:
                return
            slot = slots[mux.chan]
            if slot.deliver is None:
                continue                # a node's own event: its poll() handled it
            ch = mux.channel
            if ev == EV_RX_DONE:
                slot.deliver(RxMessage(bytes(ch.payload[:ch.length]),
                                       ch.ta_type == TA_FUNCTIONAL, self._now))
            elif ev == EV_RX_FAILED:
                log.info("%s: reception failed: %s", slot.name, code_name(ch.result))
                slot.deliver(transport_error(ch.result, "reception"))
            elif ev == EV_RX_FF:
                on_ff = slot.on_ff
                if on_ff is not None:
                    try:
                        on_ff(ch.length)
                    except Exception:   # a user's hook: never the loop's end
                        log.exception("%s: on_first_frame hook failed", slot.name)
            elif ev == EV_TX_DONE or ev == EV_TX_FAILED:
                req = slot.current
                slot.current = None
                if slot.pending:
                    if slot not in self._waiting:
                        self._waiting.append(slot)
                    self._again = True
                if req is None:
                    continue
                err = None if ch.result == N_OK else transport_error(ch.result, "transmission")
                if req.abandoned:
                    log.info("%s: abandoned send ended: %s", slot.name, code_name(ch.result))
                req.finish(err)



class RxFlow:
    """A front's receive queue with ``rx_queue_max`` backpressure: once that
    many items wait, the channel is held (``HOLD_QUEUE``: FC.WAIT to a
    segmented sender); as soon as the application takes one, ``release``
    lets it go on.  Single frames cannot be held: they are queued anyway.

    ``deliver`` and ``release`` run in the loop thread; the front reads
    ``held`` after each get and, if set, has ``release`` run there.  (The
    flag is set before the queue is counted again, so a get racing with a
    hold either sees the flag or is seen by the second count.)"""
    __slots__ = ("_engine", "slot", "_put", "_qsize", "_max", "held")

    def __init__(self, engine: CanTpEngine, put: Deliver,
                 qsize: Callable[[], int], rx_queue_max: "int | None") -> None:
        if rx_queue_max is not None and (not isinstance(rx_queue_max, int)
                                         or isinstance(rx_queue_max, bool) or rx_queue_max < 1):
            raise ValueError("rx_queue_max")
        self._engine = engine
        self.slot = None
        self._put = put
        self._qsize = qsize
        self._max = rx_queue_max
        self.held = False

    def deliver(self, item: RxItem) -> None:
        self._put(item)
        m = self._max
        if m is None or self.held or self._qsize() < m:
            return
        self.held = True
        if self._qsize() >= m:
            self._engine.hold(self.slot, HOLD_QUEUE, True)
        else:
            self.held = False

    def release(self) -> bool:
        """True when a step should run soon (an FC.CTS may be due)."""
        if self.held and self._qsize() < self._max:
            self.held = False
            return self._engine.hold(self.slot, HOLD_QUEUE, False)
        return False


class RxErrors:
    """A front's failed receptions (a peer's transfer to us that broke:
    N_WRONG_SN, N_UNEXP_PDU, N_TIMEOUT_CR, N_WFT_OVRN ...).

    ``wrap(deliver)`` returns the delivery callable the slot uses: each
    failure is counted in ``counts`` (a ``Counter`` by N_* code, so a code
    never seen reads 0) and ``on_error(result)`` is called, both in the loop
    thread as the failure happens, then the item goes on to the queue in its
    turn (the front's ``recv`` raises it or skips it).  An exception from
    ``on_error`` is logged, never ends the loop.  While a tester machine
    runs on the channel (``run_machine``) its receptions go to the machine,
    which reports them in its own result instead."""
    __slots__ = ("counts", "on_error", "name")

    def __init__(self, on_error: Callable[[int], None] | None, name: str) -> None:
        if on_error is not None and not callable(on_error):
            raise TypeError("on_error must be callable")
        self.counts = Counter()
        self.on_error = on_error
        self.name = name

    def wrap(self, deliver: Deliver) -> Deliver:
        """``deliver`` with the failures counted and reported first."""
        counts = self.counts

        def put(item: RxItem) -> None:
            if item is not None and item.__class__ is not RxMessage:
                result = getattr(item, "result", None)
                if result is not None:
                    counts[result] += 1
                    cb = self.on_error
                    if cb is not None:
                        try:
                            cb(result)
                        except Exception:   # the user's callback: never the loop's end
                            log.exception("%s: on_error callback failed", self.name)
            deliver(item)
        return put
