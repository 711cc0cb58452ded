# DTC status bits over operation cycles (Annex D.2), ControlDTCSetting
# interplay (§10.8.1), snapshot capture and persistence through the NVM.
# The per-bit figures D.1-D.8 are not in the provided text: the transitions
# asserted here are ISO 14229-1:2020's (uds-digest §8.3).
from support import raises
from diagbridge.errors import UsageError
from diagbridge.uds.server.services import dtc as srv_dtc
from diagbridge.uds.server.services import session as srv_session
from diagbridge.uds.server.nvm import MemNvm
from diagbridge.uds.server.core import UdsServer

T0 = 0x1FFF0000
_BUF = bytearray(4095)


def h(s):
    return bytes(int(x, 16) for x in s.split())


def _ask(s, req):
    b = h(req)
    s.feed_pdu(T0, b, len(b), False)
    n = s.pop_pdu(_BUF)
    return " ".join("%02X" % x for x in _BUF[:n]) if n else None


def _server(raw, nvm=None):
    s = UdsServer(raw, nvm=nvm if nvm is not None else MemNvm(),
                  specs=[srv_session.SPECS, srv_dtc.SPECS])
    s.power_up(T0)
    return s

A = 0x0A0B0C
B = 0x0D0E0F


def _srv(dtc=None, nvm=None, **extra):
    raw = {"dtcs": [{"code": A, "status": 0x50, "warning_indicator": True,
                     "snapshots": {1: {0x0100: b"\x00\x00"}, 2: {0x0100: b"\x00\x00"}}},
                    {"code": B, "status": 0x50}],
           "dtc": dtc or {}, "sessions": {1: {}, 3: {}}}
    raw.update(extra)
    return _server(raw, nvm)


def _status(s, code):
    return s.dtc_store.primary.find(code).status


def test_single_trip_failure_then_passes_then_ages():
    s = _srv({"aging_threshold": 2, "healing_threshold": 1})
    st = s.dtc_store
    assert _status(s, A) == 0x50                 # cleared, untested
    st.report_test_result(0, A, True)
    # TF TFTOC PDTC CDTC TFSLC WIR; TNCSLC and TNCTOC cleared
    assert _status(s, A) == 0xAF
    st.report_test_result(0, A, False)
    assert _status(s, A) == 0xAE                 # only TF drops
    st.start_operation_cycle(0)                  # the failing cycle ends: pending stays
    assert _status(s, A) == 0xEC
    st.report_test_result(0, A, False)
    assert _status(s, A) == 0xAC
    st.start_operation_cycle(0)                  # passed complete cycle: PDTC off, aging 1, WIR heals
    assert _status(s, A) == 0x68
    st.report_test_result(0, A, False)
    st.start_operation_cycle(0)                  # aging 2 = threshold: CDTC off
    assert _status(s, A) == 0x60
    assert _status(s, B) == 0x50                 # never tested: only TNCTOC re-set


def test_untested_cycle_does_not_age_or_reset_pending():
    s = _srv()
    st = s.dtc_store
    st.report_test_result(0, A, True)
    st.start_operation_cycle(0)
    st.start_operation_cycle(0)                  # no result at all in this cycle
    assert _status(s, A) & 0x0C == 0x0C


def test_two_trip_confirmation():
    s = _srv({"confirmation_threshold": 2})
    st = s.dtc_store
    st.report_test_result(0, A, True)
    st.report_test_result(0, A, True)            # same cycle: still one trip
    assert _status(s, A) == 0x27                 # pending, not confirmed
    st.start_operation_cycle(0)
    st.report_test_result(0, A, True)
    assert _status(s, A) == 0xAF                 # second failing cycle: confirmed
    assert _ask(s, "19 0C") == "59 0C FF 0A 0B 0C AF"


def test_two_trip_pass_cycle_resets_trips():
    s = _srv({"confirmation_threshold": 2})
    st = s.dtc_store
    st.report_test_result(0, A, True)
    st.start_operation_cycle(0)
    st.report_test_result(0, A, False)
    st.start_operation_cycle(0)                  # clean cycle: trips back to 0
    st.report_test_result(0, A, True)
    assert _status(s, A) & 0x08 == 0


def test_control_dtc_setting_off_freezes_status_but_not_clear():
    s = _srv()
    st = s.dtc_store
    assert _ask(s, "10 03") == "50 03 00 32 01 F4"       # 0x85 is non-default only
    assert _ask(s, "85 02") == "C5 02"
    assert st.report_test_result(0, A, True) is False
    st.start_operation_cycle(0)
    assert _status(s, A) == 0x50                 # frozen (D.2.1 update condition)
    assert _ask(s, "19 03") == "59 03 0A 0B 0C 01 0A 0B 0C 02"  # the profile's records
    s.dtc_store.primary.report_prefailed(A, 5)
    assert _ask(s, "19 14") == "59 14"
    assert _ask(s, "85 01") == "C5 01"
    st.report_test_result(0, A, True)
    assert _status(s, A) == 0xAF
    _ask(s, "85 02")
    assert _ask(s, "14 FF FF FF") == "54"   # clear works while off (§10.8.1)
    assert _status(s, A) == 0x50
    st.report_test_result(0, A, True)
    assert _status(s, A) == 0x50


def test_session_return_to_default_turns_dtc_setting_on():
    s = _srv()
    _ask(s, "10 03")
    _ask(s, "85 02")
    assert not s.dtc_setting_on
    _ask(s, "10 01")                             # §10.8.1: back to on in default
    assert s.dtc_setting_on
    assert s.dtc_store.report_test_result(0, A, True) is True


