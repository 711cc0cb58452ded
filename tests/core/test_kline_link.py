# The K-Line data link, tester and ECU, on the virtual wire in virtual time:
# conformance vectors V1-V17, V19 and timing statements T1-T16 of the
# digest (kline-digest.md 10, 11) as far as the data link covers them, the
# error handling of section 6 for both roles, fast init and 5-baud init with
# exact ticks, collisions on echo, several ECUs on one wire.
#
# Times are elapsed microseconds of the kernel (its ticks start 1 ms before
# the wrap, so every scenario crosses it).  A byte's record time is the end
# of its stop bit; a byte takes 961.5 us at 10400 baud.
from diagbridge.codes import (OK, K_HEADER_ERROR, K_CHECKSUM_ERROR, K_TIMEOUT_P1MAX,
                              K_TIMEOUT_P2MAX, K_TIMEOUT_P3MAX, K_TIMEOUT_P4MAX, K_COLLISION,
                              K_WUP_ERROR, K_P3MIN_VIOLATION, K_UNEXPECTED_MESSAGE,
                              K_KEY_BYTES_ERROR, K_SYNC_ERROR, K_TIMEOUT_W)
from diagbridge.errors import UsageError, ConfigError
from diagbridge.kline import (EcuConfig, EV_KEY_BYTES, EV_SENT,
                              EV_RESPONSE, EV_PENDING, EV_DONE, EV_FAILED, EV_ERROR,
                              EV_STOPPED, EV_INIT, EV_REQUEST, EV_TIMING, LINE_LOW,
                              LINE_HIGH)
from diagbridge.kline import tester as tester_mod, ecu as ecu_mod
from diagbridge.kline.config import TesterConfig as KlTesterConfig
from diagbridge.sim.kline import KL_COLLISION
from kline_support import Bench, Raw, hexs
from support import raises

SC_RSP = hexs("80 F1 11 03 C1 EA 8F BF")
BYTE = 962


def _init(b, target=0x11):
    b.fast_init(target)
    b.run(500000)
    assert b.tester.m.initialised


# ---- fast init -------------------------------------------------------------------
def test_v01_fast_init_exact_ticks():
    b = Bench()
    b.fast_init()
    b.run(600000)
    t = b.tester
    # TIdle 300 ms after power-on, TiniL 25 ms low, StartComm at TWuP = 50 ms
    assert t.lines == [(300000, LINE_LOW, 25000), (325000, LINE_HIGH, 0)]
    assert [w[0] for w in t.writes] == [350000, 355962, 361924, 367886, 373848]  # P4 = 5 ms
    assert b.frames_from("tester") == [(374810, hexs("81 11 F1 81 04"))]
    # the ECU answers P2min = 25 ms after the request's end
    assert b.frames_from("ecu1") == [(399810 + 8 * BYTE, SC_RSP)]      # each byte after its echo
    assert b.bytes_from("ecu1")[0][0] == 374810 + 25000 + BYTE
    end = b.frames_from("ecu1")[0][0]
    kb = t.of(EV_KEY_BYTES)
    assert kb == [(end, EV_KEY_BYTES, OK, 0x11)]
    assert (t.m.kb1, t.m.kb2, t.m.keyword) == (0xEA, 0x8F, 2026)
    # the exchange ends when P2max passes without another response
    assert t.of(EV_DONE) == [(end + 50000 + BYTE + 1, EV_DONE, OK, 0x11)]
    assert b.ecu.of(EV_INIT) == [(end, EV_INIT, OK, 0xF1)]
    assert b.ecu.m.initialised and t.m.initialised


def test_v02_functional_start_communication_two_ecus_arbitrate():
    b = Bench(ecus=(EcuConfig(address=0x11, groups=(0x33,)),
                    EcuConfig(address=0x23, groups=(0x33,))))
    b.fast_init(0x33, functional=True)
    b.run(800000)
    frames = b.frames_from("ecu1") + b.frames_from("ecu2")
    clean = [f for f in frames if f[1] in (SC_RSP, hexs("80 F1 23 03 C1 EA 8F D1"))]
    assert sorted(f[1] for f in clean) == [SC_RSP, hexs("80 F1 23 03 C1 EA 8F D1")]
    peers = sorted(e[3] for e in b.tester.of(EV_KEY_BYTES))
    assert peers == [0x11, 0x23]
    assert b.ecus[0].m.initialised and b.ecus[1].m.initialised
    # each response starts within P2 (25..50 ms) after the end of the previous message
    ends = sorted(clean)
    req_end = b.frames_from("tester")[0][0]
    first_start = ends[0][0] - 8 * BYTE
    assert 25000 <= first_start - req_end <= 50000
    assert b.tester.of(EV_DONE)


def _raw_bench(cfg=None, table=None):
    b = Bench(ecus=(cfg if cfg is not None else EcuConfig(),), table=table)
    return b, Raw(b)


def test_v03_bad_checksum_no_answer_and_wup_rearmed():
    b, raw = _raw_bench()
    raw.wup_and_send(300000, hexs("81 11 F1 81 05"))
    b.run(400000)
    assert b.bytes_from("ecu1") == []
    assert [e[1:3] for e in b.ecu.events] == [(EV_ERROR, K_CHECKSUM_ERROR)]
    raw.wup_and_send(b.t() + 1000, hexs("81 11 F1 81 04"))   # at once: answered
    b.run(400000)
    assert b.frames_from("ecu1")[0][1] == SC_RSP


def test_v04_other_target_no_answer():
    b, raw = _raw_bench()
    raw.wup_and_send(300000, hexs("81 22 F1 81 15"))
    b.run(400000)
    assert b.bytes_from("ecu1") == [] and b.ecu.events == []


def test_v05_start_communication_without_wup_no_answer():
    b, raw = _raw_bench()
    raw.send(300000, hexs("81 11 F1 81 04"), 5000)
    b.run(400000)
    assert b.bytes_from("ecu1") == [] and not b.ecu.m.initialised


def test_v06_length_byte_form_is_a_contents_error_before_init():
    b, raw = _raw_bench()
    raw.wup_and_send(300000, hexs("80 11 F1 01 81 04"))
    b.run(400000)
    assert b.bytes_from("ecu1") == []
    assert [e[1:3] for e in b.ecu.events] == [(EV_ERROR, K_HEADER_ERROR)]


def test_t07_wup_outside_tolerance_gets_no_answer():
    for low, twup, answered in ((23000, 50000, False), (24000, 50000, True),
                                (26000, 50000, True), (27000, 50000, False),
                                (25000, 48000, False), (25000, 49000, True),
                                (25000, 51000, True), (25000, 52500, False)):
        b, raw = _raw_bench()
        raw.wup_and_send(300000, hexs("81 11 F1 81 04"), twup_us=twup, low_us=low)
        b.run(500000)
        got = b.frames_from("ecu1")
        assert (got != []) == answered, (low, twup)
        if not answered:
            assert (EV_ERROR, K_WUP_ERROR) in [e[1:3] for e in b.ecu.events]


def test_t08_tester_init_without_answer_fails_and_waits_p3min():
    b = Bench(ecus=())
    b.fast_init()
    t = b.tester
    assert b.k.run_until(lambda: t.of(EV_FAILED), 600000)
    req_end = b.frames_from("tester")[0][0]
    assert t.of(EV_FAILED) == [(req_end + 50000 + BYTE + 1, EV_FAILED, K_TIMEOUT_P2MAX, 0x11)]
    fail_at = t.of(EV_FAILED)[0][0]
    b.fast_init()
    b.run(600000)
    assert t.lines[2] == (fail_at + 55000, LINE_LOW, 25000)   # the next WuP P3min later


