# The host-link protocol: THE one definition of message kinds, keys, roles
# and capabilities, imported by the gateway (diagbridge.link.session) and by
# the host library (diagbridge_host.link).  Change anything on the wire ->
# bump LINK_PROTOCOL_VERSION.
#
# Wire: a byte stream of COBS frames with a CRC-16 (diagbridge.link.cobs);
# each frame carries one msgpack message, always a 3-element array
#
#     [kind, ref, body]          kind: MSG_* (positive fixint)
#                                ref:  request id, event sequence number or 0
#                                body: a map with K_* integer keys (or nil)
#
# Keys are small ints so a message stays compact and a receiver ignores keys
# it does not know: adding an optional key does not need a new version.
# HELLO, HELLO_ACK and ERROR keep this layout and K_VERSION in every future
# version, so a version mismatch is always recognised and reported.
#
# kind            dir  ref       body keys                                     credits
# --------------- ---  --------  -------------------------------------------   -------------
# HELLO      0x01 h>g  0         VERSION ROLE NONCE(16) CREDITS NAME MAX_FRAME   -
#                                HEARTBEAT_MS
# HELLO_ACK  0x02 g>h  0         VERSION NAME BUSES ROLES MAX_FRAME              -
#                                HEARTBEAT_MS TIMEOUT_MS AUTH(bool)
# CHALLENGE  0x03 g>h  0         NONCE(16) ROLE                                  -
# AUTH       0x04 h>g  0         MAC(32)                                         -
# AUTH_OK    0x05 g>h  0         ROLE CREDITS [MAC(32): the gateway's proof]     -
# HEARTBEAT  0x06 both 0         [TS_US: gateway ticks]                          -
# CREDIT     0x07 both 0         CREDITS (added to the grant)                    -
# ERROR      0x08 g>h  req id|0  CODE (codes.LINK_*) TEXT                        returns 1 if ref is a request
# RESPONSE   0x09 g>h  req id    RESULT (codes.*) [DATA] [...]                   returns 1 request credit
# BYE        0x0A both 0         [CODE]                                          -
# REQ_*  0x20-0x3F h>g req id    per kind (REQ_UDS: BUS CHANNEL DATA ...)        costs 1 request credit
# EV_*   0x40-0x4F g>h seq       per kind, see below                             costs 1 event credit
#
# Events carry `seq`, a 16-bit counter of event messages sent (always encoded
# as uint16 0xCD): a gap on the host means frames lost on the wire.  Events
# the gateway had to drop (queue full) are counted per kind and reported,
# exactly, by an EV_DROPPED {COUNTS: {kind: n}} at the place of the gap.
#
#   EV_CAN_RX     BUS TS_US ID FLAGS DATA          EV_PROGRESS  REF DONE TOTAL
#   EV_KLINE_RX   BUS TS_US DATA                   EV_STATE     WHAT STATE [REF]
#   EV_KLINE_MSG  BUS TS_US DATA                   EV_ERROR     CODE TEXT [REF]
#   EV_DROPPED    COUNTS                           EV_UDS       REF BUS RESULT DATA
#
# Handshake: HELLO -> HELLO_ACK -> (CHALLENGE -> AUTH ->) AUTH_OK.  The host
# proves it knows a pre-shared key without sending it:
#   AUTH.MAC    = HMAC-SHA256(key, gw_nonce || "DBLINK" || "H" || version(2) || role || host_nonce)
#   AUTH_OK.MAC = the same with "G": the gateway's proof to the host.
# Credits: HELLO.CREDITS = events the host can take; AUTH_OK.CREDITS =
# requests the gateway can hold.  Each REQ costs one; its RESPONSE (or ERROR
# with its id) returns it.  Each EV costs one; the host returns them with CREDIT.
from diagbridge._compat import const

LINK_PROTOCOL_VERSION = const(1)

NONCE_LEN = const(16)
MAC_LEN = const(32)

