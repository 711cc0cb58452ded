# KWP2000 over the K-Line in virtual time: fast init then requests with the
# data link's exact timing, 0x78 with P2*, the session and security machinery
# shared with UDS ending with the link (P3max = KWP's S3), the tachograph
# vectors V20-V27 and T17 of kline-digest.md (10, 11) byte for byte, the
# response-code translation, bad profiles and misuse, and a request/response
# cycle that allocates nothing.
#
# Times are elapsed microseconds of the kernel; a byte's record time is the
# end of its stop bit (961.5 us per byte at 10400 baud).
from diagbridge.codes import OK, A_NEGATIVE_RESPONSE, K_TIMEOUT_P3MAX
from diagbridge.errors import ConfigError, UsageError
from diagbridge.kline import EV_STOPPED as L_STOPPED
from diagbridge.kwp import api
from diagbridge.kwp import client as C
from diagbridge.kwp.client import KwpClient
from diagbridge.kwp.ecu import KwpEcu
from diagbridge.kwp.nrc import kwp_rc, rc_name
from diagbridge.kwp.profiles import make as make_profile, PROFILES
from diagbridge.kwp.services import SERVICES, specs
from diagbridge.sim.recorder import REC_BYTE
from diagbridge.uds.server.profile import Profile
from diagbridge.uds.server.profiles import engine as uds_engine
from kwp_support import KwpBench, hexs, frame, unlock, engine_profile, vu_profile
from support import raises

BYTE = 962
NEG = A_NEGATIVE_RESPONSE


def _bench(**kw):
    b = KwpBench(**kw)
    b.init()
    return b


# ---- fast init, then requests -------------------------------------------------------
def test_fast_init_then_read_local_id_exact_timing():
    b = KwpBench()
    b.init()
    ecu_frames = b.frames_from("kwp_engine")
    assert ecu_frames[0][1] == frame("80 F1 10 03 C1 EA 8F")    # key bytes EA 8F
    assert (b.client.kb1, b.client.kb2, b.client.keyword) == (0xEA, 0x8F, 2026)
    t0 = b.t()
    b.state.rpm = 850
    assert b.ask("21 01") == (OK, 0, hexs("61 01 03 52"))
    req = [f for f in b.frames_from("tester", t0)][0]
    assert req[1] == frame("80 10 F1 02 21 01")
    rsp = b.frames_from("kwp_engine", t0)[0]
    assert rsp[1] == frame("80 F1 10 04 61 01 03 52")
    # the answer's first start bit is P2 = 25 ms (p2_ecu_us) after the request's end
    first_rsp_end = rsp[0] - 8 * BYTE
    assert first_rsp_end - BYTE - req[0] == 25000
    # the request started at least P3min = 55 ms after the previous answer ended
    first_req_end = [r[0] for r in b.rec.of(kind=REC_BYTE) if r[4] == "tester" and r[0] > t0][0]
    assert first_req_end - BYTE - ecu_frames[0][0] >= 55000
    assert b.ecu.link.initialised and b.srv.session == 0x81


def test_functional_request_to_group_0x33():
    b = KwpBench()
    b.client.start(b.k.now, 0x33, functional=True)
    b.kick()
    b.k.run_until(lambda: b.client.ready(), 2000000)
    assert b.ecu.link.initialised
    r = b.ask("1A 97")
    assert r == (OK, 0, hexs("5A 97") + b"M2.1")
    assert b.frames_from("tester")[-1][1][0] == 0xC0            # functional header


# ---- 0x78 with P2* -------------------------------------------------------------------------
def test_v17_t09_routine_pending_0x78_within_p2_then_final_within_p2_star():
    b = _bench()
    unlock(b, "10 85")
    t0 = b.t()
    r = b.ask("31 02 44 00 01 00 00 00 00 00 10")
    assert r[0] == OK and r[2][:2] == hexs("71 02") and len(r[2]) == 4
    fr = b.frames_from("kwp_engine", t0)
    req_end = b.frames_from("tester", t0)[0][0]
    assert fr[0][1] == frame("80 F1 10 03 7F 31 78")
    first = fr[0][0] - 7 * BYTE                 # end of the 78's first byte
    # the 0x78 goes P2 - 10 ms = 40 ms after the request (inside P2max = 50 ms)
    assert first - BYTE - req_end == 40000
    # the checksum takes 300 ms: the final answer starts then (inside P2* = 5000 ms)
    final_first = fr[1][0] - 8 * BYTE
    assert final_first - BYTE - req_end == 300000
    assert len(fr) == 2 and b.client.pending == 1
    crc = api.decode(api.start_routine(0x02), r[2], len(r[2]))
    assert len(crc) == 2
    # the tester sent nothing between its request and the final answer
    assert [f for f in b.frames_from("tester", t0) if req_end < f[0] < fr[1][0]] == []


