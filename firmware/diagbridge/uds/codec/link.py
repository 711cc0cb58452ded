# Layouts of LinkControl 0x87 (§10.10, uds-digest §10.9).  Pure functions
# shared by the client and the server role.
#
#   87 01 linkControlModeIdentifier(1)   verifyModeTransitionWithFixedParameter
#   87 02 linkRecord(3)                  verifyModeTransitionWithSpecificParameter
#   87 03                                transitionMode (functional: 87 83)
#   C7 SF                                positive response
# linkControlModeIdentifier values are Table B.3 (missing from the source)
# [K]; linkRecord is the baud rate in bit/s, big-endian (150 kBit/s = 02 49 F0).
from diagbridge._compat import const
from diagbridge.uds.codec.ints import put_uint, get_uint
from diagbridge.uds.sid import SID_LC

VERIFY_FIXED = const(0x01)
VERIFY_SPECIFIC = const(0x02)
TRANSITION_MODE = const(0x03)

MODE_PROGRAMMING_SETUP = const(0x20)

_RSID = const(0xC7)

# (linkControlModeIdentifier, baud rate in bit/s; 0 = not a baud rate)
FIXED_MODES = (
    (0x01, 9600), (0x02, 19200), (0x03, 38400), (0x04, 57600), (0x05, 115200),
    (0x10, 125000), (0x11, 250000), (0x12, 500000), (0x13, 1000000),
    (MODE_PROGRAMMING_SETUP, 0),
)


def fixed_baud(mode):
    """The baud rate of a fixed linkControlModeIdentifier, 0 for a non-baud
    mode (ProgrammingSetup), -1 if not defined."""
    for m, b in FIXED_MODES:
        if m == mode:
            return b
    return -1


def build_link_control_request(out, sf, param=None, sprmib=False):
    """param: the mode identifier (01) or the baud rate (02)."""
    out[0] = SID_LC
    out[1] = sf | (0x80 if sprmib else 0)
    if sf == VERIFY_FIXED:
        out[2] = param
        return 3
    if sf == VERIFY_SPECIFIC:
        put_uint(out, 2, param, 3)
        return 5
    return 2


def link_record(data, pos):
    """The baud rate of a 3-byte linkRecord."""
    return get_uint(data, pos, 3)


def write_link_control_response(out, sf):
    out[0] = _RSID
    out[1] = sf & 0x7F
    return 2


def parse_link_control_response(data, n):
    """The echoed linkControlType, or -1."""
    if n != 2 or data[0] != _RSID:
        return -1
    return data[1]