# ---- message kinds ----------------------------------------------------------
MSG_HELLO = const(0x01)
MSG_HELLO_ACK = const(0x02)
MSG_CHALLENGE = const(0x03)
MSG_AUTH = const(0x04)
MSG_AUTH_OK = const(0x05)
MSG_HEARTBEAT = const(0x06)
MSG_CREDIT = const(0x07)
MSG_ERROR = const(0x08)
MSG_RESPONSE = const(0x09)
MSG_BYE = const(0x0A)

MSG_REQ_FIRST = const(0x20)
MSG_REQ_STATUS = const(0x20)        # gateway status and counters
MSG_REQ_CAN_LISTEN = const(0x21)    # receive filters, start/stop EV_CAN_RX
MSG_REQ_CAN_SEND = const(0x22)      # raw CAN transmit
MSG_REQ_UDS = const(0x23)           # one UDS request through a CAN-TP channel
MSG_REQ_KWP = const(0x24)           # one KWP2000 request (CAN or K-Line)
MSG_REQ_KEEPALIVE = const(0x25)     # start/stop TesterPresent on a channel
MSG_REQ_CHANNEL = const(0x26)       # open/close a diagnostic channel (addressing, timing)
MSG_REQ_KLINE_INIT = const(0x27)    # K-Line fast or 5-baud init
MSG_REQ_KLINE_SEND = const(0x28)    # raw K-Line bytes
MSG_REQ_FLASH = const(0x29)         # a whole programming job, with EV_PROGRESS
MSG_REQ_ECU_SIM = const(0x2A)       # start/stop a simulated ECU profile on a bus
MSG_REQ_ROUTE = const(0x2B)         # gateway routing table (network to network)
MSG_REQ_LAST = const(0x3F)

MSG_EV_FIRST = const(0x40)
MSG_EV_CAN_RX = const(0x40)
MSG_EV_KLINE_RX = const(0x41)
MSG_EV_KLINE_MSG = const(0x42)
MSG_EV_PROGRESS = const(0x43)
MSG_EV_STATE = const(0x44)
MSG_EV_ERROR = const(0x45)
MSG_EV_DROPPED = const(0x46)
MSG_EV_UDS = const(0x47)            # extra answers to a request (functional addressing)
MSG_EV_LAST = const(0x4F)
N_EV_KINDS = const(16)              # MSG_EV_FIRST .. MSG_EV_LAST: per-kind drop counters

# ---- keys -------------------------------------------------------------------
K_VERSION = const(0)
K_ROLE = const(1)
K_NONCE = const(2)
K_MAC = const(3)
K_CREDITS = const(4)
K_MAX_FRAME = const(5)
K_NAME = const(6)           # str: board name (HELLO_ACK) or host name (HELLO)
K_BUSES = const(7)          # [[bus, BUS_*, bitrate, data_bitrate], ...]
K_ROLES = const(8)          # [role, ...] the gateway can grant
K_CODE = const(9)
K_TEXT = const(10)
K_TS_US = const(11)         # gateway ticks (us, wrapping at 2**29, diagbridge.clock)
K_BUS = const(12)
K_ID = const(13)            # CAN identifier
K_FLAGS = const(14)         # CAN_* flags
K_DATA = const(15)          # bin
K_RESULT = const(16)        # a result code (diagbridge.codes)
K_DONE = const(17)
K_TOTAL = const(18)
K_COUNTS = const(19)        # {event kind: dropped count}
K_STATE = const(20)
K_WHAT = const(21)
K_REF = const(22)           # the request id an event belongs to
K_AUTH = const(23)          # bool: a CHALLENGE follows
K_HEARTBEAT_MS = const(24)
K_TIMEOUT_MS = const(25)
K_CHANNEL = const(26)
K_TX_ID = const(27)
K_RX_ID = const(28)
K_ADDRESSING = const(29)
K_TIMEOUT = const(30)       # per-request timeout override, ms

