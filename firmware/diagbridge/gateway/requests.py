# The gateway's request handlers: one function per MSG_REQ_* kind (body
# schemas: link/proto.py), each called as h(gw, slot, now, rid, body) with
# the host slot (hosts.HostSlot) the request came from: the answer goes to
# that slot's link and what the request makes goes to that slot's tenancy
# (ids are per host: two hosts may both have a channel 1).  A new endpoint
# on an address another host's channel or route already uses is refused
# (LINK_UNEXPECTED), and so is every new transmission on a bus another
# host has locked (REQ_BUS_LOCK, hosts.py: LINK_REFUSED "bus N is locked by
# host <name> for flashing").  The LinkSession has already checked the host's
# role; a handler checks the whole body and builds what it needs first, and
# only then changes the gateway's tables and answers (or leaves the answer
# to a job): a refused request leaves nothing half-made behind.  Caller
# mistakes become ERROR replies: ConfigError -> LINK_MALFORMED (TEXT: "bad
# field: " and the field), UsageError (ids, busy, no free slot) ->
# LINK_UNEXPECTED, Unsupported -> LINK_UNSUPPORTED, MemoryError ->
# LINK_UNEXPECTED.  What the host's role may not put on a bus (an id outside
# its ranges, a keep-alive below the floor: limits.Refused) -> LINK_REFUSED,
# a spent transmit budget (limits.RateLimited) -> LINK_NO_CREDIT; both counted
# (STATS "refused_tx_id", "refused_keepalive_period", "refused_tx_rate").
# Any other exception is a gap in these checks: still an
# ERROR (LINK_MALFORMED "bad request: ..."), counted in gw.handler_faults.
# TEXT is at most _TEXT_MAX characters; it quotes at most a checked id or name.
from diagbridge._compat import const
from diagbridge.codes import (OK, LINK_MALFORMED, LINK_UNEXPECTED, LINK_UNSUPPORTED, LINK_REFUSED,
                              LINK_NO_CREDIT, LINK_OVERSIZE)
from diagbridge.errors import ConfigError, UsageError
from diagbridge.can import DLC_LENGTHS
from diagbridge.link import proto as P
from diagbridge.ecu import Ecu
from diagbridge.uds.client.core import UdsClient, UdsClientConfig
from diagbridge.uds.server.profile import Profile
from diagbridge.uds.server.profiles import PROFILES, make as make_profile
from diagbridge.gateway.endpoint import (Tester, Unsupported, make_transport, bus_of, client_for,
                                   tp_config, has_functional)
from diagbridge.gateway.jobs import FunctionalJob, FlashJob, flash_config
from diagbridge.gateway.route import Route
from diagbridge.gateway.limits import Refused, RateLimited

_TEXT_MAX = const(160)
_ID_MAX = const(0xFFFF)



def handle(gw, slot, now):
    link = slot.link
    rid = link.req_id
    kind = link.req_kind
    try:
        r = link.body_reader()
        body = r.read_obj()
        if body is None and r.ok:
            body = {}                   # nil: no keys
        if not isinstance(body, dict):
            raise ConfigError("body")
        k = kind - P.MSG_REQ_FIRST
        h = _HANDLERS[k] if 0 <= k < len(_HANDLERS) else None
        if h is None:
            raise Unsupported("request kind")
        h(gw, slot, now, rid, body)
    except ConfigError as e:
        link.error(now, rid, LINK_MALFORMED, _text("bad field: ", e))
    except Unsupported as e:
        link.error(now, rid, LINK_UNSUPPORTED, _text("not supported: ", e))
    except Refused as e:
        link.error(now, rid, LINK_REFUSED, _text("", e))
    except RateLimited as e:
        link.error(now, rid, LINK_NO_CREDIT, _text("", e))
    except UsageError as e:
        link.error(now, rid, LINK_UNEXPECTED, _text("", e))
    except MemoryError:
        link.error(now, rid, LINK_UNEXPECTED, b"out of memory")
    except Exception as e:              # a gap in the checks: answered, counted
        gw.handler_faults += 1
        link.error(now, rid, LINK_MALFORMED, _text("bad request: ", e))


