# Server side of Authentication 0x29 (ISO 14229-1:2020 §10.6, uds-digest §7):
# APCE (certificate exchange, uni- and bidirectional), ACR (challenge-
# response, symmetric or asymmetric), transmitCertificate,
# authenticationConfiguration and deAuthenticate.  The layouts are
# uds/codec/auth.py; the crypto is a provider (uds/server/auth_crypto.py).
#
# The authenticated state sets srv.auth_role, a mask of role bits, so the
# general checks (service_table.py) and srv.access_nrc() grant what a
# profile protects with "auth" (services, sub-functions, DIDs, routines,
# memory).  It is per diagnostic channel (§10.6.4): one UdsServer serves one
# physical channel (ecu.Ecu), so the state lives in srv.uds_auth and a second
# channel has its own.  It ends (auth_role = 0, session key dropped) on:
#   29 00 deAuthenticate (rv 0x10), always available, even without crypto;
#   a session transition to a different session, which includes the S3
#     timeout back to the default session (the project's implicit exit; §10.6.4
#     requires at least one: S3 restarts with every request in a non-default
#     session, so it is the standard's "timer reset by every request");
#   ECUReset and power-up;
#   "idle_timeout_ms" without a request (optional): §10.6.4's timer, started on
#     entering the state and reset by every request the server takes (the
#     service contract's on_request), in the default session too;
#   "max_age_ms" after it was entered (optional).
# A new attempt while authenticated keeps the old rights until it succeeds
# (§10.6.4); a failed attempt grants nothing and blocks nothing else.
#
# Profile section (every key optional):
#   authentication: {
#     "mode": "apce" | "acr_asym" | "acr_sym"      (0x08 answers 02 / 03 / 04)
#     "sub_functions": [0x00, ...]    default: apce 00 01 03 04 08 (+02 with a
#                                     server key), acr 00 05 06 07 08
#     "roles": {"workshop": 0x01, ...}    role name (from a certificate) -> auth_role bits
#     "roots": [PEM/DER bytes | path]     trust anchors, handed to the provider's
#                                         add_roots() (CPython: paths are read there)
#     "server_key": private key, "server_certificate": bytes   (0x02, 0x07 asym)
#     "acr": {"key": bytes (symmetric pre-shared key) | "public_key": bytes,
#             "role": name | int}         the rights ACR grants
#     "challenge_len": 32, "challenge_timeout_ms": 5000, "max_age_ms": 0 (off),
#     "idle_timeout_ms": 0 (off),
#     "max_certificates": 4               transmitCertificate slots
#     "provider": an AuthCrypto, "clock": fn() -> Unix seconds (the ECU's
#                 trusted time for certificate validity; None: the provider's)}
#   set_provider(srv, provider, clock=None) does the same from an adapter.
#
# Results (NR for every failure, the project's choice of §13 #3; nothing is
# granted by a failure):
#   no provider                          -> 0x22 conditionsNotCorrect (all but 0x00)
#   a layout that does not fit           -> 0x13
#   certificate: 0x50-0x57 (from the provider), no configured role -> 0x56
#   0x03 / 0x06 / 0x07 without a live challenge (none issued, already
#     used, or older than challenge_timeout_ms)               -> 0x24
#   0x05 with an algorithm the server does not offer, or 0x06/0x07 with a
#     different algorithmIndicator than 0x05                 -> 0x31
#   wrong proof of ownership                                  -> 0x58
#   server proof or challenge cannot be made                  -> 0x59
#   session key requested but not derivable                   -> 0x5B
#   transmitCertificate slots full                            -> 0x31
# Each challenge serves one attempt: a wrong proof needs a new 0x01/0x05.
from diagbridge._compat import const
from diagbridge.clock import ticks_add, ticks_diff
from diagbridge.errors import ConfigError
from diagbridge.uds.codec.auth import (parse_auth_request, build_auth_response, AI_LEN,
                                       RV_DEAUTHENTICATION_SUCCESSFUL, RV_REQUEST_ACCEPTED,
                                       RV_AUTH_CONFIG_APCE, RV_AUTH_CONFIG_ACR_ASYM,
                                       RV_AUTH_CONFIG_ACR_SYM, RV_CERT_VERIFIED,
                                       RV_CERT_VERIFIED_OWNERSHIP_NEEDED,
                                       RV_OWNERSHIP_VERIFIED_AUTH_COMPLETE,
                                       apce_client_content, apce_server_content,
                                       acr_client_content, acr_server_content, session_keys)
