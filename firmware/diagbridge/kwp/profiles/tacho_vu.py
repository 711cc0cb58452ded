# An example tachograph vehicle unit (VU) for the calibration protocol of EU
# Annex IB / IC App. 8 (tacho-digest): K-Line address 0xEE answering any tester
# address, fast init only, key bytes EA 8F, P2 25-250 ms (answers 25 ms after
# a request; 7F xx 78 every 200 ms while the workshop card checks the PIN,
# never longer than five minutes, CPR_037); sessions 0x81
# StandardDiagnosticSession, 0x85 ECUProgrammingSession, 0x87
# ECUAdjustmentSession (Table 17: any other is 0x12); a wrong length is 0x13
# incorrectMessageLength.
#
#   vu(annex="1C", **tacho)      the calibration VU: kwp/services/tacho.py
#                                (Table 1 per session, the RDIs of the annex
#                                persisted in NVM, SecurityAccess with the
#                                workshop-card PIN, the I/O line F960, the
#                                Annex IC TimeAdjustment routine)
#   make(annex="1C", **tacho)    Profile(vu(...)); tacho/vu.link_config() and
#                                tacho/vu.bind() set up its K-Line side
#   profile()                    the link-level example of kwp/services/pin.py
#                                (PIN bytes 01 02 03 04), used by the K-Line tests
# The records are an example truck; the workshop card's PIN is "1234".
from diagbridge.uds.server.profile import Profile

RECORDS = {
    0xF90B: (2024, 3, 15, 12, 34, 56, 0, 0),        # TimeDate
    0xF912: 250000,                                 # odometer, km
    0xF918: 8000,                                   # K, imp/km
    0xF91C: 3250,                                   # L, mm
    0xF91D: 8000,                                   # W, imp/km
    0xF921: "315/80 R22.5",                         # tyre size
    0xF922: (2026, 3, 15),                          # next calibration date
    0xF92C: 90,                                     # authorised speed, km/h
    0xF97D: "D",                                    # registering member state
    0xF97E: (1, "B-AB 1234"),                       # VRN (code page 1)
    0xF190: "TESTVIN0123456789",                    # VIN
    0xF9D0: b"\x00\x01\xe2\x40\x03\x24\x06\x10",    # motion sensor serial
    0xF9D3: (b"\x0f" + b" " * 10) * 5,             # seals: 5 unused records (type 15)
    0xF9D4: b"\x00\x00\x30\x39\x01\x24\x06\x10",    # VU serial
    0xF9D8: "D",                                    # last calibration country
}

_TIMING = {"p2star_ms": 200}


def vu(annex="1C", **tacho):
    t = {"annex": annex, "card": "workshop", "pin": "1234", "records": dict(RECORDS)}
    if annex == "1B":
        for rdi in list(t["records"]):
            if rdi >= 0xF9D0:
                del t["records"][rdi]
    t.update(tacho)
    return {
        "name": "tacho_vu",
        "protocol": "kwp",
        "addresses": {"kline_address": 0xEE},
        "modules": ["session", "tacho"],
        "sessions": {0x81: dict(_TIMING), 0x85: dict(_TIMING), 0x87: dict(_TIMING)},
        "kwp": {"length_nrc": 0x13},
        "tacho": t,
    }


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


def make(annex="1C", **tacho):
    return Profile(vu(annex, **tacho))
