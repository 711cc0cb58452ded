# UdsServer: the ECU side of ISO 14229-1, sans-I/O.
#
#   srv = UdsServer(profile, cfg=None, nvm=None, specs=None, conditions=None, trace=None)
#   srv.feed_pdu(now, data, n, functional)  one whole request PDU from the transport
#   srv.on_timer(now)                       P2/P2* 0x78 cadence, S3, SA delay, services
#   ev = srv.poll()                         EV_* below, or EV_NONE
#   n = srv.pop_pdu(out)                    next response / 0x78 / unsolicited PDU; 0 = none
#   srv.deadline()                          tick for the next on_timer, or None
#   srv.reset(now, kind)                    the application performed an ECUReset
#   srv.power_up(now)                       cold start (done on the first input if not called)
#
# How service modules plug in: each module (uds/srv_<group>.py) exports SPECS,
# a tuple of service.ServiceSpec.  `specs` is a list of such tuples (or of
# single specs); when it is None the server imports diagbridge.uds.srv_<name>
# for every name in profile.modules and takes their SPECS.  A SID served
# twice is a ConfigError.  The profile's "services" section overrides a
# spec's sessions / levels / auth (and per sub-function), or removes it
# ("supported": False).  The contract a handler follows is in service.py;
# handlers check profile items with srv.access_nrc(access) and the helpers
# session_ok / level_ok / auth_ok (config.py, re-exported here).
#
# General response behaviour (§8.7, uds-digest §3.3-3.6), in this order:
#   busy (a request is in progress or its response not yet popped) -> 0x21,
#     except the functional `3E 80` keep-alive, which bypasses it (§8.7.6);
#   SID supported -> 0x11; in the active session -> 0x7F; authentication
#   -> 0x34; security -> 0x33; minimum length -> 0x13; then with a sub-
#   function: supported -> 0x12; in session -> 0x7E; authentication -> 0x34;
#   security -> 0x33; exact length -> 0x13; then the handler (sequence 0x24,
#   service-specific checks).  SPRMIB suppresses a positive response unless
#   a 0x78 went out first; for functional requests 11/12/31/7E/7F are not
#   sent, again unless a 0x78 went out first (§8.7.5).
#   A handler that returns RSP_PENDING gets 7F SID 78 pending_margin_ms before
#   P2_server expires and again before each P2*_server (§8.7.1, digest §4.2).
# S3_server: any request restarts it; in a non-default session its expiry
# returns to the default session (§10.2.1, §10.7.1).  Session transitions
# follow digest §5.2 and call every spec's on_session.
#
# Events (details are attributes, valid until the next poll()):
#   EV_RESPONSE         a PDU is ready: pop_pdu()
#   EV_SESSION_CHANGED  `session` changed (DSC or S3 timeout); `old_session`
#   EV_RESET            ECUReset accepted, response queued first: perform the
#                       reset of kind `reset_kind` (1 hard, 2 keyOffOn, 3 soft,
#                       VMS/SSS values) and call srv.reset(now, kind); requests
#                       are ignored until then (§10.3.1)
#   EV_SECURITY         `level` changed (0 = locked)
#   EV_COMM_CONTROL     `comm_control` / `comm_type` / `comm_node_id` changed
#   EV_DTC_SETTING      `dtc_setting_on` changed
#   EV_LINK_CONTROL     LinkControl (0x87): switch the data link to
#                       `link_baud` bit/s (`link_mode` = linkControlModeIdentifier,
#                       0 = specific baud, 0xFF = back to normal); raised
#                       after the response was handed out (§10.10.1)
# Attributes: session, level, auth_role, profile, nvm, rsp, cfg, security,
# comm_control, comm_type, comm_node_id, dtc_setting_on, rapid_power_shutdown,
# max_dids, busy_rejects, trace, link_baud, link_mode, secure_diag.
#
# Internal requests: execute(now, req, n) runs a request through the checks
# above (from "SID supported" on) and its handler, without the busy check,
# queueing, SPRMIB or S3, and returns the handler's result; ROE's
# serviceToRespondTo and the 0x84 inner request use it.  A SID listed in
# secure_required (set by srv_secured from the profile) is refused with
# 0x38 unless it arrives inside 0x84 (secure_diag), after the session check
# (§16.1.4; Fig 39 is missing from the source: position [K?]).
from diagbridge._compat import const
from diagbridge.clock import ticks_add, due, earliest
from diagbridge.errors import UsageError
from diagbridge.evq import EventQueue
from diagbridge.uds.config import (UdsServerConfig, build_table, session_ok, level_ok, auth_ok,
                                   DEFAULT_SESSION)