from diagbridge.uds.nrc import (NRC_IMLOIF, NRC_CNC, NRC_RSE, NRC_ROOR, NRC_CVF_ISCP,
                                NRC_OVF, NRC_CCF, NRC_SKCDF)
from diagbridge.uds.server.auth_crypto import ct_equal
from diagbridge.uds.server.profile_values import key_int, to_bytes
from diagbridge.uds.server.service import ServiceSpec, SubFunction
from diagbridge.uds.sid import SID_ARS

_MODES = {"apce": RV_AUTH_CONFIG_APCE, "acr_asym": RV_AUTH_CONFIG_ACR_ASYM,
          "acr_sym": RV_AUTH_CONFIG_ACR_SYM}

# what a pending challenge is for
P_NONE = const(0)
P_APCE = const(1)           # after 0x01 / 0x02: waiting for 0x03
P_ACR = const(2)            # after 0x05: waiting for 0x06 / 0x07


def _cfg(srv):
    raw = getattr(srv.profile, "raw", None) or {}
    c = raw.get("authentication") or {}
    if not isinstance(c, dict):
        raise ConfigError("authentication")
    return c


def _int(c, k, default, lo, hi):
    v = c.get(k, default)
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        raise ConfigError("authentication." + k)
    return v


def _role(v, roles, path):
    if isinstance(v, str):
        if v not in roles:
            raise ConfigError(path)
        return roles[v]
    if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= 0x7FFFFFFF:
        raise ConfigError(path)
    return v


class AuthContext:
    """The 0x29 state of one server (one diagnostic channel)."""

    def __init__(self, srv):
        c = _cfg(srv)
        self.mode = c.get("mode", "apce")
        if self.mode not in _MODES:
            raise ConfigError("authentication.mode")
        roles = c.get("roles", {})
        if not isinstance(roles, dict):
            raise ConfigError("authentication.roles")
        self.roles = {}
        for k in roles:
            if not isinstance(k, str):
                raise ConfigError("authentication.roles")
            self.roles[k] = _role(roles[k], {}, "authentication.roles." + k)
        self.roots = c.get("roots", ())
        self.server_key = c.get("server_key")
        self.server_cert = c.get("server_certificate")
        if self.server_cert is not None:
            self.server_cert = to_bytes(self.server_cert, "authentication.server_certificate")
        a = c.get("acr") or {}
        if not isinstance(a, dict):
            raise ConfigError("authentication.acr")
        self.acr_key = None
        self.acr_public = a.get("public_key")
        if a.get("key") is not None:
            self.acr_key = to_bytes(a["key"], "authentication.acr.key")
        self.acr_role = _role(a.get("role", 1), self.roles, "authentication.acr.role")
        if self.mode == "acr_sym" and self.acr_key is None:
            raise ConfigError("authentication.acr.key")
        if self.mode == "acr_asym" and self.acr_public is None:
            raise ConfigError("authentication.acr.public_key")
        self.challenge_len = _int(c, "challenge_len", 32, 8, 255)
        self.challenge_us = _int(c, "challenge_timeout_ms", 5000, 1, 3600000) * 1000
        self.max_age_us = _int(c, "max_age_ms", 0, 0, 86400000) * 1000
        self.idle_us = _int(c, "idle_timeout_ms", 0, 0, 86400000) * 1000
        self.max_certs = _int(c, "max_certificates", 4, 0, 64)
        sfs = c.get("sub_functions")
        if sfs is None:
            if self.mode == "apce":
                sfs = (0, 1, 3, 4, 8) if self.server_key is None else (0, 1, 2, 3, 4, 8)
            else:
                sfs = (0, 5, 6, 7, 8)
        self.sub_functions = tuple(key_int(s, "authentication.sub_functions", 8) for s in sfs)
        self.provider = None
        self.clock = None
        self._pub = None
        set_provider(srv, c.get("provider"), c.get("clock"), self)
        self.certs = {}             # certificateEvaluationId -> (public key, role bits)
        self.session_key = None
        self.authenticated_at = None
        self.last_request = None    # the idle timer's start (idle_timeout_ms)
        self.failures = 0           # failed attempts (for the application's statistics)
        self._clear_pending()

    def _clear_pending(self):
        self.pending = P_NONE
        self.challenge = b""
        self.challenge_client = b""
        self.issued_at = 0
        self.cand_key = None        # the client certificate's public key
        self.cand_role = 0
        self.eph_private = None
        self.comm_config = 0
        self.ai = None

    def live(self, now, kind):
        """The pending challenge is for `kind` and not older than challenge_timeout_ms."""
        return self.pending == kind and ticks_diff(now, self.issued_at) <= self.challenge_us

    def role_bits(self, names):
        m = 0
        for r in names or ():
            m |= self.roles.get(r, 0)
        return m

    def now_s(self):
        return None if self.clock is None else self.clock()

    def grant(self, srv, now, bits, key):
        srv.auth_role = bits
        self.session_key = key
        self.authenticated_at = now
        self.last_request = now

    def end(self, srv):
        srv.auth_role = 0
        self.session_key = None
        self.authenticated_at = None
        self.last_request = None
        self.certs = {}
        self._clear_pending()


