"""Generate a test PKI for UDS Authentication 0x29 (APCE) with `cryptography`.

    python tools/test_pki.py OUT_DIR [--now UNIX_SECONDS]

writes into OUT_DIR (PEM; ``*.chain.der`` is certificateClient as sent on
the wire: the leaf then the intermediate, DER, concatenated):

    root.pem / root.key              the trust anchor (ECDSA P-256)
    intermediate.pem / .key          issued by root (CA, pathlen 0)
    tester.pem / .key                ECDSA P-256, role "workshop"
    tester_ed25519.pem / .key        Ed25519, role "engineering"
    tester_rsa.pem / .key            RSA-2048 (RSASSA-PSS proofs), role "workshop"
    ecu.pem / .key                   the ECU's certificate (bidirectional APCE), role "ecu"
    expired.pem, not_yet_valid.pem, wrong_ca.pem (issued by rogue_root.pem),
    revoked.pem (listed in intermediate.crl.pem), no_signature_usage.pem
                                     the negative variants (each with its .key)
    <name>.chain.der                 for every leaf above

Roles are subject organizationalUnitName values ``uds-role:<name>``, which
``diagbridge.cpy.auth_crypto`` reads.  Every certificate is valid from one
day before `now` to a year after it, except the expired (ended a day before
`now`) and not-yet-valid (starts a day after) variants.  For test benches
only: the keys are written unencrypted.
"""
from __future__ import annotations

import argparse
import datetime
import pathlib
import time
from typing import Optional

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID

ROLE_PREFIX = "uds-role:"
DAY = datetime.timedelta(days=1)
LEAVES = ("tester", "tester_ed25519", "tester_rsa", "ecu", "expired", "not_yet_valid",
          "wrong_ca", "revoked", "no_signature_usage")


def _name(cn: str, roles=()) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, "diagbridge test PKI"),
             x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    attrs += [x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, ROLE_PREFIX + r)
              for r in roles]
    return x509.Name(attrs)


def _cert(subject: x509.Name, key, issuer_name: x509.Name, issuer_key, start, end,
          ca: bool = False, signature_usage: bool = True, serial: Optional[int] = None):
    pub = key.public_key()
    b = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer_name)
         .public_key(pub).serial_number(serial or x509.random_serial_number())
         .not_valid_before(start).not_valid_after(end)
         .add_extension(x509.BasicConstraints(ca=ca, path_length=0 if ca else None),
                        critical=True)
         .add_extension(x509.KeyUsage(digital_signature=signature_usage and not ca,
                                      content_commitment=False, key_encipherment=False,
                                      data_encipherment=False, key_agreement=not ca,
                                      key_cert_sign=ca, crl_sign=ca, encipher_only=False,
                                      decipher_only=False), critical=True)
         .add_extension(x509.SubjectKeyIdentifier.from_public_key(pub), critical=False))
    algo = None if isinstance(issuer_key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    return b.sign(issuer_key, algo)


def _pem_key(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def generate(out_dir, now: Optional[float] = None) -> dict:
    """Write the PKI into out_dir; {name: {"cert", "key", "chain"} paths} plus
    "crl" and the parameters ("now")."""
    out = pathlib.Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    t = datetime.datetime.fromtimestamp(now if now is not None else time.time(),
                                        datetime.timezone.utc).replace(microsecond=0)
    start, end = t - DAY, t + 365 * DAY
    p256 = lambda: ec.generate_private_key(ec.SECP256R1())     # noqa: E731
    root_key, rogue_key, inter_key = p256(), p256(), p256()
    root_name = _name("diagbridge test root")
    rogue_name = _name("diagbridge rogue root")
    inter_name = _name("diagbridge test intermediate")
    root = _cert(root_name, root_key, root_name, root_key, start, end + DAY, ca=True)
    rogue = _cert(rogue_name, rogue_key, rogue_name, rogue_key, start, end + DAY, ca=True)
    inter = _cert(inter_name, inter_key, root_name, root_key, start, end, ca=True)
    res = {"now": t.timestamp()}

    def write(name, cert, key, chain=()):
        paths = {"cert": out / (name + ".pem"), "key": out / (name + ".key")}
        paths["cert"].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        paths["key"].write_bytes(_pem_key(key))
        if chain is not None:
            paths["chain"] = out / (name + ".chain.der")
            paths["chain"].write_bytes(b"".join(
                c.public_bytes(serialization.Encoding.DER) for c in (cert,) + tuple(chain)))
        res[name] = paths

    write("root", root, root_key, None)
    write("rogue_root", rogue, rogue_key, None)
    write("intermediate", inter, inter_key, None)

    def leaf(name, roles, key=None, a=start, b=end, issuer=(inter_name, inter_key, inter),
             usage=True, serial=None):
        key = key or p256()
        c = _cert(_name(name, roles), key, issuer[0], issuer[1], a, b,
                  signature_usage=usage, serial=serial)
        write(name, c, key, (issuer[2],) if issuer[2] is not None else ())
        return c

    leaf("tester", ("workshop",))
    leaf("tester_ed25519", ("engineering",), key=ed25519.Ed25519PrivateKey.generate())
    leaf("tester_rsa", ("workshop",), key=rsa.generate_private_key(65537, 2048))
    leaf("ecu", ("ecu",))
    leaf("expired", ("workshop",), a=t - 30 * DAY, b=t - DAY)
    leaf("not_yet_valid", ("workshop",), a=t + DAY, b=t + 30 * DAY)
    leaf("wrong_ca", ("workshop",), issuer=(rogue_name, rogue_key, None))
    revoked = leaf("revoked", ("workshop",))
    leaf("no_signature_usage", ("workshop",), usage=False)
    crl = (x509.CertificateRevocationListBuilder().issuer_name(inter_name)
           .last_update(start).next_update(end)
           .add_revoked_certificate(x509.RevokedCertificateBuilder()
                                    .serial_number(revoked.serial_number)
                                    .revocation_date(start).build())
           .sign(inter_key, hashes.SHA256()))
    res["crl"] = out / "intermediate.crl.pem"
    res["crl"].write_bytes(crl.public_bytes(serialization.Encoding.PEM))
    return res


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out_dir")
    ap.add_argument("--now", type=float, default=None, help="Unix seconds (default: now)")
    a = ap.parse_args(argv)
    res = generate(a.out_dir, a.now)
    print("test PKI in %s: %d certificates" % (a.out_dir, len(res) - 2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