def test_t08_tester_ignores_bad_key_bytes_and_a_corrupt_response():
    b, raw = _raw_bench()
    b.ecus[0].mute = True
    # the raw port answers for 11: first with bad key byte parity, then a bad CS, in P2 windows
    b.fast_init()
    req_end = 300000 + 50000 + 4 * (BYTE + 5000) + BYTE
    e1 = raw.send(req_end + 25000, hexs("80 F1 11 03 C1 6A 8F 3F"))
    e2 = raw.send(e1 + 30000, hexs("80 F1 11 03 C1 EA 8F BE"))
    b.run(700000)
    res = [e[1:3] for e in b.tester.events]
    assert res == [(EV_ERROR, K_KEY_BYTES_ERROR), (EV_ERROR, K_CHECKSUM_ERROR),
                   (EV_FAILED, K_CHECKSUM_ERROR)]
    assert b.tester.events[-1][0] == e2 + 50000 + BYTE + 1
    assert not b.tester.m.initialised


# ---- after init: requests, responses, timing ----------------------------------
def test_t01_t04_request_response_cycle_exact():
    b = Bench(table={0x21: [hexs("61 01 AA BB")]})
    _init(b)
    t0 = b.t()
    b.request(hexs("21 01"))
    assert b.k.run_until(lambda: b.tester.of(EV_RESPONSE), 300000)
    req = b.frames_from("tester", t0)
    rsp = b.frames_from("ecu1", t0)
    assert req == [(req[0][0], hexs("80 11 F1 02 21 01 A6"))]
    assert rsp == [(rsp[0][0], hexs("80 F1 11 04 61 01 AA BB 4D"))]
    # T1: response starts 25 ms after the request's end
    assert rsp[0][0] - 9 * BYTE - req[0][0] == 25000     # 9 bytes, each after its echo
    assert b.tester.m.p2_us in (24999, 25000, 25001)
    r = b.tester.of(EV_RESPONSE)[-1]
    assert r[0] == rsp[0][0] and r[3] == 0x11
    m = b.tester.m
    assert bytes(m.payload[m.data_off:m.data_off + m.data_len]) == hexs("61 01 AA BB")
    # T4: a request asked for as soon as the exchange is over goes P3min after the response
    assert b.k.run_until(lambda: len(b.tester.of(EV_DONE)) == 2, 300000)
    b.request(hexs("21 01"))
    b.run(300000)
    req2 = b.frames_from("tester", rsp[0][0])[0]
    first = b.bytes_from("tester", rsp[0][0])[0][0]
    assert first - BYTE == rsp[0][0] + 55000 or first - BYTE + 1 == rsp[0][0] + 55000
    assert req2[1] == hexs("80 11 F1 02 21 01 A6")


def test_v07_atp_read_current_values():
    b = Bench()
    _init(b)
    t0 = b.t()
    b.request(hexs("83 02"))
    b.run(200000)
    assert b.frames_from("tester", t0)[0][1] == hexs("80 11 F1 02 83 02 09")
    assert b.frames_from("ecu1", t0)[0][1] == hexs("80 F1 11 07 C3 02 32 02 6E 14 0A 0E")


def test_v08_t10_atp_set_values_take_effect_after_the_response():
    b = Bench()
    _init(b)
    t0 = b.t()
    b.request(hexs("83 03 32 04 DC 14 0A"))
    b.run(200000)
    assert b.frames_from("tester", t0)[0][1] == hexs("80 11 F1 07 83 03 32 04 DC 14 0A 3F")
    rsp = b.frames_from("ecu1", t0)[0]
    assert rsp[1] == hexs("80 F1 11 02 C3 03 4A")
    assert b.ecu.of(EV_TIMING) == [(rsp[0], EV_TIMING, OK, 0xF1)]
    for m in (b.ecu.m, b.tester.m):
        assert (m.timing.p2max_us, m.timing.p3min_us) == (100000, 110000)
    # the tester's P2 window after the C3 response is already the new P2max (100 ms)
    assert b.tester.of(EV_DONE)[-1][0] == rsp[0] + 100000 + BYTE + 1
    t1 = b.t()
    b.request(hexs("83 02"))
    b.run(400000)
    rsp2 = b.frames_from("ecu1", t1)[0]
    assert rsp2[1] == hexs("80 F1 11 07 C3 02 32 04 DC 14 0A 7E")
    # the tester waits the new P3min (110 ms)
    first = b.bytes_from("tester", t1)[0][0]
    assert first - BYTE in (t1, rsp[0] + 110000 - 1, rsp[0] + 110000) or first - BYTE >= rsp[0] + 110000 - 1


def test_t10_ecu_uses_the_new_p3min_right_after_the_c3_response():
    b, raw = _raw_bench()
    _init_raw(b, raw)
    e = raw.send(b.t() + 60000, hexs("80 11 F1 07 83 03 32 04 DC 14 0A 3F"), 5000)
    b.run(200000)
    c3 = b.frames_from("ecu1", e)[0]
    assert c3[1] == hexs("80 F1 11 02 C3 03 4A")
    # 80 ms later: fine under the old P3min (55), too early for the new one (110)
    raw.send(c3[0] + 80000, hexs("80 11 F1 02 83 02 09"), 5000)
    b.run(300000)
    assert b.frames_from("ecu1", c3[0] + 1) == []
    assert (EV_ERROR, K_P3MIN_VIOLATION) in [x[1:3] for x in b.ecu.events]


def _init_raw(b, raw):
    end = raw.wup_and_send(300000, hexs("81 11 F1 81 04"))
    b.run(450000)
    assert b.ecu.m.initialised and b.frames_from("ecu1")[0][1] == SC_RSP
    return end


def test_v09_atp_set_defaults():
    b = Bench()
    _init(b)
    b.request(hexs("83 03 32 04 DC 14 0A"))
    b.run(300000)
    t0 = b.t()
    b.request(hexs("83 01"))
    b.run(300000)
    assert b.frames_from("tester", t0)[0][1] == hexs("80 11 F1 02 83 01 08")
    assert b.frames_from("ecu1", t0)[0][1] == hexs("80 F1 11 02 C3 01 48")
    for m in (b.ecu.m, b.tester.m):
        assert (m.timing.p2max_us, m.timing.p3min_us) == (50000, 55000)


def test_v10_atp_refused_timing_unchanged_link_kept():
    b = Bench(ecus=(EcuConfig(atp_allowed=False),))
    _init(b)
    t0 = b.t()
    b.request(hexs("83 03 32 04 DC 14 0A"))
    b.run(300000)
    assert b.frames_from("ecu1", t0)[0][1] == hexs("80 F1 11 03 7F 83 10 97")
    assert b.ecu.m.timing.p2max_us == 50000 and b.tester.m.timing.p2max_us == 50000
    assert b.ecu.m.initialised and b.tester.of(EV_DONE)


def test_atp_bad_values_and_formats_get_the_standards_response_codes():
    b = Bench()
    _init(b)
    cases = (("83 03 32 04 64 14 0A", "7F 83 31"),      # P3min <= P2max
             ("83 03 32 00 DC 14 0A", "7F 83 12"),      # P2max 0x00 undefined
             ("83 03 32 04", "7F 83 12"),               # too short
             ("83 07", "7F 83 12"),                     # unknown TPI
             ("83", "7F 83 12"))
    for req, want in cases:
        t0 = b.t()
        b.request(hexs(req))
        b.run(300000)
        got = b.frames_from("ecu1", t0)[0][1]
        assert got[4:4 + 3] == hexs(want), req
    assert b.ecu.m.timing.p3min_us == 55000


def test_atp_read_limits():
    b = Bench()
    _init(b)
    t0 = b.t()
    b.request(hexs("83 00"))
    b.run(300000)
    assert b.frames_from("tester", t0)[0][1] == hexs("80 11 F1 02 83 00 07")
    assert b.frames_from("ecu1", t0)[0][1] == hexs("80 F1 11 07 C3 00 00 FF 00 FF 00 4A")


