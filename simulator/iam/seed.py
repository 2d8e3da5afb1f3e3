"""The seed page's example policies as full documents (see tests/iam/seed_policies/).

The page gives key-policy statements as fragments with placeholders (``customerAccountId``,
``clusterName``, ``customer-chosen-role``); ``seed_key_policy`` wraps them in a document after
an account-root ``kms:*`` statement, the page's advice to keep at least one administrator (S9).
"""

from __future__ import annotations

from typing import Any

EXAMPLE_KEY_ARN = "arn:aws:kms:us-west-2:111122223333:key/a1b2c3d4-5678-90ab-cdef-EXAMPLE11111"


def seed_key_policy(
    account: str = "111122223333",
    cluster_name: str = "clusterName",
    operator_role: str = "customer-chosen-role",
    *,
    partition: str = "aws",
) -> dict[str, Any]:
    """The seed's key policy (S4, S5, S7, S8) with an account-root admin statement (S9)."""
    context = {
        "StringEquals": {
            "kms:EncryptionContext:aws:ecs:clusterAccount": [account],
            "kms:EncryptionContext:aws:ecs:clusterName": [cluster_name],
        }
    }
    return {
        "Version": "2012-10-17",
        "Id": "fargate-ephemeral-storage-key-policy",
        "Statement": [
            {
                "Sid": "Enable IAM policies for the account",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:{partition}:iam::{account}:root"},
                "Action": "kms:*",
                "Resource": "*",
            },
            {
                "Sid": "Allow generate data key access for Fargate tasks.",
                "Effect": "Allow",
                "Principal": {"Service": "fargate.amazonaws.com"},
                "Action": ["kms:GenerateDataKeyWithoutPlaintext"],
                "Condition": context,
                "Resource": "*",
            },
            {
                "Sid": "Allow grant creation permission for Fargate tasks.",
                "Effect": "Allow",
                "Principal": {"Service": "fargate.amazonaws.com"},
                "Action": ["kms:CreateGrant"],
                "Condition": {
                    **context,
                    "ForAllValues:StringEquals": {"kms:GrantOperations": ["Decrypt"]},
                },
                "Resource": "*",
            },
            {
                "Sid": "Allow describe key permission for cluster operator - CreateCluster and "
                "UpdateCluster.",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:{partition}:iam::{account}:role/{operator_role}"},
                "Action": ["kms:DescribeKey"],
                "Resource": "*",
            },
        ],
    }


def seed_allow_approved_keys(key_arns: list[str] | str = EXAMPLE_KEY_ARN) -> dict[str, Any]:
    """The seed's identity policy: CreateCluster/UpdateCluster only with approved keys (S10)."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["ecs:CreateCluster", "ecs:UpdateCluster"],
                "Resource": "*",
                "Condition": {
                    "StringEquals": {"ecs:fargate-ephemeral-storage-kms-key": key_arns}
                },
            }
        ],
    }


def seed_deny_without_key() -> dict[str, Any]:
    """The seed's Deny of CreateCluster/UpdateCluster without a key (S11, Null condition)."""
    return {
        "Version": "2012-10-17",
        "Statement": {
            "Effect": "Deny",
            "Action": ["ecs:CreateCluster", "ecs:UpdateCluster"],
            "Resource": "*",
            "Condition": {"Null": {"ecs:fargate-ephemeral-storage-kms-key": "true"}},
        },
    }
