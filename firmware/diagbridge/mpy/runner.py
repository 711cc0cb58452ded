# The gateway on a MicroPython board: asyncio around gateway/loop.py.  A board's
# main.py builds its drivers and calls main(board); nothing runs at import.
#
#   board.gateway_config()  -> GatewayConfig
#   board.link_config()     -> LinkConfig (keys from the board's key file)
#   board.open_cans()       -> (CAN port, ...)    contract: gateway/loop.py
#   board.open_link()       -> link port          e.g. UartLink(machine.UART(..)), or a
#                              tuple of them: one UART = one host slot (port i =
#                              slot i; GatewayConfig.max_hosts at least as many)
#
# Waiting: each CAN driver may offer `flag` (an asyncio.ThreadSafeFlag set by
# its interrupt) and the link port too; the loop sleeps until the gateway's
# deadline or the next flag, polling at most every POLL_MS otherwise.
import time
import asyncio

from diagbridge.clock import TICKS_MASK, ticks_diff
from diagbridge.gateway import Gateway
from diagbridge.gateway.loop import GatewayLoop

POLL_MS = 2


def now_us():
    # ticks_us wraps at a power of two >= 2**29 on every port: masking keeps
    # the core's 2**29 period.
    return time.ticks_us() & TICKS_MASK


class UartLink:
    """The host link on a machine.UART (or a USB CDC stream with readinto/write)."""

    def __init__(self, uart):
        self.uart = uart
        self.flag = None

    def readinto(self, buf):
        if not self.uart.any():
            return 0
        n = self.uart.readinto(buf)
        return n or 0

    def write(self, buf, n):
        mv = memoryview(buf)
        w = 0
        while w < n:
            k = self.uart.write(mv[w:n])
            w += k or 0


async def run(loop, clock=now_us):
    """Step the loop forever, sleeping until its deadline (capped at POLL_MS)."""
    while True:
        t = clock()
        d = loop.step(t)
        wait_ms = POLL_MS
        if d is not None:
            dt = ticks_diff(d, clock())
            if dt < wait_ms * 1000:
                wait_ms = dt // 1000 if dt > 0 else 0
        await asyncio.sleep_ms(wait_ms)


def main(board, sha256=None, urandom=None):
    """Build the gateway from `board` and run it (never returns)."""
    if sha256 is None:
        import hashlib
        sha256 = hashlib.sha256
    if urandom is None:
        import os
        urandom = os.urandom
    gw = Gateway(board.gateway_config(), board.link_config(), sha256, urandom)
    loop = GatewayLoop(gw, board.open_cans(), board.open_link())
    asyncio.run(run(loop))
