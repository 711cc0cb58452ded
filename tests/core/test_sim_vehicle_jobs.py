# Long jobs through the gateway on the simulated vehicle: a whole flashing
# job with progress, the network-to-network route with 0x78 to the tester,
# TesterPresent keep-alive; a flash that needs a functional address; what
# happens to a host's state, and to its running flash, when the host leaves.
# Runs under pytest and real MicroPython.
from diagbridge.cantp import Channel, TpConfig, Address, ADDR_NORMAL_FIXED
from diagbridge.codes import OK, LINK_MALFORMED, LINK_UNEXPECTED
from diagbridge.link import proto as P
from diagbridge.sim import tester_node
from diagbridge.uds.client.core import UdsClient, UdsClientConfig, EV_DONE, EV_PENDING
from gateway_support import logged_in, merge, VHost, ENGINE, GEARBOX
from support import MICROPYTHON

IMAGE_SIZE = 4096 if MICROPYTHON else 65536
CHUNK = 512


def image(size):
    return bytes(((i * 7) ^ (i >> 8)) & 0xFF for i in range(size))


def test_flash_image_with_progress_and_report():
    v, h = logged_in()
    h.open(1, ENGINE)
    img = image(IMAGE_SIZE)
    flash = {"address": 0x10000, "security_level": 3, "key_algorithm": "diagbridge1",
             "secret": b"EngineProg03"}
    h.ok(P.MSG_REQ_FLASH, {P.K_OP: P.OP_BEGIN, P.K_JOB: 7, P.K_CHANNEL: 1,
                           P.K_TOTAL: len(img), P.K_FLASH: flash})
    for off in range(0, len(img), CHUNK):
        h.ok(P.MSG_REQ_FLASH, {P.K_OP: P.OP_DATA, P.K_JOB: 7, P.K_OFFSET: off,
                               P.K_DATA: img[off:off + CHUNK]})
    # a UDS request on a channel that a flash job holds is refused as busy
    rid = h.start(P.MSG_REQ_FLASH, {P.K_OP: P.OP_START, P.K_JOB: 7})
    m = h.request(P.MSG_REQ_UDS, {P.K_CHANNEL: 1, P.K_DATA: b"\x22\xf1\x90"})
    assert m[0] == P.MSG_ERROR
    t0 = v.k.elapsed_us
    r = h.wait(rid, 60000000)
    assert r[0] == P.MSG_RESPONSE, r
    body = r[2]
    rep = body[P.K_REPORT]
    assert body[P.K_RESULT] == OK, body
    assert rep["bytes"] == len(img) and rep["verified"] and rep["step_name"] == "done"
    prog = [e[2] for e in h.events if e[0] == P.MSG_EV_PROGRESS]
    assert prog and all(p[P.K_REF] == rid and p[P.K_TOTAL] == len(img) for p in prog)
    done = [p[P.K_DONE] for p in prog]
    assert done == sorted(done) and done[-1] == len(img)
    steps = [e[2][P.K_STATE] for e in h.events
             if e[0] == P.MSG_EV_STATE and e[2][P.K_WHAT] == P.WHAT_FLASH_STEP]
    names = [P.FLASH_STEP_NAMES[s] for s in steps]
    assert names[0] == "pre_session" and names[-1] == "done" and "transfer" in names
    if not MICROPYTHON:
        # 500 kbit/s, ISO-TP payload ~30 kB/s: download + read back
        assert 2 * len(img) / 31000 < (v.k.elapsed_us - t0) / 1e6 < 2 * len(img) / 15000
    st = h.ok(P.MSG_REQ_STATUS, {})
    assert st[P.K_JOBS] == []


