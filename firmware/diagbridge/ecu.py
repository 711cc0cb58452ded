# An ECU node: a CAN-TP channel plus a UdsServer, as one sans-I/O machine
# with the frame-level verbs of a CAN-TP Channel -- so every runner that
# carries frames for a Channel or a Mux (sim.cantp_node, the python-can
# engine, a board loop) carries an Ecu unchanged.
#
#   ecu = Ecu(profile, tp_cfg=None, cfg=None, nvm=None, address=None, ...)
#   ecu.feed_frame(now, can_id, data, n, flags=0) -> True if it was ours
#   ecu.on_timer(now) · ecu.confirm(now, ok, tag) · ecu.deadline()
#   n = ecu.pop_frame(out)   then tx_id / tx_flags / tx_tag of that frame
#   ev = ecu.poll()          EV_* below, or EV_NONE
#
# Flow: a complete request (physical or functional, ISO 15765-2 N_TAtype)
# goes to srv.feed_pdu() the moment CAN-TP indicates it; every PDU the
# server queues (responses, 7F xx 78, 7F xx 21, unsolicited) is sent
# physically, one at a time, in the server's order.  Responses are copied
# into a transmit buffer of the Ecu, because CAN-TP reads a message in place
# until its confirmation while the server may already be working again.
#
# ECUReset (ISO 14229-1 §10.3): the server accepts it and queues its
# positive response (or suppresses it).  The Ecu performs the reset once
# that response has left the bus (or at once when suppressed): the
# on_reset(ecu, now, kind) hook runs first (the application resets its own
# state, e.g. live values), then the channel and the server are reset; the
# ECU then stays off the bus for reset_ms (its boot time: frames are not
# received, nothing is sent) and queues EV_ECU_RESET.
#
# Events (poll): the server's EV_SESSION_CHANGED, EV_SECURITY,
# EV_COMM_CONTROL, EV_DTC_SETTING, EV_LINK_CONTROL (details on ecu.srv; the
# adapter changes the bit rate for LinkControl) pass through, plus
#   EV_ECU_RESET     a reset was performed; reset_kind says which (1 hard ..)
#   EV_TP_FAILED     a CAN-TP transfer failed; result = its N_* code
# The numbers never collide with CAN-TP's (0x11-0x15): a runner that polls
# an Ecu as if it were a Channel ignores them.
from diagbridge._compat import const
from diagbridge.clock import ticks_add, due, earliest
from diagbridge.codes import N_OK
from diagbridge.errors import ConfigError
from diagbridge.evq import EventQueue
from diagbridge.cantp.addr import (Address, ADDR_NORMAL_11, ADDR_NORMAL_29, ADDR_NORMAL_FIXED,
                                   ADDR_EXTENDED_11, ADDR_EXTENDED_29, ADDR_MIXED_11,
                                   ADDR_MIXED_29, TA_FUNCTIONAL)
from diagbridge.cantp.config import TpConfig
from diagbridge.cantp.channel import Channel
from diagbridge.cantp.events import EV_TX_DONE, EV_TX_FAILED, EV_RX_DONE, EV_RX_FAILED
from diagbridge.uds.server.profile import Profile
from diagbridge.uds.server.core import (UdsServer, EV_RESPONSE, EV_RESET, EV_SESSION_CHANGED,
                                   EV_SECURITY, EV_COMM_CONTROL, EV_DTC_SETTING,
                                   EV_LINK_CONTROL)

EV_ECU_RESET = const(0x31)
EV_TP_FAILED = const(0x32)

# the server's events that pass through (re-exported for the application)
__all__ = ("Ecu", "address_from_profile", "EV_ECU_RESET", "EV_TP_FAILED",
           "EV_SESSION_CHANGED", "EV_SECURITY", "EV_COMM_CONTROL", "EV_DTC_SETTING",
           "EV_LINK_CONTROL")

TESTER_ADDRESS = const(0xF1)    # extended addressing: N_TA of the responses

_ID11_MAX = const(0x7FF)


