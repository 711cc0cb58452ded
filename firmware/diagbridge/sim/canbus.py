# The virtual CAN bus: ports with FIFO transmit queues, bitwise arbitration,
# bit-exact frame times, optional faults, error counters and bus-off, all in
# the kernel's virtual time.
#
# What is modelled, and why at this grain:
#   - A frame is one slot on the bus; its length comes from canframe (stuff
#     bits and the 3-bit intermission included, FD data phase at the data
#     bit rate).  The slot is rounded UP to the microsecond (the kernel's
#     unit): a frame starting at elapsed t0 ends at t0 + ceil(ns / 1000).
#     Frames go back to back: the next SOF may start at the end of a slot.
#   - Arbitration runs in a kernel call at the current instant (call_later(0)),
#     never inside send(), so every frame queued at the same instant competes.
#     The lowest arbitration field wins, compared bit by bit as on the wire
#     (dominant 0 wins): ID[28:18] (or the 11-bit ID), then RTR/SRR, IDE, then
#     ID[17:0].  So for the same 11-bit base ID a base frame beats an extended
#     one.  Only each port's head frame competes (a FIFO controller queue).
#     Identical fields from two ports (also a classical and an FD frame with
#     the same base ID: they would collide at FDF) are an error on a real bus;
#     here the port attached first wins.
#   - At the end of a slot, at one instant and in this order: the recorder,
#     the sender's on_tx(now, frame, L_OK), then every other port's on_rx in
#     attach order (later if the fault hook set frame.delay_us).  The sender
#     never receives its own frame.  Frames are acknowledged even when no
#     other port listens (no ACK errors), so a lone node cannot loop forever.
#   - A delay never reorders the frames of one identifier: CAN delivers the
#     frames of one id on one bus in the order they were sent, so a frame is
#     delivered no earlier than a delayed frame of the same arbitration field
#     before it (frames of other ids may overtake it).
#   - Faults come from the optional bus.fault(frame) hook, called when the
#     frame wins arbitration (frame.t_start_us is set; sim/faults.py builds
#     seeded hooks from rules).  None costs nothing.  It may replace
#     frame.data (corruption that the CRC does not catch, e.g. a faulty
#     gateway), set frame.delay_us, and returns:
#       FAULT_NONE/None  delivered;
#       FAULT_DROP       no receiver gets it, the sender sees success (as if
#                        a gateway in between lost it);
#       FAULT_ERROR      receivers flag a CRC error after the ACK delimiter:
#                        the slot is the frame up to the ACK delimiter, a
#                        14-bit error frame and the 3-bit intermission
#                        (frame bits - 10 + 17); TEC += 8 and the controller
#                        retransmits the same frame automatically.
#       FAULT_DUPLICATE  the receivers accept the frame (valid for them at
#                        the last but one EOF bit) but the sender sees an
#                        error in the last EOF bit (ISO 11898-1 message
#                        validation): the slot is the whole frame plus a
#                        14-bit error frame (frame bits + 14), the frame is
#                        delivered, TEC += 8 and the controller sends it
#                        again: the receivers get it twice.
#       FAULT_BUS_OFF    the sender's controller goes bus-off during this
#                        frame (as set_bus_off() while it is on the wire: the
#                        frame is aborted, everything it queued is confirmed
#                        L_BUS_OFF); if the hook set frame.off_us > 0, the
#                        controller starts recover() that many us later.
#   - Error counters (ISO 11898-1 fault confinement, transmitter side only):
#     TEC += 8 per error, -= 1 per success; TEC >= 128 is error-passive, and
#     an error-passive sender waits 8 extra bit times after its frame
#     (suspend transmission) before it may start another; TEC > 255 is
#     bus-off.  Receive error counters and passive error flags are not
#     modelled (they do not change the bus timing here).
#   - A bus-off port sends nothing, receives nothing, and confirms every
#     frame with L_BUS_OFF: pending frames at once, later send()s through a
#     kernel call at the same instant (never re-entrantly from send()).
#     recover() returns it to error-active after 128 x 11 nominal bit times,
#     counted from the call rather than from observed bus idle.
# Traffic never raises; UsageError is only for a caller's mistake.
from diagbridge._compat import const
from diagbridge.codes import L_OK, L_BUS_OFF
from diagbridge.errors import UsageError
from diagbridge.sim.canframe import (bits_time_ns, check_frame, frame_bits,
                                     EOF_IFS_BITS, ERROR_FRAME_BITS, IFS_BITS)
from diagbridge.sim.recorder import REC_CAN

# Verdicts of the fault hook.
FAULT_NONE = const(0)
FAULT_DROP = const(1)
FAULT_ERROR = const(2)
FAULT_DUPLICATE = const(3)
FAULT_BUS_OFF = const(4)
_ABORTED = const(5)             # internal verdict: the sender went bus-off mid-frame
_VERDICTS = (FAULT_NONE, FAULT_DROP, FAULT_ERROR, FAULT_DUPLICATE, FAULT_BUS_OFF)

