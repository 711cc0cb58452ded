# What a host may put on a bus (the gateway's transmit policy): the CAN ids
# each role may transmit on, a floor on the periods of what repeats on its
# own (keep-alives, a route's response-pending cadence), and a transmit rate
# limit per host.
#
#   lim = TxLimits(cfg)                  cfg: GatewayConfig (fields below)
#   lim.check_address(role, addr, what)  a CAN-TP Address: its tx id and its
#                                        functional tx id (if any)
#   lim.check_id(role, can_id, ext, what)  one identifier (raw CAN transmit)
#   lim.check_period(name, period_ms)    a host-chosen period
#   lim.take(now)                        a raw frame: one token, or RateLimited
#   lim.charge(now)                      any other frame the host's things send
#   lim.tokens(now)                      whole frames the host may send at once
#
# Ids per role (GatewayConfig.diagnostic_tx_ids, full_tx_ids): a tuple of
# ranges (first, last, ext), ext True for 29-bit identifiers; an 11-bit id
# and the 29-bit id of the same number are different frames (0x7E0 vs
# 0x000007E0, the latter near the top priority), so a range names its format.
# The monitor role transmits nothing; the diagnostic role within
# diagnostic_tx_ids (default: the 11-bit diagnostic block 0x700-0x7FF and the
# ISO 15765-4 normal fixed 29-bit ids 0x18DA0000-0x18DBFFFF, physical and
# functional at priority 6); the full role within full_tx_ids, None (the
# default) for every id unless the board restricts it.  Checked wherever a
# host makes a frame go out: opening a channel (its tx id and functional tx
# id; its keep-alives and flash jobs use those), raw CAN transmit, both sides
# of a route, a hosted ECU's ids.  A refusal raises Refused (the request is
# answered ERROR LINK_REFUSED with the reason, counted in refused_id or
# refused_period) before anything is built: nothing reaches the bus.
#
# The rate limit is a token bucket in integer microseconds on the gateway's
# clock: tx_rate_fps tokens a second, at most tx_burst held.  Where it bites:
#   - raw CAN transmit (REQ_CAN_SEND) takes one token per frame; without one
#     the request is refused (ERROR LINK_NO_CREDIT, counted in refused_rate),
#     never silently dropped.  A host that waits 1 / tx_rate_fps s per frame
#     past its burst is never refused.
#   - every other frame the host's things send (CAN-TP frames of channels,
#     keep-alives, flash jobs, routes, hosted ECUs) takes a token when it
#     goes out but is never held back or refused: a CAN-TP transfer in
#     progress is paced by its peer's flow control (BS, STmin) and its own
#     timers, and breaking it halfway would be worse than the load it adds.
#     The bucket stops at empty (no debt), so after a long transfer the host
#     may send again as soon as one token has come back.
#   - opening a channel and UDS requests are not refused by the budget: a
#     channel sends nothing until asked, a UDS request is a message on a
#     channel whose ids were checked, at most one in flight per channel (as
#     many as the host's request credits in all), and a host-driven flash
#     (TransferData requests back to back, each ~150 frames) must not stall
#     between its blocks; their frames count, so the host's raw frames wait.
# Each host slot (hosts.py) has its own bucket, so one host's frames never
# spend another's budget; the bucket belongs to the slot, not to one
# session: a host that reconnects on the same link (a board's UART, the
# serial line) does not get a fresh burst.  A flash job whose host left (it
# runs unattended) belongs to no host and is not counted.
#
# Allocation-free unless something is refused: the checks walk tuples made at
# construction; the bucket arithmetic stays within small ints (tx_burst <=
# 1000 and tx_rate_fps <= 100000: every value below 2**30).
from diagbridge._compat import const
from diagbridge.clock import ticks_diff
from diagbridge.errors import ConfigError
from diagbridge.link import proto as P

_UNIT = const(1000000)          # one token, in fps x microseconds
_ID11_MAX = const(0x7FF)
_ID29_MAX = const(0x1FFFFFFF)

# The diagnostic role's default: 11-bit 0x700-0x7FF (OBD 0x7DF/0x7E0-0x7EF and
# the manufacturers' diagnostic ids) and 29-bit normal fixed addressing
# (0x18DA<TA><SA> physical, 0x18DB<TA><SA> functional, ISO 15765-2/-4).
DIAGNOSTIC_TX_IDS = ((0x700, 0x7FF, False), (0x18DA0000, 0x18DBFFFF, True))