def test_route_29bit_tester_to_11bit_ecu_with_response_pending():
    v, h = logged_in()
    tester_ep = {P.K_BUS: 0, P.K_ADDRESSING: P.ADDRESSING_NORMAL_FIXED, P.K_TA: 0xF1,
                 P.K_SA: 0x10}
    # side B's receiver asks for STmin 5 ms: the 200-byte answer takes ~150 ms
    target_ep = {P.K_BUS: 1, P.K_ADDRESSING: P.ADDRESSING_NORMAL_11, P.K_TX_ID: 0x7E0,
                 P.K_RX_ID: 0x7E8, P.K_TP: {"stmin_us": 5000}}
    h.ok(P.MSG_REQ_ROUTE, {P.K_ROUTE: 1, P.K_TESTER: tester_ep, P.K_TARGET: target_ep,
                           P.K_PENDING_MS: 40, P.K_PERIOD_MS: 2000})
    # a tester on bus 0 with 29-bit normal-fixed addressing and P2_client 100 ms
    ch = Channel(TpConfig(), Address(ADDR_NORMAL_FIXED, ta=0x10, sa=0xF1))
    c = UdsClient(UdsClientConfig(p2_client_ms=100, adopt_timing=False))
    seen = []
    node = tester_node.TesterNode(v.k, v.buses[0].attach("tester29"), [ch], [c],
               on_event=lambda now, ev, who: seen.append((v.k.elapsed_us, ev)))
    t0 = v.k.elapsed_us
    c.request(v.k.now, b"\x22\x01\x00", 3)
    h.run(1000)
    h.run(400000)
    done = [t for t, ev in seen if ev == EV_DONE]
    pend = [t for t, ev in seen if ev == EV_PENDING]
    assert len(done) == 1 and c.result == OK
    assert bytes(c.payload[0:c.length]) == b"\x62\x01\x00" + bytes(range(200))
    assert len(pend) == 1 and 40000 <= pend[0] - t0 < 42000
    assert done[0] - t0 > 100000            # beyond side A's P2: only the 0x78 saved it
    assert v.ecu("abs").requests == 1 and v.ecu("engine").requests == 0
    st = h.ok(P.MSG_REQ_STATUS, {})
    assert st[P.K_STATS]["routed"] == 1 and st[P.K_STATS]["route_pending"] == 1
    assert st[P.K_ROUTES] == [1]
    # a negative answer from the far side is relayed as is
    c.request(v.k.now, b"\x22\x12\x34", 3)
    node.kick()
    h.run(100000)
    assert c.nrc == 0x31
    h.ok(P.MSG_REQ_ROUTE, {P.K_ROUTE: 1, P.K_ON: False})
    assert h.ok(P.MSG_REQ_STATUS, {})[P.K_ROUTES] == []


def test_keepalive_sends_tester_present_while_on():
    v, h = logged_in(P.ROLE_DIAGNOSTIC)
    h.open(1, ENGINE)
    h.ok(P.MSG_REQ_CAN_LISTEN, {P.K_BUS: 0, P.K_FILTERS: [[0x7E0, 0x7FF]], P.K_ECHO: True})
    h.ok(P.MSG_REQ_KEEPALIVE, {P.K_CHANNEL: 1, P.K_ON: True, P.K_PERIOD_MS: 1000})
    h.events = []
    h.run(3500000)
    tp = [e[2] for e in h.events if e[0] == P.MSG_EV_CAN_RX]
    assert len(tp) == 3
    assert all(e[P.K_FLAGS] & P.CAN_ECHO and e[P.K_DATA][0:3] == b"\x02\x3e\x80" for e in tp)
    h.ok(P.MSG_REQ_KEEPALIVE, {P.K_CHANNEL: 1, P.K_ON: False})
    h.events = []
    h.run(3000000)
    assert [e for e in h.events if e[0] == P.MSG_EV_CAN_RX] == []


ENGINE_NO_FUNC = {P.K_BUS: 0, P.K_ADDRESSING: P.ADDRESSING_NORMAL_11, P.K_TX_ID: 0x7E0,
                  P.K_RX_ID: 0x7E8}
FLASH_MAP = {"address": 0x10000, "security_level": 3, "key_algorithm": "diagbridge1",
             "secret": b"EngineProg03"}