def test_t17_send_key_with_repeated_0x78_each_within_p2_star():
    b = KwpBench(profiles=(vu_profile(verify_ms=12000),))
    b.init(0xEE)
    t0 = b.t()
    r = b.ask("27 7E 01 02 03 04")
    assert r == (OK, 0, hexs("67 7E"))
    fr = b.frames_from("tacho_vu", t0)
    req_end = b.frames_from("tester", t0)[0][0]
    pend = [f for f in fr if f[1] == hexs("80 F1 EE 03 7F 27 78 80")]
    assert len(pend) == 3 and fr[-1][1] == hexs("80 F1 EE 02 67 7E 46")
    starts = [f[0] - len(f[1]) * BYTE for f in fr]
    ends = [req_end] + [f[0] for f in fr]
    gaps = [starts[i] - ends[i] for i in range(len(fr))]
    assert gaps[0] == 40000                                # first 0x78 inside P2
    assert all(25000 <= g <= 5000000 for g in gaps[1:])    # each inside P2* = P3max
    assert starts[-1] - req_end == 12000000                # the PIN check took 12 s
    assert starts[-1] - req_end <= 300000000               # T17: at most 5 minutes
    assert b.client.pending == 3 and b.srv.level == 0x7D


# ---- the session machinery shared with UDS, ended by P3max -------------------------------
def test_p3max_ends_the_session_and_relocks_security():
    b = _bench()
    unlock(b)
    assert (b.srv.session, b.srv.level) == (0x86, 0x01)
    b.run(5200000)                                         # no request for P3max
    assert b.node.events[-1][1:3] == (L_STOPPED, K_TIMEOUT_P3MAX)
    assert b.events()[-1] == C.EV_STOPPED and b.client.result == K_TIMEOUT_P3MAX
    assert (b.srv.session, b.srv.level) == (0x81, 0)
    b.init()
    r = b.ask("27 01")
    assert (r[0], r[1]) == (NEG, 0x80)                     # standard session again


def test_keepalive_tester_present_keeps_the_session():
    b = _bench(keepalive_ms=2000)
    unlock(b)
    b.run(12000000)
    assert (b.srv.session, b.srv.level) == (0x86, 0x01)
    tps = [f for f in b.frames_from("tester") if f[1] == frame("80 10 F1 02 3E 01")]
    assert len(tps) >= 4
    assert b.ask("21 10")[0] == OK                          # a request after the keep-alives


def test_request_during_keepalive_waits_for_it():
    b = _bench(keepalive_ms=1000)
    b.k.run_until(lambda: b.client.state == C.S_KEEPALIVE, 3000000)
    b.client.request(b.k.now, hexs("21 02"), 2)
    b.kick()
    b.k.run_until(lambda: C.EV_DONE in b.events(), 3000000)
    assert bytes(b.client.response[0:b.client.length])[:2] == hexs("61 02")


def test_reinit_returns_to_the_standard_session():
    from kline_support import Raw
    b = _bench()
    unlock(b)
    assert (b.srv.session, b.srv.level) == (0x86, 0x01)
    raw = Raw(b, "tester2")             # a second tester re-initialises the live link
    at = b.t() + 100000
    raw.wup_and_send(at, frame("81 10 F1 81"))
    b.run(300000)
    assert [h[1] for h in raw.heard if h[0] > at + 60000][-8:] == list(frame("80 F1 10 03 C1 EA 8F"))
    assert (b.srv.session, b.srv.level) == (0x81, 0)


