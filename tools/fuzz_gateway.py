"""Fuzz target for the gateway's request bodies: a diagnostic-role host on
the simulated vehicle sends bodies with wrong types, keys twice, deep nesting."""
import msgpack

from diagbridge import codes as C
from diagbridge.link import proto as P
from diagbridge.link.msgpack import MAX_DEPTH
from fuzz_common import LINK_CODES
from fuzz_link import _frame, _signed, _depth, gen_msgpack_value

_GW = {}


def _gateway():
    """A simulated vehicle with a host logged in with the diagnostic role,
    channel 1 to the engine ECU; CAN frames the gateway sends are counted."""
    g = _GW.get("v")
    if g is None:
        from diagbridge.sim.recorder import Recorder
        from gateway_support import vehicle, VHost, ENGINE
        rec = Recorder()
        v = vehicle(recorder=rec)
        h = VHost(v)
        m = h.login(P.ROLE_DIAGNOSTIC, 64)
        assert m[0] == P.MSG_AUTH_OK, m
        h.open(1, ENGINE)
        g = _GW["v"] = (v, h, rec)
    return g


def gateway_reset():
    """Forget the shared vehicle (the next input starts a fresh one)."""
    _GW.clear()


REQ_KINDS = tuple(sorted(v for k, v in vars(P).items() if k.startswith("MSG_REQ_")
                         and k not in ("MSG_REQ_FIRST", "MSG_REQ_LAST")))
BODY_KEYS = (P.K_CHANNEL, P.K_DATA, P.K_BUS, P.K_ID, P.K_ON, P.K_FUNCTIONAL, P.K_FLAGS,
             P.K_PERIOD_MS, P.K_TX_ID, P.K_RX_ID, P.K_ADDRESSING, P.K_TP, P.K_UDS, P.K_OP)


UDS_PDUS = (b"\x22\xf1\x90", b"\x22\xf1\x90\xf1\x8c", b"\x3e\x00", b"\x3e\x80",
            b"\x10\x01", b"\x10\x03", b"\x19\x02\xff", b"\x23\x14\x00\x01",
            b"\x11\x01", b"\x10\x02", b"\x10\x82", b"\x2e\xf1\x90\x01", b"\x27\x01",
            b"\x31\x01\xff\x00", b"\x14\xff\xff\xff", b"\x28\x03\x01", b"\x85\x02",
            b"\x34\x00\x44\x00\x01\x00\x00\x00\x00\x01\x00", b"", b"\x22")


def _templates(kind):
    """Valid bodies (as key/value pairs) a diagnostic-role host may send."""
    if kind == P.MSG_REQ_UDS:
        return [[(P.K_CHANNEL, 1), (P.K_DATA, b"\x22\xf1\x90")],
                [(P.K_CHANNEL, 1), (P.K_DATA, b"\x3e\x00"), (P.K_FUNCTIONAL, True)]]
    if kind == P.MSG_REQ_CAN_LISTEN:
        return [[(P.K_BUS, 0), (P.K_ON, True)], [(P.K_BUS, 1), (P.K_ON, False)]]
    if kind == P.MSG_REQ_KEEPALIVE:
        return [[(P.K_CHANNEL, 1), (P.K_ON, True), (P.K_PERIOD_MS, 2000)],
                [(P.K_CHANNEL, 1), (P.K_ON, False)]]
    if kind == P.MSG_REQ_CHANNEL:
        return [[(P.K_CHANNEL, 3), (P.K_ON, True), (P.K_BUS, 1),
                 (P.K_ADDRESSING, P.ADDRESSING_NORMAL_11), (P.K_TX_ID, 0x7E2),
                 (P.K_RX_ID, 0x7EA)], [(P.K_CHANNEL, 3), (P.K_ON, False)]]
    if kind == P.MSG_REQ_CAN_SEND:
        return [[(P.K_BUS, 1), (P.K_ID, 0x123), (P.K_DATA, b"\x01\x02"), (P.K_FLAGS, 0)]]
    return [[]]


def _nest(depth, v=1):
    """v inside `depth` one-element arrays."""
    for _ in range(depth):
        v = [v]
    return v


def _junk_value(rnd):
    v = rnd.choice((gen_msgpack_value(rnd), 2**64 - 1, -2**63, True, None, b"", "1",
                    [1, 2], {1: 2}))
    if rnd.random() < 0.1:
        for _ in range(rnd.randint(14, 40)):   # past the decoder's nesting limit (16)
            v = [v]
    return v


