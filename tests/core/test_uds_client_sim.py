# Our client against our server (and against scripted misbehaving
# responders) on the virtual 500 kbit/s bus, in exact virtual time.
from diagbridge.codes import (OK, A_TIMEOUT_P2, A_NEGATIVE_RESPONSE, A_PENDING_LIMIT,
                              A_MALFORMED_RESPONSE)
from diagbridge.sim.recorder import Recorder
from diagbridge.sim.canframe import frame_time_ns
from diagbridge.uds.client import api
from diagbridge.uds.client.core import UdsClient, UdsClientConfig, EV_DONE, EV_UNEXPECTED, EV_PENDING
from diagbridge.uds.nrc_names import nrc_name
from diagbridge.uds.server.profiles import engine
from diagbridge.uds.codec.session import CC_ENABLE_RX_DISABLE_TX, COMM_NORMAL
from diagbridge.uds.codec.dtc import SF_RDTCBSM, SF_RNODTCBSM, SF_RDTCSSBDTC, SF_RDTCEDRBDN
from diagbridge.uds.codec.roe import ET_DID_CHANGE, EWT_INFINITE
from uds_client_support import Rig, engine_server, hexs

REG = api.DidRegistry.from_profile(engine.profile())


def call(rig, c, req, reg=REG):
    rig.go(c, req)
    rig.run_until_done(c)
    if c.result != OK:
        return c.result, c.nrc
    return OK, api.decode(req, c.payload, c.length, reg)


