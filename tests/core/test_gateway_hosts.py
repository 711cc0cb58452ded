# Several hosts on one gateway at once (gateway/hosts.py): each host slot
# with its own role, answers, credits, queues and drop counts; raw CAN fanned
# out to every listener without a slow one holding back the others; what a
# host makes survives another host's leaving; a host beyond max_hosts is
# refused; a full-role host's bus lock refuses the others' transmissions,
# tells them, and ends when its holder leaves.  Virtual time, three VHosts on
# the simulated vehicle.  Runs under pytest and real MicroPython.
from diagbridge.codes import OK, LINK_REFUSED, LINK_UNEXPECTED
from diagbridge.errors import ConfigError
from diagbridge.gateway import GatewayConfig
from diagbridge.gateway.loop import GatewayLoop
from diagbridge.link import proto as P
from gateway_support import VHost, vehicle, another_host, ENGINE, GEARBOX
from support import run_locked

FRAMES = 200


def _three(roles=(P.ROLE_FULL, P.ROLE_DIAGNOSTIC, P.ROLE_MONITOR), credits=(64, 64, 64),
           auto=(True, True, True), **kw):
    v = vehicle(gw_cfg=GatewayConfig(n_buses=2, max_hosts=3), **kw)
    a = VHost(v, auto[0])
    m = a.login(roles[0], credits[0])
    assert m[0] == P.MSG_AUTH_OK, m
    b = another_host(v, roles[1], credits[1], auto[1])
    c = another_host(v, roles[2], credits[2], auto[2])
    return v, a, b, c


def _run_all(hosts, us):
    """Let us of virtual time pass with every host reading its link."""
    v = hosts[0].v
    end = v.k.elapsed_us + us
    while v.k.elapsed_us < end:
        v.run_for(min(10000, end - v.k.elapsed_us))
        for h in hosts:
            h.pump()


def _frame(i):
    out = bytearray(8)
    out[0] = i & 0xFF
    out[1] = i >> 8
    return out


def _lock_events(h):
    return [e[2] for e in h.events
            if e[0] == P.MSG_EV_STATE and e[2][P.K_WHAT] == P.WHAT_BUS_LOCK]


def test_three_hosts_with_their_own_roles_each_answered_alone():
    v, a, b, c = _three()
    st = c.ok(P.MSG_REQ_STATUS, {})
    hosts = st[P.K_HOSTS]
    assert [(h["slot"], h["role"], h["you"]) for h in hosts] == \
        [(0, P.ROLE_FULL, False), (1, P.ROLE_DIAGNOSTIC, False), (2, P.ROLE_MONITOR, True)]
    assert [h["name"] for h in hosts] == ["host 0", "host 1", "host 2"]
    assert st[P.K_STATS]["hosts_up"] == 3 and st[P.K_STATS]["max_hosts"] == 3
    # the same channel id and request ids on two hosts: separate tables, separate answers
    a.open(1, ENGINE)
    b.open(1, GEARBOX)
    ra = a.start(P.MSG_REQ_UDS, {P.K_CHANNEL: 1, P.K_DATA: b"\x22\xf1\x87"})
    rb = b.start(P.MSG_REQ_UDS, {P.K_CHANNEL: 1, P.K_DATA: b"\x22\xf1\x87"})
    assert ra == rb == 2
    _run_all((a, b, c), 300000)
    ma = a.wait(ra)
    mb = b.wait(rb)
    assert ma[2][P.K_DATA][3:] == v.ecu("engine").profile.dids[0xF187].value
    assert mb[2][P.K_DATA][3:] == b"GBX0001234"
    assert [m for m in c.inbox if m[0] in (P.MSG_RESPONSE, P.MSG_ERROR)] == []
    assert [m for m in a.inbox if m[0] in (P.MSG_RESPONSE, P.MSG_ERROR)] == []
    # roles are per host: the diagnostic host may not reset, the full one may
    m = b.request(P.MSG_REQ_UDS, {P.K_CHANNEL: 1, P.K_DATA: b"\x11\x01"})
    assert m[0] == P.MSG_ERROR and m[2][P.K_CODE] == LINK_REFUSED
    m = c.request(P.MSG_REQ_CHANNEL, {P.K_CHANNEL: 1, P.K_ON: True, P.K_BUS: 0})
    assert m[0] == P.MSG_ERROR and m[2][P.K_CODE] == LINK_REFUSED     # monitor: no channels
    assert a.uds(1, b"\x11\x01")[P.K_RESULT] == OK
    # each host's STATUS lists its own channels
    assert a.ok(P.MSG_REQ_STATUS, {})[P.K_CHANNELS] == [1]
    assert c.ok(P.MSG_REQ_STATUS, {})[P.K_CHANNELS] == []


