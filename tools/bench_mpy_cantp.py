# Runs inside MicroPython (tools/bench_mpy_cantp.mjs): two diagbridge.cantp
# Channels wired directly, a 4095-byte classical transfer (normal 11-bit,
# BS=0, STmin=0), timed with time.ticks_us().  Prints one line.
import time
from diagbridge.cantp import Address, Channel, TpConfig, ADDR_NORMAL_11, EV_RX_DONE
from diagbridge.clock import TICKS_MASK

SIZE = 4095
REPS = 5


def now():
    return time.ticks_us() & TICKS_MASK


def main():
    cfg = TpConfig(block_size=0)
    a = Channel(cfg, Address(ADDR_NORMAL_11, tx_id=0x7E0, rx_id=0x7E8))
    b = Channel(cfg, Address(ADDR_NORMAL_11, tx_id=0x7E8, rx_id=0x7E0))
    out = bytearray(64)
    data = bytes((i * 13) & 0xFF for i in range(SIZE))
    best = None
    for rep in range(REPS + 1):                # the first one warms up
        frames = 0
        t0 = time.ticks_us()
        a.request(now(), data, SIZE)
        done = False
        while not done:
            t = now()
            n = a.pop_frame(out)
            while n:
                b.feed_frame(t, a.tx_id, out, n, a.tx_flags)
                a.confirm(t, True, a.tx_tag)
                frames += 1
                n = a.pop_frame(out)
            n = b.pop_frame(out)
            while n:
                a.feed_frame(t, b.tx_id, out, n, b.tx_flags)
                b.confirm(t, True, b.tx_tag)
                frames += 1
                n = b.pop_frame(out)
            while a.poll():
                pass
            ev = b.poll()
            while ev:
                if ev == EV_RX_DONE:
                    done = True
                ev = b.poll()
        us = time.ticks_diff(time.ticks_us(), t0)
        if b.length != SIZE or b.payload[SIZE - 1] != data[SIZE - 1]:
            raise SystemExit("bad transfer")
        if rep and (best is None or us < best[0]):
            best = (us, frames)
    us, frames = best
    print("micropython core 4095 B classic BS=0 (%d fr): %d frames/s, %d B/s, %.1f us/frame"
          " (best of %d, npm MicroPython WebAssembly under node)"
          % (frames, frames * 1000000 // us, SIZE * 1000000 // us, us / frames, REPS))


main()
