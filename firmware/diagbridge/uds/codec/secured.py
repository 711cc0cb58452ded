# Layouts of SecuredDataTransmission 0x84 (§16.2, uds-digest §10.12).  Pure
# functions shared by the client and the server role.
#
#   request   84 AdministrativeParameter(2) Signature/EncryptionCalculation(1)
#                SignatureLength(2) AntiReplayCounter(2)
#                internalSID serviceSpecificParameters(n)   (ciphertext if b4)
#                Signature/MAC(SignatureLength)
#   response  C4 AdministrativeParameter(2) Signature/EncryptionCalculation(1)
#                SignatureLength(2) AntiReplayCounter(2)
#                internalRSID responseParameters | 7F internalSID NRC
#                Signature/MAC(SignatureLength)
# Tables 488-495 are missing from the source: layout and Administrative
# Parameter bits are ISO 14229-1:2020 [K].  The signature covers the bytes
# from the AdministrativeParameter to the end of the internal message (a
# VM choice where the tables are missing).
from diagbridge._compat import const
from diagbridge.uds.codec.ints import put_u16, get_u16
from diagbridge.uds.sid import SID_SDT

AP_REQUEST = const(0x0001)              # b0: a request (0 in a response)
AP_PRE_ESTABLISHED_KEY = const(0x0008)  # b3
AP_ENCRYPTED = const(0x0010)            # b4: the internal message is encrypted
AP_SIGNED = const(0x0020)               # b5: the message carries a signature
AP_SIGN_RESPONSE = const(0x0040)        # b6: a signed response is requested
AP_RESERVED = const(0xFF86)             # b1-2, b7-15

HEADER = const(8)                       # SID + the 7 header bytes
_RSID = const(0xC4)


def put_header(out, rsp, admin, calc, sig_len, arc):
    """The SID and the 7 header bytes; the position of the internal message."""
    out[0] = _RSID if rsp else SID_SDT
    put_u16(out, 1, admin)
    out[3] = calc
    put_u16(out, 4, sig_len)
    put_u16(out, 6, arc)
    return HEADER


def read_header(data, n):
    """(admin, calc, sig_len, arc, inner_len) of a 0x84/C4 PDU, or None when
    too short for its header, its signature and an internal SID."""
    if n < HEADER + 1:
        return None
    sig_len = get_u16(data, 4)
    inner = n - HEADER - sig_len
    if inner < 1:
        return None
    return get_u16(data, 1), data[3], sig_len, get_u16(data, 6), inner


def build_sdt_request(out, admin, calc, arc, inner, signature=b""):
    p = put_header(out, False, admin, calc, len(signature), arc)
    for i in range(len(inner)):
        out[p + i] = inner[i]
    p += len(inner)
    for i in range(len(signature)):
        out[p + i] = signature[i]
    return p + len(signature)


def parse_sdt_response(data, n):
    """(admin, calc, arc, internal message bytes, signature bytes) or None."""
    if n < 1 or data[0] != _RSID:
        return None
    h = read_header(data, n)
    if h is None:
        return None
    admin, calc, sig_len, arc, inner = h
    return admin, calc, arc, bytes(data[HEADER:HEADER + inner]), bytes(data[HEADER + inner:n])


# ---- the §16.2.5 example's "1's complement" signature: a test double -----------
def ones_complement_sum(data, start, end):
    """The one's complement of the 16-bit sum of data[start:end] (NOT a MAC:
    it only makes the §16.2.5 example testable without cryptography)."""
    s = 0
    for i in range(start, end):
        s = (s + data[i]) & 0xFFFF
    return s ^ 0xFFFF


def ones_complement_verify(calc, msg, start, end, sig_pos, sig_len):
    return sig_len == 2 and get_u16(msg, sig_pos) == ones_complement_sum(msg, start, end)


def ones_complement_sign(calc, buf, start, end, out_pos):
    put_u16(buf, out_pos, ones_complement_sum(buf, start, end))
    return 2
