# Profile validation (uds/server/profile.py): field paths in ConfigError, key and
# byte normalisation for JSON/TOML-shaped input, the example engine profile.
from diagbridge.errors import ConfigError
from diagbridge.uds.server.profile import Profile, to_bytes, key_int
from diagbridge.uds.server.service import NON_DEFAULT
from diagbridge.uds.server.profiles import engine
from diagbridge.uds.server.services import specs as service_specs
from diagbridge.uds.server.services.transfer import set_file_store
from diagbridge.uds.server.file_store import MemFileStore
from diagbridge.uds.codec.transfer import build_request_file_transfer, MOP_DELETE_FILE
from diagbridge.uds.seedkey import compute_key
from test_uds_server import Ecu, make_profile, hexstr


def _err(d):
    try:
        Profile(d)
    except ConfigError as e:
        return str(e)
    return None


def test_errors_name_the_field():
    assert _err({"dids": {0xF190: {"length": 17, "value": "SHORT"}}}) == "dids.0xF190.value"
    assert _err({"dids": {"0xF190": {"value": "X"}}}) == "dids.0xF190.length"
    assert _err({"dids": {"nope": {}}}) == "dids"
    assert _err({"sessions": {3: {"p2star_ms": 5005}}}) == "sessions.0x03.p2star_ms"
    assert _err({"security": {"levels": {2: {}}}}) == "security.levels.0x02"
    assert _err({"security": {"levels": {1: {"fixed_seed": b"\x00\x00"}}}}) == \
        "security.levels.0x01.fixed_seed"
    assert _err({"memory": [{"start": 0, "size": 0}]}) == "memory.0.size"
    assert _err({"addresses": {"format": "weird"}}) == "addresses.format"
    assert _err({"dtcs": [{"code": 0x1000000}]}) == "dtcs.0.code"
    assert _err({"dtcs": [{"code": 1, "extended": {1: 5}}]}) == "dtcs.0.extended.1"
    assert _err({"routines": {0xFF00: {"kind": "boil"}}}) == "routines.0xFF00.kind"
    assert _err({"io_controls": {0x9B00: {"length": 2, "default": b"\x01"}}}) == \
        "io_controls.0x9B00.default"
    assert _err({"transfer": {"download_regions": [{"start": 0}]}}) == \
        "transfer.download_regions.0.size"
    assert _err([]) == "profile"


def test_json_shaped_input_is_normalised():
    p = Profile({
        "sessions": {"1": {}, "0x03": {"p2_ms": 20}},
        "security": {"levels": {"0x01": {"secret": [1, 2, 3], "sessions": [3]}}},
        "dids": {"0xF190": {"length": 2, "value": {"hex": "41 42"},
                            "write": {"sessions": "non_default"}}},
        "dtcs": [{"code": "0x012300", "status": 47,
                  "snapshots": {"1": {"0x0100": [1, 2]}}, "extended": {"1": "A"}}],
        "routines": {"0xFF00": {"kind": "erase", "sessions": ["2"], "result": [0]}},
        "io_controls": {"0x9B00": {"length": 1}},
        "transfer": {"download_regions": [{"start": 65536, "size": 16}]},
    })
    assert p.sessions[3].p2_ms == 20 and p.sessions[1].p2_ms is None
    assert p.security_levels[1].secret == b"\x01\x02\x03"
    assert p.dids[0xF190].value == b"AB" and p.dids[0xF190].write.sessions == NON_DEFAULT
    d = p.dtcs[0]
    assert d["code"] == 0x012300 and d["severity"] == 0
    assert d["snapshots"] == {1: {0x0100: b"\x01\x02"}} and d["extended"] == {1: b"A"}
    assert p.routines[0xFF00]["sessions"] == (2,) and p.routines[0xFF00]["result"] == b"\x00"
    assert p.io_controls[0x9B00]["default"] == b"\x00"
    assert p.transfer["download_regions"][0]["erase_us_per_kib"] == 0
    assert p.dtc == {"availability_mask": 0xFF, "format": 0x01}
    assert 0xF186 in p.dids and 0xFF00 in p.dids            # built-in DIDs added


def test_helpers():
    assert key_int("0x1A", "x") == 26 and key_int("26", "x") == 26 and key_int(26, "x") == 26
    assert to_bytes("AB", "x") == b"AB" and to_bytes([1], "x") == b"\x01"
    assert to_bytes({"hex": "0a0B"}, "x") == b"\x0a\x0b"
    for bad in ({"hex": "0"}, [256], 3.5, {"hex": "zz"}):
        try:
            to_bytes(bad, "x")
            assert False, bad
        except ConfigError:
            pass


def test_raw_is_kept():
    d = make_profile()
    assert Profile(d).raw is d


def test_engine_profile_validates_and_serves():
    state = engine.EngineState()
    prof = Profile(engine.profile(), sources=engine.sources(state))
    assert len(prof.dtcs) == 20 and prof.dtcs[0]["snapshots"][1][0x0100] == b"\x25\x80"
    assert prof.addresses == {"rx_id": 0x7E0, "tx_id": 0x7E8, "functional_id": 0x7DF,
                              "format": "normal", "ext_addr": None}
    assert prof.transfer["download_regions"][0]["start"] == 0x00010000
    assert 0xFF00 in prof.routines and 0x9B00 in prof.io_controls
    e = _engine_ecu(state)
    assert e.one("22 F1 90") == "62 F1 90 57 30 4C 30 30 30 30 34 33 4D 42 35 34 31 33 32 36"
    assert e.one("22 01 00 01 01") == "62 01 00 0D 48 01 01 80"   # 850 rpm, 88 degC
    state.rpm = 2000
    assert e.one("22 01 00") == "62 01 00 1F 40"
    assert e.one("24 01 05") == "64 01 05 01 95 00 E0 4B 00 1E A1 30"
    assert e.one("10 40") == "7F 10 7E"                         # EOL only from extended
    e.one("10 03")
    assert e.one("10 40") == "50 40 00 64 01 F4"
    seed = e.one("27 01")
    assert seed.startswith("67 01") and len(seed.split()) == 6


