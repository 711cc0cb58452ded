# K-Line message structure (SSF 14230-2 section 4) and key bytes (5.1.2.1):
# build, parse, checksum, the length-byte rules.  Every frame of the digest's
# conformance vectors V1-V27 is checked byte for byte.
from diagbridge.codes import OK, K_HEADER_ERROR, K_CHECKSUM_ERROR, code_name
from diagbridge.errors import UsageError
from diagbridge.kline.frame import (build, parse, checksum, expected_total, header_len,
                                    FrameInfo, MAX_FRAME, MAX_DATA)
from diagbridge.kline.keybytes import (odd_parity, keyword, key_bytes_valid,
                                       supports_fmt_length, supports_length_byte,
                                       extended_timing, with_parity)
from kline_support import hexs
from support import raises

# Every frame of V1-V27 and the extra reference frames (kline-digest 10).
VECTOR_FRAMES = (
    "81 11 F1 81 04", "80 F1 11 03 C1 EA 8F BF", "C1 33 F1 81 66", "80 F1 23 03 C1 EA 8F D1",
    "81 22 F1 81 15", "80 11 F1 02 83 02 09", "80 F1 11 07 C3 02 32 02 6E 14 0A 0E",
    "80 11 F1 07 83 03 32 04 DC 14 0A 3F", "80 F1 11 02 C3 03 4A",
    "80 F1 11 07 C3 02 32 04 DC 14 0A 7E", "80 11 F1 02 83 01 08", "80 F1 11 02 C3 01 48",
    "80 F1 11 03 7F 83 10 97", "80 11 F1 01 82 05", "80 F1 11 01 C2 45",
    "80 F1 11 03 7F 82 10 96", "82 11 F1 21 01 A6", "80 11 F1 02 21 01 A6",
    "80 22 F1 02 21 01 B7", "80 F1 11 03 7F 21 78 9D", "80 11 F1 02 10 82 16",
    "80 F1 11 02 50 82 56", "81 EE F1 81 E1", "80 F1 EE 03 C1 EA 8F 9C",
    "80 EE F1 02 10 81 F2", "80 F1 EE 02 50 81 32", "80 EE F1 02 10 86 F7",
    "80 F1 EE 03 7F 10 12 03", "80 EE F1 03 10 81 00 F3", "80 F1 EE 03 7F 10 13 04",
    "80 EE F1 02 27 7D 05", "80 F1 EE 03 7F 27 22 2A", "80 F1 EE 04 67 7D 12 34 8D",
    "80 F1 EE 04 67 7D 00 00 47", "80 EE F1 06 27 7E 01 02 03 04 14",
    "80 F1 EE 03 7F 27 78 80", "80 F1 EE 02 67 7E 46", "80 F1 EE 03 7F 27 35 3D",
    "80 F1 EE 03 7F 27 36 3E", "80 F1 EE 03 7F 27 10 18", "80 EE F1 05 27 7E 01 02 03 0F",
    "80 F1 EE 03 7F 27 13 1B", "80 EE F1 02 27 01 89", "80 F1 EE 03 7F 27 12 1A",
    "80 EE F1 0A 27 7E 01 02 03 04 05 06 07 08 32", "80 EE F1 02 10 85 F6",
    "80 F1 EE 02 50 85 36", "80 EE F1 02 10 87 F8", "80 EE F1 01 82 E2", "80 F1 EE 01 C2 22",
    "C0 33 F1 01 82 67", "80 11 F1 02 83 00 07", "80 F1 11 07 C3 00 00 FF 00 FF 00 4A",
    "81 23 F1 81 16", "80 23 F1 02 21 01 B8", "80 23 F1 01 82 17", "80 F1 23 01 C2 57",
)


def test_checksum_is_the_plain_8_bit_sum():
    assert checksum(hexs("81 11 F1 81"), 0, 4) == 0x04
    assert checksum(hexs("80 F1 11 03 C1 EA 8F"), 0, 7) == 0xBF
    assert checksum(hexs("80 EE F1 02 27 7D"), 0, 6) == 0x05
    # moving the length from Len into Fmt keeps the sum: the CS cannot catch it
    assert checksum(hexs("82 11 F1 21 01"), 0, 5) == checksum(hexs("80 11 F1 02 21 01"), 0, 6)
    assert checksum(hexs("00 00 FF FF 02"), 1, 3) == 0xFE      # from offset 1: 00+FF+FF


