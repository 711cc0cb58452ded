"""UDS (ISO 14229-1) through the gateway: the gateway runs the tester with
its own exact timing (P2/P2*, 0x78, TesterPresent); this side sends PDUs
and reads answers as plain bytes.

    uds = conn.uds(bus=0, tx_id=0x7E0, rx_id=0x7E8)
    rsp = uds.request(b"\\x22\\xF1\\x90")      # UdsResponse: bytes + result/nrc
    if rsp.nrc is not None: ...              # NRCs are data; or rsp.raise_for_nrc()
    vin = uds.read_data_by_identifier(0xF190)          # bytes (raises on NRC)
    uds.unlock(3, lambda level, seed: my_key(seed))
    report = uds.flash(image, 0x8000, progress=print, security_level=3)

The typed helpers build and parse their layouts with the core's own codecs
(diagbridge.uds.codec: pure functions, the same the gateway's tester and the
ECU use); a caller's out-of-range argument raises UsageError.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Callable, Optional

from diagbridge.codes import OK, A_NEGATIVE_RESPONSE, code_name
from diagbridge.link import proto as P
from diagbridge.uds.codec import data as D
from diagbridge.uds.codec import dtc as DTC
from diagbridge.uds.codec import memory as M
from diagbridge.uds.codec import routine as R
from diagbridge.uds.codec import session as S
from diagbridge.uds.nrc_names import nrc_name, nrc_text

from diagbridge_host import events as E
from diagbridge_host.bodies import endpoint  # (re-exported: where the EP body is built)
from diagbridge_host.errors import (NegativeResponseError, UdsError, UdsTimeout, UsageError)


log = logging.getLogger(__name__)

__all__ = ["UdsClient", "UdsResponse", "FlashReport", "endpoint", "nrc_name", "nrc_text"]

_FLASH_CHUNK_OVERHEAD = 64      # msgpack keys and header of an OP_DATA request
_BUILD_MAX = 4095 + 16          # the largest classical CAN-TP message, and then some


def _build(fn: Any, *args: Any) -> bytes:
    """One request from a core codec builder (it writes into a buffer)."""
    out = bytearray(_BUILD_MAX)
    try:
        n = fn(out, *args)
    except IndexError:
        raise UsageError("request longer than %d bytes" % _BUILD_MAX) from None
    return bytes(out[:n])


def _uint(name: str, v: Any, k: int) -> int:
    if not isinstance(v, int) or isinstance(v, bool) or not 0 <= v < 1 << (8 * k):
        raise UsageError("%s must be an int in 0..0x%X" % (name, (1 << (8 * k)) - 1))
    return v


def _u8(name: str, v: Any) -> int:
    return _uint(name, v, 1)


def _u16(name: str, v: Any) -> int:
    return _uint(name, v, 2)


class UdsResponse(bytes):
    """The final response PDU (``7F SID NRC`` included) as bytes, plus how
    the request ended: ``result`` (a diagbridge.codes value: OK,
    A_NEGATIVE_RESPONSE, A_TIMEOUT_P2, N_* ...), ``nrc``, ``pending``
    (0x78 answers seen).  Empty when no response was expected (SPRMIB) or
    none came."""
    request: bytes
    result: int
    nrc: Optional[int]
    pending: int

    @classmethod
    def from_body(cls, request: bytes, body: dict) -> "UdsResponse":
        data = body.get(P.K_DATA) or b""
        r = cls(bytes(data))
        r.request = bytes(request)
        r.result = body.get(P.K_RESULT, OK)
        nrc = body.get(P.K_NRC)
        if nrc is None and r.result == A_NEGATIVE_RESPONSE and len(data) >= 3:
            nrc = data[2]
        r.nrc = nrc if r.result == A_NEGATIVE_RESPONSE else None
        r.pending = body.get(P.K_PENDING, 0) or 0
        return r

    @property
    def sid(self) -> int:
        return self.request[0] if self.request else 0

    @property
    def ok(self) -> bool:
        return self.result == OK

    @property
    def result_name(self) -> str:
        return code_name(self.result)

    @property
    def nrc_name(self) -> Optional[str]:
        """The NRC's mnemonic from ISO 14229-1 Annex A.1 ("ROOR"), None if positive."""
        return None if self.nrc is None else nrc_name(self.nrc)

    @property
    def nrc_text(self) -> Optional[str]:
        """The NRC's name from ISO 14229-1 Annex A.1 ("requestOutOfRange")."""
        return None if self.nrc is None else nrc_text(self.nrc)

    def raise_for_nrc(self) -> "UdsResponse":
        """Raise NegativeResponseError if the ECU said no; else self."""
        if self.nrc is not None:
            raise NegativeResponseError(self)
        return self

    def raise_for_result(self) -> "UdsResponse":
        """Raise unless positive: NegativeResponseError, UdsTimeout or UdsError."""
        self.raise_for_nrc()
        if self.result != OK:
            name = self.result_name
            exc = UdsTimeout if "TIMEOUT" in name else UdsError
            raise exc("0x%02X: %s (no positive response)" % (self.sid, name), self)
        return self

    def __repr__(self) -> str:
        if self.nrc is not None:
            return "UdsResponse(0x%02X NRC 0x%02X %s)" % (self.sid, self.nrc, self.nrc_text)
        return "UdsResponse(%s %s)" % (self.result_name, self.hex(" "))


