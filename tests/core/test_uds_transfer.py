# RequestDownload 0x34 / RequestUpload 0x35 / TransferData 0x36 /
# RequestTransferExit 0x37 (ISO 14229-1 §15, digest §9, vectors V36/V37).
# Byte layouts and NRC tables are ISO 14229-1:2020 (not in provided text) [K].
from support import run_locked
from uds_xfer_driver import make, ask, h, run_pending, T0
from diagbridge.uds.server.services import transfer as srv_transfer
from diagbridge.uds.server.nvm import MemNvm
from diagbridge.uds.server.transfer_machine import context, S_IDLE
from diagbridge.uds.codec.transfer import (
    build_request_download, build_request_upload, build_transfer_data_request,
    build_request_transfer_exit, parse_request_download_response,
    parse_transfer_data_response, parse_request_transfer_exit_response, next_bsc,
    read_address_and_size, write_transfer_response)

PROFILE = {
    "transfer": {
        "download_regions": [{"start": 0x600000, "size": 0x20000, "erase_us_per_kib": 2000},
                             {"start": 0x700000, "size": 0x1000, "erase_required": True}],
        "upload_regions": [{"start": 0x600000, "size": 0x20000}],
        "max_block_length": 0x81,
        "data_formats": [0x00, 0x11],
    },
}


def _srv(session=2, nvm=None, profile=PROFILE):
    return make(profile, [srv_transfer.SPECS], session=session, nvm=nvm)


def _image(n):
    return bytes((i * 7 + (i >> 8)) & 0xFF for i in range(n))


def _download(s, addr, data, t=T0):
    out = bytearray(16)
    k = build_request_download(out, addr, len(data), 3, 3, 0x00)
    assert ask(s, t, bytes(out[:k])) == h("74 20 00 81")
    bsc = 1
    pos = 0
    blocks = 0
    buf = bytearray(0x81)
    while pos < len(data):
        c = min(127, len(data) - pos)
        k = build_transfer_data_request(buf, bsc, data, pos, c)
        assert ask(s, t, bytes(buf[:k])) == bytes((0x76, bsc))
        pos += c
        bsc = next_bsc(bsc)
        blocks += 1
    assert ask(s, t, h("37")) == h("77")
    return blocks


def _upload(s, addr, size, t=T0):
    out = bytearray(16)
    k = build_request_upload(out, addr, size, 3, 3)
    assert ask(s, t, bytes(out[:k])) == h("75 20 00 81")
    got = bytearray()
    bsc = 1
    while len(got) < size:
        r = ask(s, t, bytes((0x36, bsc)))
        assert r[0] == 0x76 and r[1] == bsc
        got += r[2:]
        bsc = next_bsc(bsc)
    assert ask(s, t, h("37")) == h("77")
    return bytes(got)


def test_request_download_example_vector():
    # digest §9.2: 65535 bytes to 0x602000, ALFID 33 -> max block 0x81 (127 data bytes)
    s = _srv()
    assert ask(s, T0, h("34 11 33 60 20 00 00 FF FF")) == h("74 20 00 81")


def test_download_65535_bytes_516_full_blocks_then_5_byte_request():
    # §15.5.5.1: 516 x 127 bytes then a last TransferData of length 5 (3 data bytes);
    # the counter wraps FF -> 00, so the 517th block carries 0x05.
    s = _srv()
    data = _image(65535)
    assert ask(s, T0, h("34 11 33 60 20 00 00 FF FF")) == h("74 20 00 81")
    bsc = 1
    for i in range(516):
        req = bytes((0x36, bsc)) + data[i * 127:(i + 1) * 127]
        assert ask(s, T0, req) == bytes((0x76, bsc))
        if i == 254:
            assert bsc == 0xFF
        if i == 255:
            assert bsc == 0x00      # wraps to 00, not 01
        bsc = (bsc + 1) & 0xFF
    last = bytes((0x36, bsc)) + data[516 * 127:]
    assert len(last) == 5 and bsc == 0x05
    assert ask(s, T0, last) == h("76 05")
    assert ask(s, T0, h("37")) == h("77")
    assert _upload(s, 0x602000, 65535) == data


