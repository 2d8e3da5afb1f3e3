"""The resource types the simulator deploys, each created through the services' clients.

Properties are turned into API parameters by walking botocore's input shape: CloudFormation
spells members in PascalCase (``ManagedStorageConfiguration``), ECS in camelCase
(``managedStorageConfiguration``), and the shape tells which member each one is.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.model import Shape

from simulator.errors import ClientError
from simulator.models import service_model

# Free-form maps whose keys are data, not member names.
_ORDINARY = ("string", "integer", "long", "boolean", "double", "float", "timestamp", "blob")


def to_api(shape: Shape, value: Any, path: str = "") -> Any:
    """CloudFormation property value -> API parameter value following ``shape``."""
    t = shape.type_name
    if t == "structure" and isinstance(value, dict):
        by_lower = {name.lower(): name for name in shape.members}
        out = {}
        for key, v in value.items():
            member = by_lower.get(key.lower())
            if member is None:
                where = f"{path}.{key}" if path else key
                raise ValueError(
                    f"{where}: not a property of {shape.name}; valid: {', '.join(shape.members)}"
                )
            out[member] = to_api(shape.members[member], v, f"{path}.{key}" if path else key)
        return out
    if t == "list" and isinstance(value, list):
        return [to_api(shape.member, v, f"{path}[{i}]") for i, v in enumerate(value)]
    if t == "map" and isinstance(value, dict):
        return {k: to_api(shape.value, v, f"{path}.{k}") for k, v in value.items()}
    if t in ("integer", "long") and isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    if t == "boolean" and isinstance(value, str):
        return value.lower() == "true"
    if t == "string" and isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return value


def api_params(service: str, operation: str, props: dict[str, Any]) -> dict[str, Any]:
    """Properties as the parameters of ``service.operation``."""
    shape = service_model(service).operation_model(operation).input_shape
    return to_api(shape, props)


@dataclass
class Created:
    """What a resource handler made: the Ref value, its attributes, and how to delete it."""

    physical_id: str
    attributes: dict[str, Any] = field(default_factory=dict)
    delete: Callable[[], None] | None = None


def _policy_text(doc: Any) -> str:
    return doc if isinstance(doc, str) else json.dumps(doc)


def _tags(props: dict[str, Any], key: str = "Key", value: str = "Value") -> list[dict[str, str]]:
    return [{key: t["Key"], value: str(t["Value"])} for t in props.get("Tags", [])]


def _done_if_missing(call: Callable[..., Any], **params: Any) -> None:
    """One step of deleting an IAM resource, where NoSuchEntity means it is done already: a
    delete that failed part-way (a group that still has users) and is retried finds the
    steps before the failure done, and an entity removed outside the stack is gone."""
    try:
        call(**params)
    except ClientError as exc:
        if exc.code != "NoSuchEntity":
            raise


def kms_key(clients: Any, logical_id: str, props: dict[str, Any], stack: str) -> Created:
    kms = clients("kms")
    params: dict[str, Any] = {}
    if "KeyPolicy" in props:
        params["Policy"] = _policy_text(props["KeyPolicy"])
    for name in ("KeySpec", "KeyUsage", "Description", "MultiRegion", "Origin",
                 "BypassPolicyLockoutSafetyCheck"):
        if name in props:
            params[name] = props[name]
    if props.get("Tags"):
        params["Tags"] = _tags(props, "TagKey", "TagValue")
    meta = kms.create_key(**params)["KeyMetadata"]
    key_id = meta["KeyId"]
    if str(props.get("Enabled", True)).lower() == "false":
        kms.disable_key(KeyId=key_id)
    if str(props.get("EnableKeyRotation", False)).lower() == "true":
        kms.enable_key_rotation(KeyId=key_id)
    window = int(props.get("PendingWindowInDays", 30))
    return Created(
        key_id,
        {"Arn": meta["Arn"], "KeyId": key_id},
        lambda: kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=window),
    )


def kms_alias(clients: Any, logical_id: str, props: dict[str, Any], stack: str) -> Created:
    kms = clients("kms")
    name = props["AliasName"]
    kms.create_alias(AliasName=name, TargetKeyId=props["TargetKeyId"])
    return Created(name, {}, lambda: kms.delete_alias(AliasName=name))


def iam_role(clients: Any, logical_id: str, props: dict[str, Any], stack: str) -> Created:
    iam = clients("iam")
    name = props.get("RoleName") or f"{stack}-{logical_id}"[:64]
    params: dict[str, Any] = {
        "RoleName": name,
        "AssumeRolePolicyDocument": _policy_text(props.get("AssumeRolePolicyDocument", {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": {"Service": "ecs-tasks.amazonaws.com"},
                           "Action": "sts:AssumeRole"}],
        })),
    }
    for key in ("Path", "Description", "MaxSessionDuration"):
        if key in props:
            params[key] = props[key]
    if props.get("Tags"):
        params["Tags"] = _tags(props)
    role = iam.create_role(**params)["Role"]
    for pol in props.get("Policies", []):
        iam.put_role_policy(
            RoleName=name,
            PolicyName=pol["PolicyName"],
            PolicyDocument=_policy_text(pol["PolicyDocument"]),
        )
    for arn in props.get("ManagedPolicyArns", []):
        iam.attach_role_policy(RoleName=name, PolicyArn=arn)
    return iam_role_made(clients, name, props, {"Arn": role["Arn"], "RoleId": role["RoleId"]})


def iam_role_made(clients: Any, name: str, props: dict[str, Any], attributes: dict[str, Any]
                  ) -> Created:
    """A role as the stack holds it: deleting it takes its policies off first, as IAM
    requires."""
    iam = clients("iam")

    def delete() -> None:
        for pol in props.get("Policies", []):
            _done_if_missing(iam.delete_role_policy, RoleName=name, PolicyName=pol["PolicyName"])
        for arn in props.get("ManagedPolicyArns", []):
            _done_if_missing(iam.detach_role_policy, RoleName=name, PolicyArn=arn)
        _done_if_missing(iam.delete_role, RoleName=name)

    return Created(name, attributes, delete)


#: The entities a managed policy (its Roles, Users and Groups properties) or an inline
#: AWS::IAM::Policy is on: property -> (IAM's request member, the operation word).
POLICY_HOLDERS: dict[str, tuple[str, str]] = {
    "Roles": ("RoleName", "Role"), "Users": ("UserName", "User"), "Groups": ("GroupName", "Group"),
}


def _holders(props: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(operation word, request member, name) for each entity the policy is on."""
    return [(word, member, name) for prop, (member, word) in POLICY_HOLDERS.items()
            for name in props.get(prop, [])]


