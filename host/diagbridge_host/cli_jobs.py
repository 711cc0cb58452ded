"""The long-running host subcommands of ``diagbridge``: ``flash`` (with a
progress bar: rate and ETA on stderr, and a final report) and ``monitor``
(print and/or log raw CAN with python-can's writers).  Parsing, connecting
and error messages live in ``diagbridge_host.cli``."""
from __future__ import annotations

import argparse
import json
import logging
import time
from typing import TYPE_CHECKING, Callable, Sequence, TextIO

from diagbridge.link import proto as P

from diagbridge_host import events as E
from diagbridge_host.cli_args import number
from diagbridge_host.cli_common import (CliError, CliUsage, _free_channel, _open, _say,
                                        _value_bytes)
from diagbridge_host.connection import Connection
from diagbridge_host.errors import LinkError
from diagbridge.uds.nrc_names import nrc_text

if TYPE_CHECKING:
    from diagbridge_host.uds import UdsClient

log = logging.getLogger(__name__)

__all__ = ["Progress", "cmd_flash", "cmd_monitor"]


# ---- flash -------------------------------------------------------------------------------
class Progress:
    """A progress bar with rate and ETA on a stream (throttled; plain lines
    every 10 % when the stream is not a terminal)."""

    def __init__(self, total: int, stream: TextIO,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.total = max(1, total)
        self.stream = stream
        self.clock = clock
        self.t0 = clock()
        self._last = -1.0
        self._decile = -1
        self._tty = hasattr(stream, "isatty") and stream.isatty()

    def line(self, done: int) -> str:
        dt = max(1e-6, self.clock() - self.t0)
        rate = done / dt
        eta = (self.total - done) / rate if rate > 0 else 0.0
        pct = done * 100 // self.total
        bar = "#" * (pct * 30 // 100)
        return "[%-30s] %3d%%  %d/%d bytes  %.1f KiB/s  ETA %.0f s" % (
            bar, pct, done, self.total, rate / 1024, eta)

    def update(self, done: int, total: int = 0) -> None:
        if total:
            self.total = max(1, total)
        now = self.clock()
        if self._tty:
            if now - self._last >= 0.1 or done >= self.total:
                self._last = now
                self.stream.write("\r" + self.line(done))
                self.stream.flush()
        else:
            d = done * 10 // self.total
            if d != self._decile:
                self._decile = d
                self.stream.write(self.line(done) + "\n")
                self.stream.flush()

    def finish(self) -> None:
        if self._tty:
            self.stream.write("\n")
            self.stream.flush()


def _flash_fields(pairs: Sequence[str]) -> dict:
    out = {}
    for p in pairs:
        k, sep, v = p.partition("=")
        if not sep:
            raise CliUsage("--set %r: write FIELD=VALUE" % p)
        neg = v.strip().startswith("-")
        try:
            n = number(v.strip().lstrip("-"), "--set " + k.strip(), 0xFFFFFFFF)
        except argparse.ArgumentTypeError as e:
            raise CliUsage(str(e)) from None
        out[k.strip()] = -n if neg else n
    return out


def cmd_flash(args: argparse.Namespace, conn: Connection, out: TextIO, err: TextIO) -> int:
    try:
        with open(args.image, "rb") as fh:
            image = fh.read()
    except OSError as e:
        raise CliUsage("image %s: %s" % (args.image, e.strerror or e))
    if not image:
        raise CliUsage("image %s is empty" % args.image)
    fields = _flash_fields(args.set)
    fields["security_level"] = args.security_level
    _free_channel(conn)
    bar = Progress(len(image), err)
    _say(err, "flashing %d bytes to %s at 0x%X" % (len(image), args.target.label, args.address))
    seen = {"done": 0, "steps": [], "interrupts": 0}

    def progress(done: int, total: int = 0) -> None:
        seen["done"] = done
        bar.update(done, total)

    def on_step(name: str) -> None:
        seen["steps"].append(name)
        log.info("flash step: %s", name)

    def on_interrupt() -> bool:
        # first Ctrl-C: the job goes on (the safe choice); second: abort
        seen["interrupts"] += 1
        if seen["interrupts"] > 1:
            return False
        bar.finish()
        _say(err, "Ctrl-C: the flash job keeps running on the gateway so the ECU is not left "
             "half-programmed (%d of %d bytes sent, step %r); it ends by itself. Press Ctrl-C "
             "again to abort it now." % (seen["done"], len(image),
                                         seen["steps"][-1] if seen["steps"] else "start"))
        return True

    with _open(conn, args.bus, args.target) as uds:
        try:
            rep = uds.flash(image, args.address, progress=progress, on_step=on_step,
                            key_algorithm=args.key_algorithm,
                            secret=_value_bytes(args.secret, "--secret"),
                            on_interrupt=on_interrupt, **fields)
        except KeyboardInterrupt:
            return _aborted(uds, args, err, seen, len(image))
    bar.finish()
    r = rep.report
    secs = r.get("elapsed_us", 0) / 1e6
    if not rep.ok:
        step = r.get("failed_step", r.get("step_name", "?"))
        if isinstance(step, int):
            step = P.flash_step_name(step)
        why = rep.result_name
        if rep.nrc is not None:
            why = "negative response 0x%02X %s" % (rep.nrc, nrc_text(rep.nrc))
        hint = " (check --secret and --key-algorithm)" if step in ("seed", "key") else ""
        raise CliError("flash FAILED at step %r: %s%s; steps: %s"
                       % (step, why, hint, " ".join(rep.steps)))
    args.result.update(report={k: (v.hex() if isinstance(v, bytes) else v)
                               for k, v in r.items()}, steps=list(rep.steps))
    print("flash OK: %d bytes to %s at 0x%X in %.2f s (%.1f KiB/s), %d blocks, "
          "%d retries, CRC-32 %08X%s" % (r.get("bytes", len(image)), args.target.label,
                                          args.address,
                                          secs, r.get("rate_bps", 0) / 1024, r.get("blocks", 0),
                                          r.get("retries", 0), r.get("crc_image", 0),
                                          ", verified" if r.get("verified") else ""), file=out)
    return 0


_BEFORE_ERASE = ("start", "idle", "pre_session", "dtc_off", "cc_off", "session", "seed", "key")
_AFTER_WRITE = ("checksum", "check", "reset", "cc_on", "dtc_on", "done")


def _aborted(uds: UdsClient, args: argparse.Namespace, err: TextIO, seen: dict, total: int) -> int:
    """The second Ctrl-C aborted the job: say where the ECU was left, bring
    it back to the default session if it still answers, say how to resume."""
    step = seen["steps"][-1] if seen["steps"] else "start"
    _say(err, "")
    _say(err, "flash ABORTED at step %r after %d of %d bytes." % (step, seen["done"], total))
    back = False
    end = time.monotonic() + 5.0
    while time.monotonic() < end:
        # the aborted job's last request may still be in flight: its channel
        # is busy until that ends, then 10 01 returns the ECU to default
        try:
            rsp = uds.request(b"\x10\x01", timeout_s=3.0)
        except LinkError as e:
            log.info("after the abort, 10 01: %s", e)
            time.sleep(0.2)
            continue
        except Exception as e:  # noqa: BLE001 (the link may be what was interrupted)
            log.info("after the abort, 10 01 failed: %s", e)
            break
        back = rsp.ok
        log.info("after the abort, 10 01: %s", rsp.hex() or rsp.result_name)
        break
    if step in _BEFORE_ERASE:
        state = "nothing was erased or written yet"
    elif step in _AFTER_WRITE:
        state = ("the image was written completely; only the closing steps (%s) did not run"
                 % step)
    else:
        state = ("its memory at 0x%X may be erased or partly written: the application is "
                 "not usable until it is programmed again" % args.address)
    _say(err, "The ECU %s: %s; it is %s." % (
        args.target.label, state,
        "back in the default session (10 01 answered)" if back else
        "still in the programming session until its S3 timer (about 5 s) or a power cycle "
        "ends it"))
    _say(err, "To finish: run the same 'diagbridge flash' command again (the download "
         "starts over from the first block).")
    return 130


# ---- monitor, status ---------------------------------------------------------------------
def cmd_monitor(args: argparse.Namespace, conn: Connection, out: TextIO, err: TextIO) -> int:
    import can
    writer = can.Logger(args.log) if args.log else None
    n = dropped = 0
    end = time.monotonic() + args.duration_s if args.duration_s > 0 else None
    _say(err, "listening on bus %d%s (Ctrl-C stops)" % (args.bus, "".join(
        " filter %X:%X" % f for f in args.filter or ())))
    try:
        with conn.can_monitor(args.bus, filters=args.filter) as frames:
            while not (args.count and n >= args.count):
                left = None if end is None else end - time.monotonic()
                if left is not None and left <= 0:
                    break
                ev = frames.get(0.5 if left is None else min(0.5, left))
                if isinstance(ev, E.CanFrame):
                    n += 1
                    if getattr(args, "json", False):
                        print(json.dumps({"t": ev.timestamp, "bus": ev.bus,
                                          "id": ev.arbitration_id,
                                          "ext": ev.is_extended_id, "fd": ev.is_fd,
                                          "echo": ev.is_echo, "data": bytes(ev.data).hex()}),
                              file=out, flush=True)
                    elif not args.quiet:
                        print(str(ev), file=out, flush=True)
                    if writer is not None:
                        writer.on_message_received(can.Message(
                            timestamp=ev.timestamp, arbitration_id=ev.arbitration_id,
                            is_extended_id=ev.is_extended_id, is_fd=ev.is_fd,
                            bitrate_switch=ev.bitrate_switch, data=ev.data,
                            dlc=len(ev.data), channel=ev.bus, is_rx=not ev.is_echo))
                elif isinstance(ev, E.DropReport):
                    dropped += ev.total
                    _say(err, "warning: the gateway dropped %d frames (this host fell behind)"
                         % ev.total)
                elif isinstance(ev, E.LinkLost):
                    raise CliError("link to the gateway lost: %s" % ev.reason)
    except KeyboardInterrupt:
        pass
    finally:
        if writer is not None:
            writer.stop()
    args.result.update(frames=n, dropped=dropped, log=args.log)
    _say(err, "%d frames%s%s" % (n, ", %d dropped by the gateway" % dropped if dropped else "",
                                 ", logged to %s" % args.log if args.log else ""))
    return 0
