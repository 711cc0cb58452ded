"""Fuzz targets for CAN-TP (ISO 15765-2): the channel mux fed arbitrary
frames, a segmented message cut or reordered, round trips (see
tools/fuzz_targets.py for how targets are run)."""
from diagbridge import codes as C
from diagbridge.can import FLAG_EXT, FLAG_FD, FLAG_BRS
from diagbridge.cantp import (Channel, Mux, TpConfig, Address, ADDR_NORMAL_11, ADDR_NORMAL_29,
                              ADDR_NORMAL_FIXED, ADDR_EXTENDED_11, ADDR_EXTENDED_29,
                              ADDR_MIXED_11, ADDR_MIXED_29, TA_PHYSICAL,
                              EV_TX_DONE, EV_TX_FAILED, EV_RX_FF, EV_RX_DONE, EV_RX_FAILED)
from diagbridge.clock import ticks_add
from fuzz_common import T0, N_CODES, rbytes

TP_EVENTS = (EV_TX_DONE, EV_TX_FAILED, EV_RX_FF, EV_RX_DONE, EV_RX_FAILED)
# The N_Result values ISO 15765-2 gives each side (N_USData.con / .ind).
TX_RESULTS = frozenset((C.N_TIMEOUT_A, C.N_TIMEOUT_BS, C.N_INVALID_FS, C.N_WFT_OVRN,
                        C.N_BUFFER_OVFLW, C.N_ERROR))
RX_RESULTS = frozenset((C.N_TIMEOUT_A, C.N_TIMEOUT_CR, C.N_WRONG_SN, C.N_UNEXP_PDU,
                        C.N_WFT_OVRN, C.N_ERROR))


# Both ends of one channel for every addressing format: (tester, ecu).
def address_pair(fmt):
    if fmt == ADDR_NORMAL_11:
        return (Address(fmt, tx_id=0x7E0, rx_id=0x7E8, func_tx_id=0x7DF),
                Address(fmt, tx_id=0x7E8, rx_id=0x7E0, func_rx_id=0x7DF))
    if fmt == ADDR_NORMAL_29:
        return (Address(fmt, tx_id=0x18DA10F1, rx_id=0x18DAF110, func_tx_id=0x18DB33F1),
                Address(fmt, tx_id=0x18DAF110, rx_id=0x18DA10F1, func_rx_id=0x18DB33F1))
    if fmt == ADDR_NORMAL_FIXED:
        return (Address(fmt, ta=0x11, sa=0xF1, func_ta=0x33),
                Address(fmt, ta=0xF1, sa=0x11, func_ta=0x33))
    if fmt == ADDR_EXTENDED_11 or fmt == ADDR_EXTENDED_29:
        a, b = (0x6F1, 0x612) if fmt == ADDR_EXTENDED_11 else (0x18EF12F1, 0x18EFF112)
        return (Address(fmt, tx_id=a, rx_id=b, ta=0x12, sa=0xF1, func_tx_id=a | 0x0E,
                        func_ta=0xFE),
                Address(fmt, tx_id=b, rx_id=a, ta=0xF1, sa=0x12, func_rx_id=a | 0x0E,
                        func_ta=0xFE))
    if fmt == ADDR_MIXED_11:
        return (Address(fmt, tx_id=0x6F3, rx_id=0x613, ae=0x42, func_tx_id=0x6FF),
                Address(fmt, tx_id=0x613, rx_id=0x6F3, ae=0x42, func_rx_id=0x6FF))
    return (Address(ADDR_MIXED_29, ta=0x13, sa=0xF1, ae=0x42, func_ta=0x33),
            Address(ADDR_MIXED_29, ta=0xF1, sa=0x13, ae=0x42, func_ta=0x33))


FORMATS = (ADDR_NORMAL_11, ADDR_NORMAL_29, ADDR_NORMAL_FIXED, ADDR_EXTENDED_11,
           ADDR_EXTENDED_29, ADDR_MIXED_11, ADDR_MIXED_29)

