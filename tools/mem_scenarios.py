# The scenarios of tools/mem; runs inside MicroPython (the unix port at a
# fixed heap), one scenario per interpreter:
#
#   import mem_scenarios; mem_scenarios.main(NAME, MODS)
#
# MODS maps roles to module names that tools/mem found in the source tree
# (the host-link wire format, the example-profile table, LinkConfig), so
# nothing here names an internal module path.  Entry points imported by name:
# diagbridge.cantp.channel, diagbridge.ecu, diagbridge.gateway,
# diagbridge.sim.*, diagbridge.mpy.runner.
#
# Prints one line for the caller (bytes, relative to the heap in use before
# the first import):
#   @@mem import=N peak=M [sim=A,B,C]
# import: heap in use after the scenario's imports (gc.collect() first);
# peak: the largest gc.mem_alloc() seen after a gc.collect() at the
# scenario's sampling points (between frames / pump steps), so transients
# inside one step are not in it: tools/mem's "needs" column (the smallest
# heap the scenario runs at) catches those.  sim (gateway scenario only): A
# the import of the simulation and host side on top of `import`, B the
# service modules the engine profile loads (a board hosting that ECU loads
# them too), C the heap the simulated engine ECU on bus 0 holds beyond them;
# A and C are in peak but not on a board.
import gc

_base = 0
_peak = 0


def sample():
    global _peak
    gc.collect()
    m = gc.mem_alloc()
    if m > _peak:
        _peak = m


def _used():
    gc.collect()
    return gc.mem_alloc() - _base


def imp(name):
    m = __import__(name)
    for part in name.split(".")[1:]:
        m = getattr(m, part)
    return m


class Fail(Exception):
    pass


def check(ok, what):
    if not ok:
        raise Fail(what)


# ---- a host on the link, built from the core's own wire format ---------------------------
class Host:
    def __init__(self, mods, write):
        self.P = imp(mods["proto"])
        self.cobs = imp(mods["cobs"])
        self.mp = imp(mods["msgpack"])
        # the largest frame a gateway with the default LinkConfig sends (a
        # keyed session's tag included): the host's buffer is not the board's,
        # so it is kept to what the link needs
        lc = imp(mods["linkconfig"]).LinkConfig()
        self.d = self.cobs.Deframer(lc.max_frame + self.P.TAG_LEN)
        self.write = write          # fn(bytes): to the gateway
        self.inbox = []
        self.rid = 0

    def send(self, kind, ref, body):
        m = self.mp.packb([kind, ref, body])
        out = bytearray(self.cobs.frame_size(len(m)))
        n = self.cobs.encode_frame(m, len(m), out)
        self.write(bytes(out[:n]))

    def received(self, now, data):
        i = 0
        n = len(data)
        got = 0
        while i < n:
            i = self.d.feed_bytes(now, data, n, i)
            if self.d.poll() == self.cobs.EV_FRAME:
                msg = self.mp.Reader(self.d.payload, 0, self.d.length).read_obj()
                if self.P.is_event(msg[0]):
                    got += 1
                else:
                    self.inbox.append(msg)
        if got:
            self.send(self.P.MSG_CREDIT, 0, {self.P.K_CREDITS: got})

    def hello(self):
        P = self.P
        self.send(P.MSG_HELLO, 0, {P.K_VERSION: P.LINK_PROTOCOL_VERSION, P.K_ROLE: P.ROLE_FULL,
                                   P.K_NONCE: b"host-nonce-16byt", P.K_CREDITS: 64})

    def start(self, kind, body):
        self.rid += 1
        self.send(kind, self.rid, body)
        return self.rid

    def reply(self, rid):
        P = self.P
        for m in self.inbox:
            if m[1] == rid and m[0] in (P.MSG_RESPONSE, P.MSG_ERROR):
                self.inbox.remove(m)
                return m
        return None

    def authed(self):
        for m in self.inbox:
            if m[0] == self.P.MSG_AUTH_OK:
                return True
        return False


# ---- scenarios ---------------------------------------------------------------------------
def _move(a, b, now, out):
    """Frames a -> b (each confirmed at once); returns how many."""
    k = 0
    n = a.pop_frame(out)
    while n:
        b.feed_frame(now, a.tx_id, out, n, a.tx_flags)
        a.confirm(now, True, a.tx_tag)
        k += 1
        n = a.pop_frame(out)
    return k


def cantp(mods):
    """Two CAN-TP channels move a 4095-byte message (FF + 585 CF, flow control)."""
    ch = imp("diagbridge.cantp.channel")
    tp = imp("diagbridge.cantp")        # the package face (already loaded by the import)
    imported = _used()
    cfg = tp.TpConfig()
    a = ch.Channel(cfg, tp.Address(tp.ADDR_NORMAL_11, tx_id=0x7E0, rx_id=0x7E8))
    b = ch.Channel(cfg, tp.Address(tp.ADDR_NORMAL_11, tx_id=0x7E8, rx_id=0x7E0))
    out = bytearray(64)
    data = bytearray(4095)
    for i in range(len(data)):
        data[i] = (i * 13) & 0xFF
    now = 0
    for _ in range(3):
        a.request(now, data, len(data))
        done = False
        while not done:
            now += 1000
            a.on_timer(now)
            b.on_timer(now)
            _move(a, b, now, out)
            _move(b, a, now, out)
            while a.poll():
                pass
            ev = b.poll()
            while ev:
                if ev == tp.EV_RX_DONE:
                    done = True
                ev = b.poll()
            sample()
        check(b.length == len(data) and b.payload[4094] == data[4094], "cantp transfer")
    return imported, None