def test_v01_to_v27_every_vector_frame_parses_and_rebuilds_byte_exact():
    info = FrameInfo()
    out = bytearray(MAX_FRAME)
    for s in VECTOR_FRAMES:
        f = hexs(s)
        assert expected_total(f, len(f)) == len(f), s
        assert parse(f, len(f), info) == OK, s
        assert info.total == len(f) and info.data_len == len(f) - info.data_off - 1
        assert info.len_in_fmt == (f[0] & 0x3F != 0)
        assert info.functional == (f[0] & 0xC0 == 0xC0)
        n = build(out, info.functional, info.tgt, info.src, f, info.data_off, info.data_len,
                  info.len_in_fmt)
        assert bytes(out[:n]) == f, s


def test_build_uses_the_length_byte_unless_asked_for_the_format_byte_form():
    out = bytearray(MAX_FRAME)
    n = build(out, False, 0x11, 0xF1, b"\x81", 0, 1, True)
    assert bytes(out[:n]) == hexs("81 11 F1 81 04")             # StartCommunication
    n = build(out, True, 0x33, 0xF1, b"\x81", 0, 1, True)
    assert bytes(out[:n]) == hexs("C1 33 F1 81 66")
    n = build(out, False, 0x11, 0xF1, b"\x21\x01", 0, 2)
    assert bytes(out[:n]) == hexs("80 11 F1 02 21 01 A6")       # the SSF rule: Len present
    n = build(out, True, 0x33, 0xF1, b"\x82", 0, 1)
    assert bytes(out[:n]) == hexs("C0 33 F1 01 82 67")
    n = build(out, False, 0x11, 0xF1, b"\x21\x01", 0, 2, True)
    assert bytes(out[:n]) == hexs("82 11 F1 21 01 A6")


def test_longest_message_255_data_bytes_is_260_bytes():
    out = bytearray(MAX_FRAME)
    data = bytes(i & 0xFF for i in range(MAX_DATA))
    n = build(out, False, 0x11, 0xF1, data, 0, MAX_DATA)
    assert n == 260 == MAX_FRAME and out[3] == 255
    info = FrameInfo()
    assert parse(out, n, info) == OK and info.data_len == 255 and info.data_off == 4
    assert bytes(out[4:4 + 255]) == data
    # 63 data bytes fit the format byte, 64 need the length byte
    assert build(out, False, 1, 2, data, 0, 63, True) == 3 + 63 + 1 and out[0] == 0xBF


def test_build_refuses_the_callers_mistakes():
    out = bytearray(MAX_FRAME)
    d = bytes(300)
    assert raises(UsageError, build, out, False, 1, 2, d, 0, 0)          # no SId
    assert raises(UsageError, build, out, False, 1, 2, d, 0, 256)        # > 255
    assert raises(UsageError, build, out, False, 1, 2, d, 0, 64, True)   # > 63 in Fmt
    assert raises(UsageError, build, bytearray(6), False, 1, 2, d, 0, 2)  # 7 bytes needed
    assert build(bytearray(7), False, 1, 2, d, 0, 2) == 7


def test_expected_total_as_header_bytes_arrive():
    f = hexs("80 11 F1 02 21 01 A6")
    assert [expected_total(f, k) for k in range(5)] == [0, 0, 0, 0, 7]
    g = hexs("82 11 F1 21 01 A6")
    assert [expected_total(g, k) for k in range(3)] == [0, 6, 6]
    assert header_len(0x80) == 4 and header_len(0x82) == 3
    assert expected_total(hexs("02 11 F1"), 1) == -1        # HM0
    assert expected_total(hexs("42 11 F1"), 1) == -1        # HM1
    assert expected_total(hexs("80 11 F1 00"), 4) == -1     # Len = 0