def _text(prefix, e):
    t = prefix + str(e)
    if len(t) > _TEXT_MAX:
        t = t[:_TEXT_MAX - 3] + "..."
    return t.encode()


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


def _same_address(t, bus, a):
    b = t.tp.addr
    return t.bus == bus and b.tx_id == a.tx_id and b.rx_id == a.rx_id \
        and b.tx_prefix == a.tx_prefix and b.rx_prefix == a.rx_prefix


def _address_free(gw, slot, bus, tp):
    """A flash job whose host left still talks on its address, and another
    host's channel (or route target) owns its address: a new endpoint there
    would answer that ECU's flow control and see its traffic."""
    a = tp.addr
    for s in gw.hosts:
        ten = s.tenancy
        for t in ten.orphans:
            if _same_address(t, bus, a):
                raise UsageError("flash job %d uses this address until it ends"
                                 % _find_job_of(ten, t).id)
        if s is slot:
            continue
        for t in ten.testers:
            if _same_address(t, bus, a):
                raise UsageError("host %s's channel %d uses this address" % (s.name, t.id))
        for r in ten.routes:
            if _same_address(r.b, bus, a):
                raise UsageError("host %s's route %d uses this address" % (s.name, r.id))


def _lock_free(gw, slot, bus):
    """Refused while another host holds bus (REQ_BUS_LOCK)."""
    gw.locks.check(gw, slot, bus)


def _functional_ok(tp, ucfg, name):
    """A client that sends keep-alives functionally needs the address."""
    if ucfg.keepalive_functional and not has_functional(tp):
        raise ConfigError(name + ".keepalive_functional: the endpoint has no functional address")


# ---- REQ_STATUS ----------------------------------------------------------------------
def _sum(gw, name):
    k = 0
    for s in gw.hosts:
        k += getattr(s.link, name)
    return k


def status(gw, slot, now, rid, body):
    """The gateway's counters (link and transmit-policy counters summed over
    every host slot), the asking host's own drops (COUNTS, "events_dropped")
    and things (CHANNELS, ECUS, ROUTES; JOBS: its jobs and every unattended
    one), and HOSTS: every connected host (hosts.HostSlot.info)."""
    link = slot.link
    counts = {}
    total = 0
    for k in range(len(link.dropped)):
        if link.dropped[k]:
            counts[P.MSG_EV_FIRST + k] = link.dropped[k]
            total += link.dropped[k]
    ten = slot.tenancy
    stats = {"link_faults": _sum(gw, "faults"), "link_refused": _sum(gw, "refused"),
             "auth_failures": _sum(gw, "auth_failures"), "ctl_dropped": _sum(gw, "ctl_dropped"),
             "events_discarded": _sum(gw, "discarded"), "events_dropped": total,
             "requests": gw.requests, "uds_requests": gw.uds_requests,
             "routed": sum(r.routed for r in ten.routes),
             "route_pending": sum(r.pending_sent for r in ten.routes)}
    buses = []
    for b in range(gw.cfg.n_buses):
        buses.append({"bus": b, "rx_frames": gw.rx_frames[b], "tx_frames": gw.tx_frames[b],
                      "tx_errors": gw.tx_errors[b], "listened": gw.listened[b],
                      "listen_dropped": gw.listen_dropped[b], "locked_by": gw.locks.holder[b]})
    stats["handler_faults"] = gw.handler_faults
    stats["jobs_unattended"] = gw.jobs_unattended
    stats["jobs_unattended_failed"] = gw.jobs_unattended_failed
    stats["refused_tx_id"] = sum(s.limits.refused_id for s in gw.hosts)
    stats["refused_keepalive_period"] = sum(s.limits.refused_period for s in gw.hosts)
    stats["refused_tx_rate"] = sum(s.limits.refused_rate for s in gw.hosts)
    stats["tx_tokens"] = slot.limits.tokens(now)
    stats["refused_login_backoff"] = sum(s.login.refused for s in gw.hosts)
    stats["refused_connections"] = 0
    stats["hosts_up"] = gw.hosts_up()
    stats["max_hosts"] = len(gw.hosts)
    if gw.adapter_stats is not None:    # e.g. the daemon's TCP port: refused connections
        extra = gw.adapter_stats()
        for k in extra:
            stats[k] = stats.get(k, 0) + extra[k]
    jobs = [j.id for j in ten.jobs]
    for s in gw.hosts:
        if s is not slot:
            for j in s.tenancy.jobs:
                if j.orphaned:
                    jobs.append(j.id)
    hosts = []
    for s in gw.hosts:
        if s.up():
            h = s.info(gw.locks)
            h["you"] = s is slot
            hosts.append(h)
    slot.replies.obj(now, rid, {
        P.K_RESULT: OK, P.K_UPTIME_MS: gw.uptime_ms, P.K_STATS: stats, P.K_BUS_STATS: buses,
        P.K_COUNTS: counts, P.K_CHANNELS: [t.id for t in ten.testers], P.K_ECUS: list(ten.ecus),
        P.K_ROUTES: [r.id for r in ten.routes], P.K_JOBS: jobs, P.K_HOSTS: hosts})


