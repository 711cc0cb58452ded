# The frame MAC of the host link (link/mac.py, proto.py "Frame MAC"): after
# a keyed login every frame both ways carries a tag under a per-session,
# per-direction key with an implicit sequence number.  A frame that was
# tampered with, replayed, reordered, injected, or follows a dropped one is
# LINK_BAD_MAC and ends the session; nothing before AUTH carries a tag; a
# host of the old protocol version is refused at HELLO.
import hashlib

from diagbridge.codes import (OK, LINK_BAD_MAC, LINK_BYE, LINK_VERSION, LINK_REFUSED,
                              LINK_CLOSED, LINK_BAD_CRC)
from diagbridge.errors import UsageError
from diagbridge.link import proto as P
from diagbridge.link.auth import hmac_sha256, session_key, WHO_HOST, WHO_GATEWAY
from diagbridge.link.cobs import Deframer, EV_FRAME
from diagbridge.link.mac import FrameMac
from diagbridge.link.msgpack import Reader, packb
from diagbridge.link.session import (EV_LINK_UP, EV_LINK_LOST, EV_REQUEST, EV_LINK_FAULT,
                                     S_WAIT_HELLO, S_WAIT_AUTH, S_READY, S_CLOSED)
from link_support import Host, make_session, frame, frame_msg, KEY_FULL, KEY_DIAG, HOST_NONCE
from support import MICROPYTHON, raises

GW_NONCE = b"gateway-nonce-16"


def _ready(**kw):
    h = Host(make_session(**kw))
    msgs = h.login()
    assert msgs[-1][0] == P.MSG_AUTH_OK and h.events() == [EV_LINK_UP]
    assert h.s.mac_on and h.mac.tx.on and h.mac.rx.on
    return h


def _frames(wire):
    """Every frame payload in wire bytes, as bytes (tag included)."""
    d = Deframer(4096 + P.TAG_LEN)
    out = []
    i = 0
    while i < len(wire):
        i = d.feed_bytes(0, wire, len(wire), i)
        if d.poll() == EV_FRAME:
            out.append(bytes(d.payload[:d.length]))
    return out


def _plain_len(payload):
    """Where the one msgpack message of a payload ends."""
    r = Reader(payload, 0, len(payload))
    r.read_obj()
    assert r.ok
    return r.pos


def _ended_by_bad_mac(h, bad_mac=1):
    """The session saw a bad tag: lost (LINK_BAD_MAC), counted, and its last
    frame to the host is a BYE {CODE: LINK_BAD_MAC} under the session key."""
    s = h.s
    assert h.events() == [EV_LINK_LOST, EV_LINK_FAULT]
    assert s.result == LINK_BAD_MAC and s.bad_mac == bad_mac and s.state == S_WAIT_HELLO
    assert not s.mac_on and s.role == P.ROLE_NONE and s.deadline() is None
    got = h.recv()
    assert got == [[P.MSG_BYE, 0, {P.K_CODE: LINK_BAD_MAC}]], got   # it verified on the host
    assert h.mac.bad == 0 and not h.mac.rx.on
    assert h.s.pop_bytes(h.out) == 0                    # nothing more: no heartbeat either


def _request_is_not_served(h, rid):
    """After the session ended, a request (even correctly signed under the old
    key) never reaches the router."""
    h.mac.tx.start(b"\x00" * 32, WHO_HOST)              # any key: the gateway has none
    h.send(P.MSG_REQ_STATUS, rid, {})
    assert h.events() == []
    h.mac.stop()
    h.send(P.MSG_REQ_STATUS, rid + 1, {})
    assert h.events() == []
    errs = [m[2][P.K_CODE] for m in h.recv() if m[0] == P.MSG_ERROR]
    assert errs == [LINK_REFUSED, LINK_REFUSED], errs   # "authenticate first", unsigned


# ---- the tag ----------------------------------------------------------------------
def test_tag_is_truncated_hmac_sha256_over_sender_seq_and_message():
    key = bytes(range(32))
    m = FrameMac(hashlib.sha256)
    m.start(key, WHO_GATEWAY)
    msg = packb([P.MSG_HEARTBEAT, 0, {P.K_TS_US: 5}])
    for seq in range(3):
        buf = bytearray(len(msg) + P.TAG_LEN)
        for i in range(len(msg)):
            buf[i] = msg[i]
        assert m.seq() == seq
        assert m.sign(memoryview(buf), len(msg)) == len(msg) + P.TAG_LEN
        want = hmac_sha256(hashlib.sha256, key,
                           b"G" + bytes([0, 0, 0, 0, 0, 0, 0, seq]) + msg)[:P.TAG_LEN]
        assert bytes(buf[len(msg):]) == want
    assert P.TAG_LEN == 16 and P.LINK_PROTOCOL_VERSION >= 2     # the MAC came in 2


