"""A udsoncan ``Connection`` through the gateway, so existing udsoncan
scripts run unchanged:

    conn = diagbridge_host.connect("tcp://192.168.7.2:5555", key=KEY)
    with Client(GatewayConnection(conn, bus=0, tx_id=0x7E0, rx_id=0x7E8)) as client:
        client.change_session(3)
        vin = client.read_data_by_identifier(0xF190)

Each ``send()`` becomes one REQ_UDS: the gateway runs the request with its
own exact timing (P2, 0x78 chains, CAN-TP) and returns the final response,
which ``wait_frame()`` hands to udsoncan.  While the gateway is still waiting
for the ECU when udsoncan's own P2 runs out, ``wait_frame()`` returns a
``7F SID 78`` so udsoncan extends its wait to P2* as it would on the wire;
the gateway ends a request the ECU never answers (A_TIMEOUT_P2), and
udsoncan then sees its usual TimeoutException.
"""
from __future__ import annotations

import logging
import queue
import time
from collections import deque
from typing import Any, Optional

from udsoncan.connections import BaseConnection
from udsoncan.exceptions import TimeoutException

from diagbridge.codes import OK, code_name
from diagbridge.link import proto as P

from diagbridge_host.connection import Connection
from diagbridge_host.engine import Inbox, _DONE
from diagbridge_host.errors import LinkError

log = logging.getLogger(__name__)

__all__ = ["GatewayConnection"]


class GatewayConnection(BaseConnection):
    """udsoncan BaseConnection over a diagbridge gateway channel."""

    def __init__(self, conn: Connection, bus: int = 0, tx_id: Optional[int] = None,
                 rx_id: Optional[int] = None, *, name: Optional[str] = None,
                 config: Optional[dict] = None, request_timeout_s: float = 30.0, **endpoint: Any) -> None:
        """``conn``: an open Connection; ``bus``/``tx_id``/``rx_id`` (and any
        ``endpoint()`` keyword) name the ECU; ``config``: the gateway
        channel's UdsClientConfig fields."""
        BaseConnection.__init__(self, name)
        self.conn = conn
        self._ep = dict(endpoint, bus=bus, tx_id=tx_id, rx_id=rx_id, config=config)
        self._uds = None
        self._rx: deque = deque()
        self._call = None
        self._sid = 0
        self._sent_78 = False
        self._timeout_s = request_timeout_s

    def open(self) -> "GatewayConnection":
        """Open the gateway channel (REQ_CHANNEL)."""
        if self._uds is None:
            self._uds = self.conn.uds(**self._ep)
            self.logger.info("Connection opened: gateway channel %d", self._uds.channel)
        return self

    def close(self) -> None:
        """Close the gateway channel; the Connection stays open."""
        self.empty_rxqueue()
        uds, self._uds = self._uds, None
        if uds is not None:
            self._wait_call(self._timeout_s)
            try:
                uds.close()
            except LinkError as e:
                self.logger.debug("closing channel: %s", e)
            self.logger.info("Connection closed")

    def is_open(self) -> bool:
        return self._uds is not None and self.conn.is_up

    def __enter__(self) -> "GatewayConnection":
        return self.open()

    def __exit__(self, type: Any, value: Any, traceback: Any) -> None:
        self.close()

    def specific_send(self, payload: bytes, timeout: Optional[float] = None) -> None:
        # one request at a time on a channel: let a previous one finish first
        self._wait_call(self._timeout_s)
        self._sid = payload[0] if payload else 0
        self._sent_78 = False
        body = {P.K_CHANNEL: self._uds.channel, P.K_DATA: bytes(payload)}
        self._call = self.conn._engine.submit(P.MSG_REQ_UDS, body, Inbox())

    def specific_wait_frame(self, timeout: Optional[float] = None) -> Optional[bytes]:
        if self._rx:
            return self._rx.popleft()
        call = self._call
        if call is None:
            if timeout:
                time.sleep(timeout)
            raise TimeoutException("no request outstanding")
        end = None if timeout is None else time.monotonic() + timeout
        while True:
            left = None if end is None else max(0.0, end - time.monotonic())
            try:
                item = call.inbox.get(left)
            except queue.Empty:
                # the gateway still waits for the ECU: tell udsoncan, as 0x78 would
                self._sent_78 = True
                return bytes((0x7F, self._sid, 0x78))
            if item is _DONE:
                break
        self._call = None
        body = call.result().body           # LinkError / LinkRefused propagate
        data = body.get(P.K_DATA)
        if data:
            return bytes(data)
        result = body.get(P.K_RESULT, OK)
        raise TimeoutException("no response through the gateway: %s" % code_name(result))

    def empty_rxqueue(self) -> None:
        self._rx.clear()

    def _wait_call(self, timeout_s: float) -> None:
        call, self._call = self._call, None
        if call is None:
            return
        end = time.monotonic() + timeout_s
        while not call.done and time.monotonic() < end:
            try:
                if call.inbox.get(max(0.0, end - time.monotonic())) is _DONE:
                    break
            except queue.Empty:
                break
        if not call.done:
            self.conn._engine.forget(call)
