"""UDS tester over a CAN-TP channel, asyncio API (CPython).

The same core machines and the same behaviour as ``diagbridge.cpy.uds.client``
(see there), over an ``AsyncCanTpChannel`` (``diagbridge.cpy.cantp.aio``)::

    async with AsyncCanTpBus(bus) as tpbus:
        uds = AsyncUdsClient(tpbus.open(tx_id=0x7E0, rx_id=0x7E8))
        rsp = await uds.read_data(0xF190)
        report = await uds.flash(image, cfg, progress=print)
        await uds.close()

One request at a time (an asyncio.Lock); a task sends the keep-alive while
the tester is idle.  Timeouts in seconds.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Any, Callable, Coroutine

from diagbridge.codes import N_ERROR
from diagbridge.uds.client import api
from diagbridge.uds.client.core import UdsClient as CoreClient, UdsClientConfig
from diagbridge.uds.client.flash import Flasher, FlashConfig
from diagbridge.cpy.cantp.base import TransportError
from diagbridge.cpy.clock import now_us
from diagbridge.cpy.uds.image import ImageSource, as_image
from diagbridge.cpy.uds.client import (_Base, TYPED, FlashReport, Response, UdsTimeout,
                                       NegativeResponseError, client_config, ZlibCrc32,
                                       crc16_ccitt_c)

log = logging.getLogger(__name__)

__all__ = ["AsyncUdsClient", "Response", "FlashReport", "UdsTimeout", "NegativeResponseError",
           "client_config"]


def _typed(name: str) -> Callable[..., Coroutine[Any, Any, Response]]:
    build = getattr(api, name)

    async def method(self: AsyncUdsClient, *args: Any, **kw: Any) -> Response:
        return await self.request(build(*args, **kw))
    method.__name__ = name
    method.__doc__ = "Send api.%s(...) and return the Response." % name
    return method


class AsyncUdsClient(_Base):
    """asyncio UDS tester; make it inside a running event loop."""

    def __init__(self, tp: Any, *, config: UdsClientConfig | None = None,
                 registry: api.DidRegistry | None = None, raise_on_timeout: bool = False,
                 p2_timeout: float = 0.15, p2star_timeout: float = 5.1, max_pending: int = 0,
                 keepalive: bool = True, keepalive_period: float = 2.0) -> None:
        self._init(tp, config, registry, raise_on_timeout, p2_timeout, p2star_timeout,
                   max_pending, keepalive, keepalive_period)
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._closed = False
        self._task = asyncio.get_running_loop().create_task(self._idle_loop())

    async def request(self, data: bytes | bytearray | memoryview,
                      functional: bool = False) -> Response:
        data = bytes(data)
        async with self._lock:
            core = self.core
            core.request(now_us(), data, len(data), functional)
            await self._run(core)
            rsp = self._response(data)
        self._wake.set()
        return rsp

    async def unlock(self, level: int, key_fn: Callable[[int, bytes], bytes]) -> Response:
        rsp = await self.request_seed(level)
        if not rsp.ok or not any(rsp.value or b""):
            return rsp
        return await self.send_key(level, key_fn(level, rsp.value))

    async def read_did(self, did: int) -> Any:
        rsp = (await self.read_data(did)).raise_for_nrc()
        if not rsp.ok:
            raise UdsTimeout("0x22: %s" % rsp.result_name)
        return rsp.value[did]

    async def write_data(self, did: int, value: Any) -> Response:
        return await self.request(api.write_data(did, value, self.registry))

    async def flash(self, image: bytes | bytearray | memoryview | ImageSource, cfg: FlashConfig,
                    progress: Callable[[int, int, int], None] | None = None,
                    size: int | None = None) -> FlashReport:
        """As ``UdsClient.flash`` (``image``: bytes, a path, a file-like
        object or an iterable of chunks, read block by block)."""
        image = as_image(image, size)
        async with self._lock:
            f = Flasher(image, cfg, client=self.core, crc32=ZlibCrc32, crc16=crc16_ccitt_c)
            self._progress = progress
            try:
                f.start(now_us())
                await self._run(f)
            finally:
                self._progress = None
        self._wake.set()
        return FlashReport(f)

    async def _send(self, machine: CoreClient | Flasher, n: int) -> None:
        try:
            await self.tp.send(self._buf[:n], functional=machine.tx_functional)
            machine.sent(now_us())
        except TransportError as e:
            machine.sent(now_us(), e.result if e.result else N_ERROR)

    async def _run(self, machine: CoreClient | Flasher) -> None:
        self._done = False
        tp = self.tp
        # P2 stops at a segmented response's first frame (ISO 14229-2 §6.3);
        # the hook runs in this event loop, between our awaits
        hooked = hasattr(tp, "on_first_frame")
        if hooked:
            tp.on_first_frame = lambda length: machine.rx_started(now_us())
        try:
            await self._run_loop(machine, tp)
        finally:
            if hooked:
                tp.on_first_frame = None

    async def _run_loop(self, machine: CoreClient | Flasher, tp: Any) -> None:
        while True:
            ev = machine.poll()
            while ev:
                self._on_event(machine, ev)
                ev = machine.poll()
            n = machine.pop_pdu(self._buf)
            if n:
                await self._send(machine, n)
                continue
            if self._done:
                return
            try:
                pdu = await tp.recv(self._timeout(machine), **self._rx_kw)
            except TransportError as e:
                if e.result is None:
                    raise
                machine.rx_failed(now_us(), e.result)
                continue
            if pdu is not None:
                machine.feed_pdu(now_us(), pdu, len(pdu))
            else:
                machine.on_timer(now_us())

    async def _idle_loop(self) -> None:
        while not self._closed:
            t = self._timeout(self.core)
            try:
                await asyncio.wait_for(self._wake.wait(), t)
            except asyncio.TimeoutError:
                pass
            self._wake.clear()
            if self._closed:
                return
            async with self._lock:
                core = self.core
                if core.busy():
                    continue
                core.on_timer(now_us())
                ev = core.poll()
                while ev:
                    self._on_event(core, ev)
                    ev = core.poll()
                n = core.pop_pdu(self._buf)
                while n:
                    await self._send(core, n)
                    n = core.pop_pdu(self._buf)

    async def close(self) -> None:
        """Stop the keep-alive task (the channel stays open)."""
        self._closed = True
        self._wake.set()
        try:
            await self._task
        except asyncio.CancelledError:
            pass

    async def __aenter__(self) -> AsyncUdsClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


for _name in TYPED:
    setattr(AsyncUdsClient, _name, _typed(_name))
