# What a host may put on a bus (gateway/limits.py) and how failed logins back
# off on a one-peer link (gateway/login.py), on the simulated vehicle in
# virtual time: ids per role (a diagnostic host cannot open a channel on
# 0x000; a board can restrict the full role too), the keep-alive floor, the
# transmit rate limit to the microsecond, the STATUS counters, the login
# back-off's exact delays, and allocation-free accounting of every frame.
# Runs under pytest and real MicroPython.
from diagbridge.codes import OK, LINK_REFUSED, LINK_NO_CREDIT, LINK_UNEXPECTED, LINK_AUTH_FAILED
from diagbridge.errors import ConfigError
from diagbridge.gateway import GatewayConfig
from diagbridge.gateway.limits import DIAGNOSTIC_TX_IDS
from diagbridge.link import proto as P
from gateway_support import vehicle, VHost, merge, ENGINE
from link_support import HOST_NONCE
from support import run_locked


def _host(role, **kw):
    """A host logged in without a key (the vehicle grants `role` openly)."""
    v = vehicle(keys=(), open_role=role, **kw)
    h = VHost(v)
    m = h.login(role)
    assert m[0] == P.MSG_AUTH_OK and m[2][P.K_ROLE] == role, m
    return v, h


def _cfg(**kw):
    return GatewayConfig(n_buses=2, **kw)


def _sniff(v, bus):
    """Every frame on the bus: [(elapsed_us, id, extended, data)]."""
    got = []
    port = v.buses[bus].attach("sniffer%d" % bus)
    port.on_rx = lambda now, f: got.append((v.k.elapsed_us, f.can_id, f.extended,
                                            bytes(f.data)))
    return got


def _refused(h, kind, body, code=LINK_REFUSED):
    m = h.request(kind, body)
    assert m is not None and m[0] == P.MSG_ERROR and m[2][P.K_CODE] == code, m
    return m[2][P.K_TEXT]


def _stats(h):
    return h.ok(P.MSG_REQ_STATUS, {})[P.K_STATS]


def _ch(cid, **ids):
    body = {P.K_CHANNEL: cid, P.K_ON: True, P.K_BUS: 0}
    for k in ids:
        body[int(k[1:])] = ids[k]
    return body


def _normal_11(cid, tx, rx, **more):
    b = _ch(cid, k29=P.ADDRESSING_NORMAL_11, k27=tx, k28=rx)
    for k in more:
        b[int(k[1:])] = more[k]
    return b


def _raw(can_id, data=b"\x01", flags=0, bus=0):
    return {P.K_BUS: bus, P.K_ID: can_id, P.K_DATA: data, P.K_FLAGS: flags}


