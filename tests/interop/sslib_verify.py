"""Verify a DSSE envelope (made by custody) with securesystemslib.

Usage: python3 sslib_verify.py ENVELOPE.json THRESHOLD PUB.pem [PUB.pem ...]

Each key gets, as its securesystemslib keyid, custody's key id computed here
independently: hex SHA-256 of the key's SubjectPublicKeyInfo DER. Prints the verified
payload and exits 0 when securesystemslib accepts the envelope, 1 when it rejects it.
Exits non-zero (loudly) if securesystemslib or pyca/cryptography is missing.
"""

import hashlib
import json
import sys

try:
    from cryptography.hazmat.primitives.serialization import (
        Encoding,
        PublicFormat,
        load_pem_public_key,
    )
    from securesystemslib.dsse import Envelope
    from securesystemslib.signer import SSlibKey
except ImportError as err:  # pragma: no cover - the message is the point
    sys.exit(f"securesystemslib with crypto support is required: pip install 'securesystemslib[crypto]' ({err})")


def load_key(path):
    with open(path, "rb") as f:
        public = load_pem_public_key(f.read())
    der = public.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return SSlibKey.from_crypto(public, keyid=hashlib.sha256(der).hexdigest())


def main(envelope_path, threshold, key_paths):
    with open(envelope_path) as f:
        envelope = Envelope.from_dict(json.load(f))
    keys = [load_key(p) for p in key_paths]
    try:
        accepted = envelope.verify(keys, threshold)
    except Exception as err:  # securesystemslib raises VerificationError / ValueError
        print(f"rejected: {type(err).__name__}: {err}")
        return 1
    print("verified by:", ", ".join(sorted(accepted)))
    sys.stdout.write(envelope.payload.decode("utf-8", "replace") + "\n")
    return 0


if __name__ == "__main__":
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1], int(sys.argv[2]), sys.argv[3:]))
