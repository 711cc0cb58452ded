"""The ``diagbridge`` command's argument grammar, one rule for each kind of value.

* Identifiers, addresses, masks, DIDs, levels and bus numbers are **hex** by
  default, as diagnostic tools print them: ``7E0``, ``F190``, ``10000``;
  ``0x10000`` is hex too and ``0d65536`` is decimal.  A value wider than its
  field (``F1900`` as a DID, ``100`` as a status mask) is refused, never cut.
* Counts, durations and bit rates are quantities, decimal, their unit in the
  option name: ``--count 10``, ``--duration-s 2.5``, ``--timeout-s 5``,
  ``--bitrate 500000``.
* An ECU names the addressing it uses (ISO 15765-2 §10.3):

  ====================  =============================================  ==================
  ECU argument          means                                          addressing
  ====================  =============================================  ==================
  ``7E0``               request 0x7E0, response 0x7E8 (7E0-7E7)        normal, 11-bit
  ``7E0:7E8``           both 11-bit ids                                normal, 11-bit
  ``18DA10F1:18DAF110`` both 29-bit ids                                normal, 29-bit
  ``18DA10F1``          normal fixed id 18DA<TA><SA>                   normal fixed
  ``10``                with ``--addressing normal_fixed``: TA 0x10    normal fixed
  ``TX:RX``             with ``--addressing extended_11|extended_29``  extended (``--ta``)
  ``TX:RX``             with ``--addressing mixed_11``                 mixed (``--ae``)
  ``TA``                with ``--addressing mixed_29``                 mixed (``--ae``)
  ====================  =============================================  ==================

  ``--sa`` is the tester's address where the format has one (default F1).
  ``--functional-id`` is the functional request id (7DF for 11-bit, 18DB33F1
  for 29-bit, both by default); for normal fixed and 29-bit mixed its TA
  byte (18DB**33**F1) is what is used.
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from typing import Callable, Optional

__all__ = ["number", "num", "ADDRESSINGS", "EcuTarget", "resolve_ecu", "check_ecu_text",
           "NUMBER_RULE", "add_addressing", "ECU_HELP", "BUS", "hex_bytes"]

NUMBER_RULE = ("numbers: ids, addresses, DIDs, masks, levels and buses are hex (7E0, F190, "
               "10000; 0x10000 too, 0d65536 is decimal); counts, durations and bit rates are "
               "decimal (--count 10, --duration-s 2.5, --bitrate 500000)")

ADDRESSINGS = ("auto", "normal_11", "normal_29", "normal_fixed", "extended_11", "extended_29",
               "mixed_11", "mixed_29")

FUNC_11 = 0x7DF
FUNC_29 = 0x18DB33F1


def number(text: str, what: str, hi: int, lo: int = 0) -> int:
    """``text`` by the hex rule (0x hex, 0d decimal), within lo..hi; else
    ``argparse.ArgumentTypeError`` naming ``what``."""
    t = text.strip().lower().replace("_", "")
    try:
        if t.startswith("0d"):
            v = int(t[2:], 10)
        elif t.startswith("0x"):
            v = int(t[2:], 16)
        else:
            v = int(t, 16)
    except ValueError:
        raise argparse.ArgumentTypeError(
            "%s %r is not a number (hex by default: 7E0, 0x7E0; decimal: 0d2016)"
            % (what, text)) from None
    if not lo <= v <= hi:
        raise argparse.ArgumentTypeError("%s %r is out of range (0x%X-0x%X)"
                                         % (what, text, lo, hi))
    return v


def num(what: str, hi: int, lo: int = 0) -> Callable[[str], int]:
    """An argparse ``type=`` for :func:`number`."""
    def parse(text: str) -> int:
        return number(text, what, hi, lo)
    parse.__name__ = what                   # argparse names the type in its errors
    return parse


@dataclass
class EcuTarget:
    """Where one ECU is reached: the endpoint keywords for ``conn.uds(bus,
    **endpoint)`` and a label for messages."""
    endpoint: dict = field(default_factory=dict)
    label: str = ""
    tx_id: Optional[int] = None
    rx_id: Optional[int] = None

    def ids_text(self) -> str:
        if self.tx_id is None:
            return self.label
        w = 3 if self.tx_id <= 0x7FF and self.rx_id <= 0x7FF else 8
        return "0x%0*X -> 0x%0*X" % (w, self.tx_id, w, self.rx_id)


def check_ecu_text(text: str) -> str:
    """argparse ``type=`` for an ECU argument: its syntax only (the meaning
    depends on ``--addressing``, resolved by :func:`resolve_ecu`)."""
    parts = text.split(":")
    if len(parts) > 2 or not all(parts):
        raise argparse.ArgumentTypeError(
            "ECU %r: give the request id (7E0), TX:RX (7E0:7E8, 18DA10F1:18DAF110) or a "
            "normal fixed id (18DA10F1)" % text)
    for p in parts:
        number(p, "ECU id", 0x1FFFFFFF)
    return text


def _fixed_ids(prio: int, ta: int, sa: int) -> tuple:
    base = (prio << 26) | (0xDA << 16)
    return base | (ta << 8) | sa, base | (sa << 8) | ta


def _func_ta(functional_id: Optional[int]) -> int:
    if functional_id is None:
        return 0x33
    if functional_id <= 0xFF:
        return functional_id
    return (functional_id >> 8) & 0xFF


def resolve_ecu(text: str, addressing: str = "auto", *, sa: Optional[int] = None,
                ta: Optional[int] = None, ae: Optional[int] = None,
                functional_id: Optional[int] = None) -> EcuTarget:
    """The ECU argument ``text`` under ``addressing`` (see the module
    documentation); ``argparse.ArgumentTypeError`` says what is wrong."""
    err = argparse.ArgumentTypeError
    parts = [number(p, "ECU id", 0x1FFFFFFF) for p in check_ecu_text(text).split(":")]
    tester = 0xF1 if sa is None else sa
    if addressing == "auto":
        if len(parts) == 1:
            v = parts[0]
            if v <= 0x7FF:
                addressing = "normal_11"
            elif (v >> 16) & 0xFF == 0xDA:
                addressing = "normal_fixed"
            else:
                raise err("ECU %r: a 29-bit id alone must be a normal fixed id 18DA<TA><SA>; "
                          "give TX:RX for other 29-bit ids" % text)
        else:
            addressing = "normal_11" if max(parts) <= 0x7FF else "normal_29"
    if addressing in ("normal_11", "normal_29", "extended_11", "extended_29", "mixed_11"):
        wide = addressing.endswith("_29")
        if len(parts) == 1:
            if addressing != "normal_11":
                raise err("ECU %r: %s needs TX:RX" % (text, addressing))
            tx = parts[0]
            if not 0x7E0 <= tx <= 0x7E7:
                raise err("ECU %r: give TX:RX for ids outside 7E0-7E7" % text)
            parts = [tx, tx + 8]
        tx, rx = parts
        top = 0x1FFFFFFF if wide else 0x7FF
        if tx > top or rx > top:
            raise err("ECU %r: %s ids are %s-bit (up to 0x%X)"
                      % (text, addressing, "29" if wide else "11", top))
        fid = functional_id if functional_id is not None else (FUNC_29 if wide else FUNC_11)
        if fid > top:
            raise err("--functional-id 0x%X is a 29-bit id but ECU %r is 11-bit: give an "
                      "11-bit functional id (7DF) or 29-bit ECU ids" % (fid, text))
        ep = {"addressing": addressing, "tx_id": tx, "rx_id": rx, "func_tx_id": fid}
        if addressing.startswith("extended"):
            if ta is None:
                raise err("ECU %r: extended addressing needs --ta (the ECU's address byte)"
                          % text)
            ep.update(ta=ta, sa=tester, func_ta=_func_ta(None))
        elif addressing == "mixed_11":
            if ae is None:
                raise err("ECU %r: mixed addressing needs --ae (the address extension)" % text)
            ep["ae"] = ae
        label = "0x%X" % tx if addressing != "extended_11" and addressing != "extended_29" \
            else "0x%X TA 0x%02X" % (tx, ta)
        return EcuTarget(ep, label, tx, rx)
    if addressing in ("normal_fixed", "mixed_29"):
        if len(parts) != 1:
            raise err("ECU %r: %s takes the ECU's address (TA, e.g. 10) or a normal fixed "
                      "id 18DA<TA><SA>" % (text, addressing))
        v = parts[0]
        prio = 6
        if v > 0xFF:
            if (v >> 16) & 0xFF != (0xDA if addressing == "normal_fixed" else 0xCE):
                raise err("ECU %r is not a %s id" % (text, addressing))
            prio, v, tester = (v >> 26) & 7, (v >> 8) & 0xFF, v & 0xFF if sa is None else sa
        ep = {"addressing": addressing, "ta": v, "sa": tester, "priority": prio,
              "func_ta": _func_ta(functional_id)}
        if addressing == "mixed_29":
            if ae is None:
                raise err("ECU %r: mixed addressing needs --ae (the address extension)" % text)
            ep["ae"] = ae
            return EcuTarget(ep, "TA 0x%02X AE 0x%02X" % (v, ae))
        tx, rx = _fixed_ids(prio, v, tester)
        return EcuTarget(ep, "0x%X" % tx, tx, rx)
    raise err("unknown addressing %r (one of %s)" % (addressing, ", ".join(ADDRESSINGS)))


def add_addressing(p: argparse.ArgumentParser, func_help: str) -> None:
    g = p.add_argument_group("addressing (ISO 15765-2; see ECU above)")
    g.add_argument("--addressing", default="auto", choices=ADDRESSINGS,
                   help="auto (default): from the ECU argument's form and id width")
    g.add_argument("--functional-id", type=num("functional id", 0x1FFFFFFF), default=None,
                   metavar="ID", help=func_help)
    g.add_argument("--sa", type=num("tester address", 0xFF), default=None,
                   help="tester address for normal fixed / extended / 29-bit mixed (F1)")
    g.add_argument("--ta", type=num("target address", 0xFF), default=None,
                   help="the ECU's address byte (extended addressing)")
    g.add_argument("--ae", type=num("address extension", 0xFF), default=None,
                   help="address extension (mixed addressing)")


ECU_HELP = ("7E0 (tx 7E0, rx 7E8), TX:RX (7E0:7E8, 18DA10F1:18DAF110) or a normal fixed id "
             "18DA10F1; hex")
BUS = num("bus", 0xFF)


def hex_bytes(text: str) -> bytes:
    """argparse ``type=`` for raw bytes in hex: ``22F190``, ``22 F1 90``, ``22:F1:90``."""
    t = text.replace(" ", "").replace(":", "").replace(".", "")
    if t.lower().startswith("0x"):
        t = t[2:]
    try:
        if not t or len(t) % 2:
            raise ValueError
        return bytes.fromhex(t)
    except ValueError:
        raise argparse.ArgumentTypeError(
            "%r is not hex bytes (write 22F190 or '22 F1 90': two hex digits a byte)"
            % text) from None
