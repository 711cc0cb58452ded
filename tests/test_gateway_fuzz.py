"""Host mistakes never break the gateway: for every MSG_REQ_* kind, thousands
of seeded random and mutated bodies (wrong types, out-of-range and huge
ints, huge bins, junk config maps, nesting beyond the decoder's limit, floats,
ext types, non-map bodies) go through the gateway's host link on the
simulated vehicle.  Every request is answered, with RESPONSE or ERROR to its
own id; no exception leaves the gateway and none reaches the handlers' last
resort (STATS "handler_faults" stays 0); the node table stays consistent; a
host that reconnects finds an empty gateway; and afterwards a plain UDS
request still works.  Deterministic (seeded), in virtual time.

The host side encodes with PyPI msgpack (so it can send what the gateway's own
encoder never would: floats, 64-bit ints, ext types)."""
import random

import msgpack


from diagbridge.codes import OK                                         # noqa: E402
from diagbridge.gateway import GatewayConfig                            # noqa: E402
from diagbridge.gateway.route import Route                              # noqa: E402
from diagbridge.link import proto as P                                  # noqa: E402
from diagbridge.link.cobs import encode_frame, frame_size               # noqa: E402
from gateway_support import VHost, vehicle, merge, ENGINE, GEARBOX    # noqa: E402

PER_KIND = 2000             # bodies per request kind
RECONNECT_EVERY = 250       # a new session (teardown) this often
WAIT_US = 30_000_000        # virtual time a request may take (P2*, flash, ...)
MAX_MSG = 1000              # the link's max_frame is 1024

KINDS = sorted(v for k, v in vars(P).items()
               if k.startswith("MSG_REQ_") and k not in ("MSG_REQ_FIRST", "MSG_REQ_LAST"))

TP_FIELDS = ("n_as_ms", "n_ar_ms", "n_bs_ms", "n_br_ms", "n_cs_ms", "n_cr_ms", "block_size",
             "stmin_us", "tx_stmin_override_us", "wft_max", "tx_wft_max", "max_pdu", "padding",
             "fd", "tx_dl", "brs", "full_duplex", "tx_confirm", "events")
UDS_FIELDS = ("p2_client_ms", "p2star_client_ms", "p2_margin_ms", "p2star_margin_ms",
              "adopt_timing", "max_pending", "max_pdu", "keepalive", "keepalive_period_ms",
              "keepalive_suppress", "keepalive_functional", "stray_max", "events")
FLASH_FIELDS = ("address", "key_fn", "addr_len", "size_len", "dfi", "session", "pre_session",
                "security_level", "functional_prep", "erase_rid", "check_rid", "reset_kind",
                "verify", "checksum_rid", "block_max", "retries", "key_algorithm", "secret")
PROFILE_FIELDS = ("name", "addresses", "modules", "sessions", "services", "security", "reset",
                  "comm_control", "dids", "memory", "limits", "dtcs", "routines", "transfer",
                  "files", "io_controls")
INTS = (0, 1, -1, 2, 3, 7, 8, 64, 255, 256, 0x7DF, 0x7E0, 0x7FF, 0x800, 4095, 4096, 0xFFFF,
        0x10000, 0x1FFFFFFF, 0x20000000, 2**31 - 1, 2**31, 2**32, 2**63 - 1, -2**63, 2**64 - 1,
        -129, 60000, 60001, 200000)
STRS = ("", "engine", "x" * 300, "\u00e9\u20ac", "__init__", "_x", "no_such", "profile",
        "../etc", "engine.py", "diagbridge1", "xor", "twos_complement")

ROUTE_TESTER = {P.K_BUS: 0, P.K_ADDRESSING: P.ADDRESSING_NORMAL_FIXED, P.K_TA: 0xF1, P.K_SA: 0x10}
ROUTE_TARGET = {P.K_BUS: 1, P.K_ADDRESSING: P.ADDRESSING_NORMAL_11, P.K_TX_ID: 0x7E0,
                P.K_RX_ID: 0x7E8}
FLASH = {"address": 0x10000, "security_level": 3, "key_algorithm": "diagbridge1",
         "secret": b"EngineProg03"}
GEARBOX_PROFILE = {"name": "gb2", "addresses": {"rx_id": 0x7E6, "tx_id": 0x7EE},
                   "modules": ["session", "data"],
                   "dids": {0xF190: {"length": 3, "value": b"abc"}},
                   "memory": [{"start": 0, "size": 64}]}


