"""UDS tester over a CAN-TP channel, blocking API (CPython).

The facade drives the core machines (``diagbridge.uds.client.core.UdsClient``,
``diagbridge.uds.client.flash.Flasher``): it moves PDUs between them and a
``CanTpChannel`` (``diagbridge.cpy.cantp.blocking``) and sleeps until their
``deadline()``.  P2/P2*, 0x78 handling, response matching and the S3
keep-alive are the core's, exactly as on a board or in the simulation::

    with open_channel(bus, tx_id=0x7E0, rx_id=0x7E8, func_tx_id=0x7DF) as tp:
        uds = UdsClient(tp, registry=DidRegistry.from_profile(profile))
        uds.session_control(3)
        rsp = uds.read_data((0xF190, 0x0100))     # Response
        rsp.value                                  # {0xF190: "W0L...", 0x0100: 3400}
        if rsp.nrc is not None: ...                # or rsp.raise_for_nrc()
        report = uds.flash(image, FlashConfig(0x10000, key_fn=...), progress=print)

Timeouts are seconds (floats) for humans; the core gets them in ms.  An NRC
is data (``Response.nrc`` / ``nrc_name``); ``UdsTimeout`` (a ``TimeoutError``)
is raised for A_TIMEOUT_P2 only when ``raise_on_timeout`` is set, otherwise
``Response.result`` says so.  Thread-safe: one request at a time (a lock);
a daemon thread sends the keep-alive while the tester is idle.
"""
from __future__ import annotations

import binascii
import logging
import queue
import threading
import zlib
from typing import Any, Callable, Dict, Sequence

from diagbridge.clock import ticks_diff
from diagbridge.codes import OK, N_ERROR, A_NEGATIVE_RESPONSE, A_TIMEOUT_P2, code_name
from diagbridge.errors import DiagbridgeError
from diagbridge.uds.client import api
from diagbridge.uds.client.core import (UdsClient as CoreClient, UdsClientConfig, EV_DONE,
                                   EV_UNEXPECTED, EV_KEEPALIVE_FAILED)
from diagbridge.link.proto import flash_step_name
from diagbridge.uds.client.flash import Flasher, FlashConfig, EV_PROGRESS, EV_DONE as FLASH_DONE
from diagbridge.uds.client.functional import (FunctionalQuery, FunctionalConfig,
                                              EV_DONE as FQ_DONE, ANS_NONE, ANS_POSITIVE,
                                              ANS_NEGATIVE)
from diagbridge.uds.nrc_names import nrc_name, nrc_text
from diagbridge.cpy.cantp.base import TransportError
from diagbridge.cpy.clock import now_us
from diagbridge.cpy.uds.image import ImageReader, ImageSource, as_image

log = logging.getLogger(__name__)

__all__ = ["UdsClient", "Response", "FlashReport", "NegativeResponseError", "UdsTimeout",
           "client_config"]


class NegativeResponseError(DiagbridgeError):
    def __init__(self, response: Response) -> None:
        super().__init__("0x%02X: negative response 0x%02X %s (%s)"
                         % (response.sid, response.nrc, response.nrc_text, response.nrc_name))
        self.response = response
        self.nrc = response.nrc


class UdsTimeout(DiagbridgeError, TimeoutError):
    pass


class Response:
    """One request's outcome: result (core code) + name, nrc/nrc_name/nrc_text (None
    if positive), data (the positive response bytes), value (decoded by
    diagbridge.uds.client.api.decode), pending (0x78 count)."""
    __slots__ = ("request", "sid", "result", "nrc", "data", "value", "pending")

    def __init__(self, request: bytes, result: int, nrc: int | None, data: bytes, value: Any,
                 pending: int) -> None:
        self.request = request
        self.sid = request[0]
        self.result = result
        self.nrc = nrc
        self.data = data
        self.value = value
        self.pending = pending

    @property
    def ok(self) -> bool:
        return self.result == OK

    @property
    def result_name(self) -> str:
        return code_name(self.result)

    @property
    def nrc_name(self) -> str | None:
        """The NRC's mnemonic, ISO 14229-1 Annex A.1 ("ROOR"); None if positive."""
        return None if self.nrc is None else nrc_name(self.nrc)

    @property
    def nrc_text(self) -> str | None:
        """The NRC's name, ISO 14229-1 Annex A.1 ("requestOutOfRange")."""
        return None if self.nrc is None else nrc_text(self.nrc)

    def raise_for_nrc(self) -> Response:
        if self.nrc is not None:
            raise NegativeResponseError(self)
        return self

    def __repr__(self) -> str:
        if self.nrc is not None:
            return "Response(0x%02X NRC 0x%02X %s)" % (self.sid, self.nrc, self.nrc_text)
        return "Response(0x%02X %s %r)" % (self.sid, self.result_name, self.value)


