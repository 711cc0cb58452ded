# Result codes and the shared event "none".
#
# A peer's fault or a timeout is never raised: the machine that saw it sets
# its `result` to one of these codes and queues an event.  Codes carry the
# names the standards give them.  Each layer owns a range so that one int
# identifies the layer and the condition:
#
#   0x00        OK (N_OK, A_OK ...)
#   0x01-0x1F   CAN-TP, ISO 15765-2 N_Result
#   0x20-0x3F   K-Line data link, ISO 14230-2
#   0x40-0x4F   CAN data link (controller confirmations)
#   0x50-0x6F   application: UDS / KWP client and server
#   0x70-0x7F   host link
from diagbridge._compat import const

EV_NONE = const(0)      # poll(): nothing pending

OK = const(0x00)

# ISO 15765-2 N_Result (N_OK is OK).
N_OK = const(0x00)
N_TIMEOUT_A = const(0x01)       # N_As / N_Ar: the CAN frame was not confirmed in time
N_TIMEOUT_BS = const(0x02)      # N_Bs: no flow control frame in time
N_TIMEOUT_CR = const(0x03)      # N_Cr: no consecutive frame in time
N_WRONG_SN = const(0x04)        # consecutive frame with an unexpected sequence number
N_INVALID_FS = const(0x05)      # flow control with an invalid flow status
N_UNEXP_PDU = const(0x06)       # a PDU that the current state does not expect
N_WFT_OVRN = const(0x07)        # more WAIT flow controls than N_WFTmax
N_BUFFER_OVFLW = const(0x08)    # the receiver reported overflow (FS = OVFLW)
N_ERROR = const(0x09)           # any other network-layer error

# CAN controller (data link) confirmations.
L_OK = const(0x00)
L_BUS_OFF = const(0x40)         # the controller is bus-off; the frame was not sent
L_TX_ERROR = const(0x41)        # transmission failed (error frames, no ACK)

# Application layer (ISO 14229-1 client timing and responses).
A_TIMEOUT_P2 = const(0x50)      # no response within P2_client (or P2*_client after 0x78)
A_NEGATIVE_RESPONSE = const(0x51)  # the server answered 0x7F; the NRC is in the event
A_UNEXPECTED_RESPONSE = const(0x52)  # a response that matches no outstanding request
A_PENDING_LIMIT = const(0x53)   # more 0x78 (responsePending) answers than the client allows
A_MALFORMED_RESPONSE = const(0x54)  # the response SID matches but the layout does not
A_VERIFY_FAILED = const(0x55)   # a flash image read back (or its checksum) does not match

# Host link (diagbridge.link): faults of the byte stream and of the peer.
LINK_BAD_CRC = const(0x70)      # a frame whose CRC-16 does not match
LINK_OVERSIZE = const(0x71)     # a frame longer than max_frame (discarded up to the next 0x00)
LINK_TRUNCATED = const(0x72)    # a frame cut short (incomplete COBS block, no room for the CRC)
LINK_MALFORMED = const(0x73)    # a frame whose msgpack message is not [kind, ref, body]
LINK_VERSION = const(0x74)      # the peers speak different LINK_PROTOCOL_VERSIONs
LINK_AUTH_FAILED = const(0x75)  # the HMAC answer to the challenge was wrong
LINK_REFUSED = const(0x76)      # not authenticated, or the role is too low for the request
LINK_NO_CREDIT = const(0x77)    # the peer sent more than the credits it was granted
LINK_UNSUPPORTED = const(0x78)  # a message kind (or value type) this side does not know
LINK_TIMEOUT = const(0x79)      # the peer was silent for link_timeout_ms
LINK_DROPPED = const(0x7A)      # a bounded queue was full: messages counted as dropped
LINK_UNEXPECTED = const(0x7B)   # a message the current state does not expect
LINK_BYE = const(0x7C)          # the peer closed the link
LINK_RESTARTED = const(0x7D)    # the peer started a new handshake on a live link
LINK_CLOSED = const(0x7E)       # this side closed the link
LINK_BAD_MAC = const(0x7F)      # a frame after login whose session MAC does not verify