def iam_managed_policy(clients: Any, logical_id: str, props: dict[str, Any], stack: str) -> Created:
    """A customer managed policy, attached to its Roles, Users and Groups."""
    iam = clients("iam")
    name = props.get("ManagedPolicyName") or f"{stack}-{logical_id}"[:128]
    params: dict[str, Any] = {"PolicyName": name,
                              "PolicyDocument": _policy_text(props["PolicyDocument"])}
    for key in ("Path", "Description"):
        if key in props:
            params[key] = props[key]
    arn = iam.create_policy(**params)["Policy"]["Arn"]
    for word, member, holder in _holders(props):
        getattr(iam, f"attach_{word.lower()}_policy")(**{member: holder, "PolicyArn": arn})
    return iam_managed_policy_made(clients, arn, props)


def iam_managed_policy_made(clients: Any, arn: str, props: dict[str, Any]) -> Created:
    """A managed policy as the stack holds it: deleting it detaches it from what the template
    attached it to and deletes its other versions first, as IAM's DeletePolicy requires
    (https://docs.aws.amazon.com/IAM/latest/APIReference/API_DeletePolicy.html: "Detach the
    policy from all users, groups, and roles ... Delete all versions of the policy")."""
    iam = clients("iam")

    def delete() -> None:
        for word, member, holder in _holders(props):
            _done_if_missing(getattr(iam, f"detach_{word.lower()}_policy"),
                             **{member: holder, "PolicyArn": arn})
        try:
            versions = iam.list_policy_versions(PolicyArn=arn)["Versions"]
        except ClientError as exc:
            if exc.code == "NoSuchEntity":
                return
            raise
        for version in versions:
            if not version["IsDefaultVersion"]:
                iam.delete_policy_version(PolicyArn=arn, VersionId=version["VersionId"])
        _done_if_missing(iam.delete_policy, PolicyArn=arn)

    return Created(arn, {"PolicyArn": arn}, delete)


