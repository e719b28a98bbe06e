"""Mist delivery signatures: hex HMACs of the exact body bytes, keyed by the secret.

``X-Mist-Signature-v2`` is HMAC-SHA256, ``X-Mist-Signature`` HMAC-SHA1 (mist_api.md §4.2).
No timestamp and no id are signed: that is Mist's scheme, kept for compatibility.
"""

from __future__ import annotations

import hmac

SIGNATURE_V2 = "X-Mist-Signature-v2"
SIGNATURE_V1 = "X-Mist-Signature"


def signature_headers(secret: str | None, body: bytes) -> dict[str, str]:
    """The two signature headers for ``body``; empty when the webhook has no secret."""
    if not secret:
        return {}
    key = secret.encode()
    # hmac.digest is OpenSSL's one-shot HMAC: no Python-level HMAC object per message.
    return {
        SIGNATURE_V2: hmac.digest(key, body, "sha256").hex(),
        SIGNATURE_V1: hmac.digest(key, body, "sha1").hex(),
    }
