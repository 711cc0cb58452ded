"""Serve a UDS ECU profile on any python-can bus (CPython).

The ECU is the portable ``diagbridge.ecu.Ecu`` (CAN-TP channel + UdsServer);
it runs in the I/O thread of the python-can CAN-TP adapter
(``diagbridge.cpy.cantp.blocking.CanTpBus``), which feeds it frames, calls
``on_timer`` at its deadline (P2/P2* 0x78 cadence, S3, routines, CAN-TP
timers) and sends what it pops.  No second loop, no protocol logic here::

    bus = can.Bus(interface="socketcan", channel="can0")
    ecu = build_ecu("engine", nvm_dir="/var/lib/diagbridge/engine")
    with EcuRunner(bus, ecu) as runner:
        runner.wait()                       # until close() from another thread

Everything that touches the Ecu after start runs in the I/O thread; use
``runner.call(fn, *args)`` to read or change its state from elsewhere.
"""
import hashlib
import logging
import os
import threading
from typing import Any, Callable, Optional

import can

from diagbridge.errors import ConfigError
from diagbridge.uds.server.profile import Profile
from diagbridge.uds.server.nvm import MemNvm
from diagbridge.uds.nrc_names import nrc_name
from diagbridge.uds.server.core import T_REQUEST, T_RESPONSE, T_PENDING, T_S3_TIMEOUT
from diagbridge.cantp.config import TpConfig
from diagbridge.cantp.addr import Address
from diagbridge.ecu import (Ecu, EV_ECU_RESET, EV_TP_FAILED, EV_SESSION_CHANGED, EV_SECURITY,
                            EV_COMM_CONTROL, EV_DTC_SETTING, EV_LINK_CONTROL)
from diagbridge.codes import code_name
from diagbridge.cpy.cantp.blocking import CanTpBus

log = logging.getLogger(__name__)

__all__ = ["EcuRunner", "build_ecu", "load_profile_spec", "BUILTIN_PROFILES"]

#: Profiles shipped with the core, by the name ``--profile`` accepts.
BUILTIN_PROFILES = ("engine",)


def load_profile_spec(spec: str) -> Profile:
    """A Profile from a built-in name ("engine") or a .json / .toml file.

    Raises ConfigError with a readable message: missing file, unknown
    extension, a parse error (with the file's line) or a bad field (its path)."""
    if spec in BUILTIN_PROFILES:
        from diagbridge.uds.server.profiles import engine
        return Profile(engine.profile(), sources=engine.sources(engine.EngineState()))
    ext = os.path.splitext(spec)[1].lower()
    if ext not in (".json", ".toml"):
        raise ConfigError("profile: %r is neither a built-in profile (%s) nor a .json/.toml "
                          "file" % (spec, ", ".join(BUILTIN_PROFILES)))
    if not os.path.isfile(spec):
        raise ConfigError("profile: no such file: %s" % spec)
    from diagbridge.cpy.ecu.profile_file import load_profile
    try:
        return load_profile(spec)
    except UnicodeDecodeError as e:
        raise ConfigError("profile: %s: not UTF-8 text (%s)" % (spec, e)) from None
    except ConfigError as e:
        msg = str(e)
        if msg.startswith("profile"):
            raise
        raise ConfigError("profile: %s: bad field %s" % (spec, msg)) from None


def build_ecu(profile: "Profile | dict | str", *, nvm_dir: "str | None" = None,
              files_dir: "str | None" = None, fd: bool = False,
              tp_config: "TpConfig | None" = None, address: "Address | None" = None,
              reset_ms: int = 0, trace: Optional[Callable[..., None]] = None,
              urandom: "Callable[[int], bytes] | None" = os.urandom) -> Ecu:
    """An Ecu for ``profile`` (a Profile, a dict, or a spec for
    ``load_profile_spec``) with CPython storage.

    ``nvm_dir``: written DIDs, DTCs, memory and SecurityAccess counters
    persist there (atomic files), else in memory.  ``files_dir``: the
    RequestFileTransfer (0x38) sandbox folder (created if missing; only
    when the profile loads the transfer module).  ``fd``: CAN FD frames of
    64 bytes (``tp_config`` overrides the CAN-TP parameters entirely).
    ``urandom``: the entropy the SecurityAccess seeds start from at this
    power-up, mixed with a boot counter kept in the NVM (``None``: the
    counter alone, which keeps seeds distinct per power-up only while the
    NVM can store it)."""
    if isinstance(profile, str):
        profile = load_profile_spec(profile)
    elif isinstance(profile, dict):
        profile = Profile(profile)
    if nvm_dir is not None:
        from diagbridge.cpy.nvm_file import FileNvm
        nvm = FileNvm(nvm_dir)
    else:
        nvm = MemNvm()
    if tp_config is None and fd:
        # the profile's flow control (BS, STmin), on 64-byte frames; without fd the Ecu
        # builds its channel from the profile itself
        tp_config = TpConfig(fd=True, tx_dl=64, block_size=profile.cantp["block_size"],
                             stmin_us=profile.cantp["stmin_us"])
    ecu = Ecu(profile, tp_cfg=tp_config, nvm=nvm, address=address, reset_ms=reset_ms,
              trace=trace, urandom=urandom, sha256=hashlib.sha256)
    if files_dir is not None:
        if not ecu.srv.supports(0x38):
            raise ConfigError("files: the profile does not serve RequestFileTransfer "
                              "(add the 'transfer' module)")
        from diagbridge.cpy.files_os import OsFileStore
        from diagbridge.uds.server.services.transfer import set_file_store
        os.makedirs(files_dir, exist_ok=True)
        set_file_store(ecu.srv, OsFileStore(
            files_dir, profile.files.get("max_file_size", 0x100000)))
    return ecu


