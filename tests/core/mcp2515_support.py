# A register-level model of the MCP2515 CAN controller, written from its
# data sheet (Microchip DS20001801), behind a fake SPI bus and chip select:
# the driver under test talks to it exactly as to the chip.  Portable
# (pytest and MicroPython); the SPI path allocates nothing, so the driver's
# hot paths can run against it with the heap locked.
#
#   chip = Mcp2515Model()
#   can = Mcp2515(chip.spi, chip.cs, xtal_hz=..., bitrate=..., int_pin=chip.int_pin)
#   chip.receive(0x7E8, b"\x02\x10\x03")       a frame arrives from the bus
#   chip.transmit()                           the chip wins arbitration: one frame
#   chip.bus                                  frames sent: (can_id, ext, data, remote)
#
# What it keeps: the 128-byte register file (CANSTAT/CANCTRL mirrored at every
# xE/xF); OPMOD follows REQOP (sleep waits for pending transmissions and is
# left only by a wake-up, into listen-only; reserved REQOP values are
# ignored); CNF1-3, RXFn and RXMn change only in configuration mode
# (other writes are counted in ignored_writes); read-only bits stay; BIT
# MODIFY on a register without bit access writes the whole byte; TX buffer
# writes while TXREQ is set are driver errors (ModelError); RTS / TXREQ,
# ABAT, TXP priority (equal: highest buffer first); reception through
# masks and filters (standard frames: the EID bytes filter data bytes 0-1),
# BUKT rollover, RX0OVR/RX1OVR; interrupt flags, ICOD and the INT pin;
# TEC/REC with the ISO 11898-1 limits (96 warning, 128 passive, 256 bus-off)
# and bus-off recovery after 128 x 11 recessive bits.

_CONFIG = 0x80
_NORMAL = 0x00
_SLEEP = 0x20
_LOOPBACK = 0x40
_LISTEN = 0x60
_MODES = (_NORMAL, _SLEEP, _LOOPBACK, _LISTEN, _CONFIG)

# registers that change only in configuration mode
_CONFIG_ONLY = tuple(range(0x00, 0x0C)) + tuple(range(0x10, 0x1C)) + tuple(range(0x20, 0x2B))
_BIT_ACCESS = (0x0C, 0x0D, 0x0F, 0x28, 0x29, 0x2A, 0x2B, 0x2C, 0x2D, 0x30, 0x40, 0x50,
               0x60, 0x70)
_RXF = (0x00, 0x04, 0x08, 0x10, 0x14, 0x18)

_I_READ = 0x03
_I_WRITE = 0x02
_I_BITMOD = 0x05
_I_RESET = 0xC0
_I_STATUS = 0xA0
_I_RXSTATUS = 0xB0
_INSTRUCTIONS = (_I_READ, _I_WRITE, _I_BITMOD, _I_STATUS, _I_RXSTATUS)
_RX_START = (0x61, 0x66, 0x71, 0x76)        # READ RX BUFFER 0x90 | nm << 1
_TX_START = (0x31, 0x36, 0x41, 0x46, 0x51, 0x56, 0x31, 0x31)   # LOAD TX BUFFER 0x40 | abc
_RXB0_READS = (0x90, 0x92)
_RXB1_READS = (0x94, 0x96)
_TXB_CTRL = (0x30, 0x40, 0x50)
_ICOD = ((0x04, 3), (0x08, 4), (0x10, 5), (0x01, 6), (0x02, 7))


class ModelError(Exception):
    """The driver did something the data sheet forbids."""


class ModelSpi:
    def __init__(self, chip):
        self.chip = chip

    def write(self, buf):
        c = self.chip
        for i in range(len(buf)):
            c.xfer_byte(buf[i])

    def readinto(self, buf, write=0):
        c = self.chip
        for i in range(len(buf)):
            buf[i] = c.xfer_byte(write)

    def write_readinto(self, out, inp):
        if len(out) != len(inp):
            raise ModelError("write_readinto: buffers of different lengths")
        c = self.chip
        for i in range(len(out)):
            inp[i] = c.xfer_byte(out[i])


class ModelCs:
    """Chip select, active low: value(v) and cs(v) as machine.Pin."""

    def __init__(self, chip):
        self.chip = chip

    def value(self, v=None):
        if v is None:
            return 0 if self.chip.selected else 1
        self.chip.select(not v)

    def __call__(self, v=None):
        return self.value(v)


