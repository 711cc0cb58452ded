# The virtual CAN bus and its bit-exact frame timing (diagbridge.sim.canframe,
# diagbridge.sim.canbus).  Portable: runs under pytest and MicroPython.
from diagbridge.clock import TICKS_MASK, ticks_diff
from diagbridge.codes import L_OK, L_BUS_OFF
from diagbridge.errors import UsageError
from diagbridge.can import DLC_LENGTHS
from diagbridge.sim.canframe import (dlc_for_len, len_for_dlc, crc15,
                                     frame_bits, frame_bitstream, frame_time_ns,
                                     count_stuff, fixed_stuff_bits)
from diagbridge.sim.canbus import (CanBus, FAULT_NONE, FAULT_DROP, FAULT_ERROR,
                                   CANF_EXT, CANF_FD, CANF_BRS, CANF_DROPPED, CANF_ERROR,
                                   can_flag_names)
from diagbridge.sim.kernel import Kernel, START_TICKS
from diagbridge.sim.recorder import Recorder, REC_CAN
from support import raises

BR = 500000
DBR = 2000000
D55 = b"\x55" * 8


# ---- a deliberately naive reference: strings of '0'/'1' -------------------------
def _b(v, width):
    s = ""
    for i in range(width - 1, -1, -1):
        s += "1" if (v >> i) & 1 else "0"
    return s


def _naive_crc15(s):
    # Polynomial long division of s * x^15 by the generator, on characters.
    gen = "1100010110011001"            # x^15+x^14+x^10+x^8+x^7+x^4+x^3+1
    r = list(s + "0" * 15)
    for i in range(len(s)):
        if r[i] == "1":
            for j in range(16):
                r[i + j] = "0" if r[i + j] == gen[j] else "1"
    return "".join(r[-15:])


def _naive_stuff(s, brs_at, trailing):
    # Insert a complementary bit whenever the last five bits SENT (stuff bits
    # included) are equal.  Returns (stuffed, index of the BRS bit in it).
    out = ""
    pos = -1
    for i in range(len(s)):
        if out[-5:] in ("00000", "11111"):
            out += "1" if out[-1] == "0" else "0"
        out += s[i]
        if i == brs_at:
            pos = len(out) - 1
    if trailing and out[-5:] in ("00000", "11111"):
        out += "1" if out[-1] == "0" else "0"
    return out, pos


def _naive_bits(can_id, ext, fd, brs, data):
    n = len(data)
    s = "0"
    if ext:
        s += _b(can_id >> 18, 11) + "11" + _b(can_id & 0x3FFFF, 18) + "0"
    else:
        s += _b(can_id, 11) + "00"
    brs_at = -1
    if fd:
        s += "10"
        brs_at = len(s)
        s += ("1" if brs else "0") + "0" + _b(dlc_for_len(n), 4)
    else:
        s += ("00" if ext else "0") + _b(n, 4)
    for b in data:
        s += _b(b, 8)
    tail = "1" + "1" + "1" + "1111111" + "111"      # CRC del, ACK, ACK del, EOF, IFS
    if not fd:
        s += _naive_crc15(s)
        out, pos = _naive_stuff(s, -1, True)
        return len(out + tail), 0
    out, pos = _naive_stuff(s, brs_at, False)
    field = 4 + (17 if n <= 16 else 21)             # stuff count + CRC
    crc = "F"                                       # a fixed stuff bit first ...
    for i in range(field):
        crc += "x"
        if (i + 1) % 4 == 0 and i + 1 < field:
            crc += "F"                              # ... and after every 4 bits
    if not brs:
        return len(out + crc + tail), 0
    return pos + 1 + len(tail), len(out) - pos - 1 + len(crc)


class _Lcg:
    def __init__(self, seed):
        self.x = seed

    def next(self, bound):
        self.x = (self.x * 1103515245 + 12345) & 0x7FFFFFFF
        return (self.x >> 8) % bound

    def bytes(self, n):
        return bytes([self.next(256) for _ in range(n)])


def _bitlist(data):
    bits = bytearray()
    for b in data:
        for i in range(7, -1, -1):
            bits.append((b >> i) & 1)
    return bits


# ---- canframe -----------------------------------------------------------------
def test_fd_dlc_table():
    for dlc in range(16):
        assert dlc_for_len(len_for_dlc(dlc)) == dlc
    assert len_for_dlc(9) == 12 and len_for_dlc(15) == 64 and dlc_for_len(48) == 14
    for bad in (9, 13, 63, 65, -1):
        assert raises(UsageError, dlc_for_len, bad)
    assert raises(UsageError, len_for_dlc, 16)


