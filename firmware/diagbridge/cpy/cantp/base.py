"""CAN-TP over python-can: what the blocking and the asyncio fronts share.

* ``TransportError`` / ``TransportTimeout``: a failed transfer, with the core's
  N_* result code (``.result``) and its name from ISO 15765-2 (``.name``).
* ``channel_config(**params)``: can-isotp-style keyword arguments ->
  ``(TpConfig, Address)`` of the core.
* ``check_node``: the node contract below; ``copies_on_send(bus)``.
* ``CanTpEngine``, ``Slot``, ``TxRequest``: the runner body itself, in
  ``engine``; ``LoopDriver`` in ``driver`` (both importable
  from here too).

Keyword arguments (units in the names; can-isotp's name where it differs):

=======================  ===============================  ======================
keyword                  can-isotp 2.x                    core
=======================  ===============================  ======================
addressing_mode          Address(addressing_mode)         Address fmt
tx_id, rx_id             txid, rxid                       tx_id, rx_id
target_address           target_address                   ta
source_address           source_address                   sa
address_extension        address_extension                ae
func_tx_id, func_rx_id,  (functional_id bits)             func_tx_id, ...
func_target_address                                       func_ta
priority                 (physical_id bits 28-26)         priority
block_size               blocksize                        block_size
stmin_us                 stmin (encoded byte)             stmin_us
tx_stmin_override_us     override_receiver_stmin (s)      tx_stmin_override_us
tx_padding               tx_padding                       padding
fd, tx_dl                can_fd, tx_data_length           fd, tx_dl
bitrate_switch           bitrate_switch                   brs
max_frame_size           max_frame_size                   max_pdu
tx_wft_max               wftmax                           tx_wft_max
wft_max                  (never sends FC.WAIT)            wft_max
n_bs_ms, n_cr_ms         rx_flowcontrol_timeout,          n_bs_ms, n_cr_ms
                         rx_consecutive_frame_timeout
n_as_ms n_ar_ms n_br_ms  -                                same
n_cs_ms full_duplex
events
=======================  ===============================  ======================

Nodes: besides its own channels (``open()``), a bus loop carries any sans-I/O
node that is not a ``Channel`` but has its frame verbs -- a
``diagbridge.ecu.Ecu`` (CAN-TP channel + UDS server), a gateway's CAN side --
added with ``add_node(node)`` and taken off with ``remove_node(node)``.  The
node contract (what the engine calls, in the loop thread only):

=================================  ==========================================
``feed_frame(now, id, data, n,     a received frame; True if it was the
flags)``                           node's (``flags``: ``FLAG_EXT/FD/BRS``)
``on_timer(now)``                  every step (early or often is harmless)
``deadline()``                     tick of the next ``on_timer``, or None
``pop_frame(out)``                 next frame into ``out`` (64 bytes), 0 = none;
                                   then ``tx_id``, ``tx_flags``, ``tx_tag``
                                   (0 or 1) describe it
``confirm(now, ok, tag)``          that frame left (``ok``) or ``bus.send``
                                   failed; ``tag`` = its ``tx_tag``
``events.count``, ``poll()``       the engine drains ``poll()`` whenever
                                   ``events.count`` is non-zero; the events
                                   are the node's own (the engine never reads
                                   a Channel's ``payload`` / ``result`` from
                                   a node), so a node acts on them in
                                   ``poll()`` or later from its state
``cfg`` (optional)                 a ``TpConfig``: ``n_as_ms`` / ``n_ar_ms``
                                   bound a blocking ``bus.send`` of its frames
                                   (tags 0 / 1); default ``TpConfig()``
=================================  ==========================================

A node takes no ``send()`` requests (it sends what it pops) and is not reset
when it is removed: after ``remove_node`` the engine never touches it again.

``addressing_mode``: "normal_11" (default), "normal_29", "normal_fixed",
"extended_11", "extended_29", "mixed_11", "mixed_29"; can-isotp's names
("Normal_11bits", "NormalFixed_29bits" ...), its ``AddressingMode`` members
and the core's ``ADDR_*`` ints are accepted too.

Transmit confirmation: python-can has none.  The engine confirms each frame
right after ``bus.send`` returns (``ok=False`` when it raised ``can.CanError``),
taking a fresh ``now``: STmin is then measured from the hand-over to the
driver, never from when the frame was built, so a late ``bus.send`` cannot
shorten the next gap; a failed ``bus.send`` ends the transfer with ``N_ERROR``
through the core instead of being lost; and N_As / N_Ar bound a ``bus.send``
that blocks (socketcan with a full transmit queue).
"""
from __future__ import annotations

import logging
from typing import Any

from diagbridge.codes import code_name
from diagbridge.errors import ConfigError, DiagbridgeError
from diagbridge.cantp.addr import (Address, ADDR_NORMAL_11, ADDR_NORMAL_29,
                                   ADDR_NORMAL_FIXED, ADDR_EXTENDED_11,
                                   ADDR_EXTENDED_29, ADDR_MIXED_11, ADDR_MIXED_29)
from diagbridge.cantp.config import TpConfig
from diagbridge.cantp.channel import Channel
from diagbridge.cpy.canbus import copies_on_send   # (re-exported: the fronts' contract)

log = logging.getLogger(__name__)

__all__ = ["TransportError", "TransportTimeout", "channel_config", "transport_error",
           "ADDRESSING_MODES", "check_node", "NODE_VERBS", "copies_on_send"]

