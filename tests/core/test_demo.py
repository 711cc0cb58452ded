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
