"""AWS-style errors: every failure a client sees carries an AWS error code and a message.

``ClientError`` mirrors botocore's: ``.code``, ``.message`` and ``.response["Error"]``.
Subclasses exist for every code the simulator raises; ``error_class(code)`` returns (and
creates on first use) the subclass for any other AWS code, so callers can catch by name.
``.message`` is AWS's own text (what a real client would see, even when AWS says little);
``.explanation`` is the simulator's more precise account beside it (which element, and why),
for the CLI and for people, never sent in the AWS-shaped response.
"""

from __future__ import annotations

from typing import Any, ClassVar


class ClientError(Exception):
    """An AWS API error: an error code, a message a person can act on, an HTTP status."""

    code: ClassVar[str] = "InternalFailure"
    status: ClassVar[int] = 400

    def __init__(
        self,
        message: str,
        *,
        operation: str | None = None,
        explanation: str | None = None,
        **details: Any,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.operation = operation
        self.explanation = explanation
        self.details = details

    def describe(self) -> str:
        """AWS's code and message, then the simulator's explanation when there is one."""
        text = f"{self.code}: {self.message}" if self.message else self.code
        if self.explanation and self.explanation != self.message:
            text += f" (why: {self.explanation})"
        return text

    @property
    def response(self) -> dict[str, Any]:
        """The error as botocore's ``ClientError.response`` holds it."""
        return {
            "Error": {"Code": self.code, "Message": self.message},
            "ResponseMetadata": {"HTTPStatusCode": self.status},
        }

    def __str__(self) -> str:
        where = f" when calling the {self.operation} operation" if self.operation else ""
        return f"An error occurred ({self.code}){where}: {self.message}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"


_CLASSES: dict[str, type[ClientError]] = {}


def error_class(code: str, status: int = 400) -> type[ClientError]:
    """The ``ClientError`` subclass for an AWS error code, created on first use."""
    cls = _CLASSES.get(code)
    if cls is None:
        cls = type(code, (ClientError,), {"code": code, "status": status, "__module__": __name__})
        _CLASSES[code] = cls
    return cls


def _define(code: str, status: int = 400) -> type[ClientError]:
    cls = error_class(code, status)
    globals()[code] = cls
    return cls


# Common to every service.
ValidationException = _define("ValidationException")
AccessDeniedException = _define("AccessDeniedException")
ThrottlingException = _define("ThrottlingException")
UnsupportedOperationException = _define("UnsupportedOperationException")
# IAM.
NoSuchEntityException = _define("NoSuchEntity", 404)
EntityAlreadyExistsException = _define("EntityAlreadyExists", 409)
MalformedPolicyDocumentException = _define("MalformedPolicyDocument")
InvalidInputException = _define("InvalidInput")
LimitExceededException = _define("LimitExceededException")
# KMS.
NotFoundException = _define("NotFoundException")
AlreadyExistsException = _define("AlreadyExistsException")
DisabledException = _define("DisabledException")
# AWS answers KMSInvalidStateException and DryRunOperationException with HTTP 400, as every
# other KMS client error (responses recorded from AWS in 2025: LocalStack's AWS-validated
# snapshots, https://github.com/localstack/localstack/blob/master/tests/aws/services/kms/test_kms.snapshot.json,
# e.g. test_import_key_symmetric and test_generate_data_key_pair_dry_run), whatever status
# the API reference prints beside them.
KMSInvalidStateException = _define("KMSInvalidStateException")
InvalidKeyUsageException = _define("InvalidKeyUsageException")
IncorrectKeyException = _define("IncorrectKeyException")
InvalidCiphertextException = _define("InvalidCiphertextException")
InvalidGrantTokenException = _define("InvalidGrantTokenException")
InvalidGrantIdException = _define("InvalidGrantIdException")
InvalidAliasNameException = _define("InvalidAliasNameException")
InvalidArnException = _define("InvalidArnException")
DryRunOperationException = _define("DryRunOperationException")
# KMS names the same failure MalformedPolicyDocumentException; a subclass, so catching
# MalformedPolicyDocumentException catches a malformed policy from either service.
KMSMalformedPolicyDocumentException = type(
    "MalformedPolicyDocumentException",
    (MalformedPolicyDocumentException,),
    {"code": "MalformedPolicyDocumentException", "status": 400, "__module__": __name__},
)
_CLASSES["MalformedPolicyDocumentException"] = KMSMalformedPolicyDocumentException
UnsupportedOperationKMSException = UnsupportedOperationException
KMSInternalException = _define("KMSInternalException", 500)
# ECS.
ClientException = _define("ClientException")
InvalidParameterException = _define("InvalidParameterException")
ClusterNotFoundException = _define("ClusterNotFoundException")
ClusterContainsServicesException = _define("ClusterContainsServicesException")
ClusterContainsTasksException = _define("ClusterContainsTasksException")
ServiceNotFoundException = _define("ServiceNotFoundException")
ServiceNotActiveException = _define("ServiceNotActiveException")
PlatformUnknownException = _define("PlatformUnknownException")
PlatformTaskDefinitionIncompatibilityException = _define(
    "PlatformTaskDefinitionIncompatibilityException"
)
ServerException = _define("ServerException", 500)
