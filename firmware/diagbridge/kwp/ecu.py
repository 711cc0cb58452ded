# KwpEcu: a KWP2000 ECU on the K-Line, the UDS server (uds/server/core.py, with
# the KWP service table of kwp/services/) bound to the K-Line data link's ECU
# machine (kline/ecu.py).  The same verbs as KLineEcu, so a K-Line adapter or
# the simulated wire (sim/kline_ecu.py) carries it unchanged:
#
#   feed_byte(now, b, flags); feed_line(now, level); on_timer(now)
#   poll() -> kline EV_* (EV_INIT, EV_REQUEST, EV_SENT, EV_ERROR, EV_TIMING,
#             EV_STOPPED) with result / peer; pop_byte(now); pop_line(now); deadline()
#
# What the binding does:
# - EV_REQUEST: the request (SId + parameters) goes to srv.feed_pdu; the
#   server's answer is handed to link.respond() (the link sends it P2 after
#   the request).  A handler that takes longer gets 7F SId 78 before P2 and
#   again before every P2* (the server's pending machinery); the link then
#   takes the next answer, and the final one closes the request.  Nothing is
#   answered when the server stays silent (testerPresent 3E 02, a suppressed
#   functional refusal): the link drops the request after P2max.
# - Negative responses are rewritten into ISO 14230-3 codes (kwp/nrc.kwp_rc;
#   a wrong length is the profile's kwp.length_nrc).
# - Sessions end with the link: EV_INIT (StartCommunication, also a re-init)
#   and EV_STOPPED (StopCommunication, or P3max without a request: KWP's S3)
#   return the server to the standard session 0x81, so security re-locks.
#   The server's own S3 is off (srv.s3_enabled = False).
# - startDiagnosticSession 0x82 answered positively switches the link to
#   periodic transmission; stopDiagnosticSession 0x20 switches it back;
#   if the link leaves periodic mode on its own the session returns to 0x81.
# - ecuReset: the server's EV_RESET is performed (srv.reset) once the
#   positive response is out on the wire.
# Buffers are allocated here, once; the per-byte path allocates nothing.
from diagbridge._compat import copy_into
from diagbridge.clock import earliest
from diagbridge.codes import K_TIMEOUT_P2MAX
from diagbridge.kline import frame as F
from diagbridge.kline.config import EcuConfig
from diagbridge.kline.ecu import KLineEcu
from diagbridge.kline.events import (EventRing, EV_INIT, EV_REQUEST, EV_SENT, EV_ERROR,
                                     EV_TIMING, EV_STOPPED)
from diagbridge.uds.server.config import UdsServerConfig
from diagbridge.uds.server.core import UdsServer, EV_RESET
from diagbridge.uds.server.profile import Profile
from diagbridge.errors import ConfigError
from diagbridge.kwp.nrc import kwp_rc, RC_RCR_RP
from diagbridge.kwp.services import specs_for
from diagbridge.kwp.sid import SID_SDS, SID_SPDS, SDS_PERIODIC, SID_NR


def link_config(profile, **kw):
    """An EcuConfig from the profile's addresses (kline_address, kline_groups)."""
    a = profile.addresses
    return EcuConfig(address=a.get("kline_address", 0x10), groups=a.get("kline_groups", ()),
                     **kw)


def server_config(**kw):
    """UdsServerConfig for K-Line: responses up to 255 bytes (one message)."""
    kw.setdefault("max_pdu", F.MAX_DATA)
    return UdsServerConfig(**kw)