class ModelIntPin:
    """The INT output, active low: low while CANINTF & CANINTE."""

    def __init__(self, chip):
        self.chip = chip

    def value(self):
        c = self.chip
        return 0 if c.regs[0x2C] & c.regs[0x2B] else 1

    def __call__(self):
        return self.value()


class Mcp2515Model:
    def __init__(self):
        self.regs = bytearray(128)
        self.spi = ModelSpi(self)
        self.cs = ModelCs(self)
        self.int_pin = ModelIntPin(self)
        self.bus = []
        self.selected = False
        self.transactions = 0
        self.ignored_writes = 0
        self.tec = 0
        self.rec = 0
        self._ins = -1
        self._idx = 0
        self._addr = 0
        self._mask = 0
        self._recessive = 0
        self.reset()

    # ---- SPI ------------------------------------------------------------------
    def select(self, low):
        if low and not self.selected:
            self.selected = True
            self.transactions += 1
            self._ins = -1
            self._idx = 0
        elif not low and self.selected:
            self.selected = False
            if self._ins in _RXB0_READS:
                self.regs[0x2C] &= ~0x01
            elif self._ins in _RXB1_READS:
                self.regs[0x2C] &= ~0x02

    def xfer_byte(self, b):
        if not self.selected:
            raise ModelError("SPI transfer with CS high")
        i = self._idx
        self._idx = i + 1
        if i == 0:
            self._ins = b
            self._start(b)
            return 0
        ins = self._ins
        if ins == _I_READ or ins == _I_WRITE:
            if i == 1:
                self._addr = b & 0x7F
                return 0
            a = self._addr
            self._addr = (a + 1) & 0x7F
            if ins == _I_READ:
                return self.read_reg(a)
            self.write_reg(a, b)
            return 0
        if ins == _I_BITMOD:
            if i == 1:
                self._addr = b & 0x7F
            elif i == 2:
                self._mask = b
            elif i == 3:
                a = self._addr
                m = self._mask if self._canon(a) in _BIT_ACCESS else 0xFF
                self.write_reg(a, (self.read_reg(a) & ~m) | (b & m))
            return 0
        if ins & 0xF9 == 0x90:              # READ RX BUFFER
            a = self._addr
            self._addr = a + 1
            return self.read_reg(a)
        if 0x40 <= ins <= 0x45:            # LOAD TX BUFFER
            a = self._addr
            self._addr = a + 1
            self.write_reg(a, b)
            return 0
        if ins == _I_STATUS:
            return self.read_status()
        if ins == _I_RXSTATUS:
            return self.rx_status()
        return 0

    def _start(self, b):
        if b == _I_RESET:
            self.reset()
        elif 0x80 <= b <= 0x87:
            for n in range(3):
                if b & (1 << n):
                    self._request(n)
        elif b & 0xF9 == 0x90:
            self._addr = _RX_START[(b >> 1) & 3]
        elif 0x40 <= b <= 0x45:
            self._addr = _TX_START[b & 7]
        elif b not in _INSTRUCTIONS:
            raise ModelError("unknown SPI instruction")

    # ---- the register file -------------------------------------------------------
    def reset(self):
        r = self.regs
        for i in range(128):
            r[i] = 0
        r[0x0F] = 0x87
        self.opmod = _CONFIG
        self.tec = 0
        self.rec = 0
        self._recessive = 0

    def _canon(self, a):
        if a & 0x0F == 0x0E:
            return 0x0E
        if a & 0x0F == 0x0F:
            return 0x0F
        return a

    def icod(self):
        f = self.regs[0x2C] & self.regs[0x2B]
        if f & 0x20:
            return 1
        if f & 0x40:
            return 2
        for bit, code in _ICOD:
            if f & bit:
                return code
        return 0

    def read_reg(self, a):
        a = self._canon(a & 0x7F)
        if a == 0x0E:
            return self.opmod | self.icod() << 1
        if a == 0x1C:
            return self.tec if self.tec < 256 else 255
        if a == 0x1D:
            return self.rec if self.rec < 256 else 255
        return self.regs[a]

    def write_reg(self, a, v):
        a = self._canon(a & 0x7F)
        r = self.regs
        if a == 0x0E or a == 0x1C or a == 0x1D or 0x61 <= a <= 0x6D or 0x71 <= a <= 0x7D:
            self.ignored_writes += 1
        elif a in _CONFIG_ONLY and self.opmod != _CONFIG:
            self.ignored_writes += 1
        elif a == 0x0F:
            self._canctrl(v)
        elif a == 0x2C:
            was = r[0x2C]
            r[0x2C] = v
            if v & 0x40 and not was & 0x40 and r[0x2B] & 0x40 and self.opmod == _SLEEP:
                self._wake()
        elif a == 0x2D:
            r[0x2D] = (r[0x2D] & 0x3F) | (v & 0xC0)
        elif a in _TXB_CTRL:
            n = (a >> 4) - 3
            r[a] = (r[a] & 0x78) | (v & 0x03)
            if v & 0x08:
                self._request(n)
            elif r[a] & 0x08:
                r[a] = (r[a] & ~0x08) | 0x40          # aborted: ABTF
        elif 0x31 <= a <= 0x5D and a & 0x0F <= 0x0D:
            if r[(a & 0x70)] & 0x08:
                raise ModelError("TX buffer written while its TXREQ is set")
            r[a] = v
        elif a == 0x60:
            r[a] = (r[a] & 0x09) | (v & 0x64) | (0x02 if v & 0x04 else 0)
        elif a == 0x70:
            r[a] = (r[a] & 0x0F) | (v & 0x60)
        else:
            r[a] = v

    def _canctrl(self, v):
        r = self.regs
        r[0x0F] = v
        if v & 0x10:                                  # ABAT
            for n in range(3):
                c = 0x30 + 0x10 * n
                if r[c] & 0x08:
                    r[c] = (r[c] & ~0x08) | 0x40
        req = v & 0xE0
        if self.opmod == _SLEEP:
            return                                    # only a wake-up leaves sleep
        if req not in _MODES:
            return                                    # reserved REQOP: no change
        if req == _SLEEP and self.pending():
            return                                    # after the transmissions
        self.opmod = req

    def _wake(self):
        self.opmod = _LISTEN
        self.regs[0x0F] = (self.regs[0x0F] & 0x1F) | _LISTEN

    def _settle(self):
        if self.regs[0x0F] & 0xE0 == _SLEEP and self.opmod != _SLEEP and not self.pending():
            self.opmod = _SLEEP

    def _request(self, n):
        c = 0x30 + 0x10 * n
        r = self.regs
        if r[0x0F] & 0x10:                            # ABAT set: aborted at once
            r[c] = (r[c] & 0x03) | 0x40
            return
        r[c] = (r[c] & 0x03) | 0x08

    def read_status(self):
        r = self.regs
        f = r[0x2C]
        return ((f & 0x03) | (0x04 if r[0x30] & 0x08 else 0) | (f & 0x04) << 1 |
                (0x10 if r[0x40] & 0x08 else 0) | (f & 0x08) << 2 |
                (0x40 if r[0x50] & 0x08 else 0) | (f & 0x10) << 3)

    def rx_status(self):
        r = self.regs
        f = r[0x2C] & 3
        if not f:
            return 0
        b = 0x60 if f & 1 else 0x70
        ext = r[b + 2] & 0x08
        remote = (r[b + 5] & 0x40) if ext else (r[b + 2] & 0x10)
        if b == 0x60:
            hit = r[0x60] & 1
        else:
            hit = r[0x70] & 7
            if hit < 2:
                hit |= 6                # RXF0/RXF1, rolled over into RXB1
        return f << 6 | (0x10 if ext else 0) | (0x08 if remote else 0) | hit

    # ---- inspection ----------------------------------------------------------------
    def pending(self):
        """TX buffers with TXREQ set."""
        return [n for n in range(3) if self.regs[0x30 + 0x10 * n] & 0x08]

    def txp(self, n):
        return self.regs[0x30 + 0x10 * n] & 3

    def timing(self, xtal_hz):
        """What CNF1-3 mean: (bit/s or None if not exact, sample point in per
        mille, TQ per bit, SJW, problems: list of the data sheet's rules broken)."""
        r = self.regs
        cnf1, cnf2, cnf3 = r[0x2A], r[0x29], r[0x28]
        brp = cnf1 & 0x3F
        sjw = (cnf1 >> 6) + 1
        prop = (cnf2 & 7) + 1
        ps1 = ((cnf2 >> 3) & 7) + 1
        ps2 = (cnf3 & 7) + 1 if cnf2 & 0x80 else max(ps1, 2)
        tq = 1 + prop + ps1 + ps2
        div = 2 * (brp + 1) * tq
        rate = xtal_hz // div if xtal_hz % div == 0 else None
        bad = []
        if prop + ps1 < ps2:
            bad.append("PropSeg + PS1 >= PS2")
        if ps2 <= sjw:
            bad.append("PS2 > SJW")
        if ps2 < 2:
            bad.append("PS2 >= IPT (2 TQ)")
        if not 8 <= tq <= 25:
            bad.append("8..25 TQ per bit")
        if cnf2 & 0x40:
            bad.append("SAM: three samples")
        return rate, 1000 * (tq - ps2) // tq, tq, sjw, bad

    def interrupts(self):
        return self.regs[0x2C]

    # ---- the bus side --------------------------------------------------------------
    def transmit(self):
        """The highest-priority pending buffer wins arbitration and is sent
        (normal mode: onto `bus`; loopback: into the chip's own receive
        path).  The frame, or None when nothing goes out."""
        if self.opmod not in (_NORMAL, _LOOPBACK) or self.tec >= 256:
            return None
        best = -1
        for n in range(3):
            if self.regs[0x30 + 0x10 * n] & 0x08 and (
                    best < 0 or self.txp(n) >= self.txp(best)):
                best = n
        if best < 0:
            return None
        frame = self._tx_frame(best)
        r = self.regs
        c = 0x30 + 0x10 * best
        r[c] &= ~0x78
        r[0x2C] |= 0x04 << best
        if self.tec > 0:
            self.tec -= 1
            self._update_eflg()
        if self.opmod == _LOOPBACK:
            self._place(frame[0], frame[1], frame[2], frame[3], len(frame[2]))
        else:
            self.bus.append(frame)
        self._settle()
        return frame

    def transmit_all(self):
        out = []
        f = self.transmit()
        while f is not None:
            out.append(f)
            f = self.transmit()
        return out

    def tx_error(self):
        """A bit error while the highest-priority buffer is on the bus: TXERR,
        MERRF, TEC + 8; the chip retries it later.  The buffer number or -1."""
        for n in sorted(self.pending(), key=lambda n: (self.txp(n), n), reverse=True):
            self.regs[0x30 + 0x10 * n] |= 0x10
            self.regs[0x2C] |= 0x80
            self.tec += 8
            self._update_eflg()
            return n
        return -1

    def _tx_frame(self, n):
        r = self.regs
        b = 0x31 + 0x10 * n
        sidh, sidl, eid8, eid0, dlc = r[b], r[b + 1], r[b + 2], r[b + 3], r[b + 4]
        ext = bool(sidl & 0x08)
        if ext:
            can_id = sidh << 21 | (sidl & 0xE0) << 13 | (sidl & 3) << 16 | eid8 << 8 | eid0
        else:
            can_id = sidh << 3 | sidl >> 5
        k = min(dlc & 0x0F, 8)
        return (can_id, ext, bytes(r[b + 5:b + 5 + k]), bool(dlc & 0x40))

    def receive(self, can_id, data=b"", ext=False, remote=False, dlc=None):
        """A frame from the bus.  Returns the buffer it went to (0, 1), -1 when
        the filters rejected it or the mode does not receive, -2 on overflow."""
        if self.opmod == _SLEEP:
            if self.regs[0x2B] & 0x40:
                self.regs[0x2C] |= 0x40
                self._wake()
            return -1
        if self.opmod not in (_NORMAL, _LISTEN):
            return -1
        if self.rec > 0:
            self.rec = self.rec - 1 if self.rec <= 127 else 127
            self._update_eflg()
        return self._place(can_id, ext, bytes(data), remote, len(data) if dlc is None else dlc)

    def _match(self, f, m, can_id, ext, data):
        r = self.regs
        if bool(r[f + 1] & 0x08) != bool(ext):
            return False
        fs = r[f] << 3 | r[f + 1] >> 5
        ms = r[m] << 3 | r[m + 1] >> 5
        if ext:
            fe = (r[f + 1] & 3) << 16 | r[f + 2] << 8 | r[f + 3]
            me = (r[m + 1] & 3) << 16 | r[m + 2] << 8 | r[m + 3]
            return ((can_id >> 18) ^ fs) & ms == 0 and ((can_id & 0x3FFFF) ^ fe) & me == 0
        d0 = data[0] if len(data) > 0 else 0
        d1 = data[1] if len(data) > 1 else 0
        return ((can_id ^ fs) & ms == 0 and (d0 ^ r[f + 2]) & r[m + 2] == 0 and
                (d1 ^ r[f + 3]) & r[m + 3] == 0)

    def _hit(self, buf, can_id, ext, data):
        r = self.regs
        if r[0x60 + 0x10 * buf] & 0x60 == 0x60:
            return 0 if buf == 0 else 2
        filters, mask = ((0, 1), 0x20) if buf == 0 else ((2, 3, 4, 5), 0x24)
        for n in filters:
            if self._match(_RXF[n], mask, can_id, ext, data):
                return n
        return -1

    def _place(self, can_id, ext, data, remote, dlc):
        r = self.regs
        h0 = self._hit(0, can_id, ext, data)
        h1 = self._hit(1, can_id, ext, data)
        if h0 >= 0:
            if not r[0x2C] & 0x01:
                self._store(0, can_id, ext, data, remote, dlc, h0)
                return 0
            if r[0x60] & 0x04:
                if not r[0x2C] & 0x02:
                    self._store(1, can_id, ext, data, remote, dlc, h0)
                    return 1
                return self._overflow(0x80)
            return self._overflow(0x40)
        if h1 >= 0:
            if not r[0x2C] & 0x02:
                self._store(1, can_id, ext, data, remote, dlc, h1)
                return 1
            return self._overflow(0x80)
        return -1

    def _overflow(self, bit):
        self.regs[0x2D] |= bit
        self.regs[0x2C] |= 0x20
        return -2

    def _store(self, n, can_id, ext, data, remote, dlc, hit):
        r = self.regs
        b = 0x61 + 0x10 * n
        if ext:
            r[b] = (can_id >> 21) & 0xFF
            r[b + 1] = ((can_id >> 13) & 0xE0) | 0x08 | ((can_id >> 16) & 3)
            r[b + 2] = (can_id >> 8) & 0xFF
            r[b + 3] = can_id & 0xFF
            r[b + 4] = (0x40 if remote else 0) | dlc
        else:
            r[b] = can_id >> 3
            r[b + 1] = (can_id << 5) & 0xE0 | (0x10 if remote else 0)
            r[b + 2] = 0
            r[b + 3] = 0
            r[b + 4] = dlc
        for i in range(8):
            r[b + 5 + i] = data[i] if i < len(data) and not remote else 0
        c = 0x60 + 0x10 * n
        if n == 0:
            r[c] = (r[c] & 0x66) | (0x08 if remote else 0) | hit
        else:
            r[c] = (r[c] & 0x60) | (0x08 if remote else 0) | hit
        r[0x2C] |= 1 << n

    # ---- fault confinement (ISO 11898-1) ------------------------------------------
    def set_counters(self, tec=None, rec=None):
        if tec is not None:
            self.tec = tec
        if rec is not None:
            self.rec = rec
        self._update_eflg()

    def bus_off(self):
        """TEC passes 255: bus-off."""
        self.set_counters(tec=256)

    def recessive(self, sequences):
        """`sequences` times 11 recessive bits on the bus; after 128 of them a
        bus-off chip is error-active again with both counters 0.  True once
        it has recovered."""
        if self.tec < 256:
            return True
        self._recessive += sequences
        if self._recessive >= 128:
            self._recessive = 0
            self.tec = 0
            self.rec = 0
            self._update_eflg()
            return True
        return False

    def _update_eflg(self):
        r = self.regs
        t, c = self.tec, self.rec
        e = ((0x20 if t >= 256 else 0) | (0x10 if 128 <= t < 256 else 0) |
             (0x08 if c >= 128 else 0) | (0x04 if t >= 96 else 0) | (0x02 if c >= 96 else 0) |
             (0x01 if t >= 96 or c >= 96 else 0))
        if e != r[0x2D] & 0x3F:
            r[0x2D] = (r[0x2D] & 0xC0) | e
            r[0x2C] |= 0x20