def ecu(mods):
    """The engine ECU (diagbridge.ecu + the engine profile) serves a tester:
    VIN, DTCs, a session change, TesterPresent."""
    e = imp("diagbridge.ecu")
    profiles = imp(mods["profiles"])
    imp(profiles.PROFILES["engine"])    # the profile module itself, as a board imports it
    tp = imp("diagbridge.cantp")
    imported = _used()
    node = e.Ecu(profiles.make("engine"))
    tester = tp.Channel(tp.TpConfig(), tp.Address(tp.ADDR_NORMAL_11, tx_id=0x7E0, rx_id=0x7E8))
    out = bytearray(64)
    now = 0
    for req in (b"\x22\xf1\x90", b"\x19\x02\xff", b"\x10\x03", b"\x3e\x00", b"\x22\xf1\x90"):
        tester.request(now, req, len(req))
        got = None
        for _ in range(5000):
            now += 1000
            node.on_timer(now)
            tester.on_timer(now)
            _move(tester, node, now, out)
            _move(node, tester, now, out)
            while node.poll():
                pass
            ev = tester.poll()
            while ev:
                if ev == tp.EV_RX_DONE:
                    got = tester.payload[0]
                ev = tester.poll()
            sample()
            if got is not None:
                break
        check(got == req[0] + 0x40, "ecu answer to %02x" % req[0])
    return imported, None


def _small_flash_engine(e, profiles):
    """The engine profile for the vehicle's ECU on bus 0, with its 1 MB download
    and upload regions cut to 8 KB: the simulated flash of the target is
    allocated whole on the first write, and it is the vehicle's memory, not
    the gateway's."""
    mod = imp(profiles.PROFILES["engine"])
    if not (hasattr(mod, "profile") and hasattr(mod, "sources") and hasattr(e, "Profile")):
        return profiles.make("engine")
    d = mod.profile()
    t = d.get("transfer", {})
    for key in ("download_regions", "upload_regions"):
        for r in t.get(key, ()):
            if r.get("size", 0) > 0x2000:
                r["size"] = 0x2000
    return e.Profile(d, sources=mod.sources(mod.EngineState()))