def test_check_accepts_the_next_tag_once_and_in_order_only():
    key = b"k" * 32
    tx = FrameMac(hashlib.sha256)
    rx = FrameMac(hashlib.sha256)
    tx.start(key, WHO_HOST)
    rx.start(key, WHO_HOST)
    signed = []
    for k in range(3):
        b = bytearray(8 + P.TAG_LEN)
        b[0] = k
        tx.sign(memoryview(b), 8)
        signed.append(b)
    assert rx.check(memoryview(signed[0]), len(signed[0])) == 8
    assert rx.check(memoryview(signed[0]), len(signed[0])) == -1    # replay
    assert rx.check(memoryview(signed[2]), len(signed[2])) == -1    # skips seq 1
    assert rx.seq() == 1                                            # a bad tag moves nothing
    assert rx.check(memoryview(signed[1]), len(signed[1])) == 8
    assert rx.check(memoryview(signed[2]), 5) == -1                 # cut short
    assert rx.check(memoryview(signed[2]), len(signed[2])) == 8
    other = FrameMac(hashlib.sha256)
    other.start(key, WHO_GATEWAY)                                   # the other direction
    b = bytearray(8 + P.TAG_LEN)
    other.sign(memoryview(b), 8)
    rx2 = FrameMac(hashlib.sha256)
    rx2.start(key, WHO_HOST)
    assert rx2.check(memoryview(b), len(b)) == -1
    rx.stop()
    assert raises(UsageError, rx.check, memoryview(b), len(b))      # a caller's mistake
    assert raises(UsageError, rx.sign, memoryview(b), 8)


def test_sequence_number_is_64_bits_and_carries():
    m = FrameMac(hashlib.sha256)
    m.start(b"k" * 32, WHO_HOST)
    for i in range(5, 9):
        m._hdr[i] = 0xFF                                # seq = 2**32 - 1
    assert m.seq() == 0xFFFFFFFF
    b = bytearray(1 + P.TAG_LEN)
    m.sign(memoryview(b), 1)
    assert m.seq() == 0x100000000                       # no wrap at 32 bits


class _NoCopy:
    """hashlib.sha256 without copy(), as MicroPython's: the per-frame path."""

    def __init__(self):
        self._h = hashlib.sha256()

    def update(self, b):
        self._h.update(b)

    def digest(self):
        return self._h.digest()


def test_hashes_without_copy_give_the_same_tags():
    a = FrameMac(hashlib.sha256)
    b = FrameMac(_NoCopy)
    a.start(b"s" * 32, WHO_GATEWAY)
    b.start(b"s" * 32, WHO_GATEWAY)
    for n in (0, 1, 63, 64, 65, 300):
        x = bytearray(n + P.TAG_LEN)
        y = bytearray(n + P.TAG_LEN)
        for i in range(n):
            x[i] = y[i] = (i * 7) & 0xFF
        a.sign(memoryview(x), n)
        b.sign(memoryview(y), n)
        assert x == y, n


def test_session_keys_are_per_direction_and_per_login():
    v = P.LINK_PROTOCOL_VERSION
    kh = session_key(hashlib.sha256, KEY_FULL, WHO_HOST, v, P.ROLE_FULL, GW_NONCE, HOST_NONCE)
    kg = session_key(hashlib.sha256, KEY_FULL, WHO_GATEWAY, v, P.ROLE_FULL, GW_NONCE, HOST_NONCE)
    other = session_key(hashlib.sha256, KEY_FULL, WHO_HOST, v, P.ROLE_FULL, b"x" * 16,
                        HOST_NONCE)
    role = session_key(hashlib.sha256, KEY_FULL, WHO_HOST, v, P.ROLE_DIAGNOSTIC, GW_NONCE,
                       HOST_NONCE)
    key = session_key(hashlib.sha256, KEY_DIAG, WHO_HOST, v, P.ROLE_FULL, GW_NONCE, HOST_NONCE)
    assert len(kh) == 32 and len({kh, kg, other, role, key}) == 5


