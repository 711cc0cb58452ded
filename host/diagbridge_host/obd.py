"""OBD-II (ISO 15031-5 / SAE J1979) over the gateway, as python-OBD users know it.

    from diagbridge_host import connect
    from diagbridge_host.obd import Obd
    with connect("tcp://127.0.0.1:6520") as conn, Obd.open(conn) as obd:
        r = obd.query("RPM")                 # or obd.query(0x0C)
        print(r.value, r.unit)               # 850.0 rpm
        obd.supported_pids()                 # [0x01, 0x03, 0x04 ...]
        obd.dtcs()                           # [ObdDtc('P0101'), ...]   mode 03
        obd.vin()                            # 'W0L000043MB541326'      mode 09 02
        obd.query_all("RPM")                 # {0x7E8: ObdValue, ...}  functional 7DF

Requests are single frames (ISO 15765-4): mode 01 takes up to six PIDs, and
answers may be multi-frame (the VIN, DTC lists).  Physical requests go to
one ECU (0x7E0-0x7E7, answers 0x7E8-0x7EF); ``query_all`` and the other
``*_all`` methods send on the functional id 0x7DF and collect every ECU's
answer within the P2 window, so only the ECUs that support the request
answer (ISO 15031-5: an ECU is silent for an unsupported PID).  A PID
nobody answered is a null value (``is_null()``), as in python-OBD; a
malformed answer raises ObdError; a caller's unknown name raises UsageError.

The PID table (``PIDS``, in obd_pids.py) is written from SAE J1979 / ISO 15031-5 Annex B:
name, byte count, formula and unit.  Names are python-OBD's (``RPM``,
``SPEED``, ``COOLANT_TEMP`` ...; ``AMBIANT_AIR_TEMP`` is accepted for 0x46).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Dict, Iterable, List, Optional, Sequence, Union

from diagbridge_host.errors import DiagbridgeError, UsageError
from diagbridge_host.obd_pids import (PIDS, ObdDtc, Pid, bitmap, decode_dtc, pid_by_name,
                                      pid_length)

log = logging.getLogger(__name__)

__all__ = ["Obd", "ObdValue", "ObdDtc", "ObdError", "Pid", "PIDS", "pid_by_name",
           "decode_dtc", "parse_mode01", "parse_dtcs", "parse_info", "MODE_CURRENT_DATA",
           "MODE_DTC", "MODE_PENDING_DTC", "MODE_VEHICLE_INFO", "MODE_PERMANENT_DTC",
           "OBD_ECUS"]

MODE_CURRENT_DATA = 0x01
MODE_DTC = 0x03
MODE_PENDING_DTC = 0x07
MODE_VEHICLE_INFO = 0x09
MODE_PERMANENT_DTC = 0x0A
_POSITIVE = 0x40
_MAX_PIDS = 6                       # PIDs per mode 01 request (ISO 15031-5)
OBD_ECUS = tuple(range(0x7E0, 0x7E8))   # ISO 15765-4 11-bit physical request ids
INFO_VIN = 0x02
INFO_CALID = 0x04
INFO_ECU_NAME = 0x0A


class ObdError(DiagbridgeError):
    """An OBD answer that does not follow ISO 15031-5 (the bytes are in ``raw``)."""

    def __init__(self, msg: str, raw: bytes = b"") -> None:
        super().__init__(msg)
        self.raw = raw


@dataclass
class ObdValue:
    """One decoded answer: ``value`` in ``unit`` (None when no ECU answered:
    ``is_null()``), ``name`` and ``pid``, the data bytes ``raw``, and ``ecu``
    (the response id, or the channel, that answered)."""
    pid: int
    name: str
    value: object = None
    unit: Optional[str] = None
    raw: bytes = b""
    ecu: Optional[int] = None
    description: str = ""

    def is_null(self) -> bool:
        return self.value is None and not self.raw

    def __str__(self) -> str:
        if self.is_null():
            return "%s: no answer" % self.name
        if isinstance(self.value, float):
            v = ("%.3f" % self.value).rstrip("0").rstrip(".")
        else:
            v = str(self.value)
        return "%s %s" % (v, self.unit) if self.unit else v

    def as_dict(self) -> dict:
        v = self.value
        if isinstance(v, tuple):
            v = list(v)
        if isinstance(v, list) and v and isinstance(v[0], ObdDtc):
            v = [str(x) for x in v]
        if isinstance(v, ObdDtc):
            v = str(v)
        if isinstance(v, (bytes, bytearray)):
            v = bytes(v).hex()              # a PID without a formula here: its data bytes
        return {"pid": "%02X" % self.pid, "name": self.name, "value": v, "unit": self.unit,
                "raw": self.raw.hex(), "ecu": None if self.ecu is None else "%X" % self.ecu}


def parse_mode01(rsp: bytes, ecu: Optional[int] = None) -> List[ObdValue]:
    """``41 PID data [PID data ..]`` -> one ObdValue per PID; ObdError when
    the bytes do not follow the table."""
    rsp = bytes(rsp)
    if len(rsp) < 2 or rsp[0] != MODE_CURRENT_DATA + _POSITIVE:
        raise ObdError("mode 01: not a positive answer (%s)" % rsp.hex(" "), rsp)
    out = []
    i = 1
    while i < len(rsp):
        pid = rsp[i]
        n = pid_length(pid)
        if n is None:
            raise ObdError("mode 01: answer for PID 0x%02X, which has no J1979 length (%s)"
                           % (pid, rsp.hex(" ")), rsp)
        data = rsp[i + 1:i + 1 + n]
        if len(data) != n:
            raise ObdError("mode 01: PID 0x%02X has %d data bytes, J1979 says %d (%s)"
                           % (pid, len(data), n, rsp.hex(" ")), rsp)
        p = pid_by_name(pid)
        out.append(ObdValue(pid, p.name, p.decode(data), p.unit, data, ecu, p.description))
        i += 1 + n
    return out


def parse_dtcs(rsp: bytes, mode: int) -> List[ObdDtc]:
    """``43/47/4A count DTC(2) ..`` (ISO 15765-4: the count byte first)."""
    rsp = bytes(rsp)
    if len(rsp) < 2 or rsp[0] != mode + _POSITIVE:
        raise ObdError("mode %02X: not a positive answer (%s)" % (mode, rsp.hex(" ")), rsp)
    n = rsp[1]
    if len(rsp) != 2 + 2 * n:
        raise ObdError("mode %02X: %d DTCs announced, %d bytes follow (%s)"
                       % (mode, n, len(rsp) - 2, rsp.hex(" ")), rsp)
    return [decode_dtc(rsp[i], rsp[i + 1]) for i in range(2, len(rsp), 2)
            if rsp[i] or rsp[i + 1]]


def parse_info(rsp: bytes, info_type: int, item_len: int) -> List[bytes]:
    """``49 InfoType NODI item ..``: the data items."""
    rsp = bytes(rsp)
    if len(rsp) < 3 or rsp[0] != MODE_VEHICLE_INFO + _POSITIVE or rsp[1] != info_type:
        raise ObdError("mode 09 %02X: not a positive answer (%s)" % (info_type, rsp.hex(" ")),
                       rsp)
    n = rsp[2]
    body = rsp[3:]
    if len(body) != n * item_len:
        raise ObdError("mode 09 %02X: %d items of %d bytes announced, %d bytes follow"
                       % (info_type, n, item_len, len(body)), rsp)
    return [body[i:i + item_len] for i in range(0, len(body), item_len)]


def _text(b: bytes) -> str:
    return b.rstrip(b"\x00").replace(b"\x00", b" ").decode("ascii", "replace")


class Obd:
    """OBD-II requests on a ``UdsClient`` (``conn.uds(0, 0x7E0, 0x7E8)``).

    ``peers``: other clients on the same bus (one per ECU) whose answers to
    a functional request are reported too; ``labels``: {channel: response
    id} for the ``ecu`` of each answer.  ``Obd.open(conn)`` opens a client
    for every id 7E0-7E7 and closes them with ``close()``."""

    def __init__(self, uds: Any, *, peers: Sequence = (), labels: Optional[Dict[int, int]] = None) -> None:
        self.uds = uds
        self.peers = [p for p in peers if p is not uds]
        self.labels = dict(labels or {})
        self._owned: list = []

    @classmethod
    def open(cls, conn: Any, bus: int = 0, ecu: int = 0x7E0,
             ecus: Iterable[int] = OBD_ECUS, functional_id: int = 0x7DF) -> "Obd":
        """Clients to every ``ecus`` id (answers on id + 8) on ``bus``; physical
        requests go to ``ecu``, functional ones to ``functional_id``."""
        ids = list(ecus)
        if ecu not in ids:
            ids.insert(0, ecu)
        clients = {}
        try:
            for tx in ids:
                clients[tx] = conn.uds(bus, tx_id=tx, rx_id=tx + 8, func_tx_id=functional_id)
        except BaseException:
            for c in clients.values():
                c.close()
            raise
        obd = cls(clients[ecu], peers=[clients[t] for t in ids if t != ecu],
                  labels={c.channel: tx + 8 for tx, c in clients.items()})
        obd._owned = list(clients.values())
        return obd

    def close(self) -> None:
        for c in self._owned:
            c.close()
        self._owned = []

    def __enter__(self) -> "Obd":
        return self

    def __exit__(self, *exc: Any) -> None:
        try:
            self.close()
        except Exception:           # noqa: BLE001 (the link may be gone already)
            pass

    # ---- transport -------------------------------------------------------------------------
    def _ecu(self, channel: int) -> int:
        return self.labels.get(channel, channel)

    def _ask(self, req: bytes) -> Optional[bytes]:
        rsp = self.uds.request(req)
        if not rsp.ok:
            log.debug("OBD %s: %s", req.hex(), rsp.result_name)
            return None
        return bytes(rsp)

    def _ask_all(self, req: bytes) -> Dict[int, bytes]:
        answers = self.uds.request_functional(req)
        return {self._ecu(ch): bytes(r) for ch, r in sorted(answers.items()) if r.ok}

    # ---- mode 01 ---------------------------------------------------------------------------
    def query(self, cmd: Union[str, int]) -> ObdValue:
        """Mode 01 ``cmd`` (a name or PID number) of this ECU; a null value if
        it did not answer (the PID is not supported)."""
        return self.query_many([cmd])[0]

    def query_many(self, cmds: Sequence[Union[str, int]]) -> List[ObdValue]:
        """Several PIDs, up to six per request: one ObdValue per ``cmds`` item."""
        pids = [pid_by_name(c) for c in cmds]
        if not pids:
            raise UsageError("name at least one PID")
        got: Dict[int, ObdValue] = {}
        for i in range(0, len(pids), _MAX_PIDS):
            part = pids[i:i + _MAX_PIDS]
            rsp = self._ask(bytes([MODE_CURRENT_DATA] + [p.pid for p in part]))
            if rsp is not None:
                for v in parse_mode01(rsp, self._ecu(self.uds.channel)):
                    got[v.pid] = v
        return [got.get(p.pid) or ObdValue(p.pid, p.name, None, p.unit, b"", None,
                                           p.description) for p in pids]

    def query_all(self, cmd: Union[str, int]) -> Dict[int, ObdValue]:
        """Mode 01 ``cmd`` on the functional id: {ecu: ObdValue} of every ECU
        that answered."""
        p = pid_by_name(cmd)
        out = {}
        for ecu, rsp in self._ask_all(bytes((MODE_CURRENT_DATA, p.pid))).items():
            for v in parse_mode01(rsp, ecu):
                if v.pid == p.pid:
                    out[ecu] = v
        return out

    def supported_pids(self) -> List[int]:
        """The mode 01 PIDs this ECU supports (bitmaps 00, 20, 40 .. while the
        last bit says the next one exists), bitmap PIDs excluded."""
        return self._supported(lambda req: self._ask(req))

    def supported_pids_all(self) -> Dict[int, List[int]]:
        """{ecu: supported PIDs} of every ECU answering on the functional id."""
        first = self._ask_all(b"\x01\x00")
        out = {}
        for ecu in first:
            ch = next((c for c, e in self.labels.items() if e == ecu), None)
            client = next((c for c in [self.uds] + self.peers if c.channel == ch), None)
            if client is None:
                out[ecu] = self._bits(first[ecu], 0)
                continue
            out[ecu] = Obd(client, labels=self.labels).supported_pids()
        return out

    def _supported(self, ask: Any) -> List[int]:
        pids: List[int] = []
        base = 0
        while base <= 0xE0:
            rsp = ask(bytes((MODE_CURRENT_DATA, base)))
            if rsp is None:
                break
            bits = self._bits(rsp, base)
            pids += [p for p in bits if p & 0x1F]
            if base + 0x20 not in bits:
                break
            base += 0x20
        return pids

    @staticmethod
    def _bits(rsp: bytes, base: int) -> List[int]:
        if len(rsp) != 6 or rsp[0] != 0x41 or rsp[1] != base:
            raise ObdError("mode 01 PID %02X: not a supported-PID bitmap (%s)"
                           % (base, rsp.hex(" ")), rsp)
        return bitmap(base)(rsp[2:6])

    # ---- modes 03, 07, 0A ------------------------------------------------------------------
    def dtcs(self) -> List[ObdDtc]:
        """Mode 03: the emission-related confirmed DTCs."""
        return self._dtcs(MODE_DTC)

    def pending_dtcs(self) -> List[ObdDtc]:
        """Mode 07: the pending DTCs (this or the last driving cycle)."""
        return self._dtcs(MODE_PENDING_DTC)

    def permanent_dtcs(self) -> List[ObdDtc]:
        """Mode 0A: the permanent DTCs."""
        return self._dtcs(MODE_PERMANENT_DTC)

    def dtcs_all(self, mode: int = MODE_DTC) -> Dict[int, List[ObdDtc]]:
        """{ecu: DTCs} of mode 03 (or 07 / 0A) on the functional id."""
        if mode not in (MODE_DTC, MODE_PENDING_DTC, MODE_PERMANENT_DTC):
            raise UsageError("DTC mode must be 0x03, 0x07 or 0x0A")
        return {ecu: parse_dtcs(r, mode) for ecu, r in self._ask_all(bytes((mode,))).items()}

    def read_dtcs(self, mode: int = MODE_DTC) -> Optional[List[ObdDtc]]:
        """Mode 03 (or 07 / 0A) of this ECU; None when it did not answer."""
        if mode not in (MODE_DTC, MODE_PENDING_DTC, MODE_PERMANENT_DTC):
            raise UsageError("DTC mode must be 0x03, 0x07 or 0x0A")
        rsp = self._ask(bytes((mode,)))
        return None if rsp is None else parse_dtcs(rsp, mode)

    def _dtcs(self, mode: int) -> List[ObdDtc]:
        dtcs = self.read_dtcs(mode)
        if dtcs is None:
            raise ObdError("mode %02X: no answer from the ECU" % mode)
        return dtcs

    # ---- mode 09 ---------------------------------------------------------------------------
    def vin(self) -> Optional[str]:
        """Mode 09 InfoType 02: the VIN (17 characters), None if not supported."""
        rsp = self._ask(bytes((MODE_VEHICLE_INFO, INFO_VIN)))
        return None if rsp is None else _text(parse_info(rsp, INFO_VIN, 17)[0])

    def vin_all(self) -> Dict[int, str]:
        """{ecu: VIN} of every ECU answering 09 02 on the functional id."""
        return {ecu: _text(parse_info(r, INFO_VIN, 17)[0])
                for ecu, r in self._ask_all(bytes((MODE_VEHICLE_INFO, INFO_VIN))).items()}

    def calids(self) -> List[str]:
        """Mode 09 InfoType 04: the calibration ids (16 characters each)."""
        rsp = self._ask(bytes((MODE_VEHICLE_INFO, INFO_CALID)))
        return [] if rsp is None else [_text(c) for c in parse_info(rsp, INFO_CALID, 16)]

    def ecu_name(self) -> Optional[str]:
        """Mode 09 InfoType 0A: the ECU's acronym and name ("ECM-EngineControl")."""
        rsp = self._ask(bytes((MODE_VEHICLE_INFO, INFO_ECU_NAME)))
        if rsp is None:
            return None
        raw = parse_info(rsp, INFO_ECU_NAME, 20)[0]
        return _text(raw[:4]) + _text(raw[4:])
