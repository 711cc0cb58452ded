# Layouts of InputOutputControlByIdentifier 0x2F (§13.2, uds-digest §10.10).
# Pure functions shared by the client and the server role.
#
#   request   2F DID(2) IOCP(1) [controlState(n)] [controlEnableMask(m)]
#   response  6F DID(2) IOCP(1) [controlState(n)]
# controlState only with shortTermAdjustment (03) in the request; the
# response carries the DID's current state.  controlEnableMask is a VM
# option: when a DID uses it, every IOCP carries it (§13.2.1); bit 7 of mask
# byte 0 enables the first parameter (§13.2.5.3).  IOCP values are Table E.1
# (missing from the source) [K].
from diagbridge._compat import const
from diagbridge.uds.codec.ints import put_u16, get_u16
from diagbridge.uds.sid import SID_IOCBI

IOCP_RETURN_CONTROL_TO_ECU = const(0x00)
IOCP_RESET_TO_DEFAULT = const(0x01)
IOCP_FREEZE_CURRENT_STATE = const(0x02)
IOCP_SHORT_TERM_ADJUSTMENT = const(0x03)

_RSID = const(0x6F)


def mask_len(params):
    """Bytes of a controlEnableMask for `params` parameters (one bit each)."""
    return (params + 7) >> 3


def mask_bit(data, pos, i):
    """Parameter i enabled in the mask at data[pos]?"""
    return (data[pos + (i >> 3)] >> (7 - (i & 7))) & 1


def build_io_request(out, did, iocp, state=b"", mask=b""):
    out[0] = SID_IOCBI
    put_u16(out, 1, did)
    out[3] = iocp
    p = 4
    for i in range(len(state)):
        out[p + i] = state[i]
    p += len(state)
    for i in range(len(mask)):
        out[p + i] = mask[i]
    return p + len(mask)


def write_io_response(out, did, iocp):
    """Response header; the server writes controlState at out[4:]."""
    out[0] = _RSID
    put_u16(out, 1, did)
    out[3] = iocp
    return 4


def parse_io_response(data, n):
    """(did, iocp, controlState bytes) or None."""
    if n < 4 or data[0] != _RSID:
        return None
    return get_u16(data, 1), data[3], bytes(data[4:n])