# ---- roles (ordered: a higher role may do everything a lower one may) -------
ROLE_NONE = const(0)        # not authenticated: HELLO and AUTH only
ROLE_MONITOR = const(1)     # read and listen
ROLE_DIAGNOSTIC = const(2)  # diagnostic requests that change nothing in the vehicle
ROLE_FULL = const(3)        # writes, security access, routines, programming, raw transmit
ROLE_NEVER = const(4)       # required_role() of an unknown kind: nobody may

# ---- capabilities -----------------------------------------------------------
BUS_CAN = const(1)
BUS_CAN_FD = const(2)
BUS_KLINE = const(3)

CAN_EXT = const(0x01)       # 29-bit identifier
CAN_FD = const(0x02)
CAN_BRS = const(0x04)
CAN_RTR = const(0x08)
CAN_ECHO = const(0x10)      # our own transmission, confirmed

# ---- who may do what --------------------------------------------------------
_ROLE_PER_SID = const(0xFF)
# Indexed by kind - MSG_REQ_FIRST.
_REQ_ROLE = (b"\x01"     # REQ_STATUS
             b"\x01"     # REQ_CAN_LISTEN
             b"\x03"     # REQ_CAN_SEND
             b"\xff"     # REQ_UDS: by service
             b"\xff"     # REQ_KWP: by service
             b"\x02"     # REQ_KEEPALIVE
             b"\x02"     # REQ_CHANNEL
             b"\x02"     # REQ_KLINE_INIT
             b"\x03"     # REQ_KLINE_SEND
             b"\x03"     # REQ_FLASH
             b"\x03"     # REQ_ECU_SIM
             b"\x03")    # REQ_ROUTE
# Services that only read (ISO 14229-1 UDS, ISO 14230-3 KWP2000); every other
# service, known or not, needs ROLE_FULL.  0x10 (session control) is read-only
# for the sessions listed below it.
_UDS_READ = b"\x10\x19\x22\x23\x24\x2a\x3e"
_UDS_READ_SESSIONS = b"\x01\x03"                 # default, extended
_KWP_READ = b"\x10\x12\x13\x17\x18\x1a\x20\x21\x22\x23\x33\x3a\x3e\x81\x82"
_KWP_FULL_SESSIONS = b"\x85\x86\x87"             # programming, development, adjustment
_SID_SESSION = const(0x10)


def is_request(kind):
    return MSG_REQ_FIRST <= kind <= MSG_REQ_LAST


def is_event(kind):
    return MSG_EV_FIRST <= kind <= MSG_EV_LAST


def is_known_request(kind):
    return MSG_REQ_FIRST <= kind < MSG_REQ_FIRST + len(_REQ_ROLE)


def _has(table, b):
    for x in table:
        if x == b:
            return True
    return False


def required_role(kind, sid=-1, sub=-1):
    """The lowest role allowed to send message `kind`.  For REQ_UDS and
    REQ_KWP pass the service id (first PDU byte) and the sub-function byte
    (second, or -1); a missing sid means ROLE_FULL.  Allocation-free."""
    if kind < MSG_REQ_FIRST:
        return ROLE_NONE                    # control: the session table decides
    if not is_known_request(kind):
        return ROLE_NEVER
    r = _REQ_ROLE[kind - MSG_REQ_FIRST]
    if r != _ROLE_PER_SID:
        return r
    if sid < 0:
        return ROLE_FULL
    s = sub & 0x7F if sub >= 0 else -1      # bit 7: suppressPosRspMsgIndicationBit
    if kind == MSG_REQ_UDS:
        if not _has(_UDS_READ, sid):
            return ROLE_FULL
        if sid == _SID_SESSION and not _has(_UDS_READ_SESSIONS, s):
            return ROLE_FULL
        return ROLE_DIAGNOSTIC
    if not _has(_KWP_READ, sid):
        return ROLE_FULL
    if sid == _SID_SESSION and (s < 0 or _has(_KWP_FULL_SESSIONS, sub)):
        return ROLE_FULL
    return ROLE_DIAGNOSTIC