def templates():
    """Valid bodies per kind (channel 1 = the engine, 2 = the gearbox)."""
    return {
        P.MSG_REQ_STATUS: [{}],
        P.MSG_REQ_CAN_LISTEN: [{P.K_BUS: 0, P.K_ON: True, P.K_FILTERS: [[0x700, 0x700]],
                                P.K_ECHO: True}, {P.K_BUS: 1, P.K_ON: False}],
        P.MSG_REQ_CAN_SEND: [{P.K_BUS: 1, P.K_ID: 0x123, P.K_DATA: b"\x01\x02", P.K_FLAGS: 0},
                             {P.K_BUS: 1, P.K_ID: 0x18DB33F1, P.K_DATA: bytes(12),
                              P.K_FLAGS: P.CAN_EXT | P.CAN_FD | P.CAN_BRS}],
        P.MSG_REQ_UDS: [{P.K_CHANNEL: 1, P.K_DATA: b"\x22\xf1\x90"},
                        {P.K_CHANNEL: 2, P.K_DATA: b"\x3e\x00", P.K_FUNCTIONAL: True}],
        P.MSG_REQ_KWP: [{P.K_CHANNEL: 1, P.K_DATA: b"\x1a\x90"}],
        P.MSG_REQ_KEEPALIVE: [{P.K_CHANNEL: 1, P.K_ON: True, P.K_PERIOD_MS: 1000,
                               P.K_SUPPRESS: True, P.K_FUNCTIONAL: False},
                              {P.K_CHANNEL: 2, P.K_ON: False}],
        P.MSG_REQ_CHANNEL: [merge(ENGINE, {P.K_CHANNEL: 3, P.K_ON: True,
                                           P.K_TP: {"stmin_us": 0, "block_size": 8},
                                           P.K_UDS: {"p2_client_ms": 100}}),
                            {P.K_CHANNEL: 3, P.K_ON: False}],
        P.MSG_REQ_KLINE_INIT: [{P.K_BUS: 0}],
        P.MSG_REQ_KLINE_SEND: [{P.K_BUS: 0, P.K_DATA: b"\x01"}],
        P.MSG_REQ_FLASH: [{P.K_OP: P.OP_BEGIN, P.K_JOB: 3, P.K_CHANNEL: 1, P.K_TOTAL: 64,
                           P.K_FLASH: dict(FLASH)},
                          {P.K_OP: P.OP_DATA, P.K_JOB: 3, P.K_OFFSET: 0, P.K_DATA: bytes(16)},
                          {P.K_OP: P.OP_START, P.K_JOB: 3},
                          {P.K_OP: P.OP_ABORT, P.K_JOB: 3}],
        P.MSG_REQ_ECU_SIM: [{P.K_ECU: 9, P.K_ON: True, P.K_BUS: 1, P.K_PROFILE: "engine",
                             P.K_ADDRESSING: P.ADDRESSING_NORMAL_11, P.K_TX_ID: 0x7ED,
                             P.K_RX_ID: 0x7E5},
                            {P.K_ECU: 8, P.K_ON: True, P.K_BUS: 0,
                             P.K_PROFILE: GEARBOX_PROFILE},
                            {P.K_ECU: 9, P.K_ON: False}],
        P.MSG_REQ_ROUTE: [{P.K_ROUTE: 4, P.K_ON: True, P.K_TESTER: dict(ROUTE_TESTER),
                           P.K_TARGET: dict(ROUTE_TARGET), P.K_PENDING_MS: 40,
                           P.K_PERIOD_MS: 2000}, {P.K_ROUTE: 4, P.K_ON: False}],
        P.MSG_REQ_BUS_LOCK: [{P.K_BUS: 0, P.K_ON: True}, {P.K_BUS: 0, P.K_ON: False}],
    }


