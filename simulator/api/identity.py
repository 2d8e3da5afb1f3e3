"""Who signed a request: the root's key pair, IAM users' access keys, STS session keys.

``Authenticator.caller`` verifies the SigV4 signature with the secret of the access key it
names and returns the principal that key belongs to (an ARN ``Simulation.principal``
resolves), or raises ``AuthError`` with the code and words AWS uses for the failure, per
protocol: JSON services (KMS, ECS, CloudTrail) and query services (IAM, STS) name the same
failure differently.
"""

from __future__ import annotations

import calendar
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from simulator.api import sigv4

#: The access key the root signs with unless ``--root-key`` says otherwise: AWS's own
#: documentation example pair (https://docs.aws.amazon.com/IAM/latest/UserGuide/
#: security-creds.html), so copied examples work.
DEFAULT_ROOT_KEY = ("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")

INVALID_TOKEN = "The security token included in the request is invalid."
BAD_SIGNATURE = (
    "The request signature we calculated does not match the signature you provided. Check "
    "your AWS Secret Access Key and signing method. Consult the service documentation for "
    "details."
)
EXPIRED = "The security token included in the request is expired"

#: failure -> (JSON protocol code, query protocol code, HTTP status JSON, status query).
FAILURES: dict[str, tuple[str, str, int, int]] = {
    "unknown-key": ("UnrecognizedClientException", "InvalidClientTokenId", 400, 403),
    "bad-signature": ("InvalidSignatureException", "SignatureDoesNotMatch", 400, 403),
    "expired": ("ExpiredTokenException", "ExpiredToken", 400, 403),
    "missing": ("MissingAuthenticationTokenException", "MissingAuthenticationToken", 400, 403),
    "malformed": ("IncompleteSignatureException", "IncompleteSignature", 400, 400),
}
_MESSAGES = {
    "unknown-key": INVALID_TOKEN,
    "bad-signature": BAD_SIGNATURE,
    "expired": EXPIRED,
    "missing": "Missing Authentication Token",
}


#: How far a signature's X-Amz-Date may be from the server's wall clock (JSON services
#: answer "- 5 min.", STS and IAM "- 15 min." in the messages AWS returns).
SKEW_MINUTES = {False: 5, True: 15}


def wall_time() -> float:
    """Real time, which clients sign with (a seam for tests)."""
    return time.time()


def signature_skew(date: str, minutes: int, now: float | None = None) -> str | None:
    """AWS's words when a signature's date is too far from wall time, else None.

    The signer's clock is the client's wall clock, so this compares with real time, not the
    simulated clock.
    """
    fmt = "%Y%m%dT%H%M%SZ"
    wall_s = int(wall_time() if now is None else now)
    signed_s = _epoch(date)
    if abs(signed_s - wall_s) <= minutes * 60:  # the common case, without formatting
        return None
    signed = datetime.fromtimestamp(signed_s, tz=UTC)
    wall = datetime.fromtimestamp(wall_s, tz=UTC)
    window = timedelta(minutes=minutes)
    if signed < wall - window:
        return (f"Signature expired: {date} is now earlier than {(wall - window):{fmt}} "
                f"({wall:{fmt}} - {minutes} min.)")
    if signed > wall + window:
        return (f"Signature not yet current: {date} is still later than "
                f"{(wall + window):{fmt}} ({wall:{fmt}} + {minutes} min.)")
    return None


@lru_cache(maxsize=256)
def _epoch(date: str) -> int:
    """Seconds since the epoch of an X-Amz-Date (yyyyMMddTHHmmssZ)."""
    return calendar.timegm((int(date[0:4]), int(date[4:6]), int(date[6:8]),
                            int(date[9:11]), int(date[11:13]), int(date[13:15])))


