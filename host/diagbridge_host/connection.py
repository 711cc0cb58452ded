"""A blocking connection to one gateway: ``diagbridge_host.connect(url)``.

    with connect("tcp://192.168.7.2:5555", key=KEY, role="diagnostic") as conn:
        print(conn.gateway.name, conn.status().stats)
        uds = conn.uds(bus=0, tx_id=0x7E0, rx_id=0x7E8)
        vin = uds.read_data_by_identifier(0xF190)
        with conn.can_monitor(bus=0) as frames:
            for frame in frames:           # CanFrame, DropReport, LinkLost
                print(frame)

Thread-safe: any thread may send requests; each waits for its own answer.
Event callbacks run in the link's reader thread and must not block.
"""
from __future__ import annotations

import logging
import queue
import socket
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator, Optional, Union

from diagbridge.link import proto as P

from diagbridge_host import bodies as B
from diagbridge_host import events as E
from diagbridge_host.bodies import GatewayStatus, request_body
from diagbridge_host.engine import Engine, Inbox, _DONE
from diagbridge_host.errors import LinkError, LinkTimeout, UsageError
from diagbridge_host.link import HostLink, GatewayInfo, ROLE_NAMES
from diagbridge_host.transports import open_transport

log = logging.getLogger(__name__)

__all__ = ["connect", "Connection", "BusLock", "EventStream", "GatewayStatus", "DropCounts",
           "role_of", "request_body"]

DEFAULT_TIMEOUT_S = 10.0


def role_of(role: Union[str, int]) -> int:
    """``"monitor"`` / ``"diagnostic"`` / ``"full"`` (or a ROLE_* int) -> ROLE_*."""
    if isinstance(role, int) and role in ROLE_NAMES:
        return role
    for r, name in ROLE_NAMES.items():
        if role == name:
            return r
    raise UsageError("role must be one of %s, not %r" % (", ".join(ROLE_NAMES.values()), role))


@dataclass
class DropCounts:
    """What never reached this host: ``total`` events the gateway dropped
    (its queue was full), ``by_kind`` per event kind name, and
    ``lost_on_wire``: gaps in the event sequence (frames damaged in transit)."""
    total: int
    by_kind: dict
    lost_on_wire: int


class EventStream:
    """Gateway events in arrival order (blocking).  Iterating ends after
    ``LinkLost``; ``get(timeout_s)`` returns None on timeout.  Taking an
    event gives its credit back to the gateway: a stream nobody reads
    eventually stops the gateway's events (which it then counts as dropped),
    so close streams you no longer read."""

    def __init__(self, engine: Engine, kinds: Optional[tuple]) -> None:
        self._engine = engine
        self._inbox = Inbox()
        self._closed = False
        engine.subscribe(self._inbox, kinds)

    def get(self, timeout_s: Optional[float] = None) -> Any:
        """The next event, or None after timeout_s seconds."""
        try:
            slot = self._inbox.get(timeout_s)
        except queue.Empty:
            return None
        self._engine.consumed(slot)
        return slot.event

    def __iter__(self) -> Iterator:
        while True:
            ev = self.get()
            yield ev
            if isinstance(ev, E.LinkLost):
                return

    def __len__(self) -> int:
        """Events waiting in this stream."""
        return len(self._inbox)

    def close(self) -> None:
        """Stop receiving; events still queued give their credits back."""
        if self._closed:
            return
        self._closed = True
        self._engine.unsubscribe(self._inbox)
        while self.get(0) is not None:
            pass

    def __enter__(self) -> "EventStream":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class CanMonitor(EventStream):
    """A CAN listener on one bus (REQ_CAN_LISTEN on); closing turns it off."""

    def __init__(self, conn: "Connection", bus: int, filters: Any, echo: bool) -> None:
        super().__init__(conn._engine, (P.MSG_EV_CAN_RX, P.MSG_EV_DROPPED))
        self._conn = conn
        self.bus = bus
        try:
            conn.can_listen(bus, True, filters, echo)
        except Exception:
            super().close()
            raise

    def close(self) -> None:
        if self._closed:
            return
        try:
            self._conn.can_listen(self.bus, False)
        except (LinkError, LinkTimeout):
            pass
        super().close()