def set_provider(srv, provider, clock=None, ctx=None):
    """Give the server's 0x29 its crypto provider (an AuthCrypto) and the
    ECU's wall clock (fn() -> Unix seconds, None: the provider's own)."""
    ctx = ctx if ctx is not None else srv.uds_auth
    if clock is not None and not callable(clock):
        raise ConfigError("authentication.clock")
    ctx.provider = provider
    ctx.clock = clock
    ctx._pub = None
    add = getattr(provider, "add_roots", None)
    if add is not None and ctx.roots:
        add(ctx.roots)                  # the profile's trust anchors (bytes or paths)
    if provider is not None and ctx.acr_public is not None:
        ctx._pub = provider.load_public_key(ctx.acr_public)
        if ctx._pub is None:
            raise ConfigError("authentication.acr.public_key")


def _respond(srv, sf, fields):
    return build_auth_response(srv.rsp, sf, fields)


def _fail(ctx, nrc):
    ctx.failures += 1
    return -nrc


def _verify_certificate(srv, now, ctx, sf, vals):
    p = ctx.provider
    comm, cert, cc = vals[0], vals[1], vals[2]
    code, pub, roles = p.verify_chain(cert, ctx.now_s())
    ctx._clear_pending()                # a fresh challenge per attempt
    if code:
        return _fail(ctx, code)
    bits = ctx.role_bits(roles)
    if bits == 0:
        return _fail(ctx, NRC_CVF_ISCP)     # no role this ECU knows
    challenge = p.random(ctx.challenge_len)
    if challenge is None or len(challenge) != ctx.challenge_len:
        return -NRC_CCF
    eph_pub = b""
    eph_priv = None
    if comm != 0:
        kp = p.ecdh_keypair()
        if kp is None:
            return -NRC_SKCDF
        eph_priv, eph_pub = kp
    if sf == 0x02:
        if ctx.server_key is None or ctx.server_cert is None:
            return -NRC_CCF
        pown = p.sign(ctx.server_key, apce_server_content(cc, challenge, eph_pub))
        if not pown:
            return -NRC_CCF
        fields = (RV_CERT_VERIFIED_OWNERSHIP_NEEDED, challenge, ctx.server_cert, pown, eph_pub)
    else:
        fields = (RV_CERT_VERIFIED_OWNERSHIP_NEEDED, challenge, eph_pub)
    ctx.pending = P_APCE
    ctx.challenge = challenge
    ctx.challenge_client = cc
    ctx.issued_at = now
    ctx.cand_key = pub
    ctx.cand_role = bits
    ctx.eph_private = eph_priv
    ctx.comm_config = comm
    return _respond(srv, sf, fields)


