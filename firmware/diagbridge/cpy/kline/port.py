"""A K-Line link machine (``KLineTester`` or ``KLineEcu``) on a pyserial port.

One I/O thread runs the core (the runner body of ARCHITECTURE.md section 6):
bytes the UART received go to ``feed_byte`` with their timestamps, the machine's
bytes leave at its deadline, its line actions become the init patterns::

    port = KLinePort("/dev/ttyUSB0", KLineTester(), on_event=handler)
    port.call(lambda now: port.machine.fast_init(now, 0x11))

Most callers use a front instead: ``diagbridge.cpy.kline.tester.KLineTesterPort``
(blocking ``fast_init`` / ``request``) or ``diagbridge.cpy.kline.ecu.KLineEcuRunner``.

Echo.  The K-Line is one wire, so a transceiver hears every byte it sends.  The
port feeds every byte it reads, its own echoes included, exactly as the wire
delivers them: the machine compares each echo with the byte it sent (a
difference is ``K_COLLISION``) and sends the next byte only after it, which is
the echo cancellation (nothing is filtered out here).  ``echo=False`` is for a
line that does not echo (a pseudo-terminal, a transceiver with its receiver
gated during transmit): the port then feeds a synthetic echo of each byte it
wrote one byte time (10 bits at ``baudrate``) later.

Init patterns (tester).  ``LINE_LOW`` for ``low_us`` is driven with
``serial.break_condition = True``, held by sleeping up to ``spin_us`` before
the end and spinning on the clock for the rest, then released with
``break_condition = False``; ``send_break`` is never used (it rounds to
0.25 s).  The fast-init wake-up (TiniL 25 ms) and the 5-baud address bits
(200 ms per bit, adjacent 0 bits in one pulse) go the same way.  Each pattern
is measured: the line fell somewhere between the clock readings around the
first call and rose between those around the second, so the achieved low time
lies in ``[rise_first - fall_last, rise_last - fall_first]``; the error is the
larger distance of that range's ends from the nominal.  TWuP (falling edge to
the first StartCommunication byte) is measured the same way at the write.
``timing="refuse"``: a TiniL or TWuP error beyond the standard's tolerance
(+-1 ms) stops the init (the StartCommunication is not sent, so the machine
reports the init as failed) and ``refused`` holds a ``KLineTimingError``, which
the tester front raises; ``timing="warn"`` logs a warning and goes on.  Every
measurement is in ``patterns`` (``PatternReport``).  USB serial adapters
usually carry a break request only at their latency timer (1-16 ms), which is
what the check catches.

Wake-up pattern (ECU).  A UART cannot time the line's edges: a wake-up pattern
reaches it at most as one NUL byte (a break).  ``wup="assume"`` (the default):
while the ECU is not initialised, a NUL after silence is taken as that break
and not fed, and a byte that starts at least TWuP - 1 ms after the previous
byte (or as the first one) is preceded by the nominal edges (the fall TWuP
before its start, the rise TiniL after the fall), so the core judges the
StartCommunication that follows.  The low time itself cannot be checked that
way.  ``wup="none"`` feeds bytes only (a machine fed edges by other means).

Timestamps.  A byte is stamped when the read returns it; several bytes read at
once are stamped one byte time apart ending at that reading (never before the
previous byte), as a UART delivering them one by one would have.  A byte on a
real line completes one byte time after its writer started it; a line without
baud pacing (a pseudo-terminal) delivers it at once, which would make every
byte look one byte time early (a request 962 us short of P3min at 10400
baud).  ``paced=False`` is for such a line: each byte read is fed one byte
time after it arrived (bytes read together one byte time apart), as the paced
line would have completed it.
"""
from __future__ import annotations

import logging
import os
import queue
import selectors
import threading
import time
from typing import Any, Callable

import serial

from diagbridge.clock import ticks_add, ticks_diff, due, earliest
from diagbridge.errors import ConfigError, UsageError
from diagbridge.kline import KLineEcu, LINE_LOW, LINE_HIGH
from diagbridge.kline import timing as T
from diagbridge.cpy.clock import now_us
from diagbridge.cpy.kline.errors import (KLineLinkError, KLineTimeout, KLineTimingError,
                                         PatternReport)

log = logging.getLogger(__name__)