# ---- ids per role -------------------------------------------------------------------------
def test_a_diagnostic_host_cannot_open_a_channel_on_id_0x000_and_nothing_is_sent():
    v, h = _host(P.ROLE_DIAGNOSTIC)
    wire = _sniff(v, 0)
    text = _refused(h, P.MSG_REQ_CHANNEL, _normal_11(1, 0x000, 0x7E8))
    assert text == ("channel tx_id: id 0x000 (11-bit) is not allowed for the diagnostic role "
                    "on this gateway")
    # the channel does not exist: its keep-alive (1 ms, the flood) and UDS are refused
    m = h.request(P.MSG_REQ_KEEPALIVE, {P.K_CHANNEL: 1, P.K_ON: True, P.K_PERIOD_MS: 1})
    assert m[0] == P.MSG_ERROR
    m = h.request(P.MSG_REQ_UDS, {P.K_CHANNEL: 1, P.K_DATA: b"\x3e\x00"})
    assert m[0] == P.MSG_ERROR and m[2][P.K_CODE] == LINK_UNEXPECTED
    # a functional tx id outside the ranges refuses the whole channel
    text = _refused(h, P.MSG_REQ_CHANNEL, _normal_11(1, 0x7E0, 0x7E8, k37=0x100))
    assert text.startswith("channel func_tx_id: id 0x100 (11-bit)")
    # the format matters: 29-bit 0x000007E0 is not 11-bit 0x7E0
    b = _ch(1, k29=P.ADDRESSING_NORMAL_29, k27=0x7E0, k28=0x7E8)
    assert _refused(h, P.MSG_REQ_CHANNEL, b).startswith("channel tx_id: id 0x000007E0 (29-bit)")
    h.run(100000)
    assert wire == []
    st = h.ok(P.MSG_REQ_STATUS, {})
    assert st[P.K_CHANNELS] == [] and st[P.K_STATS]["refused_tx_id"] == 3
    assert st[P.K_BUS_STATS][0]["tx_frames"] == 0
    # inside the ranges: the OBD block and ISO 15765-4 normal fixed addressing
    h.open(1, ENGINE)
    assert h.uds(1, b"\x22\xf1\x90")[P.K_RESULT] == OK
    h.ok(P.MSG_REQ_CHANNEL, _ch(2, k29=P.ADDRESSING_NORMAL_FIXED, k34=0x10, k35=0xF1,
                                k39=0x33))
    assert h.ok(P.MSG_REQ_STATUS, {})[P.K_CHANNELS] == [1, 2]


def test_a_board_restricts_the_full_role_raw_sends_routes_and_hosted_ecus():
    v, h = _host(P.ROLE_FULL, gw_cfg=_cfg(full_tx_ids=((0x700, 0x7FF, False),)))
    wire = _sniff(v, 0)
    assert _refused(h, P.MSG_REQ_CAN_SEND, _raw(0x000)) == \
        "raw CAN transmit: id 0x000 (11-bit) is not allowed for the full role on this gateway"
    assert _refused(h, P.MSG_REQ_CAN_SEND, _raw(0x7E0, flags=P.CAN_EXT)).startswith(
        "raw CAN transmit: id 0x000007E0 (29-bit)")
    assert _refused(h, P.MSG_REQ_CHANNEL, _normal_11(1, 0x123, 0x7E8)).startswith(
        "channel tx_id: id 0x123")
    free = v.gw.free_nodes()
    route = {P.K_ROUTE: 1, P.K_TESTER: {P.K_BUS: 0, P.K_TA: 0xF1, P.K_SA: 0x10,
                                        P.K_ADDRESSING: P.ADDRESSING_NORMAL_FIXED},
             P.K_TARGET: {P.K_BUS: 1, P.K_ADDRESSING: P.ADDRESSING_NORMAL_11,
                          P.K_TX_ID: 0x7E0, P.K_RX_ID: 0x7E8}}
    assert _refused(h, P.MSG_REQ_ROUTE, route).startswith("tester tx_id: id 0x18DAF110 (29-bit)")
    ecu = {P.K_ECU: 5, P.K_BUS: 0, P.K_PROFILE: "engine",
           P.K_ADDRESSING: P.ADDRESSING_NORMAL_11, P.K_TX_ID: 0x0FD, P.K_RX_ID: 0x7E5}
    assert _refused(h, P.MSG_REQ_ECU_SIM, ecu).startswith("ecu tx_id: id 0x0FD (11-bit)")
    assert v.gw.free_nodes() == free    # nothing half-made
    h.run(50000)
    assert wire == []
    st = h.ok(P.MSG_REQ_STATUS, {})
    assert st[P.K_STATS]["refused_tx_id"] == 5
    assert st[P.K_ROUTES] == [] and st[P.K_ECUS] == [] and st[P.K_CHANNELS] == []
    # inside the board's range everything works
    assert h.ok(P.MSG_REQ_CAN_SEND, _raw(0x7DF, b"\x02\x3e\x80"))[P.K_RESULT] == OK
    h.ok(P.MSG_REQ_ECU_SIM, merge(ecu, {P.K_TX_ID: 0x7ED}))
    h.run(10000)
    assert [(w[1], w[3]) for w in wire] == [(0x7DF, b"\x02\x3e\x80")]