def test_raw_can_fans_out_and_a_slow_host_drops_alone():
    # b gives 4 credits and never returns them: its queue (32 events) fills
    v, a, b, c = _three(roles=(P.ROLE_FULL, P.ROLE_MONITOR, P.ROLE_MONITOR),
                        credits=(64, 4, 64), auto=(True, False, True), event_queue=32)
    for h in (b, c):
        h.ok(P.MSG_REQ_CAN_LISTEN, {P.K_BUS: 0, P.K_FILTERS: [[0x100, 0x700]]})
    port = v.buses[0].attach("flood")
    for i in range(FRAMES):
        port.send(0x100 + (i & 0xFF), _frame(i))
    _run_all((a, b, c), 200000)             # 200 frames at 500 kbit/s: ~46 ms
    rx_c = [e for e in c.events if e[0] == P.MSG_EV_CAN_RX]
    assert [e[2][P.K_DATA][0] | e[2][P.K_DATA][1] << 8 for e in rx_c] == list(range(FRAMES))
    assert [e for e in a.events if e[0] == P.MSG_EV_CAN_RX] == []     # a never listened
    assert len(b.events) == 4
    st = c.ok(P.MSG_REQ_STATUS, {})
    by = {h["slot"]: h for h in st[P.K_HOSTS]}
    assert by[2]["listened"] == FRAMES and by[2]["listen_dropped"] == 0
    assert by[1]["listened"] == 4 + 32 and by[1]["listen_dropped"] == FRAMES - 36
    assert by[1]["events_dropped"] == FRAMES - 36 and by[2]["events_dropped"] == 0
    bs = st[P.K_BUS_STATS][0]
    assert bs["listened"] == FRAMES + 36 and bs["listen_dropped"] == FRAMES - 36
    # b's drops are reported to b alone, exactly, when it takes events again
    b.credit(1000)
    _run_all((a, b, c), 20000)
    drops = [e[2][P.K_COUNTS] for e in b.events if e[0] == P.MSG_EV_DROPPED]
    assert sum(d.get(P.MSG_EV_CAN_RX, 0) for d in drops) == FRAMES - 36
    assert len([e for e in b.events if e[0] == P.MSG_EV_CAN_RX]) == 36
    assert [e for e in c.events if e[0] == P.MSG_EV_DROPPED] == []
    assert c.ok(P.MSG_REQ_STATUS, {})[P.K_COUNTS] == {}