@dataclass
class FlashReport:
    """How a REQ_FLASH job ended: ``result`` (a diagbridge.codes value),
    ``nrc``, ``steps`` seen, and the gateway's REPORT (bytes, blocks,
    elapsed_us, rate_bps, crc_image, failed_step ...)."""
    result: int
    nrc: Optional[int]
    report: dict
    steps: list

    @property
    def ok(self) -> bool:
        return self.result == OK

    @property
    def result_name(self) -> str:
        return code_name(self.result)

    def __getattr__(self, name: str) -> Any:
        try:
            return self.__dict__["report"][name]
        except KeyError:
            raise AttributeError(name) from None


class UdsClient:
    """A UDS tester on one gateway channel (``Connection.uds()``); ``conn`` is
    that Connection (typed Any: this module sits below connection.py)."""

    def __init__(self, conn: Any, channel: int, bus: int,
                 timeout_s: Optional[float] = None) -> None:
        self.conn = conn
        self.channel = channel
        self.bus = bus
        self.timeout_s = timeout_s
        self._closed = False

    @classmethod
    def open(cls, conn: Any, bus: int = 0, tx_id: Optional[int] = None,
             rx_id: Optional[int] = None, *, config: Optional[dict] = None,
             channel: Optional[int] = None, timeout_s: Optional[float] = None,
             **ep: Any) -> "UdsClient":
        """Open a channel (REQ_CHANNEL) and return its client; ``config`` holds
        UdsClientConfig fields ({"p2_client_ms": 150, ...})."""
        cid = conn.open_channel(endpoint(bus, tx_id=tx_id, rx_id=rx_id, **ep),
                                channel=channel, uds_config=config)
        return cls(conn, cid, bus, timeout_s)

    def close(self) -> None:
        """Close the gateway channel (idempotent)."""
        if not self._closed:
            self._closed = True
            self.conn.close_channel(self.channel)

    def __enter__(self) -> "UdsClient":
        return self

    def __exit__(self, *exc: Any) -> None:
        try:
            self.close()
        except Exception:           # noqa: BLE001 (the link may be gone already)
            pass

    # ---- raw PDUs ----------------------------------------------------------------------
    def request(self, data: bytes, *, timeout_s: Optional[float] = None,
                ecu_timeout_ms: Optional[int] = None) -> UdsResponse:
        """Send one request PDU; the final response (bytes with result/nrc).

        ``ecu_timeout_ms``: how long the gateway waits for this ECU's answer,
        for this request alone (its P2, and at least that long after each
        0x78), e.g. a routine that runs for seconds without 0x78; default:
        the session's P2/P2*.  ``timeout_s``: how long this host waits for
        the gateway (stretched to cover ``ecu_timeout_ms``)."""
        body = {P.K_CHANNEL: self.channel, P.K_DATA: bytes(data)}
        wait = timeout_s if timeout_s is not None else self.timeout_s
        if ecu_timeout_ms is not None:
            if isinstance(ecu_timeout_ms, bool) or not isinstance(ecu_timeout_ms, int) \
                    or not 1 <= ecu_timeout_ms <= 600000:
                raise UsageError("ecu_timeout_ms must be 1..600000")
            body[P.K_TIMEOUT] = ecu_timeout_ms
            wait = max(wait or 0.0, ecu_timeout_ms / 1000 + 2.0)
        rsp = self.conn.request(P.MSG_REQ_UDS, body, timeout_s=wait)
        return UdsResponse.from_body(data, rsp)

    def request_functional(self, data: bytes, *,
                           timeout_s: Optional[float] = None) -> dict[int, UdsResponse]:
        """Send on this channel's functional address; {channel: answer} of
        every open channel of the bus that answered within the P2 window."""
        body = {P.K_CHANNEL: self.channel, P.K_DATA: bytes(data), P.K_FUNCTIONAL: True}
        rsp = self.conn.request(P.MSG_REQ_UDS, body,
                                timeout_s=timeout_s if timeout_s is not None else self.timeout_s)
        out = {}
        for ch, result, pdu in rsp.get(P.K_ANSWERS) or []:
            out[ch] = UdsResponse.from_body(data, {P.K_RESULT: result, P.K_DATA: pdu})
        return out

    def keepalive(self, on: bool = True, *, period_ms: Optional[int] = None,
                  suppress: bool = True, functional: bool = False) -> None:
        """Let the gateway send TesterPresent whenever the channel is quiet."""
        body = {P.K_CHANNEL: self.channel, P.K_ON: bool(on), P.K_SUPPRESS: bool(suppress),
                P.K_FUNCTIONAL: bool(functional)}
        if period_ms is not None:
            body[P.K_PERIOD_MS] = period_ms
        self.conn.request(P.MSG_REQ_KEEPALIVE, body)

    # ---- typed helpers ---------------------------------------------------------------
    def _positive(self, data: bytes, min_len: int) -> UdsResponse:
        rsp = self.request(data).raise_for_result()
        if len(rsp) < min_len:
            raise UdsError("0x%02X: response too short (%s)" % (data[0], rsp.hex(" ")), rsp)
        return rsp

    def change_session(self, session: int) -> UdsResponse:
        """DiagnosticSessionControl (0x10)."""
        return self.request(_build(S.build_dsc_request, _u8("session", session)))

    def ecu_reset(self, kind: int = 0x01) -> UdsResponse:
        """ECUReset (0x11): 1 hard, 2 key off/on, 3 soft."""
        return self.request(_build(S.build_ecu_reset_request, _u8("kind", kind)))

    def tester_present(self, suppress: bool = False) -> UdsResponse:
        """TesterPresent (0x3E); suppressed: no answer expected."""
        return self.request(_build(S.build_tester_present_request, bool(suppress)))

    def read_data_by_identifier(self, did: int) -> bytes:
        """ReadDataByIdentifier (0x22) of one DID: its raw value.
        Raises NegativeResponseError / UdsTimeout / UdsError."""
        rsp = self._positive(_build(D.build_rdbi_request, (_u16("did", did),)), 3)
        if rsp[1] != did >> 8 or rsp[2] != did & 0xFF:
            raise UdsError("0x22: answer for DID %02X%02X, asked %04X" % (rsp[1], rsp[2], did),
                           rsp)
        return bytes(rsp[3:])

    def write_data_by_identifier(self, did: int, value: bytes) -> UdsResponse:
        """WriteDataByIdentifier (0x2E)."""
        return self.request(_build(D.build_wdbi_request, _u16("did", did), bytes(value)))

    def read_dtc_by_status_mask(self, mask: int = 0xFF) -> list[tuple[int, int]]:
        """ReadDTCInformation (0x19 0x02): [(dtc code (24 bit), status), ...]."""
        rsp = self._positive(_build(DTC.build_read_dtc_request, DTC.SF_RDTCBSM,
                                    _u8("mask", mask)), 3)
        r = DTC.parse_read_dtc_response(rsp, len(rsp))
        if r is None or "dtcs" not in r:
            raise UdsError("0x19: malformed response (%s)" % rsp.hex(" "), rsp)
        return list(r["dtcs"])

    def clear_dtc(self, group: int = 0xFFFFFF) -> UdsResponse:
        """ClearDiagnosticInformation (0x14) of a DTC group (all by default)."""
        return self.request(_build(DTC.build_clear_dtc_request, _uint("group", group, 3)))

    def routine_control(self, sub_function: int, rid: int, data: bytes = b"") -> UdsResponse:
        """RoutineControl (0x31): 1 start, 2 stop, 3 request results."""
        return self.request(_build(R.build_routine_control_request, _u8("sub_function", sub_function),
                                   _u16("rid", rid), bytes(data)))

    def communication_control(self, control: int, comm_type: int = 0x01) -> UdsResponse:
        """CommunicationControl (0x28)."""
        return self.request(_build(S.build_comm_control_request, _u8("control", control),
                                   _u8("comm_type", comm_type)))

    def control_dtc_setting(self, on: bool) -> UdsResponse:
        """ControlDTCSetting (0x85): 1 on, 2 off."""
        return self.request(_build(S.build_control_dtc_setting_request,
                                   S.DTC_SETTING_ON if on else S.DTC_SETTING_OFF))

    def read_memory_by_address(self, address: int, size: int, addr_len: int = 4,
                               size_len: int = 2) -> bytes:
        """ReadMemoryByAddress (0x23): the bytes read."""
        if not (isinstance(addr_len, int) and 1 <= addr_len <= 15
                and isinstance(size_len, int) and 1 <= size_len <= 15):
            raise UsageError("addr_len and size_len must be 1..15")
        req = _build(M.build_rmba_request, _uint("address", address, addr_len),
                     _uint("size", size, size_len), addr_len, size_len)
        return bytes(self._positive(req, 1)[1:])

    def unlock(self, level: int, key_fn: Callable[[int, bytes], bytes]) -> UdsResponse:
        """SecurityAccess: requestSeed ``level`` (odd), ``key_fn(level, seed)``
        -> key, sendKey ``level + 1``.  An all-zero seed means unlocked
        already: no key is sent.  The last response (NRCs as data)."""
        if not isinstance(level, int) or not 1 <= level <= 0x7D or not level & 1:
            raise UsageError("level must be an odd requestSeed level 0x01..0x7D")
        rsp = self.request(_build(S.build_request_seed, level))
        if not rsp.ok or len(rsp) < 2:
            return rsp
        seed = bytes(rsp[2:])
        if not any(seed):
            return rsp
        return self.request(_build(S.build_send_key, level, bytes(key_fn(level, seed))))

    # ---- a whole programming job on the gateway ----------------------------------------
    def flash(self, image: bytes, address: int, *,
              progress: Optional[Callable[[int, int], None]] = None,
              on_step: Optional[Callable[[str], None]] = None,
              key_algorithm: str = "diagbridge1", secret: bytes = b"",
              timeout_s: float = 30.0, on_interrupt: Optional[Callable[[], bool]] = None,
              **flash_config: Any) -> FlashReport:
        """Program ``image`` at ``address`` with the gateway's flash job
        (REQ_FLASH: session, security, erase, download, transfer, verify,
        reset, with its own timing).  ``flash_config``: FlashConfig fields of
        the gateway (security_level=3, verify=1, block_max=...);
        ``progress(done, total)`` and ``on_step(name)`` run in this thread.
        ``timeout_s`` is the longest silence (no progress) tolerated.

        A Ctrl-C while the job runs asks ``on_interrupt()``: True lets the
        job go on (the answer is still awaited), False (or no
        ``on_interrupt``) aborts the job on the gateway (OP_ABORT) and
        re-raises KeyboardInterrupt: the ECU stays where the job stopped."""
        conn = self.conn
        job = conn.new_channel_id()
        cfg = dict(flash_config, address=address, key_algorithm=key_algorithm)
        if secret:
            cfg["secret"] = bytes(secret)
        conn.request(P.MSG_REQ_FLASH, {P.K_OP: P.OP_BEGIN, P.K_JOB: job,
                                       P.K_CHANNEL: self.channel, P.K_TOTAL: len(image),
                                       P.K_FLASH: cfg})
        steps: list = []

        def on_event(ev: Any) -> None:
            if isinstance(ev, E.Progress) and progress is not None:
                progress(ev.done, ev.total)
            elif isinstance(ev, E.StateChange) and ev.what == P.WHAT_FLASH_STEP:
                steps.append(ev.state_name)
                if on_step is not None:
                    on_step(ev.state_name)
        try:
            chunk = max(64, (conn.gateway.max_frame or 1024) - _FLASH_CHUNK_OVERHEAD)
            for off in range(0, len(image), chunk):
                conn.request(P.MSG_REQ_FLASH, {P.K_OP: P.OP_DATA, P.K_JOB: job,
                                               P.K_OFFSET: off,
                                               P.K_DATA: bytes(image[off:off + chunk])})
            body = conn.request(P.MSG_REQ_FLASH, {P.K_OP: P.OP_START, P.K_JOB: job},
                                timeout_s=timeout_s, on_event=on_event,
                                on_interrupt=on_interrupt)
        except BaseException:
            try:
                conn.request(P.MSG_REQ_FLASH, {P.K_OP: P.OP_ABORT, P.K_JOB: job}, timeout_s=2.0)
            except Exception:           # noqa: BLE001 (the link may be what failed)
                log.debug("flash job %d: abort failed", job)
            raise
        result = body.get(P.K_RESULT, OK)
        report = dict(body.get(P.K_REPORT) or {})
        # The gateway sends RESPONSEs ahead of queued events, so the job's
        # last step event may come after its answer: take it from the report.
        last = report.get("step_name")
        if isinstance(last, str) and (not steps or steps[-1] != last):
            steps.append(last)
            if on_step is not None:
                on_step(last)
        return FlashReport(result, body.get(P.K_NRC), report, steps)

