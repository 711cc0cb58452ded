# The gateway object: raw CAN listen/send with exact drop counts, refusals
# that never reach the vehicle, counters, the no-confirm mode, host values
# refused before the core could trip over them, and the allocation-free hot
# path (raw CAN rx -> EV_CAN_RX, CAN-TP frames), proven under MicroPython's
# heap lock.  Runs under pytest and real MicroPython.
from diagbridge.codes import OK, LINK_REFUSED, LINK_MALFORMED, LINK_OVERSIZE, LINK_UNEXPECTED
from diagbridge.gateway import GatewayConfig
from diagbridge.link import proto as P
from diagbridge.link.cobs import encode_frame, frame_size
from diagbridge.link.msgpack import (pack_array_header, pack_map_header, pack_int, pack_bool,
                                     pack_bin, pack_str, _be)
from gateway_support import logged_in, merge, ENGINE, GEARBOX
from support import run_locked

FLOOD = 300


def _frame(*b):
    out = bytearray(8)
    for i in range(8):
        out[i] = b[i] if i < len(b) else 0xCC
    return out


def test_listen_flood_with_few_credits_counts_every_drop():
    v, h = logged_in(credits=4, auto_credit=False, event_queue=32)
    h.ok(P.MSG_REQ_CAN_LISTEN, {P.K_BUS: 0, P.K_FILTERS: [[0x100, 0x700]]})
    port = v.buses[0].attach("flood")
    for i in range(FLOOD):
        port.send(0x100 + (i & 0xFF), _frame(i & 0xFF, i >> 8))
    port.send(0x7E5, _frame(1))                 # filtered out: not counted anywhere
    h.run(200000)                               # 300 frames at 500 kbit/s: ~70 ms
    assert len(h.events) == 4                   # the credits the host gave
    h.credit(1000)
    h.run(10000)
    rx = [e for e in h.events if e[0] == P.MSG_EV_CAN_RX]
    drops = [e[2][P.K_COUNTS] for e in h.events if e[0] == P.MSG_EV_DROPPED]
    dropped = sum(d.get(P.MSG_EV_CAN_RX, 0) for d in drops)
    assert dropped > 0 and len(rx) + dropped == FLOOD
    assert len(rx) == 4 + 32
    # events arrive in order, gap where the drops were; timestamps never go back
    ids = [e[2][P.K_DATA][0] | (e[2][P.K_DATA][1] << 8) for e in rx]
    assert ids == sorted(ids) and ids[0] == 0
    st = h.ok(P.MSG_REQ_STATUS, {})
    bs = st[P.K_BUS_STATS][0]
    assert bs["listen_dropped"] == dropped and bs["listened"] == len(rx)
    assert bs["rx_frames"] == FLOOD + 1
    assert st[P.K_COUNTS] == {P.MSG_EV_CAN_RX: dropped}
    assert st[P.K_STATS]["events_dropped"] == dropped


def test_refusals_never_reach_the_vehicle():
    v, h = logged_in(P.ROLE_MONITOR)
    before = (v.buses[0].frames, v.buses[1].frames)
    for kind, body in ((P.MSG_REQ_UDS, {P.K_CHANNEL: 1, P.K_DATA: b"\x2e\xf1\x90AB"}),
                       (P.MSG_REQ_UDS, {P.K_CHANNEL: 1, P.K_DATA: b"\x22\xf1\x90"}),
                       (P.MSG_REQ_CHANNEL, ENGINE),
                       (P.MSG_REQ_CAN_SEND, {P.K_BUS: 0, P.K_ID: 0x7E0, P.K_DATA: b"\x02\x11\x01"}),
                       (P.MSG_REQ_FLASH, {P.K_OP: P.OP_START, P.K_JOB: 1}),
                       (P.MSG_REQ_ECU_SIM, {P.K_ECU: 1, P.K_BUS: 0, P.K_PROFILE: "engine"}),
                       (P.MSG_REQ_ROUTE, {P.K_ROUTE: 1})):
        m = h.request(kind, body)
        assert m[0] == P.MSG_ERROR and m[2][P.K_CODE] == LINK_REFUSED, (kind, m)
    h.run(500000)
    assert (v.buses[0].frames, v.buses[1].frames) == before == (0, 0)
    assert h.ok(P.MSG_REQ_STATUS, {})[P.K_STATS]["link_refused"] == 7