# Record flags (Recorder records of kind REC_CAN).
CANF_EXT = const(0x01)          # 29-bit identifier
CANF_FD = const(0x02)           # FD frame
CANF_BRS = const(0x04)          # FD frame with bit-rate switch
CANF_DROPPED = const(0x08)      # sent, but no receiver got it (FAULT_DROP)
CANF_ERROR = const(0x10)        # destroyed by an error frame, or aborted by bus-off
CANF_DUPLICATE = const(0x20)    # delivered, but the sender saw an error: sent again
_FLAG_NAMES = ((CANF_EXT, "ext"), (CANF_FD, "fd"), (CANF_BRS, "brs"),
               (CANF_DROPPED, "dropped"), (CANF_ERROR, "error"),
               (CANF_DUPLICATE, "duplicate"))

_TEC_ERROR = const(8)           # transmit error: TEC += 8
_TEC_PASSIVE = const(128)       # error-passive at TEC >= 128
_TEC_MAX = const(255)           # bus-off at TEC > 255
_SUSPEND_BITS = const(8)        # error-passive suspend transmission
_RECOVERY_BITS = const(1408)    # bus-off recovery: 128 x 11 recessive bits
_NS_PER_US = const(1000)
_US_PER_S = 1000000             # not const(): keeps big-int math explicit


def can_flag_names(kind, flags):
    """Names of the REC_CAN flags, for Recorder.lines(flag_names=...)."""
    if kind != REC_CAN:
        return "flags=0x%X" % flags
    out = []
    for bit, name in _FLAG_NAMES:
        if flags & bit:
            out.append(name)
    return " ".join(out)