__all__ = ["KLinePort", "KLineLinkError", "KLineTimeout", "KLineTimingError", "PatternReport",
           "TIMING_REFUSE", "TIMING_WARN", "FIVE_BAUD_TOL_US"]

TIMING_REFUSE = "refuse"
TIMING_WARN = "warn"
FIVE_BAUD_TOL_US = T.FIVE_BAUD_BIT_US // 10    # an address edge may be 10 % of a bit off


class _Call:
    __slots__ = ("fn", "event", "result", "error")

    def __init__(self, fn: Callable[[int], Any]) -> None:
        self.fn = fn
        self.event = threading.Event()
        self.result = None
        self.error = None


class KLinePort:
    """Runs ``machine`` on ``serial_or_url`` (a pyserial object, which the
    caller keeps owning, or a port name / pyserial URL opened and closed here).

    ``on_event(ev, now)`` runs in the I/O thread for every event the machine
    queues (read its details from the machine there; keep it short; an ECU's
    application may call ``machine.respond`` in it).  ``clock`` returns the
    core's ticks (default ``diagbridge.cpy.clock.now_us``); ``sleeper(seconds)``
    waits (default ``time.sleep``).  ``spin_us``: how long before an edge or a
    byte the thread stops sleeping and spins.  ``start=False`` leaves the
    thread unstarted: the owner calls ``step()`` itself (tests on a fake clock).
    """

    def __init__(self, serial_or_url: Any, machine: Any, *, baudrate: int = 10400,
                 echo: bool = True, paced: bool = True, timing: str = TIMING_REFUSE,
                 wup: str = "assume",
                 clock: Callable[[], int] = now_us,
                 sleeper: Callable[[float], None] = time.sleep,
                 on_event: "Callable[[int, int], None] | None" = None,
                 spin_us: int = 1000, start: bool = True, name: str = "kline") -> None:
        if timing not in (TIMING_REFUSE, TIMING_WARN):
            raise ConfigError("timing")
        if wup not in ("assume", "none"):
            raise ConfigError("wup")
        if not isinstance(baudrate, int) or isinstance(baudrate, bool) or not 1 <= baudrate <= 1000000:
            raise ConfigError("baudrate")
        if not isinstance(spin_us, int) or spin_us < 0:
            raise ConfigError("spin_us")
        if isinstance(serial_or_url, str):
            self.serial = serial.serial_for_url(serial_or_url, baudrate=baudrate, timeout=0)
            self._own = True
        else:
            self.serial = serial_or_url
            self._own = False
        self.machine = machine
        self.name = name
        self.echo = bool(echo)
        self.paced = bool(paced)
        self.timing = timing
        self._is_ecu = isinstance(machine, KLineEcu)
        self._wup = wup == "assume" and self._is_ecu
        self._clock = clock
        self._sleep = sleeper
        self._spin_us = spin_us
        self._on_event = on_event
        self._byte_us = T.byte_time_us(baudrate)
        self.patterns = []              # PatternReport, newest last (bounded)
        self.refused = None             # KLineTimingError of the latest refused init
        self.rx_count = 0
        self.tx_count = 0
        self._later = []                # (due tick, byte): synthetic echoes, unpaced bytes
        self._last_rx = None            # tick of the latest byte fed
        self._fall = None               # (first, last) readings around the latest fall
        self._twup_open = False         # the next byte written is the StartCommunication's first
        self._mute = False              # refused init: write nothing until the exchange ends
        self._calls = queue.SimpleQueue()
        self._running = True
        self.error = None               # what ended the I/O thread, if it failed
        self._sel = None
        self._wake_r = self._wake_w = -1
        fileno = getattr(self.serial, "fileno", None)
        if fileno is not None:
            try:
                fd = fileno()
            except Exception:
                fd = None
            if fd is not None:
                self._wake_r, self._wake_w = os.pipe()
                os.set_blocking(self._wake_r, False)
                os.set_blocking(self._wake_w, False)
                self._sel = selectors.DefaultSelector()
                self._sel.register(fd, selectors.EVENT_READ)
                self._sel.register(self._wake_r, selectors.EVENT_READ)
        self._thread = None
        if start:
            self._thread = threading.Thread(target=self._run, name="%s-io" % name, daemon=True)
            self._thread.start()

    # -- public -----------------------------------------------------------------------
    def call(self, fn: Callable[[int], Any], timeout: float = 5.0) -> Any:
        """Run ``fn(now)`` in the I/O thread (the machine is touched there only)
        and return its result; its exception is raised here."""
        if self._thread is None:
            c = _Call(fn)
            self._run_call(c, self._clock())
            self._flush(self._clock())
        else:
            if not self._running or not self._thread.is_alive():
                raise UsageError("the K-Line port is closed")
            c = _Call(fn)
            self._calls.put(c)
            self._wake()
            if not c.event.wait(timeout):
                raise KLineTimeout("the K-Line I/O thread did not answer")
        if c.error is not None:
            raise c.error
        return c.result

    def step(self) -> None:
        """One turn of the loop: commands, received bytes, timers, outputs."""
        now = self._clock()
        while True:
            try:
                c = self._calls.get_nowait()
            except queue.Empty:
                break
            self._run_call(c, now)
        self._feed()
        now = self._clock()
        self.machine.on_timer(now)
        self._flush(now)

    def next_due(self) -> "int | None":
        """The tick the loop next has work at (the machine's deadline or a
        synthetic echo), or None."""
        at = self.machine.deadline()
        if self._later:
            at = earliest(at, self._later[0][0])
        return at

    def close(self) -> None:
        """Stop the I/O thread and close the serial port if it was opened here."""
        self._running = False
        if self._thread is not None and self._thread is not threading.current_thread():
            self._wake()
            self._thread.join(5.0)
        if self._sel is not None:
            self._sel.close()
            self._sel = None
            os.close(self._wake_r)
            os.close(self._wake_w)
        if self._own:
            self.serial.close()

    def __enter__(self) -> "KLinePort":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- the loop ---------------------------------------------------------------------
    def _run(self) -> None:
        try:
            while self._running:
                self.step()
                self._wait()
        except Exception as e:          # a serial failure ends the port, reported
            if self._running:
                self.error = e
                log.exception("%s: I/O thread failed", self.name)
        finally:
            self._running = False
            while True:
                try:
                    c = self._calls.get_nowait()
                except queue.Empty:
                    break
                c.error = UsageError("the K-Line port is closed")
                c.event.set()

    def _run_call(self, c: _Call, now: int) -> None:
        try:
            c.result = c.fn(now)
        except Exception as e:
            c.error = e
        c.event.set()

    def _wake(self) -> None:
        if self._wake_w >= 0:
            try:
                os.write(self._wake_w, b"\0")
            except (BlockingIOError, OSError):
                pass

    def _wait(self) -> None:
        at = self.next_due()
        now = self._clock()
        if at is None:
            wait_us = 200000
        else:
            wait_us = ticks_diff(at, now) - self._spin_us
            if wait_us <= 0:
                self._sleep(0)          # spin (the next turn is close), GIL released
                return
            wait_us = min(wait_us, 200000)
        if self._sel is None:
            self._sleep(min(wait_us, 2000) / 1e6)   # no descriptor: poll
            return
        for key, _ in self._sel.select(wait_us / 1e6):
            if key.fd == self._wake_r:
                try:
                    os.read(self._wake_r, 64)
                except BlockingIOError:
                    pass

    def _feed(self) -> None:
        if self._later:
            now = self._clock()
            while self._later and due(now, self._later[0][0]):
                at, b = self._later.pop(0)
                self._feed_byte(at, b)
                self._flush(at)
        n = self.serial.in_waiting
        if not n:
            return
        data = self.serial.read(n)
        t = self._clock()
        k = len(data)
        if not self.paced:
            # the line completes them one byte time apart from now on
            base = t
            if self._later and ticks_diff(self._later[-1][0], t) > 0:
                base = self._later[-1][0]
            for i in range(k):
                self._later.append((ticks_add(base, (i + 1) * self._byte_us), data[i]))
            return
        for i in range(k):
            ts = ticks_add(t, -(k - 1 - i) * self._byte_us)
            if self._last_rx is not None and ticks_diff(ts, self._last_rx) < 0:
                ts = self._last_rx
            self._feed_byte(ts, data[i])
            self._flush(ts)

    def _feed_byte(self, ts: int, b: int) -> None:
        m = self.machine
        self.rx_count += 1
        if self._wup and not m.initialised:
            quiet = self._last_rx is None or ticks_diff(
                ticks_add(ts, -self._byte_us), self._last_rx) >= T.TWUP_US - T.TWUP_TOL_US
            if quiet and b == 0:
                return                  # a break, as a UART reads the wake-up low
            if quiet:
                fall = ticks_add(ts, -self._byte_us - T.TWUP_US)
                m.feed_line(fall, 0)
                m.feed_line(ticks_add(fall, T.TINIL_US), 1)
        self._last_rx = ts
        m.feed_byte(ts, b, 0)

    def _flush(self, now: int) -> None:
        m = self.machine
        while True:
            ev = m.poll()
            while ev:
                if self._on_event is not None:
                    self._on_event(ev, now)
                ev = m.poll()
            a = m.pop_line(now)
            if a == LINE_LOW:
                self._pattern(m.low_us)
                now = self._clock()
                continue
            if a == LINE_HIGH:
                continue
            b = m.pop_byte(now)
            if b < 0:
                return
            self._write(b)
            now = self._clock()

    def _pattern(self, low_us: int) -> None:
        """Drive the line low for low_us and release it, measured.  A wake-up
        pattern is busy-waited whole, up to the first byte's tick (TWuP):
        a sleep can overshoot by milliseconds on a loaded machine."""
        ser = self.serial
        m = self.machine
        five = low_us >= T.FIVE_BAUD_BIT_US         # an address pulse: whole 200 ms bits
        self._mute = False
        t0 = self._clock()
        ser.break_condition = True
        t1 = self._clock()
        self._hold(ticks_add(t1, low_us), self._spin_us if five else None)
        t2 = self._clock()
        ser.break_condition = False
        t3 = self._clock()
        if m.pop_line(t3) != LINE_HIGH:
            # the machine's release tick is later than ours: follow it
            at = m.deadline()
            self._hold(at if at is not None else t3, None)
            m.pop_line(self._clock())
        if five:
            self._report(PatternReport("5-baud low", low_us, ticks_diff(t2, t1),
                                       ticks_diff(t3, t0), FIVE_BAUD_TOL_US), False)
            return
        self._fall = (t0, t1)
        self._twup_open = True
        self._report(PatternReport("TiniL", low_us, ticks_diff(t2, t1), ticks_diff(t3, t0),
                                   T.TINIL_TOL_US), True)
        if not self._mute:
            at = m.deadline()               # the StartCommunication's first byte
            if at is not None:
                self._hold(at, None)

    def _report(self, rep: PatternReport, checked: bool) -> None:
        self.patterns.append(rep)
        if len(self.patterns) > 32:
            del self.patterns[0]
        if rep.ok or not checked:
            log.debug("%s: %r", self.name, rep)
            return
        if self.timing == TIMING_WARN:
            log.warning("%s: %s", self.name, KLineTimingError(rep))
            return
        self.refused = KLineTimingError(rep)
        self._mute = True
        self._twup_open = False
        log.error("%s: init refused: %s", self.name, self.refused)

    def _hold(self, until: int, margin: "int | None") -> None:
        """Wait until tick `until`: sleep up to `margin` us before it, then
        spin on the clock (margin None: spin all the way)."""
        while True:
            left = ticks_diff(until, self._clock())
            if left <= 0:
                return
            if margin is not None and left > margin:
                self._sleep((left - margin) / 1e6)
            else:
                self._sleep(0)          # lets the other threads run (the GIL)

    def _write(self, b: int) -> None:
        if self._mute:
            return                      # a refused init: nothing goes until the next pattern
        if self._twup_open:
            self._twup_open = False
            f0, f1 = self._fall
            nominal = self.machine.cfg.twup_us
            late = ticks_diff(self._clock(), f0)
            if self.timing == TIMING_REFUSE and late > nominal + T.TWUP_TOL_US:
                self._report(PatternReport("TWuP", nominal, ticks_diff(self._clock(), f1), late,
                                           T.TWUP_TOL_US), True)
                return
            w0 = self._clock()
            self._write_now(b)
            w1 = self._clock()
            self._report(PatternReport("TWuP", nominal, ticks_diff(w0, f1), ticks_diff(w1, f0),
                                       T.TWUP_TOL_US), True)
            return
        self._write_now(b)

    def _write_now(self, b: int) -> None:
        self.serial.write(bytes((b,)))
        self.tx_count += 1
        if not self.echo:
            at = ticks_add(self._clock(), self._byte_us)
            if self._later and ticks_diff(self._later[-1][0], at) > 0:
                at = self._later[-1][0]
            self._later.append((at, b))
