# The MCP2515 driver against the register-level model of the chip
# (mcp2515_support.py): bit timing, filters, both receive buffers, the three
# transmit buffers in order, confirms, fault confinement and bus-off
# recovery, bad configuration, and the allocation-free frame paths.
from diagbridge.can import FLAG_EXT, FLAG_FD
from diagbridge.errors import ConfigError
from diagbridge.mpy.mcp2515 import (Mcp2515, bit_timing, filter_plan, MODE_NORMAL,
                                    MODE_LOOPBACK, MODE_LISTEN_ONLY, MODE_SLEEP, MODE_CONFIG,
                                    STATE_ERROR_ACTIVE, STATE_ERROR_WARNING,
                                    STATE_ERROR_PASSIVE, STATE_BUS_OFF)
from mcp2515_support import Mcp2515Model, ModelError
from support import run_locked, raises


def _open(xtal_hz=8000000, bitrate=500000, irq=True, **kw):
    chip = Mcp2515Model()
    can = Mcp2515(chip.spi, chip.cs, xtal_hz=xtal_hz, bitrate=bitrate,
                  int_pin=chip.int_pin if irq else None, **kw)
    return chip, can


def _opmod(chip):
    return chip.read_reg(0x0E) & 0xE0


# ---- bit timing -------------------------------------------------------------------------
def test_bit_timing_every_bitrate_at_8_and_16_mhz():
    cases = ((8000000, 125000), (8000000, 250000), (8000000, 500000),
             (16000000, 125000), (16000000, 250000), (16000000, 500000), (16000000, 1000000))
    for xtal, rate in cases:
        chip, can = _open(xtal, rate)
        got, sp, tq, sjw, bad = chip.timing(xtal)
        assert got == rate, (xtal, rate, got)
        assert 750 <= sp <= 875 and sjw == 1 and bad == [], (xtal, rate, sp, bad)
        assert 8 <= tq <= 25
        assert _opmod(chip) == MODE_NORMAL
    # the sample point: 87.5 % where the TQ allow it, 75 % at 8 TQ per bit and 1 Mbit/s
    assert Mcp2515Model().timing(1)[4] != []          # CNF all zero breaks the rules
    assert bit_timing(16000000, 500000) == (0x00, 0xB5, 0x01)     # 16 TQ, 87.5 %
    assert bit_timing(8000000, 500000) == (0x00, 0x91, 0x01)      # 8 TQ, 75 %
    assert bit_timing(16000000, 1000000) == (0x00, 0x91, 0x01)    # 8 TQ, 75 %
    assert bit_timing(8000000, 125000) == (0x01, 0xB5, 0x01)


def test_bit_timing_other_crystals_follow_the_rules():
    chip = Mcp2515Model()
    for xtal in (10000000, 20000000, 12000000):
        for rate in (125000, 250000, 500000):
            c = bit_timing(xtal, rate)
            chip.regs[0x2A], chip.regs[0x29], chip.regs[0x28] = c
            got, sp, tq, sjw, bad = chip.timing(xtal)
            assert got == rate and bad == [] and sjw == 1 and 750 <= sp <= 900, (xtal, rate)


def test_1_mbit_at_8_mhz_is_refused_with_the_reason():
    try:
        bit_timing(8000000, 1000000)
        assert False, "accepted"
    except ConfigError as e:
        text = str(e)
    assert text.startswith("bitrate") and "4 TQ" in text and "16 MHz" in text


def test_bad_config_is_refused():
    chip = Mcp2515Model()
    for kw in ({"xtal_hz": 8000000, "bitrate": 333333},     # no whole number of TQ
               {"xtal_hz": 8000000, "bitrate": 5000},       # below 10 kbit/s
               {"xtal_hz": 8000000, "bitrate": True},
               {"xtal_hz": 500000, "bitrate": 125000},      # not an MCP2515 oscillator
               {"xtal_hz": 8000000, "bitrate": 500000, "mode": MODE_SLEEP},
               {"xtal_hz": 8000000, "bitrate": 500000, "tx_queue": 0},
               {"xtal_hz": 8000000, "bitrate": 500000, "filters": []},
               {"xtal_hz": 8000000, "bitrate": 500000, "filters": [0x800]}):
        try:
            Mcp2515(chip.spi, chip.cs, **kw)
            assert False, kw
        except ConfigError:
            pass
    assert chip.transactions == 0          # refused before touching the chip


