"""python-can interface plug-in: a CAN bus of a diagbridge gateway.

    bus = can.Bus(interface="diagbridge", channel="tcp://192.168.7.2:5555",
                  key=b"...", gateway_bus=0)
    bus.send(can.Message(arbitration_id=0x123, data=b"\\x01"))
    msg = bus.recv(1.0)                 # timestamp: the gateway's own clock

Registered as the ``can.interface`` entry point ``diagbridge``, so the
python-can tools work through the gateway unchanged:

    python -m can.logger -i diagbridge -c tcp://127.0.0.1:5555 -f log.asc
    python -m can.viewer -i diagbridge -c sim://

The gateway filters in hardware terms (id & mask) via REQ_CAN_LISTEN;
python-can then checks the ``extended`` flag of a filter itself.  Frames the
gateway had to drop because this host fell behind are logged as warnings
and counted in ``bus.dropped`` (exact), never lost silently.  The channel
may name the gateway bus as a fragment: ``tcp://host:5555#1``.
"""
from __future__ import annotations

import logging
import time
from typing import Any, Optional, Union

import can
from can import BusABC, CanOperationError, CanInitializationError, Message

from diagbridge.can import DLC_LENGTHS
from diagbridge.codes import OK, code_name
from diagbridge.link import proto as P

from diagbridge_host import events as E
from diagbridge_host.connection import Connection, connect
from diagbridge_host.errors import DiagbridgeError, LinkError, LinkTimeout

log = logging.getLogger(__name__)

__all__ = ["DiagbridgeBus"]