class BusLock:
    """A held bus lock (``Connection.lock_bus``); ``with`` releases it."""

    def __init__(self, conn: "Connection", bus: int) -> None:
        self.conn = conn
        self.bus = bus

    def release(self) -> None:
        self.conn.unlock_bus(self.bus)

    def __enter__(self) -> "BusLock":
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.conn.is_up:             # a lost link released it already
            self.release()


class Connection:
    """A live, authenticated link to a gateway (blocking API)."""

    def __init__(self, engine: Engine, url: str, timeout_s: float = DEFAULT_TIMEOUT_S,
                 dial: Optional[Callable[[], Engine]] = None) -> None:
        self._engine = engine
        self.url = url
        self.timeout_s = timeout_s
        self._next_channel = 1
        self._dial = dial               # opens the same transport with the same login

    def reconnect(self) -> None:
        """Open the link again after it was lost (or closed): the same URL,
        key, role and link settings, a new HELLO and AUTH.

        What the old session owned on the gateway is gone: its channels,
        routes, CAN listeners, hosted ECUs, queued requests and the event
        streams and listeners of this object (they saw ``LinkLost``); open
        them again.  The exception is a flash job that was already running:
        the gateway finishes it unattended (no events, no answer to the old
        request) and lists it in ``status().jobs`` until it ends.  Channel
        ids go on counting, so a new channel never reuses an old id.

        Raises what ``connect`` raises when the gateway does not take the
        host back: LinkAuthError (the key), LinkRefused (the role, or
        another host is connected), LinkVersionError, LinkTimeout (nobody
        answers), LinkError (the transport cannot be opened); the
        connection then stays down and ``reconnect()`` may be tried again."""
        if self._dial is None:
            raise UsageError("this connection was not made by connect(): it cannot reconnect")
        old = self._engine
        try:
            old.close()                 # BYE if it is still up; frees the transport
        except Exception as e:          # a dead transport: closing it is best effort
            log.debug("closing the old link to %s: %s", self.url, e)
        self._engine = self._dial()
        log.info("reconnected to %s", self.url)

    # ---- the link ---------------------------------------------------------------------
    @property
    def gateway(self) -> GatewayInfo:
        """What the gateway said in HELLO_ACK: name, buses, roles, limits."""
        return self._engine.link.gateway

    @property
    def role(self) -> int:
        """The role granted (ROLE_MONITOR / ROLE_DIAGNOSTIC / ROLE_FULL)."""
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
        """Events that never reached this host, exactly (also logged as warnings)."""
        link = self._engine.link
        return DropCounts(link.dropped_total,
                          {E.kind_name(k): n for k, n in link.dropped.items()},
                          link.lost_events)

    @property
    def frame_faults(self) -> dict:
        """Damaged frames received from the gateway: bad_crc, oversize, truncated."""
        return self._engine.link.frame_faults

    def close(self) -> None:
        """Say BYE and close the transport; pending requests fail with LinkError."""
        self._engine.close()

    def __enter__(self) -> "Connection":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # ---- requests ---------------------------------------------------------------------
    def request(self, kind: int, body: Optional[dict] = None, *,
                timeout_s: Optional[float] = None,
                on_event: Optional[Callable] = None,
                on_interrupt: Optional[Callable[[], bool]] = None) -> dict:
        """Send one MSG_REQ_* with ``body`` ({K_*: value}) and wait for its
        RESPONSE body.  ``timeout_s`` is an idle timeout: the request's own
        events (progress) restart it and go to ``on_event`` in this thread.
        ``on_interrupt()``: called when a KeyboardInterrupt (Ctrl-C) arrives
        while waiting; True goes on waiting for the same answer, False (or
        no ``on_interrupt``) lets the interrupt through.
        Raises LinkRefused (role too low), LinkError (the gateway could not
        take it, or the link failed) or LinkTimeout."""
        call = self._engine.submit(kind, body, Inbox())
        idle = self.timeout_s if timeout_s is None else timeout_s
        while True:
            try:
                try:
                    item = call.inbox.get(idle)
                except queue.Empty:
                    self._engine.forget(call)
                    raise LinkTimeout("no answer from the gateway at %s to %s within %.1f s"
                                      % (self.url, E.kind_name(kind), idle)) from None
                if item is _DONE:
                    return call.result().body
                if on_event is not None:
                    on_event(item)
            except KeyboardInterrupt:   # while waiting or in on_event: both are "waiting"
                if on_interrupt is not None and on_interrupt():
                    continue
                raise

    def _ask(self, req: tuple, timeout_s: Optional[float] = None) -> dict:
        kind, body = req
        return self.request(kind, body, timeout_s=timeout_s)

    def events(self, kinds: Optional[Iterable[int]] = None) -> EventStream:
        """A stream of gateway events (all, or only MSG_EV_* ``kinds``)."""
        return EventStream(self._engine, None if kinds is None else tuple(kinds))

    def add_listener(self, fn: Callable, kinds: Optional[Iterable[int]] = None) -> None:
        """Call ``fn(event)`` for each gateway event (in the reader thread:
        keep it short, never block, never send requests from it)."""
        self._engine.add_callback(fn, None if kinds is None else tuple(kinds))

    def remove_listener(self, fn: Callable) -> None:
        """Stop calling ``fn``."""
        self._engine.remove_callback(fn)

    # ---- gateway services ---------------------------------------------------------------
    def status(self, timeout_s: Optional[float] = None) -> GatewayStatus:
        """Gateway counters, open channels, simulated ECUs, routes and jobs."""
        return B.read_status(self._ask(B.status_request(), timeout_s))

    def can_listen(self, bus: int, on: bool = True,
                   filters: Optional[Iterable[tuple[int, int]]] = None,
                   echo: bool = False) -> None:
        """Start (or stop) EV_CAN_RX for ``bus``; ``filters`` [(id, mask)]
        replace the bus's filters (none: every frame)."""
        self._ask(B.can_listen_request(bus, on, filters, echo))

    def can_monitor(self, bus: int, filters: Any = None, echo: bool = False) -> CanMonitor:
        """Listen on ``bus`` and stream its frames (a context manager)."""
        return CanMonitor(self, bus, filters, echo)

    def can_send(self, bus: int, arbitration_id: int, data: bytes, *,
                 extended: Optional[bool] = None, fd: bool = False,
                 brs: bool = False) -> int:
        """Transmit one raw CAN frame (full role); returns the result code
        (OK once the frame left, L_TX_ERROR if it could not)."""
        return B.read_can_send(self._ask(B.can_send_request(
            bus, arbitration_id, data, extended=extended, fd=fd, brs=brs)))

    def lock_bus(self, bus: int, timeout_s: Optional[float] = None) -> "BusLock":
        """Take exclusive transmit control of ``bus`` for flashing (full
        role): until ``unlock_bus`` (or this connection ends) the gateway
        refuses the other hosts' transmissions there (``LinkRefused``: "bus N
        is locked by host ... for flashing"); they keep receiving and get a
        ``events.BusLockChange``.  Raises ``LinkRefused`` while another host
        holds it.  The result is a context manager that unlocks on exit::

            with conn.lock_bus(0):
                conn.flash(...)
        """
        self.request(P.MSG_REQ_BUS_LOCK, request_body(bus=bus, on=True), timeout_s=timeout_s)
        return BusLock(self, bus)

    def unlock_bus(self, bus: int, timeout_s: Optional[float] = None) -> None:
        """Give ``bus`` back (LinkError if this host does not hold it)."""
        self.request(P.MSG_REQ_BUS_LOCK, request_body(bus=bus, on=False), timeout_s=timeout_s)

    def new_channel_id(self) -> int:
        """A channel id not used yet by this connection."""
        cid = self._next_channel
        self._next_channel += 1
        return cid

    def open_channel(self, endpoint: dict, *, channel: Optional[int] = None,
                     uds_config: Optional[dict] = None) -> int:
        """REQ_CHANNEL on: a tester endpoint (``endpoint(...)``); its id."""
        cid = self.new_channel_id() if channel is None else channel
        self._ask(B.channel_request(cid, endpoint, uds_config))
        return cid

    def close_channel(self, channel: int) -> None:
        """REQ_CHANNEL off."""
        self._ask(B.channel_request(channel))

    def uds(self, bus: int = 0, tx_id: Optional[int] = None, rx_id: Optional[int] = None,
            **kw: Any) -> Any:
        """A UDS tester on a new channel of the gateway: ``uds(0, 0x7E0, 0x7E8)``,
        or any ``endpoint()`` keyword (addressing="normal_fixed", ta=0x10 ...),
        plus ``p2_timeout_ms`` style UdsClientConfig fields in ``config``."""
        from diagbridge_host.uds import UdsClient
        return UdsClient.open(self, bus, tx_id, rx_id, **kw)

    def ecu_sim(self, ecu: int, profile: Union[str, dict], *, on: bool = True,
                **endpoint_keys: Any) -> None:
        """Start (or stop) a simulated ECU on the gateway (full role):
        ``profile`` names a module of diagbridge.uds.profiles or is a profile
        dict; endpoint keys (bus=1, addressing=..., tx_id=0x7E8, rx_id=0x7E0)
        override the profile's addresses."""
        self._ask(B.ecu_sim_request(ecu, profile, on, **endpoint_keys))

    def route(self, route: int, tester: dict, target: dict, *, on: bool = True,
              uds_config: Optional[dict] = None, pending_ms: Optional[int] = None,
              period_ms: Optional[int] = None) -> None:
        """REQ_ROUTE: requests a tester sends to ``tester`` (an endpoint()
        where the gateway acts as the ECU) go to ``target`` and back."""
        self._ask(B.route_request(route, tester, target, on=on, uds_config=uds_config,
                                  pending_ms=pending_ms, period_ms=period_ms))


