# Configuration of the gateway side of the host link (LinkSession).
from diagbridge.errors import ConfigError
from diagbridge.link.auth import MIN_KEY_LEN
from diagbridge.link.proto import (ROLE_NONE, ROLE_MONITOR, ROLE_FULL, BUS_CAN, BUS_KLINE,
                                   MIN_FRAME, MAX_MAX_FRAME, message_size)


class LinkConfig:
    """Unit-suffixed ints, validated here; ConfigError names the bad field.

    name               board name sent in HELLO_ACK (bytes, utf-8)
    max_frame          largest frame the gateway receives, message bytes (tag, CRC
                       and COBS excluded); both directions use the smaller of
                       this and the host's (HELLO), longer messages go in
                       fragments (proto.py "Frame size and fragments")
    max_message        largest message either way once reassembled: size it
                       message_size(max_pdu) from the gateway's max_pdu (the
                       default is message_size(4095), GatewayConfig's default)
                       so every UDS PDU fits.  Memory: the reassembly buffer
                       and the staging buffer are this big, and the control
                       queue has room for one such answer per request credit
                       (allocated once); at most 65535 (the queues' length
                       prefix)
    request_credits    requests the gateway holds at once (each holds one
                       max_frame slot until the router takes it, a longer one
                       the reassembly buffer)
    event_queue        events queued while the host has no credits (messages)
    event_queue_bytes  ... and their total size
    heartbeat_ms       the gateway sends HEARTBEAT this often while the link is up
    link_timeout_ms    a host silent this long is gone (EV_LINK_LOST)
    keys               ((role, key), ...): a key proves the role it is listed
                       with and every lower one; keys are >= 16 bytes
    open_role          granted without a key (ROLE_NONE: every role needs a key)
    buses              ((bus, BUS_*, bitrate, data_bitrate), ...) for HELLO_ACK
    """

    def __init__(self, name=b"diagbridge", max_frame=1024, request_credits=4, event_queue=64,
                 event_queue_bytes=4096, heartbeat_ms=1000, link_timeout_ms=3000, keys=(),
                 open_role=ROLE_NONE, buses=(), max_message=message_size(4095)):
        if not isinstance(name, bytes) or len(name) > 64:
            raise ConfigError("name")
        if not MIN_FRAME <= max_frame <= MAX_MAX_FRAME:
            raise ConfigError("max_frame")
        if not isinstance(max_message, int) or not max_frame <= max_message <= 0xFFFF:
            raise ConfigError("max_message")
        if not 1 <= request_credits <= 32:
            raise ConfigError("request_credits")
        if not 1 <= event_queue <= 4096:
            raise ConfigError("event_queue")
        if not 64 <= event_queue_bytes <= 0x100000:
            raise ConfigError("event_queue_bytes")
        if not 10 <= heartbeat_ms <= 60000:
            raise ConfigError("heartbeat_ms")
        if not heartbeat_ms < link_timeout_ms <= 600000:
            raise ConfigError("link_timeout_ms")
        for k in keys:
            if len(k) != 2 or not ROLE_MONITOR <= k[0] <= ROLE_FULL:
                raise ConfigError("keys")
            if not isinstance(k[1], bytes) or len(k[1]) < MIN_KEY_LEN:
                raise ConfigError("keys")
        if not ROLE_NONE <= open_role <= ROLE_FULL:
            raise ConfigError("open_role")
        for b in buses:
            if len(b) != 4 or not BUS_CAN <= b[1] <= BUS_KLINE:
                raise ConfigError("buses")
        self.name = name
        self.max_frame = max_frame
        self.max_message = max_message
        self.request_credits = request_credits
        self.event_queue = event_queue
        self.event_queue_bytes = event_queue_bytes
        self.heartbeat_ms = heartbeat_ms
        self.link_timeout_ms = link_timeout_ms
        self.keys = tuple(keys)
        self.open_role = open_role
        self.buses = tuple(buses)
