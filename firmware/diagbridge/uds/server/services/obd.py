# OBD-II emissions diagnostic services (ISO 15031-5 / SAE J1979) on the UDS
# server, over ISO 15765-4 CAN: the legislated scan-tool requests every
# engine ECU answers on the functional id 0x7DF and its physical id.
#
#   0x01 requestCurrentPowertrainDiagnosticData: 01 PID [PID ..] (1-6 PIDs)
#        -> 41 PID data [PID data ..], only the supported PIDs, each with the
#        standard's byte count (_PID_LEN); no PID supported: no response
#        (ISO 15031-5: an ECU stays silent for what it does not support).
#        PIDs 0x00/0x20/0x40 .. are the supported-PID bitmaps, computed from
#        the configured PIDs (bit 0 of each: the next bitmap exists).  PID
#        0x01 (monitor status): byte A from the DTC memory (bit 7 MIL = a
#        confirmed DTC requests the warning indicator, bits 6-0 the number of
#        confirmed DTCs), bytes B-D from the profile.
#   0x03 emission-related DTCs (confirmedDTC status bit), 0x07 pending DTCs
#        (pendingDTC), 0x0A permanent DTCs (the entries marked "permanent",
#        as 19 15 reports them): 43/47/4A count DTC(2) .. -- the two high bytes
#        of the 3-byte DTC (SAE J2012: P0101), from the DTC memory (dtc.py).
#   0x09 requestVehicleInformation: 09 InfoType -> 49 InfoType NODI data:
#        0x00 supported InfoTypes (no NODI), 0x02 VIN (17 bytes, from the
#        VIN DID, read through data.read_did), 0x04 CALIDs (16 bytes each,
#        padded with 00), 0x0A ECU name (20 bytes).
# A request of the wrong length is 7F SID 12 subFunctionNotSupported-
# invalidFormat (ISO 15031-5's code for it); functional requests drop it
# (the server's rules), so only the ECUs that can answer do.
#
# Profile section (validated by on_build, ConfigError naming the field):
#   obd: {"pids": {pid: {"live": source name, "mul": 1, "div": 1, "offset": 0}
#                       | {"value": bytes}, "length": the standard's count},
#         "vin_did": 0xF190, "calids": [str/bytes, ..], "ecu_name": str}
#   A live PID reads profile.sources[name](srv, pid) -> int and sends
#   int * mul // div + offset in its byte count (clamped), so a source in
#   another scaling serves OBD unchanged.  State: srv.uds_obd.
from diagbridge._compat import const
from diagbridge.errors import ConfigError
from diagbridge.uds.codec.dtc import PDTC, CDTC, WIR
from diagbridge.uds.codec.ints import put_uint
from diagbridge.uds.nrc import NRC_SFNS
from diagbridge.uds.server.profile_values import (key_int, to_bytes, int_field, dict_field,
                                                  list_field, hex_id)
from diagbridge.uds.server.service import ServiceSpec, RSP_NONE
from diagbridge.uds.server.services.data import read_did
from diagbridge.uds.server.services.dtc import store_of

SID_OBD_CURRENT_DATA = const(0x01)
SID_OBD_DTC = const(0x03)
SID_OBD_PENDING_DTC = const(0x07)
SID_OBD_VEHICLE_INFO = const(0x09)
SID_OBD_PERMANENT_DTC = const(0x0A)
_POSITIVE = const(0x40)
_MAX_PIDS = const(6)            # PIDs per mode 01 request (ISO 15031-5)
_PID_MONITOR_STATUS = const(0x01)
_INFO_VIN = const(0x02)
_INFO_CALID = const(0x04)
_INFO_ECU_NAME = const(0x0A)
_VIN_LEN = const(17)
_CALID_LEN = const(16)
_ECU_NAME_LEN = const(20)

# Data bytes of mode 01 PIDs 0x00-0x60 (SAE J1979 / ISO 15031-5 Annex B).
_PID_LEN = bytes((
    4, 4, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1, 2, 1, 1, 1,     # 00-0F
    2, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 1, 1, 1, 2,     # 10-1F
    4, 2, 2, 2, 4, 4, 4, 4, 4, 4, 4, 4, 1, 1, 1, 1,     # 20-2F
    1, 2, 2, 1, 4, 4, 4, 4, 4, 4, 4, 4, 2, 2, 2, 2,     # 30-3F
    4, 4, 2, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 4,     # 40-4F
    4, 1, 1, 2, 2, 2, 2, 2, 2, 2, 1, 1, 1, 2, 2, 1,     # 50-5F
    4))                                                 # 60


