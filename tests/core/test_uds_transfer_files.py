# RequestFileTransfer 0x38 (ISO 14229-1 §15.6, digest §9.5) over the portable
# MemFileStore; TransferData/RequestTransferExit as for 34/35.
# modeOfOperation values (G.1) and layouts: ISO 14229-1:2020 (not in provided text).
from uds_xfer_driver import make, ask, h, T0
from diagbridge.uds.server.services import transfer as srv_transfer
from diagbridge.uds.server.file_store import MemFileStore, check_path
from diagbridge.uds.codec.transfer import (
    build_request_file_transfer, parse_request_file_transfer_response, MOP_ADD_FILE,
    write_file_transfer_response, parse_request_download_response,
    MOP_READ_FILE, MOP_READ_DIR, MOP_RESUME_FILE, MOP_DELETE_FILE)

PROFILE = {"transfer": {"max_block_length": 0x0012}, "files": {"max_file_size": 4096}}


def _srv(session=2):
    s = make(PROFILE, [srv_transfer.SPECS], session=session)
    store = MemFileStore(max_file_size=4096, max_files=4)
    store.add("cfg/ecu.bin", bytes(range(40)))
    srv_transfer.set_file_store(s, store)
    return s, store


def _req(mode, path, size=0, dfi=0):
    out = bytearray(300)
    n = build_request_file_transfer(out, mode, path, dfi, size, size, 2)
    return bytes(out[:n])


def _send(s, data, first_bsc=1):
    bsc = first_bsc
    for i in range(0, len(data), 16):
        assert ask(s, T0, bytes((0x36, bsc)) + data[i:i + 16]) == bytes((0x76, bsc))
        bsc = (bsc + 1) & 0xFF


def _receive(s):
    got = b""
    bsc = 1
    while True:
        r = ask(s, T0, bytes((0x36, bsc)))
        if r == h("7F 36 24"):
            return got
        assert r[:2] == bytes((0x76, bsc))
        got += r[2:]
        bsc += 1


def test_add_file_then_read_it_back():
    s, store = _srv()
    data = bytes(range(100))
    assert _req(MOP_ADD_FILE, b"logs/a.bin", 100) == h("38 01 00 0A") + b"logs/a.bin" + h("00 02 00 64 00 64")
    assert ask(s, T0, _req(MOP_ADD_FILE, b"logs/a.bin", 100)) == h("78 01 02 00 12 00")
    _send(s, data)
    assert store.size("logs/a.bin") == -1            # not complete before 37
    assert ask(s, T0, h("37")) == h("77")
    assert store.content("logs/a.bin") == data
    r = ask(s, T0, _req(MOP_READ_FILE, b"logs/a.bin"))
    assert r == h("78 04 02 00 12 00 00 04 00 00 00 64 00 00 00 64")
    assert parse_request_file_transfer_response(r, len(r)) == (4, 0x12, 0, 100, 100, 0)
    assert _receive(s) == data
    assert ask(s, T0, h("37")) == h("77")


def test_add_existing_is_70_replace_overwrites():
    s, store = _srv()
    assert ask(s, T0, _req(MOP_ADD_FILE, b"cfg/ecu.bin", 4)) == h("7F 38 70")
    assert ask(s, T0, _req(3, b"cfg/ecu.bin", 4)) == h("78 03 02 00 12 00")
    _send(s, b"ABCD")
    assert store.content("cfg/ecu.bin") == bytes(range(40))   # old until complete
    assert ask(s, T0, h("37")) == h("77")
    assert store.content("cfg/ecu.bin") == b"ABCD"


def test_delete_file_has_no_transfer():
    s, store = _srv()
    assert ask(s, T0, _req(MOP_DELETE_FILE, b"cfg/ecu.bin")) == h("78 02")
    assert store.size("cfg/ecu.bin") == -1
    assert ask(s, T0, _req(MOP_DELETE_FILE, b"cfg/ecu.bin")) == h("7F 38 31")
    assert ask(s, T0, h("36 01")) == h("7F 36 24")


def test_read_dir():
    s, store = _srv()
    store.add("cfg/sub/x", b"1")
    r = ask(s, T0, _req(MOP_READ_DIR, b"cfg"))
    listing = b"ecu.bin\nsub/\n"
    assert r == h("78 05 02 00 12 00 00 04") + bytes((0, 0, 0, len(listing)))
    assert _receive(s) == listing
    assert ask(s, T0, _req(MOP_READ_DIR, b"nope")) == h("7F 38 31")