class FlashReport:
    """What a flash did (the core Flasher's report attributes)."""

    def __init__(self, f: Flasher) -> None:
        self.result = f.result
        self.result_name = code_name(f.result)
        self.nrc = f.nrc or None
        self.failed_step = flash_step_name(f.failed_step) if f.result != OK else None
        self.bytes = f.done_bytes
        self.total = f.total
        self.blocks = f.blocks
        self.block_len = f.block_len
        self.repeats = f.repeats
        self.pending = f.pending
        self.crc_image = f.crc_image
        self.crc_readback = f.crc_readback
        self.checksum = f.checksum
        self.verified = f.verified
        self.elapsed_s = f.elapsed_us / 1e6
        self.rate_bps = f.rate_bps

    @property
    def ok(self) -> bool:
        return self.result == OK

    def __repr__(self) -> str:
        return ("FlashReport(%s %d/%d bytes, %d blocks of %d, %d repeats, %.2f s, crc32 %08X/%s%s)"
                % (self.result_name, self.bytes, self.total, self.blocks, self.block_len,
                   self.repeats, self.elapsed_s, self.crc_image,
                   "%08X" % self.crc_readback if self.crc_readback >= 0 else "-",
                   "" if self.ok else " failed at %s" % self.failed_step))


def client_config(p2_timeout: float = 0.15, p2star_timeout: float = 5.1, max_pending: int = 0,
                  keepalive: bool = True, keepalive_period: float = 2.0,
                  keepalive_functional: bool = False, adopt_timing: bool = True,
                  max_pdu: int = 4095) -> UdsClientConfig:
    """The core's UdsClientConfig from seconds."""
    return UdsClientConfig(p2_client_ms=int(round(p2_timeout * 1000)),
                           p2star_client_ms=int(round(p2star_timeout * 1000)),
                           adopt_timing=adopt_timing, max_pending=max_pending, max_pdu=max_pdu,
                           keepalive=keepalive,
                           keepalive_period_ms=int(round(keepalive_period * 1000)),
                           keepalive_functional=keepalive_functional)


# Typed services: method name -> request builder of diagbridge.uds.client.api.
TYPED = ("session_control", "ecu_reset", "request_seed", "send_key", "communication_control",
         "tester_present", "control_dtc_setting", "read_data", "read_scaling", "read_memory",
         "write_memory", "clear_dtc", "read_dtc", "response_on_event", "routine",
         "start_routine", "stop_routine", "routine_results", "erase_memory",
         "request_download", "request_upload", "transfer_data", "transfer_exit",
         "file_transfer", "io_control", "read_periodic", "define_did", "define_did_by_memory",
         "clear_did", "secured", "link_control")


def _typed(name: str) -> Callable[..., Response]:
    build = getattr(api, name)

    def method(self: UdsClient, *args: Any, **kw: Any) -> Response:
        return self.request(build(*args, **kw))
    method.__name__ = name
    method.__doc__ = "Send api.%s(...) and return the Response.\n\n%s" % (
        name, build.__doc__ or "")
    return method


class ZlibCrc32:
    """The core ``Crc32``'s verbs over ``zlib.crc32`` (C speed on CPython);
    the facades hand it to the ``Flasher``."""
    __slots__ = ("_v",)

    def __init__(self) -> None:
        self._v = 0

    def reset(self) -> None:
        self._v = 0

    def update(self, data: bytes | bytearray | memoryview | ImageReader, off: int,
               count: int) -> None:
        self._v = zlib.crc32(_view(data, off, count), self._v)

    def value(self) -> int:
        return self._v


