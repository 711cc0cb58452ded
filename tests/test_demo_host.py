"""./tools/demo's host part (tools/demo_host.py, CPython only): the
simulated vehicle behind the daemon's TCP link transport, driven by the
`diagbridge` CLI.  The wall-clock parts (rates, uptime) are not asserted."""
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

import demo_host  # noqa: E402
from diagbridge.link import proto as P  # noqa: E402


def test_demo_transcript_scans_reads_and_flashes():
    lines = []
    rcs = demo_host.main(lines.append)
    assert rcs == [0, 0, 0, 0, 0], "\n".join(lines)
    text = "\n".join(lines)
    assert lines[0].startswith("diagbridge demo")
    assert ("gateway 'diagbridge-sim', link protocol %d, 2 buses, role full"
            % P.LINK_PROTOCOL_VERSION) in text
    i = lines.index("$ diagbridge scan")
    assert lines[i + 2:i + 4] == ["    0x7E0 -> 0x7E8  W0L000043MB541326",
                                  "    0x7E1 -> 0x7E9  W0L000043MB541326"]
    assert ("    F187: 47 42 58 30 30 30 31 32 33 34  |GBX0001234|  ManufacturerSparePartNumber"
            in lines)
    assert "    7 DTC(s) with status mask 01 on 0x7E0" in lines
    assert any(ln.startswith("    [" + "#" * 30 + "] 100%  4096/4096") for ln in lines)
    assert any(ln.startswith("    flash OK: 4096 bytes to 0x7E0 at 0x10000")
               and ln.endswith("verified") for ln in lines)
    assert lines[-1] == "done: 5 commands, all succeeded"


def test_tools_demo_kernel_flag_runs_the_portable_scenes():
    out = subprocess.run([sys.executable, "-m", "diagbridge.sim.demo"], capture_output=True,
                         text=True, timeout=120, cwd=ROOT, check=True).stdout
    assert "UDS over CAN-TP" in out
    with open(os.path.join(ROOT, "tools", "demo")) as fh:
        script = fh.read()
    assert "--kernel" in script and "demo_host.py" in script
