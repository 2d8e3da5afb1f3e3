"""Access keys: the long-term signing keys of IAM users and of account roots.

The HTTP endpoint verifies a request's signature with the key's secret and calls as its
owner (``api/identity.py``); an Inactive or deleted key signs nothing.
"""

from __future__ import annotations

from typing import Any

from simulator.errors import NoSuchEntityException
from simulator.iam.core import ACCESS_KEYS_PER_USER, IamCore, LimitExceeded, ValidationError
from simulator.iam.state import USER, AccessKey
from simulator.service import CallContext

_KEY_ID_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
_SECRET_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def _shown(user_name: str | None) -> str | None:
    """How IAM's AccessDenied names a key's owner: "user NAME" ("...iam:CreateAccessKey on
    resource: user alice", as IAM's answers quoted in public write-ups read); the root by ARN."""
    return f"user {user_name}" if user_name is not None else None


class AccessKeyOperations(IamCore):
    """CreateAccessKey, ListAccessKeys, UpdateAccessKey, DeleteAccessKey."""

    # https://docs.aws.amazon.com/IAM/latest/APIReference/API_CreateAccessKey.html: "If you
    # do not specify a user name, IAM determines the user name implicitly based on the
    # Amazon Web Services access key ID signing the request" (the root when root signs).
    def _key_owner(self, ctx: CallContext, params: dict[str, Any]) -> tuple[str | None, str]:
        """(user name or None for the root, the ARN the call is authorised on)."""
        name = params.get("UserName")
        if name is None and ctx.caller.kind == "User":
            name = ctx.caller.name
        if name is None:
            if not ctx.caller.is_root:
                raise ValidationError(
                    "Must specify userName when calling with non-User credentials"
                )
            return None, ctx.caller.arn
        user = self._entity(ctx, USER, name)
        return user.name, user.arn

    def _access_key(self, ctx: CallContext, params: dict[str, Any]) -> AccessKey:
        name, _arn = self._key_owner(ctx, params)
        key = self.access_keys.get(params["AccessKeyId"])
        if key is None or key.account != ctx.account or key.user_name != name:
            raise NoSuchEntityException(
                f"The Access Key with id {params['AccessKeyId']} cannot be found."
            )
        return key

    def CreateAccessKey(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        """Create an access key pair for a user, or for the root when the root calls without
        UserName; at most 2 per user.

        https://docs.aws.amazon.com/IAM/latest/APIReference/API_CreateAccessKey.html
        """
        name, arn = self._key_owner(ctx, params)
        self._authorize(ctx, "CreateAccessKey", arn, shown=_shown(name))
        owned = [k for k in self.access_keys.values()
                 if k.account == ctx.account and k.user_name == name]
        if len(owned) >= ACCESS_KEYS_PER_USER:
            # IAM's answer, quoted in https://github.com/simonw/s3-credentials/issues/64.
            raise LimitExceeded(
                f"Cannot exceed quota for AccessKeysPerUser: {ACCESS_KEYS_PER_USER}"
            )
        rng = self.sim.rng
        akid = "AKIA" + "".join(rng.choice(_KEY_ID_CHARS) for _ in range(16))
        secret = "".join(rng.choice(_SECRET_CHARS) for _ in range(40))
        key = AccessKey(akid, secret, ctx.account, name, "Active", ctx.now,
                        arn if name is not None else "")
        self.access_keys[akid] = key
        return {"AccessKey": {**key.metadata(), "UserName": name or ctx.caller.name,
                              "SecretAccessKey": secret}}

    def ListAccessKeys(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        """List a user's (or the root's) access keys, without their secrets.

        https://docs.aws.amazon.com/IAM/latest/APIReference/API_ListAccessKeys.html
        """
        name, arn = self._key_owner(ctx, params)
        self._authorize(ctx, "ListAccessKeys", arn, shown=_shown(name))
        keys = [k.metadata() for k in self.access_keys.values()
                if k.account == ctx.account and k.user_name == name]
        return self.paginate("ListAccessKeys", keys, params)

    def UpdateAccessKey(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        """Make an access key Active or Inactive.

        https://docs.aws.amazon.com/IAM/latest/APIReference/API_UpdateAccessKey.html
        """
        key = self._access_key(ctx, params)
        self._authorize(ctx, "UpdateAccessKey", key.user_arn or ctx.caller.arn,
                        shown=_shown(key.user_name))
        key.status = params["Status"]
        return {}

    def DeleteAccessKey(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        """Delete an access key; requests it signs are refused from then on.

        https://docs.aws.amazon.com/IAM/latest/APIReference/API_DeleteAccessKey.html
        """
        key = self._access_key(ctx, params)
        self._authorize(ctx, "DeleteAccessKey", key.user_arn or ctx.caller.arn,
                        shown=_shown(key.user_name))
        del self.access_keys[key.access_key_id]
        return {}