_NAMES = (
    (OK, "OK"),
    (N_TIMEOUT_A, "N_TIMEOUT_A"),
    (N_TIMEOUT_BS, "N_TIMEOUT_BS"),
    (N_TIMEOUT_CR, "N_TIMEOUT_CR"),
    (N_WRONG_SN, "N_WRONG_SN"),
    (N_INVALID_FS, "N_INVALID_FS"),
    (N_UNEXP_PDU, "N_UNEXP_PDU"),
    (N_WFT_OVRN, "N_WFT_OVRN"),
    (N_BUFFER_OVFLW, "N_BUFFER_OVFLW"),
    (N_ERROR, "N_ERROR"),
    (L_BUS_OFF, "L_BUS_OFF"),
    (L_TX_ERROR, "L_TX_ERROR"),
    (A_TIMEOUT_P2, "A_TIMEOUT_P2"),
    (A_NEGATIVE_RESPONSE, "A_NEGATIVE_RESPONSE"),
    (A_UNEXPECTED_RESPONSE, "A_UNEXPECTED_RESPONSE"),
    (A_PENDING_LIMIT, "A_PENDING_LIMIT"),
    (A_MALFORMED_RESPONSE, "A_MALFORMED_RESPONSE"),
    (A_VERIFY_FAILED, "A_VERIFY_FAILED"),
    (LINK_BAD_CRC, "LINK_BAD_CRC"),
    (LINK_OVERSIZE, "LINK_OVERSIZE"),
    (LINK_TRUNCATED, "LINK_TRUNCATED"),
    (LINK_MALFORMED, "LINK_MALFORMED"),
    (LINK_VERSION, "LINK_VERSION"),
    (LINK_AUTH_FAILED, "LINK_AUTH_FAILED"),
    (LINK_REFUSED, "LINK_REFUSED"),
    (LINK_NO_CREDIT, "LINK_NO_CREDIT"),
    (LINK_UNSUPPORTED, "LINK_UNSUPPORTED"),
    (LINK_TIMEOUT, "LINK_TIMEOUT"),
    (LINK_DROPPED, "LINK_DROPPED"),
    (LINK_UNEXPECTED, "LINK_UNEXPECTED"),
    (LINK_BYE, "LINK_BYE"),
    (LINK_RESTARTED, "LINK_RESTARTED"),
    (LINK_CLOSED, "LINK_CLOSED"),
    (LINK_BAD_MAC, "LINK_BAD_MAC"),
)

# ---- K-Line data link (SSF 14230-2 / ISO 14230-2), range 0x20-0x3F ----------
K_HEADER_ERROR = const(0x20)        # format byte HM0/HM1, length byte 0, a length form not allowed
K_CHECKSUM_ERROR = const(0x21)      # the 8-bit sum does not match
K_TIMEOUT_P1MAX = const(0x22)       # an ECU response cut short: inter-byte gap > P1max
K_TIMEOUT_P2MAX = const(0x23)       # no response in the P2 window (P2* after 0x78)
K_TIMEOUT_P3MAX = const(0x24)       # no request within P3max: communication ended
K_TIMEOUT_P4MAX = const(0x25)       # a tester request cut short: inter-byte gap > P4max
K_COLLISION = const(0x26)           # an echoed byte differs from the byte sent (or no echo)
K_FRAMING_ERROR = const(0x27)       # a byte received with a framing error or a break
K_UNEXPECTED_MESSAGE = const(0x28)  # well formed, but not what this state expects
K_KEY_BYTES_ERROR = const(0x29)     # key bytes with bad parity or an unsupported meaning
K_WUP_ERROR = const(0x2A)           # wake-up pattern outside TiniL / TWuP tolerance
K_TIMEOUT_W = const(0x2B)           # 5-baud init: a W1-W4 window ran out
K_SYNC_ERROR = const(0x2C)          # 5-baud init: sync not 0x55, or a wrong inverted byte
K_P3MIN_VIOLATION = const(0x2D)     # a request started before P3min (ignored)

_NAMES = _NAMES + (
    (K_HEADER_ERROR, "K_HEADER_ERROR"),
    (K_CHECKSUM_ERROR, "K_CHECKSUM_ERROR"),
    (K_TIMEOUT_P1MAX, "K_TIMEOUT_P1MAX"),
    (K_TIMEOUT_P2MAX, "K_TIMEOUT_P2MAX"),
    (K_TIMEOUT_P3MAX, "K_TIMEOUT_P3MAX"),
    (K_TIMEOUT_P4MAX, "K_TIMEOUT_P4MAX"),
    (K_COLLISION, "K_COLLISION"),
    (K_FRAMING_ERROR, "K_FRAMING_ERROR"),
    (K_UNEXPECTED_MESSAGE, "K_UNEXPECTED_MESSAGE"),
    (K_KEY_BYTES_ERROR, "K_KEY_BYTES_ERROR"),
    (K_WUP_ERROR, "K_WUP_ERROR"),
    (K_TIMEOUT_W, "K_TIMEOUT_W"),
    (K_SYNC_ERROR, "K_SYNC_ERROR"),
    (K_P3MIN_VIOLATION, "K_P3MIN_VIOLATION"),
)
# ---- end of the K-Line block ---------------------------------------------------


def code_name(code):
    """The standard's name of a result code (for traces and the host)."""
    for c, n in _NAMES:
        if c == code:
            return n
    return "CODE_0x%02X" % code
