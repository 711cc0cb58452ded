"""What the gateway reports on its own: received CAN frames, K-Line bytes,
progress, state changes, errors and drop reports, as plain objects.

``Connection.events()`` yields them in the order the gateway sent them; a
``DropReport`` stands at the place where the gateway had to drop events
(its queue was full), with the exact counts.  ``LinkLost`` ends a stream.

Gateway timestamps are microsecond ticks that wrap (``ts_us``);
``GatewayClock`` unwraps them and maps them to seconds on the host's wall
clock (``timestamp``), anchored at the first event, so intervals between
frames are the gateway's own, not the link's.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Optional

from diagbridge.codes import code_name
from diagbridge.link import proto as P

__all__ = ["CanFrame", "KLineData", "Progress", "StateChange", "BusLockChange",
           "GatewayErrorEvent",
           "UdsAnswer", "DropReport", "LinkLost", "UnknownEvent", "GatewayClock", "kind_name",
           "convert"]

# The gateway's tick period (2**29 us), from the wire format's definition
_TS_PERIOD = P.TS_US_PERIOD
_TS_HALF = _TS_PERIOD >> 1

_KIND_NAMES = {v: k[4:] for k, v in vars(P).items()
               if k.startswith("MSG_") and isinstance(v, int) and not k.endswith(("_FIRST",
                                                                                  "_LAST"))}


def kind_name(kind: int) -> str:
    """``MSG_REQ_UDS`` -> ``"REQ_UDS"`` (``"0x5A"`` for an unknown kind)."""
    return _KIND_NAMES.get(kind, "0x%02X" % kind)


class GatewayClock:
    """Gateway ticks (us, wrapping) -> host seconds, monotonic across wraps.

    The first tick seen is mapped to the host's ``time.time()`` at that
    moment; later ticks add the gateway's own elapsed time.  Ticks must be
    seen at least every ~268 s (half the wrap) to stay unambiguous; a link
    heartbeat or any event keeps it fresh."""

    def __init__(self, wall: Any = time.time) -> None:
        self._wall = wall
        self._last: Optional[int] = None
        self._elapsed_us = 0
        self._anchor = 0.0

    def seconds(self, ts_us: int) -> float:
        """Host seconds of gateway tick ``ts_us``."""
        if self._last is None:
            self._last = ts_us
            self._anchor = self._wall()
            return self._anchor
        d = ((ts_us - self._last + _TS_HALF) % _TS_PERIOD) - _TS_HALF
        self._last = ts_us
        self._elapsed_us += d
        return self._anchor + self._elapsed_us / 1e6


@dataclass
class CanFrame:
    """A CAN frame the gateway received (or sent, with ``is_echo``)."""
    bus: int
    arbitration_id: int
    data: bytes
    flags: int
    ts_us: int                      # gateway ticks
    timestamp: float                # host seconds (GatewayClock)

    @property
    def is_extended_id(self) -> bool:
        return bool(self.flags & P.CAN_EXT)

    @property
    def is_fd(self) -> bool:
        return bool(self.flags & P.CAN_FD)

    @property
    def bitrate_switch(self) -> bool:
        return bool(self.flags & P.CAN_BRS)

    @property
    def is_remote_frame(self) -> bool:
        return bool(self.flags & P.CAN_RTR)

    @property
    def is_echo(self) -> bool:
        """Our own transmission, confirmed by the gateway's controller."""
        return bool(self.flags & P.CAN_ECHO)

    def __str__(self) -> str:
        ident = ("%08X" if self.is_extended_id else "%03X") % self.arbitration_id
        return "%.6f bus%d %s [%d] %s" % (self.timestamp, self.bus, ident, len(self.data),
                                        self.data.hex(" "))


@dataclass
class KLineData:
    """K-Line bytes (``message`` False) or a whole K-Line message (True)."""
    bus: int
    data: bytes
    ts_us: int
    timestamp: float
    message: bool


@dataclass
class Progress:
    """A long job advanced: ``done`` of ``total`` (bytes for a flash)."""
    ref: int                        # the request id the job belongs to
    done: int
    total: int

    @property
    def fraction(self) -> float:
        return self.done / self.total if self.total else 1.0


