"""Fuzz targets for the host link: COBS/CRC framing, the msgpack subset on
both ends, the gateway's link session and the host library's HostLink fed
frames with a valid CRC."""
import msgpack

from diagbridge import codes as C
from diagbridge.clock import ticks_add
from diagbridge.link import proto as P
from diagbridge.link.cobs import Deframer, EV_FRAME, EV_FRAME_BAD, encode_frame, frame_size
from diagbridge.link.msgpack import Reader, packb as gw_packb, MAX_DEPTH
from fuzz_common import LINK_CODES, rbytes


def gen_link_cobs(rnd):
    msgs = [rbytes(rnd, 0, rnd.choice((4, 40, 300))) for _ in range(rnd.randint(0, 4))]
    noise = [rbytes(rnd, 0, rnd.choice((0, 5, 50))) for _ in range(len(msgs) + 1)]
    return (msgs, noise, rnd.choice((16, 64, 1024)), rnd.randint(0, 9999))


def check_link_cobs(inp):
    """COBS + CRC framing: frames between arbitrary noise (bytes without 0x00
    would glue onto the next frame, so noise ends at a delimiter) are all
    recovered identical when they fit max_frame; garbage is only ever a
    counted bad frame (never an exception, never a forged good frame from the
    encoder's own frames); a corrupted byte is never delivered as good."""
    msgs, noise, max_frame, flip = inp
    d = Deframer(max_frame)
    wire = bytearray()
    expect = []
    for i, m in enumerate(msgs):
        wire += noise[i] + b"\x00"
        out = bytearray(frame_size(len(m)))
        k = encode_frame(m, len(m), out)
        wire += out[:k]
        if 0 < len(m) <= max_frame:
            expect.append(bytes(m))
    wire += noise[-1]
    good, bad = _deframe(d, bytes(wire))
    for m in expect:
        assert m in good, ("frame lost", m, good)
    assert d.bad_crc + d.oversize + d.truncated == bad
    # one flipped bit inside one frame: when it lands in the message or its
    # CRC (not in a COBS code byte, which moves zeros around), CRC-16 catches
    # it and nothing is delivered
    if msgs:
        m = msgs[flip % len(msgs)]
        out = bytearray(frame_size(len(m)))
        k = encode_frame(m, len(m), out)
        pos = 1 + flip % max(1, k - 2)
        if pos < k - 1:
            clean = _cobs_decode(out[1:k - 1])
            out[pos] ^= 1 << (flip % 8)
            dirty = _cobs_decode(out[1:k - 1]) if out[pos] != 0 else None
            one_bit = (dirty is not None and len(dirty) == len(clean) and
                       sum(bin(a ^ b).count("1") for a, b in zip(clean, dirty)) == 1)
            got, _ = _deframe(Deframer(max_frame), bytes(out[:k]))
            if one_bit:
                assert got == [], ("a frame with one bit flipped was delivered", m, got)
            # a flipped COBS code byte moves zeros: a different body passes
            # CRC-16 with probability 2**-16 (inherent); but the frame cut
            # short by exactly its last byte must never pass
            for g in got:
                assert g == bytes(m) or g != bytes(m[:-1]), (
                    "a frame cut by one byte passed the CRC", m, bytes(out[:k]))
    return True


def known_link_cobs(inp):
    """LINK_CRC_TRUNCATION: the frame is COBS(msg | crc16_be(msg)).  When the
    CRC's low byte is 0x00 (msg[-1] == high byte of CRC(msg[:-1]), 1 message
    in 256) the frame ends in the code byte 0x01; one bit error turning it
    into 0x00 ends the frame there, and msg[:-1] with `msg[-1] crc_hi` as
    its CRC passes the check (CRC(msg[:-1] | msg[-1]) = crc_lo << 8 exactly
    then): msg[:-1] is delivered as a good frame."""
    msgs, noise, max_frame, flip = inp
    if not msgs:
        return None
    m = bytes(msgs[flip % len(msgs)])
    if not m:
        return None
    out = bytearray(frame_size(len(m)))
    k = encode_frame(m, len(m), out)
    pos = 1 + flip % max(1, k - 2)
    if pos != k - 2 or out[pos] != 1 or (1 << (flip % 8)) != 1:
        return None
    from diagbridge.crc import CRC16_INIT, crc16_update
    if m[-1] == crc16_update(CRC16_INIT, m, 0, len(m) - 1) >> 8:
        return "LINK_CRC_TRUNCATION"
    return None


