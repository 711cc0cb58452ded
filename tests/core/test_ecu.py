# ecu.Ecu: the CAN-TP channel + UdsServer composition, driven with frames
# moved at once between a tester Channel and the Ecu (no bus model here;
# test_sim_ecu.py adds exact wire time).
from diagbridge.errors import ConfigError
from diagbridge.codes import N_OK, N_TIMEOUT_CR
from diagbridge.cantp import (Channel, Mux, TpConfig, Address, ADDR_NORMAL_11, ADDR_NORMAL_29,
                              ADDR_NORMAL_FIXED, ADDR_EXTENDED_11, ADDR_MIXED_11,
                              ADDR_MIXED_29, FLAG_EXT, EV_RX_DONE)
from diagbridge.uds.server.core import EV_SESSION_CHANGED, EV_SECURITY, EV_LINK_CONTROL
from diagbridge.uds.server.profile import Profile
from diagbridge.ecu import Ecu, address_from_profile, EV_ECU_RESET, EV_TP_FAILED
from ecu_support import (Pair, profile_dict, make_tester, VIN, BIG_DID, big_value, T0)
from support import raises, run_locked


# ---- addressing from the profile -------------------------------------------------
def test_address_normal_11_with_functional():
    a = address_from_profile({"rx_id": 0x7E0, "tx_id": 0x7E8, "functional_id": 0x7DF,
                              "format": "normal"})
    assert a.fmt == ADDR_NORMAL_11 and a.tx_id == 0x7E8 and a.rx_id == 0x7E0
    assert a.match(0x7E0, 0, b"\x02", 1) == 0 and a.match(0x7DF, 0, b"\x02", 1) == 1
    assert a.match(0x7E1, 0, b"\x02", 1) == -1


def test_address_normal_29_when_an_id_is_wide():
    a = address_from_profile({"rx_id": 0x18DA10F1, "tx_id": 0x18DAF110, "format": "normal"})
    assert a.fmt == ADDR_NORMAL_29 and a.ext
    assert a.match(0x18DA10F1, FLAG_EXT, b"\x02", 1) == 0
    assert a.match(0x18DA10F1, 0, b"\x02", 1) == -1      # 11-bit frame: not ours


def test_address_normal_fixed_derives_ta_sa():
    a = address_from_profile({"rx_id": 0x18DA10F1, "tx_id": 0x18DAF110,
                              "functional_id": 0x18DB33F1, "format": "normal_fixed"})
    assert a.fmt == ADDR_NORMAL_FIXED
    assert a.tx_id == 0x18DAF110 and a.rx_id == 0x00DA10F1
    assert a.match(0x18DA10F1, FLAG_EXT, b"\x02", 1) == 0
    assert a.match(0x18DB33F1, FLAG_EXT, b"\x02", 1) == 1


def test_address_extended_and_mixed():
    a = address_from_profile({"rx_id": 0x6F1, "tx_id": 0x612, "format": "extended",
                              "ext_addr": 0x12})
    assert a.fmt == ADDR_EXTENDED_11 and a.tx_prefix == 0xF1 and a.rx_prefix == 0x12
    assert a.match(0x6F1, 0, b"\x12\x02", 2) == 0 and a.match(0x6F1, 0, b"\x13\x02", 2) == -1
    m = address_from_profile({"rx_id": 0x700, "tx_id": 0x708, "format": "mixed",
                              "ext_addr": 0x55})
    assert m.fmt == ADDR_MIXED_11 and m.tx_prefix == 0x55
    m29 = address_from_profile({"rx_id": 0x18CE10F1, "tx_id": 0x18CEF110, "format": "mixed",
                                "ext_addr": 0x55})
    assert m29.fmt == ADDR_MIXED_29 and m29.tx_id == 0x18CEF110


def test_address_errors_name_the_field():
    for bad, field in (({"tx_id": 1}, "addresses.rx_id"),
                       ({"rx_id": 1, "tx_id": 2, "format": "extended"}, "addresses.ext_addr"),
                       ({"rx_id": 1, "tx_id": 2, "format": "mixed"}, "addresses.ext_addr")):
        try:
            address_from_profile(bad)
            assert False
        except ConfigError as e:
            assert str(e) == field
    assert raises(ConfigError, Ecu, profile_dict(), None, None, None, None, None, None, -1)


def test_profile_without_addresses_needs_an_address():
    d = profile_dict()
    del d["addresses"]
    assert raises(ConfigError, Ecu, d)
    ecu = Ecu(d, address=Address(ADDR_NORMAL_11, tx_id=0x7E9, rx_id=0x7E1))
    p = Pair(ecu, make_tester(0x7E1, 0x7E9))
    assert p.ask("22F190") == ["62f190" + VIN.hex()]


