"""python-can glue shared by every CPython front that carries core frames on a
``can.BusABC`` (the CAN-TP engine and reader, the gateway daemon): the core's
frame flags against ``can.Message`` fields, transmit messages, the bus's file
descriptor and the notifier listener.  Written once so every front reads and
writes frames the same way.

* ``frame_flags(msg)``: ``FLAG_EXT/FD/BRS`` of a received message;
* ``TxMessages(bus).message(can_id, data, n, flags)``: the ``can.Message`` to
  send (one object per flag combination re-filled on a bus that copies what it
  is given, see ``copies_on_send``; else a new one);
* ``bus_fileno(bus)``: a descriptor to wait on, or -1;
* ``FrameListener(put, running)``: notifier listener putting messages into a
  queue; reader errors are logged while ``running()`` is true.
"""
from __future__ import annotations

import logging
from typing import Callable

import can

from diagbridge.can import FLAG_EXT, FLAG_FD, FLAG_BRS

log = logging.getLogger(__name__)

__all__ = ["MSG_FLAGS", "frame_flags", "copies_on_send", "TxMessages", "bus_fileno",
           "FrameListener"]

# (is_extended_id, is_fd, bitrate_switch) by the core's frame flags (index = flags & 7)
MSG_FLAGS = tuple((bool(f & FLAG_EXT), bool(f & FLAG_FD), bool(f & FLAG_BRS))
                  for f in range(8))


def frame_flags(msg: can.Message) -> int:
    """The core's frame flags of a received ``can.Message``."""
    flags = FLAG_EXT if msg.is_extended_id else 0
    if msg.is_fd:
        flags |= FLAG_FD | FLAG_BRS if msg.bitrate_switch else FLAG_FD
    return flags


def copies_on_send(bus: can.BusABC) -> bool:
    """True for a bus whose ``send`` copies the message before it returns and
    keeps no reference to it: python-can's ``VirtualBus`` (exactly that class;
    it deep-copies the message for every receiver).  Such a bus may be given
    the same ``can.Message`` object again and again."""
    try:
        from can.interfaces.virtual import VirtualBus
    except ImportError:                 # pragma: no cover - python-can without it
        return False
    return type(bus) is VirtualBus


class TxMessages:
    """The ``can.Message`` objects one bus is given to send."""

    def __init__(self, bus: can.BusABC) -> None:
        self._reuse: tuple[can.Message, ...] | None = None
        if copies_on_send(bus):
            self._reuse = tuple(can.Message(is_extended_id=ext, is_fd=fd, bitrate_switch=brs,
                                            is_rx=False)
                                for ext, fd, brs in MSG_FLAGS)

    def message(self, can_id: int, data: bytes | bytearray | memoryview, n: int,
                flags: int) -> can.Message:
        """A message carrying ``data[:n]`` (copied: the caller's buffer is
        reused at once) on ``can_id`` with the core's ``flags``."""
        # immutable data: a bus that keeps or copies the message (virtual
        # deep-copies it per receiver: bytes are copied as an atom, a
        # bytearray through __reduce_ex__, 3x slower) never sees it change
        payload = bytes(memoryview(data)[:n])
        if self._reuse is not None:
            msg = self._reuse[flags & 7]
            msg.arbitration_id = can_id
            msg.dlc = n
            msg.data = payload
            return msg
        ext, fd, brs = MSG_FLAGS[flags & 7]
        return can.Message(arbitration_id=can_id, is_extended_id=ext, is_fd=fd,
                           bitrate_switch=brs, dlc=n, data=payload, check=False, is_rx=False)


def bus_fileno(bus: can.BusABC) -> int:
    """A descriptor that is readable when ``bus`` has a frame (socketcan), or -1."""
    try:
        fd = bus.fileno()
    except (NotImplementedError, AttributeError, OSError):
        return -1
    return fd if isinstance(fd, int) else -1


class FrameListener(can.Listener):
    """Notifier listener: each message to ``put``; a reader error is logged
    while ``running()`` (after a close it is the expected end)."""

    def __init__(self, put: Callable[[can.Message], None], running: Callable[[], bool],
                 name: str = "CAN") -> None:
        self.on_message_received = put
        self._running = running
        self._name = name

    def on_message_received(self, msg: can.Message) -> None:  # replaced per instance in __init__
        raise NotImplementedError

    def on_error(self, exc: Exception) -> None:
        if self._running():
            log.error("%s: CAN reader failed: %s", self._name, exc)

    def stop(self) -> None:
        pass