# ---- both directions after login ----------------------------------------------------
def test_both_directions_carry_a_verified_tag_after_login():
    h = _ready()
    s = h.s
    for rid in (1, 2, 3):
        h.send(P.MSG_REQ_UDS, rid, {P.K_DATA: b"\x22\xf1\x90"})
        assert h.events() == [EV_REQUEST] and s.req_id == rid
        assert s.respond(h.now, rid, OK, b"\x62\xf1\x90", 3)
        assert h.recv() == [[P.MSG_RESPONSE, rid, {P.K_RESULT: OK, P.K_DATA: b"\x62\xf1\x90"}]]
    h.send(P.MSG_CREDIT, 0, {P.K_CREDITS: 5})
    assert s.post_can_rx(h.now, 7, 0, 0x7E8, 0, b"\x02\x7e\x00", 3)
    assert h.recv()[0][0] == P.MSG_EV_CAN_RX
    assert s.faults == 0 and s.bad_mac == 0 and h.mac.bad == 0 and s.state == S_READY
    # 3 requests + a credit from the host; 3 responses + an event from the gateway,
    # each counted on both ends
    assert h.mac.tx.seq() == 4 and s._rx_mac.seq() == 4
    assert h.mac.rx.seq() == 4 and s._q._mac.seq() == 4
    # every frame after AUTH_OK has exactly TAG_LEN bytes behind its message
    gw = _frames(h.wire)
    kinds = [Reader(f, 0, len(f)).read_obj()[0] for f in gw]
    first = kinds.index(P.MSG_AUTH_OK) + 1
    assert first == 3 and len(gw) == 7
    for f in gw[first:]:
        assert len(f) == _plain_len(f) + P.TAG_LEN


def test_the_tag_never_appears_before_auth():
    h = _ready()
    gw = _frames(h.wire)
    host = [f for w in h.sent for f in _frames(w)]
    # gateway: HELLO_ACK, CHALLENGE, AUTH_OK;  host: HELLO, AUTH
    assert [Reader(f, 0, len(f)).read_obj()[0] for f in gw] == [
        P.MSG_HELLO_ACK, P.MSG_CHALLENGE, P.MSG_AUTH_OK]
    assert [Reader(f, 0, len(f)).read_obj()[0] for f in host] == [P.MSG_HELLO, P.MSG_AUTH]
    for f in gw + host:
        assert _plain_len(f) == len(f)                  # no bytes behind the message
    h.send(P.MSG_HEARTBEAT, 0, {})
    f = _frames(h.sent[-1])[0]
    assert _plain_len(f) + P.TAG_LEN == len(f)          # the first frame after AUTH has one


def test_an_open_role_login_has_no_tags():
    h = Host(make_session(keys=(), open_role=P.ROLE_FULL))
    assert h.hello()[-1][0] == P.MSG_AUTH_OK and h.events() == [EV_LINK_UP]
    assert not h.s.mac_on
    h.send(P.MSG_REQ_STATUS, 1, {})
    assert h.events() == [EV_REQUEST]
    h.s.respond(h.now, 1, OK)
    assert h.recv() == [[P.MSG_RESPONSE, 1, {P.K_RESULT: OK}]]
    for f in _frames(h.wire) + [f for w in h.sent for f in _frames(w)]:
        assert _plain_len(f) == len(f)


def test_a_refused_login_starts_no_mac():
    h = Host(make_session())
    msgs = h.hello()
    nonce = msgs[1][2][P.K_NONCE]
    h.send(P.MSG_AUTH, 0, {P.K_MAC: h.auth(KEY_DIAG, P.ROLE_FULL, nonce)})   # wrong key
    got = h.recv()
    assert got[-1][0] == P.MSG_ERROR and not h.s.mac_on and not h.mac.tx.on
    assert h.s.state == S_WAIT_HELLO and _plain_len(_frames(h.wire)[-1]) == len(
        _frames(h.wire)[-1])


# ---- what the gateway refuses --------------------------------------------------------
def test_a_flipped_bit_anywhere_ends_the_session():
    for where in ("message", "tag"):
        h = _ready()
        m = h.mac.signed([P.MSG_REQ_UDS, 1, {P.K_DATA: b"\x22\xf1\x90"}])
        m[2 if where == "message" else len(m) - 1] ^= 0x04
        h.feed(frame_msg(m, len(m)))                    # CRC good: only the MAC can tell
        _ended_by_bad_mac(h)
        _request_is_not_served(h, 10)


