"""Host end of the link (CPython): PyPI msgpack agrees with the gateway's
subset both ways, and HostLink against the real LinkSession in memory."""
import hashlib
import math

import msgpack
import pytest

from diagbridge.clock import TICKS_MASK
from diagbridge.link import proto as P
from diagbridge.link.config import LinkConfig
from diagbridge.link.msgpack import Reader, packb
from diagbridge.link.cobs import Deframer, EV_FRAME, encode_frame, frame_size
from diagbridge.codes import LINK_BAD_MAC, LINK_BYE
from diagbridge.link.session import LinkSession, EV_REQUEST, EV_LINK_UP, EV_LINK_LOST
from diagbridge_host.errors import LinkAuthError, LinkError, LinkRefused, LinkVersionError
from diagbridge_host.link import (HostLink, LinkUp, Response, RequestFailed, GatewayEvent,
                                  Dropped, LinkLost, READY, FAILED, LOST)

KEY = b"0123456789abcdef0123456789abcdef"

VALUES = [0, 1, 31, 32, 127, 128, 255, 256, 65535, 65536, 2**31 - 1, 2**31, 2**32 - 1, 2**32,
          2**63, 2**64 - 1, -1, -31, -32, -33, -127, -128, -129, -32767, -32768, -32769,
          -2**31, -2**31 - 1, -2**63, None, True, False,
          b"", b"\x00", b"x" * 31, b"x" * 32, b"x" * 255, b"x" * 256, b"x" * 65535, b"x" * 65536,
          "", "a" * 31, "a" * 32, "a" * 255, "a" * 256, "a" * 65535, "a" * 65536, "h\u00e9\u20ac",
          [], [1] * 15, [1] * 16, [1] * 65535, [1] * 65536, {}, {i: i for i in range(15)},
          {i: i for i in range(16)}, {i: None for i in range(65536)},
          [1, [2, [3, {4: b"5", "six": [None, True]}]]]]


@pytest.mark.parametrize("v", VALUES, ids=lambda v: repr(v)[:24])
def test_gateway_encoding_equals_pypi_msgpack(v):
    assert packb(v) == msgpack.packb(v, use_bin_type=True)


@pytest.mark.parametrize("v", VALUES, ids=lambda v: repr(v)[:24])
def test_gateway_decodes_what_pypi_msgpack_encodes(v):
    enc = msgpack.packb(v, use_bin_type=True)
    r = Reader(enc, 0, len(enc))
    assert r.read_obj() == v and r.ok and r.pos == len(enc)
    assert msgpack.unpackb(packb(v), raw=False, strict_map_key=False) == v


@pytest.mark.parametrize("f", [0.0, -0.0, 1.5, -2.25, math.pi, 1e-300, 5e-324, 1.7976931348623157e308,
                               float("inf"), float("-inf")])
def test_gateway_decodes_pypi_floats(f):
    for single in (False, True):
        if single and abs(f) > 3e38 and not math.isinf(f):
            continue
        enc = msgpack.packb(f, use_single_float=single)
        got = Reader(enc, 0, len(enc)).read_obj()
        want = msgpack.unpackb(enc)
        assert got == want and math.copysign(1, got) == math.copysign(1, want)
    enc = msgpack.packb(float("nan"))
    assert math.isnan(Reader(enc, 0, len(enc)).read_obj())


class Rand:
    def __init__(self):
        self.n = 0

    def __call__(self, k):
        self.n += 1
        return hashlib.sha256(b"%d" % self.n).digest()[:k]


def pair(key=KEY, role=P.ROLE_FULL, gw_keys=None, credits=64, **cfg):
    if gw_keys is None:
        gw_keys = ((P.ROLE_FULL, KEY),)
    gw = LinkSession(LinkConfig(keys=gw_keys, **cfg), hashlib.sha256, Rand())
    host = HostLink(key=key, role=role, event_credits=credits, urandom=Rand())
    return gw, host


def pump(gw, host, t=0.0, rounds=20):
    """Move bytes both ways until quiet."""
    out = bytearray(4096)
    for _ in range(rounds):
        moved = False
        data = host.data_to_send()
        if data:
            gw.feed_bytes(int(t * 1e6) & TICKS_MASK, data, len(data))
            moved = True
        n = gw.pop_bytes(out)
        while n:
            host.receive_bytes(t, bytes(out[:n]))
            moved = True
            n = gw.pop_bytes(out)
        if not moved:
            return


