"""Exceptions of the host library.

    DiagbridgeError (diagbridge.errors)
     +-- LinkError (also OSError)         the link failed or the gateway said no
     |    +-- LinkVersionError            the two ends speak different protocol versions
     |    +-- LinkAuthError               wrong key (either side), or a key is needed
     |    +-- LinkRefused                 role too low / not offered / no credit
     +-- LinkTimeout (also TimeoutError)  no answer in time
     +-- UdsError                         a UDS request failed (typed helpers only)
          +-- NegativeResponseError       the ECU said 7F SID NRC
          +-- UdsTimeout (also TimeoutError)  no response from the ECU

A negative response from an ECU is not an exception: it comes back as data.
"""
from __future__ import annotations

from typing import Any

from diagbridge.codes import code_name, LINK_REFUSED, LINK_NO_CREDIT, LINK_AUTH_FAILED
from diagbridge.errors import DiagbridgeError, UsageError, ConfigError  # noqa: F401 (re-export)


class LinkError(DiagbridgeError, OSError):
    """The host link failed or the gateway refused; `code` is a codes.LINK_* or 0."""

    def __init__(self, message: str, code: int = 0) -> None:
        # One argument: OSError would read two as (errno, strerror).
        super().__init__(message)
        self.code = code


class LinkTimeout(DiagbridgeError, TimeoutError):
    def __init__(self, message: str) -> None:
        super().__init__(message)


class LinkVersionError(LinkError):
    def __init__(self, gateway_version: Any, host_version: int) -> None:
        if gateway_version is None:
            what = "gateway did not say which link protocol it speaks"
        else:
            what = "gateway speaks link protocol %s" % gateway_version
        super().__init__(
            "%s, this library speaks %d: update the gateway firmware (or the host library)"
            % (what, host_version))
        self.gateway_version = gateway_version
        self.host_version = host_version


class LinkAuthError(LinkError):
    pass


class LinkRefused(LinkError):
    pass


def error_for(code: int, text: str, what: str = "request") -> "LinkError":
    """The exception for an ERROR message from the gateway.  ``text`` is its
    TEXT: str, or utf-8 bytes (decoded, undecodable bytes replaced)."""
    if isinstance(text, (bytes, bytearray, memoryview)):
        text = bytes(text).decode("utf-8", "replace")
    msg = "gateway refused the %s: %s (%s)" % (what, text or "no reason given", code_name(code))
    if code in (LINK_REFUSED, LINK_NO_CREDIT):
        return LinkRefused(msg, code)
    if code == LINK_AUTH_FAILED:
        return LinkAuthError(msg, code)
    return LinkError(msg, code)


# ---- UDS through the gateway (diagbridge_host.uds) -----------------------------------
class UdsError(DiagbridgeError):
    """A UDS request through the gateway did not give a positive response;
    ``response`` is the UdsResponse (``result``, ``nrc``)."""

    def __init__(self, message: str, response: Any = None) -> None:
        super().__init__(message)
        self.response = response


class NegativeResponseError(UdsError):
    """The ECU answered 7F SID NRC (raised only on request: raise_for_nrc())."""

    def __init__(self, response: Any) -> None:
        super().__init__("0x%02X: negative response 0x%02X %s (%s)"
                         % (response.sid, response.nrc, response.nrc_text, response.nrc_name),
                         response)
        self.nrc = response.nrc


class UdsTimeout(UdsError, TimeoutError):
    """No (complete) response from the ECU: A_TIMEOUT_P2, a CAN-TP timeout ..."""
