# ReadMemoryByAddress 0x23 and WriteMemoryByAddress 0x3D (§11.3, §11.8).
from diagbridge.uds.server.nvm import MemNvm
from diagbridge.uds.codec.memory import (build_rmba_request, parse_rmba_response,
                                         build_wmba_request, parse_wmba_response, alfid_valid)
from test_uds_server import Ecu, unlock, hexstr


def test_standard_examples():
    e = Ecu()
    # §11.3.5 examples #1-#3: 4-, 2- and 3-byte addressing
    assert e.one("23 24 20 48 13 92 01 03") == "63" + " A5" * 259
    assert e.one("23 12 48 13 05") == "63" + " 11" * 5
    assert e.one("23 13 20 48 13 03") == "63" + " 22" * 3


def test_rmba_nrc_order():
    e = Ecu()
    assert e.one("23 24 20") == "7F 23 13"                 # minimum length first
    assert e.one("23 00 20 48") == "7F 23 31"              # ALFID nibble 0
    assert e.one("23 55 00 00 00 00 00 01 00 00 00 00") == "7F 23 31"   # 5-byte fields
    assert e.one("23 24 20 48 13 92 01") == "7F 23 13"     # valid ALFID, wrong length
    assert e.one("23 24 20 48 13 92 00 00") == "7F 23 31"  # size 0
    assert e.one("23 24 30 00 00 00 00 10") == "7F 23 31"  # outside every region
    assert e.one("23 24 30 00 00 00 00 10", functional=True) is None
    assert e.one("23 12 48 FF 02") == "7F 23 31"           # crosses the region end
    assert e.one("23 12 10 00 04") == "7F 23 34"           # region needs authentication
    assert e.one("23 24 20 48 13 92 10 00") == "7F 23 31"  # more than a response holds


def test_wmba_persisted_and_echoed():
    nvm = MemNvm()
    e = Ecu(nvm=nvm)
    assert e.one("3D 12 10 04 02 AA BB") == "7F 3D 31"     # not writable in default
    unlock(e)
    assert e.one("3D 12 10 04 02 AA BB") == "7D 12 10 04 02"
    e.srv.auth_role = 1
    assert e.one("23 12 10 00 08") == "63 30 31 32 33 AA BB 36 37"
    e2 = Ecu(nvm=nvm.power_cycle())
    e2.srv.auth_role = 1
    assert e2.one("23 12 10 00 08") == "63 30 31 32 33 AA BB 36 37"


def test_wmba_nrc_order():
    e = Ecu()
    e.one("10 03")
    assert e.one("3D 12 10 04") == "7F 3D 13"
    assert e.one("3D 10 10 04 02 AA BB") == "7F 3D 31"     # bad ALFID before length
    assert e.one("3D 12 10 04 02 AA") == "7F 3D 13"        # data shorter than memorySize
    assert e.one("3D 12 10 04 00") == "7F 3D 31"           # size 0
    assert e.one("3D 12 10 0F 02 AA BB") == "7F 3D 31"     # beyond the region
    assert e.one("3D 12 48 00 01 AA") == "7F 3D 31"        # read-only region
    assert e.one("3D 12 10 04 02 AA BB") == "7F 3D 33"
    e.one("27 01")
    e.one("27 02 C9 A9")
    assert e.one("3D 12 10 04 02 AA BB") == "7D 12 10 04 02"


def test_wmba_nvm_failure_rolls_back():
    nvm = MemNvm()
    e = Ecu(nvm=nvm)
    unlock(e)
    nvm.fail_writes = True
    assert e.one("3D 12 10 00 02 AA BB") == "7F 3D 72"
    e.srv.auth_role = 1
    assert e.one("23 12 10 00 02") == "63 30 31"


def test_memory_codecs():
    out = bytearray(32)
    assert hexstr(out, build_rmba_request(out, 0x20481392, 0x103)) == "23 24 20 48 13 92 01 03"
    assert hexstr(out, build_rmba_request(out, 0x4813, 5, 2, 1)) == "23 12 48 13 05"
    assert hexstr(out, build_wmba_request(out, 0x1004, b"\xaa\xbb", 2, 1)) == \
        "3D 12 10 04 02 AA BB"
    assert parse_wmba_response(bytes.fromhex("7D 12 10 04 02"), 5) == (0x1004, 2)
    assert parse_wmba_response(bytes.fromhex("7D 12 10 04"), 4) is None
    assert parse_rmba_response(bytes.fromhex("63 01 02"), 3) == b"\x01\x02"
    assert alfid_valid(0x44) and not alfid_valid(0x05) and not alfid_valid(0x50)