def test_v11_t16_stop_communication_then_idle_55_ms_before_the_next_wup():
    b = Bench()
    _init(b)
    t0 = b.t()
    b.request(hexs("82"))
    assert b.k.run_until(lambda: b.tester.of(EV_STOPPED), 300000)
    assert b.frames_from("tester", t0)[0][1] == hexs("80 11 F1 01 82 05")
    rsp = b.frames_from("ecu1", t0)[0]
    assert rsp[1] == hexs("80 F1 11 01 C2 45")
    assert b.ecu.of(EV_STOPPED) == [(rsp[0], EV_STOPPED, OK, 0xF1)]
    assert not b.ecu.m.initialised
    st = b.tester.of(EV_STOPPED)
    assert st == [(rsp[0] + 50000 + BYTE + 1, EV_STOPPED, OK, 0x11)]
    assert not b.tester.m.initialised
    # T16: the next WuP is asked for at once; it goes 55 ms after the C2 response
    b.fast_init()
    b.run(300000)
    assert b.tester.lines[-2] == (rsp[0] + 55000, LINE_LOW, 25000)
    assert b.ecu.m.initialised


def test_v12_stop_not_possible_stays_initialised():
    b = Bench(ecus=(EcuConfig(stop_allowed=False),))
    _init(b)
    t0 = b.t()
    b.request(hexs("82"))
    b.run(300000)
    assert b.frames_from("ecu1", t0)[0][1] == hexs("80 F1 11 03 7F 82 10 96")
    assert b.ecu.m.initialised and b.tester.m.initialised
    assert b.tester.of(EV_STOPPED) == []


def test_v13_length_in_format_byte_is_a_header_error_for_the_ssf_ecu():
    b, raw = _raw_bench(table={0x21: [hexs("61 01 00")]})
    _init_raw(b, raw)
    t0 = b.t()
    end = raw.send(t0 + 60000, hexs("82 11 F1 21 01 A6"), 5000)
    # a new P3 window opened at the end of the ignored request
    raw.send(end + 55000, hexs("80 11 F1 02 21 01 A6"), 5000)
    b.run(120000)
    assert b.frames_from("ecu1", t0) == []
    assert [e[1:3] for e in b.ecu.events if e[0] > t0] == [(EV_ERROR, K_HEADER_ERROR)]
    b.run(200000)
    assert b.frames_from("ecu1", end)[0][1] == hexs("80 F1 11 03 61 01 00 E7")


def test_ecu_with_e9_key_bytes_takes_the_format_byte_length():
    b = Bench(ecus=(EcuConfig(kb1=0xE9),), table={0x21: [hexs("61 01 00")]})
    _init(b)
    assert b.frames_from("ecu1")[0][1] == hexs("83 F1 11 C1 E9 8F BE")
    assert b.tester.m.keyword == 2025
    t0 = b.t()
    b.request(hexs("21 01"))
    b.run(300000)
    assert b.frames_from("tester", t0)[0][1] == hexs("82 11 F1 21 01 A6")
    assert b.frames_from("ecu1", t0)[0][1] == hexs("83 F1 11 61 01 00 E7")


def test_v14_t14_bad_checksum_ignored_tester_repeats_three_transmissions_in_all():
    b = Bench()
    _init(b)
    b.ecus[0].mute = True       # the ECU hears nothing it answers: no response at all
    t0 = b.t()
    b.request(hexs("21 01"))
    b.run(1000000)
    reqs = b.frames_from("tester", t0)
    assert [r[1] for r in reqs] == [hexs("80 11 F1 02 21 01 A6")] * 3
    # each repeat in a new P3 window: P3min after the end of the previous request
    starts = [s for s in (b.bytes_from("tester", t0)[i * 7][0] for i in range(3))]
    assert starts[1] - BYTE - reqs[0][0] in (54999, 55000)
    assert starts[2] - BYTE - reqs[1][0] in (54999, 55000)
    res = [e[1:3] for e in b.tester.events if e[0] > t0]
    assert res == [(EV_ERROR, K_TIMEOUT_P2MAX), (EV_ERROR, K_TIMEOUT_P2MAX),
                   (EV_FAILED, K_TIMEOUT_P2MAX)]
    assert b.tester.events[-1][0] == reqs[2][0] + 50000 + BYTE + 1
    assert b.tester.m.tries == 3


def test_v14_ecu_ignores_a_bad_checksum_request():
    b, raw = _raw_bench(table={0x21: [hexs("61 01 00")]})
    _init_raw(b, raw)
    t0 = b.t()
    raw.send(t0 + 60000, hexs("80 11 F1 02 21 01 A7"), 5000)
    b.run(200000)
    assert b.frames_from("ecu1", t0) == []
    assert [e[1:3] for e in b.ecu.events if e[0] > t0] == [(EV_ERROR, K_CHECKSUM_ERROR)]


def test_v15_foreign_target_silent_p3_window_restarted():
    b, raw = _raw_bench(table={0x21: [hexs("61 01 00")]})
    _init_raw(b, raw)
    t0 = b.t()
    end = raw.send(t0 + 60000, hexs("80 22 F1 02 21 01 B7"), 5000)
    # 30 ms after the foreign request: inside the new P3 window's P3min -> ignored
    raw.send(end + 30000, hexs("80 11 F1 02 21 01 A6"), 5000)
    b.run(300000)
    assert b.frames_from("ecu1", t0) == []
    assert [e[1:3] for e in b.ecu.events if e[0] > t0] == [(EV_ERROR, K_P3MIN_VIOLATION)]


def test_v16_reinit_restores_defaults():
    b = Bench()
    _init(b)
    b.request(hexs("83 03 32 04 DC 14 0A"))
    b.run(300000)
    assert b.ecu.m.timing.p2max_us == 100000
    t0 = b.t()
    b.fast_init()
    b.run(400000)
    assert b.frames_from("ecu1", t0)[0][1] == SC_RSP
    assert b.ecu.m.timing.p2max_us == 50000 and b.tester.m.timing.p2max_us == 50000
    # the WuP went inside the P3 window, at least the new P3min (110 ms) after the C3 response
    assert b.tester.lines[-2][0] >= t0


def test_v17_t09_response_pending_p2_star_no_repeat():
    table = {0x21: [hexs("7F 21 78"), hexs("7F 21 78"), hexs("61 01 42")]}
    b = Bench(table=table)
    _init(b)
    b.apps[0].later_us = 1000000      # every further answer one second after the previous one
    t0 = b.t()
    b.request(hexs("21 01"))
    b.run(6000000)
    rsp = b.frames_from("ecu1", t0)
    assert [r[1] for r in rsp] == [hexs("80 F1 11 03 7F 21 78 9D")] * 2 + [
        hexs("80 F1 11 03 61 01 42 29")]
    assert len(b.frames_from("tester", t0)) == 1      # never repeated
    res = [e[1] for e in b.tester.events if e[0] > t0]
    assert res == [EV_PENDING, EV_PENDING, EV_RESPONSE, EV_DONE]
    # after the final response P2max (50 ms) is back
    assert b.tester.of(EV_DONE)[-1][0] == rsp[2][0] + 50000 + BYTE + 1


def test_t09_pending_then_silence_fails_after_p2_star_max():
    table = {0x21: [hexs("7F 21 78")]}
    b = Bench(table=table)
    _init(b)
    t0 = b.t()
    b.request(hexs("21 01"))
    b.run(7000000)
    rsp = b.frames_from("ecu1", t0)
    assert len(rsp) == 1
    f = b.tester.of(EV_FAILED)
    assert f == [(rsp[0][0] + 5000000 + BYTE + 1, EV_FAILED, K_TIMEOUT_P2MAX, 0x11)]
    assert len(b.frames_from("tester", t0)) == 1


def test_v19_vu_ee_start_communication():
    b = Bench(ecus=(EcuConfig(address=0xEE),))
    b.fast_init(0xEE)
    b.run(500000)
    assert b.frames_from("tester")[0][1] == hexs("81 EE F1 81 E1")
    assert b.frames_from("ecu1")[0][1] == hexs("80 F1 EE 03 C1 EA 8F 9C")