def events(host):
    out = []
    while (ev := host.next_event()) is not None:
        out.append(ev)
    return out


def test_handshake_request_response_and_events():
    gw, host = pair(name=b"pi", buses=((0, P.BUS_CAN, 500000, 0),))
    host.connect(0.0)
    pump(gw, host)
    assert host.state == READY and host.role == P.ROLE_FULL and host.request_credits == 4
    (up,) = events(host)
    assert isinstance(up, LinkUp) and up.gateway.name == "pi" and up.gateway.buses == [[0, 1, 500000, 0]]
    rid = host.request(0.0, P.MSG_REQ_UDS, {P.K_BUS: 0, P.K_DATA: b"\x22\xf1\x90"})
    pump(gw, host)
    assert gw.poll() == EV_LINK_UP
    assert gw.poll() == EV_REQUEST and gw.req_id == rid and gw.body()[P.K_DATA] == b"\x22\xf1\x90"
    gw.respond(0, rid, 0, b"\x62\xf1\x90ABC", 6)
    gw.post_can_rx(0, 1234, 0, 0x7E8, 0, b"\x01\x02", 2)
    pump(gw, host)
    rsp, ev = events(host)
    assert rsp == Response(rid, P.MSG_REQ_UDS, 0, b"\x62\xf1\x90ABC",
                           {P.K_RESULT: 0, P.K_DATA: b"\x62\xf1\x90ABC"})
    assert isinstance(ev, GatewayEvent) and ev.kind == P.MSG_EV_CAN_RX and ev.body[P.K_TS_US] == 1234
    assert host.request_credits == 4 and host.outstanding == 0


def test_requests_beyond_the_credit_wait_on_the_host():
    gw, host = pair(request_credits=2)
    host.connect(0.0)
    pump(gw, host)
    ids = [host.request(0.0, P.MSG_REQ_STATUS) for _ in range(5)]
    pump(gw, host)
    seen = []
    while len(seen) < 5:
        ev = gw.poll()
        if ev == EV_REQUEST:
            seen.append(gw.req_id)
            continue
        for rid in seen[-2:]:
            gw.respond(0, rid, 0)
        pump(gw, host)
    assert seen == ids
    gw.respond(0, ids[-1], 0)
    pump(gw, host)
    assert [e.req_id for e in events(host) if isinstance(e, Response)] == ids


def test_drops_are_surfaced_exactly():
    gw, host = pair(credits=8, event_queue=16)
    host.connect(0.0)
    pump(gw, host)
    events(host)
    for ts in range(100):
        gw.post_can_rx(0, ts, 0, 0x100, 0, b"", 0)
    got = []
    for _ in range(20):
        pump(gw, host)
        got += events(host)                 # taking events grants credits back
    can = [e.body[P.K_TS_US] for e in got if isinstance(e, GatewayEvent)]
    drops = [e for e in got if isinstance(e, Dropped)]
    assert can == list(range(16)) and drops == [Dropped({P.MSG_EV_CAN_RX: 84}, 84)]
    assert host.dropped == {P.MSG_EV_CAN_RX: 84} and host.dropped_total == 84
    assert host.lost_events == 0 and len(can) + host.dropped_total == 100


def test_version_mismatch_raises_a_clear_error(monkeypatch):
    gw, host = pair()
    monkeypatch.setattr(P, "LINK_PROTOCOL_VERSION", P.LINK_PROTOCOL_VERSION + 1)
    host.connect(0.0)
    monkeypatch.undo()
    data = host.data_to_send()
    gw.feed_bytes(0, data, len(data))
    out = bytearray(1024)
    n = gw.pop_bytes(out)
    monkeypatch.setattr(P, "LINK_PROTOCOL_VERSION", P.LINK_PROTOCOL_VERSION + 1)
    with pytest.raises(LinkVersionError) as e:
        host.receive_bytes(0.0, bytes(out[:n]))
    v = P.LINK_PROTOCOL_VERSION             # (still patched: the gateway's + 1)
    assert str(e.value) == ("gateway speaks link protocol %d, this library speaks %d: update the "
                            "gateway firmware (or the host library)" % (v - 1, v))
    assert isinstance(e.value, LinkError) and isinstance(e.value, OSError)
    assert host.state == FAILED


