"""CAN-TP (ISO 15765-2) over any python-can bus, blocking API.

One I/O thread per bus runs the core through ``CanTpEngine`` (the runner body
of ARCHITECTURE.md section 6); the application threads only queue requests
and wait for results::

    bus = can.Bus(interface="socketcan", channel="can0", fd=True)
    with open_channel(bus, tx_id=0x7E0, rx_id=0x7E8) as tp:
        tp.send(b"\\x22\\xF1\\x90", timeout=2.0)    # returns when the transfer is done
        answer = tp.recv(timeout=1.0)              # bytes, or None on timeout

    with CanTpBus(bus) as tpbus:                   # a dozen ECUs on one bus
        ecus = [tpbus.open(tx_id=0x7E0 + i, rx_id=0x7E8 + i) for i in range(8)]
        tpbus.add_node(Ecu(profile))               # a sans-I/O node served here too

Keyword arguments: ``diagbridge.cpy.cantp_base`` (can-isotp's names where they
mean the same thing, units in the names).  A transfer that fails raises
``TransportError`` with the core's N_* code in ``.result``.  ``add_node``
takes any object that follows the node contract of ``cantp_base`` (a
Channel's frame verbs plus ``events.count`` / ``poll()``), e.g. an Ecu.

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
import logging
import os
import queue
import select
import threading
import time

import can

from diagbridge.clock import ticks_diff
from diagbridge.cantp.addr import Address
from diagbridge.cantp.channel import Channel
from diagbridge.cantp.config import TpConfig
from diagbridge.errors import UsageError
from diagbridge.cpy.cantp_base import (CanTpEngine, Slot, TransportError,
                                       TransportTimeout, TxRequest, channel_config,
                                       check_node)
from diagbridge.cpy.clock import now_us

log = logging.getLogger(__name__)

__all__ = ["CanTpBus", "CanTpChannel", "open_channel", "TransportError",
           "TransportTimeout"]

_Empty = queue.Empty
_Message = can.Message
_NOTIFIER_TIMEOUT_S = 0.1    # reader thread (or direct reads): how soon it sees close()


def _virtual_queue(bus):
    """The receive queue of a python-can ``VirtualBus`` (exactly that class,
    no filters), which its ``recv`` reads; None for any other bus."""
    try:
        from can.interfaces.virtual import VirtualBus
    except ImportError:                 # pragma: no cover - python-can without it
        return None
    if type(bus) is not VirtualBus or getattr(bus, "filters", None) is not None:
        return None
    q = getattr(bus, "queue", None)
    if not (hasattr(q, "put") and hasattr(q, "mutex") and hasattr(q, "queue")):
        return None
    return q


def _fileno(bus) -> int:
    try:
        fd = bus.fileno()
    except (NotImplementedError, AttributeError, OSError):
        return -1
    return fd if isinstance(fd, int) else -1


class _Listener(can.Listener):
    """Notifier listener: frames into the loop's queue; errors after close are quiet."""

    def __init__(self, put, owner):
        self.on_message_received = put
        self._owner = owner

    def on_message_received(self, msg):     # replaced per instance in __init__
        raise NotImplementedError

    def on_error(self, exc):
        if self._owner._running:
            log.error("CAN reader failed: %s", exc)

    def stop(self):
        pass


class _Done:
    """The completion of one send(): a threading.Event and the error."""
    __slots__ = ("event", "error")

    def __init__(self):
        self.event = threading.Event()
        self.error = None

    def __call__(self, error):
        self.error = error
        self.event.set()