def _cobs_decode(body):
    """Plain COBS decoding (from the 1999 paper, not from cobs.py); None when
    the block structure does not fit."""
    out = bytearray()
    i = 0
    n = len(body)
    while i < n:
        code = body[i]
        if code == 0 or i + code > n:
            return None
        out += body[i + 1:i + code]
        i += code
        if code != 0xFF and i < n:
            out.append(0)
    return bytes(out)


def _deframe(d, wire):
    good = []
    bad = 0
    i = 0
    n = len(wire)
    while i < n:
        i = d.feed_bytes(0, wire, n, i)
        ev = d.poll()
        if ev == EV_FRAME:
            assert 0 <= d.length
            good.append(bytes(d.payload[:d.length]))
        elif ev == EV_FRAME_BAD:
            assert d.result in LINK_CODES, d.result
            bad += 1
    return good, bad


# ---- msgpack, both ends ---------------------------------------------------------------------
def gen_msgpack_value(rnd, depth=0):
    c = rnd.randrange(9 if depth < 4 else 6)
    if c == 0:
        return None
    if c == 1:
        return rnd.random() < 0.5
    if c == 2:
        return rnd.choice((0, 1, -1, 127, 128, -32, -33, 255, 256, 65535, 65536, 2**31, -2**31,
                           2**32, 2**63 - 1, -2**63, 2**64 - 1, rnd.getrandbits(64),
                           -rnd.getrandbits(63)))
    if c == 3:
        return rbytes(rnd, 0, rnd.choice((0, 3, 40, 300)))
    if c == 4:
        return "".join(chr(rnd.choice((0x41, 0xE9, 0x20AC, 0x1F600, 0x7F))) for _ in
                       range(rnd.randint(0, 40)))
    if c == 5:
        return rnd.getrandbits(rnd.choice((7, 15, 31)))
    if c == 6:
        return [gen_msgpack_value(rnd, depth + 1) for _ in range(rnd.randint(0, 5))]
    d = {}
    for _ in range(rnd.randint(0, 5)):
        k = rnd.choice((rnd.randint(-5, 300), "k%d" % rnd.randint(0, 9), rbytes(rnd, 0, 3)))
        d[k] = gen_msgpack_value(rnd, depth + 1)
    return d


def gen_link_msgpack(rnd):
    if rnd.random() < 0.5:
        return ("value", gen_msgpack_value(rnd))
    raw = bytearray(rbytes(rnd, 0, 60))
    if rnd.random() < 0.5:  # mutate a real message
        raw = bytearray(msgpack.packb(gen_msgpack_value(rnd), use_bin_type=True))
        for _ in range(rnd.randint(1, 3)):
            if raw:
                raw[rnd.randrange(len(raw))] = rnd.getrandbits(8)
    return ("bytes", bytes(raw))


def _norm(v):
    if isinstance(v, (list, tuple)):
        return [_norm(x) for x in v]
    if isinstance(v, dict):
        return {_norm_key(k): _norm(x) for k, x in v.items()}
    if isinstance(v, (bytearray, memoryview)):
        return bytes(v)
    return v


def _norm_key(k):
    return bytes(k) if isinstance(k, (bytearray, memoryview)) else k


def _depth(v):
    if isinstance(v, (list, tuple)):
        return 1 + max([_depth(x) for x in v] or [0])
    if isinstance(v, dict):
        return 1 + max([max(_depth(k), _depth(x)) for k, x in v.items()] or [0])
    return 0