def test_crc15_check_value_and_codeword():
    # CRC-15/CAN catalogue check value: "123456789" -> 0x059E.
    bits = _bitlist(b"123456789")
    assert crc15(bits) == 0x059E
    assert _naive_crc15("".join([str(b) for b in bits])) == _b(0x059E, 15)
    # A frame's bits followed by its CRC divide by the generator: remainder 0.
    bits, _ = frame_bitstream(0x2AA, False, False, False, bytes(8), 8)
    assert crc15(bits, 0, 83) == 0x442D and crc15(bits) == 0


def test_classical_8_bytes_without_stuffing_is_111_bits():
    # 1+11+1+1+1+4+64+15 stuffed part, no run of 5 anywhere, + 13 tail (IFS
    # included).  CRC = 0x251C.
    bits, _ = frame_bitstream(0x2AA, False, False, False, D55, 8)
    assert len(bits) == 98 and count_stuff(bits) == (0, 0)
    assert frame_bits(0x2AA, False, False, False, D55, 8) == (111, 0)
    assert frame_time_ns(BR, DBR, 0x2AA, False, False, False, D55, 8) == 222000


def test_classical_all_zero_data():
    # DLC 1000 then 64 zero bits: 67 zeros, a stuff bit after every 5 -> 13;
    # the CRC 0x442D = 100010000101101 adds none.  98 + 13 + 13 = 124 bits.
    assert frame_bits(0x2AA, False, False, False, bytes(8), 8) == (124, 0)
    assert frame_time_ns(BR, DBR, 0x2AA, False, False, False, bytes(8), 8) == 248000


def test_extended_29_bit_frame():
    # 1+11+1+1+18+1+2+4+64+15 = 118; ID[17:0] ends 10000 + RTR 0 and the CRC
    # give 2 stuff bits; + 13 = 133 bits = 266 us.
    assert frame_bits(0x18DAF110, True, False, False, D55, 8) == (133, 0)
    assert frame_time_ns(BR, DBR, 0x18DAF110, True, False, False, D55, 8) == 266000
    # No data: 54 + 13 = 67, and "10000" + RTR, then r1 r0 DLC 0000: two
    # stuff bits (the CRC 0x2210 = 010001000010000 adds none) -> 69.
    assert frame_bits(0x18DAF110, True, False, False, b"", 0) == (69, 0)


def test_worst_case_bound_and_a_heavily_stuffed_frame():
    # A stuff bit can follow bit 5, 9, ... of the 98 stuffed bits: at most 24,
    # so 135 bits (270 us at 500 kbit/s).
    rnd = _Lcg(7)
    for _ in range(300):
        cid = rnd.next(0x800)
        data = rnd.bytes(8)
        nb = frame_bits(cid, False, False, False, data, 8)[0]
        assert 111 <= nb <= 135
    for b in (0x00, 0xFF, 0x0F, 0xF0, 0x3C, 0xC3, 0x1E, 0x87):
        for cid in (0, 0x7FF, 0x0F0, 0x70F):
            assert frame_bits(cid, False, False, False, bytes([b]) * 8, 8)[0] <= 135
    # 0x3C3C.. sends runs 0000 1111 0000 ...: 20 stuff bits.
    data = b"\x3c" * 8
    assert frame_bits(0x02F, False, False, False, data, 8) == (131, 0)
    assert _naive_bits(0x02F, False, False, False, data) == (131, 0)


def test_fd_64_bytes_with_and_without_brs():
    # Nominal: SOF..BRS = 17 bits (no run of 5) + 13 tail = 30.
    # Data phase: ESI + DLC(4) + 512 + 102 stuff bits (a zero run needs 5
    # fresh zeros after each stuff 1) + stuff count 4 + CRC-21 + 7 fixed = 651.
    z = bytes(64)
    assert frame_bits(0x123, False, True, True, z, 64) == (30, 651)
    assert frame_time_ns(BR, DBR, 0x123, False, True, True, z, 64) == 385500
    assert frame_bits(0x123, False, True, False, z, 64) == (681, 0)
    assert frame_time_ns(BR, DBR, 0x123, False, True, False, z, 64) == 1362000
    d = b"\x55" * 64                    # no stuffing: 1 + 4 + 512 + 32 = 549
    assert frame_bits(0x123, False, True, True, d, 64) == (30, 549)
    assert frame_time_ns(BR, DBR, 0x123, False, True, True, d, 64) == 334500


