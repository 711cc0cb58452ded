# The ECU profile: everything that makes one simulated/served ECU different
# from another, as a plain dict (Python), or JSON/TOML on CPython through
# diagbridge.cpy.ecu.profile_file.  Profile(d) validates it once; a bad field
# raises ConfigError naming its path ("dids.0xF190.length").  Identifier
# keys may be ints or "0xF190" / "61840" strings (JSON/TOML); byte values may
# be bytes, a list of ints, {"hex": "01 02"} or an ASCII str.
#
# Shape (every section optional except sessions' default 0x01, added if absent):
#   name: str
#   addresses: {"rx_id": int, "tx_id": int, "functional_id": int,
#               "format": "normal"|"extended"|"mixed"|"normal_fixed",
#               "ext_addr": int|None}                  (for the CAN-TP layer)
#   modules: ["session", "security", "data", "memory", ...]  service modules
#               diagbridge.uds.srv_<name> the server loads (their SPECS)
#   sessions: {type: {"p2_ms": 50, "p2star_ms": 5000, "from": [types]}}
#               "from": sessions this one may be entered from (else 0x7E)
#   services: {sid: {"supported": bool, "sessions": access-sessions,
#               "levels": [..], "auth": bool|int,
#               "sub_functions": {sf: {"sessions", "levels", "auth"}}}}
#               overrides of the modules' defaults; this is also how a
#               service without its own access field asks for security:
#               {0x38: {"levels": [0x03]}} refuses RequestFileTransfer with
#               0x33 unless level 03 is unlocked (default: no level)
#   security: {"levels": {requestSeed level (odd): {"seed_len": 2,
#               "key_len": seed_len, "algorithm": "diagbridge1" |
#               "twos_complement" | "xor" | callable, "secret": bytes,
#               "attempts": 3, "delay_ms": 10000, "power_up_delay_ms":
#               delay_ms, "sessions": [..], "fixed_seed": bytes|None,
#               "data_record_len": 0}},
#              "prng_seed": int, "delay_always_at_power_up": False}
#               prng_seed (1..0xFFFF) is kept for compatibility: it is only
#               extra input to the seed generator, which is seeded at every
#               power-up from the platform's entropy and a boot counter in
#               the NVM (security_access.py, seed_source.py); it makes no
#               seed predictable or secret.  fixed_seed (the §10.4.5
#               example) bypasses the generator: tests only, never an ECU.
#   reset: {"types": [1, 2, 3, 4, 5], "power_down_time_s": 0xFF}
#   comm_control: {"types": [0, 1, 2, 3, 4, 5], "node_ids": [int, ..]}
#   dids: {did: {"length": int, "value": bytes (static) | "live": source
#               name, "read": access, "write": access | absent (read-only),
#               "scaling": bytes, "nvm": True}}
#   memory: [{"start": int, "size": int, "read": access, "write": access,
#               "init": bytes, "fill": 0xFF, "nvm": size <= 4096}]
#   limits: {"max_dids": int}
#   cantp: {"block_size": 8, "stmin_us": 0}  the flow control the ECU's
#               receiver advertises (ISO 15765-2 BS, STmin); ecu.Ecu's
#               channel takes it unless it is given a TpConfig
#   protocol: "uds" (default) | "kwp": a KWP2000 (ISO 14230-3) ECU served by
#               kwp/ecu.py: session keys are its diagnosticMode values (0x81
#               standardSession is the default, added if absent; up to 0xFF)
#   local_ids: {lid 0x00-0xFF: as a DID entry}   ReadDataByLocalIdentifier 0x21
#               / WriteDataByLocalIdentifier 0x3B (NVM key "lid:XX")
#   ecu_identification: {identificationOption: bytes | str | DID entry}
#               ReadEcuIdentification 0x1A (read-only)
#   kwp: {"length_nrc": 0x12 (ISO 14230-3 subFunctionNotSupported-
#               invalidFormat) | 0x13 (the tachograph's incorrectMessageLength)}
#   addresses also takes "kline_address" (0..0xFF) and "kline_groups" [..]
#               for the K-Line ECU (kwp/ecu.py)
# access = {"sessions": [types] | "any" | "non_default", "levels": [..],
#           "auth": bool | int}; absent keys: any session, no level, no auth.
#
# Sections owned by other modules, validated loosely and passed through:
#   dtcs: [{"code": 24-bit, "status": int, "severity": int (0),
#           "functional_unit": int, "snapshots": {rec: {did: bytes}},
#           "extended": {rec: bytes}}]
#   dtc: {"availability_mask": 0xFF, "format": 0x01,
#         "severity_availability_mask": int}
#   routines: {rid: {"sessions": [..], "levels": [..], "kind": "erase" |
#              "check_dependencies" | "checksum" | "generic",
#              "duration_ms": int, "result": bytes, "option_length": int|-1}}
#   io_controls: {did: {"length": int, "sessions": [..], "levels": [..],
#                 "default": bytes}}
#   transfer: {"download_regions": [{"start", "size", "erase_us_per_kib",
#                                    "levels": [..], "erase_required": bool}],
#              "upload_regions": [...], "max_block_length": int,
#              "data_formats": [0x00, ...]}
#              a region's "levels": 0x34/0x35 inside it answer 0x33 unless
#              one of them is unlocked (default: none needed)
#   files: {"sandbox": str (CPython only), "max_file_size": int}
#   authentication: {"mode": "apce"|"acr_asym"|"acr_sym", "roles": {name: bits},
#              "roots": [PEM/DER bytes | path], "server_key", "server_certificate",
#              "acr": {"key" | "public_key", "role"}, "sub_functions": [..],
#              "challenge_len", "challenge_timeout_ms", "max_age_ms", "provider",
#              "clock"}  Authentication 0x29, validated by services/auth.py (on_build);
#              "auth" access fields name the role bits it grants
# Everything given is also kept unchanged in profile.raw.  The value helpers
# (key_int, to_bytes, sessions_set, access) live in profile_values.py and
# are re-exported here; overlay_nvm (bottom) restores written values.
from diagbridge.errors import ConfigError
from diagbridge.cantp.pci import stmin_from_us
from diagbridge.uds.server.profile_values import (key_int, to_bytes, sessions_set, Access,  # re-exported
                                           access, hex_id as _hex, int_field as _int,
                                           dict_field as _dict, list_field as _list,
                                           int_list as _int_list)

