# The typed tester API: for every service, a request builder (-> bytes) and
# a response decoder (-> plain values), both through the shared codecs
# (uds/codec_*.py), so no layout is written twice.  Not a hot path: these
# allocate (bytes, lists, dicts) and suit the gateway's tester jobs and the
# CPython facades; the flashing loop uses the codecs in place (uds/client/flash.py).
#
#   req = api.read_data((0xF190, 0x0100))          -> b"\x22\xF1\x90\x01\x00"
#   ... the client sends it; on EV_DONE with result OK:
#   val = api.decode(req, client.payload, client.length, registry)
#
# decode() picks the decoder by the request's SID and returns None for a
# response the layout does not fit (A_MALFORMED_RESPONSE to the caller).
# DID values go through a DidRegistry that a profile or the user fills:
# did -> (length, decode fn, encode fn, name).
from diagbridge.uds.codec import session as _s
from diagbridge.uds.codec import data as _d
from diagbridge.uds.codec import memory as _m
from diagbridge.uds.codec import dtc as _dtc
from diagbridge.uds.codec import roe as _roe
from diagbridge.uds.codec import routine as _r
from diagbridge.uds.codec import transfer as _t
from diagbridge.uds.codec import io as _io
from diagbridge.uds.codec import periodic as _pe
from diagbridge.uds.codec import dddid as _dd
from diagbridge.uds.codec import secured as _sd
from diagbridge.uds.codec import link as _lc
from diagbridge.uds.nrc_names import nrc_name
from diagbridge.uds.seedkey import key_function  # noqa: F401 (re-exported: api.key_function)

_BUF = 4095


def _build(fn, *args, **kw):
    out = bytearray(_BUF)
    n = fn(out, *args, **kw)
    return bytes(out[0:n])


# ---- DID codec registry ------------------------------------------------------------------
def as_ascii(raw):
    """An ASCII record as str; a peer's bytes that are not ASCII come back as
    they are (bytes), never as an exception."""
    b = bytes(raw)
    for c in b:
        if c > 0x7E:
            return b
    return b.decode().rstrip("\x00 ")


def as_uint(raw):
    return _d.get_uint(raw, 0, len(raw))


def as_bytes(raw):
    return bytes(raw)


class DidRegistry:
    """DID -> (length, decode(raw) -> value, encode(value) -> bytes, name)."""

    def __init__(self):
        self._d = {}

    def add(self, did, length, decode=as_bytes, encode=None, name=None):
        self._d[did] = (length, decode, encode, name)
        return self

    def lengths(self):
        return {k: self._d[k][0] for k in self._d}

    def length(self, did):
        e = self._d.get(did)
        return None if e is None else e[0]

    def decode(self, did, raw):
        e = self._d.get(did)
        return bytes(raw) if e is None else e[1](raw)

    def encode(self, did, value):
        e = self._d.get(did)
        if isinstance(value, (bytes, bytearray)) or e is None or e[2] is None:
            if isinstance(value, str):
                value = value.encode()
            return bytes(value)
        return e[2](value)

    def name(self, did):
        e = self._d.get(did)
        return None if e is None else e[3]

    @classmethod
    def from_profile(cls, profile):
        """Lengths from a server profile dict's "dids" (the tester knows its ECU):
        string values decode as ASCII, the rest as unsigned ints or bytes."""
        reg = cls()
        dids = profile.get("dids", {})
        for k in dids:
            d = dids[k]
            did = k if isinstance(k, int) else int(k, 0)
            v = d.get("value")
            if isinstance(v, str):
                reg.add(did, d["length"], as_ascii, None)
            elif "live" in d:
                reg.add(did, d["length"], as_uint, None)
            else:
                reg.add(did, d["length"], as_bytes, None)
        return reg


# ---- DTC records ---------------------------------------------------------------------------
STATUS_BITS = _dtc.STATUS_BITS
status_names = _dtc.status_names
dtc_text = _dtc.dtc_text


class Dtc:
    """One DTC with its status decoded; severity / functional_unit when reported."""

    def __init__(self, code, status, severity=None, functional_unit=None):
        self.code = code
        self.status = status
        self.severity = severity
        self.functional_unit = functional_unit
        self.snapshots = []         # [(record number, {did: value})]
        self.extended = []          # [(record number, bytes)]

    @property
    def bits(self):
        return status_names(self.status)

    def __getattr__(self, name):
        for bit, n in STATUS_BITS:
            if n == name:
                return bool(self.status & bit)
        raise AttributeError(name)

    def __repr__(self):
        return "Dtc(%s status=0x%02X %s)" % (dtc_text(self.code), self.status,
                                             "|".join(self.bits))

    def __eq__(self, other):
        return isinstance(other, Dtc) and other.code == self.code and other.status == self.status


