# diagbridge.mpy.nvm_flash.FlashNvm: the UDS server's NVM on a board's flash
# filesystem, on a real folder under /tmp (the unix port and CPython both
# have one).  A power cut is simulated at every write step of a put -- the
# temp file created, each byte written, the flush, the rename (atomic as on
# littlefs, or remove-then-rename as MicroPython's FAT driver does it), the
# sync -- and after each one a fresh store on the same folder ("the reboot")
# must read the old or the new value, never a torn one, and take new writes.
# Portable: pytest and MicroPython.
import os

from diagbridge.errors import UsageError
from diagbridge.mpy.nvm_flash import FlashNvm, OsFs, key_name
from diagbridge.uds.server.core import UdsServer
from support import raises

OLD = b"\x01\x02\x03\x04"
NEW = b"NEW-VALUE-0123456789"
# FileNvm's record (cpy/nvm_file.py encode_record(3, b"VIN-W0L0")): the same format
GOLDEN = "44424e5600000000000000030000000856494e2d57304c300cec0735"
GOLDEN_EMPTY = "44424e560000000000000001000000006aa458a9"


def _rmtree(path):
    try:
        names = os.listdir(path)
    except OSError:
        return
    for n in names:
        p = path + "/" + n
        try:
            os.remove(p)
        except OSError:
            _rmtree(p)
    os.rmdir(path)


_count = [0]


def _stamp():
    import time
    if hasattr(time, "ticks_us"):
        return time.ticks_us()
    return time.monotonic_ns() // 1000


def _folder():
    """A new, empty folder under /tmp."""
    _count[0] += 1
    # unique per run and per call (not every port has os.urandom); /tmp is
    # made where the filesystem has none (the WebAssembly port's)
    try:
        os.mkdir("/tmp")
    except OSError:
        pass
    name = "/tmp/diagbridge-nvm-flash-%d-%d" % (_stamp(), _count[0])
    _rmtree(name)
    return name


class PowerCut(Exception):
    pass


class _CutFile:
    def __init__(self, fs, f):
        self.fs = fs
        self.f = f

    def write(self, data):
        n = 0
        for i in range(len(data)):
            self.fs.step()
            self.f.write(bytes((data[i],)))
            n += 1
        return n

    def flush(self):
        self.fs.step()
        self.f.flush()

    def read(self):
        return self.f.read()

    def close(self):
        self.f.close()      # a cut file is closed by the test: the data is what reached it


class CutFs(OsFs):
    """OsFs that loses power at write step `cut` (None: never; count them).
    fat=True renames as MicroPython's FAT driver does: remove, then rename."""

    def __init__(self, cut=None, fat=False):
        self.cut = cut
        self.fat = fat
        self.steps = 0
        self.armed = False

    def step(self):
        if self.armed:
            if self.cut is not None and self.steps == self.cut:
                self.armed = False
                raise PowerCut()
            self.steps += 1

    def open(self, path, mode):
        if "w" in mode:
            self.step()
            return _CutFile(self, open(path, mode))
        return open(path, mode)

    def rename(self, old, new):
        if self.fat:
            try:
                os.stat(new)
                self.step()
                os.remove(new)
            except OSError:
                pass
        self.step()
        os.rename(old, new)

    def sync(self):
        self.step()


def _files(folder):
    return sorted(os.listdir(folder))


def test_round_trip_keys_delete_and_a_second_store_on_the_folder():
    d = _folder()
    try:
        n = FlashNvm(d)
        assert n.get("vin") is None and n.keys() == []
        n.put("vin", bytearray(b"W0L000043MB541326"))
        v = n.get("vin")
        assert v == b"W0L000043MB541326" and isinstance(v, bytes)
        n.put("did.0200", b"")
        n.put("sa", b"\x03")
        assert n.keys() == ["did.0200", "sa", "vin"]
        assert n.get("did.0200") == b""
        n.delete("sa")
        n.delete("absent")                          # no error, nothing written
        assert n.keys() == ["did.0200", "vin"] and n.writes == 4
        # power cycle: another store on the same folder sees the same values
        m = FlashNvm(d)
        assert m.get("vin") == b"W0L000043MB541326" and m.keys() == ["did.0200", "vin"]
        assert _files(d) == [key_name("did.0200") + ".0", key_name("vin") + ".0"]
    finally:
        _rmtree(d)


def test_generations_alternate_between_the_two_slots():
    d = _folder()
    try:
        n = FlashNvm(d)
        stem = key_name("k")
        assert stem == "6b"
        for i in range(5):
            n.put("k", bytes((i,)))
            assert n.get("k") == bytes((i,))
        assert _files(d) == [stem + ".0", stem + ".1"]
        # the newest record (generation 5) is in slot 0, generation 4 in slot 1
        f = open(d + "/" + stem + ".0", "rb")
        rec0 = f.read()
        f.close()
        f = open(d + "/" + stem + ".1", "rb")
        rec1 = f.read()
        f.close()
        assert n.decode(rec0) == (5, b"\x04") and n.decode(rec1) == (4, b"\x03")
    finally:
        _rmtree(d)


def test_record_format_is_the_cpython_file_stores():
    d = _folder()
    try:
        n = FlashNvm(d)
        assert n.encode(3, b"VIN-W0L0").hex() == GOLDEN
        assert n.encode(1, b"").hex() == GOLDEN_EMPTY
        assert n.decode(bytes.fromhex(GOLDEN)) == (3, b"VIN-W0L0")
        rec = bytes.fromhex(GOLDEN)
        for cut in range(len(rec)):                 # every prefix is refused
            assert n.decode(rec[:cut]) is None
        bad = bytearray(rec)
        bad[20] ^= 0x01                             # a flipped bit in the value
        assert n.decode(bytes(bad)) is None
        assert n.decode(b"XXXX" + rec[4:]) is None
    finally:
        _rmtree(d)


