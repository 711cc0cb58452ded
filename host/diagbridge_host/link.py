"""The host end of the diagbridge host link, sans-I/O (CPython only).

``HostLink`` turns bytes from the gateway into events and the application's
requests into bytes; a transport (serial, TCP, in-process) only moves bytes
and calls ``on_timer`` when ``deadline()`` is due.  Time is ``now`` in seconds
from any monotonic clock (``time.monotonic()``).

The wire format is the gateway's own definition (``diagbridge.link.proto``)
and the framing is the gateway's code (``diagbridge.link.cobs``); messages are
encoded with PyPI ``msgpack``.

After a keyed login every frame carries the session's frame MAC
(``diagbridge.link.mac``, the gateway's code): ours from the frame after AUTH,
the gateway's from the frame after AUTH_OK.  A frame from the gateway whose
tag fails (tampered, replayed, reordered, injected, or a frame lost before
it) ends the link at once: the host counts it in ``bad_mac``, sends a last
signed BYE {CODE: LINK_BAD_MAC} and reports ``LinkLost`` with
``code == LINK_BAD_MAC``; the application reconnects with a new handshake.

A host with a key says so in HELLO (KEYED) and refuses an AUTH_OK that came
without a CHALLENGE (``LinkAuthError``): whoever let it in never checked the
key, so it cannot be told from an impostor posing as the gateway.

Sizes (``proto.py`` "Frame size and fragments"): HELLO announces the largest
frame (``max_frame``) and message (``max_message``) this end takes; from
HELLO_ACK on, frames both ways are at most the smaller of the two ends'
``max_frame``, and a longer message goes as FRAGMENT frames, reassembled on
arrival.  Fragments out of order or missing, or a message longer than
``max_message``, are dropped and counted in ``frame_faults["fragments"]``.

    link = HostLink(key=b"...32 bytes...", role=ROLE_DIAGNOSTIC)
    link.connect(now)
    transport.write(link.data_to_send())
    link.receive_bytes(now, transport.read())      # may raise LinkVersionError, LinkAuthError
    ev = link.next_event()                         # LinkUp, Response, RequestFailed, ...
    rid = link.request(now, MSG_REQ_UDS, {K_BUS: 0, K_DATA: b"\\x22\\xf1\\x90"})
"""
from __future__ import annotations

import hashlib
import hmac
import logging
import os
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import msgpack

from diagbridge.codes import (code_name, LINK_AUTH_FAILED, LINK_REFUSED, LINK_VERSION,
                              LINK_UNSUPPORTED, LINK_BAD_MAC, LINK_BYE, LINK_TIMEOUT)
from diagbridge.errors import UsageError
from diagbridge.link import proto as P
from diagbridge.link.auth import WHO_GATEWAY, WHO_HOST, auth_message, session_key
from diagbridge.link.cobs import Deframer, EV_FRAME, EV_FRAME_BAD, encode_frame, frame_size
from diagbridge.link.mac import FrameMac

from diagbridge_host.errors import (LinkAuthError, LinkError, LinkRefused, LinkVersionError,
                                    error_for)
from diagbridge_host.link_events import (GatewayInfo, LinkUp, Response, RequestFailed,
                                         GatewayEvent, Dropped, GatewayError, LinkLost)

log = logging.getLogger(__name__)

ROLE_NAMES = {P.ROLE_MONITOR: "monitor", P.ROLE_DIAGNOSTIC: "diagnostic", P.ROLE_FULL: "full"}

# HostLink.state
IDLE = "idle"
HELLO = "hello"             # HELLO sent, waiting for HELLO_ACK
AUTH = "auth"               # waiting for CHALLENGE / AUTH_OK
READY = "ready"
LOST = "lost"               # the gateway went silent
FAILED = "failed"           # version or authentication failure (see .error)
CLOSED = "closed"


@dataclass
class _Pending:
    req_id: int
    kind: int
    msg: bytes = field(repr=False)