class CanTpBus:
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
        self._own_notifier = None
        self._notifier = notifier
        self._fd = -1 if notifier is not None else _fileno(bus)
        self._listener = None
        self._wake_r = self._wake_w = -1
        self._vq = None if notifier is not None or self._fd >= 0 else _virtual_queue(bus)
        self._wake_msg = None
        self._wake_armed = False
        if self._vq is not None:
            # the marker that wakes a recv(): never sent, only put into our own queue
            self._wake_msg = _Message(arbitration_id=0, is_error_frame=True, data=b"\x00",
                                      channel="diagbridge-wake")
            self._collect = self._collect_direct
        elif self._fd >= 0:
            self._wake_r, self._wake_w = os.pipe()
            os.set_blocking(self._wake_r, False)
            os.set_blocking(self._wake_w, False)
            self._collect = self._collect_select
        else:
            self._collect = self._collect_queue
            self._listener = _Listener(self._q.put, self)
            if notifier is None:
                self._own_notifier = notifier = can.Notifier(
                    bus, [], timeout=_NOTIFIER_TIMEOUT_S)
            notifier.add_listener(self._listener)
        self._thread = threading.Thread(target=self._run, name="%s-io" % name, daemon=True)
        self._thread.start()

    # -- public ---------------------------------------------------------------
    def open(self, *, config: "TpConfig | None" = None, address: "Address | None" = None,
             **params) -> "CanTpChannel":
        """A new CAN-TP channel on this bus (keywords: see cantp_base)."""
        cfg, addr = channel_config(config, address, **params)
        return CanTpChannel(self, Channel(cfg, addr), owns_bus_loop=False)

    def add_node(self, node, name: "str | None" = None) -> None:
        """Carry a sans-I/O node's frames on this bus (e.g. a
        ``diagbridge.ecu.Ecu``): the I/O thread feeds it every received
        frame, runs its timers at its ``deadline()``, sends what it pops and
        drains its ``poll()``.  The contract: ``cantp_base`` ("Nodes").

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

    def remove_node(self, node, timeout: float = 5.0) -> None:
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

        def remove():
            self._engine.remove_node(node)
            done.set()
        try:
            self._call(remove)
        except TransportError:
            return                      # the I/O thread has ended: nothing runs the node
        if not done.wait(timeout) and not self._dead:
            raise TimeoutError("the CAN-TP I/O thread did not remove the node")

    def _forget(self, node) -> bool:
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
        if self._listener is not None and self._notifier is not None:
            try:
                self._notifier.remove_listener(self._listener)
            except ValueError:
                pass
        if self._own_notifier is not None:
            self._own_notifier.stop(timeout)
        if self._wake_armed:            # a marker nobody took: leave the queue clean
            vq = self._vq
            with vq.mutex:
                try:
                    vq.queue.remove(self._wake_msg)
                except ValueError:
                    pass
            self._wake_armed = False
        if self._wake_r >= 0:
            os.close(self._wake_r)
            os.close(self._wake_w)
            self._wake_r = self._wake_w = -1

    def __enter__(self) -> "CanTpBus":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- application side -----------------------------------------------------
    def _call(self, fn, *args) -> None:
        """Run fn(*args) in the I/O thread (in order, before its next step)."""
        with self._lock:
            if self._dead:
                raise TransportError("CAN-TP bus closed")
            self._q.put((fn, args))
            if self._vq is not None and not self._wake_armed:
                self._wake_armed = True
                self._vq.put(self._wake_msg)
        if self._wake_w >= 0:
            try:
                os.write(self._wake_w, b"\x01")
            except (BlockingIOError, OSError):
                pass                    # already awake / closing

    def _stop(self):
        self._running = False
        for slot in self._engine.slots:
            if slot.deliver is not None:    # None: a node (add_node)
                slot.deliver(None)
        self._engine.close(TransportError("CAN-TP bus closed"))

    # -- the I/O thread -----------------------------------------------------------
    def _run(self):
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

    def _wait(self, d):
        """Until input arrives or tick d (None: until input)."""
        if self._msgs:
            return
        if d is None:
            self._collect(None)
            return
        dt = ticks_diff(d, now_us())
        if dt <= 0:
            self._collect(0)
            return
        spin = self._spin_us
        if dt > spin and self._collect((dt - spin) / 1e6):
            return
        sleep = time.sleep
        while ticks_diff(d, now_us()) > 0:
            if self._collect(0):
                return
            sleep(0)                    # yields the GIL

    def _handle(self, item):
        if item.__class__ is tuple:
            item[0](*item[1])
        else:
            self._msgs.append(item)

    def _collect_queue(self, timeout):
        """Frames and commands from the queue; True when something came."""
        q = self._q
        try:
            item = q.get(True, timeout) if timeout != 0 else q.get_nowait()
        except _Empty:
            return False
        handle = self._handle
        handle(item)
        get = q.get_nowait
        while True:
            try:
                item = get()
            except _Empty:
                return True
            handle(item)

    def _collect_direct(self, timeout):
        """Frames read from the (virtual) bus itself, commands from the queue.

        A wait is cut to _NOTIFIER_TIMEOUT_S (and then reports True: "run a
        step and come back"), so that a marker lost to filters set on the bus
        later delays a request by at most that, like a Notifier's reader."""
        q = self._q
        got = False
        while not q.empty():            # only this thread takes from q
            item = q.get_nowait()
            got = True
            item[0](*item[1])
        recv = self.bus.recv
        msgs = self._msgs
        wake = self._wake_msg
        pending = self._vq.queue        # (read without its lock: only a hint)
        capped = timeout is None or timeout > _NOTIFIER_TIMEOUT_S
        msg = recv(0 if got else _NOTIFIER_TIMEOUT_S if capped else timeout)
        while msg is not None:
            got = True
            if msg is wake:
                with self._lock:
                    self._wake_armed = False
                while not q.empty():    # the commands it announced
                    item = q.get_nowait()
                    item[0](*item[1])
            else:
                msgs.append(msg)
            if not pending:
                break                   # nothing more queued: spare recv(0) its Empty
            msg = recv(0)
        return got or capped

    def _collect_select(self, timeout):
        """Frames from the bus descriptor, commands from the queue."""
        fd = self._fd
        wr = self._wake_r
        try:
            r, _, _ = select.select((fd, wr), (), (), timeout)
        except (OSError, ValueError):
            if not self._running or self._closed:
                return True
            raise
        got = False
        if wr in r:
            try:
                os.read(wr, 4096)
            except BlockingIOError:
                pass
        q = self._q
        while True:                     # commands first, then frames
            try:
                item = q.get_nowait()
            except _Empty:
                break
            got = True
            item[0](*item[1])
        if fd in r:
            recv = self.bus.recv
            msgs = self._msgs
            while True:
                msg = recv(0)
                if msg is None:
                    break
                msgs.append(msg)
                got = True
        return got


class CanTpChannel:
    """One CAN-TP link on a ``CanTpBus``: blocking ``send`` and ``recv``.

    Thread-safe: any thread may send or receive.  Sends on one channel are
    transmitted one after the other, in call order."""

    def __init__(self, tpbus: CanTpBus, channel: Channel, owns_bus_loop: bool) -> None:
        self._tpbus = tpbus
        self._rx = queue.SimpleQueue()
        self._closed = False
        self._owns = owns_bus_loop
        a = channel.addr
        self._slot = Slot(channel, self._rx.put, "%s[0x%X->0x%X]" % (tpbus.name, a.tx_id, a.rx_id))
        self.config = channel.cfg
        self.address = a
        tpbus._call(tpbus._engine.add, self._slot)

    def send(self, payload, timeout: "float | None" = None, functional: bool = False) -> None:
        """Send one message; returns when the transfer completed.

        Raises ``TransportError`` (``.result`` = N_* code) when it failed,
        ``TransportTimeout`` for N_TIMEOUT_A/BS or when ``timeout`` seconds
        passed first (the transfer may then still complete in the
        background), ``UsageError`` for a misuse (empty payload, functional
        payload larger than a single frame)."""
        data = bytes(payload)
        if self._closed:
            raise TransportError("channel closed")
        done = _Done()
        req = TxRequest(data, functional, done)
        self._tpbus._call(self._tpbus._engine.submit, self._slot, req)
        if not done.event.wait(timeout):
            req.abandoned = True
            raise TransportTimeout("send did not complete within %.3f s" % timeout)
        if done.error is not None:
            raise done.error

    def recv(self, timeout: "float | None" = None) -> "bytes | None":
        """The next received message, or None when ``timeout`` seconds pass.

        A failed reception (N_TIMEOUT_CR, N_WRONG_SN ...) raises
        ``TransportError`` in its turn; a closed channel raises it too."""
        if self._closed:
            raise TransportError("channel closed")
        try:
            item = self._rx.get(True, timeout)
        except _Empty:
            return None
        if item is None:
            self._rx.put(None)          # wake every other receiver too
            raise TransportError("channel closed")
        if item.__class__ is bytes:
            return item
        raise item

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

    def __exit__(self, *exc) -> None:
        self.close()


def open_channel(bus: can.BusABC, *, spin_us: int = 1000,
                 config: "TpConfig | None" = None, address: "Address | None" = None,
                 **params) -> CanTpChannel:
    """A single CAN-TP channel with its own I/O thread on ``bus``.

    Closing the channel stops that thread (the bus stays open)."""
    cfg, addr = channel_config(config, address, **params)
    tpbus = CanTpBus(bus, spin_us=spin_us)
    return CanTpChannel(tpbus, Channel(cfg, addr), owns_bus_loop=True)
