"""The gateway daemon's I/O loop (CPython): python-can buses and the host-link
ports around one portable ``diagbridge.gateway.Gateway``, driven through the
core's runner body ``diagbridge.gateway.loop.GatewayLoop`` (the same object the
board and the simulation use)::

    while running:
        wait (selectors: epoll on Linux) until a CAN frame, host bytes, a
            command or gw.deadline()
        CAN frames -> loop.feed_can, host bytes -> the link hub -> gw.feed_link
                                       (per host slot)
        loop.on_timer(now_us())       (each input flushes: frames to the
                                       buses, bytes to the host)

One thread does all of it; the gateway is never touched from anywhere else
(``call(fn)`` runs a function in that thread).  No protocol logic lives here.

The descriptors to wait on are asked of the ports at each turn (the link
ports' ``read_fds`` / ``write_fds``) and kept registered in one
``selectors.DefaultSelector``, changed only where they differ, so there is
no limit on descriptor numbers (``select`` stops at 1023).  A link port's
client is on its own: anything unexpected while handling one descriptor of a
link port (an ``OSError`` the port did not expect, a bug) is logged, that
client is dropped (``port.drop_client(fd, now)``) and counted in
``client_errors``, and the loop goes on.

CAN input: a bus with a file descriptor (socketcan on the Pi) is read
directly when it is readable; any other bus (python-can ``virtual`` in
tests, vendor interfaces) through a ``can.Notifier`` whose listener queues
frames and wakes the loop through a pipe.  python-can has no transmit
confirmation: a frame is confirmed (``confirm_can``) as soon as ``bus.send``
returned, or failed when it raised.  Frames get the gateway's own timestamp
when they are fed (``now_us()``), so they share one clock with the gateway's
timers.
"""
from __future__ import annotations

import logging
import os
import queue
import selectors
import threading
from collections import deque
from typing import Any, Callable, Optional

import can

from diagbridge.clock import ticks_diff
from diagbridge.cpy.canbus import FrameListener, TxMessages, bus_fileno, frame_flags
from diagbridge.cpy.clock import now_us
from diagbridge.gateway.loop import GatewayLoop

log = logging.getLogger(__name__)

__all__ = ["GatewayRunner", "CanPort"]

_BATCH = 64                 # frames read from one bus before the others get a turn
_SEND_TIMEOUT_S = 0.05      # bus.send on a full transmit queue: then a tx error


class CanPort:
    """Gateway bus ``index`` on a python-can bus (the caller owns the bus):
    the CAN port of ``GatewayLoop``'s contract, plus the reading the loop's
    event-driven side needs (``take``)."""

    def __init__(self, index: int, bus: can.BusABC, wake: Callable[[], None],
                 name: str = "") -> None:
        self.index = index
        self.bus = bus
        self.name = name or "bus %d" % index
        self.fd = bus_fileno(bus)
        self._wake = wake
        self._q: deque = deque()
        self._armed = False
        self._live = True
        self.notifier = None
        if self.fd < 0:
            self.notifier = can.Notifier(
                bus, [FrameListener(self.queue_msg, lambda: self._live, self.name)], timeout=0.1)
        self._tx = TxMessages(bus)
        self.rx = 0
        self.tx = 0
        self.tx_failed = 0

    def queue_msg(self, msg: can.Message) -> None:      # the notifier's thread
        self._q.append(msg)
        if not self._armed:
            self._armed = True
            self._wake()

    def take(self, limit: int) -> list:
        """Up to ``limit`` received messages (loop thread)."""
        out = []
        if self.fd >= 0:
            recv = self.bus.recv
            while len(out) < limit:
                msg = recv(0)
                if msg is None:
                    break
                out.append(msg)
            return out
        self._armed = False
        q = self._q
        while q and len(out) < limit:
            out.append(q.popleft())
        if q:
            self._armed = True                  # more left: come back without waiting
        return out

    def has_more(self) -> bool:
        return bool(self._q) if self.fd < 0 else False

    def send(self, can_id: int, data: bytes, n: int, flags: int, tag: int = 0) -> bool:
        """One frame; python-can has no transmit confirmation, so it counts as
        sent when ``bus.send`` returned and failed when it raised."""
        msg = self._tx.message(can_id, data, n, flags)
        try:
            self.bus.send(msg, _SEND_TIMEOUT_S)
        except (can.CanError, OSError, ValueError) as e:
            self.tx_failed += 1
            log.warning("%s: send 0x%X failed: %s", self.name, can_id, e)
            return False
        self.tx += 1
        return True

    def stop(self) -> None:
        self._live = False
        if self.notifier is not None:
            self.notifier.stop(1.0)
            self.notifier = None


