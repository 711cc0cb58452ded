# UdsServer: the ECU side of ISO 14229-1, sans-I/O.
#
#   srv = UdsServer(profile, cfg=None, nvm=None, specs=None, conditions=None, trace=None,
#                   urandom=None, sha256=None)
#   srv.feed_pdu(now, data, n, functional)  one whole request PDU from the transport
#   srv.on_timer(now)                       P2/P2* 0x78 cadence, S3, SA delay, services
#   ev = srv.poll()                         EV_* below, or EV_NONE
#   n = srv.pop_pdu(out)                    next response / 0x78 / unsolicited PDU; 0 = none
#   srv.deadline()                          tick for the next on_timer, or None
#   srv.reset(now, kind)                    the application performed an ECUReset
#   srv.power_up(now)                       cold start (done on the first input if not called)
#
# Constructing the server is the ECU's power-up: SecurityAccess seeds its
# seed generator then (security_access.py, seed_source.py) from `urandom`
# (the platform's entropy, fn(n) -> bytes: os.urandom on CPython and
# MicroPython) and a boot counter it stores in `nvm`; `sha256` is a
# hashlib.sha256-like constructor (None: a portable implementation).
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
#   then the general checks and the handler (service_table.py).  SPRMIB
#   suppresses a positive response unless a 0x78 went out first; for
#   functional requests 11/12/31/7E/7F are not sent, again unless a 0x78
#   went out first (§8.7.5).  Responses wait in an RspQueue (rsp_queue.py).
#   A handler that returns RSP_PENDING gets 7F SID 78 pending_margin_ms before
#   P2_server expires and again before each P2*_server (pending.py).
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
# max_dids, busy_rejects, trace, link_baud, link_mode, secure_diag,
# default_session (profile.default_session: 0x81 for a KWP2000 profile, else
# 0x01), s3_enabled (False: S3 never runs; the data link ends the session,
# as K-Line's P3max does for KWP2000).
#
# Internal requests: execute(now, req, n) runs a request through the checks
# above (from "SID supported" on) and its handler, without the busy check,
# queueing, SPRMIB or S3, and returns the handler's result; ROE's
# serviceToRespondTo and the 0x84 inner request use it.  A SID listed in
# secure_required (set by services/secured from the profile) is refused with
# 0x38 unless it arrives inside 0x84 (secure_diag), after the session check
# (§16.1.4; Fig 39 is missing from the source: position [K?]).
from diagbridge._compat import const
from diagbridge.clock import ticks_add, due, earliest
from diagbridge.evq import EventQueue
from diagbridge.uds.server.config import (UdsServerConfig, session_ok, level_ok, auth_ok,
                                   DEFAULT_SESSION)     # session_ok: re-exported
from diagbridge.uds.nrc import (NRC_AR, NRC_SAD, NRC_BRR, NRC_RCRRP,
                                suppressed_if_functional)
from diagbridge.uds.server.pending import Pending
from diagbridge.uds.server.profile import Profile, overlay_nvm
from diagbridge.uds.server.rsp_queue import RspQueue
from diagbridge.uds.server.security_access import SecurityAccess
from diagbridge.uds.server.service import RSP_PENDING, RSP_NONE
from diagbridge.uds.server.service_table import ServiceTable

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


