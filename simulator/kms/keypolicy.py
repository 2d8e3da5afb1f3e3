"""Key policies: AWS's default document, parsing with KMS's error code, a parse cache.

The policy language itself is ``simulator.iam``'s; this module adapts it to KMS: a malformed
document raises KMS's ``MalformedPolicyDocumentException`` (IAM's code is
``MalformedPolicyDocument``) with the IAM engine's path message, and documents are parsed once
per distinct text.
"""

from __future__ import annotations

from collections import OrderedDict

from simulator import errors
from simulator.iam.policy import PolicyDocument

#: The only key policy name KMS knows.
POLICY_NAME = "default"
#: AWS's limit on a key policy document (32 KB).
MAX_POLICY_BYTES = 32768
LOCKOUT_MESSAGE = "The new key policy will not allow you to update the key policy in the future."

KmsMalformedPolicy = errors.KMSMalformedPolicyDocumentException

_CACHE: OrderedDict[str, PolicyDocument] = OrderedDict()
_CACHE_SIZE = 1024


def default_policy(account: str, partition: str = "aws") -> str:
    """The policy KMS gives a key created without one, as GetKeyPolicy returns it."""
    return (
        "{\n"
        '  "Version" : "2012-10-17",\n'
        '  "Id" : "key-default-1",\n'
        '  "Statement" : [ {\n'
        '    "Sid" : "Enable IAM User Permissions",\n'
        '    "Effect" : "Allow",\n'
        '    "Principal" : {\n'
        f'      "AWS" : "arn:{partition}:iam::{account}:root"\n'
        "    },\n"
        '    "Action" : "kms:*",\n'
        '    "Resource" : "*"\n'
        "  } ]\n"
        "}"
    )


def parse_key_policy(text: str) -> PolicyDocument:
    """Parse a key policy (cached by text); raise KMS's MalformedPolicyDocumentException."""
    doc = _CACHE.get(text)
    if doc is not None:
        _CACHE.move_to_end(text)
        return doc
    if len(text.encode("utf-8")) > MAX_POLICY_BYTES:
        raise errors.LimitExceededException(
            f"The key policy is {len(text.encode('utf-8'))} bytes; "
            f"a key policy may be at most {MAX_POLICY_BYTES} bytes."
        )
    try:
        doc = PolicyDocument.parse(text, kind="resource", name="key policy", lenient=True)
    except errors.MalformedPolicyDocumentException as exc:
        raise KmsMalformedPolicy(exc.message) from None
    _CACHE[text] = doc
    if len(_CACHE) > _CACHE_SIZE:
        _CACHE.popitem(last=False)
    return doc