def _fd_of(obj: Any) -> int:
    """The descriptor number of a socket or an int (-1: closed)."""
    if isinstance(obj, int):
        return obj
    try:
        return obj.fileno()
    except (OSError, ValueError):
        return -1


def _same(a: tuple, b: tuple) -> bool:
    """Two (who, obj) registrations name the same descriptor object."""
    if a[0] is not b[0]:
        return False
    return a[1] is b[1] or (isinstance(a[1], int) and isinstance(b[1], int) and a[1] == b[1])


class GatewayRunner:
    """Runs ``gw`` with python-can ``buses`` (bus i = gateway bus i) and the
    link ports of ``hub`` (diagbridge.cpy.gateway.link) in one thread."""

    def __init__(self, gw: Any, buses: Any, hub: Any, names: Any = ()) -> None:
        self.gw = gw
        self.hub = hub
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self.ports = [CanPort(i, b, self._wake, names[i] if i < len(names) else "")
                      for i, b in enumerate(buses)]
        self._calls: queue.SimpleQueue = queue.SimpleQueue()
        self._running = True           # until stop(), even one that comes before run()
        self._thread: Optional[threading.Thread] = None
        # the runner body itself (pop, send, confirm, feed) is the core's
        # one link port per host slot (hub.links[i]: the connection on slot i)
        self.loop = GatewayLoop(gw, self.ports, hub.links, link_buf=16384)
        self._sel: Optional[selectors.BaseSelector] = None
        self._reg: dict = {}            # fd -> (events, (who, obj)) as registered
        self.error: Optional[BaseException] = None
        self.client_errors = 0          # unexpected errors of one link client, survived
        self.stopped = threading.Event()

    # ---- control (any thread) -----------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name="diagbridge-gw", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        """End the loop (the host gets a BYE) and wait for it."""
        self._running = False
        self._wake()
        if self._thread is not None and threading.current_thread() is not self._thread:
            self._thread.join(timeout_s)

    def call(self, fn: Callable, timeout_s: float = 10.0) -> Any:
        """Run ``fn(gw, now)`` in the loop thread; its result (or its exception)."""
        box: queue.SimpleQueue = queue.SimpleQueue()
        self._calls.put((fn, box))
        self._wake()
        ok, v = box.get(timeout=timeout_s)
        if not ok:
            raise v
        return v

    def _wake(self) -> None:
        try:
            os.write(self._wake_w, b"\x01")
        except (BlockingIOError, OSError):
            pass

    # ---- the loop --------------------------------------------------------------------
    def run(self) -> None:
        """The loop; returns after stop() (or raises what broke it)."""
        hub = self.hub
        self._sel = sel = selectors.DefaultSelector()
        self._reg = {}
        try:
            while self._running:
                timeout = self._timeout()
                self._sync(now_us())
                if any(p.has_more() for p in self.ports):
                    timeout = 0
                events = sel.select(timeout)
                now = now_us()
                for key, mask in events:
                    who, obj = key.data
                    if who is None:
                        self._commands(now)
                    elif isinstance(who, CanPort):
                        self._feed_can(who)
                    else:
                        self._client_io(who, obj, mask, now)
                for p in self.ports:
                    if p.fd < 0:
                        self._feed_can(p)
                for lp in hub.ports:
                    try:
                        lp.on_timer(now)
                    except Exception:       # noqa: BLE001 (one port's trouble, not the loop's)
                        self.client_errors += 1
                        log.exception("%s: timer handling failed", lp.name)
                self.loop.on_timer(now_us())
        except Exception as e:
            log.exception("gateway loop stopped")
            self.error = e
            raise
        finally:
            self._shutdown()
            sel.close()
            self._sel = None
            self._reg = {}

    def _client_io(self, lp: Any, obj: Any, mask: int, now: int) -> None:
        """A link port's descriptor is ready; trouble drops that client only."""
        try:
            if mask & selectors.EVENT_READ:
                lp.on_readable(obj, now)
            if mask & selectors.EVENT_WRITE:
                lp.on_writable(obj)
        except Exception:                   # noqa: BLE001 (a client must not end the loop)
            self.client_errors += 1
            log.exception("%s: unexpected error on a client connection; that client is "
                          "dropped", lp.name)
            self._drop_client(lp, obj, now)
        self._flush()

    def _drop_client(self, lp: Any, obj: Any, now: int) -> None:
        try:
            lp.drop_client(obj, now)
        except Exception:                   # noqa: BLE001
            log.exception("%s: dropping the client failed", lp.name)

    def _wanted(self) -> dict:
        """fd -> (events, (who, obj)) for this turn."""
        R, W = selectors.EVENT_READ, selectors.EVENT_WRITE
        want = {self._wake_r: (R, (None, None))}
        for p in self.ports:
            if p.fd >= 0:
                want[p.fd] = (R, (p, p.fd))
        for lp in self.hub.ports:
            for obj in lp.read_fds():
                fd = _fd_of(obj)
                if fd >= 0:
                    want[fd] = (R, (lp, obj))
            for obj in lp.write_fds():
                fd = _fd_of(obj)
                if fd >= 0:
                    ev = want[fd][0] if fd in want and _same(want[fd][1], (lp, obj)) else 0
                    want[fd] = (ev | W, (lp, obj))
        return want

    def _sync(self, now: int) -> None:
        """Make the selector's registrations what the ports want now.  A
        descriptor number whose object changed (closed, number reused) is
        registered afresh; closing a descriptor removes it from epoll."""
        sel = self._sel
        reg = self._reg
        want = self._wanted()
        for fd in [fd for fd in reg if fd not in want]:
            self._unregister(fd)
        for fd, (ev, data) in want.items():
            old = reg.get(fd)
            if old is not None:
                if _same(old[1], data):
                    if old[0] == ev:
                        continue
                    try:
                        sel.modify(fd, ev, data)
                        reg[fd] = (ev, data)
                        continue
                    except (OSError, ValueError, KeyError):
                        pass
                self._unregister(fd)
            try:
                sel.register(fd, ev, data)
            except (OSError, ValueError, KeyError) as e:
                who, obj = data
                if who is None or isinstance(who, CanPort):
                    raise
                self.client_errors += 1
                log.warning("%s: cannot wait on a client descriptor (%s); that client is "
                            "dropped", who.name, e)
                self._drop_client(who, obj, now)
                continue
            reg[fd] = (ev, data)

    def _unregister(self, fd: int) -> None:
        self._reg.pop(fd, None)
        try:
            self._sel.unregister(fd)
        except (KeyError, ValueError, OSError):
            pass

    def _timeout(self) -> Optional[float]:
        d = self.gw.deadline()
        t = None if d is None else max(0.0, ticks_diff(d, now_us()) / 1e6)
        for lp in self.hub.ports:
            x = lp.timeout_s()
            if x is not None and (t is None or x < t):
                t = x
        return t

    def _commands(self, now: int) -> None:
        try:
            while os.read(self._wake_r, 4096):
                pass
        except BlockingIOError:
            pass
        while True:
            try:
                fn, box = self._calls.get_nowait()
            except queue.Empty:
                return
            try:
                box.put((True, fn(self.gw, now_us())))
            except Exception as e:      # noqa: BLE001 (handed to the caller)
                box.put((False, e))
            self._flush()

    def _feed_can(self, port: CanPort) -> None:
        loop = self.loop
        bus = port.index
        for msg in port.take(_BATCH):
            if msg.is_error_frame or msg.is_remote_frame or not msg.is_rx:
                continue
            data = msg.data
            port.rx += 1
            loop.feed_can(now_us(), bus, msg.arbitration_id, data, len(data), frame_flags(msg))

    def _flush(self) -> None:
        self.loop.flush(now_us())

    def _shutdown(self) -> None:
        gw = self.gw
        try:
            for h in gw.hosts:
                h.link.close(now_us())      # BYE to every host that is up
            self.hub.flush()
            for lp in self.hub.ports:
                if lp.pending:
                    lp.on_writable()
        except Exception:                   # noqa: BLE001 (best effort on the way out)
            log.debug("closing the link failed", exc_info=True)
        for lp in self.hub.ports:
            try:
                lp.close()
            except Exception:               # noqa: BLE001
                log.debug("closing %s failed", lp.name, exc_info=True)
        for p in self.ports:
            p.stop()
        os.close(self._wake_r)
        os.close(self._wake_w)
        self._wake_r = self._wake_w = -1
        self.stopped.set()