def _wire_us(data, can_id):
    return -(-frame_time_ns(500000, 2000000, can_id, False, False, False, data, len(data)) // 1000)


def test_every_service_against_our_server():
    c = UdsClient()
    r = Rig([c], [engine_server()])
    assert call(r, c, api.session_control(3)) == (OK, (3, 50, 5000))
    seed = call(r, c, api.request_seed(1))[1]
    assert len(seed) == 4
    key = api.key_function("diagbridge1", b"EngineExt01")(1, seed)
    assert call(r, c, api.send_key(1, key)) == (OK, b"")
    assert call(r, c, api.read_data((0xF190, 0xF18C, 0x0100))) == \
        (OK, {0xF190: "W0L000043MB541326", 0xF18C: "ENG0004711", 0x0100: 850 * 4})
    assert call(r, c, api.write_data(0xF190, "WVWZZZ1JZXW000001", REG)) == (OK, 0xF190)
    assert call(r, c, api.read_data(0xF190)) == (OK, {0xF190: "WVWZZZ1JZXW000001"})
    ok, sc = call(r, c, api.read_scaling(0x0105))
    assert sc[0] == 0x0105 and hexs(sc[1]) == "01 95 00 E0 4B 00 1E A1 30"
    assert call(r, c, api.read_memory(0x8000, 18)) == (OK, b"CAL-ENGINE-2.0-TDI")
    assert call(r, c, api.write_memory(0x20000000, b"\x01\x02\x03")) == (OK, (0x20000000, 3))
    assert call(r, c, api.read_memory(0x20000000, 3, 4, 2)) == (OK, b"\x01\x02\x03")
    ok, cnt = call(r, c, api.read_dtc(SF_RNODTCBSM, status_mask=0x08))
    assert cnt["count"] == 11
    ok, lst = call(r, c, api.read_dtc(SF_RDTCBSM, status_mask=0x08))
    assert len(lst["dtcs"]) == 11 and lst["dtcs"][0].code == 0x010100
    assert lst["dtcs"][0].confirmedDTC and "testFailed" in lst["dtcs"][0].bits
    ok, snap = call(r, c, api.read_dtc(SF_RDTCSSBDTC, dtc=0x010100, record=1))
    assert snap["dtc"].snapshots == [(1, {0x0100: 2400 * 4, 0x0101: 95 + 40})]
    ok, ext = call(r, c, api.read_dtc(SF_RDTCEDRBDN, dtc=0x010100, record=1))
    assert ext["dtc"].extended == [(1, b"\x03")]
    assert call(r, c, api.clear_dtc()) == (OK, True)
    ok, cnt = call(r, c, api.read_dtc(SF_RNODTCBSM, status_mask=0x08))
    assert cnt["count"] == 0
    ok, rt = call(r, c, api.start_routine(0x0201))
    assert rt.rid == 0x0201 and rt.sf == 1
    assert call(r, c, api.communication_control(CC_ENABLE_RX_DISABLE_TX, COMM_NORMAL)) == (OK, 1)
    assert call(r, c, api.control_dtc_setting(False)) == (OK, 2)
    assert call(r, c, api.tester_present()) == (OK, 0)
    ok, roe = call(r, c, api.response_on_event(ET_DID_CHANGE, EWT_INFINITE, b"\x01\x00",
                                               b"\x22\x01\x00"))
    assert ok == OK or ok == A_NEGATIVE_RESPONSE
    assert call(r, c, api.read_data(0x1234)) == (A_NEGATIVE_RESPONSE, 0x31)
    assert nrc_name(c.nrc) == "ROOR" and api.describe_nrc(c.nrc) == "0x31 ROOR"
    # programming: 10 02, 27 03/04, 34 / 36 / 37, 35 / 36 / 37, 11 01
    assert call(r, c, api.session_control(2))[0] == OK
    seed = call(r, c, api.request_seed(3))[1]
    key = api.key_function("diagbridge1", b"EngineProg03")(3, seed)
    assert call(r, c, api.send_key(3, key))[0] == OK
    assert call(r, c, api.erase_memory(0x10000, 0x1000))[0] == OK
    assert call(r, c, api.request_download(0x10000, 8)) == (OK, 0x802)
    assert call(r, c, api.transfer_data(1, b"ABCDEFGH")) == (OK, (1, b""))
    assert call(r, c, api.transfer_exit()) == (OK, b"")
    assert call(r, c, api.request_upload(0x10000, 8)) == (OK, 0x802)
    assert call(r, c, api.transfer_data(1)) == (OK, (1, b"ABCDEFGH"))
    assert call(r, c, api.transfer_exit()) == (OK, b"")
    assert call(r, c, api.ecu_reset(1)) == (OK, (1, None))
    assert c.session == 1 and r.ecus[0].resets == 1
    assert c.unexpected == 0


def test_p2_expiry_is_exact_against_a_silent_ecu():
    c = UdsClient(UdsClientConfig(p2_client_ms=150))
    r = Rig([c], [lambda now, req: []])
    r.go(c, b"\x22\xf1\x90")
    t = r.run_until_done(c)
    sf = b"\x03\x22\xf1\x90" + b"\xcc" * 4
    assert c.result == A_TIMEOUT_P2 and t == _wire_us(sf, 0x7E0) + 150000


def test_pending_chain_from_our_server_during_a_long_erase():
    c = UdsClient()
    r = Rig([c], [engine_server()])
    call(r, c, api.session_control(2))
    seed = call(r, c, api.request_seed(3))[1]
    call(r, c, api.send_key(3, api.key_function("diagbridge1", b"EngineProg03")(3, seed)))
    mark = len(r.log)
    r.go(c, api.erase_memory(0x10000, 0x100000))        # 1024 KiB x 100 us: 102.4 ms
    t_end = r.run_until_done(c)
    evs = [(t, ev) for t, ev, w in r.log[mark:] if w is c]
    assert c.result == OK and c.pending == 1
    pend = [t for t, ev in evs if ev == EV_PENDING]
    # the server answers 0x78 10 ms before its P2 (50 ms); the erase ends 102.4 ms
    # after the request: the final answer comes 62.4 ms (plus frame times) later
    assert 62400 < t_end - pend[0] < 63400


def test_keepalive_cadence_on_the_wire():
    rec = Recorder()
    c = UdsClient()
    srv = engine_server()
    r = Rig([c], [srv], recorder=rec)
    call(r, c, api.session_control(3))
    t0 = r.k.elapsed_us
    r.k.run_for(11000000)
    tp = [x[0] for x in rec.records if x[4] == "tester" and bytes(x[6][0:3]) == b"\x02\x3e\x80"]
    wire = _wire_us(b"\x02\x3e\x80" + b"\xcc" * 5, 0x7E0)
    assert len(tp) == 5
    # every 2000 ms after the session answer (frame end = start + wire time)
    assert [t - wire for t in tp] == [t0 + 2000000 * (i + 1) for i in range(5)]
    assert srv.session == 3                             # S3 (5 s) never ran out


def _answers(*items):
    def script(now, req):
        return [(d, bytes.fromhex(h)) for d, h in items]
    return script


def test_misbehaving_responders():
    # late answer: after P2 the request is over; the answer is reported
    c = UdsClient(UdsClientConfig(p2_client_ms=100))
    r = Rig([c], [_answers((200000, "62 F1 90 41"))])
    r.go(c, b"\x22\xf1\x90")
    r.run_until_done(c)
    assert c.result == A_TIMEOUT_P2
    r.k.run_for(300000)
    assert c.unexpected == 1 and r.events(c)[-1][1] == EV_UNEXPECTED
    # wrong SID, then the answer to another request, then the right one
    c = UdsClient()
    r = Rig([c], [_answers((1000, "50 03 00 32 01 F4"), (2000, "62 F1 91 41"),
                           (3000, "62 F1 90 42"))])
    r.go(c, b"\x22\xf1\x90")
    r.run_until_done(c)
    assert c.result == OK and bytes(c.payload[0:c.length]) == b"\x62\xf1\x90\x42"
    assert c.unexpected == 2
    # 0x78 forever: bounded by the limit
    c = UdsClient(UdsClientConfig(max_pending=10))
    r = Rig([c], [_answers(*[(40000 * (i + 1), "7F 31 78") for i in range(50)])])
    r.go(c, b"\x31\x01\x02\x01")
    r.run_until_done(c)
    assert c.result == A_PENDING_LIMIT and c.pending == 11
    # truncated
    c = UdsClient()
    r = Rig([c], [_answers((1000, "71 01"))])
    r.go(c, b"\x31\x01\x02\x01")
    r.run_until_done(c)
    assert c.result == A_MALFORMED_RESPONSE
    # a flood of answers: the first one counts, the rest are reported
    c = UdsClient()
    r = Rig([c], [_answers(*[(1000 + i, "7E 00") for i in range(30)])])
    r.go(c, b"\x3e\x00")
    r.run_until_done(c)
    assert c.result == OK
    r.k.run_for(200000)
    assert c.unexpected == 29
