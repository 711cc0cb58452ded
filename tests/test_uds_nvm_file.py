"""diagbridge.cpy.nvm_file.FileNvm (CPython only): a write cut at every byte
leaves the old or the new value, never garbage; corruption falls back or is
reported.  Also the JSON/TOML profile loader."""
import json
import os
import shutil
import sys

import pytest

from diagbridge.cpy.nvm_file import FileNvm, encode_record, decode_record
from diagbridge.cpy.profile_file import load_profile
from diagbridge.errors import ConfigError
from diagbridge.uds.server import UdsServer
from diagbridge.uds import srv_session, srv_security, srv_data, srv_memory

OLD = b"W0L000043MB541326"
NEW = b"WVWZZZ1JZXW000001"


def _slot(nvm, key, slot):
    return nvm._path(key, slot)


def test_round_trip_and_persistence(tmp_path):
    n = FileNvm(str(tmp_path))
    assert n.get("did:F190") is None and n.keys() == []
    n.put("did:F190", OLD)
    n.put("sa", b"\x01\x00\x00")
    n.put("did:F190", NEW)
    n2 = FileNvm(str(tmp_path))
    assert n2.get("did:F190") == NEW and n2.keys() == ["did:F190", "sa"]
    n2.delete("sa")
    assert FileNvm(str(tmp_path)).keys() == ["did:F190"]
    with pytest.raises(TypeError):
        n.put(1, b"")


def test_generations_alternate_between_slots(tmp_path):
    n = FileNvm(str(tmp_path))
    for i in range(5):
        n.put("k", bytes([i]))
    recs = [decode_record(open(_slot(n, "k", s), "rb").read()) for s in (0, 1)]
    assert sorted(r[0] for r in recs) == [4, 5]
    assert n.get("k") == b"\x04"


@pytest.mark.parametrize("writes_before", [1, 2, 3])
def test_torn_slot_at_every_byte(tmp_path, writes_before):
    base = tmp_path / "base"
    n = FileNvm(str(base))
    values = [OLD[:i + 5] for i in range(writes_before)]
    for v in values:
        n.put("did:F190", v)
    old = values[-1]
    best = n._newest("did:F190")
    target = 0 if best[2] == 1 else 1
    record = encode_record(best[0] + 1, NEW)
    for cut in range(len(record) + 1):
        d = tmp_path / ("cut%d" % cut)
        shutil.copytree(base, d)
        m = FileNvm(str(d))
        with open(_slot(m, "did:F190", target), "wb") as f:
            f.write(record[:cut])               # the slot torn at byte `cut`
        got = FileNvm(str(d)).get("did:F190")
        assert got == (NEW if cut == len(record) else old), cut
        shutil.rmtree(d)


def test_torn_temp_file_at_every_byte(tmp_path):
    n = FileNvm(str(tmp_path))
    n.put("k", OLD)
    record = encode_record(2, NEW)
    tmp = _slot(n, "k", 1) + ".tmp"
    for cut in range(len(record) + 1):
        with open(tmp, "wb") as f:
            f.write(record[:cut])               # crash before the rename
        m = FileNvm(str(tmp_path))
        assert m.get("k") == OLD and not os.path.exists(tmp)


def test_crash_inside_put_keeps_the_old_value(tmp_path, monkeypatch):
    n = FileNvm(str(tmp_path))
    n.put("k", OLD)

    def boom(src, dst):
        raise OSError("power lost")
    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        n.put("k", NEW)
    monkeypatch.undo()
    assert FileNvm(str(tmp_path)).get("k") == OLD


def test_corruption_falls_back_or_is_reported(tmp_path):
    n = FileNvm(str(tmp_path))
    n.put("k", OLD)
    n.put("k", NEW)
    newest = n._newest("k")[2]
    for slot in (newest, 1 - newest):
        path = _slot(n, "k", slot)
        data = bytearray(open(path, "rb").read())
        data[20] ^= 0x01                        # one flipped bit in the value
        open(path, "wb").write(bytes(data))
        m = FileNvm(str(tmp_path))
        if slot == newest:
            assert m.get("k") == OLD            # the previous generation
        else:
            assert m.get("k") is None and "k" in m.corrupt_keys
    with pytest.raises(OSError):
        FileNvm(str(tmp_path), strict=True).get("k")
    n.put("k", OLD)                             # a good write heals the key
    assert FileNvm(str(tmp_path), strict=True).get("k") == OLD


def test_decode_rejects_every_prefix_and_garbage():
    rec = encode_record(7, NEW)
    assert decode_record(rec) == (7, NEW)
    for cut in range(len(rec)):
        assert decode_record(rec[:cut]) is None
    assert decode_record(rec + b"\x00") is None
    assert decode_record(b"XXXX" + rec[4:]) is None


def _profile_dict():
    return {
        "sessions": {"1": {}, "3": {}},
        "security": {"levels": {"1": {"fixed_seed": [0x36, 0x57],
                                      "algorithm": "twos_complement"}}},
        "dids": {"0xF190": {"length": 17, "value": OLD.decode(),
                            "write": {"sessions": [3], "levels": [1]}}},
    }


def _req(srv, hexs):
    data = bytes.fromhex(hexs)
    srv.feed_pdu(0, data, len(data), False)
    out = bytearray(64)
    n = srv.pop_pdu(out)
    return out[:n].hex(" ").upper()


def test_server_on_file_nvm_and_json_profile(tmp_path):
    path = tmp_path / "ecu.json"
    path.write_text(json.dumps(_profile_dict()))
    specs = [srv_session.SPECS, srv_security.SPECS, srv_data.SPECS, srv_memory.SPECS]
    srv = UdsServer(load_profile(str(path)), nvm=FileNvm(str(tmp_path / "nvm")), specs=specs)
    assert _req(srv, "10 03").startswith("50 03")
    assert _req(srv, "27 01") == "67 01 36 57"
    assert _req(srv, "27 02 C9 A9") == "67 02"
    assert _req(srv, "2E F1 90 " + NEW.hex()) == "6E F1 90"
    srv2 = UdsServer(load_profile(str(path)), nvm=FileNvm(str(tmp_path / "nvm")), specs=specs)
    assert _req(srv2, "22 F1 90") == "62 F1 90 " + NEW.hex(" ").upper()


@pytest.mark.skipif(sys.version_info < (3, 11), reason="tomllib is 3.11+")
def test_toml_profile(tmp_path):
    path = tmp_path / "ecu.toml"
    path.write_text('name = "t"\n[sessions.1]\n[sessions.3]\np2_ms = 20\n'
                    '[dids.0xF190]\nlength = 3\nvalue = "ABC"\n')
    p = load_profile(str(path))
    assert p.name == "t" and p.sessions[3].p2_ms == 20 and p.dids[0xF190].value == b"ABC"


def test_profile_file_errors(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    with pytest.raises(ConfigError):
        load_profile(str(bad))
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps({"dids": {"0xF190": {"length": 2, "value": "ABC"}}}))
    with pytest.raises(ConfigError, match="dids.0xF190.value"):
        load_profile(str(wrong))