#: What a node added with ``add_node`` must have (see the module documentation).
NODE_VERBS = ("feed_frame", "on_timer", "deadline", "pop_frame", "confirm", "poll",
              "events", "tx_id", "tx_flags", "tx_tag")
DEFAULT_CFG = TpConfig()            # send timeouts of a node without a cfg

class TransportError(DiagbridgeError, OSError):
    """A CAN-TP transfer failed.

    ``result`` is the core's N_* code (``diagbridge.codes``) and ``name`` its
    ISO 15765-2 name, e.g. ``N_TIMEOUT_BS``; both are None when the failure is
    local (the channel was closed, the caller's own timeout ran out)."""

    def __init__(self, message: str, result: "int | None" = None) -> None:
        super().__init__(message)
        self.result = result
        self.name = None if result is None else code_name(result)


class TransportTimeout(TransportError, TimeoutError):
    """A timeout: N_TIMEOUT_A/BS/CR from the core, or the caller's timeout
    (``result`` None)."""


def transport_error(result: int, what: str) -> TransportError:
    """The exception for a failed transfer with N_* code ``result``."""
    name = code_name(result)
    cls = TransportTimeout if name.startswith("N_TIMEOUT") else TransportError
    return cls("%s failed: %s" % (what, name), result)


ADDRESSING_MODES = {
    "normal_11": ADDR_NORMAL_11, "normal_29": ADDR_NORMAL_29,
    "normal_fixed": ADDR_NORMAL_FIXED, "extended_11": ADDR_EXTENDED_11,
    "extended_29": ADDR_EXTENDED_29, "mixed_11": ADDR_MIXED_11,
    "mixed_29": ADDR_MIXED_29,
    # can-isotp's AddressingMode names
    "normal_11bits": ADDR_NORMAL_11, "normal_29bits": ADDR_NORMAL_29,
    "normalfixed_29bits": ADDR_NORMAL_FIXED, "extended_11bits": ADDR_EXTENDED_11,
    "extended_29bits": ADDR_EXTENDED_29, "mixed_11bits": ADDR_MIXED_11,
    "mixed_29bits": ADDR_MIXED_29,
}

_TP_KEYS = {  # adapter keyword -> TpConfig keyword
    "n_as_ms": "n_as_ms", "n_ar_ms": "n_ar_ms", "n_bs_ms": "n_bs_ms",
    "n_br_ms": "n_br_ms", "n_cs_ms": "n_cs_ms", "n_cr_ms": "n_cr_ms",
    "block_size": "block_size", "stmin_us": "stmin_us",
    "tx_stmin_override_us": "tx_stmin_override_us", "wft_max": "wft_max",
    "tx_wft_max": "tx_wft_max", "max_frame_size": "max_pdu",
    "tx_padding": "padding", "fd": "fd", "tx_dl": "tx_dl",
    "bitrate_switch": "brs", "full_duplex": "full_duplex", "events": "events",
}
_ADDR_KEYS = {  # adapter keyword -> Address keyword
    "tx_id": "tx_id", "rx_id": "rx_id", "target_address": "ta",
    "source_address": "sa", "address_extension": "ae",
    "func_tx_id": "func_tx_id", "func_rx_id": "func_rx_id",
    "func_target_address": "func_ta", "priority": "priority",
}


def _addressing_mode(mode: Any) -> int:
    if isinstance(mode, int) and not isinstance(mode, bool):
        return mode                         # the core's ADDR_* (Address validates)
    name = getattr(mode, "name", mode)      # can-isotp's AddressingMode member
    if isinstance(name, str) and name.lower() in ADDRESSING_MODES:
        return ADDRESSING_MODES[name.lower()]
    raise ConfigError("addressing_mode")


def channel_config(config: "TpConfig | None" = None, address: "Address | None" = None,
                   addressing_mode: Any = "normal_11",
                   **params: Any) -> "tuple[TpConfig, Address]":
    """Build the core's ``(TpConfig, Address)`` from keyword arguments.

    ``config`` / ``address`` may be given ready-made instead of their keywords
    (not both).  An unknown keyword raises ``TypeError``; a bad value raises
    ``ConfigError`` naming the core's field."""
    tp = {}
    ad = {}
    for k, v in params.items():
        if k in _TP_KEYS:
            tp[_TP_KEYS[k]] = v
        elif k in _ADDR_KEYS:
            ad[_ADDR_KEYS[k]] = v
        else:
            raise TypeError("unexpected keyword argument %r" % k)
    if config is not None and tp:
        raise TypeError("give either config or its keywords: %s" % sorted(tp))
    if address is not None and ad:
        raise TypeError("give either address or its keywords: %s" % sorted(ad))
    if config is None:
        config = TpConfig(**tp)
    if address is None:
        if ad.get("priority") is None:
            ad.pop("priority", None)
        address = Address(_addressing_mode(addressing_mode), **ad)
    return config, address


def check_node(node: Any) -> None:
    """Raise ``TypeError`` naming what ``node`` lacks of the node contract."""
    if isinstance(node, Channel):
        raise TypeError("a Channel is opened with open(), not added as a node")
    missing = [v for v in NODE_VERBS if not hasattr(node, v)]
    if not missing and not hasattr(node.events, "count"):
        missing.append("events.count")
    if missing:
        raise TypeError("not a CAN-TP node (%s has no %s)"
                        % (type(node).__name__, ", ".join(missing)))