def test_whole_64k_image_block_by_block_and_read_back():
    s = _srv()
    data = _image(65536)
    assert _download(s, 0x600000, data) == 517       # 516 x 127 + 4
    assert context(s).machine.writes == 517
    assert _upload(s, 0x600000, 65536) == data


def test_programmed_memory_persists_in_nvm():
    nvm = MemNvm()
    s = _srv(nvm=nvm)
    data = _image(5000)
    _download(s, 0x601000, data)
    assert any(k.startswith("mem.") for k in nvm.keys())
    s2 = _srv(nvm=nvm.power_cycle())
    assert _upload(s2, 0x601000, 5000) == data


def test_repeated_block_after_lost_response_is_not_written_twice():
    # V37: last accepted BSC 01 -> `36 01 ..` again is answered `76 01` and the
    # data is not written again; `36 03` -> 73.
    s = _srv()
    assert ask(s, T0, h("34 00 33 60 00 00 00 01 00")) == h("74 20 00 81")
    assert ask(s, T0, h("36 01") + b"\xAA" * 127) == h("76 01")
    m = context(s).machine
    assert m.writes == 1 and m.pos == 127
    assert ask(s, T0, h("36 01") + b"\x55" * 127) == h("76 01")
    assert m.writes == 1 and m.pos == 127
    assert ask(s, T0, h("36 03") + b"\x55" * 127) == h("7F 36 73")
    assert ask(s, T0, h("36 00") + b"\x55" * 127) == h("7F 36 73")
    assert ask(s, T0, h("36 02") + b"\x55" * 127) == h("76 02")
    out = bytearray(4)
    context(s).store.read(0x600000, out, 0, 4)
    assert bytes(out) == b"\xAA" * 4


def test_first_block_must_be_01_and_no_repeat_before_it():
    s = _srv()
    ask(s, T0, h("34 00 33 60 00 00 00 00 10"))
    assert ask(s, T0, h("36 00 01")) == h("7F 36 73")   # nothing accepted yet
    assert ask(s, T0, h("36 02 01")) == h("7F 36 73")
    assert ask(s, T0, h("36 01") + b"\x01" * 16) == h("76 01")


def test_transfer_data_without_download_is_sequence_error():
    # V36 (ISO 14229-1:2020, not in provided text)
    s = _srv(session=3)
    assert ask(s, T0, h("36 01 00")) == h("7F 36 24")
    assert ask(s, T0, h("37")) == h("7F 37 24")


def test_not_in_default_session():
    s = _srv(session=1)
    for sid in (0x34, 0x35, 0x36, 0x37, 0x38):
        assert ask(s, T0, bytes((sid, 0, 0x11, 0, 0))) == bytes((0x7F, sid, 0x7F))


def test_upload_511_bytes_in_five_blocks():
    # §15.5.5.2: 511 bytes from 0x201000-like address -> 4 x 127 + 1 x 3
    s = _srv()
    data = _image(511)
    _download(s, 0x601000, data)
    assert ask(s, T0, h("35 11 33 60 10 00 00 01 FF")) == h("75 20 00 81")
    sizes = []
    got = b""
    for bsc in range(1, 6):
        r = ask(s, T0, bytes((0x36, bsc)))
        assert r[:2] == bytes((0x76, bsc))
        sizes.append(len(r) - 2)
        got += r[2:]
    assert sizes == [127, 127, 127, 127, 3] and got == data
    assert ask(s, T0, h("36 06")) == h("7F 36 24")      # all data sent: only 37
    assert ask(s, T0, h("37")) == h("77")


def test_upload_repeat_sends_the_same_block_again():
    s = _srv()
    _download(s, 0x601000, _image(300))
    ask(s, T0, h("35 00 33 60 10 00 00 01 2C"))
    r1 = ask(s, T0, h("36 01"))
    r2 = ask(s, T0, h("36 02"))
    assert ask(s, T0, h("36 02")) == r2
    assert r1 != r2 and len(r2) == 129
    assert ask(s, T0, h("36 01")) == h("7F 36 73")
    assert ask(s, T0, h("36 03 00")) == h("7F 36 13")    # upload request has no data


