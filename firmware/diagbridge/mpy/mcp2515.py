# MCP2515 stand-alone CAN controller (Microchip DS20001801) over SPI: a CAN
# port of gateway/loop.py for any board with an MCP2515 module.  Portable: it
# takes objects with spi.write(buf) / spi.readinto(buf, write=0) /
# spi.write_readinto(out, inp) and a chip select with cs.value(v) (or cs(v)),
# so machine.SPI + machine.Pin on a board and a register-level model in
# tests/core stand in alike.  Classical CAN only (ISO 11898-1 2.0A/2.0B).
#
#   can = Mcp2515(spi, cs, xtal_hz=8000000, bitrate=500000, int_pin=pin)
#   r = can.send(can_id, buf, n, flags, tag)   True: queued; False: cannot be sent;
#                                              None (tx_confirm=True): confirmed later
#   n = can.recv(buf)                          -1 = none; else can.rx_id, can.rx_flags
#   r = can.pop_confirm()                      -1 = none; 1/0 = ok/failed for can.confirm_tag
#   can.deliver_confirms(now, loop)            loop.confirm(now, ok, tag) for each
#   can.state, can.tec, can.rec                ISO 11898-1 fault confinement state
#
# Transmit: three TX buffers.  The chip sends the pending buffer with the
# highest TXP first (equal TXP: the highest buffer number), so to keep this
# node's frames in the order they were sent (CAN-TP consecutive frames share
# one identifier) each frame loaded gets a TXP below every frame still
# pending; when TXP 0 is taken the next frame waits in a software ring
# (tx_queue frames) until the buffers drain.  A buffer is confirmed when its
# TXREQ clears with TXnIF set.
# Receive: RXB0 rolls over into RXB1 (BUKT); when both hold a frame the
# older one is read first, so the frames of one identifier keep their order
# (with filters, a frame only RXB1's filters accept may be read after a newer
# one in RXB0).  An overflow (RX0OVR/RX1OVR) is counted in rx_overflow.  Remote
# frames have no place in the port contract: counted in rx_remote, dropped.
# Errors: EFLG, TEC and REC are read when EFLG changes; at bus-off every
# pending frame is aborted and confirmed failed, and the chip itself returns
# to error-active after 128 x 11 recessive bits (ISO 11898-1 bus-off
# recovery): `state` follows.  With int_pin (active low) nothing is read
# over SPI while the pin is high.  No allocation per frame.
from diagbridge._compat import const
from diagbridge.can import FLAG_EXT, FLAG_FD
from diagbridge.errors import ConfigError

# SPI instructions
_RESET = const(0xC0)
_READ = const(0x03)
_WRITE = const(0x02)
_READ_RX = const(0x90)        # | 0x04: RXB1; starts at RXBnSIDH
_RTS = const(0x80)            # | 1 << buffer
_BIT_MODIFY = const(0x05)

# registers
_CANSTAT = const(0x0E)
_CANCTRL = const(0x0F)
_TEC = const(0x1C)
_CNF3 = const(0x28)
_CANINTF = const(0x2C)
_EFLG = const(0x2D)
_TXB0CTRL = const(0x30)       # TXBnCTRL = 0x30 + 0x10 * n
_RXB0CTRL = const(0x60)
_RXB1CTRL = const(0x70)

# CANINTE / CANINTF bits
_RX0IF = const(0x01)
_RX1IF = const(0x02)
_TX0IF = const(0x04)          # << n
_ERRIF = const(0x20)
_WAKIF = const(0x40)
_MERRF = const(0x80)
_INT_ENABLE = const(0xBF)     # all but WAKIE

# EFLG bits
_RX1OVR = const(0x80)
_RX0OVR = const(0x40)
_TXBO = const(0x20)
_TXEP = const(0x10)
_RXEP = const(0x08)
_EWARN = const(0x01)

_ABAT = const(0x10)           # CANCTRL: abort all pending transmissions
_RXM_ANY = const(0x60)        # RXBnCTRL: masks and filters off
_BUKT = const(0x04)           # RXB0CTRL: roll over into RXB1

# operation modes: CANCTRL.REQOP / CANSTAT.OPMOD (bits 7:5)
MODE_NORMAL = const(0x00)
MODE_SLEEP = const(0x20)
MODE_LOOPBACK = const(0x40)
MODE_LISTEN_ONLY = const(0x60)
MODE_CONFIG = const(0x80)

