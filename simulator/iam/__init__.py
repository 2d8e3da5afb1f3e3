"""IAM: the policy language (parse, validate, evaluate with an explanation) and the IAM service.

The pure engine (no dependency on the simulated world)::

    from simulator.iam import PolicyDocument, RequestContext, evaluate
    doc = PolicyDocument.parse(text, kind="resource", name="key-policy")
    result = doc.evaluate(RequestContext(principal, "kms:Decrypt", key_arn, context))
    decision = evaluate(request, identity_policies=[...], resource_policy=doc)
"""

from simulator.iam.context import global_context
from simulator.iam.evaluation import (
    ALLOWED,
    EXPLICIT_DENY,
    IMPLICIT_DENY,
    Decision,
    PolicyResult,
    RequestContext,
    StatementMatch,
    evaluate,
)
from simulator.iam.policy import PolicyDocument, Statement
from simulator.iam.principal import Principal, resolve_principal, root_arn

__all__ = [
    "ALLOWED",
    "EXPLICIT_DENY",
    "IMPLICIT_DENY",
    "Decision",
    "PolicyDocument",
    "PolicyResult",
    "Principal",
    "RequestContext",
    "Statement",
    "StatementMatch",
    "evaluate",
    "global_context",
    "resolve_principal",
    "root_arn",
]