def _int(v: object) -> int:
    """A wire integer as it came: a float, a bool or a str where the format
    says int is a malformed message (ValueError), never coerced (int(inf)
    would raise OverflowError out of the reader)."""
    if type(v) is not int:
        raise ValueError("not an integer: %r" % (v,))
    return v

class HostLink:
    """Sans-I/O host end of the link.  Not thread-safe: one owner drives it."""

    def __init__(self, key: Optional[bytes] = None, role: int = P.ROLE_FULL,
                 event_credits: int = 256, name: str = "diagbridge_host",
                 heartbeat_ms: int = 1000, link_timeout_ms: int = 3000,
                 max_frame: int = 65535, urandom: Callable[[int], bytes] = os.urandom,
                 auto_credit: bool = True, max_message: int = 0x100000) -> None:
        if role not in ROLE_NAMES:
            raise UsageError("role must be ROLE_MONITOR, ROLE_DIAGNOSTIC or ROLE_FULL")
        if not 1 <= event_credits <= 0xFFFFFF:
            raise UsageError("event_credits must be 1..16777215")
        self._key = key
        self._want = role
        self._window = event_credits
        self._name = name
        self._hb_s = heartbeat_ms / 1000
        self._silent_s = link_timeout_ms / 1000
        self._urandom = urandom
        # False: next_event() does not return event credits; the application
        # calls return_credits() once it has really consumed the events.
        self._auto_credit = auto_credit
        if not P.MIN_FRAME <= max_frame <= P.MAX_MAX_FRAME:
            raise UsageError("max_frame must be %d..%d" % (P.MIN_FRAME, P.MAX_MAX_FRAME))
        if not max_frame <= max_message <= 0x1000000:
            raise UsageError("max_message must be max_frame..16777216")
        self._max_frame = max_frame
        self._max_message = max_message
        self._tx_frame: Optional[int] = None        # frame size both ways, from HELLO_ACK
        self._tx_message: Optional[int] = None      # the gateway's max_message
        self._asm: Optional[bytearray] = None       # a message in fragments
        self._asm_total = 0
        self._asm_skip = False                      # ... too long: its fragments are dropped
        self._asm_have = 0                          # ... bytes of it so far
        self.fragment_faults = 0
        self._long_out: Optional[int] = None        # the fragmented request unanswered
        self._rx = Deframer(max_frame + P.TAG_LEN)
        self._tx_mac = FrameMac(hashlib.sha256)     # our frames after AUTH
        self._rx_mac = FrameMac(hashlib.sha256)     # the gateway's after AUTH_OK
        self._rx_key: Optional[bytes] = None        # the gateway's session key, until AUTH_OK
        self._untrusted = False                     # a frame failed its MAC: ignore the stream
        self._out = bytearray()
        self._events: deque = deque()
        self.state = IDLE
        self.error: Optional[LinkError] = None
        self.gateway: Optional[GatewayInfo] = None
        self.role = P.ROLE_NONE
        self.request_credits = 0
        self.dropped: dict = {}         # event kind -> events the gateway dropped
        self.dropped_total = 0
        self.lost_events = 0            # gaps in the event sequence (frames lost on the wire)
        self.unexpected = 0             # replies to no outstanding request
        self.malformed = 0              # messages with a good CRC the host could not use
        self.bad_mac = 0                # frames whose session MAC failed (each ended the link)
        self._host_nonce = b""
        self._gw_nonce: Optional[bytes] = None
        self._outstanding: dict = {}    # req_id -> kind
        self._pending: deque = deque()  # requests waiting for a credit
        self._next_id = 1
        self._next_seq = 0
        self._consumed = 0              # events taken by the app, not yet re-granted
        self._hb_at: Optional[float] = None
        self._silent_at: Optional[float] = None

    # ---- counters of the byte stream ------------------------------------------
    @property
    def frame_faults(self) -> dict:
        return {"bad_crc": self._rx.bad_crc, "oversize": self._rx.oversize,
                "truncated": self._rx.truncated, "malformed": self.malformed,
                "bad_mac": self.bad_mac, "fragments": self.fragment_faults}

    @property
    def mac_on(self) -> bool:
        """Frames are signed and checked (a keyed session is up)."""
        return self._rx_mac.on

    # ---- application side -------------------------------------------------------
    def connect(self, now: float) -> None:
        """Start the handshake: HELLO with our version, role, nonce and credits."""
        if self.state not in (IDLE, LOST, CLOSED):
            raise UsageError("connect() while %s" % self.state)
        self._reset()
        self._host_nonce = self._urandom(P.NONCE_LEN)
        self.state = HELLO
        self._send(P.MSG_HELLO, 0, {
            P.K_VERSION: P.LINK_PROTOCOL_VERSION, P.K_ROLE: self._want,
            P.K_NONCE: self._host_nonce, P.K_CREDITS: self._window, P.K_NAME: self._name,
            P.K_MAX_FRAME: self._max_frame, P.K_HEARTBEAT_MS: int(self._hb_s * 1000),
            P.K_MAX_MESSAGE: self._max_message, P.K_KEYED: self._key is not None})
        self._silent_at = now + self._silent_s

    def request(self, now: float, kind: int, body: Optional[dict] = None) -> int:
        """Send a request (queued locally while the gateway grants no credit);
        returns its id.  The answer is a Response or RequestFailed event."""
        if self.state != READY:
            raise LinkError("the link is not up (%s)" % self.state)
        if not P.is_request(kind):
            raise UsageError("not a request kind: 0x%02X" % kind)
        req_id = self._new_id()
        msg = msgpack.packb([kind, req_id, body if body is not None else {}], use_bin_type=True)
        if self._tx_message is not None and len(msg) > self._tx_message:
            raise UsageError("request of %d bytes exceeds the gateway's max_message %d"
                             % (len(msg), self._tx_message))
        self._outstanding[req_id] = kind
        self._pending.append(_Pending(req_id, kind, msg))
        self._flush_pending()
        return req_id

    def close(self, now: float) -> None:
        if self.state in (HELLO, AUTH, READY):
            self._send(P.MSG_BYE, 0, {})
        self.state = CLOSED
        self._hb_at = self._silent_at = None
        self._mac_off()

    def next_event(self) -> Any:
        """The next event, or None.  Taking gateway events returns their credits."""
        if not self._events:
            return None
        ev = self._events.popleft()
        if self._auto_credit and isinstance(ev, (GatewayEvent, Dropped)):
            self.return_credits(1)
        return ev

    def return_credits(self, n: int) -> None:
        """The application consumed n gateway events (GatewayEvent or Dropped):
        give their credits back, batched into one CREDIT per quarter window.
        Called by next_event() itself unless the link was made with
        auto_credit=False."""
        self._consumed += n
        if self.state == READY and self._consumed >= max(1, self._window // 4):
            self._send(P.MSG_CREDIT, 0, {P.K_CREDITS: self._consumed})
            self._consumed = 0

    @property
    def outstanding(self) -> int:
        return len(self._outstanding)

    # ---- byte side ----------------------------------------------------------------
    def data_to_send(self) -> bytes:
        out = bytes(self._out)
        self._out.clear()
        return out

    def receive_bytes(self, now: float, data: bytes) -> None:
        """Bytes from the gateway.  Raises LinkVersionError / LinkAuthError /
        LinkRefused when the handshake fails (state becomes FAILED)."""
        rx = self._rx
        n = len(data)
        i = 0
        while i < n:
            i = rx.feed_bytes(0, data, n, i)
            ev = rx.poll()
            if ev == EV_FRAME:
                if self._untrusted:
                    continue                # after a bad MAC: nothing until connect()
                m = rx.length
                if self._rx_mac.on:
                    m = self._rx_mac.check(rx.payload, m)
                    if m < 0:
                        self._bad_mac()
                        continue
                self._on_frame(now, bytes(rx.payload[:m]))
            elif ev == EV_FRAME_BAD:
                log.debug("bad frame from gateway: %s", code_name(rx.result))

    def on_timer(self, now: float) -> None:
        if self._silent_at is not None and now >= self._silent_at:
            was = self.state
            self._lose("gateway silent for %.1f s" % self._silent_s)
            if was in (HELLO, AUTH):
                self.error = LinkError("no answer from the gateway to the handshake")
        if self._hb_at is not None and now >= self._hb_at:
            self._hb_at = now + self._hb_s
            self._send(P.MSG_HEARTBEAT, 0, {})

    def deadline(self) -> Optional[float]:
        ds = [d for d in (self._hb_at, self._silent_at) if d is not None]
        return min(ds) if ds else None

    # ---- internals -------------------------------------------------------------------
    def _reset(self) -> None:
        self.error = None
        self.role = P.ROLE_NONE
        self.request_credits = 0
        self._gw_nonce = None
        self._outstanding.clear()
        self._pending.clear()
        self._next_seq = 0
        self._consumed = 0
        self._rx.reset()
        self._mac_off()
        self._untrusted = False
        self._tx_frame = None
        self._tx_message = None
        self._asm = None
        self._asm_skip = False
        self._long_out = None

    def _mac_off(self) -> None:
        if self._tx_mac.on:
            self._tx_mac.stop()
        if self._rx_mac.on:
            self._rx_mac.stop()
        self._rx_key = None

    def _lose(self, reason: Any, code: Any = LINK_TIMEOUT) -> None:
        self.state = LOST
        self._hb_at = self._silent_at = None
        self._mac_off()
        self._events.append(LinkLost(reason, code))
        log.warning("link lost: %s", reason)

    def _bad_mac(self) -> None:
        # The stream can no longer be trusted: say so under our own key (the
        # gateway then cleans up at once) and end the link.
        self.bad_mac += 1
        self._untrusted = True
        if self.state in (AUTH, READY):
            self._send(P.MSG_BYE, 0, {P.K_CODE: LINK_BAD_MAC})
        self._lose("a frame from the gateway failed its session MAC (%s): the stream was "
                   "tampered with, or a frame was lost" % code_name(LINK_BAD_MAC), LINK_BAD_MAC)

    def _fail(self, exc: Any) -> None:
        self.state = FAILED
        self.error = exc
        self._hb_at = self._silent_at = None
        self._mac_off()
        raise exc

    def _send(self, kind: Any, ref: Any, body: Any) -> None:
        msg = msgpack.packb([kind, ref, body], use_bin_type=True)
        self._send_msg(msg)

    def _send_msg(self, msg: Any) -> None:
        fr = self._tx_frame
        if fr is None or len(msg) <= fr:
            self._frame_out(msg)
            return
        total = len(msg)
        off = 0
        while off < total:
            empty = msgpack.packb([P.MSG_FRAGMENT, 0, {P.K_OFFSET: off, P.K_TOTAL: total,
                                                       P.K_DATA: b""}], use_bin_type=True)
            room = fr - len(empty) - 1      # the bin header grows from 2 to 3 bytes
            c = min(room, total - off)
            self._frame_out(msgpack.packb([P.MSG_FRAGMENT, 0, {
                P.K_OFFSET: off, P.K_TOTAL: total, P.K_DATA: bytes(msg[off:off + c])}],
                use_bin_type=True))
            off += c

    def _frame_out(self, msg: Any) -> None:
        n = len(msg)
        if self._tx_mac.on:
            buf = bytearray(n + P.TAG_LEN)
            buf[:n] = msg
            n = self._tx_mac.sign(memoryview(buf), n)
            msg = buf
        out = bytearray(frame_size(n))
        k = encode_frame(msg, n, out)
        self._out += out[:k]

    def _new_id(self) -> Any:
        while True:
            rid = self._next_id
            self._next_id = rid + 1 if rid < 0xFFFF else 1
            if rid not in self._outstanding:
                return rid

    def _flush_pending(self) -> None:
        # In order; a request that goes in fragments waits while another
        # fragmented one is unanswered (the gateway holds one at a time).
        while self._pending and self.request_credits > 0:
            p = self._pending[0]
            long = self._tx_frame is not None and len(p.msg) > self._tx_frame
            if long and self._long_out is not None:
                return
            self._pending.popleft()
            self.request_credits -= 1
            if long:
                self._long_out = p.req_id
            self._send_msg(p.msg)

    def _mac(self, who: Any, gw_nonce: Any) -> Any:
        m = auth_message(who, P.LINK_PROTOCOL_VERSION, self._want, gw_nonce, self._host_nonce)
        return hmac.new(self._key, m, hashlib.sha256).digest()

    def _on_frame(self, now: float, payload: Any) -> None:
        # A frame with a good CRC can still carry a message we cannot use (not
        # [int, int, map-or-nil], or a value of the wrong type deep inside):
        # it is counted in `malformed` and dropped; the link goes on.  Only the
        # handshake's own LinkErrors leave here.
        try:
            msg = msgpack.unpackb(payload, raw=False, strict_map_key=False)
            kind, ref, body = msg[0], msg[1], msg[2]
            if (not isinstance(kind, int) or not isinstance(ref, int)
                    or isinstance(kind, bool) or isinstance(ref, bool)
                    or not (body is None or isinstance(body, dict))):
                raise ValueError("not [kind, ref, body]")
        except Exception:               # noqa: BLE001 (msgpack raises several kinds)
            self._malformed(payload)
            return
        if body is None:
            body = {}
        if self.state in (CLOSED, FAILED, IDLE):
            return
        if kind == P.MSG_FRAGMENT:
            whole = self._fragment(body)
            if whole is not None:
                self._on_frame(now, whole)
            return
        if self._asm is not None:
            self._fragment_fault("a message came in the middle of a fragmented one")
        try:
            self._dispatch(now, kind, ref, body)
        except (TypeError, ValueError, AttributeError, KeyError, IndexError, OverflowError):
            self._malformed(payload)

    def _fragment(self, body: Any) -> Any:
        """Take one FRAGMENT; the whole message once its last piece is in."""
        off = body.get(P.K_OFFSET)
        total = body.get(P.K_TOTAL)
        data = body.get(P.K_DATA)
        if (not isinstance(off, int) or not isinstance(total, int) or isinstance(off, bool)
                or not isinstance(data, bytes) or not data or off < 0 or total <= 0):
            self._fragment_fault("a fragment that is not {OFFSET, TOTAL, DATA}")
            return None
        if off == 0:
            if self._asm is not None and not self._asm_skip:
                self._fragment_fault("a fragmented message was cut short")
            self._asm = bytearray()
            self._asm_have = 0
            self._asm_total = total
            self._asm_skip = total > self._max_message
            if self._asm_skip:
                self._fragment_fault("a message of %d bytes exceeds max_message %d"
                                     % (total, self._max_message), keep=True)
        elif self._asm is None or off != self._asm_have or total != self._asm_total:
            self._fragment_fault("a fragment out of order or missing (offset %d)" % off)
            return None
        if off + len(data) > total:
            self._fragment_fault("a fragment beyond its message's length")
            return None
        self._asm_have = off + len(data)
        if not self._asm_skip:
            self._asm += data
        if self._asm_have < total:
            return None
        whole = bytes(self._asm)
        skipped = self._asm_skip
        self._asm = None
        self._asm_skip = False
        if skipped:
            return None
        if whole[1:2] == bytes([P.MSG_FRAGMENT]):
            self._fragment_fault("a fragment inside a fragment")
            return None
        return whole

    def _fragment_fault(self, why: Any, keep: Any = False) -> None:
        self.fragment_faults += 1
        if not keep:
            self._asm = None
            self._asm_skip = False
        log.warning("fragments from the gateway: %s (dropped)", why)

    def _malformed(self, payload: Any) -> None:
        self.malformed += 1
        log.warning("malformed message from gateway (%d so far): %r", self.malformed,
                    payload[:32])

    def _dispatch(self, now: float, kind: int, ref: int, body: Any) -> None:
        if self._silent_at is not None:
            self._silent_at = now + self._silent_s
        if kind == P.MSG_HELLO_ACK:
            self._on_hello_ack(body)
        elif kind == P.MSG_CHALLENGE:
            self._on_challenge(body)
        elif kind == P.MSG_AUTH_OK:
            self._on_auth_ok(now, body)
        elif kind == P.MSG_ERROR:
            self._on_error(ref, body)
        elif self.state != READY:
            log.debug("ignoring kind 0x%02X before the link is up", kind)
        elif kind == P.MSG_RESPONSE:
            rkind = self._reply(ref)
            if rkind is not None:
                self._events.append(Response(ref, rkind, body.get(P.K_RESULT, 0),
                                             body.get(P.K_DATA), body))
        elif P.is_event(kind):
            self._on_event(kind, ref, body)
        elif kind == P.MSG_CREDIT:
            self.request_credits += max(0, _int(body.get(P.K_CREDITS, 0)))
            self._flush_pending()
        elif kind == P.MSG_BYE:
            code = body.get(P.K_CODE, 0)
            self._lose("gateway closed the link (%s)" % code_name(code),
                       code if isinstance(code, int) and code else LINK_BYE)
        elif kind != P.MSG_HEARTBEAT:
            log.debug("ignoring unknown kind 0x%02X", kind)

    def _on_hello_ack(self, body: Any) -> None:
        if self.state != HELLO:
            return
        ver = body.get(P.K_VERSION)
        if ver != P.LINK_PROTOCOL_VERSION:
            self._fail(LinkVersionError(ver, P.LINK_PROTOCOL_VERSION))
        mf = body.get(P.K_MAX_FRAME, 0)
        mf = mf if isinstance(mf, int) and mf >= P.MIN_FRAME else P.MIN_FRAME
        mm = body.get(P.K_MAX_MESSAGE, mf)
        mm = mm if isinstance(mm, int) and mm >= mf else mf
        self.gateway = GatewayInfo(ver, str(body.get(P.K_NAME, "")), body.get(P.K_BUSES, []),
                                   body.get(P.K_ROLES, []), mf,
                                   body.get(P.K_HEARTBEAT_MS, 1000),
                                   body.get(P.K_TIMEOUT_MS, 3000), mm)
        self._tx_frame = min(self._max_frame, mf)
        self._tx_message = mm
        # Beat well inside the gateway's timeout; wait at least three of its beats.
        self._hb_s = min(self._hb_s, self.gateway.timeout_ms / 3000)
        self._silent_s = max(self._silent_s, 3 * self.gateway.heartbeat_ms / 1000)
        self.state = AUTH

    def _on_challenge(self, body: Any) -> None:
        if self.state != AUTH:
            return
        if self._key is None:
            self._fail(LinkAuthError("gateway %r wants a key for the %s role: pass key=..."
                                     % (self.gateway.name if self.gateway else "?",
                                        ROLE_NAMES[self._want]), LINK_AUTH_FAILED))
        nonce = body.get(P.K_NONCE)
        if not isinstance(nonce, bytes) or len(nonce) != P.NONCE_LEN:
            self._fail(LinkAuthError("gateway sent a malformed challenge"))
        self._gw_nonce = nonce
        self._send(P.MSG_AUTH, 0, {P.K_MAC: self._mac(WHO_HOST, nonce)})
        # Every frame after AUTH is signed; the gateway's, after AUTH_OK.
        v = P.LINK_PROTOCOL_VERSION
        self._tx_mac.start(session_key(hashlib.sha256, self._key, WHO_HOST, v, self._want,
                                       nonce, self._host_nonce), WHO_HOST)
        self._rx_key = session_key(hashlib.sha256, self._key, WHO_GATEWAY, v, self._want, nonce,
                                   self._host_nonce)

    def _on_auth_ok(self, now: float, body: Any) -> None:
        if self.state != AUTH:
            return
        if self._key is not None and self._gw_nonce is None:
            self._fail(LinkAuthError(
                "the gateway let us in without checking our key (no challenge for the %s "
                "role): it may not be the gateway; connect without a key to accept an open "
                "gateway" % ROLE_NAMES[self._want], LINK_AUTH_FAILED))
        if self._gw_nonce is not None:
            proof = body.get(P.K_MAC)
            if not isinstance(proof, bytes) or not hmac.compare_digest(
                    proof, self._mac(WHO_GATEWAY, self._gw_nonce)):
                self._fail(LinkAuthError("the gateway could not prove it knows the key: "
                                         "wrong key on the gateway, or not our gateway"))
            self._rx_mac.start(self._rx_key, WHO_GATEWAY)
            self._rx_key = None
        self.role = body.get(P.K_ROLE, P.ROLE_NONE)
        self.request_credits = max(0, _int(body.get(P.K_CREDITS, 0)))
        self.state = READY
        self._hb_at = now + self._hb_s
        self._silent_at = now + self._silent_s
        self._events.append(LinkUp(self.role, self.gateway))
        self._flush_pending()

    def _on_error(self, ref: Any, body: Any) -> None:
        code = body.get(P.K_CODE, 0)
        text = body.get(P.K_TEXT, "")
        if self.state in (HELLO, AUTH):
            if code == LINK_VERSION:
                return                      # HELLO_ACK already told us
            if code == LINK_AUTH_FAILED:
                self._fail(LinkAuthError("gateway rejected our key for the %s role (%s): "
                                         "check the pre-shared key"
                                         % (ROLE_NAMES[self._want], text), code))
            if code == LINK_REFUSED:
                offered = [ROLE_NAMES.get(r, r) for r in (self.gateway.roles if self.gateway
                                                          else [])]
                self._fail(LinkRefused("gateway refused the %s role (%s); it offers: %s"
                                       % (ROLE_NAMES[self._want], text,
                                          ", ".join(offered) or "nothing"), code))
            self._fail(error_for(code, text, "handshake"))
        rkind = self._reply(ref) if ref else None
        if rkind is not None:
            self._events.append(RequestFailed(ref, rkind, code, text))
        else:
            if code == LINK_UNSUPPORTED:
                log.warning("gateway: unsupported message: %s", text)
            self._events.append(GatewayError(code, text))

    def _reply(self, ref: Any) -> Any:
        """The kind of the outstanding request ref (its credit comes back), or None."""
        kind = self._outstanding.pop(ref, None)
        if ref == self._long_out and kind is not None:
            self._long_out = None
        if kind is None:
            self.unexpected += 1
            return None
        self.request_credits += 1
        self._flush_pending()
        return kind

    def _on_event(self, kind: Any, seq: Any, body: Any) -> None:
        gap = (seq - self._next_seq) & 0xFFFF
        if gap:
            self.lost_events += gap
            log.warning("%d gateway events lost on the wire", gap)
        self._next_seq = (seq + 1) & 0xFFFF
        if kind == P.MSG_EV_DROPPED:
            counts = {_int(k): _int(v) for k, v in body.get(P.K_COUNTS, {}).items()}
            total = sum(counts.values())
            for k, v in counts.items():
                self.dropped[k] = self.dropped.get(k, 0) + v
            self.dropped_total += total
            log.warning("gateway dropped %d events (queue full): %s", total, counts)
            self._events.append(Dropped(counts, total))
        else:
            self._events.append(GatewayEvent(kind, seq, body))


__all__ = ["HostLink", "LinkUp", "Response", "RequestFailed", "GatewayEvent", "Dropped",
           "GatewayError", "LinkLost", "GatewayInfo", "IDLE", "HELLO", "AUTH", "READY", "LOST",
           "FAILED", "CLOSED"]