def test_fd_crc_field_fixed_stuff_bits():
    # One before the stuff count, one after every 4 bits: 1 + (4+17)//4 = 6,
    # 1 + (4+21)//4 = 7.
    assert fixed_stuff_bits(16) == 6 and fixed_stuff_bits(20) == 7
    d = b"\x55" * 20
    assert frame_bits(0x123, False, True, True, d, 16) == (30, 1 + 4 + 128 + 4 + 17 + 6)
    assert frame_bits(0x123, False, True, True, d, 20) == (30, 1 + 4 + 160 + 4 + 21 + 7)


def test_fd_fixed_stuff_bit_replaces_a_trailing_dynamic_one():
    # Data ending in exactly five equal bits: the dynamic stuff bit due after
    # the last data bit is not sent; the first fixed stuff bit takes its place.
    data = b"\x5f"                      # 0101 1111
    bits, brs_at = frame_bitstream(0x123, False, True, True, data, 1)
    assert count_stuff(bits, brs_at, True)[1] == count_stuff(bits, brs_at, False)[1] + 1
    assert frame_bits(0x123, False, True, True, data, 1) == (30, 1 + 4 + 8 + 4 + 17 + 6)
    assert _naive_bits(0x123, False, True, True, data) == (30, 40)


def test_stuffing_against_naive_reference():
    rnd = _Lcg(12345)
    for _ in range(150):
        ext = rnd.next(2) == 1
        cid = rnd.next(0x20000000 if ext else 0x800)
        n = rnd.next(9)
        data = rnd.bytes(n)
        if rnd.next(3) == 0:            # runs of equal bits stress stuffing
            data = bytes([(0x00, 0xFF, 0x0F, 0xF8)[rnd.next(4)]]) * n
        assert frame_bits(cid, ext, False, False, data, n) == _naive_bits(cid, ext, False, False, data)
    for n in DLC_LENGTHS:
        for brs in (False, True):
            ext = rnd.next(2) == 1
            cid = rnd.next(0x20000000 if ext else 0x800)
            data = rnd.bytes(n)
            if rnd.next(2) == 0:
                data = bytes([(0x00, 0xFF, 0x07, 0xE0)[rnd.next(4)]]) * n
            assert frame_bits(cid, ext, True, brs, data, n) == _naive_bits(cid, ext, True, brs, data)


def test_frame_validation():
    f = frame_bits
    assert raises(UsageError, f, 0x800, False, False, False, b"", 0)
    assert raises(UsageError, f, 0x20000000, True, False, False, b"", 0)
    assert raises(UsageError, f, -1, False, False, False, b"", 0)
    assert raises(UsageError, f, 0x100, False, False, False, bytes(9), 9)
    assert raises(UsageError, f, 0x100, False, True, False, bytes(9), 9)
    assert raises(UsageError, f, 0x100, False, False, True, bytes(8), 8)
    assert raises(UsageError, f, 0x100, False, False, False, bytes(2), 3)
    assert f(0x7FF, False, False, False, b"", 0)[0] >= 47
    assert f(0x1FFFFFFF, True, True, True, bytes(64), 64)[1] > 0


# ---- canbus ---------------------------------------------------------------------
def _bus(names, rec=None, start=START_TICKS):
    """Kernel, bus and ports; every callback appends to `log`:
    (elapsed_us, port, "rx"/"tx", can_id, data, result)."""
    k = Kernel(start)
    bus = CanBus(k, "can0", BR, DBR, rec)
    log = []
    ports = []
    for name in names:
        p = bus.attach(name)
        p.on_rx = _rx_logger(k, log, name)
        p.on_tx = _tx_logger(k, log, name)
        ports.append(p)
    return k, bus, ports, log


def _rx_logger(k, log, name):
    def on_rx(now, f):
        assert now == (k.start + k.elapsed_us) & TICKS_MASK
        log.append((k.elapsed_us, name, "rx", f.can_id, f.data, None))
    return on_rx


def _tx_logger(k, log, name):
    def on_tx(now, f, result):
        log.append((k.elapsed_us, name, "tx", f.can_id, f.data, result))
    return on_tx


