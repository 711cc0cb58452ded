# Raspberry Pi with an MCP2515 CAN HAT (Waveshare RS485 CAN HAT, PiCAN2 ...):
# the board file of the gateway daemon (diagbridge-gw --board this-file).
#
# Plain constants; the daemon (diagbridge.cpy.gateway.config) reads them and
# builds the core's configs.  Command-line options override each one.
# Nothing here touches hardware: bring can0 up first (README.md).

NAME = "pi-can-hat"

# The vehicle's CAN bus: SocketCAN can0 at 500 kbit/s (the bit rate is set
# by `ip link`, see README.md; it is listed here for HELLO_ACK and checks).
CAN = ({"interface": "socketcan", "channel": "can0", "bitrate": 500000},)

# K-Line through an L9637D/SI9241 on the Pi's UART (a later issue).
KLINE_UART = "/dev/serial0"
KLINE_BAUDRATE = 10400

# Host link: TCP for a laptop on the network (or the USB Ethernet gadget),
# and the USB serial gadget (dtoverlay=dwc2, modules-load=dwc2,g_serial)
# for a laptop on the Pi's USB port.  Up to MAX_HOSTS (default 4) TCP hosts
# at once, the serial line one more.  Loopback by
# default, as the daemon: listening on the network is asked for explicitly
# (LINK_TCP = "tcp://0.0.0.0:6520" here, or --listen on the command line).
LINK_TCP = "tcp://127.0.0.1:6520"
LINK_SERIAL = "/dev/ttyGS0"
SERIAL_BAUDRATE = 115200

# Pre-shared keys (chmod 600): `full: <secret>` lines, see README.md.
KEY_FILE = "/etc/diagbridge/key"

# What a host may put on the bus (diagbridge.gateway.limits): ranges of
# (first id, last id, extended) per role.  The diagnostic role: the 11-bit
# diagnostic block and 29-bit normal fixed addressing (0x18DA/0x18DB, priority
# 6); the full role: every id (None), or only the ranges given here, e.g.
# ((0x700, 0x7FF, False),) on a vehicle whose other ids must stay untouched.
DIAGNOSTIC_TX_IDS = ((0x700, 0x7FF, False), (0x18DA0000, 0x18DBFFFF, True))
FULL_TX_IDS = None

# The longest UDS message the gateway carries either way: 4095 is the
# classical CAN-TP limit (12-bit FF_DL); CAN FD with a 32-bit FF_DL carries
# more, up to 65471 here (the host link's max_message is at most 65535).
# The host link is sized from it: max_message = message_size(MAX_PDU), and
# frames of that size too, so a whole PDU fits one frame; a host that takes
# smaller frames gets fragments (diagbridge/link/proto.py, "Frame size and
# fragments").
MAX_PDU = 4095


def gateway_config():
    from diagbridge.gateway import GatewayConfig
    return GatewayConfig(n_buses=len(CAN), max_nodes=32, max_filters=16, raw_tx=16,
                         tx_confirm=True, max_pdu=MAX_PDU, diagnostic_tx_ids=DIAGNOSTIC_TX_IDS,
                         full_tx_ids=FULL_TX_IDS)


def link_config(keys, open_role):
    from diagbridge.link.config import LinkConfig
    from diagbridge.link.proto import BUS_CAN, message_size
    buses = tuple((i, BUS_CAN, c["bitrate"], 0) for i, c in enumerate(CAN))
    # A Pi has memory to spare: deep event queues ride out a slow host.
    size = message_size(MAX_PDU)
    return LinkConfig(name=NAME.encode(), keys=keys, open_role=open_role, buses=buses,
                      max_frame=size, max_message=size, request_credits=8, event_queue=1024,
                      event_queue_bytes=65536)