# ---- requests and responses ------------------------------------------------------
def test_read_vin_and_a_4000_byte_response():
    p = Pair(Ecu(profile_dict()))
    assert p.ask("22F190") == ["62f190" + VIN.hex()]
    ans = p.ask("220F00")
    assert len(ans) == 1 and bytes.fromhex(ans[0]) == b"\x62\x0f\x00" + big_value()
    assert p.ecu.requests == 2 and p.ecu.sent == 2
    assert p.ecu.tp.tx_busy() is False


def test_accepts_a_dict_or_a_profile():
    a = Ecu(profile_dict())
    b = Ecu(Profile(profile_dict()))
    assert a.profile.name == b.profile.name == "ecu"
    assert a.cfg is a.tp.cfg and a.addr is a.address


def test_negative_response_and_unknown_service():
    p = Pair(Ecu(profile_dict()))
    assert p.ask("22F1") == ["7f2213"]
    assert p.ask("BA") == ["7fba11"]


def test_functional_tester_present_and_suppression():
    p = Pair(Ecu(profile_dict()))
    assert p.ask("3E80", functional=True) == []            # suppressed
    assert p.ask("3E00", functional=True) == ["7e00"]       # answered physically
    assert p.ask("BA", functional=True) == []               # 0x11 not sent (§8.7.5)
    assert p.ecu.requests == 3


def test_session_events_pass_through():
    p = Pair(Ecu(profile_dict()))
    assert p.ask("1003") == ["5003003201f4"]
    assert [e[1] for e in p.ecu_events] == [EV_SESSION_CHANGED]
    assert p.ecu.srv.session == 3


def test_events_count_like_a_channel():
    ecu = Ecu(profile_dict())
    buf = bytearray(64)
    assert ecu.events.count == 0
    ecu.feed_frame(T0, 0x7E0, b"\x02\x10\x03", 3)
    assert ecu.events.count == 1                    # EV_SESSION_CHANGED waits
    assert ecu.pop_frame(buf) == 8 and buf[1] == 0x50
    assert ecu.poll() == EV_SESSION_CHANGED and ecu.events.count == 0
    assert ecu.poll() == 0


def test_link_control_event_reaches_the_application():
    d = profile_dict()
    d["modules"].append("link")
    p = Pair(Ecu(d))
    p.ask("1003")
    assert p.ask("870113") == ["c701"]              # verify 1 Mbit/s (fixed 0x13)
    p.ecu_events = []
    assert p.ask("8703") == ["c703"]
    assert [e[1] for e in p.ecu_events] == [EV_LINK_CONTROL]
    assert p.ecu.srv.link_baud == 1000000


def test_s3_timeout_back_to_default():
    p = Pair(Ecu(profile_dict()))
    p.ask("1003", max_us=1000)
    p.ecu_events = []
    t_req = p.elapsed - 1000
    p.run_for(6000000)
    assert p.ecu_events == [(t_req + 5000000, EV_SESSION_CHANGED)]
    assert p.ecu.srv.session == 1


def test_response_pending_then_final():
    p = Pair(Ecu(profile_dict()))
    p.ask("1003")
    mark = p.elapsed
    got = p.ask("31010203" + "44" + "00010000" + "00000010", max_us=500000)
    assert got[0] == "7f3178" and got[1][:8] == "71010203" and len(got) == 2
    t78, tfin = p.rx[-2][0] - mark, p.rx[-1][0] - mark
    assert t78 == 40000 and tfin == 100000          # P2 50 - margin 10; duration 100 ms


# ---- ECUReset --------------------------------------------------------------------
def test_ecu_reset_after_the_response_left():
    seen = []
    ecu = Ecu(profile_dict(), on_reset=lambda e, now, kind: seen.append((kind, e.srv.session)))
    p = Pair(ecu)
    p.ask("1003")
    p.ecu_events = []
    assert p.ask("1101") == ["5101"]
    # the hook ran before the server reset (session still 3), then the reset
    assert seen == [(1, 3)] and ecu.resets == 1 and ecu.reset_kind == 1
    assert [e[1] for e in p.ecu_events] == [EV_ECU_RESET]
    assert ecu.srv.session == 1
    assert p.ask("22F190") == ["62f190" + VIN.hex()]


def test_ecu_reset_suppressed_resets_at_once():
    p = Pair(Ecu(profile_dict()))
    assert p.ask("1183") == []
    assert p.ecu.resets == 1 and p.ecu.reset_kind == 3


def test_ecu_reset_boot_time_keeps_it_off_the_bus():
    p = Pair(Ecu(profile_dict(), reset_ms=500))
    assert p.ask("1101", max_us=1000) == ["5101"]
    assert p.ecu.offline()
    assert p.ask("22F190", max_us=100000) == []         # booting: not received
    assert p.ecu.deadline() is not None
    p.run_for(500000)
    assert not p.ecu.offline()
    assert p.ask("22F190") == ["62f190" + VIN.hex()]