def test_back_to_back_frames_from_one_port():
    k, bus, (a, b), log = _bus(("a", "b"))
    for i in range(3):
        a.send(0x2AA, D55)              # 111 bits = 222 us each, IFS included
    assert a.pending() == 3 and log == []
    k.run_until_idle()
    assert [(t, who, kind) for t, who, kind, _, _, _ in log] == [
        (222, "a", "tx"), (222, "b", "rx"),
        (444, "a", "tx"), (444, "b", "rx"),
        (666, "a", "tx"), (666, "b", "rx")]
    assert a.pending() == 0 and k.elapsed_us == 666
    assert bus.frames == 3 and bus.bits == 333 and bus.busy_us == 666
    assert bus.load_permille() == 1000


def test_confirmation_and_delivery_at_the_same_instant_sender_does_not_receive():
    k, bus, (a, b, c), log = _bus(("a", "b", "c"))
    f = b.send(0x7E8, b"\x02\x50\x01", 3)
    assert f.data == b"\x02\x50\x01" and f.sender == "b"
    k.run_until_idle()
    t = frame_time_ns(BR, DBR, 0x7E8, False, False, False, f.data, 3)
    end = (t + 999) // 1000
    # Sender's confirmation first, then the others in attach order.
    assert log == [(end, "b", "tx", 0x7E8, f.data, L_OK),
                   (end, "a", "rx", 0x7E8, f.data, None),
                   (end, "c", "rx", 0x7E8, f.data, None)]
    assert f.t_start_us == 0 and f.attempts == 1


def test_send_copies_data_now():
    k, bus, (a, b), log = _bus(("a", "b"))
    buf = bytearray(b"\x01\x02\x03\x04")
    a.send(0x100, buf, 2)
    buf[0] = 0xEE
    k.run_until_idle()
    assert log[1][4] == b"\x01\x02"


def test_arbitration_of_sends_at_the_same_instant():
    k, bus, (a, b, c), log = _bus(("a", "b", "c"))
    a.send(0x200, b"\x01")
    b.send(0x100, b"\x02")              # sent later, but lower id: wins
    c.send(0x1FF, b"\x03")
    k.run_until_idle()
    assert [e[3] for e in log if e[2] == "tx"] == [0x100, 0x1FF, 0x200]


def test_base_frame_beats_extended_with_the_same_base_id():
    k, bus, (a, b, c), log = _bus(("a", "b", "c"))
    a.send(0x100 << 18, b"\x01", extended=True)     # base ID 0x100, SRR/IDE recessive
    b.send(0x100, b"\x02")                          # RTR/IDE dominant
    c.send((0x0FF << 18) | 0x3FFFF, b"\x03", extended=True)   # lower base ID
    k.run_until_idle()
    assert [e[1] for e in log if e[2] == "tx"] == ["c", "b", "a"]


def test_identical_arbitration_fields_first_attached_wins():
    k, bus, (a, b), log = _bus(("a", "b"))
    b.send(0x321, b"\xbb")
    a.send(0x321, b"\xaa")
    k.run_until_idle()
    assert [e[1] for e in log if e[2] == "tx"] == ["a", "b"]


def test_a_reply_sent_from_on_rx_competes_with_queued_frames():
    k, bus, (a, b), log = _bus(("a", "b"))
    replies = []

    def reply(now, f):
        replies.append(k.elapsed_us)
        if f.can_id == 0x7E0:
            b.send(0x100, b"\x01")      # queued in the same instant as a's 2nd frame
    b.on_rx = reply
    a.send(0x7E0, D55)
    a.send(0x32A, D55)
    k.run_until_idle()
    ids = [(e[0], e[3]) for e in log if e[2] == "tx"]
    # With their stuff bits 0x7E0 (8 x 0x55) is 113 bits = 226 us, the reply
    # (0x100, 1 byte) 58 bits = 116 us; it wins against 0x32A queued before it.
    assert ids == [(226, 0x7E0), (226 + 116, 0x100), (226 + 116 + 222, 0x32A)]
    assert replies == [226, 226 + 116 + 222]


def test_fd_frame_on_the_bus():
    k, bus, (a, b), log = _bus(("a", "b"))
    a.send(0x123, bytes(64), fd=True, brs=True)
    k.run_until_idle()
    assert log[0][0] == 386                         # 385.5 us rounded up
    assert raises(UsageError, a.send, 0x123, bytes(9), 9, False, True)


