"""How a ``CanTpBus`` I/O thread waits for frames and commands (CPython).

``BusReader`` is the reading half of ``blocking.CanTpBus``, chosen per bus
once (see ``blocking`` for the why):

* ``_collect_direct``: python-can's ``virtual`` bus, read by ``bus.recv`` in
  the I/O thread itself; a command wakes it with a marker frame put into the
  bus's own receive queue (never sent);
* ``_collect_select``: a bus with ``fileno()`` (socketcan): ``select`` on it
  and a wake-up pipe;
* ``_collect_queue``: any other bus, through a ``can.Notifier`` whose
  listener puts frames into the command queue.

``_wait(d)`` waits until input or tick ``d`` (sleeping, then spinning the
last ``spin_us``).  The host class provides ``bus``, ``_q`` (commands as
``(fn, args)`` tuples), ``_msgs``, ``_lock``, ``_spin_us``, ``_running`` and
``_closed``.
"""
from __future__ import annotations

import logging
import os
import queue
import select
import time
from typing import Any

import can

from diagbridge.clock import ticks_diff
from diagbridge.cpy.clock import now_us
from diagbridge.cpy.canbus import FrameListener, bus_fileno

log = logging.getLogger(__name__)

_Empty = queue.Empty
_Message = can.Message
_NOTIFIER_TIMEOUT_S = 0.1    # reader thread (or direct reads): how soon it sees close()


def _virtual_queue(bus: can.BusABC) -> queue.Queue | None:
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


class BusReader:
    """Mixin: the I/O thread's wait over one python-can bus."""

    def _setup_reader(self, bus: can.BusABC, notifier: can.Notifier | None) -> None:
        self._own_notifier = None
        self._notifier = notifier
        self._fd = -1 if notifier is not None else bus_fileno(bus)
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
            self._listener = FrameListener(self._q.put, lambda: self._running,
                                           getattr(self, "name", "CAN"))
            if notifier is None:
                self._own_notifier = notifier = can.Notifier(
                    bus, [], timeout=_NOTIFIER_TIMEOUT_S)
            notifier.add_listener(self._listener)

    def _wake_locked(self) -> None:
        """After a command was queued (under ``_lock``): arm the virtual-bus marker."""
        if self._vq is not None and not self._wake_armed:
            self._wake_armed = True
            self._vq.put(self._wake_msg)

    def _wake_unlocked(self) -> None:
        if self._wake_w >= 0:
            try:
                os.write(self._wake_w, b"\x01")
            except (BlockingIOError, OSError):
                pass                    # already awake / closing

    def _close_reader(self, timeout: float) -> None:
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

    def _wait(self, d: int | None) -> None:
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

    def _handle(self, item: tuple[Any, tuple] | can.Message) -> None:
        if item.__class__ is tuple:
            item[0](*item[1])
        else:
            self._msgs.append(item)

    def _collect_queue(self, timeout: float | None) -> bool:
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

    def _collect_direct(self, timeout: float | None) -> bool:
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

    def _collect_select(self, timeout: float | None) -> bool:
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