class AuthError(Exception):
    """A request the endpoint refuses before any service sees it."""

    def __init__(self, failure: str, message: str | None = None, why: str = "") -> None:
        self.failure = failure
        self._given = message
        self.why = why
        super().__init__(self.text(False))

    @property
    def message(self) -> str:
        return self.text(False)

    def text(self, query: bool) -> str:
        """AWS's words for the failure (ours, ``why``, go beside them): the query services'
        invalid-token message has no final full stop (https://github.com/aws-azure-login/
        aws-azure-login/issues/251 shows STS's XML)."""
        text = self._given or _MESSAGES[self.failure]
        if query and self.failure == "unknown-key" and self._given is None:
            text = text.rstrip(".")
        return text

    def code(self, query: bool) -> str:
        json_code, query_code, _, _ = FAILURES[self.failure]
        return query_code if query else json_code

    def status(self, query: bool) -> int:
        _, _, json_status, query_status = FAILURES[self.failure]
        return query_status if query else json_status


@dataclass(frozen=True)
class KeyOwner:
    """The secret of an access key and the principal it signs as."""

    secret: str
    principal: str
    session_token: str | None = None
    expiration: datetime | None = None


class Authenticator:
    """Looks up access keys in the simulation (root, IAM, STS) and checks signatures."""

    def __init__(self, root_key: tuple[str, str] = DEFAULT_ROOT_KEY) -> None:
        self.root_key = root_key
        self._root_owner = KeyOwner(root_key[1], "")

    def owner(self, sim: Any, access_key_id: str) -> KeyOwner | None:
        if access_key_id == self.root_key[0]:
            root = self._root_owner  # made once, not per request
            if root.principal != sim.account_id or root.secret != self.root_key[1]:
                root = self._root_owner = KeyOwner(self.root_key[1], sim.account_id)
            return root
        iam = sim.service("iam")
        key = iam.access_keys.get(access_key_id)
        if key is not None:
            if key.status != "Active":
                return None
            return KeyOwner(key.secret, key.user_arn or key.account)
        session = sim.service("sts").sessions.get(access_key_id)
        if session is not None:
            return KeyOwner(session.secret, session.session_arn, session.token,
                            session.expiration)
        return None

    def caller(self, sim: Any, method: str, path: str, query: str, headers: dict[str, str],
               body: bytes, signed: sigv4.SignedRequest | None, *,
               query_protocol: bool = False, service: str = "") -> str:
        """The principal of a correctly signed request; ``AuthError`` otherwise."""
        if signed is None:
            raise AuthError("missing")
        owner = self.owner(sim, signed.access_key_id)
        if owner is None:
            raise AuthError("unknown-key",
                            why=f"no access key {signed.access_key_id} in this simulation")
        if owner.session_token is not None and signed.session_token != owner.session_token:
            raise AuthError("unknown-key", why="the session token does not belong to "
                            f"{signed.access_key_id}")
        if not sigv4.verify(signed, owner.secret, method, path, query, headers, body):
            raise AuthError("bad-signature")
        # Presigned URLs too: services other than S3 ignore X-Amz-Expires and apply the same
        # window (https://github.com/aws/aws-sdk-go/issues/2167).
        skew = signature_skew(signed.date, SKEW_MINUTES[query_protocol])
        if skew:
            raise AuthError("bad-signature", skew)
        if owner.expiration is not None and sim.clock.now() >= owner.expiration:
            raise AuthError("expired")
        if (service == "iam" and owner.session_token is not None
                and ":assumed-role/" not in owner.principal):
            # https://docs.aws.amazon.com/STS/latest/APIReference/API_GetSessionToken.html:
            # "You cannot call any IAM API operations unless MFA authentication information
            # is included in the request"; IAM answers InvalidClientTokenId (403) then
            # (https://github.com/aws/aws-cli/issues/8918 records the XML).
            raise AuthError("unknown-key", why="credentials from sts get-session-token cannot "
                            "call IAM unless MFA was given (the simulator has no MFA devices); "
                            "use the long-term access key, or assume a role")
        return owner.principal
