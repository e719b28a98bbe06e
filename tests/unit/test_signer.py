"""Mist signatures against the published and recomputed vectors (reliability_security.md §5)."""

from __future__ import annotations

import hashlib
import hmac

from misthook.delivery.signer import signature_headers


def test_github_docs_vector_v4() -> None:
    """V4: GitHub's documented SHA-256 value, and the SHA-1 value from the same inputs."""
    headers = signature_headers("It's a Secret to Everybody", b"Hello, World!")
    assert headers == {
        "X-Mist-Signature-v2": "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
        "X-Mist-Signature": "01dc10d0c83e72ed246219cdd91669667fe2ca59",
    }


def test_mist_shaped_batch_vector_v5() -> None:
    """V5: our own regression vector over a Mist-shaped audits batch."""
    body = (
        b'{"topic":"audits","events":[{"id":"8a9c6a52-0c1e-4d3a-9f1b-000000000001",'
        b'"org_id":"2818e386-8dec-2562-9ede-5b8a0fbbdc71","message":"Update Site Settings",'
        b'"timestamp":1700000000}]}'
    )
    headers = signature_headers("mist-test-secret", body)
    assert headers["X-Mist-Signature-v2"] == (
        "84125e1a55ed248f05b0944b9eaf3d98824eb8b2b7d41fedd5564af4d729909d"
    )
    assert headers["X-Mist-Signature"] == "079d9516319b3979e39f34fe30cd74c83fd03dc0"


def test_no_secret_means_no_signature_headers() -> None:
    """Empty and missing secrets send no signature (Mist's secret: "")."""
    assert signature_headers("", b"{}") == {}
    assert signature_headers(None, b"{}") == {}


def test_any_byte_change_changes_both_signatures() -> None:
    """The signatures cover every byte: a one-byte change is detected by a receiver."""
    body = b'{"topic":"ping","events":[]}'
    original = signature_headers("s3cret", body)
    changed = signature_headers("s3cret", body.replace(b"ping", b"pinh"))
    assert all(original[name] != changed[name] for name in original)


def test_receiver_reference_computation_agrees() -> None:
    """Matches the receiver snippet of mist_api.md §4.2 for a non-ASCII secret."""
    secret, body = "clé-ü", '{"x":"é"}'.encode()
    headers = signature_headers(secret, body)
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers["X-Mist-Signature-v2"], expected)
    assert headers["X-Mist-Signature"] == hmac.new(secret.encode(), body, hashlib.sha1).hexdigest()


def test_long_secrets_and_many_bodies_match_the_stdlib() -> None:
    """Secrets longer than a hash block are hashed first (RFC 2104), as hmac does;
    the cached key state is reused without leaking one body into the next."""
    for secret in ("k", "x" * 64, "y" * 65, "z" * 200, "mist-test-secret"):
        for body in (b"", b"a", b"b" * 1000):
            headers = signature_headers(secret, body)
            key = secret.encode()
            assert headers["X-Mist-Signature-v2"] == hmac.new(key, body, hashlib.sha256).hexdigest()
            assert headers["X-Mist-Signature"] == hmac.new(key, body, hashlib.sha1).hexdigest()
