"""CAN-TP (ISO 15765-2) over any python-can bus, blocking API.

One I/O thread per bus runs the core through ``CanTpEngine`` (the runner body
of ARCHITECTURE.md section 6); the application threads only queue requests
and wait for results::

    bus = can.Bus(interface="socketcan", channel="can0", fd=True)
    with open_channel(bus, tx_id=0x7E0, rx_id=0x7E8) as tp:
        tp.send(b"\\x22\\xF1\\x90", timeout=2.0)    # returns when the transfer is done
        answer = tp.recv(timeout=1.0)              # bytes, or None on timeout
        m = tp.recv_message(timeout=1.0)           # RxMessage(data, functional, ts_us)

    with CanTpBus(bus) as tpbus:                   # a dozen ECUs on one bus
        ecus = [tpbus.open(tx_id=0x7E0 + i, rx_id=0x7E8 + i) for i in range(8)]
        tpbus.add_node(Ecu(profile))               # a sans-I/O node served here too

Keyword arguments: ``diagbridge.cpy.cantp.base`` (can-isotp's names where they
mean the same thing, units in the names).  A transfer that fails raises
``TransportError`` with the core's N_* code in ``.result``; when the caller's
own ``timeout`` runs out first the transfer is aborted (no further frame goes
out) and ``TransportTimeout`` has ``.result`` None.  Backpressure: ``hold()``
/ ``ready()``, or ``rx_queue_max=N`` (held while N messages wait): a held
channel answers a segmented sender with FC.WAIT (``wft_max`` in a row, every
``n_br_ms``, then the reception fails with N_WFT_OVRN).  ``add_node``
takes any object that follows the node contract of ``base`` (a
Channel's frame verbs plus ``events.count`` / ``poll()``), e.g. an Ecu.

A peer's transfer to us that breaks (N_WRONG_SN, N_UNEXP_PDU, N_TIMEOUT_CR,
N_WFT_OVRN ...) is dropped, as can-isotp does, and reported, as Linux's
CAN_ISOTP socket does: ``recv()`` goes on to the next good message, the
failure is counted in ``channel.rx_errors`` (a ``Counter`` by N_* code:
``rx_errors[N_WRONG_SN]``) and passed to ``on_error(result)`` (called in the
I/O thread as it happens: keep it short).  ``raise_rx_errors=True`` (per
channel, or per ``recv`` call) makes ``recv()`` raise it as a
``TransportError`` in its turn instead (counted and reported all the same).
The default was chosen so that a tester's loop never dies on a peer's noise
while nothing is lost silently.

How the I/O thread waits:

* a bus with a file descriptor (``bus.fileno()``: socketcan on the Pi):
  ``select`` on that descriptor and a wake-up pipe, one thread, no hand-over;
* python-can's ``virtual`` bus: the I/O thread blocks in ``bus.recv`` itself
  and a request wakes it with a marker frame put into that bus's own receive
  queue (never sent on the channel): one thread, no hand-over per frame;
* any other bus (vendor interfaces): a ``can.Notifier`` reader thread puts
  frames into the loop's queue, where requests also arrive.

Timing: the thread sleeps until the core's next deadline, or until
``spin_us`` (default 1000 us) before it, and then polls with ``time.sleep(0)``
up to the deadline.  Sleeping alone overshoots by 0.1-0.3 ms on a typical
Linux VM, so a short STmin (0xF1-0xF9 = 100-900 us, or 1 ms) needs the spin:
it costs up to one CPU core while such a paced transfer runs (for STmin = 5 ms
about 20 %), nothing otherwise.  ``spin_us=0`` never spins (lowest CPU, STmin
gaps longer by the scheduler's overshoot); gaps are never shorter than STmin
either way.  The thread never polls while idle.
"""
from __future__ import annotations

import logging
import queue
import threading
import time
from typing import Any, Callable

import can