def test_stop_communication_ends_the_session():
    b = _bench()
    assert b.ask("10 86")[0] == OK
    b.k.run_until(lambda: b.client.ready(), 1000000)
    b.client.stop(b.k.now)
    b.kick()
    b.k.run_until(lambda: C.EV_STOPPED in b.events(), 2000000)
    assert b.client.result == OK and not b.ecu.link.initialised
    assert b.srv.session == 0x81


def test_periodic_session_switches_the_link_and_stop_session_ends_it():
    b = _bench()
    b.client.set_periodic(True)
    r = b.ask("10 82")
    assert r == (OK, 0, hexs("50 82"))
    assert b.ecu.link.periodic and b.srv.session == 0x82
    t0 = b.t()
    b.run(300000)
    reps = [f for f in b.frames_from("kwp_engine", t0) if f[1] == frame("80 F1 10 02 50 82")]
    assert len(reps) >= 3                                   # repeated every P2
    gaps = [reps[i + 1][0] - 7 * BYTE - reps[i][0] for i in range(len(reps) - 1)]
    assert all(25000 <= g <= 50000 for g in gaps), gaps
    t1 = b.t()
    r = b.ask("20")                                         # stopDiagnosticSession in P3*
    assert r == (OK, 0, hexs("60"))
    b.run(300000)
    stops = [f for f in b.frames_from("kwp_engine", t1) if f[1] == frame("80 F1 10 01 60")]
    assert len(stops) == 1                                  # the stop answer goes once
    assert not b.ecu.link.periodic and b.srv.session == 0x81


# ---- tachograph vectors V20-V27 (kline-digest 10) -------------------------------------------
def _vu(card=True, **pin):
    b = KwpBench(profiles=(vu_profile(card=card, **pin),))
    b.init(0xEE)
    return b


def _last_vu(b, t0):
    return [f[1] for f in b.frames_from("tacho_vu", t0)]


def test_v20_v21_v22_start_diagnostic_session_on_the_vu():
    b = _vu()
    for req, want in (("80 EE F1 02 10 81 F2", "80 F1 EE 02 50 81 32"),      # V20
                      ("80 EE F1 02 10 86 F7", "80 F1 EE 03 7F 10 12 03"),   # V21
                      ("80 EE F1 03 10 81 00 F3", "80 F1 EE 03 7F 10 13 04"),  # V22
                      ("80 EE F1 02 10 85 F6", "80 F1 EE 02 50 85 36")):
        t0 = b.t()
        d = hexs(req)
        b.ask(d[4:-1])
        assert b.frames_from("tester", t0)[0][1] == d
        assert _last_vu(b, t0) == [hexs(want)], req


def test_v23_request_seed_in_each_vu_state():
    b = _vu(card=False)                                   # VU-S: no workshop card
    t0 = b.t()
    b.ask("27 7D")
    assert _last_vu(b, t0) == [hexs("80 F1 EE 03 7F 27 22 2A")]
    b.srv.kwp_pin.card = True                             # VU-R: card in, ready for the PIN
    t0 = b.t()
    b.ask("27 7D")
    assert _last_vu(b, t0) == [hexs("80 F1 EE 04 67 7D 12 34 8D")]
    assert b.ask("27 7E 01 02 03 04") == (OK, 0, hexs("67 7E"))          # -> VU-C
    t0 = b.t()
    b.ask("27 7D")
    assert _last_vu(b, t0) == [hexs("80 F1 EE 04 67 7D 00 00 47")]       # seed 0: calibrating


def test_v24_send_key_outcomes():
    b = _vu()
    t0 = b.t()
    assert b.ask("27 7E 01 02 03 04") == (OK, 0, hexs("67 7E"))
    assert _last_vu(b, t0) == [hexs("80 F1 EE 03 7F 27 78 80"), hexs("80 F1 EE 02 67 7E 46")]
    b = _vu(attempts=2)
    t0 = b.t()
    assert b.ask("27 7E 09 09 09 09")[:2] == (NEG, 0x35)                  # wrong PIN
    assert _last_vu(b, t0)[-1] == hexs("80 F1 EE 03 7F 27 35 3D")
    t0 = b.t()
    assert b.ask("27 7E 09 09 09 09")[:2] == (NEG, 0x36)                  # attempts exceeded
    assert _last_vu(b, t0)[-1] == hexs("80 F1 EE 03 7F 27 36 3E")
    b = _vu()
    b.srv.kwp_pin.card_auth_ok = False
    t0 = b.t()
    assert b.ask("27 7E 01 02 03 04")[:2] == (NEG, 0x10)                  # PIN right, card failed
    assert _last_vu(b, t0)[-1] == hexs("80 F1 EE 03 7F 27 10 18")
    assert b.srv.level == 0