# ---- raw CAN ---------------------------------------------------------------------------
def can_listen(gw, slot, now, rid, body):
    bus = bus_of(body, gw.cfg)
    on = _on(body)
    if on:
        flt = body.get(P.K_FILTERS, [])
        if not isinstance(flt, list) or len(flt) > gw.cfg.max_filters:
            raise ConfigError("filters")
        base = bus * gw.cfg.max_filters
        for j in range(len(flt)):
            f = flt[j]
            if not isinstance(f, list) or len(f) != 2:
                raise ConfigError("filters")
            for v in f:
                if not isinstance(v, int) or isinstance(v, bool) or not 0 <= v <= 0x1FFFFFFF:
                    raise ConfigError("filters")
        for j in range(len(flt)):
            slot.tenancy.flt_id[base + j] = flt[j][0] & 0x1FFFFFFF
            slot.tenancy.flt_mask[base + j] = flt[j][1] & 0x1FFFFFFF
        slot.tenancy.flt_n[bus] = len(flt)
        slot.tenancy.echo[bus] = 1 if body.get(P.K_ECHO, False) else 0
    slot.tenancy.listen[bus] = 1 if on else 0
    slot.link.respond(now, rid, OK)


def can_send(gw, slot, now, rid, body):
    bus = bus_of(body, gw.cfg)
    flags = _get_int(body, P.K_FLAGS, "flags", 0, 0xFF, 0) & (P.CAN_EXT | P.CAN_FD | P.CAN_BRS)
    can_id = _get_int(body, P.K_ID, "id", 0, 0x1FFFFFFF if flags & P.CAN_EXT else 0x7FF)
    data = body.get(P.K_DATA)
    if not isinstance(data, (bytes, bytearray)) or not data:
        raise ConfigError("data")       # 1..8 bytes (FD: 12..64): pop_can()'s 0 is "none"
    n = len(data)
    if n > 8 and (not flags & P.CAN_FD or n > 64 or n not in DLC_LENGTHS):
        raise ConfigError("data")
    if flags & P.CAN_BRS and not flags & P.CAN_FD:
        raise ConfigError("flags")
    slot.limits.check_id(slot.link.role, can_id, bool(flags & P.CAN_EXT), "raw CAN transmit")
    _lock_free(gw, slot, bus)
    if not gw.raw_free():
        raise UsageError("no free transmit slot")
    slot.limits.take(now)
    gw.queue_raw(rid, bus, can_id, flags, data, slot.index)


# ---- channels and UDS -------------------------------------------------------------------
def _tester(slot, body):
    cid = _get_int(body, P.K_CHANNEL, "channel", 0, _ID_MAX)
    t = _find(slot.tenancy.testers, cid)
    if t is None:
        raise UsageError("no channel %d" % cid)
    return t


