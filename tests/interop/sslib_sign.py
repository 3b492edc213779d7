"""Make DSSE envelopes with securesystemslib, for custody to verify.

Usage: python3 sslib_sign.py OUTDIR

For each key kind, writes OUTDIR/<kind>.pub (PEM SubjectPublicKeyInfo) and
OUTDIR/<kind>.json (a DSSE envelope over an in-toto Statement, signed by
securesystemslib's CryptoSigner). Ed25519 also gets <kind>.sslib.json, the key in
securesystemslib's own JSON form. Exits non-zero (loudly) if securesystemslib or
pyca/cryptography is missing.
"""

import json
import os
import sys

try:
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
    from securesystemslib.dsse import Envelope
    from securesystemslib.signer import CryptoSigner
except ImportError as err:  # pragma: no cover - the message is the point
    sys.exit(f"securesystemslib with crypto support is required: pip install 'securesystemslib[crypto]' ({err})")

STATEMENT = {
    "_type": "https://in-toto.io/Statement/v1",
    "subject": [{"name": "registry.example/app", "digest": {"sha256": "a" * 64}}],
    "predicateType": "https://example.com/securesystemslib-interop/v1",
    "predicate": {"producer": "securesystemslib"},
}


def signers():
    yield "ecdsa-p256", CryptoSigner.generate_ecdsa()
    yield "ecdsa-p384", CryptoSigner.generate_ecdsa(scheme="ecdsa-sha2-nistp384")
    yield "ecdsa-p521", CryptoSigner.generate_ecdsa(scheme="ecdsa-sha2-nistp521")
    yield "ed25519", CryptoSigner.generate_ed25519()
    yield "rsa-pss", CryptoSigner.generate_rsa()
    yield "rsa-pkcs1", CryptoSigner.generate_rsa(scheme="rsa-pkcs1v15-sha256", size=2048)


def main(outdir):
    payload = json.dumps(STATEMENT).encode()
    for kind, signer in signers():
        envelope = Envelope(payload, "application/vnd.in-toto+json", {})
        envelope.sign(signer)
        with open(os.path.join(outdir, kind + ".json"), "w") as f:
            json.dump(envelope.to_dict(), f)
        public = signer.public_key._crypto_key()
        pem = public.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
        with open(os.path.join(outdir, kind + ".pub"), "wb") as f:
            f.write(pem)
        if kind == "ed25519":
            with open(os.path.join(outdir, kind + ".sslib.json"), "w") as f:
                json.dump(signer.public_key.to_dict(), f)
        with open(os.path.join(outdir, kind + ".keyid"), "w") as f:
            f.write(signer.public_key.keyid)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