def junk(rnd, depth=0):
    if rnd.random() < 0.03:     # undecodable: an ext type, or nested beyond the limit (16)
        if rnd.random() < 0.5:
            return msgpack.ExtType(rnd.randrange(128), b"x")
        x = 1
        for _ in range(rnd.randrange(14, 24)):
            x = [x]
        return x
    c = rnd.randrange(15 if depth < 3 else 9)
    if c == 0:
        return rnd.choice(INTS)
    if c == 1:
        return rnd.randrange(-1000, 70000)
    if c == 2:
        return rnd.random() < 0.5
    if c == 3:
        return None
    if c == 4:
        return rnd.choice((1.5, -0.0, 1e308, float("inf"), 3.0))
    if c == 5:
        return rnd.choice(STRS)
    if c == 6:
        return bytes(rnd.randrange(256) for _ in range(rnd.randrange(12)))
    if c == 7:
        return bytes(rnd.randrange(256) for _ in range(rnd.choice((0, 1, 7, 8, 64, 65, 600))))
    if c == 8:
        return rnd.choice((0, 1, 0x7E0, 0x10000, True))
    if c == 9:
        return [junk(rnd, depth + 1) for _ in range(rnd.randrange(4))]
    if c == 10:
        return {rnd.randrange(70): junk(rnd, depth + 1) for _ in range(rnd.randrange(4))}
    if c == 11:
        names = rnd.choice((TP_FIELDS, UDS_FIELDS, FLASH_FIELDS, PROFILE_FIELDS))
        return {rnd.choice(names): junk(rnd, depth + 1) for _ in range(rnd.randrange(1, 4))}
    if c == 12:
        return {rnd.choice(STRS): junk(rnd, depth + 1)}
    if c == 13:
        return rnd.choice((dict(ENGINE), dict(GEARBOX), dict(ROUTE_TESTER), dict(ROUTE_TARGET)))
    if c == 14:
        key = rnd.choice(INTS + STRS + (b"k", None, True, 1.5))
        return {key: junk(rnd, depth + 1)}
    return [[rnd.choice(INTS), rnd.choice(INTS)] for _ in range(rnd.randrange(10))]


def mutate(rnd, body):
    """A copy of body with some keys (and keys inside its maps) changed."""
    b = dict(body)
    for _ in range(rnd.choice((1, 1, 1, 2, 3))):
        how = rnd.randrange(5)
        if how == 0 and b:
            b[rnd.choice(list(b))] = junk(rnd)
        elif how == 1 and b:
            del b[rnd.choice(list(b))]
        elif how == 2:
            b[rnd.randrange(70)] = junk(rnd)
        else:                   # inside a nested map (TP, UDS, FLASH, EP, PROFILE)
            maps = [k for k in b if isinstance(b[k], dict)]
            if not maps:
                b[rnd.choice(list(b) or [P.K_DATA])] = junk(rnd)
                continue
            k = rnd.choice(maps)
            inner = dict(b[k])
            names = (TP_FIELDS + UDS_FIELDS + FLASH_FIELDS + PROFILE_FIELDS
                     if how == 3 else list(inner) or [0])
            inner[rnd.choice(names)] = junk(rnd)
            b[k] = inner
    return b


def body_for(rnd, kind, tpl):
    r = rnd.random()
    if r < 0.2:
        return rnd.choice(tpl[kind])                     # valid: the state moves on
    if r < 0.8:
        return mutate(rnd, rnd.choice(tpl[kind]))
    if r < 0.92:
        return {rnd.randrange(70): junk(rnd) for _ in range(rnd.randrange(6))}
    return junk(rnd)                                     # not a map at all


def check_tables(gw):
    live = [tp for tp in gw.node_tp if tp is not None]
    ecus = 0
    for i in range(len(gw.node_tp)):
        tp = gw.node_tp[i]
        if tp is None:
            continue
        o = gw.node_owner[i]
        if o is None:
            ecus += 1
            assert gw.node_ref[i] in gw.tenancy.ecus
        elif isinstance(o, Route):
            assert o in gw.tenancy.routes and o.a is tp
        else:
            assert o.tp is tp
            assert o in gw.tenancy.testers or o in gw.tenancy.orphans or any(r.b is o for r in gw.tenancy.routes)
    assert ecus == len(gw.tenancy.ecus) == len(set(gw.tenancy.ecus))
    ids = [t.id for t in gw.tenancy.testers]
    assert len(ids) == len(set(ids))
    for t in gw.tenancy.testers + gw.tenancy.orphans:
        assert t.tp in live
    for r in gw.tenancy.routes:
        assert r.a in live and r.b.tp in live
    for j in gw.tenancy.jobs:
        assert j.tester in gw.tenancy.testers or j.tester in gw.tenancy.orphans
    assert gw.tenancy.reserved_bytes() <= gw.cfg.flash_max_bytes