class _DeadSpi:
    """No chip on the bus: MISO floats high."""

    def write(self, buf):
        pass

    def write_readinto(self, out, inp):
        for i in range(len(inp)):
            inp[i] = 0xFF


def test_no_chip_is_an_oserror_naming_the_wiring():
    chip = Mcp2515Model()
    try:
        Mcp2515(_DeadSpi(), chip.cs, xtal_hz=8000000, bitrate=500000)
        assert False
    except OSError as e:
        assert "wiring" in str(e)


def test_cs_as_a_callable():
    chip = Mcp2515Model()
    calls = []

    def cs(v):
        calls.append(v)
        chip.cs(v)

    can = Mcp2515(chip.spi, cs, xtal_hz=16000000, bitrate=250000)
    assert chip.timing(16000000)[0] == 250000 and calls[0] == 1 and 0 in calls
    assert can.send(0x123, b"\x01", 1, 0, 0) is True


# ---- modes ------------------------------------------------------------------------------
def test_modes_and_config_only_registers():
    chip, can = _open(mode=MODE_LISTEN_ONLY)
    assert _opmod(chip) == MODE_LISTEN_ONLY
    cnf1 = chip.regs[0x2A]
    chip.write_reg(0x2A, 0x3F)                 # CNF1 outside configuration mode: ignored
    chip.write_reg(0x00, 0x55)                 # RXF0SIDH too
    assert chip.regs[0x2A] == cnf1 and chip.regs[0x00] == 0 and chip.ignored_writes == 2
    assert can.send(0x100, b"", 0, 0, 0) is False          # listen-only never transmits
    chip.write_reg(0x0F, 0xE0)                 # reserved REQOP: no change
    assert _opmod(chip) == MODE_LISTEN_ONLY
    assert can.set_mode(MODE_LOOPBACK) and _opmod(chip) == MODE_LOOPBACK
    assert can.set_mode(MODE_CONFIG) and _opmod(chip) == MODE_CONFIG
    chip.write_reg(0x2A, cnf1)
    assert chip.ignored_writes == 2            # configuration mode takes it
    assert can.set_mode(MODE_NORMAL) and can.mode == MODE_NORMAL


def test_sleep_waits_for_transmissions_and_wakes_into_the_mode():
    chip, can = _open()
    can.send(0x101, b"\x01", 1, 0, 0)
    assert not can.sleep()                     # a frame pending: the chip stays awake
    assert _opmod(chip) == MODE_NORMAL
    chip.transmit()
    assert _opmod(chip) == MODE_SLEEP
    chip.write_reg(0x0F, 0x00)                 # REQOP alone does not leave sleep
    assert _opmod(chip) == MODE_SLEEP
    assert can.wake() and _opmod(chip) == MODE_NORMAL
    assert chip.regs[0x2B] & 0x40 == 0 and chip.regs[0x2C] & 0x40 == 0   # WAKIE/WAKIF off


def test_model_refuses_driver_mistakes():
    chip, can = _open()
    can.send(0x101, b"\x01", 1, 0, 0)
    assert raises(ModelError, chip.write_reg, 0x36, 0x00)     # TXB0D0 while TXREQ
    assert raises(ModelError, chip.xfer_byte, 0x03)           # SPI with CS high
    chip.cs(0)
    assert raises(ModelError, chip.xfer_byte, 0x77)           # no such instruction
    chip.cs(1)


def _spi(chip, *out):
    o = bytearray(out)
    i = bytearray(len(o))
    chip.cs(0)
    chip.spi.write_readinto(o, i)
    chip.cs(1)
    return i