class KwpEcu:
    def __init__(self, profile, link_cfg=None, srv_cfg=None, nvm=None, conditions=None,
                 sources=None, urandom=None, sha256=None, trace=None, events=8):
        if isinstance(profile, dict):
            profile = Profile(profile, sources)
        if profile.protocol != "kwp":
            raise ConfigError("protocol")
        self.profile = profile
        self.link = KLineEcu(link_cfg if link_cfg is not None else link_config(profile), trace)
        self.srv = UdsServer(profile, srv_cfg if srv_cfg is not None else server_config(),
                             nvm, specs_for(profile), conditions, None, urandom, sha256)
        self.srv.s3_enabled = False
        self._length_rc = profile.kwp_length_nrc
        self._req = bytearray(F.MAX_DATA)
        self._rsp = bytearray(F.MAX_DATA)
        self._ev = EventRing(events)
        self._can_respond = False
        self._sent_pending = False
        self._reset_kind = -1
        self._reset_after_sent = False
        self.result = 0
        self.peer = 0
        self.responses = 0
        self.discarded = 0          # server answers the link no longer wanted

    # ---- inputs ----------------------------------------------------------------
    def feed_byte(self, now, b, flags):
        self.link.feed_byte(now, b, flags)
        self._pump(now)

    def feed_line(self, now, level):
        self.link.feed_line(now, level)
        self._pump(now)

    def on_timer(self, now):
        self.link.on_timer(now)
        self.srv.on_timer(now)
        self._pump(now)

    # ---- outputs ---------------------------------------------------------------
    def poll(self):
        ev = self._ev.pop()
        if ev:
            self.result = self._ev.result
            self.peer = self._ev.peer
        return ev

    def pop_byte(self, now):
        return self.link.pop_byte(now)

    def pop_line(self, now):
        return self.link.pop_line(now)

    def deadline(self):
        return earliest(self.link.deadline(), self.srv.deadline())

    # ---- the binding -------------------------------------------------------------
    def _pump(self, now):
        link = self.link
        srv = self.srv
        ev = link.poll()
        while ev:
            if ev == EV_REQUEST:
                n = link.data_len
                copy_into(self._req, 0, link.payload, link.data_off, n)
                self._can_respond = True
                self._sent_pending = False
                srv.feed_pdu(now, self._req, n, link.functional)
            elif ev == EV_INIT or ev == EV_STOPPED:
                self._can_respond = False
                self._default_session(now)
            elif ev == EV_SENT:
                if self._sent_pending:
                    self._can_respond = True        # the 0x78 is out: the next answer may go
                elif self._reset_after_sent:
                    self._reset_after_sent = False
                    srv.reset(now, self._reset_kind)
                    self._reset_kind = -1
            elif ev == EV_ERROR and link.result == K_TIMEOUT_P2MAX:
                self._can_respond = False           # the link dropped the request
            elif ev == EV_TIMING and not link.periodic and srv.session == SDS_PERIODIC:
                self._default_session(now)          # periodic mode ended on the link
            self._ev.push(ev, link.result, link.peer)
            ev = link.poll()
        sev = srv.poll()
        while sev:
            if sev == EV_RESET:
                self._reset_kind = srv.reset_kind
            sev = srv.poll()
        self._answer(now)

    def _answer(self, now):
        srv = self.srv
        if not self._can_respond:
            n = srv.pop_pdu(self._rsp)
            while n:
                self.discarded += 1
                n = srv.pop_pdu(self._rsp)
            return
        rsp = self._rsp
        n = srv.pop_pdu(rsp)
        if not n:
            return
        link = self.link
        pending = False
        if rsp[0] == SID_NR and n == 3:
            rsp[2] = kwp_rc(rsp[1], rsp[2], self._length_rc)
            pending = rsp[2] == RC_RCR_RP
        elif rsp[0] == SID_SDS + 0x40 and n == 2 and rsp[1] == SDS_PERIODIC:
            link.set_periodic(True)
        elif rsp[0] == SID_SPDS + 0x40 and link.periodic:
            link.set_periodic(False)
        self._can_respond = False
        self._sent_pending = pending
        if not pending and self._reset_kind >= 0:
            self._reset_after_sent = True
        self.responses += 1
        link.respond(now, rsp, n)

    def _default_session(self, now):
        srv = self.srv
        if srv.session != srv.default_session:
            srv.set_session(now, srv.default_session)
