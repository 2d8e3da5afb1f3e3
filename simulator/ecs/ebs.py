"""Amazon EBS volumes that ECS manages for a task (``volumeConfigurations``).

RunTask (and a service's deployments) may attach one EBS volume per task to a task-definition
volume with ``configuredAtLaunch: true``
(https://docs.aws.amazon.com/AmazonECS/latest/developerguide/ebs-volumes.html). ECS creates
the volume with the infrastructure role ``managedEBSVolume.roleArn``; EBS then makes the KMS
calls of an encrypted volume *as that role, through EC2* (``kms:ViaService
ec2.<region>.amazonaws.com``, ``invokedBy ec2-frontend-api.amazonaws.com``): a 64-byte
GenerateDataKeyWithoutPlaintext and a Decrypt-only CreateGrant, both with the encryption
context ``{"aws:ebs:id": "vol-..."}`` and the grant retirable by ``ec2.<region>.amazonaws.com``
(the sequence AWS's CloudTrail shows for encrypted EBS volumes; the key-policy requirements
are kms:CreateGrant with kms:GrantIsForAWSResource, kms:GenerateDataKeyWithoutPlaintext,
kms:Decrypt, kms:DescribeKey: https://docs.aws.amazon.com/ebs/latest/userguide/ebs-encryption-requirements.html).

The key: the cluster's ``managedStorageConfiguration.kmsKeyId`` ("Amazon ECS uses the key to
encrypt data volumes managed by Amazon ECS that are attached to tasks in the cluster",
ManagedStorageConfiguration, ECS API reference), else the volume's ``kmsKeyId``, else EBS's
AWS managed key (no call on a customer key). Which of the cluster's and the volume's key wins
when both are given is ``sim.ecs.options.ebs_key_precedence``.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from simulator import errors

if TYPE_CHECKING:
    from simulator.ecs.clusters import Cluster
    from simulator.ecs.taskdefs import TaskDefinition

#: "The magnetic volume type is not supported on Fargate." (ECS API reference,
#: TaskManagedEBSVolumeConfiguration.volumeType)
FARGATE_VOLUME_TYPES = ("gp2", "gp3", "io1", "io2", "st1", "sc1")
DEFAULT_VOLUME_TYPE = "gp3"
#: Volume size bounds per type (GiB), EBS's documented limits.
SIZE_LIMITS = {"gp2": (1, 16384), "gp3": (1, 16384), "io1": (4, 16384), "io2": (4, 65536),
               "st1": (125, 16384), "sc1": (125, 16384)}
#: EBS encrypts with its AWS managed key when a volume asks for encryption and names no key.
AWS_MANAGED_EBS_KEY = "alias/aws/ebs"


@dataclass(frozen=True)
class ManagedVolume:
    """One checked volume configuration of a task: what to create and with which key."""

    name: str
    size_gib: int
    volume_type: str
    role_arn: str
    encrypted: bool
    #: The customer managed key the volume is encrypted under (None: none or AWS managed).
    kms_key_id: str | None
    delete_on_termination: bool
    config: dict[str, Any]

    def describe(self) -> dict[str, Any]:
        """The ``ServiceVolumeConfiguration`` / ``TaskVolumeConfiguration`` as given."""
        return copy.deepcopy(self.config)


def _refuse(message: str) -> errors.ClientError:
    return errors.InvalidParameterException(message)


def check(
    td: TaskDefinition,
    cluster: Cluster,
    configs: list[dict[str, Any]] | None,
    precedence: str = "cluster",
) -> list[ManagedVolume]:
    """The checked volume configurations of a launch (InvalidParameterException if bad)."""
    configs = configs or []
    at_launch = {v["name"] for v in td.body.get("volumes") or () if v.get("configuredAtLaunch")}
    if len(configs) > 1:
        raise _refuse("Only one volume configuration (one Amazon EBS volume per task) may be "
                      f"given; got {len(configs)}.")
    out = []
    for cfg in configs:
        name = cfg["name"]
        if name not in at_launch:
            raise _refuse(
                f"The volume '{name}' in volumeConfigurations must be a volume of the task "
                f"definition {td.arn} with configuredAtLaunch set to true"
                + (f" (those are: {', '.join(sorted(at_launch))})." if at_launch else
                   "; it has none.")
            )
        ebs = cfg.get("managedEBSVolume")
        if not ebs:
            raise _refuse(f"The volume configuration '{name}' needs a managedEBSVolume.")
        vtype = ebs.get("volumeType", DEFAULT_VOLUME_TYPE)
        if vtype == "standard":
            raise _refuse("The magnetic volume type is not supported on Fargate.")
        if vtype not in FARGATE_VOLUME_TYPES:
            raise _refuse(f"volumeType '{vtype}' is not an EBS volume type "
                          f"({', '.join(FARGATE_VOLUME_TYPES)}).")
        size = ebs.get("sizeInGiB")
        if size is None and not ebs.get("snapshotId"):
            raise _refuse(f"The volume '{name}' needs sizeInGiB (or a snapshotId to size it).")
        low, high = SIZE_LIMITS[vtype]
        size = size if size is not None else low
        if not low <= size <= high:
            raise _refuse(f"sizeInGiB of a {vtype} volume must be between {low} and {high}, "
                          f"got {size}.")
        cluster_key = (cluster.configuration.get("managedStorageConfiguration") or {}).get(
            "kmsKeyId")
        volume_key = ebs.get("kmsKeyId")
        if volume_key and ebs.get("encrypted") is False:
            raise _refuse(f"The volume '{name}' names kmsKeyId {volume_key} but sets encrypted "
                          "to false.")
        first, second = ((cluster_key, volume_key) if precedence == "cluster"
                         else (volume_key, cluster_key))
        key = first or second
        encrypted = bool(key) or bool(ebs.get("encrypted"))
        out.append(ManagedVolume(
            name=name, size_gib=size, volume_type=vtype, role_arn=ebs["roleArn"],
            encrypted=encrypted, kms_key_id=key,
            delete_on_termination=(ebs.get("terminationPolicy") or {}).get(
                "deleteOnTermination", True),
            config=copy.deepcopy(cfg),
        ))
    return out