def test_model_instructions_as_the_data_sheet_gives_them():
    chip = Mcp2515Model()
    assert _spi(chip, 0x03, 0x3E, 0, 0)[2:] == b"\x80\x87"   # CANSTAT/CANCTRL mirrored
    _spi(chip, 0x05, 0x0F, 0xE0, 0x00)                      # BIT MODIFY REQOP: normal
    assert chip.read_reg(0x0E) & 0xE0 == MODE_NORMAL and chip.regs[0x0F] == 0x07
    _spi(chip, 0x05, 0x36, 0x0F, 0xA5)                      # TXB0D0 has no bit access:
    assert chip.regs[0x36] == 0xA5                          # the mask is forced to FF
    _spi(chip, 0x02, 0x2B, 0x03)                            # CANINTE: RX0IE, RX1IE
    _spi(chip, 0x02, 0x60, 0x64)                            # RXB0: any frame, BUKT
    _spi(chip, 0x02, 0x70, 0x60)                            # RXB1: any frame
    assert chip.regs[0x60] == 0x66                          # BUKT1 reads as BUKT
    chip.receive(0x123, b"\x11\x22", ext=False)
    chip.receive(0x18DA00F1, b"", ext=True, remote=True)
    assert chip.read_reg(0x0E) >> 1 & 7 == 6                # ICOD: RXB0
    assert _spi(chip, 0xA0, 0, 0)[1:] == b"\x03\x03"        # READ STATUS: RX0IF RX1IF
    assert _spi(chip, 0xB0, 0)[1] == 0xC0                   # RX STATUS: both, RXB0 std data
    got = _spi(chip, 0x90, *([0] * 8))                      # READ RX BUFFER 0 from SIDH
    assert bytes(got[1:8]) == b"\x24\x60\x00\x00\x02\x11\x22"
    assert chip.regs[0x2C] & 3 == 2                         # CS up: RX0IF cleared
    assert _spi(chip, 0xB0, 0)[1] == 0x80 | 0x18 | 6        # RXB1: extended remote, RXF0
                                                            # rolled over
    _spi(chip, 0x84)                                        # RTS TXB2 (its buffer is empty)
    assert chip.pending() == [2] and _spi(chip, 0xA0, 0)[1] & 0x40
    _spi(chip, 0xC0)                                        # RESET
    assert chip.read_reg(0x0E) == 0x80 and chip.pending() == [] and chip.regs[0x2C] == 0


# ---- receive ----------------------------------------------------------------------------
def test_filters_accept_and_reject():
    chip, can = _open(filters=[0x7E8, 0x7E0, (0x18DAF110, FLAG_EXT), (0x18DAF1F1, FLAG_EXT)])
    buf = bytearray(64)
    assert chip.receive(0x7E8, b"\x02\x50\x03") >= 0
    assert chip.receive(0x7E9, b"\x02") == -1
    assert chip.receive(0x18DAF110, b"\x10\x20", ext=True) >= 0
    assert chip.receive(0x18DAF111, b"", ext=True) == -1
    assert chip.receive(0x7E8, b"", ext=True) == -1          # 29-bit 0x7E8 is another id
    got = []
    n = can.recv(buf)
    while n >= 0:
        got.append((can.rx_id, can.rx_flags, bytes(buf[:n])))
        n = can.recv(buf)
    assert got == [(0x7E8, 0, b"\x02\x50\x03"), (0x18DAF110, FLAG_EXT, b"\x10\x20")]
    assert chip.receive(0x7E0, b"\xFF\xFF") >= 0             # data bytes are not filtered
    assert chip.receive(0x18DAF1F1, b"", ext=True) >= 0
    assert can.recv(buf) == 2 and can.rx_id == 0x7E0
    assert can.recv(buf) == 0 and can.rx_id == 0x18DAF1F1 and can.recv(buf) == -1


def test_masked_filter_accepts_a_range():
    chip, can = _open(filters=[(0x700, 0, 0x7F0)])
    buf = bytearray(64)
    assert chip.receive(0x70A, b"\xFF") >= 0                # 0x700..0x70F
    assert chip.receive(0x710, b"") == -1
    assert chip.receive(0x6FF, b"") == -1
    assert chip.receive(0x700, b"", ext=True) == -1          # standard rules only
    assert can.recv(buf) == 1 and can.rx_id == 0x70A and can.recv(buf) == -1