def test_a_hosts_things_survive_another_hosts_leaving():
    v, a, b, c = _three(roles=(P.ROLE_FULL, P.ROLE_FULL, P.ROLE_MONITOR))
    a.open(1, ENGINE)
    b.open(1, GEARBOX)
    b.ok(P.MSG_REQ_CAN_LISTEN, {P.K_BUS: 1})
    b.close()                               # b's connection is cut: no BYE
    _run_all((a, c), 100000)
    assert a.uds(1, b"\x22\xf1\x90")[P.K_RESULT] == OK
    assert a.ok(P.MSG_REQ_STATUS, {})[P.K_CHANNELS] == [1]
    st = c.ok(P.MSG_REQ_STATUS, {})
    assert [h["slot"] for h in st[P.K_HOSTS]] == [0, 2]
    # b's gearbox address is free again: a new host opens it; then a leaves with a BYE
    d = another_host(v, P.ROLE_DIAGNOSTIC)
    assert d.pipe.slot == 1
    d.open(7, GEARBOX)
    a.send(P.MSG_BYE, 0, None)
    _run_all((c, d), 100000)
    r = d.uds(7, b"\x22\xf1\x87")
    assert r[P.K_RESULT] == OK and r[P.K_DATA][3:] == b"GBX0001234"
    assert d.ok(P.MSG_REQ_STATUS, {})[P.K_CHANNELS] == [7]
    assert [h["slot"] for h in d.ok(P.MSG_REQ_STATUS, {})[P.K_HOSTS]] == [1, 2]
    e = VHost(v)                            # a's slot (0, the always-connected link) again
    assert e.login(P.ROLE_DIAGNOSTIC)[0] == P.MSG_AUTH_OK
    assert e.ok(P.MSG_REQ_STATUS, {})[P.K_CHANNELS] == []
    e.open(1, ENGINE)                       # a's channel is gone with a
    assert e.uds(1, b"\x22\xf1\x90")[P.K_RESULT] == OK


def test_another_hosts_address_is_refused():
    v, a, b, c = _three(roles=(P.ROLE_FULL, P.ROLE_DIAGNOSTIC, P.ROLE_MONITOR))
    a.open(1, ENGINE)
    m = b.request(P.MSG_REQ_CHANNEL, {P.K_CHANNEL: 2, P.K_ON: True, P.K_BUS: 0,
                                      P.K_ADDRESSING: P.ADDRESSING_NORMAL_11,
                                      P.K_TX_ID: 0x7E0, P.K_RX_ID: 0x7E8})
    assert m[0] == P.MSG_ERROR and m[2][P.K_CODE] == LINK_UNEXPECTED
    assert m[2][P.K_TEXT] == "host host 0's channel 1 uses this address"
    assert b.ok(P.MSG_REQ_STATUS, {})[P.K_CHANNELS] == []


def test_a_host_beyond_max_hosts_is_refused_with_a_clear_error():
    v, a, b, c = _three()
    p = v.open_link()
    assert p.refused and p.closed
    d = VHost(v, pipe=p)
    d.pump()
    assert len(d.inbox) == 1
    kind, ref, body = d.inbox[0]
    assert kind == P.MSG_ERROR and body[P.K_CODE] == LINK_UNEXPECTED
    assert body[P.K_TEXT] == "gateway busy: another host is connected on each of the 3 " \
        "host slots"
    d.send(P.MSG_HELLO, 0, {P.K_VERSION: P.LINK_PROTOCOL_VERSION, P.K_ROLE: P.ROLE_FULL})
    assert p.fed == 0                       # nothing of it reaches the gateway
    assert c.ok(P.MSG_REQ_STATUS, {})[P.K_STATS]["hosts_up"] == 3
    # one leaves: the next connection gets its slot
    b.close()
    e = another_host(v, P.ROLE_MONITOR)
    assert e.pipe.slot == 1


def test_more_link_ports_than_host_slots_is_a_config_error():
    v = vehicle()
    try:
        GatewayLoop(v.gw, (), (v.link, v.link))
        assert False, "two ports for one slot"
    except ConfigError as e:
        assert "max_hosts" in str(e)
    try:
        GatewayConfig(max_hosts=0)
        assert False, "no host slot"
    except ConfigError as e:
        assert str(e).startswith("max_hosts")


