"""The asyncio face of the host library: ``await diagbridge_host.connect_async(url)``.

An asyncio task drives the sans-I/O ``HostLink`` (the model is aioquic's
``asyncio/protocol.py``): bytes from the stream and the link's timers go in,
events are routed to the awaiting requests and streams in the event loop's
own thread, and what the link has to send is written at once.  Nothing
here blocks the event loop and no request goes through a thread.

    conn = await connect_async("tcp://127.0.0.1:6520", key=KEY)
    async with conn:
        uds = await conn.uds(0, 0x7E0, 0x7E8)
        rsp = await uds.request(b"\\x22\\xF1\\x90")
        async with conn.events() as stream:
            async for ev in stream: ...

Byte streams: ``tcp://`` is an asyncio stream.  ``serial://`` and ``sim://``
keep their blocking transport, whose reads and writes run in two worker
threads (one each, in order, as the transport contract wants); the link and
everything above it still run in the task.
"""
from __future__ import annotations

import asyncio
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Iterable, Optional, Union

from diagbridge.link import proto as P

from diagbridge_host import bodies as B
from diagbridge_host import events as E
from diagbridge_host.bodies import GatewayStatus
from diagbridge_host.connection import DropCounts, DEFAULT_TIMEOUT_S, host_link_factory
from diagbridge_host.engine import LinkCore, _DONE
from diagbridge_host.errors import LinkError, LinkTimeout, UsageError
from diagbridge_host.link import HostLink, GatewayInfo, ROLE_NAMES
from diagbridge_host.transports import open_transport, split_url
from diagbridge_host.transports.base import Transport
from diagbridge_host.uds import UdsResponse, endpoint

__all__ = ["connect_async", "AsyncConnection", "AsyncEventStream", "AsyncUdsClient",
           "AsyncEngine", "AsyncTcpStream", "ThreadedStream"]

_POLL_S = 0.5               # longest wait for bytes while the link has no timer due
_READ_MAX = 65536


