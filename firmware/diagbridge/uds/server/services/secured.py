# Server side of SecuredDataTransmission 0x84 (§16, uds-digest §10.12, §11.2):
# the security sub-layer.  It checks the security fields, verifies and
# decrypts, runs the internal request through the server's general checks
# and handler (srv.execute, with srv.secure_diag set: A_Mtype secureDiag)
# and wraps the internal response -- positive or negative -- in a positive
# C4 response (§16.2.4 NOTE 1).  A failure of the 0x84 message itself is a
# plain `7F 84 NRC` (§16.1.3).  0x84 has no session or security level of its
# own (§16.1.3): its spec allows every session.
#
# Crypto is pluggable; the core imports no hashlib.  Callables (profile
# "secured" section, or set_crypto(srv, ...) from the adapter):
#   verify(calc, msg, start, end, sig_pos, sig_len) -> bool
#       the signature msg[sig_pos:sig_pos+sig_len] of msg[start:end]
#   sign(calc, buf, start, end, out_pos) -> signature_len written at out_pos
#   decrypt(calc, src, start, end, dst) -> plaintext length in dst, or -1
#   encrypt(calc, src, start, end, dst, dst_pos) -> length written, or -1
# The portable default has none of them, and requires a signature: every
# 0x84 then fails with 0x3A (fail closed) until the adapter injects a MAC
# (an HMAC from hashlib on CPython, say).  codec/secured has the §16.2.5
# example's one's-complement signature as a test double.
#
# Profile section (optional):
#   secured: {"calcs": [0x00], "require_signature": True,
#             "signature_len": 2, "required": [sid, ..] (-> 0x38 outside 0x84),
#             "not_allowed": [sid, ..] (-> 0x39 inside), "verify": fn, ...}
# Anti-replay: the counter must be newer than the last accepted one
# (16-bit serial arithmetic, 1..0x7FFF ahead); the first one after power-up
# is taken as is.  The response echoes the request's counter [K?].
#
# Check order (Fig 39 / Table 496 are missing; [K?]): length/header -> 13;
# AdministrativeParameter (request bit, reserved bits) and signature
# presence consistent with SignatureLength -> 13; calculation or a
# requested feature (encryption, response signature) not supported -> 31;
# signature required but absent, signature wrong, counter replayed,
# decryption failed -> 3A; then the internal request: 0x84 itself or a SID
# not allowed in SDT -> internal 7F SID 39; else the server's checks.
from diagbridge.errors import ConfigError
from diagbridge.uds.codec.secured import (AP_REQUEST, AP_ENCRYPTED, AP_SIGNED, AP_SIGN_RESPONSE,
                                          AP_PRE_ESTABLISHED_KEY, AP_RESERVED, HEADER,
                                          put_header, read_header)
from diagbridge.uds.nrc import NRC_IMLOIF, NRC_ROOR, NRC_SDTNA, NRC_SDTF
from diagbridge.uds.server.profile import key_int
from diagbridge.uds.server.service import ServiceSpec, RSP_PENDING, RSP_NONE
from diagbridge.uds.sid import SID_SDT

_FNS = ("verify", "sign", "encrypt", "decrypt")


class SecuredContext:
    def __init__(self, srv):
        raw = getattr(srv.profile, "raw", None) or {}
        c = raw.get("secured") or {}
        if not isinstance(c, dict):
            raise ConfigError("secured")
        self.calcs = bytes(key_int(x, "secured.calcs", 0xFF) for x in c.get("calcs", (0x00,)))
        self.require_signature = c.get("require_signature", True) is not False
        self.signature_len = c.get("signature_len", 2)
        if not isinstance(self.signature_len, int) or not 1 <= self.signature_len <= 512:
            raise ConfigError("secured.signature_len")
        self.not_allowed = bytes(key_int(x, "secured.not_allowed", 0xFF)
                                 for x in c.get("not_allowed", ()))
        srv.secure_required = bytes(key_int(x, "secured.required", 0xFF)
                                    for x in c.get("required", ()))
        for k in _FNS:
            f = c.get(k)
            if f is not None and not callable(f):
                raise ConfigError("secured." + k)
        self.verify = c.get("verify")
        self.sign = c.get("sign")
        self.encrypt = c.get("encrypt")
        self.decrypt = c.get("decrypt")
        self.arc = -1                   # last accepted anti-replay counter
        self.inner = bytearray(len(srv.rsp))    # the (decrypted) internal request
        # the internal response, copied out of srv.rsp by _wrap: the same
        # buffer, since the internal request is never read once its handler
        # has returned (service.py: a handler copies what outlives the call)
        self.out = self.inner
        self.admin = 0
        self.calc = 0
        self.rx_arc = 0