# Receiving-side configs for the frame fuzzer: classical, FD, small and full duplex.
FRAME_CFGS = (
    dict(),
    dict(fd=True, tx_dl=64),
    dict(max_pdu=64, block_size=2, full_duplex=True, padding=None, wft_max=0),
)


def interesting_ids():
    ids = set()
    for fmt in FORMATS:
        for a in address_pair(fmt):
            ids.add((a.rx_id, a.ext))
            ids.add((a.tx_id, a.ext))
            if a.frx_id >= 0:
                ids.add((a.frx_id, a.ext))
            if a.ftx_id >= 0:
                ids.add((a.ftx_id, a.ext))
    return sorted(ids)


IDS = interesting_ids()


def sf_oracle(data, n, off):
    """The payload of a valid single frame (ISO 15765-2 Table 9/10), else None;
    written from the standard, not from pci.py."""
    if n <= off or n > 64:
        return None
    b = data[off]
    if b & 0xF0:
        return None
    if n <= 8:
        dl = b & 0x0F
        if dl < 1 or dl > n - 1 - off:
            return None
        return bytes(data[off + 1:off + 1 + dl])
    if b != 0 or n < off + 3:
        return None
    dl = data[off + 1]
    if dl < 1 or dl > n - 2 - off:
        return None
    return bytes(data[off + 2:off + 2 + dl])


def gen_cantp_frames(rnd):
    ops = []
    for _ in range(rnd.randint(1, 40)):
        r = rnd.random()
        if r < 0.7:
            if rnd.random() < 0.85:
                can_id, ext = rnd.choice(IDS)
            else:
                ext = rnd.random() < 0.5
                can_id = rnd.getrandbits(29 if ext else 11)
            flags = (FLAG_EXT if ext else 0) | (FLAG_FD if rnd.random() < 0.3 else 0)
            if rnd.random() < 0.05:
                flags ^= FLAG_EXT
            if flags & FLAG_FD and rnd.random() < 0.5:
                flags |= FLAG_BRS
            n = rnd.choice((rnd.randint(0, 8), rnd.choice((12, 16, 20, 24, 32, 48, 64)),
                            rnd.randint(0, 64)))
            data = bytearray(rnd.getrandbits(8) for _ in range(n))
            if n and rnd.random() < 0.6:    # a plausible N_PCI (after the prefix)
                k = 1 if rnd.random() < 0.5 and n > 1 else 0
                if k and rnd.random() < 0.8:
                    data[0] = rnd.choice((0x12, 0xF1, 0x42, 0xFE, 0x11, 0x13))
                data[k] = (rnd.choice((0x00, 0x10, 0x20, 0x30)) | rnd.randint(0, 15)
                           if rnd.random() < 0.8 else rnd.getrandbits(8))
            ops.append(("f", can_id, flags, bytes(data)))
        elif r < 0.8:
            ops.append(("t", rnd.choice((0, 1, 100, 999, 1000, 1001, 50000, 1000000, 2000000))))
        elif r < 0.9:
            ops.append(("p", rnd.random() < 0.9))
        else:
            ops.append(("r", rnd.randrange(len(FORMATS)), rnd.choice((1, 7, 8, 62, 63, 100, 4000))))
    return (rnd.randrange(len(FRAME_CFGS)), ops)


def _tp_events(mux):
    """Drain the mux: every event known with a known result; returns
    {channel index: [(ev, result, payload)]}."""
    got = {}
    while True:
        ev = mux.poll()
        if ev == 0:
            return got
        ch = mux.channel
        assert ev in TP_EVENTS, ("unknown event", ev)
        assert ch.result in N_CODES, ("unknown result", ev, ch.result)
        if ev in (EV_TX_DONE, EV_RX_DONE):
            assert ch.result == C.N_OK, ("done with", ch.result)
        if ev == EV_TX_FAILED:
            assert ch.result in TX_RESULTS, ("sender result", ch.result)
        if ev == EV_RX_FAILED:
            assert ch.result in RX_RESULTS, ("receiver result", ch.result)
        pl = None
        if ev == EV_RX_DONE:
            assert 1 <= ch.length <= ch.cfg.max_pdu, ("length", ch.length)
            pl = bytes(ch.payload[:ch.length])
        got.setdefault(mux.chan, []).append((ev, ch.result, pl))