class _Pid:
    def __init__(self, pid, d, path, sources):
        std = _PID_LEN[pid] if pid < len(_PID_LEN) else 0
        self.length = int_field(d, "length", path, std or -1, 1, 32)
        if std and self.length != std:
            raise ConfigError(path + ".length")     # the standard fixes it
        self.source = None
        src = d.get("live")
        live = src is not None
        if live:
            if not isinstance(src, str) or (sources and src not in sources):
                raise ConfigError(path + ".live")
            # a profile built without its sources reads the PID as zeros, as a
            # live DID reads its static value (services/data.py)
            self.source = sources.get(src) if sources else None
        self.mul = int_field(d, "mul", path, 1, -0xFFFF, 0xFFFF)
        self.div = int_field(d, "div", path, 1, 1, 0xFFFF)
        self.offset = int_field(d, "offset", path, 0, -0xFFFFFFFF, 0xFFFFFFFF)
        self.value = bytearray(self.length)
        v = d.get("value")
        if v is not None:
            v = to_bytes(v, path + ".value")
            if len(v) != self.length:
                raise ConfigError(path + ".value")
            self.value[0:self.length] = v
        elif not live:
            raise ConfigError(path + ".value")
        self.top = (1 << (8 * self.length)) - 1


class ObdState:
    """What a server answers OBD with, built once from the profile's "obd"
    section (srv.uds_obd)."""

    def __init__(self, profile):
        o = dict_field((getattr(profile, "raw", None) or {}).get("obd"), "obd")
        sources = profile.sources
        self.pids = {}
        ps = dict_field(o.get("pids"), "obd.pids")
        top = 0
        for k in ps:
            pid = key_int(k, "obd.pids", 0xFF)
            path = "obd.pids." + hex_id(pid)
            if pid & 0x1F == 0:
                raise ConfigError(path)     # a supported-PID bitmap: computed here
            self.pids[pid] = _Pid(pid, dict_field(ps[k], path), path, sources)
            top = pid if pid > top else top
        # bitmaps 0x00, 0x20 .. 0xE0: PID b+i is bit (32 - i) of bitmap b
        self.bitmaps = bytearray(32)
        for pid in self.pids:
            _set_bit(self.bitmaps, pid)
        for b in range(0x20, 0x100, 0x20):
            if top > b:
                _set_bit(self.bitmaps, b)   # bitmap b exists: its bit in bitmap b - 0x20
        self.top = top
        self.vin = None
        vd = key_int(o.get("vin_did", 0xF190), "obd.vin_did", 0xFFFF)
        d = profile.dids.get(vd)
        if d is not None and d.length == _VIN_LEN:
            self.vin = d
        elif "vin_did" in o:
            raise ConfigError("obd.vin_did")    # named, but no 17-byte DID
        cal = list_field(o.get("calids"), "obd.calids")
        if len(cal) > 0xFF:
            raise ConfigError("obd.calids")
        self.calids = bytearray(_CALID_LEN * len(cal))
        for i in range(len(cal)):
            c = to_bytes(cal[i], "obd.calids.%d" % i)
            if len(c) > _CALID_LEN:
                raise ConfigError("obd.calids.%d" % i)
            self.calids[i * _CALID_LEN:i * _CALID_LEN + len(c)] = c
        self.n_calids = len(cal)
        self.ecu_name = None
        if o.get("ecu_name") is not None:
            nm = to_bytes(o["ecu_name"], "obd.ecu_name")
            if len(nm) > _ECU_NAME_LEN:
                raise ConfigError("obd.ecu_name")
            self.ecu_name = bytearray(_ECU_NAME_LEN)
            self.ecu_name[0:len(nm)] = nm
        self.infos = bytearray(4)           # supported InfoTypes 0x01-0x20
        for it, on in ((_INFO_VIN, self.vin is not None), (_INFO_CALID, self.n_calids > 0),
                       (_INFO_ECU_NAME, self.ecu_name is not None)):
            if on:
                _set_bit(self.infos, it)

    def length(self, pid):
        """The data bytes PID `pid` answers with; 0 = not supported."""
        if pid & 0x1F == 0:
            return 4 if pid == 0 or self.top > pid else 0
        p = self.pids.get(pid)
        return 0 if p is None else p.length


