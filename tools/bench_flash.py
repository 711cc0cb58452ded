#!/usr/bin/env python3
"""Flashing benchmark: a 1 MiB download into our ECU (the engine profile).

    .venv/bin/python tools/bench_flash.py [--size BYTES | --quick] [--runs N] [--skip-sim]

--quick: 256 KiB instead of 1 MiB (tools/bench runs it so); the size used is
printed first.

1. Simulation (diagbridge.sim, 500 kbit/s classical CAN): the core Flasher
   against our server with the engine profile's settings (its CAN-TP BS and
   STmin, maxNumberOfBlockLength, programming and erase times), exact
   virtual time.  Reports the simulated TransferData time and payload rate
   against the bus's physical limit (30,235 B/s ISO-TP payload, normal
   11-bit addressing, typical stuffing, ../shared/reference/peer-baseline.md)
   and the wall-clock / CPU cost of simulating it.  The time budget: every
   frame of the recorded bus, start and end from its exact bit length, and
   every idle gap between frames put where it belongs (the FC turnaround
   N_Br, N_Cs after an FC, STmin, the ECU's programming time per block,
   the server's P2 turnaround, the tester's turnaround between 76 and the
   next 36, erase, the checksum and dependency routines), in percent of the
   download and of the whole flash; the download's efficiency against the
   bus limit computed from the frame format (8-byte classical frames,
   11-bit id, no / typical / worst-case stuffing), also excluding the ECU's
   programming time.
2. python-can's virtual bus, in one process, side by side in one run:
   a. our client: diagbridge.cpy.uds.client.UdsClient.flash() (the core
      Flasher over the core CAN-TP, python-can adapter);
   b. udsoncan 1.x over can-isotp 2.x (threaded CanStack), the same
      sequence by hand: 10 02, 27 03/04, 31 01 FF00, 34, 36 x N, 37;
   both against our ECU (diagbridge.cpy.ecu.runner, a fresh one per run,
   the same CAN-TP settings: BS --ecu-block-size, STmin 0, the engine
   profile's maxNumberOfBlockLength), no read-back, no reset.  Both testers use
   the same tester-side CAN-TP settings (BS 8, STmin 0, padding 0xCC, max
   PDU 4095), fixed P2 2 s / P2* 6 s (no server timing), and can-isotp's
   defaults otherwise (blocking_send False, tx_data_min_length None).

   Two figures, both for the download (34 .. 37):
   * end to end: wall time and process CPU, as a user sees them.  The ECU
     runs in the same process (its own I/O thread), so its CPU and its share
     of the GIL are in both testers' figures and pull the ratio towards 1;
   * tester side only: the CPU of every thread of the process except the
     ECU's I/O thread, read from each thread's own CPU clock
     (time.pthread_getcpuclockid) at the first block's answer and at the
     end of the download (the 'dl' columns start there too):
     the tester's application thread plus its transport threads (ours: the
     CAN-TP I/O thread; can-isotp: its worker and relay threads).  What the
     tester's bus.send costs (python-can's VirtualBus deep-copies every
     frame into the peer's queue, about 5 us) is the tester's in both.
"""
import argparse
import itertools
import os
import sys
import threading
import time
import zlib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [os.path.join(ROOT, "firmware"), os.path.join(ROOT, "tests", "core")]

PHYS_500K_BPS = 30235
FULL_SIZE = 0x100000        # 1 MiB
QUICK_SIZE = 0x40000        # 256 KiB (--quick)
BASE = 0x00010000
SECRET = b"EngineProg03"
_chan = itertools.count()


def image(size):
    return bytes(((i * 7) ^ (i >> 8)) & 0xFF for i in range(size))


# ---- 1a. the bus limit from the frame format ------------------------------------------
BITRATE = 500000
CF_PAYLOAD = 7                  # bytes per consecutive frame, normal addressing, 8-byte frames


def classic_bits_per_frame():
    """(no stuffing, typical, worst case) bits of an 8-byte classical data
    frame with an 11-bit id, the 3-bit intermission included: 111 fixed bits
    (peer-baseline.md), worst case + floor((34 + 64 - 1) / 4) = 24 stuff bits
    (Davis et al. 2007), typical = the mean over seeded random payloads with
    id 0x7E0, stuff bits counted on the real bitstream (sim/canframe.py)."""
    import random
    from diagbridge.sim.canframe import frame_bits
    rnd = random.Random(20261121)
    n = 4000
    total = 0
    for _ in range(n):
        total += frame_bits(0x7E0, False, False, False, rnd.randbytes(8), 8)[0]
    return 111, total / n, 111 + (34 + 64 - 1) // 4