def test_the_full_role_sends_any_id_unless_the_board_restricts_it():
    v, h = _host(P.ROLE_FULL)
    wire = _sniff(v, 1)
    assert h.ok(P.MSG_REQ_CAN_SEND, _raw(0x000, bus=1))[P.K_RESULT] == OK
    assert h.ok(P.MSG_REQ_CAN_SEND, _raw(0x1FFFFFFF, flags=P.CAN_EXT, bus=1))[P.K_RESULT] == OK
    h.run(10000)
    assert [(w[1], w[2]) for w in wire] == [(0x000, False), (0x1FFFFFFF, True)]


def test_id_ranges_are_validated():
    assert GatewayConfig().diagnostic_tx_ids == DIAGNOSTIC_TX_IDS
    assert GatewayConfig().full_tx_ids is None
    assert GatewayConfig(diagnostic_tx_ids=[[0x7E0, 0x7E7, 0]]).diagnostic_tx_ids == \
        ((0x7E0, 0x7E7, False),)
    for bad in (None, 5, ((0x700, 0x800, False),), ((0x7FF, 0x700, False),),
                ((0, 0x7FF),), ((-1, 5, False),), ((0, 0x20000000, True),),
                ((0, "7FF", False),), ((True, 5, False),)):
        try:
            GatewayConfig(diagnostic_tx_ids=bad)
            assert False, bad
        except ConfigError as e:
            assert str(e) == "diagnostic_tx_ids"
    try:
        GatewayConfig(full_tx_ids=((0, 0x800, False),))
        assert False
    except ConfigError as e:
        assert str(e) == "full_tx_ids"
    assert GatewayConfig(diagnostic_tx_ids=()).diagnostic_tx_ids == ()
    for name, bad in (("keepalive_min_ms", 0), ("tx_rate_fps", 0), ("tx_burst", 1001),
                      ("login_backoff_ms", -1), ("login_forget_ms", 240001)):
        kw = {name: bad}
        try:
            GatewayConfig(**kw)
            assert False, name
        except ConfigError as e:
            assert str(e) == name


def test_a_board_with_no_diagnostic_ids_lets_diagnostic_hosts_only_read():
    v, h = _host(P.ROLE_DIAGNOSTIC, gw_cfg=_cfg(diagnostic_tx_ids=()))
    _refused(h, P.MSG_REQ_CHANNEL, merge(ENGINE, {P.K_CHANNEL: 1, P.K_ON: True}))
    assert h.ok(P.MSG_REQ_CAN_LISTEN, {P.K_BUS: 0})[P.K_RESULT] == OK


