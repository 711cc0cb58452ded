# Raspberry Pi Pico (RP2040/RP2350) with an MCP2515 CAN module on SPI0 and a
# TJA1050/SN65HVD230 transceiver; the host link on UART0 (a USB-serial
# cable) at 921600 baud.  Read by main.py; nothing here runs at import.
#
# The CAN port is diagbridge.mpy.mcp2515.Mcp2515 (the port contract of
# diagbridge/gateway/loop.py).  Wiring, crystals, transceivers and the deploy
# commands: README.md.

NAME = "rp2-mcp2515"

SPI_ID = 0
PIN_SCK = 18
PIN_MOSI = 19
PIN_MISO = 16
PIN_CS = 17
PIN_INT = 20            # MCP2515 INT (active low): wakes the loop
MCP2515_XTAL_HZ = 8000000     # the crystal on the module: 8 MHz or 16 MHz (1 Mbit/s needs 16)
CAN_BITRATE = 500000
SPI_BAUDRATE = 8000000        # the MCP2515 takes up to 10 MHz

MPY_PORT = "rp2"              # tools/deploy --frozen: the MicroPython port and board
MPY_BOARD = "RPI_PICO"

UART_ID = 0
PIN_TX = 0
PIN_RX = 1
LINK_BAUDRATE = 921600

KEY_FILE = "key.txt"    # on the board's filesystem: `full: <secret>` (mpremote cp)

# What a host may put on the bus (diagbridge.gateway.limits): ranges of
# (first id, last id, extended) per role.  The diagnostic role: the 11-bit
# diagnostic block and 29-bit normal fixed addressing (0x18DA/0x18DB, priority
# 6); the full role: every id (None), or only the ranges given here, e.g.
# ((0x700, 0x7FF, False),) on a vehicle whose other ids must stay untouched.
DIAGNOSTIC_TX_IDS = ((0x700, 0x7FF, False), (0x18DA0000, 0x18DBFFFF, True))
FULL_TX_IDS = None


def _keys():
    from diagbridge.link.proto import ROLE_MONITOR, ROLE_DIAGNOSTIC, ROLE_FULL
    roles = {"monitor": ROLE_MONITOR, "diagnostic": ROLE_DIAGNOSTIC, "full": ROLE_FULL}
    keys = []
    with open(KEY_FILE) as fh:
        for line in fh:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            role, sep, key = line.partition(":")
            if not sep:
                role, key = "full", line
            keys.append((roles[role.strip()], key.strip().encode()))
    return tuple(keys)


def gateway_config():
    from diagbridge.gateway import GatewayConfig
    # A small board: few nodes, a 64 KiB flash image buffer at most.
    return GatewayConfig(n_buses=1, max_nodes=8, max_filters=4, raw_tx=4, tx_confirm=True,
                         max_pdu=4095, flash_max_bytes=0x10000,
                         diagnostic_tx_ids=DIAGNOSTIC_TX_IDS, full_tx_ids=FULL_TX_IDS)


def link_config():
    from diagbridge.link.config import LinkConfig
    from diagbridge.link.proto import BUS_CAN
    return LinkConfig(name=NAME.encode(), keys=_keys(), max_frame=512, request_credits=2,
                      event_queue=32, event_queue_bytes=2048,
                      buses=((0, BUS_CAN, CAN_BITRATE, 0),))


def open_cans():
    from machine import Pin, SPI
    from diagbridge.mpy.mcp2515 import Mcp2515
    spi = SPI(SPI_ID, baudrate=SPI_BAUDRATE, polarity=0, phase=0, sck=Pin(PIN_SCK),
              mosi=Pin(PIN_MOSI), miso=Pin(PIN_MISO))
    # tx_confirm as in gateway_config(): a frame counts as sent when the chip
    # says it left (its TXREQ cleared); GatewayLoop.step collects the results
    return (Mcp2515(spi, Pin(PIN_CS, Pin.OUT, value=1), xtal_hz=MCP2515_XTAL_HZ,
                    bitrate=CAN_BITRATE, int_pin=Pin(PIN_INT, Pin.IN, Pin.PULL_UP),
                    tx_confirm=True),)


def open_link():
    from machine import Pin, UART
    from diagbridge.mpy.runner import UartLink
    return UartLink(UART(UART_ID, LINK_BAUDRATE, tx=Pin(PIN_TX), rx=Pin(PIN_RX),
                         rxbuf=4096, txbuf=4096))
