# The workshop tester's calibration (tacho/workshop.py) against our VU
# (kwp/profiles/tacho_vu.vu) end to end on the simulated K-Line in virtual
# time: the exact request sequence, the report (what was there, what was
# written, what was verified) and its text; values out of range refused before
# anything is sent; a wrong PIN, a VU already calibrating, Annex IB, the
# TimeAdjustment routine with and without GNSS.
from diagbridge.errors import UsageError
from diagbridge.kline.config import TesterConfig as _Tester
from diagbridge.kwp.client import KwpClient
from diagbridge.tacho import rdi as R
from diagbridge.tacho.workshop import Workshop, render
from diagbridge.uds.server.nvm import MemNvm
from tacho_support import TachoBench, workshop_run, hexs

NEW = {R.KF: 8100, R.LF: 3300, R.SA: 85, R.NCD: (2028, 6, 1), R.TD: (2026, 12, 7, 3, 30, 0, 0, 1)}


def _ws(writes=None, pin="1234", annex="1C", **kw):
    return Workshop(KwpClient(_Tester(address=0xF0), keepalive_ms=0), pin, writes, annex, **kw)


def _requests(b, t0):
    return [f[4] for e, f in b.frames_from("workshop", t0)]


def test_full_calibration_end_to_end():
    nvm = MemNvm()
    b = TachoBench(nvm=nvm, verify_ms=600)
    w = _ws(NEW)
    t0 = b.t()
    workshop_run(b, w)
    rep = w.report
    assert (rep["result"], rep["error"], rep["vu"], rep["annex"]) == ("ok", None, 0xEE, "1C")
    assert rep["pin_pending"] == 3
    assert len(rep["before"]) == 20 and rep["read_errors"] == {}
    assert rep["before"]["Kfactor"] == 8000
    assert rep["before"]["HighResolutionTotalVehicleDistance"] == 250000
    assert rep["before"]["NextCalibrationDate"] == (2026, 3, 15)
    assert rep["before"]["VIN"] == "TESTVIN0123456789"
    assert rep["written"] == {"TimeDate": (2026, 12, 7, 3, 30, 0, 0, 1), "Kfactor": 8100,
                              "LfactorTyreCircumference": 3300, "NextCalibrationDate": (2028, 6, 1),
                              "SpeedAuthorised": 85}
    assert rep["verified"] == {"TimeDate": True, "Kfactor": True, "LfactorTyreCircumference": True,
                               "NextCalibrationDate": True, "SpeedAuthorised": True}
    assert rep["time_adjustment"] is None
    # the request sequence: init, 10 85, 27 7D, 27 7E, 20 reads, 5 writes, 5 reads, 10 81, 82
    frames = [f for e, f in b.frames_from("workshop", t0)]
    assert frames[0] == hexs("81 EE F0 81 E0")
    sids = [f[4] for f in frames[1:]]
    assert sids == [0x10, 0x27, 0x27] + [0x22] * 20 + [0x2E] * 5 + [0x22] * 5 + [0x10, 0x82]
    assert frames[-1] == hexs("80 EE F0 01 82 E1")
    # the VU holds and persisted the new values
    assert b.vu.values[R.KF] == hexs("1F A4") and nvm.get("tacho.F918") == hexs("1F A4")
    assert not b.ecu.link.initialised
    text = render(rep)
    assert text.splitlines()[0] == "Tachograph calibration, VU 0xEE, Annex IC: ok"
    assert "    Kfactor" in text and "8100 imp/km  verified" in text
    assert "2028-06-01  verified" in text and "250000 km" in text


def test_out_of_range_values_are_refused_before_sending():
    for writes in ({R.SA: 300}, {R.NCD: (2028, 13, 1)}, {R.VIN: "X" * 18},
                   {R.VSN: b"\x00" * 8}, {0xF9FF: 1}):
        try:
            _ws(writes)
            raise AssertionError("accepted %r" % (writes,))
        except UsageError:
            pass
    try:
        _ws({R.BDLT: 1}, annex="1B")                    # not an Annex IB record
        raise AssertionError("accepted")
    except UsageError:
        pass
    for pin in ("123", "123456789", b"12\x0034"):
        try:
            _ws(None, pin=pin)
            raise AssertionError("PIN %r accepted" % (pin,))
        except UsageError:
            pass


def test_wrong_pin_ends_with_a_report_and_no_write():
    b = TachoBench(verify_ms=100)
    w = _ws(NEW, pin="9999")
    t0 = b.t()
    workshop_run(b, w)
    rep = w.report
    assert rep["result"] == "failed"
    assert rep["error"] == "pin refused: 0x35 invalidKey"
    assert rep["before"] == {} and rep["written"] == {}
    assert 0x2E not in _requests(b, t0)
    assert b.vu.card_tries == 4
    assert "error: pin refused" in render(rep)


def test_a_vu_already_calibrating_skips_the_pin():
    b = TachoBench()
    b.init()
    b.calibrate()
    b.ask("10 81")
    b.ask("82")
    b.run(100000)
    w = _ws({R.SA: 80})
    t0 = b.t()
    workshop_run(b, w)
    assert w.report["result"] == "ok" and w.report["pin_pending"] == 0
    assert _requests(b, t0).count(0x27) == 1            # requestSeed only (seed 0000)
    assert w.report["verified"] == {"SpeedAuthorised": True}


def test_annex_ib_calibration():
    b = TachoBench("1B")
    w = _ws({R.WVCF: 8200}, annex="1B")
    workshop_run(b, w)
    rep = w.report
    assert rep["result"] == "ok" and len(rep["before"]) == 11
    assert rep["written"] == {"WvehicleCharacteristicFactor": 8200}
    assert render(rep).splitlines()[0].endswith("Annex IB: ok")


def test_time_adjustment_polls_until_the_result():
    b = TachoBench(adjust_ms=1000)
    w = _ws(None, time_adjust=True, poll_ms=400)
    t0 = b.t()
    workshop_run(b, w)
    assert w.report["result"] == "ok" and w.report["time_adjustment"] == "finished"
    assert _requests(b, t0).count(0x31) >= 3          # start, at least one 78 poll, then 61
    assert b.vu.adjustments == 1
    assert "time adjustment: finished" in render(w.report)
    b = TachoBench(gnss=False)
    w = _ws(None, time_adjust=True)
    workshop_run(b, w)
    assert w.report["time_adjustment"] == "start refused: 0x22 conditionsNotCorrect-requestSequenceError"
    assert w.report["result"] == "ok"
    try:
        _ws(None, annex="1B", time_adjust=True)
        raise AssertionError("TimeAdjustment accepted for Annex IB")
    except UsageError:
        pass


def test_no_workshop_card_fails_at_the_seed():
    b = TachoBench(card="none")
    w = _ws(NEW)
    workshop_run(b, w)
    assert w.report["error"] == "seed refused: 0x22 conditionsNotCorrect-requestSequenceError"