def crc16_ccitt_c(data: bytes | bytearray | memoryview | ImageReader, off: int,
                  count: int) -> int:
    """CRC-16/CCITT-FALSE by ``binascii.crc_hqx`` (the core's crc16_ccitt);
    of a whole ``ImageReader``, the one it computed as its blocks went by."""
    if data.__class__ is ImageReader and off == 0 and count == len(data):
        return data.crc16()
    return binascii.crc_hqx(_view(data, off, count), 0xFFFF)


def _view(data: bytes | bytearray | memoryview | ImageReader, off: int,
          count: int) -> bytes | memoryview:
    if data.__class__ is ImageReader:
        return data[off:off + count]
    return memoryview(data)[off:off + count]


class _Base:
    """Shared by the blocking and the asyncio facades: the core objects."""

    def _init(self, tp: Any, config: UdsClientConfig | None, registry: api.DidRegistry | None,
              raise_on_timeout: bool, p2_timeout: float, p2star_timeout: float,
              max_pending: int, keepalive: bool, keepalive_period: float) -> None:
        if config is None:
            config = client_config(p2_timeout, p2star_timeout, max_pending, keepalive,
                                   keepalive_period)
        self.tp = tp
        self.core = CoreClient(config)
        self.registry = registry if registry is not None else api.DidRegistry()
        self.raise_on_timeout = raise_on_timeout
        self._buf = bytearray(config.max_pdu)
        self._done = False
        self._progress: Callable[[int, int, int], None] | None = None
        self.unexpected = 0
        # our CAN-TP fronts skip a failed reception unless asked: the machine needs it
        self._rx_kw = {"raise_rx_errors": True} if hasattr(tp, "rx_errors") else {}

    def _on_event(self, machine: CoreClient | Flasher, ev: int) -> None:
        core = self.core
        if machine is core:
            if ev == EV_DONE:
                self._done = True
            elif ev == EV_UNEXPECTED:
                self.unexpected += 1
                log.info("unexpected response %s", bytes(core.stray[:core.stray_len]).hex())
            elif ev == EV_KEEPALIVE_FAILED:
                log.warning("keep-alive failed: %s", code_name(core.ka_result))
        else:
            if ev == FLASH_DONE:
                self._done = True
            elif ev == EV_PROGRESS and self._progress is not None:
                self._progress(machine.done_bytes, machine.total, machine.rate_bps)

    def _response(self, req: bytes) -> Response:
        c = self.core
        result = c.result
        if result == OK:
            data = bytes(c.payload[:c.length])
            value = api.decode(req, data, len(data), self.registry) if data else None
            rsp = Response(req, OK, None, data, value, c.pending)
        else:
            rsp = Response(req, result, c.nrc if result == A_NEGATIVE_RESPONSE else None,
                           b"", None, c.pending)
            if result == A_TIMEOUT_P2 and self.raise_on_timeout:
                raise UdsTimeout("0x%02X: no response within P2/P2*" % req[0])
        return rsp

    @staticmethod
    def _timeout(machine: Any) -> float | None:
        d = machine.deadline()
        if d is None:
            return None
        dt = ticks_diff(d, now_us())
        return dt / 1e6 if dt > 0 else 0.0


