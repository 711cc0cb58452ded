"""Fuzz targets for UDS (ISO 14229-1): request PDUs to the engine-profile
server, response bytes into the tester's decoders."""
from diagbridge.clock import ticks_add
from diagbridge.uds import nrc as NRC
from diagbridge.uds.client import api
from diagbridge.uds.codec import (data as c_data, dddid as c_dddid, dtc as c_dtc, io as c_io,
                                  link as c_link, memory as c_memory, periodic as c_periodic,
                                  roe as c_roe, routine as c_routine, secured as c_secured,
                                  session as c_session, transfer as c_transfer)
from diagbridge.uds.server.core import UdsServer, EV_RESET
from diagbridge.uds.server.nvm import MemNvm
from fuzz_common import T0, KNOWN_NRCS, rbytes

ENGINE_SIDS = (0x01, 0x03, 0x07, 0x09, 0x0A, 0x10, 0x11, 0x14, 0x19, 0x22, 0x23, 0x24, 0x27,
               0x28, 0x2A, 0x2C, 0x2E, 0x2F, 0x31, 0x34, 0x35, 0x36, 0x37, 0x38, 0x3D, 0x3E,
               0x84, 0x85, 0x86, 0x87)
PREFIXES = (None, "extended", "programming")
# OBD-II services (ISO 15031-5, services/obd.py): an ECU stays silent for
# PIDs / InfoTypes it does not support, physical requests too.
OBD_FIRST = 0x01
OBD_LAST = 0x0A


def _engine_server():
    from ecu_support import engine_profile
    srv = UdsServer(engine_profile(), nvm=MemNvm())
    srv.power_up(T0)
    return srv


def _pump(srv, now, out, budget_us):
    """Every PDU the server sends within budget_us (timers driven, an ECU
    reset performed as the application would): [(pdu)], the time after."""
    from diagbridge.clock import ticks_diff
    sent = []
    end = ticks_add(now, budget_us)
    while True:
        reset = False
        while True:
            ev = srv.poll()
            if ev == 0:
                break
            if ev == EV_RESET:
                reset = True
        while True:
            n = srv.pop_pdu(out)
            if not n:
                break
            sent.append(bytes(out[:n]))
        if reset:               # once its response is out, as ecu.py does
            srv.reset(now, srv.reset_kind)
        if sent and not (sent[-1][0] == 0x7F and len(sent[-1]) == 3 and sent[-1][2] == 0x78):
            return sent, now
        d = srv.deadline()
        if d is None or ticks_diff(d, end) > 0:
            return sent, now
        if ticks_diff(d, now) > 0:
            now = d
        srv.on_timer(now)


def _prefix_requests(srv, now, out, which):
    from ecu_support import engine_key
    sess, level = (b"\x10\x03", 1) if which == "extended" else (b"\x10\x02", 3)
    srv.feed_pdu(now, sess, 2, False)
    _, now = _pump(srv, now, out, 1_000_000)
    srv.feed_pdu(now, bytes((0x27, level)), 2, False)
    got, now = _pump(srv, now, out, 1_000_000)
    if got and got[-1][0] == 0x67:
        seed = got[-1][2:]
        req = bytes((0x27, level + 1)) + engine_key(level, seed)
        srv.feed_pdu(now, req, len(req), False)
        _, now = _pump(srv, now, out, 1_000_000)
    return now