@dataclass
class StateChange:
    """``what`` (a WHAT_* of diagbridge.link.proto) changed to ``state``."""
    what: int
    state: int
    ref: Optional[int] = None

    @property
    def what_name(self) -> str:
        for k, v in vars(P).items():
            if k.startswith("WHAT_") and v == self.what:
                return k[5:].lower()
        return str(self.what)

    @property
    def state_name(self) -> str:
        """The flash step's name, or the result code's name."""
        if self.what == P.WHAT_FLASH_STEP:
            return P.flash_step_name(self.state)
        if self.what == P.WHAT_ECU:
            return "reset" if self.state == 1 else str(self.state)
        return code_name(self.state)


@dataclass
class BusLockChange(StateChange):
    """Another host took (``locked``) or gave up exclusive control of
    ``bus`` for flashing (``Connection.lock_bus``): while it holds it, this
    host's transmissions on that bus are refused (``LinkRefused``), its
    listeners keep receiving.  ``holder``: that host's name on the gateway."""
    holder: str = ""

    @property
    def bus(self) -> int:
        return self.ref if self.ref is not None else 0

    @property
    def locked(self) -> bool:
        return bool(self.state)

    @property
    def state_name(self) -> str:
        return "locked" if self.state else "released"


@dataclass
class GatewayErrorEvent:
    """The gateway reported an error (``code`` from diagbridge.codes)."""
    code: int
    text: str
    ref: Optional[int] = None

    @property
    def code_name(self) -> str:
        return code_name(self.code)


@dataclass
class UdsAnswer:
    """An extra UDS answer the gateway forwarded (EV_UDS)."""
    ref: int
    bus: int
    result: int
    data: bytes


@dataclass
class DropReport:
    """The gateway dropped events because the host fell behind: exact counts
    per event kind name (``{"EV_CAN_RX": 12}``), at the place of the gap."""
    counts: dict
    total: int


@dataclass
class LinkLost:
    """The link to the gateway is gone; no more events follow."""
    reason: str


@dataclass
class UnknownEvent:
    """An event kind this library does not know (a newer gateway)."""
    kind: int
    body: dict = field(repr=False)


def text_of(v: Any) -> str:
    """A TEXT value (str or utf-8 bytes) as str."""
    if isinstance(v, (bytes, bytearray)):
        return bytes(v).decode("utf-8", "replace")
    return "" if v is None else str(v)


def convert(kind: int, body: dict, clock: GatewayClock) -> Any:
    """A link event (kind, body) -> one of the objects above."""
    g = body.get
    if kind == P.MSG_EV_CAN_RX:
        ts = g(P.K_TS_US, 0)
        return CanFrame(g(P.K_BUS, 0), g(P.K_ID, 0), bytes(g(P.K_DATA) or b""),
                        g(P.K_FLAGS, 0), ts, clock.seconds(ts))
    if kind in (P.MSG_EV_KLINE_RX, P.MSG_EV_KLINE_MSG):
        ts = g(P.K_TS_US, 0)
        return KLineData(g(P.K_BUS, 0), bytes(g(P.K_DATA) or b""), ts, clock.seconds(ts),
                         kind == P.MSG_EV_KLINE_MSG)
    if kind == P.MSG_EV_PROGRESS:
        return Progress(g(P.K_REF, 0), g(P.K_DONE, 0), g(P.K_TOTAL, 0))
    if kind == P.MSG_EV_STATE:
        if g(P.K_WHAT) == P.WHAT_BUS_LOCK:
            return BusLockChange(P.WHAT_BUS_LOCK, g(P.K_STATE, 0), g(P.K_REF, 0),
                                 text_of(g(P.K_NAME)))
        return StateChange(g(P.K_WHAT, 0), g(P.K_STATE, 0), g(P.K_REF))
    if kind == P.MSG_EV_ERROR:
        return GatewayErrorEvent(g(P.K_CODE, 0), text_of(g(P.K_TEXT)), g(P.K_REF))
    if kind == P.MSG_EV_UDS:
        return UdsAnswer(g(P.K_REF, 0), g(P.K_BUS, 0), g(P.K_RESULT, 0),
                         bytes(g(P.K_DATA) or b""))
    return UnknownEvent(kind, body)


def drop_report(counts: dict) -> DropReport:
    """Counts per event kind (ints) -> DropReport with kind names."""
    return DropReport({kind_name(k): n for k, n in counts.items()}, sum(counts.values()))