class Fuzzer:
    def __init__(self):
        self.v = vehicle(gw_cfg=GatewayConfig(n_buses=2, flash_max_bytes=4096))
        self.gw = self.v.gw
        self.h = None
        self.rid = 0
        self.connect()

    def connect(self):
        """A new host: the gateway forgets the last one's channels, routes ..."""
        h = VHost(self.v)
        m = h.login(P.ROLE_FULL, 64)
        assert m[0] == P.MSG_AUTH_OK, m
        gw = self.gw
        assert gw.tenancy.testers == [] and gw.tenancy.routes == [] and gw.tenancy.ecus == [] and not any(gw.tenancy.listen)
        assert all(j.orphaned for j in gw.tenancy.jobs)
        self.h = h
        h.open(1, ENGINE)
        h.open(2, GEARBOX)

    def send(self, kind, body):
        self.rid = self.rid % 0xFFFF + 1
        msg = msgpack.packb([kind, self.rid, body], use_bin_type=True)
        if len(msg) > MAX_MSG:
            return None                 # the link refuses it before the gateway sees it
        out = bytearray(frame_size(len(msg)))
        n = encode_frame(msg, len(msg), out)
        self.h.v.link.feed(self.h.mac.reframe(bytes(out[:n])))
        rid = self.rid
        m = self.h.take(lambda m: m[1] == rid and m[0] in (P.MSG_RESPONSE, P.MSG_ERROR),
                        WAIT_US)
        assert m is not None, ("unanswered", kind, body)
        return m


def test_random_and_mutated_bodies_never_break_the_gateway():
    f = Fuzzer()
    tpl = templates()
    count = {P.MSG_RESPONSE: 0, P.MSG_ERROR: 0}
    sent = 0
    for kind in KINDS:
        rnd = random.Random(0xD1A6 + kind)
        for i in range(PER_KIND):
            body = body_for(rnd, kind, tpl)
            m = f.send(kind, body)
            if m is None:
                continue
            sent += 1
            count[m[0]] += 1
            assert f.gw.handler_faults == 0, (kind, body, m)
            check_tables(f.gw)
            if sent % RECONNECT_EVERY == 0:
                f.connect()
    assert sent > 0.9 * PER_KIND * len(KINDS)
    assert count[P.MSG_RESPONSE] > 500 and count[P.MSG_ERROR] > 5000, count
    # unknown kinds: refused by the session, never reach a handler
    for kind in (P.MSG_REQ_LAST, P.MSG_REQ_ROUTE + 1):
        m = f.send(kind, {P.K_CHANNEL: 1})
        assert m[0] == P.MSG_ERROR
    # and the gateway still works: a new host reads the VIN
    f.h.run(6_000_000)                  # whatever session the junk left the ECUs in ends
    f.connect()
    r = f.h.uds(1, b"\x22\xf1\x90")
    assert r[P.K_RESULT] == OK and r[P.K_DATA][0:3] == b"\x62\xf1\x90", r
    st = f.h.ok(P.MSG_REQ_STATUS, {})
    assert st[P.K_STATS]["handler_faults"] == 0


def test_an_unforeseen_exception_is_still_an_answer(monkeypatch):
    """The handlers' last resort: an exception no check foresaw (here: a
    route that cannot be built) is an ERROR to that request, counted in
    STATS "handler_faults", and leaves nothing half-made behind."""
    from diagbridge.gateway import requests as gateway_requests
    def broken(*args):
        raise RuntimeError("boom")
    f = Fuzzer()
    monkeypatch.setattr(gateway_requests, "Route", broken)
    m = f.send(P.MSG_REQ_ROUTE, templates()[P.MSG_REQ_ROUTE][0])
    assert m[0] == P.MSG_ERROR and m[2][P.K_TEXT] == "bad request: boom"
    check_tables(f.gw)
    assert f.gw.tenancy.routes == [] and f.gw.free_nodes() == f.gw.cfg.max_nodes - 2
    st = f.h.ok(P.MSG_REQ_STATUS, {})
    assert st[P.K_STATS]["handler_faults"] == 1 and st[P.K_ROUTES] == []
    assert f.h.uds(1, b"\x22\xf1\x90")[P.K_RESULT] == OK