def test_t02_response_gap_over_p1max_is_ignored_and_the_request_repeated():
    b, raw = _raw_bench()
    b.ecus[0].mute = True
    _init_raw_tester(b, raw)
    t0 = b.t()
    b.request(hexs("21 01"))
    assert b.k.run_until(lambda: len(b.bytes_from("tester", t0)) == 7, 100000)
    req_end = b.frames_from("tester", t0)[0][0]
    # a response whose 5th byte comes 21 ms after the 4th
    e = raw.send(req_end + 25000, hexs("80 F1 11 03"))
    raw.send(e + 21000, hexs("61 01 00 E7"))
    b.run(400000)
    res = [x[1:3] for x in b.tester.events if x[0] > t0]
    assert res[0] == (EV_ERROR, K_TIMEOUT_P1MAX)
    assert b.tester.events[[x[0] > t0 for x in b.tester.events].index(True)][0] == e + 20000 + BYTE + 1
    assert len(b.frames_from("tester", t0)) >= 2          # repeated in a new P3 window


def _init_raw_tester(b, raw):
    # the raw port answers the tester's StartCommunication for ECU 11
    b.fast_init()
    req_end = 300000 + 50000 + 4 * (BYTE + 5000) + BYTE
    raw.send(req_end + 25000, SC_RSP)
    b.run(500000)
    assert b.tester.m.initialised


def test_t02_gap_of_exactly_p1max_is_accepted():
    b, raw = _raw_bench()
    b.ecus[0].mute = True
    _init_raw_tester(b, raw)
    t0 = b.t()
    b.request(hexs("21 01"))
    assert b.k.run_until(lambda: len(b.bytes_from("tester", t0)) == 7, 100000)
    req_end = b.frames_from("tester", t0)[0][0]
    e = raw.send(req_end + 25000, hexs("80 F1 11 03"))
    raw.send(e + 20000, hexs("61 01 00 E7"))
    b.run(200000)
    assert [x[1] for x in b.tester.events if x[0] > t0] == [EV_RESPONSE, EV_DONE]


def test_t03_p4max_gap_drops_the_request_and_fast_bytes_are_accepted():
    b, raw = _raw_bench(table={0x21: [hexs("61 01 00")]})
    _init_raw(b, raw)
    t0 = b.t()
    e = raw.send(t0 + 60000, hexs("80 11 F1"), 5000)
    raw.send(e + 21000, hexs("02 21 01 A6"), 5000)       # the rest, 21 ms later
    b.run(300000)
    assert b.frames_from("ecu1", t0) == []
    ev = [x for x in b.ecu.events if x[0] > t0]
    assert ev[0][1:3] == (EV_ERROR, K_TIMEOUT_P4MAX) and ev[0][0] == e + 20000 + BYTE + 1
    # back-to-back bytes (P4 = 0 < P4min) and a 20 ms gap are both fine
    t1 = b.t()
    e = raw.send(t1 + 60000, hexs("80 11 F1"), 0)
    raw.send(e + 20000, hexs("02 21 01 A6"), 0)
    b.run(300000)
    assert b.frames_from("ecu1", t1)[0][1] == hexs("80 F1 11 03 61 01 00 E7")


def test_t05_request_before_p3min_is_ignored():
    b, raw = _raw_bench(table={0x21: [hexs("61 01 00")]})
    _init_raw(b, raw)
    sc_end = b.frames_from("ecu1")[0][0]
    raw.send(sc_end + 54000, hexs("80 11 F1 02 21 01 A6"), 5000)
    b.run(300000)
    assert b.frames_from("ecu1", sc_end + 1) == []
    assert (EV_ERROR, K_P3MIN_VIOLATION) in [x[1:3] for x in b.ecu.events]
    b2, raw2 = _raw_bench(table={0x21: [hexs("61 01 00")]})
    _init_raw(b2, raw2)
    sc_end = b2.frames_from("ecu1")[0][0]
    raw2.send(sc_end + 55000, hexs("80 11 F1 02 21 01 A6"), 5000)
    b2.run(300000)
    assert b2.frames_from("ecu1", sc_end + 1)[0][1] == hexs("80 F1 11 03 61 01 00 E7")


def test_t06_p3max_ends_the_communication_on_both_sides():
    b = Bench(table={0x21: [hexs("61 01 00")]})
    _init(b)
    end = b.frames_from("ecu1")[0][0]
    b.run(6000000)
    assert b.ecu.of(EV_STOPPED) == [(end + 5000000 + BYTE + 1, EV_STOPPED, K_TIMEOUT_P3MAX, 0xF1)]
    assert b.tester.of(EV_STOPPED) == [(end + 5000000, EV_STOPPED, K_TIMEOUT_P3MAX, 0x11)]
    assert not b.ecu.m.initialised and not b.tester.m.initialised
    assert raises(UsageError, b.tester.m.request, b.k.now, 0x11, hexs("21 01"), 2)
    # TIdle after a P3max timeout is 0: the WuP goes at once
    t0 = b.t()
    b.fast_init()
    b.run(300000)
    assert b.tester.lines[-2] == (t0, LINE_LOW, 25000)
    assert b.ecu.m.initialised


def test_t06_request_after_p3max_without_wup_gets_no_answer():
    b, raw = _raw_bench(table={0x21: [hexs("61 01 00")]})
    _init_raw(b, raw)
    end = b.frames_from("ecu1")[0][0]
    raw.send(end + 5002000, hexs("80 11 F1 02 21 01 A6"), 5000)
    b.run(5300000)
    assert b.frames_from("ecu1", end + 1) == []
    # a request starting just inside P3max is answered
    b2, raw2 = _raw_bench(table={0x21: [hexs("61 01 00")]})
    _init_raw(b2, raw2)
    end = b2.frames_from("ecu1")[0][0]
    raw2.send(end + 5000000, hexs("80 11 F1 02 21 01 A6"), 5000)
    b2.run(5300000)
    assert b2.frames_from("ecu1", end + 1)[0][1] == hexs("80 F1 11 03 61 01 00 E7")


def test_t15_multiple_physical_init_ecu1_stays_initialised():
    b = Bench(ecus=(EcuConfig(address=0x11), EcuConfig(address=0x23)),
              table={0x21: [hexs("61 01 00")]})
    _init(b)
    t0 = b.t()
    b.fast_init(0x23)
    b.run(400000)
    assert b.frames_from("tester", t0)[0][1] == hexs("81 23 F1 81 16")
    assert b.frames_from("ecu2", t0)[0][1] == hexs("80 F1 23 03 C1 EA 8F D1")
    assert b.frames_from("ecu1", t0) == []
    assert b.ecus[0].m.initialised and b.ecus[1].m.initialised
    # the WuP went P3min after ECU1's last response
    assert b.tester.lines[-2][0] >= b.frames_from("ecu1")[0][0] + 55000
    for target, want in ((0x11, "80 F1 11 03 61 01 00 E7"), (0x23, "80 F1 23 03 61 01 00 F9")):
        t1 = b.t()
        b.request(hexs("21 01"), target)
        b.run(300000)
        assert b.frames_from("ecu1" if target == 0x11 else "ecu2", t1)[0][1] == hexs(want)


def test_unexpected_source_in_a_physical_exchange_is_ignored():
    b, raw = _raw_bench()
    b.ecus[0].mute = True
    _init_raw_tester(b, raw)
    t0 = b.t()
    b.request(hexs("21 01"))
    assert b.k.run_until(lambda: len(b.bytes_from("tester", t0)) == 7, 100000)
    req_end = b.frames_from("tester", t0)[0][0]
    raw.send(req_end + 25000, hexs("80 F1 22 03 61 01 00 F8"))     # from 22, not 11
    b.run(100000)
    assert [x[1:3] for x in b.tester.events if x[0] > t0][0] == (EV_ERROR, K_UNEXPECTED_MESSAGE)


# ---- echo and collisions -----------------------------------------------------------
def test_collision_on_the_tester_echo_repeats_the_request():
    b = Bench(table={0x21: [hexs("61 01 00")]})
    _init(b)
    jam = Raw(b, "jammer")
    t0 = b.t()
    b.request(hexs("21 01"))        # long after P3min: the first byte goes now
    jam.send(t0 + 300, b"\x00")     # and collides with it
    b.run(600000)
    assert b.bytes_from("tester", t0)[0] == (t0 + BYTE, 0x00, KL_COLLISION)
    res = [x[1:3] for x in b.tester.events if x[0] > t0]
    assert res[0] == (EV_ERROR, K_COLLISION)
    assert (EV_RESPONSE, OK) in res and res[-1] == (EV_DONE, OK)
    assert b.tester.m.tries == 2


