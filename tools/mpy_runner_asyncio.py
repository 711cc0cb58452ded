# The board runner (diagbridge.mpy.runner.run) under MicroPython's real
# asyncio, for seconds of real time; run inside the unix port by
# tests/test_mpy_runner_asyncio.py:
#
#   import mpy_runner_asyncio; mpy_runner_asyncio.main(SECONDS)
#
# The gateway is built as a board builds it and stepped only by run(loop),
# which sleeps on asyncio until the gateway's deadline (at most POLL_MS).
# Its CAN port is a polled driver with the engine ECU behind it: a frame the
# gateway sends goes into the Ecu at the real tick, the Ecu's frames come back
# through recv() as a controller's FIFO would hand them out.  The host link is
# a byte pipe; the host is a second asyncio task that logs in with a key
# (CHALLENGE / AUTH and the frame MAC after it), opens a channel, reads the
# VIN through the gateway, keeps the link alive with heartbeats until SECONDS
# have passed and asks for the status.  Results are printed as
#   @@asyncio KEY VALUE
# lines for the test, ending with "@@asyncio done 1".
import asyncio
import hashlib
import os
import time

from diagbridge.ecu import Ecu
from diagbridge.gateway import Gateway, GatewayConfig
from diagbridge.gateway.loop import GatewayLoop
from diagbridge.link import proto as P
from diagbridge.link.auth import auth_mac, WHO_HOST
from diagbridge.link.cobs import Deframer, EV_FRAME
from diagbridge.link.config import LinkConfig
from diagbridge.link.msgpack import Reader
from diagbridge.mpy import runner
from diagbridge.uds.server.profiles import engine
from link_support import HostMac, KEY_FULL, HOST_NONCE

STEP_TIMEOUT_MS = 10000     # per host request, real time: generous
GATEWAY_KEY = KEY_FULL      # the full role's key in the gateway's LinkConfig
HOST_KEY = KEY_FULL         # the key the host proves (a test may change it)


def _ms():
    return time.ticks_ms()


def _since(t0):
    return time.ticks_diff(time.ticks_ms(), t0)


def say(key, value):
    print("@@asyncio %s %s" % (key, value))


class EcuCan:
    """A polled CAN driver (gateway/loop.py's contract) with an Ecu behind it."""

    def __init__(self, ecu):
        self.ecu = ecu
        self.fifo = []              # (can_id, data, flags) the ECU sent, oldest first
        self.rx_id = 0
        self.rx_flags = 0
        self.to_ecu = 0
        self.from_ecu = 0
        self._out = bytearray(64)

    def _drain(self, now):
        ecu = self.ecu
        n = ecu.pop_frame(self._out)
        while n:
            self.fifo.append((ecu.tx_id, bytes(self._out[0:n]), ecu.tx_flags))
            ecu.confirm(now, True, ecu.tx_tag)
            n = ecu.pop_frame(self._out)
        while ecu.poll():
            pass

    def send(self, can_id, buf, n, flags, tag):
        now = runner.now_us()
        self.to_ecu += 1
        self.ecu.feed_frame(now, can_id, buf, n, flags)
        self._drain(now)
        return True

    def recv(self, buf):
        now = runner.now_us()
        self.ecu.on_timer(now)      # early or often is harmless (the machine contract)
        self._drain(now)
        if not self.fifo:
            return -1
        can_id, data, flags = self.fifo.pop(0)
        for i in range(len(data)):
            buf[i] = data[i]
        self.rx_id = can_id
        self.rx_flags = flags
        self.from_ecu += 1
        return len(data)


class PipeLink:
    """The host link port: bytes from the host task in, bytes to it out."""

    def __init__(self):
        self.flag = None
        self.inb = bytearray()
        self.outb = bytearray()

    def readinto(self, buf):
        n = min(len(self.inb), len(buf))
        for i in range(n):
            buf[i] = self.inb[i]
        self.inb = self.inb[n:]
        return n

    def write(self, buf, n):
        self.outb.extend(memoryview(buf)[0:n])


class CountingLoop:
    """run(loop) needs step(now) only: count the steps."""

    def __init__(self, loop):
        self.loop = loop
        self.steps = 0

    def step(self, now):
        self.steps += 1
        return self.loop.step(now)