def iam_group(clients: Any, logical_id: str, props: dict[str, Any], stack: str) -> Created:
    """An IAM user group with its inline Policies and ManagedPolicyArns."""
    iam = clients("iam")
    name = props.get("GroupName") or f"{stack}-{logical_id}"[:128]
    params: dict[str, Any] = {"GroupName": name}
    if "Path" in props:
        params["Path"] = props["Path"]
    group = iam.create_group(**params)["Group"]
    for pol in props.get("Policies", []):
        iam.put_group_policy(GroupName=name, PolicyName=pol["PolicyName"],
                             PolicyDocument=_policy_text(pol["PolicyDocument"]))
    for arn in props.get("ManagedPolicyArns", []):
        iam.attach_group_policy(GroupName=name, PolicyArn=arn)
    return iam_group_made(clients, name, props, {"Arn": group["Arn"]})


def iam_group_made(clients: Any, name: str, props: dict[str, Any], attributes: dict[str, Any]
                   ) -> Created:
    """A group as the stack holds it: deleting it takes its policies off first."""
    iam = clients("iam")

    def delete() -> None:
        for pol in props.get("Policies", []):
            _done_if_missing(iam.delete_group_policy, GroupName=name,
                             PolicyName=pol["PolicyName"])
        for arn in props.get("ManagedPolicyArns", []):
            _done_if_missing(iam.detach_group_policy, GroupName=name, PolicyArn=arn)
        _done_if_missing(iam.delete_group, GroupName=name)

    return Created(name, attributes, delete)


def iam_user_to_group_addition(clients: Any, logical_id: str, props: dict[str, Any],
                               stack: str) -> Created:
    """AWS::IAM::UserToGroupAddition: its Users added to its GroupName (removed at delete)."""
    iam = clients("iam")
    group = props["GroupName"]
    for user in props.get("Users", []):
        iam.add_user_to_group(GroupName=group, UserName=user)
    return iam_user_to_group_addition_made(clients, logical_id, props, stack)


def iam_user_to_group_addition_made(clients: Any, logical_id: str, props: dict[str, Any],
                                    stack: str) -> Created:
    iam = clients("iam")

    def delete() -> None:
        # each user once (the property may name one twice, in any case), and one removed
        # already (by a retry, or outside the stack) is done
        for user in {u.lower(): u for u in props.get("Users", [])}.values():
            _done_if_missing(iam.remove_user_from_group, GroupName=props["GroupName"],
                             UserName=user)

    return Created(f"{stack}-{logical_id}", {}, delete)


def iam_policy(clients: Any, logical_id: str, props: dict[str, Any], stack: str) -> Created:
    """An inline policy put on each of its Roles, Users and Groups."""
    iam = clients("iam")
    name = props["PolicyName"]
    for word, member, holder in _holders(props):
        getattr(iam, f"put_{word.lower()}_policy")(
            **{member: holder, "PolicyName": name,
               "PolicyDocument": _policy_text(props["PolicyDocument"])})
    return iam_policy_made(clients, logical_id, props, stack)


def iam_policy_made(clients: Any, logical_id: str, props: dict[str, Any], stack: str
                    ) -> Created:
    """An inline policy as the stack holds it: deleting it takes it off what it is on."""
    iam = clients("iam")
    name = props["PolicyName"]

    def delete() -> None:
        for word, member, holder in _holders(props):
            _done_if_missing(getattr(iam, f"delete_{word.lower()}_policy"),
                             **{member: holder, "PolicyName": name})

    return Created(f"{stack}-{logical_id}", {}, delete)


def ecs_cluster(clients: Any, logical_id: str, props: dict[str, Any], stack: str) -> Created:
    ecs = clients("ecs")
    props = dict(props)
    props.setdefault("ClusterName", f"{stack}-{logical_id}")
    if "ClusterSettings" in props:
        props["Settings"] = props.pop("ClusterSettings")
    params = api_params("ecs", "CreateCluster", props)
    cluster = ecs.create_cluster(**params)["cluster"]
    name = cluster["clusterName"]
    return Created(name, {"Arn": cluster["clusterArn"]},
                   lambda: ecs.delete_cluster(cluster=name))