# ---- the keep-alive floor --------------------------------------------------------------------
def test_keepalive_periods_below_the_floor_are_refused():
    v, h = _host(P.ROLE_FULL)
    wire = _sniff(v, 0)
    h.open(1, ENGINE)
    ka = {P.K_CHANNEL: 1, P.K_ON: True}
    for period in (1, 100, 499):
        text = _refused(h, P.MSG_REQ_KEEPALIVE, merge(ka, {P.K_PERIOD_MS: period}))
        assert text == "period_ms: %d ms is below this gateway's floor of 500 ms" % period
    # the channel's own UDS config is held to the same floor (its automatic keep-alive)
    text = _refused(h, P.MSG_REQ_CHANNEL, merge(ENGINE, {P.K_CHANNEL: 2, P.K_ON: True,
                                                         P.K_UDS: {"keepalive_period_ms": 50}}))
    assert text == "uds.keepalive_period_ms: 50 ms is below this gateway's floor of 500 ms"
    # a route's response-pending cadence repeats on its own too
    route = {P.K_ROUTE: 1, P.K_PERIOD_MS: 10,
             P.K_TESTER: {P.K_BUS: 0, P.K_TA: 0xF1, P.K_SA: 0x10,
                          P.K_ADDRESSING: P.ADDRESSING_NORMAL_FIXED},
             P.K_TARGET: {P.K_BUS: 1, P.K_ADDRESSING: P.ADDRESSING_NORMAL_11,
                          P.K_TX_ID: 0x7E0, P.K_RX_ID: 0x7E8}}
    assert _refused(h, P.MSG_REQ_ROUTE, route).startswith("period_ms: 10 ms is below")
    h.run(1000000)
    assert wire == []
    assert _stats(h)["refused_keepalive_period"] == 5
    # at the floor: a TesterPresent exactly every 500 ms of quiet
    t0 = v.k.elapsed_us
    h.ok(P.MSG_REQ_KEEPALIVE, merge(ka, {P.K_PERIOD_MS: 500}))
    h.run(1600000)
    tp = [w for w in wire if w[1] == 0x7E0]
    assert [w[3][0:3] for w in tp] == [b"\x02\x3e\x80"] * 3
    assert tp[1][0] - tp[0][0] == 500000 and tp[2][0] - tp[1][0] == 500000
    assert 500000 <= tp[0][0] - t0 < 510000
    # stopping needs no period check
    h.ok(P.MSG_REQ_KEEPALIVE, {P.K_CHANNEL: 1, P.K_ON: False, P.K_PERIOD_MS: 1})


def test_the_floor_is_the_boards_choice():
    v, h = _host(P.ROLE_DIAGNOSTIC, gw_cfg=_cfg(keepalive_min_ms=100))
    h.open(1, ENGINE)
    h.ok(P.MSG_REQ_KEEPALIVE, {P.K_CHANNEL: 1, P.K_ON: True, P.K_PERIOD_MS: 100})
    assert _refused(h, P.MSG_REQ_KEEPALIVE, {P.K_CHANNEL: 1, P.K_ON: True,
                                             P.K_PERIOD_MS: 99}).endswith("floor of 100 ms")


def test_a_floor_above_the_default_period_raises_the_default_not_the_channel():
    """Floor 3000 ms, above the UDS default of 2000 ms: a channel opened
    without a period opens, and its keep-alive runs at the floor."""
    v, h = _host(P.ROLE_DIAGNOSTIC, gw_cfg=_cfg(keepalive_min_ms=3000))
    wire = _sniff(v, 0)
    h.open(1, ENGINE)
    h.ok(P.MSG_REQ_KEEPALIVE, {P.K_CHANNEL: 1, P.K_ON: True})       # the channel's period
    t0 = v.k.elapsed_us
    h.run(6500000)
    tp = [w[0] - t0 for w in wire if w[1] == 0x7E0]
    assert len(tp) == 2 and tp[1] - tp[0] == 3000000 and 3000000 <= tp[0] < 3010000
    assert _refused(h, P.MSG_REQ_CHANNEL, merge(ENGINE, {
        P.K_CHANNEL: 2, P.K_ON: True, P.K_TX_ID: 0x7E1, P.K_RX_ID: 0x7E9,
        P.K_UDS: {"keepalive_period_ms": 2000}})).endswith("floor of 3000 ms")


# ---- the transmit rate limit ---------------------------------------------------------------
def _answers(h, rids):
    out = []
    for rid in rids:
        m = h.wait(rid)
        out.append(m[2][P.K_RESULT] if m[0] == P.MSG_RESPONSE else -m[2][P.K_CODE])
    return out