# Well-formed requests for the engine profile (every service group): the
# generator mutates them, so deep paths (transfers, routines, DDDIDs) are hit.
CORPUS = tuple(bytes.fromhex(x) for x in (
    "10 01", "10 02", "10 03", "10 40", "10 83", "11 01", "11 03", "11 04", "3E 00", "3E 80",
    "85 01", "85 02", "28 00 01", "28 03 03", "27 01", "27 03", "27 11", "22 F1 90",
    "22 F1 90 F1 8C 01 00", "22 01 00", "22 03 00", "22 F3 01", "24 01 00",
    "2E F1 90 57 30 4C 30 30 30 30 34 33 4D 42 35 34 31 33 32 36", "2E 02 00 00 01",
    "23 14 00 60 1F 00 04", "23 24 00 01 00 00 00 10", "3D 14 00 60 20 00 02 AB CD",
    "19 01 FF", "19 02 FF", "19 04 12 34 56 FF", "19 06 12 34 56 FF", "19 0A", "19 14",
    "14 FF FF FF", "31 01 02 01", "31 01 02 03", "31 03 02 01", "31 02 02 01", "31 01 FF 01",
    "31 01 FF 00 44 00 60 00 00 00 00 01 00", "34 00 44 00 01 00 00 00 00 01 00",
    "34 00 33 60 00 00 00 00 10", "35 00 33 60 10 00 00 01 2C", "36 01 00 01 02 03", "36 02",
    "37", "37 01", "38 01 00 05 41 2E 62 69 6E 00 02 00 10 00 10", "38 04 00 05 41 2E 62 69 6E",
    "38 02 00 05 41 2E 62 69 6E", "2F 03 00 03 01", "2F 03 00 00", "2A 03 E3", "2A 04 E3",
    "2C 01 F2 E3 01 00 01 02 01 01 01 01", "2C 02 14 F2 E4 00 00 60 00 00 04", "2C 03 F2 E3",
    "86 05 02 01 22 F1 90", "86 00", "86 45", "87 01 12", "87 02 04 00 00", "87 03",
    "84 00 00 00 00 22 F1 90", "01 00", "01 01", "01 0C 0D", "01 00 20 40", "03", "07", "0A",
    "09 00", "09 02", "09 04", "09 0A"))


def _mutate(rnd, pdu):
    b = bytearray(pdu)
    for _ in range(rnd.choice((0, 1, 1, 2, 3))):
        how = rnd.randrange(5)
        if how == 0 and b:
            b[rnd.randrange(len(b))] = rnd.getrandbits(8)
        elif how == 1 and len(b) > 1:
            del b[rnd.randrange(1, len(b)):]
        elif how == 2:
            b += rbytes(rnd, 1, 6)
        elif how == 3 and len(b) > 1:
            b[1] ^= 0x80                    # SPRMIB
        elif how == 4 and len(b) > 2:
            b[rnd.randrange(1, len(b))] ^= 1 << rnd.randrange(8)
    return bytes(b)


def gen_uds_server(rnd):
    reqs = []
    for _ in range(rnd.randint(1, 6)):
        if rnd.random() < 0.5:
            pdu = _mutate(rnd, rnd.choice(CORPUS))
        else:
            sid = rnd.choice(ENGINE_SIDS) if rnd.random() < 0.85 else rnd.getrandbits(8)
            tail = rbytes(rnd, 0, rnd.choice((3, 8, 40, 4094 if rnd.random() < 0.1 else 40)))
            if tail and rnd.random() < 0.3:
                tail = bytes((tail[0] | 0x80,)) + tail[1:]
            pdu = bytes((sid,)) + tail
        reqs.append((pdu, rnd.random() < 0.2, rnd.choice((0, 1000, 6_000_000))))
    return (rnd.choice(PREFIXES), reqs)


def check_uds_server(inp):
    """Request PDUs (each SID with random tails, physical or functional, after
    an optional unlocked session) to an ECU with the engine profile: never
    raises; each request gets exactly one final response, positive (SID +
    0x40) or `7F SID NRC` with a known NRC, after any number of `7F SID 78`;
    none only for a suppressed positive response, a functional request or
    an OBD-II request for nothing the ECU supports (ISO 15031-5);
    a functional request never gets 11/12/31/7E/7F (without a 0x78 first)."""
    prefix, reqs = inp
    srv = _engine_server()
    out = bytearray(4095)
    now = T0
    if prefix is not None:
        now = _prefix_requests(srv, now, out, prefix)
    unsolicited_ok = False
    for data, functional, pause_us in reqs:
        now = ticks_add(now, pause_us)
        srv.on_timer(now)
        early, now = _pump(srv, now, out, 0)
        assert unsolicited_ok or not early, ("unsolicited PDU", early)
        sid = data[0]
        srv.feed_pdu(now, data, len(data), functional)
        got, now = _pump(srv, now, out, 60_000_000)
        final = None
        pending = 0
        for p in got:
            if final is not None:
                assert unsolicited_ok or sid in (0x2A, 0x86), ("a second PDU", data, got)
                continue
            if p[0] == 0x7F:
                assert len(p) == 3 and p[1] == sid, ("negative response layout", data, p)
                assert p[2] in KNOWN_NRCS, ("unknown NRC", data, p)
                if p[2] == NRC.NRC_RCRRP:
                    pending += 1
                    continue
                if functional and not pending:
                    assert not NRC.suppressed_if_functional(p[2]), ("functional NRC", data, p)
                final = p
            else:
                assert p[0] == (sid + 0x40) & 0xFF and sid < 0xC0, ("positive SID", data, p)
                final = p
        if final is None:
            assert not pending, ("7F 78 but no final response within 60 s", data, got)
            suppressed = len(data) >= 2 and data[1] & 0x80
            obd = OBD_FIRST <= sid <= OBD_LAST      # silent for what it does not support
            assert functional or suppressed or obd, ("no response", data, got)
        elif final[0] in (0x6A, 0xC6):
            unsolicited_ok = True
    return True