def ecs_task_definition(
    clients: Any, logical_id: str, props: dict[str, Any], stack: str
) -> Created:
    ecs = clients("ecs")
    props = dict(props)
    props.setdefault("Family", f"{stack}-{logical_id}")
    params = api_params("ecs", "RegisterTaskDefinition", props)
    td = ecs.register_task_definition(**params)["taskDefinition"]
    arn = td["taskDefinitionArn"]
    return Created(arn, {"TaskDefinitionArn": arn},
                   lambda: ecs.deregister_task_definition(taskDefinition=arn))


def ecs_service(clients: Any, logical_id: str, props: dict[str, Any], stack: str) -> Created:
    ecs = clients("ecs")
    props = dict(props)
    props.setdefault("ServiceName", f"{stack}-{logical_id}")
    params = api_params("ecs", "CreateService", props)
    svc = ecs.create_service(**params)["service"]
    cluster = params.get("cluster", "default")

    def delete() -> None:
        ecs.delete_service(cluster=cluster, service=svc["serviceName"], force=True)

    return Created(svc["serviceArn"], {"Name": svc["serviceName"], "ServiceArn": svc["serviceArn"]},
                   delete)


def canonical(value: Any) -> Any:
    """A property value as CloudFormation passes it on: scalars as their text (``256`` and
    ``"256"``, ``true`` and ``"true"`` are one value), at any depth."""
    if isinstance(value, dict):
        return {k: canonical(v) for k, v in value.items()}
    if isinstance(value, list):
        return [canonical(v) for v in value]
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, int | float):
        return str(value)
    return value


def changed_properties(old: dict[str, Any], new: dict[str, Any]) -> set[str]:
    """The top-level properties whose resolved values differ (as CloudFormation passes
    them on, so ``256`` against ``"256"`` is no change)."""
    return {k for k in old.keys() | new.keys()
            if canonical(old.get(k)) != canonical(new.get(k))}


def _retag(tag: Callable[[list[dict[str, str]]], Any], untag: Callable[[list[str]], Any],
           old: list[dict[str, str]], new: list[dict[str, str]], key: str = "Key") -> None:
    """Apply the difference between two tag lists (``[{key: ..., value: ...}]``)."""
    gone = [t[key] for t in old if t[key] not in {n[key] for n in new}]
    if gone:
        untag(gone)
    if new and new != old:
        tag(new)


def update_kms_key(clients: Any, logical_id: str, old: dict[str, Any], new: dict[str, Any],
                   made: Created, stack: str) -> Created:
    """KeyPolicy, Description, Enabled, EnableKeyRotation, PendingWindowInDays and Tags
    change in place (https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-kms-key.html)."""
    kms = clients("kms")
    key_id = made.physical_id
    changed = changed_properties(old, new)
    if "KeyPolicy" in changed:
        kms.put_key_policy(KeyId=key_id, PolicyName="default",
                           Policy=_policy_text(new.get("KeyPolicy") or _default_key_policy(
                               made.attributes["Arn"])))
    if "Description" in changed:
        kms.update_key_description(KeyId=key_id, Description=new.get("Description", ""))
    if "Enabled" in changed:
        enabled = str(new.get("Enabled", True)).lower() != "false"
        (kms.enable_key if enabled else kms.disable_key)(KeyId=key_id)
    if "EnableKeyRotation" in changed:
        rotate = str(new.get("EnableKeyRotation", False)).lower() == "true"
        (kms.enable_key_rotation if rotate else kms.disable_key_rotation)(KeyId=key_id)
    if "Tags" in changed:
        _retag(lambda tags: kms.tag_resource(KeyId=key_id, Tags=tags),
               lambda keys: kms.untag_resource(KeyId=key_id, TagKeys=keys),
               _tags(old, "TagKey", "TagValue"), _tags(new, "TagKey", "TagValue"), "TagKey")
    window = int(new.get("PendingWindowInDays", 30))
    return Created(key_id, made.attributes,
                   lambda: kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=window))


