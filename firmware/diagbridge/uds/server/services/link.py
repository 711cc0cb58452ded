# Server side of LinkControl 0x87 (§10.10, uds-digest §10.9): verify a mode
# transition (01 fixed linkControlModeIdentifier, 02 specific baud rate),
# then perform it (03).  The transition is applied after the response went
# out (or was suppressed, 87 83): srv.set_link() raises EV_LINK_CONTROL for
# the adapter with link_baud / link_mode (0 = a specific baud rate).  Only in
# non-default sessions (Table 23 [K]).
#
# Profile section (optional):
#   link: {"normal_baud": 500000, "fixed": [0x10, 0x11, 0x12, 0x13],
#          "specific": [baud, ...]}
# "fixed" lists the supported linkControlModeIdentifiers (Table B.3 [K]),
# "specific" the baud rates accepted in a linkRecord (none by default).
#
# Mode back to normal (EV_LINK_CONTROL, link_mode 0xFF, link_baud =
# normal_baud) on the return to the default session (DSC 01, S3 timeout)
# and on reset; further non-default transitions keep the mode (§10.10.1).
# A verification not yet used is dropped by every session transition (a
# VM choice: it was made under the old session's conditions).
#
# Check order (§8.7 then Fig 6 [K]): exact length per SF -> 13 (general);
# 03 without a verification -> 24; mode / baud not supported -> 31;
# conditions -> 22.
from diagbridge._compat import const
from diagbridge.errors import ConfigError
from diagbridge.uds.codec.link import (VERIFY_FIXED, VERIFY_SPECIFIC, TRANSITION_MODE, fixed_baud,
                                       link_record, write_link_control_response)
from diagbridge.uds.server.config import DEFAULT_SESSION
from diagbridge.uds.nrc import NRC_ROOR, NRC_RSE
from diagbridge.uds.server.service import ServiceSpec, SubFunction, NON_DEFAULT
from diagbridge.uds.sid import SID_LC

MODE_NORMAL = const(0xFF)       # link_mode of the return to the normal mode

# States
_S_IDLE = const(0)          # nothing verified (at the normal or a transitioned mode)
_S_VERIFIED = const(1)      # a transition was verified; 87 03 may follow
# Inputs
_I_VERIFY = const(0)        # 87 01 / 87 02 passed their checks
_I_TRANSITION = const(1)    # 87 03
_I_SESSION = const(2)       # any transition between non-default sessions
_I_DEFAULT = const(3)       # into the default session (DSC 01, S3) or reset
# Actions
_A_NONE = const(0)
_A_ARM = const(1)           # remember the verified mode
_A_SWITCH = const(2)        # apply it once the response is out
_A_RSE = const(3)           # 0x24: no verification
_A_NORMAL = const(4)        # back to the normal mode (if not there)

_NEXT = (
    # _S_IDLE
    ((_S_VERIFIED, _A_ARM), (_S_IDLE, _A_RSE), (_S_IDLE, _A_NONE), (_S_IDLE, _A_NORMAL)),
    # _S_VERIFIED
    ((_S_VERIFIED, _A_ARM), (_S_IDLE, _A_SWITCH), (_S_IDLE, _A_NONE), (_S_IDLE, _A_NORMAL)),
)


class LinkContext:
    def __init__(self, srv):
        raw = getattr(srv.profile, "raw", None) or {}
        c = raw.get("link") or {}
        if not isinstance(c, dict):
            raise ConfigError("link")
        nb = c.get("normal_baud", 500000)
        if not isinstance(nb, int) or not 0 < nb <= 0xFFFFFF:
            raise ConfigError("link.normal_baud")
        self.normal_baud = nb
        self.fixed = tuple(c.get("fixed", (0x10, 0x11, 0x12, 0x13)))
        for m in self.fixed:
            if not isinstance(m, int) or fixed_baud(m) < 0:
                raise ConfigError("link.fixed")
        self.specific = tuple(c.get("specific", ()))
        for b in self.specific:
            if not isinstance(b, int) or not 0 < b <= 0xFFFFFF:
                raise ConfigError("link.specific")
        self.state = _S_IDLE
        self.mode = MODE_NORMAL     # the mode in use
        self.baud = nb
        self._v_mode = 0            # the verified one
        self._v_baud = 0
        self._apply = False         # a switch waits for the response to go out

    def step(self, srv, inp):
        """Run one input; the NRC of _A_RSE, else 0."""
        self.state, action = _NEXT[self.state][inp]
        if action == _A_RSE:
            return NRC_RSE
        if action == _A_SWITCH:
            self.mode = self._v_mode
            self.baud = self._v_baud
            self._apply = True
            srv.unsolicited_ready()     # so the adapter calls pop_pdu after it
        elif action == _A_NORMAL and self.mode != MODE_NORMAL:
            self.mode = MODE_NORMAL
            self.baud = self.normal_baud
            self._apply = True
            srv.unsolicited_ready()
        return 0


def _handle(srv, now, req, n, functional):
    ctx = srv.uds_link
    sf = req[1] & 0x7F
    if sf == TRANSITION_MODE:
        if ctx.state != _S_VERIFIED:
            return -NRC_RSE
        mode = baud = 0
    elif sf == VERIFY_FIXED:
        mode = req[2]
        baud = fixed_baud(mode)
        if mode not in ctx.fixed:
            return -NRC_ROOR
    else:
        mode = 0
        baud = link_record(req, 2)
        if baud not in ctx.specific:
            return -NRC_ROOR
    nrc = srv.conditions_nrc(now, req, n)
    if nrc:
        return -nrc
    if sf == TRANSITION_MODE:
        ctx.step(srv, _I_TRANSITION)
    else:
        ctx._v_mode = mode
        ctx._v_baud = baud
        ctx.step(srv, _I_VERIFY)
    return write_link_control_response(srv.rsp, sf)


def _pop(srv, out):
    # called only once every queued response has been handed out: the
    # moment to switch the link (§10.10.1 step #2)
    ctx = srv.uds_link
    if ctx._apply:
        ctx._apply = False
        srv.set_link(ctx.mode, ctx.baud)
    return 0


def _on_session(srv, now, old, new):
    srv.uds_link.step(srv, _I_DEFAULT if new == DEFAULT_SESSION else _I_SESSION)


def _on_reset(srv, now, kind):
    ctx = srv.uds_link
    ctx.step(srv, _I_DEFAULT)
    _pop(srv, None)                 # nothing to wait for after a reset


def _build(srv):
    srv.uds_link = LinkContext(srv)


SPECS = (
    ServiceSpec(SID_LC, _handle, has_sf=True, min_len=2, sessions=NON_DEFAULT,
                sub_functions=(SubFunction(VERIFY_FIXED, exact_len=3),
                               SubFunction(VERIFY_SPECIFIC, exact_len=5),
                               SubFunction(TRANSITION_MODE, exact_len=2)),
                on_build=_build, on_session=_on_session, on_reset=_on_reset,
                pop_unsolicited=_pop),
)