def test_diagnostic_role_reads_but_never_writes():
    v, h = logged_in(P.ROLE_DIAGNOSTIC)
    h.open(1, ENGINE)
    assert h.uds(1, b"\x22\xf1\x90")[P.K_RESULT] == OK
    frames = v.buses[0].frames
    for pdu in (b"\x10\x02", b"\x11\x01", b"\x2e\xf1\x90AB", b"\x27\x03", b"\x31\x01\xff\x00",
                b"\x85\x02", b"\x28\x03\x01"):
        m = h.request(P.MSG_REQ_UDS, {P.K_CHANNEL: 1, P.K_DATA: pdu})
        assert m[0] == P.MSG_ERROR and m[2][P.K_CODE] == LINK_REFUSED, pdu
    h.run(300000)
    assert v.buses[0].frames == frames and v.ecu("engine").requests == 1
    assert h.uds(1, b"\x10\x03")[P.K_RESULT] == OK      # extended session: allowed


def test_raw_send_fd_answers_after_the_bus_confirms():
    v, h = logged_in()
    got = []
    port = v.buses[1].attach("sniffer")
    port.on_rx = lambda now, f: got.append((f.can_id, f.extended, f.fd, f.brs, f.data))
    rid = h.start(P.MSG_REQ_CAN_SEND, {P.K_BUS: 1, P.K_ID: 0x18DB33F1, P.K_DATA: bytes(range(12)),
                                       P.K_FLAGS: P.CAN_EXT | P.CAN_FD | P.CAN_BRS})
    r = h.wait(rid)
    assert r[2] == {P.K_RESULT: OK}
    assert got == [(0x18DB33F1, True, True, True, bytes(range(12)))]
    m = h.request(P.MSG_REQ_CAN_SEND, {P.K_BUS: 1, P.K_ID: 0x123, P.K_DATA: bytes(10),
                                       P.K_FLAGS: P.CAN_FD})
    assert m[0] == P.MSG_ERROR and m[2][P.K_CODE] == LINK_MALFORMED
    for n in (65, 300):                 # longer than any FD frame: refused, not a handler fault
        m = h.request(P.MSG_REQ_CAN_SEND, {P.K_BUS: 1, P.K_ID: 0x123, P.K_DATA: bytes(n),
                                           P.K_FLAGS: P.CAN_FD})
        assert m[0] == P.MSG_ERROR and m[2][P.K_TEXT] == "bad field: data"
    assert v.gw.handler_faults == 0
    m = h.request(P.MSG_REQ_CAN_SEND, {P.K_BUS: 0, P.K_ID: 0x800, P.K_DATA: b""})
    assert m[0] == P.MSG_ERROR and m[2][P.K_TEXT] == "bad field: id"
    st = h.ok(P.MSG_REQ_STATUS, {})
    assert st[P.K_BUS_STATS][1]["tx_frames"] == 1 and st[P.K_UPTIME_MS] >= 0


def test_no_confirm_mode():
    v, h = logged_in(gw_cfg=GatewayConfig(n_buses=2, tx_confirm=False))
    h.open(1, ENGINE)
    assert h.uds(1, b"\x22\xf1\x87")[P.K_DATA] == b"\x62\xf1\x8703L906018JL"
    assert h.ok(P.MSG_REQ_CAN_SEND, {P.K_BUS: 0, P.K_ID: 0x321, P.K_DATA: b"\x01"}) \
        == {P.K_RESULT: OK}


def _hot(ctx):
    gw = ctx[0]                                 # (a 6-name unpack would build a tuple)
    now = ctx[1]
    gw.feed_can(now, 0, 0x123, ctx[5], 8, 0)    # raw rx -> EV_CAN_RX
    gw.feed_can(now, 0, 0x7E8, ctx[3], 8, 0)    # CAN-TP FF -> FC queued
    ctx[6] = gw.pop_can(ctx[2])
    gw.confirm_can(now, True, gw.tx_tag)
    gw.feed_can(now, 0, 0x7E8, ctx[4], 8, 0)    # a consecutive frame