def test_parse_errors_are_named_result_codes():
    info = FrameInfo()

    def p(s, **kw):
        f = hexs(s)
        return parse(f, len(f), info, kw.get("fmt", True), kw.get("lb", True))
    assert p("80 11 F1 02 21 01 A7") == K_CHECKSUM_ERROR            # V14
    assert p("02 11 F1 21 01 26") == K_HEADER_ERROR                 # HM0: not defined
    assert p("42 11 F1 21 01 66") == K_HEADER_ERROR                 # HM1: not defined
    assert p("80 11 F1 00 11") == K_HEADER_ERROR                    # length byte 0
    assert p("80 11 F1 02 21 A5") == K_HEADER_ERROR                 # one byte short
    assert p("80 11 F1 02 21 01 A6 00") == K_HEADER_ERROR           # one byte too many
    # V13: the Swedish ECU (KB1 AL0 = 0) does not take the length in Fmt
    assert p("82 11 F1 21 01 A6", fmt=False) == K_HEADER_ERROR
    assert p("82 11 F1 21 01 A6") == OK
    # V6: a StartCommunication must not use the length byte
    assert p("80 11 F1 01 81 04", lb=False) == K_HEADER_ERROR
    assert code_name(K_HEADER_ERROR) == "K_HEADER_ERROR"
    assert code_name(K_CHECKSUM_ERROR) == "K_CHECKSUM_ERROR"


# Table 4: every key byte pair listed, with its keyword.
TABLE4 = ((0x8FD0, 2000), (0x8FD5, 2005), (0x8FD6, 2006), (0x8F57, 2007), (0x8FD9, 2009),
          (0x8FDA, 2010), (0x8F5B, 2011), (0x8F5D, 2013), (0x8F5E, 2014), (0x8FDF, 2015),
          (0x8FE5, 2021), (0x8FE6, 2022), (0x8F67, 2023), (0x8FE9, 2025), (0x8FEA, 2026),
          (0x8F6B, 2027), (0x8F6D, 2029), (0x8F6E, 2030), (0x8FEF, 2031))


def test_key_bytes_table_4_parity_and_keywords():
    for hexval, dec in TABLE4:
        kb2, kb1 = hexval >> 8, hexval & 0xFF
        assert odd_parity(kb1) and odd_parity(kb2), hex(hexval)
        assert keyword(kb1, kb2) == dec
        assert with_parity(kb1 & 0x7F) == kb1
        assert extended_timing(kb1) == (dec < 2020)


def test_key_bytes_meaning_ea_e9_ef():
    # EA 8F (SSF): length byte only, addresses, normal timing
    assert key_bytes_valid(0xEA, 0x8F)
    assert supports_length_byte(0xEA) and not supports_fmt_length(0xEA)
    assert not extended_timing(0xEA)
    # E9 8F: length in the format byte only
    assert key_bytes_valid(0xE9, 0x8F)
    assert supports_fmt_length(0xE9) and not supports_length_byte(0xE9)
    # EF 8F: both length forms, both header types
    assert key_bytes_valid(0xEF, 0x8F)
    assert supports_fmt_length(0xEF) and supports_length_byte(0xEF)
    # D9 8F (2009): extended timing
    assert key_bytes_valid(0xD9, 0x8F) and extended_timing(0xD9)


def test_key_bytes_refused():
    assert not key_bytes_valid(0x6A, 0x8F)     # KB1 parity even
    assert not key_bytes_valid(0xEA, 0x0F)     # KB2 parity even
    assert not key_bytes_valid(0xEA, 0x94)     # KB2 is not 0x8F (ISO 9141 style)
    assert not key_bytes_valid(with_parity(0x2A), 0x8F)    # bit 6 not set
    assert not key_bytes_valid(with_parity(0x7A), 0x8F)    # TP0 = TP1 = 1: undefined
    assert not key_bytes_valid(with_parity(0x4A), 0x8F)    # TP0 = TP1 = 0: undefined
    assert not key_bytes_valid(0xE5, 0x8F)     # 1-byte header only: this link needs addresses
    assert not key_bytes_valid(with_parity(0x68), 0x8F)    # no length form at all


def test_k_line_result_codes_are_unique_named_and_in_their_range():
    from diagbridge import codes
    ks = [n for n in dir(codes) if n.startswith("K_")]
    assert len(ks) == 14
    vals = [getattr(codes, n) for n in ks]
    assert len(set(vals)) == len(vals)
    for n in ks:
        v = getattr(codes, n)
        assert 0x20 <= v <= 0x3F and code_name(v) == n