def _flash_map(**extra):
    d = {}
    for k in FLASH_MAP:
        d[k] = FLASH_MAP[k]
    for k in extra:
        d[k] = extra[k]
    return d


def _load(h, job, cid, img, flash):
    h.ok(P.MSG_REQ_FLASH, {P.K_OP: P.OP_BEGIN, P.K_JOB: job, P.K_CHANNEL: cid,
                           P.K_TOTAL: len(img), P.K_FLASH: flash})
    for off in range(0, len(img), CHUNK):
        h.ok(P.MSG_REQ_FLASH, {P.K_OP: P.OP_DATA, P.K_JOB: job, P.K_OFFSET: off,
                               P.K_DATA: img[off:off + CHUNK]})


def test_flash_without_functional_address_is_refused_at_begin():
    """Functional preparation (85 82, 28 81 01 ...) needs the channel's
    functional address: refused at OP_BEGIN with a clear ERROR (it used to
    raise inside the gateway loop); without the preparation it flashes."""
    v, h = logged_in()
    h.open(1, ENGINE_NO_FUNC)
    m = h.request(P.MSG_REQ_FLASH, {P.K_OP: P.OP_BEGIN, P.K_JOB: 7, P.K_CHANNEL: 1,
                                    P.K_TOTAL: 256, P.K_FLASH: _flash_map()})
    assert m[0] == P.MSG_ERROR and m[2][P.K_CODE] == LINK_MALFORMED
    assert m[2][P.K_TEXT].startswith("bad field: flash.functional_prep: flash with functional "
                                     "preparation needs a functional address on the channel")
    assert h.ok(P.MSG_REQ_STATUS, {})[P.K_JOBS] == []
    # the same with functional_prep False runs, on the physical address only
    img = image(1024)
    _load(h, 7, 1, img, _flash_map(functional_prep=False))
    r = h.wait(h.start(P.MSG_REQ_FLASH, {P.K_OP: P.OP_START, P.K_JOB: 7}), 60000000)
    assert r[0] == P.MSG_RESPONSE and r[2][P.K_RESULT] == OK, r
    assert r[2][P.K_REPORT]["verified"]
    steps = [P.FLASH_STEP_NAMES[e[2][P.K_STATE]] for e in h.events
             if e[0] == P.MSG_EV_STATE and e[2][P.K_WHAT] == P.WHAT_FLASH_STEP]
    assert "dtc_off" not in steps and "cc_off" not in steps and steps[-1] == "done"
    # a functional keep-alive on that channel is refused the same way
    m = h.request(P.MSG_REQ_KEEPALIVE, {P.K_CHANNEL: 1, P.K_ON: True, P.K_FUNCTIONAL: True})
    assert m[0] == P.MSG_ERROR and m[2][P.K_CODE] == LINK_MALFORMED


def _tp_frames(v, bus, can_id):
    got = []
    port = v.buses[bus].attach("sniffer%x" % can_id)
    port.on_rx = lambda now, f: got.append(bytes(f.data)) if f.can_id == can_id else None
    return got


