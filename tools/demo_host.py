"""The whole vehicle through the host library over a real local link
(CPython; ./tools/demo runs it).

The simulated vehicle (diagbridge.sim.vehicle: the gateway, engine and
gearbox on can0, ABS on can1; its virtual clock run along the real one) is
served on a TCP loopback port by the server of `diagbridge sim`
(diagbridge_host.sim_server, over the gateway daemon's own link transport
diagbridge.cpy.gateway.link), so the laptop side is exactly what it is
against a Pi: diagbridge_host.connect(), then the `diagbridge` CLI's scan, read-did,
dtc and flash (with its progress), then the gateway's counters.

    python tools/demo_host.py            # prints the transcript
"""
import io
import os
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

from diagbridge.link import proto as P                         # noqa: E402
import diagbridge_host                                         # noqa: E402
from diagbridge_host import cli                                # noqa: E402
from diagbridge_host.sim_server import SimServer               # noqa: E402

KEY = b"demo-key-not-secret-0123456789ab"


class VehicleServer(SimServer):
    """A simulated vehicle on tcp://127.0.0.1:<free port>, pumped by a thread
    (the server of `diagbridge sim`, with the demo's key and deterministic
    nonces, so the transcript repeats)."""

    def __init__(self):
        super().__init__("tcp://127.0.0.1:0", keys=((P.ROLE_FULL, KEY),))
        self.start()


def _cli(out, *argv):
    buf = io.StringIO()
    rc = cli.main(list(argv), buf, buf)
    for line in buf.getvalue().splitlines():
        out("    " + line)
    return rc


def main(out=print):
    srv = VehicleServer()
    url = srv.url
    key = KEY.decode()
    try:
        out("diagbridge demo: the simulated vehicle behind the gateway's TCP host link")
        out("  can0 500 kbit/s: engine 0x7E0/0x7E8, gearbox 0x7E1/0x7E9; can1: ABS")
        out("")
        with diagbridge_host.connect(url, key=KEY, role="full") as conn:
            gw = conn.gateway
            out("connect  %s -> gateway %r, link protocol %d, %d buses, role %s "
                "(HMAC challenge: the key never crossed the link)"
                % ("tcp://127.0.0.1", gw.name, gw.version, len(gw.buses), conn.role_name))
        steps = (("scan", "scan: functional TesterPresent, then each ECU's VIN (22 F1 90)"),
                 ("read-did 7E1 F190 F187", "read two DIDs of the gearbox"),
                 ("dtc read 7E0 --mask 01", "the engine's DTCs that are failing now"),
                 ("flash 7E0 IMAGE --address 0x10000 --secret EngineProg03",
                  "flash 4 KiB into the engine: the gateway runs the whole job"),
                 ("status", "the gateway's counters"))
        rcs = []
        with tempfile.TemporaryDirectory(prefix="diagbridge-demo-") as tmp:
            image = os.path.join(tmp, "engine-app.bin")
            with open(image, "wb") as fh:
                fh.write(bytes(((i * 7) ^ (i >> 8)) & 0xFF for i in range(4096)))
            for cmd, what in steps:
                out("")
                out("# " + what)
                out("$ diagbridge %s" % cmd)
                argv = [image if a == "IMAGE" else a for a in cmd.split()]
                rcs.append(_cli(out, *(argv + ["--url", url, "--key", key])))
        out("")
        out("done: %d commands, %s" % (len(rcs), "all succeeded" if not any(rcs) else
                                        "exit codes %s" % rcs))
        return rcs
    finally:
        srv.close()


if __name__ == "__main__":
    import argparse
    argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                            epilog="tools/demo --kernel shows the simulation kernel's "
                                   "scenes instead").parse_args()
    sys.exit(1 if any(main()) else 0)
