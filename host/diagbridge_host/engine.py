"""The I/O engine under a Connection: the sans-I/O ``HostLink`` (bytes in,
timers, events out) and what routes its events, ``LinkCore``, driven here by
one reader thread and one writer thread (``Engine``) and in ``aio.py`` by an
asyncio task (``AsyncEngine``).

Requests are ``Call`` objects: the caller's thread (or asyncio task) waits
on the call's inbox, which receives the events that belong to the request
(progress, flash steps) and finally the response.  Other events go to the
subscribed streams and callbacks.

Event credits go back to the gateway only when an event has really been
consumed (taken from every stream it was put in, or handed to the
callbacks), so a slow application slows the gateway down instead of
growing memory here; the gateway's bounded queue then drops and counts, and
the count comes back as a ``DropReport``: nothing is lost silently.
"""
from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from typing import Any, Callable, Optional

from diagbridge.link import proto as P

from diagbridge_host import events as E
from diagbridge_host.errors import LinkError, LinkTimeout, UsageError, error_for
from diagbridge_host.link import (HostLink, LinkUp, Response, RequestFailed, GatewayEvent,
                                  Dropped, GatewayError, LinkLost)
from diagbridge_host.transports.base import Transport

log = logging.getLogger(__name__)

_DONE = object()            # inbox marker: the call finished
_POLL_S = 0.05              # longest sleep of the reader between timer checks


class Inbox:
    """A thread-safe FIFO one consumer waits on (threads)."""

    def __init__(self) -> None:
        self._q: deque = deque()
        self._cv = threading.Condition()

    def put(self, item: Any) -> None:
        with self._cv:
            self._q.append(item)
            self._cv.notify()

    def get(self, timeout_s: Optional[float]) -> Any:
        """The next item; raises queue.Empty after timeout_s (None: wait forever)."""
        with self._cv:
            if not self._cv.wait_for(lambda: self._q, timeout_s):
                raise queue.Empty
            return self._q.popleft()

    def __len__(self) -> int:
        return len(self._q)


class Call:
    """One request in flight.  ``inbox`` gets the request's own events and
    then ``_DONE``; ``response`` / ``error`` say how it ended."""

    def __init__(self, kind: int, inbox: Any) -> None:
        self.kind = kind
        self.req_id = 0
        self.inbox = inbox
        self.response: Optional[Response] = None
        self.error: Optional[Exception] = None
        self.done = False
        self.started = time.monotonic()

    def result(self) -> Response:
        if self.error is not None:
            raise self.error
        return self.response


class _Slot:
    """An event shared by several streams: its credit returns when all took it."""
    __slots__ = ("event", "refs", "epoch")

    def __init__(self, event: Any, refs: Any, epoch: int) -> None:
        self.event = event
        self.refs = refs
        self.epoch = epoch