def test_bus_lock_refuses_the_others_and_ends_with_its_holder():
    v, a, b, c = _three(roles=(P.ROLE_FULL, P.ROLE_FULL, P.ROLE_MONITOR))
    c.ok(P.MSG_REQ_CAN_LISTEN, {P.K_BUS: 0, P.K_FILTERS: [[0x123, 0x7FF]]})
    b.open(1, GEARBOX)
    # the monitor may not lock (role), nor may anyone unlock what it does not hold
    m = c.request(P.MSG_REQ_BUS_LOCK, {P.K_BUS: 0, P.K_ON: True})
    assert m[0] == P.MSG_ERROR and m[2][P.K_CODE] == LINK_REFUSED
    m = a.request(P.MSG_REQ_BUS_LOCK, {P.K_BUS: 0, P.K_ON: False})
    assert m[0] == P.MSG_ERROR and m[2][P.K_CODE] == LINK_UNEXPECTED
    assert m[2][P.K_TEXT] == "bus 0 is not locked by this host"
    m = a.request(P.MSG_REQ_BUS_LOCK, {P.K_BUS: 0})
    assert m[0] == P.MSG_ERROR and m[2][P.K_TEXT] == "bad field: on"
    # a takes bus 0: b and c are told, a is not
    assert a.ok(P.MSG_REQ_BUS_LOCK, {P.K_BUS: 0, P.K_ON: True})[P.K_RESULT] == OK
    assert a.ok(P.MSG_REQ_BUS_LOCK, {P.K_BUS: 0, P.K_ON: True})[P.K_RESULT] == OK   # again: ok
    _run_all((a, b, c), 20000)
    told = {P.K_WHAT: P.WHAT_BUS_LOCK, P.K_STATE: 1, P.K_REF: 0, P.K_NAME: "host 0"}
    assert _lock_events(b) == [told] and _lock_events(c) == [told] and _lock_events(a) == []
    # b's transmissions on bus 0 are refused before anything reaches the bus
    sent = v.gw.tx_frames[0]
    text = "bus 0 is locked by host host 0 for flashing"
    for kind, body in (
            (P.MSG_REQ_CAN_SEND, {P.K_BUS: 0, P.K_ID: 0x7E1, P.K_DATA: b"\x02\x3e\x00"}),
            (P.MSG_REQ_UDS, {P.K_CHANNEL: 1, P.K_DATA: b"\x22\xf1\x87"}),
            (P.MSG_REQ_KEEPALIVE, {P.K_CHANNEL: 1, P.K_ON: True}),
            (P.MSG_REQ_CHANNEL, {P.K_CHANNEL: 2, P.K_ON: True, P.K_BUS: 0,
                                 P.K_ADDRESSING: P.ADDRESSING_NORMAL_11, P.K_TX_ID: 0x7E3,
                                 P.K_RX_ID: 0x7EB}),
            (P.MSG_REQ_ECU_SIM, {P.K_ECU: 1, P.K_ON: True, P.K_BUS: 0, P.K_PROFILE: "engine"}),
            (P.MSG_REQ_BUS_LOCK, {P.K_BUS: 0, P.K_ON: True})):
        m = b.request(kind, body)
        assert m[0] == P.MSG_ERROR and m[2][P.K_CODE] == LINK_REFUSED, (kind, m)
        assert m[2][P.K_TEXT] == text, m
    assert b.ok(P.MSG_REQ_STATUS, {})[P.K_CHANNELS] == [1]
    assert v.gw.tx_frames[0] == sent
    # bus 1 is not locked; the holder itself transmits on bus 0, the listener receives it
    assert b.ok(P.MSG_REQ_CAN_SEND, {P.K_BUS: 1, P.K_ID: 0x7E3, P.K_DATA: b"\x01"})[P.K_RESULT] == OK
    assert a.ok(P.MSG_REQ_CAN_SEND, {P.K_BUS: 0, P.K_ID: 0x7E3, P.K_DATA: b"\x01"})[P.K_RESULT] == OK
    port = v.buses[0].attach("other")
    port.send(0x123, _frame(7))
    _run_all((a, b, c), 20000)
    assert [e[2][P.K_ID] for e in c.events if e[0] == P.MSG_EV_CAN_RX] == [0x123]
    st = c.ok(P.MSG_REQ_STATUS, {})
    assert st[P.K_BUS_STATS][0]["locked_by"] == 0 and st[P.K_BUS_STATS][1]["locked_by"] == -1
    assert [h["locks"] for h in st[P.K_HOSTS]] == [[0], [], []]
    # the holder's connection ends: the lock ends with it, the others are told
    a.close()
    _run_all((b, c), 20000)
    freed = {P.K_WHAT: P.WHAT_BUS_LOCK, P.K_STATE: 0, P.K_REF: 0, P.K_NAME: "host 0"}
    assert _lock_events(b) == [told, freed] and _lock_events(c) == [told, freed]
    r = b.uds(1, b"\x22\xf1\x87")
    assert r[P.K_RESULT] == OK and r[P.K_DATA][3:] == b"GBX0001234"
    # b takes it now and releases it itself: c is told both times
    assert b.ok(P.MSG_REQ_BUS_LOCK, {P.K_BUS: 0, P.K_ON: True})[P.K_RESULT] == OK
    assert b.ok(P.MSG_REQ_BUS_LOCK, {P.K_BUS: 0, P.K_ON: False})[P.K_RESULT] == OK
    _run_all((b, c), 20000)
    assert [e[P.K_STATE] for e in _lock_events(c)] == [1, 0, 1, 0]
    assert _lock_events(c)[2][P.K_NAME] == "host 1"