_FORMATS = ("normal", "extended", "mixed", "normal_fixed")
_KINDS = ("erase", "check_dependencies", "checksum", "generic")


class SessionTiming:
    def __init__(self, p2_ms, p2star_ms, from_):
        self.p2_ms = p2_ms          # None: UdsServerConfig's value
        self.p2star_ms = p2star_ms
        self.from_ = from_      # None = from any session


class SecurityLevel:
    def __init__(self, level, d, path):
        self.level = level
        self.seed_len = _int(d, "seed_len", path, 2, 1, 64)
        self.key_len = _int(d, "key_len", path, self.seed_len, 1, 64)
        alg = d.get("algorithm", "diagbridge1")
        if not (isinstance(alg, str) or callable(alg)):
            raise ConfigError(path + ".algorithm")
        self.algorithm = alg
        self.secret = to_bytes(d.get("secret", b"diagbridge"), path + ".secret")
        if not self.secret:
            raise ConfigError(path + ".secret")
        self.attempts = _int(d, "attempts", path, 3, 1, 255)
        self.delay_ms = _int(d, "delay_ms", path, 10000, 0, 200000)
        self.power_up_delay_ms = _int(d, "power_up_delay_ms", path, self.delay_ms, 0, 200000)
        self.sessions = sessions_set(d.get("sessions", "non_default"), path + ".sessions")
        fs = d.get("fixed_seed")
        self.fixed_seed = None if fs is None else to_bytes(fs, path + ".fixed_seed")
        if self.fixed_seed is not None and (len(self.fixed_seed) != self.seed_len
                                            or not any(self.fixed_seed)):
            raise ConfigError(path + ".fixed_seed")   # a locked level never gets a zero seed
        self.data_record_len = _int(d, "data_record_len", path, 0, 0, 64)


class Did:
    def __init__(self, did, d, path):
        self.did = did
        self.length = _int(d, "length", path, -1, 1, 4093)
        self.source = d.get("live")
        if self.source is not None and not isinstance(self.source, str):
            raise ConfigError(path + ".live")
        v = d.get("value")
        if v is None:
            self.value = bytearray(self.length)
            if self.source is None:
                raise ConfigError(path + ".value")
        else:
            v = to_bytes(v, path + ".value")
            if len(v) != self.length:
                raise ConfigError(path + ".value")
            self.value = bytearray(v)
        self.read = access(d.get("read"), path + ".read")
        w = d.get("write")
        self.write = None if w is None or w is False else access(w, path + ".write")
        sc = d.get("scaling")
        self.scaling = None if sc is None else to_bytes(sc, path + ".scaling")
        self.nvm = d.get("nvm", True) is not False
        self.key = "did:%04X" % did