def test_wrong_key_raises_link_auth_error():
    gw, host = pair(key=b"x" * 32)
    host.connect(0.0)
    with pytest.raises(LinkAuthError, match="rejected our key for the full role"):
        pump(gw, host)
    assert gw.auth_failures == 1


def test_no_key_for_a_keyed_gateway():
    gw, host = pair(key=None)
    host.connect(0.0)
    with pytest.raises(LinkAuthError, match="wants a key for the full role"):
        pump(gw, host)


def gw_events(gw):
    out = []
    while (ev := gw.poll()) != 0:
        out.append(ev)
    return out


def test_gateway_with_another_key_rejects_us():
    gw, host = pair(gw_keys=((P.ROLE_FULL, b"y" * 32),))
    host.connect(0.0)
    with pytest.raises(LinkAuthError, match="check the pre-shared key"):
        pump(gw, host)


def test_an_impostor_gateway_is_detected():
    gw, host = pair()
    host.connect(0.0)
    pump(gw, host, rounds=1)                 # HELLO -> HELLO_ACK + CHALLENGE; AUTH pending
    assert host.data_to_send()               # our AUTH: not delivered to the real gateway
    fake = msgpack.packb([P.MSG_AUTH_OK, 0, {P.K_ROLE: 3, P.K_CREDITS: 4, P.K_MAC: bytes(32)}])
    out = bytearray(frame_size(len(fake)))
    n = encode_frame(fake, len(fake), out)
    with pytest.raises(LinkAuthError, match="could not prove it knows the key"):
        host.receive_bytes(0.0, bytes(out[:n]))
    assert host.state == FAILED


def test_role_not_offered_and_request_refused():
    gw, host = pair(key=None, role=P.ROLE_FULL, gw_keys=(), open_role=P.ROLE_MONITOR)
    host.connect(0.0)
    with pytest.raises(LinkRefused, match="it offers: monitor"):
        pump(gw, host)
    gw, host = pair(key=None, role=P.ROLE_MONITOR, gw_keys=(), open_role=P.ROLE_MONITOR)
    host.connect(0.0)
    pump(gw, host)
    rid = host.request(0.0, P.MSG_REQ_UDS, {P.K_DATA: b"\x2e\xf1\x90\x01"})
    pump(gw, host)
    assert gw_events(gw) == [EV_LINK_UP]        # the router never saw the request
    (_, failed) = events(host)
    assert isinstance(failed, RequestFailed) and failed.req_id == rid
    exc = failed.exception()
    assert isinstance(exc, LinkRefused) and "role too low" in str(exc)


def test_silent_gateway_is_lost_and_heartbeats_flow():
    gw, host = pair()
    host.connect(0.0)
    pump(gw, host)
    host.on_timer(1.0)
    assert host.data_to_send()                  # our heartbeat
    host.on_timer(10.0)
    assert host.state == "lost" and isinstance(events(host)[-1], LinkLost)


def _gw_frame(obj_bytes, gw=None):
    """A frame as the gateway would send it (signed by its frame MAC when gw
    has a keyed session up)."""
    n = len(obj_bytes)
    buf = bytearray(n + P.TAG_LEN)
    buf[:n] = obj_bytes
    if gw is not None and gw._q.signing:
        n = gw._q._mac.sign(memoryview(buf), n)
    out = bytearray(frame_size(n))
    k = encode_frame(buf, n, out)
    return bytes(out[:k])


def test_malformed_messages_are_counted_and_the_link_goes_on():
    # Messages with a good CRC that the host cannot use: not an array, short,
    # a non-map body, wrong key/value types deep inside known kinds.  Each is
    # counted in `malformed` and dropped; nothing raises out of
    # receive_bytes(), the link stays READY and the next good answer arrives.
    gw, host = pair()
    host.connect(0.0)
    pump(gw, host)
    events(host)
    rid = host.request(0.0, P.MSG_REQ_STATUS, {})
    pump(gw, host)
    bad = [msgpack.packb(x, use_bin_type=True) for x in (
        5, "x", [], [P.MSG_RESPONSE], [P.MSG_RESPONSE, rid], [True, rid, {}],
        [P.MSG_RESPONSE, rid, 7], [P.MSG_RESPONSE, rid, [1, 2]], [P.MSG_RESPONSE, rid, b"ab"],
        [P.MSG_EV_CAN_RX, 0, "body"], [P.MSG_CREDIT, 0, {P.K_CREDITS: "many"}],
        [P.MSG_CREDIT, 0, {P.K_CREDITS: [1]}], [P.MSG_EV_DROPPED, 0, {P.K_COUNTS: 5}],
        [P.MSG_EV_DROPPED, 0, {P.K_COUNTS: {"a": "b"}}], [P.MSG_BYE, 0, {P.K_CODE: "x"}])]
    bad.append(b"\xc1")                             # never-used byte
    bad.append(b"\x93\x01\x02")                     # truncated array
    for b in bad:
        host.receive_bytes(0.0, _gw_frame(b, gw))
    assert host.state == READY, host.state
    assert host.malformed == len(bad) and host.frame_faults["malformed"] == len(bad)
    assert not [e for e in events(host) if isinstance(e, LinkLost)]
    gw.poll()
    gw.poll()
    gw.respond(0, rid, 0)
    pump(gw, host)
    (rsp,) = events(host)
    assert isinstance(rsp, Response) and rsp.req_id == rid