def test_fault_drop():
    rec = Recorder()
    k, bus, (a, b), log = _bus(("a", "b"), rec)
    bus.fault = lambda f: FAULT_DROP if f.can_id == 0x155 else FAULT_NONE
    a.send(0x155, D55)                  # 0x155, 0x2A5 + 0x55 data: 111 bits
    a.send(0x2A5, D55)
    k.run_until_idle()
    assert log[0] == (222, "a", "tx", 0x155, D55, L_OK)
    assert [e[:3] for e in log[1:]] == [(444, "a", "tx"), (444, "b", "rx")]
    assert rec.records[0][7] == CANF_DROPPED and rec.records[1][7] == 0
    assert bus.dropped == 1 and bus.frames == 2


def test_fault_error_retransmits_and_counts():
    rec = Recorder()
    k, bus, (a, b), log = _bus(("a", "b"), rec)
    bus.fault = lambda f: FAULT_ERROR if f.attempts == 1 else None
    f = a.send(0x2AA, D55)
    k.run_until_idle()
    # Error slot: 111 - 10 (EOF, IFS) + 14 (error frame) + 3 (IFS) = 118 bits
    # = 236 us; the retransmission starts at once and takes 222 us.
    assert f.attempts == 2 and f.t_start_us == 236
    assert [e[:3] for e in log] == [(458, "a", "tx"), (458, "b", "rx")]
    assert a.tec == 7                               # +8, then -1 for the success
    assert [(r[0], r[7]) for r in rec.records] == [(236, CANF_ERROR), (458, 0)]
    assert bus.errors == 1 and bus.frames == 1


def test_bus_off_after_repeated_errors_and_recovery():
    k, bus, (a, b), log = _bus(("a", "b"))
    bus.fault = lambda f: FAULT_ERROR if f.sender == "a" else None
    a.send(0x2AA, D55)
    a.send(0x32A, D55)
    assert k.run_until(lambda: a.error_passive, 100000)
    # 16 errors of 236 us make TEC 128 (error-passive) ...
    assert k.elapsed_us == 16 * 236 and a.tec == 128 and not a.bus_off
    k.run_until_idle()
    # ... then 16 more, each after 8 bit times (16 us) of suspend transmission:
    # TEC 256 > 255 is bus-off; both pending frames are confirmed L_BUS_OFF.
    t_off = 16 * 236 + 16 * (16 + 236)
    assert t_off == 7808
    assert log == [(t_off, "a", "tx", 0x2AA, D55, L_BUS_OFF),
                   (t_off, "a", "tx", 0x32A, D55, L_BUS_OFF)]
    assert a.bus_off and a.tec == 256 and a.pending() == 0 and bus.errors == 32
    # While bus-off: send() confirms L_BUS_OFF through a kernel call, not inside send().
    del log[:]
    a.send(0x300, b"\x01")
    assert log == []
    k.run_until_idle()
    assert log == [(t_off, "a", "tx", 0x300, b"\x01", L_BUS_OFF)]
    # ... and a bus-off port receives nothing.
    del log[:]
    b.send(0x301, b"\x02")
    k.run_until_idle()
    assert [e[1:3] for e in log] == [("b", "tx")]
    # Recovery: 128 x 11 bit times = 2816 us at 500 kbit/s, then error-active.
    t0 = k.elapsed_us
    a.recover()
    k.run_until_idle()
    assert not a.bus_off and a.tec == 0 and k.elapsed_us == t0 + 2816
    bus.fault = None
    del log[:]
    a.send(0x302, b"\x03")
    k.run_until_idle()
    assert [e[1:3] for e in log] == [("a", "tx"), ("b", "rx")] and log[0][5] == L_OK


def test_forced_bus_off():
    k, bus, (a, b), log = _bus(("a", "b"))
    a.send(0x2AA, D55)
    a.send(0x32A, D55)
    k.run_for(100)                      # 0x2AA is on the wire
    a.set_bus_off()
    assert log == []
    k.run_until_idle()
    # Queued frame at once; the aborted one when its slot ends; b gets nothing.
    assert log == [(100, "a", "tx", 0x32A, D55, L_BUS_OFF),
                   (222, "a", "tx", 0x2AA, D55, L_BUS_OFF)]
    assert a.pending() == 0


def test_corruption_via_the_hook():
    k, bus, (a, b), log = _bus(("a", "b"))

    def corrupt(f):
        f.data = bytes(len(f.data))     # all zero: also more stuff bits
    bus.fault = corrupt
    a.send(0x2AA, D55)
    k.run_until_idle()
    assert log == [(248, "a", "tx", 0x2AA, bytes(8), L_OK),
                   (248, "b", "rx", 0x2AA, bytes(8), None)]