class Region:
    def __init__(self, d, path):
        self.start = _int(d, "start", path, -1, 0, 0xFFFFFFFF)
        self.size = _int(d, "size", path, -1, 1, 0x100000)
        self.end = self.start + self.size
        self.read = access(d.get("read"), path + ".read")
        w = d.get("write")
        self.write = None if w is None or w is False else access(w, path + ".write")
        fill = _int(d, "fill", path, 0xFF, 0, 0xFF)
        self.data = bytearray(self.size)
        if fill:
            for i in range(self.size):
                self.data[i] = fill
        init = d.get("init")
        if init is not None:
            init = to_bytes(init, path + ".init")
            if len(init) > self.size:
                raise ConfigError(path + ".init")
            self.data[0:len(init)] = init
        self.nvm = d.get("nvm", self.size <= 4096) is not False
        self.key = "mem:%08X" % self.start


class Profile:
    def __init__(self, d, sources=None):
        if not isinstance(d, dict):
            raise ConfigError("profile")
        self.raw = d
        self.name = d.get("name", "ecu")
        if not isinstance(self.name, str):
            raise ConfigError("name")
        self.sources = dict(sources or {})      # live DID sources: name -> fn(srv, did)
        self.addresses = self._addresses(_dict(d.get("addresses"), "addresses"))
        tp = _dict(d.get("cantp"), "cantp")
        self.cantp = {"block_size": _int(tp, "block_size", "cantp", 8, 0, 0xFF),
                      "stmin_us": _int(tp, "stmin_us", "cantp", 0, 0, 127000)}
        if stmin_from_us(self.cantp["stmin_us"]) < 0:
            raise ConfigError("cantp.stmin_us")     # whole ms, or 100..900 us
        mods = _list(d.get("modules", ("session", "security", "data", "memory")), "modules")
        for i in range(len(mods)):
            if not isinstance(mods[i], str):
                raise ConfigError("modules.%d" % i)
        self.modules = tuple(mods)
        self.protocol = d.get("protocol", "uds")
        if self.protocol not in ("uds", "kwp"):
            raise ConfigError("protocol")
        self._sessions(_dict(d.get("sessions"), "sessions"))
        self.services = {}
        sv = _dict(d.get("services"), "services")
        for k in sv:
            self.services[key_int(k, "services", 0xFF)] = _dict(sv[k], "services." + str(k))
        self._security(_dict(d.get("security"), "security"))
        r = _dict(d.get("reset"), "reset")
        self.reset_types = _int_list(r.get("types", (1, 2, 3)), "reset.types", 0x7E)
        self.power_down_time_s = _int(r, "power_down_time_s", "reset", 0xFF, 0, 0xFF)
        c = _dict(d.get("comm_control"), "comm_control")
        self.cc_types = _int_list(c.get("types", (0, 1, 2, 3)), "comm_control.types", 0x7E)
        self.cc_node_ids = _int_list(c.get("node_ids"), "comm_control.node_ids", 0xFFFF)
        self._dids(_dict(d.get("dids"), "dids"))
        mem = _list(d.get("memory"), "memory")
        self.memory = [Region(_dict(mem[i], "memory.%d" % i), "memory.%d" % i)
                       for i in range(len(mem))]
        lim = _dict(d.get("limits"), "limits")
        self.max_dids = lim.get("max_dids")
        if self.max_dids is not None:
            _int(lim, "max_dids", "limits", 0, 1, 0x7FF)
        self._passthrough(d)
        self._kwp(d)

    # ---- sections --------------------------------------------------------------
    def _addresses(self, a):
        out = {}
        for k in ("rx_id", "tx_id", "functional_id"):
            if k in a:
                out[k] = _int(a, k, "addresses", 0, 0, 0x1FFFFFFF)
        fmt = a.get("format", "normal")
        if fmt not in _FORMATS:
            raise ConfigError("addresses.format")
        out["format"] = fmt
        ea = a.get("ext_addr")
        out["ext_addr"] = None if ea is None else _int(a, "ext_addr", "addresses", 0, 0, 0xFF)
        if "kline_address" in a:
            out["kline_address"] = _int(a, "kline_address", "addresses", 0, 0, 0xFF)
        if "kline_groups" in a:
            out["kline_groups"] = _int_list(a["kline_groups"], "addresses.kline_groups", 0xFF)
        return out

    def _sessions(self, s):
        self.sessions = {}
        kwp = self.protocol == "kwp"
        self.default_session = 0x81 if kwp else 1
        for k in s:
            sid = key_int(k, "sessions", 0xFF if kwp else 0x7E)
            path = "sessions." + _hex(sid)
            e = _dict(s[k], path)
            fr = e.get("from")
            p2 = None if e.get("p2_ms") is None else _int(e, "p2_ms", path, 0, 1, 0xFFFF)
            p2s = None if e.get("p2star_ms") is None else _int(e, "p2star_ms", path, 0, 10, 655350)
            if p2s is not None and p2s % 10:
                raise ConfigError(path + ".p2star_ms")   # 10 ms units on the wire (§4.1)
            self.sessions[sid] = SessionTiming(
                p2, p2s, None if fr is None else _int_list(fr, path + ".from",
                                                           0xFF if kwp else 0x7E))
        if self.default_session not in self.sessions:
            self.sessions[self.default_session] = SessionTiming(None, None, None)

    def _security(self, s):
        self.security_levels = {}
        lv = _dict(s.get("levels"), "security.levels")
        for k in lv:
            level = key_int(k, "security.levels", 0x7E)
            path = "security.levels." + _hex(level)
            if not level & 1:
                raise ConfigError(path)           # requestSeed values are odd (§10.4.1)
            self.security_levels[level] = SecurityLevel(level, _dict(lv[k], path), path)
        self.prng_seed = _int(s, "prng_seed", "security", 0xACE1, 1, 0xFFFF)
        self.delay_always_at_power_up = s.get("delay_always_at_power_up", False) is True

    def _dids(self, d):
        self.dids = {}
        for k in d:
            did = key_int(k, "dids", 0xFFFF)
            path = "dids." + _hex(did, 4)
            self.dids[did] = Did(did, _dict(d[k], path), path)
        if 0xF186 not in self.dids:     # ActiveDiagnosticSessionDataIdentifier (C.1)
            self.dids[0xF186] = Did(0xF186, {"length": 1, "live": "active_session"}, "dids")
        if 0xFF00 not in self.dids:     # UDSVersionDataIdentifier: 3.0.0.0 (C.5)
            self.dids[0xFF00] = Did(0xFF00, {"length": 4, "value": b"\x03\x00\x00\x00"}, "dids")

    def _passthrough(self, d):
        dt = _list(d.get("dtcs"), "dtcs")
        self.dtcs = []
        for i in range(len(dt)):
            path = "dtcs.%d" % i
            e = _dict(dt[i], path)
            code = key_int(e.get("code", -1), path + ".code", 0xFFFFFF)
            snaps = {}
            sn = _dict(e.get("snapshots"), path + ".snapshots")
            for r in sn:
                rec = key_int(r, path + ".snapshots", 0xFF)
                dd = _dict(sn[r], path + ".snapshots." + str(rec))
                snaps[rec] = {}
                for did in dd:
                    p = path + ".snapshots.%d.%s" % (rec, did)
                    snaps[rec][key_int(did, p, 0xFFFF)] = to_bytes(dd[did], p)
            ext = {}
            ex = _dict(e.get("extended"), path + ".extended")
            for r in ex:
                rec = key_int(r, path + ".extended", 0xFF)
                ext[rec] = to_bytes(ex[r], path + ".extended." + str(rec))
            out = {"code": code, "status": _int(e, "status", path, 0x50, 0, 0xFF),
                   "severity": _int(e, "severity", path, 0, 0, 0xFF),
                   "snapshots": snaps, "extended": ext}
            if "functional_unit" in e:
                out["functional_unit"] = _int(e, "functional_unit", path, 0, 0, 0xFF)
            self.dtcs.append(out)
        g = _dict(d.get("dtc"), "dtc")
        self.dtc = {"availability_mask": _int(g, "availability_mask", "dtc", 0xFF, 0, 0xFF),
                    "format": _int(g, "format", "dtc", 0x01, 0, 0xFF)}
        if "severity_availability_mask" in g:
            self.dtc["severity_availability_mask"] = _int(g, "severity_availability_mask",
                                                          "dtc", 0, 0, 0xFF)
        self.routines = {}
        rt = _dict(d.get("routines"), "routines")
        for k in rt:
            rid = key_int(k, "routines", 0xFFFF)
            path = "routines." + _hex(rid, 4)
            e = dict(_dict(rt[k], path))
            e["sessions"] = sessions_set(e.get("sessions"), path + ".sessions")
            e["levels"] = _int_list(e.get("levels"), path + ".levels")
            if e.get("kind", "generic") not in _KINDS:
                raise ConfigError(path + ".kind")
            e["kind"] = e.get("kind", "generic")
            e["duration_ms"] = _int(e, "duration_ms", path, 0, 0, 200000)
            e["result"] = to_bytes(e.get("result", b""), path + ".result")
            e["option_length"] = _int(e, "option_length", path, -1, -1, 4093)
            self.routines[rid] = e
        self.io_controls = {}
        io = _dict(d.get("io_controls"), "io_controls")
        for k in io:
            did = key_int(k, "io_controls", 0xFFFF)
            path = "io_controls." + _hex(did, 4)
            e = dict(_dict(io[k], path))
            e["length"] = _int(e, "length", path, -1, 1, 4093)
            e["sessions"] = sessions_set(e.get("sessions"), path + ".sessions")
            e["levels"] = _int_list(e.get("levels"), path + ".levels")
            e["default"] = to_bytes(e.get("default", bytes(e["length"])), path + ".default")
            if len(e["default"]) != e["length"]:
                raise ConfigError(path + ".default")
            self.io_controls[did] = e
        t = dict(_dict(d.get("transfer"), "transfer"))
        for sec in ("download_regions", "upload_regions"):
            lst = _list(t.get(sec), "transfer." + sec)
            regs = []
            for i in range(len(lst)):
                path = "transfer.%s.%d" % (sec, i)
                e = dict(_dict(lst[i], path))
                e["start"] = _int(e, "start", path, -1, 0, 0xFFFFFFFF)
                e["size"] = _int(e, "size", path, -1, 1, 0xFFFFFFFF)
                e["erase_us_per_kib"] = _int(e, "erase_us_per_kib", path, 0, 0, 10000000)
                e["levels"] = _int_list(e.get("levels"), path + ".levels", 0x7E)
                regs.append(e)
            t[sec] = regs
        t["max_block_length"] = _int(t, "max_block_length", "transfer", 0x0402, 3, 0xFFFFFF)
        t["data_formats"] = _int_list(t.get("data_formats", (0,)), "transfer.data_formats")
        self.transfer = t
        f = dict(_dict(d.get("files"), "files"))
        if "sandbox" in f and not isinstance(f["sandbox"], str):
            raise ConfigError("files.sandbox")
        f["max_file_size"] = _int(f, "max_file_size", "files", 0x100000, 0, 0x7FFFFFFF)
        self.files = f

    def _kwp(self, d):
        # KWP2000 sections (kwp/): local identifiers, ECU identification, NRCs
        self.local_ids = {}
        li = _dict(d.get("local_ids"), "local_ids")
        for k in li:
            lid = key_int(k, "local_ids", 0xFF)
            path = "local_ids." + _hex(lid)
            e = Did(lid, _dict(_did_entry(li[k], path), path), path)
            e.key = "lid:%02X" % lid
            self.local_ids[lid] = e
        self.ecu_ids = {}
        ei = _dict(d.get("ecu_identification"), "ecu_identification")
        for k in ei:
            opt = key_int(k, "ecu_identification", 0xFF)
            path = "ecu_identification." + _hex(opt)
            self.ecu_ids[opt] = Did(opt, _dict(_did_entry(ei[k], path), path), path)
        kw = _dict(d.get("kwp"), "kwp")
        self.kwp_length_nrc = _int(kw, "length_nrc", "kwp", 0x12, 0x12, 0x13)


def _did_entry(v, path):
    """A DID-like entry from a dict, or from a plain value (static, read-only)."""
    if isinstance(v, dict):
        return v
    b = to_bytes(v, path)
    return {"length": len(b), "value": b}


def overlay_nvm(profile, nvm):
    """Written DIDs and memory regions survive power cycles: copy the NVM's
    values (where it has one of the right length) over the profile's."""
    if nvm is None:
        return
    for did in profile.dids:
        d = profile.dids[did]
        v = nvm.get(d.key)
        if v is not None and len(v) == d.length and d.source is None:
            d.value[0:d.length] = v
    lids = getattr(profile, "local_ids", None) or {}
    for lid in lids:
        d = lids[lid]
        v = nvm.get(d.key)
        if v is not None and len(v) == d.length and d.source is None:
            d.value[0:d.length] = v
    for r in profile.memory:
        v = nvm.get(r.key)
        if v is not None and len(v) == r.size:
            r.data[0:r.size] = v
