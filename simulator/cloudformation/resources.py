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

    def delete() -> None:
        for pol in props.get("Policies", []):
            iam.delete_role_policy(RoleName=name, PolicyName=pol["PolicyName"])
        for arn in props.get("ManagedPolicyArns", []):
            iam.detach_role_policy(RoleName=name, PolicyArn=arn)
        iam.delete_role(RoleName=name)

    return Created(name, {"Arn": role["Arn"], "RoleId": role["RoleId"]}, delete)


def iam_managed_policy(clients: Any, logical_id: str, props: dict[str, Any], stack: str) -> Created:
    iam = clients("iam")
    name = props.get("ManagedPolicyName") or f"{stack}-{logical_id}"[:128]
    pol = iam.create_policy(PolicyName=name, PolicyDocument=_policy_text(props["PolicyDocument"]))
    arn = pol["Policy"]["Arn"]
    for role in props.get("Roles", []):
        iam.attach_role_policy(RoleName=role, PolicyArn=arn)
    return Created(arn, {"PolicyArn": arn}, lambda: iam.delete_policy(PolicyArn=arn))


def iam_policy(clients: Any, logical_id: str, props: dict[str, Any], stack: str) -> Created:
    iam = clients("iam")
    name = props["PolicyName"]
    for role in props.get("Roles", []):
        iam.put_role_policy(
            RoleName=role, PolicyName=name, PolicyDocument=_policy_text(props["PolicyDocument"])
        )
    for user in props.get("Users", []):
        iam.put_user_policy(
            UserName=user, PolicyName=name, PolicyDocument=_policy_text(props["PolicyDocument"])
        )
    def delete() -> None:
        for role in props.get("Roles", []):
            iam.delete_role_policy(RoleName=role, PolicyName=name)
        for user in props.get("Users", []):
            iam.delete_user_policy(UserName=user, PolicyName=name)

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


#: Resource type -> handler(clients, logical_id, resolved properties, stack name).
HANDLERS: dict[str, Callable[..., Created]] = {
    "AWS::KMS::Key": kms_key,
    "AWS::KMS::Alias": kms_alias,
    "AWS::IAM::Role": iam_role,
    "AWS::IAM::ManagedPolicy": iam_managed_policy,
    "AWS::IAM::Policy": iam_policy,
    "AWS::ECS::Cluster": ecs_cluster,
    "AWS::ECS::TaskDefinition": ecs_task_definition,
    "AWS::ECS::Service": ecs_service,
}