def check_link_msgpack(inp):
    """The gateway's msgpack subset (link/msgpack.py) against PyPI msgpack (the
    host's): a value in the subset survives gateway -> host and host ->
    gateway unchanged; arbitrary bytes never raise in Reader.read_obj, and
    whatever the gateway decodes, the host library decodes to the same value
    (no accepted message means two things on the two ends)."""
    kind, x = inp
    if kind == "value":
        v = x
        g = gw_packb(v)
        assert _norm(msgpack.unpackb(g, raw=False, strict_map_key=False)) == _norm(v)
        h = msgpack.packb(v, use_bin_type=True)
        r = Reader(h, 0, len(h))
        got = r.read_obj()
        if _depth(v) <= MAX_DEPTH:
            assert r.ok and r.pos == len(h), ("host message refused", v)
            assert _norm(got) == _norm(v), (v, got)
        return True
    r = Reader(x, 0, len(x))
    got = r.read_obj()
    if not r.ok:
        assert got is None
        return True
    try:
        ref = msgpack.unpackb(x[:r.pos], raw=False, strict_map_key=False)
    except (ValueError, msgpack.exceptions.ExtraData, msgpack.exceptions.FormatError,
            msgpack.exceptions.StackError, UnicodeDecodeError, TypeError) as e:
        raise AssertionError("the gateway accepts what the host refuses: %r (%s)" % (x, e))
    assert repr(_norm(ref)) == repr(_norm(got)), ("decoders disagree", x, ref, got)
    return True


# ---- host link: the gateway's session fed frames with a good CRC ---------------------------
def _frame(raw):
    out = bytearray(frame_size(len(raw)))
    k = encode_frame(raw, len(raw), out)
    return bytes(out[:k])


def _signed(host, f):
    """A hand-built frame signed with the host's frame MAC (after a keyed
    login every frame carries one; an unsigned frame would end the session)."""
    mac = getattr(host, "mac", None)
    if mac is None:
        return f
    try:
        return mac.reframe(f)
    except ValueError:  # an empty message: the deframer has no frame to sign
        return f


def gen_body_raw(rnd):
    """A msgpack message [kind, ref, body] as bytes, often malformed."""
    r = rnd.random()
    kind = rnd.choice((P.MSG_HEARTBEAT, P.MSG_CREDIT, P.MSG_BYE, P.MSG_HELLO, P.MSG_AUTH,
                       P.MSG_REQ_STATUS, P.MSG_REQ_UDS, P.MSG_REQ_CAN_SEND, P.MSG_REQ_FIRST,
                       P.MSG_REQ_LAST, rnd.getrandbits(8), -1, 2**40))
    ref = rnd.choice((0, 1, 7, 0xFFFF, -1, 2**32, rnd.getrandbits(16)))
    if r < 0.2:
        return rbytes(rnd, 0, 30)
    body = gen_msgpack_value(rnd)
    if rnd.random() < 0.5:
        body = {rnd.choice((P.K_DATA, P.K_CHANNEL, P.K_BUS, P.K_CREDITS, rnd.randint(0, 300))):
                gen_msgpack_value(rnd) for _ in range(rnd.randint(0, 4))}
    items = [kind, ref, body] if r < 0.9 else [kind, ref, body, 1][:rnd.randint(0, 4)]
    raw = bytearray(msgpack.packb(items, use_bin_type=True))
    if rnd.random() < 0.2 and raw:
        raw[rnd.randrange(len(raw))] = rnd.getrandbits(8)
    return bytes(raw)


def gen_link_session(rnd):
    return (rnd.random() < 0.8, [gen_body_raw(rnd) for _ in range(rnd.randint(1, 8))])


def check_link_session(inp):
    """The gateway's link session fed frames with a valid CRC and arbitrary
    messages (logged in or not): never raises; each message is a counted
    fault, an ERROR with a LINK_* code, an accepted request handed out as
    EV_REQUEST, or a control message; whatever it sends back decodes."""
    from link_support import make_session, Host
    from diagbridge.link.session import EV_REQUEST
    logged_in, raws = inp
    s = make_session()
    h = Host(s)
    if logged_in:
        h.login()
        h.events()
    for raw in raws:
        f = _signed(h, _frame(raw))
        faults = s.faults
        s.feed_bytes(h.now, f, len(f))
        msgs = h.recv()
        while True:
            ev = s.poll()
            if ev == 0:
                break
            if ev == EV_REQUEST:
                body = s.body()
                assert body is None or isinstance(body, dict), body
                assert P.is_known_request(s.req_kind)
                s.error(h.now, s.req_id, C.LINK_UNSUPPORTED, b"fuzz")
        msgs += h.recv()
        for m in msgs:
            if m == "BAD_MAC":
                continue        # the fuzzed messages (a new HELLO ...) desynchronised our MAC
            assert isinstance(m, list) and len(m) == 3, m
            if m[0] == P.MSG_ERROR:
                assert m[2][P.K_CODE] in LINK_CODES, m
        assert s.faults >= faults
        h.now = ticks_add(h.now, 1000)
        s.on_timer(h.now)
    return True