def test_own_frames_echo_only_to_hosts_that_asked():
    v, a, b, c = _three(roles=(P.ROLE_FULL, P.ROLE_MONITOR, P.ROLE_MONITOR))
    b.ok(P.MSG_REQ_CAN_LISTEN, {P.K_BUS: 1, P.K_ECHO: True})
    c.ok(P.MSG_REQ_CAN_LISTEN, {P.K_BUS: 1})
    assert a.ok(P.MSG_REQ_CAN_SEND, {P.K_BUS: 1, P.K_ID: 0x321,
                                     P.K_DATA: b"\x01\x02"})[P.K_RESULT] == OK
    _run_all((a, b, c), 20000)
    echoes = [e[2] for e in b.events if e[0] == P.MSG_EV_CAN_RX]
    assert len(echoes) == 1 and echoes[0][P.K_ID] == 0x321
    assert echoes[0][P.K_FLAGS] & P.CAN_ECHO and echoes[0][P.K_DATA] == b"\x01\x02"
    assert [e for e in c.events if e[0] == P.MSG_EV_CAN_RX] == []   # no ECHO asked
    assert [e for e in a.events if e[0] == P.MSG_EV_CAN_RX] == []   # not listening


FLASH_MAP = {"address": 0x10000, "security_level": 3, "key_algorithm": "diagbridge1",
             "secret": b"EngineProg03"}


