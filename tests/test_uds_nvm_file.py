"""diagbridge.cpy.nvm_file.FileNvm (CPython only): a write cut at every byte
leaves the old or the new value, never garbage; corruption falls back or is
reported.  Also the JSON/TOML profile loader."""
import json
import os
import shutil
import sys

import pytest

from diagbridge.cpy.nvm_file import FileNvm, encode_record, decode_record
from diagbridge.cpy.ecu.profile_file import load_profile
from diagbridge.errors import ConfigError
from diagbridge.uds.server.core import UdsServer
from diagbridge.uds.server.services import session as srv_session
from diagbridge.uds.server.services import security as srv_security
from diagbridge.uds.server.services import data as srv_data
from diagbridge.uds.server.services import memory as srv_memory

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


# ---- deferred writes (put_nowait / sync): RequestTransferExit never waits on fsync --------
def _fsyncs(monkeypatch, gate=None):
    """Count os.fsync calls; with a threading.Event gate, block them until it is set."""
    calls = []
    real = os.fsync

    def fsync(fd):
        if gate is not None:
            gate.wait(10)
        calls.append(fd)
        real(fd)
    monkeypatch.setattr(os, "fsync", fsync)
    return calls


def test_put_nowait_defers_every_fsync_to_one_sync(tmp_path, monkeypatch):
    calls = _fsyncs(monkeypatch)
    n = FileNvm(str(tmp_path))
    for i in range(8):
        n.put_nowait("mem.%d" % i, bytes([i]) * 4096)
    assert calls == [] and n.get("mem.3") == b"\x03" * 4096    # readable at once
    n.sync_start()
    assert n.sync_poll() in (0, 1)
    n.sync()                                                    # waits for the same one
    assert n.sync_poll() == 0
    assert len(calls) == 8 + 1                                  # each file + the folder once
    assert FileNvm(str(tmp_path)).get("mem.7") == b"\x07" * 4096
    del calls[:]
    n.put("did", OLD)                                           # put stays durable at once
    assert len(calls) == 2


def test_a_key_is_synced_before_its_other_slot_is_overwritten(tmp_path, monkeypatch):
    n = FileNvm(str(tmp_path))
    n.put("k", OLD)                                             # durable, slot 0
    calls = _fsyncs(monkeypatch)
    n.put_nowait("k", b"A" * 17)                                # slot 1, not synced
    assert calls == []
    n.put_nowait("k", NEW)                                      # would overwrite slot 0 ...
    assert len(calls) == 2                                      # ... so slot 1 was synced first
    best = n._newest("k")
    assert best[1] == NEW
    with open(_slot(n, "k", best[2]), "wb") as f:               # the unsynced write is lost
        f.write(b"DBNV\x00")
    assert FileNvm(str(tmp_path)).get("k") == b"A" * 17         # the durable one, not garbage


def test_sync_failure_is_reported(tmp_path, monkeypatch):
    n = FileNvm(str(tmp_path))
    n.put_nowait("k", OLD)

    def broken(fd):
        raise OSError(5, "EIO")
    monkeypatch.setattr(os, "fsync", broken)
    n.sync_start()
    with pytest.raises(OSError):
        n.sync()                                                # the failure of that sync
    n.sync_start()                                              # nothing new to sync
    assert n.sync_poll() == 0
    n.put_nowait("k", NEW)
    n.sync_start()
    while n.sync_poll() == 1:                                   # fails at its first fsync
        pass
    assert n.sync_poll() == -1
    n.put_nowait("j", NEW)
    with pytest.raises(OSError):
        n.sync()


def test_transfer_exit_answers_0x78_while_the_file_nvm_syncs(tmp_path, monkeypatch):
    """A 1 MiB download into a FileNvm whose fsyncs hang: TransferData and the
    0x37 handler make no fsync; 7F 37 78 goes out at P2, 77 once the sync ends."""
    import threading
    from uds_xfer_driver import make, ask, h, run, T0
    from diagbridge.clock import ticks_add
    from diagbridge.uds.server.services import transfer as srv_transfer
    gate = threading.Event()
    nvm = FileNvm(str(tmp_path))
    profile = {"transfer": {"download_regions": [{"start": 0, "size": 0x100000}],
                            "max_block_length": 0x802}}
    s = make(profile, [srv_transfer.SPECS], session=2, nvm=nvm)
    calls = _fsyncs(monkeypatch, gate)      # after the power-up's own write (boot counter)
    assert ask(s, T0, h("34 00 44 00 00 00 00 00 10 00 00")) == h("74 20 08 02")
    block = bytes(range(256)) * 8
    for i in range(512):
        assert ask(s, T0, bytes((0x36, (i + 1) & 0xFF)) + block)[0] == 0x76
    assert ask(s, T0, h("37")) is None and calls == []          # nothing waited on a disk
    assert run(s, T0, 45000) == [(40000, h("7F 37 78"))]        # P2 50 ms - margin 10 ms
    assert nvm.sync_poll() == 1                                 # still syncing
    gate.set()
    t = ticks_add(T0, 45000)
    final = None
    for _ in range(3):              # the sectors' sync, then the slot record's
        nvm.sync()                                              # wait for it (no new sync)
        sent = run(s, t, 10000, True)
        t = ticks_add(t, 10000)
        if sent and sent[-1][1] != h("7F 37 78"):
            final = sent[-1][1]
            break
    assert final == h("77")
    assert len(calls) == 256 + 1 + 1 + 1                        # sectors, folder; record, folder
    assert FileNvm(str(tmp_path)).get("mem.00000000.255.1") == block * 2   # the new slot