def host_link_factory(key: Union[bytes, str, None], role: Union[str, int],
                      event_credits: int, name: Optional[str], heartbeat_ms: int,
                      link_timeout_ms: int) -> Callable[[], HostLink]:
    """A function making a new ``HostLink`` with these login settings (one
    per connection attempt: a reconnect starts a fresh handshake).  The
    arguments are checked here, before any transport is opened."""
    if isinstance(key, str):
        key = key.encode()
    role_n = role_of(role)
    name = name or "diagbridge_host@%s" % socket.gethostname()

    def new() -> HostLink:
        return HostLink(key=key, role=role_n, event_credits=event_credits, name=name,
                        heartbeat_ms=heartbeat_ms, link_timeout_ms=link_timeout_ms,
                        auto_credit=False)
    new()                           # a bad setting raises now, not at the first dial
    return new


def connect(url: str, *, key: Optional[bytes] = None, role: Union[str, int] = "full",
            timeout_s: float = DEFAULT_TIMEOUT_S, event_credits: int = 256,
            name: Optional[str] = None, heartbeat_ms: int = 1000,
            link_timeout_ms: int = 3000) -> Connection:
    """Open ``url`` (tcp://host:port, serial:///dev/ttyACM0, serial://<pyserial
    URL>, sim://), say HELLO, prove the pre-shared ``key`` for ``role``
    ("monitor", "diagnostic", "full") and return the Connection.

    Raises LinkVersionError (update the gateway), LinkAuthError (wrong or
    missing key), LinkRefused (role not offered), LinkTimeout (no answer
    within ``timeout_s``), LinkError (cannot open the transport)."""
    new_link = host_link_factory(key, role, event_credits, name, heartbeat_ms, link_timeout_ms)

    def dial() -> Engine:
        link = new_link()
        transport = open_transport(url, timeout_s)
        engine = Engine(transport, link)
        engine.start()
        ok = engine.up.wait(timeout_s)
        if engine.error is not None or not ok:
            err = engine.error or engine.no_handshake(timeout_s)
            engine.close()
            raise err
        log.info("connected to %s (%s) as %s", url, link.gateway.name, ROLE_NAMES[link.role])
        return engine

    return Connection(dial(), url, timeout_s, dial)