def test_hot_path_does_not_allocate():
    v, h = logged_in(ecus=False, credits=1000)
    gw = v.gw
    h.open(1, ENGINE)
    h.ok(P.MSG_REQ_CAN_LISTEN, {P.K_BUS: 0})
    rid = h.start(P.MSG_REQ_UDS, {P.K_CHANNEL: 1, P.K_DATA: b"\x22\xf1\x90"})
    h.run(2000)                                 # the request is on the wire; nobody answers
    now = v.k.now
    out = bytearray(64)
    ff = _frame(0x10, 20, 0x62, 0xF1, 0x90, 0x57, 0x30, 0x4C)
    cf1 = _frame(0x21, 0x30, 0x30, 0x30, 0x30, 0x34, 0x33, 0x4D)
    raw = _frame(1, 2, 3)
    ctx = [gw, now, out, ff, cf1, raw, 0]
    run_locked(lambda: _hot(ctx))               # one closed-over name: a closure with
    popped = ctx[6]                             # many cells allocates when called
    assert popped == 8 and out[0] == 0x30 and gw.tx_id == 0x7E0
    cf2 = _frame(0x22, 0x42, 0x35, 0x34, 0x31, 0x33, 0x32, 0x36)
    gw.feed_can(now, 0, 0x7E8, cf2, 8, 0)
    r = h.wait(rid)
    assert r[2][P.K_DATA] == b"\x62\xf1\x90W0L000043MB541326"
    rx = [e[2] for e in h.events if e[0] == P.MSG_EV_CAN_RX]
    assert [e[P.K_ID] for e in rx][-4:] == [0x123, 0x7E8, 0x7E8, 0x7E8]
    assert rx[-4][P.K_TS_US] == now


def _error(h, kind, body):
    m = h.request(kind, body)
    assert m[0] == P.MSG_ERROR, m
    return m[2][P.K_CODE], m[2][P.K_TEXT]


def test_an_answer_larger_than_the_frame_arrives_in_fragments():
    """A 203-byte UDS response over a link with max_frame 128 arrives whole,
    in FRAGMENTs (it used to be ERROR LINK_OVERSIZE, the ECU's answer lost)."""
    v, h = logged_in(max_frame=128)
    h.open(1, merge(ENGINE, {P.K_BUS: 1}))                   # the ABS on the chassis bus
    before = h.asm.fragments
    data = h.uds(1, b"\x22\x01\x00")[P.K_DATA]
    assert len(data) == 203 and data[:3] == b"\x62\x01\x00" and h.asm.fragments > before
    assert h.uds(1, b"\x22\xf1\x87")[P.K_DATA] == b"\x62\xf1\x87ABS0007001"