from diagbridge.cantp.addr import Address
from diagbridge.cantp.channel import Channel
from diagbridge.cantp.config import TpConfig
from diagbridge.errors import UsageError
from diagbridge.cpy.cantp.base import (TransportError, TransportTimeout, channel_config,
                                       check_node)
from diagbridge.cpy.cantp.driver import LoopDriver
from diagbridge.cpy.cantp.engine import (CanTpEngine, Slot, TxRequest, RxMessage, RxFlow,
                                         RxErrors, HOLD_APP, Deliver)
from diagbridge.cpy.cantp.read import BusReader
from diagbridge.cpy.clock import now_us

log = logging.getLogger(__name__)

__all__ = ["CanTpBus", "CanTpChannel", "open_channel", "RxMessage", "TransportError",
           "TransportTimeout"]

_Empty = queue.Empty


class _Done:
    """The completion of one send(): a threading.Event and the error."""
    __slots__ = ("event", "error")

    def __init__(self) -> None:
        self.event = threading.Event()
        self.error = None

    def __call__(self, error: BaseException | None) -> None:
        self.error = error
        self.event.set()


class CanTpBus(BusReader):
    """One python-can bus served by one I/O thread, shared by CAN-TP channels.

    The caller keeps owning ``bus`` (``close()`` does not shut it down).
    ``notifier``: an existing ``can.Notifier`` of this bus to listen through
    (when other listeners need the frames too); by default the bus is read
    directly (``fileno``) or through a notifier made here.  ``spin_us``: see
    the module documentation."""

    def __init__(self, bus: can.BusABC, *, spin_us: int = 1000,
                 notifier: "can.Notifier | None" = None, name: str = "cantp") -> None:
        if not isinstance(spin_us, int) or spin_us < 0:
            raise ValueError("spin_us")
        self.bus = bus
        self.name = name
        self._spin_us = spin_us
        self._engine = CanTpEngine(bus)
        self._q = queue.SimpleQueue()     # commands (and frames without fileno)
        self._msgs = []
        self._running = True
        self._closed = False
        self._dead = False              # the I/O thread ended: _call refuses
        self._lock = threading.Lock()
        self._nodes = []                # added with add_node (under _lock)
        self._setup_reader(bus, notifier)
        self._thread = threading.Thread(target=self._run, name="%s-io" % name, daemon=True)
        self._thread.start()

    # -- public ---------------------------------------------------------------
    def open(self, *, config: "TpConfig | None" = None, address: "Address | None" = None,
             rx_queue_max: "int | None" = None, raise_rx_errors: bool = False,
             on_error: "Callable[[int], None] | None" = None,
             **params: Any) -> "CanTpChannel":
        """A new CAN-TP channel on this bus (keywords: base; rx_queue_max,
        raise_rx_errors, on_error: the module documentation)."""
        cfg, addr = channel_config(config, address, **params)
        return CanTpChannel(self, Channel(cfg, addr), False, rx_queue_max,
                            raise_rx_errors=raise_rx_errors, on_error=on_error)

    def add_node(self, node: Any, name: "str | None" = None) -> None:
        """Carry a sans-I/O node's frames on this bus (e.g. a
        ``diagbridge.ecu.Ecu``): the I/O thread feeds it every received
        frame, runs its timers at its ``deadline()``, sends what it pops and
        drains its ``poll()``.  The contract: ``base`` ("Nodes").

        From the next step on, everything that touches ``node`` runs in the
        I/O thread.  Raises ``TypeError`` for an object that is not a node,
        ``UsageError`` if it is on this bus already, ``TransportError`` once
        the bus is closed."""
        check_node(node)
        with self._lock:
            if any(n is node for n in self._nodes):
                raise UsageError("node already on this bus")
            self._nodes.append(node)
        try:
            self._call(self._engine.add_node, node, name or self.name)
        except TransportError:
            self._forget(node)
            raise

    def remove_node(self, node: Any, timeout: float = 5.0) -> None:
        """Take a node off the bus.  When it returns the I/O thread no longer
        touches ``node`` (so the caller may use it again).  A node that is
        not on this bus is ignored.  Raises ``TimeoutError`` if the I/O thread
        did not get to it within ``timeout`` seconds."""
        if not self._forget(node):
            return
        if threading.current_thread() is self._thread:
            self._engine.remove_node(node)
            return
        done = threading.Event()

        def remove() -> None:
            self._engine.remove_node(node)
            done.set()
        try:
            self._call(remove)
        except TransportError:
            return                      # the I/O thread has ended: nothing runs the node
        if not done.wait(timeout) and not self._dead:
            raise TimeoutError("the CAN-TP I/O thread did not remove the node")

    def _forget(self, node: Any) -> bool:
        with self._lock:
            for i, n in enumerate(self._nodes):
                if n is node:
                    del self._nodes[i]
                    return True
        return False

    def close(self, timeout: float = 5.0) -> None:
        """Stop the I/O thread; pending sends fail, blocked recv() calls raise."""
        if self._closed:
            return
        self._closed = True
        try:
            self._call(self._stop)
        except TransportError:
            pass                        # the I/O thread already ended
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout)
        self._close_reader(timeout)

    def __enter__(self) -> "CanTpBus":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- application side -----------------------------------------------------
    def _call(self, fn: Callable[..., object], *args: Any) -> None:
        """Run fn(*args) in the I/O thread (in order, before its next step)."""
        with self._lock:
            if self._dead:
                raise TransportError("CAN-TP bus closed")
            self._q.put((fn, args))
            self._wake_locked()
        self._wake_unlocked()

    def _stop(self) -> None:
        self._running = False
        for slot in self._engine.slots:
            if slot.deliver is not None:    # None: a node (add_node)
                slot.deliver(None)
        self._engine.close(TransportError("CAN-TP bus closed"))

    # -- the I/O thread -----------------------------------------------------------
    def _run(self) -> None:
        engine = self._engine
        msgs = self._msgs
        d = None
        try:
            while self._running:
                self._wait(d)
                if not self._running:
                    break
                d = engine.step(now_us(), msgs)
                msgs.clear()
        except Exception:               # a bug, or the bus died: fail loudly
            log.exception("%s: I/O loop stopped", self.name)
            self._stop()
        finally:
            with self._lock:
                self._dead = True
            while True:                 # commands queued meanwhile see "closed"
                try:
                    item = self._q.get_nowait()
                except _Empty:
                    break
                if item.__class__ is tuple:
                    item[0](*item[1])