def test_a_flood_of_raw_sends_is_limited_at_the_rate_exactly():
    """100 frames/s, burst 5: five frames at once, then one every 10 ms to the
    microsecond; the rest is refused (counted), never silently dropped."""
    v, h = _host(P.ROLE_FULL, gw_cfg=_cfg(tx_rate_fps=100, tx_burst=5), request_credits=16)
    wire = _sniff(v, 0)
    t0 = v.k.elapsed_us
    burst = [h.start(P.MSG_REQ_CAN_SEND, _raw(0x000, bytes([i]))) for i in range(7)]
    v.run_for(9999)
    early = h.start(P.MSG_REQ_CAN_SEND, _raw(0x000, b"\xe0"))      # t0 + 9.999 ms
    v.run_for(1)
    on_time = h.start(P.MSG_REQ_CAN_SEND, _raw(0x000, b"\xe1"))    # t0 + 10 ms
    assert v.k.elapsed_us - t0 == 10000
    got = _answers(h, burst + [early, on_time])
    assert got == [OK] * 5 + [-LINK_NO_CREDIT] * 3 + [OK]
    m = h.request(P.MSG_REQ_CAN_SEND, _raw(0x000, b"\xe2"))
    assert m[0] == P.MSG_ERROR and m[2][P.K_TEXT] == (
        "raw CAN transmit: transmit rate limit (100 frames/s, burst 5) reached; try again later")
    # a host that keeps to the rate is never refused
    sent = 0
    for i in range(20):
        v.run_for(10000 - (v.k.elapsed_us - t0) % 10000)
        assert h.ok(P.MSG_REQ_CAN_SEND, _raw(0x000, bytes([0x80 + i])))[P.K_RESULT] == OK
        sent += 1
    h.run(20000)
    assert [w[3][0] for w in wire] == [0, 1, 2, 3, 4, 0xE1] + [0x80 + i for i in range(20)]
    st = _stats(h)
    assert st["refused_tx_rate"] == 4 and st["refused_tx_id"] == 0
    assert h.ok(P.MSG_REQ_STATUS, {})[P.K_BUS_STATS][0]["tx_frames"] == 6 + sent


def test_a_cantp_transfer_is_counted_but_never_broken_by_the_limit():
    """10 frames/s, burst 2: a 61-byte request (FF + 8 CFs) still goes out
    whole at the ECU's flow control; its frames spent the budget, so the next
    raw send waits for a token (100 ms); channels and UDS requests are not
    refused (a host-driven flash must not stall between its blocks)."""
    v, h = _host(P.ROLE_FULL, gw_cfg=_cfg(tx_rate_fps=10, tx_burst=2))
    wire = _sniff(v, 0)
    h.open(1, ENGINE)
    req = b"\x22" + b"\xf1\x90" * 30                         # 61 bytes: multi-frame
    r = h.uds(1, req)
    assert r[P.K_RESULT] in (OK, 0x51), r                      # the ECU answered (any answer)
    ours = [w for w in wire if w[1] == 0x7E0 and w[3][0] >> 4 in (1, 2)]
    assert len(ours) == 9 and ours[0][3][0] == 0x10           # FF + 8 CF, none held back
    assert _stats(h)["tx_tokens"] == 0
    assert _refused(h, P.MSG_REQ_CAN_SEND, _raw(0x7DF), LINK_NO_CREDIT).startswith(
        "raw CAN transmit: transmit rate limit (10 frames/s, burst 2)")
    h.open(2, merge(ENGINE, {P.K_TX_ID: 0x7E1, P.K_RX_ID: 0x7E9}))
    assert h.uds(2, b"\x22\xf1\x87")[P.K_DATA] == b"\x62\xf1\x87GBX0001234"
    assert _stats(h)["tx_tokens"] == 0
    h.run(100000)
    assert h.ok(P.MSG_REQ_CAN_SEND, _raw(0x7DF))[P.K_RESULT] == OK
    assert _stats(h)["refused_tx_rate"] == 1


def test_the_budget_is_not_refilled_by_reconnecting():
    v, h = _host(P.ROLE_FULL, gw_cfg=_cfg(tx_rate_fps=1, tx_burst=1))
    assert h.ok(P.MSG_REQ_CAN_SEND, _raw(0x7DF))[P.K_RESULT] == OK
    h.send(P.MSG_BYE, 0, None)
    h2 = VHost(v)
    assert h2.login(P.ROLE_FULL)[0] == P.MSG_AUTH_OK
    _refused(h2, P.MSG_REQ_CAN_SEND, _raw(0x7DF), LINK_NO_CREDIT)