class Host:
    def __init__(self, pipe):
        self.pipe = pipe
        self.d = Deframer(4096)
        self.mac = HostMac(hashlib.sha256)
        self.inbox = []
        self.events = []
        self.rid = 0

    def send(self, kind, ref, body):
        self.pipe.inb.extend(self.mac.frame([kind, ref, body]))

    def pump(self):
        data = bytes(self.pipe.outb)
        self.pipe.outb = bytearray()
        i = 0
        got = 0
        while i < len(data):
            i = self.d.feed_bytes(0, data, len(data), i)
            if self.d.poll() == EV_FRAME:
                m = self.mac.unwrap(self.d.payload, self.d.length)
                if m < 0:
                    continue
                msg = Reader(self.d.payload, 0, m).read_obj()
                self.mac.seen(msg)
                if P.is_event(msg[0]):
                    self.events.append(msg)
                    got += 1
                else:
                    self.inbox.append(msg)
        if got:
            self.send(P.MSG_CREDIT, 0, {P.K_CREDITS: got})

    async def take(self, kinds, rid=None):
        t0 = _ms()
        while _since(t0) < STEP_TIMEOUT_MS:
            self.pump()
            for m in self.inbox:
                if m[0] in kinds and (rid is None or m[1] == rid):
                    self.inbox.remove(m)
                    return m
            await asyncio.sleep_ms(1)
        return None

    async def request(self, kind, body):
        self.rid += 1
        self.send(kind, self.rid, body)
        return await self.take((P.MSG_RESPONSE, P.MSG_ERROR), self.rid)


async def host_task(h, seconds, t0):
    h.send(P.MSG_HELLO, 0, {P.K_VERSION: P.LINK_PROTOCOL_VERSION, P.K_ROLE: P.ROLE_FULL,
                            P.K_NONCE: HOST_NONCE, P.K_CREDITS: 16})
    ch = await h.take((P.MSG_CHALLENGE, P.MSG_AUTH_OK, P.MSG_ERROR))
    say("challenge", 1 if ch is not None and ch[0] == P.MSG_CHALLENGE else 0)
    if ch is None or ch[0] != P.MSG_CHALLENGE:
        return
    nonce = ch[2][P.K_NONCE]
    h.mac.begin(HOST_KEY, P.ROLE_FULL, nonce)
    h.send(P.MSG_AUTH, 0, {P.K_MAC: auth_mac(hashlib.sha256, HOST_KEY, WHO_HOST,
                                             P.LINK_PROTOCOL_VERSION, P.ROLE_FULL, nonce,
                                             HOST_NONCE)})
    ok = await h.take((P.MSG_AUTH_OK, P.MSG_ERROR))
    say("auth_ok", 1 if ok is not None and ok[0] == P.MSG_AUTH_OK else 0)
    say("login_ms", _since(t0))
    if ok is None or ok[0] != P.MSG_AUTH_OK:
        return
    r = await h.request(P.MSG_REQ_CHANNEL, {
        P.K_CHANNEL: 1, P.K_ON: True, P.K_BUS: 0, P.K_ADDRESSING: P.ADDRESSING_NORMAL_11,
        P.K_TX_ID: 0x7E0, P.K_RX_ID: 0x7E8, P.K_FUNC_TX_ID: 0x7DF})
    say("channel", 1 if r is not None and r[0] == P.MSG_RESPONSE else 0)
    t1 = _ms()
    r = await h.request(P.MSG_REQ_UDS, {P.K_CHANNEL: 1, P.K_DATA: b"\x22\xf1\x90",
                                        P.K_FUNCTIONAL: False})
    say("uds_ms", _since(t1))
    if r is not None and r[0] == P.MSG_RESPONSE:
        say("uds_result", r[2][P.K_RESULT])
        say("uds_data", bytes(r[2][P.K_DATA]).hex())
    else:
        say("uds_error", repr(r))
    beat = _ms()
    while _since(t0) < seconds * 1000:
        h.pump()
        if _since(beat) >= 500:
            beat = _ms()
            h.send(P.MSG_HEARTBEAT, 0, None)
        await asyncio.sleep_ms(20)
    r = await h.request(P.MSG_REQ_STATUS, {})
    if r is not None and r[0] == P.MSG_RESPONSE:
        say("status_uptime_ms", r[2][P.K_UPTIME_MS])
    h.pump()
    say("gw_heartbeats", len([e for e in h.events if e[0] == P.MSG_HEARTBEAT])
        + len([m for m in h.inbox if m[0] == P.MSG_HEARTBEAT]))
    say("bad_mac", h.mac.bad)


async def _main(seconds):
    gw = Gateway(GatewayConfig(n_buses=1),
                 LinkConfig(name=b"mpy-asyncio", keys=((P.ROLE_FULL, GATEWAY_KEY),),
                            buses=((0, P.BUS_CAN, 500000, 0),)),
                 hashlib.sha256, os.urandom)
    can = EcuCan(Ecu(engine.make()))
    pipe = PipeLink()
    loop = CountingLoop(GatewayLoop(gw, (can,), pipe))
    t0 = _ms()
    task = asyncio.create_task(runner.run(loop))
    await host_task(Host(pipe), seconds, t0)
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass
    say("elapsed_ms", _since(t0))
    say("steps", loop.steps)
    say("to_ecu", can.to_ecu)
    say("from_ecu", can.from_ecu)
    say("ecu_requests", can.ecu.requests)


def main(seconds=2):
    asyncio.run(_main(seconds))
    say("done", 1)
