# Drives the real UdsServer with request PDUs for the transfer / routine /
# IO / periodic / DDDID / secured / link tests: one request in, every PDU
# out, virtual time only.
from diagbridge.clock import ticks_add, ticks_diff
from diagbridge.uds.server.nvm import MemNvm
from diagbridge.uds.server.core import UdsServer

T0 = 0x1FFFFFFF - 200000       # 200 ms before the tick wrap: timed tests cross it

_OUT = bytearray(4095)


def h(s):
    """bytes from hex text: h('22 F1 90')."""
    return bytes(int(x, 16) for x in s.split())


def make(profile, specs, session=1, level=0, nvm=None, cfg=None, now=T0):
    srv = UdsServer(profile, cfg=cfg, nvm=nvm if nvm is not None else MemNvm(), specs=specs)
    srv.power_up(now)
    if session != 1:
        srv.set_session(now, session)
    if level:
        srv.set_level(level)
    while srv.poll():
        pass
    return srv


def pop_all(srv):
    out = []
    while True:
        n = srv.pop_pdu(_OUT)
        if not n:
            return out
        out.append(bytes(_OUT[:n]))


def ask(srv, now, pdu, functional=False):
    """Feed one request; the single PDU it produced at once, or None."""
    srv.feed_pdu(now, pdu, len(pdu), functional)
    got = pop_all(srv)
    assert len(got) <= 1, got
    return got[0] if got else None


def run(srv, now, for_us, until_final=False):
    """Run timers for for_us: [(us after now, pdu), ...] of everything sent;
    with until_final, stop after the first PDU that is not a 0x78."""
    end = ticks_add(now, for_us)
    t = now
    sent = []
    while True:
        d = srv.deadline()
        if d is None or ticks_diff(d, end) > 0:
            break
        if ticks_diff(d, t) > 0:
            t = d
        srv.on_timer(t)
        for p in pop_all(srv):
            sent.append((ticks_diff(t, now), p))
            if until_final and not (p[0] == 0x7F and p[2] == 0x78):
                return sent
    return sent


def run_pending(srv, now, sid, for_us=60000000):
    """After a request that went pending: ([us of each 7F sid 78], final pdu,
    us of the final pdu), all relative to now."""
    sent = run(srv, now, for_us, True)
    assert sent, "no final response"
    rcrrp = bytes((0x7F, sid, 0x78))
    pend = [t for t, p in sent if p == rcrrp]
    assert len(pend) == len(sent) - 1, sent
    return pend, sent[-1][1], sent[-1][0]