def _default_key_policy(key_arn: str) -> dict[str, Any]:
    """The policy KMS gives a key made without one: the account may use it through IAM."""
    account = key_arn.split(":")[4]
    partition = key_arn.split(":")[1]
    return {"Version": "2012-10-17", "Id": "key-default-1", "Statement": [{
        "Sid": "Enable IAM User Permissions", "Effect": "Allow",
        "Principal": {"AWS": f"arn:{partition}:iam::{account}:root"},
        "Action": "kms:*", "Resource": "*"}]}


def update_kms_alias(clients: Any, logical_id: str, old: dict[str, Any], new: dict[str, Any],
                     made: Created, stack: str) -> Created:
    """TargetKeyId changes in place (UpdateAlias)."""
    clients("kms").update_alias(AliasName=made.physical_id, TargetKeyId=new["TargetKeyId"])
    return made


def _update_own_policies(iam: Any, word: str, name: str, old: dict[str, Any],
                         new: dict[str, Any], changed: set[str]) -> None:
    """A role's or group's inline Policies and ManagedPolicyArns, changed in place."""
    member = f"{word}Name"
    low = word.lower()
    if "Policies" in changed:
        before = {p["PolicyName"]: p for p in old.get("Policies", [])}
        after = {p["PolicyName"]: p for p in new.get("Policies", [])}
        for pname in before.keys() - after.keys():
            getattr(iam, f"delete_{low}_policy")(**{member: name, "PolicyName": pname})
        for pname, pol in after.items():
            if before.get(pname) != pol:
                getattr(iam, f"put_{low}_policy")(
                    **{member: name, "PolicyName": pname,
                       "PolicyDocument": _policy_text(pol["PolicyDocument"])})
    if "ManagedPolicyArns" in changed:
        before_arns, after_arns = (set(old.get("ManagedPolicyArns", [])),
                                   set(new.get("ManagedPolicyArns", [])))
        for arn in sorted(before_arns - after_arns):
            getattr(iam, f"detach_{low}_policy")(**{member: name, "PolicyArn": arn})
        for arn in sorted(after_arns - before_arns):
            getattr(iam, f"attach_{low}_policy")(**{member: name, "PolicyArn": arn})


def update_iam_group(clients: Any, logical_id: str, old: dict[str, Any], new: dict[str, Any],
                     made: Created, stack: str) -> Created:
    """Path (UpdateGroup), inline Policies and ManagedPolicyArns change in place."""
    iam = clients("iam")
    name = made.physical_id
    changed = changed_properties(old, new)
    if "Path" in changed:
        iam.update_group(GroupName=name, NewPath=new.get("Path", "/"))
    _update_own_policies(iam, "Group", name, old, new, changed)
    arn = iam.get_group(GroupName=name)["Group"]["Arn"]
    return iam_group_made(clients, name, new, {"Arn": arn})


def update_iam_user_to_group_addition(clients: Any, logical_id: str, old: dict[str, Any],
                                      new: dict[str, Any], made: Created, stack: str) -> Created:
    """GroupName and Users change in place: the new memberships are added first, then the
    ones the template no longer names are removed."""
    iam = clients("iam")
    was = {(old["GroupName"].lower(), u.lower()): (old["GroupName"], u)
           for u in old.get("Users", [])}
    now = {(new["GroupName"].lower(), u.lower()): (new["GroupName"], u)
           for u in new.get("Users", [])}
    for key in now.keys() - was.keys():
        iam.add_user_to_group(GroupName=now[key][0], UserName=now[key][1])
    for key in was.keys() - now.keys():
        _done_if_missing(iam.remove_user_from_group, GroupName=was[key][0], UserName=was[key][1])
    return iam_user_to_group_addition_made(clients, logical_id, new, stack)


def update_iam_role(clients: Any, logical_id: str, old: dict[str, Any], new: dict[str, Any],
                    made: Created, stack: str) -> Created:
    """Everything but RoleName and Path changes in place: the trust policy, inline and
    managed policies, description, session duration, tags."""
    iam = clients("iam")
    name = made.physical_id
    changed = changed_properties(old, new)
    if "AssumeRolePolicyDocument" in changed:
        iam.update_assume_role_policy(RoleName=name, PolicyDocument=_policy_text(
            new.get("AssumeRolePolicyDocument", {})))
    _update_own_policies(iam, "Role", name, old, new, changed)
    if changed & {"Description", "MaxSessionDuration"}:
        params: dict[str, Any] = {"RoleName": name, "Description": new.get("Description", "")}
        if "MaxSessionDuration" in new:
            params["MaxSessionDuration"] = int(new["MaxSessionDuration"])
        iam.update_role(**params)
    if "Tags" in changed:
        _retag(lambda tags: iam.tag_role(RoleName=name, Tags=tags),
               lambda keys: iam.untag_role(RoleName=name, TagKeys=keys),
               _tags(old), _tags(new))
    return iam_role_made(clients, name, new, made.attributes)


