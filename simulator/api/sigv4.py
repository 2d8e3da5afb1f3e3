"""Verifying AWS Signature Version 4 by recomputing it with botocore's own signer.

The incoming request is rebuilt as a botocore ``AWSRequest`` holding exactly the headers the
client signed, and botocore's ``SigV4Auth`` (``SigV4QueryAuth`` for presigned URLs) computes
the canonical request, the string to sign and the signature with the secret the endpoint
knows for the access key. The client's ``x-amz-content-sha256`` (a hash, or
``UNSIGNED-PAYLOAD``) takes part as botocore makes it. A hash that does not match the body
fails like a wrong signature.
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-create-signed-request.html
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qsl

from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest, HTTPHeaders
from botocore.credentials import Credentials

try:  # OpenSSL's HMAC without the hmac module's Python wrapper (CPython's own module)
    from _hashlib import hmac_new as _c_hmac_new
except ImportError:  # pragma: no cover - a Python without OpenSSL's hashlib
    _c_hmac_new = None  # type: ignore[assignment]

_AUTH = re.compile(
    r"^AWS4-HMAC-SHA256\s+Credential=(?P<cred>[^,\s]+)\s*,\s*"
    r"SignedHeaders=(?P<signed>[^,\s]+)\s*,\s*Signature=(?P<sig>[0-9a-fA-F]+)\s*$"
)


class SignatureFormatError(ValueError):
    """An Authorization header or presigned query that is not SigV4 as AWS defines it."""


@dataclass(frozen=True)
class SignedRequest:
    """What a request's signature claims: who, when, for which Region and service."""

    access_key_id: str
    date: str  # X-Amz-Date, e.g. 20250101T000000Z
    region: str
    service: str
    signed_headers: tuple[str, ...]
    signature: str
    presigned: bool
    session_token: str | None


_DATE = re.compile(r"\d{8}T\d{6}Z")


def parse(headers: dict[str, str], query: str) -> SignedRequest | None:
    """The signature a request carries (header or presigned query), or None if unsigned."""
    auth = headers.get("authorization")
    if auth:
        return _parse_header(auth, headers.get("x-amz-date", ""),
                             headers.get("x-amz-security-token"))
    q = dict(parse_qsl(query, keep_blank_values=True))
    if "X-Amz-Signature" not in q:
        return None
    sig = q["X-Amz-Signature"]
    if not re.fullmatch(r"[0-9a-fA-F]+", sig):
        raise SignatureFormatError("X-Amz-Signature must be a hexadecimal signature.")
    return _signed_request(q.get("X-Amz-Credential", ""), q.get("X-Amz-SignedHeaders", ""), sig,
                           q.get("X-Amz-Date", ""), q.get("X-Amz-Security-Token"), True)


@lru_cache(maxsize=1024)
def _parse_header(auth: str, date: str, token: str | None) -> SignedRequest:
    """An Authorization header's claims (a pure function of its text: repeats of one
    request within a second share one parse; the signature is still verified every time)."""
    m = _AUTH.match(auth.strip())
    if m is None:
        raise SignatureFormatError(
            "Authorization header requires 'Credential', 'Signature' and 'SignedHeaders' "
            "parameters in AWS4-HMAC-SHA256 form."
        )
    return _signed_request(m.group("cred"), m.group("signed"), m.group("sig"), date, token,
                           False)


def _signed_request(cred: str, signed: str, sig: str, date: str, token: str | None,
                    presigned: bool) -> SignedRequest:
    parts = cred.split("/")
    if len(parts) != 5 or parts[4] != "aws4_request" or not parts[0]:
        raise SignatureFormatError(f"Credential should be scoped to a valid Region, not "
                                   f"{'/'.join(parts[2:3]) or 'empty'}: {cred!r}")
    if not _DATE.fullmatch(date) or date[:8] != parts[1]:
        raise SignatureFormatError(
            "Credential should be scoped to a valid date and X-Amz-Date must be given in "
            "ISO 8601 basic format (yyyyMMddTHHmmssZ)."
        )
    return SignedRequest(parts[0], date, parts[2], parts[3],
                         tuple(h.lower() for h in signed.split(";")), sig.lower(), presigned,
                         token)


class _Signer(SigV4Auth):
    """botocore's SigV4 with the body hash given (the body is hashed once, here) and the
    derived signing key cached per (secret, date, Region, service)."""

    def __init__(self, credentials: Credentials, service: str, region: str, body_hash: str
                 ) -> None:
        super().__init__(credentials, service, region)
        self._body_hash = body_hash

    def payload(self, request: AWSRequest) -> str:
        return self._body_hash

    def headers_to_sign(self, request: AWSRequest) -> HTTPHeaders:
        """Every header the client listed in SignedHeaders (the rebuilt request holds just
        those). botocore's own signer leaves out names it never signs (``User-Agent``,
        ``Expect``, ...), but other SDKs may sign them, and AWS verifies whatever the
        SignedHeaders list names."""
        names = HTTPHeaders()
        for name, value in request.headers.items():
            names[name.lower()] = value
        if "host" not in names:
            names["host"] = super().headers_to_sign(request)["host"]
        return names

    def signature(self, string_to_sign: str, request: AWSRequest) -> str:
        key = _signing_key(self.credentials.secret_key, request.context["timestamp"][0:8],
                           self._region_name, self._service_name)
        return hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()


class _QuerySigner(_Signer, SigV4QueryAuth):
    """The same for presigned URLs."""