# ---- host link: the host library fed frames with a good CRC --------------------------------
def gen_host_link(rnd):
    return (rnd.random() < 0.85, [gen_host_raw(rnd) for _ in range(rnd.randint(1, 8))])


def gen_host_raw(rnd):
    if rnd.random() < 0.1:
        return rbytes(rnd, 0, 20)
    kind = rnd.choice((P.MSG_RESPONSE, P.MSG_ERROR, P.MSG_CREDIT, P.MSG_BYE, P.MSG_HEARTBEAT,
                       P.MSG_HELLO_ACK, P.MSG_AUTH_OK, P.MSG_CHALLENGE, P.MSG_EV_CAN_RX,
                       P.MSG_EV_DROPPED, rnd.getrandbits(8)))
    ref = rnd.choice((0, 1, 2, 0xFFFF, rnd.getrandbits(16), -1))
    if rnd.random() < 0.7:
        body = {rnd.choice((P.K_RESULT, P.K_DATA, P.K_CODE, P.K_TEXT, P.K_CREDITS, P.K_COUNTS,
                            P.K_VERSION, P.K_ROLE, P.K_NONCE, rnd.randint(0, 70))):
                rnd.choice((gen_msgpack_value(rnd), 1.5, float("inf"), float("nan"), -1,
                            "x", {1: 2}, {"a": "b"}, [1], 2**64 - 1))
                for _ in range(rnd.randint(0, 4))}
    else:
        body = rnd.choice((gen_msgpack_value(rnd), None, 1.5))
    return msgpack.packb([kind, ref, body], use_bin_type=True)


def _ready_host():
    from diagbridge_host.link import HostLink, READY
    link = HostLink(key=None, urandom=lambda n: bytes(n), max_frame=4096)
    link.connect(0.0)
    link.receive_bytes(0.0, _frame(msgpack.packb(
        [P.MSG_HELLO_ACK, 0, {P.K_VERSION: P.LINK_PROTOCOL_VERSION, P.K_NAME: b"gw",
                              P.K_MAX_FRAME: 1024}],
        use_bin_type=True)))
    link.receive_bytes(0.0, _frame(msgpack.packb(
        [P.MSG_AUTH_OK, 0, {P.K_ROLE: P.ROLE_FULL, P.K_CREDITS: 4}], use_bin_type=True)))
    assert link.state == READY
    link.request(0.0, P.MSG_REQ_STATUS, {})       # ids 1 and 2 outstanding
    link.request(0.0, P.MSG_REQ_STATUS, {})
    link.data_to_send()
    while link.next_event() is not None:
        pass
    return link


def check_host_link(inp):
    """The host library (diagbridge_host.link.HostLink) fed frames with a
    valid CRC but arbitrary bodies, on a live link or during the handshake:
    nothing escapes but the handshake's own LinkError; on a live link every
    message is used, counted as malformed, or ends the link cleanly
    (LinkLost); never an exception out of receive_bytes."""
    from diagbridge_host.link import HostLink, READY, LOST
    from diagbridge_host.errors import LinkError
    ready, raws = inp
    if ready:
        link = _ready_host()
    else:
        link = HostLink(key=b"k" * 32, urandom=lambda n: bytes(n), max_frame=4096)
        link.connect(0.0)
    now = 0.0
    for raw in raws:
        was = link.state
        before = link.malformed
        try:
            link.receive_bytes(now, _frame(raw))
        except LinkError:
            assert was != READY, ("a LinkError on a live link", raw)
            return True
        if was == READY:
            assert link.state in (READY, LOST), link.state
        assert link.malformed >= before
        while link.next_event() is not None:
            pass
        link.data_to_send()
        now += 0.01
        link.on_timer(now)
    return True
