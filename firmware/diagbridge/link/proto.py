# The host-link protocol: THE one definition of message kinds, keys, roles
# and capabilities, imported by the gateway (diagbridge.link.session) and by
# the host library (diagbridge_host.link).  Change anything on the wire ->
# bump LINK_PROTOCOL_VERSION.
#
# Wire: a byte stream of COBS frames with a CRC-16 (diagbridge.link.cobs);
# each frame carries one msgpack message, always a 3-element array, and after
# a keyed login a 16-byte session MAC (TAG_LEN) behind it (see "Frame MAC")
#
#     [kind, ref, body]          kind: MSG_* (positive fixint)
#                                ref:  request id, event sequence number or 0
#                                body: a map with K_* integer keys (or nil)
#
# A body's top-level keys are ints 0..255, each at most once; maps at any
# depth hold no key twice (nor two keys equal once decoded, e.g. 15 and
# 15.0).  Anything else is LINK_MALFORMED before the role is judged: the
# role policy and the handler must read one and the same value.
#
# Keys are small ints so a message stays compact and a receiver ignores keys
# it does not know: adding an optional key does not need a new version.
# HELLO, HELLO_ACK and ERROR keep this layout and K_VERSION in every future
# version, so a version mismatch is always recognised and reported.
#
# kind            dir  ref       body keys                                     credits
# --------------- ---  --------  -------------------------------------------   -------------
# HELLO      0x01 h>g  0         VERSION ROLE NONCE(16) CREDITS NAME MAX_FRAME   -
#                                HEARTBEAT_MS [MAX_MESSAGE] [KEYED(bool)]
# HELLO_ACK  0x02 g>h  0         VERSION NAME BUSES ROLES MAX_FRAME              -
#                                HEARTBEAT_MS TIMEOUT_MS AUTH(bool) MAX_MESSAGE
# CHALLENGE  0x03 g>h  0         NONCE(16) ROLE                                  -
# AUTH       0x04 h>g  0         MAC(32)                                         -
# AUTH_OK    0x05 g>h  0         ROLE CREDITS [MAC(32): the gateway's proof]     -
# HEARTBEAT  0x06 both 0         [TS_US: gateway ticks]                          -
# CREDIT     0x07 both 0         CREDITS (added to the grant)                    -
# ERROR      0x08 g>h  req id|0  CODE (codes.LINK_*) TEXT                        returns 1 if ref is a request
# RESPONSE   0x09 g>h  req id    RESULT (codes.*) [DATA] [...]                   returns 1 request credit
# BYE        0x0A both 0         [CODE]                                          -
# FRAGMENT   0x0B both 0         OFFSET TOTAL DATA: a piece of a longer message  -
# REQ_*  0x20-0x3F h>g req id    per kind: see the body table below             costs 1 request credit
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
# TS_US (heartbeats, EV_CAN_RX, EV_KLINE_*) is the gateway's clock: integer
# microseconds wrapping at TS_US_PERIOD = 2**29 (about 537 s; it is
# diagbridge.clock.TICKS_PERIOD), so a receiver takes differences modulo
# TS_US_PERIOD and needs a tick at least every TS_US_PERIOD / 2 (~268 s).
#
# ---- request, response and event bodies (the gateway, diagbridge.gateway) --
# Every body is a map with K_* keys; [KEY] is optional; "ok" is K_RESULT = OK.
# A caller mistake (unknown channel/ecu/route/job id, an id already in use,
# a bad or missing key, a bad config value: TEXT names the field, no free
# slot, a busy channel) is answered with ERROR {CODE, TEXT} to the request id,
# never with RESPONSE: CODE LINK_MALFORMED (body/keys/values: TEXT "bad field:
# " + the field, e.g. "tp.block_size"), LINK_UNEXPECTED (state: ids, busy, no
# free slot, out of memory) or LINK_UNSUPPORTED (a transport, profile or
# operation this gateway does not have).  Every request gets exactly one
# answer, whatever its body: a body the gateway cannot decode is "bad field:
# body", and an exception no check foresaw is LINK_MALFORMED "bad request:
# ..." (counted in STATS "handler_faults").  An answer larger than the host's
# MAX_MESSAGE (many functional answers) is ERROR LINK_OVERSIZE; one larger
# than the frame size goes in fragments (below).  TEXT is short (<= 160 characters) and quotes at most a
# checked id or profile name.  What the vehicle did (NRC, timeouts, transport errors) is a
# RESPONSE whose RESULT is a codes.* value.
#
# Sessions: what a host creates (listeners, channels, keep-alives, routes,
# hosted ECUs, flash jobs) lasts as long as its session; when the session
# ends (BYE, the host silent for link_timeout_ms, a new HELLO) the gateway
# removes it all, so the next host starts empty.  Except a flash job already
# started: it runs to its end unattended (no more events, no RESPONSE; JOBS
# lists it meanwhile, OP_ABORT still stops it, a new endpoint on its address
# is refused LINK_UNEXPECTED), then its channel is released; STATS
# "jobs_unattended" / "jobs_unattended_failed" count such jobs.
#
# Endpoint spec ("EP"): where a diagnostic endpoint lives, used by
# REQ_CHANNEL, REQ_ECU_SIM and both sides of REQ_ROUTE.  Transport-agnostic
# by TRANSPORT; the K-Line transport will add its own keys (init, baud) next
# to BUS without changing the requests that carry an EP.
#   [TRANSPORT]   TRANSPORT_CANTP (default) | TRANSPORT_KLINE (not yet)
#   BUS           int
#   ADDRESSING    ADDRESSING_* (= diagbridge.cantp.addr ADDR_*)
#   TX_ID RX_ID   ids (NORMAL_*, EXTENDED_*, MIXED_11), as this endpoint's
#                 role sees them: a tester sends TX_ID 0x7E0, receives RX_ID
#                 0x7E8; an ECU endpoint sends 0x7E8 and receives 0x7E0
#   TA SA AE      NORMAL_FIXED / MIXED_29: target and source address (SA is
#                 this endpoint's own), EXTENDED: TA/SA bytes, MIXED: AE
#   [FUNC_TX_ID] [FUNC_RX_ID] [FUNC_TA] [PRIORITY]   functional address, 0..7
#   [TP]          {TpConfig field name (str): value}, e.g. {"stmin_us": 0,
#                 "block_size": 8, "n_cr_ms": 1000, "fd": True, "tx_dl": 64}
#
# kind            request body                    RESPONSE body (besides RESULT)
# --------------- ------------------------------  ---------------------------------------
# REQ_STATUS      {}                              UPTIME_MS  STATS {str: int}
#                                                 BUS_STATS [{str: int}, ..] (one per bus)
#                                                 COUNTS {event kind: dropped, since boot}
#                                                 CHANNELS [id..] ECUS [id..] ROUTES [id..]
#                                                 JOBS [id..]
#     STATS: "link_faults" "link_refused" "auth_failures" "ctl_dropped"
#            "events_discarded" "events_dropped" "requests" "uds_requests"
#            "routed" "route_pending" "handler_faults" "jobs_unattended"
#            "jobs_unattended_failed"
#     BUS_STATS: "bus" "rx_frames" "tx_frames" "tx_errors" "listened"
#                (EV_CAN_RX posted) "listen_dropped" (EV_CAN_RX dropped, exact)
# REQ_CAN_LISTEN  BUS ON [FILTERS [[id, mask],..]] ok.  ON true: EV_CAN_RX for every
#                 [ECHO bool]                     frame of BUS with (id & mask) ==
#                                                 (filter id & mask) for some filter
#                                                 (none: all frames); replaces the
#                                                 bus's filters.  ON false: stop.
#                                                 ECHO: our own transmissions too
#                                                 (FLAGS has CAN_ECHO)
# REQ_CAN_SEND    BUS ID [FLAGS CAN_EXT|CAN_FD|   ok once the frame left (the adapter's
#                 CAN_BRS] DATA (1..8 bytes;      confirmation, or when popped in the
#                 FD: also 12..64)                no-confirm mode); L_TX_ERROR if not
# REQ_CHANNEL     CHANNEL (id, host's choice)     ok: a tester endpoint on the bus
#                 ON [EP keys] [UDS {str: v}]     (ON false: close it; EP not needed)
#                 UDS: UdsClientConfig fields ("p2_client_ms", "p2star_client_ms",
#                 "max_pending", "keepalive_period_ms", ...); "keepalive_functional"
#                 needs a functional address.  TP "max_pdu": at most (and by
#                 default) the gateway's max_pdu
# REQ_UDS         CHANNEL DATA (the request PDU)  physical: RESULT (OK,
#                 [FUNCTIONAL bool] [TIMEOUT ms:  A_NEGATIVE_RESPONSE, A_TIMEOUT_P2,
#                 this request's P2, and P2*
#                 floor, physical only]
#                                                 A_PENDING_LIMIT, N_*...) [DATA the
#                                                 final response PDU, 7F too] [NRC]
#                                                 PENDING (0x78 seen).  No DATA when
#                                                 no response was expected (SPRMIB).
#                 functional (CHANNEL's FUNC_* address, one SF): the P2 window
#                 collects every answer on every open channel of that bus (the
#                 host opens one channel per candidate ECU, e.g. 0x7E0..0x7E7):
#                                                 ok  ANSWERS [[CHANNEL, RESULT,
#                                                 DATA], ..] (channels that answered,
#                                                 in channel order; RESULT as above)
#                 EV_UDS is not used: every answer is in the one RESPONSE.
# REQ_KEEPALIVE   CHANNEL ON [PERIOD_MS]          ok.  TesterPresent (3E 80, or 3E 00
#                 [SUPPRESS bool (True)]          with SUPPRESS false) whenever the
#                 [FUNCTIONAL bool: needs the     channel was quiet for PERIOD_MS
#                 channel's functional address]
#                                                 (default: the UDS config's, S3).
#                                                 A failed 3E 00: EV_STATE {WHAT_
#                                                 KEEPALIVE, STATE: result, REF: CHANNEL}
# REQ_FLASH       OP_BEGIN: JOB (id) CHANNEL      ok (the image buffer is reserved)
#                   TOTAL (image bytes)
#                   FLASH {FlashConfig field: v, "key_algorithm": "diagbridge1"|
#                   "twos_complement"|"xor", "secret": bin}   e.g. {"address":
#                   0x8000, "security_level": 3, "verify": 1}
#                   One job per channel; the images of all jobs together stay
#                   within the gateway's flash_max_bytes; "secret" is 1..255
#                   bytes (diagbridge1, xor).  "functional_prep" (default true:
#                   85 82 / 28 81 01 before, 28 80 01 / 85 81 after, to the
#                   functional address) needs the channel's functional address
#                   (FUNC_TX_ID or FUNC_TA): without one, OP_BEGIN is refused
#                   with LINK_MALFORMED "bad field: flash.functional_prep: flash
#                   with functional preparation needs a functional address on
#                   the channel ..."; with "functional_prep": false the job
#                   runs on the physical address alone.
#                 OP_DATA: JOB OFFSET DATA        ok (image bytes at OFFSET)
#                 OP_START: JOB                   held until the job ends: RESULT
#                   EV_PROGRESS {REF: this          (OK, A_NEGATIVE_RESPONSE, A_VERIFY_
#                   request's id, DONE, TOTAL}    FAILED, A_TIMEOUT_P2, N_*) [NRC]
#                   EV_STATE {WHAT_FLASH_STEP,    REPORT {"bytes" "blocks" "retries"
#                   STATE: FLASH_STEP_*, REF}     "elapsed_us" "rate_bps" "crc_image"
#                                                 "failed_step" "step_name"...}
#                 OP_ABORT: JOB                   ok (the job and its buffer are gone;
#                                                 a running START answers LINK_CLOSED)
# REQ_ECU_SIM     ECU (id) ON PROFILE (a name in  ok: a UDS server on the bus, ECU role
#                 diagbridge.uds.profiles, or a   (ON false: stop it).  Without
#                 profile dict) [EP keys]         ADDRESSING: the profile's addresses
# REQ_ROUTE       ROUTE (id) ON TESTER (EP: the   ok.  A request the tester sends to
#                 gateway as ECU, e.g. NORMAL_    TESTER goes out as a tester on
#                 FIXED TA 0xF1 SA 0x10 on bus 0) TARGET; the final answer goes back.
#                 TARGET (EP: the gateway as      The first 7F SID 78 to the tester
#                 tester, e.g. NORMAL_11 0x7E0/   PENDING_MS after the request (unless
#                 0x7E8 on bus 1) [UDS {..}]      answered), then every PERIOD_MS;
#                 [PENDING_MS (40)] [PERIOD_MS    a far side timeout: 7F SID 10 to the
#                 (2000)]                         tester and EV_STATE {WHAT_ROUTE,
#                                                 STATE: result, REF: ROUTE}
# REQ_KWP, REQ_KLINE_INIT, REQ_KLINE_SEND: not yet (ERROR LINK_UNSUPPORTED).
#
# Frame size and fragments (version 3).  MAX_FRAME is the largest frame a
# side receives (message bytes, tag, CRC and COBS excluded; at least
# MIN_FRAME), MAX_MESSAGE the largest message it reassembles.  From HELLO_ACK
# on, both directions use frames of at most min(host MAX_FRAME, gateway
# MAX_FRAME) (HELLO without MAX_FRAME or MAX_MESSAGE: the gateway's own).
# A longer message goes as consecutive FRAGMENT frames, each a message of
# its own (signed on its own after a keyed login):
#   [FRAGMENT, 0, {OFFSET: o, TOTAL: t, DATA: message[o:o+len]}]
# from OFFSET 0 up to TOTAL, nothing in between; the receiver handles the
# reassembled message as if it had come in one frame.  A host has at most
# one fragmented request unanswered (the gateway holds a long body where it
# reassembled it; another one meanwhile is ERROR LINK_NO_CREDIT).  The gateway's
# MAX_MESSAGE is sized from its largest UDS PDU (message_size(max_pdu)), so
# any PDU its CAN-TP side carries reaches the host; a gateway never sends a
# message longer than the host's MAX_MESSAGE (the request gets ERROR
# LINK_OVERSIZE instead) and a REQ_UDS whose largest possible answer the host
# could not take is refused LINK_OVERSIZE before it reaches the vehicle.
# Faults are the receiver's, named and never fatal to the session: a frame
# longer than MAX_FRAME, or fragments whose TOTAL exceeds MAX_MESSAGE, is
# LINK_OVERSIZE and, when it is a request whose id can be read from its
# head (after a keyed login: a head its tag vouches for; a frame too long
# for the receiver's buffer is noise to the MAC), answered ERROR
# LINK_OVERSIZE to that id, else to 0; a fragment out of order, a
# missing one, or another message in the middle is LINK_TRUNCATED (the
# message is dropped, a request answered ERROR LINK_TRUNCATED to its id); a
# fragment body that is not {OFFSET, TOTAL, DATA}, or a fragment inside a
# fragment, is LINK_MALFORMED.
#
# Handshake: HELLO -> HELLO_ACK -> (CHALLENGE -> AUTH ->) AUTH_OK.  The host
# proves it knows a pre-shared key without sending it:
#   AUTH.MAC    = HMAC-SHA256(key, gw_nonce || "DBLINK" || "H" || version(2) || role || host_nonce)
#   AUTH_OK.MAC = the same with "G": the gateway's proof to the host.
# A host that holds a key says so (HELLO KEYED true): the gateway then
# challenges whenever it has a key for the role asked for, even a role its
# open_role would grant without one, and such a host refuses an AUTH_OK that
# came without a CHALLENGE (whoever let it in never checked its key, so it
# cannot be told from an impostor, and the frames would carry no MAC).
# Credits: HELLO.CREDITS = events the host can take; AUTH_OK.CREDITS =
# requests the gateway can hold.  Each REQ costs one; its RESPONSE (or ERROR
# with its id) returns it.  Each EV costs one; the host returns them with CREDIT.
#
# Frame MAC (version 2; diagbridge.link.mac): after a keyed login every frame
# carries a tag, host -> gateway from the first frame after AUTH, gateway ->
# host from the first frame after AUTH_OK (HELLO .. AUTH_OK never do):
#   frame      = 00 | COBS(message | tag(16) | CRC-16) | 00
#   key_h/key_g = HMAC-SHA256(key, "DBLINK-KEY" || "H"/"G" || version(2) || role
#                             || gw_nonce || host_nonce)   (the sender's letter)
#   tag        = HMAC-SHA256(key_sender, "H"/"G" || seq(8, big-endian) || message)[:16]
# seq counts the frames one side has sent under the key, from 0; it is never
# sent (both ends count), so a replayed, reordered, dropped or injected frame
# fails the check.  A bad tag is LINK_BAD_MAC and ends the session at once.
# An open-role login (no key, no CHALLENGE) has no session key and no tags.
from diagbridge._compat import const
from diagbridge.can import FLAG_EXT, FLAG_FD, FLAG_BRS
from diagbridge.clock import TICKS_PERIOD as _TICKS_PERIOD

