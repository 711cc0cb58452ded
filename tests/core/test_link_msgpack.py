# The gateway's msgpack subset against golden encodings from the spec
# (the CPython suite also checks it against PyPI msgpack in both directions).
from diagbridge.errors import UsageError
from diagbridge.link.msgpack import (Reader, packb, pack_int, pack_bin, pack_uint16,
                                     pack_map_header, T_INT, T_MAP, T_BAD, T_EXT)
from support import raises, run_locked

GOLDEN = (
    (0, b"\x00"), (127, b"\x7f"), (128, b"\xcc\x80"), (255, b"\xcc\xff"),
    (256, b"\xcd\x01\x00"), (65535, b"\xcd\xff\xff"), (65536, b"\xce\x00\x01\x00\x00"),
    (0xFFFFFFFF, b"\xce\xff\xff\xff\xff"),
    (0x100000000, b"\xcf\x00\x00\x00\x01\x00\x00\x00\x00"),
    (0xFFFFFFFFFFFFFFFF, b"\xcf" + b"\xff" * 8),
    (-1, b"\xff"), (-32, b"\xe0"), (-33, b"\xd0\xdf"), (-128, b"\xd0\x80"),
    (-129, b"\xd1\xff\x7f"), (-32768, b"\xd1\x80\x00"), (-32769, b"\xd2\xff\xff\x7f\xff"),
    (-0x80000000, b"\xd2\x80\x00\x00\x00"),
    (-0x80000001, b"\xd3\xff\xff\xff\xff\x7f\xff\xff\xff"),
    (-0x8000000000000000, b"\xd3\x80" + bytes(7)),
    (None, b"\xc0"), (False, b"\xc2"), (True, b"\xc3"),
    (b"", b"\xc4\x00"), (b"\x01\x02", b"\xc4\x02\x01\x02"),
    ("", b"\xa0"), ("abc", b"\xa3abc"), ("\u20ac", b"\xa3\xe2\x82\xac"),
    ([], b"\x90"), ({}, b"\x80"), ([1, [2]], b"\x92\x01\x91\x02"),
    ({1: b"\x00"}, b"\x81\x01\xc4\x01\x00"),
)


def test_golden_encodings_both_ways():
    for v, enc in GOLDEN:
        assert packb(v) == enc, v
        r = Reader(enc, 0, len(enc))
        got = r.read_obj()
        assert r.ok and got == v and r.pos == len(enc), v



def test_length_boundaries():
    # fixstr 31 / str8 32 / str8 255 / str16 256 / str16 65535 / str32 65536
    for n, head in ((31, b"\xbf"), (32, b"\xd9\x20"), (255, b"\xd9\xff"), (256, b"\xda\x01\x00"),
                    (65535, b"\xda\xff\xff"), (65536, b"\xdb\x00\x01\x00\x00")):
        s = "x" * n
        enc = packb(s)
        assert enc[:len(head)] == head and len(enc) == len(head) + n, n
        r = Reader(enc, 0, len(enc))
        assert r.read_obj() == s
    # bin: no fix form
    for n, head in ((0, b"\xc4\x00"), (255, b"\xc4\xff"), (256, b"\xc5\x01\x00"),
                    (65535, b"\xc5\xff\xff"), (65536, b"\xc6\x00\x01\x00\x00")):
        enc = packb(bytes(n))
        assert enc[:len(head)] == head and len(enc) == len(head) + n, n
        assert Reader(enc, 0, len(enc)).read_obj() == bytes(n)
    # fixarray 15 / array16 16 / array16 65535 / array32 65536; maps alike
    for n, head in ((15, b"\x9f"), (16, b"\xdc\x00\x10"), (65535, b"\xdc\xff\xff"),
                    (65536, b"\xdd\x00\x01\x00\x00")):
        a = [0] * n
        enc = packb(a)
        assert enc[:len(head)] == head and len(enc) == len(head) + n
        assert Reader(enc, 0, len(enc)).read_obj() == a
    for n, head in ((15, b"\x8f"), (16, b"\xde\x00\x10")):
        m = {}
        for k in range(n):
            m[k] = None
        enc = packb(m)
        assert enc[:len(head)] == head
        assert Reader(enc, 0, len(enc)).read_obj() == m