def _engine_ecu(state=None):
    """The engine profile on a server with every module it names."""
    p = engine.profile()
    return Ecu(p, sources=engine.sources(state or engine.EngineState()),
               specs=[service_specs(name) for name in p["modules"]])


def _unlock(e, level):
    seed = bytes.fromhex(e.one("27 %02X" % level)[6:])
    cfg = e.prof.security_levels[level]
    key = bytearray(cfg.key_len)
    compute_key(cfg.algorithm, seed, cfg.seed_len, cfg.secret, key)
    assert e.one("27 %02X %s" % (level + 1, hexstr(key))) == "67 %02X" % (level + 1)


def _delete(path):
    out = bytearray(64)
    return hexstr(out, build_request_file_transfer(out, MOP_DELETE_FILE, path))


_DOWNLOAD = "34 00 44 00 01 00 00 00 00 10 00"    # 4 KiB at 0x00010000
_UPLOAD = "35 00 44 00 01 00 00 00 00 01 00"
_ERASE = "31 01 FF 00 44 00 01 00 00 00 00 10 00"


def test_engine_profile_refuses_changes_while_security_is_locked():
    # what users copy: programming, file transfer and writes answer 0x33
    # securityAccessDenied until a level is unlocked, and change nothing
    e = _engine_ecu()
    store = MemFileStore()
    store.add("cal/map.bin", b"\x01\x02\x03")
    set_file_store(e.srv, store)
    assert e.one("10 02") == "50 02 00 32 01 F4"        # programming session, locked
    assert e.one(_DOWNLOAD) == "7F 34 33"
    assert e.one(_UPLOAD) == "7F 35 33"
    assert e.one(_ERASE) == "7F 31 33"
    assert e.one(_delete(b"cal/map.bin")) == "7F 38 33"
    assert e.one("36 01 00") == "7F 36 24"              # no download was started
    e.one("10 01")
    assert e.one("10 03") == "50 03 00 32 01 F4"        # extended session, locked
    assert e.one("2E F1 99 25 01 01") == "7F 2E 33"
    assert e.one("2E 02 00 03 20") == "7F 2E 33"
    assert e.one("3D 14 20 00 00 00 01 AA") == "7F 3D 33"
    assert e.one(_delete(b"cal/map.bin")) == "7F 38 33"
    assert store.content("cal/map.bin") == b"\x01\x02\x03"
    assert e.one("22 F1 99") == "62 F1 99 24 03 15"
    assert e.one("22 02 00") == "62 02 00 03 52"
    assert e.one("23 14 20 00 00 00 01") == "63 00"


def test_engine_profile_accepts_them_once_unlocked():
    e = _engine_ecu()
    store = MemFileStore()
    store.add("cal/map.bin", b"\x01\x02\x03")
    set_file_store(e.srv, store)
    e.one("10 03")
    _unlock(e, 0x01)                                    # extended: level 01
    assert e.one("2E F1 99 25 01 01") == "6E F1 99"
    assert e.one("2E 02 00 03 20") == "6E 02 00"
    assert e.one("3D 14 20 00 00 00 01 AA") == "7D 14 20 00 00 00 01"
    assert e.one(_delete(b"cal/map.bin")) == "78 02"
    assert store.size("cal/map.bin") == -1
    assert e.one(_DOWNLOAD) == "7F 34 33"               # level 01 does not program
    e.one("10 01")
    e.one("10 02")
    assert e.one(_DOWNLOAD) == "7F 34 33"               # the session change re-locked
    _unlock(e, 0x03)                                    # programming: level 03
    assert e.one(_UPLOAD) == "75 20 08 02"      # maxNumberOfBlockLength 0x802
    e.one("10 02")                                      # aborts the upload, re-locks
    assert e.one(_DOWNLOAD) == "7F 34 33"
    _unlock(e, 0x03)
    assert e.one(_DOWNLOAD) == "74 20 08 02"


def test_engine_profile_security_knobs_are_validated():
    # download/upload region "levels" are normalised like every level list
    p = engine.profile()
    p["transfer"]["download_regions"][0]["levels"] = ["0x03"]
    assert Profile(p).transfer["download_regions"][0]["levels"] == (0x03,)
    p["transfer"]["upload_regions"][0]["levels"] = [0x100]
    assert _err(p) == "transfer.upload_regions.0.levels"
    # a services override needs a module that serves the SID: the engine's
    # 0x38 lock without the transfer module is a clear error, not ignored
    p = engine.profile()
    p["modules"].remove("transfer")
    try:
        Ecu(p, sources=engine.sources(engine.EngineState()),
            specs=[service_specs(name) for name in p["modules"]])
    except ConfigError as e:
        assert str(e) == "services.0x38"
    else:
        assert False, "no ConfigError"
