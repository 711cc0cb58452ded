"""The gateway daemon's I/O loop (CPython): the runner body of ARCHITECTURE.md
section 6 around one portable ``diagbridge.gateway.Gateway``::

    while running:
        wait (select) until a CAN frame, host bytes, a command or gw.deadline()
        t = now_us()
        feed:  CAN frames -> gw.feed_can, host bytes -> gw.feed_link
        gw.on_timer(t)
        flush: gw.pop_can -> bus.send -> gw.confirm_can;  gw.pop_link -> the host

One thread does all of it; the gateway is never touched from anywhere else
(``call(fn)`` runs a function in that thread).  No protocol logic lives here.

CAN input: a bus with a file descriptor (socketcan on the Pi) is read
directly after ``select``; any other bus (python-can ``virtual`` in tests,
vendor interfaces) through a ``can.Notifier`` whose listener queues frames
and wakes the loop through a pipe.  python-can has no transmit confirmation:
a frame is confirmed (``confirm_can``) as soon as ``bus.send`` returned, or
failed when it raised.  Frames get the gateway's own timestamp when they are
fed (``now_us()``), so they share one clock with the gateway's timers.
"""
import logging
import os
import queue
import select
import threading
from collections import deque

import can

from diagbridge.can import FLAG_EXT, FLAG_FD, FLAG_BRS
from diagbridge.clock import ticks_diff
from diagbridge.cpy.cantp.base import copies_on_send
from diagbridge.cpy.clock import now_us

log = logging.getLogger(__name__)

__all__ = ["GatewayRunner", "CanPort"]

_BATCH = 64                 # frames read from one bus before the others get a turn
_SEND_TIMEOUT_S = 0.05      # bus.send on a full transmit queue: then a tx error


class _Listener(can.Listener):
    def __init__(self, port):
        self._port = port

    def on_message_received(self, msg):
        self._port.queue_msg(msg)

    def on_error(self, exc):
        log.error("%s: CAN reader failed: %s", self._port.name, exc)

    def stop(self):
        pass


def _fileno(bus) -> int:
    try:
        fd = bus.fileno()
    except (NotImplementedError, AttributeError, OSError):
        return -1
    return fd if isinstance(fd, int) else -1


class CanPort:
    """Gateway bus ``index`` on a python-can bus (the caller owns the bus)."""

    def __init__(self, index: int, bus: can.BusABC, wake, name: str = ""):
        self.index = index
        self.bus = bus
        self.name = name or "bus %d" % index
        self.fd = _fileno(bus)
        self._wake = wake
        self._q = deque()
        self._armed = False
        self.notifier = None
        if self.fd < 0:
            self.notifier = can.Notifier(bus, [_Listener(self)], timeout=0.1)
        self._tx = None
        if copies_on_send(bus):
            self._tx = [can.Message(is_extended_id=bool(f & FLAG_EXT), is_fd=bool(f & FLAG_FD),
                                    bitrate_switch=bool(f & FLAG_BRS), is_rx=False)
                        for f in range(8)]
        self.rx = 0
        self.tx = 0
        self.tx_failed = 0

    def queue_msg(self, msg) -> None:           # the notifier's thread
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

    def send(self, can_id: int, data, n: int, flags: int) -> bool:
        if self._tx is not None:
            msg = self._tx[flags & 7]
            msg.arbitration_id = can_id
            msg.data = data[:n]
            msg.dlc = n
        else:
            msg = can.Message(arbitration_id=can_id, data=bytes(data[:n]),
                              is_extended_id=bool(flags & FLAG_EXT), is_fd=bool(flags & FLAG_FD),
                              bitrate_switch=bool(flags & FLAG_BRS), is_rx=False)
        try:
            self.bus.send(msg, _SEND_TIMEOUT_S)
        except (can.CanError, OSError, ValueError) as e:
            self.tx_failed += 1
            log.warning("%s: send 0x%X failed: %s", self.name, can_id, e)
            return False
        self.tx += 1
        return True

    def stop(self) -> None:
        if self.notifier is not None:
            self.notifier.stop(1.0)
            self.notifier = None


