"""CAN-TP over python-can: what the blocking and the asyncio fronts share.

* ``TransportError`` / ``TransportTimeout``: a failed transfer, with the core's
  N_* result code (``.result``) and its name from ISO 15765-2 (``.name``).
* ``channel_config(**params)``: can-isotp-style keyword arguments ->
  ``(TpConfig, Address)`` of the core.
* ``CanTpEngine``: the runner body of ARCHITECTURE.md section 6 for one bus and
  its channels (a ``Mux``): feed received frames, ``on_timer``, pop frames to
  ``bus.send``, dispatch events.  It holds no protocol logic: segmentation,
  flow control, STmin and every N_* timer stay in the core.  Not thread-safe:
  only the I/O loop that owns it calls it.

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
import logging
from collections import deque

import can

from diagbridge.codes import N_OK, code_name
from diagbridge.errors import ConfigError, DiagbridgeError, UsageError
from diagbridge.cantp.addr import (Address, ADDR_NORMAL_11, ADDR_NORMAL_29,
                                   ADDR_NORMAL_FIXED, ADDR_EXTENDED_11,
                                   ADDR_EXTENDED_29, ADDR_MIXED_11, ADDR_MIXED_29,
                                   FLAG_EXT, FLAG_FD, FLAG_BRS, TA_FUNCTIONAL,
                                   TA_PHYSICAL)
from diagbridge.cantp.config import TpConfig
from diagbridge.cantp.channel import Channel, TAG_RX
from diagbridge.cantp.events import EV_TX_DONE, EV_TX_FAILED, EV_RX_DONE, EV_RX_FAILED
from diagbridge.cantp.mux import Mux
from diagbridge.cpy.clock import now_us

log = logging.getLogger(__name__)

__all__ = ["TransportError", "TransportTimeout", "channel_config", "CanTpEngine",
           "ADDRESSING_MODES", "check_node", "NODE_VERBS"]

#: What a node added with ``add_node`` must have (see the module documentation).
NODE_VERBS = ("feed_frame", "on_timer", "deadline", "pop_frame", "confirm", "poll",
              "events", "tx_id", "tx_flags", "tx_tag")
_DEFAULT_CFG = TpConfig()           # send timeouts of a node without a cfg

#: Frames popped per loop iteration at most, so that a long BS=0 burst never
#: keeps received frames (other channels' flow control) waiting.
MAX_BURST = 32


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


def _addressing_mode(mode) -> int:
    if isinstance(mode, int) and not isinstance(mode, bool):
        return mode                         # the core's ADDR_* (Address validates)
    name = getattr(mode, "name", mode)      # can-isotp's AddressingMode member
    if isinstance(name, str) and name.lower() in ADDRESSING_MODES:
        return ADDRESSING_MODES[name.lower()]
    raise ConfigError("addressing_mode")


def channel_config(config: "TpConfig | None" = None, address: "Address | None" = None,
                   addressing_mode="normal_11", **params) -> "tuple[TpConfig, Address]":
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


def check_node(node) -> None:
    """Raise ``TypeError`` naming what ``node`` lacks of the node contract."""
    if isinstance(node, Channel):
        raise TypeError("a Channel is opened with open(), not added as a node")
    missing = [v for v in NODE_VERBS if not hasattr(node, v)]
    if not missing and not hasattr(node.events, "count"):
        missing.append("events.count")
    if missing:
        raise TypeError("not a CAN-TP node (%s has no %s)"
                        % (type(node).__name__, ", ".join(missing)))


class TxRequest:
    """One send() in flight: the loop calls ``finish(error_or_None)`` once."""
    __slots__ = ("data", "ta_type", "finish", "abandoned")

    def __init__(self, data: bytes, functional: bool, finish) -> None:
        self.data = data
        self.ta_type = TA_FUNCTIONAL if functional else TA_PHYSICAL
        self.finish = finish
        self.abandoned = False      # the caller stopped waiting


class Slot:
    """Loop-side state of one channel: its core Channel, the front's delivery
    callable (bytes or TransportError) and the queue of its send requests.
    For a node (``add_node``) ``channel`` is the node and ``deliver`` None."""
    __slots__ = ("channel", "deliver", "pending", "current", "name")

    def __init__(self, channel: Channel, deliver, name: str) -> None:
        self.channel = channel
        self.deliver = deliver
        self.pending = deque()
        self.current = None
        self.name = name


# python-can Message flags by the core's frame flags (index = flags & 7)
_MSG_FLAGS = tuple((bool(f & FLAG_EXT), bool(f & FLAG_FD), bool(f & FLAG_BRS))
                   for f in range(8))


def copies_on_send(bus) -> bool:
    """True for a bus whose ``send`` copies the message before it returns and
    keeps no reference to it: python-can's ``VirtualBus`` (exactly that class;
    it deep-copies the message for every receiver).  Such a bus may be given
    the same ``can.Message`` object again and again."""
    try:
        from can.interfaces.virtual import VirtualBus
    except ImportError:                 # pragma: no cover - python-can without it
        return False
    return type(bus) is VirtualBus


class CanTpEngine:
    """The runner body for one python-can bus shared by many channels.

    ``step(now, msgs)`` feeds the received ``can.Message`` objects, runs the
    timers, starts queued requests, sends what the core pops (at most
    ``MAX_BURST`` frames) and dispatches events; it returns the tick at which
    it wants to run again (None: only on input).  Call it from one thread."""

    def __init__(self, bus: can.BusABC) -> None:
        self.bus = bus
        self.slots = []
        self._mux = Mux(())
        self._io = self._mux        # the Mux, or the only Channel (same verbs, one call less)
        self._out = bytearray(64)
        self._outv = memoryview(self._out)
        self._rings = ()            # the channels' event rings (skip empty polls)
        self._waiting = []          # slots with a request not yet started
        self._again = False
        self._send_timeout_s = ()   # by tx_tag: N_As (sender) / N_Ar (FC)
        # by frame flags: one Message object re-filled per frame when the bus
        # copies what it is given (see copies_on_send), else None
        self._tx_msgs = None
        if copies_on_send(bus):
            self._tx_msgs = tuple(
                can.Message(is_extended_id=ext, is_fd=fd, bitrate_switch=brs, is_rx=False)
                for ext, fd, brs in _MSG_FLAGS)

    # -- channels (loop thread only) --------------------------------------
    def add(self, slot: Slot) -> None:
        self.slots.append(slot)
        self._rebuild()

    def add_node(self, node, name: str = "node") -> Slot:
        """Carry a node's frames (see the node contract above)."""
        slot = Slot(node, None, name)
        self.add(slot)
        return slot

    def remove_node(self, node) -> bool:
        """Stop carrying ``node``; False if it was not on this bus."""
        for slot in self.slots:
            if slot.channel is node and slot.deliver is None:
                self.slots.remove(slot)
                self._rebuild()
                return True
        return False

    def remove(self, slot: Slot, error: Exception) -> None:
        """Take a channel off the bus; its queued sends fail with ``error``."""
        if slot not in self.slots:
            return
        self.slots.remove(slot)
        slot.channel.reset()
        self._fail_all(slot, error)
        self._rebuild()

    def close(self, error: Exception) -> None:
        for slot in self.slots:
            self._fail_all(slot, error)
        self.slots = []
        self._rebuild()

    def _fail_all(self, slot, error):
        reqs = list(slot.pending)
        if slot.current is not None:
            reqs.insert(0, slot.current)
        slot.pending.clear()
        slot.current = None
        if slot in self._waiting:
            self._waiting.remove(slot)
        for req in reqs:
            req.finish(error)

    def _rebuild(self):
        chans = [s.channel for s in self.slots]
        self._mux = Mux(chans)
        # a lone channel is driven directly: its tx_tag equals the Mux's (index 0)
        self._io = chans[0] if len(chans) == 1 else self._mux
        self._rings = tuple(ch.events for ch in chans)
        t = []
        for ch in chans:
            cfg = getattr(ch, "cfg", None) or _DEFAULT_CFG
            t.append(cfg.n_as_ms / 1000.0)
            t.append(cfg.n_ar_ms / 1000.0)
        self._send_timeout_s = tuple(t)

    def submit(self, slot: Slot, req: TxRequest) -> None:
        """Queue a send request; the next step() starts it when the channel can."""
        if slot not in self.slots:
            req.finish(TransportError("channel closed"))
            return
        slot.pending.append(req)
        if slot not in self._waiting:
            self._waiting.append(slot)

    # -- the body ------------------------------------------------------------
    def step(self, now: int, msgs) -> "int | None":
        mux = self._io
        if msgs:
            feed = mux.feed_frame
            rings = self._rings
            for msg in msgs:
                if msg.is_error_frame or msg.is_remote_frame or not msg.is_rx:
                    continue
                data = msg.data
                flags = FLAG_EXT if msg.is_extended_id else 0
                if msg.is_fd:
                    flags |= FLAG_FD | FLAG_BRS if msg.bitrate_switch else FLAG_FD
                if feed(now, msg.arbitration_id, data, len(data), flags):
                    for ring in rings:
                        if ring.count:
                            self._dispatch()    # a payload is valid until the next feed
                            break
        mux.on_timer(now)
        if self._waiting:
            self._start(now)
        self._again = False
        self._flush()
        for ring in self._rings:
            if ring.count:
                self._dispatch()
                break
        if self._again:
            return now
        return mux.deadline()

    def _start(self, now):
        for slot in tuple(self._waiting):
            if slot.current is not None:
                continue
            while slot.pending and slot.pending[0].abandoned:
                slot.pending.popleft()
            if not slot.pending:
                self._waiting.remove(slot)
                continue
            req = slot.pending[0]
            ch = slot.channel
            try:
                ch.request(now, req.data, len(req.data), req.ta_type)
            except UsageError as e:
                if ch.tx_busy() or ch.rx_busy():
                    continue            # half duplex: after the reception
                slot.pending.popleft()
                req.finish(e)
                continue
            slot.pending.popleft()
            slot.current = req
            if not slot.pending:
                self._waiting.remove(slot)

    def _flush(self):
        mux = self._io
        out = self._out
        outv = self._outv
        send = self.bus.send
        timeouts = self._send_timeout_s
        Message = can.Message
        reuse = self._tx_msgs
        for _ in range(MAX_BURST):
            n = mux.pop_frame(out)
            if not n:
                return
            tag = mux.tx_tag
            if reuse is not None:
                msg = reuse[mux.tx_flags & 7]
                msg.arbitration_id = mux.tx_id
                msg.dlc = n
            else:
                ext, fd, brs = _MSG_FLAGS[mux.tx_flags & 7]
                msg = Message(arbitration_id=mux.tx_id, is_extended_id=ext, is_fd=fd,
                              bitrate_switch=brs, dlc=n, check=False)
            # immutable data: a bus that keeps or copies the message (virtual
            # deep-copies it per receiver: bytes are copied as an atom, a
            # bytearray through __reduce_ex__, 3x slower) never sees it change
            msg.data = bytes(outv[:n])
            try:
                send(msg, timeouts[tag])
                ok = True
            except can.CanError as e:
                ok = False
                log.warning("bus.send failed (%s): %s", "FC" if (tag & 1) == TAG_RX
                            else "frame", e)
            mux.confirm(now_us(), ok, tag)
        self._again = True              # burst cut short: come back at once

    def _dispatch(self):
        mux = self._mux
        slots = self.slots
        while True:
            ev = mux.poll()
            if not ev:
                return
            slot = slots[mux.chan]
            if slot.deliver is None:
                continue                # a node's own event: its poll() handled it
            ch = mux.channel
            if ev == EV_RX_DONE:
                slot.deliver(bytes(ch.payload[:ch.length]))
            elif ev == EV_RX_FAILED:
                log.info("%s: reception failed: %s", slot.name, code_name(ch.result))
                slot.deliver(transport_error(ch.result, "reception"))
            elif ev == EV_TX_DONE or ev == EV_TX_FAILED:
                req = slot.current
                slot.current = None
                if slot.pending:
                    if slot not in self._waiting:
                        self._waiting.append(slot)
                    self._again = True
                if req is None:
                    continue
                err = None if ch.result == N_OK else transport_error(ch.result, "transmission")
                if req.abandoned:
                    log.info("%s: abandoned send ended: %s", slot.name, code_name(ch.result))
                req.finish(err)
