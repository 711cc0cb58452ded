"""``sim://``: an in-process simulated vehicle (``diagbridge.sim.vehicle``):
the gateway with UDS ECUs on two CAN buses, run in real time by a thread.

This is the one place the host library touches the simulation: the import
rules (tests/test_import_rules.py) let only this module import
``diagbridge.sim``, and only inside ``open_sim()``, so importing the host
library never loads the simulation.

    sim://                          every role granted without a key
    sim://?key=secret-of-16-bytes+  the full role needs that key (HMAC, as on a board)
    sim://?open_role=monitor&key=.. monitor without a key, more with it
"""
from __future__ import annotations

import hashlib
import os
import threading
import time
from typing import Any, Callable

from diagbridge.link import proto as P

from diagbridge_host.errors import LinkError, UsageError
from diagbridge_host.transports.base import Transport

_MAX_WAIT_S = 0.01          # longest pump sleep: the simulated buses run in real time


class RealTime:
    """Runs a Vehicle's virtual clock along the host's monotonic clock."""

    def __init__(self, vehicle: Any, clock: Callable[[], float] = time.monotonic) -> None:
        self.vehicle = vehicle
        self._clock = clock
        self._t0 = clock()
        self._e0 = vehicle.k.elapsed_us

    def target_us(self) -> int:
        return self._e0 + int((self._clock() - self._t0) * 1e6)

    def advance(self) -> None:
        """Run the simulation up to now."""
        k = self.vehicle.k
        d = self.target_us() - k.elapsed_us
        if d > 0:
            self.vehicle.run_for(d)

    def wait_s(self) -> float:
        """How long nothing happens in the simulation (capped)."""
        t = self.vehicle.k.next_time()
        if t is None:
            return _MAX_WAIT_S
        return min(_MAX_WAIT_S, max(0.0, (t - self.target_us()) / 1e6))


class SimTransport(Transport):
    """The host side of an in-process vehicle's link byte stream."""

    def __init__(self, vehicle: Any, url: str = "sim://") -> None:
        self.url = url
        self.vehicle = vehicle
        self._rt = RealTime(vehicle)
        self._cv = threading.Condition()
        self._to_gw = bytearray()
        self._to_host = bytearray()
        self._calls: list = []
        self._closed = False
        self._thread = threading.Thread(target=self._pump, daemon=True, name="diagbridge-sim")
        self._thread.start()

    def read(self, timeout_s: float) -> bytes:
        with self._cv:
            if not self._to_host and not self._closed:
                self._cv.wait(timeout_s)
            if self._closed:
                raise LinkError("%s: closed" % self.url)
            data = bytes(self._to_host)
            self._to_host.clear()
            return data

    def write(self, data: bytes) -> None:
        with self._cv:
            if self._closed:
                raise LinkError("%s: closed" % self.url)
            self._to_gw += data
            self._cv.notify_all()

    def call(self, fn: Callable) -> Any:
        """Run ``fn(vehicle)`` in the simulation thread (the simulation is not
        thread-safe) and return its result: inject frames, break an ECU ..."""
        done = threading.Event()
        box: list = []
        with self._cv:
            self._calls.append((fn, box, done))
            self._cv.notify_all()
        if not done.wait(10.0):
            raise LinkError("%s: the simulation did not run the call" % self.url)
        if isinstance(box[0], BaseException):
            raise box[0]
        return box[0]

    def close(self) -> None:
        with self._cv:
            self._closed = True
            self._cv.notify_all()
        if threading.current_thread() is not self._thread:
            self._thread.join(2.0)

    def _pump(self) -> None:
        rt = self._rt
        link = self.vehicle.link
        while True:
            with self._cv:
                if self._closed:
                    return
                data = bytes(self._to_gw)
                self._to_gw.clear()
                calls, self._calls = self._calls, []
            rt.advance()
            for fn, box, done in calls:
                try:
                    box.append(fn(self.vehicle))
                except BaseException as e:      # noqa: BLE001 (handed to the caller)
                    box.append(e)
                done.set()
            if data:
                link.feed(data)
            out = link.read()
            with self._cv:
                if out:
                    self._to_host += out
                    self._cv.notify_all()
                if not self._to_gw and not self._calls and not self._closed:
                    self._cv.wait(rt.wait_s())


def _role(name: str) -> int:
    for r in (P.ROLE_NONE, P.ROLE_MONITOR, P.ROLE_DIAGNOSTIC, P.ROLE_FULL):
        if name in ("none", "monitor", "diagnostic", "full")[r:r + 1]:
            return r
    raise UsageError("sim URL: open_role must be none, monitor, diagnostic or full")


def open_sim(rest: str, query: dict) -> SimTransport:
    """Build the simulated vehicle (imported here, and only here) and run it."""
    from diagbridge.sim.vehicle import Vehicle     # the one allowed sim import (see above)
    if rest.strip("/"):
        raise UsageError("sim URL takes no path: sim:// or sim://?key=...")
    key = query.pop("key", None)
    open_role = _role(query.pop("open_role", "none" if key else "full"))
    if query:
        raise UsageError("sim URL: unknown option(s) %s" % ", ".join(sorted(query)))
    keys = ((P.ROLE_FULL, key.encode()),) if key else ()
    # os.urandom: the gateway's login nonces and the ECUs' SecurityAccess seed entropy
    vehicle = Vehicle(hashlib.sha256, urandom=os.urandom, keys=keys, open_role=open_role)
    return SimTransport(vehicle, "sim://")
