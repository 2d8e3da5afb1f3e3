"""IAM's policy simulator: SimulateCustomPolicy, SimulatePrincipalPolicy and the context keys.

The evaluation itself is ``simulate`` (pure functions over parsed documents); these handlers
parse the request's inputs, find a principal's own policies and boundary, and page the
results.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from simulator.errors import (
    InvalidInputException,
    MalformedPolicyDocumentException,
    NoSuchEntityException,
)
from simulator.iam import simulate as S
from simulator.iam.core import IamCore, parse
from simulator.iam.policy import PolicyDocument
from simulator.iam.principal import Principal, resolve_principal
from simulator.iam.state import Entity
from simulator.service import CallContext


class SimulatorOperations(IamCore):
    """The policy simulator's operations."""

    def _simulate(
        self,
        ctx: CallContext,
        params: dict[str, Any],
        identity: list[PolicyDocument],
        boundary: PolicyDocument | None,
        default_caller: Principal | None,
    ) -> dict[str, Any]:
        resource_policy = None
        if params.get("ResourcePolicy"):
            try:
                resource_policy = parse(
                    params["ResourcePolicy"], "resource", "ResourcePolicy", "resource"
                )
            except MalformedPolicyDocumentException as exc:
                raise InvalidInputException(
                    f"ResourcePolicy: {exc.message}", explanation=exc.explanation
                ) from None
        caller = default_caller
        if params.get("CallerArn"):
            try:
                caller = resolve_principal(params["CallerArn"], ctx.account)
            except ValueError as exc:
                raise InvalidInputException(f"CallerArn: {exc}") from None
            if caller.kind not in ("User", "Role", "Root"):
                raise InvalidInputException("CallerArn must be an IAM user, role or account ARN")
        if resource_policy is not None and caller is None:
            raise InvalidInputException(
                "CallerArn is required when ResourcePolicy is given: the policy's Principal "
                "element needs a caller to compare against"
            )
        if caller is not None and caller.kind in ("Role", "User"):
            tags = self.tags(caller)
            if tags:
                caller = dataclasses.replace(caller, tags=tags)
        context = S.context_from_entries(params.get("ContextEntries"))
        results = []
        for action, decisions in S.simulate(
            identity,
            params["ActionNames"],
            params.get("ResourceArns"),
            caller=caller,
            context=context,
            resource_policy=resource_policy,
            resource_owner=params.get("ResourceOwner"),
            permissions_boundary=boundary,
        ):
            for d in decisions:
                results.append(S.decision_result([d], action))
        return self.paginate(ctx.operation, results, params)

    def SimulateCustomPolicy(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        """Evaluate actions against the policies given in the request, with the reason for
        each decision.

        https://docs.aws.amazon.com/IAM/latest/APIReference/API_SimulateCustomPolicy.html
        """
        self._authorize(ctx, "SimulateCustomPolicy", "*")
        identity = S.parse_inputs(params["PolicyInputList"], "PolicyInputList")
        boundary = S.merge_boundaries(
            S.parse_inputs(
                params.get("PermissionsBoundaryPolicyInputList"),
                "PermissionsBoundaryPolicyInputList",
            )
        )
        return self._simulate(ctx, params, identity, boundary, None)

    def _source(self, ctx: CallContext, arn: str) -> tuple[Principal, Entity]:
        try:
            principal = resolve_principal(arn, ctx.account)
        except ValueError as exc:
            raise InvalidInputException(f"PolicySourceArn: {exc}") from None
        entity = self._entity_for(principal)
        if entity is None or principal.session_arn:
            raise NoSuchEntityException(
                f"PolicySourceArn {arn} is not an existing IAM user or role."
            )
        return principal, entity

    def SimulatePrincipalPolicy(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        """Evaluate actions against a role's or user's own policies (and its boundary), with
        the reason for each decision.

        https://docs.aws.amazon.com/IAM/latest/APIReference/API_SimulatePrincipalPolicy.html
        """
        source = params["PolicySourceArn"]
        self._authorize(ctx, "SimulatePrincipalPolicy", source)
        principal, _ = self._source(ctx, source)
        identity = list(self.identity_policies(principal))
        identity += S.parse_inputs(params.get("PolicyInputList"), "PolicyInputList")
        given = S.parse_inputs(
            params.get("PermissionsBoundaryPolicyInputList"), "PermissionsBoundaryPolicyInputList"
        )
        boundary = S.merge_boundaries(given) if given else self.permissions_boundary(principal)
        # CallerArn "defaults to the ARN of the user that you specify in PolicySourceArn, if you
        # specified a user" and "is required if you include a ResourcePolicy and the
        # PolicySourceArn is not the ARN for an IAM user".
        if (principal.kind != "User" and params.get("ResourcePolicy")
                and not params.get("CallerArn")):
            raise InvalidInputException(
                "CallerArn is required when ResourcePolicy is given and PolicySourceArn is not "
                "an IAM user."
            )
        return self._simulate(ctx, params, identity, boundary, principal)

    def GetContextKeysForCustomPolicy(
        self, ctx: CallContext, params: dict[str, Any]
    ) -> dict[str, Any]:
        """List the condition keys the given policies use.

        https://docs.aws.amazon.com/IAM/latest/APIReference/API_GetContextKeysForCustomPolicy.html
        """
        docs = S.parse_inputs(params["PolicyInputList"], "PolicyInputList", kind="any")
        keys: dict[str, str] = {}
        for d in docs:
            for k in d.condition_keys:
                keys.setdefault(k.lower(), k)
        return {"ContextKeyNames": sorted(keys.values(), key=str.lower)}

    def GetContextKeysForPrincipalPolicy(
        self, ctx: CallContext, params: dict[str, Any]
    ) -> dict[str, Any]:
        """List the condition keys a role's or user's policies (and the given ones) use.

        https://docs.aws.amazon.com/IAM/latest/APIReference/API_GetContextKeysForPrincipalPolicy.html
        """
        principal, _ = self._source(ctx, params["PolicySourceArn"])
        docs = list(self.identity_policies(principal))
        docs += S.parse_inputs(params.get("PolicyInputList"), "PolicyInputList")
        keys: dict[str, str] = {}
        for d in docs:
            for k in d.condition_keys:
                keys.setdefault(k.lower(), k)
        return {"ContextKeyNames": sorted(keys.values(), key=str.lower)}