def channel(gw, slot, now, rid, body):
    cid = _get_int(body, P.K_CHANNEL, "channel", 0, _ID_MAX)
    t = _find(slot.tenancy.testers, cid)
    if not _on(body):
        if t is None:
            raise UsageError("no channel %d" % cid)
        if t.busy():
            raise UsageError("channel %d is busy" % cid)
        for j in slot.tenancy.jobs:
            if j.tester is t:
                raise UsageError("channel %d belongs to flash job %d (abort it first)"
                                 % (cid, j.id))
        gw.remove_node(t.tp)
        slot.tenancy.testers.remove(t)
        slot.link.respond(now, rid, OK)
        return
    if t is not None:
        raise UsageError("channel %d is already open" % cid)
    if gw.free_nodes() < 1:
        raise UsageError("no free endpoint slot")
    bus, tp = make_transport(body, gw.cfg)
    slot.limits.check_address(slot.link.role, tp.addr, "channel")
    _lock_free(gw, slot, bus)
    _address_free(gw, slot, bus, tp)
    c = client_for(body.get(P.K_UDS), gw.cfg)
    _functional_ok(tp, c.cfg, "uds")
    slot.limits.check_period("uds.keepalive_period_ms", c.cfg.keepalive_period_ms)
    t = Tester(cid, bus, tp, c)
    gw.add_node(bus, tp, t, 0, slot.index)
    slot.tenancy.testers.append(t)
    slot.link.respond(now, rid, OK)


def uds(gw, slot, now, rid, body):
    t = _tester(slot, body)
    data = _get_bytes(body, P.K_DATA, "data")
    if len(data) > len(t.client.tx):
        raise ConfigError("data")       # longer than the gateway's max_pdu
    if not slot.link.carries(t.client.cfg.max_pdu):     # never consume an answer it cannot take
        slot.link.error(now, rid, LINK_OVERSIZE, b"max_message (the host's or the gateway's) "
                        b"is below this channel's longest answer")
        return
    # TIMEOUT: this request's own P2 / P2* floor, ms (the core client's timeout_ms)
    timeout_ms = _get_int(body, P.K_TIMEOUT, "timeout", 0, 600000, 0)
    _lock_free(gw, slot, t.bus)
    gw.uds_requests += 1
    if body.get(P.K_FUNCTIONAL, False):
        if timeout_ms:
            raise ConfigError("timeout: a functional request's window is the channel's P2")
        if not has_functional(t.tp):
            raise ConfigError("functional: the channel has no functional address")
        if slot.tenancy.fq[t.bus] is not None or t.busy():
            raise UsageError("a functional request is running on bus %d" % t.bus)
        if len(data) > t.tp.sf_max():
            raise ConfigError("functional requests are single frames")
        group = [x for x in slot.tenancy.testers if x.bus == t.bus]
        slot.tenancy.fq[t.bus] = FunctionalJob(t, group, rid, data, len(data), gw.cfg, now)
        return
    if t.busy():
        raise UsageError("channel %d is busy" % t.id)
    t.client.request(now, data, len(data), False, timeout_ms)
    t.req = rid


def keepalive(gw, slot, now, rid, body):
    t = _tester(slot, body)
    c = t.client
    cfg = c.cfg
    period = _get_int(body, P.K_PERIOD_MS, "period_ms", 1, 60000, cfg.keepalive_period_ms)
    suppress = bool(body.get(P.K_SUPPRESS, cfg.keepalive_suppress))
    func = bool(body.get(P.K_FUNCTIONAL, cfg.keepalive_functional))
    if func and not has_functional(t.tp):
        raise ConfigError("functional: the channel has no functional address")
    if _on(body):
        slot.limits.check_period("period_ms", period)
        _lock_free(gw, slot, t.bus)
    if (period != cfg.keepalive_period_ms or suppress != cfg.keepalive_suppress
            or func != cfg.keepalive_functional):
        if t.busy():
            raise UsageError("channel %d is busy" % t.id)
        c = UdsClient(UdsClientConfig(
            p2_client_ms=cfg.p2_client_ms, p2star_client_ms=cfg.p2star_client_ms,
            p2_margin_ms=cfg.p2_margin_ms, p2star_margin_ms=cfg.p2star_margin_ms,
            adopt_timing=cfg.adopt_timing, max_pending=cfg.max_pending, max_pdu=cfg.max_pdu,
            keepalive=cfg.keepalive, keepalive_period_ms=period, keepalive_suppress=suppress,
            keepalive_functional=func, stray_max=cfg.stray_max, events=cfg.events))
        t.client = t.machine = c
    c.keep_alive(now, _on(body))
    slot.link.respond(now, rid, OK)