def test_ecu_response_collision_is_reported():
    b, raw = _raw_bench(table={0x21: [hexs("61 01 00")]})
    _init_raw(b, raw)
    t0 = b.t()
    end = raw.send(t0 + 60000, hexs("80 11 F1 02 21 01 A6"), 5000)
    raw.send(end + 25000 + 400, b"\x00")       # on top of the ECU's first byte
    b.run(200000)
    assert (EV_ERROR, K_COLLISION) in [x[1:3] for x in b.ecu.events if x[0] > t0]
    assert len(b.bytes_from("ecu1", t0)) == 1   # aborted after the first byte
    assert b.ecu.m.initialised


def test_no_echo_is_a_collision_for_the_tester():
    b = Bench()
    _init(b)
    b.tester.mute = True        # bytes never reach the wire
    t0 = b.t()
    b.request(hexs("21 01"))
    b.run(600000)
    res = [x[1:3] for x in b.tester.events if x[0] > t0]
    assert res == [(EV_ERROR, K_COLLISION)] * 3 + [(EV_FAILED, K_COLLISION)]


# ---- 5-baud init ---------------------------------------------------------------------
def test_five_baud_init_exact_ticks():
    b = Bench(ecus=(EcuConfig(address=0x33, kb1=0xE9),))
    b.tester.m.five_baud_init(b.k.now, 0x33)
    b.tester.kick()
    b.run(3500000)
    t = b.tester
    # W5 = 300 ms idle, then 0x33 LSB first at 200 ms per bit: 0 1100 1100 1
    assert [(x[0], x[1], x[2]) for x in t.lines] == [
        (300000, LINE_LOW, 200000), (500000, LINE_HIGH, 0),
        (900000, LINE_LOW, 400000), (1300000, LINE_HIGH, 0),
        (1700000, LINE_LOW, 400000), (2100000, LINE_HIGH, 0)]
    addr_end = 2300000
    ecu = b.bytes_from("ecu1")
    # 0x55 W1 = 60 ms after the address, KB1 W2 = 5 ms later, KB2 W3 = 0 later
    assert [(x[0], x[1]) for x in ecu[:3]] == [(addr_end + 60000 + BYTE, 0x55),
                                               (addr_end + 60000 + 2 * BYTE + 5000, 0xE9),
                                               (addr_end + 60000 + 3 * BYTE + 5000, 0x8F)]
    kb2_end = ecu[2][0]
    tb = b.bytes_from("tester")
    assert [(x[0], x[1]) for x in tb] == [(kb2_end + 25000 + BYTE, 0x70)]      # ~KB2, W4 = 25 ms
    assert (ecu[3][0], ecu[3][1]) == (tb[0][0] + 25000 + BYTE, 0xCC)           # ~address
    assert t.of(EV_DONE) == [(ecu[3][0], EV_DONE, OK, 0x33)]
    assert (t.m.kb1, t.m.kb2, t.m.keyword) == (0xE9, 0x8F, 2025)
    assert b.ecu.of(EV_INIT)[0][0] == ecu[3][0]
    assert t.m.initialised and b.ecu.m.initialised


def test_five_baud_address_of_another_ecu_gets_no_answer_and_the_tester_fails_after_w1():
    b = Bench(ecus=(EcuConfig(address=0x11),))
    b.tester.m.five_baud_init(b.k.now, 0x33)
    b.tester.kick()
    b.run(3500000)
    assert b.bytes_from("ecu1") == []
    assert b.tester.of(EV_FAILED) == [(2300000 + 300000 + BYTE + 1, EV_FAILED, K_TIMEOUT_W, 0x33)]


def test_five_baud_wrong_inverted_kb2_is_refused_by_the_ecu():
    b, raw = _raw_bench(EcuConfig(address=0x33))
    from diagbridge.sim.kline import five_baud_pulses
    for off, dur in five_baud_pulses(0x33):
        b.k.call_at(300000 + off, lambda now, d: raw.port.drive_low(d), dur)
    assert b.k.run_until(lambda: len(raw.heard) == 3, 2500000)
    kb2_end = raw.heard[2][0]
    raw.send(kb2_end + 30000, b"\x71")         # ~0x8F is 0x70
    b.run(300000)
    assert [x[1] for x in raw.heard[:3]] == [0x55, 0xEA, 0x8F]
    assert len(b.bytes_from("ecu1")) == 3
    assert (EV_ERROR, K_SYNC_ERROR) in [x[1:3] for x in b.ecu.events]
    assert not b.ecu.m.initialised


# ---- misuse, config, tables ------------------------------------------------------------
def test_misuse_raises_usage_error():
    b = Bench()
    m = b.tester.m
    assert raises(UsageError, m.request, b.k.now, 0x11, hexs("21 01"), 2)   # not initialised
    m.fast_init(b.k.now, 0x11)
    assert raises(UsageError, m.fast_init, b.k.now, 0x11)                 # init running
    assert raises(UsageError, m.five_baud_init, b.k.now, 0x33)
    e = b.ecu.m
    assert raises(UsageError, e.respond, b.k.now, hexs("61 01"), 2)        # no request
    b.run(500000)
    assert raises(UsageError, m.request, b.k.now, 0x11, bytes(300), 256)   # too long


def test_bad_config_fields_raise_config_error_naming_them():
    for kw, name in ((dict(address=256), "address"), (dict(kb1=0x6A), "kb1"),
                     (dict(w1_us=10), "w1_us"), (dict(p1_tx_us=30000), "p1_tx_us"),
                     (dict(groups=(300,)), "groups")):
        try:
            EcuConfig(**kw)
            assert False, name
        except ConfigError as ex:
            assert str(ex) == name
    for kw, name in ((dict(p4_tx_us=25000), "p4_tx_us"), (dict(tinil_us=27000), "tinil_us"),
                     (dict(twup_us=48000), "twup_us"), (dict(retries=-1), "retries"),
                     (dict(ssf_only=1), "ssf_only")):
        try:
            KlTesterConfig(**kw)
            assert False, name
        except ConfigError as ex:
            assert str(ex) == name


def _check_table(mod):
    assert len(mod._NEXT) == mod.N_STATES
    for row in mod._NEXT:
        assert len(row) == mod.N_INPUTS
        for cell in row:
            assert cell is None or (0 <= cell[0] < mod.N_STATES and cell[1] >= 0)


def test_transition_tables_cover_every_state_and_input():
    _check_table(tester_mod)
    _check_table(ecu_mod)


def test_every_state_input_pair_never_raises_on_peer_input():
    # Put each machine in each state it can reach and feed every peer input:
    # bytes with and without flags, edges, time.  Nothing may raise.
    for make in (lambda: Bench(table={0x21: [hexs("61 01 00")]}),):
        b = make()
        b.fast_init()
        for step in range(200):
            b.run(1500 + step * 37)
            for node in (b.tester, b.ecu):
                m = node.m
                m.feed_byte(b.k.now, 0x80, 0)
                m.feed_byte(b.k.now, 0x00, 4 | 1)
                m.feed_line(b.k.now, 0)
                m.feed_line(b.k.now, 1)
                m.on_timer(b.k.now)
                node.flush(b.k.now)
        assert b.k.elapsed_us > 0


# ---- the per-byte path allocates nothing ------------------------------------------------
# A hand-run wire (no kernel: its queue allocates): a byte one node pops is
# delivered to both machines 962 us later.  Everything the locked part
# touches lives in one list, so the loop itself creates no objects.
def _pump(ctx):
    tester = ctx[0]
    ecu = ctx[1]
    rsp = ctx[2]
    stats = ctx[3]
    t = ctx[4]
    tester.request(t, 0x11, ctx[5], 2)
    for _ in range(2000):
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
        ev = ecu.poll()
        while ev:
            if ev == EV_REQUEST:
                ecu.respond(t, rsp, 4)
                stats[1] += 1
            ev = ecu.poll()
        ev = tester.poll()
        while ev:
            if ev == EV_RESPONSE:
                stats[2] += tester.payload[tester.data_off + 3]
            elif ev == EV_DONE:
                stats[3] += 1
                ctx[4] = t
                return
            ev = tester.poll()
    ctx[4] = t