def test_ecu_reset_relocks_security():
    p = Pair(Ecu(profile_dict()))
    p.ask("1003")
    seed = bytes.fromhex(p.ask("2701")[0])[2:]
    from diagbridge.uds.seedkey import compute_key
    key = bytearray(4)
    compute_key("diagbridge1", seed, 4, b"ecu-test", key)
    assert p.ask("2702" + bytes(key).hex()) == ["6702"]
    assert p.ecu.srv.level == 1
    p.ask("1102")
    assert p.ecu.srv.level == 0 and p.ecu.srv.session == 1
    assert EV_SECURITY in [e[1] for e in p.ecu_events]


# ---- transport -------------------------------------------------------------------
def test_transport_failure_is_an_event():
    p = Pair(Ecu(profile_dict()))
    buf = bytearray(64)
    frame = b"\x10\x14\x2e\xf1\x90\x57\x30\x4c"      # a FF, then nothing
    p.ecu.feed_frame(p.now, 0x7E0, frame, 8)
    n = p.ecu.pop_frame(buf)                          # its FC
    assert n and buf[0] == 0x30
    p.ecu.confirm(p.now, True, p.ecu.tx_tag)
    p.run_for(1100000)
    assert (1000000, EV_TP_FAILED) in p.ecu_events
    assert p.ecu.result == N_TIMEOUT_CR and p.ecu.rx_failed == 1


def test_frames_for_others_are_not_taken():
    ecu = Ecu(profile_dict())
    assert ecu.feed_frame(T0, 0x7E1, b"\x02\x3e\x00", 3) is False
    assert ecu.feed_frame(T0, 0x7E0, b"\x02\x3e\x00", 3) is True


def test_without_tx_confirmation():
    ecu = Ecu(profile_dict(), tp_cfg=TpConfig(tx_confirm=False))
    p = Pair(ecu, make_tester(cfg=TpConfig(tx_confirm=False)))
    assert p.ask("22F190") == ["62f190" + VIN.hex()]
    assert p.ask("3E00") == ["7e00"]


def test_full_duplex_request_while_a_long_response_runs():
    ecu = Ecu(profile_dict(), tp_cfg=TpConfig(full_duplex=True))
    p = Pair(ecu, make_tester(cfg=TpConfig(block_size=0, stmin_us=1000, full_duplex=True)))
    p.send("220F00")
    p.pump()                                            # FF out, waiting for FCs...
    assert ecu.tp.tx_busy()
    # a second request while the answer is on its way: busy (0x21) or queued
    p.ask("3E00", max_us=1000000)
    assert len(p.rx) == 2 and p.rx[0][1][:3] == b"\x62\x0f\x00" and p.rx[1][1] == b"\x7e\x00"


def test_ecus_share_a_mux():
    """An Ecu has a Channel's verbs, so a Mux carries several of them."""
    e1 = Ecu(profile_dict())
    e2 = Ecu(profile_dict(0x7E1, 0x7E9, name="ecu2"))
    mux = Mux((e1, e2))
    t1 = make_tester()
    t2 = make_tester(0x7E1, 0x7E9)
    tmux = Mux((t1, t2))
    p = Pair(mux, tmux)
    t1.request(p.now, b"\x3e\x00", 2, 1)                # functional: both answer
    p.run_for(10000)
    assert len(p.rx) == 2 and p.rx[0][1] == p.rx[1][1] == b"\x7e\x00"
    assert e1.sent == 1 and e2.sent == 1


# ---- no allocation per request ---------------------------------------------------
def _step(ctx):
    t = ctx[0]
    ecu = ctx[1]
    buf = ctx[2]
    st = ctx[4]
    now = ctx[5]
    t.request(now, ctx[3], len(ctx[3]))
    for _ in range(200):
        moved = False
        n = t.pop_frame(buf)
        if n:
            t.confirm(now, True, t.tx_tag)
            ecu.feed_frame(now, t.tx_id, buf, n, t.tx_flags)
            moved = True
        n = ecu.pop_frame(buf)
        if n:
            ecu.confirm(now, True, ecu.tx_tag)
            t.feed_frame(now, ecu.tx_id, buf, n, ecu.tx_flags)
            moved = True
        ev = t.poll()
        while ev:
            if ev == EV_RX_DONE:
                st[0] += 1
                st[1] += t.length
            ev = t.poll()
        while ecu.poll():
            pass
        if not moved:
            return


def test_requests_allocate_nothing():
    ecu = Ecu(profile_dict())
    t = make_tester()
    st = [0, 0]
    vin = [t, ecu, bytearray(64), b"\x22\xf1\x90", st, T0]
    tp = [t, ecu, bytearray(64), b"\x3e\x00", st, T0]
    _step(vin)
    _step(tp)                                       # warm-up

    def run():
        for _ in range(5):
            _step(vin)
            _step(tp)
    st[0] = st[1] = 0
    run_locked(run)
    assert st[0] == 10 and st[1] == 5 * (3 + 17 + 2)