class Refused(Exception):
    """The host's role may not make this frame go out (ERROR LINK_REFUSED)."""


class RateLimited(Exception):
    """The host's transmit budget is spent (ERROR LINK_NO_CREDIT)."""


def tx_ids(name, ranges):
    """A validated tuple of (first, last, ext) ranges, or None (any id).
    ConfigError(name) for anything else."""
    if ranges is None:
        return None
    if not isinstance(ranges, (tuple, list)):
        raise ConfigError(name)
    out = []
    for r in ranges:
        if not isinstance(r, (tuple, list)) or len(r) != 3:
            raise ConfigError(name)
        first, last, ext = r
        top = _ID29_MAX if ext else _ID11_MAX
        for v in (first, last):
            if not isinstance(v, int) or isinstance(v, bool) or not 0 <= v <= top:
                raise ConfigError(name)
        if first > last or not isinstance(ext, (bool, int)):
            raise ConfigError(name)
        out.append((first, last, bool(ext)))
    return tuple(out)


def _in(ranges, can_id, ext):
    for r in ranges:
        if r[2] == ext and r[0] <= can_id <= r[1]:
            return True
    return False


class TxLimits:
    """The transmit policy of one gateway (see the module comment).
    Counters: refused_id, refused_period, refused_rate."""

    def __init__(self, cfg):
        self._diag = cfg.diagnostic_tx_ids
        self._full = cfg.full_tx_ids
        self.keepalive_min_ms = cfg.keepalive_min_ms
        self._rate = cfg.tx_rate_fps
        self._cap = cfg.tx_burst * _UNIT
        self._fill_us = (self._cap + self._rate - 1) // self._rate
        self._level = self._cap
        self._at = None
        self.refused_id = 0
        self.refused_period = 0
        self.refused_rate = 0

    # ---- ids and periods ------------------------------------------------------------
    def allowed(self, role, can_id, ext):
        """May a host with `role` transmit on this identifier?"""
        if role >= P.ROLE_FULL:
            return self._full is None or _in(self._full, can_id, ext)
        if role == P.ROLE_DIAGNOSTIC:
            return _in(self._diag, can_id, ext)
        return False

    def check_id(self, role, can_id, ext, what):
        if not self.allowed(role, can_id, ext):
            self.refused_id += 1
            raise Refused(("%s: id 0x%08X (29-bit)" if ext else "%s: id 0x%03X (11-bit)")
                          % (what, can_id) + " is not allowed for the %s role on this gateway"
                          % role_name(role))

    def check_address(self, role, addr, what):
        ext = bool(addr.ext)
        self.check_id(role, addr.tx_id, ext, what + " tx_id")
        if addr.ftx_id >= 0:
            self.check_id(role, addr.ftx_id, ext, what + " func_tx_id")

    def check_period(self, name, period_ms):
        if period_ms < self.keepalive_min_ms:
            self.refused_period += 1
            raise Refused("%s: %d ms is below this gateway's floor of %d ms"
                          % (name, period_ms, self.keepalive_min_ms))

    # ---- the token bucket -------------------------------------------------------------
    def _refill(self, now):
        at = self._at
        self._at = now
        if at is None:
            return
        d = ticks_diff(now, at)
        if d < 0 or d >= self._fill_us:     # (< 0: idle for over half a tick period)
            self._level = self._cap
            return
        add = d * self._rate                # < cap + rate: a small int
        if add >= self._cap - self._level:
            self._level = self._cap
        else:
            self._level += add

    def tokens(self, now):
        self._refill(now)
        return self._level // _UNIT

    def take(self, now):
        """One raw frame: a token, or RateLimited (counted)."""
        self._refill(now)
        if self._level < _UNIT:
            self.refused_rate += 1
            raise RateLimited(self._text("raw CAN transmit"))
        self._level -= _UNIT

    def charge(self, now):
        """A frame of a channel, route or hosted ECU went out (never refused)."""
        self._refill(now)
        lv = self._level - _UNIT
        self._level = lv if lv > 0 else 0

    def _text(self, what):
        return ("%s: transmit rate limit (%d frames/s, burst %d) reached; try again later"
                % (what, self._rate, self._cap // _UNIT))


def role_name(role):
    if role >= P.ROLE_FULL:
        return "full"
    if role == P.ROLE_DIAGNOSTIC:
        return "diagnostic"
    if role == P.ROLE_MONITOR:
        return "monitor"
    return "unauthenticated"