def test_a_host_that_leaves_takes_its_state_but_not_a_running_flash():
    """Host A opens channels, a keep-alive, a listener, a route and a hosted
    ECU and starts a flash; A's link drops.  Host B finds an empty gateway
    (channel 1 opens at once), sees nothing of A's; the flash runs to its end
    unattended, is listed in JOBS until then and counted afterwards."""
    v, a = logged_in()
    a.open(1, ENGINE)
    a.open(2, GEARBOX)
    a.ok(P.MSG_REQ_KEEPALIVE, {P.K_CHANNEL: 2, P.K_ON: True, P.K_PERIOD_MS: 500})  # the floor
    kept_alive = _tp_frames(v, 0, 0x7E1)
    a.ok(P.MSG_REQ_CAN_LISTEN, {P.K_BUS: 1})
    a.ok(P.MSG_REQ_ROUTE, {P.K_ROUTE: 1, P.K_TESTER: {P.K_BUS: 0, P.K_TA: 0xF1, P.K_SA: 0x10,
                                                      P.K_ADDRESSING: P.ADDRESSING_NORMAL_FIXED},
                           P.K_TARGET: {P.K_BUS: 1, P.K_ADDRESSING: P.ADDRESSING_NORMAL_11,
                                        P.K_TX_ID: 0x7E0, P.K_RX_ID: 0x7E8}})
    a.ok(P.MSG_REQ_ECU_SIM, {P.K_ECU: 5, P.K_BUS: 1, P.K_PROFILE: "engine",
                             P.K_ADDRESSING: P.ADDRESSING_NORMAL_11, P.K_TX_ID: 0x7ED,
                             P.K_RX_ID: 0x7E5})
    img = image(16384 if MICROPYTHON else IMAGE_SIZE)     # ~1 s or more on the bus
    _load(a, 7, 1, img, FLASH_MAP)
    a.ok(P.MSG_REQ_FLASH, {P.K_OP: P.OP_BEGIN, P.K_JOB: 8, P.K_CHANNEL: 2, P.K_TOTAL: 16,
                           P.K_FLASH: FLASH_MAP})          # begun, never started
    a.run(600000)                                           # one keep-alive period
    rid = a.start(P.MSG_REQ_FLASH, {P.K_OP: P.OP_START, P.K_JOB: 7})
    a.take(lambda m: False, 200000)                         # the transfer is under way
    assert [e for e in a.events if e[0] == P.MSG_EV_PROGRESS]
    assert kept_alive and kept_alive[0][0:3] == b"\x02\x3e\x80"
    a.send(P.MSG_BYE, 0, None)                              # A's link drops
    v.run_for(1000)                                         # (a frame already on the wire)
    del kept_alive[:]
    b = VHost(v)
    assert b.login()[0] == P.MSG_AUTH_OK
    st = b.ok(P.MSG_REQ_STATUS, {})
    assert st[P.K_CHANNELS] == [] and st[P.K_ROUTES] == [] and st[P.K_ECUS] == []
    assert st[P.K_JOBS] == [7]                              # still running, unattended
    b.open(1, GEARBOX)                                      # A's channel id: free at once
    m = b.request(P.MSG_REQ_CHANNEL, merge(ENGINE, {P.K_CHANNEL: 2}))
    assert m[0] == P.MSG_ERROR and m[2][P.K_CODE] == LINK_UNEXPECTED
    assert m[2][P.K_TEXT] == "flash job 7 uses this address until it ends"
    # A's hosted ECU is gone: nobody answers on its address
    ext = _tp_frames(v, 1, 0x7ED)
    v.buses[1].attach("ext").send(0x7E5, b"\x03\x22\xf1\x90\xcc\xcc\xcc\xcc")
    end = v.k.elapsed_us + 60000000
    while b.ok(P.MSG_REQ_STATUS, {})[P.K_JOBS] and v.k.elapsed_us < end:
        b.run(200000)
    st = b.ok(P.MSG_REQ_STATUS, {})
    assert st[P.K_JOBS] == [] and st[P.K_CHANNELS] == [1]
    assert st[P.K_STATS]["jobs_unattended"] == 1
    assert st[P.K_STATS]["jobs_unattended_failed"] == 0
    assert ext == [] and kept_alive == []                   # no hosted ECU, no keep-alive
    # B saw nothing of A's: no answer to A's request id, no flash events, no CAN
    assert [m for m in b.inbox if m[1] == rid] == []
    assert [e for e in b.events if e[0] in (P.MSG_EV_PROGRESS, P.MSG_EV_STATE,
                                             P.MSG_EV_CAN_RX)] == []
    # the ECU took the whole image, and its address is B's to use now
    b.open(2, ENGINE)
    assert b.uds(2, b"\x22\xf1\x90")[P.K_RESULT] == OK
    assert b.uds(1, b"\x22\xf1\x87")[P.K_DATA] == b"\x62\xf1\x87GBX0001234"
