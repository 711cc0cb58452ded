# Host-link framing: CRC-16 check value, COBS vectors, resynchronisation
# after garbage, and bad frames counted with named results (never raised).
from diagbridge.codes import OK, LINK_BAD_CRC, LINK_OVERSIZE, LINK_TRUNCATED
from diagbridge.link.cobs import (Deframer, cobs_encode, encode_frame, frame_size,
                                  EV_FRAME, EV_FRAME_BAD)
from diagbridge.crc import crc16, crc16_byte, CRC16_CHECK, CRC16_INIT, CRC16_TABLE
from support import run_locked
from link_support import FakeRandom


def _cobs(src):
    out = bytearray(len(src) + len(src) // 254 + 2)
    return bytes(out[:cobs_encode(src, len(src), out, 0)])


def _seq(a, b):
    return bytes(range(a, b + 1))


def test_crc16_check_value():
    assert crc16(b"123456789") == CRC16_CHECK == 0x29B1
    assert crc16(b"") == CRC16_INIT


def test_crc16_table_is_the_bitwise_crc():
    for b in range(256):
        c = b << 8
        for _ in range(8):
            c = ((c << 1) ^ 0x1021) & 0xFFFF if c & 0x8000 else (c << 1) & 0xFFFF
        assert (CRC16_TABLE[2 * b] << 8) | CRC16_TABLE[2 * b + 1] == c


def test_crc16_residue_is_zero():
    m = b"diagbridge"
    c = crc16(m)
    assert crc16(m + bytes([c >> 8, c & 0xFF])) == 0
    x = CRC16_INIT
    for b in m:
        x = crc16_byte(x, b)
    assert x == c


def test_cobs_vectors_from_the_paper_and_wikipedia():
    assert _cobs(b"\x00") == b"\x01\x01"
    assert _cobs(b"\x00\x00") == b"\x01\x01\x01"
    assert _cobs(b"\x00\x11\x00") == b"\x01\x02\x11\x01"
    assert _cobs(b"\x11\x22\x00\x33") == b"\x03\x11\x22\x02\x33"
    assert _cobs(b"\x11\x22\x33\x44") == b"\x05\x11\x22\x33\x44"
    assert _cobs(b"\x11\x00\x00\x00") == b"\x02\x11\x01\x01\x01"
    assert _cobs(_seq(1, 254)) == b"\xff" + _seq(1, 254)
    assert _cobs(_seq(0, 254)) == b"\x01\xff" + _seq(1, 254)
    assert _cobs(_seq(1, 255)) == b"\xff" + _seq(1, 254) + b"\x02\xff"
    assert _cobs(_seq(2, 255) + b"\x00") == b"\xff" + _seq(2, 255) + b"\x01\x01"
    assert _cobs(_seq(3, 255) + b"\x00\x01") == b"\xfe" + _seq(3, 255) + b"\x02\x01"
    assert _cobs(b"") == b"\x01"


def _decode_all(d, data):
    got = []
    i = 0
    while i < len(data):
        i = d.feed_bytes(0, data, len(data), i)
        ev = d.poll()
        if ev == EV_FRAME:
            got.append(bytes(d.payload[:d.length]))
        elif ev == EV_FRAME_BAD:
            got.append(d.result)
    return got


def _frame(m):
    out = bytearray(frame_size(len(m)))
    return bytes(out[:encode_frame(m, len(m), out)])


def test_frames_round_trip_at_every_block_boundary():
    d = Deframer(1100)
    msgs = [b"\x00", b"\x00\x00", _seq(1, 252), _seq(1, 253), _seq(1, 254), _seq(0, 254),
            _seq(1, 255), _seq(2, 255) + b"\x00", bytes(300), bytes([0xFF]) * 1000,
            _seq(1, 254) * 4]
    stream = b"".join(_frame(m) for m in msgs)
    assert _decode_all(d, stream) == msgs
    assert d.frames == len(msgs) and d.bad_crc == d.truncated == d.oversize == 0


def test_frame_layout_and_worst_case_size():
    f = _frame(b"\x11\x22")
    assert f[0] == 0 and f[-1] == 0 and 0 not in f[1:-1]
    for n in (0, 1, 251, 252, 253, 254, 255, 1000):
        m = bytes([0x5A]) * n
        assert len(_frame(m)) <= frame_size(n)


def test_byte_at_a_time_feeding():
    d = Deframer(64)
    stream = _frame(b"abc") + _frame(b"\x00\x01\x00")
    got = []
    for b in stream:
        one = bytes([b])
        assert d.feed_bytes(5, one, 1) == 1
        if d.poll() == EV_FRAME:
            got.append(bytes(d.payload[:d.length]))
    assert got == [b"abc", b"\x00\x01\x00"] and d.rx_time == 5


def test_resync_after_random_garbage():
    rnd = FakeRandom(7)
    msg = b"\x93\x06\x00\x80"
    for trial in range(50):
        d = Deframer(256)
        garbage = rnd(1 + trial * 13)
        got = _decode_all(d, garbage + _frame(msg))
        assert got[-1] == msg, trial                # the valid frame always arrives
        assert d.frames == 1
        # everything else was counted as a bad frame, not delivered
        assert len(got) - 1 == d.bad_crc + d.truncated + d.oversize


def test_bad_crc_truncated_and_oversize_are_counted():
    d = Deframer(64)
    good = _frame(b"hello")
    bad = bytearray(good)
    bad[3] ^= 0x01
    cut = good[:-4] + b"\x00"                       # the stream stopped mid-block
    tiny = b"\x00\x02\x41\x00"                      # one byte: no room for the CRC
    huge = _frame(bytes(65))                        # one byte over max_frame
    got = _decode_all(d, bytes(bad) + cut + tiny + huge + good)
    assert got == [LINK_BAD_CRC, LINK_TRUNCATED, LINK_TRUNCATED, LINK_OVERSIZE, b"hello"]
    assert (d.bad_crc, d.truncated, d.oversize, d.frames) == (1, 2, 1, 1)
    assert d.result == OK


def test_oversize_without_delimiter_is_reported_once_and_skipped():
    d = Deframer(64)
    got = _decode_all(d, b"\x00" + bytes([0x41]) * 1000 + _frame(b"ok"))
    assert got == [LINK_OVERSIZE, b"ok"] and d.oversize == 1


def test_empty_frames_between_delimiters_are_ignored():
    d = Deframer(64)
    assert _decode_all(d, b"\x00\x00\x00" + _frame(b"x") + b"\x00\x00") == [b"x"]
    assert d.truncated == 0 and d.bad_crc == 0


def test_encoder_and_decoder_allocate_nothing():
    d = Deframer(128)
    msg = bytearray(b"\x93\x40\xcd\x00\x01\x85\x0c\x00\x0b\xce\x00\x01\x00\x00")
    out = bytearray(frame_size(len(msg)) * 4)
    stats = [0, 0]

    def run():
        for _ in range(20):
            n = encode_frame(msg, len(msg), out, 0)
            n = encode_frame(msg, len(msg), out, n)
            i = 0
            while i < n:
                i = d.feed_bytes(0, out, n, i)
                if d.poll() == EV_FRAME:
                    stats[0] += 1
                    stats[1] += d.length
    run_locked(run)
    assert stats == [40, 40 * len(msg)]


def test_one_crc16_serves_the_link_the_checksum_routine_and_the_flasher():
    from diagbridge.crc import crc16_ccitt, Crc32
    data = b"123456789"
    assert crc16_ccitt(data, 0, 9) == CRC16_CHECK == crc16(data)
    # continuing from a partial value gives the same result as one pass
    assert crc16_ccitt(data, 4, 5, crc16_ccitt(data, 0, 4)) == CRC16_CHECK
    c = Crc32()
    c.update(data, 0, 9)
    assert c.value() == 0xCBF43926          # CRC-32/IEEE check value