def update_iam_managed_policy(clients: Any, logical_id: str, old: dict[str, Any],
                              new: dict[str, Any], made: Created, stack: str) -> Created:
    """A new PolicyDocument is a new default version (the oldest other version goes when
    IAM's five are taken); Roles, Users and Groups are attached and detached."""
    iam = clients("iam")
    arn = made.physical_id
    changed = changed_properties(old, new)
    if "PolicyDocument" in changed:
        versions = iam.list_policy_versions(PolicyArn=arn)["Versions"]
        spare = [v for v in versions if not v["IsDefaultVersion"]]
        if len(versions) >= 5 and spare:
            oldest = min(spare, key=lambda v: v["CreateDate"])
            iam.delete_policy_version(PolicyArn=arn, VersionId=oldest["VersionId"])
        iam.create_policy_version(PolicyArn=arn, SetAsDefault=True,
                                  PolicyDocument=_policy_text(new["PolicyDocument"]))
    for prop, (member, word) in POLICY_HOLDERS.items():
        if prop in changed:
            before, after = set(old.get(prop, [])), set(new.get(prop, []))
            for holder in sorted(before - after):
                getattr(iam, f"detach_{word.lower()}_policy")(**{member: holder, "PolicyArn": arn})
            for holder in sorted(after - before):
                getattr(iam, f"attach_{word.lower()}_policy")(**{member: holder, "PolicyArn": arn})
    return iam_managed_policy_made(clients, arn, new)


def update_iam_policy(clients: Any, logical_id: str, old: dict[str, Any], new: dict[str, Any],
                      made: Created, stack: str) -> Created:
    """An inline policy changes in place: put on what it is on now (first, so a refused
    document changes nothing), then taken off what it is no longer on."""
    iam = clients("iam")
    name, old_name = new["PolicyName"], old.get("PolicyName")
    document = _policy_text(new["PolicyDocument"])
    for word, member, holder in _holders(new):
        getattr(iam, f"put_{word.lower()}_policy")(
            **{member: holder, "PolicyName": name, "PolicyDocument": document})
    for word, member, holder in _holders(old):
        prop = word + "s"
        if old_name != name or holder not in new.get(prop, []):
            getattr(iam, f"delete_{word.lower()}_policy")(
                **{member: holder, "PolicyName": old_name})
    return iam_policy_made(clients, logical_id, new, stack)


def update_ecs_cluster(clients: Any, logical_id: str, old: dict[str, Any], new: dict[str, Any],
                       made: Created, stack: str) -> Created:
    """Settings, Configuration (the Fargate storage key among it) and Service Connect
    defaults go through UpdateCluster; capacity providers through
    PutClusterCapacityProviders; tags through TagResource."""
    ecs = clients("ecs")
    name = made.physical_id
    changed = changed_properties(old, new)
    renamed = {"ClusterSettings": "Settings"}
    update = {renamed.get(k, k): new[k] for k in changed
              & {"ClusterSettings", "Configuration", "ServiceConnectDefaults"} if k in new}
    if update:
        ecs.update_cluster(cluster=name, **api_params("ecs", "UpdateCluster", update))
    if changed & {"CapacityProviders", "DefaultCapacityProviderStrategy"}:
        ecs.put_cluster_capacity_providers(cluster=name, **api_params(
            "ecs", "PutClusterCapacityProviders",
            {"CapacityProviders": new.get("CapacityProviders", []),
             "DefaultCapacityProviderStrategy": new.get("DefaultCapacityProviderStrategy", [])}))
    if "Tags" in changed:
        _retag_ecs(ecs, made.attributes["Arn"], old, new)
    return made