class LinkCore:
    """Routes a HostLink's events to calls, streams and callbacks, and returns
    event credits when events are consumed.  No threads and no I/O: a driver
    feeds the link (``_receive``), sends what ``_flush`` is given and runs the
    callbacks ``_receive`` collects.  ``lock`` is held around every use of
    the link (uncontended under asyncio)."""

    def __init__(self, url: str, link: HostLink) -> None:
        self.url = url
        self.link = link
        self.lock = threading.RLock()
        self.clock = E.GatewayClock()
        self.up = threading.Event()
        self.error: Optional[Exception] = None
        self.lost: Optional[str] = None
        self._calls: dict[int, Call] = {}
        self._streams: list = []            # (stream, kinds)
        self._callbacks: list = []          # (fn, kinds)
        self._epoch = 0
        self._running = True
        self.bytes_in = 0               # what the transport brought (a silent peer: 0)

    def _flush(self) -> None:
        """Hand ``link.data_to_send()`` to the transport (driver's own)."""
        raise NotImplementedError

    def _on_up(self) -> None:
        """The handshake ended (up, refused or lost): wake whoever waits."""
        self.up.set()

    def _begin(self) -> None:
        with self.lock:
            self._epoch += 1
            self.link.connect(time.monotonic())
            self._flush()

    def _receive(self, data: bytes, callbacks: list) -> None:
        """Bytes (maybe none) and the link's timers, under the lock; events
        dispatched, output flushed, callbacks to run collected."""
        with self.lock:
            now = time.monotonic()
            try:
                if data:
                    self.bytes_in += len(data)
                    self.link.receive_bytes(now, data)
                self.link.on_timer(now)
            except LinkError as e:          # the handshake failed
                self.error = e
                self._on_up()
            self._dispatch(callbacks)
            self._flush()

    def _wait_s(self, cap_s: float) -> float:
        """How long the driver may wait for bytes before the link's next timer."""
        with self.lock:
            d = self.link.deadline()
        return cap_s if d is None else min(cap_s, max(0.0, d - time.monotonic()))

    def no_handshake(self, timeout_s: float) -> LinkTimeout:
        """The error for a peer that did not complete HELLO within ``timeout_s``:
        silent, or talking something that is not the host link."""
        if self.bytes_in:
            return LinkTimeout(
                "%s is not a diagbridge gateway (no handshake within %.1f s: it sent %d bytes "
                "that are not host-link frames; check the address, port and link speed)"
                % (self.url, timeout_s, self.bytes_in))
        return LinkTimeout("no answer from a diagbridge gateway at %s within %.1f s: is it "
                           "running, and is the link speed right?" % (self.url, timeout_s))

    # ---- requests -------------------------------------------------------------------
    def submit(self, kind: int, body: Optional[dict], inbox: Any) -> Call:
        """Send a request; the Call's inbox gets its events and _DONE."""
        self._check_caller()
        call = Call(kind, inbox)
        with self.lock:
            self._check_up()
            call.req_id = self.link.request(time.monotonic(), kind, body)
            self._calls[call.req_id] = call
            self._flush()
        return call

    def _check_caller(self) -> None:
        """Raise UsageError where a request must not be made (driver's rule)."""

    def forget(self, call: Call) -> None:
        """The caller gave up waiting (timeout): a late answer is ignored."""
        with self.lock:
            self._calls.pop(call.req_id, None)

    def _check_up(self) -> None:
        if self.error is not None:
            raise self.error
        if self.lost is not None:
            raise LinkError("the link to the gateway is lost (%s): connect again" % self.lost)
        if not self._running:
            raise LinkError("the connection is closed")

    # ---- events ---------------------------------------------------------------------
    def subscribe(self, stream: Any, kinds: Optional[tuple]) -> None:
        with self.lock:
            self._streams.append((stream, kinds))
            if self.lost is not None:
                stream.put(_Slot(E.LinkLost(self.lost), 0, -1))

    def unsubscribe(self, stream: Any) -> None:
        with self.lock:
            self._streams = [s for s in self._streams if s[0] is not stream]

    def add_callback(self, fn: Callable, kinds: Optional[tuple]) -> None:
        with self.lock:
            self._callbacks.append((fn, kinds))

    def remove_callback(self, fn: Callable) -> None:
        with self.lock:
            self._callbacks = [c for c in self._callbacks if c[0] is not fn]

    def consumed(self, slot: _Slot) -> None:
        """A stream took a slot: the last taker returns the event's credit."""
        with self.lock:
            slot.refs -= 1
            if slot.refs == 0 and slot.epoch == self._epoch and self.lost is None:
                self.link.return_credits(1)
                self._flush()

    def _run_callbacks(self, callbacks: list) -> None:
        """Outside the lock: each (fns, event, credit); credits of events
        only callbacks wanted return once the callbacks ran."""
        credits = 0
        for fns, ev, credit in callbacks:
            for fn in fns:
                try:
                    fn(ev)
                except Exception:               # noqa: BLE001 (a user callback)
                    log.exception("event callback %r failed", fn)
            credits += credit
        if credits:
            with self.lock:
                if self.lost is None:
                    self.link.return_credits(credits)
                    self._flush()

    # ---- dispatch (under the lock, in the reader thread) ------------------------------
    def _dispatch(self, callbacks: list) -> None:
        link = self.link
        while (ev := link.next_event()) is not None:
            if isinstance(ev, Response):
                call = self._calls.pop(ev.req_id, None)
                if call is None:
                    log.debug("late answer to request %d ignored", ev.req_id)
                else:
                    self._finish(call, ev, None)
            elif isinstance(ev, GatewayEvent):
                obj = E.convert(ev.kind, ev.body, self.clock)
                ref = getattr(obj, "ref", None)
                call = self._calls.get(ref) if ref else None
                if call is not None and ev.kind in (P.MSG_EV_PROGRESS, P.MSG_EV_STATE,
                                                    P.MSG_EV_UDS):
                    call.inbox.put(obj)
                    link.return_credits(1)
                else:
                    self._deliver(obj, ev.kind, callbacks)
            elif isinstance(ev, Dropped):
                rep = E.drop_report(ev.counts)
                self._deliver(rep, P.MSG_EV_DROPPED, callbacks)
            elif isinstance(ev, RequestFailed):
                call = self._calls.pop(ev.req_id, None)
                if call is not None:
                    self._finish(call, None, error_for(ev.code, ev.text,
                                                       E.kind_name(ev.kind) + " request"))
            elif isinstance(ev, LinkUp):
                self._on_up()
            elif isinstance(ev, GatewayError):
                log.warning("gateway error: %s", ev.text)
                self._deliver(E.GatewayErrorEvent(ev.code, E.text_of(ev.text)), P.MSG_EV_ERROR,
                              callbacks, 0)
            elif isinstance(ev, LinkLost):
                self._lose_locked(ev.reason, callbacks)

    def _deliver(self, obj: Any, kind: int, callbacks: list, costs: int = 1) -> None:
        """To every stream and callback that wants `kind`; the event's credit
        (`costs`: 0 for an ERROR, which costs none) returns now if nobody
        wants it, else when the last stream took it or the callbacks ran."""
        wants = [s for s, kinds in self._streams if kinds is None or kind in kinds]
        fns = [fn for fn, kinds in self._callbacks if kinds is None or kind in kinds]
        if fns:
            callbacks.append((fns, obj, 0 if wants else costs))
        if wants:
            slot = _Slot(obj, len(wants), self._epoch if costs else -1)
            for s in wants:
                s.put(slot)
        elif not fns and costs:
            self.link.return_credits(costs)

    def _finish(self, call: Call, rsp: Any, err: Any) -> None:
        call.response = rsp
        call.error = err
        call.done = True
        call.inbox.put(_DONE)

    def _fail_all(self, why: str) -> None:
        with self.lock:
            calls, self._calls = self._calls, {}
            for call in calls.values():
                self._finish(call, None, LinkError("%s request: %s" % (
                    E.kind_name(call.kind), why)))

    def _lose(self, reason: str) -> None:
        callbacks: list = []
        with self.lock:
            self._lose_locked(reason, callbacks)
        self._run_callbacks(callbacks)

    def _lose_locked(self, reason: str, callbacks: list) -> None:
        if self.lost is not None:
            return
        self.lost = reason
        if not self.up.is_set() and self.error is None:
            self.error = self.link.error or LinkError(
                "no link to the gateway at %s: %s" % (self.url, reason))
        self._on_up()
        if self._running:
            log.warning("link to %s lost: %s", self.url, reason)
        self._fail_all("link lost (%s)" % reason)
        lost = E.LinkLost(reason)
        for s, _kinds in self._streams:
            s.put(_Slot(lost, 0, -1))
        if self._callbacks:
            callbacks.append(([fn for fn, _k in self._callbacks], lost, 0))