def test_exit_rules():
    s = _srv()
    ask(s, T0, h("34 00 33 60 00 00 00 00 10"))
    assert ask(s, T0, h("36 01") + b"\x01" * 8) == h("76 01")
    assert ask(s, T0, h("37")) == h("7F 37 24")          # incomplete (Table 459)
    assert ask(s, T0, h("36 02") + b"\x01" * 8) == h("76 02")
    assert ask(s, T0, h("37 01 02")) == h("7F 37 31")    # unknown VM record
    assert ask(s, T0, h("37")) == h("77")
    assert ask(s, T0, h("37")) == h("7F 37 24")          # nothing active now


def test_request_download_nrcs_and_their_order():
    s = _srv()
    # 13: length does not match the ALFID (and the DFI is bad too: length first)
    assert ask(s, T0, h("34 77 33 60 00 00 00 10")) == h("7F 34 13")
    assert ask(s, T0, h("34 00")) == h("7F 34 13")
    # 31: a zero nibble in the ALFID
    assert ask(s, T0, h("34 00 30 00 10")) == h("7F 34 31")
    assert ask(s, T0, h("34 00 03 60 00 00")) == h("7F 34 31")
    # 31: unsupported DFI, size 0, outside every region, crossing a region end
    assert ask(s, T0, h("34 22 33 60 00 00 00 00 10")) == h("7F 34 31")
    assert ask(s, T0, h("34 00 33 60 00 00 00 00 00")) == h("7F 34 31")
    assert ask(s, T0, h("34 00 33 50 00 00 00 00 10")) == h("7F 34 31")
    assert ask(s, T0, h("34 00 33 61 FF F0 00 00 20")) == h("7F 34 31")
    # 70: the region must be erased first (and 22 comes before it)
    assert ask(s, T0, h("34 00 33 70 00 00 00 00 10")) == h("7F 34 70")
    assert ask(s, T0, h("34 00 33 60 00 00 00 00 10")) == h("74 20 00 81")
    assert ask(s, T0, h("34 00 33 70 00 00 00 00 10")) == h("7F 34 22")
    # 31 (range) is checked before 22 (transfer already active)
    assert ask(s, T0, h("34 00 33 50 00 00 00 00 10")) == h("7F 34 31")
    assert ask(s, T0, h("35 00 33 60 00 00 00 00 10")) == h("7F 35 22")


def test_refused_download_is_70():
    s = _srv()
    context(s).refuse = True
    assert ask(s, T0, h("34 00 44 00 60 00 00 00 00 00 10")) == h("7F 34 70")


def test_transfer_data_nrc_order():
    s = _srv()
    assert ask(s, T0, h("36")) == h("7F 36 13")            # 13 before 24
    assert ask(s, T0, h("36 05 00")) == h("7F 36 24")      # 24 before 73
    ask(s, T0, h("34 00 33 60 00 00 00 00 90"))            # 144 bytes
    too_long = h("36 05") + bytes(128)                        # 130 > 0x81
    assert ask(s, T0, too_long) == h("7F 36 73")           # 73 before 13
    assert ask(s, T0, h("36 01") + bytes(128)) == h("7F 36 13")
    assert ask(s, T0, h("36 01")) == h("7F 36 13")         # no data in a download block
    assert ask(s, T0, h("36 01") + bytes(127)) == h("76 01")
    assert ask(s, T0, h("36 02") + bytes(18)) == h("7F 36 31")   # 127 + 18 > 144
    assert ask(s, T0, h("36 02") + bytes(17)) == h("76 02")
    assert ask(s, T0, h("36 03") + bytes(1)) == h("7F 36 24")    # all data in


def test_fault_72_keeps_the_transfer_and_71_suspends_it():
    s = _srv()
    ask(s, T0, h("34 00 33 60 00 00 00 00 20"))
    m = context(s).machine
    m.fault = 0x72
    assert ask(s, T0, h("36 01") + bytes(16)) == h("7F 36 72")
    assert ask(s, T0, h("36 01") + bytes(16)) == h("76 01")    # retried, accepted
    m.fault = 0x71
    assert ask(s, T0, h("36 02") + bytes(16)) == h("7F 36 71")
    assert m.state == S_IDLE
    assert ask(s, T0, h("36 02") + bytes(16)) == h("7F 36 24")