def test_random_messages_never_break_the_host_link():
    # 3000 random and mutated messages with good CRCs: none raises, the link
    # stays up and answers what it can.
    import random
    rnd = random.Random(16)
    gw, host = pair()
    host.connect(0.0)
    pump(gw, host)
    kinds = [P.MSG_RESPONSE, P.MSG_ERROR, P.MSG_CREDIT, P.MSG_EV_CAN_RX, P.MSG_EV_DROPPED,
             P.MSG_BYE, P.MSG_HEARTBEAT, P.MSG_HELLO_ACK, P.MSG_CHALLENGE, P.MSG_AUTH_OK]

    keys = [P.K_DATA, P.K_CODE, P.K_CREDITS, P.K_COUNTS, P.K_TEXT, P.K_VERSION, "k"]

    def junk(d=0):
        c = rnd.randrange(8 if d < 3 else 5)
        if c == 5:
            return [junk(d + 1) for _ in range(rnd.randrange(3))]
        if c == 6:
            return {rnd.choice(keys): junk(d + 1) for _ in range(rnd.randrange(3))}
        if c == 7:
            return {P.K_COUNTS: {rnd.choice([1, "a", None]): junk(3)}}
        return [None, rnd.randrange(-3, 300), "s", b"\x00\x01", 1.5][c]

    for _ in range(3000):
        msg = [rnd.choice(kinds), rnd.randrange(0, 70000), junk()]
        try:
            enc = msgpack.packb(msg, use_bin_type=True)
        except (TypeError, ValueError):
            continue
        host.receive_bytes(0.0, _gw_frame(enc, gw))
        if host.state != READY:                     # a BYE is a clean link loss
            assert host.state == LOST
            gw, host = pair()
            host.connect(0.0)
            pump(gw, host)
        events(host)


# ---- the frame MAC on the host end -------------------------------------------------------
def _up(**kw):
    gw, host = pair(**kw)
    host.connect(0.0)
    pump(gw, host)
    assert host.state == READY and host.mac_on and gw.mac_on
    while gw.poll():
        pass
    events(host)
    return gw, host


def _gw_frames(gw, n_events=1):
    """n_events EV_CAN_RX from the gateway, as separate wire frames (signed by it)."""
    out = bytearray(4096)
    frames = []
    for i in range(n_events):
        assert gw.post_can_rx(0, i, 0, 0x7E8, 0, bytes([i]), 1)
        n = gw.pop_bytes(out)
        frames.append(bytes(out[:n]))
    return frames


def _lost_by_bad_mac(gw, host):
    evs = events(host)
    lost = [e for e in evs if isinstance(e, LinkLost)]
    assert len(lost) == 1 and lost[0].code == LINK_BAD_MAC and "MAC" in lost[0].reason
    assert host.state == LOST and host.bad_mac == 1 and not host.mac_on
    assert host.frame_faults["bad_mac"] == 1
    # its last word, signed: the gateway ends the session at once (as a BYE)
    bye = host.data_to_send()
    gw.feed_bytes(0, bye, len(bye))
    assert gw.poll() == EV_LINK_LOST and gw.result == LINK_BYE and gw.bad_mac == 0
    assert not gw.mac_on
    return evs


