# The conformance vectors of tacho-digest 8, byte-exact on the simulated
# K-Line in virtual time: our workshop-side KwpClient at tester address 0xF0
# sends each request frame, our VU (kwp/profiles/tacho_vu.vu, Annex IC unless
# a vector says otherwise) answers each response frame.
from diagbridge.codes import OK, A_NEGATIVE_RESPONSE, K_TIMEOUT_P2MAX
from diagbridge.kwp.services import tacho as T
from tacho_support import TachoBench, bench, hexs

NEG = A_NEGATIVE_RESPONSE


def _vec(b, req, *rsps):
    """The request frame req goes out exactly, the VU answers exactly rsps."""
    f = hexs(req)
    t0 = b.t()
    r = b.ask(f[4:-1])
    wire = b.wire(t0)
    assert wire[0] == ("tester", f), wire
    got = [w[1] for w in wire[1:] if w[0] == "tacho_vu"]
    assert got == [hexs(x) for x in rsps], [g.hex() for g in got]
    return r


def _cal(b, session=None):
    b.calibrate()
    if session is not None:
        assert b.ask(session)[0] == OK


def test_v1_fast_init():
    b = TachoBench()
    t0 = b.t()
    b.init()
    wire = b.wire(t0)
    assert wire == [("tester", hexs("81 EE F0 81 E0")), ("tacho_vu", hexs("80 F0 EE 03 C1 EA 8F 9B"))]
    lows = [r for r in b.rec.records if r[3] == "low" and r[0] >= t0]
    assert [r[5] for r in lows] == [25000]                     # Tinil 25 ms
    assert (b.srv.session, b.vu.io) == (0x81, T.IO_DISABLED)


def test_v2_v3_sessions():
    b = bench(card="none")
    assert _vec(b, "80 EE F0 02 10 85 F5", "80 F0 EE 02 50 85 35")[0] == OK
    assert b.srv.session == 0x85
    _vec(b, "80 EE F0 02 10 86 F6", "80 F0 EE 03 7F 10 12 02")
    assert b.srv.session == 0x85


def test_v4_v5_v10_request_seed():
    b = bench(card="none")
    _vec(b, "80 EE F0 02 27 7D 04", "80 F0 EE 03 7F 27 22 29")
    b = bench()
    _vec(b, "80 EE F0 02 27 7D 04", "80 F0 EE 04 67 7D 00 01 47")
    b = bench()
    _cal(b)
    _vec(b, "80 EE F0 02 27 7D 04", "80 F0 EE 04 67 7D 00 00 46")


def test_v6_pin_accepted_after_response_pending():
    b = bench(verify_ms=600)
    b.ask("27 7D")
    r = _vec(b, "80 EE F0 06 27 7E 31 32 33 34 D3", "80 F0 EE 03 7F 27 78 7F",
             "80 F0 EE 03 7F 27 78 7F", "80 F0 EE 03 7F 27 78 7F", "80 F0 EE 02 67 7E 45")
    assert r == (OK, 0, hexs("67 7E")) and b.client.pending == 3
    assert b.vu.mode() == T.MODE_CALIBRATION


def test_v7_v8_v9_pin_refused():
    b = bench(card_tries=4, verify_ms=100)
    b.ask("27 7D")
    _vec(b, "80 EE F0 06 27 7E 39 39 39 39 ED", "80 F0 EE 03 7F 27 78 7F",
         "80 F0 EE 03 7F 27 35 3C")
    b = bench(card_tries=0, verify_ms=100)
    b.ask("27 7D")
    _vec(b, "80 EE F0 0A 27 7E 31 32 33 34 35 36 37 38 B1", "80 F0 EE 03 7F 27 78 7F",
         "80 F0 EE 03 7F 27 36 3D")
    b = bench()
    b.ask("27 7D")
    _vec(b, "80 EE F0 05 27 7E 31 32 33 9E", "80 F0 EE 03 7F 27 13 1A")