def test_a_replayed_frame_ends_the_session():
    h = _ready()
    h.send(P.MSG_REQ_UDS, 1, {P.K_DATA: b"\x22\xf1\x90"})
    assert h.events() == [EV_REQUEST]
    h.s.respond(h.now, 1, OK)
    h.recv()
    h.feed(h.sent[-1])                                  # the same bytes again
    _ended_by_bad_mac(h)
    _request_is_not_served(h, 10)


def test_a_dropped_frame_ends_the_session_at_the_next_one():
    h = _ready()
    h.mac.frame([P.MSG_HEARTBEAT, 0, {}])               # signed, never delivered
    h.send(P.MSG_REQ_STATUS, 1, {})
    _ended_by_bad_mac(h)


def test_a_reordered_frame_ends_the_session():
    h = _ready()
    first = h.mac.frame([P.MSG_REQ_STATUS, 1, {}])
    second = h.mac.frame([P.MSG_REQ_STATUS, 2, {}])
    h.feed(second)
    _ended_by_bad_mac(h)
    h.feed(first)                                       # too late: no session
    assert h.events() == [] and h.s.state == S_WAIT_HELLO


def test_an_injected_frame_ends_the_session():
    # unsigned; signed under another key; a gateway frame reflected back
    for how in ("unsigned", "other key", "reflected"):
        h = _ready()
        if how == "unsigned":
            f = frame([P.MSG_REQ_STATUS, 9, {}])
        elif how == "other key":
            m = FrameMac(hashlib.sha256)
            m.start(b"attacker-key-0123456789abcdef!!!", WHO_HOST)
            msg = packb([P.MSG_REQ_STATUS, 9, {}])
            b = bytearray(len(msg) + P.TAG_LEN)
            for i in range(len(msg)):
                b[i] = msg[i]
            f = frame_msg(b, m.sign(memoryview(b), len(msg)))
        else:
            h.s.post_can_rx(h.now, 1, 0, 0x7E8, 0, b"\x01", 1)
            n = h.s.pop_bytes(h.out)
            f = bytes(h.out[:n])                        # the gateway's own signed frame
            g = _frames(f)[0]
            assert h.mac.unwrap(memoryview(g), len(g)) > 0  # (the host saw it)
        h.feed(f)
        _ended_by_bad_mac(h)
        _request_is_not_served(h, 10)


def test_after_a_bad_mac_a_hello_starts_a_new_handshake_and_the_rest_is_dropped():
    h = _ready()
    h.feed(frame([P.MSG_REQ_STATUS, 9, {}]))
    _ended_by_bad_mac(h)
    msgs = h.hello()                                    # a host restarting on this stream
    assert [m[0] for m in msgs] == [P.MSG_HELLO_ACK, P.MSG_CHALLENGE]
    assert h.s.state == S_WAIT_AUTH
    # and straight from a live session: the unsigned HELLO ends it, then is taken
    h = _ready()
    msgs = h.hello()
    assert h.events() == [EV_LINK_LOST, EV_LINK_FAULT] and h.s.result == LINK_BAD_MAC
    assert [m[0] for m in msgs] == [P.MSG_HELLO_ACK, P.MSG_CHALLENGE]   # no stale BYE
    nonce = msgs[1][2][P.K_NONCE]
    h.send(P.MSG_AUTH, 0, {P.K_MAC: h.auth(KEY_FULL, P.ROLE_FULL, nonce)})
    assert h.recv()[-1][0] == P.MSG_AUTH_OK and h.events() == [EV_LINK_UP]
    h.send(P.MSG_REQ_STATUS, 1, {})                     # under the new session's keys
    assert h.events() == [EV_REQUEST] and h.s.bad_mac == 1


def test_noise_between_frames_does_not_end_the_session():
    h = _ready()
    f = bytearray(frame([P.MSG_REQ_STATUS, 5, {}]))
    f[4] ^= 0x40                                        # bad CRC: not a frame, no number used
    junk = b"\x13\x37" * 20 + bytes(f) + b"\x00\x00"
    h.feed(junk)
    h.send(P.MSG_REQ_STATUS, 6, {})
    evs = h.events()
    assert evs[-1] == EV_REQUEST and h.s.req_id == 6 and h.s.bad_mac == 0
    assert h.s.result == LINK_BAD_CRC and h.s.state == S_READY