# ---- request builders ---------------------------------------------------------------------
def session_control(session, suppress=False):
    return _build(_s.build_dsc_request, session, suppress)


def ecu_reset(kind=0x01, suppress=False):
    return _build(_s.build_ecu_reset_request, kind, suppress)


def request_seed(level, record=b""):
    return _build(_s.build_request_seed, level, record)


def send_key(level, key):
    """`level` is the requestSeed level (odd): the request carries level + 1."""
    return _build(_s.build_send_key, level, key)


def communication_control(control, comm_type=_s.COMM_NORMAL, node_id=-1, suppress=False):
    return _build(_s.build_comm_control_request, control, comm_type, node_id, suppress)


def tester_present(suppress=False):
    return _build(_s.build_tester_present_request, suppress)


def control_dtc_setting(on, option=b"", suppress=False):
    return _build(_s.build_control_dtc_setting_request,
                  _s.DTC_SETTING_ON if on else _s.DTC_SETTING_OFF, option, suppress)


def read_data(dids):
    if isinstance(dids, int):
        dids = (dids,)
    return _build(_d.build_rdbi_request, tuple(dids))


def write_data(did, value, registry=None):
    raw = registry.encode(did, value) if registry is not None else bytes(value)
    return _build(_d.build_wdbi_request, did, raw)


def read_scaling(did):
    return _build(_d.build_rsdbi_request, did)


def _lens(addr, size, addr_len, size_len):
    return addr_len or _t.uint_len(addr), size_len or _t.uint_len(size)


def read_memory(addr, size, addr_len=0, size_len=0):
    al, sl = _lens(addr, size, addr_len, size_len)
    return _build(_m.build_rmba_request, addr, size, al, sl)


def write_memory(addr, data, addr_len=0, size_len=0):
    al, sl = _lens(addr, len(data), addr_len, size_len)
    return _build(_m.build_wmba_request, addr, data, al, sl)


def clear_dtc(group=_dtc.GROUP_ALL, memory_selection=None):
    return _build(_dtc.build_clear_dtc_request, group, memory_selection)


def read_dtc(sf, **fields):
    """0x19 sf with the fields it takes: status_mask, dtc, record, severity_mask,
    memory_selection, fgid, readiness_group (codec/dtc.build_read_dtc_request)."""
    return _build(_dtc.build_read_dtc_request, sf, **fields)


def response_on_event(event_type, window=_roe.EWT_INFINITE, record=b"", service=b"",
                      store=False, suppress=False):
    return _build(_roe.build_roe_request, event_type, window, record, service, store, suppress)


def routine(sf, rid, option=None, suppress=False):
    return _build(_r.build_routine_control_request, sf, rid, option, suppress)


def start_routine(rid, option=None, suppress=False):
    return routine(_r.RC_START, rid, option, suppress)


def stop_routine(rid, option=None):
    return routine(_r.RC_STOP, rid, option)


def routine_results(rid):
    return routine(_r.RC_RESULTS, rid)


def erase_memory(addr, size, addr_len=4, size_len=4, rid=_r.RID_ERASE_MEMORY):
    return _build(_r.build_address_routine_request, rid, addr, size, addr_len, size_len)


def request_download(addr, size, dfi=0x00, addr_len=0, size_len=0):
    al, sl = _lens(addr, size, addr_len, size_len)
    return _build(_t.build_request_download, addr, size, al, sl, dfi)


def request_upload(addr, size, dfi=0x00, addr_len=0, size_len=0):
    al, sl = _lens(addr, size, addr_len, size_len)
    return _build(_t.build_request_upload, addr, size, al, sl, dfi)


def transfer_data(bsc, data=b""):
    return _build(_t.build_transfer_data_request, bsc, data, 0, len(data))


def transfer_exit(record=None):
    return _build(_t.build_request_transfer_exit, record)


def file_transfer(mode, path, dfi=0x00, size=0, size_compressed=None, size_len=4):
    if isinstance(path, str):
        path = path.encode()
    return _build(_t.build_request_file_transfer, mode, path, dfi, size, size_compressed,
                  size_len)


def io_control(did, iocp, state=b"", mask=b""):
    """0x2F: IOCP 00 returnControlToECU, 01 resetToDefault, 02 freeze, 03 adjust."""
    return _build(_io.build_io_request, did, iocp, state, mask)


def read_periodic(mode, pdids=()):
    """0x2A: transmissionMode 01-03 (slow/medium/fast), 04 stop; PDIDs = DID - 0xF200."""
    return _build(_pe.build_rdbpi_request, mode, tuple(pdids))


