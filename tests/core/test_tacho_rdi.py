# The recordDataIdentifier table of the tachograph calibration protocol
# (tacho/rdi.py; tacho-digest 3): both annexes' RDIs with their lengths and
# access, the digest's example encodings both ways, and every out-of-range
# value refused with UsageError naming the record.
from diagbridge.errors import UsageError
from diagbridge.tacho import rdi as R


def hexs(s):
    return bytes(int(x, 16) for x in s.split())


def _refused(rdi, value):
    try:
        R.encode(rdi, value)
    except UsageError as e:
        assert R.get(rdi).name in str(e), str(e)
        return str(e)
    raise AssertionError("accepted %r for 0x%04X" % (value, rdi))


def test_table_28_of_both_annexes():
    assert R.ids("1B") == (0xF90B, 0xF912, 0xF918, 0xF91C, 0xF91D, 0xF921, 0xF922, 0xF92C,
                           0xF97D, 0xF97E, 0xF190)
    assert R.ids("1C") == R.ids("1B") + tuple(range(0xF9D0, 0xF9D9))
    lengths = {0xF90B: 8, 0xF912: 4, 0xF918: 2, 0xF91C: 2, 0xF91D: 2, 0xF921: 15, 0xF922: 3,
               0xF92C: 2, 0xF97D: 3, 0xF97E: 14, 0xF190: 17, 0xF9D0: 8, 0xF9D1: 8,
               0xF9D2: 8, 0xF9D3: 55, 0xF9D4: 8, 0xF9D5: 1, 0xF9D6: 2, 0xF9D7: 14, 0xF9D8: 3}
    for rdi in lengths:
        assert R.get(rdi).length == lengths[rdi], hex(rdi)
    for rdi in R.ids("1B"):
        assert (R.get(rdi).access("1B"), R.get(rdi).access("1C")) == ("rw", "rw")
        assert R.get(rdi).annex == "1B"
    ro = [r for r in R.ids("1C") if R.get(r).access("1C") == "r"]
    assert ro == [0xF9D0, 0xF9D1, 0xF9D2, 0xF9D4, 0xF9D7, 0xF9D8]
    assert R.get(0xF9D3).access("1B") is None and R.get(0xF9D3).annex == "1C"
    assert R.get(0xF912).mnemonic == "RDI_HRTVD" and R.get(0xF912).unit == "km"
    try:
        R.get(0xF9FF)
        raise AssertionError("unknown RDI accepted")
    except UsageError:
        pass
    try:
        R.get(0xF90B).access("1A")
        raise AssertionError("unknown annex accepted")
    except UsageError:
        pass


def test_digest_examples_both_ways():
    cases = (
        (0xF90B, (2024, 3, 15, 12, 34, 56, 0, 0), "E0 22 0C 03 3C 27 7D 7D"),
        (0xF912, 250000, "02 FA F0 80"),
        (0xF918, 8000, "1F 40"),
        (0xF91C, 3250, "65 90"),
        (0xF91D, 8000, "1F 40"),
        (0xF922, (2026, 3, 15), "03 3C 29"),
        (0xF92C, 90, "5A 00"),
        (0xF9D5, 1, "01"),
        (0xF9D6, 0xA5E3, "A5 E3"),
    )
    for rdi, value, raw in cases:
        assert R.encode(rdi, value) == hexs(raw), hex(rdi)
        assert R.decode(rdi, hexs(raw)) == value, hex(rdi)
    assert R.encode(0xF190, "TESTVIN0123456789") == b"TESTVIN0123456789"
    assert R.encode(0xF921, "315/80 R22.5") == b"315/80 R22.5   "      # space padded
    assert R.decode(0xF921, b"315/80 R22.5   ") == "315/80 R22.5"
    assert R.encode(0xF97D, "D") == b"D  "
    assert R.encode(0xF97E, (1, "B-AB 1234")) == b"\x01B-AB 1234    "
    assert R.decode(0xF97E, b"\x01B-AB 1234    ") == (1, "B-AB 1234")
    seals = (b"\x0f" + b" " * 10) * 5
    assert R.encode(0xF9D3, seals) == seals and R.decode(0xF9D3, seals) == seals


def test_resolutions_and_rounding():
    assert R.decode(0xF92C, hexs("5A 80")) == 90.5              # 1/256 km/h
    assert R.decode(0xF91C, hexs("00 01")) == 0.125             # 1/8 mm
    assert R.decode(0xF912, hexs("00 00 00 01")) == 0.005       # 5 m
    assert R.encode(0xF92C, 90.5) == hexs("5A 80")
    assert R.encode(0xF912, 0.004) == hexs("00 00 00 01")      # rounded to 5 m
    assert R.encode(0xF91C, 8031) == hexs("FA F8")
    assert R.decode(0xF90B, hexs("E3 00 00 01 04 00 7D 7D"))[2] == 1    # quarter days 1..4
    assert R.decode(0xF90B, hexs("E3 00 00 01 05 00 7D 7D"))[2] == 2
    assert R.decode(0xF90B, hexs("00 00 00 01 04 00 82 7B"))[6:] == (5, -2)


def test_out_of_range_values_are_refused():
    _refused(0xF92C, 251)                   # above FAFF = 250.996 km/h
    _refused(0xF92C, -1)
    _refused(0xF918, 64256)                 # above 64.255 pulse/m
    _refused(0xF912, 21055407)              # above FAFFFFFF x 5 m
    _refused(0xF912, "250000")
    _refused(0xF912, True)
    _refused(0xF90B, (2024, 13, 15, 12, 34, 56, 0, 0))
    _refused(0xF90B, (2024, 3, 32, 12, 34, 56, 0, 0))
    _refused(0xF90B, (2024, 3, 15, 24, 0, 0, 0, 0))
    _refused(0xF90B, (2024, 3, 15, 12, 60, 0, 0, 0))
    _refused(0xF90B, (2024, 3, 15, 12, 0, 60, 0, 0))
    _refused(0xF90B, (1984, 3, 15, 12, 0, 0, 0, 0))
    _refused(0xF90B, (2024, 3, 15, 12, 0, 0, 60, 0))
    _refused(0xF90B, (2024, 3, 15, 12, 0, 0, 0, -24))
    _refused(0xF90B, (2024, 3, 15))
    _refused(0xF922, (2236, 1, 1))
    _refused(0xF190, "TESTVIN01234567890")  # 18 characters
    _refused(0xF190, "TESTVIN*123456789")   # '*' is reserved (CPR_073)
    _refused(0xF921, "315/80\x01R22.5")
    _refused(0xF97E, (4, "B-AB 1234"))      # no such code page
    _refused(0xF97E, (1, "B-AB 1234 567890"))
    _refused(0xF9D5, 3)
    _refused(0xF9D6, 1)
    _refused(0xF9D3, b"\x00" * 54)
    try:
        R.decode(0xF918, b"\x1f")
        raise AssertionError("short dataRecord decoded")
    except UsageError as e:
        assert "Kfactor" in str(e)
