# Server side of InputOutputControlByIdentifier 0x2F (§13.2, uds-digest
# §10.10) over the profile's io_controls:
#   io_controls: {did: {"length": n, "sessions": [..], "levels": [..],
#                 "auth": False, "default": bytes, "mask": False,
#                 "min": 0, "max": 0xFF}}
# One parameter per controlState byte (a VM choice): with "mask" the request
# carries a controlEnableMask of one bit per byte, on every IOCP (§13.2.1);
# "min"/"max" bound each byte of a shortTermAdjustment (else 0x31).
#
# The controlled value replaces the ECU's downstream (§13.2.1): an IO DID's
# 0x22 record is built by the source "io_control" from the ECU value (the
# DID's static value or its live source) with the controlled bytes laid
# over it, so 0x22 shows the state while controlled.  An IO DID missing from
# profile.dids is added with the "default" as its ECU value.  Control goes
# back to the ECU on every transition into the default session (DSC 01 or
# S3 timeout) and on reset (§5.2); the service is not allowed in default
# (Table 23 [K]).
#
# Check order (Fig 29 is missing from the source; ISO 14229-1:2020 [K?]):
#   length >= 4 -> 13; DID controllable in the active session -> 31;
#   authentication -> 34; security -> 33; IOCP 00-03 -> 31; exact length
#   (IOCP, controlState, mask) -> 13; controlState out of min/max -> 31;
#   conditions -> 22.
from diagbridge.uds.codec.data import get_u16, put_uint
from diagbridge.uds.codec.io import (IOCP_RETURN_CONTROL_TO_ECU, IOCP_RESET_TO_DEFAULT,
                                     IOCP_FREEZE_CURRENT_STATE, IOCP_SHORT_TERM_ADJUSTMENT,
                                     mask_len, mask_bit, write_io_response)
from diagbridge.errors import ConfigError
from diagbridge.uds.server.config import session_ok, level_ok, auth_ok, DEFAULT_SESSION
from diagbridge.uds.nrc import NRC_IMLOIF, NRC_ROOR, NRC_AR, NRC_SAD
from diagbridge.uds.server.profile import Did
from diagbridge.uds.server.service import ServiceSpec, NON_DEFAULT
from diagbridge.uds.sid import SID_IOCBI

SOURCE = "io_control"


class IoItem:
    """One controllable DID; ctl[i] = 1 while byte i is under tester control."""

    def __init__(self, did, e, d, path):
        self.did = did
        self.length = e["length"]
        if d.length != self.length:
            raise ConfigError(path + ".length")     # must match the DID's record
        self.sessions = e["sessions"]
        self.levels = e["levels"]
        self.auth = e.get("auth", False)
        self.default = e["default"]
        self.mask_len = mask_len(self.length) if e.get("mask", False) else 0
        self.lo = e.get("min", 0)
        self.hi = e.get("max", 0xFF)
        if not (isinstance(self.lo, int) and isinstance(self.hi, int)
                and 0 <= self.lo <= self.hi <= 0xFF):
            raise ConfigError(path + ".max")
        self.ecu_source = d.source      # what the ECU drives when not controlled
        self.did_obj = d
        self.ctl = bytearray(self.length)
        self.buf = bytearray(self.length)       # the controlled values
        self.view = bytearray(self.length)      # what 0x22 reads
        self.controlled = False

    def release(self):
        for i in range(self.length):
            self.ctl[i] = 0
        self.controlled = False


def _ecu_value(srv, it):
    """The ECU's own value of the DID into it.view."""
    out = it.view
    src = it.ecu_source
    if src is not None:
        fn = srv.profile.sources.get(src)
        if fn is not None:
            v = fn(srv, it.did)
            if isinstance(v, int):
                put_uint(out, 0, v, it.length)
                return
            if v is not None:
                m = len(v)
                for i in range(it.length):
                    out[i] = v[i] if i < m else 0
                return
    val = it.did_obj.value
    for i in range(it.length):
        out[i] = val[i]


def _source(srv, did):
    # the "io_control" live source of every IO DID: ECU value + control
    it = srv.uds_io[did]
    _ecu_value(srv, it)
    if it.controlled:
        v = it.view
        for i in range(it.length):
            if it.ctl[i]:
                v[i] = it.buf[i]
    return it.view


def _build(srv):
    p = srv.profile
    items = {}
    for did in p.io_controls:
        e = p.io_controls[did]
        path = "io_controls.0x%04X" % did
        d = p.dids.get(did)
        if d is None:
            d = Did(did, {"length": e["length"], "value": e["default"]}, path)
            p.dids[did] = d
        items[did] = IoItem(did, e, d, path)
        d.source = SOURCE
    srv.uds_io = items
    srv.uds_io_list = [items[k] for k in items]     # index loops: no iterator
    p.sources[SOURCE] = _source


def _handle(srv, now, req, n, functional):
    if n < 4:
        return -NRC_IMLOIF
    did = get_u16(req, 1)
    it = srv.uds_io.get(did)
    if it is None or not session_ok(it.sessions, srv.session):
        return -NRC_ROOR
    if not auth_ok(it.auth, srv.auth_role):
        return -NRC_AR
    if not level_ok(it.levels, srv.level):
        return -NRC_SAD
    iocp = req[3]
    if iocp > IOCP_SHORT_TERM_ADJUSTMENT:
        return -NRC_ROOR
    k = it.length if iocp == IOCP_SHORT_TERM_ADJUSTMENT else 0
    if n != 4 + k + it.mask_len:
        return -NRC_IMLOIF
    mpos = 4 + k
    if k:
        for i in range(k):
            on = mask_bit(req, mpos, i) if it.mask_len else 1
            if on and not it.lo <= req[4 + i] <= it.hi:
                return -NRC_ROOR
    nrc = srv.conditions_nrc(now, req, n)
    if nrc:
        return -nrc
    if iocp == IOCP_FREEZE_CURRENT_STATE:
        _source(srv, did)           # the state as it is now, control included
    for i in range(it.length):
        if it.mask_len and not mask_bit(req, mpos, i):
            continue
        if iocp == IOCP_RETURN_CONTROL_TO_ECU:
            it.ctl[i] = 0
            continue
        if iocp == IOCP_RESET_TO_DEFAULT:
            it.buf[i] = it.default[i]
        elif iocp == IOCP_FREEZE_CURRENT_STATE:
            it.buf[i] = it.view[i]
        else:
            it.buf[i] = req[4 + i]
        it.ctl[i] = 1
    c = False
    for i in range(it.length):
        c = c or it.ctl[i] != 0
    it.controlled = c
    rsp = srv.rsp
    p = write_io_response(rsp, did, iocp)
    v = _source(srv, did)
    for i in range(it.length):
        rsp[p + i] = v[i]
    return p + it.length


def return_all(srv):
    """Every IO DID back to ECU control."""
    items = srv.uds_io_list
    for i in range(len(items)):
        items[i].release()


def _on_session(srv, now, old, new):
    if new == DEFAULT_SESSION:
        return_all(srv)


def _on_reset(srv, now, kind):
    return_all(srv)


SPECS = (
    ServiceSpec(SID_IOCBI, _handle, min_len=1, sessions=NON_DEFAULT, on_build=_build,
                on_session=_on_session, on_reset=_on_reset),
)