def define_did(dddid, elements, suppress=False):
    """0x2C 01: elements [(source_did, position (1-based), size)]."""
    return _build(_dd.build_define_by_identifier, dddid, elements, suppress)


def define_did_by_memory(dddid, elements, addr_len=4, size_len=2, suppress=False):
    """0x2C 02: elements [(address, size)]."""
    return _build(_dd.build_define_by_memory_address, dddid, elements, addr_len, size_len,
                  suppress)


def clear_did(dddid=None, suppress=False):
    return _build(_dd.build_clear, dddid, suppress)


def secured(admin, calc, arc, inner, signature=b""):
    """0x84: the internal request `inner` in a SecuredDataTransmission."""
    return _build(_sd.build_sdt_request, admin, calc, arc, inner, signature)


def link_control(sf, param=None, suppress=False):
    """0x87: 01 mode identifier, 02 baud rate (bit/s), 03 transition."""
    return _build(_lc.build_link_control_request, sf, param, suppress)


# ---- security ------------------------------------------------------------------------------
# ---- decoders ------------------------------------------------------------------------------
class Routine:
    def __init__(self, sf, rid, status):
        self.sf = sf
        self.rid = rid
        self.status = status        # routineInfo + routineStatusRecord bytes

    def __repr__(self):
        return "Routine(sf=%d rid=0x%04X status=%s)" % (
            self.sf, self.rid, "".join("%02X" % b for b in self.status))


def _dtcs(r, reg):
    out = []
    for t in r.get("dtcs", ()):
        if len(t) == 2:
            out.append(Dtc(t[0], t[1]))
        elif len(t) == 3 and isinstance(t[2], (bytes, bytearray)):
            d = Dtc(t[0], t[1])
            d.extended = [(r.get("record"), bytes(t[2]))]
            out.append(d)
        elif len(t) == 3:
            out.append(Dtc(t[1], t[2], severity=t[0]))
        else:
            out.append(Dtc(t[2], t[3], severity=t[0], functional_unit=t[1]))
    return out


def decode_read_dtc(data, n, registry=None, ext_len=None):
    """0x19 response -> dict (codec/dtc keys) with Dtc objects: "dtcs" [Dtc],
    "dtc" Dtc with .snapshots {did: value via the registry} / .extended."""
    lens = registry.lengths() if registry is not None else None
    r = _dtc.parse_read_dtc_response(data, n, lens, ext_len)
    if r is None or "nrc" in r:
        return r
    if "dtcs" in r and r["sf"] != 0x14:
        r["dtcs"] = _dtcs(r, registry)
    if "dtc" in r:
        d = Dtc(r["dtc"][0], r["dtc"][1])
        for num, recs in r.get("snapshots", ()):
            d.snapshots.append((num, _values(recs, registry)))
        d.extended = r.get("ext", [])
        r["dtc"] = d
    if r["sf"] == 0x05:
        r["records"] = [(num, None if dt is None else Dtc(dt[0], dt[1]), _values(recs, registry))
                        for num, dt, recs in r["records"]]
    return r


def _values(recs, registry):
    if registry is None:
        return dict(recs)
    return {did: registry.decode(did, recs[did]) for did in recs}