class UdsClient(_Base):
    """Blocking UDS tester over a ``CanTpChannel``."""

    def __init__(self, tp: Any, *, config: UdsClientConfig | None = None,
                 registry: api.DidRegistry | None = None, raise_on_timeout: bool = False,
                 p2_timeout: float = 0.15, p2star_timeout: float = 5.1, max_pending: int = 0,
                 keepalive: bool = True, keepalive_period: float = 2.0) -> None:
        self._init(tp, config, registry, raise_on_timeout, p2_timeout, p2star_timeout,
                   max_pending, keepalive, keepalive_period)
        self._lock = threading.RLock()
        self._closed = False
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._idle_loop, name="uds-keepalive",
                                        daemon=True)
        self._thread.start()

    # ---- requests -------------------------------------------------------------------
    def request(self, data: bytes | bytearray | memoryview, functional: bool = False) -> Response:
        """Send one request (bytes); the Response when the core finished it."""
        data = bytes(data)
        with self._lock:
            core = self.core
            core.request(now_us(), data, len(data), functional)
            self._run(core)
            rsp = self._response(data)
        self._wake.set()
        return rsp

    def unlock(self, level: int, key_fn: Callable[[int, bytes], bytes]) -> Response:
        """SecurityAccess: requestSeed `level`, key_fn(level, seed) -> key,
        sendKey (skipped when the seed is all zero: already unlocked).  The
        Response of the last request sent."""
        rsp = self.request_seed(level)
        if not rsp.ok or not any(rsp.value or b""):
            return rsp
        return self.send_key(level, key_fn(level, rsp.value))

    def read_did(self, did: int) -> Any:
        """One DID's decoded value (NegativeResponseError on an NRC)."""
        rsp = self.read_data(did).raise_for_nrc()
        if not rsp.ok:
            raise UdsTimeout("0x22: %s" % rsp.result_name)
        return rsp.value[did]

    def write_data(self, did: int, value: Any) -> Response:
        return self.request(api.write_data(did, value, self.registry))

    def functional(self, request: bytes | bytearray | memoryview, responders: Sequence = (),
                   window_ms: int = 150,
                   p2star_ms: int = 5100, max_pending: int = 0,
                   max_answer: int = 4095) -> Dict[int, Response]:
        """Send ``request`` once to the functional address (``self.tp``'s
        ``func_tx_id``; a single frame) and collect every ECU's answer
        (ISO 14229-1 §8.7.5, the core's ``FunctionalQuery``).

        ``responders``: the physical channels the ECUs answer on (on the
        same bus loop; ``self.tp`` is one of them unless absent from the
        list and the list is not empty).  The window is ``window_ms`` from
        the request's confirmation; an ECU that answered 0x78 inside it is
        waited for up to ``p2star_ms`` after each 0x78, one whose segmented
        answer began inside it until its transfer ends.  Returns
        ``{rx_id: Response}`` for each ECU that answered (positive, NRC, or
        a lost segmented answer with its N_* result); silent ECUs are
        absent.  Answers beyond ``max_answer`` bytes are truncated."""
        chans = list(responders) or [self.tp]
        req = bytes(request)
        q = FunctionalQuery(len(chans), FunctionalConfig(
            p2_client_ms=window_ms, p2star_client_ms=p2star_ms, max_pending=max_pending,
            max_answer=max_answer, max_request=62))
        inbox = queue.SimpleQueue()
        with self._lock:
            q.request(now_us(), req, len(req))
            n = q.pop_pdu(self._buf)
            diverted = []
            try:
                for i, ch in enumerate(chans):
                    ch._divert(lambda item, i=i: inbox.put((i, item)),
                               lambda length, i=i: inbox.put((i, True)))
                    diverted.append(ch)
                try:
                    self.tp.send(self._buf[:n], functional=True)
                    q.sent(now_us())
                except TransportError as e:
                    if e.result is None:
                        raise
                    q.sent(now_us(), e.result)
                while q.poll() != FQ_DONE:
                    try:
                        i, item = inbox.get(True, self._timeout(q))
                    except queue.Empty:
                        q.on_timer(now_us())
                        continue
                    if item is True:
                        q.rx_started(now_us(), i)
                    elif item is None:
                        raise TransportError("channel closed")
                    elif isinstance(item, TransportError):
                        if item.result is None:
                            raise item
                        q.rx_failed(now_us(), i, item.result)
                    else:
                        q.feed_pdu(now_us(), i, item.data, len(item.data))
            finally:
                for ch in diverted:
                    ch._divert(None, None)
        self._wake.set()
        out = {}
        for i, ch in enumerate(chans):
            st = q.status(i)
            if st == ANS_NONE:
                continue
            if st == ANS_POSITIVE:
                data = bytes(q.answer(i))
                value = api.decode(req, data, len(data), self.registry) if data else None
                rsp = Response(req, OK, None, data, value, q.pending_count(i))
            elif st == ANS_NEGATIVE:
                rsp = Response(req, A_NEGATIVE_RESPONSE, q.nrc(i), b"", None,
                               q.pending_count(i))
            else:
                rsp = Response(req, q.result(i), None, b"", None, q.pending_count(i))
            out[ch.address.rx_id] = rsp
        return out

    def flash(self, image: bytes | bytearray | memoryview | ImageSource, cfg: FlashConfig,
              progress: Callable[[int, int, int], None] | None = None,
              size: int | None = None) -> FlashReport:
        """Run the core Flasher over this link; progress(done, total, rate_bps).

        ``image``: bytes, or a path, a file-like object or an iterable of
        chunks (``size`` bytes; read block by block: ``cpy.uds.image``)."""
        image = as_image(image, size)
        with self._lock:
            f = Flasher(image, cfg, client=self.core, crc32=ZlibCrc32, crc16=crc16_ccitt_c)
            self._progress = progress
            try:
                f.start(now_us())
                self._run(f)
            finally:
                self._progress = None
        self._wake.set()
        return FlashReport(f)

    # ---- the runner loop --------------------------------------------------------------
    def _run(self, machine: CoreClient | Flasher) -> None:
        """Move PDUs and time for `machine` until it reports done: in the
        channel's I/O thread when it can (``CanTpChannel.run_machine``: no
        hand-over per request), else here through send/recv."""
        try:
            self._run_loop(machine)
        except BaseException:
            self.core.cancel()          # the next request starts clean
            raise

    def _run_loop(self, machine: CoreClient | Flasher) -> None:
        self._done = False
        tp = self.tp
        run = getattr(tp, "run_machine", None)
        if run is not None:
            run(machine, self._on_event, self._is_done, len(self._buf))
            return
        buf = self._buf
        while True:
            ev = machine.poll()
            while ev:
                self._on_event(machine, ev)
                ev = machine.poll()
            n = machine.pop_pdu(buf)
            if n:
                try:
                    tp.send(buf[:n], functional=machine.tx_functional)
                    machine.sent(now_us())
                except TransportError as e:
                    machine.sent(now_us(), e.result if e.result else N_ERROR)
                continue
            if self._done:
                return
            try:
                pdu = tp.recv(self._timeout(machine), **self._rx_kw)
            except TransportError as e:
                if e.result is None:
                    raise
                machine.rx_failed(now_us(), e.result)
                continue
            if pdu is not None:
                machine.feed_pdu(now_us(), pdu, len(pdu))
            else:
                machine.on_timer(now_us())

    def _is_done(self) -> bool:
        return self._done

    def _idle_loop(self) -> None:
        """Between requests: fire the core's timers (keep-alive) on time."""
        while not self._closed:
            with self._lock:
                t = self._timeout(self.core)
            self._wake.wait(t)
            self._wake.clear()
            if self._closed:
                return
            with self._lock:
                core = self.core
                if core.busy():
                    continue
                core.on_timer(now_us())
                self._pump_idle(core)

    def _pump_idle(self, core: CoreClient) -> None:
        ev = core.poll()
        while ev:
            self._on_event(core, ev)
            ev = core.poll()
        n = core.pop_pdu(self._buf)
        while n:
            try:
                self.tp.send(self._buf[:n], functional=core.tx_functional)
                core.sent(now_us())
            except TransportError as e:
                core.sent(now_us(), e.result if e.result else N_ERROR)
            n = core.pop_pdu(self._buf)
        # an unsuppressed keep-alive answer, or strays: drain what is there
        while True:
            try:
                pdu = self.tp.recv(0)
            except TransportError:
                break
            if pdu is None:
                break
            core.feed_pdu(now_us(), pdu, len(pdu))
        ev = core.poll()
        while ev:
            self._on_event(core, ev)
            ev = core.poll()

    def close(self) -> None:
        """Stop the keep-alive thread (the channel stays open)."""
        self._closed = True
        self._wake.set()
        if self._thread is not threading.current_thread():
            self._thread.join(2.0)

    def __enter__(self) -> UdsClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


for _name in TYPED:
    setattr(UdsClient, _name, _typed(_name))
