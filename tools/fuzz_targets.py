"""Fuzz targets for every decoder: one input generator and one property check
per target, shared by the bounded hypothesis suite (tests/fuzz/) and the long
runs of tools/fuzz.  The targets live by area: fuzz_cantp.py, fuzz_uds.py,
fuzz_link.py (framing, msgpack, both session ends), fuzz_gateway.py,
fuzz_kline.py (wire, frames, ECU link machine); fuzz_common.py holds what
they share.

A target's ``check(inp)`` feeds one input to the decoder and raises
AssertionError (with what was seen) when a property does not hold; any other
exception escaping it is a failure too.  ``gen(rnd)`` builds one random
input from a ``random.Random`` for the fast loop.  Inputs are plain values
(ints, bytes, str, tuples, lists), so ``repr(inp)`` is a reproducer
(tools/fuzz --target NAME --replay FILE):

    from fuzz_targets import TARGETS
    TARGETS["cantp_frames"].check(<the printed input>)

The CAN-TP, UDS, msgpack, COBS and host-link targets build fresh machines per
input (an input is reproducible alone); ``gateway_bodies`` drives one shared
simulated vehicle (building one costs more than thousands of requests), so a
replayed input starts from a fresh vehicle and may need the inputs before it.

ISOBUS TP (ISO 11783-3) has no decoder yet: its target joins the table
when it lands.
"""
from fuzz_cantp import (gen_cantp_frames, check_cantp_frames, gen_cantp_segmented,
                        check_cantp_segmented, gen_cantp_roundtrip, check_cantp_roundtrip)
from fuzz_uds import gen_uds_server, check_uds_server, gen_uds_decode, check_uds_decode
from fuzz_link import (gen_link_cobs, check_link_cobs, known_link_cobs, gen_link_msgpack,
                       check_link_msgpack, gen_link_session, check_link_session, gen_host_link,
                       check_host_link)
from fuzz_gateway import gen_gateway_bodies, check_gateway_bodies
from fuzz_kline import (gen_kline_wire, check_kline_wire, gen_kline_frame, check_kline_frame,
                        gen_kline_ecu, check_kline_ecu)


class Target:
    def __init__(self, name, gen, check, what, known=None):
        self.name = name
        self.gen = gen          # fn(random.Random) -> input
        self.check = check      # fn(input): AssertionError when a property fails
        self.what = what        # one line for tools/fuzz --list
        # fn(input) -> name of a reported, still open bug the input hits, or
        # None: tools/fuzz counts such failures apart (the bug has its own
        # xfail(strict=True) test) and fails on every other one
        self.known = known


TARGETS = {t.name: t for t in (
    Target("cantp_frames", gen_cantp_frames, check_cantp_frames,
           "CAN-TP mux fed arbitrary frames, every addressing format, classical + FD"),
    Target("cantp_segmented", gen_cantp_segmented, check_cantp_segmented,
           "a segmented message cut / dropped / duplicated / reordered"),
    Target("cantp_roundtrip", gen_cantp_roundtrip, check_cantp_roundtrip,
           "payloads 1..4095 through a sender/receiver pair"),
    Target("uds_server", gen_uds_server, check_uds_server,
           "request PDUs to the engine-profile UDS server"),
    Target("uds_decode", gen_uds_decode, check_uds_decode,
           "response bytes into api.decode() and every codec parser"),
    Target("link_cobs", gen_link_cobs, check_link_cobs,
           "COBS/CRC deframer: frames in noise, corrupted frames", known_link_cobs),
    Target("link_msgpack", gen_link_msgpack, check_link_msgpack,
           "gateway msgpack vs PyPI msgpack: round trips, arbitrary bytes"),
    Target("link_session", gen_link_session, check_link_session,
           "gateway link session fed good-CRC frames with arbitrary messages"),
    Target("host_link", gen_host_link, check_host_link,
           "host library HostLink fed good-CRC frames with arbitrary messages"),
    Target("gateway_bodies", gen_gateway_bodies, check_gateway_bodies,
           "request bodies from a diagnostic-role host into the simulated gateway"),
    Target("kline_wire", gen_kline_wire, check_kline_wire,
           "the simulated K-Line fed bytes, low pulses and baud changes"),
    Target("kline_frame", gen_kline_frame, check_kline_frame,
           "K-Line data-link frames (SSF 14230-2) into parse(), against an oracle"),
    Target("kline_ecu", gen_kline_ecu, check_kline_ecu,
           "the K-Line ECU link machine fed bytes, pulses, wake-ups and frames"),
)}
