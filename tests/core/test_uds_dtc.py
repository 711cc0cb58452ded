# ReadDTCInformation (0x19) and ClearDiagnosticInformation (0x14) on the
# server, byte-exact (ISO 14229-1 §12.2, §12.3; uds-digest §8, §14 V27-V31).
# Layouts are ISO 14229-1:2020 (the tables are not in the provided text).
from support import run_locked, raises
from diagbridge.errors import ConfigError
from diagbridge.uds.server.services import dtc as srv_dtc
from diagbridge.uds.server.services import session as srv_session
from diagbridge.uds.server.config import UdsServerConfig
from diagbridge.uds.server.nvm import MemNvm
from diagbridge.uds.server.core import UdsServer

T0 = 0x1FFF0000             # just before the tick wrap
_BUF = bytearray(4095)


def h(s):
    return bytes(int(x, 16) for x in s.split())


def hexs(b):
    return None if b is None else " ".join("%02X" % x for x in b)


def _cond(srv, now, req, n):
    return getattr(srv, "cond", 0)          # tests set srv.cond to refuse with an NRC


def _server(raw, nvm=None, max_pdu=4095):
    s = UdsServer(raw, UdsServerConfig(max_pdu=max_pdu), nvm=nvm if nvm is not None else MemNvm(),
                  specs=[srv_session.SPECS, srv_dtc.SPECS], conditions=_cond)
    s.power_up(T0)
    return s


def _run(s, req, functional=False):
    s.feed_pdu(T0, req, len(req), functional)
    n = s.pop_pdu(_BUF)
    return bytes(_BUF[:n]) if n else None

D1 = b"\x01\x02\x03"
D2 = b"\x04\x05\x06"


def _full():
    # Example #4/#5/#15/#16 style memory (§12.3.5.5-§12.3.5.17).
    return {"dtcs": [
        {"code": 0x123456, "status": 0x24, "severity": 0x40, "functional_unit": 0x10,
         "functional_group": 0x33, "readiness_group": 0x01,
         "snapshots": {1: {0x4711: D1}, 2: {0x4711: D2, 0xF190: b"VIN"}},
         "extended": {0x05: b"\x17\x18", 0x91: b"\x91"},
         "stored_data": {0x01: {0x4711: b"\xAA\xBB\xCC"}}},
        {"code": 0x789ABC, "status": 0x2F, "severity": 0x20, "functional_unit": 0x11,
         "functional_group": 0x33, "permanent": True,
         "snapshots": {1: {0x4711: b"\x07\x08\x09"}},
         "extended": {0x91: b"\x92"},
         "stored_data": {0x02: {0x4711: b"\xDD\xEE\xFF"}}},
        {"code": 0x234561, "status": 0x24, "severity": 0x00, "functional_group": 0xD0,
         "extended": {0x05: b"\x27\x28", 0x91: b"\x93"}},
    ]}


def _srv(raw=None, **kw):
    return _server(raw if raw is not None else _full(), **kw)


def _ask(s, req, functional=False):
    return hexs(_run(s, h(req), functional))


# ---- §14 vectors ------------------------------------------------------------
def test_v27_clear_all_without_dtcs():
    assert _ask(_srv({}), "14 FF FF FF") == "54"


def test_v28_number_of_dtc_by_status_mask_example1():
    s = _srv({"dtcs": [{"code": 0x080511, "status": 0x24}, {"code": 0x0A9B17, "status": 0x26},
                       {"code": 0x25221F, "status": 0x2F}],
              "dtc": {"availability_mask": 0x2F, "format": 0x01}})
    assert _ask(s, "19 01 08") == "59 01 2F 01 00 01"


def test_v29_dtc_by_status_mask_example2_unsupported_bit_ignored():
    s = _srv({"dtcs": [{"code": 0x0A9B17, "status": 0x24}, {"code": 0x25221F, "status": 0x00},
                       {"code": 0x080511, "status": 0x2F}],
              "dtc": {"availability_mask": 0x7F}})
    # mask 0x84: bit 7 unsupported, bit 2 (pending) matches two DTCs.
    assert _ask(s, "19 02 84") == "59 02 7F 0A 9B 17 24 08 05 11 2F"


def test_v30_dtc_by_status_mask_example3_no_match():
    s = _srv({"dtcs": [{"code": 0x25221F, "status": 0x24}, {"code": 0x0A9B17, "status": 0x00}],
              "dtc": {"availability_mask": 0x7F}})
    assert _ask(s, "19 02 01") == "59 02 7F"


def test_v31_withdrawn_mirror_memory_sub_functions():
    # ISO 14229-1:2020 (not in provided text): 0x0F-0x13 withdrawn.
    s = _srv()
    assert _ask(s, "19 0F 08") == "7F 19 12"
    for sf in (0x10, 0x11, 0x12, 0x13, 0x00, 0x1B, 0x7F):
        assert _ask(s, "19 %02X FF" % sf) == "7F 19 12"