def _proof_of_ownership(srv, now, ctx, vals):
    p = ctx.provider
    if not ctx.live(now, P_APCE):
        ctx._clear_pending()
        return _fail(ctx, NRC_RSE)          # no challenge, already used, or stale
    pown, eph_c = vals[0], vals[1]
    cs, pub, bits, eph_priv, comm = (ctx.challenge, ctx.cand_key, ctx.cand_role,
                                     ctx.eph_private, ctx.comm_config)
    content = apce_client_content(cs, ctx.challenge_client, eph_c)
    ctx._clear_pending()                # one attempt per challenge
    if not p.verify(pub, content, pown):
        return _fail(ctx, NRC_OVF)
    key = None
    ski = b""
    if comm != 0:
        if eph_priv is None or not eph_c:
            return _fail(ctx, NRC_SKCDF)
        shared = p.ecdh(eph_priv, eph_c)
        if not shared:
            return _fail(ctx, NRC_SKCDF)
        key, ski = session_keys(p.hkdf, shared, cs)
    ctx.grant(srv, now, bits, key)
    return _respond(srv, 0x03, (RV_OWNERSHIP_VERIFIED_AUTH_COMPLETE, ski))


def _transmit_certificate(srv, now, ctx, vals):
    cid, cert = vals[0], vals[1]
    code, pub, roles = ctx.provider.verify_chain(cert, ctx.now_s())
    if code:
        return _fail(ctx, code)
    if cid not in ctx.certs and len(ctx.certs) >= ctx.max_certs:
        return -NRC_ROOR
    bits = ctx.role_bits(roles)
    ctx.certs[cid] = (pub, bits)        # the same id replaces the earlier one
    if srv.auth_role:
        srv.auth_role |= bits           # extra rights for an authenticated tester
    return _respond(srv, 0x04, (RV_CERT_VERIFIED,))


def _request_challenge(srv, now, ctx, vals):
    p = ctx.provider
    comm, ai = vals[0], vals[1]
    ctx._clear_pending()
    if ai not in p.algorithms():
        return _fail(ctx, NRC_ROOR)
    challenge = p.random(ctx.challenge_len)
    if challenge is None or len(challenge) != ctx.challenge_len:
        return -NRC_CCF
    ctx.pending = P_ACR
    ctx.challenge = challenge
    ctx.issued_at = now
    ctx.comm_config = comm
    ctx.ai = ai
    return _respond(srv, 0x05, (RV_REQUEST_ACCEPTED, ai, challenge, b""))


def _verify_pown_acr(srv, now, ctx, sf, vals):
    p = ctx.provider
    if not ctx.live(now, P_ACR):
        ctx._clear_pending()
        return _fail(ctx, NRC_RSE)
    ai, pown, cc, add = vals
    cs, comm, ai0 = ctx.challenge, ctx.comm_config, ctx.ai
    ctx._clear_pending()
    if ai != ai0:
        return _fail(ctx, NRC_ROOR)         # the algorithm of 0x05 (§10.6.5.1)
    content = acr_client_content(cs, cc, add)
    if ctx.mode == "acr_sym":
        ok = ct_equal(p.mac(ai, ctx.acr_key, content), pown)
    else:
        ok = p.acr_verify(ai, ctx._pub, content, pown)
    if not ok:
        return _fail(ctx, NRC_OVF)
    pown_s = b""
    if sf == 0x07:
        if ctx.mode == "acr_sym":
            pown_s = p.mac(ai, ctx.acr_key, acr_server_content(cc, cs))
        elif ctx.server_key is not None:
            pown_s = p.sign(ctx.server_key, acr_server_content(cc, cs))
        if not pown_s:
            return -NRC_CCF
    key = None
    ski = b""
    if comm != 0:
        if ctx.acr_key is None:
            return _fail(ctx, NRC_SKCDF)    # asymmetric ACR has no shared secret
        key, ski = session_keys(p.hkdf, ctx.acr_key, cs + cc)
    ctx.grant(srv, now, ctx.acr_role, key)
    if sf == 0x07:
        return _respond(srv, 0x07, (RV_OWNERSHIP_VERIFIED_AUTH_COMPLETE, ai, pown_s, ski))
    return _respond(srv, 0x06, (RV_OWNERSHIP_VERIFIED_AUTH_COMPLETE, ai, ski))