def limit_bps(bits):
    """ISO-TP payload bytes/s at 100 % bus load, BS 0, STmin 0 (large transfers)."""
    return BITRATE / bits * CF_PAYLOAD


# ---- 1b. the time budget of the recorded bus ------------------------------------------
_PCI_SF, _PCI_FF, _PCI_CF, _PCI_FC = 0, 1, 2, 3
# budget rows, in print order
B_DL_DATA = "0x36 request frames (FF + CFs), tester"
B_DL_FC = "flow control frames, ECU"
B_DL_RSP = "0x76 response frames, ECU"
B_N_BR = "FC turnaround after a FF (N_Br)"
B_N_CS = "first CF after an FC (N_Cs)"
B_STMIN = "gaps between CFs (STmin)"
B_PROGRAM = "ECU programming (program_us_per_kib)"
B_P2_SERVER = "server turnaround, request -> response (P2)"
B_P2_TESTER = "tester turnaround, response -> next request"
B_PENDING = "0x78 responsePending frames, ECU"
B_ERASE = "erase routine (31 01 FF00), idle"
B_CHECKSUM = "checksum routine (31 01 0203), idle"
B_DEPEND = "dependency check (31 01 FF01), idle"
B_RB_FRAMES = "read-back frames (0x35, 36/76, 37)"
B_RB_IDLE = "read-back idle (N_Br, N_Cs, STmin, P2)"
B_OTHER_FRAMES = "other requests and responses, frames"
B_OTHER_IDLE = "other idle (sessions, security, 34, 37, reset)"
B_ROWS = (B_DL_DATA, B_DL_FC, B_DL_RSP, B_N_BR, B_N_CS, B_STMIN, B_PROGRAM, B_P2_SERVER,
          B_P2_TESTER, B_PENDING, B_ERASE, B_CHECKSUM, B_DEPEND, B_RB_FRAMES, B_RB_IDLE,
          B_OTHER_FRAMES, B_OTHER_IDLE)
_ROUTINES = {0xFF00: B_ERASE, 0x0203: B_CHECKSUM, 0xFF01: B_DEPEND}