# ---- every sub-function, byte-exact ----------------------------------------------
def test_01_07_counts():
    s = _srv()
    assert _ask(s, "19 01 04") == "59 01 FF 01 00 03"
    assert _ask(s, "19 01 01") == "59 01 FF 01 00 01"
    # 07: severity 0x40 and 0x20 match C0 ... only the status-matching ones count
    assert _ask(s, "19 07 C0 04") == "59 07 FF 01 00 01"
    assert _ask(s, "19 07 60 04") == "59 07 FF 01 00 02"
    assert _ask(s, "19 07 60 00") == "59 07 FF 01 00 00"


def test_02_0a_15_lists():
    s = _srv()
    assert _ask(s, "19 02 08") == "59 02 FF 78 9A BC 2F"
    assert _ask(s, "19 0A") == "59 0A FF 12 34 56 24 78 9A BC 2F 23 45 61 24"
    assert _ask(s, "19 15") == "59 15 FF 78 9A BC 2F"


def test_03_snapshot_identification_example4():
    assert _ask(_srv(), "19 03") == "59 03 12 34 56 01 12 34 56 02 78 9A BC 01"


def test_04_snapshot_by_dtc_example5():
    s = _srv()
    assert _ask(s, "19 04 12 34 56 01") == "59 04 12 34 56 24 01 01 47 11 01 02 03"
    # two DIDs, sorted by DID
    assert _ask(s, "19 04 12 34 56 02") == \
        "59 04 12 34 56 24 02 02 47 11 04 05 06 F1 90 56 49 4E"
    # FF: every record, ascending, DTC and status once (§12.3.1.5)
    assert _ask(s, "19 04 12 34 56 FF") == \
        "59 04 12 34 56 24 01 01 47 11 01 02 03 02 02 47 11 04 05 06 F1 90 56 49 4E"
    # valid record number, no data for this DTC: DTC and status only
    assert _ask(s, "19 04 23 45 61 01") == "59 04 23 45 61 24"
    assert _ask(s, "19 04 23 45 61 FF") == "59 04 23 45 61 24"
    # unknown DTC / record number nobody supports: 31
    assert _ask(s, "19 04 99 99 99 01") == "7F 19 31"
    assert _ask(s, "19 04 12 34 56 03") == "7F 19 31"


def test_05_stored_data_by_record_number():
    s = _srv()
    assert _ask(s, "19 05 01") == "59 05 01 12 34 56 24 01 47 11 AA BB CC"
    assert _ask(s, "19 05 FF") == \
        "59 05 01 12 34 56 24 01 47 11 AA BB CC 02 78 9A BC 2F 01 47 11 DD EE FF"
    assert _ask(s, "19 05 03") == "7F 19 31"
    _ask(s, "14 12 34 56")
    # valid but empty: the record number echoed only (§12.3.1.6)
    assert _ask(s, "19 05 01") == "59 05 01"


def test_06_ext_data_by_dtc():
    s = _srv()
    assert _ask(s, "19 06 12 34 56 05") == "59 06 12 34 56 24 05 17 18"
    assert _ask(s, "19 06 12 34 56 FF") == "59 06 12 34 56 24 05 17 18 91 91"
    assert _ask(s, "19 06 12 34 56 FE") == "59 06 12 34 56 24 91 91"
    assert _ask(s, "19 06 78 9A BC 05") == "59 06 78 9A BC 2F"   # valid, no data
    assert _ask(s, "19 06 12 34 56 06") == "7F 19 31"
    assert _ask(s, "19 06 12 34 57 05") == "7F 19 31"


def test_06_fe_without_obd_records_is_31():
    s = _srv({"dtcs": [{"code": 0x010203, "status": 0x24, "extended": {1: b"\x01"}}]})
    assert _ask(s, "19 06 01 02 03 FE") == "7F 19 31"          # §12.3.1.7
    assert _ask(s, "19 06 01 02 03 FF") == "59 06 01 02 03 24 01 01"


def test_08_09_severity():
    s = _srv()
    assert _ask(s, "19 08 C0 FF") == "59 08 FF 40 10 12 34 56 24"
    assert _ask(s, "19 08 60 08") == "59 08 FF 20 11 78 9A BC 2F"
    assert _ask(s, "19 09 78 9A BC") == "59 09 FF 20 11 78 9A BC 2F"
    assert _ask(s, "19 09 00 00 01") == "7F 19 31"