def test_filter_plan_fits_two_masks_or_says_why():
    m0, m1, rxf = filter_plan([0x7E0, 0x7E8])
    assert m0 == m1 == (0xFF, 0xE0, 0, 0)                    # data bytes never filtered
    assert rxf[0] == (0xFC, 0x00, 0, 0) and rxf[1] == (0xFD, 0x00, 0, 0)
    m0, m1, rxf = filter_plan([0x7E0, (0x18DA00F1, FLAG_EXT, 0x1FFF00FF), 0x7E8,
                               (0x18DB33F1, FLAG_EXT, 0x1FFF00FF), 0x7DF])
    assert m0 == (0xFF, 0xE3, 0x00, 0xFF) and m1 == (0xFF, 0xE0, 0, 0)
    for rules, word in (([0x100 + i for i in range(7)], "2 masks"),
                        ([(1, 0, 0x7FF), (2, 0, 0x7F0), (3, 0, 0x700)], "2 masks"),
                        ([1, 2, 3, (4, FLAG_EXT), (5, FLAG_EXT), (6, FLAG_EXT)], "at most 2"),
                        ([(0x123, FLAG_FD)], "11-bit"), ([(0x800, 0, 0x800)], "11-bit")):
        try:
            filter_plan(rules)
            assert False, rules
        except ConfigError as e:
            assert str(e).startswith("filters") and word in str(e), (rules, str(e))


def test_both_buffers_rollover_and_oldest_first():
    chip, can = _open()
    buf = bytearray(64)
    assert chip.receive(0x100, b"A") == 0
    assert chip.receive(0x101, b"B") == 1                    # RXB0 full: rolls over
    assert can.recv(buf) == 1 and buf[0] == ord("A")
    assert chip.receive(0x102, b"C") == 0                    # newer, in RXB0
    assert can.recv(buf) == 1 and buf[0] == ord("B")          # RXB1 is older
    assert can.recv(buf) == 1 and buf[0] == ord("C")
    assert can.recv(buf) == -1 and can.rx_frames == 3 and can.rx_overflow == 0


def test_overflow_is_counted_and_cleared():
    chip, can = _open()
    buf = bytearray(64)
    chip.receive(0x100, b"1")
    chip.receive(0x101, b"2")
    assert chip.receive(0x102, b"3") == -2                   # both full: RX1OVR
    assert chip.regs[0x2D] & 0x80
    assert can.recv(buf) == 1 and buf[0] == ord("1")
    assert can.rx_overflow == 1 and chip.regs[0x2D] & 0xC0 == 0
    assert can.recv(buf) == 1 and buf[0] == ord("2") and can.recv(buf) == -1
    chip2, can2 = _open(rollover=False)
    chip2.receive(0x100, b"1")
    assert chip2.receive(0x101, b"2") == -2 and chip2.regs[0x2D] & 0x40   # RX0OVR
    assert can2.recv(buf) == 1 and can2.rx_overflow == 1 and can2.recv(buf) == -1


def test_remote_frames_are_dropped_and_long_dlc_clamped():
    chip, can = _open()
    buf = bytearray(64)
    chip.receive(0x7DF, b"", remote=True)
    chip.receive(0x7E8, b"12345678", dlc=15)                 # classical: DLC 9-15 = 8 bytes
    assert can.recv(buf) == 8 and can.rx_id == 0x7E8 and bytes(buf[:8]) == b"12345678"
    assert can.rx_remote == 1 and can.recv(buf) == -1


def test_int_pin_high_costs_no_spi():
    chip, can = _open()
    buf = bytearray(64)
    t = chip.transactions
    assert can.recv(buf) == -1 and can.pop_confirm() == -1
    assert chip.transactions == t
    chip.receive(0x100, b"x")
    assert chip.int_pin.value() == 0 and can.recv(buf) == 1 and chip.int_pin.value() == 1
    chip2, can2 = _open(irq=False)                           # no INT wired: polled
    t = chip2.transactions
    assert can2.recv(buf) == -1 and chip2.transactions > t


