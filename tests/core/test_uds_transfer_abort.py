# What an aborted transfer leaves behind: nothing.  RequestFileTransfer
# writes hold their bytes only while open (a bounded total, past it 0x70)
# and free them when the transfer ends without its RequestTransferExit
# (session change, S3 timeout, ECUReset); a download's staged blocks belong
# to that download, and only its own RequestTransferExit commits them.
import gc

from uds_xfer_driver import make, ask, h, run, T0
from diagbridge.uds.server.services import transfer as srv_transfer
from diagbridge.uds.server.services import session as srv_session
from diagbridge.uds.server.services import memory as srv_memory
from diagbridge.uds.server.file_store import MemFileStore
from diagbridge.uds.server.nvm import MemNvm
from diagbridge.uds.server.transfer_machine import context, S_IDLE
from diagbridge.uds.codec.transfer import build_request_file_transfer, MOP_ADD_FILE, MOP_REPLACE_FILE

SPECS = [srv_session.SPECS, srv_transfer.SPECS]
FILES = {"sessions": {1: {}, 2: {}, 3: {}}, "transfer": {"max_block_length": 0x0082}}
S3_US = 5000000


def _files(max_open_bytes=-1, nvm=None):
    s = make(FILES, SPECS, session=2, nvm=nvm)
    store = MemFileStore(max_file_size=4096, max_files=4, max_open_bytes=max_open_bytes)
    srv_transfer.set_file_store(s, store)
    return s, store


def _req(mode, path, size):
    out = bytearray(300)
    n = build_request_file_transfer(out, mode, path, 0, size, size, 2)
    return bytes(out[:n])


def _blocks(s, nblocks, fill):
    for b in range(1, nblocks + 1):
        assert ask(s, T0, bytes((0x36, b)) + bytes((fill,)) * 0x80) == bytes((0x76, b))


def _abort(s, how):
    """End the open transfer without 0x37: the ways a tester can lose it."""
    if how == 0:
        assert ask(s, T0, h("10 03")) == h("50 03 00 32 01 F4")   # session change
        assert ask(s, T0, h("10 02")) == h("50 02 00 32 01 F4")
    elif how == 1:
        assert run(s, T0, S3_US + 1000) == []                     # S3 timeout: back to default
        assert s.session == 1
        assert ask(s, T0, h("10 02")) == h("50 02 00 32 01 F4")
    else:
        assert ask(s, T0, h("11 01")) == h("51 01")               # ECUReset
        s.reset(T0, 1)
        assert ask(s, T0, h("10 02")) == h("50 02 00 32 01 F4")


def test_1000_aborted_add_file_writes_hold_nothing():
    s, store = _files()
    for i in range(1000):
        if i % 50 == 0:
            gc.collect()
        name = b"log%d.bin" % (i % 7)
        assert ask(s, T0, _req(MOP_ADD_FILE, name, 2048)) == h("78 01 02 00 82 00")
        assert store.held == 2048
        _blocks(s, 1 + i % 5, i & 0xFF)
        _abort(s, i % 3)
        assert store.held == 0, i
        assert context(s).machine.state == S_IDLE
        assert ask(s, T0, h("36 01")) == h("7F 36 24")           # nothing open
        assert store.size(name.decode()) == -1                   # nothing committed
    assert store._partial == {}


def test_a_write_past_the_bound_is_70_and_holds_nothing():
    s, store = _files(max_open_bytes=1000)
    assert ask(s, T0, _req(MOP_ADD_FILE, b"big.bin", 1001)) == h("7F 38 70")
    assert store.held == 0 and ask(s, T0, h("36 01")) == h("7F 36 24")
    assert ask(s, T0, _req(MOP_ADD_FILE, b"big.bin", 1000)) == h("78 01 02 00 82 00")
    assert store.held == 1000
    # a second 0x38 while one is open is 0x22 and reserves nothing more
    assert ask(s, T0, _req(MOP_ADD_FILE, b"other.bin", 10)) == h("7F 38 22")
    assert store.held == 1000
    _blocks(s, 7, 0x5A)
    assert ask(s, T0, bytes((0x36, 8)) + bytes((0x5A,)) * 104) == h("76 08")
    assert ask(s, T0, h("37")) == h("77")
    assert store.held == 0 and store.content("big.bin") == bytes((0x5A,)) * 1000


def test_a_second_store_user_shares_the_bound():
    # two servers over one store (two ECUs of a simulated vehicle): the bound
    # is the store's, and each abort frees only its own write
    s1, store = _files(max_open_bytes=3000)
    s2 = make(FILES, SPECS, session=2)
    srv_transfer.set_file_store(s2, store)
    assert ask(s1, T0, _req(MOP_ADD_FILE, b"a", 2000))[:2] == h("78 01")
    assert ask(s2, T0, _req(MOP_ADD_FILE, b"b", 1001)) == h("7F 38 70")
    assert ask(s2, T0, _req(MOP_ADD_FILE, b"b", 1000))[:2] == h("78 01")
    assert store.held == 3000
    _abort(s1, 0)
    assert store.held == 1000
    _abort(s2, 2)
    assert store.held == 0


def test_a_write_cut_by_power_loss_is_replaced_not_added():
    # no abort ran (a new server over the same store): the partial stays for
    # ResumeFile, and a new write of that name replaces it
    s, store = _files()
    assert ask(s, T0, _req(MOP_ADD_FILE, b"fw.bin", 4096))[:2] == h("78 01")
    _blocks(s, 2, 0x11)
    s, _ = _files()
    srv_transfer.set_file_store(s, store)
    assert store.held == 4096
    assert ask(s, T0, _req(MOP_REPLACE_FILE, b"fw.bin", 300))[:2] == h("78 03")
    assert store.held == 300
    _abort(s, 0)
    assert store.held == 0