class Engine(LinkCore):
    """LinkCore driven by threads: a reader thread waits for bytes and the
    link's timers and dispatches; a writer thread sends, so a slow transport
    never stalls the reader."""

    def __init__(self, transport: Transport, link: HostLink) -> None:
        super().__init__(transport.url, link)
        self.transport = transport
        self._out: queue.Queue = queue.Queue()
        self._reader = threading.Thread(target=self._read_loop, daemon=True,
                                        name="diagbridge-rx %s" % transport.url)
        self._writer = threading.Thread(target=self._write_loop, daemon=True,
                                        name="diagbridge-tx %s" % transport.url)

    # ---- lifecycle ------------------------------------------------------------------
    def start(self) -> None:
        self._begin()
        self._reader.start()
        self._writer.start()

    def close(self) -> None:
        with self.lock:
            if not self._running:
                return
            if self.lost is None:
                self.link.close(time.monotonic())
                self._flush()
        self._out.put(None)                 # the writer sends BYE, then stops
        if threading.current_thread() is not self._writer:
            self._writer.join(2.0)
        self._running = False
        self.transport.close()
        if threading.current_thread() is not self._reader:
            self._reader.join(2.0)
        self._fail_all("the connection was closed")

    def _check_caller(self) -> None:
        if threading.current_thread() is self._reader:
            raise UsageError("do not send requests from an event callback: it runs in the "
                             "link's reader thread (hand the work to another thread)")

    # ---- the threads ------------------------------------------------------------------
    def _read_loop(self) -> None:
        tr = self.transport
        while self._running:
            wait = self._wait_s(_POLL_S)
            try:
                data = tr.read(wait)
            except LinkError as e:
                if self._running:
                    self._lose(str(e))
                return
            callbacks: list = []
            self._receive(data, callbacks)
            self._run_callbacks(callbacks)

    def _write_loop(self) -> None:
        while True:
            data = self._out.get()
            if data is None:
                return
            try:
                self.transport.write(data)
            except LinkError as e:
                if self._running:
                    self._lose(str(e))
                return

    def _flush(self) -> None:
        data = self.link.data_to_send()
        if data:
            self._out.put(data)