# ---- transmit ---------------------------------------------------------------------------
def test_three_buffers_keep_the_send_order():
    chip, can = _open()
    frames = [bytes([i]) * (i % 9) for i in range(10)]
    for i in range(3):
        assert can.send(0x7E0, frames[i], len(frames[i]), 0, i) is True
    pend = chip.pending()
    assert len(pend) == 3
    assert sorted(chip.txp(b) for b in pend) == [1, 2, 3]
    for i in range(3, 10):                                   # buffers busy: the ring
        assert can.send(0x7E0, frames[i], len(frames[i]), 0, i) is True
    for _ in range(40):
        if not chip.transmit():
            can.poll()
    assert [f[2] for f in chip.bus] == frames
    assert all(f[0] == 0x7E0 and not f[1] and not f[3] for f in chip.bus)
    assert can.tx_frames == 10 and chip.pending() == []


def test_model_sends_highest_txp_then_highest_buffer():
    chip = Mcp2515Model()
    chip.write_reg(0x0F, 0x00)
    for n, txp in ((0, 1), (1, 1), (2, 0)):
        base = 0x31 + 0x10 * n
        chip.write_reg(base, n + 1)            # SIDH: ids 8, 16, 24
        chip.write_reg(base + 4, 0)
        chip.write_reg(0x30 + 0x10 * n, 0x08 | txp)
    assert [f[0] for f in chip.transmit_all()] == [16, 8, 24]


def test_extended_frames_out_and_back_in_loopback():
    chip, can = _open(mode=MODE_LOOPBACK)
    buf = bytearray(64)
    assert can.send(0x18DA10F1, b"\x02\x3E\x00", 3, FLAG_EXT, 5) is True
    assert can.send(0x7FF, b"", 0, 0, 6) is True
    chip.transmit_all()
    assert chip.bus == []                      # loopback stays inside the chip
    assert can.recv(buf) == 3 and can.rx_id == 0x18DA10F1 and can.rx_flags == FLAG_EXT
    assert bytes(buf[:3]) == b"\x02\x3E\x00"
    assert can.recv(buf) == 0 and can.rx_id == 0x7FF and can.rx_flags == 0


def test_frames_a_classical_bus_cannot_carry_are_refused():
    chip, can = _open()
    b = bytearray(64)
    assert can.send(0x100, b, 8, FLAG_FD, 0) is False
    assert can.send(0x100, b, 9, 0, 0) is False
    assert can.send(0x800, b, 1, 0, 0) is False
    assert can.send(0x20000000, b, 1, FLAG_EXT, 0) is False
    assert can.tx_refused == 4 and chip.pending() == []


def test_full_ring_fails_the_frame():
    chip, can = _open(tx_queue=2)
    b = bytearray(8)
    results = [can.send(0x100, b, 1, 0, i) for i in range(6)]
    assert results == [True, True, True, True, True, False]  # 3 buffers + 2 queued
    assert can.tx_dropped == 1
    chip.transmit_all()
    can.poll()
    chip.transmit_all()
    assert len(chip.bus) == 5


def test_order_kept_while_buffers_free_one_by_one():
    chip, can = _open()
    for i in range(12):
        assert can.send(0x7E0, bytes([i]), 1, 0, i) is True
    for _ in range(30):                     # one frame on the bus, then one poll
        chip.transmit()
        can.poll()
        assert len(set(chip.txp(b) for b in chip.pending())) == len(chip.pending())
    assert [f[2][0] for f in chip.bus] == list(range(12))


class _Loop:
    def __init__(self):
        self.calls = []

    def confirm(self, now, ok, tag):
        self.calls.append((now, ok, tag))


def test_deferred_confirms_when_txreq_clears():
    chip, can = _open(tx_confirm=True)
    b = bytearray(8)
    assert can.send(0x7E0, b, 8, 0, 11) is None
    assert can.send(0x7E0, b, 8, 0, -3) is None
    assert can.pop_confirm() == -1                           # still pending
    chip.transmit()
    assert can.pop_confirm() == 1 and can.confirm_tag == 11
    assert can.pop_confirm() == -1
    chip.transmit()
    loop = _Loop()
    assert can.deliver_confirms(1234, loop) == 1 and loop.calls == [(1234, True, -3)]


