"""The seed page's policies as complete documents (the page gives only fragments).

"Create an encryption key for Fargate ephemeral storage" (AWS ECS guide) shows three key
policy statements and two IAM policies. A usable key policy wraps the statements in
``{"Version": ..., "Statement": [...]}`` with a statement that gives the account's own
administrators access to the key, as the page advises ("give at least one user KMS
permissions to avoid errors").
"""

from __future__ import annotations

from typing import Any

OPERATOR_ROLE = "customer-chosen-role"


def key_admin_statement(account: str) -> dict[str, Any]:
    """AWS's default key policy statement: the account (and so its IAM policies) may do kms:*."""
    return {
        "Sid": "Enable IAM User Permissions",
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
        "Action": "kms:*",
        "Resource": "*",
    }


def fargate_statements(
    account: str, cluster_name: str, operator_role: str = OPERATOR_ROLE
) -> list[dict[str, Any]]:
    """The seed's three key policy statements, with its placeholders filled in."""
    context = {
        "kms:EncryptionContext:aws:ecs:clusterAccount": [account],
        "kms:EncryptionContext:aws:ecs:clusterName": [cluster_name],
    }
    return [
        {
            "Sid": "Allow generate data key access for Fargate tasks.",
            "Effect": "Allow",
            "Principal": {"Service": "fargate.amazonaws.com"},
            "Action": ["kms:GenerateDataKeyWithoutPlaintext"],
            "Condition": {"StringEquals": dict(context)},
            "Resource": "*",
        },
        {
            "Sid": "Allow grant creation permission for Fargate tasks.",
            "Effect": "Allow",
            "Principal": {"Service": "fargate.amazonaws.com"},
            "Action": ["kms:CreateGrant"],
            "Condition": {
                "StringEquals": dict(context),
                "ForAllValues:StringEquals": {"kms:GrantOperations": ["Decrypt"]},
            },
            "Resource": "*",
        },
        {
            "Sid": "Allow describe key permission for cluster operator - CreateCluster and "
            "UpdateCluster.",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{account}:role/{operator_role}"},
            "Action": ["kms:DescribeKey"],
            "Resource": "*",
        },
    ]


def seed_key_policy(
    account: str, cluster_name: str = "*", operator_role: str = OPERATOR_ROLE,
    *, admin: bool = True,
) -> dict[str, Any]:
    """A complete key policy: the account's administrators plus the seed's three statements.

    ``cluster_name="*"`` would not match under StringEquals; pass the real cluster name (the
    seed's condition is exact). ``admin=False`` leaves the administrators out, which locks
    everyone out of managing the key (the page's warning).
    """
    statements = fargate_statements(account, cluster_name, operator_role)
    if cluster_name == "*":
        for st in statements[:2]:
            cond = st["Condition"]
            cond["StringLike"] = {
                "kms:EncryptionContext:aws:ecs:clusterName": ["*"],
            }
            cond["StringEquals"] = {
                "kms:EncryptionContext:aws:ecs:clusterAccount": [account],
            }
    return {
        "Version": "2012-10-17",
        "Statement": ([key_admin_statement(account)] if admin else []) + statements,
    }


def allow_approved_keys_policy(key_arns: list[str] | str) -> dict[str, Any]:
    """The seed's IAM policy: CreateCluster/UpdateCluster only with an approved key."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["ecs:CreateCluster", "ecs:UpdateCluster"],
                "Resource": "*",
                "Condition": {"StringEquals": {"ecs:fargate-ephemeral-storage-kms-key": key_arns}},
            }
        ],
    }


def deny_missing_key_policy() -> dict[str, Any]:
    """The seed's IAM policy: deny creating or updating a cluster without a key."""
    return {
        "Version": "2012-10-17",
        "Statement": {
            "Effect": "Deny",
            "Action": ["ecs:CreateCluster", "ecs:UpdateCluster"],
            "Resource": "*",
            "Condition": {"Null": {"ecs:fargate-ephemeral-storage-kms-key": "true"}},
        },
    }