# ---- UDS response decoders (tester side) ----------------------------------------------------
PARSERS = (
    lambda d, n: c_data.parse_rdbi_response(d, n, {0xF190: 17, 0x0100: 2, 0xF18C: 0}),
    c_data.parse_wdbi_response, c_data.parse_rsdbi_response, c_dddid.parse_dddid_response,
    c_dtc.parse_read_dtc_response, c_dtc.parse_clear_dtc_response,
    lambda d, n: c_dtc.parse_read_dtc_response(d, n, {0xF190: 17}, {1: 4, 2: 3}),
    c_io.parse_io_response, c_link.parse_link_control_response, c_memory.parse_rmba_response,
    c_memory.parse_wmba_response, c_periodic.parse_rdbpi_response,
    c_periodic.parse_periodic_message, c_roe.parse_roe_response,
    c_routine.parse_routine_control_response, c_secured.read_header,
    c_secured.parse_sdt_response, c_session.parse_dsc_response,
    c_session.parse_ecu_reset_response, c_session.parse_security_response,
    lambda d, n: c_session.parse_sf_response(d, n, 0x3E),
    c_transfer.parse_request_download_response, c_transfer.parse_transfer_data_response,
    c_transfer.parse_request_transfer_exit_response,
    c_transfer.parse_request_file_transfer_response,
)
DECODE_SIDS = (0x10, 0x11, 0x14, 0x19, 0x22, 0x23, 0x24, 0x27, 0x28, 0x2A, 0x2C, 0x2E, 0x2F,
               0x31, 0x34, 0x35, 0x36, 0x37, 0x38, 0x3D, 0x3E, 0x84, 0x85, 0x86, 0x87, 0x99)


ENGINE_DIDS = (0xF180, 0xF187, 0xF18B, 0xF18C, 0xF190, 0x0100, 0x0101, 0x0200, 0x1234)


def gen_uds_decode(rnd):
    sid = rnd.choice(DECODE_SIDS)
    req = bytes((sid,)) + rbytes(rnd, 0, 6)
    data = bytearray(rbytes(rnd, 0, rnd.choice((4, 12, 60))))
    if data and rnd.random() < 0.8:
        data[0] = (sid + 0x40) & 0xFF
    if len(data) > 1 and rnd.random() < 0.5 and len(req) > 1:
        data[1] = req[1]
    if sid == 0x22 and rnd.random() < 0.5:      # DIDs the registry knows, in a fitting layout
        dids = [rnd.choice(ENGINE_DIDS) for _ in range(rnd.randint(1, 3))]
        req = b"\x22" + b"".join(d.to_bytes(2, "big") for d in dids)
        data = bytearray(b"\x62")
        for d in dids:
            data += d.to_bytes(2, "big") + rbytes(rnd, 0, 20)
    return (req, bytes(data), rnd.randint(0, len(data)), rnd.random() < 0.5)


def _registry():
    from diagbridge.uds.server.profiles import engine
    reg = _REG.get("engine")
    if reg is None:
        reg = _REG["engine"] = api.DidRegistry.from_profile(engine.profile())
    return reg


_REG = {}


def check_uds_decode(inp):
    """Arbitrary response bytes for a request: api.decode() and every codec
    parser return a value or None (A_MALFORMED_RESPONSE to the caller), and
    never read past n: the bytes after n do not change the answer."""
    req, data, n, with_registry = inp
    reg = _registry() if with_registry else None
    v = api.decode(req, data, n, reg)
    padded = bytes(data[:n]) + b"\x5a" * 8
    assert _same(v, api.decode(req, padded, n, reg)), ("reads past n", req, data, n)
    for parse in PARSERS:
        a = parse(data, n)
        b = parse(padded, n)
        assert _same(a, b), ("codec reads past n", parse, data, n)
    return True


def _same(a, b):
    return repr(a) == repr(b)
