# The demo is the product's main job in miniature: it must run the same on
# both interpreters and tell the same story every time.
from diagbridge.sim.demo import main
from diagbridge.sim.recorder import REC_CAN, REC_BYTE, REC_LOW


def _run():
    lines = []
    rec = main(lines.append)
    return lines, rec.records


def test_demo_is_deterministic_and_tells_the_story():
    lines, records = _run()
    lines2, records2 = _run()
    assert lines == lines2 and records == records2
    can = [r for r in records if r[3] == REC_CAN]
    # The functional request, then both answers: 0x7E8 wins arbitration.
    assert [r[5] for r in can[:3]] == [0x7DF, 0x7E8, 0x7E9]
    # then the two showcase frames, from their own node: nobody answers them
    assert [(r[4], r[5]) for r in can[3:5]] == [("showcase", 0x18DA10F1), ("showcase", 0x7E8)]
    # Back-to-back: each answer starts where the previous frame ended.
    assert can[0][0] == 234 and can[1][0] == 234 + 240 and can[2][0] == 234 + 240 + 238
    kl = [r for r in records if r[3] == REC_BYTE]
    assert [r[6][0] for r in kl] == [0xC1, 0x33, 0xF1, 0x81, 0x66,
                                     0x83, 0xF1, 0x33, 0xC1, 0xEF, 0x8F, 0xE6]
    # The ECU's answer goes back to back at 10400 baud: 961.5 us per byte.
    ecu = [r[0] for r in kl if r[4] == "ecu"]
    assert ecu[-1] - ecu[0] == 5769          # six byte times: ceil(6 * 961.538)
    assert len([r for r in records if r[3] == REC_LOW]) == 1
    assert lines[-1].startswith("%d records" % len(records))


def _t(line):
    """The virtual time (us) a demo line starts with."""
    return int(line.split()[0].replace(".", ""))


def test_demo_uds_scene_reads_vin_and_dtcs_over_cantp():
    lines, records = _run()
    i = lines.index("UDS over CAN-TP, 500 kbit/s: engine ECU (0x7E0/0x7E8) and gearbox "
                    "(0x7E1/0x7E9)")
    uds = lines[i + 1:]
    assert "22 F1 90   ReadDataByIdentifier VIN" in uds[0]
    assert uds[1].endswith("VIN W0L000043MB541326") and "engine  -> tester" in uds[1]
    assert "19 02 FF" in uds[2]
    assert "(83 bytes)   20 DTCs: P0101 P0110" in uds[3] and uds[3].endswith("U0100")
    # the functional TesterPresent: both ECUs answer, engine first (0x7E8 wins)
    assert "tester  -> all      3E 00" in uds[4]
    assert "engine  -> tester   7E 00" in uds[5] and "gearbox -> tester   7E 00" in uds[6]
    assert "3E 80" in uds[7] and uds[8].startswith("24 frames on can0")
    # the UDS scene's frames: can0 records after the K-Line scene
    last_kline = max(j for j in range(len(records)) if records[j][2] == "kline")
    can1 = [r for r in records[last_kline + 1:] if r[2] == "can0"]
    # the VIN round trip: SF, FF, FC, CF, CF back to back = 1164 us at 500 kbit/s
    assert [r[5] for r in can1[:5]] == [0x7E0, 0x7E8, 0x7E0, 0x7E8, 0x7E8]
    assert _t(uds[1]) - _t(uds[0]) == 1164 == can1[4][0] - _t(uds[0])
    # functional 3E 80 produced one frame and no answer
    assert can1[-1][6][:3] == b"\x02\x3e\x80" and can1[-2][5] == 0x7E9