def test_an_oversize_message_behind_a_good_tag_is_refused():
    h = _ready(max_frame=64)
    h.send(P.MSG_REQ_UDS, 1, {P.K_DATA: b"\x22" * 40})      # fits, with its tag
    assert h.events() == [EV_REQUEST]
    h.s.respond(h.now, 1, OK)
    h.recv()
    h.mac.stop()                                            # 70 bytes unsigned: too long
    f = frame([P.MSG_REQ_UDS, 2, {P.K_DATA: b"\x22" * 60}])
    h.feed(f)
    assert h.s.bad_mac == 1 and h.events() == [EV_LINK_LOST, EV_LINK_FAULT]
    assert h.s.state == S_WAIT_HELLO


# ---- ends of a session -------------------------------------------------------------------
def test_bye_close_and_hang_up_end_the_mac():
    h = _ready()
    h.send(P.MSG_BYE, 0, {})                            # signed BYE
    assert h.events() == [EV_LINK_LOST] and h.s.result == LINK_BYE and not h.s.mac_on
    h.mac.stop()
    h = _ready()
    h.s.close(h.now)                                    # our BYE is the last signed frame
    got = h.recv()
    assert got == [[P.MSG_BYE, 0, {P.K_CODE: LINK_CLOSED}]] and h.mac.bad == 0
    assert h.s.state == S_CLOSED and not h.s.mac_on and not h.s._q.signing
    h.s.open(h.now)
    h.mac.stop()
    assert h.login()[-1][0] == P.MSG_AUTH_OK and h.s.mac_on
    h.s.hang_up(h.now)                                  # the transport lost the host
    assert h.events() == [EV_LINK_LOST] and h.s.result == LINK_BYE
    assert not h.s.mac_on and h.s.state == S_WAIT_HELLO and h.s.bad_mac == 0


def test_the_old_protocol_version_is_refused_at_hello():
    h = Host(make_session())
    for old in (1, 2):                  # 2: no frame size negotiation, no fragments
        msgs = h.hello(version=old)
        assert [m[0] for m in msgs] == [P.MSG_HELLO_ACK, P.MSG_ERROR]
        assert msgs[0][2][P.K_VERSION] == 3 and msgs[0][2][P.K_AUTH] is False
    assert msgs[1][2][P.K_CODE] == LINK_VERSION
    assert h.s.state == S_WAIT_HELLO and h.s.result == LINK_VERSION and not h.s.mac_on


# ---- what it costs in memory ------------------------------------------------------------
def _alloc_per(fn, n):
    import gc
    gc.collect()
    gc.disable()
    try:
        a = gc.mem_alloc()
        for _ in range(n):
            fn()
        return (gc.mem_alloc() - a) // n
    finally:
        gc.enable()


def test_the_mac_is_the_only_allocation_of_a_keyed_link():
    # A keyed session's steady state (an event out, signed) allocates exactly
    # what FrameMac.sign() does: on MicroPython that is the hash objects and
    # their digests (hashlib.sha256 has no copy()); the open-role steady
    # state allocates nothing (test_link_noalloc.py, under heap_lock).
    h = _ready(event_queue=8)
    s = h.s
    data = bytearray(b"\x02\x7e\x00\x00\x00\x00\x00\x00")
    out = bytearray(256)
    wire = bytearray(120 * 64)                          # what the host will check
    m = FrameMac(hashlib.sha256)
    m.start(b"k" * 32, WHO_GATEWAY)
    buf = bytearray(64)
    mv = memoryview(buf)
    sent = [0]

    def event():
        s.post_can_rx(0, 0, 0, 0x7E8, 0, data, 8)
        n = s.pop_bytes(out)
        w = sent[0]
        for i in range(n):
            wire[w + i] = out[i]
        sent[0] = w + n

    def sign():
        m.sign(mv, 40)

    s._q.add_credits(1000)
    event()
    sign()
    if MICROPYTHON:
        per_event = _alloc_per(event, 50)
        per_sign = _alloc_per(sign, 50)
        print("frame MAC: %d bytes of heap per signed frame" % per_sign)
        assert per_event == per_sign and 0 < per_sign <= 640, (per_event, per_sign)
    else:
        for _ in range(50):
            event()
    # and what went out verifies on the host, every frame in order
    frames = _frames(wire[:sent[0]])
    assert len(frames) == 51
    for f in frames:
        n = h.mac.unwrap(memoryview(f), len(f))
        assert n > 0 and Reader(f, 0, n).read_obj()[0] == P.MSG_EV_CAN_RX
    assert h.mac.bad == 0 and s.bad_mac == 0