def _ceil_div(a, b):
    return -(-a // b)


class SimFrame:
    """One data frame.  data is bytes of exactly the wire length; sender is
    the sending port's name; t_start_us is the elapsed time its (last) slot
    started, -1 before it first won arbitration; delay_us and off_us are set
    by the fault hook; attempts counts slots started (retransmissions
    included)."""

    def __init__(self, port, can_id, extended, fd, brs, data):
        self.can_id = can_id
        self.extended = extended
        self.fd = fd
        self.brs = brs
        self.data = data
        self.sender = port.name
        self.t_start_us = -1
        self.delay_us = 0
        self.off_us = 0
        self.attempts = 0
        self._port = port
        self._verdict = FAULT_NONE
        # The arbitration field as one int that orders like the wire bits:
        # ID[28:18] | RTR-or-SRR | IDE | ID[17:0]  (RTR = 0: data frames only).
        if extended:
            self._key = ((can_id >> 18) << 20) | (3 << 18) | (can_id & 0x3FFFF)
        else:
            self._key = can_id << 20
        self._flags = ((CANF_EXT if extended else 0) | (CANF_FD if fd else 0)
                       | (CANF_BRS if brs else 0))


class CanPort:
    """One node's CAN controller on the bus.  Made by CanBus.attach()."""

    def __init__(self, bus, name):
        self._bus = bus
        self.name = name
        self.on_rx = None       # callable(now, frame): frames sent by other ports
        self.on_tx = None       # callable(now, frame, result): L_OK / L_BUS_OFF
        self.tec = 0
        self.bus_off = False
        self._queue = []        # head = the frame competing or on the wire
        self._hold_until = 0    # elapsed_us: suspend transmission ends
        self._recovery = None   # kernel handle while recovering from bus-off
        self._off_end = None    # kernel handle: a fault's bus-off period ends

    @property
    def error_passive(self):
        return self.tec >= _TEC_PASSIVE

    def send(self, can_id, data, n=None, extended=False, fd=False, brs=False):
        """Queue one data frame (data[:n] is copied now); returns the SimFrame.
        n is 0..8, or with fd one of diagbridge.can.DLC_LENGTHS (padding is the caller's job).
        The result comes later through on_tx."""
        if n is None:
            n = len(data)
        check_frame(can_id, extended, fd, brs, n)
        if n > len(data):
            raise UsageError("data shorter than n")
        frame = SimFrame(self, can_id, bool(extended), bool(fd), bool(brs), bytes(data[:n]))
        if self.bus_off:
            self._bus.kernel.call_later(0, self._refuse, frame)
        else:
            self._queue.append(frame)
            self._bus._kick()
        return frame

    def pending(self):
        """Frames not yet confirmed (the one on the wire included)."""
        return len(self._queue)

    def set_bus_off(self):
        """Force bus-off now (a test hook).  Queued frames are confirmed with
        L_BUS_OFF at this instant; a frame already on the wire is aborted and
        confirmed with L_BUS_OFF when its slot ends."""
        k = self._bus.kernel
        if self._recovery is not None:
            k.cancel(self._recovery)
            self._recovery = None
        if self._off_end is not None:
            k.cancel(self._off_end)
            self._off_end = None
        self.bus_off = True
        current = self._bus.current
        if current is not None and current._port is self:
            current._verdict = _ABORTED
        self._bus.kernel.call_later(0, self._drop_queued)

    def recover(self):
        """Start bus-off recovery: error-active with TEC = 0 after 128 x 11
        nominal bit times from now.  No effect unless bus-off (or if a
        recovery is already running)."""
        if not self.bus_off or self._recovery is not None:
            return
        bus = self._bus
        us = _ceil_div(_RECOVERY_BITS * _US_PER_S, bus.bitrate)
        self._recovery = bus.kernel.call_later(us, self._recovered)

    # ---- internals (kernel calls) -----------------------------------------
    def _recover_later(self, now, _arg):
        self._off_end = None
        self.recover()

    def _recovered(self, now, _arg):
        self._recovery = None
        self.bus_off = False
        self.tec = 0
        self._hold_until = 0

    def _confirm(self, now, frame, result):
        if self.on_tx is not None:
            self.on_tx(now, frame, result)

    def _refuse(self, now, frame):
        self._confirm(now, frame, L_BUS_OFF)

    def _drop_queued(self, now, _arg):
        # Everything but a frame on the wire, which _end_slot confirms.
        current = self._bus.current
        keep = []
        drop = []
        for f in self._queue:
            (keep if f is current else drop).append(f)
        self._queue = keep
        for f in drop:
            self._confirm(now, f, L_BUS_OFF)

    def _enter_bus_off(self, now):
        # From an error slot's end: no frame is on the wire any more.
        self.bus_off = True
        drop = self._queue
        self._queue = []
        for f in drop:
            self._confirm(now, f, L_BUS_OFF)


class CanBus:
    """The wire.  Stats: frames (slots that ended in success, dropped ones
    included), dropped, errors (error slots, duplicated ones included),
    duplicates (slots delivered and sent again), delayed (deliveries held
    back by a delay), bits (all bits put on the bus, both phases), busy_us
    (sum of slot lengths).  busy_until is the elapsed
    time the current (or last) slot ends; current is the frame on the wire."""

    def __init__(self, kernel, name="can0", bitrate=500000, data_bitrate=2000000,
                 recorder=None):
        for v in (bitrate, data_bitrate):
            if not isinstance(v, int) or v <= 0:
                raise UsageError("bit rates must be ints > 0")
        self.kernel = kernel
        self.name = name
        self.bitrate = bitrate
        self.data_bitrate = data_bitrate
        self.recorder = recorder
        self.fault = None
        self.current = None
        self.busy_until = 0
        self.frames = 0
        self.dropped = 0
        self.errors = 0
        self.duplicates = 0
        self.delayed = 0
        self.bits = 0
        self.busy_us = 0
        self._ports = []
        self._arb = None        # handle of the pending arbitration call
        self._arb_at = 0        # and the elapsed time it runs at
        self._late = {}         # arbitration key -> [elapsed of its last delivery, count]

    def attach(self, name):
        for p in self._ports:
            if p.name == name:      # records name the sender; keep them unambiguous
                raise UsageError("port name already attached")
        port = CanPort(self, name)
        self._ports.append(port)
        return port

    def load_permille(self):
        """Bus load since the kernel started, in 1/1000 (integer)."""
        t = self.kernel.elapsed_us
        return self.busy_us * 1000 // t if t > 0 else 0

    # ---- arbitration ------------------------------------------------------
    def _kick(self):
        # Arbitrate at this instant, after whatever else is queued for it.
        if self.current is not None:
            return
        k = self.kernel
        if self._arb is not None:
            if self._arb_at <= k.elapsed_us:
                return
            k.cancel(self._arb)         # a later one (suspend): now instead
        self._arb_at = k.elapsed_us
        self._arb = k.call_later(0, self._arbitrate)

    def _arbitrate(self, now, _arg):
        self._arb = None
        if self.current is not None:
            return
        t = self.kernel.elapsed_us
        win = None
        hold = None
        for p in self._ports:               # attach order: first wins a tie
            if p.bus_off or not p._queue:
                continue
            if p._hold_until > t:
                if hold is None or p._hold_until < hold:
                    hold = p._hold_until
                continue
            f = p._queue[0]
            if win is None or f._key < win._key:
                win = f
        if win is not None:
            self._start(win)
        elif hold is not None:
            self._arb_at = hold
            self._arb = self.kernel.call_at(hold, self._arbitrate)

    def _start(self, frame):
        k = self.kernel
        t = k.elapsed_us
        frame.t_start_us = t
        frame.delay_us = 0
        frame.off_us = 0
        frame.attempts += 1
        verdict = FAULT_NONE
        if self.fault is not None:
            v = self.fault(frame)
            if v is not None:
                verdict = v
                if v not in _VERDICTS:
                    raise UsageError("fault hook returned an unknown verdict")
            if not isinstance(frame.delay_us, int) or frame.delay_us < 0:
                raise UsageError("frame.delay_us must be an int >= 0")
            if not isinstance(frame.off_us, int) or frame.off_us < 0:
                raise UsageError("frame.off_us must be an int >= 0")
        frame._verdict = verdict
        nominal, data_bits = frame_bits(frame.can_id, frame.extended, frame.fd, frame.brs,
                                        frame.data, len(frame.data))
        if verdict == FAULT_ERROR:
            # The error frame starts after the ACK delimiter, at the nominal rate.
            nominal += ERROR_FRAME_BITS + IFS_BITS - EOF_IFS_BITS
        elif verdict == FAULT_DUPLICATE:
            # The error flag starts after the last EOF bit; the IFS follows it.
            nominal += ERROR_FRAME_BITS
        ns = bits_time_ns(self.bitrate, self.data_bitrate, nominal, data_bits)
        end = t + _ceil_div(ns, _NS_PER_US)
        self.current = frame
        if verdict == FAULT_BUS_OFF:
            port = frame._port
            port.set_bus_off()              # the frame on the wire is aborted
            if frame.off_us > 0:
                port._off_end = k.call_later(frame.off_us, port._recover_later)
        self.busy_until = end
        self.bits += nominal + data_bits
        self.busy_us += end - t
        k.call_at(end, self._end_slot, frame)

    def _end_slot(self, now, frame):
        self.current = None
        port = frame._port
        t = self.kernel.elapsed_us
        if frame._verdict == _ABORTED:
            # Forced bus-off while on the wire: the frame is aborted.
            self._record(now, frame, CANF_ERROR)
            port._queue.remove(frame)
            port._confirm(now, frame, L_BUS_OFF)
        elif frame._verdict == FAULT_ERROR:
            self.errors += 1
            self._record(now, frame, CANF_ERROR)
            port.tec += _TEC_ERROR
            if port.tec > _TEC_MAX:
                port._enter_bus_off(now)
        elif frame._verdict == FAULT_DUPLICATE:
            self.errors += 1
            self.duplicates += 1
            self._record(now, frame, CANF_DUPLICATE)
            self._schedule(now, frame)
            port.tec += _TEC_ERROR
            if port.tec > _TEC_MAX:
                port._enter_bus_off(now)
        else:
            dropped = frame._verdict == FAULT_DROP
            self.frames += 1
            if dropped:
                self.dropped += 1
            self._record(now, frame, CANF_DROPPED if dropped else 0)
            if port.tec > 0:
                port.tec -= 1
            port._queue.remove(frame)
            port._confirm(now, frame, L_OK)
            if not dropped:
                if frame.delay_us == 0 and not self._late:
                    self._deliver(now, frame)
                else:
                    self._schedule(now, frame)
        if not port.bus_off and port.tec >= _TEC_PASSIVE:
            port._hold_until = t + _ceil_div(_SUSPEND_BITS * _US_PER_S, self.bitrate)
        self._kick()

    def _schedule(self, now, frame):
        # Deliver now, or later: after frame.delay_us, and never before a
        # frame of the same arbitration field that is still held back.
        late = self._late
        d = frame.delay_us
        key = frame._key
        prev = late.get(key)
        if d == 0 and prev is None:
            self._deliver(now, frame)
            return
        t = self.kernel.elapsed_us + d
        if prev is None:
            late[key] = [t, 1]
        else:
            if prev[0] > t:
                t = prev[0]             # same id: keep the order it was sent in
            prev[0] = t
            prev[1] += 1
        self.delayed += 1
        # A copy: the sender may retransmit (and the hook change) the frame
        # while this delivery waits.
        copy = SimFrame(frame._port, frame.can_id, frame.extended, frame.fd, frame.brs,
                        frame.data)
        copy.t_start_us = frame.t_start_us
        copy.attempts = frame.attempts
        self.kernel.call_at(t, self._deliver_late, copy)

    def _deliver_late(self, now, frame):
        e = self._late[frame._key]
        e[1] -= 1
        if e[1] == 0:
            del self._late[frame._key]
        self._deliver(now, frame)

    def _deliver(self, now, frame):
        sender = frame._port
        for p in self._ports:
            if p is not sender and not p.bus_off and p.on_rx is not None:
                p.on_rx(now, frame)

    def _record(self, now, frame, extra):
        rec = self.recorder
        if rec is not None:
            rec.record(self.kernel.elapsed_us, now, self.name, REC_CAN, frame.sender,
                       frame.can_id, frame.data, frame._flags | extra)
