"""IAM's policy simulator: SimulateCustomPolicy, SimulatePrincipalPolicy and the context keys.

The evaluation itself is ``simulate`` (pure functions over parsed documents); these handlers
parse the request's inputs, find a principal's own policies and boundary, and page the
results.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from simulator.arn import Arn
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

    def _source(self, ctx: CallContext, arn: str) -> tuple[Principal | None, Entity]:
        """The user, role or group a PolicySourceArn names: the principal (None for a group,
        which cannot call anything itself) and its entity."""
        group = self._group_arn(ctx, arn)
        if group is not None:
            return None, group
        try:
            principal = resolve_principal(arn, ctx.account)
        except ValueError as exc:
            raise InvalidInputException(f"PolicySourceArn: {exc}") from None
        entity = self._entity_for(principal)
        if entity is None or principal.session_arn:
            raise NoSuchEntityException(
                f"PolicySourceArn {arn} is not an existing IAM user, group or role."
            )
        return principal, entity

    def _group_arn(self, ctx: CallContext, arn: str) -> Entity | None:
        """The group ``arn`` names (NoSuchEntity if there is none), or None if ``arn`` is no
        group ARN."""
        try:
            parsed = Arn.parse(arn)
        except ValueError:
            return None
        if parsed.service != "iam" or parsed.resource_type != "group":
            return None
        group = self.groups.get((parsed.account, parsed.resource.rsplit("/", 1)[-1].lower()))
        if group is None or group.arn != arn:
            raise NoSuchEntityException(
                f"PolicySourceArn {arn} is not an existing IAM user, group or role."
            )
        return group

    def _source_policies(self, principal: Principal | None, entity: Entity) -> list[PolicyDocument]:
        """What the simulator evaluates for a source: a user's or role's identity policies
        (a user's groups' included: "If you specify a user, the simulation also includes all
        policies that are attached to any groups the user belongs to", API_SimulatePrincipalPolicy),
        a group's own."""
        if principal is None:
            return self.own_policies(entity)
        return list(self.identity_policies(principal))

    def SimulatePrincipalPolicy(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        """Evaluate actions against a role's, a user's (its groups' included) or a group's
        policies (and the boundary), with the reason for each decision.

        https://docs.aws.amazon.com/IAM/latest/APIReference/API_SimulatePrincipalPolicy.html
        """
        source = params["PolicySourceArn"]
        self._authorize(ctx, "SimulatePrincipalPolicy", source)
        principal, entity = self._source(ctx, source)
        identity = self._source_policies(principal, entity)
        identity += S.parse_inputs(params.get("PolicyInputList"), "PolicyInputList")
        given = S.parse_inputs(
            params.get("PermissionsBoundaryPolicyInputList"), "PermissionsBoundaryPolicyInputList"
        )
        boundary = (S.merge_boundaries(given) if given else
                    self.permissions_boundary(principal) if principal is not None else None)
        # CallerArn "defaults to the ARN of the user that you specify in PolicySourceArn, if you
        # specified a user" and "is required if you include a ResourcePolicy and the
        # PolicySourceArn is not the ARN for an IAM user".
        if ((principal is None or principal.kind != "User") and params.get("ResourcePolicy")
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
        """List the condition keys a role's, user's or group's policies (and the given ones)
        use.

        https://docs.aws.amazon.com/IAM/latest/APIReference/API_GetContextKeysForPrincipalPolicy.html
        """
        principal, entity = self._source(ctx, params["PolicySourceArn"])
        docs = self._source_policies(principal, entity)
        docs += S.parse_inputs(params.get("PolicyInputList"), "PolicyInputList")
        keys: dict[str, str] = {}
        for d in docs:
            for k in d.condition_keys:
                keys.setdefault(k.lower(), k)
        return {"ContextKeyNames": sorted(keys.values(), key=str.lower)}