def test_0b_to_0e_first_and_most_recent():
    s = _srv()
    for sf in ("0B", "0C", "0D", "0E"):
        assert _ask(s, "19 " + sf) == "59 %s FF" % sf           # example #13
    st = s.dtc_store
    st.report_test_result(0, 0x234561, True)
    st.report_test_result(0, 0x123456, True)
    assert _ask(s, "19 0B") == "59 0B FF 23 45 61 2F"
    assert _ask(s, "19 0D") == "59 0D FF 12 34 56 2F"
    assert _ask(s, "19 0C") == "59 0C FF 23 45 61 2F"
    assert _ask(s, "19 0E") == "59 0E FF 12 34 56 2F"
    assert _ask(s, "14 FF FF FF") == "54"
    for sf in ("0B", "0C", "0D", "0E"):
        assert _ask(s, "19 " + sf) == "59 %s FF" % sf


def test_14_fault_detection_counter():
    s = _srv()
    assert _ask(s, "19 14") == "59 14"
    s.dtc_store.primary.report_prefailed(0x789ABC, 0x20)
    s.dtc_store.primary.report_prefailed(0x234561, -5)
    assert _ask(s, "19 14") == "59 14 78 9A BC 20"


def test_16_ext_data_by_record_number_example15():
    s = _srv()
    assert _ask(s, "19 16 05") == "59 16 05 12 34 56 24 17 18 23 45 61 24 27 28"
    assert _ask(s, "19 16 07") == "7F 19 31"
    assert _ask(s, "19 16 FF") == "7F 19 31"


def test_17_18_19_user_defined_memory():
    raw = _full()
    raw["dtc"] = {"user_memories": {0x10: [
        {"code": 0xABCDEF, "status": 0x09, "snapshots": {3: {0x0101: b"\x55"}},
         "extended": {0x20: b"\x66\x77"}}]}}
    s = _srv(raw)
    assert _ask(s, "19 17 FF 10") == "59 17 10 FF AB CD EF 09"
    assert _ask(s, "19 17 04 10") == "59 17 10 FF"
    assert _ask(s, "19 17 FF 11") == "7F 19 31"
    assert _ask(s, "19 18 AB CD EF 03 10") == "59 18 10 AB CD EF 09 03 01 01 01 55"
    assert _ask(s, "19 18 AB CD EF FF 10") == "59 18 10 AB CD EF 09 03 01 01 01 55"
    assert _ask(s, "19 18 12 34 56 01 10") == "7F 19 31"      # not in that memory
    assert _ask(s, "19 19 AB CD EF 20 10") == "59 19 10 AB CD EF 09 20 66 77"
    assert _ask(s, "19 19 AB CD EF 21 10") == "7F 19 31"
    # 0x14 with MemorySelection clears only that memory (§12.3.1.17)
    assert _ask(s, "14 FF FF FF 10") == "54"
    assert _ask(s, "19 17 FF 10") == "59 17 10 FF AB CD EF 50"
    assert _ask(s, "19 02 08") == "59 02 FF 78 9A BC 2F"
    assert _ask(s, "14 FF FF FF 11") == "7F 14 31"


def test_1a_supported_ext_data_record_example16():
    s = _srv()
    assert _ask(s, "19 1A 91") == "59 1A FF 91 12 34 56 24 78 9A BC 2F 23 45 61 24"
    assert _ask(s, "19 1A 05") == "59 1A FF 05 12 34 56 24 23 45 61 24"
    assert _ask(s, "19 1A 06") == "7F 19 31"
    assert _ask(s, "19 1A FE") == "7F 19 31"


def test_42_55_56_wwh_obd():
    s = _srv()
    s.dtc_store.cfg.format = 0x04
    assert _ask(s, "19 42 33 08 FF") == "59 42 33 FF FF 04 20 78 9A BC 2F"
    assert _ask(s, "19 42 33 04 40") == "59 42 33 FF FF 04 40 12 34 56 24"
    assert _ask(s, "19 42 44 FF FF") == "7F 19 31"
    assert _ask(s, "19 55 33") == "59 55 33 FF 04 78 9A BC 2F"
    assert _ask(s, "19 55 D0") == "59 55 D0 FF 04"
    assert _ask(s, "19 56 33 01") == "59 56 33 FF 04 01 12 34 56 24"
    assert _ask(s, "19 56 33 02") == "7F 19 31"


# ---- lengths, order of checks -----------------------------------------------------
_LENS = ((0x01, 3), (0x02, 3), (0x03, 2), (0x04, 6), (0x05, 3), (0x06, 6), (0x07, 4),
         (0x08, 4), (0x09, 5), (0x0A, 2), (0x0B, 2), (0x0C, 2), (0x0D, 2), (0x0E, 2),
         (0x14, 2), (0x15, 2), (0x16, 3), (0x17, 4), (0x18, 7), (0x19, 7), (0x1A, 3),
         (0x42, 5), (0x55, 3), (0x56, 4))