def test_snapshot_capture_first_and_most_recent():
    s = _srv()
    _ask(s, "14 FF FF FF")                   # drop the profile's records
    assert _ask(s, "19 03") == "59 03"
    val = [0x11]

    def read_did(did, out, pos, size):
        out[pos] = did >> 8
        out[pos + 1] = val[0]
        return True

    st = s.dtc_store
    st.primary.read_did = read_did
    st.report_test_result(0, A, True)            # occurrence 1 -> record 1
    val[0] = 0x22
    st.report_test_result(0, A, False)
    st.report_test_result(0, A, True)            # occurrence 2 -> record 2
    val[0] = 0x33
    st.report_test_result(0, A, False)
    st.report_test_result(0, A, True)            # occurrence 3 -> overwrites record 2
    assert _ask(s, "19 04 0A 0B 0C FF") == \
        "59 04 0A 0B 0C AF 01 01 01 00 01 11 02 01 01 00 01 33"
    assert _ask(s, "19 03") == "59 03 0A 0B 0C 01 0A 0B 0C 02"


def test_persistence_across_power_cycle():
    nvm = MemNvm()
    s = _srv(nvm=nvm)
    _ask(s, "14 FF FF FF")
    s.dtc_store.report_test_result(0, B, True)
    s.dtc_store.save(nvm)                        # backup strategy (e.g. power latch)
    s2 = _srv(nvm=nvm.power_cycle())             # new server, same NVM
    assert _ask(s2, "19 02 FF") == "59 02 FF 0A 0B 0C 50 0D 0E 0F 2F"
    assert _ask(s2, "19 0B") == "59 0B FF 0D 0E 0F 2F"
    assert _ask(s2, "19 03") == "59 03"


def test_clear_is_persisted_at_once():
    nvm = MemNvm()
    s = _srv(nvm=nvm)
    s.dtc_store.report_test_result(0, A, True)
    s.dtc_store.save(nvm)
    w = nvm.writes
    assert _ask(s, "14 0A 0B 0C") == "54"
    assert nvm.writes == w + 1
    s2 = _srv(nvm=nvm)
    assert _status(s2, A) == 0x50


def test_ecu_reset_keeps_memory():
    nvm = MemNvm()
    s = _srv(nvm=nvm)
    s.dtc_store.report_test_result(0, A, True)
    srv_dtc.on_reset(s, 0, 1)                    # hardReset: saved, rebuilt from NVM
    assert _status(s, A) == 0xAF


def test_stale_nvm_layout_is_ignored():
    nvm = MemNvm({"dtc": b"\x01\x02\x03"})
    s = _srv(nvm=nvm)
    assert _status(s, A) == 0x50


def test_unknown_dtc_is_a_usage_error():
    s = _srv()
    assert raises(UsageError, s.dtc_store.report_test_result, 0, 0x999999, True)
    assert raises(UsageError, s.dtc_store.primary.set_extended, A, 9, b"\x00")


def test_set_extended_record():
    raw = {"dtcs": [{"code": A, "status": 0x24, "extended": {1: b"\x00"}}]}
    s = _server(raw)
    s.dtc_store.primary.set_extended(A, 1, b"\x07")
    assert _ask(s, "19 06 0A 0B 0C 01") == "59 06 0A 0B 0C 24 01 07"


def test_dtc_setting_off_for_one_group_freezes_only_that_group():
    # DTCSettingControlOptionRecord = groupOfDTC (§10.8.2): only A is frozen.
    s = _srv()
    _ask(s, "10 03")
    assert _ask(s, "85 02 0A 0B 0C") == "C5 02"
    assert s.dtc_store.report_test_result(0, A, True) is False
    assert s.dtc_store.report_test_result(0, B, True) is True
    assert _ask(s, "19 02 01") == "59 02 FF 0D 0E 0F 2F"
    assert _ask(s, "85 01") == "C5 01"
    s.dtc_store.report_test_result(0, A, True)
    assert _ask(s, "19 02 01") == "59 02 FF 0A 0B 0C AF 0D 0E 0F 2F"


def test_snapshot_captures_the_did_value_at_failure():
    rpm = [0x0BB8]
    raw = {"dids": {0x0100: {"length": 2, "live": "rpm"}},
           "dtcs": [{"code": A, "status": 0x50, "snapshots": {1: {0x0100: b"\x00\x00"}}}]}
    from diagbridge.uds.server.profile import Profile
    s = UdsServer(Profile(raw, {"rpm": lambda srv, did: rpm[0]}), nvm=MemNvm(),
                  specs=[srv_session.SPECS, srv_dtc.SPECS])
    s.power_up(T0)
    _ask(s, "14 FF FF FF")
    s.dtc_store.report_test_result(0, A, True)
    rpm[0] = 0x1000                              # later values do not change the record
    assert _ask(s, "19 04 0A 0B 0C 01") == "59 04 0A 0B 0C 2F 01 01 01 00 0B B8"


def test_s3_timeout_turns_dtc_setting_back_on_at_5000_ms():
    from diagbridge.clock import ticks_add
    s = _srv()
    assert _ask(s, "10 03") == "50 03 00 32 01 F4"
    assert _ask(s, "85 02") == "C5 02"           # S3 restarts at T0
    s.on_timer(ticks_add(T0, 4999999))
    assert not s.dtc_setting_on and s.session == 3
    assert s.dtc_store.report_test_result(0, A, True) is False
    assert s.deadline() == ticks_add(T0, 5000000)
    s.on_timer(ticks_add(T0, 5000000))
    assert s.dtc_setting_on and s.session == 1
    assert s.dtc_store.report_test_result(0, A, True) is True