def test_status_shows_the_counters_with_the_adapters_own():
    v, h = _host(P.ROLE_FULL)
    st = _stats(h)
    for k in ("auth_failures", "link_refused", "refused_tx_id", "refused_keepalive_period",
              "refused_tx_rate", "refused_login_backoff", "refused_connections"):
        assert st[k] == 0, k
    assert st["tx_tokens"] == 100
    v.gw.adapter_stats = lambda: {"refused_connections": 3, "refused_login_backoff": 2}
    st = _stats(h)
    assert st["refused_connections"] == 3 and st["refused_login_backoff"] == 2


def _f8(*b):
    out = bytearray(8)
    for i in range(8):
        out[i] = b[i] if i < len(b) else 0xCC
    return out


def test_counting_frames_is_allocation_free():
    """The SF of a request spent one token; the flow control the gateway
    sends for the answer's first frame spends one more, allocation-free, and
    so does charging past empty, which stops at zero."""
    v, h = _host(P.ROLE_FULL, gw_cfg=_cfg(tx_rate_fps=1, tx_burst=10), ecus=False)
    h.open(1, ENGINE)
    gw = v.gw
    rid = h.start(P.MSG_REQ_UDS, {P.K_CHANNEL: 1, P.K_DATA: b"\x22\xf1\x90"})
    h.run(2000)                                 # the request is on the wire; nobody answers
    assert gw.limits.tokens(v.k.now) == 9
    ff = _f8(0x10, 20, 0x62, 0xF1, 0x90, 0x57, 0x30, 0x4C)
    ctx = [gw, v.k.now, bytearray(64), ff, 0]
    run_locked(lambda: _fc(ctx))
    assert ctx[4] == 8 and ctx[2][0] == 0x30 and gw.tx_id == 0x7E0
    assert gw.limits.tokens(v.k.now) == 8
    run_locked(lambda: _charge(ctx))
    assert gw.limits.tokens(v.k.now) == 0       # stops at empty, never in debt
    now = v.k.now
    gw.feed_can(now, 0, 0x7E8, _f8(0x21, 0x30, 0x30, 0x30, 0x30, 0x34, 0x33, 0x4D), 8, 0)
    gw.feed_can(now, 0, 0x7E8, _f8(0x22, 0x42, 0x35, 0x34, 0x31, 0x33, 0x32, 0x36), 8, 0)
    r = h.wait(rid)                             # the transfer went on with an empty budget
    assert r[2][P.K_DATA] == b"\x62\xf1\x90W0L000043MB541326"


def _fc(ctx):
    gw = ctx[0]
    now = ctx[1]
    gw.feed_can(now, 0, 0x7E8, ctx[3], 8, 0)    # FF -> FC queued
    ctx[4] = gw.pop_can(ctx[2])                 # FC out: one token
    gw.confirm_can(now, True, gw.tx_tag)


def _charge(ctx):
    lim = ctx[0].limits
    now = ctx[1]
    for _ in range(20):
        lim.charge(now)


# ---- failed logins back off on a one-peer link -----------------------------------------------
KEY = b"full-access-key-0123456789abcdef"


def _hello(h):
    h.send(P.MSG_HELLO, 0, {P.K_VERSION: P.LINK_PROTOCOL_VERSION, P.K_ROLE: P.ROLE_FULL,
                            P.K_NONCE: HOST_NONCE, P.K_CREDITS: 8})


def _fail_login(h):
    _hello(h)
    ch = h.take(lambda m: m[0] in (P.MSG_CHALLENGE, P.MSG_ERROR))
    assert ch[0] == P.MSG_CHALLENGE, ch
    h.send(P.MSG_AUTH, 0, {P.K_MAC: bytes(32)})
    m = h.take(lambda m: m[0] == P.MSG_ERROR)
    assert m[2][P.K_CODE] == LINK_AUTH_FAILED, m
    h.inbox = []