class CanTpChannel:
    """One CAN-TP link on a ``CanTpBus``: blocking ``send`` and ``recv``.

    Thread-safe: any thread may send or receive.  Sends on one channel are
    transmitted one after the other, in call order.

    ``rx_errors``: failed receptions counted by N_* code (``Counter``);
    ``raise_rx_errors``: whether ``recv`` raises them (module documentation),
    may be changed at any time."""

    def __init__(self, tpbus: CanTpBus, channel: Channel, owns_bus_loop: bool,
                 rx_queue_max: "int | None" = None, *, raise_rx_errors: bool = False,
                 on_error: "Callable[[int], None] | None" = None) -> None:
        self._tpbus = tpbus
        self._rx = queue.SimpleQueue()
        self._closed = False
        self._owns = owns_bus_loop
        a = channel.addr
        name = "%s[0x%X->0x%X]" % (tpbus.name, a.tx_id, a.rx_id)
        errors = RxErrors(on_error, name)
        self.rx_errors = errors.counts
        self.raise_rx_errors = bool(raise_rx_errors)
        flow = self._flow = RxFlow(tpbus._engine, self._rx.put, self._rx.qsize, rx_queue_max)
        deliver = self._deliver = errors.wrap(self._rx.put if rx_queue_max is None
                                              else flow.deliver)
        self._slot = flow.slot = Slot(channel, deliver, name)
        self.config = channel.cfg
        self.address = a
        tpbus._call(tpbus._engine.add, self._slot)

    def send(self, payload: bytes | bytearray | memoryview, timeout: "float | None" = None,
             functional: bool = False) -> None:
        """Send one message; returns when the transfer completed.

        Raises ``TransportError`` (``.result`` = N_* code) when it failed,
        ``TransportTimeout`` for N_TIMEOUT_A/BS or when ``timeout`` seconds
        passed first (``.result`` None: the transfer is aborted, no further
        frame of it goes out once this raises, and the next send starts
        clean), ``UsageError`` for a misuse (empty payload, functional
        payload larger than a single frame)."""
        data = bytes(payload)
        if self._closed:
            raise TransportError("channel closed")
        done = _Done()
        req = TxRequest(data, functional, done)
        self._tpbus._call(self._tpbus._engine.submit, self._slot, req)
        if not done.event.wait(timeout):
            req.abandoned = True
            try:
                self._in_loop(self._tpbus._engine.abort, self._slot, req)
            except TransportError:
                pass                        # the loop ended: nothing sends it any more
            if not done.event.is_set():     # (else it ended just before the abort)
                raise TransportTimeout("send did not complete within %.3f s" % timeout)
        if done.error is not None:
            raise done.error

    def recv(self, timeout: "float | None" = None,
             raise_rx_errors: "bool | None" = None) -> "bytes | None":
        """The next received message, or None when ``timeout`` seconds pass.

        A failed reception (N_TIMEOUT_CR, N_WRONG_SN ...) is skipped (it was
        counted in ``rx_errors`` and reported to ``on_error``), or raised as
        ``TransportError`` in its turn when ``raise_rx_errors`` (this call's,
        else the channel's) is true.  A closed channel raises
        ``TransportError`` (``.result`` None)."""
        m = self.recv_message(timeout, raise_rx_errors)
        return None if m is None else m.data

    def recv_message(self, timeout: "float | None" = None,
                     raise_rx_errors: "bool | None" = None) -> "RxMessage | None":
        """As ``recv``, with how the message came: an ``RxMessage`` with
        ``data`` (bytes), ``functional`` (True: functionally addressed) and
        ``ts_us`` (the bus loop's tick when it completed)."""
        if self._closed:
            raise TransportError("channel closed")
        raising = self.raise_rx_errors if raise_rx_errors is None else raise_rx_errors
        end = None if timeout is None else time.monotonic() + timeout
        wait = timeout
        while True:
            try:
                item = self._rx.get(True, wait)
            except _Empty:
                return None
            if self._flow.held:         # room again: let a held sender go on
                try:
                    self._tpbus._call(self._flow.release)
                except TransportError:
                    pass
            if item is None:
                self._rx.put(None)      # wake every other receiver too
                raise TransportError("channel closed")
            if item.__class__ is RxMessage:
                return item
            if raising or getattr(item, "result", None) is None:
                raise item
            if end is not None:         # skipped (counted on arrival): wait on
                wait = max(0.0, end - time.monotonic())


    @property
    def on_first_frame(self) -> "Callable[[int], None] | None":
        """Called with the announced length when a segmented message to this
        channel begins (its first frame, N_USData_FF.ind), in the I/O thread;
        None (the default) for nothing.  Testers stop P2 there."""
        return self._slot.on_ff

    @on_first_frame.setter
    def on_first_frame(self, fn: "Callable[[int], None] | None") -> None:
        if fn is not None and not callable(fn):
            raise TypeError("on_first_frame must be callable")
        self._slot.on_ff = fn

    def hold(self) -> None:
        """Hold receptions: a segmented sender gets FC.WAIT (up to
        ``wft_max`` in a row, every ``n_br_ms``) until ``ready()``.  In effect
        when it returns; single frames still arrive."""
        self._in_loop(self._tpbus._engine.hold, self._slot, HOLD_APP, True)

    def ready(self) -> None:
        """End ``hold()``: a held sender gets FC.CTS (unless ``rx_queue_max``
        still holds)."""
        self._in_loop(self._tpbus._engine.hold, self._slot, HOLD_APP, False)

    def _divert(self, put: Deliver | None,
                on_ff: Callable[[int], None] | None) -> None:
        """The UDS facade's functional requests: this channel's deliveries go
        to ``put(item)`` and first frames to ``on_ff(length)`` (both in the
        I/O thread) until ``_divert(None, None)`` gives them back."""
        slot = self._slot

        def swap() -> None:
            slot.deliver = self._deliver if put is None else put
            slot.on_ff = on_ff
        self._in_loop(swap)

    def _in_loop(self, fn: Callable[..., object], *args: Any) -> None:
        """Run fn(*args) in the I/O thread and wait until it ran."""
        tpbus = self._tpbus
        if threading.current_thread() is tpbus._thread:
            fn(*args)
            return
        ran = threading.Event()

        def run() -> None:
            fn(*args)
            ran.set()
        tpbus._call(run)                # raises TransportError once the bus is closed
        ran.wait(5.0)

    def run_machine(self, machine: Any, on_event: Callable[[Any, int], None],
                    is_done: Callable[[], bool], max_pdu: int = 4095) -> None:
        """Run a tester machine (the core ``UdsClient`` or ``Flasher``) in
        this bus's I/O thread until ``is_done()`` (see ``LoopDriver``):
        ``on_event(machine, ev)`` is called there.  Blocks the caller; raises
        what ended it early (a closed channel, an exception of ``on_event``).
        The machine's own timers (P2/P2*) bound the wait."""
        if self._closed:
            raise TransportError("channel closed")
        done = _Done()
        tpbus = self._tpbus
        drv = LoopDriver(tpbus._engine, self._slot, machine, on_event, is_done, done, max_pdu)
        rxq = self._rx

        def start() -> None:
            backlog = []                # received before: fed first, as recv() would
            while True:
                try:
                    backlog.append(rxq.get_nowait())
                except _Empty:
                    break
            self._flow.release()        # the queue is empty now
            drv.start(backlog)
        tpbus._call(start)
        try:
            done.event.wait()
        except BaseException:           # KeyboardInterrupt: stop driving, then raise
            try:
                tpbus._call(drv.cancel)
            except TransportError:
                pass
            raise
        if done.error is not None:
            raise done.error

    def close(self) -> None:
        """Take the channel off the bus (pending sends fail)."""
        if self._closed:
            return
        self._closed = True
        tpbus = self._tpbus
        try:
            tpbus._call(tpbus._engine.remove, self._slot, TransportError("channel closed"))
        except TransportError:
            pass                        # the bus loop is closed already
        self._rx.put(None)
        if self._owns:
            tpbus.close()

    def __enter__(self) -> "CanTpChannel":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_channel(bus: can.BusABC, *, spin_us: int = 1000,
                 config: "TpConfig | None" = None, address: "Address | None" = None,
                 rx_queue_max: "int | None" = None, raise_rx_errors: bool = False,
                 on_error: "Callable[[int], None] | None" = None,
                 **params: Any) -> CanTpChannel:
    """A single CAN-TP channel with its own I/O thread on ``bus``.

    Closing the channel stops that thread (the bus stays open).  Keywords:
    ``CanTpBus.open``."""
    cfg, addr = channel_config(config, address, **params)
    RxFlow(None, None, None, rx_queue_max)     # checked before the thread starts
    RxErrors(on_error, "")
    tpbus = CanTpBus(bus, spin_us=spin_us)
    return CanTpChannel(tpbus, Channel(cfg, addr), True, rx_queue_max,
                        raise_rx_errors=raise_rx_errors, on_error=on_error)