# ISO 11898-1 fault confinement (warning: a counter reached 96)
STATE_ERROR_ACTIVE = const(0)
STATE_ERROR_WARNING = const(1)
STATE_ERROR_PASSIVE = const(2)
STATE_BUS_OFF = const(3)

_TQ_MIN = const(8)            # time quanta per bit the CAN specification allows
_TQ_MAX = const(25)
_SPINS = const(1000)          # CANSTAT reads while a mode change settles


def bit_timing(xtal_hz, bitrate):
    """(CNF1, CNF2, CNF3) for `bitrate` with an `xtal_hz` oscillator: SJW 1,
    one sample, sample point nearest 87.5 % (75 % above 800 kbit/s, CiA 301).
    ConfigError when no prescaler gives an exact bit of 8..25 TQ."""
    if not isinstance(xtal_hz, int) or not 1000000 <= xtal_hz <= 40000000:
        raise ConfigError("xtal_hz: %r is not an MCP2515 oscillator (1-40 MHz)" % (xtal_hz,))
    if not isinstance(bitrate, int) or not 10000 <= bitrate <= 1000000:
        raise ConfigError("bitrate: %r is outside 10000..1000000 bit/s" % (bitrate,))
    target = 750 if bitrate > 800000 else 875        # per mille
    best = None
    for brp in range(64):
        div = 2 * (brp + 1) * bitrate
        if xtal_hz % div:
            continue
        tq = xtal_hz // div
        if not _TQ_MIN <= tq <= _TQ_MAX:
            continue
        ps2 = max(2, min(8, (tq * (1000 - target) + 500) // 1000))
        tseg1 = tq - 1 - ps2
        if tseg1 < ps2 or tseg1 > 16:
            continue
        prop = tseg1 // 2
        ps1 = tseg1 - prop
        if ps1 > 8:
            ps1, prop = 8, tseg1 - 8
        err = abs(1000 * (tq - ps2) // tq - target)
        if best is None or err < best[0] or (err == best[0] and tq > best[1]):
            best = (err, tq, brp, prop, ps1, ps2)
    if best is None:
        most = xtal_hz // (2 * bitrate)
        if most < _TQ_MIN:
            why = "at most %d TQ per bit (TQ = 2 x (BRP + 1) / Fosc), the MCP2515 needs " \
                  "%d..%d: use a 16 MHz crystal" % (most, _TQ_MIN, _TQ_MAX)
        else:
            why = "no prescaler gives a whole %d..%d TQ per bit" % (_TQ_MIN, _TQ_MAX)
        raise ConfigError("bitrate: %d bit/s from a %d Hz oscillator: %s" % (
            bitrate, xtal_hz, why))
    _err, _tq, brp, prop, ps1, ps2 = best
    # CNF1: SJW-1 = 0 | BRP; CNF2: BTLMODE | PHSEG1-1 | PRSEG-1; CNF3: PHSEG2-1
    return brp, 0x80 | (ps1 - 1) << 3 | (prop - 1), ps2 - 1


def _id_regs(can_id, ext):
    """The SIDH, SIDL, EID8, EID0 image of an identifier (ext: EXIDE set)."""
    if ext:
        return ((can_id >> 21) & 0xFF, ((can_id >> 13) & 0xE0) | 0x08 | ((can_id >> 16) & 3),
                (can_id >> 8) & 0xFF, can_id & 0xFF)
    return (can_id >> 3) & 0xFF, (can_id << 5) & 0xE0, 0, 0


def filter_plan(filters):
    """Acceptance masks and filters for a list of rules: each is a standard
    identifier (int), (can_id, flags) for one exact identifier or
    (can_id, flags, mask).  Returns (RXM0, RXM1, (RXF0..RXF5)) as 4-byte
    register images; ConfigError when the rules do not fit two masks (RXM0
    for RXF0-1, RXM1 for RXF2-5)."""
    groups = []                     # [mask image, [filter images]]
    for rule in filters:
        if isinstance(rule, int):
            rule = (rule, 0)
        can_id, flags = rule[0], rule[1]
        ext = bool(flags & FLAG_EXT)
        top = 0x1FFFFFFF if ext else 0x7FF
        mask = rule[2] if len(rule) > 2 else top
        if not isinstance(can_id, int) or not 0 <= can_id <= top or flags & ~FLAG_EXT:
            raise ConfigError("filters: %r is not a %s identifier" % (
                rule, "29-bit" if ext else "11-bit"))
        if not isinstance(mask, int) or not 0 <= mask <= top:
            raise ConfigError("filters: mask of %r" % (rule,))
        m = _id_regs(mask, ext)
        # a standard mask's EID bytes would filter on data bytes 0-1: zero
        mimg = (m[0], m[1] & 0xE3, m[2], m[3]) if ext else (m[0], m[1], 0, 0)
        fimg = _id_regs(can_id & mask, ext)
        for g in groups:
            if g[0] == mimg:
                g[1].append(fimg)
                break
        else:
            groups.append([mimg, [fimg]])
    if not groups:
        raise ConfigError("filters: empty (None receives every frame)")
    if len(groups) > 2 or sum(len(g[1]) for g in groups) > 6:
        raise ConfigError("filters: %d masks for %d rules; the MCP2515 has 2 masks (RXM0 with "
                          "2 filters, RXM1 with 4)" % (len(groups), sum(len(g[1]) for g in groups)))
    if len(groups) == 1:
        m, g = groups[0]
        groups = [[m, g[:2]], [m, g[2:] or g]]
    else:
        if len(groups[0][1]) > len(groups[1][1]):    # the smaller group to RXB0
            groups.reverse()
        if len(groups[0][1]) > 2 or len(groups[1][1]) > 4:
            raise ConfigError("filters: rules sharing a mask: %d and %d; RXM0 takes at most 2 "
                              "filters, RXM1 at most 4" % (len(groups[0][1]), len(groups[1][1])))
    f0 = groups[0][1]
    f1 = groups[1][1]
    rxf = tuple(f0[i % len(f0)] for i in range(2)) + tuple(f1[i % len(f1)] for i in range(4))
    return groups[0][0], groups[1][0], rxf


class Mcp2515:
    """CAN port of gateway/loop.py on an MCP2515 (see the module comment).

    xtal_hz, bitrate  oscillator and bit rate (bit_timing: 125k-1M at 8/16 MHz ...)
    int_pin      the chip's INT output (active low, value()); None: read over SPI
    mode         MODE_NORMAL, MODE_LISTEN_ONLY or MODE_LOOPBACK
    filters      None (every frame) or rules for filter_plan()
    rollover     RXB0 rolls over into RXB1 (BUKT)
    tx_queue     frames waiting for a TX buffer
    tx_confirm   True: send() returns None and pop_confirm() reports each frame"""

    def __init__(self, spi, cs, *, xtal_hz, bitrate, int_pin=None, mode=MODE_NORMAL,
                 filters=None, rollover=True, tx_queue=16, tx_confirm=False):
        cnf1, cnf2, cnf3 = bit_timing(xtal_hz, bitrate)
        if mode not in (MODE_NORMAL, MODE_LISTEN_ONLY, MODE_LOOPBACK):
            raise ConfigError("mode: %r (MODE_NORMAL, MODE_LISTEN_ONLY, MODE_LOOPBACK)" % (mode,))
        if not isinstance(tx_queue, int) or not 1 <= tx_queue <= 256:
            raise ConfigError("tx_queue: %r (1..256 frames)" % (tx_queue,))
        plan = None if filters is None else filter_plan(filters)
        self.spi = spi
        self._cs = cs.value if hasattr(cs, "value") else cs
        self._int = int_pin
        self.flag = None          # the runner's wake-up flag: a board may set one from INT
        self.mode = mode
        self.bitrate = bitrate
        self.tx_confirm = bool(tx_confirm)
        self.rx_id = 0
        self.rx_flags = 0
        self.confirm_tag = 0
        self.state = STATE_ERROR_ACTIVE
        self.tec = 0
        self.rec = 0
        self.eflg = 0
        # counters
        self.rx_frames = 0
        self.tx_frames = 0
        self.rx_overflow = 0
        self.rx_remote = 0
        self.tx_refused = 0
        self.tx_dropped = 0
        self.tx_aborted = 0
        self.bus_off_count = 0
        self.merr = 0
        # SPI buffers, made once
        self._o4 = bytearray(4)
        self._i4 = bytearray(4)
        self._o1 = bytearray(1)
        self._txo = bytearray(16)     # WRITE TXBnCTRL..TXBnD7
        self._rxo = bytearray(14)     # READ RX BUFFER + 13 bytes
        self._rxi = bytearray(14)
        # TX buffers: pending flag, TXP, tag
        self._busy = bytearray(3)
        self._lvl = bytearray(3)
        self._tag = [0, 0, 0]
        # software ring of frames waiting for a buffer
        self._qn = tx_queue
        self._qh = 0
        self._qc = 0
        self._qid = [0] * tx_queue
        self._qfl = bytearray(tx_queue)
        self._qlen = bytearray(tx_queue)
        self._qtag = [0] * tx_queue
        self._qdata = bytearray(8 * tx_queue)
        # confirm ring: every frame that can be in flight at once
        self._cn = tx_queue + 3
        self._ch = 0
        self._cc = 0
        self._ctag = [0] * self._cn
        self._cok = bytearray(self._cn)
        self._intf = 0
        self._rx1_first = False
        self._open(cnf1, cnf2, cnf3, plan, rollover)

    # ---- set-up (allocates freely) -----------------------------------------------
    def _open(self, cnf1, cnf2, cnf3, plan, rollover):
        self._cs(1)
        self._o1[0] = _RESET
        self._xfer(self._o1)
        if not self._wait_mode(MODE_CONFIG):
            raise OSError("MCP2515 not in configuration mode after RESET (CANSTAT 0x%02x): "
                          "check SPI wiring, CS and the module's power" % self._read(_CANSTAT))
        self._write(_CNF3, (cnf3, cnf2, cnf1, _INT_ENABLE))
        rxm = _RXM_ANY
        if plan is not None:
            rxm = 0
            m0, m1, rxf = plan
            self._write(0x00, rxf[0] + rxf[1] + rxf[2])
            self._write(0x10, rxf[3] + rxf[4] + rxf[5])
            self._write(0x20, m0 + m1)
        self._write(_RXB0CTRL, (rxm | (_BUKT if rollover else 0),))
        self._write(_RXB1CTRL, (rxm,))
        if (self._read(0x2A), self._read(0x29), self._read(0x28)) != (cnf1, cnf2, cnf3):
            raise OSError("MCP2515 did not keep CNF1-3: check SPI wiring (MISO/MOSI)")
        if not self.set_mode(self.mode):
            raise OSError("MCP2515 did not enter mode 0x%02x" % self.mode)

    def _write(self, addr, values):
        out = bytearray(2 + len(values))
        out[0] = _WRITE
        out[1] = addr
        for i in range(len(values)):
            out[2 + i] = values[i]
        self._xfer(out)

    def _wait_mode(self, mode):
        for _ in range(_SPINS):
            if self._read(_CANSTAT) & 0xE0 == mode:
                return True
        return False

    def set_mode(self, mode):
        """Request an operation mode (MODE_*); True once CANSTAT.OPMOD shows it.
        Leaving sleep wakes the chip first (WAKIF), as the datasheet asks."""
        if mode not in (MODE_NORMAL, MODE_LISTEN_ONLY, MODE_LOOPBACK, MODE_SLEEP, MODE_CONFIG):
            raise ConfigError("mode: %r" % (mode,))
        if mode != MODE_SLEEP and self._read(_CANSTAT) & 0xE0 == MODE_SLEEP:
            self._bit_modify(0x2B, _WAKIF, _WAKIF)          # WAKIE on
            self._bit_modify(_CANINTF, _WAKIF, _WAKIF)      # a wake-up: into listen-only
            self._wait_mode(MODE_LISTEN_ONLY)
            self._bit_modify(_CANINTF, _WAKIF, 0)
            self._bit_modify(0x2B, _WAKIF, 0)
        self._bit_modify(_CANCTRL, 0xE0, mode)
        ok = self._wait_mode(mode)
        if ok and mode in (MODE_NORMAL, MODE_LISTEN_ONLY, MODE_LOOPBACK):
            self.mode = mode
        return ok

    def sleep(self):
        """Sleep mode (the chip enters it once its transmissions are done)."""
        return self.set_mode(MODE_SLEEP)

    def wake(self):
        """Back to the mode before sleep."""
        return self.set_mode(self.mode)

    # ---- SPI (allocation-free) -------------------------------------------------
    def _xfer(self, out):
        self._cs(0)
        self.spi.write(out)
        self._cs(1)

    def _xchg(self, out, inp):
        self._cs(0)
        self.spi.write_readinto(out, inp)
        self._cs(1)

    def _read(self, addr):
        self._xchg(self._rd_cmd(addr), self._i4)
        return self._i4[2]

    def _rd_cmd(self, addr):
        o = self._o4
        o[0] = _READ
        o[1] = addr
        o[2] = 0
        o[3] = 0
        return o

    def _read2(self, addr):
        """Registers addr and addr+1 into self._i4[2], [3]."""
        self._xchg(self._rd_cmd(addr), self._i4)

    def _bit_modify(self, addr, mask, data):
        o = self._o4
        o[0] = _BIT_MODIFY
        o[1] = addr
        o[2] = mask
        o[3] = data
        self._xfer(o)

    # ---- the CAN port contract ----------------------------------------------------
    def send(self, can_id, buf, n, flags, tag):
        """Queue one classical frame.  False (counted in tx_refused) for what
        a classical bus cannot carry (FD flag, n > 8, identifier too large)
        or at bus-off; False (tx_dropped) when the ring is full."""
        ext = flags & FLAG_EXT
        if flags & FLAG_FD or n > 8 or n < 0 or can_id < 0 or \
                can_id > (0x1FFFFFFF if ext else 0x7FF):
            self.tx_refused += 1
            return False
        if self.state == STATE_BUS_OFF or self.mode == MODE_LISTEN_ONLY:
            self.tx_refused += 1
            return False
        if self._qc == 0 and self._load(can_id, buf, 0, n, ext, tag):
            return None if self.tx_confirm else True
        if self._qc == self._qn:
            self._service()
            if self._qc == self._qn:
                self.tx_dropped += 1
                return False
        q = (self._qh + self._qc) % self._qn
        self._qid[q] = can_id
        self._qfl[q] = ext
        self._qlen[q] = n
        self._qtag[q] = tag
        d = self._qdata
        base = q * 8
        for i in range(n):
            d[base + i] = buf[i]
        self._qc += 1
        self._service()
        return None if self.tx_confirm else True

    def _load(self, can_id, data, off, n, ext, tag):
        """Into a free TX buffer with a TXP below every pending one; False if none."""
        busy = self._busy
        lvl = 4
        free = -1
        for b in range(3):
            if busy[b]:
                if self._lvl[b] < lvl:
                    lvl = self._lvl[b]
            elif free < 0:
                free = b
        if free < 0 or lvl == 0:
            return False
        lvl -= 1
        o = self._txo
        o[0] = _WRITE
        o[1] = _TXB0CTRL + 0x10 * free
        o[2] = lvl
        if ext:
            o[3] = (can_id >> 21) & 0xFF
            o[4] = ((can_id >> 13) & 0xE0) | 0x08 | ((can_id >> 16) & 3)
            o[5] = (can_id >> 8) & 0xFF
            o[6] = can_id & 0xFF
        else:
            o[3] = can_id >> 3
            o[4] = (can_id << 5) & 0xE0
            o[5] = 0
            o[6] = 0
        o[7] = n
        for i in range(n):
            o[8 + i] = data[off + i]
        self._xfer(o)
        self._o1[0] = _RTS | (1 << free)
        self._xfer(self._o1)
        busy[free] = 1
        self._lvl[free] = lvl
        self._tag[free] = tag
        return True

    def _drain_queue(self):
        while self._qc:
            q = self._qh
            if not self._load(self._qid[q], self._qdata, q * 8, self._qlen[q], self._qfl[q],
                              self._qtag[q]):
                return
            self._qh = (q + 1) % self._qn
            self._qc -= 1

    def _confirm(self, ok, tag):
        if not self.tx_confirm:
            return
        if self._cc == self._cn:          # cannot happen: the ring holds all in flight
            return
        c = (self._ch + self._cc) % self._cn
        self._ctag[c] = tag
        self._cok[c] = 1 if ok else 0
        self._cc += 1

    def pop_confirm(self):
        """-1: none; else 1 (sent) / 0 (failed) for the frame tagged confirm_tag."""
        if self._cc == 0:
            if self._int is None or not self._int.value():
                self._service()
            if self._cc == 0:
                return -1
        c = self._ch
        self.confirm_tag = self._ctag[c]
        self._ch = (c + 1) % self._cn
        self._cc -= 1
        return self._cok[c]

    def deliver_confirms(self, now, loop):
        """loop.confirm(now, ok, tag) for every finished frame; their number."""
        k = 0
        r = self.pop_confirm()
        while r >= 0:
            loop.confirm(now, r == 1, self.confirm_tag)
            k += 1
            r = self.pop_confirm()
        return k

    def read_counters(self):
        """(TEC, REC) read now (tec/rec hold them as of the last error event)."""
        self._counters()
        return self.tec, self.rec

    def _counters(self):
        self._read2(_TEC)
        self.tec = self._i4[2]
        self.rec = self._i4[3]

    def poll(self):
        """Read the chip's flags now (confirms, error state); recv() does this too."""
        self._service()

    def _service(self):
        self._read2(_CANINTF)
        f = self._i4[2]
        e = self._i4[3]
        self._intf = f
        done = (f >> 2) & 7
        if done:
            for b in range(3):
                if done & (1 << b) and self._busy[b]:
                    self._busy[b] = 0
                    self.tx_frames += 1
                    self._confirm(True, self._tag[b])
            self._bit_modify(_CANINTF, done << 2, 0)
        if f & (_ERRIF | _MERRF | _WAKIF) or e != self.eflg:
            if f & _MERRF:
                self.merr += 1
            self._bit_modify(_CANINTF, f & (_ERRIF | _MERRF | _WAKIF), 0)
            self._errors(e)
        if self._qc:
            self._drain_queue()

    def _errors(self, e):
        if e & (_RX0OVR | _RX1OVR):
            self.rx_overflow += (1 if e & _RX0OVR else 0) + (1 if e & _RX1OVR else 0)
            self._bit_modify(_EFLG, _RX0OVR | _RX1OVR, 0)
            e &= ~(_RX0OVR | _RX1OVR)
        self.eflg = e
        self._counters()
        was = self.state
        if e & _TXBO:
            self.state = STATE_BUS_OFF
        elif e & (_TXEP | _RXEP):
            self.state = STATE_ERROR_PASSIVE
        elif e & _EWARN:
            self.state = STATE_ERROR_WARNING
        else:
            self.state = STATE_ERROR_ACTIVE
        if self.state == STATE_BUS_OFF and was != STATE_BUS_OFF:
            self.bus_off_count += 1
            self._abort_all()

    def _abort_all(self):
        """Abort every pending and queued frame (each confirmed failed)."""
        self._bit_modify(_CANCTRL, _ABAT, _ABAT)
        for _ in range(_SPINS):
            self._read2(_TXB0CTRL)
            pend = self._i4[2] & 0x08
            self._read2(_TXB0CTRL + 0x10)
            pend |= self._i4[2] & 0x08
            self._read2(_TXB0CTRL + 0x20)
            if not (pend | (self._i4[2] & 0x08)):
                break
        self._bit_modify(_CANCTRL, _ABAT, 0)
        self._read2(_CANINTF)
        done = (self._i4[2] >> 2) & 7     # finished just before the abort
        for b in range(3):
            if self._busy[b]:
                self._busy[b] = 0
                if done & (1 << b):
                    self.tx_frames += 1
                else:
                    self.tx_aborted += 1
                self._confirm(done & (1 << b), self._tag[b])
        if done:
            self._bit_modify(_CANINTF, done << 2, 0)
        while self._qc:
            self._confirm(False, self._qtag[self._qh])
            self.tx_aborted += 1
            self._qh = (self._qh + 1) % self._qn
            self._qc -= 1

    def recv(self, buf):
        """Next received frame into buf (>= 8 bytes): its length, with rx_id and
        rx_flags; -1 = none."""
        while True:
            if self._int is not None and self._int.value():
                return -1
            self._service()
            f = self._intf & (_RX0IF | _RX1IF)
            if not f:
                return -1
            if f == _RX1IF or (f == _RX0IF | _RX1IF and self._rx1_first):
                b = 1
                self._rx1_first = False
            else:
                b = 0
                # RXB1 filled while RXB0 was full: it is older than what comes next
                self._rx1_first = f == _RX0IF | _RX1IF
            o = self._rxo
            o[0] = _READ_RX | (b << 2)
            r = self._rxi
            self._xchg(o, r)
            sidl = r[2]
            dlc = r[5]
            if sidl & 0x08:
                self.rx_id = r[1] << 21 | (sidl & 0xE0) << 13 | (sidl & 3) << 16 | \
                    r[3] << 8 | r[4]
                self.rx_flags = FLAG_EXT
                remote = dlc & 0x40
            else:
                self.rx_id = r[1] << 3 | sidl >> 5
                self.rx_flags = 0
                remote = sidl & 0x10
            if remote:
                self.rx_remote += 1
                continue
            n = dlc & 0x0F
            if n > 8:
                n = 8
            for i in range(n):
                buf[i] = r[6 + i]
            self.rx_frames += 1
            return n