# ---- flashing ------------------------------------------------------------------------------
def flash(gw, slot, now, rid, body):
    op = _get_int(body, P.K_OP, "op", 0, 0xFF)
    jid = _get_int(body, P.K_JOB, "job", 0, _ID_MAX)
    job = _find(slot.tenancy.jobs, jid)
    if op == P.OP_BEGIN:
        if job is not None:
            raise UsageError("job %d exists" % jid)
        t = _tester(slot, body)
        _lock_free(gw, slot, t.bus)
        if t.busy() or _find_job_of(slot.tenancy, t) is not None:
            raise UsageError("channel %d is busy" % t.id)
        total = _get_int(body, P.K_TOTAL, "total", 1, gw.cfg.flash_max_bytes)
        cfg = flash_config(body.get(P.K_FLASH), has_functional(t.tp))
        if slot.tenancy.reserved_bytes() + total > gw.cfg.flash_max_bytes:
            raise UsageError("no room for the image (flash_max_bytes)")
        slot.tenancy.jobs.append(FlashJob(jid, t, total, cfg))
        slot.link.respond(now, rid, OK)
        return
    if op not in (P.OP_DATA, P.OP_START, P.OP_ABORT):
        raise Unsupported("op %d" % op)
    owner = slot
    if job is None and op == P.OP_ABORT:    # an unattended job: any full host may stop it
        for s in gw.hosts:
            j = _find(s.tenancy.jobs, jid)
            if j is not None and j.orphaned:
                owner = s
                job = j
    if job is None:
        raise UsageError("no job %d" % jid)
    if op == P.OP_DATA:
        if job.orphaned:
            raise UsageError("job %d is running" % jid)
        job.write(_get_int(body, P.K_OFFSET, "offset", 0, 0x3FFFFFFE),
                  _get_bytes(body, P.K_DATA, "data"))
        slot.link.respond(now, rid, OK)
    elif op == P.OP_START:
        _lock_free(gw, slot, job.tester.bus)
        job.start(now, rid)
    else:
        job.abort(now, owner.link)
        owner.tenancy.drop_job(job, gw)
        slot.link.respond(now, rid, OK)


def _find_job_of(ten, t):
    for j in ten.jobs:
        if j.tester is t:
            return j
    return None


# ---- hosted ECUs -----------------------------------------------------------------------------
_NAME_MAX = const(32)


def _profile(p, gcfg):
    if isinstance(p, dict):
        mem = p.get("memory")
        if isinstance(mem, list):       # regions are allocated: bound them first
            k = 0
            for r in mem:
                size = r.get("size") if isinstance(r, dict) else None
                if isinstance(size, int):
                    k += size
            if k > gcfg.flash_max_bytes:
                raise ConfigError("profile.memory")
        try:
            return Profile(p)
        except (ConfigError, MemoryError):
            raise
        except Exception:               # a shape Profile's checks did not expect
            raise ConfigError("profile")
    if not isinstance(p, str) or not p or len(p) > _NAME_MAX:
        raise ConfigError("profile")
    if p not in PROFILES:
        raise Unsupported("profile " + p)
    try:
        return make_profile(p)
    except ImportError:                 # a board image without the example profiles
        raise Unsupported("profile " + p + " (not in this firmware image)")


