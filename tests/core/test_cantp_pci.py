# N_PCI codec: STmin, CAN FD lengths, padding, receive-side validation.
from diagbridge.cantp.pci import (Pdu, K_INVALID, K_SF, K_FF, K_CF, K_FC, fd_len,
                                  len_to_dlc, is_valid_len, stmin_to_us,
                                  stmin_from_us, pad, sf_capacity, ff_dl_min,
                                  DLC_LENGTHS)
from diagbridge._compat import copy_into
from cantp_support import hexs


def test_stmin_every_encoding():
    for b in range(256):
        us = stmin_to_us(b)
        if b <= 0x7F:
            assert us == b * 1000
        elif 0xF1 <= b <= 0xF9:
            assert us == (b - 0xF0) * 100
        else:
            assert us == 127000, b      # reserved: treated as the maximum, 127 ms


def test_stmin_examples_from_seed():
    assert stmin_to_us(0xF1) == 100
    assert stmin_to_us(0xF5) == 500
    assert stmin_to_us(0xF9) == 900
    assert stmin_to_us(0x7F) == 127000
    assert stmin_to_us(0x80) == 127000
    assert stmin_to_us(0xF0) == 127000
    assert stmin_to_us(0xFA) == 127000
    assert stmin_to_us(0xFF) == 127000


def test_stmin_encode_roundtrip():
    for b in list(range(0x80)) + list(range(0xF1, 0xFA)):
        assert stmin_from_us(stmin_to_us(b)) == b
    for bad in (-1, 50, 1500, 950, 128000, 99):
        assert stmin_from_us(bad) == -1


def test_fd_lengths_and_dlc():
    assert list(DLC_LENGTHS) == [0, 1, 2, 3, 4, 5, 6, 7, 8, 12, 16, 20, 24, 32, 48, 64]
    expect = []
    for n in range(65):
        for v in DLC_LENGTHS:
            if v >= n:
                expect.append(v)
                break
    assert [fd_len(n) for n in range(65)] == expect
    assert fd_len(47) == 48 and fd_len(9) == 12 and fd_len(49) == 64
    for dlc in range(16):
        assert len_to_dlc(DLC_LENGTHS[dlc]) == dlc
    for n in (9, 10, 11, 13, 33, 63, 65):
        assert len_to_dlc(n) == -1 and not is_valid_len(n)


def test_capacities():
    assert sf_capacity(0, 8) == 7 and sf_capacity(1, 8) == 6
    assert sf_capacity(0, 64) == 62 and sf_capacity(1, 64) == 61
    assert sf_capacity(0, 12) == 10
    assert ff_dl_min(0, 8) == 8 and ff_dl_min(1, 8) == 7
    assert ff_dl_min(0, 64) == 63 and ff_dl_min(1, 12) == 10


def test_pad_classic_and_fd():
    out = bytearray(64)
    out[0] = 0x02
    assert pad(out, 3, 0xCC) == 8 and out[3:8] == b"\xcc" * 5
    out = bytearray(64)
    assert pad(out, 3, None) == 3            # data optimisation: no padding at all
    assert pad(out, 8, None) == 8
    out = bytearray(64)
    assert pad(out, 10, None) == 12 and out[10:12] == b"\xcc\xcc"   # > 8: mandatory
    out = bytearray(64)
    assert pad(out, 10, 0x55) == 12 and out[10:12] == b"\x55\x55"
    out = bytearray(64)
    assert pad(out, 47, 0xAA) == 48 and out[47] == 0xAA
    assert pad(bytearray(64), 3, 0x00) == 8


def _dec(s, off=0):
    d = hexs(s)
    p = Pdu()
    return p.decode(d, len(d), off), p


def test_decode_sf():
    k, p = _dec("02 3E 00 CC CC CC CC CC")
    assert k == K_SF and p.dl == 2 and p.start == 1
    k, p = _dec("02 3E 00")                  # optimised
    assert k == K_SF and p.dl == 2
    k, p = _dec("07 01 02 03 04 05 06 07")
    assert k == K_SF and p.dl == 7
    k, p = _dec("F1 06 01 02 03 04 05 06", 1)    # extended/mixed: address first
    assert k == K_SF and p.dl == 6 and p.start == 2
    k, p = _dec("00 0A" + " 11" * 10)        # FD escape, CAN_DL 12
    assert k == K_SF and p.dl == 10 and p.start == 2
    k, p = _dec("00 03 01 02 03" + " CC" * 59)   # FD escape, padded to 64: accepted
    assert k == K_SF and p.dl == 3