LINK_PROTOCOL_VERSION = const(3)      # 2: the frame MAC after a keyed login; 3: frame size
                                      # negotiated at HELLO, FRAGMENT, HELLO KEYED

# K_TS_US wraps at this many microseconds (2**29): the gateway's tick period
TS_US_PERIOD = _TICKS_PERIOD

NONCE_LEN = const(16)
MAC_LEN = const(32)
TAG_LEN = const(16)         # the frame MAC's truncated HMAC-SHA256 tag
MIN_FRAME = const(64)       # the smallest MAX_FRAME either side may announce
MAX_MAX_FRAME = const(65535)
# What a message adds around a UDS PDU at most: [kind, ref(uint32), {RESULT,
# PENDING, NRC, DATA: bin32 header}] and slack for an optional key or two.
MESSAGE_OVERHEAD = const(64)


def message_size(max_pdu):
    """The MAX_MESSAGE that carries any PDU of up to max_pdu bytes."""
    return max_pdu + MESSAGE_OVERHEAD

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
MSG_FRAGMENT = const(0x0B)      # a piece of a message longer than the frame size

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
MSG_REQ_BUS_LOCK = const(0x2C)      # exclusive transmit control of a bus (flashing)
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
K_TS_US = const(11)         # gateway ticks (us, wrapping at TS_US_PERIOD = 2**29)
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
# gateway request bodies (see the table above)
K_ON = const(31)            # bool: start/open (True) or stop/close (False)
K_FILTERS = const(32)       # [[id, mask], ...]
K_ECHO = const(33)          # bool
K_TA = const(34)
K_SA = const(35)
K_AE = const(36)
K_FUNC_TX_ID = const(37)
K_FUNC_RX_ID = const(38)
K_FUNC_TA = const(39)
K_PRIORITY = const(40)
K_TP = const(41)            # {TpConfig field (str): value}
K_UDS = const(42)           # {UdsClientConfig field (str): value}
K_FUNCTIONAL = const(43)    # bool
K_ANSWERS = const(44)       # [[CHANNEL, RESULT, DATA], ...]
K_NRC = const(45)
K_PENDING = const(46)       # 0x78 answers seen
K_PERIOD_MS = const(47)
K_SUPPRESS = const(48)
K_OP = const(49)            # OP_*
K_JOB = const(50)
K_OFFSET = const(51)
K_FLASH = const(52)         # {FlashConfig field (str): value, "key_algorithm", "secret"}
K_REPORT = const(53)        # {str: int | str}
K_ECU = const(54)
K_PROFILE = const(55)       # str (module in diagbridge.uds.profiles) or a profile map
K_ROUTE = const(56)
K_TESTER = const(57)        # endpoint spec map
K_TARGET = const(58)        # endpoint spec map
K_TRANSPORT = const(59)     # TRANSPORT_*
K_UPTIME_MS = const(60)
K_STATS = const(61)         # {str: int}
K_BUS_STATS = const(62)     # [{str: int}, ...]
K_PENDING_MS = const(63)
K_CHANNELS = const(64)
K_ECUS = const(65)
K_ROUTES = const(66)
K_JOBS = const(67)
K_HOSTS = const(68)         # [{str: int | str}, ...] the connected hosts (REQ_STATUS)
K_MAX_MESSAGE = const(69)   # HELLO, HELLO_ACK: the largest message the sender reassembles
K_KEYED = const(70)         # HELLO: bool, the host holds a key (never take an open grant)