class UdsServer:
    def __init__(self, profile, cfg=None, nvm=None, specs=None, conditions=None, trace=None,
                 urandom=None, sha256=None):
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
        self.security = SecurityAccess(profile.security_levels, nvm, profile.prng_seed,
                                       urandom, sha256)
        self._s3_us = cfg.s3_server_ms * 1000
        self._events = EventQueue(cfg.events)
        self._rq = RspQueue(self.rsp, cfg.nr_queue)
        self._pend = Pending(cfg.pending_margin_ms * 1000)
        self.dropped = 0                # responses lost because the queue was full
        self._table = ServiceTable(specs, profile)
        self._entries = self._table.entries
        overlay_nvm(profile, nvm)       # written DIDs and memory survive power cycles
        self._up = False
        self._now = 0
        # the default session: 0x01 (UDS); a KWP profile's 0x81 (profile.default_session)
        self.default_session = getattr(profile, "default_session", DEFAULT_SESSION)
        self.session = self.default_session
        self.old_session = self.default_session
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
        self._resetting = False
        self._s3_at = None
        self.s3_enabled = True          # False: the data link ends sessions (K-Line P3max)
        self.link_baud = 0              # EV_LINK_CONTROL details
        self.link_mode = 0
        self.secure_diag = False        # the 0x84 inner request is running
        self.secure_required = b""      # SIDs refused with 0x38 outside 0x84
        self.exec_sprmib = False        # execute(): the request's SPRMIB
        self.exec_spec = None           # execute(): the spec that ran (or None)
        bs = self._table.build_specs
        for i in range(len(bs)):
            bs[i].on_build(self)

    # ---- construction ------------------------------------------------------------
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
        rs = self._table.request_specs
        for i in range(len(rs)):
            rs[i].on_request(self, now)     # timers "every request resets" (0x29's)
        if functional and n == 2 and sid == 0x3E and data[1] == 0x80:
            self._restart_s3(now)   # keep-alive bypass: never blocks, never busy (§8.7.6)
            return
        if self._pend.spec is not None or self._rq.rsp_queued:
            self.busy_rejects += 1
            self._queue_nr(sid, NRC_BRR)
            return
        self._restart_s3(now)
        self._sid = sid
        self._functional = functional
        r = self._table.check(self, now, data, n, functional)
        if r == RSP_PENDING:
            self._pend.start(self._entries[sid].spec, now, self._p2_us())
            self._s3_at = None      # S3 does not run while a request is in progress
            return
        self._finish(now, r)

    def on_timer(self, now):
        if not self._up:
            self.power_up(now)
        self._now = now
        self.security.on_timer(now)
        ts = self._table.timer_specs
        for i in range(len(ts)):
            ts[i].on_timer(self, now)
        pd = self._pend
        if pd.spec is not None:
            if pd.resume_due(self, now):
                r = pd.spec.resume(self, now)
                if r != RSP_PENDING:
                    self._finish(now, r)
                    return
            if pd.rcrrp_due(now):
                # 0x78 before P2 (first) or P2* (later) runs out (§8.7.1)
                self._queue_nr(self._sid, NRC_RCRRP)
                if self.trace is not None:
                    self.trace(T_PENDING, self._sid, pd.count)
                pd.next_p2star(self._p2star_us())
        elif due(now, self._s3_at):
            self._s3_at = None
            if self.trace is not None:
                self.trace(T_S3_TIMEOUT, self.session, 0)
            self.set_session(now, self.default_session)

    # ---- outputs -----------------------------------------------------------------
    def poll(self):
        return self._events.pop()

    def pop_pdu(self, out):
        """Copy the next outbound PDU into out; its length, or 0."""
        n = self._rq.pop(out)
        if n:
            return n
        if self._pend.spec is None:
            us = self._table.unsol_specs
            for i in range(len(us)):
                n = us[i].pop_unsolicited(self, out)
                if n:
                    return n
        return 0

    def deadline(self):
        d = earliest(self._s3_at, self.security.deadline())
        ds = self._table.deadline_specs
        for i in range(len(ds)):
            d = earliest(d, ds[i].deadline(self))
        pd = self._pend
        if pd.spec is not None:
            d = earliest(d, pd.p2_at)
            if pd.resume_next_timer(self):
                d = earliest(d, self._now)      # resume on the next on_timer
        return d

    # ---- for service modules -----------------------------------------------------
    def set_session(self, now, new):
        """Enter session `new` with the transition effects of digest §5.2."""
        old = self.session
        self.old_session = old
        self.session = new
        dflt = self.default_session
        if not (old == dflt and new != dflt):
            # every transition but default -> non-default re-locks security
            self.security.relock()
            self.set_level(0)
        if new == dflt:
            # terminate what default does not support (§10.5, §10.8.1)
            self.set_comm_control(0, 0x03, -1)
            self.set_dtc_setting(True, None)
        ss = self._table.session_specs
        for i in range(len(ss)):
            ss[i].on_session(self, now, old, new)
        if new == dflt or not self.s3_enabled:
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
        return self._table.execute(self, now, req, n)

    # ---- responses ---------------------------------------------------------------
    def _finish(self, now, r):
        sid = self._sid
        sent78 = self._pend.count > 0
        if r == RSP_NONE:
            pass
        elif r > 0:
            if self._table.sprmib and not sent78:
                if self.trace is not None:
                    self.trace(T_SUPPRESSED, sid, 0)
            else:
                self._queued(self._rq.push_rsp(sid, r))
                if self.trace is not None:
                    self.trace(T_RESPONSE, sid, 0)
        else:
            nrc = -r
            if self._functional and not sent78 and suppressed_if_functional(nrc):
                if self.trace is not None:
                    self.trace(T_SUPPRESSED, sid, nrc)
            else:
                self._queue_nr(sid, nrc)
        was_pending = self._pend.spec is not None
        kind = self._reset_req
        self._clear_request()
        if was_pending:
            self._restart_s3(now)
        if kind >= 0 and r > 0:             # positive (maybe suppressed): reset now
            self.reset_kind = kind
            self._resetting = True
            self._events.push(EV_RESET)

    def _clear_request(self):
        self._pend.clear()
        self._table.sprmib = False
        self._functional = False
        self._sid = 0
        self._reset_req = -1

    def _queue_nr(self, sid, nrc):
        self._queued(self._rq.push_nr(sid, nrc))
        if self.trace is not None and nrc != NRC_RCRRP:
            self.trace(T_RESPONSE, sid, nrc)

    def _queued(self, ok):
        if ok:
            self._events.push(EV_RESPONSE)
        else:
            self.dropped += 1           # the queue was full

    def _restart_s3(self, now):
        # S3 does not run while a request is in progress (it restarts when
        # the final response is queued)
        if self.session != self.default_session and self._pend.spec is None \
                and self.s3_enabled:
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
        self._rq.clear()
        self._resetting = False
        self.old_session = self.session
        self.session = self.default_session
        self._s3_at = None
        self.security.power_up(now, self.profile.delay_always_at_power_up)
        self.level = 0
        self.auth_role = 0
        self.comm_control = 0
        self.comm_type = 0x03
        self.comm_node_id = -1
        self.dtc_setting_on = True
        self.dtc_setting_option = None
        rs = self._table.reset_specs
        for i in range(len(rs)):
            rs[i].on_reset(self, now, kind)


