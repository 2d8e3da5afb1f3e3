"""``fargate-sim policy``: simulate and validate IAM and key policies offline.

    fargate-sim policy simulate --policy role.json --action ecs:CreateCluster \\
        --context ecs:fargate-ephemeral-storage-kms-key=arn:aws:kms:...
    fargate-sim policy simulate --resource-policy key.json --caller fargate.amazonaws.com \\
        --action kms:CreateGrant --context kms:GrantOperations=Decrypt,Encrypt \\
        --context-type kms:GrantOperations=stringList
    fargate-sim policy validate key.json --kind resource

Exit status: 0 allowed (every action on every resource), 1 denied, 2 bad input.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from simulator import inputs
from simulator.cli import fail
from simulator.errors import ClientError, MalformedPolicyDocumentException
from simulator.iam.evaluation import Decision
from simulator.iam.policy import PolicyDocument
from simulator.iam.principal import ACCOUNT_ID, Principal, resolve_principal
from simulator.iam.simulate import CONTEXT_TYPES, convert_context_value, simulate

DEFAULT_ACCOUNT = "111122223333"


class InputError(Exception):
    """Bad command-line input (exit status 2)."""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "policy",
        help="simulate and validate IAM identity policies and KMS key policies",
        description="Evaluate policies offline, with the reason each statement and condition "
        "held or failed.",
    )
    sub = parser.add_subparsers(dest="policy_command", metavar="SUBCOMMAND")
    sim = sub.add_parser(
        "simulate",
        help="decide actions against identity and resource policies",
        description="Decide each --action on each --resource as IAM would, and explain why. "
        "Exit status 0 when every request is allowed, 1 when one is denied, 2 on bad input.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=(
            "examples:\n"
            "  fargate-sim policy simulate --policy allow.json --policy deny.json \\\n"
            "      --action ecs:CreateCluster \\\n"
            "      --context ecs:fargate-ephemeral-storage-kms-key=arn:aws:kms:...\n"
            "  fargate-sim policy simulate --resource-policy key.json "
            "--caller fargate.amazonaws.com \\\n"
            "      --action kms:CreateGrant --context kms:GrantOperations=Decrypt,Encrypt \\\n"
            "      --context-type kms:GrantOperations=stringList\n"
        ),
    )
    sim.add_argument("--policy", action="append", default=[], metavar="FILE",
                     help="an identity policy (JSON file; '-' reads stdin); repeatable")
    sim.add_argument("--resource-policy", metavar="FILE",
                     help="a resource policy, e.g. a KMS key policy (JSON file)")
    sim.add_argument("--permissions-boundary", metavar="FILE",
                     help="a permissions boundary policy (JSON file)")
    sim.add_argument("--action", action="append", required=True, metavar="ACTION",
                     help="service:Action to decide, e.g. kms:Decrypt; repeatable")
    sim.add_argument("--resource", action="append", default=[], metavar="ARN",
                     help='resource ARN (default "*"); repeatable')
    sim.add_argument("--caller", metavar="ARN",
                     help="who calls: a role, user, assumed-role or root ARN, an account id, or "
                     "a service principal such as fargate.amazonaws.com (required with "
                     "--resource-policy)")
    sim.add_argument("--resource-owner", metavar="ACCOUNT",
                     help="the account owning the resource (default: from the resource ARN)")
    sim.add_argument("--context", action="append", default=[], metavar="KEY=VALUE",
                     help="a request context value; repeat a key (or use a *List type with "
                     "commas) for several values")
    sim.add_argument("--context-type", action="append", default=[], metavar="KEY=TYPE",
                     help="type of a context key: " + ", ".join(CONTEXT_TYPES)
                     + " (default string)")
    sim.add_argument("--json", action="store_true", help="print JSON instead of text")
    sim.add_argument("--quiet", "-q", action="store_true",
                     help="print only the decisions, not the explanation")
    sim.set_defaults(func=run_simulate)

    val = sub.add_parser("validate", help="check that a policy document is well formed")
    val.add_argument("file", metavar="FILE")
    val.add_argument("--kind", choices=tuple(KINDS), default="identity",
                     help="identity (default), trust (a role's trust policy), resource (as "
                     "IAM's simulator reads a resource policy) or key (a KMS key policy, as "
                     "KMS validates it)")
    val.set_defaults(func=run_validate)

    lint = sub.add_parser(
        "lint",
        help="will this key policy let Fargate tasks start? (rehearses the KMS calls)",
        description="Rehearse, in a scratch simulation, the calls a Fargate ephemeral storage "
        "key must allow: administrators changing the policy, Fargate's data key and Decrypt "
        "grant for each cluster, the operator's DescribeKey. Exit status 0 when nothing is "
        "an error, 1 otherwise, 2 on bad input.",
    )
    lint.add_argument("file", metavar="KEY_POLICY", help="the key policy (JSON file; '-' stdin)")
    lint.add_argument("--account", default="111122223333", help="the key's account")
    lint.add_argument("--region", default="us-west-2")
    lint.add_argument("--cluster", action="append", default=[], metavar="NAME",
                      help="a cluster the key serves (default: the names the policy's "
                      "clusterName conditions mention); repeatable")
    lint.add_argument("--operator", action="append", default=[], metavar="ROLE_ARN",
                      help="a role that creates or updates clusters with the key; repeatable")
    lint.add_argument("--json", action="store_true", help="print JSON instead of text")
    lint.set_defaults(func=run_lint)

    parser.set_defaults(func=lambda args: (parser.print_help(), 2)[1])


# -- input -----------------------------------------------------------------------------------
#: The longest policy document any IAM or KMS API takes (botocore's models: 131,072
#: characters), in UTF-8's worst case; a file longer than this is refused unread.
MAX_POLICY_FILE_BYTES = 131072 * 4


def _read(path: str) -> str:
    """The policy file's text: bounded, UTF-8, and JSON nested within limits.

    Text that is not JSON at all is returned as it is: the policy validator refuses it in
    IAM's or KMS's own words, with the position beside them.
    """
    try:
        text = inputs.read_text(path, limit=MAX_POLICY_FILE_BYTES, what="policy file")
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            return text
        except RecursionError:
            value = None
            inputs.parse_json(text, path)  # raises the depth error in the inputs' words
        inputs.check_depth(value, path)
    except inputs.InputError as exc:
        raise InputError(str(exc)) from None
    return text


#: ``--kind`` values: the policy kind and the service whose validation applies.
KINDS = {
    "identity": ("identity", "iam"),
    "resource": ("resource", "iam"),
    "trust": ("trust", "iam"),
    "key": ("resource", "kms"),
}


def malformed_text(path: str, exc: ClientError) -> str:
    """AWS's code and message for a refused document, then the simulator's explanation."""
    line = f"{path}: {exc.code}: {exc.message}" if exc.message else f"{path}: {exc.code}"
    if exc.explanation and exc.explanation != exc.message:
        line += f"\n  why: {exc.explanation}"
    return line


def _load(path: str, kind: str) -> PolicyDocument:
    text = _read(path)
    kind, service = KINDS[kind]
    try:
        return PolicyDocument.parse(text, kind=kind, name=path, service=service,
                                    lenient=service == "kms")
    except MalformedPolicyDocumentException as exc:
        raise InputError(malformed_text(path, exc)) from None


def parse_context(pairs: list[str], types: list[str]) -> dict[str, Any]:
    """``KEY=VALUE`` pairs (and ``KEY=TYPE`` types) -> a request context mapping."""
    kinds: dict[str, str] = {}
    for item in types:
        key, sep, kind = item.partition("=")
        if not sep or not key:
            raise InputError(f"--context-type {item!r}: expected KEY=TYPE")
        if kind not in CONTEXT_TYPES:
            raise InputError(
                f"--context-type {item!r}: TYPE must be one of " + ", ".join(CONTEXT_TYPES)
            )
        kinds[key.lower()] = kind
    raw: dict[str, list[str]] = {}
    names: dict[str, str] = {}
    for item in pairs:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InputError(f"--context {item!r}: expected KEY=VALUE")
        names.setdefault(key.lower(), key)
        kind = kinds.get(key.lower(), "string")
        parts = value.split(",") if kind.endswith("List") and value else [value]
        raw.setdefault(key.lower(), []).extend(parts)
    out: dict[str, Any] = {}
    for key_l, values in raw.items():
        kind = kinds.get(key_l, "string")
        key = names[key_l]
        try:
            converted = [convert_context_value(key, kind, v) for v in values]
        except ClientError as exc:
            raise InputError(exc.message) from None
        out[key] = converted if kind.endswith("List") or len(converted) > 1 else converted[0]
    for key_l, kind in kinds.items():
        if key_l not in raw and kind.endswith("List"):
            pass  # a typed key without values stays absent
    return out


# -- output ----------------------------------------------------------------------------------
def _decision_json(d: Decision) -> dict[str, Any]:
    out = d.to_evaluation_result()
    out["Reason"] = d.reason
    out["Explanation"] = d.explanation
    out["MatchedStatementDetails"] = [
        {"Policy": m.policy_name, "Index": m.index, "Sid": m.sid, "Effect": m.effect,
         "PrincipalMatch": m.principal_match}
        for m in d.matched_statements
    ]
    return out


def _print_text(decisions: list[Decision], quiet: bool) -> None:
    for d in decisions:
        req = d.request
        print(f"{req.action} on {req.resource}: {d.decision}")
        if quiet:
            continue
        print(f"  {d.reason}")
        if d.cross_account:
            print("  cross-account: the resource policy and the caller's identity policies "
                  "must both allow")
        for r in d.results:
            for line in r.explanation():
                print("  " + line)
        if d.missing_context_values:
            print("  missing context values: " + ", ".join(d.missing_context_values))
        print()


def run_simulate(args: argparse.Namespace) -> int:
    try:
        identity = [_load(p, "identity") for p in args.policy]
        resource_policy = (
            _load(args.resource_policy, "resource") if args.resource_policy else None
        )
        boundary = (
            _load(args.permissions_boundary, "identity") if args.permissions_boundary else None
        )
        if not identity and resource_policy is None:
            raise InputError("give at least one --policy or a --resource-policy")
        caller: Principal | None = None
        if args.caller:
            try:
                caller = resolve_principal(args.caller, args.resource_owner or DEFAULT_ACCOUNT)
            except ValueError as exc:
                raise InputError(f"--caller: {exc}") from None
        elif resource_policy is not None:
            raise InputError("--caller is required with --resource-policy (who is asking?)")
        context = parse_context(args.context, args.context_type)
        try:
            results = simulate(
                identity, args.action, args.resource or ["*"], caller=caller, context=context,
                resource_policy=resource_policy, resource_owner=args.resource_owner,
                permissions_boundary=boundary,
            )
        except ClientError as exc:
            raise InputError(exc.message) from None
    except InputError as exc:
        return fail(args, exc)
    decisions = [d for _, ds in results for d in ds]
    if args.json:
        print(json.dumps({"EvaluationResults": [_decision_json(d) for d in decisions]},
                         indent=2, default=str))
    else:
        _print_text(decisions, args.quiet)
    return 0 if all(d.allowed for d in decisions) else 1


def run_validate(args: argparse.Namespace) -> int:
    try:
        doc = _load(args.file, args.kind)
    except InputError as exc:
        return fail(args, exc)
    n = len(doc.statements)
    keys = doc.condition_keys
    print(f"{args.file}: a well-formed {args.kind} policy, {n} statement{'s' if n != 1 else ''}"
          + (f"; condition keys: {', '.join(keys)}" if keys else ""))
    return 0


def simulate_seed_key_policy(
    caller: str = "fargate.amazonaws.com",
    action: str = "kms:CreateGrant",
    *,
    cluster_name: str = "clusterName",
    account: str = DEFAULT_ACCOUNT,
    grant_operations: list[str] | None = None,
) -> Decision:
    """Decide one request against the seed's key policy (a demo the README can call)."""
    from simulator.iam.seed import seed_key_policy

    doc = PolicyDocument.parse(seed_key_policy(account), kind="resource", name="key-policy")
    context: dict[str, Any] = {
        "kms:EncryptionContext:aws:ecs:clusterAccount": account,
        "kms:EncryptionContext:aws:ecs:clusterName": cluster_name,
    }
    if action.lower() == "kms:creategrant":
        context["kms:GrantOperations"] = grant_operations or ["Decrypt"]
    principal = resolve_principal(caller, account)
    key = f"arn:aws:kms:us-west-2:{account}:key/a1b2c3d4-5678-90ab-cdef-EXAMPLE11111"
    [(_, [decision])] = simulate([], [action], [key], caller=principal, context=context,
                                 resource_policy=doc)
    return decision


def run_lint(args: argparse.Namespace) -> int:
    """``policy lint``: rehearse a key policy's Fargate calls and print the findings."""
    from simulator.kms.lint import ERROR, findings_json, lint_key_policy

    try:
        if not ACCOUNT_ID.match(args.account):
            raise InputError(f"--account: {args.account!r} is not a 12-digit AWS account id")
        text = _read(args.file)
    except InputError as exc:
        return fail(args, exc)
    findings = lint_key_policy(text, account=args.account, region=args.region,
                               clusters=args.cluster, operators=args.operator)
    if args.json:
        print(json.dumps(findings_json(findings), indent=2))
    else:
        print("\n".join(f.render() for f in findings))
    if any(f.code == "malformed" for f in findings):
        return 2  # bad input: the policy itself cannot be used
    return 1 if any(f.severity == ERROR for f in findings) else 0
