"""The asyncio face of a Connection: ``await diagbridge_host.connect_async(url)``.

The link runs on the same reader/writer threads as the blocking API; the
awaiting side is asyncio: a request's answer and its events arrive through
``loop.call_soon_threadsafe``, so no call here blocks the event loop.

    conn = await connect_async("sim://")
    uds = await conn.uds(0, 0x7E0, 0x7E8)
    rsp = await uds.request(b"\\x22\\xF1\\x90")
    async with conn.events() as stream:
        async for ev in stream: ...
"""
from __future__ import annotations

import asyncio
import functools
from typing import Callable, Iterable, Optional, Union

from diagbridge.link import proto as P

from diagbridge_host import events as E
from diagbridge_host.connection import (Connection, DropCounts, GatewayStatus, connect,
                                        DEFAULT_TIMEOUT_S, request_body)
from diagbridge_host.engine import _DONE
from diagbridge_host.errors import LinkTimeout
from diagbridge_host.uds import UdsResponse, endpoint

__all__ = ["connect_async", "AsyncConnection", "AsyncEventStream", "AsyncUdsClient"]


class _LoopInbox:
    """An Inbox whose consumer is an asyncio task."""

    def __init__(self, loop: asyncio.AbstractEventLoop):
        self._loop = loop
        self._q: asyncio.Queue = asyncio.Queue()

    def put(self, item) -> None:
        try:
            self._loop.call_soon_threadsafe(self._q.put_nowait, item)
        except RuntimeError:            # the loop is closed: nobody will read it
            pass

    async def get(self, timeout_s: Optional[float]):
        return await asyncio.wait_for(self._q.get(), timeout_s)

    def __len__(self) -> int:
        return self._q.qsize()


class AsyncEventStream:
    """Gateway events for an asyncio consumer (``async for``); taking an
    event returns its credit to the gateway."""

    def __init__(self, engine, kinds: Optional[tuple]):
        self._engine = engine
        self._inbox = _LoopInbox(asyncio.get_running_loop())
        self._closed = False
        engine.subscribe(self._inbox, kinds)

    async def get(self, timeout_s: Optional[float] = None):
        """The next event, or None after timeout_s seconds."""
        try:
            slot = await self._inbox.get(timeout_s)
        except asyncio.TimeoutError:
            return None
        self._engine.consumed(slot)
        return slot.event

    def __aiter__(self):
        return self._iter()

    async def _iter(self):
        while True:
            ev = await self.get()
            yield ev
            if isinstance(ev, E.LinkLost):
                return

    async def close(self) -> None:
        """Stop receiving; queued events give their credits back."""
        if self._closed:
            return
        self._closed = True
        self._engine.unsubscribe(self._inbox)
        while len(self._inbox):
            await self.get(0)

    async def __aenter__(self) -> "AsyncEventStream":
        return self

    async def __aexit__(self, *exc) -> None:
        await self.close()