def test_delay_via_the_hook():
    k, bus, (a, b, c), log = _bus(("a", "b", "c"))

    def delay(f):
        if f.can_id == 0x155:
            f.delay_us = 1000
    bus.fault = delay
    a.send(0x155, D55)
    c.send(0x2A5, D55)
    k.run_until_idle()
    # The bus is free at 222: the next frame is not held up by the delay.
    assert [e[:3] for e in log] == [
        (222, "a", "tx"),
        (444, "c", "tx"), (444, "a", "rx"), (444, "b", "rx"),
        (1222, "b", "rx"), (1222, "c", "rx")]


def _scenario():
    rec = Recorder()
    k, bus, (tester, ecu, gw), log = _bus(("tester", "ecu", "gw"), rec)
    n = [0]

    def hook(f):
        n[0] += 1
        if n[0] % 7 == 3:
            return FAULT_ERROR
        if n[0] % 11 == 5:
            return FAULT_DROP
        if n[0] % 5 == 4:
            f.delay_us = 50
        return FAULT_NONE
    bus.fault = hook

    def answer(now, f):
        if f.can_id == 0x7E0:
            ecu.send(0x7E8, bytes([(f.data[0] + 0x40) & 0xFF]) + f.data[1:], fd=True, brs=True)
    ecu.on_rx = answer
    rnd = _Lcg(99)
    for i in range(20):
        tester.send(0x7E0, rnd.bytes(1 + rnd.next(8)))
        gw.send(0x18DA00F1 + i, rnd.bytes(rnd.next(9)), extended=True)
    k.run_until_idle()
    return rec.records, log, k.elapsed_us


def test_determinism_identical_records():
    r1, l1, t1 = _scenario()
    r2, l2, t2 = _scenario()
    assert r1 == r2 and l1 == l2 and t1 == t2
    assert len(r1) > 40 and r1[0][3] == REC_CAN
    flags = 0
    for r in r1:
        flags |= r[7]
    assert flags == CANF_EXT | CANF_FD | CANF_BRS | CANF_DROPPED | CANF_ERROR


def test_flag_names_in_recorder_lines():
    rec = Recorder()
    k, bus, (a, b), log = _bus(("a", "b"), rec)
    bus.fault = lambda f: FAULT_DROP
    a.send(0x18DAF110, b"\x01\x02", extended=True)
    k.run_until_idle()
    assert rec.lines(flag_names=can_flag_names) == [
        "   0.000172  can0   a        18DAF110 [2] 01 02 ext dropped"]
    assert can_flag_names(REC_CAN, CANF_FD | CANF_BRS | CANF_ERROR) == "fd brs error"


def test_crosses_the_tick_wrap():
    k, bus, (a, b), log = _bus(("a", "b"))
    assert k.now == START_TICKS
    seen = []
    b.on_rx = lambda now, f: seen.append(now)
    for i in range(6):
        a.send(0x2AA, D55)
    k.run_until_idle()
    # 1000 us before the wrap: the 5th frame ends at elapsed 1110, tick 110.
    assert seen[3] == TICKS_MASK - 1000 + 1 + 888 and seen[4] == 110
    for i in range(1, 6):
        assert ticks_diff(seen[i], seen[i - 1]) == 222


def test_usage_errors():
    k, bus, (a,), log = _bus(("a",))
    assert raises(UsageError, bus.attach, "a")
    assert raises(UsageError, a.send, 0x800, b"")
    assert raises(UsageError, a.send, 0x100, bytes(9))
    assert raises(UsageError, a.send, 0x100, b"\x01", 2)
    assert raises(UsageError, a.send, 0x100, b"\x01", 1, False, False, True)
    assert raises(UsageError, CanBus, k, "x", 0)
    assert a.pending() == 0
    # A lone port's frame is still confirmed (acknowledged, no ACK errors).
    a.send(0x100, b"")
    k.run_until_idle()
    # 47 bits + 4 stuff bits: 15 zeros from ID[7:0] to the DLC give 3, the
    # CRC 0x380A = 111000000001010 one more.  51 bits = 102 us.
    assert frame_bits(0x100, False, False, False, b"", 0) == (51, 0)
    assert log == [(102, "a", "tx", 0x100, b"", L_OK)]