# ---- byte streams -----------------------------------------------------------------------
class AsyncTcpStream:
    """``tcp://host:port`` as an asyncio stream (Nagle off)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 url: str) -> None:
        self.url = url
        self._r = reader
        self._w = writer
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    @classmethod
    async def open(cls, rest: str, timeout_s: float) -> "AsyncTcpStream":
        host, sep, port = rest.rstrip("/").rpartition(":")
        if not sep or not port.isdigit() or not host:
            raise UsageError("tcp URL needs host:port, got tcp://%s" % rest)
        url = "tcp://%s" % rest
        try:
            r, w = await asyncio.wait_for(asyncio.open_connection(host.strip("[]"), int(port)),
                                          timeout_s)
        except (OSError, asyncio.TimeoutError) as e:
            raise LinkError("cannot connect to the gateway at %s: %s (is the gateway daemon "
                            "running and reachable?)" % (url, e or "timeout")) from e
        return cls(r, w, url)

    async def read(self, timeout_s: float) -> bytes:
        """Bytes within ``timeout_s`` (``b""``: none); LinkError at the end."""
        try:
            data = await asyncio.wait_for(self._r.read(_READ_MAX), timeout_s)
        except asyncio.TimeoutError:
            return b""
        except OSError as e:
            raise LinkError("%s: connection failed: %s" % (self.url, e)) from e
        if not data:
            raise LinkError("%s: the gateway closed the connection" % self.url)
        return data

    def write(self, data: bytes) -> None:
        if self._w.is_closing():
            raise LinkError("%s: closed" % self.url)
        self._w.write(data)

    async def drain(self) -> None:
        try:
            await self._w.drain()
        except OSError as e:
            raise LinkError("%s: send failed: %s" % (self.url, e)) from e

    async def aclose(self) -> None:
        self._w.close()
        try:
            await self._w.wait_closed()
        except OSError:
            pass


class ThreadedStream:
    """A blocking ``Transport`` (serial, sim) as an async stream: its reads
    run in one worker thread and its writes, in order, in another."""

    def __init__(self, transport: Transport) -> None:
        self.url = transport.url
        self.transport = transport
        self._rx = ThreadPoolExecutor(1, "diagbridge-rx")
        self._tx = ThreadPoolExecutor(1, "diagbridge-tx")
        self._last: Optional[asyncio.Future] = None

    async def read(self, timeout_s: float) -> bytes:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._rx, self.transport.read, timeout_s)

    def write(self, data: bytes) -> None:
        loop = asyncio.get_running_loop()
        self._last = loop.run_in_executor(self._tx, self.transport.write, data)

    async def drain(self) -> None:
        last = self._last
        if last is not None:
            await last              # raises the transport's LinkError

    async def aclose(self) -> None:
        try:
            await asyncio.wait_for(self.drain(), 2.0)
        except (LinkError, asyncio.TimeoutError):
            pass
        self.transport.close()      # ends a read in progress
        self._rx.shutdown(wait=False)
        self._tx.shutdown(wait=False)


async def open_stream(url: str, timeout_s: float) -> Any:
    """The async byte stream named by ``url`` (see ``diagbridge_host.transports``)."""
    scheme, rest, _query = split_url(url)
    if scheme == "tcp":
        return await AsyncTcpStream.open(rest, timeout_s)
    loop = asyncio.get_running_loop()
    return ThreadedStream(await loop.run_in_executor(None, open_transport, url, timeout_s))


# ---- the engine -------------------------------------------------------------------------
class AsyncEngine(LinkCore):
    """LinkCore driven by one asyncio task (every method: the loop's thread)."""

    def __init__(self, stream: Any, link: HostLink) -> None:
        super().__init__(stream.url, link)
        self.stream = stream
        self._up_async = asyncio.Event()
        self._task: Optional[asyncio.Task] = None

    def _on_up(self) -> None:
        super()._on_up()
        self._up_async.set()

    def _flush(self) -> None:
        data = self.link.data_to_send()
        if data and self.lost is None:
            try:
                self.stream.write(data)
            except LinkError as e:
                self._lose(str(e))

    async def start(self, timeout_s: float) -> None:
        """HELLO (and AUTH) within ``timeout_s``; raises what refused it."""
        self._begin()
        self._task = asyncio.get_running_loop().create_task(self._run())
        try:
            await asyncio.wait_for(self._up_async.wait(), timeout_s)
        except asyncio.TimeoutError:
            self.error = self.error or self.no_handshake(timeout_s)
        if self.error is not None:
            await self.close()
            raise self.error

    async def _run(self) -> None:
        stream = self.stream
        while self._running:
            try:
                data = await stream.read(self._wait_s(_POLL_S))
            except LinkError as e:
                if self._running:
                    self._lose(str(e))
                return
            callbacks: list = []
            self._receive(data, callbacks)
            self._run_callbacks(callbacks)
            try:
                await stream.drain()
            except LinkError as e:
                self._lose(str(e))
                return

    async def drain(self) -> None:
        """Wait until the stream took what was written (back-pressure)."""
        try:
            await self.stream.drain()
        except LinkError as e:
            self._lose(str(e))

    async def close(self) -> None:
        if not self._running:
            return
        if self.lost is None:
            self.link.close(time.monotonic())     # BYE
            self._flush()
            await self.drain()
        self._running = False
        await self.stream.aclose()
        task = self._task
        if task is not None and task is not asyncio.current_task():
            task.cancel()
            try:
                await task
            except (asyncio.CancelledError, LinkError):
                pass
        self._fail_all("the connection was closed")


class _TaskInbox:
    """An inbox whose consumer is a task of the same loop."""

    def __init__(self) -> None:
        self._q: asyncio.Queue = asyncio.Queue()

    def put(self, item: Any) -> None:
        self._q.put_nowait(item)

    async def get(self, timeout_s: Optional[float]) -> Any:
        return await asyncio.wait_for(self._q.get(), timeout_s)

    def __len__(self) -> int:
        return self._q.qsize()


class AsyncEventStream:
    """Gateway events for an asyncio consumer (``async for``; it ends after
    ``LinkLost``); taking an event returns its credit to the gateway."""

    def __init__(self, engine: AsyncEngine, kinds: Optional[tuple]) -> None:
        self._engine = engine
        self._inbox = _TaskInbox()
        self._closed = False
        engine.subscribe(self._inbox, kinds)

    async def get(self, timeout_s: Optional[float] = None) -> Any:
        """The next event, or None after timeout_s seconds."""
        try:
            slot = await self._inbox.get(timeout_s)
        except asyncio.TimeoutError:
            return None
        self._engine.consumed(slot)
        return slot.event

    def __aiter__(self) -> Any:
        return self._iter()

    async def _iter(self) -> Any:
        while True:
            ev = await self.get()
            yield ev
            if isinstance(ev, E.LinkLost):
                return

    def __len__(self) -> int:
        """Events waiting in this stream."""
        return len(self._inbox)

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

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()


class AsyncConnection:
    """A live, authenticated link to a gateway, asyncio API (the methods of
    ``Connection``, awaited).  Event listeners run in the event loop's thread
    and must not block."""

    def __init__(self, engine: AsyncEngine, url: str, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        self._engine = engine
        self.url = url
        self.timeout_s = timeout_s
        self._next_channel = 1

    # ---- the link ---------------------------------------------------------------------
    @property
    def gateway(self) -> GatewayInfo:
        """What the gateway said in HELLO_ACK: name, buses, roles, limits."""
        return self._engine.link.gateway

    @property
    def role(self) -> int:
        """The role granted (ROLE_*)."""
        return self._engine.link.role

    @property
    def role_name(self) -> str:
        """"monitor", "diagnostic" or "full"."""
        return ROLE_NAMES.get(self.role, "none")

    @property
    def is_up(self) -> bool:
        """True while the link is authenticated and alive (not after close())."""
        e = self._engine
        return e._running and e.lost is None and e.error is None and e.up.is_set()

    @property
    def dropped(self) -> DropCounts:
        """Events that never reached this host, exactly."""
        link = self._engine.link
        return DropCounts(link.dropped_total,
                          {E.kind_name(k): n for k, n in link.dropped.items()},
                          link.lost_events)

    @property
    def frame_faults(self) -> dict:
        """Damaged frames received from the gateway: bad_crc, oversize, truncated."""
        return self._engine.link.frame_faults

    async def close(self) -> None:
        """Say BYE and close the stream; pending requests fail with LinkError."""
        await self._engine.close()

    async def __aenter__(self) -> "AsyncConnection":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    # ---- requests ---------------------------------------------------------------------
    async def request(self, kind: int, body: Optional[dict] = None, *,
                      timeout_s: Optional[float] = None,
                      on_event: Optional[Callable] = None) -> dict:
        """Send one MSG_REQ_* and await its RESPONSE body.  ``timeout_s`` is
        an idle timeout: the request's own events restart it and go to
        ``on_event``.  Raises LinkRefused, LinkError or LinkTimeout."""
        engine = self._engine
        call = engine.submit(kind, body, _TaskInbox())
        await engine.drain()
        idle = self.timeout_s if timeout_s is None else timeout_s
        while True:
            try:
                item = await call.inbox.get(idle)
            except asyncio.TimeoutError:
                engine.forget(call)
                raise LinkTimeout("no answer from the gateway at %s to %s within %.1f s"
                                  % (self.url, E.kind_name(kind), idle)) from None
            if item is _DONE:
                return call.result().body
            if on_event is not None:
                on_event(item)

    async def _ask(self, req: tuple, timeout_s: Optional[float] = None) -> dict:
        kind, body = req
        return await self.request(kind, body, timeout_s=timeout_s)

    def events(self, kinds: Optional[Iterable[int]] = None) -> AsyncEventStream:
        """A stream of gateway events (all, or only MSG_EV_* ``kinds``)."""
        return AsyncEventStream(self._engine, None if kinds is None else tuple(kinds))

    def add_listener(self, fn: Callable, kinds: Optional[Iterable[int]] = None) -> None:
        """Call ``fn(event)`` for each gateway event (in the event loop: keep it short)."""
        self._engine.add_callback(fn, None if kinds is None else tuple(kinds))

    def remove_listener(self, fn: Callable) -> None:
        """Stop calling ``fn``."""
        self._engine.remove_callback(fn)

    # ---- gateway services ---------------------------------------------------------------
    async def status(self, timeout_s: Optional[float] = None) -> GatewayStatus:
        """Gateway counters, channels, ECUs, routes and jobs (REQ_STATUS)."""
        return B.read_status(await self._ask(B.status_request(), timeout_s))

    async def can_listen(self, bus: int, on: bool = True, filters: Any = None,
                         echo: bool = False) -> None:
        """Start (or stop) EV_CAN_RX for ``bus`` with (id, mask) filters."""
        await self._ask(B.can_listen_request(bus, on, filters, echo))

    async def can_send(self, bus: int, arbitration_id: int, data: bytes, *,
                       extended: Optional[bool] = None, fd: bool = False,
                       brs: bool = False) -> int:
        """Transmit one raw CAN frame (full role); the result code."""
        return B.read_can_send(await self._ask(B.can_send_request(
            bus, arbitration_id, data, extended=extended, fd=fd, brs=brs)))

    def new_channel_id(self) -> int:
        """A channel id not used yet by this connection."""
        cid = self._next_channel
        self._next_channel += 1
        return cid

    async def open_channel(self, endpoint: dict, *, channel: Optional[int] = None,
                           uds_config: Optional[dict] = None) -> int:
        """REQ_CHANNEL on: a tester endpoint (``endpoint(...)``); its id."""
        cid = self.new_channel_id() if channel is None else channel
        await self._ask(B.channel_request(cid, endpoint, uds_config))
        return cid

    async def close_channel(self, channel: int) -> None:
        """REQ_CHANNEL off."""
        await self._ask(B.channel_request(channel))

    async def uds(self, bus: int = 0, tx_id: Optional[int] = None,
                  rx_id: Optional[int] = None, *, config: Optional[dict] = None,
                  timeout_s: Optional[float] = None, **ep: Any) -> "AsyncUdsClient":
        """A UDS tester on a new gateway channel (see Connection.uds)."""
        cid = await self.open_channel(endpoint(bus, tx_id=tx_id, rx_id=rx_id, **ep),
                                      uds_config=config)
        return AsyncUdsClient(self, cid, timeout_s)

    async def ecu_sim(self, ecu: int, profile: Union[str, dict], *, on: bool = True,
                      **endpoint_keys: Any) -> None:
        """Start (or stop) a simulated ECU on the gateway (full role)."""
        await self._ask(B.ecu_sim_request(ecu, profile, on, **endpoint_keys))

    async def route(self, route: int, tester: dict, target: dict, **kw: Any) -> None:
        """REQ_ROUTE (see Connection.route)."""
        await self._ask(B.route_request(route, tester, target, **kw))


class AsyncUdsClient:
    """UDS on one gateway channel, asyncio (raw PDUs; see UdsClient)."""

    def __init__(self, conn: AsyncConnection, channel: int, timeout_s: Optional[float]) -> None:
        self.conn = conn
        self.channel = channel
        self.timeout_s = timeout_s

    async def request(self, data: bytes, *, timeout_s: Optional[float] = None,
                      ecu_timeout_ms: Optional[int] = None) -> UdsResponse:
        """Send one request PDU; the final response (bytes with result/nrc).
        ``ecu_timeout_ms``: as ``UdsClient.request``."""
        body = {P.K_CHANNEL: self.channel, P.K_DATA: bytes(data)}
        wait = timeout_s or self.timeout_s
        if ecu_timeout_ms is not None:
            if isinstance(ecu_timeout_ms, bool) or not isinstance(ecu_timeout_ms, int) \
                    or not 1 <= ecu_timeout_ms <= 600000:
                raise UsageError("ecu_timeout_ms must be 1..600000")
            body[P.K_TIMEOUT] = ecu_timeout_ms
            wait = max(wait or 0.0, ecu_timeout_ms / 1000 + 2.0)
        rsp = await self.conn.request(P.MSG_REQ_UDS, body, timeout_s=wait)
        return UdsResponse.from_body(data, rsp)

    async def read_data_by_identifier(self, did: int) -> bytes:
        """One DID's raw value (raises NegativeResponseError / UdsTimeout)."""
        rsp = (await self.request(bytes((0x22, did >> 8, did & 0xFF)))).raise_for_result()
        return bytes(rsp[3:])

    async def close(self) -> None:
        """Close the gateway channel."""
        await self.conn.close_channel(self.channel)

    async def __aenter__(self) -> "AsyncUdsClient":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()


async def connect_async(url: str, *, key: Optional[bytes] = None,
                        role: Union[str, int] = "full",
                        timeout_s: float = DEFAULT_TIMEOUT_S, event_credits: int = 256,
                        name: Optional[str] = None, heartbeat_ms: int = 1000,
                        link_timeout_ms: int = 3000) -> AsyncConnection:
    """``connect()`` for asyncio: open ``url``, say HELLO, prove ``key`` for
    ``role``; the AsyncConnection.  Raises what ``connect()`` raises."""
    link = host_link_factory(key, role, event_credits, name, heartbeat_ms, link_timeout_ms)()
    engine = AsyncEngine(await open_stream(url, timeout_s), link)
    await engine.start(timeout_s)
    return AsyncConnection(engine, url, timeout_s)