class GatewayRunner:
    """Runs ``gw`` with python-can ``buses`` (bus i = gateway bus i) and the
    link ports of ``hub`` (diagbridge.cpy.gateway.link) in one thread."""

    def __init__(self, gw, buses, hub, names=()):
        self.gw = gw
        self.hub = hub
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self.ports = [CanPort(i, b, self._wake, names[i] if i < len(names) else "")
                      for i, b in enumerate(buses)]
        self._calls = queue.SimpleQueue()
        self._running = False
        self._thread = None
        self._out = bytearray(64)
        self.error = None
        self.stopped = threading.Event()

    # ---- control (any thread) -----------------------------------------------------
    def start(self) -> None:
        self._running = True
        self._thread = threading.Thread(target=self.run, name="diagbridge-gw", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        """End the loop (the host gets a BYE) and wait for it."""
        self._running = False
        self._wake()
        if self._thread is not None and threading.current_thread() is not self._thread:
            self._thread.join(timeout_s)

    def call(self, fn, timeout_s: float = 10.0):
        """Run ``fn(gw, now)`` in the loop thread; its result (or its exception)."""
        box = queue.SimpleQueue()
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
        self._running = True
        gw = self.gw
        hub = self.hub
        try:
            while self._running:
                timeout = self._timeout()
                rmap = {self._wake_r: None}
                for p in self.ports:
                    if p.fd >= 0:
                        rmap[p.fd] = p
                wl = []
                for lp in hub.ports:
                    for fd in lp.read_fds():
                        rmap[fd] = lp
                    wl += lp.write_fds()
                if any(p.has_more() for p in self.ports):
                    timeout = 0
                r, w, _ = select.select(list(rmap), wl, [], timeout)
                now = now_us()
                for fd in r:
                    who = rmap[fd]
                    if who is None:
                        self._commands(now)
                    elif isinstance(who, CanPort):
                        self._feed_can(who)
                    else:
                        who.on_readable(fd, now)
                        self._flush()
                for p in self.ports:
                    if p.fd < 0:
                        self._feed_can(p)
                for lp in hub.ports:
                    for fd in w:
                        if fd in lp.write_fds():
                            lp.on_writable()
                    lp.on_timer(now)
                now = now_us()
                gw.on_timer(now)
                self._flush()
        except Exception as e:
            log.exception("gateway loop stopped")
            self.error = e
            raise
        finally:
            self._shutdown()

    def _timeout(self):
        d = self.gw.deadline()
        t = None if d is None else max(0.0, ticks_diff(d, now_us()) / 1e6)
        for lp in self.hub.ports:
            x = lp.timeout_s()
            if x is not None and (t is None or x < t):
                t = x
        return t

    def _commands(self, now) -> None:
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

    def _feed_can(self, port) -> None:
        gw = self.gw
        bus = port.index
        for msg in port.take(_BATCH):
            if msg.is_error_frame or msg.is_remote_frame or not msg.is_rx:
                continue
            flags = FLAG_EXT if msg.is_extended_id else 0
            if msg.is_fd:
                flags |= FLAG_FD | FLAG_BRS if msg.bitrate_switch else FLAG_FD
            data = msg.data
            port.rx += 1
            gw.feed_can(now_us(), bus, msg.arbitration_id, data, len(data), flags)
            self._flush()

    def _flush(self) -> None:
        gw = self.gw
        out = self._out
        n = gw.pop_can(out)
        while n:
            b = gw.tx_bus
            ok = b < len(self.ports) and self.ports[b].send(gw.tx_id, out, n, gw.tx_flags)
            if gw.cfg.tx_confirm:
                gw.confirm_can(now_us(), ok, gw.tx_tag)
            n = gw.pop_can(out)
        self.hub.flush()

    def _shutdown(self) -> None:
        gw = self.gw
        try:
            gw.link.close(now_us())         # BYE to the host, if one is up
            self.hub.flush()
            for lp in self.hub.ports:
                if lp.pending:
                    lp.on_writable()
        except Exception:                   # noqa: BLE001 (best effort on the way out)
            log.debug("closing the link failed", exc_info=True)
        for lp in self.hub.ports:
            lp.close()
        for p in self.ports:
            p.stop()
        os.close(self._wake_r)
        os.close(self._wake_w)
        self._wake_r = self._wake_w = -1
        self.stopped.set()
