# An example tachograph vehicle unit (VU) for the calibration protocol of EU
# Annex IB App. 8 section 5 (kline-digest 8): K-Line address 0xEE; sessions
# 0x81 StandardDiagnosticSession, 0x85 ECUProgrammingSession, 0x87
# ECUAdjustmentSession (Table 17: any other is 0x12); a wrong length is 0x13
# incorrectMessageLength (Table 16); securityAccess is the PIN entry of
# kwp/services/pin.py (requestSeed 0x7D, sendKey 0x7E, 0x78 while the workshop
# card checks the PIN).  The PIN is an example.
from diagbridge.uds.server.profile import Profile


def profile():
    return {
        "name": "tacho_vu",
        "protocol": "kwp",
        "addresses": {"kline_address": 0xEE},
        "modules": ["session", "pin"],
        "sessions": {0x81: {}, 0x85: {}, 0x87: {}},
        "kwp": {"length_nrc": 0x13},
        "pin": {"pin": b"\x01\x02\x03\x04", "seed": 0x1234, "attempts": 3,
                "verify_ms": 2000, "card": True},
    }


def make():
    return Profile(profile())