class AsyncConnection:
    """A live link to a gateway, asyncio API (see Connection for the meaning
    of each method)."""

    def __init__(self, conn: Connection):
        self.sync = conn                # the blocking twin (same link)
        self._engine = conn._engine

    @property
    def url(self) -> str:
        """The gateway URL this connection was opened with."""
        return self.sync.url

    @property
    def gateway(self):
        """What the gateway said in HELLO_ACK (GatewayInfo)."""
        return self.sync.gateway

    @property
    def role(self) -> int:
        """The role granted (ROLE_*)."""
        return self.sync.role

    @property
    def dropped(self) -> DropCounts:
        """Events that never reached this host, exactly."""
        return self.sync.dropped

    async def request(self, kind: int, body: Optional[dict] = None, *,
                      timeout_s: Optional[float] = None,
                      on_event: Optional[Callable] = None) -> dict:
        """Send one MSG_REQ_* and await its RESPONSE body (idle timeout)."""
        inbox = _LoopInbox(asyncio.get_running_loop())
        call = self._engine.submit(kind, body, inbox)
        idle = self.sync.timeout_s if timeout_s is None else timeout_s
        while True:
            try:
                item = await inbox.get(idle)
            except asyncio.TimeoutError:
                self._engine.forget(call)
                raise LinkTimeout("no answer from the gateway at %s to %s within %.1f s"
                                  % (self.url, E.kind_name(kind), idle)) from None
            if item is _DONE:
                return call.result().body
            if on_event is not None:
                on_event(item)

    def events(self, kinds: Optional[Iterable[int]] = None) -> AsyncEventStream:
        """A stream of gateway events (all, or only MSG_EV_* ``kinds``)."""
        return AsyncEventStream(self._engine, None if kinds is None else tuple(kinds))

    async def status(self) -> GatewayStatus:
        """Gateway counters, channels, ECUs, routes and jobs (REQ_STATUS)."""
        return await asyncio.to_thread(self.sync.status)

    async def can_listen(self, bus: int, on: bool = True, filters=None,
                         echo: bool = False) -> None:
        """Start (or stop) EV_CAN_RX for ``bus`` with (id, mask) filters."""
        body = request_body(bus=bus, on=bool(on))
        if on:
            if filters:
                body[P.K_FILTERS] = [[int(i), int(m)] for i, m in filters]
            body[P.K_ECHO] = bool(echo)
        await self.request(P.MSG_REQ_CAN_LISTEN, body)

    async def can_send(self, bus: int, arbitration_id: int, data: bytes, **kw) -> int:
        """Transmit one raw CAN frame (full role); the result code."""
        return await asyncio.to_thread(functools.partial(self.sync.can_send, bus,
                                                         arbitration_id, data, **kw))

    async def ecu_sim(self, ecu: int, profile: Union[str, dict], **kw) -> None:
        """Start (or stop, on=False) a simulated ECU on the gateway."""
        await asyncio.to_thread(functools.partial(self.sync.ecu_sim, ecu, profile, **kw))

    async def uds(self, bus: int = 0, tx_id: Optional[int] = None,
                  rx_id: Optional[int] = None, *, config: Optional[dict] = None,
                  timeout_s: Optional[float] = None, **ep) -> "AsyncUdsClient":
        """A UDS tester on a new gateway channel (see Connection.uds)."""
        cid = self.sync.new_channel_id()
        body = endpoint(bus, tx_id=tx_id, rx_id=rx_id, **ep)
        body.update(request_body(channel=cid, on=True, uds=config))
        await self.request(P.MSG_REQ_CHANNEL, body)
        return AsyncUdsClient(self, cid, timeout_s)

    async def close(self) -> None:
        """Say BYE and close the transport."""
        await asyncio.to_thread(self.sync.close)

    async def __aenter__(self) -> "AsyncConnection":
        return self

    async def __aexit__(self, *exc) -> None:
        await self.close()


class AsyncUdsClient:
    """UDS on one gateway channel, asyncio (raw PDUs; see UdsClient)."""

    def __init__(self, conn: AsyncConnection, channel: int, timeout_s: Optional[float]):
        self.conn = conn
        self.channel = channel
        self.timeout_s = timeout_s

    async def request(self, data: bytes, *, timeout_s: Optional[float] = None) -> UdsResponse:
        """Send one request PDU; the final response (bytes with result/nrc)."""
        body = await self.conn.request(P.MSG_REQ_UDS, {P.K_CHANNEL: self.channel,
                                                       P.K_DATA: bytes(data)},
                                       timeout_s=timeout_s or self.timeout_s)
        return UdsResponse.from_body(data, body)

    async def read_data_by_identifier(self, did: int) -> bytes:
        """One DID's raw value (raises NegativeResponseError / UdsTimeout)."""
        rsp = (await self.request(bytes((0x22, did >> 8, did & 0xFF)))).raise_for_result()
        return bytes(rsp[3:])

    async def close(self) -> None:
        """Close the gateway channel."""
        await self.conn.request(P.MSG_REQ_CHANNEL, {P.K_CHANNEL: self.channel, P.K_ON: False})


async def connect_async(url: str, *, key: Optional[bytes] = None,
                        role: Union[str, int] = "full",
                        timeout_s: float = DEFAULT_TIMEOUT_S, **kw) -> AsyncConnection:
    """``connect()`` without blocking the event loop; an AsyncConnection."""
    conn = await asyncio.to_thread(functools.partial(connect, url, key=key, role=role,
                                                     timeout_s=timeout_s, **kw))
    return AsyncConnection(conn)