def set_crypto(srv, verify=None, sign=None, encrypt=None, decrypt=None):
    """Install the adapter's crypto callables (see the header)."""
    ctx = srv.uds_secured
    ctx.verify = verify
    ctx.sign = sign
    ctx.encrypt = encrypt
    ctx.decrypt = decrypt


def _handle(srv, now, req, n, functional):
    ctx = srv.uds_secured
    h = read_header(req, n)
    if h is None:
        return -NRC_IMLOIF
    admin, calc, sig_len, arc, m = h
    signed = admin & AP_SIGNED
    if not admin & AP_REQUEST or admin & AP_RESERVED or (sig_len != 0) != (signed != 0):
        return -NRC_IMLOIF
    enc = admin & AP_ENCRYPTED
    if calc not in ctx.calcs or (signed and ctx.verify is None) \
            or (enc and (ctx.decrypt is None or ctx.encrypt is None)) \
            or (admin & AP_SIGN_RESPONSE and ctx.sign is None):
        return -NRC_ROOR
    if ctx.require_signature and not signed:
        return -NRC_SDTF
    end = HEADER + m
    if signed and not ctx.verify(calc, req, 1, end, end, sig_len):
        return -NRC_SDTF
    if ctx.arc >= 0 and not 1 <= ((arc - ctx.arc) & 0xFFFF) < 0x8000:
        return -NRC_SDTF                # replayed (or far too old)
    inner = ctx.inner
    if enc:
        m = ctx.decrypt(calc, req, HEADER, end, inner)
        if m < 1:
            return -NRC_SDTF
    else:
        for i in range(m):
            inner[i] = req[HEADER + i]
    ctx.arc = arc
    ctx.admin = admin
    ctx.calc = calc
    ctx.rx_arc = arc
    sid = inner[0]
    if sid == SID_SDT or sid in ctx.not_allowed:
        return _wrap(srv, ctx, -NRC_SDTNA, sid, False)
    srv.secure_diag = True
    r = srv.execute(now, inner, m)
    srv.secure_diag = False
    if r == RSP_PENDING:
        return r
    return _wrap(srv, ctx, r, sid, srv.exec_sprmib)


def _resume(srv, now):
    spec = srv.exec_spec
    srv.secure_diag = True
    r = spec.resume(srv, now)
    srv.secure_diag = False
    if r == RSP_PENDING:
        return r
    return _wrap(srv, srv.uds_secured, r, spec.sid, False)   # after 0x78: always sent


def _deadline(srv):
    spec = srv.exec_spec
    return None if spec is None or spec.deadline is None else spec.deadline(srv)


def _wrap(srv, ctx, r, sid, sprmib):
    """C4 around the internal result r (in srv.rsp when positive)."""
    if r == RSP_NONE or (r > 0 and sprmib):
        return RSP_NONE                 # the internal positive response is suppressed
    out = ctx.out
    rsp = srv.rsp
    if r > 0:
        for i in range(r):
            out[i] = rsp[i]
        k = r
    else:
        out[0] = 0x7F
        out[1] = sid
        out[2] = -r
        k = 3
    admin = ctx.admin
    sign = admin & AP_SIGN_RESPONSE
    enc = admin & AP_ENCRYPTED
    sig_len = ctx.signature_len if sign else 0
    radmin = (admin & (AP_PRE_ESTABLISHED_KEY | AP_ENCRYPTED)) | (AP_SIGNED if sign else 0)
    p = put_header(rsp, True, radmin, ctx.calc, sig_len, ctx.rx_arc)
    if enc:
        k = ctx.encrypt(ctx.calc, out, 0, k, rsp, p)
        if k < 0:
            return -NRC_SDTF
    else:
        if p + k + sig_len > len(rsp):
            return -NRC_ROOR
        for i in range(k):
            rsp[p + i] = out[i]
    p += k
    if sign:
        if p + sig_len > len(rsp) or ctx.sign(ctx.calc, rsp, 1, p, p) != sig_len:
            return -NRC_SDTF
        p += sig_len
    return p


def _build(srv):
    srv.uds_secured = SecuredContext(srv)


def _on_reset(srv, now, kind):
    srv.uds_secured.arc = -1            # the counter lives in RAM


SPECS = (
    ServiceSpec(SID_SDT, _handle, min_len=1, resume=_resume, deadline=_deadline,
                on_build=_build, on_reset=_on_reset),
)
