# Layouts of ReadDataByPeriodicIdentifier 0x2A (§11.5, uds-digest §10.6).
# Pure functions shared by the client and the server role.
#
#   request            2A transmissionMode(1) {periodicDataIdentifier(1)}
#                      (04 stopSending without PDIDs: stop all)
#   initial response   6A                      (only the SID, §11.5.1)
#   periodic message   PDID(1) dataRecord(n)   (no SID, §8.3 note)
# A PDID is the low byte of DID 0xF2xx (§11.5.1).  transmissionMode values
# are Table C.4 (missing from the source) [K].
from diagbridge._compat import const
from diagbridge.uds.sid import SID_RDBPI

TM_SEND_AT_SLOW_RATE = const(0x01)
TM_SEND_AT_MEDIUM_RATE = const(0x02)
TM_SEND_AT_FAST_RATE = const(0x03)
TM_STOP_SENDING = const(0x04)

_RSID = const(0x6A)


def pdid_did(pdid):
    """The DID behind a periodicDataIdentifier: 0xE3 -> 0xF2E3."""
    return 0xF200 | pdid


def build_rdbpi_request(out, mode, pdids=()):
    out[0] = SID_RDBPI
    out[1] = mode
    for i in range(len(pdids)):
        out[2 + i] = pdids[i]
    return 2 + len(pdids)


def write_rdbpi_response(out):
    out[0] = _RSID
    return 1


def parse_rdbpi_response(data, n):
    """True for the initial positive response `6A`."""
    return n == 1 and data[0] == _RSID


def parse_periodic_message(data, n):
    """(pdid, dataRecord bytes) of a periodic data message, or None."""
    if n < 1:
        return None
    return data[0], bytes(data[1:n])