def check_cantp_frames(inp):
    """Arbitrary frames (ids, lengths 0-64, flags, classical and FD) into a mux
    with one ECU-side channel per addressing format: never raises; a frame is
    taken or ignored, every event carries a known N_* code; a valid single
    frame to an idle channel is indicated with exactly its payload."""
    cfg_i, ops = inp
    cfg = TpConfig(**FRAME_CFGS[cfg_i])
    chans = [Channel(cfg, address_pair(f)[1]) for f in FORMATS]
    mux = Mux(chans)
    now = T0
    out = bytearray(64)
    payload = bytes(range(256)) * 16
    for op in ops:
        if op[0] == "f":
            _, can_id, flags, data = op
            n = len(data)
            before = [(c.tx_busy(), c.rx_busy()) for c in chans]
            hits = mux.feed_frame(now, can_id, data, n, flags)
            assert isinstance(hits, int) and 0 <= hits <= len(chans)
            matched = [c.addr.match(can_id, flags, data, n) for c in chans]
            assert hits == sum(1 for m in matched if m >= 0), ("hits", hits, matched)
            got = _tp_events(mux)
            for i, c in enumerate(chans):
                if matched[i] < 0:
                    assert i not in got, ("event from a frame for another address", i, got)
                    continue
                sf = sf_oracle(data, n, c.addr.prefix_len)
                idle = before[i] == (False, False)
                if sf is None or not idle:
                    continue
                if matched[i] == TA_PHYSICAL and len(sf) > cfg.max_pdu:
                    continue
                evs = got.get(i, [])
                assert evs == [(EV_RX_DONE, C.N_OK, sf)], ("single frame", i, evs, sf)
        elif op[0] == "t":
            now = ticks_add(now, op[1])
            mux.on_timer(now)
            _tp_events(mux)
        elif op[0] == "p":
            while True:
                k = mux.pop_frame(out)
                if not k:
                    break
                assert 1 <= k <= 64 and (k <= 8 or cfg.fd), ("popped length", k)
                mux.confirm(now, op[1], mux.tx_tag)
            _tp_events(mux)
        else:
            c = chans[op[1]]
            n = min(op[2], cfg.max_pdu)
            if not c.tx_busy() and not c.rx_busy():
                c.request(now, payload, n, TA_PHYSICAL)
    return True


def _link_pair(fmt, cfg):
    from cantp_support import Link
    ta, ea = address_pair(fmt)
    return Link(Channel(cfg, ta), Channel(cfg, ea))


def _roundtrip_cfg(fd, block_size, stmin_us, padding, full_duplex):
    return TpConfig(fd=fd, tx_dl=64 if fd else 8, block_size=block_size, stmin_us=stmin_us,
                    padding=padding, full_duplex=full_duplex)


STMINS = (0, 100, 900, 1000, 3000)
PADS = (None, 0x00, 0xCC, 0xAA)


def gen_cantp_roundtrip(rnd):
    n = rnd.choice((rnd.randint(1, 70), rnd.randint(1, 4095), 4095, 7, 8, 62, 63))
    return (rnd.randrange(len(FORMATS)), rnd.random() < 0.4, rnd.choice((0, 1, 2, 8, 255)),
            rnd.choice(STMINS), rnd.choice(PADS), rnd.random() < 0.3, rbytes(rnd, n, n))


