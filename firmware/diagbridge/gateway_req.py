# The gateway's request handlers: one function per MSG_REQ_* kind (body
# schemas: link/proto.py).  The LinkSession has already checked the host's
# role; a handler checks the body, changes the gateway's tables and answers
# (or leaves the answer to a job).  Caller mistakes become ERROR replies:
# ConfigError -> LINK_MALFORMED (TEXT: the field), UsageError (ids, busy,
# no free slot) -> LINK_UNEXPECTED, Unsupported -> LINK_UNSUPPORTED.
from diagbridge.codes import OK, LINK_MALFORMED, LINK_UNEXPECTED, LINK_UNSUPPORTED
from diagbridge.errors import ConfigError, UsageError
from diagbridge.link import proto as P
from diagbridge.ecu import Ecu
from diagbridge.uds.client import UdsClient, UdsClientConfig
from diagbridge.uds.profile import Profile
from diagbridge.gateway_ep import (Tester, Unsupported, make_transport, bus_of, client_for,
                                   tp_config)
from diagbridge.gateway_jobs import FunctionalJob, FlashJob
from diagbridge.gateway_route import Route

_FD_LENGTHS = (12, 16, 20, 24, 32, 48, 64)


def handle(gw, now):
    link = gw.link
    rid = link.req_id
    kind = link.req_kind
    body = link.body()
    if body is None:
        body = {}
    try:
        if not isinstance(body, dict):
            raise ConfigError("body")
        h = _HANDLERS[kind - P.MSG_REQ_FIRST] if kind - P.MSG_REQ_FIRST < len(_HANDLERS) \
            else None
        if h is None:
            raise Unsupported("request kind")
        h(gw, now, rid, body)
    except ConfigError as e:
        link.error(now, rid, LINK_MALFORMED, _text("bad field: ", e))
    except Unsupported as e:
        link.error(now, rid, LINK_UNSUPPORTED, _text("not supported: ", e))
    except UsageError as e:
        link.error(now, rid, LINK_UNEXPECTED, _text("", e))


def _text(prefix, e):
    return (prefix + str(e)).encode()


def _get_int(body, key, name, lo, hi, default=None):
    v = body.get(key, default)
    if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
        raise ConfigError(name)
    return v


def _get_bytes(body, key, name, lo=1):
    v = body.get(key)
    if not isinstance(v, (bytes, bytearray)) or len(v) < lo:
        raise ConfigError(name)
    return v


def _on(body):
    return bool(body.get(P.K_ON, True))


def _find(items, ident):
    for x in items:
        if x.id == ident:
            return x
    return None


# ---- REQ_STATUS ----------------------------------------------------------------------
def status(gw, now, rid, body):
    link = gw.link
    counts = {}
    total = 0
    for k in range(len(link.dropped)):
        if link.dropped[k]:
            counts[P.MSG_EV_FIRST + k] = link.dropped[k]
            total += link.dropped[k]
    stats = {"link_faults": link.faults, "link_refused": link.refused,
             "auth_failures": link.auth_failures, "ctl_dropped": link.ctl_dropped,
             "events_discarded": link.discarded, "events_dropped": total,
             "requests": gw.requests, "uds_requests": gw.uds_requests,
             "routed": sum(r.routed for r in gw.routes),
             "route_pending": sum(r.pending_sent for r in gw.routes)}
    buses = []
    for b in range(gw.cfg.n_buses):
        buses.append({"bus": b, "rx_frames": gw.rx_frames[b], "tx_frames": gw.tx_frames[b],
                      "tx_errors": gw.tx_errors[b], "listened": gw.listened[b],
                      "listen_dropped": gw.listen_dropped[b]})
    link.respond_obj(now, rid, {
        P.K_RESULT: OK, P.K_UPTIME_MS: gw.uptime_ms, P.K_STATS: stats, P.K_BUS_STATS: buses,
        P.K_COUNTS: counts, P.K_CHANNELS: [t.id for t in gw.testers], P.K_ECUS: list(gw.ecus),
        P.K_ROUTES: [r.id for r in gw.routes], P.K_JOBS: [j.id for j in gw.jobs]})


# ---- raw CAN ---------------------------------------------------------------------------
def can_listen(gw, now, rid, body):
    bus = bus_of(body, gw.cfg)
    on = _on(body)
    if on:
        flt = body.get(P.K_FILTERS, [])
        if not isinstance(flt, list) or len(flt) > gw.cfg.max_filters:
            raise ConfigError("filters")
        base = bus * gw.cfg.max_filters
        for j in range(len(flt)):
            f = flt[j]
            if not isinstance(f, list) or len(f) != 2 or not isinstance(f[0], int) \
                    or not isinstance(f[1], int):
                raise ConfigError("filters")
        for j in range(len(flt)):
            gw.flt_id[base + j] = flt[j][0] & 0x1FFFFFFF
            gw.flt_mask[base + j] = flt[j][1] & 0x1FFFFFFF
        gw.flt_n[bus] = len(flt)
        gw.echo[bus] = 1 if body.get(P.K_ECHO, False) else 0
    gw.listen[bus] = 1 if on else 0
    gw.link.respond(now, rid, OK)