def address_from_profile(a, tester=TESTER_ADDRESS):
    """The ECU's CAN-TP Address from a profile's "addresses" section.

    normal: rx_id / tx_id (11-bit unless one of them is above 0x7FF) and an
    optional functional_id.  extended: the same ids, ext_addr is this ECU's
    own address (the first byte of frames it accepts) and `tester` the N_TA
    of its responses.  mixed: ext_addr is the address extension N_AE.
    normal_fixed: 29-bit ids 0x18DA<TA><SA>; the ECU's address is the TA of
    rx_id, the tester's its SA, the functional TA that of functional_id."""
    if isinstance(a, Profile):
        a = a.addresses
    fmt = a.get("format", "normal")
    if "rx_id" not in a or "tx_id" not in a:
        raise ConfigError("addresses.rx_id")
    rx = a["rx_id"]
    tx = a["tx_id"]
    func = a.get("functional_id")
    ea = a.get("ext_addr")
    wide = rx > _ID11_MAX or tx > _ID11_MAX or (func is not None and func > _ID11_MAX)
    if fmt == "normal":
        return Address(ADDR_NORMAL_29 if wide else ADDR_NORMAL_11, tx_id=tx, rx_id=rx,
                       func_rx_id=func)
    if fmt == "extended":
        if ea is None:
            raise ConfigError("addresses.ext_addr")
        return Address(ADDR_EXTENDED_29 if wide else ADDR_EXTENDED_11, tx_id=tx, rx_id=rx,
                       ta=tester, sa=ea, func_rx_id=func,
                       func_ta=None if func is None else ea)
    if fmt == "mixed":
        if ea is None:
            raise ConfigError("addresses.ext_addr")
        if wide:
            # 29-bit mixed: ids are derived like normal_fixed (PF 0xCE / 0xCD)
            return Address(ADDR_MIXED_29, ta=rx & 0xFF, sa=(rx >> 8) & 0xFF, ae=ea,
                           func_ta=None if func is None else (func >> 8) & 0xFF,
                           priority=(tx >> 26) & 7)
        return Address(ADDR_MIXED_11, tx_id=tx, rx_id=rx, ae=ea, func_rx_id=func)
    # normal_fixed: rx_id = prio | 0xDA | TA (us) | SA (tester)
    return Address(ADDR_NORMAL_FIXED, ta=rx & 0xFF, sa=(rx >> 8) & 0xFF,
                   func_ta=None if func is None else (func >> 8) & 0xFF,
                   priority=(tx >> 26) & 7)


class _Pending:
    """ecu.events.count: events waiting for poll() (as a Channel's events)."""

    def __init__(self, q):
        self._q = q

    @property
    def count(self):
        return len(self._q)