def test_v25_v26_v27_refusals():
    b = _vu()
    for req, want in (("80 EE F1 05 27 7E 01 02 03 0F", "80 F1 EE 03 7F 27 13 1B"),   # V25
                      ("80 EE F1 02 27 01 89", "80 F1 EE 03 7F 27 12 1A")):          # V26
        t0 = b.t()
        d = hexs(req)
        b.ask(d[4:-1])
        assert b.frames_from("tester", t0)[0][1] == d
        assert _last_vu(b, t0) == [hexs(want)], req
    b = _vu(card=False)
    t0 = b.t()
    d = hexs("80 EE F1 06 27 7E 01 02 03 04 14")                          # V27
    b.ask(d[4:-1])
    assert b.frames_from("tester", t0)[0][1] == d
    assert _last_vu(b, t0) == [hexs("80 F1 EE 03 7F 27 22 2A")]


# ---- response codes ----------------------------------------------------------------------------
def test_uds_codes_become_iso_14230_3_codes():
    assert kwp_rc(0x21, 0x13) == 0x12                 # incorrectMessageLength -> invalidFormat
    assert kwp_rc(0x10, 0x13, 0x13) == 0x13           # the tachograph keeps 0x13
    assert kwp_rc(0x31, 0x7F) == 0x80 and kwp_rc(0x10, 0x7E) == 0x80
    assert kwp_rc(0x33, 0x24) == 0x22
    assert kwp_rc(0x34, 0x70) == 0x40 and kwp_rc(0x35, 0x70) == 0x50
    assert kwp_rc(0x36, 0x73) == 0x76 and kwp_rc(0x21, 0x14) == 0x10
    assert kwp_rc(0x21, 0x34) == 0x33 and kwp_rc(0x31, 0x83) == 0x22
    for same in (0x10, 0x11, 0x12, 0x21, 0x22, 0x31, 0x33, 0x35, 0x36, 0x37, 0x71, 0x72, 0x78):
        assert kwp_rc(0x21, same) == same
    assert rc_name(0x80) == "serviceNotSupportedInActiveDiagnosticMode"
    assert rc_name(0x12) == "subFunctionNotSupported-invalidFormat"
    assert rc_name(0x95) == "vehicleManufacturerSpecific" and rc_name(0xFB) == "systemSupplierSpecific"
    assert rc_name(0x13) == "incorrectMessageLength" and rc_name(0xFF) == "reserved"


def test_unknown_service_is_0x11():
    b = _bench()
    assert b.ask("23 00 00")[:2] == (NEG, 0x11)        # readMemoryByAddress: not served


# ---- profiles and misuse ---------------------------------------------------------------------
def test_bad_kwp_profiles_raise_config_error_naming_the_field():
    def prof(**ch):
        return lambda: engine_profile(**ch)

    def err(fn):
        try:
            fn()
        except ConfigError as e:
            return str(e)
        return None
    assert err(prof(protocol="kline")) == "protocol"
    assert err(prof(local_ids={0x100: {"length": 1, "value": b"\x00"}})) == "local_ids"
    assert err(prof(local_ids={0x05: {"length": 2, "value": b"\x00"}})) == "local_ids.0x05.value"
    assert err(prof(ecu_identification={0x90: 5})) == "ecu_identification.0x90"
    assert err(prof(kwp={"length_nrc": 0x14})) == "kwp.length_nrc"
    assert err(prof(sessions={0x81: {}, 0x85: {"from": [0x100]}})) == "sessions.0x85.from"
    assert err(lambda: KwpEcu(engine_profile(modules=["session", "memory"]))) == "modules: memory"
    assert err(lambda: KwpEcu(uds_engine.make())) == "protocol"
    assert err(lambda: vu_profile(pin=b"\x01\x02") and KwpEcu(vu_profile(pin=b"\x01\x02"))) \
        == "pin.pin"
    assert err(lambda: KwpEcu(vu_profile(seed=0))) == "pin.seed"
    # a UDS profile keeps its 0x7E session limit and default session 0x01
    assert err(lambda: Profile({"sessions": {0x81: {}}})) == "sessions"
    assert Profile({}).default_session == 0x01 and engine_profile().default_session == 0x81