def test_programming_time_answers_pending_until_done():
    p = dict(PROFILE)
    p["transfer"] = dict(PROFILE["transfer"], program_us_per_kib=8192)
    s = _srv(profile=p)
    ask(s, T0, h("34 00 33 60 00 00 00 00 80"))
    assert ask(s, T0, h("36 01") + bytes(64)) is None         # answer comes later
    pend, rsp, t = run_pending(s, T0, 0x36)
    assert pend == [] and rsp == h("76 01") and t == 512     # 64 B at 8192 us/KiB
    # 4000 B at 20000 us/KiB = 78.125 ms > P2 (50 ms): one 0x78 at P2 - 10 ms margin
    p2 = dict(p["transfer"], max_block_length=0x0FA2, program_us_per_kib=20000)
    s = _srv(profile=dict(p, transfer=p2))
    assert ask(s, T0, h("34 00 33 60 00 00 00 0F A0")) == h("74 20 0F A2")
    assert ask(s, T0, h("36 01") + bytes(4000)) is None
    pend, rsp, t = run_pending(s, T0, 0x36)
    assert pend == [40000] and rsp == h("76 01") and t == 78125


def test_session_change_and_reset_abort_the_transfer():
    s = _srv()
    ask(s, T0, h("34 00 33 60 00 00 00 00 20"))
    s.set_session(T0, 3)
    assert ask(s, T0, h("36 01") + bytes(16)) == h("7F 36 24")
    s.set_session(T0, 2)
    ask(s, T0, h("34 00 33 60 00 00 00 00 20"))
    s.reset(T0, 1)
    s.set_session(T0, 2)
    assert ask(s, T0, h("36 01") + bytes(16)) == h("7F 36 24")


def test_malformed_lengths_are_13():
    s = _srv()
    for req in ("34", "34 00", "34 00 11", "34 00 11 60", "34 00 11 60 00 00",
                "35", "35 00 22 60 00", "36"):
        r = ask(s, T0, h(req))
        assert r == bytes((0x7F, h(req)[0], 0x13)), req


def test_transfer_data_block_does_not_allocate():
    s = _srv()
    ask(s, T0, h("34 00 33 60 00 00 00 10 00"))
    reqs = [bytes((0x36, b)) + bytes(127) for b in range(1, 5)]
    out = bytearray(8)
    got = bytearray(8)
    ask(s, T0, reqs[0])                     # warm up: region RAM is made here

    def run():
        # the whole path: general checks, handler, response queue, pop_pdu
        for i in (1, 1, 2, 3):              # block 2 twice: the repeat
            s.feed_pdu(T0, reqs[i], 129, False)
            s.pop_pdu(out)
            got[i * 2] = out[0]
            got[i * 2 + 1] = out[1]
    run_locked(run)
    assert bytes(got[2:8]) == h("76 02 76 03 76 04")


def test_codec_round_trips():
    out = bytearray(32)
    n = build_request_download(out, 0x602000, 0xFFFF, 3, 3, 0x11)
    assert bytes(out[:n]) == h("34 11 33 60 20 00 00 FF FF")
    n = build_request_upload(out, 0x201000, 0x1FF, 4, 2)
    assert bytes(out[:n]) == h("35 00 24 00 20 10 00 01 FF")
    assert read_address_and_size(out, 2, n) == (0x24, 0x201000, 0x1FF)
    assert read_address_and_size(out, 2, n - 1) is None
    n = write_transfer_response(out, 0x34, 0x81)
    assert bytes(out[:n]) == h("74 20 00 81")
    assert parse_request_download_response(out, n) == 0x81
    n = write_transfer_response(out, 0x35, 0x10002)
    assert bytes(out[:n]) == h("75 30 01 00 02")
    assert parse_request_download_response(out, n) == 0x10002
    assert parse_request_download_response(h("74 20 00"), 3) == -1
    assert parse_request_download_response(h("7F 34 31"), 3) == -1
    n = build_transfer_data_request(out, 0x100, b"abc", 1, 2)
    assert bytes(out[:n]) == h("36 00 62 63")
    assert parse_transfer_data_response(h("76 05 01"), 3) == 5
    assert parse_transfer_data_response(h("7F 36 73"), 3) == -1
    n = build_request_transfer_exit(out, b"\x01")
    assert bytes(out[:n]) == h("37 01")
    assert parse_request_transfer_exit_response(h("77"), 1) == 0
    assert next_bsc(0xFF) == 0 and next_bsc(0) == 1
