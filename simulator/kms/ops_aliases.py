"""Aliases: ``alias/<name>`` for a key in the same account and Region.

Alias operations need permission on the alias (IAM policy, resource = the alias ARN) and on
the key (key policy, with IAM where the key policy delegates), as AWS documents. Names under
``alias/aws/`` are reserved for AWS managed keys.
"""

from __future__ import annotations

from typing import Any

from simulator import errors
from simulator.kms.core import ALIAS_NAME, KmsCore
from simulator.kms.keys import Alias, KmsKey
from simulator.service import CallContext

NotAuthorizedException = errors.error_class("NotAuthorizedException")


class AliasOperations(KmsCore):
    """CreateAlias, UpdateAlias, DeleteAlias, ListAliases."""

    def _alias_name(self, name: str) -> str:
        if not name.startswith("alias/"):
            # AWS's answer to a name without the prefix (a ValidationException, not an
            # InvalidAliasNameException).
            raise errors.ValidationException(
                'Alias must start with the prefix "alias/". Please see '
                "https://docs.aws.amazon.com/kms/latest/developerguide/kms-alias.html"
            )
        if name.startswith("alias/aws/"):
            # The bare code {"__type": "NotAuthorizedException"} with no message: moto's
            # emulation answers so (moto/kms/exceptions.py); no recorded AWS answer was found,
            # so this is the simulator's assumption. The reason goes beside it.
            raise NotAuthorizedException(
                "", explanation=f"{name}: the alias/aws/ prefix is reserved for AWS managed keys "
                "(https://docs.aws.amazon.com/kms/latest/APIReference/API_CreateAlias.html)",
            )
        if not ALIAS_NAME.match(name):
            raise errors.InvalidAliasNameException(
                f"Alias name {name!r} is not valid: it must begin with alias/ followed by "
                "letters, digits, '/', '_' or '-'."
            )
        return name

    def _alias(self, ctx: CallContext, name: str) -> Alias:
        alias = self.aliases.get((ctx.account, name))
        if alias is None or alias.target_key_id not in self.keys:
            raise errors.NotFoundException(
                f"Alias {self.alias_arn(ctx.account, name)} is not found."
            )
        return alias

    def _link(self, alias: Alias, key: KmsKey) -> None:
        old = self.keys.get(alias.target_key_id)
        if old is not None and old is not key:
            old.aliases.discard(alias.name)
            old.changed()
        alias.target_key_id = key.key_id
        key.aliases.add(alias.name)
        key.changed()

    def CreateAlias(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        """Name a key; the alias must be new in the account."""
        name = self._alias_name(params["AliasName"])
        arn = self.alias_arn(ctx.account, name)
        # Permission on the alias (IAM policy) and on the key (key policy).
        key = self.admit(
            ctx, params, validate=lambda _: self.authorizer.authorize_identity(
                ctx, ctx.operation, arn),
        ).key
        assert key is not None
        if key.account != ctx.account:
            raise errors.NotFoundException(f"Key '{key.arn}' does not exist")
        if (ctx.account, name) in self.aliases:
            raise errors.AlreadyExistsException(f"An alias with the name {arn} already exists")
        alias = Alias(name, arn, ctx.account, key.key_id, ctx.now, ctx.now)
        self.aliases[(ctx.account, name)] = alias
        self._link(alias, key)
        return {}

    def UpdateAlias(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        """Point an alias at another key of the same type and key usage."""
        name = self._alias_name(params["AliasName"])
        alias = self._alias(ctx, name)
        current = self.keys[alias.target_key_id]

        def alias_and_current_key(_: KmsKey) -> None:
            # Permission on the alias (IAM policy) and on the key it points to now.
            self.authorizer.authorize_identity(ctx, ctx.operation, alias.arn)
            self.authorizer.authorize(ctx, current, ctx.operation)

        key = self.admit(ctx, params, validate=alias_and_current_key).key
        assert key is not None
        if (current.spec.family, current.key_usage) != (key.spec.family, key.key_usage):
            raise errors.ValidationException(
                f"{alias.arn} points to a {current.spec.family} key with KeyUsage "
                f"{current.key_usage}; the new key must be of the same type and key usage "
                f"(got {key.spec.family}, {key.key_usage})."
            )
        self._link(alias, key)
        alias.updated = ctx.now
        return {}

    def DeleteAlias(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        """Remove an alias (the key is untouched)."""
        name = params["AliasName"]
        if not name.startswith("alias/"):
            # DeleteAlias's own words for a name without the prefix (CreateAlias and
            # UpdateAlias word it differently); moto records the same answer.
            raise errors.ValidationException(
                "Invalid identifier",
                explanation=f"AliasName {name!r} must be an alias name, alias/<name> "
                "(https://docs.aws.amazon.com/kms/latest/APIReference/API_DeleteAlias.html)",
            )
        alias = self._alias(ctx, name)
        key = self.keys[alias.target_key_id]
        self.admit(ctx, params, key=key, validate=lambda _: self.authorizer.authorize_identity(
            ctx, ctx.operation, alias.arn))
        del self.aliases[(ctx.account, name)]
        key.aliases.discard(name)
        key.changed()
        return {}

    def ListAliases(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        """The account's aliases, optionally only those of one key (key id or key ARN)."""
        self.admit(ctx, params)
        items = [a for (acct, _), a in sorted(self.aliases.items()) if acct == ctx.account]
        if params.get("KeyId"):
            key, _ = self.resolve_key(ctx, params["KeyId"], aliases=False)
            items = [a for a in items if a.target_key_id == key.key_id]
        items = [a for a in items if a.target_key_id in self.keys]
        return self.paginate("ListAliases", items, params, Alias.entry, _alias_arn)


def _alias_arn(alias: Alias) -> str:
    """What names an alias across pages of a listing (UpdateAlias changes its entry)."""
    return alias.arn