def test_host_signs_every_frame_after_auth_and_checks_the_gateway():
    gw, host = _up()
    rid = host.request(0.0, P.MSG_REQ_STATUS, {})
    pump(gw, host)
    assert gw.poll() == EV_REQUEST and gw.req_id == rid
    gw.respond(0, rid, 0)
    for f in _gw_frames(gw, 3):
        host.receive_bytes(0.0, f)
    pump(gw, host)
    evs = events(host)
    assert [type(e) for e in evs] == [Response, GatewayEvent, GatewayEvent, GatewayEvent]
    assert host.bad_mac == 0 and gw.bad_mac == 0 and gw.faults == 0
    assert host._tx_mac.seq() == 1 and host._rx_mac.seq() == 4


@pytest.mark.parametrize("how", ["flipped", "replayed", "dropped", "reordered", "injected"])
def test_a_bad_frame_from_the_gateway_is_a_clean_link_loss(how):
    gw, host = _up()
    a, b = _gw_frames(gw, 2)
    if how == "flipped":
        d = bytearray(a)
        d[5] ^= 0x10                        # breaks COBS or CRC: no frame at all ...
        host.receive_bytes(0.0, bytes(d))
        assert host.state == READY and host.bad_mac == 0
        payload = msgpack.packb([P.MSG_EV_CAN_RX, 0, {}], use_bin_type=True)   # so: a bit
        m = bytearray(payload) + bytearray(P.TAG_LEN)
        n = gw._q._mac.sign(memoryview(m), len(payload))
        m[1] ^= 0x01                        # ... flipped under a good CRC
        out = bytearray(frame_size(n))
        host.receive_bytes(0.0, bytes(out[:encode_frame(m, n, out)]))
    elif how == "replayed":
        host.receive_bytes(0.0, a)
        host.receive_bytes(0.0, a)
    elif how == "dropped":
        host.receive_bytes(0.0, b)
    elif how == "reordered":
        host.receive_bytes(0.0, b)
        host.receive_bytes(0.0, a)
    else:
        host.receive_bytes(0.0, _gw_frame(msgpack.packb([P.MSG_EV_CAN_RX, 0, {}])))
    evs = _lost_by_bad_mac(gw, host)
    assert len([e for e in evs if isinstance(e, GatewayEvent)]) == (1 if how == "replayed"
                                                                    else 0)
    host.receive_bytes(0.0, b)              # nothing more is taken from this stream
    assert events(host) == [] and host.bad_mac == 1
    with pytest.raises(LinkError):
        host.request(0.0, P.MSG_REQ_STATUS, {})
    host.connect(1.0)                       # a new handshake, new keys
    pump(gw, host, 1.0)
    assert host.state == READY and host.mac_on and gw.mac_on
    assert isinstance(events(host)[-1], LinkUp)


def test_the_gateway_ending_a_session_for_a_bad_mac_is_a_clean_link_loss():
    gw, host = _up()
    f = _gw_frame(msgpack.packb([P.MSG_REQ_STATUS, 7, {}]))     # unsigned, into the gateway
    gw.feed_bytes(0, f, len(f))
    assert gw.bad_mac == 1
    pump(gw, host)                          # its signed BYE {CODE: LINK_BAD_MAC}
    lost = [e for e in events(host) if isinstance(e, LinkLost)]
    assert len(lost) == 1 and lost[0].code == LINK_BAD_MAC and host.bad_mac == 0
    assert host.state == LOST and not host.mac_on


def test_no_tag_before_auth_and_none_on_an_open_login():
    gw, host = pair()
    host.connect(0.0)
    hello = host.data_to_send()
    gw.feed_bytes(0, hello, len(hello))
    out = bytearray(4096)
    n = gw.pop_bytes(out)
    host.receive_bytes(0.0, bytes(out[:n]))
    auth = host.data_to_send()              # AUTH: sent unsigned; what follows is signed
    assert host._tx_mac.on and not host._rx_mac.on
    d = Deframer(4096)
    for w in (hello, auth):
        i = d.feed_bytes(0, w, len(w), 0)
        while d.poll() != EV_FRAME:
            assert i < len(w)
            i = d.feed_bytes(0, w, len(w), i)
        r = Reader(d.payload, 0, d.length)
        r.read_obj()
        assert r.ok and r.pos == d.length   # nothing behind the message
    open_gw = LinkSession(LinkConfig(open_role=P.ROLE_FULL), hashlib.sha256, Rand())
    h2 = HostLink(urandom=Rand())           # no key: an open gateway is accepted, no tags
    h2.connect(0.0)
    pump(open_gw, h2)
    assert h2.state == READY and not h2.mac_on and not open_gw.mac_on