def test_values_the_core_would_trip_over_later_are_refused_up_front():
    v, h = logged_in()
    h.open(1, ENGINE)
    # a receive buffer bigger than the gateway's max_pdu (the host could ask for 1 GB)
    assert _error(h, P.MSG_REQ_CHANNEL, merge(ENGINE, {P.K_CHANNEL: 2,
                                                       P.K_TP: {"max_pdu": 0x3FFFFFFE}})) \
        == (LINK_MALFORMED, "bad field: tp.max_pdu")
    assert _error(h, P.MSG_REQ_CHANNEL, merge(ENGINE, {P.K_CHANNEL: 2,
                                                       P.K_TP: {"block_size": 300}})) \
        == (LINK_MALFORMED, "bad field: tp.block_size")
    # keep-alives to a functional address the channel does not have
    ep = merge(ENGINE, {P.K_CHANNEL: 2, P.K_TX_ID: 0x7E1, P.K_RX_ID: 0x7E9,
                        P.K_UDS: {"keepalive_functional": True}})
    del ep[P.K_FUNC_TX_ID]
    assert _error(h, P.MSG_REQ_CHANNEL, ep)[0] == LINK_MALFORMED
    # an empty secret (a division by zero in the key function, mid-flash), an
    # unknown key algorithm, a 0-byte raw frame (its request was never answered)
    for flash, field in (({"address": 0x10000}, "flash.secret"),
                         ({"address": 0x10000, "secret": b"k", "key_algorithm": "rot13"},
                          "flash.key_algorithm"),
                         ({"address": 0x10000, "secret": b"k", "key_fn": 1}, "flash")):
        assert _error(h, P.MSG_REQ_FLASH, {P.K_OP: P.OP_BEGIN, P.K_JOB: 1, P.K_CHANNEL: 1,
                                           P.K_TOTAL: 16, P.K_FLASH: flash}) \
            == (LINK_MALFORMED, "bad field: " + field)
    assert _error(h, P.MSG_REQ_CAN_SEND, {P.K_BUS: 0, P.K_ID: 0x100, P.K_DATA: b""}) \
        == (LINK_MALFORMED, "bad field: data")
    # images beyond flash_max_bytes, over all jobs
    h.ok(P.MSG_REQ_FLASH, {P.K_OP: P.OP_BEGIN, P.K_JOB: 1, P.K_CHANNEL: 1,
                           P.K_TOTAL: 0x100000 - 16, P.K_FLASH: {"address": 0, "secret": b"k"}})
    h.open(2, GEARBOX)
    assert _error(h, P.MSG_REQ_FLASH, {P.K_OP: P.OP_BEGIN, P.K_JOB: 2, P.K_CHANNEL: 2,
                                       P.K_TOTAL: 32, P.K_FLASH: {"address": 0,
                                                                  "secret": b"k"}})[0] \
        == LINK_UNEXPECTED
    # a channel a job holds cannot be closed under it
    code, text = _error(h, P.MSG_REQ_CHANNEL, {P.K_CHANNEL: 1, P.K_ON: False})
    assert code == LINK_UNEXPECTED and text == "channel 1 belongs to flash job 1 (abort it first)"
    h.ok(P.MSG_REQ_FLASH, {P.K_OP: P.OP_ABORT, P.K_JOB: 1})
    h.ok(P.MSG_REQ_CHANNEL, {P.K_CHANNEL: 1, P.K_ON: False})
    # texts never echo what the host sent, and stay short
    code, text = _error(h, P.MSG_REQ_UDS, {P.K_CHANNEL: b"x" * 500, P.K_DATA: b"\x3e\x00"})
    assert text == "bad field: channel"
    st = h.ok(P.MSG_REQ_STATUS, {})
    assert st[P.K_STATS]["handler_faults"] == 0 and st[P.K_CHANNELS] == [2]


def _raw_request(kind, rid, pairs):
    """[kind, rid, {k: v, ...}] packed by hand, so a key may appear twice and
    keys may be of any type (pairs: (key, value) with int/bool/float/str keys
    and int or bytes values)."""
    buf = bytearray(256)
    i = pack_array_header(buf, 0, 3)
    i = pack_int(buf, i, kind)
    i = pack_int(buf, i, rid)
    i = pack_map_header(buf, i, len(pairs))
    for k, val in pairs:
        if isinstance(k, float):
            buf[i] = 0xCB               # float 64
            i = _be(buf, i + 1, _f64_bits(k), 8)
        elif isinstance(k, (bool, int)) and not isinstance(k, bool):
            i = pack_int(buf, i, k)
        elif isinstance(k, bool):
            i = pack_bool(buf, i, k)
        else:
            b = k.encode()
            i = pack_str(buf, i, b, len(b))
        if isinstance(val, int):
            i = pack_int(buf, i, val)
        else:
            i = pack_bin(buf, i, val, len(val))
    out = bytearray(frame_size(i))
    n = encode_frame(buf, i, out)
    return bytes(out[:n])


def _f64_bits(x):
    # only the values used below (no struct on every port)
    return {15.0: 0x402E000000000000}[x]


