"""Will this key policy let Fargate tasks start? A lint that rehearses the calls.

Instead of re-deriving AWS's rules, ``lint_key_policy`` creates the key in a scratch
simulation and makes the calls that matter through KMS's front door, as the principals that
make them: the key's administrators changing the policy (the lockout the seed warns about,
S9), Fargate's dry runs of GenerateDataKeyWithoutPlaintext and CreateGrant for each cluster
(S4, S5, S8), a grant asking for more than Decrypt, Fargate's calls for a cluster or account
the policy should not serve, and the operator's DescribeKey (S7). Each finding carries
KMS's own explanation of the decision.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

from simulator import errors

ERROR, WARNING, OK = "error", "warning", "ok"
FARGATE = "fargate.amazonaws.com"
#: A cluster name no real policy should allow, to see whether the policy is restricted.
UNRELATED_CLUSTER = "fargate-sim-lint-unrelated-cluster"
UNRELATED_ACCOUNT = "999988887777"


@dataclass
class Finding:
    """One thing the lint checked: its severity, a code, and what a person should know."""

    severity: str
    code: str
    message: str
    detail: str = ""

    def render(self) -> str:
        line = f"{self.severity.upper():<7} {self.code}: {self.message}"
        return line + (f"\n        {self.detail}" if self.detail else "")


def _why(exc: errors.ClientError) -> str:
    """AWS's code and message, with the simulator's explanation beside them."""
    return exc.describe()


def lint_key_policy(
    policy: str | dict[str, Any],
    *,
    account: str = "111122223333",
    region: str = "us-west-2",
    clusters: list[str] | None = None,
    operators: list[str] | None = None,
) -> list[Finding]:
    """Check a key policy for use as a Fargate ephemeral storage key; findings in order.

    ``clusters`` are the cluster names the key should serve (default: the names the policy's
    ``kms:EncryptionContext:aws:ecs:clusterName`` conditions mention, else none);
    ``operators`` the role ARNs that create and update clusters with the key.
    """
    from simulator.world import Simulation

    text = policy if isinstance(policy, str) else json.dumps(policy)
    sim = Simulation(account_id=account, region=region, quotas=False)
    kms_service = sim.service("kms")
    try:
        meta = kms_service.create_key_with_id(  # type: ignore[attr-defined]
            "0000lint-0000-4000-8000-000000000000", policy=text,
            BypassPolicyLockoutSafetyCheck=True,
        )
    except errors.ClientError as exc:
        return [Finding(ERROR, "malformed", "KMS would refuse this key policy", _why(exc))]
    key = meta["Arn"]
    findings: list[Finding] = []

    findings.append(_administrators(sim, key, text, account))

    names = clusters or _cluster_names(text)
    if not names:
        findings.append(Finding(
            WARNING, "no-cluster",
            "no cluster name given or named in the policy's "
            "kms:EncryptionContext:aws:ecs:clusterName conditions; pass --cluster to check "
            "Fargate's calls"))
    fargate = sim.client("kms", principal=FARGATE)
    for name in names:
        findings.extend(_fargate_checks(fargate, key, account, name))
    if names:
        findings.extend(_restriction_checks(sim, key, account))
    for role in operators or []:
        try:
            sim.client("kms", principal=role).describe_key(KeyId=key)
            findings.append(Finding(OK, "operator-describe-key",
                                    f"{role} can call DescribeKey (CreateCluster/UpdateCluster)"))
        except errors.ClientError as exc:
            if "delegates to the account" in (exc.explanation or ""):
                findings.append(Finding(
                    WARNING, "operator-describe-key",
                    f"the key policy does not name {role}; CreateCluster and UpdateCluster "
                    "with this key work only if the role's IAM policies allow kms:DescribeKey "
                    "on it (S7)", _why(exc)))
            else:
                findings.append(Finding(
                    ERROR, "operator-describe-key",
                    f"{role} cannot call kms:DescribeKey on the key, so CreateCluster and "
                    "UpdateCluster with this key fail (S7)", _why(exc)))
    return findings


def _administrators(sim: Any, key: str, text: str, account: str) -> Finding:
    """Whether anyone the policy names (or the account, through IAM) can change it later."""
    candidates = [account, *_aws_principals(text)]
    last: errors.ClientError | None = None
    for who in candidates:
        try:
            sim.client("kms", principal=who).put_key_policy(
                KeyId=key, PolicyName="default", Policy=text)
        except errors.ClientError as exc:
            last = exc if last is None else last
            continue
        if who == account:
            return Finding(OK, "administrable",
                           "the account (through its IAM policies) can change the key policy")
        return Finding(OK, "administrable", f"{who} can change the key policy")
    return Finding(
        ERROR, "lockout",
        "nobody could change this key policy later; KMS refuses it unless "
        "BypassPolicyLockoutSafetyCheck is set (the seed: give at least one user KMS "
        "permissions to avoid errors, S9)", _why(last) if last else "")


def _aws_principals(text: str) -> list[str]:
    """IAM principal ARNs named by the policy's Allow statements."""
    out: list[str] = []
    for st in _statements(text):
        if st.get("Effect") != "Allow" or not isinstance(st.get("Principal"), dict):
            continue
        aws = st["Principal"].get("AWS", [])
        for p in aws if isinstance(aws, list) else [aws]:
            if isinstance(p, str) and p.startswith("arn:") and p not in out:
                out.append(p)
    return out