def test_request_response_bytes_allocate_nothing():
    from support import run_locked
    b = Bench()
    _init(b)
    # take the two initialised machines off the wire and run them by hand
    tester, ecu = b.tester.m, b.ecu.m
    ctx = [tester, ecu, bytearray(b"\x61\x01\x00\x07"), [0, 0, 0, 0], b.k.now,
           bytearray(b"\x21\x01")]
    _pump(ctx)                                 # warm-up
    assert ctx[3] == [16, 1, 7, 1]             # 7 + 9 bytes, one request, one response
    for _ in range(3):
        run_locked(lambda: _pump(ctx))
    assert ctx[3] == [64, 4, 28, 4]
    assert tester.initialised and ecu.initialised


# ---- functional addressing, arbitration (App. A), several responses --------------------
def test_t13_functional_collision_both_abort_and_retry_with_a_new_p2random():
    # 0x11 and 0x19 draw the same first P2random (40 ms): their first bytes collide
    b = Bench(ecus=(EcuConfig(address=0x11, groups=(0x33,)),
                    EcuConfig(address=0x19, groups=(0x33,))))
    b.fast_init(0x33, functional=True)
    b.run(800000)
    req_end = b.frames_from("tester")[0][0]
    e1 = b.bytes_from("ecu1")
    e2 = b.bytes_from("ecu2")
    hit = req_end + 40000 + BYTE
    assert (e1[0][0], e1[0][2]) == (hit, KL_COLLISION) and (e2[0][0], e2[0][2]) == (hit, KL_COLLISION)
    for node in b.ecus:
        assert node.events[0][1:3] == (EV_ERROR, K_COLLISION)
    # both stop after the collided byte; the end of that message is found by P1max
    # (20 ms); ECU 0x19 draws 34 ms from there, 0x11 waits for it, then goes
    assert b.frames_from("ecu2") == [(hit, hexs("80")), (hit + 34000 + 8 * BYTE,
                                                        hexs("80 F1 19 03 C1 EA 8F C7"))]
    assert b.frames_from("ecu1")[1][1] == SC_RSP
    assert b.frames_from("ecu1")[1][0] > b.frames_from("ecu2")[1][0]
    t = b.tester
    assert [e[1:4] for e in t.events] == [(EV_ERROR, K_TIMEOUT_P1MAX, 0x33),
                                         (EV_KEY_BYTES, OK, 0x19), (EV_KEY_BYTES, OK, 0x11),
                                         (EV_DONE, OK, 0x33)]
    assert t.events[0][0] == hit + 20000 + BYTE + 1
    assert b.ecus[0].m.initialised and b.ecus[1].m.initialised


def test_t13_p2random_is_seeded_by_the_address_spread_and_in_1_ms_steps():
    b = Bench(ecus=(EcuConfig(address=0x11, groups=(0x33,)),), table={0x3E: [hexs("7E")]})
    _init(b)
    gaps = []
    for i in range(25):
        b.rec.clear()                   # keep the trace small (board-sized heap)
        b.tester.events = []
        b.ecu.events = []
        t0 = b.t()
        b.request(hexs("3E"), 0x33, functional=True)
        assert b.k.run_until(lambda: b.tester.events and b.tester.events[-1][1] == EV_DONE,
                             400000)
        req_end = b.frames_from("tester", t0)[0][0]
        rsp_end = b.frames_from("ecu1", t0)[0][0]
        gaps.append(rsp_end - 6 * BYTE - req_end)
    assert all(25000 <= g < 50000 and g % 1000 == 0 for g in gaps)
    assert max(gaps) - min(gaps) >= 20000        # >= 80 % of the P2 range
    # the same address draws the same sequence
    b2 = Bench(ecus=(EcuConfig(address=0x11, groups=(0x33,)),), table={0x3E: [hexs("7E")]})
    _init(b2)
    t0 = b2.t()
    b2.request(hexs("3E"), 0x33, functional=True)
    b2.run(300000)
    assert b2.frames_from("ecu1", t0)[0][0] - 6 * BYTE - b2.frames_from("tester", t0)[0][0] == gaps[0]
    assert b.apps[0].requests[0][2:] == (0xF1, True)      # peer, functional


def test_t11_several_responses_each_within_p2_are_all_delivered():
    b, raw = _raw_bench()
    b.ecus[0].mute = True
    _init_raw_tester(b, raw)
    t0 = b.t()
    b.request(hexs("21 01"))
    assert b.k.run_until(lambda: len(b.bytes_from("tester", t0)) == 7, 100000)
    req_end = b.frames_from("tester", t0)[0][0]
    e1 = raw.send(req_end + 25000, hexs("80 F1 11 03 61 01 01 E8"))
    e2 = raw.send(e1 + 49000, hexs("80 F1 11 03 61 01 02 E9"))
    assert b.k.run_until(lambda: b.tester.of(EV_DONE)[-1][0] > t0, 300000)
    ev = [x for x in b.tester.events if x[0] > t0]
    assert [x[1] for x in ev] == [EV_RESPONSE, EV_RESPONSE, EV_DONE]
    assert [x[0] for x in ev] == [e1, e2, e2 + 50000 + BYTE + 1]
    # the next request waits P3min after the last response
    b.request(hexs("21 01"))
    b.run(200000)
    assert b.bytes_from("tester", e2 + 1)[0][0] - BYTE in (e2 + 55000, e2 + 54999)


def test_five_baud_tester_refuses_a_wrong_sync_byte():
    b, raw = _raw_bench(EcuConfig(address=0x11, five_baud=False))
    b.tester.m.five_baud_init(b.k.now, 0x33)
    b.tester.kick()
    raw.send(2300000 + 100000, b"\x54")
    b.run(3000000)
    assert b.tester.of(EV_FAILED) == [(2400962, EV_FAILED, K_SYNC_ERROR, 0x33)]
    assert not b.tester.m.initialised and b.bytes_from("ecu1") == []


def test_five_baud_tester_refuses_bad_key_bytes_and_a_wrong_inverted_address():
    for kb, inv, want in ((b"\x55\x6A\x8F", None, K_KEY_BYTES_ERROR),
                          (b"\x55\xEA\x8F", 0xCD, K_SYNC_ERROR)):
        b, raw = _raw_bench(EcuConfig(address=0x11, five_baud=False))
        b.tester.m.five_baud_init(b.k.now, 0x33)
        b.tester.kick()
        end = raw.send(2400000, kb, 5000)
        if inv is not None:
            raw.send(end + 25000 + BYTE + 25000, bytes((inv,)))
        b.run(3000000)
        assert [e[1:3] for e in b.tester.events] == [(EV_FAILED, want)]


# ---- section 6: the remaining error cases, both roles ----------------------------------
def _sc_req_end():
    return 300000 + 50000 + 4 * (BYTE + 5000) + BYTE


def test_6_1_1_tester_init_truncated_response_then_a_repeat_in_a_new_p2_window():
    b, raw = _raw_bench()
    b.ecus[0].mute = True
    b.fast_init()
    e = raw.send(_sc_req_end() + 25000, hexs("80 F1 11 03 C1"))
    e2 = raw.send(e + 21000 + 10000, SC_RSP)      # 10 ms after the tester gave up on the first
    b.run(700000)
    t = b.tester
    assert [x[1:3] for x in t.events] == [(EV_ERROR, K_TIMEOUT_P1MAX), (EV_KEY_BYTES, OK),
                                          (EV_DONE, OK)]
    assert t.events[0][0] == e + 20000 + BYTE + 1 and t.events[1][0] == e2
    assert t.m.initialised