def test_decode_sf_rejects():
    assert _dec("00 3E 00 CC CC CC CC CC")[0] == K_INVALID  # SF_DL 0 in CAN_DL <= 8
    assert _dec("08 01 02 03 04 05 06 07")[0] == K_INVALID  # too long for 8 bytes
    assert _dec("03 3E 00")[0] == K_INVALID                 # longer than the frame
    assert _dec("F1 07 01 02 03 04 05 06", 1)[0] == K_INVALID
    assert _dec("02 01 02" + " CC" * 9)[0] == K_INVALID      # CAN_DL > 8 needs the escape
    assert _dec("00 00" + " CC" * 10)[0] == K_INVALID        # escape SF_DL 0
    assert _dec("00 0B" + " CC" * 10)[0] == K_INVALID        # escape SF_DL > CAN_DL - 2
    assert _dec("")[0] == K_INVALID
    assert _dec("F1", 1)[0] == K_INVALID                     # address byte only


def test_decode_ff():
    k, p = _dec("10 14 00 01 02 03 04 05")
    assert k == K_FF and p.dl == 20 and p.start == 2
    k, p = _dec("10 08 00 01 02 03 04 05")   # FF_DL minimum, normal addressing
    assert k == K_FF and p.dl == 8
    k, p = _dec("F1 10 07 00 01 02 03 04", 1)   # minimum 7 with an address byte
    assert k == K_FF and p.dl == 7 and p.start == 3
    k, p = _dec("10 00 00 00 13 88 01 02")   # escape: 5000
    assert k == K_FF and p.dl == 5000 and p.start == 6 and not p.big
    k, p = _dec("10 00 FF FF FF FF 01 02")   # 4 GiB: always an overflow
    assert k == K_FF and p.big
    k, p = _dec("1F FF" + " 00" * 62)        # FD, CAN_DL 64
    assert k == K_FF and p.dl == 4095


def test_decode_ff_rejects():
    assert _dec("10 07 00 01 02 03 04 05")[0] == K_INVALID   # fits a SF
    assert _dec("F1 10 06 00 01 02 03 04", 1)[0] == K_INVALID
    assert _dec("10 14 00 01 02 03 04")[0] == K_INVALID      # CAN_DL < 8
    assert _dec("10 00 00 00 0F FF 01 02")[0] == K_INVALID   # escape for <= 4095
    assert _dec("10 3E" + " 00" * 62)[0] == K_INVALID        # CAN_DL 64: FF_DL < 63
    assert _dec("10 3F" + " 00" * 62)[0] == K_FF
    assert _dec("10 0A" + " 00" * 10)[0] == K_INVALID        # CAN_DL 12: FF_DL < 11
    assert _dec("10 0B" + " 00" * 10)[0] == K_FF
    assert _dec("10 40" + " 00" * 8)[0] == K_INVALID         # CAN_DL 10 is not valid


def test_decode_cf_fc():
    k, p = _dec("2F 01 02")
    assert k == K_CF and p.sn == 15 and p.start == 1
    k, p = _dec("F1 21 01", 1)
    assert k == K_CF and p.sn == 1 and p.start == 2
    k, p = _dec("30 08 14 CC CC CC CC CC")
    assert k == K_FC and p.fs == 0 and p.bs == 8 and p.stmin == 0x14
    k, p = _dec("31 00 00")
    assert k == K_FC and p.fs == 1
    k, p = _dec("35 00 00")                  # reserved FS: decoded, the sender fails
    assert k == K_FC and p.fs == 5
    assert _dec("30 08")[0] == K_INVALID     # too short
    assert _dec("F1 30 08", 1)[0] == K_INVALID
    for t in range(4, 16):
        assert _dec("%X0 00 00 00 00 00 00 00" % t)[0] == K_INVALID


def test_copy_into():
    # the bulk copy of the hot paths (slice copy or index loop, by runtime)
    dst = bytearray(10)
    src = b"\x01\x02\x03\x04\x05\x06"
    copy_into(dst, 2, src, 1, 4)
    assert dst == b"\x00\x00\x02\x03\x04\x05\x00\x00\x00\x00"
    copy_into(dst, 0, memoryview(src), 5, 1)
    copy_into(dst, 9, src, 0, 0)
    assert dst[0] == 6 and len(dst) == 10 and dst[9] == 0
    copy_into(dst, 6, bytearray(b"\xAA\xBB\xCC\xDD"), 0, 4)
    assert dst[6:] == b"\xAA\xBB\xCC\xDD"