def test_a_running_flash_outlives_its_host_and_any_full_host_may_stop_it():
    v, a, b, c = _three(roles=(P.ROLE_FULL, P.ROLE_FULL, P.ROLE_MONITOR))
    img = bytes(((i * 7) ^ (i >> 8)) & 0xFF for i in range(4096))
    b.open(1, ENGINE)
    b.ok(P.MSG_REQ_FLASH, {P.K_OP: P.OP_BEGIN, P.K_JOB: 7, P.K_CHANNEL: 1,
                           P.K_TOTAL: len(img), P.K_FLASH: FLASH_MAP})
    for off in range(0, len(img), 512):
        b.ok(P.MSG_REQ_FLASH, {P.K_OP: P.OP_DATA, P.K_JOB: 7, P.K_OFFSET: off,
                               P.K_DATA: img[off:off + 512]})
    b.start(P.MSG_REQ_FLASH, {P.K_OP: P.OP_START, P.K_JOB: 7})
    _run_all((a, b, c), 100000)
    assert [e for e in b.events if e[0] == P.MSG_EV_STATE]     # the steps are under way
    # the other full host cannot touch b's job while b is there
    m = a.request(P.MSG_REQ_FLASH, {P.K_OP: P.OP_ABORT, P.K_JOB: 7})
    assert m[0] == P.MSG_ERROR and m[2][P.K_TEXT] == "no job 7"
    assert a.ok(P.MSG_REQ_STATUS, {})[P.K_JOBS] == []
    b.close()                                               # b goes: the job runs unattended
    _run_all((a, c), 20000)
    assert a.ok(P.MSG_REQ_STATUS, {})[P.K_JOBS] == [7]
    assert c.ok(P.MSG_REQ_STATUS, {})[P.K_JOBS] == [7]
    m = a.request(P.MSG_REQ_CHANNEL, {P.K_CHANNEL: 1, P.K_ON: True, P.K_BUS: 0,
                                      P.K_ADDRESSING: P.ADDRESSING_NORMAL_11,
                                      P.K_TX_ID: 0x7E0, P.K_RX_ID: 0x7E8})
    assert m[0] == P.MSG_ERROR and m[2][P.K_TEXT] == "flash job 7 uses this address until it ends"
    m = c.request(P.MSG_REQ_FLASH, {P.K_OP: P.OP_ABORT, P.K_JOB: 7})
    assert m[0] == P.MSG_ERROR and m[2][P.K_CODE] == LINK_REFUSED   # monitor: role
    assert a.ok(P.MSG_REQ_FLASH, {P.K_OP: P.OP_ABORT, P.K_JOB: 7})[P.K_RESULT] == OK
    assert c.ok(P.MSG_REQ_STATUS, {})[P.K_JOBS] == []
    a.open(1, ENGINE)                                       # the address is free again
    _run_all((a, c), 6000000)                               # the ECU's session times out
    assert a.uds(1, b"\x22\xf1\x90")[P.K_RESULT] == OK


def _fan(ctx):
    gw, now, frame = ctx[0], ctx[1], ctx[2]
    for i in range(20):
        gw.feed_can(now, 0, 0x100 + i, frame, 8, 0)


def test_fan_out_to_several_hosts_does_not_allocate():
    """Raw CAN to three listeners, one of them with a full queue, under the
    heap lock: posting and dropping allocate nothing."""
    v, a, b, c = _three(roles=(P.ROLE_MONITOR, P.ROLE_MONITOR, P.ROLE_MONITOR),
                        credits=(1000, 1000, 1000), ecus=False)
    a.ok(P.MSG_REQ_CAN_LISTEN, {P.K_BUS: 0, P.K_FILTERS: [[0x100, 0x7E0]]})   # 0x100-0x11F
    b.ok(P.MSG_REQ_CAN_LISTEN, {P.K_BUS: 0, P.K_FILTERS: [[0x100, 0x7F0]]})   # 0x100-0x10F
    c.ok(P.MSG_REQ_CAN_LISTEN, {P.K_BUS: 0})
    _run_all((a, b, c), 10000)
    gw = v.gw
    now = v.k.now
    frame = _frame(0x55)
    for _ in range(64):                         # c alone: its queue (64 events) is full
        gw.feed_can(now, 0, 0x300, frame, 8, 0)
    ctx = [gw, now, frame]
    _fan(ctx)                                   # warm up
    run_locked(lambda: _fan(ctx))
    hs = gw.hosts
    assert (hs[0].listened, hs[0].listen_dropped) == (40, 0)
    assert (hs[1].listened, hs[1].listen_dropped) == (32, 0)
    assert (hs[2].listened, hs[2].listen_dropped) == (64, 40)
    assert gw.listened[0] == 40 + 32 + 64 and gw.listen_dropped[0] == 40