def test_an_ambiguous_body_is_refused_before_the_role_is_judged():
    # A diagnostic host may read (22) but not reset (11).  A body holding the
    # data key twice would be judged on one copy and run with the other; a
    # key that equals K_DATA only after decoding (15.0 == 15) does the same
    # through the handler's dict.  Every such body is LINK_MALFORMED, for
    # every role, and nothing reaches the bus.
    assert P.K_DATA == 15               # the float alias below hits it
    alias = 15.0
    for role in (P.ROLE_DIAGNOSTIC, P.ROLE_FULL):
        v, h = logged_in(role)
        h.open(1, ENGINE)
        assert h.uds(1, b"\x22\xf1\x90")[P.K_RESULT] == OK
        frames = v.buses[0].frames
        bad = (((P.K_CHANNEL, 1), (P.K_DATA, b"\x22\xf1\x90"), (P.K_DATA, b"\x11\x01")),
               ((P.K_CHANNEL, 1), (P.K_DATA, b"\x11\x01"), (P.K_DATA, b"\x22\xf1\x90")),
               ((P.K_CHANNEL, 1), (P.K_CHANNEL, 1), (P.K_DATA, b"\x22\xf1\x90")),
               ((P.K_CHANNEL, 1), (P.K_DATA, b"\x22\xf1\x90"), (alias, b"\x11\x01")),
               ((P.K_CHANNEL, 1), (P.K_DATA, b"\x22\xf1\x90"), ("x", b"\x11\x01")),
               ((P.K_CHANNEL, 1), (P.K_DATA, b"\x22\xf1\x90"), (True, b"\x11\x01")),
               ((P.K_CHANNEL, 1), (P.K_DATA, b"\x22\xf1\x90"), (256, b"\x11\x01")),
               ((P.K_CHANNEL, 1), (P.K_DATA, b"\x22\xf1\x90"), (-1, b"\x11\x01")))
        rid = 1000
        for pairs in bad:
            rid += 1
            v.link.feed(h.mac.reframe(_raw_request(P.MSG_REQ_UDS, rid, pairs)))
            m = h.take(lambda m, rid=rid: m[1] == rid, 1000000)
            assert m[0] == P.MSG_ERROR and m[2][P.K_CODE] == LINK_MALFORMED, (role, pairs, m)
        h.run(300000)
        assert v.buses[0].frames == frames and v.ecu("engine").requests == 1, role
        # the same request, unambiguous, still works
        assert h.uds(1, b"\x22\xf1\x90")[P.K_RESULT] == OK


def test_a_per_request_timeout_is_the_gateway_testers_p2_for_that_request():
    # no ECU answers on 0x7E5: the session's P2 (150 ms) unless TIMEOUT says otherwise
    from diagbridge.codes import A_TIMEOUT_P2
    v, h = logged_in(P.ROLE_DIAGNOSTIC)
    silent = merge(ENGINE, {P.K_TX_ID: 0x7E5, P.K_RX_ID: 0x7ED})
    h.open(1, silent)
    t0 = v.k.elapsed_us
    b = h.ok(P.MSG_REQ_UDS, {P.K_CHANNEL: 1, P.K_DATA: b"\x22\xf1\x90", P.K_TIMEOUT: 400})
    waited = v.k.elapsed_us - t0
    assert b[P.K_RESULT] == A_TIMEOUT_P2
    assert 400000 <= waited < 410000, waited        # 400 ms after the request left
    t0 = v.k.elapsed_us
    b = h.ok(P.MSG_REQ_UDS, {P.K_CHANNEL: 1, P.K_DATA: b"\x22\xf1\x90"})
    waited = v.k.elapsed_us - t0
    assert b[P.K_RESULT] == A_TIMEOUT_P2 and 150000 <= waited < 160000, waited
    # bad values and a functional request with a timeout are refused, nothing sent
    for bad in (-1, 600001, "400"):
        m = h.request(P.MSG_REQ_UDS, {P.K_CHANNEL: 1, P.K_DATA: b"\x3e\x00", P.K_TIMEOUT: bad})
        assert m[0] == P.MSG_ERROR and m[2][P.K_CODE] == LINK_MALFORMED, m
    m = h.request(P.MSG_REQ_UDS, {P.K_CHANNEL: 1, P.K_DATA: b"\x3e\x00", P.K_FUNCTIONAL: True,
                                  P.K_TIMEOUT: 400})
    assert m[0] == P.MSG_ERROR and m[2][P.K_CODE] == LINK_MALFORMED, m