from diagbridge.uds.nrc import (NRC_SNS, NRC_SNSIAS, NRC_AR, NRC_SAD, NRC_IMLOIF, NRC_SFNS,
                                NRC_SFNSIAS, NRC_BRR, NRC_RCRRP, NRC_SDTR,
                                suppressed_if_functional)
from diagbridge.uds.profile import Profile
from diagbridge.uds.security import SecurityAccess
from diagbridge.uds.service import RSP_PENDING, RSP_NONE

EV_RESPONSE = const(1)
EV_SESSION_CHANGED = const(2)
EV_RESET = const(3)
EV_SECURITY = const(4)
EV_COMM_CONTROL = const(5)
EV_DTC_SETTING = const(6)
EV_LINK_CONTROL = const(7)

# trace(code, a, b) codes
T_REQUEST = const(1)        # sid, length
T_RESPONSE = const(2)       # sid, nrc (0 = positive)
T_SUPPRESSED = const(3)     # sid, nrc (0 = positive suppressed by SPRMIB)
T_PENDING = const(4)        # sid, 0x78 count
T_S3_TIMEOUT = const(5)     # old session, 0

_K_RSP = const(0)           # queued item: the response in srv.rsp
_K_NR = const(1)            # queued item: a 3-byte negative response


class UdsServer:
    def __init__(self, profile, cfg=None, nvm=None, specs=None, conditions=None, trace=None):
        if isinstance(profile, dict):
            profile = Profile(profile)
        if cfg is None:
            cfg = UdsServerConfig()
        self.profile = profile
        self.cfg = cfg
        self.nvm = nvm
        self.conditions = conditions    # fn(srv, now, req, n) -> 0 | NRC (0x22, 0x81..)
        self.trace = trace
        self.rsp = bytearray(cfg.max_pdu)
        self.max_dids = profile.max_dids if profile.max_dids is not None else cfg.max_dids
        self.security = SecurityAccess(profile.security_levels, nvm, profile.prng_seed)
        self._margin_us = cfg.pending_margin_ms * 1000
        self._s3_us = cfg.s3_server_ms * 1000
        self._events = EventQueue(cfg.events)
        self._q = bytearray(cfg.nr_queue * 3)   # ring of (kind, sid, nrc)
        self._q_head = 0
        self._q_count = 0
        self.dropped = 0                # responses lost because the queue was full
        self._build(specs)
        self._load_nvm()
        self._up = False
        self._now = 0
        self.session = DEFAULT_SESSION
        self.old_session = DEFAULT_SESSION
        self.level = 0
        self.auth_role = 0
        self.comm_control = 0           # controlType 00 enableRxAndTx
        self.comm_type = 0x03           # normal + network management, all networks
        self.comm_node_id = -1
        self.dtc_setting_on = True
        self.dtc_setting_option = None
        self.rapid_power_shutdown = False
        self.reset_kind = 0
        self.busy_rejects = 0
        self._clear_request()
        self._rsp_len = 0
        self._rsp_queued = False
        self._resetting = False
        self._s3_at = None
        self.link_baud = 0              # EV_LINK_CONTROL details
        self.link_mode = 0
        self.secure_diag = False        # the 0x84 inner request is running
        self.secure_required = b""      # SIDs refused with 0x38 outside 0x84
        self.exec_sprmib = False        # execute(): the request's SPRMIB
        self.exec_spec = None           # execute(): the spec that ran (or None)
        bs = self._build_specs
        for i in range(len(bs)):
            bs[i].on_build(self)

    # ---- construction ------------------------------------------------------------
    def _build(self, specs):
        self._entries = build_table(specs, self.profile)
        self._specs = [self._entries[sid].spec for sid in sorted(self._entries)]
        self._session_specs = [s for s in self._specs if s.on_session is not None]
        self._reset_specs = [s for s in self._specs if s.on_reset is not None]
        self._timer_specs = [s for s in self._specs if s.on_timer is not None]
        self._deadline_specs = [s for s in self._specs if s.deadline is not None]
        self._unsol_specs = [s for s in self._specs if s.pop_unsolicited is not None]
        self._build_specs = [s for s in self._specs if getattr(s, "on_build", None) is not None]

    def _load_nvm(self):
        """Written DIDs and memory survive power cycles: overlay the NVM copies."""
        if self.nvm is None:
            return
        for did in self.profile.dids:
            d = self.profile.dids[did]
            v = self.nvm.get(d.key)
            if v is not None and len(v) == d.length and d.source is None:
                d.value[0:d.length] = v
        for r in self.profile.memory:
            v = self.nvm.get(r.key)
            if v is not None and len(v) == r.size:
                r.data[0:r.size] = v

    def supports(self, sid):
        return sid in self._entries

    # ---- inputs ------------------------------------------------------------------
    def power_up(self, now):
        """Cold start: default session, security locked (SA delay per NVM)."""
        self._reset_state(now, 0)

    def reset(self, now, kind):
        """The application performed the ECUReset it was asked for (EV_RESET)."""
        self._reset_state(now, kind)

    def feed_pdu(self, now, data, n, functional=False):
        """A whole request PDU (data[0:n]) with its target address type."""
        if not self._up:
            self.power_up(now)
        self._now = now
        if n < 1 or self._resetting:
            return                  # nothing between the reset response and the reset
        sid = data[0]
        if self.trace is not None:
            self.trace(T_REQUEST, sid, n)
        if functional and n == 2 and sid == 0x3E and data[1] == 0x80:
            self._restart_s3(now)   # keep-alive bypass: never blocks, never busy (§8.7.6)
            return
        if self._pend_spec is not None or self._rsp_queued:
            self.busy_rejects += 1
            self._queue_nr(sid, NRC_BRR)
            return
        self._restart_s3(now)
        self._sid = sid
        self._functional = functional
        r = self._check(now, data, n, functional)
        if r == RSP_PENDING:
            spec = self._entries[sid].spec
            if spec.resume is None:
                raise UsageError("RSP_PENDING from a spec without resume")
            self._pend_spec = spec
            self._s3_at = None      # S3 does not run while a request is in progress
            self._p2_at = ticks_add(now, self._p2_us() - self._margin_us)
            return
        self._finish(now, r)

    def on_timer(self, now):
        if not self._up:
            self.power_up(now)
        self._now = now
        self.security.on_timer(now)
        ts = self._timer_specs
        for i in range(len(ts)):
            ts[i].on_timer(self, now)
        spec = self._pend_spec
        if spec is not None:
            d = spec.deadline(self) if spec.deadline is not None else None
            if d is None or due(now, d):
                r = spec.resume(self, now)
                if r != RSP_PENDING:
                    self._finish(now, r)
                    return
            if due(now, self._p2_at):
                # 0x78 before P2 (first) or P2* (later) runs out (§8.7.1)
                self._rcrrp += 1
                self._queue_nr(self._sid, NRC_RCRRP)
                if self.trace is not None:
                    self.trace(T_PENDING, self._sid, self._rcrrp)
                self._p2_at = ticks_add(self._p2_at, self._p2star_us() - self._margin_us)
        elif due(now, self._s3_at):
            self._s3_at = None
            if self.trace is not None:
                self.trace(T_S3_TIMEOUT, self.session, 0)
            self.set_session(now, DEFAULT_SESSION)

    # ---- outputs -----------------------------------------------------------------
    def poll(self):
        return self._events.pop()

    def pop_pdu(self, out):
        """Copy the next outbound PDU into out; its length, or 0."""
        if self._q_count:
            i = self._q_head * 3
            kind = self._q[i]
            if kind == _K_RSP:
                n = self._rsp_len
                if len(out) < n:
                    raise UsageError("buffer too small")
                rsp = self.rsp
                for j in range(n):
                    out[j] = rsp[j]
                self._rsp_queued = False
            else:
                if len(out) < 3:
                    raise UsageError("buffer too small")
                out[0] = 0x7F
                out[1] = self._q[i + 1]
                out[2] = self._q[i + 2]
                n = 3
            self._q_head += 1
            if self._q_head * 3 == len(self._q):
                self._q_head = 0
            self._q_count -= 1
            return n
        if self._pend_spec is None:
            us = self._unsol_specs
            for i in range(len(us)):
                n = us[i].pop_unsolicited(self, out)
                if n:
                    return n
        return 0

    def deadline(self):
        d = earliest(self._s3_at, self.security.deadline())
        ds = self._deadline_specs
        for i in range(len(ds)):
            d = earliest(d, ds[i].deadline(self))
        spec = self._pend_spec
        if spec is not None:
            d = earliest(d, self._p2_at)
            if spec.deadline is None or spec.deadline(self) is None:
                d = earliest(d, self._now)      # resume on the next on_timer
        return d

    # ---- for service modules -----------------------------------------------------
    def set_session(self, now, new):
        """Enter session `new` with the transition effects of digest §5.2."""
        old = self.session
        self.old_session = old
        self.session = new
        if not (old == DEFAULT_SESSION and new != DEFAULT_SESSION):
            # every transition but default -> non-default re-locks security
            self.security.relock()
            self.set_level(0)
        if new == DEFAULT_SESSION:
            # terminate what default does not support (§10.5, §10.8.1)
            self.set_comm_control(0, 0x03, -1)
            self.set_dtc_setting(True, None)
        ss = self._session_specs
        for i in range(len(ss)):
            ss[i].on_session(self, now, old, new)
        if new == DEFAULT_SESSION:
            self._s3_at = None
        else:
            self._s3_at = ticks_add(now, self._s3_us)
        self._events.push(EV_SESSION_CHANGED)

    def set_level(self, level):
        if level != self.level:
            self.level = level
            self._events.push(EV_SECURITY)

    def set_comm_control(self, control, comm_type, node_id):
        if control != self.comm_control or comm_type != self.comm_type \
                or node_id != self.comm_node_id:
            self.comm_control = control
            self.comm_type = comm_type
            self.comm_node_id = node_id
            self._events.push(EV_COMM_CONTROL)

    def set_dtc_setting(self, on, option):
        self.dtc_setting_option = option
        if on != self.dtc_setting_on:
            self.dtc_setting_on = on
            self._events.push(EV_DTC_SETTING)

    def request_reset(self, kind):
        """ECUReset handler: reset after the (queued) positive response."""
        self._reset_req = kind

    def conditions_nrc(self, now, req, n):
        c = self.conditions
        return 0 if c is None else c(self, now, req, n)

    def access_nrc(self, acc):
        """0, NRC_AR or NRC_SAD for a profile Access (auth is checked first)."""
        if not auth_ok(acc.auth, self.auth_role):
            return NRC_AR
        if not level_ok(acc.levels, self.level):
            return NRC_SAD
        return 0

    def p2_ms(self, session):
        """P2_server_max valid in `session` (profile, else cfg)."""
        t = self.profile.sessions.get(session)
        if t is None or t.p2_ms is None:
            return self.cfg.p2_server_max_ms
        return t.p2_ms

    def p2star_ms(self, session):
        t = self.profile.sessions.get(session)
        if t is None or t.p2star_ms is None:
            return self.cfg.p2star_server_max_ms
        return t.p2star_ms

    def unsolicited_ready(self):
        self._events.push(EV_RESPONSE)

    def set_link(self, mode, baud):
        """LinkControl: the adapter switches the data link now (EV_LINK_CONTROL)."""
        self.link_mode = mode
        self.link_baud = baud
        self._events.push(EV_LINK_CONTROL)

    def execute(self, now, req, n):
        """Run the internal request req[0:n] through the general checks and its
        handler as a physical request; the handler's result (n > 0: response
        in rsp; -nrc; RSP_PENDING: continue through exec_spec.resume; RSP_NONE).
        Nothing is queued and SPRMIB is not applied: exec_sprmib reports it."""
        if n < 1:
            return -NRC_IMLOIF
        e = self._entries.get(req[0])
        self.exec_spec = None if e is None else e.spec
        saved = self._sprmib
        self._sprmib = False
        r = self._check(now, req, n, False)
        self.exec_sprmib = self._sprmib
        self._sprmib = saved
        return r

    # ---- the general checks (§8.7) -----------------------------------------------
    def _check(self, now, data, n, functional):
        e = self._entries.get(data[0])
        if e is None:
            return -NRC_SNS
        if not session_ok(e.sessions, self.session):
            return -NRC_SNSIAS
        if self.secure_required and data[0] in self.secure_required and not self.secure_diag:
            return -NRC_SDTR
        if not auth_ok(e.auth, self.auth_role):
            return -NRC_AR
        if not level_ok(e.levels, self.level):
            return -NRC_SAD
        spec = e.spec
        if spec.has_sf:
            if n < 2:
                return -NRC_IMLOIF
            sf = data[1]
            self._sprmib = (sf & 0x80) != 0
            s = e.sfs.get(sf & 0x7F)
            if s is None:
                return -NRC_SFNS
            if not session_ok(s.sessions, self.session):
                return -NRC_SFNSIAS
            if not auth_ok(s.auth, self.auth_role):
                return -NRC_AR
            if not level_ok(s.levels, self.level):
                return -NRC_SAD
            if (s.exact_len >= 0 and n != s.exact_len) or n < s.min_len:
                return -NRC_IMLOIF
        elif n < spec.min_len:
            return -NRC_IMLOIF
        return spec.handler(self, now, data, n, functional)

    def _finish(self, now, r):
        sid = self._sid
        sent78 = self._rcrrp > 0
        if r == RSP_NONE:
            pass
        elif r > 0:
            if self._sprmib and not sent78:
                if self.trace is not None:
                    self.trace(T_SUPPRESSED, sid, 0)
            else:
                self._rsp_len = r
                self._queue(_K_RSP, sid, 0)
                self._rsp_queued = True
                if self.trace is not None:
                    self.trace(T_RESPONSE, sid, 0)
        else:
            nrc = -r
            if self._functional and not sent78 and suppressed_if_functional(nrc):
                if self.trace is not None:
                    self.trace(T_SUPPRESSED, sid, nrc)
            else:
                self._queue_nr(sid, nrc)
        was_pending = self._pend_spec is not None
        kind = self._reset_req
        self._clear_request()
        if was_pending:
            self._restart_s3(now)
        if kind >= 0 and r > 0:             # positive (maybe suppressed): reset now
            self.reset_kind = kind
            self._resetting = True
            self._events.push(EV_RESET)

    def _clear_request(self):
        self._pend_spec = None
        self._p2_at = None
        self._rcrrp = 0
        self._sprmib = False
        self._functional = False
        self._sid = 0
        self._reset_req = -1

    def _queue_nr(self, sid, nrc):
        self._queue(_K_NR, sid, nrc)
        if self.trace is not None and nrc != NRC_RCRRP:
            self.trace(T_RESPONSE, sid, nrc)

    def _queue(self, kind, sid, nrc):
        if self._q_count * 3 == len(self._q):
            self.dropped += 1
            return
        i = self._q_head + self._q_count
        if i * 3 >= len(self._q):
            i -= len(self._q) // 3
        i *= 3
        self._q[i] = kind
        self._q[i + 1] = sid
        self._q[i + 2] = nrc
        self._q_count += 1
        self._events.push(EV_RESPONSE)

    def _restart_s3(self, now):
        # S3 does not run while a request is in progress (it restarts when
        # the final response is queued)
        if self.session != DEFAULT_SESSION and self._pend_spec is None:
            self._s3_at = ticks_add(now, self._s3_us)

    def _p2_us(self):
        return self.p2_ms(self.session) * 1000

    def _p2star_us(self):
        return self.p2star_ms(self.session) * 1000

    def _reset_state(self, now, kind):
        """Power-up / reset (§5.2): default session, locked, CC and DTC setting
        back to normal; the SA delay per NVM (§10.4.1)."""
        self._up = True
        self._now = now
        self._clear_request()
        self._q_count = 0
        self._rsp_queued = False
        self._resetting = False
        self.old_session = self.session
        self.session = DEFAULT_SESSION
        self._s3_at = None
        self.security.power_up(now, self.profile.delay_always_at_power_up)
        self.level = 0
        self.auth_role = 0
        self.comm_control = 0
        self.comm_type = 0x03
        self.comm_node_id = -1
        self.dtc_setting_on = True
        self.dtc_setting_option = None
        rs = self._reset_specs
        for i in range(len(rs)):
            rs[i].on_reset(self, now, kind)