# REQ_FLASH operations
OP_BEGIN = const(1)
OP_DATA = const(2)
OP_START = const(3)
OP_ABORT = const(4)

# endpoint transports
TRANSPORT_CANTP = const(1)
TRANSPORT_KLINE = const(2)      # a later issue

# ADDRESSING values: the same numbers as diagbridge.cantp.addr ADDR_*
ADDRESSING_NORMAL_11 = const(0)
ADDRESSING_NORMAL_29 = const(1)
ADDRESSING_NORMAL_FIXED = const(2)
ADDRESSING_EXTENDED_11 = const(3)
ADDRESSING_EXTENDED_29 = const(4)
ADDRESSING_MIXED_11 = const(5)
ADDRESSING_MIXED_29 = const(6)

# EV_STATE WHAT values
WHAT_KEEPALIVE = const(1)       # STATE: the failed keep-alive's result, REF: CHANNEL
WHAT_ROUTE = const(2)           # STATE: a routed request's failure result, REF: ROUTE
WHAT_FLASH_STEP = const(3)      # STATE: FLASH_STEP_* index, REF: the OP_START request id
WHAT_ECU = const(4)             # STATE: 1 reset performed, REF: ECU
WHAT_BUS_LOCK = const(5)        # STATE: 1 locked / 0 released, REF: BUS, NAME: the holder