# ---- fault confinement ------------------------------------------------------------------
def test_error_counters_and_states():
    chip, can = _open()
    steps = ((96, 0, STATE_ERROR_WARNING), (128, 0, STATE_ERROR_PASSIVE),
             (0, 130, STATE_ERROR_PASSIVE), (0, 100, STATE_ERROR_WARNING),
             (0, 0, STATE_ERROR_ACTIVE))
    for tec, rec, state in steps:
        chip.set_counters(tec, rec)
        assert chip.int_pin.value() == 0                     # ERRIF
        can.poll()
        assert (can.tec, can.rec, can.state) == (tec, rec, state)
        assert chip.int_pin.value() == 1


def test_tx_error_is_retried_by_the_chip():
    chip, can = _open(tx_confirm=True)
    can.send(0x7E0, b"\x01", 1, 0, 4)
    assert chip.tx_error() >= 0 and chip.regs[0x2C] & 0x80
    assert can.pop_confirm() == -1 and can.merr == 1 and can.tec == 8
    assert chip.transmit() is not None
    assert can.pop_confirm() == 1 and can.confirm_tag == 4
    assert can.read_counters() == (7, 0) and can.tec == 7    # TEC - 1 per frame sent


def test_bus_off_aborts_and_the_chip_recovers():
    chip, can = _open(tx_confirm=True)
    b = bytearray(8)
    for i in range(5):
        can.send(0x7E0, b, 8, 0, i)                          # 3 in buffers, 2 queued
    chip.bus_off()
    assert chip.transmit() is None                           # bus-off: nothing goes out
    can.poll()
    assert can.state == STATE_BUS_OFF and can.bus_off_count == 1
    assert chip.pending() == [] and chip.regs[0x0F] & 0x10 == 0   # aborted, ABAT cleared
    loop = _Loop()
    assert can.deliver_confirms(0, loop) == 5
    assert sorted(c[2] for c in loop.calls) == [0, 1, 2, 3, 4]
    assert all(c[1] is False for c in loop.calls) and can.tx_aborted == 5
    assert can.send(0x7E0, b, 8, 0, 9) is False and can.tx_refused == 1
    assert not chip.recessive(127)
    can.poll()
    assert can.state == STATE_BUS_OFF
    assert chip.recessive(1)                                 # 128 x 11 recessive bits
    can.poll()
    assert can.state == STATE_ERROR_ACTIVE and can.tec == 0
    assert can.send(0x7E0, b, 8, 0, 10) is None
    assert chip.transmit() is not None and can.pop_confirm() == 1 and can.confirm_tag == 10


# ---- no allocation per frame ------------------------------------------------------------
def _frames(ctx):
    can = ctx[0]
    buf = ctx[1]
    out = ctx[2]
    st = ctx[3]
    for i in range(4):
        if can.send(0x18DA10F1 if i & 1 else 0x7E0, out, 8, FLAG_EXT if i & 1 else 0, i):
            st[0] += 1
    n = can.recv(buf)
    while n >= 0:
        st[1] += n
        n = can.recv(buf)
    r = can.pop_confirm()
    while r >= 0:
        st[2] += 1
        r = can.pop_confirm()


def test_send_recv_confirm_allocate_nothing():
    for confirm in (False, True):
        chip, can = _open(mode=MODE_NORMAL, tx_confirm=confirm)
        ctx = [can, bytearray(64), bytearray(b"\x10\x14\x62\xF1\x90WDB"), [0, 0, 0]]
        for rnd in range(3):
            chip.receive(0x7E8, b"\x30\x00\x00", dlc=3)
            chip.receive(0x18DAF110, b"\x21WDB1234", ext=True)
            if rnd == 0:
                _frames(ctx)                         # warm-up
            else:
                run_locked(lambda: _frames(ctx))
            chip.transmit_all()
            can.poll()
            chip.transmit_all()
        st = ctx[3]
        assert st[1] == 3 * (3 + 8) and can.rx_frames == 6
        assert len(chip.bus) == 12 and can.tx_dropped == 0
        while can.pop_confirm() >= 0:
            st[2] += 1
        assert st[2] == (12 if confirm else 0)