def test_float_decoding():
    f64 = (b"\xcb\x3f\xf8\x00\x00\x00\x00\x00\x00", 1.5)
    r = Reader(f64[0], 0, 9)
    assert r.read_obj() == 1.5 and r.ok
    for enc, v in ((b"\xcb\xc0\x09\x21\xfb\x54\x44\x2d\x18", -3.141592653589793),
                   (b"\xcb\x00\x00\x00\x00\x00\x00\x00\x00", 0.0),
                   (b"\xcb\x7f\xef\xff\xff\xff\xff\xff\xff", 1.7976931348623157e308),
                   (b"\xcb\x00\x10\x00\x00\x00\x00\x00\x00", 2.2250738585072014e-308),
                   (b"\xca\x3f\xc0\x00\x00", 1.5), (b"\xca\xc2\x28\x00\x00", -42.0)):
        r = Reader(enc, 0, len(enc))
        assert r.read_obj() == v and r.ok, enc
    r = Reader(b"\xcb\x7f\xf0\x00\x00\x00\x00\x00\x00", 0, 9)
    assert r.read_obj() > 1e308
    r = Reader(b"\xcb\x80\x00\x00\x00\x00\x00\x00\x00", 0, 9)
    assert str(r.read_obj()) == "-0.0"


def test_malformed_input_never_raises():
    bad = (b"", b"\xc1", b"\xcd\x01", b"\xa5ab", b"\x92\x01", b"\xc4\x05\x00",
           b"\x81\x91\x00\x01",                 # an array as a map key
           b"\xdd\xff\xff\xff\xff",             # a huge count with no items
           b"\x91" * 40 + b"\x00",             # nesting deeper than MAX_DEPTH
           b"\xd9\x02\xff\xfe",                 # not utf-8 (CPython rejects it)
           b"\x82\x0f\x01\x0f\x02",             # a key twice: which value is meant?
           b"\x82\x01\x00\xc3\x00",             # 1 and True: one key once decoded
           b"\x82\x0f\x00\xcb\x40\x2e" + bytes(6) + b"\x00",   # 15 and 15.0
           b"\x91\x82\xa1a\x00\xa1a\x01")       # nested maps too
    for enc in bad:
        r = Reader(enc, 0, len(enc))
        v = r.read_obj()
        if enc == b"\xd9\x02\xff\xfe" and r.ok:
            continue                            # MicroPython may not validate utf-8
        assert not r.ok and v is None, enc
        assert r.read_int() == 0 and r.head() == T_BAD     # sticky


def test_ext_is_skipped_or_unsupported():
    enc = b"\x92\xd4\x01\x02\x07"              # [fixext1, 7]
    r = Reader(enc, 0, len(enc))
    assert r.read_array() == 2 and r.head() == T_EXT and r.unsupported and r.read_int() == 7
    r = Reader(enc, 0, len(enc))
    assert r.read_obj() is None and r.unsupported


def test_reader_skip_and_seek_key():
    enc = packb({1: [1, 2, {3: b"x"}], 2: {5: None}, 15: b"\x22\xf1\x90", 16: -5})
    r = Reader(enc, 0, len(enc))
    assert r.head() == T_MAP
    assert r.seek_key(15, r.n) and r.read_bin() == 3 and enc[r.start] == 0x22
    r = Reader(enc, 0, len(enc))
    n = r.read_map()
    assert r.seek_key(16, n) and r.read_int() == -5
    r = Reader(enc, 0, len(enc))
    assert not r.seek_key(99, r.read_map()) and r.pos == len(enc)


def test_pack_errors_are_usage_errors():
    assert raises(UsageError, packb, 1 << 64)
    assert raises(UsageError, packb, -(1 << 63) - 1)
    assert raises(UsageError, packb, 1.5)
    assert raises(UsageError, packb, set())


def test_can_event_encoding_allocates_nothing():
    buf = bytearray(64)
    data = b"\x02\x10\x03\x00\x00\x00\x00\x00"
    r = Reader()
    out = [0, 0]

    def run():
        for k in range(50):
            buf[0] = 0x93
            buf[1] = 0x40
            i = pack_uint16(buf, 2, k)
            i = pack_map_header(buf, i, 3)
            buf[i] = 11
            i = pack_int(buf, i + 1, 0x1FFFFFFF - k)      # a tick just below 2**29
            buf[i] = 13
            i = pack_int(buf, i + 1, 0x18DAF110)
            buf[i] = 15
            i = pack_bin(buf, i + 1, data, 8)
            r.reset(buf, 0, i)
            r.read_array()
            r.read_int()
            out[0] += r.read_int()
            n = r.read_map()
            if r.seek_key(13, n):
                out[1] = r.read_int()
    run_locked(run)
    assert out == [sum(range(50)), 0x18DAF110]
    r.reset(buf, 0, 64)
    assert r.read_array() == 3 and r.head() == T_INT