def _set_bit(bm, pid):
    i = pid - 1
    bm[i >> 3] |= 0x80 >> (i & 7)


def _put_pid(srv, st, pid, out, pos):
    if pid & 0x1F == 0:
        b = pid >> 3
        for i in range(4):
            out[pos + i] = st.bitmaps[b + i]
        return
    p = st.pids[pid]
    k = p.length
    if p.source is not None:
        v = p.source(srv, pid) * p.mul // p.div + p.offset
        put_uint(out, pos, 0 if v < 0 else (p.top if v > p.top else v), k)
    else:
        val = p.value
        for i in range(k):
            out[pos + i] = val[i]
    if pid == _PID_MONITOR_STATUS:
        confirmed = 0
        mil = 0
        for d in store_of(srv).primary.dtcs:
            if d.status & CDTC:
                confirmed += 1
                if d.status & WIR:
                    mil = 0x80
        out[pos] = mil | (confirmed if confirmed < 0x7F else 0x7F)


def _current_data(srv, now, req, n, functional):
    if n < 2 or n > 1 + _MAX_PIDS:
        return -NRC_SFNS
    st = srv.uds_obd
    rsp = srv.rsp
    rsp[0] = SID_OBD_CURRENT_DATA + _POSITIVE
    p = 1
    for i in range(1, n):
        pid = req[i]
        k = st.length(pid)
        if k and p + 1 + k <= len(rsp):
            rsp[p] = pid
            _put_pid(srv, st, pid, rsp, p + 1)
            p += 1 + k
    return p if p > 1 else RSP_NONE


def _dtcs(srv, sid, req, n):
    if n != 1:
        return -NRC_SFNS
    rsp = srv.rsp
    rsp[0] = sid + _POSITIVE
    p = 2
    count = 0
    for d in store_of(srv).primary.dtcs:
        s = d.status
        if sid == SID_OBD_DTC:
            hit = s & CDTC
        elif sid == SID_OBD_PENDING_DTC:
            hit = s & PDTC
        else:
            hit = d.permanent
        if hit and count < 0xFF and p + 2 <= len(rsp):
            rsp[p] = (d.code >> 16) & 0xFF
            rsp[p + 1] = (d.code >> 8) & 0xFF
            p += 2
            count += 1
    rsp[1] = count
    return p


def _confirmed(srv, now, req, n, functional):
    return _dtcs(srv, SID_OBD_DTC, req, n)


def _pending(srv, now, req, n, functional):
    return _dtcs(srv, SID_OBD_PENDING_DTC, req, n)


def _permanent(srv, now, req, n, functional):
    return _dtcs(srv, SID_OBD_PERMANENT_DTC, req, n)


def _vehicle_info(srv, now, req, n, functional):
    if n != 2:
        return -NRC_SFNS
    st = srv.uds_obd
    rsp = srv.rsp
    it = req[1]
    rsp[0] = SID_OBD_VEHICLE_INFO + _POSITIVE
    rsp[1] = it
    if it == 0:
        for i in range(4):
            rsp[2 + i] = st.infos[i]
        return 6
    if it == _INFO_VIN and st.vin is not None:
        rsp[2] = 1
        read_did(srv, st.vin, rsp, 3)
        return 3 + _VIN_LEN
    if it == _INFO_CALID and st.n_calids:
        k = len(st.calids)
        if 3 + k > len(rsp):
            return RSP_NONE
        rsp[2] = st.n_calids
        for i in range(k):
            rsp[3 + i] = st.calids[i]
        return 3 + k
    if it == _INFO_ECU_NAME and st.ecu_name is not None:
        rsp[2] = 1
        for i in range(_ECU_NAME_LEN):
            rsp[3 + i] = st.ecu_name[i]
        return 3 + _ECU_NAME_LEN
    return RSP_NONE


def on_build(srv):
    srv.uds_obd = ObdState(srv.profile)


SPECS = (
    ServiceSpec(SID_OBD_CURRENT_DATA, _current_data, on_build=on_build),
    ServiceSpec(SID_OBD_DTC, _confirmed),
    ServiceSpec(SID_OBD_PENDING_DTC, _pending),
    ServiceSpec(SID_OBD_VEHICLE_INFO, _vehicle_info),
    ServiceSpec(SID_OBD_PERMANENT_DTC, _permanent),
)