def test_6_1_1_tester_init_response_with_wrong_contents_is_ignored():
    b, raw = _raw_bench()
    b.ecus[0].mute = True
    b.fast_init()
    raw.send(_sc_req_end() + 25000, hexs("80 F1 11 03 C2 EA 8F C0"))    # SId C2, not C1
    b.run(700000)
    assert [x[1:3] for x in b.tester.events] == [(EV_ERROR, K_UNEXPECTED_MESSAGE),
                                                (EV_FAILED, K_UNEXPECTED_MESSAGE)]


def test_6_1_2_ecu_p4max_inside_start_communication_no_answer_wup_rearmed():
    b, raw = _raw_bench()
    e = raw.wup_and_send(300000, hexs("81 11 F1"))
    raw.send(e + 21000, hexs("81 04"), 5000)
    raw.wup_and_send(e + 60000, hexs("81 11 F1 81 04"))       # a new WuP at once
    b.run(600000)
    ev = [x[1:3] for x in b.ecu.events]
    assert ev[0] == (EV_ERROR, K_TIMEOUT_P4MAX)
    assert b.ecu.events[0][0] == e + 20000 + BYTE + 1
    assert [f[1] for f in b.frames_from("ecu1")] == [SC_RSP]
    assert b.ecu.m.initialised


def test_6_2_1_checksum_error_in_a_response_repeats_the_request():
    b, raw = _raw_bench()
    b.ecus[0].mute = True
    _init_raw_tester(b, raw)
    t0 = b.t()
    b.request(hexs("21 01"))
    assert b.k.run_until(lambda: len(b.bytes_from("tester", t0)) == 7, 100000)
    req_end = b.frames_from("tester", t0)[0][0]
    raw.send(req_end + 25000, hexs("80 F1 11 03 61 01 00 E6"))         # CS off by one
    assert b.k.run_until(lambda: len(b.bytes_from("tester", t0)) == 14, 300000)
    req2_end = b.frames_from("tester", t0)[1][0]
    raw.send(req2_end + 25000, hexs("80 F1 11 03 61 01 00 E7"))
    b.run(200000)
    ev = [x[1:3] for x in b.tester.events if x[0] > t0]
    assert ev == [(EV_ERROR, K_CHECKSUM_ERROR), (EV_RESPONSE, OK), (EV_DONE, OK)]
    assert b.tester.m.tries == 2


def test_6_2_1_functional_correct_responses_pass_and_a_corrupt_one_is_reported():
    b, raw = _raw_bench(EcuConfig(address=0x11, groups=(0x33,)), table={0x3E: [hexs("7E")]})
    _init(b, 0x11)
    t0 = b.t()
    b.request(hexs("3E"), 0x33, functional=True)
    assert b.k.run_until(lambda: len(b.bytes_from("tester", t0)) == 6, 100000)
    req_end = b.frames_from("tester", t0)[0][0]
    raw.send(req_end + 25000, hexs("80 F1 23 01 7E 00"))                # bad CS from ECU 23
    b.run(300000)
    ev = [x[1:3] for x in b.tester.events if x[0] > t0]
    assert ev == [(EV_ERROR, K_CHECKSUM_ERROR), (EV_RESPONSE, OK), (EV_DONE, OK)]
    assert len(b.frames_from("tester", t0)) == 1                        # not repeated


def test_6_2_2_ecu_response_without_echo_returns_to_normal_operation():
    b = Bench(table={0x21: [hexs("61 01 00")]})
    _init(b)
    b.ecus[0].mute = True          # no pull-up: nothing the ECU sends comes back
    t0 = b.t()
    b.request(hexs("21 01"))
    b.run(300000)
    ev = [x for x in b.ecu.events if x[0] > t0]
    assert ev[0][1:3] == (EV_REQUEST, OK) and ev[1][1:3] == (EV_ERROR, K_COLLISION)
    first = [w for w in b.ecu.writes if w[0] > t0][0]
    assert ev[1][0] - first[0] == 2 * BYTE + 1000                  # the echo deadline
    assert b.ecu.m.initialised
    b.ecus[0].mute = False
    t1 = b.t()
    b.request(hexs("21 01"))
    b.run(300000)
    assert b.frames_from("ecu1", t1)[0][1] == hexs("80 F1 11 03 61 01 00 E7")


def test_ecu_application_that_never_answers_lets_the_request_go_after_p2max():
    b = Bench(table={})
    _init(b)
    t0 = b.t()
    b.request(hexs("21 01"))
    b.run(300000)
    req_end = b.frames_from("tester", t0)[0][0]
    ev = [x for x in b.ecu.events if x[0] > t0]
    assert [x[1:3] for x in ev[:2]] == [(EV_REQUEST, OK), (EV_ERROR, K_TIMEOUT_P2MAX)]
    assert ev[1][0] == req_end + 50000
    assert raises(UsageError, b.ecu.m.respond, b.k.now, hexs("61 01"), 2)
    assert b.ecu.m.initialised


def test_ecu_may_leave_a_functional_request_unanswered_silently():
    b = Bench(ecus=(EcuConfig(address=0x11, groups=(0x33,)),), table={})
    _init(b)
    t0 = b.t()
    b.request(hexs("3E"), 0x33, functional=True)
    b.run(300000)
    # the tester repeats a request nobody answered (each repeat is received), then gives up
    assert [x[1:3] for x in b.ecu.events if x[0] > t0] == [(EV_REQUEST, OK)] * 3
    assert b.ecu.m.initialised
    assert [x[1:3] for x in b.tester.events if x[0] > t0][-1] == (EV_FAILED, K_TIMEOUT_P2MAX)


# ---- periodic transmission mode (section 4.4.2, Table 1d) ------------------------------
def _periodic_app(node, now, ev):
    if ev != EV_REQUEST:
        return
    m = node.m
    req = bytes(m.payload[m.data_off:m.data_off + m.data_len])
    if req == hexs("10 82"):
        m.set_periodic(True)                  # startDiagnosticSession, periodic
        rsp = hexs("50 82")
    elif req == hexs("20"):
        m.set_periodic(False)                 # stopDiagnosticSession
        rsp = hexs("60")
    else:
        rsp = hexs("61 01 07")
    node.kernel.call_later(0, lambda n2, a: (m.respond(n2, rsp, len(rsp)), node.flush(n2)))


def _periodic_bench():
    b = Bench()
    b.ecu.on_event = _periodic_app
    _init(b)
    return b


def test_v18_t12_periodic_mode_repeats_every_p2_and_the_tester_jumps_in_at_p3_star():
    b = _periodic_bench()
    t0 = b.t()
    b.tester.m.set_periodic(True)
    b.request(hexs("10 82"))
    b.run(150000)
    req_end = b.frames_from("tester", t0)[0][0]
    reps = b.frames_from("ecu1", t0)
    assert b.frames_from("tester", t0)[0][1] == hexs("80 11 F1 02 10 82 16")
    assert all(r[1] == hexs("80 F1 11 02 50 82 56") for r in reps) and len(reps) >= 3
    # the first P2min after the request, each next one P2min after the previous one ends
    starts = [r[0] - 7 * BYTE for r in reps]
    assert starts[0] - req_end == 25000
    assert [starts[i + 1] - reps[i][0] for i in range(len(reps) - 1)] == [25000] * (len(reps) - 1)
    assert b.ecu.m.periodic and b.tester.m.periodic
    assert (b.ecu.m.timing.p3min_us, b.tester.m.timing.p3min_us) == (5000, 5000)
    assert b.ecu.m.timing.p3s_max_us == 23000
    assert b.tester.of(EV_DONE)[-1][0] < t0                 # no end while it repeats
    assert len([e for e in b.tester.of(EV_RESPONSE) if e[0] > t0]) == len(reps)
    # jump in right at the end of a repetition: the request starts P3*min = 5 ms later
    k = len(b.tester.of(EV_RESPONSE))
    assert b.k.run_until(lambda: len(b.tester.of(EV_RESPONSE)) == k + 1, 100000)
    last_rep = b.t()
    b.request(hexs("21 01"))
    t1 = b.t()
    b.run(150000)
    req = b.frames_from("tester", t1)[0]
    assert req[1] == hexs("80 11 F1 02 21 01 A6")
    assert b.bytes_from("tester", t1)[0][0] - BYTE - last_rep == 5000
    after = b.frames_from("ecu1", req[0])
    assert after[0][1] == hexs("80 F1 11 03 61 01 07 EE")   # the new response, repeated
    assert after[0][0] - 8 * BYTE - req[0] == 25000 and len(after) >= 2
    assert all(a[1] == after[0][1] for a in after)
    # stopDiagnosticSession: its positive response goes once, then periodic mode ends
    b.request(hexs("20"))
    t2 = b.t()
    b.run(300000)
    req = b.frames_from("tester", t2)[0]
    assert req[1] == hexs("80 11 F1 01 20 A3")
    fin = b.frames_from("ecu1", req[0])
    assert [f[1] for f in fin] == [hexs("80 F1 11 01 60 E3")]
    assert b.tester.of(EV_DONE)[-1][0] == fin[0][0] + 50000 + BYTE + 1
    assert not b.ecu.m.periodic and not b.tester.m.periodic
    assert (b.ecu.m.timing.p3min_us, b.tester.m.timing.p3min_us) == (55000, 55000)
    assert b.ecu.m.initialised and b.tester.m.initialised