def gateway(mods):
    """The gateway on the simulated vehicle's two buses with its host link: a
    host logs in, asks the gateway to host an engine ECU on bus 1 (an external
    tester reads its VIN), reads the VIN of the engine ECU on bus 0, scans
    functionally (3E 00 to 0x7DF) and flashes a 4 KB image into it (an
    engine profile with 8 KB flash regions: _small_flash_engine)."""
    imp("diagbridge.gateway")
    imported = _used()
    veh = imp("diagbridge.sim.vehicle")
    ecu_node = imp("diagbridge.sim.ecu_node")
    cantp_node = imp("diagbridge.sim.cantp_node")
    e = imp("diagbridge.ecu")
    tp = imp("diagbridge.cantp")
    profiles = imp(mods["profiles"])
    import hashlib
    h = Host(mods, None)
    sim_import = _used() - imported
    v = veh.Vehicle(hashlib.sha256, ecus=False, open_role=h.P.ROLE_FULL)
    h.write = v.link.feed
    # the service modules the engine profile names (the hosted ECU needs them too)
    before = _used()
    svc = imp(mods["services"])
    for name in imp(profiles.PROFILES["engine"]).profile()["modules"]:
        svc.specs(name)
    svc_import = _used() - before
    before = _used()
    ecu_node.EcuNode(v.k, v.buses[0].attach("engine"), e.Ecu(_small_flash_engine(e, profiles)))
    extra = (sim_import, svc_import, _used() - before)
    P = h.P

    def pump(us=10000):
        v.run_for(us)
        h.received(v.k.now, v.link.read())
        sample()

    def call(kind, body, max_steps=20000):
        rid = h.start(kind, body)
        for _ in range(max_steps):
            pump()
            m = h.reply(rid)
            if m is not None:
                check(m[0] == P.MSG_RESPONSE, "host request %d: %r" % (kind, m))
                return m[2]
        raise Fail("no answer to host request %d" % kind)

    h.hello()
    for _ in range(100):
        pump()
        if h.authed():
            break
    check(h.authed(), "login")
    # a hosted engine ECU on bus 1, asked by a tester on that bus
    call(P.MSG_REQ_ECU_SIM, {P.K_ECU: 5, P.K_PROFILE: "engine", P.K_BUS: 1,
                             P.K_ADDRESSING: P.ADDRESSING_NORMAL_11, P.K_TX_ID: 0x7ED,
                             P.K_RX_ID: 0x7E5})
    got = []

    def on_tp(now, ev, ch):
        if ev == tp.EV_RX_DONE:
            got.append(bytes(ch.payload[0:ch.length]))
    ch = tp.Channel(tp.TpConfig(), tp.Address(tp.ADDR_NORMAL_11, tx_id=0x7E5, rx_id=0x7ED))
    ext = cantp_node.CanTpNode(v.k, v.buses[1].attach("tester"), ch, on_tp)
    ext.send(ch, b"\x22\xf1\x90")
    for _ in range(100):
        pump()
        if got:
            break
    check(got and got[0][0] == 0x62, "hosted ECU answer")
    # the host: a physical request, a functional scan, a flash job
    call(P.MSG_REQ_CHANNEL, {P.K_CHANNEL: 1, P.K_ON: True, P.K_BUS: 0,
                             P.K_ADDRESSING: P.ADDRESSING_NORMAL_11, P.K_TX_ID: 0x7E0,
                             P.K_RX_ID: 0x7E8, P.K_FUNC_TX_ID: 0x7DF})
    r = call(P.MSG_REQ_UDS, {P.K_CHANNEL: 1, P.K_DATA: b"\x22\xf1\x90", P.K_FUNCTIONAL: False})
    check(r[P.K_DATA][0] == 0x62, "VIN")
    r = call(P.MSG_REQ_UDS, {P.K_CHANNEL: 1, P.K_DATA: b"\x3e\x00", P.K_FUNCTIONAL: True})
    check(len(r[P.K_ANSWERS]) == 1, "functional scan")
    size = 4096
    chunk = 512
    flash = {"address": 0x10000, "security_level": 3, "key_algorithm": "diagbridge1",
             "secret": b"EngineProg03"}
    call(P.MSG_REQ_FLASH, {P.K_OP: P.OP_BEGIN, P.K_JOB: 7, P.K_CHANNEL: 1, P.K_TOTAL: size,
                           P.K_FLASH: flash})
    part = bytearray(chunk)
    for off in range(0, size, chunk):
        for i in range(chunk):
            part[i] = (((off + i) * 7) ^ ((off + i) >> 8)) & 0xFF
        call(P.MSG_REQ_FLASH, {P.K_OP: P.OP_DATA, P.K_JOB: 7, P.K_OFFSET: off,
                               P.K_DATA: bytes(part)})
    r = call(P.MSG_REQ_FLASH, {P.K_OP: P.OP_START, P.K_JOB: 7})
    check(r[P.K_RESULT] == 0 and r[P.K_REPORT]["bytes"] == size, "flash report %r" % r)
    return imported, extra


class _Done(Exception):
    pass


class _QuietCan:
    """A polled CAN port on a bus with nobody else on it."""

    def send(self, can_id, buf, n, flags, tag):
        return True

    def recv(self, buf):
        return -1


def boot(mods):
    """The board's boot path: diagbridge.mpy.runner.main(board) builds the
    gateway and runs it under asyncio with two quiet CAN ports and a link
    port; a host logs in and asks for the status, then the run is stopped."""
    runner = imp("diagbridge.mpy.runner")
    imported = _used()
    gwm = imp("diagbridge.gateway")
    lcm = imp(mods["linkconfig"])
    P = imp(mods["proto"])
    state = {"rid": None, "steps": 0}
    pending = []
    host = Host(mods, pending.append)

    class Link:
        flag = None

        def readinto(self, buf):
            sample()
            state["steps"] += 1
            if state["steps"] > 20000:
                raise Fail("boot: no status answer")
            if state["rid"] is None and host.authed():
                state["rid"] = host.start(P.MSG_REQ_STATUS, {})
            if state["rid"] is not None and host.reply(state["rid"]) is not None:
                raise _Done()
            if not pending:
                return 0
            data = pending.pop(0)
            n = min(len(data), len(buf))
            if n < len(data):
                pending.insert(0, data[n:])
            buf[0:n] = data[0:n]
            return n

        def write(self, buf, n):
            host.received(0, bytes(buf[0:n]))

    class Board:
        def gateway_config(self):
            return gwm.GatewayConfig(n_buses=2)

        def link_config(self):
            return lcm.LinkConfig(name=b"diagbridge-board", open_role=P.ROLE_FULL,
                                  buses=((0, P.BUS_CAN, 500000, 0), (1, P.BUS_CAN, 500000, 0)))

        def open_cans(self):
            return (_QuietCan(), _QuietCan())

        def open_link(self):
            return Link()

    host.hello()
    try:
        runner.main(Board())
    except _Done:
        pass
    return imported, None


SCENARIOS = {"cantp": cantp, "ecu": ecu, "gateway": gateway, "boot": boot}


def main(name, mods):
    global _base, _peak
    fn = SCENARIOS[name]
    gc.collect()
    _base = gc.mem_alloc()
    _peak = 0
    imported, extra = fn(mods)
    sample()
    line = "@@mem import=%d peak=%d" % (imported, _peak - _base)
    if extra is not None:
        line += " sim=%d,%d,%d" % extra
    print(line)