def can_send(gw, now, rid, body):
    bus = bus_of(body, gw.cfg)
    flags = _get_int(body, P.K_FLAGS, "flags", 0, 0xFF, 0) & (P.CAN_EXT | P.CAN_FD | P.CAN_BRS)
    can_id = _get_int(body, P.K_ID, "id", 0, 0x1FFFFFFF if flags & P.CAN_EXT else 0x7FF)
    data = body.get(P.K_DATA, b"")
    if not isinstance(data, (bytes, bytearray)):
        raise ConfigError("data")
    n = len(data)
    if n > 8 and (not flags & P.CAN_FD or n not in _FD_LENGTHS):
        raise ConfigError("data")
    if flags & P.CAN_BRS and not flags & P.CAN_FD:
        raise ConfigError("flags")
    if not gw.queue_raw(rid, bus, can_id, flags, data):
        raise UsageError("no free transmit slot")


# ---- channels and UDS -------------------------------------------------------------------
def _tester(gw, body):
    cid = body.get(P.K_CHANNEL)
    t = _find(gw.testers, cid)
    if t is None:
        raise UsageError("no channel %r" % (cid,))
    return t


def channel(gw, now, rid, body):
    cid = _get_int(body, P.K_CHANNEL, "channel", 0, 0xFFFF)
    t = _find(gw.testers, cid)
    if not _on(body):
        if t is None:
            raise UsageError("no channel %d" % cid)
        if t.busy():
            raise UsageError("channel %d is busy" % cid)
        gw.remove_node(t.tp)
        gw.testers.remove(t)
        gw.link.respond(now, rid, OK)
        return
    if t is not None:
        raise UsageError("channel %d is already open" % cid)
    if gw.free_nodes() < 1:
        raise UsageError("no free endpoint slot")
    bus, tp = make_transport(body, gw.cfg)
    t = Tester(cid, bus, tp, client_for(body.get(P.K_UDS), gw.cfg))
    gw.add_node(bus, tp, t)
    gw.testers.append(t)
    gw.link.respond(now, rid, OK)


def uds(gw, now, rid, body):
    t = _tester(gw, body)
    data = _get_bytes(body, P.K_DATA, "data")
    gw.uds_requests += 1
    if body.get(P.K_FUNCTIONAL, False):
        if t.tp.addr.ftx_id < 0:
            raise ConfigError("channel has no functional address")
        if gw.fq[t.bus] is not None or t.busy():
            raise UsageError("a functional request is running on bus %d" % t.bus)
        if len(data) > t.tp.sf_max():
            raise ConfigError("functional requests are single frames")
        group = [x for x in gw.testers if x.bus == t.bus]
        gw.fq[t.bus] = FunctionalJob(t, group, rid, data, len(data), gw.cfg, now)
        return
    if t.busy():
        raise UsageError("channel %d is busy" % t.id)
    t.client.request(now, data, len(data))
    t.req = rid


def keepalive(gw, now, rid, body):
    t = _tester(gw, body)
    c = t.client
    cfg = c.cfg
    period = _get_int(body, P.K_PERIOD_MS, "period_ms", 1, 60000, cfg.keepalive_period_ms)
    suppress = bool(body.get(P.K_SUPPRESS, cfg.keepalive_suppress))
    func = bool(body.get(P.K_FUNCTIONAL, cfg.keepalive_functional))
    if (period != cfg.keepalive_period_ms or suppress != cfg.keepalive_suppress
            or func != cfg.keepalive_functional):
        if t.busy():
            raise UsageError("channel %d is busy" % t.id)
        c = UdsClient(UdsClientConfig(
            p2_client_ms=cfg.p2_client_ms, p2star_client_ms=cfg.p2star_client_ms,
            p2_margin_ms=cfg.p2_margin_ms, p2star_margin_ms=cfg.p2star_margin_ms,
            adopt_timing=cfg.adopt_timing, max_pending=cfg.max_pending, max_pdu=cfg.max_pdu,
            keepalive=cfg.keepalive, keepalive_period_ms=period, keepalive_suppress=suppress,
            keepalive_functional=func))
        t.client = t.machine = c
    c.keep_alive(now, _on(body))
    gw.link.respond(now, rid, OK)