def _statements(text: str) -> list[dict[str, Any]]:
    statements = json.loads(text).get("Statement", [])
    return [statements] if isinstance(statements, dict) else list(statements)


def _context(account: str, cluster: str) -> dict[str, str]:
    return {"aws:ecs:clusterAccount": account, "aws:ecs:clusterName": cluster}


def _allowed(call: Any, **params: Any) -> errors.ClientError | None:
    """None when the dry run would have succeeded, else the error KMS gave."""
    try:
        call(DryRun=True, **params)
    except errors.DryRunOperationException:
        return None
    except errors.ClientError as exc:
        return exc
    return None


def _grant(fargate: Any, key: str, region: str, context: dict[str, str],
           operations: list[str]) -> errors.ClientError | None:
    return _allowed(
        fargate.create_grant, KeyId=key, GranteePrincipal=f"fargate.{region}.amazonaws.com",
        Operations=operations, Constraints={"EncryptionContextSubset": context},
    )


def _fargate_checks(fargate: Any, key: str, account: str, cluster: str) -> list[Finding]:
    out = []
    ctx = _context(account, cluster)
    region = fargate.meta.region_name
    exc = _allowed(fargate.generate_data_key_without_plaintext, KeyId=key, NumberOfBytes=64,
                   EncryptionContext=ctx)
    if exc is None:
        out.append(Finding(OK, "fargate-data-key",
                           f"Fargate can get a wrapped data key for cluster {cluster}"))
    else:
        out.append(Finding(
            ERROR, "fargate-data-key",
            f"Fargate cannot call GenerateDataKeyWithoutPlaintext for cluster {cluster}: its "
            "tasks fail to start (S4, S8)", _why(exc)))
    exc = _grant(fargate, key, region, ctx, ["Decrypt"])
    if exc is None:
        out.append(Finding(OK, "fargate-grant",
                           f"Fargate can create its Decrypt grant for cluster {cluster}"))
    else:
        out.append(Finding(
            ERROR, "fargate-grant",
            f"Fargate cannot create its Decrypt grant for cluster {cluster}: its tasks fail "
            "to start (S5, S6)", _why(exc)))
    if _grant(fargate, key, region, ctx, ["Decrypt", "Encrypt"]) is None:
        out.append(Finding(
            WARNING, "grant-operations",
            "Fargate could create grants for more than Decrypt; the seed limits them with "
            '"ForAllValues:StringEquals": {"kms:GrantOperations": ["Decrypt"]} (S5)'))
    return out


def _restriction_checks(sim: Any, key: str, account: str) -> list[Finding]:
    out = []
    fargate = sim.client("kms", principal=FARGATE)
    if _allowed(fargate.generate_data_key_without_plaintext, KeyId=key, NumberOfBytes=64,
                EncryptionContext=_context(account, UNRELATED_CLUSTER)) is None:
        out.append(Finding(
            WARNING, "any-cluster",
            "Fargate may use the key for any cluster of the account; the seed restricts it "
            "with kms:EncryptionContext:aws:ecs:clusterName (S8)"))
    other = sim.client("kms", principal=FARGATE, on_behalf_of=UNRELATED_ACCOUNT)
    if _allowed(other.generate_data_key_without_plaintext, KeyId=key, NumberOfBytes=64,
                EncryptionContext=_context(UNRELATED_ACCOUNT, UNRELATED_CLUSTER)) is None:
        out.append(Finding(
            WARNING, "any-account",
            "Fargate may use the key for clusters of other accounts; the seed restricts it "
            "with kms:EncryptionContext:aws:ecs:clusterAccount (S8)"))
    return out


def _cluster_names(text: str) -> list[str]:
    """Cluster names the policy's clusterName conditions name (wildcards left out)."""
    names: list[str] = []
    for st in _statements(text):
        for block in (st.get("Condition") or {}).values():
            for k, v in block.items():
                if k.lower() == "kms:encryptioncontext:aws:ecs:clustername":
                    for n in v if isinstance(v, list) else [v]:
                        if isinstance(n, str) and "*" not in n and "?" not in n and n not in names:
                            names.append(n)
    return names


def findings_json(findings: list[Finding]) -> list[dict[str, str]]:
    """Findings as plain dicts, for --json."""
    return [asdict(f) for f in findings]