def test_every_sub_function_wrong_length_is_13():
    s = _srv()
    for sf, n in _LENS:
        assert _run(s, bytes((0x19, sf)) + bytes(n - 1)) == h("7F 19 13"), sf
        if n > 2:
            assert _run(s, bytes((0x19, sf)) + bytes(n - 3)) == h("7F 19 13"), sf


def test_order_sf_before_length_before_data():
    s = _srv()
    assert _ask(s, "19") == "7F 19 13"
    assert _ask(s, "19 0F") == "7F 19 12"                 # unsupported SF and short: 12
    assert _ask(s, "19 04 99 99 99") == "7F 19 13"        # short and unknown DTC: 13
    assert _ask(s, "19 04 99 99 99 01 00") == "7F 19 13"


def test_clear_order_and_nrcs():
    s = _srv()
    assert _ask(s, "14 FF FF") == "7F 14 13"
    assert _ask(s, "14 FF FF FF 00 00") == "7F 14 13"
    assert _ask(s, "14 99 99") == "7F 14 13"              # short and unknown group: 13
    assert _ask(s, "14 99 99 99") == "7F 14 31"
    s.cond = 0x22
    assert _ask(s, "14 99 99 99") == "7F 14 31"           # unknown group before conditions
    assert _ask(s, "14 FF FF FF") == "7F 14 22"
    s.nvm.fail_writes = True
    assert _ask(s, "14 FF FF FF") == "7F 14 22"           # conditions before NVM
    s.cond = 0
    assert _ask(s, "14 FF FF FF") == "7F 14 72"
    s.nvm.fail_writes = False
    assert _ask(s, "14 FF FF FF") == "54"


def test_clear_single_dtc_and_groups():
    s = _srv()
    assert _ask(s, "14 12 34 56") == "54"
    assert _ask(s, "19 0A") == "59 0A FF 12 34 56 50 78 9A BC 2F 23 45 61 24"
    assert _ask(s, "19 03") == "59 03 78 9A BC 01"
    assert _ask(s, "14 FF FF D0") == "54"                 # safety group: 234561
    assert _ask(s, "19 02 24") == "59 02 FF 78 9A BC 2F"
    assert _ask(s, "14 FF FF 33") == "54"                 # emissions group
    assert _ask(s, "19 02 FF") == "59 02 FF 12 34 56 50 78 9A BC 50 23 45 61 50"


def test_clear_vm_group():
    raw = _full()
    raw["dtc"] = {"groups": {0x100000: [0x123456, 0x234561]}}
    s = _srv(raw)
    assert _ask(s, "14 10 00 00") == "54"
    assert _ask(s, "19 02 20") == "59 02 FF 78 9A BC 2F"


def test_sprmib_and_functional_suppression():
    s = _srv()
    assert _ask(s, "19 81 08") is None
    assert _ask(s, "19 84 99 99 99 01") == "7F 19 31"           # NR ignores SPRMIB
    assert _ask(s, "19 04 99 99 99 01", True) is None           # 31 suppressed
    assert _ask(s, "19 04 99 99 99", True) == "7F 19 13"        # 13 is not
    assert _ask(s, "14 99 99 99", True) is None


def test_response_too_long_is_14():
    s = _srv(max_pdu=10)
    assert _ask(s, "19 02 FF") == "7F 19 14"
    assert _ask(s, "19 01 FF") == "59 01 FF 01 00 03"


def test_duplicate_dtc_refused():
    raw = {"dtcs": [{"code": 1, "status": 0}, {"code": 1, "status": 0}]}
    assert raises(ConfigError, _srv, raw)


def test_bad_profile_fields_name_the_field():
    try:
        _srv({"dtcs": [{"code": 1, "status": 0, "functional_group": 0x100}]})
        assert False
    except ConfigError as e:
        assert "dtcs[0].functional_group" in str(e)


# ---- no allocation on the read paths ---------------------------------------------
_S = None
_REQS = []
_RES = [0] * 10


def _locked_reads():
    i = 0
    for req in _REQS:
        _RES[i] = srv_dtc.handle_read(_S, 0, req, len(req), False)
        i += 1


def test_read_paths_do_not_allocate():
    global _S
    _S = _srv()
    _REQS[:] = [memoryview(h(r)) for r in (
        "19 01 FF", "19 02 FF", "19 04 12 34 56 FF", "19 06 12 34 56 FF", "19 0A",
        "19 03", "19 05 FF", "19 08 FF FF", "19 16 05", "19 42 33 FF FF")]
    run_locked(_locked_reads)
    assert _RES[0] == 6 and _RES[1] == 15 and _RES[2] == 25 and _RES[3] == 11
    assert bytes(_S.rsp[:6]) == h("59 42 33 FF FF 01")