# ---- flashing ------------------------------------------------------------------------------
def flash(gw, now, rid, body):
    op = _get_int(body, P.K_OP, "op", 0, 0xFF)
    jid = body.get(P.K_JOB)
    job = _find(gw.jobs, jid)
    if op == P.OP_BEGIN:
        if job is not None:
            raise UsageError("job %r exists" % (jid,))
        _get_int(body, P.K_JOB, "job", 0, 0xFFFF)
        t = _tester(gw, body)
        gw.jobs.append(FlashJob(jid, t, body.get(P.K_TOTAL), body.get(P.K_FLASH), gw.cfg))
        gw.link.respond(now, rid, OK)
        return
    if op not in (P.OP_DATA, P.OP_START, P.OP_ABORT):
        raise Unsupported("op %d" % op)
    if job is None:
        raise UsageError("no job %r" % (jid,))
    if op == P.OP_DATA:
        job.write(_get_int(body, P.K_OFFSET, "offset", 0, 0x3FFFFFFE),
                  _get_bytes(body, P.K_DATA, "data"))
        gw.link.respond(now, rid, OK)
    elif op == P.OP_START:
        job.start(now, rid)
    else:
        job.abort(now, gw.link)
        gw.jobs.remove(job)
        gw.link.respond(now, rid, OK)


# ---- hosted ECUs -----------------------------------------------------------------------------
def _profile(p):
    if isinstance(p, dict):
        return Profile(p)
    if not isinstance(p, str) or not p or not all(c.isalpha() or c.isdigit() or c == "_"
                                                  for c in p):
        raise ConfigError("profile")
    name = "diagbridge.uds.profiles." + p
    try:
        mod = __import__(name)
    except ImportError:
        raise Unsupported("profile " + p)
    for part in name.split(".")[1:]:
        mod = getattr(mod, part)
    state = getattr(mod, "EngineState", None) or getattr(mod, "State", None)
    if state is not None and hasattr(mod, "sources"):
        return Profile(mod.profile(), sources=mod.sources(state()))
    return Profile(mod.profile())


def ecu_sim(gw, now, rid, body):
    eid = _get_int(body, P.K_ECU, "ecu", 0, 0xFFFF)
    if not _on(body):
        for i in range(len(gw.node_tp)):
            if gw.node_tp[i] is not None and gw.node_owner[i] is None \
                    and gw.node_ref[i] == eid:
                gw.node_tp[i] = None
                gw.ecus.remove(eid)
                gw.link.respond(now, rid, OK)
                return
        raise UsageError("no ECU %d" % eid)
    if eid in gw.ecus:
        raise UsageError("ECU %d is running" % eid)
    if gw.free_nodes() < 1:
        raise UsageError("no free endpoint slot")
    bus = bus_of(body, gw.cfg)
    prof = _profile(body.get(P.K_PROFILE))
    address = None
    tp = None
    if P.K_ADDRESSING in body:
        bus, ch = make_transport(body, gw.cfg)
        address = ch.addr
        tp = ch.cfg
    elif P.K_TP in body:
        tp = tp_config(body[P.K_TP], gw.cfg)
    if tp is None:
        tp = tp_config({"max_pdu": 4095}, gw.cfg)
    ecu = Ecu(prof, tp_cfg=tp, address=address)
    gw.add_node(bus, ecu, None, eid)
    gw.ecus.append(eid)
    gw.link.respond(now, rid, OK)


# ---- routes ---------------------------------------------------------------------------------
def route(gw, now, rid, body):
    ident = _get_int(body, P.K_ROUTE, "route", 0, 0xFFFF)
    r = _find(gw.routes, ident)
    if not _on(body):
        if r is None:
            raise UsageError("no route %d" % ident)
        gw.remove_node(r.a)
        gw.remove_node(r.b.tp)
        gw.routes.remove(r)
        gw.link.respond(now, rid, OK)
        return
    if r is not None:
        raise UsageError("route %d exists" % ident)
    if gw.free_nodes() < 2:
        raise UsageError("no free endpoint slot")
    pending = _get_int(body, P.K_PENDING_MS, "pending_ms", 1, 60000, 40)
    period = _get_int(body, P.K_PERIOD_MS, "period_ms", 1, 60000, 2000)
    a_bus, a_tp = make_transport(body.get(P.K_TESTER), gw.cfg)
    b_bus, b_tp = make_transport(body.get(P.K_TARGET), gw.cfg)
    b = Tester(ident, b_bus, b_tp, client_for(body.get(P.K_UDS), gw.cfg))
    r = Route(ident, a_bus, a_tp, b, pending, period, gw.cfg.max_pdu)
    gw.add_node(a_bus, a_tp, r)
    gw.add_node(b_bus, b_tp, b)
    gw.routes.append(r)
    gw.link.respond(now, rid, OK)


# Indexed by kind - MSG_REQ_FIRST (None: not on this gateway yet).
_HANDLERS = (status, can_listen, can_send, uds, None, keepalive, channel, None, None, flash,
             ecu_sim, route)