def _auth(srv, now, req, n, functional):
    ctx = srv.uds_auth
    r = parse_auth_request(req, n)
    if r is None:
        return -NRC_IMLOIF
    sf, vals = r
    if sf == 0x00:
        ctx.end(srv)
        return _respond(srv, 0x00, (RV_DEAUTHENTICATION_SUCCESSFUL,))
    if ctx.provider is None:
        return -NRC_CNC                 # no crypto on this platform
    if sf == 0x08:
        return _respond(srv, 0x08, (_MODES[ctx.mode],))
    if sf == 0x01 or sf == 0x02:
        return _verify_certificate(srv, now, ctx, sf, vals)
    if sf == 0x03:
        return _proof_of_ownership(srv, now, ctx, vals)
    if sf == 0x04:
        return _transmit_certificate(srv, now, ctx, vals)
    if sf == 0x05:
        return _request_challenge(srv, now, ctx, vals)
    return _verify_pown_acr(srv, now, ctx, sf, vals)


def _build(srv):
    srv.uds_auth = AuthContext(srv)


def _sfs(profile):
    raw = getattr(profile, "raw", None) or {}
    c = raw.get("authentication") or {}
    mode = c.get("mode", "apce") if isinstance(c, dict) else "apce"
    sfs = c.get("sub_functions") if isinstance(c, dict) else None
    if sfs is None:
        if mode == "apce":
            sfs = (0, 1, 3, 4, 8) if c.get("server_key") is None else (0, 1, 2, 3, 4, 8)
        else:
            sfs = (0, 5, 6, 7, 8)
    out = []
    for s in sfs:
        s = key_int(s, "authentication.sub_functions", 8)
        exact = 2 if s == 0x00 or s == 0x08 else -1
        # 0x05 is communicationConfiguration + the 16-byte algorithmIndicator
        if s == 0x05:
            exact = 3 + AI_LEN
        out.append(SubFunction(s, exact_len=exact))
    return tuple(out)


def _on_session(srv, now, old, new):
    if old != new:
        srv.uds_auth.end(srv)


def _on_reset(srv, now, kind):
    srv.uds_auth.end(srv)


def _deadline(srv):
    ctx = srv.uds_auth
    if ctx.authenticated_at is None:
        return None
    d = None
    if ctx.max_age_us:
        d = ticks_add(ctx.authenticated_at, ctx.max_age_us)
    if ctx.idle_us:
        i = ticks_add(ctx.last_request, ctx.idle_us)
        if d is None or ticks_diff(i, d) < 0:
            d = i
    return d


def _on_timer(srv, now):
    ctx = srv.uds_auth
    if ctx.authenticated_at is None:
        return
    if ctx.max_age_us and ticks_diff(now, ctx.authenticated_at) >= ctx.max_age_us:
        ctx.end(srv)
    elif ctx.idle_us and ticks_diff(now, ctx.last_request) >= ctx.idle_us:
        ctx.end(srv)


def _on_request(srv, now):
    ctx = srv.uds_auth
    if ctx.authenticated_at is not None:
        ctx.last_request = now              # every request resets the idle timer


SPECS = (
    ServiceSpec(SID_ARS, _auth, has_sf=True, min_len=2, sub_functions_for=_sfs,
                on_session=_on_session, on_reset=_on_reset, on_build=_build,
                deadline=_deadline, on_timer=_on_timer, on_request=_on_request),
)