# flash steps (EV_STATE WHAT_FLASH_STEP, REPORT "failed_step"), as diagbridge.uds.client.flash ST_*
FLASH_STEP_NAMES = ("idle", "pre_session", "dtc_off", "cc_off", "session", "seed", "key",
                    "erase", "download", "transfer", "exit", "upload", "readback",
                    "upload_exit", "checksum", "check", "reset", "cc_on", "dtc_on", "done",
                    "failed")


def flash_step_name(step):
    return FLASH_STEP_NAMES[step] if 0 <= step < len(FLASH_STEP_NAMES) else "?"

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

# The frame-flag bits are the core's (diagbridge.can), part of this wire format.
CAN_EXT = FLAG_EXT          # 29-bit identifier
CAN_FD = FLAG_FD
CAN_BRS = FLAG_BRS
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
             b"\x03"     # REQ_ROUTE
             b"\x03")    # REQ_BUS_LOCK
# Services that only read (ISO 14229-1 UDS, ISO 14230-3 KWP2000); every other
# service, known or not, needs ROLE_FULL.  0x10 (session control) is read-only
# for the sessions listed below it.  The OBD-II read modes (ISO 15031-5: 01 02
# 03 06 07 09 0A) ride on REQ_UDS too; mode 04 (clear) needs ROLE_FULL.
_UDS_READ = b"\x01\x02\x03\x06\x07\x09\x0a\x10\x19\x22\x23\x24\x2a\x3e"
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
