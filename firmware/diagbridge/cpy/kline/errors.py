"""The K-Line adapters' errors and timing measurements (``KLinePort``,
``KLineTesterPort``): a peer's fault or a failed exchange carries the core's
K_* code; a timing the serial adapter cannot meet is its own error."""
from __future__ import annotations

from diagbridge.codes import code_name
from diagbridge.errors import DiagbridgeError

__all__ = ["KLineLinkError", "KLineTimeout", "KLineTimingError", "PatternReport"]


class KLineLinkError(DiagbridgeError, OSError):
    """A K-Line exchange or init failed.  ``result`` is the core's K_* code and
    ``name`` its name (``K_KEY_BYTES_ERROR`` ...); both None when the failure
    is local (the port closed, the caller's own timeout ran out)."""

    def __init__(self, message: str, result: "int | None" = None) -> None:
        super().__init__(message)
        self.result = result
        self.name = None if result is None else code_name(result)


class KLineTimeout(KLineLinkError, TimeoutError):
    """A K_TIMEOUT_* result from the core, or the caller's timeout (result None)."""


class KLineTimingError(DiagbridgeError, RuntimeError):
    """The serial adapter cannot produce an init pattern within the standard's
    tolerance: ``what`` ("TiniL", "TWuP"), ``nominal_us``, the achieved range
    ``low_us``..``high_us`` and ``error_us`` (> ``tolerance_us``)."""

    def __init__(self, report: "PatternReport") -> None:
        super().__init__("%s achieved %d..%d us, nominal %d us: error %d us exceeds +-%d us"
                         % (report.what, report.low_us, report.high_us, report.nominal_us,
                            report.error_us, report.tolerance_us))
        self.report = report
        self.what = report.what
        self.nominal_us = report.nominal_us
        self.low_us = report.low_us
        self.high_us = report.high_us
        self.error_us = report.error_us
        self.tolerance_us = report.tolerance_us


class PatternReport:
    """One measured pattern time: ``what`` ("TiniL", "TWuP", "5-baud low"),
    ``nominal_us``, the achieved range ``low_us``..``high_us`` (see the module
    documentation), ``error_us`` and whether it is within ``tolerance_us``."""

    __slots__ = ("what", "nominal_us", "low_us", "high_us", "error_us", "tolerance_us")

    def __init__(self, what: str, nominal_us: int, low_us: int, high_us: int,
                 tolerance_us: int) -> None:
        self.what = what
        self.nominal_us = nominal_us
        self.low_us = low_us
        self.high_us = high_us
        self.error_us = max(abs(low_us - nominal_us), abs(high_us - nominal_us))
        self.tolerance_us = tolerance_us

    @property
    def ok(self) -> bool:
        return self.error_us <= self.tolerance_us

    def __repr__(self) -> str:
        return "PatternReport(%s %d..%d us, nominal %d, error %d, tol %d)" % (
            self.what, self.low_us, self.high_us, self.nominal_us, self.error_us,
            self.tolerance_us)
