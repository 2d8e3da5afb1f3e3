"""What ECS's task lifecycle needs from the capacity that runs a task (the Fargate agent).

The simulation hands ECS an object of this shape (``Simulation.fargate``); ECS never reaches
for the agent through the simulation, so ECS does not depend on Fargate.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from simulator.ecs.tasks import Task


class TaskProvisioner(Protocol):
    """Provisions and releases a task's ephemeral storage; each failure is a stoppedReason."""

    #: Seconds before the end of PROVISIONING that ``preflight`` runs.
    dry_run_lead: float

    def storage_encryption(
        self, os_family: str, platform_version: str, cluster_key: str | None
    ) -> tuple[str | None, str, str | None]:
        """(kmsKeyId, encryption attribute, why the cluster key is not used) for a new task."""
        ...

    def preflight(self, task: Task) -> str | None:
        """Check, before provisioning, that the task's storage can be made; None when it can."""
        ...

    def provision(self, task: Task) -> str | None:
        """Make the task's storage at the end of PROVISIONING; None, or why it failed."""
        ...

    def discard(self, task: Task) -> None:
        """Forget a task stopped before its storage was made."""
        ...

    def release(self, task: Task) -> None:
        """Destroy a stopped task's storage (and retire what it was granted)."""
        ...