def test_v11_to_v15_reads():
    b = bench()
    _vec(b, "80 EE F0 03 22 F9 0B 87", "80 F0 EE 0B 62 F9 0B E0 22 0C 03 3C 27 7D 7D 3D")
    _vec(b, "80 EE F0 03 22 F9 12 8E", "80 F0 EE 07 62 F9 12 02 FA F0 80 3E")
    _vec(b, "80 EE F0 03 22 F1 90 04",
         "80 F0 EE 14 62 F1 90 54 45 53 54 56 49 4E 30 31 32 33 34 35 36 37 38 39 8F")
    _vec(b, "80 EE F0 03 22 F9 FF 7B", "80 F0 EE 03 7F 22 31 33")
    _vec(b, "80 EE F0 02 22 F9 7B", "80 F0 EE 03 7F 22 13 15")
    _vec(b, "80 EE F0 03 22 F9 2C A8", "80 F0 EE 05 62 F9 2C 5A 00 44")
    _vec(b, "80 EE F0 03 22 F9 1C 98", "80 F0 EE 05 62 F9 1C 65 90 CF")
    _vec(b, "80 EE F0 03 22 F9 22 9E", "80 F0 EE 06 62 F9 22 03 3C 29 49")


def test_v16_v17_v18_writes():
    b = bench()
    _cal(b)
    _vec(b, "80 EE F0 05 2E F9 18 1F 40 01", "80 F0 EE 03 6E F9 18 E0")
    _vec(b, "80 EE F0 0B 2E F9 D4 00 00 00 00 00 00 00 00 64", "80 F0 EE 03 7F 2E 31 3F")
    b = bench(card="none")
    b.ask("10 85")
    _vec(b, "80 EE F0 05 2E F9 18 1F 40 01", "80 F0 EE 03 7F 2E 22 30")
    b = bench()
    _cal(b, "10 81")
    _vec(b, "80 EE F0 05 2E F9 18 1F 40 01", "80 F0 EE 03 7F 2E 22 30")


def test_v19_v19b_v20_io_line():
    b = bench()
    _cal(b, "10 87")
    _vec(b, "80 EE F0 05 2F F9 60 03 03 F1", "80 F0 EE 05 6F F9 60 03 03 31")
    assert b.vu.io == T.IO_RTC_OUT
    _vec(b, "80 EE F0 04 2F F9 60 01 EB", "80 F0 EE 04 6F F9 60 01 2B")
    assert b.vu.io == T.IO_DISABLED
    b = bench(card="control")
    b.ask("10 87")
    _vec(b, "80 EE F0 05 2F F9 60 03 01 EF", "80 F0 EE 03 7F 2F 22 31")
    _vec(b, "80 EE F0 05 2F F9 60 03 02 F0", "80 F0 EE 05 6F F9 60 03 02 30")
    assert b.vu.io == T.IO_SPEED_OUT


def test_v21_tester_present():
    b = bench()
    _vec(b, "80 EE F0 02 3E 01 9F", "80 F0 EE 01 7E DD")
    t0 = b.t()
    r = b.ask("3E 02")
    assert r[0] == K_TIMEOUT_P2MAX                          # silence (the tester repeats it)
    wire = b.wire(t0)
    assert wire and all(w == ("tester", hexs("80 EE F0 02 3E 02 A0")) for w in wire), wire


def test_v22_stop_communication():
    b = bench()
    b.ask("10 85")
    _vec(b, "80 EE F0 01 82 E1", "80 F0 EE 03 7F 82 10 72")
    b.ask("10 81")
    _vec(b, "80 EE F0 01 82 E1", "80 F0 EE 01 C2 21")
    assert not b.ecu.link.initialised


def test_v23_time_adjustment():
    b = bench(adjust_ms=1000)
    _cal(b)
    _vec(b, "80 EE F0 04 31 01 01 00 95", "80 F0 EE 04 71 01 01 00 D5")
    _vec(b, "80 EE F0 04 31 03 01 00 97", "80 F0 EE 06 71 03 01 00 78 00 51")
    b.run(1000000)
    _vec(b, "80 EE F0 04 31 03 01 00 97", "80 F0 EE 06 71 03 01 00 61 01 3B")
    assert b.vu.adjustments == 1
    b.ask("31 01 01 00")
    b.vu.gnss = False                                       # reception lost while running
    b.run(1000000)
    _vec(b, "80 EE F0 04 31 03 01 00 97", "80 F0 EE 06 71 03 01 00 61 10 4A")
    assert b.vu.adjustments == 1
