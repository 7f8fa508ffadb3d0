"""ACS3-HMAC-SHA256 request signatures, checked the way Alibaba Cloud's gateway
documents it (the "V3 request structure and signature" reference).

CanonicalRequest = METHOD \\n CanonicalURI \\n CanonicalQueryString \\n
CanonicalHeaders \\n SignedHeaders \\n HashedRequestPayload; the string to sign is
``ACS3-HMAC-SHA256 \\n hex(sha256(CanonicalRequest))`` and the signature is
``hex(hmac_sha256(secret, string_to_sign))``. ``host`` and every ``x-acs-*``
header must be signed, and ``x-acs-content-sha256`` must be the body's hash, so a
request cannot be altered in flight without the signature failing.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Mapping
from urllib.parse import parse_qsl, quote

__all__ = ["ALGORITHM", "SignatureError", "verify"]

ALGORITHM = "ACS3-HMAC-SHA256"
#: Headers every request must sign (besides any other x-acs-* it sends).
REQUIRED = ("host", "x-acs-action", "x-acs-version", "x-acs-date", "x-acs-signature-nonce")


class SignatureError(Exception):
    """A request whose signature does not hold: ``code`` and ``status`` are what
    Alibaba Cloud answers."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


def _encode(text: str) -> str:
    # RFC 3986: everything but unreserved characters is percent-encoded ("~" stays).
    return quote(text, safe="-_.~")


def canonical_query(raw: str) -> str:
    pairs = [(_encode(k), _encode(v)) for k, v in parse_qsl(raw, keep_blank_values=True)]
    return "&".join(f"{k}={v}" for k, v in sorted(pairs))


def _authorization(value: str) -> dict[str, str]:
    algorithm, _, rest = value.partition(" ")
    if algorithm != ALGORITHM:
        raise SignatureError("IncompleteSignature", f"the signature algorithm must be {ALGORITHM}")
    parts: dict[str, str] = {}
    for item in rest.split(","):
        key, sep, val = item.strip().partition("=")
        if sep:
            parts[key] = val
    if not {"Credential", "SignedHeaders", "Signature"} <= set(parts):
        raise SignatureError("IncompleteSignature", "the Authorization header is incomplete")
    return parts


def verify(
    method: str,
    path: str,
    query: str,
    headers: Mapping[str, str],
    body: bytes,
    secret_for: Callable[[str], str | None],
) -> str:
    """Check a request's signature; return the access key id that signed it.
    ``headers`` has lower-case names; ``secret_for(key_id)`` is None for unknown keys."""
    auth = headers.get("authorization")
    if not auth:
        raise SignatureError("MissingAuthorization", "the request is not signed")
    parts = _authorization(auth)
    key_id = parts["Credential"]
    signed = parts["SignedHeaders"].split(";")
    missing = [h for h in REQUIRED if h not in signed]
    missing += [h for h in headers if h.startswith("x-acs-") and h not in signed]
    if missing:
        raise SignatureError("IncompleteSignature", f"header {missing[0]} must be signed")
    if any(h not in headers for h in signed):
        raise SignatureError("IncompleteSignature", "a signed header is not in the request")
    payload = hashlib.sha256(body).hexdigest()
    if headers.get("x-acs-content-sha256") != payload:
        raise SignatureError(
            "SignatureDoesNotMatch", "x-acs-content-sha256 is not the hash of the body"
        )
    canonical_headers = "".join(f"{h}:{headers[h].strip()}\n" for h in signed)
    canonical = "\n".join(
        [
            method.upper(),
            path or "/",
            canonical_query(query),
            canonical_headers,
            ";".join(signed),
            payload,
        ]
    )
    secret = secret_for(key_id)
    if secret is None:
        raise SignatureError(
            "InvalidAccessKeyId.NotFound", "Specified access key is not found.", 404
        )
    to_sign = f"{ALGORITHM}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
    want = hmac.new(secret.encode(), to_sign.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(want, parts["Signature"]):
        raise SignatureError(
            "SignatureDoesNotMatch", "Specified signature does not match our calculation."
        )
    return key_id