def test_tables_load_and_profiles_build():
    for name in SERVICES:
        assert len(specs(name)) >= 1
    for name in PROFILES:
        KwpEcu(make_profile(name))


def test_client_misuse_raises_usage_error():
    c = KwpClient()
    assert raises(UsageError, c.request, 0, b"\x21\x01", 2)      # not initialised
    c.start(0, 0x10)
    assert raises(UsageError, c.start, 0, 0x10)                  # init already running
    assert raises(UsageError, c.request, 0, b"", 0)
    assert raises(ConfigError, KwpClient, None, 6000)            # keep-alive beyond P3max
    assert raises(UsageError, api.read_common, 0x10000)
    assert raises(UsageError, api.request_download, 0x1000000, 1)
    assert raises(UsageError, api.request_seed, 0x02)
    assert raises(UsageError, api.send_key, 0x01, b"\x00")
    assert raises(UsageError, api.read_local, 0x100)


def test_decoders_refuse_answers_that_do_not_fit():
    rq = api.read_local(0x01)
    assert api.decode(rq, hexs("61 01 03 52"), 4) == hexs("03 52")
    assert api.decode(rq, hexs("61 02 03 52"), 4) is None          # another identifier
    assert api.decode(rq, hexs("62 01"), 2) is None
    neg = api.decode(rq, hexs("7F 21 31"), 3)
    assert (neg.sid, neg.rc, neg.name) == (0x21, 0x31, "requestOutOfRange")
    assert api.decode(rq, hexs("7F 22 31"), 3) is None
    assert api.decode(api.read_dtc_by_status(), hexs("58 02 01 15 60"), 5) is None
    assert api.decode(api.request_download(0x10000, 8), hexs("74 81"), 2) == 0x81
    assert api.decode(api.start_session(0x85), hexs("50 85"), 2) == 0x85
    assert api.decode(api.clear_dtc(), hexs("54 FF 00"), 3) == 0xFF00
    assert api.decode(api.ecu_reset(), b"", 0) is None


# ---- allocation ----------------------------------------------------------------------------------
def _step(ctx):
    tester = ctx[0]
    ecu = ctx[1]
    stats = ctx[2]
    t = ctx[3]
    tester.request(t, ctx[4], 2)
    for _ in range(3000):
        b = tester.pop_byte(t)
        if b < 0:
            b = ecu.pop_byte(t)
        if b >= 0:
            t = (t + 962) & 0x1FFFFFFF
            tester.feed_byte(t, b, 0)
            ecu.feed_byte(t, b, 0)
            stats[0] += 1
        else:
            d1 = tester.deadline()
            d2 = ecu.deadline()
            if d1 is None and d2 is None:
                break
            if d1 is None or (d2 is not None and ((d2 - d1 + 0x10000000) & 0x1FFFFFFF) < 0x10000000):
                d1 = d2
            if ((d1 - t + 0x10000000) & 0x1FFFFFFF) - 0x10000000 > 0:
                t = d1
            tester.on_timer(t)
            ecu.on_timer(t)
        ev = tester.poll()
        while ev:
            if ev == C.EV_DONE:
                stats[1] += tester.response[2]
                ctx[3] = t
                return
            ev = tester.poll()
        while ecu.poll():
            pass


def test_request_response_cycle_allocates_nothing():
    from support import run_locked
    b = _bench()
    tester, ecu = b.client, b.ecu
    b.state.coolant_c = 60
    ctx = [tester, ecu, [0, 0], b.k.now, bytearray(b"\x21\x02")]
    _step(ctx)                                  # warm-up: 7 + 8 bytes
    assert ctx[2] == [15, 100]
    for _ in range(3):
        run_locked(lambda: _step(ctx))
    assert ctx[2] == [60, 400]
    assert ecu.link.initialised and ecu.responses >= 4