_EVENT_NAMES = {EV_SESSION_CHANGED: "session", EV_SECURITY: "security",
                EV_COMM_CONTROL: "communication control", EV_DTC_SETTING: "DTC setting"}


class _Node:
    """The Ecu as a node of the CAN-TP bus loop (``CanTpBus.add_node``): its
    frame verbs, plus logging of its events in ``poll()``, which the loop
    drains."""

    def __init__(self, ecu: Ecu, name: str, on_event: Optional[Callable[..., None]]) -> None:
        self.ecu = ecu
        self.cfg = ecu.cfg                  # N_As / N_Ar bound a blocking bus.send
        self.events = ecu.events            # .count: the loop skips empty polls
        self.feed_frame = ecu.feed_frame
        self.on_timer = ecu.on_timer
        self.confirm = ecu.confirm
        self.pop_frame = ecu.pop_frame
        self.deadline = ecu.deadline
        self._poll = ecu.poll
        self._name = name
        self._on_event = on_event

    @property
    def tx_id(self) -> int:
        return self.ecu.tx_id

    @property
    def tx_flags(self) -> int:
        return self.ecu.tx_flags

    @property
    def tx_tag(self) -> int:
        return self.ecu.tx_tag

    def poll(self) -> int:
        ev = self._poll()
        if ev:
            ecu = self.ecu
            if ev == EV_ECU_RESET:
                log.info("%s: ECU reset (type 0x%02X)", self._name, ecu.reset_kind)
            elif ev == EV_TP_FAILED:
                log.info("%s: CAN-TP transfer failed: %s", self._name, code_name(ecu.result))
            elif ev == EV_LINK_CONTROL:
                log.warning("%s: LinkControl asks for %d bit/s; the bus bit rate is not "
                            "changed by this runner", self._name, ecu.srv.link_baud)
            elif ev == EV_SESSION_CHANGED:
                log.info("%s: session 0x%02X -> 0x%02X", self._name, ecu.srv.old_session,
                         ecu.srv.session)
            else:
                log.debug("%s: %s changed", self._name, _EVENT_NAMES.get(ev, str(ev)))
            if self._on_event is not None:
                self._on_event(ev, ecu)
        return ev


class EcuRunner:
    """An Ecu served on a python-can bus by the CAN-TP adapter's I/O thread.

    ``bus`` stays the caller's (``close()`` does not shut it down).
    ``on_event(ev, ecu)``: called in the I/O thread for each of the Ecu's
    events (``diagbridge.ecu.EV_*``).  ``spin_us``: see ``blocking``.
    The thread starts at construction."""

    def __init__(self, bus: can.BusABC, ecu: Ecu, *, name: "str | None" = None,
                 spin_us: int = 1000, on_event: Optional[Callable[..., None]] = None) -> None:
        self.ecu = ecu
        self.name = name or ecu.profile.name
        self._closed = threading.Event()
        self._tpbus = CanTpBus(bus, spin_us=spin_us, name=self.name)
        self._node = _Node(ecu, self.name, on_event)
        self._tpbus.add_node(self._node, self.name)
        a = ecu.address
        log.info("%s: serving on %s (rx 0x%X, tx 0x%X%s)", self.name,
                 getattr(bus, "channel_info", "bus"), a.rx_id, a.tx_id,
                 ", functional 0x%X" % a.frx_id if a.frx_id >= 0 else "")

    def call(self, fn: Callable[..., Any], *args: Any, timeout: float = 5.0) -> Any:
        """Run ``fn(*args)`` in the I/O thread (where the Ecu lives) and return
        its result; raises its exception, or TimeoutError."""
        done = threading.Event()
        box = [None, None]

        def run() -> None:
            try:
                box[0] = fn(*args)
            except BaseException as e:          # handed to the caller
                box[1] = e
            done.set()
        self._tpbus._call(run)
        if not done.wait(timeout):
            raise TimeoutError("the ECU's I/O thread did not answer")
        if box[1] is not None:
            raise box[1]
        return box[0]

    def wait(self, timeout: "float | None" = None) -> bool:
        """Block until close() (True) or until ``timeout`` seconds (False)."""
        return self._closed.wait(timeout)

    def close(self, timeout: float = 5.0) -> None:
        """Stop serving: take the ECU off the bus and stop the I/O thread."""
        if self._closed.is_set():
            return
        try:
            self._tpbus.remove_node(self._node, timeout)
        except TimeoutError:
            log.warning("%s: the I/O thread did not take the ECU off the bus", self.name)
        self._tpbus.close(timeout)
        self._closed.set()
        log.info("%s: stopped", self.name)

    def __enter__(self) -> "EcuRunner":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def trace_logger(name: str) -> Callable[[int, int, int], None]:
    """A server trace hook that logs requests and responses (DEBUG)."""
    def trace(code: int, a: int, b: int) -> None:
        if not log.isEnabledFor(logging.DEBUG):
            return
        if code == T_REQUEST:
            log.debug("%s: request SID 0x%02X (%d bytes)", name, a, b)
        elif code == T_RESPONSE:
            if b:
                log.debug("%s: negative response 0x%02X %s", name, a, nrc_name(b))
            else:
                log.debug("%s: positive response 0x%02X", name, a)
        elif code == T_PENDING:
            log.debug("%s: 0x%02X response pending (0x78 #%d)", name, a, b)
        elif code == T_S3_TIMEOUT:
            log.debug("%s: S3 timeout in session 0x%02X", name, a)
    return trace