def test_delete_frees_a_partial_of_that_name():
    s, store = _files()
    store.add("cfg.bin", b"old")
    assert ask(s, T0, _req(MOP_REPLACE_FILE, b"cfg.bin", 200))[:2] == h("78 03")
    s, _ = _files()                                  # power cut: the partial stays
    srv_transfer.set_file_store(s, store)
    assert store.held == 200
    assert ask(s, T0, h("38 02 00 07") + b"cfg.bin") == h("78 02")
    assert store.held == 0 and store.size("cfg.bin") == -1


# ---- downloads: staged blocks belong to one download --------------------------------
MEM = {"sessions": {1: {}, 2: {}, 3: {}},
       "memory": [{"start": 0x601F00, "size": 0x200, "write": {"sessions": [2]}}],
       "transfer": {"download_regions": [{"start": 0x600000, "size": 0x3000}],
                    "upload_regions": [{"start": 0x600000, "size": 0x3000}],
                    "max_block_length": 0x0402}}
MEM_SPECS = [srv_session.SPECS, srv_transfer.SPECS, srv_memory.SPECS]


def _download(s, addr, data, exit=True):
    assert ask(s, T0, h("34 00 33") + addr.to_bytes(3, "big") + len(data).to_bytes(3, "big")) \
        == h("74 20 04 02")
    bsc = 1
    for pos in range(0, len(data), 0x400):
        assert ask(s, T0, bytes((0x36, bsc)) + data[pos:pos + 0x400]) == bytes((0x76, bsc))
        bsc += 1
    if exit:
        assert ask(s, T0, h("37")) == h("77")


def _upload(s, addr, size):
    assert ask(s, T0, h("35 00 33") + addr.to_bytes(3, "big") + size.to_bytes(3, "big")) \
        == h("75 20 04 02")
    got = bytearray(size)
    pos = 0
    bsc = 1
    while pos < size:
        r = ask(s, T0, bytes((0x36, bsc)))
        assert r[:2] == bytes((0x76, bsc))
        got[pos:pos + len(r) - 2] = r[2:]
        pos += len(r) - 2
        bsc += 1
    assert pos == size and ask(s, T0, h("37")) == h("77")
    return bytes(got)


def _aborted_then_unrelated_exit(how):
    nvm = MemNvm()
    s = make(MEM, MEM_SPECS, session=2, nvm=nvm)
    _download(s, 0x600000, b"\x11" * 0x1000)                   # sector 0: committed
    _download(s, 0x601000, b"\xAA" * 0x1000, exit=False)        # sector 1: staged only
    assert context(s).store.staged() == 1
    _abort(s, how)
    assert context(s).store.staged() == 0
    assert ask(s, T0, h("23 14 00 60 1F 00 04")) == h("63 FF FF FF FF")   # mirror untouched
    _download(s, 0x602000, b"\x22" * 0x1000)                   # elsewhere, with its own 37
    assert _upload(s, 0x600000, 0x3000) == b"\x11" * 0x1000 + b"\xFF" * 0x1000 + b"\x22" * 0x1000
    assert ask(s, T0, h("23 14 00 60 1F 00 04")) == h("63 FF FF FF FF")
    assert nvm.get("mem.00600000.1") is None and nvm.get("mem.00600000.1.1") is None
    # the mirror spans sectors 1 and 2: persisted with sector 2's new bytes only
    assert nvm.get("mem:00601F00") == b"\xFF" * 0x100 + b"\x22" * 0x100
    s2 = make(MEM, MEM_SPECS, session=2, nvm=nvm.power_cycle())   # and after a power cycle
    assert _upload(s2, 0x600000, 0x3000) == b"\x11" * 0x1000 + b"\xFF" * 0x1000 + b"\x22" * 0x1000


def test_an_aborted_download_is_not_committed_by_a_later_exit_session_change():
    _aborted_then_unrelated_exit(0)


def test_an_aborted_download_is_not_committed_by_a_later_exit_s3_timeout():
    _aborted_then_unrelated_exit(1)


def test_an_aborted_download_is_not_committed_by_a_later_exit_ecu_reset():
    _aborted_then_unrelated_exit(2)


def test_the_same_downloads_exit_commits_it_and_the_mirror_sees_it_then():
    nvm = MemNvm()
    s = make(MEM, MEM_SPECS, session=2, nvm=nvm)
    _download(s, 0x601000, b"\xAA" * 0x1000, exit=False)
    assert ask(s, T0, h("23 14 00 60 1F 00 04")) == h("63 FF FF FF FF")   # staged, not yet seen
    assert ask(s, T0, h("37")) == h("77")
    assert ask(s, T0, h("23 14 00 60 1F 00 04")) == h("63 AA AA AA AA")
    assert nvm.get("mem.00600000.1.1") == b"\xAA" * 0x1000
    s2 = make(MEM, MEM_SPECS, session=2, nvm=nvm.power_cycle())
    assert ask(s2, T0, h("23 14 00 60 1F 00 04")) == h("63 AA AA AA AA")
    assert _upload(s2, 0x601000, 0x1000) == b"\xAA" * 0x1000


def test_a_3d_write_outside_the_staged_sectors_survives_an_abort():
    s = make(MEM, MEM_SPECS, session=2)
    assert ask(s, T0, h("3D 14 00 60 20 00 02 AB CD")) == h("7D 14 00 60 20 00 02")
    _download(s, 0x601000, b"\xAA" * 0x400, exit=False)         # sector 1 only
    _abort(s, 0)
    assert ask(s, T0, h("23 14 00 60 1F FE 04")) == h("63 FF FF AB CD")
    assert _upload(s, 0x601FFE, 4) == h("FF FF AB CD")