def gen_body_pairs(rnd, kind):
    pairs = list(rnd.choice(_templates(kind)))
    for _ in range(rnd.choice((0, 1, 1, 2, 3))):
        how = rnd.randrange(7)
        if how == 0 and pairs:          # a value of the wrong type (or a UDS PDU)
            i = rnd.randrange(len(pairs))
            k = pairs[i][0]
            pairs[i] = (k, rnd.choice(UDS_PDUS) if k == P.K_DATA and rnd.random() < 0.6
                        else _junk_value(rnd))
        elif how == 1 and pairs:
            del pairs[rnd.randrange(len(pairs))]
        elif how == 2:                  # another key, sometimes not an int 0..255
            k = rnd.choice(BODY_KEYS) if rnd.random() < 0.8 else rnd.choice(
                (rnd.randint(0, 300), -1, "data", b"\x02", True, 2**64 - 1))
            pairs.append((k, _junk_value(rnd)))
        elif how == 3 and pairs:        # a key twice
            k = rnd.choice(pairs)[0]
            pairs.append((k, rnd.choice(UDS_PDUS) if k == P.K_DATA else _junk_value(rnd)))
        elif how == 4 and kind == P.MSG_REQ_UDS:
            pairs = [(P.K_CHANNEL, 1), (P.K_DATA, rnd.choice(UDS_PDUS))]
            if rnd.random() < 0.5:
                pairs.append((P.K_DATA, rnd.choice(UDS_PDUS)))  # judged on one, run with one
        elif how == 5 and pairs:        # bytes vs str
            i = rnd.randrange(len(pairs))
            k, v = pairs[i]
            if isinstance(v, bytes):
                pairs[i] = (k, v.decode("latin-1"))
        elif how == 6:                  # a map inside the body with a key twice
            inner = [(rnd.choice(("stmin_us", "block_size", "p2_client_ms", 1)),
                      rnd.choice((0, 8, 100, b"x")))]
            inner.append((inner[0][0], rnd.choice((0, 5, 255))))
            pairs.append((rnd.choice((P.K_TP, P.K_UDS, P.K_FLASH, P.K_TESTER)),
                          ("dupmap", inner)))
    return pairs


def gen_gateway_bodies(rnd):
    kind = rnd.choice(REQ_KINDS) if rnd.random() < 0.5 else P.MSG_REQ_UDS
    return (kind, gen_body_pairs(rnd, kind))


def _pack_pairs(pairs):
    """A msgpack map of key/value pairs, keys twice included; a value
    ("dupmap", pairs) is such a map itself.  None if not encodable."""
    p = msgpack.Packer(use_bin_type=True)
    try:
        out = p.pack_map_header(len(pairs))
        for k, v in pairs:
            out += p.pack(k)
            if isinstance(v, tuple) and len(v) == 2 and v[0] == "dupmap":
                out += _pack_pairs(v[1])
            else:
                out += p.pack(v)
        return out
    except (ValueError, OverflowError, TypeError):
        return None


def _nested_dup(pairs):
    return any(isinstance(v, tuple) and v[:1] == ("dupmap",) for _, v in pairs)


def _has_dup(pairs):
    seen = []
    for k, _ in pairs:
        for s in seen:
            if type(s) is type(k) and s == k:
                return True
        seen.append(k)
    return False


def check_gateway_bodies(inp):
    """A host logged in with the diagnostic role sends arbitrary bodies
    (duplicate keys, wrong types, deep nesting, huge ints, bytes vs str) for
    a request kind: every request is answered, refused with ERROR and a
    LINK_* code or executed; a body with a key twice (or a key that is not
    an int 0..255) is refused as LINK_MALFORMED, one with a key twice deeper
    inside or nested past the decoder's limit is refused too; nothing
    reaches a bus for a refused request; a UDS request the diagnostic role
    may not send never leaves the gateway."""
    kind, pairs = inp
    body = _pack_pairs(pairs)
    if body is None:
        return True         # not encodable by the host library either
    v, h, rec = _gateway()
    h._rid = h._rid % 0xFFFF + 1
    rid = h._rid
    msg = b"\x93" + msgpack.packb(kind) + msgpack.packb(rid) + body
    if len(msg) > 1000:
        return True         # longer than the link's max_frame: refused by the deframer
    if len(rec.records) > 5000:
        rec.clear()         # only this request's frames are looked at
    if len(h.events) > 1000:
        del h.events[:]     # CAN events of a listener a body switched on
    del h.inbox[:]
    sent_before = len(rec.records)
    h.v.link.feed(_signed(h, _frame(msg)))
    m = h.take(lambda m: m[1] == rid and m[0] in (P.MSG_RESPONSE, P.MSG_ERROR), 30_000_000)
    assert m is not None, ("unanswered", kind, pairs)
    assert v.gw.handler_faults == 0, ("handler fault", kind, pairs, m)
    sent = [r for r in rec.records[sent_before:] if r[4] == "gateway"]
    sent = [r for r in sent if bytes(r[6][:2]) != b"\x02\x3e"]  # an earlier keep-alive's 3E
    if m[0] == P.MSG_ERROR:
        assert m[2][P.K_CODE] in LINK_CODES, m
        assert not sent, ("frames sent for a refused request", kind, pairs, sent[:2])
    if _has_dup(pairs) or not all(type(k) is int and 0 <= k <= 255 for k, _ in pairs):
        assert m[0] == P.MSG_ERROR and m[2][P.K_CODE] == C.LINK_MALFORMED, (pairs, m)
    if _nested_dup(pairs):
        assert m[0] == P.MSG_ERROR, ("a body with a key twice inside ran", pairs, m)
    if 1 + max([max(_depth(k), _depth(x)) for k, x in pairs] or [0]) > MAX_DEPTH:
        assert m[0] == P.MSG_ERROR, ("a body nested past the decoder's limit ran", pairs, m)
    if kind == P.MSG_REQ_UDS and m[0] == P.MSG_RESPONSE:
        data = dict(pairs).get(P.K_DATA)
        assert isinstance(data, (bytes, str)) and len(data) > 0, (pairs, m)
        raw = data if isinstance(data, bytes) else data.encode()
        need = P.required_role(kind, raw[0], raw[1] if len(raw) > 1 else -1)
        assert need <= P.ROLE_DIAGNOSTIC, ("executed above the role", pairs, m)
    return True
