"""Choices where AWS's sources disagree or are silent, as named options (``sim.ecs.options``).

Each option has the readings AWS's material allows; the default is the one the simulator
believes most likely. Change one with ``sim.ecs.options = EcsOptions(...)`` or
``dataclasses.replace(sim.ecs.options, ...)``.

``update_cluster_kms_condition``: what ``ecs:fargate-ephemeral-storage-kms-key`` holds on an
UpdateCluster that names no key (it changes only ``settings``, say).

* ``"request"`` (default): the key as the request gives it, absent when the request gives
  none; the seed's Null-condition Deny then refuses the settings-only update. AWS documents
  the key as "the KMS key ID in the request" and shows the Deny for CreateCluster and
  UpdateCluster alike (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/fargate-create-storage-key.html).
* ``"cluster"``: ECS fills in the cluster's current key when the request leaves it unchanged,
  so the Null-condition Deny lets settings-only updates of a keyed cluster through. No AWS
  page says so; it is the reading under which the seed's Deny does not lock operators out of
  ``containerInsights``.

``replacement_task_key``: the key of a task the scheduler starts inside a deployment created
before an UpdateCluster changed the key (a replacement for a failed or scaled task).

* ``"deployment"`` (default): the deployment's key, fixed when it was created: "updates of
  the cluster's key apply only to new deployments" (fargate-storage-encryption page,
  https://docs.aws.amazon.com/AmazonECS/latest/developerguide/fargate-storage-encryption.html).
* ``"cluster"``: the cluster's key at the time the task starts. AWS says every new task reads
  the key ("If a new task uses the disabled or revoked key, the task fails", fargate-managing-
  kms-key page) without saying whether a replacement task is "new" for that purpose.

``ebs_key_precedence``: the key of a managed EBS volume when the cluster's
``managedStorageConfiguration.kmsKeyId`` and the volume's ``managedEBSVolume.kmsKeyId`` are
both given.

* ``"cluster"`` (default): the cluster's key. The ECS API reference says of the cluster field
  "Amazon ECS uses the key to encrypt data volumes managed by Amazon ECS that are attached to
  tasks in the cluster" (https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_ManagedStorageConfiguration.html).
* ``"volume"``: the volume's own key, the more specific setting. AWS's page on combining the
  two (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/ebs-kms-encryption.html)
  was not available to the simulator's authors, so neither reading is confirmed.
"""

from __future__ import annotations

from dataclasses import dataclass

UPDATE_CLUSTER_KMS_CONDITION = ("request", "cluster")
REPLACEMENT_TASK_KEY = ("deployment", "cluster")
EBS_KEY_PRECEDENCE = ("cluster", "volume")


@dataclass(frozen=True)
class EcsOptions:
    """The simulator's readings of what AWS leaves open (see the module docstring)."""

    update_cluster_kms_condition: str = "request"
    replacement_task_key: str = "deployment"
    ebs_key_precedence: str = "cluster"

    def __post_init__(self) -> None:
        for name, allowed in (("update_cluster_kms_condition", UPDATE_CLUSTER_KMS_CONDITION),
                              ("replacement_task_key", REPLACEMENT_TASK_KEY),
                              ("ebs_key_precedence", EBS_KEY_PRECEDENCE)):
            value = getattr(self, name)
            if value not in allowed:
                raise ValueError(
                    f"EcsOptions.{name} must be one of {', '.join(map(repr, allowed))}, "
                    f"got {value!r}"
                )