def _cut_put(fat, writes_before, cut):
    """A store holding OLD (after writes_before puts), a put of NEW cut at
    step `cut`, then the reboot; returns (store after the reboot, folder)."""
    d = _folder()
    n = FlashNvm(d)
    for i in range(writes_before):
        n.put("key", OLD if i == writes_before - 1 else b"older")
    fs = CutFs(cut, fat)
    n = FlashNvm(d, fs=fs)
    fs.armed = True
    try:
        n.put("key", NEW)
        done = True
    except PowerCut:
        done = False
    return FlashNvm(d), d, done, fs.steps


def test_a_power_cut_at_every_write_step_keeps_the_old_or_the_new_value():
    for fat in (False, True):
        for writes_before in (0, 1, 2):
            # count the steps of an uncut put first
            m, d, done, total = _cut_put(fat, writes_before, None)
            _rmtree(d)
            # create the temp file, each byte of the record, flush, (FAT: remove
            # the slot's older record,) rename, sync
            assert done and total == 1 + 16 + len(NEW) + 4 + 1 + \
                (1 if fat and writes_before == 2 else 0) + 1 + 1, (fat, writes_before, total)
            old = OLD if writes_before else None
            for cut in range(total + 1):
                m, d, done, _ = _cut_put(fat, writes_before, cut)
                try:
                    got = m.get("key")
                    # before the rename: the old value; once renamed: the new one
                    assert got == old or got == NEW, (fat, writes_before, cut, got)
                    if cut == total:
                        assert done and got == NEW
                    if cut == 0:
                        assert got == old
                    assert m.corrupt_keys == set()
                    assert not [f for f in _files(d) if f.endswith(".tmp")]
                    # the store takes writes after the reboot, and keeps them
                    m.put("key", b"after")
                    assert FlashNvm(d).get("key") == b"after"
                    assert m.keys() == ["key"]
                finally:
                    _rmtree(d)


def test_torn_or_corrupt_slots_fall_back_or_are_reported():
    d = _folder()
    try:
        n = FlashNvm(d)
        n.put("k", OLD)
        n.put("k", NEW)                             # slot 1 newest, slot 0 has OLD
        stem = d + "/" + key_name("k")
        rec = n.encode(2, NEW)
        for cut in range(len(rec)):                 # slot 1 torn at every byte
            f = open(stem + ".1", "wb")
            f.write(rec[:cut])
            f.close()
            assert FlashNvm(d).get("k") == OLD, cut
        f = open(stem + ".0", "wb")                 # both slots bad: the default
        f.write(b"garbage")
        f.close()
        m = FlashNvm(d)
        assert m.get("k") is None and m.corrupt_keys == {"k"} and m.keys() == []
        assert raises(OSError, FlashNvm(d, strict=True).get, "k")
        m.put("k", b"fresh")                        # a put repairs the key
        assert m.get("k") == b"fresh" and m.corrupt_keys == set()
    finally:
        _rmtree(d)


def test_a_refused_write_raises_oserror_and_keeps_the_old_value():
    class FullFs(OsFs):
        def rename(self, old, new):
            raise OSError(28)                       # ENOSPC

    d = _folder()
    try:
        FlashNvm(d).put("k", OLD)
        n = FlashNvm(d, fs=FullFs())
        assert raises(OSError, n.put, "k", NEW)
        assert FlashNvm(d).get("k") == OLD
    finally:
        _rmtree(d)


def test_caller_mistakes_raise_usage_error():
    d = _folder()
    try:
        n = FlashNvm(d)
        assert raises(UsageError, n.put, 7, b"x")
        assert raises(UsageError, n.put, "", b"x")
        assert raises(UsageError, n.delete, None)
        assert raises(UsageError, FlashNvm, "")
        assert raises(UsageError, FlashNvm, None)
        # files in the folder that are not slots are ignored
        f = open(d + "/README", "wb")
        f.write(b"x")
        f.close()
        f = open(d + "/zz.0", "wb")                 # not a hex key
        f.write(b"x")
        f.close()
        assert n.keys() == []
    finally:
        _rmtree(d)


def _profile():
    return {
        "name": "nvm",
        "addresses": {"rx_id": 0x7E0, "tx_id": 0x7E8},
        "modules": ["session", "data"],
        "sessions": {1: {}, 3: {}},
        "dids": {0xF190: {"length": 17, "value": b"W0L000043MB541326",
                          "write": {"sessions": [1], "levels": []}}},
    }


def _req(srv, hexs):
    data = bytes.fromhex(hexs)
    srv.feed_pdu(0, data, len(data), False)
    out = bytearray(64)
    n = srv.pop_pdu(out)
    return bytes(out[0:n]).hex()


def test_the_uds_server_keeps_a_written_did_across_a_power_cycle():
    d = _folder()
    try:
        vin = b"WDB12345678901234"
        srv = UdsServer(_profile(), nvm=FlashNvm(d))
        assert _req(srv, "2ef190" + vin.hex()) == "6ef190"
        srv2 = UdsServer(_profile(), nvm=FlashNvm(d))
        assert _req(srv2, "22f190") == "62f190" + vin.hex()
    finally:
        _rmtree(d)