def test_resume_file_after_an_interrupted_transfer():
    # a write cut by a power loss (no abort ran: a new server over the same
    # store) is what ResumeFile continues
    s, store = _srv()
    data = bytes((i * 3) & 0xFF for i in range(64))
    ask(s, T0, _req(MOP_ADD_FILE, b"fw.bin", 64))
    _send(s, data[:32])
    assert store.held == 64
    s = make(PROFILE, [srv_transfer.SPECS], session=2)      # power cut, power up
    srv_transfer.set_file_store(s, store)
    r = ask(s, T0, _req(MOP_RESUME_FILE, b"fw.bin", 64))
    assert r == h("78 06 02 00 12 00 00 00 00 00 00 00 00 20")   # filePosition 32
    assert parse_request_file_transfer_response(r, len(r))[5] == 32
    _send(s, data[32:])
    assert ask(s, T0, h("37")) == h("77")
    assert store.content("fw.bin") == data and store.held == 0
    assert ask(s, T0, _req(MOP_RESUME_FILE, b"fw.bin", 64)) == h("7F 38 31")  # nothing to resume


def test_sandbox_escapes_and_bad_names_are_31():
    s, store = _srv()
    for p in (b"../etc/passwd", b"/etc/passwd", b"a/../../b", b"a//b", b"./a", b"C:x",
              b"a\\b", b"a\x00b", b"..", b"/"):
        assert ask(s, T0, _req(MOP_READ_FILE, p)) == h("7F 38 31"), p
        assert ask(s, T0, _req(MOP_ADD_FILE, p, 4)) == h("7F 38 31"), p
    assert check_path(b"logs/a.txt") == "logs/a.txt"
    assert check_path(b"logs/") == "logs"


def test_nrc_order_and_lengths():
    s, store = _srv()
    assert ask(s, T0, h("38 01 00")) == h("7F 38 13")
    assert ask(s, T0, h("38 07 00 01 41")) == h("7F 38 31")          # mode before layout
    assert ask(s, T0, h("38 00 00 05 41")) == h("7F 38 31")
    assert ask(s, T0, h("38 04 00 05 41")) == h("7F 38 13")          # path longer than PDU
    assert ask(s, T0, h("38 04 00 01 41")) == h("7F 38 13")          # DFI missing
    assert ask(s, T0, h("38 04 00 01 41 00 00")) == h("7F 38 13")    # extra byte
    assert ask(s, T0, h("38 01 00 01 41 00 02 00 04")) == h("7F 38 13")  # sizes cut
    assert ask(s, T0, h("38 01 00 01 41 11 02 00 04 00 04")) == h("7F 38 31")   # DFI
    assert ask(s, T0, h("38 01 00 01 41 00 02 00 04 00 03")) == h("7F 38 31")   # sizes differ
    assert ask(s, T0, _req(MOP_ADD_FILE, b"big", 5000)) == h("7F 38 31")        # too big
    assert ask(s, T0, _req(MOP_READ_FILE, b"missing")) == h("7F 38 31")
    ask(s, T0, _req(MOP_READ_FILE, b"cfg/ecu.bin"))
    assert ask(s, T0, _req(MOP_READ_FILE, b"missing")) == h("7F 38 31")         # 31 before 22
    assert ask(s, T0, _req(MOP_READ_FILE, b"cfg/ecu.bin")) == h("7F 38 22")


def test_store_full_is_70():
    s, store = _srv()
    for i in range(3):
        store.add("f%d" % i, b"x")
    assert ask(s, T0, _req(MOP_ADD_FILE, b"g", 4)) == h("7F 38 70")


def test_without_a_store_0x38_is_31_and_not_in_default():
    s = make(PROFILE, [srv_transfer.SPECS], session=2)
    assert ask(s, T0, _req(MOP_READ_FILE, b"a")) == h("7F 38 31")
    s, _ = _srv(session=1)
    assert ask(s, T0, _req(MOP_READ_FILE, b"a")) == h("7F 38 7F")


def test_0x38_lfi_is_a_byte_count_not_a_nibble():
    """The 0x38 response's lengthFormatIdentifier is the number of bytes of
    maxNumberOfBlockLength (as udsoncan reads it), unlike 0x74's high nibble."""
    out = bytearray(32)
    n = write_file_transfer_response(out, MOP_ADD_FILE, 0x10002, 0x00)
    assert bytes(out[:n]) == h("78 01 03 01 00 02 00")
    assert parse_request_file_transfer_response(out, n) == (1, 0x10002, 0, 0, 0, 0)
    n = write_file_transfer_response(out, MOP_ADD_FILE, 0x12, 0x00)
    assert bytes(out[:n]) == h("78 01 02 00 12 00")   # at least 2 bytes, as for 0x74
    for bad in ("78 01 20 00 12 00",                  # the old nibble form: 32 bytes missing
                "78 01 00 00",                        # LFI 0
                "78 01 02 00 12",                     # DFI missing
                "78 01"):
        r = h(bad)
        assert parse_request_file_transfer_response(r, len(r)) is None, bad
    # 0x74 keeps its nibble
    assert parse_request_download_response(h("74 20 00 12"), 4) == 0x12