@lru_cache(maxsize=256)
def _signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    key = f"AWS4{secret}".encode()
    for part in (date, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


@lru_cache(maxsize=256)
def _signing_hmac(secret: str, date: str, region: str, service: str) -> Any:
    """An HMAC-SHA256 keyed with the signing key, to copy for each signature: keying it (and,
    through ``hmac.new``, the Python wrapper around OpenSSL's) costs as much as the
    signature itself."""
    key = _signing_key(secret, date, region, service)
    if _c_hmac_new is not None:
        return _c_hmac_new(key, b"", "sha256")
    return hmac.new(key, digestmod=hashlib.sha256)


def _signature(secret: str, date: str, region: str, service: str, string_to_sign: str
               ) -> str:
    """The hex HMAC-SHA256 of ``string_to_sign`` under the signing key of that scope."""
    mac = _signing_hmac(secret, date, region, service).copy()
    mac.update(string_to_sign.encode())
    return mac.hexdigest()  # type: ignore[no-any-return]


_TOKEN = re.compile(r"^[a-z0-9!#$%&'*+.^_`|~-]+$")
#: A Host that rebuilds into a URL whose path stays ``/`` (a name or an IPv6 literal, a port).
_PLAIN_HOST = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._~-]+)(:[0-9]*)?$")


def fast_canonical_request(signed: SignedRequest, method: str, path: str, query: str,
                           headers: dict[str, str], body_hash: str) -> str | None:
    """The canonical request exactly as botocore's ``SigV4Auth.canonical_request`` builds it,
    for the common case only (signed in the Authorization header, path ``/``, no query, the
    host among ordinary signed header names); None for anything else, which then goes
    through botocore itself. ``tests/api/test_sigv4.py`` checks the two byte for byte."""
    if signed.presigned or path != "/" or query:
        return None
    names = _plain_names(signed.signed_headers, headers.get("host", ""))
    if names is None:
        return None
    # Trimall: "removes excess white space before and after values, and converts
    # sequential spaces to a single space", as botocore's _header_value does it.
    get = headers.get
    lines = "\n".join([f"{name}:{' '.join(get(name, '').split())}" for name in names[0]])
    payload = get("x-amz-content-sha256", "") if names[1] else body_hash
    return f"{method.upper()}\n/\n\n{lines}\n\n{names[2]}\n{payload}"


@lru_cache(maxsize=256)
def _plain_names(signed_headers: tuple[str, ...], host: str
                 ) -> tuple[tuple[str, ...], bool, str] | None:
    """The signed header names sorted as botocore sorts them, whether they include
    ``x-amz-content-sha256``, and their SignedHeaders line; None when they lack the host or
    are not plain tokens, or the host would not rebuild into a URL whose path stays ``/``."""
    names = tuple(sorted(set(signed_headers)))
    if "host" not in names or not all(_TOKEN.fullmatch(name) for name in names) \
            or not _PLAIN_HOST.fullmatch(host):
        return None
    return names, "x-amz-content-sha256" in names, ";".join(names)


def _botocore_request(signed: SignedRequest, secret: str, method: str, path: str, query: str,
                      headers: dict[str, str], body: bytes, body_hash: str
                      ) -> tuple[SigV4Auth, AWSRequest]:
    """The request rebuilt for botocore's signer, holding exactly the signed headers."""
    creds = Credentials(signed.access_key_id, secret, signed.session_token)
    host = headers.get("host", "localhost")
    if signed.presigned:
        kept = "&".join(p for p in query.split("&") if not p.startswith("X-Amz-Signature="))
        auth: SigV4Auth = _QuerySigner(creds, signed.service, signed.region, body_hash)
    else:
        kept = query
        auth = _Signer(creds, signed.service, signed.region, body_hash)
    url = f"http://{host}{path}" + (f"?{kept}" if kept else "")
    request = AWSRequest(method=method, url=url, data=body,
                         headers={h: headers.get(h, "") for h in signed.signed_headers})
    request.context["timestamp"] = signed.date
    return auth, request


def botocore_canonical_request(signed: SignedRequest, method: str, path: str, query: str,
                               headers: dict[str, str], body: bytes) -> str:
    """The canonical request botocore's signer makes of this request (the reference)."""
    body_hash = hashlib.sha256(body).hexdigest()
    auth, request = _botocore_request(signed, "", method, path, query, headers, body, body_hash)
    return auth.canonical_request(request)


def verify(signed: SignedRequest, secret: str, method: str, path: str, query: str,
           headers: dict[str, str], body: bytes) -> bool:
    """True when the signature is the one the secret makes for this request."""
    body_hash = hashlib.sha256(body).hexdigest()
    claimed = headers.get("x-amz-content-sha256")
    if claimed and claimed != "UNSIGNED-PAYLOAD" and not claimed.startswith("STREAMING-") \
            and claimed.lower() != body_hash:
        return False
    canonical = fast_canonical_request(signed, method, path, query, headers, body_hash)
    if canonical is None:
        try:
            auth, request = _botocore_request(signed, secret, method, path, query, headers,
                                              body, body_hash)
            canonical = auth.canonical_request(request)
        except ValueError:  # a Host that makes no URL (an unbalanced "["): cannot match
            return False
        expected = auth.signature(auth.string_to_sign(request, canonical), request)
    else:
        date = signed.date
        day, region, service = date[:8], signed.region, signed.service
        expected = _signature(secret, day, region, service,
                              f"AWS4-HMAC-SHA256\n{date}\n{day}/{region}/{service}/"
                              f"aws4_request\n{hashlib.sha256(canonical.encode()).hexdigest()}")
    return hmac.compare_digest(expected, signed.signature)