def _try(h):
    """A HELLO now: 'ack' (judged), 'refused' (the back-off's ERROR) or None.
    (What came before is read first: the host's heartbeats are refused too.)"""
    h.pump()
    h.inbox = []
    _hello(h)
    m = h.take(lambda m: m[0] in (P.MSG_HELLO_ACK, P.MSG_ERROR), 1)
    h.inbox = []
    if m is None:
        return None
    if m[0] == P.MSG_HELLO_ACK:
        return "ack"
    assert m[2][P.K_CODE] == LINK_UNEXPECTED
    assert m[2][P.K_TEXT] == ("too many failed logins on this link: the next login waits "
                              "(at most 30 s)")
    return "refused"


def test_failed_logins_back_off_exponentially_to_the_microsecond():
    v = vehicle(keys=((P.ROLE_FULL, KEY),), open_role=P.ROLE_DIAGNOSTIC,
                gw_cfg=_cfg(login_forget_ms=5000))
    lb = v.gw.login
    h = VHost(v)
    _fail_login(h)
    t = v.k.elapsed_us                          # the failure: 200 ms from here
    v.run_for(199999)
    r0 = lb.refused
    assert _try(h) == "refused" and lb.refused > r0
    v.run_for(1)
    assert v.k.elapsed_us - t == 200000
    assert _try(h) == "ack"                     # judged again (a challenge follows)
    _fail_login(h)                              # the second failure in a row: 400 ms
    t = v.k.elapsed_us
    v.run_for(399999)
    assert _try(h) == "refused"
    assert lb.wait_us(v.k.now) == 1
    v.run_for(1)
    assert _try(h) == "ack"
    assert lb.in_a_row == 2 and lb.failures == 2
    # a key-less diagnostic login (no key, so no failure) shows the counters
    h = VHost(v)
    assert h.login(P.ROLE_DIAGNOSTIC)[0] == P.MSG_AUTH_OK
    st = _stats(h)
    assert st["auth_failures"] == 2 and st["refused_login_backoff"] == lb.refused >= 2
    # 5 s after the back-off ended without a failure the count starts again
    h.run(5500000)
    assert lb.in_a_row == 0 and lb.delay_us(1) == 200000 and lb.delay_us(20) == 30000000


def test_during_the_back_off_even_a_keyless_login_waits():
    v = vehicle(keys=((P.ROLE_FULL, KEY),), open_role=P.ROLE_DIAGNOSTIC)
    h = VHost(v)
    _fail_login(h)
    before = v.gw.requests
    _hello(h)                                   # the open diagnostic role: no key needed
    m = h.take(lambda m: m[0] in (P.MSG_HELLO_ACK, P.MSG_AUTH_OK, P.MSG_ERROR), 1)
    assert m[0] == P.MSG_ERROR and m[2][P.K_CODE] == LINK_UNEXPECTED
    assert [x for x in h.inbox if x[0] in (P.MSG_HELLO_ACK, P.MSG_AUTH_OK)] == []
    v.run_for(200000)
    h2 = VHost(v)
    assert h2.login(P.ROLE_DIAGNOSTIC)[0] == P.MSG_AUTH_OK
    assert h2.ok(P.MSG_REQ_STATUS, {})[P.K_STATS]["auth_failures"] == 1
    assert v.gw.requests == before + 1


def test_no_back_off_when_the_adapter_backs_off_per_peer():
    v = vehicle(keys=((P.ROLE_FULL, KEY),), gw_cfg=_cfg(login_backoff_ms=0))
    h = VHost(v)
    _fail_login(h)
    assert _try(h) == "ack"
    assert v.gw.login.failures == 1 and v.gw.login.refused == 0
    assert not v.gw.login.waiting(v.k.now)