def _frames(records):
    """[(start_us, end_us, sender, data)] of the recorded CAN frames, in time
    order: a record is made at the end of the frame's slot, which started
    ceil(wire time) earlier (the bus rounds a slot up to the microsecond)."""
    from diagbridge.sim.canframe import frame_time_ns
    out = []
    for rec in records:
        end, data, ident = rec[0], rec[6], rec[5]
        ns = frame_time_ns(BITRATE, 2000000, ident, ident > 0x7FF, False, False, data,
                           len(data))
        out.append((end - (-(-ns // 1000)), end, rec[4], data))
    return out


def time_budget(records, tester, program_us_per_kib):
    """(whole, dl_first, dl_last, dl, dl_frames): {row: us} over the whole
    flash, the download span (the first 0x36 FF's start to the last 0x76's
    end), {row: us} inside that span and its frame count.  A frame belongs to
    the tester's request it follows; so does the idle gap before it."""
    whole = dict.fromkeys(B_ROWS, 0)
    dl = dict.fromkeys(B_ROWS, 0)
    frames = _frames(records)
    mode = ""                       # "dl" after 34, "rb" after 35
    kind = "other"                  # the current request: "dl" (0x36 of the download),
    req = b""                       # "rb" (35/36/37 of the read-back), "other"; its bytes
    prev = None                     # (from the tester, pci type) of the frame before
    dl_first = dl_last = None
    dl_frames = 0
    prog_left = 0                   # programming time of the block being answered
    last_end = frames[0][0]
    for start, end, who, d in frames:
        pci = d[0] >> 4
        from_tester = who == tester
        if from_tester and pci in (_PCI_SF, _PCI_FF):
            req = bytes(d[1:5]) if pci == _PCI_SF else bytes(d[2:6])
            sid = req[0]
            if sid == 0x34:
                mode = "dl"
            elif sid == 0x35:
                mode = "rb"
            elif sid not in (0x36, 0x37):
                mode = ""
            if sid == 0x36 and mode == "dl":
                kind = "dl"
                n = ((d[0] & 0x0F) << 8 | d[1]) if pci == _PCI_FF else d[0] & 0x0F
                prog_left = ((n - 2) * program_us_per_kib) >> 10
            elif mode == "rb":
                kind = "rb"
            else:
                kind = "other"
        gap = start - last_end
        if gap > 0:
            row = _gap_row(kind, req, prev, from_tester, pci)
            if row == B_P2_SERVER:
                p = min(gap, prog_left)
                prog_left -= p
                whole[B_PROGRAM] += p
                if dl_first is not None:
                    dl[B_PROGRAM] += p
                gap -= p
            whole[row] += gap
            if dl_first is not None and kind == "dl":
                dl[row] += gap
        row = _frame_row(kind, from_tester, pci, d)
        whole[row] += end - start
        if kind == "dl":
            if dl_first is None:
                dl_first = start
            dl[row] += end - start
            dl_frames += 1
            if not from_tester and pci == _PCI_SF and d[1] == 0x76:
                dl_last = end
        prev = (from_tester, pci)
        last_end = end
    # the last block's answer ends the span: nothing after it is counted in dl
    return whole, dl_first, dl_last, dl, dl_frames


def _gap_row(kind, req, prev, to_tester_frame, pci):
    if prev is None:
        return B_OTHER_IDLE
    prev_tester, prev_pci = prev
    if kind == "rb":
        return B_RB_IDLE
    if kind == "other":
        if req[:2] == b"\x31\x01" and len(req) >= 4:
            return _ROUTINES.get(req[2] << 8 | req[3], B_OTHER_IDLE)
        return B_OTHER_IDLE
    if prev_pci == _PCI_FF and pci == _PCI_FC:
        return B_N_BR
    if prev_pci == _PCI_FC and pci == _PCI_CF:
        return B_N_CS
    if prev_pci == _PCI_CF and pci == _PCI_CF:
        return B_STMIN
    if not to_tester_frame and (prev_tester or prev_pci == _PCI_SF):
        return B_P2_SERVER          # the request is complete (or a 0x78) -> the answer
    if not prev_tester and to_tester_frame:
        return B_P2_TESTER          # the answer -> the next request
    return B_OTHER_IDLE


def _frame_row(kind, from_tester, pci, d):
    if kind == "rb":
        return B_RB_FRAMES
    pending = not from_tester and pci == _PCI_SF and d[1] == 0x7F and d[3] == 0x78
    if pending:
        return B_PENDING
    if kind == "dl":
        if from_tester:
            return B_DL_DATA
        return B_DL_FC if pci == _PCI_FC else B_DL_RSP
    return B_OTHER_FRAMES


# ---- 1c. simulation ----------------------------------------------------------------------
def bench_sim(size):
    from uds_client_support import Rig, engine_server
    from diagbridge.sim.recorder import Recorder
    from diagbridge.uds.client.flash import (Flasher, FlashConfig, key_diagbridge1, EV_DONE,
                                      EV_PROGRESS, VERIFY_UPLOAD)
    from diagbridge.uds.server.profiles import engine
    img = image(size)
    f = Flasher(img, FlashConfig(BASE, key_fn=key_diagbridge1(SECRET), verify=VERIFY_UPLOAD,
                                 functional_prep=False))
    rec = Recorder()
    srv = engine_server()
    r = Rig([f], [srv], recorder=rec)
    w0 = time.perf_counter()
    c0 = time.process_time()
    f.start(r.k.now)
    r.tester.kick()
    t_end = r.run_until_done(f, EV_DONE, 2000000000)
    wall = time.perf_counter() - w0
    cpu = time.process_time() - c0
    assert f.result == 0 and f.verified and f.crc_image == zlib.crc32(img)
    prog = [t for t, ev in r.events(f) if ev == EV_PROGRESS]
    # download span: from the end of RequestDownload's answer (first block starts)
    # to the last block's answer; estimate the first block from the steady rate
    prof = engine.profile()
    prog_us_per_kib = prof["transfer"].get("program_us_per_kib", 0)
    whole, dl_first, dl_last, dl, dl_frames = time_budget(rec.records, "tester",
                                                          prog_us_per_kib)
    dl_us = dl_last - dl_first      # the first 0x36 FF's start to the last 0x76's end
    assert sum(dl.values()) == dl_us, (sum(dl.values()), dl_us)
    assert sum(whole.values()) == rec.records[-1][0] - _frames(rec.records[:1])[0][0]
    rate = size * 1e6 / dl_us
    return {"size": size, "blocks": f.blocks, "block_len": f.block_len,
            "budget": whole, "dl_budget": dl, "dl_frames": dl_frames,
            "program_us_per_kib": prog_us_per_kib, "cantp": prof.get("cantp", {}),
            "bus_load_permille": r.bus.load_permille(),
            "sim_total_s": t_end / 1e6, "sim_download_s": dl_us / 1e6,
            "sim_rate_Bps": rate, "phys_limit_Bps": PHYS_500K_BPS,
            "phys_download_s": size / PHYS_500K_BPS, "ratio_to_limit": rate / PHYS_500K_BPS,
            "wall_s": wall, "cpu_s": cpu, "frames_per_wall_s": None,
            "crc32": "%08X" % f.crc_image, "readback_crc32": "%08X" % f.crc_readback}


# ---- 2. python-can: per-thread CPU ------------------------------------------------------
def thread_cpu():
    """{thread ident: (name, CPU seconds so far)} for every live thread."""
    out = {}
    for t in threading.enumerate():
        try:
            out[t.ident] = (t.name, time.clock_gettime(time.pthread_getcpuclockid(t.ident)))
        except (AttributeError, OSError, ValueError, TypeError):
            pass                        # no per-thread clock here, or the thread just ended
    return out


def split_cpu(before, after, ecu_ident):
    """(tester CPU s, ECU CPU s, {name: s}) between two thread_cpu() snapshots."""
    tester = ecu = 0.0
    names = {}
    for ident, (name, t1) in after.items():
        d = t1 - before.get(ident, (name, 0.0))[1]
        if ident == ecu_ident:
            ecu += d
        else:
            tester += d
            names[name] = names.get(name, 0.0) + d
    return tester, ecu, names


def _ecu_runner(bus):
    from diagbridge.cpy.ecu.runner import EcuRunner
    runner = EcuRunner(bus, _ecu())
    return runner, runner.call(threading.get_ident)


# ---- 2a. ours on python-can ------------------------------------------------------------
def _buses():
    import can
    ch = "bench-flash-%d-%d" % (os.getpid(), next(_chan))
    return (can.Bus(interface="virtual", channel=ch, receive_own_messages=False),
            can.Bus(interface="virtual", channel=ch, receive_own_messages=False))


ECU_BLOCK_SIZE = [8]


def _ecu():
    from diagbridge.cpy.ecu.runner import build_ecu
    from diagbridge.cantp.config import TpConfig
    return build_ecu("engine", tp_config=TpConfig(block_size=ECU_BLOCK_SIZE[0]))


def bench_ours(img):
    from diagbridge.cpy.cantp.blocking import open_channel
    from diagbridge.cpy.uds.client import UdsClient, client_config
    from diagbridge.uds.client.flash import FlashConfig, key_diagbridge1, VERIFY_NONE
    bus_e, bus_t = _buses()
    runner, ecu_ident = _ecu_runner(bus_e)
    marks = {}

    def progress(done, total, rate):
        if "dl" not in marks:           # the first block answered
            marks["dl"] = (time.perf_counter(), time.process_time(), thread_cpu())
    try:
        with open_channel(bus_t, tx_id=0x7E0, rx_id=0x7E8, block_size=8, stmin_us=0,
                          tx_padding=0xCC, max_frame_size=4095) as tp:
            with UdsClient(tp, config=client_config(p2_timeout=2.0, p2star_timeout=6.0,
                                                    keepalive=False,
                                                    adopt_timing=False)) as uds:
                cfg = FlashConfig(BASE, key_fn=key_diagbridge1(SECRET), pre_session=0,
                                  functional_prep=False, check_rid=-1, reset_kind=0,
                                  verify=VERIFY_NONE)
                w0, c0 = time.perf_counter(), time.process_time()
                rep = uds.flash(img, cfg, progress=progress)
                w1, c1 = time.perf_counter(), time.process_time()
                t1 = thread_cpu()
    finally:
        runner.close()
        bus_e.shutdown()
        bus_t.shutdown()
    assert rep.ok and rep.crc_image == zlib.crc32(img), rep
    tester, ecu, names = split_cpu(marks["dl"][2], t1, ecu_ident)
    return {"wall_s": w1 - w0, "cpu_s": c1 - c0, "blocks": rep.blocks,
            "block_len": rep.block_len, "download_wall_s": w1 - marks["dl"][0], "download_cpu_s": c1 - marks["dl"][1],
            "tester_cpu_s": tester, "ecu_cpu_s": ecu, "threads": names}


# ---- 2b. udsoncan over can-isotp ----------------------------------------------------------
def bench_udsoncan(img):
    import isotp
    import udsoncan
    from udsoncan.client import Client
    from udsoncan.connections import PythonIsoTpConnection
    from diagbridge.uds.server.security_access import compute_key
    from diagbridge.uds.codec.routine import build_address_routine_request, RID_ERASE_MEMORY

    def key_algo(level, seed, params=None):
        out = bytearray(len(seed))
        compute_key("diagbridge1", seed, len(seed), SECRET, out)
        return bytes(out)

    bus_e, bus_t = _buses()
    runner, ecu_ident = _ecu_runner(bus_e)
    addr = isotp.Address(isotp.AddressingMode.Normal_11bits, txid=0x7E0, rxid=0x7E8)
    stack = isotp.CanStack(bus_t, address=addr,
                           params={"tx_padding": 0xCC, "blocksize": 8, "stmin": 0,
                                   "max_frame_size": 4095})
    conn = PythonIsoTpConnection(stack)
    cfg = dict(udsoncan.configs.default_client_config)
    cfg.update({"security_algo": key_algo, "request_timeout": 10, "p2_timeout": 2,
                "use_server_timing": False,
                "p2_star_timeout": 6})
    size = len(img)
    erase = bytearray(16)
    n = build_address_routine_request(erase, RID_ERASE_MEMORY, BASE, size, 3, 3)
    try:
        with Client(conn, config=cfg) as client:
            w0, c0 = time.perf_counter(), time.process_time()
            client.change_session(2)
            client.unlock_security_access(3)
            client.start_routine(RID_ERASE_MEMORY, data=bytes(erase[4:n]))
            loc = udsoncan.MemoryLocation(BASE, size, address_format=24, memorysize_format=24)
            rsp = client.request_download(loc)
            mbl = rsp.service_data.max_length
            chunk = mbl - 2
            client.transfer_data(1, img[0:chunk])
            # from the first block's answer, as for ours (its progress callback)
            w1, c1, t0 = time.perf_counter(), time.process_time(), thread_cpu()
            bsc = 2
            for off in range(chunk, size, chunk):
                client.transfer_data(bsc, img[off:off + chunk])
                bsc = (bsc + 1) & 0xFF
            client.request_transfer_exit()
            w2, c2, t1 = time.perf_counter(), time.process_time(), thread_cpu()
    finally:
        runner.close()
        bus_e.shutdown()
        bus_t.shutdown()
    tester, ecu, names = split_cpu(t0, t1, ecu_ident)
    return {"wall_s": w2 - w0, "cpu_s": c2 - c0, "download_wall_s": w2 - w1,
            "download_cpu_s": c2 - c1, "tester_cpu_s": tester, "ecu_cpu_s": ecu,
            "threads": names}


def tester_frames(size, block_len):
    """CAN frames the tester sends for the download: FF + CFs per TransferData."""
    n = 0
    for off in range(0, size, block_len):
        pdu = 2 + min(block_len, size - off)
        n += 1 + (pdu - 6 + 6) // 7
    return n + 1                        # + RequestTransferExit


def send_cost_s():
    """CPU seconds of one python-can VirtualBus.send of a classical frame (best of 5:
    the fixed cost, without the noise of a busy machine)."""
    import can
    ch = "bench-flash-send-%d" % os.getpid()
    a = can.Bus(interface="virtual", channel=ch, receive_own_messages=False)
    b = can.Bus(interface="virtual", channel=ch, receive_own_messages=False)
    msg = can.Message(arbitration_id=0x7E0, is_extended_id=False, data=bytes(8))
    out = []
    try:
        for _ in range(5):
            t = time.thread_time()
            for _ in range(2000):
                a.send(msg, 1.0)
            out.append((time.thread_time() - t) / 2000)
            while b.recv(0) is not None:
                pass
    finally:
        a.shutdown()
        b.shutdown()
    return min(out)


def print_budget(s):
    """The time budget table and the efficiency against the frame-format limit."""
    dl, whole = s["dl_budget"], s["budget"]
    dl_us = sum(dl.values())
    all_us = sum(whole.values())
    print("  time budget (virtual us; % of the download span 36..76, % of the whole flash)")
    print("    %-48s %12s %7s %12s %7s" % ("", "download us", "%", "whole us", "%"))
    for row in B_ROWS:
        print("    %-48s %12d %6.2f%% %12d %6.2f%%" % (row, dl[row], 100.0 * dl[row] / dl_us,
                                                     whole[row], 100.0 * whole[row] / all_us))
    print("    %-48s %12d %6.2f%% %12d %6.2f%%" % ("total", dl_us, 100.0, all_us, 100.0))
    size = s["size"]
    wire_us = dl[B_DL_DATA] + dl[B_DL_FC] + dl[B_DL_RSP] + dl[B_PENDING]
    print("  download: %d frames, %.1f bits per frame on average (the image's stuffing); "
          "bus load %.1f %% over the whole flash"
          % (s["dl_frames"], wire_us * BITRATE / 1e6 / s["dl_frames"],
             s["bus_load_permille"] / 10.0))
    nostuff, typical, worst = classic_bits_per_frame()
    rate = size * 1e6 / dl_us
    prog = dl[B_PROGRAM]
    rate_np = size * 1e6 / (dl_us - prog)
    print("  payload per frame on the wire: %.3f of 7 bytes (%.1f %%: FF, FCs, answers, "
          "the last CF of each block)" % (size / s["dl_frames"],
                                          100.0 * size / s["dl_frames"] / CF_PAYLOAD))
    print("  efficiency of the download against the bus limit (8-byte classical frames, "
          "11-bit id, 7 payload bytes per CF, BS 0, STmin 0, 100 % load):")
    print("    %-30s %10s %12s %22s" % ("stuffing (bits/frame)", "limit B/s", "efficiency",
                                        "without programming"))
    for name, bits in (("none (%.1f)" % nostuff, nostuff), ("typical (%.1f)" % typical, typical),
                       ("worst case (%.1f)" % worst, worst)):
        lim = limit_bps(bits)
        print("    %-30s %10.0f %11.1f%% %21.1f%%" % (name, lim, 100 * rate / lim,
                                                    100 * rate_np / lim))
    print("    (%.0f B/s with the ECU's programming time, %.0f B/s without it: the "
          "programming is %.2f %% of the download)" % (rate, rate_np, 100.0 * prog / dl_us))
    if s["program_us_per_kib"]:
        # programming is idle bus time added per block (inside P2: no 0x78), so
        # the span for another rate is the measured one with the programming replaced
        kib = size / 1024.0
        lim = limit_bps(typical)
        alts = []
        for us in (0, 500, 1000, 2000, 4000, 8000):
            span = dl_us - prog + us * kib
            alts.append("%d us/KiB %.1f%%" % (us, 100 * size * 1e6 / span / lim))
        print("    other programming times (typical stuffing): " + ", ".join(alts))


def median(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", type=int, default=None, help="image bytes (default 1 MiB)")
    ap.add_argument("--quick", action="store_true", help="256 KiB unless --size is given")
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--skip-sim", action="store_true")
    ap.add_argument("--skip-real", action="store_true")
    ap.add_argument("--ecu-block-size", type=int, default=8,
                    help="BS the ECU advertises to both testers (default 8)")
    a = ap.parse_args()
    if a.size is None:
        a.size = QUICK_SIZE if a.quick else FULL_SIZE
    ECU_BLOCK_SIZE[0] = a.ecu_block_size
    print("bench_flash: %d bytes (%.2f MiB), python %s" % (a.size, a.size / 1048576,
                                                            sys.version.split()[0]))
    if not a.skip_sim:
        s = bench_sim(a.size)
        print("simulation, 500 kbit/s classical CAN, engine ECU: CAN-TP BS %d STmin %d us, "
              "maxNumberOfBlockLength 0x%X -> %d data bytes/block, %d blocks, programming "
              "%d us/KiB" % (s["cantp"].get("block_size", 8), s["cantp"].get("stmin_us", 0),
                             s["block_len"] + 2, s["block_len"], s["blocks"],
                             s["program_us_per_kib"]))
        print("  simulated download   %.2f s  = %.0f B/s payload  (%.1f%% of the %d B/s "
              "physical limit: %.2f s)" % (s["sim_download_s"], s["sim_rate_Bps"],
                                          100 * s["ratio_to_limit"], PHYS_500K_BPS,
                                          s["phys_download_s"]))
        print_budget(s)
        print("  simulated whole flash %.2f s (sessions, unlock, erase, download, read-back, "
              "check, reset)" % s["sim_total_s"])
        print("  cost of simulating it: %.2f s wall, %.2f s CPU (%.1fx faster than the bus)"
              % (s["wall_s"], s["cpu_s"], s["sim_total_s"] / s["wall_s"]))
        print("  CRC-32 image %s, read back %s" % (s["crc32"], s["readback_crc32"]))
    if a.skip_real:
        return 0
    img = image(a.size)
    ours, theirs = [], []
    for _ in range(a.runs):
        ours.append(bench_ours(img))
        theirs.append(bench_udsoncan(img))
    print("python-can virtual bus, one process, ECU = diagbridge.cpy.ecu.runner in its own "
          "I/O thread, ECU BS=%d STmin 0, tester BS=8 STmin 0 (median of %d)"
          % (a.ecu_block_size, a.runs))
    print("  [end to end] wall and process CPU; the ECU's thread is inside both figures")
    print("  %-34s %10s %10s %12s %12s" % ("", "wall s", "CPU s", "dl wall s", "dl CPU s"))
    rows = (("diagbridge UdsClient.flash()", ours), ("udsoncan 1.x over can-isotp 2.x", theirs))
    for name, rs in rows:
        print("  %-34s %10.3f %10.3f %12.3f %12.3f"
              % (name, median([r["wall_s"] for r in rs]), median([r["cpu_s"] for r in rs]),
                 median([r["download_wall_s"] for r in rs]),
                 median([r["download_cpu_s"] for r in rs])))
    mo = median([r["download_wall_s"] for r in ours])
    mt = median([r["download_wall_s"] for r in theirs])
    co = median([r["download_cpu_s"] for r in ours])
    ct = median([r["download_cpu_s"] for r in theirs])
    print("  end-to-end download speed-up (udsoncan / ours): wall %.2fx, CPU %.2fx"
          % (mt / mo, ct / co))
    print("  our download: %.0f kB/s end to end" % (a.size / mo / 1000))
    print("  [tester side only] download CPU of the tester's own threads (per-thread clocks, "
          "the ECU's thread excluded)")
    print("  %-34s %10s %10s  %s" % ("", "tester s", "ECU s", "tester threads (s)"))
    for name, rs in rows:
        mid = sorted(rs, key=lambda r: r["tester_cpu_s"])[len(rs) // 2]
        print("  %-34s %10.3f %10.3f  %s"
              % (name, mid["tester_cpu_s"], mid["ecu_cpu_s"],
                 ", ".join("%s %.3f" % kv for kv in sorted(mid["threads"].items(),
                                                           key=lambda kv: -kv[1]))))
    to = median([r["tester_cpu_s"] for r in ours])
    tt = median([r["tester_cpu_s"] for r in theirs])
    frames = tester_frames(a.size, ours[0]["block_len"])
    floor = frames * send_cost_s()
    print("  tester-only download CPU speed-up (udsoncan / ours): %.2fx  (target >= 3x)"
          % (tt / to))
    print("  of which python-can's VirtualBus.send (a deep copy per frame), paid by both "
          "testers: ~%d frames x %.1f us = ~%.2f s" % (frames, floor / frames * 1e6, floor))
    return 0


if __name__ == "__main__":
    sys.exit(main())