def decode(req, data, n, registry=None):
    """The plain value of the positive response data[0:n] to request `req`:
      10 -> (session, p2_ms, p2star_ms)     11 -> (kind, power_down_time or None)
      27 -> seed bytes (sendKey: b"")       28/3E/85/87 -> echoed sub-function
      22 -> {did: value}                    2E -> did     24 -> (did, scaling bytes)
      23 -> bytes     3D -> (address, size)  14 -> True    19 -> decode_read_dtc()
      86 -> codec/roe dict                  31 -> Routine
      34/35 -> maxNumberOfBlockLength       36 -> (bsc, data bytes)   37 -> record bytes
      38 -> codec/transfer tuple            2F -> (did, iocp, state bytes)
      2A -> True (initial response)         2C -> (sf, dddid or None)
      84 -> (admin, calc, arc, inner bytes, signature)   87 -> echoed sub-function
    None when the layout does not fit."""
    sid = req[0]
    if sid == 0x10:
        return _s.parse_dsc_response(data, n)
    if sid == 0x11:
        return _s.parse_ecu_reset_response(data, n)
    if sid == 0x27:
        r = _s.parse_security_response(data, n)
        return None if r is None else r[1]
    if sid == 0x87:
        v = _lc.parse_link_control_response(data, n)
        return None if v < 0 else v
    if sid == 0x2F:
        return _io.parse_io_response(data, n)
    if sid == 0x2A:
        return True if _pe.parse_rdbpi_response(data, n) else None
    if sid == 0x2C:
        return _dd.parse_dddid_response(data, n)
    if sid == 0x84:
        return _sd.parse_sdt_response(data, n)
    if sid in (0x28, 0x3E, 0x85):
        v = _s.parse_sf_response(data, n, sid)
        return None if v < 0 else v
    if sid == 0x22:
        lens = registry.lengths() if registry is not None else {}
        if len(req) == 3 and _d.get_u16(req, 1) not in lens:
            lens[_d.get_u16(req, 1)] = n - 3    # one DID: its record is the rest
        r = _d.parse_rdbi_response(data, n, lens)
        if r is None:
            return None
        return {did: (registry.decode(did, raw) if registry is not None else raw)
                for did, raw in r}
    if sid == 0x2E:
        v = _d.parse_wdbi_response(data, n)
        return None if v < 0 else v
    if sid == 0x24:
        return _d.parse_rsdbi_response(data, n)
    if sid == 0x23:
        return _m.parse_rmba_response(data, n)
    if sid == 0x3D:
        return _m.parse_wmba_response(data, n)
    if sid == 0x14:
        return True if _dtc.parse_clear_dtc_response(data, n) == 0 else None
    if sid == 0x19:
        return decode_read_dtc(data, n, registry)
    if sid == 0x86:
        return _roe.parse_roe_response(data, n)
    if sid == 0x31:
        r = _r.parse_routine_control_response(data, n)
        return None if r is None else Routine(r[0], r[1], bytes(data[r[2]:n]))
    if sid == 0x34 or sid == 0x35:
        v = _t.parse_request_download_response(data, n)
        return None if v < 0 else v
    if sid == 0x36:
        v = _t.parse_transfer_data_response(data, n)
        return None if v < 0 else (v, bytes(data[2:n]))
    if sid == 0x37:
        v = _t.parse_request_transfer_exit_response(data, n)
        return None if v < 0 else bytes(data[1:n])
    if sid == 0x38:
        return _t.parse_request_file_transfer_response(data, n)
    return bytes(data[0:n])


def describe_nrc(nrc):
    """"0x31 ROOR" style text for an NRC."""
    return "0x%02X %s" % (nrc, nrc_name(nrc))


# ---- Authentication 0x29 (§10.6; layouts in uds/codec/auth.py) -------------------------
from diagbridge.uds.codec import auth as _au    # noqa: E402 (the 0x29 group, kept together)


def auth_deauthenticate(suppress=False):
    return _build(_au.build_auth_request, 0x00, (), suppress)


def auth_configuration():
    return _build(_au.build_auth_request, 0x08, ())


def auth_verify_certificate(certificate, challenge=b"", comm_config=0x00, bidirectional=False):
    """29 01 (or 02 with bidirectional: challenge then mandatory)."""
    return _build(_au.build_auth_request, 0x02 if bidirectional else 0x01,
                  (comm_config, certificate, challenge))


def auth_proof_of_ownership(pown, ephemeral_public_key=b""):
    return _build(_au.build_auth_request, 0x03, (pown, ephemeral_public_key))


def auth_transmit_certificate(evaluation_id, certificate):
    return _build(_au.build_auth_request, 0x04, (evaluation_id, certificate))


def auth_request_challenge(ai, comm_config=0x00):
    return _build(_au.build_auth_request, 0x05, (comm_config, ai))


def auth_verify_pown(ai, pown, challenge=b"", additional=b"", bidirectional=False):
    """29 06 (or 07 with bidirectional: challenge then mandatory)."""
    return _build(_au.build_auth_request, 0x07 if bidirectional else 0x06,
                  (ai, pown, challenge, additional))


# response field names per sub-function, after authenticationReturnParameter
_AUTH_FIELDS = {
    0x00: (), 0x01: ("challenge_server", "ephemeral_public_key_server"),
    0x02: ("challenge_server", "certificate_server", "pown_server",
           "ephemeral_public_key_server"),
    0x03: ("session_key_info",), 0x04: (), 0x05: ("ai", "challenge_server", "needed_parameter"),
    0x06: ("ai", "session_key_info"), 0x07: ("ai", "pown_server", "session_key_info"),
    0x08: (),
}


def decode_auth(data, n):
    """A 0x69 response as a dict: sub_function, return_value, return_name and
    the sub-function's fields by name; None if the layout does not fit."""
    r = _au.parse_auth_response(data, n)
    if r is None:
        return None
    sf, vals = r
    out = {"sub_function": sf, "return_value": vals[0], "return_name": _au.rv_name(vals[0])}
    names = _AUTH_FIELDS[sf]
    for i in range(len(names)):
        out[names[i]] = vals[i + 1]
    return out