def test_t12_periodic_request_too_late_for_p3_star_waits_for_the_next_repetition():
    b = _periodic_bench()
    b.tester.m.set_periodic(True)
    b.request(hexs("10 82"))
    k = 3
    assert b.k.run_until(lambda: len(b.tester.of(EV_RESPONSE)) == k, 300000)
    rep_end = b.t()
    b.run(24000)                       # 24 ms: past P3*max (23 ms)
    b.request(hexs("21 01"))
    t1 = b.t()
    b.run(200000)
    nxt = [e[0] for e in b.tester.of(EV_RESPONSE) if e[0] > rep_end][0]
    assert nxt == rep_end + 25000 + 7 * BYTE        # the repetition went ahead
    assert b.bytes_from("tester", t1)[0][0] - BYTE == nxt + 5000


def test_t12_periodic_request_before_p3min_is_ignored_and_repetition_goes_on():
    b, raw = _raw_bench()
    b.ecu.on_event = _periodic_app
    _init_raw(b, raw)
    t0 = b.t()
    raw.send(t0 + 60000, hexs("80 11 F1 02 10 82 16"), 5000)
    assert b.k.run_until(lambda: len(b.ecu.of(EV_SENT)) == 3, 300000)   # SC, 50 82, a repeat
    rep = b.frames_from("ecu1", t0)[-1][0]
    assert rep == b.t()
    raw.send(rep + 4000, hexs("80 11 F1 02 21 01 A6"), 0)      # 4 ms < P3*min
    b.run(200000)
    assert (EV_ERROR, K_P3MIN_VIOLATION) in [x[1:3] for x in b.ecu.events if x[0] > t0]
    later = b.frames_from("ecu1", rep + 1)[:-1]        # the last one is cut by the run's end
    assert len(later) >= 3 and all(f[1] == hexs("80 F1 11 02 50 82 56") for f in later)
    assert b.ecu.m.periodic


def test_periodic_stop_communication_is_answered_once_and_ends_the_link():
    b = _periodic_bench()
    b.tester.m.set_periodic(True)
    b.request(hexs("10 82"))
    b.run(100000)
    b.request(hexs("82"))
    t1 = b.t()
    b.run(400000)
    req = b.frames_from("tester", t1)[0]
    assert req[1] == hexs("80 11 F1 01 82 05")
    assert [f[1] for f in b.frames_from("ecu1", req[0])] == [hexs("80 F1 11 01 C2 45")]
    assert not b.ecu.m.initialised and not b.tester.m.initialised
    assert b.tester.of(EV_STOPPED)[-1][2] == OK


def test_periodic_repetitions_without_echo_return_the_ecu_to_normal_operation():
    b = _periodic_bench()
    b.tester.m.set_periodic(True)
    b.request(hexs("10 82"))
    b.run(100000)
    assert b.ecu.m.periodic
    b.ecus[0].mute = True              # the tester's pull-up is gone
    b.run(100000)
    assert not b.ecu.m.periodic and b.ecu.m.timing.p3min_us == 55000
    assert (EV_ERROR, K_COLLISION) in [x[1:3] for x in b.ecu.events]


def test_periodic_atp_uses_the_periodic_restrictions_and_its_answer_repeats():
    b = _periodic_bench()
    b.tester.m.set_periodic(True)
    b.request(hexs("10 82"))
    k = 2
    assert b.k.run_until(lambda: len(b.tester.of(EV_RESPONSE)) == k, 300000)
    # P3min 5 ms <= P2min - 10 ms: fine in periodic mode (not in normal mode: < P2max)
    b.request(hexs("83 03 32 02 0A 14 0A"))
    t1 = b.t()
    b.run(200000)
    got = b.frames_from("ecu1", t1 + 1)[:-1]
    assert got[0][1] == hexs("80 F1 11 02 C3 03 4A") and len(got) >= 2
    assert all(f[1] == got[0][1] for f in got)
    assert b.ecu.m.timing.periodic and b.ecu.m.timing.p3min_us == 5000
    assert len([e for e in b.ecu.of(EV_TIMING) if e[0] > t1]) == 1     # applied once
    k = len(b.tester.of(EV_RESPONSE))
    assert b.k.run_until(lambda: len(b.tester.of(EV_RESPONSE)) == k + 1, 100000)
    b.request(hexs("83 03 32 02 28 14 0A"))        # P3min 20 ms > P2min - 10 ms
    t2 = b.t()
    b.run(150000)
    assert b.frames_from("ecu1", t2 + 1)[0][1] == hexs("80 F1 11 03 7F 83 31 B8")


def test_every_state_input_cell_runs_without_raising():
    # Each cell of both tables, entered from a machine put in that state:
    # the action runs on the machine's initial fields and never raises.
    from diagbridge.kline.ecu import KLineEcu
    from diagbridge.kline.tester import KLineTester
    for make, mod in ((lambda: KLineEcu(EcuConfig(groups=(0x33,))), ecu_mod),
                      (lambda: KLineTester(), tester_mod)):
        for s in range(mod.N_STATES):
            for i in range(mod.N_INPUTS):
                m = make()
                m.state = s
                m._step(1000, i, 0x80, 0)
                assert 0 <= m.state < mod.N_STATES
                m.on_timer(2000000)
                while m.poll():
                    pass


def test_t11_ecu_segmented_response_each_segment_p2_after_the_previous():
    segs = (hexs("61 01 01"), hexs("61 01 02"), hexs("61 01 03"))
    left = [0]

    def app(node, now, ev):
        # the first segment on the request, each next one once the previous is out
        if ev == EV_REQUEST:
            left[0] = 3
        elif ev != EV_SENT or left[0] == 0:
            return
        k = 3 - left[0]
        left[0] -= 1
        node.kernel.call_later(0, lambda n2, a: (node.m.respond(n2, segs[k], 3, k < 2),
                                                 node.flush(n2)))
    b = Bench()
    b.ecu.on_event = app
    _init(b)
    t0 = b.t()
    b.request(hexs("21 01"))
    b.run(400000)
    req_end = b.frames_from("tester", t0)[0][0]
    segs = b.frames_from("ecu1", t0)
    assert [s[1] for s in segs] == [hexs("80 F1 11 03 61 01 01 E8"),
                                    hexs("80 F1 11 03 61 01 02 E9"),
                                    hexs("80 F1 11 03 61 01 03 EA")]
    assert segs[0][0] - 8 * BYTE - req_end == 25000
    assert [segs[i + 1][0] - 8 * BYTE - segs[i][0] for i in range(2)] == [25000, 25000]
    ev = [x[1] for x in b.tester.events if x[0] > t0]
    assert ev == [EV_RESPONSE, EV_RESPONSE, EV_RESPONSE, EV_DONE]
    assert len(b.frames_from("tester", t0)) == 1