def check_cantp_roundtrip(inp):
    """Any payload 1..4095 sent by our sender to our receiver (a channel pair in
    virtual time, every addressing format and frame config) arrives identical,
    once, and the sender reports N_OK."""
    fmt_i, fd, bs, stmin, pad, fdx, msg = inp
    link = _link_pair(FORMATS[fmt_i], _roundtrip_cfg(fd, bs, stmin, pad, fdx))
    link.request(0, msg)
    link.run(limit_us=600_000_000)
    rx = [e for e in link.evs if e[1] == 1 and e[2] in (EV_RX_DONE, EV_RX_FAILED)]
    tx = [e for e in link.evs if e[1] == 0 and e[2] in (EV_TX_DONE, EV_TX_FAILED)]
    assert len(rx) == 1 and rx[0][2] == EV_RX_DONE and rx[0][5] == msg, ("rx", rx[:3])
    assert tx == [tx[0]] and tx[0][2] == EV_TX_DONE, ("tx", tx)
    for f in link.log:
        assert len(f[2]) <= (64 if fd else 8)
    return True


MUTATIONS = ("none", "cut", "drop", "dup", "swap", "drop_fc")


def gen_cantp_segmented(rnd):
    n = rnd.choice((rnd.randint(8, 120), rnd.randint(8, 1200), 4095))
    return (rnd.randrange(len(FORMATS)), rnd.random() < 0.3, rnd.choice((0, 1, 2, 4, 8)),
            rnd.choice(MUTATIONS), rnd.randint(0, 40), rnd.randint(1, 40), rbytes(rnd, n, n))


def check_cantp_segmented(inp):
    """A well-formed segmented message whose frames are cut, dropped,
    duplicated or reordered anywhere: the receiver ends with N_OK and the
    exact payload, or with N_WRONG_SN, N_UNEXP_PDU or N_TIMEOUT_CR; a message
    that lost or reordered a frame is never delivered; the sender ends once,
    with N_OK or (a flow control lost) N_TIMEOUT_BS."""
    fmt_i, fd, bs, how, k, d, msg = inp
    if how == "swap" and d % 16 == 0:
        d += 1          # a shift by 16 CFs keeps every SN: not detectable by ISO 15765-2
    link = _link_pair(FORMATS[fmt_i], _roundtrip_cfg(fd, bs, 0, 0xCC, False))
    state = {"lost": False, "held": None, "moved": False}

    def flt(side, idx, frm):
        if side == 1:
            if how == "drop_fc" and idx == k:
                state["lost"] = True
                return []
            return [frm]
        if how == "cut" and idx >= k:
            state["lost"] = True
            return []
        if how == "drop" and idx == k:
            state["lost"] = True
            return []
        if how == "dup" and idx == k:
            return [frm, frm]
        if how == "swap":
            if idx == k:
                state["held"] = frm
                state["lost"] = True        # until it is sent on, it is a drop
                return []
            if idx == k + d and state["held"] is not None:
                state["lost"] = False
                state["moved"] = True
                return [frm, state["held"]]
        return [frm]

    link.filter = flt
    link.request(0, msg)
    link.run(limit_us=600_000_000)
    rx = [e for e in link.evs if e[1] == 1 and e[2] in (EV_RX_DONE, EV_RX_FAILED)]
    for e in rx:
        if e[2] == EV_RX_DONE:
            assert e[5] == msg, ("a wrong payload delivered as N_OK", how, k, d, e[4])
        else:
            assert e[3] in (C.N_WRONG_SN, C.N_UNEXP_PDU, C.N_TIMEOUT_CR), ("result", e[3])
    done = [e for e in rx if e[2] == EV_RX_DONE]
    if state["lost"] and how != "drop_fc":
        assert not done, ("delivered although a frame was lost", how, k)
    if state["moved"]:
        assert not done, ("delivered although frames were reordered", k, d)
    if how == "none":
        assert len(done) == 1 and len(rx) == 1, rx
    tx = [e for e in link.evs if e[1] == 0 and e[2] in (EV_TX_DONE, EV_TX_FAILED)]
    assert len(tx) == 1, ("the sender must end exactly once", tx)
    assert tx[0][2] == EV_TX_DONE or tx[0][3] == C.N_TIMEOUT_BS, ("sender result", tx)
    return True