class DiagbridgeBus(BusABC):
    """One bus of a gateway as a python-can Bus."""

    def __init__(self, channel: str, can_filters: Any = None, *,
                 key: Union[bytes, str, None] = None,
                 role: Union[str, int] = "full", gateway_bus: Optional[int] = None,
                 receive_own_messages: bool = False, timeout_s: float = 10.0,
                 connection: Optional[Connection] = None, fd: bool = False, **kwargs: Any) -> None:
        """``channel``: a gateway URL (``tcp://``, ``serial://``, ``sim://``),
        optionally ``#<bus>``; ``key``/``role`` as for ``connect()`` (monitor
        is enough to listen; sending needs full); ``connection``: share an
        open Connection instead (it stays open on shutdown)."""
        url, _, frag = str(channel).partition("#")
        if gateway_bus is None:
            gateway_bus = int(frag) if frag else 0
        self.gateway_bus = gateway_bus
        self._own = connection is None
        self._listening = False
        self._echo = bool(receive_own_messages)
        self.dropped = 0
        try:
            self.conn = connection if connection is not None else connect(
                url, key=key, role=role, timeout_s=timeout_s)
        except (DiagbridgeError, OSError) as e:
            raise CanInitializationError(str(e)) from e
        self._stream = self.conn.events((P.MSG_EV_CAN_RX, P.MSG_EV_DROPPED))
        gw = self.conn.gateway
        self.channel_info = "diagbridge %s (%s) bus %d" % (url, gw.name if gw else "?",
                                                          gateway_bus)
        if fd:
            self._can_protocol = can.CanProtocol.CAN_FD
        super().__init__(channel=channel, can_filters=can_filters, **kwargs)

    # ---- python-can hooks --------------------------------------------------------------
    def _apply_filters(self, filters: Any) -> None:
        """REQ_CAN_LISTEN with the filters' (id, mask) (none: every frame)."""
        pairs = [(f["can_id"], f["can_mask"]) for f in filters] if filters else None
        try:
            self.conn.can_listen(self.gateway_bus, True, pairs, self._echo)
        except (LinkError, LinkTimeout) as e:
            raise CanOperationError("cannot set the gateway's listen filters: %s" % e) from e
        self._listening = True

    def _recv_internal(self, timeout: Optional[float]) -> tuple:
        end = None if timeout is None else time.monotonic() + timeout
        while True:
            left = None if end is None else max(0.0, end - time.monotonic())
            ev = self._stream.get(left)
            if ev is None:
                return None, False
            if isinstance(ev, E.CanFrame):
                if ev.bus != self.gateway_bus:
                    continue
                return self._message(ev), False
            if isinstance(ev, E.DropReport):
                n = ev.counts.get("EV_CAN_RX", 0)
                self.dropped += n
                log.warning("%s: the gateway dropped %d CAN frames (this host fell behind); "
                            "%d so far", self.channel_info, n, self.dropped)
            elif isinstance(ev, E.LinkLost):
                raise CanOperationError("link to the gateway lost: %s" % ev.reason)
            if end is not None and time.monotonic() >= end:
                return None, False

    def _message(self, f: E.CanFrame) -> Message:
        return Message(timestamp=f.timestamp, arbitration_id=f.arbitration_id,
                       is_extended_id=f.is_extended_id, is_remote_frame=f.is_remote_frame,
                       is_fd=f.is_fd, bitrate_switch=f.bitrate_switch, dlc=len(f.data),
                       data=f.data, channel=self.gateway_bus, is_rx=not f.is_echo)

    def send(self, msg: Message, timeout: Optional[float] = None) -> None:
        """Transmit through the gateway (full role); returns once the frame
        left the gateway's controller.  A frame this bus cannot carry (CAN FD
        on a classical bus, more than 8 bytes classical, a length CAN FD has
        no DLC for, a remote frame) raises ``CanOperationError`` before
        anything is sent."""
        data = self._payload(msg)
        try:
            result = self.conn.can_send(self.gateway_bus, msg.arbitration_id, data,
                                        extended=msg.is_extended_id, fd=msg.is_fd,
                                        brs=msg.bitrate_switch)
        except (LinkError, LinkTimeout) as e:
            raise CanOperationError("send through the gateway failed: %s" % e) from e
        if result != OK:
            raise CanOperationError("the gateway could not send the frame: %s"
                                    % code_name(result))

    def _bus_kind(self) -> Optional[int]:
        for b in (self.conn.gateway.buses if self.conn.gateway else ()):
            if b[0] == self.gateway_bus:
                return b[1]
        return None

    def _payload(self, msg: Message) -> bytes:
        """The data bytes to send, after checking ``msg`` against this bus."""
        where = "gateway bus %d" % self.gateway_bus
        if msg.is_remote_frame:
            raise CanOperationError("%s: remote frames (RTR) are not carried by the gateway's "
                                    "CAN ports; send a data frame" % where)
        if msg.is_error_frame:
            raise CanOperationError("%s: error frames cannot be sent" % where)
        top = 0x1FFFFFFF if msg.is_extended_id else 0x7FF
        if not 0 <= msg.arbitration_id <= top:
            raise CanOperationError("%s: id 0x%X does not fit a %s identifier" % (
                where, msg.arbitration_id, "29-bit" if msg.is_extended_id else "11-bit"))
        if msg.is_fd:
            kind = self._bus_kind()
            if kind is not None and kind != P.BUS_CAN_FD:
                raise CanOperationError("%s is classical CAN: it cannot send a CAN FD frame "
                                        "(send is_fd=False, at most 8 bytes)" % where)
            data = bytes(msg.data)
            if len(data) not in DLC_LENGTHS:
                raise CanOperationError("%s: %d bytes is not a CAN FD length (0-8, 12, 16, "
                                        "20, 24, 32, 48 or 64)" % (where, len(data)))
            return data
        if msg.bitrate_switch:
            raise CanOperationError("%s: bitrate_switch needs a CAN FD frame (is_fd=True)"
                                    % where)
        data = bytes(msg.data[:msg.dlc])
        if msg.dlc > 8 or len(msg.data) > 8:
            raise CanOperationError("%s: a classical CAN frame carries at most 8 data bytes "
                                    "(got %d; use is_fd=True on a CAN FD bus)"
                                    % (where, max(msg.dlc, len(msg.data))))
        return data

    def flush_tx_buffer(self) -> None:
        """Nothing waits here: send() returns when the frame left."""

    def shutdown(self) -> None:
        if self._is_shutdown:
            return
        super().shutdown()
        try:
            if self._listening and self.conn.is_up:
                self.conn.can_listen(self.gateway_bus, False)
        except (LinkError, LinkTimeout):
            pass
        self._stream.close()
        if self._own:
            self.conn.close()

    @staticmethod
    def _detect_available_configs() -> list:
        return []