class Ecu:
    """A UDS server on a CAN-TP channel: one sans-I/O node.

    profile: a Profile (or a dict, validated here); tp_cfg: TpConfig of the
    channel (default: ISO values, the profile's "cantp" BS and STmin, receive
    buffer = the server's max_pdu);
    cfg: UdsServerConfig; nvm, specs, conditions, trace: for the UdsServer;
    urandom, sha256: the platform's entropy and hash for the SecurityAccess
    seeds (UdsServer; None: no entropy, the portable SHA-256);
    address: a cantp Address instead of the profile's "addresses";
    reset_ms: time the ECU is off the bus after an ECUReset;
    on_reset: fn(ecu, now, kind) called when the reset is performed;
    tp_trace: the channel's trace hook.

    Attributes: srv (the UdsServer), tp (the Channel), profile, reset_kind,
    result (after EV_TP_FAILED), events.count (events waiting for poll), and
    counters requests, sent, rx_failed, tx_failed, resets."""

    def __init__(self, profile, tp_cfg=None, cfg=None, nvm=None, specs=None, conditions=None,
                 address=None, reset_ms=0, on_reset=None, trace=None, tp_trace=None,
                 urandom=None, sha256=None):
        if isinstance(profile, dict):
            profile = Profile(profile)
        self.profile = profile
        self.srv = UdsServer(profile, cfg=cfg, nvm=nvm, specs=specs, conditions=conditions,
                             trace=trace, urandom=urandom, sha256=sha256)
        max_pdu = self.srv.cfg.max_pdu
        if tp_cfg is None:
            tp_cfg = TpConfig(max_pdu=max_pdu, block_size=profile.cantp["block_size"],
                              stmin_us=profile.cantp["stmin_us"])
        if address is None:
            address = address_from_profile(profile.addresses)
        if not isinstance(reset_ms, int) or isinstance(reset_ms, bool) \
                or not 0 <= reset_ms <= 200000:
            raise ConfigError("reset_ms")
        self.tp = Channel(tp_cfg, address, tp_trace)
        self.address = address
        self.on_reset = on_reset
        self._reset_us = reset_ms * 1000
        self._half = not tp_cfg.full_duplex
        self._tx = bytearray(max_pdu)
        self._tx_len = 0            # a PDU in _tx: waiting to start, or in transfer
        self._tx_active = False     # ... handed to the channel
        self._reset_due = False     # the server accepted an ECUReset
        self._off_until = None      # off the bus (booting) until this tick
        self._now = 0
        self._ev = EventQueue(16)
        self.events = _Pending(self._ev)
        self.reset_kind = 0
        self.result = N_OK
        self.requests = 0
        self.sent = 0
        self.rx_failed = 0
        self.tx_failed = 0
        self.resets = 0
        # details of the last pop_frame() (as a Channel has them)
        self.tx_id = address.tx_id
        self.tx_flags = 0
        self.tx_tag = 0

    @property
    def cfg(self):
        """The channel's TpConfig (adapters read its N_As / N_Ar)."""
        return self.tp.cfg

    @property
    def addr(self):
        return self.address

    def power_up(self, now):
        """Cold start of the server (otherwise done on the first input)."""
        self._now = now
        self.srv.power_up(now)

    def offline(self):
        """True while the ECU is booting after a reset."""
        return self._off_until is not None

    # ---- inputs (the frame-level verbs of a Channel) -----------------------------
    def feed_frame(self, now, can_id, data, n, flags=0):
        """One received CAN frame; False when it is not for this ECU."""
        self._now = now
        if self._off_until is not None:
            if not due(now, self._off_until):
                return False
            self._off_until = None
        if not self.tp.feed_frame(now, can_id, data, n, flags):
            return False
        self._service(now)
        return True

    def on_timer(self, now):
        self._now = now
        if self._off_until is not None:
            if not due(now, self._off_until):
                return
            self._off_until = None
        self.tp.on_timer(now)
        self.srv.on_timer(now)
        self._service(now)

    def confirm(self, now, ok, tag):
        """The controller sent (or gave up on) a frame popped from this ECU."""
        self._now = now
        self.tp.confirm(now, ok, tag)
        self._service(now)

    # ---- outputs ----------------------------------------------------------------
    def poll(self):
        return self._ev.pop()

    def pop_frame(self, out):
        """Next frame into out (>= 64 bytes); its CAN data length, 0 = none."""
        if self._off_until is not None:
            return 0
        tp = self.tp
        n = tp.pop_frame(out)
        if not n:
            self._service(self._now)        # tx_confirm=False: a PDU may have ended
            n = tp.pop_frame(out)
            if not n:
                return 0
        self.tx_id = tp.tx_id
        self.tx_flags = tp.tx_flags
        self.tx_tag = tp.tx_tag
        return n

    def deadline(self):
        if self._off_until is not None:
            return self._off_until
        return earliest(self.tp.deadline(), self.srv.deadline())

    # ---- the composition --------------------------------------------------------
    def _service(self, now):
        """Transport events -> server; server PDUs -> transport; reset."""
        tp = self.tp
        srv = self.srv
        while True:
            ev = tp.poll()
            while ev:
                if ev == EV_RX_DONE:
                    self.requests += 1
                    srv.feed_pdu(now, tp.payload, tp.length, tp.ta_type == TA_FUNCTIONAL)
                elif ev == EV_TX_DONE or ev == EV_TX_FAILED:
                    if ev == EV_TX_DONE:
                        self.sent += 1
                    else:
                        self.tx_failed += 1
                        self._failed(tp.result)
                    self._tx_active = False
                    self._tx_len = 0
                elif ev == EV_RX_FAILED:
                    self.rx_failed += 1
                    self._failed(tp.result)
                ev = tp.poll()
            ev = srv.poll()
            while ev:
                if ev == EV_RESET:
                    self._reset_due = True
                    self.reset_kind = srv.reset_kind
                elif ev != EV_RESPONSE:
                    self._ev.push(ev)
                ev = srv.poll()
            if self._tx_len == 0:
                self._tx_len = srv.pop_pdu(self._tx)
            if self._tx_len and not self._tx_active:
                # half duplex: a multi-frame PDU waits for a reception to end
                if self._half and tp.rx_busy() and self._tx_len > tp.sf_max():
                    return
                tp.request(now, self._tx, self._tx_len)
                self._tx_active = True
                continue                    # a frame may be due at once
            if self._reset_due and self._tx_len == 0:
                self._reset(now)
            return

    def _failed(self, result):
        self.result = result
        self._ev.push(EV_TP_FAILED)

    def _reset(self, now):
        self._reset_due = False
        kind = self.reset_kind
        if self.on_reset is not None:
            self.on_reset(self, now, kind)
        self.tp.reset()
        self.srv.reset(now, kind)
        self.resets += 1
        if self._reset_us:
            self._off_until = ticks_add(now, self._reset_us)
        self._ev.push(EV_ECU_RESET)