def ecu_sim(gw, slot, now, rid, body):
    eid = _get_int(body, P.K_ECU, "ecu", 0, _ID_MAX)
    if not _on(body):
        for i in range(len(gw.node_tp)):
            if gw.node_tp[i] is not None and gw.node_owner[i] is None \
                    and gw.node_ref[i] == eid and gw.node_slot[i] == slot.index:
                gw.node_tp[i] = None
                slot.tenancy.ecus.remove(eid)
                slot.link.respond(now, rid, OK)
                return
        raise UsageError("no ECU %d" % eid)
    if eid in slot.tenancy.ecus:
        raise UsageError("ECU %d is running" % eid)
    if gw.free_nodes() < 1:
        raise UsageError("no free endpoint slot")
    bus = bus_of(body, gw.cfg)
    prof = _profile(body.get(P.K_PROFILE), gw.cfg)
    address = None
    tp = None
    if P.K_ADDRESSING in body:
        bus, ch = make_transport(body, gw.cfg)
        address = ch.addr
        tp = ch.cfg
    elif P.K_TP in body:
        tp = tp_config(body[P.K_TP], gw.cfg)
    if tp is None:
        tp = tp_config(None, gw.cfg)
    try:
        # the gateway's entropy: a hosted ECU's seeds differ at every start
        ecu = Ecu(prof, tp_cfg=tp, address=address, urandom=gw.urandom, sha256=gw.sha256)
    except (ConfigError, MemoryError):
        raise
    except Exception:                   # e.g. the profile's addresses do not make an Address
        raise ConfigError("profile")
    slot.limits.check_address(slot.link.role, ecu.address, "ecu")
    _lock_free(gw, slot, bus)
    gw.add_node(bus, ecu, None, eid, slot.index)
    slot.tenancy.ecus.append(eid)
    slot.link.respond(now, rid, OK)


# ---- routes ---------------------------------------------------------------------------------
def route(gw, slot, now, rid, body):
    ident = _get_int(body, P.K_ROUTE, "route", 0, _ID_MAX)
    r = _find(slot.tenancy.routes, ident)
    if not _on(body):
        if r is None:
            raise UsageError("no route %d" % ident)
        gw.remove_node(r.a)
        gw.remove_node(r.b.tp)
        slot.tenancy.routes.remove(r)
        slot.link.respond(now, rid, OK)
        return
    if r is not None:
        raise UsageError("route %d exists" % ident)
    if gw.free_nodes() < 2:
        raise UsageError("no free endpoint slot")
    pending = _get_int(body, P.K_PENDING_MS, "pending_ms", 1, 60000, 40)
    period = _get_int(body, P.K_PERIOD_MS, "period_ms", 1, 60000, 2000)
    a_bus, a_tp = make_transport(body.get(P.K_TESTER), gw.cfg)
    b_bus, b_tp = make_transport(body.get(P.K_TARGET), gw.cfg)
    role = slot.link.role
    slot.limits.check_address(role, a_tp.addr, "tester")
    slot.limits.check_address(role, b_tp.addr, "target")
    slot.limits.check_period("period_ms", period)
    _lock_free(gw, slot, a_bus)
    _lock_free(gw, slot, b_bus)
    _address_free(gw, slot, b_bus, b_tp)
    c = client_for(body.get(P.K_UDS), gw.cfg)
    _functional_ok(b_tp, c.cfg, "uds")
    slot.limits.check_period("uds.keepalive_period_ms", c.cfg.keepalive_period_ms)
    b = Tester(ident, b_bus, b_tp, c)
    r = Route(ident, a_bus, a_tp, b, pending, period, gw.cfg.max_pdu)
    gw.add_node(a_bus, a_tp, r, 0, slot.index)
    gw.add_node(b_bus, b_tp, b, 0, slot.index)
    slot.tenancy.routes.append(r)
    slot.link.respond(now, rid, OK)


# ---- REQ_BUS_LOCK ------------------------------------------------------------------------
def bus_lock(gw, slot, now, rid, body):
    """BUS ON: exclusive transmit control of BUS for this (full-role) host
    while it flashes (hosts.py).  ON true: ok, or LINK_REFUSED while another
    host holds it (taking it again is ok); ON false: ok, LINK_UNEXPECTED if
    this host does not hold it."""
    bus = bus_of(body, gw.cfg)
    if P.K_ON not in body:
        raise ConfigError("on")
    if _on(body):
        gw.locks.take(now, gw, slot, bus)
    elif not gw.locks.release(now, gw, slot, bus):
        raise UsageError("bus %d is not locked by this host" % bus)
    slot.link.respond(now, rid, OK)


# Indexed by kind - MSG_REQ_FIRST (None: not on this gateway yet).
_HANDLERS = (status, can_listen, can_send, uds, None, keepalive, channel, None, None, flash,
             ecu_sim, route, bus_lock)
