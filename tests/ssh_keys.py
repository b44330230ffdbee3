"""OpenSSH public key lines made by hand (RFC 4253 section 6.6, RFC 5656 section 3.1, RFC 8709),
so the tests need no ssh-keygen. Only the shape is real: no private key exists for them."""

from __future__ import annotations

import base64
import os


def _string(data: bytes) -> bytes:
    return len(data).to_bytes(4, "big") + data


def _mpint(value: int) -> bytes:
    raw = value.to_bytes(value.bit_length() // 8 + 1, "big")  # a leading 0: positive
    return _string(raw)


def ed25519(comment: str = "technicien@portable") -> str:
    blob = _string(b"ssh-ed25519") + _string(os.urandom(32))
    return f"ssh-ed25519 {base64.b64encode(blob).decode()} {comment}".strip()


def ecdsa(comment: str = "tech@laptop") -> str:
    kind = b"ecdsa-sha2-nistp256"
    blob = _string(kind) + _string(b"nistp256") + _string(b"\x04" + os.urandom(64))
    return f"{kind.decode()} {base64.b64encode(blob).decode()} {comment}".strip()


def rsa(bits: int = 3072, comment: str = "tech@laptop") -> str:
    n = int.from_bytes(os.urandom(bits // 8), "big") | (1 << (bits - 1)) | 1
    blob = _string(b"ssh-rsa") + _mpint(65537) + _mpint(n)
    return f"ssh-rsa {base64.b64encode(blob).decode()} {comment}".strip()
