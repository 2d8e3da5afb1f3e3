"""Key policies: AWS's default document, parsing with KMS's error code, a parse cache.

The policy language itself is ``simulator.iam``'s, validated as KMS validates it
(``service="kms"``): a malformed document raises KMS's ``MalformedPolicyDocumentException``
(IAM's code is ``MalformedPolicyDocument``) with KMS's message and the engine's path in
``.explanation``; documents are parsed once per distinct text.
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
#: KMS documents the quota, not the message it returns past it; this is the quota's sentence
#: from the CreateKey reference (https://docs.aws.amazon.com/kms/latest/APIReference/
#: API_CreateKey.html#KMS-CreateKey-request-Policy).
SIZE_MESSAGE = "The key policy size quota is 32 kilobytes (32768 bytes)."

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
    """Parse a key policy (cached by text) as KMS validates it; raise KMS's errors.

    Over 32 KB: ``LimitExceededException`` ("If the key policy exceeds the length constraint,
    KMS returns a LimitExceededException", PutKeyPolicy's Policy parameter,
    https://docs.aws.amazon.com/kms/latest/APIReference/API_PutKeyPolicy.html), checked before
    the document is read. A malformed document: ``MalformedPolicyDocumentException`` with
    KMS's message (empty for a document it cannot read; "Policy contains a statement with one
    or more invalid principals." for a bad principal) and the path and why in
    ``.explanation``.
    """
    doc = _CACHE.get(text)
    if doc is not None:
        _CACHE.move_to_end(text)
        return doc
    size = len(text.encode("utf-8"))
    if size > MAX_POLICY_BYTES:
        raise errors.LimitExceededException(
            SIZE_MESSAGE,
            explanation=f"the key policy is {size} bytes; KMS's quota is {MAX_POLICY_BYTES}",
        )
    doc = PolicyDocument.parse(text, kind="resource", name="key policy", lenient=True,
                               service="kms")
    _CACHE[text] = doc
    if len(_CACHE) > _CACHE_SIZE:
        _CACHE.popitem(last=False)
    return doc