def _retag_ecs(ecs: Any, arn: str, old: dict[str, Any], new: dict[str, Any]) -> None:
    """An ECS resource's tags from the old properties' to the new ones' (ECS spells them
    ``{key, value}``)."""
    _retag(lambda tags: ecs.tag_resource(resourceArn=arn, tags=tags),
           lambda keys: ecs.untag_resource(resourceArn=arn, tagKeys=keys),
           _tags(old, "key", "value"), _tags(new, "key", "value"), "key")


def update_ecs_service(clients: Any, logical_id: str, old: dict[str, Any], new: dict[str, Any],
                       made: Created, stack: str) -> Created:
    """What UpdateService takes changes in place (a new task definition, count, network or
    platform is a new deployment); tags through TagResource."""
    ecs = clients("ecs")
    changed = changed_properties(old, new)
    members = {m.lower() for m in service_model("ecs").operation_model(
        "UpdateService").input_shape.members}
    update = {k: new[k] for k in changed - {"Tags"} if k.lower() in members and k in new}
    cluster = old.get("Cluster", "default")
    if update:
        ecs.update_service(cluster=cluster, service=made.attributes["Name"],
                           **api_params("ecs", "UpdateService", update))
    if "Tags" in changed:
        _retag_ecs(ecs, made.physical_id, old, new)
    return made


@dataclass(frozen=True)
class Update:
    """How CloudFormation updates a resource type: the properties whose change replaces
    the resource ("Update requires: Replacement" in each type's reference page), the
    property that names it (a named resource cannot be replaced under the same name), and
    the handler that changes the rest in place (None: every change replaces it)."""

    replaces: frozenset[str]
    name: str | None = None
    in_place: Callable[..., Created] | None = None
    #: The longest name the service takes (for a name CloudFormation generates).
    name_limit: int = 255


#: Resource type -> handler(clients, logical_id, resolved properties, stack name).
HANDLERS: dict[str, Callable[..., Created]] = {
    "AWS::KMS::Key": kms_key,
    "AWS::KMS::Alias": kms_alias,
    "AWS::IAM::Role": iam_role,
    "AWS::IAM::ManagedPolicy": iam_managed_policy,
    "AWS::IAM::Policy": iam_policy,
    "AWS::IAM::Group": iam_group,
    "AWS::IAM::UserToGroupAddition": iam_user_to_group_addition,
    "AWS::ECS::Cluster": ecs_cluster,
    "AWS::ECS::TaskDefinition": ecs_task_definition,
    "AWS::ECS::Service": ecs_service,
}


#: Resource type -> how an update changes it.
UPDATES: dict[str, Update] = {
    "AWS::KMS::Key": Update(frozenset({"KeySpec", "KeyUsage", "MultiRegion", "Origin"}),
                            in_place=update_kms_key),
    "AWS::KMS::Alias": Update(frozenset({"AliasName"}), in_place=update_kms_alias),
    "AWS::IAM::Role": Update(frozenset({"RoleName", "Path"}), "RoleName", update_iam_role, 64),
    "AWS::IAM::ManagedPolicy": Update(
        frozenset({"ManagedPolicyName", "Path", "Description"}), "ManagedPolicyName",
        update_iam_managed_policy, 128),
    "AWS::IAM::Policy": Update(frozenset(), in_place=update_iam_policy),
    # https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-iam-group.html
    # (GroupName: Replacement; Path, Policies, ManagedPolicyArns: No interruption) and
    # aws-resource-iam-usertogroupaddition.html (GroupName, Users: No interruption).
    "AWS::IAM::Group": Update(frozenset({"GroupName"}), "GroupName", update_iam_group, 128),
    "AWS::IAM::UserToGroupAddition": Update(frozenset(),
                                            in_place=update_iam_user_to_group_addition),
    "AWS::ECS::Cluster": Update(frozenset({"ClusterName"}), "ClusterName", update_ecs_cluster),
    # Every change registers a new revision (and deregisters the old one at cleanup).
    "AWS::ECS::TaskDefinition": Update(frozenset()),
    "AWS::ECS::Service": Update(
        frozenset({"ServiceName", "Cluster", "LaunchType", "Role", "SchedulingStrategy",
                   "DeploymentController"}), "ServiceName", update_ecs_service),
}
